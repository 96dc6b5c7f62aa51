// certd's approval console. Talks to certd's own /services/v2 API with the
// key from sessionStorage in the X-DC-DEVKEY header: no cookies, so a page on
// another site cannot make the browser send a call with the key (CSRF-safe),
// and the key never appears in a URL. Data from the server is only ever put
// into the page with textContent, never parsed as HTML.

const API = '/services/v2';
const KEY_STORAGE = 'certd.apiKey';
const AUDIT_PAGE_SIZE = 25;
const ADMINISTRATOR_ROLE_ID = 1;

// Contract 4.3; privilegeWithdrawn is the CA's reason, offered to administrators only.
const REASONS = [
  ['unspecified', 'Unspecified'],
  ['keyCompromise', 'Key compromise'],
  ['affiliationChanged', 'Affiliation changed'],
  ['superseded', 'Superseded'],
  ['cessationOfOperation', 'Cessation of operation'],
];
const ADMIN_REASONS = [['privilegeWithdrawn', 'Privilege withdrawn']];

/** The reason's words, or certd's own name for a reason this page does not list. */
const reasonLabel = (reason) => [...REASONS, ...ADMIN_REASONS].find(([value]) => value === reason)?.[1] ?? reason;

const AUDIT_ACTIONS = [
  'user_created', 'order_created', 'certificate_issued', 'request_created',
  'request_approved', 'request_rejected', 'certificate_revoked', 'order_revoked',
  'order_canceled', 'reissue_canceled',
];

const REQUEST_TYPES = { new_request: 'New order', revoke: 'Revoke', reissue: 'Reissue' };

// Contract 9. A campaign blocks no keys, so it may not revoke for keyCompromise.
const CAMPAIGN_REASONS = [...REASONS, ...ADMIN_REASONS].filter(([value]) => value !== 'keyCompromise');
const CAMPAIGN_PAGE_SIZE = 50;
const CAMPAIGN_CERTIFICATES_PAGE_SIZE = 100;
const CAMPAIGN_POLL_MS = 1000;
/** Statuses in which the campaign has not run yet: holds and a cancel still apply. */
const CAMPAIGN_OPEN = ['pending', 'approved', 'scheduled'];
/** Statuses after the final approval and before the end: the progress bar polls. */
const CAMPAIGN_UNDER_WAY = ['approved', 'scheduled', 'running'];
const CAMPAIGN_CERTIFICATE_STATUSES = {
  selected: 'Selected', held: 'Held', revoked: 'Revoked', already_revoked: 'Already revoked', failed: 'Failed',
};

const $ = (id) => document.getElementById(id);

const state = {
  me: null,
  isAdmin: false,
  auditOffset: 0,
  lastQuery: '',
  revokeTarget: null,
  // Campaigns: the body the last preview answered for (Create sends exactly
  // it), the campaign shown in detail, and the timer that follows its progress.
  campaignPreview: null,
  campaign: null,
  campaignPoll: null,
};

// ---------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, messages) {
    super(messages.join(' '));
    this.status = status;
    this.messages = messages;
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json', 'X-DC-DEVKEY': sessionStorage.getItem(KEY_STORAGE) ?? '' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    });
  } catch {
    throw new ApiError(0, ['certd could not be reached. Check that it is running, then try again.']);
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const messages = (json?.errors ?? []).map((e) => e.message).filter(Boolean);
    throw new ApiError(response.status, messages.length ? messages : [`certd answered HTTP ${response.status}.`]);
  }
  return { status: response.status, json };
}

