//! Sync with the central store: the workstation's half (the promises are
//! `docs/sync-model.md`, the design is ARCHITECTURE.md, "Sync").
//!
//! Vocabulary, on top of the crate's (record, revision, chain, head, outbox):
//! - **central store**: the lab's PostgreSQL behind the sync server; it orders every change and
//!   is the truth every workstation converges on.
//! - **round**: one [`sync_round`]: the *push* stage (revisions, then files' bytes: **blobs**),
//!   then the *pull* stage, then *finish*.
//! - **push**: sending outbox revisions, oldest first, in batches of at most [`PUSH_BATCH`]. Each
//!   is answered *applied*, *merged*, *conflicted* (the three mean **accepted**) or *rejected*.
//! - **accepted** revision: one the central store took, whose central copy has not come back
//!   through pull yet; it has left the outbox and carries the central version it got
//!   (`accepted_version`).
//! - **pull**: fetching, page by page, every revision the central store made visible after the
//!   **cursor** (a central sequence number), and **applying** each page in one SQLite transaction
//!   together with the new cursor.
//! - **pulled** revision: one whose central copy is here (`central_seq` set), ours or not. A
//!   record's pulled revisions, folded in central version order, are its **central state**.
//! - **tail**: a record's local revisions that are not pulled yet (pending or accepted). The local
//!   view of a record is its central state with its tail **re-applied** on top, each tail revision
//!   merged with [`labdesk_proto::merge::merge`] against the state it was made on.
//! - **proposed** fields: what a change asked for; its `fields` are what took effect here, which
//!   differ when a re-apply merged it. Push sends what was proposed, with the revision it was
//!   **made on**, so that the central store merges it exactly as it was made.
//! - **rebuild**: rewriting a record's chain (versions, links, effective fields) and row from its
//!   pulled revisions and its re-applied tail. The **fast path** skips it for the common case: a
//!   record with no tail receiving its next version.
//! - **conflict**: a field two changes set to different values; the value accepted first is
//!   **kept**, the other stays in the chain, and the record **needs review** until a person
//!   [resolves](crate::Store::resolve) it.
//! - **rejected change**: one the central store refused, with its reason. It leaves the outbox and
//!   its record's chain and is kept in `rejected_changes` to be shown, never silently undone.
//! - **held** revision: a pulled one this store refused (a case number taken here, say), set aside
//!   with its reason and tried again every round; later ones of its record wait behind it.
//! - **bootstrap**: a fresh workstation's first pull (or the rest of one cut short), applied by the
//!   **bulk path**: the same rows and revisions as the fast path, written set-based many pages to a
//!   transaction, the search and assignee indexes built once at its end.
//!
//! Files, one concern each: [`transport`] (the wire: the [`Transport`] trait and
//! [`HttpTransport`]), `push` (the push stage), `blobs` (files' bytes: the upload stage and
//! [`fetch_blob`]), `pull` (applying pages), `bootstrap` (a bootstrap's
//! pull stage: its threads and transactions), `bulk` (the bulk path), `rebuild` (a record's chain
//! and row from its revisions), `conflicts` (review and resolution, rejected changes), `held` (pulled revisions
//! this store could not take),
//! [`credentials`] (the token), `engine` ([`sync_round`] and [`watch`]), `error` ([`SyncError`]).

mod blobs;
mod bootstrap;
mod bulk;
#[cfg(test)]
mod bulk_tests;
mod conflicts;
pub mod credentials;
mod engine;
mod error;
mod held;
mod pull;
mod push;
mod rebuild;
mod snapshot;
pub mod transport;

use rusqlite::params;
use serde::Serialize;
use url::Url;

pub use blobs::fetch_blob;
pub(crate) use bulk::build_pending_indexes;
pub(crate) use conflicts::case_conflicts as conflicts_of_case;
pub use conflicts::{FieldDispute, RecordConflicts, RejectedChange};
pub use credentials::Token;
pub use engine::{
    sync_round, sync_round_after_news, watch, News, Progress, SyncReport, SyncStage, WatchEvent, WatchOptions,
    PULL_LIMIT, PUSH_BATCH,
};
pub use error::SyncError;
pub use held::HeldChange;
pub use pull::ApplyReport;
pub use push::PushTally;
pub(crate) use rebuild::canonical;
pub use snapshot::{build_snapshot, snapshot_schema, BuiltSnapshot};
pub use transport::{HttpTransport, Transport};

