"""End-to-end tests of the bots API (/api/v1/bots), routing and /health,
driven over HTTP against the real stack (Postgres, workers, nginx + module).

Run: python3 -m unittest -v tests/e2e/test_bots.py
"""

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
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
BOT_KEYS = {"id", "owner_id", "name", "description", "model_id", "instructions",
            "temperature", "max_tokens", "rag_enabled", "knowledge_base_id",
            "knowledge_base_ids", "visibility", "use_count", "is_owner", "pinned",
            "created_at", "updated_at"}


def setUpModule():
    global stack
    stack = Stack(workers=2).start()


def tearDownModule():
    if stack is not None:
        stack.stop()


def _is_uuid(s):
    try:
        return str(uuid.UUID(s)) == s.lower() and len(s) == 36
    except (ValueError, AttributeError, TypeError):
        return False


class ApiTestCase(unittest.TestCase):
    maxDiff = None

    # -- helpers -------------------------------------------------------
    def sub(self, suffix=""):
        """A user id unique to this test (and suffix)."""
        return "bots-%s%s" % (self.id().rsplit(".", 1)[-1], suffix)

    def assertRequestId(self, r):
        rid = r.header("X-Request-Id")
        self.assertIsNotNone(rid, "no X-Request-Id on %r" % (r,))
        self.assertRegex(rid, RID_RE)
        return rid

    def assertJson(self, r, status):
        self.assertEqual(r.status, status, r)
        self.assertRequestId(r)
        ctype = r.header("Content-Type") or ""
        self.assertEqual(ctype.split(";")[0].strip().lower(), "application/json", r)
        return r.json()

    def assertError(self, r, status, code, mentions=None):
        body = self.assertJson(r, status)
        self.assertEqual(set(body), {"error"}, body)
        err = body["error"]
        self.assertEqual(set(err), {"code", "message", "request_id"}, body)
        self.assertEqual(err["code"], code, body)
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"], body)
        self.assertEqual(err["request_id"], r.header("X-Request-Id"), r)
        if mentions is not None:
            self.assertIn(mentions, err["message"], body)
        return err

    def assertBot(self, bot, owner):
        self.assertEqual(set(bot), BOT_KEYS, bot)
        self.assertTrue(_is_uuid(bot["id"]), bot)
        self.assertEqual(bot["owner_id"], owner)
        self.assertRegex(bot["created_at"], TS_RE)
        self.assertRegex(bot["updated_at"], TS_RE)
        self.assertIsInstance(bot["temperature"], (int, float))
        self.assertIsInstance(bot["max_tokens"], int)
        self.assertIsInstance(bot["rag_enabled"], bool)
        # the owner's view (sharing: tests/e2e/test_sharing.py)
        self.assertIs(bot["is_owner"], True)
        self.assertIn(bot["visibility"], ("private", "shared", "store"))
        self.assertIsInstance(bot["use_count"], int)
        self.assertIsInstance(bot["pinned"], bool)

    def create(self, tok, owner, **fields):
        fields.setdefault("name", "bot")
        r = stack.request("POST", "/api/v1/bots", fields, token=tok)
        bot = self.assertJson(r, 201)
        self.assertBot(bot, owner)
        return bot

    def get(self, tok, bot_id):
        return stack.request("GET", "/api/v1/bots/" + bot_id, token=tok)

    def list_all(self, tok, query=""):
        r = stack.request("GET", "/api/v1/bots" + query, token=tok)
        return self.assertJson(r, 200)

    def db_bot_count(self, owner):
        return int(stack.psql("select count(*) from bots where owner_id = '%s'" % owner))


class HealthTest(ApiTestCase):
    def test_health_without_auth(self):
        r = stack.request("GET", "/health")
        body = self.assertJson(r, 200)
        self.assertEqual(body.get("status"), "ok", body)
        self.assertEqual(body.get("database"), "ok", body)