/** The JSON of a GET, or null when certd answers 404 (not found or not visible). */
async function getOrNull(path) {
  try {
    return (await api('GET', path)).json;
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

const query = (params) => new URLSearchParams(params).toString();

// ---------------------------------------------------------------------------
// DOM helpers

/** An element with attributes and children (strings become text nodes). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'onclick') node.addEventListener('click', value);
    else if (value !== false && value != null) node.setAttribute(name, value === true ? '' : value);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

function announce(message) {
  $('status').textContent = message;
}

function showErrors(messages) {
  $('alert-messages').replaceChildren(...messages.map((m) => el('li', {}, m)));
  $('alert').hidden = false;
}

function clearMessages() {
  $('alert').hidden = true;
  $('alert-messages').replaceChildren();
  announce('');
}

/** Runs an action, showing an API error in the alert instead of failing silently. */
async function guarded(action) {
  clearMessages();
  try {
    await action();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    showErrors(error.messages);
  }
}

/** A form value this page cannot send: shown like certd's own refusals. */
const formError = (message) => new ApiError(0, [message]);

const formatDate = (date) => (date ? date.replace('T', ' ').replace(/:\d\d\+00:00$/, '') : '—');
const person = (p) => (p ? `${p.first_name ?? ''} ${p.last_name ?? ''}`.trim() + ` <${p.email}>` : '—');

function statusBadge(status) {
  return el('span', { class: `badge status-${status ?? 'unknown'}` }, status ?? 'unknown');
}

// ---------------------------------------------------------------------------
// Session and navigation

const VIEWS = {
  signin: null, pending: loadPending, search: null, campaigns: loadCampaigns, audit: () => loadAudit(0),
};

async function showView(name, { focus = true } = {}) {
  if (name !== 'campaigns') stopCampaignPoll();
  for (const view of Object.keys(VIEWS)) $(`view-${view}`).hidden = view !== name;
  for (const button of document.querySelectorAll('#nav button')) {
    if (button.dataset.view === name) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
  if (focus) $(`${name}-title`).focus();
  if (VIEWS[name]) await guarded(VIEWS[name]);
}

async function signIn(key, { focus = true } = {}) {
  sessionStorage.setItem(KEY_STORAGE, key);
  try {
    state.me = (await api('GET', '/user/me')).json;
  } catch (error) {
    sessionStorage.removeItem(KEY_STORAGE);
    throw error;
  }
  state.isAdmin = (state.me.access_roles ?? []).some((r) => r.id === ADMINISTRATOR_ROLE_ID);
  $('account-name').textContent = `${state.me.first_name} ${state.me.last_name}`.trim() || state.me.email;
  $('account-role').textContent = state.isAdmin ? 'Administrator' : 'User';
  // Only administrators may read the audit log and run campaigns (certd answers 403 to others).
  for (const view of ['campaigns', 'audit']) {
    document.querySelector(`#nav [data-view="${view}"]`).parentElement.hidden = !state.isAdmin;
  }
  $('nav').hidden = false;
  $('account').hidden = false;
  fillReasons();
  $('revoke-skip-row').hidden = !state.isAdmin;
  fillCampaignReasons();
  await showView('pending', { focus });
}

function signOut() {
  sessionStorage.clear();
  state.me = null;
  state.isAdmin = false;
  $('nav').hidden = true;
  $('account').hidden = true;
  stopCampaignPoll();
  for (const list of ['pending-list', 'search-rows', 'audit-rows', 'campaigns-rows', 'campaign-facts',
    'campaign-certificates-rows', 'campaign-preview-rows']) {
    $(list).replaceChildren();
  }
  $('search-results').hidden = true;
  $('revoke-form').hidden = true;
  closeCampaignForm();
  closeCampaign();
  // Nothing of the last session stays on the page, typed or fetched.
  for (const form of document.forms) form.reset();
  showView('signin');
}

// ---------------------------------------------------------------------------
// Pending requests

async function loadPending() {
  const { json } = await api('GET', `/request?${query({ 'filters[status]': 'pending', sort: 'id' })}`);
  const requests = json.requests ?? [];
  $('pending-list').replaceChildren(...requests.map(pendingItem));
  $('pending-empty').hidden = requests.length > 0;
  announce(`${requests.length} pending ${requests.length === 1 ? 'request' : 'requests'}.`);
}

function pendingItem(request) {
  const certificate = request.order?.certificate ?? {};
  const titleId = `request-${request.id}-title`;
  const facts = el('dl', { class: 'facts' });
  const fact = (term, ...value) => facts.append(el('dt', {}, term), el('dd', {}, ...value));
  fact('Certificate', certificate.id ? `#${certificate.id} ` : '', el('strong', {}, certificate.common_name ?? '—'));
  fact('Serial number', el('code', {}, certificate.serial_number ?? '—'));
  fact('Order', request.order?.id ? `#${request.order.id}` : '—');
  fact('Requester', person(request.requester));
  fact('Requested', formatDate(request.date));
  if (request.type === 'revoke') fact('Reason', reasonLabel(request.revocation_reason ?? 'unspecified'));
  fact('Comments', request.comments ?? '—');

  const item = el('li', { class: 'card request', 'aria-labelledby': titleId, 'data-request-id': request.id });
  item.append(
    el('h2', { id: titleId }, `Request #${request.id}: ${REQUEST_TYPES[request.type] ?? request.type}`,
      ' ', statusBadge(request.status)),
    facts,
  );
  item.append(state.isAdmin
    ? decisionForm(request)
    : el('p', { class: 'help' }, 'An administrator approves or rejects this request.'));
  return item;
}

function decisionForm(request) {
  const commentId = `request-${request.id}-comment`;
  const comment = el('textarea', { id: commentId, rows: 2, maxlength: 1000 });
  const decide = (status) => (event) => {
    event.preventDefault();
    guarded(async () => {
      await api('PUT', `/request/${request.id}/status`, { status, processor_comment: comment.value || undefined });
      await loadPending();
      announce(`Request #${request.id} ${status}.`);
      $('pending-title').focus();
    });
  };
  return el('form', { class: 'decision' },
    el('label', { for: commentId }, 'Processor comment'),
    comment,
    el('div', { class: 'actions' },
      el('button', { type: 'button', class: 'approve', onclick: decide('approved') }, 'Approve'),
      el('button', { type: 'button', class: 'danger', onclick: decide('rejected') }, 'Reject'),
    ),
  );
}

// ---------------------------------------------------------------------------
// Search and revoke

/** Rows `{order, certificate}` matching what was typed (contract 3: ids, serials, names). */
async function findCertificates(text) {
  const value = text.trim();
  if (/^\d{1,18}$/.test(value)) {
    const [order, certificate] = await Promise.all([
      getOrNull(`/order/certificate/${value}`),
      getOrNull(`/certificate/${value}`),
    ]);
    const rows = order?.certificate?.id ? [{ order, certificate: order.certificate }] : [];
    if (certificate && certificate.id !== order?.certificate?.id) {
      rows.push({ order: await getOrNull(`/order/certificate/${certificate.order_id}`), certificate });
    }
    return rows;
  }
  const filter = /^[0-9a-f:]+$/i.test(value) ? 'serial_number' : 'common_name';
  const { json } = await api('GET', `/order/certificate?${query({ [`filters[${filter}]`]: value })}`);
  return (json.orders ?? []).filter((o) => o.certificate?.id).map((order) => ({ order, certificate: order.certificate }));
}

async function runSearch(text) {
  state.lastQuery = text;
  const rows = await findCertificates(text);
  $('search-rows').replaceChildren(...rows.map(searchRow));
  if (!rows.length) {
    $('search-rows').append(el('tr', {}, el('td', { colspan: 7, class: 'empty' }, 'Nothing found.')));
  }
  $('search-results').hidden = false;
  announce(`${rows.length} ${rows.length === 1 ? 'certificate' : 'certificates'} found for “${text}”.`);
}

function searchRow({ order, certificate }) {
  const revocable = certificate.status !== 'revoked';
  return el('tr', { 'data-certificate-id': certificate.id },
    el('td', {}, order ? `#${order.id}` : `#${certificate.order_id}`, ' ', order ? statusBadge(order.status) : null),
    el('td', {}, `#${certificate.id}`),
    el('td', {}, certificate.common_name),
    el('td', {}, el('code', {}, certificate.serial_number)),
    el('td', {}, statusBadge(certificate.status)),
    el('td', {}, certificate.valid_till ?? '—'),
    el('td', {}, revocable
      ? el('button', {
        type: 'button',
        class: 'danger small',
        'aria-label': `Revoke certificate #${certificate.id} (${certificate.common_name})`,
        onclick: () => openRevoke(certificate),
      }, 'Revoke…')
      : ''),
  );
}

function fillReasons() {
  const reasons = state.isAdmin ? [...REASONS, ...ADMIN_REASONS] : REASONS;
  $('revoke-reason').replaceChildren(...reasons.map(([value, label]) => el('option', { value }, label)));
}

function openRevoke(certificate) {
  state.revokeTarget = certificate;
  $('revoke-title').textContent = `Revoke certificate #${certificate.id}`;
  $('revoke-subject').textContent = `${certificate.common_name}, serial ${certificate.serial_number}`;
  $('revoke-reason').value = 'unspecified';
  $('revoke-comments').value = '';
  $('revoke-skip').checked = false;
  $('revoke-form').hidden = false;
  $('revoke-title').focus();
}

function closeRevoke() {
  $('revoke-form').hidden = true;
  state.revokeTarget = null;
}

async function submitRevoke() {
  const certificate = state.revokeTarget;
  const body = { revocation_reason: $('revoke-reason').value, comments: $('revoke-comments').value || undefined };
  if (state.isAdmin && $('revoke-skip').checked) body.skip_approval = true;
  const { status, json } = await api('PUT', `/certificate/${certificate.id}/revoke`, body);
  closeRevoke();
  await runSearch(state.lastQuery);
  announce(status === 204
    ? `Certificate #${certificate.id} revoked.`
    : `Revoke request #${json.id} created; it waits for an administrator's approval.`);
  $('search-results-title').focus();
}

// ---------------------------------------------------------------------------
// Revocation campaigns (administrators)

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
const campaignReasonLabel = (reason) => CAMPAIGN_REASONS.find(([value]) => value === reason)?.[1] ?? reasonLabel(reason);

async function loadCampaigns() {
  const { json } = await api('GET', `/campaign?${query({ limit: CAMPAIGN_PAGE_SIZE })}`);
  const campaigns = json.campaigns ?? [];
  $('campaigns-rows').replaceChildren(...campaigns.map(campaignRow));
  $('campaigns-empty').hidden = campaigns.length > 0;
  $('campaigns-table').hidden = campaigns.length === 0;
  const total = json.page?.total ?? campaigns.length;
  $('campaigns-caption').textContent = `${plural(total, 'campaign', 'campaigns')}, newest first`
    + (total > campaigns.length ? ` (the ${campaigns.length} newest shown)` : '');
  announce(`${plural(total, 'campaign', 'campaigns')}.`);
  // The campaign shown below the list is refreshed with it.
  const shown = state.campaign && campaigns.find((c) => c.id === state.campaign.id);
  if (shown) await showCampaign(shown, { focus: false, certificates: true });
}

const approvalsText = (campaign) => `${campaign.approvals?.length ?? 0}/${campaign.approvals_required}`;

function campaignRow(campaign) {
  return el('tr', { 'data-campaign-id': campaign.id },
    el('td', {}, `#${campaign.id} `, el('strong', {}, campaign.name)),
    el('td', {}, statusBadge(campaign.status)),
    el('td', {}, String(campaign.matched)),
    el('td', {}, String(campaign.revoked)),
    el('td', {}, String(campaign.held)),
    el('td', {}, String(campaign.already_revoked)),
    el('td', {}, String(campaign.failed)),
    el('td', {}, person(campaign.requester)),
    el('td', { class: 'nowrap' }, approvalsText(campaign)),
    el('td', {}, el('button', {
      type: 'button',
      class: 'secondary small',
      'aria-label': `Open campaign #${campaign.id} (${campaign.name})`,
      onclick: () => guarded(() => openCampaign(campaign.id)),
    }, 'Open')),
  );
}

/** Refreshes a listed campaign cell by cell, keeping its Open button (and the focus, if it is there). */
function updateCampaignRow(campaign) {
  const row = document.querySelector(`#campaigns-rows tr[data-campaign-id="${campaign.id}"]`);
  if (!row) return;
  const fresh = campaignRow(campaign);
  [...fresh.cells].slice(0, -1).forEach((cell, i) => row.cells[i].replaceChildren(...cell.childNodes));
}

async function openCampaign(id) {
  const campaign = (await api('GET', `/campaign/${id}`)).json;
  $('campaign-certificates-status').value = '';
  for (const field of ['campaign-decision-comment', 'campaign-hold-certificate', 'campaign-hold-comments']) {
    $(field).value = '';
  }
  await showCampaign(campaign, { focus: true, certificates: true });
  announce(`Campaign #${campaign.id}: ${campaign.status}.`);
}

function closeCampaign() {
  stopCampaignPoll();
  state.campaign = null;
  $('campaign-detail').hidden = true;
}

/** Shows `campaign` in the detail card; follows its progress while it is under way. */
async function showCampaign(campaign, { focus = false, certificates = false } = {}) {
  state.campaign = campaign;
  updateCampaignRow(campaign);
  $('campaign-detail').dataset.campaignId = campaign.id;
  $('campaign-detail-title').replaceChildren(`Campaign #${campaign.id}: ${campaign.name} `, statusBadge(campaign.status));
  $('campaign-facts').replaceChildren(...campaignFacts(campaign));
  showProgress(campaign);

  const mine = campaign.requester?.id === state.me?.id;
  const approvedByMe = (campaign.approvals ?? []).some((a) => a.user?.id === state.me?.id);
  const pending = campaign.status === 'pending';
  const open = CAMPAIGN_OPEN.includes(campaign.status) && !campaign.date_started;
  $('campaign-approve').hidden = !pending || mine || approvedByMe;
  $('campaign-reject').hidden = !pending;
  $('campaign-cancel').hidden = !open;
  $('campaign-decision').hidden = !open;
  const help = mine && pending
    ? 'You asked for this campaign: another administrator approves it.'
    : approvedByMe && pending ? 'You approved this campaign; it waits for another administrator.' : '';
  $('campaign-decision-help').textContent = help;
  $('campaign-decision-help').hidden = !help;
  $('campaign-hold').hidden = !open;
  $('campaign-detail').hidden = false;
  if (focus) $('campaign-detail-title').focus();
  if (certificates) await loadCampaignCertificates();

  if (CAMPAIGN_UNDER_WAY.includes(campaign.status)) startCampaignPoll(campaign.id);
  else stopCampaignPoll();
}

function campaignFacts(campaign) {
  const facts = [];
  const fact = (term, ...value) => facts.push(el('dt', {}, term), el('dd', {}, ...value));
  fact('Reason', campaignReasonLabel(campaign.reason));
  fact('Selector', el('code', {}, selectorText(campaign.selector)));
  if (campaign.comments) fact('Comments', campaign.comments);
  fact('Requester', person(campaign.requester));
  fact('Created', formatDate(campaign.date_created));
  fact('Approvals', approvalsText(campaign),
    ...(campaign.approvals ?? []).map((a) => el('span', { class: 'approval' }, `${person(a.user)}, ${formatDate(a.date)}`)));
  fact('Revoke at', campaign.revoke_at ? formatDate(campaign.revoke_at) : 'At the final approval');
  fact('Counts', `${campaign.matched} selected, ${campaign.revoked} revoked, ${campaign.held} held, `
    + `${campaign.already_revoked} already revoked, ${campaign.failed} failed`);
  if (campaign.date_started) fact('Started', formatDate(campaign.date_started));
  if (campaign.date_completed) fact('Completed', formatDate(campaign.date_completed));
  if (campaign.processor) fact(campaign.status === 'canceled' ? 'Canceled by' : 'Rejected by', person(campaign.processor));
  if (campaign.processor_comment) fact('Their comment', campaign.processor_comment);
  return facts;
}

function selectorText(selector) {
  return Object.entries(selector ?? {})
    .filter(([, value]) => value != null)
    .map(([name, value]) => `${name}: ${Array.isArray(value) ? value.join(', ') : value}`)
    .join('; ') || '—';
}

/**
 * The progress bar: certificates the campaign has dealt with (revoked, held,
 * failed) out of those selected; once completed, revoked + held + failed =
 * matched (certificates others revoke first leave the selection for
 * already_revoked).
 */
function showProgress(campaign) {
  const shown = [...CAMPAIGN_UNDER_WAY, 'completed'].includes(campaign.status);
  $('campaign-progress').hidden = !shown;
  if (!shown) return;
  const total = Math.max(campaign.matched, 0);
  const done = campaign.revoked + campaign.held + campaign.failed;
  const completed = campaign.status === 'completed';
  const bar = $('campaign-progress-bar');
  bar.max = Math.max(total, 1);
  bar.value = completed ? bar.max : Math.min(done, total);
  const counts = `${campaign.revoked} revoked, ${campaign.held} held, ${campaign.already_revoked} already revoked, `
    + `${campaign.failed} failed; ${plural(total, 'certificate', 'certificates')} selected.`;
  const stage = {
    approved: 'Approved, starting',
    scheduled: `Scheduled for ${formatDate(campaign.revoke_at)} UTC`,
    running: 'Running',
    completed: 'Completed',
  }[campaign.status];
  $('campaign-progress-text').textContent = `${stage}: ${counts}`;
  $('campaign-progress').dataset.status = campaign.status;
}

function startCampaignPoll(id) {
  if (state.campaignPoll?.id === id) return;
  stopCampaignPoll();
  const poll = { id, timer: null };
  const tick = async () => {
    let campaign;
    try {
      campaign = (await api('GET', `/campaign/${id}`)).json;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (state.campaignPoll !== poll) return; // signed out, or closed, meanwhile
      // Shown, and the following stops: Refresh starts it again.
      stopCampaignPoll();
      showErrors([`Following campaign #${id} stopped.`, ...error.messages]);
      return;
    }
    if (state.campaignPoll !== poll) return; // closed, or another campaign opened meanwhile
    state.campaignPoll = null;
    const wasUnderWay = CAMPAIGN_UNDER_WAY.includes(state.campaign?.status);
    await guardedQuietly(() => showCampaign(campaign, { certificates: campaign.status === 'completed' }));
    if (campaign.status === 'completed' && wasUnderWay) {
      announce(`Campaign #${id} completed: ${campaign.revoked} revoked, ${campaign.held} held, `
        + `${campaign.already_revoked} already revoked, ${campaign.failed} failed.`);
    }
  };
  poll.timer = setTimeout(tick, CAMPAIGN_POLL_MS);
  state.campaignPoll = poll;
}

function stopCampaignPoll() {
  if (state.campaignPoll) clearTimeout(state.campaignPoll.timer);
  state.campaignPoll = null;
}

/** Like guarded, but leaves the messages on the page alone until there is an error. */
async function guardedQuietly(action) {
  try {
    await action();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    showErrors(error.messages);
  }
}

async function loadCampaignCertificates() {
  const campaign = state.campaign;
  const status = $('campaign-certificates-status').value;
  const params = { limit: CAMPAIGN_CERTIFICATES_PAGE_SIZE };
  if (status) params['filters[status]'] = status;
  const { json } = await api('GET', `/campaign/${campaign.id}/certificate?${query(params)}`);
  if (state.campaign?.id !== campaign.id) return;
  const certificates = json.certificates ?? [];
  $('campaign-certificates-rows').replaceChildren(...certificates.map((c) => el('tr', { 'data-certificate-id': c.id },
    el('td', {}, `#${c.id}`),
    el('td', {}, c.common_name),
    el('td', {}, el('code', {}, c.serial_number)),
    el('td', { class: 'nowrap' }, formatDate(c.valid_till)),
    el('td', {}, statusBadge(c.status), c.hold_comments ? el('span', { class: 'hold-comments' }, c.hold_comments) : null),
  )));
  if (!certificates.length) {
    $('campaign-certificates-rows').append(el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'None.')));
  }
  const total = json.page?.total ?? certificates.length;
  const which = status ? `${CAMPAIGN_CERTIFICATE_STATUSES[status].toLowerCase()} ` : '';
  $('campaign-certificates-caption').textContent = `${plural(total, `${which}certificate`, `${which}certificates`)}`
    + (total > certificates.length ? ` (the first ${certificates.length} shown)` : '');
}

async function decideCampaign(status) {
  const campaign = state.campaign;
  const comment = $('campaign-decision-comment').value.trim();
  const { json } = await api('PUT', `/campaign/${campaign.id}/status`, { status, comment: comment || undefined });
  $('campaign-decision-comment').value = '';
  await showCampaign(json, { certificates: true });
  const still = json.status === 'pending' && status === 'approved'
    ? `; ${approvalsText(json)} approvals, it waits for another administrator` : '';
  announce(`Campaign #${campaign.id} ${status}${still}.`);
  $('campaign-detail-title').focus();
}

async function holdCertificate() {
  const campaign = state.campaign;
  const by = $('campaign-hold-by').value;
  const value = $('campaign-hold-certificate').value.trim();
  const body = { comments: $('campaign-hold-comments').value.trim() || undefined };
  if (by === 'certificate_id') {
    if (!/^\d{1,18}$/.test(value)) throw formError(`“${value}” is not a certificate id.`);
    body.certificate_id = Number(value);
  } else {
    body.serial = value;
  }
  const { json } = await api('POST', `/campaign/${campaign.id}/hold`, body);
  $('campaign-hold-certificate').value = '';
  $('campaign-hold-comments').value = '';
  await showCampaign(json, { certificates: true });
  announce(`Certificate ${value} held: campaign #${campaign.id} leaves it alone.`);
}

// New campaign: preview (a dry run) first, then create exactly what was previewed.

function fillCampaignReasons() {
  $('campaign-reason').replaceChildren(...CAMPAIGN_REASONS.map(([value, label]) => el('option', { value }, label)));
}

function openCampaignForm() {
  $('campaign-form').hidden = false;
  $('campaign-form-title').focus();
}

function closeCampaignForm() {
  $('campaign-form').reset();
  $('campaign-form').hidden = true;
  resetCampaignPreview();
}

/** Any change to the form makes the preview stale: preview again before creating. */
function resetCampaignPreview() {
  state.campaignPreview = null;
  $('campaign-create').disabled = true;
  $('campaign-preview').hidden = true;
  $('campaign-preview-rows').replaceChildren();
}

/** Ids typed with spaces, commas or new lines between them. */
function idList(field, what) {
  const tokens = $(field).value.split(/[\s,]+/).filter(Boolean);
  for (const token of tokens) {
    if (!/^\d{1,18}$/.test(token)) throw formError(`“${token}” is not ${what}.`);
  }
  return tokens.length ? tokens.map(Number) : undefined;
}

/** "YYYY-MM-DD HH:MM" (UTC) as certd writes dates; anything else is sent as typed, for certd to judge. */
function revokeAt(text) {
  const value = text.trim();
  if (!value) return undefined;
  const short = value.match(/^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d)(:\d\d)?$/);
  return short ? `${short[1]}T${short[2]}${short[3] ?? ':00'}+00:00` : value;
}

