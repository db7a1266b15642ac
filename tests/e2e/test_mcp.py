"""End-to-end tests of MCP servers as agents' tools, against the running
stack: administrators register servers (/api/v1/admin/mcp-servers), list
their tools and allow some; an agent given "mcp:<server>/<tool>" calls it
through the worker's MCP client.  Against real servers nobody here wrote:
the MCP project's reference server `@modelcontextprotocol/server-everything`
(tests/mcp/package.json) over stdio and over Streamable HTTP; and the
project's own fake (tests/mcp/fake_stdio_server.py) for the faults:
down, slow, malformed, enormous, exiting, its tool list changing; the
HTTP fake (tests/mcp/fake_http_server.py) for a change said on the
server's own stream, with no call running; and the MCP project's
conformance suite for clients (`@modelcontextprotocol/conformance`,
scenarios initialize, tools_call and sse-retry) driving
`mangoo-worker mcp-check`.

Run: python3 tests/e2e/run.py test_mcp.py
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakes import (FakeBedrock, Reply, DEFAULT_ACCESS_KEY_ID,  # noqa: E402
                   DEFAULT_SECRET_ACCESS_KEY, tool_results)
from harness import Stack, TOP  # noqa: E402
from sse_client import chat_stream as stream, text_of  # noqa: E402

EVERYTHING = os.path.join(TOP, "tests", "mcp", "node_modules", "@modelcontextprotocol",
                          "server-everything", "dist", "index.js")
FAKE_STDIO = os.path.join(TOP, "tests", "mcp", "fake_stdio_server.py")
FAKE_HTTP = os.path.join(TOP, "tests", "mcp", "fake_http_server.py")
WORKER = os.path.join(TOP, "build", "mangoo-worker")
CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"

stack = bedrock = everything_http = None
_n = iter(range(1, 1000000))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("nothing listens on %d" % port)


class Process:
    """A server process the tests start and stop."""

    def __init__(self, argv, env=None):
        self.port = free_port()
        self.proc = subprocess.Popen(argv, env=dict(os.environ, PORT=str(self.port), **(env or {})),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        self.url = "http://127.0.0.1:%d/mcp" % self.port

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def setUpModule():
    global stack, bedrock, everything_http
    bedrock = FakeBedrock().start()
    # Node 18's crypto global is behind a flag; the server's SDK needs it
    everything_http = Process(["node", EVERYTHING, "streamableHttp"],
                              env={"NODE_OPTIONS": "--experimental-global-webcrypto"})
    stack = Stack(workers=1, env={
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
        "MANGOO_LOCAL_DELAY_MS": "1",
        "MANGOO_TIMEOUT": "30s",
    }).start()


def tearDownModule():
    for s in (stack, bedrock, everything_http):
        if s is not None:
            s.stop()


def admin():
    token = stack.token(sub="mcp-admin-%d" % next(_n), groups=("admin",))
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return token


def user():
    token = stack.token(sub="mcp-user-%d" % next(_n))
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return token


def short(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:6])


def register(body, status=201):
    r = stack.request("POST", "/api/v1/admin/mcp-servers", body, token=admin())
    assert r.status == status, r
    return r.json()


def refresh(server_id, status=200):
    r = stack.request("POST", "/api/v1/admin/mcp-servers/%s/refresh" % server_id, token=admin())
    assert r.status == status, r
    return r.json()


def allow(server_id, tools):
    r = stack.request("PATCH", "/api/v1/admin/mcp-servers/" + server_id,
                      {"allowed_tools": tools}, token=admin())
    assert r.status == 200, r
    return r.json()


def make_agent(tools, model="local", **limits):
    body = {"name": short("mcp agent"), "category": "Testing", "model_id": model,
            "tools": tools, "status": "published"}
    if limits:
        body["limits"] = limits
    r = stack.request("POST", "/api/v1/admin/agents", body, token=admin())
    assert r.status == 201, r
    return r.json()["id"]


def run(agent, message, token=None):
    s = stream(stack, {"agent_id": agent, "message": message}, token or user())
    events = s.events()
    s.close()
    return events


def of(events, kind):
    return [e.json() for e in events if e.type == kind]


def everything_stdio(name=None):
    server = register({"name": name or short("every"), "transport": "stdio",
                       "command": ["node", EVERYTHING, "stdio"]})
    return server


class Administration(unittest.TestCase):
    def test_only_administrators(self):
        token = user()
        for method, path in (("GET", "/api/v1/admin/mcp-servers"),
                             ("POST", "/api/v1/admin/mcp-servers")):
            r = stack.request(method, path, {"name": "x", "transport": "stdio",
                                             "command": ["true"]}, token=token)
            self.assertEqual(r.status, 403, r)
        self.assertEqual(stack.psql("SELECT count(*) FROM mcp_servers WHERE name = 'x'"), "0")

    def test_bad_bodies_change_nothing(self):
        before = stack.psql("SELECT count(*) FROM mcp_servers")
        for body in ({"name": "Bad Name", "transport": "stdio", "command": ["true"]},
                     {"name": "ok", "transport": "http"},
                     {"name": "ok", "transport": "http", "url": "ftp://x"},
                     {"name": "ok", "transport": "stdio", "command": []},
                     {"name": "ok", "transport": "stdio", "command": ["true"], "url": "http://x"},
                     {"name": "ok", "transport": "carrier-pigeon"},
                     {"name": "ok", "transport": "stdio", "command": ["true"], "colour": "red"},
                     {"name": "ok", "transport": "http", "url": "http://x",
                      "headers": {"X-Bad": "a\r\nInjected: yes"}},
                     {"name": "ok", "transport": "stdio", "command": ["true"],
                      "allowed_tools": ["not a name"]},
                     [1, 2]):
            r = stack.request("POST", "/api/v1/admin/mcp-servers", body, token=admin())
            self.assertEqual(r.status, 400, (body, r))
        self.assertEqual(stack.psql("SELECT count(*) FROM mcp_servers"), before)

    def test_a_bad_change_changes_nothing(self):
        server = register({"name": short("keep"), "transport": "stdio", "command": ["true"]})
        for body in ({"url": "http://127.0.0.1:1/mcp"},          # without its transport
                     {"transport": "http"},                      # without its url
                     {"enabled": "yes"},
                     {"headers": {"Bad Name": "x"}}):
            r = stack.request("PATCH", "/api/v1/admin/mcp-servers/" + server["id"], body,
                              token=admin())
            self.assertEqual(r.status, 400, (body, r))
        r = stack.request("GET", "/api/v1/admin/mcp-servers/" + server["id"], token=admin())
        self.assertEqual(r.json(), server)

    def test_an_agent_names_mcp_tools_properly(self):
        for ref in ("mcp:Upper/echo", "mcp:srv", "mcp:srv/has space", "mcp:/echo",
                    "mcp:%s/%s" % ("s" * 32, "t" * 40)):
            r = stack.request("POST", "/api/v1/admin/agents",
                              {"name": short("bad ref"), "category": "Testing", "tools": [ref]},
                              token=admin())
            self.assertEqual(r.status, 400, (ref, r))
            self.assertEqual(r.json()["error"]["code"], "invalid_field")

    def test_secrets_are_not_shown_and_names_are_unique(self):
        name = short("secret")
        server = register({"name": name, "transport": "http", "url": everything_http.url,
                           "headers": {"Authorization": "Bearer s3cr3t"}})
        self.assertEqual(server["headers"], ["Authorization"])
        self.assertNotIn("s3cr3t", json.dumps(server))
        r = stack.request("GET", "/api/v1/admin/mcp-servers", token=admin())
        self.assertNotIn("s3cr3t", r.body.decode() if isinstance(r.body, bytes) else r.body)
        register({"name": name, "transport": "stdio", "command": ["true"]}, status=409)
        r = stack.request("DELETE", "/api/v1/admin/mcp-servers/" + server["id"], token=admin())
        self.assertEqual(r.status, 204, r)
        r = stack.request("GET", "/api/v1/admin/mcp-servers/" + server["id"], token=admin())
        self.assertEqual(r.status, 404, r)


class Everything(unittest.TestCase):
    """The reference server, over both transports."""

    def check_echo(self, server):
        listed = refresh(server["id"])
        names = [t["name"] for t in listed["tools"]]
        self.assertIn("echo", names)
        self.assertIn("get-sum", names)
        prefix = server["name"]
        # nothing is allowed yet: an agent naming it is offered nothing
        agent = make_agent(["mcp:%s/echo" % prefix])
        events = run(agent, "%s__echo: hello" % prefix)
        self.assertEqual(of(events, "tool_call"), [])
        allow(server["id"], ["echo"])
        events = run(agent, "%s__echo: hello there" % prefix)
        call, = of(events, "tool_call")
        self.assertEqual((call["name"], call["input"]),
                         ("%s__echo" % prefix, {"message": "hello there"}))
        result, = of(events, "tool_result")
        self.assertTrue(result["ok"], result)
        self.assertEqual(result["summary"], "Echo: hello there")
        self.assertIn("returned: Echo: hello there", text_of(events))

    def test_stdio(self):
        self.check_echo(everything_stdio())

    def test_streamable_http(self):
        self.check_echo(register({"name": short("everyhttp"), "transport": "http",
                                  "url": everything_http.url}))

    def test_a_model_calls_with_structured_input(self):
        server = everything_stdio()
        refresh(server["id"])
        allow(server["id"], ["get-sum", "echo"])
        agent = make_agent(["mcp:%s/get-sum" % server["name"]], model=CLAUDE)
        before = len(bedrock.requests)
        tool = "%s__get-sum" % server["name"]
        bedrock.script(Reply(tool_calls=[{"name": tool, "input": {"a": 2, "b": 40}}]),
                       Reply(text="It is 42."))
        events = run(agent, "add them")
        offered = bedrock.requests[before]["body"]["toolConfig"]["tools"]
        self.assertEqual([t["toolSpec"]["name"] for t in offered], [tool])
        self.assertIn("a", offered[0]["toolSpec"]["inputSchema"]["json"]["properties"])
        result, = of(events, "tool_result")
        self.assertTrue(result["ok"], result)
        self.assertIn("42", result["summary"])
        self.assertIn("42", tool_results(bedrock.requests[before + 1]["body"])[0][1])

    def test_a_slow_tool_times_out(self):
        server = everything_stdio()
        refresh(server["id"])
        allow(server["id"], ["trigger-long-running-operation"])
        agent = make_agent(["mcp:%s/trigger-long-running-operation" % server["name"]],
                           model=CLAUDE, tool_timeout_seconds=1)
        tool = "%s__trigger-long-running-operation" % server["name"]
        bedrock.script(Reply(tool_calls=[{"name": tool, "input": {"duration": 10, "steps": 5}}]),
                       Reply(text="Too slow."))
        t0 = time.monotonic()
        events = run(agent, "wait")
        result, = of(events, "tool_result")
        self.assertFalse(result["ok"], result)
        self.assertLess(time.monotonic() - t0, 6)
        self.assertEqual(text_of(events), "Too slow.")


class Faults(unittest.TestCase):
    """Every fault is a failed call the model is told about, never a hang."""

    @classmethod
    def setUpClass(cls):
        cls.server = register({"name": short("fake"), "transport": "stdio",
                               "command": ["python3", FAKE_STDIO],
                               "allowed_tools": ["echo", "fail", "malformed", "huge", "hang",
                                                 "exit", "cancels", "list_changed"]})
        refresh(cls.server["id"])
        cls.agent = make_agent(["mcp:%s/%s" % (cls.server["name"], t) for t in
                                ("echo", "fail", "malformed", "huge", "hang", "exit", "cancels",
                                 "list_changed")], model=CLAUDE, tool_timeout_seconds=2)

    def call(self, tool, arguments=None):
        name = "%s__%s" % (self.server["name"], tool)
        bedrock.script(Reply(tool_calls=[{"name": name, "input": arguments or {}}]),
                       Reply(text="noted"))
        events = run(self.agent, "use %s" % tool)
        self.assertEqual(events[-1].type, "done", events)
        result, = of(events, "tool_result")
        return result

    def test_the_tool_says_it_failed(self):
        self.assertEqual((self.call("fail")["ok"], self.call("fail")["summary"]),
                         (False, "it went wrong"))

    def test_malformed_json_rpc(self):
        result = self.call("malformed")
        self.assertFalse(result["ok"])
        self.assertIn("JSON", result["summary"])
        self.assertTrue(self.call("echo", {"text": "still here"})["ok"])

    def test_an_enormous_result(self):
        result = self.call("huge", {"bytes": 3 * 1024 * 1024})
        self.assertFalse(result["ok"])
        self.assertTrue(self.call("echo", {"text": "still here"})["ok"])

    def test_a_hanging_tool_times_out_and_is_cancelled(self):
        t0 = time.monotonic()
        result = self.call("hang")
        self.assertFalse(result["ok"])
        self.assertLess(time.monotonic() - t0, 8)
        # the server was told to stop
        cancels = stack.wait_for(lambda: json.loads(self.call("cancels")["summary"]) or None,
                                 timeout=5)
        self.assertTrue(cancels)
        self.assertIn("requestId", cancels[-1])

    def test_a_server_that_exits_is_restarted(self):
        result = self.call("exit")
        self.assertFalse(result["ok"])
        self.assertIn("exited", result["summary"])
        time.sleep(1.1)                             # one restart a second at most
        self.assertEqual(self.call("echo", {"text": "back"})["summary"], "back")

    def test_a_changed_tool_list_is_read_again(self):
        before = stack.psql("SELECT tools_listed_at FROM mcp_servers WHERE id = '%s'"
                            % self.server["id"])
        self.assertTrue(self.call("list_changed")["ok"])
        self.assertTrue(stack.wait_for(lambda: stack.psql(
            "SELECT tools_listed_at FROM mcp_servers WHERE id = '%s'" % self.server["id"])
            != before, timeout=5))

    def test_a_server_that_is_down(self):
        server = register({"name": short("down"), "transport": "http",
                           "url": "http://127.0.0.1:%d/mcp" % free_port()})
        r = stack.request("POST", "/api/v1/admin/mcp-servers/%s/refresh" % server["id"],
                          token=admin())
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.json()["error"]["code"], "mcp_unavailable")
        r = stack.request("GET", "/api/v1/admin/mcp-servers/" + server["id"], token=admin())
        self.assertTrue(r.json()["last_error"])
        self.assertIsNone(r.json()["tools"])


class ServerStream(unittest.TestCase):
    """A Streamable HTTP server says its tools changed on its own stream
    (the GET the worker keeps open), between calls: the next call's end
    lists them again."""

    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        # it exits when its stdin ends, so it never outlives the tests
        cls.proc = subprocess.Popen(["python3", FAKE_HTTP, "--port", str(cls.port)],
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        wait_port(cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.proc.stdin.close()
        cls.proc.wait(5)

    def control(self, what):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.request("GET", "/control/" + what)
        body = json.loads(conn.getresponse().read())
        conn.close()
        return body

    def test_a_change_between_calls_is_read(self):
        server = register({"name": short("listen"), "transport": "http",
                           "url": "http://127.0.0.1:%d/listen" % self.port})
        self.assertNotIn("extra", [t["name"] for t in refresh(server["id"])["tools"]])
        allow(server["id"], ["echo"])
        agent = make_agent(["mcp:%s/echo" % server["name"]], model=CLAUDE)
        tool = "%s__echo" % server["name"]

        def echo(text):
            bedrock.script(Reply(tool_calls=[{"name": tool, "input": {"text": text}}]),
                           Reply(text="said"))
            result, = of(run(agent, "say it"), "tool_result")
            return result

        self.assertEqual(echo("one")["summary"], "one")
        # the worker keeps the server's stream open, and hears the change on it
        self.assertTrue(stack.wait_for(lambda: self.control("streams")["open"] >= 1))
        self.control("add_tool")

        def listed():
            self.assertTrue(echo("two")["ok"])
            r = stack.request("GET", "/api/v1/admin/mcp-servers/" + server["id"], token=admin())
            return "extra" in [t["name"] for t in r.json()["tools"]]
        self.assertTrue(stack.wait_for(listed, timeout=10, interval=0.5))


def marked(mark):
    """The processes whose environment has MG_TEST_MARK=mark."""
    found = 0
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                found += ("MG_TEST_MARK=%s" % mark).encode() in f.read().split(b"\0")
        except (OSError, ValueError):
            pass
    return found


class Letting(unittest.TestCase):
    """A server an administrator disables, deletes or changes is let go by
    every worker process at once: its stream closed, its process stopped."""

    @classmethod
    def setUpClass(cls):
        ServerStream.setUpClass.__func__(cls)

    @classmethod
    def tearDownClass(cls):
        ServerStream.tearDownClass.__func__(cls)

    control = ServerStream.control

    def test_a_disabled_or_deleted_http_server(self):
        for how in ("disable", "delete"):
            server = register({"name": short("letgo"), "transport": "http",
                               "url": "http://127.0.0.1:%d/listen" % self.port})
            refresh(server["id"])
            self.assertTrue(stack.wait_for(lambda: self.control("streams")["open"] == 1), how)
            if how == "disable":
                r = stack.request("PATCH", "/api/v1/admin/mcp-servers/" + server["id"],
                                  {"enabled": False}, token=admin())
                self.assertEqual(r.status, 200, r)
            else:
                r = stack.request("DELETE", "/api/v1/admin/mcp-servers/" + server["id"],
                                  token=admin())
                self.assertEqual(r.status, 204, r)
            self.assertTrue(stack.wait_for(lambda: self.control("streams")["open"] == 0), how)

    def test_a_deleted_or_changed_stdio_server(self):
        for how in ("delete", "change"):
            mark = uuid.uuid4().hex
            server = register({"name": short("letgo"), "transport": "stdio",
                               "command": ["python3", FAKE_STDIO], "env": {"MG_TEST_MARK": mark}})
            refresh(server["id"])
            self.assertEqual(marked(mark), 1)
            if how == "change":
                r = stack.request("PATCH", "/api/v1/admin/mcp-servers/" + server["id"],
                                  {"env": {"MG_TEST_MARK": "other-" + mark}}, token=admin())
                self.assertEqual(r.status, 200, r)
            else:
                r = stack.request("DELETE", "/api/v1/admin/mcp-servers/" + server["id"],
                                  token=admin())
                self.assertEqual(r.status, 204, r)
            self.assertTrue(stack.wait_for(lambda: marked(mark) == 0), how)


class Conformance(unittest.TestCase):
    """The MCP project's own suite, its client scenarios, against the
    worker's client (mangoo-worker mcp-check)."""

    def scenario(self, name):
        r = subprocess.run(["npx", "--no-install", "conformance", "client", "--command",
                            WORKER + " mcp-check", "--scenario", name],
                           cwd=os.path.join(TOP, "tests", "mcp"), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:])
        self.assertIn("OVERALL: PASSED", r.stdout)
        self.assertRegex(r.stdout, r"Passed: (\d+)/\1, 0 failed")

    def test_initialize(self):
        self.scenario("initialize")

    def test_tools_call(self):
        self.scenario("tools_call")

    def test_sse_retry(self):
        # an answer's stream closed early: resumed by a GET with
        # Last-Event-ID after the server's retry time
        self.scenario("sse-retry")


if __name__ == "__main__":
    unittest.main()
