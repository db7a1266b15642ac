"""Test certificates, made on the spot with the openssl CLI (never kept in
the tree, never fetched): a CA of our own and a server certificate it
signs for 127.0.0.1 and localhost.  P-256 keys, valid for two days.

    python3 certs.py DIR [NAME]     writes DIR/NAME-ca.pem, DIR/NAME.pem and
                                    DIR/NAME.key (NAME: "server") and prints
                                    their three paths, one a line
"""

import os
import subprocess
import sys


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make(folder, name="server"):
    """A new CA and a server certificate it signs, in folder: returns
    (ca_pem, cert_pem, key_pem)."""
    os.makedirs(folder, exist_ok=True)
    p = lambda suffix: os.path.join(folder, name + suffix)  # noqa: E731
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", p("-ca.key"), "-out", p("-ca.pem"), "-days", "2",
             "-subj", "/CN=Mangoo test CA %s" % name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", *ec, "-keyout", p(".key"), "-out", p(".csr"), "-subj", "/CN=localhost")
    with open(p(".ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", p(".csr"), "-CA", p("-ca.pem"), "-CAkey", p("-ca.key"),
             "-CAcreateserial", "-out", p(".pem"), "-days", "2", "-extfile", p(".ext"))
    for suffix in (".csr", ".ext", "-ca.srl", "-ca.key"):
        if os.path.exists(p(suffix)):
            os.unlink(p(suffix))
    for suffix in ("-ca.pem", ".pem", ".key"):
        os.chmod(p(suffix), 0o644)      # workers may run as another user
    return p("-ca.pem"), p(".pem"), p(".key")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    print("\n".join(make(*sys.argv[1:])))
