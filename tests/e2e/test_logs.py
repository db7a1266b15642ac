"""End-to-end tests of the logs: one request id follows a request from
nginx's JSON access log to the worker's JSON log (a line per job with its
job, user, outcome and duration) to the model provider (X-Request-Id on
Bedrock's and an OpenAI-compatible server's requests).  Every line of the
worker's log is one JSON object.  (What must never be in a log is checked
by the harness for every suite: harness.Stack.leaked_secrets.)

Run: python3 tests/e2e/run.py test_logs.py
"""

import json
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakes import (FakeBedrock, FakeOpenAI, DEFAULT_ACCESS_KEY_ID,  # noqa: E402
                   DEFAULT_SECRET_ACCESS_KEY, DEFAULT_API_KEY)
from harness import Stack, WORKER_BIN, _free_ports  # noqa: E402
from sse_client import chat_stream  # noqa: E402

CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
stack = bedrock = openai = None


def setUpModule():
    global stack, bedrock, openai
    bedrock = FakeBedrock().start()
    openai = FakeOpenAI().start()
    stack = Stack(workers=2, env={
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
        "MANGOO_OPENAI_BASE_URL": openai.url + "/v1",
        "MANGOO_OPENAI_API_KEY": DEFAULT_API_KEY,
    }).start()


def tearDownModule():
    for s in (stack, bedrock, openai):
        if s is not None:
            s.stop()


def worker_lines():
    out = []
    for i in range(stack.workers):
        for line in stack.log_text("worker-%d.log" % i).splitlines():
            out.append(json.loads(line))        # every line: one object
    return out


