"""The container images, run: docker-compose.yml's shape brought up from
localhost/mangoo-{postgres,worker,nginx} (`./auto-build.sh images`) with
Debian's buildah (`buildah run --isolation chroot --network host`, since
`podman run` cannot run on these machines), then exercised:

1. each image runs as a non-root user, carries no private key and no
   secret setting, and is smaller than its bound;
2. postgres (its data in a temporary folder), keys, migrate, two workers
   and nginx come up; /health answers 200 (the time from the first start
   is reported) and every process runs unprivileged;
3. sign up, log in, make a bot, a streamed answer (the offline model), the
   web app served;
4. under a steady load of chats and lists from several users, the workers
   are scaled as an orchestrator does it, through DNS: nginx finds them by
   a name (`mangoo_workers tcp://NAME:PORT resolve`, as compose's nginx
   does) that Debian's dnsmasq answers.  A third worker is started and
   added to the name, and serves; then one is removed from the name and
   stopped (SIGTERM) while it streams answers, finishes them and exits:
   no request may fail;
5. everything is stopped, and nothing of it is left running.

On host networking each worker binds an address of its own (127.0.0.2,
.3, .4), all on one free port, and the name resolves to those addresses;
nginx, Postgres and dnsmasq take free ports too, so the run does not
collide with other suites on the machine.

Run: ./auto-build.sh test-images (builds the images first), or
python3 tests/images/run.py once they are built.  Ends with one line,
'images: N passed, N failed'; the figures go to build/images/figures.json.
"""

import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "e2e"))
import harness  # noqa: E402
import prometheus  # noqa: E402
from dns_server import DnsServer  # noqa: E402
from sse_client import SseStream, text_of  # noqa: E402
try:
    import yaml
except ImportError:
    # Debian's python3-yaml (auto-build.sh installs it) when python3 is
    # another interpreter of the same version, as openapi_check does
    sys.path.append("/usr/lib/python3/dist-packages")
    import yaml

IMAGES = {
    "postgres": "localhost/mangoo-postgres:latest",
    "worker": "localhost/mangoo-worker:latest",
    "nginx": "localhost/mangoo-nginx:latest",
}
COMPOSE = os.path.join(TOP, "docker-compose.yml")
# Uncompressed sizes no image may grow past (MB, as buildah counts them):
# about a quarter above what they are, so build tools or caches left in a
# runtime stage fail the run.
SIZE_BOUND_MB = {"postgres": 560, "worker": 240, "nginx": 120}
IMAGE_UID = 999                 # every image's user (Dockerfiles)
WORKER_HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
WORKERS_NAME = "workers.mangoo.test"       # the workers' name in DNS
RESOLVE_INTERVAL = "1s"                    # the shipped 5s, shorter
PASSWORD = "Correct-horse-%s" % uuid.uuid4().hex[:12]
FIGURES_PATH = os.path.join(TOP, "build", "images", "figures.json")


# ---- processes --------------------------------------------------------------
def _ppids():
    """{pid: parent pid} of every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        out[int(d)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return out


def _descendants(pid):
    parents = _ppids()
    kids = {}
    for p, pp in parents.items():
        kids.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        for c in sorted(kids.get(todo.pop(0), [])):
            out.append(c)
            todo.append(c)
    return out


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def _uids(pid):
    """(real, effective) uid of a process."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                real, eff = line.split()[1:3]
                return int(real), int(eff)
    raise RuntimeError("no Uid line for %d" % pid)


