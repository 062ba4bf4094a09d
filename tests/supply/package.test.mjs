// The npm side of the supply chain (SECURITY.md): what `npm publish` would upload from pkg/ (as
// listed by `npm pack --dry-run`), the package's runtime dependencies and their install scripts.
// Needs a built pkg/ (make pkg); run by `make audit`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkgDir = path.join(root, 'pkg');
const manifest = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
const template = JSON.parse(fs.readFileSync(path.join(root, 'pkg-template/package.json'), 'utf8'));
const rootLock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'));

// The list npm itself computes (the `files` field, .npmignore, npm's own always/never rules).
// --ignore-scripts: the check must not run anything the package declares.
const packed = (() => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: pkgDir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [entry] = JSON.parse(out);
  return entry;
})();
const files = packed.files.map((f) => f.path).sort();
const read = (f) => fs.readFileSync(path.join(pkgDir, f));

// The only key material allowed: the simulator's throwaway, self-signed gateway certificate and
// its (public, documented) key, byte for byte the ones in sim/tls/.
const THROWAWAY_TLS = ['sim/tls/gateway-cert.pem', 'sim/tls/gateway-key.pem'];

// Every file must be one of these kinds (anchored at the package root).
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^CHANGELOG\.md$/,
  /^[\w.-]+\.(js|cjs|mjs|d\.ts|d\.cts)$/,
  /^glue\/ibkr_auth_bg\.wasm$/,
  /^glue\/[\w.-]+\.(js|cjs)$/,
  /^cli\/[\w.-]+\.(js|cjs|mjs)$/,
  /^sim\/[\w.-]+\.(mjs|d\.mts)$/,
  /^sim\/tls\/README\.md$/,
  ...THROWAWAY_TLS.map((f) => new RegExp(`^${f.replace(/[./]/g, '\\$&')}$`)),
];

// Paths of a build machine: the checkout, home folders, Cargo's and rustup's caches.
const BUILD_PATHS = [...new Set([
  '/work/', '/home/', '/root/', '/Users/', 'C:\\Users\\', '.cargo/registry', '.cargo/git/',
  '.rustup/toolchains', root + '/', os.homedir() + '/',
])];

test('npm pack lists exactly the expected kinds of files, and the entry points are among them', () => {
  assert.equal(packed.name, 'ibkr-auth');
  const unexpected = files.filter((f) => !ALLOWED.some((re) => re.test(f)));
  assert.deepEqual(unexpected, [], 'files the package should not ship');
  for (const must of ['package.json', 'README.md', 'LICENSE', 'glue/ibkr_auth_bg.wasm', ...THROWAWAY_TLS]) {
    assert.ok(files.includes(must), `${must} is missing from the package`);
  }
  // Every file package.json points at (main, module, types, bin, every exports target) is packed.
  const targets = [manifest.main, manifest.module, manifest.types, ...Object.values(manifest.bin ?? {})];
  const walk = (v) => (typeof v === 'string' ? targets.push(v) : Object.values(v ?? {}).forEach(walk));
  walk(manifest.exports);
  for (const t of targets.filter(Boolean)) {
    assert.ok(files.includes(path.posix.normalize(t)), `package.json names ${t}, which is not packed`);
  }
});

