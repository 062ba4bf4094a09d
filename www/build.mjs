// `make www-dist`: the static site in www/dist — the page, the package's browser build, and the
// demo material (the test vectors' throwaway keys, with the vectors' DH answer so that a real live
// session token is computed and checked without any server).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoMaterial } from './demo.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'www/dist');
const pkg = path.join(root, 'pkg');
if (!fs.existsSync(path.join(pkg, 'browser.js'))) throw new Error('pkg/ is not built: run make pkg first');

fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(path.join(dist, 'pkg/glue'), { recursive: true });
for (const f of fs.readdirSync(path.join(root, 'www/src'))) fs.copyFileSync(path.join(root, 'www/src', f), path.join(dist, f));
for (const f of ['browser.js', 'errors.js', 'stores.js', 'websocket.js', 'glue/web.js', 'glue/ibkr_auth_bg.wasm']) fs.copyFileSync(path.join(pkg, f), path.join(dist, 'pkg', f));

fs.writeFileSync(path.join(dist, 'demo.json'), JSON.stringify(demoMaterial().page, null, 1));
const size = fs.readdirSync(dist, { recursive: true }).filter((f) => fs.statSync(path.join(dist, f)).isFile()).length;
console.log(`www/dist: ${size} files`);
