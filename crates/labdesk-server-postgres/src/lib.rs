//! The PostgreSQL central store: [`PgStore`] implements [`SyncStore`] over tokio-postgres with a
//! deadpool pool. The schema is `migrations/server`, embedded and run by [`SyncStore::migrate`].
//!
//! Vocabulary (with [`labdesk_server_database`]'s):
//! - **record row**: `records`, one per record of every kind, its state as JSONB; locked
//!   (`FOR UPDATE`) while a revision of it is decided, so one record's revisions are decided one
//!   at a time, in the order they arrive.
//! - **arrival**: a number from the `revision_arrival` sequence, taken when a revision row is
//!   inserted, after the record row lock.
//! - **seq**: the pull position, `NULL` until the sequencer numbers the revision.
//! - **sequencer**: the short transaction that gives committed revisions their seq.
//!
//! # Push: one transaction per revision
//!
//! For each revision of a batch, in order (`push.rs`): a revision already answered (in
//! `revisions` or `rejections`) gets the stored answer again. Otherwise, in one transaction:
//! lock the record row; ask [`permit`](labdesk_server_database::permit()); then
//! - record unknown, no `parent` → create it, version 1: *applied*;
//! - `parent` is the record's head → *applied* as version head + 1;
//! - otherwise base = the chain folded up to the parent's version (no parent: an empty record,
//!   for a record two workstations both created), and `labdesk_proto::merge::merge(kind, base,
//!   head, proposed)` decides: *merged*, or *conflicted* (the record then needs review until a
//!   revision `resolves` the conflicted one);
//! - a `parent` the central store never accepted → *rejected*.
//!
//! A rejection rolls the transaction back, so nothing of the revision stays but the rejection
//! row that lets a resend get the same answer. The other revisions of the batch go on.
//!
//! # Pull: no revision skipped, even with out-of-order commits
//!
//! PostgreSQL hands out sequence values before commit, and transactions commit in any order: a
//! revision numbered 7 can become visible after one numbered 8, and a cursor that moved to 8
//! would never see 7. So a revision gets no pull position when it is inserted, only `arrival`.
//! Its position `seq` is given by the **sequencer** (`pull::sequence`), after it committed:
//!
//! 1. `pg_advisory_xact_lock(SEQUENCER_LOCK)` — one sequencer at a time, on every server
//!    instance; the lock is held until this transaction commits;
//! 2. in a *later statement* (so that its READ COMMITTED snapshot is taken after the lock was
//!    granted, and sees everything the previous sequencer run committed): number every committed
//!    revision with `seq IS NULL` (a partial index keeps this cheap) in `arrival` order, with a
//!    block of numbers from the `pull_seq` sequence;
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
//! died between commit and sequencing is numbered by the next request anywhere.
//!
//! A pull page is `seq > cursor` for the caller's lab, in seq order, read in one statement (one
//! snapshot) together with the lab's head and how many remain.
//!
//! # Long polls
//!
//! Each [`PgStore`] keeps one extra connection that `LISTEN`s on `labdesk_revisions` (opened on
//! the first wait) and fans notifications out through a `tokio::sync::watch` channel. A waiter
//! subscribes, reads the lab head, and sleeps until a notification or its timeout; it also
//! re-reads the head every few seconds, so a listener that lost its connection delays a wake-up
//! but never loses it.

mod admin;
mod error;
mod listen;
mod pull;
mod push;
mod schema;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use labdesk_proto::sync::{PullPage, PushResult};
use labdesk_proto::Revision;
use labdesk_server_database::{
    Added, Identity, IssuedToken, Lab, Result, Role, StoreError, SyncStore, User, Workstation,
};
use tokio_postgres::NoTls;

pub use schema::latest_version;

/// The advisory lock key that serialises sequencer runs (ASCII "LDSEQ").
pub const SEQUENCER_LOCK: i64 = 0x004c_4453_4551;
/// The advisory lock key that serialises schema migrations (ASCII "LDMIG").
pub const MIGRATION_LOCK: i64 = 0x004c_444d_4947;
/// The channel the sequencer notifies after numbering revisions.
pub const CHANNEL: &str = "labdesk_revisions";

/// How a [`PgStore`] uses the database.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Pooled connections at most (the LISTEN connection comes on top).
    pub max_connections: usize,
    /// How long to wait for a connection (a new one, or a free one from the pool) before the
    /// database counts as unavailable.
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
}

impl fmt::Debug for PgStore {
    /// Shows no connection string: it may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgStore").field("max_size", &status.max_size).field("size", &status.size).finish()
    }
}

impl PgStore {
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
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot build the connection pool: {e}")))?;
        Ok(Self { pool, listener: Arc::new(listen::Listener::new(config)) })
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
        push::push(&self.pool, who, revisions).await
    }

    #[tracing::instrument(skip_all, fields(user = %who.user_name, workstation = %who.workstation_code, after, limit))]
    async fn pull(&self, who: &Identity, after: i64, limit: u32) -> Result<PullPage> {
        pull::pull(&self.pool, who, after, limit).await
    }

    #[tracing::instrument(skip_all, fields(lab = %who.lab_name))]
    async fn head(&self, who: &Identity) -> Result<i64> {
        pull::head(&self.pool, who).await
    }

    #[tracing::instrument(skip_all, fields(workstation = %who.workstation_code, after, timeout_ms = timeout.as_millis()))]
    async fn wait_for_change(&self, who: &Identity, after: i64, timeout: Duration) -> Result<i64> {
        listen::wait_for_change(&self.listener, &self.pool, who, after, timeout).await
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
