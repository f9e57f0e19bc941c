"""Message content: DATA and BDAT delivered byte-exact (dot-unstuffing,
8-bit, large bodies), the SMTP smuggling variants never taking the data to
an end (nothing smuggled, nothing executed), LF-only lines taken as lines
(bare_lf = normalize) or refused at the end of the data (bare_lf =
reject), bare CR and NUL refused, BDAT chunking rules, and size limits."""

import os
import re
import socket
import time

import pytest

from smtpclient import RawSMTP, queue_id

ALICE = "alice@example.test"
TRACE = re.compile(rb"^(Return-Path|Delivered-To|Received):")


@pytest.fixture(scope="module")
def smta(mta_module_factory):
    """One server shared by the reply-only tests of this module."""
    return mta_module_factory().start()


def strip_trace(msg):
    """The message as the client sent it: drop the trace headers postbote
    prepends (Return-Path, Delivered-To, Received, with continuations)."""
    lines = msg.split(b"\n")
    i = 0
    while i < len(lines) and TRACE.match(lines[i]):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return b"\n".join(lines[i:])


def lf(b):
    return b.replace(b"\r\n", b"\n")


def session(mta, port=None):
    c = RawSMTP(port or mta.port)
    c.ehlo()
    return c


def send_data(mta, wire, rcpt=ALICE, mail_params=""):
    """One DATA transaction; wire is everything after the 354, final dot
    included.  Returns the reply."""
    with session(mta) as c:
        c.expect("MAIL FROM:<x@client.test>" + mail_params, 250)
        c.expect("RCPT TO:<%s>" % rcpt, 250)
        c.expect("DATA", 354)
        c.send(wire)
        r = c.reply()
        c.expect("QUIT", 221)
    return r


def delivered_one(mta, addr=ALICE):
    msgs = mta.wait_messages(addr, 1)
    assert len(msgs) == 1, msgs
    time.sleep(0.1)
    assert len(mta.messages(addr)) == 1
    return msgs[0]


def nothing_said(c, wait=0.5):
    """True when the server sent nothing within wait seconds (and did not
    close): the data has not ended, so nothing was answered."""
    try:
        if c._fill(wait):
            return False
    except socket.timeout:
        return c.buf == b"" and not c.eof
    return False


MODES = ["default", "reject"]


def lf_mta(mta_factory, mode, extra=""):
    """A server with bare_lf as given ("default": the key not set)."""
    if mode != "default":
        extra = "bare_lf = %s\n%s" % (mode, extra)
    return mta_factory(extra=extra).start()


def has_bare_cr(b):
    return b"\r" in b.replace(b"\r\n", b"")


def refused_here(b, mode):
    """Does a message holding b get 554: a bare CR always, a bare LF only
    with bare_lf = reject."""
    return has_bare_cr(b) or (mode == "reject" and
                              b"\n" in b.replace(b"\r\n", b""))


def assert_nothing_stored(mta, *addrs, wait=0.5):
    time.sleep(wait)
    assert mta.queued() == []
    for a in addrs or (ALICE, "bob@example.test", "carol@example.org"):
        assert mta.messages(a) == [], a


# ---- content exactness ----

def test_trace_headers(mta):
    r = send_data(mta, b"Subject: t\r\n\r\nbody\r\n.\r\n")
    qid = queue_id(r)
    msg = delivered_one(mta)
    lines = msg.split(b"\n")
    assert lines[0] == b"Return-Path: <x@client.test>"
    assert lines[1] == b"Delivered-To: alice@example.test"
    received = msg[msg.index(b"Received:"):msg.index(b"Subject:")]
    received = re.sub(rb"\n[ \t]+", b" ", received).strip()
    assert re.match(
        rb"Received: from client\.test \(\S+ \[127\.0\.0\.1\]\) by "
        rb"mx\.example\.test \(postbote\) with ESMTP id " + qid.encode() +
        rb" for <alice@example\.test>; \w{3}, \d{1,2} \w{3} \d{4} "
        rb"\d\d:\d\d:\d\d [+-]\d{4}$", received), received
    assert b"\r" not in msg
    assert strip_trace(msg) == b"Subject: t\n\nbody\n"


def test_maildir_layout(mta):
    send_data(mta, b"Subject: t\r\n\r\nbody\r\n.\r\n")
    delivered_one(mta)
    d = mta.maildir(ALICE)
    for sub in ("cur", "new", "tmp"):
        assert os.path.isdir(os.path.join(d, sub))
    assert os.listdir(os.path.join(d, "tmp")) == []
    names = os.listdir(os.path.join(d, "new"))
    assert len(names) == 1 and ":" not in names[0] and "/" not in names[0]


@pytest.mark.parametrize("wire,stored", [
    # (on the wire after 354, without the final ".\r\n"; stored body)
    (b"..\r\n", b".\n"),
    (b"...\r\n", b"..\n"),
    (b"..x\r\n", b".x\n"),
    (b".x\r\n", b"x\n"),               # RFC 5321 4.5.2: first dot removed
    (b"a\r\n..\r\nb\r\n", b"a\n.\nb\n"),
    (b"a\r\n. \r\nb\r\n", b"a\n \nb\n"),
    (b"x.\r\n.y\r\n", b"x.\ny\n"),
    (b"a . b\r\n", b"a . b\n"),
    (b"\r\n..\r\n\r\n", b"\n.\n\n"),
])
def test_dot_unstuffing(mta, wire, stored):
    head = b"Subject: dots\r\n\r\n"
    r = send_data(mta, head + wire + b".\r\n")
    assert r.code == 250, r
    assert strip_trace(delivered_one(mta)) == b"Subject: dots\n\n" + stored


