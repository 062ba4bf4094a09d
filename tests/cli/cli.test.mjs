// The real `ibkr-auth` binary (pkg/cli/main.js), spawned against the simulator for every
// command; `doctor` must catch each planted mistake and pass a good configuration.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateKeys, rsaKeyPair, Simulator } from '../../sim/server.mjs';
import { startRedis } from '../stores/redis-server.mjs';
import { writeClientFiles } from '../../sim/state.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(root, 'pkg/cli/main.js');
const keys = generateKeys();
const sims = [];
let sim;
let dir;

/** Runs the binary (asynchronously: the simulator lives in this process); no IB_* from the machine. */
function run(args, { env = {}, cwd } = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IB_')));
  const child = spawn(process.execPath, [BIN, ...args], { cwd: cwd ?? dir, env: { ...clean, NO_COLOR: '1', ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

/** A config folder for `s`: key files from the simulator and an ibkr-auth.yaml. */
function configDir(s, yamlExtra = '', edit = () => {}) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-cli-'));
  const c = s.clientConfig();
  writeClientFiles(d, c);
  const yaml = {
    consumer_key: c.consumerKey, access_token: c.accessToken, access_token_secret: `"${c.accessTokenSecret}"`,
    signature_key_file: 'private_signature.pem', encryption_key_file: 'private_encryption.pem', dh_params_file: 'dhparam.pem',
    base_url: c.baseUrl,
  };
  edit(yaml, d);
  fs.writeFileSync(path.join(d, 'ibkr-auth.yaml'), `${Object.entries(yaml).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`).join('\n')}\n${yamlExtra}`);
  return d;
}

before(async () => {
  sim = await new Simulator({ keys, rateLimits: false }).start();
  sims.push(sim);
  dir = configDir(sim);
});
after(async () => { for (const s of sims) await s.close(); });

describe('session commands', () => {
  test('login, status, tickle, logout', async () => {
    const login = await run(['login']);
    assert.equal(login.code, 0, login.err);
    assert.match(login.out, /✓ live session token, valid until/);
    assert.match(login.out, /✓ brokerage session authenticated/);
    assert.equal((await run(['status'])).code, 0);
    const status = JSON.parse((await run(['status', '--json'])).out);
    assert.equal(status.authenticated, true);
    const tickle = await run(['tickle']);
    assert.match(tickle.out, /✓ tickled: session [0-9a-f]{8}…/);
    const logout = await run(['logout', '--json']);
    assert.deepEqual(JSON.parse(logout.out), { loggedOut: true });
    assert.equal(sim.brokerage.authenticated, false);
  });

  test('request with --query and --data; a signed order reaches the server once', async () => {
    await run(['login']);
    const snap = await run(['request', 'GET', '/iserver/marketdata/snapshot', '--query', 'conids=265598,8314', '--query', 'fields=31']);
    assert.equal(snap.code, 0, snap.err);
    assert.deepEqual(JSON.parse(snap.out).map((r) => r.conid), [265598, 8314]);
    const before = sim.orders.length;
    const order = await run(['request', 'POST', '/iserver/account/DU1234567/orders', '--data', '{"orders":[{"conid":265598,"side":"BUY","quantity":1,"orderType":"MKT"}]}']);
    assert.equal(order.code, 0, order.err);
    assert.equal(JSON.parse(order.out)[0].order_status, 'Submitted');
    assert.equal(sim.orders.length, before + 1);
    const bad = await run(['request', 'POST', '/x', '--data', '{nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--data must be JSON/);
  });

  test('sign prints a curl command whose headers IBKR accepts', async () => {
    await run(['login']);
    const r = await run(['sign', 'GET', '/iserver/accounts']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^curl -X GET -H 'Authorization: OAuth realm="limited_poa", /);
    const headers = Object.fromEntries([...r.out.matchAll(/-H '([^:]+): ([^']*)'/g)].map((m) => [m[1], m[2]]));
    const url = r.out.trim().match(/'([^']+)'$/)[1];
    const res = await fetch(url, { headers });
    assert.equal(res.status, 200);
    const j = JSON.parse((await run(['sign', 'GET', `${sim.baseUrl}/tickle`, '--json'])).out);
    assert.match(j.headers.Authorization, /oauth_signature_method="HMAC-SHA256"/);
  });

  test('lst prints the token as JSON and warns on stderr that it is a secret', async () => {
    const r = await run(['lst']);
    assert.equal(r.code, 0, r.err);
    const t = JSON.parse(r.out);
    assert.match(t.token, /^[A-Za-z0-9+/]{27}=$/);
    assert.ok(t.expiresAt > Date.now());
    assert.match(r.err, /secret/);
  });

  test('keepalive: a line per tickle, repairs the session, exits 0 on Ctrl-C and logs out if asked', async () => {
    const child = spawn(process.execPath, [BIN, 'keepalive', '--interval', '1', '--logout'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    await new Promise((r) => setTimeout(r, 1300));
    sim.brokerage.authenticated = false; // the session drops: the next tick repairs it
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('exit', r));
    assert.equal(code, 0, stderr);
    const lines = stdout.trim().split('\n');
    assert.ok(lines.length >= 2, stdout);
    assert.ok(lines.every((l) => /^\d\d:\d\d:\d\d [✓!✗] /.test(l)), stdout);
    assert.ok(lines.some((l) => l.includes('re-initialised')), stdout);
    assert.match(stderr, /logged out/);
    assert.equal(sim.brokerage.connected, false);
  });
});

describe('configuration', () => {
  test('YAML < environment < flags, and --env-file', async () => {
    const d = configDir(sim, '', (y) => { y.consumer_key = 'WRONGKEYX'; });
    assert.equal((await run(['status'], { cwd: d })).code, 1, 'the YAML value is used');
    assert.equal((await run(['status'], { cwd: d, env: { IB_CONSUMER_KEY: sim.consumerKey } })).code, 0, 'the environment overrides YAML');
    assert.equal((await run(['status', '--consumer-key', 'WRONGKEYX'], { cwd: d, env: { IB_CONSUMER_KEY: sim.consumerKey } })).code, 1, 'a flag overrides the environment');
    fs.writeFileSync(path.join(d, '.env'), `# comment\nexport IB_CONSUMER_KEY="${sim.consumerKey}"\n`);
    assert.equal((await run(['status', '--env-file', '.env'], { cwd: d })).code, 0, '--env-file fills the environment');
  });

  test('environment only, with the key material inline', async () => {
    const c = sim.clientConfig();
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-cli-env-'));
    const r = await run(['status'], {
      cwd: empty,
      env: {
        IB_CONSUMER_KEY: c.consumerKey, IB_ACCESS_TOKEN: c.accessToken, IB_ACCESS_TOKEN_SECRET: c.accessTokenSecret,
        IB_SIGNATURE_KEY_PATH: c.signatureKey, IB_ENCRYPTION_KEY_PATH: c.encryptionKey.replace(/\n/g, '\\n'), IB_DH_PARAM_PATH: c.dhParams,
        IB_BASE_URL: c.baseUrl, IB_IS_LIVE: 'false',
      },
    });
    assert.equal(r.code, 0, r.err);
  });

  test('config errors name the file, the key and the fix', async () => {
    const d = configDir(sim, 'colour: blue\n');
    const r = await run(['status'], { cwd: d });
    assert.equal(r.code, 2);
    assert.match(r.err, /ibkr-auth\.yaml:8: unknown key "colour"/);
    const d2 = configDir(sim, '', (y) => { y.signature_key_file = 'nowhere.pem'; });
    const r2 = await run(['status'], { cwd: d2 });
    assert.equal(r2.code, 2);
    assert.match(r2.err, /ibkr-auth\.yaml:4: signature_key_file: nowhere\.pem does not exist/);
    assert.match((await run(['status', '--config', 'missing.yaml'])).err, /missing\.yaml: no such file/);
    // A key that cannot decrypt the secret is a configuration error too.
    const d3 = configDir(sim, '', (y) => { y.encryption_key_file = 'private_signature.pem'; });
    const r3 = await run(['status'], { cwd: d3 });
    assert.equal(r3.code, 2, r3.err);
    assert.match(r3.err, /DECRYPT_FAILED/);
  });

  /** A folder with the simulator's key files and this ibkr-auth.yaml. */
  const yamlDir = (text) => {
    const d = configDir(sim);
    fs.writeFileSync(path.join(d, 'ibkr-auth.yaml'), text);
    return d;
  };
  const indent = (text) => text.trimEnd().split('\n').map((l) => `  ${l}`).join('\n');

  test('YAML: nested keys are the flat keys they spell; a wrong one is named with its line', async () => {
    const c = sim.clientConfig();
    const d = yamlDir(`consumer_key: ${c.consumerKey}
access:
  token: ${c.accessToken}
  token_secret: "${c.accessTokenSecret}"
signature:
  key_file: private_signature.pem
encryption: { key_file: private_encryption.pem }
dh:
  params_file: dhparam.pem
base:
  url: ${c.baseUrl}
`);
    const r = await run(['login'], { cwd: d });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /✓ live session token, valid until/);
    fs.appendFileSync(path.join(d, 'ibkr-auth.yaml'), 'gateway:\n  insecure: true\n  urll: https://localhost:5000\n');
    const bad = await run(['status'], { cwd: d });
    assert.equal(bad.code, 2);
    assert.match(bad.err, /ibkr-auth\.yaml:14: unknown key "gateway\.urll"\. Known keys: .*gateway_url/);
    // The same setting twice (nested and flat) is a mistake, not a silent choice.
    const twice = yamlDir(`base:\n  url: ${c.baseUrl}\nbase_url: ${c.baseUrl}\n`);
    assert.match((await run(['status'], { cwd: twice })).err, /ibkr-auth\.yaml:3: base_url sets base_url, which line 2 \(base\.url\) already sets/);
  });

  test('YAML: a PEM key as a | block, the secret and URL as > folded blocks, a number-like token kept as written', async () => {
    const c = sim.clientConfig();
    const d = yamlDir(`# key material inline
consumer_key: ${c.consumerKey}
access_token: ${c.accessToken}
access_token_secret: >-
${indent(c.accessTokenSecret)}
signature_key_file: |
${indent(c.signatureKey)}
encryption_key_file: private_encryption.pem
dh_params_file: |-
${indent(c.dhParams)}
base_url: >
${indent(c.baseUrl)}
`);
    const r = await run(['login'], { cwd: d });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /✓ live session token, valid until/);
    // YAML 1.2 reads 012345678 as the number 12345678; the CLI keeps the text as written.
    const digits = yamlDir(fs.readFileSync(path.join(d, 'ibkr-auth.yaml'), 'utf8').replace(/^consumer_key: .*$/m, 'consumer_key: 012345678'));
    const doctor = await run(['doctor'], { cwd: digits });
    assert.equal(doctor.code, 3);
    assert.match(doctor.out, /consumer_key "012345678" does not look like one/);
  });

  test('YAML: anchors, aliases and << merge keys; keys written out override merged ones', async () => {
    const c = sim.clientConfig();
    const d = yamlDir(`x-account: &account
  consumer_key: WRONGKEYX         # overridden below
  access_token: ${c.accessToken}
  access_token_secret: "${c.accessTokenSecret}"
x-files:
  signature: &sig private_signature.pem
<<: *account
consumer_key: ${c.consumerKey}
signature_key_file: *sig
encryption_key_file: private_encryption.pem
dh_params_file: dhparam.pem
base_url: &url ${c.baseUrl}
`);
    const r = await run(['login'], { cwd: d });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /✓ live session token, valid until/);
    // Only the merged value: the wrong key is used, and IBKR says no.
    const merged = yamlDir(fs.readFileSync(path.join(d, 'ibkr-auth.yaml'), 'utf8').replace(/^consumer_key: .*\n/m, ''));
    assert.equal((await run(['status'], { cwd: merged })).code, 1);
  });

  test('YAML: a syntax error names the file, line and column, and does not quote the line', async () => {
    const c = sim.clientConfig();
    const d = yamlDir(`consumer_key: ${c.consumerKey}
access_token: ${c.accessToken}
access_token_secret: "${c.accessTokenSecret}" extra
base_url: ${c.baseUrl}
`);
    const r = await run(['status'], { cwd: d });
    assert.equal(r.code, 2);
    assert.match(r.err, new RegExp(`${path.join(d, 'ibkr-auth.yaml').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3:\\d+: this is not valid YAML: `));
    assert.ok(!r.err.includes(c.accessTokenSecret.slice(0, 24)), 'the secret is not in the message');
    const json = JSON.parse((await run(['status', '--json'], { cwd: d })).out);
    assert.equal(json.error.code, 'configuration');
    const tabs = yamlDir(`consumer_key: ${c.consumerKey}\ngateway:\n\turl: https://localhost:5000\n`);
    assert.match((await run(['status'], { cwd: tabs })).err, /ibkr-auth\.yaml:3:1: this is not valid YAML: a tab indents this line/);
    const dup = yamlDir(`realm: test_realm\nconsumer_key: ${c.consumerKey}\nrealm: limited_poa\n`);
    assert.match((await run(['status'], { cwd: dup })).err, /ibkr-auth\.yaml:3:1: this is not valid YAML: this key is set twice/);
  });

  test('.env: quotes, comments, no export, a multi-line quoted PEM; a bad value names the file, line and variable', async () => {
    const c = sim.clientConfig();
    const d = configDir(sim);
    fs.rmSync(path.join(d, 'ibkr-auth.yaml'));
    fs.writeFileSync(path.join(d, '.env'), `# the simulator's test account
IB_CONSUMER_KEY='${c.consumerKey}'
IB_ACCESS_TOKEN="${c.accessToken}"   # a comment after a quoted value
IB_ACCESS_TOKEN_SECRET=${c.accessTokenSecret}
IB_SIGNATURE_KEY_PATH="${c.signatureKey.trimEnd()}"
IB_ENCRYPTION_KEY_PATH=private_encryption.pem # a comment after a bare value

IB_DH_PARAM_PATH = dhparam.pem
IB_BASE_URL=${c.baseUrl}
IB_IS_LIVE=false
`);
    const r = await run(['login', '--env-file', '.env'], { cwd: d });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /✓ live session token, valid until/);
    const line = fs.readFileSync(path.join(d, '.env'), 'utf8').split('\n').length;
    fs.appendFileSync(path.join(d, '.env'), 'IB_GATEWAY_INSECURE=perhaps\n');
    const bad = await run(['status', '--env-file', '.env'], { cwd: d });
    assert.equal(bad.code, 2);
    assert.match(bad.err, new RegExp(`\\.env:${line}: IB_GATEWAY_INSECURE: gateway_insecure must be true or false \\(also 1/0, yes/no, on/off\\); its value \\(7 characters\\) is none of them`));
    assert.ok(!bad.err.includes('perhaps'), 'the value is not echoed');
  });

  test('help, version, unknown commands and options', async () => {
    assert.equal((await run(['--help'])).code, 0);
    assert.match((await run(['--help'])).out, /exit codes: 0 ok/);
    assert.match((await run(['--version'])).out, /^\d+\.\d+\.\d+/);
    assert.equal((await run(['frobnicate'])).code, 2);
    assert.equal((await run(['status', '--bogus'])).code, 2);
  });
});

