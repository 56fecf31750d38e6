// One record's history, newest first: who changed what, when and on which workstation, each field
// before → after (a creation lists what it was made with), as the case screen shows a case's.

import { useEffect, useState } from 'react';

import { recordHistory, toApiError } from '../../api';
import type { HistoryEntry } from '../../bindings/HistoryEntry';
import type { KindInfo } from '../../bindings/KindInfo';
import { dateTimeText } from '../../lib/format';
import { cellText } from './recordForm';

/** What a revision did, in words, with the fields' labels. */
function summary(kind: KindInfo, entry: HistoryEntry): string {
  const f = entry.fields;
  if (entry.resolves && entry.resolves.length) return 'resolved a conflict';
  if ('deleted_at' in f) return f.deleted_at === null ? 'restored' : 'deleted';
  if (entry.version === 1) return 'created';
  const labels = Object.keys(f).map((name) => kind.fields.find((x) => x.name === name)?.label.toLowerCase() ?? name);
  return labels.length ? `changed ${labels.join(', ')}` : 'changed nothing';
}

export function RecordHistory({ kind, id, stamp }: { kind: KindInfo; id: string; stamp: string }) {
  const [entries, setEntries] = useState<HistoryEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    recordHistory(kind.name, id)
      .then((h) => live && (setEntries([...h].reverse()), setError(null)))
      .catch((e: unknown) => live && setError(toApiError(e).message));
    return () => {
      live = false;
    };
  }, [kind.name, id, stamp]);

  if (error) return <div className="notice error" role="alert">{error}</div>;
  if (!entries) return <p className="muted">Loading history…</p>;
  const field = (name: string) => kind.fields.find((f) => f.name === name);
  return (
    <ol className="history-list record-history" data-testid="record-history" aria-label="History">
      {entries.map((e) => {
        const shown = e.changes.filter((c) => {
          const f = field(c.field);
          if (f?.hidden || c.field === 'deleted_at') return false;
          return e.version !== 1 || cellText(f, c.after) !== '';
        });
        return (
          <li key={e.id} className="history-entry" data-testid="record-history-entry" data-version={e.version}>
            <div className="history-head">
              <strong>{e.author}</strong>
              <span className="muted">on {e.workstation}</span>
              <time className="muted" dateTime={e.made_at}>
                {dateTimeText(e.made_at)}
              </time>
              <span>{summary(kind, e)}</span>
              <span className="spacer" />
              {e.origin === 'central' && <span className="badge">from the lab</span>}
              <span className="muted">v{e.version}</span>
            </div>
            {shown.length > 0 && (
              <table className="changes">
                <tbody>
                  {shown.map((c) => (
                    <tr key={c.field} data-testid="record-history-change" data-field={c.field}>
                      <th scope="row">{field(c.field)?.label ?? c.field}</th>
                      {e.version === 1 ? (
                        <td className="after" colSpan={3}>
                          {cellText(field(c.field), c.after)}
                        </td>
                      ) : (
                        <>
                          <td className="before">{cellText(field(c.field), c.before) || '—'}</td>
                          <td className="arrow" aria-label="became">
                            →
                          </td>
                          <td className="after">{cellText(field(c.field), c.after) || '—'}</td>
                        </>
                      )}
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </li>
        );
      })}
    </ol>
  );
}
