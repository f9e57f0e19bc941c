"""The milter client against real milters: scripted milters built on
Debian's python3-milter (libmilter, the library Sendmail's and Postfix's
milters use), one process per test, on loopback TCP or a UNIX socket, and
raw milters written here that send garbage or oversized packets.  Every
phase, every reply, every modification, asserted on the SMTP replies,
the delivered Maildir files, the queue and the log."""

import json
import os
import re
import signal
import smtplib
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import BIN, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
MSG = (b"From: sender@client.test\r\nTo: alice@example.test\r\n"
       b"Subject: milter test\r\nX-Remove-Me: please\r\n\r\n"
       b"line one\r\nline two\r\n")


class ScriptedMilter:
    """milter_script.py in MODE, on a TCP port or a UNIX socket."""

    def __init__(self, workdir, mode, unix=False):
        self.record = os.path.join(workdir, "record-%s.jsonl" % mode)
        if unix:
            self.path = os.path.join(workdir, "m-%s.sock" % mode)
            spec = "unix:" + self.path
            self.conf_socket = spec
        else:
            self.port = free_port()
            spec = "inet:%d@127.0.0.1" % self.port
            self.conf_socket = "inet:127.0.0.1:%d" % self.port
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "milter_script.py"),
             spec, mode, self.record],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 10
        while time.time() < end:
            if unix and os.path.exists(self.path):
                os.chmod(self.path, 0o666)
                return
            if not unix:
                try:
                    socket.create_connection(("127.0.0.1", self.port),
                                             0.2).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("milter did not start")

    def events(self):
        if not os.path.exists(self.record):
            return []
        with open(self.record) as f:
            return [json.loads(line) for line in f]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(1)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def milters(workdir):
    started = []

    def make(mode, unix=False):
        m = ScriptedMilter(workdir, mode, unix)
        started.append(m)
        return m

    yield make
    for m in started:
        m.stop()


def milter_conf(name, sock, **kw):
    lines = ["[milter %s]" % name, "socket = %s" % sock]
    lines += ["%s = %s" % (k, v) for k, v in kw.items()]
    return "\n".join(lines)


def server(mta_factory, *sections, junk=False):
    """A server with the milter sections.  The scripted milter's header is
    X-Spam: yes, which the Junk folder takes by default: junk=False turns
    that off, so the message stays in the inbox these tests read."""
    head = [] if junk else ["junk_header ="]
    return mta_factory(extra="\n".join(head + list(sections))).start()


def one(mta_factory, milters, mode, unix=False, **kw):
    """A scripted milter in mode, and a server that uses it."""
    ml = milters(mode, unix)
    return ml, server(mta_factory, milter_conf("scripted", ml.conf_socket,
                                               **kw))


def send(m, rcpts=("alice@example.test",), msg=MSG,
         sender="sender@client.test"):
    """(MAIL reply, RCPT replies, DATA reply) as (code, text) pairs."""
    with smtplib.SMTP("127.0.0.1", m.port, timeout=30) as c:
        c.ehlo("client.test")
        mail = c.mail(sender)
        if mail[0] != 250:
            return mail, [], None
        rr = [c.rcpt(r) for r in rcpts]
        if not any(code == 250 for code, _ in rr):
            return mail, rr, None
        try:
            data = c.data(msg)
        except smtplib.SMTPDataError as e:
            data = (e.smtp_code, e.smtp_error)
        return mail, rr, data


def qid_of(data):
    return re.search(rb"queued as ([0-9A-F]{16})", data[1]).group(1).decode()


def head_body(raw):
    head, _, body = raw.partition(b"\n\n")
    return head, body


# ---- phases and macros ----

