//! Sync between workstations through a fake central store (tests/support): round trips,
//! concurrent offline edits, conflicts and their resolution, refused changes, lost answers,
//! interrupted pulls and bootstrapping. After every round the stores must pass their consistency
//! check, and a workstation's view must be the central state plus its own pending changes.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use labdesk_core::sync::{sync_round, watch, Progress, SyncReport, SyncStage, WatchEvent, WatchOptions};
use labdesk_core::{RecordKind, Store};
use serde_json::{json, Value};
use support::{
    assert_sound, chain_positions, conflict_rows, count, folded, obj, review_state, workstation, FakeTransport,
};
use uuid::Uuid;

fn sync(store: &mut Store, transport: &FakeTransport) -> SyncReport {
    sync_round(store, transport, &mut |_| {}).unwrap()
}

/// Pulls without pushing: what a workstation sees when a pull comes before its own push.
fn pull_only(store: &mut Store, transport: &FakeTransport) {
    use labdesk_core::sync::Transport;
    loop {
        let page = transport.pull(store.sync_cursor().unwrap(), 1000).unwrap();
        store.apply_page(&page).unwrap();
        if !page.more {
            break;
        }
    }
}

fn case_value(store: &Store, number: &str, field: &str) -> Value {
    let case = store.case(number).unwrap();
    serde_json::to_value(&case.record).unwrap()[field].clone()
}

#[test]
fn a_push_then_pull_round_trip_leaves_the_outbox_empty_and_every_version_central() {
    let central = FakeTransport::new();
    let mut a = workstation("FD1", "ann");
    let case = a.create_case(obj(json!({"patient_name": "Ada"}))).unwrap();
    a.edit_case("FD1-000001", Some(1), obj(json!({"status": "milling"}))).unwrap();
    a.set_meta("FD1-000001", "shade", "A2").unwrap();

    let mut seen: Vec<Progress> = Vec::new();
    let report = sync_round(&mut a, &central, &mut |p| seen.push(p.clone())).unwrap();
    assert_eq!((report.pushed, report.applied), (3, 3), "three changes were sent and taken as they were");
    assert_eq!(report.pulled, 3, "and came back through pull");
    assert_eq!(report.confirmed, 3, "as we had them: no rebuild needed");
    assert_eq!(report.pending, 0);
    assert!(report.bytes_up > 0 && report.bytes_down > 0, "traffic is counted: {report:?}");
    assert_eq!(a.pending_count().unwrap(), 0, "the outbox is empty after a good round");
    assert_sound(&a, "A");
    assert_eq!(chain_positions(&a, case.id), vec![(1, Some(1)), (2, Some(2))], "versions are the central ones");
    assert_eq!(folded(&a, case.id), central.with(|c| c.state(case.id)), "the local chain is the central chain");
    let stages: Vec<SyncStage> = seen.iter().map(|p| p.stage).collect();
    assert_eq!(stages.first(), Some(&SyncStage::Push));
    assert_eq!(stages.last(), Some(&SyncStage::Finish));
    let pushed = seen.iter().rfind(|p| p.stage == SyncStage::Push).unwrap();
    assert_eq!((pushed.records_done, pushed.records_total), (3, 3), "push progress reaches its total");
    let state = a.sync_state().unwrap();
    assert!(state.last_sync_at.is_some() && state.last_error.is_none());
    assert_eq!(state.cursor, 3);

    let again = sync(&mut a, &central);
    assert_eq!((again.pushed, again.pulled), (0, 0), "a second round has nothing to do");
}

#[test]
fn different_fields_edited_offline_on_two_workstations_both_arrive_everywhere() {
    let central = FakeTransport::new();
    let (mut a, mut b) = (workstation("FD1", "ann"), workstation("FD2", "bob"));
    let case = a.create_case(obj(json!({"patient_name": "Ada", "assignees": ["ann"]}))).unwrap();
    sync(&mut a, &central);
    sync(&mut b, &central.another());
    assert_eq!(case_value(&b, "FD1-000001", "patient_name"), "Ada", "B got the case");

    a.edit_case("FD1-000001", None, obj(json!({"status": "milling", "assignees": ["ann", "carol"]}))).unwrap();
    b.edit_case("FD1-000001", None, obj(json!({"priority": "rush", "assignees": ["ann", "dave"]}))).unwrap();
    let first = sync(&mut a, &central);
    assert_eq!(first.applied, 1);
    let second = sync(&mut b, &central);
    assert_eq!((second.merged, second.conflicted), (1, 0), "B's edit was made on an older version: merged");
    sync(&mut a, &central);

    for (who, s) in [("A", &a), ("B", &b)] {
        assert_sound(s, who);
        assert_eq!(case_value(s, "FD1-000001", "status"), "milling", "{who} has A's status");
        assert_eq!(case_value(s, "FD1-000001", "priority"), "rush", "{who} has B's priority");
        assert_eq!(case_value(s, "FD1-000001", "assignees"), json!(["ann", "carol", "dave"]), "{who}: sets merge");
        assert_eq!(s.pending_count().unwrap(), 0);
        assert!(s.conflicts().unwrap().is_empty(), "{who}: no conflict");
    }
    assert_eq!(folded(&a, case.id), folded(&b, case.id), "both chains fold to the same record");
    assert_eq!(chain_positions(&a, case.id), chain_positions(&b, case.id), "and have the same central versions");
    assert_eq!(a.case("FD1-000001").unwrap(), b.case("FD1-000001").unwrap(), "the rows are the same");
}

