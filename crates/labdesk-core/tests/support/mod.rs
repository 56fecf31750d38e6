//! A fake central store in memory, for sync tests: the central store's rules of
//! ARCHITECTURE.md ("Push: one transaction per revision", "Pull") in a few dozen lines, using the
//! same three-way merge as the real one, plus knobs to lose answers, cut pulls short and refuse
//! changes.
#![allow(clippy::unwrap_used, dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use labdesk_core::sync::{SyncError, Transport};
use labdesk_core::{OpenOptions, Origin, Revision, Store};
use labdesk_proto::merge::{apply, merge};
use labdesk_proto::sync::{CentralRevision, Outcome, PullPage, PushRequest, PushResponse, PushResult, WaitResponse};
use serde_json::{Map, Value};
use uuid::Uuid;

mod review;
pub use review::{review_state, Dispute, ReviewState};

/// A refusal rule: the reason to refuse a revision, if it should be.
pub type Rule = Box<dyn Fn(&Revision) -> Option<String> + Send>;

#[derive(Default)]
pub struct Central {
    /// Every accepted revision; its pull position is its index + 1.
    pub accepted: Vec<CentralRevision>,
    /// Record id → its accepted revisions' indexes, in version order.
    chains: HashMap<Uuid, Vec<usize>>,
    pub needs_review: HashMap<Uuid, bool>,
    /// Record id → its conflicted revisions no revision `resolves` yet, as the real store keeps
    /// them (`records.unresolved`); `needs_review` says whether it is empty.
    pub unresolved: HashMap<Uuid, Vec<Uuid>>,
    rejections: HashMap<Uuid, String>,
    /// Knobs.
    pub refuse: Option<Rule>,
    /// Refuse a case whose case number another case has centrally (off: both are taken, as the
    /// central store once did, and a workstation holding one cannot store the other).
    pub unique_case_numbers: bool,
    /// Case number → the case that has it centrally.
    case_numbers: HashMap<String, Uuid>,
    /// The next this many pushes are carried out but their answers are lost.
    pub lose_answers: usize,
    /// Pull pages served before pulls start failing (None: never fail).
    pub pages_before_failure: Option<usize>,
    pub offline: bool,
    /// Counters.
    pub pushes: usize,
    pub pulls: usize,
}

fn unreachable() -> SyncError {
    SyncError::Unreachable { url: "http://fake-central/".into(), detail: "Connection refused".into() }
}

impl Central {
    fn fold(&self, indexes: &[usize]) -> Map<String, Value> {
        let mut state = Map::new();
        for &i in indexes {
            apply(&mut state, &self.accepted[i].revision.fields);
        }
        state
    }

    fn answer(&self, id: Uuid) -> Option<PushResult> {
        if let Some(reason) = self.rejections.get(&id) {
            return Some(PushResult {
                revision_id: id,
                outcome: Outcome::Rejected,
                version: None,
                reason: Some(reason.clone()),
                conflicts: vec![],
            });
        }
        self.accepted.iter().find(|c| c.revision.id == id).map(|c| PushResult {
            revision_id: id,
            outcome: c.outcome,
            version: Some(c.revision.version),
            reason: None,
            conflicts: c.conflicts.clone(),
        })
    }

    fn reject(&mut self, id: Uuid, reason: &str) -> PushResult {
        self.rejections.insert(id, reason.to_owned());
        self.answer(id).unwrap()
    }

