// What every TokenStore must do, as a list of checks that run anywhere (Node, or inside workerd:
// no Node imports here). checkStore() runs them as node:test subtests; a Worker runs
// storeChecks() itself and reports the results as JSON.
//
// Options:
//   advance(ms)  moves time on: a controlled clock's, or real time (a sleep) for backends that
//                keep their own (Redis, KV, Durable Objects)
//   ttlMs        the short ttl of the expiry checks (default 1000); advance(ttlMs + slackMs) must
//                expire an entry (slackMs default 1)
//   realTime     true: no "still there just before expiry" check (real time is not exact)
//   concurrency  concurrent setIfAbsent calls on one key, of which exactly one must win
//                (default 50; 0 skips the check, for stores that are not atomic: KV)

class CheckFailed extends Error {}
const ok = (cond, msg) => { if (!cond) throw new CheckFailed(msg); };
const eq = (got, want, msg) => ok(Object.is(got, want), `${msg}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);

async function rejectsWith(promiseFn, code, msg) {
  let err;
  try {
    await promiseFn();
  } catch (e) {
    err = e;
  }
  ok(err !== undefined, `${msg}: did not reject`);
  eq(err?.name, 'IbkrAuthError', `${msg}: error name`);
  eq(err?.code, code, `${msg}: error code (${err?.message})`);
}

let unique = 0;
const keyOf = (name) => `conformance/${name}/${Date.now().toString(36)}-${(unique += 1)}`;

export function storeChecks(o = {}) {
  const { advance, ttlMs = 1000, slackMs = 1, realTime = false, concurrency = 50 } = o;
  const long = { ttlMs: 600_000 };
  const checks = [
    ['get of a missing key is null', async (s) => {
      eq(await s.get(keyOf('missing')), null, 'get');
    }],
    ['set, get, overwrite', async (s) => {
      const k = keyOf('set');
      eq(await s.set(k, 'one', long), undefined, 'set resolves to undefined');
      eq(await s.get(k), 'one', 'get after set');
      await s.set(k, 'two', long);
      eq(await s.get(k), 'two', 'get after overwrite');
    }],
    ['keys and values are opaque strings', async (s) => {
      const b64 = 'q83vEjRWeJq83vEjRWeJ+/A=';
      const pairs = [
        [`${keyOf('opaque')}:x/y+z=`, b64],
        [`${keyOf('opaque')} ünïcödé ✓`, 'value with spaces, "quotes" and \n a newline'],
        ['__proto__', 'proto'],
        [keyOf('empty-value'), ''],
        [keyOf('long'), 'A'.repeat(8192)],
      ];
      for (const [k, v] of pairs) {
        await s.set(k, v, long);
        eq(await s.get(k), v, `round trip of ${JSON.stringify(k.slice(0, 40))}`);
      }
      await s.delete('__proto__');
      eq(await s.get('__proto__'), null, '__proto__ deleted');
    }],
    ['an entry expires after ttlMs', async (s) => {
      const k = keyOf('ttl');
      await s.set(k, 'v', { ttlMs });
      eq(await s.get(k), 'v', 'get at once');
      if (!realTime) {
        await advance(ttlMs - 1);
        eq(await s.get(k), 'v', 'get 1 ms before expiry');
        await advance(1 + slackMs);
      } else {
        await advance(ttlMs + slackMs);
      }
      eq(await s.get(k), null, 'get after expiry');
    }],
    ['set renews the ttl', async (s) => {
      const k = keyOf('renew');
      await s.set(k, 'old', { ttlMs });
      await s.set(k, 'new', long);
      await advance(ttlMs + slackMs);
      eq(await s.get(k), 'new', 'get after the first ttl');
    }],
    ['setIfAbsent: true, then false while the entry lives', async (s) => {
      const k = keyOf('sia');
      eq(await s.setIfAbsent(k, 'first', long), true, 'first setIfAbsent');
      eq(await s.setIfAbsent(k, 'second', long), false, 'second setIfAbsent');
      eq(await s.get(k), 'first', 'the value is the first');
      const k2 = keyOf('sia-after-set');
      await s.set(k2, 'set', long);
      eq(await s.setIfAbsent(k2, 'lease', long), false, 'setIfAbsent over a set entry');
    }],
    ['an expired entry counts as absent for setIfAbsent', async (s) => {
      const k = keyOf('sia-expired');
      eq(await s.setIfAbsent(k, 'old', { ttlMs }), true, 'first lease');
      await advance(ttlMs + slackMs);
      eq(await s.setIfAbsent(k, 'new', long), true, 'setIfAbsent after expiry');
      eq(await s.get(k), 'new', 'get');
    }],
    ['delete', async (s) => {
      const k = keyOf('del');
      await s.set(k, 'v', long);
      eq(await s.delete(k), undefined, 'delete resolves to undefined');
      eq(await s.get(k), null, 'get after delete');
      await s.delete(k); // a missing key is no error
      eq(await s.setIfAbsent(k, 'again', long), true, 'setIfAbsent after delete');
    }],
    ['a ttl that is not a positive number rejects with INVALID_ARGUMENT', async (s) => {
      const k = keyOf('bad-ttl');
      for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '1000', null, undefined]) {
        await rejectsWith(() => s.set(k, 'v', { ttlMs: bad }), 'INVALID_ARGUMENT', `set with ttlMs ${String(bad)}`);
        await rejectsWith(() => s.setIfAbsent(k, 'v', { ttlMs: bad }), 'INVALID_ARGUMENT', `setIfAbsent with ttlMs ${String(bad)}`);
      }
      await rejectsWith(() => s.set(k, 'v'), 'INVALID_ARGUMENT', 'set without options');
      await rejectsWith(() => s.set(k, 42, long), 'INVALID_ARGUMENT', 'set of a number');
      eq(await s.get(k), null, 'nothing was written');
    }],
  ];
  if (concurrency > 0) {
    checks.push([`${concurrency} concurrent setIfAbsent on one key: exactly one wins`, async (s) => {
      const k = keyOf('race');
      const results = await Promise.all(Array.from({ length: concurrency }, (_, i) => s.setIfAbsent(k, `racer-${i}`, long)));
      const winners = results.flatMap((r, i) => (r === true ? [i] : []));
      eq(winners.length, 1, `winners among ${concurrency}`);
      ok(results.every((r) => r === true || r === false), 'every result is a boolean');
      eq(await s.get(k), `racer-${winners[0]}`, 'the value is the winner\'s');
    }]);
  }
  return checks.map(([name, fn]) => ({ name, fn }));
}

/** Runs every check on a fresh store from makeStore(); returns [{ name, ok, error? }]. */
export async function runStoreChecks(makeStore, o) {
  const results = [];
  for (const { name, fn } of storeChecks(o)) {
    try {
      await fn(await makeStore());
      results.push({ name, ok: true });
    } catch (e) {
      results.push({ name, ok: false, error: e instanceof CheckFailed ? e.message : String(e?.stack ?? e) });
    }
  }
  return results;
}

/** node:test: each check as a subtest of `t`. */
export async function checkStore(t, makeStore, o) {
  for (const { name, fn } of storeChecks(o)) await t.test(name, async () => fn(await makeStore()));
}
