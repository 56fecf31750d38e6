//! The one write path every record kind shares.
//!
//! A change to a record is a single SQLite transaction that (1) checks the change was made on the
//! record's current version, (2) applies it and validates the whole record, (3) writes the
//! current row, (4) appends a revision holding only the fields that changed, with the previous
//! head's `superseded_by` pointing at it, and (5) enqueues that revision in the outbox. The
//! search index and the assignee index follow from the row through triggers (migration V2).
//!
//! Each record kind is a plain serde struct of its content fields plus a [`Record`] impl that
//! names its columns and checks its rules. Rows and revisions meet in one form, a JSON object of
//! column name to value, which is what makes "the current row equals its chain folded in order"
//! checkable for every kind by the same code ([`fold`]).

use std::fmt::Debug;

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, FieldError, Result};
use crate::{Origin, RecordKind, Revision, Timestamp};

/// Who is making a change, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: String,
    pub workstation: String,
}

/// How a column's value is kept in SQLite (from the field's declared type).
pub use labdesk_proto::Storage as ColumnType;
use labdesk_proto::{FieldDecl, KindDecl};

/// A kind of synced record with typed code: its content as a serde struct (each field a declared
/// field of the same name, [`labdesk_proto::kinds`]) and the rules its declaration cannot say.
/// Its table, columns and fields fixed at creation are its declaration's ([`Record::decl`]).
pub trait Record: Serialize + DeserializeOwned + Clone + PartialEq + Debug {
    const KIND: RecordKind;

    /// The kind's declaration.
    fn decl() -> &'static KindDecl {
        Self::KIND.decl()
    }

    /// Puts the record in its one stored form (trimmed names, de-duplicated sets, ...) before it
    /// is checked, so equal meanings are stored as equal values.
    fn normalize(&mut self) {}

    /// Pushes every problem with this record that the record alone shows (and its id) onto
    /// `problems`: the rules the central store checks too, on the state every workstation will
    /// store ([`crate::check_state`]), so that a pulled record always fits a store.
    fn validate_alone(&self, id: Uuid, problems: &mut Vec<FieldError>);

    /// Pushes every other problem with this record onto `problems`: those that need the rest of
    /// the store (the case exists, the number is free, ...). `id` is the record's own id.
    fn validate(&self, id: Uuid, conn: &Connection, problems: &mut Vec<FieldError>) -> Result<()>;
}

/// A record as stored: its bookkeeping columns and its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Stored<R> {
    pub id: Uuid,
    pub version: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub updated_by: String,
    pub deleted_at: Option<Timestamp>,
    #[serde(flatten)]
    pub record: R,
}

impl<R> Stored<R> {
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    pub(crate) fn bookkeeping(&self) -> Bookkeeping {
        Bookkeeping {
            id: self.id,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            updated_by: self.updated_by.clone(),
            deleted_at: self.deleted_at,
        }
    }
}

/// The outcome of a write: the record as it now is, and the revision made (none when the change
/// changed nothing, so that saving an untouched form does not grow the chain).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Written<R> {
    pub record: Stored<R>,
    pub revision: Option<Revision>,
}

const BOOKKEEPING: &str = "seq, id, version, created_at, updated_at, updated_by, deleted_at";
const BOOKKEEPING_COUNT: usize = 7;

fn select_sql<R: Record>() -> String {
    let decl = R::decl();
    let cols: Vec<&str> = decl.field_names().collect();
    format!("SELECT {BOOKKEEPING}, {} FROM {}", cols.join(", "), decl.table)
}

/// The content of a record in its stored form, plus `deleted_at` (null when live): the form that
/// rows, revisions and the fold share.
pub(crate) fn full_map<R: Record>(record: &R, deleted_at: Option<Timestamp>) -> Result<Map<String, Value>> {
    let mut map = match serde_json::to_value(record) {
        Ok(Value::Object(map)) => map,
        Ok(other) => return Err(Error::Corrupt(format!("a {} serialised as {other}", R::KIND.label()))),
        Err(e) => return Err(Error::Corrupt(format!("a {} could not be serialised: {e}", R::KIND.label()))),
    };
    map.insert("deleted_at".into(), deleted_at.map_or(Value::Null, |t| Value::String(t.to_string())));
    Ok(map)
}

