//! What the end-to-end tests share: a lab (a fresh PostgreSQL database and a real sync server),
//! workstations (real stores with the real HTTP transport behind a fault-injecting wrapper), and
//! the convergence checks: every store's full state, record by record, against the central one.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use labdesk_core::sync::{parse_server_url, sync_round, HttpTransport, SyncError, SyncReport, Token, Transport};
use labdesk_core::{OpenOptions, Store};
use labdesk_proto::sync::{BlobState, Outcome, PullPage, PushRequest, PushResponse, WaitResponse};
use labdesk_server_database::Role;
use labdesk_testkit::{block_on, provision_blocking, Provisioned, TestPostgres, TestServer};
use rand::rngs::StdRng;
use rand::Rng;
use rusqlite::types::ValueRef;
use serde_json::{json, Map, Value};
use uuid::Uuid;

#[path = "../../../crates/labdesk-core/tests/support/review.rs"]
mod review;
pub use review::{review_state, Dispute, ReviewState};

/// The synced tables of a workstation store, one per declared record kind.
pub fn tables() -> impl Iterator<Item = &'static str> {
    labdesk_core::RecordKind::ALL.iter().map(|k| k.decl().table)
}

pub fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("fields must be a JSON object, not {other}"),
    }
}

/// A fresh database and a sync server on it.
pub struct Lab {
    pub db: TestPostgres,
    pub server: Option<TestServer>,
}

impl Lab {
    pub fn start() -> Result<Self> {
        let db = TestPostgres::start()?;
        let server = TestServer::start(&db.url)?;
        Ok(Self { db, server: Some(server) })
    }

    pub fn url(&self) -> String {
        self.server.as_ref().expect("the lab's server is running").url.clone()
    }

    pub fn provision(&self, lab: &str, user: &str, code: &str) -> Result<Provisioned> {
        provision_blocking(&self.db.url, lab, user, Role::Technician, code)
    }

    /// Runs one SQL query on the central database, each row's columns as text.
    pub fn query(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        query_db(&self.db.url, sql)
    }
}

pub fn query_db(url: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    block_on(async move {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        let driver = tokio::spawn(connection);
        let mut out = Vec::new();
        for message in client.simple_query(&sql).await? {
            if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                out.push((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect());
            }
        }
        drop(client);
        let _ = driver.await;
        Ok(out)
    })
}

/// Faults to inject, shared by every call through one [`Faulty`] transport.
#[derive(Default)]
pub struct Faults {
    /// Every call fails before reaching the server.
    pub offline: bool,
    /// The next this many pushes are carried out, then their answers are lost.
    pub lose_push_answers: u32,
    /// Pull pages served before pulls fail (`None`: never).
    pub pages_before_failure: Option<u32>,
    /// Ask for pages of at most this many revisions (the engine asks for 1000).
    pub page_limit: Option<u32>,
    /// Send pushes in chunks of at most this many revisions.
    pub push_chunk: Option<usize>,
    /// Called after each push chunk the server answered, with how many were answered so far;
    /// returning false makes the push fail there (the server went away).
    pub after_chunk: Option<Box<dyn FnMut(usize) -> bool + Send>>,
    /// Random drops: (rng, chance of dropping a request before it is sent, chance of losing the
    /// answer after the server handled it).
    pub random: Option<(StdRng, f64, f64)>,
    /// File chunks uploaded before uploads fail (`None`: never).
    pub blob_chunks_before_failure: Option<u32>,
    /// Counters.
    pub pages_pulled: u32,
    pub pushes: u32,
    /// Requests dropped before they were sent, and answers lost after the server handled them.
    pub dropped: u32,
    pub lost: u32,
    /// Every answer the server gave to a push, lost ones included.
    pub answered: Vec<(Uuid, Outcome)>,
}

/// The real HTTP transport behind a wrapper that injects faults.
pub struct Faulty {
    pub inner: Mutex<HttpTransport>,
    pub faults: Mutex<Faults>,
}

fn cut(what: &str) -> SyncError {
    SyncError::Unreachable { url: "http://e2e-fault/".into(), detail: format!("injected fault: {what}") }
}

