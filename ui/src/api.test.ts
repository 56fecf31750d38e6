import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it } from 'vitest';

import {
  addNote,
  ApiError,
  caseDetail,
  deleteNote,
  editCase,
  editNote,
  listCases,
  moveStage,
  onSyncStatus,
  postMessage,
  resolveConflict,
  setScannerFolder,
  signIn,
  signOut,
  toApiError,
} from './api';
import type { CaseQuery } from './bindings/CaseQuery';
import type { SyncStatus } from './bindings/SyncStatus';

afterEach(() => clearMocks());

const query: CaseQuery = {
  status: ['milling'],
  priority: [],
  due_from: null,
  due_to: null,
  assignee: null,
  parent: null,
  overdue_only: false,
  include_deleted: false,
  sort: 'due_date',
  descending: false,
  offset: 200,
  limit: 200,
};

describe('api', () => {
  it('calls each command by its name with camelCase arguments', async () => {
    const seen: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      return cmd === 'list_cases' ? { total: 0, offset: 200, limit: 200, cases: [] } : null;
    });
    await listCases(query);
    await editCase('FD1-000001', 3, { priority: 'high' }, { patient_age: '42' });
    await moveStage('FD1-000001', 'design', { action: 'assign', value: 'bob' }, 0);
    await postMessage('FD1-000001', {
      message_type: 'text',
      message_content: 'hi',
      attachments: [],
      reply_to: null,
      parent_message_id: null,
      message_purpose: null,
    });
    await resolveConflict('0190a000-0000-7000-8000-000000000001', { status: 'milling' });
    expect(seen).toEqual([
      ['list_cases', { query }],
      ['edit_case', { key: 'FD1-000001', baseVersion: 3, fields: { priority: 'high' }, meta: { patient_age: '42' } }],
      ['move_stage', { caseKey: 'FD1-000001', stage: 'design', action: { action: 'assign', value: 'bob' }, baseVersion: 0 }],
      ['post_message', { caseKey: 'FD1-000001', message: expect.objectContaining({ message_content: 'hi' }) }],
      ['resolve_conflict', { recordId: '0190a000-0000-7000-8000-000000000001', picks: { status: 'milling' } }],
    ]);
  });

  it('calls the note commands with the case, the note and the version the change was made on', async () => {
    const seen: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      return null;
    });
    await addNote('FD1-000001', 'Shade A1');
    await editNote('0190a000-0000-7000-8000-000000000009', 2, 'Shade A2');
    await deleteNote('0190a000-0000-7000-8000-000000000009', 3);
    expect(seen).toEqual([
      ['add_note', { caseKey: 'FD1-000001', body: 'Shade A1' }],
      ['edit_note', { id: '0190a000-0000-7000-8000-000000000009', baseVersion: 2, body: 'Shade A2' }],
      ['delete_note', { id: '0190a000-0000-7000-8000-000000000009', baseVersion: 3 }],
    ]);
  });

  it('hands back what sign-in, sign-out and the scanner folder answer: the sync status and the app info', async () => {
    const status = { online: true, signed_in: true, pending: 0 } as SyncStatus;
    const info = { workstation: 'FD1', scanner_folder: '/home/ann/Scans' };
    mockIPC((cmd) => (cmd === 'set_scanner_folder' ? info : { ...status, signed_in: cmd === 'sign_in' }));
    expect(await signIn('https://hq.example', 'ldk_x')).toMatchObject({ signed_in: true });
    expect(await signOut()).toMatchObject({ signed_in: false });
    expect((await setScannerFolder('/home/ann/Scans')).scanner_folder).toBe('/home/ann/Scans');
  });

  it('turns a CommandError into an ApiError that names the fields', async () => {
    mockIPC(() => {
      throw {
        kind: 'invalid',
        message: 'the case was not saved: due_date: …',
        fields: [
          { field: 'due_date', problem: 'is before the start date' },
          { field: 'due_date', problem: 'is a Sunday' },
          { field: 'aligners[0].from', problem: '3 is after to (2)' },
        ],
      };
    });
    const error = await caseDetail('FD1-000001').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    const api = error as ApiError;
    expect(api.kind).toBe('invalid');
    expect(api.byField()).toEqual({
      due_date: 'is before the start date; is a Sunday',
      'aligners[0].from': '3 is after to (2)',
    });
  });

  it('keeps any other rejection as an "other" error with its text', () => {
    expect(toApiError('command list_cases not found')).toMatchObject({ kind: 'other', message: 'command list_cases not found', fields: [] });
    expect(toApiError(new Error('boom'))).toMatchObject({ kind: 'other', message: 'boom' });
    expect(toApiError({ kind: 'nonsense', message: 'x' })).toMatchObject({ kind: 'other' });
  });

  it('delivers sync://status payloads to the subscriber', async () => {
    mockIPC(() => null, { shouldMockEvents: true });
    const got: SyncStatus[] = [];
    const stop = await onSyncStatus((s) => got.push(s));
    const { emit } = await import('@tauri-apps/api/event');
    const status = { online: true, pending: 3 } as SyncStatus;
    await emit('sync://status', status);
    expect(got).toEqual([status]);
    stop();
  });
});
