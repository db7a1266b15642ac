"""The benchmark's C fake model server (tests/bench/fake_stream.c) on its
own: real Bedrock event-stream frames (checked with fakes.py's decoder,
CRCs included), the plain SSE stream, chunked keep-alive HTTP/1.1
(pipelined too), delays, 200 concurrent streams, clean shutdown; over TLS
(certificates made by certs.py): HTTP/1.1, HTTP/2 multiplexed (curl's CLI
as the client), ALPN without h2, resumed sessions, /stats.  No Mangoo
stack is started.  Under MANGOO_SANITIZE=1 the fake is built with
ASan/UBSan and any report fails the suite."""

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import certs  # noqa: E402
from fake_stream_proc import Fake  # noqa: E402
from fakes import EventStreamDecoder  # noqa: E402

MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0"
STREAM_PATH = "/model/%s/converse-stream" % MODEL
PIECES = 7

fake = None


def setUpModule():
    global fake
    fake = Fake("--pieces", str(PIECES))


def tearDownModule():
    if fake is not None:
        rc, log = fake.stop()
        if rc != 0 or "runtime error" in log or "Sanitizer" in log:
            raise AssertionError("fake-stream exited %s: %s" % (rc, log[-3000:]))


def conn(timeout=5):
    return http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)


def raw_socket(timeout=5):
    s = socket.create_connection(("127.0.0.1", fake.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(f):
    """Read one chunked response from a socket file; returns (head, [chunks])."""
    head = []
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        head.append(line.decode().rstrip("\r\n"))
    chunks = []
    while True:
        size = int(f.readline().split(b";")[0], 16)
        data = f.read(size + 2)
        assert data.endswith(b"\r\n"), data[-10:]
        if size == 0:
            return head, chunks
        chunks.append(data[:-2])


def sse_text(pieces):
    return "".join('event: message\ndata: {"content":"w%d "}\n\n' % i
                   for i in range(1, pieces + 1)) + "event: done\ndata: {}\n\n"


class EventStreamTest(unittest.TestCase):

    def converse_stream(self, c, body, query=""):
        c.request("POST", STREAM_PATH + query, body=body,
                  headers={"Content-Type": "application/json", "Authorization": "AWS4-HMAC-SHA256 x"})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "application/vnd.amazon.eventstream")
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertTrue(r.getheader("x-amzn-RequestId"))
        dec, messages = EventStreamDecoder(), []
        while True:
            data = r.read1(4096)
            if not data:
                break
            messages += dec.feed(data)      # checks both CRCs of every message
        return messages

    def test_frames(self):
        c = conn()
        body = json.dumps({"messages": [{"role": "user", "content": [{"text": "x" * 200000}]}]})
        msgs = self.converse_stream(c, body)
        types = [m.header(":event-type") for m in msgs]
        self.assertEqual(types, ["messageStart"] + ["contentBlockDelta"] * PIECES
                         + ["contentBlockStop", "messageStop", "metadata"])
        for m in msgs:
            self.assertEqual(m.header(":content-type"), "application/json")
            self.assertEqual(m.header(":message-type"), "event")
            self.assertEqual([h[1] for h in m.headers], [7, 7, 7])
        self.assertEqual(msgs[0].json(), {"role": "assistant"})
        self.assertEqual([m.json() for m in msgs[1:1 + PIECES]],
                         [{"contentBlockIndex": 0, "delta": {"text": "w%d " % i}}
                          for i in range(1, PIECES + 1)])
        self.assertEqual(msgs[-3].json(), {"contentBlockIndex": 0})
        self.assertEqual(msgs[-2].json(), {"stopReason": "end_turn"})
        meta = msgs[-1].json()
        self.assertEqual(meta["usage"], {"inputTokens": 10, "outputTokens": PIECES,
                                         "totalTokens": 10 + PIECES})
        self.assertGreaterEqual(meta["metrics"]["latencyMs"], 1)
        # the same connection serves the next request (keep-alive), with per-request pieces
        sock = c.sock
        msgs = self.converse_stream(c, "{}", "?pieces=2")
        self.assertIs(c.sock, sock)
        self.assertEqual(len(msgs), 1 + 2 + 3)
        c.close()

    def test_expect_continue(self):
        s = raw_socket()
        body = b'{"messages":[]}' * 100
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                   "Expect: 100-continue\r\n\r\n" % (STREAM_PATH, len(body))).encode())
        f = s.makefile("rb")
        self.assertEqual(f.readline(), b"HTTP/1.1 100 Continue\r\n")
        self.assertEqual(f.readline(), b"\r\n")
        s.sendall(body)
        head, chunks = read_response(f)
        self.assertEqual(head[0], "HTTP/1.1 200 OK")
        self.assertEqual(len(EventStreamDecoder().feed(b"".join(chunks))), PIECES + 4)
        s.close()

    def test_converse(self):
        c = conn()
        c.request("POST", "/model/%s/converse?pieces=3" % MODEL, body="{}")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        v = json.loads(r.read())
        self.assertEqual(v["output"]["message"]["content"][0]["text"], "w1 w2 w3 ")
        self.assertEqual(v["stopReason"], "end_turn")
        self.assertEqual(v["usage"]["outputTokens"], 3)
        c.close()


