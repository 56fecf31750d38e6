//! The pull stage's local half: applying pulled pages of central revisions, in one SQLite
//! transaction together with the new cursor, so that a pull cut short resumes at the last page
//! applied and never skips or doubles one. The round's last page also notes the round as
//! completed, in the same transaction: one commit (one fsync) where a round used to make two.
//!
//! Each pulled revision takes one of three paths:
//! - **confirm**: our own change comes back as we have it (same version, same effect, nothing of
//!   ours before it still unpulled): it only becomes the central copy;
//! - **fast**: a record with no tail receives its next version (or is created at version 1): the
//!   revision is appended and the row updated from the row itself, with no rebuild;
//! - otherwise the revision joins the record's chain at its central version, and the record is
//!   rebuilt once at the end of the page (see [`super::rebuild`]).
//!
//! A revision the store refuses (a case number taken here, a record on a case that is not here)
//! is set aside with its reason and the page goes on without it ([`super::held`]).
//!
//! A fresh workstation's first pull (its bootstrap), which would be all fast path, takes the bulk
//! path instead ([`super::bulk`], [`super::bootstrap`]): the same rows and revisions, written
//! set-based, many pages to a transaction, the search and assignee indexes built once at its end.

use std::collections::{BTreeSet, HashMap};

use labdesk_proto::sync::{CentralRevision, PullPage};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::rebuild::{apply_canonical, rebuild, set_conflicts, settle_conflicts, unlock_chain, Rebuilt};
use super::{bulk, held};
use crate::error::Result;
use crate::record::{self, parse_time, Bookkeeping};
use crate::{Origin, RecordKind, Store, Timestamp};

/// What applying a page did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Revisions in the page.
    pub revisions: u64,
    /// Our own changes that came back as we had them.
    pub confirmed: u64,
    /// Revisions appended by the fast path.
    pub fast: u64,
    /// Records rebuilt (each once per page, however many of its revisions the page held).
    pub rebuilt: u64,
    /// Revisions that were here already (a page delivered twice).
    pub duplicates: u64,
    /// Revisions this store could not take, set aside to be tried again (see [`super::held`]).
    pub held: u64,
    /// The cursor after the page.
    pub cursor: i64,
}

/// How [`Store::apply_pages`] applies a batch of pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Apply {
    /// The store is bootstrapping (see [`super::bulk`]): try the bulk path first.
    pub bootstrap: bool,
    /// The round's last batch: the round is noted as completed in the same transaction, and a
    /// bootstrap that has caught up (the last page says no more) ends there, its indexes built.
    pub last: bool,
}

impl Store {
    /// Applies one pulled page and advances the cursor to `page.next`, all in one transaction.
    #[tracing::instrument(name = "sync.apply", skip_all, fields(revisions = page.revisions.len(), next = page.next))]
    pub fn apply_page(&mut self, page: &PullPage) -> Result<ApplyReport> {
        held::with_holds(self, false, |tx, holds| {
            let mut report = ApplyReport::default();
            if let Err(refused) = apply_revisions(tx, page, &mut report, holds)? {
                return Ok(Err(refused));
            }
            report.held = held::record_new(tx, holds)?;
            advance(tx, page.next, &mut report)?;
            Ok(Ok(report))
        })
    }

