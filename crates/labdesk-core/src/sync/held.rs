//! Changes from the lab that this store could not take (schema V8, `held_revisions`).
//!
//! A pulled revision the store refuses — a case number another case here already has, a record
//! attached to a case that is not here, a record whose chain cannot be rebuilt — must not stop
//! the pull: it is **held** (set aside with its reason), the cursor moves on past it, and the page
//! commits with the rest. Later revisions of a held record are held behind it (a chain has no
//! gaps), and so is a record attached to a case that is not here. Every round tries the held
//! revisions again, in seq order, after its pull ([`Store::retry_held`]), and applies those that
//! now can; until then `check` reports them and the status counts them.
//!
//! Only refusals of the store are held (constraint violations, a record that cannot be rebuilt):
//! I/O errors, a full disk or a busy store still fail the round.
//!
//! How a batch is applied with holds ([`with_holds`]): first as before, with no savepoint in the
//! way (the common case costs nothing more). When a revision is refused, that attempt is rolled
//! back whole and the batch is applied again, *carefully*: each revision in a savepoint of its
//! own, so that a refused one is undone alone and the others still commit. A record whose rebuild
//! at the end of a page is refused (the revisions that joined its chain in the page are already
//! written by then) is held from the first of them on, and the batch is applied again once more.

use std::collections::{BTreeSet, HashMap};

use labdesk_proto::sync::CentralRevision;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::{RecordKind, Store, Timestamp};

/// A change from the lab that this workstation could not store, to be shown with its reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldChange {
    /// Its central sequence number.
    pub seq: i64,
    pub revision_id: Uuid,
    pub record_kind: RecordKind,
    pub record_id: Uuid,
    /// The central version it would give the record.
    pub version: u32,
    /// The case it is (or belongs to), as a person knows it, when that is known here.
    pub case_number: Option<String>,
    pub patient_name: Option<String>,
    /// The fields it sets, as they took effect centrally.
    pub fields: Map<String, Value>,
    pub author: String,
    pub workstation: String,
    pub made_at: Timestamp,
    /// Why this store refused it, as a sentence.
    pub reason: String,
    pub held_at: Timestamp,
    /// How often it was tried (the first time included).
    pub attempts: u32,
}

/// A revision refused where it cannot be undone alone: the attempt is rolled back, and the next
/// one holds `record` from `from` (a seq) on.
#[derive(Debug)]
pub(crate) struct Refused {
    pub record: Uuid,
    pub from: i64,
    pub reason: String,
}

/// What an attempt at a batch holds, and how carefully it goes.
#[derive(Debug, Default)]
pub(crate) struct Holds {
    /// Records with a held revision, each with the reason of its first one: their later
    /// revisions wait behind it.
    waiting: HashMap<Uuid, String>,
    /// Records held from a seq on, found by an earlier attempt at the same batch.
    forced: HashMap<Uuid, (i64, String)>,
    /// A savepoint around each revision.
    careful: bool,
    /// Held in this attempt, in order, with the reason.
    pub held: Vec<(CentralRevision, String)>,
    /// A retry of the held revisions themselves: the table's records do not wait behind
    /// themselves.
    retry: bool,
}

impl Holds {
    fn start(&mut self, tx: &Connection) -> Result<()> {
        self.held.clear();
        self.waiting.clear();
        if !self.retry {
            let mut stmt = tx.prepare_cached("SELECT record_id, reason FROM held_revisions ORDER BY seq")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, reason) = row?;
                if let Ok(id) = Uuid::parse_str(&id) {
                    self.waiting.entry(id).or_insert(reason);
                }
            }
        }
        Ok(())
    }

    fn hold(&mut self, central: &CentralRevision, reason: String) {
        self.waiting.entry(central.revision.record_id).or_insert_with(|| reason.clone());
        self.held.push((central.clone(), reason));
    }

    /// Why `central` must be held before it is even tried, if it must.
    fn must_wait(
        &self,
        tx: &Connection,
        central: &CentralRevision,
        dirty: &BTreeSet<(RecordKind, Uuid)>,
    ) -> Result<Option<String>> {
        let r = &central.revision;
        if let Some((from, reason)) = self.forced.get(&r.record_id) {
            if central.seq >= *from {
                return Ok(Some(reason.clone()));
            }
        }
        if let Some(first) = self.waiting.get(&r.record_id) {
            return Ok(Some(format!(
                "it comes after an earlier change to the same {} that is set aside ({first})",
                r.record_kind.label()
            )));
        }
        // A record attached to a case needs the case here (a deferred foreign key, which would
        // otherwise refuse the whole page at commit). The central store has the case first, so
        // it is missing only when it is held itself.
        if r.record_kind.decl().scope == labdesk_proto::Scope::Case && r.base_version == 0 {
            let case = r.fields.get("case_id").and_then(Value::as_str).and_then(|c| Uuid::parse_str(c).ok());
            if let Some(case) = case {
                let here = dirty.contains(&(RecordKind::Case, case))
                    || tx
                        .prepare_cached("SELECT 1 FROM cases WHERE id = ?1")?
                        .query_row(params![case.to_string()], |_| Ok(()))
                        .optional()?
                        .is_some();
                if !here {
                    return Ok(Some(match self.waiting.get(&case) {
                        Some(why) => format!("the case it belongs to is set aside ({why})"),
                        None => "the case it belongs to is not on this workstation".to_owned(),
                    }));
                }
            }
        }
        Ok(None)
    }
}

