"""A small Server-Sent Events client for the end-to-end tests: POSTs a
JSON body and reads the answer event by event as it arrives (chunked),
keeping comments (keepalives) and the time each event came."""

import http.client
import json
import time


class Event:
    def __init__(self, name, data, at):
        self.name = name
        self.raw = data
        self.at = at

    @property
    def data(self):
        return json.loads(self.raw)

    def __repr__(self):
        return "Event(%s, %s)" % (self.name, self.raw[:120])


class SSEStream:
    def __init__(self, port, path, body, token, timeout=15, raw=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if token:
            headers["Authorization"] = "Bearer " + token
        payload = raw if raw is not None else json.dumps(body).encode()
        self.started = time.monotonic()
        self.conn.request("POST", path, body=payload, headers=headers)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.comments = []
        self.body = None
        if self.status != 200 or not self.headers.get("content-type", "").startswith(
                "text/event-stream"):
            self.body = self.resp.read()

    def json(self):
        return json.loads(self.body)

    def next(self):
        """The next event, or None when the stream ended."""
        name, data = None, []
        while True:
            line = self.resp.readline()
            if not line:
                return None
            line = line.decode("utf-8").rstrip("\n").rstrip("\r")
            if line == "":
                if name is not None or data:
                    return Event(name or "message", "\n".join(data), time.monotonic())
                continue
            if line.startswith(":"):
                self.comments.append((time.monotonic(), line[1:].strip()))
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)

    def events(self):
        out = []
        while True:
            ev = self.next()
            if ev is None:
                return out
            out.append(ev)

    def close(self):
        self.conn.close()


def stream(stack, body, token, path="/api/v1/chat/stream", **kw):
    return SSEStream(stack.port, path, body, token, **kw)


def text_of(events):
    return "".join(e.data["content"] for e in events if e.name == "message")