def test_every_phase_with_its_macros(mta_factory, milters):
    ml, m = one(mta_factory, milters, "continue")
    mail, rr, data = send(m)
    assert data[0] == 250, data
    qid = qid_of(data)
    raw = m.wait_messages("alice@example.test", 1)[0]
    assert b"Subject: milter test" in raw
    ev = ml.events()
    kinds = [e["event"] for e in ev]
    for k in ("connect", "helo", "mail", "rcpt", "header", "eoh", "body",
              "eom"):
        assert k in kinds, kinds
    assert kinds.index("connect") < kinds.index("helo") < \
        kinds.index("mail") < kinds.index("rcpt") < kinds.index("eoh") < \
        kinds.index("eom")
    by = {e["event"]: e for e in ev}
    cm = by["connect"]["macros"]
    assert cm["j"] == "mx.example.test"
    assert cm["{daemon_name}"] == "mx"
    assert cm["{client_addr}"] == "127.0.0.1"
    assert cm["{client_name}"] == "localhost"
    assert cm["_"] == "localhost [127.0.0.1]"
    assert by["helo"]["name"] == "client.test"
    assert by["mail"]["addr"] == "<sender@client.test>"
    assert by["mail"]["macros"]["{mail_addr}"] == "sender@client.test"
    assert by["rcpt"]["addr"] == "<alice@example.test>"
    assert by["rcpt"]["macros"]["{rcpt_addr}"] == "alice@example.test"
    assert by["eom"]["macros"]["i"] == qid
    headers = [(e["name"], e["value"]) for e in ev if e["event"] == "header"]
    # our own Received: first, then the client's fields, values unfolded
    assert headers[0][0] == "Received"
    assert ("Subject", "milter test") in headers
    assert sum(e["size"] for e in ev if e["event"] == "body") == \
        len(b"line one\r\nline two\r\n")


def test_auth_and_tls_macros(mta_factory, milters):
    ml, m = one(mta_factory, milters, "continue")
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", m.sub_port, timeout=30) as c:
        c.ehlo("client.test")
        c.starttls(context=ctx)
        c.ehlo("client.test")
        c.login("alice@example.test", "alice-pw")
        c.sendmail("alice@example.test", ["bob@example.test"], MSG)
    m.wait_messages("bob@example.test", 1)
    by = {e["event"]: e for e in ml.events()}
    assert by["mail"]["macros"]["{auth_authen}"] == "alice@example.test"
    assert by["mail"]["macros"]["{tls_version}"].startswith("TLSv1")
    assert by["mail"]["macros"]["{cipher}"]
    assert by["connect"]["macros"]["{daemon_name}"] == "submission"


def test_listeners_limit_where_a_milter_runs(mta_factory, milters):
    ml = milters("reject-mail")
    m = server(mta_factory, milter_conf("scripted", ml.conf_socket,
                                        listeners="submission"))
    mail, rr, data = send(m)
    assert data[0] == 250, data
    assert ml.events() == []


# ---- replies ----

def test_reject_at_mail_with_custom_reply(mta_factory, milters):
    ml, m = one(mta_factory, milters, "reject-mail")
    mail, _, _ = send(m)
    assert mail[0] == 550 and b"5.7.1 sender refused by milter" in mail[1]
    assert "phase=mail reason=milter" in m.log()


def test_tempfail_at_mail(mta_factory, milters):
    ml, m = one(mta_factory, milters, "tempfail-mail")
    mail, _, _ = send(m)
    assert mail[0] == 451 and b"4.7.1" in mail[1]


def test_reject_at_connect_is_given_at_mail(mta_factory, milters):
    ml, m = one(mta_factory, milters, "reject-connect")
    mail, _, _ = send(m)
    assert mail[0] == 550 and b"5.7.1" in mail[1]


def test_reject_one_recipient(mta_factory, milters):
    ml, m = one(mta_factory, milters, "reject-rcpt")
    mail, rr, data = send(m, ("alice@example.test", "bob@example.test"))
    assert rr[0][0] == 250
    assert rr[1][0] == 550 and b"no mail for bob" in rr[1][1]
    assert data[0] == 250
    assert len(m.wait_messages("alice@example.test", 1)) == 1
    time.sleep(0.5)
    assert m.messages("bob@example.test") == []


