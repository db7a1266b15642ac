"""End-to-end tests of conditional requests on the API: every whole 200
answer to a GET carries a strong ETag made from its bytes and
"Cache-Control: private, no-cache"; If-None-Match with a current tag gets
304 and no body; a change makes a new tag.  Authentication and
ownership still come first.

Run: python3 tests/e2e/run.py test_conditional.py
"""

import http.client
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402

stack = None
ETAG_RE = re.compile(r'^"[A-Za-z0-9_-]{22}"$')


def setUpModule():
    global stack
    stack = Stack(workers=1).start()


def tearDownModule():
    if stack is not None:
        stack.stop()


def user(n):
    token = stack.token(sub="conditional-%s" % n)
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return token


def make_bot(token, name):
    r = stack.request("POST", "/api/v1/bots", {"name": name, "model_id": "local"}, token=token)
    assert r.status == 201, r
    return r


def raw_headers(path, token, headers=None):
    """Every header line of the answer, duplicates kept."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    try:
        conn.request("GET", path, headers=dict({"Authorization": "Bearer " + token},
                                               **(headers or {})))
        resp = conn.getresponse()
        resp.read()
        return resp.status, [(k.lower(), v) for k, v in resp.getheaders()]
    finally:
        conn.close()


class Conditional(unittest.TestCase):

    def test_a_list_is_not_sent_again_until_it_changes(self):
        token = user("list")
        make_bot(token, "first")
        r = stack.request("GET", "/api/v1/bots", token=token)
        self.assertEqual(r.status, 200)
        tag = r.header("etag")
        self.assertRegex(tag, ETAG_RE)
        self.assertEqual(r.header("cache-control"), "private, no-cache")

        again = stack.request("GET", "/api/v1/bots", token=token)
        self.assertEqual((again.status, again.header("etag")), (200, tag))   # same bytes

        same = stack.request("GET", "/api/v1/bots", token=token,
                             headers={"If-None-Match": tag})
        self.assertEqual(same.status, 304)
        self.assertEqual(same.body, b"")
        self.assertEqual(same.header("etag"), tag)
        self.assertEqual(same.header("cache-control"), "private, no-cache")
        self.assertTrue(same.header("x-request-id"))
        # weak comparison, lists of tags, and "*"
        for value in ("W/" + tag, '"other", ' + tag, "*"):
            self.assertEqual(stack.request("GET", "/api/v1/bots", token=token,
                                           headers={"If-None-Match": value}).status, 304, value)
        self.assertEqual(stack.request("GET", "/api/v1/bots", token=token,
                                       headers={"If-None-Match": '"other"'}).status, 200)

        make_bot(token, "second")
        changed = stack.request("GET", "/api/v1/bots", token=token,
                                headers={"If-None-Match": tag})
        self.assertEqual(changed.status, 200)
        self.assertEqual(len(changed.json()), 2)
        self.assertRegex(changed.header("etag"), ETAG_RE)
        self.assertNotEqual(changed.header("etag"), tag)

    def test_a_single_object(self):
        token = user("one")
        bot = make_bot(token, "solo")
        self.assertIsNone(bot.header("etag"))            # a 201 is no GET's answer
        path = "/api/v1/bots/" + bot.json()["id"]
        r = stack.request("GET", path, token=token)
        tag = r.header("etag")
        self.assertRegex(tag, ETAG_RE)
        self.assertEqual(stack.request("GET", path, token=token,
                                       headers={"If-None-Match": tag}).status, 304)
        r = stack.request("PATCH", path, {"name": "renamed"}, token=token)
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("etag"))
        r = stack.request("GET", path, token=token, headers={"If-None-Match": tag})
        self.assertEqual((r.status, r.json()["name"]), (200, "renamed"))

    def test_errors_and_strangers_get_no_304(self):
        token = user("owner")
        path = "/api/v1/bots/" + make_bot(token, "mine").json()["id"]
        tag = stack.request("GET", path, token=token).header("etag")
        # authentication and ownership come before any tag
        r = stack.request("GET", path, headers={"If-None-Match": tag})
        self.assertEqual(r.status, 401)
        r = stack.request("GET", path, token=user("stranger"), headers={"If-None-Match": tag})
        self.assertEqual(r.status, 404)
        self.assertIsNone(r.header("etag"))
        r = stack.request("GET", "/api/v1/bots/not-a-uuid", token=token)
        self.assertEqual(r.status // 100, 4)
        self.assertIsNone(r.header("etag"))

    def test_the_workers_own_caching_is_kept(self):
        # the public config says no-store itself: one Cache-Control, its own
        status, headers = raw_headers("/api/v1/config", user("config"))
        self.assertEqual(status, 200)
        self.assertEqual([v for k, v in headers if k == "cache-control"], ["no-store"])


if __name__ == "__main__":
    unittest.main()
