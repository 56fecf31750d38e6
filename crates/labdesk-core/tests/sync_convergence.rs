//! Property test of the sync promises over random histories of three workstations sharing one
//! (fake) central store: offline edits of the same and of different fields (and of one field of
//! one record on all three at once, so that a field has three writers), meta values set on
//! several workstations, chat reactions, resolutions, pulls before pushes, lost answers, and
//! colliding unique values (cases created on two workstations with the same case number: the
//! central store takes the first and refuses the others, and a workstation that pulls the first
//! before its own is refused sets it aside until then), and lab settings, a kind that belongs
//! to no case and has no typed code (made, changed on several workstations, deleted, restored;
//! a key made on two workstations offline is taken from the first and refused to the other).
//!
//! After every step each store passes its consistency check (a change from the lab set aside is
//! the one problem allowed on the way; none may be left at the end). At the end, once every workstation
//! has synced with no new edits: every workstation shows exactly the central state (everyone
//! converges), records and review state alike (the same disputes, kept and proposed values and
//! proposers as the central store, the same records needing review), every change made anywhere
//! is in the central store or shown as refused where it was made (nothing is lost), and nothing
//! is doubled.
#![allow(clippy::unwrap_used)]

mod support;

use labdesk_core::sync::{sync_round, Transport};
use labdesk_core::{NewMessage, RecordFilter, RecordKind, Store};
use proptest::prelude::*;
use serde_json::json;
use support::{assert_sound, conflict_rows, folded, obj, review_state, workstation, FakeTransport};

/// `Contend`: every workstation that has the case sets one of its fields, each to a value of its
/// own, before any of them syncs: a field with three writers.
#[derive(Debug, Clone)]
enum Op {
    Create { ws: usize },
    CreateNumbered { ws: usize, number: u8 },
    Edit { ws: usize, case: u8, field: u8, value: u8 },
    Contend { case: u8, field: u8, value: u8 },
    Meta { ws: usize, case: u8, value: u8 },
    Post { ws: usize, case: u8 },
    React { ws: usize, message: u8, emoji: u8 },
    Delete { ws: usize, case: u8 },
    Setting { ws: usize, key: u8, value: u8 },
    DeleteSetting { ws: usize, key: u8, restore: bool },
    ContendSetting { key: u8, value: u8 },
    Resolve { ws: usize, pick_proposed: bool },
    Sync { ws: usize },
    PullOnly { ws: usize },
    LoseNextAnswer,
}

fn op() -> impl Strategy<Value = Op> {
    let ws = 0usize..3;
    prop_oneof![
        2 => ws.clone().prop_map(|ws| Op::Create { ws }),
        2 => (ws.clone(), 0u8..2).prop_map(|(ws, number)| Op::CreateNumbered { ws, number }),
        6 => (ws.clone(), any::<u8>(), 0u8..4, 0u8..4).prop_map(|(ws, case, field, value)| Op::Edit { ws, case, field, value }),
        2 => (any::<u8>(), 0u8..4, 0u8..4).prop_map(|(case, field, value)| Op::Contend { case, field, value }),
        2 => (ws.clone(), any::<u8>(), 0u8..3).prop_map(|(ws, case, value)| Op::Meta { ws, case, value }),
        1 => (ws.clone(), any::<u8>()).prop_map(|(ws, case)| Op::Post { ws, case }),
        2 => (ws.clone(), any::<u8>(), 0u8..2).prop_map(|(ws, message, emoji)| Op::React { ws, message, emoji }),
        1 => (ws.clone(), any::<u8>()).prop_map(|(ws, case)| Op::Delete { ws, case }),
        3 => (ws.clone(), 0u8..2, 0u8..3).prop_map(|(ws, key, value)| Op::Setting { ws, key, value }),
        1 => (ws.clone(), 0u8..2, any::<bool>()).prop_map(|(ws, key, restore)| Op::DeleteSetting { ws, key, restore }),
        2 => (0u8..2, 0u8..3).prop_map(|(key, value)| Op::ContendSetting { key, value }),
        2 => (ws.clone(), any::<bool>()).prop_map(|(ws, pick_proposed)| Op::Resolve { ws, pick_proposed }),
        5 => ws.clone().prop_map(|ws| Op::Sync { ws }),
        2 => ws.prop_map(|ws| Op::PullOnly { ws }),
        1 => Just(Op::LoseNextAnswer),
    ]
}

fn cases(store: &Store) -> Vec<String> {
    let page = store.list_cases(&labdesk_core::CaseQuery { include_deleted: true, limit: 500, ..Default::default() });
    page.unwrap().cases.into_iter().map(|c| c.case_number).collect()
}

/// The id of a lab setting named `key` here (a deleted one when `deleted`).
fn setting(store: &Store, key: &str, deleted: bool) -> Option<String> {
    let filter = RecordFilter {
        fields: [("key".to_owned(), key.to_owned())].into(),
        include_deleted: deleted,
        ..Default::default()
    };
    let found = store.records(RecordKind::Setting, &filter).unwrap();
    found
        .into_iter()
        .filter(|r| r.is_deleted() == deleted)
        .min_by_key(|r| (r.created_at, r.id))
        .map(|r| r.id.to_string())
}

