//! Push: one transaction per batch, each revision decided in order under its record's row lock
//! (crate docs, "Push").

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Object, Pool, Transaction};
use futures_util::future::{try_join, try_join4, try_join5};
use labdesk_proto::merge::{apply, merge};
use labdesk_proto::sync::{FieldConflict, Outcome, PushResult};
use labdesk_proto::{RecordKind, Revision};
use labdesk_server_database::permit::case_id;
use labdesk_server_database::{permit, Identity, RecordHead, RecordRules, Result, StoreError};
use serde_json::{Map, Value};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;
use uuid::Uuid;

use crate::error::{corrupt, db, pool as pool_error};
use crate::pull::Sequencer;

/// How many times a batch is run again after it lost a race with another push (a deadlock, or a
/// record that another push created while this one decided to create it) before the push is
/// answered "busy, try again" (503).
const ATTEMPTS: u32 = 5;

/// Takes a batch in order, in one transaction; has what was stored numbered (the sequencer)
/// before answering.
pub(crate) async fn push(
    pool: &Pool,
    sequencer: &Sequencer,
    who: &Identity,
    rules: Option<&dyn RecordRules>,
    revisions: Vec<Revision>,
) -> Result<Vec<PushResult>> {
    let mut client = pool.get().await.map_err(pool_error)?;
    let (answer, stored) = run(&mut client, who, rules, &revisions).await;
    // Back to the pool before waiting for the sequencer, which runs on a connection of its own.
    drop(client);
    if stored {
        match answer {
            // What committed stays (a resend gets the same answers); number it now if the
            // database lets us, else the next request anywhere will.
            Err(_) => {
                let _ = sequencer.after_commit().await;
            }
            Ok(_) => {
                sequencer.after_commit().await?;
            }
        }
    }
    answer
}

/// How a run of the batch goes about its writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Decide every revision against the batch's own view of its records, write the rows of the
    /// whole batch with a few array statements, commit once. A database error anywhere rolls
    /// back everything and the batch runs again in `Careful` mode.
    Fast,
    /// Write each revision as it is decided, inside a savepoint: a revision the database refuses
    /// is rolled back alone, those before it commit, and the push fails at it, as it would have
    /// with one transaction per revision (the workstation sends it again; a revision after it may
    /// be made on it, so none after it is decided).
    Careful,
}

/// Why a run of the batch did not answer every revision.
#[derive(Debug)]
enum Stop {
    /// Rolled back, nothing stored: run the batch again (a race with another push).
    Retry(String),
    /// Rolled back, nothing stored (`Fast` mode): run again in `Careful` mode to find the revision.
    Fallback(StoreError),
    /// The push fails; `stored` says whether revisions were committed before it failed.
    Failed { error: StoreError, stored: bool },
}

/// Runs the batch until it is answered; returns the answer and whether something was stored.
async fn run(
    client: &mut Object,
    who: &Identity,
    rules: Option<&dyn RecordRules>,
    revisions: &[Revision],
) -> (Result<Vec<PushResult>>, bool) {
    let mut mode = Mode::Fast;
    let mut retries = 0;
    loop {
        match run_once(client, who, rules, revisions, mode).await {
            Ok(done) => return (Ok(done.results), done.stored),
            Err(Stop::Retry(why)) => {
                retries += 1;
                if retries >= ATTEMPTS {
                    tracing::warn!(%why, retries, "push batch lost every race; answered busy");
                    return (
                        Err(StoreError::Unavailable(format!(
                            "the central store is busy with other changes to the same records ({why}): try again"
                        ))),
                        false,
                    );
                }
                tracing::debug!(%why, retries, "push batch lost a race with another push; running it again");
            }
            Err(Stop::Fallback(error)) => {
                tracing::warn!(%error, "push batch failed as a whole; running it again revision by revision");
                mode = Mode::Careful;
            }
            Err(Stop::Failed { error, stored }) => return (Err(error), stored),
        }
    }
}

/// Something that stopped a step of the batch.
#[derive(Debug)]
enum Fault {
    /// Lost a race with another push: the whole batch runs again.
    Race(String),
    Store(StoreError),
}

impl From<StoreError> for Fault {
    fn from(e: StoreError) -> Self {
        Fault::Store(e)
    }
}

/// A database error: a deadlock or serialization failure is a race (the transaction is lost
/// but nothing was wrong with the batch), and so is a case number or another unique value that
/// another push took after this batch looked (the unique indexes `records_case_number` and
/// `records_unique_key`: run again, the batch finds it taken and rejects that revision alone);
/// anything else is the store's error.
fn pg(e: tokio_postgres::Error) -> Fault {
    match e.code() {
        Some(code) if *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE => {
            Fault::Race(e.to_string())
        }
        Some(code)
            if *code == SqlState::UNIQUE_VIOLATION
                && e.as_db_error().and_then(|d| d.constraint()) == Some(CASE_NUMBER_INDEX) =>
        {
            Fault::Race(format!("a case number this batch takes was taken meanwhile by another push ({e})"))
        }
        Some(code)
            if *code == SqlState::UNIQUE_VIOLATION
                && e.as_db_error().and_then(|d| d.constraint()) == Some(UNIQUE_KEY_INDEX) =>
        {
            Fault::Race(format!("a unique value this batch takes was taken meanwhile by another push ({e})"))
        }
        _ => Fault::Store(db(e)),
    }
}

/// The unique index of a lab's case numbers (server schema V5).
const CASE_NUMBER_INDEX: &str = "records_case_number";
/// The unique index of the unique fields of a lab's live records, for the kinds that declare
/// them (server schema V7).
const UNIQUE_KEY_INDEX: &str = "records_unique_key";

type Step<T> = std::result::Result<T, Fault>;

/// A batch answered and committed.
struct Done {
    results: Vec<PushResult>,
    stored: bool,
}

/// What one revision came to.
enum Decided {
    /// Answered before (a resend, or the same revision twice in the batch).
    Answered(PushResult),
    /// Stored as a new revision.
    Stored(PushResult),
    Rejected(String),
}

