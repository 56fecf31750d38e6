// The sync status, always at the bottom of the window: whether this workstation reaches the lab,
// what waits to be sent, when it last synced, what went wrong, and what needs a person.

import { useEffect, useState } from 'react';

import { syncNow, toApiError } from '../api';
import type { SyncStatus } from '../bindings/SyncStatus';
import { agoText, dateTimeText, humanize, valueText } from '../lib/format';
import { navigate } from '../lib/route';

function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** What waits to reach the lab: changes, and files whose contents have not gone up yet. */
function waitingText(pending: number, files: number): string {
  const count = (n: number, one: string, many: string) => `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
  if (pending === 0 && files === 0) return 'All changes sent';
  const parts = [
    pending > 0 ? count(pending, 'change', 'changes') : null,
    files > 0 ? count(files, "file's contents", "files' contents") : null,
  ].filter(Boolean);
  return `${parts.join(' and ')} waiting`;
}

export function SyncBar({ status }: { status: SyncStatus | null }) {
  const now = useNow(15000);
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);

  if (!status) {
    return (
      <footer className="sync-bar" data-testid="sync-status" data-state="unknown">
        <span className="muted">Sync status…</span>
      </footer>
    );
  }
  const state = !status.signed_in ? 'signed-out' : status.syncing ? 'syncing' : status.online ? 'online' : 'offline';
  const label = { 'signed-out': 'Not signed in', syncing: 'Syncing', online: 'Online', offline: 'Offline' }[state];
  const p = status.progress;
  const rejected = status.rejected;

  return (
    <footer className={`sync-bar ${state}`} data-testid="sync-status" data-state={state}>
      <span className="sync-state" data-testid="sync-state">
        <span className="dot" aria-hidden="true" />
        {label}
      </span>
      {p && (
        <span className="sync-progress">
          {humanize(p.stage)}
          <progress max={p.records_total || 1} value={p.records_total ? p.records_done : undefined} />
          {p.records_total ? `${p.records_done.toLocaleString('en')} / ${p.records_total.toLocaleString('en')}` : ''}
        </span>
      )}
      <span data-testid="sync-pending" title="Changes and file contents stored here that the lab's server does not have yet">
        {waitingText(status.pending, status.files_waiting)}
      </span>
      <span className="muted" title={status.last_sync_at ? dateTimeText(status.last_sync_at) : undefined} data-testid="sync-last">
        {/* Online, the watch hears of every change within a second: the last round's time alone
            would read as stale on a quiet day. */}
        {state === 'online' && status.pending === 0 && status.files_waiting === 0 && status.held === 0
          ? `Up to date · last exchange ${agoText(status.last_sync_at, now)}`
          : `Last sync ${agoText(status.last_sync_at, now)}`}
      </span>
      {status.last_error && (
        <span className="sync-error" title={status.last_error} data-testid="sync-error">
          ⚠ {status.last_error}
        </span>
      )}
      {error && <span className="sync-error">⚠ {error}</span>}
      <span className="spacer" />
      {status.needs_review > 0 && (
        <button type="button" className="badge review" onClick={() => navigate({ screen: 'review' })} data-testid="sync-review">
          {status.needs_review} to review
        </button>
      )}
      {status.held > 0 && (
        <span
          className="badge refused"
          data-testid="sync-held"
          title="Changes from the lab this workstation could not store (a case number used here already, for instance). They are tried again at every sync; `labdesk rejected` lists each with its reason."
        >
          {status.held} from the lab not stored
        </span>
      )}
      {rejected.length > 0 && (
        <button
          type="button"
          className="badge refused"
          aria-expanded={open}
          onClick={() => setOpen((o) => !o)}
          data-testid="sync-rejected"
        >
          {rejected.length} refused
        </button>
      )}
      {status.signed_in ? (
        <button
          type="button"
          disabled={status.syncing}
          data-testid="sync-now"
          onClick={() => {
            setError(null);
            syncNow().catch((e: unknown) => setError(toApiError(e).message));
          }}
        >
          Sync now
        </button>
      ) : (
        <button type="button" onClick={() => navigate({ screen: 'settings' })}>
          Sign in…
        </button>
      )}
      {open && rejected.length > 0 && (
        <div className="rejected-popover" role="dialog" aria-label="Refused changes" data-testid="sync-rejected-list">
          <strong>Changes the lab’s server refused</strong>
          <ul>
            {rejected.map((r) => (
              <li key={r.revision_id}>
                <span className="muted">
                  {dateTimeText(r.made_at)} · {humanize(r.record_kind)} ·{' '}
                  {Object.entries(r.fields)
                    .map(([k, v]) => `${k} = ${valueText(v)}`)
                    .join('; ')}
                </span>
                <br />
                {r.reason}
              </li>
            ))}
          </ul>
          <button type="button" onClick={() => (setOpen(false), navigate({ screen: 'review' }))}>
            Open Review
          </button>
        </div>
      )}
    </footer>
  );
}
