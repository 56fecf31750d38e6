import type { Page } from '@playwright/test';

import { type FakeControl, type FakeOptions, installFakeBackend } from '../src/testing/fakeBackend';

/** Opens the built UI with the fake backend in place of the Tauri shell. */
export async function openApp(page: Page, hash = '#/cases', options: FakeOptions = {}): Promise<void> {
  await page.addInitScript(installFakeBackend, options);
  await page.goto(`/${hash}`);
  await page.getByTestId('sync-status').waitFor();
}

/** Runs `fn` against the fake backend's controls inside the page. */
export async function fake<T>(page: Page, fn: (control: FakeControl) => T): Promise<T> {
  return page.evaluate(`(${fn.toString()})(window.__labdeskFake)`) as Promise<T>;
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `e2e/screenshots/${name}.png` });
}
