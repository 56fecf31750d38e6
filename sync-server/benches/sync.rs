//! Sync through the real server at lab scale, on demand (not a timed test, not a micro-benchmark).
//!
//! Measures what a lab feels when its workstations sync through `labdesk-sync` and PostgreSQL:
//! 1. bootstrap: a fresh workstation catching up with a lab's whole central store (N cases + M chat
//!    messages) with `sync_round` over HTTP → records/s: first pulling it all (no snapshot yet: the
//!    fallback), then — once the server has built the lab's snapshot as its builder does, timed
//!    apart — another fresh workstation taking the snapshot (what a workstation joining a lab does);
//! 2. push throughput: W workstations (threads, each its own `Store` and `HttpTransport`) pushing
//!    their outboxes through the server at once → revisions/s;
//! 3. propagation: a change made on workstation A and synced at once, until workstation B — online,
//!    long-polling as `watch` does (`Transport::wait_with_page`, then `sync_round_after_news`, which
//!    applies the page the news came with) — has applied it → p50 / p99 latency.
//!
//! Every figure is printed beside a baseline measured in the same run, on the same PostgreSQL:
//! 1. `COPY (SELECT …) TO STDOUT` of the very same revisions, streamed into a plain SQLite table
//!    (16 KiB pages as a LabDesk store, WAL + synchronous=FULL, one transaction per 1,000 rows, as
//!    a pull page);
//! 2. plain INSERTs of the very same revisions into a plain PostgreSQL table from W connections,
//!    one transaction each (what the server did before it committed once per pushed batch);
//! 3. a PostgreSQL `NOTIFY` → `LISTEN` round trip (what wakes a long poll).
//!
//! The central store is loaded apart (and timed apart): one case and one message are pushed through
//! the server by a loader workstation, and PostgreSQL clones them into N cases and M messages with
//! `INSERT … SELECT … FROM generate_series` (records, revisions, pull positions), in one transaction,
//! then `VACUUM (ANALYZE)` as autovacuum would leave a store in service.
//!
//! Run:   cargo bench -p labdesk-sync --bench sync [-- --cases N --messages N --workstations N]
//!        `--only bootstrap` (or `push`, `propagation`) runs that part alone, for quick iteration.
//!        `LABDESK_BENCH_PHASES=1` makes the bootstrap print where its time went (labdesk-core's
//!        `bootstrap` phase timings: fetch, decode, prepare, apply, commit, index build).
//! The clones get random ids (`gen_random_uuid()`); `LABDESK_BENCH_IDS=v7` gives them time-ordered
//! ones instead, as LabDesk mints its records' and revisions' ids (UUIDv7).
//! Uses DATABASE_URL when set (a server where it may create a database), else a throwaway cluster.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use futures_util::StreamExt;
use labdesk_core::sync::{
    parse_server_url, sync_round, sync_round_after_news, HttpTransport, News, SyncError, SyncReport, Token, Transport,
    PULL_LIMIT, PUSH_BATCH,
};
use labdesk_core::{NewMessage, OpenOptions, Store, SUGGESTED_STATUSES};
use labdesk_proto::sync::PushRequest;
use labdesk_proto::sync::SnapshotInfo;
use labdesk_proto::Revision;
use labdesk_server_database::Role;
use labdesk_testkit::{block_on, provision_blocking, Provisioned, TestPostgres, TestServer};
use rand::{Rng, SeedableRng};
use rusqlite::Connection;
use serde_json::{json, Map, Value};
use tokio_postgres::{AsyncMessage, NoTls};

/// The allocator `labdesk` and `labdesk-sync` run with (the desktop app keeps the system's:
/// Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Revisions each pushing workstation has waiting in its outbox.
const PUSH_PER_WORKSTATION: usize = 2000;
/// Of those, one in this many is a new case; the rest are chat messages on the workstation's cases.
const PUSH_CASE_EVERY: usize = 10;
/// Changes timed for propagation, and NOTIFY round trips for its baseline.
const PROPAGATIONS: usize = 200;
/// Rows per SQLite transaction in the bootstrap baseline: a pull page.
const BASELINE_PAGE: usize = 1000;

const BOOTSTRAP_TARGET: f64 = 100_000.0;
const PUSH_TARGET: f64 = 20_000.0;
const PROPAGATION_TARGET_MS: f64 = 10.0;

#[derive(Debug, Clone)]
struct Config {
    cases: u64,
    messages: u64,
    workstations: usize,
    /// Run only this part (`bootstrap`, `push` or `propagation`); all of them when `None`.
    only: Option<String>,
}

impl Config {
    fn runs(&self, part: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == part)
    }
}

impl Config {
    fn from_args() -> Result<Self> {
        let mut config = Config { cases: 100_000, messages: 1_000_000, workstations: 50, only: None };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| -> Result<u64> {
                let text = args.next().with_context(|| format!("{name} needs a number"))?;
                text.replace(['_', ','], "").parse().with_context(|| format!("{name}: `{text}` is not a number"))
            };
            match arg.as_str() {
                "--cases" => config.cases = value("--cases")?,
                "--messages" => config.messages = value("--messages")?,
                "--workstations" => config.workstations = usize::try_from(value("--workstations")?)?,
                "--only" => {
                    let part = args.next().context("--only needs bootstrap, push or propagation")?;
                    ensure!(
                        ["bootstrap", "push", "propagation"].contains(&part.as_str()),
                        "--only: `{part}` is not bootstrap, push or propagation"
                    );
                    config.only = Some(part);
                }
                "--bench" => {} // cargo bench passes it
                other => bail!(
                    "unknown argument `{other}` (known: --cases N --messages N --workstations N \
                     --only bootstrap|push|propagation)"
                ),
            }
        }
        ensure!(config.cases >= 1, "--cases must be at least 1");
        ensure!((1..=99).contains(&config.workstations), "--workstations must be 1 to 99");
        Ok(config)
    }
}

