"""End-to-end tests of chat: POST /api/v1/chat/stream (SSE) and POST
/api/v1/chat, with the offline model and with fake Bedrock and
OpenAI-compatible servers (tests/e2e/fakes.py) that speak the real wire
formats and check SigV4 signatures.  Faults: provider throttling, errors
before and during the stream, corrupted frames, a silent provider, a client
that leaves, a worker killed mid-stream, another user's bot or chat, bad
and oversized messages, the daily quota.
"""

import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakes import (FakeBedrock, FakeOpenAI, Reply, DEFAULT_ACCESS_KEY_ID,  # noqa: E402
                   DEFAULT_SECRET_ACCESS_KEY, DEFAULT_API_KEY)
from harness import Stack  # noqa: E402
from sse_client import SseStream, chat_stream as stream, text_of  # noqa: E402

stack = bedrock = openai = None

CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
QUOTA = 100000
MESSAGE_MAX = 2000


def setUpModule():
    global stack, bedrock, openai
    bedrock = FakeBedrock().start()
    openai = FakeOpenAI().start()
    stack = Stack(workers=2, threads=4, timeout="5s", env={
        # a client that leaves stops its answer at once here (no grace to
        # come back in: test_resume covers that)
        "MANGOO_STREAM_GRACE": "0",
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
        "MANGOO_OPENAI_BASE_URL": openai.url + "/v1",
        "MANGOO_OPENAI_API_KEY": DEFAULT_API_KEY,
        "MANGOO_PROVIDER_TIMEOUT": "2",
        "MANGOO_PROVIDER_BACKOFF_MS": "50",
        "MANGOO_LOCAL_DELAY_MS": "5",
        "MANGOO_DAILY_TOKEN_QUOTA": str(QUOTA),
        "MANGOO_MESSAGE_MAX": str(MESSAGE_MAX),
        "MANGOO_HISTORY_TOKENS": "3000",
        "MANGOO_SSE_MAX_BUFFERED": "64k",
    }).start()


def tearDownModule():
    for s in (stack, bedrock, openai):
        if s is not None:
            s.stop()


_users = iter(range(1, 1000000))


def new_user():
    sub = "chat-user-%d" % next(_users)
    token = stack.token(sub=sub)
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return sub, token


def make_bot(token, model="local", **fields):
    body = dict(name="b", model_id=model, **fields)
    r = stack.request("POST", "/api/v1/bots", body=body, token=token)
    assert r.status == 201, r
    return r.json()["id"]


def psql(sql):
    return stack.psql(sql).strip()


def message_rows(chat_id):
    out = psql("SELECT role || '|' || status || '|' || coalesce(error, '') || '|' || "
               "coalesce(stop_reason, '') || '|' || content || '|' FROM messages "
               "WHERE chat_id = '%s' ORDER BY created_at, id" % chat_id)
    # the trailing '|' keeps spaces at the end of a content
    return [line[:-1].split("|", 4) for line in out.splitlines() if line]


def count_rows(sub):
    return psql("SELECT (SELECT count(*) FROM chats WHERE owner_id = '%s') || ',' || "
                "(SELECT count(*) FROM messages WHERE user_id = '%s')" % (sub, sub))


