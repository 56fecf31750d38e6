//! A lab's review state in one comparable form, shared by the core's sync tests (against the
//! fake central store) and the end-to-end tests (against PostgreSQL), which include this file.
#![allow(clippy::unwrap_used, dead_code)]

use std::collections::BTreeSet;

use labdesk_core::Store;
use serde_json::Value;
use uuid::Uuid;

/// One unresolved dispute, in a form every side can be compared in: which record and field, the
/// kept and the proposed value (as canonical JSON text: keys sorted), and the change that
/// proposed it with its author and workstation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dispute {
    pub record: Uuid,
    pub field: String,
    pub kept: String,
    pub proposed: String,
    pub revision: Uuid,
    pub proposed_by: String,
}

impl Dispute {
    pub fn new(
        record: Uuid,
        field: &str,
        kept: &Value,
        proposed: &Value,
        revision: Uuid,
        author: &str,
        workstation: &str,
    ) -> Self {
        Self {
            record,
            field: field.to_owned(),
            kept: canonical_json(kept),
            proposed: canonical_json(proposed),
            revision,
            proposed_by: format!("{author}@{workstation}"),
        }
    }
}

/// A lab's review state: the records that need review and every unresolved dispute. Part of what
/// "everyone converges" covers: once all have synced, every workstation's equals the central one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewState {
    pub needs_review: BTreeSet<Uuid>,
    pub disputes: BTreeSet<Dispute>,
}

/// JSON text with every object's keys sorted, so equal values compare equal as text.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// A workstation's review state, as it lists it (`Store::conflicts`, what `labdesk conflicts`
/// and the desktop's review screen show), checked against its own count of records to review.
pub fn review_state(store: &Store) -> ReviewState {
    let mut review = ReviewState::default();
    for record in store.conflicts().unwrap() {
        review.needs_review.insert(record.record_id);
        for d in &record.disputes {
            review.disputes.insert(Dispute::new(
                record.record_id,
                &d.field,
                &d.kept,
                &d.proposed,
                d.revision_id,
                &d.proposed_by,
                &d.proposed_workstation,
            ));
        }
    }
    let counted = store.sync_state().unwrap().needs_review;
    assert_eq!(counted as usize, review.needs_review.len(), "the status bar counts the records the review lists");
    review
}
