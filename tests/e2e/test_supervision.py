"""End-to-end tests of answers that survive their worker (issue 14): a
worker process killed mid-answer (`kill -9`) leaves the turn stored as
`error` / `worker_lost` (the orphan sweep, worker/instance.h), and the
supervisor of `./auto-build.sh start` has the worker back within seconds,
serving the next request, with a log line saying why it died.

The stack runs with supervision on (MANGOO_SUPERVISE=1, the default of
auto-build.sh; the harness turns it off for the other suites).  Answers
come from the fake Bedrock: one that hangs after two pieces (it outlives
its worker), one paced (it outlives the sweep of the other).  Two more
nginx instances reach worker 0 alone ("w0") and worker 1 alone ("w1"), so
a test knows which worker answers.

- every worker killed mid-answer: the client gets `worker_lost`, the
  history shows the question with an answer `error` / `worker_lost`
  (its id the one the stream announced), both workers are back and
  answer the next turn of the same chat, and each worker's log says
  `worker N (pid P) died: killed by signal 9 (SIGKILL); restarting in 0.5 s`;
- the sweep never touches a living worker's turn: worker 0 killed (its
  supervisor held, so that worker 1's periodic sweep is the one that
  notices) while worker 1 answers: only worker 0's turn becomes
  worker_lost, worker 1's is still in flight meanwhile and then finishes
  whole, `complete`;
- `stop-worker` stops the supervisor too (nothing restarts that worker),
  `start-worker` supervises it again;
- `stop` leaves no supervisor and no worker running.

Run: python3 tests/e2e/run.py test_supervision.py
"""

import os
import re
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakes import (FakeBedrock, Reply, DEFAULT_ACCESS_KEY_ID,  # noqa: E402
                   DEFAULT_SECRET_ACCESS_KEY)
from harness import Stack, alive, wait_for  # noqa: E402
from sse_client import SseStream, text_of  # noqa: E402

CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
# generous bounds for a loaded 2-core machine: a sweep runs every 2 s and
# at a worker's start, a restart comes 0.5 s after the death
STORED_WITHIN = 30
BACK_WITHIN = 30

stack = bedrock = w0 = w1 = None


def setUpModule():
    global stack, bedrock, w0, w1
    bedrock = FakeBedrock().start()
    bedrock.default = Reply(pieces=["fine ", "thanks"])
    stack = Stack(workers=2, threads=4, timeout="30s", env={
        "MANGOO_SUPERVISE": "1",
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
        "MANGOO_PROVIDER_TIMEOUT": "60",
    }).start()
    w0 = stack.start_nginx("w0", env={"MANGOO_WORKERS": "1"})
    w1 = stack.start_nginx("w1", env={"MANGOO_WORKERS": "1",
                                      "MANGOO_WORKER_PORT": str(stack.worker_port + 1)})


def tearDownModule():
    for s in (stack, bedrock):
        if s is not None:
            s.stop()


_users = iter(range(1, 1000000))


def new_user_and_bot():
    token = stack.token(sub="supervision-user-%d" % next(_users))
    r = stack.request("POST", "/api/v1/bots", token=token,
                      body={"name": "survivor", "model_id": CLAUDE})
    assert r.status == 201, r
    return token, r.json()["id"]


def pid_file(name):
    try:
        with open(os.path.join(stack.state, name)) as f:
            return int(f.read())
    except (FileNotFoundError, ValueError):
        return None


def running_workers(i=None):
    """This stack's worker processes (worker i's only, if given), whoever
    started them: each names the stack's folder in its command line (its
    database's socket), and worker i its port."""
    port = ":%d" % (stack.worker_port + i) if i is not None else ""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if (os.path.basename(argv[0]) == "mangoo-worker" and "serve" in argv
                and any(stack.state in a for a in argv)
                and any(a.endswith(port) for a in argv) and alive(int(entry))):
            found.append(int(entry))
    return found


def healthy(request):
    try:
        return request("GET", "/health", timeout=5).status == 200
    except OSError:
        return False


# What a read meets while workers die and come back: none reachable yet
# (503 no_workers), or the one it went to died under it (502 worker_lost:
# nginx ends every request in flight on a worker that goes away, and may
# learn of the death only after it sent the read).  Such a read is made
# again; it proves nothing about the stored outcome.
TRANSIENT = {(503, "no_workers"), (502, "worker_lost")}


def error_code(r):
    try:
        return r.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def messages(chat_id, token, waiting=False):
    """The chat's messages; waiting, None for a TRANSIENT answer."""
    r = stack.request("GET", "/api/v1/chats/%s" % chat_id, token=token)
    if waiting and (r.status, error_code(r)) in TRANSIENT:
        return None
    assert r.status == 200, r
    return r.json()["messages"]


