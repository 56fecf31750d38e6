//! Records of any kind, read, checked and written through their declaration alone.
//!
//! Vocabulary:
//! - **fields**: a record's content as a JSON object of field name to value, in stored form: the
//!   form rows, revisions and the fold share ([`Fields`]). A [`Stored<Fields>`] serialises as a
//!   typed record does: bookkeeping, then the fields.
//! - **declared kind**: a kind with no typed code (a lab setting). Its stored form, its rules and
//!   its whole write path come from its `labdesk_proto::KindDecl`: the types, the required and
//!   fixed fields, its scope (a record on a case needs a live case), its unique fields and
//!   "immutable once submitted".
//!
//! Every kind can be read here (list, show), so every kind is scriptable the day it is declared;
//! only declared kinds are written here. A kind with typed code is written through its own
//! commands, which keep the rules a declaration cannot say (minting case numbers, ...).

use labdesk_proto::{FieldDecl, FieldType, IdRule, KindDecl, Scope};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::db::Store;
use crate::error::{Error, FieldError, Result};
use crate::kinds::{check_content, is_typed};
use crate::record::{self, commit_fields, derived_id, load_raw, query_opt, Actor, Bookkeeping, Stored, Written};
use crate::{RecordKind, Timestamp};

/// A record's content: field name to value, in stored form.
pub type Fields = Map<String, Value>;

/// What a list of records of one kind shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(default)]
pub struct RecordFilter {
    /// Words every listed record has in one of its shown text fields (any case).
    pub text: Option<String>,
    /// Fields that must have exactly these values (`{"case_id": "…"}`).
    #[cfg_attr(feature = "ts", ts(type = "Record<string, string>"))]
    pub fields: std::collections::BTreeMap<String, String>,
    /// List deleted records too.
    pub include_deleted: bool,
    /// At most this many (newest changed first); 0 means the default of 500.
    pub limit: u32,
}

/// A kind as the desktop app and scripts see it: its declaration, for building lists and forms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct KindInfo {
    /// The stable name (`setting`), as `labdesk records KIND` and the app's commands take it.
    pub name: String,
    pub label: String,
    pub plural: String,
    pub scope: Scope,
    /// The permission module that guards it.
    pub module: labdesk_proto::Module,
    /// Changed only through its own commands and screens; the generic ones only read it.
    pub hand_made: bool,
    pub fields: Vec<FieldInfo>,
    /// The fields that name a record, first one set.
    pub title: Vec<String>,
    /// Fields that together name one live record of the lab (a setting's key).
    pub unique: Vec<String>,
    /// When set, the record cannot change once this field leaves these values (an invoice once
    /// sent): it is corrected by a new one.
    pub submitted: Option<SubmittedInfo>,
}

/// "Immutable once submitted", for a [`KindInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SubmittedInfo {
    pub field: String,
    /// The values while it may still change.
    pub open: Vec<String>,
}

/// One field of a [`KindInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FieldInfo {
    pub name: String,
    pub label: String,
    /// text, long_text, integer, money, bool, date, time, id, choice, text_list or json.
    pub kind: String,
    /// The longest text it takes, for text fields.
    pub max_length: Option<u32>,
    /// The values it takes, for a choice.
    pub choices: Vec<String>,
    pub required: bool,
    /// Set when the record is made; cannot change after.
    pub fixed: bool,
    /// Never shown in lists and forms.
    pub hidden: bool,
    pub help: String,
}

impl KindInfo {
    pub fn of(kind: RecordKind) -> Self {
        let decl = kind.decl();
        KindInfo {
            name: decl.name.to_owned(),
            label: decl.label.to_owned(),
            plural: decl.plural.to_owned(),
            scope: decl.scope,
            module: decl.module,
            hand_made: decl.hand_made,
            fields: decl.fields.iter().map(FieldInfo::of).collect(),
            title: decl.title.iter().map(|t| (*t).to_owned()).collect(),
            unique: decl.unique.iter().map(|u| (*u).to_owned()).collect(),
            submitted: decl.submitted.map(|s| SubmittedInfo {
                field: s.field.to_owned(),
                open: s.open.iter().map(|o| (*o).to_owned()).collect(),
            }),
        }
    }

    /// Every kind, in the order of the registry.
    pub fn all() -> Vec<Self> {
        RecordKind::ALL.iter().map(|k| Self::of(*k)).collect()
    }
}

