"""Starts tests/bench/fake_stream.c (the benchmark's C fake model server)
as a process on a free port: build/fake-stream when it is up to date, else
(and always under MANGOO_SANITIZE=1, with ASan/UBSan) a build of its own."""

import os
import shutil
import signal
import subprocess
import tempfile

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SOURCE = os.path.join(TOP, "tests", "bench", "fake_stream.c")
SANITIZE = os.environ.get("MANGOO_SANITIZE") == "1"


class Fake:
    def __init__(self, *args):
        self.tmp = tempfile.mkdtemp(prefix="fake-stream-test.")
        self.binary = self._binary()
        self.stderr = open(os.path.join(self.tmp, "stderr"), "w+")
        self.args = list(args)
        self.proc = subprocess.Popen([self.binary, "--port", "0"] + self.args,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError("fake-stream did not start: %r" % line)
        self.port = int(line.split()[3].rsplit(":", 1)[1])

    def _binary(self):
        built = os.path.join(TOP, "build", "fake-stream")
        if not SANITIZE and os.path.exists(built) \
                and os.path.getmtime(built) >= os.path.getmtime(SOURCE):
            return built
        out = os.path.join(self.tmp, "fake-stream")
        flags = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer"] \
            if SANITIZE else ["-O2"]
        subprocess.run(["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"]
                       + flags + ["-o", out, SOURCE, "-lssl", "-lcrypto", "-lnghttp2"], check=True)
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(5)
        else:
            rc = self.proc.returncode
        self.stderr.seek(0)
        log = self.stderr.read()
        self.stderr.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return rc, log

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if "--tls-cert" in self.args else "http", self.port)
