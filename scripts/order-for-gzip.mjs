// node scripts/order-for-gzip.mjs IN.wasm OUT.wasm
//
// Chooses an order for the functions of a WebAssembly module in which gzip compresses it better,
// and writes IN with a "name" section that spells that order: function names sort in the chosen
// order. `wasm-opt --reorder-functions-by-name --strip-debug` then moves the functions and drops
// the names again (Binaryen renumbers every call, table entry and export).
//
// Why: gzip (deflate) finds repeats only within the last 32 KiB, and the compiler lays functions
// out in an order that has nothing to do with their content, so functions that look alike (the
// copies of one generic, the export shims, the async state machines) often sit too far apart.
// The order is greedy: after the functions placed so far, take the one that compresses best
// after them. To keep it quick, the remaining functions are first ranked by the share of their
// 4-byte sequences that occur in the last 32 KiB placed (a cheap stand-in for what deflate will
// find); the best CANDIDATES of those are then compressed for real, with the last 32 KiB placed
// as deflate's preset dictionary, and the one with the fewest compressed bits per byte wins.
// Deterministic: the same module always gets the same order. Only the layout changes, not
// what any function does.
import fs from 'node:fs';
import zlib from 'node:zlib';

const WINDOW = 32 * 1024; // deflate's window
const GRAM = 4;
const CANDIDATES = 20;

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/order-for-gzip.mjs IN.wasm OUT.wasm');
  process.exit(2);
}
const wasm = fs.readFileSync(input);

// --- reading the module: how many functions are imported, and each function body's bytes ---
let pos = 8;
function leb() {
  let value = 0;
  let shift = 0;
  let byte;
  do {
    byte = wasm[pos++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return value;
}
// a length-prefixed run of bytes (read the length first: `pos += leb()` would add to the old pos)
function skipBytes() {
  const length = leb();
  pos += length;
}
function skipLimits() {
  const flags = wasm[pos++];
  leb();
  if (flags & 1) leb();
}
if (wasm.readUInt32LE(0) !== 0x6d736100 || wasm.readUInt32LE(4) !== 1) {
  console.error(`${input} is not a WebAssembly module (version 1)`);
  process.exit(1);
}
let importedFunctions = 0;
let hasNames = false;
const bodies = [];
while (pos < wasm.length) {
  const id = wasm[pos++];
  const size = leb();
  const end = pos + size;
  if (id === 0) {
    const nameLength = leb();
    if (wasm.subarray(pos, pos + nameLength).toString() === 'name') hasNames = true;
  } else if (id === 2) {
    for (let n = leb(); n > 0; n--) {
      skipBytes(); // module
      skipBytes(); // field
      const kind = wasm[pos++];
      if (kind === 0) {
        leb();
        importedFunctions++;
      } else if (kind === 1) {
        pos++; // element type
        skipLimits();
      } else if (kind === 2) {
        skipLimits();
      } else if (kind === 3) {
        pos += 2; // value type, mutability
      } else {
        leb(); // tag: attribute, then type index
        leb();
      }
    }
  } else if (id === 10) {
    for (let n = leb(); n > 0; n--) {
      const start = pos;
      skipBytes();
      bodies.push(wasm.subarray(start, pos));
    }
  }
  pos = end;
}
if (hasNames) {
  console.error(`${input} already has a name section; strip it first (wasm-opt --strip-debug)`);
  process.exit(1);
}

// --- the greedy order ---
function grams(body) {
  const out = new Float64Array(Math.max(0, body.length - GRAM + 1));
  for (let i = 0; i < out.length; i++) {
    let h = 0;
    for (let k = 0; k < GRAM; k++) h = h * 256 + body[i + k];
    out[i] = h;
  }
  return out;
}
const bodyGrams = bodies.map(grams);
const inWindow = new Map(); // gram → how often it occurs in the window
const windowQueue = [];
let windowHead = 0;
const placed = [];
const order = [];
const remaining = new Set(bodies.keys());

function place(f) {
  order.push(f);
  remaining.delete(f);
  placed.push(bodies[f]);
  for (const g of bodyGrams[f]) {
    inWindow.set(g, (inWindow.get(g) ?? 0) + 1);
    windowQueue.push(g);
  }
  while (windowQueue.length - windowHead > WINDOW) {
    const g = windowQueue[windowHead++];
    const left = inWindow.get(g) - 1;
    if (left) inWindow.set(g, left);
    else inWindow.delete(g);
  }
  if (windowHead > 4 * WINDOW) {
    windowQueue.splice(0, windowHead);
    windowHead = 0;
  }
}

function lastPlacedBytes() {
  let total = 0;
  let first = placed.length;
  while (first > 0 && total < WINDOW) total += placed[--first].length;
  placed.splice(0, first);
  const joined = Buffer.concat(placed);
  return joined.subarray(Math.max(0, joined.length - WINDOW));
}

if (bodies.length > 0) place(0);
while (remaining.size > 0) {
  const ranked = [];
  for (const f of remaining) {
    const g = bodyGrams[f];
    if (g.length === 0) {
      ranked.push([1, f]);
      continue;
    }
    const seen = new Set();
    let hits = 0;
    for (const x of g) {
      if (inWindow.has(x) || seen.has(x)) hits++;
      seen.add(x);
    }
    ranked.push([hits / g.length, f]);
  }
  // stable sort: equal shares keep the module's order
  ranked.sort((a, b) => b[0] - a[0]);
  const dictionary = lastPlacedBytes();
  let best = -1;
  let bestCost = Infinity;
  for (const [, f] of ranked.slice(0, CANDIDATES)) {
    const packed = zlib.deflateRawSync(bodies[f], { level: 9, dictionary });
    const cost = packed.length / bodies[f].length;
    if (cost < bestCost) {
      bestCost = cost;
      best = f;
    }
  }
  place(best);
}

// --- the name section: imports first (they keep their indices), then the chosen order ---
function uleb(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}
const str = (s) => [...uleb(Buffer.byteLength(s)), ...Buffer.from(s)];
const width = String(Math.max(importedFunctions, bodies.length)).length;
const names = new Array(importedFunctions + bodies.length);
for (let i = 0; i < importedFunctions; i++) names[i] = `a${String(i).padStart(width, '0')}`;
order.forEach((f, rank) => {
  names[importedFunctions + f] = `b${String(rank).padStart(width, '0')}`;
});
const entries = [...uleb(names.length)];
names.forEach((name, index) => entries.push(...uleb(index), ...str(name)));
const payload = [...str('name'), 1, ...uleb(entries.length), ...entries];
fs.writeFileSync(output, Buffer.concat([wasm, Buffer.from([0, ...uleb(payload.length), ...payload])]));