function campaignBody() {
  const text = (field) => $(field).value.trim() || undefined;
  const serials = $('campaign-serials').value.split(/[\s,]+/).filter(Boolean);
  const selector = {
    domain: text('campaign-domain'),
    user_email: text('campaign-user-email'),
    certificate_ids: idList('campaign-certificate-ids', 'a certificate id'),
    order_ids: idList('campaign-order-ids', 'an order id'),
    serials: serials.length ? serials : undefined,
    issued_after: text('campaign-issued-after'),
    issued_before: text('campaign-issued-before'),
    public_key_sha256: text('campaign-public-key'),
  };
  return {
    name: $('campaign-name').value.trim(),
    reason: $('campaign-reason').value,
    comments: text('campaign-comments'),
    selector,
    revoke_at: revokeAt($('campaign-revoke-at').value),
  };
}

async function previewCampaign() {
  resetCampaignPreview();
  const body = campaignBody();
  const { json } = await api('POST', '/campaign', { ...body, dry_run: true });
  const sample = json.sample ?? [];
  $('campaign-preview-summary').replaceChildren(
    el('strong', {}, `${plural(json.matched, 'certificate matches', 'certificates match')}`),
    ` and would be revoked; ${plural(json.already_revoked, 'matching certificate is', 'matching certificates are')} `
    + 'revoked already.',
  );
  $('campaign-preview-rows').replaceChildren(...sample.map((c) => el('tr', { 'data-certificate-id': c.id },
    el('td', {}, `#${c.id}`),
    el('td', {}, c.common_name),
    el('td', {}, el('code', {}, c.serial_number)),
    el('td', { class: 'nowrap' }, c.valid_till ?? '—'),
  )));
  $('campaign-preview-caption').textContent = sample.length < json.matched
    ? `The first ${sample.length} of ${json.matched}` : `All ${plural(json.matched, 'certificate', 'certificates')}`;
  $('campaign-preview').hidden = false;
  state.campaignPreview = body;
  $('campaign-create').disabled = json.matched === 0;
  announce(`Preview: ${plural(json.matched, 'certificate matches', 'certificates match')}, `
    + `${json.already_revoked} already revoked. Nothing recorded yet.`);
  $('campaign-preview-title').focus();
}

