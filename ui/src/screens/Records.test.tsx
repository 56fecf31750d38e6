import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';

import { App } from '../App';
import { createRecord, editRecord, listRecords, type RecordFields } from '../api';
import type { FieldInfo } from '../bindings/FieldInfo';
import type { KindInfo } from '../bindings/KindInfo';
import type { Stored } from '../bindings/Stored';
import KINDS from '../bindings/kinds.json';
import { RecordForm } from '../components/records/RecordForm';
import {
  draftOf,
  fieldsToSend,
  moneyText,
  parseMoney,
  type RecordDraft,
} from '../components/records/recordForm';
import { installFakeBackend } from '../testing/fakeBackend';
import { renderApp, renderInApp } from '../testing/render';
import { parseRoute } from '../lib/route';

const field = (name: string, kind: string, extra: Partial<FieldInfo> = {}): FieldInfo => ({
  name,
  label: name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, ' '),
  kind,
  max_length: kind === 'text' ? 100 : kind === 'long_text' ? 10000 : null,
  choices: [],
  required: false,
  fixed: false,
  hidden: false,
  help: '',
  ...extra,
});

/** A kind with a field of every type, as a future declaration might be. */
const PRICE: KindInfo = {
  name: 'price',
  label: 'price',
  plural: 'prices',
  scope: 'lab',
  module: 'billing',
  hand_made: false,
  unique: [],
  submitted: null,
  title: ['code'],
  fields: [
    field('code', 'text', { required: true, fixed: true }),
    field('notes', 'long_text'),
    field('minutes', 'integer'),
    field('amount', 'money', { required: true }),
    field('taxed', 'bool'),
    field('valid_from', 'date'),
    field('reviewed_at', 'time'),
    field('unit', 'choice', { choices: ['piece', 'arch', 'hour'] }),
    field('tags', 'text_list'),
    field('extra', 'json'),
    field('replaces', 'id'),
    field('internal', 'text', { hidden: true }),
  ],
};

const stored = (fields: RecordFields): Stored<RecordFields> => ({
  id: '0190a000-0000-7000-8000-00000000abcd',
  version: 3,
  created_at: '2026-11-20T09:00:00.000Z',
  updated_at: '2026-11-21T09:00:00.000Z',
  updated_by: 'ann',
  deleted_at: null,
  ...fields,
});

