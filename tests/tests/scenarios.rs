//! End to end, scenario by scenario: workstations (real `labdesk-core` stores and the real HTTP
//! transport, behind a wrapper that injects faults) syncing through the real sync server on a real
//! PostgreSQL, each scenario with a database and server of its own. Every scenario ends with
//! convergence: every workstation shows exactly the central state (record by record, revision by
//! revision, conflict by conflict), has an empty outbox and passes its consistency check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use anyhow::Result;
use common::{assert_converged, central_review_state, fields, outbox_ids, review_state, Lab, Ws};
use labdesk_core::sync::{fetch_blob, Transport};
use labdesk_core::{MessageStatus, NewMessage, RecordKind, Stage, StageAction, StageStatus};
use labdesk_proto::sync::{Outcome, PushRequest};
use labdesk_testkit::TestServer;
use serde_json::json;
use uuid::Uuid;

/// A lab with `n` workstations FD1.. (users u1..) and an observer that only pulls.
fn lab_with(n: usize) -> Result<(Lab, Vec<Ws>, labdesk_testkit::Provisioned)> {
    let lab = Lab::start()?;
    let url = lab.url();
    let mut stations = Vec::new();
    for i in 1..=n {
        let who = lab.provision("North", &format!("u{i}"), &format!("FD{i}"))?;
        stations.push(Ws::new(&url, &who)?);
    }
    let observer = lab.provision("North", "observer", "OBS")?;
    Ok((lab, stations, observer))
}

fn converged(lab: &Lab, observer: &labdesk_testkit::Provisioned, stations: &[Ws]) -> Result<common::Snapshot> {
    let refs: Vec<&Ws> = stations.iter().collect();
    assert_converged(lab, &lab.url(), observer, &refs)
}

fn sync_all(stations: &mut [Ws]) -> Result<()> {
    for ws in stations.iter_mut() {
        ws.sync()?;
    }
    Ok(())
}

#[test]
fn three_workstations_working_offline_then_syncing_in_turn_all_end_with_everything() -> Result<()> {
    let (lab, mut ws, observer) = lab_with(3)?;
    let mut numbers = Vec::new();
    for (i, w) in ws.iter_mut().enumerate() {
        w.offline(true);
        for n in 0..2 {
            let case = w.store.create_case(fields(json!({"patient_name": format!("Patient {i}-{n}")})))?;
            let number = case.record.case_number.clone();
            w.store.post_message(&number, NewMessage::text("impression received"))?;
            w.store.move_stage(&number, Stage::Receiving, StageAction::Complete, None)?;
            w.store.move_stage(&number, Stage::Design, StageAction::Start, None)?;
            w.store.set_meta(&number, "shade", "A2")?;
            numbers.push(number);
        }
        assert!(w.try_sync().is_err(), "offline, a round fails and keeps everything local");
        assert!(w.store.pending_count()? > 0, "offline changes wait in the outbox");
    }
    for w in ws.iter_mut() {
        w.offline(false);
        let report = w.sync()?;
        assert_eq!(report.rejected, 0, "nothing a technician did offline is refused");
    }
    sync_all(&mut ws)?;
    for w in &ws {
        for number in &numbers {
            let detail = w.store.case_detail(number)?;
            assert_eq!(detail.chat.len(), 1, "{} has the chat of {number}", w.name());
            let design = detail.stages.iter().find(|s| s.stage.stage == Stage::Design).unwrap();
            assert_eq!(design.stage.status, StageStatus::InProgress, "{} sees design started on {number}", w.name());
        }
    }
    let central = converged(&lab, &observer, &ws)?;
    assert_eq!(central.rows["cases"].len(), 6, "six cases, none doubled");
    Ok(())
}

