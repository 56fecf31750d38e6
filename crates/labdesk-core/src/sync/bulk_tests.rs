//! The bulk path (a bootstrap) against the per-revision path: the same central history applied
//! both ways must give the same store, byte for byte, table by table; a bootstrap cut short — by
//! the network, or by the process dying — must resume to that same, checked store.
#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use labdesk_proto::merge::{apply, merge};
use labdesk_proto::sync::{CentralRevision, Outcome, PullPage, PushRequest, PushResponse, PushResult, WaitResponse};
use rusqlite::types::Value as SqlValue;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{sync_round, SyncError, Transport};
use crate::record::object;
use crate::{NewFile, NewMessage, OpenOptions, Origin, RecordKind, Revision, Stage, StageAction, Store};

thread_local! {
    /// Pages applied by the bulk path on this thread (the tests' way to know it was taken).
    pub(crate) static BULK_PAGES: Cell<u64> = const { Cell::new(0) };
    /// Revisions per bootstrap transaction, when a test wants many transactions.
    pub(crate) static BATCH: Cell<Option<u64>> = const { Cell::new(None) };
}

// ---------------------------------------------------------------------------------------------
// A central store in memory: the push rules of the real one (its three-way merge), and pages
// as it serves them. Accepted fields are kept with their objects' keys in PostgreSQL's JSONB order
// (shorter keys first), as the real central store gives them back: the bulk path must put them in
// their stored form exactly as the per-revision path does.

#[derive(Default)]
struct Central {
    accepted: Vec<CentralRevision>,
    chains: HashMap<Uuid, Vec<usize>>,
}

/// Object keys in JSONB's order, all the way down.
fn jsonb(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), jsonb(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(jsonb).collect()),
        other => other.clone(),
    }
}

