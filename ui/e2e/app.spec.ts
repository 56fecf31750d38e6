// The UI end to end, built (ui/dist), in headless Chromium, with the fake backend in place of the
// Tauri shell: intake, the list, search, a case's detail, chat, workflow, files, history,
// conflicts, sync status and settings. Each screen is saved to e2e/screenshots/.

import { expect, type Page, test } from '@playwright/test';

import { fake, openApp, shot } from './support';

test.beforeEach(({ page }) => {
  page.on('pageerror', (e) => {
    throw new Error(`page error: ${e.message}`);
  });
});

const row = (page: Page, caseNumber: string) =>
  page.getByTestId('case-list').locator(`[data-testid="case-row"][data-case-number="${caseNumber}"]`);

test('intake shows the core’s inline errors, then takes the case in and shows its number', async ({ page }) => {
  await openApp(page, '#/cases');
  await page.getByTestId('nav-intake').click();
  await expect(page.getByTestId('intake-patient')).toBeFocused();

  await page.getByTestId('intake-patient').fill('Marie Curie');
  await page.getByTestId('intake-due').fill('2026-12-01');
  await expect(page.getByText('Tue, 1 Dec 2026')).toBeVisible();
  await page.getByTestId('intake-start').fill('2026-12-05');
  await page.getByRole('button', { name: '+ Add service' }).click();
  await page.getByTestId('intake-submit').click();

  // Refused: each problem beside its field, and all of them listed above the form.
  const dueError = page.locator('[data-testid="field-error"][data-field="due_date"]');
  await expect(dueError).toContainText('is before the start date');
  await expect(page.locator('[data-testid="field-error"][data-field="services[0].service_type"]')).toContainText('is required');
  await expect(page.getByTestId('form-error')).toContainText('due_date');
  await expect(page.getByTestId('intake-due')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByTestId('intake-case-number')).toHaveCount(0);
  await shot(page, 'intake-errors');

  // Fixed, it is taken in; the core minted the number.
  await page.getByTestId('intake-start').fill('2026-11-25');
  await page.getByLabel('Service *').fill('crown');
  await page.getByLabel('Sub-services').fill('zirconia, layered');
  await page.getByRole('button', { name: '+ Add meta value' }).click();
  await page.getByLabel('Key').fill('patient_age');
  await page.getByLabel('Patient age').fill('58');
  await page.getByTestId('intake-submit').click();
  await expect(page.getByTestId('intake-case-number')).toHaveText('FD1-000007');
  await expect(page.locator('[data-testid="field-error"]')).toHaveCount(0);
  await expect(page.getByTestId('intake-patient')).toHaveValue('');
  await shot(page, 'intake');

  const created = await fake(page, (f) => f.calls.filter((c) => c.cmd === 'create_case').pop()?.args);
  expect(created).toMatchObject({
    fields: {
      patient_name: 'Marie Curie',
      due_date: '2026-12-01',
      start_date: '2026-11-25',
      services: [{ service_type: 'crown', sub_services: ['zirconia', 'layered'], extras: [] }],
    },
    meta: { patient_age: '58' },
  });
  // Nothing left empty is sent: the core's defaults apply.
  expect(Object.keys((created as { fields: object }).fields)).not.toContain('status');

  // The new case is in the list straight away (offline: stored on this workstation).
  await page.getByRole('button', { name: 'Open case' }).click();
  await expect(page.getByTestId('case-number')).toHaveText('FD1-000007');
  await expect(page.getByTestId('case-pending')).toBeVisible();
});

