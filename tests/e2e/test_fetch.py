"""End-to-end tests of the knowledge base's URL fetcher and its address
guard (worker/knowledge/fetch.c), through `mangoo-worker fetch URL`
against real sockets, without the rest of the stack.

Traffic: every request here goes to 127.0.0.1 (page_server.py).  The
forbidden addresses (169.254.169.254, 10.0.0.1, 192.168.1.1, ...) are
refused when libcurl asks for a socket, before any socket exists, so
nothing is sent to them (test_no_socket_is_opened_for_forbidden_addresses
checks that with strace where it is installed); the http_proxy variables
point at a local canary that must never be asked; only IP literals and
"localhost" (resolved by libcurl itself) are used, so there is no DNS.

Run: python3 tests/e2e/run.py test_fetch.py
"""

import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD  # noqa: E402
import page_server  # noqa: E402

if os.environ.get("MANGOO_SANITIZE") == "1" and os.path.exists(
        os.path.join(BUILD, "asan", "mangoo-worker")):
    WORKER = os.path.join(BUILD, "asan", "mangoo-worker")
else:
    WORKER = os.path.join(BUILD, "mangoo-worker")

LIMIT = 100000          # MANGOO_FETCH_MAX_BYTES for these tests
TYPES = "text/html, text/plain, text/markdown or application/pdf"

server = None           # the pages
canary = None           # what the http_proxy variables name: must stay unasked
proxy = None            # MANGOO_FETCH_PROXY, for the tests that set it


def setUpModule():
    global server, canary, proxy
    server = page_server.PageServer().start()
    canary = page_server.PageServer(proxy_mode=True).start()
    proxy = page_server.PageServer(proxy_mode=True).start()


def tearDownModule():
    for s in (server, canary, proxy):
        if s is not None:
            s.stop()


class Result:
    def __init__(self, proc, elapsed):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.elapsed = elapsed

    def __repr__(self):
        return "<rc=%d out=%r err=%r %.2fs>" % (self.rc, self.out, self.err, self.elapsed)


