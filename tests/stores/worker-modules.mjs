// The package as a Worker holds it: its ESM files and its .wasm (a compiled module, as Workers
// require), copied under a folder of the Worker's files and listed as miniflare modules. The
// Node-only sim/ and cli/ stay out. Shared by the store tests and the fleet example tests.
import fs from 'node:fs';
import path from 'node:path';

/** Copies the package at `from` to `root`/`sub`; returns its files as miniflare modules. */
export function packageModules(from, root, sub) {
  const dest = path.join(root, sub);
  fs.cpSync(from, dest, { recursive: true, filter: (src) => !/[/\\](sim|cli|node_modules)$/.test(src) });
  const modules = [];
  for (const f of fs.readdirSync(dest, { recursive: true })) {
    const p = path.join(dest, f);
    if (f.endsWith('.wasm')) modules.push({ type: 'CompiledWasm', path: p });
    else if (f.endsWith('.js')) modules.push({ type: 'ESModule', path: p });
  }
  return modules;
}
