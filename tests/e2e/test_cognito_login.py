"""Signing in through Cognito's hosted UI with an authorization code and
PKCE, through nginx and a worker, against the fake Cognito of fakes.py
(a confidential app client here, so the client secret's path is used):
the code is traded server-side, Cognito's refresh token lives only in the
HttpOnly cookie, refresh and logout go through the cookie to Cognito's
/oauth2/token and /oauth2/revoke, and the access token it issued works on
the API.

Run: python3 tests/e2e/run.py test_cognito_login.py
"""

import base64
import os
import re
import sys
import unittest
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakes import FakeCognito  # noqa: E402
from harness import Stack  # noqa: E402
import test_sessions  # noqa: E402
from test_sessions import CLEARED_RE  # noqa: E402

CLIENT = "cognito-web-client"
SECRET = "s3cr3t-of-the-app-client"
REDIRECT = "http://127.0.0.1:5173/auth/callback"
REFRESH_TTL = 3600
COOKIE_RE = re.compile(r"^mangoo_refresh=([A-Za-z0-9._~-]+); Path=/api/v1/auth; "
                       r"Max-Age=(\d+); HttpOnly; SameSite=Strict(; Secure)?$")
stack = idp = None


def setUpModule():
    global stack, idp
    idp = FakeCognito(CLIENT, SECRET, redirect_uris=[REDIRECT], groups=["admin"]).start()
    stack = Stack(workers=1, env={
        "MANGOO_JWKS": idp.jwks_url,
        "MANGOO_ISSUER": idp.issuer,
        "MANGOO_CLIENT_ID": CLIENT,
        "MANGOO_COGNITO_DOMAIN": idp.url + "/",
        "MANGOO_COGNITO_CLIENT_SECRET": SECRET,
        "MANGOO_REFRESH_TTL": str(REFRESH_TTL),
    }).start()


def tearDownModule():
    if stack is not None:
        stack.stop()
    if idp is not None:
        idp.stop()


def send(*args, **kw):
    return test_sessions.send(*args, st=stack, **kw)


def verifier(tag):
    return (tag + "-" + "v" * 60)[:64]