impl FieldInfo {
    fn of(field: &FieldDecl) -> Self {
        let (kind, max_length, choices) = match field.ty {
            FieldType::Text { max } => ("text", Some(max), Vec::new()),
            FieldType::LongText { max } => ("long_text", Some(max), Vec::new()),
            FieldType::Integer => ("integer", None, Vec::new()),
            FieldType::Money => ("money", None, Vec::new()),
            FieldType::Bool => ("bool", None, Vec::new()),
            FieldType::Date => ("date", None, Vec::new()),
            FieldType::Time => ("time", None, Vec::new()),
            FieldType::Id => ("id", None, Vec::new()),
            FieldType::Choice { values } => ("choice", None, values.iter().map(|v| (*v).to_owned()).collect()),
            FieldType::TextList => ("text_list", None, Vec::new()),
            FieldType::Json => ("json", None, Vec::new()),
        };
        FieldInfo {
            name: field.name.to_owned(),
            label: field.label.to_owned(),
            kind: kind.to_owned(),
            max_length: max_length.map(|m| u32::try_from(m).unwrap_or(u32::MAX)),
            choices,
            required: field.required,
            fixed: field.fixed,
            hidden: field.hidden,
            help: field.help.to_owned(),
        }
    }
}

/// Puts `content` in the kind's stored form: only declared fields and `deleted_at`, texts
/// trimmed, lists without repeats, times in the one stored format, a missing field its empty
/// value. Equal meanings are stored as equal values, so the fold of a chain and its row agree.
pub(crate) fn normalize(decl: &KindDecl, content: &mut Fields) {
    content.retain(|name, _| name == "deleted_at" || decl.has_field(name));
    for field in decl.fields {
        let value = content.entry(field.name).or_insert(Value::Null);
        normalize_value(field, value);
    }
}

fn normalize_value(field: &FieldDecl, value: &mut Value) {
    match (field.ty, &mut *value) {
        (FieldType::TextList, Value::Null) => *value = Value::Array(Vec::new()),
        (FieldType::Bool, Value::Null) => *value = Value::Bool(false),
        (FieldType::TextList, Value::Array(items)) => {
            let mut seen = Vec::with_capacity(items.len());
            for item in items.drain(..) {
                let item = match item {
                    Value::String(s) => Value::String(s.trim().to_owned()),
                    other => other,
                };
                if item.as_str() != Some("") && !seen.contains(&item) {
                    seen.push(item);
                }
            }
            *items = seen;
        }
        (FieldType::Time, Value::String(text)) => {
            if let Ok(t) = Timestamp::parse(text.trim()) {
                *text = t.to_string();
            }
        }
        (FieldType::Text { .. } | FieldType::Choice { .. } | FieldType::Date | FieldType::Id, Value::String(text)) => {
            let trimmed = text.trim();
            if trimmed.len() != text.len() {
                *text = trimmed.to_owned();
            }
        }
        (FieldType::LongText { .. }, Value::String(text)) => {
            let trimmed = text.trim_end();
            if trimmed.len() != text.len() {
                *text = trimmed.to_owned();
            }
        }
        _ => {}
    }
}

/// Pushes every problem the record alone shows onto `problems`: each field's type, the required
/// fields, lengths, choices, and a derived id.
pub(crate) fn validate_alone(decl: &KindDecl, id: Uuid, content: &Fields, problems: &mut Vec<FieldError>) {
    for field in decl.fields {
        let value = content.get(field.name).unwrap_or(&Value::Null);
        if let Some(problem) = value_problem(field, value) {
            problems.push(FieldError::new(field.name, problem));
        }
    }
    if let IdRule::Derived { owner, name } = decl.id {
        let owner_id = content.get(owner).and_then(Value::as_str).and_then(|t| Uuid::parse_str(t).ok());
        let name_text = content.get(name).and_then(Value::as_str);
        if let (Some(owner_id), Some(name_text)) = (owner_id, name_text) {
            let kind: Option<RecordKind> = decl.name.parse().ok();
            if kind.is_some_and(|k| derived_id(k, owner_id, name_text) != id) {
                problems.push(FieldError::new("id", format!("must be the id derived from its {owner} and {name}")));
            }
        }
    }
}

