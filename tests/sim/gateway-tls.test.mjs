// The simulated gateway's certificate (sim/tls/) ships with its private key, so anyone can sign
// with that key. Trusting the certificate must trust it alone: it is a leaf (CA:FALSE), and a
// certificate signed with its key is refused by a client that trusts it. Needs the `openssl`
// command (as sim/tls.mjs does) to make the forgery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { GATEWAY_TLS } from '../../sim/server.mjs';

/** A TLS server on 127.0.0.1 presenting `cert` (a PEM chain) with `key`; resolves its port. */
async function serve(t, key, cert) {
  const server = tls.createServer({ key, cert }, (s) => s.end('ok'));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return server.address().port;
}

/** Connects trusting only the gateway certificate, with the normal name check: 'ok' or the error. */
function connect(port) {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: GATEWAY_TLS.cert }, () => {
      socket.once('data', (d) => { socket.end(); resolve(d.toString()); });
    });
    socket.on('error', resolve);
  });
}

test('the gateway certificate, trusted alone, is accepted for 127.0.0.1', async (t) => {
  assert.equal(await connect(await serve(t, GATEWAY_TLS.key, GATEWAY_TLS.cert)), 'ok');
});

test('a certificate signed with the gateway certificate\'s published key is refused by a client that trusts it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ibkr-auth-forge-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const f = (name) => path.join(dir, name);
  fs.writeFileSync(f('issuer-key.pem'), GATEWAY_TLS.key);
  fs.writeFileSync(f('issuer-cert.pem'), GATEWAY_TLS.cert);
  fs.writeFileSync(f('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n');
  const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('key.pem'), '-out', f('req.csr'), '-subj', '/CN=localhost');
  openssl('x509', '-req', '-in', f('req.csr'), '-CA', f('issuer-cert.pem'), '-CAkey', f('issuer-key.pem'), '-set_serial', '2',
    '-days', '30', '-sha256', '-extfile', f('ext.cnf'), '-out', f('cert.pem'));
  // The forgery names 127.0.0.1 and chains to the trusted certificate by issuer and signature; the
  // chain is refused only because that certificate may not sign others.
  const forged = fs.readFileSync(f('cert.pem'), 'utf8');
  const port = await serve(t, fs.readFileSync(f('key.pem'), 'utf8'), forged + GATEWAY_TLS.cert);
  const result = await connect(port);
  assert.ok(result instanceof Error, `the forged certificate was accepted (${result})`);
  assert.notEqual(result.code, 'ERR_TLS_CERT_ALTNAME_INVALID', 'refused for its name, not for its issuer');
  // OpenSSL's reason: the issuer's key usage lacks keyCertSign, or it is not a CA.
  assert.match(result.message, /certificate signing|invalid CA|not a CA/);
});
