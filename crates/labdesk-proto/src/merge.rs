//! Three-way merge of one revision into a record, field by field (sync-model.md, "Merge").
//!
//! `base` is the record as the revision's author saw it, `head` is the record as it is now,
//! `proposed` is what the revision sets. For every proposed field:
//! - changed on one side only → that side's value;
//! - changed on both sides to the same value → no conflict;
//! - a set-like field → additions and removals of both sides (declared [`Merge::Set`]);
//! - a forward-only field (read receipts, delivery status) → the furthest of the two;
//! - otherwise both changed it differently → `head` keeps its value (accepted first) and the
//!   proposal is reported as a [`FieldConflict`].
//!
//! Both the central store (on push) and a workstation (re-applying its pending changes on top of
//! what it pulled) use this one function, so they agree on every outcome.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::sync::FieldConflict;
use crate::{Merge, RecordKind};

/// How `field` of `kind` merges: as its declaration says (a field it does not declare, such as
/// `deleted_at`, merges whole).
fn rule(kind: RecordKind, field: &str) -> Merge {
    kind.decl().field(field).map_or(Merge::Whole, |f| f.merge)
}

/// The rank of a value along a forward-only order; a value not in it ranks below them all.
fn forward_rank(order: &[&str], value: &Value) -> i64 {
    value.as_str().and_then(|v| order.iter().position(|o| *o == v)).map_or(-1, |i| i as i64)
}

/// What a revision sets once merged, and what it proposed that did not take.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Merged {
    /// The fields to write: only those that change `head`.
    pub effective: Map<String, Value>,
    pub conflicts: Vec<FieldConflict>,
}

pub fn merge(
    kind: RecordKind,
    base: &Map<String, Value>,
    head: &Map<String, Value>,
    proposed: &Map<String, Value>,
) -> Merged {
    let mut out = Merged::default();
    for (field, ours) in proposed {
        let base_v = base.get(field).unwrap_or(&Value::Null);
        let head_v = head.get(field).unwrap_or(&Value::Null);
        let value = if head_v == base_v || ours == head_v {
            // Only we changed it, or both changed it alike.
            ours.clone()
        } else if ours == base_v {
            // Only they changed it (we re-sent an unchanged value).
            continue;
        } else if field == "deleted_at" && !head_v.is_null() && !ours.is_null() {
            // Deleted on both sides: one delete, the first one accepted. Delete against restore
            // (one side null) stays a real conflict.
            continue;
        } else if let Some(value) = match rule(kind, field) {
            Merge::Set => Some(merge_sets(base_v, head_v, ours)),
            Merge::Later => Some(furthest_time(head_v, ours)),
            Merge::Forward { order } if forward_rank(order, ours) > forward_rank(order, head_v) => Some(ours.clone()),
            Merge::Forward { .. } => Some(head_v.clone()),
            Merge::Whole => None,
        } {
            value
        } else {
            out.conflicts.push(FieldConflict { field: field.clone(), kept: head_v.clone(), proposed: ours.clone() });
            continue;
        };
        if &value != head_v {
            out.effective.insert(field.clone(), value);
        }
    }
    out
}

fn furthest_time(a: &Value, b: &Value) -> Value {
    match (a.as_str(), b.as_str()) {
        (Some(x), Some(y)) => Value::String(x.max(y).to_owned()),
        (Some(_), None) => a.clone(),
        _ => b.clone(),
    }
}

/// Three-way merge of set-like values: lists (of strings or objects) as sets, and objects whose
/// values are lists (reactions: emoji → users) as a set per key.
fn merge_sets(base: &Value, head: &Value, ours: &Value) -> Value {
    match (head, ours) {
        (Value::Object(h), Value::Object(o)) => {
            let empty = Map::new();
            let b = base.as_object().unwrap_or(&empty);
            let keys: BTreeSet<&String> = b.keys().chain(h.keys()).chain(o.keys()).collect();
            let mut merged = Map::new();
            for key in keys {
                let none = Value::Array(Vec::new());
                let v =
                    merge_lists(b.get(key).unwrap_or(&none), h.get(key).unwrap_or(&none), o.get(key).unwrap_or(&none));
                if let Value::Array(mut members) = v {
                    // A map of sets (reactions: emoji → users) is stored with its sets sorted;
                    // merged values take that same form so every side folds to equal values.
                    members.sort_by_key(Value::to_string);
                    if !members.is_empty() {
                        merged.insert(key.clone(), Value::Array(members));
                    }
                }
            }
            Value::Object(merged)
        }
        _ => merge_lists(base, head, ours),
    }
}

