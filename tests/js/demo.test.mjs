// `make demo` must keep working: the walkthrough exits 0 only if every step agrees with the
// vectors and with its independent node:crypto server side.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { root } from './harness.mjs';

test('the handshake walkthrough (make demo) succeeds and prints every step', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'examples/handshake-walkthrough.mjs')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /every step agrees/);
  assert.equal((r.stdout.match(/✓/g) ?? []).length, 11);
  assert.doesNotMatch(r.stdout, /✗/);
  // The demo masks secrets: the full prepend and LST never appear.
  assert.doesNotMatch(r.stdout, /91a7491530d41f2006bf68fe23bc7be29c3d68de8707f69f462b1f8872eefe7a/);
  assert.doesNotMatch(r.stdout, /0XZ1cJv5xqubKjjscKEqPA1l\+e8=/);
});