def fetch(url, allow=None, strace=None, **env):
    """Run `mangoo-worker fetch url` with this test's settings."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("MANGOO_FETCH_")}
    canary_url = "http://127.0.0.1:%d" % canary.port
    e.update(http_proxy=canary_url, https_proxy=canary_url, all_proxy=canary_url,
             HTTPS_PROXY=canary_url, ALL_PROXY=canary_url, no_proxy="", NO_PROXY="",
             MANGOO_FETCH_MAX_BYTES=str(LIMIT), MANGOO_LOG_LEVEL="warn")
    e.pop("MANGOO_CA_FILE", None)
    if allow is not None:
        e["MANGOO_FETCH_ALLOW"] = allow
    e.update(env)
    argv = [WORKER, "fetch", url]
    if strace is not None:
        argv = ["strace", "-f", "-o", strace, "-e", "trace=socket,connect,sendto,sendmsg"] + argv
    start = time.monotonic()
    proc = subprocess.run(argv, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60)
    return Result(proc, time.monotonic() - start)


class FetchTestCase(unittest.TestCase):
    def setUp(self):
        self.seen = len(server.requests())

    def tearDown(self):
        # whatever a test did, no environment proxy was ever used
        self.assertEqual(canary.requests(), [], "a request went to the http_proxy canary")

    def new_paths(self):
        return [r["path"] for r in server.requests()[self.seen:]]

    def assertFetched(self, r, ctype, size):
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out, "%s %d\n" % (ctype, size), r)

    def assertRefused(self, r, message):
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.out, "", r)
        self.assertIn(message, r.err, r)
        self.assertTrue(r.err.startswith("mangoo-worker: fetch: "), r)


class GuardTest(FetchTestCase):
    """No allow-list: every local and internal address is refused."""

    def test_loopback_refused(self):
        r = fetch(server.url("/page.html"))
        self.assertRefused(r, "the address 127.0.0.1 is loopback and may not be fetched")
        self.assertEqual(self.new_paths(), [], "the local server was reached")

    def test_name_resolving_to_loopback_refused(self):
        for host in ("localhost", "pages.localhost"):
            r = fetch(server.url("/page.html", host=host))
            self.assertRefused(r, "is loopback and may not be fetched")
            self.assertRegex(r.err, r"the address (127\.0\.0\.1|::1) is loopback")
        self.assertEqual(self.new_paths(), [])

    def test_ipv6_loopback_refused(self):
        r = fetch(server.url("/page.html", host="[::1]"))
        self.assertRefused(r, "the address ::1 is loopback and may not be fetched")

    def test_other_spellings_of_loopback_refused(self):
        """The check is on the address connected to, not on the URL's text."""
        cases = {
            "2130706433": "the address 127.0.0.1 is loopback",
            "0x7f000001": "the address 127.0.0.1 is loopback",
            "0177.0.0.1": "the address 127.0.0.1 is loopback",
            "127.1": "the address 127.0.0.1 is loopback",
            "[::ffff:127.0.0.1]": "the address ::ffff:127.0.0.1 (IPv4-mapped 127.0.0.1) is loopback",
            "0.0.0.0": "the address 0.0.0.0 is unspecified",
            "[::]": "the address :: is unspecified",
        }
        for host, message in cases.items():
            with self.subTest(host=host):
                self.assertRefused(fetch(server.url("/page.html", host=host)), message)
        self.assertEqual(self.new_paths(), [], "the local server was reached")

    def test_cloud_metadata_refused_without_connecting(self):
        for url, message in (
            ("http://169.254.169.254/latest/meta-data/",
             "the address 169.254.169.254 is a cloud metadata service and may not be fetched"),
            ("http://[fd00:ec2::254]/latest/meta-data/",
             "the address fd00:ec2::254 is a cloud metadata service and may not be fetched"),
            ("http://[::ffff:169.254.169.254]/latest/meta-data/",
             "(IPv4-mapped 169.254.169.254) is a cloud metadata service"),
            ("http://100.100.100.200/latest/meta-data/",
             "the address 100.100.100.200 is a cloud metadata service"),
        ):
            with self.subTest(url=url):
                r = fetch(url)
                self.assertRefused(r, message)
                # refused at socket-open: no connect to wait for
                self.assertLess(r.elapsed, 3.0, r)

    def test_private_refused_without_connecting(self):
        for host in ("10.0.0.1", "192.168.1.1", "172.16.0.1", "100.64.0.1"):
            with self.subTest(host=host):
                r = fetch("http://%s/" % host)
                self.assertRefused(r, "the address %s is private and may not be fetched" % host)
                self.assertLess(r.elapsed, 3.0, r)

    def test_link_local_and_unique_local_refused(self):
        self.assertRefused(fetch("http://169.254.1.1/"),
                           "the address 169.254.1.1 is link-local and may not be fetched")
        self.assertRefused(fetch("http://[fe80::1]/"),
                           "the address fe80::1 is link-local and may not be fetched")
        self.assertRefused(fetch("http://[fd12:3456::1]/"),
                           "the address fd12:3456::1 is unique local (private)")
        self.assertRefused(fetch("http://224.0.0.1/"), "the address 224.0.0.1 is multicast")

    def test_only_http_and_https(self):
        self.assertRefused(fetch("ftp://127.0.0.1:%d/file" % server.port),
                           "only http and https URLs may be fetched, not ftp")
        self.assertRefused(fetch("file:///etc/hostname"),
                           "only http and https URLs may be fetched, not file")
        self.assertRefused(fetch("gopher://127.0.0.1:%d/" % server.port), "not gopher")
        self.assertRefused(fetch("not a url"), "the URL is not valid")
        self.assertRefused(fetch("http://127.0.0.1/" + "a" * 2100),
                           "the URL is longer than 2048 characters")
        self.assertEqual(self.new_paths(), [])

    @unittest.skipUnless(shutil.which("strace"), "strace is not installed")
    def test_no_socket_is_opened_for_forbidden_addresses(self):
        """The guard's premise, checked on the system calls: a refused
        address never gets a socket, let alone a connect()."""
        trace = os.path.join(os.environ.get("TMPDIR", "/tmp"), "mangoo-fetch-%d.strace" % os.getpid())
        try:
            for url in ("http://169.254.169.254/latest/meta-data", "http://10.0.0.1/",
                        "http://[fd00:ec2::254]/", server.url("/page.html", host="localhost"),
                        server.url("/to-metadata")):
                with self.subTest(url=url):
                    allow = "127.0.0.1/32" if "to-metadata" in url else None
                    r = fetch(url, allow=allow, strace=trace)
                    self.assertEqual(r.rc, 1, r)
                    with open(trace) as f:
                        calls = f.read()
                    connects = re.findall(r"connect\(\d+, \{sa_family=AF_INET6?, [^}]*\}", calls)
                    for c in connects:
                        # only the allowed local server may have been connected to
                        self.assertIn('inet_addr("127.0.0.1")', c, calls)
                        self.assertIn("htons(%d)" % server.port, c, calls)
                    self.assertEqual(len(connects), 1 if allow else 0, calls)
        finally:
            if os.path.exists(trace):
                os.unlink(trace)

    def test_bad_settings_refuse_to_start(self):
        for env, message in (
            ({"MANGOO_FETCH_ALLOW": "127.0.0.1/33"}, 'MANGOO_FETCH_ALLOW: "127.0.0.1/33" has a prefix longer than 32'),
            ({"MANGOO_FETCH_ALLOW": "10.0.0.1/8"}, "MANGOO_FETCH_ALLOW: \"10.0.0.1/8\" has bits set past its prefix"),
            ({"MANGOO_FETCH_ALLOW": "127.0.0.1/32,localhost"}, "MANGOO_FETCH_ALLOW: \"localhost\" is not an IP address"),
            ({"MANGOO_FETCH_MAX_BYTES": "0"}, "MANGOO_FETCH_MAX_BYTES must be an integer between"),
            ({"MANGOO_FETCH_TIMEOUT": "soon"}, "MANGOO_FETCH_TIMEOUT must be an integer between"),
        ):
            with self.subTest(env=env):
                r = fetch(server.url("/page.html"), **env)
                self.assertEqual(r.rc, 2, r)
                self.assertIn(message, r.err, r)
        self.assertEqual(self.new_paths(), [])

    def test_bad_allow_list_stops_serve_at_start(self):
        e = {k: v for k, v in os.environ.items() if not k.startswith("MANGOO_FETCH_")}
        e["MANGOO_FETCH_ALLOW"] = "127.0.0.1/32, 10.0.0.0/33"
        proc = subprocess.run([WORKER, "serve", "--no-migrate", "--bind", "tcp://127.0.0.1:1",
                               "--db", "dbname=mangoo_fetch_test_none", "--threads", "1"],
                              env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=30)
        self.assertEqual(proc.returncode, 2, proc)
        self.assertIn('MANGOO_FETCH_ALLOW: "10.0.0.0/33" has a prefix longer than 32', proc.stderr)