/// One run of the batch in one transaction.
async fn run_once(
    client: &mut Object,
    who: &Identity,
    rules: Option<&dyn RecordRules>,
    revisions: &[Revision],
    mode: Mode,
) -> std::result::Result<Done, Stop> {
    // Before the transaction, outside any failure of it: statements prepared once per connection.
    let statements = Statements::prepare(&*client).await.map_err(|e| stop_whole(e, mode))?;
    let tx = client.transaction().await.map_err(|e| stop_whole(pg(e), mode))?;
    let mut batch = match Batch::open(&tx, &statements, who, rules, revisions).await {
        Ok(batch) => batch,
        Err(e) => return Err(abandon(tx, e, mode).await),
    };
    let mut results = Vec::with_capacity(revisions.len());
    let mut fresh = Vec::with_capacity(revisions.len());
    let mut stored = false;
    for revision in revisions {
        if mode == Mode::Careful {
            if let Err(e) = tx.batch_execute("SAVEPOINT revision").await {
                return Err(abandon(tx, pg(e), mode).await);
            }
        }
        let step = async {
            let decided = batch.decide(&tx, revision).await?;
            // (answer, stored a new revision, decided now rather than answered before)
            let answer = match decided {
                Decided::Answered(answer) => (answer, false, false),
                Decided::Stored(answer) => (answer, true, true),
                Decided::Rejected(reason) => (reject(&tx, who, revision, reason).await?, false, true),
            };
            batch.answered.insert(revision.id, answer.0.clone());
            if mode == Mode::Careful {
                batch.flush(&tx).await?;
                tx.batch_execute("RELEASE SAVEPOINT revision").await.map_err(pg)?;
            }
            Ok::<_, Fault>(answer)
        }
        .await;
        match step {
            Ok((answer, new, decided_now)) => {
                fresh.push(decided_now);
                stored |= new;
                results.push(answer);
            }
            Err(Fault::Store(error)) if mode == Mode::Careful => {
                // This revision alone is undone; those before it commit, as they would have, each
                // in its own transaction.
                let kept = async {
                    tx.batch_execute("ROLLBACK TO SAVEPOINT revision").await?;
                    tx.commit().await
                }
                .await;
                log_decisions(revisions, &results, &fresh);
                return Err(Stop::Failed { error, stored: stored && kept.is_ok() });
            }
            Err(e) => return Err(abandon(tx, e, mode).await),
        }
    }
    if let Err(e) = batch.flush(&tx).await {
        return Err(abandon(tx, e, mode).await);
    }
    if let Err(e) = tx.commit().await {
        return Err(stop_whole(pg(e), mode));
    }
    log_decisions(revisions, &results, &fresh);
    Ok(Done { results, stored })
}

/// Rolls the whole transaction back and says how to go on.
async fn abandon(tx: Transaction<'_>, fault: Fault, mode: Mode) -> Stop {
    let _ = tx.rollback().await;
    stop_whole(fault, mode)
}

fn stop_whole(fault: Fault, mode: Mode) -> Stop {
    match (fault, mode) {
        (Fault::Race(why), _) => Stop::Retry(why),
        // A database out of reach: going revision by revision would not find anything.
        (Fault::Store(error @ StoreError::Unavailable(_)), _) => Stop::Failed { error, stored: false },
        (Fault::Store(error), Mode::Fast) => Stop::Fallback(error),
        (Fault::Store(error), Mode::Careful) => Stop::Failed { error, stored: false },
    }
}

