"""The shipped conf throttles sign-in per client address with nginx's
limit_req, and the refusal speaks the API's JSON."""

import threading
import unittest

from harness import Stack

stack = None


def setUpModule():
    global stack
    stack = Stack(workers=1, env={"MANGOO_AUTH_RATE": "2r/s"}).start()


def tearDownModule():
    stack.stop()


class RateLimitTest(unittest.TestCase):

    def test_login_flood_from_one_address_gets_json_429(self):
        results = []
        lock = threading.Lock()

        def attempt(i):
            # a different account each time: only the address is throttled
            r = stack.request("POST", "/api/v1/auth/login",
                              {"username": "nobody%d" % i, "password": "Wrong-pass1!"})
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

    def test_other_endpoints_are_not_throttled(self):
        token = stack.token("rl-user")
        for _ in range(40):
            self.assertEqual(stack.request("GET", "/api/v1/bots", token=token).status, 200)


if __name__ == "__main__":
    unittest.main()
