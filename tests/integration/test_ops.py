"""Operations (issue 13): the control verbs status, reload and stop through
the parent's socket state_dir/master and the pid file; a reload that fails
loudly and keeps the old config; the systemd readiness protocol on a fake
NOTIFY_SOCKET; --help; the queue's selections (ALL, sender, recipient,
domain) and `show --body`; sendmail's -q, -bi and newaliases; and
`make install` into a DESTDIR, run from the installed tree, with the man
pages, the unit (systemd-analyze verify) and the config key check."""

import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import BIN, free_port, wait_for

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REMOTE_DOMAINS = ("remote.test", "other.test")


def run(*args, env=None, stdin=None, binary=BIN, argv0=None):
    return subprocess.run([argv0 or binary] + list(args), capture_output=True,
                          text=True, env=env, timeout=90, input=stdin,
                          executable=binary)


def send(m, rcpts, sender="sender@client.test", body="hello"):
    msg = "Subject: ops\r\n\r\n%s\r\n" % body
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        c.ehlo("client.test")
        assert c.mail(sender)[0] == 250
        for r in rcpts:
            assert c.rcpt(r)[0] == 250
        code, text = c.data(msg.encode())
        assert code == 250, text
    return re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()


def listed(m):
    r = run("queue", "-c", m.conf, "list", "--json")
    assert r.returncode == 0, r.stderr
    return {e["id"]: e for e in json.loads(r.stdout)}


@pytest.fixture
def idle_mta(mta_factory, dns):
    """Remote mail stays queued: the MX lookups fail, the retry is far."""
    for d in REMOTE_DOMAINS:
        dns.set_rcode(d, None, "SERVFAIL")
    m = mta_factory()
    with open(m.conf) as f:
        text = f.read().replace("retry = 1s 2s", "retry = 1h")
    with open(m.conf, "w") as f:
        f.write(text)
    return m.start()


# ---- help ----

def test_help_lists_every_command_on_stdout():
    for args in (["--help"], ["-h"], ["help"]):
        r = run(*args)
        assert r.returncode == 0 and r.stderr == "", args
        for verb in ("serve", "check", "status", "reload", "stop", "queue",
                     "send", "user", "dkim", "dns", "spf", "verify",
                     "newaliases", "version"):
            assert re.search(r"^  postbote %s\b" % verb, r.stdout, re.M), verb


def test_each_command_has_help():
    for verb in ("serve", "check", "status", "reload", "stop", "queue",
                 "send", "user", "dkim", "dns", "spf", "verify",
                 "newaliases"):
        r = run(verb, "--help")
        assert r.returncode == 0, (verb, r.stderr)
        assert r.stdout.startswith("usage: postbote %s" % verb), r.stdout
        assert len(r.stdout.splitlines()) >= 3, r.stdout
    r = run("serve", "--help")
    assert "-c FILE" in r.stdout and "/etc/postbote/postbote.conf" in r.stdout
    r = run("queue", "--help")
    for word in ("--body", "ALL", "--sender", "--recipient", "--domain"):
        assert word in r.stdout, word
    assert run("help", "queue").stdout == r.stdout


def test_unknown_command_is_a_usage_error():
    r = run("frobnicate")
    assert r.returncode == 2
    assert 'unknown command "frobnicate"' in r.stderr and r.stdout == ""


# ---- status, reload, stop ----

