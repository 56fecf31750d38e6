// One case with everything attached: its fields (editable, saved against the version shown),
// the workflow, the chat, notes, files, history and conflicts to review.

import { useCallback, useEffect, useState } from 'react';

import { ApiError, caseDetail, deleteCase, editCase, restoreCase, toApiError } from '../api';
import type { CaseDetail } from '../bindings/CaseDetail';
import { CaseForm } from '../components/CaseForm';
import { ConflictResolver } from '../components/ConflictResolver';
import { ErrorSummary, type FieldErrors, focusField } from '../components/Field';
import { useApp } from '../lib/app';
import { type CaseDraft, changedFields, draftFromCase, draftsEqual, metaValues } from '../lib/caseDraft';
import { dateText, dateTimeText } from '../lib/format';
import { resolveParent } from '../lib/parent';
import { navigate } from '../lib/route';
import { Chat } from './case/Chat';
import { Files } from './case/Files';
import { History } from './case/History';
import { Notes } from './case/Notes';
import { Stages } from './case/Stages';
import { PriorityBadge, StatusBadge } from './CaseList';

type Tab = 'details' | 'notes' | 'files' | 'history' | 'review';

function DetailsTab({ detail, onSaved }: { detail: CaseDetail; onSaved: () => void }) {
  const { vocabulary } = useApp();
  const c = detail.case;
  const fresh = () => draftFromCase(c, detail.meta, detail.parent);
  const [base, setBase] = useState<{ version: number; draft: CaseDraft }>(() => ({ version: c.version, draft: fresh() }));
  const [draft, setDraft] = useState<CaseDraft>(base.draft);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [message, setMessage] = useState<string | null>(null);
  const [stale, setStale] = useState(false);
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const dirty = !draftsEqual(base.draft, draft);
  const metaStamp = JSON.stringify(detail.meta.map((m) => [m.key, m.value]));

  // The case moved on (our save, sync, another window): take the new version unless there are
  // unsaved edits, which would then be saved against an old version and refused.
  const [seen, setSeen] = useState(`${c.version}|${metaStamp}`);
  if (seen !== `${c.version}|${metaStamp}`) {
    setSeen(`${c.version}|${metaStamp}`);
    if (!dirty) {
      const next = fresh();
      setBase({ version: c.version, draft: next });
      setDraft(next);
      setStale(false);
    } else if (c.version !== base.version) {
      setStale(true);
    }
  }

  const reloadLatest = () => {
    const next = fresh();
    setBase({ version: c.version, draft: next });
    setDraft(next);
    setErrors({});
    setMessage(null);
    setStale(false);
  };

  const save = async () => {
    if (!dirty || saving) return;
    setSaving(true);
    setMessage(null);
    setSaved(null);
    try {
      const fields = changedFields(base.draft, draft);
      if (draft.parent.trim() !== base.draft.parent.trim()) fields.parent_id = await resolveParent(draft.parent);
      const written = await editCase(c.id, base.version, fields, metaValues(draft, base.draft));
      setErrors({});
      setStale(false);
      setBase({ version: written.record.version, draft });
      setSaved(written.revision ? `Saved as version ${written.record.version}.` : 'Nothing had changed.');
      onSaved();
    } catch (reason) {
      const error = reason instanceof ApiError ? reason : toApiError(reason);
      setErrors(error.byField());
      setMessage(error.message);
      if (error.kind === 'stale') setStale(true);
      const first = error.fields[0]?.field;
      if (first) setTimeout(() => focusField(first), 0);
    } finally {
      setSaving(false);
    }
  };

  const readOnly = c.deleted_at !== null;
  return (
    <form
      className="details"
      data-testid="case-details"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
      onKeyDown={(e) => {
        if (e.key === 's' && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          void save();
        }
      }}
    >
      {stale && (
        <div className="notice warn" role="alert" data-testid="stale-notice">
          This case was changed elsewhere (now version {c.version}) while you edited version {base.version}. Saving
          would be refused.{' '}
          <button type="button" onClick={reloadLatest}>
            Discard my edits and load version {c.version}
          </button>
        </div>
      )}
      <ErrorSummary message={message} errors={errors} />
      <fieldset disabled={readOnly} className="plain">
        <CaseForm draft={draft} onChange={setDraft} errors={errors} vocabulary={vocabulary} testPrefix="case" />
      </fieldset>
      {!readOnly && (
        <div className="form-actions sticky-actions">
          <button type="submit" className="primary" disabled={!dirty || saving} data-testid="case-save">
            {saving ? 'Saving…' : 'Save changes'}
          </button>
          <button
            type="button"
            disabled={!dirty}
            onClick={() => {
              setDraft(base.draft);
              setErrors({});
              setMessage(null);
            }}
          >
            Revert
          </button>
          <span className="muted">{dirty ? 'Unsaved changes · Ctrl+S to save' : (saved ?? `Version ${base.version}`)}</span>
        </div>
      )}
    </form>
  );
}

