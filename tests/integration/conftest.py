"""Fixtures for the integration suite: a real build/postbote serve on free
loopback ports, with a temporary state_dir, users and aliases files, and a
fake DNS server on loopback that every config points `resolver` at."""

import atexit
import json
import os
import shutil
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

from fakedns import FakeDNS


def maildir_order(name):
    """Sort key for Maildir names "SECONDS.M<usec>P<pid>...": the
    microseconds are not zero-padded, so order by number, not by text."""
    m = re.match(r"(\d+)\.M(\d+)", name)
    return (int(m.group(1)), int(m.group(2)), name) if m else (0, 0, name)


BIN = os.environ.get("POSTBOTE_BIN",
                     os.path.join(os.path.dirname(__file__), "..", "..",
                                  "build", "asan", "postbote"))


def _others_can_run(path):
    """Can a user other than root (nobody, postbote) run path: every
    folder above it searchable by others, the file readable and runnable?"""
    path = os.path.abspath(path)
    if os.stat(path).st_mode & 0o005 != 0o005:
        return False
    d = os.path.dirname(path)
    while True:
        if not os.stat(d).st_mode & 0o001:
            return False
        if d == os.path.dirname(d):
            return True
        d = os.path.dirname(d)


def _runnable_by_others(path):
    """The binary itself when other users can run it; else a copy in a
    folder of its own that they can (a checkout in a private folder, as
    /root/postbote is, keeps the tests that run commands as nobody)."""
    if not os.path.exists(path) or _others_can_run(path):
        return path
    d = tempfile.mkdtemp(prefix="postbote-bin-")
    os.chmod(d, 0o755)
    copy = os.path.join(d, "postbote")
    shutil.copy2(path, copy)
    os.chmod(copy, 0o755)
    atexit.register(shutil.rmtree, d, True)
    return copy


BIN = _runnable_by_others(BIN)


def use_release_build(monkeypatch):
    """Make the servers of this test run build/postbote, the optimized
    build, instead of the suite's sanitizer build: for what only it
    shows (RSS without ASan's allocator; the seccomp filters, which in
    the sanitizer build also allow what ASan calls).  Skipped when it is
    missing or older than the sources."""
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    rel = os.path.join(root, "build", "postbote")
    if not os.path.exists(rel):
        pytest.skip("build/postbote not built")
    src = os.path.join(root, "src")
    newest = max(os.path.getmtime(os.path.join(d, f))
                 for d, _, files in os.walk(src) for f in files)
    if os.path.getmtime(rel) < newest:
        pytest.skip("build/postbote is older than src/: run make")
    monkeypatch.setattr(sys.modules[__name__], "BIN",
                        _runnable_by_others(rel))

USERS = {
    "alice@example.test": "alice-pw",
    "bob@example.test": "bob-pw",
    "carol@example.org": "carol-pw",
}

ALIASES = """\
# test aliases
postmaster: alice@example.test
team@example.test: alice@example.test, bob
info@example.test: team@example.test
loop1@example.test: loop2@example.test
loop2@example.test: loop1@example.test
ext@example.test: someone@remote.test
bob@example.test: bob@example.test, archive@example.org
archive@example.org: carol@example.org
@example.org: carol@example.org
"""


# Loopback ports come from a range below the kernel's ephemeral ports
# (32768-60999: the fake DNS servers' and the clients' ports), split between
# the pytest-xdist workers, handed out in order and never twice in a run.
_PORT_LOW, _PORT_HIGH = 10000, 32000


def _port_range():
    # POSTBOTE_TEST_PORTS=LOW-HIGH narrows the range, so that two
    # checkouts can run their suites side by side on one machine.
    low, high = _PORT_LOW, _PORT_HIGH
    if os.environ.get("POSTBOTE_TEST_PORTS"):
        low, high = (int(x) for x in
                     os.environ["POSTBOTE_TEST_PORTS"].split("-"))
    worker = int(re.sub(r"\D", "", os.environ.get("PYTEST_XDIST_WORKER",
                                                   "gw0")) or 0)
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    span = (high - low) // count
    low = low + worker * span
    return low, low + span


