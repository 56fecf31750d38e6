//! The `labdesk` binary as lab IT and scripts use it: each test gets a fresh data folder and runs
//! the real program as workstation FD1.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod support;

use support::{text, Lab};

/// What these tests add to the harness.
impl Lab {
    /// Creates a case and returns its number.
    fn create(&self, args: &[&str]) -> String {
        let mut all = vec!["create"];
        all.extend_from_slice(args);
        let case = self.json(&all);
        case["case_number"].as_str().unwrap().to_owned()
    }

    fn case_count(&self) -> u64 {
        self.json(&["list", "--deleted"])["total"].as_u64().unwrap()
    }
}

#[test]
fn a_case_taken_in_offline_is_found_by_list_and_search() {
    let lab = Lab::new();
    let out = lab.ok(&["create", "--patient", "Ada Lovelace", "--due", "2099-11-10", "--service", "crown:zirconia"]);
    assert!(out.contains("Created case FD1-000001 for Ada Lovelace"), "intake prints the new number: {out}");

    let list = lab.ok(&["list"]);
    assert!(list.contains("FD1-000001") && list.contains("Ada Lovelace"), "the new case is listed: {list}");
    assert!(list.contains("2099-11-10"), "the due date is listed: {list}");
    assert!(list.contains("showing 1–1 of 1"), "the list says how much it shows: {list}");

    let search = lab.ok(&["search", "lovel"]);
    assert!(search.contains("FD1-000001"), "a word's start finds the patient: {search}");
    let search = lab.ok(&["search", "zirconia"]);
    assert!(search.contains("FD1-000001"), "services are searched: {search}");
    let none = lab.ok(&["search", "nobody"]);
    assert!(none.contains("Nothing found"), "no hit is said plainly: {none}");
}

#[test]
fn the_list_pages_filters_and_marks_overdue_cases() {
    let lab = Lab::new();
    lab.create(&["--patient", "Late", "--due", "2020-01-01", "--status", "milling"]);
    lab.create(&["--patient", "Done", "--due", "2020-01-02", "--status", "delivered"]);
    lab.create(&["--patient", "Later", "--due", "2099-01-01", "--assignee", "bob"]);

    let page = lab.ok(&["list", "--limit", "2"]);
    assert!(page.contains("showing 1–2 of 3"), "{page}");
    assert!(page.contains("--page 2"), "the footer says how to get the next page: {page}");
    let late_row = page.lines().find(|l| l.contains("Late")).unwrap();
    assert!(late_row.starts_with('!'), "a case past due and not delivered is marked: {page}");
    let done_row = page.lines().find(|l| l.contains("Done")).unwrap();
    assert!(!done_row.starts_with('!'), "a delivered case is never late: {page}");

    let second = lab.ok(&["list", "--limit", "2", "--page", "2"]);
    assert!(second.contains("Later") && second.contains("showing 3–3 of 3"), "{second}");

    let overdue = lab.json(&["list", "--overdue"]);
    assert_eq!(overdue["total"], 1, "only the late case is overdue: {overdue}");
    let bob = lab.json(&["list", "--assignee", "bob"]);
    assert_eq!(bob["cases"][0]["patient_name"], "Later", "{bob}");
    let range = lab.json(&["list", "--due-from", "2020-01-01", "--due-to", "2020-12-31", "--sort", "patient"]);
    let names: Vec<&str> =
        range["cases"].as_array().unwrap().iter().map(|c| c["patient_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Done", "Late"], "due range and sort by patient");

    let out = lab.run(&["list", "--due-from", "next week"]);
    assert_eq!(out.status.code(), Some(2), "a bad filter date is a usage error");
    assert!(text(&out.stderr).contains("YYYY-MM-DD"), "it says which forms work: {}", text(&out.stderr));
}

#[test]
fn show_includes_the_case_fields_meta_stages_notes_and_chat_but_never_the_secret_key() {
    let lab = Lab::new();
    let number = lab.create(&[
        "--patient",
        "Ada Lovelace",
        "--priority",
        "rush",
        "--start",
        "2026-11-01",
        "--due",
        "2026-11-10 17:00",
        "--assignee",
        "bob",
        "--invoice",
        "INV-7",
        "--service",
        "crown:zirconia,layered:shade A2",
        "--link",
        "Scan|https://scans.example/1|3shape",
        "--author-name",
        "Dr. Who",
        "--author-phone",
        "+1 555",
        "--aligner",
        "count=20,stage=3,from=1,to=6",
        "--meta",
        "patient_age=42",
        "--order-note",
        "Match the shade",
    ]);
    lab.ok(&["chat", "post", &number, "Shade A2 please"]);
    lab.ok(&["note", "add", &number, "Remake requested by Dr Quimby"]);
    lab.ok(&["stage", &number, "design", "start"]);

    let show = lab.ok(&["show", &number]);
    for expected in [
        "Ada Lovelace",
        "rush",
        "2026-11-10 17:00",
        "Dr. Who",
        "INV-7",
        "crown: zirconia, layered (extras: shade A2)",
        "https://scans.example/1 (3shape)",
        "series of 20, at stage 3, aligners 1–6",
        "patient_age = 42",
        "Match the shade",
        "design",
        "in_progress",
        "quality_control",
        "Remake requested by Dr Quimby",
        "Shade A2 please",
    ] {
        assert!(show.contains(expected), "show should include '{expected}':\n{show}");
    }
    let detail = lab.json(&["show", &number]);
    let secret = detail["case"]["secret_key"].as_str().unwrap();
    assert!(secret.len() >= 32, "the JSON record carries the share key");
    assert!(!show.contains(secret), "the share key is never printed for people:\n{show}");
    let history = lab.ok(&["history", &number]);
    assert!(!history.contains(secret), "nor in the history:\n{history}");
    assert!(history.contains("secret_key: (hidden)"), "{history}");
}

