//! `labdesk login`, `sync`, `conflicts`, `resolve` and `rejected` as lab IT uses them: the real
//! binary against a small central store served over HTTP on the loopback address (the central
//! store's rules in a few lines, with the same three-way merge), and against no server at all.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use labdesk_proto::merge::{apply, merge};
use labdesk_proto::sync::{CentralRevision, Outcome, PullPage, PushRequest, PushResponse, PushResult};
use labdesk_proto::{Origin, Revision};
use serde_json::{json, Map, Value};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `labdesk` on the data folder `data` as workstation `ws`; a folder with no store yet is
/// set up first, as lab IT does with `labdesk init`.
fn labdesk(data: &Path, ws: &str, args: &[&str]) -> Output {
    if args.first() != Some(&"init") && !data.join(labdesk_core::STORE_FILE).exists() {
        let out = run(data, ws, &["init"]);
        assert!(out.status.success(), "`labdesk init` sets up {ws}: {}", text(&out.stderr));
    }
    run(data, ws, args)
}

fn run(data: &Path, ws: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labdesk"))
        .arg("--data")
        .arg(data)
        .args(["--user", &ws.to_lowercase(), "--workstation", ws])
        .args(args)
        .env_remove("LABDESK_DATA")
        .env_remove("LABDESK_USER")
        .env_remove("LABDESK_WORKSTATION")
        .env_remove("LABDESK_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn ok(data: &Path, ws: &str, args: &[&str]) -> String {
    let out = labdesk(data, ws, args);
    assert!(
        out.status.success(),
        "`labdesk {}` should succeed\nstdout: {}\nstderr: {}",
        args.join(" "),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs a command that must fail with exit status 1; returns its standard error.
fn fails(data: &Path, ws: &str, args: &[&str]) -> String {
    let out = labdesk(data, ws, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "`labdesk {}` should exit 1\nstdout: {}\nstderr: {}",
        args.join(" "),
        text(&out.stdout),
        text(&out.stderr)
    );
    let stderr: String =
        text(&out.stderr).lines().filter(|l| !l.starts_with("note: ")).map(|l| format!("{l}\n")).collect();
    assert!(stderr.starts_with("error: "), "errors start with 'error: ': {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn json_of(data: &Path, ws: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(data, ws, &all)).unwrap()
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// ----- a small central store over HTTP -----

#[derive(Default)]
struct Central {
    accepted: Vec<CentralRevision>,
    chains: HashMap<uuid::Uuid, Vec<usize>>,
    rejected: HashMap<uuid::Uuid, String>,
}

impl Central {
    fn fold(&self, upto: &[usize]) -> Map<String, Value> {
        let mut state = Map::new();
        for &i in upto {
            apply(&mut state, &self.accepted[i].revision.fields);
        }
        state
    }

    fn take(&mut self, sent: &Revision) -> PushResult {
        let answer = |outcome, version, reason: Option<String>, conflicts| PushResult {
            revision_id: sent.id,
            outcome,
            version,
            reason,
            conflicts,
        };
        if let Some(reason) = self.rejected.get(&sent.id) {
            return answer(Outcome::Rejected, None, Some(reason.clone()), vec![]);
        }
        if let Some(c) = self.accepted.iter().find(|c| c.revision.id == sent.id) {
            return answer(c.outcome, Some(c.revision.version), None, c.conflicts.clone());
        }
        let text = sent.fields.get("message_content").and_then(Value::as_str).unwrap_or("");
        if sent.record_kind == labdesk_proto::RecordKind::ChatMessage && text.contains("http://") {
            let reason = "this lab takes no links in chat".to_owned();
            self.rejected.insert(sent.id, reason.clone());
            return answer(Outcome::Rejected, None, Some(reason), vec![]);
        }
        if sent.fields.get("status") == Some(&json!("invoiced")) {
            let reason = "a technician may not mark a case invoiced".to_owned();
            self.rejected.insert(sent.id, reason.clone());
            return answer(Outcome::Rejected, None, Some(reason), vec![]);
        }
        let chain = self.chains.get(&sent.record_id).cloned().unwrap_or_default();
        let head = chain.last().map(|&i| self.accepted[i].revision.id);
        let (outcome, fields, conflicts) =
            if (chain.is_empty() && sent.parent.is_none()) || (sent.parent.is_some() && sent.parent == head) {
                (Outcome::Applied, sent.fields.clone(), vec![])
            } else {
                let upto = sent
                    .parent
                    .and_then(|p| chain.iter().position(|&i| self.accepted[i].revision.id == p))
                    .map_or(0, |p| p + 1);
                let m = merge(sent.record_kind, &self.fold(&chain[..upto]), &self.fold(&chain), &sent.fields);
                (if m.conflicts.is_empty() { Outcome::Merged } else { Outcome::Conflicted }, m.effective, m.conflicts)
            };
        let version = chain.len() as u32 + 1;
        let revision = Revision { version, fields, origin: Origin::Central, superseded_by: None, ..sent.clone() };
        let proposed = (revision.fields != sent.fields).then(|| sent.fields.clone());
        self.accepted.push(CentralRevision {
            seq: self.accepted.len() as i64 + 1,
            revision,
            outcome,
            conflicts: conflicts.clone(),
            proposed,
        });
        self.chains.entry(sent.record_id).or_default().push(self.accepted.len() - 1);
        answer(outcome, Some(version), None, conflicts)
    }
}

fn respond(mut stream: TcpStream, status: &str, body: &str) {
    // A server of this release names the kinds it keeps (LabDesk-Kinds): every one, lab settings
    // too; a workstation sends a server that names none only the first release's kinds.
    let kinds: Vec<&str> = labdesk_proto::RecordKind::ALL.iter().map(|k| k.as_str()).collect();
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nLabDesk-Kinds: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len(),
        kinds.join(",")
    );
    let _ = stream.write_all(answer.as_bytes());
}

/// Workstations FD1 and FD2, each in a data folder of its own, signed in to one fake server.
/// The folders live as long as the first item.
fn two_workstations() -> ((tempfile::TempDir, tempfile::TempDir), std::path::PathBuf, std::path::PathBuf) {
    let url = serve("tok");
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (dirs.0.path().to_path_buf(), dirs.1.path().to_path_buf());
    ok(&a, "FD1", &["login", "--server", &url, "--token", "tok"]);
    ok(&b, "FD2", &["login", "--server", &url, "--token", "tok"]);
    (dirs, a, b)
}

/// Serves the central store until the test ends; every request must carry `token`.
fn serve(token: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let central = Arc::new(Mutex::new(Central::default()));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let central = central.clone();
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let (mut length, mut authorized, mut protocol) = (0usize, false, false);
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                authorized |= lower.trim() == format!("authorization: bearer {token}");
                protocol |= lower.trim() == "labdesk-protocol: 1";
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let stream = reader.into_inner();
            if !protocol {
                respond(
                    stream,
                    "426 Upgrade Required",
                    r#"{"error":"say which protocol you speak","code":"protocol_too_old"}"#,
                );
                continue;
            }
            if !authorized {
                respond(
                    stream,
                    "401 Unauthorized",
                    r#"{"error":"this token is not known here","code":"unauthenticated"}"#,
                );
                continue;
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut central = central.lock().unwrap();
            if path.starts_with("/v1/push") {
                let request: PushRequest = serde_json::from_slice(&body).unwrap();
                let results = request.revisions.iter().map(|r| central.take(r)).collect();
                respond(stream, "200 OK", &serde_json::to_string(&PushResponse { results }).unwrap());
            } else if path.starts_with("/v1/pull") {
                let query: HashMap<&str, i64> = path
                    .split_once('?')
                    .map(|(_, q)| {
                        q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k, v.parse().unwrap())).collect()
                    })
                    .unwrap_or_default();
                let after = query.get("after").copied().unwrap_or(0) as usize;
                let limit = query.get("limit").copied().unwrap_or(1000) as usize;
                let revisions: Vec<CentralRevision> =
                    central.accepted.iter().skip(after).take(limit).cloned().collect();
                let next = (after + revisions.len()) as i64;
                let remaining = central.accepted.len() as u64 - next as u64;
                let page =
                    PullPage { revisions, next, more: remaining > 0, head: central.accepted.len() as i64, remaining };
                respond(stream, "200 OK", &serde_json::to_string(&page).unwrap());
            } else {
                respond(stream, "404 Not Found", r#"{"error":"no such path","code":"bad_request"}"#);
            }
        }
    });
    url
}

// ----- tests -----

#[test]
fn login_keeps_the_server_in_the_store_and_the_token_in_a_file_only_its_owner_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), "FD1", &["login", "--server", "https://sync.lab.example", "--token", "s3cret-token"]);
    assert!(out.contains("Signed in workstation FD1 to https://sync.lab.example/"), "{out}");
    assert!(!out.contains("s3cret-token"), "the token is never printed: {out}");
    let file = dir.path().join("credentials");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), "s3cret-token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "private to its owner");
    }
    let err = fails(dir.path(), "FD1", &["login", "--server", "sync.lab.example", "--token", "x"]);
    assert!(err.contains("is not a server address"), "{err}");
}

