"""Delivery status notifications (RFC 3464) made by the queue: a bounce
for a permanent failure and for expiry, DSN NOTIFY (NEVER, SUCCESS,
DELAY), RET=HDRS/FULL, the delay warning, and the loop guards (no report
to <>, a report that fails is dropped).  Each report is read from the
sender's local Maildir and parsed with Python's email package."""

import email
import email.policy
import os
import re
import smtplib
import time

ALICE = "alice@example.test"
BOB = "bob@example.test"
REMOTE = "someone@remote.test"


def send(m, sender, rcpts, mail_opts=(), rcpt_opts=(), body="hello"):
    """One message over SMTP to the mx listener; returns its queue id."""
    msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: test message\r\n"
           "Message-ID: <orig-1@client.test>\r\n\r\n%s\r\n"
           % (sender or "nobody@client.test", rcpts[0], body)).encode()
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        c.ehlo("client.test")
        assert c.mail(sender, list(mail_opts))[0] == 250
        for r in rcpts:
            assert c.rcpt(r, list(rcpt_opts))[0] == 250
        code, text = c.data(msg)
        assert code == 250, text
    return re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()


def block_mailbox(m, addr):
    """A file where addr's Maildir directory must go: delivery to addr
    fails for good (5.2.0).  The domain directory is made by delivering
    to alice first (it belongs to the server's user)."""
    local, domain = addr.split("@")
    path = os.path.join(m.state, "mail", domain, local)
    with open(path, "w") as f:
        f.write("not a maildir\n")


def prime(m):
    """One plain message to alice, so her Maildir and its domain exist."""
    send(m, "x@client.test", [ALICE])
    assert len(m.wait_messages(ALICE, 1)) == 1


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.compat32)


FAILED = "Undelivered Mail Returned to Sender"
DELAYED = "Delayed Mail (still being retried)"


def report(m, addr, subject=None, timeout=15.0):
    """Wait for a report (from MAILER-DAEMON, with that subject if given)
    in addr's Maildir; (parsed, raw bytes).  Maildir names do not sort by
    arrival, so reports are told apart by what they say."""
    end = time.time() + timeout
    while time.time() < end:
        for raw in m.messages(addr):
            msg = parse(raw)
            if "MAILER-DAEMON@" in (msg["From"] or "") and \
                    subject in (None, msg["Subject"]):
                return msg, raw
        time.sleep(0.05)
    raise AssertionError("no report %r for %s:\n%s" % (subject, addr,
                                                         m.log()))


def report_parts(msg):
    """(text part, list of per-message/recipient field blocks, third)."""
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() == "message/delivery-status"
    blocks = parts[1].get_payload()
    return parts[0], blocks, parts[2] if len(parts) > 2 else None


