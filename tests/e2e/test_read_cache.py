"""End-to-end tests of the workers' read cache (worker/read_cache.h):
reads of a user's bots, and the bot's settings a chat turn needs, are
answered from each worker process's memory, and yet every write, through
the API or straight in SQL, is seen by the very next read from any worker
process.

Run: python3 tests/e2e/run.py test_read_cache.py
"""

import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakes import (FakeBedrock, Reply, DEFAULT_ACCESS_KEY_ID,  # noqa: E402
                   DEFAULT_SECRET_ACCESS_KEY)
from harness import Stack, WORKER_BIN  # noqa: E402
from sse_client import chat_stream, text_of  # noqa: E402

CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
stack = bedrock = None
_n = iter(range(1, 1000000))


def setUpModule():
    global stack, bedrock
    bedrock = FakeBedrock().start()
    stack = Stack(workers=2, env={
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
    }).start()


def tearDownModule():
    for s in (stack, bedrock):
        if s is not None:
            s.stop()


def user():
    token = stack.token(sub="reads-%d" % next(_n))
    assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
    return token


def make_bot(token, name, **extra):
    r = stack.request("POST", "/api/v1/bots", dict({"name": name, "model_id": "local"}, **extra),
                      token=token)
    assert r.status == 201, r
    return r.json()


def bot_reads():
    """Index and sequential scans of bots so far, once the backends' counts
    have reached the statistics (they send them at most once a second)."""
    time.sleep(2.5)
    return int(stack.psql("SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) "
                          "FROM pg_stat_user_tables WHERE relname = 'bots'"))


