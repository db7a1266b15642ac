"""End-to-end tests of the worker's own metrics (worker/metrics.h): a
worker asked for job "metrics" as the nginx module asks (here through
`mangoo-worker metrics ENDPOINT`, no nginx in between) answers with the
Prometheus text, which moves with real traffic (jobs, chat turns through
the offline model and a fake Bedrock with retries, statements, the read
cache, flow control's credit) and passes Prometheus' own linter.

Run: python3 tests/e2e/run.py test_worker_metrics.py
"""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakes import (FakeBedrock, Reply, DEFAULT_ACCESS_KEY_ID,  # noqa: E402
                   DEFAULT_SECRET_ACCESS_KEY)
from harness import Stack, WORKER_BIN  # noqa: E402
from sse_client import chat_stream  # noqa: E402

CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
stack = bedrock = None

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def setUpModule():
    global stack, bedrock
    bedrock = FakeBedrock().start()
    # one worker process, so every request below is counted in the one render
    stack = Stack(workers=1, env={
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
        "MANGOO_PROVIDER_BACKOFF_MS": "10",
    }).start()


def tearDownModule():
    for s in (stack, bedrock):
        if s is not None:
            s.stop()


def scrape():
    """The worker's text, as its metrics job answers it."""
    out = subprocess.run([WORKER_BIN, "metrics", stack.worker_endpoint(0)],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return out.stdout


def samples(text):
    """{(name, frozenset(labels)): value} of every sample line."""
    got = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, line
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        got[(m.group(1), labels)] = float(m.group(4))
    return got


def value(s, name, **labels):
    return s.get((name, frozenset(labels.items())), 0.0)


def total(s, name, **labels):
    """The sum over every series of name that has labels."""
    want = set(labels.items())
    return sum(v for (n, ls), v in s.items() if n == name and want <= set(ls))


class WorkerMetrics(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.token = stack.token(sub="metrics-user")
        r = stack.request("POST", "/api/v1/bots", {"name": "m", "model_id": "local"},
                          token=cls.token)
        assert r.status == 201, r
        cls.bot = r.json()["id"]
        r = stack.request("POST", "/api/v1/bots", {"name": "c", "model_id": CLAUDE},
                          token=cls.token)
        assert r.status == 201, r
        cls.claude = r.json()["id"]

    def test_text_is_well_formed_and_lints_clean(self):
        text = scrape()
        names = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
        self.assertEqual(len(names), len(set(n for n, _ in names)), "a family twice")
        for n, t in names:
            self.assertTrue(n.startswith("mangoo_worker_"), n)
            if t == "counter":
                self.assertTrue(n.endswith("_total"), n)
        helps = re.findall(r"^# HELP (\S+) ", text, re.M)
        self.assertEqual(helps, [n for n, _ in names])
        samples(text)
        self.assertGreater(value(samples(text), "mangoo_worker_start_time_seconds"), 1.6e9)
        if not os.access(PROMTOOL, os.X_OK):
            self.skipTest("promtool is not installed")
        lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                              text=True, timeout=30)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)

    def test_jobs_and_outcomes_move(self):
        before = samples(scrape())
        for _ in range(3):
            self.assertEqual(stack.request("GET", "/api/v1/bots/" + self.bot,
                                           token=self.token).status, 200)
        self.assertEqual(stack.request("GET", "/api/v1/bots/00000000-0000-4000-8000-000000000000",
                                       token=self.token).status, 404)
        after = samples(scrape())
        self.assertEqual(value(after, "mangoo_worker_jobs_total", job="bots.get", outcome="ok")
                         - value(before, "mangoo_worker_jobs_total", job="bots.get",
                                 outcome="ok"), 3)
        self.assertEqual(value(after, "mangoo_worker_jobs_total", job="bots.get",
                               outcome="not_found")
                         - value(before, "mangoo_worker_jobs_total", job="bots.get",
                                 outcome="not_found"), 1)
        self.assertEqual(value(after, "mangoo_worker_job_duration_seconds_count", job="bots.get")
                         - value(before, "mangoo_worker_job_duration_seconds_count",
                                 job="bots.get"), 4)
        # reads of one bot: the first may miss, the rest are the cache's
        self.assertGreaterEqual(total(after, "mangoo_worker_read_cache_requests_total",
                                      result="hit")
                                - total(before, "mangoo_worker_read_cache_requests_total",
                                        result="hit"), 2)
        self.assertGreater(total(after, "mangoo_worker_postgres_statement_seconds_count",
                                 statement="mg_user_ensure"), 0)
        # the scrape itself is not a job, and credit came back from nginx
        self.assertEqual(total(after, "mangoo_worker_jobs_total", job="metrics"), 0)
        self.assertEqual(value(after, "mangoo_worker_pool_threads", state="busy")
                         + value(after, "mangoo_worker_pool_threads", state="idle"), 4)

    def test_chat_turns_count_provider_and_tokens(self):
        before = samples(scrape())
        events = chat_stream(stack, {"bot_id": self.bot, "message": "hello there"},
                             self.token).events()
        self.assertEqual(events[-1].type, "done", events)
        usage = events[-1].json()["usage"]
        bedrock.script(Reply(status=429, error_type="ThrottlingException"),
                       Reply(text="after a retry", usage=(11, 3)))
        events = chat_stream(stack, {"bot_id": self.claude, "message": "q"}, self.token).events()
        self.assertEqual(events[-1].type, "done", events)
        after = samples(scrape())

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        self.assertEqual(delta("mangoo_worker_provider_requests_total", provider="local",
                               model="local", outcome="ok"), 1)
        self.assertEqual(delta("mangoo_worker_provider_tokens_total", provider="local",
                               model="local", direction="input"), usage["input_tokens"])
        self.assertEqual(delta("mangoo_worker_provider_tokens_total", provider="local",
                               model="local", direction="output"), usage["output_tokens"])
        self.assertEqual(delta("mangoo_worker_provider_first_token_seconds_count",
                               provider="local", model="local"), 1)
        self.assertEqual(delta("mangoo_worker_provider_duration_seconds_count",
                               provider="local", model="local"), 1)
        self.assertEqual(delta("mangoo_worker_provider_requests_total", provider="bedrock",
                               model=CLAUDE, outcome="provider_throttled"), 1)
        self.assertEqual(delta("mangoo_worker_provider_requests_total", provider="bedrock",
                               model=CLAUDE, outcome="ok"), 1)
        self.assertEqual(delta("mangoo_worker_provider_retries_total", provider="bedrock"), 1)
        self.assertEqual(delta("mangoo_worker_provider_tokens_total", provider="bedrock",
                               model=CLAUDE, direction="input"), 11)
        self.assertEqual(delta("mangoo_worker_provider_tokens_total", provider="bedrock",
                               model=CLAUDE, direction="output"), 3)
        self.assertEqual(delta("mangoo_worker_jobs_total", job="chat.stream", outcome="ok"), 2)
        self.assertGreater(delta("mangoo_worker_stream_events_total"), 4)
        self.assertGreater(delta("mangoo_worker_postgres_statement_seconds_count",
                                 statement="mg_chat_finish"), 0)
        # a stream is freed just after its done event went out
        self.assertTrue(stack.wait_for(
            lambda: value(samples(scrape()), "mangoo_worker_streams_open") == 0))

    def test_unlisted_model_is_not_a_label(self):
        """A bot's model id is free text: one no configuration lists is 'other'."""
        r = stack.request("POST", "/api/v1/bots", {"name": "x", "model_id": "made-up-model-42"},
                          token=self.token)
        self.assertEqual(r.status, 201, r)
        bedrock.script(Reply(text="fine"))
        events = chat_stream(stack, {"bot_id": r.json()["id"], "message": "q"},
                             self.token).events()
        self.assertEqual(events[-1].type, "done", events)
        text = scrape()
        self.assertNotIn("made-up-model-42", text)
        self.assertGreater(value(samples(text), "mangoo_worker_provider_requests_total",
                                 provider="bedrock", model="other", outcome="ok"), 0)


if __name__ == "__main__":
    unittest.main()
