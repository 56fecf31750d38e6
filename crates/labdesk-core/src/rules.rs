//! The rules of one record that need nothing but the record: its fields read as its kind (every
//! column a store declares NOT NULL is there, every value has its type: the store's CHECKs on
//! sizes and flags follow), and each kind's rules that need nothing else (`Record::validate_alone`, or its declaration's) (lengths, formats, dates in
//! order, and the derived ids of meta values and stages). A local write checks them before it
//! commits; the central store checks them on the state a pushed revision leaves (`labdesk-sync`
//! hands [`check_state`] to the push path), so that a record pulled from it always fits a
//! workstation's store. ARCHITECTURE.md, "Rules every workstation's store keeps", lists each rule
//! of the store and where it is kept.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::kinds::check_content;
use crate::RecordKind;

/// Does `state` (a record's fields and `deleted_at`, as the central store folds them) make a
/// `kind` record with id `id` that every workstation's store can keep? The problems, by field,
/// as a local write would list them.
pub fn check_state(kind: RecordKind, id: Uuid, state: &Map<String, Value>) -> Result<()> {
    let mut content = state.clone();
    let mut problems = Vec::new();
    check_content(kind, id, &mut content, None, &mut problems)?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(kind, problems))
    }
}
