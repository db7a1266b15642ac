"""Provider connections over TLS, through the whole stack: chats to Bedrock
served by the C fake (tests/bench/fake_stream.c) over HTTPS, trusted
through MANGOO_CA_FILE (a CA made by certs.py).  With HTTP/2 offered, many
open streams share one TCP connection (the fake's /stats counts them);
with HTTP/1.1 only, they still all work, a connection each, every new
connection resuming the TLS session; a certificate signed by another CA
gives a prompt provider error and a stored error, no text.  One worker
process, restarted with the endpoint of each fake."""

import json
import os
import shutil
import signal
import ssl
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import certs  # noqa: E402
from fake_stream_proc import Fake  # noqa: E402
from harness import Stack  # noqa: E402
from sse_client import SseStream, chat_stream as stream, text_of  # noqa: E402

CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
PIECES = 5
N = 20

stack = tmp = None
fakes = {}
cas = {}         # the CA that signed each fake's certificate


def setUpModule():
    global stack, tmp
    tmp = tempfile.mkdtemp(prefix="provider-tls-")
    os.chmod(tmp, 0o755)
    ca, cert, key = certs.make(tmp)
    rogue_ca, rogue_cert, rogue_key = certs.make(tmp, "rogue")
    cas.update(h2=ca, h1=ca, rogue=rogue_ca)
    tls = ["--pieces", str(PIECES), "--tls-cert"]
    fakes["h2"] = Fake(*tls, cert, "--tls-key", key)
    fakes["h1"] = Fake(*tls, cert, "--tls-key", key, "--alpn", "http/1.1")
    fakes["rogue"] = Fake(*tls, rogue_cert, "--tls-key", rogue_key)
    stack = Stack(workers=1, threads=4, timeout="10s", env={
        "AWS_ACCESS_KEY_ID": "AKIDMANGOOTLSTEST",
        "AWS_SECRET_ACCESS_KEY": "not-a-secret",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": fakes["h2"].url,
        "MANGOO_CA_FILE": ca,
        "MANGOO_PROVIDER_TIMEOUT": "5",
        "MANGOO_PROVIDER_BACKOFF_MS": "50",
    }).start()


def tearDownModule():
    bad = []
    if stack is not None:
        stack.stop()
    for f in fakes.values():
        rc, log = f.stop()
        if rc != 0 or "runtime error" in log or "Sanitizer" in log:
            bad.append("fake-stream exited %s: %s" % (rc, log[-3000:]))
    shutil.rmtree(tmp, ignore_errors=True)
    if bad:
        raise AssertionError("\n".join(bad))


def fake_get(name, path):
    ctx = ssl.create_default_context(cafile=cas[name])
    with urllib.request.urlopen(fakes[name].url + path, context=ctx, timeout=5) as r:
        return json.loads(r.read())


