//! A bootstrap's pull stage: a fresh workstation pulling its lab's whole history.
//!
//! The store's one writer is the bottleneck, so everything else happens beside it, each on a
//! thread of its own:
//! - *fetch*: asks for the pages one after the other ([`BOOTSTRAP_PULL_LIMIT`]), skimming each
//!   for where the next one starts, so that the next request overlaps with reading this page;
//! - *prepare*: reads their JSON text ([`bulk::decode`]: the revisions' fields left as text) and
//!   [prepares](bulk::prepare_text) them (everything the bulk path computes without the store; a
//!   record created in the page read from its fields' text straight into its type), up to
//!   [`AHEAD`] pages ahead;
//! - *apply* (the caller's thread): applies them with the bulk path, many pages to a transaction;
//! - *free*: drops the pages applied (freeing a page's many small values takes a while too);
//! - *checkpoint*, for a store in a file: copies the write-ahead log into the file after each
//!   commit, on its own connection, while the next pages are written (SQLite would otherwise do it
//!   on the writer's thread, at the commit).
//!
//! Each transaction holds its pages and the cursor after the last of them, so a bootstrap cut
//! short (the network, or a killed process) resumes after the last one committed, and —
//! `sync_state.bootstrap` staying set until it has caught up — in bulk again.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, Instant};

use rusqlite::TransactionBehavior;

#[cfg(doc)]
use labdesk_proto::sync::MAX_PULL_LIMIT;

use super::bulk::{self, Prepared};
use super::engine::{is_last, tally, Progress, SyncReport, PULL_LIMIT};
use super::error::SyncError;
use super::pull::{finish, Apply, ApplyReport};
use super::transport::Transport;
use crate::error::Result;
use crate::Store;

/// A transaction takes pages until it holds this many revisions, or has been open this long. Few
/// transactions: each commit writes every page its rows and index entries touched — and ids
/// minted elsewhere land all over the indexes, so a commit writes most of their pages whatever
/// its size — and a checkpoint copies them again (the sync benchmark at 1.1 million revisions:
/// 16 s of commits in batches of 50,000, 4 s in batches of 250,000). Still, a bootstrap cut short
/// loses little, and a person's change made meanwhile waits at most about this long for the
/// write lock.
const BATCH_REVISIONS: u64 = 250_000;
const BATCH_TIME: Duration = Duration::from_secs(10);
/// Pages fetched (and prepared) ahead of the one being applied.
const AHEAD: usize = 4;
/// Revisions asked for per page: the usual page. Every page costs a request, a sign-in check and
/// two queries of the server's own (the sequencer's check, the head), whatever its size; but
/// larger pages ([`MAX_PULL_LIMIT`], 5,000) made the bootstrap slower, not faster: the sync
/// benchmark (30,000 cases and 300,000 messages, time-ordered ids) took 10.0 s with them against
/// 8.4–8.8 s with these, its workstation spending 43 µs of CPU per record against 35 — reading
/// and freeing pages of several megabytes costs more than the requests they spare.
pub(super) const BOOTSTRAP_PULL_LIMIT: u32 = PULL_LIMIT;
/// SQLite's page cache while bootstrapping, in KiB (the default is 2 MiB), given back when the
/// bootstrap ends. Large enough for a batch's pages: every index page a batch touches stays at
/// hand, is never read back from the file nor written out before the commit.
const CACHE_KIB: i64 = 1024 * 1024;

type Fetched = Result<(Prepared, u64), SyncError>;

/// [`BATCH_REVISIONS`], or what a test asks for (to see many transactions in a small store).
fn batch_revisions() -> u64 {
    #[cfg(test)]
    if let Some(n) = super::bulk_tests::BATCH.with(std::cell::Cell::get) {
        return n;
    }
    BATCH_REVISIONS
}

/// How a bootstrap's pull went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pulled {
    /// Caught up; the round is noted as completed.
    Done,
    /// The bulk path does not apply (the store has local changes not pulled back, or a page holds
    /// what the per-revision path knows better): nothing uncommitted was kept, and the round
    /// carries on page by page from the cursor.
    NotBulk,
}

impl Store {
    /// Whether the next pull is a bootstrap: the store has no revision at all (a fresh
    /// workstation), or a bootstrap was cut short before it caught up.
    pub(crate) fn bootstrapping(&self) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT bootstrap = 1 OR NOT EXISTS (SELECT 1 FROM revisions) FROM sync_state WHERE only_row = 1",
            )?
            .query_row([], |r| r.get(0))?)
    }
}

