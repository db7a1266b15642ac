"""End-to-end tests of the chats API's read, rename and delete side
(/api/v1/chats), driven over HTTP against the real stack.

Chats and messages are written by chat streaming; until that lands these
tests insert them with psql (the users row exists after the first
authenticated request, which every test makes through `user()`).

Run: python3 tests/e2e/run.py test_chats.py
"""

import datetime
import json
import os
import re
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402

stack = None

RID_RE = re.compile(r"^[0-9a-f]{32}$")
CHAT_KEYS = {"id", "bot_id", "agent_id", "title", "created_at", "updated_at"}
MESSAGE_KEYS = {"id", "role", "content", "status", "stop_reason", "error",
                "model_id", "bot_id", "agent_id", "input_tokens", "output_tokens",
                "created_at", "citations", "steps"}
BASE = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def setUpModule():
    global stack
    stack = Stack(workers=2).start()


def tearDownModule():
    if stack is not None:
        stack.stop()


def ts(seconds, micros=0):
    """A timestamp BASE + seconds + micros, as the API writes it (and as
    Postgres reads it)."""
    t = BASE + datetime.timedelta(seconds=seconds, microseconds=micros)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sql_str(s):
    return "NULL" if s is None else "'" + s.replace("'", "''") + "'"


def sql_int(n):
    return "NULL" if n is None else str(int(n))


