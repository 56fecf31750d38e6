//! The PostgreSQL central store against a real PostgreSQL (a throwaway one from the testkit):
//! push outcomes, idempotency, merges and conflicts, permissions, pull paging, the sequencer
//! under out-of-order commits and under load, several instances on one database, long polls.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use labdesk_proto::sync::{CentralRevision, Outcome, PushResult};
use labdesk_proto::{RecordKind, Revision};
use labdesk_server_database::{Identity, Role, StoreError, SyncStore};
use labdesk_server_postgres::{PgOptions, PgStore};
use labdesk_testkit::{provision, revision, TestPostgres};
use serde_json::{json, Map, Value};
use tokio_postgres::NoTls;
use uuid::Uuid;

/// A migrated test database with two people of lab North (ann on FD1, bob on FD2) and one of
/// lab South (sam on SO1).
struct Fixture {
    store: Arc<PgStore>,
    ann: Identity,
    bob: Identity,
    sam: Identity,
    db: TestPostgres,
}

async fn fixture() -> Result<Fixture> {
    let db = TestPostgres::start()?;
    let store = PgStore::new(&db.url, PgOptions::default())?;
    store.migrate().await?;
    let ann = provision(&store, "North", "ann", Role::Technician, "FD1").await?.identity;
    let bob = provision(&store, "North", "bob", Role::Technician, "FD2").await?.identity;
    let sam = provision(&store, "South", "sam", Role::Manager, "SO1").await?.identity;
    Ok(Fixture { store: Arc::new(store), ann, bob, sam, db })
}

impl Fixture {
    /// Another store on the same database: a second server instance.
    fn second_instance(&self) -> Result<PgStore> {
        Ok(PgStore::new(&self.db.url, PgOptions::default())?)
    }

