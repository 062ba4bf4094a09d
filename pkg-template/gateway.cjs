'use strict';
// Node only: a fetch for the Client Portal Gateway's self-signed certificate that trusts that
// certificate for that host only, or — explicitly — skips verification for that host only. Every
// other URL goes to the normal fetch with normal verification.
// Node's TLS stack is loaded when first used, so importing the package does not load it (a
// measurable part of a serverless cold start) for users who never talk to a gateway.
const node = (name) => require(`node:${name}`);
const { IbkrAuthError } = require('./errors.cjs');

const DEFAULT_GATEWAY = 'https://localhost:5000';

function headerObject(h) {
  if (!h) return {};
  if (typeof h.forEach === 'function' && typeof h.entries === 'function') return Object.fromEntries(h.entries());
  if (Array.isArray(h)) return Object.fromEntries(h);
  return { ...h };
}

/**
 * @param {{ baseUrl?: string, certificate?: string, insecure?: boolean, fetch?: typeof fetch }} [o]
 * @returns {typeof fetch}
 */
function gatewayFetch(o = {}) {
  const { baseUrl = DEFAULT_GATEWAY, certificate, insecure = false, fetch: next = globalThis.fetch } = o;
  if (!certificate && insecure !== true) {
    throw new IbkrAuthError('INVALID_ARGUMENT', 'gatewayFetch needs `certificate` (the gateway\'s certificate, PEM; gatewayCertificate() reads it) '
      + 'or, knowingly, `insecure: true` (no verification, for that host only).');
  }
  let origin;
  try {
    origin = new URL(baseUrl).origin;
  } catch {
    throw new IbkrAuthError('INVALID_ARGUMENT', 'gatewayFetch: `baseUrl` must be a URL such as https://localhost:5000.');
  }
  const agent = new (node('https').Agent)({
    keepAlive: true,
    ...(certificate
      // Trust exactly this certificate: it is the only CA, and self-signed certificates rarely
      // name the host they are reached by, so the name check is skipped (the pin is the check).
      ? { ca: certificate, checkServerIdentity: () => undefined }
      : { rejectUnauthorized: false }),
  });
  return function fetchGateway(input, init = {}) {
    const isRequest = typeof input === 'object' && input !== null && typeof input.url === 'string' && typeof input.method === 'string';
    const url = new URL(isRequest ? input.url : String(input));
    if (url.origin !== origin) return next(input, init);
    return new Promise((resolve, reject) => {
      const headers = { ...headerObject(isRequest ? input.headers : undefined), ...headerObject(init.headers) };
      const body = init.body ?? null;
      if (body !== null && headers['content-length'] === undefined && headers['Content-Length'] === undefined) {
        headers['content-length'] = String(Buffer.byteLength(typeof body === 'string' ? body : Buffer.from(body)));
      }
      const req = node('https').request(url, { method: init.method ?? (isRequest ? input.method : 'GET'), headers, agent, signal: init.signal ?? undefined }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const noBody = [101, 204, 205, 304].includes(res.statusCode);
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) for (const one of [].concat(v)) h.append(k, one);
          resolve(new Response(noBody ? null : Buffer.concat(chunks), { status: res.statusCode, statusText: res.statusMessage, headers: h }));
        });
      });
      req.on('error', (e) => reject(e.name === 'AbortError' ? e : new TypeError('fetch failed', { cause: e })));
      req.end(body === null ? undefined : typeof body === 'string' ? body : Buffer.from(body));
    });
  };
}

/**
 * Reads the certificate the gateway presents (trust on first use): save it, check its
 * fingerprint, then pass it to gatewayFetch({ certificate }).
 * @returns {Promise<{ pem: string, fingerprint256: string, subject: object, validTo: string }>}
 */
function gatewayCertificate(baseUrl = DEFAULT_GATEWAY) {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = node('tls').connect({ host: url.hostname, port: Number(url.port || 443), rejectUnauthorized: false, ...(node('net').isIP(url.hostname) ? {} : { servername: url.hostname }) }, () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      if (!cert || !cert.raw) return reject(new IbkrAuthError('NETWORK', `${url.origin} presented no certificate.`));
      const pem = `-----BEGIN CERTIFICATE-----\n${cert.raw.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
      resolve({ pem, fingerprint256: cert.fingerprint256, subject: cert.subject, validTo: cert.valid_to });
    });
    socket.on('error', (e) => reject(new IbkrAuthError('NETWORK', `could not reach the gateway at ${url.origin}: ${e.message}`, { cause: e })));
  });
}

module.exports = { gatewayFetch, gatewayCertificate };
