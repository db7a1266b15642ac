"""End-to-end tests of bot sharing (sql/013): visibility (private, shared,
store) seen from the owner, a user it is shared with by name, a user with
its link and a stranger; that a shared bot's instructions and documents
never reach anyone but its owner; going private mid-chat; the create and
publish groups; pins; named shares; the store; the owner's usage per day.

Run: python3 tests/e2e/run.py test_sharing.py
"""

import json
import os
import sys
import time
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402
from sse_client import chat_stream as stream, text_of  # noqa: E402

stack = None

CREATE_GROUP = "bot-makers"
INSTRUCTIONS = "You are Captain Brine. Secret house rule: Tangerine-Walrus-3141."
PASSAGE = "The telescope dome opens at dusk"
DOC = ("Observatory handbook.\n\n" + PASSAGE + " for the astronomy club, and the "
       "visitors' key code is Quasar-Ocelot-4412.\n")
QUESTION = "When does the telescope dome open?"

OTHERS_KEYS = {"id", "name", "description", "model_id", "visibility", "owner", "use_count",
               "is_owner", "pinned", "rag_enabled", "created_at", "updated_at"}
OWNER_EXTRA = {"owner_id", "instructions", "temperature", "max_tokens", "knowledge_base_id",
               "knowledge_base_ids"}

U = {}          # tokens: owner (creates, publishes), solo (creates only), named, link, stranger
KB = {}


def setUpModule():
    global stack
    stack = Stack(workers=2, threads=4, timeout="10s", env={
        "MANGOO_LOCAL_DELAY_MS": "0",
        "MANGOO_CREATE_GROUP": CREATE_GROUP,
    }).start()
    U["owner"] = user("sh-owner", [CREATE_GROUP, "publishers"])
    U["solo"] = user("sh-solo", [CREATE_GROUP])
    U["named"] = user("sh-named")
    U["link"] = user("sh-link")
    U["stranger"] = user("sh-stranger")
    r = stack.request("POST", "/api/v1/knowledge-bases", body={"name": "observatory"},
                      token=U["owner"])
    assert r.status == 201, r
    KB["id"] = r.json()["id"]
    r = stack.request("POST", "/api/v1/knowledge-bases/%s/documents?filename=handbook.txt"
                      % KB["id"], raw=DOC.encode(), token=U["owner"],
                      headers={"Content-Type": "text/plain"})
    assert r.status == 202, r
    KB["doc"] = r.json()["id"]
    deadline = time.monotonic() + 30
    while True:
        r = stack.request("GET", "/api/v1/knowledge-bases/%s/documents/%s"
                          % (KB["id"], KB["doc"]), token=U["owner"])
        if r.json()["status"] == "ready":
            break
        assert time.monotonic() < deadline, r
        time.sleep(0.1)


def tearDownModule():
    if stack is not None:
        stack.stop()


def user(sub, groups=()):
    token = stack.token(sub=sub, groups=groups)
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return token


def req(method, path, who, body=None):
    return stack.request(method, path, body=body, token=U[who])


