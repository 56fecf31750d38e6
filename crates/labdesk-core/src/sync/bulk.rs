//! The bulk path: a fresh workstation's first pull (its **bootstrap**), applied set-based, with
//! the search index and the assignee index built once at its end.
//!
//! Applying a lab's history one revision at a time ([`super::pull`]) costs several look-ups per
//! revision, a row written per revision, and — worst — an FTS5 insert per row, which the
//! statement savepoint around every row write flushes to disk as a segment of its own, to be
//! merged again and again. While nothing of the store is local (no tail: every revision here came
//! from the central store), a page needs none of that: each record's chain is its pulled
//! revisions in version order, each appended to the one before (the fast path's case, always). So
//! here a page
//! - is [prepared](prepare) where the store is not needed, on the thread that fetched it: each
//!   record created in the page folded in memory, with the same canonical form as the fast path
//!   ([`apply_canonical_json`]), its revisions' fields and its row made ready to write;
//! - is [applied](apply) in the store: records the page continues are read and folded, the
//!   revisions inserted in page order (so their `seq` too is what the per-revision path gives)
//!   with their links already set, and each record's row written once, with its final state;
//! - leaves both indexes to [`build_indexes`]: their triggers are set aside inside each bulk
//!   transaction ([`suspend_index_triggers`]; each trigger, even one that does nothing, makes
//!   every row write keep a statement journal), and `sync_state.indexes_pending` records that the
//!   indexes miss rows until they are built — in the transaction of the bootstrap's last page, or,
//!   when it is cut short, when the round fails or the store is next opened.
//!
//! Rows and revisions are byte for byte what the per-revision path writes (the tests compare
//! whole stores). Anything unexpected (a revision that is here already, a record's versions not
//! following each other, a record whose chain is not where the page expects it) makes the page
//! give up: the caller rolls its transaction back and applies the same pages revision by revision,
//! which knows every case.

use std::borrow::Cow;
use std::collections::HashMap;

use labdesk_proto::sync::{CentralRevision, FieldConflict, Outcome, PullPage};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, ErrorCode, OptionalExtension};
use serde::de::{MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::pull::ApplyReport;
use super::rebuild::{
    apply_canonical_json, create_canonical_json, create_canonical_text, set_conflicts, settle_conflicts,
};
use crate::error::Result;
use crate::record::{self, parse_time, Bookkeeping};
use crate::{Origin, RecordKind, Timestamp};

/// Does any record have a tail (a local revision not pulled back yet)? Then the bulk path, which
/// only appends pulled revisions, does not apply.
pub(crate) fn has_tail(tx: &Connection) -> Result<bool> {
    // The partial index revisions_tail holds exactly these (V6): one probe.
    Ok(tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM revisions WHERE central_seq IS NULL)")?
        .query_row([], |r| r.get(0))?)
}

/// Marks a bootstrap in progress, its indexes left to be built at its end.
pub(crate) fn begin(tx: &Connection) -> Result<()> {
    tx.prepare_cached(
        "UPDATE sync_state SET bootstrap = 1, indexes_pending = 1 \
         WHERE only_row = 1 AND (bootstrap = 0 OR indexes_pending = 0)",
    )?
    .execute([])?;
    Ok(())
}

/// Builds the search index and the assignee index when they are pending, and ends the bootstrap
/// when it has `caught_up`.
pub(crate) fn end(tx: &Connection, caught_up: bool) -> Result<()> {
    if indexes_pending(tx)? {
        build_indexes(tx)?;
    }
    if caught_up {
        tx.prepare_cached("UPDATE sync_state SET bootstrap = 0 WHERE only_row = 1 AND bootstrap = 1")?.execute([])?;
    }
    Ok(())
}

pub(crate) fn indexes_pending(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT indexes_pending FROM sync_state WHERE only_row = 1")?
        .query_row([], |r| r.get::<_, bool>(0))
        .optional()?
        .unwrap_or(false))
}

