// Loads the installed package by `require` (the exports map's require side) and runs the shared
// body (body.mjs) with input.json; prints one RESULT line. Node, Deno, Bun.
const fs = require('node:fs');
const api = require('ibkr-auth');

import('./body.mjs')
  .then(({ runAll }) => runAll(api, JSON.parse(fs.readFileSync('input.json', 'utf8'))))
  .then((result) => console.log(`RESULT ${JSON.stringify(result)}`));