#[test]
fn the_same_field_edited_two_ways_conflicts_on_the_later_pusher_and_a_resolution_converges_everyone() {
    let central = FakeTransport::new();
    let (mut a, mut b) = (workstation("FD1", "ann"), workstation("FD2", "bob"));
    let case = a.create_case(obj(json!({"patient_name": "Ada"}))).unwrap();
    sync(&mut a, &central);
    sync(&mut b, &central);

    a.edit_case("FD1-000001", None, obj(json!({"status": "milling"}))).unwrap();
    b.edit_case("FD1-000001", None, obj(json!({"status": "qc", "priority": "high"}))).unwrap();
    sync(&mut a, &central);
    let report = sync(&mut b, &central);
    assert_eq!(report.conflicted, 1, "B pushed second: its status conflicts");
    assert_eq!(case_value(&b, "FD1-000001", "status"), "milling", "the value accepted first stays");
    assert_eq!(case_value(&b, "FD1-000001", "priority"), "high", "the undisputed field of B's change took");

    let conflicts = b.conflicts().unwrap();
    assert_eq!(conflicts.len(), 1, "one record needs review on B: {conflicts:?}");
    let dispute = &conflicts[0].disputes[0];
    assert_eq!((dispute.field.as_str(), &dispute.kept, &dispute.proposed), ("status", &json!("milling"), &json!("qc")));
    assert_eq!(dispute.kept_by.as_deref(), Some("ann"), "who made the kept value is shown");
    assert_eq!(dispute.proposed_by, "bob", "and who made the other");
    assert_eq!(conflicts[0].case_number.as_deref(), Some("FD1-000001"));
    assert!(b.case_detail("FD1-000001").unwrap().needs_review(), "the case shows it needs review");
    assert_eq!(b.sync_state().unwrap().needs_review, 1);

    sync(&mut a, &central);
    assert_eq!(a.conflicts().unwrap().len(), 1, "A learns of the conflict through pull");
    assert_sound(&a, "A");
    assert_sound(&b, "B");

    let err = b.resolve(case.id, obj(json!({}))).unwrap_err();
    assert!(err.to_string().contains("missing: status"), "a resolution must pick every disputed field: {err}");
    let resolution = b.resolve(case.id, obj(json!({"status": "qc"}))).unwrap();
    assert_eq!(resolution.resolves, vec![dispute.revision_id], "the resolution names the conflicted change");
    assert!(b.conflicts().unwrap().is_empty(), "resolved here at once");
    assert_eq!(case_value(&b, "FD1-000001", "status"), "qc");
    sync(&mut b, &central);
    sync(&mut a, &central);
    assert!(a.conflicts().unwrap().is_empty(), "the resolution settles it on A too");
    assert_eq!(central.with(|c| c.needs_review.get(&case.id).copied()), Some(false), "and centrally");
    for (who, s) in [("A", &a), ("B", &b)] {
        assert_sound(s, who);
        assert_eq!(case_value(s, "FD1-000001", "status"), "qc", "{who} converged on the picked value");
        assert_eq!(folded(s, case.id), central.with(|c| c.state(case.id)), "{who} equals the central state");
    }
}

