//! The `labdesk` binary driven as lab IT and scripts drive it, for the CLI's test files: a fresh
//! data folder per test, the real program as workstation FD1.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    /// A workstation set up with `labdesk init`, as lab IT does before anything else.
    pub fn new() -> Self {
        let lab = Self::bare();
        lab.ok(&["init"]);
        lab
    }

    /// A data folder with no store in it.
    pub fn bare() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `labdesk` as `user`, with `stdin` as its standard input.
    pub fn run_as_with_input(&self, user: &str, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_labdesk"))
            .arg("--data")
            .arg(self.data())
            .args(["--user", user, "--workstation", "FD1"])
            .args(args)
            .env_remove("LABDESK_DATA")
            .env_remove("LABDESK_USER")
            .env_remove("LABDESK_WORKSTATION")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn run_as(&self, user: &str, args: &[&str]) -> Output {
        self.run_as_with_input(user, args, "")
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_as("ann", args)
    }

    /// Runs a command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_as("ann", args)
    }

    pub fn ok_as(&self, user: &str, args: &[&str]) -> String {
        let out = self.run_as(user, args);
        assert!(
            out.status.success(),
            "`labdesk {}` should succeed but exited {:?}\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status.code(),
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs a command with `--json` that must succeed; returns its parsed output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let stdout = self.ok(&all);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("--json output must be JSON ({e}): {stdout}"))
    }

    /// Runs a command that must fail with exit status 1; returns its standard error.
    pub fn fails(&self, args: &[&str]) -> String {
        self.fails_as("ann", args)
    }

    pub fn fails_as(&self, user: &str, args: &[&str]) -> String {
        let out = self.run_as(user, args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "`labdesk {}` should fail with exit status 1\nstdout: {}\nstderr: {}",
            args.join(" "),
            text(&out.stdout),
            text(&out.stderr)
        );
        let all = text(&out.stderr);
        // A first command on a fresh data folder notes that it set up the store.
        let stderr: String = all.lines().skip_while(|l| l.starts_with("note: ")).map(|l| format!("{l}\n")).collect();
        assert!(stderr.starts_with("error: "), "errors start with 'error: ': {all}");
        assert!(!stderr.contains("panicked"), "an error must never be a panic: {stderr}");
        stderr
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