class SharingTestCase(unittest.TestCase):
    maxDiff = None

    def assertError(self, r, status, code, mentions=None):
        self.assertEqual(r.status, status, r)
        err = r.json()["error"]
        self.assertEqual(err["code"], code, err)
        if mentions is not None:
            self.assertIn(mentions, err["message"])
        return err

    def make_bot(self, visibility=None, rag=False, who="owner", name=None):
        body = {"name": name or "bot %s" % uuid.uuid4().hex[:8], "model_id": "local",
                "description": "a helpful bot", "instructions": INSTRUCTIONS,
                "rag_enabled": rag}
        if rag:
            body["knowledge_base_ids"] = [KB["id"]]
        r = req("POST", "/api/v1/bots", who, body)
        self.assertEqual(r.status, 201, r)
        bot = r.json()
        self.assertEqual(bot["visibility"], "private")
        if visibility:
            self.set_visibility(bot["id"], visibility, who)
        return bot["id"]

    def set_visibility(self, bot, visibility, who="owner"):
        r = req("PATCH", "/api/v1/bots/" + bot, who, {"visibility": visibility})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["visibility"], visibility)
        return r.json()

    def share(self, bot, username, who="owner"):
        return req("POST", "/api/v1/bots/%s/shares" % bot, who, {"username": username})

    def shares(self, bot):
        r = req("GET", "/api/v1/bots/%s/shares" % bot, "owner")
        self.assertEqual(r.status, 200, r)
        return r.json()["items"]

    def listed(self, path, who):
        r = req("GET", path, who)
        self.assertEqual(r.status, 200, r)
        return [b["id"] for b in r.json()["items"]]

    def assertOthersView(self, bot, visibility):
        self.assertEqual(set(bot), OTHERS_KEYS, bot)
        self.assertEqual(bot["visibility"], visibility)
        self.assertEqual(bot["owner"], {"username": "sh-owner"})
        self.assertFalse(bot["is_owner"])
        self.assertNotIn("Tangerine-Walrus", json.dumps(bot))

    def complete(self, who, bot, message="hello there", chat_id=None):
        body = {"bot_id": bot, "message": message}
        if chat_id:
            body["chat_id"] = chat_id
        return req("POST", "/api/v1/chat", who, body)


