"""The service endpoints the web app reads first: GET /api/v1/config
(public: the identity, the registration policy, whether an account could
be created right now) in each registration mode, and GET /api/v1/models
(what this server can answer with) with nothing, Bedrock, or an
OpenAI-compatible server configured.  One stack; its worker is restarted
with each configuration (they are read from the environment at start).

Run: python3 tests/e2e/run.py test_service.py
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402

PW = "Correct-horse-1"
LOCAL = {"id": "local", "name": "Offline model", "provider": "local", "offline": True}
# nothing remote unless a test says so, whatever the caller's environment has
NO_PROVIDERS = {name: "" for name in (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "MANGOO_OPENAI_BASE_URL", "MANGOO_OPENAI_MODELS", "MANGOO_BEDROCK_MODELS",
    "MANGOO_COGNITO_DOMAIN")}
stack = None


def setUpModule():
    global stack
    stack = Stack(workers=1, env=dict(NO_PROVIDERS, MANGOO_REGISTRATION="open")).start()


def tearDownModule():
    if stack is not None:
        stack.stop()


def restart_worker(**env):
    """The worker again, with env on top of the defaults above."""
    stack._ab("stop-worker", "0")
    stack.env.update(NO_PROVIDERS)
    stack.env["MANGOO_REGISTRATION"] = "open"
    stack.env.update(env)
    stack.start_worker(0)
    ok = stack.wait_for(lambda: stack.request("GET", "/health").status == 200, timeout=20)
    if not ok:
        stack.dump_logs()
        raise AssertionError("the worker did not come back")


class ConfigTests(unittest.TestCase):
    """Runs in name order: the first test creates the administrator."""

    def config(self):
        r = stack.request("GET", "/api/v1/config")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        return r.json()

    def register(self, name):
        return stack.request("POST", "/api/v1/auth/register", {"username": name, "password": PW})

    def test_1_first_admin(self):
        restart_worker(MANGOO_REGISTRATION="first-admin")
        self.assertEqual(stack.psql("SELECT count(*) FROM users WHERE role = 'admin'"), "0")
        # public: no token needed, and a token changes nothing
        self.assertEqual(self.config(), {"identity": "local", "registration": "first-admin",
                                         "can_register": True, "cognito": None,
                                         "allowed_domains": [], "invitations": True})
        r = stack.request("GET", "/api/v1/config", token=stack.token("someone"))
        self.assertEqual(r.json()["can_register"], True)
        # a user who is not an administrator (from a token) does not close it
        self.assertEqual(stack.request("GET", "/api/v1/users/me",
                                       token=stack.token("not-admin")).status, 200)
        self.assertTrue(self.config()["can_register"])
        self.assertEqual(self.register("first-one").status, 201)
        # the answer follows what registration now does
        self.assertEqual(self.config(), {"identity": "local", "registration": "first-admin",
                                         "can_register": False, "cognito": None,
                                         "allowed_domains": [], "invitations": True})
        r = self.register("second-one")
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["error"]["code"], "registration_closed")

    def test_2_open(self):
        restart_worker(MANGOO_REGISTRATION="open")
        self.assertEqual(self.config(), {"identity": "local", "registration": "open",
                                         "can_register": True, "cognito": None,
                                         "allowed_domains": [], "invitations": True})
        self.assertEqual(self.register("open-one").status, 201)
        self.assertTrue(self.config()["can_register"])

    def test_3_closed(self):
        restart_worker(MANGOO_REGISTRATION="closed")
        self.assertEqual(self.config(), {"identity": "local", "registration": "closed",
                                         "can_register": False, "cognito": None,
                                         "allowed_domains": [], "invitations": True})
        self.assertEqual(self.register("closed-one").status, 403)

    def test_4_only_get(self):
        r = stack.request("POST", "/api/v1/config", {})
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.header("Allow"), "GET")


class ModelsTests(unittest.TestCase):

    def models(self):
        r = stack.request("GET", "/api/v1/models", token=stack.token("models-user"))
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_needs_a_token(self):
        r = stack.request("GET", "/api/v1/models")
        self.assertEqual(r.status, 401, r)

    def test_nothing_configured(self):
        restart_worker()
        self.assertEqual(self.models(), {"items": [LOCAL], "default": "local"})

    def test_bedrock_default_list(self):
        restart_worker(AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret",
                       AWS_REGION="us-east-1")
        body = self.models()
        self.assertEqual(body["items"][0], LOCAL)
        ids = [m["id"] for m in body["items"]]
        self.assertIn("anthropic.claude-3-5-sonnet-20241022-v2:0", ids)
        self.assertEqual(body["default"], ids[1])
        for m in body["items"][1:]:
            self.assertEqual(m["provider"], "bedrock")
            self.assertIs(m["offline"], False)
            self.assertTrue(m["name"].startswith("Claude"), m)

    def test_bedrock_and_openai_lists(self):
        restart_worker(AWS_BEARER_TOKEN_BEDROCK="key", AWS_REGION="us-east-1",
                       MANGOO_BEDROCK_MODELS="anthropic.claude-3-haiku-20240307-v1:0, my.model",
                       MANGOO_OPENAI_BASE_URL="http://127.0.0.1:1/v1",
                       MANGOO_OPENAI_MODELS="llama3.1:8b,qwen2.5")
        self.assertEqual(self.models(), {"items": [
            LOCAL,
            {"id": "anthropic.claude-3-haiku-20240307-v1:0", "name": "Claude 3 Haiku",
             "provider": "bedrock", "offline": False},
            {"id": "my.model", "name": "my.model", "provider": "bedrock", "offline": False},
            {"id": "openai:llama3.1:8b", "name": "llama3.1:8b", "provider": "openai",
             "offline": False},
            {"id": "openai:qwen2.5", "name": "qwen2.5", "provider": "openai", "offline": False},
        ], "default": "anthropic.claude-3-haiku-20240307-v1:0"})

    def test_openai_without_a_list(self):
        restart_worker(MANGOO_OPENAI_BASE_URL="http://127.0.0.1:1/v1")
        self.assertEqual(self.models(), {"items": [LOCAL], "default": "local"})
        restart_worker(MANGOO_OPENAI_BASE_URL="http://127.0.0.1:1/v1",
                       MANGOO_OPENAI_MODELS="gpt-4o-mini")
        body = self.models()
        self.assertEqual([m["id"] for m in body["items"]], ["local", "openai:gpt-4o-mini"])
        self.assertEqual(body["default"], "openai:gpt-4o-mini")


if __name__ == "__main__":
    unittest.main()