class CognitoLoginTests(unittest.TestCase):
    maxDiff = None

    def code(self, ver, redirect=REDIRECT, username=None):
        status, location = idp.authorize(redirect, ver, state="xyz", username=username)
        self.assertEqual(status, 302)
        q = parse_qs(urlsplit(location).query)
        self.assertEqual(q["state"], ["xyz"])
        return q["code"][0]

    def exchange(self, code, ver, redirect=REDIRECT, host=None):
        return send("POST", "/api/v1/auth/cognito",
                    {"code": code, "code_verifier": ver, "redirect_uri": redirect}, host=host)

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.json()["error"]["code"], code, r)

    def assertSession(self, r, secure=False):
        """Tokens in JSON without the refresh token, which is in the one
        Set-Cookie.  Returns (body, cookie token)."""
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.all("Cache-Control"), ["no-store"])
        body = r.json()
        self.assertEqual(set(body), {"access_token", "token_type", "expires_in"}, body)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 3600)
        cookies = r.all("Set-Cookie")
        self.assertEqual(len(cookies), 1, r)
        m = COOKIE_RE.match(cookies[0])
        self.assertIsNotNone(m, cookies[0])
        self.assertEqual(int(m.group(2)), REFRESH_TTL)
        self.assertEqual(bool(m.group(3)), secure)
        self.assertIn(m.group(1), idp.refresh_tokens)
        self.assertNotIn(m.group(1).encode(), r.body)
        self.assertNotIn(SECRET.encode(), r.body)
        return body, m.group(1)

    def assertCleared(self, r):
        cookies = r.all("Set-Cookie")
        self.assertEqual(len(cookies), 1, r)
        self.assertRegex(cookies[0], CLEARED_RE)

    def bots(self, access):
        return stack.request("GET", "/api/v1/bots", token=access)

    def test_config_names_the_hosted_ui(self):
        r = stack.request("GET", "/api/v1/config")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertEqual(r.json(), {
            "identity": "cognito", "registration": "open", "can_register": False,
            "cognito": {"domain": idp.url, "client_id": CLIENT,
                        "scopes": "openid email profile"},
            # sign-up rules and invitations are the local identity's
            "allowed_domains": [], "invitations": False})
        self.assertNotIn(SECRET.encode(), r.body)

    def test_full_flow(self):
        ver = verifier("full")
        before = len(idp.requests)
        body, token = self.assertSession(self.exchange(self.code(ver), ver))

        # what the worker sent Cognito: the form, and the secret in Basic only
        sent = [q for q in idp.requests[before:] if q["path"] == "/oauth2/token"]
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0]["headers"]["content-type"], "application/x-www-form-urlencoded")
        self.assertEqual(sent[0]["headers"]["authorization"], "Basic " + base64.b64encode(
            ("%s:%s" % (CLIENT, SECRET)).encode()).decode())
        self.assertEqual(sorted(sent[0]["body"]), ["client_id", "code", "code_verifier",
                                                   "grant_type", "redirect_uri"])
        self.assertEqual(sent[0]["body"]["grant_type"], "authorization_code")
        self.assertEqual(sent[0]["body"]["redirect_uri"], REDIRECT)

        # the access token works on the API (the module verifies it with
        # the fake's JWKS); the user is the fake's, an administrator
        r = self.bots(body["access_token"])
        self.assertEqual(r.status, 200, r)
        r = stack.request("GET", "/api/v1/users/me", token=body["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["id"], idp.sub("cognito-user"))
        self.assertEqual(stack.request("GET", "/api/v1/admin/users",
                                       token=body["access_token"]).status, 200)

        # refresh through the cookie alone: Cognito does not rotate, so the
        # same token comes back with a fresh Max-Age
        before = len(idp.requests)
        r = send("POST", "/api/v1/auth/refresh", cookies=["a=b; mangoo_refresh=" + token])
        body2, same = self.assertSession(r)
        self.assertEqual(same, token)
        self.assertNotEqual(body2["access_token"], body["access_token"])
        self.assertEqual(self.bots(body2["access_token"]).status, 200)
        sent = [q for q in idp.requests[before:] if q["path"] == "/oauth2/token"]
        self.assertEqual(sent[0]["body"], {"grant_type": "refresh_token",
                                           "refresh_token": token, "client_id": CLIENT})

        # logout revokes at Cognito and clears the cookie
        r = send("POST", "/api/v1/auth/logout", {}, cookies=["mangoo_refresh=" + token])
        self.assertEqual(r.status, 204, r)
        self.assertCleared(r)
        self.assertIn(token, idp.revoked)
        self.assertTrue(idp.refresh_tokens[token]["revoked"])
        r = send("POST", "/api/v1/auth/refresh", cookies=["mangoo_refresh=" + token])
        self.assertError(r, 401, "invalid_refresh_token")
        self.assertCleared(r)

    def test_wrong_verifier_refused(self):
        ver = verifier("wrong")
        code = self.code(ver)
        r = self.exchange(code, verifier("other"))
        self.assertError(r, 400, "invalid_grant")
        self.assertEqual(r.all("Set-Cookie"), [])
        # a code is good once, and not after a failed try either
        self.assertError(self.exchange(code, ver), 400, "invalid_grant")
        # nor with another redirect_uri than it was issued for
        code = self.code(ver)
        self.assertError(self.exchange(code, ver, redirect="http://127.0.0.1:5173/other"),
                         400, "invalid_grant")
        # a code cannot be replayed after success
        code = self.code(ver)
        self.assertSession(self.exchange(code, ver))
        self.assertError(self.exchange(code, ver), 400, "invalid_grant")

    def test_secure_cookie_off_loopback(self):
        ver = verifier("secure")
        _, token = self.assertSession(self.exchange(self.code(ver), ver, host="mangoo.example"),
                                      secure=True)
        r = send("POST", "/api/v1/auth/refresh", host="mangoo.example",
                 cookies=["mangoo_refresh=" + token])
        self.assertSession(r, secure=True)

    def test_bad_input_never_reaches_cognito(self):
        before = len(idp.requests)
        good = {"code": "c", "code_verifier": verifier("bad"), "redirect_uri": REDIRECT}
        cases = [
            (b"{nope", "invalid_json"),
            (b"{}", "invalid_field"),
            (dict(good, code=5), "invalid_field"),
            (dict(good, code_verifier="short"), "invalid_field"),
            (dict(good, code_verifier="=" * 43), "invalid_field"),
            (dict(good, redirect_uri="ftp://x/"), "invalid_field"),
            (dict(good, client_secret="x"), "unknown_field"),
        ]
        for body, code in cases:
            with self.subTest(body=body):
                if isinstance(body, bytes):
                    r = send("POST", "/api/v1/auth/cognito", raw=body)
                else:
                    r = send("POST", "/api/v1/auth/cognito", body)
                self.assertError(r, 400, code)
                self.assertEqual(r.all("Set-Cookie"), [])
        self.assertEqual(len(idp.requests), before)

    def test_local_sign_in_disabled(self):
        for path in ("login", "register"):
            r = stack.request("POST", "/api/v1/auth/" + path,
                              {"username": "someone", "password": "Correct-horse-1"})
            self.assertError(r, 403, "local_identity_disabled")

    def test_no_session_and_unknown_cookie(self):
        r = send("POST", "/api/v1/auth/refresh")
        self.assertError(r, 401, "invalid_refresh_token")
        r = send("POST", "/api/v1/auth/refresh", cookies=["mangoo_refresh=eyJ.not.known"])
        self.assertError(r, 401, "invalid_refresh_token")
        self.assertCleared(r)
        r = send("POST", "/api/v1/auth/logout")
        self.assertEqual(r.status, 204, r)
        self.assertCleared(r)

    def test_z_cognito_down(self):
        ver = verifier("down")
        code = self.code(ver)
        _, token = self.assertSession(self.exchange(self.code(ver), ver))
        idp.down = True
        try:
            self.assertError(self.exchange(code, ver), 503, "identity_unavailable")
            # a refresh that could not happen keeps the cookie for a retry
            r = send("POST", "/api/v1/auth/refresh", cookies=["mangoo_refresh=" + token])
            self.assertError(r, 503, "identity_unavailable")
            self.assertEqual(r.all("Set-Cookie"), [])
            # signed out here all the same, and told so
            r = send("POST", "/api/v1/auth/logout", cookies=["mangoo_refresh=" + token])
            self.assertError(r, 503, "identity_unavailable")
            self.assertCleared(r)
        finally:
            idp.down = False
        self.assertFalse(idp.refresh_tokens[token]["revoked"])

    def test_zz_nothing_secret_in_logs(self):
        ver = verifier("logs")
        _, token = self.assertSession(self.exchange(self.code(ver), ver))
        for name in os.listdir(stack.state):
            if name.endswith(".log"):
                text = stack.log_text(name)
                self.assertNotIn(token, text, name)
                self.assertNotIn(SECRET, text, name)


if __name__ == "__main__":
    unittest.main()