impl Faulty {
    pub fn new(url: &str, token: &str) -> Result<Self> {
        Ok(Self { inner: Mutex::new(http(url, token)?), faults: Mutex::new(Faults::default()) })
    }

    /// Points at another server (a restarted one, on a new port).
    pub fn retarget(&self, url: &str, token: &str) -> Result<()> {
        *self.inner.lock().unwrap() = http(url, token)?;
        Ok(())
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Faults) -> T) -> T {
        f(&mut self.faults.lock().unwrap())
    }

    /// (drop before, lose after), decided by the seeded rng.
    fn roll(&self) -> (bool, bool) {
        let mut faults = self.faults.lock().unwrap();
        if faults.offline {
            return (true, false);
        }
        match &mut faults.random {
            Some((rng, before, after)) => {
                let (before, after) = (rng.random_bool(*before), rng.random_bool(*after));
                faults.dropped += u32::from(before);
                faults.lost += u32::from(after && !before);
                (before, after)
            }
            None => (false, false),
        }
    }
}

fn http(url: &str, token: &str) -> Result<HttpTransport> {
    Ok(HttpTransport::with_timeouts(
        &parse_server_url(url)?,
        &Token::new(token)?,
        Duration::from_secs(5),
        Duration::from_secs(60),
    )?)
}

impl Transport for Faulty {
    fn push(&self, request: &PushRequest) -> Result<PushResponse, SyncError> {
        let (drop_before, drop_after) = self.roll();
        if drop_before {
            return Err(cut("push request dropped"));
        }
        let chunk = self.with(|f| f.push_chunk).unwrap_or(usize::MAX).max(1);
        let inner = self.inner.lock().unwrap().clone();
        let mut results = Vec::new();
        for part in request.revisions.chunks(chunk) {
            let answer = inner.push(&PushRequest { revisions: part.to_vec() })?;
            results.extend(answer.results);
            let go_on = self.with(|f| {
                f.pushes += 1;
                f.answered.extend(answer_ids(&results[results.len() - part.len()..]));
                match &mut f.after_chunk {
                    Some(hook) => hook(results.len()),
                    None => true,
                }
            });
            if !go_on {
                return Err(cut("server went away mid-push"));
            }
        }
        let lose = self.with(|f| {
            let lose = f.lose_push_answers > 0;
            f.lose_push_answers = f.lose_push_answers.saturating_sub(1);
            lose
        });
        if lose || drop_after {
            return Err(cut("push answer lost after the server committed"));
        }
        Ok(PushResponse { results })
    }

    fn pull(&self, after: i64, limit: u32) -> Result<PullPage, SyncError> {
        let (drop_before, drop_after) = self.roll();
        if drop_before {
            return Err(cut("pull request dropped"));
        }
        let (limit, allowed) = self.with(|f| {
            let allowed = f.pages_before_failure.is_none_or(|left| left > 0);
            (f.page_limit.map_or(limit, |l| l.min(limit)), allowed)
        });
        if !allowed {
            return Err(cut("workstation killed mid-pull"));
        }
        let page = self.inner.lock().unwrap().clone().pull(after, limit)?;
        if drop_after {
            return Err(cut("pull answer lost"));
        }
        self.with(|f| {
            f.pages_pulled += 1;
            if let Some(left) = &mut f.pages_before_failure {
                *left -= 1;
            }
        });
        Ok(page)
    }

    fn wait(&self, after: i64, timeout: Duration) -> Result<WaitResponse, SyncError> {
        self.inner.lock().unwrap().clone().wait(after, timeout)
    }

    fn blob_state(&self, hash: &str) -> Result<Option<BlobState>, SyncError> {
        if self.roll().0 {
            return Err(cut("request dropped"));
        }
        self.inner.lock().unwrap().clone().blob_state(hash)
    }

