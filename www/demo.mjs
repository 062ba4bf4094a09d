// The demo material: the test vectors' throwaway keys for the page, and the same user for the
// simulator that `make www` serves beside it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function demoMaterial() {
  const v = path.join(root, 'tests/vectors/oauth1a');
  const read = (f) => fs.readFileSync(path.join(v, f), 'utf8');
  const vectors = JSON.parse(read('vectors.json'));
  const lst = vectors.live_session_token.lst_k_needs_sign_byte;
  const api = vectors.api_requests.get_snapshot_query_in_base_string;
  return {
    vectors,
    page: {
      'consumer-key': vectors.inputs.consumer_key,
      'access-token': vectors.inputs.access_token,
      realm: '',
      'access-token-secret': vectors.inputs.access_token_secret,
      'signature-key': read('private_signature.pem'),
      'encryption-key': read('private_encryption.pem'),
      'dh-params': read('dhparam.pem'),
      'dh-random': vectors.inputs.dh_random_hex,
      'dh-response': lst.simulated_server.response_json.diffie_hellman_response,
      'lst-signature': lst.simulated_server.response_json.live_session_token_signature,
      method: api.method,
      url: api.url_sent,
      'sign-query': true,
      nonce: api.oauth_nonce,
      timestamp: api.oauth_timestamp,
    },
    sim: {
      keys: {
        signature: { privateKey: read('private_signature.pem'), publicKey: read('public_signature.pem') },
        encryption: { privateKey: read('private_encryption.pem'), publicKey: read('public_encryption.pem') },
        dhParams: read('dhparam.pem'),
      },
      consumerKey: vectors.inputs.consumer_key,
      accessToken: vectors.inputs.access_token,
      secretHex: vectors.derived['decrypted_access_token_secret_hex (= prepend)'],
    },
  };
}