#[test]
fn edit_applies_flags_set_and_clear_and_a_stale_base_version_is_refused_with_a_reload_message() {
    let lab = Lab::new();
    let number = lab.create(&["--patient", "Ada", "--due", "2026-11-10", "--author-name", "Dr. Who"]);

    let out = lab.ok(&[
        "edit",
        &number,
        "--base-version",
        "1",
        "--status",
        "milling",
        "--author-phone",
        "+1 555",
        "--set",
        r#"assignees=["bob","carol"]"#,
        "--set",
        "order_note=rush job",
    ]);
    assert!(out.contains("status: received → milling"), "the edit says what changed: {out}");
    assert!(out.contains("author_info.phone"), "a changed part of the author info is named: {out}");
    let case = lab.json(&["show", &number]);
    assert_eq!(case["case"]["version"], 2);
    assert_eq!(case["case"]["assignees"], serde_json::json!(["bob", "carol"]), "--set takes JSON values");
    assert_eq!(case["case"]["order_note"], "rush job", "--set takes plain text too");
    assert_eq!(case["case"]["author_info"]["name"], "Dr. Who", "--author-phone keeps the author's name");

    let err = lab.fails(&["edit", &number, "--base-version", "1", "--status", "qc"]);
    assert!(err.contains("reload"), "a stale edit says to reload: {err}");
    let after = lab.json(&["show", &number]);
    assert_eq!(after["case"]["status"], "milling", "the refused edit changed nothing");
    assert_eq!(after["case"]["version"], 2, "the refused edit made no revision");

    lab.ok(&["edit", &number, "--clear", "due_date", "--clear", "assignees"]);
    let cleared = lab.json(&["show", &number]);
    assert!(cleared["case"]["due_date"].is_null(), "--clear due_date sets null: {}", cleared["case"]);
    assert_eq!(cleared["case"]["assignees"], serde_json::json!([]), "--clear on a list empties it");

    let same = lab.ok(&["edit", &number, "--status", "milling"]);
    assert!(same.contains("Nothing changed"), "an edit to the same value says so: {same}");

    let err = lab.fails(&["edit", &number, "--set", "colour=red"]);
    assert!(err.contains("colour: is not a field"), "an unknown field is named: {err}");
}

#[test]
fn due_before_start_exits_1_naming_due_date_and_stores_nothing() {
    let lab = Lab::new();
    let err = lab.fails(&["create", "--patient", "P", "--start", "2026-05-02", "--due", "2026-05-01"]);
    assert!(err.contains("the case was not saved"), "{err}");
    assert!(
        err.lines().any(|l| l.trim_start().starts_with("--due:")),
        "the bad field has its own line, named by its flag: {err}"
    );
    assert_eq!(lab.case_count(), 0, "a refused intake stores nothing");
    assert_eq!(lab.json(&["outbox"]).as_array().unwrap().len(), 0, "and sends nothing");

    let err = lab.fails(&["create", "--patient", "P", "--due", "next tuesday"]);
    assert!(err.contains("--due:") && err.contains("YYYY-MM-DD"), "a bad date names the flag and the forms: {err}");

    let out = lab.run(&["--json", "create", "--patient", "P", "--start", "2026-05-02", "--due", "2026-05-01"]);
    assert_eq!(out.status.code(), Some(1));
    let body: Value = serde_json::from_slice(&out.stderr).expect("with --json the error is JSON on stderr");
    assert_eq!(body["fields"][0]["field"], "due_date", "{body}");
    assert!(body["error"].as_str().unwrap().contains("not saved"), "{body}");
}

#[test]
fn create_reads_fields_from_json_and_flags_override_them() {
    let lab = Lab::new();
    let fields = r#"{"patient_name": "From JSON", "status": "designing", "invoice_ids": ["INV-1"],
                     "author_info": {"name": "Dr. Who"}, "meta": {"shade": "A3"}}"#;
    let out = lab.run_as_with_input(
        "ann",
        &["--json", "create", "--from-json", "-", "--status", "milling", "--author-phone", "+1 555"],
        fields,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let case: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(case["patient_name"], "From JSON");
    assert_eq!(case["status"], "milling", "a flag overrides the JSON");
    assert_eq!(case["invoice_ids"], serde_json::json!(["INV-1"]));
    assert_eq!(case["author_info"]["name"], "Dr. Who", "an author flag adds to the JSON's author info");
    assert_eq!(case["author_info"]["phone"], "+1 555");
    let meta = lab.json(&["meta", "list", "FD1-000001"]);
    assert_eq!(meta[0]["value"], "A3", "meta in the JSON is set too: {meta}");

    let out = lab.run_as_with_input("ann", &["create", "--from-json", "-"], "[1, 2]");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("JSON object"), "{}", text(&out.stderr));
}