class LocalModel(unittest.TestCase):
    def test_stream_events_and_storage(self):
        sub, token = new_user()
        bot = make_bot(token, instructions="be kind")
        s = stream(stack, {"bot_id": bot, "message": "Hello there, offline friend"}, token)
        self.assertEqual(s.status, 200)
        self.assertTrue(s.headers["content-type"].startswith("text/event-stream"))
        self.assertNotIn("content-length", s.headers)
        self.assertEqual(s.headers.get("transfer-encoding"), "chunked")
        self.assertEqual(s.headers.get("x-accel-buffering"), "no")
        self.assertEqual(s.headers.get("cache-control"), "no-cache")
        events = s.events()
        names = [e.type for e in events]
        self.assertEqual(names[0], "start")
        self.assertEqual(names[-1], "done")
        self.assertGreater(names.count("message"), 5)
        self.assertEqual(set(names[1:-1]), {"message"})
        start, done = events[0].json(), events[-1].json()
        self.assertTrue(start["chat_created"])
        self.assertEqual(start["bot_id"], bot)
        self.assertEqual(start["model"], "local")
        self.assertEqual(start["title"], "Hello there, offline friend")
        text = text_of(events)
        self.assertIn("offline model", text)
        self.assertIn("Hello there, offline friend", text)
        self.assertEqual(done["stop_reason"], "end_turn")
        self.assertEqual(done["message_id"], start["message_id"])
        self.assertEqual(done["usage"]["output_tokens"], names.count("message"))
        self.assertGreater(done["usage"]["input_tokens"], 0)
        # the user's message and the answer are stored, in order
        rows = message_rows(start["chat_id"])
        self.assertEqual([r[0] for r in rows], ["user", "assistant"])
        self.assertEqual(rows[0][4], "Hello there, offline friend")
        self.assertEqual(rows[1][1:4], ["complete", "", "end_turn"])
        self.assertEqual(rows[1][4], text)
        self.assertEqual(psql("SELECT id FROM messages WHERE role = 'user' AND chat_id = '%s'"
                              % start["chat_id"]), start["user_message_id"])
        usage = psql("SELECT requests || ',' || output_tokens FROM usage WHERE user_id = '%s'"
                     % sub)
        self.assertEqual(usage, "1,%d" % names.count("message"))

    def test_events_arrive_as_they_are_made(self):
        _, token = new_user()
        bot = make_bot(token)
        s = stream(stack, {"bot_id": bot, "message": "pace me"}, token)
        events = s.events()
        msgs = [e for e in events if e.type == "message"]
        # 5 ms between pieces: the stream is spread out, not one burst
        self.assertGreater(msgs[-1].at - msgs[0].at, 0.05)

    def test_max_tokens_cuts_the_answer(self):
        _, token = new_user()
        bot = make_bot(token, max_tokens=3)
        events = stream(stack, {"bot_id": bot, "message": "hi"}, token).events()
        self.assertEqual([e.type for e in events].count("message"), 3)
        self.assertEqual(events[-1].json()["stop_reason"], "max_tokens")

    def test_continue_a_chat(self):
        _, token = new_user()
        bot = make_bot(token)
        first = stream(stack, {"bot_id": bot, "message": "one"}, token).events()
        chat = first[0].json()["chat_id"]
        second = stream(stack, {"bot_id": bot, "chat_id": chat, "message": "two"}, token).events()
        self.assertEqual(second[0].json()["chat_id"], chat)
        self.assertFalse(second[0].json()["chat_created"])
        self.assertNotIn("title", second[0].json())
        self.assertEqual([r[0] for r in message_rows(chat)],
                         ["user", "assistant", "user", "assistant"])

    def test_non_streaming_answer(self):
        _, token = new_user()
        bot = make_bot(token)
        r = stack.request("POST", "/api/v1/chat", body={"bot_id": bot, "message": "whole"},
                          token=token)
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertIn("whole", body["content"])
        self.assertEqual(body["stop_reason"], "end_turn")
        rows = message_rows(body["chat_id"])
        self.assertEqual(rows[1][4], body["content"])
        self.assertEqual(psql("SELECT id FROM messages WHERE role = 'assistant' "
                              "AND chat_id = '%s'" % body["chat_id"]), body["message_id"])

    def test_long_title_is_cut_at_a_word(self):
        _, token = new_user()
        bot = make_bot(token)
        msg = "Tell me everything about the history of streaming protocols " * 3
        start = stream(stack, {"bot_id": bot, "message": msg + "\nsecond line"}, token).next()
        title = start.json()["title"]
        self.assertTrue(title.endswith("\u2026"), title)
        self.assertLessEqual(len(title), 61)
        self.assertTrue(msg.startswith(title[:-1]))