    /// Applies pages that follow each other, in one transaction together with the cursor after the
    /// last of them (see [`Apply`]). A bootstrap's pages take the bulk path when they can; when
    /// they cannot, that attempt is rolled back whole and the same pages are applied revision by
    /// revision.
    #[tracing::instrument(name = "sync.apply_pages", skip_all, fields(pages = pages.len(), bootstrap = how.bootstrap))]
    pub(crate) fn apply_pages(&mut self, pages: &[PullPage], how: Apply) -> Result<ApplyReport> {
        let Some(next) = pages.iter().map(|p| p.next).max() else {
            return Ok(ApplyReport::default());
        };
        let caught_up = pages.last().is_some_and(|p| !p.more);
        if how.bootstrap && pages.iter().any(|p| !p.revisions.is_empty()) {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !bulk::has_tail(&tx)? && !held::any(&tx)? {
                bulk::begin(&tx)?;
                let triggers = bulk::suspend_index_triggers(&tx)?;
                let mut report = Some(ApplyReport::default());
                for page in pages {
                    let mut prepared = bulk::prepare(page.clone())?;
                    match (bulk::apply(&tx, &mut prepared)?, &mut report) {
                        (Some(did), Some(report)) => {
                            report.revisions += did.revisions;
                            report.fast += did.fast;
                        }
                        _ => {
                            report = None;
                            break;
                        }
                    }
                }
                if let Some(mut report) = report {
                    bulk::restore_triggers(&tx, &triggers)?;
                    finish(&tx, next, how, caught_up, &mut report)?;
                    tx.commit()?;
                    return Ok(report);
                }
            }
            // Dropped: rolled back.
        }
        held::with_holds(self, false, |tx, holds| {
            // Revision by revision the triggers keep the indexes: nothing more is left pending.
            let mut report = ApplyReport::default();
            for page in pages {
                if let Err(refused) = apply_revisions(tx, page, &mut report, holds)? {
                    return Ok(Err(refused));
                }
            }
            report.held = held::record_new(tx, holds)?;
            finish(tx, next, how, caught_up, &mut report)?;
            Ok(Ok(report))
        })
    }

    /// Tries the held revisions again, in seq order (see [`super::held`]): those that apply now
    /// leave the table, the others stay with the reason of this attempt. The cursor stays.
    pub(crate) fn retry_held(&mut self) -> Result<held::Retried> {
        if !held::any(&self.conn)? {
            return Ok(held::Retried::default());
        }
        let tried = held::load(&self.conn)?;
        let page = PullPage { revisions: tried, next: 0, more: false, head: 0, remaining: 0 };
        held::with_holds(self, true, |tx, holds| {
            let mut report = ApplyReport::default();
            if let Err(refused) = apply_revisions(tx, &page, &mut report, holds)? {
                return Ok(Err(refused));
            }
            Ok(Ok(held::record_retry(tx, &page.revisions, holds)?))
        })
    }

    /// Builds the indexes a bootstrap left pending, when a round ends early (a failure): the store
    /// is then complete between rounds, and the next round carries on in bulk.
    pub(crate) fn settle_pending_indexes(&mut self) -> Result<bool> {
        bulk::build_pending_indexes(&mut self.conn)
    }
}

/// The per-revision path for one page (module docs), under `holds` (see [`super::held`]): a
/// revision the store refuses is set aside, or the attempt is given up (`Err(Refused)`) to be
/// made again with it set aside.
fn apply_revisions(
    tx: &Connection,
    page: &PullPage,
    report: &mut ApplyReport,
    holds: &mut held::Holds,
) -> Result<std::result::Result<(), held::Refused>> {
    report.revisions += page.revisions.len() as u64;
    let mut dirty: BTreeSet<(RecordKind, Uuid)> = BTreeSet::new();
    // The first revision of each record that joined its chain in this page: where a refused
    // rebuild holds the record from.
    let mut joined: HashMap<(RecordKind, Uuid), &CentralRevision> = HashMap::new();
    for central in &page.revisions {
        let key = (central.revision.record_kind, central.revision.record_id);
        let was_dirty = dirty.contains(&key);
        let applied =
            held::apply_held_or(tx, holds, central, &mut dirty, |dirty| apply_one(tx, central, dirty, report))?;
        if let Err(refused) = applied {
            return Ok(Err(refused));
        }
        if !was_dirty && dirty.contains(&key) {
            joined.insert(key, central);
        }
    }
    for (kind, id) in &dirty {
        match rebuild(tx, *kind, *id) {
            Ok(Rebuilt::Removed) => tracing::warn!(%kind, %id, "a pulled page left a record with no revisions"),
            Ok(Rebuilt::Row) => {}
            Err(e) => match joined.get(&(*kind, *id)) {
                Some(first) => return held::refused_rebuild(tx, first, e),
                None => return Err(e),
            },
        }
        report.rebuilt += 1;
    }
    Ok(Ok(()))
}

/// Moves the cursor to `next`; never backwards: a page answered with an older cursor must not
/// make us pull again what is here.
fn advance(tx: &Connection, next: i64, report: &mut ApplyReport) -> Result<()> {
    report.cursor = tx
        .prepare_cached("UPDATE sync_state SET cursor = max(cursor, ?1) WHERE only_row = 1 RETURNING cursor")?
        .query_row(params![next], |r| r.get(0))?;
    Ok(())
}