def _buildah(*args, check=True):
    return subprocess.run(["buildah", *args], check=check, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _port_free(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _listening(host, port):
    """A TCP socket listens on host:port (one in TIME_WAIT does not)."""
    want = "%s:%04X" % ("".join("%02X" % int(b) for b in reversed(host.split("."))), port)
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":
                return True
    return False


def _free_port_on(hosts):
    for _ in range(200):
        port = random.randint(20000, 60000)
        if all(_port_free(h, port) for h in hosts + ("127.0.0.1",)):
            return port
    raise RuntimeError("no free port")


def _interpolate(value):
    """Compose's ${NAME:-default} and ${NAME}, with the defaults: the run
    is the compose file as shipped, whatever this shell's environment."""
    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", str(value))


def load_compose():
    with open(COMPOSE) as f:
        services = yaml.safe_load(f)["services"]
    for name, svc in services.items():
        svc["environment"] = {k: _interpolate(v) for k, v in (svc.get("environment") or {}).items()}
    return services


class Container:
    """One service: a buildah container of its image, run in the
    foreground by `buildah run` (chroot isolation, the host's network),
    its output in <dir>/<name>.log.  The image's ENTRYPOINT runs with argv
    (else its CMD), as compose would run it."""

    def __init__(self, run, name, image, argv=None, env=None, volumes=()):
        self.run, self.name, self.image = run, name, image
        self.argv, self.env, self.volumes = argv, env or {}, volumes
        self.cname = "%s-%s" % (run.prefix, name)
        self.proc = None
        self.seen = set()       # every process of it ever seen
        self.log_path = os.path.join(run.dir, name + ".log")

    def start(self):
        # room for many connections, as docker gives (buildah: 1024)
        nofile = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 65536)
        _buildah("from", "--pull=never", "--ulimit", "nofile=%d:%d" % (nofile, nofile),
                 "--name", self.cname, self.image)
        self.run.cnames.append(self.cname)
        info = json.loads(_buildah("inspect", "--type", "container", self.cname).stdout)
        config = info["OCIv1"]["config"]
        argv = (config.get("Entrypoint") or []) + (
            self.argv if self.argv is not None else config.get("Cmd") or [])
        # the unprivileged user writes its stdout (nginx opens /dev/stdout)
        log = open(self.log_path, "ab")
        os.fchown(log.fileno(), IMAGE_UID, IMAGE_UID)
        cmd = ["buildah", "run", "--isolation", "chroot", "--network", "host"]
        for v in self.volumes:
            cmd += ["--volume", v]
        for k, v in self.env.items():
            cmd += ["--env", "%s=%s" % (k, v)]
        cmd += [self.cname, "--"] + argv
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return self

    def pids(self):
        """The image's processes (not buildah's own), oldest first."""
        if self.proc is None:
            return []
        pids = [p for p in _descendants(self.proc.pid)
                if "buildah" not in _comm(p)]
        self.seen.update(pids)
        return pids

    def main_pid(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.pids()
            if pids:
                return pids[0]
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited (%s):\n%s" % (self.name, self.proc.returncode,
                                                            self.log_tail()))
            time.sleep(0.05)
        raise RuntimeError("%s: no process after %ss" % (self.name, timeout))

    def send(self, sig):
        # buildah run answers a signal by killing its child: the image's
        # process itself gets it, as `docker stop` would send it
        os.kill(self.main_pid(), sig)

    def wait(self, timeout):
        return self.proc.wait(timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.running():
            try:
                self.pids()
                self.send(sig)
                self.proc.wait(timeout)
            except (subprocess.TimeoutExpired, RuntimeError, ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode if self.proc else None

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, n=3000):
        return self.log_text()[-n:]


# ---- the stack in compose's shape ------------------------------------------
class Run:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mangoo-images-")
        os.chmod(self.dir, 0o755)
        self.prefix = "mangoo-it-%d-%s" % (os.getpid(), uuid.uuid4().hex[:6])
        self.cnames = []
        self.port = _free_port_on(())
        self.pg_port = _free_port_on(())
        self.worker_port = _free_port_on(WORKER_HOSTS)
        self.pg_password = "pg-%s" % uuid.uuid4().hex
        harness.note_secret(self.pg_password)
        self.pgdata = self._folder("pgdata", 0o700)
        self.keys = self._folder("keys", 0o711)
        self.logs = self._folder("logs", 0o755)
        self.postgres = self.nginx = None
        self.workers = {}       # index -> Container
        self.endpoints = ["tcp://%s:%d" % (h, self.worker_port) for h in WORKER_HOSTS]
        self.dns = DnsServer(self.dir, WORKERS_NAME)
        self.db = "host=127.0.0.1 port=%d dbname=postgres user=postgres password=%s" % (
            self.pg_port, self.pg_password)
        self.compose = load_compose()
        self.worker_env = {
            # over compose's: the database on the host's loopback, fewer
            # threads on a shared machine
            "MANGOO_DB": self.db,
            "MANGOO_THREADS": "4",
            # answers that last about a second: streams are open whenever
            # a worker is stopped
            "MANGOO_LOCAL_DELAY_MS": "40",
        }

    def _folder(self, name, mode):
        path = os.path.join(self.dir, name)
        os.mkdir(path, mode)
        os.chmod(path, mode)
        os.chown(path, IMAGE_UID, IMAGE_UID)
        return path

    def service(self, name, service, env=None, args=(), volumes=()):
        """A container of compose's service: its image, command (else the
        image's), environment and volumes (the named ones are folders of
        the run's), then what host networking needs: env set over
        compose's, args after its command, more volumes."""
        svc = self.compose[service]
        assert svc["image"] in IMAGES.values(), svc["image"]
        argv = svc.get("command")
        if args:
            argv = (argv or []) + list(args)
        named = {"pgdata": self.pgdata, "keys": self.keys}
        vols = []
        for v in svc.get("volumes") or []:
            source, rest = v.split(":", 1)
            vols.append("%s:%s" % (named[source], rest))
        return Container(self, name, svc["image"], argv=argv,
                         env=dict(svc["environment"], **(env or {})),
                         volumes=vols + list(volumes)).start()

    def healthcheck(self, c, service, env=None, replace=None):
        """compose's healthcheck of service, run in c's container (a second
        process beside the service's own): True when it passes."""
        test = list(self.compose[service]["healthcheck"]["test"])
        assert test[0] == "CMD", test
        argv = test[1:]
        if replace:
            old, new = replace
            assert sum(a.count(old) for a in argv) == 1, (argv, old)
            argv = [a.replace(old, new) for a in argv]
        cmd = ["run", "--isolation", "chroot", "--network", "host"]
        for k, v in (env or {}).items():
            cmd += ["--env", "%s=%s" % (k, v)]
        return _buildah(*cmd, c.cname, "--", *argv, check=False).returncode == 0

    def one_shot(self, name, service, timeout=60, **kw):
        c = self.service(name, service, **kw)
        try:
            rc = c.wait(timeout)
        except subprocess.TimeoutExpired:
            c.stop(signal.SIGKILL)
            raise AssertionError("%s did not finish in %ss:\n%s" % (name, timeout, c.log_tail()))
        assert rc == 0, "%s exited %s:\n%s" % (name, rc, c.log_tail())
        return c

    def start_postgres(self):
        self.postgres = self.service(
            "postgres", "postgres",
            args=["-p", str(self.pg_port), "-c", "listen_addresses=127.0.0.1"],
            env={"POSTGRES_PASSWORD": self.pg_password})
        # compose's healthcheck (pg_isready) decides, as depends_on would
        ok = harness.wait_for(lambda: not self.postgres.running() or self.healthcheck(
            self.postgres, "postgres", env={"PGPORT": str(self.pg_port)}), 90, 0.2)
        assert ok and self.postgres.running(), "postgres:\n" + self.postgres.log_tail()

    def start_worker(self, i):
        env = dict(self.worker_env, MANGOO_BIND=self.endpoints[i])
        self.workers[i] = self.service("worker-%d" % (i + 1), "worker", env=env)
        self.workers[i].main_pid()
        return self.workers[i]

    def set_dns(self, workers):
        """The name answers with these workers' addresses from now on."""
        self.dns.set([WORKER_HOSTS[i] for i in workers])

    def start_nginx(self):
        # compose's nginx finds the workers by name, and looks again
        endpoints = self.compose["nginx"]["environment"]["MANGOO_WORKER_ENDPOINTS"]
        assert endpoints.endswith(" resolve") and self.compose["nginx"]["environment"].get(
            "MANGOO_RESOLVER"), "compose's nginx does not resolve its workers' name"
        self.nginx = self.service(
            "nginx", "nginx",
            env={
                "MANGOO_WORKER_ENDPOINTS": "tcp://%s:%d resolve" % (WORKERS_NAME, self.worker_port),
                "MANGOO_RESOLVER": "127.0.0.1:%d valid=1s ipv6=off" % self.dns.port,
                "MANGOO_RESOLVER_TIMEOUT": "1s",
                "MANGOO_RESOLVE_INTERVAL": RESOLVE_INTERVAL,
                "MANGOO_LISTEN": "127.0.0.1:%d" % self.port,
                "MANGOO_NGINX_WORKERS": "2",
                # the load below signs in and asks far faster than people
                "MANGOO_AUTH_RATE": "200r/s",
                "MANGOO_USER_RATE": "100000r/s",
                # buildah's chroot isolation hands the container pipes of
                # root's, that an unprivileged nginx cannot open as
                # /dev/stdout (runc and crun give them to the user): the
                # access log goes to a folder of the host's instead
                "MANGOO_ACCESS_LOG": "/var/log/mangoo/access.log",
            },
            volumes=["%s:/var/log/mangoo" % self.logs])

    def containers(self):
        return [c for c in [self.postgres, self.nginx] + list(self.workers.values()) if c]

    # -- HTTP: the e2e harness's client (OpenAPI-checked, secrets noted)
    request = harness.Stack.request

    def health(self):
        try:
            return self.request("GET", "/health", timeout=2).status
        except OSError:
            return 0

    def metrics(self):
        r = self.request("GET", "/metrics", timeout=10)
        assert r.status == 200, r
        return prometheus.parse(r.body.decode())

    def access_log(self):
        """nginx's access log lines (JSON)."""
        out = []
        with open(os.path.join(self.logs, "access.log"), errors="replace") as f:
            lines = f.read().splitlines()
        for line in lines:
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


# ---- the load ----------------------------------------------------------------
class Load:
    """Threads, each a signed-in user, asking for lists and chatting
    (streamed) until stopped; every outcome is kept."""

    def __init__(self, run, users, threads=4):
        self.run, self.users = run, users
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.loop, args=(i,), daemon=True)
                        for i in range(threads)]

    def loop(self, i):
        token, bot = self.users[i % len(self.users)]
        n = 0
        while not self.stopping.is_set():
            n += 1
            op = ("bots", "chat", "chats")[n % 3]
            try:
                if op == "chat":
                    outcome = self.chat(token, bot, n)
                else:
                    r = self.run.request("GET", "/api/v1/" + op, token=token, timeout=30)
                    outcome = (r.status, op, r.body[:200] if r.status != 200 else "")
            except Exception as e:      # a refused or cut connection
                outcome = (0, op, repr(e))
            with self.lock:
                self.results.append(outcome)

    def chat(self, token, bot, n):
        s = SseStream(self.run.port, "/api/v1/chat/stream",
                      {"bot_id": bot, "message": "tell me something, turn number %d" % n},
                      token=token, timeout=30)
        try:
            if s.status != 200:
                return (s.status, "chat", s.body()[:200])
            events = s.events()
        finally:
            s.close()
        types = [e.type for e in events]
        if not s.ended or not types or types[0] != "start" or types[-1] != "done" \
                or not text_of(events):
            last = events[-1].data[:200] if events else ""
            return (-1, "chat", "stream of %d events (%d messages), ended %s, the last %s %s"
                    % (len(types), types.count("message"), s.ended,
                       types[-1] if types else None, last))
        return (200, "chat", "")

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(60)

    def count(self):
        with self.lock:
            return len(self.results)

    def failures(self):
        with self.lock:
            return [r for r in self.results if r[0] != 200]