/// Logs what was decided anew, once it has committed.
fn log_decisions(revisions: &[Revision], results: &[PushResult], fresh: &[bool]) {
    for ((revision, answer), _) in revisions.iter().zip(results).zip(fresh).filter(|(_, fresh)| **fresh) {
        match &answer.reason {
            Some(reason) => {
                tracing::info!(revision = %revision.id, record = %revision.record_id, %reason, "revision rejected");
            }
            None => {
                tracing::debug!(revision = %revision.id, record = %revision.record_id, outcome = ?answer.outcome, version = ?answer.version, "revision stored");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The statements

/// The batch's statements, prepared once per connection (`prepare_cached`), all at once.
struct Statements {
    lock: tokio_postgres::Statement,
    numbers: tokio_postgres::Statement,
    answers: tokio_postgres::Statement,
    heads: tokio_postgres::Statement,
    insert_records: tokio_postgres::Statement,
    update_records: tokio_postgres::Statement,
    insert_revisions: tokio_postgres::Statement,
    supersede: tokio_postgres::Statement,
}

/// The records of the batch, locked in id order: two batches that share records lock them in the
/// same order and so cannot deadlock on them.
const LOCK: &str = "SELECT id, kind, lab_id, version, head_revision, state, unresolved FROM records \
                    WHERE id = ANY($1) ORDER BY id FOR UPDATE";

/// The cases of the lab ($1) that have one of the case numbers ($2) the batch's new cases bring,
/// with the patient and the workstation that took each in (for the reason of a rejection). Read
/// unlocked: a case committed after this read makes the batch's insert fail on the unique index,
/// and the batch runs again (`pg`).
const NUMBERS: &str =
    "SELECT r.state ->> 'case_number', r.id, coalesce(r.state ->> 'patient_name', ''), v.workstation \
                         FROM records r JOIN revisions v ON v.record_id = r.id AND v.version = 1 \
                        WHERE r.lab_id = $1 AND r.kind = 'case' AND NOT r.number_clash \
                          AND r.state ->> 'case_number' = ANY($2)";

/// The answers given before to revisions of the batch. Read after LOCK (a later statement, so a
/// later snapshot): a resend racing with its first send finds the first one's answer here.
const ANSWERS: &str = "SELECT id, outcome, version, conflicts, NULL::jsonb AS answered FROM revisions WHERE id = ANY($1) \
                       UNION ALL SELECT revision_id, NULL, NULL, NULL, answered FROM rejections WHERE revision_id = ANY($1)";

/// Records as they are, unlocked: the cases that records of the batch belong to.
const HEADS: &str = "SELECT id, kind, lab_id, version, state FROM records WHERE id = ANY($1)";

/// The records the batch created, as the batch left them, in id order (two batches creating the
/// same derived-id records wait for each other in one order). A record that is there already was
/// created by another push since this one looked: the batch lost a race (RETURNING tells).
const INSERT_RECORDS: &str = "INSERT INTO records (id, kind, lab_id, version, head_revision, state, needs_review, \
         unresolved, created_at, updated_at, updated_by, unique_key) \
     SELECT x.id, x.kind, $3, x.version, x.head_revision, x.state, x.needs_review, x.unresolved::uuid[], x.created_at, \
            x.updated_at, x.updated_by, x.unique_key \
       FROM unnest($1::uuid[], $2::text[], $4::int4[], $5::uuid[], $6::jsonb[], $7::bool[], $8::text[], \
                   $9::timestamptz[], $10::timestamptz[], $11::text[], $12::text[]) \
            AS x(id, kind, version, head_revision, state, needs_review, unresolved, created_at, updated_at, updated_by, \
                 unique_key) \
      ORDER BY x.id \
     ON CONFLICT (id) DO NOTHING RETURNING id";

/// The locked records the batch changed, as the batch left them.
const UPDATE_RECORDS: &str = "UPDATE records r SET version = x.version, head_revision = x.head_revision, \
         state = x.state, needs_review = x.needs_review, unresolved = x.unresolved::uuid[], \
         updated_at = x.updated_at, updated_by = x.updated_by, unique_key = x.unique_key \
       FROM unnest($1::uuid[], $2::int4[], $3::uuid[], $4::jsonb[], $5::bool[], $6::text[], $7::timestamptz[], \
                   $8::text[], $9::text[]) \
            AS x(id, version, head_revision, state, needs_review, unresolved, updated_at, updated_by, unique_key) \
      WHERE r.id = x.id";

/// The batch's new revisions in the order they were decided, so that `arrival` (taken per row as
/// it is inserted) follows it: per record, arrival then follows version. A revision superseded
/// within the batch is inserted with its `superseded_by` (the foreign key is checked at the end
/// of the statement).
const INSERT_REVISIONS: &str = "INSERT INTO revisions (id, record_id, kind, lab_id, version, base_version, parent, \
         previous, fields, proposed, conflicts, resolves, outcome, author, workstation, made_at, pushed_by, \
         parent_unconfirmed, superseded_by) \
     SELECT x.id, x.record_id, x.kind, $17, x.version, x.base_version, x.parent, x.previous, x.fields, x.proposed, \
            x.conflicts, x.resolves::uuid[], x.outcome, x.author, x.workstation, x.made_at, $18, \
            x.parent_unconfirmed, x.superseded_by \
       FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int4[], $5::int4[], $6::uuid[], $7::uuid[], \
                   $8::jsonb[], $9::jsonb[], $10::jsonb[], $11::text[], $12::text[], $13::text[], $14::text[], \
                   $15::timestamptz[], $16::bool[], $19::uuid[]) WITH ORDINALITY \
            AS x(id, record_id, kind, version, base_version, parent, previous, fields, proposed, conflicts, \
                 resolves, outcome, author, workstation, made_at, parent_unconfirmed, superseded_by, n) \
      ORDER BY x.n";

/// The heads that were written before and are superseded now.
const SUPERSEDE: &str = "UPDATE revisions r SET superseded_by = x.next \
       FROM unnest($1::uuid[], $2::uuid[]) AS x(id, next) WHERE r.id = x.id AND r.superseded_by IS NULL";

impl Statements {
    async fn prepare(client: &impl GenericClient) -> Step<Statements> {
        // Polled together: one round trip on a connection's first push, none after.
        let ((lock, numbers, answers, heads), (insert_records, update_records, insert_revisions, supersede)) =
            try_join(
                try_join4(
                    client.prepare_cached(LOCK),
                    client.prepare_cached(NUMBERS),
                    client.prepare_cached(ANSWERS),
                    client.prepare_cached(HEADS),
                ),
                try_join4(
                    client.prepare_cached(INSERT_RECORDS),
                    client.prepare_cached(UPDATE_RECORDS),
                    client.prepare_cached(INSERT_REVISIONS),
                    client.prepare_cached(SUPERSEDE),
                ),
            )
            .await
            .map_err(pg)?;
        Ok(Statements { lock, numbers, answers, heads, insert_records, update_records, insert_revisions, supersede })
    }
}

// ---------------------------------------------------------------------------------------------
// The batch's view of its records

/// A record the batch holds: locked, or created by the batch. The batch's own view of the record
/// row, which the batch writes back at its flushes.
struct Held<'a> {
    head: RecordHead,
    head_revision: Uuid,
    unresolved: Vec<Uuid>,
    updated_at: DateTime<Utc>,
    updated_by: &'a str,
    /// `Some(created_at)` while the record's row is not in the database yet (created by the batch).
    unwritten_row: Option<DateTime<Utc>>,
    /// The row differs from what the database has.
    changed: bool,
    /// Some revision of the record is not in the database yet.
    unwritten_revisions: bool,
}

/// A revision decided but not written yet: the revision as pushed, and what the central store
/// made of it.
struct NewRevision<'a> {
    pushed: &'a Revision,
    version: i32,
    base_version: i32,
    previous: Option<Uuid>,
    /// What took effect (often exactly what was pushed: then borrowed, not copied).
    fields: Cow<'a, Map<String, Value>>,
    /// What was pushed is kept as proposed (a merge changed it).
    proposed: bool,
    conflicts: Value,
    outcome: Outcome,
    made_at: DateTime<Utc>,
    superseded_by: Option<Uuid>,
}

struct Batch<'a> {
    who: &'a Identity,
    rules: Option<&'a dyn RecordRules>,
    statements: &'a Statements,
    /// The case numbers of the lab the batch's new cases bring that a case has: the case's id,
    /// patient and the workstation that took it in. Those the batch creates join it.
    numbers: HashMap<String, TakenNumber>,
    /// The unique fields' values (kind, values as JSON) of the live records of the lab, for the
    /// kinds the batch creates records of that declare unique fields (cases aside: `numbers`),
    /// and the record that has them. Those the batch creates join it. Read unlocked: a record
    /// committed after this read makes the batch's write fail on `records_unique_key`, and the batch
    /// runs again.
    unique: HashMap<(RecordKind, String), Uuid>,
    /// The records of the batch that exist: locked ones and those the batch created.
    held: HashMap<Uuid, Held<'a>>,
    /// Other records, unlocked, as read (cases that records of the batch belong to); `None`: not
    /// found.
    others: HashMap<Uuid, Option<RecordHead>>,
    /// Answers given before the batch, and in it.
    answered: HashMap<Uuid, PushResult>,
    /// Revisions decided and not written yet, in order.
    revisions: Vec<NewRevision<'a>>,
    /// Where each of them is in `revisions`.
    positions: HashMap<Uuid, usize>,
    /// (a head already written, the revision that supersedes it).
    superseded: Vec<(Uuid, Uuid)>,
}

impl<'a> Batch<'a> {
    /// Locks the records of the batch and reads, pipelined in one round trip: the records, the
    /// answers given before, and the cases named by the revisions; then the cases named by the
    /// locked records, if others.
    async fn open(
        tx: &Transaction<'_>,
        statements: &'a Statements,
        who: &'a Identity,
        rules: Option<&'a dyn RecordRules>,
        revisions: &'a [Revision],
    ) -> Step<Batch<'a>> {
        let ids: Vec<Uuid> = revisions.iter().map(|r| r.id).collect();
        let mut records: Vec<Uuid> = revisions.iter().map(|r| r.record_id).collect();
        records.sort_unstable();
        records.dedup();
        let mut cases: Vec<Uuid> = revisions.iter().filter_map(|r| named_case(r.record_kind, None, r)).collect();
        cases.sort_unstable();
        cases.dedup();
        let mut numbers: Vec<&str> = revisions.iter().filter_map(new_case_number).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let taken = async {
            if numbers.is_empty() {
                return Ok(Vec::new());
            }
            tx.query(&statements.numbers, &[&who.lab_id, &numbers]).await
        };
        // Kinds with unique fields that the batch creates or restores records of.
        let mut unique_kinds: Vec<&str> = revisions
            .iter()
            .filter(|r| {
                has_unique(r.record_kind) && (r.parent.is_none() || r.fields.get("deleted_at") == Some(&Value::Null))
            })
            .map(|r| r.record_kind.as_str())
            .collect();
        unique_kinds.sort_unstable();
        unique_kinds.dedup();
        let live = async {
            if unique_kinds.is_empty() {
                return Ok(Vec::new());
            }
            tx.query(LIVE_OF_KINDS, &[&who.lab_id, &unique_kinds]).await
        };
        let (locked, answers, case_rows, taken, live) = try_join5(
            tx.query(&statements.lock, &[&records]),
            tx.query(&statements.answers, &[&ids]),
            tx.query(&statements.heads, &[&cases]),
            taken,
            live,
        )
        .await
        .map_err(pg)?;
        let mut unique = HashMap::with_capacity(live.len());
        for row in &live {
            let id: Uuid = row.get(0);
            let head = record_head(id, row.get(1), who.lab_id, 1, row.get(2))?;
            unique.insert((head.kind, unique_values(head.kind, &head.state)), id);
        }

        let mut batch = Batch {
            who,
            rules,
            statements,
            numbers: taken
                .iter()
                .map(|row| {
                    let taken = TakenNumber { case: row.get(1), patient: row.get(2), workstation: row.get(3) };
                    (row.get::<_, String>(0), taken)
                })
                .collect(),
            unique,
            held: HashMap::with_capacity(records.len()),
            others: HashMap::with_capacity(cases.len()),
            answered: HashMap::with_capacity(revisions.len()),
            revisions: Vec::with_capacity(revisions.len()),
            positions: HashMap::with_capacity(revisions.len()),
            superseded: Vec::new(),
        };
        for row in &answers {
            let answer = answer_from_row(row)?;
            batch.answered.insert(answer.revision_id, answer);
        }
        for row in &locked {
            let id: Uuid = row.get(0);
            let head = record_head(id, row.get(1), row.get(2), row.get(3), row.get(5))?;
            batch.held.insert(
                id,
                Held {
                    head,
                    head_revision: row.get(4),
                    unresolved: row.get(6),
                    // Not read: written back only when the batch changes the record, and then set.
                    updated_at: DateTime::<Utc>::UNIX_EPOCH,
                    updated_by: "",
                    unwritten_row: None,
                    changed: false,
                    unwritten_revisions: false,
                },
            );
        }
        for id in &cases {
            batch.others.insert(*id, None);
        }
        batch.remember_others(&case_rows)?;
        // The cases of locked records that their revisions do not name (an edit carries only what
        // it changes).
        let mut more: Vec<Uuid> = revisions
            .iter()
            .filter_map(|r| named_case(r.record_kind, batch.held.get(&r.record_id).map(|h| &h.head), r))
            .filter(|id| !batch.others.contains_key(id) && !batch.held.contains_key(id))
            .collect();
        more.sort_unstable();
        more.dedup();
        if !more.is_empty() {
            let rows = tx.query(&statements.heads, &[&more]).await.map_err(pg)?;
            for id in &more {
                batch.others.insert(*id, None);
            }
            batch.remember_others(&rows)?;
        }
        Ok(batch)
    }

    fn remember_others(&mut self, rows: &[tokio_postgres::Row]) -> Step<()> {
        for row in rows {
            let id: Uuid = row.get(0);
            let head = record_head(id, row.get(1), row.get(2), row.get(3), row.get(4))?;
            self.others.insert(id, Some(head));
        }
        Ok(())
    }

    /// The record a revision is decided against, as the central store has it now (in this
    /// transaction): the batch's own view if the batch holds it.
    fn record(&self, id: Uuid) -> Option<&RecordHead> {
        match self.held.get(&id) {
            Some(held) => Some(&held.head),
            None => self.others.get(&id).and_then(Option::as_ref),
        }
    }

    /// Makes sure `record` can answer for `id`: a record read as missing is read again now (it
    /// may have been created since, as one revision per transaction would have seen).
    async fn look_up(&mut self, tx: &Transaction<'_>, id: Option<Uuid>) -> Step<()> {
        let Some(id) = id else { return Ok(()) };
        if self.record(id).is_some() {
            return Ok(());
        }
        let rows = tx.query(&self.statements.heads, &[&vec![id]]).await.map_err(pg)?;
        self.remember_others(&rows)
    }

    /// Decides one revision as one transaction per revision would have, in the same order of
    /// checks, so that a revision gets the same answer and the same reason.
    async fn decide(&mut self, tx: &Transaction<'_>, revision: &'a Revision) -> Step<Decided> {
        if let Some(answer) = self.answered.get(&revision.id) {
            return Ok(Decided::Answered(answer.clone()));
        }
        let kind = revision.record_kind;
        let record = revision.record_id;
        if !self.held.contains_key(&record) {
            if let Some(parent) = revision.parent {
                return Ok(Decided::Rejected(unknown_parent(kind, record, parent)));
            }
            let case = named_case(kind, None, revision);
            self.look_up(tx, case).await?;
            if let Err(reason) = permit(self.who, kind, None, case.and_then(|id| self.record(id)), revision) {
                return Ok(Decided::Rejected(reason));
            }
            if !revision.resolves.is_empty() {
                return Ok(Decided::Rejected(not_in_history(kind, &revision.resolves)));
            }
            if let Some(reason) = self.breaks_rules(kind, record, &revision.fields) {
                return Ok(Decided::Rejected(reason));
            }
            if let Some(number) = new_case_number(revision) {
                if let Some(taken) = self.numbers.get(number).filter(|t| t.case != record) {
                    return Ok(Decided::Rejected(number_taken(number, taken)));
                }
            }
            if let Some(key) = unique_key(revision) {
                if let Some(other) = self.unique.get(&key).filter(|other| **other != record) {
                    return Ok(Decided::Rejected(unique_taken(kind, &revision.fields, *other)));
                }
            }
            return Ok(Decided::Stored(self.create(revision)?));
        }

        let case = named_case(kind, self.held.get(&record).map(|h| &h.head), revision);
        self.look_up(tx, case).await?;
        let current = self.held.get(&record).map(|h| &h.head);
        if let Err(reason) = permit(self.who, kind, current, case.and_then(|id| self.record(id)), revision) {
            return Ok(Decided::Rejected(reason));
        }
        if !revision.resolves.is_empty() {
            self.flush_for(tx, record).await?;
            let known = known_revisions(tx, record, &revision.resolves).await?;
            let strangers: Vec<Uuid> = revision.resolves.iter().copied().filter(|id| !known.contains(id)).collect();
            if !strangers.is_empty() {
                return Ok(Decided::Rejected(not_in_history(kind, &strangers)));
            }
        }

        let head_revision = self.held[&record].head_revision;
        // Made on the head, which its author had pulled: applied as it is, no merge base needed.
        let on_pulled_head = revision.parent == Some(head_revision) && !revision.parent_unconfirmed;
        let base = match revision.parent {
            _ if on_pulled_head => None,
            None => Some(Map::new()),
            Some(parent) => {
                self.flush_for(tx, record).await?;
                let Some(base) = author_view(tx, record, parent, revision.parent_unconfirmed).await? else {
                    return Ok(Decided::Rejected(unknown_parent(kind, record, parent)));
                };
                Some(base)
            }
        };
        let held = &self.held[&record];
        // Applied only when the author saw exactly the head: made on the head revision, and that
        // head is what the author's workstation showed (not a merge that mixed in others' changes).
        let applied = on_pulled_head
            || (revision.parent == Some(head_revision)
                && base.as_ref().is_some_and(|b| same_state(b, &held.head.state)));
        let (effective, proposed, conflicts, outcome) = if applied {
            (Cow::Borrowed(&revision.fields), false, Vec::new(), Outcome::Applied)
        } else {
            let base = base.unwrap_or_default();
            let merged = merge(kind, &base, &held.head.state, &revision.fields);
            let outcome = if merged.conflicts.is_empty() { Outcome::Merged } else { Outcome::Conflicted };
            let proposed = merged.effective != revision.fields;
            (Cow::Owned(merged.effective), proposed, merged.conflicts, outcome)
        };
        if self.rules.is_some() {
            let mut next = held.head.state.clone();
            apply(&mut next, &effective);
            if let Some(reason) = self.breaks_rules(kind, record, &next) {
                return Ok(Decided::Rejected(reason));
            }
        }
        // A restore, or a delete, moves the record's unique fields in or out of use.
        if has_unique(kind) {
            let key = (kind, unique_values(kind, &held.head.state));
            match (held.head.state.get("deleted_at").is_some_and(|d| !d.is_null()), effective.get("deleted_at")) {
                (true, Some(Value::Null)) => {
                    if let Some(other) = self.unique.get(&key).filter(|other| **other != record) {
                        return Ok(Decided::Rejected(unique_taken(kind, &held.head.state, *other)));
                    }
                    self.unique.insert(key, record);
                }
                (false, Some(d)) if !d.is_null() && self.unique.get(&key) == Some(&record) => {
                    self.unique.remove(&key);
                }
                _ => {}
            }
        }
        Ok(Decided::Stored(self.append(revision, effective, proposed, conflicts, outcome)?))
    }

    /// The reason the record rules refuse `state` for record `id`, if they do.
    fn breaks_rules(&self, kind: RecordKind, id: Uuid, state: &Map<String, Value>) -> Option<String> {
        self.rules.and_then(|rules| rules.check(kind, id, state).err())
    }

    /// A creating revision: the record at version 1.
    fn create(&mut self, revision: &'a Revision) -> Step<PushResult> {
        if let Some(number) = new_case_number(revision) {
            let taken = TakenNumber {
                case: revision.record_id,
                patient: revision.fields.get("patient_name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                workstation: revision.workstation.clone(),
            };
            self.numbers.insert(number.to_owned(), taken);
        }
        if let Some(key) = unique_key(revision) {
            self.unique.insert(key, revision.record_id);
        }
        let mut state = revision.fields.clone();
        state.entry("deleted_at").or_insert(Value::Null);
        let made_at: DateTime<Utc> = revision.made_at.as_datetime();
        self.held.insert(
            revision.record_id,
            Held {
                head: RecordHead { kind: revision.record_kind, lab_id: self.who.lab_id, version: 1, state },
                head_revision: revision.id,
                unresolved: Vec::new(),
                updated_at: made_at,
                updated_by: &revision.author,
                unwritten_row: Some(made_at),
                changed: true,
                unwritten_revisions: true,
            },
        );
        self.queue(NewRevision {
            pushed: revision,
            version: 1,
            base_version: to_i32(revision.base_version)?,
            previous: None,
            fields: Cow::Borrowed(&revision.fields),
            proposed: false,
            conflicts: Value::Array(Vec::new()),
            outcome: Outcome::Applied,
            made_at,
            superseded_by: None,
        });
        Ok(PushResult {
            revision_id: revision.id,
            outcome: Outcome::Applied,
            version: Some(1),
            reason: None,
            conflicts: Vec::new(),
        })
    }

    /// A revision of a held record: the record's next version.
    fn append(
        &mut self,
        revision: &'a Revision,
        effective: Cow<'a, Map<String, Value>>,
        proposed: bool,
        conflicts: Vec<FieldConflict>,
        outcome: Outcome,
    ) -> Step<PushResult> {
        let made_at: DateTime<Utc> = revision.made_at.as_datetime();
        let held = self
            .held
            .get_mut(&revision.record_id)
            .ok_or_else(|| corrupt(format!("record {} is not held by its batch", revision.record_id)))?;
        let previous = held.head_revision;
        let version = held.head.version + 1;
        apply(&mut held.head.state, &effective);
        held.head.version = version;
        held.head_revision = revision.id;
        held.unresolved.retain(|id| !revision.resolves.contains(id));
        if outcome == Outcome::Conflicted {
            held.unresolved.push(revision.id);
        }
        held.updated_at = made_at;
        held.updated_by = &revision.author;
        held.changed = true;
        held.unwritten_revisions = true;
        let answer = PushResult { revision_id: revision.id, outcome, version: Some(version), reason: None, conflicts };
        let conflicts = serde_json::to_value(&answer.conflicts).map_err(|e| corrupt(e.to_string()))?;
        match self.positions.get(&previous) {
            Some(&at) => self.revisions[at].superseded_by = Some(revision.id),
            None => self.superseded.push((previous, revision.id)),
        }
        self.queue(NewRevision {
            pushed: revision,
            version: to_i32(version)?,
            base_version: to_i32(revision.base_version)?,
            previous: Some(previous),
            fields: effective,
            proposed,
            conflicts,
            outcome,
            made_at,
            superseded_by: None,
        });
        Ok(answer)
    }

    fn queue(&mut self, revision: NewRevision<'a>) {
        self.positions.insert(revision.pushed.id, self.revisions.len());
        self.revisions.push(revision);
    }

    /// Writes what the batch decided so far, if `record` has some of it: what is read from the
    /// revisions table about it must then see it.
    async fn flush_for(&mut self, tx: &Transaction<'_>, record: Uuid) -> Step<()> {
        if self.held.get(&record).is_some_and(|h| h.unwritten_revisions || h.unwritten_row.is_some()) {
            self.flush(tx).await?;
        }
        Ok(())
    }

    /// Writes what the batch decided and did not write yet: four array statements, pipelined
    /// (one round trip). New records go in first (revisions name them), superseded heads after
    /// the revisions that supersede them.
    async fn flush(&mut self, tx: &Transaction<'_>) -> Step<()> {
        let mut new = RecordRows::default();
        let mut changed = RecordRows::default();
        for (id, held) in &self.held {
            if !held.changed {
                continue;
            }
            let rows = if held.unwritten_row.is_some() { &mut new } else { &mut changed };
            rows.push(*id, held)?;
        }
        let revisions = RevisionRows::from(&self.revisions)?;
        let (old, next): (Vec<Uuid>, Vec<Uuid>) = self.superseded.iter().copied().unzip();
        if new.ids.is_empty() && changed.ids.is_empty() && revisions.ids.is_empty() && old.is_empty() {
            return Ok(());
        }
        let s = self.statements;
        let insert_records = async {
            if new.ids.is_empty() {
                return Ok(0);
            }
            let rows = tx
                .query(
                    &s.insert_records,
                    &[
                        &new.ids,
                        &new.kinds,
                        &self.who.lab_id,
                        &new.versions,
                        &new.heads,
                        &new.states,
                        &new.needs_review,
                        &new.unresolved,
                        &new.created_at,
                        &new.updated_at,
                        &new.updated_by,
                        &new.unique_keys,
                    ],
                )
                .await?;
            Ok(rows.len())
        };
        let insert_revisions = async {
            if revisions.ids.is_empty() {
                return Ok(0);
            }
            let r = &revisions;
            tx.execute(
                &s.insert_revisions,
                &[
                    &r.ids,
                    &r.records,
                    &r.kinds,
                    &r.versions,
                    &r.base_versions,
                    &r.parents,
                    &r.previous,
                    &r.fields,
                    &r.proposed,
                    &r.conflicts,
                    &r.resolves,
                    &r.outcomes,
                    &r.authors,
                    &r.workstations,
                    &r.made_at,
                    &r.parent_unconfirmed,
                    &self.who.lab_id,
                    &self.who.user_id,
                    &r.superseded_by,
                ],
            )
            .await
        };
        let supersede = async {
            if old.is_empty() {
                return Ok(0);
            }
            tx.execute(&s.supersede, &[&old, &next]).await
        };
        let update_records = async {
            if changed.ids.is_empty() {
                return Ok(0);
            }
            tx.execute(
                &s.update_records,
                &[
                    &changed.ids,
                    &changed.versions,
                    &changed.heads,
                    &changed.states,
                    &changed.needs_review,
                    &changed.unresolved,
                    &changed.updated_at,
                    &changed.updated_by,
                    &changed.unique_keys,
                ],
            )
            .await
        };
        // Polled together: sent one after the other without waiting, executed in this order.
        let (inserted, _, _, _) =
            try_join4(insert_records, insert_revisions, supersede, update_records).await.map_err(pg)?;
        if inserted != new.ids.len() {
            return Err(Fault::Race(format!(
                "{} of the records this batch creates were created meanwhile by another push",
                new.ids.len() - inserted
            )));
        }
        drop(new);
        drop(changed);
        for held in self.held.values_mut() {
            held.unwritten_row = None;
            held.changed = false;
            held.unwritten_revisions = false;
        }
        self.revisions.clear();
        self.positions.clear();
        self.superseded.clear();
        Ok(())
    }
}

/// The rows of records to write, column by column (for `unnest`).
#[derive(Default)]
struct RecordRows<'b> {
    ids: Vec<Uuid>,
    kinds: Vec<&'static str>,
    versions: Vec<i32>,
    heads: Vec<Uuid>,
    states: Vec<Json<&'b Map<String, Value>>>,
    needs_review: Vec<bool>,
    unresolved: Vec<String>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    updated_by: Vec<&'b str>,
    /// The unique fields' values of a live record of a lab kind that has them (`records_unique_key`).
    unique_keys: Vec<Option<String>>,
}

