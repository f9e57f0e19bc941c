"""`postbote queue` and `mailq` against a running server, through the
queue's control socket state_dir/control: list (text and --json), show,
flush, delete, hold, release, and the failures an admin meets (server not
running, unknown id, usage, permission)."""

import datetime
import json
import os
import pwd
import re
import signal
import smtplib
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import BIN, wait_for

REMOTE = "someone@remote.test"
DEFERRED = "4.4.3 remote.test: MX lookup failed, try again"


@pytest.fixture
def mta(mta_factory, dns):
    """A server whose remote recipients stay queued and idle: the MX
    lookup of remote.test fails (SERVFAIL: deferred, see send()) and the
    next attempt is an hour away."""
    dns.set_rcode("remote.test", None, "SERVFAIL")
    m = mta_factory()
    conf = open(m.conf).read().replace("retry = 1s 2s", "retry = 1h")
    with open(m.conf, "w") as f:
        f.write(conf)
    return m.start()


def send(m, rcpts, sender="sender@client.test", subject="queued",
         utf8=False):
    """Send one message; returns its queue id."""
    body = ("Subject: %s\r\nX-Test: yes\r\n\r\nhello\r\n" % subject).encode()
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        c.ehlo("client.test")
        if utf8:
            c.command_encoding = "utf-8"
        code, _ = c.mail(sender, ["SMTPUTF8"] if utf8 else [])
        assert code == 250
        for r in rcpts:
            assert c.rcpt(r)[0] == 250
        code, text = c.data(body)
        assert code == 250, text
    qid = re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()
    if any(r.endswith("@remote.test") for r in rcpts):
        # the first attempt is made at once: wait until it is over
        assert wait_for(lambda: all(
            x["state"] != "pending" for x in
            listed(m).get(qid, {"recipients": []})["recipients"]))
    return qid


def queue(m, *args, user=None, env=None):
    return subprocess.run([BIN, "queue", "-c", m.conf] + list(args),
                          capture_output=True, text=True, timeout=30,
                          user=user, env=env)


def listed(m):
    r = queue(m, "list", "--json")
    assert r.returncode == 0, r.stderr
    return {e["id"]: e for e in json.loads(r.stdout)}


def spool(m, d):
    return os.listdir(os.path.join(m.state, "spool", d))


# ---- list ----

def test_list_text_shows_envelope_and_recipient_states(mta):
    qid = send(mta, [REMOTE, "alice@example.test"])
    assert mta.wait_messages("alice@example.test", 1)
    # both results in: the local delivery and the remote deferral (its
    # DNS answer may come after the Maildir write)
    assert wait_for(lambda: [x["state"] for x in
                             listed(mta)[qid]["recipients"]] ==
                    ["deferred", "done"])
    r = queue(mta, "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "SIZE", "ARRIVAL", "SENDER", "/",
                                "RECIPIENTS"]
    head = [l for l in lines if l.startswith(qid)]
    assert len(head) == 1 and "<sender@client.test>" in head[0]
    today = time.strftime("%Y-%m-%d")
    assert today in head[0]
    i = lines.index(head[0])
    assert re.match(r"^\s+deferred\s+<someone@remote\.test> %s$"
                    % re.escape(DEFERRED), lines[i + 1])
    assert re.match(r"^\s+done\s+<alice@example\.test> 2\.0\.0 ",
                    lines[i + 2])
    assert lines[-1].startswith("-- 1 message, ")