test('the list filters, sorts, and marks overdue cases', async ({ page }) => {
  await openApp(page, '#/cases');
  await expect(page.getByTestId('case-count')).toHaveText('6 cases');
  await expect(page.getByTestId('case-row')).toHaveCount(6);
  await expect(row(page, 'FD1-000001')).toHaveAttribute('data-overdue', 'true');
  await expect(row(page, 'FD1-000001')).toContainText('overdue');
  await expect(row(page, 'FD1-000003')).not.toHaveAttribute('data-overdue', 'true'); // delivered
  await shot(page, 'case-list');

  await page.getByTestId('filter-status').getByRole('button', { name: 'Processing' }).click();
  await expect(page.getByTestId('case-row')).toHaveCount(1);
  await expect(page.getByTestId('case-count')).toHaveText('1 case match');
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await page.getByTestId('filter-overdue').check();
  await expect(page.getByTestId('case-row')).toHaveCount(1);
  await page.getByTestId('filter-overdue').uncheck();
  await page.getByTestId('filter-assignee').fill('carol');
  await expect(page.getByTestId('case-row')).toHaveCount(2);
  await page.getByTestId('filter-assignee').fill('');

  await page.getByRole('columnheader', { name: 'Patient' }).getByRole('button').click();
  await expect(page.getByTestId('case-row').first()).toContainText('Ada Lovelace');
  await page.getByRole('columnheader', { name: 'Patient' }).getByRole('button').click();
  await expect(page.getByTestId('case-row').first()).toContainText('Katherine Johnson');
  const query = await fake(page, (f) => f.calls.filter((c) => c.cmd === 'list_cases').pop()?.args.query);
  expect(query).toMatchObject({ sort: 'patient_name', descending: true, offset: 0, limit: 200 });

  // Keyboard: arrows move, Enter opens.
  await page.getByTestId('case-list').focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('case-screen')).toBeVisible();
});

test('the priority sort follows the lab\'s order of urgency, not the alphabet', async ({ page }) => {
  await openApp(page, '#/cases');
  await page.getByTestId('sort').selectOption('priority');
  const rows = page.getByTestId('case-row');
  await expect(rows.nth(0)).toContainText('Barbara Liskov'); // emergency
  await expect(rows.nth(1)).toContainText('Ada Lovelace'); // rush, before every high
  await expect(rows.nth(2)).toContainText('Grace Hopper'); // high, due first
  await expect(rows.nth(5)).toContainText('Katherine Johnson'); // low
});

test('100,000 cases scroll as a virtual list, read page by page', async ({ page }) => {
  await openApp(page, '#/cases', { bulk: 100_000 });
  await expect(page.getByTestId('case-count')).toHaveText('100,006 cases');
  const rendered = await page.getByTestId('case-list').locator('[role="row"]').count();
  expect(rendered).toBeLessThan(80);

  await page.getByTestId('case-list').focus();
  const started = Date.now();
  await page.keyboard.press('End');
  await expect(page.locator('[data-testid="case-row"][aria-rowindex="100006"]')).toBeVisible();
  expect(Date.now() - started).toBeLessThan(3000);
  await page.getByTestId('case-list').evaluate((el) => el.scrollTo(0, el.scrollHeight / 2));
  await expect(page.locator('[data-testid="case-row"][aria-rowindex="50003"]')).toBeVisible();
  await shot(page, 'case-list-100k');

  const offsets = await fake(page, (f) =>
    f.calls.filter((c) => c.cmd === 'list_cases').map((c) => (c.args.query as { offset: number }).offset),
  );
  expect(offsets).toContain(0);
  expect(offsets.some((o) => o >= 99_800)).toBe(true);
  expect(offsets.every((o) => o % 200 === 0)).toBe(true);
});

test('search finds cases by service and by chat, and opens them', async ({ page }) => {
  await openApp(page, '#/cases');
  await page.keyboard.press('/');
  await expect(page.getByTestId('search')).toBeFocused();
  await page.keyboard.type('zirconia');
  await expect(page.getByTestId('case-row')).toHaveCount(1);
  await expect(page.getByTestId('case-row')).toContainText('Ada Lovelace');
  await expect(page.getByTestId('case-row').locator('mark')).toHaveText('zirconia');
  await shot(page, 'search');

  await page.getByTestId('search').fill('rescan');
  await expect(page.getByTestId('case-row')).toHaveCount(1);
  await expect(page.getByTestId('case-row')).toContainText('chat');
  await page.getByTestId('search').press('Enter');
  await expect(page.getByTestId('case-number')).toHaveText('FD1-000001');

  await page.getByTestId('nav-cases').click();
  await page.getByTestId('search').fill('nobody-by-this-name');
  await expect(page.getByTestId('list-empty')).toContainText('Nothing matches');
});

