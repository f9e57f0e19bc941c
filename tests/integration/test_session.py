"""SMTP session rules (RFC 5321 and the ESMTP extensions postbote
advertises), driven over real sockets against the real binary: greeting,
EHLO/HELO, every command, sequencing and syntax errors with their exact
codes and enhanced codes, line limits, error limit, HTTP verbs, pregreet,
pipelining, half-close, long sessions."""

import os
import re
import shutil
import smtplib
import subprocess
import socket
import threading
import time

import pytest

from conftest import use_release_build
from smtpclient import Closed, RawSMTP, queue_id

HOST = "mx.example.test"
SIMPLE_MSG = b"Subject: t\r\n\r\nhello\r\n.\r\n"


@pytest.fixture(scope="module")
def smta(mta_module_factory):
    """One server shared by the reply-only tests of this module."""
    return mta_module_factory().start()


def session(mta, ehlo=True):
    c = RawSMTP(mta.port)
    if ehlo:
        c.ehlo()
    return c


# ---- greeting, EHLO, HELO ----

def test_greeting(smta):
    with RawSMTP(smta.port) as c:
        assert c.banner.code == 220
        assert c.banner.lines == [b"220 " + HOST.encode() + b" ESMTP postbote"]


def test_ehlo_advertises_every_extension(smta):
    with RawSMTP(smta.port) as c:
        r = c.cmd("EHLO client.test")
        assert r.code == 250
        assert len(r.lines) >= 8
        assert r.lines[0].startswith(b"250-" + HOST.encode())
        assert all(l.startswith(b"250-") for l in r.lines[:-1])
        assert r.lines[-1].startswith(b"250 ")
        kw = [t.split(" ")[0].upper() for t in r.texts[1:]]
        for k in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
                  "SMTPUTF8", "CHUNKING", "DSN"):
            assert k in kw, (k, r.texts)
        assert "SIZE %d" % (25 * 1024 * 1024) in r.texts


def test_ehlo_reply_is_one_write(smta):
    """Multi-line replies go out in one write: with strace, the smtpd
    syscall that carries 250-PIPELINING also carries the last line; without
    it, one recv() after a pause must hold the whole reply."""
    strace = shutil.which("strace")
    if strace is None:
        with RawSMTP(smta.port) as c:
            c.send(b"EHLO client.test\r\n")
            time.sleep(0.2)
            data = c.raw_recv_once()
            assert data.startswith(b"250-") and data.endswith(b"250 DSN\r\n")
        return
    pid = smta.child_pids()["smtpd"]
    out = os.path.join(smta.base, "strace.out")
    st = subprocess.Popen([strace, "-p", str(pid), "-e",
                           "trace=write,writev,sendto,sendmsg", "-s", "4096",
                           "-o", out], stderr=subprocess.PIPE)
    try:
        # strace says "attached" on stderr once it traces
        line = st.stderr.readline()
        assert b"attached" in line, line
        with RawSMTP(smta.port) as c:
            c.ehlo()
            c.expect("QUIT", 221)
        time.sleep(0.1)
    finally:
        st.terminate()
        st.wait(10)
    calls = [l for l in open(out, errors="replace") if "250-PIPELINING" in l]
    assert len(calls) == 1, calls
    assert "250 DSN" in calls[0] or re.search(r"250 [A-Z]", calls[0]), calls


def test_ehlo_size_follows_config(mta_factory):
    m = mta_factory(extra="max_message_size = 10K").start()
    with RawSMTP(m.port) as c:
        r = c.ehlo()
        assert "SIZE 10240" in r.texts


