#!/usr/bin/env python3
"""A fake MCP server on stdio for the client's tests (check_worker_mcp).

Newline-delimited JSON-RPC 2.0 on stdin/stdout, one message a line; a
line on stderr at start (the client logs it).

    fake_stdio_server.py [--protocol VERSION] [--mode BEHAVIOUR] [--pages N]

--protocol  the protocolVersion initialize answers (default: the client's)
--mode      every tools/call behaves like the tool of that name (below)
--pages     pages of tools/list (default 2)

Tools (tools/call name, or --mode):
  echo {text}          text back
  add {a, b}           their sum, as text
  image                an image item, a resource link and a text
  structured           structuredContent only
  fail                 isError true
  sleep {ms}           answers after ms (other calls go on meanwhile)
  list_changed         sends notifications/tools/list_changed, then answers
  ping_me              pings the client, answers with what came back
  malformed            writes a line that is not JSON
  no_result            a response with neither result nor error
  bad_jsonrpc          a response with "jsonrpc": "1.0"
  wrong_id             a response to another id (the caller times out)
  null_id_error        an error with a null id
  huge {bytes}         a text result of that many bytes (default 2 MiB)
  hang                 never answers
  exit                 exits with status 3 without answering
  cancels              the notifications/cancelled received so far, as JSON
  starts               how many times this script was started (a counter file
                       named by the environment's FAKE_MCP_COUNTER), and the
                       environment's FAKE_MCP_ENV
"""
import json
import os
import sys
import threading
import time

OUT_LOCK = threading.Lock()
PENDING = {}            # our requests to the client: id -> Event, reply
CANCELS = []


def send(msg):
    line = json.dumps(msg, separators=(",", ":"))
    with OUT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def send_raw(text):
    with OUT_LOCK:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def result(rid, res):
    send({"jsonrpc": "2.0", "id": rid, "result": res})


def text(rid, s, is_error=False):
    res = {"content": [{"type": "text", "text": s}]}
    if is_error:
        res["isError"] = True
    result(rid, res)


TOOLS = [
    {"name": "echo", "description": "Echoes text.",
     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}},
                     "required": ["text"]}},
    {"name": "add", "description": "Adds two numbers.",
     "inputSchema": {"type": "object", "properties": {"a": {"type": "number"},
                                                     "b": {"type": "number"}},
                     "required": ["a", "b"]}},
    {"name": "image", "inputSchema": {"type": "object"}},
    {"name": "structured", "inputSchema": {"type": "object"},
     "outputSchema": {"type": "object"}},
    {"name": "fail", "inputSchema": {"type": "object"}},
    {"name": "sleep", "inputSchema": {"type": "object"}},
    # the faults, listed so that agents can be given them
    {"name": "malformed", "inputSchema": {"type": "object"}},
    {"name": "huge", "inputSchema": {"type": "object",
                                     "properties": {"bytes": {"type": "integer"}}}},
    {"name": "hang", "inputSchema": {"type": "object"}},
    {"name": "exit", "inputSchema": {"type": "object"}},
    {"name": "cancels", "inputSchema": {"type": "object"}},
    {"name": "list_changed", "inputSchema": {"type": "object"}},
]


