// Configuration for the CLI: a YAML file (read by the `yaml` package), then environment variables
// (an optional --env-file, read by Node's util.parseEnv, fills in what the environment lacks),
// then flags — each overriding the one before. Every error names where the value came from (file
// and line), the key, and the fix.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';

export class ConfigError extends Error {}

/** What a `yaml` error code means, in words that quote nothing from the file. */
const YAML_ERRORS = {
  TAB_AS_INDENT: 'a tab indents this line; indent with spaces only',
  DUPLICATE_KEY: 'this key is set twice in one mapping; keep one',
  BAD_INDENT: 'the indentation does not match the lines around it',
  BLOCK_AS_IMPLICIT_KEY: 'a block cannot be a key; check the indentation and the colon',
  MULTILINE_IMPLICIT_KEY: 'a key cannot span lines; check for a missing colon or quote',
  MISSING_CHAR: 'a character is missing (a closing quote, bracket, comma or the space after a colon)',
  UNEXPECTED_TOKEN: 'unexpected text here; quote a value that holds special characters (| > : # \' ")',
  BAD_SCALAR_START: 'a value cannot start with this character unless it is quoted',
  BAD_DQ_ESCAPE: 'an invalid escape sequence in a double-quoted value; use single quotes for backslashes',
  BLOCK_IN_FLOW: 'a block value inside [ ] or { }',
  BAD_ALIAS: 'an alias (*name) whose anchor (&name) is not defined before it',
  TAG_RESOLVE_FAILED: 'a tag (!name) that is not known; remove it or quote the value',
  KEY_OVER_1024_CHARS: 'a key longer than 1024 characters',
  RESOURCE_EXHAUSTION: 'aliases expand too far',
};

/**
 * Reads an ibkr-auth.yaml with the `yaml` package: the whole of YAML 1.2 (quotes, `|` and `>`
 * blocks, anchors and aliases, `<<` merge keys). A nested mapping prefixes its keys with the
 * parent's name: `gateway: { url: … }` is `gateway_url`. Top-level keys that begin with `x-` are
 * ignored: a place to define anchors. Returns { flatKey: { value, line, name, weak } }, `name` the
 * key as written (`gateway.url`) and `line` the line it is on; null and empty values are left out.
 */
export function parseYaml(text, file) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    // The position and what is wrong, from the parser's error code; never the parser's message,
    // which may quote the text it stumbled on (a secret, as often as not).
    const e = doc.errors[0];
    const { line, col } = lineCounter.linePos(e.pos[0]);
    throw new ConfigError(`${file}:${line}:${col}: this is not valid YAML: ${YAML_ERRORS[e.code] ?? `${String(e.code).toLowerCase().replaceAll('_', ' ')}`}.`);
  }
  const lineOf = (node) => (node?.range ? lineCounter.linePos(node.range[0]).line : 1);
  const out = Object.create(null);
  const resolve = (node) => (isAlias(node) ? node.resolve(doc) : node);
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return out;
  if (!isMap(resolve(doc.contents))) throw new ConfigError(`${file}:${lineOf(doc.contents)}: expected "key: value" lines at the top level`);

  // `weak`: values from a `<<` merge, which keys written out anywhere in the file override.
  function walk(map, prefix, weak, open) {
    if (open.has(map)) throw new ConfigError(`${file}:${lineOf(map)}: ${prefix.name || 'the file'} refers to itself through an alias`);
    open.add(map);
    const merges = [];
    for (const { key: k, value: v } of map.items) {
      const keyNode = resolve(k);
      if (isScalar(keyNode) && typeof keyNode.value === 'symbol') { merges.push(v); continue; }
      if (!isScalar(keyNode) || keyNode.value === null || typeof keyNode.value === 'object') throw new ConfigError(`${file}:${lineOf(k)}: a key must be a plain name`);
      const key = String(keyNode.source ?? keyNode.value);
      if (!prefix.flat && key.startsWith('x-')) continue;
      const name = prefix.name ? `${prefix.name}.${key}` : key;
      const flat = prefix.flat ? `${prefix.flat}_${key}` : key;
      const line = lineOf(k);
      const node = resolve(v);
      if (isMap(node)) { walk(node, { name, flat }, weak, open); continue; }
      if (isSeq(node)) throw new ConfigError(`${file}:${line}: ${name}: expected one value, got a list`);
      const value = scalarValue(node);
      if (value === undefined) continue;
      const before = out[flat];
      if (before && weak) continue;
      if (before && !before.weak) throw new ConfigError(`${file}:${line}: ${name} sets ${flat}, which line ${before.line} (${before.name}) already sets`);
      out[flat] = { value, line, name, weak };
    }
    for (const m of merges) {
      const node = resolve(m);
      const maps = isSeq(node) ? node.items.map(resolve) : [node];
      for (const one of maps) {
        if (!isMap(one)) throw new ConfigError(`${file}:${lineOf(m)}: << must merge a mapping (an alias such as *defaults)`);
        walk(one, prefix, true, open);
      }
    }
    open.delete(map);
  }
  walk(resolve(doc.contents), { name: '', flat: '' }, false, new Set());
  return out;
}

