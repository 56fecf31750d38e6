//! The rules every workstation's store keeps, checked centrally: a pushed revision that would
//! leave a record no store can keep (a column its store declares NOT NULL missing, a value its
//! CHECKs refuse, a derived id that is not derived, a rule of the kind's validation) is rejected
//! with the rule, and the valid record beside it is accepted. The central store here is the one
//! `labdesk-sync` serves: PostgreSQL with `labdesk_sync::record_rules()`. ARCHITECTURE.md,
//! "Rules every workstation's store keeps", lists each rule and where it is kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::Result;
use labdesk_core::record::derived_id;
use labdesk_proto::sync::Outcome;
use labdesk_proto::{RecordKind, Revision};
use labdesk_server_database::{Identity, Role, SyncStore};
use labdesk_server_postgres::{PgOptions, PgStore};
use labdesk_testkit::{provision, revision, TestPostgres};
use serde_json::{json, Value};
use uuid::Uuid;

const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const TIME: &str = "2026-01-05T09:00:00.000Z";

/// A lab's central store with the server's rules, ann on FD1, and one case of hers; on a runtime
/// of its own, which its connections live on.
struct Central {
    runtime: tokio::runtime::Runtime,
    store: PgStore,
    ann: Identity,
    case: Uuid,
    db: TestPostgres,
}

fn central() -> Result<Central> {
    let db = TestPostgres::start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let (store, ann) = runtime.block_on(async {
        let store = PgStore::new(&db.url, PgOptions::default())?.with_rules(labdesk_sync::record_rules());
        store.migrate().await?;
        let ann = provision(&store, "North", "ann", Role::Technician, "FD1").await?.identity;
        Ok::<_, anyhow::Error>((store, ann))
    })?;
    let central = Central { runtime, store, ann, case: Uuid::now_v7(), db };
    let case = central.create(RecordKind::Case, central.case, case_state("FD1-000001"))?;
    assert_eq!(case.0, Outcome::Applied, "a valid case is accepted: {:?}", case.1);
    Ok(central)
}

impl Central {
    /// Pushes one revision; its outcome and reason.
    fn push(&self, revision: Revision) -> Result<(Outcome, String)> {
        let answer = self.runtime.block_on(self.store.push(&self.ann, vec![revision]))?.remove(0);
        Ok((answer.outcome, answer.reason.unwrap_or_default()))
    }

    /// The revision at the head of the case's central chain.
    fn case_head(&self) -> Result<Uuid> {
        self.runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&self.db.url, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            let row = client.query_one("SELECT head_revision FROM records WHERE id = $1", &[&self.case]).await?;
            Ok(row.get(0))
        })
    }

    fn create(&self, kind: RecordKind, id: Uuid, state: Value) -> Result<(Outcome, String)> {
        self.push(revision(kind, id, None, "ann", "FD1", state))
    }

    /// `state` is accepted; each of `broken` (a change to it, and the field the reason must name)
    /// is rejected naming the field and saying that no store could keep it.
    fn only_valid(&self, kind: RecordKind, id: impl Fn(&Value) -> Uuid, state: Value, broken: &[(Value, &str)]) {
        for (change, field) in broken {
            let mut bad = state.clone();
            for (k, v) in change.as_object().unwrap() {
                if v == &json!("<remove>") {
                    bad.as_object_mut().unwrap().remove(k);
                } else {
                    bad[k] = v.clone();
                }
            }
            let (outcome, reason) = self.create(kind, id(&bad), bad.clone()).unwrap();
            assert_eq!(outcome, Outcome::Rejected, "{bad} breaks a rule of the {}: {reason}", kind.label());
            assert!(
                reason.contains(field) && reason.contains("would break a rule every workstation keeps"),
                "the reason names {field} and why: {reason}"
            );
        }
        let (outcome, reason) = self.create(kind, id(&state), state.clone()).unwrap();
        assert_eq!(outcome, Outcome::Applied, "the valid {} is accepted: {reason}", kind.label());
    }
}

fn case_state(number: &str) -> Value {
    json!({
        "case_number": number, "secret_key": "0123456789abcdef0123456789abcdef", "status": "received",
        "patient_name": "Jane Roe", "author_id": "ann", "priority": "medium"
    })
}

fn fresh(_: &Value) -> Uuid {
    Uuid::now_v7()
}