async function createCampaign() {
  const body = state.campaignPreview;
  if (!body) throw formError('Preview the campaign first.');
  const { json } = await api('POST', '/campaign', body);
  closeCampaignForm();
  await loadCampaigns();
  await showCampaign(json, { focus: true, certificates: true });
  announce(`Campaign #${json.id} created: ${plural(json.matched, 'certificate', 'certificates')} selected; `
    + `it waits for ${plural(json.approvals_required, 'approval', 'approvals')} by other administrators.`);
}

// ---------------------------------------------------------------------------
// Audit log

function detailsText(details) {
  if (!details || typeof details !== 'object') return '';
  return Object.entries(details)
    .filter(([, value]) => value != null)
    .map(([name, value]) => `${name}: ${typeof value === 'object' ? JSON.stringify(value) : value}`)
    .join(', ');
}

async function loadAudit(offset) {
  const params = { offset, limit: AUDIT_PAGE_SIZE };
  if ($('audit-action').value) params['filters[action]'] = $('audit-action').value;
  const { json } = await api('GET', `/audit-log?${query(params)}`);
  const entries = json.entries ?? [];
  state.auditOffset = offset;
  $('audit-rows').replaceChildren(...entries.map((entry) => el('tr', {},
    el('td', { class: 'nowrap' }, formatDate(entry.date)),
    el('td', {}, entry.actor?.email ?? 'certd'),
    el('td', {}, el('span', { class: 'action' }, entry.action)),
    el('td', { class: 'nowrap' }, entry.object ? `${entry.object.type} #${entry.object.id}` : '—'),
    el('td', { class: 'details' }, detailsText(entry.details)),
  )));
  const total = json.page?.total ?? entries.length;
  const range = entries.length ? `${offset + 1}–${offset + entries.length} of ${total}` : `0 of ${total}`;
  $('audit-caption').textContent = `Entries ${range}, newest first`;
  $('audit-newer').disabled = offset === 0;
  $('audit-older').disabled = offset + entries.length >= total;
  announce(`Audit log: entries ${range}.`);
}

