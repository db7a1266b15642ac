"""End-to-end tests of the local identity (POST /api/v1/auth/register,
/login, /refresh, /logout) against the real stack: the worker hashes
passwords, signs access tokens with the key dir's current key, and the
module verifies those tokens like Cognito's.

Two stacks: one with the default registration policy ("open") for most
tests, and one that starts as "first-admin" and has its workers restarted
as "closed" and "open" (cheaper than a stack per policy).

Run: python3 tests/e2e/run.py test_identity.py
"""

import base64
import json
import os
import re
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, WORKER_BIN  # noqa: E402

stack = None
first = None            # the response that registered the stack's first user

PW = "Correct-Horse-9"
RID_RE = re.compile(r"^[0-9a-f]{32}$")
REFRESH_RE = re.compile(r"^mgr_[A-Za-z0-9_-]{43}$")
TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}


def setUpModule():
    global stack, first
    stack = Stack(workers=2).start()
    # before any other test: the very first user of an "open" stack
    first = stack.request("POST", "/api/v1/auth/register",
                          {"username": "first-admin", "password": PW,
                           "email": "root@example.org"})


def tearDownModule():
    if stack is not None:
        stack.stop()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def decode_jwt(token):
    """(header, claims) of a compact JWS, unverified (the module verifies)."""
    h, p, _ = token.split(".")
    return json.loads(unb64u(h)), json.loads(unb64u(p))


def current_kid(st):
    with open(os.path.join(st.key_dir, "current")) as f:
        return f.read().strip()


class IdentityCase(unittest.TestCase):
    maxDiff = None
    st = None           # the stack this class talks to

    @property
    def s(self):
        return self.st or stack

    # -- requests ----------------------------------------------------------
    def register(self, username, password=PW, **extra):
        body = {"username": username, "password": password}
        body.update(extra)
        return self.s.request("POST", "/api/v1/auth/register", body)

    def login(self, username, password=PW):
        return self.s.request("POST", "/api/v1/auth/login",
                              {"username": username, "password": password})

    def refresh(self, token):
        return self.s.request("POST", "/api/v1/auth/refresh", {"refresh_token": token})

    def logout(self, token):
        return self.s.request("POST", "/api/v1/auth/logout", {"refresh_token": token})

    def name(self, suffix=""):
        """A username unique to this test."""
        n = self.id().rsplit(".", 1)[-1].replace("test_", "")[:40]
        return (n + suffix).replace("_", "-")

    # -- assertions --------------------------------------------------------
    def assertError(self, r, status, code, message=None):
        self.assertEqual(r.status, status, r)
        rid = r.header("X-Request-Id")
        self.assertRegex(rid or "", RID_RE)
        body = r.json()
        self.assertEqual(set(body), {"error"}, body)
        self.assertEqual(set(body["error"]), {"code", "message", "request_id"}, body)
        self.assertEqual(body["error"]["code"], code, body)
        self.assertEqual(body["error"]["request_id"], rid)
        if message is not None:
            self.assertEqual(body["error"]["message"], message)
        return body["error"]

    def assertTokens(self, r, status=200, extra=(), fresh=True):
        """The token response; returns (body, access header, access claims).
        fresh: r was just received, so the token was issued just now."""
        self.assertEqual(r.status, status, r)
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"))
        self.assertEqual(r.header("Cache-Control"), "no-store")
        body = r.json()
        self.assertEqual(set(body), TOKEN_KEYS | set(extra), body)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 900)
        self.assertRegex(body["refresh_token"], REFRESH_RE)
        header, claims = decode_jwt(body["access_token"])
        self.assertEqual(header["alg"], "RS256")
        self.assertEqual(header["typ"], "JWT")
        self.assertEqual(set(claims), {"sub", "username", "cognito:groups", "token_use",
                                       "client_id", "iss", "iat", "exp", "auth_time",
                                       "jti"}, claims)
        self.assertEqual(claims["token_use"], "access")
        self.assertEqual(claims["client_id"], "mangoo-web")
        self.assertEqual(claims["iss"], "mangoo-local")
        self.assertEqual(claims["exp"] - claims["iat"], 900)
        if fresh:
            self.assertLessEqual(abs(claims["iat"] - time.time()), 5)
        self.assertEqual(str(uuid.UUID(claims["jti"])), claims["jti"])
        return body, header, claims

    def assertTokenWorks(self, token):
        r = self.s.request("GET", "/api/v1/bots", token=token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"items": [], "next_cursor": None})

    def count(self, sql):
        return int(self.s.psql(sql))

    def user_count(self):
        return self.count("SELECT count(*) FROM users")

    def credential_count(self):
        return self.count("SELECT count(*) FROM local_credentials")


