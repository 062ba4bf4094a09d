// `ibkr-auth keys`: the signature and encryption key pairs and the DH parameters a user uploads
// to IBKR's self-service portal. Private files are written with mode 0600.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { dhParamsPem } from '../sim/oauth.mjs';
import { out } from './output.js';

class KeysError extends Error {}

function safePrime(bits, spinner) {
  return new Promise((resolve, reject) => {
    crypto.generatePrime(bits, { safe: true, bigint: true }, (err, p) => (err ? reject(err) : resolve(p)));
    spinner.update(`searching for a ${bits}-bit safe prime (this takes a while)`);
  });
}

export async function runKeys({ out: dir, bits = '2048', dh = 'generate', force = false, json = false }) {
  const size = Number(bits);
  if (![2048, 3072, 4096].includes(size)) throw new KeysError('--bits must be 2048, 3072 or 4096');
  if (!['generate', 'standard'].includes(dh)) throw new KeysError('--dh must be generate (a new safe prime) or standard (RFC 3526 group 14, 2048 bits)');
  fs.mkdirSync(dir, { recursive: true });
  const files = {
    private_signature: 'private_signature.pem', public_signature: 'public_signature.pem',
    private_encryption: 'private_encryption.pem', public_encryption: 'public_encryption.pem', dhparam: 'dhparam.pem',
  };
  const taken = Object.values(files).filter((f) => fs.existsSync(path.join(dir, f)));
  if (taken.length && !force) throw new KeysError(`${taken.join(', ')} already exist in ${path.resolve(dir)}: keys in use would be lost. Choose another --out, or --force.`);

  const rsa = (label) => {
    const spin = out.spinner(`RSA-${size} ${label} key pair`);
    const pair = crypto.generateKeyPairSync('rsa', { modulusLength: size, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    spin.done();
    return pair;
  };
  const signature = rsa('signature');
  const encryption = rsa('encryption');
  const spin = out.spinner('DH parameters');
  let dhPem;
  if (dh === 'standard') {
    dhPem = dhParamsPem(crypto.getDiffieHellman('modp14').getPrime('hex').replace(/^0+/, ''), 2);
    spin.done('DH parameters: RFC 3526 group 14 (2048-bit MODP), g = 2');
  } else {
    const p = await safePrime(2048, spin);
    dhPem = dhParamsPem(p.toString(16), 2);
    spin.done('DH parameters: a new 2048-bit safe prime, g = 2');
  }

  const write = (name, text, mode) => fs.writeFileSync(path.join(dir, name), text, { mode });
  write(files.private_signature, signature.privateKey, 0o600);
  write(files.private_encryption, encryption.privateKey, 0o600);
  write(files.public_signature, signature.publicKey, 0o644);
  write(files.public_encryption, encryption.publicKey, 0o644);
  write(files.dhparam, dhPem, 0o644);
  for (const f of [files.private_signature, files.private_encryption]) fs.chmodSync(path.join(dir, f), 0o600);

  const abs = (f) => path.resolve(dir, f);
  if (json) {
    out.json({ directory: path.resolve(dir), files: Object.fromEntries(Object.entries(files).map(([k, f]) => [k, abs(f)])), publicSignature: signature.publicKey, publicEncryption: encryption.publicKey, dhParams: dhPem });
    return;
  }
  out.line(`\nwritten to ${path.resolve(dir)} (private keys with mode 600 — keep them off shared disks and out of git):`);
  for (const f of Object.values(files)) out.line(`  ${f}`);
  out.line(`\n${out.bold('public_signature.pem')}\n${signature.publicKey}\n${out.bold('public_encryption.pem')}\n${encryption.publicKey}\n${out.bold('dhparam.pem')}\n${dhPem}`);
  out.line(`${out.bold('next steps')}
  1. Log in to IBKR's OAuth self-service portal with the account's username.
  2. Upload public_signature.pem, public_encryption.pem and dhparam.pem (LF line endings).
  3. Generate the access token and access token secret there; note your consumer key.
  4. Put them in ibkr-auth.yaml with signature_key_file, encryption_key_file, dh_params_file
     pointing at the files above, then run: ibkr-auth doctor --live`);
}

export { KeysError };
