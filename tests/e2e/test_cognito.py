"""Cognito mode: mangoo_jwks is an https URL.  A local HTTPS server plays
Cognito's JWKS endpoint (self-signed certificate, trusted through
MANGOO_CA_FILE) and counts how often it is asked."""

import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Stack, WORKER_BIN

POOL = "us-east-1_TEST"
CLIENT = "cognito-app-client"
stack = idp = None


class FakeCognito:
    def __init__(self, folder):
        self.folder = folder
        self.cert = os.path.join(folder, "cert.pem")
        key = os.path.join(folder, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", self.cert, "-days", "1",
                        "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.chmod(folder, 0o755)
        os.chmod(self.cert, 0o644)
        self.keys = []          # JWKs served
        self.up = False
        self.delay = 0.0        # seconds before answering
        self.fetches = 0
        self.served = 0         # fetches answered with the keys
        self.resumed = 0        # fetches over a resumed TLS session
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/%s/.well-known/jwks.json" % POOL:
                    self.send_error(404)
                    return
                fake.fetches += 1
                fake.resumed += self.connection.session_reused
                time.sleep(fake.delay)
                if not fake.up:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": fake.keys}).encode()
                fake.served += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.issuer = "https://127.0.0.1:%d/%s" % (self.port, POOL)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def new_key_dir(self, name):
        d = os.path.join(self.folder, name)
        subprocess.run([WORKER_BIN, "keygen", "--dir", d], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return d

    def publish(self, *key_dirs):
        keys = []
        for d in key_dirs:
            with open(os.path.join(d, "jwks.json")) as f:
                keys += json.load(f)["keys"]
        self.keys = keys

    def stop(self):
        self.server.shutdown()


def setUpModule():
    global stack, idp
    idp = FakeCognito(tempfile.mkdtemp(prefix="mangoo-idp-"))
    idp.key1 = idp.new_key_dir("k1")
    idp.key2 = idp.new_key_dir("k2")
    idp.key3 = idp.new_key_dir("k3")
    idp.key4 = idp.new_key_dir("k4")
    idp.publish(idp.key1)
    # down at first: nginx starts without any key
    stack = Stack(workers=1, env={
        "MANGOO_JWKS": idp.issuer + "/.well-known/jwks.json",
        "MANGOO_ISSUER": idp.issuer,
        "MANGOO_CLIENT_ID": CLIENT,
        "MANGOO_CA_FILE": idp.cert,
        "MANGOO_JWKS_MIN_REFRESH": "2s",
    }).start()


def tearDownModule():
    stack.stop()
    idp.stop()
    shutil.rmtree(idp.folder, ignore_errors=True)


class CognitoTest(unittest.TestCase):
    """Runs in name order: the IdP starts down."""

    def token(self, sub, key_dir=None, **kw):
        kw.setdefault("issuer", idp.issuer)
        kw.setdefault("client_id", CLIENT)
        return stack.token(sub, key_dir=key_dir or idp.key1, **kw)

    def bots(self, token):
        return stack.request("GET", "/api/v1/bots", token=token)

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.json()["error"]["code"], code, r)

    def test_1_idp_down_then_up(self):
        tok = self.token("cog-1")
        r = self.bots(tok)
        self.assertError(r, 503, "auth_unavailable")
        self.assertGreaterEqual(idp.fetches, 1)
        idp.up = True
        # each nginx worker process fetches for itself, retrying a process
        # without keys at most every mangoo_jwks_min_refresh (2 s here);
        # requests may all land on one process, so wait until every
        # process has fetched since the IdP came back
        processes = int(stack.env["MANGOO_NGINX_WORKERS"])
        ok = stack.wait_for(
            lambda: all(self.bots(tok).status == 200 for _ in range(8))
            and idp.served >= processes, timeout=20)
        self.assertTrue(ok, "keys never fetched after the IdP came back")

    def test_2_access_token_accepted_without_refetching(self):
        tok = self.token("cog-2")
        before = idp.fetches
        for _ in range(10):
            r = self.bots(tok)
            self.assertEqual(r.status, 200, r)
        self.assertEqual(idp.fetches, before)

    def test_3_id_token_and_wrong_client_rejected(self):
        id_token = self.token("cog-3", token_use="id",
                              claims={"aud": CLIENT, "client_id": None})
        self.assertError(self.bots(id_token), 401, "unauthorized")
        other = self.token("cog-3", client_id="another-app")
        self.assertError(self.bots(other), 401, "unauthorized")
        wrong_iss = self.token("cog-3", issuer="https://127.0.0.1:1/%s" % POOL)
        self.assertError(self.bots(wrong_iss), 401, "unauthorized")

    def test_4_rotation_at_the_idp_is_picked_up(self):
        time.sleep(2.1)     # past mangoo_jwks_min_refresh since the last fetch
        idp.publish(idp.key1, idp.key2)
        before = idp.fetches
        new = self.token("cog-4", key_dir=idp.key2)
        r = self.bots(new)
        self.assertEqual(r.status, 200, r)
        self.assertGreater(idp.fetches, before)
        self.assertEqual(self.bots(self.token("cog-4", key_dir=idp.key1)).status, 200)
        # a worker's fetches, each a new handle, share TLS sessions (util/http_get.c)
        self.assertGreater(idp.resumed, 0)
        self.assertLess(idp.resumed, idp.fetches)   # the first was a full handshake

    def test_5_unknown_kids_cannot_make_us_fetch_per_request(self):
        time.sleep(2.1)
        before = idp.fetches
        start = time.monotonic()
        for i in range(30):
            r = self.bots(self.token("cog-5", kid="made-up-%d" % i))
            self.assertError(r, 401, "unauthorized")
        elapsed = time.monotonic() - start
        # at most one fetch per 2 s per nginx worker process (2 of them)
        allowed = 2 * (int(elapsed / 2.0) + 1)
        self.assertLessEqual(idp.fetches - before, allowed)
        self.assertGreaterEqual(idp.fetches - before, 1)

    def test_6_body_is_read_after_waiting_for_keys(self):
        time.sleep(2.1)
        idp.publish(idp.key1, idp.key2, idp.key3)
        idp.delay = 1.0
        try:
            tok = self.token("cog-6", key_dir=idp.key3)
            r = stack.request("POST", "/api/v1/bots", {"name": "after the wait"}, token=tok)
        finally:
            idp.delay = 0.0
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["name"], "after the wait")
        self.assertEqual(r.json()["owner_id"], "cog-6")

    def test_7_client_gone_while_waiting_for_keys(self):
        time.sleep(2.1)
        idp.publish(idp.key1, idp.key2, idp.key3, idp.key4)
        idp.delay = 1.5
        tok = self.token("cog-7", key_dir=idp.key4)
        try:
            s = socket.create_connection(("127.0.0.1", stack.port))
            s.sendall(b"GET /api/v1/bots HTTP/1.1\r\nHost: x\r\n"
                      b"Authorization: Bearer " + tok.encode() + b"\r\n\r\n")
            time.sleep(0.3)
            s.close()       # gone while its request waits for the key set
            time.sleep(1.6)
        finally:
            idp.delay = 0.0
        # the fetch it started completed for everyone after it
        ok = stack.wait_for(
            lambda: all(self.bots(tok).status == 200 for _ in range(8)), timeout=10)
        self.assertTrue(ok)
        log = stack.log_text("nginx-error.log")
        self.assertNotRegex(log, r"\[(alert|crit|emerg)\]")
        self.assertTrue([l for l in stack.access_log()
                         if l["uri"] == "/api/v1/bots" and l["status"] == 499])


if __name__ == "__main__":
    unittest.main()