class RegisterLoginTests(IdentityCase):

    def test_first_user_is_admin_second_is_not(self):
        body, _, claims = self.assertTokens(first, 201, extra={"user"}, fresh=False)
        user = body["user"]
        self.assertEqual(set(user), {"id", "username", "email", "role", "groups"})
        self.assertEqual(user["username"], "first-admin")
        self.assertEqual(user["email"], "root@example.org")
        self.assertEqual(user["role"], "admin")
        self.assertEqual(claims["sub"], user["id"])
        self.assertEqual(claims["cognito:groups"], ["admin"])
        self.assertEqual(self.s.psql("SELECT role FROM users WHERE id = '%s'" % user["id"]),
                         "admin")

        r = self.register(self.name())
        body, _, claims = self.assertTokens(r, 201, extra={"user"})
        self.assertEqual(body["user"]["role"], "user")
        self.assertIsNone(body["user"]["email"])
        self.assertEqual(claims["cognito:groups"], [])
        # and logging in again says the same
        _, _, claims = self.assertTokens(self.login("first-admin"))
        self.assertEqual(claims["cognito:groups"], ["admin"])

    def test_register_login_and_use_the_token(self):
        name = self.name()
        r = self.register(name, email="user@example.org")
        body, header, claims = self.assertTokens(r, 201, extra={"user"})
        user = body["user"]
        self.assertEqual(str(uuid.UUID(user["id"])), user["id"])
        self.assertEqual(user, {"id": user["id"], "username": name,
                                "email": "user@example.org", "role": "user", "groups": []})
        self.assertEqual(claims["sub"], user["id"])
        self.assertEqual(claims["username"], name)
        self.assertEqual(header["kid"], current_kid(self.s))
        self.assertTokenWorks(body["access_token"])

        r = self.login(name)
        body, header, claims = self.assertTokens(r)
        self.assertEqual(claims["sub"], user["id"])
        # signed in just now: auth_time is when the password was checked,
        # iat when the token was signed, a clock tick later on a busy box
        self.assertLessEqual(claims["auth_time"], claims["iat"])
        self.assertLessEqual(claims["iat"] - claims["auth_time"], 2)
        self.assertEqual(claims["cognito:groups"], [])
        self.assertTokenWorks(body["access_token"])

        # the token's subject owns what it creates
        r = self.s.request("POST", "/api/v1/bots", {"name": "mine"},
                           token=body["access_token"])
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["owner_id"], user["id"])

        # the password is stored as a PHC scrypt string, never as given
        stored = self.s.psql("SELECT password_hash FROM local_credentials "
                             "WHERE user_id = '%s'" % user["id"])
        self.assertRegex(stored, r"^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$")
        self.assertNotIn(PW, stored)

    def test_username_rules(self):
        users, creds = self.user_count(), self.credential_count()
        rule = ('field "username" must be 3 to 64 characters of A-Z, a-z, 0-9, ".", "_" '
                'and "-"')
        for bad in ["has space", "semi;colon", "at@sign", "caf\u00e9", "a/b"]:
            self.assertError(self.register(bad), 400, "invalid_field", rule)
        for bad in ["ab", "x" * 65, ""]:
            self.assertError(self.register(bad), 400, "invalid_field",
                             'field "username" must be a string of 3 to 64 characters')
        self.assertError(self.register(42), 400, "invalid_field")
        self.assertError(self.register(None), 400, "invalid_field")
        self.assertError(self.register(self.name(), email="no-at-sign"), 400, "invalid_field",
                         'field "email" must be an email address (one "@", no spaces, '
                         'at most 254 characters) or null')
        self.assertError(self.register(self.name(), email="a@b@c"), 400, "invalid_field")
        self.assertError(self.register(self.name(), email="x" * 250 + "@b.io"), 400,
                         "invalid_field")
        # the edges pass
        self.assertEqual(self.register("a.b").status, 201)
        self.assertEqual(self.register("Z" * 64).status, 201)
        self.assertEqual(self.register(self.name("-mail"), email=None).status, 201)
        self.assertEqual(self.user_count(), users + 3)
        self.assertEqual(self.credential_count(), creds + 3)

    def test_password_policy(self):
        users, creds = self.user_count(), self.credential_count()
        cases = [
            ("Aa1!aaa", 'field "password" must be a string of 8 to 256 characters'),
            ("Aa1!" + "a" * 253, 'field "password" must be a string of 8 to 256 characters'),
            ("ABCDEFG1!", 'field "password" must contain a lowercase letter (a-z)'),
            ("abcdefg1!", 'field "password" must contain an uppercase letter (A-Z)'),
            ("Abcdefgh!", 'field "password" must contain a digit (0-9)'),
            ("Abcdefgh1", 'field "password" must contain a symbol such as ! @ # $ % ^ & * '
                          'or a space'),
            (" Abcdefgh1", 'field "password" must contain a symbol such as ! @ # $ % ^ & * '
                           'or a space'),
        ]
        for pw, message in cases:
            self.assertError(self.register(self.name(), pw), 400, "invalid_field", message)
        self.assertError(self.register(self.name(), 12345678), 400, "invalid_field")
        self.assertEqual(self.user_count(), users)
        self.assertEqual(self.credential_count(), creds)
        # an inner space is a symbol; 256 characters are allowed
        self.assertEqual(self.register(self.name("1"), "Abc defg1").status, 201)
        self.assertEqual(self.register(self.name("2"), "Aa1!" + "\u00e9" * 252).status, 201)
        self.assertEqual(self.login(self.name("2"), "Aa1!" + "\u00e9" * 252).status, 200)

    def test_bad_json_is_400_everywhere(self):
        users = self.user_count()
        for path in ["register", "login", "refresh", "logout"]:
            url = "/api/v1/auth/" + path
            r = self.s.request("POST", url, raw=b"{nope", headers={
                "Content-Type": "application/json"})
            self.assertError(r, 400, "invalid_json")
            r = self.s.request("POST", url, raw=b"[]", headers={
                "Content-Type": "application/json"})
            self.assertError(r, 400, "invalid_json")
            r = self.s.request("POST", url, {"refresh_token": "x", "username": "abc",
                                             "password": PW, "extra": 1})
            self.assertError(r, 400, "unknown_field")
        self.assertError(self.s.request("POST", "/api/v1/auth/login", {"username": "abc"}),
                         400, "invalid_field")
        # no refresh_token: the browser form, which needs the session cookie
        self.assertError(self.s.request("POST", "/api/v1/auth/refresh", {}), 401,
                         "invalid_refresh_token")
        self.assertError(self.s.request("POST", "/api/v1/auth/refresh",
                                        {"refresh_token": None}), 400, "invalid_field")
        self.assertError(self.s.request("POST", "/api/v1/auth/logout",
                                        {"refresh_token": 5}), 400, "invalid_field")
        self.assertEqual(self.user_count(), users)

    def test_duplicate_username_is_409_in_any_case(self):
        r = self.register("Dup.User")
        body, _, _ = self.assertTokens(r, 201, extra={"user"})
        self.assertEqual(body["user"]["username"], "Dup.User")
        users = self.user_count()
        for again in ["Dup.User", "dup.user", "DUP.USER"]:
            self.assertError(self.register(again), 409, "username_taken",
                             "this username is already taken")
        self.assertEqual(self.user_count(), users)
        # logging in is case-insensitive too; the name stays as registered
        _, _, claims = self.assertTokens(self.login("dUP.uSER"))
        self.assertEqual(claims["username"], "Dup.User")
        self.assertEqual(claims["sub"], body["user"]["id"])

    def test_wrong_password_and_unknown_user_look_the_same(self):
        self.assertEqual(self.register(self.name()).status, 201)
        wrong = self.login(self.name(), "Wrong-Horse-9")
        unknown = self.login(self.name("-nobody"), PW)
        a = self.assertError(wrong, 401, "invalid_credentials", "wrong username or password")
        b = self.assertError(unknown, 401, "invalid_credentials", "wrong username or password")
        del a["request_id"], b["request_id"]
        self.assertEqual(a, b)
        self.assertEqual(wrong.header("Content-Type"), unknown.header("Content-Type"))
        self.assertIsNone(wrong.header("Retry-After"))