_next_port, _end_port = _port_range()


def free_port():
    """A loopback port nothing listens on, from this worker's range."""
    global _next_port
    while _next_port < _end_port:
        port = _next_port
        _next_port += 1
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no loopback port left in %d-%d" % _port_range())


def wait_port(port, proc, timeout=15.0, greet_timeout=0.2):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port),
                                          greet_timeout) as s:
                s.recv(512)
                s.sendall(b"QUIT\r\n")
            return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_for(cond, timeout=15.0):
    """Poll cond until it is true or timeout seconds passed; its last
    value."""
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


class MTA:
    """One postbote server under test."""

    def __init__(self, base, dns, extra="", users=USERS, aliases=ALIASES,
                 relay_networks=None):
        self.base = base
        self.dns = dns
        self.state = os.path.join(base, "state")
        self.port = free_port()
        self.sub_port = free_port()
        self.subs_port = free_port()
        self.conf = os.path.join(base, "postbote.conf")
        self.logfile = os.path.join(base, "postbote.log")
        users_file = os.path.join(base, "users")
        aliases_file = os.path.join(base, "aliases")
        with open(users_file, "w") as f:
            for addr, pw in users.items():
                f.write("%s:%s\n" % (addr, crypt.crypt(
                    pw, crypt.mksalt(crypt.METHOD_SHA512))))
        with open(aliases_file, "w") as f:
            f.write(aliases)
        lines = [
            "hostname = mx.example.test",
            "domains = example.test example.org",
            "state_dir = %s" % self.state,
            "users = %s" % users_file,
            "aliases = %s" % aliases_file,
            "resolver = %s" % dns.address,
            "retry = 1s 2s",
        ]
        if relay_networks is not None:
            lines.append("relay_networks = %s" % relay_networks)
        lines.append(extra)
        lines += [
            "[listen mx]", "address = 127.0.0.1:%d" % self.port, "mode = mx",
            "[listen submission]",
            "address = 127.0.0.1:%d" % self.sub_port, "mode = submission",
        ]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self, greet_timeout=0.2, wrap=(), log=None, env=None):
        """greet_timeout: how long to wait for the greeting when probing
        the port (raise it for configs with a greet_delay).  wrap: the
        words of a command that runs the server's (and execs it, so
        that proc is the server); log: what reads the server's log
        lines when they do not go to the log file (log = syslog); env:
        more environment variables for the server (the test build's
        hooks)."""
        log = log or self.log
        self.logf = open(self.logfile, "ab")
        before = log().count("event=queue-loaded")
        self.proc = subprocess.Popen(list(wrap) + [BIN, "serve", "-c",
                                                   self.conf],
                                     stdout=self.logf, stderr=self.logf,
                                     stdin=subprocess.DEVNULL,
                                     env=dict(os.environ, **(env or {})))
        if not wait_port(self.port, self.proc, greet_timeout=greet_timeout):
            self.stop()
            raise RuntimeError("postbote did not start:\n" + self.log() +
                               (log() if log != self.log else ""))
        # smtpd may accept before queue has finished its recovery
        end = time.time() + 15
        while log().count("event=queue-loaded") <= before and \
                time.time() < end:
            time.sleep(0.02)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in self.child_pids().values():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self.logf.close()
        return rc

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def child_pids(self):
        """The latest pid of each child process, from the spawn lines."""
        pids = {}
        for m in re.finditer(r"event=spawn process=(\w+) pid=(\d+)",
                             self.log()):
            pids[m.group(1)] = int(m.group(2))
        return pids

    def maildir(self, addr):
        local, domain = addr.split("@")
        return os.path.join(self.state, "mail", domain, local.lower())

    def messages(self, addr):
        """Contents of the messages in addr's Maildir new/, oldest first."""
        d = os.path.join(self.maildir(addr), "new")
        if not os.path.isdir(d):
            return []
        out = []
        for name in sorted(os.listdir(d), key=maildir_order):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read())
        return out

    def wait_messages(self, addr, n, timeout=15.0):
        end = time.time() + timeout
        while time.time() < end:
            msgs = self.messages(addr)
            if len(msgs) >= n:
                return msgs
            time.sleep(0.05)
        return self.messages(addr)

    def wait_subject(self, addr, text, timeout=30.0):
        """The delivered message of addr whose header block holds text
        (bytes or str); fails with the log when none comes."""
        if isinstance(text, str):
            text = text.encode()
        end = time.time() + timeout
        while time.time() < end:
            for raw in self.messages(addr):
                head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
                if text in head:
                    return raw
            time.sleep(0.05)
        raise AssertionError("no message with %r for %s:\n%s"
                             % (text, addr, self.log()))

    def queued(self):
        """The ids of the messages waiting in the queue, not held: the
        server's own list while it runs (an envelope is written to
        spool/queue only when it is needed), else spool/queue."""
        if self.proc is not None and self.proc.poll() is None:
            r = subprocess.run([BIN, "queue", "-c", self.conf, "list",
                                "--json"], capture_output=True, text=True,
                               timeout=30)
            if r.returncode == 0:
                return sorted(e["id"] for e in json.loads(r.stdout)
                              if not e["held"])
        d = os.path.join(self.state, "spool", "queue")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def envelope_file(self, qid, timeout=15.0):
        """The path of qid's envelope in spool/queue once the queue has
        written it: at the first status record (a deferral), a hold, or
        the next checkpoint."""
        path = os.path.join(self.state, "spool", "queue", qid)
        end = time.time() + timeout
        while time.time() < end and not os.path.exists(path):
            time.sleep(0.05)
        return path

    def wait_queue_empty(self, timeout=15.0):
        end = time.time() + timeout
        while time.time() < end and self.queued():
            time.sleep(0.05)
        return self.queued()


