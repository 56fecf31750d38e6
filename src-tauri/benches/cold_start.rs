//! The desktop app's figures, on demand: cold start to an interactive case list with 100k cases,
//! resident memory, and the time the UI takes to filter and to search — each beside the same
//! figure for an empty store measured in the same run (what the app costs with no data).
//!
//! `cargo bench -p labdesk-desktop --bench cold_start [-- --cases N --runs N]`
//! Needs what the window test needs (Xvfb, tauri-driver, WebKitWebDriver: ./scripts/test.sh
//! installs them). Runs the app built by this bench (debug unless `--profile release`...: use
//! `cargo bench`, which builds with the bench profile = release).
//!
//! Cold start is measured from just before the WebDriver session is asked for (tauri-driver
//! then starts WebKitWebDriver, which starts the app) to the first list rows with the total
//! shown: an upper bound that includes the drivers' own start. Filter and search are timed
//! inside the page, from the click or keystroke to the list showing the new total.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use labdesk_core::{ImportCase, ImportReport, OpenOptions, Store};
use serde_json::{json, Map, Value};
use support::window::{prerequisites, resident_bytes, AppSession, Display};

const SURNAMES: &[&str] = &["Lovelace", "Hopper", "Turing", "Johnson", "Curie", "Noether", "Franklin", "Meitner"];
const GIVEN: &[&str] = &["Ada", "Grace", "Alan", "Katherine", "Marie", "Emmy", "Rosalind", "Lise"];

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A store with `cases` cases, made once and kept (its folder name carries the count).
fn fixture(cases: usize) -> Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("desktop-bench-{cases}"));
    if dir.join("complete").exists() {
        return Ok(dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("making a store with {cases} cases in {} (once; kept for later runs) …", dir.display());
    let started = Instant::now();
    let mut store = Store::open(&dir, OpenOptions { workstation: Some("FD1".into()), user: Some("bench".into()) })?;
    let statuses = labdesk_core::SUGGESTED_STATUSES;
    let priorities = labdesk_core::SUGGESTED_PRIORITIES;
    let mut report = ImportReport::default();
    for batch in 0..cases.div_ceil(5000) {
        let items = (batch * 5000..((batch + 1) * 5000).min(cases))
            .map(|i| {
                let mut fields = Map::new();
                let name = format!("{} {} {i}", GIVEN[i % GIVEN.len()], SURNAMES[(i / 7) % SURNAMES.len()]);
                fields.insert("patient_name".into(), Value::String(name));
                fields.insert("author_id".into(), json!("dr-bench"));
                fields.insert("status".into(), json!(statuses[i % statuses.len()]));
                fields.insert("priority".into(), json!(priorities[i % priorities.len()]));
                let day = 1 + (i % 28);
                let month = 1 + (i / 28) % 12;
                fields.insert("due_date".into(), json!(format!("2027-{month:02}-{day:02}T12:00:00Z")));
                fields.insert("assignees".into(), json!([format!("tech{}", i % 20)]));
                let case = ImportCase { fields, meta: Default::default(), notes: Vec::new(), chat: Vec::new() };
                (i + 1, Ok(case))
            })
            .collect();
        store.import_batch(items, &mut report)?;
    }
    std::fs::write(dir.join("complete"), b"")?;
    println!("  made in {:.1} s", started.elapsed().as_secs_f64());
    Ok(dir)
}

/// A copy of the fixture for one run, so a run's WAL and settings never leak into the next.
fn copy_store(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() && entry.file_name() != "complete" {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// Times, in the page, an action (`filter`: the first status chip; `search`: a surname typed)
/// until the list's total differs from before. (The CSP forbids eval: actions are spelled out.)
const TIME_IN_PAGE: &str = r#"
const [action, done] = [arguments[0], arguments[arguments.length - 1]];
const count = () => document.querySelector('[data-testid=case-count]')?.textContent;
const before = count();
const t0 = performance.now();
if (action === 'filter') {
  document.querySelector('[data-testid=filter-status] button').click();
} else {
  const el = document.querySelector('[data-testid=search]');
  const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
  set.call(el, 'Noether');
  el.dispatchEvent(new Event('input', {bubbles: true}));
}
const poll = () => {
  const rows = document.querySelectorAll('[data-testid=case-row]').length;
  if (count() !== before && rows > 0) done(performance.now() - t0);
  else if (performance.now() - t0 > 20000) done(-1);
  else requestAnimationFrame(poll);
};
requestAnimationFrame(poll);
"#;

struct Figures {
    start_ms: f64,
    rss_mb: f64,
    filter_ms: f64,
    search_ms: f64,
}

async fn one_run(display: &Display, store: Option<&Path>, scratch: &Path) -> Result<Figures> {
    let home = scratch.join("home");
    let data = scratch.join("data");
    std::fs::create_dir_all(&home)?;
    if let Some(store) = store {
        copy_store(store, &data)?;
    }
    let started = Instant::now();
    let app = AppSession::start(display, &home, &data, &[("LABDESK_USER", "bench")]).await?;
    app.find("case-list").await?;
    let expect_rows = store.is_some();
    app.until(
        "the list shows its total",
        if expect_rows {
            "document.querySelectorAll('[data-testid=case-row]').length > 0 && /\\d/.test(document.querySelector('[data-testid=case-count]').textContent)"
        } else {
            "document.querySelector('[data-testid=list-empty]') !== null"
        },
    )
    .await?;
    let start_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Memory once the list is up and settled: the app and its web content process.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_mb = resident_bytes(&app.app_pids()) as f64 / (1024.0 * 1024.0);
    let (mut filter_ms, mut search_ms) = (f64::NAN, f64::NAN);
    if expect_rows {
        filter_ms = app.client.execute_async(TIME_IN_PAGE, vec![json!("filter")]).await?.as_f64().unwrap_or(-1.0);
        search_ms = app.client.execute_async(TIME_IN_PAGE, vec![json!("search")]).await?.as_f64().unwrap_or(-1.0);
    }
    app.close().await?;
    Ok(Figures { start_ms, rss_mb, filter_ms, search_ms })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> Result<()> {
    prerequisites()?;
    let cases = arg("--cases", 100_000);
    let runs = arg("--runs", 3).max(1);
    let fixture = fixture(cases).context("making the benchmark store")?;
    let display = Display::start()?;
    let scratch = tempfile::tempdir()?;
    let mut empty = Vec::new();
    let mut full = Vec::new();
    for run in 0..runs {
        empty.push(one_run(&display, None, &scratch.path().join(format!("empty-{run}"))).await?);
        full.push(one_run(&display, Some(&fixture), &scratch.path().join(format!("full-{run}"))).await?);
        let f = full.last().context("a run")?;
        println!(
            "run {}: cold start {:.0} ms, {:.0} MB resident, filter {:.0} ms, search {:.0} ms",
            run + 1,
            f.start_ms,
            f.rss_mb,
            f.filter_ms,
            f.search_ms
        );
    }
    let pick = |v: &[Figures], f: fn(&Figures) -> f64| median(v.iter().map(f).collect());
    println!();
    println!(
        "LabDesk desktop, {cases} cases, median of {runs} runs (baseline: the same app on an empty store, same run)"
    );
    println!("| metric | {cases} cases | empty store | target |");
    println!("|---|---|---|---|");
    println!(
        "| cold start to an interactive list | {:.0} ms | {:.0} ms | ≤ 1500 ms |",
        pick(&full, |f| f.start_ms),
        pick(&empty, |f| f.start_ms)
    );
    println!(
        "| resident memory (app + web process) | {:.0} MB | {:.0} MB | ≤ 200 MB |",
        pick(&full, |f| f.rss_mb),
        pick(&empty, |f| f.rss_mb)
    );
    println!("| filter by a status (click → new total) | {:.0} ms | — | — |", pick(&full, |f| f.filter_ms));
    println!("| search a surname (keystroke → results) | {:.0} ms | — | — |", pick(&full, |f| f.search_ms));
    Ok(())
}
