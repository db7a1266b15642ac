"""Starts the real Mangoo stack (Postgres, workers, nginx with the module)
on loopback for the end-to-end tests, through the same auto-build.sh
commands that `./auto-build.sh run` uses, and talks HTTP to it."""

import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import openapi_check

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(TOP, "build")
WORKER_BIN = os.path.join(BUILD, "mangoo-worker")


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_low():
    """The lowest port the kernel gives outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768            # Linux's default


def _free_ports(count):
    """A run of `count` consecutive free loopback ports, below the ones the
    kernel picks for outgoing connections: a port free now but in that
    range can be taken by any connection on the machine before a worker
    (re)binds it, and then that worker cannot start."""
    high = min(60000, _ephemeral_low()) - count
    if high < 21000:            # no room below that range: anywhere, then
        high = 60000 - count
    for _ in range(200):
        base = random.randint(20000, high)
        if all(_port_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no free ports")


def wait_for(predicate, timeout=10.0, interval=0.1):
    """predicate's first true value within timeout seconds, else its last."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def alive(pid):
    """pid runs (a zombie, not yet reaped by its parent, has exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


def _nginx_master(state):
    with open(os.path.join(state, "nginx.pid")) as f:
        return int(f.read())


def _nginx_children(state):
    """The worker processes of the nginx whose folder is state."""
    try:
        master = _nginx_master(state)
    except (FileNotFoundError, ValueError):
        return []                   # stopped already
    out = subprocess.run(["pgrep", "-P", str(master)],
                         stdout=subprocess.PIPE, text=True).stdout
    return [int(p) for p in out.split()]


class NginxInstance:
    def __init__(self, stack, name, nginx_workers, env=None):
        self.stack = stack
        self.state = os.path.join(stack.state, "nginx-" + name)
        os.makedirs(self.state, exist_ok=True)
        self.port = _free_ports(1)
        self.env = dict(stack.env, MANGOO_STATE=self.state, MANGOO_PORT=str(self.port),
                        MANGOO_NGINX_WORKERS=str(nginx_workers),
                        MANGOO_JWKS=os.path.join(stack.key_dir, "jwks.json"))
        self.env.update(env or {})

    def _ab(self, *args):
        return subprocess.run([os.path.join(TOP, "auto-build.sh"), *args],
                              env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)

    def start(self):
        r = self._ab("start-nginx")
        if r.returncode != 0:
            raise RuntimeError("nginx instance failed to start:\n" + r.stdout)

    def stop(self):
        # a stopped process would never take QUIT
        for pid in self.worker_pids():
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self._ab("stop-nginx")

    def master_pid(self):
        return _nginx_master(self.state)

    def request(self, *args, **kwargs):
        """Stack.request, to this instance."""
        return self.stack.request(*args, port=self.port, **kwargs)

    def log_text(self, name):
        with open(os.path.join(self.state, name), errors="replace") as f:
            return f.read()

    def access_log(self):
        return [json.loads(l) for l in self.log_text("nginx-access.log").splitlines() if l]

    def worker_pids(self):
        """nginx's worker processes (the master's children)."""
        return _nginx_children(self.state)


# What must never reach a log line: every token, password, key and chat
# message a test sends or receives through this harness (and sse_client),
# and secret-named settings.  Stack.stop() looks for each in the logs of
# the stack, so every suite checks it (test_logs says more).
SECRET_FIELDS = {"key", "password", "new_password", "current_password", "old_password",
                 "api_key", "secret", "client_secret", "access_token", "refresh_token",
                 "id_token", "code_verifier", "token", "invitation"}
SECRET_ENV = re.compile(r"SECRET|PASSWORD|API_KEY|TOKEN|CLIENT_SECRET")
SECRET_MIN = 8              # shorter values would match by chance
MESSAGE_MIN = 24            # chat messages: long enough to be the message
SECRETS = set()


def note_secret(value, minimum=SECRET_MIN):
    if isinstance(value, str) and len(value) >= minimum:
        SECRETS.add(value)


def note_body(body, messages=True):
    """The secret fields of a JSON body sent (or, messages False, received:
    an error's "message" is no one's secret), at any depth."""
    if isinstance(body, dict):
        for k, v in body.items():
            if k in SECRET_FIELDS:
                note_secret(v)
            elif k in ("message", "content") and isinstance(v, str):
                if messages:
                    note_secret(v, MESSAGE_MIN)
            else:
                note_body(v, messages)
    elif isinstance(body, list):
        for v in body:
            note_body(v, messages)


def _note_response(resp, payload):
    """Session cookies and tokens handed out are secrets too."""
    for k, v in resp.getheaders():
        if k.lower() == "set-cookie":
            note_secret(v.split(";", 1)[0].partition("=")[2])
    if (resp.getheader("content-type") or "").startswith("application/json"):
        try:
            note_body(json.loads(payload), messages=False)
        except ValueError:
            pass


class Stack:
    def __init__(self, workers=2, threads=4, timeout="5s", extra_locations="",
                 env=None, spare_workers=0):
        """spare_workers: ports kept free after the workers' for worker
        processes nginx does not know, started by the test itself
        (start_worker(i, env)), e.g. a specialised agent's."""
        self.workers = workers
        self.state = tempfile.mkdtemp(prefix="mangoo-e2e-")
        os.chmod(self.state, 0o755)  # postgres must reach its folder
        self.port = _free_ports(1)
        self.worker_port = _free_ports(workers + spare_workers)
        self.env = dict(
            os.environ,
            MANGOO_STATE=self.state,
            MANGOO_PORT=str(self.port),
            MANGOO_PG_PORT=str(_free_ports(1)),
            MANGOO_WORKER_PORT=str(self.worker_port),
            MANGOO_WORKERS=str(workers),
            MANGOO_THREADS=str(threads),
            MANGOO_TIMEOUT=timeout,
            MANGOO_NGINX_WORKERS="2",
            MANGOO_EXTRA_LOCATIONS=extra_locations,
            # tests sign in far faster than people do; test_ratelimit
            # checks the shipped limit with its own rate
            MANGOO_AUTH_RATE="200r/s",
            # likewise per user; test_ratelimit checks a low one
            MANGOO_USER_RATE="100000r/s",
            # a worker process that dies stays dead unless a test says
            # otherwise: the fault tests kill and restart them themselves
            # (test_supervision turns supervision on)
            MANGOO_SUPERVISE="0",
        )
        self.env.update(env or {})
        self.key_dir = os.path.join(self.state, "keys")
        self.instances = []

    # -- lifecycle -----------------------------------------------------
    def _ab(self, *args, check=True):
        return subprocess.run([os.path.join(TOP, "auto-build.sh"), *args],
                              env=self.env, check=check,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)

    def start(self):
        r = self._ab("start", check=False)
        if r.returncode != 0:
            self.dump_logs()
            # tearDownModule will not run: stop what did start
            self._ab("stop", check=False)
            shutil.rmtree(self.state, ignore_errors=True)
            raise RuntimeError("stack failed to start:\n" + r.stdout)
        return self

    def stop(self):
        for inst in self.instances:
            inst.stop()
        self._ab("stop", check=False)
        reports = self.sanitizer_reports() + self.nginx_alerts() + self.leaked_secrets()
        if os.environ.get("MANGOO_KEEP_STATE"):
            print("state kept in", self.state)
        else:
            shutil.rmtree(self.state, ignore_errors=True)
        if reports:
            raise AssertionError("sanitizer reports or nginx alerts:\n"
                                 + "\n".join(reports))

    def _instance_folders(self):
        """The stack's folder and those of the nginx instances it started
        (start_nginx)."""
        return [self.state] + sorted(
            os.path.join(self.state, n) for n in os.listdir(self.state)
            if n.startswith("nginx-") and os.path.isdir(os.path.join(self.state, n)))

    def nginx_alerts(self):
        """nginx's own alarms (a worker process that crashed logs "exited
        on signal"): any of them fails the stack's suite."""
        reports = []
        for folder in self._instance_folders():
            try:
                with open(os.path.join(folder, "nginx-error.log"), errors="replace") as f:
                    log = f.read()
            except FileNotFoundError:
                continue
            bad = [ln for ln in log.splitlines()
                   if re.search(r"\[(alert|crit|emerg)\]", ln)]
            if bad:
                reports.append("==== %s/nginx-error.log alerts ====\n%s"
                               % (folder, "\n".join(bad[:20])))
        return reports

    def leaked_secrets(self):
        """Tokens, passwords, keys or messages found in nginx's or the
        workers' logs (the secret itself is not repeated in the report)."""
        for k, v in self.env.items():
            if SECRET_ENV.search(k):
                note_secret(v)
        secrets = sorted(SECRETS)
        reports = []
        for folder in self._instance_folders():
            for name in sorted(os.listdir(folder)):
                if not (name.startswith("nginx-") and name.endswith(".log")
                        or name.startswith("worker-") and name.endswith(".log")):
                    continue
                with open(os.path.join(folder, name), errors="replace") as f:
                    lines = f.read().splitlines()
                for no, line in enumerate(lines, 1):
                    for secret in secrets:
                        if secret in line:
                            reports.append("==== a secret (%s..., %d chars) in %s line %d ===="
                                           % (secret[:4], len(secret), name, no))
        return reports[:20]

    def sanitizer_reports(self):
        """What ASan/UBSan wrote while this stack ran (empty when clean)."""
        reports = []
        for top in self._instance_folders():
            folder = os.path.join(top, "asan")
            if not os.path.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                with open(os.path.join(folder, name), errors="replace") as f:
                    text = f.read()
                if text.strip():
                    reports.append("==== %s ====\n%s" % (name, text[:20000]))
        return reports

    def start_nginx(self, name, nginx_workers=1, env=None):
        """Another nginx instance in front of the same worker processes, as
        a second host's would be: its own folder (nginx-<name> in the
        stack's), port and processes; env added to the stack's (e.g.
        MANGOO_WORKER_PORT and MANGOO_WORKERS for other worker processes).
        Stopped with the stack, or by its stop()."""
        inst = NginxInstance(self, name, nginx_workers, env)
        self.instances.append(inst)     # stopped with the stack even if unhealthy
        inst.start()
        return inst

    def dump_logs(self):
        for name in sorted(os.listdir(self.state)):
            if name.endswith(".log"):
                with open(os.path.join(self.state, name), errors="replace") as f:
                    tail = f.read()[-3000:]
                print("==== %s ====\n%s" % (name, tail))

    def log_text(self, name):
        with open(os.path.join(self.state, name), errors="replace") as f:
            return f.read()

    # -- processes -----------------------------------------------------
    def nginx_worker_pids(self):
        return set(_nginx_children(self.state))

    def reload_nginx(self):
        """nginx -s reload (SIGHUP to the master), with the conf as rendered."""
        os.kill(_nginx_master(self.state), signal.SIGHUP)

    def access_log(self):
        """nginx's access log: one JSON object a line (log_format mangoo_json)."""
        return [json.loads(l) for l in self.log_text("nginx-access.log").splitlines() if l]

    def worker_pid(self, i):
        with open(os.path.join(self.state, "worker-%d.pid" % i)) as f:
            return int(f.read())

    def signal_worker(self, i, sig):
        os.kill(self.worker_pid(i), sig)

    def kill_worker(self, i):
        pid = self.worker_pid(i)
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        os.unlink(os.path.join(self.state, "worker-%d.pid" % i))

    def start_worker(self, i, env=None):
        """Start worker process i (again), with env added to the stack's."""
        if env:
            subprocess.run([os.path.join(TOP, "auto-build.sh"), "start-worker", str(i)],
                           env=dict(self.env, **env), check=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        else:
            self._ab("start-worker", str(i))

    def worker_endpoint(self, i):
        return "tcp://127.0.0.1:%d" % (self.worker_port + i)

    def restart_db(self):
        self._ab("restart-db")

    def stop_db(self):
        subprocess.run(["runuser", "-u", "postgres", "--",
                        "/usr/lib/postgresql/15/bin/pg_ctl", "-D",
                        os.path.join(self.state, "pg", "data"), "-m", "fast",
                        "-w", "stop"], check=True, stdout=subprocess.DEVNULL)

    def start_db(self):
        self._ab("restart-db")

    def _psql_argv(self, sql):
        return ["runuser", "-u", "postgres", "--", "psql", "-h",
                os.path.join(self.state, "pg", "run"), "-p",
                self.env["MANGOO_PG_PORT"], "-U", "postgres", "-d", "mangoo",
                "-tAc", sql]

    def psql(self, sql):
        out = subprocess.run(self._psql_argv(sql), check=True,
                             stdout=subprocess.PIPE, text=True)
        return out.stdout.strip()

    def hold_lock(self, table, seconds):
        """In the background, hold an exclusive lock on table for seconds,
        so every query on it waits (fills the pool).  Returns the Popen."""
        return subprocess.Popen(
            self._psql_argv("BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE; "
                            "SELECT pg_sleep(%s); COMMIT;" % (table, seconds)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # -- tokens --------------------------------------------------------
    def token(self, sub="user-1", groups=(), key_dir=None, **opts):
        args = [WORKER_BIN, "token", "--key-dir", key_dir or self.key_dir,
                "--sub", sub]
        for g in groups:
            args += ["--group", g]
        for k, v in opts.items():
            if k == "claims":
                v = json.dumps(v)
            args += ["--" + k.replace("_", "-"), str(v)]
        out = subprocess.run(args, check=True, stdout=subprocess.PIPE,
                             env=self.env, text=True)
        note_secret(out.stdout.strip())
        return out.stdout.strip()

    # -- HTTP ----------------------------------------------------------
    def request(self, method, path, body=None, token=None, headers=None,
                raw=None, timeout=15, port=None):
        hdrs = {}
        if token:
            hdrs["Authorization"] = "Bearer " + token
            note_secret(token)
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
            note_body(body)
        if headers:
            hdrs.update(headers)
            for k, v in headers.items():
                if k.lower() in ("x-api-key", "authorization"):
                    note_secret(v.split(" ")[-1])
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port,
                                          timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            _note_response(resp, payload)
            headers = {k.lower(): v for k, v in resp.getheaders()}
            # the contract: a documented route's answer is documented
            openapi_check.check_response(method, path, resp.status,
                                         headers.get("content-type"), payload)
            return Response(resp.status, headers, payload)
        finally:
            conn.close()

    def wait_for(self, predicate, timeout=10.0, interval=0.1):
        return wait_for(predicate, timeout, interval)


class Load:
    """Threads asking for lists and profiles through request (a Stack's or
    an NginxInstance's) until the with block ends; every answer's status,
    path, request id and (when not 200) body is kept.  tokens may be
    replaced while it runs."""

    PATHS = ("/api/v1/bots", "/api/v1/users/me", "/api/v1/chats")

    def __init__(self, request, tokens, threads=4, paths=PATHS):
        self.request = request
        self.tokens = tokens
        self.paths = paths
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(threads)]

    def run(self, i):
        n = 0
        while not self.stopping.is_set():
            token = self.tokens[(i + n) % len(self.tokens)]
            path = self.paths[n % len(self.paths)]
            n += 1
            try:
                r = self.request("GET", path, token=token, timeout=20)
                outcome = (r.status, path, r.header("x-request-id"),
                           r.body[:200] if r.status != 200 else b"")
            except Exception as e:          # a refused or cut connection
                outcome = (0, path, None, repr(e).encode())
            with self.lock:
                self.results.append(outcome)

    def __enter__(self):
        for t in self.threads:
            t.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        time.sleep(0.5)
        self.stopping.set()
        for t in self.threads:
            t.join()

    def failures(self):
        return [r for r in self.results if r[0] != 200]