describe('doctor', () => {
  test('a good configuration passes, with a live handshake', async () => {
    const r = await run(['doctor', '--live']);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /✓ live handshake/);
    assert.match(r.out, /no problems found/);
    assert.doesNotMatch(r.out, /✗/);
  });

  const otherEncryptionKey = rsaKeyPair().privateKey;
  const mistakes = [
    ['swapped signature and encryption keys', (y) => { [y.signature_key_file, y.encryption_key_file] = [y.encryption_key_file, y.signature_key_file]; }, /are swapped/],
    ['a public key as the signature key', (y, d) => { fs.writeFileSync(path.join(d, 'pub.pem'), keys.signature.publicKey, { mode: 0o600 }); y.signature_key_file = 'pub.pem'; }, /signature_key_file: not a usable private signature key[\s\S]*public key/],
    ['CRLF line endings', (y, d) => { const p = path.join(d, 'private_signature.pem'); fs.writeFileSync(p, fs.readFileSync(p, 'utf8').replace(/\n/g, '\r\n')); }, /Windows \(CRLF\) line endings[\s\S]*dos2unix/],
    ['a mangled access token secret', (y) => { y.access_token_secret = y.access_token_secret.slice(0, 120) + '"'; }, /access_token_secret is damaged/],
    ['test_realm with a real consumer key', (y) => { y.realm = 'test_realm'; }, /realm test_realm with a real consumer key/],
    ['loose file permissions', (y, d) => { fs.chmodSync(path.join(d, 'private_encryption.pem'), 0o644); }, /readable by others \(mode 644\)[\s\S]*chmod 600/],
    ['a missing key file', (y) => { y.dh_params_file = 'gone.pem'; }, /gone\.pem does not exist/],
    ['an RSA key as DH parameters', (y) => { y.dh_params_file = 'private_signature.pem'; }, /not a usable DH parameters \(INVALID_DH_PARAMS\)/],
    ['a malformed consumer key', (y) => { y.consumer_key = 'abc123'; }, /consumer_key "abc123" does not look like one/],
    ['a malformed access token', (y) => { y.access_token = 'not-a-token'; }, /access_token does not look like one/],
    ['a missing setting', (y) => { y.access_token_secret = undefined; }, /access_token_secret is missing/],
    ['an encryption key that is not the one', (y, d) => { fs.writeFileSync(path.join(d, 'other.pem'), otherEncryptionKey, { mode: 0o600 }); y.encryption_key_file = 'other.pem'; }, /does not decrypt \(DECRYPT_FAILED\)/],
    ['an unreachable host', (y) => { y.base_url = 'http://127.0.0.1:9/v1/api'; }, /is not reachable/],
  ];
  for (const [name, edit, expected] of mistakes) {
    test(`catches ${name}`, async () => {
      const d = configDir(sim, '', edit);
      const r = await run(['doctor'], { cwd: d });
      assert.equal(r.code, 3, r.out + r.err);
      assert.match(r.out, expected);
      assert.match(r.out, /✗ [\s\S]*fix:/);
    });
  }

  test('catches a skewed clock', async () => {
    const skewed = await new Simulator({ keys, rateLimits: false, clock: () => Date.now() + 300_000 }).start();
    sims.push(skewed);
    const r = await run(['doctor'], { cwd: configDir(skewed) });
    assert.equal(r.code, 3, r.out);
    assert.match(r.out, /clock is (29\d|30\d) s behind the server's[\s\S]*NTP/);
  });
});