fn pick<T: Clone>(items: &[T], i: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[i as usize % items.len()].clone())
}

fn run(store: &mut Store, central: &FakeTransport, op: &Op) {
    match op {
        Op::Create { .. } => {
            store.create_case(obj(json!({"patient_name": "P"}))).unwrap();
        }
        Op::CreateNumbered { number, .. } => {
            // A number another case here has is refused locally; one only the lab has is not.
            let _ = store.create_case(obj(json!({"case_number": format!("OLD-{number}"), "patient_name": "P"})));
        }
        Op::Contend { .. } | Op::ContendSetting { .. } => unreachable!("a contended edit runs on every workstation"),
        Op::Edit { case, field, value, .. } => {
            if let Some(number) = pick(&cases(store), *case) {
                let v = *value as usize % 4;
                let patch = match field {
                    0 => json!({ "status": (["received", "milling", "qc", "ready"][v]) }),
                    1 => json!({ "priority": (["low", "medium", "high", "rush"][v]) }),
                    2 => {
                        json!({ "assignees": ([json!([]), json!(["ann"]), json!(["bob"]), json!(["ann", "carol"])][v]) })
                    }
                    _ => json!({ "order_note": format!("note {v}") }),
                };
                let _ = store.edit_case(&number, None, obj(patch)); // a deleted case refuses edits
            }
        }
        Op::Meta { case, value, .. } => {
            if let Some(number) = pick(&cases(store), *case) {
                let _ = store.set_meta(&number, "shade", ["A1", "A2", "B1"][*value as usize]);
            }
        }
        Op::Post { case, .. } => {
            if let Some(number) = pick(&cases(store), *case) {
                let _ = store.post_message(&number, NewMessage::text("hello"));
            }
        }
        Op::React { message, emoji, .. } => {
            let ids: Vec<String> = {
                let mut stmt = store.connection().prepare("SELECT id FROM chat_messages ORDER BY seq").unwrap();
                stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
            };
            if let Some(id) = pick(&ids, *message) {
                let _ = store.react(uuid::Uuid::parse_str(&id).unwrap(), ["👍", "❤"][*emoji as usize], true);
            }
        }
        Op::Delete { case, .. } => {
            if let Some(number) = pick(&cases(store), *case) {
                let _ = store.delete_case(&number, None);
            }
        }
        Op::Setting { key, value, .. } => {
            // Change the lab's setting of that name, or make it where this workstation has none.
            let key = ["opening_hours", "tax_rate"][*key as usize];
            let value = ["a", "b", "c"][*value as usize];
            match setting(store, key, false) {
                Some(id) => {
                    let _ = store.edit_record(RecordKind::Setting, &id, None, obj(json!({ "value": value })));
                }
                None => {
                    let _ = store.create_record(RecordKind::Setting, obj(json!({ "key": key, "value": value })));
                }
            }
        }
        Op::DeleteSetting { key, restore, .. } => {
            let key = ["opening_hours", "tax_rate"][*key as usize];
            if let Some(id) = setting(store, key, *restore) {
                let _ = store.delete_record(RecordKind::Setting, &id, None, !restore);
            }
        }
        Op::Resolve { pick_proposed, .. } => {
            if let Some(record) = store.conflicts().unwrap().into_iter().next() {
                let mut picks = serde_json::Map::new();
                for d in &record.disputes {
                    picks.insert(d.field.clone(), if *pick_proposed { d.proposed.clone() } else { d.kept.clone() });
                }
                // A pick a kind's rules refuse (e.g. on a deleted record) is refused whole.
                let _ = store.resolve(record.record_id, picks);
            }
        }
        Op::Sync { .. } => {
            let _ = sync_round(store, central, &mut |_| {}); // a lost answer fails the round
        }
        Op::PullOnly { .. } => {
            let page = central.pull(store.sync_cursor().unwrap(), 3).unwrap();
            store.apply_page(&page).unwrap();
        }
        Op::LoseNextAnswer => central.with(|c| c.lose_answers = 1),
    }
}

fn ws_of(op: &Op) -> usize {
    match op {
        Op::Create { ws }
        | Op::CreateNumbered { ws, .. }
        | Op::Edit { ws, .. }
        | Op::Meta { ws, .. }
        | Op::Post { ws, .. }
        | Op::React { ws, .. }
        | Op::Delete { ws, .. }
        | Op::Setting { ws, .. }
        | Op::DeleteSetting { ws, .. }
        | Op::Resolve { ws, .. }
        | Op::Sync { ws }
        | Op::PullOnly { ws } => *ws,
        Op::LoseNextAnswer | Op::Contend { .. } | Op::ContendSetting { .. } => 0,
    }
}

