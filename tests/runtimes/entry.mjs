// Loads the installed package by `import` and runs the shared body (body.mjs) with the input the
// test wrote (input.json in the working directory); prints one RESULT line. Node, Deno, Bun.
import fs from 'node:fs';
import * as api from 'ibkr-auth';
import { runAll } from './body.mjs';

const result = await runAll(api, JSON.parse(fs.readFileSync('input.json', 'utf8')));
console.log(`RESULT ${JSON.stringify(result)}`);
