"""LMTP delivery (RFC 2033) to a real, private Dovecot (dovecot.py): mail
readable over IMAP, a Sieve fileinto, quota results per recipient, a
[domain] over TCP next to Maildir, connection reuse, and a Dovecot that
stops answering and is killed in mid-delivery: the mail is deferred,
then delivered once after the restart.  One Dovecot serves the file,
except for the test that kills its own."""

import email
import email.policy
import os
import re
import signal
import smtplib
import subprocess
import tempfile
import time
import uuid

import pytest

from dovecot import NEEDS_DOVECOT, Dovecot, private_dovecot

ALICE = "alice@example.test"
BOB = "bob@example.test"
CAROL = "carol@example.org"       # delivered to Maildir by postbote

USERS = {
    ALICE: "alice-pw",
    BOB: "bob-pw",
    CAROL: "carol-pw",
    "full@example.test": "x",
    "tfull@example.test": "x",
}


pytestmark = NEEDS_DOVECOT


@pytest.fixture(scope="module")
def dovecot():
    yield from private_dovecot()


def lmtp_mta(mta_factory, deliver_lines, extra=""):
    m = mta_factory(users=USERS, extra="smtp_client_timeout = 2s\n" +
                    extra + "\n" + deliver_lines)
    return m.start()


def send(m, sender, rcpts, subject):
    msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
           "Message-ID: <%s@client.test>\r\n\r\nhello\r\n.dot line\r\n"
           % (sender, rcpts[0], subject, uuid.uuid4().hex)).encode()
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        c.ehlo("client.test")
        assert c.mail(sender)[0] == 250
        for r in rcpts:
            assert c.rcpt(r)[0] == 250
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


def with_subject(msgs, subject):
    return [x for x in msgs if ("Subject: " + subject).encode() in x]


def test_delivered_and_readable_over_imap(mta_factory, dovecot):
    m = lmtp_mta(mta_factory, "deliver = lmtp:unix:%s" % dovecot.socket)
    subject = "over lmtp " + uuid.uuid4().hex
    qid = send(m, CAROL, [ALICE], subject)
    wait_log(m, r"%s: to=<%s> relay=lmtp:unix:%s .*dsn=2\.0\.0 "
             r"status=sent \(250 2\.0\.0 <%s>" %
             (qid, ALICE, re.escape(dovecot.socket), ALICE))
    got = with_subject(dovecot.wait_count(ALICE, 1), subject)
    assert len(got) == 1
    raw = got[0]
    assert b"\r\n.dot line\r\n" in raw         # dot-stuffing undone
    assert re.search(rb"Received: from client\.test .*by mx\.example\.test",
                     raw, re.S)
    assert m.wait_queue_empty() == []


def test_sieve_fileinto_junk(mta_factory, dovecot):
    m = lmtp_mta(mta_factory, "deliver = lmtp:unix:%s" % dovecot.socket)
    subject = "junk-me " + uuid.uuid4().hex
    qid = send(m, CAROL, [ALICE], subject)
    wait_log(m, r"%s: to=<%s> .*status=sent" % (qid, ALICE))
    assert with_subject(dovecot.wait_count(ALICE, 1, "Junk"), subject)
    assert not with_subject(dovecot.fetch_all(ALICE), subject)


def test_each_recipient_its_own_reply(mta_factory, dovecot):
    """One transaction to alice, a user over quota with a permanent
    failure and one with a temporary failure: after the dot Dovecot
    answers each (RFC 2033 4.2); alice has the mail, full@ bounces with
    552 5.2.2 naming Dovecot as Remote-MTA, tfull@ is deferred (452
    4.2.2).  The report goes to carol@example.org, in Maildir."""
    m = lmtp_mta(mta_factory, "[domain example.test]\n"
                 "deliver = lmtp:127.0.0.1:%d" % dovecot.lmtp_port)
    subject = "quota " + uuid.uuid4().hex
    qid = send(m, CAROL, [ALICE, "full@example.test", "tfull@example.test"],
               subject)
    target = r"lmtp:127\.0\.0\.1:%d" % dovecot.lmtp_port
    wait_log(m, r"%s: to=<%s> relay=%s .*status=sent" % (qid, ALICE, target))
    wait_log(m, r"%s: to=<full@example\.test> relay=%s .*dsn=5\.2\.2 "
             r"status=bounced \(552 5\.2\.2 " % (qid, target))
    wait_log(m, r"%s: to=<tfull@example\.test> relay=%s .*dsn=4\.2\.2 "
             r"status=deferred \(452 4\.2\.2 " % (qid, target))
    assert len(with_subject(dovecot.fetch_all(ALICE), subject)) == 1
    end = time.time() + 15
    rep = None
    while rep is None and time.time() < end:
        for raw in m.messages(CAROL):
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            if "MAILER-DAEMON@" in (msg["From"] or ""):
                rep = msg
        time.sleep(0.05)
    assert rep is not None, m.log()
    blocks = list(rep.iter_parts())[1].get_payload()
    failed = [b for b in blocks if b.get("Final-Recipient")]
    assert [b["Final-Recipient"] for b in failed] == [
        "rfc822; full@example.test"]
    assert failed[0]["Status"] == "5.2.2"
    assert failed[0]["Remote-MTA"] == "dns; lmtp.dovecot.test"  # greeting
    assert "552 5.2.2" in failed[0]["Diagnostic-Code"]


