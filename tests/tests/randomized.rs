//! A seeded, reproducible randomized end-to-end test: 3 to 5 workstations (file stores in temp
//! folders) take random actions — take in a case, edit random fields, set meta, chat, react, mark
//! read, move a stage, delete or restore, change one field on every workstation at once (three or
//! more writers), resolve a conflict, go offline or online, sync — while their transport
//! drops requests before they reach the real server and loses answers after it committed, as the
//! seeded rng decides. At the end everyone comes online and syncs until quiet, and then:
//! everyone shows exactly the central state (records, chains, and the disputes listed for review),
//! no change is lost or doubled, every chain is whole.
//!
//! `LABDESK_SEEDS` seeds (default 30, to keep CI quick) from `LABDESK_SEED_START` (default 0);
//! `LABDESK_SEEDS=2000` runs thousands. One server and database for the run, a lab of its own per
//! seed. A failing seed prints the command that replays it alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use anyhow::Result;
use common::{assert_converged, assert_sound, central_revision_ids, fields, outbox_ids, Lab, Ws};
use labdesk_core::{CaseQuery, NewMessage, Stage, StageAction, Store};
use labdesk_proto::sync::Outcome;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use uuid::Uuid;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn case_numbers(store: &Store) -> Vec<String> {
    let query = CaseQuery { include_deleted: true, limit: 500, ..CaseQuery::default() };
    store.list_cases(&query).unwrap().cases.into_iter().map(|c| c.case_number).collect()
}

fn message_ids(store: &Store) -> Vec<Uuid> {
    let mut stmt = store.connection().prepare("SELECT id FROM chat_messages ORDER BY seq").unwrap();
    let ids: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    ids.iter().map(|id| Uuid::parse_str(id).unwrap()).collect()
}

fn pick<T: Clone>(rng: &mut StdRng, items: &[T]) -> Option<T> {
    (!items.is_empty()).then(|| items[rng.random_range(0..items.len())].clone())
}

fn random_edit(rng: &mut StdRng) -> Map<String, Value> {
    let mut patch = Map::new();
    while patch.is_empty() {
        if rng.random_bool(0.4) {
            patch.insert("status".into(), json!(["received", "milling", "qc", "ready"][rng.random_range(0..4)]));
        }
        if rng.random_bool(0.4) {
            patch.insert("priority".into(), json!(["low", "medium", "high", "rush"][rng.random_range(0..4)]));
        }
        if rng.random_bool(0.3) {
            let sets = [json!([]), json!(["ann"]), json!(["bob"]), json!(["ann", "carol"])];
            patch.insert("assignees".into(), sets[rng.random_range(0..4)].clone());
        }
        if rng.random_bool(0.3) {
            patch.insert("order_note".into(), json!(format!("note {}", rng.random_range(0..5))));
        }
    }
    patch
}

/// One random action on workstation `ws`. Local refusals (editing a deleted case, ...) are part
/// of the game; a failed sync round too.
fn act(rng: &mut StdRng, ws: &mut Ws) {
    let cases = case_numbers(&ws.store);
    let store = &mut ws.store;
    match rng.random_range(0..20) {
        0..=2 => {
            store
                .create_case(fields(json!({"patient_name": format!("Patient {}", rng.random_range(0..1000))})))
                .unwrap();
        }
        3..=7 => {
            if let Some(number) = pick(rng, &cases) {
                let _ = store.edit_case(&number, None, random_edit(rng));
            }
        }
        8 => {
            if let Some(number) = pick(rng, &cases) {
                let _ = store.set_meta(&number, "shade", ["A1", "A2", "B1"][rng.random_range(0..3)]);
            }
        }
        9 => {
            if let Some(number) = pick(rng, &cases) {
                let _ = store.post_message(&number, NewMessage::text("hello"));
            }
        }
        10 => {
            if let Some(id) = pick(rng, &message_ids(store)) {
                let _ = store.react(id, ["👍", "❤"][rng.random_range(0..2)], rng.random_bool(0.8));
            }
        }
        11 => {
            if let Some(id) = pick(rng, &message_ids(store)) {
                let _ = store.mark_read(id);
            }
        }
        12 | 13 => {
            if let Some(number) = pick(rng, &cases) {
                let stage = [Stage::Receiving, Stage::Design, Stage::Milling][rng.random_range(0..3)];
                let action = [StageAction::Start, StageAction::Complete, StageAction::Block, StageAction::Reset]
                    [rng.random_range(0..4)]
                .clone();
                let _ = store.move_stage(&number, stage, action, None);
            }
        }
        14 => {
            if let Some(number) = pick(rng, &cases) {
                let deleted = store.case(&number).map(|c| c.is_deleted()).unwrap_or(false);
                let _ = if deleted { store.restore_case(&number, None) } else { store.delete_case(&number, None) };
            }
        }
        15 => {
            let offline = ws.transport.with(|f| f.offline);
            ws.offline(!offline);
        }
        19 => colliding_case(rng, store),
        _ => {
            let _ = ws.try_sync();
        }
    }
}

