"""The shipped conf throttles sign-in per client address and the API per
signed-in user ($mangoo_user_id as limit_req's key) with nginx's
limit_req, and the refusal speaks the API's JSON."""

import threading
import unittest

from harness import Stack

stack = None


def setUpModule():
    global stack
    stack = Stack(workers=1, env={"MANGOO_AUTH_RATE": "2r/s", "MANGOO_USER_RATE": "2r/s",
                                  "MANGOO_USER_BURST": "10"}).start()


def tearDownModule():
    stack.stop()


class RateLimitTest(unittest.TestCase):

    def test_login_flood_from_one_address_gets_json_429(self):
        results = []
        lock = threading.Lock()

        # all at once, however slowly a loaded machine starts the threads:
        # spread over seconds, 5r/s would let them all through
        start = threading.Barrier(40)

        def attempt(i):
            start.wait()
            # a different account each time: only the address is throttled
            r = stack.request("POST", "/api/v1/auth/login",
                              {"username": "nobody%d" % i, "password": "Wrong-pass1!"},
                              timeout=60)
            with lock:
                results.append(r)

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        limited = [r for r in results if r.status == 429]
        # burst 20 passes, the rest of 40 at once cannot
        self.assertGreaterEqual(len(limited), 10, [r.status for r in results])
        for r in limited:
            self.assertEqual(r.header("content-type"), "application/json")
            err = r.json()["error"]
            self.assertEqual(err["code"], "too_many_requests")
            self.assertEqual(err["request_id"], r.header("x-request-id"))
            self.assertEqual(r.header("retry-after"), "1")
        # the rest reached the worker, which answered for itself
        for r in results:
            if r.status != 429:
                self.assertEqual(r.json()["error"]["code"], "invalid_credentials", r)

    def test_other_endpoints_are_not_throttled_by_address(self):
        # one address, many users: only the per-user limit could apply
        for i in range(40):
            token = stack.token("rl-user-%d" % i)
            self.assertEqual(stack.request("GET", "/api/v1/bots", token=token).status, 200)

    def test_one_user_flooding_gets_json_429_and_others_are_served(self):
        flood = stack.token("rl-flood")
        other = stack.token("rl-other")
        results = []
        lock = threading.Lock()

        def attempt():
            r = stack.request("GET", "/api/v1/bots", token=flood)
            with lock:
                results.append(r)

        threads = [threading.Thread(target=attempt) for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        limited = [r for r in results if r.status == 429]
        # burst 10 passes at once, not 30
        self.assertGreaterEqual(len(limited), 10, [r.status for r in results])
        self.assertGreaterEqual(len([r for r in results if r.status == 200]), 10)
        for r in limited:
            self.assertEqual(r.header("content-type"), "application/json")
            self.assertEqual(r.json()["error"]["code"], "too_many_requests")
            self.assertEqual(r.header("retry-after"), "1")
        # someone else is not held up, and a bad token is refused, not counted
        self.assertEqual(stack.request("GET", "/api/v1/bots", token=other).status, 200)
        for _ in range(15):
            r = stack.request("GET", "/api/v1/bots", token=flood[:-4] + "AAAA")
            self.assertEqual(r.status, 401)
        line = stack.wait_for(lambda: [l for l in stack.access_log()
                                       if l["user_id"] == "rl-flood" and l["status"] == 429])
        self.assertTrue(line, "the 429s are logged with the user")


if __name__ == "__main__":
    unittest.main()