/// What is wrong with `value` as `field`, if anything.
fn value_problem(field: &FieldDecl, value: &Value) -> Option<String> {
    if value.is_null() || value.as_str().is_some_and(str::is_empty) {
        return field.required.then(|| "is required".to_owned());
    }
    let text = value.as_str();
    match field.ty {
        FieldType::Text { max } | FieldType::LongText { max } => match text {
            None => Some("must be text".to_owned()),
            Some(t) if t.chars().count() > max => Some(format!("is longer than {max} characters")),
            Some(t) if matches!(field.ty, FieldType::Text { .. }) && t.contains(['\n', '\r']) => {
                Some("must be one line".to_owned())
            }
            Some(_) => None,
        },
        FieldType::Integer => value.as_i64().is_none().then(|| "must be a whole number".to_owned()),
        FieldType::Money => {
            value.as_i64().is_none().then(|| "must be an amount in cents, a whole number (12.50 is 1250)".to_owned())
        }
        FieldType::Bool => (!value.is_boolean()).then(|| "must be true or false".to_owned()),
        FieldType::Date => match text.map(|t| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")) {
            Some(Ok(_)) => None,
            _ => Some("must be a date, such as 2026-12-24".to_owned()),
        },
        FieldType::Time => match text.map(Timestamp::parse) {
            Some(Ok(_)) => None,
            _ => Some("must be a time, such as 2026-12-24T09:30:00Z".to_owned()),
        },
        FieldType::Id => match text.map(Uuid::parse_str) {
            Some(Ok(_)) => None,
            _ => Some("must be the id of a record".to_owned()),
        },
        FieldType::Choice { values } => match text {
            Some(t) if values.contains(&t) => None,
            _ => Some(format!("must be one of: {}", values.join(", "))),
        },
        FieldType::TextList => match value.as_array() {
            Some(items) if items.iter().all(Value::is_string) => None,
            _ => Some("must be a list of texts".to_owned()),
        },
        FieldType::Json => None,
    }
}

