//! The push stage's local half: choosing what to send, and recording what the central store
//! answered, each in one SQLite transaction.
//!
//! - applied / merged / conflicted: the revision leaves the outbox and carries the central version
//!   it got (`accepted_version`) until its central copy comes back through pull; a conflicted one
//!   adds its disputed fields to `conflicts` at once.
//! - rejected: the revision leaves the outbox and its record's chain and is kept in
//!   `rejected_changes` with the reason; the record is rebuilt without it. If it created the
//!   record, the record's row goes (its content stays in `rejected_changes`), and so do the
//!   record's later changes and the records attached to a refused case, which can no longer be
//!   accepted either: each is kept in `rejected_changes`, saying why.
//! - no answer: the revision stays in the outbox; `attempts` + 1 and `last_error` say why.
//!
//! Resending is harmless: the central store answers a revision it has seen with the answer it
//! gave, and an answer for a revision that has already left the outbox is ignored.

use std::collections::BTreeSet;

use labdesk_proto::sync::{Outcome, PushResult};
use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::conflicts::RejectedChange;
use super::rebuild::{read_sync_revisions, rebuild, set_conflicts, Rebuilt, SyncRevision, FIRST_RESOLVER};
use crate::error::Result;
use crate::record::attached_record_ids;
use crate::{RecordKind, Revision, Store, Timestamp};

/// How the central store answered one push batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PushTally {
    pub applied: u64,
    pub merged: u64,
    pub conflicted: u64,
    pub rejected: u64,
    /// Revisions sent that got no answer (they stay in the outbox).
    pub unanswered: u64,
    /// The changes refused, with the server's reasons (and any changes that went with them).
    pub rejections: Vec<RejectedChange>,
}

impl PushTally {
    pub fn accepted(&self) -> u64 {
        self.applied + self.merged + self.conflicted
    }
}

