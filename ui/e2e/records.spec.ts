// The generic screens for declared kinds, end to end on the fake backend: Lab settings is in the
// navigation because kinds.json declares it (no screen code of its own); a setting is made (a
// blank key refused beside its field first), changed, deleted and restored, and its history says
// who did each. Saved to e2e/screenshots/lab-settings*.png.

import { expect, test } from '@playwright/test';

import { fake, openApp, shot } from './support';

test.beforeEach(({ page }) => {
  page.on('pageerror', (e) => {
    throw new Error(`page error: ${e.message}`);
  });
});

test('a lab setting is made, refused without a key, changed, deleted and restored', async ({ page }) => {
  await openApp(page, '#/cases');
  await page.getByTestId('nav-records-setting').click();
  await expect(page.getByRole('heading', { name: 'Lab settings', level: 1 })).toBeVisible();
  await expect(page.getByTestId('nav-records-setting')).toHaveAttribute('aria-current', 'page');
  await expect(page.getByTestId('record-row')).toHaveCount(2); // the demo's
  const waiting = async () => Number((await page.getByTestId('sync-pending').textContent())?.match(/\d+/)?.[0] ?? 0);
  const waitingBefore = await waiting();

  // A blank key: the core's problem beside the field, nothing made.
  await page.getByTestId('record-new').click();
  await expect(page.getByTestId('record-form')).toHaveAttribute('data-mode', 'create');
  await page.getByTestId('record-field-value').fill('Net 30 days. Bank: LabBank, IBAN DE00 1234 5678 9012');
  await page.getByTestId('record-save').click();
  const keyError = page.locator('[data-testid="field-error"][data-field="key"]');
  await expect(keyError).toHaveText('is required');
  await expect(page.getByTestId('record-field-key')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByTestId('record-field-key')).toBeFocused();
  await expect(page.getByTestId('record-row')).toHaveCount(2);
  await shot(page, 'lab-settings-error');

  // With a key it is made, and shown picked in the list.
  await page.getByTestId('record-field-key').fill('invoice_footer');
  await page.getByTestId('record-field-description').fill('Printed under every invoice');
  await page.getByTestId('record-save').click();
  await expect(page.getByTestId('record-added')).toContainText('invoice_footer');
  await expect(page.getByTestId('record-row')).toHaveCount(3);
  await expect(page.getByTestId('record-title')).toHaveText('invoice_footer');
  const created = await fake(page, (f) => f.calls.filter((c) => c.cmd === 'create_record').pop()?.args);
  expect(created).toEqual({
    kind: 'setting',
    fields: {
      key: 'invoice_footer',
      value: 'Net 30 days. Bank: LabBank, IBAN DE00 1234 5678 9012',
      description: 'Printed under every invoice',
    },
  });

  // Changed: the key is fixed now; only what changed is sent, on the version it was made on.
  await expect(page.getByTestId('record-form')).toHaveAttribute('data-mode', 'edit');
  await expect(page.getByTestId('record-field-key')).toHaveAttribute('readonly', '');
  await page.getByTestId('record-field-value').fill('Net 14 days. Bank: LabBank, IBAN DE00 1234 5678 9012');
  await page.getByTestId('record-save').click();
  await expect(page.getByTestId('record-saved')).toHaveText('Saved.');
  const edited = await fake(page, (f) => f.calls.filter((c) => c.cmd === 'edit_record').pop()?.args);
  expect(edited).toMatchObject({ kind: 'setting', baseVersion: 1, patch: { value: expect.stringContaining('Net 14') } });
  expect(Object.keys((edited as { patch: object }).patch)).toEqual(['value']);
  const history = page.getByTestId('record-history-entry');
  await expect(history).toHaveCount(2);
  await expect(history.first()).toContainText('changed value');
  await expect(history.first().locator('.before')).toContainText('Net 30 days');

  // The filter finds it by its words.
  await page.getByTestId('record-filter').fill('footer');
  await expect(page.getByTestId('record-row')).toHaveCount(1);
  await page.getByTestId('record-filter').fill('');
  await expect(page.getByTestId('record-row')).toHaveCount(3);
  await page.getByTestId('record-title').click(); // the filter's focus ring is not part of the picture
  await shot(page, 'lab-settings');

  // Deleted: it leaves the list, shows under "Show deleted", and cannot be changed until restored.
  await page.getByTestId('record-delete').click();
  await expect(page.getByTestId('record-deleted')).toBeVisible();
  await expect(page.getByTestId('record-save')).toHaveCount(0);
  await expect(page.getByTestId('record-row')).toHaveCount(2);
  await page.getByTestId('record-show-deleted').check();
  await expect(page.getByTestId('record-row')).toHaveCount(3);
  await expect(page.locator('[data-testid="record-row"].deleted')).toContainText('invoice_footer');
  await shot(page, 'lab-settings-deleted');

  await page.getByTestId('record-restore').click();
  await expect(page.getByTestId('record-deleted')).toHaveCount(0);
  await expect(page.getByTestId('record-saved')).toHaveText('Restored.');
  await expect(page.getByTestId('record-field-value')).toHaveValue(/Net 14 days/);
  await expect(history).toHaveCount(4);
  await expect(history.nth(0)).toContainText('restored');
  await expect(history.nth(1)).toContainText('deleted');
  await expect(history.nth(0)).toContainText('ann');

  // The four changes wait to be sent, like any other.
  await expect(page.getByTestId('sync-pending')).toContainText(`${waitingBefore + 4} changes waiting`);
});

test('a second setting with the same key is refused and names the first', async ({ page }) => {
  await openApp(page, '#/records/setting/new');
  await page.getByTestId('record-field-key').fill('opening_hours');
  await page.getByTestId('record-save').click();
  await expect(page.locator('[data-testid="field-error"][data-field="key"]')).toContainText('exists already');
});