test('no Rust sources, source maps, npm or editor leftovers in the package', () => {
  const bad = files.filter((f) =>
    /\.(rs|map|ts\.map|toml|lock|tgz|log|orig|rej|swp)$/.test(f) ||
    /(^|\/)(\.npmrc|\.env[\w.]*|\.git\w*|\.DS_Store|node_modules|target|Cargo\.\w+)(\/|$)/.test(f));
  assert.deepEqual(bad, []);
  for (const f of files.filter((f) => /\.(c|m)?js$/.test(f))) {
    const text = read(f).toString('utf8');
    assert.doesNotMatch(text, /[#@]\s*sourceMappingURL=/, `${f} points at a source map`);
  }
});

test('no build-machine paths in any packed file, the .wasm included', () => {
  assert.ok(files.length > 20, 'the package lists its files');
  const found = [];
  for (const f of files) {
    // latin1: every byte maps to one char, so ASCII paths inside the binary .wasm are found too.
    const text = read(f).toString('latin1');
    for (const p of BUILD_PATHS) if (text.includes(p)) found.push(`${f}: ${p}`);
  }
  assert.deepEqual(found, []);
});

test('the .wasm names its dependencies by neutral paths (the build remaps them)', () => {
  // Panic locations inside crates are kept; the Makefile's pkg target rewrites their prefix.
  const wasm = read('glue/ibkr_auth_bg.wasm').toString('latin1');
  assert.match(wasm, /\/cargo\/registry\/src\/[^/]+\/[\w-]+-\d+\.\d+\.\d+[^/]*\/src\/\w+/,
    'a remapped crate path (the check above is not looking at the right bytes otherwise)');
});

// The throwaway certificate must be a self-signed leaf for localhost: its key is public, so were it
// a CA, trusting it would trust anything anyone signs with that key, for any name.
function checkThrowawayCertificate(cert, key) {
  assert.equal(cert.ca, false, 'the throwaway certificate must be a leaf (basicConstraints CA:FALSE), not a CA');
  // Node 20 names the extended key usages keyUsage; later versions extKeyUsage.
  assert.deepEqual(cert.extKeyUsage ?? cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extendedKeyUsage: serverAuth only');
  assert.match(cert.subject, /^O=ibkr-auth simulator\nOU=throwaway test certificate[^\n]*\nCN=localhost$/);
  assert.equal(cert.issuer, cert.subject, 'self-signed');
  assert.ok(cert.verify(cert.publicKey), 'signed by its own key');
  assert.equal(cert.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1');
  // Its names: nothing a real service answers to.
  assert.equal(cert.checkHost('api.ibkr.com'), undefined);
  assert.equal(cert.checkHost('localhost'), 'localhost');
  assert.ok(cert.checkPrivateKey(key), 'the shipped key is the certificate\'s');
}

/**
 * Signs of a private key in a file's text: a PEM private key's BEGIN line, with or without a body
 * after it (so also one in a JS string with `\n` escapes, or cut short), and a JWK's private
 * exponent (`"d":"…"`, JSON or a JS literal).
 */
function privateKeyMarks(text) {
  const marks = [];
  for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----/g)) marks.push(m[1]);
  for (const m of text.matchAll(/["']d["']\s*:\s*["']([A-Za-z0-9_-]{16,})/g)) marks.push(`JWK d ${m[1].slice(0, 4)}…`);
  return marks;
}

test('the private-key scan finds keys without a PEM body too: escaped in a JS string, cut short, a JWK', () => {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const jwk = privateKey.export({ format: 'jwk' });
  assert.deepEqual(privateKeyMarks(pem), ['PRIVATE KEY']);
  assert.deepEqual(privateKeyMarks(`const k = ${JSON.stringify(pem)};`), ['PRIVATE KEY'], 'in a JS string with \\n escapes');
  assert.deepEqual(privateKeyMarks("x = '-----BEGIN RSA PRIVATE KEY-----' + body;"), ['RSA PRIVATE KEY'], 'no body after the marker');
  assert.deepEqual(privateKeyMarks('-----BEGIN ENCRYPTED PRIVATE KEY-----'), ['ENCRYPTED PRIVATE KEY']);
  assert.equal(privateKeyMarks(JSON.stringify(jwk)).length, 1, 'a JWK private key (JSON)');
  assert.equal(privateKeyMarks(`const k = { kty: 'EC', 'd': '${jwk.d}' };`).length, 1, 'a JWK private key (a JS literal)');
  assert.deepEqual(privateKeyMarks(JSON.stringify({ ...jwk, d: undefined })), [], 'a public JWK is not one');
  assert.deepEqual(privateKeyMarks('-----BEGIN PUBLIC KEY-----\nMFkw'), []);
});

test('no private key in the package but the simulator\'s throwaway one; the certificate is its own', () => {
  const keyBody = /-----BEGIN ([A-Z0-9 ]*)-----\s*[A-Za-z0-9+/=\s]{40,}-----END \1-----/g;
  const pemFiles = [];
  const marked = [];
  for (const f of files) {
    const text = read(f).toString('latin1');
    for (const m of text.matchAll(keyBody)) pemFiles.push(`${f}: ${m[1]}`);
    for (const m of privateKeyMarks(text)) marked.push(`${f}: ${m}`);
  }
  assert.deepEqual(pemFiles.sort(), [
    'sim/tls/gateway-cert.pem: CERTIFICATE',
    'sim/tls/gateway-key.pem: PRIVATE KEY',
  ]);
  assert.deepEqual(marked.sort(), ['sim/tls/gateway-key.pem: PRIVATE KEY'], 'a private key (marker or JWK) outside the throwaway key file');
  for (const f of THROWAWAY_TLS) {
    assert.ok(read(f).equals(fs.readFileSync(path.join(root, f))), `${f} differs from the repository's`);
  }
  const cert = new crypto.X509Certificate(read('sim/tls/gateway-cert.pem'));
  checkThrowawayCertificate(cert, crypto.createPrivateKey(read('sim/tls/gateway-key.pem')));
  assert.match(read('sim/tls/README.md').toString('utf8'), /throwaway/i);
});

const LIFECYCLE = ['preinstall', 'install', 'postinstall', 'prepare', 'preprepare', 'postprepare', 'prepublish'];

test('no install scripts in the package (template and built manifest), and nothing node-gyp would build', () => {
  for (const [name, m] of [['pkg-template/package.json', template], ['pkg/package.json', manifest]]) {
    const scripts = Object.keys(m.scripts ?? {}).filter((s) => LIFECYCLE.includes(s));
    assert.deepEqual(scripts, [], `${name} declares install-time scripts`);
    assert.equal(m.gypfile, undefined, `${name} asks for node-gyp`);
  }
  assert.ok(!files.some((f) => /(^|\/)binding\.gyp$/.test(f)), 'a binding.gyp makes npm run node-gyp');
});

// A range that pins a major (exact, ^x.y.z or ~x.y.z, x >= 1 for ^): never *, latest, x, >=,
// a URL, git, a file or link. Returns [major, minor, patch, operator] or null.
function pinnedRange(spec) {
  const m = /^([\^~]?)(\d+)\.(\d+)\.(\d+)$/.exec(spec);
  return m ? [Number(m[2]), Number(m[3]), Number(m[4]), m[1]] : null;
}
function satisfies(version, spec) {
  const r = pinnedRange(spec);
  const v = /^(\d+)\.(\d+)\.(\d+)$/.exec(version)?.slice(1).map(Number);
  if (!r || !v) return false;
  const [M, m, p, op] = r;
  const cmp = v[0] - M || v[1] - m || v[2] - p;
  if (op === '') return cmp === 0;
  if (cmp < 0) return false;
  if (op === '~') return v[0] === M && v[1] === m;
  return M > 0 ? v[0] === M : m > 0 ? v[0] === 0 && v[1] === m : v[0] === 0 && v[1] === 0 && v[2] === p;
}

test('the range check accepts pins and refuses open ranges', () => {
  for (const ok of ['2.9.1', '^2.9.1', '~2.9.1']) assert.ok(pinnedRange(ok), ok);
  for (const bad of ['*', 'latest', '2', '2.x', '>=2.9.1', '^2', 'git+https://x/y.git', 'file:../y', 'link:y', 'npm:yaml@2', '']) {
    assert.equal(pinnedRange(bad), null, bad);
  }
  assert.ok(satisfies('2.9.4', '^2.9.1'));
  assert.ok(!satisfies('3.0.0', '^2.9.1'));
  assert.ok(!satisfies('2.10.0', '~2.9.1'));
  assert.ok(!satisfies('2.9.2', '2.9.1'));
});

test('runtime dependencies are pinned by range, free of install scripts, under permissive licences', () => {
  const deps = { ...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies };
  assert.deepEqual(manifest.dependencies, template.dependencies, 'pkg/ has the template\'s dependencies');
  assert.equal(manifest.bundleDependencies ?? manifest.bundledDependencies, undefined, 'nothing bundled');
  assert.ok(Object.keys(deps).length > 0, 'the package has runtime dependencies to check');
  for (const [name, spec] of Object.entries(deps)) {
    assert.ok(pinnedRange(spec), `${name}@${spec} is not pinned by range`);
  }
  // The repository's lockfile resolves them (they are also the tests' own): walk each one and
  // everything it depends on, checking the resolved version, the lock's install-script flag and
  // the installed manifest itself.
  const seen = new Set();
  const visit = (name, spec, from, fromDir) => {
    // npm nests a second version under its dependant; otherwise it sits at the top.
    const nested = `${fromDir}/node_modules/${name}`;
    const dir = fromDir && rootLock.packages[nested] ? nested : `node_modules/${name}`;
    if (seen.has(dir)) return;
    seen.add(dir);
    const entry = rootLock.packages[dir];
    assert.ok(entry, `${name} (needed by ${from}) is not in package-lock.json`);
    assert.ok(satisfies(entry.version, spec) || !pinnedRange(spec) && from !== 'ibkr-auth',
      `${name}: the lock has ${entry.version}, outside ${spec}`);
    assert.notEqual(entry.hasInstallScript, true, `${name} has an install script`);
    assert.match(entry.license ?? '', /^(MIT|ISC|Apache-2\.0|BSD-2-Clause|BSD-3-Clause|0BSD)$/, `${name}: licence ${entry.license}`);
    const installed = JSON.parse(fs.readFileSync(path.join(root, dir, 'package.json'), 'utf8'));
    assert.equal(installed.version, entry.version, `${dir} is the locked version`);
    const scripts = Object.keys(installed.scripts ?? {}).filter((s) => ['preinstall', 'install', 'postinstall'].includes(s));
    assert.deepEqual(scripts, [], `${name} declares install scripts`);
    assert.ok(!fs.existsSync(path.join(root, dir, 'binding.gyp')), `${name} has a binding.gyp`);
    for (const [dep, depSpec] of Object.entries({ ...installed.dependencies, ...installed.optionalDependencies })) {
      visit(dep, depSpec, name, dir);
    }
  };
  for (const [name, spec] of Object.entries(deps)) visit(name, spec, 'ibkr-auth', '');
});

test('publish metadata: name, version from Cargo.toml, licence, engines, nothing private or redirected', () => {
  const cargoVersion = /^version = "([^"]+)"/m.exec(fs.readFileSync(path.join(root, 'Cargo.toml'), 'utf8'))[1];
  assert.equal(manifest.name, 'ibkr-auth');
  assert.equal(manifest.version, cargoVersion);
  assert.equal(packed.version, cargoVersion);
  assert.equal(manifest.license, 'MIT');
  assert.match(read('LICENSE').toString('utf8'), /^MIT License/);
  assert.notEqual(manifest.private, true);
  assert.equal(manifest.publishConfig, undefined, 'no publishConfig (registry, tag or access) overrides');
  assert.ok(Array.isArray(manifest.files) && manifest.files.length > 0, 'an allow-list of files');
  assert.match(manifest.engines?.node ?? '', /^>=\d+\.\d+/);
  assert.ok(manifest.description?.length > 20);
  // Unpacked size: the .wasm dominates; a sudden jump means something unintended got in.
  assert.ok(packed.unpackedSize < 4 * 1024 * 1024, `unpacked size ${packed.unpackedSize}`);
});
