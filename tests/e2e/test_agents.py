"""End-to-end tests of the agent marketplace and its administration
(GET /api/v1/agents..., /api/v1/admin/agents...) and of chatting with an
agent (agent_id in the chat request), driven over HTTP against the real
stack: the catalog the migrations ship, publishing and retiring, the
sub-agent graph's checks (unknown, retired, cycles, depth), bad input that
changes nothing, and who may do what.

Run: python3 tests/e2e/run.py test_agents.py
"""

import os
import sys
import unittest
import uuid
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402
from sse_client import chat_stream as stream, text_of  # noqa: E402

stack = None
AGENT_KEYS = {"id", "name", "category", "description", "model_id", "instructions", "temperature",
              "max_tokens", "tools", "sub_agents", "limits", "status", "created_at", "updated_at"}
CATALOG = {"Calculator", "Clock", "Research assistant", "Web reader", "Orchestrator"}

_n = iter(range(1, 1000000))


def setUpModule():
    global stack
    stack = Stack(workers=2, env={"MANGOO_LOCAL_DELAY_MS": "1"}).start()


def tearDownModule():
    if stack is not None:
        stack.stop()


def user():
    token = stack.token(sub="agents-user-%d" % next(_n))
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return token


def admin():
    token = stack.token(sub="agents-admin-%d" % next(_n), groups=("admin",))
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return token


def unique(name):
    return "%s %s" % (name, uuid.uuid4().hex[:8])


class AgentsTestCase(unittest.TestCase):
    maxDiff = None

    def create(self, token, status=201, **fields):
        body = {"name": unique("agent"), "category": "Testing"}
        body.update(fields)
        r = stack.request("POST", "/api/v1/admin/agents", body, token=token)
        self.assertEqual(r.status, status, r)
        return r.json()

    def patch(self, token, agent_id, body, status=200):
        r = stack.request("PATCH", "/api/v1/admin/agents/" + agent_id, body, token=token)
        self.assertEqual(r.status, status, r)
        return r.json()

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.json()["error"]["code"], code, r)

    def count(self, sql):
        return int(stack.psql(sql).strip())


class Marketplace(AgentsTestCase):
    def test_the_catalog_ships_published(self):
        r = stack.request("GET", "/api/v1/agents?limit=100", token=user())
        self.assertEqual(r.status, 200, r)
        items = r.json()["items"]
        names = {a["name"] for a in items}
        self.assertTrue(CATALOG <= names, names)
        for a in items:
            self.assertEqual(set(a), AGENT_KEYS)
            self.assertEqual(a["status"], "published")
        calc = next(a for a in items if a["name"] == "Calculator")
        self.assertEqual(calc["tools"], ["calculator"])
        self.assertEqual(calc["category"], "Math")
        self.assertEqual(calc["model_id"], "local")
        self.assertEqual(set(calc["limits"]), {"max_steps", "timeout_seconds", "tool_timeout_seconds"})
        orch = next(a for a in items if a["name"] == "Orchestrator")
        by_id = {a["id"]: a["name"] for a in items}
        self.assertEqual([by_id[s] for s in orch["sub_agents"]],
                         ["Calculator", "Clock", "Research assistant", "Web reader"])

    def test_category_search_and_paging(self):
        token = user()
        r = stack.request("GET", "/api/v1/agents?category=Math", token=token)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["items"])
        self.assertEqual({a["category"] for a in r.json()["items"]}, {"Math"})
        r = stack.request("GET", "/api/v1/agents?q=" + quote("TIME ZONE"), token=token)
        self.assertEqual([a["name"] for a in r.json()["items"]], ["Clock"])
        r = stack.request("GET", "/api/v1/agents?q=nothing-has-this", token=token)
        self.assertEqual(r.json(), {"items": [], "next_cursor": None})
        # two pages of two, then the rest, no agent twice
        seen, cursor = [], ""
        for _ in range(10):
            r = stack.request("GET", "/api/v1/agents?limit=2" + cursor, token=token)
            self.assertEqual(r.status, 200, r)
            seen += [a["id"] for a in r.json()["items"]]
            if r.json()["next_cursor"] is None:
                break
            cursor = "&cursor=" + quote(r.json()["next_cursor"])
        self.assertEqual(len(seen), len(set(seen)))
        self.assertGreaterEqual(len(seen), len(CATALOG))

    def test_categories(self):
        r = stack.request("GET", "/api/v1/agents/categories", token=user())
        self.assertEqual(r.status, 200, r)
        cats = {c["category"]: c["agents"] for c in r.json()["items"]}
        for c in ("Math", "Utilities", "Knowledge", "Web", "General"):
            self.assertGreaterEqual(cats.get(c, 0), 1, cats)

    def test_get_and_not_found(self):
        token = user()
        calc = stack.request("GET", "/api/v1/agents?q=calculator", token=token).json()["items"][0]
        r = stack.request("GET", "/api/v1/agents/" + calc["id"], token=token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), calc)
        for bad in (str(uuid.uuid4()), "not-a-uuid"):
            self.assertError(stack.request("GET", "/api/v1/agents/" + bad, token=token),
                             404, "agent_not_found")

    def test_bad_query_is_400(self):
        token = user()
        for q in ("limit=0", "limit=abc", "cursor=%%%", "q=" + "x" * 300, "category=%ff"):
            self.assertError(stack.request("GET", "/api/v1/agents?" + q, token=token),
                             400, "invalid_query")

    def test_needs_a_token(self):
        self.assertEqual(stack.request("GET", "/api/v1/agents").status, 401)


