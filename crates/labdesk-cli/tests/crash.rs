//! The crash test: `labdesk import` is killed (SIGKILL, no chance to clean up) at different points,
//! round after round, on the same data folder. After every kill the store must be sound, and every
//! case in it whole: a case and its meta, note and chat go in one transaction, so none is ever
//! half there.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use labdesk_core::{CaseQuery, CaseSort, OpenOptions, Store};
use serde_json::{json, Value};

/// Lines in the import file; each is one case.
const CASES: usize = 4000;
/// Cases per import transaction.
const BATCH: usize = 50;

fn meta_of(i: usize) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("lot".to_owned(), format!("L{i:05}")),
        ("patient_age".to_owned(), (18 + i % 70).to_string()),
        ("shade".to_owned(), format!("A{}", 1 + i % 4)),
    ])
}

fn note_of(i: usize) -> String {
    format!("Imported from the old system, line {}", i + 1)
}

fn chat_of(i: usize) -> Vec<String> {
    (0..5 + i % 6).map(|j| format!("message {j} on case {i}: please check the margin")).collect()
}

fn patient_of(i: usize) -> String {
    format!("Crash Patient {i:05}")
}

/// The line number of a case, read back from its patient name.
fn index_of(patient: &str) -> usize {
    patient.strip_prefix("Crash Patient ").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{patient}"))
}

/// Deterministic JSON Lines: every case has 3 meta values, a note and 5 to 10 messages. Case
/// numbers are left for the store to mint, so every round's cases are new cases.
fn write_import_file(path: &Path) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..CASES {
        let chat: Vec<Value> = chat_of(i).into_iter().map(|text| json!({"message_content": text})).collect();
        let (status, priority) = (["received", "designing", "milling"][i % 3], ["low", "medium", "rush"][i % 3]);
        let line = json!({
            "patient_name": patient_of(i),
            "status": status,
            "priority": priority,
            "due_date": format!("2027-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
            "order_note": format!("Order {i}"),
            "meta": meta_of(i),
            "notes": [note_of(i)],
            "chat": chat,
        });
        writeln!(file, "{line}").unwrap();
    }
    file.flush().unwrap();
}

fn labdesk(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_labdesk"));
    cmd.arg("--data")
        .arg(data)
        .args(["--user", "importer", "--workstation", "FD1"])
        .env_remove("LABDESK_DATA")
        .env_remove("LABDESK_USER")
        .env_remove("LABDESK_WORKSTATION")
        .env_remove("RUST_LOG");
    cmd
}

#[derive(Debug, Clone, Copy)]
enum Kill {
    /// SIGKILL right after the k-th progress line (so k batches are known to be committed).
    AfterProgress(usize),
    /// SIGKILL after a fixed time, whatever the import is doing.
    AfterMillis(u64),
    /// Let the import run to its end.
    Never,
}

/// "imported 500 cases (5500 records)" → 500.
fn progress_count(line: &str) -> Option<usize> {
    line.strip_prefix("imported ")?.split_whitespace().next()?.parse().ok()
}

/// Runs one import round; returns how it ended and the last case count it reported as stored.
fn import_round(data: &Path, file: &Path, kill: Kill) -> (ExitStatus, usize) {
    let mut child: Child = labdesk(data)
        .args(["import", file.to_str().unwrap(), "--batch", &BATCH.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut reported = 0;
    let mut seen = 0;
    let mut line = String::new();
    match kill {
        Kill::AfterProgress(k) => {
            while seen < k && stderr.read_line(&mut line).unwrap() > 0 {
                if let Some(n) = progress_count(line.trim()) {
                    reported = n;
                    seen += 1;
                }
                line.clear();
            }
            child.kill().unwrap();
        }
        Kill::AfterMillis(ms) => {
            std::thread::sleep(Duration::from_millis(ms));
            child.kill().unwrap();
        }
        Kill::Never => {}
    }
    // Whatever was reported before the process died counts too.
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    for l in rest.lines() {
        if let Some(n) = progress_count(l) {
            reported = reported.max(n);
        } else if !l.trim().is_empty() && !l.starts_with("note: ") {
            panic!("unexpected output on stderr from the import ({kill:?}): {l}");
        }
    }
    (child.wait().unwrap(), reported)
}

/// `labdesk check` (full, with SQLite's integrity check) must pass and show every change still
/// waiting in the outbox. Returns the report.
fn check_store(data: &Path, round: &str) -> Value {
    let out = labdesk(data).args(["--json", "check"]).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{round}: check --json must print JSON ({e}): {}", String::from_utf8_lossy(&out.stderr))
    });
    assert_eq!(out.status.code(), Some(0), "{round}: the store must be sound after the kill: {report}");
    assert_eq!(report["integrity"], "ok", "{round}: SQLite's integrity check must pass: {report}");
    assert_eq!(report["problems"], json!([]), "{round}: no broken rule: {report}");
    assert_eq!(
        report["outbox"], report["revisions"],
        "{round}: nothing was synced, so every revision must still wait in the outbox: {report}"
    );
    report
}