class BadInput(unittest.TestCase):
    def assert_refused(self, sub, token, body, status, code, raw=None):
        before = count_rows(sub)
        s = stream(stack, body, token, raw=raw)
        self.assertEqual(s.status, status, s)
        self.assertEqual(s.json()["error"]["code"], code)
        self.assertEqual(count_rows(sub), before)

    def test_bad_bodies(self):
        sub, token = new_user()
        bot = make_bot(token)
        self.assert_refused(sub, token, {"bot_id": bot, "message": ""}, 400, "invalid_field")
        self.assert_refused(sub, token, {"bot_id": bot, "message": "  \n\t"}, 400,
                            "invalid_field")
        self.assert_refused(sub, token, {"bot_id": bot}, 400, "invalid_field")
        self.assert_refused(sub, token, {"message": "x"}, 400, "invalid_field")
        self.assert_refused(sub, token, {"bot_id": "nope", "message": "x"}, 400,
                            "invalid_field")
        self.assert_refused(sub, token, {"bot_id": bot, "message": 7}, 400, "invalid_field")
        self.assert_refused(sub, token, {"bot_id": bot, "message": "x", "extra": 1}, 400,
                            "unknown_field")
        self.assert_refused(sub, token, None, 400, "invalid_json", raw=b"{not json")

    def test_oversized_message(self):
        sub, token = new_user()
        bot = make_bot(token)
        self.assert_refused(sub, token, {"bot_id": bot, "message": "\u00e9" * (MESSAGE_MAX + 1)},
                            413, "message_too_large")
        # exactly the limit (in characters, not bytes) is fine
        s = stream(stack, {"bot_id": bot, "message": "\u00e9" * MESSAGE_MAX}, token)
        self.assertEqual(s.status, 200)
        s.events()
        # over nginx's client_max_body_size: nginx's own 413, in JSON
        self.assert_refused(sub, token, {"bot_id": bot, "message": "x" * (2 * 1024 * 1024)},
                            413, "payload_too_large")

    def test_other_users_bot_and_chat(self):
        _, owner = new_user()
        bot = make_bot(owner)
        chat = stream(stack, {"bot_id": bot, "message": "mine"}, owner).events()[0].json()["chat_id"]
        sub, other = new_user()
        self.assert_refused(sub, other, {"bot_id": bot, "message": "x"}, 404, "bot_not_found")
        own_bot = make_bot(other)
        self.assert_refused(sub, other, {"bot_id": own_bot, "chat_id": chat, "message": "x"},
                            404, "chat_not_found")
        self.assertEqual(len(message_rows(chat)), 2)

    def test_no_token(self):
        s = stream(stack, {"bot_id": "x", "message": "x"}, None)
        self.assertEqual(s.status, 401)

    def test_quota(self):
        sub, token = new_user()
        bot = make_bot(token)
        stack.psql("INSERT INTO usage (user_id, day, input_tokens, output_tokens) VALUES "
                   "('%s', (now() AT TIME ZONE 'UTC')::date, %d, 1)" % (sub, QUOTA - 1))
        self.assert_refused(sub, token, {"bot_id": bot, "message": "x"}, 429, "quota_exceeded")
        s = stream(stack, {"bot_id": bot, "message": "x"}, token)
        self.assertIn("00:00 UTC", s.json()["error"]["message"])
        # yesterday's usage does not count
        stack.psql("UPDATE usage SET day = day - 1 WHERE user_id = '%s'" % sub)
        self.assertEqual(stream(stack, {"bot_id": bot, "message": "x"}, token).events()[-1].type,
                         "done")


