"""End-to-end tests of the local identity's sign-up rules
(worker/jobs/signup.c): the registration mode and the allowed e-mail
domains an administrator sets (GET/PATCH /api/v1/admin/signup, shown by
GET /api/v1/config), and invitations (/api/v1/admin/invitations, used by
POST /api/v1/auth/register's "invitation").

One stack; its first user is the administrator.  The rules are global, so
every test puts them back as it found them (open, no domains).

Run: python3 tests/e2e/run.py test_signup.py
"""

import datetime
import json
import os
import re
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, note_secret  # noqa: E402

stack = None
admin = None            # the first user's access token (an administrator)

PW = "Correct-Horse-9"
CODE_RE = re.compile(r"^mgi_[A-Za-z0-9_-]{43}$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
INVITATION_KEYS = {"id", "email", "role", "groups", "expires_at", "created_at", "used_at",
                   "revoked_at"}


def setUpModule():
    global stack, admin
    stack = Stack(workers=2).start()
    r = stack.request("POST", "/api/v1/auth/register",
                      {"username": "root", "password": PW, "email": "root@example.com"})
    assert r.status == 201, r
    admin = r.json()["access_token"]


def tearDownModule():
    if stack is not None:
        stack.stop()


def unb64u(s):
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def claims_of(token):
    return json.loads(unb64u(token.split(".")[1]))


def parse_ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


class SignupCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.restore()

    def tearDown(self):
        self.restore()

    def restore(self):
        r = stack.request("PATCH", "/api/v1/admin/signup",
                          {"registration": "open", "allowed_domains": []}, token=admin)
        self.assertEqual(r.status, 200, r)

    # -- helpers ---------------------------------------------------------
    def name(self, suffix=""):
        return ("u" + uuid.uuid4().hex[:10] + suffix)[:64]

    def register(self, username=None, **extra):
        body = {"username": username or self.name(), "password": PW}
        body.update(extra)
        return stack.request("POST", "/api/v1/auth/register", body)

    def user_count(self):
        return int(stack.psql("SELECT count(*) FROM users"))

    def rules(self, token=None):
        return stack.request("GET", "/api/v1/admin/signup", token=token or admin)

    def patch(self, body, token=None):
        return stack.request("PATCH", "/api/v1/admin/signup", body, token=token or admin)

    def config(self):
        r = stack.request("GET", "/api/v1/config")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def invite(self, body, token=None):
        r = stack.request("POST", "/api/v1/admin/invitations", body, token=token or admin)
        if r.status == 201:
            note_secret(r.json()["code"])
        return r

    def invitations(self):
        r = stack.request("GET", "/api/v1/admin/invitations", token=admin)
        self.assertEqual(r.status, 200, r)
        return r.json()["items"]

    def invitation(self, iid):
        found = [i for i in self.invitations() if i["id"] == iid]
        self.assertEqual(len(found), 1)
        return found[0]

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        body = r.json()
        self.assertEqual(set(body), {"error"}, body)
        self.assertEqual(body["error"]["code"], code, body)
        return body["error"]

    def assertCreated(self, r):
        self.assertEqual(r.status, 201, r)
        return r.json()

    def a_user_token(self):
        return self.assertCreated(self.register(email="someone@example.com"))["access_token"]


class DomainAllowListTests(SignupCase):
    def test_default_rules_and_config(self):
        r = self.rules()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"registration": "open", "allowed_domains": []})
        cfg = self.config()
        self.assertEqual(cfg["allowed_domains"], [])
        self.assertIs(cfg["invitations"], True)
        self.assertEqual(cfg["registration"], "open")

    def test_allowed_domain_registers_others_are_refused(self):
        r = self.patch({"allowed_domains": ["Example.COM", "corp.example.org", "example.com"]})
        self.assertEqual(r.status, 200, r)
        # lowercase, without duplicates; the mode is kept
        self.assertEqual(r.json(), {"registration": "open",
                                    "allowed_domains": ["corp.example.org", "example.com"]})
        self.assertEqual(self.rules().json(), r.json())
        self.assertEqual(self.config()["allowed_domains"], ["corp.example.org", "example.com"])

        self.assertCreated(self.register(email="ann@example.com"))
        self.assertCreated(self.register(email="bob@corp.example.org"))
        # case-insensitive
        self.assertCreated(self.register(email="Carol@EXAMPLE.Com"))

        users = self.user_count()
        for email in ("dan@example.net", "dan@sub.example.com", "dan@example.com.evil.net",
                      "dan@notexample.com"):
            err = self.assertError(self.register(email=email), 403, "domain_not_allowed")
            self.assertIn("allowed", err["message"])
        # no e-mail address at all: refused too
        self.assertError(self.register(), 403, "domain_not_allowed")
        self.assertError(self.register(email=None), 403, "domain_not_allowed")
        self.assertEqual(self.user_count(), users)

        # [] allows everyone again
        self.assertEqual(self.patch({"allowed_domains": []}).json()["allowed_domains"], [])
        self.assertCreated(self.register())
        self.assertCreated(self.register(email="dan@example.net"))

    def test_bad_patch_changes_nothing(self):
        self.assertEqual(self.patch({"registration": "first-admin",
                                     "allowed_domains": ["example.com"]}).status, 200)
        before = self.rules().json()
        bad = [
            ({"registration": "maybe"}, "invalid_field"),
            ({"registration": None}, "invalid_field"),
            ({"allowed_domains": "example.com"}, "invalid_field"),
            ({"allowed_domains": ["@example.com"]}, "invalid_field"),
            ({"allowed_domains": ["not a domain"]}, "invalid_field"),
            ({"allowed_domains": [""]}, "invalid_field"),
            ({"allowed_domains": ["ok.com", 5]}, "invalid_field"),
            ({"allowed_domains": ["d%d.com" % i for i in range(101)]}, "invalid_field"),
            # a good part does not go through with a bad one
            ({"registration": "closed", "allowed_domains": ["bad_domain.com"]}, "invalid_field"),
            ({"registration": "bogus", "allowed_domains": []}, "invalid_field"),
            ({"mode": "closed"}, "unknown_field"),
        ]
        for body, code in bad:
            with self.subTest(body=body):
                self.assertError(self.patch(body), 400, code)
        self.assertEqual(self.rules().json(), before)
        # {} changes nothing either
        r = self.patch({})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), before)

    def test_mode_set_by_an_administrator(self):
        self.assertEqual(self.patch({"registration": "closed"}).json(),
                         {"registration": "closed", "allowed_domains": []})
        cfg = self.config()
        self.assertEqual((cfg["registration"], cfg["can_register"]), ("closed", False))
        users = self.user_count()
        self.assertError(self.register(), 403, "registration_closed")
        # first-admin: an administrator exists, so closed as well
        self.patch({"registration": "first-admin"})
        cfg = self.config()
        self.assertEqual((cfg["registration"], cfg["can_register"]), ("first-admin", False))
        self.assertError(self.register(), 403, "registration_closed")
        self.assertEqual(self.user_count(), users)
        self.patch({"registration": "open"})
        self.assertTrue(self.config()["can_register"])
        self.assertCreated(self.register())

    def test_only_administrators(self):
        tok = self.a_user_token()
        for method, path, body in (
                ("GET", "/api/v1/admin/signup", None),
                ("PATCH", "/api/v1/admin/signup", {"registration": "closed"}),
                ("GET", "/api/v1/admin/invitations", None),
                ("POST", "/api/v1/admin/invitations", {"email": "x@example.com"}),
                ("DELETE", "/api/v1/admin/invitations/%s" % uuid.uuid4(), None),
                ("GET", "/api/v1/admin/permissions", None)):
            with self.subTest(method=method, path=path):
                self.assertError(stack.request(method, path, body, token=tok), 403, "forbidden")
        self.assertEqual(self.rules().json()["registration"], "open")
        self.assertError(stack.request("GET", "/api/v1/admin/signup"), 401, "unauthorized")