def use(name):
    """The worker, fresh (no connection, no TLS session), on fake name."""
    stack.kill_worker(0)
    stack.start_worker(0, {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": fakes[name].url})
    sub = "tls-wait-%s-%f" % (name, time.monotonic())
    token = stack.token(sub=sub)
    ok = stack.wait_for(lambda: stack.request("GET", "/api/v1/users/me", token=token).status == 200,
                        timeout=15)
    assert ok, "the restarted worker did not answer"


_users = iter(range(1, 1000000))


def new_bot():
    token = stack.token(sub="tls-user-%d" % next(_users))
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    r = stack.request("POST", "/api/v1/bots", body={"name": "b", "model_id": CLAUDE}, token=token)
    assert r.status == 201, r
    return token, r.json()["id"]


def answer(pieces=PIECES):
    return "".join("w%d " % i for i in range(1, pieces + 1))


def stored(chat_id):
    """status|error|content of the chat's answer (the last '|' keeps its final space)."""
    return stack.psql("SELECT status || '|' || coalesce(error, '') || '|' || content || '|' "
                      "FROM messages WHERE chat_id = '%s' AND role = 'assistant'" % chat_id)[:-1]


def concurrent_chats(token, bot, n):
    """n chats at once; returns each one's events (or the exception)."""
    out = [None] * n

    def one(i):
        try:
            out[i] = stream(stack, {"bot_id": bot, "message": "hello %d" % i}, token).events()
        except Exception as e:              # noqa: BLE001 - asserted by the caller
            out[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


class ProviderTls(unittest.TestCase):

    def tearDown(self):
        for name in fakes:
            fake_get(name, "/config?pieces=%d&delay_ms=0" % PIECES)

    def assert_complete(self, events):
        self.assertNotIsInstance(events, Exception)
        self.assertEqual(events[0].type, "start", events)
        self.assertEqual(events[-1].type, "done", events)
        self.assertEqual(text_of(events), answer())
        self.assertEqual(stored(events[0].json()["chat_id"]), "complete||" + answer())

    def test_a_chat_over_https(self):
        use("h2")
        token, bot = new_bot()
        events = stream(stack, {"bot_id": bot, "message": "over TLS"}, token).events()
        self.assert_complete(events)
        self.assertEqual(events[-1].json()["usage"]["output_tokens"], PIECES)

    def test_h2_streams_share_one_connection(self):
        use("h2")
        token, bot = new_bot()
        f = "h2"
        fake_get(f, "/config?pieces=%d&delay_ms=300" % PIECES)     # 1.5 s each: they overlap
        before = fake_get(f, "/stats")
        t0 = time.monotonic()
        results = concurrent_chats(token, bot, N)
        elapsed = time.monotonic() - t0
        after = fake_get(f, "/stats")
        for events in results:
            self.assert_complete(events)
        # the worker's one connection, and our own second /stats request
        self.assertEqual(after["connections"] - before["connections"], 2, (before, after))
        self.assertEqual(after["h2_connections"] - before["h2_connections"], 1)
        self.assertEqual(after["streams"] - before["streams"], N)
        self.assertEqual(after["open_streams"], 0)
        self.assertLess(elapsed, 10)            # side by side (1.5 s each), not one by one

    def test_http11_only_still_works_and_resumes_sessions(self):
        use("h1")
        token, bot = new_bot()
        f = "h1"
        # a first chat: one connection, a full handshake, a session kept
        first = fake_get(f, "/stats")
        self.assert_complete(stream(stack, {"bot_id": bot, "message": "first"}, token).events())
        before = fake_get(f, "/stats")
        self.assertEqual(before["tls_handshakes"] - first["tls_handshakes"], 2)  # the worker's + ours
        self.assertEqual(before["tls_resumed"], first["tls_resumed"])
        fake_get(f, "/config?pieces=%d&delay_ms=300" % PIECES)
        before = fake_get(f, "/stats")
        results = concurrent_chats(token, bot, N)
        after = fake_get(f, "/stats")
        for events in results:
            self.assert_complete(events)
        self.assertEqual(after["h2_connections"], 0)
        opened = after["connections"] - before["connections"] - 1     # less our /stats
        self.assertEqual(after["tls_handshakes"] - before["tls_handshakes"], opened + 1)
        # a connection a stream at once (the first one's kept connection serves one)
        self.assertGreaterEqual(opened, N // 2, (before, after))
        # the worker's new connections resume a session kept from an earlier one
        # (not all of them: how many of 19 handshakes at once libcurl 7.88
        # resumes varies from run to run; without the share handle, none)
        resumed = after["tls_resumed"] - before["tls_resumed"]
        self.assertGreaterEqual(resumed, 1, (before, after))
        self.assertLessEqual(resumed, opened)

    def test_h2_streams_paused_by_flow_control_come_back_whole(self):
        # streams multiplexed on one connection, paused one by one when
        # their nginx process stops reading (worker/flow.h), each resumes
        # where it stood when it reads again
        use("h2")
        token, bot = new_bot()
        long_pieces, n = 1000, 8                # more than the worker's window
        fake_get("h2", "/config?pieces=%d&delay_ms=0&first_delay_ms=400" % long_pieces)
        inst = stack.start_nginx("flow-h2")
        log_from = len(stack.log_text("worker-0.log"))
        streams = [SseStream(inst.port, "/api/v1/chat/stream",
                             {"bot_id": bot, "message": "long %d" % i}, token=token, timeout=60)
                   for i in range(n)]
        starts = [s.next() for s in streams]
        [pid] = inst.worker_pids()
        os.kill(pid, signal.SIGSTOP)
        try:
            self.assertTrue(stack.wait_for(
                lambda: "is out of credit" in stack.log_text("worker-0.log")[log_from:],
                timeout=2.0), "the worker never ran out of credit for the stopped process")
        finally:
            os.kill(pid, signal.SIGCONT)
        for s, start in zip(streams, starts):
            events = s.events()
            self.assertEqual(events[-1].type, "done", events[-3:])
            self.assertEqual(text_of(events), answer(long_pieces))
            self.assertEqual(stored(start.json()["chat_id"]), "complete||" + answer(long_pieces))
        inst.stop()

    def test_untrusted_certificate_is_a_prompt_provider_error(self):
        use("rogue")
        token, bot = new_bot()
        before = fake_get("rogue", "/stats")
        t0 = time.monotonic()
        events = stream(stack, {"bot_id": bot, "message": "to an impostor"}, token).events()
        self.assertLess(time.monotonic() - t0, 3)
        self.assertEqual([e.type for e in events], ["start", "error"], events)
        err = events[-1].json()
        self.assertEqual(err["code"], "provider_unavailable")
        self.assertIn("certificate", err["message"])
        self.assertEqual(text_of(events), "")
        self.assertEqual(stored(events[0].json()["chat_id"]),
                         "error|provider_unavailable|")
        after = fake_get("rogue", "/stats")
        # tried once (no retry), and no request got through
        self.assertEqual(after["connections"] - before["connections"], 2)
        self.assertEqual(after["streams"], before["streams"])


if __name__ == "__main__":
    unittest.main()
