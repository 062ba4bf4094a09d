// A small seeded generator for the soak's schedule: 32-bit state mixed with the SplitMix32
// finaliser (the constants of MurmurHash3's fmix32). Not for anything secret.

/** A 32-bit hash of a string (FNV-1a), to derive independent streams from one seed. */
export function hash32(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A generator of floats in [0, 1) from `seed` (any 32-bit integer). */
export function prng(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 2 ** 32;
  };
  next.int = (n) => Math.floor(next() * n);
  /** One of `table`'s keys, weighted by its values. */
  next.pick = (table) => {
    const entries = Object.entries(table);
    let r = next() * entries.reduce((a, [, w]) => a + w, 0);
    for (const [k, w] of entries) if ((r -= w) < 0) return k;
    return entries.at(-1)[0];
  };
  return next;
}

/** The generator for request `i` of stream `name`: the schedule of one request does not depend
 * on the order in which concurrent requests happen to run. */
export function streamFor(seed, name, i) {
  return prng((hash32(`${name}`) ^ Math.imul(seed >>> 0, 0x27d4eb2d) ^ Math.imul(i + 1, 0x165667b1)) >>> 0);
}