@pytest.mark.parametrize("mode,code,text", [
    ("reject-eom", 550, b"5.7.1 Command rejected"),
    ("tempfail-eom", 451, b"4.7.1"),
    ("reply-eom", 554, b"5.7.0 content refused by policy"),
])
def test_refusal_at_end_of_data(mta_factory, milters, mode, code, text):
    ml, m = one(mta_factory, milters, mode)
    _, _, data = send(m)
    assert data[0] == code and text in data[1], data
    assert m.queued() == []
    time.sleep(0.3)
    assert m.messages("alice@example.test") == []


def test_discard(mta_factory, milters):
    ml, m = one(mta_factory, milters, "discard")
    _, _, data = send(m)
    assert data[0] == 250 and b"discarded" in data[1]
    assert "event=discard reason=milter" in m.log()
    time.sleep(0.5)
    assert m.messages("alice@example.test") == [] and m.queued() == []


def test_quarantine_holds_the_message(mta_factory, milters):
    ml, m = one(mta_factory, milters, "quarantine")
    _, _, data = send(m)
    assert data[0] == 250
    qid = qid_of(data)
    hold = os.path.join(m.state, "spool", "hold")
    end = time.time() + 10
    while time.time() < end and not (os.path.isdir(hold) and
                                     qid in os.listdir(hold)):
        time.sleep(0.05)
    assert qid in os.listdir(hold), m.log()
    assert re.search(r"%s: .*event=quarantined reason=milter" % qid, m.log())
    assert 'event=milter-quarantine reason="suspicious"' in m.log()
    assert m.messages("alice@example.test") == []


# ---- modifications, on the delivered file ----

def test_add_header(mta_factory, milters):
    ml, m = one(mta_factory, milters, "addheader")
    _, _, data = send(m)
    assert data[0] == 250
    head, body = head_body(m.wait_messages("alice@example.test", 1)[0])
    lines = head.split(b"\n")
    assert lines[-2:] == [b"X-Spam: yes", b"X-Folded: one"] or \
        b"X-Spam: yes\nX-Folded: one\n\ttwo" in head, head
    assert body == b"line one\nline two\n"
    assert "event=milter-header action=add name=X-Spam" in m.log()


def test_milter_spam_header_files_into_junk(mta_factory, milters):
    """With the default junk_header (X-Spam: yes), a message a milter
    marks as spam goes to the Junk folder, not the inbox."""
    ml = milters("addheader")
    m = server(mta_factory, milter_conf("scripted", ml.conf_socket),
               junk=True)
    assert send(m)[2][0] == 250
    junk = os.path.join(m.maildir("alice@example.test"), ".Junk", "new")
    end = time.time() + 15
    while time.time() < end and not (os.path.isdir(junk) and
                                     os.listdir(junk)):
        time.sleep(0.05)
    assert len(os.listdir(junk)) == 1, m.log()
    with open(os.path.join(junk, os.listdir(junk)[0]), "rb") as f:
        assert b"X-Spam: yes" in f.read()
    assert m.messages("alice@example.test") == []


def test_insert_header_at_top(mta_factory, milters):
    ml, m = one(mta_factory, milters, "insheader")
    send(m)
    head, _ = head_body(m.wait_messages("alice@example.test", 1)[0])
    lines = [l for l in head.split(b"\n")
             if not l.startswith((b"Return-Path", b"Delivered-To"))]
    assert lines[0] == b"X-First: top", head


def test_change_and_delete_header(mta_factory, milters):
    ml = milters("chgheader")
    ml2 = milters("delheader")
    m = server(mta_factory, milter_conf("one", ml.conf_socket),
               milter_conf("two", ml2.conf_socket))
    send(m)
    head, _ = head_body(m.wait_messages("alice@example.test", 1)[0])
    assert b"Subject: [SPAM] changed" in head
    assert b"milter test" not in head
    assert b"X-Remove-Me" not in head
    # the second milter saw the first one's change: milters run in order
    subj = [e["value"] for e in ml2.events()
            if e["event"] == "header" and e["name"] == "Subject"]
    assert subj == ["[SPAM] changed"]