#[test]
fn a_refused_meta_value_refuses_the_whole_intake() {
    let lab = Lab::new();
    let err = lab.fails(&["create", "--patient", "P", "--meta", "shade=A2", "--meta", "patient_age=old"]);
    assert!(err.contains("patient_age: 'old' is not an age"), "the bad value is named: {err}");
    assert_eq!(lab.case_count(), 0, "the case is not stored without its meta values");
    let number = lab.create(&["--patient", "P", "--meta", "patient_age=40"]);
    assert_eq!(number, "FD1-000001", "the refused intake used up no case number");
}

#[test]
fn an_unknown_case_is_a_plain_error() {
    let lab = Lab::new();
    let err = lab.fails(&["show", "FD1-999999"]);
    assert_eq!(err.trim(), "error: no case matches 'FD1-999999'");
    let err = lab.fails(&["create", "--patient", "P", "--parent", "FD1-424242"]);
    assert!(err.contains("no case matches 'FD1-424242'"), "{err}");
}

#[test]
fn chat_messages_are_posted_edited_reacted_to_deleted_and_read_and_only_the_sender_may_change_them() {
    let lab = Lab::new();
    let number = lab.create(&["--patient", "P"]);
    let posted = lab.json(&["chat", "post", &number, "Shade A2 please"]);
    let id = posted["id"].as_str().unwrap().to_owned();
    assert_eq!(posted["message_status"], "sending", "a message is stored at once, as sending");
    let human = lab.ok(&["chat", "post", &number, "and a reply", "--reply-to", &id]);
    assert!(human.starts_with("Posted message "), "{human}");

    let err = lab.fails_as("bob", &["chat", "edit", &id, "hijacked"]);
    assert!(err.contains("only the sender"), "another user may not edit: {err}");
    let err = lab.fails_as("bob", &["chat", "delete", &id]);
    assert!(err.contains("only the sender"), "another user may not delete: {err}");

    lab.ok_as("bob", &["chat", "react", &id, "👍"]);
    lab.ok(&["chat", "react", &id, "👍"]);
    lab.ok(&["chat", "edit", &id, "Shade A2, please"]);
    let own = lab.ok(&["chat", "read", &id]);
    assert!(own.contains("your own message"), "its sender reading it is no read receipt: {own}");
    lab.ok_as("bob", &["chat", "read", &id]);
    let again = lab.ok_as("bob", &["chat", "read", &id]);
    assert!(again.contains("already"), "marking read twice changes nothing: {again}");

    let list = lab.ok(&["chat", "list", &number]);
    assert!(list.contains("Shade A2, please (edited)"), "an edit is marked: {list}");
    assert!(list.contains("👍 ann, bob"), "reactions show who reacted: {list}");
    assert!(list.contains("(read)"), "the status shows: {list}");

    lab.ok_as("bob", &["chat", "react", &id, "👍", "--remove"]);
    lab.ok(&["chat", "delete", &id]);
    let messages = lab.json(&["chat", "list", &number]);
    let first = &messages[0];
    assert!(first["deleted_at"].is_string(), "a deleted message is kept, marked deleted: {first}");
    assert_eq!(first["reactions"]["👍"], serde_json::json!(["ann"]), "bob took his reaction back");
    let list = lab.ok(&["chat", "list", &number]);
    assert!(list.contains("(message deleted)"), "{list}");
    assert!(!list.contains("Shade A2, please"), "a deleted message's text is not shown: {list}");

    let err = lab.run(&["chat", "read", "not-a-uuid"]);
    assert_eq!(err.status.code(), Some(2), "a malformed message id is a usage error");
}

