"""End-to-end tests of where the worker's Bedrock credentials come from:
the ECS container credentials endpoint (temporary keys with a session
token, fetched once and reused) and a Bedrock API key (bearer token).  The
fake Bedrock refuses any request whose signature, session token or key is
wrong."""

import json
import os
import sys
import threading
import time
import unittest
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakes import FakeBedrock  # noqa: E402
from harness import Stack  # noqa: E402
from sse_client import chat_stream as stream, text_of  # noqa: E402

CLAUDE = "anthropic.claude-3-5-sonnet-20241022-v2:0"
AUTH_TOKEN = "container-auth-token-123"


class CredentialsEndpoint:
    """What the ECS agent serves at AWS_CONTAINER_CREDENTIALS_FULL_URI."""

    def __init__(self, key, secret, token):
        outer = self
        self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits.append((self.path, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != AUTH_TOKEN:
                    self.send_response(401)
                    self.end_headers()
                    return
                exp = datetime.now(timezone.utc) + timedelta(hours=1)
                body = json.dumps({"AccessKeyId": key, "SecretAccessKey": secret, "Token": token,
                                   "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/v2/credentials/abc" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def user_and_bot(stack, sub):
    token = stack.token(sub=sub)
    r = stack.request("POST", "/api/v1/bots", body={"name": "b", "model_id": CLAUDE}, token=token)
    assert r.status == 201, r
    return token, r.json()["id"]


class ContainerCredentials(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.creds = CredentialsEndpoint("ASIAMANGOOTEMP", "temp/secret+KEY", "session-token-xyz")
        cls.bedrock = FakeBedrock(access_key_id="ASIAMANGOOTEMP",
                                  secret_access_key="temp/secret+KEY",
                                  session_token="session-token-xyz").start()
        cls.stack = Stack(workers=1, env={
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": cls.creds.url,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": AUTH_TOKEN,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": cls.bedrock.url,
        }).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        cls.bedrock.stop()
        cls.creds.stop()

    def test_session_credentials_sign_and_are_reused(self):
        token, bot = user_and_bot(self.stack, "creds-user")
        for i in range(3):
            events = stream(self.stack, {"bot_id": bot, "message": "hi %d" % i}, token).events()
            self.assertEqual(events[-1].type, "done", events)
            self.assertEqual(text_of(events), "You said: hi %d" % i)
        reqs = self.bedrock.requests
        self.assertEqual(len(reqs), 3)
        for r in reqs:
            self.assertTrue(r["signature_ok"])
            self.assertEqual(r["headers"]["x-amz-security-token"], "session-token-xyz")
        # fetched once, with the agent's authorization token, then cached
        self.assertEqual(self.creds.hits, [("/v2/credentials/abc", AUTH_TOKEN)])


class BearerToken(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bedrock = FakeBedrock(bearer_token="bedrock-api-key-1").start()
        cls.stack = Stack(workers=1, env={
            "AWS_BEARER_TOKEN_BEDROCK": "bedrock-api-key-1",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": cls.bedrock.url,
        }).start()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        cls.bedrock.stop()

    def test_api_key_is_sent_as_bearer(self):
        token, bot = user_and_bot(self.stack, "bearer-user")
        events = stream(self.stack, {"bot_id": bot, "message": "key"}, token).events()
        self.assertEqual(events[-1].type, "done", events)
        req = self.bedrock.requests[-1]
        self.assertEqual(req["headers"]["authorization"], "Bearer bedrock-api-key-1")
        self.assertNotIn("x-amz-date", req["headers"])

    def test_model_of_an_unconfigured_provider(self):
        token, _ = user_and_bot(self.stack, "bearer-user-2")
        r = self.stack.request("POST", "/api/v1/bots", token=token,
                               body={"name": "b", "model_id": "openai:gpt-4o"})
        bot = r.json()["id"]
        before = self.stack.psql("SELECT count(*) FROM messages")
        s = stream(self.stack, {"bot_id": bot, "message": "hi"}, token)
        self.assertEqual(s.status, 503)
        err = s.json()["error"]
        self.assertEqual(err["code"], "model_unavailable")
        self.assertIn("not configured", err["message"])
        # refused before anything is stored
        self.assertEqual(self.stack.psql("SELECT count(*) FROM messages"), before)
        self.assertEqual(self.stack.psql(
            "SELECT count(*) FROM chats WHERE owner_id = 'bearer-user-2'"), "0")


if __name__ == "__main__":
    unittest.main()
