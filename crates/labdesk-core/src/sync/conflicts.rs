//! What sync asks a person to look at: conflicts to resolve, and changes the central store
//! refused.
//!
//! A **dispute** is one field of one record that two changes set to different values: the value
//! accepted first was kept, the other was proposed by the conflicted revision and stays in its
//! chain. A record with an unresolved dispute **needs review**. Resolving it is a normal change
//! (through the write path of its kind, so its rules hold) that sets the picked values and names
//! the conflicted revisions it settles in `resolves`; the central store clears its flag on it.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::kinds::with_record_type;
use crate::record::{self, attached_record_ids, parse_time, parse_uuid, read_revisions};
use crate::{RecordKind, Revision, Store, Timestamp};

/// A change the central store refused, kept to be shown to the person who made it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RejectedChange {
    pub revision_id: Uuid,
    pub record_kind: RecordKind,
    pub record_id: Uuid,
    /// What the change proposed.
    pub fields: Map<String, Value>,
    pub author: String,
    pub workstation: String,
    pub made_at: Timestamp,
    /// Why, in the server's words (or why it went with another refused change).
    pub reason: String,
    pub rejected_at: Timestamp,
}

/// One disputed field of a record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FieldDispute {
    pub field: String,
    /// The value that stayed (accepted first).
    pub kept: Value,
    /// Who set the kept value, on which workstation, when; `None` when the chain does not say
    /// (the value came with the record's creation on another workstation, for instance).
    pub kept_by: Option<String>,
    pub kept_workstation: Option<String>,
    pub kept_at: Option<Timestamp>,
    /// The value that did not take, and the change that proposed it.
    pub proposed: Value,
    pub revision_id: Uuid,
    pub proposed_by: String,
    pub proposed_workstation: String,
    pub proposed_at: Timestamp,
    /// The field's value now (a later change may have moved it on from `kept`).
    pub current: Value,
    pub found_at: Timestamp,
}

/// A record that needs review, with its disputed fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RecordConflicts {
    pub record_kind: RecordKind,
    pub record_id: Uuid,
    /// The case the record is (or belongs to), to find it by.
    pub case_id: Option<Uuid>,
    pub case_number: Option<String>,
    /// Oldest first.
    pub disputes: Vec<FieldDispute>,
}

struct Row {
    revision_id: String,
    kind: String,
    record_id: String,
    field: String,
    kept: String,
    proposed: String,
    found_at: String,
}

fn unresolved(conn: &Connection, clause: &str, params: impl rusqlite::Params) -> Result<Vec<Row>> {
    let sql = format!(
        "SELECT revision_id, record_kind, record_id, field, kept, proposed, found_at FROM conflicts \
         WHERE resolved_by IS NULL AND {clause} ORDER BY seq"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params, |r| {
            Ok(Row {
                revision_id: r.get(0)?,
                kind: r.get(1)?,
                record_id: r.get(2)?,
                field: r.get(3)?,
                kept: r.get(4)?,
                proposed: r.get(5)?,
                found_at: r.get(6)?,
            })
        })?
        .collect::<std::result::Result<_, _>>()?;
    Ok(rows)
}

fn json(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|_| Error::Corrupt(format!("a conflict value is not JSON: {text}")))
}

/// Groups conflict rows per record, with who made each value.
fn group(conn: &Connection, rows: Vec<Row>) -> Result<Vec<RecordConflicts>> {
    let mut by_record: BTreeMap<(String, String), Vec<Row>> = BTreeMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    for row in rows {
        let key = (row.kind.clone(), row.record_id.clone());
        if !by_record.contains_key(&key) {
            order.push(key.clone());
        }
        by_record.entry(key).or_default().push(row);
    }
    let mut out = Vec::with_capacity(order.len());
    for key in order {
        let rows = by_record.remove(&key).unwrap_or_default();
        let kind: RecordKind = key.0.parse().map_err(|e| Error::Corrupt(format!("{e}")))?;
        let record_id = parse_uuid(&key.1, "record id")?;
        let chain = read_revisions(conn, "record_id = ?1 ORDER BY version", params![key.1])?;
        let current = record::load_raw(conn, kind, record_id)?.map(|(_, state)| state).unwrap_or_default();
        let case_id = if kind == RecordKind::Case {
            Some(record_id)
        } else {
            current.get("case_id").and_then(Value::as_str).and_then(|c| Uuid::parse_str(c).ok())
        };
        let case_number: Option<String> = match case_id {
            Some(case) => record::query_opt(conn, "SELECT case_number FROM cases WHERE id = ?1", [case.to_string()])?,
            None => None,
        };
        let mut disputes = Vec::with_capacity(rows.len());
        for row in rows {
            let revision_id = parse_uuid(&row.revision_id, "conflicted revision")?;
            let at = chain.iter().position(|r| r.id == revision_id);
            let Some(proposer) = at.map(|i| &chain[i]) else {
                continue; // the check reports a conflict that names no revision
            };
            let setter = at.and_then(|i| chain[..i].iter().rev().find(|r| r.fields.contains_key(&row.field)));
            disputes.push(FieldDispute {
                kept: json(&row.kept)?,
                kept_by: setter.map(|r| r.author.clone()),
                kept_workstation: setter.map(|r| r.workstation.clone()),
                kept_at: setter.map(|r| r.made_at),
                proposed: json(&row.proposed)?,
                revision_id,
                proposed_by: proposer.author.clone(),
                proposed_workstation: proposer.workstation.clone(),
                proposed_at: proposer.made_at,
                current: current.get(&row.field).cloned().unwrap_or(Value::Null),
                found_at: parse_time(&row.found_at, "found_at")?,
                field: row.field,
            });
        }
        if !disputes.is_empty() {
            out.push(RecordConflicts { record_kind: kind, record_id, case_id, case_number, disputes });
        }
    }
    Ok(out)
}

