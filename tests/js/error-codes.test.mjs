// The error codes have one source, the Rust ErrorCode enum: the built package's ERROR_CODES (ESM
// and CommonJS), its IbkrAuthErrorCode union (index.d.ts, index.d.cts) and the README's table of
// codes must list exactly its codes, plus the codes only JavaScript throws (JS_ONLY_ERROR_CODES in
// scripts/build-pkg.mjs, empty today). The enum is read here with a parser of this test's own, not
// build-pkg.mjs's, so a mistake in one does not hide in the other.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { root } from './harness.mjs';

const read = (rel) => fs.readFileSync(path.join(root, rel), 'utf8');
const pkg = path.join(root, 'pkg');

const candidates = ['crates/core/src/error.rs']
  .filter((rel) => fs.existsSync(path.join(root, rel)) && read(rel).includes('pub enum ErrorCode'));

/** The enum's variants in declaration order, each mapped through as_str's match arms. */
function rustCodes() {
  assert.equal(candidates.length, 1, `ErrorCode must be declared in exactly one of the candidate files, found ${candidates}`);
  const rs = read(candidates[0]);
  const lines = rs.split('\n');
  const start = lines.findIndex((l) => /^pub enum ErrorCode \{$/.test(l));
  const end = lines.findIndex((l, i) => i > start && l === '}');
  const variants = lines.slice(start + 1, end).map((l) => l.trim())
    .filter((l) => l && !l.startsWith('//') && !l.startsWith('#'))
    .map((l) => l.match(/^(\w+),$/)?.[1] ?? assert.fail(`unexpected line in the enum: ${l}`));
  const arms = Object.fromEntries([...rs.matchAll(/^\s*ErrorCode::(\w+) => "(\w+)",$/gm)].map((m) => [m[1], m[2]]));
  return variants.map((v) => arms[v] ?? assert.fail(`ErrorCode::${v} has no as_str arm`));
}

function jsOnlyCodes() {
  const m = read('scripts/build-pkg.mjs').match(/^const JS_ONLY_ERROR_CODES = \[([^\]]*)\];$/m);
  assert.ok(m, 'scripts/build-pkg.mjs declares JS_ONLY_ERROR_CODES');
  return [...m[1].matchAll(/'([A-Z0-9_]+)'/g)].map((c) => c[1]);
}

const expected = [...rustCodes(), ...jsOnlyCodes()];

test('the Rust enum is read: 22 codes today, in declaration order, none JS-only', () => {
  // A floor, not a pin: new codes are welcome; a parser that reads nothing is not.
  assert.ok(expected.length >= 22, expected.join());
  assert.equal(expected[0], 'INVALID_ARGUMENT');
  assert.ok(expected.includes('DECRYPT_FAILED') && expected.includes('ABORTED'));
  assert.equal(new Set(expected).size, expected.length, 'no code twice');
  assert.deepEqual(jsOnlyCodes().filter((c) => rustCodes().includes(c)), [], 'a JS-only code is not also in Rust');
});

test('the built ERROR_CODES (ESM and CommonJS) are the Rust codes, in order, frozen', async () => {
  const esm = await import(pathToFileURL(path.join(pkg, 'errors.js')).href);
  const cjs = createRequire(import.meta.url)(path.join(pkg, 'errors.cjs'));
  assert.deepEqual([...esm.ERROR_CODES], expected);
  assert.deepEqual([...cjs.ERROR_CODES], expected);
  assert.ok(Object.isFrozen(esm.ERROR_CODES));
  // The error class takes any of them and keeps it as `code`.
  for (const code of expected) assert.equal(new esm.IbkrAuthError(code, 'm').code, code);
});

test('the built d.ts union IbkrAuthErrorCode is the same list', () => {
  for (const f of ['index.d.ts', 'index.d.cts']) {
    const dts = fs.readFileSync(path.join(pkg, f), 'utf8');
    const union = dts.match(/^export type IbkrAuthErrorCode =([^;]*);/m)?.[1] ?? assert.fail(`${f} has no IbkrAuthErrorCode`);
    assert.deepEqual(union.split('|').map((s) => s.trim()).filter(Boolean), expected.map((c) => `'${c}'`), f);
  }
});

test('the README\'s table of error codes lists each code once, and no other', () => {
  const readme = read('README.md');
  const section = readme.split('\n### Error codes\n')[1] ?? assert.fail('README.md has no "### Error codes" section');
  const table = section.split(/\n#/)[0];
  const firstCells = table.split('\n').filter((l) => l.startsWith('| `')).map((l) => l.split('|')[1]);
  const listed = firstCells.flatMap((cell) => [...cell.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]));
  assert.ok(listed.length > 0, 'the "### Error codes" section has a table');
  assert.equal(new Set(listed).size, listed.length, `a code is listed twice: ${listed}`);
  assert.deepEqual([...listed].sort(), [...expected].sort());
});

test('the codes the wasm core really throws are in ERROR_CODES', () => {
  const api = createRequire(import.meta.url)(path.join(pkg, 'node.cjs'));
  const thrown = [];
  for (const call of [() => api.signRsaSha256('', 'x'), () => api.parseDhParams('nope'), () => api.baseString({ method: 'GET', url: 'not a url', params: {} }),
    () => api.liveSessionToken({ dhResponse: '00', random: '01', prime: 'ff'.repeat(256), prepend: '00' })]) {
    try { call(); } catch (e) { assert.ok(e instanceof api.IbkrAuthError); thrown.push(e.code); }
  }
  assert.equal(thrown.length, 4);
  for (const code of thrown) assert.ok(api.ERROR_CODES.includes(code), code);
  // And every code the shared bad-input table expects.
  const table = JSON.parse(read('tests/bad_inputs.json'));
  const wanted = new Set(JSON.stringify(table).match(/"code":"[A-Z0-9_]+"/g).map((s) => s.slice(8, -1)));
  for (const code of wanted) assert.ok(expected.includes(code), `bad_inputs.json expects ${code}`);
});
