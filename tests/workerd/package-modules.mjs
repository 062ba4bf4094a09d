// What the workerd tests share: the capnp module entries for every file of the installed package
// (its .wasm and .js files) and a free loopback port for workerd to listen on.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export function packageModules(dir) {
  const modules = [];
  for (const f of fs.readdirSync(path.join(dir, 'ibkr-auth'), { recursive: true })) {
    const rel = `ibkr-auth/${f}`;
    if (f.endsWith('.wasm')) modules.push(`(name = "${rel}", wasm = embed "${rel}")`);
    else if (f.endsWith('.js')) modules.push(`(name = "${rel}", esModule = embed "${rel}")`);
  }
  return modules;
}

export const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
