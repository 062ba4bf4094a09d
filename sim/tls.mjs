// Throwaway TLS material for the simulator's HTTPS and proxy modes: a CA made on first use and a
// server certificate it signs for 127.0.0.1, localhost, and the two hosts real clients hard-code
// (api.ibkr.com, and api.ipify.org, which ibauth asks for its public IP). node:crypto cannot make
// X.509 certificates, so this runs the `openssl` command. The CA's private key is deleted as soon
// as the server certificate is signed: trusting ca.pem lets nothing else be vouched for.
// Test material only: never add ca.pem to a system or browser trust store.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The names the server certificate covers. */
export const TLS_NAMES = ['localhost', '127.0.0.1', 'api.ibkr.com', 'api.ipify.org'];

/**
 * Loads the CA and server certificate kept in `dir`, or makes them. Returns { key, cert, ca,
 * caFile } (PEM strings and the CA's path, what a client is told to trust).
 */
export function testTls(dir) {
  const file = (f) => path.join(dir, f);
  if (!['ca.pem', 'server-key.pem', 'server-cert.pem'].every((f) => fs.existsSync(file(f)))) make(dir);
  return {
    key: fs.readFileSync(file('server-key.pem'), 'utf8'),
    cert: fs.readFileSync(file('server-cert.pem'), 'utf8'),
    ca: fs.readFileSync(file('ca.pem'), 'utf8'),
    caFile: file('ca.pem'),
  };
}

function make(dir) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const work = fs.mkdtempSync(path.join(dir, '.make-'));
  const w = (f) => path.join(work, f);
  const openssl = (...args) => {
    try {
      execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      const why = e.code === 'ENOENT' ? 'the openssl command is not installed' : String(e.stderr ?? e.message).trim();
      throw new Error(`simulator TLS: cannot make the test certificates (${why})`);
    }
  };
  try {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', w('ca-key.pem'), '-out', w('ca.pem'), '-days', '3650',
      '-subj', '/CN=ibkr-auth simulator throwaway test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', w('server-key.pem'), '-out', w('server.csr'), '-subj', '/CN=localhost');
    const san = TLS_NAMES.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    fs.writeFileSync(w('ext.cnf'), [
      `subjectAltName=${san}`, 'basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth', 'subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid,issuer', '',
    ].join('\n'));
    openssl('x509', '-req', '-in', w('server.csr'), '-CA', w('ca.pem'), '-CAkey', w('ca-key.pem'), '-set_serial', `0x${Date.now().toString(16)}`,
      '-out', w('server-cert.pem'), '-days', '825', '-sha256', '-extfile', w('ext.cnf'));
    for (const f of ['ca.pem', 'server-key.pem', 'server-cert.pem']) {
      fs.copyFileSync(w(f), path.join(dir, f));
      fs.chmodSync(path.join(dir, f), f === 'server-key.pem' ? 0o600 : 0o644);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true }); // the CA's key with it
  }
}