/// Turns a JSON object into a record, naming the exact field that does not fit.
pub(crate) fn from_map<R: Record>(map: Map<String, Value>) -> Result<R> {
    let value = Value::Object(map);
    serde_path_to_error::deserialize::<_, R>(&value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "(record)".to_owned() } else { path };
        Error::one(R::KIND, field, plain_serde_message(&e.into_inner().to_string()))
    })
}

/// serde's messages end with a position that means nothing in a form; drop it.
fn plain_serde_message(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn to_sql(value: Value, ty: ColumnType) -> SqlValue {
    match (value, ty) {
        (Value::Null, _) => SqlValue::Null,
        (v, ColumnType::Json) => SqlValue::Text(v.to_string()),
        (Value::Bool(b), _) => SqlValue::Integer(i64::from(b)),
        (Value::Number(n), ColumnType::Real) => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        (Value::Number(n), _) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        (Value::String(s), _) => SqlValue::Text(s),
        (other, _) => SqlValue::Text(other.to_string()),
    }
}

fn from_sql(value: ValueRef<'_>, ty: ColumnType, column: &str) -> Result<Value> {
    let corrupt = |what: &str| Error::Corrupt(format!("column {column} holds {what}"));
    Ok(match (value, ty) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Text(t), ColumnType::Json) => {
            serde_json::from_slice(t).map_err(|_| corrupt("text that is not JSON"))?
        }
        (ValueRef::Integer(i), ColumnType::Bool) => Value::Bool(i != 0),
        (ValueRef::Integer(i), _) => Value::from(i),
        (ValueRef::Real(f), _) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        (ValueRef::Text(t), _) => {
            Value::String(std::str::from_utf8(t).map_err(|_| corrupt("text that is not UTF-8"))?.to_owned())
        }
        (ValueRef::Blob(_), _) => return Err(corrupt("a blob")),
    })
}

pub(crate) fn parse_uuid(text: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|_| Error::Corrupt(format!("{what} '{text}' is not a UUID")))
}

pub(crate) fn parse_time(text: &str, what: &str) -> Result<Timestamp> {
    Timestamp::parse(text).map_err(|_| Error::Corrupt(format!("{what} '{text}' is not a timestamp")))
}

fn row_to_stored<R: Record>(row: &rusqlite::Row<'_>) -> Result<Stored<R>> {
    let id: String = row.get(1)?;
    let version: i64 = row.get(2)?;
    let created_at: String = row.get(3)?;
    let updated_at: String = row.get(4)?;
    let updated_by: String = row.get(5)?;
    let deleted_at: Option<String> = row.get(6)?;
    let fields = R::decl().fields;
    let mut map = Map::with_capacity(fields.len());
    for (i, field) in fields.iter().enumerate() {
        let value = from_sql(row.get_ref(BOOKKEEPING_COUNT + i)?, field.ty.storage(), field.name)?;
        map.insert(field.name.to_owned(), value);
    }
    let record = from_map::<R>(map).map_err(|e| Error::Corrupt(format!("{} row {id}: {e}", R::decl().table)))?;
    Ok(Stored {
        id: parse_uuid(&id, "record id")?,
        version: u32::try_from(version).map_err(|_| Error::Corrupt(format!("version {version}")))?,
        created_at: parse_time(&created_at, "created_at")?,
        updated_at: parse_time(&updated_at, "updated_at")?,
        updated_by,
        deleted_at: deleted_at.map(|t| parse_time(&t, "deleted_at")).transpose()?,
        record,
    })
}