#[test]
fn the_same_field_edited_offline_on_two_workstations_is_conflicted_for_the_later_pusher_until_a_third_resolves(
) -> Result<()> {
    let (lab, mut ws, observer) = lab_with(3)?;
    let case = ws[0].store.create_case(fields(json!({"patient_name": "Jane Roe", "status": "received"})))?;
    let number = case.record.case_number.clone();
    sync_all(&mut ws)?;
    ws[0].store.edit_case(&number, None, fields(json!({"status": "milling"})))?;
    ws[1].store.edit_case(&number, None, fields(json!({"status": "qc"})))?;
    let first = ws[0].sync()?;
    let second = ws[1].sync()?;
    assert_eq!((first.applied, first.conflicted), (1, 0), "the first pusher fast-forwards");
    assert_eq!(second.conflicted, 1, "the later pusher's change came second: conflicted");
    sync_all(&mut ws)?;
    for w in &ws {
        assert_eq!(w.store.case(&number)?.record.status, "milling", "the value accepted first stays on {}", w.name());
        let conflicts = w.store.conflicts()?;
        assert_eq!(conflicts.len(), 1, "{} sees the record needing review", w.name());
        let dispute = &conflicts[0].disputes[0];
        assert_eq!(
            (dispute.field.as_str(), &dispute.kept, &dispute.proposed),
            ("status", &json!("milling"), &json!("qc"))
        );
        assert!(w.store.case_detail(&number)?.needs_review(), "{} shows the case as needing review", w.name());
    }
    ws[2].store.resolve(case.id, fields(json!({"status": "qc"})))?;
    sync_all(&mut ws)?;
    sync_all(&mut ws)?;
    for w in &ws {
        assert_eq!(
            w.store.case(&number)?.record.status,
            "qc",
            "the pick of the third workstation wins on {}",
            w.name()
        );
        assert!(w.store.conflicts()?.is_empty(), "the resolution settled the conflict on {}", w.name());
    }
    let review = lab.query(&format!("SELECT needs_review::text FROM records WHERE id = '{}'", case.id))?;
    assert_eq!(review[0][0].as_deref(), Some("false"), "centrally the record no longer needs review");
    converged(&lab, &observer, &ws)?;
    Ok(())
}

#[test]
fn a_lab_setting_syncs_between_workstations_conflicts_visibly_and_one_name_stays_one_setting() -> Result<()> {
    let (lab, mut ws, observer) = lab_with(3)?;
    let made =
        ws[0].store.create_record(RecordKind::Setting, fields(json!({"key": "opening_hours", "value": "8-17"})))?;
    let id = made.record.id.to_string();
    sync_all(&mut ws)?;
    for w in &ws {
        assert_eq!(w.store.record(RecordKind::Setting, &id)?.record["value"], "8-17", "{} has the setting", w.name());
    }
    // Both change it offline; and the third makes the same name again offline.
    ws[0].store.edit_record(RecordKind::Setting, &id, None, fields(json!({"value": "7-18"})))?;
    ws[1].store.edit_record(
        RecordKind::Setting,
        &id,
        None,
        fields(json!({"value": "9-17", "description": "front desk"})),
    )?;
    let first = ws[0].sync()?;
    let second = ws[1].sync()?;
    assert_eq!((first.applied, first.conflicted), (1, 0), "the first pusher fast-forwards");
    assert_eq!(second.conflicted, 1, "the later one's value came second: conflicted, its description merged");
    sync_all(&mut ws)?;
    for w in &ws {
        let setting = w.store.record(RecordKind::Setting, &id)?;
        assert_eq!((&setting.record["value"], &setting.record["description"]), (&json!("7-18"), &json!("front desk")));
        let conflicts = w.store.conflicts()?;
        assert_eq!(conflicts.len(), 1, "{} lists the setting for review", w.name());
        assert_eq!(conflicts[0].disputes[0].field, "value");
        assert_eq!(conflicts[0].case_number, None, "a setting belongs to no case");
    }
    ws[2].store.resolve(made.record.id, fields(json!({"value": "9-17"})))?;
    sync_all(&mut ws)?;
    sync_all(&mut ws)?;
    for w in &ws {
        assert_eq!(w.store.record(RecordKind::Setting, &id)?.record["value"], "9-17", "the pick wins on {}", w.name());
        assert!(w.store.conflicts()?.is_empty(), "settled on {}", w.name());
        assert_eq!(w.store.history(made.record.id)?.len(), 4, "{} keeps the whole history", w.name());
    }
    converged(&lab, &observer, &ws)?;
    Ok(())
}

