"""The LMTP client (RFC 2033) against a scripted LMTP server on loopback,
for what Dovecot does not show: the DSN parameters when DSN is offered,
a different reply per recipient after the dot (2xx, 4xx, 5xx), a server
that stops answering after the dot (deferred, then delivered once it
answers again), and lmtp_concurrency.  Dovecot itself is in
test_lmtp.py."""

import re
import signal
import smtplib
import socket
import threading
import time

import pytest

from conftest import free_port

USERS = {
    "alice@example.test": "x", "bob@example.test": "x",
    "temp@example.test": "x", "gone@example.test": "x",
    "carol@example.org": "x",
}


class LMTPServer:
    """A threaded LMTP server: LHLO offers PIPELINING, ENHANCEDSTATUSCODES,
    8BITMIME and DSN; after the dot each accepted recipient gets
    finals[local part] (default 250).  hang: say nothing after the dot."""

    def __init__(self, finals=None, delay=0.0):
        self.finals = finals or {}
        self.delay = delay
        self.hang = False
        self.port = free_port()
        self.commands = []          # every command line, all sessions
        self.messages = []          # (rcpts, data) answered with 250
        self.active = self.max_active = self.sessions = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(50)
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stopping = True
        self.sock.close()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,),
                             daemon=True).start()

    def _session(self, conn):
        with self.lock:
            self.active += 1
            self.sessions += 1
            self.max_active = max(self.max_active, self.active)
        try:
            self._talk(conn.makefile("rb"), conn)
        except OSError:
            pass
        finally:
            with self.lock:
                self.active -= 1
            conn.close()

    def _talk(self, f, conn):
        conn.sendall(b"220 lmtp.example.test ready\r\n")
        rcpts = []
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode()
            with self.lock:
                self.commands.append(cmd)
            verb = cmd.split(" ")[0].upper()
            if verb == "LHLO":
                conn.sendall(b"250-lmtp.example.test\r\n250-PIPELINING\r\n"
                             b"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
                             b"250 DSN\r\n")
            elif verb == "MAIL":
                rcpts = []
                conn.sendall(b"250 2.1.0 OK\r\n")
            elif verb == "RCPT":
                addr = re.search(r"<([^>]*)>", cmd).group(1)
                if addr.startswith("nouser@"):
                    conn.sendall(b"550 5.1.1 no such user\r\n")
                else:
                    rcpts.append(addr)
                    conn.sendall(b"250 2.1.5 OK\r\n")
            elif verb == "DATA":
                conn.sendall(b"354 go ahead\r\n")
                data = []
                while True:
                    d = f.readline()
                    if d in (b".\r\n", b""):
                        break
                    data.append(d)
                if self.hang:
                    time.sleep(30)
                    return
                time.sleep(self.delay)
                out = b""
                for a in rcpts:
                    rep = self.finals.get(a.split("@")[0], "250 2.0.0 saved")
                    out += ("%s <%s>\r\n" % (rep, a)).encode()
                    if rep.startswith("250"):
                        with self.lock:
                            self.messages.append((a, b"".join(data)))
                conn.sendall(out)
            elif verb == "RSET":
                conn.sendall(b"250 2.0.0 OK\r\n")
            elif verb == "QUIT":
                conn.sendall(b"221 2.0.0 bye\r\n")
                return
            else:
                conn.sendall(b"500 5.5.1 unknown\r\n")


@pytest.fixture
def server():
    s = LMTPServer(finals={"temp": "452 4.2.2 mailbox full",
                           "gone": "550 5.1.1 mailbox gone"})
    yield s
    s.close()


def start(mta_factory, server, extra=""):
    return mta_factory(users=USERS, extra="smtp_client_timeout = 2s\n" +
                       extra + "\n[domain example.test]\ndeliver = "
                       "lmtp:127.0.0.1:%d" % server.port).start()


def send(m, rcpts, subject="lmtp", mail_opts=(), rcpt_opts=()):
    msg = ("From: <carol@example.org>\r\nSubject: %s\r\n\r\nbody\r\n"
           % subject).encode()
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        c.ehlo("client.test")
        assert c.mail("carol@example.org", list(mail_opts))[0] == 250
        for r in rcpts:
            assert c.rcpt(r, list(rcpt_opts))[0] == 250
        code, text = c.data(msg)
        assert code == 250, text
    return re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()