fn main() -> Result<()> {
    let config = Config::from_args()?;
    if phases() {
        // The bootstrap logs where its time went (labdesk-core, `bootstrap pull timings`).
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "labdesk_core::sync::bootstrap=debug,labdesk_core::sync::snapshot=debug",
            ))
            .with_target(false)
            .init();
    }
    print_header(&config);

    let db = TestPostgres::start().context("starting PostgreSQL")?;
    let server = TestServer::start(&db.url).context("starting the sync server")?;
    println!("Database: {} ({})", db.name(), postgres_version(&db.url)?);
    println!("Server:   {} (in-process, axum, 2 tokio workers)", server.url);
    println!();

    let bootstrap = config.runs("bootstrap").then(|| run_bootstrap(&config, &db, &server)).transpose()?;
    let push = config.runs("push").then(|| run_push(&config, &db, &server)).transpose()?;
    let propagation = config.runs("propagation").then(|| run_propagation(&db, &server)).transpose()?;
    // Each part prints its own figures; the summary compares them all.
    if let (Some(bootstrap), Some(push), Some(propagation)) = (&bootstrap, &push, &propagation) {
        print_summary(bootstrap, push, propagation);
    } else {
        println!("Load average at the end: {}", load_average());
    }
    server.stop()?;
    Ok(())
}

fn print_header(config: &Config) {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    println!("LabDesk sync benchmark");
    println!("======================");
    println!("Measures, LabDesk (labdesk-core Store + HttpTransport → labdesk-sync → PostgreSQL) beside a baseline, same run:");
    println!(
        "  1. bootstrap of a fresh workstation: sync_round over HTTP until caught up, from the lab's snapshot and \
         pulling it all (records/s; target ≥ 100,000)"
    );
    println!("     baseline: COPY (SELECT the same revisions) TO STDOUT, streamed into a plain SQLite table");
    println!("  2. push: W workstations pushing their outboxes at once (revisions/s; target ≥ 20,000)");
    println!("     baseline: plain INSERTs of the same rows into a plain PostgreSQL table from W connections");
    println!("  3. propagation A → B (B long-polling), p50 / p99 over {PROPAGATIONS} changes (target p50 ≤ 10 ms)");
    println!("     baseline: PostgreSQL NOTIFY → LISTEN round trip");
    println!(
        "Scale: {} cases, {} chat messages, {} pushing workstations × {} revisions",
        thousands(config.cases),
        thousands(config.messages),
        config.workstations,
        thousands(PUSH_PER_WORKSTATION as u64)
    );
    println!(
        "Machine: {cpus} CPU(s), load average {}; everything on this one machine: PostgreSQL, the server, \
         every workstation",
        load_average()
    );
    println!(
        "         (so client, server and database compete for the same cores: a deployed lab has them apart); \
         SQLite {}",
        rusqlite::version()
    );
}

/// `LABDESK_BENCH_PHASES=1`: print where the bootstrap's time went.
fn phases() -> bool {
    std::env::var("LABDESK_BENCH_PHASES").is_ok_and(|v| v == "1")
}

/// CPU time this process has used so far (user + system), from /proc (Linux; zero elsewhere).
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return Duration::ZERO };
    // Fields after the command (which may hold spaces, and ends at the last ')'): utime, stime
    // are the 14th and 15th, in clock ticks (100 a second on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "unknown".to_owned(), |text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn postgres_version(url: &str) -> Result<String> {
    let url = url.to_owned();
    block_on(async move {
        let client = connect(&url).await?;
        let row = client.query_one("SHOW server_version", &[]).await?;
        Ok(format!("PostgreSQL {}", row.get::<_, String>(0)))
    })
}

/// A client whose connection is driven by a task of its own.
async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("PostgreSQL connection: {e}");
        }
    });
    Ok(client)
}

/// A workstation: its local store and its way to the server.
struct Workstation {
    store: Store,
    transport: HttpTransport,
    /// Push batches sent again after the server said it was busy.
    retries: u64,
}

impl Workstation {
    fn in_memory(server: &TestServer, who: &Provisioned) -> Result<Self> {
        let store = Store::open_in_memory(options(who))?;
        Self::with_store(server, who, store)
    }

    fn on_disk(server: &TestServer, who: &Provisioned, dir: &Path) -> Result<Self> {
        let store = Store::open(dir, options(who))?;
        Self::with_store(server, who, store)
    }

    fn with_store(server: &TestServer, who: &Provisioned, store: Store) -> Result<Self> {
        let transport = HttpTransport::new(&parse_server_url(&server.url)?, &Token::new(&who.token)?)?;
        Ok(Self { store, transport, retries: 0 })
    }

    fn sync(&mut self) -> Result<SyncReport> {
        Ok(sync_round(&mut self.store, &self.transport, &mut |_| {})?)
    }

    /// Rounds until one pulls nothing: what they did together, how long they took, and the CPU
    /// this process spent meanwhile.
    fn catch_up(&mut self) -> Result<(SyncReport, Duration, Duration)> {
        let cpu = process_cpu();
        let started = Instant::now();
        let mut report = self.sync()?;
        loop {
            let more = self.sync()?;
            if more.pulled == 0 {
                break;
            }
            report.pulled += more.pulled;
            report.fast += more.fast;
            report.rebuilt += more.rebuilt;
            report.bytes_down += more.bytes_down;
        }
        Ok((report, started.elapsed(), process_cpu().saturating_sub(cpu)))
    }