#[test]
fn three_workstations_setting_one_field_offline_list_the_same_disputes_as_the_central_store_until_one_resolves_them() {
    let central = FakeTransport::new();
    let mut stores = [workstation("FD1", "ann"), workstation("FD2", "bob"), workstation("FD3", "carol")];
    let case = stores[0].create_case(obj(json!({"patient_name": "Ada", "status": "received"}))).unwrap();
    for s in &mut stores {
        sync(s, &central);
    }
    for (s, status) in stores.iter_mut().zip(["milling", "qc", "ready"]) {
        s.edit_case("FD1-000001", None, obj(json!({ "status": status }))).unwrap();
    }
    for _ in 0..2 {
        for s in &mut stores {
            sync(s, &central);
        }
    }
    let review = central.with(|c| c.review_state());
    let disputes: Vec<(&str, &str, &str)> =
        review.disputes.iter().map(|d| (d.kept.as_str(), d.proposed.as_str(), d.proposed_by.as_str())).collect();
    assert_eq!(
        disputes.iter().copied().collect::<std::collections::BTreeSet<_>>(),
        [(r#""milling""#, r#""qc""#, "bob@FD2"), (r#""milling""#, r#""ready""#, "carol@FD3")].into_iter().collect(),
        "the first pusher's value is kept; the other two are disputed, each by its proposer"
    );
    for (i, s) in stores.iter().enumerate() {
        assert_eq!(review_state(s), review, "workstation {i} lists the central store's disputes");
        assert_sound(s, &format!("workstation {i}"));
    }

    let resolution = stores[1].resolve(case.id, obj(json!({"status": "qc"}))).unwrap();
    assert_eq!(resolution.resolves.len(), 2, "one resolution settles both disputed changes");
    for _ in 0..2 {
        for s in &mut stores {
            sync(s, &central);
        }
    }
    assert_eq!(central.with(|c| c.review_state()), Default::default(), "centrally nothing needs review");
    for (i, s) in stores.iter().enumerate() {
        assert_eq!(review_state(s), Default::default(), "workstation {i} lists nothing to review");
        assert_eq!(case_value(s, "FD1-000001", "status"), "qc", "workstation {i} shows the picked value");
        assert_eq!(folded(s, case.id), central.with(|c| c.state(case.id)), "workstation {i} equals the central state");
        assert_sound(s, &format!("workstation {i}"));
    }
}

#[test]
fn two_people_resolving_one_dispute_offline_leave_every_workstation_naming_the_resolution_the_central_store_took_first()
{
    let central = FakeTransport::new();
    let mut stores = [workstation("FD1", "ann"), workstation("FD2", "bob"), workstation("FD3", "carol")];
    let case = stores[0].create_case(obj(json!({"patient_name": "Ada", "status": "received"}))).unwrap();
    for s in &mut stores {
        sync(s, &central);
    }
    stores[0].edit_case("FD1-000001", None, obj(json!({"status": "milling"}))).unwrap();
    stores[1].edit_case("FD1-000001", None, obj(json!({"status": "qc"}))).unwrap();
    for _ in 0..2 {
        for s in &mut stores {
            sync(s, &central);
        }
    }
    let first = stores[0].resolve(case.id, obj(json!({"status": "milling"}))).unwrap();
    let second = stores[2].resolve(case.id, obj(json!({"status": "qc"}))).unwrap();
    assert_eq!(first.resolves, second.resolves, "both settle the same disputed change");
    sync(&mut stores[0], &central);
    sync(&mut stores[2], &central);
    for _ in 0..2 {
        for s in &mut stores {
            sync(s, &central);
        }
    }
    let rows = conflict_rows(&stores[0]);
    assert_eq!(rows.len(), 1, "one dispute: {rows:?}");
    assert_eq!(rows[0].4.as_deref(), Some(first.id.to_string().as_str()), "settled by the resolution taken first");
    for (i, s) in stores.iter().enumerate() {
        assert_eq!(conflict_rows(s), rows, "workstation {i} names the same resolution as the others");
        assert_sound(s, &format!("workstation {i}"));
    }
}

#[test]
fn a_dispute_found_and_resolved_before_sending_that_the_central_store_does_not_find_leaves_no_row_behind() {
    let central = FakeTransport::new();
    let (mut a, mut b) = (workstation("FD1", "ann"), workstation("FD2", "bob"));
    let case = a.create_case(obj(json!({"patient_name": "Ada", "status": "received"}))).unwrap();
    sync(&mut a, &central);
    sync(&mut b, &central);
    a.edit_case("FD1-000001", None, obj(json!({"status": "milling"}))).unwrap();
    sync(&mut a, &central);
    b.edit_case("FD1-000001", None, obj(json!({"status": "qc"}))).unwrap();
    pull_only(&mut b, &central);
    assert_eq!(b.conflicts().unwrap().len(), 1, "B sees its pending change collide with A's before sending it");
    b.resolve(case.id, obj(json!({"status": "qc"}))).unwrap();
    // Meanwhile A comes round to B's value: centrally, B's change then disputes nothing.
    a.edit_case("FD1-000001", None, obj(json!({"status": "qc"}))).unwrap();
    sync(&mut a, &central);
    sync(&mut b, &central);
    sync(&mut a, &central);
    assert_eq!(central.with(|c| c.review_state()), Default::default(), "centrally nothing was disputed in the end");
    assert_eq!(conflict_rows(&a), vec![], "A never saw a dispute");
    assert_eq!(conflict_rows(&b), conflict_rows(&a), "B keeps no dispute the central store did not find");
    assert_sound(&b, "B");
}

#[test]
fn a_refused_change_leaves_the_outbox_and_the_chain_is_kept_for_the_ui_and_the_row_is_rebuilt() {
    let central = FakeTransport::new();
    central.with(|c| {
        c.refuse = Some(Box::new(|r| {
            (r.fields.get("status") == Some(&json!("invoiced"))).then(|| "a technician may not invoice a case".into())
        }))
    });
    let mut a = workstation("FD1", "ann");
    let case = a.create_case(obj(json!({"patient_name": "Ada", "status": "qc"}))).unwrap();
    sync(&mut a, &central);
    a.edit_case("FD1-000001", None, obj(json!({"status": "invoiced"}))).unwrap();
    assert_eq!(case_value(&a, "FD1-000001", "status"), "invoiced", "offline, the change shows at once");

    let report = sync(&mut a, &central);
    assert_eq!(report.rejected, 1);
    assert_eq!(report.rejections[0].reason, "a technician may not invoice a case");
    assert_eq!(a.pending_count().unwrap(), 0, "a refused change leaves the outbox");
    assert_eq!(case_value(&a, "FD1-000001", "status"), "qc", "the record is rebuilt without it");
    assert_eq!(a.history(case.id).unwrap().len(), 1, "and its chain no longer holds it");
    let rejected = a.rejected_changes().unwrap();
    assert_eq!(rejected.len(), 1, "it is kept to be shown, not silently undone");
    assert_eq!(rejected[0].fields, obj(json!({"status": "invoiced"})));
    assert_eq!((rejected[0].author.as_str(), rejected[0].record_id), ("ann", case.id));
    assert_sound(&a, "A");
    assert_eq!(folded(&a, case.id), central.with(|c| c.state(case.id)));
}

#[test]
fn a_refused_creation_takes_the_row_and_what_hangs_on_it_and_keeps_them_all_as_rejected() {
    let central = FakeTransport::new();
    central.with(|c| {
        c.refuse = Some(Box::new(|r| {
            (r.fields.get("patient_name") == Some(&json!("Mallory")))
                .then(|| "this lab takes no orders for Mallory".into())
        }))
    });
    let mut a = workstation("FD1", "ann");
    a.create_case(obj(json!({"patient_name": "Ada"}))).unwrap();
    let refused = a.create_case(obj(json!({"patient_name": "Mallory"}))).unwrap();
    a.set_meta("FD1-000002", "shade", "A2").unwrap();
    a.add_note("FD1-000002", "call the dentist").unwrap();
    a.edit_case("FD1-000002", None, obj(json!({"priority": "rush"}))).unwrap();

    let report = sync(&mut a, &central);
    assert!(a.case("FD1-000002").is_err(), "the refused case's row is gone");
    assert_eq!(a.pending_count().unwrap(), 0, "nothing that hung on it waits to be sent");
    let rejected = a.rejected_changes().unwrap();
    assert_eq!(rejected.len(), 4, "the creation, the meta value, the note and the edit are all kept: {rejected:?}");
    assert!(rejected.iter().any(|r| r.record_id == refused.id && r.reason.contains("no orders for Mallory")));
    assert!(
        rejected.iter().filter(|r| r.record_kind != RecordKind::Case).all(|r| r.reason.contains("case")),
        "what was attached says why it went: {rejected:?}"
    );
    // The creation carries a priority too ("medium"): the later edit is the one that set "rush".
    let later_edit = rejected.iter().find(|r| r.fields.get("priority") == Some(&json!("rush"))).unwrap();
    assert!(
        later_edit.reason.contains("creation of this case was refused: this lab takes no orders for Mallory"),
        "a later change to the refused case goes with it, saying why: {}",
        later_edit.reason
    );
    assert!(report.rejected >= 1);
    assert_eq!(a.search("Mallory", 10).unwrap().len(), 0, "the refused case left the search index");
    assert_eq!(case_value(&a, "FD1-000001", "patient_name"), "Ada", "the good case is untouched");
    assert_sound(&a, "A");
}

#[test]
fn a_pending_local_edit_survives_a_pull_of_someone_elses_change_to_the_same_record() {
    let central = FakeTransport::new();
    let (mut a, mut b) = (workstation("FD1", "ann"), workstation("FD2", "bob"));
    let case = a.create_case(obj(json!({"patient_name": "Ada"}))).unwrap();
    sync(&mut a, &central);
    sync(&mut b, &central);

    b.edit_case("FD1-000001", None, obj(json!({"priority": "rush"}))).unwrap();
    a.edit_case("FD1-000001", None, obj(json!({"status": "milling"}))).unwrap();
    a.edit_case("FD1-000001", None, obj(json!({"order_note": "match shade"}))).unwrap();
    sync(&mut a, &central);
    pull_only(&mut b, &central);

    assert_sound(&b, "B");
    assert_eq!(case_value(&b, "FD1-000001", "status"), "milling", "B sees A's change");
    assert_eq!(case_value(&b, "FD1-000001", "priority"), "rush", "with its own pending edit on top");
    assert_eq!(b.pending_count().unwrap(), 1, "which still waits to be sent");
    let positions = chain_positions(&b, case.id);
    assert_eq!(positions.last(), Some(&(4, None)), "renumbered after the central head: {positions:?}");
    assert_eq!(b.case("FD1-000001").unwrap().version, 4);

    let report = sync(&mut b, &central);
    assert_eq!(report.merged, 1);
    sync(&mut a, &central);
    assert_eq!(folded(&a, case.id), folded(&b, case.id));
    assert_eq!(a.case("FD1-000001").unwrap(), b.case("FD1-000001").unwrap(), "both converge");
    assert_sound(&a, "A");
    assert_sound(&b, "B");
}

#[test]
fn a_pending_edit_that_collides_with_a_pulled_one_shows_as_needing_review_before_it_is_sent() {
    let central = FakeTransport::new();
    let (mut a, mut b) = (workstation("FD1", "ann"), workstation("FD2", "bob"));
    let case = a.create_case(obj(json!({"patient_name": "Ada"}))).unwrap();
    sync(&mut a, &central);
    sync(&mut b, &central);
    b.edit_case("FD1-000001", None, obj(json!({"status": "qc"}))).unwrap();
    a.edit_case("FD1-000001", None, obj(json!({"status": "milling"}))).unwrap();
    sync(&mut a, &central);
    pull_only(&mut b, &central);

    assert_eq!(case_value(&b, "FD1-000001", "status"), "milling", "the value accepted first shows");
    let conflicts = b.record_conflicts(case.id).unwrap().expect("B's own change is disputed");
    assert_eq!(conflicts.disputes[0].proposed, json!("qc"), "B's value is kept for review, not lost");
    assert_sound(&b, "B");
    let report = sync(&mut b, &central);
    assert_eq!(report.conflicted, 1, "the central store finds the same conflict");
    assert_eq!(b.conflicts().unwrap().len(), 1, "still one record to review");
    assert_sound(&b, "B");
    assert_eq!(folded(&b, case.id), central.with(|c| c.state(case.id)));
}

#[test]
fn a_push_whose_answer_is_lost_is_resent_without_doubling_anything() {
    let central = FakeTransport::new();
    let mut a = workstation("FD1", "ann");
    let case = a.create_case(obj(json!({"patient_name": "Ada"}))).unwrap();
    central.with(|c| c.lose_answers = 1);

    let err = sync_round(&mut a, &central, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("changes stay in the outbox"), "{err}");
    assert_eq!(central.with(|c| c.accepted.len()), 1, "the central store took it before the answer was lost");
    let outbox = a.outbox(10).unwrap();
    assert_eq!(outbox.len(), 1, "without an answer the change stays in the outbox");
    assert_eq!(outbox[0].attempts, 1);
    assert!(outbox[0].last_error.as_deref().unwrap_or("").contains("not reachable"));
    assert!(a.sync_state().unwrap().last_error.is_some(), "the failed round is noted for the UI");

    let report = sync(&mut a, &central);
    assert_eq!(report.applied, 1, "the resend gets the same answer");
    assert_eq!(central.with(|c| c.accepted.len()), 1, "and no second copy centrally");
    assert_eq!(a.history(case.id).unwrap().len(), 1, "nor locally");
    assert_eq!(a.pending_count().unwrap(), 0);
    assert!(a.sync_state().unwrap().last_error.is_none(), "a good round clears the error");
    assert_sound(&a, "A");
}

#[test]
fn a_pull_cut_short_between_pages_resumes_where_it_stopped_without_skipping_or_doubling() {
    let central = FakeTransport::new();
    let mut a = workstation("FD1", "ann");
    for i in 0..1200 {
        a.create_case(obj(json!({"patient_name": format!("Patient {i}")}))).unwrap();
    }
    sync(&mut a, &central);
    let mut b = workstation("FD2", "bob");
    central.with(|c| c.pages_before_failure = Some(1));

    let err = sync_round(&mut b, &central, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("not reachable"), "{err}");
    assert_eq!(b.sync_cursor().unwrap(), 1000, "the first page was applied with its cursor");
    assert_eq!(count(&b, "SELECT count(*) FROM cases"), 1000);
    assert_sound(&b, "B");

    central.with(|c| c.pages_before_failure = None);
    let report = sync(&mut b, &central);
    assert_eq!(report.pulled, 200, "only what was left is pulled");
    assert_eq!(count(&b, "SELECT count(*) FROM cases"), 1200, "every case, once");
    assert_eq!(count(&b, "SELECT count(*) FROM revisions"), 1200);
    assert_eq!(b.sync_cursor().unwrap(), 1200);
    assert_sound(&b, "B");
}

#[test]
fn a_page_delivered_twice_changes_nothing_the_second_time() {
    use labdesk_core::sync::Transport;
    let central = FakeTransport::new();
    let mut a = workstation("FD1", "ann");
    a.create_case(obj(json!({"patient_name": "Ada"}))).unwrap();
    a.edit_case("FD1-000001", None, obj(json!({"status": "qc"}))).unwrap();
    sync(&mut a, &central);
    let mut b = workstation("FD2", "bob");
    let page = central.pull(0, 1000).unwrap();
    b.apply_page(&page).unwrap();
    let again = b.apply_page(&page).unwrap();
    assert_eq!(again.duplicates, 2, "both revisions are recognised as here already");
    assert_eq!(count(&b, "SELECT count(*) FROM revisions"), 2);
    assert_sound(&b, "B");
}

#[test]
fn bootstrapping_a_fresh_workstation_from_a_central_store_with_many_records_takes_the_fast_path() {
    let central = FakeTransport::new();
    let mut a = workstation("FD1", "ann");
    for i in 0..300 {
        let number = a.create_case(obj(json!({"patient_name": format!("Patient {i}")}))).unwrap().record.case_number;
        a.edit_case(&number, None, obj(json!({"status": "milling", "assignees": ["bob"]}))).unwrap();
        a.set_meta(&number, "shade", "A2").unwrap();
        if i % 10 == 0 {
            a.post_message(&number, labdesk_core::NewMessage::text("hello")).unwrap();
        }
    }
    sync(&mut a, &central);
    let mut b = workstation("FD2", "bob");
    let report = sync(&mut b, &central);
    assert_eq!(report.pulled, 930);
    assert_eq!(report.fast, 930, "every revision appended without a rebuild: {report:?}");
    assert_eq!(report.rebuilt, 0);
    assert_sound(&b, "B");
    let bobs = b.list_cases(&labdesk_core::CaseQuery { assignee: Some("bob".into()), ..Default::default() }).unwrap();
    assert_eq!(bobs.total, 300, "the assignee index follows pulled rows");
    assert_eq!(b.search("hello", 100).unwrap().len(), 30, "so does the search index");
    let some = a.case_id("FD1-000123").unwrap();
    assert_eq!(folded(&a, some), folded(&b, some));
}

#[test]
fn a_case_created_on_each_workstation_with_the_same_meta_key_meets_as_one_record() {
    let central = FakeTransport::new();
    let (mut a, mut b) = (workstation("FD1", "ann"), workstation("FD2", "bob"));
    a.create_case(obj(json!({"patient_name": "Ada"}))).unwrap();
    sync(&mut a, &central);
    sync(&mut b, &central);
    // Both set the same key offline: the meta record's id is derived from case and key.
    a.set_meta("FD1-000001", "shade", "A2").unwrap();
    b.set_meta("FD1-000001", "shade", "B1").unwrap();
    sync(&mut a, &central);
    let report = sync(&mut b, &central);
    assert_eq!(report.conflicted, 1, "two creations of one record with different values conflict: {report:?}");
    sync(&mut a, &central);
    let (ma, mb) = (a.meta("FD1-000001").unwrap(), b.meta("FD1-000001").unwrap());
    assert_eq!(ma, mb, "one record, the same everywhere");
    assert_eq!(ma[0].record.value, "A2", "the value accepted first");
    assert_sound(&a, "A");
    assert_sound(&b, "B");
}

#[test]
fn a_server_that_is_away_loses_nothing_and_the_next_round_sends_it_all() {
    let central = FakeTransport::new();
    let mut a = workstation("FD1", "ann");
    a.create_case(obj(json!({"patient_name": "Ada"}))).unwrap();
    central.with(|c| c.offline = true);
    let err = sync_round(&mut a, &central, &mut |_| {}).unwrap_err();
    assert!(err.is_offline(), "{err}");
    a.edit_case("FD1-000001", None, obj(json!({"status": "qc"}))).unwrap();
    assert_eq!(a.pending_count().unwrap(), 2, "work goes on offline");
    central.with(|c| c.offline = false);
    let report = sync(&mut a, &central);
    assert_eq!(report.applied, 2);
    assert_sound(&a, "A");
}

#[test]
fn watch_pulls_news_within_a_second_and_pushes_new_local_changes_promptly() {
    let central = FakeTransport::new();
    let mut a = workstation("FD1", "ann");
    a.create_case(obj(json!({"patient_name": "Ada"}))).unwrap();
    sync(&mut a, &central);

    let b = workstation("FD2", "bob");
    let stop = Arc::new(AtomicBool::new(false));
    let (events, received) = mpsc::channel::<(u64, u64)>();
    let options = WatchOptions {
        long_poll: Duration::from_secs(25),
        outbox_check: Duration::from_millis(100),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
    };
    let watcher = {
        let (stop, transport) = (stop.clone(), Arc::new(central.another()));
        std::thread::spawn(move || {
            let mut b = b;
            watch(&mut b, transport, &options, &stop, &mut |event| {
                if let WatchEvent::Synced(report) = event {
                    let _ = events.send((report.pulled, report.pushed));
                }
            })
            .unwrap();
            b
        })
    };
    let first = received.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(first.0, 1, "the first round pulls what is there");

    a.edit_case("FD1-000001", None, obj(json!({"status": "milling"}))).unwrap();
    let started = std::time::Instant::now();
    sync(&mut a, &central);
    let news = received.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(news.0, 1, "the long poll brought A's change");
    assert!(started.elapsed() < Duration::from_secs(2), "within a second or so: {:?}", started.elapsed());

    stop.store(true, Ordering::Relaxed);
    let mut b = watcher.join().unwrap();
    assert_eq!(case_value(&b, "FD1-000001", "status"), "milling");
    assert_sound(&b, "B");

    // A change made while watching is pushed without waiting for news from the server.
    let stop = Arc::new(AtomicBool::new(false));
    b.edit_case("FD1-000001", None, obj(json!({"priority": "rush"}))).unwrap();
    let (pushed_tx, pushed) = mpsc::channel::<u64>();
    let watcher = {
        let (stop, transport) = (stop.clone(), Arc::new(central.another()));
        std::thread::spawn(move || {
            watch(
                &mut b,
                transport,
                &WatchOptions { outbox_check: Duration::from_millis(100), ..Default::default() },
                &stop,
                &mut |event| {
                    if let WatchEvent::Synced(report) = event {
                        let _ = pushed_tx.send(report.pushed);
                    }
                },
            )
            .unwrap();
            b
        })
    };
    assert_eq!(pushed.recv_timeout(Duration::from_secs(5)).unwrap(), 1, "the pending change went in the first round");
    stop.store(true, Ordering::Relaxed);
    let b = watcher.join().unwrap();
    assert_eq!(b.pending_count().unwrap(), 0);
    assert_eq!(central.with(|c| c.state(b.case_id("FD1-000001").unwrap()))["priority"], json!("rush"));
}

#[test]
fn watch_retries_an_absent_server_with_backoff_and_catches_up_when_it_returns() {
    let central = FakeTransport::new();
    central.with(|c| c.offline = true);
    let mut a = workstation("FD1", "ann");
    a.create_case(obj(json!({"patient_name": "Ada"}))).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<Result<u64, Duration>>();
    let options = WatchOptions {
        long_poll: Duration::from_millis(200),
        outbox_check: Duration::from_millis(50),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
    };
    let watcher = {
        let (stop, transport) = (stop.clone(), Arc::new(central.another()));
        std::thread::spawn(move || {
            watch(&mut a, transport, &options, &stop, &mut |event| match event {
                WatchEvent::Synced(r) => {
                    let _ = tx.send(Ok(r.pushed));
                }
                WatchEvent::Failed { retry_in, .. } => {
                    let _ = tx.send(Err(*retry_in));
                }
                WatchEvent::Progress(_) | WatchEvent::Unreachable(_) | WatchEvent::Reachable => {}
            })
            .unwrap();
            a
        })
    };
    let mut failures = 0;
    while failures < 4 {
        match rx.recv_timeout(Duration::from_secs(5)).unwrap() {
            Err(retry_in) => {
                assert!(retry_in <= Duration::from_millis(100), "never longer than the limit");
                failures += 1;
            }
            Ok(_) => panic!("the server is away"),
        }
    }
    central.with(|c| c.offline = false);
    let pushed = loop {
        if let Ok(pushed) = rx.recv_timeout(Duration::from_secs(5)).unwrap() {
            break pushed;
        }
    };
    assert_eq!(pushed, 1, "the change made offline went once the server was back");
    stop.store(true, Ordering::Relaxed);
    let a = watcher.join().unwrap();
    assert_sound(&a, "A");
    assert_eq!(a.pending_count().unwrap(), 0);
    let _ = Uuid::nil();
}

#[test]
fn a_watch_that_loses_the_server_while_idle_says_so_at_once_and_says_when_it_is_back() {
    #[derive(Debug, PartialEq)]
    enum Said {
        Synced { pushed: u64 },
        Failed,
        Unreachable,
        Reachable,
    }
    let central = FakeTransport::new();
    let a = workstation("FD1", "ann");
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<Said>();
    let options = WatchOptions {
        long_poll: Duration::from_millis(200),
        outbox_check: Duration::from_millis(50),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
    };
    let watcher = {
        let (stop, transport) = (stop.clone(), Arc::new(central.another()));
        std::thread::spawn(move || {
            let mut a = a;
            watch(&mut a, transport, &options, &stop, &mut |event| {
                let said = match event {
                    WatchEvent::Synced(r) => Said::Synced { pushed: r.pushed },
                    WatchEvent::Failed { .. } => Said::Failed,
                    WatchEvent::Unreachable(_) => Said::Unreachable,
                    WatchEvent::Reachable => Said::Reachable,
                    WatchEvent::Progress(_) => return,
                };
                let _ = tx.send(said);
            })
            .unwrap();
            a
        })
    };
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Said::Synced { pushed: 0 }, "the first round");

    central.with(|c| c.offline = true);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        Said::Unreachable,
        "with nothing to send, the long poll is what notices the server gone, within its period"
    );

    central.with(|c| c.offline = false);
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Said::Reachable, "and notices it back");
    stop.store(true, Ordering::Relaxed);
    let a = watcher.join().unwrap();
    let said: Vec<Said> = rx.try_iter().collect();
    assert!(!said.contains(&Said::Unreachable), "an outage is said once: {said:?}");
    assert_sound(&a, "A");
}

