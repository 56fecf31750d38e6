// Every field of a case, for intake and for editing. The lists offered (statuses, priorities,
// meta keys) are the core's vocabulary; what is valid is the core's to say.

import { type ReactNode } from 'react';

import type { Vocabulary } from '../bindings/Vocabulary';
import {
  type AlignerDraft,
  type CaseDraft,
  emptyAligner,
  emptyLink,
  emptyService,
  type LinkDraft,
  type MetaDraft,
  type ServiceDraft,
} from '../lib/caseDraft';
import { dateHint, humanize } from '../lib/format';
import { errorAt, Field, type FieldErrors, fieldId, TextField } from './Field';

type Props = {
  draft: CaseDraft;
  onChange: (draft: CaseDraft) => void;
  errors: FieldErrors;
  vocabulary: Vocabulary;
  /** `intake` or `case`: prefixes the test ids of the main inputs. */
  testPrefix: string;
  autoFocus?: boolean;
};

function Section({ title, children, action }: { title: string; children: ReactNode; action?: ReactNode }) {
  return (
    <fieldset className="form-section">
      <legend>
        {title}
        {action}
      </legend>
      {children}
    </fieldset>
  );
}

/** Rows of a list field (services, links, aligners, meta) with add and remove. */
function Rows<T>({
  items,
  onChange,
  make,
  render,
  addLabel,
  testId,
}: {
  items: T[];
  onChange: (items: T[]) => void;
  make: () => T;
  render: (item: T, set: (item: T) => void, index: number) => ReactNode;
  addLabel: string;
  testId: string;
}) {
  return (
    <div className="rows" data-testid={testId}>
      {items.map((item, i) => (
        <div className="row-item" key={i}>
          {render(item, (next) => onChange(items.map((x, j) => (j === i ? next : x))), i)}
          <button
            type="button"
            className="icon-button"
            aria-label={`Remove ${addLabel.replace(/^Add /, '')} ${i + 1}`}
            title="Remove"
            onClick={() => onChange(items.filter((_, j) => j !== i))}
          >
            ×
          </button>
        </div>
      ))}
      <button type="button" className="link-button" onClick={() => onChange([...items, make()])}>
        + {addLabel}
      </button>
    </div>
  );
}

