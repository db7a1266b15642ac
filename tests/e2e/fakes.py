"""Fake model providers for the end-to-end tests and the benchmark.

The tests cannot reach Amazon Bedrock Runtime or an OpenAI-compatible
server, so these fakes stand in for them on loopback.  A fake that accepts
anything would let a broken client pass, so they speak the real wire formats
(AWS event-stream framing, SigV4, OpenAI's server-sent chunks) and check
requests as strictly as the real services do.  The encoder and the SigV4
verifier are checked against public conformance vectors by `selftest`.
Amazon Cognito's hosted UI and OAuth endpoints are faked here too (the
authorization code flow with PKCE S256, refresh, revoke, the JWKS), for the
server's tests and as the browser tests' sign-in page.

    python3 tests/e2e/fakes.py bedrock --port N [--delay-ms X] [--pieces K] ...
    python3 tests/e2e/fakes.py openai --port N [--api-key K] ...
    python3 tests/e2e/fakes.py sse --port N --pieces K --delay-ms X
    python3 tests/e2e/fakes.py cognito --port N --client-id ID [--issuer URL]
        [--client-secret S] [--user NAME] [--group G]... [--email E]
        [--redirect-uri URI]... [--key-dir DIR] [--access-ttl S] [--rotate]
      prints "FakeCognito listening on http://127.0.0.1:N", then
      "issuer <URL> jwks <URL>".  The server then takes
        MANGOO_COGNITO_DOMAIN=http://127.0.0.1:N  MANGOO_CLIENT_ID=ID
        MANGOO_JWKS=<jwks URL>  MANGOO_ISSUER=<issuer URL>
      GET /oauth2/authorize (response_type=code, client_id, redirect_uri,
      code_challenge, code_challenge_method=S256, state, scope; the
      non-standard username= picks the user) signs in at once and
      redirects to redirect_uri?code=..&state=..; GET /logout redirects to
      logout_uri.  Access tokens are signed by `build/mangoo-worker token`
      with the key in --key-dir (a fresh one by default).
    python3 tests/e2e/fakes.py selftest
"""

import argparse
import base64
import collections
import dataclasses
import datetime
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import (parse_qs, unquote, unquote_to_bytes, urlencode, urlsplit,
                          urlunsplit)

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORKER_BIN = os.path.join(TOP, "build", "mangoo-worker")

DEFAULT_ACCESS_KEY_ID = "AKIDMANGOOFAKE"
DEFAULT_SECRET_ACCESS_KEY = "mangoo/fake/SECRET+key/0123456789abcdefEXAMPLE"
DEFAULT_API_KEY = "sk-mangoo-fake-0123456789"


def _compact(obj):
    """JSON without spaces or raw newlines: what both services send, and
    safe inside one SSE `data:` line."""
    return json.dumps(obj, separators=(",", ":"))


# ---------------------------------------------------------------------------
# AWS event-stream framing (application/vnd.amazon.eventstream)
# ---------------------------------------------------------------------------

class EventStreamError(ValueError):
    """A message that a conforming decoder must reject."""


# value type -> struct format of fixed-size values
_FIXED = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}


def _encode_header(name, kind, value):
    raw_name = name.encode()
    out = struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">B", kind)
    if kind in (0, 1):
        return out
    if kind in _FIXED:
        return out + struct.pack(_FIXED[kind], value)
    if kind in (6, 7):
        data = value.encode() if kind == 7 else value
        return out + struct.pack(">H", len(data)) + data
    if kind == 9:
        if len(value) != 16:
            raise ValueError("a uuid header value is 16 bytes")
        return out + value
    raise ValueError("unknown header value type %r" % kind)


def encode_message(headers, payload):
    """One event-stream message.  headers: (name, type, value) triples, value
    typed as the type needs (bool types ignore it; 6 and 9 take bytes, 7 str,
    the integer types int)."""
    raw_headers = b"".join(_encode_header(*h) for h in headers)
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event_message(event_type, payload):
    """An event as Bedrock sends it: three string headers, a JSON payload."""
    return encode_message([(":event-type", 7, event_type),
                           (":content-type", 7, "application/json"),
                           (":message-type", 7, "event")],
                          _compact(payload).encode())


def exception_message(exception_type, message):
    """An error inside the stream, after the HTTP 200 was already sent."""
    return encode_message([(":exception-type", 7, exception_type),
                           (":content-type", 7, "application/json"),
                           (":message-type", 7, "exception")],
                          _compact({"message": message}).encode())


class Message:
    """One decoded event-stream message."""

    def __init__(self, headers, payload):
        self.headers = headers      # [(name, type, value)] in wire order
        self.payload = payload

    def header(self, name):
        for n, _, v in self.headers:
            if n == name:
                return v
        return None

    def json(self):
        return json.loads(self.payload)

    def __repr__(self):
        return "<Message %s %r>" % (self.header(":event-type")
                                    or self.header(":exception-type"),
                                    self.payload[:80])


class EventStreamDecoder:
    """Incremental decoder: feed() any split of the byte stream, get back
    the messages completed so far.  The tests use it to read the fake's own
    output; selftest checks it against the conformance vectors."""

    def __init__(self):
        self._buf = b""

    def feed(self, data):
        self._buf += data
        out = []
        while len(self._buf) >= 12:
            total, hlen, crc = struct.unpack(">III", self._buf[:12])
            if zlib.crc32(self._buf[:8]) != crc:
                raise EventStreamError("Prelude checksum mismatch")
            if total < 16 or hlen > total - 16:
                raise EventStreamError("Impossible lengths in prelude")
            if len(self._buf) < total:
                break
            msg, self._buf = self._buf[:total], self._buf[total:]
            if zlib.crc32(msg[:-4]) != struct.unpack(">I", msg[-4:])[0]:
                raise EventStreamError("Message checksum mismatch")
            out.append(Message(_decode_headers(msg[12:12 + hlen]),
                               msg[12 + hlen:-4]))
        return out


def _decode_headers(raw):
    headers, i = [], 0

    def take(n):
        nonlocal i
        if i + n > len(raw):
            raise EventStreamError("Header runs past the headers section")
        i += n
        return raw[i - n:i]

    while i < len(raw):
        name = take(take(1)[0]).decode()
        kind = take(1)[0]
        if kind in (0, 1):
            value = kind == 0
        elif kind in _FIXED:
            fmt = _FIXED[kind]
            value = struct.unpack(fmt, take(struct.calcsize(fmt)))[0]
        elif kind in (6, 7):
            value = take(struct.unpack(">H", take(2))[0])
            value = value.decode() if kind == 7 else value
        elif kind == 9:
            value = take(16)
        else:
            raise EventStreamError("Unknown header value type %d" % kind)
        headers.append((name, kind, value))
    return headers


# ---------------------------------------------------------------------------
# Signature Version 4, verified the way the service does it
# ---------------------------------------------------------------------------

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        b"0123456789-._~")


def uri_encode(raw):
    """SigV4's URI encoding of bytes: everything but unreserved, upper hex."""
    return "".join(chr(b) if b in _UNRESERVED else "%%%02X" % b for b in raw)


def canonical_uri(path, normalize=True):
    """The canonical URI of a path exactly as it came on the wire (bytes).
    Each segment is encoded once more, so `%3A` becomes `%253A`: that is
    what non-S3 services compute, and what a client has to sign."""
    segments = path.split(b"/")[1:]
    if normalize:
        kept = []
        for s in segments:
            if s == b"..":
                if kept:
                    kept.pop()
            elif s not in (b"", b"."):
                kept.append(s)
        if kept and segments[-1] in (b"", b".", b".."):
            kept.append(b"")
        segments = kept
    return "/" + "/".join(uri_encode(s) for s in segments)