/// The record with this id, deleted or not.
pub(crate) fn load<R: Record>(conn: &Connection, id: Uuid) -> Result<Option<Stored<R>>> {
    let sql = format!("{} WHERE id = ?1", select_sql::<R>());
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![id.to_string()])?;
    match rows.next()? {
        Some(row) => Ok(Some(row_to_stored::<R>(row)?)),
        None => Ok(None),
    }
}

/// Records matching a WHERE clause (which may carry ORDER BY and LIMIT).
pub(crate) fn load_where<R: Record>(
    conn: &Connection,
    clause: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Stored<R>>> {
    let sql = format!("{} WHERE {clause}", select_sql::<R>());
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(row_to_stored::<R>(row)?);
    }
    Ok(out)
}

/// A row's bookkeeping columns: everything but its content.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bookkeeping {
    pub id: Uuid,
    pub version: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub updated_by: String,
    pub deleted_at: Option<Timestamp>,
}

impl Bookkeeping {
    /// The stored record of this row with `record` as its content.
    pub(crate) fn with<R>(self, record: R) -> Stored<R> {
        Stored {
            id: self.id,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            updated_by: self.updated_by,
            deleted_at: self.deleted_at,
            record,
        }
    }
}

/// The table and content fields of a kind of record, for code that works on any kind by its
/// [`RecordKind`] (sync writes pulled rows this way, with no typed value in between).
pub(crate) fn shape(kind: RecordKind) -> (&'static str, &'static [FieldDecl]) {
    let decl = kind.decl();
    (decl.table, decl.fields)
}

/// Writes a row of any kind as given: no normalising, no validation. The typed write path calls
/// it after validating; sync calls it with rows the central store has already accepted. An update
/// (not a delete and insert) keeps the row's `seq`, so the search and assignee triggers follow.
pub(crate) fn upsert_raw(
    tx: &Connection,
    kind: RecordKind,
    row: &Bookkeeping,
    content: &Map<String, Value>,
) -> Result<()> {
    let (table, columns) = shape(kind);
    let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
    let placeholders: Vec<String> = (1..=6 + names.len()).map(|i| format!("?{i}")).collect();
    let updates: Vec<String> = ["version", "created_at", "updated_at", "updated_by", "deleted_at"]
        .iter()
        .copied()
        .chain(names.iter().copied())
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO {table} (id, version, created_at, updated_at, updated_by, deleted_at, {}) VALUES ({}) \
         ON CONFLICT (id) DO UPDATE SET {}",
        names.join(", "),
        placeholders.join(", "),
        updates.join(", ")
    );
    tx.prepare_cached(&sql)?.execute(rusqlite::params_from_iter(row_values(kind, row, content)))?;
    Ok(())
}

/// A row's values in the column order `id, version, created_at, updated_at, updated_by,
/// deleted_at`, then the kind's content columns: what [`upsert_raw`] writes, and what sync's bulk
/// path inserts, so that both store the very same values.
pub(crate) fn row_values(kind: RecordKind, row: &Bookkeeping, content: &Map<String, Value>) -> Vec<SqlValue> {
    let (_, columns) = shape(kind);
    row_values_from(row, columns.iter().map(|c| (content.get(c.name).cloned().unwrap_or(Value::Null), c.ty.storage())))
}

/// [`row_values`], taking the values out of `content` rather than copying them.
pub(crate) fn row_values_owned(kind: RecordKind, row: &Bookkeeping, mut content: Map<String, Value>) -> Vec<SqlValue> {
    let (_, columns) = shape(kind);
    row_values_from(
        row,
        columns.iter().map(|c| (content.get_mut(c.name).map(Value::take).unwrap_or(Value::Null), c.ty.storage())),
    )
}

fn row_values_from(row: &Bookkeeping, content: impl ExactSizeIterator<Item = (Value, ColumnType)>) -> Vec<SqlValue> {
    let mut values: Vec<SqlValue> = Vec::with_capacity(6 + content.len());
    values.push(SqlValue::Text(row.id.to_string()));
    values.push(SqlValue::Integer(i64::from(row.version)));
    values.push(SqlValue::Text(row.created_at.to_string()));
    values.push(SqlValue::Text(row.updated_at.to_string()));
    values.push(SqlValue::Text(row.updated_by.clone()));
    values.push(row.deleted_at.map_or(SqlValue::Null, |t| SqlValue::Text(t.to_string())));
    values.extend(content.map(|(value, ty)| to_sql(value, ty)));
    values
}

