"""End-to-end tests of the Prometheus metrics at /metrics (mangoo_metrics):
nginx's own, summed over its two processes through shared memory, and
every worker's, merged in with a worker="<endpoint>" label.  Numbers are
read before and after real traffic and must move by exactly what was
done; the text must satisfy a strict reader (prometheus.py) and
Prometheus' own linter, promtool.

Run: python3 tests/e2e/run.py test_metrics.py
"""

import http.client
import os
import socket
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, WORKER_BIN  # noqa: E402
from prometheus import parse, value, samples  # noqa: E402
from sse_client import SseStream  # noqa: E402

stack = None
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def setUpModule():
    global stack
    # the local model slow enough to scrape a stream while it is open
    stack = Stack(workers=2, env={"MANGOO_LOCAL_DELAY_MS": "40"}).start()


def tearDownModule():
    if stack is not None:
        stack.stop()


def scrape_text():
    r = stack.request("GET", "/metrics")
    assert r.status == 200, r
    assert r.header("content-type") == CONTENT_TYPE, r.headers
    assert r.header("cache-control") == "no-store", r.headers
    return r.body.decode()


def scrape():
    return parse(scrape_text())


def user(prefix):
    token = stack.token(sub="%s-%s" % (prefix, uuid.uuid4().hex[:8]))
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return token


def bots_get(**labels):
    return dict(route="/api/v1/bots", method="GET", **labels)


class Format(unittest.TestCase):

    def test_promtool_accepts_the_whole_scrape(self):
        token = user("fmt")
        stack.request("GET", "/api/v1/bots", token=token)
        text = scrape_text()
        out = subprocess.run(["promtool", "check", "metrics"], input=text,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertEqual(out.stdout.strip(), "", "promtool found problems")
        parse(text)

    def test_both_workers_answer_and_every_sample_of_theirs_is_labelled(self):
        fams = scrape()
        ok = {l["worker"]: v for l, v in samples(fams, "mangoo_endpoint_scrape_success")}
        self.assertEqual(ok, {stack.worker_endpoint(0): 1.0, stack.worker_endpoint(1): 1.0})
        worker_fams = [n for n in fams if n.startswith("mangoo_worker_")]
        self.assertGreater(len(worker_fams), 5, sorted(fams))
        for name in worker_fams:
            for sname, labels, _ in fams[name]["samples"]:
                self.assertIn(labels.get("worker"),
                              (stack.worker_endpoint(0), stack.worker_endpoint(1)),
                              "%s %s" % (sname, labels))

    def test_the_location_is_private_and_read_only(self):
        # from another loopback address than the allowed 127.0.0.1
        sock = socket.create_connection(("127.0.0.1", stack.port), timeout=10,
                                        source_address=("127.0.0.2", 0))
        try:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                data += piece
        finally:
            sock.close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 403"), head)
        self.assertIn(b'"code":"forbidden"', body)
        self.assertNotIn(b"mangoo_http", body)

        r = stack.request("POST", "/metrics", raw=b"")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.json()["error"]["code"], "method_not_allowed")


class Requests(unittest.TestCase):

    def test_requests_are_counted_by_route_and_code_across_processes(self):
        token = user("req")
        before = scrape()
        # fresh connections: the two nginx processes share them out
        for _ in range(6):
            self.assertEqual(stack.request("GET", "/api/v1/bots", token=token).status, 200)
        missing = "/api/v1/bots/%s" % uuid.uuid4()
        self.assertEqual(stack.request("GET", missing, token=token).status, 404)
        self.assertEqual(stack.request("GET", "/api/v1/no-such-thing", token=token).status, 404)
        self.assertEqual(stack.request("DELETE", "/api/v1/models", token=token).status, 405)
        after = scrape()

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        self.assertEqual(delta("mangoo_http_requests_total", **bots_get(code="200")), 6)
        self.assertEqual(delta("mangoo_http_request_duration_seconds_count", **bots_get()), 6)
        self.assertGreater(delta("mangoo_http_request_duration_seconds_sum", **bots_get()), 0)
        self.assertEqual(delta("mangoo_http_requests_total", route="/api/v1/bots/{id}",
                               method="GET", code="404"), 1)
        self.assertEqual(delta("mangoo_http_requests_total", route="unmatched", code="404"), 1)
        self.assertEqual(delta("mangoo_http_requests_total", route="unmatched", code="405"), 1)

    def test_tokens_verified_rejected_and_cached(self):
        before = scrape()
        token = stack.token(sub="jwt-%s" % uuid.uuid4().hex[:8])
        for _ in range(3):
            self.assertEqual(stack.request("GET", "/api/v1/users/me", token=token).status, 200)
        self.assertEqual(stack.request("GET", "/api/v1/users/me", token=token[:-4] + "AAAA").status, 401)
        after = scrape()

        def delta(outcome):
            return (value(after, "mangoo_jwt_verifications_total", outcome=outcome)
                    - value(before, "mangoo_jwt_verifications_total", outcome=outcome))

        # each nginx process verifies a token once, then keeps it
        self.assertIn(delta("verified"), (1, 2))
        self.assertEqual(delta("verified") + delta("cache_hit"), 3)
        self.assertEqual(delta("rejected"), 1)


