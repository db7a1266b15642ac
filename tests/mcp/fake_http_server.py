#!/usr/bin/env python3
"""A fake MCP server over Streamable HTTP for the client's tests
(check_worker_mcp).

    fake_http_server.py [--port N]

Listens on 127.0.0.1 (port 0: any free one) and prints "PORT <n>" on its
first line of stdout; exits when its stdin ends (unless it is a terminal),
so it never outlives the test that started it.  The path chooses how it behaves, so one server
serves every case:

  /json        answers as application/json, session ids on
  /sse         answers as text/event-stream: a priming event, a comment, a
               ping request and notifications/tools/list_changed before the
               response, CRLF line ends, the response split over writes
  /json400     as /json, but an unknown session gets 400 "No valid session ID
               provided" rather than 404 (as servers made from the SDK's
               examples answer)
  /always404   as /json, but every request after notifications/initialized
               gets 404, even in a new session
  /nosession   application/json, no Mcp-Session-Id given
  /v0326       initialize answers protocolVersion 2025-03-26
  /v1105       initialize answers 2024-11-05 (which the client refuses)
  /error500    every POST: 500 with a short text body
  /garbage     a request's answer is "not json" as application/json
  /wrongid     the answer has another id
  /noresult    the answer has neither result nor error
  /html        the answer is text/html
  /accepted    a request gets 202 and no body
  /listen      as /json, and a GET opens the server's own stream: a priming
               event (an id, retry 300 ms), then what /control/notify,
               /control/ping and /control/drop put on it, each event with an
               id; a GET with Last-Event-ID first gets the events after it
  /resume      as /json, but tools/call is answered by an event stream that
               ends after its priming event (id, retry 200 ms); the response
               comes on a GET with that Last-Event-ID; a GET without one: 405
  /noresume    as /resume, but every GET gets 405

Tools: echo {text}, add {a, b}, sleep {ms} (the answer comes after ms; a
dropped connection ends the wait), huge {bytes} (a text that long).

Control (GET): /control/log (the messages received, as JSON lines of
{path, method, id, session, version, accept, ctype, params}; a GET is logged
with method "GET" and its last_event_id, our answer to the server's request
with method "response"), /control/expire (forget every session: their next
request gets 404), /control/reset (the log emptied), /control/notify
(notifications/tools/list_changed on /listen's streams), /control/add_tool
(a tool "extra" added, then notify), /control/ping (a ping request
"srv-ping-<n>" on them), /control/drop (the streams ended), /control/streams
({"open": n}, the /listen streams open).  Violations of the transport's rules by the client (a missing
Accept type, a missing session id or protocol version header) are answered
400 and logged with "violation".
"""
import json
import os
import queue
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
SESSIONS = {}           # id -> version
LOG = []
STREAMS = []            # the open /listen streams' queues
EVENTS = []             # (id, message) sent on /listen, for Last-Event-ID
PENDING = {}            # /resume: the priming event's id -> the response
COUNTER = [0]


def log(entry):
    with LOCK:
        LOG.append(entry)


TOOLS = [
    {"name": "echo", "inputSchema": {"type": "object"}},
    {"name": "add", "inputSchema": {"type": "object"}},
    {"name": "sleep", "inputSchema": {"type": "object"}},
    {"name": "huge", "inputSchema": {"type": "object"}},
]


def next_number():
    with LOCK:
        COUNTER[0] += 1
        return COUNTER[0]