def test_list_empty_queue(mta):
    r = queue(mta, "list")
    assert r.returncode == 0
    assert "the queue is empty" in r.stdout
    r = queue(mta, "list", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == []


def test_list_json_fields(mta):
    a = send(mta, [REMOTE])
    b = send(mta, ["other@remote.test", "third@remote.test"],
             sender="x@client.test")
    r = queue(mta, "list", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [e["id"] for e in data] == [a, b]      # sorted by arrival
    e = data[1]
    assert e["sender"] == "x@client.test"
    assert e["held"] is False and isinstance(e["size"], int)
    assert e["size"] > 0
    arrival = datetime.datetime.strptime(e["arrival"], "%Y-%m-%dT%H:%M:%SZ")
    now = datetime.datetime.utcnow()
    assert abs((now - arrival).total_seconds()) < 60
    assert e["recipients"] == [
        {"address": "other@remote.test", "state": "deferred",
         "status": DEFERRED},
        {"address": "third@remote.test", "state": "deferred",
         "status": DEFERRED},
    ]


def test_list_json_escapes_non_ascii(mta):
    sender = "j\u00f6rg.\U0001F600@client.test"
    qid = send(mta, [REMOTE], sender=sender, utf8=True)
    r = queue(mta, "list", "--json")
    assert r.returncode == 0, r.stderr
    assert r.stdout.isascii()                      # \u escapes only
    assert "\\u00f6" in r.stdout
    assert "\\ud83d\\ude00" in r.stdout            # a surrogate pair
    assert json.loads(r.stdout)[0]["sender"] == sender
    assert json.loads(r.stdout)[0]["id"] == qid
    # the text listing shows the UTF-8 as it is
    assert sender in queue(mta, "list").stdout


def test_mailq_symlink_lists_the_queue(mta):
    qid = send(mta, [REMOTE])
    d = tempfile.mkdtemp()
    try:
        link = os.path.join(d, "mailq")
        os.symlink(os.path.abspath(BIN), link)
        r = subprocess.run([link, "-c", mta.conf], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert qid in r.stdout and "<someone@remote.test>" in r.stdout
        env = dict(os.environ, POSTBOTE_CONF=mta.conf)
        r = subprocess.run([link, "--json"], capture_output=True, text=True,
                           timeout=30, env=env)
        assert r.returncode == 0, r.stderr
        assert [e["id"] for e in json.loads(r.stdout)] == [qid]
    finally:
        subprocess.run(["rm", "-rf", d])


# ---- show ----

def test_show_prints_envelope_and_headers(mta):
    qid = send(mta, [REMOTE], subject="show me")
    r = queue(mta, "show", qid)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^id:\s+%s$" % qid, out, re.M)
    assert re.search(r"^state:\s+queued$", out, re.M)
    assert re.search(r"^sender:\s+<sender@client\.test>$", out, re.M)
    assert re.search(r"^helo:\s+client\.test$", out, re.M)
    assert re.search(r"^client:\s+\[127\.0\.0\.1\]:\d+$", out, re.M)
    assert re.search(r"^\s+deferred\s+<someone@remote\.test> 4\.4\.3 ", out,
                     re.M)
    assert re.search(r"^Received: from client\.test", out, re.M)
    assert "\nSubject: show me\nX-Test: yes\n" in out
    assert "hello" not in out                     # headers only
    # ids may be typed in lower case
    assert queue(mta, "show", qid.lower()).stdout == out


def test_show_caps_headers_at_64k(mta):
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=10) as c:
        c.ehlo("client.test")
        hdrs = "".join("X-Long-%d: %s\r\n" % (i, "v" * 900)
                       for i in range(100))
        c.mail("sender@client.test")
        c.rcpt(REMOTE)
        code, text = c.data((hdrs + "\r\nbody\r\n").encode())
        assert code == 250
    qid = re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()
    r = queue(mta, "show", qid)
    assert r.returncode == 0, r.stderr
    assert "[header block cut at 65536 bytes]" in r.stdout
    assert len(r.stdout) < 70000 and "X-Long-60:" in r.stdout


# ---- hold, release, delete, flush ----

def test_hold_and_release(mta):
    qid = send(mta, [REMOTE])
    r = queue(mta, "hold", qid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "%s: on hold" % qid
    assert qid in spool(mta, "hold") and qid not in spool(mta, "queue")
    assert listed(mta)[qid]["held"] is True
    assert re.search(r"^%s .*  held$" % qid, queue(mta, "list").stdout,
                     re.M)
    assert re.search(r"^state:\s+held$", queue(mta, "show", qid).stdout,
                     re.M)
    r = queue(mta, "hold", qid)
    assert r.returncode == 0 and "already on hold" in r.stdout
    r = queue(mta, "release", qid)
    assert r.returncode == 0 and r.stdout.strip() == "%s: released" % qid
    assert qid in spool(mta, "queue") and qid not in spool(mta, "hold")
    assert listed(mta)[qid]["held"] is False
    log = mta.log()
    assert re.search(r"%s: event=control request=hold uid=\d+ result=ok"
                     % qid, log)
    assert re.search(r"%s: event=control request=release uid=\d+ "
                     r"result=ok" % qid, log)


def test_held_message_survives_restart(mta):
    qid = send(mta, [REMOTE])
    assert queue(mta, "hold", qid).returncode == 0
    mta.stop()
    mta.start()
    assert listed(mta)[qid]["held"] is True
    assert queue(mta, "release", qid).returncode == 0


def test_listener_hold_keeps_every_message_until_released(mta_factory):
    """[listen] hold = yes: accepted (250), stored, put on hold at once
    and never delivered until released; the other listener is not
    affected."""
    m = mta_factory()
    conf = open(m.conf).read().replace(
        "mode = mx", "mode = mx\nhold = yes", 1)
    with open(m.conf, "w") as f:
        f.write(conf)
    m.start()
    qid = send(m, ["alice@example.test"])
    assert wait_for(lambda: qid in spool(m, "hold")), m.log()
    assert "%s: event=quarantined reason=listener" % qid in m.log()
    assert listed(m)[qid]["held"] is True
    time.sleep(0.5)
    assert m.messages("alice@example.test") == []
    r = queue(m, "release", qid)
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: len(m.messages("alice@example.test")) == 1)
    assert re.search(r"%s: to=<alice@example.test>.*status=sent" % qid,
                     m.log()), m.log()


def test_delete(mta):
    keep = send(mta, [REMOTE])
    qid = send(mta, [REMOTE, "other@remote.test"])
    r = queue(mta, "delete", qid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "%s: deleted" % qid
    assert "%s: removed (deleted by admin)" % qid in mta.log()
    assert list(listed(mta)) == [keep]
    assert wait_for(lambda: qid not in spool(mta, "queue") and
                    qid not in spool(mta, "data"))
    r = queue(mta, "delete", qid)
    assert r.returncode == 1 and "no such message" in r.stderr
    # a held message can be deleted too
    assert queue(mta, "hold", keep).returncode == 0
    assert queue(mta, "delete", keep).returncode == 0
    assert wait_for(lambda: spool(mta, "hold") == [])
    mta.stop()
    mta.start()                       # the deletion is durable
    assert listed(mta) == {}


def deferring_mta(mta_factory):
    """A server whose local mailboxes cannot be created (yet): local mail
    is deferred, with an hour before the next attempt.  The template has
    no %d folder, which the parent would make for the domains as root."""
    m = mta_factory()
    boxes = os.path.join(m.base, "boxes")
    os.mkdir(boxes)
    os.chmod(boxes, 0o555)
    conf = open(m.conf).read().replace(
        "retry = 1s 2s", "retry = 1h\nmailbox = %s/%%d-%%u" % boxes)
    with open(m.conf, "w") as f:
        f.write(conf)
    return m.start(), boxes


def test_flush_one_then_all(mta_factory):
    m, boxes = deferring_mta(mta_factory)
    a = send(m, ["alice@example.test"])
    b = send(m, ["bob@example.test"])
    for qid in (a, b):
        assert wait_for(lambda: listed(m)[qid]["recipients"][0]["state"]
                        == "deferred")
    st = listed(m)[a]["recipients"][0]["status"]
    assert st.startswith("4.2.0 ")
    assert re.search(r"^\s+deferred\s+<alice@example\.test> 4\.2\.0 ",
                     queue(m, "list").stdout, re.M)
    os.chmod(boxes, 0o777)
    r = queue(m, "flush", a)
    assert r.returncode == 0, r.stderr
    assert "1 message scheduled now" in r.stdout
    assert wait_for(lambda: list(listed(m)) == [b])
    assert len(os.listdir(os.path.join(boxes, "example.test-alice",
                                       "new"))) == 1
    time.sleep(0.5)
    assert b in listed(m)                 # not flushed: still waiting
    r = queue(m, "flush")
    assert r.returncode == 0 and "1 message scheduled now" in r.stdout
    assert wait_for(lambda: listed(m) == {})
    assert re.search(r"event=control request=flush uid=\d+ result=ok "
                     r"messages=1", m.log())


def test_flush_with_filters_takes_only_the_matching_messages(mta_factory):
    """flush -s/-r/-d: the command lists the queue and flushes the ids
    the filters (all of them) match; the other deferred messages keep
    waiting for their retry an hour away."""
    m, boxes = deferring_mta(mta_factory)
    a = send(m, ["alice@example.test"], sender="one@client.test")
    b = send(m, ["alice@example.test"], sender="two@client.test")
    c = send(m, ["carol@example.org"], sender="one@client.test")
    d = send(m, ["alice@example.test", "carol@example.org"],
             sender="two@client.test")
    for qid in (a, b, c, d):
        assert wait_for(lambda: all(
            x["state"] == "deferred"
            for x in listed(m)[qid]["recipients"])), m.log()
    os.chmod(boxes, 0o777)

    def flush(*args, want):
        r = queue(m, "flush", *args)
        assert r.returncode == 0, r.stderr
        assert sorted(re.findall(r"^([0-9A-F]{16}): 1 message scheduled "
                                 r"now$", r.stdout, re.M)) == sorted(want), \
            r.stdout
        rest = sorted(set(listed(m)) - set(want))
        assert wait_for(lambda: sorted(listed(m)) == rest), m.log()
        time.sleep(0.5)                   # the others stay queued
        assert sorted(listed(m)) == rest

    flush("-s", "TWO@client.test", "-d", "example.org", want=[d])
    flush("-r", "nobody@example.test", want=[])
    flush("--domain", "@example.org", want=[c])
    flush("--sender", "one@client.test", "--recipient",
          "alice@example.test", want=[a])
    assert list(listed(m)) == [b]
    assert len(os.listdir(os.path.join(boxes, "example.test-alice",
                                       "new"))) == 2
    assert len(os.listdir(os.path.join(boxes, "example.org-carol",
                                       "new"))) == 2
    assert "-- no message matches" in queue(m, "flush", "-s",
                                            "x@client.test").stdout
    assert list(listed(m)) == [b]


def test_flush_of_held_message_is_refused(mta):
    qid = send(mta, [REMOTE])
    queue(mta, "hold", qid)
    r = queue(mta, "flush", qid)
    assert r.returncode == 1 and "on hold" in r.stderr


# ---- failures ----

def test_unknown_id_exits_1(mta):
    for verb in ("show", "delete", "hold", "release", "flush"):
        r = queue(mta, verb, "0123456789ABCDEF")
        assert r.returncode == 1, verb
        assert "0123456789ABCDEF: no such message" in r.stderr, verb
    r = queue(mta, "show", "../../etc/passwd")
    assert r.returncode == 1 and "no such message" in r.stderr
    assert 'request=show id="../../etc/passwd" uid=' in mta.log()


def test_usage_errors_exit_2(mta_factory):
    m = mta_factory()
    for args in ([], ["frobnicate"], ["show"], ["delete"], ["hold"],
                 ["release"], ["list", "--bogus"], ["delete", "-s"],
                 ["hold", "-x", "y"], ["show", "a", "b"],
                 ["release", "-r", "a@b", "-d"]):
        r = queue(m, *args)
        assert r.returncode == 2, args
        assert "usage:" in r.stderr
    r = subprocess.run([BIN, "queue", "-x", "list"], capture_output=True)
    assert r.returncode == 2


def test_server_not_running(mta_factory):
    m = mta_factory()
    path = os.path.join(m.state, "control")
    r = queue(m, "list")
    assert r.returncode == 1
    assert r.stderr.strip() == ("postbote: the server is not running (no "
                                "control socket at %s)" % path)
    m.start()
    assert queue(m, "list").returncode == 0
    m.stop()
    assert not os.path.exists(path)           # removed at a clean stop
    assert queue(m, "hold", "0123456789ABCDEF").returncode == 1


def test_bad_config_exits_2(mta_factory):
    m = mta_factory()
    with open(m.conf, "a") as f:
        f.write("no_such_key = 1\n")
    r = queue(m, "list")
    assert r.returncode == 2 and "no_such_key" in r.stderr


def test_stale_socket_after_kill_is_replaced(mta):
    qid = send(mta, [REMOTE])
    # the parent first: else it may start a new queue (which answers on
    # the socket) between the kills
    pids = [mta.proc.pid] + list(mta.child_pids().values())
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def gone(pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] in "ZX"
        except OSError:
            return True
    mta.proc.wait()
    assert wait_for(lambda: all(gone(p) for p in pids))
    mta.stop()
    path = os.path.join(mta.state, "control")
    assert stat.S_ISSOCK(os.lstat(path).st_mode)     # left behind
    r = queue(mta, "list")
    assert r.returncode == 1 and "the server is not running" in r.stderr
    mta.start()
    assert list(listed(mta)) == [qid]


def test_queue_process_restart_keeps_the_socket(mta):
    qid = send(mta, [REMOTE])
    os.kill(mta.child_pids()["queue"], signal.SIGKILL)
    assert wait_for(lambda: mta.log().count("event=queue-loaded") >= 2)
    assert list(listed(mta)) == [qid]


def test_second_server_on_same_state_dir_refuses_to_start(mta,
                                                         mta_factory):
    m2 = mta_factory()                  # its own ports, mta's state_dir
    conf = open(m2.conf).read().replace(m2.state, mta.state)
    with open(m2.conf, "w") as f:
        f.write(conf)
    other = subprocess.run([BIN, "serve", "-c", m2.conf],
                           capture_output=True, text=True, timeout=30)
    assert other.returncode != 0
    assert "another postbote server is running" in other.stderr
    assert queue(mta, "list").returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_socket_is_private_to_root_and_the_server_user(mta):
    path = os.path.join(mta.state, "control")
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == pwd.getpwnam("postbote").pw_uid
    os.chmod(mta.conf, 0o644)
    r = queue(mta, "list", user="nobody")
    assert r.returncode == 1
    assert "cannot connect to %s: Permission denied" % path in r.stderr
    # the server's own user may use it
    r = queue(mta, "list", user="postbote")
    assert r.returncode == 0, r.stderr
    assert re.search(r"event=control request=list uid=%d result=ok"
                     % pwd.getpwnam("postbote").pw_uid, mta.log())