class InvitationTests(SignupCase):
    def test_create_list_and_register_in_closed_mode(self):
        r = self.invite({"email": "Invitee@Example.org", "role": "admin",
                         "groups": ["team-a", "publishers", "team-a"], "expires_in_days": 3})
        inv = self.assertCreated(r)
        self.assertEqual(set(inv), INVITATION_KEYS | {"code"})
        self.assertRegex(inv["code"], CODE_RE)
        self.assertEqual((inv["email"], inv["role"], inv["groups"]),
                         ("Invitee@Example.org", "admin", ["publishers", "team-a"]))
        self.assertIsNone(inv["used_at"])
        self.assertIsNone(inv["revoked_at"])
        self.assertRegex(inv["expires_at"], TS_RE)
        days = parse_ts(inv["expires_at"]) - parse_ts(inv["created_at"])
        self.assertAlmostEqual(days.total_seconds(), 3 * 86400, delta=5)
        # only its hash is kept
        self.assertEqual(stack.psql("SELECT count(*) FROM invitations WHERE "
                                    "code_hash = sha256(convert_to('%s', 'UTF8'))"
                                    % inv["code"]), "1")

        listed = self.invitation(inv["id"])
        self.assertEqual(set(listed), INVITATION_KEYS)      # the code is never shown again
        self.assertEqual(listed, {k: inv[k] for k in INVITATION_KEYS})
        self.assertNotIn(inv["code"], json.dumps(self.invitations()))

        self.patch({"registration": "closed", "allowed_domains": ["example.com"]})
        self.assertError(self.register(email="invitee@example.org"), 403, "registration_closed")
        name = self.name()
        r = self.register(name, email="invitee@EXAMPLE.org", invitation=inv["code"])
        body = self.assertCreated(r)
        self.assertEqual(body["user"]["role"], "admin")
        self.assertEqual(body["user"]["groups"], ["publishers", "team-a"])
        self.assertEqual(body["user"]["email"], "invitee@EXAMPLE.org")
        self.assertEqual(claims_of(body["access_token"])["cognito:groups"],
                         ["admin", "publishers", "team-a"])
        # a new administrator, for real
        self.assertEqual(stack.request("GET", "/api/v1/admin/signup",
                                       token=body["access_token"]).status, 200)
        me = stack.request("GET", "/api/v1/users/me", token=body["access_token"]).json()
        self.assertEqual(me["permissions"], {"admin": True, "create_bots": True,
                                             "publish_bots": True})
        # signing in again gives the same groups
        r = stack.request("POST", "/api/v1/auth/login", {"username": name, "password": PW})
        self.assertEqual(claims_of(r.json()["access_token"])["cognito:groups"],
                         ["admin", "publishers", "team-a"])

        # used once only
        used = self.invitation(inv["id"])
        self.assertRegex(used["used_at"], TS_RE)
        users = self.user_count()
        self.assertError(self.register(email="invitee@example.org", invitation=inv["code"]),
                         403, "invitation_invalid")
        self.assertEqual(self.user_count(), users)

    def test_defaults_and_no_email_given(self):
        inv = self.assertCreated(self.invite({"email": "plain@example.net"}))
        self.assertEqual((inv["role"], inv["groups"]), ("user", []))
        days = parse_ts(inv["expires_at"]) - parse_ts(inv["created_at"])
        self.assertAlmostEqual(days.total_seconds(), 7 * 86400, delta=5)
        # the domain list does not apply to the invited
        self.patch({"allowed_domains": ["example.com"]})
        body = self.assertCreated(self.register(invitation=inv["code"]))
        self.assertEqual(body["user"]["email"], "plain@example.net")
        self.assertEqual((body["user"]["role"], body["user"]["groups"]), ("user", []))
        self.assertEqual(claims_of(body["access_token"])["cognito:groups"], [])

    def test_email_mismatch_does_not_use_it(self):
        inv = self.assertCreated(self.invite({"email": "right@example.org"}))
        self.patch({"registration": "closed"})
        users = self.user_count()
        self.assertError(self.register(email="wrong@example.org", invitation=inv["code"]),
                         403, "invitation_invalid")
        self.assertEqual(self.user_count(), users)
        self.assertIsNone(self.invitation(inv["id"])["used_at"])
        self.assertCreated(self.register(email="RIGHT@example.org", invitation=inv["code"]))

    def test_revoked(self):
        inv = self.assertCreated(self.invite({"email": "gone@example.org"}))
        path = "/api/v1/admin/invitations/" + inv["id"]
        r = stack.request("DELETE", path, token=admin)
        self.assertEqual(r.status, 204, r)
        revoked_at = self.invitation(inv["id"])["revoked_at"]
        self.assertRegex(revoked_at, TS_RE)
        # idempotent: the first revocation's time stays
        self.assertEqual(stack.request("DELETE", path, token=admin).status, 204)
        self.assertEqual(self.invitation(inv["id"])["revoked_at"], revoked_at)
        self.assertError(self.register(email="gone@example.org", invitation=inv["code"]),
                         403, "invitation_invalid")
        self.assertError(stack.request("DELETE", "/api/v1/admin/invitations/%s" % uuid.uuid4(),
                                       token=admin), 404, "not_found")
        self.assertError(stack.request("DELETE", "/api/v1/admin/invitations/nope",
                                       token=admin), 404, "not_found")

    def test_expired(self):
        inv = self.assertCreated(self.invite({"email": "late@example.org",
                                              "expires_in_days": 1}))
        stack.psql("UPDATE invitations SET expires_at = now() - interval '1 second' "
                   "WHERE id = '%s'" % inv["id"])
        self.assertError(self.register(email="late@example.org", invitation=inv["code"]),
                         403, "invitation_invalid")

    def test_unknown_and_malformed_codes(self):
        users = self.user_count()
        for code in ("mgi_" + "A" * 43, "mgi_short", "x" * 47, "mgr_" + "A" * 43):
            with self.subTest(code=code):
                self.assertError(self.register(email="who@example.org", invitation=code),
                                 403, "invitation_invalid")
        self.assertEqual(self.user_count(), users)

    def test_bad_input(self):
        bad = [
            {},
            {"email": "nope"},
            {"email": "a@example.org", "role": "root"},
            {"email": "a@example.org", "groups": ["admin"]},
            {"email": "a@example.org", "groups": ["a b"]},
            {"email": "a@example.org", "groups": ["g%d" % i for i in range(21)]},
            {"email": "a@example.org", "expires_in_days": 0},
            {"email": "a@example.org", "expires_in_days": 91},
        ]
        before = len(self.invitations())
        for body in bad:
            with self.subTest(body=body):
                self.assertError(self.invite(body), 400, "invalid_field")
        self.assertError(self.invite({"email": "a@example.org", "code": "mine"}), 400,
                         "unknown_field")
        self.assertEqual(len(self.invitations()), before)

    def test_code_is_not_logged(self):
        inv = self.assertCreated(self.invite({"email": "quiet@example.org"}))
        self.assertCreated(self.register(email="quiet@example.org", invitation=inv["code"]))
        logs = [n for n in os.listdir(stack.state) if n.endswith(".log")]
        self.assertTrue(logs)
        for name in logs:
            self.assertNotIn(inv["code"], stack.log_text(name), name)
        # the stack's teardown checks every noted secret against every log too


if __name__ == "__main__":
    unittest.main()
