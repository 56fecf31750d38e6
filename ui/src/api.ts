// The desktop shell's commands and events, typed. One async function per `#[tauri::command]` in
// src-tauri; the types are generated from the Rust ones (src/bindings, ts-rs). Argument names are
// camelCase here: Tauri maps them to the commands' snake_case parameters.
//
// Every command rejects with a CommandError; `call` turns that into an `ApiError` (an Error, so
// stack traces and `instanceof` work) that keeps `kind` and the per-field problems.

import { convertFileSrc, invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import { getCurrentWebview } from '@tauri-apps/api/webview';
import { open as openDialog } from '@tauri-apps/plugin-dialog';

import type { AppInfo } from './bindings/AppInfo';
import type { Case } from './bindings/Case';
import type { CaseDetail } from './bindings/CaseDetail';
import type { CaseNote } from './bindings/CaseNote';
import type { CasePage } from './bindings/CasePage';
import type { CaseQuery } from './bindings/CaseQuery';
import type { ChatMessage } from './bindings/ChatMessage';
import type { CommandError } from './bindings/CommandError';
import type { ErrorKind } from './bindings/ErrorKind';
import type { FieldError } from './bindings/FieldError';
import type { FileProgress } from './bindings/FileProgress';
import type { FileRecord } from './bindings/FileRecord';
import type { HistoryEntry } from './bindings/HistoryEntry';
import type { KindInfo } from './bindings/KindInfo';
import type { NewMessage } from './bindings/NewMessage';
import type { RecordConflicts } from './bindings/RecordConflicts';
import type { RecordFilter } from './bindings/RecordFilter';
import type { Revision } from './bindings/Revision';
import type { ScannedFile } from './bindings/ScannedFile';
import type { SearchHit } from './bindings/SearchHit';
import type { Stage } from './bindings/Stage';
import type { StageAction } from './bindings/StageAction';
import type { Stored } from './bindings/Stored';
import type { SyncStatus } from './bindings/SyncStatus';
import type { Vocabulary } from './bindings/Vocabulary';
import type { WorkflowStage } from './bindings/WorkflowStage';
import type { Written } from './bindings/Written';
import type { JsonValue } from './bindings/serde_json/JsonValue';

/** The case fields intake and editing may send: all but those LabDesk mints. */
export type CaseFields = Partial<Omit<Case, 'case_number' | 'secret_key'>>;
/** Meta values by key. */
export type MetaValues = Record<string, string>;

/** A command refused: nothing was changed. */
export class ApiError extends Error {
  readonly kind: ErrorKind;
  readonly fields: FieldError[];

  constructor(error: CommandError) {
    super(error.message);
    this.name = 'ApiError';
    this.kind = error.kind;
    this.fields = error.fields;
  }

  /** The problems by field name (`due_date`, `services[1].service_type`). */
  byField(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of this.fields) {
      out[f.field] = out[f.field] ? `${out[f.field]}; ${f.problem}` : f.problem;
    }
    return out;
  }
}

const KINDS: readonly ErrorKind[] = ['invalid', 'not_found', 'stale', 'deleted', 'sync', 'other'];

function isCommandError(value: unknown): value is CommandError {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.message === 'string' &&
    typeof v.kind === 'string' &&
    (KINDS as readonly string[]).includes(v.kind) &&
    Array.isArray(v.fields)
  );
}

/** Whatever a command rejected with, as an ApiError (a bare string from Tauri itself included). */
export function toApiError(reason: unknown): ApiError {
  if (reason instanceof ApiError) return reason;
  if (isCommandError(reason)) return new ApiError(reason);
  const message =
    reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : JSON.stringify(reason);
  return new ApiError({ kind: 'other', message, fields: [] });
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (reason) {
    throw toApiError(reason);
  }
}

// ---- the app ----

export const appInfo = (): Promise<AppInfo> => call('app_info');
export const vocabulary = (): Promise<Vocabulary> => call('vocabulary');

// ---- cases ----

export const listCases = (query: CaseQuery): Promise<CasePage> => call('list_cases', { query });
export const searchCases = (text: string, limit: number): Promise<SearchHit[]> =>
  call('search_cases', { text, limit });
