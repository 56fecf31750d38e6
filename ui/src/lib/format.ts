// Formatting for people: dates, times, sizes, names of stages and fields, JSON values.

import type { JsonValue } from '../bindings/serde_json/JsonValue';

/** A due or start date as typed and shown: `YYYY-MM-DD`, with ` HH:MM` when not midnight (UTC). */
export function dateText(ts: string | null | undefined): string {
  if (!ts) return '';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  const iso = d.toISOString();
  const time = iso.slice(11, 16);
  return time === '00:00' ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${time}`;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** A moment in local time: `2026-11-21 09:30`. */
export function dateTimeText(ts: string | null | undefined): string {
  if (!ts) return '';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** How long ago: `just now`, `5 min ago`, `3 h ago`, `2 days ago`, else the date. */
export function agoText(ts: string | null | undefined, now: number = Date.now()): string {
  if (!ts) return 'never';
  const t = new Date(ts).getTime();
  if (Number.isNaN(t)) return ts;
  const s = Math.round((now - t) / 1000);
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const days = Math.round(h / 24);
  if (days < 14) return `${days} day${days === 1 ? '' : 's'} ago`;
  return dateTimeText(ts);
}

/** The weekday and date of a typed date, to confirm what was typed (`Tue 1 Dec 2026`). */
export function dateHint(text: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text.trim());
  if (!m) return '';
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  if (Number.isNaN(d.getTime()) || d.getUTCDate() !== Number(m[3])) return '';
  return d.toLocaleDateString('en-GB', { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
}

/** Bytes as `812 KB`, `3.4 MB`. */
export function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v >= 10 || Number.isInteger(v) ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** `impression_scan` → `Impression scan`, `on_hold` → `On hold`. */
export function humanize(name: string): string {
  const text = name.replace(/[_-]+/g, ' ').trim();
  if (/^[a-z]{2}$/.test(text)) return text.toUpperCase(); // qc → QC
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A field value from a revision or a conflict, short and readable. */
export function valueText(value: JsonValue | undefined): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') {
    return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value) ? dateText(value) : value === '' ? '""' : value;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return '(none)';
    if (value.every((v) => typeof v === 'string')) return value.join(', ');
    return value.map((v) => (typeof v === 'object' && v !== null ? `(${valueText(v)})` : valueText(v))).join('; ');
  }
  // An object: its filled-in members, `name: value`.
  const parts = Object.entries(value)
    .filter(([, v]) => !(v === null || v === '' || (Array.isArray(v) && v.length === 0)))
    .map(([k, v]) => `${k}: ${valueText(v)}`);
  return parts.length ? parts.join(', ') : '(empty)';
}

/** Splits a comma-separated list as typed, dropping empty items. */
export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
