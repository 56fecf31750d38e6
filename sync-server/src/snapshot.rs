//! Lab snapshots, the server's half: building them, and the builder that keeps them fresh.
//!
//! Vocabulary (with `labdesk_server_database`'s snapshot and snapshot lease):
//! - **build**: [`build_and_save`]: under the lab's lease, the client core's own bootstrap
//!   (`labdesk_core::sync::build_snapshot`) fills a fresh workstation store in a temporary folder
//!   (in `TMPDIR`) from the central store in this process ([`StoreTransport`]: no HTTP, no
//!   token): it takes the lab's newest snapshot, as any fresh workstation does, and pulls the
//!   pages after it (the lab's whole history when there is none yet); the store keeps the file as
//!   a blob with its row; the folder is removed whatever happened.
//! - **due**: a lab has [`SnapshotPolicy::every`] revisions or more after its newest snapshot for
//!   this build's workstation schema (or that many at all, and no snapshot yet).
//! - **builder**: the task [`crate::serve`] runs beside the API: every [`SnapshotPolicy::check`] it
//!   builds the snapshot of each lab that is due, one after the other. Several instances on one
//!   database share the work through the leases: a lab one of them is building, the others skip.
//!
//! Why the workstation's own code: a snapshot must be exactly the store a workstation's bootstrap
//! would have made, at the workstation's schema, and only that code knows it. A build costs what
//! one workstation's bootstrap costs (tens of seconds, and a store file of hundreds of megabytes,
//! for a lab of a million revisions), once for every fresh workstation after it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use labdesk_core::sync::{build_snapshot, snapshot_schema, SyncError, Transport};
use labdesk_proto::sync::{PullPage, PushRequest, PushResponse, SnapshotInfo, WaitResponse};
use labdesk_server_database::{Identity, Lab, StoreError, SyncStore};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::AppState;

/// Build a lab's snapshot once it has this many revisions more than its newest one: about what a
/// busy lab makes in a day or two, so that a fresh workstation pulls at most that many after it.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 10_000;
/// How often the builder looks for labs whose snapshot is due.
pub const DEFAULT_SNAPSHOT_CHECK: Duration = Duration::from_secs(10 * 60);

/// When the builder builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// A lab's snapshot is due once it has this many revisions more than its newest one. 0: the
    /// builder builds none (`labdesk-sync snapshot` still does).
    pub every: u64,
    /// How often the builder looks for labs whose snapshot is due.
    pub check: Duration,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self { every: DEFAULT_SNAPSHOT_EVERY, check: DEFAULT_SNAPSHOT_CHECK }
    }
}

/// What [`build_and_save`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Built {
    /// Built and kept: the lab's newest snapshot now.
    Snapshot(SnapshotInfo),
    /// The lab has no revisions yet: nothing to snapshot.
    Empty,
    /// Someone else (another instance, or an admin command) is building the lab's snapshot now.
    Busy,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("building the snapshot of {lab} failed: {source}")]
    Build { lab: String, source: SyncError },

    #[error("cannot make a folder to build the snapshot of {lab} in (TMPDIR, else /tmp): {source}")]
    Folder { lab: String, source: std::io::Error },

    /// The build's thread ended without an answer (a panic in the build: a bug).
    #[error("the snapshot build of {lab} stopped unexpectedly: {detail}")]
    Stopped { lab: String, detail: String },
}

/// Builds `lab`'s snapshot now and keeps it (module docs). Blocking work runs on tokio's blocking
/// threads: call it from async code, on a multi-threaded runtime or under `Runtime::block_on`.
pub async fn build_and_save(store: &Arc<dyn SyncStore>, lab: &Lab) -> Result<Built, SnapshotError> {
    build_and_save_until(store, lab, Start::Newest, &CancellationToken::new()).await
}

/// Where a build starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// From the lab's newest snapshot, pulling what came after it (from nothing when there is
    /// none): the builder's way, a fraction of a build from nothing for a large lab.
    Newest,
    /// From the central store alone, whatever snapshots there are: a snapshot passes on what the
    /// one it started from held, and this starts the line again (`labdesk-sync snapshot
    /// --from-scratch`).
    Scratch,
}

