import { render, screen, within } from '@testing-library/react';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it } from 'vitest';

import type { HistoryEntry } from '../../bindings/HistoryEntry';
import { History } from './History';

afterEach(() => clearMocks());

function entry(extra: Partial<HistoryEntry>): HistoryEntry {
  return {
    id: 'r1',
    record_kind: 'case',
    record_id: '0193a1b2-0000-7000-8000-00000000c0de',
    version: 1,
    base_version: 0,
    parent: null,
    fields: {},
    author: 'ann',
    workstation: 'FD1',
    made_at: '2026-11-21T09:00:00.000Z',
    superseded_by: null,
    origin: 'local',
    changes: [],
    label: 'FD1-000001',
    short_id: '0000c0de',
    conflicts: [],
    ...extra,
  };
}

describe('case history', () => {
  it('names each record by what a person typed and shows a conflicted change with the kept and the proposed value', async () => {
    const entries = [
      entry({ id: 'r1', version: 1, fields: { case_number: 'FD1-000001' } }),
      entry({
        id: 'r2',
        record_kind: 'chat_message',
        record_id: '0193a1b2-0000-7000-8000-0000000000aa',
        fields: { message_content: 'Margin on 36 looks short' },
        label: '"Margin on 36 looks short"',
        short_id: '000000aa',
      }),
      entry({
        id: 'r3',
        version: 3,
        base_version: 2,
        author: 'bob',
        workstation: 'TB2',
        made_at: '2026-11-21T10:00:00.000Z',
        conflicts: [{ field: 'status', kept: 'milling', proposed: 'qc', resolved: false }],
      }),
    ];
    mockIPC((cmd) => (cmd === 'case_history' ? entries : null));
    render(<History caseId="c1" stamp="1" />);
    const label = await screen.findByTestId('history-label');
    expect(label).toHaveTextContent('"Margin on 36 looks short"');
    const conflict = screen.getByTestId('history-conflict');
    expect(conflict).toHaveTextContent('kept milling');
    expect(conflict).toHaveTextContent('proposed qc');
    const [newest] = screen.getAllByTestId('history-entry');
    expect(within(newest).getByText('needs review')).toBeInTheDocument();
    expect(newest).toHaveTextContent('proposed status (did not take)');
  });
});
