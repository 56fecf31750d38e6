// Intake (front desk): a new case with every field; the core mints its number, checks it, and
// names what it refuses. Works offline: the case is stored on this workstation at once.

import { type FormEvent, useState } from 'react';

import { ApiError, createCase, toApiError } from '../api';
import type { Case } from '../bindings/Case';
import type { Stored } from '../bindings/Stored';
import { CaseForm } from '../components/CaseForm';
import { ErrorSummary, type FieldErrors, focusField } from '../components/Field';
import { useApp } from '../lib/app';
import { type CaseDraft, emptyDraft, intakeFields, metaValues } from '../lib/caseDraft';
import { dateText } from '../lib/format';
import { resolveParent } from '../lib/parent';
import { navigate } from '../lib/route';

export function Intake() {
  const { vocabulary, info } = useApp();
  const [draft, setDraft] = useState<CaseDraft>(emptyDraft);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [message, setMessage] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [created, setCreated] = useState<Stored<Case> | null>(null);
  const [formKey, setFormKey] = useState(0);

  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    if (saving) return;
    setSaving(true);
    setMessage(null);
    try {
      const parentId = await resolveParent(draft.parent);
      const fields = intakeFields(draft);
      if (parentId) fields.parent_id = parentId;
      const stored = await createCase(fields, metaValues(draft));
      setCreated(stored);
      setErrors({});
      setDraft(emptyDraft());
      setFormKey((k) => k + 1);
    } catch (reason) {
      const error = reason instanceof ApiError ? reason : toApiError(reason);
      const byField = error.byField();
      setErrors(byField);
      setMessage(error.message);
      const first = Object.keys(byField)[0];
      if (first) setTimeout(() => focusField(first), 0);
    } finally {
      setSaving(false);
    }
  };

  return (
    <div className="screen intake" data-testid="intake">
      <header className="screen-header">
        <h1>New case</h1>
        <span className="muted">
          Taken in on {info.workstation} by {info.user} · stored here at once, synced when online
        </span>
      </header>
      {created && (
        <div className="notice success" role="status" data-testid="intake-created">
          <span>
            Case <strong data-testid="intake-case-number">{created.case_number}</strong> taken in for{' '}
            {created.patient_name}
            {created.due_date ? `, due ${dateText(created.due_date)}` : ''}.
          </span>
          <button type="button" onClick={() => navigate({ screen: 'case', key: created.case_number })}>
            Open case
          </button>
        </div>
      )}
      <form
        onSubmit={submit}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void submit(e);
        }}
        noValidate
      >
        <ErrorSummary message={message} errors={errors} />
        <CaseForm
          key={formKey}
          draft={draft}
          onChange={setDraft}
          errors={errors}
          vocabulary={vocabulary}
          testPrefix="intake"
          autoFocus
        />
        <div className="form-actions sticky-actions">
          <button type="submit" className="primary" data-testid="intake-submit" disabled={saving}>
            {saving ? 'Saving…' : 'Take in case'}
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft(emptyDraft());
              setErrors({});
              setMessage(null);
              setFormKey((k) => k + 1);
            }}
          >
            Clear
          </button>
          <span className="muted">Ctrl+Enter to take in</span>
        </div>
      </form>
    </div>
  );
}