/// The unresolved conflicts of a case and of the records attached to it.
pub(crate) fn case_conflicts(conn: &Connection, case_id: Uuid) -> Result<Vec<RecordConflicts>> {
    let rows = unresolved(
        conn,
        &format!("(record_id = ?1 OR record_id IN ({}))", attached_record_ids()),
        [case_id.to_string()],
    )?;
    group(conn, rows)
}

impl Store {
    /// Every record that needs review, with its disputed fields, oldest first.
    pub fn conflicts(&self) -> Result<Vec<RecordConflicts>> {
        let rows = unresolved(&self.conn, "1", [])?;
        group(&self.conn, rows)
    }

    /// The disputed fields of one record (`None` when it needs no review).
    pub fn record_conflicts(&self, record_id: Uuid) -> Result<Option<RecordConflicts>> {
        let rows = unresolved(&self.conn, "record_id = ?1", [record_id.to_string()])?;
        Ok(group(&self.conn, rows)?.pop())
    }

    /// Settles every unresolved conflict of a record with the values picked (field → value, in
    /// the record's JSON form; each disputed field must be picked, and only those). The result is
    /// a normal change, checked by the record kind's rules, that names the conflicted revisions it
    /// `resolves`; it is sent at the next sync like any other.
    #[tracing::instrument(skip(self, picks))]
    pub fn resolve(&mut self, record_id: Uuid, picks: Map<String, Value>) -> Result<Revision> {
        self.write(|tx, actor| {
            let rows = unresolved(tx, "record_id = ?1", [record_id.to_string()])?;
            let Some(first) = rows.first() else {
                return Err(Error::Input(format!("{record_id} has no conflicts to resolve")));
            };
            let kind: RecordKind = first.kind.parse().map_err(|e| Error::Corrupt(format!("{e}")))?;
            let mut missing: Vec<String> = Vec::new();
            let mut named: Vec<&str> = Vec::new();
            for row in &rows {
                if !picks.contains_key(&row.field) && !named.contains(&row.field.as_str()) {
                    named.push(&row.field);
                    missing.push(format!("{} (kept: {}, proposed: {})", row.field, row.kept, row.proposed));
                }
            }
            if !missing.is_empty() {
                return Err(Error::Input(format!(
                    "pick a value for every disputed field; missing: {}",
                    missing.join("; ")
                )));
            }
            let extra: Vec<&String> = picks.keys().filter(|k| !rows.iter().any(|r| &r.field == *k)).collect();
            if !extra.is_empty() {
                let disputed: Vec<&str> = rows.iter().map(|r| r.field.as_str()).collect();
                return Err(Error::Input(format!(
                    "only disputed fields can be picked here ({}); change the others with a normal edit: {}",
                    disputed.join(", "),
                    extra.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
            let mut resolves: Vec<Uuid> = Vec::new();
            for row in &rows {
                let id = parse_uuid(&row.revision_id, "conflicted revision")?;
                if !resolves.contains(&id) {
                    resolves.push(id);
                }
            }
            let revision =
                with_record_type!(kind, R => record::settle::<R>(tx, actor, record_id, picks, resolves)?.revision, _ => crate::declared::settle(tx, actor, kind, record_id, picks, resolves)?);
            let revision = revision.ok_or_else(|| Error::Corrupt("a resolution made no revision".into()))?;
            super::rebuild::settle_conflicts(tx, &revision)?;
            Ok(revision)
        })
    }

    /// Changes the central store refused, newest first.
    pub fn rejected_changes(&self) -> Result<Vec<RejectedChange>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT revision_id, record_kind, record_id, fields, author, workstation, made_at, reason, rejected_at \
             FROM rejected_changes ORDER BY rejected_at DESC, made_at DESC",
        )?;
        let rows: Vec<[String; 9]> = stmt
            .query_map([], |r| {
                Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?])
            })?
            .collect::<std::result::Result<_, _>>()?;
        rows.into_iter()
            .map(|[id, kind, record, fields, author, workstation, made_at, reason, rejected_at]| {
                Ok(RejectedChange {
                    revision_id: parse_uuid(&id, "revision id")?,
                    record_kind: kind.parse().map_err(|e| Error::Corrupt(format!("{e}")))?,
                    record_id: parse_uuid(&record, "record id")?,
                    fields: match json(&fields)? {
                        Value::Object(map) => map,
                        _ => Map::new(),
                    },
                    author,
                    workstation,
                    made_at: parse_time(&made_at, "made_at")?,
                    reason,
                    rejected_at: parse_time(&rejected_at, "rejected_at")?,
                })
            })
            .collect()
    }
}
