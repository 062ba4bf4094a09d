// The shipped types as a TypeScript user meets them: the consumers in tests/js/types/, beside the
// packed package installed from its tarball, compiled by `tsc --noEmit` (the exactly pinned
// devDependency) under moduleResolution nodenext and bundler. Each must compile cleanly and read
// its types from the installed package (its @ts-expect-error lines fail the build if the types
// stop rejecting those mistakes).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { installPackedPackage, root } from '../js/harness.mjs';

const run = promisify(execFile);
const { project } = installPackedPackage('types');
const dir = path.join(project, 'types');
fs.cpSync(path.join(root, 'tests/js/types'), dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'types-consumer', private: true, type: 'module' }));
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');

async function compile(config) {
  const r = await run(process.execPath, [tsc, '-p', config, '--listFiles'], { cwd: dir, encoding: 'utf8' })
    .catch((e) => assert.fail(`tsc -p ${config} failed:\n${e.stdout}${e.stderr}`));
  return r.stdout.split('\n').map((l) => path.relative(project, l.trim())).filter((l) => l.startsWith('node_modules/ibkr-auth/'));
}

test('tsc is the exactly pinned devDependency', () => {
  const pinned = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).devDependencies.typescript;
  assert.match(pinned, /^\d+\.\d+\.\d+$/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(root, 'node_modules/typescript/package.json'), 'utf8')).version, pinned);
});

test('moduleResolution nodenext: import, the sim subpath and import = require() compile against the package', async () => {
  const files = await compile('tsconfig.nodenext.json');
  for (const f of ['index.d.ts', 'index.d.cts', 'sim/server.d.mts']) assert.ok(files.includes(`node_modules/ibkr-auth/${f}`), `${f} not used: ${files}`);
});

test('moduleResolution bundler: the consumer compiles against the package', async () => {
  const files = await compile('tsconfig.bundler.json');
  assert.deepEqual(files, ['node_modules/ibkr-auth/index.d.ts']);
});

test('a consumer that misuses the API does not compile (the check can fail)', async () => {
  fs.writeFileSync(path.join(dir, 'wrong.ts'), `import { signRequest } from 'ibkr-auth';
signRequest({ method: 'GET', url: 'https://h/p', consumerKey: 'K', accessToken: 't' });\n`);
  fs.writeFileSync(path.join(dir, 'tsconfig.wrong.json'), JSON.stringify({ extends: './tsconfig.bundler.json', files: ['wrong.ts'] }));
  const e = await run(process.execPath, [tsc, '-p', 'tsconfig.wrong.json'], { cwd: dir, encoding: 'utf8' }).then(() => null, (x) => x);
  assert.ok(e, 'tsc accepted a call without liveSessionToken');
  assert.match(e.stdout, /wrong\.ts\(2,13\): error TS2345: .*liveSessionToken/s);
});
