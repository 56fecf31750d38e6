//! The commands the UI invokes: each one calls the core and returns what it returns. No SQL
//! and no rules live here — validation, merging and sync are the core's.

use std::path::PathBuf;

use labdesk_core::sync::{fetch_blob, parse_server_url, HttpTransport, RecordConflicts, Token, Transport};
use labdesk_core::{
    CaseDetail, CaseNote, CasePage, CaseQuery, ChatMessage, FileRecord, HistoryEntry, MessageType, NewMessage,
    OpenOptions, SearchHit, Stage, StageAction, Store, Stored, WorkflowStage, Written, ALLOWED_FORMATS,
    KNOWN_META_KEYS, MAX_FILES_PER_UPLOAD, MAX_FILE_SIZE, SUGGESTED_PRIORITIES, SUGGESTED_STATUSES,
};
use serde::Serialize;
use serde_json::{Map, Value};
use tauri::{AppHandle, Emitter, Manager, State};
use ts_rs::TS;
use uuid::Uuid;

use crate::error::{CommandError, CommandResult};
use crate::keychain;
use crate::state::AppState;
use crate::sync::SyncStatus;

/// Who and where this app is.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct AppInfo {
    pub version: String,
    pub workstation: String,
    pub user: String,
    pub data_dir: String,
    pub server_url: Option<String>,
    pub signed_in: bool,
    pub scanner_folder: Option<String>,
}

/// The core's lists and limits, so the UI offers what the core accepts and no more.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct Vocabulary {
    pub statuses: Vec<String>,
    pub priorities: Vec<String>,
    /// In workflow order.
    pub stages: Vec<Stage>,
    pub meta_keys: Vec<String>,
    /// The types a person can post (`system` messages are LabDesk's own).
    pub message_types: Vec<MessageType>,
    pub max_files_per_upload: u32,
    #[ts(type = "number")]
    pub max_file_size: u64,
    /// The names of the formats the lab accepts (PNG, STL, ...), to tell people.
    pub allowed_formats: Vec<String>,
    /// Their file extensions, for the file chooser's filter.
    pub allowed_extensions: Vec<String>,
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tauri::command(async)]
pub fn app_info(state: State<'_, AppState>) -> CommandResult<AppInfo> {
    let signed_in = state.sync.is_running();
    state.with_store(|store| {
        Ok::<_, labdesk_core::Error>(AppInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            workstation: store.workstation().to_owned(),
            user: store.user().to_owned(),
            data_dir: state.data_dir.display().to_string(),
            server_url: store.sync_state()?.server_url,
            signed_in,
            scanner_folder: store.scanner_folder()?.map(|p| p.display().to_string()),
        })
    })
}

#[tauri::command]
pub fn vocabulary() -> Vocabulary {
    Vocabulary {
        statuses: owned(SUGGESTED_STATUSES),
        priorities: owned(SUGGESTED_PRIORITIES),
        stages: Stage::ALL.to_vec(),
        meta_keys: owned(KNOWN_META_KEYS),
        message_types: vec![
            MessageType::Text,
            MessageType::File,
            MessageType::Image,
            MessageType::Voice,
            MessageType::Mixed,
        ],
        max_files_per_upload: u32::try_from(MAX_FILES_PER_UPLOAD).unwrap_or(u32::MAX),
        max_file_size: MAX_FILE_SIZE,
        allowed_formats: ALLOWED_FORMATS.iter().map(|(name, _, _)| (*name).to_owned()).collect(),
        allowed_extensions: ALLOWED_FORMATS
            .iter()
            .flat_map(|(_, exts, _)| exts.iter().map(|e| (*e).to_owned()))
            .collect(),
    }
}

#[tauri::command(async)]
pub fn list_cases(state: State<'_, AppState>, query: CaseQuery) -> CommandResult<CasePage> {
    state.with_store(|store| store.list_cases(&query))
}

#[tauri::command(async)]
pub fn search_cases(state: State<'_, AppState>, text: String, limit: u32) -> CommandResult<Vec<SearchHit>> {
    state.with_store(|store| store.search(&text, limit))
}

