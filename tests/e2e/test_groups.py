"""End-to-end tests of permission groups: the local identity's users'
groups (PATCH /api/v1/admin/users/{id} {"groups"}), carried by their next
access token in cognito:groups; GET /api/v1/users/me's "groups" and
"permissions" (worker/jobs/permissions.c: MANGOO_CREATE_GROUP,
MANGOO_PUBLISH_GROUP); GET /api/v1/admin/permissions.

Two stacks: the default configuration (everyone may create, "publishers"
may publish), and one with both groups configured.

Run: python3 tests/e2e/run.py test_groups.py
"""

import base64
import json
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402

PW = "Correct-Horse-9"


def claims_of(token):
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


class GroupsCase(unittest.TestCase):
    maxDiff = None
    env = None
    stack = None
    admin = None        # the first user's session (an administrator)

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(workers=2, env=cls.env).start()
        cls.admin = cls.register_as("root")

    @classmethod
    def tearDownClass(cls):
        if cls.stack is not None:
            cls.stack.stop()

    @classmethod
    def register_as(cls, name):
        r = cls.stack.request("POST", "/api/v1/auth/register",
                              {"username": name, "password": PW})
        assert r.status == 201, r
        return r.json()

    def new_user(self):
        return self.register_as("u" + uuid.uuid4().hex[:12])

    def me(self, token):
        r = self.stack.request("GET", "/api/v1/users/me", token=token)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def set_groups(self, uid, groups, token=None):
        return self.stack.request("PATCH", "/api/v1/admin/users/" + uid, {"groups": groups},
                                  token=token or self.admin["access_token"])

    def refreshed(self, session):
        """A new session from session's refresh token: the next token."""
        r = self.stack.request("POST", "/api/v1/auth/refresh",
                               {"refresh_token": session["refresh_token"]})
        self.assertEqual(r.status, 200, r)
        return r.json()

    def stored_groups(self, uid):
        return self.stack.psql("SELECT array_to_string(groups, ',') FROM users "
                               "WHERE id = '%s'" % uid)

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.json()["error"]["code"], code, r)