fn jsonb_map(map: &Map<String, Value>) -> Map<String, Value> {
    match jsonb(&Value::Object(map.clone())) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl Central {
    fn fold(&self, indexes: &[usize]) -> Map<String, Value> {
        let mut state = Map::new();
        for &i in indexes {
            apply(&mut state, &self.accepted[i].revision.fields);
        }
        state
    }

    fn take(&mut self, sent: &Revision) -> PushResult {
        if let Some(c) = self.accepted.iter().find(|c| c.revision.id == sent.id) {
            return PushResult {
                revision_id: sent.id,
                outcome: c.outcome,
                version: Some(c.revision.version),
                reason: None,
                conflicts: c.conflicts.clone(),
            };
        }
        let chain = self.chains.get(&sent.record_id).cloned().unwrap_or_default();
        let head = chain.last().map(|&i| self.accepted[i].revision.id);
        let fast_forward =
            (chain.is_empty() && sent.parent.is_none()) || (sent.parent.is_some() && sent.parent == head);
        let (outcome, fields, conflicts) = if fast_forward {
            (Outcome::Applied, sent.fields.clone(), vec![])
        } else {
            let upto = sent
                .parent
                .and_then(|p| chain.iter().position(|&i| self.accepted[i].revision.id == p))
                .map_or(0, |p| p + 1);
            let merged = merge(sent.record_kind, &self.fold(&chain[..upto]), &self.fold(&chain), &sent.fields);
            let outcome = if merged.conflicts.is_empty() { Outcome::Merged } else { Outcome::Conflicted };
            (outcome, merged.effective, merged.conflicts)
        };
        let proposed = (fields != sent.fields).then(|| jsonb_map(&sent.fields));
        let revision = Revision {
            version: chain.len() as u32 + 1,
            fields: jsonb_map(&fields),
            superseded_by: None,
            origin: Origin::Central,
            ..sent.clone()
        };
        let version = revision.version;
        let seq = self.accepted.len() as i64 + 1;
        self.accepted.push(CentralRevision { seq, revision, outcome, conflicts: conflicts.clone(), proposed });
        self.chains.entry(sent.record_id).or_default().push(self.accepted.len() - 1);
        PushResult { revision_id: sent.id, outcome, version: Some(version), reason: None, conflicts }
    }

    fn head(&self) -> i64 {
        self.accepted.len() as i64
    }
}

/// A workstation's way to the central store, with faults to inject.
#[derive(Clone, Default)]
struct Link {
    central: Arc<Mutex<Central>>,
    /// Pages of at most this many revisions (the engine asks for 1000).
    page_limit: Option<u32>,
    /// Pulls served before pulls fail (the network), or before the puller dies (a panic, as a
    /// killed process: what it committed stays, nothing else).
    fail_after: Arc<Mutex<Option<usize>>>,
    die_after: Arc<Mutex<Option<usize>>>,
}

impl Link {
    fn with_pages(&self, limit: u32) -> Self {
        Self { page_limit: Some(limit), fail_after: Arc::default(), die_after: Arc::default(), ..self.clone() }
    }
}

impl Transport for Link {
    fn push(&self, request: &PushRequest) -> Result<PushResponse, SyncError> {
        let mut central = self.central.lock().unwrap();
        Ok(PushResponse { results: request.revisions.iter().map(|r| central.take(r)).collect() })
    }

    fn pull(&self, after: i64, limit: u32) -> Result<PullPage, SyncError> {
        for (countdown, dies) in [(&self.fail_after, false), (&self.die_after, true)] {
            let mut left = countdown.lock().unwrap();
            match *left {
                Some(0) if dies => {
                    drop(left);
                    panic!("the workstation's process died");
                }
                Some(0) => {
                    return Err(SyncError::Unreachable { url: "http://test-central/".into(), detail: "cut".into() })
                }
                Some(n) => *left = Some(n - 1),
                None => {}
            }
        }
        let central = self.central.lock().unwrap();
        let limit = self.page_limit.map_or(limit, |l| l.min(limit)) as usize;
        let after = usize::try_from(after.max(0)).unwrap();
        let revisions: Vec<CentralRevision> = central.accepted.iter().skip(after).take(limit).cloned().collect();
        let next = (after + revisions.len()) as i64;
        let head = central.head();
        Ok(PullPage { revisions, next, more: next < head, head, remaining: (head - next) as u64 })
    }

    fn wait(&self, _: i64, _: Duration) -> Result<WaitResponse, SyncError> {
        Ok(WaitResponse { head: self.central.lock().unwrap().head() })
    }
}

fn workstation(code: &str, user: &str) -> Store {
    Store::open_in_memory(OpenOptions { workstation: Some(code.into()), user: Some(user.into()) }).unwrap()
}

fn sync(store: &mut Store, link: &Link) {
    sync_round(store, link, &mut |_| {}).unwrap();
}

/// A lab's history with every kind of record and of revision: chains many versions long,
/// deletions and restorations, sets, merged changes (what took effect differs from what was
/// proposed), conflicts and their resolution.
fn lab_history() -> Link {
    let link = Link::default();
    let (mut a, mut b) = (workstation("FD1", "ann"), workstation("FD2", "bob"));
    for i in 0..12 {
        let case = a
            .create_case(object(json!({
                "patient_name": format!("Patient {i}"),
                "status": "received",
                "assignees": if i % 3 == 0 { json!(["bob", "ann"]) } else { json!(["carol"]) },
                "due_date": format!("2026-0{}-1{}", 1 + i % 9, i % 10),
                "author_info": {"name": format!("Dr Who {i}"), "phone": "555", "address": "1 Road"},
                "services": [{"service_type": "crown", "sub_services": ["zirconia", "emax"], "extras": ["shade"]}],
                "order_note": "match the shade of 11",
            })))
            .unwrap();
        let number = case.record.case_number.clone();
        for status in ["design", "milling", "qc"] {
            a.edit_case(&number, None, object(json!({ "status": status }))).unwrap();
        }
        a.set_meta(&number, "shade", "A2").unwrap();
        let message = a.post_message(&number, NewMessage::text(&format!("first look at case {i}"))).unwrap();
        a.react(message.id, "👍", true).unwrap();
        a.post_message(&number, NewMessage::text("margin on 36 looks short")).unwrap();
        a.move_stage(&number, Stage::Design, StageAction::Start, None).unwrap();
        a.move_stage(&number, Stage::Design, StageAction::Assign(Some("bob".into())), None).unwrap();
        let note = a.add_note(&number, "call the dentist").unwrap();
        a.edit_note(note.id, None, "called the dentist: wants it Friday").unwrap();
        if i % 4 == 0 {
            let file = NewFile {
                original_name: format!("scan-{i}.stl"),
                file_size: 1000 + i,
                mime_type: "application/sla".into(),
                hash: format!("{:064x}", i),
                message_id: None,
            };
            a.attach_files(&number, vec![file]).unwrap();
        }
        if i % 5 == 1 {
            a.delete_case(&number, None).unwrap();
            a.restore_case(&number, None).unwrap();
        }
        if i == 7 {
            a.delete_case(&number, None).unwrap();
            let _ = a.unset_meta(&number, "shade");
        }
    }
    // The lab's settings: a kind on no case, with no typed code.
    let hours = a.create_record(RecordKind::Setting, object(json!({"key": "opening_hours", "value": "8-17"}))).unwrap();
    let footer =
        a.create_record(RecordKind::Setting, object(json!({"key": "invoice_footer", "value": "Thanks"}))).unwrap();
    a.delete_record(RecordKind::Setting, &footer.record.id.to_string(), None, true).unwrap();
    sync(&mut a, &link);
    sync(&mut b, &link);
    // Offline on both: the same field two ways (a conflict), other fields (a merge), sets.
    let hours = hours.record.id.to_string();
    a.edit_record(RecordKind::Setting, &hours, None, object(json!({"value": "7-18"}))).unwrap();
    b.edit_record(RecordKind::Setting, &hours, None, object(json!({"value": "9-17", "description": "front desk"})))
        .unwrap();
    for i in [1, 2, 4] {
        let number = format!("FD1-{:06}", i + 1);
        a.edit_case(&number, None, object(json!({"priority": "rush", "assignees": ["ann", "dave"]}))).unwrap();
        b.edit_case(&number, None, object(json!({"priority": "low", "order_note": "from bob", "assignees": ["erin"]})))
            .unwrap();
        let first = b.messages(&number).unwrap()[0].id;
        b.react(first, "❤", true).unwrap();
    }
    sync(&mut a, &link);
    sync(&mut b, &link);
    let disputed = b.conflicts().unwrap();
    assert!(!disputed.is_empty(), "the history has conflicts");
    for record in disputed.iter().take(2) {
        let picks: Map<String, Value> = record.disputes.iter().map(|d| (d.field.clone(), d.proposed.clone())).collect();
        b.resolve(record.record_id, picks).unwrap();
    }
    sync(&mut b, &link);
    sync(&mut a, &link);
    let central = link.central.lock().unwrap();
    assert!(central.accepted.iter().any(|c| c.proposed.is_some()), "some change took effect otherwise than proposed");
    assert!(central.accepted.iter().any(|c| !c.revision.resolves.is_empty()), "some change resolves a conflict");
    drop(central);
    link
}

/// Every synced table of a store, row by row, every column but a conflict's `found_at` (the
/// time it was found here).
fn contents(store: &Store) -> Vec<(String, Vec<Vec<SqlValue>>)> {
    let tables = [
        ("cases", "SELECT * FROM cases ORDER BY seq"),
        ("case_meta", "SELECT * FROM case_meta ORDER BY seq"),
        ("chat_messages", "SELECT * FROM chat_messages ORDER BY seq"),
        ("files", "SELECT * FROM files ORDER BY seq"),
        ("workflow_stages", "SELECT * FROM workflow_stages ORDER BY seq"),
        ("case_notes", "SELECT * FROM case_notes ORDER BY seq"),
        ("lab_settings", "SELECT * FROM lab_settings ORDER BY seq"),
        ("revisions", "SELECT * FROM revisions ORDER BY seq"),
        ("outbox", "SELECT * FROM outbox ORDER BY seq"),
        (
            "conflicts",
            "SELECT seq, revision_id, record_kind, record_id, field, kept, proposed, resolved_by FROM conflicts \
             ORDER BY seq",
        ),
        ("rejected_changes", "SELECT * FROM rejected_changes ORDER BY revision_id"),
        ("search_index", "SELECT rowid, case_id, body FROM search_index ORDER BY rowid"),
        ("case_assignees", "SELECT * FROM case_assignees ORDER BY assignee, case_id"),
        ("sync_state", "SELECT cursor, bootstrap, indexes_pending FROM sync_state"),
    ];
    tables
        .iter()
        .map(|(name, sql)| {
            let mut stmt = store.conn.prepare(sql).unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| (0..n).map(|i| r.get::<_, SqlValue>(i)).collect::<rusqlite::Result<Vec<_>>>())
                .unwrap()
                .map(Result::unwrap)
                .collect();
            ((*name).to_owned(), rows)
        })
        .collect()
}

