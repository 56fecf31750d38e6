// An in-memory stand-in for the desktop shell, for the UI's tests: it answers the same commands
// (window.__TAURI_INTERNALS__.invoke) with the same shapes, emits the same events, and mimics a
// few of the core's rules so that forms can be shown refusing input. It is NOT the core: the
// rules here are just enough to drive the UI.
//
// `installFakeBackend` must stay self-contained (no imports used at run time, no helpers outside
// it): Playwright serialises it into the page with `page.addInitScript(installFakeBackend, opts)`.
// Vitest calls it directly on jsdom's window.

import type { AppInfo } from '../bindings/AppInfo';
import type { Case } from '../bindings/Case';
import type { CaseDetail } from '../bindings/CaseDetail';
import type { CaseMeta } from '../bindings/CaseMeta';
import type { CaseNote } from '../bindings/CaseNote';
import type { CasePage } from '../bindings/CasePage';
import type { CaseQuery } from '../bindings/CaseQuery';
import type { CaseSummary } from '../bindings/CaseSummary';
import type { ChatMessage } from '../bindings/ChatMessage';
import type { CommandError } from '../bindings/CommandError';
import type { FieldError } from '../bindings/FieldError';
import type { FileRecord } from '../bindings/FileRecord';
import type { HistoryEntry } from '../bindings/HistoryEntry';
import type { NewMessage } from '../bindings/NewMessage';
import type { RecordConflicts } from '../bindings/RecordConflicts';
import type { RecordKind } from '../bindings/RecordKind';
import type { Revision } from '../bindings/Revision';
import type { SearchHit } from '../bindings/SearchHit';
import type { Stage } from '../bindings/Stage';
import type { StageAction } from '../bindings/StageAction';
import type { StageView } from '../bindings/StageView';
import type { Stored } from '../bindings/Stored';
import type { SyncStatus } from '../bindings/SyncStatus';
import type { Vocabulary } from '../bindings/Vocabulary';
import type { WorkflowStage } from '../bindings/WorkflowStage';
import type { JsonValue } from '../bindings/serde_json/JsonValue';
import type { KindInfo } from '../bindings/KindInfo';
import KINDS from '../bindings/kinds.json' with { type: 'json' };
import { fakeRecords } from './fakeRecords';

export type FakeOptions = {
  /** 'demo': a handful of varied cases with chat, stages, a conflict and a refused change. */
  seed?: 'demo' | 'empty';
  /** Extra generated cases (for the 100k-case list). */
  bulk?: number;
  user?: string;
  workstation?: string;
  online?: boolean;
  signedIn?: boolean;
  /** Milliseconds every command takes. */
  latency?: number;
};

/** What tests can reach in the page: `window.__labdeskFake`. */
export type FakeControl = {
  emit: (event: string, payload: unknown) => void;
  setOnline: (online: boolean) => void;
  /** The paths the next open-files dialog answers with. */
  setDialogAnswer: (paths: string[] | string | null) => void;
  /** Commands called so far, with their arguments. */
  calls: Array<{ cmd: string; args: Record<string, unknown> }>;
  /** The next call of `cmd` fails with this error. */
  failNext: (cmd: string, error: CommandError) => void;
  caseCount: () => number;
  /** Someone at another workstation reads the sent message that says `text`, and it is pulled. */
  readElsewhere: (text: string) => void;
};

type Json = Record<string, JsonValue>;

