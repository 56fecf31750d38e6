//! History and the outbox: who changed what and when, and what is waiting to be sent.

use std::collections::HashMap;

use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::record::{attached_record_ids, chain, query_opt, read_revisions};
use crate::{RecordKind, Revision, Store, Timestamp};

/// How many hex digits of an id are shown and typed as its short form.
pub const SHORT_ID_LEN: usize = 8;

/// A record's id as people read and type it: its last 8 hex digits. A UUIDv7 starts with the
/// millisecond it was made, so records made in the same second share their first digits; its end
/// is random (and a derived UUIDv5 is a hash throughout).
pub fn short_id(id: Uuid) -> String {
    let hex = id.simple().to_string();
    hex[hex.len() - SHORT_ID_LEN..].to_owned()
}

/// The first words of a text, for a label: at most `max` characters, cut at a word.
fn first_words(text: &str, max: usize) -> String {
    let flat: Vec<&str> = text.split_whitespace().collect();
    let mut out = String::new();
    for word in flat {
        let len = out.chars().count() + usize::from(!out.is_empty()) + word.chars().count();
        if len > max {
            if out.is_empty() {
                out = word.chars().take(max).collect();
            }
            out.push('…');
            return out;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// What a person knows a record by, from its fields: the first of its declared title fields that
/// is set (a case's number, a meta value's key, a file's name), a long text by its first words,
/// quoted (a message, a note).
pub fn record_label(kind: RecordKind, state: &Map<String, Value>) -> String {
    let decl = kind.decl();
    for name in decl.title {
        let text = state.get(*name).and_then(Value::as_str).unwrap_or_default();
        if text.is_empty() {
            continue;
        }
        return match decl.field(name).map(|f| f.ty) {
            Some(labdesk_proto::FieldType::LongText { .. }) => format!("\"{}\"", first_words(text, 40)),
            _ => text.to_owned(),
        };
    }
    String::new()
}

/// A field a revision proposed that did not take, because another change had set it first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RevisionConflict {
    pub field: String,
    /// The value that stayed.
    pub kept: Value,
    /// The value this revision proposed.
    pub proposed: Value,
    /// A person has settled it (`labdesk resolve`).
    pub resolved: bool,
}

fn revision_conflicts(conn: &Connection, revision: Uuid) -> Result<Vec<RevisionConflict>> {
    let mut stmt = conn.prepare_cached(
        "SELECT field, kept, proposed, resolved_by IS NOT NULL FROM conflicts WHERE revision_id = ?1 ORDER BY field",
    )?;
    let rows: Vec<(String, String, String, bool)> = stmt
        .query_map(params![revision.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(field, kept, proposed, resolved)| {
            let parse = |text: &str| {
                serde_json::from_str(text)
                    .map_err(|_| Error::Corrupt(format!("a conflict's value is not JSON: {text}")))
            };
            Ok(RevisionConflict { field, kept: parse(&kept)?, proposed: parse(&proposed)?, resolved })
        })
        .collect()
}

/// The case number of the case a record belongs to (from its `case_id` field), or its own.
fn case_number_of(conn: &Connection, kind: RecordKind, state: &Map<String, Value>) -> Result<Option<String>> {
    if kind == RecordKind::Case {
        return Ok(state.get("case_number").and_then(Value::as_str).map(str::to_owned));
    }
    let Some(case_id) = state.get("case_id").and_then(Value::as_str) else { return Ok(None) };
    query_opt(conn, "SELECT case_number FROM cases WHERE id = ?1", params![case_id])
}

/// One field a revision changed, with its value before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FieldChange {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

/// A revision, with what it changed spelled out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HistoryEntry {
    #[serde(flatten)]
    pub revision: Revision,
    pub changes: Vec<FieldChange>,
    /// What a person knows the record by once this revision is made ([`record_label`]).
    pub label: String,
    /// The record's short id ([`short_id`]), which commands also accept.
    pub short_id: String,
    /// The fields this revision proposed that another change had set first: kept and proposed.
    pub conflicts: Vec<RevisionConflict>,
}

/// Spells out a chain (one record's revisions in version order).
fn entries(conn: &Connection, chain: Vec<Revision>) -> Result<Vec<HistoryEntry>> {
    let mut state: Map<String, Value> = Map::new();
    chain
        .into_iter()
        .map(|revision| {
            let changes = revision
                .fields
                .iter()
                .map(|(field, after)| FieldChange {
                    field: field.clone(),
                    before: state.get(field).cloned().unwrap_or(Value::Null),
                    after: after.clone(),
                })
                .collect();
            for (k, v) in &revision.fields {
                state.insert(k.clone(), v.clone());
            }
            let conflicts = revision_conflicts(conn, revision.id)?;
            let label = record_label(revision.record_kind, &state);
            Ok(HistoryEntry { short_id: short_id(revision.record_id), revision, changes, label, conflicts })
        })
        .collect()
}

/// A revision waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct OutboxEntry {
    pub seq: i64,
    /// Pushes tried without an answer.
    pub attempts: i64,
    /// Why the last push got no answer (the server was away, ...).
    pub last_error: Option<String>,
    pub enqueued_at: Timestamp,
    pub revision: Revision,
    /// What a person knows the record by ([`record_label`]), as it is now.
    pub label: String,
    /// The record's short id ([`short_id`]).
    pub short_id: String,
    /// The case the record is or belongs to.
    pub case_number: Option<String>,
}

/// A file attached here whose contents have not gone up to the central store yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct WaitingFile {
    /// The SHA-256 of the contents.
    pub hash: String,
    /// The file's name (the first file attached with these contents).
    pub original_name: String,
    pub file_size: u64,
    /// The case it is attached to.
    pub case_number: Option<String>,
    pub added_at: Timestamp,
}

