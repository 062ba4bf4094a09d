// Assembles the npm package in pkg/ from the wasm-bindgen outputs in target/bindgen/ and the
// hand-written files in pkg-template/. One .wasm serves every runtime; the entry files are
// generated from the glue's real export list, so a new Rust export cannot be forgotten in one
// runtime. Usage: node scripts/build-pkg.mjs <optimised.wasm> [names.json]
// names.json is wasm-opt's --minify-imports-and-exports-and-modules mapping: the .wasm's import,
// export and module names were shortened, and the glue is rewritten to match.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const wasmPath = path.resolve(process.argv[2] ?? path.join(root, 'target/bindgen/web/ibkr_auth_bg.wasm'));
const bindgen = path.join(root, 'target/bindgen');
const tpl = path.join(root, 'pkg-template');
const out = path.join(root, 'pkg');

const read = (p) => fs.readFileSync(p, 'utf8');
const escapeRe = (s) => s.replace(/[$.*+?^()[\]{}|\\]/g, '\\$&');

// The glue refers to the .wasm's names in three places: the keys of its import object (one
// object, under the module name), that module name, and `wasm.<export>` accesses. wasm-opt prints
// its mapping as JSON (once per run of the pass; the first is the rename).
function minifiedNames(text, newModule) {
  let map;
  try {
    map = JSON.parse(text.slice(0, text.indexOf('\n}') + 2));
  } catch {
    fail(`${namesPath} is not wasm-opt's name mapping (JSON with imports and exports)`);
  }
  const imports = new Map(map.imports.map(([, from, to]) => [from, to]));
  const exports = new Map(map.exports.map(([from, to]) => [from, to]));
  const modules = new Set(map.imports.map(([m]) => m));
  return (glue) => {
    let g = glue.replace(/^( {8})([\w$]+): function/gm, (all, indent, n) => (imports.has(n) ? `${indent}${imports.get(n)}: function` : all));
    for (const m of modules) g = g.replace(`"${m}": import0`, `"${newModule}": import0`);
    return g.replace(/\bwasm\.([\w$]+)/g, (all, n) => (exports.has(n) ? `wasm.${exports.get(n)}` : all));
  };
}
const write = (rel, text) => fs.writeFileSync(path.join(out, rel), text);
const fail = (msg) => { console.error(`build-pkg: ${msg}`); process.exit(1); };

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'glue'), { recursive: true });

// Glue: both targets load glue/ibkr_auth_bg.wasm (Node by __dirname, web by import.meta.url).
const stripSelfTypes = (s) => s.replace(/^\/\* @ts-self-types=.*\*\/\n/m, '');
const namesPath = process.argv[3];
const wasmModule = new WebAssembly.Module(fs.readFileSync(wasmPath));
const wasmModules = [...new Set(WebAssembly.Module.imports(wasmModule).map((i) => i.module))];
if (wasmModules.length !== 1) fail(`the .wasm imports from ${wasmModules.length} modules; the glue has one import object`);
const renamed = namesPath ? minifiedNames(read(namesPath), wasmModules[0]) : (s) => s;
const nodeGlue = renamed(stripSelfTypes(read(path.join(bindgen, 'node/ibkr_auth.js'))));
const webGlue = renamed(stripSelfTypes(read(path.join(bindgen, 'web/ibkr_auth.js'))));
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

// Errors: one source (ESM), and its CommonJS twin for the Node entry.
const errorsEsm = read(path.join(tpl, 'errors.js'));
write('errors.js', errorsEsm);
write('errors.cjs', `'use strict';\n${errorsEsm.replace(/^export /gm, '')}\nmodule.exports = { ${extra.join(', ')} };\n`);

const header = '// Generated by scripts/build-pkg.mjs. Do not edit.\n';
const list = (indent, fmt) => names.map((n) => indent + fmt(n)).join('\n');

// Node, CommonJS: loads the wasm synchronously, so require() and import both work. Node also
// gets the gateway certificate helpers.
fs.copyFileSync(path.join(tpl, 'gateway.cjs'), path.join(out, 'gateway.cjs'));
const nodeOnly = ['gatewayFetch', 'gatewayCertificate'];
write('node.cjs', `${header}'use strict';
const glue = require('./glue/node.cjs');
const { IbkrAuthError, ERROR_CODES } = require('./errors.cjs');
const { gatewayFetch, gatewayCertificate } = require('./gateway.cjs');
glue.__setErrorClass(IbkrAuthError);
module.exports = {
  IbkrAuthError,
  ERROR_CODES,
  gatewayFetch,
  gatewayCertificate,
${list('  ', (n) => `${n}: glue.${n},`)}
};
`);
// Node, ESM: the same instance and the same IbkrAuthError class as require() gets. Loaded with
// require() rather than \`import\`: Node's ESM loader would first scan the CommonJS files for
// export names (~1 ms of a cold start) that the named exports below do not need.
write('node.mjs', `${header}import { createRequire } from 'node:module';
const api = createRequire(import.meta.url)('./node.cjs');
export default api;
${[...all, ...nodeOnly].map((n) => `export const ${n} = api.${n};`).join('\n')}
`);
// Browsers and workerd share the web glue; only how the .wasm is instantiated differs.
const webEntry = (comment, load) => `${header}// ${comment}
import init, { initSync, __setErrorClass } from './glue/web.js';
import { IbkrAuthError, ERROR_CODES } from './errors.js';
${load}
__setErrorClass(IbkrAuthError);
export { IbkrAuthError, ERROR_CODES };
export {
${list('  ', (n) => `${n},`)}
} from './glue/web.js';
`;
write('browser.js', webEntry('Browsers and bundlers: fetch and instantiate the .wasm once, at import.', 'await init();'));
write('workerd.js', webEntry('Cloudflare Workers: Workers refuse to compile wasm from bytes, so the .wasm is imported as a module.',
  "import wasmModule from './glue/ibkr_auth_bg.wasm';\ninitSync({ module: wasmModule });"));

// The simulator, for users' own offline tests (Node only): ibkr-auth/sim.
fs.mkdirSync(path.join(out, 'sim'));
for (const f of fs.readdirSync(path.join(root, 'sim'))) if (f.endsWith('.mjs')) fs.copyFileSync(path.join(root, 'sim', f), path.join(out, 'sim', f));
fs.copyFileSync(path.join(tpl, 'sim.d.ts'), path.join(out, 'sim', 'server.d.mts'));
// The simulated gateway's throwaway self-signed certificate (HTTPS needs one; Node cannot mint it).
fs.cpSync(path.join(root, 'sim', 'tls'), path.join(out, 'sim', 'tls'), { recursive: true });

// The command line (Node): `ibkr-auth` (package.json "bin").
fs.cpSync(path.join(tpl, 'cli'), path.join(out, 'cli'), { recursive: true });
fs.chmodSync(path.join(out, 'cli', 'main.js'), 0o755);

fs.copyFileSync(path.join(tpl, 'index.d.ts'), path.join(out, 'index.d.ts'));
fs.copyFileSync(path.join(tpl, 'index.d.ts'), path.join(out, 'index.d.cts'));

const version = read(path.join(root, 'Cargo.toml')).match(/^version = "([^"]+)"/m)?.[1] ?? fail('no version in Cargo.toml');
const pkgJson = JSON.parse(read(path.join(tpl, 'package.json')));
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