/// Builds the indexes left pending by a bootstrap cut short (a killed process): run when a store is
/// opened, so that an open store always has complete indexes. Returns whether there was anything
/// to build.
pub(crate) fn build_pending_indexes(conn: &mut Connection) -> Result<bool> {
    if !indexes_pending(conn)? {
        return Ok(false);
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Looked at again under the write lock: another handle may have built them meanwhile.
    if !indexes_pending(&tx)? {
        return Ok(false);
    }
    tracing::info!("building the search and assignee indexes a bootstrap left pending");
    build_indexes(&tx)?;
    tx.commit()?;
    Ok(true)
}

/// The triggers that keep the search index (three per searchable kind: `{table}_search_insert`,
/// `_update`, `_delete`) and the assignee index. Only these are set aside: any other trigger on the
/// tables keeps working, whatever it does.
fn index_triggers() -> Vec<String> {
    let mut names: Vec<String> = RecordKind::ALL
        .iter()
        .map(|k| k.decl())
        .filter(|d| d.search.is_some())
        .flat_map(|d| ["insert", "update", "delete"].map(|op| format!("{}_search_{op}", d.table)))
        .collect();
    names.extend(["cases_assignees_insert".to_owned(), "cases_assignees_update".to_owned()]);
    names
}

/// Drops the index triggers for the rest of the transaction, returning their definitions for
/// [`restore_triggers`], which must run before it commits: DDL is transactional in SQLite, so no
/// committed state, and no reader, ever sees them missing.
pub(crate) fn suspend_index_triggers(tx: &Connection) -> Result<Vec<String>> {
    let names = index_triggers();
    let mut definitions = Vec::with_capacity(names.len());
    for name in &names {
        let sql: Option<String> = tx
            .prepare_cached("SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?;
        if let Some(sql) = sql {
            tx.execute_batch(&format!("DROP TRIGGER {name}"))?;
            definitions.push(sql);
        }
    }
    Ok(definitions)
}

/// Creates again the triggers [`suspend_index_triggers`] dropped, from their own definitions.
pub(crate) fn restore_triggers(tx: &Connection, definitions: &[String]) -> Result<()> {
    for sql in definitions {
        tx.execute_batch(sql)?;
    }
    Ok(())
}

/// Builds the search index and the assignee index from the tables, one statement each (one per
/// kind of searchable record for the search index), and clears `indexes_pending`: the content is
/// exactly what the triggers of V2/V5/V9 make row by row.
pub(crate) fn build_indexes(tx: &Connection) -> Result<()> {
    // A bootstrap resumed after an interruption finds the index built once already (by the open
    // or the failed round that followed the interruption), and pages applied revision by
    // revision keep it for their rows. FTS5 empties a table that keeps its own content only row
    // by row, each delete reading the row's text back to find its terms; made again from its own
    // definition, the table starts empty at once.
    let indexed: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM search_index)", [], |r| r.get(0))?;
    if indexed {
        let definition: String =
            tx.query_row("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'search_index'", [], |r| {
                r.get(0)
            })?;
        tx.execute_batch(&format!("DROP TABLE search_index; {definition};"))?;
    }
    // One statement per kind, each in its table's order, so that document ids rise within each:
    // FTS5 flushes its in-memory terms to disk whenever an id is lower than the one before.
    for view in RecordKind::ALL.iter().filter_map(|k| k.decl().search_view()) {
        tx.execute_batch(&format!(
            "INSERT INTO search_index (rowid, case_id, body) SELECT doc_id, case_id, body FROM {view} ORDER BY seq"
        ))?;
    }
    tx.execute_batch(
        "DELETE FROM case_assignees; \
         INSERT OR IGNORE INTO case_assignees (assignee, case_id, case_seq, due_date, live) \
             SELECT a.value, c.id, c.seq, c.due_date, c.deleted_at IS NULL FROM cases c, json_each(c.assignees) a; \
         UPDATE sync_state SET indexes_pending = 0 WHERE only_row = 1;",
    )?;
    Ok(())
}

/// A pulled page made ready for [`apply`] on the thread that fetched it.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub page: PullPage,
    /// Per revision of the page, in its order.
    revisions: Vec<Step>,
    /// The records the page touches, in the order they first come.
    records: Vec<Touched>,
    /// Why the page is not the bulk path's case, found without the store.
    not_bulk: Option<(&'static str, usize)>,
}

#[cfg(test)]
impl Prepared {
    /// Everything [`apply`] takes from a prepared page but the fields of the records the page
    /// creates (which [`prepare_text`] reads into the steps, not into the page), for comparing.
    pub(crate) fn shape(&self) -> String {
        let page: Vec<_> = self
            .page
            .revisions
            .iter()
            .zip(&self.revisions)
            .map(|(c, step)| {
                // Fields are read only for the records `apply` folds from the store.
                let folded = self.not_bulk.is_none() && self.records[step.record].row.is_none();
                (
                    c.seq,
                    c.revision.id,
                    c.revision.version,
                    folded.then_some(&c.revision.fields),
                    &c.conflicts,
                    &c.proposed,
                )
            })
            .collect();
        format!(
            "{page:?} {:?} {:?} {:?} {:?}",
            self.revisions,
            self.records,
            self.not_bulk,
            (self.page.next, self.page.more, self.page.head, self.page.remaining)
        )
    }
}

/// One revision of a prepared page: its values made ready to bind, so that the thread applying
/// pages spends its time in the store (and the freeing thread frees them).
#[derive(Debug)]
struct Step {
    /// Its record (an index into `records`).
    record: usize,
    /// The revision of the same record before it in the page.
    previous: Option<usize>,
    id: String,
    record_id: String,
    made_at: String,
    resolves: String,
    proposed: Option<String>,
    /// The revision it follows in its chain: the one before it in the page, or — for the first
    /// revision of a record the page continues — the record's head, found in [`apply`].
    parent: Option<String>,
    superseded_by: Option<String>,
    made_on: Option<String>,
    /// Its fields in their stored form, as JSON text: made here for a record created in the page,
    /// in [`apply`] for a record the page continues.
    fields: Option<String>,
}

/// The revision the change was made on, when it is not the one before it in the chain (what the
/// per-revision path keeps in `made_on`).
fn made_on(revision: &labdesk_proto::Revision, parent: Option<&str>) -> Option<String> {
    revision.parent.map(|p| p.to_string()).filter(|p| Some(p.as_str()) != parent && revision.base_version != 0)
}

/// A record a page touches.
#[derive(Debug)]
struct Touched {
    kind: RecordKind,
    id: Uuid,
    /// Its first and last revisions in the page.
    first: usize,
    last: usize,
    /// Created in the page: its row, made ready (`None` for a record the page continues).
    row: Option<Vec<SqlValue>>,
}

/// The row of a record after `last`, its latest revision, from its folded `state`.
fn bookkeeping(
    id: Uuid,
    created_at: Timestamp,
    last: &CentralRevision,
    state: &Map<String, Value>,
) -> Result<Bookkeeping> {
    let deleted_at = match state.get("deleted_at") {
        Some(Value::String(t)) => Some(parse_time(t, "deleted_at")?),
        _ => None,
    };
    Ok(Bookkeeping {
        id,
        version: last.revision.version,
        created_at,
        updated_at: last.revision.made_at,
        updated_by: last.revision.author.clone(),
        deleted_at,
    })
}

/// Makes a page ready to apply, with no store at hand: links each revision to the record's
/// revisions before and after it in the page, and folds every record created in the page.
pub(crate) fn prepare(page: PullPage) -> Result<Prepared> {
    prepare_with(page, None)
}

/// A page as a bootstrap reads it from the answer's JSON text: everything but the revisions'
/// fields (and proposals) decoded as [`PullPage`] decodes it; the fields kept as the text they came
/// as, with their names, until [`prepare_text`] reads each into what it needs — a record created
/// in the page straight into its type, with no map of values in between (decoding the fields
/// into maps, and freeing those maps again, took more time than anything else the fetching
/// thread did). Borrows from the answer.
pub(crate) struct WirePage<'a> {
    page: WireHead<'a>,
    /// Per revision, its fields' names in order, each with its value's text.
    entries: Vec<Entries<'a>>,
    /// Per revision, its proposal.
    proposals: Vec<Option<Map<String, Value>>>,
}