def test_status_reload_stop(mta):
    r = run("status", "-c", mta.conf)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("postbote is running (pid %d), up " % mta.proc.pid)
    assert re.search(r"^listeners:\s+mx 127\.0\.0\.1:%d mx$" % mta.port, out,
                     re.M), out
    assert re.search(r"^\s+submission 127\.0\.0\.1:%d submission$"
                     % mta.sub_port, out, re.M), out
    pids = mta.child_pids()
    for name in ("smtpd", "queue", "lookup", "deliver"):
        assert re.search(r"\b%s %d$" % (name, pids[name]), out, re.M), out
    assert re.search(r"^queue:\s+0 messages, 0 held$", out, re.M), out
    assert re.search(r"^state_dir:\s+%s$" % re.escape(mta.state), out, re.M)
    with open(os.path.join(mta.state, "postbote.pid")) as f:
        assert f.read() == "%d\n" % mta.proc.pid
    assert oct(os.stat(os.path.join(mta.state, "master")).st_mode
               & 0o777) == "0o600"

    before = mta.log().count("event=reloaded")
    r = run("reload", "-c", mta.conf)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "postbote: reloaded\n"
    # the parent says ok only after all four children applied it
    lines = mta.log().splitlines()
    ok = [i for i, ln in enumerate(lines) if "event=reload result=ok" in ln]
    done = [i for i, ln in enumerate(lines) if "event=reloaded" in ln]
    assert len(done) == before + 4 and len(ok) == 1
    assert max(done) < ok[0], "\n".join(lines)
    r = run("status", "-c", mta.conf)
    assert re.search(r"^reloaded:\s+\d{4}-\d\d-\d\d .* UTC, ok$", r.stdout,
                     re.M), r.stdout

    r = run("stop", "-c", mta.conf)
    assert r.returncode == 0, r.stderr
    assert "stopped (pid %d)" % mta.proc.pid in r.stdout
    assert mta.proc.wait(10) == 0
    assert "event=stopping request=control" in mta.log()
    for f in ("postbote.pid", "master", "control", "submit"):
        assert not os.path.exists(os.path.join(mta.state, f)), f
    r = run("status", "-c", mta.conf)
    assert r.returncode == 3 and "postbote is not running" in r.stdout
    for verb in ("reload", "stop"):
        r = run(verb, "-c", mta.conf)
        assert r.returncode == 1 and "not running" in r.stderr, verb


def test_stop_returns_when_a_new_server_could_start(mta_factory):
    """When "postbote stop" returns, the old server holds nothing a new
    one needs: the pid file and the master socket are gone (status says
    3 at once) and the listener's address can be bound.  Before, the
    parent closed the stop command's connection first and its listeners
    only at exit: "stop && serve" failed now and then with "Address
    already in use", and "stop; status" with "no answer" (exit 1)."""
    m = mta_factory()
    for _ in range(3):
        m.start()
        r = run("stop", "-c", m.conf)
        assert r.returncode == 0, r.stderr
        for f in ("postbote.pid", "master"):
            assert not os.path.exists(os.path.join(m.state, f)), f
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", m.port))
            s.listen(1)
        r = run("status", "-c", m.conf)
        assert r.returncode == 3, r.stdout + r.stderr
        assert m.proc.wait(10) == 0
        m.stop()


def test_status_names_a_stale_pid_file(mta_factory):
    m = mta_factory()
    os.makedirs(m.state)
    with open(os.path.join(m.state, "postbote.pid"), "w") as f:
        f.write("999999\n")
    r = run("status", "-c", m.conf)
    assert r.returncode == 3
    assert "stale pid file" in r.stdout
    m.start()                   # a stale pid file does not stop a start
    r = run("status", "-c", m.conf)
    assert r.returncode == 0 and "(pid %d)" % m.proc.pid in r.stdout


def test_control_socket_refuses_other_users(mta):
    r = subprocess.run([BIN, "status", "-c", mta.conf], capture_output=True,
                       text=True, user="nobody", timeout=30)
    assert r.returncode == 1
    assert "Permission denied" in r.stderr
    assert mta.proc.poll() is None


