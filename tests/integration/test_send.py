"""`postbote send`, and the same program called as sendmail and mailq:
local submission on stdin through the queue's submission socket
state_dir/submit (no SMTP), header handling (-t, Bcc, Date, Message-ID,
From, -f, -F), end of input (-i), exit codes (sysexits.h), and a
submission by an unprivileged user."""

import email
import email.policy
import os
import pwd
import re
import socket
import struct
import subprocess
import time

import dkim

from conftest import BIN
from test_authres import dnsfunc_for, rsa_keys, write_key

ALICE = "alice@example.test"
BOB = "bob@example.test"
CAROL = "carol@example.org"

EX_USAGE, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL = 64, 65, 67, 75


def send(m, args, data, prog=None, user=None, verb=True):
    """Run `postbote send -c CONF ARGS` (or prog, a sendmail/mailq link)
    with data on stdin."""
    argv = [prog or BIN] + (["send"] if verb and prog is None else []) + \
        ["-c", m.conf] + list(args)
    return subprocess.run(argv, input=data, capture_output=True,
                          timeout=60, user=user)


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def one_message(m, addr):
    msgs = m.wait_messages(addr, 1)
    assert len(msgs) == 1, m.log()
    return msgs[0]


def test_send_argv_adds_headers(mta):
    r = send(mta, ["-v", "-f", ALICE, BOB],
             b"Subject: plain\n\nline one\nline two\n")
    assert r.returncode == 0, r.stderr
    qid = re.search(rb"queued as ([0-9A-F]{16})", r.stderr).group(1).decode()
    msg = parse(one_message(mta, BOB))
    assert msg["From"] == "<%s>" % ALICE
    assert msg["Date"]
    assert re.match(r"<[^@>]+@mx\.example\.test>$", msg["Message-ID"])
    assert msg["Subject"] == "plain"
    assert msg["Return-Path"] == "<%s>" % ALICE
    assert re.match(r"by mx\.example\.test \(postbote, from userid 0\)",
                    msg["Received"])
    assert msg.get_payload() .replace("\r\n", "\n") == \
        "line one\nline two\n"
    log = mta.log()
    assert re.search(r"event=control request=submit uid=0 result=ok", log)
    assert re.search(r"%s: client=local uid=0" % qid, log)
    # bob is an alias: bob@example.test, archive@example.org (-> carol)
    assert re.search(r"%s: from=<%s> size=\d+ nrcpt=2" % (qid, ALICE), log)


def test_send_keeps_existing_headers(mta):
    data = (b"From: Someone <someone@example.test>\r\n"
            b"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
            b"Message-ID: <given@example.test>\r\nSubject: s\r\n\r\nbody\r\n")
    r = send(mta, ["-f", ALICE, BOB], data)
    assert r.returncode == 0, r.stderr
    msg = parse(one_message(mta, BOB))
    assert msg["From"] == "Someone <someone@example.test>"
    assert msg["Message-ID"] == "<given@example.test>"
    assert msg.get_all("Date") == ["Mon, 2 Mar 2026 10:00:00 +0000"]


def test_send_default_sender_and_full_name(mta):
    r = send(mta, ["-F", 'Jo "the" Admin', BOB], b"Subject: who\n\nx\n")
    assert r.returncode == 0, r.stderr
    msg = parse(one_message(mta, BOB))
    me = pwd.getpwuid(os.getuid()).pw_name
    assert msg["From"] == '"Jo \\"the\\" Admin" <%s@mx.example.test>' % me
    assert msg["Return-Path"] == "<%s@mx.example.test>" % me


def test_send_t_takes_recipients_and_removes_bcc(mta):
    data = (b"From: alice@example.test\n"
            b"To: Bob <bob@example.test>\n"
            b"Cc: undisclosed: ;\n"
            b"Bcc: \"Carol, C.\" <carol@example.org>,\n"
            b"  alice (herself)\n"
            b"Subject: team\n\nhello all\n")
    r = send(mta, ["-t", "-f", ALICE], data)
    assert r.returncode == 0, r.stderr
    for addr in (BOB, CAROL, ALICE):
        raw = one_message(mta, addr)
        assert b"Bcc" not in raw and b"Carol, C." not in raw
        msg = parse(raw)
        assert msg["To"] == "Bob <bob@example.test>"
        assert msg["Subject"] == "team"


def test_send_t_plus_argv(mta):
    r = send(mta, ["-t", "-f", ALICE, CAROL],
             b"To: bob@example.test\nSubject: both\n\nx\n")
    assert r.returncode == 0, r.stderr
    one_message(mta, BOB)
    one_message(mta, CAROL)


