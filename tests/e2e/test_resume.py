"""Answers that survive a lost connection: every event of an answer has an
id, closing the connection does not stop the answer for the grace period,
and GET /api/v1/chats/{id}/stream with Last-Event-ID sends what was missed,
then the live rest, exactly once and in order: from the worker's replay
buffer (or a snapshot once that has dropped them), through another nginx
instance too, or from the database once the answer is over.  A second tab
attaches the same way; POST /api/v1/chats/{id}/cancel stops the answer for
everyone attached.

The offline model answers by quoting the question one word at a time,
PIECE_MS apart, so a long question makes a long, slow answer."""

import time
import unittest

from harness import Stack
from sse_client import SseStream

stack = None
other = None            # a second nginx instance before the same workers

PIECE_MS = 20
GRACE_S = 2
REPLAY_BYTES = 512      # the smallest: the start event and 4 bytes a delta


def setUpModule():
    global stack, other
    stack = Stack(workers=2, threads=4, timeout="10s", env={
        "MANGOO_LOCAL_DELAY_MS": str(PIECE_MS),
        "MANGOO_STREAM_GRACE": str(GRACE_S),
        "MANGOO_STREAM_REPLAY": str(REPLAY_BYTES),
    }).start()
    other = stack.start_nginx("other")


def tearDownModule():
    stack.stop()


def question(words):
    return " ".join("w%d" % i for i in range(words))


def stored(message_id):
    """(status, content, stream_events) of a stored answer, or None."""
    out = stack.psql("SELECT status || '|' || coalesce(stream_events::text, '') || '|' || "
                     "content || '|' FROM messages WHERE id = '%s'" % message_id)
    if not out:
        return None
    status, events, content = out[:-1].split("|", 2)
    return status, content, int(events) if events else None


def ids(events):
    return [int(e.id) for e in events]


def text_of(events):
    """The answer's text as a client builds it: deltas appended, a
    snapshot replacing what came before."""
    text = ""
    for e in events:
        if e.type == "message":
            text += e.json()["content"]
        elif e.type == "snapshot":
            text = e.json()["content"]
    return text


class ResumeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.token = stack.token("resume-user")
        r = stack.request("POST", "/api/v1/bots", {"name": "slow", "model_id": "local"},
                          token=cls.token)
        assert r.status == 201, r
        cls.bot = r.json()["id"]

    def ask(self, words=40, chat_id=None, token=None):
        body = {"bot_id": self.bot, "message": question(words)}
        if chat_id:
            body["chat_id"] = chat_id
        s = SseStream(stack.port, "/api/v1/chat/stream", body, token=token or self.token)
        self.assertEqual(s.status, 200)
        return s

    def resume(self, chat_id, last=None, port=None, token=None, query=""):
        headers = {} if last is None else {"Last-Event-ID": str(last)}
        return SseStream(port or stack.port, "/api/v1/chats/%s/stream%s" % (chat_id, query),
                         token=token or self.token, method="GET", headers=headers)

    def read(self, s, n):
        out = []
        for _ in range(n):
            e = s.next()
            self.assertIsNotNone(e, "the stream ended after %d events" % len(out))
            out.append(e)
        return out

    def finished(self, message_id):
        return stack.wait_for(lambda: (stored(message_id) or (None,))[0] is not None
                              and stored(message_id), timeout=30)

    def check_whole(self, events, message_id):
        """Every id once, in order, ending with done; the text as stored."""
        self.assertEqual(ids(events), list(range(1, len(events) + 1)))
        self.assertEqual(events[-1].type, "done", events[-3:])
        status, content, count = self.finished(message_id)
        self.assertEqual(status, "complete")
        self.assertEqual(count, len(events))
        self.assertEqual(text_of(events), content)
        self.assertTrue(content.strip())

    # -- the events of an answer ---------------------------------------

    def test_every_event_has_an_id_in_order(self):
        with self.ask(words=8) as s:
            events = s.events()
        self.assertEqual(events[0].type, "start")
        self.check_whole(events, events[0].json()["message_id"])

    def test_drop_and_resume_at_several_points(self):
        for n in (1, 2, 5, 17):
            with self.subTest(after=n):
                s = self.ask(words=30)
                before = self.read(s, n)
                start = before[0].json()
                s.close()
                time.sleep(0.2)
                with self.resume(start["chat_id"], last=before[-1].id) as r:
                    self.assertEqual(r.status, 200)
                    self.assertTrue(r.header("content-type").startswith("text/event-stream"))
                    after = r.events()
                self.assertNotIn("snapshot", [e.type for e in after])
                self.check_whole(before + after, start["message_id"])

    def test_resume_before_the_first_event_replays_from_the_start(self):
        first = self.ask(words=3)
        chat_id = first.next().json()["chat_id"]
        first.events()
        first.close()
        # the next turn's client leaves before reading anything
        s = self.ask(words=20, chat_id=chat_id)
        s.close()
        with self.resume(chat_id) as r:
            events = r.events()
        self.assertEqual(events[0].type, "start")
        self.check_whole(events, events[0].json()["message_id"])

    def test_resume_after_done(self):
        with self.ask(words=5) as s:
            events = s.events()
        start = events[0].json()
        last = len(events)
        # everything seen: nothing more, and EventSource stops on 204
        r = stack.request("GET", "/api/v1/chats/%s/stream" % start["chat_id"],
                          token=self.token, headers={"Last-Event-ID": str(last)})
        self.assertEqual(r.status, 204, r)
        # all but the end: the end alone, with its own id
        with self.resume(start["chat_id"], last=last - 1) as r:
            rest = r.events()
        self.assertEqual([(e.type, e.id) for e in rest], [("done", str(last))])
        self.assertEqual(rest[0].json(), events[-1].json())
        # from further back: the stored answer whole, then its end
        with self.resume(start["chat_id"], last=2) as r:
            rest = r.events()
        self.assertEqual([e.type for e in rest], ["snapshot", "done"])
        self.assertEqual(ids(rest), [last - 1, last])
        self.assertEqual(rest[0].json()["content"], text_of(events))
        self.assertEqual(rest[0].json()["message_id"], start["message_id"])
        # the same answer named by its id, and the id as a query parameter
        with self.resume(start["chat_id"], query="?message_id=%s&last_event_id=%d"
                         % (start["message_id"], last - 1)) as r:
            self.assertEqual([e.type for e in r.events()], ["done"])

    def test_a_closed_connection_does_not_stop_the_answer(self):
        # short enough to end well within the grace period
        s = self.ask(words=5)
        start = s.next().json()
        s.next()
        s.close()
        status, content, count = self.finished(start["message_id"])
        self.assertEqual(status, "complete")
        self.assertIn("w0 w1 w2 w3 w4", content)
        self.assertGreater(count, 4)

    def test_a_resume_after_the_grace_period_gets_the_stored_answer(self):
        s = self.ask(words=400)         # far longer than the grace period
        before = self.read(s, 3)
        start = before[0].json()
        s.close()
        status, content, count = self.finished(start["message_id"])
        # nobody came back: stopped where it stood, and stored so
        self.assertEqual(status, "cancelled")
        self.assertNotIn("w399", content)
        self.assertTrue(content.startswith(text_of(before)))
        with self.resume(start["chat_id"], last=before[-1].id) as r:
            rest = r.events()
        self.assertEqual([e.type for e in rest], ["snapshot", "done"])
        self.assertEqual(ids(rest), [count - 1, count])
        self.assertEqual(rest[0].json()["content"], content)
        self.assertEqual(rest[1].json()["stop_reason"], "cancelled")

    def test_events_no_longer_held_come_as_a_snapshot(self):
        s = self.ask(words=400)
        start = s.next().json()
        # the log (512 bytes) drops its oldest half when full: the start
        # event (with the new chat's title, over 256 bytes) goes first
        self.read(s, 60)
        s.close()
        with self.resume(start["chat_id"]) as r:
            after = r.events()
        self.assertEqual(after[0].type, "snapshot")
        snap = after[0].json()
        self.assertEqual((snap["chat_id"], snap["message_id"]),
                         (start["chat_id"], start["message_id"]))
        self.assertGreater(int(after[0].id), 60)
        self.assertEqual(ids(after[1:]), list(range(int(after[0].id) + 1,
                                                    int(after[0].id) + len(after))))
        status, content, count = self.finished(start["message_id"])
        self.assertEqual(status, "complete")
        self.assertEqual(text_of(after), content)
        self.assertEqual(count, int(after[-1].id))

    # -- from elsewhere ---------------------------------------------------

    def test_resume_through_another_nginx_instance(self):
        s = self.ask(words=30)
        before = self.read(s, 4)
        start = before[0].json()
        s.close()
        with self.resume(start["chat_id"], last=before[-1].id, port=other.port) as r:
            self.assertEqual(r.status, 200)
            after = r.events()
        self.check_whole(before + after, start["message_id"])

    def test_a_second_tab_attaches_and_both_get_everything(self):
        a = self.ask(words=30)
        head = self.read(a, 3)
        start = head[0].json()
        with self.resume(start["chat_id"], port=other.port) as b:
            b_events = b.events()
        a_events = head + a.events()
        a.close()
        self.check_whole(a_events, start["message_id"])
        self.assertEqual([(e.id, e.type, e.data) for e in b_events],
                         [(e.id, e.type, e.data) for e in a_events])

    def test_stop_ends_every_tab(self):
        a = self.ask(words=300)
        head = self.read(a, 3)
        start = head[0].json()
        b = self.resume(start["chat_id"], last=head[-1].id, port=other.port)
        self.assertEqual(b.status, 200)
        self.read(b, 1)
        r = stack.request("POST", "/api/v1/chats/%s/cancel" % start["chat_id"],
                          token=self.token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"message_id": start["message_id"], "status": "cancelled"})
        for s in (a, b):
            rest = s.events()
            self.assertEqual(rest[-1].type, "done", rest[-3:])
            self.assertEqual(rest[-1].json()["stop_reason"], "cancelled")
            self.assertTrue(s.ended)
            s.close()
        status, content, _ = self.finished(start["message_id"])
        self.assertEqual(status, "cancelled")
        self.assertNotIn("w299", content)
        # nothing is in progress any more
        r = stack.request("POST", "/api/v1/chats/%s/cancel" % start["chat_id"],
                          token=self.token)
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.json()["error"]["code"], "not_streaming")

    # -- what is refused -------------------------------------------------

    def test_bad_ids_and_other_users_chats_are_not_found(self):
        with self.ask(words=60) as s:
            start = s.next().json()
            chat = start["chat_id"]
            stranger = stack.token("resume-stranger")
            for path, token in (("/api/v1/chats/%s/stream" % chat, stranger),
                                ("/api/v1/chats/not-a-uuid/stream", self.token),
                                ("/api/v1/chats/00000000-0000-4000-8000-000000000000/stream",
                                 self.token),
                                ("/api/v1/chats/%s/cancel" % chat, stranger)):
                method = "POST" if path.endswith("cancel") else "GET"
                r = stack.request(method, path, token=token)
                self.assertEqual(r.status, 404, (path, r))
                self.assertEqual(r.json()["error"]["code"], "chat_not_found")
            r = stack.request("GET", "/api/v1/chats/%s/stream?message_id=nope" % chat,
                              token=self.token)
            self.assertEqual((r.status, r.json()["error"]["code"]), (404, "no_stream"))
            for bad in ("abc", "-1", "1.5", "99999999999", "4000000"):
                r = stack.request("GET", "/api/v1/chats/%s/stream" % chat, token=self.token,
                                  headers={"Last-Event-ID": bad})
                self.assertEqual(r.status, 400, (bad, r))
                self.assertEqual(r.json()["error"]["code"], "invalid_last_event_id")
            for bad in ("abc", "%zz", "1" * 40):
                r = stack.request("GET", "/api/v1/chats/%s/stream?last_event_id=%s"
                                  % (chat, bad), token=self.token)
                self.assertEqual(r.status, 400, (bad, r))
                self.assertEqual(r.json()["error"]["code"], "invalid_last_event_id")
            # the stranger's tries changed nothing: the answer goes on to its end
            events = s.events()
        self.assertEqual(events[-1].type, "done")
        self.assertEqual(stored(start["message_id"])[0], "complete")
        r = stack.request("GET", "/api/v1/chats/%s/stream" % chat)
        self.assertEqual(r.status, 401)

    def test_a_chat_with_no_answer_yet_has_no_stream(self):
        r = stack.request("POST", "/api/v1/chats/00000000-0000-4000-8000-000000000001/cancel",
                          token=self.token)
        self.assertEqual(r.status, 404)
        with self.ask(words=2) as s:
            chat = s.events()[0].json()["chat_id"]
        # the answer is over: nothing to stop
        r = stack.request("POST", "/api/v1/chats/%s/cancel" % chat, token=self.token)
        self.assertEqual((r.status, r.json()["error"]["code"]), (409, "not_streaming"))


if __name__ == "__main__":
    unittest.main()