    /// The push rules, one revision at a time.
    fn take(&mut self, sent: &Revision) -> PushResult {
        if let Some(answer) = self.answer(sent.id) {
            return answer; // a retry, or an answer lost after it was taken
        }
        if let Some(reason) = self.refuse.as_ref().and_then(|rule| rule(sent)) {
            return self.reject(sent.id, &reason);
        }
        let number = (sent.record_kind == labdesk_core::RecordKind::Case)
            .then(|| sent.fields.get("case_number").and_then(Value::as_str).map(str::to_owned))
            .flatten();
        if let Some(number) = &number {
            let taken = self.case_numbers.get(number).is_some_and(|other| *other != sent.record_id);
            if self.unique_case_numbers && taken {
                return self.reject(sent.id, &format!("the case number {number} is already used by another case"));
            }
        }
        // As the real store: a new record of the lab whose unique fields a live one has is refused.
        if let Some(other) = self.same_unique(sent) {
            let label = sent.record_kind.label();
            return self.reject(sent.id, &format!("a {label} with these values is already in this lab ({other})"));
        }
        // The real server finds a record's lab through its case: a case it does not have is refused.
        let case = sent.fields.get("case_id").and_then(Value::as_str).and_then(|c| Uuid::parse_str(c).ok());
        if case.is_some_and(|case| !self.chains.contains_key(&case)) {
            return self.reject(sent.id, "its case is not in the central store");
        }
        let chain = self.chains.get(&sent.record_id).cloned().unwrap_or_default();
        let head = chain.last().map(|&i| self.accepted[i].revision.id);
        let fast_forward =
            (chain.is_empty() && sent.parent.is_none()) || (sent.parent.is_some() && sent.parent == head);
        let (outcome, fields, conflicts) = if fast_forward {
            (Outcome::Applied, sent.fields.clone(), vec![])
        } else {
            let upto = match sent.parent {
                None => 0,
                Some(parent) => match chain.iter().position(|&i| self.accepted[i].revision.id == parent) {
                    Some(p) => p + 1,
                    None => return self.reject(sent.id, "it was made on a change the central store never accepted"),
                },
            };
            let merged = merge(sent.record_kind, &self.fold(&chain[..upto]), &self.fold(&chain), &sent.fields);
            let outcome = if merged.conflicts.is_empty() { Outcome::Merged } else { Outcome::Conflicted };
            (outcome, merged.effective, merged.conflicts)
        };
        // As the real store: a resolution may only name changes in the record's history.
        let strangers = sent.resolves.iter().any(|id| !chain.iter().any(|&i| self.accepted[i].revision.id == *id));
        if strangers {
            return self.reject(sent.id, "it settles conflicts of changes that are not in the record's history");
        }
        let unresolved = self.unresolved.entry(sent.record_id).or_default();
        unresolved.retain(|id| !sent.resolves.contains(id));
        if outcome == Outcome::Conflicted {
            unresolved.push(sent.id);
        }
        let needs_review = !unresolved.is_empty();
        if needs_review || !sent.resolves.is_empty() || self.needs_review.contains_key(&sent.record_id) {
            self.needs_review.insert(sent.record_id, needs_review);
        }
        let proposed = (fields != sent.fields).then(|| sent.fields.clone());
        let revision = Revision {
            version: chain.len() as u32 + 1,
            fields,
            superseded_by: None,
            origin: Origin::Central,
            ..sent.clone()
        };
        self.accepted.push(CentralRevision {
            seq: self.accepted.len() as i64 + 1,
            revision,
            outcome,
            conflicts,
            proposed,
        });
        self.chains.entry(sent.record_id).or_default().push(self.accepted.len() - 1);
        if let Some(number) = number {
            self.case_numbers.entry(number).or_insert(sent.record_id);
        }
        self.answer(sent.id).unwrap()
    }

    /// A live record of the lab, other than `sent`'s, with the unique fields a creating (or
    /// restoring) `sent` brings, for kinds of the lab scope with unique fields (cases aside: their
    /// numbers have their knob).
    fn same_unique(&self, sent: &Revision) -> Option<Uuid> {
        let decl = sent.record_kind.decl();
        if decl.unique.is_empty() || decl.scope != labdesk_proto::Scope::Lab {
            return None;
        }
        let own = self.chains.contains_key(&sent.record_id).then(|| self.state(sent.record_id));
        let wanted = match &own {
            None if sent.parent.is_none() => &sent.fields,
            Some(state) if !state["deleted_at"].is_null() && sent.fields.get("deleted_at") == Some(&Value::Null) => {
                state
            }
            _ => return None,
        };
        if sent.record_kind == labdesk_core::RecordKind::Case {
            return None;
        }
        let key = |state: &Map<String, Value>| -> Vec<Value> {
            decl.unique.iter().map(|f| state.get(*f).cloned().unwrap_or(Value::Null)).collect()
        };
        let wanted = key(wanted);
        self.chains.iter().find_map(|(id, chain)| {
            let first = &self.accepted[*chain.first()?].revision;
            let state = self.state(*id);
            let same = first.record_kind == sent.record_kind && state["deleted_at"].is_null() && key(&state) == wanted;
            (same && *id != sent.record_id).then_some(*id)
        })
    }

    /// A record's central state.
    pub fn state(&self, record_id: Uuid) -> Map<String, Value> {
        let mut state = self.fold(self.chains.get(&record_id).map(Vec::as_slice).unwrap_or(&[]));
        state.entry("deleted_at").or_insert(Value::Null);
        state
    }

