//! The record rules the central store checks on every pushed revision: the workstation's own
//! (`labdesk_core::check_state`), so that a rule is said once and a record the central store
//! accepts is one every workstation's store can keep.

use std::sync::Arc;

use labdesk_proto::RecordKind;
use labdesk_server_database::RecordRules;
use serde_json::{Map, Value};
use uuid::Uuid;

/// [`RecordRules`] by `labdesk-core`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoreRules;

impl RecordRules for CoreRules {
    fn check(&self, kind: RecordKind, id: Uuid, state: &Map<String, Value>) -> Result<(), String> {
        labdesk_core::check_state(kind, id, state).map_err(|e| {
            let problems: Vec<String> = e.field_errors().iter().map(ToString::to_string).collect();
            let problems = if problems.is_empty() { e.to_string() } else { problems.join("; ") };
            format!(
                "the {} {id} would break a rule every workstation keeps ({problems}): \
                 it cannot be stored; correct it and save it again",
                kind.label()
            )
        })
    }
}

/// The rules a server checks: [`CoreRules`].
pub fn record_rules() -> Arc<dyn RecordRules> {
    Arc::new(CoreRules)
}
