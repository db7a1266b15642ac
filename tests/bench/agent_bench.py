#!/usr/bin/env python3
"""Agents benchmark clients (python3 stdlib only), used by
`auto-build.sh bench-agents` (bench_agents) and runnable by hand against a
stack whose Bedrock is build/fake-stream:

  turns URL [URL...] -n N    N chat turns a URL, sequential on one keep-alive
                             connection a URL, one to each in turn (the
                             bodies given with --bodies, one a URL, "@N@" in
                             a body replaced by a number unique to the
                             request): time from sending the request to the
                             first `message` event and to the `done` event,
                             p50/p99 in us.  With -c C (one URL), C
                             connections each running turns back to back
                             until N are done: the same times, and turns/s.
                             With --fake, the tool round trips the fake
                             model measured for these turns (GET
                             /tool-gaps, paired to each turn by the
                             "bench-@N@" its message carries): from the
                             last byte of the step asking for a tool to the
                             next request, with its toolResult, read whole.
  report DIR                 the summary of a bench_agents run: its
                             roundtrip-*.json and plain-c*.json (turns),
                             subagent.json (turns) and subagent-runs.json
                             (where the sub-agents ran, by the workers'
                             logs), hold-plain.json and hold-agent.json
                             (stream_bench.py hold).

Common options: -H 'Name: value' (repeatable), --timeout, --out FILE (the
result as JSON).
"""

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request

from stream_bench import (Response, Target, connect, percentile, raise_nofile,  # noqa: E402
                          _f, _load)


class TurnResponse(Response):
    """A Response that also notes when the `done` event came."""

    def __init__(self, t0):
        super().__init__(t0)
        self.done_at = None

    def _event(self, name, now):
        super()._event(name, now)
        if name == b"done" and self.done_at is None:
            self.done_at = now


class Numbers:
    """Unique numbers for "@N@", from a start that differs between runs
    (the fake pairs a turn's two requests by it)."""

    def __init__(self, first):
        self.next = first

    def take(self):
        n = self.next
        self.next += 1
        return n


def request_for(target, body, n):
    t = Target(target.url, target.method, body.replace("@N@", str(n)) if body else None,
               target.headers)
    return t.request()


def one_turn(sock, req):
    t0 = time.perf_counter_ns()
    sock.sendall(req)
    r = TurnResponse(t0)
    while not r.done:
        data = sock.recv(65536)
        now = time.perf_counter_ns()
        if not data:
            r.eof(now)
            break
        r.feed(data, now)
    return r


def fake_gaps(fake):
    """The fake's tool round trips since the last call: {n: us}, counters."""
    with urllib.request.urlopen(fake.rstrip("/") + "/tool-gaps", timeout=30) as f:
        v = json.load(f)
    return {n: ns / 1000.0 for n, ns in v["gaps"]}, v


class _Turns:
    def __init__(self, name, target, body):
        self.name, self.target, self.body = name, target, body
        self.sock = None
        self.firsts, self.dones, self.errors, self.numbers = [], [], {}, []

    def record(self, r, n, measured):
        if not r.ok or r.done_at is None:
            why = r.why() if not r.ok else "no done event"
            self.errors[why] = self.errors.get(why, 0) + 1
        elif measured:
            self.firsts.append((r.first_message - r.t0) / 1000)
            self.dones.append((r.done_at - r.t0) / 1000)
            self.numbers.append(n)

    def result(self, gaps):
        mine = [gaps[n] for n in self.numbers if n in gaps]
        return {"url": self.target.url, "n": len(self.dones),
                "first_p50_us": percentile(self.firsts, 50),
                "first_p99_us": percentile(self.firsts, 99),
                "done_p50_us": percentile(self.dones, 50), "done_p99_us": percentile(self.dones, 99),
                "gap_n": len(mine), "gap_p50_us": percentile(mine, 50),
                "gap_p99_us": percentile(mine, 99),
                "gap_mean_us": sum(mine) / len(mine) if mine else None,
                "errors": sum(self.errors.values()), "error_kinds": self.errors}