# ---- the steps -----------------------------------------------------------------
def image_config(image):
    info = json.loads(_buildah("inspect", "--type", "image", image).stdout)
    return info["OCIv1"]["config"]


def image_size_mb(image):
    out = _buildah("images", "--format", "{{.Size}}", image).stdout.split()
    value, unit = float(out[0]), out[1]
    return value * {"kB": 1e-3, "MB": 1, "GB": 1e3}[unit]


PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]{64}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|API_KEY|PRIVATE", re.I)


def private_keys_in(image):
    """Files of the image (programs aside) holding a PEM private key."""
    c = _buildah("from", "--pull=never", image).stdout.strip()
    try:
        root = _buildah("mount", c).stdout.strip()
        found = []
        for top, dirs, files in os.walk(root):
            for f in files:
                path = os.path.join(top, f)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                with open(path, "rb") as fh:
                    data = fh.read()
                # a library's own test vectors (GnuTLS's self-tests) are
                # no one's key: files, not programs, are what leaks
                if not data.startswith(b"\x7fELF") and PRIVATE_KEY.search(data):
                    found.append(path[len(root):])
        return found
    finally:
        _buildah("umount", c, check=False)
        _buildah("rm", c, check=False)


def step_images(run, figures):
    sizes = {}
    for name, image in IMAGES.items():
        config = image_config(image)
        user = config.get("User", "")
        assert user and user.split(":")[0] not in ("root", "0"), \
            "%s runs as %r" % (image, user)
        secret_env = [e for e in config.get("Env", []) if SECRET_NAME.search(e.split("=")[0])]
        assert not secret_env, "%s sets %s" % (image, secret_env)
        keys = private_keys_in(image)
        assert not keys, "%s holds private keys: %s" % (image, keys)
        sizes[name] = round(image_size_mb(image), 1)
        assert sizes[name] < SIZE_BOUND_MB[name], \
            "%s is %s MB, over %s MB" % (image, sizes[name], SIZE_BOUND_MB[name])
    figures["image_size_mb"] = sizes


