//! `labdesk records KIND ...` as lab IT and scripts use it: the real binary on a fresh data folder
//! per test, as workstation FD1, with lab settings (the first kind with no typed code) and the
//! kinds that have commands of their own.
#![allow(clippy::unwrap_used)]

use serde_json::Value;

mod support;

use support::{text, Lab};

/// What these tests add to the harness.
impl Lab {
    /// Runs a command with `--json` that must fail; returns the error object it printed on stderr.
    fn json_error(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert_eq!(out.status.code(), Some(1), "`labdesk {}` should fail: {}", all.join(" "), text(&out.stdout));
        serde_json::from_slice(&out.stderr)
            .unwrap_or_else(|e| panic!("with --json an error is JSON too ({e}): {}", text(&out.stderr)))
    }

    /// Makes a lab setting from `pairs`; returns its short id (as lists show it).
    fn setting(&self, pairs: &[&str]) -> String {
        let mut all = vec!["records", "setting", "create"];
        all.extend_from_slice(pairs);
        let written = self.json(&all);
        short(written["record"]["id"].as_str().unwrap())
    }

    fn settings(&self, extra: &[&str]) -> Vec<Value> {
        let mut all = vec!["records", "setting", "list"];
        all.extend_from_slice(extra);
        self.json(&all).as_array().unwrap().clone()
    }
}

/// A UUID's short id: its last 8 hex digits.
fn short(id: &str) -> String {
    id.replace('-', "")[24..].to_owned()
}

#[test]
fn a_lab_setting_is_made_listed_shown_edited_deleted_restored_and_its_history_read() {
    let lab = Lab::new();
    let made = lab.ok(&["records", "setting", "create", "key=opening_hours", "value=8-17"]);
    let id = short(lab.settings(&[])[0]["id"].as_str().unwrap());
    assert_eq!(made.trim(), format!("Made lab setting opening_hours ({id})."), "it names what it made and its id");

    let list = lab.ok(&["records", "setting", "list"]);
    let header = list.lines().next().unwrap();
    for column in ["KEY", "VALUE", "DESCRIPTION", "ID", "UPDATED (UTC)", "BY"] {
        assert!(header.contains(column), "the list has a {column} column: {list}");
    }
    let row = list.lines().find(|l| l.contains("opening_hours")).unwrap();
    assert!(row.contains("8-17") && row.contains(&id) && row.ends_with("ann"), "value, short id and who: {list}");
    assert!(list.contains("1 lab setting, the most recently changed first."), "the count: {list}");
    assert_eq!(lab.ok(&["records", "setting"]), list, "a kind with no command lists it");

    let shown = lab.ok(&["records", "setting", "show", &id]);
    assert!(shown.starts_with(&format!("Lab setting opening_hours ({id})\n")), "{shown}");
    assert!(shown.contains("Setting (key):") && shown.contains("opening_hours"), "each field with its label: {shown}");
    assert!(shown.contains("What it is for (description):"), "even an empty one: {shown}");
    assert!(shown.contains("Version:  1") && shown.contains("by ann") && shown.contains("Deleted:  no"), "{shown}");

    let edited = lab.ok(&["records", "setting", "edit", &id, "value=7-18", "description=When the bench is staffed"]);
    assert!(edited.starts_with(&format!("Changed lab setting opening_hours ({id}), now version 2:")), "{edited}");
    assert!(edited.contains("value: 8-17 → 7-18"), "what changed, before and after: {edited}");
    assert!(edited.contains("description: (none) → When the bench is staffed"), "{edited}");

    let deleted = lab.ok(&["records", "setting", "delete", &id]);
    assert!(
        deleted.starts_with(&format!("Deleted lab setting opening_hours ({id}): it stays in history")),
        "{deleted}"
    );
    assert!(deleted.contains(&format!("`labdesk records setting restore {id}` brings it back")), "{deleted}");
    let list = lab.ok(&["records", "setting", "list"]);
    assert!(list.contains("the ones there were are deleted (see them with --deleted)"), "{list}");
    let with_deleted = lab.ok(&["records", "setting", "list", "--deleted"]);
    assert!(with_deleted.contains("DELETED (UTC)") && with_deleted.contains("opening_hours"), "{with_deleted}");
    let shown = lab.ok(&["records", "setting", "show", &id]);
    assert!(shown.contains("DELETED on") && shown.contains("Deleted:  yes"), "a deleted one says so: {shown}");

    let restored = lab.ok(&["records", "setting", "restore", &id]);
    assert_eq!(restored.trim(), format!("Restored lab setting opening_hours ({id}), now version 4."));
    assert_eq!(lab.settings(&[])[0]["value"], "7-18", "a restore brings it back as it was");

    let history = lab.ok(&["records", "setting", "history", &id]);
    assert!(
        history.starts_with(&format!("History of lab setting opening_hours [{id}] (4 changes), times in UTC:")),
        "the history command's own output: {history}"
    );
    for line in ["ann@FD1  created", "value: 8-17 → 7-18", "ann@FD1  deleted", "ann@FD1  restored"] {
        assert!(history.contains(line), "history shows {line:?}: {history}");
    }
    assert_eq!(lab.ok(&["history", &id]), history, "the general history command reads a setting the same way");
    lab.ok(&["check"]);
}