/// The fields of a revision as they came: each name with its value's JSON text, in their order.
#[derive(Debug, Default)]
pub(crate) struct Entries<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        /// A name, borrowed from the text when it has no escapes.
        struct Name<'a>(Cow<'a, str>);
        impl<'de> Deserialize<'de> for Name<'de> {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
                struct Visit;
                impl<'de> Visitor<'de> for Visit {
                    type Value = Name<'de>;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a field name")
                    }
                    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> std::result::Result<Name<'de>, E> {
                        Ok(Name(Cow::Borrowed(v)))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Name<'de>, E> {
                        Ok(Name(Cow::Owned(v.to_owned())))
                    }
                }
                deserializer.deserialize_str(Visit)
            }
        }
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the fields of a revision (an object)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Entries<'de>, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((Name(name), raw)) = map.next_entry::<Name<'de>, &'de RawValue>()? {
                    entries.push((name, raw));
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// [`PullPage`], its revisions' fields and proposals left as text.
#[derive(Deserialize)]
struct WireHead<'a> {
    #[serde(borrow)]
    revisions: Vec<WireCentral<'a>>,
    next: i64,
    more: bool,
    head: i64,
    remaining: u64,
}

/// [`CentralRevision`], its fields and proposal left as text.
#[derive(Deserialize)]
struct WireCentral<'a> {
    seq: i64,
    #[serde(borrow)]
    revision: WireRevision<'a>,
    outcome: Outcome,
    #[serde(default)]
    conflicts: Vec<FieldConflict>,
    #[serde(default, borrow)]
    proposed: Option<&'a RawValue>,
}

