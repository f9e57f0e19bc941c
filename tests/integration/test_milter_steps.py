"""What test_milter.py's libmilter filters do not show: a milter that
negotiates fewer steps (SMFIP_NO*) and no replies (SMFIP_NR_*) gets only
those steps and is not waited for; SMFIC_QUIT ends the session's
connection; SMFIR_ACCEPT at MAIL spares the milter the rest of that
message; a milter that stops answering is given up after its
command_timeout or content_timeout, and its default_action decides."""

import socket
import struct
import threading
import time

import pytest

from test_milter import MSG, TcpMilter, milter_conf, send, server

# protocol bits (libmilter's mfapi.h)
NOHELO, NORCPT, NOBODY, NOHDRS = 0x02, 0x08, 0x10, 0x20
NR_CONN, NR_MAIL, NR_EOH = 0x1000, 0x4000, 0x40000
NR = {b"C": NR_CONN, b"M": NR_MAIL, b"N": NR_EOH}
CONTINUE = struct.pack(">Ic", 1, b"c")
ACCEPT = struct.pack(">Ic", 1, b"a")


class StepMilter(TcpMilter):
    """A raw milter: negotiates `protocol`, records the command letter of
    every packet but the macros, per connection, and answers each command
    that wants a reply with answers.get(letter, CONTINUE); an answer of
    None means: never answer (a hung milter), a list is bytes to send
    and pauses (float seconds) between them."""

    def __init__(self, protocol=0, answers=None):
        self.protocol = protocol
        self.answers = answers or {}
        self.conns = []
        self.lock = threading.Lock()
        self.listen()

    def one(self, c):
        cmds = []
        with self.lock:
            self.conns.append(cmds)
        try:
            while True:
                hdr = c.recv(4, socket.MSG_WAITALL)
                if len(hdr) < 4:
                    return
                n = struct.unpack(">I", hdr)[0]
                cmd = c.recv(n, socket.MSG_WAITALL)[:1]
                if cmd == b"D":
                    continue
                with self.lock:
                    cmds.append(cmd.decode())
                if cmd == b"O":
                    c.sendall(struct.pack(">IcIII", 13, b"O", 6, 0,
                                          self.protocol))
                elif cmd in (b"A", b"Q"):
                    if cmd == b"Q":
                        return
                elif not self.protocol & NR.get(cmd, 0):
                    answer = self.answers.get(cmd.decode(), CONTINUE)
                    # a list: bytes to send and pauses (seconds) between
                    for part in (answer if isinstance(answer, list)
                                 else [answer]):
                        if isinstance(part, float):
                            time.sleep(part)
                        elif part is not None:
                            c.sendall(part)
        except OSError:
            pass
        finally:
            c.close()

    def sessions(self):
        """The command letters of the connections that saw a MAIL (the
        server's start-up probe makes one that does not)."""
        with self.lock:
            return ["".join(x) for x in self.conns if "M" in x]

    def close(self):
        self.sock.close()


@pytest.fixture
def raw_milter():
    made = []

    def make(**kw):
        m = StepMilter(**kw)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()