def wait_log(m, pattern, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        found = re.search(pattern, m.log())
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("no %r in the log:\n%s" % (pattern, m.log()))


def test_lhlo_dsn_and_a_reply_per_recipient(mta_factory, server):
    m = start(mta_factory, server)
    qid = send(m, ["alice@example.test", "temp@example.test",
                   "gone@example.test"],
               mail_opts=["RET=HDRS", "ENVID=env-42"],
               rcpt_opts=["NOTIFY=FAILURE,DELAY",
                          "ORCPT=rfc822;orig@example.test"])
    relay = r"relay=lmtp:127\.0\.0\.1:%d" % server.port
    wait_log(m, r"%s: to=<alice@example\.test> %s .*dsn=2\.0\.0 "
             r"status=sent \(250 2\.0\.0 saved" % (qid, relay))
    wait_log(m, r"%s: to=<temp@example\.test> %s .*dsn=4\.2\.2 "
             r"status=deferred \(452 4\.2\.2 mailbox full" % (qid, relay))
    wait_log(m, r"%s: to=<gone@example\.test> %s .*dsn=5\.1\.1 "
             r"status=bounced \(550 5\.1\.1 mailbox gone" % (qid, relay))
    cmds = server.commands
    assert cmds[0] == "LHLO mx.example.test"
    assert not any(c.startswith(("EHLO", "HELO")) for c in cmds)
    assert "MAIL FROM:<carol@example.org> RET=HDRS ENVID=env-42" in cmds
    assert "RCPT TO:<alice@example.test> NOTIFY=FAILURE,DELAY ORCPT=" \
        "rfc822;orig@example.test" in cmds
    assert [a for a, _ in server.messages] == ["alice@example.test"]


def test_silent_server_defers_then_delivers_once(mta_factory, server):
    """No reply after the dot: deferred after the timeout (4.4.2), and
    delivered once the server answers again; one copy was accepted."""
    server.hang = True
    m = start(mta_factory, server)
    qid = send(m, ["bob@example.test"])
    wait_log(m, r"%s: to=<bob@example\.test> .*dsn=4\.4\.2 status=deferred "
             r"\(lost connection with lmtp:127\.0\.0\.1:%d: timeout" %
             (qid, server.port))
    server.hang = False
    wait_log(m, r"%s: to=<bob@example\.test> .*status=sent" % qid)
    assert m.wait_queue_empty() == []
    assert [a for a, _ in server.messages] == ["bob@example.test"]


def test_concurrency_limit_and_reuse(mta_factory, server):
    """lmtp_concurrency = 2: ten messages at once never take more than
    two connections, and every one is delivered."""
    server.delay = 0.2
    m = start(mta_factory, server, "lmtp_concurrency = 2")
    qids = [send(m, ["alice@example.test"], subject="n%d" % i)
            for i in range(10)]
    for q in qids:
        wait_log(m, r"%s: to=<alice@example\.test> .*status=sent" % q)
    assert len(server.messages) == 10
    assert server.max_active <= 2
    assert server.sessions <= 2


def test_mixed_request_maildir_and_lmtp(mta_factory, server):
    """One message to an LMTP domain and a Maildir one: both delivered,
    each with its own relay in the log."""
    m = start(mta_factory, server)
    qid = send(m, ["alice@example.test", "carol@example.org"],
               subject="mixed")
    wait_log(m, r"%s: to=<alice@example\.test> relay=lmtp:127\.0\.0\.1:%d "
             r".*status=sent" % (qid, server.port))
    wait_log(m, r"%s: to=<carol@example\.org> relay=local .*status=sent" %
             qid)
    assert len(m.wait_messages("carol@example.org", 1)) == 1
    assert m.wait_queue_empty() == []


def test_missing_socket_defers_then_reload_delivers(mta_factory, server):
    """The LMTP socket does not exist: deferred (4.4.2), kept in the
    queue; after the config points at a live server and a SIGHUP, the
    same message is delivered there."""
    m = mta_factory(users=USERS, extra="[domain example.test]\n"
                    "deliver = lmtp:unix:/nonexistent/lmtp")
    m.start()
    qid = send(m, ["bob@example.test"], subject="later")
    wait_log(m, r"%s: to=<bob@example\.test> relay=lmtp:unix:/nonexistent/"
             r"lmtp .*dsn=4\.4\.2 status=deferred \(connect to lmtp:unix:"
             r"/nonexistent/lmtp: No such file or directory\)" % qid)
    assert qid in m.queued()
    with open(m.conf) as f:
        text = f.read()
    with open(m.conf, "w") as f:
        f.write(text.replace("lmtp:unix:/nonexistent/lmtp",
                             "lmtp:127.0.0.1:%d" % server.port))
    m.proc.send_signal(signal.SIGHUP)
    wait_log(m, r"deliver\[\d+\]: event=reloaded")
    wait_log(m, r"%s: to=<bob@example\.test> relay=lmtp:127\.0\.0\.1:%d "
             r".*status=sent" % (qid, server.port))
    assert m.wait_queue_empty() == []
    assert [a for a, _ in server.messages] == ["bob@example.test"]
