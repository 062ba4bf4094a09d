// The CLI's configuration readers under hostile input (pkg/cli/config.js): thousands of seeded
// mutations of a valid ibkr-auth.yaml, of .env files and of environment values. Each must give a
// configuration or a ConfigError — never another exception — and no message may carry a secret
// value. The seed is fixed (set IBKR_CONFIG_SEED to try others; a failure prints its seed and
// input), so a run is reproducible.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, loadConfig, parseYaml } from '../../pkg/cli/config.js';

const SEED = Number(process.env.IBKR_CONFIG_SEED ?? 20261205);
const CASES = Number(process.env.IBKR_CONFIG_CASES ?? 3000);

/** mulberry32: a small seeded generator, so every run sees the same inputs. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Secret values: long and distinctive, so any echo of them is found.
const SECRETS = {
  access_token_secret: 'SeCrEtAtS0123456789abcdefXYZ',
  gateway_password: 'PaSsWoRd-9876543210-qwerty',
  gateway_totp_secret: 'TOTPSECRETJBSWY3DPEHPK3PXP',
  store: 'redis://:RedisPassw0rdLeak@127.0.0.1:6379',
};
const BASE = `# ibkr-auth.yaml
x-defaults: &defaults
  realm: limited_poa
consumer_key: TESTCONS
access_token: a1b2c3d4e5f6a7b8c9d0
access_token_secret: "${SECRETS.access_token_secret}"
signature_key_file: ./keys/sig.pem
encryption_key_file: ./keys/enc.pem
dh_params_file: ./keys/dhparam.pem
<<: *defaults
is_live: false
gateway:
  url: https://localhost:5000
  username: trader
  password: '${SECRETS.gateway_password}'
  totp_secret: ${SECRETS.gateway_totp_secret}
  insecure: yes
store: ${SECRETS.store}
`;

const PIECES = [':', ': ', '-', '- ', '"', "'", '|', '>', '&a ', '*a', '*defaults', '<<: ', '{', '}', '[', ']', ',', '#', '\t', '\n', '\n  ', '  ', '!', '!!str ', '!!binary ', '%YAML 1.2\n', '---\n', '...\n', '?', '@', '`', '\\', '\u0000', '\u00e9', '\ud83d', '\u2028', '\r', 'true', 'null', '~', '0x1f', '.inf', 'x-', 'gateway_', 'password: '];

function mutate(text, r) {
  const n = 1 + Math.floor(r() * 4);
  let t = text;
  for (let i = 0; i < n; i += 1) {
    const at = Math.floor(r() * (t.length + 1));
    const k = r();
    if (k < 0.5) t = t.slice(0, at) + PIECES[Math.floor(r() * PIECES.length)] + t.slice(at);
    else if (k < 0.75) t = t.slice(0, at) + t.slice(at + 1 + Math.floor(r() * 12));
    else if (k < 0.9) {
      const lines = t.split('\n');
      const j = Math.floor(r() * lines.length);
      lines.splice(Math.floor(r() * lines.length), 0, lines[j]);
      t = lines.join('\n');
    } else t = t.slice(0, at); // cut short
  }
  return t;
}

/** The secret part of each value (the store URL's is its password). */
const SECRET_CORES = [SECRETS.access_token_secret, SECRETS.gateway_password, SECRETS.gateway_totp_secret, 'RedisPassw0rdLeak'];

/** Distinctive pieces of each secret — its first, middle and last 8 characters — so a message
 *  that carries part of one (cut, or split by a mutation) is found too. */
const FRAGMENTS = SECRET_CORES.flatMap((s) => {
  const mid = Math.floor((s.length - 8) / 2);
  return [s.slice(0, 8), s.slice(mid, mid + 8), s.slice(-8)];
});
// (The fixture's own sanity: each fragment is 8 characters and no plain word, or a message
// would match it by chance.)
for (const f of FRAGMENTS) if (f.length !== 8 || /^[a-z_]+$/.test(f)) throw new Error(`fragment ${f} is not distinctive`);


/** Where a key ends on a line: YAML's `: ` (or a colon ending the line), a .env file's `=`. */
const KEY_END = { yaml: /:(?=[ \t]|$)/, env: /=/ };

