// The demos' output: numbered steps with their time, ✓ or ✗, and a few lines each; colour on a TTY.
import { IbkrAuthError } from '../pkg/node.mjs';

const tty = process.stdout.isTTY;
export const bold = (s) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
export const dim = (s) => (tty ? `\x1b[2m${s}\x1b[0m` : s);
export const green = (s) => (tty ? `\x1b[32m${s}\x1b[0m` : s);
export const red = (s) => (tty ? `\x1b[31m${s}\x1b[0m` : s);

let n = 0;
/** Runs one step: prints ✓ with `describe(result)`'s lines, or ✗ with the error (and rethrows). */
export async function step(title, fn, describe) {
  const t0 = performance.now();
  try {
    const result = await fn();
    console.log(`${green('✓')} ${bold(`${++n}. ${title}`)} ${dim(`${(performance.now() - t0).toFixed(1)} ms`)}`);
    for (const line of describe(result)) console.log(`     ${line}`);
    return result;
  } catch (e) {
    console.log(`${red('✗')} ${bold(`${++n}. ${title}`)}`);
    console.log(`     ${e instanceof IbkrAuthError ? `${e.code}: ` : ''}${e.message}`);
    process.exitCode = 1;
    throw e;
  }
}