#[test]
fn the_same_setting_name_made_on_two_workstations_offline_is_kept_once_and_refused_to_the_second() -> Result<()> {
    let (lab, mut ws, observer) = lab_with(2)?;
    ws[0].store.create_record(RecordKind::Setting, fields(json!({"key": "tax_rate", "value": "8"})))?;
    let late = ws[1].store.create_record(RecordKind::Setting, fields(json!({"key": "tax_rate", "value": "9"})))?;
    ws[0].sync()?;
    let report = ws[1].sync()?;
    assert_eq!(report.rejected, 1, "the second one made is refused");
    let refused = ws[1].store.rejected_changes()?;
    assert!(refused
        .iter()
        .any(|r| r.record_id == late.record.id && r.reason.contains("tax_rate is already in this lab")));
    sync_all(&mut ws)?;
    for w in &ws {
        let live = w.store.records(RecordKind::Setting, &Default::default())?;
        assert_eq!(live.len(), 1, "{} has one tax_rate", w.name());
        assert_eq!(live[0].record["value"], "8", "the first one made");
    }
    converged(&lab, &observer, &ws)?;
    Ok(())
}

/// Three writers of one field: every workstation, and the central store, list the same two
/// disputes (the kept value, each proposal and who made it); a resolution clears them everywhere,
/// also when two people resolve them at once (every workstation names the same one as settling
/// them, and lists the dispute between the two picks), and the last one leaves nothing listed.
#[test]
fn three_workstations_setting_one_field_offline_list_the_central_disputes_through_two_concurrent_resolutions_on_all(
) -> Result<()> {
    let (lab, mut ws, observer) = lab_with(3)?;
    let case = ws[0].store.create_case(fields(json!({"patient_name": "Jane Roe", "status": "received"})))?;
    let number = case.record.case_number.clone();
    sync_all(&mut ws)?;
    for (w, status) in ws.iter_mut().zip(["milling", "qc", "ready"]) {
        w.offline(true);
        w.store.edit_case(&number, None, fields(json!({ "status": status })))?;
        w.offline(false);
    }
    sync_all(&mut ws)?;
    sync_all(&mut ws)?;
    let central = central_review_state(&lab, "North")?;
    let disputes: Vec<(&str, &str, &str)> =
        central.disputes.iter().map(|d| (d.kept.as_str(), d.proposed.as_str(), d.proposed_by.as_str())).collect();
    assert_eq!(
        disputes.iter().copied().collect::<std::collections::BTreeSet<_>>(),
        [(r#""milling""#, r#""qc""#, "u2@FD2"), (r#""milling""#, r#""ready""#, "u3@FD3")].into_iter().collect(),
        "centrally the first pusher's value is kept and the other two are disputed, each by its proposer"
    );
    for w in &ws {
        assert_eq!(review_state(&w.store), central, "{} lists the central store's disputes", w.name());
    }

    // Two people settle it at once, offline, each their own way: the first to arrive settles both
    // disputes everywhere, and the second's pick is now disputed against the first's.
    let first = ws[0].store.resolve(case.id, fields(json!({"status": "qc"})))?;
    let second = ws[2].store.resolve(case.id, fields(json!({"status": "ready"})))?;
    assert_eq!(first.resolves.len(), 2, "one resolution settles both disputed changes");
    sync_all(&mut ws)?;
    sync_all(&mut ws)?;
    let central = central_review_state(&lab, "North")?;
    let disputes: Vec<(&str, &str, &str, Uuid)> = central
        .disputes
        .iter()
        .map(|d| (d.kept.as_str(), d.proposed.as_str(), d.proposed_by.as_str(), d.revision))
        .collect();
    assert_eq!(disputes, [(r#""qc""#, r#""ready""#, "u3@FD3", second.id)], "the later resolution is disputed");
    for w in &ws {
        assert_eq!(review_state(&w.store), central, "{} lists the central store's disputes", w.name());
    }
    converged(&lab, &observer, &ws)?; // every workstation names the first resolution as the one that settled them

    let last = ws[1].store.resolve(case.id, fields(json!({"status": "qc"})))?;
    assert_eq!(last.resolves, [second.id], "the last resolution settles the dispute left");
    sync_all(&mut ws)?;
    sync_all(&mut ws)?;
    assert_eq!(central_review_state(&lab, "North")?, Default::default(), "centrally nothing needs review");
    for w in &ws {
        assert_eq!(review_state(&w.store), Default::default(), "{} lists nothing to review", w.name());
        assert_eq!(w.store.case(&number)?.record.status, "qc", "{} shows the picked value", w.name());
    }
    converged(&lab, &observer, &ws)?;
    Ok(())
}

/// Two offline changes in a row on one record: the first is merged centrally (someone else
/// changed the record meanwhile); the second, made on the first, finds its parent to be the
/// central head, but must still be merged against what its author saw, not fast-forwarded: else
/// a field the other workstation changed is silently overwritten (sync-model.md, promise 5). The
/// same path once moved read receipts backwards and dropped other users' reactions.
#[test]
fn a_second_offline_edit_made_on_a_merged_one_does_not_silently_overwrite_a_field_changed_meanwhile() -> Result<()> {
    let (lab, mut ws, observer) = lab_with(2)?;
    let (fd1, fd2) = ws.split_at_mut(1);
    let (fd1, fd2) = (&mut fd1[0], &mut fd2[0]);
    let case = fd1.store.create_case(fields(json!({"patient_name": "Jane Roe", "status": "received"})))?;
    let number = case.record.case_number.clone();
    fd1.sync()?;
    fd2.sync()?;
    fd1.store.edit_case(&number, None, fields(json!({"status": "milling"})))?;
    fd2.store.edit_case(&number, None, fields(json!({"priority": "rush"})))?;
    fd2.store.edit_case(&number, None, fields(json!({"status": "qc"})))?;
    fd1.sync()?;
    let report = fd2.sync()?;
    assert_eq!(report.conflicted, 1, "FD2's status edit was made on a status of 'received', not 'milling'");
    fd1.sync()?;
    assert_eq!(fd1.store.case(&number)?.record.status, "milling", "the value accepted first stays");
    assert_eq!(fd1.store.conflicts()?.len(), 1, "and the record needs review");
    sync_all(&mut ws)?;
    converged(&lab, &observer, &ws)?;
    Ok(())
}

#[test]
fn different_fields_edited_offline_on_two_workstations_are_both_kept_without_conflict() -> Result<()> {
    let (lab, mut ws, observer) = lab_with(2)?;
    let number = ws[0].store.create_case(fields(json!({"patient_name": "Jane Roe"})))?.record.case_number;
    sync_all(&mut ws)?;
    ws[0].store.edit_case(&number, None, fields(json!({"priority": "rush"})))?;
    ws[1].store.edit_case(&number, None, fields(json!({"order_note": "use zirconia"})))?;
    ws[0].sync()?;
    let second = ws[1].sync()?;
    assert_eq!((second.merged, second.conflicted), (1, 0), "a change to another field merges cleanly");
    sync_all(&mut ws)?;
    for w in &ws {
        let case = w.store.case(&number)?.record;
        assert_eq!(
            (case.priority.as_str(), case.order_note.as_str()),
            ("rush", "use zirconia"),
            "both kept on {}",
            w.name()
        );
        assert!(w.store.conflicts()?.is_empty(), "nothing to review on {}", w.name());
    }
    converged(&lab, &observer, &ws)?;
    Ok(())
}

#[test]
fn a_delete_against_an_offline_edit_keeps_both_in_the_chain_and_the_record_deleted_everywhere() -> Result<()> {
    let (lab, mut ws, observer) = lab_with(2)?;
    let case = ws[0].store.create_case(fields(json!({"patient_name": "Jane Roe", "status": "received"})))?;
    let number = case.record.case_number.clone();
    sync_all(&mut ws)?;
    ws[0].store.delete_case(&number, None)?;
    let edit = ws[1].store.edit_case(&number, None, fields(json!({"status": "milling"})))?.revision.unwrap();
    ws[0].sync()?;
    let second = ws[1].sync()?;
    assert_eq!((second.rejected, second.merged), (0, 1), "the edit merges onto the deleted record, not refused");
    sync_all(&mut ws)?;
    for w in &ws {
        let now = w.store.case(&number)?;
        assert!(now.is_deleted(), "the case is deleted on {}", w.name());
        assert_eq!(now.record.status, "milling", "the edit took effect too on {}", w.name());
        let history = w.store.history(case.id)?;
        assert!(history.iter().any(|e| e.revision.id == edit.id), "the edit is in the chain on {}", w.name());
        assert!(
            history.iter().any(|e| e.revision.fields.get("deleted_at").is_some_and(|d| !d.is_null())),
            "the delete is in the chain on {}",
            w.name()
        );
    }
    converged(&lab, &observer, &ws)?;
    Ok(())
}

#[test]
fn chat_from_several_workstations_keeps_every_message_merges_reactions_as_sets_and_reads_only_move_forward(
) -> Result<()> {
    let (lab, mut ws, observer) = lab_with(3)?;
    let number = ws[0].store.create_case(fields(json!({"patient_name": "Jane Roe"})))?.record.case_number;
    let first = ws[0].store.post_message(&number, NewMessage::text("ready for try-in?"))?;
    sync_all(&mut ws)?;
    // Offline on all three: a message each, a reaction each on the first message.
    for (i, w) in ws.iter_mut().enumerate() {
        w.store.post_message(&number, NewMessage::text(&format!("from workstation {i}")))?;
        w.store.react(first.id, "👍", true)?;
    }
    for i in [2, 0, 1] {
        let report = ws[i].sync()?;
        assert_eq!((report.rejected, report.conflicted), (0, 0), "chat merges without dispute");
    }
    sync_all(&mut ws)?;
    // Two read receipts offline: the later one is pushed first; the earlier one, made after a
    // reaction of the same workstation (two pending changes in a row), must not move it back.
    ws[1].store.react(first.id, "❤", true)?;
    ws[1].store.mark_read(first.id)?;
    std::thread::sleep(std::time::Duration::from_millis(20));
    ws[2].store.mark_read(first.id)?;
    let later = ws[2].store.message(first.id)?.record.read_at.unwrap();
    ws[2].sync()?;
    let earlier = ws[1].sync()?;
    assert_eq!((earlier.merged, earlier.conflicted), (2, 0), "the reaction and the earlier read merge cleanly");
    sync_all(&mut ws)?;
    for w in &ws {
        let chat = w.store.messages(&number)?;
        assert_eq!(chat.len(), 4, "every message on {}", w.name());
        let shown: Vec<MessageStatus> = chat.iter().map(|m| m.record.message_status).collect();
        assert_eq!(
            shown,
            [MessageStatus::Read, MessageStatus::Sent, MessageStatus::Sent, MessageStatus::Sent],
            "the central store has every message, and the first was read, as {} shows it",
            w.name()
        );
        let message = w.store.message(first.id)?.record;
        let thumbs: Vec<&str> = message.reactions["👍"].iter().map(String::as_str).collect();
        assert_eq!(thumbs, ["u1", "u2", "u3"], "the reactions are merged as a set on {}", w.name());
        let hearts: Vec<&str> = message.reactions["❤"].iter().map(String::as_str).collect();
        assert_eq!(hearts, ["u2"], "a later reaction keeps the others' on {}", w.name());
        assert_eq!(message.read_at, Some(later), "the furthest read receipt stays on {}", w.name());
    }
    let central = lab.query(&format!(
        "SELECT message_content, message_status FROM chat_messages m JOIN labs l ON l.id = m.lab_id \
         WHERE l.name = '{}' ORDER BY m.created_at, m.id",
        observer.identity.lab_name
    ))?;
    let central: Vec<(String, String)> =
        central.into_iter().map(|r| (r[0].clone().unwrap_or_default(), r[1].clone().unwrap_or_default())).collect();
    assert_eq!(central[0], ("ready for try-in?".to_owned(), "read".to_owned()), "headquarters' view: {central:?}");
    assert!(central[1..].iter().all(|(_, status)| status == "sent"), "as the workstations show it: {central:?}");
    converged(&lab, &observer, &ws)?;
    Ok(())
}

#[test]
fn the_same_push_sent_twice_gets_identical_answers_and_makes_one_central_revision() -> Result<()> {
    let (lab, mut ws, observer) = lab_with(1)?;
    let number = ws[0].store.create_case(fields(json!({"patient_name": "Jane Roe"})))?.record.case_number;
    ws[0].store.edit_case(&number, None, fields(json!({"priority": "rush"})))?;
    let end = ws[0].store.outbox_end()?;
    let batch = ws[0].store.outbox_batch(0, end, 500)?;
    let request = PushRequest { revisions: batch.into_iter().map(|(_, r)| r).collect() };
    let once = ws[0].transport.push(&request)?;
    let twice = ws[0].transport.push(&request)?;
    assert_eq!(once, twice, "a re-sent push is answered exactly as the first time");
    assert!(once.results.iter().all(|r| r.outcome == Outcome::Applied), "made on what it saw: applied: {once:?}");
    assert_eq!(common::count_central_revisions(&lab, "North")?, 2, "two revisions, not four");
    ws[0].store.record_push_results(&request.revisions, &twice.results)?;
    ws[0].sync()?;
    converged(&lab, &observer, &ws)?;
    Ok(())
}

#[test]
fn an_answer_lost_after_the_server_committed_is_resent_next_round_without_a_double() -> Result<()> {
    let (lab, mut ws, observer) = lab_with(2)?;
    let number = ws[0].store.create_case(fields(json!({"patient_name": "Jane Roe"})))?.record.case_number;
    ws[0].store.add_note(&number, "shade A2")?;
    let made = outbox_ids(&ws[0].store);
    ws[0].transport.with(|f| f.lose_push_answers = 1);
    assert!(ws[0].try_sync().is_err(), "the round fails: the answer never came");
    assert_eq!(outbox_ids(&ws[0].store), made, "unanswered changes stay in the outbox");
    assert_eq!(common::count_central_revisions(&lab, "North")?, 2, "yet the server did commit them");
    let again = ws[0].sync()?;
    assert_eq!((again.pushed, again.rejected), (2, 0), "the next round re-sends both and gets the old answers");
    sync_all(&mut ws)?;
    let ids = common::central_revision_ids(&lab, "North")?;
    for id in &made {
        assert_eq!(ids.get(id), Some(&1), "revision {id} is in the central store exactly once");
    }
    converged(&lab, &observer, &ws)?;
    Ok(())
}

#[test]
fn a_server_restarted_between_push_batches_loses_and_doubles_nothing() -> Result<()> {
    let (mut lab, mut ws, observer) = lab_with(2)?;
    for i in 0..40 {
        let number =
            ws[0].store.create_case(fields(json!({"patient_name": format!("Patient {i}")})))?.record.case_number;
        ws[0].store.edit_case(&number, None, fields(json!({"priority": "high"})))?;
    }
    let made = outbox_ids(&ws[0].store);
    // The push goes in chunks of 30; after the first, the server is shut down (gracefully, as
    // on SIGTERM), so the rest of the push finds no server.
    let server = std::sync::Arc::new(std::sync::Mutex::new(lab.server.take()));
    let stopper = server.clone();
    ws[0].transport.with(|f| {
        f.push_chunk = Some(30);
        f.after_chunk = Some(Box::new(move |answered| {
            if answered >= 30 {
                if let Some(server) = stopper.lock().unwrap().take() {
                    server.stop().unwrap();
                }
                return false;
            }
            true
        }));
    });
    assert!(ws[0].try_sync().is_err(), "the round fails when the server goes away");
    assert!(server.lock().unwrap().is_none(), "the server was stopped mid-push");
    let central = common::count_central_revisions(&lab, "North")?;
    assert_eq!(central, 30, "what the first server answered is committed, and only that");
    // A new server on the same database, on a new port.
    let restarted = TestServer::start(&lab.db.url)?;
    lab.server = Some(restarted);
    for w in ws.iter_mut() {
        w.transport.retarget(&lab.url(), &w.who.token)?;
        w.transport.with(|f| f.after_chunk = None);
    }
    let report = ws[0].sync()?;
    assert_eq!(report.rejected, 0);
    sync_all(&mut ws)?;
    let ids = common::central_revision_ids(&lab, "North")?;
    assert_eq!(ids.len(), made.len(), "every change once, none lost");
    assert!(made.iter().all(|id| ids.get(id) == Some(&1)), "each change exactly once centrally");
    converged(&lab, &observer, &ws)?;
    Ok(())
}

#[test]
fn a_workstation_killed_mid_pull_resumes_from_its_last_applied_page_after_reopening() -> Result<()> {
    let lab = Lab::start()?;
    let url = lab.url();
    let author = lab.provision("North", "u1", "FD1")?;
    let reader = lab.provision("North", "u2", "FD2")?;
    let observer = lab.provision("North", "observer", "OBS")?;
    let mut fd1 = Ws::new(&url, &author)?;
    for i in 0..40 {
        let number = fd1.store.create_case(fields(json!({"patient_name": format!("Patient {i}")})))?.record.case_number;
        fd1.store.post_message(&number, NewMessage::text("hello"))?;
    }
    fd1.sync()?;
    let mut fd2 = Ws::on_disk(&url, &reader)?;
    fd2.transport.with(|f| {
        f.page_limit = Some(10);
        f.pages_before_failure = Some(3);
    });
    assert!(fd2.try_sync().is_err(), "the pull is cut after three pages");
    let cursor = fd2.store.sync_cursor()?;
    assert!(cursor > 0, "the pages applied before the cut are kept with their cursor");
    fd2.reopen()?;
    assert_eq!(fd2.store.sync_cursor()?, cursor, "the cursor survives the restart");
    common::assert_sound(&fd2.store, "FD2 after the kill");
    fd2.transport.with(|f| {
        f.pages_before_failure = None;
        f.pages_pulled = 0;
    });
    let resumed = fd2.sync()?;
    let pages = fd2.transport.with(|f| f.pages_pulled);
    assert_eq!(resumed.pulled, 50, "the resumed pull fetches only the 50 revisions after the cursor");
    assert!(pages < 8, "fewer pages than a pull from the start (8 of 10): {pages}");
    converged(&lab, &observer, &[fd1, fd2])?;
    Ok(())
}

#[test]
fn workstations_on_two_server_instances_over_one_database_converge() -> Result<()> {
    let (lab, mut ws, observer) = lab_with(3)?;
    let second = TestServer::start(&lab.db.url)?;
    ws[1].transport.retarget(&second.url, &ws[1].who.token.clone())?;
    let number = ws[0].store.create_case(fields(json!({"patient_name": "Jane Roe"})))?.record.case_number;
    sync_all(&mut ws)?;
    for (i, w) in ws.iter_mut().enumerate() {
        w.store.post_message(&number, NewMessage::text(&format!("from {i}")))?;
        w.store.edit_case(&number, None, fields(json!({"priority": (["low", "high", "rush"][i])})))?;
        w.store.create_case(fields(json!({"patient_name": format!("Patient {i}")})))?;
    }
    sync_all(&mut ws)?;
    sync_all(&mut ws)?;
    for w in &ws {
        assert_eq!(w.store.messages(&number)?.len(), 3, "every message, whichever server took it, on {}", w.name());
    }
    converged(&lab, &observer, &ws)?;
    drop(second);
    Ok(())
}

#[test]
fn a_file_attached_on_one_workstation_goes_up_in_a_round_resumes_after_a_cut_and_opens_on_another() -> Result<()> {
    let lab = Lab::start()?;
    let url = lab.url();
    let mut a = Ws::on_disk(&url, &lab.provision("North", "ann", "FD1")?)?;
    let mut b = Ws::on_disk(&url, &lab.provision("North", "bob", "FD2")?)?;
    let case = a.store.create_case(fields(json!({"patient_name": "Ada Lovelace"})))?.record.case_number;
    // An ASCII STL of 9 MB: three chunks.
    let mut bytes = b"solid upper_jaw\n".to_vec();
    bytes.resize(9_000_000, b' ');
    bytes.extend_from_slice(b"\nendsolid upper_jaw\n");
    let folder = tempfile::tempdir()?;
    let scan = folder.path().join("upper jaw.stl");
    std::fs::write(&scan, &bytes)?;
    let file = a.store.attach_paths(&case, &[scan], None, &mut |_| {})?.remove(0);

    // The connection drops after the first chunk: the case and the file record are sent, the
    // bytes wait for the next round, which goes on from the chunk the central store has.
    a.transport.with(|f| f.blob_chunks_before_failure = Some(1));
    let err = a.try_sync().unwrap_err();
    assert!(err.is_offline(), "{err}");
    assert_eq!(a.store.pending_count()?, 0, "the revisions went before the bytes");
    assert_eq!(a.store.blobs_waiting()?, 1, "the bytes wait");
    // Bob has the record already; asked for bytes the central store does not hold whole, he is
    // told why, and nothing is left in his blob folder under the file's name.
    b.sync()?;
    let err = fetch_blob(&b.store, &b.transport, file.id, &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("not on the sync server yet"), "{err}");
    assert!(b.store.blob_of(file.id)?.is_none());
    a.transport.with(|f| f.blob_chunks_before_failure = None);
    let report = a.sync()?;
    assert_eq!(report.files_up, 1);
    assert!(report.bytes_up < bytes.len() as u64 - 4_000_000, "resumed, not sent again: {} bytes", report.bytes_up);
    assert_eq!(a.store.blobs_waiting()?, 0);
    assert_eq!(a.sync()?.files_up, 0, "sent once");

    // Bob's workstation gets the record with the round, and the bytes when the file is opened.
    b.sync()?;
    assert!(b.store.blob_of(file.id)?.is_none(), "the record came, the bytes come when needed");
    // A download cut short earlier left its first bytes: the fetch goes on from them.
    let folder = b.store.blob_dir()?.join(&file.record.hash[..2]);
    std::fs::create_dir_all(&folder)?;
    std::fs::write(folder.join(format!(".download-{}", file.record.hash)), &bytes[..1000])?;
    let mut seen = Vec::new();
    let path = fetch_blob(&b.store, &b.transport, file.id, &mut |done, total| seen.push((done, total)))?;
    assert_eq!(seen.first(), Some(&(1000, bytes.len() as u64)), "resumed after the bytes already here");
    assert_eq!(std::fs::read(&path)?, bytes, "the bytes that arrive are the file's");
    assert_eq!(seen.last(), Some(&(bytes.len() as u64, bytes.len() as u64)), "progress ends at the size");
    assert_eq!(b.store.blob_of(file.id)?, Some(path), "and stay here");
    assert_eq!(b.sync()?.files_up, 0, "bytes that came from the central store are not sent back");
    assert!(a.store.check(true)?.problems.is_empty() && b.store.check(true)?.problems.is_empty());
    Ok(())
}

/// Two workstations import the same old case number offline. The central store takes the first
/// and rejects the second with a reason its workstation shows; no store is ever sent two cases
/// with one number (every store keeps case numbers unique), so every workstation goes on
/// syncing. (The central store once took both, and from then on every pull failed on
/// `UNIQUE constraint failed: cases.case_number`.)
#[test]
fn two_workstations_importing_one_case_number_offline_get_one_case_accepted_the_other_rejected_and_all_keep_syncing(
) -> Result<()> {
    let lab = Lab::start()?;
    let url = lab.url();
    let mut ws = Vec::new();
    for (user, code) in [("fran", "FD1"), ("tom", "TB2"), ("quinn", "QC3")] {
        ws.push(Ws::new(&url, &lab.provision("North", user, code)?)?);
    }
    let observer = lab.provision("North", "observer", "OBS")?;
    for (w, patient) in ws.iter_mut().zip(["Ada Lovelace", "Grace Hopper"]) {
        w.offline(true);
        let item: labdesk_core::ImportCase = serde_json::from_value(
            json!({"case_number": "OLD-17", "patient_name": patient, "notes": ["from the old system"]}),
        )?;
        let mut report = labdesk_core::ImportReport::default();
        w.store.import_batch(vec![(1, Ok(item))], &mut report)?;
        assert_eq!(report.imported, 1, "{} takes the case in offline", w.name());
        w.offline(false);
    }
    let first = ws[0].sync()?;
    assert_eq!(first.rejected, 0, "the first to sync has its case accepted");
    let second = ws[1].sync()?;
    assert!(second.rejected >= 1, "the later case is rejected (and its note with it): {second:?}");
    let rejected = ws[1].store.rejected_changes()?;
    let case_rejection =
        rejected.iter().find(|r| r.record_kind == labdesk_core::RecordKind::Case).expect("TB2 lists its rejected case");
    assert!(
        case_rejection.reason.contains("case number OLD-17 is already used by another case in this lab")
            && case_rejection.reason.contains("(Ada Lovelace, taken in at FD1)"),
        "TB2 is told why, and whose the number is: {}",
        case_rejection.reason
    );

    sync_all(&mut ws)?;
    let mut later = Vec::new();
    for w in ws.iter_mut() {
        let case = w.store.create_case(fields(json!({"patient_name": format!("Later at {}", w.name())})))?;
        later.push(case.record.case_number);
    }
    sync_all(&mut ws)?;
    sync_all(&mut ws)?;
    for w in &ws {
        for number in later.iter().chain([&"OLD-17".to_owned()]) {
            assert!(w.store.case(number).is_ok(), "{} has case {number}: its sync kept working", w.name());
        }
        assert_eq!(w.store.case("OLD-17")?.record.patient_name, "Ada Lovelace", "{} has the case accepted", w.name());
        assert!(w.store.check(true)?.is_ok(), "{}'s store passes its check", w.name());
    }
    let central = converged(&lab, &observer, &ws)?;
    assert_eq!(central.rows["cases"].len(), 4, "OLD-17 once, and the three later cases, on every workstation");
    Ok(())
}
