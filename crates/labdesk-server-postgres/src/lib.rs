//! The PostgreSQL central store: [`PgStore`] implements [`SyncStore`] over tokio-postgres with a
//! deadpool pool. The schema is `migrations/server`, embedded and run by [`SyncStore::migrate`].
//!
//! Vocabulary (with [`labdesk_server_database`]'s):
//! - **record row**: `records`, one per record of every kind, its state as JSONB; locked
//!   (`FOR UPDATE`) by the push batch that has revisions of it until that batch commits, so one
//!   record's revisions are decided one at a time, in the order they arrive.
//! - **arrival**: a number from the `revision_arrival` sequence, taken when a revision row is
//!   inserted, after the record row lock.
//! - **seq**: the pull position, `NULL` until the sequencer numbers the revision.
//! - **sequencer**: the short transaction that gives committed revisions their seq.
//!
//! # Push: one transaction per batch
//!
//! A batch is decided in one transaction (`push.rs`), each revision in order and with the same
//! answer one transaction per revision would give it. First, pipelined in one round trip: lock
//! the record rows of the whole batch (`FOR UPDATE`, in id order, so batches sharing records
//! cannot deadlock on them), then — a later statement, a later snapshot — read the answers given
//! before to any revision of the batch (a resend racing with its first send finds them here), and
//! the cases its records belong to. Then, per revision: a revision already answered (before, or
//! earlier in this batch) gets that answer again; otherwise ask
//! [`permit`](labdesk_server_database::permit()), and
//! - record unknown, no `parent` → create it, version 1: *applied*;
//! - `parent` is the record's head → *applied* as version head + 1;
//! - otherwise base = what the author saw (the chain folded up to the parent, or through the
//!   author's unconfirmed parents; no parent: an empty record, for a record two workstations both
//!   created), and `labdesk_proto::merge::merge(kind, base, head, proposed)` decides: *merged*,
//!   or *conflicted* (the record then needs review until a revision `resolves` the conflicted
//!   one);
//! - a `parent` the central store never accepted → *rejected*: only a rejection row is written,
//!   which lets a resend get the same answer. The other revisions of the batch go on.
//!
//! The batch decides against its own view of the records it holds (locked, or created by it),
//! kept as its revisions change them, and writes what it decided with a few array statements
//! (`unnest`), pipelined: the new records (in id order), the new revisions (in decision order, so
//! that `arrival` follows it), the heads they supersede, the changed records. What must be read
//! from the revisions table (a merge base, the revisions a resolution names) makes it write first
//! what it holds of that record. One commit, then the sequencer (below), once per batch.
//!
//! The guarantees of one transaction per revision stay:
//! - *none half-applied, and a bad revision alone*: if the database refuses anything, the whole
//!   transaction rolls back and the batch runs again revision by revision, each in a savepoint; the
//!   revision the database refuses is rolled back alone, those before it commit, and the push
//!   fails at it (as it did: the workstation sends it again; what comes after it may be made on
//!   it, so nothing after it is decided);
//! - *idempotent by revision id*, even against a concurrent resend: existing records are locked
//!   before answers are read; a record the batch creates that another push created meanwhile
//!   (`ON CONFLICT DO NOTHING` inserts fewer rows than decided), or a deadlock, rolls the batch
//!   back and runs it again, up to five times, then answers "unavailable" (503, retried);
//! - *arrival follows version per record*: revisions are inserted under their record's lock, in
//!   order.
//!
//! # Pull: no revision skipped, even with out-of-order commits
//!
//! PostgreSQL hands out sequence values before commit, and transactions commit in any order: a
//! revision numbered 7 can become visible after one numbered 8, and a cursor that moved to 8
//! would never see 7. So a revision gets no pull position when it is inserted, only `arrival`, and
//! a place in the queue `unsequenced` (a trigger puts every inserted revision there). Its position
//! `seq` is given by the **sequencer** (`pull::sequence`), after it committed, as a row of
//! `pull_positions` (schema V4: numbering used to update the revision's own, indexed, row —
//! writing it a second time):
//!
//! 1. `pg_advisory_xact_lock(SEQUENCER_LOCK)` — one sequencer at a time, on every server
//!    instance; the lock is held until this transaction commits;
//! 2. in a *later statement* (so that its READ COMMITTED snapshot is taken after the lock was
//!    granted, and sees everything the previous sequencer run committed): take every committed
//!    revision out of the queue and give it a pull position, in `arrival` order, from a block of
//!    numbers of the `pull_seq` sequence;
//! 3. `NOTIFY labdesk_revisions`, delivered at commit, which wakes long polls on every instance.
//!
//! Why this never skips: runs are serialised by the lock and each commits before the next one
//! takes numbers, so every number a later run gives is greater than every number an earlier run
//! gave, and a run's numbers become visible all at once when it commits. At any moment the
//! numbered revisions a reader sees are therefore exactly those of the runs committed so far: a
//! revision that becomes visible later gets a number greater than any visible now. (A run that
//! fails rolls back and leaves a gap in `pull_seq`; gaps are harmless, skipping is not.) Within a
//! run, numbers follow arrival, and for one record arrival follows version (it is taken under the
//! record lock, which is held until commit), so a record's revisions are pulled in version order.
//!
//! The sequencer runs after every push that stored something, and before every pull and head
//! when anything is unnumbered, on whichever instance serves the request: a revision whose push
//! died between commit and sequencing is numbered by the next request anywhere. A push answers
//! only once its revisions are numbered. An instance's pushes share their runs
//! (`pull::Sequencer`): each waits, on no pooled connection, for a run that began after its
//! commit, so pushes that commit together are numbered by one run rather than queueing one run
//! each on the lock.
//!
//! A pull page is the lab's pull positions `seq > cursor`, in seq order, with their revisions,
//! read in one statement (one snapshot) together with the lab's head and how many remain.
//!
//! # Long polls
//!
//! Each [`PgStore`] keeps one extra connection that `LISTEN`s on `labdesk_revisions` (opened on
//! the first wait) and fans notifications out through a `tokio::sync::watch` channel. A waiter
//! subscribes, reads the lab head, and sleeps until a notification or its timeout; it also
//! re-reads the head every few seconds, so a listener that lost its connection delays a wake-up
//! but never loses it.
//!
//! # Snapshots
//!
//! A lab's snapshot (`snapshots.rs`) is kept as a blob of the lab, in the chunks a download reads,
//! with its row, in one transaction; then only the newest two per lab and schema stay, and the
//! blobs of those dropped go too unless something else names the same bytes. One builder at a
//! time per lab, across instances: the **snapshot lease**, a session advisory lock
//! ([`SNAPSHOT_LOCK`], the lab) on a connection of its own, tried, never waited for.