test('case detail: edit with the version shown, stages, and a stale edit refused', async ({ page }) => {
  await openApp(page, '#/case/FD1-000001');
  await expect(page.getByTestId('case-heading-patient')).toHaveText('Ada Lovelace');
  await expect(page.getByTestId('case-patient')).toHaveValue('Ada Lovelace');
  await expect(page.getByTestId('case-priority')).toHaveValue('rush');
  await expect(page.getByTestId('stage-receiving')).toHaveAttribute('data-status', 'completed');
  await expect(page.getByTestId('stage-impression_scan')).toHaveAttribute('data-status', 'in_progress');
  await shot(page, 'case-detail');

  // Workflow: complete the scan, start design.
  await page.getByTestId('stage-impression_scan').getByTestId('stage-complete').click();
  await expect(page.getByTestId('stage-impression_scan')).toHaveAttribute('data-status', 'completed');
  await page.getByTestId('stage-design').getByTestId('stage-assignee').fill('carol');
  await page.getByTestId('stage-design').getByTestId('stage-assignee').press('Enter');
  await page.getByTestId('stage-design').getByTestId('stage-start').click();
  await expect(page.getByTestId('stage-design')).toHaveAttribute('data-status', 'in_progress');
  const moves = await fake(page, (f) => f.calls.filter((c) => c.cmd === 'move_stage').map((c) => c.args));
  expect(moves).toEqual([
    { caseKey: expect.any(String), stage: 'impression_scan', action: { action: 'complete' }, baseVersion: 2 },
    { caseKey: expect.any(String), stage: 'design', action: { action: 'assign', value: 'carol' }, baseVersion: 0 },
    { caseKey: expect.any(String), stage: 'design', action: { action: 'start' }, baseVersion: 1 },
  ]);
  // The case's status follows its stages (version 4: intake, then received, processing, designing).
  await expect(page.getByTestId('case-status')).toHaveValue('designing');

  // Only the changed field is sent, with the version it was made on.
  await page.getByTestId('case-priority').fill('high');
  await page.getByTestId('case-save').click();
  await expect(page.getByText('Saved as version 5.')).toBeVisible();
  const edit = await fake(page, (f) => f.calls.filter((c) => c.cmd === 'edit_case').pop()?.args);
  expect(edit).toMatchObject({ baseVersion: 4, fields: { priority: 'high' }, meta: {} });
  expect(Object.keys((edit as { fields: object }).fields)).toEqual(['priority']);

  // An inline error from the core.
  await page.getByTestId('case-due').fill('next tuesday');
  await page.getByTestId('case-save').click();
  await expect(page.locator('[data-testid="field-error"][data-field="due_date"]')).toContainText('is not a date');

  // Someone else changed the case meanwhile: the save is refused, nothing lost silently.
  await page.getByTestId('case-due').fill('2026-12-24');
  await fake(page, (f) =>
    f.failNext('edit_case', {
      kind: 'stale',
      message: 'the case was changed since you opened it (you edited version 5, it is now at version 6); reload it and make your change again',
      fields: [],
    }),
  );
  await page.getByTestId('case-save').click();
  await expect(page.getByTestId('form-error')).toContainText('changed since you opened it');
  await expect(page.getByTestId('stale-notice')).toBeVisible();
});

test('completing a stage out of order asks first; a delivered case is no longer overdue', async ({ page }) => {
  await openApp(page, '#/case/FD1-000001');
  await page.getByTestId('stage-delivery').getByTestId('stage-complete').click();
  const dialog = page.getByRole('alertdialog', { name: 'Complete Delivery out of order?' });
  await expect(dialog.getByRole('listitem')).toHaveText([
    'Impression scan (In progress)',
    'Design (Pending)',
    'Milling (Pending)',
    'Sintering (Pending)',
    'Quality control (Pending)',
  ]);
  await shot(page, 'stage-out-of-order');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(page.getByTestId('stage-delivery')).toHaveAttribute('data-status', 'pending');

  await page.getByTestId('stage-delivery').getByTestId('stage-complete').click();
  await page.getByTestId('stage-out-of-order-confirm').click();
  await expect(page.getByTestId('stage-delivery')).toHaveAttribute('data-status', 'completed');
  await expect(page.getByTestId('case-status')).toHaveValue('delivered');
  const move = await fake(page, (f) => f.calls.filter((c) => c.cmd === 'move_stage').pop()?.args);
  expect(move).toMatchObject({ stage: 'delivery', action: { action: 'complete' }, force: true });

  await page.getByTestId('nav-cases').click();
  await expect(row(page, 'FD1-000001')).toContainText('Delivered');
  await expect(row(page, 'FD1-000001')).not.toHaveAttribute('data-overdue', 'true');
});