/// A row of any kind as the form rows and revisions share (content plus `deleted_at`), with its
/// bookkeeping; `None` when there is no such row.
pub(crate) fn load_raw(
    conn: &Connection,
    kind: RecordKind,
    id: Uuid,
) -> Result<Option<(Bookkeeping, Map<String, Value>)>> {
    Ok(load_raw_where(conn, kind, "id = ?1", params![id.to_string()])?.pop())
}

/// Rows of any kind matching a WHERE clause (which may carry ORDER BY and LIMIT), as
/// [`load_raw`] reads them.
pub(crate) fn load_raw_where(
    conn: &Connection,
    kind: RecordKind,
    clause: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<(Bookkeeping, Map<String, Value>)>> {
    let (table, columns) = shape(kind);
    let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
    let sql = format!("SELECT {BOOKKEEPING}, {} FROM {table} WHERE {clause}", names.join(", "));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(1)?;
        let version: i64 = row.get(2)?;
        let deleted_at: Option<String> = row.get(6)?;
        let mut map = Map::with_capacity(columns.len() + 1);
        for (i, column) in columns.iter().enumerate() {
            let value = from_sql(row.get_ref(BOOKKEEPING_COUNT + i)?, column.ty.storage(), column.name)?;
            map.insert(column.name.to_owned(), value);
        }
        map.insert("deleted_at".into(), deleted_at.clone().map_or(Value::Null, Value::String));
        let bookkeeping = Bookkeeping {
            id: parse_uuid(&id, "record id")?,
            version: u32::try_from(version).map_err(|_| Error::Corrupt(format!("version {version}")))?,
            created_at: parse_time(&row.get::<_, String>(3)?, "created_at")?,
            updated_at: parse_time(&row.get::<_, String>(4)?, "updated_at")?,
            updated_by: row.get(5)?,
            deleted_at: deleted_at.map(|t| parse_time(&t, "deleted_at")).transpose()?,
        };
        out.push((bookkeeping, map));
    }
    Ok(out)
}

/// Removes a row of any kind: only for a record whose creation the central store refused (it
/// never existed centrally; its content is kept in `rejected_changes`). Triggers drop it from
/// the search and assignee indexes.
pub(crate) fn delete_raw(conn: &Connection, kind: RecordKind, id: Uuid) -> Result<bool> {
    let (table, _) = shape(kind);
    Ok(conn.prepare_cached(&format!("DELETE FROM {table} WHERE id = ?1"))?.execute(params![id.to_string()])? > 0)
}

