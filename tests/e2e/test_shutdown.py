"""End-to-end tests of a worker's graceful shutdown (worker/drain.h), as
ECS stops a task: SIGTERM, then SIGKILL after its stop timeout.

Two worker processes behind the stack's nginx; a second nginx instance
("solo") in front of worker 0 alone opens the streams that are on it when
it gets SIGTERM.  The answers come from the fake Bedrock, one piece every
0.1 s, so they outlast the signal.

- a stream open at SIGTERM finishes whole (every event, `done`), is stored
  whole, and the worker then exits by itself, long before its timeout;
- with a short MANGOO_STOP_TIMEOUT and a longer answer, the stream ends at
  the deadline with `error` `unavailable`, and what was said is stored
  with that error (what the client got, no less);
- while a worker drains, requests under load and new streams all succeed
  on the other worker, and the draining one says so in its metrics;
- a second SIGTERM, or a stop timeout of 0, ends the streams at once;
- a bad MANGOO_STOP_TIMEOUT refuses to start.

Run: python3 tests/e2e/run.py test_shutdown.py
"""

import http.client
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakes import (FakeBedrock, Reply, DEFAULT_ACCESS_KEY_ID,  # noqa: E402
                   DEFAULT_SECRET_ACCESS_KEY)
from harness import Load, Stack, WORKER_BIN, alive  # noqa: E402
from sse_client import SseStream, text_of  # noqa: E402

CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
PACE = 0.1                  # seconds between an answer's pieces
SHORT_PIECES = ["s%02d " % i for i in range(10)]

stack = bedrock = solo = None


def setUpModule():
    global stack, bedrock, solo
    bedrock = FakeBedrock().start()
    bedrock.default = Reply(pieces=SHORT_PIECES)
    stack = Stack(workers=2, threads=4, timeout="20s", env={
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
        "MANGOO_PROVIDER_TIMEOUT": "30",
    }).start()
    # the stack's first worker port, one worker: worker 0 alone
    solo = stack.start_nginx("solo", env={"MANGOO_WORKERS": "1"})


def tearDownModule():
    for s in (stack, bedrock):
        if s is not None:
            s.stop()


_users = iter(range(1, 1000000))


def new_user_and_bot():
    token = stack.token(sub="shutdown-user-%d" % next(_users))
    r = stack.request("POST", "/api/v1/bots", token=token,
                      body={"name": "drain", "model_id": CLAUDE})
    assert r.status == 201, r
    return token, r.json()["id"]


def open_stream(port, token, bot, message):
    s = SseStream(port, "/api/v1/chat/stream", {"bot_id": bot, "message": message},
                  token=token, timeout=60)
    assert s.status == 200, s.status
    return s


def stored_answer(chat_id):
    """(status, error, content) of the chat's answer, or None."""
    out = stack.psql("SELECT status || '|' || coalesce(error, '') || '|' || content || '|' "
                     "FROM messages WHERE chat_id = '%s' AND role = 'assistant'" % chat_id)
    # the trailing '|' keeps the content's last space
    return tuple(out[:-1].split("|", 2)) if out else None


def solo_healthy():
    conn = http.client.HTTPConnection("127.0.0.1", solo.port, timeout=5)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def wait_exit(pid, timeout):
    return stack.wait_for(lambda: not alive(pid), timeout=timeout, interval=0.05)


def worker_log():
    return stack.log_text("worker-0.log")