test('chat: send (sending until synced), reply, react, edit, delete', async ({ page }) => {
  await openApp(page, '#/case/FD1-000001');
  const messages = page.getByTestId('chat-message');
  await expect(messages).toHaveCount(2);

  await page.getByTestId('chat-input').fill('Design approved, go ahead with milling.');
  await page.getByTestId('chat-send').click();
  await expect(messages).toHaveCount(3);
  const mine = messages.last();
  await expect(mine).toContainText('Design approved');
  await expect(mine.getByTestId('chat-status')).toHaveAttribute('data-status', 'sending');
  await expect(page.getByTestId('chat-input')).toHaveValue('');

  // The outbox is the offline queue: offline, it stays "sending"; synced, it is "sent".
  await fake(page, (f) => f.setOnline(false));
  await page.getByTestId('sync-now').click();
  await expect(page.getByTestId('sync-status')).toHaveAttribute('data-state', 'offline');
  await expect(page.getByTestId('sync-error')).toContainText('cannot reach');
  await expect(mine.getByTestId('chat-status')).toHaveAttribute('data-status', 'sending');
  await fake(page, (f) => f.setOnline(true));
  await page.getByTestId('sync-now').click();
  await expect(mine.getByTestId('chat-status')).toHaveAttribute('data-status', 'sent');
  await expect(page.getByTestId('sync-pending')).toHaveText('All changes sent');

  // Reply to bob's message, with Enter.
  const bobs = messages.first();
  await bobs.hover();
  await bobs.getByTestId('chat-reply').click();
  await expect(page.getByTestId('chat-replying')).toContainText('bob');
  await page.getByTestId('chat-input').fill('Rescan is done, uploading now.');
  await page.getByTestId('chat-input').press('Enter');
  await expect(messages).toHaveCount(4);
  await expect(messages.last().locator('.quote')).toContainText('Margin on 36');

  // React, then take it back.
  await bobs.hover();
  await bobs.getByRole('button', { name: 'React 👍' }).click();
  await expect(bobs.getByTestId('chat-reactions')).toContainText('👍 1');

  // Edit and delete one's own message.
  const last = messages.last();
  await last.hover();
  await last.getByTestId('chat-edit').click();
  await page.getByTestId('chat-edit-input').fill('Rescan done; uploading the STL now.');
  await page.getByTestId('chat-edit-input').press('Enter');
  await expect(last).toContainText('uploading the STL now');
  await expect(last).toContainText('edited');
  await shot(page, 'chat');

  page.once('dialog', (d) => void d.accept());
  await last.hover();
  await last.getByTestId('chat-delete').click();
  await expect(last).toContainText('Message deleted');

  // The core refuses an empty text message; the UI says why.
  await page.getByTestId('chat-send').click();
  await expect(page.getByTestId('chat-error')).toContainText('needs some text');
});

test('history shows who changed what, before and after', async ({ page }) => {
  await openApp(page, '#/case/FD1-000002');
  await page.getByTestId('case-status').fill('milling');
  await page.getByTestId('case-save').click();
  await expect(page.getByText('Saved as version 3.')).toBeVisible();
  await page.getByTestId('tab-history').click();
  const entries = page.getByTestId('history-entry');
  await expect(entries.first()).toContainText('changed status');
  await expect(entries.first()).toContainText('ann');
  await expect(entries.first()).toContainText('FD1');
  const change = entries.first().locator('[data-testid="history-change"][data-field="status"]');
  await expect(change.locator('.before')).toHaveText('designing');
  await expect(change.locator('.after')).toHaveText('milling');
  await expect(page.getByTestId('history')).toContainText('changed priority');
  await expect(page.getByTestId('history')).toContainText('created');
  await expect(page.getByTestId('history')).not.toContainText('a'.repeat(40)); // the share key stays hidden
  await shot(page, 'history');
});