class Streams(unittest.TestCase):

    def test_a_chat_moves_stream_and_worker_metrics(self):
        token = user("chat")
        bot = stack.request("POST", "/api/v1/bots", {"name": "m", "model_id": "local"},
                            token=token).json()["id"]
        before = scrape()
        s = SseStream(stack.port, "/api/v1/chat/stream",
                      {"bot_id": bot, "message": "count the events"}, token=token)
        self.assertEqual(s.status, 200)
        # the head is here: the stream is open in nginx and in a worker
        during = scrape()
        self.assertEqual(value(during, "mangoo_http_streams_open")
                         - value(before, "mangoo_http_streams_open"), 1)
        self.assertEqual(value(during, "mangoo_worker_streams_open")
                         - value(before, "mangoo_worker_streams_open"), 1)
        body = s.body()
        s.close()
        self.assertTrue(body.startswith(b"id: 1\nevent: start"), body[:80])
        self.assertIn(b"event: done", body)

        def settled():
            m = scrape()
            return m if value(m, "mangoo_http_streams_open") == value(before, "mangoo_http_streams_open") \
                and value(m, "mangoo_worker_streams_open") == value(before, "mangoo_worker_streams_open") \
                else None
        after = stack.wait_for(settled, timeout=5)
        self.assertIsNotNone(after, "a finished stream is still counted open")

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        # what the client read, to the byte (no keepalive in so short a stream)
        self.assertGreater(body.count(b"\n\n"), 3)
        self.assertEqual(delta("mangoo_http_stream_events_total"), body.count(b"\n\n"))
        self.assertEqual(delta("mangoo_http_stream_bytes_total"), len(body))
        self.assertEqual(delta("mangoo_http_stream_first_event_seconds_count"), 1)
        self.assertEqual(delta("mangoo_http_requests_total", route="/api/v1/chat/stream",
                               method="POST", code="200"), 1)
        self.assertEqual(delta("mangoo_worker_jobs_total", job="chat.stream", outcome="ok"), 1)
        self.assertEqual(delta("mangoo_worker_provider_requests_total", provider="local"), 1)
        self.assertEqual(delta("mangoo_worker_provider_first_token_seconds_count", provider="local"), 1)
        self.assertGreater(delta("mangoo_worker_provider_tokens_total", provider="local",
                                 direction="output"), 0)
        self.assertGreater(delta("mangoo_worker_stream_events_total"), 0)
        self.assertGreater(delta("mangoo_worker_postgres_statement_seconds_count"), 0)