def _sequential(args, ts, numbers):
    for i in range(args.warmup + args.n):
        if i == args.warmup and args.fake:
            fake_gaps(args.fake)                # the warm-up's round trips do not count
        for t in ts:
            n = numbers.take()
            try:
                if t.sock is None:
                    t.sock = connect(t.target, args.timeout)
                r = one_turn(t.sock, request_for(t.target, t.body, n))
            except OSError as e:
                r = TurnResponse(0)
                r.fail("%s" % e.__class__.__name__)
            t.record(r, n, i >= args.warmup)
            if t.sock is not None and (not r.ok or not r.keep_alive):
                t.sock.close()
                t.sock = None
    for t in ts:
        if t.sock is not None:
            t.sock.close()


class _ConcTurn(asyncio.Protocol):
    """One keep-alive connection running turns back to back."""

    def __init__(self, st, t):
        self.st, self.t = st, t
        self.transport = self.r = None
        self.n = None
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.send()

    def send(self):
        if self.st.left <= 0:
            self.transport.close()
            return
        self.st.left -= 1
        self.n = self.st.numbers.take()
        self.r = TurnResponse(time.perf_counter_ns())
        self.transport.write(request_for(self.t.target, self.t.body, self.n))

    def data_received(self, data):
        r = self.r
        if r is None or r.done:
            return
        r.feed(data, time.perf_counter_ns())
        if not r.done:
            return
        self.t.record(r, self.n, True)
        self.r = None
        if r.ok and r.keep_alive:
            self.send()
        else:
            self.transport.close()

    def connection_lost(self, exc):
        if self.r is not None and not self.r.done:
            self.r.fail("connection lost")
            self.t.record(self.r, self.n, True)
        if not self.done.done():
            self.done.set_result(None)


async def _concurrent(args, t, numbers):
    loop = asyncio.get_running_loop()

    class St:
        pass
    st = St()
    st.left, st.numbers = args.n, numbers

    async def conn_loop():
        while st.left > 0:
            try:
                _, proto = await loop.create_connection(lambda: _ConcTurn(st, t),
                                                        t.target.host, t.target.port)
            except OSError as e:
                why = "connect: " + e.__class__.__name__
                t.errors[why] = t.errors.get(why, 0) + 1
                await asyncio.sleep(0.05)
                continue
            await proto.done

    t0 = time.perf_counter()
    await asyncio.gather(*[conn_loop() for _ in range(args.c)])
    return time.perf_counter() - t0


def cmd_turns(args):
    names = args.names.split(",") if args.names else []
    if names and len(names) != len(args.url):
        raise SystemExit("turns: --names needs one name a URL")
    if len(args.bodies) != len(args.url):
        raise SystemExit("turns: --bodies needs one body a URL")
    if args.c > 1 and len(args.url) != 1:
        raise SystemExit("turns: -c takes one URL")
    ts = [_Turns(names[i] if names else u, Target(u, None, "{}", args.header), b)
          for i, (u, b) in enumerate(zip(args.url, args.bodies))]
    numbers = Numbers(args.first if args.first is not None
                      else (int(time.time() * 1000) % 10 ** 9) * 1000)
    seconds = None
    if args.c > 1:
        raise_nofile()
        if args.warmup:                         # a few turns first, not counted
            n, args.n = args.n, args.warmup
            asyncio.run(_concurrent(args, _Turns("warmup", ts[0].target, ts[0].body), numbers))
            args.n = n
        if args.fake:
            fake_gaps(args.fake)
        seconds = asyncio.run(_concurrent(args, ts[0], numbers))
    else:
        _sequential(args, ts, numbers)
    gaps, counts = fake_gaps(args.fake) if args.fake else ({}, {})
    res = {"test": "turns", "concurrency": args.c, "targets": {},
           "fake": {k: counts[k] for k in ("tool_steps", "results", "unmatched")} if counts else None}
    if seconds is not None:
        res["seconds"] = round(seconds, 3)
        res["turns_per_s"] = ts[0].result(gaps)["n"] / seconds if seconds else None
    for t in ts:
        r = res["targets"][t.name] = t.result(gaps)
        print("turns %s (c=%d): %d turns, first message p50 %s p99 %s us, done p50 %s p99 %s us, "
              "tool round trip (in the fake, %d) p50 %s p99 %s us, %d errors%s"
              % (t.name, args.c, r["n"], _f(r["first_p50_us"]), _f(r["first_p99_us"]),
                 _f(r["done_p50_us"]), _f(r["done_p99_us"]), r["gap_n"], _f(r["gap_p50_us"]),
                 _f(r["gap_p99_us"]), r["errors"],
                 (" " + json.dumps(t.errors)) if t.errors else ""))
    if seconds is not None:
        print("  %.1f turns/s over %.1f s" % (res["turns_per_s"] or 0, seconds))
    if counts:
        print("  the fake: %d tool steps, %d requests with results, %d unpaired"
              % (counts["tool_steps"], counts["results"], counts["unmatched"]))
    return res


