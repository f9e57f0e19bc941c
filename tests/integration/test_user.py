"""postbote user add|del|passwd|list against a real users file and a real
server: the password comes from stdin, the hash is yescrypt, the file is
replaced atomically with its mode kept, a reloaded server accepts the new
login over AUTH, and every mistake gets exit 1 or 2 with a message."""

import os
import signal
import smtplib
import stat
import subprocess
import time

from conftest import BIN


def user(m, *args, pw=None):
    return subprocess.run([BIN, "user", "-c", m.conf] + list(args),
                          input=pw, capture_output=True, text=True,
                          timeout=60)


def users_file(m):
    return os.path.join(m.base, "users")


def reload(m):
    before = m.log().count("event=reload result=ok")
    m.proc.send_signal(signal.SIGHUP)
    end = time.time() + 15
    while time.time() < end and \
            m.log().count("event=reload result=ok") <= before:
        time.sleep(0.05)
    assert m.log().count("event=reload result=ok") > before


def can_login(m, addr, pw):
    with smtplib.SMTP("127.0.0.1", m.port) as c:
        c.ehlo("client.test")
        try:
            c.login(addr, pw)
            return True
        except smtplib.SMTPAuthenticationError:
            return False


def test_user_add_passwd_del_with_running_server(mta_factory):
    m = mta_factory(extra="allow_plaintext_auth = yes\n"
                    "auth_failure_delay = 0s").start()
    os.chmod(users_file(m), 0o640)
    r = user(m, "add", "Dave@Example.Test", pw="dave-pw-1\n")
    assert r.returncode == 0, r.stderr
    assert "dave@example.test: added" in r.stdout
    with open(users_file(m)) as f:
        text = f.read()
    line = [l for l in text.splitlines() if l.startswith("dave@")][0]
    assert line.startswith("dave@example.test:$y$")
    assert "dave-pw-1" not in text
    assert "alice@example.test:" in text          # other lines kept
    assert stat.S_IMODE(os.stat(users_file(m)).st_mode) == 0o640
    assert not [n for n in os.listdir(m.base) if ".tmp" in n]
    reload(m)
    assert can_login(m, "dave@example.test", "dave-pw-1")

    r = user(m, "passwd", "dave@example.test", pw="dave-pw-2\n")
    assert r.returncode == 0, r.stderr
    reload(m)
    assert not can_login(m, "dave@example.test", "dave-pw-1")
    assert can_login(m, "dave@example.test", "dave-pw-2")

    r = user(m, "list")
    assert r.returncode == 0
    assert r.stdout.split() == ["alice@example.test", "bob@example.test",
                                "carol@example.org", "dave@example.test"]

    r = user(m, "del", "dave@example.test")
    assert r.returncode == 0, r.stderr
    reload(m)
    assert not can_login(m, "dave@example.test", "dave-pw-2")
    assert can_login(m, "alice@example.test", "alice-pw")
    assert stat.S_IMODE(os.stat(users_file(m)).st_mode) == 0o640


def test_user_errors(mta_factory):
    m = mta_factory()
    with open(users_file(m)) as f:
        before = f.read()
    r = user(m, "add", "alice@example.test", pw="x\n")
    assert r.returncode == 1 and "already exists" in r.stderr
    r = user(m, "del", "nobody@example.test")
    assert r.returncode == 1 and "no such user" in r.stderr
    r = user(m, "passwd", "nobody@example.test", pw="x\n")
    assert r.returncode == 1 and "no such user" in r.stderr
    r = user(m, "add", "x@remote.test", pw="x\n")
    assert r.returncode == 1 and "not a local domain" in r.stderr
    r = user(m, "add", "not an address", pw="x\n")
    assert r.returncode == 1 and "not a valid address" in r.stderr
    r = user(m, "add", "new@example.test", pw="")
    assert r.returncode == 1 and "password" in r.stderr
    r = user(m, "add", "new@example.test", pw="\n")
    assert r.returncode == 1 and "empty password" in r.stderr
    # usage: no password on the command line, unknown verbs
    for args in (["add", "new@example.test", "secret"], ["add"], [],
                 ["frob", "x@example.test"], ["list", "extra"]):
        r = user(m, *args, pw="x\n")
        assert r.returncode == 2 and "usage" in r.stderr, args
    with open(users_file(m)) as f:
        assert f.read() == before


def test_user_add_creates_the_file(mta_factory):
    m = mta_factory()
    os.unlink(users_file(m))
    r = user(m, "add", "first@example.test", pw="pw\n")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(users_file(m)).st_mode) == 0o640
    r = user(m, "list")
    assert r.stdout == "first@example.test\n"
