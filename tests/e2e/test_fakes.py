"""The fake model providers (and the fake Cognito) themselves, over raw
http.client: they must speak the real wire formats and refuse what the
real services refuse, or the suites built on them prove nothing.  No
Mangoo stack is started."""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import unittest
from urllib.parse import quote

import fakes
from fakes import (EventStreamDecoder, EventStreamError, FakeBedrock,
                   FakeOpenAI, Reply)

MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0"
MODEL_PATH = "/model/%s/converse-stream" % quote(MODEL, safe="")
TITAN_PATH = "/model/%s/invoke" % quote(fakes.TITAN_EMBED_MODEL, safe="")


def client_sign(method, host, path, body, key_id=fakes.DEFAULT_ACCESS_KEY_ID,
                secret=fakes.DEFAULT_SECRET_ACCESS_KEY, region="us-east-1",
                token=None, when=None, encode_path_again=True):
    """SigV4 as a client computes it from what it is about to send (written
    apart from the fake's verifier).  encode_path_again=False reproduces the
    classic bug of signing the path as sent."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    headers = {"content-type": "application/json", "host": host,
               "x-amz-date": amz_date}
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    uri = path
    if encode_path_again:
        uri = "/".join(quote(seg, safe="-_.~") for seg in path.split("/"))
    canonical = "\n".join([method, uri, "",
                           "".join("%s:%s\n" % (n, headers[n]) for n in names),
                           ";".join(names), hashlib.sha256(body).hexdigest()])
    scope = "%s/%s/bedrock/aws4_request" % (amz_date[:8], region)
    to_sign = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (
        amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
    key = ("AWS4" + secret).encode()
    for part in (amz_date[:8], region, "bedrock", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
        % (key_id, scope, ";".join(names), signature))
    return headers


def converse_body(text="hello there", **extra):
    body = {"messages": [{"role": "user", "content": [{"text": text}]}]}
    body.update(extra)
    return json.dumps(body).encode()


def post(fake, path, body, headers, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    conn.request("POST", path, body=body, headers=headers)
    return conn, conn.getresponse()


def signed_post(fake, path=MODEL_PATH, body=None, timeout=5, **sign_opts):
    body = converse_body() if body is None else body
    host = "127.0.0.1:%d" % fake.port
    return post(fake, path, body, client_sign("POST", host, path, body, **sign_opts),
                timeout)


def read_events(resp, decoder=None):
    """Decode a whole event stream, reading in small pieces so messages
    arrive split."""
    decoder = decoder or EventStreamDecoder()
    messages = []
    while True:
        data = resp.read(7)
        if not data:
            return messages
        messages += decoder.feed(data)


class BedrockTest(unittest.TestCase):

    def setUp(self):
        self.fake = FakeBedrock().start()
        self.addCleanup(self.fake.stop)

    def test_signed_stream_decodes_to_text_and_usage(self):
        body = converse_body("hello there",
                             system=[{"text": "be brief"}],
                             inferenceConfig={"maxTokens": 100, "temperature": 0.5})
        conn, resp = signed_post(self.fake, body=body)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.getheader("Content-Type"),
                         "application/vnd.amazon.eventstream")
        self.assertEqual(resp.getheader("Transfer-Encoding"), "chunked")
        messages = read_events(resp)
        conn.close()

        kinds = [m.header(":event-type") for m in messages]
        self.assertEqual(kinds[0], "messageStart")
        self.assertEqual(kinds[-3:], ["contentBlockStop", "messageStop", "metadata"])
        deltas = [m.json() for m in messages if m.header(":event-type") == "contentBlockDelta"]
        self.assertEqual("".join(d["delta"]["text"] for d in deltas),
                         "You said: hello there")
        self.assertTrue(all(d["p"] for d in deltas), "padding field p")
        for m in messages:
            self.assertEqual(m.header(":message-type"), "event")
            self.assertEqual(m.header(":content-type"), "application/json")
        self.assertEqual(messages[-2].json(), {"stopReason": "end_turn"})
        # input: 2 words of system + 2 of the message; output: one per delta
        self.assertEqual(messages[-1].json()["usage"],
                         {"inputTokens": 4, "outputTokens": len(deltas),
                          "totalTokens": 4 + len(deltas)})

        (req,) = self.fake.requests
        self.assertEqual(req["model_id"], MODEL)
        self.assertTrue(req["signature_ok"])
        self.assertTrue(req["stream"])
        self.assertEqual(req["body"]["system"], [{"text": "be brief"}])

    def test_one_changed_body_byte_is_refused(self):
        body = converse_body("hello there")
        host = "127.0.0.1:%d" % self.fake.port
        headers = client_sign("POST", host, MODEL_PATH, body)
        tampered = body.replace(b"hello", b"jello")
        conn, resp = post(self.fake, MODEL_PATH, tampered, headers)
        self.assertEqual(resp.status, 403)
        self.assertEqual(resp.getheader("x-amzn-ErrorType").split(":")[0],
                         "InvalidSignatureException")
        self.assertTrue(json.loads(resp.read())["message"].startswith(
            "The request signature we calculated does not match"))
        conn.close()
        self.assertFalse(self.fake.requests[0]["signature_ok"])

    def test_model_id_colon_needs_the_second_encoding(self):
        path = MODEL_PATH.replace("converse-stream", "converse")
        conn, resp = signed_post(self.fake, path, encode_path_again=False)
        self.assertEqual(resp.status, 403)
        self.assertIn("%253A0", json.loads(resp.read())["message"])
        conn.close()

        conn, resp = signed_post(self.fake, path)
        self.assertEqual(resp.status, 200)
        answer = json.loads(resp.read())
        conn.close()
        self.assertEqual(answer["output"]["message"]["content"],
                         [{"text": "You said: hello there"}])
        self.assertEqual(answer["stopReason"], "end_turn")
        self.assertFalse(self.fake.requests[1]["stream"])

    def test_unknown_key_stale_date_and_missing_token(self):
        conn, resp = signed_post(self.fake, key_id="AKIDSOMEONEELSE")
        self.assertEqual(resp.getheader("x-amzn-ErrorType").split(":")[0],
                         "UnrecognizedClientException")
        conn.close()
        old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=6)
        conn, resp = signed_post(self.fake, when=old)
        self.assertEqual(resp.status, 403)
        self.assertIn("Signature expired", json.loads(resp.read())["message"])
        conn.close()

        with FakeBedrock(session_token="tok-1") as fake:
            for token, status in ((None, 403), ("tok-2", 403), ("tok-1", 200)):
                conn, resp = signed_post(fake, token=token)
                self.assertEqual(resp.status, status, token)
                conn.close()

    def test_bearer_api_key(self):
        with FakeBedrock(bearer_token="bedrock-api-key-1") as fake:
            for key, status in (("bedrock-api-key-1", 200), ("wrong", 403)):
                conn, resp = post(fake, MODEL_PATH, converse_body(),
                                  {"Authorization": "Bearer " + key})
                self.assertEqual(resp.status, status)
                conn.close()

    def test_invalid_conversation_is_a_validation_error(self):
        for body in ({"messages": []},
                     {"messages": [{"role": "assistant", "content": [{"text": "x"}]}]},
                     {"messages": [{"role": "user", "content": [{"text": " "}]}]},
                     {"messages": [{"role": "user", "content": [{"text": "a"}]},
                                   {"role": "user", "content": [{"text": "b"}]}]},
                     {"messages": [{"role": "user", "content": [{"text": "a"}]}],
                      "inferenceConfig": {"maxTokens": 0}}):
            conn, resp = signed_post(self.fake, body=json.dumps(body).encode())
            self.assertEqual(resp.status, 400, body)
            self.assertEqual(resp.getheader("x-amzn-ErrorType").split(":")[0],
                             "ValidationException")
            conn.close()

    def test_scripted_throttle_then_success(self):
        self.fake.script(Reply(status=429))
        conn, resp = signed_post(self.fake)
        self.assertEqual(resp.status, 429)
        self.assertEqual(resp.getheader("x-amzn-ErrorType").split(":")[0],
                         "ThrottlingException")
        self.assertIn("message", json.loads(resp.read()))
        # the same connection, kept alive, carries the retry
        host = "127.0.0.1:%d" % self.fake.port
        body = converse_body()
        conn.request("POST", MODEL_PATH, body=body,
                     headers=client_sign("POST", host, MODEL_PATH, body))
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertEqual(read_events(resp)[-1].header(":event-type"), "metadata")
        conn.close()

    def test_exception_after(self):
        self.fake.script(Reply(pieces=["a", "b", "c"], exception_after=2))
        conn, resp = signed_post(self.fake)
        messages = read_events(resp)
        conn.close()
        self.assertEqual([m.header(":event-type") for m in messages[:3]],
                         ["messageStart", "contentBlockDelta", "contentBlockDelta"])
        self.assertEqual(messages[3].header(":message-type"), "exception")
        self.assertEqual(messages[3].header(":exception-type"), "modelStreamErrorException")
        self.assertIn("message", messages[3].json())
        self.assertEqual(len(messages), 4)

    def test_corrupt_after_fails_the_crc(self):
        self.fake.script(Reply(pieces=["a ", "b ", "c"], corrupt_after=1))
        conn, resp = signed_post(self.fake)
        decoder = EventStreamDecoder()
        with self.assertRaisesRegex(EventStreamError, "Message checksum mismatch"):
            read_events(resp, decoder)
        conn.close()

    def test_hang_after_keeps_open_and_stop_is_prompt(self):
        self.fake.script(Reply(pieces=["a ", "b"], hang_after=1))
        conn, resp = signed_post(self.fake, timeout=0.5)
        decoder, messages = EventStreamDecoder(), []
        while len(messages) < 2:
            messages += decoder.feed(resp.read1(65536))
        self.assertEqual(messages[1].json()["delta"]["text"], "a ")
        with self.assertRaises(socket.timeout):
            resp.read1(65536)
        started = time.monotonic()
        self.fake.stop()
        self.assertLess(time.monotonic() - started, 1.0)
        # the connection ends once the fake is gone
        conn.sock.settimeout(1)
        while conn.sock.recv(4096):
            pass
        conn.close()
        self.assertEqual(self.fake.disconnects, 0)

    def test_client_leaving_mid_stream_is_counted(self):
        self.fake.script(Reply(hang_after=1))
        conn, resp = signed_post(self.fake)
        resp.read1(10)
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        deadline = time.monotonic() + 2
        while self.fake.disconnects == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.fake.disconnects, 1)
        self.assertEqual(len(self.fake.wait_requests(1)), 1)
        with self.assertRaises(AssertionError):
            self.fake.wait_requests(2, timeout=0.1)

    def titan(self, text="hello embedding world", path=TITAN_PATH, **body):
        request = {"inputText": text, "dimensions": 1024, "normalize": True}
        request.update(body)
        conn, resp = signed_post(self.fake, path=path, body=json.dumps(request).encode())
        answer = json.loads(resp.read())
        conn.close()
        return resp, answer

    def test_titan_invoke_is_signed_and_deterministic(self):
        resp, answer = self.titan()
        self.assertEqual(resp.status, 200, answer)
        self.assertEqual(len(answer["embedding"]), 1024)
        self.assertAlmostEqual(sum(v * v for v in answer["embedding"]), 1.0)
        self.assertEqual(answer["embedding"], fakes.embedding("hello embedding world", 1024))
        self.assertEqual(answer["inputTextTokenCount"], 3)
        self.assertEqual(resp.getheader("X-Amzn-Bedrock-Input-Token-Count"), "3")
        _, again = self.titan()
        self.assertEqual(again["embedding"], answer["embedding"])
        _, other = self.titan("something else entirely")
        self.assertNotEqual(other["embedding"], answer["embedding"])
        request = self.fake.requests[0]
        self.assertEqual(request["model_id"], fakes.TITAN_EMBED_MODEL)
        self.assertTrue(request["signature_ok"])
        self.assertEqual(request["body"]["inputText"], "hello embedding world")
        # unnormalised vectors are not unit length; smaller sizes are honoured
        _, raw = self.titan(normalize=False, dimensions=256)
        self.assertEqual(len(raw["embedding"]), 256)
        self.assertGreater(sum(v * v for v in raw["embedding"]), 2.0)

    def test_titan_path_colon_needs_the_second_encoding(self):
        body = json.dumps({"inputText": "x"}).encode()
        conn, resp = signed_post(self.fake, path=TITAN_PATH, body=body,
                                 encode_path_again=False)
        self.assertEqual(resp.status, 403)
        self.assertEqual(resp.getheader("x-amzn-ErrorType").split(":")[0],
                         "InvalidSignatureException")
        conn.close()
        self.assertFalse(self.fake.requests[0]["signature_ok"])

    def test_titan_validation(self):
        for body, why in [({"inputText": ""}, "minLength"),
                          ({"inputText": "x", "dimensions": 1000}, "dimensions"),
                          ({"inputText": "x", "normalize": "yes"}, "normalize"),
                          ({"inputText": "x", "texts": ["y"]}, "extraneous key [texts]"),
                          ({"dimensions": 1024}, "inputText")]:
            conn, resp = signed_post(self.fake, path=TITAN_PATH,
                                     body=json.dumps(body).encode())
            answer = json.loads(resp.read())
            conn.close()
            self.assertEqual(resp.status, 400, body)
            self.assertEqual(resp.getheader("x-amzn-ErrorType").split(":")[0],
                             "ValidationException")
            self.assertIn(why, answer["message"])
        other = "/model/%s/invoke" % quote("amazon.titan-embed-text-v1", safe="")
        resp, answer = self.titan(path=other)
        self.assertEqual(resp.status, 400)
        self.assertIn("model identifier is invalid", answer["message"])

    def test_titan_fail_after(self):
        self.fake.fail_after(2, status=500)
        statuses = [self.titan()[0].status for _ in range(4)]
        self.assertEqual(statuses, [200, 200, 500, 500])
        resp, answer = self.titan()
        self.assertEqual(resp.getheader("x-amzn-ErrorType").split(":")[0],
                         "InternalServerException")
        self.fake.default = Reply()             # the provider recovers
        self.assertEqual(self.titan()[0].status, 200)
        self.fake.fail_after(1, status=429, times=1)
        statuses = [self.titan()[0].status for _ in range(3)]
        self.assertEqual(statuses, [200, 429, 200])

    def test_expect_100_continue(self):
        body = converse_body()
        host = "127.0.0.1:%d" % self.fake.port
        headers = client_sign("POST", host, MODEL_PATH, body)
        headers["Expect"] = "100-continue"
        headers["Content-Length"] = str(len(body))
        s = socket.create_connection(("127.0.0.1", self.fake.port), timeout=2)
        s.sendall(("POST %s HTTP/1.1\r\n" % MODEL_PATH).encode() + "".join(
            "%s: %s\r\n" % kv for kv in headers.items()).encode() + b"\r\n")
        self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 100 Continue"))
        s.sendall(body)
        self.assertIn(b" 200 OK", s.recv(100))
        s.close()


def sse_events(resp):
    text = resp.read().decode()
    return [line[len("data: "):] for line in text.split("\n") if line.startswith("data: ")]


class OpenAITest(unittest.TestCase):

    def setUp(self):
        self.fake = FakeOpenAI().start()
        self.addCleanup(self.fake.stop)
        self.auth = {"Authorization": "Bearer " + fakes.DEFAULT_API_KEY,
                     "Content-Type": "application/json"}

    def chat(self, headers=None, **body):
        request = {"model": "gpt-test", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi there"}]}
        request.update(body)
        return post(self.fake, "/v1/chat/completions", json.dumps(request).encode(),
                    self.auth if headers is None else headers)

    def test_stream_shape_usage_and_done(self):
        self.fake.script(Reply(delay=0.005))
        conn, resp = self.chat(stream=True, stream_options={"include_usage": True})
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith("text/event-stream"))
        events = sse_events(resp)
        conn.close()
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        for c in chunks:
            self.assertEqual(c["object"], "chat.completion.chunk")
            self.assertEqual(c["model"], "gpt-test")
        self.assertEqual(chunks[0]["choices"][0]["delta"], {"role": "assistant"})
        text = "".join(c["choices"][0]["delta"].get("content", "")
                       for c in chunks if c["choices"])
        self.assertEqual(text, "You said: hi there")
        self.assertEqual(chunks[-2]["choices"][0]["finish_reason"], "stop")
        self.assertEqual(chunks[-1]["choices"], [])
        pieces = len(chunks) - 3
        self.assertEqual(chunks[-1]["usage"], {"prompt_tokens": 4,
                                               "completion_tokens": pieces,
                                               "total_tokens": 4 + pieces})
        self.assertIsNone(chunks[1]["usage"])
        self.assertTrue(self.fake.requests[0]["stream"])

    def test_whole_answer_and_length(self):
        self.fake.script(Reply(text="cut short", stop_reason="max_tokens"))
        conn, resp = self.chat(max_tokens=5)
        answer = json.loads(resp.read())
        conn.close()
        self.assertEqual(answer["object"], "chat.completion")
        self.assertEqual(answer["choices"][0]["message"],
                         {"role": "assistant", "content": "cut short"})
        self.assertEqual(answer["choices"][0]["finish_reason"], "length")

    def test_wrong_key_is_401(self):
        conn, resp = self.chat(headers={"Authorization": "Bearer sk-wrong"})
        self.assertEqual(resp.status, 401)
        error = json.loads(resp.read())["error"]
        conn.close()
        self.assertEqual(error["code"], "invalid_api_key")
        self.assertEqual(set(error), {"message", "type", "param", "code"})
        self.assertFalse(self.fake.requests[0]["signature_ok"])

    def test_scripted_429_and_stream_error(self):
        self.fake.script(Reply(status=429), Reply(exception_after=1))
        conn, resp = self.chat(stream=True)
        self.assertEqual(resp.status, 429)
        self.assertEqual(resp.getheader("Retry-After"), "1")
        self.assertEqual(json.loads(resp.read())["error"]["code"], "rate_limit_exceeded")
        conn.close()
        conn, resp = self.chat(stream=True)
        events = sse_events(resp)
        conn.close()
        self.assertEqual(json.loads(events[-1])["error"]["type"], "server_error")
        self.assertNotIn("[DONE]", events)

    def test_bad_request_is_400(self):
        conn, resp = self.chat(stream_options={"include_usage": True})
        self.assertEqual(resp.status, 400)
        conn.close()

    def test_embeddings_are_deterministic_unit_vectors(self):
        body = json.dumps({"model": "emb", "input": ["a b", "c"], "dimensions": 8}).encode()
        vectors = []
        for _ in range(2):
            conn, resp = post(self.fake, "/v1/embeddings", body, self.auth)
            vectors.append([d["embedding"] for d in json.loads(resp.read())["data"]])
            conn.close()
        self.assertEqual(vectors[0], vectors[1])
        self.assertEqual(len(vectors[0][0]), 8)
        self.assertAlmostEqual(sum(v * v for v in vectors[0][0]), 1.0)
        self.assertEqual(vectors[0][1], fakes.embedding("c", 8))

    def embed(self, **extra):
        body = {"model": "emb", "input": ["one", "two"], "dimensions": 1024}
        body.update(extra)
        conn, resp = post(self.fake, "/v1/embeddings", json.dumps(body).encode(), self.auth)
        answer = json.loads(resp.read())
        conn.close()
        return resp, answer

    def test_embeddings_scripted_failures(self):
        self.fake.fail_after(1, status=429, times=1)
        resp, answer = self.embed()
        self.assertEqual(resp.status, 200)
        self.assertEqual([d["index"] for d in answer["data"]], [0, 1])
        self.assertEqual(len(answer["data"][0]["embedding"]), 1024)
        resp, answer = self.embed()
        self.assertEqual(resp.status, 429)
        self.assertEqual(resp.getheader("Retry-After"), "1")
        self.assertEqual(answer["error"]["code"], "rate_limit_exceeded")
        self.assertEqual(self.embed()[0].status, 200)
        self.fake.fail_after(0, status=500)
        self.assertEqual([self.embed()[0].status for _ in range(2)], [500, 500])
        self.fake.default = Reply()
        self.assertEqual(self.embed()[0].status, 200)

    def test_embeddings_refuse_unknown_fields(self):
        resp, answer = self.embed(texts=["x"])
        self.assertEqual(resp.status, 400)
        self.assertEqual(answer["error"]["param"], "texts")
        resp, answer = self.embed(input=[])
        self.assertEqual(resp.status, 400)


class CognitoTest(unittest.TestCase):
    """The fake Cognito's OAuth endpoints are as strict as Cognito's: a
    lenient fake would let a server that skips PKCE or the client secret
    pass its tests.  Driven over its command line, as the browser tests
    start it."""

    CLIENT, SECRET, REDIRECT = "fake-client", "fake-secret", "http://127.0.0.1:1/cb"

    @classmethod
    def setUpClass(cls):
        cls.proc = subprocess.Popen(
            [sys.executable, fakes.__file__, "cognito", "--port", "0", "--client-id",
             cls.CLIENT, "--client-secret", cls.SECRET, "--redirect-uri", cls.REDIRECT],
            stdout=subprocess.PIPE, text=True)
        first = cls.proc.stdout.readline().split()
        cls.port = int(first[-1].rsplit(":", 1)[1])
        issuer = cls.proc.stdout.readline().split()
        cls.issuer, cls.jwks = issuer[1], issuer[3]

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(10)
        cls.proc.stdout.close()

    def call(self, method, path, form=None, basic=True):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {}
        body = None
        if form is not None:
            body = "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in form.items())
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if basic:
            headers["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % (self.CLIENT, self.SECRET)).encode()).decode()
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def authorize(self, verifier, method="S256", redirect=None):
        q = "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in {
            "response_type": "code", "client_id": self.CLIENT,
            "redirect_uri": redirect or self.REDIRECT, "state": "s1",
            "code_challenge": fakes.pkce_challenge(verifier),
            "code_challenge_method": method, "scope": "openid"}.items())
        return self.call("GET", "/oauth2/authorize?" + q, basic=False)

    def code(self, verifier):
        status, headers, _ = self.authorize(verifier)
        self.assertEqual(status, 302)
        self.assertTrue(headers["Location"].startswith(self.REDIRECT + "?code="))
        self.assertTrue(headers["Location"].endswith("&state=s1"))
        return headers["Location"].split("code=")[1].split("&")[0]

    def exchange(self, code, verifier, **kw):
        form = {"grant_type": "authorization_code", "client_id": self.CLIENT, "code": code,
                "code_verifier": verifier, "redirect_uri": self.REDIRECT}
        return self.call("POST", "/oauth2/token", form, **kw)

    def test_pkce_s256_is_required_and_checked(self):
        v = "a" * 43
        status, headers, _ = self.authorize(v, method="plain")
        self.assertEqual(status, 302)
        self.assertIn("error=invalid_request", headers["Location"])
        status, _, _ = self.authorize(v, redirect="http://127.0.0.1:1/elsewhere")
        self.assertEqual(status, 400)
        status, _, body = self.exchange(self.code(v), "b" * 43)
        self.assertEqual((status, json.loads(body)), (400, {"error": "invalid_grant"}))

    def test_secret_required_then_tokens_refresh_and_revoke(self):
        v = "c" * 50
        status, _, body = self.exchange(self.code(v), v, basic=False)
        self.assertEqual((status, json.loads(body)), (401, {"error": "invalid_client"}))
        status, _, body = self.exchange(self.code(v), v)
        self.assertEqual(status, 200, body)
        tokens = json.loads(body)
        payload = tokens["access_token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        self.assertEqual((claims["iss"], claims["client_id"], claims["token_use"]),
                         (self.issuer, self.CLIENT, "access"))
        # signed by a key the JWKS at the issuer publishes
        header = tokens["access_token"].split(".")[0]
        kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
        status, _, body = self.call("GET", self.jwks.split(str(self.port), 1)[1], basic=False)
        self.assertEqual(status, 200)
        self.assertIn(kid, [k["kid"] for k in json.loads(body)["keys"]])
        refresh = {"grant_type": "refresh_token", "client_id": self.CLIENT,
                   "refresh_token": tokens["refresh_token"]}
        status, _, body = self.call("POST", "/oauth2/token", refresh)
        self.assertEqual(status, 200, body)
        self.assertNotIn("refresh_token", json.loads(body))
        status, _, _ = self.call("POST", "/oauth2/revoke",
                                 {"token": tokens["refresh_token"], "client_id": self.CLIENT})
        self.assertEqual(status, 200)
        status, _, body = self.call("POST", "/oauth2/token", refresh)
        self.assertEqual((status, json.loads(body)), (400, {"error": "invalid_grant"}))


class SelftestTest(unittest.TestCase):

    @unittest.skipUnless(os.path.isdir(fakes.vectors_dir()), "no conformance vectors")
    def test_selftest_passes(self):
        out = subprocess.run([sys.executable, fakes.__file__, "selftest"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertIn("selftest: OK", out.stdout)


if __name__ == "__main__":
    unittest.main()