class LockoutTests(IdentityCase):

    def key(self, name):
        return name.lower()

    def unlock(self, name):
        self.s.psql("UPDATE login_attempts SET locked_until = now() - interval '1 second' "
                    "WHERE username_key = '%s'" % self.key(name))

    def assertLocked(self, r, low, high):
        self.assertError(r, 429, "too_many_attempts", "too many failed logins: try again later")
        retry = int(r.header("Retry-After"))
        self.assertTrue(low <= retry <= high, retry)

    def test_lockout_after_five_failures(self):
        name = self.name("-Case")
        self.assertEqual(self.register(name).status, 201)
        for i in range(5):
            self.assertError(self.login(name, "Wrong-Horse-%d" % i), 401, "invalid_credentials")
        # locked: even the right password is not looked at, in any case of the name
        self.assertLocked(self.login(name), 25, 30)
        self.assertLocked(self.login(name.upper()), 25, 30)
        self.assertEqual(self.count("SELECT failures FROM login_attempts WHERE username_key = "
                                    "'%s'" % self.key(name)), 5)

        # once the lock ran out, one more failure locks twice as long
        self.unlock(name)
        self.assertError(self.login(name, "Wrong-Horse-5"), 401, "invalid_credentials")
        self.assertLocked(self.login(name), 55, 60)

        # a success resets the counter
        self.unlock(name)
        self.assertTokens(self.login(name))
        self.assertEqual(self.count("SELECT count(*) FROM login_attempts WHERE username_key = "
                                    "'%s'" % self.key(name)), 0)
        self.assertError(self.login(name, "Wrong-Horse-6"), 401, "invalid_credentials")
        self.assertTokens(self.login(name))

    def test_lock_grows_to_fifteen_minutes(self):
        name = self.name()
        self.s.psql("INSERT INTO login_attempts (username_key, failures, last_failure_at) "
                    "VALUES ('%s', 12, now())" % name)
        self.assertError(self.login(name, "Wrong-Horse-1"), 401, "invalid_credentials")
        self.assertLocked(self.login(name), 895, 900)

    def test_unknown_usernames_lock_too(self):
        name = self.name("-ghost")
        for i in range(5):
            self.assertError(self.login(name, "Wrong-Horse-%d" % i), 401, "invalid_credentials")
        self.assertLocked(self.login(name), 25, 30)
        # another name is not affected
        self.assertError(self.login(name + "2"), 401, "invalid_credentials")


