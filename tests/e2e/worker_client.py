"""A job sent straight to a worker process, as the module sends it, for
the jobs no route reaches yet or at all (the module's apikeys.verify, the
published.* jobs with the claims the module makes).

ZMTP 3.0 (NULL mechanism) as a DEALER over a plain socket, so the tests
need no ZeroMQ binding; messages packed as shared/mg_protocol.h says:
[u8 frame count] then per frame [u32 big-endian length][bytes].
"""

import json
import os
import socket
import struct
import time


def _pack(frames):
    out = [bytes([len(frames)])]
    for f in frames:
        out.append(struct.pack(">I", len(f)) + f)
    return b"".join(out)


def _unpack(buf):
    """The messages packed in one frame, each a list of frames."""
    msgs, off = [], 0
    while off < len(buf):
        n = buf[off]
        off += 1
        frames = []
        for _ in range(n):
            (ln,) = struct.unpack(">I", buf[off:off + 4])
            off += 4
            frames.append(buf[off:off + ln])
            off += ln
        msgs.append(frames)
    return msgs


class Reply:
    """What came back for one job: status, headers (dict), body (bytes),
    for an error also code and message; for a stream its DATA parts."""

    def __init__(self):
        self.type = None
        self.status = None
        self.content_type = None
        self.headers = {}
        self.body = b""
        self.code = None
        self.message = None
        self.parts = []

    def json(self):
        return json.loads(self.body)

    def events(self):
        """The SSE events of a stream, as (name, data dict)."""
        out = []
        for p in self.parts:
            name, data = None, None
            for line in p.decode().splitlines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
            if name:
                out.append((name, data))
        return out

    def __repr__(self):
        return "<%s %s %s %s>" % (self.type, self.status, self.code, self.body[:200])


class WorkerClient:
    def __init__(self, endpoint, timeout=15):
        host, port = endpoint.replace("tcp://", "").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.buf = b""
        greeting = (b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([3, 0])
                    + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31)
        self.sock.sendall(greeting)
        self._read(64)
        self._send_frame(b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", 6) + b"DEALER",
                         command=True)
        cmd, _ = self._recv_frame()
        assert cmd is True, "no READY from the worker"

    def close(self):
        self.sock.close()

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the worker closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, body, command=False):
        flags = 0x04 if command else 0x00
        if len(body) > 255:
            self.sock.sendall(bytes([flags | 0x02]) + struct.pack(">Q", len(body)) + body)
        else:
            self.sock.sendall(bytes([flags, len(body)]) + body)

    def _recv_frame(self):
        """(is_command, body); a multipart message is not what workers send."""
        flags = self._read(1)[0]
        if flags & 0x02:
            (n,) = struct.unpack(">Q", self._read(8))
        else:
            n = self._read(1)[0]
        return bool(flags & 0x04), self._read(n)

    def job(self, name, params=None, claims=None, body=b"", timeout=15):
        """Send one REQ; the Reply once it is whole (RES, ERR, or a
        stream's HEAD ... END)."""
        rid = os.urandom(16).hex().encode()
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        frames = [b"REQ", rid, name.encode(), json.dumps(params or {}).encode(),
                  json.dumps(claims or {}).encode(), body]
        self._send_frame(_pack(frames))
        r = Reply()
        deadline = time.time() + timeout
        while time.time() < deadline:
            cmd, data = self._recv_frame()
            if cmd:
                continue
            for m in _unpack(data):
                kind = m[0].decode()
                if kind == "CREDIT" or len(m) < 2 or m[1] != rid:
                    continue
                if kind == "RES":
                    r.type, r.status, r.content_type = kind, int(m[2]), m[3].decode()
                    r.headers = json.loads(m[4]) if m[4] else {}
                    r.body = m[5]
                    return r
                if kind == "ERR":
                    r.type, r.status = kind, int(m[2])
                    r.code, r.message = m[3].decode(), m[4].decode()
                    return r
                if kind == "HEAD":
                    r.type, r.status, r.content_type = kind, int(m[2]), m[3].decode()
                    r.headers = json.loads(m[4]) if m[4] else {}
                elif kind == "DATA":
                    r.parts.append(m[2])
                elif kind == "END":
                    return r
        raise TimeoutError("no whole answer to %s" % name)