export function CaseForm({ draft, onChange, errors, vocabulary, testPrefix, autoFocus }: Props) {
  const set = (patch: Partial<CaseDraft>) => onChange({ ...draft, ...patch });
  const listId = (name: string) => `${testPrefix}-${name}-list`;
  const unknownMeta = (key: string) => key.trim() !== '' && !vocabulary.meta_keys.includes(key.trim());

  return (
    <div className="case-form">
      <datalist id={listId('statuses')}>
        {vocabulary.statuses.map((s) => (
          <option key={s} value={s} />
        ))}
      </datalist>
      <datalist id={listId('priorities')}>
        {vocabulary.priorities.map((s) => (
          <option key={s} value={s} />
        ))}
      </datalist>
      <datalist id={listId('meta')}>
        {vocabulary.meta_keys.map((s) => (
          <option key={s} value={s} />
        ))}
      </datalist>

      <Section title="Patient and dates">
        <div className="grid">
          <TextField
            label="Patient name"
            path="patient_name"
            value={draft.patient_name}
            onChange={(v) => set({ patient_name: v })}
            errors={errors}
            required
            autoFocus={autoFocus}
            testId={`${testPrefix}-patient`}
            className="span-2"
          />
          <TextField
            label="Due date"
            path="due_date"
            value={draft.due_date}
            onChange={(v) => set({ due_date: v })}
            errors={errors}
            placeholder="YYYY-MM-DD"
            hint={dateHint(draft.due_date)}
            testId={`${testPrefix}-due`}
          />
          <TextField
            label="Start date"
            path="start_date"
            value={draft.start_date}
            onChange={(v) => set({ start_date: v })}
            errors={errors}
            placeholder="YYYY-MM-DD"
            hint={dateHint(draft.start_date)}
            testId={`${testPrefix}-start`}
          />
          <TextField
            label="Priority"
            path="priority"
            value={draft.priority}
            onChange={(v) => set({ priority: v })}
            errors={errors}
            list={listId('priorities')}
            placeholder={testPrefix === 'intake' ? 'default' : ''}
            testId={`${testPrefix}-priority`}
          />
          <TextField
            label="Status"
            path="status"
            value={draft.status}
            onChange={(v) => set({ status: v })}
            errors={errors}
            list={listId('statuses')}
            placeholder={testPrefix === 'intake' ? 'default' : ''}
            testId={`${testPrefix}-status`}
          />
          <TextField
            label="Assignees"
            path="assignees"
            nested
            value={draft.assignees}
            onChange={(v) => set({ assignees: v })}
            errors={errors}
            placeholder="bob, carol"
            testId={`${testPrefix}-assignees`}
          />
          <TextField
            label="Parent case"
            path="parent_id"
            value={draft.parent}
            onChange={(v) => set({ parent: v })}
            errors={errors}
            placeholder="FD1-000042"
            testId={`${testPrefix}-parent`}
          />
        </div>
      </Section>

      <Section title="Services">
        <Rows<ServiceDraft>
          items={draft.services}
          onChange={(services) => set({ services })}
          make={emptyService}
          addLabel="Add service"
          testId={`${testPrefix}-services`}
          render={(s, put, i) => (
            <div className="grid grid-3">
              <TextField
                label="Service"
                path={`services[${i}].service_type`}
                value={s.service_type}
                onChange={(v) => put({ ...s, service_type: v })}
                errors={errors}
                placeholder="crown"
                required
              />
              <TextField
                label="Sub-services"
                path={`services[${i}].sub_services`}
                nested
                value={s.sub_services}
                onChange={(v) => put({ ...s, sub_services: v })}
                errors={errors}
                placeholder="zirconia, layered"
              />
              <TextField
                label="Extras"
                path={`services[${i}].extras`}
                nested
                value={s.extras}
                onChange={(v) => put({ ...s, extras: v })}
                errors={errors}
                placeholder="shade A2"
              />
            </div>
          )}
        />
        {errorAt(errors, 'services') && <span className="field-error">{errorAt(errors, 'services')}</span>}
      </Section>

      <Section title="Dentist (author)">
        <div className="grid">
          <TextField
            label="Name"
            path="author_info.name"
            value={draft.author_name}
            onChange={(v) => set({ author_name: v })}
            errors={errors}
            placeholder="Dr. Jane Smith"
          />
          <TextField
            label="Phone"
            path="author_info.phone"
            type="tel"
            value={draft.author_phone}
            onChange={(v) => set({ author_phone: v })}
            errors={errors}
          />
          <TextField
            label="Address"
            path="author_info.address"
            value={draft.author_address}
            onChange={(v) => set({ author_address: v })}
            errors={errors}
            className="span-2"
          />
          <TextField
            label="Address note"
            path="author_info.address_note"
            value={draft.author_address_note}
            onChange={(v) => set({ author_address_note: v })}
            errors={errors}
          />
          <Field
            label="Location (lat, lng)"
            path="author_info.geo_location"
            error={errorAt(errors, 'author_info.geo_location', true)}
          >
            <div className="pair">
              <input
                id={fieldId('author_info.geo_location')}
                aria-label="Latitude"
                inputMode="decimal"
                value={draft.author_lat}
                placeholder="51.52"
                onChange={(e) => set({ author_lat: e.target.value })}
              />
              <input
                aria-label="Longitude"
                inputMode="decimal"
                value={draft.author_lng}
                placeholder="-0.15"
                onChange={(e) => set({ author_lng: e.target.value })}
              />
            </div>
          </Field>
          <TextField
            label="Author (user)"
            path="author_id"
            value={draft.author_id}
            onChange={(v) => set({ author_id: v })}
            errors={errors}
            placeholder={testPrefix === 'intake' ? 'you' : ''}
          />
        </div>
      </Section>

      <Section title="Order">
        <div className="grid">
          <TextField
            label="Order note"
            path="order_note"
            value={draft.order_note}
            onChange={(v) => set({ order_note: v })}
            errors={errors}
            multiline
            className="span-3"
            testId={`${testPrefix}-note`}
          />
          <TextField
            label="Invoice numbers"
            path="invoice_ids"
            nested
            value={draft.invoice_ids}
            onChange={(v) => set({ invoice_ids: v })}
            errors={errors}
            placeholder="INV-1001, INV-1002"
          />
        </div>
      </Section>

      <Section title="Links">
        <Rows<LinkDraft>
          items={draft.links}
          onChange={(links) => set({ links })}
          make={emptyLink}
          addLabel="Add link"
          testId={`${testPrefix}-links`}
          render={(l, put, i) => (
            <div className="grid grid-3">
              <TextField
                label="Title"
                path={`links[${i}].title`}
                value={l.title}
                onChange={(v) => put({ ...l, title: v })}
                errors={errors}
                placeholder="Intraoral scan"
              />
              <TextField
                label="Address"
                path={`links[${i}].url`}
                type="url"
                value={l.url}
                onChange={(v) => put({ ...l, url: v })}
                errors={errors}
                placeholder="https://…"
              />
              <TextField
                label="Source"
                path={`links[${i}].source`}
                value={l.source}
                onChange={(v) => put({ ...l, source: v })}
                errors={errors}
                placeholder="3Shape"
              />
            </div>
          )}
        />
      </Section>

      <Section title="Aligners">
        <Rows<AlignerDraft>
          items={draft.aligners}
          onChange={(aligners) => set({ aligners })}
          make={emptyAligner}
          addLabel="Add aligner series"
          testId={`${testPrefix}-aligners`}
          render={(a, put, i) => (
            <div className="grid grid-5">
              {(
                [
                  ['count', 'Count'],
                  ['stage', 'Stage'],
                  ['from', 'From'],
                  ['to', 'To'],
                ] as const
              ).map(([k, label]) => (
                <TextField
                  key={k}
                  label={label}
                  path={`aligners[${i}].${k}`}
                  type="number"
                  value={a[k]}
                  onChange={(v) => put({ ...a, [k]: v })}
                  errors={errors}
                />
              ))}
              <TextField
                label="Date"
                path={`aligners[${i}].date`}
                value={a.date}
                onChange={(v) => put({ ...a, date: v })}
                errors={errors}
                placeholder="YYYY-MM-DD"
              />
            </div>
          )}
        />
      </Section>

      <Section title="Meta">
        <Rows<MetaDraft>
          items={draft.meta}
          onChange={(meta) => set({ meta })}
          make={() => ({ key: '', value: '' })}
          addLabel="Add meta value"
          testId={`${testPrefix}-meta`}
          render={(m, put, i) => (
            <div className="grid grid-2">
              <TextField
                label="Key"
                path={`meta[${i}].key`}
                value={m.key}
                onChange={(v) => put({ ...m, key: v })}
                errors={{}}
                list={listId('meta')}
                placeholder="patient_age"
                hint={unknownMeta(m.key) ? 'a key of your own' : undefined}
              />
              <TextField
                label={m.key.trim() ? humanize(m.key.trim()) : 'Value'}
                path={m.key.trim() || `meta[${i}].value`}
                value={m.value}
                onChange={(v) => put({ ...m, value: v })}
                errors={errors}
              />
            </div>
          )}
        />
        {errorAt(errors, 'key') && <span className="field-error">{errorAt(errors, 'key')}</span>}
      </Section>
    </div>
  );
}
