// The signature debugger: every value is recomputed locally (WebAssembly) as the inputs change.
import * as ibkr from './pkg/browser.js';

const $ = (id) => document.getElementById(id);
const state = { reveal: false, liveLst: null, values: {}, nonce: ibkr.dhRandom().slice(0, 32) };
const FIELDS = ['consumer-key', 'access-token', 'realm', 'access-token-secret', 'signature-key', 'encryption-key', 'dh-params',
  'dh-random', 'dh-response', 'lst-signature', 'method', 'url', 'sign-query', 'nonce', 'timestamp'];

const read = (id) => ($(id).type === 'checkbox' ? $(id).checked : $(id).value.trim());
const mask = (s) => (state.reveal ? s : `${s.slice(0, 4)}${'•'.repeat(Math.min(24, Math.max(0, s.length - 4)))} (${s.length} chars, secret)`);

/** Shows `value` in element `id` (and remembers it for the comparison tool), or an error. */
function show(id, value, { secret = false, display } = {}) {
  const el = $(id);
  el.classList.remove('error');
  state.values[id] = value ?? null;
  el.textContent = value == null ? '—' : display ?? (secret ? mask(value) : value);
}
function showError(id, e) {
  state.values[id] = null;
  $(id).classList.add('error');
  $(id).textContent = e.code ? `${e.code}: ${e.message}` : String(e.message ?? e);
}
function attempt(id, fn, opts) {
  try {
    const v = fn();
    show(id, v, opts);
    return v;
  } catch (e) {
    showError(id, e);
    return null;
  }
}

function compute() {
  const f = Object.fromEntries(FIELDS.map((k) => [k, read(k)]));
  const common = {
    consumerKey: f['consumer-key'], accessToken: f['access-token'], ...(f.realm ? { realm: f.realm } : {}),
    nonce: f.nonce || state.nonce, timestamp: f.timestamp || Math.floor(Date.now() / 1000),
  };
  const have = (...keys) => keys.every((k) => f[k]);

  const prepend = have('encryption-key', 'access-token-secret')
    ? attempt('prepend', () => ibkr.decryptAccessTokenSecret(f['encryption-key'], f['access-token-secret']), { secret: true })
    : show('prepend', null);
  const prime = have('dh-params') ? attempt('challenge', () => ibkr.parseDhParams(f['dh-params']).prime) : show('challenge', null);
  const challenge = prime && f['dh-random'] ? attempt('challenge', () => ibkr.dhChallenge({ prime, random: f['dh-random'] })) : null;

  if (prepend && challenge && have('signature-key', 'consumer-key', 'access-token')) {
    try {
      const r = ibkr.liveSessionTokenRequest({ ...common, challenge, prepend, signatureKey: f['signature-key'], baseUrl: baseOf(f.url) });
      show('lst-base-string', r.baseString, { display: state.reveal ? r.baseString : `${mask(prepend)}${r.baseString.slice(prepend.length)}` });
      show('lst-authorization-header', r.authorization);
    } catch (e) {
      showError('lst-base-string', e);
      show('lst-authorization-header', null);
    }
  } else {
    show('lst-base-string', null);
    show('lst-authorization-header', null);
  }

  let lst = state.liveLst;
  const verdict = $('lst-valid');
  verdict.className = 'verdict';
  if (lst) {
    show('lst', lst, { secret: true });
    verdict.textContent = '✓ valid — checked against the simulator\'s live_session_token_signature during the live handshake';
    verdict.classList.add('good');
  } else if (prepend && prime && f['dh-random'] && f['dh-response']) {
    lst = attempt('lst', () => ibkr.liveSessionToken({ dhResponse: f['dh-response'], random: f['dh-random'], prime, prepend }), { secret: true });
    if (lst && f['lst-signature']) {
      const ok = ibkr.verifyLiveSessionToken({ token: lst, consumerKey: f['consumer-key'], signature: f['lst-signature'] });
      verdict.textContent = ok ? '✓ valid — HMAC-SHA1(LST, consumer key) matches live_session_token_signature'
        : '✗ does not match: a wrong key, a wrong secret, DH parameters that are not the uploaded ones, or another consumer key';
      verdict.classList.add(ok ? 'good' : 'bad');
    } else verdict.textContent = lst ? 'paste live_session_token_signature to check it' : '—';
  } else {
    show('lst', null);
    verdict.textContent = '—';
  }

  if (lst && have('url', 'consumer-key', 'access-token')) {
    try {
      const s = ibkr.signRequest({ ...common, method: f.method, url: f.url, liveSessionToken: lst, signQuery: f['sign-query'] });
      show('base-string', s.baseString);
      show('signature', s.signature);
      show('authorization-header', s.authorization);
      const q = (x) => `'${x.replace(/'/g, "'\\''")}'`;
      show('curl', `curl -X ${s.method} -H ${q(`Authorization: ${s.authorization}`)} -H 'User-Agent: ibkr-auth' ${q(s.url)}`);
    } catch (e) {
      showError('base-string', e);
      for (const id of ['signature', 'authorization-header', 'curl']) show(id, null);
    }
  } else {
    for (const id of ['base-string', 'signature', 'authorization-header', 'curl']) show(id, null);
  }
  compare();
}

