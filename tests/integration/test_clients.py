"""Real SMTP clients from Debian (swaks, curl) against the real server."""

import re
import shutil
import smtplib
import subprocess
import time

import pytest

ALICE, BOB, CAROL = "alice@example.test", "bob@example.test", \
    "carol@example.org"
TRACE = re.compile(rb"^(Return-Path|Delivered-To|Received):")


def strip_trace(msg):
    lines = msg.split(b"\n")
    i = 0
    while i < len(lines) and TRACE.match(lines[i]):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return b"\n".join(lines[i:])


def need(binary):
    path = shutil.which(binary)
    if path is None:
        pytest.skip("%s is not installed" % binary)
    return path


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout, **kw)


# ---- swaks ----

def swaks(mta, *args, port=None):
    argv = [need("swaks"), "--server", "127.0.0.1:%d" % (port or mta.port),
            "--helo", "swaks.client.test", "--timeout", "20"] + list(args)
    return run(argv)


def test_swaks_basic(mta):
    p = swaks(mta, "--to", ALICE, "--from", "sender@client.test",
              "--h-Subject", "swaks basic", "--body", "hello from swaks")
    assert p.returncode == 0, p.stdout.decode()
    out = p.stdout.decode()
    assert "220 mx.example.test ESMTP postbote" in out
    assert re.search(r"<-  250 2\.0\.0 Ok: queued as [0-9A-F]{16}", out), out
    msg = mta.wait_messages(ALICE, 1)[0]
    assert b"Subject: swaks basic" in msg
    assert b"hello from swaks" in msg
    assert msg.startswith(b"Return-Path: <sender@client.test>\n")
    assert re.search(rb"^Received: from swaks\.client\.test ", msg, re.M)


def test_swaks_pipeline(mta):
    p = swaks(mta, "--pipeline", "--to", "%s,%s" % (ALICE, CAROL),
              "--from", "sender@client.test", "--h-Subject", "piped")
    assert p.returncode == 0, p.stdout.decode()
    for a in (ALICE, CAROL):
        assert b"Subject: piped" in mta.wait_messages(a, 1)[0]


def test_swaks_pipeline_with_refused_recipient(mta):
    p = swaks(mta, "--pipeline", "--to",
              "nobody@example.test,%s" % BOB, "--from", "sender@client.test")
    out = p.stdout.decode()
    assert "550 5.1.1" in out, out
    # swaks goes on with the accepted recipient
    assert p.returncode == 0, out
    assert len(mta.wait_messages(BOB, 1)) == 1


def test_swaks_esmtp_protocol(mta):
    p = swaks(mta, "--protocol", "ESMTP", "--to", BOB,
              "--from", "sender@client.test", "--h-Subject", "esmtp")
    assert p.returncode == 0, p.stdout.decode()
    assert "250-CHUNKING" in p.stdout.decode()
    msg = mta.wait_messages(BOB, 1)[0]
    assert b" with ESMTP id " in msg


def test_swaks_smtp_protocol_helo(mta):
    p = swaks(mta, "--protocol", "SMTP", "--to", ALICE,
              "--from", "sender@client.test", "--h-Subject", "helo")
    out = p.stdout.decode()
    assert p.returncode == 0, out
    assert " -> HELO swaks.client.test" in out
    msg = mta.wait_messages(ALICE, 1)[0]
    assert b" with SMTP id " in msg


def test_swaks_null_sender(mta):
    p = swaks(mta, "--to", ALICE, "--from", "<>")
    assert p.returncode == 0, p.stdout.decode()
    assert mta.wait_messages(ALICE, 1)[0].startswith(b"Return-Path: <>\n")