/// Colliding unique values: a case taken in under a number from the old system that another
/// workstation may have used too. A number this store has already is refused here; one that only
/// the lab has is taken here and refused by the central store (the first to arrive keeps it), so
/// everyone still converges. A workstation that cannot store the lab's case meanwhile sets it
/// aside; nothing blocks.
fn colliding_case(rng: &mut StdRng, store: &mut Store) {
    let number = format!("OLD-{}", rng.random_range(0..3));
    let _ = store.create_case(fields(json!({"case_number": number, "patient_name": "From the old system"})));
}

/// Several workstations change one field of one case before any of them syncs, each to a value
/// of its own: a field with three or more writers, whose disputes every workstation and the
/// central store must end up listing alike.
fn contend(rng: &mut StdRng, stations: &mut [Ws]) {
    let from = rng.random_range(0..stations.len());
    let Some(number) = pick(rng, &case_numbers(&stations[from].store)) else { return };
    let (field, values): (&str, Vec<Value>) = match rng.random_range(0..3) {
        0 => ("status", ["received", "milling", "qc", "ready", "shipped"].iter().map(|v| json!(v)).collect()),
        1 => ("priority", ["low", "medium", "high", "rush"].iter().map(|v| json!(v)).collect()),
        _ => ("order_note", (0..6).map(|n| json!(format!("note {n}"))).collect()),
    };
    let first = rng.random_range(0..values.len());
    for (i, ws) in stations.iter_mut().enumerate() {
        let mut patch = Map::new();
        patch.insert(field.to_owned(), values[(first + i) % values.len()].clone());
        let _ = ws.store.edit_case(&number, None, patch); // not here yet, or deleted: refused locally
    }
}

/// A person settles the first record the workstation lists for review, keeping, taking the
/// proposal, or picking a value of their own.
fn settle(rng: &mut StdRng, ws: &mut Ws) {
    let Some(record) = ws.store.conflicts().unwrap().into_iter().next() else { return };
    let mut picks = Map::new();
    for d in &record.disputes {
        let value = match rng.random_range(0..3) {
            0 => d.kept.clone(),
            1 => d.proposed.clone(),
            _ => d.current.clone(),
        };
        picks.insert(d.field.clone(), value);
    }
    let _ = ws.store.resolve(record.record_id, picks); // a pick the kind's rules refuse is refused whole
}

