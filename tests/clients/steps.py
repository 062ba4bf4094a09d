"""How the client scripts talk to their test (tests/clients/helpers.mjs): one JSON line per step on
stdout, and a "go" line on stdin where the test has something to do first."""

import json
import sys


def say(step, **fields):
    print(json.dumps({'step': step, **fields}), flush=True)


def wait_for_test(what):
    say('waiting', on=what)
    line = sys.stdin.readline().strip()
    if line != 'go':
        raise SystemExit(f'expected "go", got {line!r}')