class RoutingTest(ApiTestCase):
    def test_unknown_paths_are_404(self):
        tok = stack.token(self.sub())
        for path in ("/api/v1/nope", "/api/v2/bots", "/api/v1/bots/x/extra",
                     "/api/v1/bots/", "/api/"):
            with self.subTest(path=path):
                self.assertError(stack.request("GET", path, token=tok), 404, "not_found")

    def _allow(self, r):
        allow = r.header("Allow")
        self.assertIsNotNone(allow, r)
        return {m.strip() for m in allow.split(",")}

    def test_wrong_method_on_collection_is_405_with_allow(self):
        tok = stack.token(self.sub())
        for method in ("PUT", "DELETE", "PATCH"):
            with self.subTest(method=method):
                r = stack.request(method, "/api/v1/bots", {"name": "x"}, token=tok)
                self.assertError(r, 405, "method_not_allowed")
                self.assertEqual(self._allow(r), {"GET", "POST"})
        self.assertEqual(self.list_all(tok)["items"], [])

    def test_wrong_method_on_item_is_405_with_allow(self):
        tok = stack.token(self.sub())
        path = "/api/v1/bots/" + str(uuid.uuid4())
        for method in ("POST", "PUT"):
            with self.subTest(method=method):
                r = stack.request(method, path, {"name": "x"}, token=tok)
                self.assertError(r, 405, "method_not_allowed")
                self.assertEqual(self._allow(r), {"GET", "PATCH", "DELETE"})
        self.assertEqual(self.list_all(tok)["items"], [])


