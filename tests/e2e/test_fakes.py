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


# ---------------------------------------------------------------------------
# Tool use: scripted tool calls on the wire, and the tool-result turns the
# fakes accept or refuse
# ---------------------------------------------------------------------------

def tool_spec(name, description="A tool.", **properties):
    return {"toolSpec": {"name": name, "description": description,
                         "inputSchema": {"json": {"type": "object",
                                                  "properties": properties}}}}


TOOL_CONFIG = {"tools": [tool_spec("calculator", expression={"type": "string"}),
                         tool_spec("current_time", tz={"type": "string"})]}


def user(*blocks):
    return {"role": "user", "content": list(blocks)}


def assistant(*blocks):
    return {"role": "assistant", "content": list(blocks)}


def tool_use(ident, name="calculator", **tool_input):
    return {"toolUse": {"toolUseId": ident, "name": name, "input": tool_input}}


def tool_result(ident, *content, status=None):
    result = {"toolUseId": ident, "content": list(content)}
    if status:
        result["status"] = status
    return {"toolResult": result}


def gather_bedrock_calls(messages):
    """The tool calls in decoded ConverseStream events, gathered as a
    client must: opened by contentBlockStart, input text concatenated from
    the deltas of that block index, parsed at its contentBlockStop.
    [(index, id, name, input, pieces)] in the order the blocks closed."""
    open_, done = {}, []
    for m in messages:
        event, payload = m.header(":event-type"), m.json()
        if event == "contentBlockStart":
            start = payload["start"]["toolUse"]
            open_[payload["contentBlockIndex"]] = (start["toolUseId"], start["name"], [])
        elif event == "contentBlockDelta" and "toolUse" in payload["delta"]:
            open_[payload["contentBlockIndex"]][2].append(
                payload["delta"]["toolUse"]["input"])
        elif event == "contentBlockStop" and payload["contentBlockIndex"] in open_:
            ident, name, pieces = open_.pop(payload["contentBlockIndex"])
            done.append((payload["contentBlockIndex"], ident, name,
                         json.loads("".join(pieces)), pieces))
    return done


