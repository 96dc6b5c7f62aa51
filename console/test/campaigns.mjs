// Drives the console's Campaigns page in headless Chromium: administrator A
// previews a revocation campaign (a dry run), creates it, holds one of its
// certificates, creates and cancels a second one and creates a third;
// administrator B rejects the third and approves the first; administrator C
// gives the second approval it needs, and the page follows its progress to
// the end. Run by tests/api/console.rs against a server started with
// `--campaign-approvals 2`; the test then checks the outcome through the API.
//
// Input (environment, so that keys never show in a process list):
//   CERTD_URL                    base URL of a running certd
//   CERTD_ADMIN_KEY              administrator A's key (asks for the campaigns)
//   CERTD_SECOND_ADMIN_KEY       administrator B's key
//   CERTD_THIRD_ADMIN_KEY        administrator C's key
//   CERTD_CAMPAIGN_DOMAIN        the domain the first campaign selects
//   CERTD_CAMPAIGN_COMMON_NAMES  its issued certificates' common names, comma-separated
//   CERTD_ALREADY_REVOKED        how many certificates of the domain are revoked already
//   CERTD_HOLD_COMMON_NAME       the one of them to hold (by its serial number)
//   CERTD_OUTSIDE_CERTIFICATE    id of an issued certificate outside the domain
//   CERTD_CONSOLE_SCREENSHOTS    optional: folder for the screenshots (e.g. docs/console)
//   CHROMIUM                     optional: the browser (default /usr/bin/chromium)

import assert from 'node:assert/strict';
import { env, expectStatus, inBrowser, shoot, signInAs, signOut } from './session.mjs';

const base = env('CERTD_URL');
const adminKey = env('CERTD_ADMIN_KEY');
const secondKey = env('CERTD_SECOND_ADMIN_KEY');
const thirdKey = env('CERTD_THIRD_ADMIN_KEY');
const domain = env('CERTD_CAMPAIGN_DOMAIN');
const selectedNames = env('CERTD_CAMPAIGN_COMMON_NAMES').split(',');
const alreadyRevoked = Number(env('CERTD_ALREADY_REVOKED'));
const holdName = env('CERTD_HOLD_COMMON_NAME');
const outsideId = env('CERTD_OUTSIDE_CERTIFICATE');

const RETIRE = 'Retire the example.org estate';
const MISTAKEN = 'Mistaken selection';
const UNWANTED = 'Not agreed';
const HOLD_COMMENTS = 'Still serving the VPN until the migration on Friday.';
const CANCEL_COMMENT = 'Wrong certificate; asked again.';
const REJECT_COMMENT = 'Not agreed with the owner.';
const APPROVE_COMMENT = 'Checked the list with the owner.';
const REVOKE_AT = '2099-01-01 00:00';