def wait_sessions(ml, n=1, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        s = ml.sessions()
        if len(s) >= n and all(x.endswith("Q") for x in s):
            return s
        time.sleep(0.05)
    return ml.sessions()


def test_only_negotiated_steps_are_sent(mta_factory, raw_milter):
    """No HELO, RCPT, headers or body; no reply to CONNECT, MAIL or end
    of headers: those go out without a wait, and the message passes."""
    ml = raw_milter(protocol=NOHELO | NORCPT | NOHDRS | NOBODY | NR_CONN |
                    NR_MAIL | NR_EOH)
    m = server(mta_factory, milter_conf("steps", "inet:127.0.0.1:%d"
                                        % ml.port))
    mail, rr, data = send(m, ("alice@example.test", "bob@example.test"))
    assert data[0] == 250, (data, m.log())
    assert len(m.wait_messages("alice@example.test", 1)) == 1
    # OPTNEG, CONNECT, MAIL, DATA, end of headers, end of body, QUIT
    assert wait_sessions(ml) == ["OCMTNEQ"], m.log()


def test_all_steps_and_quit(mta_factory, raw_milter):
    ml = raw_milter()
    m = server(mta_factory, milter_conf("steps", "inet:127.0.0.1:%d"
                                        % ml.port))
    assert send(m)[2][0] == 250
    # Received, From, To, Subject, X-Remove-Me: five headers, one body chunk
    assert wait_sessions(ml) == ["OCHMRTLLLLLNBEQ"], m.log()


def test_accept_at_mail_skips_the_rest_of_the_message(mta_factory,
                                                      raw_milter):
    ml = raw_milter(answers={"M": ACCEPT})
    m = server(mta_factory, milter_conf("steps", "inet:127.0.0.1:%d"
                                        % ml.port))
    assert send(m)[2][0] == 250
    assert len(m.wait_messages("alice@example.test", 1)) == 1
    assert wait_sessions(ml) == ["OCHMQ"], m.log()
    assert "milter=steps event=milter phase=mail action=accept" in m.log()


@pytest.mark.parametrize("stage,key", [("M", "command_timeout"),
                                       ("E", "content_timeout")])
@pytest.mark.parametrize("action", ["tempfail", "accept"])
def test_hung_milter_is_given_up_after_its_timeout(mta_factory, raw_milter,
                                                   stage, key, action):
    ml = raw_milter(answers={stage: None})
    m = server(mta_factory, milter_conf(
        "hung", "inet:127.0.0.1:%d" % ml.port, default_action=action,
        **{key: "1s"}))
    t0 = time.time()
    mail, rr, data = send(m)
    took = time.time() - t0
    assert 0.9 < took < 10, took
    last = mail if stage == "M" and action == "tempfail" else data
    if action == "tempfail":
        assert last[0] == 451 and b"4.7.1" in last[1], (mail, data)
        assert m.queued() == []
    else:
        assert data[0] == 250, (mail, data)
        assert len(m.wait_messages("alice@example.test", 1)) == 1
    assert 'milter=hung event=milter-error reason="timeout" action=%s' \
        % action in m.log()


def test_connect_timeout(mta_factory):
    """A milter that takes the connection but never answers OPTNEG."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        m = server(mta_factory, milter_conf(
            "mute", "inet:127.0.0.1:%d" % s.getsockname()[1],
            connect_timeout="1s"))
        t0 = time.time()
        mail, _, _ = send(m)
        assert mail[0] == 451, mail
        assert time.time() - t0 < 10
        assert 'milter=mute event=milter-error reason="timeout"' in m.log()
    finally:
        s.close()


def test_message_passes_through_unchanged(mta_factory, raw_milter):
    """A continue-everything milter leaves the message byte for byte."""
    ml = raw_milter()
    m = server(mta_factory, milter_conf("steps", "inet:127.0.0.1:%d"
                                        % ml.port))
    assert send(m)[2][0] == 250
    raw = m.wait_messages("alice@example.test", 1)[0]
    assert raw.endswith(MSG.replace(b"\r\n", b"\n")), raw


SKIP_BIT = 0x400     # SMFIP_SKIP: the milter may answer a body chunk "skip"
SKIP = struct.pack(">Ic", 1, b"s")
PROGRESS = struct.pack(">Ic", 1, b"p")
BIG = MSG + (b"y" * 78 + b"\r\n") * 2000


@pytest.mark.parametrize("answer,chunks", [(CONTINUE, "BBB"), (SKIP, "B")])
def test_skip_ends_the_body(mta_factory, raw_milter, answer, chunks):
    """A 160 KiB body goes in three 64 KiB chunks, one at a time; a
    milter that negotiated SMFIP_SKIP and answers the first with skip
    gets no more of it, only the end of the message, and the message is
    delivered whole."""
    ml = raw_milter(protocol=SKIP_BIT, answers={"B": answer})
    m = server(mta_factory, milter_conf("steps", "inet:127.0.0.1:%d"
                                        % ml.port))
    assert send(m, msg=BIG)[2][0] == 250
    raw = m.wait_messages("alice@example.test", 1)[0]
    assert raw.endswith(BIG.replace(b"\r\n", b"\n")), len(raw)
    assert wait_sessions(ml) == ["OCHMRTLLLLLN" + chunks + "EQ"], m.log()


def test_progress_keeps_a_slow_milter(mta_factory, raw_milter):
    """A milter that takes 2.4 s at the end of the message, with a 1 s
    content_timeout, but says SMFIR_PROGRESS every 0.6 s: each one starts
    the timeout again, and the answer that follows decides."""
    ml = raw_milter(answers={"E": [0.6, PROGRESS, 0.6, PROGRESS, 0.6,
                                   PROGRESS, 0.6, CONTINUE]})
    m = server(mta_factory, milter_conf("steps", "inet:127.0.0.1:%d"
                                        % ml.port, content_timeout="1s",
                                        default_action="tempfail"))
    t0 = time.time()
    assert send(m)[2][0] == 250
    assert time.time() - t0 > 2.0
    assert len(m.wait_messages("alice@example.test", 1)) == 1
    assert "event=milter-error" not in m.log()