def step_up(run, figures):
    t0 = time.monotonic()
    run.start_postgres()
    run.one_shot("keys", "keys")
    names = os.listdir(run.keys)
    assert "jwks.json" in names and any(n.endswith(".pem") for n in names), names
    for n in names:
        st = os.stat(os.path.join(run.keys, n))
        assert st.st_uid == IMAGE_UID, (n, st.st_uid)
        if n.endswith(".pem"):
            assert st.st_mode & 0o077 == 0, "%s is mode %o" % (n, st.st_mode)
            with open(os.path.join(run.keys, n)) as f:
                harness.note_secret(f.read().strip())
    run.one_shot("migrate", "migrate", env=run.worker_env)
    t_workers = time.monotonic()
    for i in (0, 1):
        run.start_worker(i)
    run.dns.start()
    run.set_dns([0, 1])
    t_nginx = time.monotonic()
    run.start_nginx()
    ok = harness.wait_for(lambda: run.health() == 200 or not run.nginx.running(), 60, 0.05)
    t_health = time.monotonic()
    assert ok and run.nginx.running(), "nginx:\n" + run.nginx.log_tail()
    assert run.health() == 200
    # and compose's healthcheck says so too, from inside the container
    assert run.healthcheck(run.nginx, "nginx", replace=("/8080", "/%d" % run.port))
    figures["start_to_health_s"] = round(t_health - t0, 2)
    figures["workers_start_to_health_s"] = round(t_health - t_workers, 2)
    figures["nginx_start_to_health_s"] = round(t_health - t_nginx, 2)
    # every process of every service runs unprivileged (nginx's master too)
    for c in run.containers():
        pids = c.pids()
        assert pids, c.name
        for pid in pids:
            real, eff = _uids(pid)
            assert real == eff == IMAGE_UID, "%s: %s (%s) runs as %d/%d" % (
                c.name, pid, _comm(pid), real, eff)
    assert len(run.nginx.pids()) >= 3, "nginx: a master and two workers"


