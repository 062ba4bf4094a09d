#!/usr/bin/env node
// The ibkr-auth command line. See HELP, or the README's "Command line" section.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { IbkrAuthError, IbkrSession } from '../node.mjs';
import { ConfigError, flagName, KEYS, loadConfig, readPem, requireComplete } from './config.js';
import { runDoctor } from './doctor.js';
import { openStore } from './store.js';
import { GatewayError, gatewayTransport, runGateway } from './gateway.js';
import { KeysError, runKeys } from './keys.js';
import { out } from './output.js';

const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const EXIT = { OK: 0, FAILED: 1, USAGE: 2, PROBLEMS: 3 };

const HELP = `ibkr-auth ${pkg.version} — Interactive Brokers Web API authentication

usage: ibkr-auth <command> [options]

commands
  login                      handshake + brokerage session; prints the status
  status | tickle | logout   the session endpoints
  keepalive                  tickle until Ctrl-C, one line per tickle; repairs the session
                             (--interval SECONDS, default 60; --logout to log out on exit)
  refresh                    for a scheduled job: renews the token into the fleet's store when it
                             expires within --within SECONDS (default 3600); prints the outcome
  request METHOD PATH        prints the JSON response (--query k=v ..., --data JSON)
  sign METHOD URL            prints the signed headers as a curl command
  lst                        the live session token and its expiry, as JSON (a secret!)
  doctor                     checks the configuration, files, keys, clock and host (--live: a real handshake)
  keys                       makes signature and encryption key pairs and DH parameters
                             (--out DIR, --bits 2048, --dh generate|standard, --force)
  sim                        starts the bundled IBKR simulator and writes a matching config
                             (--out DIR, default .ibkr-sim; --port N)

the Client Portal Gateway without a browser (gateway_* settings; every login within the lockout guard)
  gateway login              logs the gateway in: username, password, second factor (totp|sms|ocra)
  gateway status             its login and brokerage status, the lockout guard's state, the process
  gateway keepalive          tickles; logs in again when the gateway lost its login (--interval S)
  gateway logout             ends the brokerage session
  gateway reset-lockout      clears the failed-login count once the cause is fixed
  gateway start | stop       runs or stops IBKR's gateway from gateway_dir (bin/run.sh root/conf.yaml;
                             one per directory; --timeout S, default 60 to start, 15 to stop)
  gateway serve              HTTP control service: GET /status, POST /start /stop /login /logout
                             (--host 127.0.0.1, --port 5050; any other host needs gateway_serve_token;
                             --allow-reset adds POST /reset-lockout)

options
  --config FILE      YAML config (default ./ibkr-auth.yaml)
  --env-file FILE    read environment variables from a .env file
  --json             machine-readable output
  --debug            log every step to stderr (secrets are never logged)
  --compete          take over a competing brokerage session
  --store URL        share the token with a fleet: redis://host:6379 or file:/path/tokens.json
                     (every command; keepalive then tickles once per interval for the fleet)
  --${Object.keys(KEYS).map(flagName).join(', --')}
                     override the config (precedence: YAML < environment < flags)
  -h, --help         this help;  -v, --version  the version

exit codes: 0 ok, 1 the operation failed (IBKR or auth error; gateway status: not authenticated),
2 usage or configuration error (gateway: no java, no token), 3 doctor found problems`;

const OPTIONS = {
  config: { type: 'string' },
  'env-file': { type: 'string' },
  json: { type: 'boolean', default: false },
  debug: { type: 'boolean', default: false },
  compete: { type: 'boolean' },
  query: { type: 'string', multiple: true },
  data: { type: 'string' },
  interval: { type: 'string' },
  within: { type: 'string' },
  logout: { type: 'boolean', default: false },
  live: { type: 'boolean', default: false },
  out: { type: 'string' },
  bits: { type: 'string' },
  dh: { type: 'string' },
  force: { type: 'boolean', default: false },
  port: { type: 'string' },
  host: { type: 'string' },
  timeout: { type: 'string' },
  'allow-reset': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  version: { type: 'boolean', short: 'v', default: false },
  ...Object.fromEntries(Object.entries(KEYS).map(([k, spec]) => [flagName(k), { type: spec.bool ? 'boolean' : 'string' }])),
};

class UsageError extends Error {}

/** Errors that a configuration causes (a wrong key, secret or argument): exit code 2. */
const CONFIG_CODES = new Set(['INVALID_ARGUMENT', 'INVALID_KEY', 'INVALID_DH_PARAMS', 'INVALID_ACCESS_TOKEN_SECRET', 'DECRYPT_FAILED']);

