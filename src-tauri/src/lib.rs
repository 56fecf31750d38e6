//! The LabDesk desktop app: a thin Tauri shell over the client core (`labdesk-core`).
//!
//! Vocabulary: a **command** is a function the UI invokes ([`commands`]; [`records`] for records
//! of any kind); it calls the core and answers with the core's types or a
//! [`error::CommandError`]. **Events** are what the shell tells the UI unasked: `sync://status`
//! (the status bar), `store://changed` (pulled or scanned changes: refresh), `files://progress`
//! (copying an attachment), `scanner://file`.
//! The shell owns threads and OS resources — the window, the keychain ([`keychain`]), the sync
//! watch ([`sync`]), the scanner-folder watch ([`scanner`]) — and nothing else: no SQL, no rules.

pub mod commands;
pub mod error;
pub mod keychain;
pub mod records;
pub mod scanner;
pub mod state;
pub mod sync;

use std::path::PathBuf;

use anyhow::Context as _;
use tauri::Manager;

use crate::state::AppState;

/// Where the store lives: `LABDESK_DATA` if set (tests, several workstations on one machine),
/// else the platform's data folder for the app (`~/.local/share/app.labdesk.desktop`).
fn data_dir(app: &tauri::App) -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("LABDESK_DATA").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    app.path().app_data_dir().context("this system gives the app no data folder; set LABDESK_DATA")
}

/// (Re)starts the scanner-folder watch for the folder in the store's settings.
pub fn watch_scanner_folder(app: &tauri::AppHandle, state: &AppState) {
    let folder = state.with_store(|store| store.scanner_folder()).ok().flatten();
    let watcher = folder.and_then(|folder| match scanner::watch(app.clone(), &folder) {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            tracing::warn!(error = %e, folder = %folder.display(), "cannot watch the scanner folder");
            None
        }
    });
    *state.scanner.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = watcher;
}

/// The web view's memory (issue: ≤ 200 MB with 100k cases; figures in `benches/cold_start.rs`).
#[cfg(target_os = "linux")]
mod webkit {
    use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt as _, WebViewExt as _};

    /// WebKitGTK's GPU compositing (the default, "always") costs the web process ~83 MB more
    /// (PSS, measured under Xvfb/Mesa) than painting on the CPU, for a UI of lists and forms
    /// that does not need it. The page still gets a WebGL 2 context (the bench checks; the STL
    /// preview's drawing in this mode is not checked by a test yet).
    /// `LABDESK_GPU_COMPOSITING=1` keeps WebKit's default.
    pub fn tune(webview: &webkit2gtk::WebView) {
        if std::env::var_os("LABDESK_GPU_COMPOSITING").is_some_and(|v| v == "1") {
            return;
        }
        if let Some(settings) = webview.settings() {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    }
}

/// Builds and runs the app until its window closes.
pub fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LABDESK_LOG").unwrap_or_else(|_| "info,tao=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    keychain::init();
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .setup(|app| {
            let dir = data_dir(app)?;
            let state = AppState::open(&dir).with_context(|| format!("cannot open the store in {}", dir.display()))?;
            // Previews read blobs through the asset protocol: that folder, and nothing else.
            let blobs = dir.join(labdesk_core::BLOB_DIR);
            std::fs::create_dir_all(&blobs)?;
            app.asset_protocol_scope().allow_directory(&blobs, true)?;
            tracing::info!(data = %dir.display(), "store open");
            app.manage(state);
            #[cfg(target_os = "linux")]
            if let Some(window) = app.get_webview_window("main") {
                window.with_webview(|webview| webkit::tune(&webview.inner()))?;
            }
            let handle = app.handle().clone();
            let state = app.state::<AppState>();
            watch_scanner_folder(&handle, &state);
            if let Err(e) = commands::start_sync(&handle, &state) {
                tracing::warn!(error = e.message, "not syncing");
            }
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::vocabulary,
            commands::list_cases,
            commands::search_cases,
            commands::case_detail,
            commands::create_case,
            commands::edit_case,
            commands::delete_case,
            commands::restore_case,
            commands::post_message,
            commands::edit_message,
            commands::react_message,
            commands::mark_read,
            commands::delete_message,
            commands::retry_message,
            commands::add_note,
            commands::edit_note,
            commands::delete_note,
            commands::move_stage,
            commands::case_history,
            commands::attach_files,
            commands::remove_file,
            commands::file_src,
            commands::sync_status,
            commands::sync_now,
            commands::sign_in,
            commands::sign_out,
            commands::set_scanner_folder,
            commands::conflicts,
            commands::resolve_conflict,
            records::record_kinds,
            records::list_records,
            records::get_record,
            records::create_record,
            records::edit_record,
            records::delete_record,
            records::restore_record,
            records::record_history,
        ])
        .build(tauri::generate_context!())
        .context("cannot build the window")?
        .run(|app, event| {
            if let tauri::RunEvent::Exit = event {
                // Let a round in progress finish its transaction before the process ends.
                app.state::<AppState>().sync.stop();
            }
        });
    Ok(())
}
