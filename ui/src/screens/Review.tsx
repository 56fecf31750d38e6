// Everything sync asks a person to look at: conflicts to resolve (every case), and changes the
// lab's server refused, with its reasons.

import { useCallback, useEffect, useState } from 'react';

import { conflicts as loadConflicts, toApiError } from '../api';
import type { RecordConflicts } from '../bindings/RecordConflicts';
import { ConflictResolver } from '../components/ConflictResolver';
import { useApp } from '../lib/app';
import { dateTimeText, humanize, valueText } from '../lib/format';
import { navigate } from '../lib/route';
import kinds from '../bindings/kinds.json' with { type: 'json' };
import type { KindInfo } from '../bindings/KindInfo';
import { recordsHash } from './Records';

/** A kind with the generic screens (no screens of its own), by name. */
const declaredKind = (name: string): KindInfo | undefined =>
  (kinds as KindInfo[]).find((k) => k.name === name && !k.hand_made);

export function Review() {
  const { sync, storeEpoch } = useApp();
  const [list, setList] = useState<RecordConflicts[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  const reload = useCallback(() => setReloads((n) => n + 1), []);
  const needsReview = sync?.needs_review ?? 0;

  useEffect(() => {
    let live = true;
    loadConflicts()
      .then((c) => live && (setList(c), setError(null)))
      .catch((e: unknown) => live && setError(toApiError(e).message));
    return () => {
      live = false;
    };
  }, [reloads, storeEpoch, needsReview]);

  const rejected = sync?.rejected ?? [];
  return (
    <div className="screen review" data-testid="review">
      <header className="screen-header">
        <h1>Review</h1>
        <span className="muted">Conflicting changes to decide, and changes the lab refused</span>
      </header>
      {error && <div className="notice error" role="alert">{error}</div>}
      <section className="panel">
        <h2>Conflicts {list ? <span className="muted">{list.length}</span> : null}</h2>
        {list === null && <p className="muted">Loading…</p>}
        {list?.length === 0 && <p className="muted">No conflicts: every change merged cleanly.</p>}
        {list?.map((rc) => (
          <div key={rc.record_id} className="review-item">
            {rc.case_number && (
              <button type="button" className="link-button" onClick={() => navigate({ screen: 'case', key: rc.case_number ?? '' })}>
                Open {rc.case_number}
              </button>
            )}
            {!rc.case_number && declaredKind(rc.record_kind) && (
              <a className="link-button" href={recordsHash(rc.record_kind, rc.record_id)}>
                Open the {declaredKind(rc.record_kind)?.label}
              </a>
            )}
            <ConflictResolver conflict={rc} onResolved={reload} />
          </div>
        ))}
      </section>
      <section className="panel" data-testid="rejected">
        <h2>Refused changes <span className="muted">{rejected.length}</span></h2>
        {rejected.length === 0 ? (
          <p className="muted">The lab’s server has accepted every change sent from here.</p>
        ) : (
          <table className="rejected-table">
            <thead>
              <tr>
                <th>When</th>
                <th>What</th>
                <th>Change</th>
                <th>Why it was refused</th>
              </tr>
            </thead>
            <tbody>
              {rejected.map((r) => (
                <tr key={r.revision_id} data-testid="rejected-change">
                  <td className="muted">
                    {dateTimeText(r.made_at)}
                    <br />
                    {r.author} on {r.workstation}
                  </td>
                  <td>
                    {humanize(r.record_kind)}{' '}
                    {r.record_kind === 'case' ? (
                      <button type="button" className="link-button mono" onClick={() => navigate({ screen: 'case', key: r.record_id })}>
                        {r.record_id.slice(0, 8)}…
                      </button>
                    ) : (
                      <span className="mono muted">{r.record_id.slice(0, 8)}…</span>
                    )}
                  </td>
                  <td>
                    {Object.entries(r.fields)
                      .map(([k, v]) => `${k} = ${valueText(v)}`)
                      .join('; ')}
                  </td>
                  <td className="reason">{r.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
