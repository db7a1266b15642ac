"""End-to-end tests of documents by URL (issue 9): POST
/api/v1/knowledge-bases/{id}/documents {"url": ...} through the real stack;
the ingest thread fetches the page (worker/knowledge/fetch.c) and indexes
it, or fails the document with the guard's reason.

One stack, with MANGOO_FETCH_ALLOW=127.0.0.1/32 so that the test's page
server (page_server.py, on 127.0.0.1) may be fetched; every other local
or internal address stays forbidden: 127.0.0.2 and [::1] (loopback, not
in the list), 10.0.0.1, 169.254.169.254, and a redirect from the allowed
server to the metadata address.  Those are refused when the worker asks
for a socket, so no traffic leaves loopback (test_fetch checks that
premise on the system calls).

Run: python3 tests/e2e/run.py test_knowledge_url.py
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402
import page_server  # noqa: E402

stack = None
server = None
TOKEN = None
KB = None


def setUpModule():
    global stack, server, TOKEN, KB
    server = page_server.PageServer().start()
    stack = Stack(workers=1, threads=2, timeout="10s", env={
        "MANGOO_FETCH_ALLOW": "127.0.0.1/32",
        "MANGOO_FETCH_TIMEOUT": "5",
    }).start()
    TOKEN = stack.token(sub="url-user")
    assert stack.request("GET", "/api/v1/users/me", token=TOKEN).status == 200
    r = stack.request("POST", "/api/v1/knowledge-bases", body={"name": "web pages"}, token=TOKEN)
    assert r.status == 201, r
    KB = r.json()["id"]


def tearDownModule():
    if stack is not None:
        stack.stop()
    if server is not None:
        server.stop()


def add_url(url):
    r = stack.request("POST", "/api/v1/knowledge-bases/%s/documents" % KB, body={"url": url},
                      token=TOKEN)
    return r


def wait_settled(doc, timeout=30):
    """The document once it is ready or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = stack.request("GET", "/api/v1/knowledge-bases/%s/documents/%s" % (KB, doc),
                          token=TOKEN)
        assert r.status == 200, r
        d = r.json()
        if d["status"] in ("ready", "failed"):
            return d
        assert d["status"] in ("queued", "processing"), d
        time.sleep(0.1)
    raise AssertionError("document %s still %s after %ss" % (doc, d["status"], timeout))


class DocumentsByUrl(unittest.TestCase):
    maxDiff = None

    def test_allowed_page_is_fetched_and_indexed(self):
        url = server.url("/page.html?case=ready")
        r = add_url(url)
        self.assertEqual(r.status, 202, r)
        d = r.json()
        self.assertEqual(d["source_url"], url)
        self.assertEqual(d["filename"], "page.html")
        self.assertEqual(d["status"], "queued")

        d = wait_settled(d["id"])
        self.assertEqual(d["status"], "ready", d)
        self.assertIsNone(d["error"])
        self.assertEqual(d["content_type"], "text/html")
        self.assertEqual(d["size_bytes"], len(page_server.HTML))
        self.assertGreaterEqual(d["chunk_count"], 1)

        got = [x for x in server.requests() if x["path"] == "/page.html?case=ready"]
        self.assertEqual(len(got), 1, server.paths())
        self.assertEqual(got[0]["headers"].get("user-agent"), "Mangoo/1.0 (knowledge fetcher)")

        # what the page said is searchable
        r = stack.request("POST", "/api/v1/knowledge-bases/%s/search" % KB,
                          body={"query": "zebra crossing stripes"}, token=TOKEN)
        self.assertEqual(r.status, 200, r)
        items = r.json()["items"]
        self.assertTrue(items, r.json())
        self.assertEqual(items[0]["document_id"], d["id"])
        self.assertIn("zebra crossing", items[0]["text"])

    def test_forbidden_addresses_fail_with_the_reason(self):
        cases = [
            ("http://169.254.169.254/latest/meta-data/",
             "the address 169.254.169.254 is a cloud metadata service and may not be fetched"),
            ("http://10.0.0.1/internal",
             "the address 10.0.0.1 is private and may not be fetched"),
            ("http://192.168.1.1/",
             "the address 192.168.1.1 is private and may not be fetched"),
            ("http://127.0.0.2:%d/page.html" % server.port,
             "the address 127.0.0.2 is loopback and may not be fetched"),
            ("http://[::1]:%d/page.html" % server.port,
             "the address ::1 is loopback and may not be fetched"),
            ("http://[fe80::1]/",
             "the address fe80::1 is link-local and may not be fetched"),
            (server.url("/to-metadata?case=redirect"),
             "the address 169.254.169.254 is a cloud metadata service and may not be fetched"),
        ]
        docs = []
        for url, _ in cases:
            r = add_url(url)
            self.assertEqual(r.status, 202, (url, r))
            docs.append(r.json()["id"])
        for (url, reason), doc in zip(cases, docs):
            with self.subTest(url=url):
                d = wait_settled(doc)
                self.assertEqual(d["status"], "failed", d)
                self.assertEqual(d["error"], reason)
                self.assertEqual(d["chunk_count"], 0)
        # of all these, only the allowed server's redirect reached a server
        self.assertIn("/to-metadata?case=redirect", server.paths())
        self.assertNotIn("/page.html", server.paths())

    def test_limits_fail_with_the_reason(self):
        cases = [
            (server.url("/binary?case=type"),
             "the page's type is application/octet-stream, not text/html, text/plain, "
             "text/markdown or application/pdf"),
            (server.url("/declared/%d" % (5 * 1024 * 1024 + 1)),
             "the page is larger than the limit of 5242880 bytes"),
            (server.url("/hops/6?case=hops"), "the page redirected more than 5 times"),
            (server.url("/missing?case=404"), "the server answered HTTP 404"),
            (server.url("/trickle?case=slow"), "the page did not arrive within 5 seconds"),
        ]
        docs = []
        for url, _ in cases:
            r = add_url(url)
            self.assertEqual(r.status, 202, (url, r))
            docs.append(r.json()["id"])
        for (url, reason), doc in zip(cases, docs):
            with self.subTest(url=url):
                d = wait_settled(doc, timeout=60)
                self.assertEqual(d["status"], "failed", d)
                self.assertEqual(d["error"], reason)
                self.assertEqual(d["chunk_count"], 0)

    def test_bad_urls_refused_at_upload(self):
        for url in ("ftp://127.0.0.1/file", "file:///etc/passwd", "http://", "not a url",
                    "http://127.0.0.1/" + "a" * 2100):
            with self.subTest(url=url[:40]):
                r = add_url(url)
                self.assertEqual(r.status, 400, r)
                self.assertEqual(r.json()["error"]["code"], "invalid_url")


if __name__ == "__main__":
    unittest.main()
