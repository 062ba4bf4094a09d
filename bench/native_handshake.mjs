// The native-OpenSSL handshake on its own, for a child process with its own OpenSSL settings
// (`make bench` runs it with OPENSSL_ia32cap set). Prints {"ms": CPU ms per handshake}.
import { nativeHandshake } from './common.mjs';

const [n = 30, warmup = 5] = process.argv.slice(2).map(Number);
console.log(JSON.stringify({ ms: nativeHandshake(n, warmup) }));
