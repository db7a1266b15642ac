"""End-to-end tests of a bot published as an API, worker side (issue 15,
part C): the owner's key management and quota over HTTP, and the jobs the
module sends for a key (apikeys.verify, published.stream/complete) sent
straight to a worker as the module sends them (worker_client.py), since
the module's side of MG_ROUTE_APIKEY is built apart.

Run: python3 tests/e2e/run.py test_api_keys.py
"""

import datetime
import hashlib
import json
import os
import re
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, note_secret  # noqa: E402
from worker_client import WorkerClient  # noqa: E402

stack = None
KEY_RE = re.compile(r"^mgk_[A-Za-z0-9_-]{43}$")
KEY_FIELDS = {"id", "name", "prefix", "rate_per_second", "burst", "expires_at", "revoked_at",
              "created_at", "last_used_at", "today"}
ZERO = {"requests": 0, "input_tokens": 0, "output_tokens": 0}


def setUpModule():
    global stack
    stack = Stack(workers=2, env={"MANGOO_LOCAL_DELAY_MS": "1"}).start()


def tearDownModule():
    if stack is not None:
        stack.stop()


_users = iter(range(1, 1000000))


def new_user(groups=("publishers",)):
    sub = "keys-user-%d" % next(_users)
    token = stack.token(sub=sub, groups=groups)
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return sub, token


def make_bot(token):
    r = stack.request("POST", "/api/v1/bots", body=dict(name="pub", model_id="local"),
                      token=token)
    assert r.status == 201, r
    return r.json()["id"]


def keys_path(bot, rest=""):
    return "/api/v1/bots/%s/api-keys%s" % (bot, rest)


def create_key(token, bot, **body):
    body.setdefault("name", "k")
    r = stack.request("POST", keys_path(bot), body=body, token=token)
    assert r.status == 201, r
    k = r.json()
    note_secret(k["key"])
    note_secret(key_hash(k["key"]))
    return k


def key_hash(key):
    return hashlib.sha256(key.encode()).hexdigest()


def q(s):
    return "'" + s.replace("'", "''") + "'"


