"""A tiny web server on 127.0.0.1 for the URL-fetching tests (test_fetch,
test_knowledge_url): pages of each allowed type, redirects (to itself and
to forbidden addresses), bodies over the size limit with and without a
Content-Length, a wrong content type, a slow body, and a forward-proxy
mode.  It records every request it gets, so a test can say "nothing was
sent here".

Only ever binds loopback, and only ever redirects: it never connects
anywhere itself."""

import http.server
import threading
import time

HTML = (b"<!doctype html><html><head><title>Fetched</title></head><body>"
        b"<h1>Fetched page</h1><p>The zebra crossing is painted in stripes.</p>"
        b"</body></html>")
TEXT = b"Plain text from the local server.\nThe heron waits by the water.\n"
MARKDOWN = b"# Notes\n\nThe *otter* swims in the river.\n"
PDF = b"%PDF-1.4\n% not a real PDF: the fetcher does not read it\n%%EOF\n"
BINARY_TOTAL = 20 * 1024 * 1024


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):      # quiet
        pass

    def handle(self):
        # the fetcher hangs up on purpose (size, type): not worth a traceback
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _record(self):
        with self.server.lock:
            self.server.requests.append({
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            })

    def _send(self, status, body=b"", ctype="text/plain; charset=utf-8", headers=()):
        self.send_response(status)
        if ctype is not None:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location, status=302):
        self._send(status, b"moved", headers=[("Location", location)])

    def _stream(self, ctype, total, chunk=65536, chunked=False, delay=0.0):
        """Send total bytes with no Content-Length (close-delimited, or
        chunked); note in server.aborted how much went before the client
        hung up."""
        self.close_connection = True
        self.send_response(200)
        if ctype is not None:
            self.send_header("Content-Type", ctype)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        try:
            while sent < total:
                n = min(chunk, total - sent)
                data = b"a" * n
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (n, data))
                else:
                    self.wfile.write(data)
                self.wfile.flush()
                sent += n
                if delay:
                    time.sleep(delay)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            with self.server.lock:
                self.server.aborted[self.path.split("?", 1)[0]] = sent
            return
        with self.server.lock:
            self.server.completed[self.path.split("?", 1)[0]] = sent

    def do_GET(self):                       # noqa: N802 (http.server's name)
        self._record()
        path = self.path.split("?", 1)[0]      # a query only makes URLs differ
        if self.server.proxy_mode:
            # a forward proxy: the request line carries the absolute URL
            if path.startswith("http://"):
                return self._send(200, TEXT, "text/plain")
            return self._send(400, b"not a proxy request")
        base = "http://127.0.0.1:%d" % self.server.server_address[1]
        if path in ("/", "/page.html"):
            return self._send(200, HTML, "text/html; charset=utf-8")
        if path == "/plain":
            return self._send(200, TEXT, "Text/Plain ; charset=UTF-8")
        if path == "/notes.md":
            return self._send(200, MARKDOWN, "text/markdown")
        if path == "/doc.pdf":
            return self._send(200, PDF, "application/pdf")
        if path == "/empty":
            return self._send(200, b"", "text/plain")
        if path.startswith("/hops/"):
            n = int(path.rsplit("/", 1)[1])
            if n <= 0:
                return self._send(200, TEXT, "text/plain")
            return self._redirect("%s/hops/%d" % (base, n - 1))
        if path == "/to-metadata":
            return self._redirect("http://169.254.169.254/latest/meta-data")
        if path == "/to-private":
            return self._redirect("http://10.0.0.1/internal", 301)
        if path == "/to-ipv6-loopback":
            return self._redirect("http://[::1]:%d/page.html" % self.server.server_address[1], 307)
        if path == "/to-ftp":
            return self._redirect("ftp://127.0.0.1:%d/file" % self.server.server_address[1])
        if path == "/to-file":
            return self._redirect("file:///etc/passwd")
        if path == "/missing":
            return self._send(404, b"no such page")
        if path == "/no-type":
            return self._send(200, TEXT, None)
        if path == "/image":
            return self._send(200, b"\x89PNG\r\n\x1a\n", "image/png")
        if path.startswith("/exact/"):
            return self._send(200, b"b" * int(path.rsplit("/", 1)[1]), "text/plain")
        if path.startswith("/declared/"):
            # an honest Content-Length past the limit
            return self._send(200, b"c" * int(path.rsplit("/", 1)[1]), "text/plain")
        if path.startswith("/undeclared/"):
            return self._stream("text/plain", int(path.rsplit("/", 1)[1]))
        if path.startswith("/chunked/"):
            return self._stream("text/plain", int(path.rsplit("/", 1)[1]), chunked=True)
        if path == "/binary":
            return self._stream("application/octet-stream", BINARY_TOTAL)
        if path == "/trickle":
            return self._stream("text/plain", 100, chunk=1, delay=0.25)
        return self._send(404, b"unknown test page")


class PageServer:
    def __init__(self, proxy_mode=False):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.lock = threading.Lock()
        self.httpd.requests = []
        self.httpd.aborted = {}
        self.httpd.completed = {}
        self.httpd.proxy_mode = proxy_mode
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path="/", host="127.0.0.1"):
        return "http://%s:%d%s" % (host, self.port, path)

    def requests(self):
        with self.httpd.lock:
            return list(self.httpd.requests)

    def paths(self):
        return [r["path"] for r in self.requests()]

    def aborted(self, path, timeout=5.0):
        """Bytes sent on path before the client hung up (None: it did not)."""
        end = time.time() + timeout
        while time.time() < end:
            with self.httpd.lock:
                if path in self.httpd.aborted:
                    return self.httpd.aborted[path]
                if path in self.httpd.completed:
                    return None
            time.sleep(0.05)
        return None
