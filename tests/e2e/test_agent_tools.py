"""End-to-end tests of an agent's tool-use loop (worker/agents/loop.c),
driven over HTTP against the real stack: the offline model calling the
tool a message names, and fake Bedrock and OpenAI servers (fakes.py)
scripting tool-use turns in their real wire formats: one tool, two at
once, input split across deltas, a tool that fails, one that times out,
a model that never stops asking (the step limit), a client that leaves;
the `tool_call` / `tool_result` events, the steps stored with the answer,
the history and the export, and the administrators' audit.

Run: python3 tests/e2e/run.py test_agent_tools.py
"""

import json
import os
import sys
import threading
import time
import unittest
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakes import (FakeBedrock, FakeOpenAI, Reply, DEFAULT_ACCESS_KEY_ID,  # noqa: E402
                   DEFAULT_SECRET_ACCESS_KEY, DEFAULT_API_KEY, tool_results)
from harness import Stack  # noqa: E402
from sse_client import chat_stream as stream, text_of  # noqa: E402

stack = bedrock = openai = slow = None
CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
GPT = "openai:gpt-test"

_n = iter(range(1, 1000000))


class SlowPage:
    """A web page on loopback that answers after `delay` seconds, for
    http_fetch timeouts (MANGOO_FETCH_ALLOW lets the worker reach it)."""

    def __init__(self, delay):
        outer = self
        self.hits = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                wait = float(self.path.rsplit("/", 1)[-1] or 0) if "/wait/" in self.path else 0
                time.sleep(wait)
                body = b"<html><body><h1>Slow page</h1><p>It came at last.</p></body></html>"
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def setUpModule():
    global stack, bedrock, openai, slow
    bedrock = FakeBedrock().start()
    openai = FakeOpenAI().start()
    slow = SlowPage(0)
    stack = Stack(workers=2, env={
        # a client that leaves stops its answer at once here (no grace to
        # come back in: test_resume covers that)
        "MANGOO_STREAM_GRACE": "0",
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
        "MANGOO_OPENAI_BASE_URL": openai.url + "/v1",
        "MANGOO_OPENAI_API_KEY": DEFAULT_API_KEY,
        "MANGOO_PROVIDER_TIMEOUT": "5",
        "MANGOO_PROVIDER_BACKOFF_MS": "50",
        "MANGOO_LOCAL_DELAY_MS": "1",
        "MANGOO_FETCH_ALLOW": "127.0.0.1/32",
    }).start()


def tearDownModule():
    for s in (stack, bedrock, openai, slow):
        if s is not None:
            s.stop()


def user():
    sub = "tools-user-%d" % next(_n)
    token = stack.token(sub=sub)
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return sub, token


def admin():
    token = stack.token(sub="tools-admin-%d" % next(_n), groups=("admin",))
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return token


def make_agent(model=CLAUDE, tools=("calculator", "current_time"), **limits):
    body = {"name": "tools %s" % uuid.uuid4().hex[:8], "category": "Testing",
            "model_id": model, "instructions": "Use your tools.", "tools": list(tools),
            "status": "published"}
    if limits:
        body["limits"] = limits
    r = stack.request("POST", "/api/v1/admin/agents", body, token=admin())
    assert r.status == 201, r
    return r.json()["id"]


def catalog(name):
    r = stack.request("GET", "/api/v1/agents?q=" + name.replace(" ", "%20"), token=user()[1])
    return next(a["id"] for a in r.json()["items"] if a["name"] == name)


def run(agent, message, token):
    s = stream(stack, {"agent_id": agent, "message": message}, token)
    events = s.events()
    s.close()
    return events


def kinds(events):
    """The event types in order, runs of message deltas as one."""
    out = []
    for e in events:
        if not (e.type == "message" and out and out[-1] == "message"):
            out.append(e.type)
    return out


def of(events, kind):
    return [e.json() for e in events if e.type == kind]


def stored(message_id):
    row = stack.psql("SELECT status || '|' || COALESCE(steps::text, 'null') FROM messages "
                     "WHERE id = '%s'" % message_id).strip()
    status, steps = row.split("|", 1)
    return status, json.loads(steps)


