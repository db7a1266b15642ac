"""Browser sessions with the local identity: the refresh token in the
HttpOnly `mangoo_refresh` cookie instead of JSON (login or register with
"session":"cookie"; refresh and logout with no refresh_token in the body).
Checks the cookie's attributes (Secure unless plain HTTP to a loopback
Host), rotation through the cookie alone, reuse of an old cookie revoking
the family, logout clearing and revoking, a disabled account's cookie,
Cookie headers as browsers and proxies send them, bad input changing
nothing, and that no cookie value reaches a log.

Run: python3 tests/e2e/run.py test_sessions.py
"""

import http.client
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402

PW = "Correct-horse-1"
REFRESH_TTL = 7200
COOKIE_RE = re.compile(r"^mangoo_refresh=(mgr_[A-Za-z0-9_-]{43}); Path=/api/v1/auth; "
                       r"Max-Age=(\d+); HttpOnly; SameSite=Strict(; Secure)?$")
CLEARED_RE = re.compile(r"^mangoo_refresh=; Path=/api/v1/auth; Max-Age=0; HttpOnly; "
                        r"SameSite=Strict(; Secure)?$")
stack = None


def setUpModule():
    global stack
    stack = Stack(workers=2, env={"MANGOO_REFRESH_TTL": str(REFRESH_TTL)}).start()


def tearDownModule():
    if stack is not None:
        stack.stop()


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers          # [(name, value)], as sent
        self.body = body

    def json(self):
        return json.loads(self.body)

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return "<%d %r %r>" % (self.status, self.headers, self.body[:300])


def send(method, path, body=None, cookies=(), host=None, raw=None, st=None):
    """One request to st (default: this module's stack) with full control
    of the Host and Cookie headers (each entry of cookies is one Cookie
    header); every response header kept."""
    st = st or stack
    conn = http.client.HTTPConnection("127.0.0.1", st.port, timeout=15)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or "127.0.0.1:%d" % st.port)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else b"")
        if data or body is not None:
            conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(data)))
        for c in cookies:
            conn.putheader("Cookie", c)
        conn.endheaders(data)
        resp = conn.getresponse()
        return Reply(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


class SessionCase(unittest.TestCase):
    maxDiff = None

    def name(self, suffix=""):
        n = self.id().rsplit(".", 1)[-1].replace("test_", "")[:40]
        return (n + suffix).replace("_", "-")

    def register(self, username, **kw):
        r = stack.request("POST", "/api/v1/auth/register",
                          {"username": username, "password": PW})
        self.assertEqual(r.status, 201, r)
        return r.json()

    def login(self, username, host=None, **extra):
        body = {"username": username, "password": PW, "session": "cookie"}
        body.update(extra)
        return send("POST", "/api/v1/auth/login", body, host=host)

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.json()["error"]["code"], code, r)

    def assertCookieSession(self, r, status=200, secure=False):
        """A browser-form answer: tokens without refresh_token, exactly one
        Set-Cookie with the new token.  Returns (body, cookie token)."""
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.all("Cache-Control"), ["no-store"])
        body = r.json()
        self.assertNotIn("refresh_token", body)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 900)
        cookies = r.all("Set-Cookie")
        self.assertEqual(len(cookies), 1, r)
        m = COOKIE_RE.match(cookies[0])
        self.assertIsNotNone(m, cookies[0])
        self.assertEqual(int(m.group(2)), REFRESH_TTL)
        self.assertEqual(bool(m.group(3)), secure, cookies[0])
        # the cookie's token is nowhere in the body
        self.assertNotIn(m.group(1).encode(), r.body)
        return body, m.group(1)

    def assertCleared(self, r, secure=False):
        cookies = r.all("Set-Cookie")
        self.assertEqual(len(cookies), 1, r)
        m = CLEARED_RE.match(cookies[0])
        self.assertIsNotNone(m, cookies[0])
        self.assertEqual(bool(m.group(1)), secure, cookies[0])

    def refresh(self, token, host=None, body=None, raw=None):
        return send("POST", "/api/v1/auth/refresh", body, raw=raw, host=host,
                    cookies=["mangoo_refresh=" + token] if token else [])

    def family_revoked(self, token):
        return stack.psql("SELECT count(*) FROM refresh_tokens WHERE family_id = "
                          "(SELECT family_id FROM refresh_tokens WHERE token_hash = "
                          "sha256('%s'::bytea)) AND revoked_at IS NULL" % token) == "0"


