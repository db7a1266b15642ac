"""End-to-end tests of agents that hand work to other agents: a sub-agent
is offered to its parent's model as a tool, and calling it runs the
sub-agent's own turn as an agent.run job over ZeroMQ, here on a second
worker process that nginx does not know and that serves only that agent
(MANGOO_AGENTS), as a specialised agent's own service would.  The client
sees `agent` start and end events with the sub-agent's path; the parent
gets the sub-agent's answer as the tool's result; the client leaving
stops the sub-agent's model too; the sub-agent's worker dying gives the
parent a failed result, not a hang.

Run: python3 tests/e2e/run.py test_subagents.py
"""

import os
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakes import (FakeBedrock, Reply, DEFAULT_ACCESS_KEY_ID,  # noqa: E402
                   DEFAULT_SECRET_ACCESS_KEY, tool_results)
from harness import Stack  # noqa: E402
from sse_client import chat_stream as stream, text_of  # noqa: E402

stack = bedrock = None
CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
SPECIALIST = "Specialist"
GHOST = "Ghost"

_n = iter(range(1, 1000000))


def setUpModule():
    global stack, bedrock
    bedrock = FakeBedrock().start()
    stack = Stack(workers=1, spare_workers=2, env={
        # a client that leaves stops its answer at once here (no grace to
        # come back in: test_resume covers that)
        "MANGOO_STREAM_GRACE": "0",
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
        "MANGOO_PROVIDER_TIMEOUT": "20",
        "MANGOO_LOCAL_DELAY_MS": "1",
    })
    # the specialist runs on worker 1 only; nothing listens for the ghost
    stack.env["MANGOO_AGENT_ENDPOINTS"] = "%s=%s,%s=%s" % (
        SPECIALIST, stack.worker_endpoint(1), GHOST, stack.worker_endpoint(2))
    stack.start()
    start_specialist()


def tearDownModule():
    for s in (stack, bedrock):
        if s is not None:
            s.stop()


def start_specialist():
    stack.start_worker(1, env={"MANGOO_AGENTS": SPECIALIST})
    assert stack.wait_for(lambda: "serving on" in stack.log_text("worker-1.log"), timeout=10)


def user():
    token = stack.token(sub="sub-user-%d" % next(_n))
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return token


def admin():
    token = stack.token(sub="sub-admin-%d" % next(_n), groups=("admin",))
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return token


def agent(name, **fields):
    body = {"name": name, "category": "Testing", "model_id": CLAUDE, "status": "published"}
    body.update(fields)
    r = stack.request("POST", "/api/v1/admin/agents", body, token=admin())
    if r.status == 409:                     # made by an earlier test
        r = stack.request("GET", "/api/v1/admin/agents?q=" + name, token=admin())
        return next(a["id"] for a in r.json()["items"] if a["name"] == name)
    assert r.status == 201, r
    return r.json()["id"]


def of(events, kind):
    return [e.json() for e in events if e.type == kind]


def run(agent_id, message, token):
    s = stream(stack, {"agent_id": agent_id, "message": message}, token)
    events = s.events()
    s.close()
    return events


def clear_script():
    with bedrock._lock:
        bedrock._queue.clear()


class Offline(unittest.TestCase):
    def test_the_orchestrator_hands_a_task_to_the_calculator(self):
        token = user()
        r = stack.request("GET", "/api/v1/agents?q=Orchestrator", token=token)
        orchestrator = r.json()["items"][0]["id"]
        events = run(orchestrator, "calculator: calculator: 6*7", token)
        call, = of(events, "tool_call")
        self.assertEqual((call["name"], call["input"]),
                         ("calculator", {"task": "calculator: 6*7"}))
        agents = of(events, "agent")
        self.assertEqual([(a["path"], a["state"]) for a in agents],
                         [("orchestrator/calculator", "start"), ("orchestrator/calculator", "end")])
        self.assertTrue(agents[1]["ok"])
        result, = of(events, "tool_result")
        self.assertTrue(result["ok"], result)
        self.assertIn("calculator returned: 42", result["summary"])
        self.assertIn("calculator returned: 42", text_of(events))
        # the sub-agent's own steps are kept inside the call
        done = of(events, "done")[0]
        steps = stack.psql("SELECT steps::text FROM messages WHERE id = '%s'" % done["message_id"])
        self.assertIn('"output": "42"', steps.replace('":"', '": "'))