    /// The push stage alone, as `sync_round` runs it: the outbox in batches of `PUSH_BATCH`, each
    /// answer recorded in the store. Returns the revisions accepted.
    fn push_outbox(&mut self) -> Result<u64> {
        let until = self.store.outbox_end()?;
        let mut after = 0;
        let mut accepted = 0;
        loop {
            let batch = self.store.outbox_batch(after, until, PUSH_BATCH)?;
            let Some(&(last, _)) = batch.last() else { break };
            after = last;
            let request = PushRequest { revisions: batch.into_iter().map(|(_, r)| r).collect() };
            // A busy server answers 503 when no pooled connection frees up in time; a workstation
            // tries again (the engine's watch loop does, with backoff), and so do we, counted.
            let response = loop {
                match self.transport.push(&request) {
                    Ok(response) => break response,
                    Err(e @ (SyncError::Unavailable { .. } | SyncError::TimedOut { .. })) => {
                        self.retries += 1;
                        if self.retries > 1000 {
                            return Err(e.into());
                        }
                        std::thread::sleep(Duration::from_millis(rand::rng().random_range(50..250)));
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            let tally = self.store.record_push_results(&request.revisions, &response.results)?;
            ensure!(tally.rejected == 0 && tally.unanswered == 0, "push refused some revisions: {tally:?}");
            accepted += tally.accepted();
        }
        Ok(accepted)
    }

    /// Every revision in the outbox, oldest first.
    fn outbox(&self) -> Result<Vec<Revision>> {
        let until = self.store.outbox_end()?;
        Ok(self.store.outbox_batch(0, until, usize::MAX)?.into_iter().map(|(_, r)| r).collect())
    }
}

fn options(who: &Provisioned) -> OpenOptions {
    OpenOptions { workstation: Some(who.identity.workstation_code.clone()), user: Some(who.identity.user_name.clone()) }
}

fn fields(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn rate(count: u64, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64().max(1e-9)
}

// ---------------------------------------------------------------------------------------------
// 1. Bootstrap

struct Bootstrap {
    records: u64,
    loading: Duration,
    /// A fresh workstation pulling the whole history (no snapshot yet).
    labdesk: Duration,
    /// The server building the lab's snapshot (not counted), and another fresh workstation
    /// taking it.
    snapshot_build: Duration,
    snapshot: SnapshotInfo,
    from_snapshot: Duration,
    copy_out: Duration,
    baseline: Duration,
    baseline_rows: u64,
}

fn run_bootstrap(config: &Config, db: &TestPostgres, server: &TestServer) -> Result<Bootstrap> {
    println!("[1/3] Bootstrap. Loading the central store …");
    let loader = provision_blocking(&db.url, "North", "loader", Role::Technician, "LD1")?;
    let mut ld = Workstation::in_memory(server, &loader)?;
    let case = ld.store.create_case(fields(json!({"patient_name": "Template Patient", "status": "received"})))?;
    let message =
        ld.store.post_message(&case.record.case_number, NewMessage::text("template message: shade A2, try-in"))?;
    let pushed = ld.sync()?;
    ensure!(pushed.applied == 2, "the loader's template case and message were not applied: {pushed:?}");
    let started = Instant::now();
    load_central(&db.url, config, case.id, message.id)?;
    let loading = started.elapsed();
    let records = config.cases + config.messages + 2;
    println!(
        "      loaded {} records (+ their revisions and pull positions) by INSERT … SELECT generate_series in \
         PostgreSQL, cloning a case and a message pushed through the server, then VACUUM (ANALYZE): {:.1} s \
         ({:.0} records/s; not counted)",
        thousands(records),
        loading.as_secs_f64(),
        rate(records, loading)
    );

    println!(
        "      a fresh workstation (on-disk store) runs sync_round over HTTP until caught up ({} ids) …",
        if std::env::var("LABDESK_BENCH_IDS").as_deref() == Ok("v7") { "time-ordered" } else { "random" }
    );
    let boot = provision_blocking(&db.url, "North", "boot", Role::Technician, "BS1")?;
    let dir = tempfile::Builder::new().prefix("labdesk-sync-bench-").tempdir()?;
    let mut ws = Workstation::on_disk(server, &boot, dir.path())?;
    let (report, labdesk, cpu) = ws.catch_up()?;
    ensure!(report.pulled == records, "the fresh workstation pulled {} records, not {}", report.pulled, records);
    println!(
        "      pulled {} revisions ({} fast path, {} rebuilt), {:.0} MB of JSON, in {:.1} s",
        thousands(report.pulled),
        thousands(report.fast),
        thousands(report.rebuilt),
        report.bytes_down as f64 / 1e6,
        labdesk.as_secs_f64()
    );
    println!(
        "      CPU of this process (workstation + in-process server, not PostgreSQL): {:.1} s, {:.1} µs/record",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / records as f64
    );
    drop(ws);
    if phases() {
        server_phases(&db.url, &boot, records)?;
    }

    // The same, from the lab's snapshot: the server builds it (as its builder does once a lab has
    // grown by `snapshot_every` revisions), then another fresh workstation syncs and takes it.
    println!(
        "      the server builds the lab's snapshot (what labdesk-sync's builder does once a lab has {} revisions \
         more than its last) …",
        thousands(labdesk_sync::snapshot::DEFAULT_SNAPSHOT_EVERY)
    );
    let (snapshot_build, snapshot) = build_lab_snapshot(&db.url)?;
    println!(
        "      built: {} revisions up to {}, {:.0} MB, in {:.1} s (the server's, once for every workstation after \
         it; not counted)",
        thousands(snapshot.revisions),
        snapshot.seq,
        snapshot.size as f64 / 1e6,
        snapshot_build.as_secs_f64()
    );
    println!("      another fresh workstation (on-disk store) runs sync_round over HTTP until caught up …");
    let boot2 = provision_blocking(&db.url, "North", "boot2", Role::Technician, "BS2")?;
    let dir2 = tempfile::Builder::new().prefix("labdesk-sync-bench-").tempdir()?;
    let mut ws = Workstation::on_disk(server, &boot2, dir2.path())?;
    let (report, from_snapshot, cpu) = ws.catch_up()?;
    ensure!(report.from_snapshot == snapshot.revisions, "the workstation did not take the snapshot: {report:?}");
    ensure!(report.pulled == records, "the workstation has {} records, not {}", report.pulled, records);
    println!(
        "      took {} revisions from the snapshot ({:.0} MB downloaded, checked, copied in) and pulled {} after it, \
         in {:.1} s; CPU of this process {:.1} s",
        thousands(report.from_snapshot),
        report.bytes_down as f64 / 1e6,
        thousands(report.pulled - report.from_snapshot),
        from_snapshot.as_secs_f64(),
        cpu.as_secs_f64()
    );
    drop(ws);
    drop(dir2);

    println!("      baseline: COPY (SELECT the same revisions) TO STDOUT → plain SQLite table …");
    let (copy_out, baseline, baseline_rows) = baseline_bootstrap(&db.url, boot.identity.lab_id, dir.path())?;
    ensure!(baseline_rows == records, "the baseline copied {baseline_rows} rows, not {records}");
    let b = Bootstrap {
        records,
        loading,
        labdesk,
        snapshot_build,
        snapshot,
        from_snapshot,
        copy_out,
        baseline,
        baseline_rows,
    };
    println!();
    println!("Bootstrap ({} records)", thousands(records));
    println!(
        "  LabDesk   pulling it all          {:>9.0} records/s   {:>7.1} s   (sync_round over HTTP, no snapshot yet)",
        rate(b.records, b.labdesk),
        b.labdesk.as_secs_f64()
    );
    println!(
        "  LabDesk   from the lab's snapshot {:>9.0} records/s   {:>7.1} s   (a {:.0} MB store the server built in {:.1} s)",
        rate(b.records, b.from_snapshot),
        b.from_snapshot.as_secs_f64(),
        b.snapshot.size as f64 / 1e6,
        b.snapshot_build.as_secs_f64()
    );
    println!(
        "  baseline  COPY → SQLite           {:>9.0} records/s   {:>7.1} s   (COPY alone, drained to nothing: {:.0} records/s)",
        rate(b.baseline_rows, b.baseline),
        b.baseline.as_secs_f64(),
        rate(b.baseline_rows, b.copy_out)
    );
    println!();
    Ok(b)
}

/// Builds the lab's snapshot as the server's builder does (`labdesk_sync::snapshot`), on a runtime of
/// two workers as the server's: how long it took, and what it built.
fn build_lab_snapshot(url: &str) -> Result<(Duration, SnapshotInfo)> {
    use labdesk_server_database::SyncStore;
    use labdesk_sync::snapshot::{build_and_save, Built};
    let store: Arc<dyn SyncStore> =
        Arc::new(labdesk_server_postgres::PgStore::new(url, labdesk_server_postgres::PgOptions::default())?);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let lab = store.lab("North").await?;
        let started = Instant::now();
        match build_and_save(&store, &lab).await? {
            Built::Snapshot(info) => Ok((started.elapsed(), info)),
            other => bail!("the server built no snapshot: {other:?}"),
        }
    })
}

/// The server's share of a bootstrap, measured apart: the storage backend's pages as JSON text
/// (PostgreSQL's query, which writes each revision's JSON, and the page put around them: what the
/// server sends), then those pages read as the per-revision path reads them. One thread each,
/// nothing else running.
fn server_phases(url: &str, who: &Provisioned, records: u64) -> Result<()> {
    use labdesk_server_database::SyncStore as _;
    let limit = labdesk_proto::sync::MAX_PULL_LIMIT;
    let store = labdesk_server_postgres::PgStore::new(url, labdesk_server_postgres::PgOptions::default())?;
    let identity = who.identity.clone();
    let (bodies, query) = block_on(async move {
        let started = Instant::now();
        let mut bodies = Vec::new();
        let mut after = 0;
        loop {
            let page = store.pull_text(&identity, after, limit).await?;
            // Where the next page starts: the page's `next`, read from its text (a skim).
            #[derive(serde::Deserialize)]
            struct Cursor {
                next: i64,
                more: bool,
            }
            let cursor: Cursor = serde_json::from_str(&page.json)?;
            after = cursor.next;
            bodies.push(page.json);
            if !cursor.more {
                break;
            }
        }
        Ok::<_, anyhow::Error>((bodies, started.elapsed()))
    })?;
    let started = Instant::now();
    for body in &bodies {
        let page: labdesk_proto::sync::PullPage = serde_json::from_str(body)?;
        drop(page);
    }
    let decode = started.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / records as f64;
    println!(
        "      apart, {} pages of {limit}: server query → page as JSON {:.1} s ({:.1} µs/record); \
         JSON → page as the per-revision path reads it {:.1} s ({:.1} µs/record)",
        bodies.len(),
        query.as_secs_f64(),
        per(query),
        decode.as_secs_f64(),
        per(decode)
    );
    Ok(())
}

/// Clones the template case and message into `config.cases` cases and `config.messages` messages
/// (spread over the cases), each one record at version 1 with its creating revision, numbered for
/// pull after everything already there.
fn load_central(url: &str, config: &Config, case_id: uuid::Uuid, message_id: uuid::Uuid) -> Result<()> {
    let url = url.to_owned();
    let (cases, messages) = (i64::try_from(config.cases)?, i64::try_from(config.messages)?);
    block_on(async move {
        let mut client = connect(&url).await?;
        let tx = client.transaction().await?;
        // The clones' ids: random (gen_random_uuid()), or with LABDESK_BENCH_IDS=v7 time-ordered as
        // LabDesk mints its records' and revisions' ids (UUIDv7: milliseconds first), clone after
        // clone. Random ids land all over the workstation's indexes; LabDesk's own, at their end.
        let v7 = std::env::var("LABDESK_BENCH_IDS").as_deref() == Ok("v7");
        let id = |k: &str, salt: u8| {
            if v7 {
                format!(
                    "(lpad(to_hex(1700000000000 + ({k}) * 2 + {salt}), 12, '0') || '7' \
                     || substr(md5(({k})::text || '.{salt}'), 1, 3) || '8' || substr(md5(({k})::text || '.{salt}'), 4, 15))::uuid"
                )
            } else {
                "gen_random_uuid()".to_owned()
            }
        };
        let (case_k, msg_k) = ("n".to_owned(), format!("{cases} + n"));
        tx.batch_execute(&format!(
            "CREATE TEMP TABLE gen_case ON COMMIT DROP AS
               SELECT n, {} AS rid, {} AS rev FROM generate_series(1, {cases}) n;
             CREATE TEMP TABLE gen_msg ON COMMIT DROP AS
               SELECT n, {} AS rid, {} AS rev, 1 + (n % {cases}) AS case_n
                 FROM generate_series(1, {messages}) n;",
            id(&case_k, 0),
            id(&case_k, 1),
            id(&msg_k, 0),
            id(&msg_k, 1),
        ))
        .await?;
        let base: i64 = tx.query_one("SELECT coalesce(max(seq), 0) FROM pull_positions", &[]).await?.get(0);
        // What each clone changes of its template.
        let case_patch = "jsonb_build_object('case_number', 'BN-' || lpad(g.n::text, 7, '0'), \
                          'patient_name', 'Patient ' || g.n)";
        let message_patch = "jsonb_build_object('case_id', c.rid::text, \
                             'message_content', 'message ' || g.n || ': shade A' || (g.n % 4) || ', try-in')";
        let id_patch = "CASE WHEN t.fields ? 'id' THEN jsonb_build_object('id', g.rid::text) ELSE '{}' END";
        let state_id_patch = "CASE WHEN t.state ? 'id' THEN jsonb_build_object('id', g.rid::text) ELSE '{}' END";
        let steps = [
            format!(
                "INSERT INTO records (id, kind, lab_id, version, head_revision, state, created_at, updated_at, updated_by)
                 SELECT g.rid, t.kind, t.lab_id, 1, g.rev, t.state || {state_id_patch} || {case_patch},
                        t.created_at, t.updated_at, t.updated_by
                   FROM gen_case g, records t WHERE t.id = '{case_id}'"
            ),
            format!(
                "INSERT INTO revisions (id, record_id, kind, lab_id, version, base_version, fields, outcome,
                                        author, workstation, made_at, pushed_by)
                 SELECT g.rev, g.rid, t.kind, t.lab_id, 1, 0, t.fields || {id_patch} || {case_patch},
                        'applied', t.author, t.workstation, t.made_at, t.pushed_by
                   FROM gen_case g, revisions t WHERE t.record_id = '{case_id}' AND t.version = 1 ORDER BY g.n"
            ),
            format!(
                "INSERT INTO records (id, kind, lab_id, version, head_revision, state, created_at, updated_at, updated_by)
                 SELECT g.rid, t.kind, t.lab_id, 1, g.rev, t.state || {state_id_patch} || {message_patch},
                        t.created_at, t.updated_at, t.updated_by
                   FROM gen_msg g JOIN gen_case c ON c.n = g.case_n, records t WHERE t.id = '{message_id}'"
            ),
            format!(
                "INSERT INTO revisions (id, record_id, kind, lab_id, version, base_version, fields, outcome,
                                        author, workstation, made_at, pushed_by)
                 SELECT g.rev, g.rid, t.kind, t.lab_id, 1, 0,
                        t.fields || {id_patch} || {message_patch},
                        'applied', t.author, t.workstation, t.made_at, t.pushed_by
                   FROM gen_msg g JOIN gen_case c ON c.n = g.case_n, revisions t
                  WHERE t.record_id = '{message_id}' AND t.version = 1 ORDER BY g.n"
            ),
            // Numbered here, as the sequencer would number them (cases first, in order), and taken
            // out of its queue.
            format!(
                "INSERT INTO pull_positions (seq, lab_id, revision_id)
                 SELECT {base} + g.n, t.lab_id, g.rev FROM gen_case g, records t WHERE t.id = '{case_id}'"
            ),
            format!(
                "INSERT INTO pull_positions (seq, lab_id, revision_id)
                 SELECT {base} + {cases} + g.n, t.lab_id, g.rev FROM gen_msg g, records t WHERE t.id = '{message_id}'"
            ),
            "DELETE FROM unsequenced u USING gen_case g WHERE u.revision_id = g.rev".to_owned(),
            "DELETE FROM unsequenced u USING gen_msg g WHERE u.revision_id = g.rev".to_owned(),
            format!("SELECT setval('pull_seq', {base} + {cases} + {messages})"),
        ];
        for step in &steps {
            tx.batch_execute(step).await.with_context(|| format!("loading: {step}"))?;
        }
        tx.commit().await?;
        // As autovacuum would leave a central store in service: statistics and visibility map
        // (without the latter, index-only scans fetch every heap row).
        client.batch_execute("VACUUM (ANALYZE) records").await?;
        client.batch_execute("VACUUM (ANALYZE) revisions").await?;
        Ok(())
    })
}