class CookieSessionTests(SessionCase):

    def test_login_refresh_reuse_logout(self):
        user = self.name()
        self.register(user)
        body, first = self.assertCookieSession(self.login(user))
        self.assertEqual(stack.request("GET", "/api/v1/bots",
                                       token=body["access_token"]).status, 200)

        # the cookie alone refreshes: an empty body, then {}
        r = self.refresh(first)
        body, second = self.assertCookieSession(r)
        self.assertNotEqual(second, first)
        self.assertEqual(stack.request("GET", "/api/v1/bots",
                                       token=body["access_token"]).status, 200)
        r = self.refresh(second, body={})
        _, third = self.assertCookieSession(r)
        self.assertNotEqual(third, second)
        self.assertFalse(self.family_revoked(third))

        # an old cookie again: refused, cleared, and the whole family is gone
        r = self.refresh(first)
        self.assertError(r, 401, "invalid_refresh_token")
        self.assertCleared(r)
        self.assertTrue(self.family_revoked(third))
        self.assertError(self.refresh(third), 401, "invalid_refresh_token")

        # a new session, then logout: 204, cleared, revoked
        _, token = self.assertCookieSession(self.login(user))
        r = send("POST", "/api/v1/auth/logout", {}, cookies=["mangoo_refresh=" + token])
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assertCleared(r)
        self.assertTrue(self.family_revoked(token))
        self.assertError(self.refresh(token), 401, "invalid_refresh_token")
        # logout again, and without any cookie: still 204 and cleared
        r = send("POST", "/api/v1/auth/logout", cookies=["mangoo_refresh=" + token])
        self.assertEqual(r.status, 204, r)
        self.assertCleared(r)
        r = send("POST", "/api/v1/auth/logout")
        self.assertEqual(r.status, 204, r)
        self.assertCleared(r)

    def test_register_with_cookie_session(self):
        r = send("POST", "/api/v1/auth/register",
                 {"username": self.name(), "password": PW, "session": "cookie"})
        body, token = self.assertCookieSession(r, status=201)
        self.assertEqual(body["user"]["username"], self.name())
        self.assertCookieSession(self.refresh(token))

    def test_json_form_unchanged(self):
        user = self.name()
        self.register(user)
        r = send("POST", "/api/v1/auth/login", {"username": user, "password": PW})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.all("Set-Cookie"), [])
        self.assertRegex(r.json()["refresh_token"], r"^mgr_")
        token = r.json()["refresh_token"]
        # a body token wins over any cookie, and the answer stays JSON
        r = self.refresh("mgr_" + "A" * 43, body={"refresh_token": token})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.all("Set-Cookie"), [])
        self.assertIn("refresh_token", r.json())
        r = send("POST", "/api/v1/auth/logout", {"refresh_token": r.json()["refresh_token"]},
                 cookies=["mangoo_refresh=whatever"])
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.all("Set-Cookie"), [])

    def test_no_cookie_no_token(self):
        for body in (None, {}):
            r = self.refresh(None, body=body)
            self.assertError(r, 401, "invalid_refresh_token")
            self.assertIn("mangoo_refresh", r.json()["error"]["message"])
            self.assertEqual(r.all("Set-Cookie"), [])
        # a cookie that cannot be ours is refused and cleared
        r = self.refresh("not-ours")
        self.assertError(r, 401, "invalid_refresh_token")
        self.assertCleared(r)

    def test_secure_attribute_follows_the_host(self):
        user = self.name()
        self.register(user)
        for host, secure in [("127.0.0.1", False), ("localhost:8080", False),
                             ("[::1]:%d" % stack.port, False), ("example.com", True),
                             ("app.example.com:443", True), ("127.0.0.2", True)]:
            with self.subTest(host=host):
                _, token = self.assertCookieSession(self.login(user, host=host), secure=secure)
                self.assertCookieSession(self.refresh(token, host=host), secure=secure)
                r = send("POST", "/api/v1/auth/logout", host=host,
                         cookies=["mangoo_refresh=" + token])
                self.assertEqual(r.status, 204)
                self.assertCleared(r, secure=secure)

    def test_cookie_headers_as_browsers_send_them(self):
        user = self.name()
        self.register(user)
        _, token = self.assertCookieSession(self.login(user))
        # among other cookies, with and without blanks
        r = send("POST", "/api/v1/auth/refresh",
                 cookies=["theme=dark;   mangoo_refresh=%s ;lang=en" % token])
        _, token = self.assertCookieSession(r)
        # several Cookie headers (HTTP/2 proxies split them)
        r = send("POST", "/api/v1/auth/refresh",
                 cookies=["theme=dark; xmangoo_refresh=nope", "mangoo_refresh=" + token])
        _, token = self.assertCookieSession(r)
        # look-alike names are not the cookie
        r = send("POST", "/api/v1/auth/refresh",
                 cookies=["mangoo_refresh_old=%s; Mangoo_Refresh=%s" % (token, token)])
        self.assertError(r, 401, "invalid_refresh_token")
        # ... and the real one still works
        self.assertCookieSession(self.refresh(token))

    def test_disabled_user_cookie_refresh(self):
        user = self.name()
        info = self.register(user)
        _, token = self.assertCookieSession(self.login(user))
        uid = info["user"]["id"]
        stack.psql("UPDATE users SET disabled = true WHERE id = '%s'" % uid)
        try:
            r = self.refresh(token)
            self.assertError(r, 403, "account_disabled")
            self.assertCleared(r)
        finally:
            stack.psql("UPDATE users SET disabled = false WHERE id = '%s'" % uid)

    def test_bad_input_changes_nothing(self):
        user = self.name()
        self.register(user)
        _, token = self.assertCookieSession(self.login(user))
        before = stack.psql("SELECT count(*), count(revoked_at), count(used_at) "
                            "FROM refresh_tokens")
        cases = [
            ("/api/v1/auth/login", b"{nope", "invalid_json"),
            ("/api/v1/auth/login", b"[]", "invalid_json"),
            ("/api/v1/auth/login", json.dumps({"username": user, "password": PW,
                                               "session": 1}).encode(), "invalid_field"),
            ("/api/v1/auth/login", json.dumps({"username": user, "password": PW,
                                               "session": "jwt"}).encode(), "invalid_field"),
            ("/api/v1/auth/register", json.dumps({"username": self.name("x"), "password": PW,
                                                  "session": ["cookie"]}).encode(),
             "invalid_field"),
            ("/api/v1/auth/refresh", b"{nope", "invalid_json"),
            ("/api/v1/auth/refresh", b"{\"refresh_token\": 5}", "invalid_field"),
            ("/api/v1/auth/refresh", b"{\"refresh_token\": null}", "invalid_field"),
            ("/api/v1/auth/refresh", b"{\"session\": \"cookie\"}", "unknown_field"),
            ("/api/v1/auth/logout", b"not json", "invalid_json"),
            ("/api/v1/auth/logout", b"{\"refresh_token\": []}", "invalid_field"),
        ]
        for path, raw, code in cases:
            with self.subTest(path=path, raw=raw):
                r = send("POST", path, raw=raw, cookies=["mangoo_refresh=" + token])
                self.assertError(r, 400, code)
                self.assertEqual(r.all("Set-Cookie"), [])
        after = stack.psql("SELECT count(*), count(revoked_at), count(used_at) "
                           "FROM refresh_tokens")
        self.assertEqual(before, after)
        self.assertEqual(stack.psql("SELECT count(*) FROM users WHERE username = '%s'"
                                    % self.name("x")), "0")
        # the session survived all of it
        self.assertCookieSession(self.refresh(token))

    def test_zz_no_cookie_in_any_log(self):
        """Runs last: every token the tests above sent is somewhere in the
        database, none in nginx's or the workers' logs."""
        tokens = stack.psql("SELECT count(*) FROM refresh_tokens")
        self.assertNotEqual(tokens, "0")
        user = self.name()
        self.register(user)
        _, token = self.assertCookieSession(self.login(user))
        self.refresh(token)
        for name in os.listdir(stack.state):
            if name.endswith(".log"):
                self.assertNotIn(token, stack.log_text(name), name)
                self.assertNotIn("mangoo_refresh=mgr_", stack.log_text(name), name)


if __name__ == "__main__":
    unittest.main()