# ---------------------------------------------------------------------------
# report: the bench_agents summary
# ---------------------------------------------------------------------------

def _row(label, n, p50, p99, note=""):
    print("  %-46s %6s %9s %9s  %s" % (label, n, _f(p50), _f(p99), note))


def _times(x):
    return "%.1fx" % x if x is not None else "-"


def _ratio(a, b):
    return "%.1f%%" % (100.0 * a / b) if a is not None and b else "-"


def _div(a, b):
    return a / b if a is not None and b else None


def cmd_report(args):
    d = args.dir
    seq = _load(d, "roundtrip-seq")
    conc = [_load(d, n[:-5]) for n in sorted(os.listdir(d))
            if n.startswith("roundtrip-c") and n.endswith(".json")]
    sub, hp, ha = _load(d, "subagent"), _load(d, "hold-plain"), _load(d, "hold-agent")
    if seq:
        t = seq["targets"]
        a = t["agent"]
        print("\ntool round trip: a step asking for calculator {\"expression\":\"1+1\"} -> the next"
              " request, with its toolResult (us)")
        print("  measured in the fake model: from the step's last byte into the socket to that"
              " request read whole")
        print("  %-46s %6s %9s %9s" % ("", "n", "p50", "p99"))
        _row("sequential turns", a["gap_n"], a["gap_p50_us"], a["gap_p99_us"],
             "%d errors" % a["errors"] if a["errors"] else "")
        for c in conc:
            x = c["targets"]["agent"]
            _row("concurrency %d" % c["concurrency"], x["gap_n"], x["gap_p50_us"], x["gap_p99_us"],
                 "%.0f turns/s; turn (request -> done) p50 %s p99 %s us%s" % (
                     c.get("turns_per_s") or 0, _f(x["done_p50_us"]), _f(x["done_p99_us"]),
                     ", %d errors" % x["errors"] if x["errors"] else ""))
            p = _load(d, "plain-c%d" % c["concurrency"])
            if p:
                y = p["targets"]["mangoo"]
                print("  %-63s  %.0f turns/s; turn (request -> done) p50 %s p99 %s us%s" % (
                    "  plain chat turns (no tools) at the same concurrency", p.get("turns_per_s") or 0,
                    _f(y["done_p50_us"]), _f(y["done_p99_us"]),
                    ", %d errors" % y["errors"] if y["errors"] else ""))
        if all(k in t for k in ("direct", "proxy", "mangoo")):
            dr, px, mg = t["direct"], t["proxy"], t["mangoo"]
            print("  yardsticks, the same sequential run, one of each in turn: time to first message"
                  " added over the fake directly")
            pp50, pp99 = (px["first_p50_us"] - dr["first_p50_us"], px["first_p99_us"] - dr["first_p99_us"])
            mp50, mp99 = (mg["first_p50_us"] - dr["first_p50_us"], mg["first_p99_us"] - dr["first_p99_us"])
            _row("nginx proxy_pass of the fake's SSE adds", px["n"], pp50, pp99)
            _row("Mangoo, a plain chat turn (no tools) adds", mg["n"], mp50, mp99)
            print("  the tool round trip, p50 / p99: %s / %s of a plain chat turn's own overhead, "
                  "%s / %s nginx proxy_pass's"
                  % (_ratio(a["gap_p50_us"], mp50), _ratio(a["gap_p99_us"], mp99),
                     _times(_div(a["gap_p50_us"], pp50)), _times(_div(a["gap_p99_us"], pp99))))
            print("  whole turns, request -> done (us): agent p50 %s p99 %s; plain chat turn p50 %s"
                  " p99 %s" % (_f(a["done_p50_us"]), _f(a["done_p99_us"]), _f(mg["done_p50_us"]),
                               _f(mg["done_p99_us"])))
    if sub:
        s, o = sub["targets"]["same"], sub["targets"]["other"]
        print("\nsub-agent: a boss whose only tool is a specialist (no tools, a short answer),"
              " %d turns of each, in turn (us)" % s["n"])
        print("  %-46s %9s %9s %11s %11s" % ("", "turn p50", "turn p99", "call p50", "call p99"))
        for label, x in (("specialist on the calling worker process", s),
                         ("specialist on another worker process", o)):
            print("  %-46s %9s %9s %11s %11s%s" % (
                label, _f(x["done_p50_us"]), _f(x["done_p99_us"]), _f(x["gap_p50_us"]),
                _f(x["gap_p99_us"]), "  (%d errors)" % x["errors"] if x["errors"] else ""))
        if s["done_p50_us"] is not None and o["done_p50_us"] is not None:
            print("  %-46s %9.0f %9.0f %11s %11s" % (
                "another worker process adds", o["done_p50_us"] - s["done_p50_us"],
                o["done_p99_us"] - s["done_p99_us"],
                _f(_sub(o["gap_p50_us"], s["gap_p50_us"])), _f(_sub(o["gap_p99_us"], s["gap_p99_us"]))))
        print("  (turn: the client's request -> `done` event; call: the sub-agent call as the boss's"
              " model sees it, its toolUse out -> the toolResult in, measured in the fake)")
        w = _load(d, "subagent-runs")
        if w:
            print("  (where the specialists ran, by the workers' agent.run logs, warm-up included:"
                  " 'other' %d on its own worker process, %d on the calling ones; 'same' %d on the"
                  " calling ones, %d on the other)" % (w["other_own"], w["other_calling"],
                                                       w["same_calling"], w["same_own"]))
    if hp or ha:
        print("\nagent runs held open at once, fresh processes each: each run past its tool call,"
              " in its second step, streaming")
        print("  %-22s %9s %7s %7s %10s %12s %10s %8s" % (
            "", "requested", "open", "failed", "nginx KiB", "workers KiB", "total KiB", "ramp s"))
        for label, r in (("plain chat turns", hp), ("agent turns", ha)):
            if r is None:
                continue
            g = r["groups"]
            total = sum((g.get(n) or {}).get("hold_kib", 0) - (g.get(n) or {}).get("idle_kib", 0)
                        for n in ("nginx", "workers"))
            print("  %-22s %9d %7d %7d %10s %12s %10s %8.1f%s" % (
                label, r["requested"], r["open"], sum(r["failures"].values()),
                _f((g.get("nginx") or {}).get("per_stream_kib"), 2),
                _f((g.get("workers") or {}).get("per_stream_kib"), 2),
                _f(total / r["open"] if r["open"] else None, 2), r["all_started_s"],
                "  " + json.dumps(r["failures"]) if r["failures"] else ""))
        if hp and ha and hp["open"] and ha["open"]:
            tot = []
            for r in (hp, ha):
                g = r["groups"]
                tot.append(sum((g.get(n) or {}).get("hold_kib", 0) - (g.get(n) or {}).get("idle_kib", 0)
                               for n in ("nginx", "workers")) / r["open"])
            print("  an agent run holds %.2f KiB more than a plain chat stream (nginx + workers)"
                  % (tot[1] - tot[0]))
        print("  (KiB per open run: (VmRSS holding - VmRSS idle) / open runs, nginx master and"
              " workers summed; kernel socket buffers not included)")
        if any(r is not None and r["open"] < r["requested"] for r in (hp, ha)):
            print("  NOT ALL HELD AT ONCE: the first runs ended before the last started (a busy"
                  " machine's slow ramp); the figures above are over the open ones only")
    return 0


def _sub(a, b):
    return None if a is None or b is None else a - b


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("turns", help="chat turns, sequential in turn or concurrent")
    p.add_argument("url", nargs="+")
    p.add_argument("--names", help="comma-separated names of the URLs, for the result")
    p.add_argument("--bodies", action="append", default=[], metavar="JSON",
                   help="one request body a URL, in order; @N@ becomes a unique number")
    p.add_argument("-H", "--header", action="append", default=[], help="'Name: value'")
    p.add_argument("-n", type=int, default=300, help="measured turns a URL")
    p.add_argument("-c", type=int, default=1, help="concurrent connections (one URL)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--first", type=int, help="the first number for @N@")
    p.add_argument("--fake", help="the fake model's base URL, for its tool round trips")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--out", help="write the result as JSON to this file")

    p = sub.add_parser("report", help="summary of a bench_agents results directory")
    p.add_argument("dir")

    args = ap.parse_args(argv)
    if args.cmd == "report":
        return cmd_report(args)
    res = cmd_turns(args)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
