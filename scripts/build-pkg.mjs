// Assembles the npm package in pkg/ from the wasm-bindgen outputs in target/bindgen/ and the
// hand-written files in pkg-template/. One .wasm serves every runtime; the entry file of each
// runtime (pkg-template/entries/) is checked against the glue's real export list, so a new Rust
// export cannot be forgotten in one runtime. Usage: node scripts/build-pkg.mjs <optimised.wasm>
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const wasmPath = path.resolve(process.argv[2] ?? path.join(root, 'target/bindgen/web/ibkr_auth_bg.wasm'));
const bindgen = path.join(root, 'target/bindgen');
const tpl = path.join(root, 'pkg-template');
const out = path.join(root, 'pkg');

const read = (p) => fs.readFileSync(p, 'utf8');
const escapeRe = (s) => s.replace(/[$.*+?^()[\]{}|\\]/g, '\\$&');

// The error codes' one source is the Rust enum.
const ERROR_RS = ['crates/core/src/error.rs'];
const ERROR_CODES_MARKER = '/* ERROR_CODES: written here by scripts/build-pkg.mjs from the Rust ErrorCode enum\'s codes */';
// Codes that only JavaScript (pkg-template/) throws, never the Rust core. None today: gateway.cjs
// and gateway-login.cjs throw codes the enum has (LOCKED_OUT is declared there although only
// gateway-login.cjs throws it, so the list keeps one source). A new JS-only code goes here (and in
// the README's table); the build fails on an IbkrAuthError code in pkg-template/ that is in neither
// list. (The CLI's --json failure codes `usage`, `configuration` and `ERROR`, and the gateway
// commands' own codes — JAVA_MISSING, BAD_TOKEN, … — are not IbkrAuthError codes; the README's
// command-line section lists them.)
const JS_ONLY_ERROR_CODES = [];