class Bedrock(unittest.TestCase):
    def test_signed_request_and_history(self):
        _, token = new_user()
        bot = make_bot(token, CLAUDE, instructions="You are terse.", temperature=0.3,
                       max_tokens=321)
        n = len(bedrock.requests)
        bedrock.script(Reply(text="First answer here.", usage=(12, 4)))
        events = stream(stack, {"bot_id": bot, "message": "first question"}, token).events()
        self.assertEqual(text_of(events), "First answer here.")
        self.assertEqual(events[-1].json()["usage"], {"input_tokens": 12, "output_tokens": 4})
        chat = events[0].json()["chat_id"]
        stream(stack, {"bot_id": bot, "chat_id": chat, "message": "second question"},
               token).events()
        reqs = bedrock.requests[n:]
        self.assertEqual(len(reqs), 2)
        for r in reqs:
            self.assertTrue(r["signature_ok"])
            self.assertTrue(r["stream"])
            self.assertEqual(r["model_id"], CLAUDE)
            self.assertIn("%3A0/converse-stream", r["path"])
        body = reqs[1]["body"]
        self.assertEqual(body["system"], [{"text": "You are terse."}])
        self.assertEqual(body["inferenceConfig"], {"maxTokens": 321, "temperature": 0.3})
        self.assertEqual([(m["role"], m["content"][0]["text"]) for m in body["messages"]],
                         [("user", "first question"), ("assistant", "First answer here."),
                          ("user", "second question")])

    def test_history_budget_drops_the_oldest(self):
        sub, token = new_user()
        bot = make_bot(token, CLAUDE)
        chat = stream(stack, {"bot_id": bot, "message": "start"}, token).events()[0].json()["chat_id"]
        # 6 older turns of ~1000 estimated tokens each; the budget is 3000
        for i in range(6):
            stack.psql("INSERT INTO messages (chat_id, user_id, role, content, created_at) "
                       "VALUES ('%s', '%s', '%s', '%d' || repeat('x', 3990), "
                       "now() - interval '1 hour' + %d * interval '1 minute')"
                       % (chat, sub, "user" if i % 2 == 0 else "assistant", i, i))
        n = len(bedrock.requests)
        stream(stack, {"bot_id": bot, "chat_id": chat, "message": "latest"}, token).events()
        msgs = bedrock.requests[n]["body"]["messages"]
        self.assertEqual(msgs[-1]["content"][0]["text"], "latest")
        self.assertEqual(msgs[0]["role"], "user")
        total = sum(len(m["content"][0]["text"]) for m in msgs)
        self.assertLess(total / 4, 3000)
        self.assertNotIn("0xxx", "".join(m["content"][0]["text"][:4] for m in msgs))

    def test_throttled_then_success(self):
        _, token = new_user()
        bot = make_bot(token, CLAUDE)
        n = len(bedrock.requests)
        bedrock.script(Reply(status=429, error_type="ThrottlingException"),
                       Reply(status=503, error_type="ServiceUnavailableException"),
                       Reply(text="after retries"))
        events = stream(stack, {"bot_id": bot, "message": "q"}, token).events()
        self.assertEqual(events[-1].type, "done", events)
        self.assertEqual(text_of(events), "after retries")
        self.assertEqual(len(bedrock.requests) - n, 3)

    def test_throttled_every_time(self):
        _, token = new_user()
        bot = make_bot(token, CLAUDE)
        bedrock.script(*[Reply(status=429, error_type="ThrottlingException")] * 3)
        events = stream(stack, {"bot_id": bot, "message": "q"}, token).events()
        self.assertEqual([e.type for e in events], ["start", "error"])
        err = events[-1].json()
        self.assertEqual(err["code"], "provider_throttled")
        self.assertTrue(err["saved"])
        rows = message_rows(events[0].json()["chat_id"])
        self.assertEqual(rows[1][:3], ["assistant", "error", "provider_throttled"])

    def test_validation_error_is_not_retried(self):
        _, token = new_user()
        bot = make_bot(token, CLAUDE)
        n = len(bedrock.requests)
        bedrock.script(Reply(status=400, error_type="ValidationException", message="bad input"))
        events = stream(stack, {"bot_id": bot, "message": "q"}, token).events()
        self.assertEqual(events[-1].json()["code"], "provider_error")
        self.assertIn("bad input", events[-1].json()["message"])
        self.assertEqual(len(bedrock.requests) - n, 1)

    def test_exception_mid_stream(self):
        _, token = new_user()
        bot = make_bot(token, CLAUDE)
        bedrock.script(Reply(text="one two three four", exception_after=2))
        events = stream(stack, {"bot_id": bot, "message": "q"}, token).events()
        self.assertEqual(events[-1].type, "error")
        self.assertEqual(events[-1].json()["code"], "provider_error")
        self.assertIn("modelStreamErrorException", events[-1].json()["message"])
        partial = text_of(events)
        self.assertEqual(partial, "one two ")
        rows = message_rows(events[0].json()["chat_id"])
        self.assertEqual(rows[1][1], "error")
        self.assertEqual(rows[1][4], partial)

    def test_corrupted_frame(self):
        _, token = new_user()
        bot = make_bot(token, CLAUDE)
        bedrock.script(Reply(text="alpha beta gamma delta", corrupt_after=2))
        events = stream(stack, {"bot_id": bot, "message": "q"}, token).events()
        self.assertEqual(events[-1].type, "error")
        self.assertIn("corrupted", events[-1].json()["message"])
        self.assertIn("checksum", events[-1].json()["message"].lower())
        self.assertEqual(text_of(events), "alpha beta ")
        self.assertEqual(message_rows(events[0].json()["chat_id"])[1][1], "error")

    def test_silent_provider_times_out(self):
        _, token = new_user()
        bot = make_bot(token, CLAUDE)
        bedrock.script(Reply(text="a b c", hang_after=1))
        s = stream(stack, {"bot_id": bot, "message": "q"}, token)
        t0 = time.monotonic()
        events = s.events()
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(events[-1].json()["code"], "provider_timeout")
        self.assertEqual(text_of(events), "a ")
        rows = message_rows(events[0].json()["chat_id"])
        self.assertEqual(rows[1][1:3], ["error", "provider_timeout"])

    def test_client_that_does_not_read_is_cut_off(self):
        _, token = new_user()
        bot = make_bot(token, CLAUDE)
        gone = bedrock.disconnects
        # far more than the socket buffers and mangoo_sse_max_buffered hold
        bedrock.script(Reply(pieces=["x" * 20000 + " "] * 400))
        s = SseStream(stack.port, "/api/v1/chat/stream", {"bot_id": bot, "message": "q"},
                      token=token, rcvbuf=4096)
        chat = s.next().json()["chat_id"]
        # stop reading: nginx closes the stream, the job is cancelled, the
        # provider connection dropped and the partial answer kept
        rows = stack.wait_for(lambda: len(message_rows(chat)) == 2 and message_rows(chat),
                              timeout=15)
        self.assertTrue(rows)
        self.assertEqual(rows[1][1], "cancelled", rows[1][:4])
        self.assertTrue(rows[1][4].startswith("x" * 20000 + " "))
        self.assertLess(len(rows[1][4]), 400 * 20001)
        self.assertTrue(stack.wait_for(lambda: bedrock.disconnects > gone, timeout=5))
        s.close()

    def test_client_leaves_mid_stream(self):
        _, token = new_user()
        bot = make_bot(token, CLAUDE)
        gone = bedrock.disconnects
        bedrock.script(Reply(pieces=["w%d " % i for i in range(100)], delay=0.05))
        s = stream(stack, {"bot_id": bot, "message": "q"}, token)
        chat = s.next().json()["chat_id"]
        self.assertEqual(s.next().type, "message")
        s.close()
        # generation stops (the provider connection is dropped) ...
        self.assertTrue(stack.wait_for(lambda: bedrock.disconnects > gone, timeout=5))
        # ... and the partial answer is stored as cancelled
        rows = stack.wait_for(lambda: len(message_rows(chat)) == 2 and message_rows(chat),
                              timeout=5)
        self.assertTrue(rows)
        self.assertEqual(rows[1][1], "cancelled")
        self.assertTrue(rows[1][4].startswith("w0 "))
        self.assertLess(len(rows[1][4].split()), 100)

    def test_non_streaming_error(self):
        _, token = new_user()
        bot = make_bot(token, CLAUDE)
        bedrock.script(Reply(status=400, error_type="ValidationException", message="nope"))
        r = stack.request("POST", "/api/v1/chat", body={"bot_id": bot, "message": "q"},
                          token=token)
        self.assertEqual(r.status, 502)
        self.assertEqual(r.json()["error"]["code"], "provider_error")


