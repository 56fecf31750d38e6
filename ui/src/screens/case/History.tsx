// The case's history: every revision of the case and of the records attached to it — who, when,
// on which workstation, and each field before → after. Newest first.

import { useEffect, useState } from 'react';

import { caseHistory, toApiError } from '../../api';
import type { HistoryEntry } from '../../bindings/HistoryEntry';
import type { RecordKind } from '../../bindings/RecordKind';
import { dateTimeText, humanize, valueText } from '../../lib/format';

const KIND_LABEL: Record<RecordKind, string> = {
  case: 'Case',
  case_meta: 'Meta',
  chat_message: 'Chat',
  file: 'File',
  workflow_stage: 'Stage',
  case_note: 'Note',
  setting: 'Setting',
};

/** The share key is never shown. */
const SECRET_FIELDS = ['secret_key'];

/** A creation lists every field; the empty ones say nothing. */
const telling = (entry: HistoryEntry) =>
  entry.changes.filter((c) => {
    if (SECRET_FIELDS.includes(c.field)) return false;
    if (entry.version !== 1) return true;
    const v = c.after;
    return !(v === null || v === '' || (Array.isArray(v) && v.length === 0) || valueText(v) === '(empty)');
  });

/** What a revision did, in words. */
function summary(entry: HistoryEntry): string {
  const f = entry.fields;
  if (entry.resolves && entry.resolves.length) return 'resolved a conflict';
  if ('deleted_at' in f) return f.deleted_at === null ? 'restored' : 'deleted';
  if (entry.conflicts.length && !Object.keys(f).length) {
    return `proposed ${entry.conflicts.map((c) => c.field).join(', ')} (did not take)`;
  }
  if (entry.version === 1) {
    if (entry.record_kind === 'workflow_stage' && typeof f.stage === 'string') return `${humanize(f.stage)} stage first moved`;
    if (entry.record_kind === 'case_meta' && typeof f.key === 'string') return `set ${f.key}`;
    if (entry.record_kind === 'file' && typeof f.original_name === 'string') return `attached ${f.original_name}`;
    return 'created';
  }
  return `changed ${Object.keys(f).join(', ')}`;
}

export function History({ caseId, stamp }: { caseId: string; stamp: string }) {
  const [entries, setEntries] = useState<HistoryEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [kind, setKind] = useState<RecordKind | 'all'>('all');

  useEffect(() => {
    let live = true;
    caseHistory(caseId)
      .then((h) => live && (setEntries([...h].reverse()), setError(null)))
      .catch((e: unknown) => live && setError(toApiError(e).message));
    return () => {
      live = false;
    };
  }, [caseId, stamp]);

  if (error) return <div className="notice error" role="alert">{error}</div>;
  if (!entries) return <p className="muted">Loading history…</p>;
  const kinds = [...new Set(entries.map((e) => e.record_kind))];
  const shown = kind === 'all' ? entries : entries.filter((e) => e.record_kind === kind);
  return (
    <section className="history" data-testid="history" aria-label="History">
      <div className="history-filter">
        <label className="inline">
          Show
          <select value={kind} onChange={(e) => setKind(e.target.value as RecordKind | 'all')} data-testid="history-kind">
            <option value="all">everything ({entries.length})</option>
            {kinds.map((k) => (
              <option key={k} value={k}>
                {KIND_LABEL[k]} ({entries.filter((e) => e.record_kind === k).length})
              </option>
            ))}
          </select>
        </label>
      </div>
      <ol className="history-list">
        {shown.map((e) => (
          <li key={e.id} className="history-entry" data-testid="history-entry" data-kind={e.record_kind}>
            <div className="history-head">
              <span className={`badge kind-${e.record_kind}`}>{KIND_LABEL[e.record_kind]}</span>
              {e.record_kind !== 'case' && e.label && (
                <span className="history-label" data-testid="history-label" title={`id …${e.short_id}`}>
                  {e.label}
                </span>
              )}
              <strong>{e.author}</strong>
              <span className="muted">on {e.workstation}</span>
              <time className="muted" dateTime={e.made_at}>
                {dateTimeText(e.made_at)}
              </time>
              <span>{summary(e)}</span>
              <span className="muted">v{e.version}</span>
              {e.origin === 'central' && <span className="badge">from the lab</span>}
              {e.conflicts.length > 0 && (
                <span className="badge warn">{e.conflicts.some((c) => !c.resolved) ? 'needs review' : 'conflict resolved'}</span>
              )}
            </div>
            {e.conflicts.length > 0 && (
              <table className="changes conflicts">
                <tbody>
                  {e.conflicts.map((c) => (
                    <tr key={c.field} data-testid="history-conflict" data-field={c.field}>
                      <th scope="row">{c.field}</th>
                      <td className="kept">kept {valueText(c.kept)}</td>
                      <td className="arrow" aria-hidden="true">
                        ·
                      </td>
                      <td className="proposed">proposed {valueText(c.proposed)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {telling(e).length > 0 && (
              <table className="changes">
                <tbody>
                  {telling(e).map((c) => (
                    <tr key={c.field} data-testid="history-change" data-field={c.field}>
                      <th scope="row">{c.field}</th>
                      {e.version === 1 ? (
                        <td className="after" colSpan={3}>
                          {valueText(c.after)}
                        </td>
                      ) : (
                        <>
                          <td className="before">{valueText(c.before)}</td>
                          <td className="arrow" aria-label="became">
                            →
                          </td>
                          <td className="after">{valueText(c.after)}</td>
                        </>
                      )}
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}