describe('keys and sim', () => {
  test('keys: five files, private ones 0600, public parts and next steps printed; no overwrite', async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-keys-'));
    const r = await run(['keys', '--out', d, '--dh', 'standard']);
    assert.equal(r.code, 0, r.err);
    for (const f of ['private_signature.pem', 'private_encryption.pem']) assert.equal(fs.statSync(path.join(d, f)).mode & 0o777, 0o600, f);
    for (const f of ['public_signature.pem', 'public_encryption.pem', 'dhparam.pem']) assert.ok(fs.existsSync(path.join(d, f)), f);
    assert.match(r.out, /-----BEGIN PUBLIC KEY-----[\s\S]*-----BEGIN DH PARAMETERS-----/);
    assert.match(r.out, /next steps/);
    assert.doesNotMatch(r.out, /PRIVATE KEY/);
    const again = await run(['keys', '--out', d, '--dh', 'standard']);
    assert.equal(again.code, 2);
    assert.match(again.err, /already exist/);
  });

  test('sim: starts the simulator and writes a config the other commands use', async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-sim-'));
    const child = spawn(process.execPath, [BIN, 'sim', '--out', d], { cwd: d, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    child.stdout.on('data', (x) => { stdout += x; });
    for (let i = 0; i < 50 && !stdout.includes('Ctrl-C'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(stdout, /IBKR simulator listening on http:\/\/127\.0\.0\.1:\d+/);
    const r = await run(['--config', path.join(d, 'ibkr-auth.yaml'), 'login']);
    child.kill('SIGINT');
    assert.equal(await new Promise((res) => child.on('exit', res)), 0);
    assert.equal(r.code, 0, r.err);
  });
});

describe('a fleet store (--store)', () => {
  let redis;
  before(async () => { redis = await startRedis(); });
  after(async () => { await redis?.stop(); });

  test('refresh renews into Redis once; later commands use the stored token', async () => {
    const d = configDir(sim);
    const store = ['--store', redis.url];
    const before = sim.count('handshake');
    const first = await run(['refresh', '--json', ...store], { cwd: d });
    assert.equal(first.code, 0, first.err);
    const r = JSON.parse(first.out);
    assert.equal(r.refreshed, true);
    assert.equal(r.store, `redis 127.0.0.1:${redis.port}`);
    assert.equal(sim.count('handshake') - before, 1);
    const again = await run(['refresh', '--json', ...store], { cwd: d });
    assert.equal(JSON.parse(again.out).refreshed, false, again.err);
    const status = await run(['status', '--json', ...store], { cwd: d });
    assert.equal(status.code, 0, status.err);
    assert.equal(sim.count('handshake') - before, 1, 'status used the stored token');
    // Asked for more than the token has left: a new one.
    const forced = await run(['refresh', '--within', String(48 * 3600), ...store], { cwd: d });
    assert.equal(forced.code, 0, forced.err);
    assert.match(forced.out, /token renewed and stored for the fleet/);
    assert.equal(sim.count('handshake') - before, 2);
  });

  test('refresh into a file store; without a store it says what to set', async () => {
    const d = configDir(sim);
    const r = await run(['refresh', '--json', '--store', 'file:tokens.json'], { cwd: d });
    assert.equal(r.code, 0, r.err);
    assert.equal(fs.statSync(path.join(d, 'tokens.json')).mode & 0o777, 0o600);
    const none = await run(['refresh'], { cwd: d });
    assert.equal(none.code, 2);
    assert.match(none.err + none.out, /set store \(redis:\/\/host:6379 or file:/);
  });

  test('keepalive --logout is refused with a shared store; a store that is down fails refresh only; its password is never printed', async () => {
    const d = configDir(sim);
    const k = await run(['keepalive', '--logout', '--store', redis.url], { cwd: d });
    assert.equal(k.code, 2);
    assert.match(k.err + k.out, /end the session of every process/);
    const down = await run(['refresh', '--store', 'redis://:hunter2secret@127.0.0.1:1'], { cwd: d });
    assert.equal(down.code, 2);
    assert.match(down.err + down.out, /cannot connect to the Redis store/);
    assert.doesNotMatch(down.err + down.out, /hunter2secret/);
    // A command that does not need the store goes on without it, as a session does.
    const status = await run(['status', '--json', '--store', 'redis://:hunter2secret@127.0.0.1:1'], { cwd: d });
    assert.equal(status.code, 0, status.err);
    assert.match(status.err, /Going on without the store/);
    assert.doesNotMatch(status.err + status.out, /hunter2secret/);
  });
});
