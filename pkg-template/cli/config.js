// Configuration for the CLI: a YAML file, then environment variables (an optional --env-file
// fills in what the environment lacks), then flags — each overriding the one before. Every
// error names where the value came from, the key, and the fix.
import fs from 'node:fs';
import path from 'node:path';

export class ConfigError extends Error {}

/** The subset of YAML a config needs: `key: value` lines, comments, quotes, `|` blocks. */
export function parseYaml(text, file) {
  const out = {};
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    if (/^\s*(#|$)/.test(raw)) continue;
    const m = raw.match(/^([A-Za-z_][\w.-]*)\s*:\s*(.*)$/);
    if (!m) throw new ConfigError(`${file}:${i + 1}: expected "key: value", got ${JSON.stringify(raw.trim().slice(0, 40))}`);
    const [, key, rest] = m;
    let value = rest.trim();
    if (value === '|' || value === '|-' || value === '>') {
      const block = [];
      while (i + 1 < lines.length && (/^\s+\S/.test(lines[i + 1]) || lines[i + 1].trim() === '')) block.push(lines[++i]);
      const indent = Math.min(...block.filter((l) => l.trim()).map((l) => l.match(/^\s*/)[0].length));
      value = block.map((l) => l.slice(indent)).join('\n').replace(/\n+$/, '') + (value === '|' ? '\n' : '');
    } else if (/^["']/.test(value)) {
      const q = value[0];
      const end = value.lastIndexOf(q);
      if (end <= 0) throw new ConfigError(`${file}:${i + 1}: ${key}: the quote is not closed`);
      value = value.slice(1, end);
      if (q === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    } else {
      value = value.replace(/\s+#.*$/, '');
      if (value === 'true' || value === 'false') value = value === 'true';
      else if (value === '' || value === '~' || value === 'null') value = undefined;
    }
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** `KEY=value` lines; quotes optional; `export` allowed; comments. */
export function parseDotenv(text) {
  const out = {};
  for (const line of text.replace(/\r\n/g, '\n').split('\n')) {
    const m = line.match(/^\s*(?:export\s+)?([A-Za-z_]\w*)\s*=\s*(.*)\s*$/);
    if (!m) continue;
    let v = m[2];
    if (/^".*"$/s.test(v)) v = v.slice(1, -1).replace(/\\n/g, '\n');
    else if (/^'.*'$/s.test(v)) v = v.slice(1, -1);
    else v = v.replace(/\s+#.*$/, '');
    out[m[1]] = v;
  }
  return out;
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
  throw new ConfigError(`${where}: ${key} must be true or false, got ${JSON.stringify(v)}`);
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
    for (const [k, v] of Object.entries(yaml)) {
      if (k === 'private_key') { set('private_key_file', v, `${file}: private_key`); continue; }
      if (!KEYS[k]) throw new ConfigError(`${file}: unknown key "${k}". Known keys: ${Object.keys(KEYS).join(', ')}.`);
      set(k, v, `${file}: ${k}`);
    }
  } else if (configFile) {
    throw new ConfigError(`${configFile}: no such file. Pass --config with the path of your ibkr-auth.yaml.`);
  } else {
    file = null;
  }
  let dotenv = {};
  if (envFile) {
    const p = path.resolve(cwd, envFile);
    if (!fs.existsSync(p)) throw new ConfigError(`${envFile}: no such file (--env-file).`);
    dotenv = parseDotenv(fs.readFileSync(p, 'utf8'));
  }
  for (const [k, spec] of Object.entries(KEYS)) {
    if (env[spec.env] !== undefined) set(k, env[spec.env], `environment ${spec.env}`);
    else if (dotenv[spec.env] !== undefined) set(k, dotenv[spec.env], `${envFile}: ${spec.env}`);
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