/// Pulls and applies every page after the cursor (module docs).
pub(super) fn pull(
    store: &mut Store,
    transport: &dyn Transport,
    progress: &mut dyn FnMut(&Progress),
    p: &mut Progress,
    report: &mut SyncReport,
) -> Result<Pulled, SyncError> {
    let cursor = store.sync_cursor()?;
    let setting = |name: &str| store.conn.pragma_query_value(None, name, |r| r.get::<_, i64>(0));
    let (cache, autocheckpoint) = (setting("cache_size"), setting("wal_autocheckpoint"));
    let (cache, autocheckpoint) = (cache.map_err(crate::Error::from)?, autocheckpoint.map_err(crate::Error::from)?);
    store.conn.pragma_update(None, "cache_size", -CACHE_KIB).map_err(crate::Error::from)?;
    // A store in a file has its log copied into it by a thread of its own, while this one writes.
    let file = store.path().map(Path::to_path_buf);
    if file.is_some() {
        store.conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(crate::Error::from)?;
    }
    let outcome = std::thread::scope(|scope| {
        let (sender, pages) = mpsc::sync_channel::<Fetched>(AHEAD);
        let (done, applied) = mpsc::channel::<Prepared>();
        let (committed, commits) = mpsc::channel::<()>();
        let no_thread =
            |e: std::io::Error| SyncError::Store(crate::Error::Corrupt(format!("no thread to sync with: {e}")));
        let (fetched, bodies) = mpsc::sync_channel::<Body>(AHEAD);
        let fetching = std::thread::Builder::new()
            .name("labdesk-sync-fetch".into())
            .spawn_scoped(scope, move || fetch(transport, cursor, &fetched))
            .map_err(no_thread)?;
        let preparing = std::thread::Builder::new()
            .name("labdesk-sync-prepare".into())
            .spawn_scoped(scope, move || prepare(transport, bodies, &sender))
            .map_err(no_thread)?;
        // Freeing a page's values takes a while too: not on the applying thread.
        std::thread::Builder::new()
            .name("labdesk-sync-free".into())
            .spawn_scoped(scope, move || applied.into_iter().for_each(drop))
            .map_err(no_thread)?;
        if let Some(file) = file {
            std::thread::Builder::new()
                .name("labdesk-sync-checkpoint".into())
                .spawn_scoped(scope, move || checkpoint(&file, &commits))
                .map_err(no_thread)?;
        }
        // `pages` and `done` go with this call: a fetching thread still at work stops at its next
        // page, and the freeing thread when it has freed what it was given.
        let started = Instant::now();
        let mut t = Timings::default();
        let outcome = apply(store, pages, &done, &committed, cursor, progress, p, report, &mut t);
        if let (Ok(fetched), Ok(prepared)) = (fetching.join(), preparing.join()) {
            let Timings { request, fetch_waits, .. } = fetched;
            let Timings { decode, prepare, prepare_waits, pages, revisions, bytes, .. } = prepared;
            t = Timings { request, decode, prepare, fetch_waits, prepare_waits, pages, revisions, bytes, ..t };
        }
        log_timings(&t, started.elapsed());
        outcome
    });
    for (name, value) in [("cache_size", cache), ("wal_autocheckpoint", autocheckpoint)] {
        if let Err(e) = store.conn.pragma_update(None, name, value) {
            tracing::warn!(error = %e, name, "could not set a setting back");
        }
    }
    outcome
}

/// Copies the log into the store file after each commit, on a connection of its own, while the
/// bootstrap goes on writing (a passive checkpoint waits for no one); when the bootstrap is done,
/// copies the rest and empties the log. Best effort: the log is the store until it is copied, and
/// SQLite copies whatever is left at its next automatic checkpoint.
fn checkpoint(file: &Path, commits: &Receiver<()>) {
    let conn = match rusqlite::Connection::open(file) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(error = %e, "no connection to copy the log with: it is copied later");
            return;
        }
    };
    let run = |mode: &str| {
        if let Err(e) = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(())) {
            tracing::debug!(error = %e, mode, "checkpoint");
        }
    };
    while commits.recv().is_ok() {
        while commits.try_recv().is_ok() {}
        run("PASSIVE");
    }
    // Emptying the log waits for readers still in it: briefly, so that a reader (the UI) holding
    // on does not hold up the end of the round; the log is then emptied at a later checkpoint.
    let _ = conn.busy_timeout(Duration::from_millis(200));
    run("TRUNCATE");
}

