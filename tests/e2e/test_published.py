"""A bot published as an API: POST /api/v1/published/{bot}/chat (JSON) and
.../chat/stream (SSE) with an API key.  nginx checks the key (cached per
process, asked of a worker on a miss) and its rate limit (a bucket shared by
the nginx processes) before any job is sent; the worker checks it again,
and the bot's daily quota, before any model is called."""

import hashlib
import json
import os
import socket
import threading
import time
import unittest

from harness import Stack, note_secret
from sse_client import SseStream, text_of

stack = None
other = None        # a second nginx instance in front of the same workers


def setUpModule():
    global stack, other
    stack = Stack(workers=2, env={"MANGOO_NGINX_WORKERS": "2"}).start()
    other = stack.start_nginx("other", nginx_workers=2)


def tearDownModule():
    try:
        leaks = stack.leaked_secrets()
        alerts = stack.nginx_alerts()
    finally:
        stack.stop()
    assert not leaks, "\n".join(leaks)
    assert not alerts, "\n".join(alerts)


_n = iter(range(1, 1000000))


def publisher():
    token = stack.token(sub="publisher-%d" % next(_n), groups=["publishers"])
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return token


def make_bot(token, **fields):
    body = dict(name="published", model_id="local", instructions="Be brief.", **fields)
    r = stack.request("POST", "/api/v1/bots", body=body, token=token)
    assert r.status == 201, r
    return r.json()["id"]


def make_key(token, bot, **fields):
    body = dict(name="k%d" % next(_n), **fields)
    r = stack.request("POST", "/api/v1/bots/%s/api-keys" % bot, body=body, token=token)
    assert r.status == 201, r
    key = r.json()["key"]
    # neither the key nor its digest may reach a log
    note_secret(key)
    note_secret(hashlib.sha256(key.encode()).hexdigest())
    return r.json()


def call(bot, key, message="hello", port=None, header="x-api-key", body=None):
    headers = {}
    if key is not None:
        if header == "x-api-key":
            headers["X-API-Key"] = key
        else:
            headers["Authorization"] = "Bearer " + key
    return stack.request("POST", "/api/v1/published/%s/chat" % bot,
                         body=body if body is not None else {"message": message},
                         headers=headers, port=port)


def raw_call(port, bot, key):
    """One request on a connection of its own: nginx hands new connections
    to its processes as they come, so many of them reach every process."""
    payload = json.dumps({"message": "hi"}).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    try:
        s.sendall(("POST /api/v1/published/%s/chat HTTP/1.1\r\nHost: x\r\n"
                   "X-API-Key: %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\nConnection: close\r\n\r\n"
                   % (bot, key, len(payload))).encode() + payload)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


def count(sql):
    return int(stack.psql(sql).strip())


