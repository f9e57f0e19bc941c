"""Least privilege of the server's children, read from /proc: each runs
under its own uid (smtpd apart from the others), with an empty capability
bounding set, no new privileges and a seccomp filter; smtpd's root is the
empty STATE_DIR/empty and it owns nothing it could write in the spool or
the mailboxes.  A system call outside a filter kills the process, and the
parent restarts it and says why."""

import os
import pwd
import signal
import smtplib
import stat
import time

import pytest

CHILDREN = ("smtpd", "queue", "lookup", "deliver")

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the sandbox needs a root start")


def status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def send(port, rcpt, body=b"Subject: t\r\n\r\nhello\r\n"):
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
        c.sendmail("sender@client.test", [rcpt], body)


def wait_new_pid(mta, name, old, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        pid = mta.child_pids().get(name)
        if pid is not None and pid != old:
            return pid
        time.sleep(0.05)
    raise AssertionError("no new %s:\n%s" % (name, mta.log()))


def test_every_child_is_confined(mta):
    user = pwd.getpwnam("postbote")
    smtpd_user = pwd.getpwnam("postbote-smtpd")
    assert user.pw_uid != smtpd_user.pw_uid
    pids = mta.child_pids()
    assert sorted(pids) == sorted(CHILDREN)
    for name, pid in pids.items():
        st = status(pid)
        want = smtpd_user if name == "smtpd" else user
        assert st["Uid"].split() == [str(want.pw_uid)] * 4, (name, st["Uid"])
        assert st["Gid"].split() == [str(want.pw_gid)] * 4, (name, st["Gid"])
        assert st["Groups"].split() == [str(want.pw_gid)], name
        assert int(st["CapBnd"], 16) == 0, (name, st["CapBnd"])
        assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
        assert st["NoNewPrivs"] == "1", name
        assert st["Seccomp"] == "2", name
        root = os.readlink("/proc/%d/root" % pid)
        if name == "smtpd":
            assert root == os.path.join(mta.state, "empty"), root
        else:
            assert root == "/", (name, root)
    # The parent stays root and unfiltered: it restarts the children.
    parent = status(mta.proc.pid)
    assert parent["Uid"].split()[0] == "0" and parent["Seccomp"] == "0"


def test_smtpd_root_is_empty_and_roots(mta):
    empty = os.path.join(mta.state, "empty")
    st = os.stat(empty)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o555
    assert st.st_uid == 0 and st.st_gid == 0
    assert os.listdir(empty) == []


def test_smtpd_cannot_write_spool_or_mailboxes(mta):
    """Nothing under the spool or the mail root is smtpd's, and no folder
    there lets smtpd's uid or gid create, rename or unlink a file; mail
    still goes through (queue hands smtpd each spool file open)."""
    send(mta.port, "alice@example.test")
    assert len(mta.wait_messages("alice@example.test", 1)) == 1
    smtpd = pwd.getpwnam("postbote-smtpd")
    checked = 0
    for top in ("spool", "mail"):
        for d, dirs, files in os.walk(os.path.join(mta.state, top)):
            for p in [d] + [os.path.join(d, f) for f in files]:
                st = os.lstat(p)
                checked += 1
                assert st.st_uid != smtpd.pw_uid, p
                mode = stat.S_IMODE(st.st_mode)
                group = st.st_gid == smtpd.pw_gid
                assert not mode & 0o002, p
                assert not (group and mode & 0o020), p
                if stat.S_ISDIR(st.st_mode):
                    # no way in for others: smtpd cannot reach its files
                    assert not mode & 0o001 or p.endswith("/mail"), p
    assert checked > 5
    # And as smtpd's uid and gid, nothing there can be made, renamed or
    # unlinked.
    victims = _files(mta.state, "spool") + _files(mta.state, "mail")
    assert victims
    assert _as_user(smtpd, _try_writes, mta.state, victims) == []
    # The spool's folders are user's alone.
    for d in ("spool", "spool/queue", "spool/data"):
        st = os.stat(os.path.join(mta.state, d))
        assert stat.S_IMODE(st.st_mode) == 0o700, d
        assert st.st_uid == pwd.getpwnam("postbote").pw_uid


def _files(state, top):
    out = []
    for d, dirs, files in os.walk(os.path.join(state, top)):
        out += [os.path.join(d, f) for f in files]
    return out


def _try_writes(state, victims):
    """What of these writes succeeds: create in each folder of the spool
    and the mailboxes, rename and unlink each file, open it for writing."""
    done = []
    dirs = {os.path.dirname(v) for v in victims}
    dirs |= {os.path.join(state, d) for d in
             ("spool", "spool/queue", "spool/data", "spool/hold", "mail")}
    for d in sorted(dirs):
        try:
            os.close(os.open(os.path.join(d, "smtpd-was-here"),
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            done.append("create " + d)
        except OSError:
            pass
    for v in victims:
        for what, fn in (("open", lambda: os.close(os.open(v, os.O_WRONLY))),
                         ("rename", lambda: os.rename(v, v + ".x")),
                         ("unlink", lambda: os.unlink(v))):
            try:
                fn()
                done.append("%s %s" % (what, v))
            except OSError:
                pass
    return done


def _as_user(pw, fn, *args):
    """fn(*args) in a child process running as pw's uid and gid only."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            os.write(w, "\n".join(fn(*args)).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return [line for line in out.split("\n") if line]


def test_smtpd_runs_as_configured_user(mta_factory):
    m = mta_factory(extra="smtpd_user = nobody").start()
    pid = m.child_pids()["smtpd"]
    assert status(pid)["Uid"].split()[0] == str(pwd.getpwnam("nobody").pw_uid)
    send(m.port, "bob@example.test")
    assert len(m.wait_messages("bob@example.test", 1)) == 1


def test_smtpd_user_must_differ_from_user(mta_factory):
    import subprocess
    from conftest import BIN
    m = mta_factory(extra="smtpd_user = postbote")
    r = subprocess.run([BIN, "check", "-c", m.conf], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2
    assert "smtpd_user" in r.stderr and "differ" in r.stderr


@pytest.mark.parametrize("name", CHILDREN)
def test_forbidden_call_kills_and_parent_restarts(mta_factory, monkeypatch,
                                                 name):
    """The test build's hook: SIGUSR2 makes the child call execve, which
    no filter allows.  The kernel kills it (SIGSYS), the parent logs why
    and starts a new one, which serves again."""
    monkeypatch.setenv("POSTBOTE_TEST_FORBIDDEN", "1")
    m = mta_factory().start()
    old = m.child_pids()[name]
    # the hook catches SIGUSR2 once the child has set itself up; before
    # that the signal would find no handler (a loaded machine is slow)
    usr2 = 1 << (signal.SIGUSR2 - 1)
    end = time.time() + 15
    while not int(status(old)["SigCgt"], 16) & usr2 and time.time() < end:
        time.sleep(0.05)
    os.kill(old, signal.SIGUSR2)
    new = wait_new_pid(m, name, old)
    log = m.log()
    assert ("event=child-died process=%s pid=%d signal=SIGSYS "
            "reason=seccomp" % (name, old)) in log
    assert "event=exit process=%s pid=%d signal=%d" % (
        name, old, signal.SIGSYS) in log
    # once started, the new one is confined again
    end = time.time() + 15
    while status(new)["Seccomp"] != "2" and time.time() < end:
        time.sleep(0.05)
    st = status(new)
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
    assert int(st["CapBnd"], 16) == 0
    # The new process does its work: mail is accepted and delivered.
    for _ in range(100):
        try:
            send(m.port, "alice@example.test")
            break
        except (smtplib.SMTPException, OSError):
            time.sleep(0.1)
    assert len(m.wait_messages("alice@example.test", 1)) == 1


def test_seccomp_log_mode(mta_factory, monkeypatch):
    """POSTBOTE_SECCOMP=log: each child says so, and a forbidden call is
    let through (logged by the kernel) instead of killing."""
    monkeypatch.setenv("POSTBOTE_SECCOMP", "log")
    monkeypatch.setenv("POSTBOTE_TEST_FORBIDDEN", "1")
    m = mta_factory().start()
    for name in CHILDREN:
        assert "postbote/%s[" % name in m.log()
    assert m.log().count("event=seccomp") >= 4
    pid = m.child_pids()["lookup"]
    os.kill(pid, signal.SIGUSR2)
    time.sleep(0.5)
    assert m.child_pids()["lookup"] == pid
    assert "event=child-died" not in m.log()
    send(m.port, "alice@example.test")
    assert len(m.wait_messages("alice@example.test", 1)) == 1