class Administration(AgentsTestCase):
    def test_only_administrators(self):
        token = user()
        body = {"name": unique("nope"), "category": "Testing"}
        self.assertEqual(stack.request("POST", "/api/v1/admin/agents", body, token=token).status, 403)
        self.assertEqual(stack.request("GET", "/api/v1/admin/agents", token=token).status, 403)
        calc = stack.request("GET", "/api/v1/agents?q=calculator", token=token).json()["items"][0]
        self.assertEqual(stack.request("PATCH", "/api/v1/admin/agents/" + calc["id"],
                                       {"status": "retired"}, token=token).status, 403)
        self.assertEqual(self.count("SELECT count(*) FROM agents WHERE name = '%s'" % body["name"]), 0)
        self.assertEqual(stack.request("GET", "/api/v1/agents/" + calc["id"], token=token).json()["status"],
                         "published")

    def test_draft_publish_retire(self):
        adm, token = admin(), user()
        a = self.create(adm, description="a drafted helper", tools=["calculator", "current_time"],
                        limits={"max_steps": 3})
        self.assertEqual(a["status"], "draft")
        self.assertEqual(a["tools"], ["calculator", "current_time"])
        self.assertEqual(a["limits"]["max_steps"], 3)
        self.assertEqual(a["limits"]["timeout_seconds"], 120)
        self.assertEqual(a["sub_agents"], [])
        # a draft is the administrators' only
        self.assertError(stack.request("GET", "/api/v1/agents/" + a["id"], token=token), 404, "agent_not_found")
        self.assertEqual(stack.request("GET", "/api/v1/admin/agents/" + a["id"], token=adm).json(), a)
        names = [x["name"] for x in stack.request("GET", "/api/v1/agents?limit=100", token=token).json()["items"]]
        self.assertNotIn(a["name"], names)
        r = stack.request("POST", "/api/v1/chat", {"agent_id": a["id"], "message": "hi"}, token=token)
        self.assertError(r, 404, "agent_not_found")

        p = self.patch(adm, a["id"], {"status": "published", "instructions": "be exact"})
        self.assertEqual(p["status"], "published")
        self.assertEqual(p["instructions"], "be exact")
        self.assertEqual(p["tools"], a["tools"])
        self.assertEqual(stack.request("GET", "/api/v1/agents/" + a["id"], token=token).json(), p)

        self.patch(adm, a["id"], {"status": "retired"})
        self.assertError(stack.request("GET", "/api/v1/agents/" + a["id"], token=token), 404, "agent_not_found")
        r = stack.request("POST", "/api/v1/chat", {"agent_id": a["id"], "message": "hi"}, token=token)
        self.assertError(r, 404, "agent_not_found")
        # still the administrators' to see
        self.assertEqual(stack.request("GET", "/api/v1/admin/agents/" + a["id"], token=adm).json()["status"],
                         "retired")

    def test_bad_input_changes_nothing(self):
        adm = admin()
        before = self.count("SELECT count(*) FROM agents")
        cases = [
            ({"category": "x"}, "invalid_field"),
            ({"name": "   ", "category": "x"}, None),
            ({"name": unique("a"), "category": "x", "tools": ["rm -rf"]}, "invalid_field"),
            ({"name": unique("a"), "category": "x", "tools": "calculator"}, "invalid_field"),
            ({"name": unique("a"), "category": "x", "sub_agents": ["not-a-uuid"]}, "invalid_field"),
            ({"name": unique("a"), "category": "x", "sub_agents": [str(uuid.uuid4())]}, "invalid_field"),
            ({"name": unique("a"), "category": "x", "status": "live"}, "invalid_field"),
            ({"name": unique("a"), "category": "x", "limits": {"max_steps": 0}}, None),
            ({"name": unique("a"), "category": "x", "limits": {"forever": 1}}, "invalid_field"),
            ({"name": unique("a"), "category": "x", "temperature": 3}, None),
            ({"name": unique("a"), "category": "x", "surprise": 1}, "unknown_field"),
        ]
        for body, code in cases:
            r = stack.request("POST", "/api/v1/admin/agents", body, token=adm)
            self.assertEqual(r.status, 400, (body, r))
            if code:
                self.assertEqual(r.json()["error"]["code"], code, (body, r))
        for raw in (b"{nope", b"[1, 2]", b"\"x\""):
            r = stack.request("POST", "/api/v1/admin/agents", raw=raw, token=adm,
                              headers={"Content-Type": "application/json"})
            self.assertEqual(r.status, 400, (raw, r))
        r = stack.request("POST", "/api/v1/admin/agents",
                          {"name": unique("a"), "category": "x", "limits": [1]}, token=adm)
        self.assertError(r, 400, "invalid_field")
        taken = self.create(adm)
        r = stack.request("POST", "/api/v1/admin/agents", {"name": taken["name"], "category": "x"}, token=adm)
        self.assertError(r, 409, "agent_name_taken")
        self.assertEqual(self.count("SELECT count(*) FROM agents"), before + 1)
        self.assertError(stack.request("PATCH", "/api/v1/admin/agents/" + str(uuid.uuid4()),
                                       {"status": "published"}, token=adm), 404, "agent_not_found")

    def test_sub_agent_graph(self):
        adm = admin()
        c = self.create(adm)
        b = self.create(adm, sub_agents=[c["id"]])
        a = self.create(adm, sub_agents=[b["id"], c["id"], b["id"]])     # the repeat is dropped
        self.assertEqual(a["sub_agents"], [b["id"], c["id"]])
        links = "SELECT count(*) FROM agent_sub_agents WHERE agent_id = '%s'"
        # c -> a would close a -> b -> c -> a
        r = stack.request("PATCH", "/api/v1/admin/agents/" + c["id"], {"sub_agents": [a["id"]]}, token=adm)
        self.assertError(r, 400, "invalid_field")
        self.assertIn("cycle", r.json()["error"]["message"])
        r = stack.request("PATCH", "/api/v1/admin/agents/" + c["id"], {"sub_agents": [c["id"]]}, token=adm)
        self.assertError(r, 400, "invalid_field")
        self.assertEqual(self.count(links % c["id"]), 0)
        # d -> a -> b -> c is three hand-offs: allowed; e -> d is four
        d = self.create(adm, sub_agents=[a["id"]])
        r = stack.request("POST", "/api/v1/admin/agents",
                          {"name": unique("e"), "category": "x", "sub_agents": [d["id"]]}, token=adm)
        self.assertError(r, 400, "invalid_field")
        self.assertIn("deep", r.json()["error"]["message"])
        # deepening the bottom of the chain counts the chain above it too
        z = self.create(adm)
        r = stack.request("PATCH", "/api/v1/admin/agents/" + c["id"], {"sub_agents": [z["id"]]}, token=adm)
        self.assertError(r, 400, "invalid_field")
        self.assertEqual(self.count(links % c["id"]), 0)
        # a retired agent cannot be handed work
        self.patch(adm, z["id"], {"status": "retired"})
        r = stack.request("PATCH", "/api/v1/admin/agents/" + b["id"], {"sub_agents": [z["id"]]}, token=adm)
        self.assertError(r, 400, "invalid_field")
        # reorder and shrink the list
        p = self.patch(adm, a["id"], {"sub_agents": [c["id"]]})
        self.assertEqual(p["sub_agents"], [c["id"]])
        self.assertEqual(self.count(links % a["id"]), 1)
        p = self.patch(adm, a["id"], {"name": unique("renamed")})
        self.assertEqual(p["sub_agents"], [c["id"]])