    /// What the central store asks people to review: every dispute of every conflicted revision
    /// no revision resolves yet.
    pub fn review_state(&self) -> ReviewState {
        let mut review = ReviewState::default();
        for (record, unresolved) in &self.unresolved {
            if !unresolved.is_empty() {
                review.needs_review.insert(*record);
            }
            for id in unresolved {
                let c = self.accepted.iter().find(|c| c.revision.id == *id).unwrap();
                for conflict in &c.conflicts {
                    review.disputes.insert(Dispute::new(
                        *record,
                        &conflict.field,
                        &conflict.kept,
                        &conflict.proposed,
                        *id,
                        &c.revision.author,
                        &c.revision.workstation,
                    ));
                }
            }
        }
        review
    }

    pub fn version(&self, record_id: Uuid) -> u32 {
        self.chains.get(&record_id).map_or(0, |c| c.len() as u32)
    }

    pub fn head(&self) -> i64 {
        self.accepted.len() as i64
    }
}

/// One workstation's connection to the shared fake central store.
#[derive(Clone)]
pub struct FakeTransport {
    pub central: Arc<Mutex<Central>>,
}

impl FakeTransport {
    pub fn new() -> Self {
        Self { central: Arc::new(Mutex::new(Central::default())) }
    }

    /// Another workstation's connection to the same central store.
    pub fn another(&self) -> Self {
        self.clone()
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Central) -> T) -> T {
        f(&mut self.central.lock().unwrap())
    }
}

impl Transport for FakeTransport {
    fn push(&self, request: &PushRequest) -> Result<PushResponse, SyncError> {
        let mut central = self.central.lock().unwrap();
        if central.offline {
            return Err(unreachable());
        }
        central.pushes += 1;
        let results = request.revisions.iter().map(|r| central.take(r)).collect();
        if central.lose_answers > 0 {
            central.lose_answers -= 1;
            return Err(unreachable());
        }
        Ok(PushResponse { results })
    }

    fn pull(&self, after: i64, limit: u32) -> Result<PullPage, SyncError> {
        let mut central = self.central.lock().unwrap();
        if central.offline {
            return Err(unreachable());
        }
        if let Some(left) = central.pages_before_failure {
            if left == 0 {
                return Err(unreachable());
            }
            central.pages_before_failure = Some(left - 1);
        }
        central.pulls += 1;
        let after = usize::try_from(after.max(0)).unwrap();
        let revisions: Vec<CentralRevision> =
            central.accepted.iter().skip(after).take(limit as usize).cloned().collect();
        let next = (after + revisions.len()) as i64;
        let remaining = central.accepted.len() as u64 - next as u64;
        Ok(PullPage { revisions, next, more: remaining > 0, head: central.head(), remaining })
    }

    fn wait(&self, after: i64, timeout: Duration) -> Result<WaitResponse, SyncError> {
        let end = Instant::now() + timeout;
        loop {
            {
                let central = self.central.lock().unwrap();
                if central.offline {
                    return Err(unreachable());
                }
                if central.head() > after || Instant::now() >= end {
                    return Ok(WaitResponse { head: central.head() });
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A fresh in-memory store of workstation `code`, signed in as `user`.
pub fn workstation(code: &str, user: &str) -> Store {
    Store::open_in_memory(OpenOptions { workstation: Some(code.into()), user: Some(user.into()) }).unwrap()
}

pub fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("object literals only"),
    }
}

/// The store passes its consistency check.
pub fn assert_sound(store: &Store, who: &str) {
    let report = store.check(true).unwrap();
    assert!(report.is_ok(), "{who}'s store must pass its consistency check after sync: {:?}", report.problems);
}

/// A record's row as the form chains fold to, read through the store's history (the chain
/// folded), for comparing two workstations.
pub fn folded(store: &Store, record_id: Uuid) -> Map<String, Value> {
    let mut state = Map::new();
    for entry in store.history(record_id).unwrap() {
        apply(&mut state, &entry.revision.fields);
    }
    state.entry("deleted_at").or_insert(Value::Null);
    state
}

/// (version, central_seq) of every revision of a record, in version order.
pub fn chain_positions(store: &Store, record_id: Uuid) -> Vec<(u32, Option<i64>)> {
    let mut stmt = store
        .connection()
        .prepare("SELECT version, central_seq FROM revisions WHERE record_id = ?1 ORDER BY version")
        .unwrap();
    stmt.query_map([record_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

pub fn count(store: &Store, sql: &str) -> i64 {
    store.connection().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Every conflict row of a store with its resolution, to compare workstations.
pub fn conflict_rows(store: &Store) -> Vec<(String, String, String, String, Option<String>)> {
    let mut stmt = store
        .connection()
        .prepare("SELECT revision_id, field, kept, proposed, resolved_by FROM conflicts ORDER BY revision_id, field")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}