#[test]
fn stage_start_and_complete_show_in_stages() {
    let lab = Lab::new();
    let number = lab.create(&["--patient", "P"]);
    lab.ok(&["stage", &number, "design", "assign", "bob"]);
    lab.ok(&["stage", &number, "design", "start"]);
    lab.ok(&["stage", &number, "QC", "start"]);
    lab.ok(&["stage", &number, "receiving", "complete"]);
    lab.ok(&["stage", &number, "impression_scan", "complete"]);
    lab.ok(&["stage", &number, "design", "complete", "--base-version", "2"]);

    let stages = lab.ok(&["stages", &number]);
    let design = stages.lines().find(|l| l.starts_with("design")).unwrap();
    assert!(design.contains("completed") && design.contains("bob"), "{stages}");
    let qc = stages.lines().find(|l| l.starts_with("quality_control")).unwrap();
    assert!(qc.contains("in_progress"), "'qc' names quality control: {stages}");
    assert_eq!(stages.lines().count(), 8, "a header and all seven stages: {stages}");

    let json = lab.json(&["stages", &number]);
    assert!(json[2]["started_at"].is_string() && json[2]["completed_at"].is_string(), "{}", json[2]);

    let err = lab.fails(&["stage", &number, "design", "start", "--base-version", "1"]);
    assert!(err.contains("reload"), "{err}");
    let out = lab.run(&["stage", &number, "glazing", "start"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("the stages are receiving"), "{}", text(&out.stderr));
}

#[test]
fn completing_a_stage_out_of_order_needs_force_and_the_case_status_and_overdue_mark_follow_the_stages() {
    let lab = Lab::new();
    let number = lab.create(&["--patient", "Late", "--due", "2020-01-01"]);
    let out = lab.ok(&["stage", &number, "design", "start"]);
    assert!(out.contains(&format!("Case {number} is now designing (was received).")), "{out}");

    let err = lab.fails(&["stage", &number, "delivery", "complete"]);
    assert!(
        err.contains(
            "receiving, impression_scan, design, milling, sintering and quality_control before it are not completed"
        ),
        "the refusal names the earlier stages: {err}"
    );
    assert!(err.contains(&format!("labdesk stage {number} delivery complete --force")), "and says how to go on: {err}");
    let delivery = lab.json(&["stages", &number])[6].clone();
    assert_eq!(delivery["status"], "pending", "the refused move changed nothing: {delivery}");
    assert!(lab.ok(&["list"]).lines().any(|l| l.starts_with('!') && l.contains("Late")), "still overdue");

    let out = lab.ok(&["stage", &number, "delivery", "complete", "--force"]);
    assert!(out.contains("is now completed") && out.contains("is now delivered (was designing)"), "{out}");
    let list = lab.ok(&["list"]);
    let row = list.lines().find(|l| l.contains("Late")).unwrap();
    assert!(!row.starts_with('!'), "a delivered case is not marked overdue: {list}");
    assert_eq!(lab.json(&["list", "--overdue"])["total"], 0, "nor listed as overdue");
    assert!(!lab.ok(&["show", &number]).contains("OVERDUE"), "nor shown as overdue");

    let number = lab.create(&["--patient", "Held", "--due", "2020-01-01", "--status", "on_hold"]);
    for stage in ["receiving", "impression_scan", "design", "milling", "sintering", "quality_control"] {
        lab.ok(&["stage", &number, stage, "complete"]);
    }
    assert_eq!(lab.json(&["show", &number])["case"]["status"], "on_hold", "a status a person set is kept");
    assert!(lab.ok(&["show", &number]).contains("OVERDUE"));
    lab.ok(&["stage", &number, "delivery", "complete"]);
    assert!(!lab.ok(&["show", &number]).contains("OVERDUE"), "delivered, whatever its status: not late");
}

#[test]
fn history_shows_who_changed_which_field_from_what_to_what() {
    let lab = Lab::new();
    let number = lab.create(&["--patient", "Ada", "--status", "received"]);
    lab.ok_as("bob", &["edit", &number, "--status", "milling"]);
    lab.ok(&["meta", "set", &number, "shade", "A2"]);

    let history = lab.ok(&["history", &number]);
    assert!(history.contains("v1") && history.contains("created"), "{history}");
    assert!(history.contains("bob@FD1"), "author@workstation: {history}");
    assert!(history.contains("status: received → milling"), "{history}");
    assert!(!history.contains("shade"), "without --all only the case's own chain: {history}");

    let all = lab.ok(&["history", &number, "--all"]);
    assert!(all.contains("case meta value") && all.contains("shade"), "--all includes attached records: {all}");

    let meta = lab.json(&["meta", "list", &number]);
    let meta_id = meta[0]["id"].as_str().unwrap();
    let one = lab.ok(&["history", meta_id]);
    assert!(one.contains("History of case meta value"), "a record's UUID shows its own chain: {one}");

    let entries = lab.json(&["history", &number]);
    assert_eq!(entries.as_array().unwrap().len(), 2);
    assert_eq!(entries[1]["changes"][0]["field"], "status", "{}", entries[1]);
}

#[test]
fn meta_notes_delete_and_restore_work_from_the_command_line() {
    let lab = Lab::new();
    let number = lab.create(&["--patient", "P"]);
    lab.ok(&["meta", "set", &number, "patient_age", "40"]);
    let err = lab.fails(&["meta", "set", &number, "patient_age", "forty"]);
    assert!(err.contains("patient_age") && err.contains("not an age"), "{err}");
    assert!(lab.ok(&["meta", "list", &number]).contains("40"));
    lab.ok(&["meta", "unset", &number, "patient_age"]);
    assert!(lab.ok(&["meta", "list", &number]).contains("No meta values"));

    lab.ok(&["note", "add", &number, "first note"]);
    assert!(lab.ok(&["note", "list", &number]).contains("ann: first note"));

    let deleted = lab.ok(&["delete", &number]);
    assert!(deleted.contains("restore"), "deleting says how to undo it: {deleted}");
    assert_eq!(lab.json(&["list"])["total"], 0, "a deleted case leaves the list");
    assert_eq!(lab.json(&["list", "--deleted"])["total"], 1, "but is kept");
    let err = lab.fails(&["edit", &number, "--status", "qc"]);
    assert!(err.contains("deleted"), "{err}");
    lab.ok(&["restore", &number]);
    assert_eq!(lab.json(&["list"])["total"], 1);
}

#[test]
fn json_output_parses_and_has_the_expected_fields() {
    let lab = Lab::new();
    let init = lab.json(&["init"]);
    assert_eq!(init["workstation"], "FD1");
    assert_eq!(init["user"], "ann");
    assert!(init["path"].as_str().unwrap().ends_with("labdesk.sqlite3"), "{init}");

    let case = lab.json(&["create", "--patient", "Ada", "--due", "2026-11-10"]);
    for field in ["id", "version", "case_number", "patient_name", "status", "priority", "due_date", "created_at"] {
        assert!(case.get(field).is_some(), "the stored case has '{field}': {case}");
    }
    assert_eq!(case["status"], "received", "intake fills the default status");
    assert_eq!(case["due_date"], "2026-11-10T00:00:00.000Z");

    let page = lab.json(&["list"]);
    for field in ["total", "offset", "limit", "cases"] {
        assert!(page.get(field).is_some(), "the page has '{field}': {page}");
    }
    assert!(page["cases"][0]["overdue"].is_boolean(), "{page}");
    let detail = lab.json(&["show", "FD1-000001"]);
    for field in ["case", "meta", "chat", "stages", "notes", "attachments", "children", "pending_changes"] {
        assert!(detail.get(field).is_some(), "the detail has '{field}'");
    }
    assert_eq!(detail["stages"].as_array().unwrap().len(), 7);
    let hits = lab.json(&["search", "ada"]);
    assert_eq!(hits[0]["case"]["case_number"], "FD1-000001");
    assert!(hits[0]["matched_in"].is_string() && hits[0]["snippet"].is_string());
    let edit = lab.json(&["edit", "FD1-000001", "--status", "qc"]);
    assert_eq!(edit["revision"]["fields"]["status"], "qc", "an edit's JSON has the revision: {edit}");
    let outbox = lab.json(&["outbox"]);
    assert_eq!(outbox.as_array().unwrap().len(), 2, "the intake and the edit wait to be sent");
    let report = lab.json(&["check"]);
    assert_eq!(report["integrity"], "ok");
    assert_eq!(report["problems"], serde_json::json!([]));
}

#[test]
fn import_of_jsonl_with_bad_lines_exits_1_names_each_line_and_stores_the_good_cases() {
    let lab = Lab::new();
    let file = lab.data().join("cases.jsonl");
    let lines = [
        r#"{"patient_name": "Grace Hopper", "meta": {"patient_age": "40"}, "notes": ["n"], "chat": [{"message_content": "hi"}]}"#,
        r#"this is not json"#,
        "",
        r#"{"patient_name": "Edsger", "meta": {"patient_age": "old"}}"#,
        r#"{"patient_name": "Barbara Liskov", "case_number": "OLD-17"}"#,
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = lab.run(&["import", file.to_str().unwrap(), "--batch", "2"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "skipped lines make the exit status 1\n{stdout}\n{stderr}");
    assert!(stdout.contains("line 2: is not valid JSON"), "the bad line's number is reported: {stdout}");
    assert!(stdout.contains("line 4:") && stdout.contains("patient_age"), "a refused case names why: {stdout}");
    assert!(!stdout.contains("line 3"), "blank lines are ignored: {stdout}");
    assert!(
        stderr.contains("imported 1 case (4 records)"),
        "progress goes to stderr per batch, in the singular for one: {stderr}"
    );
    assert!(stderr.contains("imported 2 cases (5 records)"), "{stderr}");

    let page = lab.json(&["list", "--sort", "patient"]);
    let names: Vec<&str> =
        page["cases"].as_array().unwrap().iter().map(|c| c["patient_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Barbara Liskov", "Grace Hopper"], "the good cases are stored");
    assert!(lab.ok(&["show", "OLD-17"]).contains("Barbara Liskov"), "an imported number is kept");
    let grace = lab.json(&["show", "FD1-000001"]);
    assert_eq!((grace["meta"].as_array().unwrap().len(), grace["chat"].as_array().unwrap().len()), (1, 1));

    let out = lab.run_as_with_input("ann", &["--json", "import", "-"], "{\"patient_name\": \"From stdin\"}\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["imported"], 1);
    assert_eq!(report["skipped"], serde_json::json!([]));
}

#[test]
fn an_import_whose_case_numbers_clash_names_every_clash_with_its_lines_and_stores_nothing() {
    let lab = Lab::new();
    let file = lab.data().join("first.jsonl");
    std::fs::write(&file, r#"{"patient_name": "Ada Lovelace", "case_number": "OLD-9"}"#).unwrap();
    let out = lab.run(&["import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Imported case numbers are checked against the rest of the lab at the next sync"),
        "the import says that the lab's other numbers are checked at sync: {}",
        text(&out.stdout)
    );

    let file = lab.data().join("cases.jsonl");
    let lines = [
        r#"{"patient_name": "Grace Hopper", "case_number": "OLD-17"}"#,
        r#"{"patient_name": "Alan Turing", "case_number": "OLD-18"}"#,
        r#"{"patient_name": "Barbara Liskov", "case_number": "OLD-17"}"#,
        r#"{"patient_name": "Edsger Dijkstra", "case_number": "OLD-9"}"#,
        r#"{"patient_name": "Minted"}"#,
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = lab.run(&["import", file.to_str().unwrap(), "--batch", "1"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a clash refuses the import\n{stdout}");
    assert!(stdout.contains("Nothing was imported"), "{stdout}");
    assert!(stdout.contains("case number OLD-17 is on lines 1 and 3 of the import"), "{stdout}");
    assert!(
        stdout.contains("case number OLD-9 (line 4) is already used by a case in this store (patient Ada Lovelace)"),
        "{stdout}"
    );
    assert!(!stdout.contains("OLD-18"), "a free number is not named: {stdout}");
    let page = lab.json(&["list"]);
    assert_eq!(page["cases"].as_array().unwrap().len(), 1, "nothing of the refused file was stored: {page}");
}

#[test]
fn check_exits_0_on_a_healthy_store() {
    let lab = Lab::new();
    let number = lab.create(&["--patient", "P", "--meta", "shade=A2"]);
    lab.ok(&["chat", "post", &number, "hello"]);
    let out = lab.run(&["check"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("integrity:  ok"), "{stdout}");
    assert!(stdout.contains("problems:   none"), "{stdout}");
    let quick = lab.ok(&["check", "--quick"]);
    assert!(quick.contains("skipped"), "{quick}");
}

#[test]
fn init_records_the_default_user_for_later_commands() {
    let lab = Lab::new();
    let out = lab.ok_as("carol", &["init"]);
    assert!(out.contains("workstation: FD1"), "{out}");
    let bare = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_labdesk"))
            .arg("--data")
            .arg(lab.data())
            .args(args)
            .env_remove("LABDESK_USER")
            .env_remove("LABDESK_WORKSTATION")
            .env_remove("LABDESK_DATA")
            .output()
            .unwrap()
    };
    let run = bare(&["--json", "create", "--patient", "P"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let case: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(case["author_id"], "carol", "without --user the store's default user is used");

    let out = bare(&["--workstation", "XY2", "list"]);
    assert_eq!(out.status.code(), Some(1), "another workstation code for an existing store is refused");
    assert!(text(&out.stderr).contains("belongs to workstation FD1"), "{}", text(&out.stderr));
}

#[test]
fn a_command_before_init_creates_nothing_and_says_to_run_init() {
    let lab = Lab::bare();
    for args in [&["list"][..], &["create", "--patient", "P"], &["outbox"], &["history", "FD1-000001"]] {
        let err = lab.fails(args);
        assert!(err.contains("no LabDesk store in"), "`labdesk {}` says there is no store: {err}", args.join(" "));
        assert!(
            err.contains("init --workstation FD1 --user ann"),
            "and says how to set one up, with the code and user given: {err}"
        );
        assert!(!lab.data().join("labdesk.sqlite3").exists(), "`labdesk {}` must not make a store", args.join(" "));
    }
    let out = lab.ok(&["init"]);
    assert!(out.contains("workstation: FD1"), "init then sets up FD1 as asked: {out}");
}

#[test]
fn init_takes_a_lower_case_workstation_code_in_capitals_also_from_the_environment() {
    let lab = Lab::bare();
    let run = |args: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_labdesk"));
        cmd.arg("--data").arg(lab.data()).args(args).env_remove("LABDESK_DATA").env_remove("LABDESK_USER");
        match env {
            Some(code) => cmd.env("LABDESK_WORKSTATION", code),
            None => cmd.env_remove("LABDESK_WORKSTATION"),
        };
        cmd.output().unwrap()
    };
    let out = run(&["--json", "init", "--workstation", "fd1", "--user", "ann"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let init: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(init["workstation"], "FD1", "fd1 is the workstation FD1");
    let created = run(&["--json", "create", "--patient", "P"], Some("fd1"));
    assert!(created.status.success(), "LABDESK_WORKSTATION=fd1 is the same workstation: {}", text(&created.stderr));
    let case: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(case["case_number"], "FD1-000001");

    let other = Lab::bare();
    let out = Command::new(env!("CARGO_BIN_EXE_labdesk"))
        .arg("--data")
        .arg(other.data())
        .args(["--json", "init", "--user", "ann"])
        .env("LABDESK_WORKSTATION", "tb2")
        .env_remove("LABDESK_DATA")
        .output()
        .unwrap();
    let init: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(init["workstation"], "TB2", "LABDESK_WORKSTATION=tb2 sets up TB2: {}", text(&out.stderr));
}

#[test]
fn init_names_a_store_that_holds_nothing_yet_and_refuses_one_with_changes_saying_what_to_do() {
    let lab = Lab::bare();
    let out = Command::new(env!("CARGO_BIN_EXE_labdesk"))
        .arg("--data")
        .arg(lab.data())
        .arg("init")
        .env_remove("LABDESK_DATA")
        .env_remove("LABDESK_WORKSTATION")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = lab.ok(&["init"]);
    assert!(out.contains("workstation: FD1"), "an empty store set up with a random code can still become FD1: {out}");
    lab.create(&["--patient", "P"]);
    let out = Command::new(env!("CARGO_BIN_EXE_labdesk"))
        .arg("--data")
        .arg(lab.data())
        .args(["init", "--workstation", "TB2"])
        .env_remove("LABDESK_DATA")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a store with changes keeps its code");
    let err = text(&out.stderr);
    assert!(err.contains("belongs to workstation FD1"), "{err}");
    assert!(err.contains("--data DIR init --workstation TB2"), "the error says the way forward: {err}");
}

#[test]
fn history_names_messages_by_their_words_and_files_by_their_names_with_distinct_short_ids() {
    let lab = Lab::new();
    let number = lab.create(&["--patient", "P"]);
    let first = lab.json(&["chat", "post", &number, "Margin on 36 looks short"]);
    let second = lab.json(&["chat", "post", &number, "Shade A2 please"]);
    let scan = lab.data().join("upper-jaw.stl");
    std::fs::write(&scan, "solid jaw\nendsolid jaw\n").unwrap();
    lab.ok(&["attach", &number, scan.to_str().unwrap()]);
    lab.ok(&["meta", "set", &number, "patient_age", "42"]);

    let history = lab.ok(&["history", &number, "--all"]);
    let short = |v: &Value| {
        let id = v["id"].as_str().unwrap().replace('-', "");
        id[id.len() - 8..].to_owned()
    };
    let (a, b) = (short(&first), short(&second));
    assert_ne!(a, b, "two messages made in the same second have different short ids");
    assert!(history.contains(&format!("chat message \"Margin on 36 looks short\" [{a}]")), "{history}");
    assert!(history.contains(&format!("chat message \"Shade A2 please\" [{b}]")), "{history}");
    assert!(history.contains("file upper-jaw.stl ["), "a file is named by its name: {history}");
    assert!(history.contains("case meta value patient_age ["), "a meta value by its key: {history}");
    let prefix = &first["id"].as_str().unwrap()[..8];
    assert!(!history.contains(&format!("chat message {prefix}")), "not by the id's time prefix: {history}");

    let edited = lab.ok(&["chat", "edit", &a, "Margin on 36 looks short, rescan?"]);
    assert!(edited.contains(&format!("Edited message {a}")), "a short id is taken and shown: {edited}");
    let one = lab.ok(&["history", &b]);
    assert!(one.starts_with(&format!("History of chat message \"Shade A2 please\" [{b}]")), "{one}");
    let list = lab.ok(&["chat", "list", &number]);
    assert!(list.contains(&format!("id {a}")), "the chat list shows the short id to act on: {list}");
}

#[test]
fn meta_unset_of_an_unknown_key_names_the_key_and_the_case() {
    let lab = Lab::new();
    let number = lab.create(&["--patient", "P"]);
    lab.ok(&["meta", "set", &number, "shade", "A2"]);
    let err = lab.fails(&["meta", "unset", &number, "nokey"]);
    assert_eq!(err.trim(), "error: case FD1-000001 has no meta value 'nokey' (its keys: shade)", "no derived id");
}

#[test]
fn outbox_names_each_record_and_lists_file_contents_waiting_to_go_up() {
    let lab = Lab::new();
    let number = lab.create(&["--patient", "P"]);
    lab.ok(&["chat", "post", &number, "hello bench"]);
    let scan = lab.data().join("upper-jaw.stl");
    std::fs::write(&scan, "solid jaw\nendsolid jaw\n").unwrap();
    lab.ok(&["attach", &number, scan.to_str().unwrap()]);
    let outbox = lab.ok(&["outbox"]);
    assert!(outbox.contains("\"hello bench\""), "a message by its words: {outbox}");
    assert!(outbox.lines().any(|l| l.contains("file") && l.contains("upper-jaw.stl") && l.contains("FD1-000001")));
    assert!(outbox.contains("Files whose contents wait to go up (1):"), "{outbox}");
    assert!(outbox.contains("  upper-jaw.stl on case FD1-000001  (23 bytes"), "{outbox}");
    let json = lab.json(&["outbox"]);
    assert_eq!(json[1]["label"], "\"hello bench\"", "{json}");
    assert_eq!(json[1]["case_number"], "FD1-000001", "{json}");
}

/// A file of the lab's formats with contents of its own.
fn stl(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("solid {body}\nendsolid {body}\n")).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn list_sort_priority_puts_the_most_urgent_first_not_the_alphabetical() {
    let lab = Lab::new();
    for (patient, priority) in
        [("Medium", "medium"), ("Rush", "rush"), ("Low", "low"), ("High", "high"), ("Own", "someday")]
    {
        lab.create(&["--patient", patient, "--priority", priority]);
    }
    let page = lab.json(&["list", "--sort", "priority"]);
    let names: Vec<&str> =
        page["cases"].as_array().unwrap().iter().map(|c| c["patient_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Rush", "High", "Medium", "Low", "Own"], "the lab's order of priorities, free text last");
}

#[test]
fn counts_of_one_are_printed_in_the_singular() {
    let lab = Lab::new();
    let out = lab.run_as_with_input("ann", &["import", "-"], "{\"patient_name\": \"Only One\"}\n");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stdout.starts_with("Imported 1 case (1 record) from"), "{stdout}");
    assert!(stderr.contains("imported 1 case (1 record)") && !stderr.contains("1 cases"), "{stderr}");
}

#[test]
fn field_errors_of_create_and_edit_name_the_flag_the_person_typed() {
    let lab = Lab::new();
    let err = lab.fails(&["create", "--status", "received"]);
    assert!(err.contains("\n  --patient: is required"), "the flag, not patient_name: {err}");
    assert!(!err.contains("patient_name"), "{err}");
    let out = lab.run(&["--json", "create", "--status", "received"]);
    let body: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(body["fields"][0]["field"], "patient_name", "JSON keeps the field's own name: {body}");
    assert_eq!(body["fields"][0]["flag"], "--patient", "and says which flag sets it: {body}");
    let number = lab.create(&["--patient", "P"]);
    let err = lab.fails(&["edit", &number, "--patient", " "]);
    assert!(err.contains("--patient: is required"), "edit names its flags too: {err}");
}

#[test]
fn several_refused_files_are_each_named_not_numbered() {
    let lab = Lab::new();
    let number = lab.create(&["--patient", "P"]);
    let (a, b) = (lab.data().join("a.png"), lab.data().join("b.png"));
    std::fs::write(&a, b"MZ\x90\0\x03\0").unwrap();
    std::fs::write(&b, b"MZ\x90\0\x03\0").unwrap();
    let err = lab.fails(&["attach", &number, a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(err.starts_with("error: the files a.png and b.png were not attached:"), "{err}");
    assert!(err.contains("\n  a.png is named as PNG") && err.contains("\n  b.png is named as PNG"), "{err}");
    assert!(!err.contains("files[0]") && !err.contains("the file was not saved"), "{err}");
}

#[test]
fn attaching_the_same_contents_twice_is_refused_and_names_the_file_already_there() {
    let lab = Lab::new();
    let number = lab.create(&["--patient", "P"]);
    let scan = stl(lab.data(), "upper.stl", "jaw");
    let first = lab.json(&["attach", &number, &scan]);
    let id = first[0]["id"].as_str().unwrap().to_owned();
    let copy = stl(lab.data(), "upper again.stl", "jaw");
    let err = lab.fails(&["attach", &number, &copy]);
    assert!(
        err.contains(&format!("upper again.stl is already attached to case {number} as upper.stl (file {id})")),
        "{err}"
    );
    assert_eq!(lab.json(&["files", &number]).as_array().unwrap().len(), 1, "one record is kept");
}

#[test]
fn notes_are_edited_and_deleted_and_files_listed_removed_saved_and_sent_in_chat_from_the_command_line() {
    let lab = Lab::new();
    let number = lab.create(&["--patient", "P"]);
    let note = lab.json(&["note", "add", &number, "first words"]);
    let note_id = note["id"].as_str().unwrap().to_owned();
    let short = note_id.replace('-', "")[24..].to_owned();
    assert!(lab.ok(&["note", "list", &number]).contains(&format!("id {short}")), "the list shows short ids to act on");
    assert!(lab.ok(&["note", "edit", &short, "better words"]).contains("Edited note"), "a short id finds the note");
    let unknown = lab.fails(&["note", "edit", "abcd1234", "x"]);
    assert!(unknown.contains("note") && unknown.contains("abcd1234"), "an unknown id is named as a note's: {unknown}");
    assert!(lab.ok(&["note", "list", &number]).contains("better words"));
    assert!(lab.fails(&["note", "edit", &note_id, "x", "--base-version", "1"]).contains("changed since"));
    assert!(lab.ok(&["note", "delete", &note_id]).contains("Deleted note"));
    assert!(lab.ok(&["note", "list", &number]).contains("No notes"));

    let photo = lab.data().join("shade.png");
    std::fs::write(&photo, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0").unwrap();
    let scan = stl(lab.data(), "lower.stl", "lower");
    let posted = lab.json(&["chat", "post", &number, "see these", "--attach", photo.to_str().unwrap(), &scan]);
    assert_eq!(posted["attachments"].as_array().unwrap().len(), 2, "the message carries both files: {posted}");
    let listing = lab.ok(&["files", &number]);
    assert!(listing.contains("shade.png") && listing.contains("lower.stl") && listing.contains("here"), "{listing}");
    assert!(listing.contains("2 files"), "{listing}");
    let files = lab.json(&["files", &number]);
    assert_eq!(files[0]["contents_here"], true, "{files}");
    let scan_id = files[1]["id"].as_str().unwrap().to_owned();
    assert!(listing.contains(&scan_id.replace('-', "")[24..]), "the listing shows each file's short id: {listing}");

    let out_dir = tempfile::tempdir().unwrap();
    let to = out_dir.path().to_str().unwrap();
    assert!(lab.ok(&["file", "save", &scan_id, "--to", to]).contains("lower.stl"));
    assert_eq!(std::fs::read_to_string(out_dir.path().join("lower.stl")).unwrap(), "solid lower\nendsolid lower\n");
    assert!(lab.fails(&["file", "save", &scan_id, "--to", to]).contains("already exists"), "never overwritten");

    let scan_short = scan_id.replace('-', "")[24..].to_owned();
    assert!(lab.ok(&["file", "remove", &scan_short]).contains("Removed lower.stl"), "a short id finds the file");
    assert_eq!(lab.json(&["files", &number]).as_array().unwrap().len(), 1, "the removed file leaves the list");
    assert!(lab.ok(&["check"]).contains("problems:   none"), "the store stays sound");
}

#[test]
fn search_finds_stage_notes_and_file_names() {
    let lab = Lab::new();
    let number = lab.create(&["--patient", "P"]);
    lab.ok(&["stage", &number, "design", "notes", "vita shade requested"]);
    lab.ok(&["attach", &number, &stl(lab.data(), "Trios-upper.stl", "u")]);
    let vita = lab.ok(&["search", "vita"]);
    assert!(vita.contains(&number) && vita.contains("stage note"), "{vita}");
    let trios = lab.ok(&["search", "trios"]);
    assert!(trios.contains(&number) && trios.contains("file"), "{trios}");
}
