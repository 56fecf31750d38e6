//! History and the outbox: who changed what and when, and what is waiting to be sent.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::record::{chain, read_revisions, ATTACHED_RECORD_IDS};
use crate::{Revision, Store, Timestamp};

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
}

/// Spells out a chain (one record's revisions in version order).
fn entries(chain: Vec<Revision>) -> Vec<HistoryEntry> {
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
            HistoryEntry { revision, changes }
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
}

impl Store {
    /// The revision chain of any record, oldest first, each with what it changed.
    pub fn history(&self, record_id: Uuid) -> Result<Vec<HistoryEntry>> {
        let chain = chain(&self.conn, record_id)?;
        if chain.is_empty() {
            return Err(Error::NoRecord(record_id));
        }
        Ok(entries(chain))
    }

    /// Everything that happened to a case and the records attached to it, oldest first.
    pub fn case_history(&self, case_key: &str) -> Result<Vec<HistoryEntry>> {
        let id = crate::cases::resolve(&self.conn, case_key)?;
        let revisions = read_revisions(
            &self.conn,
            &format!("record_id = ?1 OR record_id IN ({ATTACHED_RECORD_IDS}) ORDER BY record_id, version"),
            [id.to_string()],
        )?;
        let mut chains: HashMap<Uuid, Vec<Revision>> = HashMap::new();
        for revision in revisions {
            chains.entry(revision.record_id).or_default().push(revision);
        }
        let mut all: Vec<HistoryEntry> = chains.into_values().flat_map(entries).collect();
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
        rows.into_iter()
            .map(|(seq, attempts, last_error, enqueued_at, revision_id)| {
                let revision = read_revisions(&self.conn, "id = ?1", [&revision_id])?
                    .pop()
                    .ok_or_else(|| Error::Corrupt(format!("outbox entry {seq} has no revision")))?;
                Ok(OutboxEntry {
                    seq,
                    attempts,
                    last_error,
                    enqueued_at: Timestamp::parse(&enqueued_at).map_err(|e| Error::Corrupt(e.to_string()))?,
                    revision,
                })
            })
            .collect()
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
    use crate::NewMessage;

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
}
