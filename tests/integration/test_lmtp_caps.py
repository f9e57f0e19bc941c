"""The LMTP client against servers with other LHLO capabilities than
test_lmtp_peer.py's and Dovecot's: without PIPELINING it waits for each
reply before the next command (RFC 2920 is optional); with 8BITMIME and
SMTPUTF8 offered, MAIL FROM carries BODY=8BITMIME and SMTPUTF8 for a
message received with them, and a non-ASCII recipient is delivered;
without DSN no DSN parameter is sent."""

import re
import smtplib
import socket
import threading
import time

import pytest

from conftest import free_port
from test_lmtp_peer import wait_log

USERS = {"alice@example.test": "x", "temp@example.test": "x",
         "jörg@example.test": "x", "carol@example.org": "x"}


class CapsLMTP:
    """A one-connection-at-a-time LMTP server offering caps; it reads byte
    by byte, and after each command line looks (50 ms later) whether the
    next command is already there: the client pipelined."""

    def __init__(self, caps):
        self.caps = caps
        self.port = free_port()
        self.commands = []          # (line, next command already sent)
        self.delivered = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.sock.close()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(c,),
                             daemon=True).start()

    @staticmethod
    def _line(c):
        out = b""
        while not out.endswith(b"\r\n"):
            b = c.recv(1)
            if not b:
                return None
            out += b
        return out[:-2]

    def _talk(self, c):
        try:
            c.sendall(b"220 caps.example.test LMTP\r\n")
            rcpts = []
            while True:
                line = self._line(c)
                if line is None:
                    return
                time.sleep(0.05)
                try:
                    more = bool(c.recv(1, socket.MSG_PEEK |
                                       socket.MSG_DONTWAIT))
                except BlockingIOError:
                    more = False
                cmd = line.decode("utf-8", "replace")
                self.commands.append((cmd, more))
                verb = cmd.split(" ")[0].upper()
                if verb == "LHLO":
                    caps = ["caps.example.test"] + self.caps
                    c.sendall(("".join("250-%s\r\n" % x for x in caps[:-1])
                               + "250 %s\r\n" % caps[-1]).encode())
                elif verb == "MAIL":
                    rcpts = []
                    c.sendall(b"250 2.1.0 OK\r\n")
                elif verb == "RCPT":
                    rcpts.append(re.search(r"<([^>]*)>", cmd).group(1))
                    c.sendall(b"250 2.1.5 OK\r\n")
                elif verb == "DATA":
                    c.sendall(b"354 go ahead\r\n")
                    data = b""
                    while not data.endswith(b"\r\n.\r\n"):
                        b = c.recv(65536)
                        if not b:
                            return
                        data += b
                    for a in rcpts:
                        if a.startswith("temp@"):
                            c.sendall(("452 4.2.2 <%s> full\r\n" % a)
                                      .encode())
                        else:
                            self.delivered.append((a, data))
                            c.sendall(("250 2.0.0 <%s> saved\r\n" % a)
                                      .encode("utf-8"))
                elif verb in ("RSET", "NOOP"):
                    c.sendall(b"250 2.0.0 OK\r\n")
                elif verb == "QUIT":
                    c.sendall(b"221 2.0.0 bye\r\n")
                    return
                else:
                    c.sendall(b"500 5.5.1 unknown\r\n")
        except OSError:
            pass
        finally:
            c.close()


@pytest.fixture
def caps_server():
    made = []

    def make(caps):
        s = CapsLMTP(caps)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def start(mta_factory, server):
    return mta_factory(users=USERS, extra="smtp_client_timeout = 5s\n"
                       "[domain example.test]\ndeliver = lmtp:127.0.0.1:%d"
                       % server.port).start()


def send(m, rcpts, body, mail_opts=()):
    with smtplib.SMTP("127.0.0.1", m.port, timeout=20) as c:
        c.ehlo("client.test")
        code, _ = c.mail("carol@example.org", list(mail_opts))
        assert code == 250
        for r in rcpts:
            assert c.rcpt(r)[0] == 250
        code, text = c.data(body)
        assert code == 250, text
    return re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()


def test_without_pipelining_one_command_per_reply(mta_factory, caps_server):
    s = caps_server(["ENHANCEDSTATUSCODES"])
    m = start(mta_factory, s)
    qid = send(m, ["alice@example.test", "temp@example.test"],
               b"Subject: no pipelining\r\n\r\nhi\r\n")
    wait_log(m, r"%s: to=<alice@example\.test> relay=lmtp:127\.0\.0\.1:%d "
             r".*status=sent" % (qid, s.port))
    wait_log(m, r"%s: to=<temp@example\.test> .*dsn=4\.2\.2 "
             r"status=deferred \(452 4\.2\.2" % qid)
    txn = [(c, more) for c, more in s.commands
           if c.split(" ")[0] in ("MAIL", "RCPT", "DATA")]
    assert [c.split(" ")[0] for c, _ in txn][:4] == ["MAIL", "RCPT", "RCPT",
                                                     "DATA"]
    assert not any(more for _, more in txn), s.commands
    # no capability offered: no parameter sent
    assert txn[0][0] == "MAIL FROM:<carol@example.org>"


def test_8bitmime_and_smtputf8_when_offered(mta_factory, caps_server):
    s = caps_server(["PIPELINING", "8BITMIME", "SMTPUTF8",
                     "ENHANCEDSTATUSCODES"])
    m = start(mta_factory, s)
    body = "Subject: Grüße\r\n\r\nÄpfel\r\n".encode()
    qid = send(m, ["jörg@example.test"], body,
               mail_opts=["BODY=8BITMIME", "SMTPUTF8"])
    wait_log(m, r"%s: to=<j\S+rg@example\.test> .*status=sent" % qid)
    mails = [c for c, _ in s.commands if c.startswith("MAIL")]
    assert mails == ["MAIL FROM:<carol@example.org> BODY=8BITMIME SMTPUTF8"]
    assert "RCPT TO:<jörg@example.test>" in [c for c, _ in s.commands]
    assert "Äpfel".encode() in s.delivered[0][1]
    # PIPELINING offered: MAIL, RCPT and DATA went out together
    txn = [(c, more) for c, more in s.commands
           if c.split(" ")[0] in ("MAIL", "RCPT")]
    assert all(more for _, more in txn), s.commands
