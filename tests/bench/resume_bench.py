#!/usr/bin/env python3
"""Resumable streams benchmark, used by `auto-build.sh bench-resume`: how
long a client that lost its connection waits, from sending
GET /api/v1/chats/{id}/stream with Last-Event-ID, for its first missed
event, through the nginx instance that served the answer and through
another one (the module asks each worker in turn).  The baseline, measured
in the same run on the same stack: a new turn's time to its first event
(POST /api/v1/chat/stream).

It starts its own stack through the e2e harness (tests/e2e): Postgres, two
worker processes with the offline model, nginx and a second nginx
instance.  CLIENTS threads each run ROUNDS turns: read DROP_AFTER events,
close, wait GAP_MS (the model goes on: the first event the resume gets is
one it missed, from the replay buffer, not the next one the model writes),
resume, read to the end (every event once, checked).

  resume_bench.py [--clients 16] [--rounds 20] [--drop-after 5] [--gap-ms 200]
"""

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

from harness import Stack  # noqa: E402
from sse_client import SseStream  # noqa: E402
from stream_bench import percentile  # noqa: E402

QUESTION = " ".join("w%d" % i for i in range(30))


def turn(stack, port, token, bot, drop_after, gap, out):
    t0 = time.monotonic()
    s = SseStream(stack.port, "/api/v1/chat/stream", {"bot_id": bot, "message": QUESTION},
                  token=token)
    first = s.next()
    out["ttfe"].append(time.monotonic() - t0)
    seen = [first]
    while len(seen) < drop_after:
        seen.append(s.next())
    s.close()
    chat = first.json()["chat_id"]
    time.sleep(gap)
    t0 = time.monotonic()
    r = SseStream(port, "/api/v1/chats/%s/stream" % chat, token=token, method="GET",
                  headers={"Last-Event-ID": seen[-1].id})
    e = r.next()
    out["resume"].append(time.monotonic() - t0)
    rest = [e] + r.events()
    r.close()
    ids = [int(x.id) for x in seen + rest]
    if ids != list(range(1, len(ids) + 1)) or rest[-1].type != "done":
        out["bad"] += 1


def run(stack, port, token, bot, clients, rounds, drop_after, gap):
    out = {"ttfe": [], "resume": [], "bad": 0}
    errors = []

    def client():
        try:
            for _ in range(rounds):
                turn(stack, port, token, bot, drop_after, gap, out)
        except Exception as e:      # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out, errors


def ms(v):
    return "%.1f ms" % (v * 1000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--drop-after", type=int, default=5)
    ap.add_argument("--gap-ms", type=int, default=200)
    a = ap.parse_args()

    stack = Stack(workers=2, threads=4, timeout="10s",
                  env={"MANGOO_LOCAL_DELAY_MS": "20"}).start()
    try:
        other = stack.start_nginx("other", nginx_workers=2)
        token = stack.token("resume-bench")
        r = stack.request("POST", "/api/v1/bots", {"name": "bench", "model_id": "local"},
                          token=token)
        bot = r.json()["id"]
        print("resume bench: %d clients x %d turns, each dropped after %d events and "
              "resumed %d ms later, offline model 20 ms a piece, 2 worker processes" %
              (a.clients, a.rounds, a.drop_after, a.gap_ms))
        failed = 0
        for name, port in (("same nginx", stack.port), ("other nginx", other.port)):
            out, errors = run(stack, port, token, bot, a.clients, a.rounds, a.drop_after,
                              a.gap_ms / 1000.0)
            failed += out["bad"] + len(errors)
            print("  %-11s  new turn, first event p50 %s p99 %s | resume, first missed "
                  "event p50 %s p99 %s (x%.2f of a new turn's p50) | %d resumed, %d wrong, "
                  "%d failed%s" % (
                      name, ms(percentile(out["ttfe"], 50)), ms(percentile(out["ttfe"], 99)),
                      ms(percentile(out["resume"], 50)), ms(percentile(out["resume"], 99)),
                      percentile(out["resume"], 50) / percentile(out["ttfe"], 50),
                      len(out["resume"]), out["bad"], len(errors),
                      (": " + errors[0]) if errors else ""))
        return 1 if failed else 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
