import { describe, expect, it } from 'vitest';

import { agoText, dateHint, dateText, humanize, sizeText, splitList, valueText } from './format';

describe('format', () => {
  it('shows due dates as typed: the date, with the time only when it is not midnight UTC', () => {
    expect(dateText('2026-12-01T00:00:00.000Z')).toBe('2026-12-01');
    expect(dateText('2026-12-01T14:30:00.000Z')).toBe('2026-12-01 14:30');
    expect(dateText(null)).toBe('');
  });

  it('confirms a typed date with its weekday, and says nothing for a non-date', () => {
    expect(dateHint('2026-12-01')).toBe('Tue, 1 Dec 2026');
    expect(dateHint('2026-02-30')).toBe('');
    expect(dateHint('next tuesday')).toBe('');
  });

  it('says how long ago', () => {
    const now = Date.parse('2026-11-21T12:00:00Z');
    expect(agoText('2026-11-21T11:59:50Z', now)).toBe('just now');
    expect(agoText('2026-11-21T11:55:00Z', now)).toBe('5 min ago');
    expect(agoText('2026-11-21T09:00:00Z', now)).toBe('3 h ago');
    expect(agoText('2026-11-19T12:00:00Z', now)).toBe('2 days ago');
    expect(agoText(null, now)).toBe('never');
  });

  it('sizes, names and lists', () => {
    expect(sizeText(512)).toBe('512 B');
    expect(sizeText(200 * 1024 * 1024)).toBe('200 MB');
    expect(sizeText(1536)).toBe('1.5 KB');
    expect(humanize('impression_scan')).toBe('Impression scan');
    expect(humanize('qc')).toBe('QC');
    expect(splitList(' zirconia, ,layered ')).toEqual(['zirconia', 'layered']);
  });

  it('writes field values from history and conflicts readably', () => {
    expect(valueText(null)).toBe('—');
    expect(valueText(['bob', 'carol'])).toBe('bob, carol');
    expect(valueText([])).toBe('(none)');
    expect(valueText('2026-12-01T00:00:00.000Z')).toBe('2026-12-01');
    expect(valueText([{ service_type: 'crown', sub_services: ['zirconia'], extras: [] }])).toBe(
      '(service_type: crown, sub_services: zirconia)',
    );
    expect(valueText({ name: 'Dr. Smith', phone: '', geo_location: null })).toBe('name: Dr. Smith');
  });
});
