//! Property tests of the store's invariants, over random sequences of everything a lab does:
//! intake, edits (good, stale and invalid), deletes and restores, meta, chat, reactions, read
//! receipts, workflow moves and notes, by several users.
//!
//! After every sequence: the consistency check passes (each record's current row equals its
//! chain folded in order, chains are well-formed, the outbox holds exactly the unsynced local
//! revisions, the search index matches the records). After every refused operation: nothing
//! was written.
#![allow(clippy::unwrap_used)]

use labdesk_core::{Error, NewMessage, OpenOptions, Stage, StageAction, Store};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use uuid::Uuid;

const USERS: [&str; 3] = ["ann", "bob", "carol"];
const STATUSES: [&str; 4] = ["received", "milling", "qc", "delivered"];

#[derive(Debug, Clone)]
enum Op {
    Create {
        patient: u8,
        due_day: Option<u8>,
    },
    Edit {
        case: u8,
        field: u8,
        value: u8,
    },
    /// An edit on a version that is no longer current.
    StaleEdit {
        case: u8,
    },
    /// An edit that breaks a rule.
    BadEdit {
        case: u8,
        rule: u8,
    },
    Delete {
        case: u8,
    },
    Restore {
        case: u8,
    },
    SetMeta {
        case: u8,
        key: u8,
        value: u8,
    },
    UnsetMeta {
        case: u8,
        key: u8,
    },
    Post {
        case: u8,
        user: u8,
        word: u8,
    },
    EditMessage {
        message: u8,
        user: u8,
        word: u8,
    },
    React {
        message: u8,
        user: u8,
        emoji: u8,
        on: bool,
    },
    DeleteMessage {
        message: u8,
        user: u8,
    },
    Read {
        message: u8,
        user: u8,
    },
    Stage {
        case: u8,
        stage: u8,
        action: u8,
    },
    Note {
        case: u8,
        word: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<u8>(), proptest::option::of(0u8..60)).prop_map(|(patient, due_day)| Op::Create { patient, due_day }),
        4 => (any::<u8>(), 0u8..6, any::<u8>()).prop_map(|(case, field, value)| Op::Edit { case, field, value }),
        1 => any::<u8>().prop_map(|case| Op::StaleEdit { case }),
        1 => (any::<u8>(), 0u8..4).prop_map(|(case, rule)| Op::BadEdit { case, rule }),
        1 => any::<u8>().prop_map(|case| Op::Delete { case }),
        1 => any::<u8>().prop_map(|case| Op::Restore { case }),
        2 => (any::<u8>(), 0u8..4, any::<u8>()).prop_map(|(case, key, value)| Op::SetMeta { case, key, value }),
        1 => (any::<u8>(), 0u8..4).prop_map(|(case, key)| Op::UnsetMeta { case, key }),
        3 => (any::<u8>(), 0u8..3, any::<u8>()).prop_map(|(case, user, word)| Op::Post { case, user, word }),
        1 => (any::<u8>(), 0u8..3, any::<u8>()).prop_map(|(message, user, word)| Op::EditMessage { message, user, word }),
        2 => (any::<u8>(), 0u8..3, 0u8..3, any::<bool>())
            .prop_map(|(message, user, emoji, on)| Op::React { message, user, emoji, on }),
        1 => (any::<u8>(), 0u8..3).prop_map(|(message, user)| Op::DeleteMessage { message, user }),
        1 => (any::<u8>(), 0u8..3).prop_map(|(message, user)| Op::Read { message, user }),
        2 => (any::<u8>(), 0u8..7, 0u8..8).prop_map(|(case, stage, action)| Op::Stage { case, stage, action }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(case, word)| Op::Note { case, word }),
    ]
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("object literals only"),
    }
}

fn revisions(store: &Store) -> i64 {
    store.connection().query_row("SELECT count(*) FROM revisions", [], |r| r.get(0)).unwrap()
}

