// The package's conformance suite, runtime-agnostic: Node (require and import), headless
// Chromium and workerd all run it against the installed package. It takes the package's API and
// a `data` object holding the texts it needs (see loadData in harness.mjs), and returns
// { passed, failures } instead of throwing, so every runtime reports the same way.

const PREPEND = 'decrypted_access_token_secret_hex (= prepend)';

/** RSA-SHA256 verification with WebCrypto (browsers, workerd): an independent verifier. */
export async function webCryptoVerifyRsa(publicPem, text, signature) {
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const der = b64(publicPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''));
  const key = await crypto.subtle.importKey('spki', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
  return crypto.subtle.verify('RSASSA-PKCS1-v1_5', key, b64(signature), new TextEncoder().encode(text));
}

/** Resolves a `$NAME` input of tests/bad_inputs.json (same rules as tests/common/mod.rs). */
function makeResolver(table, vectors, files) {
  const input = (name) => {
    const spec = table.inputs[name];
    let s = spec.file !== undefined ? files[spec.file] : spec.vector.split('.').reduce((o, k) => o[k], vectors);
    if (typeof s !== 'string') throw new Error(`input ${name} did not resolve`);
    if (spec.slice) {
      const chars = [...s];
      const idx = (i) => Math.max(0, Math.min(chars.length, i < 0 ? chars.length + i : i));
      s = chars.slice(idx(spec.slice[0]), idx(spec.slice[1])).join('');
    }
    if (spec.keep_lines) s = s.split(/\r?\n/).slice(spec.keep_lines[0], spec.keep_lines[1]).map((l) => `${l}\n`).join('');
    if (spec.replace_at) {
      const [i, t] = spec.replace_at;
      s = s.slice(0, i) + t + s.slice(i + t.length);
    }
    if (spec.flip !== undefined) s = s.slice(0, spec.flip) + (s[spec.flip] === 'A' ? 'B' : 'A') + s.slice(spec.flip + 1);
    if (spec.append) s += spec.append;
    return s;
  };
  const resolve = (v) => {
    if (typeof v === 'string' && v.startsWith('$') && table.inputs[v.slice(1)]) return input(v.slice(1));
    if (Array.isArray(v)) return v.map(resolve);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
    return v;
  };
  return { input, resolve };
}