class Logs(unittest.TestCase):

    def test_the_client_address_behind_a_trusted_proxy(self):
        def logged(instance, r):
            """r's access log line (written just after the answer is sent)."""
            rid = r.header("x-request-id")
            return stack.wait_for(lambda: [l for l in instance.access_log()
                                           if l["request_id"] == rid], timeout=10)

        # the stack trusts no proxy: X-Forwarded-For is the client's say-so
        r = stack.request("GET", "/health", headers={"X-Forwarded-For": "203.0.113.9"})
        self.assertEqual(r.status, 200)
        line = logged(stack, r)
        self.assertTrue(line, "no access log line")
        self.assertEqual(line[0]["remote_addr"], "127.0.0.1")
        # one that trusts the load balancer's addresses takes the client's
        inst = stack.start_nginx("realip", env={"MANGOO_REAL_IP_FROM": "10.0.0.0/8 127.0.0.1"})
        try:
            r = inst.request("GET", "/health",
                             headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9, 10.1.2.3"})
            self.assertEqual(r.status, 200)
            line = logged(inst, r)
            self.assertTrue(line, "no access log line")
            # the first address from the right that is not a trusted proxy
            self.assertEqual(line[0]["remote_addr"], "203.0.113.9")
            # /metrics' allow list sees the client too: 403 for it
            r = inst.request("GET", "/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
            self.assertEqual(r.status, 403)
            self.assertEqual(r.json()["error"]["code"], "forbidden")
        finally:
            inst.stop()

    def test_one_request_id_from_nginx_to_the_worker(self):
        token = stack.token(sub="logs-user")
        r = stack.request("GET", "/api/v1/bots/nope", token=token)
        self.assertEqual(r.status, 404)
        rid = r.header("x-request-id")
        access = stack.wait_for(lambda: [l for l in stack.access_log()
                                         if l["request_id"] == rid], timeout=5)
        self.assertEqual(len(access), 1)
        self.assertEqual(access[0]["user_id"], "logs-user")
        self.assertEqual(access[0]["status"], 404)
        done = stack.wait_for(lambda: [l for l in worker_lines() if l.get("request_id") == rid
                                       and l["msg"] == "job done"], timeout=5)
        self.assertEqual(len(done), 1, done)
        line = done[0]
        self.assertEqual(line["job"], "bots.get")
        self.assertEqual(line["user"], "logs-user")
        self.assertEqual(line["outcome"], "not_found")
        self.assertEqual(line["level"], "info")
        self.assertGreater(line["duration_ms"], 0)
        self.assertEqual(access[0]["worker"], stack.worker_endpoint(
            [i for i in range(stack.workers)
             if rid in stack.log_text("worker-%d.log" % i)][0]))

    def test_the_provider_gets_the_request_id(self):
        token = stack.token(sub="logs-chat")
        for model, fake in ((CLAUDE, bedrock), ("openai:gpt-test", openai)):
            bot = stack.request("POST", "/api/v1/bots", {"name": "l", "model_id": model},
                                token=token).json()["id"]
            seen = len(fake.requests)
            s = chat_stream(stack, {"bot_id": bot, "message": "which id?"}, token)
            rid = s.header("x-request-id")
            self.assertEqual(s.events()[-1].type, "done")
            s.close()
            req = fake.wait_requests(seen + 1)[seen]
            self.assertEqual(req["headers"].get("x-request-id"), rid, model)
            if fake is bedrock:
                self.assertTrue(req["signature_ok"])
            done = stack.wait_for(lambda: [l for l in worker_lines()
                                           if l.get("request_id") == rid
                                           and l.get("job") == "chat.stream"], timeout=5)
            self.assertTrue(done)

    def test_the_secret_scan_finds_what_is_there(self):
        import harness
        token = stack.token(sub="logs-scan")
        r = stack.request("GET", "/api/v1/users/me", token=token)
        rid = r.header("x-request-id")
        self.assertTrue(stack.wait_for(lambda: rid in stack.log_text("nginx-access.log")))
        self.assertEqual(stack.leaked_secrets(), [])
        # a value that is in the log, taken for a secret, is found
        harness.SECRETS.add(rid)
        try:
            found = stack.leaked_secrets()
        finally:
            harness.SECRETS.discard(rid)
        self.assertTrue(any("nginx-access.log" in f for f in found), found)
        self.assertFalse(any(rid in f for f in found), "the report repeats the secret")

    def test_text_format_for_people_and_bad_settings_refused(self):
        r = subprocess.run([WORKER_BIN, "serve", "--no-migrate", "--bind", "tcp://127.0.0.1:1"],
                           env=dict(os.environ, MANGOO_LOG_FORMAT="xml"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("MANGOO_LOG_FORMAT", r.stderr)
        r = subprocess.run([WORKER_BIN, "serve", "--no-migrate", "--bind", "tcp://127.0.0.1:1"],
                           env=dict(os.environ, MANGOO_LOG_JOBS="sometimes"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("MANGOO_LOG_JOBS", r.stderr)
        # an error line of a serve that cannot start is JSON too
        self.assertTrue(r.stderr.startswith("{"), r.stderr)
        json.loads(r.stderr.splitlines()[0])


    def test_cloudwatch_metric_lines_and_bad_settings_refused(self):
        for env in ({"MANGOO_EMF_INTERVAL": "soon"}, {"MANGOO_EMF_INTERVAL": "-1"},
                    {"MANGOO_EMF_INTERVAL": "86401"},
                    {"MANGOO_EMF_INTERVAL": "5", "MANGOO_METRICS": "off"},
                    {"MANGOO_EMF_INTERVAL": "5", "MANGOO_EMF_SERVICE": "x" * 300}):
            r = subprocess.run([WORKER_BIN, "serve", "--no-migrate", "--bind", "tcp://127.0.0.1:1"],
                               env=dict(os.environ, **env), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=10)
            self.assertEqual(r.returncode, 2, env)
            self.assertIn("MANGOO_EMF_INTERVAL", r.stderr, env)
        # a worker with it on writes an EMF line a second to its log
        i = stack.workers + 5
        stack.start_worker(i, env={"MANGOO_EMF_INTERVAL": "1", "MANGOO_EMF_SERVICE": "logs-test",
                                   "MANGOO_WORKER_BIND": "tcp://127.0.0.1:%d" % _free_ports(1)})
        try:
            lines = stack.wait_for(lambda: [json.loads(l) for l in
                                            stack.log_text("worker-%d.log" % i).splitlines()
                                            if '"_aws"' in l], timeout=10)
            self.assertTrue(lines, "no EMF line")
            emf = lines[0]
            directive = emf["_aws"]["CloudWatchMetrics"][0]
            self.assertEqual(directive["Namespace"], "Mangoo")
            self.assertEqual(directive["Dimensions"], [["Service"]])
            self.assertEqual(emf["Service"], "logs-test")
            names = {m["Name"] for m in directive["Metrics"]}
            self.assertTrue({"QueueDepth", "BusyThreads", "StreamsOpen"} <= names, names)
            for name in names:                  # every metric's value is at the top
                self.assertIsInstance(emf[name], (int, float), name)
            self.assertEqual(emf["QueueDepth"], 0)
        finally:
            stack.signal_worker(i, signal.SIGTERM)


if __name__ == "__main__":
    unittest.main()