impl<'b> RecordRows<'b> {
    fn push(&mut self, id: Uuid, held: &'b Held<'_>) -> Step<()> {
        self.ids.push(id);
        self.kinds.push(held.head.kind.as_str());
        self.versions.push(to_i32(held.head.version)?);
        self.heads.push(held.head_revision);
        self.states.push(Json(&held.head.state));
        self.needs_review.push(!held.unresolved.is_empty());
        self.unresolved.push(uuid_array(&held.unresolved));
        self.created_at.push(held.unwritten_row.unwrap_or(held.updated_at));
        self.updated_at.push(held.updated_at);
        self.updated_by.push(held.updated_by);
        let live = held.head.state.get("deleted_at").is_none_or(Value::is_null);
        let kind = held.head.kind;
        self.unique_keys.push((live && has_unique(kind)).then(|| unique_values(kind, &held.head.state)));
        Ok(())
    }
}

/// The revisions to insert, column by column (for `unnest`).
struct RevisionRows<'b> {
    ids: Vec<Uuid>,
    records: Vec<Uuid>,
    kinds: Vec<&'static str>,
    versions: Vec<i32>,
    base_versions: Vec<i32>,
    parents: Vec<Option<Uuid>>,
    previous: Vec<Option<Uuid>>,
    fields: Vec<Json<&'b Map<String, Value>>>,
    proposed: Vec<Option<Json<&'b Map<String, Value>>>>,
    conflicts: Vec<&'b Value>,
    resolves: Vec<String>,
    outcomes: Vec<&'static str>,
    authors: Vec<&'b str>,
    workstations: Vec<&'b str>,
    made_at: Vec<DateTime<Utc>>,
    parent_unconfirmed: Vec<bool>,
    superseded_by: Vec<Option<Uuid>>,
}

