"""A real DNS server for the tests: Debian's dnsmasq, answering one name
from a hosts file that the test rewrites (set()) to scale workers in and
out, as Cloud Map or Docker's embedded DNS would."""

import os
import signal
import socket
import subprocess
import time

from harness import _free_ports


class DnsServer:
    def __init__(self, folder, name):
        self.name = name
        self.domain = name.split(".", 1)[1]
        self.hosts = os.path.join(folder, "dns-hosts")
        self.log = os.path.join(folder, "dns.log")
        self.port = _free_ports(1)
        self.proc = None
        self.set([])

    def start(self):
        self.proc = subprocess.Popen(
            ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
             "--no-resolv", "--no-hosts", "--addn-hosts=" + self.hosts,
             # the domain is ours alone: a name not in the file is NXDOMAIN
             "--local=/%s/" % self.domain,
             "--port=%d" % self.port, "--listen-address=127.0.0.1",
             "--bind-interfaces", "--local-ttl=0", "--user=root",
             "--pid-file=", "--log-facility=-"],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dnsmasq exited: " + open(self.log).read()[-2000:])
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("dnsmasq did not start")

    def set(self, addresses):
        """The name's A records from now on (SIGHUP re-reads the file)."""
        tmp = self.hosts + ".tmp"
        with open(tmp, "w") as f:
            for a in addresses:
                f.write("%s %s\n" % (a, self.name))
        os.replace(tmp, self.hosts)
        if self.proc is not None:
            self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