class RefreshLogoutTests(IdentityCase):

    def session(self):
        name = self.name()
        if self.login(name).status != 200:
            self.assertEqual(self.register(name).status, 201)
        body, _, claims = self.assertTokens(self.login(name))
        return body, claims

    def test_refresh_rotates_and_reuse_revokes_the_family(self):
        body, claims = self.session()
        other, _ = self.session()       # a second login: another family
        time.sleep(1.1)                 # so iat moves on
        r = self.refresh(body["refresh_token"])
        new, _, new_claims = self.assertTokens(r)
        self.assertNotEqual(new["refresh_token"], body["refresh_token"])
        self.assertNotEqual(new["access_token"], body["access_token"])
        self.assertEqual(new_claims["sub"], claims["sub"])
        self.assertEqual(new_claims["auth_time"], claims["auth_time"])
        self.assertGreater(new_claims["iat"], claims["iat"])
        self.assertTokenWorks(new["access_token"])
        # stored only as SHA-256
        self.assertEqual(self.count("SELECT count(*) FROM refresh_tokens WHERE "
                                    "token_hash = sha256('%s'::bytea)" % new["refresh_token"]), 1)

        # the old one again: a reuse, which revokes the whole family
        self.assertError(self.refresh(body["refresh_token"]), 401, "invalid_refresh_token",
                         "refresh token is invalid, expired or revoked")
        self.assertError(self.refresh(new["refresh_token"]), 401, "invalid_refresh_token")
        # the other login's family lives on
        self.assertTokens(self.refresh(other["refresh_token"]))

    def test_logout_revokes(self):
        body, _ = self.session()
        r = self.refresh(body["refresh_token"])
        new, _, _ = self.assertTokens(r)
        r = self.logout(new["refresh_token"])
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assertError(self.refresh(new["refresh_token"]), 401, "invalid_refresh_token")
        # idempotent, and for tokens that never existed too
        self.assertEqual(self.logout(new["refresh_token"]).status, 204)
        self.assertEqual(self.logout("mgr_" + "A" * 43).status, 204)
        self.assertEqual(self.logout("garbage").status, 204)

    def test_unknown_and_malformed_refresh_tokens(self):
        for token in ["mgr_" + "A" * 43, "garbage", "mgr_", "x" * 512]:
            self.assertError(self.refresh(token), 401, "invalid_refresh_token")
        self.assertError(self.refresh("x" * 513), 400, "invalid_field")

    def test_disabled_user(self):
        body, claims = self.session()
        self.s.psql("UPDATE users SET disabled = true WHERE id = '%s'" % claims["sub"])
        try:
            self.assertError(self.login(self.name()), 403, "account_disabled",
                             "this account is disabled")
            # a wrong password is still just wrong: nothing about the account leaks
            self.assertError(self.login(self.name(), "Wrong-Horse-1"), 401,
                             "invalid_credentials")
            self.assertError(self.refresh(body["refresh_token"]), 403, "account_disabled")
        finally:
            self.s.psql("UPDATE users SET disabled = false WHERE id = '%s'" % claims["sub"])
        # refused, not consumed: usable again once re-enabled
        self.assertTokens(self.refresh(body["refresh_token"]))

    def test_deleted_user(self):
        body, claims = self.session()
        self.s.psql("DELETE FROM users WHERE id = '%s'" % claims["sub"])
        self.assertEqual(self.count("SELECT count(*) FROM local_credentials WHERE user_id = "
                                    "'%s'" % claims["sub"]), 0)
        self.assertEqual(self.count("SELECT count(*) FROM refresh_tokens WHERE user_id = "
                                    "'%s'" % claims["sub"]), 0)
        self.assertError(self.login(self.name()), 401, "invalid_credentials",
                         "wrong username or password")
        self.assertError(self.refresh(body["refresh_token"]), 401, "invalid_refresh_token")


