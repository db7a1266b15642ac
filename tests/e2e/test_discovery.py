"""End-to-end tests of worker discovery through DNS: an nginx instance
configured with `mangoo_workers tcp://workers.mangoo.test:PORT resolve`
and a real DNS server (dnsmasq, dns_server.py) whose answer the tests
change while a load of API requests runs, as autoscaling would.

- every address of the name gets jobs;
- an address added to DNS serves within a few intervals, nothing fails;
- an address removed from DNS gets no new jobs, finishes the streams it
  has, and nginx closes its connection itself (the worker still runs);
- scale-in as ECS does it (deregistered, then SIGTERM) fails nothing;
- a DNS server that stops answering keeps the workers there are;
- NXDOMAIN leaves no worker (503), and the name coming back heals it;
- a lost connection makes nginx ask DNS again within a second or so, long
  before its interval.

Run: python3 tests/e2e/run.py test_discovery.py
"""

import os
import signal
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Load, Stack, _free_ports, alive  # noqa: E402
from dns_server import DnsServer  # noqa: E402
from sse_client import SseStream  # noqa: E402
import prometheus  # noqa: E402

NAME = "workers.mangoo.test"
A, B, C = "127.0.0.2", "127.0.0.3", "127.0.0.4"
SLOT = {A: 10, B: 11, C: 12}        # worker process numbers (pid/log files)
INTERVAL_MS = 300

stack = dns = inst = None
port = None


def setUpModule():
    global stack, dns, inst, port
    # streams that last a few seconds: the local model, 60 ms a piece
    stack = Stack(workers=1, timeout="10s", env={"MANGOO_LOCAL_DELAY_MS": "60"}).start()
    try:
        dns = DnsServer(stack.state, NAME).start()
        port = _free_ports(1)
        for a in (A, B):
            start_worker(a)
        dns.set([A, B])
        inst = stack.start_nginx("dns", nginx_workers=2, env=resolving_env("%dms" % INTERVAL_MS))
    except Exception:
        tearDownModule()
        raise


def tearDownModule():
    if dns is not None:
        dns.stop()
    if stack is not None:
        stack.stop()


def resolving_env(interval):
    return {
        "MANGOO_WORKER_ENDPOINTS": "tcp://%s:%d resolve" % (NAME, port),
        "MANGOO_RESOLVER": "127.0.0.1:%d ipv6=off" % dns.port,
        "MANGOO_RESOLVER_TIMEOUT": "1s",
        "MANGOO_RESOLVE_INTERVAL": interval,
    }


def endpoint(address):
    return "tcp://%s:%d" % (address, port)


def start_worker(address):
    stack.start_worker(SLOT[address], env={"MANGOO_WORKER_BIND": endpoint(address)})


def stop_worker(address, sig=signal.SIGTERM):
    pid = stack.worker_pid(SLOT[address])
    os.kill(pid, sig)
    stack.wait_for(lambda: not alive(pid), timeout=10, interval=0.05)
    os.unlink(os.path.join(stack.state, "worker-%d.pid" % SLOT[address]))


def worker_running(address):
    try:
        return alive(stack.worker_pid(SLOT[address]))
    except FileNotFoundError:
        return False


def connections(instance=None):
    """Connections from the instance's nginx processes to the name's
    addresses, from its /metrics."""
    r = (instance or inst).request("GET", "/metrics")
    assert r.status == 200, r
    fams = prometheus.parse(r.body.decode())
    return prometheus.value(fams, "mangoo_endpoint_connections",
                            worker="tcp://%s:%d" % (NAME, port))


def served_by(log, since):
    return {l["worker"] for l in log[since:] if l.get("worker")}


def users(n, prefix):
    tokens = []
    for _ in range(n):
        token = stack.token(sub="%s-%s" % (prefix, uuid.uuid4().hex[:8]))
        assert inst.request("GET", "/api/v1/users/me", token=token).status == 200
        tokens.append(token)
    return tokens