def sign_up(run, username):
    r = run.request("POST", "/api/v1/auth/register",
                    {"username": username, "password": PASSWORD})
    assert r.status == 201, r
    r = run.request("POST", "/api/v1/auth/login", {"username": username, "password": PASSWORD})
    assert r.status == 200, r
    token = r.json()["access_token"]
    r = run.request("POST", "/api/v1/bots",
                    {"name": "Helper", "instructions": "Answer briefly."}, token=token)
    assert r.status == 201, r
    return token, r.json()["id"]


def step_chat(run, figures):
    token, bot = sign_up(run, "alice")
    r = run.request("GET", "/api/v1/users/me", token=token)
    assert r.status == 200 and r.json()["username"] == "alice", r
    s = SseStream(run.port, "/api/v1/chat/stream",
                  {"bot_id": bot, "message": "Hello from the images test, who are you?"},
                  token=token)
    try:
        assert s.status == 200, s.body()
        assert s.header("content-type").startswith("text/event-stream"), s.headers
        events = s.events()
    finally:
        s.close()
    types = [e.type for e in events]
    assert s.ended and types[0] == "start" and types[-1] == "done", types
    assert types.count("message") >= 2, "an answer in pieces: %s" % types
    assert text_of(events).strip(), events
    # the chat is stored: the worker wrote it to Postgres
    r = run.request("GET", "/api/v1/chats", token=token)
    assert r.status == 200 and len(r.json()["items"]) == 1, r
    # the web app, from the same nginx
    r = run.request("GET", "/")
    assert r.status == 200 and b'<div id="root"' in r.body, r
    script = re.search(rb'src="(/assets/[^"]+\.js)"', r.body)
    assert script, r.body[:500]
    r = run.request("GET", script.group(1).decode())
    assert r.status == 200 and len(r.body) > 1000, r


def served_by(run, endpoint):
    """Jobs the worker at endpoint answered, from its own metrics."""
    return prometheus.value(run.metrics(), "mangoo_worker_jobs_total", worker=endpoint)


def nginx_said(run, text):
    """How many times nginx's error log says text (each nginx worker
    process says what it finds in DNS)."""
    return run.nginx.log_text().count(text)