def test_replace_body(mta_factory, milters):
    ml, m = one(mta_factory, milters, "replbody")
    send(m)
    head, body = head_body(m.wait_messages("alice@example.test", 1)[0])
    assert body == b"replaced body\n"
    assert b"Subject: milter test" in head


def test_change_sender(mta_factory, milters):
    ml, m = one(mta_factory, milters, "chgfrom")
    send(m)
    raw = m.wait_messages("alice@example.test", 1)[0]
    assert raw.startswith(b"Return-Path: <new-sender@example.org>"), raw
    assert "action=chgfrom from=<sender@client.test> " \
        "to=<new-sender@example.org>" in m.log()


def test_add_recipient(mta_factory, milters):
    ml, m = one(mta_factory, milters, "addrcpt")
    send(m)
    assert len(m.wait_messages("alice@example.test", 1)) == 1
    assert len(m.wait_messages("bob@example.test", 1)) == 1


def test_delete_recipient(mta_factory, milters):
    ml, m = one(mta_factory, milters, "delrcpt")
    _, _, data = send(m, ("alice@example.test", "bob@example.test"))
    assert data[0] == 250
    assert len(m.wait_messages("alice@example.test", 1)) == 1
    time.sleep(0.5)
    assert m.messages("bob@example.test") == []


def test_unix_socket_milter_is_connected_by_lookup(mta_factory, milters):
    ml = milters("addheader", unix=True)
    m = server(mta_factory, milter_conf("scripted", ml.conf_socket))
    _, _, data = send(m)
    assert data[0] == 250, m.log()
    head, _ = head_body(m.wait_messages("alice@example.test", 1)[0])
    assert b"X-Spam: yes" in head


# ---- failures: default_action, never a half-modified message ----

@pytest.mark.parametrize("action", ["tempfail", "accept"])
def test_milter_dies_mid_message(mta_factory, milters, action):
    ml = milters("crash-eom")
    m = server(mta_factory, milter_conf("scripted", ml.conf_socket,
                                        default_action=action))
    _, _, data = send(m)
    if action == "tempfail":
        assert data[0] == 451 and b"4.7.1" in data[1]
        assert m.queued() == []
    else:
        assert data[0] == 250
        head, _ = head_body(m.wait_messages("alice@example.test", 1)[0])
        assert b"X-Half" not in head
    assert "event=milter-error" in m.log()


@pytest.mark.parametrize("action,code", [("tempfail", 451), ("accept", 250)])
def test_milter_down(mta_factory, action, code):
    m = server(mta_factory, milter_conf(
        "down", "inet:127.0.0.1:%d" % free_port(), default_action=action))
    mail, _, data = send(m)
    if code == 451:
        assert mail[0] == 451
    else:
        assert data[0] == 250
        m.wait_messages("alice@example.test", 1)


class TcpMilter:
    """A hand-played milter on a loopback port: one thread per connection
    runs self.one(conn), which subclasses write."""

    def listen(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(c,),
                             daemon=True).start()


class RawMilter(TcpMilter):
    """A milter that negotiates, then answers the first command after
    CONNECT with `answer` (raw bytes)."""

    def __init__(self, answer):
        self.answer = answer
        self.listen()

    def one(self, c):
        try:
            while True:
                hdr = c.recv(4, socket.MSG_WAITALL)
                if len(hdr) < 4:
                    return
                n = struct.unpack(">I", hdr)[0]
                data = c.recv(n, socket.MSG_WAITALL)
                cmd = data[:1]
                if cmd == b"O":
                    c.sendall(struct.pack(">IcIII", 13, b"O", 6, 0xff, 0))
                elif cmd == b"D":
                    continue
                elif cmd in (b"C", b"H"):
                    c.sendall(struct.pack(">Ic", 1, b"c"))
                else:
                    c.sendall(self.answer)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("answer", [
    b"garbage that is no packet at all",
    struct.pack(">Ic", 64 * 1024 * 1024, b"h") + b"x" * 1000,
    struct.pack(">Ic", 1, b"Z"),
    struct.pack(">Ic", 0x10, b"y") + b"250 fine thanks\0",
])
def test_garbage_gets_the_default_action(mta_factory, answer):
    raw = RawMilter(answer)
    try:
        m = server(mta_factory, milter_conf(
            "raw", "inet:127.0.0.1:%d" % raw.port))
        mail, _, _ = send(m)
        assert mail[0] == 451, mail
        assert "event=milter-error" in m.log()
        # the server lives on, and so does the next session
        mail, _, _ = send(m)
        assert mail[0] == 451
    finally:
        raw.close()