class ChatsTestCase(unittest.TestCase):
    maxDiff = None

    # -- helpers -------------------------------------------------------
    def sub(self, suffix=""):
        """A user id unique to this test (and suffix)."""
        return "chats-%s%s" % (self.id().rsplit(".", 1)[-1], suffix)

    def user(self, suffix=""):
        """(owner, token) of a user whose users row exists."""
        owner = self.sub(suffix)
        tok = stack.token(owner)
        self.assertEqual(self.list_chats(tok), {"items": [], "next_cursor": None})
        return owner, tok

    def assertJson(self, r, status):
        self.assertEqual(r.status, status, r)
        self.assertRegex(r.header("X-Request-Id") or "", RID_RE)
        ctype = r.header("Content-Type") or ""
        self.assertEqual(ctype.split(";")[0].strip().lower(), "application/json", r)
        return r.json()

    def assertError(self, r, status, code, mentions=None):
        body = self.assertJson(r, status)
        self.assertEqual(set(body), {"error"}, body)
        err = body["error"]
        self.assertEqual(set(err), {"code", "message", "request_id"}, body)
        self.assertEqual(err["code"], code, body)
        self.assertTrue(err["message"], body)
        self.assertEqual(err["request_id"], r.header("X-Request-Id"), r)
        if mentions is not None:
            self.assertIn(mentions, err["message"], body)
        return err

    def assertNotFound(self, r):
        self.assertError(r, 404, "chat_not_found")

    def list_chats(self, tok, query=""):
        r = stack.request("GET", "/api/v1/chats" + query, token=tok)
        body = self.assertJson(r, 200)
        self.assertEqual(set(body), {"items", "next_cursor"}, body)
        for c in body["items"]:
            self.assertEqual(set(c), CHAT_KEYS, c)
        return body

    def get(self, tok, chat_id, query=""):
        return stack.request("GET", "/api/v1/chats/" + chat_id + query, token=tok)

    def get_chat(self, tok, chat_id, query=""):
        body = self.assertJson(self.get(tok, chat_id, query), 200)
        self.assertEqual(set(body), CHAT_KEYS | {"messages", "next_cursor"}, body)
        for m in body["messages"]:
            self.assertEqual(set(m), MESSAGE_KEYS, m)
        return body

    def patch(self, tok, chat_id, body=None, raw=None):
        headers = {"Content-Type": "application/json"} if raw is not None else None
        return stack.request("PATCH", "/api/v1/chats/" + chat_id, body, token=tok,
                             raw=raw, headers=headers)

    def delete(self, tok, chat_id):
        return stack.request("DELETE", "/api/v1/chats/" + chat_id, token=tok)

    def insert_chat(self, owner, title="", bot_id=None, created=0, updated=None):
        """A chat row; created and updated are seconds after BASE (or a
        timestamp string).  Returns the chat as the API should show it."""
        cid = str(uuid.uuid4())
        created_at = created if isinstance(created, str) else ts(created)
        updated_at = (created_at if updated is None
                      else updated if isinstance(updated, str) else ts(updated))
        stack.psql("INSERT INTO chats (id, owner_id, bot_id, title, created_at, updated_at) "
                   "VALUES (%s, %s, %s, %s, %s, %s)" % (
                       sql_str(cid), sql_str(owner), sql_str(bot_id), sql_str(title),
                       sql_str(created_at), sql_str(updated_at)))
        return {"id": cid, "bot_id": bot_id, "agent_id": None, "title": title,
                "created_at": created_at, "updated_at": updated_at}

    def insert_messages(self, chat_id, owner, messages):
        """Message rows from dicts (role, content, created, and optionally
        id, status, stop_reason, error, model_id, bot_id, input_tokens,
        output_tokens).  Returns them as the API should show them."""
        out, rows = [], []
        for m in messages:
            shown = {
                "id": m.get("id") or str(uuid.uuid4()),
                "role": m.get("role", "user"),
                "content": m.get("content", ""),
                "status": m.get("status", "complete"),
                "stop_reason": m.get("stop_reason"),
                "error": m.get("error"),
                "model_id": m.get("model_id"),
                "bot_id": m.get("bot_id"),
                "agent_id": None,       # agents' chats: test_agents.py
                "input_tokens": m.get("input_tokens", 0),
                "output_tokens": m.get("output_tokens", 0),
                "created_at": (m["created"] if isinstance(m.get("created"), str)
                               else ts(m.get("created", 0), m.get("micros", 0))),
                "citations": None,      # only grounded answers have sources
                "steps": None,          # only agents take steps
            }
            out.append(shown)
            rows.append("(%s)" % ", ".join([
                sql_str(shown["id"]), sql_str(chat_id), sql_str(shown["bot_id"]),
                sql_str(owner), sql_str(shown["role"]), sql_str(shown["content"]),
                sql_str(shown["status"]), sql_str(shown["stop_reason"]),
                sql_str(shown["error"]), sql_str(shown["model_id"]),
                sql_int(shown["input_tokens"]), sql_int(shown["output_tokens"]),
                sql_str(shown["created_at"])]))
        if rows:
            stack.psql("INSERT INTO messages (id, chat_id, bot_id, user_id, role, content, "
                       "status, stop_reason, error, model_id, input_tokens, output_tokens, "
                       "created_at) VALUES " + ", ".join(rows))
        return out

    def message_count(self, chat_id):
        return int(stack.psql("SELECT count(*) FROM messages WHERE chat_id = %s"
                              % sql_str(chat_id)))

    def db_title(self, chat_id):
        return stack.psql("SELECT title FROM chats WHERE id = %s" % sql_str(chat_id))

    def page_all(self, fetch, key, limit):
        """Follow next_cursor from the first page to the end: (pages, ids)."""
        pages, cursor = [], None
        while True:
            q = "?limit=%d" % limit + ("&cursor=" + cursor if cursor else "")
            page = fetch(q)
            self.assertLessEqual(len(page[key]), limit)
            pages.append(page)
            self.assertLessEqual(len(pages), 50, "paging does not end")
            cursor = page["next_cursor"]
            if cursor is None:
                break
            self.assertIsInstance(cursor, str)
            self.assertTrue(cursor)
        return pages, [x["id"] for p in pages for x in p[key]]