#[test]
fn stages_moved_offline_on_two_workstations_merge_and_the_status_they_set_is_an_ordinary_field_change() {
    use labdesk_core::{Stage, StageAction, StageStatus};
    let central = FakeTransport::new();
    let (mut a, mut b) = (workstation("FD1", "ann"), workstation("FD2", "bob"));
    let case = a.create_case(obj(json!({"patient_name": "Ada"}))).unwrap();
    a.move_stage("FD1-000001", Stage::Receiving, StageAction::Complete, None).unwrap();
    sync(&mut a, &central);
    sync(&mut b, &central);

    // A starts the scan (the case becomes `processing`); B assigns design and notes receiving.
    a.move_stage("FD1-000001", Stage::ImpressionScan, StageAction::Start, None).unwrap();
    b.move_stage("FD1-000001", Stage::Design, StageAction::Assign(Some("carol".into())), None).unwrap();
    b.move_stage("FD1-000001", Stage::Receiving, StageAction::Notes("box dented".into()), None).unwrap();
    sync(&mut a, &central);
    let report = sync(&mut b, &central);
    assert_eq!(report.conflicted, 0, "only A's move changed the case's status: nothing to review");
    sync(&mut a, &central);
    for (who, s) in [("A", &a), ("B", &b)] {
        assert_sound(s, who);
        assert_eq!(case_value(s, "FD1-000001", "status"), "processing", "{who} has the status A's move set");
        let stages = s.stages("FD1-000001").unwrap();
        assert_eq!(stages[1].stage.status, StageStatus::InProgress, "{who} has A's stage");
        assert_eq!(stages[2].stage.assignee.as_deref(), Some("carol"), "{who} has B's stage");
    }

    // Both move stages that set different statuses: the status is disputed like any field, for a
    // person to settle, and every stage move arrives.
    a.move_stage("FD1-000001", Stage::Design, StageAction::Start, None).unwrap();
    b.move_stage("FD1-000001", Stage::Milling, StageAction::Start, None).unwrap();
    sync(&mut a, &central);
    let report = sync(&mut b, &central);
    assert_eq!(report.conflicted, 1, "B's status (milling) was made on the one A changed (designing)");
    sync(&mut a, &central);
    for (who, s) in [("A", &a), ("B", &b)] {
        assert_sound(s, who);
        assert_eq!(case_value(s, "FD1-000001", "status"), "designing", "{who}: the status accepted first stays");
        let stages = s.stages("FD1-000001").unwrap();
        assert_eq!(stages[2].stage.status, StageStatus::InProgress, "{who} has A's design start");
        assert_eq!(stages[3].stage.status, StageStatus::InProgress, "{who} has B's milling start");
        let conflicts = s.conflicts().unwrap();
        assert_eq!(conflicts.len(), 1, "{who} shows the case for review: {conflicts:?}");
        assert_eq!(conflicts[0].disputes[0].field, "status");
        assert_eq!(folded(s, case.id), central.with(|c| c.state(case.id)), "{who} equals the central state");
    }
}