use crate::error::{Error, Result};
use crate::record::query_opt;
use crate::{Store, Timestamp};

/// Where this workstation syncs and how it went, for the UI's status line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SyncState {
    /// The server signed in to (`labdesk login`); `None` before.
    pub server_url: Option<String>,
    /// The central sequence number pulled up to.
    pub cursor: i64,
    /// When the last round completed.
    pub last_sync_at: Option<Timestamp>,
    /// Why the last round failed; `None` after a good one.
    pub last_error: Option<String>,
    /// Changes waiting in the outbox.
    pub pending: u64,
    /// Records with a conflict no one has resolved.
    pub needs_review: u64,
    /// Changes the central store refused, kept to be shown.
    pub rejected: u64,
    /// Changes from the lab this workstation could not store, set aside and tried again at every
    /// round: until none is left, this workstation is not up to date with the lab.
    pub held: u64,
}

/// Checks a server address: an `http` or `https` URL with a host. It is kept with a trailing
/// slash, so that `v1/push` joins onto its path instead of replacing its last part.
pub fn parse_server_url(text: &str) -> std::result::Result<Url, SyncError> {
    let bad = |why: &str| SyncError::BadServerUrl { url: text.trim().to_owned(), why: why.to_owned() };
    let mut url = Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("it must start with https:// (or http:// on a trusted network) and name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("put no user name or password in it: the token is what signs in"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a ?query or a #fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

impl Store {
    /// Where this workstation syncs and how it went.
    pub fn sync_state(&self) -> Result<SyncState> {
        let (server_url, cursor, last_sync_at, last_error): (Option<String>, i64, Option<String>, Option<String>) =
            self.conn.query_row(
                "SELECT server_url, cursor, last_sync_at, last_error FROM sync_state WHERE only_row = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?;
        let count = |sql: &str| -> Result<u64> {
            Ok(u64::try_from(query_opt::<i64>(&self.conn, sql, [])?.unwrap_or(0)).unwrap_or(0))
        };
        Ok(SyncState {
            server_url,
            cursor,
            last_sync_at: last_sync_at
                .map(|t| Timestamp::parse(&t).map_err(|e| Error::Corrupt(e.to_string())))
                .transpose()?,
            last_error,
            pending: count("SELECT count(*) FROM outbox")?,
            needs_review: count("SELECT count(DISTINCT record_id) FROM conflicts WHERE resolved_by IS NULL")?,
            rejected: count("SELECT count(*) FROM rejected_changes")?,
            held: count("SELECT count(*) FROM held_revisions")?,
        })
    }

    /// Records the server this workstation syncs with (the token is kept apart: see
    /// [`credentials`]). A different server starts pulling from the beginning.
    pub fn set_server_url(&mut self, url: &Url) -> Result<()> {
        self.write(|tx, _| {
            let old: Option<String> =
                query_opt::<Option<String>>(tx, "SELECT server_url FROM sync_state WHERE only_row = 1", [])?.flatten();
            if old.as_deref().is_some_and(|old| old != url.as_str()) {
                tracing::info!(%url, "a different server: pulling starts from the beginning");
                tx.execute("UPDATE sync_state SET cursor = 0 WHERE only_row = 1", [])?;
            }
            tx.execute(
                "UPDATE sync_state SET server_url = ?1, last_error = NULL WHERE only_row = 1",
                params![url.as_str()],
            )?;
            Ok(())
        })
    }

    /// The central sequence number pulled up to.
    pub fn sync_cursor(&self) -> Result<i64> {
        Ok(self.conn.query_row("SELECT cursor FROM sync_state WHERE only_row = 1", [], |r| r.get(0))?)
    }

    /// Notes the end of a round: when it completed, or why it failed.
    pub(crate) fn note_round(&mut self, error: Option<&str>) -> Result<()> {
        match error {
            None => self.conn.execute(
                "UPDATE sync_state SET last_sync_at = ?1, last_error = NULL WHERE only_row = 1",
                params![Timestamp::now().to_string()],
            )?,
            Some(error) => {
                self.conn.execute("UPDATE sync_state SET last_error = ?1 WHERE only_row = 1", params![error])?
            }
        };
        Ok(())
    }
}
