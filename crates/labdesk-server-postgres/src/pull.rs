//! The sequencer, pull pages and a lab's head (crate docs, "Pull: no revision skipped").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use deadpool_postgres::{GenericClient, Object, Pool};
use labdesk_proto::sync::Outcome;
#[cfg(doc)]
use labdesk_proto::sync::PullPage;
use labdesk_proto::{Origin, RecordKind, Timestamp};
use labdesk_server_database::{Identity, PageText, Result};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio_postgres::{NoTls, SimpleQueryMessage};
use uuid::Uuid;

use crate::error::{corrupt, db, pool as pool_error};
use crate::push::{outcome_from_str, to_u32};
use crate::{CHANNEL, SEQUENCER_LOCK};

/// One sequencer run, sent as one simple query so that the lock is held for no client round
/// trip. Statement by statement:
/// - the advisory lock, alone: the next statement's snapshot is then taken after it is granted
///   and sees every number the previous run committed;
/// - `todo`: the committed, unnumbered revisions, taken out of the queue (`unsequenced`, schema
///   V4), ranked by arrival; uncommitted ones are invisible here and wait for a later run;
/// - `block`: one `nextval` plus a `setval` past the whole block, so the numbers follow the rank
///   exactly (MATERIALIZED: the sequence calls run once; no rows, no numbers taken);
/// - the INSERT gives each its pull position, and `pg_notify` (delivered at COMMIT) wakes long
///   polls.
static SEQUENCER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "BEGIN;
SELECT pg_advisory_xact_lock({SEQUENCER_LOCK});
WITH todo AS MATERIALIZED (
    DELETE FROM unsequenced RETURNING arrival, revision_id, lab_id
), ranked AS MATERIALIZED (
    SELECT revision_id, lab_id, row_number() OVER (ORDER BY arrival) AS n FROM todo
), block AS MATERIALIZED (
    SELECT setval('pull_seq', nextval('pull_seq') + count(*) - 1) - count(*) AS base FROM ranked HAVING count(*) > 0
), numbered AS (
    INSERT INTO pull_positions (seq, lab_id, revision_id)
    SELECT block.base + ranked.n, ranked.lab_id, ranked.revision_id FROM ranked, block RETURNING seq
)
SELECT count(*) AS numbered, coalesce(max(seq), 0) AS last,
       CASE WHEN count(*) > 0 THEN pg_notify('{CHANNEL}', max(seq)::text) END AS notified
  FROM numbered;
COMMIT;"
    )
});

/// Runs the sequencer; returns how many revisions it numbered.
pub(crate) async fn sequence(client: &tokio_postgres::Client) -> Result<u64> {
    let messages = match client.simple_query(&SEQUENCER).await {
        Ok(messages) => messages,
        Err(e) => {
            // The statements after a failed one were skipped, COMMIT too: leave no aborted
            // transaction on a connection that goes back to the pool.
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(db(e));
        }
    };
    let numbered = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) if row.len() == 3 => row.get(0),
            _ => None,
        })
        .next_back()
        .ok_or_else(|| corrupt("the sequencer returned no count"))?;
    let numbered: u64 = numbered.parse().map_err(|_| corrupt(format!("the sequencer counted '{numbered}'")))?;
    if numbered > 0 {
        tracing::debug!(numbered, "sequencer numbered revisions");
    }
    Ok(numbered)
}

/// How many times a push's sequencer run is tried before the push reports the failure (what
/// committed stays, and the next run anywhere numbers it).
const SEQUENCER_ATTEMPTS: u32 = 6;

/// The sequencer runs of one store (server instance) after its pushes, combined: a push that
/// committed waits until *a* run that began after its commit has finished, whoever ran it. Pushes
/// that commit while a run is under way are all numbered by the next one, so under load there is
/// about one run per batch of pushes instead of one per push, each push waiting for at most the
/// run under way and the next, not for a queue of runs on the advisory lock. The runs themselves
/// are the same sequencer (the advisory lock still orders them with other instances' runs and
/// with those before pulls), on a connection of their own: a push gives its pooled connection
/// back before it waits.
#[derive(Debug)]
pub(crate) struct Sequencer {
    config: tokio_postgres::Config,
    /// Commits reported so far (a counter; each push takes the next number as its ticket).
    committed: AtomicU64,
    /// Every ticket up to this was numbered by a finished run.
    numbered: AtomicU64,
    /// The runs' connection; holding the lock is being the one that runs.
    connection: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
}

