#!/usr/bin/env python3
"""Streaming benchmark clients (python3 stdlib only), used by
`auto-build.sh bench` (bench_streams) and runnable by hand:

  ttfb URL [URL...] [-n N]   N sequential streams on one keep-alive connection
                             a URL (with several URLs, one to each in turn,
                             the same request to each, or with --bodies one
                             body a URL): time from sending the
                             request to the first `message` event
                             (contentBlockDelta for an AWS event-stream) and
                             to the end of the stream; p50/p99 in us.
  hold URL -k K              K concurrent streams, opened in batches and read
                             as they come; once every stream has had its first
                             event, samples the resident memory (VmRSS) of the
                             given processes and reports (hold - idle) / open.
  rate URL -c C -d SECONDS   streams/s and events/s at concurrency C, every
                             stream read to its end; with --procs, the CPU the
                             processes used per event.  --engine python
                             (default) checks every stream and counts events
                             as they come, with CPU sampled at the window's
                             edges (exact for long streams; its own CPU is
                             the limit for short ones).  --engine wrk runs wrk
                             (C; it reads each chunked body to its end and
                             counts finished answers: for short streams) after
                             one checked probe stream.
  report DIR                 the summary table of a bench_streams run.

Common options: --method, --body JSON, -H 'Name: value' (repeatable),
--procs NAME=PID[,PID...] (repeatable; each PID counts with its
descendants; without any, the processes named nginx and mangoo-worker),
--out FILE (the result as JSON).

Streams are `text/event-stream` (events counted by name; `error` events
fail the stream) or `application/vnd.amazon.eventstream` (frames and CRCs
checked).  Each request reads the response to its end; a stream that ends
without `done` (SSE) or `metadata`/`messageStop` (event-stream) counts as an
error.
"""

import argparse
import asyncio
import json
import math
import os
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from urllib.parse import urlsplit

NS = 1_000_000_000
CLK_TCK = os.sysconf("SC_CLK_TCK")