class Offline(unittest.TestCase):
    """The offline model calls a tool only when the message names it."""

    def test_a_named_tool_is_called_and_reported(self):
        sub, token = user()
        agent = catalog("Calculator")
        events = run(agent, "calculator: 2*(3+4)", token)
        self.assertEqual(kinds(events), ["start", "message", "tool_call", "tool_result",
                                         "message", "done"], events)
        call, = of(events, "tool_call")
        self.assertEqual((call["name"], call["input"], call["step"]),
                         ("calculator", {"expression": "2*(3+4)"}, 1))
        result, = of(events, "tool_result")
        self.assertEqual((result["id"], result["name"], result["ok"], result["summary"]),
                         (call["id"], "calculator", True, "14"))
        text = text_of(events)
        self.assertIn("Calling the calculator tool", text)
        self.assertIn("calculator returned: 14", text)
        self.assertIn("offline model", text)

        done = of(events, "done")[0]
        status, steps = stored(done["message_id"])
        self.assertEqual(status, "complete")
        self.assertEqual([s["stop_reason"] for s in steps], ["tool_use", "end_turn"])
        self.assertEqual(steps[0]["tool_calls"][0]["output"], "14")
        self.assertEqual(steps[1]["tool_calls"], [])
        self.assertIn("returned: 14", steps[1]["text"])

        # the history shows the steps; the audit has the call
        chat = events[0].json()["chat_id"]
        r = stack.request("GET", "/api/v1/chats/" + chat, token=token)
        answer = r.json()["messages"][-1]
        self.assertEqual(answer["steps"], steps)
        self.assertIsNone(r.json()["messages"][0]["steps"])
        r = stack.request("GET", "/api/v1/admin/tool-calls?user_id=" + sub, token=admin())
        self.assertEqual(r.status, 200, r)
        item, = r.json()["items"]
        self.assertEqual((item["tool"], item["ok"], item["output"], item["input"], item["step"]),
                         ("calculator", True, "14", {"expression": "2*(3+4)"}, 1))
        self.assertEqual((item["chat_id"], item["message_id"], item["agent_id"]),
                         (chat, done["message_id"], agent))

    def test_a_failing_tool_is_reported_as_failed(self):
        _, token = user()
        events = run(catalog("Calculator"), "calculator: 1/0", token)
        result, = of(events, "tool_result")
        self.assertEqual((result["ok"], result["summary"]), (False, "division by zero"))
        self.assertIn("calculator failed: division by zero", text_of(events))
        status, steps = stored(of(events, "done")[0]["message_id"])
        call = steps[0]["tool_calls"][0]
        self.assertEqual((call["ok"], call["output"], call["error"]),
                         (False, None, "division by zero"))

    def test_no_tool_named_no_tool_called(self):
        _, token = user()
        events = run(catalog("Calculator"), "what is two and two?", token)
        self.assertEqual(kinds(events), ["start", "message", "done"])
        self.assertIn("This agent can use these tools: calculator", text_of(events))
        # a tool the agent does not have is not called either
        events = run(catalog("Calculator"), "current_time: UTC", token)
        self.assertEqual(kinds(events), ["start", "message", "done"])

    def test_current_time_in_a_zone(self):
        _, token = user()
        events = run(catalog("Clock"), "current_time: Asia/Kolkata", token)
        result, = of(events, "tool_result")
        self.assertTrue(result["ok"], result)
        self.assertIn("IST (Asia/Kolkata, UTC+05:30)", result["summary"])
        events = run(catalog("Clock"), "current_time: Mars/Olympus_Mons", token)
        result, = of(events, "tool_result")
        self.assertFalse(result["ok"])
        self.assertIn("Mars/Olympus_Mons", result["summary"])

    def test_a_whole_answer_has_its_steps(self):
        _, token = user()
        r = stack.request("POST", "/api/v1/chat", {"agent_id": catalog("Calculator"),
                                                   "message": "calculator: 3^3"}, token=token)
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertIn("calculator returned: 27", body["content"])
        self.assertEqual(body["steps"][0]["tool_calls"][0]["output"], "27")
        self.assertEqual(stored(body["message_id"])[1], body["steps"])

    def test_the_export_has_the_steps(self):
        _, token = user()
        events = run(catalog("Calculator"), "calculator: 6*7", token)
        r = stack.request("GET", "/api/v1/users/me/export", token=token)
        self.assertEqual(r.status, 200, r)
        msgs = r.json()["chats"][0]["messages"]
        self.assertEqual(msgs[-1]["steps"][0]["tool_calls"][0]["output"], "42")
        self.assertEqual(msgs[-1]["agent_id"], events[0].json()["agent_id"])