export function CaseScreen({ caseKey }: { caseKey: string }) {
  const { info, vocabulary, storeEpoch, sync } = useApp();
  const [detail, setDetail] = useState<CaseDetail | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [tab, setTab] = useState<Tab>('details');
  const [reloads, setReloads] = useState(0);
  const [actionError, setActionError] = useState<string | null>(null);

  const reload = useCallback(() => setReloads((n) => n + 1), []);
  const lastSync = sync?.last_sync_at ?? null;

  // Escape (outside a field) goes back to the list.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      const inField = t && ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName);
      if (e.key === 'Escape' && !inField && !e.defaultPrevented) navigate({ screen: 'cases' });
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  useEffect(() => {
    let live = true;
    caseDetail(caseKey)
      .then((d) => {
        if (!live) return;
        setDetail(d);
        setError(null);
      })
      .catch((e: unknown) => live && setError(toApiError(e)));
    return () => {
      live = false;
    };
  }, [caseKey, reloads, storeEpoch, lastSync]);

  if (error && !detail) {
    return (
      <div className="screen">
        <div className="notice error" role="alert" data-testid="case-error">
          {error.message}
        </div>
        <button type="button" onClick={() => navigate({ screen: 'cases' })}>
          Back to the list
        </button>
      </div>
    );
  }
  if (!detail) return <div className="screen muted">Loading {caseKey}…</div>;

  const c = detail.case;
  const deleted = c.deleted_at !== null;
  const stamp = `${c.version}:${detail.chat.length}:${detail.attachments.length}:${reloads}:${lastSync ?? ''}`;
  const tabs: Array<{ id: Tab; label: string }> = [
    { id: 'details', label: 'Details' },
    { id: 'notes', label: `Notes (${detail.notes.length})` },
    { id: 'files', label: `Files (${detail.attachments.length})` },
    { id: 'history', label: 'History' },
    { id: 'review', label: `Review${detail.conflicts.length ? ` (${detail.conflicts.length})` : ''}` },
  ];

  const toggleDeleted = async () => {
    setActionError(null);
    try {
      if (deleted) await restoreCase(c.id, c.version);
      else if (window.confirm(`Delete case ${c.case_number}? It leaves the list and search, and stays in history.`)) {
        await deleteCase(c.id, c.version);
      }
      reload();
    } catch (e) {
      setActionError(toApiError(e).message);
    }
  };

  return (
    <div className="screen case-screen" data-testid="case-screen" data-case-number={c.case_number}>
      <header className="case-header">
        <button
          type="button"
          className="link-button"
          onClick={() => navigate({ screen: 'cases' })}
          aria-label="Back to cases"
          title="Back to cases (Esc)"
        >
          ← Cases
        </button>
        <h1>
          <span className="mono" data-testid="case-number">
            {c.case_number}
          </span>{' '}
          <span data-testid="case-heading-patient">{c.patient_name}</span>
        </h1>
        <StatusBadge status={c.status} />
        <PriorityBadge priority={c.priority} />
        <span className="due">Due {dateText(c.due_date) || '—'}</span>
        <span className="muted" title={`Last change by ${c.updated_by}, ${dateTimeText(c.updated_at)}`}>
          v{c.version} · {c.updated_by}, {dateTimeText(c.updated_at)}
        </span>
        {detail.pending_changes > 0 && (
          <span className="badge pending" data-testid="case-pending" title="Stored here; the lab server does not have them yet">
            {detail.pending_changes} change{detail.pending_changes === 1 ? '' : 's'} not synced
          </span>
        )}
        {detail.conflicts.length > 0 && (
          <button type="button" className="badge review" onClick={() => setTab('review')} data-testid="case-needs-review">
            Needs review
          </button>
        )}
        {detail.parent && (
          <button type="button" className="link-button" onClick={() => navigate({ screen: 'case', key: detail.parent?.case_number ?? '' })}>
            Parent {detail.parent.case_number}
          </button>
        )}
        {detail.children.length > 0 && (
          <span className="muted">
            Children:{' '}
            {detail.children.map((ch) => (
              <button key={ch.id} type="button" className="link-button" onClick={() => navigate({ screen: 'case', key: ch.case_number })}>
                {ch.case_number}
              </button>
            ))}
          </span>
        )}
        <span className="spacer" />
        <button type="button" onClick={() => void toggleDeleted()} data-testid={deleted ? 'case-restore' : 'case-delete'}>
          {deleted ? 'Restore case' : 'Delete case'}
        </button>
      </header>
      {deleted && (
        <div className="notice warn" data-testid="case-deleted">
          This case was deleted {dateTimeText(c.deleted_at)}. It can be viewed, not changed; restore it to work on it.
        </div>
      )}
      {(actionError || error) && (
        <div className="notice error" role="alert">
          {actionError ?? error?.message}
        </div>
      )}
      <div className="case-body">
        <div className="case-main">
          <Stages caseId={c.id} stages={detail.stages} onChanged={reload} readOnly={deleted} />
          <div className="tabs" role="tablist" aria-label="Case sections">
            {tabs.map((t) => (
              <button
                key={t.id}
                type="button"
                role="tab"
                id={`tab-${t.id}`}
                aria-selected={tab === t.id}
                aria-controls={`panel-${t.id}`}
                tabIndex={tab === t.id ? 0 : -1}
                className={tab === t.id ? 'active' : ''}
                data-testid={`tab-${t.id}`}
                onClick={() => setTab(t.id)}
                onKeyDown={(e) => {
                  const i = tabs.findIndex((x) => x.id === tab);
                  if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
                    const next = tabs[(i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
                    setTab(next.id);
                    document.getElementById(`tab-${next.id}`)?.focus();
                  }
                }}
              >
                {t.label}
              </button>
            ))}
          </div>
          <div className="tab-panel" role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
            {tab === 'details' && <DetailsTab key={c.id} detail={detail} onSaved={reload} />}
            {tab === 'notes' && (
              <Notes caseId={c.id} notes={detail.notes} me={info.user} onChanged={reload} readOnly={deleted} />
            )}
            {tab === 'files' && (
              <Files caseId={c.id} files={detail.attachments} vocabulary={vocabulary} onChanged={reload} readOnly={deleted} />
            )}
            {tab === 'history' && <History caseId={c.id} stamp={stamp} />}
            {tab === 'review' && (
              <div className="review-tab" data-testid="case-review">
                {detail.conflicts.length === 0 ? (
                  <p className="muted">Nothing to review: no conflicting changes to this case.</p>
                ) : (
                  detail.conflicts.map((rc) => <ConflictResolver key={rc.record_id} conflict={rc} onResolved={reload} />)
                )}
              </div>
            )}
          </div>
        </div>
        <aside className="case-side">
          <Chat
            caseId={c.id}
            messages={detail.chat}
            files={detail.attachments}
            me={info.user}
            messageTypes={vocabulary.message_types}
            onChanged={reload}
            readOnly={deleted}
          />
        </aside>
      </div>
    </div>
  );
}