class BedrockToolTest(unittest.TestCase):

    def setUp(self):
        self.fake = FakeBedrock().start()
        self.addCleanup(self.fake.stop)

    def converse(self, messages=None, path=MODEL_PATH, **extra):
        """POST a conversation (default: one user turn, TOOL_CONFIG):
        (status, decoded events or parsed JSON body)."""
        body = {"messages": messages or [user({"text": "what is 6 times 7?"})],
                "toolConfig": TOOL_CONFIG}
        body.update(extra)
        body = {k: v for k, v in body.items() if v is not None}
        conn, resp = signed_post(self.fake, path=path, body=json.dumps(body).encode())
        try:
            if resp.status == 200 and path == MODEL_PATH:
                return resp.status, read_events(resp)
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    def refused(self, messages, **extra):
        status, answer = self.converse(messages, **extra)
        self.assertEqual(status, 400, messages)
        return answer["message"]

    def test_tool_input_arrives_in_pieces_and_reassembles(self):
        tool_input = {"expression": "6*7", "note": "caf\u00e9 \"quoted\""}
        self.fake.script(Reply(tool_calls=[{"name": "calculator", "input": tool_input}]))
        status, messages = self.converse()
        self.assertEqual(status, 200)
        kinds = [m.header(":event-type") for m in messages]
        deltas = [m.json() for m in messages if m.header(":event-type") == "contentBlockDelta"]
        # no text block: the tool block is block 0
        self.assertEqual(kinds, ["messageStart", "contentBlockStart"]
                         + ["contentBlockDelta"] * len(deltas)
                         + ["contentBlockStop", "messageStop", "metadata"])
        self.assertGreaterEqual(len(deltas), 3, "input split in several pieces")
        self.assertEqual(messages[1].json()["start"],
                         {"toolUse": {"toolUseId": "tooluse_1", "name": "calculator"}})
        for d in deltas:
            self.assertEqual(d["contentBlockIndex"], 0)
            self.assertEqual(set(d["delta"]), {"toolUse"})
            self.assertTrue(d["p"], "padding field p")
        # a piece alone is not JSON; together they are the input
        with self.assertRaises(ValueError):
            json.loads(deltas[0]["delta"]["toolUse"]["input"])
        (call,) = gather_bedrock_calls(messages)
        self.assertEqual(call[:4], (0, "tooluse_1", "calculator", tool_input))
        self.assertEqual(messages[-2].json(), {"stopReason": "tool_use"})
        self.assertEqual(messages[-1].json()["usage"]["outputTokens"], len(deltas))

    def test_text_then_two_calls(self):
        self.fake.script(Reply(text="Let me work that out.", tool_calls=[
            {"name": "calculator", "input": {"expression": "6*7"}},
            {"id": "tooluse_mine", "name": "current_time",
             "pieces": ['{"t', 'z":"U', 'TC"}']}]))
        status, messages = self.converse()
        self.assertEqual(status, 200)
        events = [(m.header(":event-type"), m.json().get("contentBlockIndex"))
                  for m in messages]
        # block 0 (text) closes before block 1 opens; blocks never overlap
        first_start = events.index(("contentBlockStart", 1))
        self.assertLess(events.index(("contentBlockStop", 0)), first_start)
        self.assertLess(events.index(("contentBlockStop", 1)),
                        events.index(("contentBlockStart", 2)))
        text = "".join(m.json()["delta"]["text"] for m in messages
                       if m.header(":event-type") == "contentBlockDelta"
                       and "text" in m.json()["delta"])
        self.assertEqual(text, "Let me work that out.")
        calls = gather_bedrock_calls(messages)
        self.assertEqual([c[:4] for c in calls],
                         [(1, "tooluse_1", "calculator", {"expression": "6*7"}),
                          (2, "tooluse_mine", "current_time", {"tz": "UTC"})])
        self.assertEqual(calls[1][4], ['{"t', 'z":"U', 'TC"}'], "pieces as scripted")
        self.assertEqual(messages[-2].json(), {"stopReason": "tool_use"})
        # default ids stay unique across the fake's replies
        self.fake.script(Reply(tool_calls=[{"name": "calculator"}]))
        _, messages = self.converse()
        self.assertEqual(gather_bedrock_calls(messages)[0][1:4],
                         ("tooluse_2", "calculator", {}))

    def test_whole_answer_and_stop_reason_override(self):
        self.fake.script(Reply(text="Checking.", tool_stop_reason="max_tokens",
                               tool_calls=[{"name": "calculator", "input": {"x": 1}}]))
        path = MODEL_PATH.replace("converse-stream", "converse")
        status, answer = self.converse(path=path)
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["output"]["message"]["content"], [
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "tooluse_1", "name": "calculator",
                         "input": {"x": 1}}}])
        self.assertEqual(answer["stopReason"], "max_tokens")

    def test_delay_hang_and_exception_count_input_pieces(self):
        call = {"name": "calculator", "pieces": ['{"a"', ':', '1}']}
        self.fake.script(Reply(tool_calls=[call], delay=0.05))
        started = time.monotonic()
        status, messages = self.converse()
        self.assertGreaterEqual(time.monotonic() - started, 0.15)
        self.assertEqual(gather_bedrock_calls(messages)[0][3], {"a": 1})

        self.fake.script(Reply(tool_calls=[call], exception_after=2))
        _, messages = self.converse()
        self.assertEqual([m.header(":event-type") for m in messages[:-1]],
                         ["messageStart", "contentBlockStart",
                          "contentBlockDelta", "contentBlockDelta"])
        self.assertEqual(messages[-1].header(":message-type"), "exception")

        self.fake.script(Reply(tool_calls=[call], hang_after=1))
        body = json.dumps({"messages": [user({"text": "hi"})],
                           "toolConfig": TOOL_CONFIG}).encode()
        conn, resp = signed_post(self.fake, body=body, timeout=0.5)
        decoder, messages = EventStreamDecoder(), []
        while len(messages) < 3:
            messages += decoder.feed(resp.read1(65536))
        self.assertEqual(messages[2].json()["delta"], {"toolUse": {"input": '{"a"'}})
        with self.assertRaises(socket.timeout):
            resp.read1(65536)
        conn.close()

    def test_tool_results_are_echoed_and_recorded(self):
        conversation = [
            user({"text": "6 times 7, and the time?"}),
            assistant({"text": "Let me check."}, tool_use("tooluse_a", expression="6*7"),
                      tool_use("tooluse_b", "current_time")),
            user(tool_result("tooluse_a", {"text": "42"}),
                 tool_result("tooluse_b", {"json": {"error": "no clock"}}, status="error"))]
        status, messages = self.converse(conversation)
        self.assertEqual(status, 200)
        text = "".join(m.json()["delta"]["text"] for m in messages
                       if m.header(":event-type") == "contentBlockDelta")
        self.assertEqual(text, 'Tool results: 42; error: {"error":"no clock"}')
        self.assertEqual(messages[-2].json(), {"stopReason": "end_turn"})
        want = [("tooluse_a", "42", False), ("tooluse_b", '{"error":"no clock"}', True)]
        self.assertEqual(self.fake.tool_results(), want)
        self.assertEqual(fakes.tool_results(self.fake.requests[-1]["body"]), want)
        # results and text in one turn: both reach the answer
        conversation[2]["content"].append({"text": "thanks"})
        _, messages = self.converse(conversation)
        text = "".join(m.json()["delta"]["text"] for m in messages
                       if m.header(":event-type") == "contentBlockDelta")
        self.assertTrue(text.startswith("Tool results: 42;"), text)
        self.assertTrue(text.endswith("\nYou said: thanks"), text)

    def test_tool_turns_are_validated(self):
        asked = [user({"text": "go"}),
                 assistant(tool_use("tooluse_a"), tool_use("tooluse_b", "current_time"))]
        message = self.refused(asked + [user(tool_result("tooluse_a", {"text": "1"}))])
        self.assertEqual(message, "Expected toolResult blocks at messages.2.content "
                                  "for the following Ids: tooluse_b")
        message = self.refused(asked + [user(tool_result("tooluse_a", {"text": "1"}),
                                              tool_result("tooluse_b", {"text": "2"}),
                                              tool_result("tooluse_z", {"text": "3"}))])
        self.assertIn("exceeds the number of toolUse blocks of previous turn", message)
        message = self.refused([user(tool_result("tooluse_z", {"text": "3"}))])
        self.assertIn("exceeds the number of toolUse blocks", message)
        message = self.refused(asked)
        self.assertIn("`tool_use` ids were found without `tool_result` blocks", message)
        answered = asked + [user(tool_result("tooluse_a", {"text": "1"}),
                                 tool_result("tooluse_b", {"text": "2"}))]
        self.assertEqual(self.refused(answered, toolConfig=None),
                         "The toolConfig field must be defined when using toolUse "
                         "and toolResult content blocks.")
        message = self.refused(answered[:2] + [user(
            tool_result("tooluse_a", {"json": [1, 2]}), tool_result("tooluse_b"))])
        self.assertIn("Provide a json object", message)
        message = self.refused(answered[:2] + [user(
            tool_result("tooluse_a", {"text": "1"}), tool_result("tooluse_b", status="error"))])
        self.assertIn("cannot be empty when status value is error", message)
        # the tools themselves
        for config, why in [({"tools": [tool_spec("get weather")]}, "regular expression"),
                            ({"tools": [tool_spec("x" * 65)]}, "less than or equal to 64"),
                            ({"tools": []}, "greater than or equal to 1"),
                            ({"tools": [tool_spec("a", description="")]}, "description"),
                            ({"tools": [{"toolSpec": {"name": "a",
                                                      "inputSchema": {"json": "{}"}}}]},
                             "inputSchema"),
                            ({"tools": [tool_spec("a"), tool_spec("a")]}, "unique"),
                            ({"tools": [tool_spec("a")], "toolChoice": {"tool": {"name": "b"}}},
                             "toolChoice"),
                            ({"tools": [tool_spec("a")], "toolChoice": {"sometimes": {}}},
                             "toolChoice")]:
            self.assertIn(why, self.refused(None, toolConfig=config), config)
        # and what is right is accepted
        for config in ({"tools": [tool_spec("get_weather-2")], "toolChoice": {"auto": {}}},
                       {"tools": [tool_spec("a")], "toolChoice": {"tool": {"name": "a"}}},
                       {"tools": [{"toolSpec": {"name": "a", "inputSchema": {"json": {}}}}]}):
            self.assertEqual(self.converse(toolConfig=config)[0], 200, config)
        self.assertEqual(self.converse(answered)[0], 200)

    def test_scripting_mistakes_fail_at_once(self):
        for call in ({"input": {}}, {"name": "a", "input": "{}"},
                     {"name": "a", "pieces": "{}"}, {"name": "a", "args": {}}):
            with self.assertRaises(ValueError):
                Reply(tool_calls=[call])