class SSETest(unittest.TestCase):

    def test_shape_get_and_post(self):
        c = conn()
        for method, body in (("GET", None), ("POST", '{"any": "body"}')):
            c.request(method, "/sse", body=body)
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.getheader("Content-Type"), "text/event-stream")
            self.assertEqual(r.read().decode(), sse_text(PIECES))
        c.close()

    def test_chunked_keep_alive_and_pipelining(self):
        s = raw_socket()
        f = s.makefile("rb")
        s.sendall(b"GET /sse?pieces=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        head, chunks = read_response(f)
        self.assertEqual(head[0], "HTTP/1.1 200 OK")
        self.assertIn("Transfer-Encoding: chunked", head)
        self.assertEqual(b"".join(chunks).decode(), sse_text(2))
        self.assertEqual(len(chunks), 3)                # one chunk an event
        # two requests in one write: two answers, in order, on the same connection
        s.sendall(b"POST /sse?pieces=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                  b"GET /sse?pieces=3&delay_ms=10 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(b"".join(read_response(f)[1]).decode(), sse_text(1))
        self.assertEqual(b"".join(read_response(f)[1]).decode(), sse_text(3))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        rest = f.read()                                  # the server closes after it
        self.assertTrue(rest.startswith(b"HTTP/1.1 200 OK\r\n"), rest)
        self.assertIn(b"Connection: close", rest)
        s.close()

    def test_http10_gets_a_plain_body(self):
        s = raw_socket()
        s.sendall(b"GET /sse?pieces=2 HTTP/1.0\r\n\r\n")
        data = s.makefile("rb").read()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertNotIn(b"chunked", head)
        self.assertEqual(body.decode(), sse_text(2))
        s.close()

    def test_delays_are_honoured(self):
        s = raw_socket()
        f = s.makefile("rb")
        t0 = time.monotonic()
        s.sendall(b"GET /sse?pieces=3&delay_ms=120&first_delay_ms=60 HTTP/1.1\r\nHost: x\r\n\r\n")
        while f.readline() != b"\r\n":
            pass
        t_head = time.monotonic() - t0
        times = []
        for _ in range(4):
            size = int(f.readline(), 16)
            f.read(size + 2)
            times.append(time.monotonic() - t0)
        self.assertGreaterEqual(t_head, 0.055)
        for i, t in enumerate(times[:3]):               # pieces at 60 + 120 * (i + 1) ms
            self.assertGreaterEqual(t, 0.060 + 0.120 * (i + 1) - 0.005)
            self.assertLess(t, 0.060 + 0.120 * (i + 1) + 0.5)
        self.assertLess(times[3] - times[2], 0.1)       # done right after the last piece
        s.close()

    def test_concurrent_streams(self):
        n, results, errors = 200, [], []
        socks = [raw_socket(timeout=10) for _ in range(n)]

        def one(s):
            try:
                s.sendall(b"GET /sse?pieces=3&delay_ms=200 HTTP/1.1\r\nHost: x\r\n\r\n")
                head, chunks = read_response(s.makefile("rb"))
                results.append(b"".join(chunks).decode() == sse_text(3))
            except Exception as e:                     # noqa: BLE001 - reported below
                errors.append(e)

        t0 = time.monotonic()
        threads = [threading.Thread(target=one, args=(s,)) for s in socks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        elapsed = time.monotonic() - t0
        for s in socks:
            s.close()
        self.assertEqual(errors, [])
        self.assertEqual(results, [True] * n)
        self.assertGreaterEqual(elapsed, 0.59)
        self.assertLess(elapsed, 3.0)                   # at once, not one after the other


class ServerTest(unittest.TestCase):

    def test_client_leaving_mid_stream(self):
        s = raw_socket()
        s.sendall(b"GET /sse?pieces=50&delay_ms=20 HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(100)
        s.close()
        time.sleep(0.1)
        c = conn()
        c.request("GET", "/health")
        self.assertEqual(c.getresponse().read(), b"ok\n")
        c.close()

    def test_errors(self):
        c = conn()
        c.request("GET", "/nope")
        r = c.getresponse()
        self.assertEqual(r.status, 404)
        self.assertEqual(json.loads(r.read()), {"message": "Unknown operation"})
        c.request("GET", STREAM_PATH)                   # converse-stream is POST only
        r = c.getresponse()
        self.assertEqual(r.status, 404)
        r.read()
        c.request("GET", "/sse?pieces=x")
        r = c.getresponse()
        self.assertEqual(r.status, 400)
        r.read()
        c.close()
        s = raw_socket()
        s.sendall(b"POST /sse HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        self.assertTrue(s.makefile("rb").read().startswith(b"HTTP/1.1 411 "))
        s.close()

    def test_config_changes_the_defaults(self):
        c = conn()
        try:
            c.request("POST", "/config?pieces=2&delay_ms=1")
            r = c.getresponse()
            self.assertEqual(json.loads(r.read()), {"pieces": 2, "delay_ms": 1, "first_delay_ms": 0})
            c.request("GET", "/sse")
            self.assertEqual(c.getresponse().read().decode(), sse_text(2))
        finally:
            c.request("POST", "/config?pieces=%d&delay_ms=0" % PIECES)
            c.getresponse().read()
            c.close()

    def test_sigterm(self):
        other = Fake()
        s = socket.create_connection(("127.0.0.1", other.port), timeout=5)
        s.sendall(b"GET /sse?pieces=100&delay_ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(100)
        t0 = time.monotonic()
        rc, log = other.stop()
        self.assertEqual(rc, 0, log)
        self.assertLess(time.monotonic() - t0, 2)
        rest = s.makefile("rb").read()                  # its streams were closed
        self.assertNotIn(b"0\r\n\r\n", rest)
        s.close()


class TlsTest(unittest.TestCase):
    """Two TLS fakes: one offering h2 (and http/1.1), one http/1.1 only."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="fake-stream-tls.")
        cls.ca, cert, key = certs.make(cls.dir)
        cls.h2 = Fake("--pieces", str(PIECES), "--tls-cert", cert, "--tls-key", key,
                      "--h2-max-streams", "50")
        cls.h1 = Fake("--pieces", str(PIECES), "--tls-cert", cert, "--tls-key", key,
                      "--alpn", "http/1.1")

    @classmethod
    def tearDownClass(cls):
        bad = []
        for f in (cls.h2, cls.h1):
            rc, log = f.stop()
            if rc != 0 or "runtime error" in log or "Sanitizer" in log:
                bad.append("fake-stream exited %s: %s" % (rc, log[-3000:]))
        shutil.rmtree(cls.dir, ignore_errors=True)
        if bad:
            raise AssertionError("\n".join(bad))

    def context(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def stats(self, f):
        c = http.client.HTTPSConnection("127.0.0.1", f.port, timeout=5, context=self.context())
        c.request("GET", "/stats")
        v = json.loads(c.getresponse().read())
        c.close()
        return v

    def curl(self, f, *args):
        r = subprocess.run(["curl", "-sS", "--cacert", self.ca, "--max-time", "20", *args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_http11_over_tls_frames_and_keep_alive(self):
        for f in (self.h2, self.h1):        # a client offering only http/1.1 gets it from both
            c = http.client.HTTPSConnection("127.0.0.1", f.port, timeout=5, context=self.context())
            c.request("POST", STREAM_PATH, body='{"messages":[]}')
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
            msgs = EventStreamDecoder().feed(r.read())
            self.assertEqual([m.header(":event-type") for m in msgs],
                             ["messageStart"] + ["contentBlockDelta"] * PIECES
                             + ["contentBlockStop", "messageStop", "metadata"])
            sock = c.sock
            c.request("GET", "/sse?pieces=2")
            self.assertEqual(c.getresponse().read().decode(), sse_text(2))
            self.assertIs(c.sock, sock)
            c.close()

    def test_h2_streams_share_one_connection(self):
        n = 20
        before = self.stats(self.h2)
        out = os.path.join(self.dir, "h2")
        os.makedirs(out, exist_ok=True)
        args = ["--http2", "-Z", "--parallel-max", str(n), "-w", "%{http_version}\n"]
        for i in range(n):
            args += ["-o", os.path.join(out, "%d" % i),
                     "https://127.0.0.1:%d/sse?pieces=3&delay_ms=200" % self.h2.port]
        t0 = time.monotonic()
        versions = self.curl(self.h2, *args).decode().split()
        elapsed = time.monotonic() - t0
        after = self.stats(self.h2)
        self.assertEqual(versions, ["2"] * n)
        for i in range(n):
            with open(os.path.join(out, "%d" % i)) as f:
                self.assertEqual(f.read(), sse_text(3))
        # the curl run's connection and our second /stats connection
        self.assertEqual(after["connections"] - before["connections"], 2)
        self.assertEqual(after["h2_connections"] - before["h2_connections"], 1)
        self.assertEqual(after["streams"] - before["streams"], n)
        self.assertEqual(after["open_streams"], 0)
        self.assertLess(elapsed, 3.0)               # side by side: 0.6 s, not 20 x 0.6

    def test_h2_event_stream_and_errors(self):
        out = os.path.join(self.dir, "es")
        body = json.dumps({"messages": [{"role": "user", "content": [{"text": "x" * 100000}]}]})
        head = self.curl(self.h2, "--http2", "-D", "-", "-o", out, "-H", "Content-Type: application/json",
                         "--data-binary", body,
                         "https://127.0.0.1:%d%s?pieces=4" % (self.h2.port, STREAM_PATH)).decode()
        self.assertTrue(head.startswith("HTTP/2 200"), head)
        self.assertIn("content-type: application/vnd.amazon.eventstream", head)
        self.assertIn("x-amzn-requestid: ", head)
        with open(out, "rb") as f:
            msgs = EventStreamDecoder().feed(f.read())
        self.assertEqual([m.json() for m in msgs[1:5]],
                         [{"contentBlockIndex": 0, "delta": {"text": "w%d " % i}} for i in range(1, 5)])
        self.assertEqual(msgs[-1].json()["usage"]["outputTokens"], 4)
        # a tool offered: one toolUse step, as over HTTP/1.1
        tools = json.dumps({"messages": [{"role": "user", "content": [{"text": "bench-7"}]}],
                            "toolConfig": {"tools": [{"toolSpec": {"name": "calculator"}}]}},
                           separators=(",", ":"))          # compact, as the worker sends it
        self.curl(self.h2, "--http2", "-o", out, "--data-binary", tools,
                  "https://127.0.0.1:%d%s" % (self.h2.port, STREAM_PATH))
        with open(out, "rb") as f:
            msgs = EventStreamDecoder().feed(f.read())
        self.assertEqual(msgs[1].json()["start"]["toolUse"]["name"], "calculator")
        self.assertEqual(msgs[-2].json(), {"stopReason": "tool_use"})
        code = self.curl(self.h2, "--http2", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                         "https://127.0.0.1:%d/nope" % self.h2.port)
        self.assertEqual(code, b"404 2")
        code = self.curl(self.h2, "--http2", "-o", "/dev/null", "-w", "%{http_code}",
                         "https://127.0.0.1:%d/sse?pieces=x" % self.h2.port)
        self.assertEqual(code, b"400")

    def test_alpn_http11_only(self):
        before = self.stats(self.h1)
        out = os.path.join(self.dir, "h1")
        os.makedirs(out, exist_ok=True)
        args = ["--http2", "-Z", "--parallel-immediate", "-w", "%{http_version}\n"]
        for i in range(4):
            args += ["-o", os.path.join(out, "%d" % i),
                     "https://127.0.0.1:%d/sse?pieces=2&delay_ms=100" % self.h1.port]
        versions = self.curl(self.h1, *args).decode().split()
        after = self.stats(self.h1)
        self.assertEqual(versions, ["1.1"] * 4)
        for i in range(4):
            with open(os.path.join(out, "%d" % i)) as f:
                self.assertEqual(f.read(), sse_text(2))
        self.assertEqual(after["h2_connections"], 0)
        self.assertEqual(after["connections"] - before["connections"], 5)   # 4 + our /stats

    def test_session_resumed(self):
        ctx = self.context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_3
        before = self.stats(self.h1)
        session = None
        for i in range(2):
            raw = socket.create_connection(("127.0.0.1", self.h1.port), timeout=5)
            s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = s.makefile("rb").read()      # TLS 1.3 tickets come with it
            self.assertTrue(data.endswith(b"ok\n"), data)
            self.assertEqual(s.session_reused, i == 1)
            session = s.session
            s.close()
        after = self.stats(self.h1)
        self.assertEqual(after["tls_handshakes"] - before["tls_handshakes"], 3)
        self.assertEqual(after["tls_resumed"] - before["tls_resumed"], 1)

    def test_untrusted_client_leaves_the_fake_serving(self):
        raw = socket.create_connection(("127.0.0.1", self.h2.port), timeout=5)
        with self.assertRaises(ssl.SSLCertVerificationError):
            ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
        raw.close()
        self.assertEqual(self.curl(self.h2, "--http2", "https://127.0.0.1:%d/health" % self.h2.port),
                         b"ok\n")


if __name__ == "__main__":
    unittest.main()