impl<'b> RevisionRows<'b> {
    fn from(revisions: &'b [NewRevision<'_>]) -> Step<Self> {
        let n = revisions.len();
        let mut rows = RevisionRows {
            ids: Vec::with_capacity(n),
            records: Vec::with_capacity(n),
            kinds: Vec::with_capacity(n),
            versions: Vec::with_capacity(n),
            base_versions: Vec::with_capacity(n),
            parents: Vec::with_capacity(n),
            previous: Vec::with_capacity(n),
            fields: Vec::with_capacity(n),
            proposed: Vec::with_capacity(n),
            conflicts: Vec::with_capacity(n),
            resolves: Vec::with_capacity(n),
            outcomes: Vec::with_capacity(n),
            authors: Vec::with_capacity(n),
            workstations: Vec::with_capacity(n),
            made_at: Vec::with_capacity(n),
            parent_unconfirmed: Vec::with_capacity(n),
            superseded_by: Vec::with_capacity(n),
        };
        for r in revisions {
            let pushed = r.pushed;
            rows.ids.push(pushed.id);
            rows.records.push(pushed.record_id);
            rows.kinds.push(pushed.record_kind.as_str());
            rows.versions.push(r.version);
            rows.base_versions.push(r.base_version);
            rows.parents.push(pushed.parent);
            rows.previous.push(r.previous);
            rows.fields.push(Json(&r.fields));
            rows.proposed.push(r.proposed.then_some(Json(&pushed.fields)));
            rows.conflicts.push(&r.conflicts);
            rows.resolves.push(uuid_array(&pushed.resolves));
            rows.outcomes.push(outcome_str(r.outcome));
            rows.authors.push(&pushed.author);
            rows.workstations.push(&pushed.workstation);
            rows.made_at.push(r.made_at);
            rows.parent_unconfirmed.push(pushed.parent_unconfirmed);
            rows.superseded_by.push(r.superseded_by);
        }
        Ok(rows)
    }
}