def test_failed_reload_exits_1_and_keeps_old_config(mta_factory, tmp_path):
    """A reload that cannot apply a part (a broken [dkim] key, a
    certificate that does not match its key) exits 1 with the reason;
    the log says why, and the old config stays whole."""
    mta = mta_factory().start()
    with open(mta.conf) as f:
        good = f.read()
    broken = tmp_path / "broken.key"
    broken.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n"
                      "-----END PRIVATE KEY-----\n")
    with open(mta.conf, "w") as f:
        f.write("max_recipients = 1\n" + good +
                "[dkim example.test]\nselector = s1\nkey = %s\n" % broken)
    r = run("reload", "-c", mta.conf)
    assert r.returncode == 1
    assert r.stderr.startswith("postbote: reload failed: [dkim example.test]"
                               " selector s1: key: %s: " % broken), r.stderr
    assert "event=reload result=ok" not in mta.log()
    assert re.search(r"event=reload result=\w+ reason=\"\[dkim example.test\]",
                     mta.log())
    r = run("status", "-c", mta.conf)
    assert re.search(r"^reloaded:\s+.* UTC, failed: \[dkim example.test\]",
                     r.stdout, re.M), r.stdout
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=10) as c:
        c.ehlo("client.test")
        c.mail("sender@client.test")
        assert c.rcpt("alice@example.test")[0] == 250
        assert c.rcpt("bob@example.test")[0] == 250     # still 1000

    # a certificate whose key is another one's
    for name in ("a", "b"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-subj", "/CN=mx.example.test", "-days", "2",
                        "-keyout", str(tmp_path / (name + ".key")),
                        "-out", str(tmp_path / (name + ".crt"))],
                       check=True, capture_output=True)
    with open(mta.conf, "w") as f:
        f.write("max_recipients = 1\ntls_cert = %s\ntls_key = %s\n"
                % (tmp_path / "a.crt", tmp_path / "b.key") + good)
    r = run("reload", "-c", mta.conf)
    assert r.returncode == 1
    assert "reload failed: default certificate: private key" in r.stderr, \
        r.stderr
    assert "result=failed" in mta.log().splitlines()[-1] and \
        "config=kept" in mta.log().splitlines()[-1], mta.log()
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=10) as c:
        c.ehlo("client.test")
        c.mail("sender@client.test")
        assert c.rcpt("alice@example.test")[0] == 250
        assert c.rcpt("bob@example.test")[0] == 250

    # a good config reloads, and is in force
    with open(mta.conf, "w") as f:
        f.write("max_recipients = 1\n" + good)
    r = run("reload", "-c", mta.conf)
    assert r.returncode == 0, r.stderr
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=10) as c:
        c.ehlo("client.test")
        c.mail("sender@client.test")
        assert c.rcpt("alice@example.test")[0] == 250
        assert c.rcpt("bob@example.test")[0] == 452
    assert mta.proc.poll() is None


def test_reload_refused_for_listener_change(mta):
    with open(mta.conf) as f:
        text = f.read()
    with open(mta.conf, "w") as f:
        f.write(text.replace("127.0.0.1:%d" % mta.sub_port,
                             "127.0.0.1:%d" % free_port()))
    r = run("reload", "-c", mta.conf)
    assert r.returncode == 1
    assert "need a restart" in r.stderr, r.stderr


# ---- sd_notify ----

def notify_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(20)
    return s


def recv_until(s, needle):
    got = []
    while True:
        msg = s.recv(4096).decode()
        got.append(msg)
        if needle in msg:
            return got


