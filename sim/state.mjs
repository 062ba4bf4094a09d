// Keeps a simulated user's keys and access token in a folder, so the config a client saved keeps
// working across restarts. The keys are made on first use; private files are mode 0600.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { generateKeys } from './server.mjs';

/** Loads the state in `dir`, or creates it. Returns { options, created }. */
export function loadOrCreateState(dir) {
  const file = path.join(dir, 'state.json');
  if (fs.existsSync(file)) return { options: JSON.parse(fs.readFileSync(file, 'utf8')), created: false };
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const options = {
    keys: generateKeys(),
    consumerKey: 'IBKRSIMUL',
    accessToken: crypto.randomBytes(10).toString('hex'),
    secretHex: crypto.randomBytes(32).toString('hex'),
  };
  fs.writeFileSync(file, JSON.stringify(options, null, 1), { mode: 0o600 });
  return { options, created: true };
}

/** Writes the client's files (PEMs and a config) next to the state; returns the config's path. */
export function writeClientFiles(dir, config) {
  const files = {
    signatureKey: 'private_signature.pem',
    encryptionKey: 'private_encryption.pem',
    dhParams: 'dhparam.pem',
  };
  for (const [k, f] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), config[k], { mode: 0o600 });
  const out = path.join(dir, 'client-config.json');
  fs.writeFileSync(out, JSON.stringify(config, null, 1), { mode: 0o600 });
  return out;
}