/// Where a bootstrap's time went, thread by thread (wall time, so a thread waiting for the other
/// shows it), logged when its pull ends (`debug`, this module's target: a person at the terminal
/// needs the round, not its phases). The sync benchmark prints it (`LABDESK_BENCH_PHASES=1`).
#[derive(Debug, Default, Clone, Copy)]
struct Timings {
    /// Fetching thread: asking for a page until its answer is read whole (the server's query and
    /// encoding, the transfer), and where the next page starts read from it.
    request: Duration,
    /// Fetching thread: waiting for room ahead (the preparing thread is behind).
    fetch_waits: Duration,
    /// Preparing thread: reading the answer's JSON ([`bulk::decode`]).
    decode: Duration,
    /// Preparing thread: folding the records a page creates ([`bulk::prepare_text`]).
    prepare: Duration,
    /// Preparing thread: waiting for room ahead (the applying thread is behind) or for a page.
    prepare_waits: Duration,
    /// Applying thread: waiting for a page (the fetching thread is behind).
    apply_waits: Duration,
    /// Applying thread: writing pages ([`bulk::apply`]).
    apply: Duration,
    /// Applying thread: the end of each transaction (triggers back, cursor) and, at the end, the
    /// search and assignee indexes built.
    finish: Duration,
    /// Applying thread: commits.
    commit: Duration,
    pages: u64,
    revisions: u64,
    bytes: u64,
}

/// A page's JSON text as the central store sent it, or why there is none.
type Body = Result<Vec<u8>, SyncError>;

/// Where the next page starts, skimmed from a page's text (the page is read whole later, on the
/// preparing thread: the next request need not wait for that).
#[derive(serde::Deserialize)]
struct Cursor {
    /// Counted, not kept.
    revisions: Vec<serde::de::IgnoredAny>,
    next: i64,
    more: bool,
}

/// Fetches pages one after the other from `after` until the last one or a failure, each sent on
/// as it comes; stops early when no one takes them any more. Asking for the next page overlaps
/// with reading the one before, which the preparing thread does.
fn fetch(transport: &dyn Transport, mut after: i64, bodies: &SyncSender<Body>) -> Timings {
    let mut t = Timings::default();
    loop {
        let started = Instant::now();
        let body = transport.pull_json(after, BOOTSTRAP_PULL_LIMIT).and_then(|body| {
            let cursor: Cursor = serde_json::from_slice(&body)
                .map_err(|e| SyncError::BadAnswer { url: transport.address(), detail: e.to_string() })?;
            Ok((body, cursor))
        });
        t.request += started.elapsed();
        let (body, last) = match body {
            Ok((body, cursor)) => {
                let last = !cursor.more || (cursor.revisions.is_empty() && cursor.next <= after);
                after = after.max(cursor.next);
                (Ok(body), last)
            }
            Err(error) => (Err(error), true),
        };
        let sending = Instant::now();
        let gone = bodies.send(body).is_err();
        t.fetch_waits += sending.elapsed();
        if gone || last {
            return t;
        }
    }
}

/// Makes each fetched page ready for the store ([`bulk::decode`], [`bulk::prepare_text`]: the
/// records created in the page read from their fields' text straight into their types) and sends
/// it on; stops at a failure, or early when no one takes them any more.
fn prepare(transport: &dyn Transport, bodies: Receiver<Body>, pages: &SyncSender<Fetched>) -> Timings {
    let mut t = Timings::default();
    let mut waiting = Instant::now();
    for body in bodies {
        let read = Instant::now();
        t.prepare_waits += read - waiting;
        let prepared = body.and_then(|body| {
            let wire =
                bulk::decode(&body).map_err(|detail| SyncError::BadAnswer { url: transport.address(), detail })?;
            let decoded = Instant::now();
            t.decode += decoded - read;
            let prepared = bulk::prepare_text(wire)?;
            t.prepare += decoded.elapsed();
            Ok((prepared, body.len() as u64))
        });
        let failed = match &prepared {
            Ok((prepared, size)) => {
                t.pages += 1;
                t.revisions += prepared.page.revisions.len() as u64;
                t.bytes += size;
                false
            }
            Err(_) => true,
        };
        waiting = Instant::now();
        if pages.send(prepared).is_err() || failed {
            break;
        }
    }
    t
}

