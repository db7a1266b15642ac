"""A client that goes away cancels its job: the module sends CANCEL, the
worker drops the queued job, and nothing is written for it."""

import json
import socket
import threading
import time
import unittest

from harness import Stack

stack = None


def setUpModule():
    global stack
    # one worker thread, so a second job has to wait in the queue
    stack = Stack(workers=1, threads=1, timeout="10s").start()


def tearDownModule():
    stack.stop()


class CancelTest(unittest.TestCase):

    def test_client_gone_cancels_queued_job(self):
        token = stack.token("cancel-user")
        self.assertEqual(stack.request("GET", "/api/v1/bots", token=token).status, 200)

        # keep the only thread busy: its query waits on this lock (a page
        # not asked for before, so no worker has it in its read cache)
        locker = stack.hold_lock("bots", 3)
        try:
            time.sleep(0.5)
            busy = []
            holder = threading.Thread(target=lambda: busy.append(
                stack.request("GET", "/api/v1/bots?limit=7", token=token)))
            holder.start()
            time.sleep(0.3)

            # a create that waits behind it, from a client that hangs up
            body = json.dumps({"name": "never"}).encode()
            s = socket.create_connection(("127.0.0.1", stack.port))
            s.sendall(b"POST /api/v1/bots HTTP/1.1\r\nHost: x\r\n"
                      b"Authorization: Bearer " + token.encode() + b"\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Content-Length: " + str(len(body)).encode() +
                      b"\r\n\r\n" + body)
            time.sleep(0.5)
            s.close()
            holder.join()
        finally:
            locker.wait()

        self.assertEqual(busy[0].status, 200, busy[0])
        # had the job run after the lock, the bot would exist by now
        time.sleep(0.5)
        r = stack.request("GET", "/api/v1/bots", token=token)
        self.assertEqual(r.json()["items"], [])
        self.assertEqual(stack.psql("select count(*) from bots where name = 'never'"), "0")
        log = stack.wait_for(
            lambda: [l for l in stack.access_log()
                     if l["method"] == "POST" and l["uri"] == "/api/v1/bots"
                     and l["status"] == 499], timeout=5)
        self.assertTrue(log, "no 499 logged for the abandoned request")


if __name__ == "__main__":
    unittest.main()
