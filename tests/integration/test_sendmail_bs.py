"""`sendmail -bs` (SMTP on standard input and output, each message handed
to the queue as `postbote send` hands it) and `sendmail -bv` (is an
address deliverable, and how): dialogues through pipes, pipelined and
not, several messages, dot lines, RSET, bad commands, end of input inside
DATA, a server that is not running; -bv for a user, an alias, an unknown
user, a loop and a remote address, checked against the Maildirs."""

import email
import email.policy
import os
import re
import subprocess

import dkim

from conftest import BIN
from test_authres import dnsfunc_for, rsa_keys, write_key

ALICE = "alice@example.test"
BOB = "bob@example.test"
CAROL = "carol@example.org"

EX_NOUSER, EX_TEMPFAIL, EX_PROTOCOL = 67, 75, 76


def bs(m, data, args=()):
    """One `sendmail -bs` session with data on stdin, the whole input at
    once (a pipelining client)."""
    r = subprocess.run([BIN, "send", "-c", m.conf, "-bs"] + list(args),
                       input=data, capture_output=True, timeout=60)
    return r


def replies(out):
    """The reply codes in order, one per reply (multi-line ones once)."""
    return [int(line[:3]) for line in out.decode().split("\r\n")
            if len(line) >= 4 and line[3] == " "]


class Session:
    """A dialogue one command at a time: each reply is read before the
    next command is written (a client without pipelining)."""

    def __init__(self, m):
        self.p = subprocess.Popen([BIN, "send", "-c", m.conf, "-bs"],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)

    def reply(self):
        lines = []
        while True:
            line = self.p.stdout.readline()
            assert line.endswith(b"\r\n"), (lines, line)
            lines.append(line.decode())
            if line[3:4] == b" ":
                return int(line[:3]), "".join(lines)

    def cmd(self, text):
        self.p.stdin.write(text.encode() + b"\r\n")
        self.p.stdin.flush()
        return self.reply()

    def finish(self):
        self.p.stdin.close()
        rest = self.p.stdout.read()
        rc = self.p.wait(timeout=30)
        self.p.stdout.close()
        self.p.stderr.close()
        return rc, rest


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def test_bs_one_command_at_a_time(mta):
    s = Session(mta)
    code, text = s.reply()
    assert code == 220 and "mx.example.test ESMTP" in text
    code, text = s.cmd("EHLO client.example.test")
    assert code == 250
    for ext in ("PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES",
                "SIZE "):
        assert ext in text, text
    assert s.cmd("NOOP")[0] == 250
    assert s.cmd("HELP")[0] == 214
    assert s.cmd("RCPT TO:<%s>" % BOB)[0] == 503          # no MAIL yet
    assert s.cmd("DATA")[0] == 503
    assert s.cmd("MAIL FROM:<%s>" % ALICE)[0] == 250
    assert s.cmd("MAIL FROM:<%s>" % ALICE)[0] == 503      # nested
    assert s.cmd("DATA")[0] == 503                        # no RCPT
    assert s.cmd("RCPT TO:<bad@@x>")[0] == 501
    assert s.cmd("RCPT TO:<%s>" % CAROL)[0] == 250
    assert s.cmd("DATA")[0] == 354
    code, text = s.cmd("Subject: one at a time\r\n\r\n..dotted\r\n"
                       "line\r\n.")
    assert code == 250 and "queued as" in text, text
    qid = re.search(r"queued as ([0-9A-F]{16})", text).group(1)
    assert s.cmd("QUIT")[0] == 221
    rc, rest = s.finish()
    assert rc == 0 and rest == b""
    msg = parse(mta.wait_subject(CAROL, "one at a time"))
    # As `postbote send`: From, Date, Message-ID added, uid recorded.
    assert msg["From"] == "<%s>" % ALICE
    assert msg["Date"] and msg["Message-ID"]
    assert msg["Return-Path"] == "<%s>" % ALICE
    assert re.match(r"by mx\.example\.test \(postbote, from userid 0\)",
                    msg["Received"])
    assert msg.get_payload().replace("\r\n", "\n") == ".dotted\nline\n"
    assert re.search(r"%s: client=local uid=0" % qid, mta.log())