impl Sequencer {
    pub(crate) fn new(config: tokio_postgres::Config) -> Self {
        Self {
            config,
            committed: AtomicU64::new(0),
            numbered: AtomicU64::new(0),
            connection: tokio::sync::Mutex::new(None),
        }
    }

    /// Returns once what the caller committed before calling has its pull positions.
    pub(crate) async fn after_commit(&self) -> Result<()> {
        // Taken after the commit: a run that reads `committed` at or past this ticket read it
        // after the commit, and its numbering statement (later still) sees the commit.
        let ticket = self.committed.fetch_add(1, Ordering::SeqCst) + 1;
        // Waiters queue here in order; each finds out in turn whether a run covered it already.
        let mut connection = self.connection.lock().await;
        if self.numbered.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        let covers = self.committed.load(Ordering::SeqCst);
        // Again if the run fails: a run can be chosen as a deadlock's victim (it updates rows a
        // push may hold, waiting for rows it numbered) — under contention, several times in a row
        // (seen in CI with two instances pushing the same records) — or find its connection gone.
        // Each try waits a little longer, so that the pushes in its way can finish.
        let mut ran = self.run(&mut connection).await;
        for attempt in 1..SEQUENCER_ATTEMPTS {
            let Err(e) = &ran else { break };
            tracing::debug!(error = %e, attempt, "a sequencer run failed; running it again");
            tokio::time::sleep(std::time::Duration::from_millis(5 << attempt)).await;
            ran = self.run(&mut connection).await;
        }
        ran?;
        self.numbered.fetch_max(covers, Ordering::SeqCst);
        Ok(())
    }

    /// One run on the sequencer's connection, (re)connected when needed.
    async fn run(&self, connection: &mut Option<tokio_postgres::Client>) -> Result<u64> {
        let client = match connection.take() {
            Some(client) if !client.is_closed() => client,
            _ => {
                let (client, link) = self.config.connect(NoTls).await.map_err(db)?;
                tokio::spawn(async move {
                    if let Err(e) = link.await {
                        tracing::debug!(error = %e, "the sequencer's connection ended");
                    }
                });
                client
            }
        };
        let ran = sequence(&client).await;
        *connection = Some(client);
        ran
    }
}

/// Runs the sequencer when some committed revision still waits for its number (a push that
/// died between its commit and its sequencer run, or one still running its run).
async fn sequence_if_needed(client: &Object) -> Result<()> {
    let statement = client.prepare_cached("SELECT EXISTS (SELECT 1 FROM unsequenced)").await.map_err(db)?;
    let waiting: bool = client.query_one(&statement, &[]).await.map_err(db)?.get(0);
    if waiting {
        sequence(client).await?;
    }
    Ok(())
}

pub(crate) async fn head(pool: &Pool, who: &Identity) -> Result<i64> {
    let client = pool.get().await.map_err(pool_error)?;
    sequence_if_needed(&client).await?;
    lab_head(&client, who.lab_id).await
}

pub(crate) async fn lab_head(client: &impl GenericClient, lab: Uuid) -> Result<i64> {
    let statement = client
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM pull_positions WHERE lab_id = $1")
        .await
        .map_err(db)?;
    Ok(client.query_one(&statement, &[&lab]).await.map_err(db)?.get(0))
}

