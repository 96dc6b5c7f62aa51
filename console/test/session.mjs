// What the console's browser drivers share: their environment, signing in
// and out, screenshots, and the checks every session ends with (no key in a
// URL, nothing loaded from elsewhere, no script error or CSP violation).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** A required environment variable (keys come this way, never on a command line). */
export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const screenshots = process.env.CERTD_CONSOLE_SCREENSHOTS;

export async function shoot(page, name) {
  if (!screenshots) return;
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

export async function expectStatus(page, text) {
  await page.locator('#status').filter({ hasText: text }).waitFor();
}

export async function signInAs(page, key) {
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Pending requests', level: 1 }).waitFor();
}

export async function signOut(page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API key').waitFor();
  const stored = await page.evaluate(() => ({ session: sessionStorage.length, local: localStorage.length, cookie: document.cookie }));
  assert.deepEqual(stored, { session: 0, local: 0, cookie: '' }, 'signing out forgets the key');
}

/**
 * Runs `drive(page, urls)` in a fresh headless Chromium against `base`, then
 * checks that no URL carried one of `keys`, that nothing came from
 * elsewhere, and that the browser logged no error other than the failed
 * calls whose HTTP status is in `expectedStatuses` (Chromium logs each one).
 */
export async function inBrowser({ base, keys, expectedStatuses = [] }, drive) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // Root in a container has no user namespaces for Chromium's sandbox.
    args: ['--no-sandbox'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    // Generous: CI runs this beside the whole suite on two cores.
    page.setDefaultTimeout(30_000);
    const problems = [];
    const urls = [];
    page.on('request', (request) => urls.push(request.url()));
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    page.on('pageerror', (error) => problems.push(error.message));

    await drive(page, urls);

    const leaked = urls.filter((url) => keys.some((key) => url.toUpperCase().includes(key.toUpperCase())));
    assert.deepEqual(leaked, [], 'no URL carries the key');
    const foreign = urls.filter((url) => !url.startsWith(base) && !url.startsWith('data:'));
    assert.deepEqual(foreign, [], 'the console loads nothing from elsewhere');
    const unexpected = problems.filter((p) => !expectedStatuses.some((status) => p.includes(`status of ${status}`)));
    assert.deepEqual(unexpected, [], 'no script errors or CSP violations');
    return urls;
  } finally {
    await browser.close();
  }
}
