// Drives certd's web console in headless Chromium as an administrator would:
// sign in, review the pending requests, approve one and reject another,
// search and revoke with skip approval, read the audit log, use the keyboard,
// sign out. Run by the Rust test tests/api/console.rs against a real server.
//
// Input (environment, so that keys never show in a process list):
//   CERTD_URL                 base URL of a running certd
//   CERTD_ADMIN_KEY           an administrator's API key
//   CERTD_APPROVE_REQUEST     id of a pending revoke request to approve
//   CERTD_REJECT_REQUEST      id of a pending revoke request to reject
//   CERTD_REVOKE_COMMON_NAME  common name of an issued certificate to revoke at once
//   CERTD_USER_KEY            a plain user's key; that user asks to revoke
//   CERTD_USER_COMMON_NAME    this certificate of theirs
//   CERTD_CONSOLE_SCREENSHOTS optional: folder for the screenshots (e.g. docs/console)
//   CHROMIUM                  optional: the browser (default /usr/bin/chromium)

import assert from 'node:assert/strict';
import { env, expectStatus, inBrowser, shoot, signInAs, signOut } from './session.mjs';

const base = env('CERTD_URL');
const adminKey = env('CERTD_ADMIN_KEY');
const approveId = env('CERTD_APPROVE_REQUEST');
const rejectId = env('CERTD_REJECT_REQUEST');
const revokeName = env('CERTD_REVOKE_COMMON_NAME');
const userKey = env('CERTD_USER_KEY');
const userName = env('CERTD_USER_COMMON_NAME');

const APPROVE_COMMENT = 'Confirmed with the owner by phone.';
const REJECT_COMMENT = 'The key is still in use; rotate it first.';
const REVOKE_COMMENT = 'Service shut down.';
const REASON_LABELS = { keyCompromise: 'Key compromise', superseded: 'Superseded' };

/** certd's own view of a request, to compare with what the page shows. */
async function requestDetails(id) {
  const response = await fetch(`${base}/services/v2/request/${id}`, { headers: { 'X-DC-DEVKEY': adminKey } });
  assert.equal(response.status, 200, `GET /request/${id}`);
  return response.json();
}

async function signIn(page) {
  await page.goto(`${base}/console`);
  assert.equal(new URL(page.url()).pathname, '/console/', '/console redirects to /console/');
  await page.getByLabel('API key').fill('NOT-A-KEY');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#alert').filter({ hasText: /key/i }).waitFor();
  await shoot(page, '1-sign-in-refused');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused key is not kept');

  await signInAs(page, adminKey);
  assert.equal(await page.locator('#alert').isVisible(), false, 'the error is gone after signing in');
  assert.equal(await page.locator('#account-role').textContent(), 'Administrator');
}

async function reviewPending(page) {
  for (const id of [approveId, rejectId]) {
    const request = await requestDetails(id);
    const card = page.locator(`[data-request-id="${id}"]`);
    await card.waitFor();
    const text = await card.textContent();
    const certificate = request.order.certificate;
    for (const expected of [certificate.common_name, certificate.serial_number, request.requester.email,
      request.comments]) {
      assert.ok(text.includes(expected), `request ${id} shows ${expected}: ${text}`);
    }
    const reason = REASON_LABELS[request.revocation_reason];
    assert.ok(text.includes(`Reason${reason}`), `request ${id} shows its reason ${reason}: ${text}`);
  }
  await page.locator(`[data-request-id="${approveId}"]`).getByLabel('Processor comment').fill(APPROVE_COMMENT);
  await shoot(page, '2-pending-requests');

  await decide(page, approveId, 'Approve', 'approved');
  const reject = page.locator(`[data-request-id="${rejectId}"]`);
  await reject.getByLabel('Processor comment').fill(REJECT_COMMENT);
  await decide(page, rejectId, 'Reject', 'rejected');

  const approved = await requestDetails(approveId);
  assert.equal(approved.status, 'approved');
  assert.equal(approved.processor_comment, APPROVE_COMMENT);
  const rejected = await requestDetails(rejectId);
  assert.equal(rejected.status, 'rejected');
  assert.equal(rejected.processor_comment, REJECT_COMMENT);
}

async function decide(page, id, button, outcome) {
  await page.locator(`[data-request-id="${id}"]`).getByRole('button', { name: button }).click();
  await expectStatus(page, `Request #${id} ${outcome}.`);
  assert.equal(await page.locator(`[data-request-id="${id}"]`).count(), 0, `request ${id} left the list`);
}