/// One page after `after` as JSON text, with the head and what remains, all read in one
/// statement (one snapshot), so they agree with each other.
///
/// The stored JSON (`fields`, `proposed`, `conflicts`) goes into the page as PostgreSQL writes it
/// out: reading it into values only to write it again was most of a bootstrap's cost here.
pub(crate) async fn pull_text(pool: &Pool, who: &Identity, after: i64, limit: u32) -> Result<PageText> {
    let client = pool.get().await.map_err(pool_error)?;
    sequence_if_needed(&client).await?;
    let statement = client
        .prepare_cached(
            "WITH page AS (
                SELECT p.seq, r.id, r.kind, r.record_id, r.version, r.parent, r.base_version, r.fields::text,
                       r.author, r.workstation, r.made_at, r.resolves, r.superseded_by, r.outcome, r.conflicts::text,
                       r.proposed::text, r.parent_unconfirmed
                  FROM (SELECT seq, revision_id FROM pull_positions WHERE lab_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) p
                  JOIN revisions r ON r.id = p.revision_id
            ), stats AS (
                SELECT (SELECT coalesce(max(seq), 0) FROM pull_positions WHERE lab_id = $1) AS head
            )
            SELECT stats.head, 0::bigint, page.* FROM stats LEFT JOIN page ON true ORDER BY page.seq",
        )
        .await
        .map_err(db)?;
    let rows = client.query(&statement, &[&who.lab_id, &after, &i64::from(limit)]).await.map_err(db)?;
    let mut head = after;
    let mut revisions = Vec::with_capacity(rows.len());
    for row in &rows {
        head = row.get(0);
        let Some(seq) = row.get::<_, Option<i64>>(2) else {
            continue; // an empty page: one row of stats only
        };
        revisions.push(central_revision(row, seq)?);
    }
    let next = revisions.last().map_or(after, |r| r.seq);
    // The head is the lab's newest position in this same snapshot, so "more" is exact. An exact
    // count of what remains would read every later revision on every page (quadratic over a
    // bootstrap: the sync benchmark measured 100+ ms a page at a million revisions); the distance
    // to the head is free and, since positions are shared by all labs, an upper bound: enough
    // for a progress bar.
    let remaining = u64::try_from(head - next).unwrap_or(0);
    let page = Page { revisions, next, more: next < head, head, remaining };
    let json = serde_json::to_string(&page).map_err(|e| corrupt(format!("a pull page could not be written: {e}")))?;
    Ok(PageText { head, json })
}

/// [`PullPage`] as the server writes it: the same fields in the same order, the stored JSON as it
/// was read (the store's tests read every page back as a [`PullPage`]).
#[derive(Serialize)]
struct Page<'a> {
    revisions: Vec<Central<'a>>,
    next: i64,
    more: bool,
    head: i64,
    remaining: u64,
}

/// [`labdesk_proto::sync::CentralRevision`] as the server writes it.
#[derive(Serialize)]
struct Central<'a> {
    seq: i64,
    revision: PulledRevision<'a>,
    outcome: Outcome,
    conflicts: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    proposed: Option<&'a RawValue>,
}

/// [`labdesk_proto::Revision`] as the server writes it.
#[derive(Serialize)]
struct PulledRevision<'a> {
    id: Uuid,
    record_kind: RecordKind,
    record_id: Uuid,
    version: u32,
    base_version: u32,
    parent: Option<Uuid>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    parent_unconfirmed: bool,
    fields: &'a RawValue,
    author: &'a str,
    workstation: &'a str,
    made_at: Timestamp,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resolves: Vec<Uuid>,
    superseded_by: Option<Uuid>,
    origin: Origin,
}

/// A stored revision as a pull page shows it: `version` as the central store assigned it and
/// `fields` as they took effect; `parent` and `base_version` stay what the workstation sent (what
/// the change was made on), so a workstation knows its made-on revision; its place in the chain
/// is its version.
fn central_revision(row: &tokio_postgres::Row, seq: i64) -> Result<Central<'_>> {
    let id: Uuid = row.get(3);
    let kind: &str = row.get(4);
    let kind: RecordKind = kind.parse().map_err(|e| corrupt(format!("revision {id}: {e}")))?;
    let json = |column: usize, what: &str| -> Result<&RawValue> {
        serde_json::from_str(row.get(column))
            .map_err(|e| corrupt(format!("revision {id}: its {what} do not read: {e}")))
    };
    let fields = json(9, "fields")?;
    if !fields.get().starts_with('{') {
        return Err(corrupt(format!("revision {id} has fields that are not an object: {fields}")));
    }
    let proposed = match row.get::<_, Option<&str>>(17) {
        None | Some("null") => None,
        Some(_) => Some(json(17, "proposed fields")?),
    };
    let made_at: chrono::DateTime<chrono::Utc> = row.get(12);
    Ok(Central {
        seq,
        revision: PulledRevision {
            id,
            record_kind: kind,
            record_id: row.get(5),
            version: to_u32(row.get(6))?,
            base_version: to_u32(row.get(8))?,
            parent: row.get(7),
            parent_unconfirmed: row.get(18),
            fields,
            author: row.get(10),
            workstation: row.get(11),
            made_at: Timestamp::from_datetime(made_at),
            resolves: row.get(13),
            superseded_by: row.get(14),
            origin: Origin::Central,
        },
        outcome: outcome_from_str(row.get(15))?,
        conflicts: json(16, "conflicts")?,
        proposed,
    })
}