class ListTest(ChatsTestCase):
    def test_list_empty(self):
        _, tok = self.user()
        self.assertEqual(self.list_chats(tok), {"items": [], "next_cursor": None})

    def test_newest_activity_first_and_paging_through_three_pages(self):
        owner, tok = self.user()
        # created in one order, active in another; two share updated_at
        # (ordered by id, descending) right across a page boundary
        chats = [
            self.insert_chat(owner, "a", created=0, updated=50),
            self.insert_chat(owner, "b", created=1, updated=10),
            self.insert_chat(owner, "c", created=2, updated=70),
            self.insert_chat(owner, "d", created=3, updated=30),
            self.insert_chat(owner, "e", created=4, updated=ts(40, 1)),
            self.insert_chat(owner, "f", created=5, updated=ts(40, 1)),
            self.insert_chat(owner, "g", created=6, updated=ts(40)),
        ]
        expect = sorted(chats, key=lambda c: (c["updated_at"], c["id"]), reverse=True)

        full = self.list_chats(tok)
        self.assertEqual(full, {"items": expect, "next_cursor": None})

        pages, ids = self.page_all(lambda q: self.list_chats(tok, q), "items", 3)
        self.assertEqual([len(p["items"]) for p in pages], [3, 3, 1])
        self.assertEqual(ids, [c["id"] for c in expect])
        self.assertEqual([x for p in pages for x in p["items"]], expect)

        # limit equal to the count: one page, no cursor
        self.assertEqual(self.list_chats(tok, "?limit=7"),
                         {"items": expect, "next_cursor": None})

    def test_timestamps_keep_microseconds(self):
        owner, tok = self.user()
        chat = self.insert_chat(owner, "t", created="2023-12-31T23:59:59.000001Z",
                                updated="2024-01-01T00:00:00.999999Z")
        item = self.list_chats(tok)["items"][0]
        self.assertEqual(item["created_at"], "2023-12-31T23:59:59.000001Z")
        self.assertEqual(item["updated_at"], "2024-01-01T00:00:00.999999Z")
        self.assertEqual(item, chat)

    def test_default_limit_is_20_and_max_100(self):
        owner, tok = self.user()
        stack.psql("INSERT INTO chats (owner_id, title, updated_at) "
                   "SELECT %s, 'n' || g, now() - g * interval '1 minute' "
                   "FROM generate_series(1, 21) g" % sql_str(owner))
        first = self.list_chats(tok)
        self.assertEqual([c["title"] for c in first["items"]],
                         ["n%d" % i for i in range(1, 21)])
        self.assertIsInstance(first["next_cursor"], str)
        rest = self.list_chats(tok, "?cursor=" + first["next_cursor"])
        self.assertEqual([c["title"] for c in rest["items"]], ["n21"])
        self.assertIsNone(rest["next_cursor"])
        big = self.list_chats(tok, "?limit=100")
        self.assertEqual(len(big["items"]), 21)
        self.assertIsNone(big["next_cursor"])

    def test_only_own_chats(self):
        a, ta = self.user("-a")
        _, tb = self.user("-b")
        chat = self.insert_chat(a, "mine")
        self.assertEqual(self.list_chats(tb)["items"], [])
        self.assertEqual(self.list_chats(ta)["items"], [chat])

    def test_bad_query_is_400(self):
        owner, tok = self.user()
        self.insert_chat(owner, "q")
        for q in ("limit=0", "limit=abc", "limit=-1", "limit=101", "limit=1.5",
                  "limit=", "cursor=garbage", "cursor=%ZZ", "cursor=" + "A" * 40,
                  "limit=2&cursor=!!!"):
            with self.subTest(query=q):
                r = stack.request("GET", "/api/v1/chats?" + q, token=tok)
                self.assertError(r, 400, "invalid_query")
        self.assertEqual(len(self.list_chats(tok)["items"]), 1)