impl Store {
    /// The revision chain of any record, oldest first, each with what it changed.
    pub fn history(&self, record_id: Uuid) -> Result<Vec<HistoryEntry>> {
        let chain = chain(&self.conn, record_id)?;
        if chain.is_empty() {
            return Err(Error::NoRecord(record_id));
        }
        entries(&self.conn, chain)
    }

    /// Everything that happened to a case and the records attached to it, oldest first.
    pub fn case_history(&self, case_key: &str) -> Result<Vec<HistoryEntry>> {
        let id = crate::cases::resolve(&self.conn, case_key)?;
        let revisions = read_revisions(
            &self.conn,
            &format!("record_id = ?1 OR record_id IN ({}) ORDER BY record_id, version", attached_record_ids()),
            [id.to_string()],
        )?;
        let mut chains: HashMap<Uuid, Vec<Revision>> = HashMap::new();
        for revision in revisions {
            chains.entry(revision.record_id).or_default().push(revision);
        }
        let mut all: Vec<HistoryEntry> = Vec::new();
        for chain in chains.into_values() {
            all.extend(entries(&self.conn, chain)?);
        }
        all.sort_by_key(|e| (e.revision.made_at, e.revision.id));
        Ok(all)
    }

    /// The outbox, oldest first.
    pub fn outbox(&self, limit: u32) -> Result<Vec<OutboxEntry>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, attempts, last_error, enqueued_at, revision_id FROM outbox ORDER BY seq LIMIT ?1",
        )?;
        let rows: Vec<(i64, i64, Option<String>, String, String)> = stmt
            .query_map([limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
            .collect::<Result<_, _>>()?;
        // A record's name once per record: an outbox holds many changes of a few records.
        let mut names: HashMap<Uuid, (String, Option<String>)> = HashMap::new();
        rows.into_iter()
            .map(|(seq, attempts, last_error, enqueued_at, revision_id)| {
                let revision = read_revisions(&self.conn, "id = ?1", [&revision_id])?
                    .pop()
                    .ok_or_else(|| Error::Corrupt(format!("outbox entry {seq} has no revision")))?;
                let (label, case_number) = match names.get(&revision.record_id) {
                    Some(name) => name.clone(),
                    None => {
                        let state = crate::record::fold(&chain(&self.conn, revision.record_id)?);
                        let name = (
                            record_label(revision.record_kind, &state),
                            case_number_of(&self.conn, revision.record_kind, &state)?,
                        );
                        names.insert(revision.record_id, name.clone());
                        name
                    }
                };
                Ok(OutboxEntry {
                    seq,
                    attempts,
                    last_error,
                    enqueued_at: Timestamp::parse(&enqueued_at).map_err(|e| Error::Corrupt(e.to_string()))?,
                    label,
                    short_id: short_id(revision.record_id),
                    case_number,
                    revision,
                })
            })
            .collect()
    }

    /// The files attached here whose contents wait to go up, oldest first.
    pub fn waiting_files(&self) -> Result<Vec<WaitingFile>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT b.hash, b.added_at, \
                    (SELECT f.original_name FROM files f WHERE f.hash = b.hash ORDER BY f.upload_date, f.id LIMIT 1), \
                    (SELECT f.file_size FROM files f WHERE f.hash = b.hash LIMIT 1), \
                    (SELECT c.case_number FROM files f JOIN cases c ON c.id = f.case_id WHERE f.hash = b.hash \
                      ORDER BY f.upload_date, f.id LIMIT 1) \
             FROM blob_outbox b ORDER BY b.added_at, b.hash",
        )?;
        type Row = (String, String, Option<String>, Option<i64>, Option<String>);
        let rows: Vec<Row> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(hash, added_at, name, size, case_number)| {
                Ok(WaitingFile {
                    original_name: name.unwrap_or_else(|| hash.clone()),
                    hash,
                    file_size: size.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    case_number,
                    added_at: Timestamp::parse(&added_at).map_err(|e| Error::Corrupt(e.to_string()))?,
                })
            })
            .collect()
    }

    /// Finds a record by its id as a person gives it: the whole UUID, or the end of it (its
    /// [`short_id`], as history and lists show). `kind` narrows the search to one kind.
    pub fn find_record_id(&self, text: &str, kind: Option<RecordKind>) -> Result<Uuid> {
        let text = text.trim();
        if let Ok(id) = Uuid::parse_str(text) {
            return Ok(id);
        }
        let what = kind.map_or("record", RecordKind::label);
        let hex = text.to_ascii_lowercase();
        if !(4..32).contains(&hex.len()) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Input(format!(
                "'{text}' is not a {what} id: give its short id (the {SHORT_ID_LEN} digits history and lists show) \
                 or its whole UUID"
            )));
        }
        // The id's end, as text: a UUID is stored as its hyphenated form, whose last group holds
        // the last 12 digits, so an end of up to 12 is matched on the stored text as it is (half
        // the cost of taking the hyphens out of every id first, on a store of a million changes).
        // A record whose creation the lab refused left `revisions` and is known by its refused
        // change only (a failed chat message, which a person retries by its short id).
        let mut stmt = self.conn.prepare_cached(
            "SELECT record_id FROM revisions WHERE substr(CASE WHEN length(?1) <= 12 THEN record_id \
             ELSE replace(record_id, '-', '') END, -length(?1)) = ?1 AND (?2 IS NULL OR record_kind = ?2) \
             UNION SELECT record_id FROM rejected_changes WHERE substr(replace(record_id, '-', ''), -length(?1)) = ?1 \
             AND (?2 IS NULL OR record_kind = ?2) LIMIT 2",
        )?;
        let found: Vec<String> =
            stmt.query_map(params![hex, kind.map(RecordKind::as_str)], |r| r.get(0))?.collect::<Result<_, _>>()?;
        match found.as_slice() {
            [one] => Uuid::parse_str(one).map_err(|_| Error::Corrupt(format!("a record id is not a UUID: {one}"))),
            [] => Err(match kind {
                Some(kind) => Error::NotFound { kind, key: text.to_owned() },
                None => Error::Input(format!("nothing in this store has an id ending in '{text}'")),
            }),
            _ => Err(Error::Input(format!(
                "more than one {what} has an id ending in '{text}': give more of its digits, or its whole UUID"
            ))),
        }
    }

    /// Roughly how many bytes the outbox takes to send: for a progress bar's total.
    pub(crate) fn outbox_size_estimate(&self) -> Result<u64> {
        // The fields, plus what every revision carries besides (ids, author, times, ...).
        let n: i64 = self.conn.query_row(
            "SELECT coalesce(sum(length(coalesce(r.proposed, r.fields)) + 330), 0) \
             FROM outbox o JOIN revisions r ON r.id = o.revision_id",
            [],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// How many changes wait to be sent.
    pub fn pending_count(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::test_support::{fields, store};
    use crate::{NewMessage, RecordKind, Stage, StageAction};

    #[test]
    fn history_shows_who_changed_what_from_what() {
        let mut s = store();
        let case = s.create_case(fields(json!({"patient_name": "P", "status": "received"}))).unwrap();
        s.set_user("bob");
        s.edit_case("FD1-000001", Some(1), fields(json!({"status": "milling", "priority": "rush"}))).unwrap();
        let h = s.history(case.id).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[1].revision.author, "bob");
        assert_eq!(h[1].revision.workstation, "FD1");
        let status = h[1].changes.iter().find(|c| c.field == "status").unwrap();
        assert_eq!((status.before.as_str(), status.after.as_str()), (Some("received"), Some("milling")));
        assert_eq!(h[0].revision.superseded_by, Some(h[1].revision.id), "the old head points at the new one");
        assert_eq!(h[1].revision.superseded_by, None);
    }

    #[test]
    fn case_history_includes_attached_records_and_the_outbox_holds_every_change_in_order() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        s.post_message("FD1-000001", NewMessage::text("hi")).unwrap();
        s.set_meta("FD1-000001", "patient_age", "30").unwrap();
        let h = s.case_history("FD1-000001").unwrap();
        let kinds: Vec<_> = h.iter().map(|e| e.revision.record_kind.as_str()).collect();
        assert_eq!(kinds, ["case", "chat_message", "case_meta"]);
        let outbox = s.outbox(100).unwrap();
        let ids: Vec<_> = outbox.iter().map(|o| o.revision.id).collect();
        let made: Vec<_> = h.iter().map(|e| e.revision.id).collect();
        assert_eq!(ids, made, "the outbox keeps the order changes were made in");
        assert_eq!(s.pending_count().unwrap(), 3);
    }

    #[test]
    fn two_messages_made_in_the_same_second_have_distinct_short_ids_that_find_them() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        let a = s.post_message("FD1-000001", NewMessage::text("first")).unwrap();
        let b = s.post_message("FD1-000001", NewMessage::text("second")).unwrap();
        let (sa, sb) = (super::short_id(a.id), super::short_id(b.id));
        assert_eq!(&a.id.to_string()[..8], &b.id.to_string()[..8], "UUIDv7s of one second share their start");
        assert_ne!(sa, sb, "the short id is taken from the random end, so it tells them apart");
        assert!(a.id.simple().to_string().ends_with(&sa), "{sa} is the end of {}", a.id);
        assert_eq!(s.find_record_id(&sa, Some(RecordKind::ChatMessage)).unwrap(), a.id, "the short id finds it");
        assert_eq!(s.find_record_id(&sb.to_uppercase(), None).unwrap(), b.id, "in capitals too, of any kind");
        assert_eq!(s.find_record_id(&a.id.to_string(), None).unwrap(), a.id, "the whole UUID still works");
        let err = s.find_record_id(&sa, Some(RecordKind::File)).unwrap_err();
        assert!(err.to_string().contains("no file matches"), "{err}");
        assert!(s.find_record_id("not-an-id", None).unwrap_err().to_string().contains("short id"));
    }

    #[test]
    fn history_names_each_record_as_a_person_knows_it() {
        let mut s = store();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        s.post_message("FD1-000001", NewMessage::text("Margin on 36 looks short — can you rescan it before milling?"))
            .unwrap();
        s.set_meta("FD1-000001", "patient_age", "30").unwrap();
        s.move_stage("FD1-000001", Stage::Design, StageAction::Start, None).unwrap();
        s.add_note("FD1-000001", "Call the dentist").unwrap();
        let labels: Vec<(RecordKind, String)> =
            s.case_history("FD1-000001").unwrap().into_iter().map(|e| (e.revision.record_kind, e.label)).collect();
        let label = |kind| labels.iter().find(|(k, _)| *k == kind).map(|(_, l)| l.as_str()).unwrap();
        assert_eq!(label(RecordKind::Case), "FD1-000001");
        assert_eq!(label(RecordKind::ChatMessage), "\"Margin on 36 looks short — can you…\"", "its first words");
        assert_eq!(label(RecordKind::CaseMeta), "patient_age");
        assert_eq!(label(RecordKind::WorkflowStage), "design");
        assert_eq!(label(RecordKind::CaseNote), "\"Call the dentist\"");
    }

    #[test]
    fn a_conflicted_revision_carries_the_kept_and_the_proposed_value() {
        let mut s = store();
        let case = s.create_case(fields(json!({"patient_name": "P", "status": "received"}))).unwrap();
        let edit = s.edit_case("FD1-000001", None, fields(json!({"priority": "rush"}))).unwrap();
        let revision = edit.revision.unwrap();
        // As sync records a proposal that did not take (sync/conflicts.rs).
        s.conn
            .execute(
                "INSERT INTO conflicts (revision_id, record_kind, record_id, field, kept, proposed, found_at) \
                 VALUES (?1, 'case', ?2, 'status', '\"milling\"', '\"qc\"', '2026-11-20T10:00:00.000Z')",
                rusqlite::params![revision.id.to_string(), case.id.to_string()],
            )
            .unwrap();
        let h = s.history(case.id).unwrap();
        let conflicts = &h[1].conflicts;
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert_eq!((conflicts[0].kept.as_str(), conflicts[0].proposed.as_str()), (Some("milling"), Some("qc")));
        assert!(!conflicts[0].resolved);
        assert!(h[0].conflicts.is_empty());
    }

    #[test]
    fn the_outbox_names_records_and_lists_file_contents_waiting_to_go_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = crate::Store::open(
            dir.path(),
            crate::OpenOptions { workstation: Some("FD1".into()), user: Some("ann".into()) },
        )
        .unwrap();
        s.create_case(fields(json!({"patient_name": "P"}))).unwrap();
        s.post_message("FD1-000001", NewMessage::text("hello bench")).unwrap();
        let scan = dir.path().join("upper jaw.stl");
        std::fs::write(&scan, b"solid jaw\nendsolid jaw\n").unwrap();
        s.attach_paths("FD1-000001", &[scan], None, &mut |_| {}).unwrap();
        let outbox = s.outbox(10).unwrap();
        let named: Vec<(&str, Option<&str>)> =
            outbox.iter().map(|o| (o.label.as_str(), o.case_number.as_deref())).collect();
        assert_eq!(
            named,
            [
                ("FD1-000001", Some("FD1-000001")),
                ("\"hello bench\"", Some("FD1-000001")),
                ("upper jaw.stl", Some("FD1-000001"))
            ]
        );
        let waiting = s.waiting_files().unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].original_name, "upper jaw.stl");
        assert_eq!(waiting[0].file_size, 23);
        assert_eq!(waiting[0].case_number.as_deref(), Some("FD1-000001"));
    }
}