class Knowledge(unittest.TestCase):
    """knowledge_search reads the caller's own bases, never another's."""

    def test_each_user_searches_only_their_own(self):
        _, owner = user()
        r = stack.request("POST", "/api/v1/knowledge-bases", body={"name": "atlas"}, token=owner)
        self.assertEqual(r.status, 201, r)
        kb = r.json()["id"]
        text = ("# Zorbania\n\nThe capital of Zorbania is Quuxville, on the river Blenn. "
                "It has three bridges and a famous cheese market.\n")
        r = stack.request("POST", "/api/v1/knowledge-bases/%s/documents?filename=%s"
                          % (kb, urllib.parse.quote("atlas.md")), raw=text.encode(),
                          token=owner, headers={"Content-Type": "text/markdown"})
        self.assertEqual(r.status, 202, r)
        doc = r.json()["id"]
        self.assertTrue(stack.wait_for(lambda: stack.request(
            "GET", "/api/v1/knowledge-bases/%s/documents/%s" % (kb, doc),
            token=owner).json()["status"] == "ready", timeout=30))

        agent = catalog("Research assistant")
        events = run(agent, "knowledge_search: capital of Zorbania", owner)
        result, = of(events, "tool_result")
        self.assertTrue(result["ok"], result)
        self.assertIn("atlas.md", result["summary"])
        status, steps = stored(of(events, "done")[0]["message_id"])
        self.assertIn("Quuxville", steps[0]["tool_calls"][0]["output"])

        _, stranger = user()
        events = run(agent, "knowledge_search: capital of Zorbania", stranger)
        result, = of(events, "tool_result")
        self.assertTrue(result["ok"], result)
        self.assertEqual(result["summary"],
                         "The user has no knowledge bases: there is nothing to search.")
        self.assertNotIn("Quuxville", json.dumps([e.json() for e in events]))