/// [`Revision`](labdesk_proto::Revision), its fields left as text.
#[derive(Deserialize)]
struct WireRevision<'a> {
    id: Uuid,
    record_kind: RecordKind,
    record_id: Uuid,
    version: u32,
    base_version: u32,
    #[serde(default)]
    parent: Option<Uuid>,
    #[serde(default)]
    parent_unconfirmed: bool,
    #[serde(borrow)]
    fields: &'a RawValue,
    author: String,
    workstation: String,
    made_at: Timestamp,
    #[serde(default)]
    resolves: Vec<Uuid>,
    superseded_by: Option<Uuid>,
    origin: Origin,
}

/// Reads a pull page's JSON text as [`WirePage`]: what the text does not hold as a [`PullPage`]
/// (revision fields that are no object included) is refused, in serde's words.
pub(crate) fn decode(body: &[u8]) -> std::result::Result<WirePage<'_>, String> {
    let page: WireHead<'_> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let entries = page
        .revisions
        .iter()
        .map(|c| serde_json::from_str::<Entries<'_>>(c.revision.fields.get()))
        .collect::<serde_json::Result<Vec<_>>>()
        .map_err(|e| format!("the fields of a revision: {e}"))?;
    // Few revisions have a proposal (those a merge changed): read as the page reads it.
    let proposals = page
        .revisions
        .iter()
        .map(|c| c.proposed.map(|p| serde_json::from_str::<Option<Map<String, Value>>>(p.get())).transpose())
        .collect::<serde_json::Result<Vec<_>>>()
        .map_err(|e| format!("the proposal of a revision: {e}"))?;
    Ok(WirePage { page, entries, proposals: proposals.into_iter().map(Option::flatten).collect() })
}

/// [`prepare`] for a page read by [`decode`]: the same [`Prepared`], the fields of the records the
/// page creates read from their text into their types.
pub(crate) fn prepare_text(wire: WirePage<'_>) -> Result<Prepared> {
    let WirePage { page, entries, proposals } = wire;
    let mut texts = Vec::with_capacity(page.revisions.len());
    let mut revisions = Vec::with_capacity(page.revisions.len());
    for (c, proposed) in page.revisions.into_iter().zip(proposals) {
        let r = c.revision;
        texts.push(r.fields.get());
        revisions.push(CentralRevision {
            seq: c.seq,
            revision: labdesk_proto::Revision {
                id: r.id,
                record_kind: r.record_kind,
                record_id: r.record_id,
                version: r.version,
                base_version: r.base_version,
                parent: r.parent,
                parent_unconfirmed: r.parent_unconfirmed,
                fields: Map::new(),
                author: r.author,
                workstation: r.workstation,
                made_at: r.made_at,
                resolves: r.resolves,
                superseded_by: r.superseded_by,
                origin: r.origin,
            },
            outcome: c.outcome,
            conflicts: c.conflicts,
            proposed,
        });
    }
    let page = PullPage { revisions, next: page.next, more: page.more, head: page.head, remaining: page.remaining };
    prepare_with(page, Some((&texts, &entries)))
}

/// Fields that came as text: per revision, the text and its [`Entries`].
type Texts<'a, 'b> = (&'b [&'a str], &'b [Entries<'a>]);

