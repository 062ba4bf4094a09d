// Shared by the session tests: simulators that close after the file's tests, a capturing
// logger, and an assertion for typed rejections.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { IbkrAuthError } from '../../pkg/node.mjs';
import { generateKeys, Simulator } from '../../sim/server.mjs';

const keys = generateKeys();
const sims = [];
after(async () => { for (const s of sims.splice(0)) await s.close(); });

/** A started simulator (rate limits off unless asked), closed after the file's tests. */
export async function newSim(o = {}) {
  const sim = await new Simulator({ keys, rateLimits: false, ...o }).start();
  sims.push(sim);
  return sim;
}

/** A logger that keeps every line as "level: message". */
export function capture() {
  const lines = [];
  const logger = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((l) => [l, (m) => lines.push(`${l}: ${m}`)]));
  return { lines, logger };
}

/** Awaits `promise`, which must reject with an IbkrAuthError of `code`; returns the error. */
export async function rejects(promise, code) {
  const e = await promise.then(() => null, (err) => err);
  assert.ok(e, `expected ${code}, but it succeeded`);
  assert.ok(e instanceof IbkrAuthError, `not an IbkrAuthError: ${e}`);
  assert.equal(e.code, code, e.message);
  return e;
}