test('files: the same file twice is refused naming the one already there, and refused files are named not numbered', async ({ page }) => {
  await openApp(page, '#/case/FD1-000001');
  await page.getByTestId('tab-files').click();
  await fake(page, (f) => f.setDialogAnswer(['/scans/a.exe', '/scans/b.exe']));
  await page.getByTestId('choose-files').click();
  await expect(page.getByTestId('file-error')).toContainText('the files a.exe and b.exe were not attached');
  await expect(page.getByTestId('file-error')).not.toContainText('files[0]');

  await fake(page, (f) => f.setDialogAnswer(['/scans/upper.stl']));
  await page.getByTestId('choose-files').click();
  await expect(page.getByTestId('file-row')).toHaveCount(1);
  await fake(page, (f) => f.setDialogAnswer(['/scans/upper.stl']));
  await page.getByTestId('choose-files').click();
  await expect(page.getByTestId('file-error')).toContainText('upper.stl is already attached to case FD1-000001 as upper.stl');
  await expect(page.getByTestId('file-row')).toHaveCount(1);
});

test('files: choose, progress, the 15-file rule, image and STL previews', async ({ page }) => {
  await openApp(page, '#/case/FD1-000001');
  await page.getByTestId('tab-files').click();
  await expect(page.getByTestId('file-drop')).toContainText('Up to 15 files at a time, 200 MB each');

  await fake(page, (f) => f.setDialogAnswer(Array.from({ length: 16 }, (_, i) => `/scans/photo-${i}.png`)));
  await page.getByTestId('choose-files').click();
  await expect(page.getByTestId('file-error')).toContainText('at most 15');
  expect(await fake(page, (f) => f.calls.some((c) => c.cmd === 'attach_files'))).toBe(false);

  await fake(page, (f) => f.setDialogAnswer(['/scans/notes.exe']));
  await page.getByTestId('choose-files').click();
  await expect(page.getByTestId('file-error')).toContainText('not allowed');

  await fake(page, (f) => f.setDialogAnswer(['/scans/FD1-000001-upper.stl', '/scans/photo-front.png']));
  await page.getByTestId('choose-files').click();
  await expect(page.getByTestId('file-row')).toHaveCount(2);
  await expect(page.getByTestId('tab-files')).toHaveText('Files (2)');

  await page.getByRole('button', { name: 'Preview photo-front.png' }).click();
  await expect(page.getByTestId('image-preview')).toBeVisible();
  expect(await page.getByTestId('image-preview').evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);

  await page.getByRole('button', { name: 'Preview FD1-000001-upper.stl' }).click();
  const stl = page.getByTestId('stl-preview');
  await expect(stl).toBeVisible();
  await expect(stl).toHaveAttribute('data-state', 'ready', { timeout: 10_000 });
  await stl.scrollIntoViewIfNeeded();
  await page.waitForTimeout(300); // a few frames of the 3D view
  await shot(page, 'files');
});

test('files dropped on the window are attached, with progress bars', async ({ page }) => {
  await openApp(page, '#/case/FD1-000004', { latency: 150 });
  await page.getByTestId('tab-files').click();
  await expect(page.getByTestId('file-drop')).toBeVisible();
  await fake(page, (f) => f.emit('tauri://drag-enter', { paths: ['/scans/bite.png'], position: { x: 10, y: 10 } }));
  await expect(page.getByTestId('file-drop')).toHaveClass(/over/);
  await fake(page, (f) => f.emit('tauri://drag-drop', { paths: ['/scans/bite.png'], position: { x: 10, y: 10 } }));
  await expect(page.getByTestId('file-progress')).toBeVisible();
  await expect(page.getByTestId('file-row')).toHaveCount(1);
  await expect(page.getByTestId('file-progress')).toHaveCount(0);
});

test('conflict review: pick the proposed value, and the case no longer needs review', async ({ page }) => {
  await openApp(page, '#/case/FD1-000002');
  await expect(page.getByTestId('sync-review')).toHaveText('1 to review');
  await page.getByTestId('case-needs-review').click();
  const dispute = page.locator('[data-testid="dispute"][data-field="status"]');
  await expect(dispute).toContainText('designing');
  await expect(dispute).toContainText('dave on BN2');
  await expect(dispute).toContainText('milling');
  await dispute.getByTestId('pick-proposed').check();
  await shot(page, 'conflict');
  await page.getByTestId('resolve').click();
  await expect(page.getByTestId('case-review')).toContainText('Nothing to review');
  await expect(page.getByTestId('sync-review')).toHaveCount(0);
  const resolved = await fake(page, (f) => f.calls.filter((c) => c.cmd === 'resolve_conflict').pop()?.args);
  expect(resolved).toEqual({ recordId: expect.any(String), picks: { status: 'milling' } });
  await expect(page.locator('.case-header .badge.status')).toHaveText('Milling');
});