def canonical_query(query):
    """Parameters decoded, re-encoded the SigV4 way, sorted by key then value."""
    pairs = []
    for part in query.split(b"&"):
        if part:
            key, _, value = part.partition(b"=")
            pairs.append((uri_encode(unquote_to_bytes(key)),
                          uri_encode(unquote_to_bytes(value))))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def canonical_headers(headers, signed):
    """`name:value\\n` for each signed name: repeated headers joined by
    commas in arrival order, each value trimmed with inner runs of
    whitespace (folded lines included) collapsed to one space."""
    lines = []
    for name in signed:
        values = [" ".join(v.split()) for n, v in headers if n.lower() == name]
        lines.append("%s:%s\n" % (name, ",".join(values)))
    return "".join(lines)


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class AuthError(Exception):
    """A refused request: the AWS error type and message to answer with.
    `strings` holds the computed (canonical request, string to sign,
    signature) when the refusal came after computing them."""

    def __init__(self, error_type, message, strings=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.strings = strings


_SIG_MISMATCH = ("The request signature we calculated does not match the "
                 "signature you provided. Check your AWS Secret Access Key and "
                 "signing method. Consult the service documentation for details.")
_BAD_TOKEN = "The security token included in the request is invalid."


class SigV4Verifier:
    """Checks a request's `Authorization: AWS4-HMAC-SHA256 ...` header the
    way an AWS service does, from the request as received."""

    MAX_SKEW = datetime.timedelta(minutes=5)

    def __init__(self, access_key_id, secret_access_key, region, service,
                 session_token=None, normalize=True):
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.region = region
        self.service = service
        self.session_token = session_token
        self.normalize = normalize

    def verify(self, method, target, headers, body, now=None):
        """target: the request target as bytes off the wire; headers: (name,
        value) pairs in arrival order.  Returns (canonical request, string to
        sign, signature); raises AuthError."""
        get = _header_getter(headers)
        auth = _parse_authorization(get("authorization"))
        key_id, scope_date, region, service, terminator = auth["credential"]
        if key_id != self.access_key_id:
            raise AuthError("UnrecognizedClientException", _BAD_TOKEN)
        if region != self.region:
            raise AuthError("InvalidSignatureException",
                            "Credential should be scoped to a valid region.")
        if service != self.service:
            raise AuthError("InvalidSignatureException",
                            "Credential should be scoped to correct service: "
                            "'%s'." % self.service)
        if terminator != "aws4_request":
            raise AuthError("InvalidSignatureException",
                            "Credential should be scoped with a valid "
                            "terminator: 'aws4_request', not '%s'." % terminator)
        signed = auth["signed_headers"]
        if "host" not in signed:
            raise AuthError("InvalidSignatureException",
                            "'Host' or ':authority' must be a 'SignedHeader' "
                            "in the AWS Authorization.")
        amz_date = get("x-amz-date")
        if amz_date is None:
            raise AuthError("IncompleteSignatureException",
                            "Authorization header requires existence of "
                            "either a 'X-Amz-Date' or a 'Date' header.")
        if "x-amz-date" not in signed:
            raise AuthError("InvalidSignatureException",
                            "'X-Amz-Date' must be a 'SignedHeader' in the AWS "
                            "Authorization.")
        self._check_date(amz_date, scope_date, now)

        scope = "/".join(auth["credential"][1:])
        strings = sigv4_strings(method, target, headers, body, signed,
                                amz_date, scope, self.secret_access_key,
                                self.normalize)
        if not hmac.compare_digest(strings[2], auth["signature"]):
            raise AuthError("InvalidSignatureException",
                            "%s\n\nThe Canonical String for this request should "
                            "have been\n'%s'\n\nThe String-to-Sign should have "
                            "been\n'%s'\n" % ((_SIG_MISMATCH,) + strings[:2]),
                            strings)
        self._check_token(get("x-amz-security-token"), signed, strings)
        return strings

    def _check_date(self, amz_date, scope_date, now):
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        except ValueError:
            raise AuthError("IncompleteSignatureException",
                            "Date must be in ISO-8601 'basic format'. Got '%s'."
                            % amz_date) from None
        if scope_date != amz_date[:8]:
            raise AuthError("InvalidSignatureException",
                            "Date in Credential scope does not match YYYYMMDD "
                            "from ISO-8601 version of date from HTTP: '%s' != "
                            "'%s', from '%s'." % (scope_date, amz_date[:8], amz_date))
        now = now or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        if when < now - self.MAX_SKEW:
            limit = (now - self.MAX_SKEW).strftime("%Y%m%dT%H%M%SZ")
            raise AuthError("InvalidSignatureException",
                            "Signature expired: %s is now earlier than %s "
                            "(%s - 5 min.)" % (amz_date, limit, stamp))
        if when > now + self.MAX_SKEW:
            limit = (now + self.MAX_SKEW).strftime("%Y%m%dT%H%M%SZ")
            raise AuthError("InvalidSignatureException",
                            "Signature not yet current: %s is still later than "
                            "%s (%s + 5 min.)" % (amz_date, limit, stamp))

    def _check_token(self, token, signed, strings):
        """Session credentials: the token must come, match, and be signed;
        without them, a token is a credential the service does not know."""
        if self.session_token is None:
            if token is not None:
                raise AuthError("UnrecognizedClientException", _BAD_TOKEN, strings)
            return
        if token != self.session_token:
            raise AuthError("UnrecognizedClientException", _BAD_TOKEN, strings)
        if "x-amz-security-token" not in signed:
            raise AuthError("InvalidSignatureException",
                            "'X-Amz-Security-Token' must be a 'SignedHeader' "
                            "in the AWS Authorization.", strings)


def _header_getter(headers):
    def get(name):
        values = [v for n, v in headers if n.lower() == name]
        return values[-1].strip() if values else None
    return get


def _parse_authorization(value):
    if value is None:
        raise AuthError("MissingAuthenticationTokenException",
                        "Missing Authentication Token")
    algorithm, _, rest = value.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        raise AuthError("IncompleteSignatureException",
                        "Unsupported Authorization Type")
    params = {}
    for part in rest.split(","):
        key, eq, val = part.strip().partition("=")
        if eq:
            params[key] = val
    missing = [k for k in ("Credential", "SignedHeaders", "Signature")
               if not params.get(k)]
    if missing:
        raise AuthError("IncompleteSignatureException",
                        " ".join("Authorization header requires '%s' parameter."
                                 % k for k in missing))
    credential = params["Credential"].split("/")
    if len(credential) != 5:
        raise AuthError("IncompleteSignatureException",
                        "Credential should have 5 parts: key id, date, region, "
                        "service, aws4_request. Got '%s'." % params["Credential"])
    return {"credential": credential,
            "signed_headers": params["SignedHeaders"].split(";"),
            "signature": params["Signature"]}


def sigv4_strings(method, target, headers, body, signed, amz_date, scope,
                  secret, normalize=True):
    """(canonical request, string to sign, signature) of a request as
    received; target is the request target as bytes off the wire."""
    path, _, query = target.partition(b"?")
    canonical = "\n".join([method, canonical_uri(path, normalize),
                           canonical_query(query),
                           canonical_headers(headers, signed),
                           ";".join(signed),
                           hashlib.sha256(body).hexdigest()])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = _hmac(key, part)
    return canonical, to_sign, hmac.new(key, to_sign.encode(),
                                        hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------
# Scripted behaviour
# ---------------------------------------------------------------------------

@dataclasses.dataclass
class Reply:
    """What a fake does for one request.  Every field is optional; the
    defaults give a prompt, well-formed echo answer.

    text            the answer (default "You said: <last user message>")
    pieces          the deltas (default: text split into words, spaces kept)
    delay           seconds before each delta
    first_delay     seconds before the first byte of the response
    status          answer this HTTP error instead, before any stream
    error_type      its type (Bedrock x-amzn-ErrorType / OpenAI error.type);
                    default from the status
    message         the error's message (status or in-stream); default stock
    exception_after after n deltas, an in-stream error, then the end
    exception_type  Bedrock's in-stream exception (modelStreamErrorException)
    corrupt_after   after n deltas, a damaged message (bad CRC / bad JSON)
    hang_after      after n deltas, send nothing until the client leaves or
                    the fake stops (non-streaming: never answer)
    stop_reason     Bedrock stopReason (OpenAI: end_turn->stop,
                    max_tokens->length, tool_use->tool_calls, others as given)
    usage           (input, output) tokens; default: words of the prompt,
                    number of pieces (text pieces and tool input pieces)
    tool_calls      a tool-use turn: [{"name": str, "id": str, "input": dict,
                    "pieces": [str]}], only name required.  id defaults to
                    a fresh "tooluse_<n>" (Bedrock) / "call_<n>" (OpenAI),
                    n counting per fake; input to {}; pieces (the fragments
                    the input's JSON text is streamed in) to the compact
                    JSON of input cut in 3 near-equal parts (split_input).
                    Given pieces are sent as they are, even if they do not
                    join to input (to script a model sending bad JSON).
                    The text (if any) streams first, then each call; with
                    tool_calls and no text or pieces there is no text.
                    Deltas, for delay and the *_after counts, are the text
                    pieces and then the input pieces, in wire order.
    tool_stop_reason the stop reason of a reply with tool_calls, instead of
                    stop_reason (default tool_use; OpenAI: tool_calls)
    interleave      OpenAI only: send the calls round-robin (every call's
                    opening chunk, then their argument pieces in turn), as
                    servers streaming parallel calls may; Bedrock's blocks
                    never interleave
    """
    text: Optional[str] = None
    pieces: Optional[list] = None
    delay: float = 0.0
    first_delay: float = 0.0
    status: Optional[int] = None
    error_type: Optional[str] = None
    message: Optional[str] = None
    exception_after: Optional[int] = None
    exception_type: str = "modelStreamErrorException"
    corrupt_after: Optional[int] = None
    hang_after: Optional[int] = None
    stop_reason: str = "end_turn"
    usage: Optional[tuple] = None
    tool_calls: Optional[list] = None
    tool_stop_reason: str = "tool_use"
    interleave: bool = False

    _CALL_KEYS = frozenset({"id", "name", "input", "pieces"})

    def __post_init__(self):
        # a mistake in a test's script fails the test where it is written,
        # not as a mysterious dropped connection inside the fake
        for call in self.tool_calls or []:
            if not (isinstance(call, dict) and set(call) <= self._CALL_KEYS
                    and isinstance(call.get("name"), str)
                    and isinstance(call.get("id", ""), str)
                    and isinstance(call.get("input", {}), dict)
                    and isinstance(call.get("pieces", []), list)
                    and all(isinstance(p, str) for p in call.get("pieces", []))):
                raise ValueError("a tool call is {name: str, id?: str, input?: "
                                 "dict, pieces?: [str]}, not %r" % (call,))

    def pieces_for(self, default_text):
        if self.pieces is not None:
            return list(self.pieces)
        if self.text is None and self.tool_calls:
            return []
        return split_pieces(self.text if self.text is not None else default_text)

    def calls_for(self, new_id):
        """The tool calls with every default filled in: [{"id", "name",
        "input", "pieces"}]; new_id() gives an id to a call without one."""
        calls = []
        for call in self.tool_calls or []:
            tool_input = call.get("input")
            if tool_input is None:
                tool_input = {}
                if "pieces" in call:    # what the pieces say, when they parse
                    try:
                        tool_input = json.loads("".join(call["pieces"]))
                    except ValueError:
                        pass
            pieces = call.get("pieces")
            calls.append({"id": call.get("id") or new_id(), "name": call["name"],
                          "input": tool_input,
                          "pieces": list(pieces) if pieces is not None
                          else split_input(_compact(tool_input))})
        return calls

    def stop_reason_for(self):
        return self.tool_stop_reason if self.tool_calls else self.stop_reason

    def usage_for(self, prompt_words, pieces):
        return self.usage or (prompt_words, len(pieces))


def split_pieces(text):
    """Word-ish deltas that keep their spaces, so they join back to text."""
    return re.findall(r"\s*\S+\s*|\s+", text) if text else []


def split_input(text, parts=3):
    """A tool input's JSON text cut into `parts` near-equal pieces (fewer
    when it is shorter), as models stream it: the cuts fall anywhere,
    inside strings and numbers too."""
    if not text:
        return []
    size = -(-len(text) // min(parts, len(text)))
    return [text[i:i + size] for i in range(0, len(text), size)]


def tool_results(body):
    """The tool results a chat request carries back to the model, as
    [(id, text, is_error)] in request order.
    Bedrock: the toolResult blocks of the last user message; text is the
    result's content items ({"text"} as is, {"json"} as compact JSON)
    joined by spaces; is_error: status "error".
    OpenAI: the role "tool" messages that end the conversation; text is
    their content; is_error is always False (OpenAI has no such flag).
    [] when there are none (or body is not a chat request)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        return []
    if isinstance(messages[-1], dict) and messages[-1].get("role") == "tool":
        out = []
        for m in reversed(messages):
            if not (isinstance(m, dict) and m.get("role") == "tool"):
                break
            out.append((m.get("tool_call_id"), m.get("content"), False))
        return out[::-1]
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    content = users[-1].get("content") if users else None
    if not isinstance(content, list):
        return []
    out = []
    for block in content:
        result = block.get("toolResult") if isinstance(block, dict) else None
        if isinstance(result, dict):
            texts = []
            for item in result.get("content") or []:
                if isinstance(item, dict) and "text" in item:
                    texts.append(str(item["text"]))
                elif isinstance(item, dict) and "json" in item:
                    texts.append(_compact(item["json"]))
            out.append((result.get("toolUseId"), " ".join(texts),
                        result.get("status") == "error"))
    return out


def echo_text(said, results):
    """The default answer: "You said: <said>", or, when the request ends
    with tool results, "Tool results: <text>; <text>" (an error result's
    text prefixed "error: "), followed on a new line by "You said: <said>"
    if that turn also had text."""
    if not results:
        return "You said: " + said
    text = "Tool results: " + "; ".join(("error: " if is_error else "") + result
                                        for _, result, is_error in results)
    return text + ("\nYou said: " + said if said else "")


def numbered_pieces(count):
    """count short pieces, for the benchmark's fixed-size answers."""
    return ["w%d " % i for i in range(1, count + 1)]


class _ClientGone(Exception):
    """The client closed its connection while we still had things to send."""


class _Stopping(Exception):
    """The fake is being stopped: end whatever is in progress."""


# ---------------------------------------------------------------------------
# HTTP plumbing shared by the fakes
# ---------------------------------------------------------------------------

class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False          # stop() must not wait for hung streams
    request_queue_size = 128        # the benchmark opens many at once

    def __init__(self, fake, port, handler):
        self.fake = fake
        super().__init__(("127.0.0.1", port), handler)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, _Stopping)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive (and Expect: 100-continue, which the base
    class answers), chunked streaming, and a watch on the client while a
    stream pauses so a client that leaves is noticed at once."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.fake = self.server.fake
        self.fake._track(self.connection, True)

    def finish(self):
        self.fake._track(self.connection, False)
        super().finish()

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def dispatch(self):
        raise NotImplementedError

    # -- request -------------------------------------------------------
    @property
    def raw_target(self):
        """The request target's bytes as they came (http.server decoded
        them as Latin-1)."""
        return self.path.encode("latin-1")

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                body += self.rfile.read(size)
                self.rfile.readline()
                if size == 0:
                    return body
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    @staticmethod
    def parse_json(body):
        try:
            return json.loads(body) if body else None
        except ValueError:
            return None

    def record(self, parsed, model_id=None, signature_ok=True, stream=False):
        headers = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = headers[key] + ", " + value if key in headers else value
        self.fake._record({"method": self.command, "path": self.path,
                           "model_id": model_id, "headers": headers,
                           "body": parsed, "signature_ok": signature_ok,
                           "stream": stream})

    # -- response ------------------------------------------------------
    def send_json(self, status, obj, headers=()):
        data = _compact(obj).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def pause_until(self, deadline):
        """Wait until time.monotonic() reaches deadline (None: for ever),
        raising _ClientGone as soon as the client hangs up and _Stopping
        when the fake stops."""
        stopping = self.fake._stopping
        while True:
            step = 0.05
            if deadline is not None:
                step = min(step, deadline - time.monotonic())
                if step <= 0:
                    return
            readable = select.select([self.connection], [], [], step)[0]
            if stopping.is_set():
                raise _Stopping()
            if readable:
                try:
                    peeked = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    raise _ClientGone() from None
                if not peeked:
                    raise _ClientGone()
                stopping.wait(step)   # a pipelined request: not a hang-up

    def send_paced(self, out, reply, begin, steps, fault):
        """Send a stream's steps, (is_delta, make) pairs in wire order where
        make() gives the bytes: each delta waits for its turn (reply.delay
        apart, from begin); after reply.exception_after / corrupt_after
        deltas, fault(kind, make) ends the stream instead ("exception" or
        "corrupt"; make is the step that was due, None at the end), and
        after hang_after deltas the stream hangs.  True when every step
        went out."""
        sent, checked = 0, None
        for is_delta, make in list(steps) + [(False, None)]:
            if checked != sent:     # once per count, before what follows it
                checked = sent
                if sent == reply.exception_after:
                    fault("exception", make)
                    return False
                if sent == reply.corrupt_after:
                    fault("corrupt", make)
                    return False
                if sent == reply.hang_after:
                    out.hang()
            if make is None:
                return True
            if is_delta:
                out.wait_until(begin + (sent + 1) * reply.delay)
                sent += 1
            out.send(make())
        return True

    def run_stream(self, produce):
        """Run produce(), counting a client that leaves before the end."""
        try:
            produce()
        except _ClientGone:
            self.fake._note_disconnect()
            self.close_connection = True
        except _Stopping:
            self.close_connection = True


class _Stream:
    """One streamed response body.  Data is written in bursts: whatever was
    produced between two pauses goes out together, so several messages can
    share one write; with `split`, a burst is also cut at random points
    into a few writes a millisecond apart, so a message often arrives in
    pieces.  Clients must decode incrementally to cope with both."""

    def __init__(self, handler, status, content_type, headers=(), split=True,
                 seed=0):
        self.handler = handler
        self.split = split
        self.rng = random.Random(seed)
        # a bytearray: a long answer without pauses is one burst, and
        # appending to bytes would copy it all once per piece
        self.pending = bytearray()
        # nginx's proxy_pass speaks HTTP/1.0 unless told otherwise
        self.chunked = handler.request_version != "HTTP/1.0"
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Type", content_type)
        if self.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()

    def send(self, data):
        self.pending += data

    def flush(self):
        data, self.pending = bytes(self.pending), bytearray()
        if not data:
            return
        cuts = []
        if self.split and len(data) > 1:
            cuts = sorted(self.rng.sample(range(1, len(data)),
                                          min(len(data) - 1, self.rng.randint(0, 2))))
        for n, (a, b) in enumerate(zip([0] + cuts, cuts + [len(data)])):
            if n:
                time.sleep(0.001)
            self._write(data[a:b])

    def wait_until(self, deadline):
        """Pace the stream: flush, then wait, when there is time to wait."""
        if deadline > time.monotonic():
            self.flush()
            self.handler.pause_until(deadline)

    def hang(self):
        self.flush()
        self.handler.pause_until(None)

    def end(self):
        self.flush()
        if self.chunked:
            self._raw(b"0\r\n\r\n")

    def _write(self, data):
        self._raw(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)

    def _raw(self, data):
        try:
            self.handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            if self.handler.fake._stopping.is_set():
                raise _Stopping() from None
            raise _ClientGone() from None


class FakeServer:
    """What every fake shares: a threaded HTTP server on loopback, the queue
    of scripted replies, and the record of what clients sent."""

    handler = _Handler

    def __init__(self, port=0):
        self.default = Reply()
        self._queue = collections.deque()
        self._requests = []
        self._disconnects = 0
        self._tool_ids = 0
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._connections = set()
        self._server = _HTTPServer(self, port, self.handler)
        self._thread = None

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Returns promptly even with streams hanging: they are woken and
        their connections shut."""
        self._stopping.set()
        if self._thread:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        with self._lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- scripting -----------------------------------------------------
    def script(self, *replies):
        """Queue behaviours, used in order, one per accepted request; once
        they are used up, `self.default` applies."""
        with self._lock:
            self._queue.extend(replies)

    def fail_after(self, n, status=500, times=None, **fields):
        """A provider failing halfway: the next n requests get Reply(), then
        `times` requests answer HTTP `status` (Reply(status=...) with
        fields); times=None: every request after the n, until `default`
        is set back (fake.default = Reply()), e.g. to let a retry pass."""
        ok = [Reply() for _ in range(n)]
        with self._lock:
            self._queue.extend(ok)
            if times is None:
                self.default = Reply(status=status, **fields)
            else:
                self._queue.extend(Reply(status=status, **fields) for _ in range(times))

    def _next_reply(self):
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    # -- record --------------------------------------------------------
    @property
    def requests(self):
        """Every request received, oldest first: dicts with method, path,
        model_id, headers (lower-case names), body (parsed JSON or None),
        signature_ok and stream."""
        with self._lock:
            return list(self._requests)

    @property
    def disconnects(self):
        """How many clients went away before their answer ended."""
        with self._lock:
            return self._disconnects

    def wait_requests(self, n, timeout=5.0):
        """The requests once at least n have arrived; AssertionError if they
        do not within timeout seconds."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= n, timeout):
                raise AssertionError("%s: %d requests after %.1fs, wanted %d"
                                     % (type(self).__name__, len(self._requests),
                                        timeout, n))
            return list(self._requests)

    def tool_results(self, index=-1):
        """tool_results() of the body of requests[index] (default: the
        latest): the tool results a client sent back, [(id, text, is_error)]."""
        with self._lock:
            return tool_results(self._requests[index]["body"])

    def _new_tool_id(self, prefix):
        """A tool call id no earlier reply of this fake used: prefix + n."""
        with self._lock:
            self._tool_ids += 1
            return "%s%d" % (prefix, self._tool_ids)

    def _record(self, entry):
        with self._lock:
            self._requests.append(entry)
            self._lock.notify_all()

    def _note_disconnect(self):
        with self._lock:
            self._disconnects += 1

    def _track(self, conn, open_):
        with self._lock:
            (self._connections.add if open_ else self._connections.discard)(conn)

    def _sequence(self):
        """A number per request, seeding its stream's split points so that
        a failing run can be replayed."""
        with self._lock:
            return len(self._requests)


# ---------------------------------------------------------------------------
# Amazon Bedrock Runtime
# ---------------------------------------------------------------------------

_BEDROCK_ERRORS = {
    400: ("ValidationException", "Validation error in the request."),
    403: ("AccessDeniedException",
          "You don't have access to the model with the specified model ID."),
    404: ("ResourceNotFoundException", "The requested resource was not found."),
    408: ("ModelTimeoutException", "The model took too long to respond."),
    424: ("ModelErrorException", "The model returned an error."),
    429: ("ThrottlingException",
          "Too many requests, please wait before trying again."),
    500: ("InternalServerException",
          "The server encountered an internal error while processing the request."),
    503: ("ServiceUnavailableException", "Bedrock is unable to process your request."),
}

# Real Bedrock names the error type followed by the Coral namespace; a
# client must read up to the ':'.
_ERROR_NAMESPACE = {
    "auth": ":http://internal.amazon.com/coral/com.amazon.coral.service/",
    "service": ":http://internal.amazon.com/coral/com.amazon.bedrock/",
}

_CONVERSE_KEYS = {"messages", "system", "inferenceConfig", "toolConfig",
                  "guardrailConfig", "additionalModelRequestFields",
                  "additionalModelResponseFieldPaths", "promptVariables",
                  "requestMetadata", "performanceConfig"}
_INFERENCE_KEYS = {"maxTokens", "temperature", "topP", "stopSequences"}
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_block(block, role, where):
    """A Converse content block: text (not blank), or a tool use (assistant)
    or tool result (user)."""
    if not isinstance(block, dict) or len(block) != 1:
        return "%s must be an object with exactly one member." % where
    kind, value = next(iter(block.items()))
    if kind == "text":
        if not isinstance(value, str):
            return "%s.text must be a string." % where
        if not value.strip():
            return ("The text field in the ContentBlock object at %s is blank. "
                    "Add text to the text field, and try again." % where)
        return None
    if kind == "toolUse" and role == "assistant":
        if not (isinstance(value, dict)
                and set(value) == {"toolUseId", "name", "input"}
                and isinstance(value["toolUseId"], str)
                and isinstance(value["name"], str)
                and isinstance(value["input"], dict)):
            return "%s.toolUse needs toolUseId, name and an input object." % where
        return (_pattern_problem(value["toolUseId"], _TOOL_USE_ID,
                                 where + ".toolUse.toolUseId")
                or _pattern_problem(value["name"], _TOOL_NAME, where + ".toolUse.name"))
    if kind == "toolResult" and role == "user":
        if not (isinstance(value, dict)
                and set(value) <= {"toolUseId", "content", "status"}
                and isinstance(value.get("toolUseId"), str)
                and isinstance(value.get("content"), list)
                and value.get("status", "success") in ("success", "error")):
            return "%s.toolResult needs toolUseId and a content list." % where
        if value.get("status") == "error" and not value["content"]:
            return ("The content field at %s.toolResult cannot be empty when "
                    "status value is error." % where)
        for k, item in enumerate(value["content"]):
            at = "%s.toolResult.content.%d" % (where, k)
            if not (isinstance(item, dict) and len(item) == 1
                    and ("text" in item or "json" in item)):
                return "%s must be {\"text\": ...} or {\"json\": ...}." % at
            if "text" in item and not isinstance(item["text"], str):
                return "%s.text must be a string." % at
            if "json" in item and not isinstance(item["json"], dict):
                return ("The format of the value at %s.json is invalid. Provide "
                        "a json object for the field and try again." % at)
        return _pattern_problem(value["toolUseId"], _TOOL_USE_ID,
                                where + ".toolResult.toolUseId")
    return "%s: a %s message cannot hold a %s block." % (where, role, kind)


# Bedrock's constraints on tool names (ToolSpecification, ToolUseBlock)
# and tool use ids, as (pattern, the pattern its message shows, max length)
_TOOL_NAME = (re.compile(r"[a-zA-Z0-9_-]+"), "[a-zA-Z0-9_-]+", 64)
_TOOL_USE_ID = (re.compile(r"[a-zA-Z0-9_.:-]+"), "[a-zA-Z0-9_.:-]+", 64)


def _pattern_problem(value, rule, where):
    """Bedrock's message for a string breaking a length or pattern rule."""
    pattern, shown, longest = rule
    if len(value) > longest:
        return ("1 validation error detected: Value '%s' at '%s' failed to "
                "satisfy constraint: Member must have length less than or "
                "equal to %d" % (value, where, longest))
    if not pattern.fullmatch(value):
        return ("1 validation error detected: Value '%s' at '%s' failed to "
                "satisfy constraint: Member must satisfy regular expression "
                "pattern: %s" % (value, where, shown))
    return None


def _tool_config_problem(config):
    """Why Bedrock would refuse this toolConfig, or None."""
    if not (isinstance(config, dict) and set(config) <= {"tools", "toolChoice"}):
        return "toolConfig must be {\"tools\": [...], \"toolChoice\"?: {...}}."
    tools = config.get("tools")
    if not isinstance(tools, list) or not tools:
        return ("1 validation error detected: Value '%s' at 'toolConfig.tools' "
                "failed to satisfy constraint: Member must have length greater "
                "than or equal to 1" % _compact(tools))
    names = []
    for i, tool in enumerate(tools):
        where = "toolConfig.tools.%d.member.toolSpec" % (i + 1)
        spec = tool.get("toolSpec") if isinstance(tool, dict) and len(tool) == 1 else None
        if not (isinstance(spec, dict)
                and set(spec) <= {"name", "description", "inputSchema"}
                and isinstance(spec.get("name"), str)):
            return "%s must be {name, description?, inputSchema}." % where
        problem = _pattern_problem(spec["name"], _TOOL_NAME, where + ".name")
        if problem:
            return problem
        # optional, as in the API reference, but never empty
        description = spec.get("description", "x")
        if not isinstance(description, str) or not description:
            return ("1 validation error detected: Value '' at '%s.description' "
                    "failed to satisfy constraint: Member must have length "
                    "greater than or equal to 1" % where)
        schema = spec.get("inputSchema")
        if not (isinstance(schema, dict) and set(schema) == {"json"}
                and isinstance(schema["json"], dict)):
            return ("The value at %s.inputSchema is invalid: it must be "
                    "{\"json\": <a JSON Schema object>}." % where)
        if spec["name"] in names:
            return ("The tool name %s appears more than once in toolConfig.tools. "
                    "Tool names must be unique." % spec["name"])
        names.append(spec["name"])
    if "toolChoice" in config:
        choice = config["toolChoice"]
        kind = next(iter(choice), None) if isinstance(choice, dict) and len(choice) == 1 else None
        if kind in ("auto", "any") and choice[kind] == {}:
            return None
        if kind == "tool" and isinstance(choice["tool"], dict) \
                and set(choice["tool"]) == {"name"}:
            if choice["tool"]["name"] not in names:
                return ("toolConfig.toolChoice names the tool %s, which is not "
                        "in toolConfig.tools." % choice["tool"]["name"])
            return None
        return ("toolConfig.toolChoice must be one of {\"auto\":{}}, "
                "{\"any\":{}}, {\"tool\":{\"name\"}}.")
    return None


def _tool_use_problem(body):
    """Why Bedrock would refuse the toolUse / toolResult blocks of a
    conversation whose blocks are each well-formed, or None: they need a
    toolConfig, and every toolUse of an assistant turn needs a toolResult
    in the next (user) turn, which answers nothing else."""
    messages = body["messages"]

    def ids(m, kind):
        return [b[kind]["toolUseId"] for b in m["content"] if kind in b]

    if "toolConfig" not in body and any(
            ids(m, "toolUse") or ids(m, "toolResult") for m in messages):
        return ("The toolConfig field must be defined when using toolUse and "
                "toolResult content blocks.")
    for i, m in enumerate(messages):
        if m["role"] != "user":
            continue
        uses = ids(messages[i - 1], "toolUse") if i else []
        results = ids(m, "toolResult")
        missing = [u for u in uses if u not in results]
        if missing:
            return ("Expected toolResult blocks at messages.%d.content for the "
                    "following Ids: %s" % (i, ", ".join(missing)))
        if len(results) > len(uses) or any(r not in uses for r in results):
            return ("The number of toolResult blocks at messages.%d.content "
                    "exceeds the number of toolUse blocks of previous turn." % i)
    last = messages[-1]
    if last["role"] == "assistant" and ids(last, "toolUse"):
        return ("The model returned the following errors: messages.%d: `tool_use` "
                "ids were found without `tool_result` blocks immediately after: "
                "%s. Each `tool_use` block must have a corresponding "
                "`tool_result` block in the next message."
                % (len(messages) - 1, ", ".join(ids(last, "toolUse"))))
    return None


def converse_problem(body):
    """Why Bedrock would refuse this Converse body, or None."""
    if not isinstance(body, dict):
        return "Malformed input request, please reformat your input and try again."
    extra = sorted(set(body) - _CONVERSE_KEYS)
    if extra:
        return "extraneous key [%s] is not permitted" % extra[0]
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "The messages field is required and must not be empty."
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or set(m) != {"role", "content"}:
            return "messages.%d must have exactly role and content." % i
        want = "user" if i % 2 == 0 else "assistant"
        if m["role"] != want:
            if i == 0:
                return ("A conversation must start with a user message. Try "
                        "again with a conversation that starts with a user message.")
            return ("A conversation must alternate between user and assistant "
                    "roles. Make sure the conversation alternates between user "
                    "and assistant roles and try again.")
        if not isinstance(m["content"], list) or not m["content"]:
            return "messages.%d.content must be a non-empty list." % i
        for j, block in enumerate(m["content"]):
            problem = _check_block(block, m["role"], "messages.%d.content.%d" % (i, j))
            if problem:
                return problem
    system = body.get("system", [])
    if not isinstance(system, list):
        return "system must be a list."
    for i, block in enumerate(system):
        if not (isinstance(block, dict) and set(block) == {"text"}
                and isinstance(block["text"], str) and block["text"].strip()):
            return "system.%d must be {\"text\": <non-blank string>}." % i
    if "toolConfig" in body:
        problem = _tool_config_problem(body["toolConfig"])
        if problem:
            return problem
    return (_tool_use_problem(body)
            or _inference_problem(body.get("inferenceConfig", {})))


def _inference_problem(config):
    if not isinstance(config, dict):
        return "inferenceConfig must be an object."
    extra = sorted(set(config) - _INFERENCE_KEYS)
    if extra:
        return "inferenceConfig: extraneous key [%s] is not permitted" % extra[0]
    if "maxTokens" in config:
        v = config["maxTokens"]
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            return ("1 validation error detected: Value '%s' at "
                    "'inferenceConfig.maxTokens' failed to satisfy constraint: "
                    "Member must have value greater than or equal to 1" % v)
    for name in ("temperature", "topP"):
        if name in config and not (_is_number(config[name]) and 0 <= config[name] <= 1):
            return ("1 validation error detected: Value '%s' at "
                    "'inferenceConfig.%s' failed to satisfy constraint: Member "
                    "must be between 0 and 1" % (config[name], name))
    stops = config.get("stopSequences", [])
    if not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
        return "inferenceConfig.stopSequences must be a list of strings."
    return None


def _converse_texts(body):
    """(every prompt text, tool results included; the default answer, an
    echo of the last user message: echo_text)."""
    texts = [b["text"] for b in body.get("system", [])]
    last_user = ""
    for m in body["messages"]:
        said = [b["text"] for b in m["content"] if "text" in b]
        texts += said
        if m["role"] == "user":
            last_user = " ".join(said)
    results = tool_results(body)
    texts += [text for _, text, _ in results]
    return texts, echo_text(last_user, results)


class _BedrockHandler(_Handler):
    PATH = re.compile(r"/model/([^/?]+)/(converse|converse-stream|invoke)")

    def dispatch(self):
        started = time.monotonic()
        body = self.read_body()
        match = self.PATH.fullmatch(self.path.split("?")[0])
        parsed = self.parse_json(body)
        if self.command != "POST" or not match:
            self.record(parsed, signature_ok=False)
            return self.send_error_json(404, "UnknownOperationException",
                                        "Unknown operation", "service")
        streaming = match[2] == "converse-stream"
        try:
            self.fake.authorize(self.command, self.raw_target,
                                self.headers.items(), body)
            auth_error = None
        except AuthError as e:
            auth_error = e
        self.record(parsed, unquote(match[1]), auth_error is None, streaming)
        if auth_error:
            return self.send_error_json(403, auth_error.error_type,
                                        auth_error.message, "auth")
        if match[2] == "invoke":
            return self.invoke(unquote(match[1]), parsed)
        problem = converse_problem(parsed)
        if problem:
            return self.send_error_json(400, "ValidationException", problem, "service")
        reply = self.fake._next_reply()
        self.run_stream(lambda: self.answer(reply, parsed, streaming, started))

    def send_error_json(self, status, error_type, message, namespace):
        self.send_json(status, {"message": message}, [
            ("x-amzn-RequestId", str(uuid.uuid4())),
            ("x-amzn-ErrorType", error_type + _ERROR_NAMESPACE[namespace])])

    def answer(self, reply, body, streaming, started):
        begin = time.monotonic() + reply.first_delay
        self.pause_until(begin)
        if reply.status:
            error_type, message = _BEDROCK_ERRORS.get(reply.status,
                                                      _BEDROCK_ERRORS[500])
            return self.send_error_json(reply.status, reply.error_type or error_type,
                                        reply.message or message, "service")
        texts, echo = _converse_texts(body)
        pieces = reply.pieces_for(echo)
        calls = reply.calls_for(lambda: self.fake._new_tool_id("tooluse_"))
        usage_in, usage_out = reply.usage_for(
            sum(len(t.split()) for t in texts),
            pieces + [p for c in calls for p in c["pieces"]])
        usage = {"inputTokens": usage_in, "outputTokens": usage_out,
                 "totalTokens": usage_in + usage_out}
        if streaming:
            return self.stream(reply, pieces, calls, usage, begin, started)
        if reply.hang_after is not None:
            self.pause_until(None)
        self.pause_until(begin + reply.delay * (len(pieces) + sum(
            len(c["pieces"]) for c in calls)))
        content = [{"text": "".join(pieces)}] if pieces or not calls else []
        content += [{"toolUse": {"toolUseId": c["id"], "name": c["name"],
                                 "input": c["input"]}} for c in calls]
        self.send_json(200, {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": reply.stop_reason_for(), "usage": usage,
            "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)}},
            [("x-amzn-RequestId", str(uuid.uuid4()))])

    def stream(self, reply, pieces, calls, usage, begin, started):
        """messageStart; the text as block 0 (deltas, stop); each tool call
        as the next block (start with id and name, its input pieces as
        deltas, stop); messageStop; metadata."""
        out = _Stream(self, 200, "application/vnd.amazon.eventstream",
                      [("x-amzn-RequestId", str(uuid.uuid4()))],
                      seed=self.fake._sequence())
        out.send(event_message("messageStart", {"role": "assistant"}))
        steps = [(True, lambda p=p: self.delta(out, p)) for p in pieces]
        if pieces or not calls:
            steps.append((False, lambda: event_message(
                "contentBlockStop", {"contentBlockIndex": 0})))
        for index, call in enumerate(calls, 1 if pieces else 0):
            steps.append((False, lambda index=index, call=call: self.padded(
                out, "contentBlockStart", {
                    "contentBlockIndex": index,
                    "start": {"toolUse": {"toolUseId": call["id"],
                                          "name": call["name"]}}})))
            steps += [(True, lambda index=index, p=p: self.padded(
                out, "contentBlockDelta", {"contentBlockIndex": index,
                                           "delta": {"toolUse": {"input": p}}}))
                      for p in call["pieces"]]
            steps.append((False, lambda index=index: self.padded(
                out, "contentBlockStop", {"contentBlockIndex": index})))

        def fault(kind, make):
            if kind == "exception":
                out.send(exception_message(
                    reply.exception_type,
                    reply.message or "The model stream ended with an error."))
            else:
                frame = bytearray(make() if make else self.delta(out, "x"))
                frame[-1] ^= 0xFF
                out.send(bytes(frame))
            out.end()

        if not self.send_paced(out, reply, begin, steps, fault):
            return
        out.send(event_message("messageStop", {"stopReason": reply.stop_reason_for()}))
        out.send(event_message("metadata", {
            "usage": usage,
            "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)}}))
        out.end()

    def invoke(self, model_id, body):
        """InvokeModel: Titan Text Embeddings v2 only (the one model the
        worker invokes), scripted like the rest: status, first_delay."""
        if model_id != TITAN_EMBED_MODEL:
            return self.send_error_json(400, "ValidationException",
                                        "The provided model identifier is invalid.",
                                        "service")
        problem = titan_problem(body)
        if problem:
            return self.send_error_json(400, "ValidationException", problem, "service")
        reply = self.fake._next_reply()
        self.run_stream(lambda: self.answer_invoke(reply, body))

    def answer_invoke(self, reply, body):
        self.pause_until(time.monotonic() + reply.first_delay)
        if reply.status:
            error_type, message = _BEDROCK_ERRORS.get(reply.status,
                                                      _BEDROCK_ERRORS[500])
            return self.send_error_json(reply.status, reply.error_type or error_type,
                                        reply.message or message, "service")
        if reply.hang_after is not None:
            self.pause_until(None)
        vector = embedding(body["inputText"], body.get("dimensions", 1024))
        if body.get("normalize", True) is False:
            vector = [v * 7.5 for v in vector]      # raw vectors are not unit length
        tokens = len(body["inputText"].split())
        out = {"embedding": vector, "inputTextTokenCount": tokens}
        if "embeddingTypes" in body:
            out["embeddingsByType"] = {"float": vector}
        self.send_json(200, out, [("x-amzn-RequestId", str(uuid.uuid4())),
                                  ("X-Amzn-Bedrock-Input-Token-Count", str(tokens))])

    @classmethod
    def delta(cls, out, text):
        """A text delta with Bedrock's random-length padding field `p`."""
        return cls.padded(out, "contentBlockDelta", {
            "contentBlockIndex": 0, "delta": {"text": text}})

    @staticmethod
    def padded(out, event_type, payload):
        """An event with Bedrock's random-length padding field `p`."""
        return event_message(event_type, dict(
            payload, p=_PADDING[:out.rng.randint(1, len(_PADDING))]))


TITAN_EMBED_MODEL = "amazon.titan-embed-text-v2:0"
_TITAN_KEYS = {"inputText", "dimensions", "normalize", "embeddingTypes"}


def titan_problem(body):
    """Why Bedrock would refuse this Titan Text Embeddings v2 body, or None."""
    bad = "Malformed input request: %s, please reformat your input and try again."
    if not isinstance(body, dict):
        return "Malformed input request, please reformat your input and try again."
    extra = sorted(set(body) - _TITAN_KEYS)
    if extra:
        return bad % ("extraneous key [%s] is not permitted" % extra[0])
    text = body.get("inputText")
    if not isinstance(text, str):
        return bad % "#: required key [inputText] not found"
    if not text:
        return bad % "#/inputText: expected minLength: 1, actual: 0"
    if len(text) > 50000:
        return bad % ("#/inputText: expected maxLength: 50000, actual: %d" % len(text))
    dims = body.get("dimensions", 1024)
    if dims not in (256, 512, 1024) or isinstance(dims, bool):
        return bad % ("#/dimensions: %s is not a valid enum value" % dims)
    if not isinstance(body.get("normalize", True), bool):
        return bad % "#/normalize: expected type: Boolean"
    types = body.get("embeddingTypes", ["float"])
    if not (isinstance(types, list) and types and set(types) <= {"float", "binary"}):
        return bad % "#/embeddingTypes: expected a non-empty subset of [float, binary]"
    return None


class FakeBedrock(FakeServer):
    """Amazon Bedrock Runtime's Converse and ConverseStream, and InvokeModel
    of Titan Text Embeddings v2 (deterministic vectors: `embedding`), behind SigV4
    (or a Bedrock API key as a bearer token, when one is configured)."""

    handler = _BedrockHandler

    def __init__(self, access_key_id=DEFAULT_ACCESS_KEY_ID,
                 secret_access_key=DEFAULT_SECRET_ACCESS_KEY, session_token=None,
                 region="us-east-1", bearer_token=None, port=0):
        super().__init__(port)
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.session_token = session_token
        self.region = region
        self.bearer_token = bearer_token
        self.verifier = SigV4Verifier(access_key_id, secret_access_key, region,
                                      "bedrock", session_token)

    def authorize(self, method, target, headers, body):
        """Raises AuthError unless the request carries a valid signature or
        the configured API key."""
        auth = _header_getter(headers)("authorization") or ""
        if auth.startswith("Bearer "):
            if self.bearer_token is None or not hmac.compare_digest(
                    auth[7:].strip(), self.bearer_token):
                raise AuthError("UnrecognizedClientException", _BAD_TOKEN)
            return
        self.verifier.verify(method, target, headers, body)


# ---------------------------------------------------------------------------
# OpenAI-compatible chat completions
# ---------------------------------------------------------------------------

_OPENAI_ERRORS = {
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded",
          "Rate limit reached for requests. Please try again in 1s."),
    500: ("server_error", None,
          "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None,
          "The engine is currently overloaded, please try again later."),
}
_CHAT_KEYS = {"model", "messages", "stream", "stream_options", "temperature",
              "top_p", "max_tokens", "max_completion_tokens", "stop", "user", "seed",
              "tools", "tool_choice", "parallel_tool_calls"}
_FINISH = {"end_turn": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
_FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_EMBEDDING_KEYS = {"model", "input", "dimensions", "encoding_format", "user"}


def _openai_error(message, type_="invalid_request_error", code=None, param=None):
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def chat_problem(body):
    """(message, param): why an OpenAI-compatible server would refuse this
    chat body, or (None, None)."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request.", None
    extra = sorted(set(body) - _CHAT_KEYS)
    if extra:
        return "Unrecognized request argument supplied: %s" % extra[0], extra[0]
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter", "model"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "[] is too short - 'messages'", "messages"
    for i, m in enumerate(messages):
        problem = _chat_message_problem(m, i)
        if problem:
            return problem, "messages.%d" % i
    message, param = _tool_calls_problem(messages)
    if message:
        return message, param
    message, param = _chat_tools_problem(body)
    if message:
        return message, param
    if not isinstance(body.get("stream", False), bool):
        return "stream must be a boolean", "stream"
    if "stream_options" in body:
        if body.get("stream") is not True:
            return ("The 'stream_options' parameter is only allowed when "
                    "'stream' is enabled."), "stream_options"
        opts = body["stream_options"]
        if not (isinstance(opts, dict) and set(opts) <= {"include_usage"}
                and isinstance(opts.get("include_usage", False), bool)):
            return "stream_options must be {include_usage: bool}", "stream_options"
    t = body.get("temperature", 1)
    if not (_is_number(t) and 0 <= t <= 2):
        return "%s is greater than the maximum of 2 - 'temperature'" % t, "temperature"
    for name in ("max_tokens", "max_completion_tokens"):
        v = body.get(name, 1)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            return "%s must be a positive integer" % name, name
    return None, None


def _chat_message_problem(m, i):
    """Why messages[i] is malformed, or None: system and user messages are
    {role, content: string, name?}; an assistant message may instead hold
    tool_calls, its content then null or absent; a tool message is {role,
    tool_call_id, content: string}."""
    role = m.get("role") if isinstance(m, dict) else None
    if role == "tool":
        if not (set(m) == {"role", "tool_call_id", "content"}
                and isinstance(m["tool_call_id"], str)
                and isinstance(m["content"], str)):
            return ("messages[%d]: a tool message is {role: tool, tool_call_id: "
                    "string, content: string}" % i)
        return None
    if role == "assistant" and "tool_calls" in m:
        if not (set(m) <= {"role", "content", "name", "tool_calls"}
                and (m.get("content") is None or isinstance(m["content"], str))
                and isinstance(m["tool_calls"], list) and m["tool_calls"]):
            return ("messages[%d]: an assistant message with tool_calls is "
                    "{role, content: string|null, tool_calls: [...]}" % i)
        for j, call in enumerate(m["tool_calls"]):
            function = call.get("function") if isinstance(call, dict) else None
            if not (isinstance(function, dict)
                    and set(call) == {"id", "type", "function"}
                    and isinstance(call["id"], str) and call["type"] == "function"
                    and set(function) == {"name", "arguments"}
                    and isinstance(function["name"], str)
                    and isinstance(function["arguments"], str)):
                return ("messages[%d].tool_calls[%d] must be {id, type: function, "
                        "function: {name, arguments: string}}" % (i, j))
        return None
    if not (isinstance(m, dict) and set(m) <= {"role", "content", "name"}
            and role in ("system", "user", "assistant")
            and isinstance(m.get("content"), str)):
        return ("messages[%d] must be {role: system|user|assistant|tool, "
                "content: string}" % i)
    return None


def _tool_calls_problem(messages):
    """(message, param) if the tool messages do not answer the assistant's
    tool_calls as OpenAI requires (right after it, one per id, no other
    ids), or (None, None)."""
    known, waiting = None, []
    for i, m in enumerate(messages):
        if m["role"] == "tool":
            if known is None:
                return ("Invalid parameter: messages with role 'tool' must be a "
                        "response to a preceeding message with 'tool_calls'.",
                        "messages.[%d].role" % i)
            if m["tool_call_id"] not in known:
                return ("Invalid parameter: 'tool_call_id' of '%s' not found in "
                        "'tool_calls' of previous message." % m["tool_call_id"],
                        "messages.[%d].tool_call_id" % i)
            waiting = [w for w in waiting if w != m["tool_call_id"]]
            continue
        if waiting:
            break
        known = [c["id"] for c in m.get("tool_calls") or []] or None
        waiting = list(known or [])
    else:
        i = len(messages)
    if waiting:
        return ("An assistant message with 'tool_calls' must be followed by tool "
                "messages responding to each 'tool_call_id'. The following "
                "tool_call_ids did not have response messages: %s"
                % ", ".join(waiting), "messages.[%d].role" % min(i, len(messages) - 1))
    return None, None


def _chat_tools_problem(body):
    """(message, param) if tools, tool_choice or parallel_tool_calls are
    malformed, or (None, None).  tools: [{type: function, function: {name,
    description?, parameters?: object, strict?: bool}}]."""
    if "tools" not in body:
        for name in ("tool_choice", "parallel_tool_calls"):
            if name in body:
                return ("Invalid value for '%s': '%s' is only allowed when "
                        "'tools' are specified." % (name, name), name)
        return None, None
    tools = body["tools"]
    if not isinstance(tools, list):
        return "%s is not of type 'array' - 'tools'" % _compact(tools), "tools"
    if not tools:
        return "[] is too short - 'tools'", "tools"
    names = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not (isinstance(function, dict)
                and set(tool) == {"type", "function"} and tool["type"] == "function"
                and set(function) <= {"name", "description", "parameters", "strict"}
                and isinstance(function.get("name"), str)):
            return ("tools[%d] must be {type: function, function: {name, "
                    "description?, parameters?}}" % i), "tools[%d]" % i
        if not _FUNCTION_NAME.fullmatch(function["name"]):
            return ("Invalid 'tools[%d].function.name': string does not match "
                    "pattern. Expected a string that matches the pattern "
                    "'^[a-zA-Z0-9_-]{1,64}$'." % i), "tools[%d].function.name" % i
        if not isinstance(function.get("description", ""), str):
            return ("tools[%d].function.description must be a string" % i,
                    "tools[%d].function.description" % i)
        if not isinstance(function.get("parameters", {}), dict):
            return ("Invalid schema for function '%s': schema must be a JSON "
                    "Schema of 'type: \"object\"'." % function["name"],
                    "tools[%d].function.parameters" % i)
        names.append(function["name"])
    choice = body.get("tool_choice", "auto")
    if isinstance(choice, dict):
        function = choice.get("function")
        if not (set(choice) == {"type", "function"} and choice["type"] == "function"
                and isinstance(function, dict) and set(function) == {"name"}
                and function["name"] in names):
            return ("Invalid value for 'tool_choice': a named tool_choice is "
                    "{type: function, function: {name}} naming one of the "
                    "tools."), "tool_choice"
    elif choice not in ("none", "auto", "required"):
        return ("Invalid value for 'tool_choice': must be none, auto, required "
                "or a named function."), "tool_choice"
    if not isinstance(body.get("parallel_tool_calls", True), bool):
        return "parallel_tool_calls must be a boolean", "parallel_tool_calls"
    return None, None


def _chat_echo(body):
    """The default answer to a chat body: echo_text of the last user
    message, or of the tool messages that end the conversation."""
    messages = body["messages"]
    users = [m["content"] for m in messages if m["role"] == "user"]
    results = tool_results(body)
    if results:
        return echo_text("", results)
    return echo_text(users[-1] if users else "", [])


def embedding(text, dimensions):
    """A deterministic unit vector for text: equal texts, equal vectors."""
    values = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(b"%d:%s" % (counter, text.encode())).digest()
        values += [v / 2**31 for v in struct.unpack(">8i", digest)]
        counter += 1
    values = values[:dimensions]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


class _OpenAIHandler(_Handler):

    def dispatch(self):
        body = self.read_body()
        route = self.path.split("?")[0]
        auth = self.headers.get("Authorization")
        key_ok = auth is not None and hmac.compare_digest(
            auth.strip(), "Bearer " + self.fake.api_key)
        parsed = self.parse_json(body)
        fields = parsed if isinstance(parsed, dict) else {}
        self.record(parsed, fields.get("model"), key_ok, fields.get("stream") is True)
        if self.command != "POST" or route not in ("/v1/chat/completions",
                                                   "/v1/embeddings"):
            return self.send_json(404, _openai_error(
                "Invalid URL (%s %s)" % (self.command, route)))
        if auth is None:
            return self.send_json(401, _openai_error(
                "You didn't provide an API key. You need to provide your API "
                "key in an Authorization header using Bearer auth (i.e. "
                "Authorization: Bearer YOUR_KEY)."))
        if not key_ok:
            return self.send_json(401, _openai_error(
                "Incorrect API key provided.", code="invalid_api_key"))
        if route == "/v1/embeddings":
            return self.embeddings(parsed)
        message, param = chat_problem(parsed)
        if message:
            return self.send_json(400, _openai_error(message, param=param))
        reply = self.fake._next_reply()
        self.run_stream(lambda: self.answer(reply, parsed))

    def embeddings(self, body):
        inputs = body.get("input") if isinstance(body, dict) else None
        if isinstance(inputs, str):
            inputs = [inputs]
        dims = body.get("dimensions", 1024) if isinstance(body, dict) else 0
        extra = sorted(set(body) - _EMBEDDING_KEYS) if isinstance(body, dict) else []
        if extra:
            return self.send_json(400, _openai_error(
                "Unrecognized request argument supplied: %s" % extra[0], param=extra[0]))
        if not (isinstance(inputs, list) and inputs and len(inputs) <= 2048
                and all(isinstance(s, str) and s for s in inputs)
                and isinstance(body.get("model"), str)
                and isinstance(dims, int) and not isinstance(dims, bool) and dims > 0):
            return self.send_json(400, _openai_error(
                "embeddings need model, input (a non-empty string or list of "
                "them) and optional positive integer dimensions"))
        reply = self.fake._next_reply()
        self.run_stream(lambda: self.answer_embeddings(reply, body, inputs, dims))

    def answer_embeddings(self, reply, body, inputs, dims):
        """Scripted like chat: status (429 with Retry-After), first_delay."""
        self.pause_until(time.monotonic() + reply.first_delay)
        if reply.status:
            type_, code, message = _OPENAI_ERRORS.get(reply.status, _OPENAI_ERRORS[500])
            headers = [("Retry-After", "1")] if reply.status == 429 else []
            return self.send_json(reply.status, _openai_error(
                reply.message or message, reply.error_type or type_, code), headers)
        words = sum(len(s.split()) for s in inputs)
        self.send_json(200, {
            "object": "list", "model": body["model"],
            "data": [{"object": "embedding", "index": i,
                      "embedding": embedding(s, dims)} for i, s in enumerate(inputs)],
            "usage": {"prompt_tokens": words, "total_tokens": words}})

    def answer(self, reply, body):
        begin = time.monotonic() + reply.first_delay
        self.pause_until(begin)
        if reply.status:
            type_, code, message = _OPENAI_ERRORS.get(reply.status, _OPENAI_ERRORS[500])
            headers = [("Retry-After", "1")] if reply.status == 429 else []
            return self.send_json(reply.status, _openai_error(
                reply.message or message, reply.error_type or type_, code), headers)
        pieces = reply.pieces_for(_chat_echo(body))
        calls = reply.calls_for(lambda: self.fake._new_tool_id("call_"))
        prompt, completion = reply.usage_for(
            sum(len(m["content"].split()) for m in body["messages"]
                if isinstance(m.get("content"), str)),
            pieces + [p for c in calls for p in c["pieces"]])
        usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                 "total_tokens": prompt + completion}
        stop_reason = reply.stop_reason_for()
        finish = _FINISH.get(stop_reason, stop_reason)
        ident = "chatcmpl-" + uuid.uuid4().hex[:24]
        if body.get("stream"):
            include_usage = body.get("stream_options", {}).get("include_usage", False)
            return self.stream(reply, pieces, calls, usage if include_usage else None,
                               finish, ident, body["model"], begin)
        if reply.hang_after is not None:
            self.pause_until(None)
        self.pause_until(begin + reply.delay * (len(pieces) + sum(
            len(c["pieces"]) for c in calls)))
        message = {"role": "assistant", "content": "".join(pieces)}
        if calls:
            message["content"] = message["content"] or None
            message["tool_calls"] = [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["name"], "arguments": "".join(c["pieces"])}}
                for c in calls]
        self.send_json(200, {
            "id": ident, "object": "chat.completion", "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": finish, "message": message}],
            "usage": usage})

    def stream(self, reply, pieces, calls, usage, finish, ident, model, begin):
        """The role chunk; a chunk per text piece; per tool call i, an
        opening chunk (index i, id, type, name, empty arguments) and a
        chunk per arguments piece (index i only), call after call or, with
        reply.interleave, round-robin; the finish_reason chunk; the usage
        chunk (when asked for); [DONE]."""
        out = _Stream(self, 200, "text/event-stream",
                      [("Cache-Control", "no-cache")], seed=self.fake._sequence())
        created = int(time.time())

        def chunk(delta, finish_reason=None, choices=True):
            obj = {"id": ident, "object": "chat.completion.chunk",
                   "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta,
                                "finish_reason": finish_reason}] if choices else []}
            if usage is not None:   # as OpenAI does: null until the last chunk
                obj["usage"] = None if choices else usage
            return b"data: " + _compact(obj).encode() + b"\n\n"

        out.send(chunk({"role": "assistant"}))
        steps = [(True, lambda p=p: chunk({"content": p})) for p in pieces]
        per_call = []
        for i, call in enumerate(calls):
            per_call.append([(False, lambda i=i, call=call: chunk({"tool_calls": [{
                "index": i, "id": call["id"], "type": "function",
                "function": {"name": call["name"], "arguments": ""}}]}))]
                + [(True, lambda i=i, p=p: chunk({"tool_calls": [{
                    "index": i, "function": {"arguments": p}}]}))
                   for p in call["pieces"]])
        if reply.interleave:
            longest = max((len(c) for c in per_call), default=0)
            steps += [c[k] for k in range(longest) for c in per_call if k < len(c)]
        else:
            steps += [step for c in per_call for step in c]

        def fault(kind, make):
            if kind == "exception":
                out.send(b"data: " + _compact({"error": {
                    "message": reply.message or "The server had an error while "
                    "processing your request.", "type": "server_error"}}).encode()
                    + b"\n\n")
                self.close_connection = True
            else:
                out.send(b'data: {"id":"' + ident.encode() + b'","choices":[{"delta\n\n')
            out.end()

        if not self.send_paced(out, reply, begin, steps, fault):
            return
        out.send(chunk({}, finish))
        if usage is not None:
            out.send(chunk(None, choices=False))
        out.send(b"data: [DONE]\n\n")
        out.end()


class FakeOpenAI(FakeServer):
    """An OpenAI-compatible server: /v1/chat/completions (streamed or not)
    and /v1/embeddings (deterministic vectors: `embedding`; scripted replies
    apply to it too), behind a bearer API key."""

    handler = _OpenAIHandler

    def __init__(self, api_key=DEFAULT_API_KEY, port=0):
        super().__init__(port)
        self.api_key = api_key


# ---------------------------------------------------------------------------
# Amazon Cognito: hosted UI (authorize, logout) and OAuth 2.0 endpoints
# ---------------------------------------------------------------------------

def pkce_challenge(verifier):
    """RFC 7636 S256: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _b64u_random(n):
    return base64.urlsafe_b64encode(os.urandom(n)).rstrip(b"=").decode()


class _CognitoHandler(_Handler):
    """What a Cognito user pool domain answers, as strictly as Cognito:
    form-encoded token requests, the app client's id (and secret, in HTTP
    Basic, for a confidential client), PKCE S256, single-use codes bound to
    their redirect_uri."""

    def dispatch(self):
        fake = self.fake
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if self.command == "GET" and url.path in fake.jwks_paths:
            self.record(None)
            return self.send_json(200, {"keys": fake.jwks()})
        if self.command == "GET" and url.path == "/oauth2/authorize":
            self.record(query)
            return self.authorize(query)
        if self.command == "GET" and url.path == "/logout":
            self.record(query)
            return self.logout(query)
        if self.command == "POST" and url.path in ("/oauth2/token", "/oauth2/revoke"):
            raw = self.read_body()
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"),
                                                 keep_blank_values=True).items()}
            self.record(form)
            if fake.down:
                return self.send_json(503, {"error": "server_error"})
            if ctype != "application/x-www-form-urlencoded":
                return self.oauth_error(400, "invalid_request")
            if not self.client_ok(form):
                return self.oauth_error(401 if fake.client_secret else 400, "invalid_client")
            if url.path == "/oauth2/revoke":
                return self.revoke(form)
            return self.token(form)
        self.record(None)
        self.send_json(404, {"error": "not_found"})

    def oauth_error(self, status, code):
        self.send_json(status, {"error": code},
                       headers=[("Cache-Control", "no-store")])

    def redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def client_ok(self, form):
        fake = self.fake
        auth = self.headers.get("Authorization") or ""
        if fake.client_secret is not None:
            want = "Basic " + base64.b64encode(
                ("%s:%s" % (fake.client_id, fake.client_secret)).encode()).decode()
            if not hmac.compare_digest(auth, want):
                return False
        return form.get("client_id", fake.client_id) == fake.client_id

    # -- hosted UI -----------------------------------------------------
    def authorize(self, q):
        fake = self.fake
        redirect_uri = q.get("redirect_uri", "")
        # like Cognito: a bad client or redirect_uri is an error page, not
        # a redirect to a place nobody vouched for
        if q.get("client_id") != fake.client_id:
            return self.send_json(400, {"error": "invalid_client"})
        if not redirect_uri.startswith(("http://", "https://")) or (
                fake.redirect_uris and redirect_uri not in fake.redirect_uris):
            return self.send_json(400, {"error": "redirect_mismatch"})

        def back(**params):
            if "state" in q:
                params["state"] = q["state"]
            parts = urlsplit(redirect_uri)
            query = parts.query + ("&" if parts.query else "") + urlencode(params)
            self.redirect(urlunsplit(parts._replace(query=query)))

        if q.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if q.get("code_challenge_method") != "S256" or not re.fullmatch(
                r"[A-Za-z0-9_-]{43}", q.get("code_challenge", "")):
            return back(error="invalid_request",
                        error_description="PKCE with code_challenge_method=S256 is required")
        code = _b64u_random(24)
        with fake._lock:
            fake.codes[code] = {
                "redirect_uri": redirect_uri, "challenge": q["code_challenge"],
                "user": q.get("username") or fake.user, "scope": q.get("scope", "openid"),
                "expires": time.monotonic() + 300,
            }
        back(code=code)

    def logout(self, q):
        if q.get("client_id") != self.fake.client_id or not q.get("logout_uri"):
            return self.send_json(400, {"error": "invalid_request"})
        self.redirect(q["logout_uri"])

    # -- OAuth 2.0 endpoints -------------------------------------------
    def token(self, form):
        fake = self.fake
        grant = form.get("grant_type")
        if grant == "authorization_code":
            with fake._lock:
                entry = fake.codes.pop(form.get("code", ""), None)    # single use
            verifier = form.get("code_verifier", "")
            if (entry is None or entry["expires"] < time.monotonic()
                    or entry["redirect_uri"] != form.get("redirect_uri")
                    or not re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", verifier)
                    or not hmac.compare_digest(pkce_challenge(verifier), entry["challenge"])):
                return self.oauth_error(400, "invalid_grant")
            refresh = fake.new_refresh_token(entry["user"], entry["scope"])
            return self.send_json(200, fake.tokens(entry["user"], entry["scope"], refresh),
                                  headers=[("Cache-Control", "no-store")])
        if grant == "refresh_token":
            with fake._lock:
                session = fake.refresh_tokens.get(form.get("refresh_token", ""))
            if session is None or session["revoked"]:
                return self.oauth_error(400, "invalid_grant")
            refresh = None
            if fake.rotate:
                with fake._lock:
                    session["revoked"] = True
                refresh = fake.new_refresh_token(session["user"], session["scope"])
            return self.send_json(200, fake.tokens(session["user"], session["scope"], refresh),
                                  headers=[("Cache-Control", "no-store")])
        return self.oauth_error(400, "unsupported_grant_type")

    def revoke(self, form):
        token = form.get("token")
        if not token:
            return self.oauth_error(400, "invalid_request")
        with self.fake._lock:
            session = self.fake.refresh_tokens.get(token)
            if session is not None:
                session["revoked"] = True
            self.fake.revoked.append(token)
        # RFC 7009: an unknown token is no error
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


class FakeCognito(FakeServer):
    """A Cognito user pool's domain and issuer on one loopback port:
    /oauth2/authorize, /oauth2/token, /oauth2/revoke, /logout, and the
    JWKS at <issuer>/.well-known/jwks.json.  Access tokens are Cognito's
    shape (token_use access, client_id, cognito:groups), signed with an
    RSA key of `mangoo-worker keygen` by `mangoo-worker token`.

    State to look at or change: codes, refresh_tokens (token -> {"user",
    "scope", "revoked"}), revoked (tokens revoked, in order), down (True:
    the OAuth endpoints answer 503), rotate (True: a refresh grant also
    rotates the refresh token), users' groups in groups[user]."""

    handler = _CognitoHandler

    def __init__(self, client_id, client_secret=None, issuer=None, pool="us-east-1_FAKE",
                 user="cognito-user", groups=(), email=None, redirect_uris=(),
                 key_dir=None, access_ttl=3600, rotate=False, port=0):
        super().__init__(port)
        self.client_id = client_id
        self.client_secret = client_secret
        self.issuer = issuer or "%s/%s" % (self.url, pool)
        self.jwks_paths = {urlsplit(self.issuer).path + "/.well-known/jwks.json",
                           "/.well-known/jwks.json"}
        self.user = user
        self.groups = {user: list(groups)}
        self.email = email
        self.redirect_uris = set(redirect_uris)
        self.access_ttl = access_ttl
        self.rotate = rotate
        self.down = False
        self.codes = {}
        self.refresh_tokens = {}
        self.revoked = []
        self._own_keys = key_dir is None
        self.key_dir = key_dir or os.path.join(tempfile.mkdtemp(prefix="fake-cognito-"), "keys")
        if not os.path.exists(os.path.join(self.key_dir, "jwks.json")):
            subprocess.run([WORKER_BIN, "keygen", "--dir", self.key_dir], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def jwks_url(self):
        return self.issuer + "/.well-known/jwks.json"

    def jwks(self):
        with open(os.path.join(self.key_dir, "jwks.json")) as f:
            return json.load(f)["keys"]

    def stop(self):
        super().stop()
        if self._own_keys:
            shutil.rmtree(os.path.dirname(self.key_dir), ignore_errors=True)

    def new_refresh_token(self, user, scope):
        # Cognito's are opaque JWE-looking strings of some 1.7 KB
        token = ".".join(["eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ",
                          _b64u_random(256), _b64u_random(12), _b64u_random(900),
                          _b64u_random(16)])
        with self._lock:
            self.refresh_tokens[token] = {"user": user, "scope": scope, "revoked": False}
        return token

    def sign(self, user, token_use, claims):
        args = [WORKER_BIN, "token", "--key-dir", self.key_dir, "--sub", self.sub(user),
                "--username", user, "--issuer", self.issuer, "--client-id", self.client_id,
                "--token-use", token_use, "--ttl", str(self.access_ttl),
                "--claims", json.dumps(claims)]
        for g in self.groups.get(user, []):
            args += ["--group", g]
        return subprocess.run(args, check=True, stdout=subprocess.PIPE,
                              text=True).stdout.strip()

    @staticmethod
    def sub(user):
        """A stable Cognito-like subject (a UUID) for a user name."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "fake-cognito:" + user))

    def tokens(self, user, scope, refresh):
        now = int(time.time())
        access = self.sign(user, "access", {"scope": scope, "auth_time": now,
                                            "jti": str(uuid.uuid4())})
        ident = self.sign(user, "id", {"aud": self.client_id, "client_id": None,
                                       "cognito:username": user, "auth_time": now,
                                       "email": self.email or user + "@example.com",
                                       "email_verified": True})
        out = {"id_token": ident, "access_token": access, "expires_in": self.access_ttl,
               "token_type": "Bearer"}
        if refresh is not None:
            out["refresh_token"] = refresh
        return out

    def authorize(self, redirect_uri, verifier, state="st", scope="openid email profile",
                  username=None, method="S256"):
        """Play the browser at the hosted UI: the Location it redirects to."""
        q = {"response_type": "code", "client_id": self.client_id,
             "redirect_uri": redirect_uri, "code_challenge": pkce_challenge(verifier),
             "code_challenge_method": method, "state": state, "scope": scope}
        if username:
            q["username"] = username
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/oauth2/authorize?" + urlencode(q))
            resp = conn.getresponse()
            resp.read()
            return resp.status, resp.getheader("Location")
        finally:
            conn.close()


# ---------------------------------------------------------------------------
# A plain SSE server: the benchmark's yardstick for nginx proxy_pass
# ---------------------------------------------------------------------------

class _SSEHandler(_Handler):

    def dispatch(self):
        self.record(self.parse_json(self.read_body()))
        reply = self.fake._next_reply()
        self.run_stream(lambda: self.answer(reply))

    def answer(self, reply):
        begin = time.monotonic() + reply.first_delay
        self.pause_until(begin)
        out = _Stream(self, 200, "text/event-stream",
                      [("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no")],
                      split=False)
        pieces = reply.pieces_for("Hello from the SSE fake.")
        for i, piece in enumerate(pieces):
            out.wait_until(begin + (i + 1) * reply.delay)
            out.send(b"event: message\ndata: "
                     + _compact({"content": piece}).encode() + b"\n\n")
            out.flush()
        out.send(b"event: done\ndata: {}\n\n")
        out.end()


class FakeSSE(FakeServer):
    """GET or POST any path: a text/event-stream of `message` events, one
    per piece, then `done`.  Each event is written as it is produced."""

    handler = _SSEHandler


# ---------------------------------------------------------------------------
# selftest: the encoder, decoder and verifier against the conformance data
# ---------------------------------------------------------------------------

def vectors_dir():
    return os.environ.get("MANGOO_VECTORS") or os.path.join(TOP, "..", "shared",
                                                            "vectors")


def _read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def _vector_headers(decoded):
    out = []
    for h in decoded["headers"]:
        value = h["value"]
        if h["type"] in (6, 7, 9):
            value = base64.b64decode(value)
            value = value.decode() if h["type"] == 7 else value
        out.append((h["name"], h["type"], value))
    return out


def selftest_eventstream(root):
    """Returns ({check: (passed, run)}, failure messages)."""
    failures = []
    counts = {"encoded": [0, 0], "decoded": [0, 0], "rejected": [0, 0]}

    def check(kind, ok, why):
        counts[kind][1] += 1
        counts[kind][0] += ok
        if not ok:
            failures.append("eventstream %s: %s" % (kind, why))

    for name in sorted(os.listdir(os.path.join(root, "decoded", "positive"))):
        decoded = json.loads(_read(os.path.join(root, "decoded", "positive", name)))
        encoded = _read(os.path.join(root, "encoded", "positive", name), "rb")
        headers = _vector_headers(decoded)
        payload = base64.b64decode(decoded["payload"])
        check("encoded", encode_message(headers, payload) == encoded,
              "%s: bytes differ" % name)
        try:
            got = EventStreamDecoder().feed(encoded)
        except EventStreamError as e:
            got = str(e)
        check("decoded", isinstance(got, list) and len(got) == 1
              and got[0].headers == headers and got[0].payload == payload,
              "%s: got %r" % (name, got))
    for name in sorted(os.listdir(os.path.join(root, "encoded", "negative"))):
        want = _read(os.path.join(root, "decoded", "negative", name)).strip()
        try:
            got = "accepted: %r" % EventStreamDecoder().feed(
                _read(os.path.join(root, "encoded", "negative", name), "rb"))
        except EventStreamError as e:
            got = str(e)
        check("rejected", got == want, "%s: want %r, got %r" % (name, want, got))
    return counts, failures


def _parse_signed_request(text):
    """(method, target bytes, [(name, value)], body) from a vector file;
    folded header lines continue the previous value."""
    head, _, body = text.partition(b"\n\n")
    lines = head.split(b"\n")
    method, _, rest = lines[0].partition(b" ")
    target = rest.rsplit(b" HTTP/", 1)[0]
    headers = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            name, value = headers.pop()
            headers.append((name, value + "\n" + line.decode()))
        else:
            name, _, value = line.decode().partition(":")
            headers.append((name, value))
    return method.decode(), target, headers, body


def selftest_sigv4(root):
    """Returns (cases run, failure messages, notes)."""
    failures, notes, runs = [], [], 0
    for case in sorted(os.listdir(root)):
        folder = os.path.join(root, case)
        ctx = json.loads(_read(os.path.join(folder, "context.json")))
        creds = ctx["credentials"]
        now = datetime.datetime.strptime(ctx["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        verifier = SigV4Verifier(creds["access_key_id"], creds["secret_access_key"],
                                 ctx["region"], ctx["service"], creds.get("token"),
                                 ctx["normalize"])
        method, target, headers, body = _parse_signed_request(
            _read(os.path.join(folder, "header-signed-request.txt"), "rb"))
        want = tuple(_read(os.path.join(folder, "header-%s.txt" % part))
                     for part in ("canonical-request", "string-to-sign", "signature"))
        runs += 1
        refusal = None
        try:
            got = verifier.verify(method, target, headers, body, now)
        except AuthError as e:
            got, refusal = e.strings, e
        if got != want:
            failures.append("sigv4 %s: %s" % (
                case, refusal.message if refusal and not got else
                "computed strings differ:\n%r\n%r" % (got, want)))
        elif refusal and not ctx.get("omit_session_token"):
            failures.append("sigv4 %s: refused: %s" % (case, refusal.message))
        elif ctx.get("omit_session_token"):
            if refusal is None:
                failures.append("sigv4 %s: accepted a session token left "
                                "out of the signature" % case)
            else:
                notes.append("%s: strings and signature match; refused as "
                             "intended (%s)" % (case, refusal.message))
    return runs, failures, notes


def selftest():
    root = vectors_dir()
    if not os.path.isdir(root):
        print("selftest: conformance vectors not found at %s "
              "(set MANGOO_VECTORS)" % root)
        return 1
    es_counts, es_failures = selftest_eventstream(os.path.join(root, "eventstream"))
    sv_runs, sv_failures, notes = selftest_sigv4(os.path.join(root, "sigv4"))
    for line in es_failures + sv_failures:
        print("FAIL", line)
    print("eventstream: %d/%d positive vectors encoded byte-exact, %d/%d "
          "decoded, %d/%d negative vectors rejected with their error"
          % tuple(n for kind in ("encoded", "decoded", "rejected")
                  for n in es_counts[kind]))
    print("sigv4: %d/%d header-signing cases matched (canonical request, "
          "string to sign, signature, verdict)" % (sv_runs - len(sv_failures), sv_runs))
    for note in notes:
        print("sigv4:   " + note)
    print("sigv4: the %d query-signing twins (presigned URLs) do not apply: "
          "Bedrock clients sign headers, and the fake accepts only that" % sv_runs)
    ok = not (es_failures or sv_failures)
    print("selftest: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def _serve(fake, more=None):
    """Run until SIGTERM or SIGINT."""
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    fake.start()
    print("%s listening on %s" % (type(fake).__name__, fake.url), flush=True)
    if more:
        print(more, flush=True)
    done.wait()
    fake.stop()
    return 0


def _default_reply(args):
    return Reply(delay=args.delay_ms / 1000.0,
                 first_delay=args.first_delay_ms / 1000.0,
                 pieces=numbered_pieces(args.pieces) if args.pieces is not None else None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)

    def server(name, help_):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--port", type=int, default=0)
        p.add_argument("--delay-ms", type=float, default=0.0,
                       help="before each piece")
        p.add_argument("--first-delay-ms", type=float, default=0.0,
                       help="before the first byte")
        p.add_argument("--pieces", type=int, default=None,
                       help="answer with this many pieces (default: an echo)")
        return p

    p = server("bedrock", "fake Bedrock Runtime (Converse, ConverseStream)")
    p.add_argument("--access-key", default=DEFAULT_ACCESS_KEY_ID)
    p.add_argument("--secret-key", default=DEFAULT_SECRET_ACCESS_KEY)
    p.add_argument("--session-token")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--bearer-token", help="also accept this Bedrock API key")
    p = server("openai", "fake OpenAI-compatible server")
    p.add_argument("--api-key", default=DEFAULT_API_KEY)
    p = server("sse", "plain SSE server, the yardstick for nginx proxy_pass")
    p.set_defaults(pieces=20)
    p = sub.add_parser("cognito", help="fake Cognito hosted UI, OAuth endpoints and JWKS")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", help="a confidential client: HTTP Basic required")
    p.add_argument("--issuer", help="default: http://127.0.0.1:PORT/<pool>")
    p.add_argument("--pool", default="us-east-1_FAKE")
    p.add_argument("--user", default="cognito-user", help="who signs in")
    p.add_argument("--group", action="append", default=[], help="the user's groups")
    p.add_argument("--email")
    p.add_argument("--redirect-uri", action="append", default=[],
                   help="allowed redirect URIs (default: any http(s) URI)")
    p.add_argument("--key-dir", help="signing key folder (default: a fresh key)")
    p.add_argument("--access-ttl", type=int, default=3600)
    p.add_argument("--rotate", action="store_true", help="rotate refresh tokens")
    sub.add_parser("selftest", help="check the encoder and verifier against "
                                    "the conformance vectors")
    args = parser.parse_args(argv)

    if args.mode == "selftest":
        return selftest()
    if args.mode == "bedrock":
        fake = FakeBedrock(args.access_key, args.secret_key, args.session_token,
                           args.region, args.bearer_token, port=args.port)
    elif args.mode == "openai":
        fake = FakeOpenAI(args.api_key, port=args.port)
    elif args.mode == "cognito":
        fake = FakeCognito(args.client_id, args.client_secret, args.issuer, args.pool,
                           args.user, args.group, args.email, args.redirect_uri,
                           args.key_dir, args.access_ttl, args.rotate, port=args.port)
        return _serve(fake, "issuer %s jwks %s" % (fake.issuer, fake.jwks_url))
    else:
        fake = FakeSSE(port=args.port)
    fake.default = _default_reply(args)
    return _serve(fake)


if __name__ == "__main__":
    sys.exit(main())
