//! Push: one transaction per revision, decided under the record's row lock (crate docs, "Push").

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Object, Pool};
use labdesk_proto::merge::{apply, merge};
use labdesk_proto::sync::{FieldConflict, Outcome, PushResult};
use labdesk_proto::{RecordKind, Revision};
use labdesk_server_database::permit::case_id;
use labdesk_server_database::{permit, Identity, RecordHead, Result};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{corrupt, db, pool as pool_error};
use crate::pull;

/// Takes a batch in order; numbers what was stored (the sequencer) before answering.
pub(crate) async fn push(pool: &Pool, who: &Identity, revisions: Vec<Revision>) -> Result<Vec<PushResult>> {
    let mut client = pool.get().await.map_err(pool_error)?;
    let mut results = Vec::with_capacity(revisions.len());
    let mut stored_any = false;
    for revision in &revisions {
        match push_one(&mut client, who, revision).await {
            Ok((result, stored)) => {
                stored_any |= stored;
                results.push(result);
            }
            Err(e) => {
                // What committed so far stays (a resend gets the same answers); number it now if
                // the database lets us, else the next request anywhere will.
                if stored_any {
                    let _ = pull::sequence(&client).await;
                }
                return Err(e);
            }
        }
    }
    if stored_any {
        pull::sequence(&client).await?;
    }
    Ok(results)
}

/// The record row as a revision is decided against it.
struct Locked {
    head: RecordHead,
    head_revision: Uuid,
    unresolved: Vec<Uuid>,
}

/// What one revision came to.
enum Decided {
    /// Answered before (a resend that raced with the first send).
    Answered(PushResult),
    /// Stored as a new revision.
    Stored(PushResult),
    Rejected(String),
}

/// Returns the answer and whether a new revision was stored.
async fn push_one(client: &mut Object, who: &Identity, revision: &Revision) -> Result<(PushResult, bool)> {
    if let Some(answer) = stored_answer(&*client, revision.id).await? {
        return Ok((answer, false));
    }
    let tx = client.transaction().await.map_err(db)?;
    let decided = decide(&tx, who, revision).await?;
    let (answer, stored) = match decided {
        Decided::Answered(answer) => (answer, false),
        Decided::Stored(answer) => {
            tracing::debug!(revision = %revision.id, record = %revision.record_id, outcome = ?answer.outcome, version = ?answer.version, "revision stored");
            (answer, true)
        }
        Decided::Rejected(reason) => {
            tracing::info!(revision = %revision.id, record = %revision.record_id, %reason, "revision rejected");
            (reject(&tx, who, revision, reason).await?, false)
        }
    };
    tx.commit().await.map_err(db)?;
    Ok((answer, stored))
}