test('sync status bar: pending, refused changes with reasons; review and settings screens', async ({ page }) => {
  await openApp(page, '#/cases');
  const bar = page.getByTestId('sync-status');
  await expect(bar).toHaveAttribute('data-state', 'online');
  await expect(page.getByTestId('sync-pending')).toHaveText('1 change waiting');
  await page.getByTestId('sync-rejected').click();
  await expect(page.getByTestId('sync-rejected-list')).toContainText('only a lab manager may cancel a delivered case');
  await shot(page, 'sync-rejected');
  await page.getByRole('button', { name: 'Open Review' }).click();
  await expect(page.getByTestId('rejected-change')).toContainText('status = cancelled');
  await expect(page.getByTestId('conflict')).toHaveCount(1);
  await shot(page, 'review');

  await page.getByTestId('nav-settings').click();
  await expect(page.getByTestId('settings-workstation')).toHaveText('FD1');
  await page.getByTestId('settings-server').fill('hq.example');
  await page.getByTestId('settings-token').fill('nope');
  await page.getByTestId('settings-signin').click();
  await expect(page.getByTestId('settings-error')).toContainText('is not a server address');
  await page.getByTestId('settings-server').fill('https://hq.example:7400');
  await page.getByTestId('settings-token').fill('ldk_secret');
  await page.getByTestId('settings-signin').click();
  await expect(page.getByTestId('settings-signed-in')).toContainText('https://hq.example:7400/');
  await expect(page.getByTestId('settings-token')).toHaveValue('');
  await page.getByTestId('settings-scanner').fill('/home/ann/Scans');
  await page.getByTestId('settings-scanner-save').click();
  await expect(page.getByText('Watching /home/ann/Scans')).toBeVisible();
  await shot(page, 'settings');
  const signIn = await fake(page, (f) => f.calls.filter((c) => c.cmd === 'sign_in').pop()?.args);
  expect(signIn).toEqual({ serverUrl: 'https://hq.example:7400', token: 'ldk_secret' });
});

test('a scan filed from the scanner folder is announced, and opens its case', async ({ page }) => {
  await openApp(page, '#/cases');
  await fake(page, (f) =>
    f.emit('scanner://file', {
      path: '/home/ann/Scans/FD1-000004-lower.stl',
      outcome: { outcome: 'unknown_case', case_number: 'FD1-000099' },
      error: null,
    }),
  );
  await expect(page.getByTestId('toast')).toContainText('no case FD1-000099');
  await fake(page, (f) =>
    f.emit('scanner://file', {
      path: '/home/ann/Scans/FD1-000004-lower.stl',
      outcome: { outcome: 'attached', case_number: 'FD1-000004', file: {} },
      error: null,
    }),
  );
  const attached = page.getByTestId('toast').filter({ hasText: 'attached to FD1-000004' });
  await expect(attached).toBeVisible();
  await attached.getByRole('button', { name: 'Open' }).click();
  await expect(page.getByTestId('case-number')).toHaveText('FD1-000004');
});