    fn put_blob(&self, hash: &str, size: u64, offset: u64, bytes: &[u8]) -> Result<BlobState, SyncError> {
        let allowed = self.with(|f| {
            let allowed = f.blob_chunks_before_failure.is_none_or(|left| left > 0);
            if let Some(left) = &mut f.blob_chunks_before_failure {
                *left = left.saturating_sub(1);
            }
            allowed
        });
        if self.roll().0 || !allowed {
            return Err(cut("upload cut"));
        }
        self.inner.lock().unwrap().clone().put_blob(hash, size, offset, bytes)
    }

    fn get_blob(&self, hash: &str, offset: u64, limit: u64) -> Result<Vec<u8>, SyncError> {
        if self.roll().0 {
            return Err(cut("request dropped"));
        }
        self.inner.lock().unwrap().clone().get_blob(hash, offset, limit)
    }
}

fn answer_ids(results: &[labdesk_proto::sync::PushResult]) -> Vec<(Uuid, Outcome)> {
    results.iter().map(|r| (r.revision_id, r.outcome)).collect()
}

/// A workstation: its store (in memory, or in a folder it can be reopened from) and its
/// fault-injecting way to the server.
pub struct Ws {
    pub store: Store,
    pub transport: Faulty,
    pub who: Provisioned,
    pub dir: Option<tempfile::TempDir>,
}

impl Ws {
    pub fn new(url: &str, who: &Provisioned) -> Result<Self> {
        let store = Store::open_in_memory(options(who))?;
        Ok(Self { store, transport: Faulty::new(url, &who.token)?, who: who.clone(), dir: None })
    }

    /// A workstation whose store is a file in a temp folder.
    pub fn on_disk(url: &str, who: &Provisioned) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("labdesk-e2e-ws-").tempdir()?;
        let store = Store::open(dir.path(), options(who))?;
        Ok(Self { store, transport: Faulty::new(url, &who.token)?, who: who.clone(), dir: Some(dir) })
    }

    /// Closes the store and opens it again from its folder, as after a crash or a restart.
    pub fn reopen(&mut self) -> Result<()> {
        let dir = self.dir.as_ref().context("only a store on disk can be reopened")?.path().to_owned();
        let placeholder = Store::open_in_memory(options(&self.who))?;
        drop(std::mem::replace(&mut self.store, placeholder));
        self.store = Store::open(&dir, options(&self.who))?;
        Ok(())
    }

    pub fn sync(&mut self) -> Result<SyncReport> {
        Ok(sync_round(&mut self.store, &self.transport, &mut |_| {})?)
    }

    pub fn try_sync(&mut self) -> std::result::Result<SyncReport, SyncError> {
        sync_round(&mut self.store, &self.transport, &mut |_| {})
    }

    pub fn offline(&self, offline: bool) {
        self.transport.with(|f| f.offline = offline);
    }

    pub fn name(&self) -> &str {
        &self.who.identity.workstation_code
    }
}

fn options(who: &Provisioned) -> OpenOptions {
    OpenOptions { workstation: Some(who.identity.workstation_code.clone()), user: Some(who.identity.user_name.clone()) }
}

/// Everything a store holds that must be the same on every workstation once all have synced:
/// every record's row (all columns but the local row number), every revision of every chain,
/// and every conflict with its resolution.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub rows: BTreeMap<String, BTreeMap<String, Value>>,
    pub revisions: BTreeMap<String, Value>,
    pub conflicts: BTreeSet<String>,
}

fn sql_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        // JSON kept as text (revision fields, sets, author info) is compared as JSON: the author's
        // copy keeps its own key order, a pulled copy PostgreSQL's (JSONB) order.
        ValueRef::Text(t) => {
            let text = String::from_utf8_lossy(t).into_owned();
            match text.starts_with(['{', '[']).then(|| serde_json::from_str::<Value>(&text).ok()).flatten() {
                Some(parsed) => parsed,
                None => Value::String(text),
            }
        }
        ValueRef::Blob(b) => json!(b),
    }
}

fn rows(store: &Store, sql: &str, skip: &[&str]) -> Vec<Map<String, Value>> {
    let mut stmt = store.connection().prepare(sql).unwrap();
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let mut out = Vec::new();
    let mut found = stmt.query([]).unwrap();
    while let Some(row) = found.next().unwrap() {
        let mut map = Map::new();
        for (i, name) in names.iter().enumerate() {
            if !skip.contains(&name.as_str()) {
                map.insert(name.clone(), sql_value(row.get_ref(i).unwrap()));
            }
        }
        out.push(map);
    }
    out
}