/// [`prepare`]; with `texts`, the revisions' fields are read from them (the page's own are empty),
/// into the page for the records [`apply`] folds from the store.
fn prepare_with(mut page: PullPage, texts: Option<Texts<'_, '_>>) -> Result<Prepared> {
    let mut revisions: Vec<Step> = Vec::with_capacity(page.revisions.len());
    let mut records: Vec<Touched> = Vec::new();
    let mut by_id: HashMap<Uuid, usize> = HashMap::with_capacity(page.revisions.len());
    let mut not_bulk = None;
    for (i, central) in page.revisions.iter().enumerate() {
        let r = &central.revision;
        let (record, previous) = match by_id.get(&r.record_id) {
            Some(&t) => {
                let last = records[t].last;
                let before = &page.revisions[last].revision;
                if before.record_kind != r.record_kind || before.version + 1 != r.version {
                    not_bulk = not_bulk.or(Some(("a record's versions do not follow each other", i)));
                }
                records[t].last = i;
                revisions[last].superseded_by = Some(r.id.to_string());
                (t, Some(last))
            }
            None => {
                records.push(Touched { kind: r.record_kind, id: r.record_id, first: i, last: i, row: None });
                by_id.insert(r.record_id, records.len() - 1);
                (records.len() - 1, None)
            }
        };
        let parent = previous.map(|p| page.revisions[p].revision.id.to_string());
        revisions.push(Step {
            record,
            previous,
            id: r.id.to_string(),
            record_id: r.record_id.to_string(),
            made_at: r.made_at.to_string(),
            resolves: if r.resolves.is_empty() {
                "[]".to_owned()
            } else {
                serde_json::to_string(&r.resolves).unwrap_or_else(|_| "[]".to_owned())
            },
            proposed: central.proposed.as_ref().map(|p| serde_json::to_string(p).unwrap_or_else(|_| "{}".to_owned())),
            made_on: made_on(r, parent.as_deref()),
            parent,
            superseded_by: None,
            fields: None,
        });
    }
    if not_bulk.is_none() {
        // Fold each record created here: its revisions in page order, from nothing.
        let mut states: HashMap<usize, Map<String, Value>> = HashMap::new();
        let corrupt = |e: serde_json::Error| crate::Error::Corrupt(format!("the fields of a pulled revision: {e}"));
        for (i, central) in page.revisions.iter_mut().enumerate() {
            let r = &mut central.revision;
            let t = revisions[i].record;
            let text = texts.map(|(texts, entries)| (texts[i], &entries[i].0));
            if i == records[t].first && r.version == 1 {
                let (fields, state) = match text {
                    Some((text, entries)) => create_canonical_text(r.record_kind, text, entries).map_err(corrupt)?,
                    None => create_canonical_json(r.record_kind, &mut r.fields),
                };
                revisions[i].fields = Some(fields);
                states.insert(t, state);
            } else if let Some(state) = states.get_mut(&t) {
                let fields = match text {
                    Some((text, _)) => &serde_json::from_str(text).map_err(corrupt)?,
                    None => &r.fields,
                };
                revisions[i].fields = Some(apply_canonical_json(r.record_kind, state, fields));
            } else if let Some((text, _)) = text {
                // A record the page continues: `apply` folds it on from the store's row.
                r.fields = serde_json::from_str(text).map_err(corrupt)?;
            }
        }
        for (t, state) in states {
            let record = &mut records[t];
            let created_at = page.revisions[record.first].revision.made_at;
            let row = bookkeeping(record.id, created_at, &page.revisions[record.last], &state)?;
            record.row = Some(record::row_values_owned(record.kind, &row, state));
        }
    }
    Ok(Prepared { page, revisions, records, not_bulk })
}

/// Why a page gave up: nothing is wrong, it is only not the bulk path's case.
fn not_bulk(why: &str, revision: &CentralRevision) -> Result<Option<ApplyReport>> {
    tracing::info!(why, revision = %revision.revision.id, seq = revision.seq, "pages applied revision by revision");
    Ok(None)
}

