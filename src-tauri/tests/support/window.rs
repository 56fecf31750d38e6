//! Driving the real app in a real window, as a person would: an X display of its own (Xvfb),
//! `tauri-driver` in front of WebKitWebDriver, and a WebDriver session that starts the app.
//!
//! Vocabulary: the **display** is the Xvfb server; the **driver** is tauri-driver on a free
//! port; an **app session** is one run of the app binary, with its own data folder and `HOME`
//! (the app writes under `$HOME`), ended by [`AppSession::close`].
//!
//! Needs `Xvfb`, `tauri-driver` and `WebKitWebDriver` on `PATH` (scripts/test.sh installs them).

#![allow(dead_code)] // shared by the window test and the cold-start benchmark; each uses a part

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use fantoccini::{Client, ClientBuilder, Locator};

/// The app binary under test, built by Cargo for this test run (with the UI embedded).
pub const APP: &str = env!("CARGO_BIN_EXE_labdesk-desktop");

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether everything a window test needs is installed; `Err` says what is missing.
pub fn prerequisites() -> Result<()> {
    for tool in ["Xvfb", "tauri-driver", "WebKitWebDriver"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
        if !found {
            bail!("{tool} is not on PATH; ./scripts/test.sh installs it (see README)");
        }
    }
    Ok(())
}

/// An Xvfb display, stopped when dropped.
#[derive(Debug)]
pub struct Display {
    child: Child,
    pub name: String,
}

impl Display {
    /// Starts Xvfb on the first free display number; returns once it accepts clients (Xvfb
    /// prints its number on `-displayfd` only when ready).
    pub fn start() -> Result<Self> {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start Xvfb")?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("Xvfb has no stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let number: u32 = line.trim().parse().with_context(|| format!("Xvfb printed '{line}', not a display"))?;
        Ok(Self { child, name: format!(":{number}") })
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One run of the app: tauri-driver started for it, and the WebDriver session that launched it.
pub struct AppSession {
    pub client: Client,
    driver: Child,
    pub home: PathBuf,
    pub data: PathBuf,
}

impl AppSession {
    /// Starts the app on `display` with its store in `data` (created if need be) and `HOME` in
    /// `home`; `env` adds variables (`LABDESK_WORKSTATION`, ...). Returns when the session is
    /// open, i.e. the window exists and its page has loaded.
    pub async fn start(display: &Display, home: &Path, data: &Path, env: &[(&str, &str)]) -> Result<Self> {
        let port = free_port()?;
        let native = free_port()?;
        let mut command = Command::new("tauri-driver");
        command
            .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
            .env("DISPLAY", &display.name)
            .env("HOME", home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("LABDESK_DATA", data)
            .env("LABDESK_KEYRING", "mock")
            // WebKit's sandbox needs user namespaces, which containers often lack. (GPU compositing
            // the app turns off itself, as users run it: the benchmark measures that.)
            .env("WEBKIT_DISABLE_SANDBOX_THIS_IS_DANGEROUS", "1")
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            // The app's and the drivers' logs, for when a step fails.
            .stdout(std::fs::File::create(home.join("app.log"))?)
            .stderr(std::fs::File::create(home.join("driver.log"))?);
        for (k, v) in env {
            command.env(k, v);
        }
        // Its own process group, so that stopping it stops the WebKitWebDriver it starts too.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut driver = command.spawn().context("cannot start tauri-driver")?;
        let url = format!("http://127.0.0.1:{port}");
        // tauri-driver listens at once but forwards the session request to WebKitWebDriver, which
        // it starts beside itself and which may not listen yet on a loaded machine: a request it
        // cannot forward is dropped. So both must listen before the session is asked for.
        let deadline = Instant::now() + Duration::from_secs(20);
        for listening in [port, native] {
            while std::net::TcpStream::connect(("127.0.0.1", listening)).is_err() {
                if Instant::now() > deadline {
                    stop_drivers(&mut driver);
                    bail!("the WebDriver servers (tauri-driver on {port}, WebKitWebDriver on {native}) did not listen within 20 s");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "wry".into());
        caps.insert("tauri:options".into(), serde_json::json!({ "application": APP }));
        // The session is plain HTTP on loopback, but the builder wants a TLS provider chosen.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ClientBuilder::rustls().context("no TLS roots")?.capabilities(caps).connect(&url).await;
        let client = match client {
            Ok(client) => client,
            Err(error) => {
                // No session, so nobody else would stop the drivers.
                stop_drivers(&mut driver);
                return Err(error).context("cannot open a WebDriver session with the app");
            }
        };
        Ok(Self { client, driver, home: home.to_owned(), data: data.to_owned() })
    }

    /// Waits for an element (by `data-testid`) and returns it.
    pub async fn find(&self, testid: &str) -> Result<fantoccini::elements::Element> {
        let css = format!("[data-testid=\"{testid}\"]");
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(&css))
            .await
            .with_context(|| format!("no element {css} appeared within 15 s"))
    }

    /// Waits until `script` (a JS expression) is truthy in the page.
    pub async fn until(&self, what: &str, script: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let value = self.client.execute(&format!("return !!({script});"), vec![]).await?;
            if value.as_bool() == Some(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{what}: not so within 15 s");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Saves a PNG of the window's content.
    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        // WebKit answers a screenshot after its next paint; never wait for one forever.
        let png = tokio::time::timeout(Duration::from_secs(20), self.client.screenshot())
            .await
            .with_context(|| format!("no screenshot for {} within 20 s", path.display()))??;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// The process ids of the app and its web content process (for memory figures).
    pub fn app_pids(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir("/proc") else { return out };
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            let ours =
                environ.split(|b| *b == 0).any(|kv| kv == format!("LABDESK_DATA={}", self.data.display()).as_bytes());
            let first = cmdline.split(|b| *b == 0).next().unwrap_or_default();
            let name = String::from_utf8_lossy(first);
            if ours && (name.ends_with("labdesk-desktop") || name.contains("WebKitWebProcess")) {
                out.push(pid);
            }
        }
        out
    }

    /// Ends the session (the app exits) and stops tauri-driver.
    pub async fn close(mut self) -> Result<()> {
        // A wedged WebKit never answers; the driver is killed either way, so a test cannot hang.
        let closed = tokio::time::timeout(Duration::from_secs(20), self.client.clone().close()).await;
        stop_drivers(&mut self.driver);
        closed
            .context("the WebDriver session did not close within 20 s")?
            .context("the WebDriver session did not close cleanly")
    }
}

impl Drop for AppSession {
    /// A test that fails half-way leaves no drivers (nor, with them, the app) behind.
    fn drop(&mut self) {
        stop_drivers(&mut self.driver);
    }
}

/// Kills tauri-driver and WebKitWebDriver (its process group), and reaps tauri-driver.
fn stop_drivers(driver: &mut std::process::Child) {
    // SIGKILL to the group: tauri-driver does not pass a SIGKILL of its own on to its child.
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", driver.id())]).status();
    let _ = driver.kill();
    let _ = driver.wait();
}

/// Resident memory of these processes together, in bytes (from /proc/<pid>/status VmRSS).
pub fn resident_bytes(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .sum()
}