    async fn raw(&self) -> Result<tokio_postgres::Client> {
        let (client, connection) = tokio_postgres::connect(&self.db.url, NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    async fn count(&self, sql: &str, id: Uuid) -> Result<i64> {
        Ok(self.raw().await?.query_one(sql, &[&id]).await?.get(0))
    }

    async fn state(&self, record: Uuid) -> Result<(Map<String, Value>, i32, bool)> {
        let row = self
            .raw()
            .await?
            .query_one("SELECT state, version, needs_review FROM records WHERE id = $1", &[&record])
            .await?;
        let Value::Object(state) = row.get::<_, Value>(0) else { panic!("state is an object") };
        Ok((state, row.get(1), row.get(2)))
    }

    async fn push_one(&self, who: &Identity, revision: &Revision) -> Result<PushResult> {
        let mut results = self.store.push(who, vec![revision.clone()]).await?;
        assert_eq!(results.len(), 1, "one answer per revision");
        Ok(results.remove(0))
    }

    /// Everything the lab of `who` has after `after`, page by page.
    async fn pull_all(&self, store: &PgStore, who: &Identity, after: i64) -> Result<Vec<CentralRevision>> {
        let mut out = Vec::new();
        let mut cursor = after;
        loop {
            let page = store.pull(who, cursor, 50).await?;
            out.extend(page.revisions);
            cursor = page.next;
            if !page.more {
                return Ok(out);
            }
        }
    }
}

fn case(record: Uuid, who: &Identity, fields: Value) -> Revision {
    revision(RecordKind::Case, record, None, &who.user_name, &who.workstation_code, fields)
}

fn edit(kind: RecordKind, record: Uuid, parent: Uuid, who: &Identity, fields: Value) -> Revision {
    revision(kind, record, Some(parent), &who.user_name, &who.workstation_code, fields)
}

fn new_case_fields(number: &str) -> Value {
    json!({
        "case_number": number, "secret_key": "k", "status": "received", "patient_name": "Jane Roe",
        "author_id": "ann", "assignees": ["ann"], "priority": "normal", "services": [], "links": [],
        "invoice_ids": [], "aligners": [], "author_info": {}, "order_note": ""
    })
}

/// A new case of `who`'s: the simplest record to create (it hangs on nothing).
fn fresh_case(who: &Identity, n: usize) -> Revision {
    case(Uuid::now_v7(), who, json!({"case_number": format!("{}-{n:06}", who.workstation_code)}))
}

fn outcome(result: &PushResult) -> Outcome {
    result.outcome
}

#[tokio::test]
async fn a_revision_made_on_the_head_is_applied_as_the_next_version() -> Result<()> {
    let f = fixture().await?;
    let id = Uuid::now_v7();
    let create = case(id, &f.ann, new_case_fields("FD1-000001"));
    let created = f.push_one(&f.ann, &create).await?;
    assert_eq!((created.outcome, created.version), (Outcome::Applied, Some(1)), "a new record starts at version 1");
    let change = edit(RecordKind::Case, id, create.id, &f.ann, json!({"status": "milling"}));
    let changed = f.push_one(&f.ann, &change).await?;
    assert_eq!((changed.outcome, changed.version), (Outcome::Applied, Some(2)), "made on the head: fast-forward");
    let (state, version, needs_review) = f.state(id).await?;
    assert_eq!(state["status"], json!("milling"));
    assert_eq!(state["deleted_at"], Value::Null, "the state carries deleted_at, null while live");
    assert_eq!((version, needs_review), (2, false));
    let superseded: Option<Uuid> =
        f.raw().await?.query_one("SELECT superseded_by FROM revisions WHERE id = $1", &[&create.id]).await?.get(0);
    assert_eq!(superseded, Some(change.id), "the old head points at the revision that replaced it");
    Ok(())
}

#[tokio::test]
async fn the_same_push_twice_gives_identical_answers_and_one_row_each() -> Result<()> {
    let f = fixture().await?;
    let id = Uuid::now_v7();
    let create = case(id, &f.ann, new_case_fields("FD1-000001"));
    let change = edit(RecordKind::Case, id, create.id, &f.ann, json!({"status": "qc"}));
    let orphan = edit(RecordKind::Case, id, Uuid::now_v7(), &f.ann, json!({"status": "lost"}));
    let batch = vec![create.clone(), change.clone(), orphan.clone()];
    let first = f.store.push(&f.ann, batch.clone()).await?;
    let second = f.store.push(&f.ann, batch).await?;
    assert_eq!(first, second, "a resend is answered exactly as the first send");
    assert_eq!(first.iter().map(outcome).collect::<Vec<_>>(), [Outcome::Applied, Outcome::Applied, Outcome::Rejected]);
    for r in [&create, &change] {
        assert_eq!(f.count("SELECT count(*) FROM revisions WHERE id = $1", r.id).await?, 1, "no second row");
    }
    assert_eq!(f.count("SELECT count(*) FROM rejections WHERE revision_id = $1", orphan.id).await?, 1);
    assert_eq!(f.state(id).await?.1, 2, "the record did not move on the resend");
    Ok(())
}

#[tokio::test]
async fn a_resend_after_a_lost_response_gets_the_first_answer_even_after_the_record_moved_on() -> Result<()> {
    let f = fixture().await?;
    let id = Uuid::now_v7();
    let create = case(id, &f.ann, new_case_fields("FD1-000001"));
    f.push_one(&f.ann, &create).await?;
    // Bob's change is stored but the answer never reaches his workstation.
    let bobs = edit(RecordKind::Case, id, create.id, &f.bob, json!({"priority": "high"}));
    let lost = f.push_one(&f.bob, &bobs).await?;
    // Meanwhile ann changes the same field: had bob's been decided again now, it would conflict.
    let anns = edit(RecordKind::Case, id, bobs.id, &f.ann, json!({"priority": "low"}));
    f.push_one(&f.ann, &anns).await?;
    let resent = f.push_one(&f.bob, &bobs).await?;
    assert_eq!(resent, lost, "the stored answer comes back, not a new decision");
    assert_eq!(f.state(id).await?.0["priority"], json!("low"));
    Ok(())
}

#[tokio::test]
async fn a_change_of_another_field_made_on_an_old_version_is_merged() -> Result<()> {
    let f = fixture().await?;
    let id = Uuid::now_v7();
    let create = case(id, &f.ann, new_case_fields("FD1-000001"));
    f.push_one(&f.ann, &create).await?;
    f.push_one(&f.ann, &edit(RecordKind::Case, id, create.id, &f.ann, json!({"status": "milling"}))).await?;
    let bobs = edit(RecordKind::Case, id, create.id, &f.bob, json!({"priority": "high"}));
    let merged = f.push_one(&f.bob, &bobs).await?;
    assert_eq!((merged.outcome, merged.version), (Outcome::Merged, Some(3)));
    assert!(merged.conflicts.is_empty());
    let (state, _, needs_review) = f.state(id).await?;
    assert_eq!((&state["status"], &state["priority"]), (&json!("milling"), &json!("high")), "both changes hold");
    assert!(!needs_review);
    Ok(())
}

#[tokio::test]
async fn different_values_for_one_field_keep_the_first_flag_the_record_and_keep_both_in_the_chain() -> Result<()> {
    let f = fixture().await?;
    let id = Uuid::now_v7();
    let create = case(id, &f.ann, new_case_fields("FD1-000001"));
    f.push_one(&f.ann, &create).await?;
    let anns = edit(RecordKind::Case, id, create.id, &f.ann, json!({"status": "milling"}));
    f.push_one(&f.ann, &anns).await?;
    let bobs = edit(RecordKind::Case, id, create.id, &f.bob, json!({"status": "qc", "priority": "high"}));
    let answer = f.push_one(&f.bob, &bobs).await?;
    assert_eq!((answer.outcome, answer.version), (Outcome::Conflicted, Some(3)));
    assert_eq!(answer.conflicts.len(), 1);
    assert_eq!(
        (answer.conflicts[0].field.as_str(), &answer.conflicts[0].kept, &answer.conflicts[0].proposed),
        ("status", &json!("milling"), &json!("qc"))
    );
    let (state, _, needs_review) = f.state(id).await?;
    assert_eq!(state["status"], json!("milling"), "the value accepted first stays");
    assert_eq!(state["priority"], json!("high"), "the undisputed part of the change took effect");
    assert!(needs_review, "a conflict flags the record for review");

    let chain = f.pull_all(&f.store, &f.ann, 0).await?;
    let pulled = chain.iter().find(|c| c.revision.id == bobs.id).expect("bob's revision is in the chain");
    assert_eq!(pulled.outcome, Outcome::Conflicted);
    assert_eq!(pulled.proposed.as_ref().map(|p| &p["status"]), Some(&json!("qc")), "the losing value is kept");
    assert!(!pulled.revision.fields.contains_key("status"), "but did not take effect");
    assert_eq!(pulled.revision.version, 3, "in the central chain bob's change follows ann's");
    assert_eq!(
        (pulled.revision.parent, pulled.revision.base_version),
        (Some(create.id), 1),
        "but it still says what it was made on, as sent"
    );

    // A person picks a value: a revision that resolves bob's clears the flag.
    let pick =
        Revision { resolves: vec![bobs.id], ..edit(RecordKind::Case, id, bobs.id, &f.ann, json!({"status": "qc"})) };
    assert_eq!(f.push_one(&f.ann, &pick).await?.outcome, Outcome::Applied);
    let (state, version, needs_review) = f.state(id).await?;
    assert_eq!((state["status"].clone(), version, needs_review), (json!("qc"), 4, false));
    Ok(())
}

#[tokio::test]
async fn a_second_offline_edit_made_on_an_unconfirmed_first_one_conflicts_instead_of_overwriting() -> Result<()> {
    // Ann changes the due date. Bob, offline on version 1, changes the status and then the due
    // date. His first edit is merged past Ann's; his second, made on his first, must be merged
    // against what Bob saw (version 1 plus his status), so it conflicts with Ann's date rather than
    // silently replacing it.
    let f = fixture().await?;
    let id = Uuid::now_v7();
    let create = case(id, &f.ann, new_case_fields("FD1-000001"));
    f.push_one(&f.ann, &create).await?;
    f.push_one(&f.ann, &edit(RecordKind::Case, id, create.id, &f.ann, json!({"due_date": "2026-12-03T00:00:00.000Z"})))
        .await?;
    let status = edit(RecordKind::Case, id, create.id, &f.bob, json!({"status": "milling"}));
    let due = Revision {
        parent_unconfirmed: true,
        ..edit(RecordKind::Case, id, status.id, &f.bob, json!({"due_date": "2026-12-05T00:00:00.000Z"}))
    };
    let answers = f.store.push(&f.bob, vec![status, due]).await?;
    assert_eq!(answers[0].outcome, Outcome::Merged, "bob's status change merges past ann's date");
    assert_eq!(answers[1].outcome, Outcome::Conflicted, "bob's date disputes ann's: {:?}", answers[1]);
    let (state, _, needs_review) = f.state(id).await?;
    assert_eq!(state["due_date"], json!("2026-12-03T00:00:00.000Z"), "the date accepted first stays");
    assert_eq!(state["status"], json!("milling"));
    assert!(needs_review);
    Ok(())
}

#[tokio::test]
async fn the_same_value_on_both_sides_merges_without_conflict_and_still_counts_as_a_revision() -> Result<()> {
    let f = fixture().await?;
    let id = Uuid::now_v7();
    let create = case(id, &f.ann, new_case_fields("FD1-000001"));
    f.push_one(&f.ann, &create).await?;
    f.push_one(&f.ann, &edit(RecordKind::Case, id, create.id, &f.ann, json!({"status": "qc"}))).await?;
    let bobs = edit(RecordKind::Case, id, create.id, &f.bob, json!({"status": "qc"}));
    let answer = f.push_one(&f.bob, &bobs).await?;
    assert_eq!((answer.outcome, answer.version), (Outcome::Merged, Some(3)), "recorded even though it changed nothing");
    assert!(answer.conflicts.is_empty());
    let pulled = f.pull_all(&f.store, &f.ann, 0).await?;
    let last = pulled.last().expect("three revisions");
    assert_eq!(last.revision.id, bobs.id);
    assert!(last.revision.fields.is_empty(), "nothing took effect");
    assert_eq!(last.proposed.as_ref().map(|p| &p["status"]), Some(&json!("qc")), "what was proposed is kept");
    assert!(!f.state(id).await?.2);
    Ok(())
}

#[tokio::test]
async fn assignees_and_reactions_merge_as_sets_of_additions_and_removals() -> Result<()> {
    let f = fixture().await?;
    let id = Uuid::now_v7();
    let create = case(id, &f.ann, json!({"case_number": "FD1-000001", "assignees": ["ann", "bob"]}));
    f.push_one(&f.ann, &create).await?;
    f.push_one(&f.ann, &edit(RecordKind::Case, id, create.id, &f.ann, json!({"assignees": ["ann", "bob", "carol"]})))
        .await?;
    let bobs = edit(RecordKind::Case, id, create.id, &f.bob, json!({"assignees": ["bob", "dave"]}));
    let answer = f.push_one(&f.bob, &bobs).await?;
    assert_eq!(answer.outcome, Outcome::Merged, "set fields never conflict: {answer:?}");
    assert_eq!(f.state(id).await?.0["assignees"], json!(["bob", "carol", "dave"]), "ann removed, dave added");

    let message = Uuid::now_v7();
    let sent = revision(
        RecordKind::ChatMessage,
        message,
        None,
        "ann",
        "FD1",
        json!({"case_id": id.to_string(), "sender_id": "ann", "message_content": "ready?", "reactions": {}}),
    );
    f.push_one(&f.ann, &sent).await?;
    let anns = edit(RecordKind::ChatMessage, message, sent.id, &f.ann, json!({"reactions": {"👍": ["ann"]}}));
    let bobs =
        edit(RecordKind::ChatMessage, message, sent.id, &f.bob, json!({"reactions": {"👍": ["bob"], "❤": ["bob"]}}));
    f.push_one(&f.ann, &anns).await?;
    assert_eq!(f.push_one(&f.bob, &bobs).await?.outcome, Outcome::Merged);
    assert_eq!(f.state(message).await?.0["reactions"], json!({"❤": ["bob"], "👍": ["ann", "bob"]}));
    Ok(())
}

#[tokio::test]
async fn a_chat_edit_by_someone_not_the_sender_is_rejected_alone_and_the_rest_of_the_batch_applies() -> Result<()> {
    let f = fixture().await?;
    let the_case = fresh_case(&f.ann, 1);
    f.push_one(&f.ann, &the_case).await?;
    let case_id = the_case.record_id.to_string();
    let message = Uuid::now_v7();
    let sent = revision(
        RecordKind::ChatMessage,
        message,
        None,
        "ann",
        "FD1",
        json!({"case_id": case_id, "sender_id": "ann", "message_content": "ready?", "reactions": {}}),
    );
    f.push_one(&f.ann, &sent).await?;
    let react = edit(RecordKind::ChatMessage, message, sent.id, &f.bob, json!({"reactions": {"👍": ["bob"]}}));
    let rewrite = edit(RecordKind::ChatMessage, message, react.id, &f.bob, json!({"message_content": "not ready"}));
    let note = revision(
        RecordKind::CaseNote,
        Uuid::now_v7(),
        None,
        "bob",
        "FD2",
        json!({"case_id": case_id, "body": "checked"}),
    );
    let answers = f.store.push(&f.bob, vec![react.clone(), rewrite.clone(), note.clone()]).await?;
    assert_eq!(
        answers.iter().map(outcome).collect::<Vec<_>>(),
        [Outcome::Applied, Outcome::Rejected, Outcome::Applied]
    );
    let reason = answers[1].reason.as_deref().unwrap_or_default();
    assert!(reason.contains("only the sender") && reason.contains("(ann)"), "the reason says who may: {reason}");
    assert_eq!(answers[1].version, None, "a rejected change gets no version");
    let (state, version, _) = f.state(message).await?;
    assert_eq!((state["message_content"].clone(), version), (json!("ready?"), 2), "nothing of the edit was stored");
    assert_eq!(f.count("SELECT count(*) FROM revisions WHERE id = $1", rewrite.id).await?, 0);
    assert_eq!(f.count("SELECT count(*) FROM records WHERE id = $1", note.record_id).await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_change_made_on_a_change_the_central_store_never_accepted_is_rejected() -> Result<()> {
    let f = fixture().await?;
    let id = Uuid::now_v7();
    let create = case(id, &f.ann, new_case_fields("FD1-000001"));
    f.push_one(&f.ann, &create).await?;
    let orphan = edit(RecordKind::Case, id, Uuid::now_v7(), &f.ann, json!({"status": "qc"}));
    let answer = f.push_one(&f.ann, &orphan).await?;
    assert_eq!(answer.outcome, Outcome::Rejected);
    assert!(answer.reason.as_deref().unwrap_or_default().contains("never accepted"), "{answer:?}");
    // And what was made on the rejected change falls with it, as does an edit of a record
    // whose creation never arrived.
    let follower = edit(RecordKind::Case, id, orphan.id, &f.ann, json!({"status": "shipped"}));
    assert_eq!(f.push_one(&f.ann, &follower).await?.outcome, Outcome::Rejected);
    let stray = edit(RecordKind::Case, Uuid::now_v7(), Uuid::now_v7(), &f.ann, json!({"status": "qc"}));
    assert_eq!(f.push_one(&f.ann, &stray).await?.outcome, Outcome::Rejected);
    assert_eq!(f.state(id).await?.1, 1);
    Ok(())
}

#[tokio::test]
async fn two_workstations_creating_the_same_derived_record_meet_as_one_record() -> Result<()> {
    let f = fixture().await?;
    let the_case = fresh_case(&f.ann, 1);
    f.push_one(&f.ann, &the_case).await?;
    let meta = Uuid::now_v7(); // stands for the UUIDv5 of (case, key)
    let case_id = the_case.record_id.to_string();
    let anns = revision(
        RecordKind::CaseMeta,
        meta,
        None,
        "ann",
        "FD1",
        json!({"case_id": case_id, "key": "shade", "value": "A2"}),
    );
    let bobs = revision(
        RecordKind::CaseMeta,
        meta,
        None,
        "bob",
        "FD2",
        json!({"case_id": case_id, "key": "shade", "value": "A2"}),
    );
    assert_eq!(f.push_one(&f.ann, &anns).await?.outcome, Outcome::Applied);
    let second = f.push_one(&f.bob, &bobs).await?;
    assert_eq!(
        (second.outcome, second.version),
        (Outcome::Merged, Some(2)),
        "same values: merged against an empty base"
    );
    let other = revision(
        RecordKind::CaseMeta,
        meta,
        None,
        "bob",
        "FD2",
        json!({"case_id": case_id, "key": "shade", "value": "B1"}),
    );
    let third = f.push_one(&f.bob, &other).await?;
    assert_eq!(third.outcome, Outcome::Conflicted, "a different value for the same key is a conflict");
    assert_eq!(f.count("SELECT count(*) FROM records WHERE id = $1", meta).await?, 1, "one record, not two");
    assert_eq!(f.state(meta).await?.0["value"], json!("A2"));
    Ok(())
}

#[tokio::test]
async fn records_of_another_lab_cannot_be_changed_or_pulled() -> Result<()> {
    let f = fixture().await?;
    let id = Uuid::now_v7();
    let create = case(id, &f.ann, new_case_fields("FD1-000001"));
    f.push_one(&f.ann, &create).await?;
    let sams = edit(RecordKind::Case, id, create.id, &f.sam, json!({"status": "qc"}));
    let answer = f.push_one(&f.sam, &sams).await?;
    assert_eq!(answer.outcome, Outcome::Rejected);
    assert!(!answer.reason.as_deref().unwrap_or_default().contains("North"), "another lab's name is not shown");
    assert!(f.store.pull(&f.sam, 0, 100).await?.revisions.is_empty(), "South sees none of North's revisions");
    assert_eq!(f.store.head(&f.sam).await?, 0);
    // A revision that claims another workstation than the sign-in's is refused too.
    let forged = revision(RecordKind::CaseNote, Uuid::now_v7(), None, "ann", "FD2", json!({"body": "x"}));
    assert!(f.push_one(&f.ann, &forged).await?.reason.unwrap_or_default().contains("FD2"));
    Ok(())
}

#[tokio::test]
async fn a_record_attached_to_a_case_needs_the_case_centrally_and_in_the_pushers_lab() -> Result<()> {
    let f = fixture().await?;
    let north = fresh_case(&f.ann, 1);
    let south = fresh_case(&f.sam, 1);
    f.push_one(&f.ann, &north).await?;
    f.push_one(&f.sam, &south).await?;
    let note_on = |case: &Revision| {
        let fields = json!({"case_id": case.record_id.to_string(), "body": "x"});
        revision(RecordKind::CaseNote, Uuid::now_v7(), None, "ann", "FD1", fields)
    };
    assert_eq!(f.push_one(&f.ann, &note_on(&north)).await?.outcome, Outcome::Applied);
    let answer = f.push_one(&f.ann, &note_on(&south)).await?;
    assert!(answer.reason.unwrap_or_default().contains("another lab"), "South's case is not North's to annotate");
    let never_sent = fresh_case(&f.ann, 2);
    let answer = f.push_one(&f.ann, &note_on(&never_sent)).await?;
    assert!(answer.reason.unwrap_or_default().contains("not in the central store"), "a note on an unknown case");
    Ok(())
}

#[tokio::test]
async fn pull_pages_follow_the_cursor_and_resume_where_they_stopped() -> Result<()> {
    let f = fixture().await?;
    let mut pushed = Vec::new();
    for n in 0..25 {
        let created = fresh_case(&f.ann, n);
        pushed.push(created.id);
        f.push_one(&f.ann, &created).await?;
    }
    // South's revisions share the sequence but not the pages.
    f.push_one(&f.sam, &fresh_case(&f.sam, 1)).await?;
    let first = f.store.pull(&f.ann, 0, 10).await?;
    assert_eq!((first.revisions.len(), first.more, first.remaining), (10, true, 15));
    assert_eq!(first.next, first.revisions[9].seq, "next is the last seq returned");
    // The workstation stopped here (say, a crash); it resumes from the cursor it stored.
    let second = f.store.pull(&f.ann, first.next, 10).await?;
    let third = f.store.pull(&f.ann, second.next, 10).await?;
    assert_eq!((third.revisions.len(), third.more, third.remaining), (5, false, 0));
    assert_eq!(third.next, third.head, "caught up: the cursor is the head");
    let seen: Vec<Uuid> =
        [first, second, third].iter().flat_map(|p| p.revisions.iter().map(|r| r.revision.id)).collect();
    assert_eq!(seen, pushed, "every revision once, in the order they were accepted");
    let empty = f.store.pull(&f.ann, 10_000, 10).await?;
    assert!(empty.revisions.is_empty() && !empty.more);
    assert_eq!(empty.next, 10_000, "an empty page leaves the cursor where it was");
    Ok(())
}

/// Waits until some backend of this database waits for a lock.
async fn until_someone_waits_for_a_lock(raw: &tokio_postgres::Client) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = raw
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
                &[],
            )
            .await?
            .get(0);
        if waiting > 0 {
            return Ok(());
        }
        assert!(Instant::now() < deadline, "the push never got to wait for the lock");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_that_commits_after_a_later_one_is_still_pulled() -> Result<()> {
    let f = fixture().await?;
    let (x, y) = (Uuid::now_v7(), Uuid::now_v7());
    let x_created = case(x, &f.ann, new_case_fields("FD1-000001"));
    let y_created = case(y, &f.ann, new_case_fields("FD1-000002"));
    f.store.push(&f.ann, vec![x_created.clone(), y_created.clone()]).await?;
    let cursor = f.store.pull(&f.ann, 0, 100).await?.next;

    // Hold X's head revision row: A's push takes X's record lock and its arrival number, inserts
    // its revision, then waits here to mark the old head superseded — its transaction stays open.
    let holder = f.raw().await?;
    holder.batch_execute("BEGIN").await?;
    holder.execute("SELECT 1 FROM revisions WHERE id = $1 FOR UPDATE", &[&x_created.id]).await?;
    let a = edit(RecordKind::Case, x, x_created.id, &f.ann, json!({"status": "milling"}));
    let pushing_a = tokio::spawn({
        let (store, ann, a) = (f.store.clone(), f.ann.clone(), a.clone());
        async move { store.push(&ann, vec![a]).await }
    });
    until_someone_waits_for_a_lock(&holder).await?;

    // B arrives later but commits first, and a workstation pulls it.
    let b = edit(RecordKind::Case, y, y_created.id, &f.ann, json!({"status": "qc"}));
    assert_eq!(f.push_one(&f.ann, &b).await?.outcome, Outcome::Applied);
    let page = f.store.pull(&f.ann, cursor, 100).await?;
    assert_eq!(page.revisions.iter().map(|r| r.revision.id).collect::<Vec<_>>(), [b.id], "A is not committed yet");
    let cursor = page.next;

    // A commits now; the next pull from the moved cursor must still bring it.
    holder.batch_execute("COMMIT").await?;
    assert_eq!(pushing_a.await??[0].outcome, Outcome::Applied);
    let page = f.store.pull(&f.ann, cursor, 100).await?;
    assert_eq!(
        page.revisions.iter().map(|r| r.revision.id).collect::<Vec<_>>(),
        [a.id],
        "the late committer is pulled"
    );

    let order = |id: Uuid| {
        let holder = &holder;
        async move {
            let row = holder.query_one(
                "SELECT r.arrival, p.seq FROM revisions r JOIN pull_positions p ON p.revision_id = r.id WHERE r.id = $1",
                &[&id],
            ).await?;
            Ok::<(i64, i64), anyhow::Error>((row.get(0), row.get(1)))
        }
    };
    let ((a_arrival, a_seq), (b_arrival, b_seq)) = (order(a.id).await?, order(b.id).await?);
    assert!(a_arrival < b_arrival, "A arrived first: a cursor over arrival numbers would have skipped it");
    assert!(a_seq > b_seq, "A's pull position comes after B's because it committed after B was pulled");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_and_pulls_see_every_revision_once_in_version_order() -> Result<()> {
    let f = fixture().await?;
    let shared: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let mut pushers = Vec::new();
    for (n, shared_id) in shared.iter().enumerate() {
        let create = case(*shared_id, &f.ann, new_case_fields(&format!("FD1-00000{n}")));
        f.push_one(&f.ann, &create).await?;
    }
    let heads: Vec<Uuid> = f.pull_all(&f.store, &f.ann, 0).await?.iter().map(|c| c.revision.id).collect();
    for (n, code) in ["P1", "P2", "P3", "P4"].iter().enumerate() {
        let who = provision(f.store.as_ref(), "North", &format!("pusher{n}"), Role::Technician, code).await?.identity;
        let (store, shared, heads) = (f.store.clone(), shared.clone(), heads.clone());
        pushers.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            let mut known_heads = heads;
            for round in 0..12 {
                let note = fresh_case(&who, round);
                let target = round % shared.len();
                // Made on whatever this pusher last saw: often stale, so merges and conflicts.
                let change = edit(
                    RecordKind::Case,
                    shared[target],
                    known_heads[target],
                    &who,
                    json!({"status": format!("{}-{round}", who.user_name), "assignees": [who.user_name.clone()]}),
                );
                known_heads[target] = change.id;
                for (r, answer) in
                    [note.clone(), change.clone()].iter().zip(store.push(&who, vec![note, change]).await?)
                {
                    assert_ne!(answer.outcome, Outcome::Rejected, "{answer:?}");
                    accepted.push(r.id);
                }
            }
            Ok::<Vec<Uuid>, anyhow::Error>(accepted)
        }));
    }
    let done = Arc::new(AtomicBool::new(false));
    let mut pullers = Vec::new();
    for n in 0..3 {
        let (store, who, done) = (f.store.clone(), f.ann.clone(), done.clone());
        pullers.push(tokio::spawn(async move {
            let mut seen: Vec<CentralRevision> = Vec::new();
            let mut cursor = 0;
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = store.pull(&who, cursor, 3 + n).await?;
                cursor = page.next;
                seen.extend(page.revisions);
                if finished && !page.more {
                    return Ok::<Vec<CentralRevision>, anyhow::Error>(seen);
                }
                assert!(Instant::now() < deadline, "the puller never caught up");
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut accepted = HashSet::new();
    for pusher in pushers {
        accepted.extend(pusher.await??);
    }
    accepted.extend(heads);
    done.store(true, Ordering::SeqCst);
    for puller in pullers {
        let seen = puller.await??;
        let ids: Vec<Uuid> = seen.iter().map(|c| c.revision.id).collect();
        assert_eq!(ids.len(), ids.iter().collect::<HashSet<_>>().len(), "no revision pulled twice");
        assert_eq!(ids.iter().copied().collect::<HashSet<_>>(), accepted, "every accepted revision pulled");
        let mut versions: HashMap<Uuid, Vec<u32>> = HashMap::new();
        for c in &seen {
            versions.entry(c.revision.record_id).or_default().push(c.revision.version);
        }
        for (record, versions) in versions {
            let expected: Vec<u32> = (1..=versions.len() as u32).collect();
            assert_eq!(versions, expected, "record {record}: versions pulled in order, none missing");
        }
    }
    // And the record rows are their chains folded in order.
    for record in shared {
        let mut folded = Map::new();
        for c in f.pull_all(&f.store, &f.ann, 0).await?.iter().filter(|c| c.revision.record_id == record) {
            labdesk_proto::merge::apply(&mut folded, &c.revision.fields);
        }
        folded.entry("deleted_at").or_insert(Value::Null);
        assert_eq!(f.state(record).await?.0, folded, "the row equals its chain folded");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_converge() -> Result<()> {
    let f = fixture().await?;
    let other = Arc::new(f.second_instance()?);
    let id = Uuid::now_v7();
    let create = case(id, &f.ann, new_case_fields("FD1-000001"));
    f.push_one(&f.ann, &create).await?;
    let mut tasks = Vec::new();
    for (store, who) in
        [(f.store.clone() as Arc<dyn SyncStore>, f.ann.clone()), (other.clone() as Arc<dyn SyncStore>, f.bob.clone())]
    {
        tasks.push(tokio::spawn(async move {
            let mut parent = create.id;
            for n in 0..10 {
                let change =
                    edit(RecordKind::Case, id, parent, &who, json!({"order_note": format!("{} {n}", who.user_name)}));
                parent = change.id;
                store.push(&who, vec![change]).await?;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let here = f.pull_all(&f.store, &f.ann, 0).await?;
    let there = f.pull_all(&other, &f.bob, 0).await?;
    assert_eq!(here, there, "both instances serve the same history");
    assert_eq!(here.len(), 21);
    let versions: BTreeMap<u32, Uuid> = here.iter().map(|c| (c.revision.version, c.revision.id)).collect();
    assert_eq!(versions.len(), 21, "versions 1..=21, each once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_wakes_within_a_second_of_a_push_on_another_instance() -> Result<()> {
    let f = fixture().await?;
    let other = Arc::new(f.second_instance()?);
    let head = f.store.head(&f.ann).await?;
    let waiting = tokio::spawn({
        let (other, bob) = (other.clone(), f.bob.clone());
        async move { other.wait_for_change(&bob, head, Duration::from_secs(20)).await.map(|h| (h, Instant::now())) }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "nothing new yet: the poll waits");
    f.push_one(&f.ann, &fresh_case(&f.ann, 1)).await?;
    let pushed_at = Instant::now();
    let (new_head, woke_at) = waiting.await??;
    assert!(new_head > head, "the poll returns the new head");
    assert!(
        woke_at.duration_since(pushed_at) < Duration::from_secs(1),
        "woke {:?} after the push",
        woke_at - pushed_at
    );
    Ok(())
}

#[tokio::test]
async fn a_long_poll_with_nothing_new_returns_at_its_timeout() -> Result<()> {
    let f = fixture().await?;
    let started = Instant::now();
    let head = f.store.wait_for_change(&f.ann, 0, Duration::from_millis(300)).await?;
    assert_eq!(head, 0);
    assert!(started.elapsed() >= Duration::from_millis(300) && started.elapsed() < Duration::from_secs(3));
    Ok(())
}

#[tokio::test]
async fn tokens_are_kept_as_hashes_and_a_revoked_one_signs_no_one_in() -> Result<()> {
    let f = fixture().await?;
    let issued = f.store.issue_token("ann", "FD1").await?;
    let who = f.store.authenticate(&issued.token).await?.expect("a fresh token signs in");
    assert_eq!((who.user_name.as_str(), who.workstation_code.as_str(), who.lab_name.as_str()), ("ann", "FD1", "North"));
    let stored: i64 = f
        .raw()
        .await?
        .query_one("SELECT count(*) FROM tokens WHERE encode(sha256, 'escape') LIKE '%' || $1 || '%'", &[&issued.token])
        .await?
        .get(0);
    assert_eq!(stored, 0, "the token itself is nowhere in the table");
    assert!(!format!("{issued:?}").contains(&issued.token), "nor in debug output");
    assert!(f.store.authenticate("ldk_not-a-token").await?.is_none());
    assert!(f.store.revoke_tokens("ann", Some("FD1")).await? >= 1);
    assert!(f.store.authenticate(&issued.token).await?.is_none(), "revoked");
    Ok(())
}

#[tokio::test]
async fn admin_mistakes_are_refused_with_what_to_do() -> Result<()> {
    let f = fixture().await?;
    let err = f.store.add_user("Nowhere", "zed", None).await.unwrap_err().to_string();
    assert!(err.contains("`labdesk-sync lab add Nowhere`"), "{err}");
    let err = f.store.add_workstation("South", "FD1").await.unwrap_err().to_string();
    assert!(err.contains("registered to lab North"), "a code belongs to one lab: {err}");
    let err = f.store.add_user("North", "ann", Some(Role::Admin)).await.unwrap_err().to_string();
    assert!(err.contains("as a technician"), "{err}");
    let err = f.store.issue_token("ann", "SO1").await.unwrap_err().to_string();
    assert!(err.contains("same lab"), "{err}");
    let err = f.store.issue_token("ann", "ZZ9").await.unwrap_err().to_string();
    assert!(err.contains("`labdesk-sync workstation add --lab LAB --code ZZ9`"), "{err}");
    assert!(!f.store.add_lab("North").await?.is_new(), "adding again finds the one there");
    assert!(f.store.add_workstation("North", "fd1").await.is_err(), "codes are capitals");
    Ok(())
}

#[tokio::test]
async fn migrating_again_does_nothing_and_a_newer_schema_is_refused() -> Result<()> {
    let f = fixture().await?;
    assert!(f.store.migrate().await?.is_empty(), "nothing left to apply");
    f.raw()
        .await?
        .batch_execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (999, 'future', '2030-01-01T00:00:00Z', '0')",
        )
        .await?;
    match f.store.migrate().await {
        Err(StoreError::SchemaTooNew { found: 999, .. }) => Ok(()),
        other => panic!("a newer schema must be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_rather_than_broken() -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port(); // closed once dropped
    let store = PgStore::new(
        &format!("postgres://nobody@127.0.0.1:{port}/none"),
        PgOptions { max_connections: 1, connect_timeout: Duration::from_millis(500) },
    )?;
    assert!(matches!(store.health().await, Err(StoreError::Unavailable(_))), "503 material, not 500");
    assert!(matches!(store.authenticate("x").await, Err(StoreError::Unavailable(_))));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_pull_positions_keeps_every_position_and_numbers_what_was_waiting() -> Result<()> {
    // Schema 3: positions in the revisions' own `seq`; two numbered, one committed and waiting.
    let db = TestPostgres::start()?;
    let store = PgStore::new(&db.url, PgOptions::default())?;
    store.migrate_to(3).await?;
    let ann = provision(&store, "North", "ann", Role::Technician, "FD1").await?.identity;
    let (raw, connection) = tokio_postgres::connect(&db.url, NoTls).await?;
    tokio::spawn(connection);
    let ids: Vec<(Uuid, Uuid)> = (0..3).map(|_| (Uuid::now_v7(), Uuid::now_v7())).collect();
    for (n, (record, revision)) in ids.iter().enumerate() {
        let fields = new_case_fields(&format!("FD1-{:06}", n + 1));
        let seq = (n < 2).then_some(n as i64 + 41);
        raw.batch_execute("BEGIN").await?;
        raw.execute(
            "INSERT INTO records (id, kind, lab_id, version, head_revision, state, created_at, updated_at, updated_by)
             VALUES ($1, 'case', $2, 1, $3, $4, now(), now(), 'ann')",
            &[record, &ann.lab_id, revision, &fields],
        )
        .await?;
        raw.execute(
            "INSERT INTO revisions (id, seq, record_id, kind, lab_id, version, base_version, fields, outcome, author,
                                    workstation, made_at)
             VALUES ($1, $2, $3, 'case', $4, 1, 0, $5, 'applied', 'ann', 'FD1', now())",
            &[revision, &seq, record, &ann.lab_id, &fields],
        )
        .await?;
        raw.batch_execute("COMMIT").await?;
    }
    raw.batch_execute("SELECT setval('pull_seq', 42)").await?;

    store.migrate().await?;
    let pulled = {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = store.pull(&ann, after, 100).await?;
            all.extend(page.revisions.iter().map(|r| (r.seq, r.revision.id)));
            if !page.more {
                break all;
            }
            after = page.next;
        }
    };
    assert_eq!(
        pulled,
        [(41, ids[0].1), (42, ids[1].1), (43, ids[2].1)],
        "the numbered keep their positions; the one waiting is numbered after them"
    );
    let queued: i64 = raw.query_one("SELECT count(*) FROM unsequenced", &[]).await?.get(0);
    assert_eq!(queued, 0, "nothing is left waiting");
    // And pushes go on as usual after the upgrade.
    let answer = store.push(&ann, vec![fresh_case(&ann, 4)]).await?;
    assert_eq!(outcome(&answer[0]), Outcome::Applied);
    assert_eq!(store.pull(&ann, 43, 100).await?.revisions.len(), 1, "the new revision is pulled after them");
    Ok(())
}

#[tokio::test]
async fn a_new_case_with_a_number_another_case_of_the_lab_has_is_rejected_alone_saying_whose_it_is() -> Result<()> {
    let f = fixture().await?;
    let first = case(Uuid::now_v7(), &f.ann, new_case_fields("OLD-17"));
    assert_eq!(f.push_one(&f.ann, &first).await?.outcome, Outcome::Applied);
    let deleted = case(Uuid::now_v7(), &f.ann, new_case_fields("OLD-18"));
    f.push_one(&f.ann, &deleted).await?;
    let delete = edit(
        RecordKind::Case,
        deleted.record_id,
        deleted.id,
        &f.ann,
        json!({"deleted_at": "2026-01-01T00:00:00.000Z"}),
    );
    assert_eq!(f.push_one(&f.ann, &delete).await?.outcome, Outcome::Applied);

    // bob's batch: a clash with the table, one with a deleted case, one inside the batch, and
    // good cases around them.
    let mut other = new_case_fields("OLD-17");
    other["patient_name"] = json!("Ada Lovelace");
    let again = case(Uuid::now_v7(), &f.bob, other);
    let of_deleted = case(Uuid::now_v7(), &f.bob, new_case_fields("OLD-18"));
    let good = case(Uuid::now_v7(), &f.bob, new_case_fields("OLD-19"));
    let twin = case(Uuid::now_v7(), &f.bob, new_case_fields("OLD-19"));
    let last = case(Uuid::now_v7(), &f.bob, new_case_fields("OLD-20"));
    let answers =
        f.store.push(&f.bob, vec![again.clone(), of_deleted.clone(), good.clone(), twin.clone(), last.clone()]).await?;
    let outcomes: Vec<Outcome> = answers.iter().map(outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Rejected, Outcome::Rejected, Outcome::Applied, Outcome::Rejected, Outcome::Applied],
        "each clash is rejected alone and the batch goes on: {answers:?}"
    );
    let reason = answers[0].reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("case number OLD-17 is already used by another case in this lab (Jane Roe, taken in at FD1)")
            && reason.contains("import this case under another number"),
        "the reason says whose the number is and what to do: {reason}"
    );
    assert!(answers[1].reason.as_deref().unwrap_or_default().contains("OLD-18"), "a deleted case keeps its number");
    assert!(
        answers[3].reason.as_deref().unwrap_or_default().contains("(Jane Roe, taken in at FD2)"),
        "a clash inside the batch names the case taken first: {:?}",
        answers[3].reason
    );
    assert_eq!(f.count("SELECT count(*) FROM records WHERE id = $1", again.record_id).await?, 0);
    assert_eq!(f.push_one(&f.bob, &again).await?, answers[0], "a resend gets the same answer");
    let south = case(Uuid::now_v7(), &f.sam, new_case_fields("OLD-17"));
    assert_eq!(f.push_one(&f.sam, &south).await?.outcome, Outcome::Applied, "another lab has numbers of its own");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pushes_racing_with_one_case_number_commit_one_case_and_reject_the_other() -> Result<()> {
    let f = fixture().await?;
    let other = f.second_instance()?;
    for round in 0..5 {
        let number = format!("RACE-{round}");
        let anns = vec![fresh_case(&f.ann, 100 + round), case(Uuid::now_v7(), &f.ann, new_case_fields(&number))];
        let bobs = vec![case(Uuid::now_v7(), &f.bob, new_case_fields(&number)), fresh_case(&f.bob, 100 + round)];
        let (a, b) = tokio::join!(f.store.push(&f.ann, anns), other.push(&f.bob, bobs));
        let (a, b) = (a?, b?);
        let applied = [a[1].outcome, b[0].outcome].iter().filter(|o| **o == Outcome::Applied).count();
        assert_eq!(applied, 1, "exactly one of the two cases {number} is accepted: {a:?} {b:?}");
        assert_eq!((a[0].outcome, b[1].outcome), (Outcome::Applied, Outcome::Applied), "the others go on");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pushes_racing_with_one_setting_name_commit_one_setting_and_reject_the_other() -> Result<()> {
    let f = fixture().await?;
    let other = f.second_instance()?;
    let setting = |who: &Identity, key: &str| {
        revision(RecordKind::Setting, Uuid::now_v7(), None, &who.user_name, &who.workstation_code, json!({"key": key}))
    };
    for round in 0..5 {
        let key = format!("race_{round}");
        let anns = vec![fresh_case(&f.ann, 200 + round), setting(&f.ann, &key)];
        let bobs = vec![setting(&f.bob, &key), fresh_case(&f.bob, 200 + round)];
        let (a, b) = tokio::join!(f.store.push(&f.ann, anns), other.push(&f.bob, bobs));
        let (a, b) = (a?, b?);
        let applied = [a[1].outcome, b[0].outcome].iter().filter(|o| **o == Outcome::Applied).count();
        assert_eq!(applied, 1, "exactly one of the two settings {key} is accepted: {a:?} {b:?}");
        assert_eq!((a[0].outcome, b[1].outcome), (Outcome::Applied, Outcome::Applied), "the others go on");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_with_duplicate_case_numbers_upgrades_keeping_both_and_refuses_a_third() -> Result<()> {
    // Schema 4, as an older server left it: two cases of one lab with the number OLD-17.
    let db = TestPostgres::start()?;
    let store = PgStore::new(&db.url, PgOptions::default())?;
    store.migrate_to(4).await?;
    let ann = provision(&store, "North", "ann", Role::Technician, "FD1").await?.identity;
    let bob = provision(&store, "North", "bob", Role::Technician, "FD2").await?.identity;
    let first = case(Uuid::now_v7(), &ann, new_case_fields("OLD-17"));
    let second = case(Uuid::now_v7(), &bob, new_case_fields("OLD-17"));
    let (raw, connection) = tokio_postgres::connect(&db.url, NoTls).await?;
    tokio::spawn(connection);
    for (who, created) in [(&ann, &first), (&bob, &second)] {
        let fields = Value::Object(created.fields.clone());
        raw.batch_execute("BEGIN").await?;
        raw.execute(
            "INSERT INTO records (id, kind, lab_id, version, head_revision, state, created_at, updated_at, updated_by)
             VALUES ($1, 'case', $2, 1, $3, $4, now(), now(), $5)",
            &[&created.record_id, &who.lab_id, &created.id, &fields, &who.user_name],
        )
        .await?;
        raw.execute(
            "INSERT INTO revisions (id, record_id, kind, lab_id, version, base_version, fields, outcome, author,
                                    workstation, made_at)
             VALUES ($1, $2, 'case', $3, 1, 0, $4, 'applied', $5, $6, now())",
            &[&created.id, &created.record_id, &who.lab_id, &fields, &who.user_name, &who.workstation_code],
        )
        .await?;
        raw.batch_execute("COMMIT").await?;
    }

    store.migrate().await?;
    let marked: Vec<Uuid> =
        raw.query("SELECT id FROM records WHERE number_clash", &[]).await?.iter().map(|r| r.get(0)).collect();
    assert_eq!(marked, [second.record_id], "the case accepted later is marked; nothing is deleted");
    let third = case(Uuid::now_v7(), &ann, new_case_fields("OLD-17"));
    let answer = store.push(&ann, vec![third]).await?;
    assert_eq!(answer[0].outcome, Outcome::Rejected, "the number stays taken: {answer:?}");
    let edit = edit(RecordKind::Case, first.record_id, first.id, &ann, json!({"status": "qc"}));
    assert_eq!(store.push(&ann, vec![edit]).await?[0].outcome, Outcome::Applied, "the cases kept go on as usual");
    Ok(())
}

#[tokio::test]
async fn a_lab_setting_is_one_per_key_in_a_lab_and_a_deleted_one_frees_its_key() -> Result<()> {
    let f = fixture().await?;
    let setting = |who: &Identity, key: &str| {
        revision(
            RecordKind::Setting,
            Uuid::now_v7(),
            None,
            &who.user_name,
            &who.workstation_code,
            json!({"key": key, "value": "8"}),
        )
    };
    let first = setting(&f.ann, "tax_rate");
    assert_eq!(f.push_one(&f.ann, &first).await?.outcome, Outcome::Applied, "a setting belongs to no case");
    // bob made the same key offline, in a batch with another key and a twin of that one.
    let again = setting(&f.bob, "tax_rate");
    let other = setting(&f.bob, "opening_hours");
    let twin = setting(&f.bob, "opening_hours");
    let answers = f.store.push(&f.bob, vec![again, other, twin]).await?;
    let outcomes: Vec<Outcome> = answers.iter().map(outcome).collect();
    assert_eq!(outcomes, [Outcome::Rejected, Outcome::Applied, Outcome::Rejected], "each repeat alone: {answers:?}");
    let reason = answers[0].reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("the lab setting tax_rate is already in this lab") && reason.contains("change that one"),
        "{reason}"
    );
    // Another lab has its own settings.
    assert_eq!(f.push_one(&f.sam, &setting(&f.sam, "tax_rate")).await?.outcome, Outcome::Applied);
    // A deleted setting's key is free again.
    let delete =
        edit(RecordKind::Setting, first.record_id, first.id, &f.ann, json!({"deleted_at": "2026-01-01T00:00:00.000Z"}));
    assert_eq!(f.push_one(&f.ann, &delete).await?.outcome, Outcome::Applied);
    assert_eq!(f.push_one(&f.bob, &setting(&f.bob, "tax_rate")).await?.outcome, Outcome::Applied);
    // ... and a restore cannot bring back a second live one.
    let restore = edit(RecordKind::Setting, first.record_id, delete.id, &f.ann, json!({"deleted_at": null}));
    let answer = f.push_one(&f.ann, &restore).await?;
    assert_eq!(answer.outcome, Outcome::Rejected, "{answer:?}");
    assert!(answer.reason.as_deref().unwrap_or_default().contains("tax_rate is already in this lab"), "{answer:?}");
    Ok(())
}
