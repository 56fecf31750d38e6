//! Wiring the core's sync engine to the window: a watch on a thread of its own (its own store
//! handle, so the UI's reads never wait for a pull), its events turned into `sync://status` for
//! the status bar and `store://changed` when pulled changes should refresh what is shown.
//!
//! Vocabulary: **status** is what the bar shows ([`SyncStatus`]); **live** is what only the
//! running watch knows (online, a round in progress, its progress) — the rest is in the store.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use labdesk_core::sync::{watch, HttpTransport, Progress, RejectedChange, SyncError, Token, WatchEvent, WatchOptions};
use labdesk_core::{OpenOptions, Store, Timestamp};
use serde::Serialize;
use tauri::{AppHandle, Emitter};
use ts_rs::TS;
use url::Url;

use crate::error::CommandResult;
use crate::keychain::TokenStore;

/// The status bar: always visible, so a person knows whether their work has reached the lab.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct SyncStatus {
    /// Whether the server answered the last round (`false` before any round or while it is away).
    pub online: bool,
    pub signed_in: bool,
    pub server_url: Option<String>,
    /// Where the sign-in token is kept, when signed in.
    pub token_store: Option<TokenStore>,
    /// A round is running now.
    pub syncing: bool,
    /// Changes made here that the lab has not received yet.
    pub pending: u64,
    /// Files attached here whose contents the lab's server does not hold whole yet.
    pub files_waiting: u64,
    pub last_sync_at: Option<Timestamp>,
    /// Why the last round failed; `None` after a good one.
    pub last_error: Option<String>,
    pub progress: Option<Progress>,
    /// Records with conflicting changes for a person to resolve.
    pub needs_review: u64,
    /// Changes the lab refused, with the reasons.
    pub rejected: Vec<RejectedChange>,
    /// Changes from the lab this workstation could not store (set aside, tried again every
    /// round): while there are any, it is not up to date with the lab.
    pub held: u64,
}

#[derive(Debug, Default, Clone)]
struct Live {
    online: bool,
    syncing: bool,
    progress: Option<Progress>,
    token_store: Option<TokenStore>,
}

#[derive(Debug)]
struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// The running watch, if signed in.
#[derive(Debug, Default)]
pub struct SyncControl {
    running: Mutex<Option<Running>>,
    live: Arc<Mutex<Live>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the status bar down with it: the data is plain flags.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn snapshot(store: &Store, live: &Live) -> CommandResult<SyncStatus> {
    let state = store.sync_state()?;
    Ok(SyncStatus {
        online: live.online,
        signed_in: live.token_store.is_some() && state.server_url.is_some(),
        server_url: state.server_url,
        token_store: live.token_store,
        syncing: live.syncing,
        pending: state.pending,
        files_waiting: store.blobs_waiting()?,
        last_sync_at: state.last_sync_at,
        last_error: state.last_error,
        progress: live.progress.clone(),
        needs_review: state.needs_review,
        rejected: store.rejected_changes()?,
        held: state.held,
    })
}

impl SyncControl {
    /// The status as of now, read through `store`.
    pub fn status(&self, store: &Store) -> CommandResult<SyncStatus> {
        snapshot(store, &lock(&self.live))
    }

    pub fn set_token_store(&self, token_store: Option<TokenStore>) {
        lock(&self.live).token_store = token_store;
    }

    /// Starts watching `server` (stopping a watch already running): a round at once, then one
    /// whenever either side has news.
    pub fn start(&self, app: AppHandle, data_dir: PathBuf, user: String, server: Url, token: Token) {
        self.stop();
        let stop = Arc::new(AtomicBool::new(false));
        let live = self.live.clone();
        let flag = stop.clone();
        let spawned = std::thread::Builder::new().name("labdesk-sync".into()).spawn(move || {
            if let Err(e) = run_watch(&app, &data_dir, &user, &server, &token, &flag, &live) {
                tracing::error!(error = %e, "the sync watch stopped");
                lock(&live).online = false;
                let _ = app.emit("sync://stopped", e.to_string());
            }
        });
        match spawned {
            Ok(thread) => *lock(&self.running) = Some(Running { stop, thread }),
            Err(e) => tracing::error!(error = %e, "cannot start the sync thread"),
        }
    }

    /// Stops the watch, letting a round in progress finish (its work stays done either way).
    pub fn stop(&self) {
        let running = lock(&self.running).take();
        if let Some(running) = running {
            running.stop.store(true, Ordering::Relaxed);
            let _ = running.thread.join();
        }
        let mut live = lock(&self.live);
        live.online = false;
        live.syncing = false;
        live.progress = None;
    }

    pub fn is_running(&self) -> bool {
        lock(&self.running).is_some()
    }
}

fn run_watch(
    app: &AppHandle,
    data_dir: &std::path::Path,
    user: &str,
    server: &Url,
    token: &Token,
    stop: &Arc<AtomicBool>,
    live: &Arc<Mutex<Live>>,
) -> Result<(), SyncError> {
    let options = || OpenOptions { workstation: None, user: Some(user.to_owned()) };
    let mut store = Store::open(data_dir, options())?;
    // A second handle for the status snapshots: the watch holds the first one throughout.
    let reader = Store::open(data_dir, options())?;
    let transport = Arc::new(HttpTransport::new(server, token)?);
    let emit_status = |live: &Live| match snapshot(&reader, live) {
        Ok(status) => {
            let _ = app.emit("sync://status", status);
        }
        Err(e) => tracing::warn!(error = e.message, "cannot read the sync status"),
    };
    watch(&mut store, transport, &WatchOptions::default(), stop, &mut |event| {
        let mut now = lock(live);
        match event {
            WatchEvent::Progress(p) => {
                now.syncing = true;
                now.progress = Some(p.clone());
            }
            WatchEvent::Synced(report) => {
                now.online = true;
                now.syncing = false;
                now.progress = None;
                if report.pulled > report.confirmed
                    || report.rejected > 0
                    || report.conflicted > 0
                    || report.held_applied > 0
                {
                    let _ = app.emit("store://changed", report.pulled);
                }
            }
            WatchEvent::Failed { error, .. } => {
                now.online = !matches!(
                    error,
                    SyncError::Unreachable { .. } | SyncError::TimedOut { .. } | SyncError::Unavailable { .. }
                );
                now.syncing = false;
                now.progress = None;
            }
            // The long poll lost the server while nothing was being sent: the bar must not keep
            // saying "online" until the next change.
            WatchEvent::Unreachable(_) => now.online = false,
            WatchEvent::Reachable => now.online = true,
        }
        let copy = now.clone();
        drop(now);
        emit_status(&copy);
    })?;
    Ok(())
}
