// The seven production stages of a case, in the core's order: assign, start, complete (and block,
// hold, reset), and a note per stage. Each move is sent with the stage's version (a note with the
// version it was begun on), so two benches cannot silently undo each other. Completing a stage
// before the earlier ones asks first (the core refuses it unless told the person confirmed).

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

/** Asks before completing a stage while earlier stages are not completed; names them. */
function OutOfOrderDialog({
  view,
  earlier,
  onConfirm,
  onCancel,
}: {
  view: StageView;
  earlier: StageView[];
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const name = humanize(view.stage);
  return (
    <div className="modal-backdrop" onClick={onCancel}>
      <div
        className="modal panel"
        role="alertdialog"
        aria-modal="true"
        aria-labelledby="out-of-order-title"
        data-testid="stage-out-of-order"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.preventDefault();
            onCancel();
          }
        }}
      >
        <h2 id="out-of-order-title">Complete {name} out of order?</h2>
        <p>
          {earlier.length === 1 ? 'This stage before it is' : 'These stages before it are'} not completed:
        </p>
        <ul data-testid="stage-out-of-order-earlier">
          {earlier.map((e) => (
            <li key={e.stage}>
              {humanize(e.stage)} <span className="muted">({humanize(e.status)})</span>
            </li>
          ))}
        </ul>
        <p className="muted">They stay as they are, and {name} is recorded as completed now.</p>
        <div className="stage-note-buttons">
          <button type="button" className="primary" data-testid="stage-out-of-order-confirm" onClick={onConfirm}>
            Complete {name} anyway
          </button>
          <button type="button" autoFocus onClick={onCancel}>
            Cancel
          </button>
        </div>
      </div>
    </div>
  );
}

/** A note being written on a stage: its text and the stage's version when it was begun. */
type NoteDraft = { text: string; base: number };

function StageNote({
  view,
  draft,
  busy,
  error,
  onDraft,
  onSave,
  onCancel,
}: {
  view: StageView;
  draft: NoteDraft;
  busy: boolean;
  error: string;
  onDraft: (draft: NoteDraft) => void;
  onSave: () => void;
  onCancel: () => void;
}) {
  const name = humanize(view.stage);
  const movedOn = draft.base !== view.version;
  return (
    <form
      className="stage-note-edit"
      onSubmit={(e) => {
        e.preventDefault();
        onSave();
      }}
    >
      {movedOn && (
        <div className="notice warn" role="alert" data-testid="stage-note-stale">
          {name} was changed elsewhere (now version {view.version}) while you wrote on version {draft.base}. Saving
          would be refused.{' '}
          <button type="button" onClick={() => onDraft({ text: view.notes, base: view.version })}>
            Discard my note and load version {view.version}
          </button>
        </div>
      )}
      <textarea
        aria-label={`Note on ${name}`}
        data-testid="stage-note-input"
        rows={2}
        value={draft.text}
        autoFocus
        disabled={busy}
        onChange={(e) => onDraft({ ...draft, text: e.target.value })}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            onSave();
          }
          if (e.key === 'Escape') {
            e.preventDefault();
            onCancel();
          }
        }}
      />
      <span className="stage-note-buttons">
        <button type="submit" className="primary" data-testid="stage-note-save" disabled={busy}>
          Save note
        </button>
        <button type="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </span>
      {error && (
        <div className="field-error" role="alert" data-testid="stage-note-error">
          {error}
        </div>
      )}
    </form>
  );
}