export async function runConformance(api, data, { verifyRsa } = {}) {
  const { vectors: v, table, files } = data;
  const failures = [];
  let passed = 0;
  const check = (name, fn) => {
    try {
      const r = fn();
      if (r === false) throw new Error('check returned false');
      passed++;
    } catch (e) {
      failures.push(`${name}: ${e && e.message}`);
    }
  };
  const eq = (a, b, what = '') => {
    if (a !== b) throw new Error(`${what} expected ${JSON.stringify(b)?.slice(0, 120)}, got ${JSON.stringify(a)?.slice(0, 120)}`);
  };
  const sig = files['vectors/oauth1a/private_signature.pem'];
  const sig8 = files['vectors/oauth1a/private_signature.pk8.pem'];
  const enc = files['vectors/oauth1a/private_encryption.pem'];
  const enc8 = files['vectors/oauth1a/private_encryption.pk8.pem'];
  const prepend = v.derived[PREPEND];
  const prime = v.inputs.dh_prime_hex;

  // --- the surface -------------------------------------------------------------------------
  const names = ['decryptAccessTokenSecret', 'parseDhParams', 'dhChallenge', 'liveSessionToken',
    'verifyLiveSessionToken', 'baseString', 'signRsaSha256', 'signHmacSha256', 'authorizationHeader',
    'dhRandom', 'liveSessionTokenRequest', 'requestTokenRequest', 'authorizeUrl', 'accessTokenRequest', 'signRequest',
    'clientAssertion', 'ssoSessionJwt'];
  for (const n of names) check(`export ${n}`, () => eq(typeof api[n], 'function', n));
  check('IbkrAuthError is an Error class', () => {
    const e = new api.IbkrAuthError('TIMEOUT', 'm', { status: 504, serverMessage: 's' });
    return e instanceof Error && e.name === 'IbkrAuthError' && e.code === 'TIMEOUT' && e.status === 504 && e.serverMessage === 's';
  });
  check('ERROR_CODES lists the contract codes', () => ['INVALID_ARGUMENT', 'INVALID_KEY', 'INVALID_DH_PARAMS',
    'INVALID_ACCESS_TOKEN_SECRET', 'DECRYPT_FAILED', 'BAD_DH_RESPONSE', 'LST_SIGNATURE_MISMATCH', 'UNAUTHORIZED',
    'NO_BRIDGE', 'GONE', 'RATE_LIMITED', 'TIMEOUT', 'NETWORK', 'HTTP_ERROR', 'CLOCK_SKEW'].every((c) => api.ERROR_CODES.includes(c)));

  // --- the handshake vectors ---------------------------------------------------------------
  for (const [kind, pem] of [['PKCS#1', enc], ['PKCS#8', enc8], ['CRLF', enc.replace(/\n/g, '\r\n')]]) {
    check(`decryptAccessTokenSecret (${kind})`, () => eq(api.decryptAccessTokenSecret(pem, v.inputs.access_token_secret), prepend));
  }
  check('parseDhParams', () => {
    const dh = api.parseDhParams(files['vectors/oauth1a/dhparam.pem']);
    eq(dh.prime, prime, 'prime');
    eq(dh.generator, 2, 'generator');
  });
  check('dhChallenge', () => eq(api.dhChallenge({ prime, random: v.inputs.dh_random_hex }), v.derived.diffie_hellman_challenge_hex));
  check('dhChallenge with explicit generator', () =>
    eq(api.dhChallenge({ prime, random: v.inputs.dh_random_hex, generator: 2 }), v.derived.diffie_hellman_challenge_hex));
  check('dhRandom is 256 fresh bits', () => {
    const a = api.dhRandom();
    const b = api.dhRandom();
    return /^[0-9a-f]{64}$/.test(a) && a !== b;
  });
  for (const [name, c] of Object.entries(v.live_session_token)) {
    const resp = c.simulated_server.response_json;
    check(`liveSessionToken ${name}`, () => eq(api.liveSessionToken({
      dhResponse: resp.diffie_hellman_response, random: v.inputs.dh_random_hex, prime, prepend,
    }), c.computation.live_session_token));
    check(`verifyLiveSessionToken ${name}`, () => api.verifyLiveSessionToken({
      token: c.computation.live_session_token, consumerKey: v.inputs.consumer_key, signature: resp.live_session_token_signature,
    }) === true);
    check(`verifyLiveSessionToken rejects the classic K-encoding bugs (${name})`, () => {
      for (const bad of [c.computation.negative_lst_if_K_unsigned_minimal, c.computation.negative_lst_if_K_left_padded_to_256_bytes]) {
        if (bad === c.computation.live_session_token) continue;
        if (api.verifyLiveSessionToken({ token: bad, consumerKey: v.inputs.consumer_key, signature: resp.live_session_token_signature })) return false;
      }
      return true;
    });
    check(`verifyLiveSessionToken rejects another consumer key (${name})`, () => api.verifyLiveSessionToken({
      token: c.computation.live_session_token, consumerKey: 'OTHERKEY', signature: resp.live_session_token_signature,
    }) === false);
    const r = c.request;
    for (const [kind, key] of [['PKCS#1', sig], ['PKCS#8', sig8]]) {
      check(`liveSessionTokenRequest ${name} (${kind})`, () => {
        const s = api.liveSessionTokenRequest({
          baseUrl: v.inputs.base_url, consumerKey: v.inputs.consumer_key, accessToken: v.inputs.access_token,
          challenge: v.derived.diffie_hellman_challenge_hex, prepend, signatureKey: key, nonce: r.oauth_nonce,
          timestamp: Number(r.oauth_timestamp),
        });
        eq(s.url, r.url, 'url');
        eq(s.method, 'POST', 'method');
        eq(s.baseString, r.base_string, 'base string');
        eq(s.signature, r.oauth_signature_base64, 'signature');
        eq(s.authorization, r.authorization_header, 'header');
      });
    }
    check(`baseString + signRsaSha256 + authorizationHeader ${name}`, () => {
      const params = {
        diffie_hellman_challenge: v.derived.diffie_hellman_challenge_hex, oauth_consumer_key: v.inputs.consumer_key,
        oauth_nonce: r.oauth_nonce, oauth_signature_method: 'RSA-SHA256', oauth_timestamp: r.oauth_timestamp,
        oauth_token: v.inputs.access_token,
      };
      const base = api.baseString({ method: 'POST', url: r.url, params, prepend });
      eq(base, r.base_string, 'base string');
      const signature = api.signRsaSha256(sig, base);
      eq(signature, r.oauth_signature_base64, 'signature');
      eq(api.authorizationHeader({ realm: v.inputs.realm, params, signature }), r.authorization_header, 'header');
    });
  }

  // --- API requests, both query styles -------------------------------------------------------
  const lst = v.api_requests.live_session_token_used;
  for (const [name, c] of Object.entries(v.api_requests)) {
    if (!c || typeof c !== 'object') continue;
    check(`signRequest ${name}`, () => {
      const s = api.signRequest({
        method: c.method, url: c.url_sent, consumerKey: v.inputs.consumer_key, accessToken: v.inputs.access_token,
        liveSessionToken: lst, nonce: c.oauth_nonce, timestamp: c.oauth_timestamp, signQuery: c.query_params_in_base_string,
      });
      eq(s.baseString, c.base_string, 'base string');
      eq(s.signature, c.oauth_signature_base64, 'signature');
      eq(s.authorization, c.authorization_header, 'header');
    });
    check(`baseString + signHmacSha256 ${name}`, () => {
      const params = {
        oauth_consumer_key: v.inputs.consumer_key, oauth_nonce: c.oauth_nonce, oauth_signature_method: 'HMAC-SHA256',
        oauth_timestamp: c.oauth_timestamp, oauth_token: v.inputs.access_token,
      };
      const base = api.baseString({ method: c.method, url: c.url_sent, params, signQuery: c.query_params_in_base_string });
      eq(base, c.base_string, 'base string');
      eq(api.signHmacSha256(lst, base), c.oauth_signature_base64, 'signature');
      eq(api.authorizationHeader({ realm: v.inputs.realm, params, signature: c.oauth_signature_base64 }), c.authorization_header);
    });
  }

  // --- third party ---------------------------------------------------------------------------
  const tp = v.third_party;
  check('requestTokenRequest', () => {
    const p = tp.request_token.oauth_params;
    const s = api.requestTokenRequest({ consumerKey: p.oauth_consumer_key, signatureKey: sig, nonce: p.oauth_nonce, timestamp: p.oauth_timestamp });
    eq(s.url, tp.request_token.url, 'url');
    eq(s.baseString, tp.request_token.base_string, 'base string');
    eq(s.authorization, tp.request_token.authorization_header, 'header');
  });
  check('authorizeUrl', () => eq(api.authorizeUrl({ requestToken: tp.request_token.example_response_json.oauth_token }), tp.authorize.url));
  check('accessTokenRequest', () => {
    const p = tp.access_token.oauth_params;
    const s = api.accessTokenRequest({
      consumerKey: p.oauth_consumer_key, signatureKey: sig8, nonce: p.oauth_nonce, timestamp: p.oauth_timestamp,
      requestToken: p.oauth_token, verifier: p.oauth_verifier,
    });
    eq(s.baseString, tp.access_token.base_string, 'base string');
    eq(s.authorization, tp.access_token.authorization_header, 'header');
  });
  check('encoding examples', () => {
    for (const ex of Object.values(v.encoding_examples.examples)) {
      const [k, val] = [ex.pair.slice(0, ex.pair.indexOf('=')), ex.pair.slice(ex.pair.indexOf('=') + 1)];
      const base = api.baseString({ method: 'GET', url: 'https://h/p', params: { [k]: val } });
      eq(base, `GET&https%3A%2F%2Fh%2Fp&${ex.encoded_once}`, ex.pair);
    }
  });
  check('defaults: fresh nonce and current timestamp', () => {
    const a = api.signRequest({ method: 'GET', url: 'https://api.ibkr.com/v1/api/tickle', consumerKey: 'TESTCONS', accessToken: 't', liveSessionToken: lst });
    const b = api.signRequest({ method: 'GET', url: 'https://api.ibkr.com/v1/api/tickle', consumerKey: 'TESTCONS', accessToken: 't', liveSessionToken: lst });
    const ts = Number(a.oauthParams.oauth_timestamp);
    return a.oauthParams.oauth_nonce !== b.oauthParams.oauth_nonce && Math.abs(ts - Date.now() / 1000) < 60
      && a.authorization.startsWith('OAuth realm="test_realm"');
  });

  // --- OAuth 2.0 JWTs, byte for byte --------------------------------------------------------
  for (const keyFile of ['vectors/oauth2/private_key.pem', 'vectors/oauth2/private_key_pkcs1.pem']) {
    for (const sc of data.oauth2.scenarios) {
      const i = sc.inputs;
      for (const r of sc.requests.filter((x) => x.jwt_file)) {
        check(`${r.jwt_file} (${keyFile.endsWith('pkcs1.pem') ? 'PKCS#1' : 'PKCS#8'})`, () => {
          const expected = JSON.parse(files[`vectors/oauth2/${r.jwt_file}`]).compact;
          const common = { clientId: i.client_id, clientKeyId: i.client_key_id, privateKey: files[keyFile], now: i.now_unix };
          const jwt = r.jwt_file.includes('client_assertion')
            ? api.clientAssertion(common)
            : api.ssoSessionJwt({ ...common, credential: i.credential, ip: i.public_ip });
          eq(jwt, expected);
        });
      }
    }
  }

  // --- RSA key sizes, checked by an independent verifier where the runtime has one ------------
  if (verifyRsa) {
    for (const [priv, pub] of [['fixtures/rsa3072.pk8.pem', 'fixtures/rsa3072.pub.pem'], ['fixtures/rsa4096.pem', 'fixtures/rsa4096.pub.pem'],
      ['vectors/oauth1a/private_signature.pem', 'vectors/oauth1a/public_signature.pem']]) {
      const text = 'POST&https%3A%2F%2Fapi.ibkr.com%2Fv1%2Fapi%2Foauth%2Flive_session_token&x%3D1';
      let signature;
      check(`signRsaSha256 with ${priv}`, () => { signature = api.signRsaSha256(files[priv], text); });
      if (signature) {
        const ok = await verifyRsa(files[pub], text, signature);
        if (ok) passed++; else failures.push(`independent RSA verification of ${priv} failed`);
      }
    }
  }

  // --- bad inputs ----------------------------------------------------------------------------
  const { input, resolve } = makeResolver(table, v, files);
  const secrets = table.secrets.map(input);
  for (const c of table.cases) {
    check(`bad input: ${c.name}`, () => {
      const args = resolve(c.args);
      let err;
      try {
        api[c.fn](...args);
      } catch (e) {
        err = e;
      }
      if (!err) throw new Error(`accepted; expected ${c.code}`);
      if (!(err instanceof api.IbkrAuthError)) throw new Error(`not an IbkrAuthError: ${err}`);
      if (!(err instanceof Error)) throw new Error('not an Error');
      eq(err.code, c.code, `code (message: ${err.message})`);
      for (const w of c.mention ?? []) if (!err.message.includes(w)) throw new Error(`message lacks "${w}": ${err.message}`);
      for (const sec of secrets) if (err.message.includes(sec)) throw new Error('message leaks a secret');
      const strings = args.flatMap((a) => (typeof a === 'string' ? [a]
        : a && typeof a === 'object' ? Object.values(a).filter((x) => typeof x === 'string') : []));
      for (const s of strings) {
        for (const line of s.split(/\r?\n/)) {
          if (line.length >= 16 && !line.startsWith('-----') && !line.includes(': ') && err.message.includes(line)) throw new Error('message echoes an input');
        }
      }
    });
  }
  return { passed, failures };
}