/// A write the store's constraints refused (a revision or a row that is here already): the
/// per-revision path's case.
fn refused(result: rusqlite::Result<usize>) -> Result<bool> {
    match result {
        Ok(_) => Ok(false),
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// A record the page continues, as the store has it.
struct Continued {
    state: Map<String, Value>,
    created_at: Timestamp,
    head: String,
}

/// Applies a prepared page set-based (module docs), without moving the cursor. `None`: not the
/// bulk path's case; the transaction may hold part of the page and must be rolled back.
pub(crate) fn apply(tx: &Connection, prepared: &mut Prepared) -> Result<Option<ApplyReport>> {
    let Prepared { page, revisions, records, not_bulk: found } = prepared;
    if let Some((why, i)) = *found {
        return not_bulk(why, &page.revisions[i]);
    }

    // 1. Records the page continues: read and fold them on from the store's row.
    let mut continued: HashMap<usize, Continued> = HashMap::new();
    for (t, record) in records.iter().enumerate().filter(|(_, t)| t.row.is_none()) {
        let first = &page.revisions[record.first];
        let head: Option<(String, u32)> = tx
            .prepare_cached("SELECT id, version FROM revisions WHERE record_id = ?1 AND superseded_by IS NULL")?
            .query_row(params![record.id.to_string()], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        match (head, record::load_raw(tx, record.kind, record.id)?) {
            (Some((head, version)), Some((row, state))) if version + 1 == first.revision.version => {
                continued.insert(t, Continued { state, created_at: row.created_at, head });
            }
            _ => return not_bulk("a record's chain is not where the page expects it", first),
        }
    }
    for (i, central) in page.revisions.iter().enumerate() {
        let step = &mut revisions[i];
        if let Some(record) = continued.get_mut(&step.record) {
            let r = &central.revision;
            step.fields = Some(apply_canonical_json(r.record_kind, &mut record.state, &r.fields));
            if step.previous.is_none() {
                step.made_on = made_on(r, Some(&record.head));
                step.parent = Some(record.head.clone());
            }
        }
    }

    // 2. The old heads first: the one-head index allows one unsuperseded revision per record.
    for (t, record) in &continued {
        let first = page.revisions[records[*t].first].revision.id.to_string();
        tx.prepare_cached("UPDATE revisions SET superseded_by = ?1 WHERE id = ?2 AND superseded_by IS NULL")?
            .execute(params![first, record.head])?;
    }

    // 3. The revisions, in page order, links set; a conflict or a resolution recorded as the
    // per-revision path records it, at the same point.
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO revisions (id, record_kind, record_id, version, base_version, parent, fields, author, \
             workstation, made_at, origin, resolves, superseded_by, central_seq, proposed, made_on) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )?;
        for (step, central) in revisions.iter().zip(&page.revisions) {
            let r = &central.revision;
            let result = insert.execute(params![
                step.id,
                r.record_kind.as_str(),
                step.record_id,
                r.version,
                r.base_version,
                step.parent,
                step.fields.as_deref().unwrap_or("{}"),
                r.author,
                r.workstation,
                step.made_at,
                Origin::Central.as_str(),
                step.resolves,
                step.superseded_by,
                central.seq,
                step.proposed,
                step.made_on,
            ]);
            if refused(result)? {
                return not_bulk("a revision is here already", central);
            }
            if !central.conflicts.is_empty() {
                set_conflicts(tx, r.record_kind, r.record_id, r.id, &central.conflicts)?;
            }
            if !r.resolves.is_empty() {
                settle_conflicts(tx, r)?;
            }
        }
    }

    // 4. Each record's row once, with its final state; new rows in the order their records first
    // came (so that their seq, and with it their search document ids, are the per-revision path's).
    let mut inserts: HashMap<RecordKind, String> = HashMap::new();
    for (t, record) in records.iter().enumerate() {
        if let Some(c) = continued.get(&t) {
            let row = bookkeeping(record.id, c.created_at, &page.revisions[record.last], &c.state)?;
            match record::upsert_raw(tx, record.kind, &row, &c.state) {
                Ok(()) => {}
                // The per-revision path sets a change the store refuses aside.
                Err(crate::Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                    if e.code == ErrorCode::ConstraintViolation =>
                {
                    return not_bulk("the store refused a record's row", &page.revisions[record.first]);
                }
                Err(e) => return Err(e),
            }
            continue;
        }
        let Some(values) = &record.row else { continue };
        let sql = inserts.entry(record.kind).or_insert_with(|| {
            let (table, columns) = record::shape(record.kind);
            let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
            let placeholders: Vec<String> = (1..=6 + names.len()).map(|i| format!("?{i}")).collect();
            format!(
                "INSERT INTO {table} (id, version, created_at, updated_at, updated_by, deleted_at, {}) VALUES ({})",
                names.join(", "),
                placeholders.join(", ")
            )
        });
        if refused(tx.prepare_cached(sql)?.execute(params_from_iter(values.iter())))? {
            return not_bulk("a record is here already", &page.revisions[record.first]);
        }
    }

    #[cfg(test)]
    super::bulk_tests::BULK_PAGES.with(|c| c.set(c.get() + 1));
    let n = page.revisions.len() as u64;
    Ok(Some(ApplyReport { revisions: n, fast: n, ..ApplyReport::default() }))
}