class ReadCache(unittest.TestCase):

    def test_repeated_reads_do_not_reach_the_database(self):
        token = user()
        bot = make_bot(token, "cached")
        path = "/api/v1/bots/" + bot["id"]
        for p in ("/api/v1/bots", path):                  # each worker fills its copy
            for _ in range(4):
                self.assertEqual(stack.request("GET", p, token=token).status, 200)
        before = bot_reads()
        for _ in range(30):
            self.assertEqual(stack.request("GET", "/api/v1/bots", token=token).json()["items"][0]
                             ["name"], "cached")
            self.assertEqual(stack.request("GET", path, token=token).json()["name"], "cached")
        self.assertLess(bot_reads() - before, 6)         # 60 reads; without the cache 60 scans

    def test_every_write_is_seen_by_the_next_read_anywhere(self):
        token = user()
        bot = make_bot(token, "v0")
        path = "/api/v1/bots/" + bot["id"]
        for i in range(1, 25):
            r = stack.request("PATCH", path, {"name": "v%d" % i}, token=token)
            self.assertEqual(r.status, 200, r)
            # the next reads go to either worker process
            self.assertEqual(stack.request("GET", path, token=token).json()["name"], "v%d" % i)
            names = [b["name"] for b in stack.request("GET", "/api/v1/bots",
                                                      token=token).json()["items"]]
            self.assertEqual(names, ["v%d" % i])
        extra = make_bot(token, "second")
        self.assertEqual(len(stack.request("GET", "/api/v1/bots", token=token).json()["items"]), 2)
        self.assertEqual(stack.request("DELETE", "/api/v1/bots/" + extra["id"],
                                       token=token).status, 204)
        self.assertEqual(len(stack.request("GET", "/api/v1/bots", token=token).json()["items"]), 1)
        self.assertEqual(stack.request("GET", "/api/v1/bots/" + extra["id"],
                                       token=token).status, 404)

    def test_a_deleted_knowledge_base_leaves_its_bots_at_once(self):
        token = user()
        r = stack.request("POST", "/api/v1/knowledge-bases", {"name": "kb"}, token=token)
        self.assertEqual(r.status, 201, r)
        kb = r.json()["id"]
        bot = make_bot(token, "grounded", knowledge_base_ids=[kb])
        path = "/api/v1/bots/" + bot["id"]
        for _ in range(4):
            self.assertEqual(stack.request("GET", path, token=token).json()["knowledge_base_ids"],
                             [kb])
        self.assertEqual(stack.request("DELETE", "/api/v1/knowledge-bases/" + kb,
                                       token=token).status, 204)
        for _ in range(4):
            self.assertEqual(stack.request("GET", path, token=token).json()["knowledge_base_ids"],
                             [])

    def test_a_change_made_in_sql_is_seen(self):
        token = user()
        bot = make_bot(token, "before")
        path = "/api/v1/bots/" + bot["id"]
        for _ in range(4):
            stack.request("GET", path, token=token)
        stack.psql("UPDATE bots SET name = 'after' WHERE id = '%s'" % bot["id"])
        # NOTIFY reaches the workers within milliseconds; no barrier for SQL
        self.assertTrue(stack.wait_for(lambda: all(
            stack.request("GET", path, token=token).json()["name"] == "after"
            for _ in range(4)), timeout=5))

    def test_a_chat_turn_uses_the_bots_settings_as_they_are_now(self):
        token = user()
        bot = make_bot(token, "speaker", model_id=CLAUDE, instructions="v0")
        path = "/api/v1/bots/" + bot["id"]
        for i in range(1, 8):
            # each turn's settings come from memory after the first in each process
            for _ in range(2):
                before = len(bedrock.requests)
                bedrock.script(Reply(text="ok"))
                events = chat_stream(stack, {"bot_id": bot["id"], "message": "hi"}, token).events()
                self.assertEqual(text_of(events), "ok")
                self.assertEqual(bedrock.requests[before]["body"]["system"],
                                 [{"text": "v%d" % (i - 1)}])
            r = stack.request("PATCH", path, {"instructions": "v%d" % i}, token=token)
            self.assertEqual(r.status, 200, r)
        # a bot deleted is gone for chat at once
        self.assertEqual(stack.request("DELETE", path, token=token).status, 204)
        for _ in range(2):
            r = stack.request("POST", "/api/v1/chat", {"bot_id": bot["id"], "message": "hi"},
                              token=token)
            self.assertEqual((r.status, r.json()["error"]["code"]), (404, "bot_not_found"))

    def test_users_do_not_see_each_others_answers(self):
        ann, bob = user(), user()
        make_bot(ann, "ann's")
        for _ in range(4):
            self.assertEqual(len(stack.request("GET", "/api/v1/bots", token=ann).json()["items"]), 1)
        for _ in range(4):
            self.assertEqual(stack.request("GET", "/api/v1/bots", token=bob).json()["items"], [])

    def test_a_restarted_database(self):
        token = user()
        bot = make_bot(token, "durable")
        path = "/api/v1/bots/" + bot["id"]
        for _ in range(4):
            stack.request("GET", path, token=token)
        stack.stop_db()
        try:
            # once the listeners have lost the database, nothing is served from memory
            self.assertTrue(stack.wait_for(
                lambda: stack.request("GET", path, token=token).status == 503, timeout=5))
        finally:
            stack.start_db()
        stack.psql("UPDATE bots SET name = 'changed after' WHERE id = '%s'" % bot["id"])

        def seen():
            answers = [stack.request("GET", path, token=token) for _ in range(4)]
            return all(r.status == 200 and r.json()["name"] == "changed after" for r in answers)
        self.assertTrue(stack.wait_for(seen, timeout=20))

class Settings(unittest.TestCase):
    def test_a_bad_size_refuses_to_start(self):
        for value in ("-1", "lots", "65537"):
            r = subprocess.run([WORKER_BIN, "serve", "--no-migrate", "--bind", "tcp://127.0.0.1:1"],
                               env=dict(os.environ, MANGOO_READ_CACHE_MB=value),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=10)
            self.assertEqual(r.returncode, 2, (value, r.stderr))
            self.assertIn("MANGOO_READ_CACHE_MB", r.stderr)


if __name__ == "__main__":
    unittest.main()
