import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type { CaseNote } from '../../bindings/CaseNote';
import type { Stored } from '../../bindings/Stored';
import { Notes } from './Notes';

afterEach(() => {
  clearMocks();
  vi.restoreAllMocks();
});

function note(id: string, author: string, body: string, extra: Partial<Stored<CaseNote>> = {}): Stored<CaseNote> {
  return {
    id,
    version: 1,
    created_at: '2026-11-21T09:00:00.000Z',
    updated_at: '2026-11-21T09:00:00.000Z',
    updated_by: author,
    deleted_at: null,
    case_id: 'c1',
    author_id: author,
    body,
    ...extra,
  };
}

describe('case notes', () => {
  it('lists each note with its author and when it was written, and says when one was edited', () => {
    mockIPC(() => null);
    const notes = [
      note('n1', 'bob', 'Prefers a lighter shade'),
      note('n2', 'ann', 'Called the dentist', { version: 2, updated_at: '2026-11-21T10:00:00.000Z', updated_by: 'carol' }),
    ];
    render(<Notes caseId="c1" notes={notes} me="ann" onChanged={() => undefined} readOnly={false} />);
    const [first, second] = screen.getAllByTestId('note');
    expect(within(first).getByTestId('note-author')).toHaveTextContent('bob');
    expect(within(first).getByTestId('note-time')).toHaveAttribute('dateTime', '2026-11-21T09:00:00.000Z');
    expect(within(first).getByTestId('note-body')).toHaveTextContent('Prefers a lighter shade');
    expect(within(first).queryByTestId('note-edited')).toBeNull();
    expect(within(second).getByTestId('note-author')).toHaveTextContent('You');
    expect(within(second).getByTestId('note-edited')).toHaveTextContent('by carol');
  });

  it('adds a note, clears the box, and shows what the core refused in its own words', async () => {
    const user = userEvent.setup();
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      const body = (args as { body: string }).body;
      if (!body.trim()) {
        throw { kind: 'invalid', message: 'the case note was not saved: body: is required', fields: [{ field: 'body', problem: 'is required' }] };
      }
      return note('n9', 'ann', body);
    });
    const onChanged = vi.fn();
    render(<Notes caseId="c1" notes={[]} me="ann" onChanged={onChanged} readOnly={false} />);
    expect(screen.getByTestId('notes')).toHaveTextContent('No notes yet.');
    await user.type(screen.getByTestId('note-input'), 'Shade A1 confirmed');
    await user.click(screen.getByTestId('note-add'));
    await waitFor(() => expect(onChanged).toHaveBeenCalled());
    expect(calls).toEqual([['add_note', { caseKey: 'c1', body: 'Shade A1 confirmed' }]]);
    expect(screen.getByTestId('note-input')).toHaveValue('');

    await user.click(screen.getByTestId('note-add'));
    expect(await screen.findByTestId('note-add-error')).toHaveTextContent('body: is required');
    expect(screen.getByTestId('note-input')).toHaveAttribute('aria-invalid', 'true');
  });

  it('saves an edit against the version it was begun on, and offers the newer note when it moved on', async () => {
    const user = userEvent.setup();
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      const base = (args as { baseVersion: number }).baseVersion;
      if (base !== 2) throw { kind: 'stale', message: `the case note n1 was changed since you opened it (you edited version ${base}, it is now at version 2)`, fields: [] };
      return null;
    });
    const onChanged = vi.fn();
    const v1 = note('n1', 'bob', 'Prefers a lighter shade');
    const { rerender } = render(<Notes caseId="c1" notes={[v1]} me="ann" onChanged={onChanged} readOnly={false} />);
    await user.click(screen.getByTestId('note-edit'));
    await user.clear(screen.getByTestId('note-edit-input'));
    await user.type(screen.getByTestId('note-edit-input'), 'Shade A1');
    expect(screen.queryByTestId('note-stale')).toBeNull();

    // Someone else changed the note meanwhile: saving would be refused, and the notice says so.
    const v2 = { ...v1, version: 2, body: 'Prefers shade B1' };
    rerender(<Notes caseId="c1" notes={[v2]} me="ann" onChanged={onChanged} readOnly={false} />);
    expect(screen.getByTestId('note-stale')).toHaveTextContent('now version 2');
    expect(screen.getByTestId('note-edit-input')).toHaveValue('Shade A1');
    await user.click(screen.getByTestId('note-edit-save'));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0]).toEqual(['edit_note', { id: 'n1', baseVersion: 1, body: 'Shade A1' }]);
    expect(await screen.findByTestId('note-edit-error')).toHaveTextContent('changed since you opened it');

    await user.click(screen.getByTestId('note-reload'));
    expect(screen.getByTestId('note-edit-input')).toHaveValue('Prefers shade B1');
    expect(screen.queryByTestId('note-stale')).toBeNull();
    await user.type(screen.getByTestId('note-edit-input'), ', or A1');
    await user.click(screen.getByTestId('note-edit-save'));
    await waitFor(() => expect(calls).toHaveLength(2));
    expect(calls[1]).toEqual(['edit_note', { id: 'n1', baseVersion: 2, body: 'Prefers shade B1, or A1' }]);
    await waitFor(() => expect(screen.queryByTestId('note-edit-input')).toBeNull());
  });

  it('shows a stale refusal from the core and fetches the note again', async () => {
    const user = userEvent.setup();
    mockIPC(() => {
      throw {
        kind: 'stale',
        message: 'the case note n1 was changed since you opened it (you edited version 1, it is now at version 2); reload it and make your change again',
        fields: [],
      };
    });
    const onChanged = vi.fn();
    render(<Notes caseId="c1" notes={[note('n1', 'bob', 'x')]} me="ann" onChanged={onChanged} readOnly={false} />);
    await user.click(screen.getByTestId('note-edit'));
    await user.type(screen.getByTestId('note-edit-input'), 'y');
    await user.click(screen.getByTestId('note-edit-save'));
    const error = await screen.findByTestId('note-edit-error');
    expect(error).toHaveTextContent('changed since you opened it');
    expect(error).toHaveAttribute('data-kind', 'stale');
    expect(onChanged).toHaveBeenCalled();
    expect(screen.getByTestId('note-edit-input')).toHaveValue('xy');
  });

  it('deletes a note only after asking, with the version shown', async () => {
    const user = userEvent.setup();
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      return null;
    });
    const confirm = vi.spyOn(window, 'confirm').mockReturnValueOnce(false).mockReturnValueOnce(true);
    const onChanged = vi.fn();
    render(<Notes caseId="c1" notes={[note('n1', 'bob', 'x', { version: 3 })]} me="ann" onChanged={onChanged} readOnly={false} />);
    await user.click(screen.getByTestId('note-delete'));
    expect(calls).toEqual([]);
    await user.click(screen.getByTestId('note-delete'));
    await waitFor(() => expect(calls).toEqual([['delete_note', { id: 'n1', baseVersion: 3 }]]));
    expect(confirm).toHaveBeenCalledTimes(2);
    await waitFor(() => expect(onChanged).toHaveBeenCalled());
  });

  it('offers no adding, editing or deleting on a deleted case', () => {
    mockIPC(() => null);
    render(<Notes caseId="c1" notes={[note('n1', 'bob', 'x')]} me="ann" onChanged={() => undefined} readOnly />);
    expect(screen.queryByTestId('note-input')).toBeNull();
    expect(screen.queryByTestId('note-edit')).toBeNull();
    expect(screen.queryByTestId('note-delete')).toBeNull();
  });
});
