import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import { emptyDraft } from '../lib/caseDraft';
import { testVocabulary } from '../testing/render';
import { CaseForm } from './CaseForm';

describe('case form', () => {
  it('shows each problem of the core beside the field it names, nested ones included', () => {
    const draft = {
      ...emptyDraft(),
      services: [{ service_type: 'crown', sub_services: 'zirconia, x', extras: '' }],
      aligners: [{ count: '10', stage: '1', from: '5', to: '2', date: '' }],
      links: [{ title: 'scan', url: 'portal', source: '' }],
      meta: [{ key: 'patient_age', value: '200' }],
    };
    const errors = {
      'aligners[0].from': "5 is after 'to' (2)",
      'services[0].sub_services[1]': 'is longer than 200 characters',
      'links[0].url': "'portal' is not a full web address",
      patient_age: "'200' is not an age in years (0 to 130)",
      'author_info.geo_location': 'latitude must be within -90..90',
    };
    render(<CaseForm draft={draft} onChange={() => undefined} errors={errors} vocabulary={testVocabulary} testPrefix="t" />);
    const at = (field: string) => screen.getAllByTestId('field-error').filter((e) => e.getAttribute('data-field') === field);
    expect(at('aligners[0].from')[0]).toHaveTextContent("5 is after 'to' (2)");
    expect(at('services[0].sub_services')[0]).toHaveTextContent('[1]: is longer than 200 characters');
    expect(at('links[0].url')[0]).toHaveTextContent('not a full web address');
    expect(at('patient_age')[0]).toHaveTextContent('not an age');
    expect(at('author_info.geo_location')[0]).toHaveTextContent('latitude');
    const from = screen.getByTestId('t-aligners');
    expect(within(from).getByLabelText('From')).toHaveAttribute('aria-invalid', 'true');
    expect(within(from).getByLabelText('To')).not.toHaveAttribute('aria-invalid');
  });

  it('offers the core’s statuses, priorities and meta keys', () => {
    const { container } = render(
      <CaseForm draft={emptyDraft()} onChange={() => undefined} errors={{}} vocabulary={testVocabulary} testPrefix="t" />,
    );
    const options = (id: string) => [...container.querySelectorAll(`#${id} option`)].map((o) => o.getAttribute('value'));
    expect(options('t-statuses-list')).toEqual(testVocabulary.statuses);
    expect(options('t-priorities-list')).toEqual(testVocabulary.priorities);
    expect(options('t-meta-list')).toEqual(testVocabulary.meta_keys);
  });
});