/// Pushes every problem that needs the rest of the store onto `problems`: a record on a case
/// needs a live case, and no other live record may have the same unique fields.
pub(crate) fn validate(
    decl: &KindDecl,
    id: Uuid,
    content: &Fields,
    conn: &Connection,
    problems: &mut Vec<FieldError>,
) -> Result<()> {
    let live = content.get("deleted_at").is_none_or(Value::is_null);
    if decl.scope == Scope::Case && live {
        if let Some(case_id) = content.get("case_id").and_then(Value::as_str) {
            match query_opt::<Option<String>>(conn, "SELECT deleted_at FROM cases WHERE id = ?1", [case_id])? {
                None => problems.push(FieldError::new("case_id", "names no case on this workstation")),
                Some(Some(_)) => problems.push(FieldError::new("case_id", "names a deleted case")),
                Some(None) => {}
            }
        }
    }
    if !decl.unique.is_empty() && live {
        let mut clause: Vec<String> =
            decl.unique.iter().enumerate().map(|(i, f)| format!("{f} = ?{}", i + 2)).collect();
        clause.push("id <> ?1 AND deleted_at IS NULL".to_owned());
        let mut values = vec![SqlValue::Text(id.to_string())];
        values.extend(decl.unique.iter().map(|f| match content.get(*f) {
            Some(Value::String(s)) => SqlValue::Text(s.clone()),
            Some(Value::Number(n)) => n.as_i64().map_or(SqlValue::Null, SqlValue::Integer),
            Some(Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
            _ => SqlValue::Null,
        }));
        // Only a record that takes these values now (made, restored, or changed to them) is
        // refused: two workstations may each have made one offline, and neither must then become
        // impossible to change.
        let unchanged: Vec<String> =
            decl.unique.iter().enumerate().map(|(i, f)| format!("{f} IS ?{}", i + 2)).collect();
        let sql = format!(
            "SELECT id FROM {table} WHERE {} \
             AND NOT EXISTS (SELECT 1 FROM {table} WHERE id = ?1 AND deleted_at IS NULL AND {}) LIMIT 1",
            clause.join(" AND "),
            unchanged.join(" AND "),
            table = decl.table
        );
        let other: Option<String> = conn.prepare_cached(&sql)?.query_row(params_from_iter(values), |r| r.get(0)).ok();
        if let Some(other) = other {
            let named: Vec<String> = decl
                .unique
                .iter()
                .map(|f| content.get(*f).and_then(Value::as_str).map_or_else(|| (*f).to_owned(), str::to_owned))
                .collect();
            let short = Uuid::parse_str(&other).map(crate::short_id).unwrap_or(other);
            problems.push(FieldError::new(
                decl.unique[0],
                format!("the {} {} exists already ({short}): change that one instead", decl.label, named.join(" ")),
            ));
        }
    }
    Ok(())
}

/// The record of `kind` with this id, deleted or not, as fields.
pub(crate) fn load(conn: &Connection, kind: RecordKind, id: Uuid) -> Result<Option<Stored<Fields>>> {
    Ok(load_raw(conn, kind, id)?.map(|(row, mut content)| {
        content.remove("deleted_at");
        row.with(content)
    }))
}

fn current(conn: &Connection, kind: RecordKind, id: Uuid, base_version: Option<u32>) -> Result<Stored<Fields>> {
    let stored = load(conn, kind, id)?.ok_or_else(|| Error::NotFound { kind, key: id.to_string() })?;
    if let Some(base) = base_version {
        if base != stored.version {
            return Err(Error::StaleBase { kind, id, base, current: stored.version });
        }
    }
    Ok(stored)
}

/// The record without the fields its kind hides.
fn shown(decl: &KindDecl, mut record: Stored<Fields>) -> Stored<Fields> {
    for field in decl.fields.iter().filter(|f| f.hidden) {
        record.record.remove(field.name);
    }
    record
}

/// Refuses to write a kind that has typed code: its own commands keep its rules.
fn writable(kind: RecordKind) -> Result<()> {
    if is_typed(kind) {
        return Err(Error::Input(format!(
            "{} are changed with their own commands (see `labdesk --help`), which keep their rules; \
             `labdesk records` changes the kinds that have none",
            kind.decl().plural
        )));
    }
    Ok(())
}

/// Refuses fields the kind does not have, naming the ones it has.
fn known_fields(kind: RecordKind, fields: &Fields) -> Result<()> {
    let decl = kind.decl();
    let problems: Vec<FieldError> = fields
        .keys()
        .filter(|name| *name != "deleted_at" && !decl.has_field(name))
        .map(|name| {
            let names: Vec<&str> = decl.fields.iter().filter(|f| !f.hidden).map(|f| f.name).collect();
            FieldError::new(name, format!("is not a field; the fields are: {}", names.join(", ")))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(kind, problems))
    }
}

/// Refuses a change to a record that was submitted and so can only be superseded.
fn changeable(kind: RecordKind, content: &Fields) -> Result<()> {
    let decl = kind.decl();
    if let Some(submitted) = decl.submitted {
        let state = content.get(submitted.field).and_then(Value::as_str).unwrap_or_default();
        if !submitted.open.contains(&state) {
            return Err(Error::Input(format!(
                "this {} is {state} and can no longer change: correct it with a new one that supersedes it",
                decl.label
            )));
        }
    }
    Ok(())
}

/// Checks `next` (content and `deleted_at`) and writes it as record `id`'s new state.
fn write(
    tx: &Connection,
    actor: &Actor,
    kind: RecordKind,
    id: Uuid,
    prev: Option<&Stored<Fields>>,
    mut next: Fields,
) -> Result<Written<Fields>> {
    let mut problems = Vec::new();
    check_content(kind, id, &mut next, Some(tx), &mut problems)?;
    if !problems.is_empty() {
        return Err(Error::invalid(kind, problems));
    }
    let prev_state = prev.map(|p| with_deleted(p.record.clone(), p.deleted_at));
    let prev_row = prev.map(Stored::bookkeeping);
    let before = prev_row.as_ref().zip(prev_state.as_ref());
    match commit_fields(tx, actor, kind, id, before, &next, &[], Vec::new())? {
        Some((row, revision)) => {
            next.remove("deleted_at");
            Ok(Written { record: row.with(next), revision: Some(revision) })
        }
        None => {
            Ok(Written { record: prev.cloned().ok_or_else(|| Error::Corrupt("nothing made".into()))?, revision: None })
        }
    }
}

fn with_deleted(mut content: Fields, deleted_at: Option<Timestamp>) -> Fields {
    content.insert("deleted_at".into(), deleted_at.map_or(Value::Null, |t| Value::String(t.to_string())));
    content
}

/// The id a new record of `kind` with these fields gets.
fn new_id(kind: RecordKind, fields: &Fields) -> Result<Uuid> {
    match kind.decl().id {
        IdRule::Fresh => Ok(Uuid::now_v7()),
        IdRule::Derived { owner, name } => {
            let owner_id = fields.get(owner).and_then(Value::as_str).and_then(|t| Uuid::parse_str(t).ok());
            let name_text = fields.get(name).and_then(Value::as_str);
            match (owner_id, name_text) {
                (Some(o), Some(n)) => Ok(derived_id(kind, o, n.trim())),
                _ => Err(Error::one(kind, if owner_id.is_none() { owner } else { name }, "is required")),
            }
        }
    }
}

impl Store {
    /// Records of `kind` that match `filter`, most recently changed first. Hidden fields (a
    /// case's share key) are left out: what is read here is shown and printed.
    pub fn records(&self, kind: RecordKind, filter: &RecordFilter) -> Result<Vec<Stored<Fields>>> {
        let decl = kind.decl();
        let mut clause = Vec::new();
        let mut values: Vec<SqlValue> = Vec::new();
        if !filter.include_deleted {
            clause.push("deleted_at IS NULL".to_owned());
        }
        for (name, value) in &filter.fields {
            if !decl.has_field(name) {
                let names: Vec<&str> = decl.field_names().collect();
                return Err(Error::Input(format!(
                    "{} have no field {name}; their fields are: {}",
                    decl.plural,
                    names.join(", ")
                )));
            }
            values.push(SqlValue::Text(value.clone()));
            clause.push(format!("{name} = ?{}", values.len()));
        }
        if let Some(text) = filter.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let searched: Vec<&str> = decl
                .fields
                .iter()
                .filter(|f| {
                    !f.hidden
                        && matches!(
                            f.ty,
                            FieldType::Text { .. } | FieldType::LongText { .. } | FieldType::Choice { .. }
                        )
                })
                .map(|f| f.name)
                .collect();
            for word in text.split_whitespace() {
                values.push(SqlValue::Text(format!("%{}%", word.replace(['%', '_'], ""))));
                let n = values.len();
                let any: Vec<String> = searched.iter().map(|f| format!("{f} LIKE ?{n}")).collect();
                clause.push(format!("({})", if any.is_empty() { "0".to_owned() } else { any.join(" OR ") }));
            }
        }
        if clause.is_empty() {
            clause.push("1".to_owned());
        }
        let limit = if filter.limit == 0 { 500 } else { filter.limit };
        let ids: Vec<String> = {
            let sql = format!(
                "SELECT id FROM {} WHERE {} ORDER BY updated_at DESC, seq DESC LIMIT {limit}",
                decl.table,
                clause.join(" AND ")
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(values), |r| r.get(0))?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let id = record::parse_uuid(&id, "record id")?;
            out.extend(load(&self.conn, kind, id)?.map(|r| shown(decl, r)));
        }
        Ok(out)
    }

    /// The record of `kind` that `key` names (its id, or the end of it), deleted or not, without
    /// its hidden fields.
    pub fn record(&self, kind: RecordKind, key: &str) -> Result<Stored<Fields>> {
        let id = self.find_record_id(key, Some(kind))?;
        let found = load(&self.conn, kind, id)?.ok_or_else(|| Error::NotFound { kind, key: key.to_owned() })?;
        Ok(shown(kind.decl(), found))
    }

    /// Makes a record of a declared kind from its fields (what is left out is empty).
    pub fn create_record(&mut self, kind: RecordKind, fields: Fields) -> Result<Written<Fields>> {
        writable(kind)?;
        known_fields(kind, &fields)?;
        self.write(|tx, actor| {
            let mut fields = fields;
            fields.remove("deleted_at");
            let id = new_id(kind, &fields)?;
            if load(tx, kind, id)?.is_some() {
                let label = kind.decl().label;
                return Err(Error::Input(format!(
                    "this {label} exists already ({}): change it instead",
                    crate::short_id(id)
                )));
            }
            write(tx, actor, kind, id, None, fields)
        })
    }

    /// Sets fields of a live record of a declared kind; `base_version` is the version the change
    /// was made on, when the caller has one (a form), so that a change made meanwhile is not lost.
    pub fn edit_record(
        &mut self,
        kind: RecordKind,
        key: &str,
        base_version: Option<u32>,
        patch: Fields,
    ) -> Result<Written<Fields>> {
        writable(kind)?;
        let id = self.find_record_id(key, Some(kind))?;
        self.write(|tx, actor| {
            let prev = current(tx, kind, id, base_version)?;
            if prev.is_deleted() {
                return Err(Error::Deleted { kind, id });
            }
            record::patchable(kind, &patch)?;
            changeable(kind, &prev.record)?;
            let mut next = prev.record.clone();
            next.extend(patch);
            next.insert("deleted_at".into(), Value::Null);
            write(tx, actor, kind, id, Some(&prev), next)
        })
    }

    /// Soft-deletes (`deleted`) or restores a record of a declared kind. Nothing is removed: its
    /// history stays, and a restore brings it back as it was.
    pub fn delete_record(
        &mut self,
        kind: RecordKind,
        key: &str,
        base_version: Option<u32>,
        deleted: bool,
    ) -> Result<Written<Fields>> {
        writable(kind)?;
        let id = self.find_record_id(key, Some(kind))?;
        self.write(|tx, actor| {
            let prev = current(tx, kind, id, base_version)?;
            changeable(kind, &prev.record)?;
            let deleted_at = match (deleted, prev.deleted_at) {
                (true, Some(at)) => Some(at),
                (true, None) => Some(Timestamp::now()),
                (false, _) => None,
            };
            let next = with_deleted(prev.record.clone(), deleted_at);
            write(tx, actor, kind, id, Some(&prev), next)
        })
    }
}

