"""The client side of one LST handshake in ibind (PyPI, its own code path), with a mocked server.

Prints JSON: {"iterations": N, "client_cpu_ms_per_handshake": x}. The server's work (its half of
Diffie-Hellman and the LST) is timed separately and subtracted, so only ibind's client work counts.
Keys are parsed and the prepend is computed once, as for the other contenders.
"""
import hashlib
import hmac
import json
import secrets
import sys
import time
from pathlib import Path

import ibind.oauth.oauth1a as oa
from ibind.oauth.oauth1a import OAuth1aConfig

VECTORS = Path(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 20
v = json.loads((VECTORS / "vectors.json").read_text())
p = int(v["inputs"]["dh_prime_hex"], 16)
secret = bytes.fromhex(v["derived"]["decrypted_access_token_secret_hex (= prepend)"])
consumer_key = v["inputs"]["consumer_key"]
server_time = 0.0


def java_bytes(n: int) -> bytes:
    b = n.to_bytes((n.bit_length() + 7) // 8 or 1, "big")
    return b"\x00" + b if b[0] & 0x80 else b


class Result:
    def __init__(self, data):
        self.data = data


class MockServer:
    base_url = v["inputs"]["base_url"]

    def post(self, endpoint, extra_headers=None, **_):
        global server_time
        t = time.process_time()
        auth = extra_headers["Authorization"]
        a_hex = auth.split('diffie_hellman_challenge="')[1].split('"')[0]
        b = secrets.randbits(256)
        big_b = pow(2, b, p)
        k = pow(int(a_hex, 16), b, p)
        lst = hmac.new(java_bytes(k), secret, hashlib.sha1).digest()
        sig = hmac.new(lst, consumer_key.encode(), hashlib.sha1).hexdigest()
        server_time += time.process_time() - t
        return Result({"diffie_hellman_response": format(big_b, "x"), "live_session_token_signature": sig,
                       "live_session_token_expiration": 1700086400000})


cfg = OAuth1aConfig(
    access_token=v["inputs"]["access_token"], access_token_secret=v["inputs"]["access_token_secret"],
    consumer_key=consumer_key, dh_prime=v["inputs"]["dh_prime_hex"], dh_generator="2", realm="limited_poa",
    encryption_key_fp=str(VECTORS / "private_encryption.pem"), signature_key_fp=str(VECTORS / "private_signature.pem"),
    init_oauth=False, maintain_oauth=False, init_brokerage_session=False, shutdown_oauth=False,
)
# Parse keys and compute the prepend once (ibind re-reads them per handshake; cache both, like the others).
sig_key = oa.read_private_key(str(VECTORS / "private_signature.pem"))
enc_key = oa.read_private_key(str(VECTORS / "private_encryption.pem"))
prepend = oa.calculate_live_session_token_prepend(v["inputs"]["access_token_secret"], enc_key)
oa.read_private_key = lambda private_key_fp=None, *a, **k: sig_key if "signature" in str(private_key_fp) else enc_key
oa.calculate_live_session_token_prepend = lambda *_, **__: prepend

server = MockServer()
oa.req_live_session_token(server, cfg)  # warm-up
server_time = 0.0
start = time.process_time()
for _ in range(N):
    lst, _, sig = oa.req_live_session_token(server, cfg)
    assert oa.validate_live_session_token(lst, sig, consumer_key)
total = time.process_time() - start
print(json.dumps({"iterations": N, "client_cpu_ms_per_handshake": (total - server_time) * 1000 / N,
                  "ibind": __import__("importlib.metadata").metadata.version("ibind")}))
