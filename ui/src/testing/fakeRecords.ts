// The fake backend's generic record commands (record_kinds, list_records, get_record,
// create_record, edit_record, delete_record, restore_record, record_history), written once for
// every kind in kinds.json, as the core's declared.rs is: the fields' metadata say what is
// required, how long a text may be, which fields are fixed at creation and which are one line.
// Like the rest of the fake it is NOT the core: just enough rules to drive the generic screens.
//
// `fakeRecords` must stay self-contained (no imports used at run time, no helpers outside it):
// fakeBackend.ts sends its source text into the page along with its own (Playwright).

import type { CommandError } from '../bindings/CommandError';
import type { FieldError } from '../bindings/FieldError';
import type { FieldInfo } from '../bindings/FieldInfo';
import type { HistoryEntry } from '../bindings/HistoryEntry';
import type { KindInfo } from '../bindings/KindInfo';
import type { RecordFilter } from '../bindings/RecordFilter';
import type { RecordKind } from '../bindings/RecordKind';
import type { Revision } from '../bindings/Revision';
import type { Stored } from '../bindings/Stored';
import type { JsonValue } from '../bindings/serde_json/JsonValue';

type Json = Record<string, JsonValue>;

/** What the generic commands borrow from the rest of the fake backend. */
export type FakeRecordsEnv = {
  user: string;
  now: () => string;
  uuid: () => string;
  fail: (kind: CommandError['kind'], message: string, fields?: FieldError[]) => never;
  /** Records a revision (and so a change waiting to be synced). */
  writeRevision: (kind: RecordKind, recordId: string, version: number, fields: Json) => Revision;
  /** Every revision so far, of every kind. */
  revisions: Revision[];
};

export type FakeRecords = {
  handlers: Record<string, (args: Record<string, unknown>) => unknown>;
  /** The commands that write (the status bar's pending count moves). */
  mutating: string[];
  /** Makes a record without the checks, for seeding. */
  seed: (kind: string, fields: Json) => Stored<Json>;
};