class Visibility(SharingTestCase):
    def test_each_level_from_owner_named_link_and_stranger(self):
        bot = self.make_bot()
        self.assertEqual(self.share(bot, "sh-named").status, 201)

        # private: the owner only
        r = req("GET", "/api/v1/bots/" + bot, "owner")
        self.assertEqual(r.status, 200)
        self.assertEqual(set(r.json()), OTHERS_KEYS - {"owner"} | OWNER_EXTRA, r.json())
        self.assertTrue(r.json()["is_owner"])
        self.assertEqual(r.json()["instructions"], INSTRUCTIONS)
        for who in ("named", "link", "stranger"):
            self.assertError(req("GET", "/api/v1/bots/" + bot, who), 404, "not_found")
            self.assertError(self.complete(who, bot), 404, "bot_not_found")
            self.assertNotIn(bot, self.listed("/api/v1/bots/shared", who))
        self.assertNotIn(bot, self.listed("/api/v1/store/bots?limit=100", "stranger"))

        # shared: anyone with the link may see and chat; the named user lists it
        self.set_visibility(bot, "shared")
        r = req("GET", "/api/v1/bots/" + bot, "owner")
        self.assertEqual(r.json()["instructions"], INSTRUCTIONS)
        for who in ("named", "link"):
            r = req("GET", "/api/v1/bots/" + bot, who)
            self.assertEqual(r.status, 200, r)
            self.assertOthersView(r.json(), "shared")
            self.assertEqual(self.complete(who, bot).status, 200)
        self.assertIn(bot, self.listed("/api/v1/bots/shared", "named"))
        for who in ("link", "stranger", "owner"):
            self.assertNotIn(bot, self.listed("/api/v1/bots/shared", who))
        for who in ("owner", "stranger"):
            self.assertNotIn(bot, self.listed("/api/v1/store/bots?limit=100", who))

        # store: listed for everyone, the owner's view for the owner
        self.set_visibility(bot, "store")
        r = req("GET", "/api/v1/store/bots?limit=100", "stranger")
        mine = [b for b in r.json()["items"] if b["id"] == bot]
        self.assertEqual(len(mine), 1)
        self.assertOthersView(mine[0], "store")
        r = req("GET", "/api/v1/store/bots?limit=100", "owner")
        mine = [b for b in r.json()["items"] if b["id"] == bot]
        self.assertEqual(mine[0]["instructions"], INSTRUCTIONS)
        self.assertTrue(mine[0]["is_owner"])

        # and private again: gone for all but the owner
        self.set_visibility(bot, "private")
        for who in ("named", "link", "stranger"):
            self.assertError(req("GET", "/api/v1/bots/" + bot, who), 404, "not_found")
            self.assertNotIn(bot, self.listed("/api/v1/bots/shared", who))
            self.assertNotIn(bot, self.listed("/api/v1/store/bots?limit=100", who))
        self.assertEqual(req("GET", "/api/v1/bots/" + bot, "owner").status, 200)

    def test_owner_rename_shows_in_others_views(self):
        owner = user("sh-renamer", [CREATE_GROUP])
        r = stack.request("POST", "/api/v1/bots", body={"name": "renamer's"}, token=owner)
        bot = r.json()["id"]
        r = stack.request("PATCH", "/api/v1/bots/" + bot, body={"visibility": "shared"},
                          token=owner)
        self.assertEqual(r.status, 200, r)
        # read (and kept in every worker's read cache) by another user first
        for _ in range(6):
            r = req("GET", "/api/v1/bots/" + bot, "link")
            self.assertEqual(r.json()["owner"], {"username": "sh-renamer"})
        stack.psql("UPDATE users SET username = 'sh-renamed' WHERE id = 'sh-renamer'")
        time.sleep(0.5)         # the announcement travels without a barrier here
        for _ in range(6):
            r = req("GET", "/api/v1/bots/" + bot, "link")
            self.assertEqual(r.json()["owner"], {"username": "sh-renamed"})

    def test_others_cannot_change_or_delete(self):
        bot = self.make_bot("shared")
        for who in ("link", "named"):
            self.assertError(req("PATCH", "/api/v1/bots/" + bot, who,
                                 {"instructions": "pwned"}), 404, "not_found")
            self.assertError(req("PATCH", "/api/v1/bots/" + bot, who,
                                 {"visibility": "private"}), 404, "not_found")
            self.assertError(req("PATCH", "/api/v1/bots/" + bot, who, {}), 404, "not_found")
            self.assertError(req("DELETE", "/api/v1/bots/" + bot, who), 404, "not_found")
            self.assertError(req("GET", "/api/v1/bots/%s/shares" % bot, who), 404, "not_found")
            self.assertError(self.share(bot, "sh-stranger", who), 404, "not_found")
            self.assertError(req("DELETE", "/api/v1/bots/%s/shares/sh-named" % bot, who),
                             404, "not_found")
            self.assertError(req("GET", "/api/v1/bots/%s/usage" % bot, who), 404, "not_found")
            self.assertNotIn(bot, self.listed("/api/v1/bots", who))
        r = req("GET", "/api/v1/bots/" + bot, "owner")
        self.assertEqual(r.json()["instructions"], INSTRUCTIONS)
        self.assertEqual(r.json()["visibility"], "shared")
        self.assertEqual(self.shares(bot), [])

    def test_bad_ids(self):
        for path in ("/api/v1/bots/not-a-uuid", "/api/v1/bots/%s" % uuid.uuid4()):
            self.assertError(req("GET", path, "owner"), 404, "not_found")
            for sub in ("/pin", "/shares", "/usage"):
                self.assertError(req("GET" if sub != "/pin" else "PUT", path + sub, "owner"),
                                 404, "not_found")
            self.assertError(req("DELETE", path + "/shares/sh-named", "owner"), 404, "not_found")
            self.assertError(req("POST", path + "/shares", "owner", {"username": "sh-named"}),
                             404, "not_found")
        self.assertError(self.complete("owner", str(uuid.uuid4())), 404, "bot_not_found")