class ApiKeysHttp(unittest.TestCase):
    maxDiff = None

    def test_create_shows_the_key_once(self):
        _, tok = new_user()
        bot = make_bot(tok)
        k = create_key(tok, bot, name="my app")
        self.assertRegex(k["key"], KEY_RE)
        self.assertEqual(set(k), KEY_FIELDS | {"key"})
        self.assertEqual(k["prefix"], k["key"][:12])
        self.assertEqual(k["name"], "my app")
        self.assertEqual(k["rate_per_second"], 5)
        self.assertEqual(k["burst"], 10)
        self.assertIsNone(k["expires_at"])
        self.assertIsNone(k["revoked_at"])
        self.assertIsNone(k["last_used_at"])
        self.assertEqual(k["today"], ZERO)
        # stored hashed: neither the key nor anything of it but the prefix
        self.assertEqual(stack.psql("select encode(key_hash, 'hex') from api_keys where id = %s"
                                    % q(k["id"])), key_hash(k["key"]))
        self.assertEqual(stack.psql("select count(*) from api_keys where prefix <> %s and id = %s"
                                    % (q(k["key"][:12]), q(k["id"]))), "0")
        r = stack.request("GET", keys_path(bot), token=tok)
        self.assertEqual(r.status, 200)
        items = r.json()["items"]
        self.assertEqual(len(items), 1)
        self.assertEqual(set(items[0]), KEY_FIELDS)
        self.assertNotIn(k["key"], r.body.decode())
        self.assertNotIn(k["key"][12:], r.body.decode())
        # two keys never share material
        k2 = create_key(tok, bot, rate_per_second=0.5, burst=3,
                        expires_at="2099-01-02T03:04:05Z")
        self.assertNotEqual(k2["key"], k["key"])
        self.assertEqual(k2["rate_per_second"], 0.5)
        self.assertEqual(k2["burst"], 3)
        self.assertTrue(k2["expires_at"].startswith("2099-01-02T03:04:05"))
        items = stack.request("GET", keys_path(bot), token=tok).json()["items"]
        self.assertEqual([i["id"] for i in items], [k2["id"], k["id"]])   # newest first

    def test_revoke_is_idempotent_and_listed(self):
        _, tok = new_user()
        bot = make_bot(tok)
        k = create_key(tok, bot)
        r = stack.request("DELETE", keys_path(bot, "/" + k["id"]), token=tok)
        self.assertEqual(r.status, 200)
        first = r.json()["revoked_at"]
        self.assertIsNotNone(first)
        self.assertNotIn("key", r.json())
        r = stack.request("DELETE", keys_path(bot, "/" + k["id"]), token=tok)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["revoked_at"], first)
        items = stack.request("GET", keys_path(bot), token=tok).json()["items"]
        self.assertEqual(items[0]["revoked_at"], first)
        for bad in (str(uuid.uuid4()), "nope"):
            r = stack.request("DELETE", keys_path(bot, "/" + bad), token=tok)
            self.assertEqual(r.status, 404)

    def test_usage_days(self):
        _, tok = new_user()
        bot = make_bot(tok)
        k = create_key(tok, bot)
        r = stack.request("GET", keys_path(bot, "/%s/usage" % k["id"]), token=tok)
        self.assertEqual(r.status, 200)
        days = r.json()["days"]
        self.assertEqual(len(days), 30)
        self.assertEqual(days[-1]["day"], datetime.datetime.now(datetime.timezone.utc)
                         .date().isoformat())
        self.assertTrue(all(d["requests"] == 0 for d in days))
        r = stack.request("GET", keys_path(bot, "/%s/usage?days=1" % k["id"]), token=tok)
        self.assertEqual(len(r.json()["days"]), 1)
        for bad in ("0", "367", "x", "-1", "1.5", ""):
            r = stack.request("GET", keys_path(bot, "/%s/usage?days=%s" % (k["id"], bad)),
                              token=tok)
            self.assertEqual(r.status, 400, bad)
            self.assertEqual(r.json()["error"]["code"], "invalid_query")
        r = stack.request("GET", keys_path(bot, "/%s/usage" % uuid.uuid4()), token=tok)
        self.assertEqual(r.status, 404)

    def test_bad_input_is_400_and_changes_nothing(self):
        _, tok = new_user()
        bot = make_bot(tok)
        create_key(tok, bot)
        bad = [
            {}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 5},
            {"name": "k", "rate_per_second": 0.05}, {"name": "k", "rate_per_second": 1001},
            {"name": "k", "rate_per_second": "5"}, {"name": "k", "burst": 0},
            {"name": "k", "burst": 10001}, {"name": "k", "burst": 1.5},
            {"name": "k", "expires_at": "2001-01-01T00:00:00Z"},
            {"name": "k", "expires_at": "tomorrow"},
            {"name": "k", "expires_at": "2099-02-30T00:00:00Z"},
            {"name": "k", "expires_at": "2099-01-01 00:00:00"},
            {"name": "k", "expires_at": 4102444800},
            {"name": "k", "key": "mgk_" + "a" * 43},
            {"name": "k", "prefix": "mgk_aaaaaaaa"},
        ]
        for body in bad:
            r = stack.request("POST", keys_path(bot), body=body, token=tok)
            self.assertEqual(r.status, 400, body)
        for raw in (b"", b"[]", b"{", b"null"):
            r = stack.request("POST", keys_path(bot), raw=raw, token=tok,
                              headers={"Content-Type": "application/json"})
            self.assertEqual(r.status, 400, raw)
        self.assertEqual(len(stack.request("GET", keys_path(bot), token=tok).json()["items"]), 1)
        # an offset is a time too
        k = create_key(tok, bot, expires_at="2099-01-01T02:00:00.5+02:00")
        self.assertTrue(k["expires_at"].startswith("2099-01-01T00:00:00.5"), k["expires_at"])

    def test_publishing_needs_the_group(self):
        _, tok = new_user(groups=())
        bot = make_bot(tok)
        for method, path, body in (("GET", keys_path(bot), None),
                                   ("POST", keys_path(bot), {"name": "k"}),
                                   ("DELETE", keys_path(bot, "/" + str(uuid.uuid4())), None),
                                   ("GET", keys_path(bot, "/%s/usage" % uuid.uuid4()), None),
                                   ("GET", "/api/v1/bots/%s/publication" % bot, None),
                                   ("PATCH", "/api/v1/bots/%s/publication" % bot,
                                    {"quota_requests": 1})):
            r = stack.request(method, path, body=body, token=tok)
            self.assertEqual(r.status, 403, path)
            self.assertEqual(r.json()["error"]["code"], "publish_not_allowed")
            self.assertIn("publishers", r.json()["error"]["message"])
        self.assertEqual(stack.psql("select count(*) from api_keys where bot_id = %s" % q(bot)),
                         "0")
        # an administrator may
        _, admin = new_user(groups=("admin",))
        abot = make_bot(admin)
        create_key(admin, abot)

    def test_local_users_first_admin_second_not_a_publisher(self):
        first = stack.request("POST", "/api/v1/auth/register",
                              body={"username": "keysadmin", "password": "Correct horse 1"})
        second = stack.request("POST", "/api/v1/auth/register",
                               body={"username": "keysuser", "password": "Correct horse 2"})
        if first.status != 201 or second.status != 201:
            self.skipTest("local registration is not open here: %s %s" % (first, second))
        atok, utok = first.json()["access_token"], second.json()["access_token"]
        abot, ubot = make_bot(atok), make_bot(utok)
        create_key(atok, abot)
        r = stack.request("POST", keys_path(ubot), body={"name": "k"}, token=utok)
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json()["error"]["code"], "publish_not_allowed")

    def test_another_owners_bot_is_404(self):
        _, owner = new_user()
        bot = make_bot(owner)
        k = create_key(owner, bot)
        _, other = new_user()
        for method, path, body in (("GET", keys_path(bot), None),
                                   ("POST", keys_path(bot), {"name": "k"}),
                                   ("DELETE", keys_path(bot, "/" + k["id"]), None),
                                   ("GET", keys_path(bot, "/%s/usage" % k["id"]), None),
                                   ("GET", "/api/v1/bots/%s/publication" % bot, None),
                                   ("PATCH", "/api/v1/bots/%s/publication" % bot,
                                    {"quota_requests": 1})):
            r = stack.request(method, path, body=body, token=other)
            self.assertEqual(r.status, 404, path)
        # nothing changed
        self.assertEqual(len(stack.request("GET", keys_path(bot), token=owner)
                             .json()["items"]), 1)
        self.assertIsNone(stack.request("GET", keys_path(bot), token=owner)
                          .json()["items"][0]["revoked_at"])
        self.assertIsNone(stack.request("GET", "/api/v1/bots/%s/publication" % bot,
                                        token=owner).json()["quota_requests"])
        # and a key of my bot under another of my bots is not found either
        bot2 = make_bot(owner)
        r = stack.request("DELETE", keys_path(bot2, "/" + k["id"]), token=owner)
        self.assertEqual(r.status, 404)

    def test_publication_quota(self):
        _, tok = new_user()
        bot = make_bot(tok)
        path = "/api/v1/bots/%s/publication" % bot
        r = stack.request("GET", path, token=tok)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"quota_requests": None, "quota_tokens": None,
                                    "endpoint": "/api/v1/published/%s/chat" % bot,
                                    "stream_endpoint": "/api/v1/published/%s/chat/stream" % bot})
        r = stack.request("PATCH", path, body={"quota_requests": 100}, token=tok)
        self.assertEqual(r.status, 200)
        self.assertEqual((r.json()["quota_requests"], r.json()["quota_tokens"]), (100, None))
        r = stack.request("PATCH", path, body={"quota_tokens": 5000}, token=tok)
        self.assertEqual((r.json()["quota_requests"], r.json()["quota_tokens"]), (100, 5000))
        for body in ({"quota_requests": -1}, {"quota_tokens": 1.5}, {"quota_tokens": "9"},
                     {"quota": 1}, {"quota_requests": 10 ** 16}, {"quota_tokens": True}):
            r = stack.request("PATCH", path, body=body, token=tok)
            self.assertEqual(r.status, 400, body)
        r = stack.request("GET", path, token=tok)
        self.assertEqual((r.json()["quota_requests"], r.json()["quota_tokens"]), (100, 5000))
        r = stack.request("PATCH", path, body={"quota_requests": None}, token=tok)
        self.assertEqual((r.json()["quota_requests"], r.json()["quota_tokens"]), (None, 5000))
        r = stack.request("PATCH", path, body={}, token=tok)
        self.assertEqual(r.status, 200)
        self.assertEqual((r.json()["quota_requests"], r.json()["quota_tokens"]), (None, 5000))

    def test_deleting_the_bot_takes_its_keys(self):
        _, tok = new_user()
        bot = make_bot(tok)
        k = create_key(tok, bot)
        self.assertEqual(stack.request("DELETE", "/api/v1/bots/" + bot, token=tok).status, 204)
        self.assertEqual(stack.psql("select count(*) from api_keys where id = %s" % q(k["id"])),
                         "0")