function installFakeBackendWith(records: typeof fakeRecords, kinds: KindInfo[], options: FakeOptions = {}): void {
  const user = options.user ?? 'ann';
  const workstation = options.workstation ?? 'FD1';
  const latency = options.latency ?? 0;
  const STAGES: Stage[] = [
    'receiving',
    'impression_scan',
    'design',
    'milling',
    'sintering',
    'quality_control',
    'delivery',
  ];
  const CLOSED = ['delivered', 'cancelled'];
  const vocabulary: Vocabulary = {
    statuses: ['received', 'processing', 'designing', 'milling', 'qc', 'ready', 'delivered', 'cancelled', 'on_hold'],
    priorities: ['low', 'medium', 'high', 'rush', 'emergency'],
    stages: [...STAGES],
    meta_keys: ['patient_age', 'shipping_estimate_date', 'customer_feedback'],
    message_types: ['text', 'file', 'image', 'voice', 'mixed', 'system'],
    max_files_per_upload: 15,
    max_file_size: 200 * 1024 * 1024,
    allowed_formats: ['PNG', 'JPEG', 'WebP', 'STL', 'PDF', 'ZIP', 'MP4'],
    allowed_extensions: ['png', 'jpg', 'jpeg', 'webp', 'stl', 'pdf', 'zip', 'mp4'],
  };
  // The lab's order of priorities, most urgent first (the core's list sort).
  const PRIORITY_RANK: Record<string, number> = { emergency: 0, rush: 1, high: 2, medium: 3, low: 4 };
  const MIME: Record<string, string> = {
    png: 'image/png',
    jpg: 'image/jpeg',
    jpeg: 'image/jpeg',
    webp: 'image/webp',
    stl: 'application/sla',
    pdf: 'application/pdf',
    zip: 'application/zip',
    mp4: 'video/mp4',
  };
  // A 24×24 PNG (a tooth-coloured square) and a small STL (a tetrahedron), for previews.
  const PNG =
    'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABgAAAAYCAIAAABvFaqvAAAAKElEQVR4nGP8/58BK2DCLjwqMSoxKjEqMSoxKjEqMSoxKjEqMSoxqAAAK9kBL1T2o7cAAAAASUVORK5CYII=';
  const STL =
    'solid t\nfacet normal 0 0 -1\nouter loop\nvertex 0 0 0\nvertex 10 0 0\nvertex 0 10 0\nendloop\nendfacet\n' +
    'facet normal 0 -1 0\nouter loop\nvertex 0 0 0\nvertex 0 0 10\nvertex 10 0 0\nendloop\nendfacet\n' +
    'facet normal -1 0 0\nouter loop\nvertex 0 0 0\nvertex 0 10 0\nvertex 0 0 10\nendloop\nendfacet\n' +
    'facet normal 1 1 1\nouter loop\nvertex 10 0 0\nvertex 0 0 10\nvertex 0 10 0\nendloop\nendfacet\nendsolid t\n';

  let clock = Date.now();
  /** Strictly increasing times, so that order is stable even within one millisecond. */
  const now = (): string => {
    clock = Math.max(clock + 1, Date.now());
    return new Date(clock).toISOString();
  };
  const day = (offset: number): string => {
    const d = new Date();
    d.setUTCHours(0, 0, 0, 0);
    d.setUTCDate(d.getUTCDate() + offset);
    return d.toISOString();
  };
  let idCounter = 0;
  const uuid = (): string => {
    idCounter += 1;
    const hex = idCounter.toString(16).padStart(12, '0');
    return `0190a000-0000-7000-8000-${hex}`;
  };

  // ---- state ----
  const cases = new Map<string, Stored<Case>>();
  const bulk = new Map<string, CaseSummary>();
  const order: string[] = []; // case ids, oldest first
  const meta: Stored<CaseMeta>[] = [];
  const messages: Stored<ChatMessage>[] = [];
  const files: Stored<FileRecord>[] = [];
  const notes: Stored<CaseNote>[] = [];
  const stages = new Map<string, Stored<WorkflowStage>>();
  const revisions: Revision[] = [];
  const synced = new Set<string>(); // revision ids the "central store" has
  const recordCase = new Map<string, string>(); // record id -> case id
  const blobs = new Map<string, string>(); // local path -> data URL
  let conflictList: RecordConflicts[] = [];
  let nextSeq = 1;
  let online = options.online ?? true;
  let signedIn = options.signedIn ?? true;
  let serverUrl: string | null = signedIn ? 'https://hq.example.test/' : null;
  let scannerFolder: string | null = null;
  let lastSyncAt: string | null = null;
  let lastError: string | null = null;
  let rejected: SyncStatus['rejected'] = [];
  // Chat messages the "central store" refused (id → reason), and those sent again since.
  const refusedMessages = new Map<string, string>();
  const retriedMessages = new Set<string>();
  let dialogAnswer: string[] | string | null = ['/scans/FD1-000001-upper.stl', '/scans/photo-front.png'];
  const failures = new Map<string, CommandError>();
  const calls: FakeControl['calls'] = [];

  // ---- errors ----
  const fail = (kind: CommandError['kind'], message: string, fields: FieldError[] = []): never => {
    const error: CommandError = { kind, message, fields };
    throw error;
  };
  const invalid = (what: string, fields: FieldError[]): never =>
    fail('invalid', `the ${what} was not saved: ${fields.map((f) => `${f.field}: ${f.problem}`).join('; ')}`, fields);

  /** The core's headline for a refused upload: it names the files refused. */
  const refusedUpload = (fields: FieldError[], names: string[]): never => {
    const refused = names.filter((_, i) => fields.some((f) => f.field === `files[${i}]`));
    const list = refused.length > 1 ? `${refused.slice(0, -1).join(', ')} and ${refused[refused.length - 1]}` : refused[0];
    const headline =
      names.length === 1
        ? `the file ${list} was not attached`
        : refused.length === names.length
          ? `the files ${list} were not attached`
          : `${list} could not be attached, so none of the ${names.length} files was`;
    return fail('invalid', `${headline}: ${fields.map((f) => f.problem).join('; ')}`, fields);
  };

  // ---- revisions ----
  const writeRevision = (
    kind: RecordKind,
    recordId: string,
    version: number,
    fields: Json,
    resolves: string[] = [],
  ): Revision => {
    const previous = revisions.filter((r) => r.record_id === recordId && r.superseded_by === null);
    const rev: Revision = {
      id: uuid(),
      record_kind: kind,
      record_id: recordId,
      version,
      base_version: version - 1,
      parent: previous[0]?.id ?? null,
      fields,
      author: user,
      workstation,
      made_at: now(),
      superseded_by: null,
      origin: 'local',
      ...(resolves.length ? { resolves } : {}),
    };
    for (const p of previous) p.superseded_by = rev.id;
    revisions.push(rev);
    return rev;
  };
  const stored = <R,>(id: string, record: R): Stored<R> => {
    const t = now();
    return { id, version: 1, created_at: t, updated_at: t, updated_by: user, deleted_at: null, ...record };
  };
  const asJson = (v: unknown): JsonValue => JSON.parse(JSON.stringify(v ?? null)) as JsonValue;
  const contentOf = (row: object): Json => {
    const skip = ['id', 'version', 'created_at', 'updated_at', 'updated_by'];
    const out: Json = {};
    for (const [k, v] of Object.entries(row)) if (!skip.includes(k)) out[k] = asJson(v);
    if (out.deleted_at === null) delete out.deleted_at;
    return out;
  };
  /** Applies `changes` to a stored row: a new version and a revision of what changed. */
  const change = <R extends object>(
    kind: RecordKind,
    row: Stored<R>,
    changes: Partial<Stored<R>>,
    resolves: string[] = [],
  ): { record: Stored<R>; revision: Revision | null } => {
    const diff: Json = {};
    for (const [k, v] of Object.entries(changes)) {
      if (JSON.stringify((row as Record<string, unknown>)[k]) !== JSON.stringify(v)) diff[k] = asJson(v);
    }
    if (Object.keys(diff).length === 0 && resolves.length === 0) return { record: row, revision: null };
    Object.assign(row, changes);
    row.version += 1;
    row.updated_at = now();
    row.updated_by = user;
    const revision = writeRevision(kind, row.id, row.version, diff, resolves);
    return { record: row, revision };
  };
  const created = <R extends object>(kind: RecordKind, row: Stored<R>, caseId: string): Stored<R> => {
    recordCase.set(row.id, caseId);
    writeRevision(kind, row.id, 1, contentOf(row));
    return row;
  };
  const checkBase = (kind: string, id: string, base: number, current: number): void => {
    if (base !== current) {
      fail(
        'stale',
        `the ${kind} ${id} was changed since you opened it (you edited version ${base}, it is now at version ${current}); reload it and make your change again`,
      );
    }
  };

  // ---- records of any kind (fakeRecords.ts) ----
  const generic = records(kinds, { user, now, uuid, fail, writeRevision, revisions });

  // ---- cases ----
  const toTimestamp = (field: string, value: unknown, problems: FieldError[]): string | null => {
    if (value === null || value === undefined || value === '') return null;
    const text = String(value).trim();
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?Z?$/.exec(text);
    const d = m ? new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4] ?? '00'}:${m[5] ?? '00'}:${m[6] ?? '00'}Z`) : null;
    if (!d || Number.isNaN(d.getTime())) {
      problems.push({
        field,
        problem: `'${text}' is not a date or time: use YYYY-MM-DD, YYYY-MM-DD HH:MM, or RFC 3339 (2026-11-21T09:30:00Z)`,
      });
      return null;
    }
    return d.toISOString();
  };
  const validateCase = (c: Case, raw: Record<string, unknown>): FieldError[] => {
    const p: FieldError[] = [];
    if (!c.patient_name.trim()) p.push({ field: 'patient_name', problem: 'is required' });
    if ('start_date' in raw) c.start_date = toTimestamp('start_date', raw.start_date, p);
    if ('due_date' in raw) c.due_date = toTimestamp('due_date', raw.due_date, p);
    if (c.start_date && c.due_date && c.due_date < c.start_date) {
      p.push({ field: 'due_date', problem: `${c.due_date} is before the start date ${c.start_date}` });
    }
    c.services.forEach((s, i) => {
      if (!s.service_type.trim()) p.push({ field: `services[${i}].service_type`, problem: 'is required' });
    });
    c.links.forEach((l, i) => {
      if (!/^https?:\/\/[^/\s]+/.test(l.url)) {
        p.push({
          field: `links[${i}].url`,
          problem: `'${l.url}' is not a full web address; it should look like https://example.com/scan`,
        });
      }
    });
    c.aligners.forEach((a, i) => {
      if (a.count < 1) p.push({ field: `aligners[${i}].count`, problem: 'must be at least 1' });
      if (a.from > a.to) p.push({ field: `aligners[${i}].from`, problem: `${a.from} is after 'to' (${a.to})` });
    });
    if (c.parent_id && !cases.has(c.parent_id) && !bulk.has(c.parent_id)) {
      p.push({ field: 'parent_id', problem: `there is no case ${c.parent_id}` });
    }
    return p;
  };
  const validateMeta = (values: Record<string, string>): FieldError[] => {
    const p: FieldError[] = [];
    for (const [key, value] of Object.entries(values)) {
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(key)) p.push({ field: 'key', problem: `'${key}' is not a meta key` });
      if (key === 'patient_age' && !(/^\d+$/.test(value) && Number(value) <= 130)) {
        p.push({ field: 'patient_age', problem: `'${value}' is not an age in years (0 to 130)` });
      }
    }
    return p;
  };
  const caseNumber = (seq: number): string => `${workstation}-${String(seq).padStart(6, '0')}`;
  const summarize = (c: Stored<Case>): CaseSummary => ({
    id: c.id,
    case_number: c.case_number,
    patient_name: c.patient_name,
    status: c.status,
    priority: c.priority,
    start_date: c.start_date,
    due_date: c.due_date,
    assignees: c.assignees,
    parent_id: c.parent_id,
    version: c.version,
    created_at: c.created_at,
    updated_at: c.updated_at,
    deleted: c.deleted_at !== null,
    overdue: c.due_date !== null && c.due_date < new Date().toISOString() && !CLOSED.includes(c.status) && !delivered(c.id),
  });
  const summaryOf = (id: string): CaseSummary => {
    const full = cases.get(id);
    if (full) return summarize(full);
    const s = bulk.get(id);
    if (!s) return fail('not_found', `no case matches '${id}'`);
    return { ...s, overdue: s.due_date !== null && s.due_date < new Date().toISOString() && !CLOSED.includes(s.status) && !delivered(s.id) };
  };
  /** A generated case becomes a full one the first time it is opened. */
  const materialize = (id: string): Stored<Case> => {
    const existing = cases.get(id);
    if (existing) return existing;
    const s = bulk.get(id);
    if (!s) return fail('not_found', `no case matches '${id}'`);
    const c: Stored<Case> = {
      id: s.id,
      version: s.version,
      created_at: s.created_at,
      updated_at: s.updated_at,
      updated_by: user,
      deleted_at: null,
      case_number: s.case_number,
      secret_key: 'f'.repeat(40),
      status: s.status,
      patient_name: s.patient_name,
      author_id: user,
      author_info: { name: '', phone: '', address: '', address_note: '', geo_location: null },
      links: [],
      services: [],
      order_note: '',
      invoice_ids: [],
      assignees: s.assignees,
      priority: s.priority,
      start_date: s.start_date,
      due_date: s.due_date,
      parent_id: s.parent_id,
      aligners: [],
    };
    bulk.delete(id);
    cases.set(id, c);
    recordCase.set(id, id);
    writeRevision('case', id, 1, contentOf(c));
    return c;
  };
  const resolveCase = (key: unknown): Stored<Case> => {
    const k = String(key ?? '').trim();
    if (cases.has(k) || bulk.has(k)) return materialize(k);
    for (const c of cases.values()) if (c.case_number.toUpperCase() === k.toUpperCase()) return c;
    for (const s of bulk.values()) if (s.case_number.toUpperCase() === k.toUpperCase()) return materialize(s.id);
    return fail('not_found', `no case matches '${k}'`);
  };
  const createCase = (raw: Record<string, unknown>, metaValues: Record<string, string>): Stored<Case> => {
    const known = [
      'status', 'patient_name', 'author_id', 'author_info', 'links', 'services', 'order_note', 'invoice_ids',
      'assignees', 'priority', 'start_date', 'due_date', 'parent_id', 'aligners',
    ];
    const p: FieldError[] = [];
    for (const k of Object.keys(raw)) if (!known.includes(k)) p.push({ field: k, problem: 'is not a case field' });
    const c: Case = {
      case_number: caseNumber(nextSeq),
      secret_key: 'a'.repeat(40),
      status: String(raw.status ?? '').trim() || 'received',
      patient_name: String(raw.patient_name ?? ''),
      author_id: String(raw.author_id ?? '').trim() || user,
      author_info: { name: '', phone: '', address: '', address_note: '', geo_location: null, ...(raw.author_info as object) },
      links: (raw.links as Case['links']) ?? [],
      services: (raw.services as Case['services']) ?? [],
      order_note: String(raw.order_note ?? ''),
      invoice_ids: (raw.invoice_ids as string[]) ?? [],
      assignees: (raw.assignees as string[]) ?? [],
      priority: String(raw.priority ?? '').trim() || 'medium',
      start_date: null,
      due_date: null,
      parent_id: (raw.parent_id as string | null) ?? null,
      aligners: (raw.aligners as Case['aligners']) ?? [],
    };
    p.push(...validateCase(c, raw), ...validateMeta(metaValues));
    if (p.length) invalid('case', p);
    nextSeq += 1;
    const row = stored(uuid(), c);
    cases.set(row.id, row);
    order.push(row.id);
    created('case', row, row.id);
    for (const [key, value] of Object.entries(metaValues)) setMeta(row.id, key, value);
    return row;
  };
  const setMeta = (caseId: string, key: string, value: string): void => {
    const existing = meta.find((m) => m.case_id === caseId && m.key === key);
    if (existing) change('case_meta', existing, { value, deleted_at: null });
    else meta.push(created('case_meta', stored(uuid(), { case_id: caseId, key, value }), caseId));
  };
  const editCase = (key: unknown, base: number, raw: Record<string, unknown>, metaValues: Record<string, string>) => {
    const row = resolveCase(key);
    if (row.deleted_at) fail('deleted', `the case ${row.id} is deleted; it can be viewed but not changed`);
    checkBase('case', row.id, base, row.version);
    const next: Case = { ...row, ...(raw as Partial<Case>) };
    const p = [...validateCase(next, raw), ...validateMeta(metaValues)];
    if (p.length) invalid('case', p);
    const changes: Partial<Stored<Case>> = {};
    for (const k of Object.keys(raw) as Array<keyof Case>) (changes as Record<string, unknown>)[k] = next[k];
    const written = change('case', row, changes);
    for (const [k, v] of Object.entries(metaValues)) setMeta(row.id, k, v);
    return written;
  };

  // ---- listing ----
  let listCache: { key: string; ids: string[] } | null = null;
  const listIds = (q: CaseQuery): string[] => {
    const key = JSON.stringify({ ...q, offset: 0, limit: 0 });
    if (listCache && listCache.key === key) return listCache.ids;
    const nowText = new Date().toISOString();
    let rows = order.map(summaryOf);
    rows = rows.filter(
      (s) =>
        (q.include_deleted || !s.deleted) &&
        (q.status.length === 0 || q.status.includes(s.status)) &&
        (q.priority.length === 0 || q.priority.includes(s.priority)) &&
        (!q.due_from || (s.due_date !== null && s.due_date >= q.due_from)) &&
        (!q.due_to || (s.due_date !== null && s.due_date <= q.due_to)) &&
        (!q.assignee || s.assignees.includes(q.assignee.trim())) &&
        (!q.overdue_only || (s.due_date !== null && s.due_date < nowText && !CLOSED.includes(s.status) && !delivered(s.id))),
    );
    const dir = q.descending ? -1 : 1;
    const column: Record<CaseQuery['sort'], (s: CaseSummary) => string> = {
      due_date: (s) => s.due_date ?? '',
      case_number: (s) => s.case_number,
      created_at: (s) => s.created_at,
      updated_at: (s) => s.updated_at,
      // The lab's order of urgency, as the core sorts: free-text priorities after the known ones.
      priority: (s) => `${PRIORITY_RANK[s.priority.toLowerCase()] ?? 5}${s.priority.toLowerCase()}`,
      status: (s) => s.status,
      patient_name: (s) => s.patient_name.toLowerCase(),
    };
    const get = column[q.sort];
    const pos = new Map(order.map((id, i) => [id, i]));
    rows.sort((a, b) => {
      if (q.sort === 'due_date' && (a.due_date === null) !== (b.due_date === null)) return a.due_date === null ? 1 : -1;
      const x = get(a);
      const y = get(b);
      if (x !== y) return x < y ? -dir : dir;
      // Within one priority the soonest due first, undated last, as the core does.
      if (q.sort === 'priority' && a.due_date !== b.due_date) {
        if (a.due_date === null || b.due_date === null) return a.due_date === null ? 1 : -1;
        return a.due_date < b.due_date ? -dir : dir;
      }
      return ((pos.get(a.id) ?? 0) - (pos.get(b.id) ?? 0)) * dir;
    });
    const ids = rows.map((s) => s.id);
    listCache = { key, ids };
    return ids;
  };
  const listCases = (q: CaseQuery): CasePage => {
    const ids = listIds(q);
    const limit = Math.min(Math.max(q.limit, 1), 500);
    return { total: ids.length, offset: q.offset, limit, cases: ids.slice(q.offset, q.offset + limit).map(summaryOf) };
  };
  const searchCases = (text: string, limit: number): SearchHit[] => {
    const words = text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
    if (words.length === 0) fail('other', 'type a word, a name or a case number to search for');
    const hits: SearchHit[] = [];
    const matches = (hay: string) => words.every((w) => hay.toLowerCase().split(/[^\p{L}\p{N}]+/u).some((t) => t.startsWith(w)));
    for (const id of order) {
      const s = summaryOf(id);
      if (s.deleted) continue;
      const c = cases.get(id);
      const caseText = `${s.case_number} ${s.patient_name} ${c ? c.services.map((x) => `${x.service_type} ${x.sub_services.join(' ')}`).join(' ') : ''}`;
      const chat = messages.filter((m) => m.case_id === id && !m.deleted_at).map((m) => m.message_content);
      let found: { where: string; text: string } | null = matches(caseText) ? { where: 'case', text: caseText } : null;
      for (const t of chat) if (!found && matches(t)) found = { where: 'chat', text: t };
      const stageNotes = [...stages.values()].filter((st) => st.case_id === id && st.notes.trim() !== '').map((st) => st.notes);
      for (const t of stageNotes) if (!found && matches(t)) found = { where: 'stage note', text: t };
      const names = files.filter((f) => f.case_id === id && !f.deleted_at).map((f) => f.original_name);
      for (const t of names) if (!found && matches(t)) found = { where: 'file', text: t };
      if (found) {
        const at = Math.max(0, found.text.toLowerCase().indexOf(words[0]) - 30);
        const windowed = `${at > 0 ? '…' : ''}${found.text.slice(at, at + 80)}`;
        const snippet = windowed.replace(new RegExp(`\\b(${words.join('|')})`, 'gi'), '[$1]');
        hits.push({ case: s, matched_in: found.where, snippet });
        if (hits.length >= Math.min(Math.max(limit, 1), 200)) break;
      }
    }
    return hits;
  };

  // ---- stages ----
  const stageViews = (caseId: string): StageView[] =>
    STAGES.map((stage): StageView => {
      const s = stages.get(`${caseId}/${stage}`);
      const base = s ?? { case_id: caseId, stage, status: 'pending' as const, assignee: null, started_at: null, completed_at: null, notes: '' };
      return {
        id: s?.id ?? `${caseId}-${stage}`,
        version: s?.version ?? 0,
        updated_at: s?.updated_at ?? null,
        updated_by: s?.updated_by ?? null,
        case_id: base.case_id,
        stage: base.stage,
        status: base.status,
        assignee: base.assignee,
        started_at: base.started_at,
        completed_at: base.completed_at,
        notes: base.notes,
      };
    });
  /** A case whose delivery stage is completed is never overdue (the core's rule). */
  const delivered = (caseId: string): boolean => stages.get(`${caseId}/delivery`)?.status === 'completed';
  /** The case statuses the stages set (the core's STAGE_STATUSES): any other was a person's. */
  const STAGE_STATUSES = ['received', 'processing', 'designing', 'milling', 'qc', 'ready', 'delivered'];
  const WORKING: Record<Stage, string> = {
    receiving: 'received',
    impression_scan: 'processing',
    design: 'designing',
    milling: 'milling',
    sintering: 'milling',
    quality_control: 'qc',
    delivery: 'ready',
  };
  /** The core's status_from_stages: the furthest stage touched decides. */
  const statusFromStages = (caseId: string): string => {
    const touched = STAGES.filter((st) => (stages.get(`${caseId}/${st}`)?.status ?? 'pending') !== 'pending');
    const furthest = touched[touched.length - 1];
    if (!furthest) return 'received';
    const status = stages.get(`${caseId}/${furthest}`)?.status;
    if (furthest === 'delivery' && status === 'completed') return 'delivered';
    if (furthest === 'quality_control' && status === 'completed') return 'ready';
    return WORKING[furthest];
  };
  const listNames = (names: string[]): string =>
    names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}` : names.join('');
  const moveStage = (caseKey: unknown, stage: Stage, action: StageAction, base: number, force = false) => {
    const c = resolveCase(caseKey);
    const key = `${c.id}/${stage}`;
    let row = stages.get(key);
    if (action.action === 'complete' && !force) {
      const earlier = STAGES.slice(0, STAGES.indexOf(stage)).filter((st) => stages.get(`${c.id}/${st}`)?.status !== 'completed');
      if (earlier.length) {
        const one = earlier.length === 1;
        fail(
          'other',
          `${stage} of case ${c.case_number} cannot be completed yet: ${listNames(earlier)} before it ${one ? 'is' : 'are'} not completed; complete ${one ? 'it' : 'them'} first, or confirm that ${stage} is done out of order`,
        );
      }
    }
    const before = row?.status ?? 'pending';
    checkBase('workflow stage', row?.id ?? key, base, row?.version ?? 0);
    const t = now();
    const next: WorkflowStage = row
      ? { ...row }
      : { case_id: c.id, stage, status: 'pending', assignee: null, started_at: null, completed_at: null, notes: '' };
    switch (action.action) {
      case 'start':
        next.status = 'in_progress';
        next.started_at = next.started_at ?? t;
        break;
      case 'complete':
        next.status = 'completed';
        next.started_at = next.started_at ?? t;
        next.completed_at = t;
        break;
      case 'block':
        next.status = 'blocked';
        break;
      case 'hold':
        next.status = 'on_hold';
        break;
      case 'reset':
        Object.assign(next, { status: 'pending', started_at: null, completed_at: null });
        break;
      case 'assign':
        next.assignee = action.value?.trim() || null;
        break;
      case 'notes':
        next.notes = action.value;
        break;
    }
    let written: { record: Stored<WorkflowStage>; revision: Revision | null };
    if (!row) {
      row = created('workflow_stage', stored(`${c.id}-${stage}`, next), c.id);
      stages.set(key, row);
      written = { record: row, revision: revisions[revisions.length - 1] };
    } else {
      written = change('workflow_stage', row, next);
    }
    // The case's status follows its stages, as a case revision of its own, unless a person set one.
    if (next.status !== before && STAGE_STATUSES.includes(c.status)) change('case', c, { status: statusFromStages(c.id) });
    return written;
  };

  // ---- chat ----
  const findMessage = (id: unknown): Stored<ChatMessage> =>
    messages.find((m) => m.id === id) ?? fail('not_found', `no chat message matches '${String(id)}'`);
  const post = (caseKey: unknown, m: NewMessage): Stored<ChatMessage> => {
    const c = resolveCase(caseKey);
    const p: FieldError[] = [];
    if (m.message_type === 'text' && !m.message_content.trim()) {
      p.push({ field: 'message_content', problem: 'a text message needs some text' });
    }
    m.attachments.forEach((id, i) => {
      if (!files.some((f) => f.id === id && f.case_id === c.id)) {
        p.push({ field: `attachments[${i}]`, problem: `there is no file ${id} on this case` });
      }
    });
    if (p.length) invalid('chat message', p);
    const row = stored<ChatMessage>(uuid(), {
      case_id: c.id,
      message_type: m.message_type,
      message_content: m.message_content,
      attachments: [...new Set(m.attachments)],
      reply_to: m.reply_to,
      reactions: {},
      sender_id: user,
      parent_message_id: m.parent_message_id,
      message_purpose: m.message_purpose,
      message_status: 'sending',
      sent_at: now(),
      edited_at: null,
      read_at: null,
    });
    messages.push(created('chat_message', row, c.id));
    return row;
  };

  // ---- notes ----
  const findNote = (id: unknown): Stored<CaseNote> =>
    notes.find((n) => n.id === id) ?? fail('not_found', `no case note matches '${String(id)}'`);
  const checkNoteBody = (body: string): void => {
    if (!body.trim()) invalid('case note', [{ field: 'body', problem: 'is required' }]);
  };
  const addNote = (caseKey: unknown, body: string): Stored<CaseNote> => {
    const c = resolveCase(caseKey);
    if (c.deleted_at) invalid('case note', [{ field: 'case_id', problem: 'the case is deleted; restore it first' }]);
    checkNoteBody(body);
    const row = stored<CaseNote>(uuid(), { case_id: c.id, author_id: user, body });
    notes.push(created('case_note', row, c.id));
    return row;
  };
  const changeNote = (id: unknown, base: number, changes: Partial<Stored<CaseNote>>) => {
    const n = findNote(id);
    checkBase('case note', n.id, base, n.version);
    if (n.deleted_at) fail('deleted', `the case note ${n.id} is deleted; it can be viewed but not changed`);
    return change('case_note', n, changes);
  };

  // ---- history ----
  /** The core's `record_label`: a case's number, a meta key, a message's or note's first words. */
  const recordLabel = (kind: RecordKind, state: Json): string => {
    const text = (f: string) => (typeof state[f] === 'string' ? (state[f] as string) : '');
    const words = (t: string) => {
      let out = '';
      for (const w of t.split(/\s+/).filter(Boolean)) {
        if (out.length + (out ? 1 : 0) + w.length > 40) return `"${out || w.slice(0, 40)}…"`;
        out = out ? `${out} ${w}` : w;
      }
      return out ? `"${out}"` : '';
    };
    switch (kind) {
      case 'case': return text('case_number');
      case 'case_meta': return text('key');
      case 'chat_message': return words(text('message_content'));
      case 'file': return text('original_name');
      case 'workflow_stage': return text('stage');
      case 'case_note': return words(text('body'));
      default: return ''; // not on a case: `generic` names its own
    }
  };
  const history = (caseKey: unknown): HistoryEntry[] => {
    const c = resolveCase(caseKey);
    const mine = revisions.filter((r) => (recordCase.get(r.record_id) ?? r.record_id) === c.id);
    const states = new Map<string, Json>();
    const entries = [...mine]
      .sort((a, b) => (a.record_id === b.record_id ? a.version - b.version : 0))
      .map((rev): HistoryEntry => {
        const state = states.get(rev.record_id) ?? {};
        const changes = Object.entries(rev.fields).map(([field, after]) => ({
          field,
          before: state[field] ?? null,
          after,
        }));
        const now = { ...state, ...rev.fields };
        states.set(rev.record_id, now);
        // As the core: what a person knows the record by, its short id, and its proposals that
        // did not take (kept and proposed).
        const conflicts = conflictList
          .flatMap((rc) => rc.disputes)
          .filter((d) => d.revision_id === rev.id)
          .map((d) => ({ field: d.field, kept: d.kept, proposed: d.proposed, resolved: false }));
        const hex = rev.record_id.replace(/-/g, '');
        return { ...rev, changes, label: recordLabel(rev.record_kind, now), short_id: hex.slice(-8), conflicts };
      });
    return entries.sort((a, b) => (a.made_at < b.made_at ? -1 : a.made_at > b.made_at ? 1 : 0));
  };

  // ---- sync ----
  const syncState = (): SyncStatus => ({
    online,
    signed_in: signedIn,
    server_url: serverUrl,
    token_store: signedIn ? 'keychain' : null,
    syncing: false,
    pending: revisions.filter((r) => !synced.has(r.id)).length,
    files_waiting: 0,
    last_sync_at: lastSyncAt,
    last_error: lastError,
    progress: null,
    needs_review: conflictList.length,
    rejected,
    held: 0,
  });
  const syncNow = (): void => {
    if (!signedIn) fail('sync', 'sign in to a LabDesk server first (Settings)');
    if (!online) {
      lastError = `cannot reach the LabDesk server at ${serverUrl ?? ''}: connection refused; your changes are kept and will be sent when it answers`;
      emit('sync://status', syncState());
      return;
    }
    for (const r of revisions) synced.add(r.id);
    // As the core says it: sent once the server has it; this server takes no links in chat.
    for (const m of messages) {
      if (m.message_status !== 'sending') continue;
      if (m.message_content.includes('http://')) {
        const reason = 'this lab takes no links in chat';
        m.message_status = 'failed';
        refusedMessages.set(m.id, reason);
        rejected = [
          ...rejected,
          {
            revision_id: uuid(), record_kind: 'chat_message', record_id: m.id, fields: { message_content: m.message_content },
            author: m.sender_id, workstation, made_at: m.created_at, reason, rejected_at: now(),
          },
        ];
      } else {
        m.message_status = 'sent';
      }
    }
    lastSyncAt = now();
    lastError = null;
    emit('sync://status', syncState());
  };

  // ---- files ----
  const attach = (caseKey: unknown, paths: string[]): Array<Stored<FileRecord>> => {
    const c = resolveCase(caseKey);
    if (paths.length > vocabulary.max_files_per_upload) {
      invalid('file', [{ field: 'files', problem: `${paths.length} files at once; at most 15 may be attached at a time` }]);
    }
    const p: FieldError[] = [];
    paths.forEach((path, i) => {
      const ext = path.split('.').pop()?.toLowerCase() ?? '';
      if (!MIME[ext]) p.push({ field: `files[${i}]`, problem: `${path.split('/').pop()}: .${ext} files are not allowed` });
    });
    // The fake has no bytes: a path stands for its contents. The same contents twice on a case
    // are refused, naming the record already there, as the core does.
    const hashOf = (path: string) =>
      [...path].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7).toString(16).padStart(64, '0');
    paths.forEach((path, i) => {
      const name = path.split('/').pop() ?? path;
      const there = files.find((f) => f.case_id === c.id && !f.deleted_at && f.hash === hashOf(path));
      if (there) {
        p.push({
          field: `files[${i}]`,
          problem: `${name} is already attached to case ${c.case_number} as ${there.original_name} (file ${there.id}): the same contents are kept once`,
        });
      }
    });
    if (p.length) refusedUpload(p, paths.map((path) => path.split('/').pop() ?? path));
    return paths.map((path) => {
      const name = path.split('/').pop() ?? path;
      const ext = name.split('.').pop()?.toLowerCase() ?? '';
      const size = ext === 'stl' ? STL.length : 4096;
      for (const step of [1, 2, 3, 4]) {
        setTimeout(() => emit('files://progress', { path, bytes_done: (size * step) / 4, bytes_total: size }), step * 40);
      }
      const row = stored<FileRecord>(uuid(), {
        case_id: c.id,
        message_id: null,
        original_name: name,
        stored_name: `${idCounter.toString(16)}_${Math.floor(Date.now() / 1000)}.${ext}`,
        file_path: `2026/11/${user}/${c.case_number}`,
        file_size: size,
        mime_type: MIME[ext],
        upload_date: now(),
        uploaded_by: user,
        is_temp: false,
        hash: hashOf(path),
      });
      blobs.set(`/data/blobs/${row.id}`, ext === 'stl' ? `data:model/stl;base64,${btoa(STL)}` : PNG);
      files.push(created('file', row, c.id));
      return row;
    });
  };

  const detail = (key: unknown): CaseDetail => {
    const c = resolveCase(key);
    const live = <T extends { case_id: string; deleted_at: string | null }>(rows: T[]) =>
      rows.filter((r) => r.case_id === c.id && !r.deleted_at);
    const attachedIds = new Set([c.id, ...[...recordCase.entries()].filter(([, cid]) => cid === c.id).map(([id]) => id)]);
    return {
      case: { ...c },
      parent: c.parent_id ? summaryOf(c.parent_id) : null,
      children: order.filter((id) => cases.get(id)?.parent_id === c.id).map(summaryOf),
      meta: live(meta).sort((a, b) => (a.key < b.key ? -1 : 1)),
      attachments: live(files),
      chat: messages
        .filter((m) => m.case_id === c.id && !retriedMessages.has(m.id))
        .map((m) => ({ ...m, reactions: { ...m.reactions }, failure: refusedMessages.get(m.id) ?? null })),
      stages: stageViews(c.id),
      notes: live(notes).map((n) => ({ ...n })),
      pending_changes: revisions.filter((r) => attachedIds.has(r.record_id) && !synced.has(r.id)).length,
      conflicts: conflictList.filter((x) => x.case_id === c.id),
    };
  };

  // ---- the IPC ----
  type Handler = (args: Record<string, unknown>) => unknown;
  const mutating = new Set<string>();
  const handlers: Record<string, Handler> = {
    app_info: (): AppInfo => ({
      version: '0.1.0',
      workstation,
      user,
      data_dir: `/home/${user}/.local/share/app.labdesk.desktop`,
      server_url: serverUrl,
      signed_in: signedIn,
      scanner_folder: scannerFolder,
    }),
    vocabulary: () => vocabulary,
    list_cases: (a) => listCases(a.query as CaseQuery),
    search_cases: (a) => searchCases(String(a.text), Number(a.limit)),
    case_detail: (a) => detail(a.key),
    create_case: (a) => createCase(a.fields as Record<string, unknown>, (a.meta as Record<string, string>) ?? {}),
    edit_case: (a) =>
      editCase(a.key, Number(a.baseVersion), a.fields as Record<string, unknown>, (a.meta as Record<string, string>) ?? {}),
    delete_case: (a) => {
      const c = resolveCase(a.key);
      checkBase('case', c.id, Number(a.baseVersion), c.version);
      return change('case', c, { deleted_at: now() });
    },
    restore_case: (a) => {
      const c = resolveCase(a.key);
      checkBase('case', c.id, Number(a.baseVersion), c.version);
      return change('case', c, { deleted_at: null });
    },
    post_message: (a) => post(a.caseKey, a.message as NewMessage),
    edit_message: (a) => {
      const m = findMessage(a.id);
      if (m.sender_id !== user) fail('other', `only the sender of a chat message (${m.sender_id}) may edit it`);
      checkBase('chat message', m.id, Number(a.baseVersion), m.version);
      return change('chat_message', m, { message_content: String(a.content), edited_at: now() });
    },
    react_message: (a) => {
      const m = findMessage(a.id);
      const emoji = String(a.emoji);
      const users = new Set(m.reactions[emoji] ?? []);
      if (a.on) users.add(user);
      else users.delete(user);
      const reactions = { ...m.reactions, [emoji]: [...users].sort() };
      if (users.size === 0) delete reactions[emoji];
      return change('chat_message', m, { reactions });
    },
    mark_read: (a) => {
      const m = findMessage(a.id);
      // Its sender reading it is no read receipt.
      if (m.sender_id === user) return { record: m, revision: null };
      return change('chat_message', m, { message_status: 'read', read_at: m.read_at ?? now() });
    },
    retry_message: (a) => {
      const m = findMessage(a.id);
      if (!refusedMessages.has(m.id) || retriedMessages.has(m.id)) {
        fail('other', `message ${m.id} was not refused by the lab's server, so there is nothing to send again`);
      }
      if (m.sender_id !== user) fail('other', `only the sender of a chat message (${m.sender_id}) may resend it`);
      const again = post(m.case_id, {
        message_type: m.message_type,
        message_content: m.message_content,
        attachments: m.attachments.filter((id) => files.some((f) => f.id === id && !f.deleted_at)),
        reply_to: m.reply_to,
        parent_message_id: m.parent_message_id,
        message_purpose: m.message_purpose,
      });
      retriedMessages.add(m.id);
      return again;
    },
    delete_message: (a) => {
      const m = findMessage(a.id);
      if (m.sender_id !== user) fail('other', `only the sender of a chat message (${m.sender_id}) may delete it`);
      checkBase('chat message', m.id, Number(a.baseVersion), m.version);
      return change('chat_message', m, { deleted_at: now() });
    },
    add_note: (a) => addNote(a.caseKey, String(a.body ?? '')),
    edit_note: (a) => {
      const body = String(a.body ?? '');
      checkNoteBody(body);
      return changeNote(a.id, Number(a.baseVersion), { body });
    },
    delete_note: (a) => changeNote(a.id, Number(a.baseVersion), { deleted_at: now() }),
    move_stage: (a) => moveStage(a.caseKey, a.stage as Stage, a.action as StageAction, Number(a.baseVersion), a.force === true),
    case_history: (a) => history(a.caseKey),
    attach_files: (a) => attach(a.caseKey, a.paths as string[]),
    remove_file: (a) => {
      const f = files.find((x) => x.id === a.id) ?? fail('not_found', `no file matches '${String(a.id)}'`);
      return change('file', f, { deleted_at: now() }).record;
    },
    file_src: (a) => (files.some((f) => f.id === a.id) ? `/data/blobs/${String(a.id)}` : null),
    sync_status: () => syncState(),
    sync_now: () => syncNow(),
    sign_in: (a) => {
      const url = String(a.serverUrl);
      if (!/^https?:\/\/[^/\s]+/.test(url)) {
        fail('sync', `'${url}' is not a server address: it must start with https:// (or http:// on a trusted network) and name a host`);
      }
      if (!String(a.token).startsWith('ldk_')) fail('sync', 'the server did not accept this token (it starts with ldk_)');
      signedIn = true;
      serverUrl = url.endsWith('/') ? url : `${url}/`;
      emit('sync://status', syncState());
      return syncState();
    },
    sign_out: () => {
      signedIn = false;
      emit('sync://status', syncState());
      return syncState();
    },
    set_scanner_folder: (a) => {
      scannerFolder = (a.path as string | null) ?? null;
      return handlers.app_info({});
    },
    conflicts: () => conflictList,
    resolve_conflict: (a) => {
      const id = String(a.recordId);
      const rc = conflictList.find((x) => x.record_id === id) ?? fail('other', `${id} has no conflicts to resolve`);
      const picks = a.picks as Record<string, unknown>;
      const missing = rc.disputes.filter((d) => !(d.field in picks)).map((d) => d.field);
      if (missing.length) fail('invalid', `pick a value for ${missing.join(', ')}`, missing.map((f) => ({ field: f, problem: 'pick a value' })));
      const c = cases.get(id) ?? fail('not_found', `no case matches '${id}'`);
      const { revision } = change('case', c, picks as Partial<Stored<Case>>, rc.disputes.map((d) => d.revision_id));
      conflictList = conflictList.filter((x) => x !== rc);
      emit('sync://status', syncState());
      return revision;
    },
    'plugin:dialog|open': () => dialogAnswer,
    ...generic.handlers,
  };
  for (const cmd of [
    'create_case', 'edit_case', 'delete_case', 'restore_case', 'post_message', 'edit_message', 'react_message',
    'mark_read', 'delete_message', 'retry_message', 'add_note', 'edit_note', 'delete_note', 'move_stage', 'attach_files', 'remove_file', 'resolve_conflict',
    ...generic.mutating,
  ]) {
    mutating.add(cmd);
  }

  // ---- events ----
  const callbacks = new Map<number, (data: unknown) => void>();
  const listeners = new Map<string, number[]>();
  let callbackId = 1;
  const emit = (event: string, payload: unknown): void => {
    for (const handler of [...(listeners.get(event) ?? [])]) {
      callbacks.get(handler)?.({ event, id: handler, payload });
    }
  };
  const plugin: Record<string, Handler> = {
    'plugin:event|listen': (a) => {
      const event = String(a.event);
      const handler = Number(a.handler);
      listeners.set(event, [...(listeners.get(event) ?? []), handler]);
      return handler;
    },
    'plugin:event|unlisten': (a) => {
      const event = String(a.event);
      listeners.set(event, (listeners.get(event) ?? []).filter((h) => h !== Number(a.eventId)));
      return null;
    },
    'plugin:event|emit': (a) => {
      emit(String(a.event), a.payload);
      return null;
    },
  };

  const invoke = (cmd: string, args: Record<string, unknown> = {}): Promise<unknown> => {
    calls.push({ cmd, args: JSON.parse(JSON.stringify(args ?? {})) as Record<string, unknown> });
    return new Promise((resolve, reject) => {
      const run = () => {
        try {
          const failure = failures.get(cmd);
          if (failure) {
            failures.delete(cmd);
            throw failure;
          }
          const handler = plugin[cmd] ?? handlers[cmd];
          if (!handler) fail('other', `the fake backend has no command ${cmd}`);
          const result = handler(args);
          if (mutating.has(cmd)) {
            listCache = null;
            setTimeout(() => emit('sync://status', syncState()), 0);
          }
          resolve(JSON.parse(JSON.stringify(result ?? null)));
        } catch (e) {
          reject(e);
        }
      };
      if (latency > 0 && !cmd.startsWith('plugin:')) setTimeout(run, latency);
      else queueMicrotask(run);
    });
  };

  // ---- seed ----
  if (options.seed !== 'empty') {
    const demo: Array<Record<string, unknown>> = [
      {
        patient_name: 'Ada Lovelace', status: 'processing', priority: 'rush', due_date: day(-2), start_date: day(-9),
        assignees: ['bob'], order_note: 'Check the margin on 36 before milling.',
        author_info: { name: 'Dr. Jane Smith', phone: '+44 20 7946 0018', address: '1 Harley St, London', address_note: 'ring twice', geo_location: null },
        services: [{ service_type: 'crown', sub_services: ['zirconia', 'layered'], extras: ['shade A2'] }],
        links: [{ title: 'Intraoral scan', url: 'https://portal.example.com/scan/881', source: '3Shape' }],
      },
      {
        patient_name: 'Alan Turing', status: 'designing', priority: 'medium', due_date: day(5), assignees: ['carol'],
        services: [{ service_type: 'bridge', sub_services: ['emax'], extras: [] }],
      },
      { patient_name: 'Grace Hopper', status: 'delivered', priority: 'high', due_date: day(-10), assignees: ['bob', 'carol'] },
      {
        patient_name: 'Katherine Johnson', status: 'received', priority: 'low', due_date: day(12),
        aligners: [{ count: 20, stage: 3, from: 1, to: 6, date: null }],
      },
      { patient_name: 'Edsger Dijkstra', status: 'qc', priority: 'high', due_date: day(1) },
      { patient_name: 'Barbara Liskov', status: 'on_hold', priority: 'emergency', due_date: null },
    ];
    const ids = demo.map((d) => createCase(d, d.patient_name === 'Ada Lovelace' ? { patient_age: '42' } : {}).id);
    const ada = ids[0];
    const m1 = post(ada, { message_type: 'text', message_content: 'Margin on 36 looks short — can you rescan?', attachments: [], reply_to: null, parent_message_id: null, message_purpose: null });
    m1.sender_id = 'bob';
    m1.message_status = 'read';
    post(ada, { message_type: 'text', message_content: 'Rescan booked for tomorrow 9:00.', attachments: [], reply_to: m1.id, parent_message_id: null, message_purpose: null });
    moveStage(ada, 'receiving', { action: 'complete' }, 0);
    moveStage(ada, 'impression_scan', { action: 'assign', value: 'bob' }, 0);
    moveStage(ada, 'impression_scan', { action: 'start' }, 1);
    const n1 = addNote(ada, 'Patient prefers a lighter shade than the last crown.');
    n1.author_id = 'bob';
    n1.updated_by = 'bob';
    generic.seed('setting', { key: 'opening_hours', value: 'Mon–Fri 8:00–17:30, Sat 9:00–12:00', description: 'Shown on delivery notes' });
    generic.seed('setting', { key: 'rush_cutoff', value: '11:00', description: 'Rush orders in by this time ship the same day' });
    for (const r of revisions) synced.add(r.id);
    for (const m of messages) if (m.message_status === 'sending') m.message_status = 'sent';
    lastSyncAt = day(0);
    const turing = cases.get(ids[1]);
    if (turing) {
      change('case', turing, { priority: 'high' });
      conflictList = [
        {
          record_kind: 'case',
          record_id: turing.id,
          case_id: turing.id,
          case_number: turing.case_number,
          disputes: [
            {
              field: 'status', kept: 'designing', kept_by: 'dave', kept_workstation: 'BN2', kept_at: day(-1),
              proposed: 'milling', revision_id: uuid(), proposed_by: user, proposed_workstation: workstation,
              proposed_at: day(-1), current: 'designing', found_at: day(0),
            },
          ],
        },
      ];
    }
    rejected = [
      {
        revision_id: uuid(), record_kind: 'case', record_id: ids[2], fields: { status: 'cancelled' }, author: user,
        workstation, made_at: day(-1), reason: 'only a lab manager may cancel a delivered case', rejected_at: day(0),
      },
    ];
  }
  const bulkCount = options.bulk ?? 0;
  const statuses = vocabulary.statuses;
  const priorities = vocabulary.priorities;
  const names = ['Müller', 'Rossi', 'García', 'Smith', 'Nowak', 'Kowalski', 'Dubois', 'Jensen', 'Silva', 'Novak'];
  const given = ['Anna', 'Ben', 'Chloé', 'David', 'Eva', 'Felix', 'Greta', 'Hugo', 'Ida', 'Jonas'];
  const base = Date.now() - 200 * 86400000;
  for (let i = 0; i < bulkCount; i += 1) {
    const id = uuid();
    const t = new Date(base + i * 60000).toISOString();
    const due = new Date(Date.UTC(2026, 0, 1) + ((i * 7919) % 900) * 86400000).toISOString();
    bulk.set(id, {
      id,
      case_number: caseNumber(nextSeq),
      patient_name: `${given[i % 10]} ${names[Math.floor(i / 10) % 10]} ${i}`,
      status: statuses[i % statuses.length],
      priority: priorities[i % priorities.length],
      start_date: null,
      due_date: due,
      assignees: i % 3 === 0 ? ['bob'] : [],
      parent_id: null,
      version: 1,
      created_at: t,
      updated_at: t,
      deleted: false,
      overdue: false,
    });
    order.push(id);
    nextSeq += 1;
  }

  // ---- install ----
  const w = window as unknown as {
    __TAURI_INTERNALS__: Record<string, unknown>;
    __TAURI_EVENT_PLUGIN_INTERNALS__: Record<string, unknown>;
    __labdeskFake: FakeControl;
  };
  w.__TAURI_INTERNALS__ = {
    invoke,
    transformCallback: (cb: (data: unknown) => void, once = false) => {
      const id = callbackId++;
      callbacks.set(id, (data) => {
        if (once) callbacks.delete(id);
        cb(data);
      });
      return id;
    },
    unregisterCallback: (id: number) => callbacks.delete(id),
    convertFileSrc: (path: string) => blobs.get(path) ?? `asset://localhost/${encodeURIComponent(path)}`,
    metadata: { currentWindow: { label: 'main' }, currentWebview: { windowLabel: 'main', label: 'main' } },
  };
  w.__TAURI_EVENT_PLUGIN_INTERNALS__ = { unregisterListener: (_event: string, id: number) => callbacks.delete(id) };
  w.__labdeskFake = {
    emit,
    setOnline: (value) => {
      online = value;
      emit('sync://status', syncState());
    },
    setDialogAnswer: (paths) => {
      dialogAnswer = paths;
    },
    calls,
    failNext: (cmd, error) => {
      failures.set(cmd, error);
    },
    caseCount: () => order.length,
    readElsewhere: (text) => {
      for (const m of messages) {
        if (m.message_content === text && m.message_status === 'sent') {
          m.message_status = 'read';
          m.read_at = now();
          m.version += 1;
        }
      }
      emit('store://changed', null);
    },
  };
}

/** Puts the fake backend in place of the shell on `window`, with the generic record commands
 * (fakeRecords.ts) over the declared kinds (bindings/kinds.json). */
export function installFakeBackend(options: FakeOptions = {}): void {
  installFakeBackendWith(fakeRecords, KINDS as KindInfo[], options);
}
// Playwright sends the installer into the page as source text (`addInitScript(fn, arg)` runs
// `(${fn.toString()})(arg)`), where nothing is imported: the text carries what it calls.
installFakeBackend.toString = () =>
  `(options) => (${String(installFakeBackendWith)})(${String(fakeRecords)}, ${JSON.stringify(KINDS)}, options)`;
