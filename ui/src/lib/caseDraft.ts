// A case as a form edits it (text as typed), and back to the core's fields. No rules here: the
// core checks what is sent and names the fields it refuses.

import type { CaseFields, MetaValues } from '../api';
import type { Case } from '../bindings/Case';
import type { CaseMeta } from '../bindings/CaseMeta';
import type { CaseSummary } from '../bindings/CaseSummary';
import type { Stored } from '../bindings/Stored';
import { dateText, splitList } from './format';

export type ServiceDraft = { service_type: string; sub_services: string; extras: string };
export type LinkDraft = { title: string; url: string; source: string };
export type AlignerDraft = { count: string; stage: string; from: string; to: string; date: string };
export type MetaDraft = { key: string; value: string };

export type CaseDraft = {
  patient_name: string;
  status: string;
  priority: string;
  start_date: string;
  due_date: string;
  assignees: string;
  invoice_ids: string;
  order_note: string;
  author_id: string;
  author_name: string;
  author_phone: string;
  author_address: string;
  author_address_note: string;
  author_lat: string;
  author_lng: string;
  services: ServiceDraft[];
  links: LinkDraft[];
  aligners: AlignerDraft[];
  /** The parent case's number (or UUID) as typed; resolved to `parent_id` on save. */
  parent: string;
  meta: MetaDraft[];
};

export const emptyService = (): ServiceDraft => ({ service_type: '', sub_services: '', extras: '' });
export const emptyLink = (): LinkDraft => ({ title: '', url: '', source: '' });
export const emptyAligner = (): AlignerDraft => ({ count: '', stage: '', from: '', to: '', date: '' });

export function emptyDraft(): CaseDraft {
  return {
    patient_name: '',
    status: '',
    priority: '',
    start_date: '',
    due_date: '',
    assignees: '',
    invoice_ids: '',
    order_note: '',
    author_id: '',
    author_name: '',
    author_phone: '',
    author_address: '',
    author_address_note: '',
    author_lat: '',
    author_lng: '',
    services: [],
    links: [],
    aligners: [],
    parent: '',
    meta: [],
  };
}

export function draftFromCase(c: Case, meta: Stored<CaseMeta>[], parent: CaseSummary | null): CaseDraft {
  const a = c.author_info;
  return {
    patient_name: c.patient_name,
    status: c.status,
    priority: c.priority,
    start_date: dateText(c.start_date),
    due_date: dateText(c.due_date),
    assignees: c.assignees.join(', '),
    invoice_ids: c.invoice_ids.join(', '),
    order_note: c.order_note,
    author_id: c.author_id,
    author_name: a.name,
    author_phone: a.phone,
    author_address: a.address,
    author_address_note: a.address_note,
    author_lat: a.geo_location ? String(a.geo_location.lat) : '',
    author_lng: a.geo_location ? String(a.geo_location.lng) : '',
    services: c.services.map((s) => ({
      service_type: s.service_type,
      sub_services: s.sub_services.join(', '),
      extras: s.extras.join(', '),
    })),
    links: c.links.map((l) => ({ ...l })),
    aligners: c.aligners.map((al) => ({
      count: String(al.count),
      stage: String(al.stage),
      from: String(al.from),
      to: String(al.to),
      date: dateText(al.date),
    })),
    parent: parent ? parent.case_number : (c.parent_id ?? ''),
    meta: meta.map((m) => ({ key: m.key, value: m.value })),
  };
}

const num = (text: string): number => {
  const n = Number(text.trim());
  return text.trim() === '' || !Number.isFinite(n) ? 0 : n;
};
const optText = (text: string): string | null => (text.trim() === '' ? null : text.trim());

/**
 * The case fields of a draft, all of them, as the core takes them. `parent_id` is left out: it
 * needs a look-up (see `resolveParent`).
 */
export function fieldsFromDraft(d: CaseDraft): CaseFields {
  const lat = d.author_lat.trim();
  const lng = d.author_lng.trim();
  return {
    patient_name: d.patient_name,
    status: d.status,
    priority: d.priority,
    start_date: optText(d.start_date),
    due_date: optText(d.due_date),
    assignees: splitList(d.assignees),
    invoice_ids: splitList(d.invoice_ids),
    order_note: d.order_note,
    author_id: d.author_id,
    author_info: {
      name: d.author_name,
      phone: d.author_phone,
      address: d.author_address,
      address_note: d.author_address_note,
      geo_location: lat === '' && lng === '' ? null : { lat: num(lat), lng: num(lng) },
    },
    services: d.services.map((s) => ({
      service_type: s.service_type,
      sub_services: splitList(s.sub_services),
      extras: splitList(s.extras),
    })),
    links: d.links.map((l) => ({ title: l.title, url: l.url.trim(), source: l.source })),
    aligners: d.aligners.map((al) => ({
      count: num(al.count),
      stage: num(al.stage),
      from: num(al.from),
      to: num(al.to),
      date: optText(al.date),
    })),
  };
}

/** For intake: the fields filled in (empty text left out, so that the core's defaults apply). */
export function intakeFields(d: CaseDraft): CaseFields {
  const all = fieldsFromDraft(d);
  const out: CaseFields = { patient_name: all.patient_name };
  for (const [key, value] of Object.entries(all) as Array<[keyof CaseFields, unknown]>) {
    const empty =
      value === null ||
      value === '' ||
      (Array.isArray(value) && value.length === 0) ||
      (key === 'author_info' && JSON.stringify(value) === JSON.stringify(fieldsFromDraft(emptyDraft()).author_info));
    if (!empty) (out as Record<string, unknown>)[key] = value;
  }
  return out;
}

/** The fields a draft changed from the original draft: only those are sent with an edit. */
export function changedFields(original: CaseDraft, edited: CaseDraft): CaseFields {
  const before = fieldsFromDraft(original) as Record<string, unknown>;
  const after = fieldsFromDraft(edited) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(after)) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) out[key] = after[key];
  }
  return out as CaseFields;
}

/** Meta values to send: intake sends all filled rows; an edit sends the changed ones. */
export function metaValues(edited: CaseDraft, original?: CaseDraft): MetaValues {
  const out: MetaValues = {};
  const was = new Map((original?.meta ?? []).map((m) => [m.key.trim(), m.value]));
  for (const m of edited.meta) {
    const key = m.key.trim();
    if (!key) continue;
    if (original && was.get(key) === m.value) continue;
    out[key] = m.value;
  }
  return out;
}

export function draftsEqual(a: CaseDraft, b: CaseDraft): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