/// A uuid[] as PostgreSQL's text form (`{a,b}`): arrays of arrays do not go through `unnest`, so
/// each row's array travels as text and is cast back.
fn uuid_array(ids: &[Uuid]) -> String {
    let mut text = String::with_capacity(2 + ids.len() * 37);
    text.push('{');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let _ = write!(text, "{id}");
    }
    text.push('}');
    text
}

/// A case of the lab that has a case number: which, whose, taken in where.
struct TakenNumber {
    case: Uuid,
    patient: String,
    workstation: String,
}

/// The case number a creating revision of a case brings (its number is fixed at creation).
fn new_case_number(revision: &Revision) -> Option<&str> {
    if revision.record_kind != RecordKind::Case || revision.parent.is_some() {
        return None;
    }
    revision.fields.get("case_number").and_then(Value::as_str)
}

/// The live records of the lab ($1) of the kinds ($2), with their state: the records a new one
/// with the same unique fields would repeat. Read unlocked, as the case numbers are, and backed
/// as they are by a unique index (`records_unique_key`).
const LIVE_OF_KINDS: &str = "SELECT id, kind, state FROM records \
                             WHERE lab_id = $1 AND kind = ANY($2) AND (state ->> 'deleted_at') IS NULL";

/// A creating revision of a lab's kind with unique fields (cases aside: their numbers have their
/// own check and index): the kind and the values it brings.
fn unique_key(revision: &Revision) -> Option<(RecordKind, String)> {
    if !has_unique(revision.record_kind) || revision.parent.is_some() {
        return None;
    }
    if revision.fields.get("deleted_at").is_some_and(|d| !d.is_null()) {
        return None;
    }
    Some((revision.record_kind, unique_values(revision.record_kind, &revision.fields)))
}