#[test]
fn sync_before_login_exits_1_and_says_how_to_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), "FD1", &["create", "--patient", "Ada"]);
    let err = fails(dir.path(), "FD1", &["sync"]);
    assert!(err.contains("labdesk login --server URL --token TOKEN"), "{err}");
    assert!(err.contains("1 change waits in the outbox"), "{err}");
}

#[test]
fn sync_with_the_server_away_exits_1_says_so_plainly_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), "FD1", &["create", "--patient", "Ada"]);
    ok(dir.path(), "FD1", &["edit", "FD1-000001", "--status", "milling"]);
    let port = closed_port();
    ok(dir.path(), "FD1", &["login", "--server", &format!("http://127.0.0.1:{port}"), "--token", "t"]);
    let err = fails(dir.path(), "FD1", &["sync"]);
    assert!(err.contains(&format!("the server at http://127.0.0.1:{port}/ is not reachable")), "{err}");
    assert!(err.contains("changes stay in the outbox and will be sent later"), "{err}");
    assert!(err.contains("2 changes wait in the outbox."), "{err}");
    let outbox = json_of(dir.path(), "FD1", &["outbox"]);
    assert_eq!(outbox.as_array().map(Vec::len), Some(2), "nothing left the outbox: {outbox}");
    assert_eq!(outbox[0]["attempts"], 1, "the try is counted");
    ok(dir.path(), "FD1", &["check"]);
}