struct World {
    store: Store,
    cases: Vec<String>,
    messages: Vec<Uuid>,
}

impl World {
    fn case(&self, i: u8) -> Option<String> {
        (!self.cases.is_empty()).then(|| self.cases[i as usize % self.cases.len()].clone())
    }

    fn message(&self, i: u8) -> Option<Uuid> {
        (!self.messages.is_empty()).then(|| self.messages[i as usize % self.messages.len()])
    }

    fn as_user(&mut self, i: u8) {
        self.store.set_user(USERS[i as usize % USERS.len()]);
    }

    /// Runs one operation. Refusals are fine, as long as they wrote nothing.
    fn run(&mut self, op: &Op) {
        let before = revisions(&self.store);
        let outcome: Result<(), Error> = self.apply(op);
        match outcome {
            Ok(()) => {}
            Err(
                Error::Invalid(_)
                | Error::StaleBase { .. }
                | Error::Deleted { .. }
                | Error::NotSender { .. }
                | Error::OutOfOrder { .. },
            ) => {
                assert_eq!(revisions(&self.store), before, "a refused {op:?} must write nothing");
            }
            Err(other) => panic!("{op:?} failed unexpectedly: {other}"),
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), Error> {
        self.store.set_user("ann");
        match *op {
            Op::Create { patient, due_day } => {
                let mut fields = obj(json!({"patient_name": format!("Patient {patient}"), "start_date": "2026-01-01"}));
                if let Some(day) = due_day {
                    fields.insert("due_date".into(), json!(format!("2026-02-{:02}", day % 28 + 1)));
                }
                let case = self.store.create_case(fields)?;
                self.cases.push(case.record.case_number);
            }
            Op::Edit { case, field, value } => {
                let Some(case) = self.case(case) else { return Ok(()) };
                let patch = match field {
                    0 => json!({"status": STATUSES[value as usize % STATUSES.len()]}),
                    1 => json!({"priority": if value % 2 == 0 { "high" } else { "low" }}),
                    2 => json!({"assignees": USERS.iter().take(value as usize % 4).collect::<Vec<_>>()}),
                    3 => json!({"order_note": format!("note {value}")}),
                    4 => json!({"due_date": format!("2026-03-{:02}", value % 28 + 1)}),
                    _ => {
                        json!({"services": [{"service_type": "crown", "sub_services": [format!("s{}", value % 3)], "extras": "glaze"}]})
                    }
                };
                let version = self.store.case(&case)?.version;
                let written = self.store.edit_case(&case, Some(version), obj(patch))?;
                assert_eq!(self.store.case(&case)?, written.record, "an edit returns what is stored");
            }
            Op::StaleEdit { case } => {
                let Some(case) = self.case(case) else { return Ok(()) };
                let version = self.store.case(&case)?.version;
                if version > 1 {
                    let err = self.store.edit_case(&case, Some(version - 1), obj(json!({"status": "qc"}))).unwrap_err();
                    assert!(matches!(err, Error::StaleBase { .. }), "a stale edit must be refused, got {err}");
                    return Err(err);
                }
            }
            Op::BadEdit { case, rule } => {
                let Some(case) = self.case(case) else { return Ok(()) };
                let patch = match rule {
                    0 => json!({"due_date": "2025-01-01"}),
                    1 => json!({"aligners": [{"count": 3, "stage": 4, "from": 1, "to": 2}]}),
                    2 => json!({"patient_name": ""}),
                    _ => json!({"parent_id": self.store.case_id(&case)?}),
                };
                let err = self.store.edit_case(&case, None, obj(patch)).unwrap_err();
                return Err(err);
            }
            Op::Delete { case } => {
                let Some(case) = self.case(case) else { return Ok(()) };
                self.store.delete_case(&case, None)?;
            }
            Op::Restore { case } => {
                let Some(case) = self.case(case) else { return Ok(()) };
                self.store.restore_case(&case, None)?;
            }
            Op::SetMeta { case, key, value } => {
                let Some(case) = self.case(case) else { return Ok(()) };
                let (k, v) = match key {
                    0 => ("patient_age", format!("{}", value % 140)),
                    1 => ("shipping_estimate_date", "2026-04-01".to_owned()),
                    2 => ("customer_feedback", format!("fit {value}")),
                    _ => ("shade", format!("A{}", value % 4)),
                };
                self.store.set_meta(&case, k, &v)?;
            }
            Op::UnsetMeta { case, key } => {
                let Some(case) = self.case(case) else { return Ok(()) };
                let key = ["patient_age", "shipping_estimate_date", "customer_feedback", "shade"][key as usize % 4];
                if self.store.meta(&case)?.iter().any(|m| m.record.key == key) {
                    self.store.unset_meta(&case, key)?;
                }
            }
            Op::Post { case, user, word } => {
                let Some(case) = self.case(case) else { return Ok(()) };
                self.as_user(user);
                let m = self.store.post_message(&case, NewMessage::text(&format!("margin {word}")))?;
                self.messages.push(m.id);
            }
            Op::EditMessage { message, user, word } => {
                let Some(id) = self.message(message) else { return Ok(()) };
                self.as_user(user);
                self.store.edit_message(id, None, &format!("edited {word}"))?;
            }
            Op::React { message, user, emoji, on } => {
                let Some(id) = self.message(message) else { return Ok(()) };
                self.as_user(user);
                self.store.react(id, ["👍", "❤", "✅"][emoji as usize % 3], on)?;
            }
            Op::DeleteMessage { message, user } => {
                let Some(id) = self.message(message) else { return Ok(()) };
                self.as_user(user);
                self.store.delete_message(id, None)?;
            }
            Op::Read { message, user } => {
                let Some(id) = self.message(message) else { return Ok(()) };
                self.as_user(user);
                let before = self.store.message(id)?.record.read_at;
                let after = self.store.mark_read(id)?.record.record.read_at;
                assert!(before.is_none() || before == after, "read_at only moves forward");
            }
            Op::Stage { case, stage, action } => {
                let Some(case) = self.case(case) else { return Ok(()) };
                let action = match action {
                    0 => StageAction::Start,
                    1 => StageAction::Complete,
                    2 => StageAction::Block,
                    3 => StageAction::Hold,
                    4 => StageAction::Reset,
                    5 => StageAction::Assign(Some("bob".into())),
                    6 => StageAction::Notes("check occlusion".into()),
                    // Completed out of order, as a person who confirmed it would.
                    _ => {
                        let stage = Stage::ALL[stage as usize % 7];
                        self.store.move_stage_out_of_order(&case, stage, StageAction::Complete, None)?;
                        return Ok(());
                    }
                };
                self.store.move_stage(&case, Stage::ALL[stage as usize % 7], action, None)?;
            }
            Op::Note { case, word } => {
                let Some(case) = self.case(case) else { return Ok(()) };
                self.store.add_note(&case, &format!("remark {word}"))?;
            }
        }
        Ok(())
    }
}

proptest! {
    // 48 sequences per run keeps CI quick; PROPTEST_CASES=5000 runs a long search on demand.
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)))]

    #[test]
    fn every_record_equals_its_chain_folded_and_the_outbox_matches_after_any_sequence(
        ops in proptest::collection::vec(op(), 1..60)
    ) {
        let store = Store::open_in_memory(OpenOptions { workstation: Some("FD1".into()), user: Some("ann".into()) }).unwrap();
        let mut world = World { store, cases: Vec::new(), messages: Vec::new() };
        for op in &ops {
            world.run(op);
        }
        let report = world.store.check(true).unwrap();
        prop_assert!(report.is_ok(), "store inconsistent after {:?}: {:?}", ops, report.problems);
        prop_assert_eq!(report.outbox, report.revisions, "nothing has synced, so every revision waits in the outbox");
    }
}