class OtherWorker(unittest.TestCase):
    def setUp(self):
        clear_script()
        self.specialist = agent(SPECIALIST, tools=["calculator"])
        self.boss = agent("Boss", sub_agents=[self.specialist])

    def test_a_sub_agent_runs_on_its_own_worker(self):
        token = user()
        before = len(bedrock.requests)
        bedrock.script(
            Reply(tool_calls=[{"name": "specialist", "input": {"task": "square 12"}}],
                  usage=(10, 2)),
            Reply(text="It is 144.", usage=(5, 3)),           # the specialist
            Reply(text="The specialist says 144.", usage=(20, 5)))
        events = run(self.boss, "what is 12 squared?", token)
        self.assertEqual([(a["path"], a["state"]) for a in of(events, "agent")],
                         [("boss/specialist", "start"), ("boss/specialist", "end")])
        result, = of(events, "tool_result")
        self.assertEqual((result["ok"], result["summary"]), (True, "It is 144."))
        self.assertEqual(text_of(events), "The specialist says 144.")
        done = of(events, "done")[0]
        self.assertEqual(done["usage"], {"input_tokens": 35, "output_tokens": 10})
        boss1, spec, boss2 = bedrock.requests[before:]
        self.assertEqual([t["toolSpec"]["name"] for t in boss1["body"]["toolConfig"]["tools"]],
                         ["specialist"])
        self.assertEqual(spec["body"]["messages"][0]["content"][0]["text"], "square 12")
        self.assertEqual(tool_results(boss2["body"])[0][1:], ("It is 144.", False))
        # it ran on worker 1, the only one serving it
        self.assertIn("agent.run", stack.log_text("worker-1.log"))
        self.assertIn("boss/specialist", stack.log_text("worker-1.log"))
        self.assertNotIn("boss/specialist", stack.log_text("worker-0.log"))

    def test_its_worker_dying_mid_run_fails_the_call(self):
        token = user()
        bedrock.script(
            Reply(tool_calls=[{"name": "specialist", "input": {"task": "think hard"}}]),
            Reply(pieces=["thinking ", "more "], hang_after=1),  # the specialist hangs
            Reply(text="The specialist is gone."))
        before = len(bedrock.requests)
        s = stream(stack, {"agent_id": self.boss, "message": "go"}, token)
        try:
            seen = []
            while not any(e.type == "agent" for e in seen):
                seen.append(s.next())
            # the specialist is talking to its model when its worker dies
            self.assertTrue(stack.wait_for(lambda: len(bedrock.requests) >= before + 2,
                                           timeout=5))
            t0 = time.monotonic()
            stack.kill_worker(1)
            rest = s.events()
        finally:
            s.close()
            start_specialist()
        result, = of(rest, "tool_result")
        self.assertFalse(result["ok"])
        self.assertIn("went away mid-run", result["summary"])
        self.assertLess(time.monotonic() - t0, 8)
        self.assertEqual(text_of(rest), "The specialist is gone.")
        self.assertEqual(rest[-1].type, "done")

    def test_the_client_leaving_stops_the_sub_agent(self):
        token = user()
        gone = bedrock.disconnects
        before = len(bedrock.requests)
        bedrock.script(
            Reply(tool_calls=[{"name": "specialist", "input": {"task": "take your time"}}]),
            Reply(pieces=["slow "], hang_after=1),
            Reply(text="never asked"))
        s = stream(stack, {"agent_id": self.boss, "message": "go"}, token)
        chat = s.next().json()["chat_id"]
        while s.next().type != "agent":
            pass
        self.assertTrue(stack.wait_for(lambda: len(bedrock.requests) >= before + 2, timeout=5))
        s.close()
        # the cancel went down: the specialist's model connection is dropped
        self.assertTrue(stack.wait_for(lambda: bedrock.disconnects > gone, timeout=5))
        status = stack.wait_for(lambda: stack.psql(
            "SELECT status FROM messages WHERE chat_id = '%s' AND role = 'assistant'"
            % chat).strip(), timeout=5)
        self.assertEqual(status, "cancelled")
        time.sleep(0.5)
        self.assertEqual(len(bedrock.requests), before + 2)    # the boss never went on
        clear_script()

    def test_a_retired_sub_agent_is_not_offered(self):
        token = user()
        helper = agent("Helper %s" % uuid.uuid4().hex[:6])
        boss = agent("Boss %s" % uuid.uuid4().hex[:6], sub_agents=[self.specialist, helper])
        r = stack.request("PATCH", "/api/v1/admin/agents/" + helper, {"status": "retired"},
                          token=admin())
        self.assertEqual(r.status, 200, r)
        before = len(bedrock.requests)
        bedrock.script(Reply(text="fine"))
        run(boss, "hi", token)
        tools = bedrock.requests[before]["body"]["toolConfig"]["tools"]
        self.assertEqual([t["toolSpec"]["name"] for t in tools], ["specialist"])

    def test_a_sub_agent_nobody_serves_fails_the_call(self):
        token = user()
        ghost = agent(GHOST)
        boss = agent("Ghost boss", sub_agents=[ghost])
        bedrock.script(Reply(tool_calls=[{"name": "ghost", "input": {"task": "boo"}}]),
                       Reply(text="Nobody answered."))
        events = run(boss, "go", token)
        result, = of(events, "tool_result")
        self.assertFalse(result["ok"])
        self.assertIn("cannot be reached", result["summary"])
        self.assertEqual(text_of(events), "Nobody answered.")


if __name__ == "__main__":
    unittest.main()
