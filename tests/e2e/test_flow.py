"""Flow control between the nginx processes and a worker (worker/flow.h),
and the batching of answers' events on the way (MANGOO_STREAM_BATCH_MS):
an nginx process that stops reading (SIGSTOP) holds up its own answers
only.  Two nginx instances of one process each stand in front of one
worker process; answers streamed through the first are frozen mid-way by
stopping its process while the second keeps streaming.  Nothing meant for
the stopped process is dropped: once it goes on, each of its answers
arrives whole and in order, and is stored whole.  One stopped for longer
than ZeroMQ's heartbeat allows is given up on: its answers end with a
clear error and the worker serves on.  With batching, an answer's first
token goes at once and its later events travel in groups.
"""

import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakes import (FakeBedrock, Reply, DEFAULT_ACCESS_KEY_ID,  # noqa: E402
                   DEFAULT_SECRET_ACCESS_KEY)
from harness import Stack, WORKER_BIN  # noqa: E402
from sse_client import SseStream, text_of  # noqa: E402

CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
# more than the worker's window (MG_FLOW_WINDOW, 4096 messages) in all
LONG_PIECES = ["p%04d " % i for i in range(2500)]
LONG_STREAMS = 4
SHORT_PIECES = ["s%02d " % i for i in range(60)]

stack = bedrock = None
first = second = None


def setUpModule():
    global stack, bedrock, first, second
    bedrock = FakeBedrock().start()
    bedrock.default = Reply(pieces=SHORT_PIECES)
    stack = Stack(workers=1, spare_workers=1, threads=4, timeout="20s", env={
        # a client that leaves stops its answer at once here (no grace to
        # come back in: test_resume covers that)
        "MANGOO_STREAM_GRACE": "0",
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
        "MANGOO_PROVIDER_TIMEOUT": "30",
    }).start()
    first = stack.start_nginx("first")
    second = stack.start_nginx("second")


def tearDownModule():
    for s in (stack, bedrock):
        if s is not None:
            s.stop()


_users = iter(range(1, 1000000))


def new_user_and_bot():
    sub = "flow-user-%d" % next(_users)
    token = stack.token(sub=sub)
    r = stack.request("POST", "/api/v1/bots", token=token,
                      body={"name": "flow", "model_id": CLAUDE})
    assert r.status == 201, r
    return token, r.json()["id"]


def open_stream(inst, token, bot, message):
    s = SseStream(inst.port, "/api/v1/chat/stream",
                  {"bot_id": bot, "message": message}, token=token, timeout=60)
    assert s.status == 200, s.status
    return s


def stored_answer(chat_id):
    """(status, content) of the chat's answer, or None before it is stored."""
    out = stack.psql("SELECT status || '|' || content || '|' FROM messages "
                     "WHERE chat_id = '%s' AND role = 'assistant'" % chat_id).strip()
    # the trailing '|' keeps the content's last space
    return tuple(out[:-1].split("|", 1)) if out else None


def worker_log(since=0):
    return stack.log_text("worker-0.log")[since:]