@pytest.fixture
def dns():
    server = FakeDNS()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="postbote-test-")
    os.chmod(d, 0o755)       # the server's processes run as `user`
    yield d
    subprocess.run(["rm", "-rf", d], check=False)


@pytest.fixture
def mta_factory(workdir, dns):
    started = []

    def make(**kw):
        sub = tempfile.mkdtemp(dir=workdir)
        os.chmod(sub, 0o755)
        m = MTA(sub, dns, **kw)
        started.append(m)
        return m

    yield make
    for m in started:
        m.stop()
    for m in started:
        log = m.log()
        assert "AddressSanitizer" not in log and "runtime error:" not in log \
            and "LeakSanitizer" not in log, "sanitizer report:\n" + log


@pytest.fixture
def mta(mta_factory):
    return mta_factory().start()


# ---- module-scoped servers, for tests that only look at replies ----
# Starting a server costs ~0.4s; the many parametrized reply-only cases
# (syntax errors, parameter checks, relay tricks) share one per module.
# Tests that count delivered messages or look at the queue keep using the
# function-scoped `mta`/`mta_factory`.

@pytest.fixture(scope="module")
def module_dns():
    server = FakeDNS()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mta_module_factory(module_dns):
    base = tempfile.mkdtemp(prefix="postbote-test-")
    os.chmod(base, 0o755)
    started = []

    def make(**kw):
        sub = tempfile.mkdtemp(dir=base)
        os.chmod(sub, 0o755)
        m = MTA(sub, module_dns, **kw)
        started.append(m)
        return m

    yield make
    for m in started:
        m.stop()
    logs = [m.log() for m in started]
    subprocess.run(["rm", "-rf", base], check=False)
    for log in logs:
        assert "AddressSanitizer" not in log and "runtime error:" not in log \
            and "LeakSanitizer" not in log, "sanitizer report:\n" + log
