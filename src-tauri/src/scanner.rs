//! Watching the scanner folder: a file the scanner finished writing (or moved in) is handed to
//! the core ([`Store::take_in_scan`]), which attaches it to the case its name begins with.
//! The UI hears `scanner://file` with the outcome, and `store://changed` when a file was filed.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager};
use ts_rs::TS;

use crate::state::AppState;

/// What became of one file in the scanner folder.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ScannedFile {
    pub path: String,
    /// The core's outcome; `None` when taking it in failed (`error` says why).
    pub outcome: Option<labdesk_core::ScanOutcome>,
    pub error: Option<String>,
}

/// Whether this event means a file is complete in the folder: closed after writing (inotify's
/// CLOSE_WRITE), or renamed into it (scanners often write elsewhere and move).
fn finished_file(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both))
    )
}

/// Starts watching `folder`; the watch ends when the returned watcher is dropped.
pub fn watch(app: AppHandle, folder: &Path) -> notify::Result<RecommendedWatcher> {
    let (tx, rx) = mpsc::channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
        Ok(event) if finished_file(&event.kind) => {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "scanner folder watch error"),
    })?;
    watcher.watch(folder, RecursiveMode::NonRecursive)?;
    std::thread::Builder::new()
        .name("labdesk-scanner".into())
        .spawn(move || {
            // Ends when the watcher (and with it the sender) is dropped.
            for path in rx {
                if !path.is_file() {
                    continue;
                }
                let state = app.state::<AppState>();
                let result = state.with_store(|store| store.take_in_scan(&path));
                let filed = matches!(result, Ok(labdesk_core::ScanOutcome::Attached { .. }));
                let report = match result {
                    Ok(outcome) => {
                        ScannedFile { path: path.display().to_string(), outcome: Some(outcome), error: None }
                    }
                    Err(e) => ScannedFile { path: path.display().to_string(), outcome: None, error: Some(e.message) },
                };
                tracing::info!(?report, "scanner folder");
                let _ = app.emit("scanner://file", report);
                if filed {
                    let _ = app.emit("store://changed", 0);
                }
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(watcher)
}