export function fakeRecords(kinds: KindInfo[], env: FakeRecordsEnv): FakeRecords {
  const { fail } = env;
  /** Records by kind name, oldest first. */
  const stores = new Map<string, Array<Stored<Json>>>();
  const rowsOf = (kind: KindInfo) => {
    let rows = stores.get(kind.name);
    if (!rows) {
      rows = [];
      stores.set(kind.name, rows);
    }
    return rows;
  };

  const kindNamed = (name: unknown): KindInfo =>
    kinds.find((k) => k.name === String(name ?? '').trim()) ??
    fail('other', `'${String(name)}' is not a kind of record; the kinds are: ${kinds.map((k) => k.name).join(', ')}`);
  const writable = (kind: KindInfo): void => {
    if (kind.hand_made) {
      fail(
        'other',
        `${kind.plural} are changed with their own commands (see \`labdesk --help\`), which keep their rules; \`labdesk records\` changes the kinds that have none`,
      );
    }
  };
  const invalid = (kind: KindInfo, problems: FieldError[]): never =>
    fail('invalid', `the ${kind.label} was not saved: ${problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`, problems);
  /** As the core: the whole id, or its end (at least 4 hex digits). */
  const find = (kind: KindInfo, key: unknown): Stored<Json> => {
    const text = String(key ?? '').trim().toLowerCase();
    const hex = text.replace(/-/g, '');
    const row = rowsOf(kind).find((r) => r.id === text || (hex.length >= 4 && r.id.replace(/-/g, '').endsWith(hex)));
    return row ?? fail('not_found', `no ${kind.label} matches '${String(key)}'`);
  };
  const checkBase = (kind: KindInfo, row: Stored<Json>, base: unknown): void => {
    if (base === null || base === undefined) return;
    if (Number(base) !== row.version) {
      fail(
        'stale',
        `the ${kind.label} ${row.id} was changed since you opened it (you edited version ${String(base)}, it is now at version ${row.version}); reload it and make your change again`,
      );
    }
  };

  // ---- the fields' rules, from their metadata ----
  /** The stored form: texts trimmed, lists without repeats or blanks, nothing left out. */
  const normalize = (field: FieldInfo, value: JsonValue | undefined): JsonValue => {
    if (value === undefined || value === null) {
      if (field.kind === 'text_list') return [];
      if (field.kind === 'bool') return false;
      return null;
    }
    if (typeof value === 'string') {
      if (field.kind === 'long_text') return value.trimEnd();
      if (['text', 'choice', 'date', 'id', 'time'].includes(field.kind)) return value.trim();
    }
    if (field.kind === 'text_list' && Array.isArray(value)) {
      const out: JsonValue[] = [];
      for (const item of value) {
        const v = typeof item === 'string' ? item.trim() : item;
        if (v !== '' && !out.some((o) => JSON.stringify(o) === JSON.stringify(v))) out.push(v);
      }
      return out;
    }
    return value;
  };
  const problemWith = (field: FieldInfo, value: JsonValue): string | null => {
    if (value === null || value === '') return field.required ? 'is required' : null;
    const max = field.max_length ?? Infinity;
    switch (field.kind) {
      case 'text':
      case 'long_text':
        if (typeof value !== 'string') return 'must be text';
        if ([...value].length > max) return `is longer than ${max} characters`;
        if (field.kind === 'text' && /[\r\n]/.test(value)) return 'must be one line';
        return null;
      case 'integer':
        return Number.isInteger(value) ? null : 'must be a whole number';
      case 'money':
        return Number.isInteger(value) ? null : 'must be an amount in cents, a whole number (12.50 is 1250)';
      case 'bool':
        return typeof value === 'boolean' ? null : 'must be true or false';
      case 'date':
        return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value))
          ? null
          : 'must be a date, such as 2026-12-24';
      case 'time':
        return typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? null : 'must be a time, such as 2026-12-24T09:30:00Z';
      case 'id':
        return typeof value === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)
          ? null
          : 'must be the id of a record';
      case 'choice':
        return typeof value === 'string' && field.choices.includes(value) ? null : `must be one of: ${field.choices.join(', ')}`;
      case 'text_list':
        return Array.isArray(value) && value.every((v) => typeof v === 'string') ? null : 'must be a list of texts';
      default:
        return null;
    }
  };
  /** The record's content, checked: every problem at once, as the core names them. */
  const checked = (kind: KindInfo, id: string, content: Json): Json => {
    const out: Json = {};
    const problems: FieldError[] = [];
    for (const field of kind.fields) {
      const value = normalize(field, content[field.name]);
      out[field.name] = value;
      const problem = problemWith(field, value);
      if (problem) problems.push({ field: field.name, problem });
    }
    // Its unique fields: no other live record may have them all.
    if (kind.unique.length > 0) {
      const same = (r: Stored<Json>) => kind.unique.every((f) => r[f] === out[f]);
      const other = rowsOf(kind).find((r) => r.id !== id && r.deleted_at === null && same(r));
      if (other) {
        const named = kind.unique.map((f) => String(out[f])).join(' ');
        problems.push({
          field: kind.unique[0],
          problem: `the ${kind.label} ${named} exists already (${other.id.replace(/-/g, '').slice(-8)}): change that one instead`,
        });
      }
    }
    if (problems.length) invalid(kind, problems);
    return out;
  };

  const contentOf = (row: Stored<Json>): Json => {
    const out: Json = {};
    for (const [k, v] of Object.entries(row)) {
      if (!['id', 'version', 'created_at', 'updated_at', 'updated_by', 'deleted_at'].includes(k)) out[k] = v;
    }
    return out;
  };
  const make = (kind: KindInfo, content: Json): Stored<Json> => {
    const t = env.now();
    const row: Stored<Json> = {
      ...content,
      id: env.uuid(),
      version: 1,
      created_at: t,
      updated_at: t,
      updated_by: env.user,
      deleted_at: null,
    };
    rowsOf(kind).push(row);
    env.writeRevision(kind.name as RecordKind, row.id, 1, content);
    return row;
  };
  /** Applies `changes` (content and `deleted_at`): a new version and a revision of what changed. */
  const change = (kind: KindInfo, row: Stored<Json>, changes: Json) => {
    const diff: Json = {};
    for (const [k, v] of Object.entries(changes)) {
      if (JSON.stringify(row[k] ?? null) !== JSON.stringify(v)) diff[k] = v;
    }
    if (Object.keys(diff).length === 0) return { record: row, revision: null };
    Object.assign(row, diff);
    row.version += 1;
    row.updated_at = env.now();
    row.updated_by = env.user;
    return { record: row, revision: env.writeRevision(kind.name as RecordKind, row.id, row.version, diff) };
  };

  // ---- the commands ----
  const list = (kind: KindInfo, filter: Partial<RecordFilter> = {}): Array<Stored<Json>> => {
    const searched = kind.fields.filter((f) => !f.hidden && ['text', 'long_text', 'choice'].includes(f.kind));
    const words = (filter.text ?? '').toLowerCase().split(/\s+/).filter(Boolean);
    const unknown = Object.keys(filter.fields ?? {}).filter((name) => !kind.fields.some((f) => f.name === name));
    if (unknown.length) {
      fail('other', `${kind.plural} have no field ${unknown[0]}; their fields are: ${kind.fields.map((f) => f.name).join(', ')}`);
    }
    const rows = rowsOf(kind).filter(
      (r) =>
        (filter.include_deleted || r.deleted_at === null) &&
        Object.entries(filter.fields ?? {}).every(([name, value]) => String(r[name] ?? '') === value) &&
        words.every((w) => searched.some((f) => String(r[f.name] ?? '').toLowerCase().includes(w))),
    );
    const limit = filter.limit ? filter.limit : 500;
    return [...rows].sort((a, b) => (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0)).slice(0, limit);
  };
  const create = (kind: KindInfo, fields: Json): { record: Stored<Json>; revision: Revision | null } => {
    writable(kind);
    const names = kind.fields.filter((f) => !f.hidden).map((f) => f.name);
    const unknown = Object.keys(fields ?? {}).filter((name) => name !== 'deleted_at' && !kind.fields.some((f) => f.name === name));
    if (unknown.length) {
      invalid(kind, unknown.map((name) => ({ field: name, problem: `is not a field; the fields are: ${names.join(', ')}` })));
    }
    const content = checked(kind, '', fields ?? {});
    const record = make(kind, content);
    return { record, revision: env.revisions[env.revisions.length - 1] ?? null };
  };
  const edit = (kind: KindInfo, key: unknown, base: unknown, patch: Json) => {
    writable(kind);
    const row = find(kind, key);
    checkBase(kind, row, base);
    if (row.deleted_at) fail('deleted', `the ${kind.label} ${row.id} is deleted; it can be viewed but not changed`);
    const problems: FieldError[] = [];
    for (const name of Object.keys(patch ?? {})) {
      const field = kind.fields.find((f) => f.name === name);
      if (field?.fixed) problems.push({ field: name, problem: 'is set when the record is created and cannot be changed' });
      if (!field) {
        const names = kind.fields.filter((f) => !f.fixed && !f.hidden).map((f) => f.name);
        problems.push({ field: name, problem: `is not a field; the fields are: ${names.join(', ')}` });
      }
    }
    if (problems.length) invalid(kind, problems);
    const next = checked(kind, row.id, { ...contentOf(row), ...patch });
    return change(kind, row, next);
  };
  const setDeleted = (kind: KindInfo, key: unknown, base: unknown, deleted: boolean) => {
    writable(kind);
    const row = find(kind, key);
    checkBase(kind, row, base);
    if (!deleted) checked(kind, row.id, contentOf(row)); // a restored key must be free again
    return change(kind, row, { deleted_at: deleted ? (row.deleted_at ?? env.now()) : null });
  };
  /** As the core's history: each revision with what it changed, before and after. */
  const history = (kind: KindInfo, key: unknown): HistoryEntry[] => {
    const row = find(kind, key);
    const state: Json = {};
    const title = (s: Json) => kind.title.map((f) => s[f]).find((v) => typeof v === 'string' && v !== '') as string | undefined;
    return env.revisions
      .filter((r) => r.record_id === row.id)
      .sort((a, b) => a.version - b.version)
      .map((rev): HistoryEntry => {
        const changes = Object.entries(rev.fields).map(([field, after]) => ({ field, before: state[field] ?? null, after }));
        Object.assign(state, rev.fields);
        const hex = rev.record_id.replace(/-/g, '');
        return { ...rev, changes, label: title(state) ?? '', short_id: hex.slice(-8), conflicts: [] };
      });
  };

  const handlers: FakeRecords['handlers'] = {
    record_kinds: () => kinds,
    list_records: (a) => list(kindNamed(a.kind), (a.filter as Partial<RecordFilter>) ?? {}),
    get_record: (a) => find(kindNamed(a.kind), a.id),
    create_record: (a) => create(kindNamed(a.kind), (a.fields as Json) ?? {}),
    edit_record: (a) => edit(kindNamed(a.kind), a.id, a.baseVersion, (a.patch as Json) ?? {}),
    delete_record: (a) => setDeleted(kindNamed(a.kind), a.id, a.baseVersion, true),
    restore_record: (a) => setDeleted(kindNamed(a.kind), a.id, a.baseVersion, false),
    record_history: (a) => history(kindNamed(a.kind), a.id),
  };
  return {
    handlers,
    mutating: ['create_record', 'edit_record', 'delete_record', 'restore_record'],
    seed: (kind, fields) => {
      const k = kindNamed(kind);
      return make(k, Object.fromEntries(k.fields.map((f) => [f.name, normalize(f, fields[f.name])])));
    },
  };
}