/** certd's own answer to a call, to compare with what the page shows. */
async function call(method, path, body) {
  const response = await fetch(`${base}/services/v2${path}`, {
    method,
    headers: { 'X-DC-DEVKEY': adminKey, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

const campaignForm = (page) => page.locator('#campaign-form');
const detail = (page) => page.locator('#campaign-detail');

async function openCampaigns(page) {
  await page.getByRole('button', { name: 'Campaigns', exact: true }).click();
  await page.getByRole('heading', { name: 'Revocation campaigns', level: 1 }).waitFor();
  await expectStatus(page, /^\d+ campaigns?\.$/);
}

/** Fills the new-campaign form; `fields` maps a field's label to what is typed. */
async function fillCampaign(page, { name, reason, comments, fields }) {
  await page.getByRole('button', { name: 'New campaign…' }).click();
  const form = campaignForm(page);
  await form.getByLabel('Name', { exact: true }).fill(name);
  await form.getByLabel('Reason', { exact: true }).selectOption(reason);
  if (comments) await form.getByLabel('Comments', { exact: true }).fill(comments);
  for (const [label, value] of Object.entries(fields)) await form.getByLabel(label, { exact: true }).fill(value);
}

async function preview(page) {
  await campaignForm(page).getByRole('button', { name: 'Preview', exact: true }).click();
}

/** Creates what the form previewed; returns the new campaign's id. */
async function create(page) {
  const createButton = campaignForm(page).getByRole('button', { name: 'Create campaign' });
  assert.equal(await createButton.isEnabled(), true, 'Create is offered after a preview');
  await createButton.click();
  await expectStatus(page, /^Campaign #\d+ created/);
  const id = (await page.locator('#status').textContent()).match(/#(\d+)/)[1];
  assert.equal(await campaignForm(page).isVisible(), false, 'the form closes');
  await detail(page).getByRole('heading', { name: `Campaign #${id}:` }).waitFor();
  return id;
}

async function openCampaign(page, id) {
  await page.getByRole('button', { name: `Open campaign #${id} (` }).click();
  await expectStatus(page, `Campaign #${id}: `);
}

const row = (page, id) => page.locator(`#campaigns-rows tr[data-campaign-id="${id}"]`);
const cells = async (page, id) => row(page, id).locator('td').allTextContents();

/** Administrator A: a preview, a refused preview, a campaign with a hold, one canceled, one left for B. */
async function requesterCreates(page) {
  await openCampaigns(page);
  assert.equal(await page.locator('#campaigns-empty').isVisible(), true, 'no campaign yet');

  await fillCampaign(page, {
    name: RETIRE, reason: 'cessationOfOperation', comments: 'The example.org sites close this week.', fields: {},
  });
  // No condition at all: certd refuses, and the page shows certd's own words.
  await preview(page);
  const refused = await call('POST', '/campaign', { name: RETIRE, reason: 'cessationOfOperation', selector: {}, dry_run: true });
  assert.equal(refused.status, 400, JSON.stringify(refused.json));
  await page.locator('#alert').filter({ hasText: refused.json.errors[0].message }).waitFor();
  assert.equal(await campaignForm(page).getByRole('button', { name: 'Create campaign' }).isEnabled(), false);

  await campaignForm(page).getByLabel('Domain', { exact: true }).fill(domain);
  await preview(page);
  const matched = selectedNames.length;
  await expectStatus(page, `Preview: ${matched} certificates match, ${alreadyRevoked} already revoked.`);
  assert.equal(await page.locator('#alert').isVisible(), false, 'the error is gone');
  const summary = await page.locator('#campaign-preview-summary').textContent();
  assert.match(summary, new RegExp(`^${matched} certificates match and would be revoked; ${alreadyRevoked} matching certificate`));
  const sample = await page.locator('#campaign-preview-rows tr').evaluateAll((rows) => rows.map((r) => ({
    name: r.cells[1].textContent, serial: r.cells[2].textContent,
  })));
  assert.deepEqual(sample.map((c) => c.name).sort(), [...selectedNames].sort(), 'the sample names the certificates');
  for (const { serial } of sample) assert.match(serial, /^[0-9A-F]{16,}$/i, 'with their serial numbers');
  const holdSerial = sample.find((c) => c.name === holdName).serial;
  await shoot(page, '7-campaign-preview');

  // A change after the preview asks for a new one before Create.
  await campaignForm(page).getByLabel('Comments', { exact: true }).fill('The example.org sites close on Friday.');
  assert.equal(await campaignForm(page).getByRole('button', { name: 'Create campaign' }).isEnabled(), false);
  assert.equal(await page.locator('#campaign-preview').isVisible(), false, 'a stale preview is gone');
  await preview(page);
  await expectStatus(page, `Preview: ${matched} certificates match`);
  const retire = await create(page);
  await expectStatus(page, `Campaign #${retire} created: ${matched} certificates selected; it waits for 2 approvals`);
  const me = (await call('GET', '/user/me')).json;
  assert.deepEqual((await cells(page, retire)).slice(0, 9), [
    `#${retire} ${RETIRE}`, 'pending', String(matched), '0', '0', String(alreadyRevoked), '0',
    `${me.first_name} ${me.last_name} <${me.email}>`, '0/2',
  ]);
  // The requester is not offered Approve (certd would refuse: two-person rule).
  assert.equal(await detail(page).getByRole('button', { name: 'Approve' }).count(), 0);
  assert.match(await page.locator('#campaign-decision-help').textContent(), /another administrator approves it/);

  // Holds: one outside the campaign is refused with certd's message; one by serial number is held.
  const hold = page.locator('#campaign-hold');
  await hold.getByLabel('Hold by').selectOption('certificate_id');
  await hold.getByLabel('Certificate', { exact: true }).fill(outsideId);
  await hold.getByLabel('Comments', { exact: true }).fill('Not in it.');
  await hold.getByRole('button', { name: 'Hold', exact: true }).click();
  await page.locator('#alert').filter({ hasText: `Certificate ${outsideId} is not among campaign ${retire}'s certificates.` }).waitFor();
  await hold.getByLabel('Hold by').selectOption('serial');
  await hold.getByLabel('Certificate', { exact: true }).fill(holdSerial);
  await hold.getByLabel('Comments', { exact: true }).fill(HOLD_COMMENTS);
  await hold.getByRole('button', { name: 'Hold', exact: true }).click();
  await expectStatus(page, `Certificate ${holdSerial} held`);
  assert.equal((await cells(page, retire))[4], '1', 'the list counts the hold');
  await page.locator('#campaign-certificates-status').selectOption('held');
  await page.locator('#campaign-certificates-form').getByRole('button', { name: 'Show' }).click();
  await page.locator('#campaign-certificates-caption').filter({ hasText: '1 held certificate' }).waitFor();
  const held = await page.locator('#campaign-certificates-rows').textContent();
  assert.ok(held.includes(holdName) && held.includes(HOLD_COMMENTS), held);

  // A second campaign, scheduled, canceled by its requester.
  await fillCampaign(page, {
    name: MISTAKEN, reason: 'superseded', fields: { 'Certificate ids': outsideId, 'Revoke at (UTC, optional)': REVOKE_AT },
  });
  await preview(page);
  await expectStatus(page, 'Preview: 1 certificate matches, 0 already revoked.');
  const mistaken = await create(page);
  assert.match(await page.locator('#campaign-facts').textContent(), new RegExp(`Revoke at${REVOKE_AT}`));
  await detail(page).getByLabel('Comment', { exact: true }).fill(CANCEL_COMMENT);
  await detail(page).getByRole('button', { name: 'Cancel campaign' }).click();
  await expectStatus(page, `Campaign #${mistaken} canceled.`);
  assert.equal((await cells(page, mistaken))[1], 'canceled');
  const facts = await page.locator('#campaign-facts').textContent();
  assert.ok(facts.includes('Canceled by') && facts.includes(CANCEL_COMMENT), facts);
  assert.equal(await detail(page).getByRole('button', { name: 'Cancel campaign' }).isVisible(), false);

  // A third, for another administrator to reject.
  await fillCampaign(page, { name: UNWANTED, reason: 'unspecified', fields: { 'Certificate ids': outsideId } });
  await preview(page);
  await expectStatus(page, 'Preview: 1 certificate matches');
  const unwanted = await create(page);
  return { retire, mistaken, unwanted };
}

/** Administrator B: rejects one campaign and gives the first of two approvals to another. */
async function secondAdminDecides(page, { retire, mistaken, unwanted }) {
  await openCampaigns(page);
  await expectStatus(page, '3 campaigns.');
  const ids = await page.locator('#campaigns-rows tr').evaluateAll((rows) => rows.map((r) => r.dataset.campaignId));
  assert.deepEqual(ids, [unwanted, mistaken, retire], 'newest first');

  await openCampaign(page, unwanted);
  await detail(page).getByLabel('Comment', { exact: true }).fill(REJECT_COMMENT);
  await detail(page).getByRole('button', { name: 'Reject' }).click();
  await expectStatus(page, `Campaign #${unwanted} rejected.`);
  assert.equal((await cells(page, unwanted))[1], 'rejected');

  await openCampaign(page, retire);
  assert.equal(await page.locator('#campaign-progress').isVisible(), false, 'no progress before approval');
  await detail(page).getByLabel('Comment', { exact: true }).fill(APPROVE_COMMENT);
  await detail(page).getByRole('button', { name: 'Approve' }).click();
  await expectStatus(page, `Campaign #${retire} approved; 1/2 approvals, it waits for another administrator.`);
  const [, status, , , , , , , approvals] = await cells(page, retire);
  assert.deepEqual([status, approvals], ['pending', '1/2']);
  assert.equal(await detail(page).getByRole('button', { name: 'Approve' }).count(), 0, 'one approval each');
}

/** Administrator C: the final approval; the page follows the campaign to its end. */
async function thirdAdminApproves(page, urls, { retire }) {
  await openCampaigns(page);
  await openCampaign(page, retire);
  const polled = () => urls.filter((url) => url === `${base}/services/v2/campaign/${retire}`).length;
  const before = polled();
  await detail(page).getByRole('button', { name: 'Approve' }).click();
  await expectStatus(page, `Campaign #${retire} approved.`);
  const progress = page.locator('#campaign-progress');
  await progress.waitFor();
  assert.ok(['approved', 'running', 'completed'].includes(await progress.getAttribute('data-status')));

  const matched = selectedNames.length;
  const revoked = matched - 1;
  await expectStatus(page, `Campaign #${retire} completed: ${revoked} revoked, 1 held, ${alreadyRevoked} already revoked, 0 failed.`);
  assert.ok(polled() > before, 'the page polled the campaign');
  assert.equal(await progress.getAttribute('data-status'), 'completed');
  const bar = await page.getByRole('progressbar', { name: 'Progress' }).evaluate((b) => [b.value, b.max]);
  assert.deepEqual(bar, [matched, matched], 'the bar is full');
  assert.equal(await page.locator('#campaign-progress-text').textContent(),
    `Completed: ${revoked} revoked, 1 held, ${alreadyRevoked} already revoked, 0 failed; ${matched} certificates selected.`);
  const shown = await cells(page, retire);
  assert.deepEqual([...shown.slice(1, 7), shown[8]], [
    'completed', String(matched), String(revoked), '1', String(alreadyRevoked), '0', '2/2',
  ]);
  // Nothing left to decide or hold.
  assert.equal(await page.locator('#campaign-decision').isVisible(), false);
  assert.equal(await page.locator('#campaign-hold').isVisible(), false);

  await page.locator('#campaign-certificates-status').selectOption('revoked');
  await page.locator('#campaign-certificates-form').getByRole('button', { name: 'Show' }).click();
  await page.locator('#campaign-certificates-caption').filter({ hasText: `${revoked} revoked certificates` }).waitFor();
  const listed = await page.locator('#campaign-certificates-rows tr td:nth-child(2)').allTextContents();
  assert.deepEqual(listed.sort(), selectedNames.filter((n) => n !== holdName).sort());
  await shoot(page, '6-campaigns');

  // No more polling once it completed.
  const after = polled();
  await page.waitForTimeout(2500);
  assert.equal(polled(), after, 'polling stops at completion');
}

const keys = [adminKey, secondKey, thirdKey];
// Expected refusals: the empty selector (400) and the hold outside the campaign.
const urls = await inBrowser({ base, keys, expectedStatuses: [400, 409] }, async (page, seen) => {
  await page.goto(`${base}/console/`);
  await signInAs(page, adminKey);
  const ids = await requesterCreates(page);
  await signOut(page);
  await signInAs(page, secondKey);
  await secondAdminDecides(page, ids);
  await signOut(page);
  await signInAs(page, thirdKey);
  await thirdAdminApproves(page, seen, ids);
  await signOut(page);
});
const screenshots = process.env.CERTD_CONSOLE_SCREENSHOTS;
console.log(`console campaigns drive passed: ${urls.length} requests${screenshots ? `, screenshots in ${screenshots}` : ''}`);
