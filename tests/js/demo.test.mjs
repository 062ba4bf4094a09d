// `make demo` must keep working: the walkthrough exits 0 only if every step agrees with the
// vectors and with its independent node:crypto server side.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { root } from './harness.mjs';

test('make demo: a full session against the simulator succeeds step by step, secrets masked', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'examples/demo.mjs')], { encoding: 'utf8', env: { ...process.env, IBKR_SIM_STATE: fs.mkdtempSync(path.join(os.tmpdir(), 'sim-')) } });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal((r.stdout.match(/^✓ \d\. /gm) ?? []).length, 9, r.stdout);
  assert.match(r.stdout, /AAPL last \d+\.\d\d/);
  assert.match(r.stdout, /keys generated \(first run\)/);
  assert.match(r.stdout, /orders on the server: 1 \(sent exactly once\)/);
  assert.match(r.stdout, /2 handshakes, 1 rejected/);
  assert.doesNotMatch(r.stdout, /✗/);
});

test('the handshake walkthrough (make walkthrough) succeeds and prints every step', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'examples/handshake-walkthrough.mjs')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /every step agrees/);
  assert.equal((r.stdout.match(/✓/g) ?? []).length, 11);
  assert.doesNotMatch(r.stdout, /✗/);
  // The demo masks secrets: the full prepend and LST never appear.
  assert.doesNotMatch(r.stdout, /91a7491530d41f2006bf68fe23bc7be29c3d68de8707f69f462b1f8872eefe7a/);
  assert.doesNotMatch(r.stdout, /0XZ1cJv5xqubKjjscKEqPA1l\+e8=/);
});

test('the gateway demo: headless login with TOTP, keep-alive, recovery after a gateway-side logout', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'examples/demo-gateway.mjs')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal((r.stdout.match(/^✓ \d\. /gm) ?? []).length, 5, r.stdout);
  assert.match(r.stdout, /UNAUTHORIZED → gatewayLogin → authenticated: true/);
  assert.match(r.stdout, /lockout guard: 0 failures of 4 allowed/);
  assert.doesNotMatch(r.stdout, /✗/);
});
