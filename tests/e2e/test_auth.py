"""End-to-end tests of bearer-token authentication in the nginx module:
what is rejected (and how: JSON 401, WWW-Authenticate, a warn line in
nginx's error log with the request id, nothing written to the database),
JWKS rotation without a restart, and the users row made on first sight.

Tokens are minted with `mangoo-worker token` (stack.token) or, for the
attacks the tool cannot express, crafted here: RS256 signing is done in
pure Python from the PEM in the key dir, and a test checks that such a
token is accepted so that the rejections below are rejections of the
attack, not of a broken test signer.

Run: python3 -m unittest -v tests/e2e/test_auth.py
"""

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, WORKER_BIN  # noqa: E402

stack = None
_other_key_dirs = {}

RID_RE = re.compile(r"^[0-9a-f]{32}$")
BEARER_CHALLENGE = 'Bearer error="invalid_token"'


def setUpModule():
    global stack
    stack = Stack(workers=2).start()


def tearDownModule():
    if stack is not None:
        stack.stop()


# -- base64url, DER and RS256 in pure Python ---------------------------------

def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _der_read(data, i):
    tag = data[i]
    length = data[i + 1]
    i += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[i:i + n], "big")
        i += n
    return tag, data[i:i + length], i + length


def _der_items(data):
    items, i = [], 0
    while i < len(data):
        tag, value, i = _der_read(data, i)
        items.append((tag, value))
    return items


def _der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _der_tlv(tag, value):
    return bytes([tag]) + _der_len(len(value)) + value