/// A record with its reaction sets in one order. The three-way merge appends the other side's
/// additions to a set (`["carol", "ann"]`), and the store keeps sets sorted (`["ann", "carol"]`):
/// the same set, written two ways.
fn same_meaning(mut state: serde_json::Map<String, serde_json::Value>) -> serde_json::Map<String, serde_json::Value> {
    if let Some(serde_json::Value::Object(reactions)) = state.get_mut("reactions") {
        for users in reactions.values_mut() {
            if let serde_json::Value::Array(list) = users {
                list.sort_by_key(|v| v.to_string());
            }
        }
    }
    state
}

proptest! {
    // 48 histories per run keeps CI quick; PROPTEST_CASES=2000 runs a long search on demand.
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)))]

    #[test]
    fn every_workstation_converges_on_the_central_state_and_no_change_is_lost_or_doubled(
        ops in proptest::collection::vec(op(), 1..60)
    ) {
        let central = FakeTransport::new();
        // One kind of change is refused, to exercise rejection amid everything else.
        central.with(|c| {
            c.unique_case_numbers = true;
            c.refuse = Some(Box::new(|r| (r.fields.get("order_note") == Some(&json!("note 3"))).then(|| "no note 3".into())))
        });
        let mut stores = vec![workstation("FD1", "ann"), workstation("FD2", "bob"), workstation("FD3", "carol")];
        let mut made = std::collections::BTreeSet::new();
        for op in &ops {
            let on: Vec<usize> = match op {
                Op::Contend { .. } | Op::ContendSetting { .. } => (0..stores.len()).collect(),
                op => vec![ws_of(op)],
            };
            for i in on {
                let op = match *op {
                    // The same case on every workstation (the first one's list, by number), a
                    // different value each.
                    Op::Contend { case, field, value } => {
                        let mut numbers = cases(&stores[0]);
                        numbers.sort();
                        let Some(number) = pick(&numbers, case) else { break };
                        let Some(at) = cases(&stores[i]).iter().position(|n| *n == number) else { continue };
                        Op::Edit { ws: i, case: at as u8, field, value: value.wrapping_add(i as u8) }
                    }
                    // The lab's setting of that name on every workstation, a different value each.
                    Op::ContendSetting { key, value } => Op::Setting { ws: i, key, value: (value + i as u8) % 3 },
                    ref op => op.clone(),
                };
                run(&mut stores[i], &central, &op);
                for entry in stores[i].outbox(100_000).unwrap() {
                    made.insert(entry.revision.id);
                }
                // A change from the lab set aside is the one problem allowed on the way.
                let problems: Vec<String> = stores[i]
                    .check(true)
                    .unwrap()
                    .problems
                    .into_iter()
                    .filter(|p| !p.contains("is not stored here"))
                    .collect();
                assert!(problems.is_empty(), "workstation {i} after {op:?}: {problems:?}");
            }
        }
        // Quiet: everyone syncs until nothing moves.
        central.with(|c| c.lose_answers = 0);
        for _ in 0..3 {
            for s in &mut stores {
                sync_round(s, &central, &mut |_| {}).unwrap();
            }
        }
        let accepted: std::collections::BTreeSet<uuid::Uuid> =
            central.with(|c| c.accepted.iter().map(|r| r.revision.id).collect());
        prop_assert_eq!(accepted.len(), central.with(|c| c.accepted.len()), "no revision is doubled centrally");
        let rejected: std::collections::BTreeSet<uuid::Uuid> =
            stores.iter().flat_map(|s| s.rejected_changes().unwrap()).map(|r| r.revision_id).collect();
        for id in &made {
            prop_assert!(accepted.contains(id) || rejected.contains(id), "change {} was lost", id);
            prop_assert!(!(accepted.contains(id) && rejected.contains(id)), "change {} is both taken and refused", id);
        }
        let records: Vec<uuid::Uuid> = central.with(|c| {
            let mut ids: Vec<uuid::Uuid> = c.accepted.iter().map(|r| r.revision.record_id).collect();
            ids.sort();
            ids.dedup();
            ids
        });
        for (i, s) in stores.iter().enumerate() {
            assert_sound(s, &format!("workstation {i} at the end"));
            prop_assert_eq!(s.pending_count().unwrap(), 0);
            prop_assert_eq!(s.held_count().unwrap(), 0, "workstation {} stored every change from the lab", i);
            let revisions: i64 = s.connection().query_row("SELECT count(*) FROM revisions", [], |r| r.get(0)).unwrap();
            prop_assert_eq!(revisions as usize, accepted.len(), "workstation {} has every revision once", i);
            for id in &records {
                prop_assert_eq!(
                    same_meaning(folded(s, *id)),
                    same_meaning(central.with(|c| c.state(*id))),
                    "workstation {} shows the central state of {}", i, id
                );
            }
        }
        let review = central.with(|c| c.review_state());
        for (i, s) in stores.iter().enumerate() {
            prop_assert_eq!(
                review_state(s),
                review.clone(),
                "workstation {} lists the disputes the central store has, and only those", i
            );
            prop_assert_eq!(
                conflict_rows(s),
                conflict_rows(&stores[0]),
                "workstation {} keeps the disputes and the resolutions that settled them as the others do", i
            );
        }
    }
}