/// Is `kind` one of a lab's kinds whose unique fields name one live record (cases aside)?
fn has_unique(kind: RecordKind) -> bool {
    let decl = kind.decl();
    decl.scope == labdesk_proto::Scope::Lab && kind != RecordKind::Case && !decl.unique.is_empty()
}

/// The values of a kind's unique fields in `state`, as JSON text.
fn unique_values(kind: RecordKind, state: &Map<String, Value>) -> String {
    let values: Vec<&Value> = kind.decl().unique.iter().map(|f| state.get(*f).unwrap_or(&Value::Null)).collect();
    serde_json::to_string(&values).unwrap_or_default()
}

/// Why a new (or restored) record whose unique fields, as in `state`, a live record of the lab
/// has is refused.
fn unique_taken(kind: RecordKind, state: &Map<String, Value>, other: Uuid) -> String {
    let decl = kind.decl();
    let values: Vec<String> = decl
        .unique
        .iter()
        .map(|f| state.get(*f).and_then(Value::as_str).map_or_else(|| (*f).to_owned(), str::to_owned))
        .collect();
    let short = other.simple().to_string();
    format!(
        "the {} {} is already in this lab ({}, made elsewhere): there is one per lab, so this one was not kept; \
         change that one, which the next sync brings here",
        decl.label,
        values.join(" "),
        &short[short.len() - 8..]
    )
}

/// Why a new case with a number another case of the lab has is refused: every workstation's
/// store keeps case numbers unique, deleted cases included, so it could store only one of them.
fn number_taken(number: &str, taken: &TakenNumber) -> String {
    let whose = match (taken.patient.trim(), taken.workstation.as_str()) {
        ("", ws) => format!("taken in at {ws}"),
        (patient, ws) => format!("{patient}, taken in at {ws}"),
    };
    format!(
        "case number {number} is already used by another case in this lab ({whose}): \
         a case number names one case on every workstation; import this case under another number"
    )
}

/// The case a record of `kind` belongs to, if it names one by a valid id.
fn named_case(kind: RecordKind, current: Option<&RecordHead>, revision: &Revision) -> Option<Uuid> {
    case_id(kind, current, revision).and_then(Value::as_str).and_then(|t| Uuid::parse_str(t).ok())
}

fn record_head(id: Uuid, kind: String, lab_id: Uuid, version: i32, state: Value) -> Step<RecordHead> {
    let state = match state {
        Value::Object(map) => map,
        other => return Err(corrupt(format!("record {id} has a state that is not an object: {other}")).into()),
    };
    Ok(RecordHead {
        kind: kind.parse().map_err(|e| corrupt(format!("record {id}: {e}")))?,
        lab_id,
        version: to_u32(version)?,
        state,
    })
}

fn unknown_parent(kind: RecordKind, record: Uuid, parent: Uuid) -> String {
    format!(
        "this change to the {} {record} was made on a change the central store never accepted ({parent}): \
         that change was rejected or never sent, so this one cannot be placed in the record's history; \
         make it again on the record as it is now",
        kind.label()
    )
}

fn not_in_history(kind: RecordKind, ids: &[Uuid]) -> String {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    format!(
        "this change settles conflicts of changes that are not in the {}'s history ({}); \
         pull, then resolve the conflicts that are shown",
        kind.label(),
        ids.join(", ")
    )
}

