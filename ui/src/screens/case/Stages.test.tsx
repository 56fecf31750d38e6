import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type { Stage } from '../../bindings/Stage';
import type { StageView } from '../../bindings/StageView';
import { Stages } from './Stages';

afterEach(() => clearMocks());

const ORDER: Stage[] = ['receiving', 'impression_scan', 'design', 'milling', 'sintering', 'quality_control', 'delivery'];

function views(changes: Partial<Record<Stage, Partial<StageView>>> = {}): StageView[] {
  return ORDER.map((stage) => ({
    id: `s-${stage}`,
    version: 0,
    updated_at: null,
    updated_by: null,
    case_id: 'c1',
    stage,
    status: 'pending',
    assignee: null,
    started_at: null,
    completed_at: null,
    notes: '',
    ...changes[stage],
  }));
}

describe('stage notes', () => {
  it('shows each stage’s note where it has one', () => {
    mockIPC(() => null);
    render(
      <Stages caseId="c1" stages={views({ design: { version: 2, notes: 'Use the old bite registration' } })} onChanged={() => undefined} readOnly={false} />,
    );
    const notes = screen.getAllByTestId('stage-note');
    expect(notes).toHaveLength(1);
    expect(within(screen.getByTestId('stage-design')).getByTestId('stage-note')).toHaveTextContent('Use the old bite registration');
  });

  it('writes a note as the notes action, on the version the note was begun on', async () => {
    const user = userEvent.setup();
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      return null;
    });
    const onChanged = vi.fn();
    const { rerender } = render(
      <Stages caseId="c1" stages={views({ milling: { version: 3, notes: 'Slow feed' } })} onChanged={onChanged} readOnly={false} />,
    );
    const milling = screen.getByTestId('stage-milling');
    await user.click(within(milling).getByTestId('stage-note-edit'));
    const input = within(milling).getByTestId('stage-note-input');
    expect(input).toHaveValue('Slow feed');
    await user.type(input, ' on the zirconia');
    // The stage moves on while the note is written (someone started it): the notice says so.
    rerender(
      <Stages
        caseId="c1"
        stages={views({ milling: { version: 4, status: 'in_progress', notes: 'Slow feed' } })}
        onChanged={onChanged}
        readOnly={false}
      />,
    );
    expect(within(milling).getByTestId('stage-note-stale')).toHaveTextContent('now version 4');
    await user.click(within(milling).getByTestId('stage-note-save'));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0]).toEqual([
      'move_stage',
      { caseKey: 'c1', stage: 'milling', action: { action: 'notes', value: 'Slow feed on the zirconia' }, baseVersion: 3 },
    ]);
    await waitFor(() => expect(within(milling).queryByTestId('stage-note-input')).toBeNull());
    expect(onChanged).toHaveBeenCalled();
  });

  it('keeps the note being written and shows the core’s refusal', async () => {
    const user = userEvent.setup();
    mockIPC(() => {
      throw {
        kind: 'stale',
        message: 'the workflow stage s-design was changed since you opened it (you edited version 0, it is now at version 1); reload it and make your change again',
        fields: [],
      };
    });
    const onChanged = vi.fn();
    render(<Stages caseId="c1" stages={views()} onChanged={onChanged} readOnly={false} />);
    const design = screen.getByTestId('stage-design');
    await user.click(within(design).getByTestId('stage-note-edit'));
    await user.type(within(design).getByTestId('stage-note-input'), 'Check contacts');
    await user.click(within(design).getByTestId('stage-note-save'));
    expect(await within(design).findByTestId('stage-note-error')).toHaveTextContent('changed since you opened it');
    expect(within(design).getByTestId('stage-note-input')).toHaveValue('Check contacts');
    expect(onChanged).toHaveBeenCalled(); // fetches the stage as it now is
  });

  it('offers no note writing on a deleted case', () => {
    mockIPC(() => null);
    render(<Stages caseId="c1" stages={views()} onChanged={() => undefined} readOnly />);
    for (const button of screen.getAllByTestId('stage-note-edit')) expect(button).toBeDisabled();
  });
});

describe('completing a stage out of order', () => {
  it('asks first, naming the earlier stages not completed, and then completes with force', async () => {
    const user = userEvent.setup();
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      return null;
    });
    const onChanged = vi.fn();
    render(
      <Stages
        caseId="c1"
        stages={views({ receiving: { version: 2, status: 'completed' }, design: { version: 1, status: 'in_progress' } })}
        onChanged={onChanged}
        readOnly={false}
      />,
    );
    await user.click(within(screen.getByTestId('stage-delivery')).getByTestId('stage-complete'));
    const dialog = screen.getByRole('alertdialog', { name: 'Complete Delivery out of order?' });
    const earlier = within(dialog).getAllByRole('listitem').map((li) => li.textContent);
    expect(earlier).toEqual([
      'Impression scan (Pending)',
      'Design (In progress)',
      'Milling (Pending)',
      'Sintering (Pending)',
      'Quality control (Pending)',
    ]);
    expect(calls).toEqual([]); // nothing is sent before the person answers

    await user.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(calls).toEqual([]);

    await user.click(within(screen.getByTestId('stage-delivery')).getByTestId('stage-complete'));
    await user.click(screen.getByTestId('stage-out-of-order-confirm'));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0]).toEqual([
      'move_stage',
      { caseKey: 'c1', stage: 'delivery', action: { action: 'complete' }, baseVersion: 0, force: true },
    ]);
    expect(screen.queryByRole('alertdialog')).toBeNull();
    await waitFor(() => expect(onChanged).toHaveBeenCalled());
  });

  it('completes a stage whose earlier stages are all completed without asking', async () => {
    const user = userEvent.setup();
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      return null;
    });
    render(
      <Stages
        caseId="c1"
        stages={views({ receiving: { version: 1, status: 'completed' }, impression_scan: { version: 3, status: 'in_progress' } })}
        onChanged={() => undefined}
        readOnly={false}
      />,
    );
    await user.click(within(screen.getByTestId('stage-impression_scan')).getByTestId('stage-complete'));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(calls[0]).toEqual([
      'move_stage',
      { caseKey: 'c1', stage: 'impression_scan', action: { action: 'complete' }, baseVersion: 3 },
    ]);
  });
});
