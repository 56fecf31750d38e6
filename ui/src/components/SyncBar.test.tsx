import { cleanup, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';

import type { SyncStatus } from '../bindings/SyncStatus';
import { SyncBar } from './SyncBar';

const base: SyncStatus = {
  online: true,
  signed_in: true,
  server_url: 'https://hq.example/',
  token_store: 'keychain',
  syncing: false,
  pending: 0,
  files_waiting: 0,
  last_sync_at: new Date(Date.now() - 5 * 60_000).toISOString(),
  last_error: null,
  progress: null,
  needs_review: 0,
  rejected: [],
  held: 0,
};

describe('sync bar', () => {
  it('is not up to date while changes from the lab are set aside, and says how many', () => {
    render(<SyncBar status={{ ...base, held: 2 }} />);
    expect(screen.getByTestId('sync-last')).toHaveTextContent('Last sync 5 min ago');
    expect(screen.getByTestId('sync-last')).not.toHaveTextContent('Up to date');
    expect(screen.getByTestId('sync-held')).toHaveTextContent('2 from the lab not stored');
    expect(screen.getByTestId('sync-held')).toHaveAttribute('title', expect.stringContaining('labdesk rejected'));
  });

  it('says online, all sent, and up to date however long ago the last exchange was', () => {
    render(<SyncBar status={base} />);
    expect(screen.getByTestId('sync-status')).toHaveAttribute('data-state', 'online');
    expect(screen.getByTestId('sync-pending')).toHaveTextContent('All changes sent');
    expect(screen.getByTestId('sync-last')).toHaveTextContent('Up to date · last exchange 5 min ago');
  });

  it('says when it last synced while changes wait or the server is away', () => {
    const { rerender } = render(<SyncBar status={{ ...base, pending: 2 }} />);
    expect(screen.getByTestId('sync-last')).toHaveTextContent('Last sync 5 min ago');
    rerender(<SyncBar status={{ ...base, online: false }} />);
    expect(screen.getByTestId('sync-last')).toHaveTextContent('Last sync 5 min ago');
  });

  it('says offline, what waits, and why the last round failed', () => {
    render(<SyncBar status={{ ...base, online: false, pending: 12, last_error: 'cannot reach the LabDesk server' }} />);
    expect(screen.getByTestId('sync-status')).toHaveAttribute('data-state', 'offline');
    expect(screen.getByTestId('sync-state')).toHaveTextContent('Offline');
    expect(screen.getByTestId('sync-pending')).toHaveTextContent('12 changes waiting');
    expect(screen.getByTestId('sync-error')).toHaveTextContent('cannot reach the LabDesk server');
  });

  it('shows progress while syncing, and what needs a person', async () => {
    const user = userEvent.setup();
    render(
      <SyncBar
        status={{
          ...base,
          syncing: true,
          progress: { stage: 'pull', records_done: 500, records_total: 2000, bytes_done: 0, bytes_total: null },
          needs_review: 2,
          rejected: [
            {
              revision_id: 'r1',
              record_kind: 'case',
              record_id: 'c1',
              fields: { status: 'cancelled' },
              author: 'ann',
              workstation: 'FD1',
              made_at: '2026-11-21T09:00:00.000Z',
              reason: 'only a lab manager may cancel a delivered case',
              rejected_at: '2026-11-21T09:05:00.000Z',
            },
          ],
        }}
      />,
    );
    expect(screen.getByTestId('sync-status')).toHaveAttribute('data-state', 'syncing');
    expect(screen.getByTestId('sync-status')).toHaveTextContent('Pull500 / 2,000');
    expect(screen.getByTestId('sync-now')).toBeDisabled();
    expect(screen.getByTestId('sync-review')).toHaveTextContent('2 to review');
    await user.click(screen.getByTestId('sync-rejected'));
    expect(screen.getByTestId('sync-rejected-list')).toHaveTextContent('only a lab manager may cancel a delivered case');
    expect(screen.getByTestId('sync-rejected-list')).toHaveTextContent('status = cancelled');
  });

  it('counts files whose contents have not gone up as waiting, so the bar is not up to date', () => {
    render(<SyncBar status={{ ...base, files_waiting: 2 }} />);
    expect(screen.getByTestId('sync-pending')).toHaveTextContent("2 files' contents waiting");
    expect(screen.getByTestId('sync-last')).toHaveTextContent('Last sync');
    cleanup();
    render(<SyncBar status={{ ...base, pending: 1, files_waiting: 1 }} />);
    expect(screen.getByTestId('sync-pending')).toHaveTextContent("1 change and 1 file's contents waiting");
  });

  it('offers to sign in when not signed in', () => {
    render(<SyncBar status={{ ...base, signed_in: false, online: false }} />);
    expect(screen.getByTestId('sync-state')).toHaveTextContent('Not signed in');
    expect(screen.getByRole('button', { name: 'Sign in…' })).toBeVisible();
  });
});