function baseOf(url) {
  const m = /^(https?:\/\/[^/]+\/v1\/api)/.exec(url ?? '');
  return m ? m[1] : undefined;
}

/** The first difference between ours and theirs, highlighted. */
function compare() {
  const ours = state.values[read('diff-target')];
  const theirs = $('diff-input').value.replace(/\r?\n$/, '');
  const result = $('diff-result');
  const view = $('diff-view');
  view.replaceChildren();
  result.className = 'verdict';
  if (!theirs) { result.textContent = '—'; return; }
  if (!ours) { result.textContent = 'nothing to compare with yet: fill in the inputs above'; return; }
  if (ours === theirs) { result.textContent = '✓ identical'; result.classList.add('good'); return; }
  let i = 0;
  while (i < ours.length && i < theirs.length && ours[i] === theirs[i]) i++;
  const ch = (s) => (i < s.length ? JSON.stringify(s[i]) : 'the end');
  result.textContent = `✗ first difference at character ${i + 1}: ours has ${ch(ours)}, yours has ${ch(theirs)}`;
  result.classList.add('bad');
  for (const [label, s] of [['ours ', ours], ['yours', theirs]]) {
    const from = Math.max(0, i - 30);
    const line = document.createElement('div');
    const mark = document.createElement('mark');
    mark.textContent = s.slice(i, i + 1) || '∅';
    line.append(`${label}  ${from > 0 ? '…' : ''}${s.slice(from, i)}`, mark, `${s.slice(i + 1, i + 30)}${s.length > i + 30 ? '…' : ''}`);
    view.append(line);
  }
}

async function useDemo() {
  const demo = await (await fetch('demo.json')).json();
  for (const [id, v] of Object.entries(demo)) {
    if ($(id).type === 'checkbox') $(id).checked = Boolean(v); else $(id).value = v;
  }
  state.liveLst = null;
  compute();
}

function timeline(text, cls) {
  const li = document.createElement('li');
  li.textContent = text;
  if (cls) li.className = cls;
  $('timeline').append(li);
  return li;
}

async function liveHandshake() {
  const button = $('live');
  button.disabled = true;
  $('timeline').replaceChildren();
  $('live-result').textContent = '';
  try {
    const probe = await fetch(`${location.origin}/__sim/state`).then((r) => r.ok, () => false);
    if (!probe) {
      timeline('No simulator answers on this origin: run `make www` to serve the page together with it.', 'bad');
      return;
    }
    const f = Object.fromEntries(FIELDS.map((k) => [k, read(k)]));
    const recording = async (url, init = {}) => {
      const started = performance.now();
      const path = new URL(url).pathname;
      const li = timeline(`→ ${init.method ?? 'GET'} ${path}`);
      const r = await fetch(url, init);
      li.textContent = `${init.method ?? 'GET'} ${path} → ${r.status} (${(performance.now() - started).toFixed(0)} ms)`;
      li.className = r.ok ? 'good' : 'bad';
      return r;
    };
    const session = ibkr.IbkrSession.oauth1({
      consumerKey: f['consumer-key'], accessToken: f['access-token'], accessTokenSecret: f['access-token-secret'],
      signatureKey: f['signature-key'], encryptionKey: f['encryption-key'], dhParams: f['dh-params'],
      ...(f.realm ? { realm: f.realm } : {}), baseUrl: `${location.origin}/v1/api`, fetch: recording, pacing: false,
    });
    const t = await session.liveSessionToken();
    timeline(`✓ live session token computed and its signature verified; valid until ${new Date(t.expiresAt).toLocaleString()}`, 'good');
    state.liveLst = t.token;
    await session.initBrokerage();
    const accounts = await session.request('GET', '/iserver/accounts');
    timeline('✓ a signed call: GET /iserver/accounts', 'good');
    $('live-result').textContent = JSON.stringify(accounts, null, 2);
    $('url').value = `${location.origin}/v1/api/iserver/accounts`;
    $('nonce').value = '';
    $('timestamp').value = '';
    compute();
  } catch (e) {
    timeline(`✗ ${e.code ?? 'ERROR'}: ${e.message}`, 'bad');
  } finally {
    button.disabled = false;
  }
}

for (const id of FIELDS) $(id).addEventListener('input', () => {
  if (!['method', 'url', 'sign-query', 'nonce', 'timestamp'].includes(id)) state.liveLst = null;
  compute();
});
$('diff-input').addEventListener('input', compare);
$('diff-target').addEventListener('change', compare);
$('demo').addEventListener('click', useDemo);
$('new-random').addEventListener('click', () => { $('dh-random').value = ibkr.dhRandom(); compute(); });
$('reveal').addEventListener('click', () => {
  state.reveal = !state.reveal;
  $('reveal').setAttribute('aria-pressed', String(state.reveal));
  $('reveal').textContent = state.reveal ? 'Hide' : 'Reveal';
  compute();
});
$('copy-curl').addEventListener('click', () => state.values.curl && navigator.clipboard?.writeText(state.values.curl).catch(() => {}));
$('live').addEventListener('click', liveHandshake);

$('dh-random').value = ibkr.dhRandom();
$('url').value = 'https://api.ibkr.com/v1/api/iserver/accounts';
$('status').textContent = `Ready ${performance.now().toFixed(0)} ms after the page started loading (WebAssembly included). Paste your material, or use the demo keys.`;
compute();