mod admin;
mod blobs;
mod error;
mod listen;
mod pull;
mod push;
mod schema;
mod snapshots;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use labdesk_proto::sync::{BlobState, PushResult, SnapshotInfo};
use labdesk_proto::Revision;
use labdesk_server_database::{
    Added, Identity, IssuedToken, Lab, PageText, RecordRules, Result, Role, SnapshotLease, StoreError, SyncStore, User,
    Workstation,
};
use tokio_postgres::NoTls;
use uuid::Uuid;

pub use schema::latest_version;

/// The advisory lock key that serialises sequencer runs (ASCII "LDSEQ").
pub const SEQUENCER_LOCK: i64 = 0x004c_4453_4551;
/// The advisory lock key that serialises schema migrations (ASCII "LDMIG").
pub const MIGRATION_LOCK: i64 = 0x004c_444d_4947;
/// The first key of a lab's snapshot lease (ASCII "LDSN"); the second is the lab's, so every lab
/// has a lease of its own. (Two-key advisory locks never meet the one-key ones above.)
pub const SNAPSHOT_LOCK: i32 = 0x4c44_534e;
/// The channel the sequencer notifies after numbering revisions.
pub const CHANNEL: &str = "labdesk_revisions";

/// How long a request waits in line for a pooled connection when all are in use before it is
/// answered "unavailable" (503). A queue, not a refusal: a push holds its connection for one
/// transaction per batch (tens of milliseconds), so fifty workstations pushing at once through
/// 16 connections wait a few batches' time; the line is fair (first come, first served). Well
/// below a workstation's request timeout (60 s), so a request that waits this long still gets an
/// answer, and the workstation retries later.
pub const POOL_WAIT: Duration = Duration::from_secs(30);

