// People get colour (on a TTY only, and not with NO_COLOR) and spinners on stderr; machines get
// --json on stdout.
const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code) => (s) => (color ? `\x1b[${code}m${s}\x1b[0m` : String(s));
let json = false;

export const out = {
  green: paint(32), red: paint(31), yellow: paint(33), dim: paint(2), bold: paint(1),
  configure(o) { json = Boolean(o.json); },
  line(s) { process.stdout.write(`${s}\n`); },
  json(v) { process.stdout.write(`${JSON.stringify(v)}\n`); },
  info(s) { if (!json) process.stderr.write(`${out.dim(s)}\n`); },
  ok(title, lines = []) {
    out.line(`${out.green('✓')} ${title}`);
    for (const l of lines) out.line(`  ${l}`);
  },
  error(s) { process.stderr.write(`${s}\n`); },
  fail(code, message, extra) {
    if (json) { out.json({ ok: false, error: { code, message, ...extra } }); return; }
    process.stderr.write(`${out.red('✗')} ${out.bold(code)}: ${message}\n`);
    if (extra?.status) process.stderr.write(`  HTTP ${extra.status}${extra.serverMessage ? `: ${extra.serverMessage}` : ''}\n`);
  },
  /** A spinner on stderr while `text` runs (a TTY only); done()/fail() end it. */
  spinner(text) {
    const start = Date.now();
    if (!process.stderr.isTTY || json) return { done: (t) => out.ok(`${t ?? text} (${Date.now() - start} ms)`), fail() {}, update() {} };
    const frames = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
    let i = 0;
    let label = text;
    const timer = setInterval(() => process.stderr.write(`\r${frames[i++ % frames.length]} ${label} ${out.dim(`${((Date.now() - start) / 1000).toFixed(0)} s`)}   `), 100);
    const clear = () => { clearInterval(timer); process.stderr.write('\r\x1b[K'); };
    return {
      update(t) { label = t; },
      done(t) { clear(); out.ok(`${t ?? text} (${Date.now() - start} ms)`); },
      fail() { clear(); },
    };
  },
};
