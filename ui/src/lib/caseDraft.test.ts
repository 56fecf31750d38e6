import { describe, expect, it } from 'vitest';

import type { Case } from '../bindings/Case';
import { changedFields, draftFromCase, emptyDraft, fieldsFromDraft, intakeFields, metaValues } from './caseDraft';

const ada: Case = {
  case_number: 'FD1-000001',
  secret_key: 'f'.repeat(40),
  status: 'milling',
  patient_name: 'Ada Lovelace',
  author_id: 'ann',
  author_info: { name: 'Dr. Smith', phone: '', address: '', address_note: '', geo_location: { lat: 51.5, lng: -0.15 } },
  links: [{ title: 'Scan', url: 'https://portal.example.com/1', source: '3Shape' }],
  services: [{ service_type: 'crown', sub_services: ['zirconia', 'layered'], extras: ['shade A2'] }],
  order_note: '',
  invoice_ids: ['INV-1'],
  assignees: ['bob'],
  priority: 'rush',
  start_date: null,
  due_date: '2026-12-01T00:00:00.000Z',
  parent_id: null,
  aligners: [{ count: 20, stage: 3, from: 1, to: 6, date: null }],
};

describe('case drafts', () => {
  it('intake sends only what was filled in, so that the core’s defaults apply', () => {
    const d = { ...emptyDraft(), patient_name: 'Marie Curie', due_date: '2026-12-01' };
    expect(intakeFields(d)).toEqual({ patient_name: 'Marie Curie', due_date: '2026-12-01' });
  });

  it('a case read into a form and back is the same case', () => {
    const fields = fieldsFromDraft(draftFromCase(ada, [], null));
    const { case_number: _n, secret_key: _k, parent_id: _p, ...content } = ada;
    expect(fields).toEqual({ ...content, due_date: '2026-12-01' });
  });

  it('an edit sends only the fields changed', () => {
    const original = draftFromCase(ada, [], null);
    const edited = { ...original, priority: 'high', services: [{ ...original.services[0], extras: 'shade A3' }] };
    expect(changedFields(original, edited)).toEqual({
      priority: 'high',
      services: [{ service_type: 'crown', sub_services: ['zirconia', 'layered'], extras: ['shade A3'] }],
    });
    expect(changedFields(original, { ...original })).toEqual({});
  });

  it('meta values: intake sends the filled rows, an edit the changed ones', () => {
    const original = { ...emptyDraft(), meta: [{ key: 'patient_age', value: '42' }] };
    const edited = { ...original, meta: [{ key: 'patient_age', value: '42' }, { key: 'customer_feedback', value: 'great' }, { key: ' ', value: 'x' }] };
    expect(metaValues(edited)).toEqual({ patient_age: '42', customer_feedback: 'great' });
    expect(metaValues(edited, original)).toEqual({ customer_feedback: 'great' });
  });
});
