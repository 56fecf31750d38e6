//! Snapshots: a fresh workstation's bootstrap from a store the server built.
//!
//! Vocabulary:
//! - **snapshot**: a whole workstation store file (this crate's schema, SQLite), caught up with
//!   the lab's central store up to a cursor, built by the server with this module's
//!   [`build_snapshot`] — the very bootstrap a workstation runs, into a store of its own — and
//!   kept by the central store as a blob ([`SnapshotInfo`]: its hash, size, cursor and schema).
//! - **taking** a snapshot: a fresh workstation downloads it (in chunks, resumed after a cut,
//!   checked against its SHA-256 like any blob), then copies the **lab tables** (records,
//!   revisions, conflicts, the search and assignee indexes as built) into its store in one
//!   transaction, keeping its **local tables** (its workstation code and case counter, settings,
//!   where it syncs, its outbox: what is this workstation's and not the lab's). Its pull then goes
//!   on from the snapshot's cursor, page by page.
//!
//! Why: a bootstrap writes every row, revision and index entry of the lab's history through
//! SQLite (the sync benchmark: 1.1 million revisions, ~30–45,000 records/s on two cores, the
//! writer the limit); copying a store's pages costs what reading a file costs. The server builds
//! once for every workstation that comes after.
//!
//! A snapshot is taken only by a store in a folder that has nothing of its own yet (no revision,
//! nothing pulled), checked again in the transaction that copies, at the same schema version;
//! anything else pulls as before. A snapshot that turns out unusable once downloaded (tables that
//! differ, a workstation's own changes in it) is set aside with a warning, and the workstation
//! pulls.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use labdesk_proto::sync::{is_blob_name, SnapshotInfo};
use rusqlite::{params, Connection, OpenFlags};
use sha2::{Digest, Sha256};

use super::blobs::download;
use super::engine::{sync_round, Progress, SyncReport};
use super::error::SyncError;
use super::transport::Transport;
use crate::error::Error;
use crate::record::query_opt;
use crate::{OpenOptions, Store};

/// The workstation code of the store a snapshot is built in; every workstation that takes the
/// snapshot puts its own code in its place.
const BUILDER_CODE: &str = "SNAPSHOT";
/// zstd's level for a snapshot: its default, about three to one on a store at some hundreds of MB/s
/// a core; the download shrinks with it, and decompressing costs less than the bytes it spares.
const ZSTD_LEVEL: i32 = 3;
/// The tables that are a workstation's own, not the lab's (or SQLite's and refinery's): a
/// workstation taking a snapshot keeps its own.
const LOCAL_TABLES: [&str; 9] = [
    "workstation",
    "settings",
    "sync_state",
    "outbox",
    "blob_outbox",
    "rejected_changes",
    "refinery_schema_history",
    "search_index_config",
    "sqlite_sequence",
];
/// The tables a snapshot must have empty: what a workstation made and has not had accepted (a
/// revision made here is in the outbox until accepted). A snapshot is built from the central
/// store alone, so anything here means it is not one.
const OWN_CHANGES: [&str; 3] = ["outbox", "blob_outbox", "rejected_changes"];

/// The schema version of the stores this build makes: a snapshot is taken only by a store of
/// the version it was built with.
pub fn snapshot_schema() -> u32 {
    u32::try_from(crate::schema::latest_version()).unwrap_or(0)
}

/// A snapshot built by [`build_snapshot`]: the store file, and what the central store keeps of
/// it.
#[derive(Debug, Clone)]
pub struct BuiltSnapshot {
    pub file: PathBuf,
    pub info: SnapshotInfo,
}

/// Builds a snapshot of the lab `transport` pulls from, in `dir` (an empty folder the caller
/// owns and removes afterwards): a fresh store there, bootstrapped as a workstation bootstraps,
/// left as one self-contained file (its log copied in and removed).
#[tracing::instrument(name = "sync.build_snapshot", skip_all, fields(dir = %dir.display()))]
pub fn build_snapshot(dir: &Path, transport: &dyn Transport) -> Result<BuiltSnapshot, SyncError> {
    let options = OpenOptions { workstation: Some(BUILDER_CODE.to_owned()), user: Some("snapshot".to_owned()) };
    let mut store = Store::open(dir, options)?;
    if !store.is_fresh()? {
        return Err(SyncError::Store(Error::Input(format!(
            "{} holds a store already: a snapshot is built in an empty folder",
            dir.display()
        ))));
    }
    let report = sync_round(&mut store, transport, &mut |_| {})?;
    let revisions: i64 =
        store.conn.query_row("SELECT count(*) FROM revisions", [], |r| r.get(0)).map_err(Error::from)?;
    // Where the workstation that takes it syncs is its own; when this copy synced is not news.
    store
        .conn
        .execute("UPDATE sync_state SET server_url = NULL, last_sync_at = NULL, last_error = NULL", [])
        .map_err(Error::from)?;
    store.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(Error::from)?;
    let file =
        store.path().map(Path::to_path_buf).ok_or_else(|| Error::Corrupt("a store in a folder has a file".into()))?;
    // The last connection to close removes the log: the file alone is the store.
    drop(store);
    let compressed = file.with_extension("db.zst");
    let (hash, size, store_size) = compress(&file, &compressed)?;
    let info = SnapshotInfo {
        hash,
        size,
        store_size,
        seq: report.cursor,
        schema: snapshot_schema(),
        revisions: u64::try_from(revisions).unwrap_or(0),
    };
    tracing::info!(revisions = info.revisions, seq = info.seq, bytes = info.size, "snapshot built");
    Ok(BuiltSnapshot { file: compressed, info })
}