#[test]
fn login_check_with_a_refused_token_keeps_nothing_and_says_to_sign_in_again() {
    let url = serve("right-token");
    let dir = tempfile::tempdir().unwrap();
    let err = fails(dir.path(), "FD1", &["login", "--server", &url, "--token", "wrong-token", "--check"]);
    assert!(err.contains("this token is not known here"), "the server's words: {err}");
    assert!(err.contains("sign in again: labdesk login"), "{err}");
    assert!(err.contains("the sign-in was not kept"), "{err}");
    assert!(!dir.path().join("credentials").exists(), "a refused token is not kept");
    let out = ok(dir.path(), "FD1", &["login", "--server", &url, "--token", "right-token", "--check"]);
    assert!(out.contains("the server accepted the token"), "{out}");
}

#[test]
fn two_workstations_sync_conflict_resolve_and_converge_and_a_refused_change_is_listed() {
    let (_dirs, a, b) = two_workstations();
    let (a, b) = (a.as_path(), b.as_path());
    ok(a, "FD1", &["create", "--patient", "Ada", "--status", "received"]);
    let first = ok(a, "FD1", &["sync"]);
    assert!(
        first.contains("Sent 1 change (1 applied, 0 merged, 0 conflicted, 0 rejected); received 1 change."),
        "{first}"
    );
    let report = json_of(b, "FD2", &["sync"]);
    assert_eq!(report["pulled"], 1, "B receives the case: {report}");

    ok(a, "FD1", &["edit", "FD1-000001", "--status", "milling"]);
    ok(b, "FD2", &["edit", "FD1-000001", "--status", "qc"]);
    ok(a, "FD1", &["sync"]);
    let second = ok(b, "FD2", &["sync"]);
    assert!(second.contains("1 conflicted"), "{second}");
    assert!(second.contains("1 record needs review: see `labdesk conflicts`"), "{second}");
    let listed = ok(b, "FD2", &["conflicts"]);
    assert!(listed.contains("case FD1-000001"), "{listed}");
    assert!(listed.contains("status: kept \"milling\" (fd1@FD1"), "who made the kept value: {listed}");
    assert!(listed.contains("proposed \"qc\" (fd2@FD2"), "and who made the other: {listed}");
    assert!(listed.contains("resolve: labdesk resolve FD1-000001 --pick status=kept|proposed|VALUE"), "{listed}");
    let shown = ok(b, "FD2", &["show", "FD1-000001"]);
    assert!(shown.contains("NEEDS REVIEW"), "{shown}");
    assert!(shown.contains("\nConflicts (1):"), "{shown}");

    let resolved = ok(b, "FD2", &["resolve", "FD1-000001", "--pick", "status=proposed"]);
    assert!(resolved.contains("status = qc"), "{resolved}");
    assert!(ok(b, "FD2", &["conflicts"]).contains("No conflicts"));
    ok(b, "FD2", &["sync"]);
    ok(a, "FD1", &["sync"]);
    assert!(ok(a, "FD1", &["conflicts"]).contains("No conflicts"), "the resolution reached A");
    let (ca, cb) = (json_of(a, "FD1", &["show", "FD1-000001"]), json_of(b, "FD2", &["show", "FD1-000001"]));
    assert_eq!(ca["case"], cb["case"], "both workstations show the same case");
    assert_eq!(ca["case"]["status"], "qc");
    assert_eq!(ca["conflicts"], json!([]));

    ok(a, "FD1", &["edit", "FD1-000001", "--status", "invoiced"]);
    let refused = ok(a, "FD1", &["sync"]);
    assert!(refused.contains("1 rejected"), "{refused}");
    assert!(refused.contains("refused: a technician may not mark a case invoiced"), "{refused}");
    let listed = ok(a, "FD1", &["rejected"]);
    assert!(
        listed.contains("status: invoiced") && listed.contains("a technician may not mark a case invoiced"),
        "{listed}"
    );
    assert_eq!(json_of(a, "FD1", &["show", "FD1-000001"])["case"]["status"], "qc", "the refused change was taken back");

    // A refused creation is listed with what it held, but never the case's secret key.
    ok(a, "FD1", &["create", "--patient", "Zed", "--status", "invoiced"]);
    let refused = ok(a, "FD1", &["sync"]);
    assert!(refused.contains("patient_name: Zed") && !refused.contains("secret_key"), "{refused}");
    let listed = ok(a, "FD1", &["rejected"]);
    assert!(listed.contains("patient_name: Zed") && !listed.contains("secret_key"), "{listed}");
    for (dir, ws) in [(a, "FD1"), (b, "FD2")] {
        ok(dir, ws, &["check"]);
    }
}

