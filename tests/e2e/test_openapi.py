"""End-to-end tests of the API's OpenAPI document: GET /api/v1/openapi.json
is public, answered by a worker with the bytes of shared/openapi.json as
compiled in, cacheable with the ETag every GET gets; and the contract check
every other test runs through (openapi_check, from harness.Stack.request
and sse_client) does catch an answer that breaks the document.

Run: python3 tests/e2e/run.py test_openapi.py
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openapi_check  # noqa: E402
from harness import Stack  # noqa: E402

stack = None


def setUpModule():
    global stack
    stack = Stack(workers=1).start()


def tearDownModule():
    if stack is not None:
        stack.stop()


class Served(unittest.TestCase):

    def test_public_json_the_file_and_cacheable(self):
        r = stack.request("GET", "/api/v1/openapi.json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("content-type").split(";")[0], "application/json")
        with open(openapi_check.DOC_PATH, "rb") as f:
            self.assertEqual(r.body, f.read())
        doc = r.json()
        self.assertEqual(doc["openapi"], "3.1.0")
        self.assertEqual(doc["paths"]["/api/v1/openapi.json"]["get"]["security"], [])

        etag = r.header("etag")
        self.assertTrue(etag)
        again = stack.request("GET", "/api/v1/openapi.json", headers={"If-None-Match": etag})
        self.assertEqual(again.status, 304)
        self.assertEqual(again.body, b"")

    def test_a_token_is_not_needed_but_does_no_harm(self):
        r = stack.request("GET", "/api/v1/openapi.json", token=stack.token(sub="openapi-1"))
        self.assertEqual(r.status, 200)


class ContractCheck(unittest.TestCase):
    """The checker itself, on answers the server never gives."""

    def setUp(self):
        self.c = openapi_check.Contract()

    def test_undocumented_status(self):
        with self.assertRaisesRegex(AssertionError, r"GET /api/v1/bots/\{id\} -> 418: status not documented"):
            self.c.check_response("GET", "/api/v1/bots/x", 418, "application/json", b"{}")

    def test_body_against_schema(self):
        with self.assertRaisesRegex(AssertionError, r"GET /api/v1/users/me -> 200: body does not match"):
            self.c.check_response("GET", "/api/v1/users/me", 200, "application/json",
                                  json.dumps({"id": 1}).encode())
        with self.assertRaisesRegex(AssertionError, r"-> 404: body does not match"):
            self.c.check_response("GET", "/api/v1/bots/x", 404, "application/json",
                                  b'{"error":{"code":"bot_not_found"}}')

    def test_stream_events(self):
        path = "/api/v1/chat/stream"
        self.c.check_event("POST", path, 200, "message", '{"content":"hi"}')
        with self.assertRaisesRegex(AssertionError, r"event 'surprise' not documented"):
            self.c.check_event("POST", path, 200, "surprise", "{}")
        with self.assertRaisesRegex(AssertionError, r"event 'done' data does not match"):
            self.c.check_event("POST", path, 200, "done", '{"message_id":"m"}')

    def test_first_route_wins_and_unknown_paths_pass(self):
        template, _ = self.c.operation("GET", "/api/v1/agents/categories?x=1")
        self.assertEqual(template, "/api/v1/agents/categories")
        self.assertIsNone(self.c.check_response("GET", "/nowhere", 200, "text/html", b"<p>"))


if __name__ == "__main__":
    unittest.main()