/// Compresses the store file `from` into `to` (zstd, every core of the machine), hashing what it
/// writes: the blob's SHA-256 and size, and the store file's size.
fn compress(from: &Path, to: &Path) -> Result<(String, u64, u64), SyncError> {
    let failed = |what: &Path, e: std::io::Error| SyncError::Store(Error::Input(format!("{}: {e}", what.display())));
    let mut source = File::open(from).map_err(|e| failed(from, e))?;
    let sink = Hashing { file: File::create(to).map_err(|e| failed(to, e))?, digest: Sha256::new(), size: 0 };
    let mut encoder = zstd::Encoder::new(sink, ZSTD_LEVEL).map_err(|e| failed(to, e))?;
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    encoder.multithread(u32::try_from(threads).unwrap_or(1)).map_err(|e| failed(to, e))?;
    let store_size = std::io::copy(&mut source, &mut encoder).map_err(|e| failed(from, e))?;
    let sink = encoder.finish().map_err(|e| failed(to, e))?;
    sink.file.sync_all().map_err(|e| failed(to, e))?;
    Ok((format!("{:x}", sink.digest.finalize()), sink.size, store_size))
}

/// A file that hashes and counts what is written to it.
struct Hashing {
    file: File,
    digest: Sha256,
    size: u64,
}