class KeyRotationTests(IdentityCase):

    def keygen(self, *args):
        return subprocess.run([WORKER_BIN, "keygen", "--dir", self.s.key_dir, *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def fresh_token(self):
        name = self.name()
        if self.login(name).status != 200:
            self.assertEqual(self.register(name).status, 201)
        body, header, _ = self.assertTokens(self.login(name))
        return body["access_token"], header["kid"]

    def test_rotate_then_retire(self):
        old_token, old_kid = self.fresh_token()
        self.assertEqual(old_kid, current_kid(self.s))

        r = self.keygen("--rotate")
        self.assertEqual(r.returncode, 0, r.stderr)
        new_kid = r.stdout.strip()
        self.assertNotEqual(new_kid, old_kid)
        self.assertEqual(current_kid(self.s), new_kid)
        with open(os.path.join(self.s.key_dir, "jwks.json")) as f:
            self.assertEqual({k["kid"] for k in json.load(f)["keys"]}, {old_kid, new_kid})

        # the workers pick the new key up within a second or so
        time.sleep(1.5)
        new_token, kid = self.s.wait_for(
            lambda: (lambda t: t if t[1] == new_kid else None)(self.fresh_token()), timeout=5)
        self.assertEqual(kid, new_kid)
        self.assertTokenWorks(new_token)
        self.assertTokenWorks(old_token)

        # the current key cannot be retired
        r = self.keygen("--retire", new_kid)
        self.assertEqual(r.returncode, 1)
        self.assertIn("current signing key", r.stderr)

        r = self.keygen("--retire", old_kid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.s.key_dir, old_kid + ".pem")))
        with open(os.path.join(self.s.key_dir, "jwks.json")) as f:
            self.assertEqual([k["kid"] for k in json.load(f)["keys"]], [new_kid])
        time.sleep(1.5)
        gone = self.s.wait_for(
            lambda: self.s.request("GET", "/api/v1/bots", token=old_token).status == 401,
            timeout=5)
        self.assertTrue(gone, "a token of the retired key still works")
        self.assertError(self.s.request("GET", "/api/v1/bots", token=old_token), 401,
                         "unauthorized")
        self.assertTokenWorks(new_token)
        # plain keygen stays idempotent and reports the current key
        r = self.keygen()
        self.assertEqual((r.returncode, r.stdout.strip()), (0, new_kid))


