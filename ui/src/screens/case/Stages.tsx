// The seven production stages of a case, in the core's order: assign, start, complete (and block,
// hold, reset). Each move is sent with the stage's version, so two benches cannot silently undo
// each other.

import { useState } from 'react';

import { moveStage, toApiError } from '../../api';
import type { StageAction } from '../../bindings/StageAction';
import type { StageView } from '../../bindings/StageView';
import { dateTimeText, humanize } from '../../lib/format';

type Props = {
  caseId: string;
  stages: StageView[];
  onChanged: () => void;
  readOnly: boolean;
};

function AssigneeInput({ view, onCommit, disabled }: { view: StageView; onCommit: (who: string | null) => void; disabled: boolean }) {
  const [value, setValue] = useState(view.assignee ?? '');
  const [was, setWas] = useState(view.assignee ?? '');
  if ((view.assignee ?? '') !== was) {
    setWas(view.assignee ?? '');
    setValue(view.assignee ?? '');
  }
  const commit = () => {
    const next = value.trim();
    if (next !== (view.assignee ?? '')) onCommit(next === '' ? null : next);
  };
  return (
    <input
      className="assignee-input"
      data-testid="stage-assignee"
      aria-label={`Assignee of ${humanize(view.stage)}`}
      placeholder="unassigned"
      value={value}
      disabled={disabled}
      onChange={(e) => setValue(e.target.value)}
      onBlur={commit}
      onKeyDown={(e) => {
        if (e.key === 'Enter') {
          e.preventDefault();
          commit();
        }
        if (e.key === 'Escape') setValue(view.assignee ?? '');
      }}
    />
  );
}

export function Stages({ caseId, stages, onChanged, readOnly }: Props) {
  const [busy, setBusy] = useState<string | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const current = stages.find((s) => s.status !== 'completed')?.stage;

  const act = async (view: StageView, action: StageAction) => {
    setBusy(view.stage);
    try {
      await moveStage(caseId, view.stage, action, view.version);
      setErrors((e) => ({ ...e, [view.stage]: '' }));
      onChanged();
    } catch (e) {
      setErrors((prev) => ({ ...prev, [view.stage]: toApiError(e).message }));
    } finally {
      setBusy(null);
    }
  };

  const done = stages.filter((s) => s.status === 'completed').length;
  return (
    <section className="panel stages" data-testid="stages" aria-label="Workflow stages">
      <h2>
        Workflow <span className="muted">{done} of {stages.length} done</span>
      </h2>
      <div className="stage-progress" aria-hidden="true">
        {stages.map((s) => (
          <span key={s.stage} className={`pip ${s.status}`} title={`${humanize(s.stage)}: ${humanize(s.status)}`} />
        ))}
      </div>
      <table className="stage-table">
        <tbody>
          {stages.map((s) => (
            <tr
              key={s.stage}
              data-testid={`stage-${s.stage}`}
              data-status={s.status}
              className={`${s.status} ${s.stage === current ? 'current' : ''}`}
            >
              <th scope="row">
                {humanize(s.stage)}
                {(s.started_at || s.completed_at || s.notes) && (
                  <span className="times muted">
                    {s.started_at && <span title="Started">started {dateTimeText(s.started_at)}</span>}
                    {s.completed_at && <span title="Completed"> · done {dateTimeText(s.completed_at)}</span>}
                    {s.notes && <span title={s.notes}> · notes</span>}
                  </span>
                )}
              </th>
              <td>
                <span className={`badge stage-status ${s.status}`} data-testid="stage-status">
                  {humanize(s.status)}
                </span>
              </td>
              <td>
                <AssigneeInput
                  view={s}
                  disabled={readOnly || busy === s.stage}
                  onCommit={(who) => void act(s, { action: 'assign', value: who })}
                />
              </td>
              <td className="actions">
                <button
                  type="button"
                  data-testid="stage-start"
                  disabled={readOnly || busy === s.stage || s.status === 'in_progress'}
                  onClick={() => void act(s, { action: 'start' })}
                >
                  Start
                </button>
                <button
                  type="button"
                  data-testid="stage-complete"
                  disabled={readOnly || busy === s.stage || s.status === 'completed'}
                  onClick={() => void act(s, { action: 'complete' })}
                >
                  Complete
                </button>
                <select
                  aria-label={`More for ${humanize(s.stage)}`}
                  data-testid="stage-more"
                  value=""
                  disabled={readOnly || busy === s.stage}
                  onChange={(e) => {
                    const v = e.target.value;
                    if (v === 'block' || v === 'hold' || v === 'reset') void act(s, { action: v });
                  }}
                >
                  <option value="">⋯</option>
                  <option value="block">Block</option>
                  <option value="hold">Put on hold</option>
                  <option value="reset">Reset to pending</option>
                </select>
                {errors[s.stage] && (
                  <div className="field-error" role="alert">
                    {errors[s.stage]}
                  </div>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
