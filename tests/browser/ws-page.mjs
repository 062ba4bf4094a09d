// Driving a page that runs a stream (window.__ws = { clock, stream, events }, window.__log), for
// the Chromium streaming tests: its events, waits bounded by a wall-clock safety limit, quotes
// and a drop with its reconnect on the page's controlled clock.
import assert from 'node:assert/strict';

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