function logger(debug) {
  const line = (level) => (m) => process.stderr.write(`${out.dim(new Date().toISOString().slice(11, 23))} ${level} ${m}\n`);
  return { warn: line(out.yellow('warn ')), error: line(out.red('error')), ...(debug ? { debug: line('debug'), info: line('info ') } : {}) };
}

/** The API base for a config. */
function baseUrl(cfg) {
  const v = cfg.values;
  if (cfg.mode === 'gateway') return v.base_url ?? `${v.gateway_url.replace(/\/+$/, '')}${/\/v1\/(api|portal)$/.test(v.gateway_url) ? '' : '/v1/api'}`;
  if (v.base_url) return v.base_url;
  if (v.domain) return `https://${v.domain}/v1/api`;
  return undefined;
}

/** An IbkrSession for the configuration (with the fleet's store, when `store` is set). */
function makeSession(cfg, { debug = false, compete, store } = {}) {
  requireComplete(cfg);
  const v = cfg.values;
  const common = {
    baseUrl: baseUrl(cfg), logger: logger(debug), userAgent: `ibkr-auth-cli/${pkg.version}`,
    ...(compete === undefined ? {} : { compete }), ...(store ? { store } : {}),
  };
  if (cfg.mode === 'oauth2') {
    return IbkrSession.oauth2({ ...common, clientId: v.client_id, clientKeyId: v.client_key_id, credential: v.credential, privateKey: readPem(cfg, 'private_key_file').text, ip: v.ip });
  }
  if (cfg.mode === 'gateway') {
    const transport = gatewayTransport(cfg, new URL(common.baseUrl).origin);
    return IbkrSession.gateway({ ...common, ...(transport ? { fetch: transport } : {}) });
  }
  return IbkrSession.oauth1({
    ...common,
    consumerKey: v.consumer_key,
    accessToken: v.access_token,
    accessTokenSecret: v.access_token_secret,
    signatureKey: readPem(cfg, 'signature_key_file').text,
    encryptionKey: readPem(cfg, 'encryption_key_file').text,
    dhParams: readPem(cfg, 'dh_params_file').text,
    realm: v.realm,
  });
}

function statusLines(s) {
  const flag = (b) => (b ? out.green('yes') : out.red('no'));
  return [`authenticated: ${flag(s.authenticated)}   competing: ${s.competing ? out.yellow('yes') : 'no'}   connected: ${flag(s.connected)}`,
    ...(s.serverInfo ? [`server: ${s.serverInfo.serverName} ${s.serverInfo.serverVersion}`] : [])];
}

function queryPairs(list = []) {
  return Object.fromEntries(list.map((q) => {
    const i = q.indexOf('=');
    if (i <= 0) throw new UsageError(`--query ${q}: expected key=value`);
    return [q.slice(0, i), q.slice(i + 1)];
  }));
}

async function commandKeepalive(session, o, shared) {
  const seconds = Number(o.interval ?? 60);
  if (!Number.isFinite(seconds) || seconds < 1) throw new UsageError('--interval must be a number of seconds, at least 1');
  if (o.logout && shared) throw new UsageError('--logout with a shared store would end the session of every process in the fleet; run `ibkr-auth logout` when that is what you want.');
  out.info(`keep-alive every ${seconds} s; Ctrl-C to stop${o.logout ? ' (and log out)' : ''}`);
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    const time = new Date().toISOString().slice(11, 19);
    try {
      const r = await session.keepAliveOnce({ intervalMs: seconds * 1000 });
      if (o.json) out.json({ time, ...r });
      else if (r.skipped) out.line(`${time} ${out.dim('·')} another process of the fleet tickles this interval`);
      else out.line(`${time} ${r.authenticated ? out.green('✓') : out.yellow('!')} tickled; ${r.authenticated ? 'authenticated' : 'NOT authenticated'}${r.reinitialised ? ' (re-initialised)' : ''}`);
    } catch (e) {
      if (o.json) out.json({ time, error: { code: e.code, message: e.message } });
      else out.line(`${time} ${out.red('✗')} ${e.code ?? 'ERROR'}: ${e.message}`);
    }
    busy = false;
  };
  await tick();
  const timer = setInterval(tick, seconds * 1000);
  await new Promise((resolve) => {
    const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve(); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  clearInterval(timer);
  while (busy) await new Promise((r) => setTimeout(r, 20));
  if (o.logout) {
    await session.logout();
    out.info('logged out');
  }
  out.info('stopped');
}

async function commandSim(o) {
  const { Simulator } = await import('../sim/server.mjs');
  const { loadOrCreateState, writeClientFiles } = await import('../sim/state.mjs');
  const dir = path.resolve(o.out ?? '.ibkr-sim');
  const { options, created } = loadOrCreateState(dir);
  const sim = await new Simulator(options).start(Number(o.port ?? 0));
  const config = sim.clientConfig();
  writeClientFiles(dir, config);
  const yaml = [
    '# Written by `ibkr-auth sim`: matches the simulator while it runs.',
    `consumer_key: ${config.consumerKey}`,
    `access_token: ${config.accessToken}`,
    `access_token_secret: "${config.accessTokenSecret}"`,
    'signature_key_file: private_signature.pem',
    'encryption_key_file: private_encryption.pem',
    'dh_params_file: dhparam.pem',
    `realm: ${config.realm}`,
    `base_url: ${config.baseUrl}`,
    '',
  ].join('\n');
  const yamlPath = path.join(dir, 'ibkr-auth.yaml');
  fs.writeFileSync(yamlPath, yaml, { mode: 0o600 });
  if (o.json) out.json({ url: sim.origin, baseUrl: sim.baseUrl, config: yamlPath, keysCreated: created });
  else {
    out.line(`${out.green('✓')} IBKR simulator listening on ${sim.origin} (${created ? 'new keys' : 'keys reused'} in ${path.relative(process.cwd(), dir) || dir})`);
    out.line(`  config: ${yamlPath}`);
    out.line(`  try:    ibkr-auth --config ${path.relative(process.cwd(), yamlPath)} login`);
    out.line('  Ctrl-C to stop');
  }
  await new Promise((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve); });
  await sim.close();
}