class NoLeaks(SharingTestCase):
    def test_instructions_and_documents_never_reach_others(self):
        bot = self.make_bot("shared", rag=True)
        self.assertEqual(self.share(bot, "sh-named").status, 201)

        # the owner's own turn does carry the passage: the checks below can fail
        r = self.complete("owner", bot, QUESTION)
        self.assertEqual(r.status, 200, r)
        self.assertIn(PASSAGE, r.json()["citations"][0]["snippet"])

        for who in ("named", "link"):
            seen = []
            r = req("GET", "/api/v1/bots/" + bot, who)
            self.assertEqual(r.status, 200)
            seen.append(r.body.decode())
            if who == "named":
                r = req("GET", "/api/v1/bots/shared", who)
                self.assertIn(bot, [b["id"] for b in r.json()["items"]])
                seen.append(r.body.decode())

            # plain JSON turn: citations say which source only
            r = self.complete(who, bot, QUESTION)
            self.assertEqual(r.status, 200, r)
            cits = r.json()["citations"]
            self.assertGreaterEqual(len(cits), 1)
            self.assertEqual(cits[0], {"n": 1, "document": "handbook.txt"})
            seen.append(json.dumps(cits))
            self.assertNotIn("Tangerine-Walrus", r.body.decode())
            chat1 = r.json()["chat_id"]

            # streamed turn: the citations event likewise
            s = stream(stack, {"bot_id": bot, "message": QUESTION}, U[who])
            self.assertEqual(s.status, 200)
            events = s.events()
            ev = [e for e in events if e.type == "citations"]
            self.assertEqual(len(ev), 1)
            self.assertEqual(ev[0].json()["citations"][0], {"n": 1, "document": "handbook.txt"})
            seen.append(ev[0].data)
            self.assertNotIn("Tangerine-Walrus", "".join(e.data for e in events))
            chat2 = events[0].json()["chat_id"]

            # their stored chats: their own, the same reduced citations
            for chat in (chat1, chat2):
                r = req("GET", "/api/v1/chats/" + chat, who)
                self.assertEqual(r.status, 200, r)
                msgs = r.json()["messages"]
                self.assertEqual([m["role"] for m in msgs], ["user", "assistant"])
                self.assertEqual(msgs[1]["citations"][0], {"n": 1, "document": "handbook.txt"})
                self.assertNotIn("Tangerine-Walrus", r.body.decode())
                seen.append(json.dumps(msgs[1]["citations"]))
                self.assertError(req("GET", "/api/v1/chats/" + chat, "owner"), 404,
                                 "chat_not_found")

            # their export: their chats, never the bot's instructions or its
            # documents (only the answer itself quotes what it was asked)
            r = req("GET", "/api/v1/users/me/export", who)
            self.assertEqual(r.status, 200, r)
            export = r.json()
            self.assertNotIn("Tangerine-Walrus", r.body.decode())
            self.assertEqual(export["bots"], [])
            self.assertEqual(export["knowledge_bases"], [])
            chats = {c["id"]: c for c in export["chats"]}
            self.assertIn(chat1, chats)
            for c in chats.values():
                for m in c["messages"]:
                    m = dict(m, content="")
                    seen.append(json.dumps(m))

            for text in seen:
                self.assertNotIn(INSTRUCTIONS, text)
                self.assertNotIn("Tangerine-Walrus", text)
                self.assertNotIn(PASSAGE, text)
                self.assertNotIn("Quasar-Ocelot", text)
                self.assertNotIn(KB["doc"], text)
                self.assertNotIn(KB["id"], text)

        # the store listing of the same bot
        self.set_visibility(bot, "store")
        r = req("GET", "/api/v1/store/bots?limit=100", "stranger")
        self.assertIn(bot, [b["id"] for b in r.json()["items"]])
        for needle in (INSTRUCTIONS, KB["id"], PASSAGE):
            self.assertNotIn(needle, r.body.decode())

    def test_the_owners_chats_stay_the_owners(self):
        bot = self.make_bot("shared")
        r = self.complete("owner", bot, "owner's private musings")
        chat = r.json()["chat_id"]
        self.assertError(req("GET", "/api/v1/chats/" + chat, "link"), 404, "chat_not_found")
        self.assertError(self.complete("link", bot, "continue", chat), 404, "chat_not_found")
        r = req("GET", "/api/v1/chats?limit=100", "link")
        self.assertNotIn(chat, [c["id"] for c in r.json()["items"]])