/// Applies one revision under the holds: held before it is tried, or tried (in a savepoint of
/// its own when careful) and held when the store refuses it. `Err(Refused)`: refused outside a
/// savepoint; the attempt must be rolled back.
pub(crate) fn apply_held_or(
    tx: &Connection,
    holds: &mut Holds,
    central: &CentralRevision,
    dirty: &mut BTreeSet<(RecordKind, Uuid)>,
    apply: impl FnOnce(&mut BTreeSet<(RecordKind, Uuid)>) -> Result<()>,
) -> Result<std::result::Result<(), Refused>> {
    if let Some(reason) = holds.must_wait(tx, central, dirty)? {
        holds.hold(central, reason);
        return Ok(Ok(()));
    }
    if !holds.careful {
        return match apply(dirty) {
            Ok(()) => Ok(Ok(())),
            Err(e) => match explain(tx, central, &e)? {
                Some(reason) => Ok(Err(Refused { record: central.revision.record_id, from: central.seq, reason })),
                None => Err(e),
            },
        };
    }
    tx.execute_batch("SAVEPOINT held_revision")?;
    match apply(dirty) {
        Ok(()) => {
            tx.execute_batch("RELEASE held_revision")?;
            Ok(Ok(()))
        }
        Err(e) => {
            tx.execute_batch("ROLLBACK TO held_revision; RELEASE held_revision")?;
            match explain(tx, central, &e)? {
                Some(reason) => {
                    tracing::warn!(seq = central.seq, revision = %central.revision.id, %reason, "a pulled change is set aside");
                    holds.hold(central, reason);
                    Ok(Ok(()))
                }
                None => Err(e),
            }
        }
    }
}

/// The store's refusal of a rebuild, as a [`Refused`] of the record from `from` on; other errors
/// as they are.
pub(crate) fn refused_rebuild(
    tx: &Connection,
    first: &CentralRevision,
    e: Error,
) -> Result<std::result::Result<(), Refused>> {
    match explain(tx, first, &e)? {
        Some(reason) => Ok(Err(Refused { record: first.revision.record_id, from: first.seq, reason })),
        None => Err(e),
    }
}