impl std::io::Write for Hashing {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(bytes)?;
        self.digest.update(&bytes[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// What the download says when the decompressing thread took no more bytes.
const STOPPED: &str = "the snapshot's decompression stopped";

/// Decompresses a snapshot's bytes as they arrive into the store file they hold, which must be
/// `size` bytes.
fn decompress(arriving: mpsc::Receiver<Vec<u8>>, to: &Path, size: u64) -> Result<(), Unusable> {
    let failed = |e: std::io::Error| Unusable(format!("{}: {e}", to.display()));
    let sink = std::io::BufWriter::with_capacity(1 << 20, File::create(to).map_err(failed)?);
    let mut decoder = zstd::stream::write::Decoder::new(sink).map_err(failed)?;
    for chunk in arriving {
        decoder.write_all(&chunk).map_err(|e| Unusable(format!("it does not decompress: {e}")))?;
    }
    decoder.flush().map_err(|e| Unusable(format!("it does not decompress: {e}")))?;
    let file = decoder.into_inner().into_inner().map_err(|e| failed(e.into_error()))?;
    let written = file.metadata().map_err(failed)?.len();
    if written != size {
        return Err(Unusable(format!("it decompresses to {written} bytes, not the {size} announced")));
    }
    Ok(())
}

impl Store {
    /// Whether this store has nothing of its own yet: no revision (so no record and nothing in
    /// the outbox) and nothing pulled. Only such a store takes a snapshot.
    pub(crate) fn is_fresh(&self) -> crate::Result<bool> {
        Ok(fresh(&self.conn)?)
    }
}

/// [`Store::is_fresh`], on a connection (or in a transaction).
fn fresh(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM revisions) AND NOT EXISTS (SELECT 1 FROM outbox) \
             AND (SELECT cursor FROM sync_state WHERE only_row = 1) = 0",
        [],
        |r| r.get(0),
    )
}

/// A bootstrap's first step (module docs): takes the lab's snapshot when there is one this store
/// can take. Returns whether it took one; `Ok(false)` means the pull goes on from the start.
pub(super) fn take(
    store: &mut Store,
    transport: &dyn Transport,
    progress: &mut dyn FnMut(&Progress),
    p: &mut Progress,
    report: &mut SyncReport,
) -> Result<bool, SyncError> {
    let Some(folder) = store.path().and_then(Path::parent).map(Path::to_path_buf) else {
        return Ok(false); // a store in memory: nowhere to download to, and nothing to gain
    };
    if !store.is_fresh()? {
        return Ok(false);
    }
    let Some(info) = transport.snapshot(snapshot_schema())? else {
        return Ok(false);
    };
    if info.schema != snapshot_schema() || !is_blob_name(&info.hash) || info.seq <= 0 {
        tracing::warn!(?info, "the central store offered a snapshot this workstation cannot take: pulling instead");
        return Ok(false);
    }
    // Named for the snapshot, so that a download cut short is found and continued.
    let partial = folder.join(format!(".snapshot-{}", info.hash));
    for old in fs::read_dir(&folder).into_iter().flatten().flatten() {
        let name = old.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".snapshot-") && old.path() != partial {
            let _ = fs::remove_file(old.path()); // an older snapshot's download: superseded
        }
    }
    p.records_total = info.revisions;
    p.bytes_total = Some(info.size);
    progress(p);
    let mut downloaded = None;
    let started = std::time::Instant::now();
    let file = partial.with_extension("db");
    // Decompressed on a thread of its own as the bytes come, so that it costs no time of its own.
    let (got, decompressed) = std::thread::scope(|scope| {
        let (chunks, arriving) = mpsc::sync_channel::<Vec<u8>>(4);
        let decoder = scope.spawn(|| decompress(arriving, &file, info.store_size));
        let got = download(
            transport,
            &info.hash,
            info.size,
            &partial,
            &mut |have, _| {
                // The first call says what a download cut short kept: not downloaded this time.
                report.bytes_down += have - downloaded.unwrap_or(have);
                downloaded = Some(have);
                p.bytes_done = have;
                // The snapshot's revisions come with its bytes: a bar that counts records (the
                // CLI's, the desktop's) moves with the download instead of waiting at 0 for it.
                p.records_done =
                    u64::try_from(u128::from(info.revisions) * u128::from(have) / u128::from(info.size.max(1)))
                        .unwrap_or(info.revisions);
                progress(p);
            },
            // The decompressing thread stopped: it says why once joined.
            &mut |bytes| chunks.send(bytes.to_vec()).map_err(|_| SyncError::Store(Error::Input(STOPPED.into()))),
        );
        drop(chunks);
        let decompressed = decoder.join().unwrap_or_else(|_| Err(Unusable("decompressing it failed".to_owned())));
        (got, decompressed)
    });
    let fetched = started.elapsed();
    match got {
        // Bytes the decompression refused: the snapshot is set aside below.
        Err(SyncError::Store(Error::Input(detail))) if detail == STOPPED => {}
        // Replaced by a newer one while this was downloading: the next round takes that.
        Err(SyncError::Refused { status: 404, url, .. }) => {
            return Err(SyncError::Refused {
                url,
                status: 404,
                message: "the lab's snapshot was replaced by a newer one during the download: sync again".to_owned(),
            })
        }
        // Cut short: the next round goes on from what was kept.
        Err(other) => return Err(other),
        Ok(()) => {}
    }
    let took = decompressed.and_then(|()| store.take_snapshot(&file, &info));
    // Where a snapshot's time went (the sync benchmark prints it with LABDESK_BENCH_PHASES=1).
    tracing::debug!(
        download_and_decompress_ms = ms(fetched),
        take_ms = ms(started.elapsed() - fetched),
        "snapshot timings"
    );
    // Taken or not, the download has served: a store is not kept twice.
    let _ = fs::remove_file(&partial);
    let _ = fs::remove_file(&file);
    match took {
        Ok(()) => {
            // This connection's search index may remember the empty index it had (FTS5 re-reads
            // its tables when another connection changed them, not when this one wrote them
            // directly): a new connection reads the index as copied.
            store.reconnect()?;
            report.pulled += info.revisions;
            report.from_snapshot = info.revisions;
            p.records_done = info.revisions;
            progress(p);
            Ok(true)
        }
        Err(Unusable(why)) => {
            tracing::warn!(%why, "the lab's snapshot cannot be taken here: pulling instead");
            Ok(false)
        }
    }
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Why a downloaded snapshot cannot be taken (the store is left as it was).
#[derive(Debug)]
struct Unusable(String);

impl From<rusqlite::Error> for Unusable {
    fn from(e: rusqlite::Error) -> Self {
        Self(e.to_string())
    }
}

impl From<Error> for Unusable {
    fn from(e: Error) -> Self {
        Self(e.to_string())
    }
}

impl Store {
    /// Takes the snapshot downloaded to `file` (module docs): checks that it is a store of this
    /// schema with nothing of a workstation's own, then copies its tables into this store in one
    /// transaction that first checks this store is still fresh, so that a change a person made
    /// meanwhile (on another connection: the desktop's window, another `labdesk`) is never
    /// written over. The copy is SQLite's transfer of whole tables (`INSERT INTO t SELECT * FROM
    /// t` between identical tables, as VACUUM copies): rows and index entries in order, not
    /// inserted one by one. Local rows (the workstation, settings, where it syncs) are not copied.
    fn take_snapshot(&mut self, file: &Path, info: &SnapshotInfo) -> Result<(), Unusable> {
        let tables = {
            let snapshot =
                Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
            let version: Option<i64> =
                query_opt(&snapshot, "SELECT max(version) FROM refinery_schema_history", [])?.flatten();
            if version != Some(i64::from(info.schema)) {
                return Err(Unusable(format!("it is a store of schema {version:?}, not {}", info.schema)));
            }
            if schema_of(&snapshot)? != schema_of(&self.conn)? {
                return Err(Unusable("its tables differ from this store's".to_owned()));
            }
            for table in OWN_CHANGES {
                let mine: bool =
                    snapshot.query_row(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), [], |r| r.get(0))?;
                if mine {
                    return Err(Unusable(format!("it holds a workstation's own changes ({table})")));
                }
            }
            let cursor: i64 = snapshot.query_row("SELECT cursor FROM sync_state", [], |r| r.get(0))?;
            if cursor != info.seq {
                return Err(Unusable(format!("it is caught up to {cursor}, not to {} as announced", info.seq)));
            }
            lab_tables(&snapshot)?
        };
        // Foreign keys are checked per row otherwise, and SQLite transfers whole tables only
        // without them; the snapshot's rows are a consistent store's. Set outside a transaction,
        // as ATTACH is: the guard sets both back whatever happens.
        let path = file.to_str().ok_or_else(|| Unusable(format!("{} is not a UTF-8 path", file.display())))?;
        self.conn.pragma_update(None, "foreign_keys", "OFF")?;
        let attached = self.conn.execute("ATTACH DATABASE ?1 AS snapshot", params![path]);
        let copied = attached.map_err(Unusable::from).and_then(|_| self.copy_lab_tables(&tables, info));
        let detached = self.conn.execute("DETACH DATABASE snapshot", []);
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        copied?;
        if let Err(e) = detached {
            tracing::warn!(error = %e, "could not let go of the snapshot file");
        }
        Ok(())
    }

