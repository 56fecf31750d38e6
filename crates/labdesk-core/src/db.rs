//! Opening the local store: the SQLite file, its settings, its schema and the workstation it
//! belongs to.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::Rng;
use rusqlite::{params, Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{Error, Result};
use crate::record::{query_opt, Actor};
use crate::{schema, Timestamp};

/// The file name of the store inside a data folder.
pub const STORE_FILE: &str = "labdesk.sqlite3";

/// How to open a store.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// The workstation code to set up a new store with (2–8 capitals or digits, printed in every
    /// case number minted here). A new store without one gets a random 4-character code.
    pub workstation: Option<String>,
    /// Who is making changes through this handle. Defaults to the store's `default_user`
    /// setting, then to `$USER`.
    pub user: Option<String>,
}

/// The page size of a new store's file, in bytes (see `set_up`).
const PAGE_SIZE: i64 = 16 * 1024;

/// A workstation's local copy of cases, files and chat, with their revision chains and outbox.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    path: Option<PathBuf>,
    pub(crate) actor: Actor,
}

impl Store {
    /// Opens (creating if need be) the store in data folder `dir`.
    pub fn open(dir: &Path, options: OpenOptions) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir { path: dir.to_owned(), source })?;
        let path = dir.join(STORE_FILE);
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| Error::Open { path: path.clone(), source })?;
        Self::set_up(conn, Some(path), options)
    }

    /// A store that lives in memory only: for tests and benchmarks.
    pub fn open_in_memory(options: OpenOptions) -> Result<Self> {
        Self::set_up(Connection::open_in_memory()?, None, options)
    }

    #[tracing::instrument(skip_all, fields(path = ?path))]
    fn set_up(mut conn: Connection, path: Option<PathBuf>, options: OpenOptions) -> Result<Self> {
        // Pages of 16 KiB for a new store (a store made before keeps its own: the size is fixed
        // once the file has its first page). A store holds many small rows in a few wide tables
        // with several indexes, and a fresh workstation's bootstrap writes a lab's whole history
        // at once: fewer, larger pages mean fewer B-tree splits, and fewer and larger frames in
        // the log, which this machine's kernel writes for most of a bulk commit's time. Writing
        // 1.1 million revisions and rows in SQL alone: 14–15 s with 4 KiB pages, 10.5–11.4 s
        // with 16 or 32 KiB (Mozilla's stores use 32 KiB). Set before WAL, which writes the
        // file's first page.
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        // WAL: readers (the UI) never block the writer (sync). synchronous=FULL: a change the UI
        // reported as saved survives a power cut, not only a crash.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrate(&mut conn)?;
        // A bootstrap killed half-way left its search and assignee indexes to be built: an open
        // store always has them complete.
        crate::sync::build_pending_indexes(&mut conn)?;
        let workstation = ensure_workstation(&mut conn, options.workstation.as_deref())?;
        let user = match options.user {
            Some(user) if !user.trim().is_empty() => user.trim().to_owned(),
            _ => query_opt::<String>(&conn, "SELECT value FROM settings WHERE key = 'default_user'", [])?
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "unknown".to_owned()),
        };
        Ok(Self { conn, path, actor: Actor { user, workstation } })
    }

    /// Opens this store's file again on a new connection, as [`open`](Self::open) does, and lets
    /// go of the old one (and whatever it kept in memory). A store in memory stays as it is.
    pub(crate) fn reconnect(&mut self) -> Result<()> {
        let Some(path) = self.path.clone() else { return Ok(()) };
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| Error::Open { path: path.clone(), source })?;
        let options = OpenOptions { workstation: None, user: Some(self.actor.user.clone()) };
        *self = Self::set_up(conn, Some(path), options)?;
        Ok(())
    }

    /// The store's file, if it has one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// This workstation's code.
    pub fn workstation(&self) -> &str {
        &self.actor.workstation
    }

    /// Gives a store that holds nothing yet another workstation code: a store set up with a
    /// random code (opened before anyone said which workstation it is) can still become FD1.
    /// Once it has a change or has been signed in to a server, its code is in its case numbers and
    /// the server's records, and it is refused.
    pub fn set_workstation(&mut self, code: &str) -> Result<()> {
        let code = normalize_workstation_code(code);
        check_workstation_code(&code)?;
        if code == self.actor.workstation {
            return Ok(());
        }
        let used: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM revisions) OR EXISTS (SELECT 1 FROM workstation WHERE next_case_seq <> 1) \
             OR EXISTS (SELECT 1 FROM sync_state WHERE server_url IS NOT NULL OR cursor <> 0)",
            [],
            |r| r.get(0),
        )?;
        if used {
            return Err(Error::WorkstationMismatch { existing: self.actor.workstation.clone(), requested: code });
        }
        self.conn.execute("UPDATE workstation SET code = ?1", params![code])?;
        self.actor.workstation = code;
        Ok(())
    }

    /// Who changes are recorded as made by.
    pub fn user(&self) -> &str {
        &self.actor.user
    }

    /// Changes who later changes through this handle are recorded as made by.
    pub fn set_user(&mut self, user: &str) {
        user.trim().clone_into(&mut self.actor.user);
    }

    /// Records `user` as the default user of this store.
    pub fn set_default_user(&mut self, user: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES ('default_user', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![user.trim()],
        )?;
        self.set_user(user);
        Ok(())
    }

    /// Runs `f` in one IMMEDIATE transaction: all of it is stored, or none of it.
    pub(crate) fn write<T>(&mut self, f: impl FnOnce(&Transaction<'_>, &Actor) -> Result<T>) -> Result<T> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx, &self.actor)?;
        tx.commit()?;
        Ok(out)
    }

    /// The raw connection, for benchmarks and consistency checks that read across tables.
    #[doc(hidden)]
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// A valid workstation code: 2–8 capital letters or digits.
pub fn check_workstation_code(code: &str) -> Result<()> {
    let ok = (2..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::BadWorkstationCode(code.to_owned()))
    }
}

