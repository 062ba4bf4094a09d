// A browser app as a user writes it: imports the package by name and is bundled by esbuild
// (tests/browser/bundle.test.mjs). It runs the shared body of tests/runtimes/body.mjs: the
// conformance suite, then OAuth 1.0a and OAuth 2.0 sessions against the simulator on this page's
// origin.
import * as ibkr from 'ibkr-auth';
import { runAll } from './body.mjs';

const input = await (await fetch('/input.json')).json();
window.__result = await runAll(ibkr, input);
document.getElementById('out').textContent = JSON.stringify(window.__result.sessions, null, 1);
document.title = 'done';