def test_dot_lines_at_start_of_message(mta):
    r = send_data(mta, b"..\r\n.X-Header: y\r\n\r\nbody\r\n.\r\n")
    assert r.code == 250, r
    assert strip_trace(delivered_one(mta)) == b".\nX-Header: y\n\nbody\n"


def test_empty_message(mta):
    r = send_data(mta, b".\r\n")
    assert r.code == 250, r
    assert strip_trace(delivered_one(mta)) == b""


def test_headers_only_message(mta):
    r = send_data(mta, b"Subject: only headers\r\n.\r\n")
    assert r.code == 250, r
    assert strip_trace(delivered_one(mta)) == b"Subject: only headers\n"


def test_8bit_body(mta):
    body = bytes(b for b in range(256) if b not in (0, 10, 13))
    wire = (b"Subject: 8bit\r\nContent-Type: text/plain; charset=latin1\r\n"
            b"\r\n" + body + b"\r\n" + "Grüße, 日本\r\n".encode() + b".\r\n")
    r = send_data(mta, wire, mail_params=" BODY=8BITMIME")
    assert r.code == 250, r
    assert strip_trace(delivered_one(mta)) == lf(wire[:-3])


def test_8bit_without_body_param(mta):
    wire = b"Subject: x\r\n\r\n\xe4\xf6\xfc\r\n.\r\n"
    r = send_data(mta, wire)
    assert r.code == 250, r
    assert strip_trace(delivered_one(mta)) == b"Subject: x\n\n\xe4\xf6\xfc\n"


def test_one_megabyte_body(mta):
    lines = [(b"%06d " % i) + bytes((33 + (i * 7 + j) % 94)
                                    for j in range(70)) for i in range(14000)]
    lines[100] = b"." + lines[100]            # needs stuffing
    content = b"Subject: big\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
    assert len(content) > 1024 * 1024
    wire = content.replace(b"\r\n.", b"\r\n..") + b".\r\n"
    r = send_data(mta, wire)
    assert r.code == 250, r
    assert strip_trace(delivered_one(mta)) == lf(content)


def test_long_text_line_998(mta):
    line = b"L" * 998
    r = send_data(mta, b"Subject: l\r\n\r\n" + line + b"\r\n.\r\n")
    assert r.code == 250, r
    assert strip_trace(delivered_one(mta)) == b"Subject: l\n\n" + line + b"\n"


@pytest.mark.parametrize("cut", [
    b"body\r", b"body\r\n", b"body\r\n.", b"body\r\n.\r",
])
def test_end_of_data_split_across_writes(mta, cut):
    """The recognizer keeps its state across reads: CRLF.CRLF split at any
    byte still ends the data, and nothing else does."""
    full = b"Subject: split\r\n\r\nbody\r\n.\r\n"
    first = b"Subject: split\r\n\r\n" + cut
    with session(mta) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(first)
        time.sleep(0.15)
        c.send(full[len(first):])
        r = c.reply()
        assert r.code == 250, r
    assert strip_trace(delivered_one(mta)) == b"Subject: split\n\nbody\n"


def test_dot_stuffed_split_across_writes(mta):
    with session(mta) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        for piece in (b"Subject: s\r\n\r\na\r\n", b".", b".", b"\r",
                      b"\n.", b"x\r\n.", b"\r\n"):
            c.send(piece)
            time.sleep(0.05)
        r = c.reply()
        assert r.code == 250, r
    assert strip_trace(delivered_one(mta)) == b"Subject: s\n\na\n.\nx\n"


def test_data_byte_at_a_time(mta):
    wire = b"Subject: slow\r\n\r\n..a\r\nb\r\n.\r\n"
    with session(mta) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        for i in range(len(wire)):
            c.send(wire[i:i + 1])
            time.sleep(0.005)
        assert c.reply().code == 250
    assert strip_trace(delivered_one(mta)) == b"Subject: slow\n\n.a\nb\n"


# ---- SMTP smuggling ----