def test_bs_pipelined_two_messages_rset_and_bad_command(mta):
    data = (b"EHLO c.example.test\r\n"
            b"MAIL FROM:<alice@example.test>\r\n"
            b"RCPT TO:<carol@example.org>\r\n"
            b"DATA\r\n"
            b"Subject: first\r\n\r\none\r\n.\r\n"
            b"FROB\r\n"
            b"MAIL FROM:<alice@example.test>\r\n"
            b"RCPT TO:<carol@example.org>\r\n"
            b"RSET\r\n"                       # drops this transaction
            b"MAIL FROM:<alice@example.test> BODY=8BITMIME\r\n"
            b"RCPT TO:<bob@example.test>\r\n"
            b"RCPT TO:<carol@example.org>\r\n"
            b"DATA\r\n"
            b"Subject: second\r\n\r\n.\r\n"   # ends right away: no body
            b"QUIT\r\n")
    r = bs(mta, data)
    assert r.returncode == 0, r.stderr
    assert replies(r.stdout) == [220, 250, 250, 250, 354, 250, 500, 250,
                                 250, 250, 250, 250, 250, 354, 250, 221], \
        r.stdout
    assert len(re.findall(rb"queued as", r.stdout)) == 2
    first = parse(mta.wait_subject(CAROL, "first"))
    assert first.get_payload().replace("\r\n", "\n") == "one\n"
    mta.wait_subject(CAROL, "second")
    mta.wait_subject(BOB, "second")
    assert len(mta.wait_messages(CAROL, 2)) == 2      # not three
    assert len(mta.messages(BOB)) == 1


def test_bs_eof_inside_data_submits_nothing(mta):
    r = bs(mta, b"HELO c\r\nMAIL FROM:<alice@example.test>\r\n"
                b"RCPT TO:<bob@example.test>\r\nDATA\r\n"
                b"Subject: cut\r\n\r\nno end\r\n")
    assert r.returncode == EX_PROTOCOL, r.stdout
    assert replies(r.stdout) == [220, 250, 250, 250, 354]
    # An LF-dot-LF is not the end either (only CRLF.CRLF is).
    r = bs(mta, b"HELO c\r\nMAIL FROM:<alice@example.test>\r\n"
                b"RCPT TO:<bob@example.test>\r\nDATA\r\n"
                b"Subject: cut\n\n.\nQUIT\n")
    assert r.returncode == EX_PROTOCOL
    # End of input between commands ends the session (no spinning); a
    # last line without its line end is not a command.
    r = bs(mta, b"HELO c\r\nNOOP")
    assert r.returncode == 0 and replies(r.stdout) == [220, 250]
    r = bs(mta, b"")
    assert r.returncode == 0 and replies(r.stdout) == [220]
    assert mta.queued() == []
    assert mta.messages(BOB) == []


def test_bs_refusals(mta):
    data = (b"EHLO\r\n"
            b"EHLO c\r\n"
            b"MAIL FROM:<alice@example.test> SIZE=999999999999\r\n"
            b"MAIL FROM:<alice@example.test> FOO=1\r\n"
            b"MAIL FROM:alice@example.test\r\n"
            b"RCPT TO:<nosuchuser@example.test>\r\n"
            b"DATA\r\n"
            b"Subject: x\r\n\r\nx\r\n.\r\n"
            b"MAIL FROM:<alice@example.test>\r\n"
            b"RCPT TO:<bob@example.test>\r\n"
            b"DATA\r\n"
            b"Subject: x\r\n\r\nnul\0byte\r\n.\r\n"
            b"MAIL FROM:<alice@example.test>\r\n"
            b"RCPT TO:<bob@example.test>\r\n"
            b"DATA x\r\n"
            b"RSET\r\n" +
            b"NOOP " + b"x" * 3000 + b"\r\n"
            b"QUIT\r\n")
    r = bs(mta, data)
    assert r.returncode == 0, r.stderr
    assert replies(r.stdout) == [220, 501, 250, 552, 555, 250, 250, 354,
                                 550, 250, 250, 354, 554, 250, 250, 501,
                                 250, 500, 221], r.stdout
    assert b"550 5.1.1 Error: unknown user <nosuchuser@example.test>" in \
        r.stdout
    assert b"554 5.6.0 Error: NUL byte in message" in r.stdout
    assert mta.queued() == [] and mta.messages(BOB) == []


def test_bs_too_many_errors_ends_the_session(mta):
    r = bs(mta, b"FROB\r\n" * 30)
    assert r.returncode == EX_PROTOCOL
    out = r.stdout.decode()
    assert out.count("500 5.5.2") == 20 and "421 4.7.0" in out