pub fn snapshot(store: &Store) -> Snapshot {
    let mut all = BTreeMap::new();
    for table in tables() {
        let mut by_id = BTreeMap::new();
        for row in rows(store, &format!("SELECT * FROM {table}"), &["seq"]) {
            let id = row["id"].as_str().unwrap().to_owned();
            by_id.insert(id, Value::Object(row));
        }
        all.insert(table.to_owned(), by_id);
    }
    let revisions = rows(
        store,
        "SELECT id, record_kind, record_id, version, fields, author, workstation, made_at, resolves, \
         superseded_by, central_seq FROM revisions",
        &[],
    )
    .into_iter()
    .map(|r| (r["id"].as_str().unwrap().to_owned(), Value::Object(r)))
    .collect();
    let conflicts = rows(store, "SELECT revision_id, field, kept, proposed, resolved_by FROM conflicts", &[])
        .into_iter()
        .map(|r| Value::Object(r).to_string())
        .collect();
    Snapshot { rows: all, revisions, conflicts }
}

/// Asserts `store` shows exactly `reference` (the central state), saying what differs.
pub fn assert_same(store: &Store, reference: &Snapshot, who: &str) {
    let mine = snapshot(store);
    for (table, theirs) in &reference.rows {
        let ours = &mine.rows[table];
        for (id, row) in theirs {
            assert_eq!(ours.get(id), Some(row), "{who} must show the central state of {table} {id}");
        }
        let extra: Vec<&String> = ours.keys().filter(|id| !theirs.contains_key(*id)).collect();
        assert!(extra.is_empty(), "{who} has {table} rows the central store has not: {extra:?}");
    }
    for (id, revision) in &reference.revisions {
        assert_eq!(mine.revisions.get(id), Some(revision), "{who} must have central revision {id} as it is");
    }
    let extra: Vec<&String> = mine.revisions.keys().filter(|id| !reference.revisions.contains_key(*id)).collect();
    assert!(extra.is_empty(), "{who} has revisions the central store has not: {extra:?}");
    assert_eq!(mine.conflicts, reference.conflicts, "{who} must see the same conflicts and resolutions");
}

pub fn assert_sound(store: &Store, who: &str) {
    let report = store.check(true).unwrap();
    assert!(report.is_ok(), "{who}'s store must pass its consistency check: {:?}", report.problems);
}

/// The central state as a workstation that never made a change sees it: a fresh store that
/// pulled everything.
pub fn central_view(url: &str, who: &Provisioned) -> Result<Store> {
    let mut fresh = Ws::new(url, who)?;
    let report = fresh.sync()?;
    assert_eq!(report.pushed, 0, "the observer made no change");
    Ok(fresh.store)
}

/// Every workstation converged: no pending change, a sound store, and exactly the central state
/// (as a fresh observer store pulled it); and the central chains are whole (versions 1..n, once
/// each) with as many revisions as the observer has.
pub fn assert_converged(lab: &Lab, url: &str, observer: &Provisioned, stations: &[&Ws]) -> Result<Snapshot> {
    let central = central_view(url, observer)?;
    assert_sound(&central, "the observer");
    let reference = snapshot(&central);
    let review = central_review_state(lab, &observer.identity.lab_name)?;
    assert_eq!(review_state(&central), review, "the observer lists the disputes the central store has");
    for ws in stations {
        assert_eq!(ws.store.pending_count()?, 0, "{}'s outbox is empty once it synced", ws.name());
        assert_sound(&ws.store, ws.name());
        assert_eq!(
            review_state(&ws.store),
            review,
            "{} lists the disputes the central store has, and only those",
            ws.name()
        );
        assert_same(&ws.store, &reference, ws.name());
    }
    assert_central_chains_whole(lab, &observer.identity.lab_name)?;
    let counted = count_central_revisions(lab, &observer.identity.lab_name)?;
    assert_eq!(counted, reference.revisions.len(), "the observer pulled every central revision, once");
    Ok(reference)
}