class ChatWithAgent(AgentsTestCase):
    def test_chat_with_a_published_agent(self):
        token = user()
        calc = stack.request("GET", "/api/v1/agents?q=calculator", token=token).json()["items"][0]
        s = stream(stack, {"agent_id": calc["id"], "message": "What is six times seven?"}, token)
        self.assertEqual(s.status, 200)
        events = s.events()
        start = events[0].json()
        self.assertEqual(start["agent_id"], calc["id"])
        self.assertIsNone(start["bot_id"])
        self.assertEqual(start["model"], "local")
        self.assertEqual(events[-1].type, "done")
        self.assertIn("offline model", text_of(events))
        chat = stack.request("GET", "/api/v1/chats/" + start["chat_id"], token=token).json()
        self.assertEqual(chat["agent_id"], calc["id"])
        self.assertIsNone(chat["bot_id"])
        self.assertEqual([m["agent_id"] for m in chat["messages"]], [calc["id"], calc["id"]])
        # the next turn of the same chat
        s = stream(stack, {"agent_id": calc["id"], "chat_id": start["chat_id"], "message": "and plus one?"},
                   token)
        self.assertEqual(s.events()[-1].type, "done")

    def test_bot_or_agent_not_both(self):
        token = user()
        calc = stack.request("GET", "/api/v1/agents?q=calculator", token=token).json()["items"][0]
        bot = stack.request("POST", "/api/v1/bots", {"name": "b"}, token=token).json()["id"]
        for body in ({"message": "hi"}, {"bot_id": bot, "agent_id": calc["id"], "message": "hi"},
                     {"agent_id": "not-a-uuid", "message": "hi"}):
            r = stack.request("POST", "/api/v1/chat", body, token=token)
            self.assertError(r, 400, "invalid_field")
        self.assertError(stack.request("POST", "/api/v1/chat", {"agent_id": str(uuid.uuid4()), "message": "hi"},
                                       token=token), 404, "agent_not_found")
        self.assertEqual(self.count("SELECT count(*) FROM chats c JOIN users u ON u.id = c.owner_id "
                                    "WHERE c.bot_id = '%s'" % bot), 0)


if __name__ == "__main__":
    unittest.main()
