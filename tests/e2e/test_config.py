"""nginx configuration: bad directives fail at `nginx -t` with a message
that names them, and the README's directive table is the module's."""

import os
import re
import subprocess
import tempfile
import unittest

from harness import BUILD, TOP, WORKER_BIN

MODULE = os.path.join(BUILD, "ngx_http_mangoo_module.so")


class ConfigTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mangoo-conf-")
        subprocess.run([WORKER_BIN, "keygen", "--dir", cls.dir + "/keys"],
                       check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        cls.jwks = cls.dir + "/keys/jwks.json"

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["rm", "-rf", cls.dir])

    def nginx_t(self, http_directives, location="mangoo_api;"):
        conf = """
load_module %s;
pid %s/nginx.pid;
error_log stderr;
events {}
http {
    client_body_temp_path %s;
    access_log off;
%s
    server {
        listen 127.0.0.1:1;
        location /api/ { %s }
    }
}
""" % (MODULE, self.dir, self.dir, http_directives, location)
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        r = subprocess.run(["nginx", "-t", "-p", self.dir, "-c", path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        return r.returncode, r.stdout

    def good(self, **override):
        d = {
            "mangoo_workers": "tcp://127.0.0.1:5555",
            "mangoo_jwks": self.jwks,
            "mangoo_jwt_issuer": "mangoo-local",
            "mangoo_jwt_audience": "mangoo-web",
        }
        d.update(override)
        return "\n".join("    %s %s;" % (k, v) for k, v in d.items() if v is not None)

    def assertRejected(self, http_directives, *fragments, location="mangoo_api;"):
        rc, out = self.nginx_t(http_directives, location)
        self.assertNotEqual(rc, 0, out)
        for fragment in fragments:
            self.assertIn(fragment, out)

    def test_valid_configuration_passes(self):
        rc, out = self.nginx_t(self.good())
        self.assertEqual(rc, 0, out)

    def test_host_name_endpoint_resolves(self):
        rc, out = self.nginx_t(self.good(mangoo_workers="tcp://localhost:5555 ipc:///tmp/x"))
        self.assertEqual(rc, 0, out)

    def test_missing_issuer_audience_or_jwks(self):
        for missing in ("mangoo_jwt_issuer", "mangoo_jwt_audience", "mangoo_jwks"):
            self.assertRejected(self.good(**{missing: None}),
                                '"mangoo_workers" requires')

    def test_bad_endpoints(self):
        self.assertRejected(self.good(mangoo_workers="http://127.0.0.1:5555"),
                            'invalid worker endpoint "http://127.0.0.1:5555"')
        self.assertRejected(self.good(mangoo_workers="tcp://127.0.0.1"),
                            'no port in worker endpoint')

    def test_resolve_needs_a_resolver(self):
        # a name followed through DNS at run time is not looked up here:
        # one that does not exist is no error at nginx -t
        rc, out = self.nginx_t(self.good(
            mangoo_workers="tcp://workers.mangoo.invalid:5555 tcp://127.0.0.1:5556 resolve",
            resolver="127.0.0.1:53", mangoo_workers_resolve_interval="2s"))
        self.assertEqual(rc, 0, out)
        self.assertRejected(self.good(mangoo_workers="tcp://workers.mangoo.invalid:5555 resolve"),
                            '"mangoo_workers ... resolve" requires a "resolver"')
        self.assertRejected(self.good(mangoo_workers="resolve", resolver="127.0.0.1:53"),
                            'has no endpoint before "resolve"')
        self.assertRejected(self.good(mangoo_workers="tcp://workers.mangoo.invalid:5555 resolve",
                                      resolver="127.0.0.1:53",
                                      mangoo_workers_resolve_interval="0"),
                            '"mangoo_workers_resolve_interval" must be more than 0')
        self.assertRejected(self.good(mangoo_workers_resolve_interval="often"),
                            '"mangoo_workers_resolve_interval" directive invalid value')
        # without "resolve" a name is still looked up once, here
        self.assertRejected(self.good(mangoo_workers="tcp://workers.mangoo.invalid:5555",
                                      resolver="127.0.0.1:53"),
                            "workers.mangoo.invalid")

    def test_duplicate_workers(self):
        self.assertRejected(self.good() + "\n    mangoo_workers tcp://127.0.0.1:6000;",
                            '"mangoo_workers" directive is duplicate')

    def test_unusable_jwks(self):
        bad = os.path.join(self.dir, "bad.json")
        with open(bad, "w") as f:
            f.write('{"keys": []}')
        self.assertRejected(self.good(mangoo_jwks=bad), "has no usable key")
        self.assertRejected(self.good(mangoo_jwks=self.dir + "/missing.json"),
                            "has no usable key")

    def test_bad_timeout_value(self):
        self.assertRejected(self.good(mangoo_timeout="soon"),
                            '"mangoo_timeout" directive invalid value')

    def test_sse_directives(self):
        rc, out = self.nginx_t(
            self.good(mangoo_sse_keepalive="0", mangoo_sse_max_buffered="1m"),
            location="mangoo_api; mangoo_sse_keepalive 30s; mangoo_sse_max_buffered 64k;")
        self.assertEqual(rc, 0, out)
        self.assertRejected(self.good(mangoo_sse_keepalive="often"),
                            '"mangoo_sse_keepalive" directive invalid value')
        self.assertRejected(self.good(mangoo_sse_max_buffered="lots"),
                            '"mangoo_sse_max_buffered" directive invalid value')

    def test_duplicate_location_handler(self):
        self.assertRejected(self.good(), '"mangoo_api" directive is duplicate',
                            location="mangoo_api; mangoo_api;")


class DirectiveDocsTest(unittest.TestCase):
    """README's directive table lists exactly the module's directives."""

    def test_readme_table_matches_module(self):
        with open(os.path.join(TOP, "ngx_mangoo_module",
                               "ngx_http_mangoo_module.c")) as f:
            source = f.read()
        table = source[source.index("ngx_http_mangoo_commands[]"):]
        table = table[:table.index("ngx_null_command")]
        in_module = set(re.findall(r'ngx_string\("(mangoo_\w+)"\)', table))

        with open(os.path.join(TOP, "README.md")) as f:
            readme = f.read()
        section = readme[readme.index("## nginx directives"):]
        section = section[:section.index("\n## ", 1)]
        in_readme = set(re.findall(r"^\| `(mangoo_\w+)", section, re.M))

        self.assertTrue(in_module)
        self.assertEqual(in_module, in_readme)


if __name__ == "__main__":
    unittest.main()