describe('a record form from a declaration', () => {
  it('has an input of each field’s type, none for a hidden field, and marks the required ones', () => {
    renderInApp(<RecordForm kind={PRICE} record={null} onSaved={() => undefined} />);
    const input = (name: string) => screen.getByTestId(`record-field-${name}`);
    expect(input('code').tagName).toBe('INPUT');
    expect(input('code')).toHaveAttribute('aria-required', 'true');
    expect(input('code')).not.toHaveAttribute('readonly');
    expect(input('notes').tagName).toBe('TEXTAREA');
    expect(input('minutes')).toHaveAttribute('inputmode', 'numeric');
    expect(input('amount')).toHaveAttribute('inputmode', 'decimal');
    expect(input('taxed')).toHaveAttribute('type', 'checkbox');
    expect(input('valid_from')).toHaveAttribute('type', 'date');
    expect(input('reviewed_at')).toHaveAttribute('type', 'datetime-local');
    expect(input('unit').tagName).toBe('SELECT');
    expect(within(input('unit')).getAllByRole('option').map((o) => o.textContent)).toEqual(['—', 'piece', 'arch', 'hour']);
    expect(input('extra').tagName).toBe('TEXTAREA');
    expect(screen.queryByTestId('record-field-internal')).toBeNull();
    expect(screen.getByLabelText('Code *')).toBe(input('code'));
    expect(screen.getByLabelText('Amount *')).toBe(input('amount'));
    expect(screen.getByTestId('record-save')).toHaveTextContent('Add price');
  });

  it('keeps a fixed field read-only once the record exists, and shows the stored values', () => {
    const record = stored({ code: 'CR-1', amount: 12050, taxed: true, tags: ['crown', 'zirconia'], extra: { a: 1 } });
    renderInApp(<RecordForm kind={PRICE} record={record} onSaved={() => undefined} />);
    expect(screen.getByTestId('record-field-code')).toHaveAttribute('readonly');
    expect(screen.getByTestId('record-field-code')).toHaveValue('CR-1');
    expect(screen.getByText('Set when it was made; it cannot change.')).toBeInTheDocument();
    expect(screen.getByTestId('record-field-amount')).toHaveValue('120.50');
    expect(screen.getByTestId('record-field-taxed')).toBeChecked();
    expect(screen.getByTestId('record-field-tags')).toHaveValue('crown, zirconia');
    expect(screen.getByTestId('record-field-extra')).toHaveValue('{\n  "a": 1\n}');
  });

  it('sends a new record’s filled-in fields in stored form: amounts in cents, numbers, lists, JSON', () => {
    const draft: RecordDraft = {
      ...draftOf(PRICE, null),
      code: 'CR-1',
      amount: '120,5',
      minutes: '45',
      taxed: true,
      unit: 'piece',
      tags: 'crown, , zirconia',
      extra: '{"shade": "A2"}',
    };
    expect(fieldsToSend(PRICE, draft, null)).toEqual({
      fields: {
        code: 'CR-1',
        amount: 12050,
        minutes: 45,
        taxed: true,
        unit: 'piece',
        tags: ['crown', 'zirconia'],
        extra: { shade: 'A2' },
      },
      problems: {},
    });
  });

  it('catches what cannot be sent at all, by field, and leaves the rest to the core', () => {
    const draft: RecordDraft = { ...draftOf(PRICE, null), amount: '12.505', minutes: 'ten', extra: '{oops' };
    const { problems } = fieldsToSend(PRICE, draft, null);
    expect(Object.keys(problems)).toEqual(['minutes', 'amount', 'extra']);
    expect(problems.amount).toMatch(/12\.50/);
    // A blank required field is the core's to refuse: it names it (see below).
    expect(problems.code).toBeUndefined();
  });

  it('sends a change with only the fields that changed, never a fixed one, and a cleared one as empty', () => {
    const record = stored({ code: 'CR-1', amount: 12050, notes: 'old', taxed: false, reviewed_at: '2026-11-21T09:30:00.000Z', tags: [] });
    const draft = { ...draftOf(PRICE, record), code: 'CHANGED', amount: '120.50', notes: '', minutes: '7' };
    expect(fieldsToSend(PRICE, draft, record)).toEqual({ fields: { notes: null, minutes: 7 }, problems: {} });
  });

  it('reads amounts as typed', () => {
    expect(parseMoney('12')).toBe(1200);
    expect(parseMoney('12.5')).toBe(1250);
    expect(parseMoney("1'234,05")).toBe(123405);
    expect(parseMoney('-0.99')).toBe(-99);
    expect(parseMoney('1.234')).toBeNull();
    expect(parseMoney('abc')).toBeNull();
    expect(moneyText(5)).toBe('0.05');
    expect(moneyText(-12345)).toBe('-123.45');
  });

  it('shows the core’s problems beside their fields and keeps Save disabled while saving', async () => {
    installFakeBackend({ latency: 30 });
    const setting = (KINDS as KindInfo[]).find((k) => k.name === 'setting') as KindInfo;
    const saved: unknown[] = [];
    renderInApp(<RecordForm kind={setting} record={null} onSaved={(w) => saved.push(w)} />);
    fireEvent.change(screen.getByTestId('record-field-value'), { target: { value: '5 working days' } });
    fireEvent.click(screen.getByTestId('record-save'));
    expect(screen.getByTestId('record-save')).toBeDisabled();
    expect(screen.getByTestId('record-save')).toHaveTextContent('Saving…');
    const keyError = await screen.findByText('is required');
    expect(keyError).toHaveAttribute('data-field', 'key');
    expect(screen.getByTestId('record-field-key')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByTestId('record-save')).toBeEnabled();
    expect(saved).toEqual([]);

    fireEvent.change(screen.getByTestId('record-field-key'), { target: { value: 'x'.repeat(101) } });
    fireEvent.click(screen.getByTestId('record-save'));
    expect(await screen.findByText('is longer than 100 characters')).toHaveAttribute('data-field', 'key');

    fireEvent.change(screen.getByTestId('record-field-key'), { target: { value: 'delivery_days' } });
    fireEvent.click(screen.getByTestId('record-save'));
    await waitFor(() => expect(saved).toHaveLength(1));
    expect(screen.queryAllByTestId('field-error')).toEqual([]);
    expect(screen.getByTestId('record-field-key')).toHaveValue('');
  });
});