class BotsCrudTest(ApiTestCase):
    def test_create_with_defaults(self):
        owner = self.sub()
        tok = stack.token(owner)
        r = stack.request("POST", "/api/v1/bots", {"name": "Alpha"}, token=tok)
        bot = self.assertJson(r, 201)
        self.assertBot(bot, owner)
        self.assertEqual(bot["name"], "Alpha")
        self.assertEqual(bot["description"], "")
        self.assertEqual(bot["model_id"], "local")
        self.assertEqual(bot["instructions"], "")
        self.assertAlmostEqual(bot["temperature"], 0.7)
        self.assertEqual(bot["max_tokens"], 4096)
        self.assertIs(bot["rag_enabled"], False)
        self.assertIsNone(bot["knowledge_base_id"])
        self.assertEqual(r.header("Location"), "/api/v1/bots/" + bot["id"])

        got = self.assertJson(self.get(tok, bot["id"]), 200)
        self.assertEqual(got, bot)
        self.assertEqual(self.db_bot_count(owner), 1)

    def test_create_with_all_fields(self):
        owner = self.sub()
        tok = stack.token(owner)
        fields = {"name": "Beta \u00e9\u4e2d", "description": "d\n\"quoted\"",
                  "model_id": "local", "instructions": "be brief",
                  "temperature": 0.25, "max_tokens": 100, "rag_enabled": True,
                  "knowledge_base_id": None}
        bot = self.create(tok, owner, **fields)
        for k, v in fields.items():
            self.assertEqual(bot[k], v, k)
        self.assertEqual(self.assertJson(self.get(tok, bot["id"]), 200), bot)

    def test_awkward_text_round_trips(self):
        owner = self.sub()
        tok = stack.token(owner)
        fields = {"name": 'q"uote \\back\\slash </script> \u2028',
                  "description": "tab\there\r\nnew\x01ctl\x1f\x7f end",
                  "instructions": "\U0001F600 emoji, \u00e9, \u4e2d\u6587, {\"json\": [1]}",
                  "model_id": "anthropic.claude-3-5-sonnet-20241022-v2:0",
                  "temperature": 0.1 + 0.2}
        bot = self.create(tok, owner, **fields)
        fetched = self.assertJson(self.get(tok, bot["id"]), 200)
        listed = self.list_all(tok)["items"]
        for k, v in fields.items():
            self.assertEqual(bot[k], v, k)
            self.assertEqual(fetched[k], v, k)
            self.assertEqual(listed[0][k], v, k)

    def test_list_empty(self):
        tok = stack.token(self.sub())
        self.assertEqual(self.list_all(tok), {"items": [], "next_cursor": None})

    def test_list_newest_first_with_cursor_paging(self):
        owner = self.sub()
        tok = stack.token(owner)
        created = [self.create(tok, owner, name="p%d" % i)["id"] for i in range(5)]
        newest_first = list(reversed(created))

        full = self.list_all(tok)
        self.assertIsNone(full["next_cursor"])
        self.assertEqual([b["id"] for b in full["items"]], newest_first)
        for b in full["items"]:
            self.assertBot(b, owner)

        seen, pages, cursor = [], 0, None
        while True:
            q = "?limit=2" + ("&cursor=" + cursor if cursor else "")
            page = self.list_all(tok, q)
            self.assertEqual(set(page), {"items", "next_cursor"})
            self.assertLessEqual(len(page["items"]), 2)
            seen += [b["id"] for b in page["items"]]
            pages += 1
            self.assertLessEqual(pages, 5, "paging does not end: %r" % seen)
            cursor = page["next_cursor"]
            if cursor is None:
                break
            self.assertIsInstance(cursor, str)
            self.assertTrue(cursor)
        self.assertEqual(seen, newest_first)
        self.assertEqual(pages, 3)

    def test_list_default_limit_is_20_and_max_100(self):
        owner = self.sub()
        tok = stack.token(owner)
        created = [self.create(tok, owner, name="n%d" % i)["id"] for i in range(21)]
        page = self.list_all(tok)
        self.assertEqual([b["id"] for b in page["items"]], list(reversed(created))[:20])
        self.assertIsInstance(page["next_cursor"], str)
        rest = self.list_all(tok, "?cursor=" + page["next_cursor"])
        self.assertEqual([b["id"] for b in rest["items"]], [created[0]])
        self.assertIsNone(rest["next_cursor"])
        big = self.list_all(tok, "?limit=100")
        self.assertEqual(len(big["items"]), 21)
        self.assertIsNone(big["next_cursor"])

    def test_list_only_own_bots(self):
        a, b = self.sub("-a"), self.sub("-b")
        ta, tb = stack.token(a), stack.token(b)
        bot = self.create(ta, a, name="mine")
        self.assertEqual(self.list_all(tb)["items"], [])
        self.assertEqual([x["id"] for x in self.list_all(ta)["items"]], [bot["id"]])

    def test_patch_changes_only_given_fields(self):
        owner = self.sub()
        tok = stack.token(owner)
        bot = self.create(tok, owner, name="Gamma", description="old",
                          instructions="keep me")
        path = "/api/v1/bots/" + bot["id"]

        r = stack.request("PATCH", path, {"name": "Gamma 2", "temperature": 0.9,
                                          "rag_enabled": True}, token=tok)
        new = self.assertJson(r, 200)
        self.assertBot(new, owner)
        expect = dict(bot, name="Gamma 2", temperature=0.9, rag_enabled=True)
        self.assertEqual({k: v for k, v in new.items() if k != "updated_at"},
                         {k: v for k, v in expect.items() if k != "updated_at"})
        self.assertEqual(new["created_at"], bot["created_at"])
        self.assertGreater(new["updated_at"], bot["updated_at"])
        self.assertEqual(self.assertJson(self.get(tok, bot["id"]), 200), new)

        # {} changes nothing
        r = stack.request("PATCH", path, {}, token=tok)
        same = self.assertJson(r, 200)
        self.assertEqual({k: v for k, v in same.items() if k != "updated_at"},
                         {k: v for k, v in new.items() if k != "updated_at"})

        # knowledge_base_id null is accepted (clears nothing that was set)
        r = stack.request("PATCH", path, {"knowledge_base_id": None,
                                          "max_tokens": 12}, token=tok)
        kb = self.assertJson(r, 200)
        self.assertIsNone(kb["knowledge_base_id"])
        self.assertEqual(kb["max_tokens"], 12)
        self.assertEqual(kb["name"], "Gamma 2")
        self.assertEqual(kb["instructions"], "keep me")
        self.assertEqual(kb["created_at"], bot["created_at"])

    def test_delete(self):
        owner = self.sub()
        tok = stack.token(owner)
        keep = self.create(tok, owner, name="keep")
        gone = self.create(tok, owner, name="gone")
        path = "/api/v1/bots/" + gone["id"]

        r = stack.request("DELETE", path, token=tok)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assertRequestId(r)

        self.assertError(self.get(tok, gone["id"]), 404, "not_found")
        self.assertError(stack.request("DELETE", path, token=tok), 404, "not_found")
        self.assertError(stack.request("PATCH", path, {"name": "z"}, token=tok),
                         404, "not_found")
        self.assertEqual([b["id"] for b in self.list_all(tok)["items"]], [keep["id"]])
        self.assertEqual(self.db_bot_count(owner), 1)

    def test_other_users_bot_is_not_found(self):
        a, b = self.sub("-owner"), self.sub("-intruder")
        ta, tb = stack.token(a), stack.token(b)
        bot = self.create(ta, a, name="private", instructions="secret")
        path = "/api/v1/bots/" + bot["id"]

        self.assertError(stack.request("GET", path, token=tb), 404, "not_found")
        self.assertError(stack.request("PATCH", path, {"name": "pwned"}, token=tb),
                         404, "not_found")
        self.assertError(stack.request("PATCH", path, {}, token=tb), 404, "not_found")
        self.assertError(stack.request("DELETE", path, token=tb), 404, "not_found")

        self.assertEqual(self.assertJson(self.get(ta, bot["id"]), 200), bot)
        self.assertEqual(self.db_bot_count(a), 1)
        self.assertEqual(self.db_bot_count(b), 0)

    def test_malformed_id_is_not_found(self):
        tok = stack.token(self.sub())
        for bad in ("not-a-uuid", "1234", str(uuid.uuid4()) + "0",
                    "%27%20OR%201%3D1%20--"):
            path = "/api/v1/bots/" + bad
            with self.subTest(id=bad):
                self.assertError(stack.request("GET", path, token=tok), 404, "not_found")
                self.assertError(stack.request("PATCH", path, {"name": "x"}, token=tok),
                                 404, "not_found")
                self.assertError(stack.request("DELETE", path, token=tok), 404, "not_found")
        # a well-formed id that does not exist
        self.assertError(self.get(tok, str(uuid.uuid4())), 404, "not_found")