def gather_openai_calls(chunks):
    """Tool calls from streamed chat chunks, gathered as a client must: by
    index, id and name from the first delta, arguments concatenated.
    ({index: [id, name, arguments text]}, the delta indexes in order)."""
    calls, order = {}, []
    for c in chunks:
        for tc in (c["choices"][0]["delta"].get("tool_calls") or []) if c["choices"] else []:
            order.append(tc["index"])
            call = calls.setdefault(tc["index"], [None, None, ""])
            if "id" in tc:
                if tc.get("type") != "function":
                    raise AssertionError("a call opens with type function: %r" % tc)
                call[0], call[1] = tc["id"], tc["function"]["name"]
            call[2] += tc["function"].get("arguments", "")
    return calls, order


FUNCTIONS = [{"type": "function", "function": {
    "name": name, "description": "A tool.",
    "parameters": {"type": "object", "properties": {}}}}
    for name in ("calculator", "current_time")]


class OpenAIToolTest(unittest.TestCase):

    def setUp(self):
        self.fake = FakeOpenAI().start()
        self.addCleanup(self.fake.stop)
        self.auth = {"Authorization": "Bearer " + fakes.DEFAULT_API_KEY,
                     "Content-Type": "application/json"}

    def chat(self, messages=None, **extra):
        """POST a chat (default: one user message, FUNCTIONS offered):
        (status, chunks without [DONE] when streamed, else the JSON body)."""
        body = {"model": "gpt-test", "tools": FUNCTIONS,
                "messages": messages or [{"role": "user", "content": "what is 6*7?"}]}
        body.update(extra)
        body = {k: v for k, v in body.items() if v is not None}
        conn, resp = post(self.fake, "/v1/chat/completions", json.dumps(body).encode(),
                          self.auth)
        try:
            if resp.status == 200 and body.get("stream"):
                events = sse_events(resp)
                self.assertEqual(events[-1], "[DONE]")
                return resp.status, [json.loads(e) for e in events[:-1]]
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    def refused(self, messages, **extra):
        status, answer = self.chat(messages, **extra)
        self.assertEqual(status, 400, messages)
        return answer["error"]

    def test_arguments_arrive_in_pieces_and_reassemble(self):
        tool_input = {"expression": "6*7", "note": "caf\u00e9"}
        self.fake.script(Reply(tool_calls=[{"name": "calculator", "input": tool_input}]))
        status, chunks = self.chat(stream=True, stream_options={"include_usage": True})
        self.assertEqual(status, 200)
        tool_chunks = [c["choices"][0]["delta"]["tool_calls"] for c in chunks
                       if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
        self.assertEqual(tool_chunks[0], [{"index": 0, "id": "call_1", "type": "function",
                                           "function": {"name": "calculator",
                                                        "arguments": ""}}])
        pieces = tool_chunks[1:]
        self.assertGreaterEqual(len(pieces), 3)
        for p in pieces:
            self.assertEqual(set(p[0]), {"index", "function"})
            self.assertEqual(set(p[0]["function"]), {"arguments"})
        calls, _ = gather_openai_calls(chunks)
        self.assertEqual(calls[0][:2], ["call_1", "calculator"])
        self.assertEqual(json.loads(calls[0][2]), tool_input)
        self.assertEqual(chunks[-2]["choices"][0], {"index": 0, "delta": {},
                                                    "finish_reason": "tool_calls"})
        self.assertEqual(chunks[-1]["usage"]["completion_tokens"], len(pieces))
        # no text was scripted: no content deltas
        self.assertFalse([c for c in chunks if c["choices"]
                          and c["choices"][0]["delta"].get("content")])

    def test_two_calls_in_turn_or_interleaved(self):
        calls = [{"name": "calculator", "input": {"expression": "1+1"}},
                 {"id": "call_b", "name": "current_time", "input": {"tz": "UTC"}}]
        self.fake.script(Reply(text="On it.", tool_calls=calls),
                         Reply(tool_calls=calls, interleave=True))
        _, chunks = self.chat(stream=True)
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        self.assertEqual(text, "On it.")
        got, order = gather_openai_calls(chunks)
        self.assertEqual(order, sorted(order), "one call after the other")
        self.assertEqual(got, {0: ["call_1", "calculator", '{"expression":"1+1"}'],
                               1: ["call_b", "current_time", '{"tz":"UTC"}']})

        _, chunks = self.chat(stream=True)
        got, order = gather_openai_calls(chunks)
        self.assertEqual(order[:2], [0, 1], "both calls open first")
        self.assertIn([0, 1, 0, 1], [order[i:i + 4] for i in range(len(order))],
                      "argument pieces alternate")
        self.assertEqual(got, {0: ["call_2", "calculator", '{"expression":"1+1"}'],
                               1: ["call_b", "current_time", '{"tz":"UTC"}']})
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "tool_calls")

    def test_whole_answer_with_tool_calls(self):
        self.fake.script(Reply(tool_calls=[{"id": "call_x", "name": "calculator",
                                            "pieces": ['{"expr', 'ession":"2"}']}]))
        status, answer = self.chat()
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["choices"][0]["finish_reason"], "tool_calls")
        self.assertEqual(answer["choices"][0]["message"], {
            "role": "assistant", "content": None,
            "tool_calls": [{"id": "call_x", "type": "function",
                            "function": {"name": "calculator",
                                         "arguments": '{"expression":"2"}'}}]})

    def asked(self):
        return [{"role": "user", "content": "6*7, and the time?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_a", "type": "function",
                     "function": {"name": "calculator", "arguments": '{"expression":"6*7"}'}},
                    {"id": "call_b", "type": "function",
                     "function": {"name": "current_time", "arguments": "{}"}}]}]

    def test_tool_results_are_echoed_and_recorded(self):
        messages = self.asked() + [
            {"role": "tool", "tool_call_id": "call_a", "content": "42"},
            {"role": "tool", "tool_call_id": "call_b", "content": "12:00 UTC"}]
        status, chunks = self.chat(messages, stream=True)
        self.assertEqual(status, 200)
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        self.assertEqual(text, "Tool results: 42; 12:00 UTC")
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "stop")
        self.assertEqual(self.fake.tool_results(),
                         [("call_a", "42", False), ("call_b", "12:00 UTC", False)])
        # a later user turn: the echo is of it again
        messages += [{"role": "assistant", "content": "42, at noon."},
                     {"role": "user", "content": "thanks"}]
        status, answer = self.chat(messages)
        self.assertEqual(answer["choices"][0]["message"]["content"], "You said: thanks")
        self.assertEqual(self.fake.tool_results(), [])

    def test_tool_turns_are_validated(self):
        asked = self.asked()
        error = self.refused(asked + [{"role": "tool", "tool_call_id": "call_a",
                                       "content": "42"}])
        self.assertEqual(error["message"],
                         "An assistant message with 'tool_calls' must be followed by "
                         "tool messages responding to each 'tool_call_id'. The "
                         "following tool_call_ids did not have response messages: call_b")
        error = self.refused(asked + [{"role": "tool", "tool_call_id": "call_a",
                                       "content": "42"},
                                      {"role": "user", "content": "and?"}])
        self.assertIn("did not have response messages: call_b", error["message"])
        self.assertEqual(error["param"], "messages.[3].role")
        error = self.refused(asked + [{"role": "tool", "tool_call_id": "call_z",
                                       "content": "42"}])
        self.assertEqual(error["message"], "Invalid parameter: 'tool_call_id' of "
                         "'call_z' not found in 'tool_calls' of previous message.")
        error = self.refused([{"role": "user", "content": "hi"},
                              {"role": "tool", "tool_call_id": "call_a", "content": "1"}])
        self.assertIn("must be a response to a preceeding message with 'tool_calls'",
                      error["message"])
        error = self.refused(asked[:1] + [{"role": "assistant", "content": None}])
        self.assertEqual(error["param"], "messages.1")
        bad = dict(FUNCTIONS[0], function=dict(FUNCTIONS[0]["function"], name="get weather"))
        error = self.refused(None, tools=[bad])
        self.assertEqual(error["param"], "tools[0].function.name")
        self.assertEqual(self.refused(None, tools=[])["param"], "tools")
        self.assertEqual(self.refused(None, tools=None, tool_choice="auto")["param"],
                         "tool_choice")
        self.assertEqual(self.refused(None, tool_choice={
            "type": "function", "function": {"name": "nope"}})["param"], "tool_choice")
        # and what is right is accepted
        answered = asked + [{"role": "tool", "tool_call_id": "call_b", "content": "noon"},
                            {"role": "tool", "tool_call_id": "call_a", "content": "42"}]
        self.assertEqual(self.chat(answered, tool_choice="required",
                                   parallel_tool_calls=False)[0], 200)


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
