//! The commands for records of any kind, written once: the UI's generic screens list, show,
//! make, change, delete and restore a declared kind's records through them, and read any kind's.
//! Each one parses the kind's name, calls the core (`labdesk_core::declared`) and answers with
//! what it answers; the core refuses writes to kinds that have their own commands.

use labdesk_core::{Fields, HistoryEntry, KindInfo, RecordFilter, RecordKind, Store, Stored, Written};
use tauri::{AppHandle, State};

use crate::commands::store_changed;
use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

/// The kind a command names (`setting`), or an error that lists the kinds there are.
fn kind_named(name: &str) -> CommandResult<RecordKind> {
    name.trim().parse::<RecordKind>().map_err(|e| CommandError::other(e.to_string()))
}

/// Runs a write on the store of the kind named `kind`, then tells the UI the store changed (the
/// outbox grew).
fn write(
    app: &AppHandle,
    state: &AppState,
    kind: &str,
    change: impl FnOnce(&mut Store, RecordKind) -> labdesk_core::Result<Written<Fields>>,
) -> CommandResult<Written<Fields>> {
    let kind = kind_named(kind)?;
    let out = state.with_store(|store| change(store, kind))?;
    store_changed(app, state);
    Ok(out)
}

/// Every kind's declaration, in the registry's order: what the UI builds lists and forms from.
#[tauri::command]
pub fn record_kinds() -> Vec<KindInfo> {
    KindInfo::all()
}

/// Records of `kind` that match `filter`, most recently changed first.
#[tauri::command(async)]
pub fn list_records(
    state: State<'_, AppState>,
    kind: String,
    filter: RecordFilter,
) -> CommandResult<Vec<Stored<Fields>>> {
    let kind = kind_named(&kind)?;
    state.with_store(|store| store.records(kind, &filter))
}

/// One record of `kind`, deleted or not; `id` is its UUID or its short id.
#[tauri::command(async)]
pub fn get_record(state: State<'_, AppState>, kind: String, id: String) -> CommandResult<Stored<Fields>> {
    let kind = kind_named(&kind)?;
    state.with_store(|store| store.record(kind, &id))
}

#[tauri::command(async)]
pub fn create_record(
    app: AppHandle,
    state: State<'_, AppState>,
    kind: String,
    fields: Fields,
) -> CommandResult<Written<Fields>> {
    write(&app, &state, &kind, |store, kind| store.create_record(kind, fields))
}

/// Sets the fields in `patch`, refused if the record moved on from `base_version`.
#[tauri::command(async)]
pub fn edit_record(
    app: AppHandle,
    state: State<'_, AppState>,
    kind: String,
    id: String,
    base_version: Option<u32>,
    patch: Fields,
) -> CommandResult<Written<Fields>> {
    write(&app, &state, &kind, |store, kind| store.edit_record(kind, &id, base_version, patch))
}

#[tauri::command(async)]
pub fn delete_record(
    app: AppHandle,
    state: State<'_, AppState>,
    kind: String,
    id: String,
    base_version: Option<u32>,
) -> CommandResult<Written<Fields>> {
    write(&app, &state, &kind, |store, kind| store.delete_record(kind, &id, base_version, true))
}

#[tauri::command(async)]
pub fn restore_record(
    app: AppHandle,
    state: State<'_, AppState>,
    kind: String,
    id: String,
    base_version: Option<u32>,
) -> CommandResult<Written<Fields>> {
    write(&app, &state, &kind, |store, kind| store.delete_record(kind, &id, base_version, false))
}

/// Every revision of one record of `kind`, oldest first.
#[tauri::command(async)]
pub fn record_history(state: State<'_, AppState>, kind: String, id: String) -> CommandResult<Vec<HistoryEntry>> {
    let kind = kind_named(&kind)?;
    state.with_store(|store| {
        let record = store.record(kind, &id)?;
        store.history(record.id)
    })
}