class PublishedJobs(unittest.TestCase):
    """The jobs the module sends for an API key, straight to worker 0."""
    maxDiff = None

    def setUp(self):
        self.w = WorkerClient(stack.worker_endpoint(0))

    def tearDown(self):
        self.w.close()

    def verify(self, key, bot="x"):
        h = key_hash(key) if key.startswith("mgk_") else key
        return self.w.job("apikeys.verify", params={"bot": bot, "key_hash": h})

    def call(self, key, bot, body, stream=False, key_id="ignored"):
        return self.w.job("published.stream" if stream else "published.complete",
                          params={"bot": bot},
                          claims={"api_key_id": key_id, "api_key_hash": key_hash(key)},
                          body=body)

    def test_verify(self):
        _, tok = new_user()
        bot = make_bot(tok)
        k = create_key(tok, bot, rate_per_second=2.5, burst=7,
                       expires_at="2099-01-01T00:00:00Z")
        r = self.verify(k["key"], bot)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"key_id": k["id"], "bot_id": bot, "rate_per_second": 2.5,
                                    "burst": 7, "expires_at": 4070908800})
        k2 = create_key(tok, bot)
        self.assertIsNone(self.verify(k2["key"]).json()["expires_at"])
        # wrong: another key, malformed hashes
        for h in (key_hash("mgk_" + "b" * 43), "0" * 64, "A" * 64, "abc", ""):
            r = self.verify(h)
            self.assertEqual((r.status, r.code), (401, "invalid_api_key"), h)
        r = self.w.job("apikeys.verify", params={"bot": bot})
        self.assertEqual((r.status, r.code), (401, "invalid_api_key"))
        # expired
        stack.psql("update api_keys set expires_at = now() - interval '1 second' where id = %s"
                   % q(k["id"]))
        r = self.verify(k["key"], bot)
        self.assertEqual((r.status, r.code), (401, "api_key_expired"))
        # revoked (says so even when expired too)
        stack.request("DELETE", keys_path(bot, "/" + k["id"]), token=tok)
        r = self.verify(k["key"], bot)
        self.assertEqual((r.status, r.code), (401, "api_key_revoked"))
        # so is a key whose owner is disabled, until enabled again
        owner = stack.psql("select owner_id from api_keys where id = %s" % q(k2["id"]))
        stack.psql("update users set disabled = true where id = %s" % q(owner))
        r = self.verify(k2["key"], bot)
        self.assertEqual((r.status, r.code), (401, "invalid_api_key"))
        r = self.call(k2["key"], bot, {"message": "hi"})
        self.assertEqual((r.status, r.code), (401, "invalid_api_key"))
        stack.psql("update users set disabled = false where id = %s" % q(owner))
        self.assertEqual(self.verify(k2["key"], bot).status, 200)
        # a key whose bot was deleted is simply invalid
        stack.request("DELETE", "/api/v1/bots/" + bot, token=tok)
        r = self.verify(k2["key"], bot)
        self.assertEqual((r.status, r.code), (401, "invalid_api_key"))

    def test_published_complete_and_refusals(self):
        owner, tok = new_user()
        bot = make_bot(tok)
        k = create_key(tok, bot)
        r = self.call(k["key"], bot, {"message": "hello published bot"})
        self.assertEqual(r.status, 200, r)
        turn = r.json()
        self.assertTrue(turn["content"])
        self.assertGreater(turn["usage"]["output_tokens"], 0)
        chat = turn["chat_id"]
        self.assertEqual(stack.psql("select owner_id || ' ' || api_key_id from chats where id = %s"
                                    % q(chat)), "%s %s" % (owner, k["id"]))
        # counted on the key: the request at admission, the tokens after
        items = stack.request("GET", keys_path(bot), token=tok).json()["items"]
        today = items[0]["today"]
        self.assertEqual(today["requests"], 1)
        self.assertEqual(today["input_tokens"], turn["usage"]["input_tokens"])
        self.assertEqual(today["output_tokens"], turn["usage"]["output_tokens"])
        self.assertIsNotNone(items[0]["last_used_at"])
        days = stack.request("GET", keys_path(bot, "/%s/usage" % k["id"]), token=tok).json()
        self.assertEqual(days["days"][-1]["requests"], 1)

        # the same key continues its chat; another key of the bot cannot
        r = self.call(k["key"], bot, {"message": "and again", "chat_id": chat})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["chat_id"], chat)
        k2 = create_key(tok, bot)
        r = self.call(k2["key"], bot, {"message": "not mine", "chat_id": chat})
        self.assertEqual((r.status, r.code), (404, "chat_not_found"))
        # nor can a key continue the owner's own chats
        r = stack.request("POST", "/api/v1/chat", body={"bot_id": bot, "message": "mine"},
                          token=tok)
        self.assertEqual(r.status, 200)
        own = r.json()["chat_id"]
        r = self.call(k["key"], bot, {"message": "sneak", "chat_id": own})
        self.assertEqual((r.status, r.code), (404, "chat_not_found"))
        # nor the owner the key's
        r = stack.request("POST", "/api/v1/chat",
                          body={"bot_id": bot, "message": "x", "chat_id": chat}, token=tok)
        self.assertEqual(r.status, 404)

        # published chats appear in no list, get or export of the owner
        r = stack.request("GET", "/api/v1/chats?limit=100", token=tok)
        ids = [c["id"] for c in r.json()["items"]]
        self.assertIn(own, ids)
        self.assertNotIn(chat, ids)
        for method in ("GET", "DELETE"):
            self.assertEqual(stack.request(method, "/api/v1/chats/" + chat, token=tok).status,
                             404)
        r = stack.request("PATCH", "/api/v1/chats/" + chat, body={"title": "t"}, token=tok)
        self.assertEqual(r.status, 404)
        r = stack.request("GET", "/api/v1/users/me/export", token=tok)
        self.assertEqual(r.status, 200)
        self.assertNotIn(chat, r.body.decode())
        self.assertNotIn("hello published bot", r.body.decode())

        # another bot's key
        bot2 = make_bot(tok)
        k3 = create_key(tok, bot2)
        r = self.call(k3["key"], bot, {"message": "hi"})
        self.assertEqual((r.status, r.code), (403, "api_key_wrong_bot"))
        r = self.call(k3["key"], "not-a-uuid", {"message": "hi"})
        self.assertEqual((r.status, r.code), (403, "api_key_wrong_bot"))
        # wrong, expired, revoked
        r = self.call("mgk_" + "c" * 43, bot, {"message": "hi"})
        self.assertEqual((r.status, r.code), (401, "invalid_api_key"))
        r = self.w.job("published.complete", params={"bot": bot},
                       claims={"api_key_id": k["id"]}, body={"message": "hi"})
        self.assertEqual((r.status, r.code), (401, "invalid_api_key"))
        stack.psql("update api_keys set expires_at = now() - interval '1 second' where id = %s"
                   % q(k2["id"]))
        r = self.call(k2["key"], bot, {"message": "hi"})
        self.assertEqual((r.status, r.code), (401, "api_key_expired"))
        stack.request("DELETE", keys_path(bot, "/" + k["id"]), token=tok)
        r = self.call(k["key"], bot, {"message": "hi", "chat_id": chat})
        self.assertEqual((r.status, r.code), (401, "api_key_revoked"))
        # bad input: 400, not counted
        k4 = create_key(tok, bot)
        for body in ({}, {"message": ""}, {"message": "hi", "bot_id": bot},
                     {"message": "hi", "chat_id": "nope"}):
            r = self.call(k4["key"], bot, body)
            self.assertEqual(r.status, 400, body)
        self.assertEqual(stack.psql("select count(*) from api_key_usage where key_id = %s"
                                    % q(k4["id"])), "0")
        # a refused key counts nothing; an admitted call counts even when
        # the turn then fails (k2's try at another key's chat)
        self.assertEqual(stack.psql("select coalesce(sum(requests), 0) from api_key_usage "
                                    "where key_id = %s" % q(k3["id"])), "0")
        self.assertEqual(stack.psql("select coalesce(sum(requests), 0) from api_key_usage "
                                    "where key_id = %s" % q(k2["id"])), "1")

    def test_quota_requests(self):
        _, tok = new_user()
        bot = make_bot(tok)
        k1, k2 = create_key(tok, bot), create_key(tok, bot)
        stack.request("PATCH", "/api/v1/bots/%s/publication" % bot,
                      body={"quota_requests": 3}, token=tok)
        for k in (k1, k2, k1):
            self.assertEqual(self.call(k["key"], bot, {"message": "hi"}).status, 200)
        for k in (k1, k2):          # over all the bot's keys
            r = self.call(k["key"], bot, {"message": "hi"})
            self.assertEqual(r.status, 429, r)
            self.assertEqual(r.json()["error"]["code"], "quota_exceeded")
            retry = int(r.headers["Retry-After"])
            self.assertTrue(1 <= retry <= 86400, retry)
        # the refused were not counted; raising the quota lets one more in
        self.assertEqual(stack.psql("select sum(requests) from api_key_usage where key_id in "
                                    "(%s, %s)" % (q(k1["id"]), q(k2["id"]))), "3")
        stack.request("PATCH", "/api/v1/bots/%s/publication" % bot,
                      body={"quota_requests": 4}, token=tok)
        self.assertEqual(self.call(k2["key"], bot, {"message": "hi"}).status, 200)
        self.assertEqual(self.call(k2["key"], bot, {"message": "hi"}).status, 429)

    def test_quota_holds_under_concurrent_calls(self):
        """Calls at once on both workers: exactly the quota gets through."""
        import threading
        _, tok = new_user()
        bot = make_bot(tok)
        k = create_key(tok, bot)
        stack.request("PATCH", "/api/v1/bots/%s/publication" % bot,
                      body={"quota_requests": 3}, token=tok)
        statuses, lock = [], threading.Lock()

        def one(i):
            w = WorkerClient(stack.worker_endpoint(i % stack.workers))
            try:
                r = w.job("published.complete", params={"bot": bot},
                          claims={"api_key_id": k["id"], "api_key_hash": key_hash(k["key"])},
                          body={"message": "at once %d" % i})
                with lock:
                    statuses.append(r.status)
            finally:
                w.close()

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(sorted(statuses), [200] * 3 + [429] * 5)
        self.assertEqual(stack.psql("select requests from api_key_usage where key_id = %s"
                                    % q(k["id"])), "3")

    def test_quota_tokens_and_stream(self):
        _, tok = new_user()
        bot = make_bot(tok)
        k = create_key(tok, bot)
        stack.request("PATCH", "/api/v1/bots/%s/publication" % bot,
                      body={"quota_tokens": 1}, token=tok)
        r = self.call(k["key"], bot, {"message": "tell me something"}, stream=True)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.content_type.startswith("text/event-stream"), r.content_type)
        names = [e[0] for e in r.events()]
        self.assertEqual(names[0], "start")
        self.assertEqual(names[-1], "done")
        start = r.events()[0][1]
        self.assertEqual(start["bot_id"], bot)
        self.assertTrue(start["chat_created"])
        # the answer's tokens passed the quota: the next call is refused
        r = self.call(k["key"], bot, {"message": "more"}, stream=True)
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json()["error"]["code"], "quota_exceeded")
        self.assertIn("tokens", r.json()["error"]["message"])
        self.assertIn("Retry-After", r.headers)
        today = stack.request("GET", keys_path(bot), token=tok).json()["items"][0]["today"]
        self.assertEqual(today["requests"], 1)
        self.assertGreater(today["input_tokens"] + today["output_tokens"], 1)


class ZKeyMaterialNotLogged(unittest.TestCase):
    """Last (Z): after the others have made, used and revoked keys."""

    def test_no_key_material_in_logs(self):
        _, tok = new_user()
        bot = make_bot(tok)
        create_key(tok, bot)
        self.assertEqual(stack.leaked_secrets(), [])


if __name__ == "__main__":
    unittest.main()
