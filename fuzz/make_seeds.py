#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target (tests/fuzz/corpus/<target>/: the test keys are among them, so they live with the tests) from the test vectors and
fixtures in tests/, plus hand-made hostile cases. Run again after changing it; the files are
committed. Seeds are named by content; `make fuzz` adds what it finds under fuzz/work/ instead."""
import base64, hashlib, json, os, re, shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T = lambda *p: os.path.join(ROOT, 'tests', *p)
read = lambda *p: open(T(*p), encoding='utf-8').read()
V1 = json.load(open(T('vectors', 'oauth1a', 'vectors.json')))
SRP = json.load(open(T('vectors', 'gateway', 'srp.json')))['vectors'][0]
corpus = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode('utf-8')
    corpus.setdefault(target, []).append(data)


def der_of(pem):
    body = re.sub(r'-----[^-]+-----', '', pem)
    return base64.b64decode(''.join(l for l in body.split('\n') if ':' not in l))


pems = {
    'sig': read('vectors', 'oauth1a', 'private_signature.pem'),
    'sig8': read('vectors', 'oauth1a', 'private_signature.pk8.pem'),
    'enc': read('vectors', 'oauth1a', 'private_encryption.pem'),
    'rsa1024': read('fixtures', 'rsa1024.pem'),
    'rsa3072': read('fixtures', 'rsa3072.pk8.pem'),
    'ec': read('fixtures', 'ec.pk8.pem'),
    'pk8enc': read('fixtures', 'encrypted.pk8.pem'),
    'legacy': read('fixtures', 'legacy-encrypted.pem'),
    'cert': read('fixtures', 'cert.pem'),
    'pub': read('vectors', 'oauth1a', 'public_signature.pem'),
    'dh': read('vectors', 'oauth1a', 'dhparam.pem'),
}

# Keys: every fixture, cut short, with escaped newlines, without armour, and damaged.
for name, pem in pems.items():
    add('pem_key', pem)
sig = pems['sig']
add('pem_key', sig[: len(sig) // 2])
add('pem_key', sig.replace('\n', '\\n'))
add('pem_key', '\ufeff' + sig.replace('\n', '\r\n'))
add('pem_key', base64.b64encode(der_of(sig)).decode())
add('pem_key', sig[:200] + '!' + sig[201:])
add('pem_key', '/home/me/keys/private_signature.pem')
add('pem_key', '')
for name in ['sig', 'sig8', 'rsa1024', 'ec']:
    add('der_key', der_of(pems[name]))
add('der_key', der_of(sig)[:300])
add('der_key', b'\x30\x82\xff\xff' + b'\x00' * 16)

# DH parameters: PEM (mode 0), DER (mode 1), a hex prime (mode 2).
dh_der = der_of(pems['dh'])
prime = V1['inputs']['dh_prime_hex']
add('dh_params', b'\x00' + pems['dh'].encode())
add('dh_params', b'\x00' + pems['sig'].encode())
add('dh_params', b'\x01' + dh_der)
add('dh_params', b'\x01' + dh_der[:-1] + b'\x05')
add('dh_params', b'\x01' + b'\x30\x06\x02\x01\x17\x02\x01\x02')
add('dh_params', b'\x02' + prime.encode())
add('dh_params', b'\x02' + ('0x' + prime[:-1] + '0').encode())
add('dh_params', b'\x02' + ':'.join(prime[i:i + 2] for i in range(0, 64, 2)).encode())

# The access token secret: text (even first byte) or raw ciphertext (odd).
secret = V1['inputs']['access_token_secret']
add('access_token_secret', b'\x00' + secret.encode())
add('access_token_secret', b'\x00' + secret.replace('+', '-').replace('/', '_').rstrip('=').encode())
add('access_token_secret', b'\x00' + secret[:-8].encode())
add('access_token_secret', b'\x00' + read('fixtures', 'secret-for-rsa4096.b64').encode())
add('access_token_secret', b'\x00' + b'not base64 at all!')
add('access_token_secret', b'\x01' + base64.b64decode(secret))
add('access_token_secret', b'\x01' + b'\x00\x02' + b'\x11' * 200)

# The server's DH response and LST signature: good, 0, 1, p-1, p, above p, not hex, and
# signatures of the wrong length or not hex.
lst = V1['live_session_token']['lst_k_needs_sign_byte']['simulated_server']['response_json']
B, S = lst['diffie_hellman_response'], lst['live_session_token_signature']
p = int(prime, 16)
add('dh_response', f'{B}\n{S}')
for x in [0, 1, p - 1, p, p + 1, 2 ** 4096]:
    add('dh_response', f'{x:x}\n{S}')
add('dh_response', f'{B}\n{S[:-2]}')
add('dh_response', f'{B}\n{S}00')
add('dh_response', f'{B}\nzz{S[2:]}')
add('dh_response', f'{B}\n')
add('dh_response', f'0x{B}\n{S.upper()}')
add('dh_response', f'{B}g\n{S}')

# Encodings.
for s in ['00ff', ' 0x00:0A:bc ', 'abc', 'zz', '', 'SGVsbG8=', 'SGVsbG8', 'SGV-bG8_', 'S===',
          'a+b%20c%zz%', '\u00e9\u4e2d\U0001f600']:
    add('encodings', s)

# URLs: URL, method, query.
for s in ['https://api.ibkr.com:443/v1/api/tickle?b=2&a=1%2C2&flag&c=a+b#frag\nGET\nconids=1,2&x=',
          'HTTP://LOCALHOST:5000/v1/api/\npost\n/iserver/accounts?a=b',
          'https://user:pw@api.ibkr.com/v1/api\nDELETE\nhttps://api.ibkr.com/v1/api/x?y=%zz',
          'ftp://x\nG E T\nhttps://evil.example/v1/api',
          'https://\n\n?&&=&',
          'https://api.ibkr.com/v1/api/\u00e9?\u00e9=\u00e8\nGET\n\u00e9=\u00e8']:
    add('url_query', s)

# Dates and Retry-After.
for s in ['Sun, 06 Nov 1994 08:49:37 GMT', 'Sunday, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994',
          'Thu, 29 Feb 2024 00:00:00 GMT', 'Mon, 31 Dec 9999 23:59:59 GMT', '120', '99999999999999999999',
          '-1', '']:
    add('http_date', s)

# The gateway's XML replies: the first byte picks the step.
N = SRP['N']
ini = (f"<ib_auth_res><ini_params><g>2</g><N>{N}</N><proto>6</proto><hash>SHA1</hash>"
       f"<s>{SRP['salt']}</s><B>{SRP['B']}</B><lp>false</lp><rsapub>{N}</rsapub>"
       "<paper>true</paper></ini_params></ib_auth_res>")
m2 = ("<ib_auth_res><ini_params><M2>$M2</M2></ini_params><auth_info><reached_max_login>false"
      "</reached_max_login></auth_info><sftypes>4,5.2a</sftypes></ib_auth_res>")
chal = "<ib_auth_res><two_factor><type>SWCR</type><challenge> 12 34 56 78 </challenge></two_factor></ib_auth_res>"
ok = "<ib_auth_res><auth_res>true</auth_res></ib_auth_res>"
for step, xml in [(0, ini), (1, m2.replace('$M2', SRP['M2'])), (2, chal), (3, ok),
                  (3, '<ib_auth_res><auth_res>false</auth_res><error>Invalid code</error></ib_auth_res>'),
                  (1, '<ib_auth_res><auth_info><reached_max_login>true</reached_max_login></auth_info></ib_auth_res>'),
                  (0, '<!DOCTYPE x [<!ENTITY a "aaaa">]><ib_auth_res>&a;</ib_auth_res>'),
                  (0, '<html><body>Login</body></html>'), (0, '<ib_auth_res><ini_params><N>'),
                  (4, '')]:
    add('gateway_xml', bytes([step]) + xml.encode())
add('gateway_login', '\n'.join([ini, m2, chal, ok, 'Client login succeeds']))
add('gateway_login', '\n'.join([ini, m2.replace('<sftypes>4,5.2a</sftypes>', ''), '', '', '']))
add('gateway_login', '\n'.join([ini.replace('<g>2</g>', '<g>5</g>'), m2, chal, ok, '']))
add('gateway_login', '\n'.join([ini, m2.replace('$M2', '00'), '', '', '']))
add('gateway_login', '\n'.join([ini.replace(SRP['B'], '0'), m2, '', '', '']))

# Second factors: suite, question, base32 secret.
for s in ['OCRA-1:HOTP-SHA1-8:QN08\n12345678\nJBSWY3DPEHPK3PXP',
          'OCRA-1:HOTP-SHA256-8:C-QA08-PSHA1-S064-T1M\nSIG1000000\njbsw y3dp ehpk 3pxp====',
          'OCRA-1:HOTP-SHA512-8:QH40\nabcdef\n',
          'OCRA-1:HOTP-SHA1-0:QN99\n' + '9' * 400 + '\n0']:
    add('otp', s)

# Token store entries.
for s in ['', 'v1.', 'v1.AAAA', 'v1.' + 'A' * 200, 'v2.abc', '{"token":"x"}']:
    add('fleet_entry', s)

# Sessions: kind (0 OAuth 1.0a, 1 OAuth 2.0, 2 gateway), operation, then the target and the
# scripted answers `STATUS|Header: v;…|BODY`.
def session(kind, op, target, *answers):
    add('session_responses', bytes([kind, op]) + '\n'.join([target, *answers]).encode())

DATE = 'Date: Sun, 06 Nov 1994 08:49:37 GMT'
o2 = ['200||{"access_token":"t1","token_type":"Bearer","expires_in":86399}',
      '200||{"access_token":"b1"}', '200||{"RESULT":true}', '200||{"authenticated":true}']
session(0, 0, '/iserver/accounts', '200||$LST', '200||{"accounts":["DU1"]}')
session(0, 0, '/iserver/accounts', f'200|{DATE}|$LST', '401||{"error":"invalid timestamp"}', '200||$LST', '200||{}')
session(0, 0, '/iserver/accounts', '200||{"diffie_hellman_response":"1","live_session_token_signature":"00"}')
session(0, 0, '/iserver/accounts', '200||{"diffie_hellman_response":"' + f'{p - 1:x}' + '","live_session_token_signature":"' + S + '"}')
session(0, 0, '/iserver/accounts', '200||{"diffie_hellman_response":"' + B + '","live_session_token_signature":"abc"}')
session(0, 0, '/iserver/accounts', '200||{"diffie_hellman_response":"' + B + '"')
session(0, 0, '/iserver/accounts', '302|Location: https://evil.example/steal|')
session(0, 0, '/iserver/accounts', '200||$LST', '400||{"error":"no bridge"}', '200||{}', '200||{"ok":1}')
session(0, 0, '/iserver/accounts', '200||$LST', '429|Retry-After: 999999|', '503||', '$NET', '$TIMEOUT')
session(0, 1, 'iserver/account/orders?x=1', '200||$LST', '410||', '200||[]')
session(0, 6, '', '200||$LST')
session(0, 9, 'verifier1', '200||{"oauth_token":"rt1"}', '200||{"oauth_token":"at1","oauth_token_secret":"' + secret + '","is_paper":true}')
session(0, 9, 'verifier1', '200||{"oauth_token":7}')
session(1, 0, '/iserver/accounts', *o2, '200||[]')
session(1, 0, '/iserver/accounts', '200||{"access_token":"t1","expires_in":-5}', '200||{"access_token":"b\\r\\nX: y"}', '200||{"RESULT":false}')
session(1, 2, '', *o2, '200||{"authenticated":false,"competing":true}', '200||{"authenticated":true}')
session(1, 3, '', *o2, '200||{"iserver":{"authStatus":{"authenticated":true}}}')
session(1, 0, '/x', '200||not json', '500||{"error":"boom"}')
session(2, 3, '', '200||{"iserver":{"authStatus":{"authenticated":false}},"collission":true}', '200||{}', '200||{"authenticated":true}')
session(2, 2, '', '302|Location: /sso/Login|', '401||')
session(2, 5, '', '200||{"authenticated":true,"competing":false}', '200||{"session":"x"}')
session(2, 7, '', '200||{"status":true}')
session(2, 8, '', '200||{"RESULT":true}')
session(2, 4, '', '500||', '200||{}')
session(2, 0, 'https://localhost:5000/v1/api/one/two?a=b', '200||\u00e9\ufffd[')

out = os.path.join(ROOT, 'tests', 'fuzz', 'corpus')
shutil.rmtree(out, ignore_errors=True)
for target, items in corpus.items():
    os.makedirs(os.path.join(out, target))
    for data in items:
        with open(os.path.join(out, target, hashlib.sha1(data).hexdigest()), 'wb') as f:
            f.write(data)
print(f'{sum(len(v) for v in corpus.values())} seeds for {len(corpus)} targets in tests/fuzz/corpus/')