def test_helo(mta):
    with RawSMTP(mta.port) as c:
        r = c.expect("HELO client.test", 250)
        assert r.text.startswith(HOST)
        assert len(r.lines) == 1
        c.expect("MAIL FROM:<x@client.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(SIMPLE_MSG)
        assert c.reply().code == 250
        c.expect("QUIT", 221)
    msg = mta.wait_messages("alice@example.test", 1)[0]
    assert re.search(rb"^Received: from client\.test ", msg, re.M)
    assert re.search(rb" with SMTP id ", msg), msg


def test_ehlo_received_says_esmtp(mta):
    with session(mta) as c:
        c.transaction("x@client.test", ["alice@example.test"])
        c.expect("DATA", 354)
        c.send(SIMPLE_MSG)
        qid = queue_id(c.reply())
    msg = mta.wait_messages("alice@example.test", 1)[0]
    assert re.search(rb" with ESMTP id " + qid.encode(), msg), msg


def test_esmtp_parameters_need_ehlo(smta):
    with RawSMTP(smta.port) as c:
        c.expect("HELO client.test", 250)
        r = c.cmd("MAIL FROM:<x@client.test> SIZE=100")
        assert r.code in (501, 555), r
        assert r.enhanced == "5.5.4"
        c.expect("MAIL FROM:<x@client.test>", 250)


@pytest.mark.parametrize("line", ["EHLO", "HELO", "EHLO ", "HELO "])
def test_helo_ehlo_need_an_argument(smta, line):
    with RawSMTP(smta.port) as c:
        c.expect(line, 501, "5.5.4")
        c.expect("EHLO client.test", 250)


@pytest.mark.parametrize("arg", [b"bad\x01name", b"a\x1b[31mred",
                                 b"bad\x7fname", b"x y z", b"a\tb"])
def test_invalid_helo_refused(smta, arg):
    with RawSMTP(smta.port) as c:
        for verb in (b"HELO ", b"EHLO "):
            r = c.cmd(verb + arg)
            assert r.code == 501, r
        # nothing accepted: still need a greeting
        c.expect("MAIL FROM:<x@client.test>", 503, "5.5.1")
    time.sleep(0.2)
    log = smta.log()
    for ch in ("\x01", "\x1b", "\x7f", "\t"):
        assert ch not in log, repr(ch)


def test_helo_address_literal_accepted(smta):
    with RawSMTP(smta.port) as c:
        c.expect("EHLO [127.0.0.1]", 250)
        c.expect("EHLO [IPv6:::1]", 250)


def test_ehlo_resets_transaction(smta):
    with session(smta) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.ehlo()
        c.expect("DATA", 503, "5.5.1")
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
        c.expect("MAIL FROM:<x@client.test>", 250)


# ---- simple commands ----

def test_noop_rset_vrfy_help_quit(mta):
    with RawSMTP(mta.port) as c:
        # allowed before HELO
        c.expect("NOOP", 250, "2.0.0")
        c.expect("RSET", 250, "2.0.0")
        c.expect("HELP", 214)
        c.expect("VRFY alice@example.test", 252)
        c.ehlo()
        c.expect("NOOP", 250)
        c.expect("NOOP some argument text", 250)
        c.expect("noop", 250)
        r = c.expect("HELP", 214)
        assert "MAIL" in r.text
        c.expect("HELP MAIL", 214)
        r = c.expect("VRFY alice", 252)
        assert r.enhanced is not None and r.enhanced.startswith("2.")
        c.expect("VRFY nobody@example.test", 252)
        c.expect("VRFY", 501, "5.5.4")
        r = c.cmd("EXPN team")
        assert r.code in (252, 502), r
        assert r.enhanced is not None
        r = c.expect("QUIT", 221, "2.0.0")
        assert c.is_closed(5)


def test_verbs_case_insensitive(mta):
    with RawSMTP(mta.port) as c:
        c.expect("ehlo client.test", 250)
        c.expect("mail from:<x@client.test>", 250)
        c.expect("rcpt to:<alice@example.test>", 250)
        c.expect("DaTa", 354)
        c.send(SIMPLE_MSG)
        assert c.reply().code == 250
    assert len(mta.wait_messages("alice@example.test", 1)) == 1


def test_quit_with_pending_transaction_stores_nothing(mta):
    with session(mta) as c:
        c.transaction("x@client.test", ["alice@example.test"])
        c.expect("QUIT", 221)
        assert c.is_closed(5)
    time.sleep(0.3)
    assert mta.queued() == []
    assert mta.messages("alice@example.test") == []


def test_unknown_commands(smta):
    with session(smta) as c:
        for line in ("FOO", "FOO bar", "MAILFROM:<x@client.test>",
                     "XYZZY", "", "   ", "RCPTTO:<alice@example.test>"):
            c.expect(line, 500, "5.5.2")
        c.expect("NOOP", 250)


@pytest.mark.parametrize("verb", ["ETRN x", "TURN", "XCLIENT ADDR=1.2.3.4"])
def test_unimplemented_commands(smta, verb):
    with session(smta) as c:
        r = c.cmd(verb)
        assert r.code in (500, 502, 503, 504), r
        c.expect("NOOP", 250)


# ---- sequencing ----

def test_sequence_errors(mta):
    with RawSMTP(mta.port) as c:
        c.expect("MAIL FROM:<x@client.test>", 503, "5.5.1")
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
        c.expect("DATA", 503, "5.5.1")
        c.ehlo()
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
        c.expect("DATA", 503, "5.5.1")
    # a fresh session: the errors above count towards max_errors
    with session(mta) as c:
        c.expect("MAIL FROM:<x@client.test>", 250, "2.1.0")
        c.expect("MAIL FROM:<y@client.test>", 503, "5.5.1")   # nested
        c.expect("DATA", 554, "5.5.1")        # no recipient yet
        c.expect("RCPT TO:<nobody@example.test>", 550, "5.1.1")
        c.expect("DATA", 554, "5.5.1")        # no accepted recipient
        c.expect("RCPT TO:<alice@example.test>", 250, "2.1.5")
        c.expect("DATA", 354)
        c.send(SIMPLE_MSG)
        r = c.reply()
        assert r.code == 250 and r.enhanced == "2.0.0"
        # the transaction is over
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
        c.expect("DATA", 503, "5.5.1")
    assert len(mta.wait_messages("alice@example.test", 1)) == 1


def test_data_refused_is_not_entered(smta):
    """After DATA is refused, what follows is commands, not message text."""
    with session(smta) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        c.expect("DATA", 554, "5.5.1")
        c.expect("NOOP", 250)
        c.expect(".", 500, "5.5.2")


# ---- syntax ----

@pytest.mark.parametrize("line,code,enh", [
    ("MAIL", 501, "5.5.2"),
    ("MAIL FROM", 501, "5.5.2"),
    ("MAIL TO:<x@client.test>", 501, "5.5.2"),
    ("MAIL FROM:", 501, None),
    ("MAIL FROM:<x@client.test", 501, "5.1.7"),
    ("MAIL FROM:x@client.test>", 501, None),
    ("MAIL FROM:<x@@client.test>", 501, "5.1.7"),
    ("MAIL FROM:<x y@client.test>", 501, "5.1.7"),
    ("MAIL FROM:<x@client..test>", 501, "5.1.7"),
    ("MAIL FROM:<x@-client.test>", 501, "5.1.7"),
    ("MAIL FROM:<x.@client.test>", 501, "5.1.7"),
    ("MAIL FROM:<\"unterminated@client.test>", 501, "5.1.7"),
    ("MAIL FROM:<x@client.test> SIZE=abc", 501, "5.5.4"),
    ("MAIL FROM:<x@client.test> SIZE=", 501, "5.5.4"),
    ("MAIL FROM:<x@client.test> SIZE=-1", 501, "5.5.4"),
    ("MAIL FROM:<x@client.test> BODY=9BIT", 501, "5.5.4"),
    ("MAIL FROM:<x@client.test> FOO=bar", 555, "5.5.4"),
    ("MAIL FROM:<x@client.test> XFOO", 555, "5.5.4"),
])
def test_mail_syntax_errors(smta, line, code, enh):
    with session(smta) as c:
        r = c.cmd(line)
        assert r.code == code, (line, r)
        if enh:
            assert r.enhanced == enh, (line, r)
        else:
            assert r.enhanced is not None and r.enhanced.startswith("5.")
        # nothing started
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
        c.expect("MAIL FROM:<x@client.test>", 250)


@pytest.mark.parametrize("line,code,enh", [
    ("RCPT", 501, "5.5.2"),
    ("RCPT FROM:<alice@example.test>", 501, "5.5.2"),
    ("RCPT TO:", 501, None),
    ("RCPT TO:<>", 501, "5.1.3"),
    ("RCPT TO:<alice@example.test", 501, "5.1.3"),
    ("RCPT TO:<alice>", 501, "5.1.3"),
    ("RCPT TO:<alice@>", 501, "5.1.3"),
    ("RCPT TO:<@example.test>", 501, "5.1.3"),
    ("RCPT TO:<alice@@example.test>", 501, "5.1.3"),
    ("RCPT TO:<ali ce@example.test>", 501, "5.1.3"),
    ("RCPT TO:<alice@example.test> FOO=bar", 555, "5.5.4"),
    ("RCPT TO:<alice@example.test> SIZE=10", 555, "5.5.4"),
    # without angle brackets: a whole mailbox or nothing
    ("RCPT TO: alice@example.test>", 501, "5.5.2"),
    ("RCPT TO:alice@example.test<x>", 501, "5.5.2"),
    ("RCPT TO: alice", 501, "5.1.3"),
    ("RCPT TO: alice@", 501, "5.1.3"),
    ("RCPT TO: @relay.test:alice@example.test", 501, "5.1.3"),
    ("RCPT TO: ali ce@example.test", 501, "5.1.3"),
    ("RCPT TO: alice@example.test FOO=bar", 555, "5.5.4"),
])
def test_rcpt_syntax_errors(smta, line, code, enh):
    with session(smta) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        r = c.cmd(line)
        assert r.code == code, (line, r)
        if enh:
            assert r.enhanced == enh, (line, r)
        else:
            assert r.enhanced is not None and r.enhanced.startswith("5.")
        c.expect("DATA", 554, "5.5.1")


def test_paths_without_angle_brackets(mta):
    """MAIL FROM and RCPT TO without angle brackets, as Postfix and
    chasquid take them (docs/smtp.md): a whole mailbox, parameters after
    it, the address written with brackets everywhere after."""
    with session(mta) as c:
        c.expect("MAIL FROM: x@client.test SIZE=100", 250)
        c.expect("RCPT TO: alice@example.test", 250)
        c.expect("RCPT TO:bob@example.test NOTIFY=NEVER", 250)
        c.expect("DATA", 354)
        c.send(SIMPLE_MSG)
        assert c.reply().code == 250
        c.expect("MAIL FROM:x@client.test", 250)
        c.expect("RCPT TO: postmaster", 250)
        c.expect("DATA", 354)
        c.send(SIMPLE_MSG)
        assert c.reply().code == 250
    msgs = mta.wait_messages("alice@example.test", 2)
    assert len(msgs) == 2, msgs
    for m in msgs:
        assert m.startswith(b"Return-Path: <x@client.test>\n"), m
    assert len(mta.wait_messages("bob@example.test", 1)) == 1
    assert "from=<x@client.test>" in mta.log()


@pytest.mark.parametrize("line,code,enh", [
    ("MAIL FROM: x@client.test>", 501, "5.5.2"),
    ("MAIL FROM: x", 501, "5.1.7"),
    ("MAIL FROM: postmaster", 501, "5.1.7"),
    ("MAIL FROM: @relay.test:x@client.test", 501, "5.1.7"),
    ("MAIL FROM: x@client.test FOO=bar", 555, "5.5.4"),
])
def test_mail_without_angle_brackets_errors(smta, line, code, enh):
    with session(smta) as c:
        r = c.cmd(line)
        assert (r.code, r.enhanced) == (code, enh), (line, r)
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
        c.expect("MAIL FROM: x@client.test", 250)


def test_null_sender_accepted(mta):
    with session(mta) as c:
        c.expect("MAIL FROM:<>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(SIMPLE_MSG)
        assert c.reply().code == 250
    msg = mta.wait_messages("alice@example.test", 1)[0]
    assert msg.startswith(b"Return-Path: <>\n"), msg


def test_data_with_argument_refused(mta):
    with session(mta) as c:
        c.transaction("x@client.test", ["alice@example.test"])
        c.expect("DATA now", 501, "5.5.4")
        c.expect("DATA", 354)
        c.send(SIMPLE_MSG)
        assert c.reply().code == 250


# ---- line length limits ----

def test_command_line_512_exactly_accepted(smta):
    with session(smta) as c:
        line = b"NOOP " + b"x" * (512 - 2 - 5)
        assert len(line) + 2 == 512
        c.expect(line, 250)


@pytest.mark.parametrize("verb", ["EHLO ", "HELO ", "RSET ", "VRFY ",
                                  "QUIT ", "DATA "])
def test_other_verbs_limited_to_512(smta, verb):
    with session(smta) as c:
        c.expect(verb + "a" * 600, 500, "5.5.2")
        c.expect("NOOP", 250)           # not closed by the long QUIT


def test_command_line_513_refused(smta):
    with session(smta) as c:
        line = b"NOOP " + b"x" * (513 - 2 - 5)
        assert len(line) + 2 == 513
        c.expect(line, 500, "5.5.2")
        c.expect("NOOP", 250)       # session goes on, one reply per line


@pytest.mark.parametrize("size", [600, 2047, 2048, 2049, 5000, 100000])
def test_very_long_lines_one_error_each(smta, size):
    with session(smta) as c:
        c.send(b"NOOP " + b"y" * size + b"\r\nNOOP\r\n")
        r1 = c.reply()
        assert (r1.code, r1.enhanced) == (500, "5.5.2"), r1
        r2 = c.reply()
        assert r2.code == 250, r2          # the NOOP after the long line
        c.expect("NOOP", 250)


def test_long_line_tail_not_executed(smta):
    """The part of an oversize line past any internal buffer must not be
    run as a command of its own."""
    with session(smta) as c:
        for pad in (2040, 2047, 2048, 4090, 4096):
            c.send(b"NOOP " + b"z" * pad + b"QUIT\r\n")
            r = c.reply()
            assert r.code == 500, (pad, r)
            c.expect("NOOP", 250)


def xtext(s):
    return "".join(ch if 33 <= ord(ch) <= 126 and ch not in "+=" else
                   "+%02X" % ord(ch) for ch in s)


LONG_DOMAIN = ("d" * 62 + ".") * 3 + "test"           # 193 octets
LONGEST_DOMAIN = ("e" * 62 + ".") * 3 + "f" * 56 + ".test"  # 250 octets
ENVID = "E" * 100                                      # RFC 3461: 100


def test_mail_with_long_parameters_accepted(smta):
    """MAIL gets the extension allowances (SIZE, BODY, RET, ENVID=100
    chars, AUTH=500): well over 512 octets is fine.  (The path itself
    stays within RFC 5321's 256 octets.)"""
    auth = xtext("a" * 50 + "@" + LONG_DOMAIN)
    line = ("MAIL FROM:<%s@%s> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=%s "
            "AUTH=%s" % ("l" * 50, LONG_DOMAIN, ENVID, auth))
    assert 600 < len(line) + 2 < 800, len(line)
    with session(smta) as c:
        c.expect(line, 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        # the NOOP limit is unchanged by MAIL's allowance
        c.expect("NOOP " + "x" * 600, 500, "5.5.2")


def test_mail_near_extended_limit(smta):
    """The longest MAIL a client can legitimately send: a 256-octet path,
    every parameter, ENVID of 100 and an AUTH mailbox whose xtext grows 3x
    (~900 octets)."""
    sender = "s" * 3 + "@" + LONGEST_DOMAIN
    auth = xtext("<" + "+=" * 32 + "@" + LONGEST_DOMAIN + ">")
    line = ("MAIL FROM:<%s> SIZE=1000 BODY=8BITMIME RET=FULL ENVID=%s "
            "SMTPUTF8 AUTH=%s" % (sender, ENVID, auth))
    assert 850 < len(line) + 2 <= 1100, len(line)
    with session(smta) as c:
        c.expect(line, 250)


def test_mail_line_over_extended_limit_refused(smta):
    line = "MAIL FROM:<x@client.test> ENVID=" + "E" * 2500
    with session(smta) as c:
        c.expect(line, 500, "5.5.2")
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
        line = "MAIL FROM:<x@client.test> ENVID=" + "E" * 1300
        c.expect(line, 500, "5.5.2")
        c.expect("MAIL FROM:<x@client.test>", 250)


def test_rcpt_with_long_orcpt_accepted(smta):
    orcpt = "rfc822;" + xtext("+=" * 32 + "@" + LONGEST_DOMAIN)
    line = ("RCPT TO:<alice+%s@example.test> NOTIFY=SUCCESS,FAILURE,DELAY "
            "ORCPT=%s" % ("t" * 58, orcpt))
    assert 512 < len(line) + 2 < 1000, len(line)
    with session(smta) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        c.expect(line, 250)
        c.expect("RCPT TO:<alice@example.test> ORCPT=rfc822;" + "q" * 2000,
                 500, "5.5.2")


def test_long_local_part_and_domain(smta):
    """RFC 5321 4.5.3.1: local part 64, domain 255 octets at least."""
    with session(smta) as c:
        c.expect("MAIL FROM:<%s@client.test>" % ("a" * 64), 250)
        r = c.cmd("RCPT TO:<%s@example.test>" % ("b" * 300))
        assert 500 <= r.code < 600, r
        c.expect("RCPT TO:<alice@example.test>", 250)


# ---- bare LF / CR in commands ----

def test_bare_lf_command_refused(smta):
    with session(smta) as c:
        c.send(b"NOOP\n")
        r = c.reply()
        assert (r.code, r.enhanced) == (500, "5.5.2"), r
        c.expect("NOOP", 250)


def test_bare_lf_mail_not_executed(smta):
    with session(smta) as c:
        c.send(b"MAIL FROM:<x@client.test>\nRCPT TO:<alice@example.test>\r\n")
        r1, r2 = c.replies(2)
        assert (r1.code, r1.enhanced) == (500, "5.5.2"), r1
        assert (r2.code, r2.enhanced) == (503, "5.5.1"), r2


def test_bare_cr_in_command_refused(smta):
    with session(smta) as c:
        c.send(b"NOOP\rQUIT\r\n")
        r = c.reply()
        assert r.code == 500, r
        assert not c.is_closed(0.3)
        c.expect("NOOP", 250)


def test_nul_in_command_refused(smta):
    with session(smta) as c:
        c.send(b"MAIL FROM:<x@client.test>\x00 SIZE=1\r\n")
        r = c.reply()
        assert r.code in (500, 501), r
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")


# ---- error limit ----

def test_error_limit_default_10(smta):
    with session(smta) as c:
        for i in range(9):
            c.expect("FOO %d" % i, 500, "5.5.2")
        assert not c.is_closed(0.3)
        c.send(b"FOO last\r\n")
        r = c.reply()
        assert r.code == 500, r
        r = c.reply()
        assert r.code == 421, r
        assert r.enhanced is not None and r.enhanced.startswith("4.")
        assert c.is_closed(5)


def test_error_limit_counts_all_kinds(mta_factory):
    m = mta_factory(extra="max_errors = 3").start()
    with RawSMTP(m.port) as c:
        c.expect("MAIL FROM:<x@client.test>", 503, "5.5.1")   # sequence
        c.ehlo()
        c.expect("MAIL FROM:<x@client", 501)                  # syntax
        c.send(b"BOGUS\r\n")                                  # unknown
        r1 = c.reply()
        r2 = c.reply()
        assert r1.code == 500 and r2.code == 421, (r1, r2)
        assert c.is_closed(5)


def test_error_limit_pipelined_flood(smta):
    """A burst of junk gets at most max_errors error replies, then 421."""
    with session(smta) as c:
        c.send(b"JUNK\r\n" * 500)
        data = c.rest(5)
        assert c.eof
        lines = data.split(b"\r\n")
        assert sum(1 for l in lines if l.startswith(b"500 ")) <= 10, data
        assert any(l.startswith(b"421 ") for l in lines), data[-300:]


def test_421_reaches_a_client_that_keeps_sending(smta):
    """A client that pipelines on past the error limit: the server's close
    with unread input made the kernel reset the connection, so the
    client's next write failed and the 421 it had not read was lost.  The
    server now shuts its side and drops the rest of the input."""
    with session(smta) as c:
        end = time.time() + 2
        while time.time() < end:
            c.send(b"FOO\r\n" * 200)
            time.sleep(0.05)
        data = c.rest(15)
        assert c.eof
        assert data.count(b"500 ") == 10, data[:200]
        assert data.endswith(b"421 4.7.0 mx.example.test Error: too many "
                             b"errors\r\n"), data[-200:]


# ---- HTTP and other protocols ----

@pytest.mark.parametrize("req", [
    b"GET / HTTP/1.1\r\nHost: mx.example.test\r\n\r\n",
    b"POST /x HTTP/1.0\r\nContent-Length: 4\r\n\r\nQUIT",
    b"CONNECT mx.example.test:25 HTTP/1.1\r\n\r\n",
    b"HEAD / HTTP/1.1\r\n\r\n",
    b"PUT /x HTTP/1.1\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\n\r\n",
    b"get / HTTP/1.1\r\n\r\n",
])
def test_http_verbs_end_session(smta, req):
    with RawSMTP(smta.port) as c:
        c.send(req)
        data = c.rest(5)
        assert c.eof, "session not closed"
        # no SMTP replies to the header lines that follow
        assert data.count(b"\r\n") <= 1, data


def test_http_after_ehlo_ends_session(smta):
    with session(smta) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: a\r\n\r\n")
        data = c.rest(5)
        assert c.eof
        assert data.count(b"\r\n") <= 1, data


def test_http_verb_logged_escaped(mta):
    with RawSMTP(mta.port) as c:
        c.send(b"GET /\x1b[31mevil\x07 HTTP/1.1\r\n\r\n")
        c.rest(5)
    time.sleep(0.2)
    log = mta.log()
    assert "\x1b" not in log and "\x07" not in log


def foreign_reply(c, req):
    """Send req; the one reply the server gives, and whether it closed."""
    c.send(req)
    data = c.rest(5)
    lines = [l for l in data.split(b"\r\n") if l]
    return lines, c.eof


@pytest.mark.parametrize("req", [
    b"GET / HTTP/1.1\r\nHost: mx.example.test\r\n\r\n",
    b"POST /x HTTP/1.0\r\nContent-Length: 4\r\n\r\nQUIT",
    b"CONNECT mx.example.test:25 HTTP/1.1\r\n\r\n",
    b"USER alice\r\n",
    b"GET / HTTP/1.0\n\n",                        # LF only (netcat)
    b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",  # long
], ids=["get", "post", "connect", "user", "get-lf", "get-long"])
@pytest.mark.parametrize("when", ["greeting", "ehlo", "transaction"])
def test_foreign_protocol_gets_5xx_then_close(smta, req, when):
    """RFC 5321 3.8: a reply before closing, not a silent hang-up (it
    closed without a word); one reply, none to the lines that follow."""
    with RawSMTP(smta.port) as c:
        if when != "greeting":
            c.ehlo()
        if when == "transaction":
            c.expect("MAIL FROM:<x@client.test>", 250)
            c.expect("RCPT TO:<alice@example.test>", 250)
        lines, closed = foreign_reply(c, req)
        assert closed, lines
        assert len(lines) == 1, lines
        assert re.match(rb"^5\d\d 5\.\d+\.\d+ ", lines[0]), lines


def test_foreign_protocol_inside_auth_exchange(mta_factory):
    m = mta_factory(extra="allow_plaintext_auth = yes").start()
    with session(m) as c:
        c.expect("AUTH PLAIN", 334)
        lines, closed = foreign_reply(c, b"GET / HTTP/1.1\r\nHost: a\r\n"
                                      b"\r\n")
        assert closed and len(lines) == 1, lines
        assert lines[0].startswith(b"5"), lines


def test_foreign_protocol_logged_once_without_password(mta):
    with RawSMTP(mta.port) as c:
        lines, closed = foreign_reply(c, b"USER alice\r\nPASS s3cr3t-pw\r\n"
                                      b"STAT\r\n")
        assert closed and len(lines) == 1, lines
    with RawSMTP(mta.port) as c:
        lines, closed = foreign_reply(c, b"PASS s3cr3t-pw\r\n")
        assert closed and len(lines) == 1, lines
    time.sleep(0.3)
    log = mta.log()
    assert log.count("event=foreign-protocol") == 2, log
    assert "s3cr3t" not in log


# ---- pregreet ----

def test_pregreet_dropped(mta_factory):
    m = mta_factory(extra="greet_delay = 1s").start(greet_timeout=3)
    c = RawSMTP(m.port, greet=False)
    t0 = time.time()
    c.send(b"EHLO eager.test\r\n")
    r = c.reply()
    assert r.code == 554, r
    assert c.is_closed(5)
    assert not any(l.startswith(b"220") for l in r.lines)
    c.close()
    # a polite client waits and gets the greeting after the delay
    t0 = time.time()
    with RawSMTP(m.port) as c:
        assert c.banner.code == 220
        assert time.time() - t0 >= 0.8
        c.ehlo()
        c.expect("QUIT", 221)
    assert "pregreet" in m.log()


def test_pregreet_pipelined_mail_not_accepted(mta_factory):
    m = mta_factory(extra="greet_delay = 1s").start(greet_timeout=3)
    with RawSMTP(m.port, greet=False) as c:
        c.send(b"EHLO x.test\r\nMAIL FROM:<x@x.test>\r\n"
               b"RCPT TO:<alice@example.test>\r\nDATA\r\nSubject: x\r\n\r\n"
               b"spam\r\n.\r\nQUIT\r\n")
        data = c.rest(5)
        assert c.eof
        assert not re.search(rb"^(220|250|354)", data, re.M), data
    time.sleep(0.3)
    assert m.queued() == []
    assert m.messages("alice@example.test") == []


# ---- timeouts ----

def test_command_timeout(mta_factory):
    m = mta_factory(extra="command_timeout = 1s").start()
    with RawSMTP(m.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@client.test>", 250)
        t0 = time.time()
        r = c.reply()
        assert r.code == 421, r
        assert 0.8 <= time.time() - t0 < 5
        assert c.is_closed(5)


def test_data_timeout(mta_factory):
    m = mta_factory(extra="data_timeout = 1s").start()
    with RawSMTP(m.port) as c:
        c.ehlo()
        c.transaction("x@client.test", ["alice@example.test"])
        c.expect("DATA", 354)
        c.send(b"Subject: partial\r\n\r\nsome text\r\n")
        r = c.reply()
        assert r.code == 421, r
        assert c.is_closed(5)
    time.sleep(0.3)
    assert m.queued() == []
    assert m.messages("alice@example.test") == []


# ---- pipelining ----

def test_pipelined_transaction(mta):
    with session(mta) as c:
        c.send(b"MAIL FROM:<x@client.test>\r\n"
               b"RCPT TO:<alice@example.test>\r\n"
               b"RCPT TO:<nobody@example.test>\r\n"
               b"RCPT TO:<bob@example.test>\r\n"
               b"DATA\r\n")
        rs = c.replies(5)
        assert [r.code for r in rs] == [250, 250, 550, 250, 354], rs
        c.send(b"Subject: piped\r\n\r\npipelined body\r\n.\r\n")
        assert c.reply().code == 250
    assert b"pipelined body" in mta.wait_messages("alice@example.test", 1)[0]
    assert b"pipelined body" in mta.wait_messages("bob@example.test", 1)[0]


def test_whole_session_in_one_send(mta):
    with RawSMTP(mta.port) as c:
        c.send(b"EHLO client.test\r\n"
               b"MAIL FROM:<x@client.test>\r\n"
               b"RCPT TO:<alice@example.test>\r\n"
               b"DATA\r\n"
               b"Subject: one shot\r\n\r\nall at once\r\n.\r\n"
               b"MAIL FROM:<y@client.test>\r\n"
               b"RCPT TO:<bob@example.test>\r\n"
               b"DATA\r\n"
               b"Subject: two\r\n\r\nsecond\r\n.\r\n"
               b"QUIT\r\n")
        rs = c.replies(10)
        assert [r.code for r in rs] == [250, 250, 250, 354, 250, 250, 250,
                                        354, 250, 221], rs
        assert "queued as" in rs[4].text and "queued as" in rs[8].text
        assert c.is_closed(5)
    assert b"all at once" in mta.wait_messages("alice@example.test", 1)[0]
    assert b"second" in mta.wait_messages("bob@example.test", 1)[0]


def test_pipelined_replies_flushed_in_order_with_errors(mta):
    with session(mta) as c:
        c.send(b"NOOP\r\nFOO\r\nMAIL FROM:<x@client.test>\r\n"
               b"MAIL FROM:<x@client.test>\r\nRCPT TO:<@>\r\n"
               b"RCPT TO:<alice@example.test>\r\nRSET\r\nDATA\r\nNOOP\r\n")
        rs = c.replies(9)
        assert [r.code for r in rs] == [250, 500, 250, 503, 501, 250, 250,
                                        503, 250], rs


def test_half_close_gets_all_replies(mta):
    with RawSMTP(mta.port) as c:
        c.send(b"EHLO client.test\r\nMAIL FROM:<x@client.test>\r\n"
               b"RCPT TO:<alice@example.test>\r\nDATA\r\n"
               b"Subject: hc\r\n\r\nhalf closed\r\n.\r\nQUIT\r\n")
        c.shutdown_wr()
        rs = c.replies(6)
        assert [r.code for r in rs] == [250, 250, 250, 354, 250, 221], rs
        assert c.is_closed(5)
    assert b"half closed" in mta.wait_messages("alice@example.test", 1)[0]


def test_half_close_without_quit(mta):
    """EOF after the final dot: the message is still committed and its 250
    sent before the server closes."""
    with session(mta) as c:
        c.send(b"MAIL FROM:<x@client.test>\r\nRCPT TO:<alice@example.test>\r\n"
               b"DATA\r\nSubject: hc2\r\n\r\nno quit\r\n.\r\n")
        c.shutdown_wr()
        rs = c.replies(4)
        assert [r.code for r in rs] == [250, 250, 354, 250], rs
        assert c.is_closed(5)
    assert b"no quit" in mta.wait_messages("alice@example.test", 1)[0]


def test_half_close_inside_data_stores_nothing(mta):
    with session(mta) as c:
        c.transaction("x@client.test", ["alice@example.test"])
        c.expect("DATA", 354)
        c.send(b"Subject: cut\r\n\r\ncut off\r\n")
        c.shutdown_wr()
        data = c.rest(5)
        assert c.eof
        assert b"queued as" not in data
    time.sleep(0.5)
    assert mta.queued() == []
    assert mta.messages("alice@example.test") == []


# ---- long sessions ----

def test_many_messages_one_connection(mta):
    n = 60
    ids = set()
    with session(mta) as c:
        for i in range(n):
            c.transaction("x@client.test", ["alice@example.test"])
            c.expect("DATA", 354)
            c.send(b"Subject: n%d\r\n\r\nmessage number %d\r\n.\r\n" % (i, i))
            ids.add(queue_id(c.reply()))
        c.expect("QUIT", 221)
    assert len(ids) == n
    msgs = mta.wait_messages("alice@example.test", n)
    assert len(msgs) == n
    got = sorted(int(re.search(rb"message number (\d+)", m).group(1))
                 for m in msgs)
    assert got == list(range(n))
    assert mta.wait_queue_empty() == []


def test_rset_mid_transaction(mta):
    with session(mta) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("RSET", 250, "2.0.0")
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
        c.expect("DATA", 503, "5.5.1")
        c.expect("MAIL FROM:<y@client.test>", 250)
        c.expect("RCPT TO:<carol@example.org>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: after rset\r\n\r\nfor carol only\r\n.\r\n")
        assert c.reply().code == 250
    msg = mta.wait_messages("carol@example.org", 1)[0]
    assert b"Return-Path: <y@client.test>" in msg
    assert mta.wait_queue_empty() == []
    assert mta.messages("alice@example.test") == []


def test_queue_ids_unique_and_16_hex(mta):
    with session(mta) as c:
        seen = set()
        for i in range(5):
            c.transaction("x@client.test", ["alice@example.test"])
            c.expect("DATA", 354)
            c.send(SIMPLE_MSG)
            r = c.reply()
            assert re.fullmatch(r"2\.0\.0 Ok: queued as [0-9A-F]{16}",
                                r.text), r
            seen.add(queue_id(r))
        assert len(seen) == 5


def test_concurrent_sessions(mta):
    n_threads, per = 16, 5
    errors = []

    def worker(t):
        try:
            with smtplib.SMTP("127.0.0.1", mta.port, timeout=20) as s:
                s.ehlo("c%d.test" % t)
                for i in range(per):
                    s.sendmail("x@client.test", ["bob@example.test"] if t % 2
                               else ["alice@example.test"],
                               b"Subject: c\r\n\r\nt%d m%d\r\n" % (t, i))
        except Exception as e:     # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,))
               for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    total = n_threads * per
    a = mta.wait_messages("alice@example.test", total // 2)
    b = mta.wait_messages("bob@example.test", total // 2)
    assert len(a) == total // 2
    # bob: bob, archive -> bob gets his own copy
    assert len(b) == total // 2


def test_sigterm_answers_open_sessions_421(mta_factory):
    m = mta_factory().start()
    c = RawSMTP(m.port)
    c.ehlo()
    c.expect("MAIL FROM:<x@client.test>", 250)
    m.proc.send_signal(15)
    try:
        r = c.reply()
        assert r.code == 421, r
    except Closed:
        pytest.fail("closed without a 421")
    finally:
        c.close()
    assert m.proc.wait(20) == 0


def test_pipelined_burst_of_transactions(mta):
    """200 transactions in one write, replies read concurrently: every one
    gets its 250 with a distinct id, in order, and all are delivered."""
    n = 200
    batch = b"".join(
        b"MAIL FROM:<x@client.test>\r\nRCPT TO:<bob@example.test>\r\n"
        b"DATA\r\nSubject: b%d\r\n\r\nburst %d\r\n.\r\n" % (i, i)
        for i in range(n)) + b"QUIT\r\n"
    with session(mta) as c:
        sender = threading.Thread(target=c.send, args=(batch,))
        sender.start()
        rs = c.replies(4 * n + 1)
        sender.join(30)
    codes = [r.code for r in rs]
    assert codes == [250, 250, 354, 250] * n + [221], codes[:20]
    ids = [queue_id(r) for r in rs[3::4][:n]]
    assert len(set(ids)) == n
    msgs = mta.wait_messages("bob@example.test", n, timeout=60)
    assert len(msgs) == n
    got = sorted(int(re.search(rb"burst (\d+)", m).group(1)) for m in msgs)
    assert got == list(range(n))


def pipelined_replies(port, batch, n, timeout=30):
    """Send batch in one write (from a thread, so that a server that
    answers while it reads cannot dead-lock with us) and read n replies."""
    with RawSMTP(port, timeout=timeout) as c:
        sender = threading.Thread(target=c.send, args=(batch,))
        sender.start()
        try:
            rs = []
            for _ in range(n):
                rs.append(c.reply())
        except (Closed, socket.timeout) as e:
            raise AssertionError("%d of %d replies, then %r" %
                                 (len(rs), n, e)) from None
        finally:
            sender.join(30)
        closed = c.is_closed(5)
    return rs, closed


@pytest.fixture(scope="module")
def nojunk(mta_module_factory):
    """HELP is junk (max_junk_commands) and 20000 commands are more than
    max_commands_per_message: these tests are about the replies to a long
    pipelined batch, so both limits are off."""
    return mta_module_factory(extra="max_junk_commands = 0\n"
                              "max_commands_per_message = 0").start()


def test_pipelined_help_replies_all_come(nojunk):
    """EHLO, 1000 HELP and QUIT in one write: 80 KB of replies to 6 KB of
    input.  The server stops at its output ceiling; when the client reads
    quickly the write completes at once, and the server must carry on by
    itself (it stalled at 770 replies until the command timeout)."""
    batch = b"EHLO x.test\r\n" + b"HELP\r\n" * 1000 + b"QUIT\r\n"
    rs, closed = pipelined_replies(nojunk.port, batch, 1002)
    assert rs[0].code == 250
    assert [r.code for r in rs[1:1001]] == [214] * 1000
    assert rs[1001].code == 221
    assert closed


def test_pipelined_help_with_the_default_junk_limit(smta):
    """The same batch with the defaults: max_junk_commands (200) HELP are
    answered, then 421 and the close, at once."""
    batch = b"EHLO x.test\r\n" + b"HELP\r\n" * 1000 + b"QUIT\r\n"
    rs, closed = pipelined_replies(smta.port, batch, 202)
    assert [r.code for r in rs] == [250] + [214] * 200 + [421]
    assert rs[-1].enhanced == "4.7.0"
    assert closed


def test_pipelined_help_replies_after_half_close(nojunk):
    """The same without QUIT, and the client shuts its side: every reply
    still comes before the server closes."""
    batch = b"EHLO x.test\r\n" + b"HELP\r\n" * 3000
    with RawSMTP(nojunk.port, timeout=30) as c:
        c.send(batch)
        c.shutdown_wr()
        rs = c.replies(3001)
        assert [r.code for r in rs[1:]] == [214] * 3000
        assert c.is_closed(5)


def test_pipelined_3000_rcpt_replies_all_come(smta):
    """MAIL and 3000 RCPT in one write (it stalled after 2357 replies):
    1000 accepted, the rest 452 (max_recipients), each answered."""
    batch = (b"EHLO x.test\r\nMAIL FROM:<a@b.test>\r\n" +
             b"RCPT TO:<r@x.test>\r\n" * 3000 + b"QUIT\r\n")
    rs, closed = pipelined_replies(smta.port, batch, 3003)
    codes = [r.code for r in rs]
    assert codes[:2] == [250, 250]
    assert codes[2:1002] == [250] * 1000
    assert codes[1002:3002] == [452] * 2000
    assert codes[3002] == 221
    assert closed


def test_pipelined_replies_to_a_slow_reader(nojunk):
    """The same flood to a client that reads its replies late: the server
    stops reading while its output waits, then finishes every reply."""
    batch = b"EHLO x.test\r\n" + b"HELP\r\n" * 20000 + b"QUIT\r\n"
    with RawSMTP(nojunk.port, timeout=30) as c:
        sender = threading.Thread(target=c.send, args=(batch,))
        sender.start()
        time.sleep(1.5)              # let the server fill the socket
        rs = c.replies(20002)
        sender.join(30)
        assert [r.code for r in rs[1:20001]] == [214] * 20000
        assert rs[20001].code == 221
        assert c.is_closed(5)


def test_default_max_recipients_1000(mta):
    lines = b"".join(b"RCPT TO:<alice+%d@example.test>\r\n" % i
                     for i in range(1001))
    with session(mta) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        sender = threading.Thread(target=c.send, args=(lines,))
        sender.start()
        rs = c.replies(1001)
        sender.join(30)
        assert [r.code for r in rs[:1000]] == [250] * 1000
        assert (rs[1000].code, rs[1000].enhanced) == (452, "4.5.3"), rs[1000]
        c.expect("DATA", 354)
        c.send(SIMPLE_MSG)
        assert c.reply().code == 250
    assert len(mta.wait_messages("alice@example.test", 1)) >= 1
    assert mta.wait_queue_empty(30) == []


def test_rset_noop_not_counted_as_errors(mta):
    """Clients send RSET between messages and NOOP as keep-alive: neither
    may count toward max_errors (default 10)."""
    with session(mta) as c:
        for i in range(30):
            c.expect("RSET", 250)
            c.expect("NOOP", 250)
            c.expect("HELP", 214)
            c.expect("VRFY alice", 252)
        c.transaction("x@client.test", ["alice@example.test"])
        c.expect("DATA", 354)
        c.send(SIMPLE_MSG)
        assert c.reply().code == 250


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_no_memory_growth_from_refused_bdat(mta_factory, monkeypatch):
    """MAIL then BDAT without RCPT, repeated, must not leak the sender and
    ENVID strings in smtpd.  The children leave with _exit(), so
    LeakSanitizer never reports them: measure RSS of the optimized build
    instead (skipped when it is missing or older than the sources)."""
    use_release_build(monkeypatch)
    m = mta_factory(extra="max_errors = 1000").start()
    pid = m.child_pids()["smtpd"]
    domain = ("d" * 62 + ".") * 3 + "test"
    mail = ("MAIL FROM:<%s@%s> ENVID=%s\r\n" % ("s" * 50, domain, "E" * 100)
            ).encode()

    def run(tail):
        for _ in range(10):
            with session(m) as c:
                batch = (mail + tail) * 900 + b"QUIT\r\n"
                t = threading.Thread(target=c.send, args=(batch,))
                t.start()
                c.rest(30)
                t.join(30)

    run(b"RSET\r\n")                     # warm up
    r0 = _rss_kb(pid)
    run(b"RSET\r\n")
    r1 = _rss_kb(pid)
    run(b"BDAT 0 LAST\r\n")
    r2 = _rss_kb(pid)
    control, suspect = r1 - r0, r2 - r1
    assert suspect < control + 1024, \
        "smtpd grew %d KB over 9000 MAIL+BDAT (control %d KB)" % (
            suspect, control)


def test_sigterm_mid_data_stores_nothing(mta_factory):
    m = mta_factory().start()
    c = RawSMTP(m.port)
    c.ehlo()
    c.transaction("x@client.test", ["alice@example.test"])
    c.expect("DATA", 354)
    c.send(b"Subject: interrupted\r\n\r\npartial\r\n")
    time.sleep(0.2)
    m.proc.send_signal(15)
    try:
        r = c.reply()
        assert r.code == 421, r
    finally:
        c.close()
    assert m.proc.wait(20) == 0
    m.stop()
    m.start()                       # same state_dir
    time.sleep(0.5)
    assert m.queued() == []
    assert m.messages("alice@example.test") == []


def test_many_idle_connections(mta):
    """Event-driven: hundreds of idle sessions do not block a real one."""
    idle = []
    try:
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", mta.port), 10))
        for s in idle[::30]:
            s.settimeout(10)
            assert s.recv(100).startswith(b"220 ")
        with session(mta) as c:
            c.transaction("x@client.test", ["alice@example.test"])
            c.expect("DATA", 354)
            c.send(SIMPLE_MSG)
            assert c.reply().code == 250
    finally:
        for s in idle:
            s.close()
    assert len(mta.wait_messages("alice@example.test", 1)) == 1