/// How a [`PgStore`] uses the database.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Pooled connections at most (the LISTEN connection and the sequencer's come on top).
    pub max_connections: usize,
    /// How long to wait for a new connection to the database (and for a pooled one to be checked)
    /// before the database counts as unavailable. Waiting for a free pooled connection is
    /// [`POOL_WAIT`]: a busy server queues requests, an unreachable database is reported at once.
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self { max_connections: 16, connect_timeout: Duration::from_secs(5) }
    }
}

/// The PostgreSQL central store. Keeps no state of its own beyond connections: any number of
/// instances may serve the same database.
pub struct PgStore {
    pool: Pool,
    listener: Arc<listen::Listener>,
    sequencer: pull::Sequencer,
    /// The rules of one record, checked on what each pushed revision would leave (none: only the
    /// store's own checks, for tests of the store's mechanics).
    rules: Option<Arc<dyn RecordRules>>,
}

impl fmt::Debug for PgStore {
    /// Shows no connection string: it may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgStore").field("max_size", &status.max_size).field("size", &status.size).finish()
    }
}

impl PgStore {
    /// Brings the schema to migration `version` only: for tests that build old databases.
    #[doc(hidden)]
    pub async fn migrate_to(&self, version: i32) -> Result<()> {
        schema::migrate_to(&self.pool, version).await
    }

    /// A store for the database at `url` (`postgres://user@host:port/db`, or the key=value form).
    /// Connects lazily: an unreachable database shows as [`StoreError::Unavailable`] on use.
    pub fn new(url: &str, options: PgOptions) -> Result<Self> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| {
            StoreError::Invalid(format!(
                "the database URL is not a PostgreSQL connection string ({e}); use postgres://USER@HOST:PORT/DATABASE"
            ))
        })?;
        if config.get_application_name().is_none() {
            config.application_name("labdesk-sync");
        }
        config.connect_timeout(options.connect_timeout);
        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT.max(options.connect_timeout)))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot build the connection pool: {e}")))?;
        Ok(Self {
            pool,
            listener: Arc::new(listen::Listener::new(config.clone())),
            sequencer: pull::Sequencer::new(config),
            rules: None,
        })
    }

    /// Checks `rules` on the state every pushed revision would leave, and rejects the revision
    /// when they refuse it.
    #[must_use]
    pub fn with_rules(mut self, rules: Arc<dyn RecordRules>) -> Self {
        self.rules = Some(rules);
        self
    }

    /// The connection pool, for tests and tools that look at the tables directly.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.stop();
    }
}

#[async_trait::async_trait]
impl SyncStore for PgStore {
    #[tracing::instrument(skip_all)]
    async fn migrate(&self) -> Result<Vec<String>> {
        schema::migrate(&self.pool).await
    }