class StoppedProcess(unittest.TestCase):
    def test_a_stopped_process_holds_up_only_its_own_answers(self):
        token, bot = new_user_and_bot()
        # the long answers start after the process is stopped, so nearly
        # all of them is produced while it reads nothing
        bedrock.script(*[Reply(pieces=LONG_PIECES, first_delay=0.4)] * LONG_STREAMS)
        log_from = len(worker_log())
        streams = [open_stream(first, token, bot, "long %d" % i) for i in range(LONG_STREAMS)]
        starts = [s.next() for s in streams]
        self.assertEqual([e.type for e in starts], ["start"] * LONG_STREAMS)
        [pid] = first.worker_pids()
        os.kill(pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            # the worker runs out of credit for it, and parks its streams
            self.assertTrue(stack.wait_for(
                lambda: "is out of credit" in worker_log(log_from), timeout=2.0),
                "the worker never ran out of credit for the stopped process")
            # the other instance streams on, whole answers, meanwhile
            for i in range(3):
                s = open_stream(second, token, bot, "short %d" % i)
                events = s.events()
                self.assertEqual(events[-1].type, "done", events[-1:])
                self.assertEqual(text_of(events), "".join(SHORT_PIECES))
            # ZeroMQ's heartbeat gives a silent peer 3 s
            self.assertLess(time.monotonic() - stopped, 2.8,
                            "too slow to tell: the stop outlasted the heartbeat")
        finally:
            os.kill(pid, signal.SIGCONT)

        for s, start in zip(streams, starts):
            events = s.events()
            self.assertEqual(events[-1].type, "done", events[-3:])
            text = text_of(events)
            self.assertEqual(text, "".join(LONG_PIECES))
            chat_id = start.json()["chat_id"]
            self.assertEqual(stored_answer(chat_id), ("complete", "".join(LONG_PIECES)))
        self.assertTrue(stack.wait_for(lambda: "took what it held" in worker_log(log_from),
                                       timeout=5))
        self.assertNotIn("is gone", worker_log(log_from))
        self.assertNotIn("dropped", worker_log(log_from))
        self.assertNotIn("not delivered", worker_log(log_from))

    def test_a_process_stopped_past_the_heartbeat_is_given_up(self):
        token, bot = new_user_and_bot()
        bedrock.script(*[Reply(pieces=LONG_PIECES, first_delay=0.4)] * LONG_STREAMS)
        log_from = len(worker_log())
        streams = [open_stream(first, token, bot, "long %d" % i) for i in range(LONG_STREAMS)]
        starts = [s.next() for s in streams]
        [pid] = first.worker_pids()
        os.kill(pid, signal.SIGSTOP)
        try:
            self.assertTrue(stack.wait_for(
                lambda: "is gone" in worker_log(log_from), timeout=10),
                "the worker never gave up on the stopped process")
        finally:
            os.kill(pid, signal.SIGCONT)
        whole = "".join(LONG_PIECES)
        stored = []
        for s, start in zip(streams, starts):
            events = s.events()
            # the process sees its worker connection lost: a clear end
            self.assertEqual(events[-1].type, "error", events[-3:])
            self.assertEqual(events[-1].json()["code"], "worker_lost")
            chat_id = start.json()["chat_id"]
            stored.append(stack.wait_for(lambda: stored_answer(chat_id), timeout=5))
        # an answer the worker had finished before the window ran out is
        # stored whole; one parked then was stopped where it stood
        for status, content in stored:
            if status == "complete":
                self.assertEqual(content, whole)
            else:
                self.assertEqual(status, "cancelled")
                self.assertTrue(whole.startswith(content))
                self.assertLess(len(content), len(whole))
        self.assertIn("cancelled", [status for status, _ in stored])
        # and both instances serve the next answer
        for inst in (first, second):
            s = open_stream(inst, token, bot, "after")
            events = s.events()
            self.assertEqual(events[-1].type, "done", events[-1:])
            self.assertEqual(text_of(events), "".join(SHORT_PIECES))


class Batching(unittest.TestCase):
    BATCH_MS = 300
    PACE_MS = 40

    @classmethod
    def setUpClass(cls):
        # a worker process of its own that batches for long, and an nginx
        # instance in front of it alone
        stack.start_worker(1, env={"MANGOO_STREAM_BATCH_MS": str(cls.BATCH_MS),
                                   "MANGOO_LOCAL_DELAY_MS": str(cls.PACE_MS)})
        cls.nginx = stack.start_nginx("batching", env={
            "MANGOO_WORKER_PORT": str(stack.worker_port + 1), "MANGOO_WORKERS": "1"})

    def test_the_first_token_goes_at_once_the_rest_in_groups(self):
        token = stack.token(sub="flow-batching")
        r = stack.request("POST", "/api/v1/bots", token=token,
                          body={"name": "paced", "model_id": "local"})
        self.assertEqual(r.status, 201, r)
        s = open_stream(self.nginx, token, r.json()["id"], "tell me something rather long")
        events = s.events()
        self.assertEqual(events[0].type, "start")
        self.assertEqual(events[-1].type, "done", events[-1:])
        times = [e.at for e in events if e.type == "message"]
        self.assertGreater(len(times), 20)
        # the first token does not wait for company (a wait would be 300 ms)
        self.assertLess(times[0] - events[0].at, 0.2)
        # the others, paced 40 ms apart by the model, come in groups: far
        # fewer arrivals than events, none closer than the pace apart
        arrivals = 1 + sum(1 for a, b in zip(times[1:], times[2:]) if b - a > 0.02)
        self.assertLess(arrivals, len(times) / 3, times)

    def test_a_bad_setting_refuses_to_start(self):
        for value in ("-1", "soon", "1001"):
            r = subprocess.run([WORKER_BIN, "serve", "--no-migrate", "--bind", "tcp://127.0.0.1:1"],
                               env=dict(os.environ, MANGOO_STREAM_BATCH_MS=value),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=10)
            self.assertEqual(r.returncode, 2, (value, r.stderr))
            self.assertIn("MANGOO_STREAM_BATCH_MS", r.stderr)


if __name__ == "__main__":
    unittest.main()