async function main(argv = process.argv.slice(2)) {
  let o;
  let positionals;
  try {
    ({ values: o, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true }));
  } catch (e) {
    out.error(`${e.message}\n\n${HELP.split('\n').slice(0, 3).join('\n')}\nrun ibkr-auth --help for all options`);
    return EXIT.USAGE;
  }
  out.configure({ json: o.json });
  if (o.version) { out.line(pkg.version); return EXIT.OK; }
  const [command, ...args] = positionals;
  if (o.help || !command) { out.line(HELP); return command || o.help ? EXIT.OK : EXIT.USAGE; }
  let opened = null;
  try {
    const flags = Object.fromEntries(Object.keys(KEYS).map((k) => [k, o[flagName(k)]]));
    const cfg = () => loadConfig({ configFile: o.config, envFile: o['env-file'], flags });
    // The store is opened once, before the first session, and closed when the command ends.
    const sessionFor = async (c, extra = {}) => {
      requireComplete(c);
      opened ??= await openStore(c, { required: command === 'refresh', warn: logger(false).warn });
      return makeSession(c, { debug: o.debug, compete: o.compete, store: opened?.store, ...extra });
    };
    const session = () => sessionFor(cfg());
    switch (command) {
      case 'login': {
        const c = cfg();
        const s = await sessionFor(c);
        const spin = out.spinner(c.mode === 'oauth1' ? 'live session token handshake' : c.mode === 'oauth2' ? 'OAuth 2.0 connect' : 'checking the gateway');
        let status;
        try {
          if (c.mode === 'oauth1') {
            const t = await s.liveSessionToken();
            spin.done(`live session token, valid until ${new Date(t.expiresAt).toISOString()}`);
            status = await s.initBrokerage({ compete: o.compete ?? true });
          } else {
            status = await s.ensureAuthenticated({ compete: o.compete ?? c.mode === 'oauth2' });
            spin.done(c.mode === 'oauth2' ? 'OAuth 2.0 session' : 'gateway reachable');
          }
        } catch (e) { spin.fail(); throw e; }
        if (o.json) out.json(status);
        else out.ok(status.authenticated ? 'brokerage session authenticated' : 'brokerage session NOT authenticated', statusLines(status));
        return status.authenticated ? EXIT.OK : EXIT.FAILED;
      }
      case 'status': {
        const s = await (await session()).status();
        if (o.json) out.json(s); else out.ok('status', statusLines(s));
        return EXIT.OK;
      }
      case 'tickle': {
        const t = await (await session()).tickle();
        if (o.json) out.json(t);
        else out.ok(`tickled: session ${String(t.session ?? '').slice(0, 8)}…`, t.iserver?.authStatus ? statusLines(t.iserver.authStatus) : []);
        return EXIT.OK;
      }
      case 'logout': {
        await (await session()).logout();
        if (o.json) out.json({ loggedOut: true }); else out.ok('logged out');
        return EXIT.OK;
      }
      case 'keepalive':
        await commandKeepalive(await session(), o, Boolean(cfg().values.store));
        return EXIT.OK;
      case 'refresh': {
        const c = cfg();
        if (!c.values.store) throw new UsageError('refresh keeps the token in a store the fleet shares: set store (redis://host:6379 or file:/path; --store, IB_STORE or ibkr-auth.yaml).');
        const within = Number(o.within ?? 3600);
        if (!Number.isFinite(within) || within < 0) throw new UsageError('--within must be a number of seconds (0 or more)');
        const s = await sessionFor(c);
        const r = await s.refresh({ withinMs: Math.round(within * 1000) });
        const result = { ...r, expires: new Date(r.expiresAt).toISOString(), store: opened.describe };
        if (o.json) out.json(result);
        else out.ok(r.refreshed ? 'token renewed and stored for the fleet' : 'token good for longer than asked: nothing to do', [`expires: ${result.expires}   generation: ${r.generation}   store: ${opened.describe}`]);
        return EXIT.OK;
      }
      case 'request': {
        const [method, target] = args;
        if (!method || !target) throw new UsageError('usage: ibkr-auth request METHOD PATH [--query k=v ...] [--data JSON]');
        let body;
        if (o.data !== undefined) {
          try { body = JSON.parse(o.data); } catch { throw new UsageError('--data must be JSON, e.g. --data \'{"orders":[...]}\''); }
        }
        const r = await (await session()).request(method, target, { query: queryPairs(o.query), body });
        out.line(o.json ? JSON.stringify(r) : JSON.stringify(r, null, 2));
        return EXIT.OK;
      }
      case 'sign': {
        const [method, target] = args;
        if (!method || !target) throw new UsageError('usage: ibkr-auth sign METHOD URL');
        const s = await session();
        const url = /^https?:\/\//.test(target) ? target : `${s.baseUrl.replace(/\/+$/, '')}/${target.replace(/^\/+/, '')}`;
        const headers = await s.authorize(method, url);
        if (o.json) out.json({ method: method.toUpperCase(), url, headers });
        else {
          const q = (x) => `'${x.replace(/'/g, "'\\''")}'`;
          out.line(['curl', '-X', method.toUpperCase(), ...Object.entries(headers).flatMap(([k, v]) => ['-H', q(`${k}: ${v}`)]), q(url)].join(' '));
        }
        return EXIT.OK;
      }
      case 'lst': {
        const c = cfg();
        if (c.mode !== 'oauth1') throw new UsageError('lst is for OAuth 1.0a configurations (consumer_key, access_token, …).');
        const t = await (await sessionFor(c)).liveSessionToken();
        process.stderr.write(`${out.yellow('warning:')} the live session token is a secret: it signs requests as you until it expires.\n`);
        out.line(JSON.stringify({ token: t.token, expiresAt: t.expiresAt, expires: new Date(t.expiresAt).toISOString() }, null, o.json ? 0 : 2));
        return EXIT.OK;
      }
      case 'doctor':
        return (await runDoctor(cfg(), { live: o.live, json: o.json, makeSession: (c) => makeSession(c, { debug: o.debug }), baseUrl })) ? EXIT.OK : EXIT.PROBLEMS;
      case 'keys':
        await runKeys({ out: o.out ?? '.', bits: o.bits, dh: o.dh ?? 'generate', force: o.force, json: o.json });
        return EXIT.OK;
      case 'sim':
        await commandSim(o);
        return EXIT.OK;
      case 'gateway':
        return await runGateway(args, o, { cfg, logger: logger(o.debug), statusLines, UsageError, userAgent: `ibkr-auth-cli/${pkg.version}` });
      default:
        throw new UsageError(`unknown command "${command}". Commands: login, status, tickle, logout, keepalive, refresh, request, sign, lst, doctor, keys, sim, gateway.`);
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError || e instanceof KeysError) {
      out.fail(e instanceof ConfigError ? 'configuration' : 'usage', e.message);
      return EXIT.USAGE;
    }
    if (e instanceof GatewayError) {
      out.fail(e.code, e.message);
      return e.exit;
    }
    if (e instanceof IbkrAuthError) {
      out.fail(e.code, e.message, e.status ? { status: e.status, serverMessage: e.serverMessage } : undefined);
      return CONFIG_CODES.has(e.code) ? EXIT.USAGE : EXIT.FAILED;
    }
    out.fail('ERROR', e?.stack ?? String(e));
    return EXIT.FAILED;
  } finally {
    await opened?.close();
  }
}

const code = await main();
process.exitCode = code;