    /// The copy of [`take_snapshot`](Self::take_snapshot), in one IMMEDIATE transaction.
    fn copy_lab_tables(&mut self, tables: &[String], info: &SnapshotInfo) -> Result<(), Unusable> {
        let started = std::time::Instant::now();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if !fresh(&tx)? {
            return Err(Unusable("a change was made here meanwhile: it is kept, and the lab is pulled".to_owned()));
        }
        // A table with triggers is copied row by row: the index triggers are set aside (the
        // snapshot has the search and assignee indexes built) and put back.
        let triggers: Vec<(String, String)> = {
            let mut statement = tx.prepare("SELECT name, sql FROM main.sqlite_schema WHERE type = 'trigger'")?;
            let found = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
            found
        };
        for (name, _) in &triggers {
            tx.execute_batch(&format!("DROP TRIGGER main.\"{name}\""))?;
        }
        for table in tables {
            // Empty but for what a new search index starts with: a transfer needs an empty table.
            tx.execute_batch(&format!(
                "DELETE FROM main.\"{table}\"; INSERT INTO main.\"{table}\" SELECT * FROM snapshot.\"{table}\";"
            ))?;
        }
        for (_, sql) in &triggers {
            tx.execute_batch(sql)?;
        }
        tx.execute(
            "UPDATE sync_state SET cursor = ?1, bootstrap = 0, indexes_pending = 0, last_error = NULL WHERE only_row = 1",
            params![info.seq],
        )?;
        let copied = started.elapsed();
        tx.commit()?;
        tracing::debug!(copy_ms = ms(copied), commit_ms = ms(started.elapsed() - copied), "snapshot copy timings");
        tracing::info!(revisions = info.revisions, seq = info.seq, bytes = info.size, "took the lab's snapshot");
        Ok(())
    }
}

/// A store's schema, for comparing two: every table, index, trigger and view, by its SQL.
fn schema_of(conn: &Connection) -> rusqlite::Result<Vec<(String, String, Option<String>)>> {
    conn.prepare("SELECT type, name, sql FROM main.sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect()
}

/// The tables a snapshot's content is in: every table but a workstation's own ones, SQLite's, and
/// the search index's configuration (the same in every store); the search index itself through
/// its own tables, which hold it as built.
fn lab_tables(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare(
        "SELECT name FROM main.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name",
    )?;
    let names = statement.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(names.into_iter().filter(|name| !LOCAL_TABLES.contains(&name.as_str())).collect())
}