/// The problems `check` reports about changes from the lab that are set aside.
fn held_problems(store: &Store) -> Vec<String> {
    store.check(false).unwrap().problems.into_iter().filter(|p| p.contains("is not stored here")).collect()
}

#[test]
fn a_pulled_case_whose_number_is_taken_here_is_set_aside_the_pull_goes_on_and_it_applies_once_the_clash_is_gone() {
    let central = FakeTransport::new();
    let (mut a, mut b) = (workstation("FD1", "ann"), workstation("FD2", "bob"));
    let old = a.create_case(obj(json!({"case_number": "OLD-17", "patient_name": "Ada"}))).unwrap();
    a.set_meta("OLD-17", "shade", "A2").unwrap();
    a.create_case(obj(json!({"patient_name": "Ben"}))).unwrap();
    sync(&mut a, &central);
    // B imported the same number from the old system, offline, and pulls before it pushes.
    b.create_case(obj(json!({"case_number": "OLD-17", "patient_name": "Bea"}))).unwrap();
    pull_only(&mut b, &central);

    assert_eq!(b.sync_cursor().unwrap(), central.with(|c| c.head()), "the cursor moved past the clash");
    assert_eq!(case_value(&b, "FD1-000001", "patient_name"), "Ben", "the rest of the pull arrived");
    assert_eq!(case_value(&b, "OLD-17", "patient_name"), "Bea", "B's own case is untouched");
    let held = b.held_changes().unwrap();
    assert_eq!(held.len(), 2, "A's case and the meta value on it are set aside: {held:?}");
    assert_eq!((held[0].record_id, held[0].case_number.as_deref()), (old.id, Some("OLD-17")));
    assert!(
        held[0].reason.contains("case number OLD-17 is already used here by another case (patient Bea)"),
        "the reason names the clash: {}",
        held[0].reason
    );
    assert!(held[1].reason.contains("the case it belongs to is set aside"), "{}", held[1].reason);
    assert_eq!(b.sync_state().unwrap().held, 2, "the status counts them");
    let problems = held_problems(&b);
    assert_eq!(problems.len(), 2, "check reports each: {problems:?}");
    assert!(problems[0].contains("case OLD-17") && problems[0].contains("already used here"), "{problems:?}");
    assert!(!b.check(false).unwrap().is_ok(), "the store is not the lab's state while they are held");

    // A later change to the held case comes in behind it: a chain has no gaps.
    a.edit_case("OLD-17", None, obj(json!({"status": "milling"}))).unwrap();
    sync(&mut a, &central);
    pull_only(&mut b, &central);
    assert_eq!(b.held_changes().unwrap().len(), 3, "the edit waits behind the creation");

    // The lab refuses B's duplicate: B's case goes, and A's applies in the same round.
    central.with(|c| {
        c.refuse = Some(Box::new(|r| {
            (r.workstation == "FD2" && r.fields.get("case_number") == Some(&json!("OLD-17")))
                .then(|| "the case number OLD-17 is already used by another case".into())
        }))
    });
    let report = sync(&mut b, &central);
    assert_eq!(report.rejected, 1, "B's duplicate was refused: {report:?}");
    assert_eq!((report.held_applied, report.held), (3, 0), "every held change applied: {report:?}");
    assert!(b.held_changes().unwrap().is_empty());
    assert_eq!(case_value(&b, "OLD-17", "patient_name"), "Ada", "the lab's OLD-17 is here now");
    assert_eq!(case_value(&b, "OLD-17", "status"), "milling", "with the change that waited behind it");
    assert_eq!(folded(&b, old.id), central.with(|c| c.state(old.id)), "B shows the central state");
    assert_eq!(chain_positions(&b, old.id), chain_positions(&a, old.id), "at the central versions");
    assert_eq!(b.meta("OLD-17").unwrap().len(), 1, "the meta value on it applied too");
    assert_sound(&b, "B");
}