class PublishedTest(unittest.TestCase):

    def test_json_answer_with_either_header(self):
        token = publisher()
        bot = make_bot(token)
        key = make_key(token, bot)["key"]
        for header in ("x-api-key", "bearer"):
            r = call(bot, key, "say something long enough", header=header)
            self.assertEqual(r.status, 200, r)
            body = r.json()
            self.assertTrue(body["content"])
            self.assertEqual(body["stop_reason"], "end_turn")
            self.assertTrue(body["chat_id"])
        # the conversation is the key's: in no one's chat list
        r = stack.request("GET", "/api/v1/chats", token=token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["items"], [])

    def test_streamed_answer(self):
        token = publisher()
        bot = make_bot(token)
        key = make_key(token, bot)["key"]
        with SseStream(stack.port, "/api/v1/published/%s/chat/stream" % bot,
                       {"message": "stream me a reply"},
                       headers={"X-API-Key": key}) as s:
            self.assertEqual(s.status, 200)
            events = list(s.events())
        self.assertEqual(events[0].type, "start")
        self.assertEqual(events[-1].type, "done")
        self.assertTrue(text_of(events))

    def test_continues_a_chat_only_with_the_same_key(self):
        token = publisher()
        bot = make_bot(token)
        k1, k2 = make_key(token, bot)["key"], make_key(token, bot)["key"]
        first = call(bot, k1, "first turn").json()
        r = call(bot, k1, body={"message": "second turn", "chat_id": first["chat_id"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["chat_id"], first["chat_id"])
        before = count("SELECT count(*) FROM messages WHERE chat_id = '%s'" % first["chat_id"])
        r = call(bot, k2, body={"message": "third turn", "chat_id": first["chat_id"]})
        self.assertEqual(r.status, 404, r)
        self.assertEqual(count("SELECT count(*) FROM messages WHERE chat_id = '%s'"
                               % first["chat_id"]), before)

    def test_missing_malformed_and_unknown_keys(self):
        token = publisher()
        bot = make_bot(token)
        make_key(token, bot)
        chats = count("SELECT count(*) FROM chats")
        unknown = "mgk_" + "A" * 43
        for key, header in ((None, "x-api-key"), ("", "x-api-key"), ("mgk_short", "x-api-key"),
                            ("sk_" + "A" * 44, "x-api-key"), ("mgk_" + "*" * 43, "bearer"),
                            (unknown, "x-api-key"), (unknown, "bearer")):
            r = call(bot, key, header=header)
            self.assertEqual(r.status, 401, (key, r))
            self.assertEqual(r.json()["error"]["code"], "invalid_api_key", (key, r))
            self.assertIn("Bearer", r.header("www-authenticate"))
        # a user's token is not a key
        r = stack.request("POST", "/api/v1/published/%s/chat" % bot, body={"message": "x"},
                          token=token)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"]["code"], "invalid_api_key")
        self.assertEqual(count("SELECT count(*) FROM chats"), chats)

    def test_key_of_another_bot(self):
        token = publisher()
        bot, other_bot = make_bot(token), make_bot(token)
        key = make_key(token, bot)["key"]
        self.assertEqual(call(bot, key).status, 200)        # cached now
        chats = count("SELECT count(*) FROM chats")
        for _ in range(2):
            r = call(other_bot, key)
            self.assertEqual(r.status, 403, r)
            self.assertEqual(r.json()["error"]["code"], "api_key_wrong_bot")
        r = call("not-a-bot", key)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(count("SELECT count(*) FROM chats"), chats)

    def test_revoked_key_is_refused_at_once_on_every_nginx_process(self):
        token = publisher()
        bot = make_bot(token)
        made = make_key(token, bot, rate_per_second=1000, burst=1000)
        key = made["key"]
        ports = (stack.port, other.port)
        # warm every process's cache: new connections spread over them
        for port in ports:
            for _ in range(12):
                status, _ = raw_call(port, bot, key)
                self.assertEqual(status, 200)
        r = stack.request("DELETE", "/api/v1/bots/%s/api-keys/%s" % (bot, made["id"]),
                          token=token)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["revoked_at"])
        chats = count("SELECT count(*) FROM chats")
        for port in ports:
            for _ in range(12):
                status, body = raw_call(port, bot, key)
                self.assertEqual(status, 401, body)
                self.assertEqual(json.loads(body)["error"]["code"], "api_key_revoked")
        self.assertEqual(count("SELECT count(*) FROM chats"), chats)

    def test_expired_key(self):
        token = publisher()
        bot = make_bot(token)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
        key = make_key(token, bot, expires_at=expires)["key"]
        self.assertEqual(call(bot, key).status, 200)        # cached until it expires
        deadline = time.time() + 10
        while time.time() < deadline:
            r = call(bot, key)
            if r.status != 200:
                break
            time.sleep(0.25)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"]["code"], "api_key_expired")
        # and so it stays, from the cache and from the workers alike
        for port in (stack.port, other.port):
            r = call(bot, key, port=port)
            self.assertEqual(r.json()["error"]["code"], "api_key_expired")

    def test_rate_limit_is_shared_by_nginx_processes(self):
        token = publisher()
        bot = make_bot(token)
        key = make_key(token, bot, rate_per_second=0.5, burst=3)["key"]
        results = []
        lock = threading.Lock()
        start = threading.Barrier(12)

        def one(i):
            start.wait()
            status, body = raw_call(stack.port, bot, key)
            with lock:
                results.append((status, body))

        began = time.monotonic()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - began
        passed = [b for s, b in results if s == 200]
        limited = [b for s, b in results if s == 429]
        self.assertEqual(len(passed) + len(limited), 12, results)
        # the burst, and what the bucket gained meanwhile, across both processes
        self.assertGreaterEqual(len(passed), 3)
        self.assertLessEqual(len(passed), 3 + int(elapsed * 0.5) + 1, (elapsed, results))
        self.assertEqual(json.loads(limited[0])["error"]["code"], "rate_limited")
        r = call(bot, key)
        self.assertEqual(r.status, 429, r)
        retry = int(r.header("retry-after"))
        self.assertGreaterEqual(retry, 1)
        self.assertLessEqual(retry, 2)
        time.sleep(retry)
        self.assertEqual(call(bot, key).status, 200)

    def test_daily_quota_of_requests_and_tokens(self):
        token = publisher()
        bot = make_bot(token)
        r = stack.request("PATCH", "/api/v1/bots/%s/publication" % bot,
                          body={"quota_requests": 2}, token=token)
        self.assertEqual(r.status, 200, r)
        k1, k2 = make_key(token, bot)["key"], make_key(token, bot)["key"]
        self.assertEqual(call(bot, k1).status, 200)
        self.assertEqual(call(bot, k2).status, 200)
        messages = count("SELECT count(*) FROM messages")
        for key in (k1, k2):
            r = call(bot, key)
            self.assertEqual(r.status, 429, r)
            self.assertEqual(r.json()["error"]["code"], "quota_exceeded")
            retry = int(r.header("retry-after"))
            self.assertTrue(0 < retry <= 86400, retry)
        self.assertEqual(count("SELECT count(*) FROM messages"), messages)

        bot2 = make_bot(token)
        r = stack.request("PATCH", "/api/v1/bots/%s/publication" % bot2,
                          body={"quota_tokens": 1}, token=token)
        self.assertEqual(r.status, 200, r)
        key = make_key(token, bot2)["key"]
        self.assertEqual(call(bot2, key).status, 200)       # spends its tokens
        r = call(bot2, key)
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json()["error"]["code"], "quota_exceeded")

    def test_usage_is_counted_per_key(self):
        token = publisher()
        bot = make_bot(token)
        k1, k2 = make_key(token, bot), make_key(token, bot)
        for _ in range(3):
            self.assertEqual(call(bot, k1["key"]).status, 200)
        self.assertEqual(call(bot, k2["key"]).status, 200)
        r = stack.request("GET", "/api/v1/bots/%s/api-keys" % bot, token=token)
        self.assertEqual(r.status, 200, r)
        today = {k["id"]: k["today"] for k in r.json()["items"]}
        self.assertEqual(today[k1["id"]]["requests"], 3)
        self.assertEqual(today[k2["id"]]["requests"], 1)
        self.assertGreater(today[k1["id"]]["output_tokens"], 0)
        # the key itself is never shown again
        self.assertNotIn(k1["key"], r.body.decode())


class NoWorkerTest(unittest.TestCase):
    """A key nginx has not seen while no worker can check it: a prompt,
    clear 503 and nothing stored; once a worker is back, the key works."""

    def test_unchecked_key_without_a_worker(self):
        token = publisher()
        bot = make_bot(token)
        key = make_key(token, bot)["key"]
        chats = count("SELECT count(*) FROM chats")
        for i in range(stack.workers):
            stack.kill_worker(i)
        try:
            r = call(bot, key)
            self.assertEqual(r.status, 503, r)
            self.assertIn("code", r.json()["error"])
        finally:
            for i in range(stack.workers):
                stack.start_worker(i)
        self.assertEqual(count("SELECT count(*) FROM chats"), chats)
        self.assertTrue(stack.wait_for(lambda: call(bot, key).status == 200, timeout=15))


if __name__ == "__main__":
    unittest.main()
