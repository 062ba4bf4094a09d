// `make www`: serves www/dist and, on the same origin, the IBKR simulator with the demo keys,
// on 127.0.0.1. Prints the URL. `node www/serve.mjs [--port N]`.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Simulator } from '../sim/server.mjs';
import { demoMaterial } from './demo.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png' };

/** Starts the site + simulator; resolves to { url, sim, close() }. */
export async function startWww({ port = 0, dist = path.join(here, 'dist') } = {}) {
  const sim = new Simulator({ ...demoMaterial().sim, rateLimits: false });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/v1/') || url.pathname.startsWith('/__sim/') || url.pathname === '/authorize') return sim.handle(req, res);
    const file = path.join(dist, path.normalize(url.pathname === '/' ? '/index.html' : url.pathname));
    if (!file.startsWith(dist) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return undefined;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(fs.readFileSync(file));
    return undefined;
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  sim.mountedAt(url);
  return { url, sim, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--port');
  const { url } = await startWww({ port: i > 0 ? Number(process.argv[i + 1]) : 8080 });
  console.log(`ibkr-auth signature demo: ${url}/  (the simulator answers on the same origin; Ctrl-C to stop)`);
}