/// COPY of the lab's revisions (the columns a pull page carries), streamed to a thread that
/// inserts them into a plain SQLite table, a transaction per `BASELINE_PAGE` rows. Returns the
/// time of the COPY drained to nothing, the time of COPY → SQLite, and the rows.
fn baseline_bootstrap(url: &str, lab_id: uuid::Uuid, dir: &Path) -> Result<(Duration, Duration, u64)> {
    let copy = format!(
        "COPY (SELECT p.seq, r.id, r.record_id, r.kind, r.version, r.base_version, r.parent, r.fields, r.author,
                      r.workstation, r.made_at
                 FROM pull_positions p JOIN revisions r ON r.id = p.revision_id
                WHERE p.lab_id = '{lab_id}' ORDER BY p.seq) TO STDOUT"
    );
    // The COPY alone, drained to nothing.
    let (u, c) = (url.to_owned(), copy.clone());
    let started = Instant::now();
    block_on(async move {
        let client = connect(&u).await?;
        let stream = client.copy_out(c.as_str()).await?;
        futures_util::pin_mut!(stream);
        let mut bytes = 0usize;
        while let Some(chunk) = stream.next().await {
            bytes += chunk?.len();
        }
        Ok::<_, anyhow::Error>(bytes)
    })?;
    let copy_out = started.elapsed();

    let conn = Connection::open(dir.join("baseline.sqlite3"))?;
    conn.execute_batch(
        // The page size of a LabDesk store (labdesk-core db.rs), as a fair bulk insert would have.
        "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE revisions (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, record_id TEXT NOT NULL,
             kind TEXT NOT NULL, version INTEGER NOT NULL, base_version INTEGER NOT NULL, parent TEXT,
             fields TEXT NOT NULL, author TEXT NOT NULL, workstation TEXT NOT NULL, made_at TEXT NOT NULL);",
    )?;
    let (tx_chunks, rx_chunks) = mpsc::sync_channel::<Vec<u8>>(256);
    let u = url.to_owned();
    let started = Instant::now();
    let reader = std::thread::spawn(move || {
        block_on(async move {
            let client = connect(&u).await?;
            let stream = client.copy_out(copy.as_str()).await?;
            futures_util::pin_mut!(stream);
            while let Some(chunk) = stream.next().await {
                if tx_chunks.send(chunk?.to_vec()).is_err() {
                    break;
                }
            }
            Ok::<_, anyhow::Error>(())
        })
    });
    let mut rows = 0u64;
    let mut pending: Vec<u8> = Vec::new();
    let mut conn = conn;
    let mut tx = conn.transaction()?;
    let mut in_tx = 0usize;
    for chunk in rx_chunks {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let text = std::str::from_utf8(&line[..line.len() - 1])?;
            let cols: Vec<Option<String>> = text.split('\t').map(unescape_copy).collect();
            ensure!(cols.len() == 11, "a COPY row with {} columns", cols.len());
            tx.prepare_cached(
                "INSERT INTO revisions (seq, id, record_id, kind, version, base_version, parent, fields, author,
                                        workstation, made_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(rusqlite::params_from_iter(cols.iter()))?;
            rows += 1;
            in_tx += 1;
            if in_tx == BASELINE_PAGE {
                tx.commit()?;
                tx = conn.transaction()?;
                in_tx = 0;
            }
        }
    }
    tx.commit()?;
    reader.join().map_err(|_| anyhow::anyhow!("the COPY thread panicked"))??;
    Ok((copy_out, started.elapsed(), rows))
}