/** A scalar as the CLI wants it: strings as written (numbers too: `0123` stays "0123"), booleans. */
function scalarValue(node) {
  if (!node || node.value === null || node.value === undefined) return undefined;
  if (typeof node.value === 'boolean' || typeof node.value === 'string') return node.value;
  return String(node.source ?? node.value);
}

/** Where each variable of a .env file is set (its last line), for messages. */
function dotenvLines(text) {
  const lines = {};
  text.split(/\r?\n/).forEach((l, i) => {
    const m = l.match(/^\s*(?:export\s+)?([\w.-]+)\s*=/);
    if (m) lines[m[1]] = i + 1;
  });
  return lines;
}

/** Config keys, their environment variables and flags. */
export const KEYS = {
  consumer_key: { env: 'IB_CONSUMER_KEY' },
  access_token: { env: 'IB_ACCESS_TOKEN' },
  access_token_secret: { env: 'IB_ACCESS_TOKEN_SECRET', secret: true },
  signature_key_file: { env: 'IB_SIGNATURE_KEY_PATH', pem: true },
  encryption_key_file: { env: 'IB_ENCRYPTION_KEY_PATH', pem: true },
  dh_params_file: { env: 'IB_DH_PARAM_PATH', pem: true },
  realm: { env: 'IB_REALM' },
  is_live: { env: 'IB_IS_LIVE', bool: true },
  base_url: { env: 'IB_BASE_URL' },
  client_id: { env: 'IB_CLIENT_ID' },
  client_key_id: { env: 'IB_CLIENT_KEY_ID' },
  credential: { env: 'IB_CREDENTIAL' },
  private_key_file: { env: 'IB_PRIVATE_KEY_PATH', pem: true },
  domain: { env: 'IB_DOMAIN' },
  ip: { env: 'IB_IP' },
  gateway_url: { env: 'IB_GATEWAY_URL' },
  gateway_certificate_file: { env: 'IB_GATEWAY_CERTIFICATE_PATH', pem: true },
  gateway_insecure: { env: 'IB_GATEWAY_INSECURE', bool: true },
  // `ibkr-auth gateway …`: logging in to the gateway without a browser, running it, serving it.
  // `alsoEnv`: other names the same variable goes by (read when the first is not set).
  gateway_username: { env: 'IB_USERNAME', alsoEnv: ['IBKR_USERNAME'] },
  gateway_password: { env: 'IB_PASSWORD', alsoEnv: ['IBKR_PASSWORD'], secret: true },
  gateway_second_factor: { env: 'IB_AUTH_SECOND_FACTOR' },
  gateway_totp_secret: { env: 'IB_AUTH_TOTP_SECRET', secret: true },
  gateway_ocra_secret: { env: 'IB_AUTH_OCRA_SECRET', secret: true },
  gateway_ocra_pin: { env: 'IB_AUTH_OCRA_PIN', secret: true },
  gateway_ocra_counter_file: { env: 'IB_AUTH_OCRA_COUNTER_FILE', path: true },
  gateway_sms_command: { env: 'IB_AUTH_SMS_COMMAND' },
  gateway_guard_file: { env: 'IB_AUTH_GUARD_FILE', path: true },
  gateway_max_attempts: { env: 'IB_AUTH_MAX_ATTEMPTS' },
  gateway_dir: { env: 'IB_GATEWAY_DIR', path: true },
  gateway_serve_token: { env: 'IB_GATEWAY_SERVE_TOKEN', secret: true },
  // A fleet's shared token store: redis://host:6379 (may hold a password) or file:/path.
  store: { env: 'IB_STORE', secret: true },
};
export const flagName = (key) => key.replace(/_/g, '-');

const REQUIRED = {
  oauth1: ['consumer_key', 'access_token', 'access_token_secret', 'signature_key_file', 'encryption_key_file', 'dh_params_file'],
  oauth2: ['client_id', 'client_key_id', 'credential', 'private_key_file'],
  gateway: ['gateway_url'],
};

const FIX = {
  consumer_key: 'the consumer key from IBKR\'s self-service portal (9 letters; TESTCONS for the test key)',
  access_token: 'the access token from the portal (20 hex characters)',
  access_token_secret: 'the access token secret from the portal (long base64)',
  signature_key_file: 'the path of your private signature key (PEM)',
  encryption_key_file: 'the path of your private encryption key (PEM)',
  dh_params_file: 'the path of your dhparam.pem',
  client_id: 'the OAuth 2.0 client id IBKR registered',
  client_key_id: 'the key id (kid) registered with your public key',
  credential: 'your IBKR username',
  private_key_file: 'the path of your OAuth 2.0 private key (PEM)',
  gateway_url: 'the gateway URL, e.g. https://localhost:5000',
};

