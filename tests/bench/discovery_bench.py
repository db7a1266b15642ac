#!/usr/bin/env python3
"""Worker discovery benchmark, used by `auto-build.sh bench-discovery`:
how long after a DNS change nginx (mangoo_workers ... resolve) starts
giving jobs to a worker that was added, and stops giving them to one that
was removed, at the shipped interval (5s) and at 1s.

It starts its own stack through the e2e harness (tests/e2e): Postgres, a
worker, nginx, and a second nginx instance that finds two more workers by
a name that Debian's dnsmasq answers.  A client sends one request every
10 ms, and each request's worker is read from the access log.

  discovery_bench.py [--trials N] [--intervals 5s,1s]
"""

import argparse
import json
import os
import random
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

from harness import Stack, _free_ports  # noqa: E402
from dns_server import DnsServer  # noqa: E402
from stream_bench import percentile  # noqa: E402

NAME = "workers.mangoo.test"
A, C = "127.0.0.2", "127.0.0.3"


class AccessLog:
    """The instance's access log, read on from where it was last read."""

    def __init__(self, path):
        self.f = open(path)
        self.f.seek(0, os.SEEK_END)

    def workers(self):
        return [json.loads(l).get("worker") for l in self.f.read().splitlines() if l]


def measure(inst, token, log, until):
    """Seconds from now until the worker of some request answered after
    now makes until(worker) true (a request every 10 ms)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        r = inst.request("GET", "/api/v1/bots", token=token)
        if r.status != 200:
            raise RuntimeError("request failed: %r" % r)
        if any(until(w) for w in log.workers()):
            return time.monotonic() - t0
        time.sleep(0.01)
    raise RuntimeError("no change within 60 s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--intervals", default="5s,1s")
    args = ap.parse_args()

    stack = Stack(workers=1).start()
    dns = None
    try:
        dns = DnsServer(stack.state, NAME).start()
        port = _free_ports(1)
        ep = {a: "tcp://%s:%d" % (a, port) for a in (A, C)}
        for i, a in enumerate((A, C)):
            stack.start_worker(10 + i, env={"MANGOO_WORKER_BIND": ep[a]})
        token = stack.token(sub="bench-discovery")
        print("discovery: a request every 10 ms; time from the DNS change to the "
              "first request served by an added worker, and to the last one "
              "sent to a removed one")
        for interval in args.intervals.split(","):
            dns.set([A])
            inst = stack.start_nginx("bench-" + interval, nginx_workers=2, env={
                "MANGOO_WORKER_ENDPOINTS": "tcp://%s:%d resolve" % (NAME, port),
                "MANGOO_RESOLVER": "127.0.0.1:%d ipv6=off" % dns.port,
                "MANGOO_RESOLVE_INTERVAL": interval,
            })
            log = AccessLog(os.path.join(inst.state, "nginx-access.log"))
            added, removed = [], []
            period = float(interval[:-2]) / 1000 if interval.endswith("ms") else float(interval[:-1])
            for _ in range(args.trials):
                # changes come at any moment of nginx's interval
                time.sleep(random.uniform(0, period))
                dns.set([A, C])
                log.workers()
                added.append(measure(inst, token, log, lambda w: w == ep[C]))
                time.sleep(random.uniform(0, period))
                dns.set([A])
                log.workers()
                # removed: once a run of 200 ms sends nothing to C
                t0 = time.monotonic()
                last_c = t0
                while time.monotonic() - last_c < 0.2:
                    inst.request("GET", "/api/v1/bots", token=token)
                    if ep[C] in log.workers():
                        last_c = time.monotonic()
                    time.sleep(0.01)
                removed.append(last_c - t0)
            inst.stop()
            for what, xs in (("added, serving after", added), ("removed, last job after", removed)):
                xs = sorted(x * 1000 for x in xs)
                print("  interval %-4s %-24s p50 %6.0f ms  max %6.0f ms  (%d trials)"
                      % (interval, what, percentile(xs, 50), xs[-1], len(xs)))
    finally:
        if dns is not None:
            dns.stop()
        stack.stop()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
