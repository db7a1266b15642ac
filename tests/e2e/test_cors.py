"""End-to-end tests of cross-origin requests (mangoo_cors_origins): off by
default (no CORS header on any answer); configured with an origin, that
origin's preflights are answered before any token is asked for, with the
methods the path allows, and its answers (errors and streams too) carry
Access-Control-Allow-Origin with credentials; other origins get nothing.

Run: python3 tests/e2e/run.py test_cors.py
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402
from sse_client import SseStream  # noqa: E402

APP = "https://app.example.com"
stack = None


def setUpModule():
    global stack
    stack = Stack(workers=1, env={"MANGOO_CORS_ORIGINS": APP + " http://localhost:5173"}).start()


def tearDownModule():
    if stack is not None:
        stack.stop()


def preflight(path, origin, method="POST"):
    return stack.request("OPTIONS", path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type"})


class Cors(unittest.TestCase):

    def test_a_preflight_from_the_app_is_answered_without_a_token(self):
        r = preflight("/api/v1/bots/123", APP, "PATCH")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("access-control-allow-origin"), APP)
        self.assertEqual(r.header("access-control-allow-credentials"), "true")
        self.assertEqual(r.header("access-control-allow-methods"), "GET, PATCH, DELETE")
        self.assertIn("Authorization", r.header("access-control-allow-headers"))
        self.assertIn("Content-Type", r.header("access-control-allow-headers"))
        # a published bot's key, from a page of another origin
        self.assertIn("X-API-Key", r.header("access-control-allow-headers"))
        self.assertEqual(r.header("access-control-max-age"), "600")
        self.assertIn("Origin", r.header("vary"))

    def test_a_preflight_from_elsewhere_or_to_nowhere_gets_no_permission(self):
        r = preflight("/api/v1/bots", "https://evil.example.com")
        self.assertEqual(r.status, 405)
        self.assertIsNone(r.header("access-control-allow-origin"))
        self.assertEqual(r.json()["error"]["code"], "method_not_allowed")
        r = preflight("/api/v1/no-such-route", APP)
        self.assertEqual(r.status, 404)
        self.assertIsNone(r.header("access-control-allow-origin"))
        # an OPTIONS that is not a preflight is an ordinary request
        r = stack.request("OPTIONS", "/api/v1/bots", headers={"Origin": APP})
        self.assertEqual(r.status, 405)

    def test_answers_to_the_app_carry_the_headers_errors_and_streams_too(self):
        token = stack.token(sub="cors-user")
        r = stack.request("GET", "/api/v1/bots", token=token, headers={"Origin": APP})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("access-control-allow-origin"), APP)
        self.assertEqual(r.header("access-control-allow-credentials"), "true")
        exposed = r.header("access-control-expose-headers")
        for h in ("ETag", "X-Request-Id", "Retry-After"):
            self.assertIn(h, exposed)
        r = stack.request("GET", "/api/v1/bots", headers={"Origin": APP})
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("access-control-allow-origin"), APP)
        bot = stack.request("POST", "/api/v1/bots", {"name": "c", "model_id": "local"},
                            token=token).json()["id"]
        s = SseStream(stack.port, "/api/v1/chat/stream", {"bot_id": bot, "message": "hi"},
                      token=token, headers={"Origin": "http://localhost:5173"})
        try:
            self.assertEqual(s.status, 200)
            self.assertEqual(s.header("access-control-allow-origin"), "http://localhost:5173")
            self.assertEqual(s.events()[-1].type, "done")
        finally:
            s.close()

    def test_other_origins_and_same_origin_requests_get_no_headers(self):
        token = stack.token(sub="cors-user")
        r = stack.request("GET", "/api/v1/bots", token=token,
                          headers={"Origin": "https://app.example.com.evil.net"})
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("access-control-allow-origin"))
        r = stack.request("GET", "/api/v1/bots", token=token)
        self.assertIsNone(r.header("access-control-allow-origin"))


class Configuration(unittest.TestCase):

    def test_a_bad_origin_is_refused_at_configuration_time(self):
        import subprocess
        conf = os.path.join(stack.state, "nginx.conf")
        with open(conf) as f:
            text = f.read()
        bad = os.path.join(stack.state, "nginx-bad.conf")
        with open(bad, "w") as f:
            f.write(text.replace("mangoo_cors_origins  " + APP, "mangoo_cors_origins  app.example.com/"))
        env = dict(os.environ)
        if env.get("MANGOO_SANITIZE") == "1":
            # the module is built with ASan: its runtime must load first
            env["LD_PRELOAD"] = subprocess.run(["gcc", "-print-file-name=libasan.so"],
                                               stdout=subprocess.PIPE, text=True).stdout.strip()
            env["ASAN_OPTIONS"] = "detect_leaks=0"
        out = subprocess.run(["nginx", "-t", "-p", stack.state, "-c", bad], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn('invalid origin "app.example.com/"', out.stdout)


if __name__ == "__main__":
    unittest.main()