SMUGGLE = [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\n", b"\r\n.\r"]
INJECTED = (b"MAIL FROM:<evil@attacker.test>\r\n"
            b"RCPT TO:<bob@example.test>\r\n"
            b"DATA\r\n"
            b"Subject: smuggled\r\n\r\nsmuggled body\r\n.\r\n")


def assert_not_smuggled(m, sep, mode):
    """After outer + sep + INJECTED: refused with nothing stored, or (a
    bare LF taken as a line end) one message to alice holding the
    injected commands as text.  Never a message from the attacker."""
    if refused_here(sep, mode):
        assert_nothing_stored(m)
    else:
        msg = delivered_one(m)
        assert b"\nMAIL FROM:<evil@attacker.test>\nRCPT TO:" in msg, msg
        assert msg.endswith(b"\nsmuggled body\n"), msg
        assert m.wait_queue_empty() == []
        assert m.messages("bob@example.test") == []
    assert "evil@attacker.test" not in m.log()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sep", SMUGGLE, ids=lambda s: repr(s))
def test_smuggling_refused(mta_factory, sep, mode):
    """No smuggling separator ends the data: nothing is answered until the
    real CRLF.CRLF, which gets one reply for the whole of it; the session
    goes on, and the injected commands never ran."""
    m = lf_mta(mta_factory, mode)
    with session(m) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(b"Subject: outer\r\n\r\nouter body" + sep + INJECTED[:-3])
        assert nothing_said(c), c.buf
        c.send(b".\r\n")
        r = c.reply()
        if refused_here(sep, mode):
            assert (r.code, r.enhanced) == (554, "5.6.0"), r
        else:
            assert r.code == 250, r
        c.expect("NOOP", 250)                # exactly one reply before
        assert c.buf == b""
        c.expect("RCPT TO:<bob@example.test>", 503, "5.5.1")
    assert_not_smuggled(m, sep, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sep", SMUGGLE, ids=lambda s: repr(s))
def test_smuggling_with_proper_end_later(mta_factory, sep, mode):
    """Even when a proper CRLF.CRLF follows, the message with the bare
    line end is not stored (not even truncated) unless the bare LF is taken
    as a line end; what follows the real end is commands."""
    m = lf_mta(mta_factory, mode)
    with session(m) as c:
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(b"Subject: outer\r\n\r\nouter body" + sep + INJECTED +
               b"more\r\n.\r\nQUIT\r\n")
        rs = c.replies(4)
        assert rs[0].code == (554 if refused_here(sep, mode) else 250), rs
        assert [r.code // 100 for r in rs[1:3]] == [5, 5], rs
        assert rs[3].code == 221, rs
        data = c.rest(5)
        assert c.eof
        assert data == b"", data
    assert_not_smuggled(m, sep, mode)


BARE_CR_DATA = [
    b"Subject: a\rX: b\r\n\r\nbody\r\n.\r\n",       # bare CR in the header
    b"Subject: a\r\n\r\nbo\rdy\r\n.\r\n",            # bare CR in the body
    b"Subject: a\r\n\r\nbody\r\r\n.\r\n",            # CR then CRLF
    b"\r\n\r\n\r\r\n.\r\n",
]
BARE_LF_DATA = [
    b"Subject: a\nX: b\r\n\r\nbody\r\n.\r\n",       # bare LF in the header
    b"Subject: a\r\n\r\nbody\n\r\n.\r\n",            # LF then CRLF
    b"\n.\r\n",                                      # first byte
]


@pytest.mark.parametrize("where,mode",
                         [(w, m) for w in BARE_CR_DATA for m in MODES] +
                         [(w, "reject") for w in BARE_LF_DATA])
def test_bare_cr_lf_anywhere_refused(mta_factory, where, mode):
    """A bare CR (and, with bare_lf = reject, a bare LF) gets 554 5.6.0
    at the end of the data; nothing is stored and the session goes on."""
    m = lf_mta(mta_factory, mode)
    with session(m) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(where)
        if not where.endswith(b"\r\n.\r\n"):
            assert nothing_said(c)          # its dot line is no end
            c.send(b"\r\n.\r\n")
        r = c.reply()
        assert (r.code, r.enhanced) == (554, "5.6.0"), r
        assert not c.is_closed(0.3)
        c.expect("NOOP", 250)
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
    assert_nothing_stored(m)
    assert 'reason="bare CR or LF in message"' in m.log()


@pytest.mark.parametrize("wire,stored", [
    (b"Subject: a\nX: b\r\n\r\nbody\r\n.\r\n", b"Subject: a\nX: b\n\nbody\n"),
    (b"Subject: a\r\n\r\nbody\n\r\n.\r\n", b"Subject: a\n\nbody\n"),
    (b"\n.\r\nx\r\n.\r\n", b"\n\nx\n"),
    (b"Subject: lf\n\nline one\nline two\n\r\n.\r\n",
     b"Subject: lf\n\nline one\nline two\n"),
    (b"Subject: mixed\r\n\nCRLF\r\nLF\nCRLF\r\n.\r\n",
     b"Subject: mixed\n\nCRLF\nLF\nCRLF\n"),
    (b"Subject: dots\n\n..dot\n.\n..\nend\n\r\n.\r\n",
     b"Subject: dots\n\n.dot\n\n.\nend\n"),
    (b"Subject: blank end\n\n\n\r\n.\r\n", b"Subject: blank end\n\n\n"),
])
def test_bare_lf_taken_as_line_end(mta, wire, stored):
    """bare_lf = normalize (the default): LF-only lines are lines; dots
    are unstuffed at every line start; the empty CRLF line LF-only clients
    put before the end is theirs, not the message's."""
    r = send_data(mta, wire)
    assert r.code == 250, r
    assert strip_trace(delivered_one(mta)) == stored


def test_bare_lf_dot_lines_never_end_data(mta):
    """<LF>.<LF>, <LF>.<CR><LF> and <CR><LF>.<LF> are text, the session
    waits for the real end, and the lines before them are kept."""
    with session(mta) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        for piece in (b"Subject: w\n\na\n.\n", b"b\n.\r\n", b"c\r\n.\n"):
            c.send(piece)
            assert nothing_said(c, 0.3), piece
        c.send(b"d\r\n.\r\n")
        assert c.reply().code == 250
        c.expect("NOOP", 250)
    assert strip_trace(delivered_one(mta)) == \
        b"Subject: w\n\na\n\nb\n\nc\n\nd\n"


def test_bare_lf_reject_answers_at_end_of_data(mta_factory):
    """bare_lf = reject: the 554 comes once the real end is read, not at
    the bare LF, and the session stays usable."""
    m = lf_mta(mta_factory, "reject")
    with session(m) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(b"Subject: lf\n\nunix line ends\n")
        assert nothing_said(c)
        c.send(b"\r\n.\r\n")
        r = c.reply()
        assert (r.code, r.enhanced) == (554, "5.6.0"), r
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(b"Subject: crlf\r\n\r\nfine\r\n.\r\n")
        assert c.reply().code == 250
    assert strip_trace(delivered_one(m)) == b"Subject: crlf\n\nfine\n"


def test_bare_lf_normalize_set_explicitly(mta_factory):
    m = lf_mta(mta_factory, "normalize")
    r = send_data(m, b"Subject: n\n\nnormalized\n\r\n.\r\n")
    assert r.code == 250, r
    assert strip_trace(delivered_one(m)) == b"Subject: n\n\nnormalized\n"


@pytest.mark.parametrize("mode", MODES)
def test_smuggling_split_across_writes(mta_factory, mode):
    """A bare LF arriving in its own TCP segment is still a bare LF, and
    its dot line still no end."""
    m = lf_mta(mta_factory, mode)
    with session(m) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        for piece in (b"Subject: o\r\n\r\nouter", b"\n", b".", b"\r\n",
                      INJECTED[:-3]):
            c.send(piece)
            time.sleep(0.05)
        assert nothing_said(c), c.buf
        c.send(b".\r\n")
        r = c.reply()
        assert r.code == (554 if mode == "reject" else 250), r
        c.expect("NOOP", 250)
        assert c.buf == b"", c.buf
    assert_not_smuggled(m, b"\n.\r\n", mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sep", [b"\n.\n", b"\r\n.\n", b"\r.\r"],
                         ids=lambda s: repr(s))
def test_smuggling_in_bdat(mta_factory, sep, mode):
    m = lf_mta(mta_factory, mode)
    payload = b"Subject: outer\r\n\r\nouter body" + sep + INJECTED
    with session(m) as c:
        c.transaction("x@client.test", [ALICE])
        c.send(b"BDAT %d LAST\r\n" % len(payload) + payload)
        r = c.reply()
        if refused_here(sep, mode):
            assert (r.code, r.enhanced) == (554, "5.6.0"), r
        else:
            assert r.code == 250 and "queued as" in r.text, r
        # the payload was read as data, never as commands
        c.expect("NOOP", 250)
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
    if refused_here(sep, mode):
        assert_nothing_stored(m)
    else:
        msg = strip_trace(delivered_one(m))
        assert msg == b"Subject: outer\n\nouter body" + \
            sep.replace(b"\r\n", b"\n") + lf(INJECTED), msg
        assert m.messages("bob@example.test") == []
    assert "evil@attacker.test" not in m.log()


# ---- NUL bytes ----

@pytest.mark.parametrize("wire", [
    b"Subject: n\r\n\r\na\x00b\r\n.\r\n",
    b"Subject: n\x00\r\n\r\nbody\r\n.\r\n",
    b"\x00\r\n.\r\n",
    b"Subject: n\r\n\r\nbody\r\n\x00\r\n.\r\n",
    b"Subject: n\n\nLF lines and a \x00\n\r\n.\r\n",
])
def test_nul_refused(mta, wire):
    """A NUL byte anywhere in the content: 554 5.6.0 at the end of the
    data, nothing stored, the session goes on."""
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(wire)
        r = c.reply()
        assert (r.code, r.enhanced) == (554, "5.6.0"), r
        assert "NUL" in r.text, r
        c.expect("NOOP", 250)
        assert c.buf == b""
    assert_nothing_stored(mta)
    assert 'reason="NUL byte in message"' in mta.log()


def test_nul_dot_is_not_end_of_data(mta):
    """<CR><LF><NUL>.<CR><LF> (the outbound smuggling sequence for
    receivers that strip NUL) is text here: the data goes on to the real
    end, and the whole message is refused; the commands after it never
    ran and the session still works."""
    with session(mta) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(b"Subject: outer\r\n\r\nouter body\r\n\x00.\r\n" +
               INJECTED[:-3])
        assert nothing_said(c), c.buf
        c.send(b".\r\n")
        r = c.reply()
        assert (r.code, r.enhanced) == (554, "5.6.0"), r
        c.expect("NOOP", 250)
        assert c.buf == b""
        c.expect("RCPT TO:<bob@example.test>", 503, "5.5.1")
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(b"Subject: clean\r\n\r\nclean\r\n.\r\n")
        assert c.reply().code == 250
    assert strip_trace(delivered_one(mta)) == b"Subject: clean\n\nclean\n"
    assert mta.messages("bob@example.test") == []
    assert "evil@attacker.test" not in mta.log()


def test_nul_in_bdat_refused(mta):
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        payload = b"Subject: n\r\n\r\na\r\n\x00.\r\n" + INJECTED
        c.send(b"BDAT %d LAST\r\n" % len(payload) + payload)
        r = c.reply()
        assert (r.code, r.enhanced) == (554, "5.6.0"), r
        c.expect("NOOP", 250)
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
    assert_nothing_stored(mta)


def test_nul_in_middle_bdat_chunk(mta):
    """RFC 3030 4.2: the chunk holding the NUL is refused and the
    transaction is over; the next chunk has none to join."""
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        r1 = bdat(c, b"Subject: n\r\n\r\na\x00b\r\n")
        assert (r1.code, r1.enhanced) == (554, "5.6.0"), r1
        r2 = bdat(c, b"more\r\n", last=True)
        assert (r2.code, r2.enhanced) == (503, "5.5.1"), r2
    assert_nothing_stored(mta)


# ---- BDAT ----

def bdat(c, payload, last=False):
    c.send(b"BDAT %d%s\r\n" % (len(payload), b" LAST" if last else b"")
           + payload)
    return c.reply()


def test_bdat_single_last_chunk(mta):
    content = b"Subject: bdat\r\n\r\nchunked body\r\n.not stuffed\r\n"
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        r = bdat(c, content, last=True)
        assert r.code == 250 and r.enhanced == "2.0.0", r
        queue_id(r)
    msg = delivered_one(mta)
    assert strip_trace(msg) == lf(content)
    assert re.search(rb"with ESMTP id ", msg)


def test_bdat_several_chunks(mta):
    parts = [b"Subject: multi\r\n", b"\r\n", b"one\r\n", b"two\r\n.\r\n",
             b"three\r\n"]
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        for p in parts[:-1]:
            r = bdat(c, p)
            assert r.code == 250, r
            assert "queued" not in r.text
        r = bdat(c, parts[-1], last=True)
        assert r.code == 250, r
        queue_id(r)
    assert strip_trace(delivered_one(mta)) == lf(b"".join(parts))


def test_bdat_zero_last_ends(mta):
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        assert bdat(c, b"Subject: z\r\n\r\nzero last\r\n").code == 250
        r = bdat(c, b"", last=True)
        assert r.code == 250, r
        queue_id(r)
    assert strip_trace(delivered_one(mta)) == b"Subject: z\n\nzero last\n"


def test_bdat_zero_last_only(mta):
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        r = c.cmd("BDAT 0 LAST")
        assert r.code == 250, r
        queue_id(r)
    assert strip_trace(delivered_one(mta)) == b""


def test_bdat_zero_not_last(mta):
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        assert c.cmd("BDAT 0").code == 250
        assert bdat(c, b"Subject: z\r\n\r\nx\r\n", last=True).code == 250
    assert strip_trace(delivered_one(mta)) == b"Subject: z\n\nx\n"


def test_bdat_crlf_split_across_chunks(mta):
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        assert bdat(c, b"Subject: s\r").code == 250
        assert bdat(c, b"\n\r").code == 250
        assert bdat(c, b"\nline\r").code == 250
        r = bdat(c, b"\n", last=True)
        assert r.code == 250, r
    assert strip_trace(delivered_one(mta)) == b"Subject: s\n\nline\n"


def test_bdat_without_trailing_crlf(mta):
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        r = bdat(c, b"Subject: n\r\n\r\nno newline at end", last=True)
        assert r.code == 250, r
    got = strip_trace(delivered_one(mta))
    assert got in (b"Subject: n\n\nno newline at end",
                   b"Subject: n\n\nno newline at end\n"), got


def test_bdat_pipelined_in_one_write(mta):
    with session(mta) as c:
        c.send(b"MAIL FROM:<x@client.test>\r\nRCPT TO:<alice@example.test>\r\n"
               b"BDAT 5\r\nSubjeBDAT 13\r\nct: p\r\n\r\nhi\r\n"
               b"BDAT 0 LAST\r\nNOOP\r\n")
        rs = c.replies(6)
        assert [r.code for r in rs] == [250] * 6, rs
        assert "queued as" in rs[4].text
    assert strip_trace(delivered_one(mta)) == b"Subject: p\n\nhi\n"


def test_bdat_dots_not_unstuffed(mta):
    content = b"Subject: d\r\n\r\n..two dots\r\n.\r\n.\r\nend\r\n"
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        assert bdat(c, content, last=True).code == 250
    assert strip_trace(delivered_one(mta)) == lf(content)


def test_bdat_binary_ish_8bit(mta):
    content = b"Subject: b\r\n\r\n" + bytes(range(128, 256)) + b"\r\n"
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        assert bdat(c, content, last=True).code == 250
    assert strip_trace(delivered_one(mta)) == lf(content)


BARE_CR_BDAT = [
    b"Subject: a\r\n\r\nbare\rCR\r\n",
    b"Subject: a\r\n\r\nends in CR\r",
]
BARE_LF_BDAT = [
    b"Subject: a\r\n\r\nbare\nLF\r\n",
    b"\n",
]


@pytest.mark.parametrize("payload,mode",
                         [(p, m) for p in BARE_CR_BDAT for m in MODES] +
                         [(p, "reject") for p in BARE_LF_BDAT])
def test_bdat_bare_cr_lf_refused_session_stays(mta_factory, payload, mode):
    m = lf_mta(mta_factory, mode)
    with session(m) as c:
        c.transaction("x@client.test", [ALICE])
        r = bdat(c, payload, last=True)
        assert (r.code, r.enhanced) == (554, "5.6.0"), r
        assert not c.is_closed(0.2)
        c.expect("NOOP", 250)
        # the session is usable for a proper message afterwards
        c.expect("RSET", 250)
        c.transaction("x@client.test", ["bob@example.test"])
        assert bdat(c, b"Subject: ok\r\n\r\nok\r\n", last=True).code == 250
    time.sleep(0.3)
    assert m.messages(ALICE) == []
    assert strip_trace(delivered_one(m, "bob@example.test")) == \
        b"Subject: ok\n\nok\n"


@pytest.mark.parametrize("payload,stored", [
    (b"Subject: a\r\n\r\nbare\nLF\r\n", b"Subject: a\n\nbare\nLF\n"),
    (b"Subject: a\n\nLF only\n", b"Subject: a\n\nLF only\n"),
    (b"Subject: a\n\n.dots are data\n..\n",
     b"Subject: a\n\n.dots are data\n..\n"),
])
def test_bdat_bare_lf_taken_as_line_end(mta, payload, stored):
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        r = bdat(c, payload, last=True)
        assert r.code == 250 and "queued as" in r.text, r
    assert strip_trace(delivered_one(mta)) == stored


@pytest.mark.parametrize("mode", MODES)
def test_bdat_bare_lf_in_middle_chunk(mta_factory, mode):
    m = lf_mta(mta_factory, mode)
    with session(m) as c:
        c.transaction("x@client.test", [ALICE])
        r1 = bdat(c, b"Subject: a\r\n\r\nx\ny\r\n")
        r2 = bdat(c, b"z\r\n", last=True)
        if mode == "reject":
            assert 554 in (r1.code, r2.code), (r1, r2)
            assert "queued" not in r2.text
        else:
            assert (r1.code, r2.code) == (250, 250), (r1, r2)
            assert "queued" in r2.text
        c.expect("RSET", 250)
        c.expect("NOOP", 250)
    if mode == "reject":
        assert_nothing_stored(m)
    else:
        assert strip_trace(delivered_one(m)) == b"Subject: a\n\nx\ny\nz\n"


def test_bdat_without_mail(mta):
    with session(mta) as c:
        payload = b"NOOP\r\nNOOP\r\n"
        c.send(b"BDAT %d LAST\r\n" % len(payload) + payload + b"NOOP\r\n")
        r = c.reply()
        assert (r.code, r.enhanced) == (503, "5.5.1"), r
        r = c.reply()
        assert r.code == 250, r
        assert not c.is_closed(0.3)            # exactly one NOOP ran
        assert c.buf == b""
        c.expect("MAIL FROM:<x@client.test>", 250)


def test_bdat_without_rcpt(mta):
    with session(mta) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        payload = b"RCPT TO:<alice@example.test>\r\n"
        c.send(b"BDAT %d LAST\r\n" % len(payload) + payload + b"NOOP\r\n")
        r = c.reply()
        assert r.code in (503, 554), r
        assert r.enhanced == "5.5.1", r
        assert c.reply().code == 250
    assert_nothing_stored(mta)


def test_data_after_bdat(mta):
    """RFC 3030: DATA after BDAT in the same transaction gets 503."""
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        assert bdat(c, b"Subject: a\r\n\r\n").code == 250
        c.expect("DATA", 503, "5.5.1")
        c.expect("RSET", 250)
        c.transaction("x@client.test", ["bob@example.test"])
        c.expect("DATA", 354)
        c.send(b"Subject: b\r\n\r\nvia data\r\n.\r\n")
        assert c.reply().code == 250
    assert strip_trace(delivered_one(mta, "bob@example.test")) == \
        b"Subject: b\n\nvia data\n"
    assert mta.messages(ALICE) == []


def test_bdat_after_data_transaction_fresh(mta):
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(b"Subject: 1\r\n\r\none\r\n.\r\n")
        assert c.reply().code == 250
        # the next transaction may use BDAT
        c.transaction("x@client.test", [ALICE])
        assert bdat(c, b"Subject: 2\r\n\r\ntwo\r\n", last=True).code == 250
    msgs = mta.wait_messages(ALICE, 2)
    assert sorted(strip_trace(m) for m in msgs) == [
        b"Subject: 1\n\none\n", b"Subject: 2\n\ntwo\n"]


@pytest.mark.parametrize("line", [
    "BDAT", "BDAT x", "BDAT 5 FOO", "BDAT -1", "BDAT 5 LAST x", "BDAT +5",
    "BDAT 0x10",
])
def test_bdat_syntax_errors(smta, line):
    with session(smta) as c:
        c.transaction("x@client.test", [ALICE])
        r = c.cmd(line)
        assert r.code == 501, r
        assert r.enhanced in ("5.5.2", "5.5.4"), r


def test_bdat_huge_size_refused(mta):
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        r = c.cmd("BDAT 99999999999999999999999999 LAST")
        assert r.code in (501, 552), r
    assert_nothing_stored(mta)


# ---- size limits ----

@pytest.fixture
def small(mta_factory):
    return mta_factory(extra="max_message_size = 10K").start()


def test_size_param_at_mail(small):
    with session(small) as c:
        r = c.cmd("MAIL FROM:<x@client.test> SIZE=10241")
        assert (r.code, r.enhanced) == (552, "5.3.4"), r
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
        r = c.cmd("MAIL FROM:<x@client.test> SIZE=99999999999999999999999")
        assert (r.code, r.enhanced) in ((552, "5.3.4"), (501, "5.5.4")), r
        c.expect("MAIL FROM:<x@client.test> SIZE=10240", 250)
        c.expect("RSET", 250)
        c.expect("MAIL FROM:<x@client.test> SIZE=0", 250)


def padded(n, head=b"Subject: big\r\n\r\n"):
    """A message of exactly n octets (CRLF line ends, no final dot)."""
    line = b"x" * 76 + b"\r\n"
    body = head
    while len(body) + len(line) <= n:
        body += line
    rest = n - len(body)
    if rest >= 2:
        body += b"y" * (rest - 2) + b"\r\n"
    elif rest == 1:
        body = body[:-2] + b"x\r\n"
    assert len(body) == n, (len(body), n)
    return body


def test_data_over_limit_dropped(small):
    inner = (b"RSET\r\nMAIL FROM:<evil@attacker.test>\r\n"
             b"RCPT TO:<bob@example.test>\r\n") * 300   # >10K, data only
    with session(small) as c:
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(b"Subject: big\r\n\r\n" + inner + b".\r\n")
        r = c.reply()
        assert (r.code, r.enhanced) == (552, "5.3.4"), r
        # the data was read and dropped: nothing of it ran as commands
        c.expect("NOOP", 250)
        assert c.buf == b"" and not c.is_closed(0.2)
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
        # and the session still works
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(b"Subject: small\r\n\r\nok\r\n.\r\n")
        assert c.reply().code == 250
    assert strip_trace(delivered_one(small)) == b"Subject: small\n\nok\n"
    assert "evil@attacker.test" not in small.log()
    assert small.wait_queue_empty() == []


def test_data_over_limit_despite_small_size_param(small):
    with session(small) as c:
        c.expect("MAIL FROM:<x@client.test> SIZE=100", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(padded(30000) + b".\r\n")
        r = c.reply()
        assert (r.code, r.enhanced) == (552, "5.3.4"), r
    assert_nothing_stored(small)


def test_data_just_under_limit_accepted(small):
    msg = padded(9000)
    with session(small) as c:
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(msg + b".\r\n")
        assert c.reply().code == 250
    assert strip_trace(delivered_one(small)) == lf(msg)


def test_data_exactly_at_limit_accepted(small):
    """A message of exactly max_message_size octets (the client's SIZE=
    counts the message as sent; the server's own trace headers must not
    push it over)."""
    msg = padded(10240)
    with session(small) as c:
        c.expect("MAIL FROM:<x@client.test> SIZE=10240", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(msg + b".\r\n")
        r = c.reply()
        assert r.code == 250, r
    assert strip_trace(delivered_one(small)) == lf(msg)


def test_data_one_over_limit_refused(small):
    msg = padded(10241)
    with session(small) as c:
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(msg + b".\r\n")
        r = c.reply()
        assert (r.code, r.enhanced) == (552, "5.3.4"), r
    assert_nothing_stored(small)


def test_bdat_over_limit_single_chunk(small):
    payload = (b"NOOP\r\n" * 4000)[:20000]
    with session(small) as c:
        c.transaction("x@client.test", [ALICE])
        c.send(b"BDAT %d LAST\r\n" % len(payload) + payload)
        r = c.reply()
        assert (r.code, r.enhanced) == (552, "5.3.4"), r
        c.expect("NOOP", 250)               # exactly one reply: ours
        assert c.buf == b"" and not c.is_closed(0.3)
        c.expect("QUIT", 221)
    assert_nothing_stored(small)


def test_bdat_over_limit_across_chunks(small):
    with session(small) as c:
        c.transaction("x@client.test", [ALICE])
        r1 = bdat(c, padded(6000))
        r2 = bdat(c, b"NOOP\r\n" * 1000, last=True)
        assert r1.code == 250, r1
        assert (r2.code, r2.enhanced) == (552, "5.3.4"), r2
        c.expect("NOOP", 250)
        assert c.buf == b""
        c.expect("RSET", 250)
        c.transaction("x@client.test", [ALICE])
        assert bdat(c, b"Subject: ok\r\n\r\nfine\r\n", last=True).code == 250
    assert strip_trace(delivered_one(small)) == b"Subject: ok\n\nfine\n"


def test_bdat_exactly_at_limit(small):
    msg = padded(10240)
    with session(small) as c:
        c.transaction("x@client.test", [ALICE])
        r = bdat(c, msg, last=True)
        assert r.code == 250, r
    assert strip_trace(delivered_one(small)) == lf(msg)


# ---- logs ----

def test_log_lines_for_delivered_message(mta):
    r = send_data(mta, b"Subject: log\r\n\r\nlogged\r\n.\r\n")
    qid = queue_id(r)
    delivered_one(mta)
    assert mta.wait_queue_empty() == []
    end = time.time() + 5
    while time.time() < end and "%s: removed" % qid not in mta.log():
        time.sleep(0.05)
    log = mta.log()
    assert re.search(r"%s: from=<x@client\.test> size=\d+ nrcpt=1\b" % qid,
                     log), log
    assert re.search(r"%s: to=<alice@example\.test> relay=local "
                     r"delay=[\d.]+ dsn=2\.0\.0 status=sent \(.+\)" % qid, log)
    assert "%s: removed" % qid in log
    lines = log.splitlines()
    i_from = next(i for i, l in enumerate(lines) if qid + ": from=" in l)
    i_to = next(i for i, l in enumerate(lines) if qid + ": to=" in l)
    i_rm = next(i for i, l in enumerate(lines) if qid + ": removed" in l)
    assert i_from < i_to < i_rm


# ---- more edges ----

def test_message_only_blank_line(mta):
    r = send_data(mta, b"\r\n.\r\n")
    assert r.code == 250, r
    assert strip_trace(delivered_one(mta)) == b"\n"


@pytest.mark.parametrize("line", ["BDAT %d last", "BDAT %d LaSt",
                                  "BDAT 00%d LAST"])
def test_bdat_last_spellings(mta, line):
    payload = b"Subject: l\r\n\r\nx\r\n"
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        c.send((line % len(payload)).encode() + b"\r\n" + payload)
        r = c.reply()
        assert r.code == 250 and "queued as" in r.text, r
    assert strip_trace(delivered_one(mta)) == b"Subject: l\n\nx\n"


def test_rset_between_bdat_chunks(mta):
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        assert bdat(c, b"Subject: dropped\r\n\r\n").code == 250
        c.expect("RSET", 250)
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
        c.transaction("x@client.test", ["bob@example.test"])
        assert bdat(c, b"Subject: kept\r\n\r\nk\r\n", last=True).code == 250
    assert strip_trace(delivered_one(mta, "bob@example.test")) == \
        b"Subject: kept\n\nk\n"
    time.sleep(0.3)
    assert mta.messages(ALICE) == []


@pytest.mark.parametrize("how", ["quit", "close"])
def test_abandoned_bdat_stores_nothing(mta, how):
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        assert bdat(c, b"Subject: half\r\n\r\nhalf\r\n").code == 250
        if how == "quit":
            c.expect("QUIT", 221)
        else:
            c.send(b"BDAT 100 LAST\r\nonly part of it")
    assert_nothing_stored(mta)


def test_abandoned_data_stores_nothing(mta):
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(b"Subject: half\r\n\r\nhalf\r\n")
    assert_nothing_stored(mta)


def test_format_string_bytes_in_addresses(mta):
    """'%' is atext: it must reach logs and headers literally, never a
    format string."""
    sender = "%s%n%x%p@client.test"
    with session(mta) as c:
        c.expect("MAIL FROM:<%s>" % sender, 250)
        c.expect("RCPT TO:<alice+%n%s@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: fmt\r\n\r\n%s%n\r\n.\r\n")
        assert c.reply().code == 250
    msg = delivered_one(mta)
    assert msg.startswith(b"Return-Path: <%s%n%x%p@client.test>\n"), msg
    assert mta.wait_queue_empty() == []
    assert "from=<%s%n%x%p@client.test>" in mta.log()


def test_quoted_sender_preserved(mta):
    with session(mta) as c:
        c.expect('MAIL FROM:<"john q. doe"@client.test>', 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: q\r\n\r\nq\r\n.\r\n")
        assert c.reply().code == 250
    msg = delivered_one(mta)
    assert msg.startswith(b'Return-Path: <"john q. doe"@client.test>\n'), msg


def test_sender_source_route_ignored(mta):
    with session(mta) as c:
        c.expect("MAIL FROM:<@relay.test,@other.test:x@client.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: sr\r\n\r\nsr\r\n.\r\n")
        assert c.reply().code == 250
    msg = delivered_one(mta)
    assert msg.startswith(b"Return-Path: <x@client.test>\n"), msg


def test_very_long_text_line(mta):
    """A 200 KB line (RFC 5321 says 1000): either stored exactly or refused
    with 5xx and nothing stored; never split into commands, never a hang."""
    line = b"Q" * 200000
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(b"Subject: long\r\n\r\n" + line + b"\r\nNOOP\r\n.\r\n")
        r = c.reply()
        assert r.code == 250 or 500 <= r.code < 600, r
        if r.code == 250:
            assert strip_trace(delivered_one(mta)) == \
                b"Subject: long\n\n" + line + b"\nNOOP\n"
        else:
            assert_nothing_stored(mta)
        if not c.is_closed(0.3):
            c.expect("NOOP", 250)
            assert c.buf == b""


def test_bdat_whole_session_half_closed(mta):
    payload = b"Subject: hc\r\n\r\nbdat half close\r\n"
    with RawSMTP(mta.port) as c:
        c.send(b"EHLO client.test\r\nMAIL FROM:<x@client.test>\r\n"
               b"RCPT TO:<alice@example.test>\r\nBDAT %d LAST\r\n"
               % len(payload) + payload + b"QUIT\r\n")
        c.shutdown_wr()
        rs = c.replies(5)
        assert [r.code for r in rs] == [250, 250, 250, 250, 221], rs
        assert c.is_closed(5)
    assert strip_trace(delivered_one(mta)) == lf(payload)


def test_bdat_large_chunks(mta):
    """Chunks larger than any socket buffer, and many small ones."""
    big = b"Subject: bigbdat\r\n\r\n" + (b"0123456789" * 7 + b"\r\n") * 30000
    with session(mta) as c:
        c.transaction("x@client.test", [ALICE])
        half = len(big) // 2
        assert bdat(c, big[:half]).code == 250
        assert bdat(c, big[half:], last=True).code == 250
        c.transaction("x@client.test", ["bob@example.test"])
        small_parts = [big[i:i + 7] for i in range(0, 7000, 7)]
        for p in small_parts:
            assert bdat(c, p).code == 250
        assert c.cmd("BDAT 0 LAST").code == 250
    assert strip_trace(delivered_one(mta)) == lf(big)
    assert strip_trace(delivered_one(mta, "bob@example.test")) == \
        lf(b"".join(small_parts))


def test_bdat_stalled_chunk_times_out(mta_factory):
    m = mta_factory(extra="data_timeout = 1s").start()
    with session(m) as c:
        c.transaction("x@client.test", [ALICE])
        c.send(b"BDAT 100 LAST\r\nonly ten..")
        t0 = time.time()
        r = c.reply()
        assert r.code == 421, r
        assert time.time() - t0 < 5
        assert c.is_closed(5)
    assert_nothing_stored(m)


def test_bdat_without_rcpt_then_new_transaction(mta, dns):
    """After BDAT is refused for want of recipients, the next MAIL starts a
    clean transaction: the first sender and its ENVID are gone."""
    dns.set_rcode("remote.test", None, "SERVFAIL")   # stays queued
    with session(mta) as c:
        c.expect("MAIL FROM:<first@client.test> ENVID=FIRST RET=FULL", 250)
        c.send(b"BDAT 3 LAST\r\nabc")
        r = c.reply()
        assert (r.code, r.enhanced) == (503, "5.5.1"), r
        c.expect("MAIL FROM:<second@client.test>", 250)
        c.expect("RCPT TO:<someone@remote.test>", 250)
        assert bdat(c, b"Subject: 2\r\n\r\nsecond\r\n", last=True).code == 250
    time.sleep(0.3)
    (qid,) = mta.queued()
    env = open(mta.envelope_file(qid), "rb").read()
    assert b"S18:second@client.test\n" in env, env
    assert b"FIRST" not in env and b"first@" not in env, env


def test_received_uses_latest_helo(mta):
    with RawSMTP(mta.port) as c:
        c.ehlo("first.test")
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(b"Subject: 1\r\n\r\n1\r\n.\r\n")
        assert c.reply().code == 250
        c.expect("HELO second.test", 250)
        c.transaction("x@client.test", [ALICE])
        c.expect("DATA", 354)
        c.send(b"Subject: 2\r\n\r\n2\r\n.\r\n")
        assert c.reply().code == 250
    msgs = mta.wait_messages(ALICE, 2)
    assert len(msgs) == 2
    by_subject = {re.search(rb"Subject: (\d)", m).group(1): m for m in msgs}
    assert re.search(rb"Received: from first\.test .*\n\tby [^\n]* with ESMTP ",
                     by_subject[b"1"])
    assert re.search(rb"Received: from second\.test .*\n\tby [^\n]* with SMTP ",
                     by_subject[b"2"])