def test_swaks_dot_stuffing_and_8bit(mta, tmp_path):
    body = ("Subject: dots\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            ".leading dot\r\n..two\r\n.\r\nGrüße\r\nend\r\n").encode()
    f = tmp_path / "msg.eml"
    f.write_bytes(body)
    p = swaks(mta, "--to", ALICE, "--from", "sender@client.test",
              "--data", "@%s" % f)
    assert p.returncode == 0, p.stdout.decode("utf-8", "replace")
    msg = mta.wait_messages(ALICE, 1)[0]
    # swaks always sends CRLF before the final dot, even after a CRLF
    assert strip_trace(msg) in (body.replace(b"\r\n", b"\n"),
                                body.replace(b"\r\n", b"\n") + b"\n")


def test_swaks_unknown_recipient(mta):
    p = swaks(mta, "--to", "nobody@example.test", "--from", "s@client.test")
    out = p.stdout.decode()
    assert p.returncode == 24, out          # swaks: RCPT refused
    assert "550 5.1.1" in out
    time.sleep(0.3)
    assert mta.queued() == []


def test_swaks_relay_denied(mta_factory):
    m = mta_factory(relay_networks="192.0.2.0/24").start()
    p = swaks(m, "--to", "someone@remote.test", "--from", "s@client.test")
    out = p.stdout.decode()
    assert p.returncode == 24, out
    assert "554 5.7.1" in out
    time.sleep(0.3)
    assert m.queued() == []


def test_swaks_quit_after_rcpt_stores_nothing(mta):
    p = swaks(mta, "--to", ALICE, "--from", "s@client.test",
              "--quit-after", "RCPT")
    assert p.returncode == 0, p.stdout.decode()
    assert "221 2.0.0" in p.stdout.decode()
    time.sleep(0.5)
    assert mta.queued() == []
    assert mta.messages(ALICE) == []


def test_swaks_drop_after_data_stores_nothing(mta):
    p = swaks(mta, "--to", ALICE, "--from", "s@client.test",
              "--drop-after", "DATA")
    assert "354 " in p.stdout.decode(), p.stdout.decode()
    time.sleep(0.5)
    assert mta.queued() == []
    assert mta.messages(ALICE) == []


def test_swaks_oversize_message(mta_factory, tmp_path):
    m = mta_factory(extra="max_message_size = 10K").start()
    f = tmp_path / "big.eml"
    f.write_bytes(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 400)
    p = swaks(m, "--to", ALICE, "--from", "s@client.test",
              "--data", "@%s" % f)
    out = p.stdout.decode()
    assert "552 5.3.4" in out, out
    assert p.returncode != 0
    time.sleep(0.3)
    assert m.queued() == []
    assert m.messages(ALICE) == []


def test_swaks_alias_and_catch_all(mta):
    p = swaks(mta, "--to", "info@example.test,whoever@example.org",
              "--from", "s@client.test")
    assert p.returncode == 0, p.stdout.decode()
    for a in (ALICE, BOB, CAROL):
        assert len(mta.wait_messages(a, 1)) >= 1


# ---- curl ----

def curl(mta, *args, port=None):
    argv = [need("curl"), "-sS", "--max-time", "30",
            "smtp://127.0.0.1:%d/curl.client.test" % (port or mta.port)] \
        + list(args)
    return run(argv)


def test_curl_upload(mta, tmp_path):
    body = (b"From: Sender <sender@client.test>\r\nTo: alice@example.test\r\n"
            b"Subject: via curl\r\n\r\nhello from curl\r\n.dot line\r\n")
    f = tmp_path / "m.eml"
    f.write_bytes(body)
    p = curl(mta, "--mail-from", "sender@client.test",
             "--mail-rcpt", ALICE, "-T", str(f))
    assert p.returncode == 0, p.stdout.decode()
    msg = mta.wait_messages(ALICE, 1)[0]
    assert strip_trace(msg) == body.replace(b"\r\n", b"\n")
    assert msg.startswith(b"Return-Path: <sender@client.test>\n")
    assert re.search(rb"^Received: from curl\.client\.test ", msg, re.M), msg


def test_curl_several_recipients(mta, tmp_path):
    f = tmp_path / "m.eml"
    f.write_bytes(b"Subject: many\r\n\r\nto several\r\n")
    p = curl(mta, "--mail-from", "s@client.test", "--mail-rcpt", ALICE,
             "--mail-rcpt", BOB, "--mail-rcpt", "Postmaster", "-T", str(f))
    assert p.returncode == 0, p.stdout.decode()
    assert len(mta.wait_messages(ALICE, 1)) == 1
    assert len(mta.wait_messages(BOB, 1)) == 1


def test_curl_lf_file_with_crlf_option(mta, tmp_path):
    f = tmp_path / "lf.eml"
    f.write_bytes(b"Subject: lf\n\nunix line ends\n")
    p = curl(mta, "--crlf", "--mail-from", "s@client.test",
             "--mail-rcpt", ALICE, "-T", str(f))
    assert p.returncode == 0, p.stdout.decode()
    msg = mta.wait_messages(ALICE, 1)[0]
    assert strip_trace(msg) == b"Subject: lf\n\nunix line ends\n"


def test_curl_lf_file_without_crlf_delivered(mta, tmp_path):
    """curl sends a LF-only file as is (and adds CRLF.CRLF): with the
    default bare_lf = normalize its lines are taken as lines, and the
    mailbox holds exactly the file."""
    f = tmp_path / "lf.eml"
    body = (b"From: s@client.test\nSubject: lf\n\nunix line ends\n"
            b"second line\n\nafter a blank line\n")
    f.write_bytes(body)
    p = curl(mta, "--mail-from", "s@client.test",
             "--mail-rcpt", ALICE, "-T", str(f))
    assert p.returncode == 0, p.stdout.decode()
    msg = mta.wait_messages(ALICE, 1)[0]
    assert strip_trace(msg) == body


def test_curl_lf_file_without_crlf_refused(mta_factory, tmp_path):
    """With bare_lf = reject, curl's LF-only file is refused (554 at the
    end of the data) and nothing is stored."""
    m = mta_factory(extra="bare_lf = reject").start()
    f = tmp_path / "lf.eml"
    f.write_bytes(b"Subject: lf\n\nunix line ends\n")
    p = curl(m, "--mail-from", "s@client.test",
             "--mail-rcpt", ALICE, "-T", str(f))
    assert p.returncode != 0, p.stdout.decode()
    time.sleep(0.5)
    assert 'reason="bare CR or LF in message"' in m.log()
    assert m.queued() == []
    assert m.messages(ALICE) == []


# ---- Python's smtplib ----

def test_smtplib_lf_only_message(mta):
    """A script handing smtplib a bytes message with LF line ends: smtplib
    sends the LFs as they are (it stuffs dots after them and ends with
    CRLF.CRLF); the mailbox holds the message as the script wrote it."""
    msg = (b"From: script@client.test\nTo: alice@example.test\n"
           b"Subject: from a script\n\nline one\n.line with a dot\n"
           b"..two dots\n\nlast line\n")
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=20) as c:
        c.ehlo("script.client.test")
        refused = c.sendmail("script@client.test", [ALICE], msg)
        assert refused == {}
    got = mta.wait_messages(ALICE, 1)[0]
    assert strip_trace(got) == msg