class BadInputTest(ApiTestCase):
    """Every rejected request leaves the owner's bots as they were."""

    BAD_FIELDS = [
        # (body, code, field the message names or None)
        ({"name": "x", "colour": "red"}, "unknown_field", "colour"),
        ({"name": 5}, "invalid_field", "name"),
        ({"name": "x", "temperature": "hot"}, "invalid_field", "temperature"),
        ({"name": "x", "max_tokens": 1.5}, "invalid_field", "max_tokens"),
        ({"name": "x", "rag_enabled": "yes"}, "invalid_field", "rag_enabled"),
        ({"name": "x", "temperature": 5}, "invalid_field", "temperature"),
        ({"name": "x", "max_tokens": 0}, "invalid_field", "max_tokens"),
        ({"name": ""}, "invalid_field", "name"),
        ({"name": "n" * 300}, "invalid_field", "name"),
        ({"name": "x", "knowledge_base_id": str(uuid.uuid4())}, "invalid_field", None),
        ({"name": "x", "knowledge_base_id": "not-a-uuid"}, "invalid_field",
         "knowledge_base_id"),
    ]

    def raw(self, method, path, tok, data, ctype="application/json"):
        headers = {"Content-Type": ctype} if ctype else None
        return stack.request(method, path, token=tok, raw=data, headers=headers)

    def assertNoBots(self, owner, tok):
        self.assertEqual(self.list_all(tok)["items"], [])
        self.assertEqual(self.db_bot_count(owner), 0)

    def test_create_rejects_bad_json(self):
        owner = self.sub()
        tok = stack.token(owner)
        cases = [
            (b'{"name": "x"', "malformed"),
            (b'{"name": "x"} trailing', "trailing"),
            (b'[{"name": "x"}]', "array"),
            (b'"name"', "string"),
            (b'null', "null"),
            (b'', "empty"),
            (b'{"name": "\xff\xfe"}', "not utf-8"),
        ]
        for data, what in cases:
            with self.subTest(what=what):
                r = self.raw("POST", "/api/v1/bots", tok, data)
                self.assertError(r, 400, "invalid_json")
        with self.subTest(what="no body, no content type"):
            r = self.raw("POST", "/api/v1/bots", tok, None, ctype=None)
            self.assertError(r, 400, "invalid_json")
        self.assertNoBots(owner, tok)

    def test_create_rejects_bad_fields(self):
        owner = self.sub()
        tok = stack.token(owner)
        for body, code, field in self.BAD_FIELDS + [({}, "invalid_field", "name"),
                                                     ({"name": None}, "invalid_field", "name")]:
            with self.subTest(body=json.dumps(body)[:60]):
                r = stack.request("POST", "/api/v1/bots", body, token=tok)
                self.assertError(r, 400, code, mentions=field)
        self.assertNoBots(owner, tok)

    def test_patch_rejects_bad_input(self):
        owner = self.sub()
        tok = stack.token(owner)
        bot = self.create(tok, owner, name="stable", description="as created")
        path = "/api/v1/bots/" + bot["id"]
        cases = [(b, c, f) for b, c, f in self.BAD_FIELDS]
        cases += [({"name": None}, "invalid_field", "name"),
                  ({"temperature": None}, "invalid_field", "temperature"),
                  ({"id": str(uuid.uuid4())}, "unknown_field", "id"),
                  ({"owner_id": "someone-else"}, "unknown_field", "owner_id")]
        for body, code, field in cases:
            with self.subTest(body=json.dumps(body)[:60]):
                r = stack.request("PATCH", path, body, token=tok)
                self.assertError(r, 400, code, mentions=field)
        for data in (b'{"name": ', b'[]', b''):
            with self.subTest(raw=data):
                self.assertError(self.raw("PATCH", path, tok, data), 400, "invalid_json")
        self.assertEqual(self.assertJson(self.get(tok, bot["id"]), 200), bot)

    def test_wrong_content_type_is_415(self):
        owner = self.sub()
        tok = stack.token(owner)
        bot = self.create(tok, owner, name="typed")
        data = json.dumps({"name": "changed"}).encode()
        for ctype in ("text/plain", "application/x-www-form-urlencoded",
                      "application/jsonp"):
            with self.subTest(ctype=ctype):
                r = self.raw("POST", "/api/v1/bots", tok, data, ctype=ctype)
                self.assertError(r, 415, "unsupported_media_type")
                r = self.raw("PATCH", "/api/v1/bots/" + bot["id"], tok, data, ctype=ctype)
                self.assertError(r, 415, "unsupported_media_type")
        with self.subTest(ctype=None):
            r = self.raw("POST", "/api/v1/bots", tok, data, ctype=None)
            self.assertError(r, 415, "unsupported_media_type")
        self.assertEqual([b["id"] for b in self.list_all(tok)["items"]], [bot["id"]])
        self.assertEqual(self.assertJson(self.get(tok, bot["id"]), 200), bot)

    def test_json_content_type_with_charset_is_accepted(self):
        owner = self.sub()
        tok = stack.token(owner)
        r = self.raw("POST", "/api/v1/bots", tok, b'{"name": "cs"}',
                     ctype="application/json; charset=utf-8")
        self.assertBot(self.assertJson(r, 201), owner)

    def test_body_over_1mib_is_413(self):
        owner = self.sub()
        tok = stack.token(owner)
        name = "x" * (1024 * 1024)
        data = json.dumps({"name": name}).encode()
        self.assertGreater(len(data), 1024 * 1024)
        r = self.raw("POST", "/api/v1/bots", tok, data)
        self.assertError(r, 413, "payload_too_large")
        self.assertNoBots(owner, tok)

    def test_bad_query_is_400(self):
        owner = self.sub()
        tok = stack.token(owner)
        self.create(tok, owner, name="q")
        for q in ("limit=0", "limit=abc", "limit=-1", "limit=101", "limit=1.5",
                  "cursor=garbage", "cursor=%ZZ",
                  "cursor=" + "A" * 40, "limit=2&cursor=!!!"):
            with self.subTest(query=q):
                r = stack.request("GET", "/api/v1/bots?" + q, token=tok)
                self.assertError(r, 400, "invalid_query")
        self.assertEqual(len(self.list_all(tok)["items"]), 1)


