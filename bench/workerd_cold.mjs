// The cold path inside Cloudflare's own runtime (workerd, from npm), the way a Worker meets it:
// the isolate starts (the package's .wasm compiled and instantiated as the Worker loads), then the
// first request parses the keys, decrypts the secret, runs the handshake against IBKR (a fake
// IBKR server in this process, over loopback HTTP) and signs one header.
//
// CPU is read from the kernel's per-thread accounting of the workerd process (microseconds;
// /proc/…/stat only counts 10 ms ticks): its main thread, which runs the Worker's JavaScript and
// WebAssembly, and all its threads (V8's background compilers and garbage collector too). A
// trivial request's CPU is subtracted from the request's. Startup is compared with a Worker that
// does not import the package. Prints JSON: medians of `runs` fresh workerd processes.
//
//   node bench/workerd_cold.mjs [runs]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fakeIbkr, root, user } from './common.mjs';

const runs = Number(process.argv[2] ?? 5);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU ms of a process so far: `[main thread, all threads]`. */
function cpuOf(pid) {
  let main = 0;
  let all = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let text;
    try {
      text = fs.readFileSync(`/proc/${pid}/task/${tid}/sched`, 'utf8');
    } catch {
      continue; // the thread ended between the listing and the read
    }
    const ms = Number(/se\.sum_exec_runtime\s*:\s*([0-9.]+)/.exec(text)?.[1]);
    if (!Number.isFinite(ms)) throw new Error(`no sum_exec_runtime in /proc/${pid}/task/${tid}/sched`);
    all += ms;
    if (Number(tid) === pid) main = ms;
  }
  return [main, all];
}

const freePort = () => new Promise((resolve) => {
  const s = http.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});

// The fake IBKR, as an HTTP server the Worker's fetch reaches on loopback.
const fake = fakeIbkr();
const server = http.createServer(async (req, res) => {
  const r = await fake.fetch(`${user.baseUrl}${req.url}`, { method: req.method, headers: { Authorization: req.headers.authorization } });
  res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text());
}).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const serverPort = server.address().port;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-auth-bench-workerd-'));
const files = ['workerd.js', 'errors.js', 'stores.js', 'websocket.js', 'glue/web.js', 'glue/ibkr_auth_bg.wasm'];
for (const f of files) {
  fs.mkdirSync(path.dirname(path.join(dir, 'p', f)), { recursive: true });
  fs.copyFileSync(path.join(root, 'pkg', f), path.join(dir, 'p', f));
}
fs.writeFileSync(path.join(dir, 'user.json'), JSON.stringify(user));
fs.writeFileSync(path.join(dir, 'worker.js'), `
import { IbkrSession } from './p/workerd.js';
import user from './user.json';
// The session's fetch goes to the fake IBKR on loopback; what is signed is IBKR's own URL.
const toFake = (url, init) => fetch('http://127.0.0.1:${serverPort}' + new URL(url).pathname, init);
export default {
  async fetch(request) {
    if (new URL(request.url).pathname !== '/cold') return new Response('ok');
    const session = IbkrSession.oauth1({ ...user, fetch: toFake, pacing: false });
    await session.liveSessionToken();
    const headers = await session.authorize('GET', user.baseUrl + '/iserver/accounts');
    return new Response(headers.Authorization.startsWith('OAuth ') ? 'signed' : 'unsigned');
  },
};
`);
fs.writeFileSync(path.join(dir, 'empty.js'), `export default { fetch: () => new Response('ok') };\n`);

/** One fresh workerd: CPU of its startup and, with the package, of the first real request. */
async function once(withPackage) {
  const port = await freePort();
  const modules = withPackage
    ? ['(name = "worker.js", esModule = embed "worker.js")', '(name = "user.json", json = embed "user.json")',
        ...files.map((f) => (f.endsWith('.wasm') ? `(name = "p/${f}", wasm = embed "p/${f}")` : `(name = "p/${f}", esModule = embed "p/${f}")`))]
    : ['(name = "worker.js", esModule = embed "empty.js")'];
  const config = path.join(dir, `config-${port}.capnp`);
  fs.writeFileSync(config, `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker), (name = "loopback", network = (allow = ["local"])) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ ${modules.join(', ')} ],
  compatibilityDate = "2025-01-01",
  globalOutbound = "loopback",
);
`);
  let log = '';
  const wd = spawn(path.join(root, 'node_modules/.bin/workerd'), ['serve', path.basename(config)], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  wd.stdout.on('data', (d) => { log += d; });
  wd.stderr.on('data', (d) => { log += d; });
  try {
    const get = async (p) => (await fetch(`http://127.0.0.1:${port}${p}`)).text();
    for (let i = 0; ; i++) {
      if (wd.exitCode !== null) throw new Error(`workerd exited ${wd.exitCode}: ${log}`);
      try {
        await get('/');
        break;
      } catch (e) {
        if (i > 400) throw new Error(`workerd did not answer: ${log}`);
        await sleep(25);
      }
    }
    // Each step is followed by a pause, so that background compilation it started is counted.
    await sleep(300);
    const c0 = cpuOf(wd.pid);
    if (!withPackage) return { startup_ms: c0[1] };
    await get('/');
    await sleep(300);
    const c1 = cpuOf(wd.pid);
    const body = await get('/cold');
    if (body !== 'signed') throw new Error(`the Worker answered ${body}: ${log}`);
    await sleep(300);
    const c2 = cpuOf(wd.pid);
    const request = (i) => (c2[i] - c1[i]) - (c1[i] - c0[i]);
    return { startup_ms: c0[1], request_ms: request(1), request_main_ms: request(0) };
  } finally {
    wd.kill();
    await new Promise((r) => (wd.exitCode !== null ? r() : wd.once('exit', r)));
    fs.rmSync(config);
  }
}

try {
  const withPkg = [];
  const without = [];
  for (let i = 0; i < runs; i++) {
    withPkg.push(await once(true));
    without.push(await once(false));
  }
  const startup = median(withPkg.map((r) => r.startup_ms));
  const baseline = median(without.map((r) => r.startup_ms));
  console.log(JSON.stringify({
    runs,
    startup_ms: startup,
    startup_empty_ms: baseline,
    startup_package_ms: startup - baseline,
    request_ms: median(withPkg.map((r) => r.request_ms)),
    request_main_ms: median(withPkg.map((r) => r.request_main_ms)),
  }));
} finally {
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