class GoingPrivate(SharingTestCase):
    def test_private_mid_chat_ends_access_at_once(self):
        bot = self.make_bot("shared")
        r = self.complete("link", bot, "first question")
        self.assertEqual(r.status, 200, r)
        chat = r.json()["chat_id"]
        r = self.complete("link", bot, "second question", chat)
        self.assertEqual(r.status, 200, r)
        # read (and so kept in every worker's read cache) by the other user
        # just before: the change must reach those copies too
        time.sleep(0.3)
        for _ in range(4):
            self.assertEqual(req("GET", "/api/v1/bots/" + bot, "link").status, 200)

        self.set_visibility(bot, "private")
        self.assertError(self.complete("link", bot, "third question", chat), 404,
                         "bot_not_found")
        s = stream(stack, {"bot_id": bot, "message": "fourth", "chat_id": chat}, U["link"])
        self.assertEqual(s.status, 404)
        self.assertError(self.complete("link", bot, "a new chat"), 404, "bot_not_found")
        for _ in range(4):
            self.assertError(req("GET", "/api/v1/bots/" + bot, "link"), 404, "not_found")
        self.assertError(req("PUT", "/api/v1/bots/%s/pin" % bot, "link"), 404, "not_found")

        # their old chat stays theirs and readable, with nothing added
        r = req("GET", "/api/v1/chats/" + chat, "link")
        self.assertEqual(r.status, 200, r)
        msgs = r.json()["messages"]
        self.assertEqual([m["content"] for m in msgs if m["role"] == "user"],
                         ["first question", "second question"])
        # the owner still chats
        self.assertEqual(self.complete("owner", bot).status, 200)


class Groups(SharingTestCase):
    def test_store_needs_the_publish_group(self):
        bot = self.make_bot(who="solo")
        for vis in ("shared", "private"):
            self.set_visibility(bot, vis, "solo")
            self.assertError(req("PATCH", "/api/v1/bots/" + bot, "solo",
                                 {"visibility": "store", "name": "renamed"}),
                             403, "publish_not_allowed", "publishers")
            r = req("GET", "/api/v1/bots/" + bot, "solo")
            self.assertEqual(r.json()["visibility"], vis)
            self.assertNotEqual(r.json()["name"], "renamed")
        before = self.listed("/api/v1/bots?limit=100", "solo")
        self.assertError(req("POST", "/api/v1/bots", "solo",
                             {"name": "straight to store", "visibility": "store"}),
                         403, "publish_not_allowed", "publishers")
        self.assertEqual(self.listed("/api/v1/bots?limit=100", "solo"), before)
        # the publisher may
        other = self.make_bot()
        self.set_visibility(other, "store")

    def test_bad_visibility(self):
        bot = self.make_bot()
        for bad in ("public", "", 3, None, "STORE"):
            r = req("PATCH", "/api/v1/bots/" + bot, "owner", {"visibility": bad})
            self.assertEqual(r.status, 400, (bad, r))
        self.assertEqual(req("GET", "/api/v1/bots/" + bot, "owner").json()["visibility"],
                         "private")

    def test_create_needs_the_create_group(self):
        before = self.listed("/api/v1/bots?limit=100", "link")
        self.assertError(req("POST", "/api/v1/bots", "link", {"name": "mine"}),
                         403, "create_not_allowed", CREATE_GROUP)
        self.assertEqual(self.listed("/api/v1/bots?limit=100", "link"), before)
        admin = stack.token(sub="sh-admin", groups=["admin"])
        r = stack.request("POST", "/api/v1/bots", body={"name": "admin's"}, token=admin)
        self.assertEqual(r.status, 201, r)

    def test_local_identity_second_user(self):
        # the first local account is the administrator; an ordinary one
        # (a later account, no groups) may not create bots here
        tokens = []
        for i in range(2):
            name = "shlocal%d%d" % (i, int(time.time() * 1000) % 10**9)
            r = stack.request("POST", "/api/v1/auth/register",
                              {"username": name, "password": "Correct-Horse-Battery-9"})
            self.assertEqual(r.status, 201, r)
            tok = r.json()["access_token"]
            me = stack.request("GET", "/api/v1/users/me", token=tok).json()
            if me["role"] == "user":
                tokens.append(tok)
        self.assertTrue(tokens)
        ordinary = tokens[0]
        before = stack.request("GET", "/api/v1/bots", token=ordinary).json()["items"]
        r = stack.request("POST", "/api/v1/bots", body={"name": "local's"}, token=ordinary)
        self.assertError(r, 403, "create_not_allowed", CREATE_GROUP)
        self.assertEqual(stack.request("GET", "/api/v1/bots", token=ordinary).json()["items"],
                         before)
        # but may find and use a store bot
        tag = uuid.uuid4().hex[:10]
        bot = self.make_bot("store", name="Local use %s" % tag)
        r = stack.request("GET", "/api/v1/store/bots?q=" + tag, token=ordinary)
        self.assertEqual([b["id"] for b in r.json()["items"]], [bot])
        r = stack.request("POST", "/api/v1/chat", body={"bot_id": bot, "message": "hi"},
                          token=ordinary)
        self.assertEqual(r.status, 200, r)