export function Stages({ caseId, stages, onChanged, readOnly }: Props) {
  const [busy, setBusy] = useState<string | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [noteDrafts, setNoteDrafts] = useState<Record<string, NoteDraft>>({});
  const [outOfOrder, setOutOfOrder] = useState<{ view: StageView; earlier: StageView[] } | null>(null);
  const current = stages.find((s) => s.status !== 'completed')?.stage;

  /** Moves a stage; `base` is the version the change was made on (by default, the one shown);
   * `force` completes it although earlier stages are not (the person confirmed). */
  const act = async (view: StageView, action: StageAction, base = view.version, force = false) => {
    setBusy(view.stage);
    try {
      await moveStage(caseId, view.stage, action, base, force);
      setErrors((e) => ({ ...e, [view.stage]: '' }));
      onChanged();
      return true;
    } catch (e) {
      const error = toApiError(e);
      setErrors((prev) => ({ ...prev, [view.stage]: error.message }));
      if (error.kind === 'stale') onChanged();
      return false;
    } finally {
      setBusy(null);
    }
  };

  const setNoteDraft = (stage: string, draft: NoteDraft | null) =>
    setNoteDrafts((prev) => {
      const next = { ...prev };
      if (draft) next[stage] = draft;
      else delete next[stage];
      return next;
    });

  /** Completes a stage, asking first when an earlier stage is not completed. */
  const complete = (view: StageView) => {
    const earlier = stages.slice(0, stages.indexOf(view)).filter((s) => s.status !== 'completed');
    if (earlier.length > 0) setOutOfOrder({ view, earlier });
    else void act(view, { action: 'complete' });
  };

  const saveNote = async (view: StageView) => {
    const draft = noteDrafts[view.stage];
    if (!draft) return;
    if (await act(view, { action: 'notes', value: draft.text }, draft.base)) setNoteDraft(view.stage, null);
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
        {stages.map((s) => (
          <tbody key={s.stage} data-testid={`stage-${s.stage}`} data-status={s.status}>
            <tr className={`${s.status} ${s.stage === current ? 'current' : ''}`}>
              <th scope="row">
                {humanize(s.stage)}
                {(s.started_at || s.completed_at) && (
                  <span className="times muted">
                    {s.started_at && <span title="Started">started {dateTimeText(s.started_at)}</span>}
                    {s.completed_at && <span title="Completed"> · done {dateTimeText(s.completed_at)}</span>}
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
                  onClick={() => complete(s)}
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
                <button
                  type="button"
                  data-testid="stage-note-edit"
                  aria-label={`${s.notes ? 'Edit the note on' : 'Write a note on'} ${humanize(s.stage)}`}
                  title={s.notes ? 'Edit the note' : 'Write a note'}
                  disabled={readOnly || busy === s.stage || !!noteDrafts[s.stage]}
                  onClick={() => {
                    setErrors((e) => ({ ...e, [s.stage]: '' }));
                    setNoteDraft(s.stage, { text: s.notes, base: s.version });
                  }}
                >
                  Note
                </button>
                {errors[s.stage] && !noteDrafts[s.stage] && (
                  <div className="field-error" role="alert">
                    {errors[s.stage]}
                  </div>
                )}
              </td>
            </tr>
            {(noteDrafts[s.stage] || s.notes) && (
              <tr className={`stage-note-row ${s.stage === current ? 'current' : ''}`}>
                <td colSpan={4}>
                  {noteDrafts[s.stage] ? (
                    <StageNote
                      view={s}
                      draft={noteDrafts[s.stage]}
                      busy={busy === s.stage}
                      error={errors[s.stage] ?? ''}
                      onDraft={(d) => setNoteDraft(s.stage, d)}
                      onSave={() => void saveNote(s)}
                      onCancel={() => {
                        setNoteDraft(s.stage, null);
                        setErrors((e) => ({ ...e, [s.stage]: '' }));
                      }}
                    />
                  ) : (
                    <p className="stage-note" data-testid="stage-note" title={`Note on ${humanize(s.stage)}`}>
                      {s.notes}
                    </p>
                  )}
                </td>
              </tr>
            )}
          </tbody>
        ))}
      </table>
      {outOfOrder && (
        <OutOfOrderDialog
          view={outOfOrder.view}
          earlier={outOfOrder.earlier}
          onCancel={() => setOutOfOrder(null)}
          onConfirm={() => {
            const { view } = outOfOrder;
            setOutOfOrder(null);
            void act(view, { action: 'complete' }, view.version, true);
          }}
        />
      )}
    </section>
  );
}