fn run_seed(lab: &Lab, seed: u64) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let url = lab.url();
    let lab_name = format!("lab{seed}");
    let n = rng.random_range(3..=5);
    let mut stations = Vec::new();
    for i in 0..n {
        let who = lab.provision(&lab_name, &format!("s{seed}u{i}"), &format!("R{seed:X}W{i}"))?;
        let ws = Ws::on_disk(&url, &who)?;
        let faults = StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
        ws.transport.with(|f| f.random = Some((faults, 0.15, 0.15)));
        stations.push(ws);
    }
    let observer = lab.provision(&lab_name, &format!("s{seed}obs"), &format!("R{seed:X}O"))?;
    let mut made: BTreeSet<Uuid> = BTreeSet::new();
    let steps = rng.random_range(60..140);
    for step in 0..steps {
        let i = rng.random_range(0..n);
        match rng.random_range(0..12) {
            0 => contend(&mut rng, &mut stations),
            1 => settle(&mut rng, &mut stations[i]),
            _ => act(&mut rng, &mut stations[i]),
        }
        for (i, ws) in stations.iter().enumerate() {
            made.extend(outbox_ids(&ws.store));
            assert_sound(&ws.store, &format!("workstation {i} after step {step}"));
        }
    }

    // Everyone online, no more faults: sync until no one has anything to send or to receive.
    for ws in &stations {
        ws.transport.with(|f| {
            f.offline = false;
            f.random = None;
        });
    }
    let mut quiet = false;
    for _ in 0..8 {
        let mut moved = false;
        for ws in stations.iter_mut() {
            let report = ws.sync()?;
            moved |= report.pulled > 0 || report.pushed > 0;
        }
        if !moved && stations.iter().all(|ws| ws.store.pending_count().unwrap() == 0) {
            quiet = true;
            break;
        }
    }
    assert!(quiet, "eight rounds each bring every workstation to rest");

    let refs: Vec<&Ws> = stations.iter().collect();
    let central_state = assert_converged(lab, &url, &observer, &refs)?;
    for (i, ws) in stations.iter().enumerate() {
        assert_eq!(ws.store.held_count().unwrap(), 0, "workstation {i} stored every change from the lab");
    }
    for number in ["OLD-0", "OLD-1", "OLD-2"] {
        let ids: BTreeSet<Option<Uuid>> = stations.iter().map(|ws| ws.store.case_id(number).ok()).collect();
        assert_eq!(ids.len(), 1, "{number} names one case (or none) on every workstation: {ids:?}");
    }
    let (dropped, lost) = stations.iter().fold((0, 0), |(d, l), ws| ws.transport.with(|f| (d + f.dropped, l + f.lost)));
    eprintln!(
        "seed {seed}: {n} workstations, {steps} steps, {} revisions made, {} central, {} conflicts, {dropped} requests \
         dropped, {lost} answers lost",
        made.len(),
        central_state.revisions.len(),
        central_state.conflicts.len()
    );

    // Nothing lost, nothing doubled, nothing invented.
    let central = central_revision_ids(lab, &lab_name)?;
    assert!(central.values().all(|n| *n == 1), "every central revision is there once");
    let rejected: BTreeSet<Uuid> =
        stations.iter().flat_map(|ws| ws.store.rejected_changes().unwrap()).map(|r| r.revision_id).collect();
    for id in &made {
        let taken = central.contains_key(id);
        assert!(taken || rejected.contains(id), "change {id} was lost: neither central nor shown as refused");
        assert!(!(taken && rejected.contains(id)), "change {id} is both taken and refused");
    }
    for id in central.keys() {
        assert!(made.contains(id), "central revision {id} was made by no workstation");
    }
    for ws in &stations {
        for (id, outcome) in ws.transport.with(|f| f.answered.clone()) {
            let taken = central.contains_key(&id);
            assert_eq!(
                taken,
                outcome != Outcome::Rejected,
                "revision {id} answered {outcome:?} is in the chain iff taken"
            );
        }
    }
    Ok(())
}

#[test]
fn random_histories_with_dropped_requests_and_lost_answers_converge_and_lose_or_double_nothing() -> Result<()> {
    let start = env_u64("LABDESK_SEED_START", 0);
    let count = env_u64("LABDESK_SEEDS", 30);
    let lab = Lab::start()?;
    for seed in start..start + count {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_seed(&lab, seed)));
        let failure = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => format!("{e:#}"),
            Err(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default(),
        };
        panic!(
            "seed {seed} failed: {failure}\nreplay it with: LABDESK_SEED_START={seed} LABDESK_SEEDS=1 cargo test -p \
             labdesk-e2e --test randomized"
        );
    }
    Ok(())
}