/** A case with everything attached; `key` is its UUID or case number. */
export const caseDetail = (key: string): Promise<CaseDetail> => call('case_detail', { key });
export const createCase = (fields: CaseFields, meta: MetaValues): Promise<Stored<Case>> =>
  call('create_case', { fields, meta });
/** Changes only the fields given, refused if the case moved on from `baseVersion`. */
export const editCase = (
  key: string,
  baseVersion: number,
  fields: CaseFields,
  meta: MetaValues,
): Promise<Written<Case>> => call('edit_case', { key, baseVersion, fields, meta });
export const deleteCase = (key: string, baseVersion: number): Promise<Written<Case>> =>
  call('delete_case', { key, baseVersion });
export const restoreCase = (key: string, baseVersion: number): Promise<Written<Case>> =>
  call('restore_case', { key, baseVersion });
export const caseHistory = (caseKey: string): Promise<HistoryEntry[]> => call('case_history', { caseKey });

// ---- chat ----

export const postMessage = (caseKey: string, message: NewMessage): Promise<Stored<ChatMessage>> =>
  call('post_message', { caseKey, message });
export const editMessage = (id: string, baseVersion: number, content: string): Promise<Written<ChatMessage>> =>
  call('edit_message', { id, baseVersion, content });
export const reactMessage = (id: string, emoji: string, on: boolean): Promise<Written<ChatMessage>> =>
  call('react_message', { id, emoji, on });
export const markRead = (id: string): Promise<Written<ChatMessage>> => call('mark_read', { id });
export const deleteMessage = (id: string, baseVersion: number): Promise<Written<ChatMessage>> =>
  call('delete_message', { id, baseVersion });
/** Sends again, as a new message, one the lab's server refused (its status is `failed`). */
export const retryMessage = (id: string): Promise<Stored<ChatMessage>> => call('retry_message', { id });

// ---- notes (a case's notes come with it: `caseDetail(...).notes`) ----

export const addNote = (caseKey: string, body: string): Promise<Stored<CaseNote>> => call('add_note', { caseKey, body });
/** Replaces a note's text, refused if the note moved on from `baseVersion`. */
export const editNote = (id: string, baseVersion: number, body: string): Promise<Written<CaseNote>> =>
  call('edit_note', { id, baseVersion, body });
export const deleteNote = (id: string, baseVersion: number): Promise<Written<CaseNote>> =>
  call('delete_note', { id, baseVersion });

// ---- workflow ----

/** `force`: complete the stage although earlier stages are not completed (the person confirmed);
 * without it the core refuses such a completion. */
export const moveStage = (
  caseKey: string,
  stage: Stage,
  action: StageAction,
  baseVersion: number,
  force = false,
): Promise<Written<WorkflowStage>> =>
  call('move_stage', force ? { caseKey, stage, action, baseVersion, force } : { caseKey, stage, action, baseVersion });

// ---- files ----

export const attachFiles = (caseKey: string, paths: string[]): Promise<Stored<FileRecord>[]> =>
  call('attach_files', { caseKey, paths });
export const removeFile = (id: string): Promise<Stored<FileRecord>> => call('remove_file', { id });
/** The local path of a file's stored bytes (fetched from the central store first when they are not
 * here and the workstation is signed in), or null when they are not here and cannot be fetched. */
export const fileSrc = (id: string): Promise<string | null> => call('file_src', { id });
/** A URL the webview can load for a local path (Tauri's asset protocol). */
export const assetUrl = (path: string): string => convertFileSrc(path);

/** Asks for files with the system dialog; [] when cancelled. */
export async function chooseFiles(): Promise<string[]> {
  const picked = await openDialog({ multiple: true, directory: false });
  if (picked === null) return [];
  return Array.isArray(picked) ? picked : [picked];
}

/** Asks for a folder with the system dialog; null when cancelled. */
export async function chooseFolder(): Promise<string | null> {
  const picked = await openDialog({ multiple: false, directory: true });
  return typeof picked === 'string' ? picked : null;
}

// ---- records of any kind, by their declaration (`kind` is its name: `setting`) ----

/** A record's content: field name to value, in stored form. */
export type RecordFields = Record<string, JsonValue>;