/// head − (what we removed from base) + (what we added to base), keeping head's order and
/// appending our additions in our order.
fn merge_lists(base: &Value, head: &Value, ours: &Value) -> Value {
    let items = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let (base, head, ours) = (items(base), items(head), items(ours));
    // Keep what head has unless we removed it (it was in base and is not in ours).
    let mut out: Vec<Value> = head.into_iter().filter(|x| !base.contains(x) || ours.contains(x)).collect();
    for x in ours {
        if !base.contains(&x) && !out.contains(&x) {
            out.push(x);
        }
    }
    Value::Array(out)
}

/// Folds `fields` over `state`: the record after a revision.
pub fn apply(state: &mut Map<String, Value>, fields: &Map<String, Value>) {
    for (k, v) in fields {
        state.insert(k.clone(), v.clone());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_field_changed_on_one_side_takes_that_sides_value() {
        let base = obj(json!({"status": "received", "priority": "low"}));
        let head = obj(json!({"status": "milling", "priority": "low"}));
        let m = merge(RecordKind::Case, &base, &head, &obj(json!({"priority": "high"})));
        assert_eq!(m.effective, obj(json!({"priority": "high"})));
        assert!(m.conflicts.is_empty());
    }

    #[test]
    fn the_same_change_on_both_sides_is_no_conflict() {
        let base = obj(json!({"status": "received"}));
        let head = obj(json!({"status": "qc"}));
        let m = merge(RecordKind::Case, &base, &head, &obj(json!({"status": "qc"})));
        assert!(m.effective.is_empty() && m.conflicts.is_empty());
    }

    #[test]
    fn different_changes_to_one_field_keep_the_first_accepted_and_report_the_other() {
        let base = obj(json!({"status": "received"}));
        let head = obj(json!({"status": "milling"}));
        let m = merge(RecordKind::Case, &base, &head, &obj(json!({"status": "qc"})));
        assert!(m.effective.is_empty(), "head keeps its value");
        assert_eq!(
            m.conflicts,
            vec![FieldConflict { field: "status".into(), kept: json!("milling"), proposed: json!("qc") }]
        );
    }

    #[test]
    fn assignees_merge_as_additions_and_removals() {
        let base = obj(json!({"assignees": ["ann", "bob"]}));
        let head = obj(json!({"assignees": ["ann", "bob", "carol"]}));
        let m = merge(RecordKind::Case, &base, &head, &obj(json!({"assignees": ["bob", "dave"]})));
        assert_eq!(
            m.effective,
            obj(json!({"assignees": ["bob", "carol", "dave"]})),
            "ann removed, dave added, carol kept"
        );
        assert!(m.conflicts.is_empty());
    }

    #[test]
    fn reactions_merge_per_emoji() {
        let base = obj(json!({"reactions": {}}));
        let head = obj(json!({"reactions": {"👍": ["bob"]}}));
        let m = merge(RecordKind::ChatMessage, &base, &head, &obj(json!({"reactions": {"👍": ["ann"], "❤": ["ann"]}})));
        assert_eq!(m.effective, obj(json!({"reactions": {"❤": ["ann"], "👍": ["ann", "bob"]}})), "sets stay sorted");
    }

    #[test]
    fn two_deletes_are_one_delete_but_delete_against_restore_is_a_conflict() {
        let base = obj(json!({"deleted_at": null}));
        let head = obj(json!({"deleted_at": "2026-01-01T00:00:00.000Z"}));
        let m = merge(RecordKind::Case, &base, &head, &obj(json!({"deleted_at": "2026-01-02T00:00:00.000Z"})));
        assert!(m.effective.is_empty() && m.conflicts.is_empty(), "{m:?}");
        let restored = obj(json!({"deleted_at": null}));
        let m = merge(RecordKind::Case, &head, &restored, &obj(json!({"deleted_at": "2026-01-03T00:00:00.000Z"})));
        assert_eq!(m.conflicts.len(), 1, "deleting what someone restored needs a person");
    }

    #[test]
    fn read_receipts_and_delivery_status_only_move_forward() {
        let base = obj(json!({"read_at": null, "message_status": "sending"}));
        let head = obj(json!({"read_at": "2026-01-02T00:00:00.000Z", "message_status": "read"}));
        let ours = obj(json!({"read_at": "2026-01-01T00:00:00.000Z", "message_status": "sent"}));
        let m = merge(RecordKind::ChatMessage, &base, &head, &ours);
        assert!(m.effective.is_empty() && m.conflicts.is_empty(), "{m:?}");
        let later = obj(json!({"read_at": "2026-01-03T00:00:00.000Z"}));
        let m = merge(RecordKind::ChatMessage, &base, &head, &later);
        assert_eq!(m.effective, later);
    }
}
