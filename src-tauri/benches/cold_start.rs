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
//!
//! Memory is read per process (the app, WebKitWebProcess, WebKitNetworkProcess) from
//! `/proc/<pid>/smaps_rollup` 500 ms after the list is up, and again after the filter and the
//! search: RSS, PSS and USS (see `memory/mod.rs`). **The PSS sum is the figure compared with
//! the target**: it counts each page the three processes share (libwebkit2gtk, GTK, Mesa) once.
//! The RSS sum of the app and the web process, which this bench printed before, counts those
//! pages twice and is kept only for comparison. `--env KEY=VALUE` (repeatable) adds a variable to
//! the app's environment, to try a WebKit or allocator setting without a rebuild.
//!
//! Figures (100k cases, median of 3 runs, Debian 12, WebKitGTK 2.50.6, Xvfb + Mesa llvmpipe,
//! 2 cores; MB; RSS / PSS / USS once the list is up). The harness runs the app as a user does
//! (it used to set `WEBKIT_DISABLE_COMPOSITING_MODE=1`, which hid WebKit's compositing cost):
//!
//! | | app | web process | network process | PSS sum | PSS after use | RSS app+web | cold start |
//! |---|---|---|---|---|---|---|---|
//! | before (as a user ran it; one run) | — | 302 / 227 / 186 | — | 345 | — | 469 | — |
//! | now | 167 / 94 / 52 | 208 / 138 / 99 | 61 / 28 / 13 | 259 | 272 | 376 | 678 ms |
//!
//! The app turns WebKit's GPU compositing off itself (`lib.rs`, `webkit::tune`: −83 MB in the web
//! process). JavaScriptCore without its JIT (`--env JSC_useJIT=0`) saves 12 MB more once the list
//! is up and 22 MB after a filter and a search, at no cost to cold start, filter or search; it is
//! **not** set: parsing a scan's STL for the preview is JavaScript-heavy, and a lab's scans run to
//! tens of MB.
//! What did not help (±1 MB, not kept): cache model DocumentViewer, page cache off, media/WebAudio
//! off, DNS prefetch off, `MALLOC_ARENA_MAX=2`, `Malloc=1` (bmalloc → system malloc, −3 MB
//! alone, −1 MB with the JIT off), `JSC_numberOfGCMarkers=1`, `WEBKIT_SKIA_CPU_PAINTING_THREADS=1`,
//! `WEBKIT_DISABLE_DMABUF_RENDERER=1`, `WEBKIT_SKIA_ENABLE_CPU_RENDERING=1`, `GDK_GL=disable`.
//! Where the rest is (smaps, PSS): Mesa's libLLVM, loaded by EGL in both the app and the web
//! process even with compositing off, ~20 MB each; libwebkit2gtk ~13 (app) + ~39 (web) + ~9
//! (network); the flite speech libraries libwebkit2gtk links, ~5 MB per process; the app's own
//! binary ~12 MB of code; the JS and malloc heaps ~20 MB (web) and ~15 MB (app). WebKit refuses
//! to start without EGL ("Could not create default EGL display"), so the Mesa share stays.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use labdesk_core::{ImportCase, ImportReport, OpenOptions, Store};
use serde_json::{json, Map, Value};
use support::window::{prerequisites, resident_bytes, AppSession, Display};

mod memory;
use memory::{Memory, Role};