#[test]
fn a_round_with_a_clash_both_sides_took_succeeds_and_later_rounds_keep_succeeding() {
    let central = FakeTransport::new();
    let (mut a, mut b) = (workstation("FD1", "ann"), workstation("FD2", "bob"));
    a.create_case(obj(json!({"case_number": "OLD-17", "patient_name": "Ada"}))).unwrap();
    sync(&mut a, &central);
    b.create_case(obj(json!({"case_number": "OLD-17", "patient_name": "Bea"}))).unwrap();
    // The fake takes both (as the central store once did): B pushes, then cannot store A's.
    let report = sync_round(&mut b, &central, &mut |_| {}).expect("a clash does not fail the round");
    assert_eq!((report.set_aside, report.held), (1, 1), "{report:?}");
    assert!(b.sync_state().unwrap().last_error.is_none(), "the round completed");
    let report = sync_round(&mut a, &central, &mut |_| {}).expect("nor on the other workstation");
    assert_eq!(report.held, 1, "A cannot store B's either: {report:?}");

    a.create_case(obj(json!({"patient_name": "Cy"}))).unwrap();
    sync(&mut a, &central);
    let again = sync(&mut b, &central);
    assert_eq!(again.held, 1, "the clash is still set aside, tried again: {again:?}");
    assert_eq!(case_value(&b, "FD1-000001", "patient_name"), "Cy", "and what came after it arrives");
    assert_eq!(b.held_changes().unwrap()[0].attempts, 3, "tried at each round");
    assert_eq!(held_problems(&b).len(), 1, "check keeps reporting it");
}