test('case notes: add one, edit it on the version shown, a stale edit refused, and delete it', async ({ page }) => {
  await openApp(page, '#/case/FD1-000001');
  await expect(page.getByTestId('tab-notes')).toHaveText('Notes (1)');
  await page.getByTestId('tab-notes').click();
  const notes = page.getByTestId('note');
  await expect(notes).toHaveCount(1);
  await expect(notes.first().getByTestId('note-author')).toHaveText('bob');
  await expect(notes.first().getByTestId('note-body')).toContainText('lighter shade');

  // The core refuses an empty note; the UI says what it said.
  await page.getByTestId('note-add').click();
  await expect(page.getByTestId('note-add-error')).toContainText('body: is required');

  await page.getByTestId('note-input').fill('Dentist asks for a call before delivery.');
  await page.getByTestId('note-add').click();
  await expect(notes).toHaveCount(2);
  await expect(page.getByTestId('note-add-error')).toHaveCount(0);
  await expect(page.getByTestId('note-input')).toHaveValue('');
  await expect(page.getByTestId('tab-notes')).toHaveText('Notes (2)');
  const mine = notes.last();
  await expect(mine.getByTestId('note-author')).toHaveText('You');
  await expect(mine.getByTestId('note-time')).not.toBeEmpty();

  // Edit, sent with the version it was begun on.
  await mine.getByTestId('note-edit').click();
  await mine.getByTestId('note-edit-input').fill('Dentist asks for a call before delivery, after 2 pm.');
  await mine.getByTestId('note-edit-save').click();
  await expect(mine.getByTestId('note-body')).toHaveText('Dentist asks for a call before delivery, after 2 pm.');
  await expect(mine.getByTestId('note-edited')).toBeVisible();
  const edit = await fake(page, (f) => f.calls.filter((c) => c.cmd === 'edit_note').pop()?.args);
  expect(edit).toEqual({ id: expect.any(String), baseVersion: 1, body: 'Dentist asks for a call before delivery, after 2 pm.' });

  // Changed elsewhere meanwhile: refused, the text kept, the core's sentence shown.
  await mine.getByTestId('note-edit').click();
  await mine.getByTestId('note-edit-input').fill('Call after 3 pm.');
  await fake(page, (f) =>
    f.failNext('edit_note', {
      kind: 'stale',
      message: 'the case note was changed since you opened it (you edited version 2, it is now at version 3); reload it and make your change again',
      fields: [],
    }),
  );
  await mine.getByTestId('note-edit-save').click();
  await expect(mine.getByTestId('note-edit-error')).toContainText('changed since you opened it');
  await expect(mine.getByTestId('note-edit-input')).toHaveValue('Call after 3 pm.');
  await shot(page, 'notes');
  await mine.getByRole('button', { name: 'Cancel' }).click();

  page.once('dialog', (d) => void d.accept());
  await mine.getByTestId('note-delete').click();
  await expect(notes).toHaveCount(1);
  await expect(page.getByTestId('tab-notes')).toHaveText('Notes (1)');
  const deleted = await fake(page, (f) => f.calls.filter((c) => c.cmd === 'delete_note').pop()?.args);
  expect(deleted).toEqual({ id: expect.any(String), baseVersion: 2 });
});

test('stage notes: write a note on a stage, see it in the workflow, and change it', async ({ page }) => {
  await openApp(page, '#/case/FD1-000001');
  const design = page.getByTestId('stage-design');
  await expect(design.getByTestId('stage-note')).toHaveCount(0);
  await design.getByTestId('stage-note-edit').click();
  await design.getByTestId('stage-note-input').fill('Use the old bite registration.');
  await design.getByTestId('stage-note-save').click();
  await expect(design.getByTestId('stage-note')).toHaveText('Use the old bite registration.');
  await expect(design.getByTestId('stage-note-input')).toHaveCount(0);

  await design.getByTestId('stage-note-edit').click();
  await expect(design.getByTestId('stage-note-input')).toHaveValue('Use the old bite registration.');
  await design.getByTestId('stage-note-input').fill('Use the new bite registration from the rescan.');
  await shot(page, 'stage-note');
  await design.getByTestId('stage-note-input').press('Control+Enter');
  await expect(design.getByTestId('stage-note')).toHaveText('Use the new bite registration from the rescan.');

  const moves = await fake(page, (f) => f.calls.filter((c) => c.cmd === 'move_stage').map((c) => c.args));
  expect(moves).toEqual([
    { caseKey: expect.any(String), stage: 'design', action: { action: 'notes', value: 'Use the old bite registration.' }, baseVersion: 0 },
    {
      caseKey: expect.any(String),
      stage: 'design',
      action: { action: 'notes', value: 'Use the new bite registration from the rescan.' },
      baseVersion: 1,
    },
  ]);
  // The status did not move: a note is only a note.
  await expect(design).toHaveAttribute('data-status', 'pending');
  await shot(page, 'stage-note-saved');
});