class OpenAI(unittest.TestCase):
    def test_stream_and_usage(self):
        sub, token = new_user()
        bot = make_bot(token, "openai:gpt-test", instructions="sys prompt")
        n = len(openai.requests)
        openai.script(Reply(text="Hi from the compatible server", usage=(21, 6)))
        events = stream(stack, {"bot_id": bot, "message": "hello"}, token).events()
        self.assertEqual(events[-1].type, "done", events)
        self.assertEqual(text_of(events), "Hi from the compatible server")
        self.assertEqual(events[-1].json()["usage"], {"input_tokens": 21, "output_tokens": 6})
        req = openai.requests[n]
        self.assertEqual(req["body"]["model"], "gpt-test")
        self.assertTrue(req["body"]["stream"])
        self.assertEqual(req["body"]["messages"][0], {"role": "system", "content": "sys prompt"})
        self.assertEqual(req["body"]["messages"][-1], {"role": "user", "content": "hello"})
        usage = psql("SELECT input_tokens || ',' || output_tokens FROM usage "
                     "WHERE user_id = '%s'" % sub)
        self.assertEqual(usage, "21,6")

    def test_bad_key_is_not_retried(self):
        _, token = new_user()
        bot = make_bot(token, "openai:gpt-test")
        n = len(openai.requests)
        openai.script(Reply(status=401, message="Incorrect API key provided"))
        events = stream(stack, {"bot_id": bot, "message": "hello"}, token).events()
        self.assertEqual([e.type for e in events], ["start", "error"])
        self.assertEqual(events[-1].json()["code"], "provider_error")
        self.assertIn("Incorrect API key", events[-1].json()["message"])
        self.assertEqual(len(openai.requests) - n, 1)

    def test_error_mid_stream_and_throttling(self):
        _, token = new_user()
        bot = make_bot(token, "openai:gpt-test")
        openai.script(Reply(status=429), Reply(text="a b c d", exception_after=2))
        events = stream(stack, {"bot_id": bot, "message": "hello"}, token).events()
        self.assertEqual(events[-1].type, "error")
        self.assertEqual(text_of(events), "a b ")