#[test]
fn a_fresh_workstation_bootstrapping_a_lab_with_two_cases_of_one_number_sets_one_aside_and_takes_the_rest() {
    let central = FakeTransport::new();
    let (mut a, mut b) = (workstation("FD1", "ann"), workstation("FD2", "bob"));
    for i in 0..50 {
        a.create_case(obj(json!({"patient_name": format!("Patient {i}")}))).unwrap();
    }
    a.create_case(obj(json!({"case_number": "OLD-17", "patient_name": "Ada"}))).unwrap();
    sync(&mut a, &central);
    let dup = b.create_case(obj(json!({"case_number": "OLD-17", "patient_name": "Bea"}))).unwrap();
    b.set_meta("OLD-17", "shade", "B1").unwrap();
    b.post_message("OLD-17", labdesk_core::NewMessage::text("margins look short")).unwrap();
    for i in 0..20 {
        b.create_case(obj(json!({"patient_name": format!("Later {i}")}))).unwrap();
    }
    sync(&mut b, &central);

    let mut c = workstation("FD3", "carol");
    let report = sync_round(&mut c, &central, &mut |_| {}).expect("the bootstrap is not stopped by the clash");
    assert_eq!(c.sync_cursor().unwrap(), central.with(|x| x.head()), "it caught up");
    assert_eq!(report.held, 3, "B's OLD-17 and what hangs on it are set aside: {report:?}");
    assert_eq!(case_value(&c, "OLD-17", "patient_name"), "Ada", "the first OLD-17 in the lab's order is here");
    assert_eq!(case_value(&c, "FD2-000020", "patient_name"), "Later 19", "and everything after the clash");
    let held = c.held_changes().unwrap();
    assert_eq!(held[0].record_id, dup.id);
    assert!(held[0].reason.contains("OLD-17 is already used here by another case (patient Ada)"), "{}", held[0].reason);
    assert_eq!(held_problems(&c).len(), 3, "check reports them");
    let others: Vec<String> =
        c.check(true).unwrap().problems.into_iter().filter(|p| !p.contains("is not stored here")).collect();
    assert!(others.is_empty(), "otherwise the store is sound: {others:?}");
    assert_eq!(c.search("Later", 100).unwrap().len(), 20, "the indexes the bootstrap builds are complete");

    // Later changes of the held case wait behind it; the rest goes on arriving.
    b.edit_case("OLD-17", None, obj(json!({"status": "milling"}))).unwrap();
    b.create_case(obj(json!({"patient_name": "Even later"}))).unwrap();
    sync(&mut b, &central);
    let report = sync(&mut c, &central);
    assert_eq!((report.set_aside, report.held), (1, 4), "{report:?}");
    assert_eq!(case_value(&c, "FD2-000021", "patient_name"), "Even later");
}