def wait_log(m, pattern, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        found = re.search(pattern, m.log())
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("no %r in log:\n%s" % (pattern, m.log()))


def test_permanent_failure_bounces_to_local_sender(mta):
    prime(mta)
    block_mailbox(mta, BOB)
    qid = send(mta, ALICE, [BOB], body="the original body")
    msg, raw = report(mta, ALICE)
    assert msg["From"] == "Mail Delivery System <MAILER-DAEMON@mx.example.test>"
    assert msg["To"] == "<%s>" % ALICE
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Date"] and msg["Message-ID"]
    text, blocks, orig = report_parts(msg)
    assert blocks[0]["Reporting-MTA"] == "dns; mx.example.test"
    assert blocks[0]["Arrival-Date"]
    rcpt = blocks[1]
    assert rcpt["Final-Recipient"] == "rfc822; " + BOB
    assert rcpt["Action"] == "failed"
    assert rcpt["Status"] == "5.2.0"
    assert rcpt["Diagnostic-Code"].startswith("X-Postbote; ")
    assert BOB in text.get_payload()
    # No RET: the whole (small) message comes back.
    assert orig.get_content_type() == "message/rfc822"
    assert orig.get_payload()[0]["Message-ID"] == "<orig-1@client.test>"
    assert b"the original body" in raw
    log = mta.log()
    assert re.search(r"%s: to=<%s> .*status=bounced" % (qid, BOB), log)
    bid = wait_log(mta, r"%s: sender non-delivery notification: "
                   r"([0-9A-F]{16})" % qid).group(1)
    # The bounce is a message of its own, from <>, delivered to alice.
    assert re.search(r"%s: from=<> size=\d+ nrcpt=1" % bid, log)
    assert re.search(r"%s: to=<%s> .*status=sent" % (bid, ALICE), mta.log())
    assert mta.wait_queue_empty() == []


def test_ret_hdrs_returns_headers_only(mta):
    prime(mta)
    block_mailbox(mta, BOB)
    send(mta, ALICE, [BOB], mail_opts=["RET=HDRS", "ENVID=env-77"],
         rcpt_opts=["ORCPT=rfc822;Bob@example.test"], body="secret body")
    msg, raw = report(mta, ALICE)
    _, blocks, orig = report_parts(msg)
    assert blocks[0]["Original-Envelope-Id"] == "env-77"
    assert blocks[1]["Original-Recipient"] == "rfc822;Bob@example.test"
    assert orig.get_content_type() == "text/rfc822-headers"
    assert "Message-ID: <orig-1@client.test>" in orig.get_payload()
    assert b"secret body" not in raw


def test_ret_full_returns_message(mta):
    prime(mta)
    block_mailbox(mta, BOB)
    send(mta, ALICE, [BOB], mail_opts=["RET=FULL"], body="full body")
    msg, raw = report(mta, ALICE)
    _, _, orig = report_parts(msg)
    assert orig.get_content_type() == "message/rfc822"
    assert b"full body" in raw


def test_notify_never_no_bounce(mta):
    prime(mta)
    block_mailbox(mta, BOB)
    qid = send(mta, ALICE, [BOB], rcpt_opts=["NOTIFY=NEVER"])
    wait_log(mta, r"%s: removed" % qid)
    assert "notification" not in mta.log()
    assert len(mta.messages(ALICE)) == 1


def test_notify_success_delivered_report(mta):
    qid = send(mta, ALICE, [BOB], rcpt_opts=["NOTIFY=SUCCESS,FAILURE"])
    assert len(mta.wait_messages(BOB, 1)) == 1
    wait_log(mta, r"%s: sender delivery status notification: " % qid)
    msg, raw = report(mta, ALICE)
    assert msg["Subject"] == "Successful Mail Delivery Report"
    _, blocks, orig = report_parts(msg)
    assert blocks[1]["Action"] == "delivered"
    assert blocks[1]["Status"] == "2.0.0"
    assert blocks[1]["Final-Recipient"] == "rfc822; " + BOB
    # A success report returns the headers only (RFC 3461 4.3).
    assert orig.get_content_type() == "text/rfc822-headers"


def test_default_notify_no_success_report(mta):
    qid = send(mta, ALICE, [BOB])
    assert len(mta.wait_messages(BOB, 1)) == 1
    wait_log(mta, r"%s: removed" % qid)
    assert "notification" not in mta.log()
    assert mta.messages(ALICE) == []


def test_null_sender_never_bounced(mta):
    prime(mta)
    block_mailbox(mta, BOB)
    qid = send(mta, "", [BOB])
    wait_log(mta, r"%s: event=bounce-dropped" % qid)
    assert "non-delivery notification" not in mta.log()
    assert len(mta.messages(ALICE)) == 1
    assert mta.wait_queue_empty() == []


def test_bounce_to_failing_sender_is_dropped(mta):
    """bob's and carol's mailboxes are blocked; bob writes to carol: the
    bounce to bob fails too, and is logged and dropped, not looped."""
    prime(mta)
    block_mailbox(mta, BOB)
    os.makedirs(os.path.join(mta.state, "mail", "example.org"),
                exist_ok=True)
    block_mailbox(mta, "carol@example.org")
    qid = send(mta, BOB, ["carol@example.org"])
    bid = wait_log(mta, r"%s: sender non-delivery notification: "
                   r"([0-9A-F]{16})" % qid).group(1)
    wait_log(mta, r"%s: to=<%s> .*status=bounced" % (bid, BOB))
    wait_log(mta, r"%s: event=bounce-dropped" % bid)
    assert mta.wait_queue_empty() == []
    time.sleep(0.5)
    assert len(re.findall("non-delivery notification", mta.log())) == 1


def test_expiry_bounce(mta_factory):
    """A remote recipient whose MX lookup keeps failing (SERVFAIL) is
    deferred until queue_lifetime, then expires with 4.4.7."""
    m = mta_factory(extra="queue_lifetime = 2s\ndelay_warning = 0s").start()
    m.dns.set_rcode("remote.test", None, "SERVFAIL")   # stays queued
    qid = send(m, ALICE, [REMOTE])
    msg, raw = report(m, ALICE)
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    _, blocks, _ = report_parts(msg)
    assert blocks[1]["Final-Recipient"] == "rfc822; " + REMOTE
    assert blocks[1]["Action"] == "failed"
    assert blocks[1]["Status"] == "4.4.7"
    assert "Remote-MTA" not in blocks[1]    # no server answered
    log = m.log()
    assert re.search(r"%s: to=<%s> .*dsn=4.4.7 status=expired" %
                     (qid, REMOTE), log)
    assert re.search(r"%s: sender non-delivery notification: " % qid, log)
    assert m.wait_queue_empty() == []


def test_delay_warning_sent_once(mta_factory):
    m = mta_factory(extra="queue_lifetime = 6s\ndelay_warning = 1s").start()
    m.dns.set_rcode("remote.test", None, "SERVFAIL")   # stays queued
    qid = send(m, ALICE, [REMOTE])
    msg, raw = report(m, ALICE, DELAYED)
    _, blocks, orig = report_parts(msg)
    assert blocks[1]["Action"] == "delayed"
    assert blocks[1]["Status"].startswith("4.")
    assert blocks[1]["Will-Retry-Until"]
    assert orig.get_content_type() == "text/rfc822-headers"
    wait_log(m, r"%s: sender delay notification: " % qid)
    # Across a restart the warning is not sent again; expiry follows.
    assert m.stop() == 0
    m.start()
    assert report(m, ALICE, FAILED)
    assert len(re.findall(r"sender delay notification", m.log())) == 1
    assert [parse(r)["Subject"] for r in m.messages(ALICE)].count(
        DELAYED) == 1


def test_notify_delay_off_without_delay(mta_factory):
    """NOTIFY=FAILURE alone: no delay warning, only the bounce."""
    m = mta_factory(extra="queue_lifetime = 3s\ndelay_warning = 1s").start()
    send(m, ALICE, [REMOTE], rcpt_opts=["NOTIFY=FAILURE"])
    assert report(m, ALICE, FAILED)
    assert "delay notification" not in m.log()


def test_local_deferral_warns_then_expires(mta_factory):
    """A local mailbox the deliver process may not write (a directory of
    root's, 0755) defers with 4.2.0 on every attempt: the retry path sends
    the delay warning, then expiry bounces with 4.4.7 and the last error."""
    m = mta_factory(extra="queue_lifetime = 4s\ndelay_warning = 1s").start()
    prime(m)
    os.makedirs(os.path.join(m.state, "mail", "example.test", "bob"))
    qid = send(m, ALICE, [BOB])
    warn, _ = report(m, ALICE, DELAYED)
    _, blocks, _ = report_parts(warn)
    assert blocks[1]["Final-Recipient"] == "rfc822; " + BOB
    assert blocks[1]["Action"] == "delayed"
    assert blocks[1]["Status"] == "4.2.0"
    bounce, _ = report(m, ALICE, FAILED)
    _, blocks, _ = report_parts(bounce)
    assert blocks[1]["Action"] == "failed"
    assert blocks[1]["Status"] == "4.4.7"
    assert "last error: 4.2.0" in blocks[1]["Diagnostic-Code"]
    log = m.log()
    assert re.search(r"%s: to=<%s> .*status=deferred" % (qid, BOB), log)
    assert re.search(r"%s: to=<%s> .*dsn=4.4.7 status=expired" % (qid, BOB),
                     log)
    assert m.wait_queue_empty() == []