/// Appends a revision to a record's chain and enqueues it in the outbox. Returns the revision
/// with `parent` set to the head it superseded.
fn append_revision(tx: &Connection, mut revision: Revision) -> Result<Revision> {
    let id = revision.id.to_string();
    let record_id = revision.record_id.to_string();
    // The old head first: the one-head index allows one unsuperseded revision per record.
    // A parent made here and not yet back from the central store (no central_seq) is one the
    // author saw as they proposed it, whatever the central store merged it into.
    let parent: Option<(String, bool)> = tx
        .prepare_cached(
            "UPDATE revisions SET superseded_by = ?1 WHERE record_id = ?2 AND superseded_by IS NULL \
             RETURNING id, origin = 'local' AND central_seq IS NULL",
        )?
        .query_row(params![id, record_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    revision.parent_unconfirmed = parent.as_ref().is_some_and(|(_, unconfirmed)| *unconfirmed);
    revision.parent = parent.map(|(p, _)| parse_uuid(&p, "parent revision")).transpose()?;
    tx.prepare_cached(
        "INSERT INTO revisions (id, record_kind, record_id, version, base_version, parent, fields, author, workstation, made_at, origin, resolves, \
         parent_unconfirmed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        id,
        revision.record_kind.as_str(),
        record_id,
        revision.version,
        revision.base_version,
        revision.parent.map(|p| p.to_string()),
        Value::Object(revision.fields.clone()).to_string(),
        revision.author,
        revision.workstation,
        revision.made_at.to_string(),
        revision.origin.as_str(),
        serde_json::to_string(&revision.resolves).unwrap_or_else(|_| "[]".to_owned()),
        revision.parent_unconfirmed,
    ])?;
    tx.prepare_cached("INSERT INTO outbox (revision_id, enqueued_at) VALUES (?1, ?2)")?
        .execute(params![id, revision.made_at.to_string()])?;
    Ok(revision)
}

/// What differs between two full maps: the fields of `next` whose value is not the one in `prev`.
fn changed_fields(prev: Option<&Map<String, Value>>, next: &Map<String, Value>) -> Map<String, Value> {
    next.iter()
        .filter(|(k, v)| match prev {
            Some(prev) => prev.get(k.as_str()).unwrap_or(&Value::Null) != *v,
            // A creating revision carries every field, but a live record's null deleted_at is
            // implied rather than written.
            None => !(k.as_str() == "deleted_at" && v.is_null()),
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn validate<R: Record>(conn: &Connection, id: Uuid, record: &mut R) -> Result<()> {
    record.normalize();
    let mut problems = Vec::new();
    record.validate_alone(id, &mut problems);
    record.validate(id, conn, &mut problems)?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(R::KIND, problems))
    }
}

/// Writes `next` as the new state of record `id` (created when `prev` is `None`).
fn commit<R: Record>(
    tx: &Connection,
    actor: &Actor,
    id: Uuid,
    prev: Option<&Stored<R>>,
    next: R,
    deleted_at: Option<Timestamp>,
) -> Result<Written<R>> {
    commit_settling(tx, actor, id, prev, next, deleted_at, &[], Vec::new())
}

/// [`commit`] for a change that may settle conflicts: `confirmed` fields go into the revision even
/// when their value does not change (a person picked the value that was kept, and the central
/// store must hear of that choice), and `resolves` names the conflicted revisions it settles.
#[allow(clippy::too_many_arguments)]
fn commit_settling<R: Record>(
    tx: &Connection,
    actor: &Actor,
    id: Uuid,
    prev: Option<&Stored<R>>,
    next: R,
    deleted_at: Option<Timestamp>,
    confirmed: &[String],
    resolves: Vec<Uuid>,
) -> Result<Written<R>> {
    let next_map = full_map(&next, deleted_at)?;
    let prev_map = prev.map(|p| full_map(&p.record, p.deleted_at)).transpose()?;
    let prev_row = prev.map(Stored::bookkeeping);
    let before = prev_row.as_ref().zip(prev_map.as_ref());
    match commit_fields(tx, actor, R::KIND, id, before, &next_map, confirmed, resolves)? {
        Some((row, revision)) => Ok(Written { record: row.with(next), revision: Some(revision) }),
        None => {
            Ok(Written { record: prev.cloned().ok_or_else(|| Error::Corrupt("nothing made".into()))?, revision: None })
        }
    }
}

/// The write path's core, for any kind: writes `next` (content and `deleted_at`, in stored form,
/// already checked) as the new state of record `id`, whose row and state were `prev` (`None`:
/// created now), and appends the revision of what changed. `None` when nothing changed and
/// nothing is settled, so that saving an untouched form does not grow the chain.
#[allow(clippy::too_many_arguments)]
pub(crate) fn commit_fields(
    tx: &Connection,
    actor: &Actor,
    kind: RecordKind,
    id: Uuid,
    prev: Option<(&Bookkeeping, &Map<String, Value>)>,
    next: &Map<String, Value>,
    confirmed: &[String],
    resolves: Vec<Uuid>,
) -> Result<Option<(Bookkeeping, Revision)>> {
    let mut fields = changed_fields(prev.map(|(_, map)| map), next);
    for field in confirmed {
        if let Some(value) = next.get(field) {
            fields.entry(field.clone()).or_insert_with(|| value.clone());
        }
    }
    if prev.is_some() && fields.is_empty() && resolves.is_empty() {
        return Ok(None);
    }
    let deleted_at = match next.get("deleted_at") {
        Some(Value::String(text)) => Some(parse_time(text, "deleted_at")?),
        _ => None,
    };
    let now = Timestamp::now();
    let base_version = prev.map_or(0, |(row, _)| row.version);
    let row = Bookkeeping {
        id,
        version: base_version + 1,
        created_at: prev.map_or(now, |(row, _)| row.created_at),
        updated_at: now,
        updated_by: actor.user.clone(),
        deleted_at,
    };
    let revision = Revision {
        id: Uuid::now_v7(),
        record_kind: kind,
        record_id: id,
        version: row.version,
        base_version,
        parent: None,
        parent_unconfirmed: false,
        resolves,
        fields,
        author: actor.user.clone(),
        workstation: actor.workstation.clone(),
        made_at: now,
        superseded_by: None,
        origin: Origin::Local,
    };
    upsert_raw(tx, kind, &row, next)?;
    let revision = append_revision(tx, revision)?;
    tracing::debug!(%kind, %id, version = row.version, "revision committed");
    Ok(Some((row, revision)))
}

/// Creates a record. Fails if the id is taken (ids are minted fresh, or derived for records that
/// two workstations may both create, in which case the caller edits the existing one instead).
pub(crate) fn create<R: Record>(tx: &Connection, actor: &Actor, id: Uuid, record: R) -> Result<Written<R>> {
    if load::<R>(tx, id)?.is_some() {
        return Err(Error::Corrupt(format!("a {} with id {id} exists already", R::KIND.label())));
    }
    let mut record = record;
    validate(tx, id, &mut record)?;
    commit(tx, actor, id, None, record, None)
}

/// The current record, checked to be at `base_version` when one is given.
pub(crate) fn current<R: Record>(conn: &Connection, id: Uuid, base_version: Option<u32>) -> Result<Stored<R>> {
    let stored = load::<R>(conn, id)?.ok_or_else(|| Error::NotFound { kind: R::KIND, key: id.to_string() })?;
    if let Some(base) = base_version {
        if base != stored.version {
            return Err(Error::StaleBase { kind: R::KIND, id, base, current: stored.version });
        }
    }
    Ok(stored)
}

/// Applies a patch (field name → new value, in the record's JSON form) to a live record.
pub(crate) fn patch<R: Record>(
    tx: &Connection,
    actor: &Actor,
    id: Uuid,
    base_version: Option<u32>,
    patch: Map<String, Value>,
) -> Result<Written<R>> {
    let prev = current::<R>(tx, id, base_version)?;
    if prev.is_deleted() {
        return Err(Error::Deleted { kind: R::KIND, id });
    }
    patchable(R::KIND, &patch)?;
    let mut map = full_map(&prev.record, None)?;
    map.remove("deleted_at");
    map.extend(patch);
    let mut next = from_map::<R>(map)?;
    validate(tx, id, &mut next)?;
    commit(tx, actor, id, Some(&prev), next, None)
}

/// Refuses a patch that names a field fixed at creation, or no field of the kind.
pub(crate) fn patchable(kind: RecordKind, patch: &Map<String, Value>) -> Result<()> {
    let decl = kind.decl();
    let mut problems = Vec::new();
    for key in patch.keys() {
        match decl.field(key) {
            Some(field) if field.fixed => {
                problems.push(FieldError::new(key, "is set when the record is created and cannot be changed"));
            }
            Some(_) => {}
            None => {
                let names: Vec<&str> = decl.fields.iter().filter(|f| !f.fixed && !f.hidden).map(|f| f.name).collect();
                problems.push(FieldError::new(key, format!("is not a field; the fields are: {}", names.join(", "))));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(kind, problems))
    }
}

/// Refuses picks that change a field fixed at creation (keeping it as it is settles a dispute
/// over it; changing it cannot), or name no field of the kind.
pub(crate) fn settleable(kind: RecordKind, prev: &Map<String, Value>, picks: &Map<String, Value>) -> Result<()> {
    let decl = kind.decl();
    let mut problems = Vec::new();
    for (key, value) in picks {
        if decl.is_fixed(key) && prev.get(key) != Some(value) {
            problems.push(FieldError::new(key, "is set when the record is created and cannot be changed"));
        } else if key != "deleted_at" && !decl.has_field(key) {
            problems.push(FieldError::new(key, "is not a field of this record"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(kind, problems))
    }
}

/// Changes a live record through a typed function (for actions such as "react" or "start stage").
pub(crate) fn change<R: Record>(
    tx: &Connection,
    actor: &Actor,
    id: Uuid,
    base_version: Option<u32>,
    edit: impl FnOnce(&Stored<R>, &mut R) -> Result<()>,
) -> Result<Written<R>> {
    let prev = current::<R>(tx, id, base_version)?;
    if prev.is_deleted() {
        return Err(Error::Deleted { kind: R::KIND, id });
    }
    let mut next = prev.record.clone();
    edit(&prev, &mut next)?;
    validate(tx, id, &mut next)?;
    commit(tx, actor, id, Some(&prev), next, None)
}

/// Soft-deletes (or restores) a record. Nothing is ever removed.
pub(crate) fn set_deleted<R: Record>(
    tx: &Connection,
    actor: &Actor,
    id: Uuid,
    base_version: Option<u32>,
    deleted: bool,
) -> Result<Written<R>> {
    let prev = current::<R>(tx, id, base_version)?;
    let deleted_at = match (deleted, prev.deleted_at) {
        (true, Some(at)) => Some(at),
        (true, None) => Some(Timestamp::now()),
        (false, _) => None,
    };
    let next = prev.record.clone();
    commit(tx, actor, id, Some(&prev), next, deleted_at)
}

/// Settles the conflicts of a record: sets the fields a person picked (field name → value, in the
/// record's JSON form; `deleted_at` too) in one revision that names the conflicted revisions it
/// `resolves`. Picked fields are written even when the value is the one the record has.
pub(crate) fn settle<R: Record>(
    tx: &Connection,
    actor: &Actor,
    id: Uuid,
    picks: Map<String, Value>,
    resolves: Vec<Uuid>,
) -> Result<Written<R>> {
    let prev = current::<R>(tx, id, None)?;
    let prev_map = full_map(&prev.record, prev.deleted_at)?;
    settleable(R::KIND, &prev_map, &picks)?;
    let mut map = prev_map;
    map.extend(picks.clone());
    let deleted_at = match map.remove("deleted_at") {
        Some(Value::String(text)) => Some(parse_time(&text, "deleted_at")?),
        _ => None,
    };
    let mut next = from_map::<R>(map)?;
    // A deleted record is kept as it was; only a live one must pass its kind's rules.
    if deleted_at.is_none() {
        validate(tx, id, &mut next)?;
    }
    let confirmed: Vec<String> = picks.keys().cloned().collect();
    commit_settling(tx, actor, id, Some(&prev), next, deleted_at, &confirmed, resolves)
}

/// A record's chain, oldest first.
pub(crate) fn chain(conn: &Connection, record_id: Uuid) -> Result<Vec<Revision>> {
    read_revisions(conn, "record_id = ?1 ORDER BY version", params![record_id.to_string()])
}

/// The columns [`row_to_revision`] reads, in its order; callers may select more after them.
pub(crate) const REVISION_COLUMNS: &str =
    "id, record_kind, record_id, version, base_version, fields, author, workstation, made_at, superseded_by, origin, parent, resolves, \
     parent_unconfirmed";
/// How many columns [`REVISION_COLUMNS`] names.
pub(crate) const REVISION_COLUMN_COUNT: usize = 14;

pub(crate) fn read_revisions(conn: &Connection, clause: &str, params: impl rusqlite::Params) -> Result<Vec<Revision>> {
    let sql = format!("SELECT {REVISION_COLUMNS} FROM revisions WHERE {clause}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(row_to_revision(row)?);
    }
    Ok(out)
}

pub(crate) fn row_to_revision(row: &rusqlite::Row<'_>) -> Result<Revision> {
    let kind: String = row.get(1)?;
    let fields: String = row.get(5)?;
    let superseded_by: Option<String> = row.get(9)?;
    let origin: String = row.get(10)?;
    Ok(Revision {
        id: parse_uuid(&row.get::<_, String>(0)?, "revision id")?,
        record_kind: kind.parse().map_err(|e| Error::Corrupt(format!("{e}")))?,
        record_id: parse_uuid(&row.get::<_, String>(2)?, "record id")?,
        version: row.get(3)?,
        base_version: row.get(4)?,
        fields: match serde_json::from_str(&fields) {
            Ok(Value::Object(map)) => map,
            _ => return Err(Error::Corrupt(format!("revision fields are not a JSON object: {fields}"))),
        },
        author: row.get(6)?,
        workstation: row.get(7)?,
        made_at: parse_time(&row.get::<_, String>(8)?, "made_at")?,
        superseded_by: superseded_by.map(|s| parse_uuid(&s, "superseded_by")).transpose()?,
        origin: if origin == "central" { Origin::Central } else { Origin::Local },
        parent: row.get::<_, Option<String>>(11)?.map(|p| parse_uuid(&p, "parent")).transpose()?,
        resolves: serde_json::from_str(&row.get::<_, String>(12)?)
            .map_err(|_| Error::Corrupt("revision resolves is not a list of ids".into()))?,
        parent_unconfirmed: row.get(13)?,
    })
}

/// Folds a chain in order: each revision's fields over the ones before. For a well-kept record
/// this equals [`full_map`] of its current row.
pub fn fold(chain: &[Revision]) -> Map<String, Value> {
    let mut state = Map::new();
    for revision in chain {
        for (k, v) in &revision.fields {
            state.insert(k.clone(), v.clone());
        }
    }
    state.entry("deleted_at").or_insert(Value::Null);
    state
}

/// The id of a record whose identity is its owner plus a name (a case's meta key, a case's
/// workflow stage): the same on every workstation, so two offline creations meet as one record.
pub fn derived_id(kind: RecordKind, owner: Uuid, name: &str) -> Uuid {
    let mut seed = Vec::with_capacity(64);
    seed.extend_from_slice(kind.as_str().as_bytes());
    seed.push(0);
    seed.extend_from_slice(owner.as_bytes());
    seed.extend_from_slice(name.as_bytes());
    Uuid::new_v5(&LABDESK_NAMESPACE, &seed)
}

/// The UUIDv5 namespace of LabDesk's derived ids. Never change it: ids already stored use it.
const LABDESK_NAMESPACE: Uuid = Uuid::from_u128(0x6c61_6264_6573_6b00_8000_0000_0000_0001);

/// The ids of every record attached to the case `?1`: of every kind scoped to a case.
pub(crate) fn attached_record_ids() -> &'static str {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let selects: Vec<String> = RecordKind::ALL
            .iter()
            .map(|k| k.decl())
            .filter(|d| d.scope == labdesk_proto::Scope::Case)
            .map(|d| format!("SELECT id FROM {} WHERE case_id = ?1", d.table))
            .collect();
        selects.join(" UNION ALL ")
    });
    &SQL
}

/// Reads one optional value.
pub(crate) fn query_opt<T: rusqlite::types::FromSql>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<T>> {
    Ok(conn.prepare_cached(sql)?.query_row(params, |r| r.get(0)).optional()?)
}

/// The map inside a JSON object literal (anything else gives an empty map).
pub(crate) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