impl Store {
    /// The next outbox revisions to send, oldest first, as they were made (what they proposed, on
    /// what they were made): at most `limit`, after outbox position `after` and up to `until`.
    /// Returns each with its outbox position.
    pub fn outbox_batch(&self, after: i64, until: i64, limit: usize) -> Result<Vec<(i64, Revision)>> {
        let positions: Vec<(i64, String)> = self
            .conn
            .prepare_cached("SELECT seq, revision_id FROM outbox WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3")?
            .query_map(params![after, until, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<std::result::Result<_, _>>()?;
        let mut out = Vec::with_capacity(positions.len());
        for (seq, id) in positions {
            if let Some(revision) = read_sync_revisions(&self.conn, "id = ?1", params![id])?.pop() {
                out.push((seq, revision.as_sent()));
            }
        }
        Ok(out)
    }

    /// The outbox position of the newest entry (0 when empty): a push stage sends up to here, so
    /// that a workstation busy making changes still finishes its round.
    pub fn outbox_end(&self) -> Result<i64> {
        Ok(self.conn.query_row("SELECT coalesce(max(seq), 0) FROM outbox", [], |r| r.get(0))?)
    }

    /// Notes that a push of these revisions got no answer: they stay in the outbox.
    pub fn note_push_failure(&mut self, revision_ids: &[Uuid], error: &str) -> Result<()> {
        self.write(|tx, _| {
            for id in revision_ids {
                tx.prepare_cached("UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE revision_id = ?1")?
                    .execute(params![id.to_string(), error])?;
            }
            Ok(())
        })
    }

    /// Records the central store's answers to the revisions `sent`, in one transaction.
    #[tracing::instrument(name = "sync.record_push", skip_all, fields(sent = sent.len(), answers = results.len()))]
    pub fn record_push_results(&mut self, sent: &[Revision], results: &[PushResult]) -> Result<PushTally> {
        self.write(|tx, _| {
            let mut tally = PushTally::default();
            let mut dirty: BTreeSet<(RecordKind, Uuid)> = BTreeSet::new();
            let now = Timestamp::now();
            for revision in sent {
                let Some(result) = results.iter().find(|r| r.revision_id == revision.id) else {
                    tally.unanswered += 1;
                    tx.prepare_cached(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE revision_id = ?1",
                    )?
                    .execute(params![revision.id.to_string(), "the server's answer left this change out"])?;
                    continue;
                };
                let Some(local) = read_sync_revisions(tx, "id = ?1", params![revision.id.to_string()])?.pop() else {
                    continue; // refused and removed already, with its record
                };
                if local.is_pulled() {
                    continue; // its central copy is here already: nothing to add
                }
                match (result.outcome, result.version) {
                    (Outcome::Rejected, _) => {
                        let reason = result.reason.clone().unwrap_or_else(|| "no reason was given".to_owned());
                        tally.rejected += 1;
                        tally.rejections.push(reject(tx, &local, &reason, now)?);
                        dirty.insert((local.revision.record_kind, local.revision.record_id));
                    }
                    (outcome, Some(version)) => {
                        tx.prepare_cached("UPDATE revisions SET accepted_version = ?2 WHERE id = ?1")?
                            .execute(params![revision.id.to_string(), version])?;
                        tx.prepare_cached("DELETE FROM outbox WHERE revision_id = ?1")?
                            .execute(params![revision.id.to_string()])?;
                        match outcome {
                            Outcome::Applied => tally.applied += 1,
                            Outcome::Merged => tally.merged += 1,
                            _ => tally.conflicted += 1,
                        }
                        let r = &local.revision;
                        set_conflicts(tx, r.record_kind, r.record_id, r.id, &result.conflicts)?;
                    }
                    (_, None) => {
                        // Accepted at no version is an answer this workstation cannot place: keep
                        // the change and send it again.
                        tally.unanswered += 1;
                        tx.prepare_cached(
                            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE revision_id = ?1",
                        )?
                        .execute(params![revision.id.to_string(), "the server accepted it without a version"])?;
                    }
                }
            }
            while let Some((kind, id)) = dirty.pop_first() {
                if rebuild(tx, kind, id)? == Rebuilt::Removed && kind == RecordKind::Case {
                    let why = tally
                        .rejections
                        .iter()
                        .find(|r| r.record_id == id)
                        .map_or_else(|| "no reason was given".to_owned(), |r| r.reason.clone());
                    let why = format!("the case it belongs to was refused: {why}");
                    for (kind, attached) in attached_records(tx, id)? {
                        let taken = reject_record(tx, kind, attached, &why, now)?;
                        tally.rejections.extend(taken);
                        dirty.insert((kind, attached));
                    }
                }
            }
            Ok(tally)
        })
    }
}

/// Takes a refused revision out of the outbox and its chain, keeps it in `rejected_changes`, and
/// re-bases the record's later changes that were made on it. A refused creation takes the rest of
/// its record's local changes with it when nothing of the record was accepted.
fn reject(tx: &Connection, refused: &SyncRevision, reason: &str, now: Timestamp) -> Result<RejectedChange> {
    let r = &refused.revision;
    let change = keep_rejected(tx, refused, reason, now)?;
    let later_base = refused.sent_parent().or(r.parent);
    match later_base {
        Some(base) => {
            // Changes made on the refused one are now taken as made on what it was made on.
            tx.prepare_cached(
                "UPDATE revisions SET made_on = ?2 WHERE record_id = ?3 AND central_seq IS NULL \
                 AND base_version > 0 AND coalesce(made_on, parent) = ?1",
            )?
            .execute(params![r.id.to_string(), base.to_string(), r.record_id.to_string()])?;
        }
        None => {
            let accepted: i64 = tx
                .prepare_cached(
                    "SELECT count(*) FROM revisions WHERE record_id = ?1 \
                     AND (central_seq IS NOT NULL OR accepted_version IS NOT NULL)",
                )?
                .query_row(params![r.record_id.to_string()], |row| row.get(0))?;
            if accepted == 0 {
                let why = format!("the creation of this {} was refused: {reason}", r.record_kind.label());
                reject_record(tx, r.record_kind, r.record_id, &why, now)?;
            }
        }
    }
    Ok(change)
}

/// Moves every pending revision of a record to `rejected_changes`: for a record that can no
/// longer be accepted because what it depends on was refused.
fn reject_record(
    tx: &Connection,
    kind: RecordKind,
    record_id: Uuid,
    why: &str,
    now: Timestamp,
) -> Result<Vec<RejectedChange>> {
    let pending = read_sync_revisions(
        tx,
        "record_id = ?1 AND central_seq IS NULL AND accepted_version IS NULL ORDER BY seq",
        params![record_id.to_string()],
    )?;
    let mut out = Vec::with_capacity(pending.len());
    for revision in pending {
        out.push(keep_rejected(tx, &revision, &format!("not sent, because {why}"), now)?);
    }
    tracing::info!(%kind, %record_id, changes = out.len(), "changes that depended on a refused one were taken back");
    Ok(out)
}

/// Writes the refused revision to `rejected_changes` and takes it out of the outbox and the
/// chain (the record is rebuilt afterwards).
fn keep_rejected(tx: &Connection, refused: &SyncRevision, reason: &str, now: Timestamp) -> Result<RejectedChange> {
    let r = &refused.revision;
    let change = RejectedChange {
        revision_id: r.id,
        record_kind: r.record_kind,
        record_id: r.record_id,
        fields: refused.proposed().clone(),
        author: r.author.clone(),
        workstation: r.workstation.clone(),
        made_at: r.made_at,
        reason: reason.to_owned(),
        rejected_at: now,
    };
    tx.prepare_cached(
        "INSERT INTO rejected_changes (revision_id, record_kind, record_id, fields, author, workstation, made_at, \
         reason, rejected_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (revision_id) DO NOTHING",
    )?
    .execute(params![
        r.id.to_string(),
        r.record_kind.as_str(),
        r.record_id.to_string(),
        Value::Object(change.fields.clone()).to_string(),
        r.author,
        r.workstation,
        r.made_at.to_string(),
        reason,
        now.to_string(),
    ])?;
    let id = r.id.to_string();
    tx.prepare_cached("DELETE FROM outbox WHERE revision_id = ?1")?.execute(params![id])?;
    tx.prepare_cached("DELETE FROM conflicts WHERE revision_id = ?1")?.execute(params![id])?;
    // Its place in the chain: the one before may point at it until the rebuild relinks (a deferred
    // foreign key), and the one after names it as parent until then.
    tx.prepare_cached("DELETE FROM revisions WHERE id = ?1")?.execute(params![id])?;
    // A refused resolution settles nothing: what it resolved needs review again, unless another
    // change settles it too.
    tx.prepare_cached(&format!("UPDATE conflicts SET resolved_by = {FIRST_RESOLVER} WHERE resolved_by = ?1"))?
        .execute(params![id])?;
    tracing::info!(kind = %r.record_kind, record = %r.record_id, revision = %r.id, "change refused by the central store");
    Ok(change)
}

/// The records attached to a case (meta, chat, files, stages, notes), with their kinds.
fn attached_records(tx: &Connection, case_id: Uuid) -> Result<Vec<(RecordKind, Uuid)>> {
    let ids: Vec<String> = tx
        .prepare_cached(attached_record_ids())?
        .query_map(params![case_id.to_string()], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let kind: Option<String> = tx
            .prepare_cached("SELECT record_kind FROM revisions WHERE record_id = ?1 LIMIT 1")?
            .query_row(params![id], |r| r.get(0))
            .ok();
        if let (Some(kind), Ok(uuid)) = (kind.and_then(|k| k.parse::<RecordKind>().ok()), Uuid::parse_str(&id)) {
            out.push((kind, uuid));
        }
    }
    Ok(out)
}