const SURNAMES: &[&str] = &["Lovelace", "Hopper", "Turing", "Johnson", "Curie", "Noether", "Franklin", "Meitner"];
const GIVEN: &[&str] = &["Ada", "Grace", "Alan", "Katherine", "Marie", "Emmy", "Rosalind", "Lise"];

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Every `--env KEY=VALUE` given: variables added to the app's environment, to try a setting
/// (an allocator or WebKit knob) without a rebuild. Printed with the results.
fn extra_env() -> Vec<(String, String)> {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .filter(|w| w[0] == "--env")
        .filter_map(|w| w[1].split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// A store with `cases` cases, made once and kept (its folder name carries the count).
fn fixture(cases: usize) -> Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("desktop-bench-{cases}"));
    if dir.join("complete").exists() {
        // A store made before a migration changed is refused by the app: make it again.
        match Store::open(&dir, OpenOptions::default()) {
            Ok(_) => return Ok(dir),
            Err(e) => println!("the kept store cannot be opened ({e}); making it again"),
        }
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
    /// The figure this bench printed before it read smaps: VmRSS of the app + its web process.
    rss_mb: f64,
    /// Per process, once the list is up and settled.
    memory: Memory,
    /// Per process, after the filter and the search (not compared with the target).
    memory_after_use: Memory,
    filter_ms: f64,
    search_ms: f64,
    /// Whether the page can make a WebGL 2 context (the STL preview needs one).
    webgl2: bool,
}

async fn one_run(display: &Display, store: Option<&Path>, scratch: &Path, env: &[(String, String)]) -> Result<Figures> {
    let home = scratch.join("home");
    let data = scratch.join("data");
    std::fs::create_dir_all(&home)?;
    if let Some(store) = store {
        copy_store(store, &data)?;
    }
    let started = Instant::now();
    let mut vars = vec![("LABDESK_USER", "bench")];
    vars.extend(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    // An app that cannot start (a store it refuses, a full disk) leaves the session waiting forever.
    let app = tokio::time::timeout(Duration::from_secs(60), AppSession::start(display, &home, &data, &vars))
        .await
        .with_context(|| {
        format!("the app did not start within 60 s; see {}", home.join("driver.log").display())
    })??;
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
    // The STL preview (three.js) needs WebGL 2; a memory setting must not take it away.
    let webgl2 = app
        .client
        .execute("return !!document.createElement('canvas').getContext('webgl2');", vec![])
        .await?
        .as_bool()
        .unwrap_or(false);
    // Memory once the list is up and settled: the app and its web content process.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_mb = resident_bytes(&app.app_pids()) as f64 / (1024.0 * 1024.0);
    let memory = Memory::of_app(&data);
    let (mut filter_ms, mut search_ms) = (f64::NAN, f64::NAN);
    if expect_rows {
        filter_ms = app.client.execute_async(TIME_IN_PAGE, vec![json!("filter")]).await?.as_f64().unwrap_or(-1.0);
        search_ms = app.client.execute_async(TIME_IN_PAGE, vec![json!("search")]).await?.as_f64().unwrap_or(-1.0);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let memory_after_use = Memory::of_app(&data);
    app.close().await?;
    Ok(Figures { start_ms, rss_mb, memory, memory_after_use, filter_ms, search_ms, webgl2 })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn print_memory(label: &str, m: &Memory) {
    let parts: Vec<String> = Role::ALL
        .iter()
        .map(|&r| {
            let u = m.get(r);
            format!("{} {:.0}/{:.0}/{:.0}", short(r), u.rss, u.pss, u.uss)
        })
        .collect();
    let t = m.total();
    println!("    {label} RSS/PSS/USS MB: {}; PSS sum {:.0}", parts.join(", "), t.pss);
}

fn short(role: Role) -> &'static str {
    match role {
        Role::App => "app",
        Role::Web => "web",
        Role::Network => "net",
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    prerequisites()?;
    let cases = arg("--cases", 100_000);
    let runs = arg("--runs", 3).max(1);
    let env = extra_env();
    let fixture = fixture(cases).context("making the benchmark store")?;
    let display = Display::start()?;
    let scratch = tempfile::tempdir()?;
    let mut empty = Vec::new();
    let mut full = Vec::new();
    for run in 0..runs {
        empty.push(one_run(&display, None, &scratch.path().join(format!("empty-{run}")), &env).await?);
        full.push(one_run(&display, Some(&fixture), &scratch.path().join(format!("full-{run}")), &env).await?);
        // Each run's copy of the store is ~200 MB: keep one at a time.
        let _ = std::fs::remove_dir_all(scratch.path().join(format!("full-{run}")).join("data"));
        let f = full.last().context("a run")?;
        println!(
            "run {}: cold start {:.0} ms, {:.0} MB PSS ({:.0} MB RSS app + web), filter {:.0} ms, search {:.0} ms, WebGL 2 {}",
            run + 1,
            f.start_ms,
            f.memory.total().pss,
            f.rss_mb,
            f.filter_ms,
            f.search_ms,
            if f.webgl2 { "yes" } else { "NO" }
        );
        print_memory("list up:  ", &f.memory);
        print_memory("after use:", &f.memory_after_use);
    }
    let pick = |v: &[Figures], f: &dyn Fn(&Figures) -> f64| median(v.iter().map(f).collect());
    println!();
    if !env.is_empty() {
        let vars: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("extra environment for the app: {}", vars.join(" "));
    }
    println!(
        "LabDesk desktop, {cases} cases, median of {runs} runs (baseline: the same app on an empty store, same run)"
    );
    println!("| metric | {cases} cases | empty store | target |");
    println!("|---|---|---|---|");
    println!(
        "| cold start to an interactive list | {:.0} ms | {:.0} ms | ≤ 1500 ms |",
        pick(&full, &|f| f.start_ms),
        pick(&empty, &|f| f.start_ms)
    );
    println!(
        "| **memory: PSS, app + web + network process** (compared with the target) | {:.0} MB | {:.0} MB | ≤ 200 MB |",
        pick(&full, &|f| f.memory.total().pss),
        pick(&empty, &|f| f.memory.total().pss)
    );
    println!(
        "| memory: PSS after a filter and a search | {:.0} MB | — | — |",
        pick(&full, &|f| f.memory_after_use.total().pss)
    );
    println!(
        "| resident memory (RSS app + web process; the old figure, double-counts shared pages) | {:.0} MB | {:.0} MB | — |",
        pick(&full, &|f| f.rss_mb),
        pick(&empty, &|f| f.rss_mb)
    );
    println!("| filter by a status (click → new total) | {:.0} ms | — | — |", pick(&full, &|f| f.filter_ms));
    println!("| search a surname (keystroke → results) | {:.0} ms | — | — |", pick(&full, &|f| f.search_ms));
    println!();
    println!("Memory per process once the list is up (MB, median of {runs} runs; PSS = anon + file + shared memory):");
    println!("| process | RSS | PSS | PSS anon | PSS file | USS | empty store: RSS / PSS / USS |");
    println!("|---|---|---|---|---|---|---|");
    for role in Role::ALL {
        let f = |g: fn(&memory::Usage) -> f64| pick(&full, &|x| g(&x.memory.get(role)));
        let e = |g: fn(&memory::Usage) -> f64| pick(&empty, &|x| g(&x.memory.get(role)));
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} / {:.0} / {:.0} |",
            role.name(),
            f(|u| u.rss),
            f(|u| u.pss),
            f(|u| u.pss_anon),
            f(|u| u.pss_file),
            f(|u| u.uss),
            e(|u| u.rss),
            e(|u| u.pss),
            e(|u| u.uss)
        );
    }
    let f = |g: fn(&memory::Usage) -> f64| pick(&full, &|x| g(&x.memory.total()));
    let e = |g: fn(&memory::Usage) -> f64| pick(&empty, &|x| g(&x.memory.total()));
    println!(
        "| sum | {:.0} | **{:.0}** | {:.0} | {:.0} | {:.0} | {:.0} / {:.0} / {:.0} |",
        f(|u| u.rss),
        f(|u| u.pss),
        f(|u| u.pss_anon),
        f(|u| u.pss_file),
        f(|u| u.uss),
        e(|u| u.rss),
        e(|u| u.pss),
        e(|u| u.uss)
    );
    println!(
        "The target is compared with the PSS sum: each page the app's processes share (WebKit, GTK) counted once, \
         split with any other program mapping it. The RSS sum counts shared pages once per process."
    );
    Ok(())
}