class BedrockTools(unittest.TestCase):
    def test_one_tool(self):
        _, token = user()
        agent = make_agent()
        before = len(bedrock.requests)
        bedrock.script(Reply(text="Let me work it out.",
                             tool_calls=[{"name": "calculator", "input": {"expression": "6*7"}}],
                             usage=(10, 5)),
                       Reply(text="It is 42.", usage=(30, 4)))
        events = run(agent, "what is six times seven?", token)
        self.assertEqual(kinds(events), ["start", "message", "tool_call", "tool_result",
                                         "message", "done"], events)
        self.assertEqual(text_of(events), "Let me work it out.\n\nIt is 42.")
        done = of(events, "done")[0]
        self.assertEqual(done["usage"], {"input_tokens": 40, "output_tokens": 9})
        first, second = bedrock.requests[before:]
        # the tools are offered as Bedrock's toolConfig
        names = [t["toolSpec"]["name"] for t in first["body"]["toolConfig"]["tools"]]
        self.assertEqual(names, ["calculator", "current_time"])
        # the step and its result go back as toolUse / toolResult
        said = second["body"]["messages"][-2]
        self.assertEqual(said["role"], "assistant")
        self.assertEqual(said["content"][0], {"text": "Let me work it out."})
        use = said["content"][1]["toolUse"]
        self.assertEqual((use["name"], use["input"]), ("calculator", {"expression": "6*7"}))
        self.assertEqual(tool_results(second["body"]), [(use["toolUseId"], "42", False)])
        status, steps = stored(done["message_id"])
        self.assertEqual(status, "complete")
        self.assertEqual([s["text"] for s in steps], ["Let me work it out.", "It is 42."])

    def test_two_tools_at_once_and_input_in_pieces(self):
        _, token = user()
        agent = make_agent()
        before = len(bedrock.requests)
        bedrock.script(Reply(tool_calls=[
            {"name": "calculator", "pieces": ['{"expr', 'ession":', ' "2^', '10"}']},
            {"name": "current_time", "input": {"timezone": "Europe/Paris"}}]),
            Reply())
        events = run(agent, "two things", token)
        self.assertEqual(kinds(events), ["start", "tool_call", "tool_call", "tool_result",
                                         "tool_result", "message", "done"], events)
        calls = of(events, "tool_call")
        self.assertEqual(calls[0]["input"], {"expression": "2^10"})
        results = {r["name"]: r for r in of(events, "tool_result")}
        self.assertEqual(results["calculator"]["summary"], "1024")
        self.assertIn("Europe/Paris", results["current_time"]["summary"])
        back = tool_results(bedrock.requests[before + 1]["body"])
        self.assertEqual([b[0] for b in back], [c["id"] for c in calls])
        self.assertEqual(back[0][1], "1024")
        # the fake echoes what the model was given
        self.assertIn("Tool results: 1024;", text_of(events))

    def test_a_tool_that_fails_and_one_the_agent_lacks(self):
        _, token = user()
        agent = make_agent(tools=("calculator",))
        before, hits = len(bedrock.requests), slow.hits
        bedrock.script(Reply(tool_calls=[{"name": "calculator", "input": {"expression": "1/0"}},
                                         {"name": "http_fetch", "input": {"url": slow.url}},
                                         {"name": "calculator", "pieces": ['{"expression": ']}]),
                       Reply(text="Sorry."))
        events = run(agent, "q", token)
        # results come as they finish: those that could not run at once
        calls = [c["id"] for c in of(events, "tool_call")]
        results = {r["id"]: (r["ok"], r["summary"]) for r in of(events, "tool_result")}
        self.assertEqual([results[c] for c in calls], [
            (False, "division by zero"),
            (False, "this agent has no tool called http_fetch"),
            (False, "the input is not a JSON object: call calculator again with a JSON object")])
        back = tool_results(bedrock.requests[before + 1]["body"])
        self.assertEqual([b[2] for b in back], [True, True, True])
        self.assertEqual(back[0][1], "division by zero")
        self.assertEqual(slow.hits, hits)          # the tool it lacks never ran
        self.assertEqual(of(events, "done")[0]["stop_reason"], "end_turn")

    def test_a_tool_that_times_out(self):
        _, token = user()
        agent = make_agent(tools=("http_fetch",), tool_timeout_seconds=1)
        before = len(bedrock.requests)
        bedrock.script(Reply(tool_calls=[{"name": "http_fetch",
                                          "input": {"url": slow.url + "/wait/3"}}]),
                       Reply(text="The page was too slow."))
        t0 = time.monotonic()
        events = run(agent, "fetch it", token)
        result, = of(events, "tool_result")
        self.assertEqual((result["ok"], result["summary"]),
                         (False, "the tool did not finish within its 1 s"))
        self.assertLess(time.monotonic() - t0, 2.9)     # not the page's 3 s
        self.assertEqual(tool_results(bedrock.requests[before + 1]["body"])[0][1:],
                         ("the tool did not finish within its 1 s", True))
        self.assertEqual(text_of(events), "The page was too slow.")

    def test_a_fetched_page_reaches_the_model(self):
        _, token = user()
        agent = make_agent(tools=("http_fetch",))
        before = len(bedrock.requests)
        bedrock.script(Reply(tool_calls=[{"name": "http_fetch", "input": {"url": slow.url}}]),
                       Reply(text="Read it."))
        events = run(agent, "fetch it", token)
        self.assertTrue(of(events, "tool_result")[0]["ok"], events)
        text = tool_results(bedrock.requests[before + 1]["body"])[0][1]
        self.assertIn("Slow page", text)
        self.assertIn("It came at last.", text)

    def test_the_step_limit_ends_a_model_that_never_stops(self):
        _, token = user()
        agent = make_agent(max_steps=3)
        before = len(bedrock.requests)
        ask = Reply(tool_calls=[{"name": "calculator", "input": {"expression": "1+1"}}])
        bedrock.script(ask, ask, ask, ask)
        events = run(agent, "loop", token)
        self.assertEqual(events[-1].type, "error", events)
        err = events[-1].json()
        self.assertEqual(err["code"], "agent_step_limit")
        self.assertIn("3 steps", err["message"])
        self.assertTrue(err["saved"])
        self.assertEqual(len(bedrock.requests) - before, 3)
        self.assertEqual(len(of(events, "tool_result")), 2)
        status, steps = stored(err["message_id"])
        self.assertEqual(status, "error")
        self.assertEqual(len(steps), 3)
        self.assertEqual(steps[2]["tool_calls"][0]["error"], "stopped: agent_step_limit")
        bedrock.script()        # the fourth scripted reply is left: drop it
        with bedrock._lock:
            bedrock._queue.clear()

    def test_the_client_leaving_stops_the_run(self):
        sub, token = user()
        agent = make_agent(tools=("http_fetch",), tool_timeout_seconds=10)
        before = len(bedrock.requests)
        bedrock.script(Reply(tool_calls=[{"name": "http_fetch",
                                          "input": {"url": slow.url + "/wait/2"}}]),
                       Reply(text="never asked"))
        s = stream(stack, {"agent_id": agent, "message": "go"}, token)
        chat = s.next().json()["chat_id"]
        self.assertEqual(s.next().type, "tool_call")
        s.close()                                   # while the tool runs
        rows = stack.wait_for(lambda: stack.psql(
            "SELECT status FROM messages WHERE chat_id = '%s' AND role = 'assistant'"
            % chat).strip(), timeout=5)
        self.assertEqual(rows, "cancelled")
        time.sleep(2.5)                             # the page has answered by now
        self.assertEqual(len(bedrock.requests) - before, 1)     # no next step
        with bedrock._lock:
            bedrock._queue.clear()

    def test_the_client_leaving_mid_step_drops_the_model(self):
        _, token = user()
        agent = make_agent()
        gone = bedrock.disconnects
        bedrock.script(Reply(pieces=["w%d " % i for i in range(100)], delay=0.05))
        s = stream(stack, {"agent_id": agent, "message": "go"}, token)
        s.next()
        self.assertEqual(s.next().type, "message")
        s.close()
        self.assertTrue(stack.wait_for(lambda: bedrock.disconnects > gone, timeout=5))


