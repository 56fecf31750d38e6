//! `labdesk`: the headless LabDesk client, for lab IT, scripts, imports and tests.
//!
//! The core ([`labdesk_core`]) holds every rule; this program parses arguments, calls it, and
//! prints. Errors go to stderr as `error: ...` (exit status 1); usage errors are clap's (2).

mod cli;
mod commands;
mod fields;
mod output;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc, not the system's: a sync bootstrap allocates pages on one thread and frees them on
/// another, which glibc's malloc serialises on its arenas (the sync benchmark: 30–33 µs of CPU
/// per record with it, 21–25 with mimalloc).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .init();

    let json = cli.global.json;
    let case_form = matches!(cli.command, cli::Command::Create(_) | cli::Command::Edit(_));
    let mut out = io::BufWriter::new(io::stdout().lock());
    let result = commands::run(cli, &mut out).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => code,
        // Output piped into `head` and cut short: nothing is wrong.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // What was printed before the error is still worth seeing.
            let _ = out.flush();
            output::error(&err, json, case_form);
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let kind = match cause.downcast_ref::<io::Error>() {
            Some(e) => Some(e.kind()),
            None => cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind),
        };
        kind == Some(io::ErrorKind::BrokenPipe)
    })
}