def answered(chat_id, token):
    """The chat's messages once an answer is stored, else None."""
    msgs = messages(chat_id, token, waiting=True)
    return msgs if msgs is not None and len(msgs) >= 2 else None


class Supervision(unittest.TestCase):

    def open_head(self, port, token, bot, message, chat_id=None):
        """A stream and its first two events (start, the first delta)."""
        body = {"bot_id": bot, "message": message}
        if chat_id:
            body["chat_id"] = chat_id
        s = SseStream(port, "/api/v1/chat/stream", body, token=token, timeout=90)
        self.assertEqual(s.status, 200)
        head = [s.next(), s.next()]
        self.assertEqual([e.type for e in head], ["start", "message"], head)
        return s, head[0].json()

    def assert_lost(self, s):
        """The client's side: the stream ends with nginx's worker_lost (an
        event with no id: it is not the answer's).  The events it had."""
        rest = s.events()
        s.close()
        self.assertTrue(rest, "the stream ended with no event")
        self.assertEqual(rest[-1].type, "error", rest[-3:])
        self.assertEqual(rest[-1].json()["code"], "worker_lost")
        return rest

    def wait_stored_lost(self, chat_id, token, start):
        """The history, once the answer is stored: the question, then the
        answer the stream announced, error / worker_lost, no text."""
        msgs = wait_for(lambda: answered(chat_id, token), timeout=STORED_WITHIN, interval=0.25)
        self.assertTrue(msgs, "the lost answer was not stored within %d s" % STORED_WITHIN)
        self.assertEqual([m["role"] for m in msgs], ["user", "assistant"], msgs)
        self.assertEqual(msgs[0]["id"], start["user_message_id"])
        answer = msgs[1]
        self.assertEqual(answer["id"], start["message_id"])
        self.assertEqual((answer["status"], answer["error"], answer["content"]),
                         ("error", "worker_lost", ""), answer)
        self.assertEqual(answer["model_id"], CLAUDE)
        self.assertEqual(answer["bot_id"], start["bot_id"])
        return msgs

    def wait_restarted(self, i, old_pid):
        pid = wait_for(
            lambda: (lambda p: p if p and p != old_pid and alive(p) else None)(pid_file("worker-%d.pid" % i)),
            timeout=BACK_WITHIN, interval=0.1)
        self.assertTrue(pid, "worker %d was not restarted within %d s" % (i, BACK_WITHIN))
        return pid

    def assert_death_logged(self, i, pid, delay=r"\d+\.\d"):
        """The supervisor's line; delay: the backoff expected (a regex)."""
        log = stack.log_text("worker-%d.log" % i)
        self.assertRegex(log, r'"level":"error","msg":"supervisor: worker %d \(pid %d\) died: '
                              r'killed by signal 9 \(SIGKILL\); restarting in %s s"'
                              % (i, pid, delay))

    def test_every_worker_killed_mid_answer(self):
        token, bot = new_user_and_bot()
        bedrock.script(Reply(pieces=["one ", "two ", "three"], hang_after=2))
        s, start = self.open_head(stack.port, token, bot, "a question whose worker dies mid-answer")
        chat_id = start["chat_id"]
        old = [stack.worker_pid(i) for i in (0, 1)]
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        seen = [e for e in self.assert_lost(s) if e.type != "error"]

        # stored as lost (by the restarted workers' first sweep: none lived)
        self.wait_stored_lost(chat_id, token, start)
        new = [self.wait_restarted(i, old[i]) for i in (0, 1)]
        for i in (0, 1):            # their first death: the shortest backoff
            self.assert_death_logged(i, old[i], r"0\.5")
        self.assertTrue(wait_for(lambda: healthy(stack.request), timeout=BACK_WITHIN),
                        "/health did not come back")

        # a client coming back to the lost answer reads how it ended
        last = int(seen[-1].id)
        r = SseStream(stack.port, "/api/v1/chats/%s/stream" % chat_id, token=token,
                      method="GET", headers={"Last-Event-ID": str(last)})
        back = r.events()
        r.close()
        self.assertEqual([(e.type, int(e.id)) for e in back],
                         [("snapshot", last + 1), ("error", last + 2)])
        self.assertEqual(back[1].json()["code"], "worker_lost")
        self.assertEqual(back[1].json()["message_id"], start["message_id"])

        # the next turn of the same chat is answered, on each worker
        for inst in (w0, w1):
            self.assertTrue(wait_for(lambda: healthy(inst.request), timeout=BACK_WITHIN))
            s2, _ = self.open_head(inst.port, token, bot, "and again, once it is back",
                                   chat_id=chat_id)
            rest = s2.events()
            s2.close()
            self.assertEqual(rest[-1].type, "done", rest[-3:])
        msgs = messages(chat_id, token)
        self.assertEqual([(m["role"], m["status"]) for m in msgs],
                         [("user", "complete"), ("assistant", "error")]
                         + [("user", "complete"), ("assistant", "complete")] * 2, msgs)
        self.assertEqual([stack.worker_pid(i) for i in (0, 1)], new)
        self.assertEqual(stack.psql("SELECT count(*) FROM turns_in_flight"), "0")

    def test_the_sweep_spares_a_living_workers_turn(self):
        for inst in (w0, w1):
            self.assertTrue(wait_for(lambda: healthy(inst.request), timeout=BACK_WITHIN))
        token, bot = new_user_and_bot()
        # worker 0's answer hangs: it outlives its worker
        bedrock.script(Reply(pieces=["lost ", "for ", "good"], hang_after=2))
        dead, dead_start = self.open_head(w0.port, token, bot, "asked of worker 0, which dies")
        # worker 1's lasts 40 x 0.5 s: it outlives the other's sweep
        pieces = ["p%02d " % i for i in range(40)]
        bedrock.script(Reply(pieces=pieces, delay=0.5))
        live, live_start = self.open_head(w1.port, token, bot, "asked of worker 1, which lives")
        pid0, pid1 = stack.worker_pid(0), stack.worker_pid(1)
        sup0 = pid_file("worker-0.supervisor")
        log1_from = len(stack.log_text("worker-1.log"))

        # worker 0's supervisor held: no restart sweeps, worker 1's
        # periodic sweep must store the loss
        os.kill(sup0, signal.SIGSTOP)
        try:
            os.kill(pid0, signal.SIGKILL)
            self.assert_lost(dead)
            self.wait_stored_lost(dead_start["chat_id"], token, dead_start)
            self.assertEqual(pid_file("worker-0.pid"), pid0)
        finally:
            os.kill(sup0, signal.SIGCONT)
        self.assertIn("1 turn(s) of 1 worker process(es) that died stored as worker_lost",
                      stack.log_text("worker-1.log")[log1_from:])

        # meanwhile worker 1's turn is untouched: still in flight, no answer
        self.assertEqual(stack.psql("SELECT count(*) FROM turns_in_flight WHERE message_id = '%s'"
                                    % live_start["message_id"]), "1",
                         "worker 1's answer ended before the check: the test proves nothing")
        self.assertEqual([m["role"] for m in messages(live_start["chat_id"], token)], ["user"])

        rest = live.events()
        live.close()
        self.assertEqual(rest[-1].type, "done", rest[-3:])
        self.assertEqual(text_of(rest), "".join(pieces[1:]))
        msgs = messages(live_start["chat_id"], token)
        self.assertEqual([m["role"] for m in msgs], ["user", "assistant"])
        self.assertEqual((msgs[1]["id"], msgs[1]["status"], msgs[1]["error"], msgs[1]["content"]),
                         (live_start["message_id"], "complete", None, "".join(pieces)))
        self.assertEqual(stack.worker_pid(1), pid1)
        self.wait_restarted(0, pid0)
        self.assert_death_logged(0, pid0)

    def test_stop_worker_is_not_restarted(self):
        self.assertTrue(wait_for(lambda: healthy(w1.request), timeout=BACK_WITHIN))
        pid, sup = stack.worker_pid(1), pid_file("worker-1.supervisor")
        self.assertTrue(sup and alive(sup), "worker 1 has no supervisor")
        stack._ab("stop-worker", "1")
        self.assertFalse(alive(pid))
        # its supervisor gone, nothing can start worker 1 again
        self.assertFalse(alive(sup))
        self.assertIsNone(pid_file("worker-1.pid"))
        self.assertEqual(running_workers(1), [])
        self.assertNotRegex(stack.log_text("worker-1.log"), r"worker 1 \(pid %d\) died" % pid)
        self.assertFalse(healthy(w1.request))

        stack.start_worker(1)
        self.assertTrue(wait_for(lambda: healthy(w1.request), timeout=BACK_WITHIN))
        sup = pid_file("worker-1.supervisor")
        self.assertTrue(sup and alive(sup), "start-worker did not supervise worker 1")

    def test_zz_stop_leaves_nothing_running(self):
        pids = [p for i in (0, 1) for p in (pid_file("worker-%d.pid" % i),
                                            pid_file("worker-%d.supervisor" % i))]
        self.assertTrue(all(pids), pids)
        # the logs hold the earlier tests' deliberate kills: only what
        # stop writes counts
        logged = [len(stack.log_text("worker-%d.log" % i)) for i in (0, 1)]
        r = stack._ab("stop", check=False)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual([p for p in pids if alive(p)], [])
        self.assertEqual(running_workers(), [])
        for i in (0, 1):
            after = stack.log_text("worker-%d.log" % i)[logged[i]:]
            self.assertIn("drain over", after)
            self.assertNotIn("died", after)


if __name__ == "__main__":
    unittest.main()
