"""Streamed chat answers through the module: POST /api/v1/chat/stream with
the local offline model, which sends its answer in several `message`
events MANGOO_LOCAL_DELAY_MS apart.  What the module owns: stream headers,
events forwarded as they come, keepalive comments while the model is slow,
and an `error` event (then a proper end) when the worker dies mid-answer."""

import re
import time
import unittest

from harness import Stack
from sse_client import Comment, Event, SseStream

stack = None

PIECE_DELAY = 1.5       # seconds between the model's pieces (worker env)


def setUpModule():
    global stack
    # one worker process, so killing it surely kills the stream's job;
    # the idle timeout (mangoo_timeout) well above the model's pauses
    stack = Stack(workers=1, threads=4, timeout="10s",
                  env={"MANGOO_SSE_KEEPALIVE": "1s",
                       "MANGOO_LOCAL_DELAY_MS": str(int(PIECE_DELAY * 1000))}).start()


def tearDownModule():
    stack.stop()


class SseTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.token = stack.token("sse-user")
        r = stack.request("POST", "/api/v1/bots", {"name": "b", "model_id": "local"},
                          token=cls.token)
        assert r.status == 201, r
        cls.bot_id = r.json()["id"]

    def stream(self, message="hello there", **kw):
        return SseStream(stack.port, "/api/v1/chat/stream",
                         {"bot_id": self.bot_id, "message": message},
                         token=self.token, **kw)

    def test_stream_headers(self):
        with self.stream() as s:
            self.assertEqual(s.status, 200)
            self.assertTrue(s.header("content-type").startswith("text/event-stream"),
                            s.headers)
            self.assertEqual(s.header("transfer-encoding"), "chunked")
            self.assertEqual(s.header("x-accel-buffering"), "no")
            self.assertIsNone(s.header("content-length"))
            self.assertEqual(s.header("cache-control"), "no-cache")
            self.assertRegex(s.header("x-request-id"), r"^[0-9a-f]{32}$")
            # one of each, whatever the worker added
            names = [k for k, _ in s.header_list]
            for h in ("content-type", "x-request-id", "x-accel-buffering"):
                self.assertEqual(names.count(h), 1, s.header_list)

    def test_events_arrive_as_they_are_produced(self):
        with self.stream(timeout=120) as s:
            events = s.events()
            self.assertTrue(s.ended, "no chunked terminator")
        types = [e.type for e in events]
        self.assertEqual(types[0], "start", types)
        self.assertEqual(types[-1], "done", types)
        messages = [e for e in events if e.type == "message"]
        self.assertGreaterEqual(len(messages), 2, types)
        self.assertNotIn("error", types)
        for e in events:
            e.json()        # every data line is one compact JSON value
        # the first event reached us long before the last was produced
        self.assertLess(events[0].at, events[-1].at - PIECE_DELAY * 0.8)
        self.assertLess(messages[0].at, messages[-1].at - PIECE_DELAY * 0.8)

    def test_keepalive_comment_while_the_model_is_slow(self):
        with self.stream() as s:
            first = None
            for item in s.items():
                if first is None:
                    self.assertIsInstance(item, Event)
                    self.assertEqual(item.type, "start")
                    first = item
                    continue
                if isinstance(item, Comment):
                    self.assertEqual(item.text, "keepalive")
                    # mangoo_sse_keepalive 1s, pieces 1.5 s apart
                    self.assertLess(item.at - first.at, 2.5)
                    return
                self.assertLess(item.at - first.at, 2.5,
                                "no keepalive comment in a 1.5 s pause")
            self.fail("the stream ended without a keepalive comment")

    def test_worker_killed_mid_stream_ends_with_error_event(self):
        try:
            with self.stream() as s:
                rid = s.header("x-request-id")
                items = s.items()
                first = next(items)
                self.assertEqual(first.type, "start")
                stack.kill_worker(0)
                killed = time.monotonic()
                rest = [x for x in items if isinstance(x, Event)]
                self.assertTrue(rest, "nothing after the kill")
                last = rest[-1]
                self.assertEqual(last.type, "error", rest)
                err = last.json()
                self.assertEqual(err["code"], "worker_lost")
                self.assertEqual(err["request_id"], rid)
                self.assertTrue(err["message"])
                # the disconnect is noticed at once, not at a timeout
                self.assertLess(last.at - killed, 2.0)
                # and the stream then ends properly
                self.assertTrue(s.ended, "no chunked terminator after the error")
                self.assertEqual(s.trailing, b"")
        finally:
            stack.start_worker(0)
            ok = stack.wait_for(lambda: stack.request("GET", "/health").status == 200,
                                timeout=15)
            self.assertTrue(ok, "the worker did not come back")


if __name__ == "__main__":
    unittest.main()