/** A message must not contain a secret, whole or in part — unless the mutation moved that text
 *  into a key's place, before the line's key separator (a key name is named in messages, and it
 *  is then not a value of that key any more). */
function checkMessage(msg, input, kind = 'yaml') {
  const keys = input.split(/\r?\n|\r/).filter((line) => KEY_END[kind].test(line)).map((line) => line.split(KEY_END[kind])[0]);
  for (const s of [...Object.values(SECRETS), ...FRAGMENTS]) {
    if (!msg.includes(s)) continue;
    assert.ok(keys.some((k) => k.includes(s)), `a secret (${s}) leaks into: ${msg}`);
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-config-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the base file reads as it should (the mutations start from a valid file)', () => {
  const y = parseYaml(BASE, 'ibkr-auth.yaml');
  assert.equal(y.access_token_secret.value, SECRETS.access_token_secret);
  assert.equal(y.gateway_password.value, SECRETS.gateway_password);
  assert.equal(y.realm.value, 'limited_poa');
  assert.equal(y.gateway_insecure.value, 'yes'); // YAML 1.2: a string, read as true later
});

test(`${CASES} mutated ibkr-auth.yaml files: a configuration or a ConfigError, no secret in it`, () => {
  const r = rng(SEED);
  const outcomes = { ok: 0, error: 0 };
  for (let i = 0; i < CASES; i += 1) {
    const input = mutate(BASE, r);
    const file = path.join(tmp, `c${i % 8}.yaml`);
    fs.writeFileSync(file, input);
    try {
      const cfg = loadConfig({ configFile: file, env: {}, cwd: tmp });
      for (const v of Object.values(cfg.values)) assert.ok(['string', 'boolean'].includes(typeof v), `a value of type ${typeof v}`);
      outcomes.ok += 1;
    } catch (e) {
      if (!(e instanceof ConfigError)) assert.fail(`seed ${SEED} case ${i}: ${e?.stack ?? e}\ninput:\n${JSON.stringify(input)}`);
      assert.ok(e.message.length > 10);
      checkMessage(e.message, input);
      outcomes.error += 1;
    }
  }
  // Both sides were reached: the mutations are neither all harmless nor all fatal.
  assert.ok(outcomes.ok > CASES / 20 && outcomes.error > CASES / 20, JSON.stringify(outcomes));
});

test(`${CASES} hostile .env files and environment values: a configuration or a ConfigError`, () => {
  const r = rng(SEED + 1);
  const envBase = `IB_CONSUMER_KEY=TESTCONS\nexport IB_ACCESS_TOKEN_SECRET="${SECRETS.access_token_secret}"\nIB_PASSWORD='${SECRETS.gateway_password}'\nIB_IS_LIVE=false\nIB_STORE=${SECRETS.store}\n`;
  const values = ['', ' ', 'true', 'TRUE', 'yes', 'nope', '2', '\u0000', '\ud83d', 'a'.repeat(10_000), SECRETS.gateway_password];
  const outcomes = { ok: 0, error: 0 };
  for (let i = 0; i < CASES; i += 1) {
    const envFile = path.join(tmp, `e${i % 8}.env`);
    const input = mutate(envBase, r);
    fs.writeFileSync(envFile, input);
    const env = {};
    for (const name of ['IB_IS_LIVE', 'IB_GATEWAY_INSECURE', 'IB_PASSWORD', 'IB_ACCESS_TOKEN_SECRET', 'IB_BASE_URL']) {
      if (r() < 0.3) env[name] = values[Math.floor(r() * values.length)];
    }
    try {
      const cfg = loadConfig({ envFile, env, cwd: tmp });
      assert.equal(cfg.file, null);
      outcomes.ok += 1;
    } catch (e) {
      if (!(e instanceof ConfigError)) assert.fail(`seed ${SEED} case ${i}: ${e?.stack ?? e}`);
      checkMessage(e.message, input, 'env');
      outcomes.error += 1;
    }
  }
  // Both sides were reached: the mutations are neither all harmless nor all fatal.
  assert.ok(outcomes.ok > CASES / 20 && outcomes.error > CASES / 20, JSON.stringify(outcomes));
});