class CollectOff(unittest.TestCase):

    def test_an_instance_that_collects_nothing_serves_the_api_and_404_metrics(self):
        inst = stack.start_nginx("nometrics", env={"MANGOO_METRICS": "off"})
        try:
            token = user("off")
            r = stack.request("GET", "/api/v1/bots", token=token)
            self.assertEqual(r.status, 200)
            conn = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=10)
            conn.request("GET", "/api/v1/bots", headers={"Authorization": "Bearer " + token})
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            resp.read()
            conn.request("GET", "/metrics")
            resp = conn.getresponse()
            self.assertEqual(resp.status, 404)
            self.assertIn(b'"code":"not_found"', resp.read())
            conn.close()
        finally:
            inst.stop()


    def test_a_worker_that_counts_nothing_answers_an_empty_scrape(self):
        ep = stack.worker_endpoint(1)
        stack._ab("stop-worker", "1")
        stack.start_worker(1, env={"MANGOO_METRICS": "off"})
        try:
            m = stack.wait_for(lambda: (lambda m: m if value(
                m, "mangoo_endpoint_scrape_success", worker=ep) == 1 else None)(scrape()))
            self.assertIsNotNone(m)
            self.assertEqual([n for n in m for _, l, _ in m[n]["samples"]
                              if l.get("worker") == ep and n.startswith("mangoo_worker_")], [])
            self.assertGreater(value(m, "mangoo_worker_start_time_seconds",
                                     worker=stack.worker_endpoint(0)), 0)
        finally:
            stack._ab("stop-worker", "1")
            stack.start_worker(1)

    def test_a_bad_setting_refuses_to_start(self):
        r = subprocess.run([WORKER_BIN, "serve", "--no-migrate", "--bind", "tcp://127.0.0.1:1"],
                           env=dict(os.environ, MANGOO_METRICS="maybe"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("MANGOO_METRICS", r.stderr)


class Workers(unittest.TestCase):
    """Last (unittest runs classes by name): stops a worker and reloads."""

    def test_z1_a_stopped_worker_shows_and_fails_as_no_workers(self):
        ep = stack.worker_endpoint(1)
        # both nginx processes connected (a worker restarted before may be
        # reconnecting still)
        before = stack.wait_for(lambda: (lambda m: m if value(
            m, "mangoo_endpoint_connections", worker=ep) == 2 else None)(scrape()))
        self.assertIsNotNone(before)
        stack.kill_worker(0)
        stack.kill_worker(1)
        try:
            token = stack.token(sub="nw-%s" % uuid.uuid4().hex[:8])
            r = stack.request("GET", "/api/v1/users/me", token=token)
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["error"]["code"], "no_workers")
            down = stack.wait_for(lambda: (lambda m: m if value(
                m, "mangoo_endpoint_connections", worker=ep) == 0 else None)(scrape()))
            self.assertIsNotNone(down)
            self.assertEqual(value(down, "mangoo_endpoint_scrape_success", worker=ep), 0)
            self.assertEqual(value(down, "mangoo_http_worker_failures_total", cause="no_workers")
                             - value(before, "mangoo_http_worker_failures_total",
                                     cause="no_workers"), 1)
            self.assertGreaterEqual(value(down, "mangoo_endpoint_disconnects_total", worker=ep)
                                    - value(before, "mangoo_endpoint_disconnects_total",
                                            worker=ep), 2)
            self.assertFalse([n for n in down if n.startswith("mangoo_worker_")])
        finally:
            stack.start_worker(0)
            stack.start_worker(1)
        # back: answering, and both nginx processes connected again
        up = stack.wait_for(lambda: (lambda m: m if value(
            m, "mangoo_endpoint_scrape_success", worker=ep) == 1 and value(
            m, "mangoo_endpoint_connections", worker=ep) == 2 else None)(scrape()))
        self.assertIsNotNone(up, "the restarted worker is not back in both nginx processes")
        self.assertEqual(stack.request("GET", "/api/v1/users/me", token=token).status, 200)

    def test_z2_a_reload_keeps_the_counters(self):
        token = user("reload")
        stack.request("GET", "/api/v1/bots", token=token)
        before = scrape()
        stack.reload_nginx()
        # the old processes leave, the new ones connect: still two each
        time.sleep(1)
        after = stack.wait_for(lambda: (lambda m: m if all(
            value(m, "mangoo_endpoint_connections", worker=stack.worker_endpoint(i)) == 2
            for i in (0, 1)) else None)(scrape()), timeout=15)
        self.assertIsNotNone(after, "endpoint connections did not settle at 2 after the reload")
        self.assertGreaterEqual(value(after, "mangoo_http_requests_total", **bots_get(code="200")),
                                value(before, "mangoo_http_requests_total", **bots_get(code="200")))
        self.assertGreater(value(after, "mangoo_endpoint_connects_total"),
                           value(before, "mangoo_endpoint_connects_total"))


    def test_z3_reloads_that_turn_metrics_off_and_on_keep_serving(self):
        token = user("toggle")

        def reload_with(mode):
            stack.env["MANGOO_METRICS"] = mode
            stack._ab("render-conf")
            before = stack.nginx_worker_pids()
            stack.reload_nginx()
            # new processes serve (none died at start), the old ones leave
            self.assertTrue(stack.wait_for(lambda: len(stack.nginx_worker_pids() - before) == 2
                                           and not (stack.nginx_worker_pids() & before), timeout=15))

        try:
            reload_with("off")
            self.assertEqual(stack.request("GET", "/api/v1/bots", token=token).status, 200)
            self.assertEqual(stack.request("GET", "/metrics").status, 404)
        finally:
            reload_with("on")
        self.assertEqual(stack.request("GET", "/api/v1/bots", token=token).status, 200)
        m = stack.wait_for(lambda: (lambda m: m if value(
            m, "mangoo_endpoint_connections", worker=stack.worker_endpoint(0)) == 2
            else None)(scrape()), timeout=10)
        self.assertIsNotNone(m)
        self.assertNotIn("exited with fatal code", stack.log_text("nginx-error.log"))



if __name__ == "__main__":
    unittest.main()