/// [`build_and_save`], giving up (with an error, and leaving nothing behind) once `stop` is
/// cancelled.
#[tracing::instrument(name = "snapshot.build", skip_all, fields(lab = %lab.name))]
pub async fn build_and_save_until(
    store: &Arc<dyn SyncStore>,
    lab: &Lab,
    start: Start,
    stop: &CancellationToken,
) -> Result<Built, SnapshotError> {
    let Some(lease) = store.lease_snapshot(lab.id).await? else {
        return Ok(Built::Busy);
    };
    let who = Identity::snapshot_builder(lab);
    if store.head(&who).await? == 0 {
        return Ok(Built::Empty);
    }
    let folder = tempfile::Builder::new()
        .prefix("labdesk-snapshot-")
        .tempdir()
        .map_err(|source| SnapshotError::Folder { lab: lab.name.clone(), source })?;
    let transport =
        StoreTransport { store: Arc::clone(store), who, start, runtime: Handle::current(), stop: stop.clone() };
    let path = folder.path().to_owned();
    let built = tokio::task::spawn_blocking(move || build_snapshot(&path, &transport)).await;
    let saved = match built {
        Ok(Ok(built)) => store
            .save_snapshot(lab.id, &built.info, &built.file)
            .await
            .map(|()| built.info)
            .map_err(SnapshotError::from),
        Ok(Err(source)) => Err(SnapshotError::Build { lab: lab.name.clone(), source }),
        Err(e) => Err(SnapshotError::Stopped { lab: lab.name.clone(), detail: e.to_string() }),
    };
    drop(lease);
    remove(folder).await;
    saved.map(Built::Snapshot)
}

/// Removes a build's folder (hundreds of megabytes) on a blocking thread; a failure is logged, not
/// returned: the snapshot is kept either way.
async fn remove(folder: tempfile::TempDir) {
    let path: PathBuf = folder.path().to_owned();
    match tokio::task::spawn_blocking(move || folder.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(folder = %path.display(), error = %e, "cannot remove a snapshot build's folder"),
        Err(e) => tracing::warn!(folder = %path.display(), error = %e, "cannot remove a snapshot build's folder"),
    }
}

/// The central store as a bootstrapping workstation's [`Transport`], in this process: a lab's
/// pages read straight from the [`SyncStore`] as [`Identity::snapshot_builder`]. Called on a
/// blocking thread (the build's, and the bootstrap's own fetch thread), it runs each store call on
/// the server's runtime and waits for it.
struct StoreTransport {
    store: Arc<dyn SyncStore>,
    who: Identity,
    start: Start,
    runtime: Handle,
    /// Cancelled: every call fails at once, so a build under way ends quickly.
    stop: CancellationToken,
}

impl StoreTransport {
    fn call<T>(&self, call: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, SyncError> {
        let stopping = || SyncError::Unavailable {
            url: self.address(),
            status: 503,
            message: "the sync server is shutting down".to_owned(),
        };
        if self.stop.is_cancelled() {
            return Err(stopping());
        }
        self.runtime
            .block_on(async {
                tokio::select! {
                    answer = call => Some(answer),
                    () = self.stop.cancelled() => None,
                }
            })
            .ok_or_else(stopping)?
            .map_err(|e| match e {
                StoreError::Unavailable(message) => {
                    SyncError::Unavailable { url: self.address(), status: 503, message }
                }
                other => SyncError::Refused { url: self.address(), status: 500, message: other.to_string() },
            })
    }
}

impl Transport for StoreTransport {
    fn push(&self, request: &PushRequest) -> Result<PushResponse, SyncError> {
        // The store a snapshot is built in makes no changes of its own: there is never any.
        let _ = request;
        Err(SyncError::Refused {
            url: self.address(),
            status: 403,
            message: "the snapshot builder reads a lab and changes nothing: it cannot push".to_owned(),
        })
    }

    fn pull(&self, after: i64, limit: u32) -> Result<PullPage, SyncError> {
        self.call(self.store.pull(&self.who, after, limit))
    }

