"""A small Server-Sent Events client for the end-to-end tests: one request
on a raw socket, its own chunked decoding (so a clean end and a cut stream
can be told apart) and SSE parsing as the WHATWG standard describes it:
lines end in \\n, \\r\\n or \\r; a line starting with ':' is a comment;
several data lines join with \\n; a blank line dispatches the event."""

import json
import socket
import time

import openapi_check

try:                    # what a stream's request carries must never be logged
    from harness import note_secret, note_body
except ImportError:     # used without the harness
    def note_secret(*_):
        pass

    def note_body(*_):
        pass


class Event:
    def __init__(self, type, data, id, at):
        self.type = type
        self.data = data
        self.id = id
        self.at = at            # time.monotonic() when it was complete

    def json(self):
        return json.loads(self.data)

    def __repr__(self):
        return "<event %s %r>" % (self.type, self.data[:200])


class Comment:
    def __init__(self, text, at):
        self.text = text
        self.at = at

    def __repr__(self):
        return "<comment %r>" % self.text


class SseStream:
    """POST (or any method) path with a JSON body; the status and headers
    are read at once, the body as it is iterated."""

    def __init__(self, port, path, body=None, token=None, method="POST",
                 timeout=30, rcvbuf=None, headers=None, raw_body=None):
        self.method, self.path = method, path
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # before connect, so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        payload = json.dumps(body).encode() if body is not None else b""
        note_body(body)
        note_secret(token)
        if raw_body is not None:
            payload = raw_body
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1",
                 "Accept: text/event-stream"]
        if token:
            lines.append("Authorization: Bearer " + token)
        if body is not None or raw_body is not None:
            lines.append("Content-Type: application/json")
        lines.append("Content-Length: %d" % len(payload))
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        self.started = time.monotonic()

        self._buf = b""
        self._items = None
        self.comments = []
        self.ended = False          # the chunked terminator came
        self.closed = False         # the server closed the connection
        self._read_head()

    # -- transport -----------------------------------------------------
    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            self.closed = True
            return False
        self._buf += data
        return True

    def _line(self):
        while b"\r\n" not in self._buf:
            if not self._fill():
                return None
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def _read_head(self):
        status = self._line()
        if status is None:
            raise ConnectionError("connection closed before the status line")
        self.status = int(status.split()[1])
        self.headers = {}
        self.header_list = []
        while True:
            line = self._line()
            if line is None:
                raise ConnectionError("connection closed in the headers")
            if not line:
                break
            k, v = line.decode("latin-1").split(":", 1)
            self.header_list.append((k.strip().lower(), v.strip()))
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self._left = int(self.headers.get("content-length", "-1"))

    def header(self, name):
        return self.headers.get(name.lower())

    def _body_pieces(self):
        """Yield body bytes as they arrive (de-chunked)."""
        if not self.chunked:
            while self._left != 0:
                if not self._buf and not self._fill():
                    return
                piece = self._buf if self._left < 0 else self._buf[:self._left]
                self._buf = self._buf[len(piece):]
                if self._left > 0:
                    self._left -= len(piece)
                yield piece
            self.ended = True
            return
        while True:
            size_line = self._line()
            if size_line is None:
                return
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while True:             # trailers, then the blank line
                    t = self._line()
                    if t is None:
                        return
                    if not t:
                        self.ended = True
                        return
            while len(self._buf) < size + 2:
                if not self._fill():
                    return
            piece, self._buf = self._buf[:size], self._buf[size + 2:]
            yield piece

    # -- SSE -----------------------------------------------------------
    def items(self):
        """Events and comments in arrival order, until the body ends."""
        text = b""
        etype, data, eid = "", [], None
        for piece in self._body_pieces():
            text += piece
            now = time.monotonic()
            while True:
                # a lone \r at the very end may be half of \r\n: wait
                i = min([p for p in (text.find(b"\n"), text.find(b"\r"))
                         if p >= 0], default=-1)
                if i < 0 or (text[i:i + 1] == b"\r" and i == len(text) - 1):
                    break
                line = text[:i].decode("utf-8")
                text = text[i + (2 if text[i:i + 2] == b"\r\n" else 1):]
                if line == "":
                    if data:
                        # the contract: each event documented, its data too
                        openapi_check.check_event(self.method, self.path, self.status,
                                                  etype or "message", "\n".join(data))
                        yield Event(etype or "message", "\n".join(data), eid, now)
                    etype, data = "", []
                    continue
                if line.startswith(":"):
                    yield Comment(line[1:].strip(), now)
                    continue
                field, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if field == "event":
                    etype = value
                elif field == "data":
                    data.append(value)
                elif field == "id":
                    eid = value
        self.trailing = text

    def next(self):
        """The next event, or None once the body ended; comments met on
        the way are kept in self.comments."""
        if self._items is None:
            self._items = self.items()
        for x in self._items:
            if isinstance(x, Comment):
                self.comments.append(x)
                continue
            return x
        return None

    def events(self):
        """The remaining events, to the end of the body."""
        out = []
        while True:
            e = self.next()
            if e is None:
                return out
            out.append(e)

    def body(self):
        """A whole (non-streamed) body, e.g. a JSON error."""
        body = b"".join(self._body_pieces())
        if self.ended:
            openapi_check.check_response(self.method, self.path, self.status,
                                         self.headers.get("content-type"), body)
        return body

    def json(self):
        return json.loads(self.body())

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- Mangoo's chat stream ---------------------------------------------------
def chat_stream(stack, body, token, path="/api/v1/chat/stream", raw=None):
    """POST a chat turn to the running stack; raw sends bytes as the body."""
    if raw is not None:
        return SseStream(stack.port, path, token=token, raw_body=raw)
    return SseStream(stack.port, path, body, token=token)


def text_of(events):
    """The answer the message events carry."""
    return "".join(e.json()["content"] for e in events if e.type == "message")