#[test]
fn a_pulled_change_the_store_refuses_while_rebuilding_a_record_with_a_pending_edit_is_set_aside_alone() {
    use labdesk_core::sync::Transport;
    use labdesk_core::{NewFile, Origin, Revision, Timestamp};
    use labdesk_proto::sync::PushRequest;

    let central = FakeTransport::new();
    let (mut a, mut b) = (workstation("FD1", "ann"), workstation("FD2", "bob"));
    a.create_case(obj(json!({"patient_name": "Ada"}))).unwrap();
    let new_file = NewFile {
        original_name: "scan.png".into(),
        file_size: 10,
        mime_type: "image/png".into(),
        hash: "ab".repeat(32),
        message_id: None,
    };
    let file = a.attach_files("FD1-000001", vec![new_file]).unwrap().remove(0);
    sync(&mut a, &central);
    sync(&mut b, &central);
    // B removes the file offline: the file record has a tail, so what comes for it is rebuilt.
    b.remove_file(file.id).unwrap();
    // Someone sends the lab a size this store's schema refuses (file_size >= 0).
    let head = central.with(|c| c.accepted.iter().rfind(|r| r.revision.record_id == file.id).unwrap().revision.id);
    let bad = Revision {
        id: Uuid::now_v7(),
        record_kind: RecordKind::File,
        record_id: file.id,
        version: 2,
        base_version: 1,
        parent: Some(head),
        parent_unconfirmed: false,
        fields: obj(json!({"file_size": -1})),
        author: "ann".into(),
        workstation: "FD1".into(),
        made_at: Timestamp::now(),
        resolves: vec![],
        superseded_by: None,
        origin: Origin::Local,
    };
    central.push(&PushRequest { revisions: vec![bad.clone()] }).unwrap();
    a.create_case(obj(json!({"patient_name": "Ben"}))).unwrap();
    sync(&mut a, &central);

    pull_only(&mut b, &central);
    assert_eq!(b.sync_cursor().unwrap(), central.with(|c| c.head()), "the page committed");
    assert_eq!(case_value(&b, "FD1-000002", "patient_name"), "Ben", "with the rest of it");
    let held = b.held_changes().unwrap();
    assert_eq!(held.len(), 1, "only the refused change is set aside: {held:?}");
    assert_eq!((held[0].revision_id, held[0].case_number.as_deref()), (bad.id, Some("FD1-000001")));
    assert!(held[0].reason.contains("CHECK constraint failed"), "{}", held[0].reason);
    assert!(b.files("FD1-000001").unwrap().iter().all(|f| f.deleted_at.is_some()), "B's pending removal stays");
    assert_eq!(b.pending_count().unwrap(), 1, "and waits to be sent");
    assert_eq!(held_problems(&b).len(), 1, "check reports the one set aside");
    let others: Vec<String> =
        b.check(true).unwrap().problems.into_iter().filter(|p| !p.contains("is not stored here")).collect();
    assert!(others.is_empty(), "and nothing else: {others:?}");
}
