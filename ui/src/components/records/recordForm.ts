// A form for any kind of record, from its declaration (KindInfo): what each field's input holds
// (a draft: text as typed, or a checkbox's state), and the record's fields made from a draft. The
// core checks the fields (required, lengths, choices, one line...) and names what it refuses;
// here only what cannot even be sent is caught: "12,5x" in an amount, broken JSON.

import type { RecordFields } from '../../api';
import type { FieldInfo } from '../../bindings/FieldInfo';
import type { KindInfo } from '../../bindings/KindInfo';
import type { Stored } from '../../bindings/Stored';
import type { JsonValue } from '../../bindings/serde_json/JsonValue';
import { dateTimeText, splitList, valueText } from '../../lib/format';
import type { FieldErrors } from '../Field';

/** What each field's input holds, by field name. */
export type RecordDraft = Record<string, string | boolean>;

/** Money is stored in minor units (cents), typed and shown in the lab's currency: this many
 * decimals. Nothing declares the lab's currency yet, so amounts are shown without a symbol. */
export const MONEY_DECIMALS = 2;

/** The fields a person sees, in the declaration's order. */
export const shownFields = (kind: KindInfo): FieldInfo[] => kind.fields.filter((f) => !f.hidden);

/** The fields a list shows as columns: the shown ones but JSON, at most `max`. */
export const columnFields = (kind: KindInfo, max = 5): FieldInfo[] =>
  shownFields(kind)
    .filter((f) => f.kind !== 'json')
    .slice(0, max);

const pad = (n: number) => String(n).padStart(2, '0');

/** A stored time as a datetime-local input holds it, in local time. */
function localInput(ts: string): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Minor units as typed: 1250 → `12.50`. */
export function moneyText(minor: number): string {
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  const unit = 10 ** MONEY_DECIMALS;
  const whole = Math.floor(abs / unit);
  const frac = String(abs % unit).padStart(MONEY_DECIMALS, '0');
  return MONEY_DECIMALS > 0 ? `${sign}${whole}.${frac}` : `${sign}${whole}`;
}

/** An amount as typed (`12.5`, `12,50`, `-3`) in minor units, or null when it is not one. */
export function parseMoney(text: string): number | null {
  const m = /^(-)?(\d+)(?:[.,](\d*))?$/.exec(text.trim().replace(/[\s']/g, ''));
  if (!m || (m[3] ?? '').length > MONEY_DECIMALS) return null;
  const minor = Number(m[2]) * 10 ** MONEY_DECIMALS + Number((m[3] ?? '').padEnd(MONEY_DECIMALS, '0') || '0');
  return m[1] ? -minor : minor;
}

/** One stored value as its input holds it. */
export function inputValue(field: FieldInfo, value: JsonValue | undefined): string | boolean {
  if (field.kind === 'bool') return value === true;
  if (value === null || value === undefined) return '';
  switch (field.kind) {
    case 'money':
      return typeof value === 'number' ? moneyText(value) : String(value);
    case 'time':
      return typeof value === 'string' ? localInput(value) : String(value);
    case 'text_list':
      return Array.isArray(value) ? value.map((v) => String(v)).join(', ') : String(value);
    case 'json':
      return JSON.stringify(value, null, 2);
    default:
      return typeof value === 'string' ? value : String(value);
  }
}

/** The inputs of a new record (`null`) or of `record` as stored. */
export function draftOf(kind: KindInfo, record: Stored<RecordFields> | null): RecordDraft {
  const out: RecordDraft = {};
  for (const f of shownFields(kind)) out[f.name] = inputValue(f, record ? record[f.name] : null);
  return out;
}

/** One input's content as the field's stored value; `problem` when it cannot be one. */
export function fieldValue(field: FieldInfo, input: string | boolean): { value: JsonValue; problem?: string } {
  if (field.kind === 'bool') return { value: input === true };
  const text = typeof input === 'string' ? input : '';
  if (text.trim() === '') return { value: field.kind === 'text_list' ? [] : null };
  switch (field.kind) {
    case 'integer':
      return /^\s*-?\d+\s*$/.test(text) ? { value: Number(text) } : { value: null, problem: 'must be a whole number' };
    case 'money': {
      const minor = parseMoney(text);
      return minor === null
        ? { value: null, problem: `must be an amount, such as 12.50 (at most ${MONEY_DECIMALS} decimals)` }
        : { value: minor };
    }
    case 'time': {
      const d = new Date(text);
      return Number.isNaN(d.getTime()) ? { value: null, problem: 'must be a date and time' } : { value: d.toISOString() };
    }
    case 'text_list':
      return { value: splitList(text) };
    case 'json':
      try {
        return { value: JSON.parse(text) as JsonValue };
      } catch {
        return { value: null, problem: 'must be JSON, such as {"name": "value"}' };
      }
    default:
      return { value: text };
  }
}

const same = (a: JsonValue | undefined, b: JsonValue | undefined): boolean => {
  const norm = (v: JsonValue | undefined) => (v === undefined || v === '' ? null : v);
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
};

/**
 * What to send for `draft`: for a new record every field that is filled in (what is left out the
 * core stores empty); for `record` only the fields that changed, never a fixed one (the core
 * refuses a fixed field in a change, even unchanged). `problems`: inputs that are no value at all.
 */
export function fieldsToSend(
  kind: KindInfo,
  draft: RecordDraft,
  record: Stored<RecordFields> | null,
): { fields: RecordFields; problems: FieldErrors } {
  const fields: RecordFields = {};
  const problems: FieldErrors = {};
  for (const f of shownFields(kind)) {
    if (record && f.fixed) continue;
    const { value, problem } = fieldValue(f, draft[f.name] ?? '');
    if (problem) {
      problems[f.name] = problem;
      continue;
    }
    if (record) {
      const before = f.kind === 'time' ? fieldValue(f, inputValue(f, record[f.name])).value : record[f.name];
      if (!same(before, value)) fields[f.name] = value;
    } else if (!(value === null || (Array.isArray(value) && value.length === 0) || (f.kind === 'bool' && value === false))) {
      fields[f.name] = value;
    }
  }
  return { fields, problems };
}

/** A value as a list cell or a history line shows it. */
export function cellText(field: FieldInfo | undefined, value: JsonValue | undefined): string {
  if (value === null || value === undefined || value === '') return '';
  if (!field) return valueText(value);
  switch (field.kind) {
    case 'bool':
      return value === true ? 'yes' : 'no';
    case 'money':
      return typeof value === 'number' ? moneyText(value) : valueText(value);
    case 'time':
      return typeof value === 'string' ? dateTimeText(value) : valueText(value);
    case 'long_text':
      return typeof value === 'string' ? value.replace(/\s+/g, ' ').trim() : valueText(value);
    case 'choice':
    case 'text':
    case 'date':
    case 'id':
      return String(value);
    default:
      return valueText(value);
  }
}

/** What names a record: its first title field that is set, else its short id. */
export function recordTitle(kind: KindInfo, record: Stored<RecordFields>): string {
  for (const name of kind.title) {
    const v = record[name];
    if (typeof v === 'string' && v.trim() !== '') return v;
  }
  return `…${record.id.replace(/-/g, '').slice(-8)}`;
}

/** `lab settings` → `Lab settings`. */
export const capitalized = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);

/** Whose records they are, in words, from the kind's scope. */
export function scopeText(kind: KindInfo): string {
  switch (kind.scope) {
    case 'lab':
      return 'shared by every workstation of the lab';
    case 'organisation':
      return 'the whole organisation’s, changed at headquarters';
    case 'user':
      return 'each person’s own';
    case 'case':
      return 'each on a case';
  }
}