def broadcast(msg):
    """msg on every open /listen stream (None ends them); kept for replay."""
    with LOCK:
        if msg is not None:
            EVENTS.append((str(len(EVENTS) + 1), msg))
            item = EVENTS[-1]
        else:
            item = None
        for q in STREAMS:
            q.put(item)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=b"", ctype="application/json", headers=None):
        self.send_response(status)
        if body or status != 202:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self):
        if self.path == "/control/log":
            with LOCK:
                body = "".join(json.dumps(e) + "\n" for e in LOG).encode()
            self.reply(200, body, "application/x-ndjson")
        elif self.path == "/control/expire":
            with LOCK:
                SESSIONS.clear()
            self.reply(200, b"{}")
        elif self.path == "/control/reset":
            with LOCK:
                LOG.clear()
            self.reply(200, b"{}")
        elif self.path in ("/control/notify", "/control/add_tool"):
            if self.path == "/control/add_tool":
                with LOCK:
                    TOOLS.append({"name": "extra", "inputSchema": {"type": "object"}})
            broadcast({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
            self.reply(200, b"{}")
        elif self.path == "/control/ping":
            broadcast({"jsonrpc": "2.0", "id": "srv-ping-%d" % next_number(), "method": "ping"})
            self.reply(200, b"{}")
        elif self.path == "/control/drop":
            broadcast(None)
            self.reply(200, b"{}")
        elif self.path == "/control/streams":
            with LOCK:
                body = json.dumps({"open": len(STREAMS)}).encode()
            self.reply(200, body)
        else:
            self.server_stream()

    def stream_start(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, text):
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def server_stream(self):
        """GET: the server's own stream, where the path offers one."""
        path = self.path
        sid = self.headers.get("Mcp-Session-Id")
        version = self.headers.get("MCP-Protocol-Version")
        last = self.headers.get("Last-Event-ID")
        entry = {"path": path, "method": "GET", "session": sid, "version": version,
                 "accept": self.headers.get("Accept", ""), "last_event_id": last}
        log(entry)
        if path not in ("/listen", "/resume") or (path == "/resume" and last is None):
            self.reply(405, b"", "text/plain")
            return
        if "text/event-stream" not in entry["accept"]:
            entry["violation"] = "Accept"
            self.reply(400, b'{"error":"Accept must list text/event-stream"}')
            return
        with LOCK:
            known = SESSIONS.get(sid)
        if known is None or version != known:
            entry["violation"] = "session %s version %s" % (sid, version)
            self.reply(404 if known is None else 400, b'{"error":"session"}')
            return
        self.close_connection = True
        if path == "/resume":
            with LOCK:
                msg = PENDING.pop(last, None)
            if msg is None:
                entry["violation"] = "no pending response after %s" % last
                self.reply(404, b'{"error":"unknown event id"}')
                return
            self.stream_start()
            self.chunk("id: %s-done\ndata: %s\n\n" % (last, json.dumps(msg)))
            self.wfile.write(b"0\r\n\r\n")
            return
        q = queue.Queue()
        with LOCK:
            missed = [e for e in EVENTS if last is not None and int(e[0]) > int(last)]
            STREAMS.append(q)
        try:
            self.stream_start()
            self.chunk("id: %d\nretry: 300\ndata:\n\n" % len(EVENTS))
            for item in missed:
                self.chunk("id: %s\ndata: %s\n\n" % (item[0], json.dumps(item[1])))
            while True:
                try:
                    item = q.get(timeout=1)
                except queue.Empty:
                    self.chunk(": keepalive\n\n")
                    continue
                if item is None:
                    break
                self.chunk("id: %s\ndata: %s\n\n" % (item[0], json.dumps(item[1])))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass                                    # the client went away
        finally:
            with LOCK:
                STREAMS.remove(q)

    def do_DELETE(self):
        sid = self.headers.get("Mcp-Session-Id")
        log({"path": self.path, "method": "DELETE", "session": sid})
        with LOCK:
            SESSIONS.pop(sid, None)
        self.reply(200, b"")

    def do_POST(self):
        path = self.path
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            msg = json.loads(raw)
        except ValueError:
            self.reply(400, b'{"error":"not json"}')
            return
        method = msg.get("method")
        rid = msg.get("id")
        sid = self.headers.get("Mcp-Session-Id")
        version = self.headers.get("MCP-Protocol-Version")
        accept = self.headers.get("Accept", "")
        entry = {"path": path, "method": method, "id": rid, "session": sid,
                 "version": version, "accept": accept,
                 "ctype": self.headers.get("Content-Type"), "params": msg.get("params"),
                 "auth": self.headers.get("Authorization")}
        log(entry)

        if path == "/error500":
            self.reply(500, b"boom: the server fell over", "text/plain")
            return
        if "application/json" not in accept or "text/event-stream" not in accept:
            entry["violation"] = "Accept"
            self.reply(400, b'{"error":"Accept must list both types"}')
            return
        sessions_on = path != "/nosession"
        if method == "initialize":
            version_out = {"/v0326": "2025-03-26", "/v1105": "2024-11-05"}.get(
                path, msg["params"]["protocolVersion"])
            headers = {}
            if sessions_on:
                new = uuid.uuid4().hex
                with LOCK:
                    SESSIONS[new] = version_out
                headers["Mcp-Session-Id"] = new
            self.respond(path, rid, {"protocolVersion": version_out,
                                     "capabilities": {"tools": {"listChanged": True}},
                                     "serverInfo": {"name": "fake-http", "version": "0.1"}},
                         headers)
            return
        if sessions_on:
            if sid is None:
                entry["violation"] = "no session id"
                self.reply(400, b'{"error":"Mcp-Session-Id required"}')
                return
            with LOCK:
                known = SESSIONS.get(sid)
            if path == "/always404" and method != "notifications/initialized":
                known = None
            if known is None:
                if path == "/json400":      # as the SDK's example servers answer
                    self.reply(400, json.dumps({"jsonrpc": "2.0", "id": rid, "error": {
                        "code": -32000, "message": "Bad Request: No valid session ID provided"}}
                    ).encode())
                else:
                    self.reply(404, b'{"error":"session not found"}')
                return
            if version != known:
                entry["violation"] = "MCP-Protocol-Version %s, negotiated %s" % (version, known)
                self.reply(400, b'{"error":"bad protocol version"}')
                return
        if method is None and rid is not None:      # our answer to the server's request
            entry["method"] = "response"
            entry["result"] = msg.get("result")
            entry["error"] = msg.get("error")
            self.reply(202)
            return
        if rid is None:                             # a notification
            self.reply(202)
            return
        if method == "tools/list":
            self.respond(path, rid, {"tools": TOOLS})
        elif method == "tools/call":
            p = msg.get("params") or {}
            name, args = p.get("name"), p.get("arguments") or {}
            if name == "echo":
                self.respond(path, rid, {"content": [{"type": "text",
                                                      "text": str(args.get("text", ""))}]})
            elif name == "add":
                self.respond(path, rid, {"content": [{"type": "text", "text": str(
                    args.get("a", 0) + args.get("b", 0))}]})
            elif name == "sleep":
                time.sleep(args.get("ms", 100) / 1000.0)
                try:
                    self.respond(path, rid, {"content": [{"type": "text", "text": "slept %d" %
                                                          args.get("ms", 100)}]})
                except OSError:
                    pass                            # the client gave up
            elif name == "huge":
                self.respond(path, rid, {"content": [{"type": "text",
                                                      "text": "x" * int(args.get("bytes", 1))}]})
            else:
                self.respond(path, rid, None, error={"code": -32602,
                                                     "message": "Unknown tool: %s" % name})
        elif method == "ping":
            self.respond(path, rid, {})
        else:
            self.respond(path, rid, None, error={"code": -32601, "message": "Method not found"})

    def respond(self, path, rid, res, headers=None, error=None):
        msg = {"jsonrpc": "2.0", "id": rid}
        if error is not None:
            msg["error"] = error
        else:
            msg["result"] = res
        if path == "/garbage":
            self.reply(200, b"not json", "application/json", headers)
            return
        if path == "/wrongid" and msg.get("result", {}).get("protocolVersion") is None:
            msg["id"] = (rid or 0) + 1000
        if path == "/noresult" and msg.get("result", {}).get("protocolVersion") is None:
            msg.pop("result", None)
            msg.pop("error", None)
        if path == "/html":
            self.reply(200, b"<html>hello</html>", "text/html", headers)
            return
        if path == "/accepted" and msg.get("result", {}).get("protocolVersion") is None:
            self.reply(202, b"", "application/json", headers)
            return
        if path in ("/resume", "/noresume") and "content" in (msg.get("result") or {}):
            # a tools/call answer: the stream ends after its priming event
            event = "r%d" % next_number()
            with LOCK:
                PENDING[event] = msg
            self.close_connection = True
            self.stream_start()
            self.chunk("id: %s\nretry: 200\ndata:\n\n" % event)
            self.wfile.write(b"0\r\n\r\n")
            return
        if path != "/sse":
            self.reply(200, json.dumps(msg).encode(), "application/json", headers)
            return
        # an event stream, written in pieces
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        parts = [
            "id: 0\r\ndata:\r\n\r\n",                      # a priming event, no data
            ": keepalive\r\n\r\n",
            "event: message\r\ndata: " + json.dumps(
                {"jsonrpc": "2.0", "id": "srv-1", "method": "ping"}) + "\r\n\r\n",
            "data: " + json.dumps(
                {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}) + "\r\n\r\n",
        ]
        body = json.dumps(msg)
        half = len(body) // 2
        parts.append("id: 7\r\ndata: " + body[:half])
        parts.append(body[half:] + "\r\n\r\n")
        for part in parts:
            data = part.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass                # clients that give up (timeouts, cancels) are expected


def watch_stdin():
    """Exit when stdin ends: the test that started us is gone."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    os._exit(0)


def main():
    port = 0
    if len(sys.argv) == 3 and sys.argv[1] == "--port":
        port = int(sys.argv[2])
    server = Server(("127.0.0.1", port), Handler)
    if not sys.stdin.isatty():
        threading.Thread(target=watch_stdin, daemon=True).start()
    print("PORT %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