def test_bs_server_not_running(mta_factory):
    m = mta_factory()           # configured, never started
    r = bs(m, b"EHLO c\r\nMAIL FROM:<alice@example.test>\r\n"
              b"RCPT TO:<bob@example.test>\r\nDATA\r\n"
              b"Subject: x\r\n\r\nx\r\n.\r\nQUIT\r\n")
    assert r.returncode == EX_TEMPFAIL, r.stdout
    assert replies(r.stdout) == [220, 250, 250, 250, 354, 451, 221]
    assert b"451 4.3.0 Error: the server is not running" in r.stdout


def bv(m, *addrs):
    return subprocess.run([BIN, "send", "-c", m.conf, "-bv"] + list(addrs),
                          capture_output=True, text=True, timeout=30)


def test_bv(mta_factory):
    m = mta_factory()           # -bv reads the tables; no server needed
    r = bv(m, ALICE, "alice+tag@example.test", "team@example.test",
           "someone@remote.test", "ext@example.test")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines == [
        "alice@example.test: deliverable: local mailbox alice@example.test",
        "alice+tag@example.test: deliverable: local mailbox "
        "alice@example.test",
        "team@example.test: deliverable: alias to alice@example.test "
        "(local), bob@example.test (local), carol@example.org (local)",
        "someone@remote.test: deliverable: remote (domain remote.test, "
        "sent to its MX)",
        "ext@example.test: deliverable: alias to someone@remote.test "
        "(remote)",
    ], r.stdout
    r = bv(m, ALICE, "nosuchuser@example.test", "loop1@example.test",
           "bad@@example.test")
    assert r.returncode == EX_NOUSER
    assert r.stdout.splitlines()[1:] == [
        "nosuchuser@example.test: undeliverable: unknown user",
        "loop1@example.test: undeliverable: alias loop",
        "bad@@example.test: undeliverable: bad address syntax",
    ]
    # A bare name gets the first domain, as `sendmail root` does.
    r = bv(m, "postmaster")
    assert r.returncode == 0
    assert r.stdout == "postmaster@example.test: deliverable: alias to " \
        "alice@example.test (local)\n"


def test_bv_agrees_with_delivery(mta):
    """What -bv says of an alias is where a -bs message to it lands."""
    r = bv(mta, "info@example.test")
    assert r.returncode == 0 and "alice@example.test (local)" in r.stdout
    r = bs(mta, b"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<info@example.test>\r\n"
                b"DATA\r\nSubject: to info\r\n\r\nx\r\n.\r\nQUIT\r\n")
    assert r.returncode == 0 and b"queued as" in r.stdout, r.stdout
    for addr in (ALICE, BOB, CAROL):
        mta.wait_subject(addr, "to info")


def test_bs_unprivileged_user(mta):
    """An ordinary user's -bs message records that user's uid, as
    `postbote send` does (the queue reads it from the socket)."""
    r = subprocess.run([BIN, "send", "-c", mta.conf, "-bs"], user="nobody",
                       input=b"EHLO c\r\nMAIL FROM:<alice@example.test>\r\n"
                             b"RCPT TO:<carol@example.org>\r\nDATA\r\n"
                             b"Subject: from nobody\r\n\r\nx\r\n.\r\n"
                             b"QUIT\r\n",
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    msg = parse(mta.wait_subject(CAROL, "from nobody"))
    assert "from userid 65534" in msg["Received"]
    assert re.search(r"event=control request=submit uid=65534 result=ok",
                     mta.log())


def test_bs_message_is_dkim_signed(mta_factory, tmp_path):
    """The queue signs a -bs message as it signs `postbote send`'s."""
    pem, rec = rsa_keys()
    key = write_key(str(tmp_path), "loc.key", pem)
    os.chmod(key, 0o600)
    m = mta_factory(extra="[dkim example.test]\nselector = loc\n"
                    "key = %s\n" % key).start()
    r = bs(m, b"EHLO c\r\nMAIL FROM:<alice@example.test>\r\n"
              b"RCPT TO:<carol@example.org>\r\nDATA\r\n"
              b"From: alice@example.test\r\nTo: carol@example.org\r\n"
              b"Subject: signed\r\n\r\nok\r\n.\r\nQUIT\r\n")
    assert r.returncode == 0, r.stdout
    raw = m.wait_subject(CAROL, "signed").replace(b"\n", b"\r\n")
    start = raw.index(b"DKIM-Signature:")
    assert b"s=loc;" in raw[start:start + 300]
    assert dkim.verify(raw[start:], dnsfunc=dnsfunc_for(
        {"loc._domainkey.example.test": rec}))