class Pins(SharingTestCase):
    def test_pin_and_unpin(self):
        bot = self.make_bot("shared")
        path = "/api/v1/bots/%s/pin" % bot
        for _ in range(2):          # idempotent
            r = req("PUT", path, "link")
            self.assertEqual((r.status, r.json()), (200, {"pinned": True}))
        self.assertTrue(req("GET", "/api/v1/bots/" + bot, "link").json()["pinned"])
        self.assertFalse(req("GET", "/api/v1/bots/" + bot, "owner").json()["pinned"])
        self.assertIn(bot, self.listed("/api/v1/bots/shared", "link"))
        self.assertNotIn(bot, self.listed("/api/v1/bots/shared", "stranger"))
        for _ in range(2):
            r = req("DELETE", path, "link")
            self.assertEqual((r.status, r.json()), (200, {"pinned": False}))
        self.assertFalse(req("GET", "/api/v1/bots/" + bot, "link").json()["pinned"])
        self.assertNotIn(bot, self.listed("/api/v1/bots/shared", "link"))

        # the owner's own pin shows in their view, not in "shared with me"
        r = req("PUT", path, "owner")
        self.assertEqual(r.json(), {"pinned": True})
        self.assertTrue(req("GET", "/api/v1/bots/" + bot, "owner").json()["pinned"])
        self.assertNotIn(bot, self.listed("/api/v1/bots/shared", "owner"))

    def test_pinned_bot_gone_private_leaves_the_list(self):
        bot = self.make_bot("shared")
        self.assertEqual(req("PUT", "/api/v1/bots/%s/pin" % bot, "link").status, 200)
        self.assertIn(bot, self.listed("/api/v1/bots/shared", "link"))
        self.set_visibility(bot, "private")
        self.assertNotIn(bot, self.listed("/api/v1/bots/shared", "link"))
        self.assertError(req("DELETE", "/api/v1/bots/%s/pin" % bot, "link"), 404, "not_found")

    def test_pin_a_private_bot(self):
        bot = self.make_bot()
        self.assertError(req("PUT", "/api/v1/bots/%s/pin" % bot, "link"), 404, "not_found")
        self.assertEqual(stack.psql("SELECT count(*) FROM bot_pins WHERE bot_id = '%s'"
                                    % bot).strip(), "0")