def call_tool(args, rid, name, arguments):
    mode = args["mode"] or name
    if mode == "echo":
        text(rid, str(arguments.get("text", "")))
    elif mode == "add":
        text(rid, str(arguments.get("a", 0) + arguments.get("b", 0)))
    elif mode == "image":
        result(rid, {"content": [
            {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
            {"type": "resource_link", "uri": "file:///tmp/x.txt", "name": "x"},
            {"type": "text", "text": "done"}]})
    elif mode == "structured":
        result(rid, {"content": [], "structuredContent": {"temperature": 21.5, "unit": "C"}})
    elif mode == "fail":
        text(rid, "it went wrong", is_error=True)
    elif mode == "sleep":
        time.sleep(arguments.get("ms", 100) / 1000.0)
        text(rid, "slept %d" % arguments.get("ms", 100))
    elif mode == "list_changed":
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        text(rid, "changed")
    elif mode == "ping_me":
        ev = threading.Event()
        pid = "srv-%s" % rid
        PENDING[pid] = [ev, None]
        send({"jsonrpc": "2.0", "id": pid, "method": "ping"})
        ev.wait(5)
        text(rid, "ping answered: %s" % json.dumps(PENDING.pop(pid)[1], sort_keys=True))
    elif mode == "malformed":
        send_raw("this is {not json")
    elif mode == "no_result":
        send({"jsonrpc": "2.0", "id": rid})
    elif mode == "bad_jsonrpc":
        send({"jsonrpc": "1.0", "id": rid, "result": {}})
    elif mode == "wrong_id":
        result(rid + 100000 if isinstance(rid, int) else "x", {"content": []})
    elif mode == "null_id_error":
        send({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}})
    elif mode == "huge":
        text(rid, "x" * int(arguments.get("bytes", 2 * 1024 * 1024)))
    elif mode == "hang":
        pass
    elif mode == "exit":
        sys.stdout.flush()
        os._exit(3)
    elif mode == "cancels":
        text(rid, json.dumps(CANCELS))
    elif mode == "starts":
        text(rid, "%s %s" % (args["starts"], os.environ.get("FAKE_MCP_ENV", "")))
    else:
        send({"jsonrpc": "2.0", "id": rid,
              "error": {"code": -32602, "message": "Unknown tool: %s" % name}})


def count_start():
    path = os.environ.get("FAKE_MCP_COUNTER")
    if not path:
        return 0
    try:
        with open(path) as f:
            n = int(f.read().strip() or "0")
    except (OSError, ValueError):
        n = 0
    with open(path, "w") as f:
        f.write(str(n + 1))
    return n + 1


def main():
    args = {"protocol": None, "mode": None, "pages": 2}
    argv = sys.argv[1:]
    while argv:
        opt = argv.pop(0)
        if opt in ("--protocol", "--mode", "--pages") and argv:
            args[opt[2:]] = argv.pop(0)
        else:
            sys.stderr.write("fake_stdio_server: unknown option %s\n" % opt)
            sys.exit(2)
    args["pages"] = int(args["pages"])
    args["starts"] = count_start()
    sys.stderr.write("fake MCP server starting (mode %s)\n" % (args["mode"] or "normal"))
    sys.stderr.flush()

    per_page = max(1, -(-len(TOOLS) // args["pages"]))
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        msg = json.loads(line)
        method = msg.get("method")
        rid = msg.get("id")
        if method is None:
            if rid in PENDING:                      # the client's answer to our ping
                PENDING[rid][1] = msg
                PENDING[rid][0].set()
            continue
        if method == "initialize":
            version = args["protocol"] or msg["params"]["protocolVersion"]
            result(rid, {"protocolVersion": version,
                         "capabilities": {"tools": {"listChanged": True}},
                         "serverInfo": {"name": "fake-stdio", "version": "0.1"}})
        elif method == "notifications/initialized":
            pass
        elif method == "notifications/cancelled":
            CANCELS.append(msg.get("params"))
        elif method == "ping":
            result(rid, {})
        elif method == "tools/list":
            cursor = (msg.get("params") or {}).get("cursor")
            start = int(cursor) if cursor else 0
            page = {"tools": TOOLS[start:start + per_page]}
            if start + per_page < len(TOOLS):
                page["nextCursor"] = str(start + per_page)
            result(rid, page)
        elif method == "tools/call":
            p = msg.get("params") or {}
            threading.Thread(target=call_tool, daemon=True,
                             args=(args, rid, p.get("name"), p.get("arguments") or {})).start()
        elif rid is not None:
            send({"jsonrpc": "2.0", "id": rid,
                  "error": {"code": -32601, "message": "Method not found"}})
    # end of input: the client is done with us


if __name__ == "__main__":
    main()