def _der_int(x):
    return _der_tlv(0x02, x.to_bytes(x.bit_length() // 8 + 1, "big"))


def load_private_key(path):
    """(n, e, d) of an RSA private key in a PKCS#8 or PKCS#1 PEM file."""
    with open(path) as f:
        pem = f.read()
    m = re.search(r"-----BEGIN (RSA )?PRIVATE KEY-----(.*?)-----END", pem, re.S)
    if m is None:
        raise ValueError("no private key in " + path)
    der = base64.b64decode("".join(m.group(2).split()))
    _, body, _ = _der_read(der, 0)
    items = _der_items(body)
    if not m.group(1):          # PKCS#8: version, algorithm, OCTET STRING
        _, body, _ = _der_read(items[2][1], 0)
        items = _der_items(body)
    ints = [int.from_bytes(v, "big") for tag, v in items if tag == 0x02]
    return ints[1], ints[2], ints[3]


_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def rs256_sign(key, message):
    n, _, d = key
    k = (n.bit_length() + 7) // 8
    t = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")


def public_pems(n, e):
    """The public key as SubjectPublicKeyInfo and PKCS#1 PEM texts."""
    pkcs1 = _der_tlv(0x30, _der_int(n) + _der_int(e))
    alg = _der_tlv(0x30, bytes.fromhex("06092a864886f70d010101") + b"\x05\x00")
    spki = _der_tlv(0x30, alg + _der_tlv(0x03, b"\x00" + pkcs1))

    def pem(label, der):
        b = base64.b64encode(der).decode()
        lines = [b[i:i + 64] for i in range(0, len(b), 64)]
        return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)

    return pem("PUBLIC KEY", spki), pem("RSA PUBLIC KEY", pkcs1)


# -- key dirs ----------------------------------------------------------------

def read_kid(key_dir):
    with open(os.path.join(key_dir, "current")) as f:
        return f.read().strip()


def read_jwks(key_dir):
    with open(os.path.join(key_dir, "jwks.json")) as f:
        return json.load(f)


def jwk_of(key_dir, kid):
    for k in read_jwks(key_dir)["keys"]:
        if k.get("kid") == kid:
            return k
    raise AssertionError("kid %r not in %s/jwks.json" % (kid, key_dir))


def private_key(key_dir):
    """The private key of key_dir's current kid, found by its modulus."""
    want = int.from_bytes(unb64u(jwk_of(key_dir, read_kid(key_dir))["n"]), "big")
    for root, _, files in os.walk(key_dir):
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                with open(path, "rb") as f:
                    if b"PRIVATE KEY-----" not in f.read(1 << 16):
                        continue
                key = load_private_key(path)
            except (OSError, ValueError, IndexError):
                continue
            if key[0] == want:
                return key
    raise AssertionError("no private key for the current kid in " + key_dir)


def other_key_dir(name):
    """A second key dir, made once per name with `mangoo-worker keygen`."""
    if name not in _other_key_dirs:
        path = os.path.join(stack.state, "keys-" + name)
        subprocess.run([WORKER_BIN, "keygen", "--dir", path], check=True,
                       stdout=subprocess.DEVNULL, env=stack.env)
        _other_key_dirs[name] = path
    return _other_key_dirs[name]


def parts(token):
    h, p, s = token.split(".")
    return h, p, s


def claims_of(token):
    return json.loads(unb64u(parts(token)[1]))


def craft(header, claims, key=None, signature=None):
    """A compact JWS from header and claims (dicts, or exact JSON text),
    signed RS256 with key, or carrying the given signature bytes/text."""
    h = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    c = claims if isinstance(claims, str) else json.dumps(claims, separators=(",", ":"))
    signing_input = b64u(h) + "." + b64u(c)
    if key is not None:
        signature = rs256_sign(key, signing_input.encode())
    if isinstance(signature, bytes):
        signature = b64u(signature)
    return signing_input + "." + (signature or "")


# -- tests -------------------------------------------------------------------

class AuthTestCase(unittest.TestCase):
    maxDiff = None

    def sub(self, suffix=""):
        return "auth-%s%s" % (self.id().rsplit(".", 1)[-1], suffix)

    def assertErrorBody(self, r, status, code):
        self.assertEqual(r.status, status, r)
        rid = r.header("X-Request-Id")
        self.assertIsNotNone(rid, r)
        self.assertRegex(rid, RID_RE)
        ctype = (r.header("Content-Type") or "").split(";")[0].strip().lower()
        self.assertEqual(ctype, "application/json", r)
        body = r.json()
        self.assertEqual(set(body), {"error"}, body)
        self.assertEqual(set(body["error"]), {"code", "message", "request_id"}, body)
        self.assertEqual(body["error"]["code"], code, body)
        self.assertIsInstance(body["error"]["message"], str)
        self.assertEqual(body["error"]["request_id"], rid, body)
        return rid

    def assertUnauthorized(self, r):
        rid = self.assertErrorBody(r, 401, "unauthorized")
        self.assertEqual(r.header("WWW-Authenticate"), BEARER_CHALLENGE, r)
        return rid

    def assertLogged(self, rid, kid=None):
        """nginx's error log has the module's warn line for request rid."""
        def line():
            for ln in stack.log_text("nginx-error.log").splitlines():
                if rid in ln and "token rejected" in ln:
                    return ln
            return None
        found = stack.wait_for(line, timeout=5)
        self.assertTrue(found, "no 'token rejected' line with request %s in nginx-error.log"
                        % rid)
        self.assertIn("[warn]", found)
        if kid is not None:
            self.assertIn('kid "%s"' % kid, found)

    def assertNoTrace(self, sub):
        self.assertEqual(stack.psql("select count(*) from users where id = '%s'" % sub), "0")
        self.assertEqual(stack.psql("select count(*) from bots where owner_id = '%s'" % sub),
                         "0")

    def assertOk(self, tok):
        r = stack.request("GET", "/api/v1/bots", token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertRegex(r.header("X-Request-Id") or "", RID_RE)
        body = r.json()
        self.assertIn("items", body)
        return body


class MissingCredentialsTest(AuthTestCase):
    def test_missing_authorization(self):
        for method, path, body in (("GET", "/api/v1/bots", None),
                                   ("POST", "/api/v1/bots", {"name": "x"}),
                                   ("GET", "/api/v1/bots/00000000-0000-0000-0000-000000000000",
                                    None)):
            with self.subTest(method=method, path=path):
                self.assertUnauthorized(stack.request(method, path, body))

    def test_not_a_bearer_scheme(self):
        tok = stack.token(self.sub())
        for value in ("Basic " + base64.b64encode(b"alice:secret").decode(),
                      "Basic " + tok, "Token " + tok, "Bearer", "Bearer ",
                      "Bearertoken" + tok, tok):
            with self.subTest(authorization=value[:30]):
                r = stack.request("POST", "/api/v1/bots", {"name": "x"},
                                  headers={"Authorization": value})
                self.assertUnauthorized(r)
        self.assertNoTrace(self.sub())


class ValidTokenTest(AuthTestCase):
    def test_valid_token_is_accepted(self):
        tok = stack.token(self.sub())
        r1 = stack.request("GET", "/api/v1/bots", token=tok)
        r2 = stack.request("GET", "/api/v1/bots", token=tok)
        self.assertEqual(r1.status, 200, r1)
        self.assertEqual(r1.json(), {"items": [], "next_cursor": None})
        self.assertRegex(r1.header("X-Request-Id") or "", RID_RE)
        self.assertRegex(r2.header("X-Request-Id") or "", RID_RE)
        self.assertNotEqual(r1.header("X-Request-Id"), r2.header("X-Request-Id"))

    def test_python_signed_token_is_accepted(self):
        """The test signer works, so the crafted attacks below are fair."""
        sub = self.sub()
        claims = claims_of(stack.token(sub))
        tok = craft({"alg": "RS256", "kid": read_kid(stack.key_dir), "typ": "JWT"},
                    claims, key=private_key(stack.key_dir))
        self.assertOk(tok)

    def test_times_within_leeway_are_accepted(self):
        now = int(time.time())
        self.assertOk(stack.token(self.sub("-nbf"), nbf=now + 5))
        self.assertOk(stack.token(self.sub("-exp"), exp=now - 5))

    def test_user_row_on_first_sight(self):
        sub = self.sub()
        self.assertEqual(stack.psql("select count(*) from users where id = '%s'" % sub), "0")
        tok = stack.token(sub, username="alice-e2e")
        self.assertOk(tok)
        self.assertEqual(stack.psql("select id || '|' || username from users where id = '%s'"
                                    % sub), sub + "|alice-e2e")
        self.assertOk(tok)
        r = stack.request("POST", "/api/v1/bots", {"name": "first"}, token=tok)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["owner_id"], sub)
        self.assertEqual(stack.psql("select count(*) from users where id = '%s'" % sub), "1")


# Each entry: name -> function(test, sub) returning the bad token and the
# kid expected in the log line (None: not checked).

def _bad_expired(t, sub):
    return stack.token(sub, exp=int(time.time()) - 3600), None


def _bad_not_yet_valid(t, sub):
    return stack.token(sub, nbf=int(time.time()) + 3600), None


def _bad_issuer(t, sub):
    return stack.token(sub, issuer="https://evil.example"), None


def _bad_client_id(t, sub):
    return stack.token(sub, client_id="other"), None


def _bad_token_use_id(t, sub):
    return stack.token(sub, token_use="id"), None


def _bad_other_key_dir(t, sub):
    d = other_key_dir("untrusted")
    return stack.token(sub, key_dir=d), read_kid(d)


def _bad_other_key_real_kid(t, sub):
    kid = read_kid(stack.key_dir)
    claims = claims_of(stack.token(sub))
    return craft({"alg": "RS256", "kid": kid, "typ": "JWT"}, claims,
                 key=private_key(other_key_dir("untrusted"))), kid


def _bad_kid_nope(t, sub):
    return stack.token(sub, kid="nope"), "nope"


def _bad_kid_path(t, sub):
    return stack.token(sub, kid="../../etc/passwd"), "../../etc/passwd"


def _bad_kid_sql(t, sub):
    return stack.token(sub, kid="' OR 1=1 --"), "' OR 1=1 --"


def _bad_kid_missing(t, sub):
    return craft({"alg": "RS256", "typ": "JWT"}, claims_of(stack.token(sub)),
                 key=private_key(stack.key_dir)), None


def _bad_kid_not_string(t, sub):
    return craft({"alg": "RS256", "kid": ["x"], "typ": "JWT"}, claims_of(stack.token(sub)),
                 key=private_key(stack.key_dir)), None


def _bad_garbage(t, sub):
    return "garbage", None


def _bad_two_parts(t, sub):
    h, p, _ = parts(stack.token(sub))
    return h + "." + p, None


def _bad_trailing_char(t, sub):
    return stack.token(sub) + "x", None


def _bad_trailing_part(t, sub):
    return stack.token(sub) + ".junk", None


def _bad_trailing_words(t, sub):
    return stack.token(sub) + " junk", None


def _bad_padding(t, sub):
    return stack.token(sub) + "==", None


def _bad_alg_none_empty_sig(t, sub):
    kid = read_kid(stack.key_dir)
    return craft({"alg": "none", "kid": kid}, claims_of(stack.token(sub)), signature=""), kid


def _bad_alg_none_kept_sig(t, sub):
    kid = read_kid(stack.key_dir)
    tok = stack.token(sub)
    return craft({"alg": "none", "kid": kid, "typ": "JWT"}, claims_of(tok),
                 signature=parts(tok)[2]), kid


def _bad_alg_lowercase(t, sub):
    kid = read_kid(stack.key_dir)
    return craft({"alg": "rs256", "kid": kid, "typ": "JWT"}, claims_of(stack.token(sub)),
                 key=private_key(stack.key_dir)), kid


def _bad_alg_ps256(t, sub):
    kid = read_kid(stack.key_dir)
    return craft({"alg": "PS256", "kid": kid, "typ": "JWT"}, claims_of(stack.token(sub)),
                 key=private_key(stack.key_dir)), kid


def _hs256(secret):
    def make(t, sub):
        kid = read_kid(stack.key_dir)
        header = {"alg": "HS256", "kid": kid, "typ": "JWT"}
        claims = claims_of(stack.token(sub))
        signing_input = craft(header, claims, signature="").rstrip(".")
        key = secret()
        if isinstance(key, str):
            key = key.encode()
        mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + b64u(mac), kid
    return make


def _jwks_text():
    with open(os.path.join(stack.key_dir, "jwks.json"), "rb") as f:
        return f.read()


def _jwk_text():
    return json.dumps(jwk_of(stack.key_dir, read_kid(stack.key_dir)))


def _pem(which, newline=True):
    def get():
        jwk = jwk_of(stack.key_dir, read_kid(stack.key_dir))
        n = int.from_bytes(unb64u(jwk["n"]), "big")
        e = int.from_bytes(unb64u(jwk["e"]), "big")
        pem = public_pems(n, e)[which]
        return pem if newline else pem.rstrip("\n")
    return get


def _bad_payload_changed_sub(t, sub):
    tok = stack.token(sub)
    h, _, s = parts(tok)
    claims = dict(claims_of(tok), sub=sub + "-victim")
    return h + "." + b64u(json.dumps(claims, separators=(",", ":"))) + "." + s, None


def _bad_payload_added_admin(t, sub):
    tok = stack.token(sub)
    h, _, s = parts(tok)
    claims = dict(claims_of(tok), **{"cognito:groups": ["admin"]})
    return h + "." + b64u(json.dumps(claims, separators=(",", ":"))) + "." + s, None


def _bad_payload_extended_exp(t, sub):
    tok = stack.token(sub, exp=int(time.time()) - 3600)
    h, _, s = parts(tok)
    claims = dict(claims_of(tok), exp=int(time.time()) + 3600)
    return h + "." + b64u(json.dumps(claims, separators=(",", ":"))) + "." + s, None


def _oversized(total):
    def make(t, sub):
        kid = read_kid(stack.key_dir)
        header = {"alg": "RS256", "kid": kid, "typ": "JWT"}
        claims = claims_of(stack.token(sub))
        base = len(craft(header, dict(claims, pad=""), key=private_key(stack.key_dir)))
        pad = "p" * ((total - base) * 3 // 4 + 3)
        tok = craft(header, dict(claims, pad=pad), key=private_key(stack.key_dir))
        t.assertGreater(len(tok), 8192)
        return tok, None
    return make


def _bad_duplicate_alg(first, second):
    def make(t, sub):
        kid = read_kid(stack.key_dir)
        header = '{"alg":"%s","kid":"%s","typ":"JWT","alg":"%s"}' % (first, kid, second)
        # the header does not parse, so no kid is logged
        return craft(header, claims_of(stack.token(sub)), key=private_key(stack.key_dir)), None
    return make


def _bad_duplicate_sub(t, sub):
    kid = read_kid(stack.key_dir)
    claims = claims_of(stack.token(sub))
    text = json.dumps(claims, separators=(",", ":"))[:-1] + ',"sub":"%s-admin"}' % sub
    return craft({"alg": "RS256", "kid": kid, "typ": "JWT"}, text,
                 key=private_key(stack.key_dir)), kid


def _bad_crit(t, sub):
    kid = read_kid(stack.key_dir)
    return craft({"alg": "RS256", "kid": kid, "typ": "JWT", "crit": ["exp"], "exp": 1},
                 claims_of(stack.token(sub)), key=private_key(stack.key_dir)), kid


def _bad_signed_claims(mutate):
    def make(t, sub):
        kid = read_kid(stack.key_dir)
        claims = claims_of(stack.token(sub))
        mutate(claims)
        return craft({"alg": "RS256", "kid": kid, "typ": "JWT"}, claims,
                     key=private_key(stack.key_dir)), kid
    return make


BAD_TOKENS = {
    "expired": _bad_expired,
    "not_yet_valid": _bad_not_yet_valid,
    "wrong_issuer": _bad_issuer,
    "wrong_client_id": _bad_client_id,
    "token_use_id": _bad_token_use_id,
    "signed_by_other_key": _bad_other_key_dir,
    "signed_by_other_key_with_real_kid": _bad_other_key_real_kid,
    "unknown_kid": _bad_kid_nope,
    "kid_path": _bad_kid_path,
    "kid_sql": _bad_kid_sql,
    "kid_missing": _bad_kid_missing,
    "kid_not_a_string": _bad_kid_not_string,
    "garbage": _bad_garbage,
    "two_parts": _bad_two_parts,
    "trailing_char": _bad_trailing_char,
    "trailing_part": _bad_trailing_part,
    "trailing_words": _bad_trailing_words,
    "trailing_padding": _bad_padding,
    "alg_none_empty_signature": _bad_alg_none_empty_sig,
    "alg_none_original_signature": _bad_alg_none_kept_sig,
    "alg_lowercase_rs256": _bad_alg_lowercase,
    "alg_ps256": _bad_alg_ps256,
    "hs256_jwks_file_as_secret": _hs256(_jwks_text),
    "hs256_jwk_as_secret": _hs256(_jwk_text),
    "hs256_spki_pem_as_secret": _hs256(_pem(0)),
    "hs256_spki_pem_no_newline_as_secret": _hs256(_pem(0, newline=False)),
    "hs256_pkcs1_pem_as_secret": _hs256(_pem(1)),
    "payload_changed_sub": _bad_payload_changed_sub,
    "payload_added_admin_group": _bad_payload_added_admin,
    "payload_extended_exp": _bad_payload_extended_exp,
    "oversized_8200": _oversized(8200),
    "oversized_12000": _oversized(12000),
    "duplicate_alg_rs256_then_none": _bad_duplicate_alg("RS256", "none"),
    "duplicate_alg_none_then_rs256": _bad_duplicate_alg("none", "RS256"),
    "duplicate_alg_rs256_twice": _bad_duplicate_alg("RS256", "RS256"),
    "duplicate_sub_claim": _bad_duplicate_sub,
    "crit_header": _bad_crit,
    "exp_missing": _bad_signed_claims(lambda c: c.pop("exp")),
    "exp_string": _bad_signed_claims(lambda c: c.update(exp=str(c["exp"]))),
    "sub_missing": _bad_signed_claims(lambda c: c.pop("sub")),
    "sub_empty": _bad_signed_claims(lambda c: c.update(sub="")),
    "groups_not_a_list": _bad_signed_claims(lambda c: c.update({"cognito:groups": "admin"})),
}


class RejectedTokenTest(AuthTestCase):
    """Each bad token: JSON 401 with the Bearer challenge, a warn line in
    nginx's error log naming the request id, and nothing in the database
    for the token's sub."""

    def check_rejected(self, make):
        sub = self.sub()
        tok, kid = make(self, sub)
        r = stack.request("POST", "/api/v1/bots", {"name": "should not exist"}, token=tok)
        rid = self.assertUnauthorized(r)
        self.assertLogged(rid, kid)
        r = stack.request("GET", "/api/v1/bots", token=tok)
        self.assertLogged(self.assertUnauthorized(r))
        self.assertNoTrace(sub)
        for suffix in ("-victim", "-admin"):
            self.assertNoTrace(sub + suffix)

    def test_rejection_leaves_no_bots_for_the_sub(self):
        sub = self.sub()
        bad = stack.token(sub, exp=int(time.time()) - 3600)
        for i in range(3):
            self.assertUnauthorized(stack.request("POST", "/api/v1/bots",
                                                  {"name": "b%d" % i}, token=bad))
        self.assertNoTrace(sub)
        self.assertEqual(self.assertOk(stack.token(sub)),
                         {"items": [], "next_cursor": None})


def _add_rejection_test(name, make):
    def test(self):
        self.check_rejected(make)
    test.__name__ = "test_reject_" + name
    test.__doc__ = "rejects a token: " + name.replace("_", " ")
    setattr(RejectedTokenTest, test.__name__, test)


for _name, _make in BAD_TOKENS.items():
    _add_rejection_test(_name, _make)


class JwksRotationTest(AuthTestCase):
    def _replace_jwks(self, text):
        path = os.path.join(stack.key_dir, "jwks.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        time.sleep(1.1)     # the module re-checks the file at most once a second

    def test_new_key_accepted_without_restart(self):
        original_text = _jwks_text().decode()
        original = json.loads(original_text)
        new_dir = other_key_dir("rotation")
        new_tok = stack.token(self.sub("-new"), key_dir=new_dir)
        old_tok = stack.token(self.sub("-old"))

        self.assertUnauthorized(stack.request("GET", "/api/v1/bots", token=new_tok))

        rotated = {"keys": read_jwks(new_dir)["keys"] + original["keys"]}
        self._replace_jwks(json.dumps(rotated, indent=1))

        ok = stack.wait_for(
            lambda: stack.request("GET", "/api/v1/bots", token=new_tok).status == 200)
        self.assertTrue(ok, "a token of the new key is still refused after rotation")
        # every nginx worker process has re-read the file by now
        for _ in range(6):
            self.assertOk(new_tok)
            self.assertOk(old_tok)
        r = stack.request("POST", "/api/v1/bots", {"name": "rotated"}, token=new_tok)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["owner_id"], self.sub("-new"))

    def test_broken_jwks_keeps_previous_keys(self):
        path = os.path.join(stack.key_dir, "jwks.json")
        with open(path) as f:
            good = f.read()
        tok = stack.token(self.sub())
        self.assertOk(tok)
        try:
            self._replace_jwks('{"keys": [')
            for _ in range(6):
                self.assertOk(tok)
        finally:
            self._replace_jwks(good)
        self.assertOk(tok)

    def test_retired_key_ends_its_cached_tokens(self):
        path = os.path.join(stack.key_dir, "jwks.json")
        with open(path) as f:
            good = f.read()
        other = other_key_dir("retire")
        tok = stack.token(self.sub())
        # make sure every nginx worker process has verified (and cached) it
        for _ in range(8):
            self.assertOk(tok)
        try:
            # a key set without the key that signed tok
            self._replace_jwks(json.dumps(read_jwks(other)))
            for _ in range(8):
                self.assertUnauthorized(stack.request("GET", "/api/v1/bots", token=tok))
        finally:
            self._replace_jwks(good)
        self.assertOk(tok)


class TokenCacheTest(AuthTestCase):
    """Remembering verified tokens never stretches what a token allows."""

    def test_cached_token_expires_on_time(self):
        # exp 26 s ago: still inside the 30 s leeway, for about 4 s more
        tok = stack.token(self.sub(), exp=int(time.time()) - 26)
        for _ in range(8):
            self.assertOk(tok)
        time.sleep(5)
        for _ in range(8):
            self.assertUnauthorized(stack.request("GET", "/api/v1/bots", token=tok))

    def test_cached_token_keeps_admin_check(self):
        user = stack.token(self.sub("-user"))
        admin = stack.token(self.sub("-admin"), groups=["admin"])
        for _ in range(4):
            r = stack.request("GET", "/api/v1/admin/users", token=user)
            self.assertEqual(r.status, 403, r)
            self.assertEqual(r.json()["error"]["code"], "forbidden")
            self.assertNotEqual(
                stack.request("GET", "/api/v1/admin/users", token=admin).status, 403)


class ZzNginxErrorLogTest(unittest.TestCase):
    """Runs last (classes run in name order): nothing during this file's
    requests made nginx log an alert (e.g. "header already sent" when a
    handler goes on after answering, or a worker process exiting on a
    signal) or anything worse."""

    def test_no_alerts_in_nginx_error_log(self):
        bad = [ln for ln in stack.log_text("nginx-error.log").splitlines()
               if re.search(r"\[(alert|crit|emerg)\]", ln)]
        self.assertEqual(bad[:10], [], "%d alert lines in nginx-error.log" % len(bad))


if __name__ == "__main__":
    unittest.main()