#[test]
fn every_records_command_prints_json_for_scripts() {
    let lab = Lab::new();
    let made = lab.json(&["records", "setting", "create", "key=tax_rate", "value=8", "description=VAT, percent"]);
    assert_eq!(made["record"]["key"], "tax_rate", "the record, flat: bookkeeping then the fields: {made}");
    assert_eq!(made["record"]["version"], 1);
    assert_eq!(made["revision"]["record_kind"], "setting", "and the revision made: {made}");
    let id = made["record"]["id"].as_str().unwrap().to_owned();

    let list = lab.json(&["records", "setting", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["description"], "VAT, percent");
    let shown = lab.json(&["records", "setting", "show", &short(&id)]);
    assert_eq!(shown, list[0], "show and list print the same record");

    let edited = lab.json(&["records", "setting", "edit", &id, "value=9", "--base-version", "1"]);
    assert_eq!(edited["record"]["value"], "9");
    assert_eq!(edited["revision"]["fields"], serde_json::json!({"value": "9"}), "only what changed: {edited}");
    let untouched = lab.json(&["records", "setting", "edit", &id, "value=9"]);
    assert_eq!(untouched["revision"], Value::Null, "no change, no revision: {untouched}");
    assert_eq!(untouched["record"]["version"], 2);

    let deleted = lab.json(&["records", "setting", "delete", &id]);
    assert!(deleted["record"]["deleted_at"].is_string(), "{deleted}");
    let restored = lab.json(&["records", "setting", "restore", &id]);
    assert_eq!(restored["record"]["deleted_at"], Value::Null, "{restored}");
    assert_eq!(restored["record"]["version"], 4);

    let history = lab.json(&["records", "setting", "history", &id]);
    let versions: Vec<u64> = history.as_array().unwrap().iter().map(|e| e["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, [1, 2, 3, 4], "every revision, oldest first: {history}");
    assert_eq!(history[0]["label"], "tax_rate", "each names the record: {history}");

    let kinds = lab.json(&["records"]);
    let setting = kinds.as_array().unwrap().iter().find(|k| k["name"] == "setting").unwrap();
    assert_eq!(setting["plural"], "lab settings");
    let key = setting["fields"].as_array().unwrap().iter().find(|f| f["name"] == "key").unwrap();
    assert_eq!((key["required"].clone(), key["fixed"].clone()), (Value::Bool(true), Value::Bool(true)), "{key}");
}

#[test]
fn records_without_a_kind_lists_every_kind_and_says_which_have_their_own_commands() {
    let lab = Lab::new();
    let out = lab.ok(&["records"]);
    let header = out.lines().next().unwrap();
    assert!(header.starts_with("KIND") && header.contains("SCOPE"), "{out}");
    let setting = out.lines().find(|l| l.starts_with("setting ")).unwrap();
    assert!(setting.contains("lab settings") && setting.contains(" lab "), "what it is and its scope: {out}");
    assert!(setting.contains("labdesk records setting create"), "a declared kind is changed here: {out}");
    let case = out.lines().find(|l| l.starts_with("case ")).unwrap();
    assert!(case.contains("its own commands"), "a hand-made kind is changed with its own: {out}");
    for kind in ["case_meta", "chat_message", "file", "workflow_stage", "case_note"] {
        assert!(out.lines().any(|l| l.starts_with(&format!("{kind} "))), "every kind is listed ({kind}): {out}");
    }
}

#[test]
fn an_unknown_kind_is_refused_with_the_kinds_there_are() {
    let lab = Lab::new();
    let out = lab.run(&["records", "invoice", "list"]);
    assert_eq!(out.status.code(), Some(2), "a kind is parsed with the arguments: a usage error");
    let err = text(&out.stderr);
    assert!(err.contains("'invoice' is not a kind of record; the kinds are: case, case_meta"), "{err}");
    assert!(err.contains("setting") && !err.contains("panicked"), "{err}");

    let err = lab.fails(&["records", "list"]);
    assert!(err.contains("say which kind of record first"), "a command with no kind says what is missing: {err}");
    assert!(err.contains("setting"), "and lists the kinds: {err}");

    assert!(lab.ok(&["records", "settings"]).contains("No lab settings yet"), "the plural is taken too");
}

#[test]
fn a_kind_with_its_own_commands_is_read_here_but_writing_it_is_refused_with_the_reason() {
    let lab = Lab::new();
    lab.ok(&["create", "--patient", "Ada Lovelace"]);
    let list = lab.ok(&["records", "case", "list", "--search", "lovelace"]);
    assert!(list.contains("FD1-000001") && list.contains("Ada Lovelace"), "every kind can be listed: {list}");
    assert!(
        list.contains("more fields in `labdesk records case show ID`"),
        "a wide kind says what it left out: {list}"
    );
    let cases = lab.json(&["records", "case", "list"]);
    assert!(cases[0].get("secret_key").is_none(), "a hidden field is never printed, not even as JSON: {cases}");
    let id = short(cases[0]["id"].as_str().unwrap());
    let shown = lab.ok(&["records", "case", "show", &id]);
    assert!(shown.starts_with(&format!("Case FD1-000001 ({id})")) && !shown.contains("secret_key"), "{shown}");

    for args in [
        vec!["records", "case", "create", "patient_name=Bo"],
        vec!["records", "case", "edit", &id, "patient_name=Bo"],
        vec!["records", "case", "delete", &id],
    ] {
        let err = lab.fails(&args);
        assert!(err.contains("cases are changed with their own commands"), "the core's reason: {err}");
    }
    assert_eq!(lab.json(&["records", "case", "list"]).as_array().map(Vec::len), Some(1), "nothing was made");
    assert_eq!(lab.json(&["show", "FD1-000001"])["case"]["patient_name"], "Ada Lovelace", "nothing was changed");

    let err = lab.fails(&["records", "setting", "show", &id]);
    assert!(err.contains(&format!("no lab setting matches '{id}'")), "a record of another kind is not found: {err}");
}

#[test]
fn bad_fields_are_refused_together_each_named_and_nothing_is_stored() {
    let lab = Lab::new();
    let long = format!("key={}", "k".repeat(101));
    let err = lab.fails(&["records", "setting", "create", &long, "description=two\nlines", "colour=red"]);
    assert!(err.starts_with("error: the lab setting was not saved:"), "{err}");
    assert!(err.contains("\n  colour: is not a field; the fields are: key, value, description"), "{err}");

    let err = lab.fails(&["records", "setting", "create", &long, "description=two\nlines"]);
    assert!(err.contains("\n  key: is longer than 100 characters"), "the core's problems, each on a line: {err}");
    assert!(err.contains("\n  description: must be one line"), "every bad field at once: {err}");

    let err = lab.fails(&["records", "setting", "create", "value=8-17"]);
    assert!(err.contains("key: is required"), "{err}");
    let err = lab.fails(&["records", "setting", "create", "key=a", "value=1", "value=2"]);
    assert!(err.contains("value: is given twice"), "a field given twice is not a guess at which one: {err}");

    let body = lab.json_error(&["records", "setting", "create", "value=8-17", "colour=red"]);
    let fields: Vec<&str> = body["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["colour"], "the CLI's own problems come first, before the core is asked: {body}");
    let body = lab.json_error(&["records", "setting", "create", "value=8-17"]);
    assert_eq!(body["fields"][0]["field"], "key", "a script reads which field: {body}");
    assert_eq!(body["fields"][0]["problem"], "is required");

    let out = lab.run(&["records", "setting", "create", "opening_hours"]);
    assert_eq!(out.status.code(), Some(2), "a pair with no = is a usage error");
    assert!(text(&out.stderr).contains("is not FIELD=VALUE"), "{}", text(&out.stderr));
    assert!(lab.settings(&["--deleted"]).is_empty(), "nothing refused was stored");
}

#[test]
fn a_second_live_setting_with_the_same_key_is_refused_and_names_the_first() {
    let lab = Lab::new();
    let first = lab.setting(&["key=tax_rate", "value=8"]);
    let err = lab.fails(&["records", "setting", "create", "key=tax_rate", "value=9"]);
    assert!(
        err.contains(&format!("key: the lab setting tax_rate exists already ({first}): change that one instead")),
        "it sends the person to the one there is: {err}"
    );
    lab.ok(&["records", "setting", "delete", &first]);
    let second = lab.setting(&["key=tax_rate", "value=9"]);
    assert_ne!(second, first, "a deleted setting's key is free again");
    let live = lab.settings(&[]);
    assert_eq!((live.len(), live[0]["value"].as_str()), (1, Some("9")), "one live tax_rate, the new one");
}

#[test]
fn the_key_of_a_setting_is_fixed_at_creation_and_unknown_fields_cannot_be_edited() {
    let lab = Lab::new();
    let id = lab.setting(&["key=opening_hours", "value=8-17"]);
    let err = lab.fails(&["records", "setting", "edit", &id, "key=closing_hours", "colour=red"]);
    assert!(err.contains("\n  key: is set when the record is created and cannot be changed"), "{err}");
    assert!(err.contains("\n  colour: is not a field; the fields are: value, description"), "the editable ones: {err}");
    assert_eq!(lab.settings(&[])[0]["key"], "opening_hours", "nothing changed");
    let out = lab.run(&["records", "setting", "edit", &id]);
    assert_eq!(out.status.code(), Some(2), "an edit needs a field to change");
}

#[test]
fn an_untouched_edit_a_repeated_delete_and_a_restore_of_a_live_one_say_nothing_changed() {
    let lab = Lab::new();
    let id = lab.setting(&["key=opening_hours", "value=8-17"]);
    let out = lab.ok(&["records", "setting", "edit", &id, "value=8-17"]);
    assert_eq!(out.trim(), format!("Nothing changed: lab setting opening_hours ({id}) already had those values."));
    let out = lab.ok(&["records", "setting", "restore", &id]);
    assert_eq!(out.trim(), format!("Nothing changed: lab setting opening_hours ({id}) is not deleted."));
    lab.ok(&["records", "setting", "delete", &id]);
    let out = lab.ok(&["records", "setting", "delete", &id]);
    assert_eq!(out.trim(), format!("Nothing changed: lab setting opening_hours ({id}) was already deleted."));
    let history = lab.json(&["records", "setting", "history", &id]);
    assert_eq!(history.as_array().map(Vec::len), Some(2), "only the creation and the delete are revisions");
    let err = lab.fails(&["records", "setting", "edit", &id, "value=9"]);
    assert!(err.contains("is deleted; it can be viewed but not changed"), "{err}");
}

#[test]
fn an_edit_on_a_version_that_is_no_longer_current_is_refused() {
    let lab = Lab::new();
    let id = lab.setting(&["key=opening_hours", "value=8-17"]);
    lab.ok_as("bob", &["records", "setting", "edit", &id, "value=9-17"]);
    let err = lab.fails(&["records", "setting", "edit", &id, "value=7-18", "--base-version", "1"]);
    assert!(err.contains("you edited version 1, it is now at version 2"), "a change made meanwhile is not lost: {err}");
    let shown = lab.json(&["records", "setting", "show", &id]);
    assert_eq!((shown["value"].as_str(), shown["updated_by"].as_str()), (Some("9-17"), Some("bob")));
}

#[test]
fn a_list_is_filtered_by_words_by_fields_and_by_deletion_and_an_empty_one_says_how_to_make_one() {
    let lab = Lab::new();
    let empty = lab.ok(&["records", "setting", "list"]);
    assert_eq!(
        empty.trim(),
        "No lab settings yet. Make one with: labdesk records setting create key=VALUE [value=VALUE] [description=VALUE]"
    );
    lab.setting(&["key=opening_hours", "value=8-17", "description=When the bench is staffed"]);
    lab.setting(&["key=invoice_footer", "value=Thank you"]);
    let old = lab.setting(&["key=fax_number", "value=none"]);
    lab.ok(&["records", "setting", "delete", &old]);

    let keys = |extra: &[&str]| -> Vec<String> {
        lab.settings(extra).iter().map(|s| s["key"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(keys(&[]), ["invoice_footer", "opening_hours"], "live ones, the most recently changed first");
    assert_eq!(keys(&["--search", "BENCH"]), ["opening_hours"], "words in any shown text field, any case");
    assert_eq!(keys(&["--where", "key=invoice_footer"]), ["invoice_footer"]);
    assert_eq!(keys(&["--deleted"]).len(), 3);
    assert_eq!(keys(&["--limit", "1"]), ["invoice_footer"]);
    let cut = lab.ok(&["records", "setting", "list", "--limit", "1"]);
    assert!(cut.contains("there may be more: see them with --limit"), "{cut}");
    let none = lab.ok(&["records", "setting", "list", "--search", "nobody"]);
    assert_eq!(none.trim(), "No lab settings match (add --deleted to look among deleted ones too).");
    let err = lab.fails(&["records", "setting", "list", "--where", "colour=red"]);
    assert!(err.contains("lab settings have no field colour; their fields are: key, value, description"), "{err}");
}

#[test]
fn a_long_value_is_cut_in_the_list_and_shown_whole_line_by_line() {
    let lab = Lab::new();
    let long = format!("value={}\nsecond line", "x".repeat(80));
    let id = lab.setting(&["key=invoice_footer", &long]);
    let list = lab.ok(&["records", "setting", "list"]);
    let row = list.lines().find(|l| l.contains("invoice_footer")).unwrap();
    assert!(row.contains('…') && !row.contains("second line"), "a long value is cut to one line: {list}");
    let shown = lab.ok(&["records", "setting", "show", &id]);
    assert!(shown.contains(&"x".repeat(80)), "show has all of it: {shown}");
    let second = shown.lines().find(|l| l.trim() == "second line");
    assert!(second.is_some_and(|l| l.starts_with("    ")), "a further line stays under the field: {shown}");
}