#[test]
fn a_case_without_a_field_its_store_needs_or_breaking_a_case_rule_is_rejected_naming_it() -> Result<()> {
    let c = central()?;
    let broken = [
        (json!({"case_number": "<remove>"}), "case_number"),
        (json!({"case_number": "X".repeat(33)}), "case_number"),
        (json!({"secret_key": "short"}), "secret_key"),
        (json!({"status": "<remove>"}), "status"),
        (json!({"patient_name": "  "}), "patient_name"),
        (json!({"author_id": "<remove>"}), "author_id"),
        (json!({"priority": ""}), "priority"),
        (json!({"order_note": null}), "order_note"),
        (json!({"services": "crown"}), "services"),
        (json!({"services": [{"service_type": ""}]}), "services[0].service_type"),
        (json!({"links": [{"url": "not a link"}]}), "links[0].url"),
        (json!({"parent_id": "not-a-uuid"}), "parent_id"),
        (json!({"start_date": "2026-02-01T00:00:00.000Z", "due_date": "2026-01-01T00:00:00.000Z"}), "due_date"),
        (json!({"aligners": [{"count": 3, "stage": 4, "from": 1, "to": 3}]}), "aligners[0].stage"),
        (json!({"author_info": {"geo_location": {"lat": 91.0, "lng": 0.0}}}), "author_info.geo_location"),
    ];
    c.only_valid(RecordKind::Case, fresh, case_state("FD1-000002"), &broken);
    Ok(())
}

#[test]
fn a_meta_value_whose_id_is_not_derived_from_its_case_and_key_is_rejected() -> Result<()> {
    // A store keeps UNIQUE (case_id, key): two records for one key would fail on pull.
    let c = central()?;
    let state = json!({"case_id": c.case, "key": "shade", "value": "A2"});
    let (outcome, reason) = c.create(RecordKind::CaseMeta, Uuid::now_v7(), state.clone())?;
    assert_eq!(outcome, Outcome::Rejected, "{reason}");
    assert!(reason.contains("derived from its case and key"), "{reason}");
    let derived = derived_id(RecordKind::CaseMeta, c.case, "shade");
    assert_eq!(c.create(RecordKind::CaseMeta, derived, state)?.0, Outcome::Applied, "the derived id is accepted");
    Ok(())
}

#[test]
fn a_meta_value_breaking_a_meta_rule_is_rejected_naming_it() -> Result<()> {
    let c = central()?;
    let id = |s: &Value| {
        derived_id(
            RecordKind::CaseMeta,
            Uuid::parse_str(s["case_id"].as_str().unwrap()).unwrap(),
            s["key"].as_str().unwrap_or(""),
        )
    };
    let broken = [
        (json!({"value": "<remove>"}), "value"),
        (json!({"key": "bad key!"}), "key"),
        (json!({"key": "patient_age", "value": "forty"}), "patient_age"),
        (json!({"key": "shipping_estimate_date", "value": "soon"}), "shipping_estimate_date"),
        (json!({"value": "x".repeat(20_001)}), "shade"),
    ];
    c.only_valid(RecordKind::CaseMeta, id, json!({"case_id": c.case, "key": "shade", "value": "A2"}), &broken);
    Ok(())
}

#[test]
fn a_stage_whose_id_is_not_derived_from_its_case_and_stage_is_rejected() -> Result<()> {
    // A store keeps UNIQUE (case_id, stage): two records for one stage would fail on pull.
    let c = central()?;
    let state = json!({"case_id": c.case, "stage": "design", "status": "in_progress", "started_at": TIME});
    let (outcome, reason) = c.create(RecordKind::WorkflowStage, Uuid::now_v7(), state.clone())?;
    assert_eq!(outcome, Outcome::Rejected, "{reason}");
    assert!(reason.contains("derived from its case and stage"), "{reason}");
    let derived = derived_id(RecordKind::WorkflowStage, c.case, "design");
    assert_eq!(c.create(RecordKind::WorkflowStage, derived, state)?.0, Outcome::Applied);
    Ok(())
}