// ---------------------------------------------------------------------------
// Wiring

function onSubmit(id, action) {
  $(id).addEventListener('submit', (event) => {
    event.preventDefault();
    guarded(action);
  });
}

function start() {
  $('audit-action').append(...AUDIT_ACTIONS.map((a) => el('option', { value: a }, a)));
  onSubmit('signin-form', () => signIn($('api-key').value.trim()));
  onSubmit('search-form', () => runSearch($('search-query').value));
  onSubmit('revoke-form', submitRevoke);
  onSubmit('audit-form', () => loadAudit(0));
  $('revoke-cancel').addEventListener('click', closeRevoke);
  $('sign-out').addEventListener('click', signOut);
  $('pending-refresh').addEventListener('click', () => guarded(loadPending));
  $('audit-refresh').addEventListener('click', () => guarded(() => loadAudit(state.auditOffset)));
  onSubmit('campaign-form', previewCampaign);
  onSubmit('campaign-hold', holdCertificate);
  onSubmit('campaign-certificates-form', loadCampaignCertificates);
  $('campaign-form').addEventListener('input', resetCampaignPreview);
  $('campaign-form').addEventListener('change', resetCampaignPreview);
  $('campaign-create').addEventListener('click', () => guarded(createCampaign));
  $('campaign-new').addEventListener('click', openCampaignForm);
  $('campaign-form-close').addEventListener('click', closeCampaignForm);
  $('campaigns-refresh').addEventListener('click', () => guarded(loadCampaigns));
  $('campaign-approve').addEventListener('click', () => guarded(() => decideCampaign('approved')));
  $('campaign-reject').addEventListener('click', () => guarded(() => decideCampaign('rejected')));
  $('campaign-cancel').addEventListener('click', () => guarded(() => decideCampaign('canceled')));
  $('audit-newer').addEventListener('click', () => guarded(() => loadAudit(Math.max(0, state.auditOffset - AUDIT_PAGE_SIZE))));
  $('audit-older').addEventListener('click', () => guarded(() => loadAudit(state.auditOffset + AUDIT_PAGE_SIZE)));
  for (const button of document.querySelectorAll('#nav button')) {
    button.addEventListener('click', () => {
      clearMessages();
      showView(button.dataset.view);
    });
  }
  const key = sessionStorage.getItem(KEY_STORAGE);
  // A reload of a signed-in tab starts at the top of the page, like any page load.
  if (key) guarded(() => signIn(key, { focus: false }));
  else showView('signin', { focus: false });
}

start();