# the event that marks "the first token" and the events that end a stream
FIRST_NAMES = (b"message", b"contentBlockDelta")
END_NAMES = (b"done", b"metadata")


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(values, p):
    """Nearest-rank percentile of a list (None if empty)."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


# ---------------------------------------------------------------------------
# the request
# ---------------------------------------------------------------------------

class Target:
    def __init__(self, url, method=None, body=None, headers=()):
        u = urlsplit(url)
        if u.scheme != "http":
            raise SystemExit("only http:// URLs (got %r)" % url)
        self.host = u.hostname
        self.port = u.port or 80
        self.path = (u.path or "/") + ("?" + u.query if u.query else "")
        self.url = url
        self.body = body.encode() if isinstance(body, str) else body
        self.method = method or ("POST" if self.body is not None else "GET")
        self.headers = list(headers)

    def request(self):
        lines = ["%s %s HTTP/1.1" % (self.method, self.path),
                 "Host: %s:%d" % (self.host, self.port),
                 "Accept: text/event-stream"]
        names = {h.split(":", 1)[0].strip().lower() for h in self.headers}
        if self.body is not None:
            if "content-type" not in names:
                lines.append("Content-Type: application/json")
            lines.append("Content-Length: %d" % len(self.body))
        lines += self.headers
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + (self.body or b"")


# ---------------------------------------------------------------------------
# the response, parsed incrementally
# ---------------------------------------------------------------------------

class Response:
    """Feed it the bytes of one HTTP response as they arrive (with the time
    they arrived); it decodes the head, chunked or sized bodies, and SSE or
    AWS event-stream events, and notes when the first event, the first
    `message` and the end came."""

    HEAD, BODY, DONE = 0, 1, 2

    def __init__(self, t0):
        self.t0 = t0
        self.buf = bytearray()
        self.state = self.HEAD
        self.status = 0
        self.ctype = b""
        self.keep_alive = True
        self.chunked = False
        self.left = None            # body bytes still due, when sized
        self.chunk_left = 0
        self.chunk_state = 0        # 0 size line, 1 data, 2 CRLF after data, 3 trailers
        self.kind = None            # b"sse", b"es" or None
        self.ev = bytearray()
        self.body = bytearray()     # a non-stream body (kept up to 64 KiB)
        self.names = {}
        self.events = 0
        self.first_event = self.first_message = self.end = None
        self.error = None

    # -- input --------------------------------------------------------------

    def feed(self, data, now):
        if self.state == self.DONE:
            if data:
                self.fail("bytes after the end of the response")
            return
        self.buf += data
        if self.state == self.HEAD:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                if len(self.buf) > 65536:
                    self.fail("response head too large")
                return
            self._head(bytes(self.buf[:i]))
            del self.buf[:i + 4]
            if self.state == self.DONE:
                return
        if self.chunked:
            self._chunked(now)
        elif self.left is not None:
            take = min(self.left, len(self.buf))
            if take:
                self._body(bytes(self.buf[:take]), now)
                del self.buf[:take]
                self.left -= take
            if self.left == 0:
                self._finish(now)
        else:                               # read until the connection closes
            if self.buf:
                self._body(bytes(self.buf), now)
                self.buf.clear()

    def eof(self, now):
        if self.state == self.DONE:
            return
        if self.state == self.BODY and not self.chunked and self.left is None:
            self._finish(now)
        else:
            self.fail("connection closed mid-response")

    def fail(self, why):
        if self.error is None:
            self.error = why
        self.state = self.DONE

    def why(self):
        """Why the stream failed, in a few words (for counting failures)."""
        if self.error is not None:
            return self.error
        if self.status != 200:
            try:
                code = json.loads(bytes(self.body))["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = bytes(self.body[:60]).decode("utf-8", "replace")
            return "status %d %s" % (self.status, code)
        if self.first_message is None:
            return "no message event"
        return "not finished"

    @property
    def done(self):
        return self.state == self.DONE

    @property
    def ok(self):
        return (self.error is None and self.status == 200 and self.end is not None
                and self.first_message is not None)

    # -- head and framing ---------------------------------------------------

    def _head(self, raw):
        lines = raw.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            return self.fail("bad status line %r" % lines[0][:80])
        self.status = int(parts[1])
        if parts[0] == b"HTTP/1.0":
            self.keep_alive = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip()
            if name == b"content-type":
                self.ctype = value.lower()
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                self.chunked = True
            elif name == b"content-length":
                self.left = int(value)
            elif name == b"connection" and b"close" in value.lower():
                self.keep_alive = False
        if self.ctype.startswith(b"text/event-stream"):
            self.kind = b"sse"
        elif self.ctype.startswith(b"application/vnd.amazon.eventstream"):
            self.kind = b"es"
        self.state = self.BODY
        if self.status in (100, 101):
            return self.fail("unexpected interim response %d" % self.status)
        if self.left == 0 and not self.chunked:
            self._finish(None)

    def _chunked(self, now):
        buf = self.buf
        while buf:
            if self.chunk_state == 1:
                take = min(self.chunk_left, len(buf))
                self._body(bytes(buf[:take]), now)
                del buf[:take]
                self.chunk_left -= take
                if self.chunk_left == 0:
                    self.chunk_state = 2
            elif self.chunk_state == 2:
                if len(buf) < 2:
                    return
                if buf[:2] != b"\r\n":
                    return self.fail("bad chunk end")
                del buf[:2]
                self.chunk_state = 0
            else:
                i = buf.find(b"\r\n")
                if i < 0:
                    return
                line = bytes(buf[:i])
                del buf[:i + 2]
                if self.chunk_state == 3:
                    if line == b"":
                        self.chunk_state = 4
                        return self._finish(now)
                    continue                # a trailer field
                try:
                    size = int(line.split(b";")[0], 16)
                except ValueError:
                    return self.fail("bad chunk size %r" % line[:40])
                if size == 0:
                    self.chunk_state = 3
                else:
                    self.chunk_left = size
                    self.chunk_state = 1

    def _finish(self, now):
        if self.state == self.DONE:
            return
        self.state = self.DONE
        self.end = now
        if self.kind == b"sse" and self.ev.strip():
            self.fail("the stream ended inside an event")
        if self.kind is not None and not any(n in self.names for n in END_NAMES):
            self.fail("the stream ended without done/metadata (events: %s)"
                      % ",".join("%s=%d" % (k.decode(), v) for k, v in self.names.items()))

    # -- events -------------------------------------------------------------

    def _event(self, name, now):
        self.events += 1
        self.names[name] = self.names.get(name, 0) + 1
        if self.first_event is None:
            self.first_event = now
        if self.first_message is None and name in FIRST_NAMES:
            self.first_message = now
        if name == b"error" and self.error is None:
            self.error = "error event"

    def _body(self, data, now):
        if self.kind == b"sse":
            ev = self.ev
            ev += data
            if b"\r" in ev:
                ev[:] = ev.replace(b"\r\n", b"\n")
            while True:
                i = ev.find(b"\n\n")
                if i < 0:
                    break
                block = bytes(ev[:i])
                del ev[:i + 2]
                name, data_seen = b"message", False
                for line in block.split(b"\n"):
                    if line.startswith(b"event:"):
                        name = line[6:].strip()
                    elif line.startswith(b"data"):
                        data_seen = True
                if data_seen or name != b"message":
                    self._event(name, now)
        elif self.kind == b"es":
            ev = self.ev
            ev += data
            while len(ev) >= 12:
                total, hlen, pcrc = struct.unpack_from(">III", ev)
                if zlib.crc32(ev[:8]) != pcrc or total < 16 or hlen > total - 16:
                    return self.fail("bad event-stream prelude")
                if len(ev) < total:
                    break
                if zlib.crc32(ev[:total - 4]) != struct.unpack_from(">I", ev, total - 4)[0]:
                    return self.fail("bad event-stream message CRC")
                self._event(_es_event_type(bytes(ev[12:12 + hlen])), now)
                del ev[:total]
        elif len(self.body) < 65536:
            self.body += data


def _es_event_type(raw):
    i = 0
    while i < len(raw):
        nl = raw[i]
        name = raw[i + 1:i + 1 + nl]
        i += 1 + nl
        kind = raw[i]
        i += 1
        if kind in (0, 1):
            continue
        if kind in (2, 3, 4, 5, 8, 9):
            i += {2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}[kind]
            continue
        vl = struct.unpack_from(">H", raw, i)[0]
        value = raw[i + 2:i + 2 + vl]
        i += 2 + vl
        if name in (b":event-type", b":exception-type"):
            return value if name == b":event-type" else b"error"
    return b"?"


# ---------------------------------------------------------------------------
# processes: memory and CPU
# ---------------------------------------------------------------------------

def _children():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def expand(pids):
    """The pids and all their descendants."""
    kids, out, todo = _children(), [], list(pids)
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        todo += kids.get(p, [])
    return out


def pids_named(name):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/comm" % d) as f:
                    if f.read().strip() == name:
                        out.append(int(d))
            except OSError:
                pass
    return out


def parse_procs(specs):
    """--procs NAME=PID,... groups; none given: every process named nginx
    and mangoo-worker on the machine (other stacks' too: prefer pids)."""
    groups = []
    if not specs:
        for group, comm in (("nginx", "nginx"), ("workers", "mangoo-worker")):
            pids = pids_named(comm)
            if pids:
                groups.append((group, pids))
        return groups
    for spec in specs or ():
        name, _, pids = spec.partition("=")
        if not name or not pids:
            raise SystemExit("--procs takes NAME=PID[,PID...] (got %r)" % spec)
        groups.append((name, [int(p) for p in pids.split(",") if p.strip()]))
    return groups


def rss_kib(pids):
    total = 0
    for p in expand(pids):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def cpu_seconds(pids):
    total = 0
    for p in expand(pids):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])      # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def switches(pids):
    """Context switches of every thread of the processes (how often they
    slept and woke: each hand-off between threads costs a few)."""
    total = 0
    for p in expand(pids):
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tasks:
            try:
                with open("/proc/%d/task/%s/status" % (p, t)) as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            total += int(line.split()[1])
            except OSError:
                pass
    return total