    fn pull_sized(&self, after: i64, limit: u32) -> Result<(PullPage, u64), SyncError> {
        let text = self.call(self.store.pull_text(&self.who, after, limit))?;
        let page = serde_json::from_str(&text.json)
            .map_err(|e| SyncError::BadAnswer { url: self.address(), detail: e.to_string() })?;
        Ok((page, text.json.len() as u64))
    }

    /// The page as the store wrote it: the bootstrap reads the text itself.
    fn pull_json(&self, after: i64, limit: u32) -> Result<Vec<u8>, SyncError> {
        Ok(self.call(self.store.pull_text(&self.who, after, limit))?.json.into_bytes())
    }

    /// No waiting: a build takes what there is now.
    fn wait(&self, after: i64, timeout: Duration) -> Result<WaitResponse, SyncError> {
        let _ = (after, timeout);
        Ok(WaitResponse { head: self.call(self.store.head(&self.who))? })
    }

    /// The lab's newest snapshot: a build starts from it, taking it as a fresh workstation does,
    /// and pulls only what came after it, instead of the lab's whole history (the sync benchmark,
    /// 1.1 million revisions: ~50 s from nothing).
    fn snapshot(&self, schema: u32) -> Result<Option<SnapshotInfo>, SyncError> {
        match self.start {
            Start::Newest => self.call(self.store.snapshot(&self.who, schema)),
            Start::Scratch => Ok(None),
        }
    }

    fn get_blob(&self, hash: &str, offset: u64, limit: u64) -> Result<Vec<u8>, SyncError> {
        self.call(self.store.read_blob(&self.who, hash, offset, limit))?.ok_or_else(|| SyncError::Refused {
            url: self.address(),
            status: 404,
            message: format!("the central store holds no complete blob {hash}"),
        })
    }

    fn address(&self) -> String {
        format!("the central store (the snapshot builder of {})", self.who.lab_name)
    }
}

/// The builder (module docs): runs until the server shuts down. Never fails: what goes wrong is
/// logged, counted, and tried again at the next check.
pub(crate) async fn builder(state: AppState) {
    let policy = state.snapshot_policy();
    let stop = state.shutdown().clone();
    if policy.every == 0 {
        tracing::info!("lab snapshots are off (snapshot_every = 0): fresh workstations pull everything");
        return;
    }
    tracing::debug!(every = policy.every, check_secs = policy.check.as_secs(), "snapshot builder started");
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(policy.check) => {}
        }
        // A task of its own: even a panic in a check ends only that check.
        let check = tokio::spawn(check(state.clone(), policy.every, stop.clone()));
        if let Err(e) = check.await {
            state.metrics().snapshot_failed();
            tracing::error!(error = %e, "a snapshot check failed; trying again at the next one");
        }
    }
}

/// One check: builds the snapshot of every lab that is due, one after the other.
async fn check(state: AppState, every: u64, stop: CancellationToken) {
    let store = state.store();
    let schema = snapshot_schema();
    let due = match store.snapshots_due(schema, every).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "cannot find the labs whose snapshot is due; looking again at the next check");
            return;
        }
    };
    for lab in due {
        if stop.is_cancelled() {
            return;
        }
        let started = Instant::now();
        match build_and_save_until(store, &lab, Start::Newest, &stop).await {
            Ok(Built::Snapshot(info)) => {
                state.metrics().snapshot_built();
                tracing::info!(
                    lab = %lab.name,
                    revisions = info.revisions,
                    seq = info.seq,
                    schema = info.schema,
                    seconds = format_args!("{:.1}", started.elapsed().as_secs_f64()),
                    mb = format_args!("{:.1}", info.size as f64 / 1e6),
                    "lab snapshot built"
                );
            }
            Ok(Built::Busy) => tracing::debug!(lab = %lab.name, "another builder is building this lab's snapshot"),
            Ok(Built::Empty) => {}
            Err(e) if stop.is_cancelled() => {
                tracing::info!(lab = %lab.name, error = %e, "a lab snapshot build stopped for the shutdown");
                return;
            }
            Err(e) => {
                state.metrics().snapshot_failed();
                tracing::error!(lab = %lab.name, error = %e, "a lab snapshot build failed; trying again at the next check");
            }
        }
    }
}