/// Whether `e` is the store refusing `central` (rather than failing), and why, as a sentence for
/// the person at the workstation.
fn explain(tx: &Connection, central: &CentralRevision, e: &Error) -> Result<Option<String>> {
    let r = &central.revision;
    let what = match e {
        Error::Sqlite(rusqlite::Error::SqliteFailure(f, message)) if f.code == ErrorCode::ConstraintViolation => {
            message.clone().unwrap_or_else(|| f.to_string())
        }
        Error::Corrupt(message) => format!("it cannot be rebuilt here: {message}"),
        Error::Invalid(invalid) => invalid.to_string(),
        _ => return Ok(None),
    };
    if what.contains("cases.case_number") {
        let number = match r.fields.get("case_number").and_then(Value::as_str) {
            Some(n) => Some(n.to_owned()),
            None => tx
                .prepare_cached("SELECT case_number FROM cases WHERE id = ?1")?
                .query_row(params![r.record_id.to_string()], |row| row.get::<_, String>(0))
                .optional()?,
        };
        if let Some(number) = number {
            let other: Option<(String, String)> = tx
                .prepare_cached("SELECT patient_name, id FROM cases WHERE case_number = ?1 AND id <> ?2")?
                .query_row(params![number, r.record_id.to_string()], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            let patient = other.map(|(p, _)| format!(" (patient {p})")).unwrap_or_default();
            return Ok(Some(format!(
                "the case number {number} is already used here by another case{patient}; two cases in the lab have \
                 this number: ask the lab's administrator to refuse or renumber one of them — it is tried again at \
                 every sync"
            )));
        }
    }
    Ok(Some(format!(
        "this workstation's store refused it ({what}); it is tried again at every sync — if it stays, tell the \
         lab's IT"
    )))
}

/// Runs `attempt` in an IMMEDIATE transaction until it goes through, each refusal it reports
/// noted for the next attempt (module docs). The holds it leaves are written by the attempt.
pub(crate) fn with_holds<T>(
    store: &mut Store,
    retry: bool,
    mut attempt: impl FnMut(&Transaction<'_>, &mut Holds) -> Result<std::result::Result<T, Refused>>,
) -> Result<T> {
    let mut holds = Holds { retry, ..Holds::default() };
    loop {
        let tx = store.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        holds.start(&tx)?;
        match attempt(&tx, &mut holds)? {
            Ok(out) => {
                tx.commit()?;
                return Ok(out);
            }
            Err(Refused { record, from, reason }) => {
                drop(tx);
                tracing::info!(%record, from, %reason, "a page is applied again, a change set aside");
                let already = holds.forced.insert(record, (from, reason));
                if already.is_some_and(|(earlier, _)| earlier <= from) {
                    // Cannot happen (a forced record is held before it is tried): never loop.
                    return Err(Error::Corrupt(format!("record {record} was refused again after it was set aside")));
                }
                holds.careful = true;
            }
        }
    }
}

/// Writes what a pull's attempt held: new rows (a revision held again on a page delivered twice
/// is here already).
pub(crate) fn record_new(tx: &Connection, holds: &Holds) -> Result<u64> {
    let now = Timestamp::now().to_string();
    let mut n = 0;
    for (central, reason) in &holds.held {
        let r = &central.revision;
        n += tx
            .prepare_cached(
                "INSERT INTO held_revisions (seq, revision_id, record_kind, record_id, revision, reason, held_at, \
                 last_tried_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                central.seq,
                r.id.to_string(),
                r.record_kind.as_str(),
                r.record_id.to_string(),
                serde_json::to_string(central).map_err(|e| Error::Corrupt(e.to_string()))?,
                reason,
                now,
            ])? as u64;
    }
    Ok(n)
}

/// Whether any revision is held: the bulk path, which appends without looking, does not apply.
pub(crate) fn any(conn: &Connection) -> Result<bool> {
    Ok(conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM held_revisions)")?.query_row([], |r| r.get(0))?)
}

/// The held revisions, in seq order.
pub(crate) fn load(conn: &Connection) -> Result<Vec<CentralRevision>> {
    let mut stmt = conn.prepare_cached("SELECT revision FROM held_revisions ORDER BY seq")?;
    let texts: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<std::result::Result<_, _>>()?;
    texts
        .iter()
        .map(|t| serde_json::from_str(t).map_err(|e| Error::Corrupt(format!("a held change cannot be read: {e}"))))
        .collect()
}

/// What retrying the held revisions did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Retried {
    /// Applied now, and no longer held.
    pub applied: u64,
    /// Still held.
    pub held: u64,
}

/// After a retry: the applied ones leave the table, the others are noted as tried again (with
/// the reason of this attempt).
pub(crate) fn record_retry(tx: &Connection, tried: &[CentralRevision], holds: &Holds) -> Result<Retried> {
    let now = Timestamp::now().to_string();
    let still: HashMap<i64, &str> = holds.held.iter().map(|(c, why)| (c.seq, why.as_str())).collect();
    let mut out = Retried::default();
    for central in tried {
        match still.get(&central.seq) {
            Some(reason) => {
                tx.prepare_cached(
                    "UPDATE held_revisions SET reason = ?2, attempts = attempts + 1, last_tried_at = ?3 WHERE seq = ?1",
                )?
                .execute(params![central.seq, reason, now])?;
                out.held += 1;
            }
            None => {
                tx.prepare_cached("DELETE FROM held_revisions WHERE seq = ?1")?.execute(params![central.seq])?;
                out.applied += 1;
            }
        }
    }
    Ok(out)
}

