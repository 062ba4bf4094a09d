// A handle on the WebAssembly instance the package creates, to read its linear memory: importing
// this module wraps WebAssembly.Instance, so import it before the package; `release()` puts the
// real constructor back once the package has loaded.
export const instances = [];
const RealInstance = WebAssembly.Instance;
WebAssembly.Instance = function Instance(module, imports) {
  const inst = new RealInstance(module, imports);
  instances.push(inst);
  return inst;
};
export const release = () => {
  WebAssembly.Instance = RealInstance;
};

/**
 * The JS values the module holds: wasm-bindgen's externref table of each instance, its length
 * (`slots`), the slots holding a value (`held`; a freed slot holds null, a slot never freed keeps
 * its value, even `undefined`), and those values counted by kind (`kinds`: constructor name or
 * type). A leak shows here as a count, whatever the machine's speed.
 */
export function heldValues() {
  let slots = 0;
  let held = 0;
  const kinds = {};
  for (const inst of instances) {
    const t = inst.exports.__wbindgen_externrefs;
    if (!(t instanceof WebAssembly.Table)) continue;
    slots += t.length;
    for (let i = 0; i < t.length; i++) {
      const v = t.get(i);
      if (v === null) continue;
      held++;
      const kind = v === undefined ? 'undefined' : typeof v === 'object' || typeof v === 'function' ? (v.constructor?.name ?? 'Object') : typeof v;
      kinds[kind] = (kinds[kind] ?? 0) + 1;
    }
  }
  return { slots, held, kinds };
}