def sample(groups):
    return {name: (cpu_seconds(pids), switches(pids)) for name, pids in groups}


def since(groups, before):
    now = sample(groups)
    return {name: (now[name][0] - before[name][0], now[name][1] - before[name][1])
            for name, _ in groups}


def tcp_mem_kib():
    """Kernel memory of all TCP sockets on the machine (not in any RSS)."""
    try:
        with open("/proc/net/sockstat") as f:
            for line in f:
                if line.startswith("TCP:"):
                    parts = line.split()
                    return int(parts[parts.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError):
        pass
    return None


def self_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


# ---------------------------------------------------------------------------
# ttfb: sequential streams on one connection
# ---------------------------------------------------------------------------

def one_stream(sock, target, req):
    """Send one request on sock and read its answer; returns the Response
    (sock is None or unusable afterwards when not keep-alive)."""
    t0 = time.perf_counter_ns()
    sock.sendall(req)
    r = Response(t0)
    while not r.done:
        data = sock.recv(65536)
        now = time.perf_counter_ns()
        if not data:
            r.eof(now)
            break
        r.feed(data, now)
    return r


def connect(target, timeout):
    s = socket.create_connection((target.host, target.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class _TtfbTarget:
    def __init__(self, name, target):
        self.name, self.target, self.req = name, target, target.request()
        self.sock = None
        self.firsts, self.ends, self.errors = [], [], {}
        self.events = None


def cmd_ttfb(args, targets):
    """Sequential streams; with several URLs, one stream to each in turn (the
    same request to each), so that a noisy machine disturbs them alike."""
    names = args.names.split(",") if args.names else []
    if names and len(names) != len(targets):
        raise SystemExit("ttfb: --names needs one name a URL")
    if args.bodies:
        if len(args.bodies) != len(targets):
            raise SystemExit("ttfb: --bodies needs one body a URL")
        targets = [Target(t.url, args.method, b, args.header) for t, b in zip(targets, args.bodies)]
    ts = [_TtfbTarget(names[i] if names else t.url, t) for i, t in enumerate(targets)]
    for i in range(args.warmup + args.n):
        for t in ts:
            try:
                if t.sock is None:
                    t.sock = connect(t.target, args.timeout)
                r = one_stream(t.sock, t.target, t.req)
            except OSError as e:
                r = Response(0)
                r.fail("%s" % e.__class__.__name__)
            if not r.ok:
                why = r.why()
                t.errors[why] = t.errors.get(why, 0) + 1
            elif i >= args.warmup:
                t.events = r.events
                t.firsts.append((r.first_message - r.t0) / 1000)
                t.ends.append((r.end - r.t0) / 1000)
            if t.sock is not None and (not r.ok or not r.keep_alive or args.new_connection):
                t.sock.close()
                t.sock = None
    res = {"test": "ttfb", "targets": {}}
    for t in ts:
        if t.sock is not None:
            t.sock.close()
        r = res["targets"][t.name] = {
            "url": t.target.url, "n": len(t.firsts), "events_per_stream": t.events,
            "first_p50_us": percentile(t.firsts, 50), "first_p99_us": percentile(t.firsts, 99),
            "end_p50_us": percentile(t.ends, 50), "end_p99_us": percentile(t.ends, 99),
            "errors": sum(t.errors.values()), "error_kinds": t.errors}
        print("ttfb %s: %d streams, first message p50 %s p99 %s us, end p50 %s p99 %s us, %d errors%s"
              % (t.name, r["n"], _f(r["first_p50_us"]), _f(r["first_p99_us"]),
                 _f(r["end_p50_us"]), _f(r["end_p99_us"]), r["errors"],
                 (" " + json.dumps(t.errors)) if t.errors else ""))
    return res


def _f(v, digits=0):
    return "-" if v is None else ("%.*f" % (digits, v))


# ---------------------------------------------------------------------------
# hold: many concurrent streams
# ---------------------------------------------------------------------------

class HoldState:
    def __init__(self):
        self.connected = self.answered = self.started = self.ended = self.lost = 0
        self.lost_unanswered = 0
        self.failed = {}
        self.protos = []
        self.closing = False

    def fail(self, why):
        self.failed[why] = self.failed.get(why, 0) + 1


class HoldStream(asyncio.Protocol):
    def __init__(self, req, st, first_name):
        self.req, self.st, self.first_name = req, st, first_name
        self.r = Response(time.perf_counter_ns())
        self.transport = None
        self.started = self.closed = self.answered = False

    def connection_made(self, transport):
        self.transport = transport
        self.st.connected += 1
        transport.write(self.req)

    def data_received(self, data):
        r = self.r
        r.feed(data, time.perf_counter_ns())
        if not self.answered and r.state != r.HEAD:
            self.answered = True
            self.st.answered += 1
        if not self.started and (r.names.get(self.first_name) if self.first_name else r.events):
            self.started = True
            self.st.started += 1
        if r.done:
            self.st.ended += 1
            if not r.ok:
                self.st.fail(r.why())
            self.transport.close()

    def connection_lost(self, exc):
        self.closed = True
        if not self.answered:
            self.st.lost_unanswered += 1
        if not self.r.done:
            self.st.lost += 1
            if not self.st.closing:
                self.st.fail("connection lost" + (" (%s)" % exc.__class__.__name__ if exc else ""))


async def _hold(args, target, groups):
    loop = asyncio.get_running_loop()
    st = HoldState()
    req = target.request()
    first_name = args.first_event.encode() if args.first_event else None
    idle = {name: rss_kib(pids) for name, pids in groups}
    tcp_idle = tcp_mem_kib()
    t_start = time.monotonic()
    opened = 0
    while opened < args.k:
        n = min(args.batch, args.k - opened)
        results = await asyncio.gather(*[
            loop.create_connection(lambda: HoldStream(req, st, first_name), target.host, target.port)
            for _ in range(n)], return_exceptions=True)
        for res in results:
            if isinstance(res, BaseException):
                st.fail("connect: %s" % (res.__class__.__name__))
            else:
                st.protos.append(res[1])
        opened += n
        # let the servers keep up: no more than --ahead requests waiting for an answer
        deadline = time.monotonic() + args.timeout
        while st.connected - st.answered - st.lost_unanswered > args.ahead \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if args.batch_pause:
            await asyncio.sleep(args.batch_pause)
    t_opened = time.monotonic()
    deadline = time.monotonic() + args.timeout
    while st.started + sum(1 for p in st.protos if p.closed and not p.started) < len(st.protos) \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    t_started = time.monotonic()
    await asyncio.sleep(args.settle)
    held = {name: rss_kib(pids) for name, pids in groups}
    tcp_held = tcp_mem_kib()
    open_now = sum(1 for p in st.protos if p.started and not p.closed)
    # while they are held: the CPU each event costs when many slow streams are open
    before = sample(groups)
    events0, t0 = sum(p.r.events for p in st.protos), time.monotonic()
    await asyncio.sleep(args.hold)
    used = since(groups, before)
    events1, t1 = sum(p.r.events for p in st.protos), time.monotonic()
    open_after = sum(1 for p in st.protos if p.started and not p.closed)
    st.closing = True
    for p in st.protos:
        if p.transport is not None and not p.closed:
            p.transport.abort()
    await asyncio.sleep(0.2)
    res = {"test": "hold", "url": target.url, "requested": args.k, "connected": st.connected,
           "started": st.started, "open": open_now, "open_after_hold": open_after,
           "ended_early": st.ended, "failures": st.failed,
           "ramp_s": round(t_opened - t_start, 2), "all_started_s": round(t_started - t_start, 2),
           "groups": {}}
    total_idle = total_held = 0
    events = events1 - events0
    res["hold_events"] = events
    res["hold_s"] = round(t1 - t0, 1)
    res["hold_events_per_s"] = events / (t1 - t0)
    for name, _ in groups:
        d = held[name] - idle[name]
        total_idle += idle[name]
        total_held += held[name]
        cpu, sw = used[name]
        res["groups"][name] = {"idle_kib": idle[name], "hold_kib": held[name],
                               "per_stream_kib": d / open_now if open_now else None,
                               "hold_cpu_s": round(cpu, 2),
                               "hold_us_per_event": cpu * 1e6 / events if events else None,
                               "hold_switches_per_event": sw / events if events else None}
    res["total_per_stream_kib"] = (total_held - total_idle) / open_now if open_now else None
    if tcp_idle is not None and tcp_held is not None:
        res["kernel_tcp_per_stream_kib"] = (tcp_held - tcp_idle) / open_now if open_now else None
    print("hold %s: %d requested, %d open (%d after %.0fs more), %d failed %s; opened in %.1fs, "
          "all started at %.1fs" % (target.url, args.k, open_now, open_after, args.hold,
                                    sum(st.failed.values()), json.dumps(st.failed) if st.failed else "",
                                    res["ramp_s"], res["all_started_s"]))
    for name, g in res["groups"].items():
        print("  %-10s RSS idle %8d KiB, holding %8d KiB: %s KiB per open stream; "
              "CPU %s us per event while holding"
              % (name, g["idle_kib"], g["hold_kib"], _f(g["per_stream_kib"], 2),
                 _f(g["hold_us_per_event"], 2)))
    print("  while holding: %d events in %.1fs (%.0f/s)" % (events, t1 - t0, res["hold_events_per_s"]))
    if groups:
        print("  %-10s %s KiB per open stream" % ("total", _f(res["total_per_stream_kib"], 2)))
    if res.get("kernel_tcp_per_stream_kib") is not None:
        print("  (kernel TCP buffers, whole machine, not in RSS: %s KiB per stream)"
              % _f(res["kernel_tcp_per_stream_kib"], 2))
    return res


def cmd_hold(args, target):
    limit = raise_nofile()
    if args.k + 64 > limit:
        raise SystemExit("hold: -k %d needs more descriptors than RLIMIT_NOFILE allows (%d)"
                         % (args.k, limit))
    return asyncio.run(_hold(args, target, parse_procs(args.procs)))


# ---------------------------------------------------------------------------
# rate: streams/s at a fixed concurrency
# ---------------------------------------------------------------------------

class RateStream(asyncio.Protocol):
    """One keep-alive connection that sends the next request as soon as the
    previous answer ended, until the deadline.  Events count when they
    arrive, so a stream still running at the deadline counts for what it
    delivered inside the window."""

    def __init__(self, req, st):
        self.req, self.st = req, st
        self.transport = None
        self.r = None
        self.done = asyncio.get_running_loop().create_future()
        st.conns.append(self)

    def connection_made(self, transport):
        self.transport = transport
        if self.st.over:
            transport.abort()
            return
        self.send()

    def send(self):
        self.r = Response(time.perf_counter_ns())
        self.transport.write(self.req)

    def data_received(self, data):
        st, r = self.st, self.r
        if st.over or r is None:
            return
        before = r.events
        r.feed(data, time.perf_counter_ns())
        st.events += r.events - before
        if not r.done:
            return
        if r.ok:
            st.streams += 1
            st.latencies.append((r.end - r.t0) / 1000)
        else:
            st.errors[r.why()] = st.errors.get(r.why(), 0) + 1
        if r.keep_alive and r.ok:
            self.send()
        else:
            self.transport.close()

    def connection_lost(self, exc):
        if self.r is not None and not self.r.done and not self.st.over:
            self.st.errors["connection lost"] = self.st.errors.get("connection lost", 0) + 1
        if not self.done.done():
            self.done.set_result(None)


class RateState:
    def __init__(self):
        self.streams = self.events = 0
        self.errors = {}
        self.latencies = []
        self.conns = []
        self.over = False


async def _rate_python(args, target, groups):
    """Returns completed streams, events inside the window, its length, errors,
    stream times, and the CPU of the groups over exactly that window."""
    loop = asyncio.get_running_loop()
    st = RateState()
    req = target.request()
    before = sample(groups)
    t0 = time.perf_counter_ns()

    async def conn_loop():
        while not st.over:
            try:
                _, proto = await loop.create_connection(lambda: RateStream(req, st),
                                                        target.host, target.port)
            except OSError as e:
                why = "connect: " + e.__class__.__name__
                st.errors[why] = st.errors.get(why, 0) + 1
                await asyncio.sleep(0.05)
                continue
            await proto.done

    tasks = [asyncio.ensure_future(conn_loop()) for _ in range(args.c)]
    await asyncio.sleep(args.d)
    # the window closes: count nothing more, then stop everything
    st.over = True
    elapsed = time.perf_counter_ns() - t0
    cpu = since(groups, before)
    for c in st.conns:
        if c.transport is not None:
            c.transport.abort()
    await asyncio.gather(*tasks, return_exceptions=True)
    return st.streams, st.events, elapsed / NS, st.errors, st.latencies, cpu


def _lua_string(s):
    level = "=" * 4
    while ("]%s]" % level) in s:
        level += "="
    return "[%s[%s]%s]" % (level, s, level)


def _rate_wrk(args, target, probe_events):
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("rate --engine wrk: wrk is not installed")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write("wrk.method = %s\n" % _lua_string(target.method))
        if target.body is not None:
            f.write("wrk.body = %s\n" % _lua_string(target.body.decode()))
            f.write('wrk.headers["Content-Type"] = "application/json"\n')
        for h in target.headers:
            name, _, value = h.partition(":")
            f.write("wrk.headers[ %s ] = %s\n" % (_lua_string(name.strip()), _lua_string(value.strip())))
        script = f.name
    try:
        cmd = [wrk, "-t%d" % args.wrk_threads, "-c%d" % args.c, "-d%ds" % max(1, round(args.d)),
               "--timeout", "%ds" % max(1, round(args.timeout)), "--latency", "-s", script, target.url]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    finally:
        os.unlink(script)
    streams, seconds, errors, lat = 0, args.d, {}, {}
    units = {"us": 1, "ms": 1000, "s": 1000000, "m": 60000000}
    for line in out.splitlines():
        parts = line.split()
        if "requests in" in line:
            streams = int(parts[0])
            dur = parts[3].rstrip(",")
            for u in ("ms", "us", "m", "s"):
                if dur.endswith(u):
                    seconds = float(dur[:-len(u)]) * units[u] / 1e6
                    break
        elif line.strip().startswith("Non-2xx"):
            errors["non-2xx"] = int(parts[-1])
        elif line.strip().startswith("Socket errors"):
            for kv in line.split(":", 1)[1].split(","):
                k, v = kv.split()
                if int(v):
                    errors["socket " + k] = int(v)
        elif len(parts) == 2 and parts[0] in ("50%", "99%"):
            v = parts[1]
            for u in ("us", "ms", "s", "m"):
                if v.endswith(u) and v[:-len(u)].replace(".", "", 1).isdigit():
                    lat[parts[0]] = float(v[:-len(u)]) * units[u]
                    break
    if streams == 0:
        print(out, file=sys.stderr)
    good = streams - errors.get("non-2xx", 0)
    return good, good * probe_events, seconds, errors, lat


def cmd_rate(args, target):
    raise_nofile()
    groups = parse_procs(args.procs)
    # one checked stream first: it must work, and it tells how many events a stream has
    sock = connect(target, args.timeout)
    probe = one_stream(sock, target, target.request())
    sock.close()
    if not probe.ok:
        raise SystemExit("rate: the probe stream failed: %s" % probe.why())
    me0 = self_cpu()
    if args.engine == "wrk":
        # wrk counts finished answers: right when streams are short next to the run
        before = sample(groups)
        streams, events, seconds, errors, lat = _rate_wrk(args, target, probe.events)
        cpu = since(groups, before)
        p50, p99 = lat.get("50%"), lat.get("99%")
        per_s = streams / seconds if seconds else 0
    else:
        streams, events, seconds, errors, latencies, cpu = asyncio.run(
            _rate_python(args, target, groups))
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        # streams still running at the end count pro rata: long streams in a
        # short window are not rounded down to whole ones
        per_s = events / probe.events / seconds if seconds else 0
    me = self_cpu() - me0
    res = {"test": "rate", "url": target.url, "engine": args.engine, "concurrency": args.c,
           "seconds": round(seconds, 3), "streams": streams, "events": events,
           "events_per_stream": probe.events,
           "streams_per_s": per_s,
           "events_per_s": events / seconds if seconds else 0,
           "stream_p50_us": p50, "stream_p99_us": p99,
           "errors": errors, "client_cpu_s": round(me, 2), "cpu": {}}
    print("rate %s (%s, c=%d, %.1fs): %d streams finished, %.1f streams/s, %.0f events/s (%d events a stream), "
          "stream time p50 %s p99 %s us, errors %s, client CPU %.1fs"
          % (target.url, args.engine, args.c, seconds, streams, res["streams_per_s"],
             res["events_per_s"], probe.events, _f(p50), _f(p99),
             json.dumps(errors) if errors else "none", me))
    for name, (secs, sw) in cpu.items():
        per = secs * 1e6 / events if events else None
        swe = sw / events if events else None
        res["cpu"][name] = {"seconds": round(secs, 2), "us_per_event": per,
                            "switches_per_event": swe}
        print("  %-10s CPU %.2fs: %s us per event, %s context switches per event"
              % (name, secs, _f(per, 2), _f(swe, 2)))
    return res


# ---------------------------------------------------------------------------
# report: the bench_streams summary
# ---------------------------------------------------------------------------

def _load(d, label):
    try:
        with open(os.path.join(d, label + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _ratio(a, b):
    return "%.1f%%" % (100.0 * a / b) if a is not None and b else "-"


def _slope(short, long_, group):
    """CPU per stream is a + b * events; b from the two runs' CPU per event."""
    try:
        n1, n2 = short["events_per_stream"], long_["events_per_stream"]
        x1, x2 = short["cpu"][group]["us_per_event"], long_["cpu"][group]["us_per_event"]
    except (KeyError, TypeError):
        return None
    if x1 is None or x2 is None or n2 == n1:
        return None
    return (x2 * n2 - x1 * n1) / (n2 - n1)


def cmd_report(args):
    d = args.dir
    groups = ("nginx", "workers", "postgres")
    cases = sorted((n[len("rate-mangoo-"):-5] for n in os.listdir(d)
                    if n.startswith("rate-mangoo-") and n.endswith(".json")),
                   key=lambda c: (not c.startswith("no-"), c))
    for case in cases:
        m, p = _load(d, "rate-mangoo-" + case), _load(d, "rate-proxy-" + case)
        print("\nstreams/s, %s: %d events a stream (Mangoo: start + %d messages + done), "
              "concurrency %d, %.0f s each, %s"
              % (case, m["events_per_stream"], m["events_per_stream"] - 2, m["concurrency"],
                 m["seconds"], "wrk reading every stream to its end" if m["engine"] == "wrk" else
                 "stream_bench's client counting every event as it comes"))
        print("  %-11s %10s %10s %17s  %s" % ("", "streams/s", "events/s", "stream p50/p99 ms",
                                            "CPU us per event: " + " / ".join(groups) + "   errors"))
        for label, r in (("proxy_pass", p), ("Mangoo", m)):
            if r is None:
                continue
            cpu = r.get("cpu", {})
            print("  %-11s %10.1f %10.0f %17s  %s   %s" % (
                label, r["streams_per_s"], r["events_per_s"],
                "%s / %s" % (_f(_ms(r["stream_p50_us"]), 1), _f(_ms(r["stream_p99_us"]), 1)),
                " / ".join(_f((cpu.get(g) or {}).get("us_per_event"), 2) for g in groups),
                json.dumps(r["errors"]) if r["errors"] else "0"))
        sw = []
        for label, r in (("proxy_pass", p), ("Mangoo", m)):
            for g in ("nginx", "workers"):
                v = ((r or {}).get("cpu", {}).get(g) or {}).get("switches_per_event")
                if v is not None and (g == "nginx" or label == "Mangoo"):
                    sw.append("%s %s %.2f" % (label, g, v))
        if sw:
            print("  context switches per event (all threads): " + ", ".join(sw))
        if m and p:
            print("  Mangoo: %s of proxy_pass's streams/s%s" % (
                _ratio(m["streams_per_s"], p["streams_per_s"]),
                "" if m["engine"] == "wrk" else
                " (at the same offered load: streams/s = events/s / events a stream)"))
        base = _load(d, "rate-mangoo-" + case[:-len("-long")]) if case.endswith("-long") else None
        if base:
            parts = []
            for label, x, y in (("", base, m),
                                ("proxy_pass: ", _load(d, "rate-proxy-" + case[:-len("-long")]), p)):
                for g in (groups if not label else ("nginx",)):
                    v = _slope(x, y, g)
                    if v is not None:
                        parts.append("%s%s %.2f" % (label, g, v))
            print("  CPU us of one more event (the slope between %d and %d events a stream): %s"
                  % (base["events_per_stream"], m["events_per_stream"], ", ".join(parts)))
        t = (_load(d, "ttfb-" + case) or {}).get("targets", {})
        if all(k in t for k in ("direct", "proxy", "mangoo")):
            print("  time to first message, %d sequential streams to each, in turn, %s events a"
                  " stream (us):" % (t["mangoo"]["n"], t["mangoo"].get("events_per_stream")))
            print("    %-44s %8s %8s %8s %8s" % ("", "p50", "p99", "end p50", "end p99"))
            for k, label in (("direct", "fake directly"), ("proxy", "nginx proxy_pass"),
                             ("mangoo", "Mangoo")):
                r = t[k]
                print("    %-44s %8s %8s %8s %8s%s" % (
                    label, _f(r["first_p50_us"]), _f(r["first_p99_us"]), _f(r["end_p50_us"]),
                    _f(r["end_p99_us"]), "  (%d errors)" % r["errors"] if r["errors"] else ""))
            for k, label in (("proxy", "proxy_pass"), ("mangoo", "Mangoo")):
                a, b = t[k], t["direct"]
                if a["first_p50_us"] is not None and b["first_p50_us"] is not None:
                    print("    added by %-35s %8.0f %8.0f%s" % (
                        label, a["first_p50_us"] - b["first_p50_us"],
                        a["first_p99_us"] - b["first_p99_us"],
                        "   (target: p99 < 2000)" if k == "mangoo" else ""))
    holds = sorted(n[5:-5] for n in os.listdir(d) if n.startswith("hold-") and n.endswith(".json"))
    if holds:
        print("\nopen streams at once, fresh processes each (target: 10,000 on 2 cores, "
              "nginx + workers < 16 KiB a stream)")
        print("  %-26s %9s %7s %7s %10s %12s %10s %8s  %s" % (
            "", "requested", "open", "failed", "nginx KiB", "workers KiB", "total KiB", "ramp s",
            "CPU us/event held: nginx / workers"))
        for h in holds:
            r = _load(d, "hold-" + h)
            g = r["groups"]
            total = sum((g.get(n) or {}).get("hold_kib", 0) - (g.get(n) or {}).get("idle_kib", 0)
                        for n in ("nginx", "workers"))
            print("  %-26s %9d %7d %7d %10s %12s %10s %8.1f  %s / %s%s" % (
                h, r["requested"], r["open"], sum(r["failures"].values()),
                _f((g.get("nginx") or {}).get("per_stream_kib"), 2),
                _f((g.get("workers") or {}).get("per_stream_kib"), 2),
                _f(total / r["open"] if r["open"] else None, 2), r["all_started_s"],
                _f((g.get("nginx") or {}).get("hold_us_per_event"), 1),
                _f((g.get("workers") or {}).get("hold_us_per_event"), 1),
                "  " + json.dumps(r["failures"]) if r["failures"] else ""))
        print("  (KiB per open stream: (VmRSS holding - VmRSS idle) / open streams, nginx master and"
              " workers summed; kernel socket buffers not included.  CPU: over %s s of holding,"
              " each stream sending its events as the model makes them)" % r.get("hold_s"))
        for h in holds:
            # the TLS holds (bench_streams_tls): what the fake provider saw
            stats = os.path.join(d, "fake-stats-tls-%s.json" % h.split("-tls-", 1)[-1])
            if "-tls-" in h and os.path.exists(stats):
                with open(stats) as f:
                    s = json.load(f)
                print("  %s: the provider saw %d TCP connections (%d HTTP/2), %d TLS handshakes"
                      " (%d resumed) for %d streams" % (h, s["connections"] - 1, s["h2_connections"],
                                                        s["tls_handshakes"] - 1, s["tls_resumed"],
                                                        s["streams"]))


def _ms(us):
    return None if us is None else us / 1000.0


# ---------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p, urls=False):
        p.add_argument("url", nargs="+" if urls else None)
        p.add_argument("--method")
        p.add_argument("--body", help="request body (JSON); implies POST")
        p.add_argument("-H", "--header", action="append", default=[], help="'Name: value'")
        p.add_argument("--procs", action="append", default=[], metavar="NAME=PID[,PID]",
                       help="processes to measure (with their descendants)")
        p.add_argument("--timeout", type=float, default=30.0)
        p.add_argument("--out", help="write the result as JSON to this file")

    p = sub.add_parser("ttfb", help="sequential time to first message and to the end")
    common(p, urls=True)
    p.add_argument("--names", help="comma-separated names of the URLs, for the result")
    p.add_argument("--bodies", action="append", default=[], metavar="JSON",
                   help="one request body a URL, in order (instead of --body for all)")
    p.add_argument("-n", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--new-connection", action="store_true", help="one connection per stream")

    p = sub.add_parser("hold", help="K concurrent open streams and the memory they cost")
    common(p)
    p.add_argument("-k", type=int, default=1000)
    p.add_argument("--batch", type=int, default=100, help="connections opened at once")
    p.add_argument("--ahead", type=int, default=200,
                   help="at most this many requests waiting for their answer's head")
    p.add_argument("--batch-pause", type=float, default=0.0)
    p.add_argument("--first-event", default="", help="the event that means open (default: any)")
    p.add_argument("--settle", type=float, default=1.0, help="seconds between all started and sampling")
    p.add_argument("--hold", type=float, default=5.0,
                   help="seconds to keep them open after sampling memory (CPU is sampled over them)")

    p = sub.add_parser("rate", help="streams/s at a concurrency")
    common(p)
    p.add_argument("-c", type=int, default=64)
    p.add_argument("-d", type=float, default=10.0, help="seconds")
    p.add_argument("--engine", choices=("python", "wrk"), default="python")
    p.add_argument("--wrk-threads", type=int, default=2)

    p = sub.add_parser("report", help="summary of a bench_streams results directory")
    p.add_argument("dir")

    args = ap.parse_args(argv)
    if args.cmd == "report":
        return cmd_report(args)
    if args.cmd == "ttfb":
        res = cmd_ttfb(args, [Target(u, args.method, args.body, args.header) for u in args.url])
    else:
        target = Target(args.url, args.method, args.body, args.header)
        res = {"hold": cmd_hold, "rate": cmd_rate}[args.cmd](args, target)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
