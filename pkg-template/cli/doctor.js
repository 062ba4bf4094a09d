// `ibkr-auth doctor`: a checklist, each line ✓ or ✗ with the fix. It recognises the mistakes
// users report: swapped keys, a public key where the private one belongs, Windows line endings,
// a mangled access token secret, the wrong realm, a skewed clock, loose file permissions, …
import fs from 'node:fs';
import { decryptAccessTokenSecret, parseDhParams, signRsaSha256 } from '../node.mjs';
import { KEYS, missingKeys, readPem } from './config.js';
import { out } from './output.js';

const PRIVATE = new Set(['signature_key_file', 'encryption_key_file', 'private_key_file']);
const LABEL = {
  signature_key_file: 'private signature key',
  encryption_key_file: 'private encryption key',
  dh_params_file: 'DH parameters',
  private_key_file: 'OAuth 2.0 private key',
  gateway_certificate_file: 'gateway certificate',
};

export async function runDoctor(cfg, { live, json, makeSession, baseUrl }) {
  const results = [];
  const pass = (label, detail = '') => results.push({ ok: true, label, detail });
  const fail = (label, fix) => results.push({ ok: false, label, fix });
  const v = cfg.values;

  pass('configuration', `${cfg.mode}${cfg.file ? ` from ${cfg.file}` : ''}; ${Object.keys(v).length} settings`);
  const missing = missingKeys(cfg);
  for (const m of missing) fail(`${m.key} is missing`, m.fix);

  // Files: present, private, LF, the right kind of PEM.
  const pems = {};
  for (const key of Object.keys(KEYS).filter((k) => KEYS[k].pem && v[k] !== undefined)) {
    let pem;
    try {
      pem = readPem(cfg, key);
    } catch (e) {
      fail(`${key}`, e.message);
      continue;
    }
    pems[key] = pem.text;
    if (pem.path && PRIVATE.has(key)) {
      const mode = fs.statSync(pem.path).mode & 0o777;
      if (mode & 0o077) fail(`${key}: ${pem.path} is readable by others (mode ${mode.toString(8)})`, `chmod 600 ${pem.path}`);
      else pass(`${key}: permissions`, `mode ${mode.toString(8)}`);
    }
    if (pem.text.includes('\r\n')) {
      fail(`${key}: Windows (CRLF) line endings`, `IBKR's portal rejects uploads with CRLF line endings; convert with \`dos2unix ${pem.path ?? key}\` (ibkr-auth itself reads either)`);
    }
    try {
      if (key === 'dh_params_file') {
        const dh = parseDhParams(pem.text);
        pass(`${key}: ${LABEL[key]}`, `${dh.prime.length * 4}-bit prime, g = ${dh.generator}`);
      } else if (key === 'gateway_certificate_file') {
        pass(`${key}: ${LABEL[key]}`);
      } else {
        const bits = Buffer.from(signRsaSha256(pem.text, 'x'), 'base64').length * 8;
        pass(`${key}: ${LABEL[key]}`, `RSA, ${bits} bits`);
      }
    } catch (e) {
      fail(`${key}: not a usable ${LABEL[key]} (${e.code})`, e.message);
    }
  }

  if (cfg.mode === 'oauth1') {
    // The access token secret must decrypt with the encryption key; if it decrypts with the
    // signature key instead, the two files are swapped.
    if (v.access_token_secret && pems.encryption_key_file) {
      try {
        const prepend = decryptAccessTokenSecret(pems.encryption_key_file, v.access_token_secret);
        pass('access_token_secret decrypts with the encryption key', `${prepend.length / 2} bytes`);
      } catch (e) {
        let swapped = false;
        try { swapped = Boolean(pems.signature_key_file && decryptAccessTokenSecret(pems.signature_key_file, v.access_token_secret)); } catch { /* not swapped */ }
        if (swapped) fail('signature_key_file and encryption_key_file are swapped', 'the secret decrypts with the signature key: exchange the two settings');
        else if (e.code === 'INVALID_ACCESS_TOKEN_SECRET') fail('access_token_secret is damaged', `${e.message} (a copy-paste that lost or added characters is the usual cause)`);
        else fail(`access_token_secret does not decrypt (${e.code})`, e.message);
      }
    }
    if (v.consumer_key !== undefined) {
      if (v.consumer_key === 'TESTCONS' || /^[A-Z]{9}$/.test(v.consumer_key)) pass('consumer_key looks right', v.consumer_key);
      else fail(`consumer_key "${v.consumer_key}" does not look like one`, 'IBKR consumer keys are 9 capital letters (TESTCONS is the test key); copy it again from the portal');
      const realm = v.realm ?? (v.consumer_key === 'TESTCONS' ? 'test_realm' : 'limited_poa');
      if (v.consumer_key === 'TESTCONS' && realm !== 'test_realm') fail(`realm "${realm}" with TESTCONS`, 'TESTCONS uses realm test_realm: set realm: test_realm (or remove realm)');
      else if (v.consumer_key !== 'TESTCONS' && realm === 'test_realm') fail('realm test_realm with a real consumer key', 'test_realm goes only with TESTCONS: set realm: limited_poa (or remove realm)');
      else pass('realm fits the consumer key', realm);
    }
    if (v.access_token !== undefined && !/^[0-9a-f]{20}$/i.test(v.access_token)) {
      fail('access_token does not look like one', 'IBKR access tokens are 20 hex characters; copy it again from the portal');
    }
  }
  if (cfg.mode === 'oauth2' && v.ip !== undefined && !/^[\d.]+$|:/.test(v.ip)) fail(`ip "${v.ip}" is not an IP address`, 'set ip to this machine\'s public IP, or remove it to look it up');

  // The host and its clock.
  const base = baseUrl(cfg) ?? 'https://api.ibkr.com/v1/api';
  if (cfg.mode !== 'gateway') {
    try {
      const t0 = Date.now();
      const r = await fetch(base, { method: 'GET', signal: AbortSignal.timeout(10_000) });
      const ms = Date.now() - t0;
      pass(`${new URL(base).host} is reachable`, `HTTP ${r.status} in ${ms} ms`);
      const date = r.headers.get('date');
      if (date) {
        const skew = (Date.parse(date) - (t0 + ms / 2)) / 1000;
        if (Math.abs(skew) > 30) fail(`this machine's clock is ${Math.abs(skew).toFixed(0)} s ${skew > 0 ? 'behind' : 'ahead of'} the server's`, 'synchronise it (NTP: `timedatectl set-ntp true`, or your OS\'s time settings): IBKR rejects stale timestamps');
        else pass('clock agrees with the server', `${skew.toFixed(1)} s`);
      }
    } catch (e) {
      fail(`${new URL(base).host} is not reachable`, `${e.cause?.code ?? e.message}: check the network, a proxy, or base_url/domain`);
    }
  }

  if (live && results.every((r) => r.ok)) {
    try {
      const s = makeSession(cfg);
      if (cfg.mode === 'oauth1') {
        const t = await s.liveSessionToken();
        pass('live handshake', `a live session token valid until ${new Date(t.expiresAt).toISOString()}`);
      } else {
        const st = await s.status();
        pass(cfg.mode === 'oauth2' ? 'live OAuth 2.0 connect' : 'gateway session', `authenticated: ${st.authenticated}`);
      }
    } catch (e) {
      fail(`live check failed (${e.code})`, e.message);
    }
  } else if (live) {
    fail('live check skipped', 'fix the problems above first');
  }

  const problems = results.filter((r) => !r.ok).length;
  if (json) out.json({ ok: problems === 0, problems, checks: results });
  else {
    for (const r of results) out.line(r.ok ? `${out.green('✓')} ${r.label}${r.detail ? out.dim(` — ${r.detail}`) : ''}` : `${out.red('✗')} ${r.label}\n    ${out.yellow('fix:')} ${r.fix}`);
    out.line(problems ? `\n${out.red(`${problems} problem${problems > 1 ? 's' : ''}`)}` : `\n${out.green('no problems found')}`);
  }
  return problems === 0;
}
