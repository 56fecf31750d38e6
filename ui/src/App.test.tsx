import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';

import { renderApp } from './testing/render';

describe('the app on the fake backend', () => {
  it('intake marks the fields the core refused, then shows the new case number', async () => {
    const user = userEvent.setup();
    const { fake } = renderApp('#/intake');
    const patient = await screen.findByTestId('intake-patient');
    await user.type(patient, 'Marie Curie');
    await user.type(screen.getByTestId('intake-due'), '2026-12-01');
    await user.type(screen.getByTestId('intake-start'), '2026-12-05');
    await user.click(screen.getByTestId('intake-submit'));

    const error = await screen.findByText(/is before the start date/, { selector: '[data-field="due_date"]' });
    expect(error).toBeVisible();
    expect(screen.getByTestId('intake-due')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.queryByTestId('intake-case-number')).toBeNull();
    await waitFor(() => expect(screen.getByTestId('intake-due')).toHaveFocus());

    await user.clear(screen.getByTestId('intake-start'));
    await user.click(screen.getByTestId('intake-submit'));
    expect(await screen.findByTestId('intake-case-number')).toHaveTextContent('FD1-000007');
    expect(fake.calls.filter((c) => c.cmd === 'create_case').at(-1)?.args).toEqual({
      fields: { patient_name: 'Marie Curie', due_date: '2026-12-01' },
      meta: {},
    });
  });

  it('lists cases with overdue ones marked, and searches', async () => {
    const user = userEvent.setup();
    renderApp('#/cases');
    const list = await screen.findByTestId('case-list');
    await waitFor(() => expect(within(list).getAllByTestId('case-row')).toHaveLength(6));
    const ada = within(list).getByText('Ada Lovelace').closest('[data-testid="case-row"]');
    expect(ada).toHaveAttribute('data-overdue', 'true');
    expect(screen.getByTestId('case-count')).toHaveTextContent('6 cases');

    await user.type(screen.getByTestId('search'), 'rescan');
    await waitFor(() => expect(within(list).getAllByTestId('case-row')).toHaveLength(1));
    expect(within(list).getByTestId('case-row')).toHaveTextContent('chat');
  });

  it('always shows the sync status, and navigates with the keyboard', async () => {
    const user = userEvent.setup();
    renderApp('#/cases');
    expect(await screen.findByTestId('sync-status')).toHaveAttribute('data-state', 'online');
    await waitFor(() => expect(screen.getByTestId('sync-pending')).toHaveTextContent('1 change waiting'));
    await user.keyboard('{Alt>}s{/Alt}');
    expect(await screen.findByTestId('settings')).toBeVisible();
    await user.keyboard('{Alt>}n{/Alt}');
    expect(await screen.findByTestId('intake')).toBeVisible();
    expect(screen.getByTestId('sync-status')).toBeVisible();
  });

  it('opens a case with its seven stages and moves one', async () => {
    const user = userEvent.setup();
    const { fake } = renderApp('#/case/FD1-000001');
    const design = await screen.findByTestId('stage-design');
    expect(screen.getAllByTestId(/^stage-(receiving|impression_scan|design|milling|sintering|quality_control|delivery)$/)).toHaveLength(7);
    await user.click(within(design).getByTestId('stage-start'));
    await waitFor(() => expect(screen.getByTestId('stage-design')).toHaveAttribute('data-status', 'in_progress'));
    expect(fake.calls.find((c) => c.cmd === 'move_stage')?.args).toMatchObject({ stage: 'design', action: { action: 'start' }, baseVersion: 0 });
  });
});