/** The Rust ErrorCode enum's codes, in declaration order, from its `as_str` arms. */
function rustErrorCodes() {
  const found = ERROR_RS.filter((rel) => fs.existsSync(path.join(root, rel)) && /\bpub enum ErrorCode\b/.test(read(path.join(root, rel))));
  if (found.length !== 1) fail(`the Rust ErrorCode enum must be in exactly one of ${ERROR_RS.join(', ')} (found in ${found.length})`);
  const rel = found[0];
  const rs = read(path.join(root, rel)).replace(/\/\/.*$/gm, '');
  const body = rs.match(/\bpub enum ErrorCode\s*\{([^}]*)\}/)?.[1] ?? fail(`${rel}: cannot read the ErrorCode enum`);
  const variants = [...body.matchAll(/(?:#\[[^\]]*\]\s*)*([A-Z]\w*)\s*(?:,|$)/g)].map((m) => m[1]);
  const asStr = rs.slice(rs.search(/\bfn as_str\b/));
  if (!rs.match(/\bfn as_str\b/)) fail(`${rel}: ErrorCode has no as_str`);
  const arms = new Map();
  for (const [, v, code] of asStr.slice(0, asStr.indexOf('\n    }')).matchAll(/ErrorCode::(\w+)\s*=>\s*"([^"]*)"/g)) {
    if (arms.has(v)) fail(`${rel}: ErrorCode::${v} has two as_str arms`);
    arms.set(v, code);
  }
  if (!variants.length) fail(`${rel}: the ErrorCode enum has no variants`);
  const codes = variants.map((v) => arms.get(v) ?? fail(`${rel}: ErrorCode::${v} has no "CODE" arm in as_str`));
  for (const v of arms.keys()) if (!variants.includes(v)) fail(`${rel}: as_str names ErrorCode::${v}, which the enum does not declare`);
  for (const c of codes) if (!/^[A-Z][A-Z0-9_]*$/.test(c)) fail(`${rel}: error code ${JSON.stringify(c)} is not UPPER_SNAKE_CASE`);
  if (new Set(codes).size !== codes.length) fail(`${rel}: two ErrorCode variants share a code`);
  for (const c of JS_ONLY_ERROR_CODES) if (codes.includes(c)) fail(`${c} is in JS_ONLY_ERROR_CODES and in ${rel}: remove it from JS_ONLY_ERROR_CODES`);
  return codes;
}

/** Every IbkrAuthError code the hand-written JS throws or tests for must be in the list. */
function checkThrownCodes(codes) {
  const files = fs.readdirSync(tpl, { recursive: true }).filter((f) => /\.(c|m)?js$/.test(f));
  for (const f of files) {
    const text = read(path.join(tpl, f));
    const used = [
      ...[...text.matchAll(/\bIbkrAuthError\(\s*'([^']*)'/g)].map((m) => m[1]),
      ...[...text.matchAll(/\.code\s*===?\s*'([^']*)'/g)].map((m) => m[1]),
      ...[...text.matchAll(/CONFIG_CODES = new Set\(\[([^\]]*)\]/g)].flatMap((m) => [...m[1].matchAll(/'([^']*)'/g)].map((c) => c[1])),
    ];
    for (const c of used) if (!codes.includes(c)) fail(`pkg-template/${f} uses the error code ${c}, which is neither the Rust ErrorCode enum's nor in JS_ONLY_ERROR_CODES (scripts/build-pkg.mjs)`);
  }
}

// The names an ES module exports, read from its export statements (the entries are plain:
// `export { a, b } [from '...']`, `export const|function|class x`, `export default`). Anything
// else that starts with `export` fails the build rather than being misread.
function esmExports(text, file) {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const exported = new Set();
  const fromGlue = [];
  for (const m of code.matchAll(/^\s*export\b[^;]*;/gm)) {
    const stmt = m[0].trim();
    let g;
    if ((g = stmt.match(/^export\s*\{([^}]*)\}\s*(?:from\s*(['"])([^'"]+)\2)?\s*;$/))) {
      for (const part of g[1].split(',').map((p) => p.trim()).filter(Boolean)) {
        const [, local, as] = part.match(/^([\w$]+)(?:\s+as\s+([\w$]+))?$/) ?? fail(`${file}: cannot read "${part}" in ${stmt}`);
        exported.add(as ?? local);
        if (g[3] === './glue/web.js') fromGlue.push(local);
      }
    } else if ((g = stmt.match(/^export\s+(?:const|let|var|function|class)\s+([\w$]+)/))) exported.add(g[1]);
    else if (/^export\s+default\b/.test(stmt)) exported.add('default');
    else fail(`${file}: cannot read the export statement ${JSON.stringify(stmt.slice(0, 60))}`);
  }
  const statements = (code.match(/^\s*export\b/gm) ?? []).length;
  const closed = (code.match(/^\s*export\b[^;]*;/gm) ?? []).length;
  if (statements !== closed) fail(`${file}: ${statements - closed} export statement(s) without a closing semicolon`);
  return { exported, fromGlue };
}
const write = (rel, text) => fs.writeFileSync(path.join(out, rel), text);
const fail = (msg) => { console.error(`build-pkg: ${msg}`); process.exit(1); };

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'glue'), { recursive: true });

// Glue: both targets load glue/ibkr_auth_bg.wasm (Node by __dirname, web by import.meta.url).
const stripSelfTypes = (s) => s.replace(/^\/\* @ts-self-types=.*\*\/\n/m, '');
const wasmModule = new WebAssembly.Module(fs.readFileSync(wasmPath));
const wasmModules = [...new Set(WebAssembly.Module.imports(wasmModule).map((i) => i.module))];
if (wasmModules.length !== 1) fail(`the .wasm imports from ${wasmModules.length} modules; the glue has one import object`);
const nodeGlue = stripSelfTypes(read(path.join(bindgen, 'node/ibkr_auth.js')));
const webGlue = stripSelfTypes(read(path.join(bindgen, 'web/ibkr_auth.js')));
if (!nodeGlue.includes('${__dirname}/ibkr_auth_bg.wasm')) fail('node glue no longer loads ${__dirname}/ibkr_auth_bg.wasm');
if (!webGlue.includes("new URL('ibkr_auth_bg.wasm', import.meta.url)")) fail('web glue no longer loads ibkr_auth_bg.wasm by URL');
write('glue/node.cjs', nodeGlue);
write('glue/web.js', webGlue);
fs.copyFileSync(wasmPath, path.join(out, 'glue/ibkr_auth_bg.wasm'));
{
  // Every import the .wasm asks for must be in the glue's import object, and every export the
  // glue uses must exist: a rename that missed a name fails here, not at instantiation.
  const exported = new Set(WebAssembly.Module.exports(wasmModule).map((e) => e.name));
  for (const [name, glue] of [['node', nodeGlue], ['web', webGlue]]) {
    for (const i of WebAssembly.Module.imports(wasmModule)) {
      if (!glue.includes(`"${i.module}": import`) || !new RegExp(`^ {8}${escapeRe(i.name)}: function`, 'm').test(glue)) fail(`${name} glue does not provide import ${i.module}.${i.name}`);
    }
    for (const [, e] of glue.matchAll(/\bwasm\.([\w$]+)/g)) if (!exported.has(e)) fail(`${name} glue uses wasm.${e}, which the .wasm does not export`);
  }
}

// The public names are the glue's exports, less internals (__*) and the web loader's own.
const glueExports = Object.keys(createRequire(import.meta.url)(path.join(out, 'glue/node.cjs')));
const names = glueExports.filter((n) => !n.startsWith('__')).sort();
const webNames = [...webGlue.matchAll(/^export (?:function|class) (\w+)/gm)].map((m) => m[1]).filter((n) => !n.startsWith('__') && n !== 'initSync');
if (names.join() !== webNames.sort().join()) fail(`node and web glue export different names:\n${names}\n${webNames}`);
const dts = read(path.join(tpl, 'index.d.ts'));
for (const n of names) if (!dts.includes(`function ${n}(`) && !dts.includes(`class ${n} `)) fail(`index.d.ts has no declaration for ${n}`);
const extra = ['IbkrAuthError', 'ERROR_CODES'];
const all = [...extra, ...names];

// Error codes: one list, the Rust ErrorCode enum's codes (as_str, in declaration order), then the
// codes only JavaScript throws. ERROR_CODES (errors.js) and the IbkrAuthErrorCode union
// (index.d.ts) are written from it at the marker; tests/js/error-codes.test.mjs checks the built
// package and the README's table against the Rust file.
const codes = [...rustErrorCodes(), ...JS_ONLY_ERROR_CODES];
checkThrownCodes(codes);
const wrap = (items, indent, last = '') => {
  const lines = [];
  for (const item of items) {
    if (lines.length && `${lines.at(-1)} ${item}`.length <= 100) lines[lines.length - 1] += ` ${item}`;
    else lines.push(`${indent}${item}`);
  }
  return `${lines.join('\n')}${last}`;
};
const atMarker = (text, file, generated) => {
  const lines = text.split('\n');
  const at = lines.flatMap((l, i) => (l.includes(ERROR_CODES_MARKER) ? [i] : []));
  if (at.length !== 1) fail(`pkg-template/${file} must hold ${ERROR_CODES_MARKER} on one line (found ${at.length})`);
  lines[at[0]] = generated;
  return lines.join('\n');
};
const dtsOut = atMarker(dts, 'index.d.ts', wrap(codes.map((c) => `| '${c}'`), '  ', ';'));

// Errors: one source (ESM), and its CommonJS twin for the Node entry.
const errorsEsm = atMarker(read(path.join(tpl, 'errors.js')), 'errors.js', wrap(codes.map((c) => `'${c}',`), '  '));
write('errors.js', errorsEsm);
write('errors.cjs', `'use strict';\n${errorsEsm.replace(/^export /gm, '')}\nmodule.exports = { ${extra.join(', ')} };\n`);

// Token stores: one source (ESM, pkg-template/stores.js), and its CommonJS twin for the Node
// entry, written the same way. Its one import is errors.js, which becomes errors.cjs.
const storeNames = ['memoryStore', 'redisStore', 'kvStore', 'durableObjectStore', 'TokenStoreObject'];
const nodeOnlyStores = ['fileStore'];
{
  const esm = read(path.join(tpl, 'stores.js'));
  const imports = esm.match(/^import\b.*$/gm) ?? [];
  const errorsImport = "import { IbkrAuthError } from './errors.js';";
  if (imports.length !== 1 || imports[0] !== errorsImport) fail(`pkg-template/stores.js must import exactly ${errorsImport} (its CommonJS twin is generated from it)`);
  const exported = [...esm.matchAll(/^export (?:async )?(?:function|class|const) (\w+)/gm)].map((m) => m[1]);
  if (exported.slice().sort().join() !== storeNames.slice().sort().join()) fail(`pkg-template/stores.js exports ${exported.join(', ')}; build-pkg.mjs's storeNames are ${storeNames.join(', ')}: make them equal`);
  if (/^export\b(?! (?:async )?(?:function|class|const) )/m.test(esm)) fail('pkg-template/stores.js: only `export function|class|const` statements are turned into CommonJS');
  for (const n of [...storeNames, ...nodeOnlyStores]) if (!dts.includes(`function ${n}(`) && !dts.includes(`class ${n} `)) fail(`index.d.ts has no declaration for ${n}`);
  write('stores.js', esm);
  write('stores.cjs', `'use strict';\n${esm.replace(errorsImport, "const { IbkrAuthError } = require('./errors.cjs');").replace(/^export /gm, '')}\nmodule.exports = { ${storeNames.join(', ')} };\n`);
}

// The streaming WebSocket's stream object: one source (ESM, pkg-template/websocket.js) and its
// CommonJS twin, as the stores. Every entry exports IbkrStream and installs session.websocket().
const streamNames = ['IbkrStream'];
{
  const esm = read(path.join(tpl, 'websocket.js'));
  const imports = esm.match(/^import\b.*$/gm) ?? [];
  const errorsImport = "import { IbkrAuthError } from './errors.js';";
  if (imports.length !== 1 || imports[0] !== errorsImport) fail(`pkg-template/websocket.js must import exactly ${errorsImport} (its CommonJS twin is generated from it)`);
  const exported = [...esm.matchAll(/^export (?:function|class|const) (\w+)/gm)].map((m) => m[1]);
  if (exported.join() !== streamNames.join()) fail(`pkg-template/websocket.js exports ${exported.join(', ')}; build-pkg.mjs's streamNames are ${streamNames.join(', ')}`);
  if (/^export\b(?! (?:function|class|const) )/m.test(esm)) fail('pkg-template/websocket.js: only `export function|class|const` statements are turned into CommonJS');
  for (const n of streamNames) if (!dts.includes(`class ${n} `)) fail(`index.d.ts has no declaration for ${n}`);
  write('websocket.js', esm);
  write('websocket.cjs', `'use strict';\n${esm.replace(errorsImport, "const { IbkrAuthError } = require('./errors.cjs');").replace(/^export /gm, '')}\nmodule.exports = { ${streamNames.join(', ')} };\n`);
}

// The entry files, one per runtime, are hand-written (pkg-template/entries/) and copied as they
// are; the checks below make sure each re-exports every public glue export, so a new Rust export
// cannot be forgotten in one runtime.
fs.copyFileSync(path.join(tpl, 'gateway.cjs'), path.join(out, 'gateway.cjs'));
fs.copyFileSync(path.join(tpl, 'gateway-login.cjs'), path.join(out, 'gateway-login.cjs'));
fs.copyFileSync(path.join(tpl, 'file-store.cjs'), path.join(out, 'file-store.cjs'));
const nodeOnly = ['gatewayFetch', 'gatewayCertificate', 'gatewayLogin', 'loginGuard', ...nodeOnlyStores];
const entries = {
  'node.cjs': [...all, ...storeNames, ...streamNames, ...nodeOnly],
  'node.mjs': ['default', ...all, ...storeNames, ...streamNames, ...nodeOnly],
  'browser.js': [...all, ...storeNames, ...streamNames],
  'workerd.js': [...all, ...storeNames, ...streamNames],
};
const entryDir = path.join(tpl, 'entries');
const unexpected = fs.readdirSync(entryDir).filter((f) => !(f in entries));
if (unexpected.length) fail(`pkg-template/entries/ has ${unexpected.join(', ')}, which build-pkg.mjs does not know (add it to \`entries\` with what it must export)`);
for (const f of Object.keys(entries)) {
  if (!fs.existsSync(path.join(entryDir, f))) fail(`pkg-template/entries/${f} is missing`);
  fs.copyFileSync(path.join(entryDir, f), path.join(out, f));
}
{
  const compare = (file, got, { from = [], glueNames } = {}) => {
    const want = new Set(entries[file]);
    const missing = [...want].filter((n) => !got.has(n));
    const extra = [...got].filter((n) => !want.has(n));
    const unknown = glueNames ? from.filter((n) => !glueNames.has(n)) : [];
    if (missing.length || extra.length || unknown.length) {
      fail(`pkg-template/entries/${file} does not export what the glue does:`
        + (missing.length ? `\n  missing: ${missing.join(', ')} (add each to pkg-template/entries/${file})` : '')
        + (extra.length ? `\n  not in the glue: ${extra.join(', ')}` : '')
        + (unknown.length ? `\n  re-exported from the glue, which has no such export: ${unknown.join(', ')}` : ''));
    }
  };
  // Node: load them, as a user does; every export must have a value, the glue's own.
  const req = createRequire(import.meta.url);
  const glue = req(path.join(out, 'glue/node.cjs'));
  const cjs = req(path.join(out, 'node.cjs'));
  compare('node.cjs', new Set(Object.keys(cjs)));
  for (const n of names) if (cjs[n] !== glue[n]) fail(`pkg-template/entries/node.cjs: ${n} is not the glue's ${n}`);
  for (const n of entries['node.cjs']) if (cjs[n] === undefined) fail(`pkg-template/entries/node.cjs: ${n} is undefined`);
  const esm = await import(pathToFileURL(path.join(out, 'node.mjs')).href);
  compare('node.mjs', new Set(Object.keys(esm)));
  for (const n of entries['node.cjs']) if (esm[n] !== cjs[n]) fail(`pkg-template/entries/node.mjs: ${n} is not node.cjs's ${n}`);
  // Browsers and workerd cannot be loaded here (they fetch or import the .wasm): their export
  // statements are read. Every name re-exported from the glue must be one the web glue has.
  const webGlueNames = new Set([...webGlue.matchAll(/^export (?:function|class) (\w+)/gm)].map((m) => m[1]));
  for (const f of ['browser.js', 'workerd.js']) {
    const { exported, fromGlue } = esmExports(read(path.join(out, f)), f);
    compare(f, exported, { from: fromGlue, glueNames: webGlueNames });
  }
}

// The simulator, for users' own offline tests (Node only): ibkr-auth/sim.
fs.mkdirSync(path.join(out, 'sim'));
for (const f of fs.readdirSync(path.join(root, 'sim'))) if (f.endsWith('.mjs')) fs.copyFileSync(path.join(root, 'sim', f), path.join(out, 'sim', f));
fs.copyFileSync(path.join(tpl, 'sim.d.ts'), path.join(out, 'sim', 'server.d.mts'));
// The simulated gateway's throwaway self-signed certificate (HTTPS needs one; Node cannot mint it).
fs.cpSync(path.join(root, 'sim', 'tls'), path.join(out, 'sim', 'tls'), { recursive: true });

// The command line (Node): `ibkr-auth` (package.json "bin").
fs.cpSync(path.join(tpl, 'cli'), path.join(out, 'cli'), { recursive: true });
fs.chmodSync(path.join(out, 'cli', 'main.js'), 0o755);

write('index.d.ts', dtsOut);
write('index.d.cts', dtsOut);

const version = read(path.join(root, 'Cargo.toml')).match(/^version = "([^"]+)"/m)?.[1] ?? fail('no version in Cargo.toml');
const pkgJson = JSON.parse(read(path.join(tpl, 'package.json')));
// The package's runtime dependencies (the CLI's `yaml`) are pinned, and to the very version the
// repository's tests run (root package.json): what is tested is what ships.
const devDeps = JSON.parse(read(path.join(root, 'package.json'))).devDependencies ?? {};
for (const [dep, version] of Object.entries(pkgJson.dependencies ?? {})) {
  if (!/^\d+\.\d+\.\d+$/.test(version)) fail(`pkg-template/package.json: dependency ${dep} must be pinned to one version, not ${version}`);
  if (devDeps[dep] !== version) fail(`pkg-template/package.json has ${dep} ${version}, the root package.json's devDependencies ${devDeps[dep] ?? 'none'}: make them equal`);
}
pkgJson.version = version;
write('package.json', `${JSON.stringify(pkgJson, null, 2)}\n`);
fs.copyFileSync(path.join(tpl, 'README.md'), path.join(out, 'README.md'));
fs.copyFileSync(path.join(root, 'LICENSE'), path.join(out, 'LICENSE'));
fs.copyFileSync(path.join(root, 'CHANGELOG.md'), path.join(out, 'CHANGELOG.md'));

const wasm = fs.readFileSync(path.join(out, 'glue/ibkr_auth_bg.wasm'));
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
const gz = zlib.gzipSync(wasm, { level: 9 }).length;
const br = zlib.brotliCompressSync(wasm, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
console.log(`pkg/ ibkr-auth@${version}: ${all.length} exports`);
console.log(`wasm size: ${kb(wasm.length)} raw, ${kb(gz)} gzip, ${kb(br)} brotli (${wasm.length} / ${gz} / ${br} bytes)`);