/** Every kind's declaration, for building lists and forms; `hand_made` kinds have screens of their own. */
export const recordKinds = (): Promise<KindInfo[]> => call('record_kinds');
export const listRecords = (kind: string, filter: RecordFilter): Promise<Stored<RecordFields>[]> =>
  call('list_records', { kind, filter });
/** One record, deleted or not; `id` is its UUID or short id. */
export const getRecord = (kind: string, id: string): Promise<Stored<RecordFields>> => call('get_record', { kind, id });
export const createRecord = (kind: string, fields: RecordFields): Promise<Written<RecordFields>> =>
  call('create_record', { kind, fields });
/** Sets only the fields in `patch`, refused if the record moved on from `baseVersion`. */
export const editRecord = (
  kind: string,
  id: string,
  baseVersion: number,
  patch: RecordFields,
): Promise<Written<RecordFields>> => call('edit_record', { kind, id, baseVersion, patch });
export const deleteRecord = (kind: string, id: string, baseVersion: number): Promise<Written<RecordFields>> =>
  call('delete_record', { kind, id, baseVersion });
export const restoreRecord = (kind: string, id: string, baseVersion: number): Promise<Written<RecordFields>> =>
  call('restore_record', { kind, id, baseVersion });
/** Every revision of one record, oldest first. */
export const recordHistory = (kind: string, id: string): Promise<HistoryEntry[]> => call('record_history', { kind, id });

// ---- sync, sign-in, settings ----

export const syncStatus = (): Promise<SyncStatus> => call('sync_status');
export const syncNow = (): Promise<void> => call('sync_now');
/** Checks the address and token with the server, keeps the token, starts syncing: the new status. */
export const signIn = (serverUrl: string, token: string): Promise<SyncStatus> => call('sign_in', { serverUrl, token });
/** Stops syncing and forgets the token: the new status. */
export const signOut = (): Promise<SyncStatus> => call('sign_out');
/** Watches `path` (null: none) for scans: the app's info as it now is. */
export const setScannerFolder = (path: string | null): Promise<AppInfo> => call('set_scanner_folder', { path });
export const conflicts = (): Promise<RecordConflicts[]> => call('conflicts');
/** Settles a record's conflicts: field → the value picked (in the record's JSON form). */
export const resolveConflict = (recordId: string, picks: Record<string, unknown>): Promise<Revision> =>
  call('resolve_conflict', { recordId, picks });

// ---- events ----

export const EVENTS = {
  syncStatus: 'sync://status',
  fileProgress: 'files://progress',
  storeChanged: 'store://changed',
  scannedFile: 'scanner://file',
} as const;

/** The sync status, whenever it changes. */
export const onSyncStatus = (handler: (status: SyncStatus) => void): Promise<UnlistenFn> =>
  listen<SyncStatus>(EVENTS.syncStatus, (e) => handler(e.payload));

/** Bytes copied so far of a file being attached. */
export const onFileProgress = (handler: (progress: FileProgress) => void): Promise<UnlistenFn> =>
  listen<FileProgress>(EVENTS.fileProgress, (e) => handler(e.payload));

/** The store changed under the UI (sync pulled changes, the scanner filed a file). */
export const onStoreChanged = (handler: () => void): Promise<UnlistenFn> =>
  listen<unknown>(EVENTS.storeChanged, () => handler());

/** A file the scanner put in the scanner folder, and what became of it. */
export const onScannedFile = (handler: (file: ScannedFile) => void): Promise<UnlistenFn> =>
  listen<ScannedFile>(EVENTS.scannedFile, (e) => handler(e.payload));

export type FileDrop =
  | { type: 'enter'; paths: string[] }
  | { type: 'over' }
  | { type: 'drop'; paths: string[] }
  | { type: 'leave' };

/** Files dragged over or dropped on the window (the webview gives their paths). */
export async function onFileDrop(handler: (drop: FileDrop) => void): Promise<UnlistenFn> {
  return getCurrentWebview().onDragDropEvent((e) => {
    const p = e.payload;
    switch (p.type) {
      case 'enter':
        handler({ type: 'enter', paths: p.paths });
        break;
      case 'over':
        handler({ type: 'over' });
        break;
      case 'drop':
        handler({ type: 'drop', paths: p.paths });
        break;
      case 'leave':
        handler({ type: 'leave' });
        break;
    }
  });
}