fn assert_same(bulk: &Store, slow: &Store) {
    for ((table, a), (_, b)) in contents(bulk).into_iter().zip(contents(slow)) {
        assert_eq!(a.len(), b.len(), "{table}: as many rows both ways");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "{table}: the bulk path's row (left) differs from the per-revision path's (right)");
        }
    }
}

fn assert_sound(store: &Store, who: &str) {
    let report = store.check(true).unwrap();
    assert!(report.is_ok(), "{who}: {:?} {:?}", report.integrity, report.problems);
}

/// The per-revision path, page by page as the engine applied pages before the bulk path.
fn per_revision(link: &Link, code: &str) -> Store {
    let mut store = workstation(code, "slow");
    loop {
        let page = link.pull(store.sync_cursor().unwrap(), 1000).unwrap();
        store.apply_page(&page).unwrap();
        if !page.more {
            return store;
        }
    }
}

fn bulk_pages() -> u64 {
    BULK_PAGES.with(Cell::get)
}

#[test]
fn a_bootstrap_in_bulk_gives_the_store_the_per_revision_path_gives_byte_for_byte() {
    let central = lab_history();
    let slow = per_revision(&central, "FD8");
    assert_sound(&slow, "per revision");
    // Pages of 7 and transactions of about 20 revisions: chains cut across pages and
    // transactions, records continued from the store as well as created in the page.
    for (pages, batch) in [(1000, None), (7, Some(20)), (1, Some(1))] {
        BATCH.with(|b| b.set(batch));
        let before = bulk_pages();
        let mut bulk = workstation("FD9", "fresh");
        let report = sync_round(&mut bulk, &central.with_pages(pages), &mut |_| {}).unwrap();
        BATCH.with(|b| b.set(None));
        assert!(bulk_pages() > before, "pages of {pages}: the bulk path was taken");
        assert_eq!((report.pulled, report.fast, report.rebuilt), (slow_count(&slow), report.pulled, 0));
        assert_sound(&bulk, "bulk");
        assert_same(&bulk, &slow);
        assert_eq!(bulk.sync_state().unwrap().cursor, central.central.lock().unwrap().head());
        let bootstrap: (i64, i64) = bulk
            .conn
            .query_row("SELECT bootstrap, indexes_pending FROM sync_state", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(bootstrap, (0, 0), "the bootstrap is over and its indexes are built");
        let hits = bulk.search("dentist", 100).unwrap();
        assert_eq!(hits.len(), slow.search("dentist", 100).unwrap().len(), "search finds the same");
    }
}

#[test]
fn a_page_read_from_its_json_text_is_prepared_as_the_page_itself_is() {
    let central = lab_history();
    // Pages of 7: chains cut across pages, so records continued from the store as well as created
    // in the page; and one page of everything.
    for limit in [7, 1000] {
        let link = central.with_pages(limit);
        let mut after = 0;
        loop {
            let page = link.pull(after, limit).unwrap();
            let text = link.pull_json(after, limit).unwrap();
            let from_text = super::bulk::prepare_text(super::bulk::decode(&text).unwrap()).unwrap();
            let from_page = super::bulk::prepare(page.clone()).unwrap();
            assert_eq!(from_text.shape(), from_page.shape(), "page after {after}");
            if !page.more {
                break;
            }
            after = page.next;
        }
    }
}

#[test]
fn fields_the_short_way_does_not_take_are_stored_as_the_long_way_stores_them() {
    use super::rebuild::{create_canonical_json, create_canonical_text};
    let case = Uuid::now_v7();
    let texts = [
        // The usual: every field the type reads, in JSONB's order.
        format!(
            r#"{{"id": "{case}", "case_id": "{case}", "sender_id": "ann", "message_type": "text", "message_status": "sent", "message_content": "shade A2"}}"#
        ),
        // A name twice: the last value counts, in the first one's place.
        format!(
            r#"{{"case_id": "{case}", "message_content": "first", "message_type": "text", "message_content": "second", "sender_id": "ann", "message_status": "sent"}}"#
        ),
        // A deleted_at that is no time, then one that is.
        format!(
            r#"{{"case_id": "{case}", "message_type": "text", "sender_id": "ann", "message_status": "sent", "deleted_at": "yesterday"}}"#
        ),
        format!(
            r#"{{"case_id": "{case}", "message_type": "text", "sender_id": "ann", "message_status": "sent", "deleted_at": "2026-11-21T09:30:00.000Z"}}"#
        ),
        // A field the type does not know, a name with an escape, a value of the wrong type.
        format!(
            r#"{{"case_id": "{case}", "message_type": "text", "sender_id": "ann", "message_status": "sent", "colour": [1, {{"b": 2}}], "n\u0061me": "x"}}"#
        ),
        format!(r#"{{"case_id": "{case}", "message_type": 7, "sender_id": "ann", "message_status": "sent"}}"#),
        // Not a chat message at all.
        "{}".to_owned(),
    ];
    for text in &texts {
        let entries: super::bulk::Entries = serde_json::from_str(text).unwrap();
        let short = create_canonical_text(crate::RecordKind::ChatMessage, text, &entries.0).unwrap();
        let mut fields: Map<String, Value> = serde_json::from_str(text).unwrap();
        let long = create_canonical_json(crate::RecordKind::ChatMessage, &mut fields);
        assert_eq!(short, long, "{text}");
    }
}

#[test]
fn a_page_whose_revision_fields_are_no_object_is_a_bad_answer() {
    let central = lab_history();
    let mut page = serde_json::to_value(central.pull(0, 10).unwrap()).unwrap();
    let good = serde_json::to_vec(&page).unwrap();
    assert!(super::bulk::decode(&good).is_ok());
    page["revisions"][3]["revision"]["fields"] = json!([1, 2]);
    let bad = serde_json::to_vec(&page).unwrap();
    let refused = super::bulk::decode(&bad).err().unwrap();
    assert!(refused.contains("fields"), "{refused}");
    assert!(super::bulk::decode(b"{\"revisions\": 3}").is_err());
}

fn slow_count(store: &Store) -> u64 {
    store.conn.query_row("SELECT count(*) FROM revisions", [], |r| r.get::<_, i64>(0)).unwrap() as u64
}

#[test]
fn after_a_bootstrap_the_store_syncs_on_as_usual() {
    let central = lab_history();
    let mut fresh = workstation("FD9", "fresh");
    sync(&mut fresh, &central);
    fresh.edit_case("FD1-000003", None, object(json!({"status": "delivery"}))).unwrap();
    let report = sync_round(&mut fresh, &central, &mut |_| {}).unwrap();
    assert_eq!((report.applied, report.confirmed), (1, 1), "{report:?}");
    assert_sound(&fresh, "fresh");
    assert_eq!(fresh.search("delivery", 10).unwrap().len(), 0, "status is not searched");
    let list = fresh.list_cases(&crate::CaseQuery { assignee: Some("carol".into()), ..Default::default() }).unwrap();
    assert!(list.total > 0, "the assignee index is there");
}

#[test]
fn a_bootstrap_cut_short_by_the_network_leaves_a_checked_store_and_resumes_in_bulk() {
    let central = lab_history();
    let slow = per_revision(&central, "FD8");
    let link = central.with_pages(9);
    BATCH.with(|b| b.set(Some(20)));
    *link.fail_after.lock().unwrap() = Some(5);
    let mut bulk = workstation("FD9", "fresh");
    let err = sync_round(&mut bulk, &link, &mut |_| {}).unwrap_err();
    assert!(err.is_offline(), "{err}");
    let cursor = bulk.sync_cursor().unwrap();
    assert!((20..=45).contains(&cursor), "the pages before the cut are kept: cursor {cursor}");
    assert_sound(&bulk, "cut short");
    let pending: i64 = bulk.conn.query_row("SELECT bootstrap FROM sync_state", [], |r| r.get(0)).unwrap();
    assert_eq!(pending, 1, "still bootstrapping");

    *link.fail_after.lock().unwrap() = None;
    let before = bulk_pages();
    sync(&mut bulk, &link);
    BATCH.with(|b| b.set(None));
    assert!(bulk_pages() > before, "the bootstrap resumed in bulk");
    assert_sound(&bulk, "resumed");
    assert_same(&bulk, &slow);
}

#[test]
fn a_bootstrap_whose_process_dies_resumes_from_its_last_commit_to_a_complete_store() {
    let central = lab_history();
    let slow = per_revision(&central, "FD8");
    let dir = tempfile::tempdir().unwrap();
    let open =
        || Store::open(dir.path(), OpenOptions { workstation: Some("FD9".into()), user: Some("f".into()) }).unwrap();
    let link = central.with_pages(9);
    *link.die_after.lock().unwrap() = Some(6);
    BATCH.with(|b| b.set(Some(20)));
    let mut bulk = open();
    let died = std::panic::catch_unwind(AssertUnwindSafe(|| sync_round(&mut bulk, &link, &mut |_| {})));
    assert!(died.is_err(), "the process died");
    drop(bulk);

    // What the file holds: the transactions committed before the death, indexes left pending.
    let raw = rusqlite::Connection::open(dir.path().join(crate::STORE_FILE)).unwrap();
    let (cursor, bootstrap, pending): (i64, i64, i64) = raw
        .query_row("SELECT cursor, bootstrap, indexes_pending FROM sync_state", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert!(cursor > 0 && (bootstrap, pending) == (1, 1), "cursor {cursor}, bootstrap {bootstrap}, pending {pending}");
    let triggers: i64 =
        raw.query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'", [], |r| r.get(0)).unwrap();
    assert_eq!(triggers, 20, "no committed state lacks the index triggers");
    drop(raw);

    let mut bulk = open();
    assert_sound(&bulk, "reopened");
    assert!(!super::bulk::indexes_pending(&bulk.conn).unwrap(), "opening built the pending indexes");
    *link.die_after.lock().unwrap() = None;
    let before = bulk_pages();
    sync(&mut bulk, &link);
    BATCH.with(|b| b.set(None));
    assert!(bulk_pages() > before, "the bootstrap resumed in bulk");
    assert_sound(&bulk, "resumed");
    assert_same(&bulk, &slow);
}

#[test]
fn a_change_made_during_a_bootstrap_sends_the_rest_revision_by_revision() {
    let central = lab_history();
    let link = central.with_pages(9);
    BATCH.with(|b| b.set(Some(20)));
    *link.fail_after.lock().unwrap() = Some(4);
    let mut fresh = workstation("FD9", "fresh");
    sync_round(&mut fresh, &link, &mut |_| {}).unwrap_err();
    fresh.edit_case("FD1-000001", None, object(json!({"status": "on hold"}))).unwrap();
    *link.fail_after.lock().unwrap() = None;
    let before = bulk_pages();
    let report = sync_round(&mut fresh, &link, &mut |_| {}).unwrap();
    BATCH.with(|b| b.set(None));
    assert_eq!(bulk_pages(), before, "a store with a change of its own is not the bulk path's case");
    assert_eq!(report.applied + report.merged, 1, "{report:?}");
    assert_sound(&fresh, "fresh");
    let state: (i64, i64) = fresh
        .conn
        .query_row("SELECT bootstrap, indexes_pending FROM sync_state", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(state, (0, 0));
}

/// Counts the pull requests a link answers.
struct Counting {
    link: Link,
    pulls: Mutex<usize>,
}

impl Transport for Counting {
    fn push(&self, request: &PushRequest) -> Result<PushResponse, SyncError> {
        self.link.push(request)
    }

    fn pull(&self, after: i64, limit: u32) -> Result<PullPage, SyncError> {
        *self.pulls.lock().unwrap() += 1;
        self.link.pull(after, limit)
    }

    fn wait(&self, after: i64, timeout: Duration) -> Result<WaitResponse, SyncError> {
        self.link.wait(after, timeout)
    }
}

#[test]
fn news_that_comes_with_its_page_is_applied_without_asking_for_it_again() {
    use labdesk_proto::sync::WaitPageResponse;

    use super::{sync_round_after_news, News};
    let central = lab_history();
    let mut b = workstation("FD9", "bob");
    sync(&mut b, &central);
    let mut a = workstation("FD8", "ann");
    sync(&mut a, &central);
    a.edit_case("FD1-000002", None, object(json!({"status": "delivery"}))).unwrap();
    sync(&mut a, &central);

    let counting = Counting { link: central.clone(), pulls: Mutex::new(0) };
    let after = b.sync_cursor().unwrap();
    let page = central.pull(after, 1000).unwrap();
    let news = News { after, answer: WaitPageResponse { head: page.head, page: Some(page) } };
    let report = sync_round_after_news(&mut b, &counting, &mut |_| {}, news.clone()).unwrap();
    assert_eq!(*counting.pulls.lock().unwrap(), 0, "the page came with the news");
    assert_eq!((report.pulled, report.cursor), (1, after + 1), "{report:?}");
    assert_eq!(b.case("FD1-000002").unwrap().record.status, "delivery");
    assert_sound(&b, "B");

    // The same news again: the store has moved on since, so the page is not applied but pulled.
    let report = sync_round_after_news(&mut b, &counting, &mut |_| {}, news).unwrap();
    assert_eq!(*counting.pulls.lock().unwrap(), 1, "stale news: the round pulls");
    assert_eq!(report.pulled, 0);
    assert_sound(&b, "B");
}

// ---------------------------------------------------------------------------------------------
// At scale, on demand.

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Random ids (as `gen_random_uuid()`), or time-ordered ones as LabDesk mints them (UUIDv7) with
/// `LABDESK_BULK_IDS=v7`.
fn synthetic_id(seed: u64) -> Uuid {
    let rand = (u128::from(splitmix(seed)) << 64) | u128::from(splitmix(seed ^ 0x5555_5555_5555_5555));
    if std::env::var("LABDESK_BULK_IDS").as_deref() == Ok("v7") {
        let ms = 1_700_000_000_000 + seed / 2;
        let bytes = rand.to_be_bytes();
        return uuid::Builder::from_unix_timestamp_millis(ms, &bytes[..10].try_into().unwrap()).into_uuid();
    }
    uuid::Builder::from_random_bytes(rand.to_be_bytes()).into_uuid()
}

/// A central store of `cases` cases and `messages` messages cloned from templates, as the sync
/// benchmark loads it, made page by page on demand.
struct Synthetic {
    cases: u64,
    messages: u64,
    case: Revision,
    message: Revision,
}

impl Synthetic {
    fn new(cases: u64, messages: u64) -> Self {
        let mut s = workstation("LD1", "ann");
        let case = s.create_case(object(json!({"patient_name": "T", "status": "received"}))).unwrap();
        s.post_message(&case.record.case_number, NewMessage::text("template message: shade A2, try-in")).unwrap();
        let until = s.outbox_end().unwrap();
        let revs: Vec<Revision> = s.outbox_batch(0, until, 10).unwrap().into_iter().map(|(_, r)| r).collect();
        Self { cases, messages, case: revs[0].clone(), message: revs[1].clone() }
    }

    fn head(&self) -> i64 {
        (self.cases + self.messages) as i64
    }

    fn revision(&self, seq: u64) -> CentralRevision {
        let mut r = if seq <= self.cases {
            let mut r = self.case.clone();
            r.fields.insert("case_number".into(), json!(format!("BN-{seq:07}")));
            r.fields.insert("patient_name".into(), json!(format!("Patient {seq}")));
            r
        } else {
            let n = seq - self.cases;
            let mut r = self.message.clone();
            let case_n = 1 + (n % self.cases);
            r.fields.insert("case_id".into(), Value::String(synthetic_id(case_n * 2).to_string()));
            r.fields.insert("message_content".into(), json!(format!("message {n}: shade A{}, try-in", n % 4)));
            r
        };
        r.record_id = synthetic_id(seq * 2);
        r.id = synthetic_id(seq * 2 + 1);
        r.origin = Origin::Central;
        r.fields = jsonb_map(&r.fields);
        CentralRevision { seq: seq as i64, revision: r, outcome: Outcome::Applied, conflicts: vec![], proposed: None }
    }
}

impl Transport for Synthetic {
    fn push(&self, _: &PushRequest) -> Result<PushResponse, SyncError> {
        Ok(PushResponse { results: vec![] })
    }

    fn pull(&self, after: i64, limit: u32) -> Result<PullPage, SyncError> {
        let head = self.head();
        let from = after.max(0) as u64 + 1;
        let to = (after + i64::from(limit)).min(head) as u64;
        let revisions: Vec<CentralRevision> = (from..=to).map(|s| self.revision(s)).collect();
        let next = revisions.last().map_or(after, |r| r.seq);
        Ok(PullPage { revisions, next, more: next < head, head, remaining: (head - next) as u64 })
    }

    fn wait(&self, _: i64, _: Duration) -> Result<WaitResponse, SyncError> {
        Ok(WaitResponse { head: self.head() })
    }
}

/// The benchmark's kind of central store (cases, then many messages on them), pulled into a store
/// in a file over several pages. How fast is the sync benchmark's to say
/// (`cargo bench -p labdesk-sync --bench sync -- --only bootstrap`); this says that it is whole.
#[test]
fn a_bootstrap_many_pages_long_into_a_store_on_disk_takes_every_record_and_leaves_a_checked_store() {
    let central = Synthetic::new(300, 3_000);
    let dir = tempfile::tempdir().unwrap();
    let mut store =
        Store::open(dir.path(), OpenOptions { workstation: Some("BS1".into()), user: Some("b".into()) }).unwrap();
    let before = bulk_pages();
    let report = sync_round(&mut store, &central, &mut |_| {}).unwrap();
    assert_eq!(report.pulled, 3_300, "every central revision is pulled once");
    assert!(bulk_pages() - before >= 4, "3,300 revisions are several pages, all applied in bulk");
    assert_eq!(store.sync_cursor().unwrap(), central.head(), "caught up with the central head");
    assert_eq!(slow_count(&store), 3_300, "one revision row per pulled revision");
    assert_sound(&store, "the bootstrapped store");
}

// ---------------------------------------------------------------------------------------------
// Snapshots (`snapshot.rs`): a store the central store built, taken by a fresh workstation.

/// A central store that keeps a snapshot: the link's revisions, and a store file served as the
/// blob the snapshot names.
struct Shelf {
    link: Link,
    snapshot: super::BuiltSnapshot,
    /// Runs once, during the snapshot's download: what someone else does meanwhile.
    meanwhile: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// Chunks served at most this large (the real server's are 4 MiB), and how many are served
    /// before the network cuts the download.
    chunk: Option<u64>,
    cut_after: Mutex<Option<usize>>,
}

impl Transport for Shelf {
    fn push(&self, request: &PushRequest) -> Result<PushResponse, SyncError> {
        self.link.push(request)
    }

    fn pull(&self, after: i64, limit: u32) -> Result<PullPage, SyncError> {
        self.link.pull(after, limit)
    }

    fn wait(&self, after: i64, timeout: Duration) -> Result<WaitResponse, SyncError> {
        self.link.wait(after, timeout)
    }

    fn snapshot(&self, schema: u32) -> Result<Option<labdesk_proto::sync::SnapshotInfo>, SyncError> {
        Ok((schema == self.snapshot.info.schema).then(|| self.snapshot.info.clone()))
    }

    fn get_blob(&self, hash: &str, offset: u64, limit: u64) -> Result<Vec<u8>, SyncError> {
        assert_eq!(hash, self.snapshot.info.hash, "only the snapshot is asked for");
        if let Some(meanwhile) = self.meanwhile.lock().unwrap().take() {
            meanwhile();
        }
        if let Some(left) = self.cut_after.lock().unwrap().as_mut() {
            if *left == 0 {
                return Err(SyncError::Unreachable { url: "http://test-central/".into(), detail: "cut".into() });
            }
            *left -= 1;
        }
        let bytes = std::fs::read(&self.snapshot.file).unwrap();
        let limit = self.chunk.map_or(limit, |chunk| chunk.min(limit));
        let from = usize::try_from(offset).unwrap().min(bytes.len());
        let to = usize::try_from(offset + limit).unwrap().min(bytes.len());
        Ok(bytes[from..to].to_vec())
    }
}

/// The lab's history, a snapshot of it, then more history after the snapshot.
fn shelf_with_history_after() -> (Shelf, tempfile::TempDir) {
    let link = lab_history();
    let built_in = tempfile::tempdir().unwrap();
    let snapshot = super::build_snapshot(built_in.path(), &link).unwrap();
    assert_eq!(snapshot.info.seq, link.central.lock().unwrap().head(), "built up to the head");
    assert_eq!(snapshot.info.schema, super::snapshot_schema());
    let mut late = workstation("FD3", "cara");
    sync(&mut late, &link);
    let case = late.create_case(object(json!({"patient_name": "After Snapshot", "status": "received"}))).unwrap();
    late.post_message(&case.record.case_number, NewMessage::text("came after the snapshot")).unwrap();
    late.edit_case("FD1-000002", None, object(json!({"status": "shipped"}))).unwrap();
    sync(&mut late, &link);
    (Shelf { link, snapshot, meanwhile: Mutex::new(None), chunk: None, cut_after: Mutex::new(None) }, built_in)
}

fn fresh_on_disk(dir: &std::path::Path, code: &str) -> Store {
    let mut store =
        Store::open(dir, OpenOptions { workstation: Some(code.into()), user: Some("fresh".into()) }).unwrap();
    store.set_default_user("fresh").unwrap();
    store.set_server_url(&url::Url::parse("https://hq.example/").unwrap()).unwrap();
    store
}

#[test]
fn a_fresh_workstation_takes_the_labs_snapshot_then_pulls_what_came_after_to_the_store_a_full_pull_gives() {
    let (shelf, _built) = shelf_with_history_after();
    let slow = per_revision(&shelf.link, "FD8");
    let dir = tempfile::tempdir().unwrap();
    let mut fresh = fresh_on_disk(dir.path(), "FD9");
    let report = sync_round(&mut fresh, &shelf, &mut |_| {}).unwrap();
    assert_eq!(report.from_snapshot, shelf.snapshot.info.revisions, "the snapshot was taken");
    assert_eq!(report.pulled, slow_count(&slow), "the snapshot's revisions and the ones after it");
    assert_sound(&fresh, "from the snapshot");
    assert_same(&fresh, &slow);
    assert_eq!(fresh.sync_state().unwrap().cursor, shelf.link.central.lock().unwrap().head());
    assert_eq!(fresh.search("dentist", 100).unwrap().len(), slow.search("dentist", 100).unwrap().len());
    assert_eq!(fresh.search("snapshot", 100).unwrap().len(), 1, "what came after is searchable too");
    // What is this workstation's stayed its own: not the builder's.
    assert_eq!(fresh.workstation(), "FD9");
    assert_eq!(fresh.sync_state().unwrap().server_url.as_deref(), Some("https://hq.example/"));
    let mine = fresh.create_case(object(json!({"patient_name": "Mine", "status": "received"}))).unwrap();
    assert_eq!(mine.record.case_number, "FD9-000001", "cases made here are numbered by this workstation");
    drop(fresh);
    let reopened = Store::open(dir.path(), OpenOptions::default()).unwrap();
    assert_eq!((reopened.workstation(), reopened.user()), ("FD9", "fresh"), "kept across an open");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".snapshot-"))
        .collect();
    assert!(left.is_empty(), "the downloaded snapshot is not kept beside the store: {left:?}");
}

#[test]
fn a_workstation_with_a_change_of_its_own_pulls_and_does_not_take_the_snapshot() {
    let (shelf, _built) = shelf_with_history_after();
    let dir = tempfile::tempdir().unwrap();
    let mut store = fresh_on_disk(dir.path(), "FD9");
    store.create_case(object(json!({"patient_name": "Made First", "status": "received"}))).unwrap();
    let report = sync_round(&mut store, &shelf, &mut |_| {}).unwrap();
    assert_eq!(report.from_snapshot, 0, "a store with a change of its own is never copied over");
    assert_sound(&store, "pulled");
    assert_eq!(store.search("made first", 10).unwrap().len(), 1, "the change made here is kept");
    assert_eq!(store.sync_state().unwrap().pending, 0, "and was sent");
}

#[test]
fn a_snapshot_whose_tables_differ_from_the_stores_is_set_aside_and_the_lab_pulled() {
    let (mut shelf, _built) = shelf_with_history_after();
    // A store from another build: a table this one does not have.
    let store_file = shelf.snapshot.file.with_extension("");
    let conn = rusqlite::Connection::open(&store_file).unwrap();
    conn.execute_batch("CREATE TABLE from_elsewhere (x); PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    drop(conn);
    let store = std::fs::read(&store_file).unwrap();
    let blob = zstd::encode_all(&store[..], 3).unwrap();
    std::fs::write(&shelf.snapshot.file, &blob).unwrap();
    shelf.snapshot.info.hash = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&blob));
    shelf.snapshot.info.size = blob.len() as u64;
    shelf.snapshot.info.store_size = store.len() as u64;
    let slow = per_revision(&shelf.link, "FD8");
    let dir = tempfile::tempdir().unwrap();
    let mut fresh = fresh_on_disk(dir.path(), "FD9");
    let report = sync_round(&mut fresh, &shelf, &mut |_| {}).unwrap();
    assert_eq!(report.from_snapshot, 0, "not taken");
    assert_sound(&fresh, "pulled instead");
    assert_same(&fresh, &slow);
}

#[test]
fn a_case_taken_in_on_another_connection_during_the_download_is_kept_and_the_lab_pulled_instead() {
    let (shelf, _built) = shelf_with_history_after();
    let dir = tempfile::tempdir().unwrap();
    let mut sync_handle = fresh_on_disk(dir.path(), "FD9");
    // The desktop's window has a handle of its own on the same store: the front desk takes in a
    // case while the sync thread downloads the snapshot.
    let folder = dir.path().to_owned();
    *shelf.meanwhile.lock().unwrap() = Some(Box::new(move || {
        let mut window = Store::open(&folder, OpenOptions::default()).unwrap();
        window.create_case(object(json!({"patient_name": "Walked In", "status": "received"}))).unwrap();
    }));
    let report = sync_round(&mut sync_handle, &shelf, &mut |_| {}).unwrap();
    assert!(shelf.meanwhile.lock().unwrap().is_none(), "the case was taken in during the download");
    assert_eq!(report.from_snapshot, 0, "the store was no longer fresh: the snapshot is not copied over it");
    assert_sound(&sync_handle, "pulled instead");
    assert_eq!(sync_handle.search("walked in", 10).unwrap().len(), 1, "the case taken in is kept");
    assert_eq!(sync_handle.case("FD9-000001").unwrap().record.patient_name, "Walked In");
    assert_eq!(sync_handle.sync_state().unwrap().cursor, shelf.link.central.lock().unwrap().head(), "caught up");
}

#[test]
fn a_snapshot_download_cut_short_goes_on_from_what_it_kept_in_the_next_round() {
    let (mut shelf, _built) = shelf_with_history_after();
    // Chunks of a fifth of the snapshot; the network cuts after two.
    let size = shelf.snapshot.info.size;
    assert!(size > 5, "a snapshot of some bytes");
    shelf.chunk = Some(size / 5);
    let slow = per_revision(&shelf.link, "FD8");
    let whole = {
        let dir = tempfile::tempdir().unwrap();
        sync_round(&mut fresh_on_disk(dir.path(), "FD7"), &shelf, &mut |_| {}).unwrap().bytes_down
    };
    *shelf.cut_after.lock().unwrap() = Some(2);
    let dir = tempfile::tempdir().unwrap();
    let mut fresh = fresh_on_disk(dir.path(), "FD9");
    let cut = sync_round(&mut fresh, &shelf, &mut |_| {}).unwrap_err();
    assert!(matches!(cut, SyncError::Unreachable { .. }), "the round fails with the network: {cut}");
    assert!(fresh.is_fresh().unwrap(), "nothing was taken: the store is as it was");
    let kept = std::fs::metadata(dir.path().join(format!(".snapshot-{}", shelf.snapshot.info.hash))).unwrap().len();
    assert_eq!(kept, 2 * (size / 5), "what came before the cut is kept");

    *shelf.cut_after.lock().unwrap() = None;
    let mut shown = Vec::new();
    let report = sync_round(&mut fresh, &shelf, &mut |p| shown.push((p.bytes_done, p.records_done))).unwrap();
    let revisions = shelf.snapshot.info.revisions;
    assert_eq!(report.from_snapshot, revisions, "taken in the next round");
    assert_eq!(report.bytes_down, whole - kept, "only what was missing was downloaded again");
    let bytes: Vec<u64> = shown.iter().map(|&(b, _)| b).collect();
    assert!(bytes.contains(&kept) && bytes.contains(&size), "the bar starts at what was kept: {shown:?}");
    assert!(
        shown.iter().any(|&(b, r)| b == kept && r > 0 && r < revisions),
        "the records counted move with the download, not only once it is taken: {shown:?}"
    );
    assert_sound(&fresh, "from a resumed snapshot");
    assert_same(&fresh, &slow);
}

/// A central store whose server went away: it answers nothing.
struct Away;

impl Transport for Away {
    fn push(&self, _: &PushRequest) -> Result<PushResponse, SyncError> {
        Err(SyncError::Unreachable { url: "http://hq.example/".into(), detail: "connection refused".into() })
    }

    fn pull(&self, _: i64, _: u32) -> Result<PullPage, SyncError> {
        Err(SyncError::Unreachable { url: "http://hq.example/".into(), detail: "connection refused".into() })
    }

    fn wait(&self, _: i64, _: Duration) -> Result<WaitResponse, SyncError> {
        Err(SyncError::Unreachable { url: "http://hq.example/".into(), detail: "connection refused".into() })
    }

    fn get_blob(&self, _: &str, _: u64, _: u64) -> Result<Vec<u8>, SyncError> {
        Err(SyncError::Unreachable { url: "http://hq.example/".into(), detail: "connection refused".into() })
    }
}

#[test]
fn fetching_a_files_contents_while_the_server_is_away_says_so_about_the_file_not_the_outbox() {
    let link = Link::default();
    let mut desk = workstation("FD1", "ann");
    let case = desk.create_case(object(json!({"patient_name": "Ada", "status": "received"}))).unwrap();
    let number = case.record.case_number;
    let file = NewFile {
        original_name: "upper-jaw.stl".into(),
        file_size: 35,
        mime_type: "application/sla".into(),
        hash: format!("{:064x}", 7),
        message_id: None,
    };
    desk.attach_files(&number, vec![file]).unwrap();
    sync(&mut desk, &link);
    let dir = tempfile::tempdir().unwrap();
    let mut bench = fresh_on_disk(dir.path(), "TB2");
    sync(&mut bench, &link);
    let id = bench.files(&number).unwrap()[0].id;
    let error = super::fetch_blob(&bench, &Away, id, &mut |_, _| {}).unwrap_err();
    assert!(error.is_offline(), "a fetch with no server is offline: {error:?}");
    let said = error.to_string();
    assert!(said.contains("upper-jaw.stl") && said.contains("online"), "names the file and what to do: {said}");
    assert!(!said.contains("outbox"), "a fetch has nothing in the outbox: {said}");
}