class AllowedTest(FetchTestCase):
    """MANGOO_FETCH_ALLOW=127.0.0.1/32: the local server may be fetched,
    and everything else is still guarded, redirects included."""

    ALLOW = "127.0.0.1/32"

    def get(self, path, **env):
        return fetch(server.url(path), allow=self.ALLOW, **env)

    def test_fetched_with_type_and_size(self):
        self.assertFetched(self.get("/page.html"), "text/html", len(page_server.HTML))
        self.assertFetched(self.get("/plain"), "text/plain", len(page_server.TEXT))
        self.assertFetched(self.get("/notes.md"), "text/markdown", len(page_server.MARKDOWN))
        self.assertFetched(self.get("/doc.pdf"), "application/pdf", len(page_server.PDF))
        self.assertFetched(self.get("/empty"), "text/plain", 0)
        reqs = server.requests()[self.seen:]
        self.assertEqual([r["path"] for r in reqs],
                         ["/page.html", "/plain", "/notes.md", "/doc.pdf", "/empty"])
        self.assertEqual(reqs[0]["headers"].get("user-agent"), "Mangoo/1.0 (knowledge fetcher)")

    def test_allow_list_is_per_address(self):
        # localhost: ::1 is not allowed, 127.0.0.1 is, and is used
        self.assertFetched(fetch(server.url("/page.html", host="localhost"), allow=self.ALLOW),
                           "text/html", len(page_server.HTML))
        self.assertRefused(fetch(server.url("/page.html", host="[::1]"), allow=self.ALLOW),
                           "the address ::1 is loopback")
        self.assertRefused(fetch(server.url("/page.html", host="127.0.0.2"), allow=self.ALLOW),
                           "the address 127.0.0.2 is loopback")
        self.assertEqual(self.new_paths(), ["/page.html"])

    def test_redirect_to_metadata_refused(self):
        r = self.get("/to-metadata")
        self.assertRefused(r, "the address 169.254.169.254 is a cloud metadata service "
                              "and may not be fetched")
        self.assertEqual(self.new_paths(), ["/to-metadata"])

    def test_redirect_to_private_refused(self):
        r = self.get("/to-private")
        self.assertRefused(r, "the address 10.0.0.1 is private and may not be fetched")
        self.assertEqual(self.new_paths(), ["/to-private"])

    def test_redirect_to_unallowed_loopback_refused(self):
        self.assertRefused(self.get("/to-ipv6-loopback"), "the address ::1 is loopback")
        self.assertEqual(self.new_paths(), ["/to-ipv6-loopback"])

    def test_redirect_to_other_schemes_refused(self):
        self.assertRefused(self.get("/to-ftp"), "redirected to a URL that is not http or https")
        self.assertRefused(self.get("/to-file"), "redirected to a URL that is not http or https")
        self.assertEqual(self.new_paths(), ["/to-ftp", "/to-file"])

    def test_at_most_five_redirects(self):
        self.assertFetched(self.get("/hops/5"), "text/plain", len(page_server.TEXT))
        self.assertEqual(self.new_paths(), ["/hops/%d" % i for i in range(5, -1, -1)])
        self.seen = len(server.requests())
        self.assertRefused(self.get("/hops/6"), "the page redirected more than 5 times")
        self.assertEqual(self.new_paths(), ["/hops/%d" % i for i in range(6, 0, -1)])

    def test_size_limit(self):
        self.assertFetched(self.get("/exact/%d" % LIMIT), "text/plain", LIMIT)
        too_big = "the page is larger than the limit of %d bytes" % LIMIT
        # with an honest Content-Length, without one, and chunked
        self.assertRefused(self.get("/declared/%d" % (LIMIT + 1)), too_big)
        self.assertRefused(self.get("/undeclared/%d" % (LIMIT + 1)), too_big)
        self.assertRefused(self.get("/chunked/%d" % (LIMIT * 3)), too_big)
        self.assertFetched(self.get("/undeclared/%d" % LIMIT), "text/plain", LIMIT)

    def test_wrong_type_refused_before_the_body(self):
        r = self.get("/binary")
        self.assertRefused(r, "the page's type is application/octet-stream, not " + TYPES)
        # abandoned at the headers: not the size limit's message, and the
        # server could not send its 20 MB
        sent = server.aborted("/binary")
        self.assertIsNotNone(sent, "the client read the whole body")
        self.assertLess(sent, page_server.BINARY_TOTAL)
        self.assertRefused(self.get("/image"), "the page's type is image/png, not " + TYPES)
        self.assertRefused(self.get("/no-type"), "the server did not say what type the page is")

    def test_error_status_refused(self):
        self.assertRefused(self.get("/missing"), "the server answered HTTP 404")

    def test_slow_server_times_out(self):
        r = self.get("/trickle", MANGOO_FETCH_TIMEOUT="2")
        self.assertRefused(r, "the page did not arrive within 2 seconds")
        self.assertGreater(r.elapsed, 1.5, r)
        self.assertLess(r.elapsed, 10, r)

    def test_proxy_only_when_configured(self):
        proxied = "http://127.0.0.1:%d" % proxy.port
        seen = len(proxy.requests())
        # MANGOO_FETCH_PROXY set: the request goes to it (the .invalid host
        # is never resolved: the proxy would do that) ...
        r = fetch("http://pages.invalid/doc", allow=self.ALLOW, MANGOO_FETCH_PROXY=proxied)
        self.assertFetched(r, "text/plain", len(page_server.TEXT))
        self.assertEqual([x["path"] for x in proxy.requests()[seen:]], ["http://pages.invalid/doc"])
        # ... and the guard checks the connection to the proxy itself
        r = fetch("http://pages.invalid/doc", MANGOO_FETCH_PROXY=proxied)
        self.assertRefused(r, "the address 127.0.0.1 is loopback")
        self.assertEqual(len(proxy.requests()), seen + 1)


if __name__ == "__main__":
    unittest.main()