def test_config_is_checked(workdir):
    conf = os.path.join(workdir, "bad.conf")
    for text, why in [
        ("[milter a]\nsocket = tcp:1.2.3.4:5\n", "not unix:PATH"),
        ("[milter a]\nsocket = inet:milter.example:5\n", "IP address"),
        ("[milter a]\nsocket = inet:127.0.0.1:1\nlisteners = nope\n",
         "no [listen nope]"),
        ("[milter a]\nsocket = inet:127.0.0.1:1\n"
         "default_action = bounce\n", "default_action"),
        ("[milter a]\ncommand_timeout = 5s\n", "socket"),
    ]:
        with open(conf, "w") as f:
            f.write("state_dir = %s\n%s" % (workdir, text))
        r = subprocess.run([BIN, "check", "-c", conf], capture_output=True,
                           text=True)
        assert r.returncode == 2 and why in r.stderr, (text, r.stderr)


def test_two_messages_in_one_session_and_bdat(mta_factory, milters):
    """The milter connection lasts the session: a second message, a RSET
    (SMFIC_ABORT) and a BDAT message all go through it."""
    ml, m = one(mta_factory, milters, "addheader")
    with smtplib.SMTP("127.0.0.1", m.port, timeout=30) as c:
        c.ehlo("client.test")
        for i in range(2):
            c.sendmail("sender@client.test", ["alice@example.test"],
                       MSG.replace(b"milter test", b"msg %d" % i))
        c.mail("sender@client.test")
        c.rcpt("alice@example.test")
        assert c.rset()[0] == 250
        c.mail("sender@client.test")
        c.rcpt("alice@example.test")
        body = MSG.replace(b"milter test", b"msg bdat")
        c.send(b"BDAT %d LAST\r\n" % len(body) + body)
        code, text = c.getreply()
        assert code == 250, text
    msgs = m.wait_messages("alice@example.test", 3)
    assert len(msgs) == 3
    for raw in msgs:
        assert b"X-Spam: yes" in head_body(raw)[0]
    kinds = [e["event"] for e in ml.events()]
    # one connection for the session: no connect after its HELO (the
    # server's start-up probe may have made one of its own before)
    first = kinds.index("helo")
    assert kinds.count("helo") == 1 and "connect" not in kinds[first:]
    assert kinds.count("eom") == 3
    assert "abort" in kinds


@pytest.mark.parametrize("mode", ["replbody", "addheader"])
def test_edited_message_is_what_gets_signed(mta_factory, milters, tmp_path,
                                            mode):
    """The DKIM signature covers the message as the milter left it (a new
    body, a header added), not the one the client sent."""
    import dkim
    from test_authres import dnsfunc_for, rsa_keys, write_key
    pem, rec = rsa_keys()
    ml = milters(mode)
    m = server(mta_factory, milter_conf("scripted", ml.conf_socket),
               "[dkim example.test]\nselector = s\nkey = %s"
               % write_key(str(tmp_path), "s.key", pem))
    msg = MSG.replace(b"sender@client.test", b"bob@example.test")
    assert send(m, msg=msg, sender="bob@example.test")[2][0] == 250
    raw = m.wait_messages("alice@example.test", 1)[0].replace(b"\n",
                                                              b"\r\n")
    assert (b"replaced body" if mode == "replbody" else b"X-Spam: yes") \
        in raw
    start = raw.index(b"DKIM-Signature")
    assert dkim.verify(raw[start:], dnsfunc=dnsfunc_for(
        {"s._domainkey.example.test": rec})), raw