/// An answer as stored: a row of ANSWERS (id, outcome, version, conflicts, answered).
fn answer_from_row(row: &tokio_postgres::Row) -> Result<PushResult> {
    let id: Uuid = row.get(0);
    if let Some(answered) = row.get::<_, Option<Value>>(4) {
        return serde_json::from_value(answered)
            .map_err(|e| corrupt(format!("the stored answer to revision {id} does not read back: {e}")));
    }
    let outcome: String = row.get(1);
    let version: i32 = row.get(2);
    let conflicts: Value = row.get(3);
    Ok(PushResult {
        revision_id: id,
        outcome: outcome_from_str(&outcome)?,
        version: Some(to_u32(version)?),
        reason: None,
        conflicts: conflicts_from_value(conflicts)?,
    })
}

/// The answer given before to a revision with this id, if any.
async fn stored_answer(client: &impl GenericClient, id: Uuid) -> Step<Option<PushResult>> {
    let statement = client.prepare_cached(ANSWERS).await.map_err(pg)?;
    let rows = client.query(&statement, &[&vec![id]]).await.map_err(pg)?;
    Ok(rows.first().map(answer_from_row).transpose()?)
}

/// Stores a rejection (with the batch's records locked, so a racing resend cannot be accepted
/// meanwhile) and returns the answer stored first.
async fn reject(client: &impl GenericClient, who: &Identity, revision: &Revision, reason: String) -> Step<PushResult> {
    let answer = PushResult {
        revision_id: revision.id,
        outcome: Outcome::Rejected,
        version: None,
        reason: Some(reason.clone()),
        conflicts: Vec::new(),
    };
    let answered = serde_json::to_value(&answer).map_err(|e| corrupt(e.to_string()))?;
    let pushed = serde_json::to_value(revision).map_err(|e| corrupt(e.to_string()))?;
    let statement = client
        .prepare_cached(
            "INSERT INTO rejections (revision_id, record_id, kind, lab_id, pushed_by, reason, answered, revision) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (revision_id) DO NOTHING",
        )
        .await
        .map_err(pg)?;
    let inserted = client
        .execute(
            &statement,
            &[
                &revision.id,
                &revision.record_id,
                &revision.record_kind.as_str(),
                &who.lab_id,
                &who.user_id,
                &reason,
                &answered,
                &pushed,
            ],
        )
        .await
        .map_err(pg)?;
    if inserted == 1 {
        return Ok(answer);
    }
    stored_answer(client, revision.id)
        .await?
        .ok_or_else(|| corrupt(format!("revision {} was rejected but its answer is gone", revision.id)).into())
}

/// Two states are the same when every field has the same value, a missing field counting as null.
fn same_state(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.keys().chain(b.keys()).all(|k| a.get(k).unwrap_or(&Value::Null) == b.get(k).unwrap_or(&Value::Null))
}

/// The record as the author of a change saw it when making it on revision `parent`: the merge
/// base. Usually the central chain folded up to `parent`: the author had pulled it. But where
/// `parent` was the author's own change not yet confirmed (`unconfirmed`), the author saw it as
/// they proposed it, while the central state at its version may have mixed in other people's
/// changes by merging: merging against that would let this change overwrite edits its author never
/// saw. So walk back through unconfirmed parents to the last state the author had pulled, and
/// replay the proposals from there. `None` when a parent is not in this record's central chain.
async fn author_view(
    client: &impl GenericClient,
    record: Uuid,
    parent: Uuid,
    unconfirmed: bool,
) -> Step<Option<Map<String, Value>>> {
    let statement = client
        .prepare_cached(
            "SELECT version, parent, parent_unconfirmed, coalesce(proposed, fields) FROM revisions \
             WHERE id = $1 AND record_id = $2",
        )
        .await
        .map_err(pg)?;
    let mut proposals: Vec<Map<String, Value>> = Vec::new();
    let (mut at, mut walk) = (Some(parent), unconfirmed);
    let mut start = Map::new();
    while let Some(id) = at {
        let Some(row) = client.query_opt(&statement, &[&id, &record]).await.map_err(pg)? else {
            return Ok(None);
        };
        if !walk {
            start = chain_folded(client, record, row.get(0)).await?;
            break;
        }
        match row.get::<_, Value>(3) {
            Value::Object(fields) => proposals.push(fields),
            other => {
                return Err(corrupt(format!("a revision of record {record} proposed {other}, not an object")).into())
            }
        }
        at = row.get(1);
        walk = row.get(2);
    }
    for proposal in proposals.iter().rev() {
        apply(&mut start, proposal);
    }
    Ok(Some(start))
}

/// The record as it was at `version`: its chain folded up to there.
async fn chain_folded(client: &impl GenericClient, record: Uuid, version: i32) -> Step<Map<String, Value>> {
    let statement = client
        .prepare_cached("SELECT fields FROM revisions WHERE record_id = $1 AND version <= $2 ORDER BY version")
        .await
        .map_err(pg)?;
    let mut state = Map::new();
    for row in client.query(&statement, &[&record, &version]).await.map_err(pg)? {
        match row.get::<_, Value>(0) {
            Value::Object(fields) => apply(&mut state, &fields),
            other => {
                return Err(corrupt(format!(
                    "a revision of record {record} has fields that are not an object: {other}"
                ))
                .into())
            }
        }
    }
    Ok(state)
}

async fn known_revisions(client: &impl GenericClient, record: Uuid, ids: &[Uuid]) -> Step<Vec<Uuid>> {
    let statement =
        client.prepare_cached("SELECT id FROM revisions WHERE record_id = $1 AND id = ANY($2)").await.map_err(pg)?;
    Ok(client.query(&statement, &[&record, &ids]).await.map_err(pg)?.iter().map(|row| row.get(0)).collect())
}

pub(crate) fn outcome_str(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Applied => "applied",
        Outcome::Merged => "merged",
        Outcome::Conflicted => "conflicted",
        Outcome::Rejected => "rejected",
    }
}

pub(crate) fn outcome_from_str(text: &str) -> Result<Outcome> {
    Ok(match text {
        "applied" => Outcome::Applied,
        "merged" => Outcome::Merged,
        "conflicted" => Outcome::Conflicted,
        "rejected" => Outcome::Rejected,
        other => return Err(corrupt(format!("'{other}' is not an outcome"))),
    })
}

pub(crate) fn conflicts_from_value(value: Value) -> Result<Vec<FieldConflict>> {
    serde_json::from_value(value).map_err(|e| corrupt(format!("stored conflicts do not read back: {e}")))
}

pub(crate) fn to_u32(version: i32) -> Result<u32> {
    u32::try_from(version).map_err(|_| corrupt(format!("version {version} is negative")))
}

fn to_i32(version: u32) -> Result<i32> {
    i32::try_from(version).map_err(|_| corrupt(format!("version {version} is too large")))
}

#[cfg(test)]
mod tests;
