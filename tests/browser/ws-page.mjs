// Driving a page that runs a stream (window.__ws = { clock, stream, events }, window.__log), for
// the Chromium streaming tests: its events, waits bounded by a wall-clock safety limit, quotes
// and a drop with its reconnect on the page's controlled clock.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';

export function streamPage(p, sim, problems) {
  const events = () => p.evaluate(() => window.__ws.events);
  /** Waits for `fn(arg)` in the page; a failure shows the events, the session's log and page errors. */
  const waitFor = (fn, arg) => p.waitForFunction(fn, arg, { timeout: 20_000 })
    .catch(async (e) => { throw new Error(`${e.message}\nevents: ${JSON.stringify(await events())}\nlog: ${await p.evaluate(() => window.__log.join('\n'))}\n${problems.join('\n')}`); });
  /** Moves the simulator's streams and waits until the page has had `n` quotes. */
  const quotes = async (n) => { sim.wsTick(); await waitFor((k) => window.__ws.events.filter((e) => e.type === 'quote').length >= k, n); };
  /**
   * A drop (1001): the first back-off (375–625 ms), nothing reopened before the page's clock
   * moves (the back-off is on that clock, not the wall's), then the clock moved and the reopen
   * awaited. Resolves to the `reconnecting` event.
   */
  const dropAndReopen = async () => {
    sim.dropWebSockets();
    await waitFor(() => window.__ws.events.some((e) => e.type === 'reconnecting'));
    const r = (await events()).find((e) => e.type === 'reconnecting');
    assert.equal(r.code, 1001);
    assert.ok(r.delayMs >= 375 && r.delayMs <= 625, String(r.delayMs));
    assert.equal((await events()).some((e) => e.type === 'open'), false);
    assert.equal(sim.ws.sockets, 0);
    await p.evaluate((ms) => window.__ws.clock.advance(ms), r.delayMs);
    await waitFor(() => window.__ws.events.some((e) => e.type === 'open'));
    return r;
  };
  return { events, waitFor, quotes, dropAndReopen };
}

const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

/**
 * A server on 127.0.0.1 for a streaming page: `page` at /, the installed package's files at
 * /pkg/, everything else (REST and the WebSocket upgrade) handed to the simulator `mount()`
 * returns. HTTPS with `tls` ({ key, cert }), else HTTP. Resolves to { server, base }.
 */
export async function pageServer({ page, installed, mount, tls }) {
  const handler = (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname !== '/' && !url.pathname.startsWith('/pkg/')) return mount().handle(req, res);
    let body;
    if (url.pathname === '/') body = page;
    else {
      const file = path.join(installed, path.normalize(url.pathname.slice(5)));
      if (file.startsWith(installed) && fs.existsSync(file)) body = fs.readFileSync(file);
    }
    if (body === undefined) return res.writeHead(404).end();
    return res.writeHead(200, { 'content-type': types[url.pathname === '/' ? '.html' : path.extname(url.pathname)] ?? 'application/octet-stream' }).end(body);
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  server.on('upgrade', (req, socket, head) => mount().ws.upgrade(req, socket, head));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `${tls ? 'https' : 'http'}://127.0.0.1:${server.address().port}` };
}