def test_domain_over_tcp_next_to_maildir(mta_factory, dovecot):
    """[domain example.test] goes to Dovecot over TCP, example.org stays
    in Maildir: bob's alias to carol@example.org makes one request of
    both, cut in two parts; the connection is reused for the next
    messages."""
    m = lmtp_mta(mta_factory, "[domain example.test]\n"
                 "deliver = lmtp:127.0.0.1:%d" % dovecot.lmtp_port)
    before = dovecot.log().count("lmtp(")
    connects = dovecot.log().count("Connect from")
    subjects = ["mixed %d %s" % (i, uuid.uuid4().hex) for i in range(3)]
    for s in subjects:
        qid = send(m, ALICE, [BOB], s)
        wait_log(m, r"%s: to=<%s> relay=lmtp:127\.0\.0\.1:%d .*status=sent"
                 % (qid, BOB, dovecot.lmtp_port))
        wait_log(m, r"%s: to=<%s> .*status=sent" % (qid, CAROL))
    got = dovecot.wait_count(BOB, 3)
    for s in subjects:
        assert len(with_subject(got, s)) == 1
        assert len(with_subject(m.messages(CAROL), s)) == 1
    assert dovecot.log().count("lmtp(") > before
    # one connection for the three transactions (smtp_idle_time 5s)
    assert dovecot.log().count("Connect from") - connects == 1
    assert m.wait_queue_empty() == []


def test_dovecot_killed_in_mid_delivery(mta_factory):
    """A first message leaves a connection open to Dovecot's LMTP process;
    Dovecot then stops answering (SIGSTOP), so the next delivery hangs
    in mid-transaction on that connection, and Dovecot is killed: the
    mail is deferred, not lost; after the restart it is delivered
    exactly once."""
    d = tempfile.mkdtemp(prefix="postbote-dovecot-")
    os.chmod(d, 0o755)
    dv = Dovecot(d).start()
    try:
        m = lmtp_mta(mta_factory, "deliver = lmtp:unix:%s" % dv.socket,
                     "smtp_idle_time = 60s")
        first = send(m, CAROL, [ALICE], "warm-up")
        wait_log(m, r"%s: to=<%s> .*status=sent" % (first, ALICE))
        dv.signal(signal.SIGSTOP)
        subject = "killed " + uuid.uuid4().hex
        qid = send(m, CAROL, [ALICE], subject)
        wait_log(m, r"%s: to=<%s> relay=lmtp:unix:.* dsn=4\.4\.2 "
                 r"status=deferred \(lost connection with lmtp:unix:\S+: "
                 r"timeout" % (qid, ALICE))
        dv.stop()                     # SIGKILL, while stopped
        wait_log(m, r"%s: to=<%s> .*status=deferred \(connect to "
                 r"lmtp:unix:\S+: Connection refused" % (qid, ALICE),
                 timeout=30)
        dv.start()
        wait_log(m, r"%s: to=<%s> .*status=sent" % (qid, ALICE), timeout=30)
        assert m.wait_queue_empty() == []
        time.sleep(0.5)
        assert len(with_subject(dv.fetch_all(ALICE), subject)) == 1
    finally:
        dv.stop()
        subprocess.run(["rm", "-rf", d], check=False)


def test_smtputf8_message_to_dovecot(mta_factory, dovecot):
    """Dovecot's LMTP does not offer SMTPUTF8: a message sent with it but
    with ASCII addresses goes without it (its UTF-8 header is kept); one
    whose sender is not ASCII cannot go and fails with 5.6.7."""
    m = lmtp_mta(mta_factory, "deliver = lmtp:unix:%s" % dovecot.socket)
    subject = "Grüße " + uuid.uuid4().hex
    msg = ("From: <carol@example.org>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n"
           "hello\r\n" % (ALICE, subject)).encode()
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        c.ehlo("client.test")
        refused = c.sendmail(CAROL, [ALICE], msg, mail_options=["SMTPUTF8"])
        assert refused == {}
        refused = c.sendmail("jöran@client.test", [ALICE],
                             b"Subject: utf8 sender\r\n\r\nhello\r\n",
                             mail_options=["SMTPUTF8"])
        assert refused == {}
    wait_log(m, r"to=<%s> relay=lmtp:unix:\S+ .*status=sent" % ALICE)
    got = with_subject(dovecot.wait_count(ALICE, 1), subject)
    assert len(got) == 1
    wait_log(m, r"to=<%s> relay=lmtp:unix:\S+ .*dsn=5\.6\.7 status=bounced "
             r"\(the LMTP server does not support SMTPUTF8" % ALICE)