def wait_exit(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


class Faults(unittest.TestCase):
    def tearDown(self):
        bedrock.default = Reply()

    def test_worker_stopped_mid_stream_saves_the_partial_answer(self):
        _, token = new_user()
        bot = make_bot(token, CLAUDE)
        bedrock.default = Reply(pieces=["s%d " % i for i in range(200)], delay=0.05)
        s = stream(stack, {"bot_id": bot, "message": "q"}, token)
        start = s.next().json()
        self.assertEqual(s.next().type, "message")
        pids = [stack.worker_pid(i) for i in (0, 1)]
        try:
            # the first SIGTERM drains (test_shutdown); a second one, once
            # the first was taken (two pending at once are one), stops now
            logs = ["worker-%d.log" % i for i in (0, 1)]
            seen = [stack.log_text(n).count("draining: no new jobs") for n in logs]
            for i in (0, 1):
                stack.signal_worker(i, signal.SIGTERM)
            for i in (0, 1):
                self.assertTrue(stack.wait_for(
                    lambda: stack.log_text(logs[i]).count("draining: no new jobs") > seen[i]))
                stack.signal_worker(i, signal.SIGTERM)
            rest = s.events()
            self.assertEqual(rest[-1].type, "error")
            self.assertEqual(rest[-1].json()["code"], "unavailable")
            self.assertTrue(rest[-1].json()["saved"])
            for pid in pids:
                self.assertTrue(wait_exit(pid))
        finally:
            for i in (0, 1):
                stack.start_worker(i)
        rows = message_rows(start["chat_id"])
        self.assertEqual(rows[1][1:3], ["error", "unavailable"])
        self.assertEqual(rows[1][4], "s0 " + text_of(rest))

    def test_database_restarted_mid_stream(self):
        _, token = new_user()
        bot = make_bot(token, CLAUDE)
        self.assertTrue(stack.wait_for(
            lambda: stream(stack, {"bot_id": bot, "message": "warm"}, token).status == 200))
        bedrock.default = Reply(pieces=["d%d " % i for i in range(40)], delay=0.05)
        s = stream(stack, {"bot_id": bot, "message": "survive"}, token)
        start = s.next().json()
        stack.restart_db()
        events = s.events()
        self.assertEqual(events[-1].type, "done", events[-2:])
        rows = message_rows(start["chat_id"])
        self.assertEqual(rows[1][1], "complete")
        self.assertEqual(rows[1][4], "".join("d%d " % i for i in range(40)))

    def test_worker_killed_mid_stream(self):
        _, token = new_user()
        bot = make_bot(token, CLAUDE)
        bedrock.default = Reply(pieces=["p%d " % i for i in range(200)], delay=0.05)
        s = None
        try:
            s = stream(stack, {"bot_id": bot, "message": "keep me"}, token)
            start = s.next().json()
            self.assertEqual(s.next().type, "message")
            t0 = time.monotonic()
            for i in (0, 1):
                stack.signal_worker(i, signal.SIGKILL)
            rest = s.events()
            # a prompt, clear end: an error event, never a hang
            self.assertLess(rest[-1].at - t0, 2)
            self.assertTrue(s.ended)
            self.assertEqual(rest[-1].type, "error", rest[-3:])
            self.assertEqual(rest[-1].json()["code"], "worker_lost")
        finally:
            stack.start_worker(0)
            stack.start_worker(1)
        # the user's message was stored before generation began
        rows = message_rows(start["chat_id"])
        self.assertEqual(rows[0][0], "user")
        self.assertEqual(rows[0][4], "keep me")
        # and the workers serve again
        self.assertTrue(stack.wait_for(
            lambda: stream(stack, {"bot_id": bot, "chat_id": start["chat_id"], "message": "again"},
                           token).status == 200, timeout=10))


if __name__ == "__main__":
    unittest.main()