test('chat attachments: a file from disk and one of the case’s are sent and shown with a thumbnail', async ({ page }) => {
  await openApp(page, '#/case/FD1-000001');
  const messages = page.getByTestId('chat-message');
  await expect(messages).toHaveCount(2);

  // A file from disk goes to the case's files first, then with the message.
  await page.getByTestId('chat-attach').click();
  await expect(page.getByTestId('chat-attach-picker')).toContainText('No files on this case yet.');
  await fake(page, (f) => f.setDialogAnswer(['/scans/photo-front.png']));
  await page.getByTestId('chat-attach-disk').click();
  await expect(page.getByTestId('chat-pending-attachment')).toHaveText(/photo-front\.png/);
  await expect(page.getByTestId('tab-files')).toHaveText('Files (1)');
  await page.getByTestId('chat-input').fill('Shade photo from the chair.');
  await expect(page.getByTestId('chat-type')).toHaveValue('mixed');
  await page.getByTestId('chat-send').click();
  await expect(messages).toHaveCount(3);
  await expect(page.getByTestId('chat-pending-attachment')).toHaveCount(0);
  const sent = messages.last();
  const attachment = sent.getByTestId('chat-attachment');
  await expect(attachment).toHaveText('photo-front.png');
  const thumb = attachment.getByTestId('thumbnail');
  await expect(thumb).toBeVisible();
  expect(await thumb.evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);

  const posted = await fake(page, (f) => f.calls.filter((c) => c.cmd === 'post_message').pop()?.args);
  const attachedFile = await fake(page, (f) => (f.calls.filter((c) => c.cmd === 'attach_files').pop()?.args.paths as string[]));
  expect(attachedFile).toEqual(['/scans/photo-front.png']);
  expect(posted).toMatchObject({
    message: { message_type: 'mixed', message_content: 'Shade photo from the chair.', attachments: [expect.any(String)] },
  });

  // Click to open, as in the Files tab; Escape closes the preview and stays on the case.
  await attachment.getByRole('button', { name: 'Open photo-front.png' }).click();
  const preview = page.getByTestId('chat-file-preview');
  await expect(preview.getByTestId('image-preview')).toBeVisible();
  await shot(page, 'chat-attachment-preview');
  await page.keyboard.press('Escape');
  await expect(preview).toHaveCount(0);
  await expect(page.getByTestId('case-screen')).toBeVisible();

  // A file the case already has, picked from the list: sent alone, as an image message.
  await page.getByTestId('chat-attach').click();
  await page.getByTestId('chat-attach-picker').getByLabel(/photo-front\.png/).check();
  await expect(page.getByTestId('chat-type')).toHaveValue('image');
  await page.getByTestId('chat-send').click();
  await expect(messages).toHaveCount(4);
  await expect(messages.last().getByTestId('chat-attachment')).toHaveText('photo-front.png');
  await expect(messages.last().locator('.badge')).toHaveText('Image');
  const second = await fake(page, (f) => f.calls.filter((c) => c.cmd === 'post_message').pop()?.args);
  expect(second).toMatchObject({ message: { message_type: 'image', message_content: '', attachments: [(posted as { message: { attachments: string[] } }).message.attachments[0]] } });
  await shot(page, 'chat-attachments');
});

test('chat ticks: sending, sent, read; a message the server refuses shows why, and Retry sends it again', async ({ page }) => {
  await openApp(page, '#/case/FD1-000001');
  const messages = page.getByTestId('chat-message');
  await expect(messages).toHaveCount(2);
  for (const text of ['Design approved, go ahead with milling.', 'Scan at http://scans.example/881', 'Milling tomorrow.']) {
    await page.getByTestId('chat-input').fill(text);
    await page.getByTestId('chat-send').click();
  }
  await expect(messages).toHaveCount(5);
  const status = (i: number) => messages.nth(i).getByTestId('chat-status');
  for (const i of [2, 3, 4]) await expect(status(i)).toHaveAttribute('data-status', 'sending');

  await page.getByTestId('sync-now').click();
  await expect(status(2)).toHaveAttribute('data-status', 'sent');
  await expect(status(4)).toHaveAttribute('data-status', 'sent');
  const refused = messages.nth(3);
  await expect(status(3)).toHaveAttribute('data-status', 'failed');
  await expect(refused.getByTestId('chat-failure')).toContainText('Not sent: this lab takes no links in chat');
  await fake(page, (f) => f.readElsewhere('Design approved, go ahead with milling.'));
  await expect(status(2)).toHaveAttribute('data-status', 'read');
  await expect(status(2)).toHaveText('✓✓');
  await shot(page, 'chat-ticks');

  await refused.getByTestId('chat-retry').click();
  await expect(messages).toHaveCount(5);
  await expect(page.getByTestId('chat-failure')).toHaveCount(0);
  const again = messages.last();
  await expect(again).toContainText('Scan at http://scans.example/881');
  await expect(again.getByTestId('chat-status')).toHaveAttribute('data-status', 'sending');
});