/// A workstation code as typed: `fd1` is FD1 (people type codes in lower case; case numbers
/// print them in capitals).
pub fn normalize_workstation_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

fn ensure_workstation(conn: &mut Connection, requested: Option<&str>) -> Result<String> {
    let requested = requested.map(normalize_workstation_code);
    let requested = requested.as_deref();
    if let Some(code) = requested {
        check_workstation_code(code)?;
    }
    let existing: Option<String> = query_opt(conn, "SELECT code FROM workstation", [])?;
    match (existing, requested) {
        (Some(existing), Some(requested)) if existing != requested => {
            Err(Error::WorkstationMismatch { existing, requested: requested.to_owned() })
        }
        (Some(existing), _) => Ok(existing),
        (None, requested) => {
            let code = requested.map_or_else(random_workstation_code, str::to_owned);
            conn.execute(
                "INSERT INTO workstation (only_row, code, next_case_seq, created_at) VALUES (1, ?1, 1, ?2)",
                params![code, Timestamp::now().to_string()],
            )?;
            tracing::info!(%code, "new store set up");
            Ok(code)
        }
    }
}

/// Four characters of Crockford's base32 (no I, L, O, U): readable aloud and on a label.
fn random_workstation_code() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::rng();
    // Start with a letter so the code never reads as part of the number.
    let first = ALPHABET[rng.random_range(10..ALPHABET.len())];
    std::iter::once(first)
        .chain((0..3).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_without_a_code_gets_a_valid_random_one() {
        let store = Store::open_in_memory(OpenOptions::default()).unwrap();
        check_workstation_code(store.workstation()).expect("the random code must itself be valid");
    }

    #[test]
    fn reopening_with_another_workstation_code_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let opts = |w: &str| OpenOptions { workstation: Some(w.into()), user: Some("ann".into()) };
        drop(Store::open(dir.path(), opts("FD1")).unwrap());
        let err = Store::open(dir.path(), opts("FD2")).unwrap_err();
        assert!(matches!(err, Error::WorkstationMismatch { .. }), "got {err}");
        assert_eq!(Store::open(dir.path(), opts("FD1")).unwrap().workstation(), "FD1");
    }

    #[test]
    fn a_bad_code_is_refused_with_an_example() {
        let err = Store::open_in_memory(OpenOptions { workstation: Some("fd-1".into()), user: None }).unwrap_err();
        assert!(err.to_string().contains("e.g. FD1"), "{err}");
    }

    #[test]
    fn a_lower_case_code_is_taken_in_capitals() {
        let store = Store::open_in_memory(OpenOptions { workstation: Some(" fd1 ".into()), user: None }).unwrap();
        assert_eq!(store.workstation(), "FD1", "case numbers print the code in capitals");
    }

    #[test]
    fn an_empty_store_can_take_another_code_and_a_used_one_cannot() {
        let mut store = Store::open_in_memory(OpenOptions::default()).unwrap();
        store.set_workstation("fd1").expect("a store that holds nothing can still be named");
        assert_eq!(store.workstation(), "FD1");
        store.create_case(crate::test_support::fields(serde_json::json!({"patient_name": "P"}))).unwrap();
        let err = store.set_workstation("TB2").unwrap_err();
        assert!(matches!(err, Error::WorkstationMismatch { .. }), "its case numbers already say FD1: {err}");
    }

    #[test]
    fn the_store_runs_in_wal_mode_with_foreign_keys_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), OpenOptions::default()).unwrap();
        let mode: String = store.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        let fk: i64 = store.conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(fk, 1);
    }

    #[test]
    fn a_new_store_has_16_kib_pages_and_a_store_made_before_keeps_its_own() {
        let page_size = |store: &Store| store.conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), OpenOptions::default()).unwrap();
        assert_eq!(page_size(&store), PAGE_SIZE, "a new store is made with the larger pages");

        // A store made by an earlier LabDesk, with SQLite's default pages, opens as it was.
        let old = tempfile::tempdir().unwrap();
        let conn = Connection::open(old.path().join(STORE_FILE)).unwrap();
        conn.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x);").unwrap();
        drop(conn);
        let store = Store::open(old.path(), OpenOptions::default()).unwrap();
        assert_eq!(page_size(&store), 4096, "the page size of a store made before is kept");
        let report = store.check(true).unwrap();
        assert_eq!(report.integrity.as_deref(), Some("ok"), "and its file is sound");
    }
}