#[tauri::command(async)]
pub fn case_detail(state: State<'_, AppState>, key: String) -> CommandResult<CaseDetail> {
    state.with_store(|store| store.case_detail(&key))
}

fn meta_pairs(meta: Map<String, Value>) -> CommandResult<Vec<(String, String)>> {
    meta.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(CommandError::other(format!("meta value {k} must be text, not {other}"))),
        })
        .collect()
}

#[tauri::command(async)]
pub fn create_case(
    app: AppHandle,
    state: State<'_, AppState>,
    fields: Map<String, Value>,
    meta: Map<String, Value>,
) -> CommandResult<Stored<labdesk_core::Case>> {
    let meta = meta_pairs(meta)?;
    let out = state.with_store(|store| store.create_case_with_meta(fields, &meta))?;
    store_changed(&app, &state);
    Ok(out)
}

#[tauri::command(async)]
pub fn edit_case(
    app: AppHandle,
    state: State<'_, AppState>,
    key: String,
    base_version: u32,
    fields: Map<String, Value>,
    meta: Map<String, Value>,
) -> CommandResult<Written<labdesk_core::Case>> {
    let meta = meta_pairs(meta)?;
    let out = state.with_store(|store| store.edit_case_with_meta(&key, Some(base_version), fields, &meta))?;
    store_changed(&app, &state);
    Ok(out)
}

#[tauri::command(async)]
pub fn delete_case(
    app: AppHandle,
    state: State<'_, AppState>,
    key: String,
    base_version: u32,
) -> CommandResult<Written<labdesk_core::Case>> {
    let out = state.with_store(|store| store.delete_case(&key, Some(base_version)))?;
    store_changed(&app, &state);
    Ok(out)
}

#[tauri::command(async)]
pub fn restore_case(
    app: AppHandle,
    state: State<'_, AppState>,
    key: String,
    base_version: u32,
) -> CommandResult<Written<labdesk_core::Case>> {
    let out = state.with_store(|store| store.restore_case(&key, Some(base_version)))?;
    store_changed(&app, &state);
    Ok(out)
}

#[tauri::command(async)]
pub fn post_message(
    app: AppHandle,
    state: State<'_, AppState>,
    case_key: String,
    message: NewMessage,
) -> CommandResult<Stored<ChatMessage>> {
    let out = state.with_store(|store| store.post_message(&case_key, message))?;
    store_changed(&app, &state);
    Ok(out)
}

#[tauri::command(async)]
pub fn edit_message(
    app: AppHandle,
    state: State<'_, AppState>,
    id: Uuid,
    base_version: u32,
    content: String,
) -> CommandResult<Written<ChatMessage>> {
    let out = state.with_store(|store| store.edit_message(id, Some(base_version), &content))?;
    store_changed(&app, &state);
    Ok(out)
}

#[tauri::command(async)]
pub fn react_message(
    app: AppHandle,
    state: State<'_, AppState>,
    id: Uuid,
    emoji: String,
    on: bool,
) -> CommandResult<Written<ChatMessage>> {
    let out = state.with_store(|store| store.react(id, &emoji, on))?;
    store_changed(&app, &state);
    Ok(out)
}

#[tauri::command(async)]
pub fn mark_read(app: AppHandle, state: State<'_, AppState>, id: Uuid) -> CommandResult<Written<ChatMessage>> {
    let out = state.with_store(|store| store.mark_read(id))?;
    store_changed(&app, &state);
    Ok(out)
}

#[tauri::command(async)]
pub fn delete_message(
    app: AppHandle,
    state: State<'_, AppState>,
    id: Uuid,
    base_version: u32,
) -> CommandResult<Written<ChatMessage>> {
    let out = state.with_store(|store| store.delete_message(id, Some(base_version)))?;
    store_changed(&app, &state);
    Ok(out)
}

/// Sends again, as a new message, one the lab's server refused (shown as failed).
#[tauri::command(async)]
pub fn retry_message(app: AppHandle, state: State<'_, AppState>, id: Uuid) -> CommandResult<Stored<ChatMessage>> {
    let out = state.with_store(|store| store.retry_message(id))?;
    store_changed(&app, &state);
    Ok(out)
}