function toBool(v, where, key) {
  if (typeof v === 'boolean') return v;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  // The value is not quoted: a misplaced secret (or a line joined to the next) would be echoed.
  throw new ConfigError(`${where}: ${key} must be true or false (also 1/0, yes/no, on/off); its value (${String(v).length} characters) is none of them`);
}

/**
 * Resolves the configuration. `flags` maps config keys to flag values. Returns
 * { mode, values, sources, file } where sources[key] says where each value came from.
 */
export function loadConfig({ configFile, envFile, flags = {}, env = process.env, cwd = process.cwd() }) {
  const values = {};
  const sources = {};
  const set = (key, value, where) => {
    if (value === undefined || value === '') return;
    values[key] = KEYS[key].bool ? toBool(value, where, key) : String(value);
    sources[key] = where;
  };
  let file = configFile ? path.resolve(cwd, configFile) : path.resolve(cwd, 'ibkr-auth.yaml');
  if (fs.existsSync(file)) {
    const yaml = parseYaml(fs.readFileSync(file, 'utf8'), file);
    for (const [flat, { value, line, name }] of Object.entries(yaml)) {
      const k = flat === 'private_key' ? 'private_key_file' : flat;
      if (!KEYS[k]) throw new ConfigError(`${file}:${line}: unknown key "${name}". Known keys: ${Object.keys(KEYS).join(', ')}.`);
      // A block scalar's last line break (and stray spaces) is not part of a one-line value.
      const pemText = KEYS[k].pem && String(value).includes('-----BEGIN');
      set(k, typeof value === 'string' && !pemText ? value.trim() : value, `${file}:${line}: ${name}`);
    }
  } else if (configFile) {
    throw new ConfigError(`${configFile}: no such file. Pass --config with the path of your ibkr-auth.yaml.`);
  } else {
    file = null;
  }
  let dotenv = {};
  let dotenvLine = {};
  if (envFile) {
    const p = path.resolve(cwd, envFile);
    if (!fs.existsSync(p)) throw new ConfigError(`${envFile}: no such file (--env-file).`);
    const text = fs.readFileSync(p, 'utf8');
    dotenv = parseEnv(text);
    dotenvLine = dotenvLines(text);
  }
  for (const [k, spec] of Object.entries(KEYS)) {
    // The first name that is set wins: the environment's, then the --env-file's.
    const name = (vars) => [spec.env, ...(spec.alsoEnv ?? [])].find((n) => vars[n] !== undefined);
    const e = name(env);
    const d = e ? undefined : name(dotenv);
    if (e) set(k, env[e], `environment ${e}`);
    else if (d) set(k, dotenv[d], `${envFile}:${dotenvLine[d] ?? 1}: ${d}`);
  }
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) set(k, v, `--${flagName(k)}`);
  const mode = values.client_id ? 'oauth2' : values.gateway_url && !values.consumer_key ? 'gateway' : 'oauth1';
  return { mode, values, sources, file };
}

/** The keys a mode needs that are missing, with the fix for each. */
export function missingKeys({ mode, values }) {
  return REQUIRED[mode].filter((k) => values[k] === undefined).map((k) => ({
    key: k, fix: `set ${k} in ibkr-auth.yaml, ${KEYS[k].env} in the environment, or --${flagName(k)}: ${FIX[k]}`,
  }));
}

/**
 * A file or directory setting as an absolute path: `~/` is the home directory, and a relative
 * path is relative to the YAML file (the current directory when the value is not from it).
 */
export function resolvePath(cfg, key, fallback) {
  const v = cfg.values[key] ?? fallback;
  if (v === undefined) return undefined;
  if (v === '~' || v.startsWith('~/')) return path.join(process.env.HOME || os.homedir(), v.slice(2));
  const fromYaml = cfg.file && cfg.sources[key]?.startsWith(cfg.file);
  return path.resolve(fromYaml ? path.dirname(cfg.file) : process.cwd(), v);
}

/** PEM text for a key given as a path or inline (environment variables may hold the PEM itself). */
export function readPem(cfg, key) {
  const v = cfg.values[key];
  if (v.includes('-----BEGIN') || v.includes('\\n')) return { text: v, path: null };
  const where = cfg.sources[key];
  const p = path.resolve(cfg.file ? path.dirname(cfg.file) : process.cwd(), v);
  if (!fs.existsSync(p)) throw new ConfigError(`${where}: ${v} does not exist. Set it to ${FIX[key] ?? 'the file\'s path'}.`);
  try {
    return { text: fs.readFileSync(p, 'utf8'), path: p };
  } catch (e) {
    throw new ConfigError(`${where}: ${v} cannot be read (${e.code}). Check its permissions.`);
  }
}

export function requireComplete(cfg) {
  const missing = missingKeys(cfg);
  if (missing.length) {
    const where = cfg.file ? ` (config: ${cfg.file})` : ' (no ibkr-auth.yaml here; see --config)';
    throw new ConfigError(`incomplete ${cfg.mode} configuration${where}:\n${missing.map((m) => `  - ${m.key}: ${m.fix}`).join('\n')}`);
  }
}