/// Logs where a bootstrap's time went.
fn log_timings(t: &Timings, total: Duration) {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    tracing::debug!(
        total_ms = ms(total),
        pages = t.pages,
        revisions = t.revisions,
        bytes = t.bytes,
        fetch_request_ms = ms(t.request),
        fetch_waits_ms = ms(t.fetch_waits),
        prepare_decode_ms = ms(t.decode),
        prepare_prepare_ms = ms(t.prepare),
        prepare_waits_ms = ms(t.prepare_waits),
        apply_waits_ms = ms(t.apply_waits),
        apply_ms = ms(t.apply),
        apply_finish_ms = ms(t.finish),
        apply_commit_ms = ms(t.commit),
        "bootstrap pull timings"
    );
}

/// Applies fetched pages in bulk, a transaction per batch (see [`BATCH_REVISIONS`]).
#[allow(clippy::too_many_arguments)]
fn apply(
    store: &mut Store,
    pages: Receiver<Fetched>,
    done: &mpsc::Sender<Prepared>,
    committed: &mpsc::Sender<()>,
    mut cursor: i64,
    progress: &mut dyn FnMut(&Progress),
    p: &mut Progress,
    report: &mut SyncReport,
    t: &mut Timings,
) -> Result<Pulled, SyncError> {
    loop {
        let tx = store.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(crate::Error::from)?;
        // A held revision's record, or a case others hang on, must not be appended to blindly.
        if bulk::has_tail(&tx)? || super::held::any(&tx)? {
            return Ok(Pulled::NotBulk);
        }
        // Set aside when the first revision comes: a round with nothing to pull (a fresh
        // workstation in an empty lab asks again and again) changes no schema and builds nothing.
        let mut triggers: Option<Vec<String>> = None;
        let opened = Instant::now();
        // What the transaction's pages did, counted once it commits.
        let mut applied: Vec<(ApplyReport, u64, u64)> = Vec::new();
        let mut revisions = 0;
        let (last, failure) = loop {
            let waiting = Instant::now();
            let received = pages.recv();
            let applying = Instant::now();
            t.apply_waits += applying - waiting;
            let (mut page, down) = match received {
                Ok(Ok(fetched)) => fetched,
                // What came before the failure is kept (committed below); the round fails.
                Ok(Err(error)) => break (false, Some(error)),
                // The fetching thread ended without a last page or a failure: it cannot, short of
                // a panic; carry on page by page.
                Err(mpsc::RecvError) => break (false, None),
            };
            let last = is_last(&page.page, cursor);
            if triggers.is_none() && !page.page.revisions.is_empty() {
                bulk::begin(&tx)?;
                triggers = Some(bulk::suspend_index_triggers(&tx)?);
            }
            let Some(mut did) = bulk::apply(&tx, &mut page)? else {
                // Rolled back whole (dropped); the round pulls its pages again.
                return Ok(Pulled::NotBulk);
            };
            let finishing = Instant::now();
            t.apply += finishing - applying;
            cursor = cursor.max(page.page.next);
            did.cursor = cursor;
            revisions += did.revisions;
            applied.push((did, page.page.remaining, down));
            let caught_up = !page.page.more;
            let _ = done.send(page);
            if last {
                bulk::restore_triggers(&tx, triggers.as_deref().unwrap_or_default())?;
                finish(&tx, cursor, Apply { bootstrap: true, last: true }, caught_up, &mut ApplyReport::default())?;
                t.finish += finishing.elapsed();
                break (true, None);
            }
            if revisions >= batch_revisions() || opened.elapsed() >= BATCH_TIME {
                break (false, None);
            }
        };
        if !last {
            let finishing = Instant::now();
            bulk::restore_triggers(&tx, triggers.as_deref().unwrap_or_default())?;
            finish(&tx, cursor, Apply { bootstrap: true, last: false }, false, &mut ApplyReport::default())?;
            t.finish += finishing.elapsed();
        }
        let committing = Instant::now();
        tx.commit().map_err(crate::Error::from)?;
        t.commit += committing.elapsed();
        let _ = committed.send(());
        let had_pages = !applied.is_empty();
        for (did, remaining, down) in &applied {
            tally(report, p, did, *remaining, *down);
        }
        if had_pages {
            progress(p);
        }
        match failure {
            Some(error) => return Err(error),
            None if last => return Ok(Pulled::Done),
            None if !had_pages => return Ok(Pulled::NotBulk),
            None => {}
        }
    }
}
