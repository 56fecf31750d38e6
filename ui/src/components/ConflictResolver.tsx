// Conflict review: a field two workstations changed to different values. The value accepted
// first was kept; a person picks, per field, the kept one, the proposed one, or their own. The
// pick is a normal change, checked by the core like any other.

import { useState } from 'react';

import { resolveConflict, toApiError } from '../api';
import type { FieldDispute } from '../bindings/FieldDispute';
import type { RecordConflicts } from '../bindings/RecordConflicts';
import type { JsonValue } from '../bindings/serde_json/JsonValue';
import { dateTimeText, humanize, valueText } from '../lib/format';

type Choice = 'kept' | 'proposed' | 'own';
type Pick = { choice: Choice; own: string };

/** Text fields are typed as text; any other value as JSON. */
const isText = (d: FieldDispute) =>
  (typeof d.kept === 'string' || d.kept === null) && (typeof d.proposed === 'string' || d.proposed === null);

function ownValue(d: FieldDispute, text: string): JsonValue {
  if (isText(d)) return text;
  return JSON.parse(text) as JsonValue;
}

const who = (by: string | null, ws: string | null, at: string | null) =>
  by ? `${by}${ws ? ` on ${ws}` : ''}${at ? `, ${dateTimeText(at)}` : ''}` : 'when the record was created';

export function ConflictResolver({ conflict, onResolved }: { conflict: RecordConflicts; onResolved: () => void }) {
  // A field may be disputed by more than one revision; one pick per field settles them all.
  const fields = [...new Map(conflict.disputes.map((d) => [d.field, d])).values()];
  const [picks, setPicks] = useState<Record<string, Pick>>(() =>
    Object.fromEntries(fields.map((d) => [d.field, { choice: 'kept' as Choice, own: isText(d) ? String(d.kept ?? '') : JSON.stringify(d.kept) }])),
  );
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [saving, setSaving] = useState(false);

  const submit = async () => {
    const values: Record<string, unknown> = {};
    const bad: Record<string, string> = {};
    for (const d of fields) {
      const p = picks[d.field];
      if (p.choice === 'kept') values[d.field] = d.kept;
      else if (p.choice === 'proposed') values[d.field] = d.proposed;
      else {
        try {
          values[d.field] = ownValue(d, p.own);
        } catch {
          bad[d.field] = 'not valid JSON; edit the value as it is shown (a list in [ ], text in quotes)';
        }
      }
    }
    setFieldErrors(bad);
    if (Object.keys(bad).length) return;
    setSaving(true);
    setError(null);
    try {
      await resolveConflict(conflict.record_id, values);
      onResolved();
    } catch (e) {
      const err = toApiError(e);
      setError(err.message);
      setFieldErrors(err.byField());
    } finally {
      setSaving(false);
    }
  };

  return (
    <div className="conflict" data-testid="conflict" data-record={conflict.record_id}>
      <h3>
        {humanize(conflict.record_kind)}
        {conflict.case_number ? ` of ${conflict.case_number}` : ''}: {fields.length} field
        {fields.length === 1 ? '' : 's'} to decide
      </h3>
      {fields.map((d) => {
        const p = picks[d.field];
        const set = (patch: Partial<Pick>) => setPicks((all) => ({ ...all, [d.field]: { ...all[d.field], ...patch } }));
        const name = `pick-${conflict.record_id}-${d.field}`;
        return (
          <fieldset key={d.field} className="dispute" data-testid="dispute" data-field={d.field}>
            <legend>{d.field}</legend>
            <label className="option">
              <input type="radio" name={name} checked={p.choice === 'kept'} onChange={() => set({ choice: 'kept' })} data-testid="pick-kept" />
              <span className="value">{valueText(d.kept)}</span>
              <span className="muted">kept — {who(d.kept_by, d.kept_workstation, d.kept_at)}</span>
            </label>
            <label className="option">
              <input type="radio" name={name} checked={p.choice === 'proposed'} onChange={() => set({ choice: 'proposed' })} data-testid="pick-proposed" />
              <span className="value">{valueText(d.proposed)}</span>
              <span className="muted">proposed — {who(d.proposed_by, d.proposed_workstation, d.proposed_at)}</span>
            </label>
            <label className="option">
              <input type="radio" name={name} checked={p.choice === 'own'} onChange={() => set({ choice: 'own' })} data-testid="pick-own" />
              <span>Another value:</span>
              <input
                className="own-value"
                aria-label={`Your value for ${d.field}`}
                value={p.own}
                onFocus={() => set({ choice: 'own' })}
                onChange={(e) => set({ choice: 'own', own: e.target.value })}
                data-testid="pick-own-value"
              />
            </label>
            {JSON.stringify(d.current) !== JSON.stringify(d.kept) && (
              <p className="muted">Now: {valueText(d.current)} (changed again since)</p>
            )}
            {fieldErrors[d.field] && <span className="field-error">{fieldErrors[d.field]}</span>}
          </fieldset>
        );
      })}
      {error && (
        <div className="field-error" role="alert">
          {error}
        </div>
      )}
      <button type="button" className="primary" onClick={() => void submit()} disabled={saving} data-testid="resolve">
        {saving ? 'Saving…' : 'Resolve'}
      </button>
    </div>
  );
}