/// The end of a batch: the cursor, and at the round's end what the round leaves (indexes built,
/// the bootstrap over when caught up, the round noted as completed) — in the batch's transaction,
/// which spares a round a commit (an fsync) of its own.
pub(super) fn finish(tx: &Connection, next: i64, how: Apply, caught_up: bool, report: &mut ApplyReport) -> Result<()> {
    advance(tx, next, report)?;
    if how.last {
        bulk::end(tx, caught_up)?;
        tx.prepare_cached("UPDATE sync_state SET last_sync_at = ?1, last_error = NULL WHERE only_row = 1")?
            .execute(params![Timestamp::now().to_string()])?;
    }
    Ok(())
}

/// What is known here about a revision id.
struct Local {
    record_id: String,
    version: u32,
    fields: String,
    central_seq: Option<i64>,
}

fn apply_one(
    tx: &Connection,
    central: &CentralRevision,
    dirty: &mut BTreeSet<(RecordKind, Uuid)>,
    report: &mut ApplyReport,
) -> Result<()> {
    let r = &central.revision;
    let key = (r.record_kind, r.record_id);
    let local: Option<Local> = tx
        .prepare_cached("SELECT record_id, version, fields, central_seq FROM revisions WHERE id = ?1")?
        .query_row(params![r.id.to_string()], |row| {
            Ok(Local { record_id: row.get(0)?, version: row.get(1)?, fields: row.get(2)?, central_seq: row.get(3)? })
        })
        .optional()?;
    if let Some(local) = &local {
        if local.central_seq.is_some() || local.record_id != r.record_id.to_string() {
            report.duplicates += 1;
            return Ok(());
        }
    }
    if !dirty.contains(&key) {
        match &local {
            Some(local) if confirm(tx, central, local)? => {
                report.confirmed += 1;
                return Ok(());
            }
            None if fast(tx, central)? => {
                report.fast += 1;
                return Ok(());
            }
            _ => {}
        }
    }
    join_chain(tx, central, local.is_some())?;
    dirty.insert(key);
    Ok(())
}

fn fields_json(central: &CentralRevision) -> String {
    Value::Object(central.revision.fields.clone()).to_string()
}

fn proposed_json(central: &CentralRevision) -> Option<String> {
    central.proposed.clone().map(|p| Value::Object(p).to_string())
}

/// Our own change came back exactly as we have it: only its central bookkeeping changes.
fn confirm(tx: &Connection, central: &CentralRevision, local: &Local) -> Result<bool> {
    let r = &central.revision;
    let same_effect = serde_json::from_str::<Value>(&local.fields).ok() == Some(Value::Object(r.fields.clone()));
    if local.version != r.version || !same_effect {
        return Ok(false);
    }
    let unpulled_before: i64 = tx
        .prepare_cached("SELECT count(*) FROM revisions WHERE record_id = ?1 AND version < ?2 AND central_seq IS NULL")?
        .query_row(params![r.record_id.to_string(), r.version], |row| row.get(0))?;
    if unpulled_before > 0 {
        return Ok(false);
    }
    tx.prepare_cached(
        "UPDATE revisions SET central_seq = ?2, accepted_version = NULL, base_version = ?3, proposed = ?4, \
         made_on = NULL WHERE id = ?1",
    )?
    .execute(params![r.id.to_string(), central.seq, r.base_version, proposed_json(central)])?;
    tx.prepare_cached("DELETE FROM outbox WHERE revision_id = ?1")?.execute(params![r.id.to_string()])?;
    set_conflicts(tx, r.record_kind, r.record_id, r.id, &central.conflicts)?;
    settle_conflicts(tx, r)?;
    Ok(true)
}

