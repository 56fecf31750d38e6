import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type { FieldDispute } from '../bindings/FieldDispute';
import type { RecordConflicts } from '../bindings/RecordConflicts';
import { ConflictResolver } from './ConflictResolver';

afterEach(() => clearMocks());

const dispute = (field: string, kept: FieldDispute['kept'], proposed: FieldDispute['proposed']): FieldDispute => ({
  field,
  kept,
  kept_by: 'dave',
  kept_workstation: 'BN2',
  kept_at: '2026-11-20T10:00:00.000Z',
  proposed,
  revision_id: `r-${field}`,
  proposed_by: 'ann',
  proposed_workstation: 'FD1',
  proposed_at: '2026-11-20T10:01:00.000Z',
  current: kept,
  found_at: '2026-11-20T11:00:00.000Z',
});

const conflict: RecordConflicts = {
  record_kind: 'case',
  record_id: 'case-1',
  case_id: 'case-1',
  case_number: 'FD1-000002',
  disputes: [dispute('status', 'designing', 'milling'), dispute('assignees', ['bob'], ['carol']), dispute('priority', 'high', 'rush')],
};

describe('conflict review', () => {
  it('sends one value per field: kept, proposed, or one’s own', async () => {
    const user = userEvent.setup();
    const sent: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'resolve_conflict') sent.push(args);
      return null;
    });
    const onResolved = vi.fn();
    render(<ConflictResolver conflict={conflict} onResolved={onResolved} />);
    const [status, assignees, priority] = screen.getAllByTestId('dispute');
    expect(status).toHaveTextContent('kept — dave on BN2');
    await user.click(within(status).getByTestId('pick-proposed'));
    const own = within(assignees).getByTestId('pick-own-value');
    await user.clear(own);
    await user.type(own, '[["bob", "carol"]'); // user-event: "[[" types one bracket
    void priority; // left at "kept"
    await user.click(screen.getByTestId('resolve'));
    await waitFor(() => expect(onResolved).toHaveBeenCalled());
    expect(sent).toEqual([{ recordId: 'case-1', picks: { status: 'milling', assignees: ['bob', 'carol'], priority: 'high' } }]);
  });

  it('says when one’s own structured value is not valid, and sends nothing', async () => {
    const user = userEvent.setup();
    const sent: unknown[] = [];
    mockIPC((cmd, args) => {
      sent.push([cmd, args]);
      return null;
    });
    render(<ConflictResolver conflict={conflict} onResolved={() => undefined} />);
    const assignees = screen.getAllByTestId('dispute')[1];
    const own = within(assignees).getByTestId('pick-own-value');
    await user.clear(own);
    await user.type(own, 'bob, carol');
    await user.click(screen.getByTestId('resolve'));
    expect(within(assignees).getByText(/not valid JSON/)).toBeVisible();
    expect(sent).toEqual([]);
  });
});