class OperationsTest(ApiTestCase):
    """What an operator sees: access log variables, repeatable migrations."""

    def test_access_log_has_user_and_request_id(self):
        token = stack.token("ops-logger")
        r = stack.request("GET", "/api/v1/bots", token=token)
        self.assertEqual(r.status, 200, r)
        rid = r.header("x-request-id")
        line = stack.wait_for(
            lambda: [l for l in stack.access_log() if l["request_id"] == rid], timeout=5)
        self.assertTrue(line, "no access log line for " + rid)
        self.assertEqual(line[0]["user_id"], "ops-logger")
        self.assertEqual(line[0]["route"], "/api/v1/bots")
        self.assertEqual(line[0]["job"], "bots.list")
        self.assertEqual(line[0]["status"], 200)
        self.assertIn(line[0]["worker"], [stack.worker_endpoint(i) for i in range(stack.workers)])
        self.assertGreater(float(line[0]["worker_time"]), 0)
        self.assertLessEqual(float(line[0]["worker_time"]), line[0]["request_time"] + 0.001)

    def test_cross_origin_requests_are_off_by_default(self):
        token = stack.token("ops-cors")
        r = stack.request("GET", "/api/v1/bots", token=token,
                          headers={"Origin": "https://elsewhere.example"})
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("access-control-allow-origin"))
        r = stack.request("OPTIONS", "/api/v1/bots", headers={
            "Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"})
        self.assertEqual(r.status, 405)
        self.assertIsNone(r.header("access-control-allow-origin"))

    def test_migrations_are_idempotent(self):
        import subprocess
        from harness import WORKER_BIN, TOP
        before = stack.psql("select count(*) from schema_migrations")
        db = "host=%s/pg/run port=%s dbname=mangoo user=postgres" % (
            stack.state, stack.env["MANGOO_PG_PORT"])
        for _ in range(2):
            out = subprocess.run([WORKER_BIN, "migrate", "--db", db, "--sql-dir",
                                  os.path.join(TOP, "sql")],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
            self.assertEqual(out.returncode, 0, out.stdout)
            self.assertIn("0 applied now", out.stdout)
        self.assertEqual(stack.psql("select count(*) from schema_migrations"), before)
        self.assertGreaterEqual(int(before), 1)


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