def scrape(endpoint):
    out = subprocess.run([WORKER_BIN, "metrics", endpoint], capture_output=True,
                         text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return out.stdout


class Shutdown(unittest.TestCase):

    def setUp(self):
        self.pid = 0

    def start_worker0(self, env=None):
        """Worker 0 (again), with env; returns its pid once solo reaches it."""
        try:
            running = alive(stack.worker_pid(0))
        except FileNotFoundError:
            running = False
        if running:                 # the stack's own, idle: it leaves at once
            stack._ab("stop-worker", "0")
        stack.start_worker(0, env=env)
        self.assertTrue(stack.wait_for(solo_healthy, timeout=20), "worker 0 never came up")
        self.pid = stack.worker_pid(0)
        self.log_from = len(worker_log())
        return self.pid

    def tearDown(self):
        bedrock.default = Reply(pieces=SHORT_PIECES)
        # a failed test may leave it running: the next one starts its own
        if self.pid and alive(self.pid):
            stack.kill_worker(0)

    def stream_on_worker0(self, pieces, message):
        """An answer of pieces, paced, streaming from worker 0: the stream,
        its first two events (start and the first delta) and its chat."""
        token, bot = new_user_and_bot()
        bedrock.script(Reply(pieces=pieces, delay=PACE))
        s = open_stream(solo.port, token, bot, message)
        head = [s.next(), s.next()]
        self.assertEqual([e.type for e in head], ["start", "message"], head)
        return s, head, head[0].json()["chat_id"]

    def assert_ended_by_the_stop(self, events, chat_id, whole):
        """The stream's last event is the documented error, and what the
        client got of the answer is what was stored, with that error."""
        err = events[-1]
        self.assertEqual(err.type, "error", events[-3:])
        body = err.json()
        self.assertEqual(body["code"], "unavailable")
        self.assertIn("shut down", body["message"])
        self.assertTrue(body["saved"])
        self.assertEqual(body["message_id"], events[0].json()["message_id"])
        text = text_of(events)
        self.assertTrue(whole.startswith(text), text)
        self.assertLess(len(text), len(whole))
        self.assertGreater(len(text), 0)
        self.assertEqual(stored_answer(chat_id), ("error", "unavailable", text))
        return err

    def test_a_stream_open_at_sigterm_finishes_whole(self):
        pid = self.start_worker0()
        pieces = ["a%02d " % i for i in range(30)]
        whole = "".join(pieces)
        s, head, chat_id = self.stream_on_worker0(pieces, "finish this answer whole, please")
        signalled = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        rest = s.events()
        events = head + rest
        self.assertEqual(rest[-1].type, "done", rest[-3:])
        self.assertEqual(text_of(events), whole)
        self.assertEqual(stored_answer(chat_id), ("complete", "", whole))
        # it leaves once nothing runs, not at its 25 s stop timeout
        self.assertTrue(wait_exit(pid, timeout=15), "the worker did not exit by itself")
        self.assertLess(time.monotonic() - signalled, 20)
        log = worker_log()[self.log_from:]
        self.assertRegex(log, r"SIGTERM received, draining: no new jobs; \d+ running, "
                              r"0 queued \(sent back to nginx\), 1 stream\(s\) open; they get 25 s")
        self.assertIn("1 stream(s) ended on their own, 0 ended by the stop (none)", log)
        self.assertNotIn("exiting anyway", log)

    def test_a_short_stop_timeout_ends_the_stream_at_the_deadline(self):
        pid = self.start_worker0({"MANGOO_STOP_TIMEOUT": "2"})
        pieces = ["b%03d " % i for i in range(100)]      # 10 s of answer
        s, head, chat_id = self.stream_on_worker0(pieces, "a long answer cut at the deadline")
        signalled = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        events = head + s.events()
        err = self.assert_ended_by_the_stop(events, chat_id, "".join(pieces))
        # the answer went on until the stop timeout, not a moment less
        self.assertGreater(err.at - signalled, 1.5)
        self.assertGreater(len([e for e in events if e.type == "message"]), 10)
        self.assertTrue(wait_exit(pid, timeout=15), "the worker did not exit by itself")
        log = worker_log()[self.log_from:]
        self.assertIn("they get 2 s", log)
        self.assertRegex(log, r"stop timeout after \d+ ms: ending 1 open stream\(s\) now")
        self.assertIn("0 stream(s) ended on their own, 1 ended by the stop (stop timeout)", log)

    def test_requests_during_the_drain_go_to_the_other_worker(self):
        pid = self.start_worker0()
        tokens = [stack.token(sub="shutdown-load-%d-%d" % (i, next(_users))) for i in range(3)]
        for t in tokens:
            self.assertEqual(stack.request("GET", "/api/v1/users/me", token=t).status, 200)
        pieces = ["c%02d " % i for i in range(40)]            # 4 s of answer
        nginx_from = len(stack.log_text("nginx-error.log"))
        with Load(stack.request, tokens) as load:
            s, head, chat_id = self.stream_on_worker0(pieces, "keep streaming while I drain")
            os.kill(pid, signal.SIGTERM)
            # the draining worker says so, and still answers its scrape
            self.assertTrue(stack.wait_for(lambda: "draining" in worker_log()[self.log_from:],
                                           timeout=5))
            self.assertRegex(scrape(stack.worker_endpoint(0)), r"(?m)^mangoo_worker_stopping 1$")
            self.assertRegex(scrape(stack.worker_endpoint(1)), r"(?m)^mangoo_worker_stopping 0$")
            # new streams through the stack's nginx: whole, from the other worker
            token, bot = new_user_and_bot()
            for i in range(3):
                events = open_stream(stack.port, token, bot, "during the drain %d" % i).events()
                self.assertEqual(events[-1].type, "done", events[-3:])
                self.assertEqual(text_of(events), "".join(SHORT_PIECES))
            rest = s.events()
            self.assertEqual(rest[-1].type, "done", rest[-3:])
            self.assertEqual(text_of(head + rest), "".join(pieces))
            self.assertTrue(wait_exit(pid, timeout=15), "the worker did not exit by itself")
            time.sleep(0.5)                 # and the load goes on without it
        self.assertEqual(load.failures(), [])
        self.assertGreater(len(load.results), 20)
        self.assertEqual(stored_answer(chat_id), ("complete", "", "".join(pieces)))
        # each of the stack's two nginx processes heard it, and understood it
        log = stack.log_text("nginx-error.log")[nginx_from:]
        self.assertEqual(log.count('worker "%s" is stopping: no new jobs for it'
                                   % stack.worker_endpoint(0)), 2, log[-2000:])
        self.assertNotIn("malformed", log)

    def test_a_second_sigterm_ends_the_streams_at_once(self):
        pid = self.start_worker0()
        pieces = ["d%03d " % i for i in range(200)]      # 20 s of answer
        s, head, chat_id = self.stream_on_worker0(pieces, "stop twice and I end now")
        os.kill(pid, signal.SIGTERM)
        # the first one drains: the answer goes on
        more = [s.next() for _ in range(5)]
        self.assertEqual([e.type for e in more], ["message"] * 5, more)
        # taken (two signals pending at once would be one)
        self.assertTrue(stack.wait_for(lambda: "draining" in worker_log()[self.log_from:],
                                       timeout=5))
        os.kill(pid, signal.SIGTERM)
        again = time.monotonic()
        events = head + more + s.events()
        err = self.assert_ended_by_the_stop(events, chat_id, "".join(pieces))
        # at once: far sooner than the answer's 20 s or the 25 s timeout
        self.assertLess(err.at - again, 8)
        self.assertTrue(wait_exit(pid, timeout=10), "the worker did not exit")
        log = worker_log()[self.log_from:]
        self.assertRegex(log, r"second signal after \d+ ms: ending 1 open stream\(s\) now")
        self.assertIn("0 stream(s) ended on their own, 1 ended by the stop (second signal)", log)

    def test_no_stop_timeout_ends_the_streams_with_the_first_signal(self):
        pid = self.start_worker0({"MANGOO_STOP_TIMEOUT": "0"})
        pieces = ["e%03d " % i for i in range(200)]
        s, head, chat_id = self.stream_on_worker0(pieces, "no time to finish at all")
        signalled = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        err = self.assert_ended_by_the_stop(head + s.events(), chat_id, "".join(pieces))
        self.assertLess(err.at - signalled, 8)
        self.assertTrue(wait_exit(pid, timeout=10), "the worker did not exit")
        self.assertIn("1 ended by the stop (no stop timeout)", worker_log()[self.log_from:])

    def test_a_bad_stop_timeout_refuses_to_start(self):
        for value in ("-1", "soon", "3601", "2s", "1.5"):
            r = subprocess.run([WORKER_BIN, "serve", "--no-migrate", "--bind", "tcp://127.0.0.1:1"],
                               env=dict(stack.env, MANGOO_STOP_TIMEOUT=value),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=10)
            self.assertEqual(r.returncode, 2, (value, r.stderr))
            self.assertIn('MANGOO_STOP_TIMEOUT must be an integer between 0 and 3600 '
                          '(seconds), not "%s"' % value, r.stderr)


if __name__ == "__main__":
    unittest.main()