/// Adds a note to a case. A case's notes come with it (`case_detail`), like its chat.
#[tauri::command(async)]
pub fn add_note(
    app: AppHandle,
    state: State<'_, AppState>,
    case_key: String,
    body: String,
) -> CommandResult<Stored<CaseNote>> {
    let out = state.with_store(|store| store.add_note(&case_key, &body))?;
    store_changed(&app, &state);
    Ok(out)
}

#[tauri::command(async)]
pub fn edit_note(
    app: AppHandle,
    state: State<'_, AppState>,
    id: Uuid,
    base_version: u32,
    body: String,
) -> CommandResult<Written<CaseNote>> {
    let out = state.with_store(|store| store.edit_note(id, Some(base_version), &body))?;
    store_changed(&app, &state);
    Ok(out)
}

#[tauri::command(async)]
pub fn delete_note(
    app: AppHandle,
    state: State<'_, AppState>,
    id: Uuid,
    base_version: u32,
) -> CommandResult<Written<CaseNote>> {
    let out = state.with_store(|store| store.delete_note(id, Some(base_version)))?;
    store_changed(&app, &state);
    Ok(out)
}

#[tauri::command(async)]
pub fn move_stage(
    app: AppHandle,
    state: State<'_, AppState>,
    case_key: String,
    stage: Stage,
    action: StageAction,
    base_version: u32,
    force: Option<bool>,
) -> CommandResult<Written<WorkflowStage>> {
    // `force`: the person confirmed completing the stage before earlier ones.
    let out = state.with_store(|store| {
        if force.unwrap_or(false) {
            store.move_stage_out_of_order(&case_key, stage, action, Some(base_version))
        } else {
            store.move_stage(&case_key, stage, action, Some(base_version))
        }
    })?;
    store_changed(&app, &state);
    Ok(out)
}

#[tauri::command(async)]
pub fn case_history(state: State<'_, AppState>, case_key: String) -> CommandResult<Vec<HistoryEntry>> {
    state.with_store(|store| store.case_history(&case_key))
}

#[tauri::command(async)]
pub fn attach_files(
    app: AppHandle,
    state: State<'_, AppState>,
    case_key: String,
    paths: Vec<PathBuf>,
) -> CommandResult<Vec<Stored<FileRecord>>> {
    let out = state.with_store(|store| {
        store.attach_paths(&case_key, &paths, None, &mut |progress| {
            let _ = app.emit("files://progress", progress);
        })
    })?;
    store_changed(&app, &state);
    Ok(out)
}

#[tauri::command(async)]
pub fn remove_file(app: AppHandle, state: State<'_, AppState>, id: Uuid) -> CommandResult<Stored<FileRecord>> {
    let out = state.with_store(|store| store.remove_file(id))?;
    store_changed(&app, &state);
    Ok(out)
}

/// The local path of a file's bytes, for the UI's `convertFileSrc` preview (the asset protocol
/// is scoped to the blob folder): here already, or fetched from the central store now when this
/// workstation is signed in (a file attached elsewhere); `None` when neither.
#[tauri::command(async)]
pub fn file_src(state: State<'_, AppState>, id: Uuid) -> CommandResult<Option<String>> {
    let (here, server, workstation) = state.with_store(|store| {
        Ok::<_, labdesk_core::Error>((
            store.blob_of(id)?,
            store.sync_state()?.server_url,
            store.workstation().to_owned(),
        ))
    })?;
    if let Some(path) = here {
        return Ok(Some(path.display().to_string()));
    }
    let Some(server) = server else { return Ok(None) };
    let Some((token, _)) = keychain::load(&state.data_dir, &workstation)? else { return Ok(None) };
    let transport = HttpTransport::new(&parse_server_url(&server)?, &token)?;
    // A handle of its own: the download does not hold the UI's store while it runs.
    let store = Store::open(&state.data_dir, OpenOptions::default())?;
    let path = fetch_blob(&store, &transport, id, &mut |_, _| {})?;
    Ok(Some(path.display().to_string()))
}