def name_connections(run):
    """Connections of nginx's processes to the name's addresses."""
    return prometheus.value(run.metrics(), "mangoo_endpoint_connections",
                            worker="tcp://%s:%d" % (WORKERS_NAME, run.worker_port))


def step_scale_up(run, figures, state):
    users = [sign_up(run, "load-%d" % i) for i in range(4)]
    # both addresses of the name serve, each nginx process connected to both
    assert harness.wait_for(lambda: name_connections(run) == 4, 15), name_connections(run)
    state["load"] = load = Load(run, users, threads=6).start()
    time.sleep(2)
    assert load.count() > 10 and not load.failures(), load.failures()[:5]
    for ep in run.endpoints[:2]:
        assert served_by(run, ep) > 0, "%s served nothing" % ep
    third = run.endpoints[2]
    assert served_by(run, third) == 0
    # scaled out: the container starts, then the name answers with it too
    run.start_worker(2)
    t = time.monotonic()
    run.set_dns([0, 1, 2])
    found = 'worker "%s" found in "%s"' % (third, WORKERS_NAME)
    assert harness.wait_for(lambda: nginx_said(run, found) == 2, 15), run.nginx.log_tail()
    ok = harness.wait_for(lambda: served_by(run, third) > 0, 30, 0.2)
    assert ok, "the third worker served nothing:\n" + run.workers[2].log_tail()
    figures["scale_up_first_job_s"] = round(time.monotonic() - t, 2)
    assert harness.wait_for(lambda: name_connections(run) == 6, 15), name_connections(run)
    time.sleep(3)
    # nginx's access log names it too, for the load's requests
    mine = [e for e in run.access_log() if e.get("worker") == third
            and e.get("route", "").startswith("/api/")]
    assert mine, "no request in the access log went to %s" % third
    figures["scale_up_requests_to_third"] = len(mine)


def step_scale_down(run, figures, state):
    """Scaled in as an orchestrator does it: the first worker leaves the
    name and gets SIGTERM at once, while it streams answers.  It finishes
    them (MANGOO_STOP_TIMEOUT), nginx sends it nothing new and closes its
    connections after its last answer, and it exits 0."""
    load = state["load"]
    first = run.endpoints[0]
    w = run.workers[0]
    streams = harness.wait_for(lambda: prometheus.value(run.metrics(), "mangoo_worker_streams_open",
                                                worker=first), 20, 0.02)
    assert streams, "no stream open on %s to drain" % first
    figures["scale_down_streams_open"] = int(streams)
    t = time.monotonic()
    run.set_dns([1, 2])
    w.send(signal.SIGTERM)
    rc = w.wait(40)
    figures["scale_down_drain_s"] = round(time.monotonic() - t, 2)
    assert rc == 0, "worker-1 exited %s:\n%s" % (rc, w.log_tail())
    gone = 'worker "%s" is no longer in "%s"' % (first, WORKERS_NAME)
    assert harness.wait_for(lambda: nginx_said(run, gone) == 2, 15), run.nginx.log_tail()
    assert harness.wait_for(lambda: name_connections(run) == 4, 15), name_connections(run)
    n = load.count()
    assert harness.wait_for(lambda: load.count() > n + 20, 30), "the load stalled"
    load.stop()
    failures = load.failures()
    figures["load_requests"] = load.count()
    figures["load_failed"] = len(failures)
    # nothing went to it since it left, the others carry on
    late = [e for e in run.access_log()[-20:] if e.get("worker") == first]
    assert not late, late
    for ep in run.endpoints[1:]:
        assert served_by(run, ep) > 0
    assert not failures, "%d of %d failed: %s" % (len(failures), load.count(), failures[:10])


