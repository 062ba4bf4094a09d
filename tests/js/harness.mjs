// Node-side helpers shared by the JS, browser and workerd tests: the data the conformance suite
// needs, and the packed package installed from its tarball into a scratch project.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const testsDir = path.join(root, 'tests');

/** Everything runConformance reads: the vectors, the bad-input table and the files they name. */
export function loadData() {
  const read = (rel) => fs.readFileSync(path.join(testsDir, rel), 'utf8');
  const table = JSON.parse(read('bad_inputs.json'));
  const names = new Set(Object.values(table.inputs).filter((i) => i.file).map((i) => i.file));
  for (const f of ['vectors/oauth1a/private_signature.pk8.pem', 'vectors/oauth1a/private_encryption.pk8.pem',
    'vectors/oauth1a/public_signature.pem', 'fixtures/rsa3072.pk8.pem', 'fixtures/rsa3072.pub.pem',
    'fixtures/rsa4096.pem', 'fixtures/rsa4096.pub.pem']) names.add(f);
  const oauth2 = JSON.parse(read('vectors/oauth2/vectors.json'));
  for (const sc of oauth2.scenarios) for (const r of sc.requests) if (r.jwt_file) names.add(`vectors/oauth2/${r.jwt_file}`);
  names.add('vectors/oauth2/private_key_pkcs1.pem');
  const files = Object.fromEntries([...names].map((f) => [f, read(f)]));
  return { vectors: JSON.parse(read('vectors/oauth1a/vectors.json')), oauth2, table, files };
}

/** OpenSSL (node:crypto) checks our RSA-SHA256 signatures: an independent verifier. */
export function nodeVerifyRsa(publicPem, text, signatureB64) {
  return crypto.verify('sha256', Buffer.from(text), publicPem, Buffer.from(signatureB64, 'base64'));
}

/** `npm pack ./pkg`, then `npm install` of the tarball into a fresh scratch project. */
export function installPackedPackage(name = 'scratch') {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `ibkr-auth-${name}-`));
  const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const packed = JSON.parse(npm(['pack', path.join(root, 'pkg'), '--json', '--pack-destination', work], root));
  const tarball = path.join(work, packed[0].filename);
  const project = path.join(work, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'scratch', private: true, version: '1.0.0' }));
  npm(['install', tarball, '--no-audit', '--no-fund', '--offline', '--loglevel=error'], project);
  return { project, tarball, packed: packed[0], installed: path.join(project, 'node_modules/ibkr-auth') };
}

/** Debian's headless Chromium through playwright-core, with the flags this closed network needs
 * (and `args`, a test's own, after them). */
export async function launchChromium({ args = [] } = {}) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic', ...args],
  });
}