/// The next version of a record with no tail, or a new record: append and update the row from
/// the row itself (which equals its chain folded), with no rebuild.
fn fast(tx: &Connection, central: &CentralRevision) -> Result<bool> {
    let r = &central.revision;
    let record_id = r.record_id.to_string();
    let tail: i64 = tx
        .prepare_cached("SELECT count(*) FROM revisions WHERE record_id = ?1 AND central_seq IS NULL")?
        .query_row(params![record_id], |row| row.get(0))?;
    if tail > 0 {
        return Ok(false);
    }
    let head: Option<(String, u32)> = tx
        .prepare_cached("SELECT id, version FROM revisions WHERE record_id = ?1 AND superseded_by IS NULL")?
        .query_row(params![record_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let row = record::load_raw(tx, r.record_kind, r.record_id)?;
    let (mut state, created_at) = match (&head, row) {
        (Some((_, version)), Some((bookkeeping, state))) if version + 1 == r.version => (state, bookkeeping.created_at),
        (None, None) if r.version == 1 => (serde_json::Map::new(), r.made_at),
        _ => return Ok(false),
    };
    let fields = apply_canonical(r.record_kind, &mut state, &r.fields);
    let parent = head.map(|(id, _)| id);
    // The old head first: the one-head index allows one unsuperseded revision per record, and
    // superseded_by is checked at commit.
    if let Some(parent) = &parent {
        tx.prepare_cached("UPDATE revisions SET superseded_by = ?1 WHERE id = ?2")?
            .execute(params![r.id.to_string(), parent])?;
    }
    let made_on = r.parent.map(|p| p.to_string()).filter(|p| Some(p) != parent.as_ref() && r.base_version != 0);
    insert_central(tx, central, &Value::Object(fields).to_string(), parent.as_deref(), None, made_on)?;
    let deleted_at = match state.get("deleted_at") {
        Some(Value::String(t)) => Some(parse_time(t, "deleted_at")?),
        _ => None,
    };
    let bookkeeping = Bookkeeping {
        id: r.record_id,
        version: r.version,
        created_at,
        updated_at: r.made_at,
        updated_by: r.author.clone(),
        deleted_at,
    };
    record::upsert_raw(tx, r.record_kind, &bookkeeping, &state)?;
    set_conflicts(tx, r.record_kind, r.record_id, r.id, &central.conflicts)?;
    settle_conflicts(tx, r)?;
    Ok(true)
}

fn insert_central(
    tx: &Connection,
    central: &CentralRevision,
    fields: &str,
    parent: Option<&str>,
    superseded_by: Option<&str>,
    made_on: Option<String>,
) -> Result<()> {
    let r = &central.revision;
    tx.prepare_cached(
        "INSERT INTO revisions (id, record_kind, record_id, version, base_version, parent, fields, author, \
         workstation, made_at, origin, resolves, superseded_by, central_seq, proposed, made_on) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        r.id.to_string(),
        r.record_kind.as_str(),
        r.record_id.to_string(),
        r.version,
        r.base_version,
        parent,
        fields,
        r.author,
        r.workstation,
        r.made_at.to_string(),
        Origin::Central.as_str(),
        serde_json::to_string(&r.resolves).unwrap_or_else(|_| "[]".to_owned()),
        superseded_by,
        central.seq,
        proposed_json(central),
        made_on,
    ])?;
    Ok(())
}

/// Puts a pulled revision into its record's chain at its central version, links to be rewritten
/// by the rebuild at the end of the page. Our own change becomes the central copy in place (its
/// origin stays local: it was made here).
fn join_chain(tx: &Connection, central: &CentralRevision, ours: bool) -> Result<()> {
    let r = &central.revision;
    let id = r.id.to_string();
    unlock_chain(tx, r.record_id)?;
    let made_on = r.parent.map(|p| p.to_string());
    if ours {
        tx.prepare_cached(
            "UPDATE revisions SET central_seq = ?2, version = ?3, base_version = ?4, fields = ?5, proposed = ?6, \
             made_on = ?7, accepted_version = NULL, superseded_by = id WHERE id = ?1",
        )?
        .execute(params![
            id,
            central.seq,
            r.version,
            r.base_version,
            fields_json(central),
            proposed_json(central),
            made_on
        ])?;
        tx.prepare_cached("DELETE FROM outbox WHERE revision_id = ?1")?.execute(params![id])?;
    } else {
        insert_central(tx, central, &fields_json(central), None, Some(&id), made_on)?;
    }
    set_conflicts(tx, r.record_kind, r.record_id, r.id, &central.conflicts)?;
    settle_conflicts(tx, r)?;
    Ok(())
}
