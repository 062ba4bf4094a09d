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