class RegistrationPolicyTests(IdentityCase):
    """first-admin, then closed, then open with an admin present: one stack,
    its workers restarted with each policy."""

    @classmethod
    def setUpClass(cls):
        cls.st = Stack(workers=2, env={"MANGOO_REGISTRATION": "first-admin"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.st.stop()

    def restart_workers(self, policy):
        self.st.env["MANGOO_REGISTRATION"] = policy
        for i in range(self.st.workers):
            self.st._ab("stop-worker", str(i))
            self.st.start_worker(i)
        ok = self.st.wait_for(lambda: self.st.request("GET", "/health").status == 200,
                              timeout=10)
        self.assertTrue(ok, "workers did not come back")

    def test_1_first_admin(self):
        body, _, claims = self.assertTokens(self.register("boss"), 201, extra={"user"})
        self.assertEqual(body["user"]["role"], "admin")
        self.assertEqual(claims["cognito:groups"], ["admin"])
        users = self.user_count()
        self.assertError(self.register("second"), 403, "registration_closed",
                         "registration is closed")
        self.assertError(self.register("BOSS"), 403, "registration_closed")
        self.assertEqual(self.user_count(), users)
        self.assertTokens(self.login("boss"))

    def test_2_closed(self):
        self.restart_workers("closed")
        users = self.user_count()
        self.assertError(self.register("newcomer"), 403, "registration_closed",
                         "registration is closed")
        # the mode may be an administrator's (in the database, signup.c):
        # input is checked first, then the mode
        self.assertError(self.register("x"), 400, "invalid_field")
        self.assertError(self.register("x-y-z"), 403, "registration_closed")
        self.assertEqual(self.user_count(), users)
        # closed registration does not stop existing users
        self.assertTokens(self.login("boss"))

    def test_3_open_with_an_admin_present(self):
        self.restart_workers("open")
        body, _, claims = self.assertTokens(self.register("member"), 201, extra={"user"})
        self.assertEqual(body["user"]["role"], "user")
        self.assertEqual(claims["cognito:groups"], [])

    def test_4_database_down(self):
        self.st.stop_db()
        try:
            self.assertError(self.login("boss"), 503, "database_unavailable")
            self.assertError(self.register("late-comer"), 503, "database_unavailable")
            self.assertError(self.refresh("mgr_" + "A" * 43), 503, "database_unavailable")
        finally:
            self.st.start_db()
        ok = self.st.wait_for(lambda: self.login("boss").status == 200, timeout=10)
        self.assertTrue(ok, "logins did not come back with the database")

    def test_5_bad_policy_refuses_to_start(self):
        env = dict(os.environ, MANGOO_REGISTRATION="sometimes")
        r = subprocess.run([WORKER_BIN, "serve", "--no-migrate", "--bind",
                            "tcp://127.0.0.1:1"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("MANGOO_REGISTRATION must be open, first-admin or closed", r.stderr)


if __name__ == "__main__":
    unittest.main()
