// The form for a record of any kind, made from its declaration: one input per shown field, of the
// field's type; fixed fields read-only once the record exists. Saving sends what the core needs
// (a new record's fields, or a change's) and shows each problem the core names beside its field.

import { type FormEvent, useState } from 'react';

import { createRecord, editRecord, type RecordFields, toApiError } from '../../api';
import type { FieldInfo } from '../../bindings/FieldInfo';
import type { KindInfo } from '../../bindings/KindInfo';
import type { Stored } from '../../bindings/Stored';
import type { Written } from '../../bindings/Written';
import { ErrorSummary, errorAt, Field, type FieldErrors, fieldId, focusField } from '../Field';
import { draftOf, fieldsToSend, MONEY_DECIMALS, type RecordDraft, shownFields } from './recordForm';

type Props = {
  kind: KindInfo;
  /** null: a new record. */
  record: Stored<RecordFields> | null;
  /** A deleted record is shown, not changed. */
  readOnly?: boolean;
  onSaved: (written: Written<RecordFields>) => void;
  onCancel?: () => void;
  /** The record changed elsewhere since it was opened: read it again. */
  onStale?: () => void;
};

/** What a field takes, said under it when it has no problem. */
function hintFor(field: FieldInfo, fixedNow: boolean): string {
  if (fixedNow) return 'Set when it was made; it cannot change.';
  const parts: string[] = [];
  if (field.help) parts.push(field.help);
  if (field.kind === 'money') parts.push('an amount, such as 12.50');
  if (field.kind === 'text_list') parts.push('separate them with commas');
  return parts.join(' · ');
}

export function RecordForm({ kind, record, readOnly = false, onSaved, onCancel, onStale }: Props) {
  const [draft, setDraft] = useState<RecordDraft>(() => draftOf(kind, record));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [message, setMessage] = useState<string | null>(null);
  const [stale, setStale] = useState(false);
  const [saving, setSaving] = useState(false);
  const creating = record === null;
  const set = (name: string, value: string | boolean) => setDraft((d) => ({ ...d, [name]: value }));

  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    if (saving || readOnly) return;
    const { fields, problems } = fieldsToSend(kind, draft, record);
    if (Object.keys(problems).length) {
      setErrors(problems);
      setMessage(null);
      setTimeout(() => focusField(Object.keys(problems)[0]), 0);
      return;
    }
    setSaving(true);
    setMessage(null);
    setStale(false);
    try {
      const written = record
        ? await editRecord(kind.name, record.id, record.version, fields)
        : await createRecord(kind.name, fields);
      setErrors({});
      if (creating) setDraft(draftOf(kind, null));
      onSaved(written);
    } catch (reason) {
      const error = toApiError(reason);
      const byField = error.byField();
      setErrors(byField);
      setMessage(error.message);
      setStale(error.kind === 'stale');
      const first = Object.keys(byField)[0];
      if (first) setTimeout(() => focusField(first), 0);
    } finally {
      setSaving(false);
    }
  };

  const input = (f: FieldInfo) => {
    const locked = readOnly || (!creating && f.fixed);
    const error = errorAt(errors, f.name);
    const value = draft[f.name];
    const common = {
      id: fieldId(f.name),
      'data-testid': `record-field-${f.name}`,
      'data-field': f.name,
      'aria-invalid': error ? true : undefined,
      'aria-required': f.required && !locked ? true : undefined,
      readOnly: locked,
      'aria-readonly': locked ? true : undefined,
    };
    const text = typeof value === 'string' ? value : '';
    const onText = (v: string) => set(f.name, v);
    switch (f.kind) {
      case 'bool':
        return (
          <input
            {...common}
            type="checkbox"
            checked={value === true}
            disabled={locked}
            onChange={(e) => set(f.name, e.target.checked)}
          />
        );
      case 'long_text':
        return <textarea {...common} rows={4} value={text} onChange={(e) => onText(e.target.value)} />;
      case 'json':
        return <textarea {...common} className="mono" rows={4} value={text} onChange={(e) => onText(e.target.value)} />;
      case 'choice':
        return (
          <select {...common} value={text} disabled={locked} onChange={(e) => onText(e.target.value)}>
            {!f.required || text === '' ? <option value="">—</option> : null}
            {f.choices.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        );
      case 'integer':
        return <input {...common} inputMode="numeric" value={text} onChange={(e) => onText(e.target.value)} />;
      case 'money':
        return (
          <input
            {...common}
            inputMode="decimal"
            placeholder={(0).toFixed(MONEY_DECIMALS)}
            value={text}
            onChange={(e) => onText(e.target.value)}
          />
        );
      case 'date':
        return <input {...common} type="date" value={text} onChange={(e) => onText(e.target.value)} />;
      case 'time':
        return <input {...common} type="datetime-local" value={text} onChange={(e) => onText(e.target.value)} />;
      case 'id':
        return <input {...common} className="mono" value={text} onChange={(e) => onText(e.target.value)} />;
      default:
        return <input {...common} value={text} onChange={(e) => onText(e.target.value)} />;
    }
  };

  const fields = shownFields(kind);
  return (
    <form
      className={`record-form${readOnly ? ' read-only' : ''}`}
      data-testid="record-form"
      data-mode={creating ? 'create' : 'edit'}
      onSubmit={submit}
      onKeyDown={(e) => {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void submit(e);
      }}
      noValidate
    >
      {stale ? (
        <div className="notice warn" role="alert" data-testid="record-stale">
          <span>{message}</span>
          {onStale && (
            <button type="button" onClick={onStale}>
              Reload
            </button>
          )}
        </div>
      ) : (
        <ErrorSummary
          message={message}
          errors={errors}
          labels={Object.fromEntries(kind.fields.map((f) => [f.name, f.label]))}
        />
      )}
      {fields.map((f) => {
        const fixedNow = !creating && f.fixed;
        const required = f.required && !fixedNow;
        const error = errorAt(errors, f.name);
        return (
          <Field
            key={f.name}
            label={required ? `${f.label} *` : f.label}
            path={f.name}
            error={error}
            hint={hintFor(f, fixedNow) || undefined}
            className={`record-field kind-${f.kind}${fixedNow ? ' fixed' : ''}`}
          >
            {input(f)}
          </Field>
        );
      })}
      {!readOnly && (
        <div className="form-actions">
          <button type="submit" className="primary" data-testid="record-save" disabled={saving}>
            {saving ? 'Saving…' : creating ? `Add ${kind.label}` : 'Save changes'}
          </button>
          {onCancel && (
            <button type="button" onClick={onCancel} data-testid="record-cancel" disabled={saving}>
              Cancel
            </button>
          )}
          <span className="muted">Ctrl+Enter to save</span>
        </div>
      )}
    </form>
  );
}