    #[tracing::instrument(skip_all)]
    async fn health(&self) -> Result<()> {
        let client = self.pool.get().await.map_err(error::pool)?;
        client.simple_query("SELECT 1").await.map_err(error::db)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn authenticate(&self, token: &str) -> Result<Option<Identity>> {
        admin::authenticate(&self.pool, token).await
    }

    #[tracing::instrument(skip_all, fields(user = %who.user_name, workstation = %who.workstation_code, revisions = revisions.len()))]
    async fn push(&self, who: &Identity, revisions: Vec<Revision>) -> Result<Vec<PushResult>> {
        push::push(&self.pool, &self.sequencer, who, self.rules.as_deref(), revisions).await
    }

    #[tracing::instrument(skip_all, fields(user = %who.user_name, workstation = %who.workstation_code, after, limit))]
    async fn pull_text(&self, who: &Identity, after: i64, limit: u32) -> Result<PageText> {
        pull::pull_text(&self.pool, who, after, limit).await
    }

    #[tracing::instrument(skip_all, fields(lab = %who.lab_name, hash))]
    async fn blob_state(&self, who: &Identity, hash: &str) -> Result<Option<BlobState>> {
        blobs::blob_state(&self.pool, who, hash).await
    }

    #[tracing::instrument(skip_all, fields(workstation = %who.workstation_code, hash, size, offset, len = bytes.len()))]
    async fn put_blob_chunk(
        &self,
        who: &Identity,
        hash: &str,
        size: u64,
        offset: u64,
        bytes: &[u8],
    ) -> Result<BlobState> {
        blobs::put_chunk(&self.pool, who, hash, size, offset, bytes).await
    }

    #[tracing::instrument(skip_all, fields(workstation = %who.workstation_code, hash, offset, limit))]
    async fn read_blob(&self, who: &Identity, hash: &str, offset: u64, limit: u64) -> Result<Option<Vec<u8>>> {
        blobs::read(&self.pool, who, hash, offset, limit).await
    }

    #[tracing::instrument(skip_all, fields(lab = %who.lab_name))]
    async fn head(&self, who: &Identity) -> Result<i64> {
        pull::head(&self.pool, who).await
    }

    #[tracing::instrument(skip_all, fields(workstation = %who.workstation_code, after, timeout_ms = timeout.as_millis()))]
    async fn wait_for_change(&self, who: &Identity, after: i64, timeout: Duration) -> Result<i64> {
        listen::wait_for_change(&self.listener, &self.pool, who, after, timeout).await
    }

    #[tracing::instrument(skip_all, fields(lab = %who.lab_name, schema))]
    async fn snapshot(&self, who: &Identity, schema: u32) -> Result<Option<SnapshotInfo>> {
        snapshots::newest(&self.pool, who, schema).await
    }

    #[tracing::instrument(skip(self))]
    async fn snapshots_due(&self, schema: u32, every: u64) -> Result<Vec<Lab>> {
        snapshots::due(&self.pool, schema, every).await
    }

    #[tracing::instrument(skip(self))]
    async fn lease_snapshot(&self, lab_id: Uuid) -> Result<Option<SnapshotLease>> {
        snapshots::lease(&self.pool, lab_id).await
    }

    #[tracing::instrument(skip(self, info, file), fields(hash = %info.hash, seq = info.seq, bytes = info.size))]
    async fn save_snapshot(&self, lab_id: Uuid, info: &SnapshotInfo, file: &Path) -> Result<()> {
        snapshots::save(&self.pool, lab_id, info, file).await
    }

    #[tracing::instrument(skip(self))]
    async fn lab(&self, name: &str) -> Result<Lab> {
        admin::lab_named(&self.pool, name).await
    }

    #[tracing::instrument(skip(self))]
    async fn labs(&self) -> Result<Vec<Lab>> {
        admin::labs(&self.pool).await
    }

    #[tracing::instrument(skip(self))]
    async fn add_lab(&self, name: &str) -> Result<Added<Lab>> {
        admin::add_lab(&self.pool, name).await
    }

    #[tracing::instrument(skip(self))]
    async fn add_user(&self, lab: &str, name: &str, role: Option<Role>) -> Result<Added<User>> {
        admin::add_user(&self.pool, lab, name, role).await
    }

    #[tracing::instrument(skip(self))]
    async fn add_workstation(&self, lab: &str, code: &str) -> Result<Added<Workstation>> {
        admin::add_workstation(&self.pool, lab, code).await
    }

    #[tracing::instrument(skip(self))]
    async fn issue_token(&self, user: &str, workstation: &str) -> Result<IssuedToken> {
        admin::issue_token(&self.pool, user, workstation).await
    }

    #[tracing::instrument(skip(self))]
    async fn revoke_tokens(&self, user: &str, workstation: Option<&str>) -> Result<u64> {
        admin::revoke_tokens(&self.pool, user, workstation).await
    }

    #[tracing::instrument(skip(self))]
    async fn set_user_disabled(&self, user: &str, disabled: bool) -> Result<User> {
        admin::set_user_disabled(&self.pool, user, disabled).await
    }
}