/// One column of COPY's text format: `\N` is NULL, backslash escapes are undone.
fn unescape_copy(text: &str) -> Option<String> {
    if text == "\\N" {
        return None;
    }
    if !text.contains('\\') {
        return Some(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// 2. Push throughput

struct Push {
    workstations: usize,
    revisions: u64,
    labdesk: Duration,
    per_workstation: Vec<Duration>,
    baseline: Duration,
    setup: Duration,
    retries: u64,
}

fn run_push(config: &Config, db: &TestPostgres, server: &TestServer) -> Result<Push> {
    let w = config.workstations;
    println!(
        "[2/3] Push. {w} workstations (in-memory stores, lab \"Push\") each make {} revisions offline (1 case in {}, \
         the rest chat on them) …",
        thousands(PUSH_PER_WORKSTATION as u64),
        PUSH_CASE_EVERY
    );
    let setup_started = Instant::now();
    let mut who = Vec::with_capacity(w);
    for i in 0..w {
        who.push(provision_blocking(&db.url, "Push", &format!("pusher{i}"), Role::Technician, &format!("PW{i:02}"))?);
    }
    let barrier = Arc::new(Barrier::new(w + 1));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<Vec<Revision>>>();
    let mut threads = Vec::with_capacity(w);
    for (i, who) in who.into_iter().enumerate() {
        let (server_url, barrier, ready_tx) = (server.url.clone(), barrier.clone(), ready_tx.clone());
        threads.push(std::thread::spawn(move || -> Result<(u64, Instant, Instant, u64)> {
            let prepared = (|| -> Result<Workstation> {
                let store = Store::open_in_memory(options(&who))?;
                let transport = HttpTransport::new(&parse_server_url(&server_url)?, &Token::new(&who.token)?)?;
                let mut ws = Workstation { store, transport, retries: 0 };
                make_offline_work(&mut ws.store, i)?;
                Ok(ws)
            })();
            let mut ws = match prepared.and_then(|ws| Ok((ws.outbox()?, ws))) {
                Ok((outbox, ws)) => {
                    let _ = ready_tx.send(Ok(outbox));
                    ws
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    barrier.wait();
                    bail!("workstation {i} could not prepare");
                }
            };
            barrier.wait();
            let started = Instant::now();
            let accepted = ws.push_outbox()?;
            Ok((accepted, started, Instant::now(), ws.retries))
        }));
    }
    drop(ready_tx);
    let mut outboxes = Vec::with_capacity(w);
    for _ in 0..w {
        outboxes.push(ready_rx.recv().context("a pushing workstation died")??);
    }
    let setup = setup_started.elapsed();
    println!("      ready in {:.1} s (not counted); all push at once …", setup.as_secs_f64());
    barrier.wait();
    let mut accepted = 0;
    let mut first_start: Option<Instant> = None;
    let mut last_end: Option<Instant> = None;
    let mut per_workstation = Vec::with_capacity(w);
    let mut retries = 0;
    for thread in threads {
        let (n, start, end, r) = thread.join().map_err(|_| anyhow::anyhow!("a pushing workstation panicked"))??;
        accepted += n;
        retries += r;
        first_start = Some(first_start.map_or(start, |s| s.min(start)));
        last_end = Some(last_end.map_or(end, |e| e.max(end)));
        per_workstation.push(end - start);
    }
    let labdesk = match (first_start, last_end) {
        (Some(s), Some(e)) => e - s,
        _ => Duration::ZERO,
    };
    let revisions: u64 = outboxes.iter().map(|o| o.len() as u64).sum();
    ensure!(accepted == revisions, "{accepted} accepted of {revisions} pushed");

    println!("      baseline: the same rows, plain INSERTs into a plain table from {w} connections …");
    let baseline = baseline_push(&db.url, outboxes)?;
    per_workstation.sort();
    let p = Push { workstations: w, revisions, labdesk, per_workstation, baseline, setup, retries };
    println!();
    println!("Push ({} revisions from {} workstations at once)", thousands(p.revisions), p.workstations);
    println!(
        "  LabDesk   push over HTTP            {:>9.0} revisions/s   {:>7.2} s   (one workstation's push: median {:.2} s, slowest {:.2} s)",
        rate(p.revisions, p.labdesk),
        p.labdesk.as_secs_f64(),
        p.per_workstation[p.per_workstation.len() / 2].as_secs_f64(),
        p.per_workstation.last().map_or(0.0, Duration::as_secs_f64)
    );
    println!(
        "  baseline  plain INSERT, autocommit  {:>9.0} revisions/s   {:>7.2} s",
        rate(p.revisions, p.baseline),
        p.baseline.as_secs_f64()
    );
    println!(
        "  ({} push batches of ≤ {PUSH_BATCH} were answered 503 (no pooled connection free in time) and sent again)",
        p.retries
    );
    println!();
    Ok(p)
}

/// Offline work on one workstation: `PUSH_PER_WORKSTATION` revisions, one case in
/// `PUSH_CASE_EVERY`, the others chat messages on the latest case.
fn make_offline_work(store: &mut Store, index: usize) -> Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(index as u64);
    let mut case_number = String::new();
    for n in 0..PUSH_PER_WORKSTATION {
        if n % PUSH_CASE_EVERY == 0 {
            let status = SUGGESTED_STATUSES[rng.random_range(0..SUGGESTED_STATUSES.len())];
            let case = store.create_case(fields(json!({"patient_name": format!("Pusher {index} patient {n}"),
                                                        "status": status})))?;
            case_number = case.record.case_number;
        } else {
            store.post_message(
                &case_number,
                NewMessage::text(&format!("message {n}: shade A{}", rng.random_range(1..4))),
            )?;
        }
    }
    Ok(())
}

fn baseline_push(url: &str, outboxes: Vec<Vec<Revision>>) -> Result<Duration> {
    let url = url.to_owned();
    block_on(async move {
        let setup = connect(&url).await?;
        setup
            .batch_execute(
                "CREATE TABLE plain_revisions (id uuid PRIMARY KEY, record_id uuid NOT NULL, kind text NOT NULL,
                     version integer NOT NULL, base_version integer NOT NULL, parent uuid, fields jsonb NOT NULL,
                     author text NOT NULL, workstation text NOT NULL, made_at timestamptz NOT NULL)",
            )
            .await?;
        let mut clients = Vec::with_capacity(outboxes.len());
        for _ in &outboxes {
            clients.push(connect(&url).await?);
        }
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(outboxes.len());
        for (client, outbox) in clients.into_iter().zip(outboxes) {
            tasks.push(tokio::spawn(async move {
                let insert = client
                    .prepare(
                        "INSERT INTO plain_revisions (id, record_id, kind, version, base_version, parent, fields,
                             author, workstation, made_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::timestamptz)",
                    )
                    .await?;
                for r in &outbox {
                    let fields = Value::Object(r.fields.clone());
                    client
                        .execute(
                            &insert,
                            &[
                                &r.id,
                                &r.record_id,
                                &r.record_kind.as_str(),
                                &i32::try_from(r.version)?,
                                &i32::try_from(r.base_version)?,
                                &r.parent,
                                &fields,
                                &r.author,
                                &r.workstation,
                                &r.made_at.to_string(),
                            ],
                        )
                        .await?;
                }
                Ok::<_, anyhow::Error>(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        Ok(started.elapsed())
    })
}

// ---------------------------------------------------------------------------------------------
// 3. Propagation

struct Propagation {
    labdesk: Vec<Duration>,
    round_a: Vec<Duration>,
    baseline: Vec<Duration>,
}

fn run_propagation(db: &TestPostgres, server: &TestServer) -> Result<Propagation> {
    println!("[3/3] Propagation. Workstations A and B (on-disk stores, lab \"Prop\"), B long-polling …");
    let a_who = provision_blocking(&db.url, "Prop", "alice", Role::Technician, "PA1")?;
    let b_who = provision_blocking(&db.url, "Prop", "bert", Role::Technician, "PB1")?;
    let dir_a = tempfile::Builder::new().prefix("labdesk-sync-bench-a-").tempdir()?;
    let dir_b = tempfile::Builder::new().prefix("labdesk-sync-bench-b-").tempdir()?;
    let mut a = Workstation::on_disk(server, &a_who, dir_a.path())?;
    let case = a.store.create_case(fields(json!({"patient_name": "Propagation Patient", "status": "received"})))?;
    let number = case.record.case_number.clone();
    a.sync()?;

    let stop = Arc::new(AtomicBool::new(false));
    let (seen_tx, seen_rx) = mpsc::channel::<(Instant, String)>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let b_thread = {
        let (stop, server_url, dir) = (stop.clone(), server.url.clone(), dir_b.path().to_owned());
        let number = number.clone();
        std::thread::spawn(move || -> Result<()> {
            let store = Store::open(&dir, options(&b_who))?;
            let transport = HttpTransport::new(&parse_server_url(&server_url)?, &Token::new(&b_who.token)?)?;
            let mut b = Workstation { store, transport, retries: 0 };
            let mut cursor = b.sync()?.cursor;
            let _ = ready_tx.send(());
            while !stop.load(Ordering::Relaxed) {
                // As `watch` waits: the news comes with its first page, which the round applies
                // rather than asking for it again.
                let answer = b.transport.wait_with_page(cursor, Duration::from_secs(2), PULL_LIMIT)?;
                if answer.head > cursor {
                    let news = News { after: cursor, answer };
                    let report = sync_round_after_news(&mut b.store, &b.transport, &mut |_| {}, news)?;
                    cursor = report.cursor;
                    if report.pulled > 0 {
                        let status = b.store.case(&number)?.record.status;
                        let _ = seen_tx.send((Instant::now(), status));
                    }
                }
            }
            Ok(())
        })
    };
    ready_rx.recv_timeout(Duration::from_secs(60)).context("workstation B did not come online")?;
    std::thread::sleep(Duration::from_millis(200));

    let mut labdesk = Vec::with_capacity(PROPAGATIONS);
    let mut round_a = Vec::with_capacity(PROPAGATIONS);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for i in 0..PROPAGATIONS {
        let status = format!("stage {i}");
        let started = Instant::now();
        a.store.edit_case(&number, None, fields(json!({ "status": status })))?;
        let report = a.sync()?;
        ensure!(report.applied == 1, "A's change was not applied: {report:?}");
        round_a.push(started.elapsed());
        loop {
            let (seen, got) = seen_rx.recv_timeout(Duration::from_secs(30)).context("B never saw A's change")?;
            if got == status {
                labdesk.push(seen - started);
                break;
            }
        }
        // A person's next change comes a moment later; B is back in its long poll by then.
        std::thread::sleep(Duration::from_millis(rng.random_range(5..15)));
    }
    stop.store(true, Ordering::Relaxed);
    b_thread.join().map_err(|_| anyhow::anyhow!("workstation B panicked"))??;

    println!("      baseline: NOTIFY on one connection → LISTEN on another, {PROPAGATIONS} round trips …");
    let baseline = baseline_notify(&db.url)?;
    let p = Propagation { labdesk, round_a, baseline };
    println!();
    println!("Propagation A → B ({PROPAGATIONS} changes)");
    println!(
        "  LabDesk   edit on A + sync_round; B wakes, sync_round   p50 {} ms  p99 {} ms  (A's own edit + round: p50 {} ms)",
        ms(percentile(&p.labdesk, 0.50)),
        ms(percentile(&p.labdesk, 0.99)),
        ms(percentile(&p.round_a, 0.50))
    );
    println!(
        "  baseline  NOTIFY → LISTEN                               p50 {} ms  p99 {} ms",
        ms(percentile(&p.baseline, 0.50)),
        ms(percentile(&p.baseline, 0.99))
    );
    println!();
    Ok(p)
}

fn baseline_notify(url: &str) -> Result<Vec<Duration>> {
    let url = url.to_owned();
    block_on(async move {
        let (listener, mut connection) = tokio_postgres::connect(&url, NoTls).await?;
        let (note_tx, mut note_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let AsyncMessage::Notification(_) = message {
                    let _ = note_tx.send(Instant::now());
                }
            }
        });
        listener.batch_execute("LISTEN labdesk_bench").await?;
        let notifier = connect(&url).await?;
        let mut times = Vec::with_capacity(PROPAGATIONS);
        for _ in 0..PROPAGATIONS {
            let started = Instant::now();
            notifier.batch_execute("NOTIFY labdesk_bench").await?;
            let seen = tokio::time::timeout(Duration::from_secs(10), note_rx.recv())
                .await
                .context("no notification")?
                .context("the LISTEN connection closed")?;
            times.push(seen - started);
        }
        Ok(times)
    })
}

fn percentile(samples: &[Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let index = ((ms.len() - 1) as f64 * p).round() as usize;
    ms[index.min(ms.len() - 1)]
}

fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1}")
    }
}

// ---------------------------------------------------------------------------------------------
// Summary

fn print_summary(b: &Bootstrap, p: &Push, g: &Propagation) {
    let met = |ok: bool| if ok { "yes".to_owned() } else { "NO".to_owned() };
    let boot_rate = rate(b.records, b.labdesk);
    let snapshot_rate = rate(b.records, b.from_snapshot);
    let push_rate = rate(p.revisions, p.labdesk);
    let p50 = percentile(&g.labdesk, 0.50);
    let rows: Vec<[String; 5]> = vec![
        [
            format!("bootstrap ({} records, from the lab's snapshot), records/s", thousands(b.records)),
            format!("{snapshot_rate:.0}"),
            format!("{:.0}", rate(b.baseline_rows, b.baseline)),
            format!("≥ {BOOTSTRAP_TARGET:.0}"),
            met(snapshot_rate >= BOOTSTRAP_TARGET),
        ],
        [
            "bootstrap from the lab's snapshot, wall time, s".into(),
            format!("{:.1}", b.from_snapshot.as_secs_f64()),
            format!("{:.1}", b.baseline.as_secs_f64()),
            "-".into(),
            "-".into(),
        ],
        [
            "… without a snapshot, pulling it all, records/s".into(),
            format!("{boot_rate:.0}"),
            format!("{:.0}", rate(b.baseline_rows, b.baseline)),
            "-".into(),
            "-".into(),
        ],
        [
            "… without a snapshot, wall time, s".into(),
            format!("{:.1}", b.labdesk.as_secs_f64()),
            format!("{:.1}", b.baseline.as_secs_f64()),
            "-".into(),
            "-".into(),
        ],
        [
            format!("push ({} workstations at once), revisions/s", p.workstations),
            format!("{push_rate:.0}"),
            format!("{:.0}", rate(p.revisions, p.baseline)),
            format!("≥ {PUSH_TARGET:.0}"),
            met(push_rate >= PUSH_TARGET),
        ],
        [
            "propagation A → B, p50 ms".into(),
            ms(p50),
            ms(percentile(&g.baseline, 0.50)),
            format!("≤ {PROPAGATION_TARGET_MS:.0}"),
            met(p50 <= PROPAGATION_TARGET_MS),
        ],
        [
            "propagation A → B, p99 ms".into(),
            ms(percentile(&g.labdesk, 0.99)),
            ms(percentile(&g.baseline, 0.99)),
            "-".into(),
            "-".into(),
        ],
    ];
    println!("Summary");
    println!("  baseline: bootstrap = COPY TO STDOUT → plain SQLite table; push = plain INSERTs from as many");
    println!(
        "  connections; propagation = NOTIFY → LISTEN. Not counted: loading the central store ({:.1} s),",
        b.loading.as_secs_f64()
    );
    println!("  making the pushers' offline work ({:.1} s).", p.setup.as_secs_f64());
    let headers = ["metric", "LabDesk", "baseline", "target", "met?"];
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([headers[i].chars().count()]).max().unwrap_or(0))
        .collect();
    let line = |cells: [&str; 5]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
            .collect();
        println!("  {}", padded.join(" | ").trim_end());
    };
    line(headers);
    println!("  {}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-+-"));
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    let mut missed = String::new();
    for (name, ok) in [
        ("bootstrap", snapshot_rate >= BOOTSTRAP_TARGET),
        ("push", push_rate >= PUSH_TARGET),
        ("propagation", p50 <= PROPAGATION_TARGET_MS),
    ] {
        if !ok {
            let _ = write!(missed, "{}{name}", if missed.is_empty() { "" } else { "; " });
        }
    }
    if missed.is_empty() {
        println!("  All targets met.");
    } else {
        println!("  Targets missed: {missed}");
    }
    println!("  Load average at the end: {}", load_average());
}

/// 1234567 → "1,234,567".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
