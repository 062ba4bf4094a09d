// tests/vectors/gateway/srp.json agrees with sim/gateway-srp.mjs, client and server side.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { clientSession, serverB, serverSession, verifier } from '../../sim/gateway-srp.mjs';

const { vectors } = JSON.parse(fs.readFileSync(new URL('../vectors/gateway/srp.json', import.meta.url), 'utf8'));
const big = (h) => BigInt(`0x${h}`);

test('srp.json: every vector recomputed on both sides', () => {
  assert.ok(vectors.length >= 8);
  for (const v of vectors) {
    const { username, password, lp, salt } = v;
    const ver = verifier({ username, password, lp, salt });
    const B = serverB({ v: ver, b: big(v.b) });
    assert.equal(B.toString(16), v.B, v.name);
    const c = clientSession({ username, password, lp, salt, a: big(v.a), B });
    assert.deepEqual({ A: c.A.toString(16), x: c.x, u: c.u, S: c.S.toString(16), K: c.K, M1: c.M1, M2: c.M2, loginCookie: c.loginCookie },
      { A: v.A, x: v.x, u: v.u, S: v.S, K: v.K, M1: v.M1, M2: v.M2, loginCookie: v.loginCookie }, v.name);
    const s = serverSession({ username, salt, v: ver, b: big(v.b), A: big(v.A), B });
    assert.equal(s.M1, v.M1, v.name);
    assert.equal(s.M2, v.M2, v.name);
  }
});
