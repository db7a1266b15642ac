#!/usr/bin/env python3
"""Published bots benchmark, used by `auto-build.sh bench-published`.

1. What checking an API key costs: requests/s of a published bot's JSON
   endpoint (POST /api/v1/published/{bot}/chat, X-API-Key) against the
   same answer asked for with a user's token (POST /api/v1/chat), and
   nginx's own return 200, all with wrk in the same run on the same stack;
   and the key's check in nginx alone (a key sent to another bot's path is
   refused there, 403, after the same hashing, cache lookup and compare).
2. How long a revoked key goes on working: a client sends requests back
   to back through two nginx instances (two processes each, every one of
   them holding the key in its cache); the key is revoked; the figure is
   the time from the revocation's answer to the first refusal, and the
   number of requests that still passed after it (the worker checks every
   published request against the database, so this should be none).

It starts its own stack through the e2e harness (tests/e2e): Postgres, two
worker processes with the offline model answering without delay (so the
platform's part is what is measured), nginx and a second instance.

  published_bench.py [--seconds 10] [--conn 32] [--rounds 20]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

from harness import Stack  # noqa: E402
from stream_bench import percentile  # noqa: E402
from test_published import raw_call  # noqa: E402

BASELINE = "        location = /__baseline { return 200 \"ok\"; }"


def wrk(url, seconds, conn, headers=(), body=None):
    script = None
    args = ["wrk", "-t2", "-c%d" % conn, "-d%ds" % seconds, "--latency"]
    for h in headers:
        args += ["-H", h]
    if body is not None:
        fd, script = tempfile.mkstemp(suffix=".lua")
        with os.fdopen(fd, "w") as f:
            f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                    "wrk.body = %s\n" % json.dumps(json.dumps(body)))
        args += ["-s", script]
    try:
        out = subprocess.run(args + [url], check=True, stdout=subprocess.PIPE, text=True).stdout
    finally:
        if script:
            os.unlink(script)
    rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M).group(1))
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, p99, int(bad.group(1)) if bad else 0


def throughput(stack, seconds, conn):
    token = stack.token(sub="bench-publisher", groups=["publishers"])
    r = stack.request("POST", "/api/v1/bots", token=token,
                      body={"name": "bench", "model_id": "local", "instructions": "Be brief."})
    bot = r.json()["id"]
    r = stack.request("POST", "/api/v1/bots/%s/api-keys" % bot, token=token,
                      body={"name": "bench", "rate_per_second": 1000, "burst": 10000})
    key = r.json()["key"]
    other_bot = stack.request("POST", "/api/v1/bots", token=token,
                              body={"name": "other", "model_id": "local"}).json()["id"]
    base = "http://127.0.0.1:%d" % stack.port
    question = {"message": "hello there"}
    wrk(base + "/api/v1/published/%s/chat" % bot, 2, conn, ["X-API-Key: " + key], question)
    rows = [("return-200", wrk(base + "/__baseline", seconds, conn)),
            ("published+key", wrk(base + "/api/v1/published/%s/chat" % bot, seconds, conn,
                                  ["X-API-Key: " + key], question)),
            ("chat+token", wrk(base + "/api/v1/chat", seconds, conn,
                               ["Authorization: Bearer " + token],
                               dict(question, bot_id=bot))),
            # the key's whole check in nginx alone: cached, then refused
            # there (another bot's path: 403), no worker involved
            ("key-check-only", wrk(base + "/api/v1/published/%s/chat" % other_bot, seconds,
                                   conn, ["X-API-Key: " + key], question))]
    print("%-16s %12s %10s %8s" % ("endpoint", "requests/s", "p99", "non-2xx"))
    for name, (rps, p99, bad) in rows:
        print("%-16s %12.0f %10s %8d" % (name, rps, p99, bad))
    base_rps, key_rps, token_rps = rows[0][1][0], rows[1][1][0], rows[2][1][0]
    print("published JSON with a key: %.1f%% of the same answer with a user's token, "
          "%.1f%% of return 200" % (100 * key_rps / token_rps, 100 * key_rps / base_rps))
    print("an API key checked (SHA-256, cache, bot) and refused in nginx alone: %.1f%% of "
          "return 200" % (100 * rows[3][1][0] / base_rps))


def revocations(stack, other, rounds):
    token = stack.token(sub="bench-revoker", groups=["publishers"])
    bot = stack.request("POST", "/api/v1/bots", token=token,
                        body={"name": "revoke", "model_id": "local"}).json()["id"]
    delays, passed_after = [], 0
    ports = (stack.port, other.port)
    for _ in range(rounds):
        made = stack.request("POST", "/api/v1/bots/%s/api-keys" % bot, token=token,
                             body={"name": "r", "rate_per_second": 1000,
                                   "burst": 10000}).json()
        for port in ports:
            for _ in range(8):                  # warm every process's cache
                raw_call(port, bot, made["key"])
        revoked_at = [None]
        first_refusal = [None]
        after = [0]
        stop = threading.Event()

        def hammer(port):
            while not stop.is_set():
                sent = time.monotonic()
                status, _ = raw_call(port, bot, made["key"])
                now = time.monotonic()
                if revoked_at[0] is not None and sent > revoked_at[0]:
                    if status == 200:
                        after[0] += 1
                    elif first_refusal[0] is None:
                        first_refusal[0] = now
                        stop.set()

        threads = [threading.Thread(target=hammer, args=(p,)) for p in ports]
        for t in threads:
            t.start()
        time.sleep(0.2)
        r = stack.request("DELETE", "/api/v1/bots/%s/api-keys/%s" % (bot, made["id"]),
                          token=token)
        assert r.status == 200, r
        revoked_at[0] = time.monotonic()
        stop.wait(10)
        stop.set()
        for t in threads:
            t.join()
        delays.append(first_refusal[0] - revoked_at[0])
        passed_after += after[0]
    print("revoke -> first refusal over %d revocations (2 nginx instances x 2 processes): "
          "p50 %.1f ms, max %.1f ms; requests sent after the revocation that still passed: %d"
          % (rounds, 1000 * percentile(delays, 50), 1000 * max(delays), passed_after))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--conn", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=20)
    a = ap.parse_args()
    stack = Stack(workers=2, extra_locations=BASELINE,
                  env={"MANGOO_ACCESS_LOG": "off", "MANGOO_LOG_JOBS": "off",
                       # answers at once: what is measured is the platform's
                       # part, not the offline model's pacing
                       "MANGOO_LOCAL_DELAY_MS": "0"}).start()
    try:
        other = stack.start_nginx("other", nginx_workers=2)
        print("\nMangoo published-bot bench: %d cores, wrk -t2 -c%d -d%ds, 2 worker processes"
              % (os.cpu_count(), a.conn, a.seconds))
        throughput(stack, a.seconds, a.conn)
        revocations(stack, other, a.rounds)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