#[tauri::command(async)]
pub fn sync_status(state: State<'_, AppState>) -> CommandResult<SyncStatus> {
    state.with_store(|store| state.sync.status(store))
}

/// After a write: the status bar's pending count moved, so the UI hears the new status (the
/// sync watch wakes on its own when it sees the outbox grow).
pub(crate) fn store_changed(app: &AppHandle, state: &AppState) {
    match state.with_store(|store| state.sync.status(store)) {
        Ok(status) => {
            let _ = app.emit("sync://status", status);
        }
        Err(e) => tracing::warn!(error = e.message, "cannot read the sync status"),
    }
}

/// Starts syncing with the server this workstation is signed in to (or restarts the watch, which
/// begins with a round at once).
pub fn start_sync(app: &AppHandle, state: &AppState) -> CommandResult<bool> {
    let (server, workstation, user) = state.with_store(|store| {
        Ok::<_, labdesk_core::Error>((
            store.sync_state()?.server_url,
            store.workstation().to_owned(),
            store.user().to_owned(),
        ))
    })?;
    let Some(server) = server else { return Ok(false) };
    let Some((token, kept)) = keychain::load(&state.data_dir, &workstation)? else { return Ok(false) };
    state.sync.set_token_store(Some(kept));
    state.sync.start(app.clone(), state.data_dir.clone(), user, parse_server_url(&server)?, token);
    Ok(true)
}

#[tauri::command(async)]
pub fn sync_now(app: AppHandle, state: State<'_, AppState>) -> CommandResult<()> {
    if start_sync(&app, &state)? {
        Ok(())
    } else {
        Err(CommandError::from(labdesk_core::sync::SyncError::NotSignedIn))
    }
}

/// Signs this workstation in: checks the address and the token with the server (a pull of
/// nothing, which changes nothing), keeps the token in the keychain, and starts syncing.
#[tauri::command(async)]
pub fn sign_in(
    app: AppHandle,
    state: State<'_, AppState>,
    server_url: String,
    token: String,
) -> CommandResult<SyncStatus> {
    let url = parse_server_url(&server_url)?;
    let token = Token::new(&token)?;
    let cursor = state.with_store(|store| store.sync_cursor())?;
    HttpTransport::new(&url, &token)?.pull(cursor, 0)?;
    let workstation = state.with_store(|store| {
        store.set_server_url(&url)?;
        Ok::<_, labdesk_core::Error>(store.workstation().to_owned())
    })?;
    let kept = keychain::save(&state.data_dir, &workstation, &token)?;
    state.sync.set_token_store(Some(kept));
    start_sync(&app, &state)?;
    sync_status(state)
}

#[tauri::command(async)]
pub fn sign_out(state: State<'_, AppState>) -> CommandResult<SyncStatus> {
    state.sync.stop();
    state.sync.set_token_store(None);
    let workstation = state.with_store(|store| Ok::<_, labdesk_core::Error>(store.workstation().to_owned()))?;
    keychain::forget(&state.data_dir, &workstation);
    sync_status(state)
}

#[tauri::command(async)]
pub fn set_scanner_folder(app: AppHandle, state: State<'_, AppState>, path: Option<PathBuf>) -> CommandResult<AppInfo> {
    state.with_store(|store| store.set_scanner_folder(path.as_deref()))?;
    crate::watch_scanner_folder(&app, &state);
    app_info(app.state::<AppState>())
}

#[tauri::command(async)]
pub fn conflicts(state: State<'_, AppState>) -> CommandResult<Vec<RecordConflicts>> {
    state.with_store(|store| store.conflicts())
}

#[tauri::command(async)]
pub fn resolve_conflict(
    app: AppHandle,
    state: State<'_, AppState>,
    record_id: Uuid,
    picks: Map<String, Value>,
) -> CommandResult<labdesk_core::Revision> {
    let out = state.with_store(|store| store.resolve(record_id, picks))?;
    store_changed(&app, &state);
    Ok(out)
}