#[test]
fn chat_says_sending_until_a_sync_then_sent_on_every_workstation_read_once_read_and_failed_with_a_retry() {
    let (_dirs, a, b) = two_workstations();
    let (a, b) = (a.as_path(), b.as_path());
    ok(a, "FD1", &["create", "--patient", "Ada"]);
    let id = json_of(a, "FD1", &["chat", "post", "FD1-000001", "hello bench"])["id"].as_str().unwrap().to_owned();
    let list = ok(a, "FD1", &["chat", "list", "FD1-000001"]);
    assert!(list.contains("fd1 (sending): hello bench"), "not sent yet: {list}");

    let synced = ok(a, "FD1", &["sync"]);
    assert!(synced.contains("2 applied"), "{synced}");
    let list = ok(a, "FD1", &["chat", "list", "FD1-000001"]);
    assert!(list.contains("fd1 (sent): hello bench"), "the central store has it: {list}");
    ok(b, "FD2", &["sync"]);
    let list = ok(b, "FD2", &["chat", "list", "FD1-000001"]);
    assert!(list.contains("fd1 (sent): hello bench"), "a message pulled from the lab was sent: {list}");

    ok(b, "FD2", &["chat", "read", &id]);
    ok(b, "FD2", &["sync"]);
    ok(a, "FD1", &["sync"]);
    let list = ok(a, "FD1", &["chat", "list", "FD1-000001"]);
    assert!(list.contains("fd1 (read): hello bench"), "FD2 read it: {list}");

    let refused = json_of(a, "FD1", &["chat", "post", "FD1-000001", "scan at http://scans.example"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let short = refused.replace('-', "")[24..].to_owned();
    let synced = ok(a, "FD1", &["sync"]);
    assert!(synced.contains("1 rejected"), "{synced}");
    let list = ok(a, "FD1", &["chat", "list", "FD1-000001"]);
    assert!(list.contains("fd1 (failed): scan at http://scans.example"), "refused, it stays in the chat: {list}");
    assert!(
        list.contains(&format!("refused: this lab takes no links in chat · send it again: labdesk chat retry {short}")),
        "with the server's reason and the way to send it again: {list}"
    );

    let again = ok(a, "FD1", &["chat", "retry", &refused]);
    assert!(again.starts_with(&format!("Sent message {short} again, as message ")), "{again}");
    let list = ok(a, "FD1", &["chat", "list", "FD1-000001"]);
    assert!(list.contains("fd1 (sending): scan at http://scans.example"), "the new message waits to go: {list}");
    assert!(!list.contains("(failed)"), "and the refused one left the chat: {list}");
    let err = fails(a, "FD1", &["chat", "retry", &refused]);
    assert!(err.contains("was sent again already"), "{err}");
    for (dir, ws) in [(a, "FD1"), (b, "FD2")] {
        ok(dir, ws, &["check"]);
    }
}

#[test]
fn a_conflicted_revision_shows_in_history_with_the_kept_and_the_proposed_value() {
    let (_dirs, a, b) = two_workstations();
    let (a, b) = (a.as_path(), b.as_path());
    ok(a, "FD1", &["create", "--patient", "Ada", "--status", "received"]);
    ok(a, "FD1", &["sync"]);
    ok(b, "FD2", &["sync"]);
    ok(a, "FD1", &["edit", "FD1-000001", "--status", "milling"]);
    ok(b, "FD2", &["edit", "FD1-000001", "--status", "qc"]);
    ok(a, "FD1", &["sync"]);
    ok(b, "FD2", &["sync"]);

    let history = ok(b, "FD2", &["history", "FD1-000001"]);
    let line = history
        .lines()
        .position(|l| l.contains("fd2@FD2") && l.contains("conflicted"))
        .unwrap_or_else(|| panic!("B's own change is marked conflicted, not shown as an empty revision: {history}"));
    assert!(history.contains("conflicted (needs review)"), "{history}");
    let next = history.lines().nth(line + 1).unwrap_or_default();
    assert_eq!(next.trim(), "status: kept milling, proposed qc", "the values that met: {history}");
    ok(b, "FD2", &["resolve", "FD1-000001", "--pick", "status=proposed"]);
    let history = ok(b, "FD2", &["history", "FD1-000001"]);
    assert!(history.contains("conflicted (resolved)"), "{history}");
}

#[test]
fn a_case_number_taken_on_both_workstations_is_set_aside_shown_under_rejected_and_reported_by_check() {
    let url = serve("tok");
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (a.path(), b.path());
    for (dir, ws, patient) in [(a, "FD1", "Ada"), (b, "FD2", "Bea")] {
        ok(dir, ws, &["login", "--server", &url, "--token", "tok"]);
        let file = dir.join("old.jsonl");
        std::fs::write(&file, format!("{{\"case_number\": \"OLD-17\", \"patient_name\": \"{patient}\"}}\n")).unwrap();
        ok(dir, ws, &["import", file.to_str().unwrap()]);
    }
    ok(a, "FD1", &["sync"]);
    // This central store takes both (as the real one did before it checked numbers).
    let synced = ok(b, "FD2", &["sync"]);
    assert!(
        synced.contains("1 change from the lab could not be stored here and is set aside (1 in this round)"),
        "the round succeeds and says what it set aside: {synced}"
    );
    assert_eq!(json_of(b, "FD2", &["sync"])["held"], 1, "the next round still holds it, and succeeds");
    let listed = ok(b, "FD2", &["rejected"]);
    assert!(listed.contains("Changes from the lab this workstation could not store (1,"), "{listed}");
    assert!(listed.contains("case OLD-17 (patient Ada), version 1, by fd1@FD1"), "{listed}");
    assert!(!listed.contains("secret_key"), "the case's secret key is not shown: {listed}");
    assert!(
        listed.contains("not stored: the case number OLD-17 is already used here by another case (patient Bea)"),
        "{listed}"
    );
    let checked = labdesk(b, "FD2", &["check"]);
    let out = text(&checked.stdout);
    assert_eq!(checked.status.code(), Some(1), "check fails while a change from the lab is held: {out}");
    assert!(out.contains("a change from the lab to case OLD-17 (version 1, by fd1@FD1) is not stored here"), "{out}");
}

#[test]
fn a_lab_setting_syncs_to_the_other_workstation_and_a_value_changed_on_both_is_reviewed_and_resolved() {
    let (_dirs, a, b) = two_workstations();
    let (a, b) = (a.as_path(), b.as_path());
    let made = json_of(a, "FD1", &["records", "setting", "create", "key=opening_hours", "value=8-17"]);
    let id = made["record"]["id"].as_str().unwrap().replace('-', "")[24..].to_owned();
    let first = ok(a, "FD1", &["sync"]);
    assert!(first.contains("Sent 1 change (1 applied"), "the setting goes up like any change: {first}");

    ok(b, "FD2", &["sync"]);
    let listed = ok(b, "FD2", &["records", "setting", "list"]);
    let row = listed.lines().find(|l| l.contains("opening_hours")).unwrap_or_default();
    assert!(row.contains("8-17") && row.contains(&id) && row.ends_with("fd1"), "B has A's setting: {listed}");

    // Both change its value before either syncs.
    ok(a, "FD1", &["records", "setting", "edit", &id, "value=7-18"]);
    ok(b, "FD2", &["records", "setting", "edit", &id, "value=9-17"]);
    ok(a, "FD1", &["sync"]);
    let second = ok(b, "FD2", &["sync"]);
    assert!(second.contains("1 conflicted"), "the later change meets the first: {second}");
    assert!(second.contains("1 record needs review: see `labdesk conflicts`"), "{second}");

    let listed = ok(b, "FD2", &["conflicts"]);
    assert!(listed.contains(&format!("lab setting {id}:")), "the setting is named by its short id: {listed}");
    assert!(listed.contains("value: kept \"7-18\" (fd1@FD1"), "who made the kept value: {listed}");
    assert!(listed.contains("proposed \"9-17\" (fd2@FD2"), "and who made the other: {listed}");
    assert!(listed.contains(&format!("resolve: labdesk resolve {id} --pick value=kept|proposed|VALUE")), "{listed}");
    let shown = ok(b, "FD2", &["records", "setting", "show", &id]);
    assert!(shown.contains("NEEDS REVIEW: value changed on two workstations"), "{shown}");
    assert!(shown.contains("7-18"), "the kept value is the one in effect: {shown}");
    let history = ok(b, "FD2", &["records", "setting", "history", &id]);
    assert!(history.contains("conflicted (needs review)"), "{history}");
    assert!(history.contains("value: kept 7-18, proposed 9-17"), "the values that met: {history}");

    let resolved = ok(b, "FD2", &["resolve", &id, "--pick", "value=proposed"]);
    assert!(resolved.starts_with(&format!("Resolved lab setting {id} (now version")), "{resolved}");
    assert!(resolved.contains("value = 9-17"), "{resolved}");
    assert!(ok(b, "FD2", &["conflicts"]).contains("No conflicts"));
    assert!(!ok(b, "FD2", &["records", "setting", "show", &id]).contains("NEEDS REVIEW"), "settled");
    ok(b, "FD2", &["sync"]);
    ok(a, "FD1", &["sync"]);
    assert!(ok(a, "FD1", &["conflicts"]).contains("No conflicts"), "the resolution reached A");
    let (sa, sb) = (
        json_of(a, "FD1", &["records", "setting", "show", &id]),
        json_of(b, "FD2", &["records", "setting", "show", &id]),
    );
    assert_eq!(sa["value"], "9-17", "A has the value B settled on: {sa}");
    assert_eq!((sa["value"].clone(), sa["version"].clone()), (sb["value"].clone(), sb["version"].clone()), "{sb}");
    for (dir, ws) in [(a, "FD1"), (b, "FD2")] {
        ok(dir, ws, &["check"]);
    }
}