async fn decide(tx: &deadpool_postgres::Transaction<'_>, who: &Identity, revision: &Revision) -> Result<Decided> {
    let kind = revision.record_kind;
    let mut current = lock_record(tx, revision.record_id).await?;
    if current.is_none() {
        if let Some(parent) = revision.parent {
            return Ok(Decided::Rejected(unknown_parent(kind, revision.record_id, parent)));
        }
        let case = owning_case(tx, kind, None, revision).await?;
        if let Err(reason) = permit(who, kind, None, case.as_ref(), revision) {
            return Ok(Decided::Rejected(reason));
        }
        if !revision.resolves.is_empty() {
            return Ok(Decided::Rejected(not_in_history(kind, &revision.resolves)));
        }
        if create_record(tx, who, revision).await? {
            let effective = revision.fields.clone();
            let outcome = Outcome::Applied;
            insert_revision(tx, who, revision, 1, None, &effective, None, &[], outcome).await?;
            return Ok(Decided::Stored(PushResult {
                revision_id: revision.id,
                outcome,
                version: Some(1),
                reason: None,
                conflicts: Vec::new(),
            }));
        }
        // Another workstation created the same record (a derived id) a moment ago: this
        // creating revision now merges into it, below.
        current = lock_record(tx, revision.record_id).await?;
    }
    let Some(current) = current else {
        return Err(corrupt(format!("record {} could not be created nor found", revision.record_id)));
    };
    // Under the lock: a resend racing with its first send finds the first one's answer here.
    if let Some(answer) = stored_answer(tx, revision.id).await? {
        return Ok(Decided::Answered(answer));
    }
    let case = owning_case(tx, kind, Some(&current.head), revision).await?;
    if let Err(reason) = permit(who, kind, Some(&current.head), case.as_ref(), revision) {
        return Ok(Decided::Rejected(reason));
    }
    if !revision.resolves.is_empty() {
        let known = known_revisions(tx, revision.record_id, &revision.resolves).await?;
        let strangers: Vec<Uuid> = revision.resolves.iter().copied().filter(|id| !known.contains(id)).collect();
        if !strangers.is_empty() {
            return Ok(Decided::Rejected(not_in_history(kind, &strangers)));
        }
    }

    let version = current.head.version + 1;
    let base = match revision.parent {
        None => Some(Map::new()),
        Some(parent) => author_view(tx, revision.record_id, parent, revision.parent_unconfirmed).await?,
    };
    let Some(base) = base else {
        let parent = revision.parent.unwrap_or_default();
        return Ok(Decided::Rejected(unknown_parent(kind, revision.record_id, parent)));
    };
    // Applied only when the author saw exactly the head: made on the head revision, and that
    // head is what the author's workstation showed (not a merge that mixed in others' changes).
    let (effective, proposed, conflicts, outcome) = if revision.parent == Some(current.head_revision)
        && (!revision.parent_unconfirmed || same_state(&base, &current.head.state))
    {
        (revision.fields.clone(), None, Vec::new(), Outcome::Applied)
    } else {
        let merged = merge(kind, &base, &current.head.state, &revision.fields);
        let outcome = if merged.conflicts.is_empty() { Outcome::Merged } else { Outcome::Conflicted };
        let proposed = (merged.effective != revision.fields).then(|| revision.fields.clone());
        (merged.effective, proposed, merged.conflicts, outcome)
    };

    let mut state = current.head.state;
    apply(&mut state, &effective);
    let mut unresolved: Vec<Uuid> =
        current.unresolved.into_iter().filter(|id| !revision.resolves.contains(id)).collect();
    if outcome == Outcome::Conflicted {
        unresolved.push(revision.id);
    }
    insert_revision(
        tx,
        who,
        revision,
        version,
        Some(current.head_revision),
        &effective,
        proposed.as_ref(),
        &conflicts,
        outcome,
    )
    .await?;
    tx.execute(
        "UPDATE revisions SET superseded_by = $1 WHERE id = $2 AND superseded_by IS NULL",
        &[&revision.id, &current.head_revision],
    )
    .await
    .map_err(db)?;
    let made_at: DateTime<Utc> = revision.made_at.as_datetime();
    tx.execute(
        "UPDATE records SET version = $2, head_revision = $3, state = $4, needs_review = $5, unresolved = $6, \
         updated_at = $7, updated_by = $8 WHERE id = $1",
        &[
            &revision.record_id,
            &to_i32(version)?,
            &revision.id,
            &Value::Object(state),
            &!unresolved.is_empty(),
            &unresolved,
            &made_at,
            &revision.author,
        ],
    )
    .await
    .map_err(db)?;
    Ok(Decided::Stored(PushResult {
        revision_id: revision.id,
        outcome,
        version: Some(version),
        reason: None,
        conflicts,
    }))
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

/// The answer given before to a revision with this id, if any.
async fn stored_answer(client: &impl GenericClient, id: Uuid) -> Result<Option<PushResult>> {
    let statement = client
        .prepare_cached(
            "SELECT outcome, version, conflicts, NULL::jsonb AS answered FROM revisions WHERE id = $1 \
             UNION ALL SELECT NULL, NULL, NULL, answered FROM rejections WHERE revision_id = $1",
        )
        .await
        .map_err(db)?;
    let Some(row) = client.query_opt(&statement, &[&id]).await.map_err(db)? else {
        return Ok(None);
    };
    if let Some(answered) = row.get::<_, Option<Value>>(3) {
        return serde_json::from_value(answered)
            .map(Some)
            .map_err(|e| corrupt(format!("the stored answer to revision {id} does not read back: {e}")));
    }
    let outcome: String = row.get(0);
    let version: i32 = row.get(1);
    let conflicts: Value = row.get(2);
    Ok(Some(PushResult {
        revision_id: id,
        outcome: outcome_from_str(&outcome)?,
        version: Some(to_u32(version)?),
        reason: None,
        conflicts: conflicts_from_value(conflicts)?,
    }))
}

async fn lock_record(client: &impl GenericClient, id: Uuid) -> Result<Option<Locked>> {
    let statement = client
        .prepare_cached(
            "SELECT kind, lab_id, version, head_revision, state, unresolved FROM records WHERE id = $1 FOR UPDATE",
        )
        .await
        .map_err(db)?;
    let Some(row) = client.query_opt(&statement, &[&id]).await.map_err(db)? else {
        return Ok(None);
    };
    let kind: String = row.get(0);
    let state = match row.get::<_, Value>(4) {
        Value::Object(map) => map,
        other => return Err(corrupt(format!("record {id} has a state that is not an object: {other}"))),
    };
    Ok(Some(Locked {
        head: RecordHead {
            kind: kind.parse().map_err(|e| corrupt(format!("record {id}: {e}")))?,
            lab_id: row.get(1),
            version: to_u32(row.get(2))?,
            state,
        },
        head_revision: row.get(3),
        unresolved: row.get(5),
    }))
}

/// The central record a record's `case_id` names, if it has one and it exists.
async fn owning_case(
    client: &impl GenericClient,
    kind: RecordKind,
    current: Option<&RecordHead>,
    revision: &Revision,
) -> Result<Option<RecordHead>> {
    let Some(id) = case_id(kind, current, revision).and_then(Value::as_str).and_then(|t| Uuid::parse_str(t).ok())
    else {
        return Ok(None);
    };
    let statement =
        client.prepare_cached("SELECT kind, lab_id, version, state FROM records WHERE id = $1").await.map_err(db)?;
    let Some(row) = client.query_opt(&statement, &[&id]).await.map_err(db)? else {
        return Ok(None);
    };
    let kind: String = row.get(0);
    Ok(Some(RecordHead {
        kind: kind.parse().map_err(|e| corrupt(format!("record {id}: {e}")))?,
        lab_id: row.get(1),
        version: to_u32(row.get(2))?,
        state: match row.get::<_, Value>(3) {
            Value::Object(map) => map,
            _ => Map::new(),
        },
    }))
}

/// Inserts the record row of a creating revision; false if the record exists already (another
/// workstation created it meanwhile).
async fn create_record(client: &impl GenericClient, who: &Identity, revision: &Revision) -> Result<bool> {
    let mut state = revision.fields.clone();
    state.entry("deleted_at").or_insert(Value::Null);
    let made_at: DateTime<Utc> = revision.made_at.as_datetime();
    let statement = client
        .prepare_cached(
            "INSERT INTO records (id, kind, lab_id, version, head_revision, state, created_at, updated_at, updated_by) \
             VALUES ($1, $2, $3, 1, $4, $5, $6, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .await
        .map_err(db)?;
    let inserted = client
        .execute(
            &statement,
            &[
                &revision.record_id,
                &revision.record_kind.as_str(),
                &who.lab_id,
                &revision.id,
                &Value::Object(state),
                &made_at,
                &revision.author,
            ],
        )
        .await
        .map_err(db)?;
    Ok(inserted == 1)
}

#[allow(clippy::too_many_arguments)]
async fn insert_revision(
    client: &impl GenericClient,
    who: &Identity,
    revision: &Revision,
    version: u32,
    previous: Option<Uuid>,
    effective: &Map<String, Value>,
    proposed: Option<&Map<String, Value>>,
    conflicts: &[FieldConflict],
    outcome: Outcome,
) -> Result<()> {
    let made_at: DateTime<Utc> = revision.made_at.as_datetime();
    let conflicts = serde_json::to_value(conflicts).map_err(|e| corrupt(e.to_string()))?;
    let statement = client
        .prepare_cached(
            "INSERT INTO revisions (id, record_id, kind, lab_id, version, base_version, parent, previous, fields, \
             proposed, conflicts, resolves, outcome, author, workstation, made_at, pushed_by, parent_unconfirmed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .await
        .map_err(db)?;
    client
        .execute(
            &statement,
            &[
                &revision.id,
                &revision.record_id,
                &revision.record_kind.as_str(),
                &who.lab_id,
                &to_i32(version)?,
                &to_i32(revision.base_version)?,
                &revision.parent,
                &previous,
                &Value::Object(effective.clone()),
                &proposed.map(|p| Value::Object(p.clone())),
                &conflicts,
                &revision.resolves,
                &outcome_str(outcome),
                &revision.author,
                &revision.workstation,
                &made_at,
                &who.user_id,
                &revision.parent_unconfirmed,
            ],
        )
        .await
        .map_err(db)?;
    Ok(())
}

/// Stores a rejection (under the record lock, so a racing resend cannot be accepted meanwhile)
/// and returns the answer stored first.
async fn reject(
    client: &impl GenericClient,
    who: &Identity,
    revision: &Revision,
    reason: String,
) -> Result<PushResult> {
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
        .map_err(db)?;
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
        .map_err(db)?;
    if inserted == 1 {
        return Ok(answer);
    }
    stored_answer(client, revision.id)
        .await?
        .ok_or_else(|| corrupt(format!("revision {} was rejected but its answer is gone", revision.id)))
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
) -> Result<Option<Map<String, Value>>> {
    let statement = client
        .prepare_cached(
            "SELECT version, parent, parent_unconfirmed, coalesce(proposed, fields) FROM revisions \
             WHERE id = $1 AND record_id = $2",
        )
        .await
        .map_err(db)?;
    let mut proposals: Vec<Map<String, Value>> = Vec::new();
    let (mut at, mut walk) = (Some(parent), unconfirmed);
    let mut start = Map::new();
    while let Some(id) = at {
        let Some(row) = client.query_opt(&statement, &[&id, &record]).await.map_err(db)? else {
            return Ok(None);
        };
        if !walk {
            start = chain_folded(client, record, row.get(0)).await?;
            break;
        }
        match row.get::<_, Value>(3) {
            Value::Object(fields) => proposals.push(fields),
            other => return Err(corrupt(format!("a revision of record {record} proposed {other}, not an object"))),
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
async fn chain_folded(client: &impl GenericClient, record: Uuid, version: i32) -> Result<Map<String, Value>> {
    let statement = client
        .prepare_cached("SELECT fields FROM revisions WHERE record_id = $1 AND version <= $2 ORDER BY version")
        .await
        .map_err(db)?;
    let mut state = Map::new();
    for row in client.query(&statement, &[&record, &version]).await.map_err(db)? {
        match row.get::<_, Value>(0) {
            Value::Object(fields) => apply(&mut state, &fields),
            other => {
                return Err(corrupt(format!(
                    "a revision of record {record} has fields that are not an object: {other}"
                )))
            }
        }
    }
    Ok(state)
}

async fn known_revisions(client: &impl GenericClient, record: Uuid, ids: &[Uuid]) -> Result<Vec<Uuid>> {
    let statement =
        client.prepare_cached("SELECT id FROM revisions WHERE record_id = $1 AND id = ANY($2)").await.map_err(db)?;
    Ok(client.query(&statement, &[&record, &ids]).await.map_err(db)?.iter().map(|row| row.get(0)).collect())
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