def test_smtplib_lf_only_message_refused_when_strict(mta_factory):
    m = mta_factory(extra="bare_lf = reject").start()
    with smtplib.SMTP("127.0.0.1", m.port, timeout=20) as c:
        c.ehlo("script.client.test")
        with pytest.raises(smtplib.SMTPDataError) as e:
            c.sendmail("script@client.test", [ALICE],
                       b"Subject: strict\n\nLF only\n")
        assert e.value.smtp_code == 554
        # the session goes on
        assert c.noop()[0] == 250
        c.sendmail("script@client.test", [ALICE],
                   b"Subject: strict\r\n\r\nCRLF\r\n")
    assert strip_trace(m.wait_messages(ALICE, 1)[0]) == \
        b"Subject: strict\n\nCRLF\n"


def test_curl_unknown_recipient(mta, tmp_path):
    f = tmp_path / "m.eml"
    f.write_bytes(b"Subject: x\r\n\r\nx\r\n")
    p = curl(mta, "--mail-from", "s@client.test",
             "--mail-rcpt", "nobody@example.test", "-T", str(f))
    assert p.returncode != 0
    time.sleep(0.3)
    assert mta.queued() == []


def test_curl_vrfy_and_help(mta):
    p = curl(mta, "--mail-rcpt", "alice@example.test")
    out = p.stdout.decode()
    assert p.returncode == 0, out
    assert "252" in out or "Cannot VRFY" in out, out
    p = curl(mta)               # no recipient: curl sends HELP
    assert p.returncode == 0, p.stdout.decode()
    assert "Commands" in p.stdout.decode() or "214" in p.stdout.decode()


def test_curl_big_message(mta, tmp_path):
    lines = [b"line %06d " % i + b"z" * 60 for i in range(20000)]
    body = b"Subject: big curl\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
    f = tmp_path / "big.eml"
    f.write_bytes(body)
    p = curl(mta, "--mail-from", "s@client.test", "--mail-rcpt", CAROL,
             "-T", str(f))
    assert p.returncode == 0, p.stdout.decode()
    msg = mta.wait_messages(CAROL, 1)[0]
    assert strip_trace(msg) == body.replace(b"\r\n", b"\n")
