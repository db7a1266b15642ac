"""End-to-end tests of operations done while the stack serves: each runs
under a steady load of API requests from several users (and some open
streams) and asserts that no request fails.

- nginx reloaded (SIGHUP) with streams open: they finish whole on the old
  processes, new requests go to the new ones;
- a worker process restarted (SIGTERM, then started again): jobs it had
  not started go to the other worker, nothing fails;
- the token signing key rotated (keygen --rotate): old and new tokens both
  verify throughout;
- a migration applied while serving.

Run: python3 tests/e2e/run.py test_operations.py
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Load, Stack, WORKER_BIN, TOP  # noqa: E402
from sse_client import SseStream  # noqa: E402

stack = None


def setUpModule():
    global stack
    # streams that last a few seconds: the local model, 60 ms a piece
    stack = Stack(workers=2, timeout="10s", env={"MANGOO_LOCAL_DELAY_MS": "60"}).start()


def tearDownModule():
    if stack is not None:
        stack.stop()


def users(n, prefix):
    tokens = []
    for _ in range(n):
        token = stack.token(sub="%s-%s" % (prefix, uuid.uuid4().hex[:8]))
        assert stack.request("GET", "/api/v1/users/me", token=token).status == 200
        tokens.append(token)
    return tokens



class Operations(unittest.TestCase):

    def test_reload_with_streams_open_fails_nothing(self):
        tokens = users(4, "reload")
        bot = stack.request("POST", "/api/v1/bots", {"name": "r", "model_id": "local"},
                            token=tokens[0]).json()["id"]
        before = stack.nginx_worker_pids()
        with Load(stack.request, tokens) as load:
            streams = [SseStream(stack.port, "/api/v1/chat/stream",
                                 {"bot_id": bot, "message": "a long enough question %d" % i},
                                 token=tokens[0]) for i in range(4)]
            for s in streams:
                self.assertEqual(s.status, 200)
                self.assertEqual(s.next().type, "start")
            stack.reload_nginx()
            # the new processes come, and serve while the old ones finish
            self.assertTrue(stack.wait_for(lambda: stack.nginx_worker_pids() - before, timeout=10))
            time.sleep(1)
            answers = [s.events() for s in streams]
            for s in streams:
                s.close()
        self.assertEqual(load.failures(), [])
        self.assertGreater(len(load.results), 20)
        for events in answers:
            self.assertEqual(events[-1].type, "done", events[-3:])
            self.assertGreater(len([e for e in events if e.type == "message"]), 5)
        # the old processes are gone once their streams ended
        self.assertTrue(stack.wait_for(lambda: not (before & stack.nginx_worker_pids()), timeout=10))

    def test_a_worker_restarted_under_load_fails_nothing(self):
        tokens = users(4, "restart")
        with Load(stack.request, tokens, threads=6) as load:
            pid = stack.worker_pid(0)
            stack._ab("stop-worker", "0")
            self.assertFalse(os.path.exists("/proc/%d" % pid))
            time.sleep(1)
            stack.start_worker(0)
            time.sleep(1)
        self.assertEqual(load.failures(), [])
        self.assertGreater(len(load.results), 30)
        # every nginx process heard it was stopping, and understood it
        log = stack.log_text("nginx-error.log")
        self.assertEqual(log.count('worker "%s" is stopping: no new jobs for it'
                                   % stack.worker_endpoint(0)), 2, log[-2000:])
        self.assertNotIn("malformed", log)
        # the restarted worker serves again
        self.assertTrue(stack.wait_for(lambda: any(
            l["worker"] == stack.worker_endpoint(0) and l["status"] == 200
            and l["time"] for l in stack.access_log()[-50:]), timeout=10))

    def test_the_signing_key_rotated_under_load_fails_nothing(self):
        old = users(3, "rotate-old")
        with Load(stack.request, old) as load:
            out = subprocess.run([WORKER_BIN, "keygen", "--dir", stack.key_dir, "--rotate"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 env=stack.env)
            self.assertEqual(out.returncode, 0, out.stdout)
            new_kid = out.stdout.strip().splitlines()[-1]
            new = users(2, "rotate-new")
            load.tokens = old + new
            time.sleep(1.5)
        self.assertEqual(load.failures(), [])
        self.assertEqual(stack.request("GET", "/api/v1/users/me", token=old[0]).status, 200)
        self.assertEqual(stack.request("GET", "/api/v1/users/me", token=new[0]).status, 200)
        self.assertIn(new_kid, open(os.path.join(stack.key_dir, "jwks.json")).read())

    def test_a_migration_applied_while_serving_fails_nothing(self):
        tokens = users(3, "migrate")
        sql = tempfile.mkdtemp(prefix="mangoo-sql-")
        try:
            for name in os.listdir(os.path.join(TOP, "sql")):
                shutil.copy(os.path.join(TOP, "sql", name), sql)
            with open(os.path.join(sql, "999_operations_test.sql"), "w") as f:
                f.write("ALTER TABLE bots ADD COLUMN operations_test text;\n"
                        "CREATE INDEX bots_operations_test ON bots (operations_test);\n")
            db = "host=%s/pg/run port=%s dbname=mangoo user=postgres" % (
                stack.state, stack.env["MANGOO_PG_PORT"])
            with Load(stack.request, tokens) as load:
                out = subprocess.run([WORKER_BIN, "migrate", "--db", db, "--sql-dir", sql],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
            self.assertEqual(out.returncode, 0, out.stdout)
            self.assertIn("1 applied now", out.stdout)
        finally:
            shutil.rmtree(sql, ignore_errors=True)
        self.assertEqual(load.failures(), [])
        self.assertEqual(stack.psql("select count(*) from information_schema.columns "
                                    "where table_name = 'bots' and column_name = 'operations_test'"),
                         "1")


if __name__ == "__main__":
    unittest.main()