class Shares(SharingTestCase):
    def test_add_list_remove(self):
        bot = self.make_bot("shared")
        r = self.share(bot, "SH-NAMED")     # a username in any case
        self.assertEqual(r.status, 201, r)
        share = r.json()
        self.assertEqual(set(share), {"user_id", "username", "email", "created_at"})
        self.assertEqual((share["user_id"], share["username"]), ("sh-named", "sh-named"))
        self.assertEqual(self.shares(bot), [share])
        self.assertIn(bot, self.listed("/api/v1/bots/shared", "named"))
        r = self.share(bot, "sh-link")
        self.assertEqual(r.status, 201, r)
        second = r.json()
        self.assertEqual(self.shares(bot), [share, second])      # oldest first

        r = req("DELETE", "/api/v1/bots/%s/shares/sh-named" % bot, "owner")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.shares(bot), [second])
        r = req("DELETE", "/api/v1/bots/%s/shares/sh-link" % bot, "owner")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.shares(bot), [])
        self.assertNotIn(bot, self.listed("/api/v1/bots/shared", "named"))
        self.assertError(req("DELETE", "/api/v1/bots/%s/shares/sh-named" % bot, "owner"),
                         404, "not_found")

    def test_by_email_in_any_case(self):
        tok = stack.token(sub="sh-mailed", claims={"email": "Mailed.User@Example.com"})
        self.assertEqual(stack.request("GET", "/api/v1/users/me", token=tok).status, 200)
        bot = self.make_bot("shared")
        r = self.share(bot, "mailed.user@EXAMPLE.com")
        self.assertEqual(r.status, 201, r)
        self.assertEqual((r.json()["user_id"], r.json()["email"]),
                         ("sh-mailed", "Mailed.User@Example.com"))
        r = stack.request("GET", "/api/v1/bots/shared", token=tok)
        self.assertEqual([b["id"] for b in r.json()["items"]], [bot])

    def test_bad_input_changes_nothing(self):
        bot = self.make_bot("shared")
        self.assertEqual(self.share(bot, "sh-named").status, 201)
        before = self.shares(bot)
        self.assertError(self.share(bot, "sh-named"), 409, "already_shared")
        self.assertError(self.share(bot, "nobody-%s" % uuid.uuid4().hex), 404, "user_not_found")
        self.assertError(self.share(bot, "sh-owner"), 400, "invalid_field")
        for body in ({}, {"username": ""}, {"username": "   "}, {"username": 5},
                     {"username": "sh-link", "extra": 1}, [], {"username": "x" * 400}):
            r = req("POST", "/api/v1/bots/%s/shares" % bot, "owner", body)
            self.assertEqual(r.status, 400, (body, r))
        r = stack.request("POST", "/api/v1/bots/%s/shares" % bot, raw=b"{not json",
                          token=U["owner"], headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 400, r)
        self.assertError(req("DELETE", "/api/v1/bots/%s/shares/sh-link" % bot, "owner"),
                         404, "not_found")
        self.assertEqual(self.shares(bot), before)

    def test_share_of_a_private_bot_grants_nothing(self):
        bot = self.make_bot()
        self.assertEqual(self.share(bot, "sh-named").status, 201)
        self.assertError(req("GET", "/api/v1/bots/" + bot, "named"), 404, "not_found")
        self.assertNotIn(bot, self.listed("/api/v1/bots/shared", "named"))
        self.assertError(self.complete("named", bot), 404, "bot_not_found")