@pytest.mark.parametrize("abstract", [False, True])
def test_sd_notify(mta_factory, monkeypatch, tmp_path, abstract):
    """READY=1 (with MAINPID and STATUS) once it listens; RELOADING=1 with
    MONOTONIC_USEC, then READY=1, around a reload; STOPPING=1 at the stop.
    The children never see NOTIFY_SOCKET."""
    if abstract:
        name = "postbote-test-%d-%d" % (os.getpid(), time.time_ns())
        s = notify_socket("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    else:
        path = str(tmp_path / "notify")
        s = notify_socket(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
    m = mta_factory().start()
    monkeypatch.delenv("NOTIFY_SOCKET")
    got = recv_until(s, "READY=1")
    assert len(got) == 1
    ready = got[0].split("\n")
    assert "MAINPID=%d" % m.proc.pid in ready
    assert any(x.startswith("STATUS=running") for x in ready), ready
    for pid in m.child_pids().values():
        with open("/proc/%d/environ" % pid, "rb") as f:
            assert b"NOTIFY_SOCKET" not in f.read()
    assert run("reload", "-c", m.conf).returncode == 0
    got = recv_until(s, "READY=1")
    assert got[0].startswith("RELOADING=1\nMONOTONIC_USEC=")
    usec = int(re.search(r"MONOTONIC_USEC=(\d+)", got[0]).group(1))
    assert abs(usec / 1e6 - time.monotonic()) < 60
    assert "STATUS=reloaded" in got[-1]
    m.proc.send_signal(signal.SIGTERM)
    got = recv_until(s, "STOPPING=1")
    assert m.proc.wait(20) == 0
    s.close()


def test_bad_notify_socket_is_ignored(mta_factory, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", "relative/path")
    m = mta_factory().start()
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert "NOTIFY_SOCKET is not a socket address" in m.log()
    assert run("status", "-c", m.conf).returncode == 0


# ---- queue selections and bodies ----

def test_queue_selections(idle_mta):
    m = idle_mta
    a = send(m, ["x@remote.test"], sender="alice@client.test")
    b = send(m, ["y@remote.test"], sender="bob@client.test")
    c = send(m, ["z@other.test"], sender="alice@client.test")
    assert wait_for(lambda: all(
        r["state"] != "pending" for e in listed(m).values()
        for r in e["recipients"]))

    r = run("queue", "-c", m.conf, "hold", "-s", "ALICE@client.test")
    assert r.returncode == 0, r.stderr
    held = {i for i, e in listed(m).items() if e["held"]}
    assert held == {a, c}
    r = run("queue", "-c", m.conf, "release", "--domain", "other.test")
    assert r.returncode == 0 and r.stdout.startswith(c + ": ")
    assert {i for i, e in listed(m).items() if e["held"]} == {a}
    r = run("queue", "-c", m.conf, "hold", "-s", "alice@client.test",
            "-r", "x@remote.test")
    assert {i for i, e in listed(m).items() if e["held"]} == {a}
    r = run("queue", "-c", m.conf, "delete", "-r", "nobody@remote.test")
    assert r.returncode == 0 and "no message matches" in r.stdout
    r = run("queue", "-c", m.conf, "delete", b.lower(), c)
    assert r.returncode == 0, r.stderr
    assert set(listed(m)) == {a}
    assert re.search(r"%s: removed \(deleted by admin\)" % b, m.log())
    r = run("queue", "-c", m.conf, "release", "ALL")
    assert r.returncode == 0 and not listed(m)[a]["held"]
    r = run("queue", "-c", m.conf, "flush", "ALL")
    assert r.returncode == 0, r.stderr
    r = run("queue", "-c", m.conf, "delete", "ALL")
    assert r.returncode == 0, r.stderr
    assert listed(m) == {}


def test_show_body_prints_the_whole_message(idle_mta):
    m = idle_mta
    qid = send(m, ["x@remote.test"], body="line one\r\n..dot\r\nlast line")
    r = run("queue", "-c", m.conf, "show", qid, "--body")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^Received: from client\.test ", out, re.M), out
    assert "Subject: ops\n\nline one\n..dot\nlast line\n" in out, out
    assert "\r" not in out
    r = run("queue", "-c", m.conf, "show", "0123456789ABCDEF", "--body")
    assert r.returncode == 1
    assert "0123456789ABCDEF: no such message" in r.stderr
    assert 'request=body id=0123456789ABCDEF' in m.log() or \
        "request=body" in m.log()


# ---- sendmail compatibility ----

def link(tmp_path, name):
    p = tmp_path / name
    os.symlink(BIN, p)
    return str(p)


def test_sendmail_q_flushes_and_bi_checks(idle_mta, tmp_path):
    m = idle_mta
    sm = link(tmp_path, "sendmail")
    r = run("-c", m.conf, "-q", binary=BIN, argv0=sm)
    assert r.returncode == 0, r.stderr
    assert re.search(r"event=control request=flush uid=0 result=ok", m.log())
    r = run("-c", m.conf, "-q30m", binary=BIN, argv0=sm)
    assert r.returncode == 0, r.stderr
    r = run("-c", m.conf, "-bi", binary=BIN, argv0=sm)
    assert r.returncode == 0 and "reloaded" in r.stdout, r.stderr
    for flag in ("-bt", "-bd"):
        r = run("-c", m.conf, flag, binary=BIN, argv0=sm)
        assert r.returncode == 64 and "not supported" in r.stderr, flag
    # -bv under the sendmail name (test_sendmail_bs.py has the rest).
    r = run("-c", m.conf, "-bv", "alice", binary=BIN, argv0=sm)
    assert r.returncode == 0 and r.stdout == "alice@example.test: " \
        "deliverable: local mailbox alice@example.test\n", r.stderr
    r = run("-c", m.conf, "-bv", binary=BIN, argv0=sm)
    assert r.returncode == 64


def test_newaliases_checks_then_reloads(idle_mta, tmp_path):
    m = idle_mta
    na = link(tmp_path, "newaliases")
    aliases = os.path.join(m.base, "aliases")
    with open(aliases, "a") as f:
        f.write("newlist: alice@example.test\n")
    r = run("-c", m.conf, binary=BIN, argv0=na)
    assert r.returncode == 0 and r.stdout == "postbote: reloaded\n", r.stderr
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        c.ehlo("client.test")
        c.mail("sender@client.test")
        assert c.rcpt("newlist@example.test")[0] == 250
    with open(aliases, "a") as f:
        f.write("broken line without colon\n")
    r = run("-c", m.conf, binary=BIN, argv0=na)
    assert r.returncode == 2
    assert aliases in r.stderr and ":" in r.stderr, r.stderr
    assert m.log().count("event=reload result=ok") == 1


def test_newaliases_leaves_the_running_servers_listeners_alone(idle_mta,
                                                               tmp_path):
    """newaliases starts no server, so it does not try the listeners'
    addresses as `postbote check` does: the running server holds them,
    and each run warned of every one.  It still checks the tables (a
    postmaster that leads nowhere is still said) and reloads."""
    m = idle_mta
    na, sm = link(tmp_path, "newaliases"), link(tmp_path, "sendmail")
    for argv0, args in ((na, ["-c", m.conf]), (sm, ["-c", m.conf, "-bi"]),
                        (None, ["newaliases", "-c", m.conf])):
        r = run(*args, binary=BIN, argv0=argv0)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "postbote: reloaded\n", r.stdout
        assert r.stderr == "", r.stderr
    assert m.log().count("event=reload result=ok") == 3
    aliases = os.path.join(m.base, "aliases")
    with open(aliases) as f:
        text = f.read()
    with open(aliases, "w") as f:
        f.write(text.replace("postmaster: alice@example.test",
                             "postmaster: nobody@example.test"))
    r = run("-c", m.conf, binary=BIN, argv0=na)
    assert r.returncode == 0, r.stderr
    assert "warning:" in r.stderr and "postmaster" in r.stderr, r.stderr
    assert "is in use" not in r.stderr, r.stderr
    # the check before a start still tries them
    r = run("check", "-c", m.conf)
    assert r.returncode == 0, r.stderr
    assert "warning: [listen mx] address 127.0.0.1:%d is in use" % m.port \
        in r.stderr, r.stderr


def test_mailq_without_config_names_what_it_looked_for(tmp_path):
    env = dict(os.environ)
    env.pop("POSTBOTE_CONF", None)
    if os.path.exists("/etc/postbote/postbote.conf"):
        pytest.skip("this machine has /etc/postbote/postbote.conf")
    r = subprocess.run([link(tmp_path, "mailq")], capture_output=True,
                       text=True, cwd=str(tmp_path), env=env, timeout=30)
    assert r.returncode == 1
    assert "the server is not running" in r.stderr
    assert "/etc/postbote/postbote.conf" in r.stderr, r.stderr


# ---- documentation ----

def test_config_keys_are_documented(tmp_path):
    r = subprocess.run(["/usr/bin/python3", "scripts/check-keys.py"],
                       cwd=TOP, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    n = int(re.search(r"(\d+) keys", r.stdout).group(1))
    assert n > 70
    # the check fails on a key the docs lose, or one the code lacks
    for sub in ("src/common", "docs", "man"):
        shutil.copytree(os.path.join(TOP, sub), str(tmp_path / sub))
    doc = tmp_path / "docs" / "config.md"
    text = doc.read_text()
    doc.write_text(re.sub(r"^\| `greet_delay` \|.*\n", "", text, flags=re.M)
                   + "\n### `[listen NAME]`\n\n| Key | Type |\n|---|---|\n"
                   "| `backlog` | number |\n")
    r = subprocess.run(["/usr/bin/python3",
                        os.path.join(TOP, "scripts/check-keys.py"),
                        str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "docs/config.md: key greet_delay is not documented" in r.stdout
    assert "docs/config.md: documents [listen] backlog, which the code " \
        "does not know" in r.stdout
    assert "postbote.conf(5)" not in r.stdout


def test_man_pages_render_without_warnings():
    gen = subprocess.run(["/usr/bin/python3", "scripts/man-conf.py",
                          "docs/config.md"], cwd=TOP, capture_output=True,
                         text=True, check=True)
    with open(os.path.join(TOP, "man", "postbote.conf.5")) as f:
        assert f.read() == gen.stdout, "run make man"
    for page in ("postbote.8", "postbote.conf.5", "sendmail.1"):
        path = os.path.join(TOP, "man", page)
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path],
                           capture_output=True, text=True)
        assert r.returncode == 0 and r.stderr == "", (page, r.stderr)
        r = subprocess.run(["man", "-l", path], capture_output=True,
                           text=True, env=dict(os.environ, MANWIDTH="80"))
        assert r.returncode == 0 and "SEE ALSO" in r.stdout, page


# ---- make install ----

def make(*args):
    r = subprocess.run(["make", "-s", "-C", TOP, "INSTALL_BIN=" + BIN] +
                       list(args), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_install_run_uninstall(tmp_path, dns):
    dest = str(tmp_path / "root")
    make("install", "DESTDIR=" + dest, "PREFIX=/usr")
    sbin = dest + "/usr/sbin/postbote"
    assert os.access(sbin, os.X_OK)
    for l, target in (("/usr/sbin/sendmail", "postbote"),
                      ("/usr/bin/mailq", "../sbin/postbote"),
                      ("/usr/bin/newaliases", "../sbin/postbote")):
        assert os.readlink(dest + l) == target
        assert os.path.samefile(dest + l, sbin)
    for page in ("man8/postbote.8", "man5/postbote.conf.5",
                 "man1/sendmail.1", "man1/mailq.1", "man1/newaliases.1"):
        assert os.path.exists(dest + "/usr/share/man/" + page), page
    r = subprocess.run(["man", "-M", dest + "/usr/share/man", "mailq"],
                       capture_output=True, text=True)
    assert "newaliases" in r.stdout and r.stderr == "", r.stderr
    conf = dest + "/etc/postbote/postbote.conf"
    assert oct(os.stat(dest + "/etc/postbote/users").st_mode & 0o777) == \
        "0o640"
    assert os.path.isdir(dest + "/var/lib/postbote")

    unit = dest + "/usr/lib/systemd/system/postbote.service"
    text = open(unit).read()
    for want in ("Type=notify", "ExecStart=/usr/sbin/postbote serve",
                 "ExecReload=/usr/sbin/postbote reload", "ProtectSystem=",
                 "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
                 "CapabilityBoundingSet=CAP_NET_BIND_SERVICE "):
        assert want in text, want
    assert "@" not in re.sub(r"#.*", "", text)
    if shutil.which("systemd-analyze"):
        # the unit's programs as installed in DESTDIR
        check = tmp_path / "postbote.service"
        check.write_text(text.replace("/usr/sbin/", dest + "/usr/sbin/"))
        r = subprocess.run(["systemd-analyze", "verify", str(check)],
                           capture_output=True, text=True,
                           env=dict(os.environ,
                                    MANPATH=dest + "/usr/share/man"))
        assert r.returncode == 0 and r.stderr == "", r.stderr

    # the installed example config, made to run here
    port, sub = free_port(), free_port()
    text = open(conf).read()
    assert "state_dir = /var/lib/postbote" in text
    text = text.replace("/var/lib/postbote", dest + "/var/lib/postbote")
    text = text.replace("/etc/postbote/", dest + "/etc/postbote/")
    # the example's /var/mail/%d/%u: a folder root owns (Debian's is
    # root:mail 2775), in which user could not make the domains' folders
    # itself.  Here one made so inside state_dir (pytest's folders above
    # DESTDIR are root's, mode 0700, which user could not pass through).
    assert re.search(r"^mailbox\s*=\s*/var/mail/%d/%u\b", text, re.M)
    mail = dest + "/var/lib/postbote/vmail"
    os.mkdir(mail)
    os.chmod(mail, 0o2775)
    text = text.replace("/var/mail/", mail + "/")
    text = re.sub(r"^#?resolver .*$", "resolver = " + dns.address, text,
                  flags=re.M)
    text = re.sub(r"^address = 0\.0\.0\.0:25$", "address = 127.0.0.1:%d"
                  % port, text, flags=re.M)
    text = re.sub(r"^address = 0\.0\.0\.0:587$", "address = 127.0.0.1:%d"
                  % sub, text, flags=re.M)
    text = re.sub(r"\[listen submissions\]\naddress = .*\nmode\s*=.*\n",
                  "", text)
    with open(conf, "w") as f:
        f.write(text)
    r = run("check", "-c", conf, binary=sbin)
    assert r.returncode == 0, r.stderr
    log = open(str(tmp_path / "log"), "wb")
    proc = subprocess.Popen([sbin, "serve", "-c", conf], stdout=log,
                            stderr=log, stdin=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: run("status", "-c", conf,
                                    binary=sbin).returncode == 0)
        r = run("status", "-c", conf, binary=sbin)
        assert "(pid %d)" % proc.pid in r.stdout
        assert re.search(r"^config:\s+%s$" % re.escape(conf), r.stdout, re.M)
        assert re.search(r"mx 127\.0\.0\.1:%d mx" % port, r.stdout)
        r = run("-c", conf, binary=sbin, argv0=dest + "/usr/bin/mailq")
        assert r.returncode == 0 and "the queue is empty" in r.stdout
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
            c.sendmail("someone@client.test", ["postmaster@example.com"],
                       b"Subject: installed\r\n\r\nhello\r\n")
        new = mail + "/example.com/postmaster/new"
        assert wait_for(lambda: os.path.isdir(new) and os.listdir(new)), \
            run("-c", conf, binary=sbin, argv0=dest + "/usr/bin/mailq").stdout
        r = run("reload", "-c", conf, binary=sbin)
        assert r.returncode == 0, r.stderr
        r = run("-c", conf, binary=sbin, argv0=dest + "/usr/bin/newaliases")
        assert r.returncode == 0, r.stderr
        r = run("stop", "-c", conf, binary=sbin)
        assert r.returncode == 0, r.stderr
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    text = open(str(tmp_path / "log"), errors="replace").read()
    assert "AddressSanitizer" not in text and "runtime error" not in text

    # a second install keeps the admin's config
    make("install", "DESTDIR=" + dest, "PREFIX=/usr")
    assert "127.0.0.1:%d" % port in open(conf).read()
    make("uninstall", "DESTDIR=" + dest, "PREFIX=/usr")
    for gone in ("/usr/sbin/postbote", "/usr/sbin/sendmail", "/usr/bin/mailq",
                 "/usr/bin/newaliases", "/usr/share/man/man8/postbote.8",
                 "/usr/lib/systemd/system/postbote.service"):
        assert not os.path.lexists(dest + gone), gone
    assert os.path.exists(conf)


def test_install_never_replaces_a_foreign_sendmail_on_uninstall(tmp_path):
    dest = str(tmp_path / "root")
    make("install", "DESTDIR=" + dest)          # PREFIX=/usr/local
    assert os.path.exists(dest + "/usr/local/sbin/postbote")
    assert os.path.exists(dest + "/usr/local/lib/systemd/system/"
                          "postbote.service")
    other = dest + "/usr/local/bin/mailq"
    os.unlink(other)
    with open(other, "w") as f:
        f.write("#!/bin/sh\n")
    make("uninstall", "DESTDIR=" + dest)
    assert os.path.exists(other)
    assert not os.path.lexists(dest + "/usr/local/sbin/sendmail")


def test_reload_rolls_back_when_a_process_dies_during_it(mta_factory):
    """A child that never applies the reload (here: stopped, then killed)
    fails it: the admin gets the reason, every process gets the old
    config back, and it is in force."""
    mta = mta_factory().start()
    with open(mta.conf) as f:
        good = f.read()
    with open(mta.conf, "w") as f:
        f.write("max_recipients = 1\n" + good)
    deliver = mta.child_pids()["deliver"]
    os.kill(deliver, signal.SIGSTOP)
    try:
        proc = subprocess.Popen([BIN, "reload", "-c", mta.conf],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert wait_for(lambda: mta.log().count("event=reloaded") >= 3)
        time.sleep(0.3)
        assert proc.poll() is None      # it waits for deliver
    finally:
        os.kill(deliver, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err == "postbote: reload failed: deliver: exited during the " \
        "reload\n", err
    assert re.search(r'event=reload result=failed reason="deliver: exited '
                     r'during the reload" config=kept', mta.log())
    assert "event=reload result=ok" not in mta.log()
    assert wait_for(lambda: mta.child_pids()["deliver"] != deliver)
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=10) as c:
        c.ehlo("client.test")
        c.mail("sender@client.test")
        assert c.rcpt("alice@example.test")[0] == 250
        assert c.rcpt("bob@example.test")[0] == 250     # the old config
    # and mail still goes through the restarted deliver
    send(mta, ["alice@example.test"])
    assert mta.wait_messages("alice@example.test", 1)


# ---- check ----

def test_check_names_the_line_of_a_missing_certificate(mta_factory,
                                                       tmp_path):
    m = mta_factory()
    with open(m.conf) as f:
        text = f.read()
    missing = str(tmp_path / "nowhere" / "cert.pem")
    with open(m.conf, "w") as f:
        f.write(text.replace("retry = 1s 2s\n", "retry = 1s 2s\ntls_cert = "
                             "%s\ntls_key = %s\n" % (missing, missing)))
    line = [i + 1 for i, ln in enumerate(open(m.conf).read().splitlines())
            if ln.startswith("tls_cert")][0]
    r = run("check", "-c", m.conf)
    assert r.returncode == 2
    assert "postbote: %s:%d: tls_cert: %s: No such file or directory" % (
        m.conf, line, missing) in r.stderr, r.stderr


def test_check_warns_of_a_listener_address_in_use(mta_factory):
    m = mta_factory()
    busy = socket.socket()
    busy.bind(("127.0.0.1", m.port))
    busy.listen(1)
    try:
        r = run("check", "-c", m.conf)
    finally:
        busy.close()
    assert r.returncode == 0, r.stderr
    assert "warning: [listen mx] address 127.0.0.1:%d is in use" % m.port \
        in r.stderr, r.stderr
    assert "[listen submission]" not in r.stderr
    r = run("check", "-c", m.conf)
    assert "is in use" not in r.stderr


def test_check_suggests_a_close_key(mta_factory):
    m = mta_factory()
    with open(m.conf) as f:
        text = f.read()
    with open(m.conf, "w") as f:
        f.write("max_recipent = 5\n" + text)
    r = run("check", "-c", m.conf)
    assert r.returncode == 2
    assert r.stderr == 'postbote: %s:1:1: max_recipent: unknown key; did ' \
        'you mean "max_recipients"?\n' % m.conf


def test_defaults_flag_ignores_config_files(tmp_path):
    """--defaults (make run) takes the embedded config even where a file
    would be read: here $POSTBOTE_CONF names a broken one."""
    bad = tmp_path / "broken.conf"
    bad.write_text("no_such_key = 1\n")
    env = dict(os.environ, POSTBOTE_CONF=str(bad))
    r = run("check", env=env)
    assert r.returncode == 2 and "no_such_key" in r.stderr
    r = run("check", "--defaults", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "embedded defaults: ok"