/// Reads every case back through the core and checks it is whole. Returns the case count and
/// the count of records (cases, meta values, notes, messages) they should make up.
fn verify_cases(data: &Path, round: &str) -> (usize, u64) {
    let store =
        Store::open(data, OpenOptions { workstation: Some("FD1".into()), user: Some("verifier".into()) }).unwrap();
    let mut query = CaseQuery { sort: CaseSort::CaseNumber, limit: 500, ..CaseQuery::default() };
    let mut cases = 0;
    let mut records = 0u64;
    loop {
        let page = store.list_cases(&query).unwrap();
        for case in &page.cases {
            let i = index_of(&case.patient_name);
            let key = case.id.to_string();
            let meta: BTreeMap<String, String> =
                store.meta(&key).unwrap().into_iter().map(|m| (m.record.key, m.record.value)).collect();
            assert_eq!(meta, meta_of(i), "{round}: case {} must have all its meta values", case.case_number);
            let notes: Vec<String> = store.notes(&key).unwrap().into_iter().map(|n| n.record.body).collect();
            assert_eq!(notes, [note_of(i)], "{round}: case {} must have its note", case.case_number);
            let chat: Vec<String> =
                store.messages(&key).unwrap().into_iter().map(|m| m.message.record.message_content).collect();
            assert_eq!(chat, chat_of(i), "{round}: case {} must have all its messages, in order", case.case_number);
            records += 1 + 3 + 1 + chat.len() as u64;
        }
        cases += page.cases.len();
        if page.cases.len() < 500 {
            break;
        }
        query.offset += 500;
    }
    assert_eq!(cases as u64, store.list_cases(&CaseQuery::default()).unwrap().total, "{round}: every case was read");
    assert_eq!(
        store.pending_count().unwrap(),
        records,
        "{round}: one revision per record, all of them pending in the outbox"
    );
    (cases, records)
}

#[test]
fn an_import_killed_at_any_point_leaves_a_sound_store_with_only_whole_cases() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("cases.jsonl");
    write_import_file(&file);
    let data = work.path().join("data");
    assert!(labdesk(&data).arg("init").stdout(Stdio::null()).status().unwrap().success(), "the store is set up");

    let rounds =
        [Kill::AfterProgress(2), Kill::AfterMillis(150), Kill::AfterProgress(9), Kill::AfterProgress(23), Kill::Never];
    let mut cases_before = 0;
    for (n, kill) in rounds.into_iter().enumerate() {
        let round = format!("round {} ({kill:?})", n + 1);
        let (status, reported) = import_round(&data, &file, kill);
        match kill {
            Kill::Never => assert!(status.success(), "{round}: an import left alone finishes: {status}"),
            _ => assert!(!status.success(), "{round}: the import must have been killed before it finished"),
        }
        if let Kill::AfterProgress(k) = kill {
            assert_eq!(reported, k * BATCH, "{round}: progress counts the cases stored so far");
        }

        let report = check_store(&data, &round);
        let (cases, records) = verify_cases(&data, &round);
        assert_eq!(report["records"].as_u64(), Some(records), "{round}: no record outside a whole case: {report}");
        let added = cases - cases_before;
        assert!(
            added >= reported,
            "{round}: every batch reported as imported survives the kill ({added} < {reported})"
        );
        assert_eq!(added % BATCH, 0, "{round}: a batch is stored whole or not at all ({added} cases added)");
        if let Kill::Never = kill {
            assert_eq!(added, CASES, "{round}: a finished import stores every line");
        }
        cases_before = cases;
    }
    assert!(started.elapsed() < Duration::from_secs(120), "the crash test took {:?}", started.elapsed());
}

#[test]
fn a_store_killed_while_it_is_being_set_up_opens_again() {
    // The kill lands at a different point of the first open each time: creating the file,
    // migrating the schema, recording the workstation.
    for attempt in 0..24u64 {
        let dir = tempfile::tempdir().unwrap();
        let mut child = labdesk(dir.path()).arg("init").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(500 * attempt));
        child.kill().ok();
        child.wait().unwrap();
        if !dir.path().join(labdesk_core::STORE_FILE).exists() {
            // Killed before the file was made: nothing was set up, and `init` is run again.
            assert!(labdesk(dir.path()).arg("init").stdout(Stdio::null()).status().unwrap().success());
        }
        let out = labdesk(dir.path()).args(["check", "--quick"]).output().unwrap();
        assert!(
            out.status.success(),
            "attempt {attempt}: a store killed during set-up must open and check clean:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