class OpenAITools(unittest.TestCase):
    def test_interleaved_calls(self):
        _, token = user()
        agent = make_agent(model=GPT)
        before = len(openai.requests)
        openai.script(Reply(tool_calls=[
            {"name": "calculator", "input": {"expression": "3*3"}},
            {"name": "calculator", "input": {"expression": "4*4"}}], interleave=True),
            Reply(text="9 and 16."))
        events = run(agent, "squares", token)
        # the two run side by side: their results come as each finishes
        asked = {c["id"]: c["input"]["expression"] for c in of(events, "tool_call")}
        self.assertEqual({asked[r["id"]]: r["summary"] for r in of(events, "tool_result")},
                         {"3*3": "9", "4*4": "16"})
        first, second = openai.requests[before:]
        self.assertEqual([t["function"]["name"] for t in first["body"]["tools"]],
                         ["calculator", "current_time"])
        msgs = second["body"]["messages"]
        self.assertEqual([m["role"] for m in msgs[-3:]], ["assistant", "tool", "tool"])
        self.assertEqual([json.loads(c["function"]["arguments"]) for c in
                          msgs[-3]["tool_calls"]], [{"expression": "3*3"}, {"expression": "4*4"}])
        self.assertEqual([m["content"] for m in msgs[-2:]], ["9", "16"])
        self.assertEqual(text_of(events), "9 and 16.")


class Audit(unittest.TestCase):
    def test_only_administrators_read_it(self):
        _, token = user()
        r = stack.request("GET", "/api/v1/admin/tool-calls", token=token)
        self.assertEqual(r.status, 403, r)

    def test_filters_and_pages(self):
        sub, token = user()
        run(catalog("Calculator"), "calculator: 1+1", token)
        run(catalog("Calculator"), "calculator: 2+2", token)
        run(catalog("Clock"), "current_time: UTC", token)
        boss = admin()
        r = stack.request("GET", "/api/v1/admin/tool-calls?user_id=%s&limit=1" % sub, token=boss)
        first = r.json()
        self.assertEqual([i["tool"] for i in first["items"]], ["current_time"])
        r = stack.request("GET", "/api/v1/admin/tool-calls?user_id=%s&limit=5&cursor=%s"
                          % (sub, first["next_cursor"]), token=boss)
        self.assertEqual([i["output"] for i in r.json()["items"]], ["4", "2"])
        r = stack.request("GET", "/api/v1/admin/tool-calls?user_id=%s&tool=calculator" % sub,
                          token=boss)
        self.assertEqual(len(r.json()["items"]), 2)
        r = stack.request("GET", "/api/v1/admin/tool-calls?limit=0", token=boss)
        self.assertEqual(r.status, 400, r)


if __name__ == "__main__":
    unittest.main()