class GetTest(ChatsTestCase):
    def test_chat_with_messages_oldest_first(self):
        owner, tok = self.user()
        chat = self.insert_chat(owner, "Trip planning", created=0, updated=90)
        same = ts(20, 5)
        ids = sorted(str(uuid.uuid4()) for _ in range(2))
        msgs = self.insert_messages(chat["id"], owner, [
            # inserted out of order on purpose
            {"role": "assistant", "content": "Sure, when?", "created": 30,
             "status": "complete", "stop_reason": "end_turn", "model_id": "local",
             "input_tokens": 12, "output_tokens": 4},
            {"role": "user", "content": "Plan a trip", "created": 10},
            {"role": "assistant", "content": "partial", "created": same, "id": ids[1],
             "status": "cancelled", "stop_reason": None, "model_id": "local",
             "input_tokens": 3, "output_tokens": 1},
            {"role": "assistant", "content": "", "created": same, "id": ids[0],
             "status": "error", "error": "provider_error", "model_id": "local"},
            {"role": "system", "content": "be brief", "created": 0},
        ])
        expect = sorted(msgs, key=lambda m: (m["created_at"], m["id"]))

        got = self.get_chat(tok, chat["id"])
        self.assertEqual(got, dict(chat, messages=expect, next_cursor=None))
        # exact JSON types, not just equal values
        done = [m for m in got["messages"] if m["status"] == "complete"
                and m["role"] == "assistant"][0]
        self.assertIs(type(done["input_tokens"]), int)
        self.assertIsNone(done["error"])
        self.assertIsNone(done["bot_id"])

    def test_empty_chat(self):
        owner, tok = self.user()
        chat = self.insert_chat(owner)
        self.assertEqual(self.get_chat(tok, chat["id"]),
                         dict(chat, messages=[], next_cursor=None))

    def test_message_paging(self):
        owner, tok = self.user()
        chat = self.insert_chat(owner, "long", updated=100)
        msgs = self.insert_messages(chat["id"], owner, [
            {"role": "user" if i % 2 == 0 else "assistant", "content": "m%d" % i,
             "created": i // 2, "micros": i % 2}
            for i in range(7)])
        # one more that shares a timestamp with m6, on the last page
        msgs += self.insert_messages(chat["id"], owner, [
            {"role": "assistant", "content": "m6b", "created": msgs[6]["created_at"]}])
        expect = sorted(msgs, key=lambda m: (m["created_at"], m["id"]))

        pages, ids = self.page_all(lambda q: self.get_chat(tok, chat["id"], q),
                                   "messages", 3)
        self.assertEqual([len(p["messages"]) for p in pages], [3, 3, 2])
        self.assertEqual(ids, [m["id"] for m in expect])
        self.assertEqual([m for p in pages for m in p["messages"]], expect)
        for p in pages:
            self.assertEqual({k: p[k] for k in CHAT_KEYS}, chat)

        # a page exactly as long as what is left has no cursor
        self.assertIsNone(self.get_chat(tok, chat["id"], "?limit=8")["next_cursor"])

    def test_message_limit_default_100_max_1000(self):
        owner, tok = self.user()
        chat = self.insert_chat(owner, "many")
        stack.psql("INSERT INTO messages (chat_id, user_id, role, content, created_at) "
                   "SELECT %s, %s, 'user', 'n' || g, %s::timestamptz + g * interval '1 second' "
                   "FROM generate_series(1, 101) g"
                   % (sql_str(chat["id"]), sql_str(owner), sql_str(ts(0))))
        first = self.get_chat(tok, chat["id"])
        self.assertEqual([m["content"] for m in first["messages"]],
                         ["n%d" % i for i in range(1, 101)])
        self.assertIsInstance(first["next_cursor"], str)
        rest = self.get_chat(tok, chat["id"], "?cursor=" + first["next_cursor"])
        self.assertEqual([m["content"] for m in rest["messages"]], ["n101"])
        self.assertIsNone(rest["next_cursor"])
        self.assertEqual(len(self.get_chat(tok, chat["id"], "?limit=1000")["messages"]), 101)

        for q in ("limit=0", "limit=1001", "limit=x", "cursor=garbage", "cursor=%ZZ"):
            with self.subTest(query=q):
                self.assertError(self.get(tok, chat["id"], "?" + q), 400, "invalid_query")

    def test_awkward_text_round_trips(self):
        owner, tok = self.user()
        title = 'q"uote \\back\\slash </script> \u2028 \U0001F600 \u00e9\u4e2d'
        content = "tab\there\r\nnew\x01ctl\x1f\x7f end {\"json\": [1]} '"
        chat = self.insert_chat(owner, title)
        self.insert_messages(chat["id"], owner, [{"content": content}])
        got = self.get_chat(tok, chat["id"])
        self.assertEqual(got["title"], title)
        self.assertEqual(got["messages"][0]["content"], content)
        self.assertEqual(self.list_chats(tok)["items"][0]["title"], title)


class OwnershipTest(ChatsTestCase):
    def test_other_users_chat_is_not_found(self):
        a, ta = self.user("-owner")
        _, tb = self.user("-intruder")
        chat = self.insert_chat(a, "private")
        self.insert_messages(chat["id"], a, [{"content": "secret"}])
        before = self.get_chat(ta, chat["id"])

        self.assertNotFound(self.get(tb, chat["id"]))
        self.assertNotFound(self.get(tb, chat["id"], "?limit=5"))
        self.assertNotFound(self.patch(tb, chat["id"], {"title": "pwned"}))
        self.assertNotFound(self.patch(tb, chat["id"], {}))
        self.assertNotFound(self.delete(tb, chat["id"]))

        self.assertEqual(self.get_chat(ta, chat["id"]), before)
        self.assertEqual(self.db_title(chat["id"]), "private")
        self.assertEqual(self.message_count(chat["id"]), 1)
        self.assertEqual(self.list_chats(tb)["items"], [])

    def test_malformed_or_unknown_id_is_not_found(self):
        _, tok = self.user()
        for bad in ("not-a-uuid", "1234", str(uuid.uuid4()) + "0",
                    "%27%20OR%201%3D1%20--", str(uuid.uuid4())):
            with self.subTest(id=bad):
                self.assertNotFound(self.get(tok, bad))
                self.assertNotFound(self.patch(tok, bad, {"title": "x"}))
                self.assertNotFound(self.delete(tok, bad))

    def test_wrong_method_is_405(self):
        owner, tok = self.user()
        chat = self.insert_chat(owner, "m")
        r = stack.request("PUT", "/api/v1/chats/" + chat["id"], {"title": "x"}, token=tok)
        self.assertError(r, 405, "method_not_allowed")
        allow = {m.strip() for m in (r.header("Allow") or "").split(",")}
        self.assertLessEqual({"GET", "PATCH", "DELETE"}, allow)
        self.assertEqual(self.db_title(chat["id"]), "m")


class PatchTest(ChatsTestCase):
    def test_rename_keeps_activity_order(self):
        owner, tok = self.user()
        old = self.insert_chat(owner, "old", created=0, updated=10)
        new = self.insert_chat(owner, "new", created=1, updated=20)
        self.insert_messages(old["id"], owner, [{"content": "hi"}])

        r = self.patch(tok, old["id"], {"title": "Renamed \u00e9"})
        got = self.assertJson(r, 200)
        self.assertEqual(got, dict(old, title="Renamed \u00e9"))
        self.assertEqual(self.db_title(old["id"]), "Renamed \u00e9")
        # updated_at is message activity: a rename does not move the chat up
        self.assertEqual(self.list_chats(tok)["items"],
                         [new, dict(old, title="Renamed \u00e9")])
        full = self.get_chat(tok, old["id"])
        self.assertEqual(full["title"], "Renamed \u00e9")
        self.assertEqual(len(full["messages"]), 1)

        # 255 characters, multi-byte, is the most a title holds
        long_title = "\u00e9" * 255
        got = self.assertJson(self.patch(tok, old["id"], {"title": long_title}), 200)
        self.assertEqual(got["title"], long_title)

    def test_empty_object_changes_nothing(self):
        owner, tok = self.user()
        chat = self.insert_chat(owner, "same", updated=5)
        self.assertEqual(self.assertJson(self.patch(tok, chat["id"], {}), 200), chat)
        self.assertEqual(self.db_title(chat["id"]), "same")

    def test_rejects_bad_input_and_leaves_title(self):
        owner, tok = self.user()
        chat = self.insert_chat(owner, "stable", updated=5)
        cases = [
            ({"title": ""}, "invalid_field", "title"),
            ({"title": "   \t\n"}, "invalid_field", "blank"),
            ({"title": "x" * 256}, "invalid_field", "title"),
            ({"title": "\u00e9" * 256}, "invalid_field", "title"),
            ({"title": "x", "pinned": True}, "unknown_field", "pinned"),
            ({"name": "x"}, "unknown_field", "name"),
            ({"bot_id": None}, "unknown_field", "bot_id"),
            ({"title": 5}, "invalid_field", "title"),
            ({"title": None}, "invalid_field", "title"),
            ({"title": ["a"]}, "invalid_field", "title"),
            ({"title": True}, "invalid_field", "title"),
        ]
        for body, code, mention in cases:
            with self.subTest(body=json.dumps(body)[:60]):
                self.assertError(self.patch(tok, chat["id"], body), 400, code,
                                 mentions=mention)
        for raw in (b'{"title": ', b'{"title": "x"} trailing', b'[]', b'"x"',
                    b'null', b'', b'{"title": "\xff"}'):
            with self.subTest(raw=raw):
                self.assertError(self.patch(tok, chat["id"], raw=raw), 400, "invalid_json")
        self.assertEqual(self.db_title(chat["id"]), "stable")
        self.assertEqual(self.list_chats(tok)["items"], [chat])

    def test_wrong_content_type_is_415(self):
        owner, tok = self.user()
        chat = self.insert_chat(owner, "typed")
        r = stack.request("PATCH", "/api/v1/chats/" + chat["id"], token=tok,
                          raw=b'{"title": "changed"}', headers={"Content-Type": "text/plain"})
        self.assertError(r, 415, "unsupported_media_type")
        self.assertEqual(self.db_title(chat["id"]), "typed")


class DeleteTest(ChatsTestCase):
    def test_delete_takes_messages_with_it(self):
        owner, tok = self.user()
        keep = self.insert_chat(owner, "keep", updated=1)
        gone = self.insert_chat(owner, "gone", updated=2)
        self.insert_messages(keep["id"], owner, [{"content": "k"}])
        self.insert_messages(gone["id"], owner, [{"content": "a", "created": 0},
                                                 {"content": "b", "created": 1,
                                                  "role": "assistant"}])
        self.assertEqual(self.message_count(gone["id"]), 2)

        r = self.delete(tok, gone["id"])
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assertRegex(r.header("X-Request-Id") or "", RID_RE)

        self.assertNotFound(self.get(tok, gone["id"]))
        self.assertNotFound(self.delete(tok, gone["id"]))
        self.assertNotFound(self.patch(tok, gone["id"], {"title": "z"}))
        self.assertEqual(self.message_count(gone["id"]), 0)
        self.assertEqual(self.list_chats(tok)["items"], [keep])
        self.assertEqual(self.message_count(keep["id"]), 1)


class BotDeletedTest(ChatsTestCase):
    def test_deleting_the_bot_leaves_the_chat_without_one(self):
        owner, tok = self.user()
        r = stack.request("POST", "/api/v1/bots", {"name": "Helper"}, token=tok)
        bot = self.assertJson(r, 201)["id"]
        chat = self.insert_chat(owner, "with bot", bot_id=bot)
        self.insert_messages(chat["id"], owner, [
            {"content": "q", "created": 0},
            {"role": "assistant", "content": "a", "created": 1, "bot_id": bot,
             "model_id": "local", "stop_reason": "end_turn"}])
        got = self.get_chat(tok, chat["id"])
        self.assertEqual(got["bot_id"], bot)
        self.assertEqual([m["bot_id"] for m in got["messages"]], [None, bot])
        self.assertEqual(self.list_chats(tok)["items"][0]["bot_id"], bot)

        r = stack.request("DELETE", "/api/v1/bots/" + bot, token=tok)
        self.assertEqual(r.status, 204, r)

        got = self.get_chat(tok, chat["id"])
        self.assertIsNone(got["bot_id"])
        self.assertEqual([m["bot_id"] for m in got["messages"]], [None, None])
        self.assertEqual([m["content"] for m in got["messages"]], ["q", "a"])
        self.assertEqual(self.list_chats(tok)["items"], [dict(chat, bot_id=None)])


class ZzNginxErrorLogTest(unittest.TestCase):
    """Runs last (classes run in name order): nothing during this file's
    requests made nginx log an alert or anything worse."""

    def test_no_alerts_in_nginx_error_log(self):
        bad = [ln for ln in stack.log_text("nginx-error.log").splitlines()
               if re.search(r"\[(alert|crit|emerg)\]", ln)]
        self.assertEqual(bad[:10], [], "%d alert lines in nginx-error.log" % len(bad))


if __name__ == "__main__":
    unittest.main()