impl Store {
    /// The changes from the lab that this workstation could not store, oldest first.
    pub fn held_changes(&self) -> Result<Vec<HeldChange>> {
        let mut stmt =
            self.conn.prepare_cached("SELECT revision, reason, held_at, attempts FROM held_revisions ORDER BY seq")?;
        let rows: Vec<(String, String, String, u32)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<std::result::Result<_, _>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (text, reason, held_at, attempts) in rows {
            let central: CentralRevision = serde_json::from_str(&text)
                .map_err(|e| Error::Corrupt(format!("a held change cannot be read: {e}")))?;
            let r = central.revision;
            let (case_number, patient_name) = case_of(&self.conn, r.record_kind, r.record_id, &r.fields)?;
            out.push(HeldChange {
                seq: central.seq,
                revision_id: r.id,
                record_kind: r.record_kind,
                record_id: r.record_id,
                version: r.version,
                case_number,
                patient_name,
                fields: r.fields,
                author: r.author,
                workstation: r.workstation,
                made_at: r.made_at,
                reason,
                held_at: Timestamp::parse(&held_at).map_err(|e| Error::Corrupt(e.to_string()))?,
                attempts,
            });
        }
        Ok(out)
    }

    /// How many changes from the lab are held.
    pub fn held_count(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row("SELECT count(*) FROM held_revisions", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// The case number and patient of the case a held change is (or belongs to): from its fields,
/// from the case here, or from the held creation of the case.
fn case_of(
    conn: &Connection,
    kind: RecordKind,
    record_id: Uuid,
    fields: &Map<String, Value>,
) -> Result<(Option<String>, Option<String>)> {
    let text = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_owned);
    let case = if kind == RecordKind::Case {
        if let Some(number) = text("case_number") {
            return Ok((Some(number), text("patient_name")));
        }
        Some(record_id.to_string())
    } else if kind.decl().scope != labdesk_proto::Scope::Case {
        return Ok((None, None));
    } else {
        match text("case_id") {
            Some(case) => Some(case),
            None => {
                let table = crate::record::shape(kind).0;
                conn.query_row(
                    &format!("SELECT case_id FROM {table} WHERE id = ?1"),
                    params![record_id.to_string()],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .or_else(|| held_creation_field(conn, &record_id.to_string(), "case_id").ok().flatten())
            }
        }
    };
    let Some(case) = case else { return Ok((None, None)) };
    let here: Option<(String, String)> = conn
        .prepare_cached("SELECT case_number, patient_name FROM cases WHERE id = ?1")?
        .query_row(params![case], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((number, patient)) = here {
        return Ok((Some(number), Some(patient)));
    }
    Ok((held_creation_field(conn, &case, "case_number")?, held_creation_field(conn, &case, "patient_name")?))
}

fn held_creation_field(conn: &Connection, record_id: &str, field: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT json_extract(revision, '$.revision.fields.' || ?2) FROM held_revisions \
             WHERE record_id = ?1 ORDER BY seq LIMIT 1",
        )?
        .query_row(params![record_id, field], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

#[cfg(test)]
mod tests {
    use labdesk_proto::sync::{CentralRevision, Outcome};
    use rusqlite::ffi;

    use super::explain;
    use crate::error::Error;
    use crate::test_support::store;
    use crate::{Origin, RecordKind, Revision, Timestamp};

    fn central() -> CentralRevision {
        CentralRevision {
            seq: 7,
            revision: Revision {
                id: uuid::Uuid::now_v7(),
                record_kind: RecordKind::Case,
                record_id: uuid::Uuid::now_v7(),
                version: 1,
                base_version: 0,
                parent: None,
                parent_unconfirmed: false,
                fields: serde_json::Map::new(),
                author: "ann".into(),
                workstation: "FD1".into(),
                made_at: Timestamp::now(),
                resolves: vec![],
                superseded_by: None,
                origin: Origin::Central,
            },
            outcome: Outcome::Applied,
            conflicts: vec![],
            proposed: None,
        }
    }

    fn sqlite(code: i32, message: &str) -> Error {
        Error::Sqlite(rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message.into())))
    }

    #[test]
    fn only_the_stores_refusals_are_held_and_a_failing_disk_still_fails_the_round() {
        let s = store();
        let refused = explain(&s.conn, &central(), &sqlite(ffi::SQLITE_CONSTRAINT_CHECK, "CHECK constraint failed"));
        assert!(refused.unwrap().unwrap().contains("CHECK constraint failed"), "a constraint refusal is held");
        let rebuilt = explain(&s.conn, &central(), &Error::Corrupt("deleted_at 'x' is not a timestamp".into()));
        assert!(rebuilt.unwrap().unwrap().contains("cannot be rebuilt here"), "so is a record that cannot be rebuilt");
        for (code, what) in [(ffi::SQLITE_IOERR, "disk I/O error"), (ffi::SQLITE_FULL, "database or disk is full")] {
            assert!(explain(&s.conn, &central(), &sqlite(code, what)).unwrap().is_none(), "{what} is not held");
        }
        assert!(explain(&s.conn, &central(), &sqlite(ffi::SQLITE_BUSY, "database is locked")).unwrap().is_none());
    }
}
