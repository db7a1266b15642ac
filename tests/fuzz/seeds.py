#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora under tests/fuzz/corpus/<harness>/:
small inputs shaped like the real ones, made here with the project's own
tools and fakes (event-stream frames from tests/e2e/fakes.py, PDFs like
tests/e2e/test_knowledge.py's, tokens from `mangoo-worker
token` with the fuzzing key set in tests/fuzz/jwt/keys) and the
conformance vectors in ../shared/vectors when they are there.  Run from
the top of the tree after a build: python3 tests/fuzz/seeds.py.  Files
already in a corpus (the regression inputs) are left alone."""
import json
import os
import struct
import subprocess
import sys
import zlib

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "e2e"))
import fakes  # noqa: E402

CORPUS = os.path.join(TOP, "tests", "fuzz", "corpus")
VECTORS = os.path.join(os.path.dirname(TOP), "shared", "vectors")
RID = b"0123456789abcdef0123456789abcdef"


def put(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def vector_files(sub):
    d = os.path.join(VECTORS, sub)
    if not os.path.isdir(d):
        return []
    return [(n, open(os.path.join(d, n), "rb").read()) for n in sorted(os.listdir(d))]


# -- jwt, jwks ---------------------------------------------------------------
def token(*args):
    out = subprocess.run([os.path.join(TOP, "build", "mangoo-worker"), "token", "--key-dir",
                          os.path.join(TOP, "tests", "fuzz", "jwt", "keys"), *args],
                         check=True, capture_output=True)
    return out.stdout.strip()


def jwt():
    iat = ["--iat", "1799999000", "--exp", "1800000900"]
    put("jwt", "valid", b"\0" + token("--sub", "alice", *iat))
    put("jwt", "admin", b"\0" + token("--sub", "root", "--group", "admin", *iat))
    put("jwt", "expired", b"\0" + token("--sub", "bob", "--iat", "1700000000",
                                          "--exp", "1700000900"))
    put("jwt", "not-yet", b"\0" + token("--sub", "carol", *iat, "--nbf", "1800001000"))
    put("jwt", "claims", b"\0" + token("--sub", "dave", *iat, "--claims",
                                         '{"aud":["x","mangoo-web"],"email":"d@example.org"}'))
    for n, data in vector_files("jws"):
        if n.endswith(".jws"):
            put("jwt", "rfc7515-a2", b"\0" + data.strip())
    kid = open(os.path.join(TOP, "tests", "fuzz", "jwt", "keys", "current")).read().strip()
    head = json.dumps({"alg": "RS256", "kid": kid, "typ": "JWT"}).encode()
    for name, claims in [
        ("signed-valid", {"sub": "eve", "iss": "mangoo-local", "client_id": "mangoo-web",
                          "token_use": "access", "iat": 1799999000, "exp": 1800000900,
                          "cognito:groups": ["admin", "users"]}),
        ("signed-aud-list", {"sub": "eve", "iss": "mangoo-local", "aud": ["a", "mangoo-web"],
                             "token_use": "access", "exp": 1800000900.5, "nbf": 1799999999}),
        ("signed-id-token", {"sub": "eve", "iss": "mangoo-local", "aud": "mangoo-web",
                             "token_use": "id", "exp": 1800000900}),
    ]:
        put("jwt", name, b"\1" + head + b"\0" + json.dumps(claims).encode())
    put("jwt", "signed-crit", b"\1" + json.dumps({"alg": "RS256", "kid": kid, "crit": ["b64"],
                                                   "b64": False}).encode() + b"\0{}")

    put("jwks", "local", open(os.path.join(TOP, "tests", "fuzz", "jwt", "keys",
                                           "jwks.json"), "rb").read())
    for n, data in vector_files("jws"):
        if n.endswith(".jwks.json"):
            put("jwks", "rfc7515-a2", data)
    local = json.load(open(os.path.join(TOP, "tests", "fuzz", "jwt", "keys", "jwks.json")))
    k = local["keys"][0]
    put("jwks", "mixed", json.dumps({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": k["n"], "e": k["e"]},
        {"kty": "RSA", "kid": "ops", "key_ops": ["verify"], "alg": "RS256", "n": k["n"],
         "e": k["e"]},
        dict(k, kid="second")]}))


# -- routes, cookie ----------------------------------------------------------
def routes():
    for i, line in enumerate([
            "GET /api/v1/bots", "POST /api/v1/bots/abc", "PATCH /api/v1/chats/4f1c",
            "DELETE /api/v1/knowledge-bases/kb1/documents/doc2",
            "POST /api/v1/knowledge-bases/kb1/documents/doc2/retry",
            "GET /api/v1/admin/mcp-servers/x/refresh", "PUT /api/v1/users/me",
            "GET /api/v1/bots/", "GET //api/v1/bots", "GET /api/v1/agents/categories",
            "POST /api/v1/auth/login", "GET /"]):
        put("routes", "r%02d" % i, line)


def cookie():
    for i, h in enumerate([
            "mangoo_refresh=abc.def-ghi", "a=1; mangoo_refresh=\"q-uoted\"; b=2",
            "  mangoo_refresh =  x ;mangoo_refresh=y", "other=1;novalue;=;mangoo_refresh=",
            "127.0.0.1:8080", "LOCALHOST.", "[::1]:443", "example.org"]):
        put("cookie", "c%02d" % i, h)


# -- protocol ----------------------------------------------------------------
def packed(*frames):
    out = bytes([len(frames)])
    for f in frames:
        out += struct.pack(">I", len(f)) + f
    return out


def protocol():
    put("protocol", "req", packed(b"REQ", RID, b"bots.get", b'{"id":"x","query":"limit=5"}',
                                  b'{"sub":"alice"}', b""))
    put("protocol", "req-body", packed(b"REQ", RID, b"bots.create", b"{}", b"{}",
                                       b'{"name":"Helper"}'))
    put("protocol", "cancel-credit", packed(b"CANCEL", RID) + packed(b"CREDIT", b"64"))
    put("protocol", "res", packed(b"RES", RID, b"200", b"application/json",
                                  b'{"ETag":"\\"1\\""}', b'{"items":[]}'))
    put("protocol", "stream", packed(b"HEAD", RID, b"200", b"text/event-stream", b"")
        + packed(b"DATA", RID, b"event: token\ndata: {}\n\n") + packed(b"END", RID))
    put("protocol", "err", packed(b"ERR", RID, b"503", b"db_unavailable", b"try again"))


# -- eventstream, openai_sse, mcp_sse -----------------------------------------
def bedrock_answer(tool=False, exception=False):
    m = fakes.event_message
    out = m("messageStart", {"role": "assistant"})
    out += m("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Bon"}, "p": "xyz"})
    out += m("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "jour"}})
    out += m("contentBlockStop", {"contentBlockIndex": 0})
    if tool:
        out += m("contentBlockStart", {"contentBlockIndex": 1, "start": {
            "toolUse": {"toolUseId": "tooluse_1", "name": "calculator"}}})
        out += m("contentBlockDelta", {"contentBlockIndex": 1,
                                       "delta": {"toolUse": {"input": "{\"expression\":"}}})
        out += m("contentBlockDelta", {"contentBlockIndex": 1,
                                       "delta": {"toolUse": {"input": "\"1+1\"}"}}})
        out += m("contentBlockStop", {"contentBlockIndex": 1})
    if exception:
        return out + fakes.exception_message("modelStreamErrorException", "boom")
    out += m("messageStop", {"stopReason": "tool_use" if tool else "end_turn"})
    out += m("metadata", {"usage": {"inputTokens": 9, "outputTokens": 2, "totalTokens": 11},
                          "metrics": {"latencyMs": 5}})
    return out


def eventstream():
    put("eventstream", "answer-whole", b"\0" + bedrock_answer())
    put("eventstream", "answer-bytes", b"\1" + bedrock_answer())
    put("eventstream", "answer-tool", b"\x07" + bedrock_answer(tool=True))
    put("eventstream", "answer-exception", b"\x20" + bedrock_answer(exception=True))
    put("eventstream", "all-types", b"\x05" + fakes.encode_message(
        [("t", 0, None), ("f", 1, None), ("b", 2, -3), ("s", 3, 300), ("i", 4, -70000),
         ("l", 5, 1 << 40), ("y", 6, b"\0\1\2"), ("str", 7, "x"), ("ts", 8, 1700000000000),
         ("u", 9, bytes(range(16)))], b"{}"))
    for sign in ("positive", "negative"):
        for n, data in vector_files("eventstream/encoded/" + sign):
            put("eventstream", "vector-%s-%s" % (sign, n), b"\x03" + data)


def openai_sse():
    def chunk(delta, finish=None):
        return "data: " + json.dumps({"choices": [{"index": 0, "delta": delta,
                                                   "finish_reason": finish}]}) + "\n\n"
    text = (": a comment line\n" + chunk({"role": "assistant"})
            + chunk({"content": "Hel"}).replace("\n", "\r\n") + chunk({"content": "lo \"w\u00e9\"\n"})
            + chunk({}, "length")
            + 'data: {"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":3}}\n\n'
            + "data: [DONE]\n\n")
    put("openai_sse", "answer-whole", b"\0" + text.encode())
    put("openai_sse", "answer-pieces", b"\x05" + text.encode())
    tools = (chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                    "function": {"name": "calculator", "arguments": ""}}]})
             + chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"expression\""}}]})
             + chunk({"tool_calls": [{"index": 0, "function": {"arguments": ":\"1+1\"}"}}]})
             + chunk({}, "tool_calls") + "data: [DONE]\n")
    put("openai_sse", "tools", b"\x11" + tools.encode())
    put("openai_sse", "error", b"\0" + b'data: {"error":{"message":"rate limited"}}\n\n')
    put("openai_sse", "cut", b"\x02" + chunk({"content": "partial"}).encode() + b"data: {\"cho")


def mcp_sse():
    put("mcp_sse", "response", b"\0event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,"
        b"\"result\":{\"tools\":[]}}\n\n")
    put("mcp_sse", "bom-crlf", b"\x03\xef\xbb\xbf: keepalive\r\nretry: 1500\r\nid: ev-7\r\n"
        b"data: line one\r\ndata: line two\r\n\r\ndata\r\n\r\n")
    put("mcp_sse", "cr-only", b"\x01event: note\rdata: {\"method\":\"notifications/tools/"
        b"list_changed\"}\r\revent: x\rretry: 99999999\rid\r")


# -- json_validate, multipart ------------------------------------------------
def json_validate():
    bodies = [
        (0, '{"name":"Helper","instructions":"Answer briefly.","temperature":0.2,'
            '"max_tokens":512,"rag_enabled":true,'
            '"knowledge_base_id":"4f1c2b7e-8a9d-4c3b-9e2f-1a2b3c4d5e6f"}'),
        (0, '{"name":"  ","description":null,"model_id":"bedrock:anthropic.claude"}'),
        (2, '{"temperature":1.0000001,"max_tokens":4096.0,"knowledge_base_id":null}'),
        (2, '{"name":"\\u00e9t\\u00e9 \\ud83d\\ude00","unknown":1}'),
        (4, '{"title":"My chat"}'),
        (6, '{"title":""}'),
        (0, '[1,2]'),
        (0, '{"name":"a","name":"b"}'),
    ]
    for i, (sel, b) in enumerate(bodies):
        put("json_validate", "body%02d" % i, bytes([sel]) + b.encode())
    for i, q in enumerate(["limit=20&cursor=", "q=hello+world%21&limit=100",
                           "cursor=MTcwMDAwMDAwMDAwMDAwMHw0ZjFjMmI3ZS04YTlkLTRjM2ItOWUyZi0xYTJiM2M0ZDVlNmY",
                           "limit=0&limit=5&q=%zz", "q=%00"]):
        put("json_validate", "query%02d" % i, b"\1" + q.encode())


def multipart():
    ct = "multipart/form-data; boundary=mgBoundary7MA4YWxk"
    body = (b"--mgBoundary7MA4YWxk\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n"
            b"hello\r\n--mgBoundary7MA4YWxk\r\nContent-Disposition: form-data; name=\"file\"; "
            b"filename=\"notes.md\"\r\nContent-Type: text/markdown\r\n\r\n# Title\n\nBody.\r\n"
            b"--mgBoundary7MA4YWxk--\r\n")
    put("multipart", "two-parts", ct.encode() + b"\0" + body)
    put("multipart", "quoted", b'multipart/form-data; charset=utf-8; boundary="a b:c"\0'
        b"preamble\r\n--a b:c\r\ncontent-disposition: form-data; name=file; filename*=UTF-8''r%C3%A9sum%C3%A9.txt\r\n\r\n"
        b"text\r\n--a b:c--")
    put("multipart", "default-ct", b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
        b"filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--XyZ--\r\n")


# -- extract -----------------------------------------------------------------
def make_pdf(pages, flate=False, encrypt=False):
    """Like tests/e2e/test_knowledge.py's: one Helvetica line a page; flate
    compresses the page contents, encrypt adds a security handler whose
    password check nobody passes."""
    objs = [None, None, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        stream = ("BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text).encode("latin-1")
        if flate:
            stream = zlib.compress(stream)
        objs.append(b"<< /Length %d%s >>\nstream\n%s\nendstream"
                    % (len(stream), b" /Filter /FlateDecode" if flate else b"", stream))
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                    b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % len(objs))
        kids.append(len(objs))
    objs[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objs[1] = (b"<< /Type /Pages /Kids [%s] /Count %d >>"
               % (b" ".join(b"%d 0 R" % k for k in kids), len(kids)))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R" % (len(objs) + 1)
    if encrypt:
        out += (b" /Encrypt << /Filter /Standard /V 2 /R 3 /Length 128 /P -4 /O <" + b"11" * 32
                + b"> /U <" + b"22" * 32 + b"> >> /ID [<" + b"ab" * 16 + b"> <" + b"ab" * 16 + b">]")
    out += b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def extract():
    put("extract_pdf", "two-pages", make_pdf(["Hello from page one.", "Second page text."]))
    put("extract_pdf", "heading", make_pdf(["INTRODUCTION", "Paragraph (x) y."]))
    put("extract_pdf", "flate", make_pdf(["Compressed contents.", "Page two."], flate=True))
    put("extract_pdf", "encrypted", make_pdf(["Secret."], encrypt=True))
    put("extract_html", "page", "<!doctype html><html><head><title>T</title><style>p{}</style>"
        "<script>var x=1;</script></head><body><h1>Title</h1><p>One <b>two</b> three.</p>"
        "<table><tr><td>a</td><th>b</th></tr></table><ul><li>x</li><li>y</li></ul>"
        "<h7>no</h7><pre>  kept\n  lines</pre></body></html>")
    put("extract_html", "latin1", b"\x01<html><meta charset=iso-8859-1><p>caf\xe9 &amp; cr\xe8me"
        b"&#x1F600;<h2>Sub</h2><div>x<br>y</div>")
    put("extract_html", "broken", "\x02<p><h3>unclosed <a href='x'>link<p>next <!-- c --> &bogus;")
    put("extract_text", "plain", b"\0First paragraph\nstill first.\r\n\r\nSecond one.\f\tend\n")
    put("extract_text", "markdown", b"\1\xef\xbb\xbf# Title\n\nText *em*.\n\nSub\n---\n\n"
        b"```c\nint x;\n```\n\n   ## Indented ##\n\n***\n\n> quote\n- item\n\n    code\n")
    put("extract_text", "bad-utf8", b"\1#\xff\xfe heading\n\nok \xc3\x28 \xed\xa0\x80\n")


if __name__ == "__main__":
    jwt()
    routes()
    cookie()
    protocol()
    eventstream()
    openai_sse()
    mcp_sse()
    json_validate()
    multipart()
    extract()