#[test]
fn a_stage_breaking_a_stage_rule_is_rejected_naming_it() -> Result<()> {
    let c = central()?;
    let id = |s: &Value| {
        derived_id(
            RecordKind::WorkflowStage,
            Uuid::parse_str(s["case_id"].as_str().unwrap()).unwrap(),
            s["stage"].as_str().unwrap_or(""),
        )
    };
    let broken = [
        (json!({"status": "<remove>"}), "status"),
        (json!({"status": "painted"}), "status"),
        (json!({"status": "completed"}), "completed_at"),
        (json!({"completed_at": "2025-01-01T00:00:00.000Z"}), "completed_at"),
        (json!({"notes": "x".repeat(20_001)}), "notes"),
    ];
    let state = json!({"case_id": c.case, "stage": "milling", "status": "in_progress", "started_at": TIME});
    c.only_valid(RecordKind::WorkflowStage, id, state, &broken);
    Ok(())
}

#[test]
fn a_chat_message_breaking_a_chat_rule_is_rejected_naming_it() -> Result<()> {
    let c = central()?;
    let broken = [
        (json!({"message_type": "fax"}), "message_type"),
        (json!({"message_status": "<remove>"}), "message_status"),
        (json!({"message_content": " "}), "message_content"),
        (json!({"reactions": {"👍": [""]}}), "reactions"),
        (json!({"attachments": "one"}), "attachments"),
        (json!({"message_purpose": "x".repeat(65)}), "message_purpose"),
        (json!({"sent_at": TIME, "edited_at": "2025-01-01T00:00:00.000Z"}), "edited_at"),
    ];
    let state = json!({
        "case_id": c.case, "message_type": "text", "message_content": "hello", "sender_id": "ann",
        "message_status": "sending"
    });
    c.only_valid(RecordKind::ChatMessage, fresh, state, &broken);
    Ok(())
}

#[test]
fn a_file_record_breaking_a_file_rule_is_rejected_naming_it() -> Result<()> {
    let c = central()?;
    let broken = [
        (json!({"file_size": -1}), "file_size"),
        (json!({"file_size": 201 * 1024 * 1024}), "file_size"),
        (json!({"is_temp": 2}), "is_temp"),
        (json!({"hash": "abc"}), "hash"),
        (json!({"mime_type": "application/x-msdownload"}), "mime_type"),
        (json!({"original_name": ""}), "original_name"),
        (json!({"upload_date": "<remove>"}), "upload_date"),
    ];
    let state = json!({
        "case_id": c.case, "original_name": "scan.stl", "stored_name": "9f86d081_1767600000.stl",
        "file_path": "2026/01/ann/FD1-000001", "file_size": 1024, "mime_type": "application/sla",
        "upload_date": TIME, "uploaded_by": "ann", "is_temp": false, "hash": HASH
    });
    c.only_valid(RecordKind::File, fresh, state, &broken);
    Ok(())
}

#[test]
fn a_case_note_without_a_body_or_its_author_is_rejected_naming_it() -> Result<()> {
    let c = central()?;
    let broken = [(json!({"body": "  "}), "body"), (json!({"author_id": "<remove>"}), "author_id")];
    c.only_valid(RecordKind::CaseNote, fresh, json!({"case_id": c.case, "author_id": "ann", "body": "n"}), &broken);
    Ok(())
}

#[test]
fn an_edit_that_would_leave_a_record_breaking_a_rule_is_rejected_even_when_merged() -> Result<()> {
    let c = central()?;
    let created = c.case_head()?;
    let blank = revision(RecordKind::Case, c.case, Some(created), "ann", "FD1", json!({"patient_name": ""}));
    let (outcome, reason) = c.push(blank)?;
    assert_eq!(outcome, Outcome::Rejected, "an edit blanking a required field: {reason}");
    assert!(reason.contains("patient_name"), "{reason}");
    // Two offline edits, each fine alone: the start date, then a due date before it made on the
    // same version. Merged, the record would have its due date before its start.
    let start = revision(
        RecordKind::Case,
        c.case,
        Some(created),
        "ann",
        "FD1",
        json!({"start_date": "2026-03-01T00:00:00.000Z"}),
    );
    assert_eq!(c.push(start)?.0, Outcome::Applied);
    let due = revision(
        RecordKind::Case,
        c.case,
        Some(created),
        "ann",
        "FD1",
        json!({"due_date": "2026-02-01T00:00:00.000Z"}),
    );
    let (outcome, reason) = c.push(due)?;
    assert_eq!(outcome, Outcome::Rejected, "the merge would break the date rule: {reason}");
    assert!(reason.contains("due_date"), "{reason}");
    Ok(())
}