class Store(SharingTestCase):
    def test_search_use_count_and_order(self):
        tag = uuid.uuid4().hex[:10]
        busy = self.make_bot("store", name="Zephyr %s helper" % tag)
        quiet = self.make_bot("store", name="Quokka %s" % tag)
        hidden = self.make_bot("shared", name="Zephyr %s unlisted" % tag)

        def store(who, q):
            r = req("GET", "/api/v1/store/bots?limit=100&q=" + urllib.parse.quote(q), who)
            self.assertEqual(r.status, 200, r)
            return r.json()["items"]

        self.assertEqual([b["id"] for b in store("stranger", "zephyr " + tag)], [busy])
        self.assertEqual({b["id"] for b in store("stranger", tag)}, {busy, quiet})
        self.assertNotIn(hidden, [b["id"] for b in store("stranger", tag)])
        self.assertEqual(store("stranger", "%" + tag), [])      # % is literal
        self.assertEqual(store("stranger", "nothing-like-" + tag), [])

        # use_count: chats started with it, by anyone; the most used first
        for who in ("link", "stranger", "link"):
            self.assertEqual(self.complete(who, quiet).status, 200)
        r = self.complete("link", quiet)
        self.assertEqual(self.complete("link", quiet, "again", r.json()["chat_id"]).status, 200)
        items = store("stranger", tag)
        self.assertEqual([b["id"] for b in items], [quiet, busy])
        self.assertEqual([b["use_count"] for b in items], [4, 0])
        self.assertTrue(stack.wait_for(
            lambda: req("GET", "/api/v1/bots/" + quiet, "owner").json()["use_count"] == 4))

        # paging
        r = req("GET", "/api/v1/store/bots?limit=1&q=" + tag, "stranger")
        page = r.json()
        self.assertEqual([b["id"] for b in page["items"]], [quiet])
        self.assertIsNotNone(page["next_cursor"])
        r = req("GET", "/api/v1/store/bots?limit=1&q=%s&cursor=%s" % (tag, page["next_cursor"]),
                "stranger")
        self.assertEqual([b["id"] for b in r.json()["items"]], [busy])
        self.assertIsNone(r.json()["next_cursor"])

    def test_bad_queries(self):
        for q in ("limit=0", "limit=101", "cursor=%25%25", "q=" + "x" * 101, "q=%ZZ"):
            r = req("GET", "/api/v1/store/bots?" + q, "link")
            self.assertError(r, 400, "invalid_query")


class Usage(SharingTestCase):
    def test_counts_requests_and_tokens_of_others(self):
        bot = self.make_bot("shared")
        tokens_in = tokens_out = 0
        chat = None
        for who in ("link", "named", "link"):
            r = self.complete(who, bot, "tell me something", chat if who == "link" else None)
            self.assertEqual(r.status, 200, r)
            if who == "link":
                chat = r.json()["chat_id"]
            usage = r.json()["usage"]
            tokens_in += usage["input_tokens"]
            tokens_out += usage["output_tokens"]
        self.assertGreater(tokens_in, 0)
        r = req("GET", "/api/v1/bots/%s/usage?days=1" % bot, "owner")
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body["bot_id"], bot)
        today = time.strftime("%Y-%m-%d", time.gmtime())
        self.assertEqual(body["days"], [{"day": today, "requests": 3,
                                         "input_tokens": tokens_in,
                                         "output_tokens": tokens_out}])
        self.assertNotIn("tell me", r.body.decode())

        r = req("GET", "/api/v1/bots/%s/usage" % bot, "owner")
        days = r.json()["days"]
        self.assertEqual(len(days), 30)
        self.assertEqual(days[-1]["day"], today)
        self.assertEqual(sum(d["requests"] for d in days), 3)
        self.assertEqual(days, sorted(days, key=lambda d: d["day"]))

    def test_bad_days(self):
        bot = self.make_bot()
        for q in ("days=0", "days=367", "days=abc", "days=", "days=-1", "days=1.5"):
            self.assertError(req("GET", "/api/v1/bots/%s/usage?%s" % (bot, q), "owner"),
                             400, "invalid_query")
        self.assertEqual(len(req("GET", "/api/v1/bots/%s/usage?days=366" % bot,
                                 "owner").json()["days"]), 366)


if __name__ == "__main__":
    unittest.main()