describe('the fake backend’s generic record commands', () => {
  it('refuse what the declaration refuses: a fixed field changed, an unknown field, a kind with its own commands', async () => {
    installFakeBackend({ seed: 'empty' });
    const made = await createRecord('setting', { key: ' tax_rate ', value: '8' });
    expect(made.record).toMatchObject({ key: 'tax_rate', value: '8', description: null, version: 1 });
    await expect(createRecord('setting', { value: 'x', description: 'two\nlines' })).rejects.toMatchObject({
      kind: 'invalid',
      fields: [
        { field: 'key', problem: 'is required' },
        { field: 'description', problem: 'must be one line' },
      ],
    });
    await expect(editRecord('setting', made.record.id, 1, { key: 'vat' })).rejects.toMatchObject({
      kind: 'invalid',
      fields: [{ field: 'key', problem: 'is set when the record is created and cannot be changed' }],
    });
    await expect(editRecord('setting', made.record.id, 1, { colour: 'red' })).rejects.toMatchObject({
      fields: [{ field: 'colour', problem: 'is not a field; the fields are: value, description' }],
    });
    await expect(editRecord('setting', made.record.id, 0, { value: '9' })).rejects.toMatchObject({ kind: 'stale' });
    await expect(createRecord('setting', { key: 'k', colour: 'red' })).rejects.toMatchObject({
      fields: [{ field: 'colour', problem: 'is not a field; the fields are: key, value, description' }],
    });
    await expect(createRecord('case', { patient_name: 'Bo' })).rejects.toThrow(/own commands/);
    await expect(createRecord('setting', { key: 'tax_rate' })).rejects.toMatchObject({
      fields: [{ field: 'key', problem: expect.stringContaining('exists already') }],
    });
    const edited = await editRecord('setting', made.record.id, 1, { value: '9' });
    expect(edited.record.version).toBe(2);
    expect((await editRecord('setting', made.record.id, 2, { value: '9' })).revision).toBeNull();
    expect(await listRecords('setting', { text: 'TAX', fields: {}, include_deleted: false, limit: 0 })).toHaveLength(1);
  });
});

describe('the records screens in the app', () => {
  it('are in the navigation for every kind without screens of its own, from the declarations alone', async () => {
    installFakeBackend({});
    // The next declared kind: the shell answers with one more declaration, and nothing else changes.
    const w = window as unknown as { __TAURI_INTERNALS__: { invoke: (cmd: string, args: unknown) => Promise<unknown> } };
    const invoke = w.__TAURI_INTERNALS__.invoke;
    w.__TAURI_INTERNALS__.invoke = (cmd, args) =>
      cmd === 'record_kinds' ? Promise.resolve([...(KINDS as KindInfo[]), PRICE]) : invoke(cmd, args);
    window.location.hash = '#/cases';
    render(<App />);
    const nav = await screen.findByRole('navigation', { name: 'Main' });
    await within(nav).findByText('Lab settings');
    expect(within(nav).getByText('Prices')).toHaveAttribute('href', '#/records/price');
    expect(within(nav).queryByText('Case notes')).toBeNull(); // hand-made kinds keep their own screens
  });

  it('list a kind’s records, filter them, and open one in its form', async () => {
    renderApp('#/records/setting');
    await screen.findByRole('heading', { name: 'Lab settings', level: 1 });
    await waitFor(() => expect(screen.getAllByTestId('record-row')).toHaveLength(2));
    const head = within(screen.getByTestId('record-list')).getAllByRole('columnheader').map((h) => h.textContent);
    expect(head).toEqual(['Setting', 'Value', 'What it is for', 'Changed']);
    await userEvent.type(screen.getByTestId('record-filter'), 'cutoff');
    await waitFor(() => expect(screen.getAllByTestId('record-row')).toHaveLength(1));
    await act(async () => fireEvent.click(screen.getByTestId('record-row')));
    expect(window.location.hash).toMatch(/^#\/records\/setting\/0190a000-/);
    expect(await screen.findByTestId('record-title')).toHaveTextContent('rush_cutoff');
    expect(await screen.findAllByTestId('record-history-entry')).toHaveLength(1);
  });

  it('read their route from the hash', () => {
    expect(parseRoute('#/records/setting')).toEqual({ screen: 'records', kind: 'setting', id: null });
    expect(parseRoute('#/records/setting/new')).toEqual({ screen: 'records', kind: 'setting', id: 'new' });
    expect(parseRoute('#/records')).toEqual({ screen: 'cases' });
    expect(parseRoute('#/cases')).toEqual({ screen: 'cases' });
  });
});