def test_dot_line_ends_input_unless_i(mta):
    data = b"Subject: dots\n\nbefore\n.\nafter\n"
    r = send(mta, ["-f", ALICE, BOB], data)
    assert r.returncode == 0, r.stderr
    raw = one_message(mta, BOB)
    assert b"before" in raw and b"after" not in raw
    r = send(mta, ["-i", "-f", ALICE, ALICE], data)
    assert r.returncode == 0, r.stderr
    raw = one_message(mta, ALICE)
    assert re.search(rb"before\r?\n\.\r?\nafter", raw)
    r = send(mta, ["-oi", "-f", ALICE, ALICE], data)
    assert r.returncode == 0, r.stderr
    msgs = mta.wait_messages(ALICE, 2)
    assert len(msgs) == 2 and b"after" in msgs[1]


def test_no_header_block_gets_one(mta):
    r = send(mta, ["-f", ALICE, BOB], b"just a body line\nsecond\n")
    assert r.returncode == 0, r.stderr
    msg = parse(one_message(mta, BOB))
    assert msg["From"] == "<%s>" % ALICE
    assert msg.get_payload().replace("\r\n", "\n") == \
        "just a body line\nsecond\n"


def test_sendmail_and_mailq_links(mta, workdir):
    sm = os.path.join(workdir, "sendmail")
    mq = os.path.join(workdir, "mailq")
    os.symlink(os.path.abspath(BIN), sm)
    os.symlink(os.path.abspath(BIN), mq)
    r = send(mta, ["-oi", "-odi", "-oem", "-t", "-f", ALICE], b"To: " +
             BOB.encode() + b"\nSubject: via link\n\nhi\n", prog=sm)
    assert r.returncode == 0, r.stderr
    assert parse(one_message(mta, BOB))["Subject"] == "via link"
    # A remote recipient waits in the queue here: mailq shows it.
    mta.dns.set_rcode("remote.test", None, "SERVFAIL")   # stays queued
    r = send(mta, ["-f", ALICE, "someone@remote.test"], b"Subject: q\n\n.\n",
             prog=sm)
    assert r.returncode == 0, r.stderr
    end = time.time() + 10
    while not mta.queued() and time.time() < end:
        time.sleep(0.05)
    qid = mta.queued()[0]
    # What reached the spool is CRLF text, as over SMTP.
    with open(os.path.join(mta.state, "spool", "data", qid), "rb") as f:
        data = f.read()
    assert data.count(b"\n") == data.count(b"\r\n") > 3
    r = subprocess.run([mq, "-c", mta.conf], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert qid in r.stdout and "someone@remote.test" in r.stdout
    r = subprocess.run([sm, "-bp", "-c", mta.conf], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert qid in r.stdout


def test_server_not_running_tempfail(mta_factory):
    m = mta_factory()           # configured, never started
    r = send(m, ["-f", ALICE, BOB], b"Subject: x\n\nx\n")
    assert r.returncode == EX_TEMPFAIL
    assert b"the server is not running" in r.stderr


def test_bad_input_exit_codes(mta):
    r = send(mta, ["-f", ALICE, BOB], b"Subject: x\n\nbare\rcr\n")
    assert r.returncode == EX_DATAERR and b"bare CR" in r.stderr
    r = send(mta, ["-f", ALICE, BOB], b"Subject: x\n\nnul\0byte\n")
    assert r.returncode == EX_DATAERR and b"NUL" in r.stderr
    r = send(mta, ["-f", ALICE], b"Subject: x\n\nno one\n")
    assert r.returncode == EX_USAGE and b"no recipients" in r.stderr
    r = send(mta, ["-t", "-f", ALICE], b"Subject: x\n\nno one\n")
    assert r.returncode == EX_USAGE
    r = send(mta, ["-f", ALICE, "bad@@example.test"], b"Subject: x\n\n.\n")
    assert r.returncode == EX_NOUSER, r.stderr
    assert b"bad recipient address" in r.stderr
    r = send(mta, ["-f", ALICE, BOB, "nosuchuser@example.test"],
             b"Subject: x\n\n.\n")
    assert r.returncode == EX_NOUSER, r.stderr
    assert b"unknown user <nosuchuser@example.test>" in r.stderr
    r = send(mta, ["-f", "a b@example.test", BOB], b"Subject: x\n\n.\n")
    assert r.returncode == EX_DATAERR, r.stderr
    r = send(mta, ["-bt"], b"")
    assert r.returncode == EX_USAGE and b"-bt is not supported" in r.stderr
    r = send(mta, ["-Q"], b"")
    assert r.returncode == EX_USAGE
    assert mta.queued() == []
    assert mta.messages(BOB) == []


def test_unprivileged_user_submits(mta):
    r = send(mta, ["-f", ALICE, BOB], b"Subject: from nobody\n\nx\n",
             user="nobody")
    assert r.returncode == 0, r.stderr
    msg = parse(one_message(mta, BOB))
    assert msg["Subject"] == "from nobody"
    assert "from userid 65534" in msg["Received"]
    assert re.search(r"event=control request=submit uid=65534 result=ok",
                     mta.log())
    # The submission socket takes nothing but submissions.
    path = os.path.join(mta.state, "submit")
    assert oct(os.stat(path).st_mode & 0o777) == "0o666"
    r = subprocess.run([BIN, "queue", "-c", mta.conf, "list"], user="nobody",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1


def test_submit_socket_takes_only_submissions(mta):
    """A control request (IPC_CTL_DELETE) on state_dir/submit is refused:
    that socket is open to every local user."""
    mta.dns.set_rcode("remote.test", None, "SERVFAIL")   # stays queued
    r = send(mta, ["-f", ALICE, "someone@remote.test"], b"Subject: q\n\n.\n")
    assert r.returncode == 0, r.stderr
    end = time.time() + 10
    while not mta.queued() and time.time() < end:
        time.sleep(0.05)
    qid = mta.queued()[0]
    ipc_ctl_delete, ipc_ctl_reply = 16, 20          # ipc.h
    payload = qid.encode() + b"\0"
    ipc_version = 2                                 # ipc.h IPC_VERSION
    frame = struct.pack("=HHIIIQ", ipc_version, ipc_ctl_delete, 0,
                        len(payload), 0, 7) + payload
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(os.path.join(mta.state, "submit"))
        s.sendall(frame)
        hdr = b""
        while len(hdr) < 24:
            hdr += s.recv(24 - len(hdr))
        _, typ, _, length, _, rid = struct.unpack("=HHIIIQ", hdr)
        body = b""
        while len(body) < length:
            body += s.recv(length - len(body))
    assert typ == ipc_ctl_reply and rid == 7
    assert struct.unpack("=I", body[:4])[0] == 0
    assert b"unknown request" in body
    assert mta.queued() == [qid]


def test_recipients_resolved_like_smtp(mta):
    """Aliases and the recipient delimiter apply as for RCPT TO; a bare
    name is qualified with the first local domain (postmaster ->
    postmaster@example.test -> alice)."""
    r = send(mta, ["-f", ALICE, "postmaster", "alice+tag@example.test",
                   "info@example.test"], b"Subject: aliases\n\nx\n")
    assert r.returncode == 0, r.stderr
    # info -> team -> alice, bob (-> bob, archive -> carol): one copy each
    assert len(mta.wait_messages(ALICE, 1)) == 1
    assert len(mta.wait_messages(BOB, 1)) == 1
    assert len(mta.wait_messages(CAROL, 1)) == 1
    mta.wait_queue_empty()
    time.sleep(0.3)
    assert len(mta.messages(ALICE)) == 1
    assert re.search(r"to=<alice@example.test> orig_to=<postmaster@"
                     r"example.test>", mta.log())
    assert re.search(r"[0-9A-F]{16}: client=local uid=0", mta.log())


HOG = """
import socket, sys, time
conns = []
for i in range(9):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    conns.append(s)
conns[8].settimeout(10)
print("closed" if conns[8].recv(1) == b"" else "open", flush=True)
sys.stdin.read()            # hold the others until told to stop
"""


def test_one_user_cannot_crowd_out_submissions(mta):
    """At most 8 submission connections per (non-root) user: the 9th of
    nobody's is closed, and others can still submit meanwhile."""
    hog = subprocess.Popen(["/usr/bin/python3", "-c", HOG,
                            os.path.join(mta.state, "submit")],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           user="nobody", text=True)
    try:
        assert hog.stdout.readline().strip() == "closed"
        r = send(mta, ["-f", ALICE, BOB], b"Subject: still\n\nx\n")
        assert r.returncode == 0, r.stderr
        assert parse(one_message(mta, BOB))["Subject"] == "still"
        assert "event=control-refused reason=\"too many connections\"" in \
            mta.log()
    finally:
        hog.stdin.close()
        hog.wait(10)


def test_local_submission_is_dkim_signed(mta_factory, tmp_path):
    """Mail a program hands to sendmail is signed like an authenticated
    submission when its From domain has a [dkim] key (queue loads the keys
    before it drops privileges)."""
    pem, rec = rsa_keys()
    key = write_key(str(tmp_path), "loc.key", pem)
    os.chmod(key, 0o600)                    # root's only, as admins keep it
    m = mta_factory(extra="[dkim example.test]\nselector = loc\n"
                    "key = %s\n" % key).start()
    r = send(m, ["-f", ALICE, CAROL], b"From: " + ALICE.encode() +
             b"\nTo: " + CAROL.encode() + b"\nSubject: from cron\n\nok\n")
    assert r.returncode == 0, r.stderr
    raw = one_message(m, CAROL).replace(b"\n", b"\r\n")
    start = raw.index(b"DKIM-Signature:")
    assert b"s=loc;" in raw[start:start + 300]
    assert dkim.verify(raw[start:], dnsfunc=dnsfunc_for(
        {"loc._domainkey.example.test": rec}))
    assert re.search(r"event=dkim-sign domain=example\.test selector=loc",
                     m.log())