/** Searches for `name` and opens the revoke form of its one certificate. */
async function openRevokeForm(page, name) {
  await page.getByRole('button', { name: 'Search & revoke' }).click();
  await page.getByLabel('Order id, certificate id, serial number or common name').fill(name);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await expectStatus(page, '1 certificate found');
  const row = page.locator('#search-rows tr').filter({ hasText: name });
  await row.getByRole('button', { name: /^Revoke certificate/ }).click();
  return row;
}

async function searchAndRevoke(page) {
  const row = await openRevokeForm(page, revokeName);

  const form = page.locator('#revoke-form');
  await form.getByLabel('Reason').selectOption('cessationOfOperation');
  await form.getByLabel('Comments').fill(REVOKE_COMMENT);
  await form.getByLabel(/Skip approval/).check();
  await shoot(page, '3-revoke');
  await form.getByRole('button', { name: 'Revoke', exact: true }).click();
  await expectStatus(page, /Certificate #\d+ revoked\./);
  assert.match(await row.textContent(), /revoked/);
  await shoot(page, '4-search-revoked');

  // Looking it up by id finds the same certificate, now with nothing left to revoke.
  const id = await row.getAttribute('data-certificate-id');
  await page.getByLabel('Order id, certificate id, serial number or common name').fill(id);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await expectStatus(page, '1 certificate found');
  assert.equal(await page.locator('#search-rows button').count(), 0, 'a revoked certificate offers no revoke button');
}

async function auditLog(page) {
  await page.getByRole('button', { name: 'Audit log' }).click();
  await expectStatus(page, 'Audit log: entries 1–');
  const actions = await page.locator('#audit-rows .action').allTextContents();
  for (const action of ['certificate_revoked', 'request_rejected', 'request_approved']) {
    assert.ok(actions.includes(action), `audit log shows ${action}: ${actions}`);
  }
  await page.getByLabel('Action').selectOption('request_rejected');
  await page.getByRole('button', { name: 'Show' }).click();
  await expectStatus(page, 'Audit log: entries 1–1 of 1');
  await page.getByLabel('Action').selectOption('');
  await page.getByRole('button', { name: 'Show' }).click();
  await expectStatus(page, 'Audit log: entries 1–');
  await shoot(page, '5-audit-log');
}

/** The page stays signed in on reload (same tab), and works from the keyboard alone. */
async function keyboard(page) {
  await page.reload();
  await page.getByRole('heading', { name: 'Pending requests', level: 1 }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  for (let presses = 0; presses < 10; presses += 1) {
    await page.keyboard.press('Tab');
    if ((await page.evaluate(() => document.activeElement.textContent)) === 'Audit log') break;
  }
  const focused = await page.evaluate(() => {
    const style = getComputedStyle(document.activeElement);
    return { text: document.activeElement.textContent, outline: style.outlineStyle };
  });
  assert.deepEqual(focused, { text: 'Audit log', outline: 'solid' }, 'Tab reaches the nav with a visible focus ring');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'audit-title', 'focus moves to the new view');
}

/** A plain user sees no approval controls, no audit log and no skip approval, and asks to revoke. */
async function userAsksToRevoke(page) {
  await signInAs(page, userKey);
  assert.equal(await page.locator('#account-role').textContent(), 'User');
  assert.equal(await page.getByRole('button', { name: 'Approve' }).count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Audit log' }).isVisible(), false);
  assert.equal(await page.getByRole('button', { name: 'Campaigns' }).isVisible(), false);
  await openRevokeForm(page, userName);
  const form = page.locator('#revoke-form');
  assert.equal(await form.getByLabel(/Skip approval/).isVisible(), false);
  const reasons = await form.getByLabel('Reason').locator('option').evaluateAll((o) => o.map((x) => x.value));
  assert.ok(!reasons.includes('privilegeWithdrawn'), `reasons offered to a user: ${reasons}`);
  await form.getByLabel('Reason').selectOption('affiliationChanged');
  await form.getByRole('button', { name: 'Revoke', exact: true }).click();
  await expectStatus(page, /Revoke request #\d+ created; it waits for an administrator's approval\./);
  await page.getByRole('button', { name: 'Pending requests' }).click();
  await expectStatus(page, '1 pending request.');
  assert.match(await page.locator('#pending-list').textContent(), /An administrator approves or rejects this request\./);
}

// The deliberately wrong key leaves one expected 403 in Chromium's console.
const urls = await inBrowser({ base, keys: [adminKey, userKey], expectedStatuses: [403] }, async (page) => {
  await signIn(page);
  await reviewPending(page);
  await searchAndRevoke(page);
  await auditLog(page);
  await keyboard(page);
  await signOut(page);
  await userAsksToRevoke(page);
  await signOut(page);
});
const screenshots = process.env.CERTD_CONSOLE_SCREENSHOTS;
console.log(`console drive passed: ${urls.length} requests${screenshots ? `, screenshots in ${screenshots}` : ''}`);