class DefaultGroupsTests(GroupsCase):
    def test_first_user_may_create_and_publish_second_may_create(self):
        me = self.me(self.admin["access_token"])
        self.assertEqual(me["groups"], ["admin"])
        self.assertEqual(me["permissions"], {"admin": True, "create_bots": True,
                                             "publish_bots": True})
        other = self.new_user()
        me = self.me(other["access_token"])
        self.assertEqual(me["groups"], [])
        self.assertEqual(me["permissions"], {"admin": False, "create_bots": True,
                                             "publish_bots": False})

    def test_admin_permissions_shows_the_configured_names(self):
        r = self.stack.request("GET", "/api/v1/admin/permissions",
                               token=self.admin["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"admin_group": "admin", "create_group": None,
                                    "publish_group": "publishers"})
        other = self.new_user()
        self.assertError(self.stack.request("GET", "/api/v1/admin/permissions",
                                            token=other["access_token"]), 403, "forbidden")

    def test_groups_reach_the_next_token(self):
        user = self.new_user()
        uid = user["user"]["id"]
        r = self.set_groups(uid, ["publishers", "team-a", "publishers"])
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body["id"], uid)
        self.assertEqual(body["groups"], ["publishers", "team-a"])     # sorted, once each
        self.assertNotIn("permissions", body)

        # the token in hand keeps the groups it was signed with
        self.assertEqual(self.me(user["access_token"])["groups"], [])
        # the next one (refresh) carries the new ones
        nxt = self.refreshed(user)
        self.assertEqual(claims_of(nxt["access_token"])["cognito:groups"],
                         ["publishers", "team-a"])
        me = self.me(nxt["access_token"])
        self.assertEqual(me["groups"], ["publishers", "team-a"])
        self.assertEqual(me["permissions"], {"admin": False, "create_bots": True,
                                             "publish_bots": True})
        # and so does signing in
        r = self.stack.request("POST", "/api/v1/auth/login",
                               {"username": user["user"]["username"], "password": PW})
        self.assertEqual(claims_of(r.json()["access_token"])["cognito:groups"],
                         ["publishers", "team-a"])

        # the admin list shows them
        r = self.stack.request("GET", "/api/v1/admin/users?q=" + user["user"]["username"],
                               token=self.admin["access_token"])
        self.assertEqual([u["groups"] for u in r.json()["items"]], [["publishers", "team-a"]])

        # cleared again
        self.assertEqual(self.set_groups(uid, []).json()["groups"], [])
        nxt = self.refreshed(nxt)
        self.assertEqual(claims_of(nxt["access_token"])["cognito:groups"], [])
        self.assertFalse(self.me(nxt["access_token"])["permissions"]["publish_bots"])

    def test_role_admin_and_groups_together(self):
        user = self.new_user()
        uid = user["user"]["id"]
        r = self.stack.request("PATCH", "/api/v1/admin/users/" + uid,
                               {"role": "admin", "groups": ["team-b"]},
                               token=self.admin["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["role"], r.json()["groups"]), ("admin", ["team-b"]))
        nxt = self.refreshed(user)
        self.assertEqual(claims_of(nxt["access_token"])["cognito:groups"], ["admin", "team-b"])
        self.assertTrue(self.me(nxt["access_token"])["permissions"]["admin"])

    def test_bad_groups_change_nothing(self):
        user = self.new_user()
        uid = user["user"]["id"]
        self.assertEqual(self.set_groups(uid, ["keep"]).status, 200)
        for groups in (["admin"], ["a b"], [""], ["x" * 129], "team", None, [5],
                       ["g%d" % i for i in range(21)]):
            with self.subTest(groups=groups):
                self.assertError(self.set_groups(uid, groups), 400, "invalid_field")
        # a good field does not go through with bad groups
        r = self.stack.request("PATCH", "/api/v1/admin/users/" + uid,
                               {"disabled": True, "groups": ["admin"]},
                               token=self.admin["access_token"])
        self.assertError(r, 400, "invalid_field")
        self.assertEqual(self.stored_groups(uid), "keep")
        self.assertEqual(self.me(user["access_token"])["disabled"], False)
        # 128 characters and 20 groups are fine
        self.assertEqual(self.set_groups(uid, ["x" * 128]).status, 200)
        self.assertEqual(self.set_groups(uid, ["g%02d" % i for i in range(20)]).status, 200)

    def test_only_administrators_set_groups(self):
        user = self.new_user()
        uid = user["user"]["id"]
        self.assertError(self.set_groups(uid, ["publishers"], token=user["access_token"]),
                         403, "forbidden")
        self.assertEqual(self.stored_groups(uid), "")
        self.assertError(self.set_groups("no-such-user", ["x"]), 404, "not_found")

    def test_token_groups_of_another_identity(self):
        # a token with groups from elsewhere (Cognito's shape): users/me
        # reports the token's groups
        tok = self.stack.token(sub="cog-" + uuid.uuid4().hex[:8], groups=["publishers", "x"])
        me = self.me(tok)
        self.assertEqual(me["groups"], ["publishers", "x"])
        self.assertEqual(me["permissions"], {"admin": False, "create_bots": True,
                                             "publish_bots": True})


class ConfiguredGroupsTests(GroupsCase):
    env = {"MANGOO_CREATE_GROUP": "creators", "MANGOO_PUBLISH_GROUP": "pub"}

    def test_names_and_rights(self):
        r = self.stack.request("GET", "/api/v1/admin/permissions",
                               token=self.admin["access_token"])
        self.assertEqual(r.json(), {"admin_group": "admin", "create_group": "creators",
                                    "publish_group": "pub"})
        # the administrator may do both, whatever the groups
        self.assertEqual(self.me(self.admin["access_token"])["permissions"],
                         {"admin": True, "create_bots": True, "publish_bots": True})

        user = self.new_user()
        uid = user["user"]["id"]
        self.assertEqual(self.me(user["access_token"])["permissions"],
                         {"admin": False, "create_bots": False, "publish_bots": False})
        self.set_groups(uid, ["creators"])
        user = self.refreshed(user)
        self.assertEqual(self.me(user["access_token"])["permissions"],
                         {"admin": False, "create_bots": True, "publish_bots": False})
        self.set_groups(uid, ["pub", "creators"])
        user = self.refreshed(user)
        self.assertEqual(self.me(user["access_token"])["permissions"],
                         {"admin": False, "create_bots": True, "publish_bots": True})
        # "publishers" means nothing here
        self.set_groups(uid, ["publishers"])
        user = self.refreshed(user)
        self.assertEqual(self.me(user["access_token"])["permissions"],
                         {"admin": False, "create_bots": False, "publish_bots": False})


if __name__ == "__main__":
    unittest.main()
