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

const $ = (id) => document.getElementById(id);

const state = { me: null, isAdmin: false, auditOffset: 0, lastQuery: '', revokeTarget: null };

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

const formatDate = (date) => (date ? date.replace('T', ' ').replace(/:\d\d\+00:00$/, '') : '—');
const person = (p) => (p ? `${p.first_name ?? ''} ${p.last_name ?? ''}`.trim() + ` <${p.email}>` : '—');

function statusBadge(status) {
  return el('span', { class: `badge status-${status ?? 'unknown'}` }, status ?? 'unknown');
}

// ---------------------------------------------------------------------------
// Session and navigation

const VIEWS = { signin: null, pending: loadPending, search: null, audit: () => loadAudit(0) };

async function showView(name, { focus = true } = {}) {
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
  // Only administrators may read the audit log (certd answers 403 to others).
  document.querySelector('#nav [data-view="audit"]').parentElement.hidden = !state.isAdmin;
  $('nav').hidden = false;
  $('account').hidden = false;
  fillReasons();
  $('revoke-skip-row').hidden = !state.isAdmin;
  await showView('pending', { focus });
}

function signOut() {
  sessionStorage.clear();
  state.me = null;
  state.isAdmin = false;
  $('nav').hidden = true;
  $('account').hidden = true;
  for (const list of ['pending-list', 'search-rows', 'audit-rows']) $(list).replaceChildren();
  $('search-results').hidden = true;
  $('revoke-form').hidden = true;
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