/// Settles the conflicts of a record of a declared kind (see `record::settle`).
pub(crate) fn settle(
    tx: &Connection,
    actor: &Actor,
    kind: RecordKind,
    id: Uuid,
    picks: Fields,
    resolves: Vec<Uuid>,
) -> Result<Option<crate::Revision>> {
    let prev = current(tx, kind, id, None)?;
    let prev_state = with_deleted(prev.record.clone(), prev.deleted_at);
    record::settleable(kind, &prev_state, &picks)?;
    let mut next = prev_state.clone();
    next.extend(picks.clone());
    let live = next.get("deleted_at").is_none_or(Value::is_null);
    let mut problems = Vec::new();
    // A deleted record is kept as it was; only a live one must pass its kind's rules.
    check_content(kind, id, &mut next, live.then_some(tx), &mut problems)?;
    if live && !problems.is_empty() {
        return Err(Error::invalid(kind, problems));
    }
    let row: Bookkeeping = prev.bookkeeping();
    let confirmed: Vec<String> = picks.keys().cloned().collect();
    Ok(commit_fields(tx, actor, kind, id, Some((&row, &prev_state)), &next, &confirmed, resolves)?.map(|(_, r)| r))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// The declarations as the desktop app's test backend reads them (`ui/src/bindings/kinds.json`),
    /// written beside the TypeScript bindings, so that the check for stale bindings covers them.
    #[cfg(feature = "ts")]
    #[test]
    fn export_bindings_kinds_json() {
        // .cargo/config.toml sets it, as an absolute path, for every cargo command.
        let dir = std::env::var_os("TS_RS_EXPORT_DIR").map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/bindings"),
            std::path::PathBuf::from,
        );
        std::fs::create_dir_all(&dir).unwrap();
        let text = serde_json::to_string_pretty(&super::KindInfo::all()).unwrap() + "\n";
        std::fs::write(dir.join("kinds.json"), text).unwrap();
    }

    use super::*;
    use crate::test_support::store;

    fn fields(value: Value) -> Fields {
        record::object(value)
    }

    #[test]
    fn a_lab_setting_is_made_changed_deleted_and_restored_with_its_history() {
        let mut s = store();
        let made =
            s.create_record(RecordKind::Setting, fields(json!({"key": " opening_hours ", "value": "8-17"}))).unwrap();
        assert_eq!(made.record.record["key"], "opening_hours", "texts are stored trimmed");
        assert_eq!(made.record.record["description"], Value::Null, "a field left out is stored empty");
        let key = made.record.id.to_string();
        let edited = s.edit_record(RecordKind::Setting, &key, Some(1), fields(json!({"value": "7-18"}))).unwrap();
        assert_eq!(edited.record.version, 2);
        let unchanged = s.edit_record(RecordKind::Setting, &key, Some(2), fields(json!({"value": "7-18"}))).unwrap();
        assert!(unchanged.revision.is_none(), "saving an untouched form makes no revision");
        s.delete_record(RecordKind::Setting, &key, Some(2), true).unwrap();
        assert!(s.records(RecordKind::Setting, &RecordFilter::default()).unwrap().is_empty());
        let restored = s.delete_record(RecordKind::Setting, &key, Some(3), false).unwrap();
        assert_eq!(restored.record.record["value"], "7-18", "a restore brings it back as it was");
        assert_eq!(s.history(made.record.id).unwrap().len(), 4);
        let report = s.check(false).unwrap();
        assert!(report.is_ok(), "the row equals its chain folded: {:?}", report.problems);
    }

    #[test]
    fn a_setting_with_bad_fields_is_refused_with_every_problem_and_nothing_is_stored() {
        let mut s = store();
        let long = "x".repeat(101);
        let err = s
            .create_record(RecordKind::Setting, fields(json!({"key": long, "description": "two\nlines"})))
            .unwrap_err();
        let Error::Invalid(invalid) = err else { panic!("a field error, not {err}") };
        let named: Vec<&str> = invalid.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(named, ["key", "description"], "every bad field is named at once");
        assert!(s.records(RecordKind::Setting, &RecordFilter::default()).unwrap().is_empty());
        let err = s.create_record(RecordKind::Setting, fields(json!({"value": "x"}))).unwrap_err();
        assert!(err.to_string().contains("key: is required"), "{err}");
    }

    #[test]
    fn a_second_live_setting_with_the_same_key_is_refused_and_names_the_first() {
        let mut s = store();
        let first = s.create_record(RecordKind::Setting, fields(json!({"key": "tax_rate", "value": "8"}))).unwrap();
        let err = s.create_record(RecordKind::Setting, fields(json!({"key": "tax_rate", "value": "9"}))).unwrap_err();
        assert!(err.to_string().contains(&crate::short_id(first.record.id)), "it names the one there is: {err}");
        s.delete_record(RecordKind::Setting, &first.record.id.to_string(), None, true).unwrap();
        let second = s
            .create_record(RecordKind::Setting, fields(json!({"key": "tax_rate", "value": "9"})))
            .expect("a deleted setting's key is free again");
        let err = s.delete_record(RecordKind::Setting, &first.record.id.to_string(), None, false).unwrap_err();
        assert!(
            err.to_string().contains(&crate::short_id(second.record.id)),
            "a restore cannot repeat a live key: {err}"
        );
    }

    #[test]
    fn a_field_the_kind_does_not_have_is_refused_at_creation_too() {
        let mut s = store();
        let err = s.create_record(RecordKind::Setting, fields(json!({"key": "k", "colour": "red"}))).unwrap_err();
        assert!(err.to_string().contains("colour: is not a field; the fields are: key, value, description"), "{err}");
    }

    #[test]
    fn fixed_fields_and_unknown_fields_cannot_be_edited() {
        let mut s = store();
        let made = s.create_record(RecordKind::Setting, fields(json!({"key": "k"}))).unwrap();
        let key = made.record.id.to_string();
        let err = s.edit_record(RecordKind::Setting, &key, None, fields(json!({"key": "other"}))).unwrap_err();
        assert!(err.to_string().contains("cannot be changed"), "{err}");
        let err = s.edit_record(RecordKind::Setting, &key, None, fields(json!({"colour": "red"}))).unwrap_err();
        assert!(err.to_string().contains("the fields are: value, description"), "{err}");
    }

    #[test]
    fn kinds_with_their_own_commands_are_read_here_but_not_written() {
        let mut s = store();
        s.create_case(crate::test_support::fields(json!({"patient_name": "Ada"}))).unwrap();
        let cases =
            s.records(RecordKind::Case, &RecordFilter { text: Some("ada".into()), ..Default::default() }).unwrap();
        assert_eq!(cases.len(), 1, "every kind can be listed and filtered");
        assert!(!cases[0].record.contains_key("secret_key"), "a hidden field does not leave the core");
        let err = s.create_record(RecordKind::Case, fields(json!({"patient_name": "Bo"}))).unwrap_err();
        assert!(err.to_string().contains("own commands"), "{err}");
    }
}