class Discovery(unittest.TestCase):

    def setUp(self):
        # each test starts from A and B in DNS, both running and connected
        for a in (A, B):
            if not worker_running(a):
                start_worker(a)
        dns.set([A, B])
        self.assertTrue(stack.wait_for(lambda: connections() == 4, timeout=20),
                        connections())

    def tearDown(self):
        if worker_running(C):
            dns.set([A, B])
            stop_worker(C)

    def test_every_address_of_the_name_serves(self):
        token = users(1, "spread")[0]
        since = len(inst.access_log())
        for _ in range(20):
            self.assertEqual(inst.request("GET", "/api/v1/bots", token=token).status, 200)
        self.assertEqual(served_by(inst.access_log(), since), {endpoint(A), endpoint(B)})

    def test_a_worker_added_to_dns_serves_under_load(self):
        tokens = users(3, "scale-out")
        start_worker(C)
        errors = len(inst.log_text("nginx-error.log"))
        with Load(inst.request, tokens) as load:
            since = len(inst.access_log())
            t0 = time.monotonic()
            dns.set([A, B, C])
            self.assertTrue(stack.wait_for(
                lambda: endpoint(C) in served_by(inst.access_log(), since), timeout=20))
            took = time.monotonic() - t0
            time.sleep(0.5)
        print("\n[figure] a worker added to DNS served its first request after %.0f ms "
              "(resolve interval %d ms)" % (took * 1000, INTERVAL_MS), file=sys.stderr)
        self.assertEqual(load.failures(), [])
        self.assertGreater(len(load.results), 20)
        # both nginx processes use it: three addresses each
        self.assertTrue(stack.wait_for(lambda: connections() == 6, timeout=10), connections())
        log = inst.log_text("nginx-error.log")[errors:]
        self.assertEqual(log.count('worker "%s" found in "%s"' % (endpoint(C), NAME)), 2, log[-2000:])

    def test_a_worker_removed_from_dns_finishes_its_streams_then_is_closed(self):
        token = users(1, "drain")[0]
        bot = inst.request("POST", "/api/v1/bots", {"name": "d", "model_id": "local"},
                           token=token).json()["id"]
        errors = len(inst.log_text("nginx-error.log"))
        # round robin in each nginx process: A holds some of them
        streams = [SseStream(inst.port, "/api/v1/chat/stream",
                             {"bot_id": bot, "message": "a long enough question %d" % i},
                             token=token) for i in range(6)]
        for s in streams:
            self.assertEqual(s.status, 200)
            self.assertEqual(s.next().type, "start")
        dns.set([B])
        # once both processes have looked again, A gets nothing new
        self.assertTrue(stack.wait_for(lambda: inst.log_text("nginx-error.log")[errors:].count(
            'worker "%s" is no longer in "%s"' % (endpoint(A), NAME)) == 2, timeout=10))
        later = set()
        for _ in range(10):
            r = inst.request("GET", "/api/v1/bots", token=token)
            self.assertEqual(r.status, 200)
            later.add(r.header("x-request-id"))
        answers = [s.events() for s in streams]
        for s in streams:
            s.close()
        for events in answers:
            self.assertEqual(events[-1].type, "done", events[-3:])
            self.assertGreater(len([e for e in events if e.type == "message"]), 5)
        # (the access log has a request once it ended: just after its answer)
        ids = {s.headers.get("x-request-id") for s in streams} | later
        self.assertTrue(stack.wait_for(lambda: len({l["request_id"] for l in inst.access_log()}
                                                   & ids) == len(ids), timeout=10))
        log = inst.access_log()
        self.assertIn(endpoint(A), {l["worker"] for l in log if l["request_id"] in ids - later})
        self.assertEqual({l["worker"] for l in log if l["request_id"] in later}, {endpoint(B)},
                         "a drained worker got new jobs")
        # its streams done, nginx closed it, though the worker still runs
        self.assertTrue(stack.wait_for(lambda: connections() == 2, timeout=10), connections())
        self.assertTrue(worker_running(A))

    def test_scale_in_with_sigterm_under_load_fails_nothing(self):
        tokens = users(3, "scale-in")
        with Load(inst.request, tokens, threads=6) as load:
            dns.set([A])            # deregistered, then stopped, as ECS does
            stop_worker(B)
            time.sleep(1.5)
        self.assertEqual(load.failures(), [])
        self.assertGreater(len(load.results), 30)
        self.assertTrue(stack.wait_for(lambda: connections() == 2, timeout=10), connections())

    def test_a_dns_server_that_stops_answering_keeps_the_workers(self):
        tokens = users(2, "dns-down")
        dns.stop()
        try:
            with Load(inst.request, tokens) as load:
                # several lookups time out (resolver_timeout 1s)
                self.assertTrue(stack.wait_for(
                    lambda: "keeping its 2 address(es)" in inst.log_text("nginx-error.log"),
                    timeout=15))
                time.sleep(1)
            self.assertEqual(load.failures(), [])
            self.assertEqual(connections(), 4)
        finally:
            dns.start()

    def test_nxdomain_leaves_no_worker_and_the_name_coming_back_heals(self):
        token = users(1, "nxdomain")[0]
        dns.set([])
        self.assertTrue(stack.wait_for(lambda: connections() == 0, timeout=10), connections())
        r = inst.request("GET", "/api/v1/bots", token=token)
        self.assertEqual(r.status, 503)
        self.assertEqual(r.json()["error"]["code"], "no_workers")
        self.assertEqual(r.header("retry-after"), "1")
        dns.set([A, B])
        self.assertTrue(stack.wait_for(
            lambda: inst.request("GET", "/api/v1/bots", token=token).status == 200, timeout=10))

    def test_a_lost_connection_makes_nginx_look_again_soon(self):
        # an interval far longer than the test: only the lost connection
        # can make this instance see C
        slow = stack.start_nginx("dns-slow", nginx_workers=1, env=resolving_env("600s"))
        try:
            token = users(1, "lost")[0]
            self.assertTrue(stack.wait_for(lambda: connections(slow) == 2, timeout=10))
            start_worker(C)
            dns.set([A, C])
            stop_worker(B, signal.SIGKILL)

            def c_serves():
                slow.request("GET", "/api/v1/bots", token=token)
                return endpoint(C) in served_by(slow.access_log(), 0)
            self.assertTrue(stack.wait_for(c_serves, timeout=10))
            self.assertTrue(stack.wait_for(lambda: connections(slow) == 2, timeout=10))
            since = len(slow.access_log())
            for _ in range(6):
                self.assertEqual(slow.request("GET", "/api/v1/bots", token=token).status, 200)
            self.assertEqual(served_by(slow.access_log(), since), {endpoint(A), endpoint(C)})
        finally:
            slow.stop()


if __name__ == "__main__":
    unittest.main()
