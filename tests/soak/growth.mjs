// A diagnostic, not a test: one session (oauth1, oauth2 or gateway) making `rounds` × `calls`
// calls without faults against an in-process simulator, printing after each round the heap after
// a full GC and the size of the WebAssembly module's linear memory (which only grows). The
// simulator's own records (log, nonces, orders) are cleared between rounds so that its growth
// does not hide the client's.
//
// node --expose-gc tests/soak/growth.mjs [oauth1|oauth2|gateway] [get|post|error] [rounds] [calls]
import { heldValues, instances, release } from '../common/wasm-instances.mjs';
const { IbkrSession, gatewayFetch } = await import('../../pkg/node.mjs');
release();
const { GATEWAY_TLS, Simulator } = await import('../../sim/server.mjs');

const [kind = 'oauth1', op = 'get', rounds = '8', calls = '16000'] = process.argv.slice(2);
const sim = await new Simulator({ rateLimits: false, gateway: kind === 'gateway' }).start();
if (kind === 'gateway') sim.setLoggedIn(true);
const s = kind === 'oauth1' ? IbkrSession.oauth1({ ...sim.clientConfig(), pacing: false })
  : kind === 'oauth2' ? IbkrSession.oauth2({ ...sim.clientConfig2(), pacing: false })
    : IbkrSession.gateway({ baseUrl: sim.baseUrl, fetch: gatewayFetch({ baseUrl: sim.origin, certificate: GATEWAY_TLS.cert }), pacing: false });
// Orders are never repeated, so the brokerage session is opened before the first one.
if (kind !== 'gateway') await s.initBrokerage();
let n = 0;
const one = () => ({
  get: () => s.request('GET', '/iserver/accounts'),
  post: () => s.request('POST', '/iserver/account/DU1234567/orders', { body: { orders: [{ conid: 265598, side: 'BUY', quantity: 1, orderType: 'MKT', cOID: `g${n++}` }] } }),
  error: () => s.request('GET', '/iserver/no-such-endpoint').catch(() => {}),
})[op]();
for (let r = 1; r <= Number(rounds); r++) {
  for (let i = 0; i < Number(calls) / 4; i++) await Promise.all([one(), one(), one(), one()]);
  sim.log.length = 0;
  sim.nonces.clear();
  sim.orders.length = 0;
  globalThis.gc?.();
  const heap = process.memoryUsage().heapUsed / 1e6;
  const wasm = instances[0].exports.memory.buffer.byteLength / 1e6;
  // The JS values held by the module: the count grows when values are kept.
  const { slots, held, kinds } = heldValues();
  const table = `${slots} slots, ${held} live: ${Object.entries(kinds).sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, n]) => `${k} ${n}`).join(', ')}`;
  console.log(`${kind} ${op}: ${r * Number(calls)} calls, heap ${heap.toFixed(2)} MB, wasm memory ${wasm.toFixed(2)} MB, externref table ${table}`);
}
await sim.close();