def step_stop(run, figures):
    """nginx (QUIT, graceful), the workers (TERM, drained), Postgres (INT,
    fast shutdown); then nothing of the run may be left."""
    problems = []
    for c in run.containers():
        c.pids()
    order = ([(run.nginx, signal.SIGQUIT)]
             + [(w, signal.SIGTERM) for w in run.workers.values()]
             + [(run.postgres, signal.SIGINT)])
    for c, sig in order:
        if c is None or c.proc is None:
            continue
        was_running = c.running()
        rc = c.stop(sig)
        if was_running and rc != 0:
            problems.append("%s exited %s on %s" % (c.name, rc, sig.name))
    dns_pid = run.dns.proc.pid if run.dns.proc else None
    run.dns.stop()
    if dns_pid and harness.alive(dns_pid):
        problems.append("dnsmasq still runs")
    for name in run.cnames:
        _buildah("rm", name, check=False)
    left = [p for c in run.containers() for p in sorted(c.seen) if harness.alive(p)]
    if left:
        problems.append("still running: %s" % [(p, _comm(p)) for p in left])
    names = _buildah("containers", "--format", "{{.ContainerName}}").stdout.split()
    ours = [n for n in names if n.startswith(run.prefix)]
    if ours:
        problems.append("containers left: %s" % ours)
    busy = [(h, p) for h, p in [("127.0.0.1", run.port), ("127.0.0.1", run.pg_port),
                                ("127.0.0.1", run.dns.port)]
            + [(h, run.worker_port) for h in WORKER_HOSTS] if _listening(h, p)]
    if busy:
        problems.append("still listened on: %s" % busy)
    # what every service wrote: no nginx alert, no secret
    if run.nginx:
        alerts = [ln for ln in run.nginx.log_text().splitlines()
                  if re.search(r"\[(alert|crit|emerg)\]", ln)]
        if alerts:
            problems.append("nginx alerts:\n" + "\n".join(alerts[:10]))
    for top, _, files in os.walk(run.dir):
        for name in sorted(f for f in files if f.endswith(".log")):
            with open(os.path.join(top, name), errors="replace") as f:
                text = f.read()
            for secret in sorted(harness.SECRETS):
                if secret in text:
                    problems.append("a secret (%s..., %d chars) in %s"
                                    % (secret[:4], len(secret), os.path.join(top, name)))
    assert not problems, "\n".join(problems)


def remove_stale_containers():
    """Containers of earlier runs whose process is gone (a killed run)."""
    names = _buildah("containers", "--format", "{{.ContainerName}}").stdout.split()
    for n in names:
        m = re.match(r"mangoo-it-(\d+)-", n)
        if m and not harness.alive(int(m.group(1))):
            _buildah("rm", n, check=False)


def main():
    for image in IMAGES.values():
        if _buildah("inspect", "--type", "image", image, check=False).returncode != 0:
            print("%s is not built: ./auto-build.sh images" % image)
            print("images: 0 passed, 1 failed")
            return 1
    remove_stale_containers()
    run = Run()
    figures, state = {}, {}
    steps = [
        ("images: non-root, no private key or secret, small", lambda: step_images(run, figures)),
        ("compose's shape up from the images, /health 200", lambda: step_up(run, figures)),
        ("sign up, log in, a bot, a streamed answer, the web app", lambda: step_chat(run, figures)),
        ("scale 2 -> 3 under load, through DNS: the third worker serves",
         lambda: step_scale_up(run, figures, state)),
        ("scale 3 -> 2 under load, through DNS: the worker drains, stops, nothing fails",
         lambda: step_scale_down(run, figures, state)),
    ]
    passed = failed = 0
    broken = None
    t0 = time.monotonic()
    try:
        for name, fn in steps:
            if broken:
                print("FAIL  %s (not run: %r failed)" % (name, broken))
                failed += 1
                continue
            t = time.monotonic()
            try:
                fn()
                print("ok    %s (%.1f s)" % (name, time.monotonic() - t), flush=True)
                passed += 1
            except Exception:
                print("FAIL  %s\n%s" % (name, traceback.format_exc()), flush=True)
                failed += 1
                broken = name
    finally:
        if "load" in state:
            state["load"].stop()
        try:
            step_stop(run, figures)
            print("ok    stop: nothing left running")
            passed += 1
        except Exception:
            print("FAIL  stop: nothing left running\n%s" % traceback.format_exc())
            failed += 1
    figures["run_s"] = round(time.monotonic() - t0, 1)
    print("figures: " + json.dumps(figures, sort_keys=True))
    os.makedirs(os.path.dirname(FIGURES_PATH), exist_ok=True)
    with open(FIGURES_PATH, "w") as f:
        json.dump(figures, f, indent=2, sort_keys=True)
    if failed and not os.environ.get("MANGOO_KEEP_STATE"):
        for c in run.containers():
            print("==== %s ====\n%s" % (c.name, c.log_tail(2000)))
    if os.environ.get("MANGOO_KEEP_STATE"):
        print("logs kept in", run.dir)
    else:
        shutil.rmtree(run.dir, ignore_errors=True)
    print("images: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