/// Every central record of lab `lab` has versions 1..=n, each once, and its row at version n.
pub fn assert_central_chains_whole(lab: &Lab, lab_name: &str) -> Result<()> {
    let bad = lab.query(&format!(
        "SELECT r.record_id::text, count(*)::text, count(DISTINCT r.version)::text, max(r.version)::text, \
                max(rec.version)::text \
         FROM revisions r JOIN records rec ON rec.id = r.record_id JOIN labs l ON l.id = r.lab_id \
         WHERE l.name = '{lab_name}' GROUP BY r.record_id \
         HAVING count(*) <> max(r.version) OR count(DISTINCT r.version) <> count(*) OR max(r.version) <> max(rec.version)"
    ))?;
    assert!(bad.is_empty(), "every central chain is versions 1..n once each, ending at its row: {bad:?}");
    Ok(())
}

pub fn count_central_revisions(lab: &Lab, lab_name: &str) -> Result<usize> {
    let rows = lab.query(&format!(
        "SELECT count(*) FROM revisions r JOIN labs l ON l.id = r.lab_id WHERE l.name = '{lab_name}'"
    ))?;
    Ok(rows[0][0].as_deref().unwrap_or("0").parse()?)
}

/// The ids of every central revision of lab `lab_name`, with how often each appears.
pub fn central_revision_ids(lab: &Lab, lab_name: &str) -> Result<BTreeMap<Uuid, usize>> {
    let rows = lab.query(&format!(
        "SELECT r.id::text FROM revisions r JOIN labs l ON l.id = r.lab_id WHERE l.name = '{lab_name}'"
    ))?;
    let mut ids = BTreeMap::new();
    for row in rows {
        *ids.entry(Uuid::parse_str(row[0].as_deref().unwrap_or_default())?).or_insert(0) += 1;
    }
    Ok(ids)
}

/// The ids of the revisions waiting in a store's outbox.
pub fn outbox_ids(store: &Store) -> Vec<Uuid> {
    store.outbox(1_000_000).unwrap().into_iter().map(|e| e.revision.id).collect()
}

/// The central store's review state for lab `lab_name`: `records.needs_review`, and the disputes
/// (`revisions.conflicts`) of the revisions in `records.unresolved`. Each flagged record must name
/// a conflicted revision, and each of those a dispute.
pub fn central_review_state(lab: &Lab, lab_name: &str) -> Result<ReviewState> {
    let rows = lab.query(&format!(
        "SELECT r.id::text, r.needs_review::text, u.id::text, c.value ->> 'field', (c.value -> 'kept')::text, \
                (c.value -> 'proposed')::text, v.author, v.workstation \
         FROM records r JOIN labs l ON l.id = r.lab_id \
         LEFT JOIN LATERAL unnest(r.unresolved) AS u(id) ON true \
         LEFT JOIN revisions v ON v.id = u.id \
         LEFT JOIN LATERAL jsonb_array_elements(v.conflicts) AS c(value) ON true \
         WHERE l.name = '{lab_name}' AND (r.needs_review OR cardinality(r.unresolved) > 0)"
    ))?;
    let mut review = ReviewState::default();
    for row in rows {
        let text = |i: usize| row[i].clone().unwrap_or_default();
        let record = Uuid::parse_str(&text(0))?;
        assert_eq!(text(1), "true", "centrally, record {record} with unresolved conflicts needs review");
        let revision = row[2].as_deref().map(Uuid::parse_str).transpose()?;
        let revision = revision.unwrap_or_else(|| panic!("central record {record} needs review but names no conflict"));
        assert!(row[3].is_some(), "central revision {revision} is unresolved but disputes nothing");
        review.needs_review.insert(record);
        let json = |i: usize| -> Result<Value> { Ok(serde_json::from_str(&text(i))?) };
        review.disputes.insert(Dispute::new(record, &text(3), &json(4)?, &json(5)?, revision, &text(6), &text(7)));
    }
    Ok(review)
}
