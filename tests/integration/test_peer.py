"""postbote to postbote: one server takes a user's submission (STARTTLS,
AUTH), signs it with DKIM and relays it by MX to a second server, which
checks SPF, DKIM and DMARC on the way in.  Each half has its own tests;
these check that what one writes the other reads: the signature, the
envelope, STARTTLS between them, and a refusal that comes back to the
user as a bounce.  Both talk to the same fake DNS server."""

import email
import email.policy
import re
import smtplib

import pytest

from test_authres import header_fields, rsa_keys, write_key
from test_tls import client_ctx

SENDER = "alice@sender.test"


def outbound(mta_factory, dns, receiver, tmp_path):
    """The sending server: sender.test, one login, a DKIM key, MX
    delivery to receiver's port; loopback may not relay without AUTH."""
    pem, rec = rsa_keys()
    dns.add("s1._domainkey.sender.test", "TXT", rec)
    extra = ("smtp_port = %d\nsmtp_client_timeout = 10s\n"
             "[dkim sender.test]\nselector = s1\nkey = %s\n"
             % (receiver.port, write_key(str(tmp_path), "s1.key", pem)))
    m = mta_factory(extra=extra, users={SENDER: "alice-pw"}, aliases="",
                    relay_networks="192.0.2.0/24")
    with open(m.conf) as f:
        text = f.read()
    text = text.replace("hostname = mx.example.test",
                        "hostname = mx.sender.test", 1)
    text = text.replace("domains = example.test example.org",
                        "domains = sender.test", 1)
    with open(m.conf, "w") as f:
        f.write(text)
    return m.start()


@pytest.fixture
def pair(mta_factory, dns, tmp_path):
    receiver = mta_factory(relay_networks="192.0.2.0/24").start()
    dns.add("example.test", "MX", "10 mx.example.test.")
    dns.add("mx.example.test", "A", "127.0.0.1")
    dns.add("sender.test", "TXT", "v=spf1 ip4:127.0.0.1 -all")
    dns.add("_dmarc.sender.test", "TXT", "v=DMARC1; p=reject")
    return outbound(mta_factory, dns, receiver, tmp_path), receiver


def submit(m, rcpts, subject):
    msg = ("From: Alice <%s>\r\nTo: %s\r\nSubject: %s\r\n"
           "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
           "Message-ID: <%s@sender.test>\r\n\r\nHello,\r\n.dot line\r\n"
           % (SENDER, ", ".join(rcpts), subject, subject.replace(" ", "-")))
    with smtplib.SMTP("127.0.0.1", m.sub_port, timeout=30) as c:
        c.starttls(context=client_ctx())
        c.login(SENDER, "alice-pw")
        refused = c.sendmail(SENDER, rcpts, msg.encode())
    assert refused == {}


def test_signed_relayed_and_verified(pair):
    sender, receiver = pair
    submit(sender, ["alice@example.test"], "peer one")
    raw = receiver.wait_subject("alice@example.test", "peer one")
    ar = header_fields(raw, "Authentication-Results")
    assert len(ar) == 1, raw
    assert ar[0].startswith("mx.example.test;"), ar
    assert re.search(r"\bspf=pass smtp\.mailfrom=alice@sender\.test", ar[0])
    assert re.search(r"\bdkim=pass [^;]*header\.d=sender\.test", ar[0])
    assert re.search(r"\bdmarc=pass\b[^;]*header\.from=sender\.test", ar[0])
    assert len(header_fields(raw, "DKIM-Signature")) == 1
    received = header_fields(raw, "Received")
    # the receiver's own field first: the sender came over STARTTLS
    assert "by mx.example.test" in received[0] and "with ESMTPS" in \
        received[0], received
    assert any("by mx.sender.test" in r and "with ESMTPSA" in r
               for r in received), received
    assert b"\n.dot line\n" in raw        # Maildir files end lines in LF
    assert re.search(r"to=<alice@example\.test> relay=mx\.example\.test"
                     r"\[127\.0\.0\.1\]:%d .*status=sent" % receiver.port,
                     sender.log())


def test_refusal_comes_back_as_a_bounce(pair):
    sender, receiver = pair
    submit(sender, ["alice@example.test", "nobody@example.test"],
           "peer two")
    receiver.wait_subject("alice@example.test", "peer two")
    raw = sender.wait_subject(SENDER, "Undelivered Mail")
    rep = email.message_from_bytes(raw, policy=email.policy.default)
    assert rep.get_content_type() == "multipart/report"
    status = list(rep.iter_parts())[1].get_payload()
    failed = [b for b in status if b.get("Final-Recipient")]
    assert [b["Final-Recipient"] for b in failed] == [
        "rfc822; nobody@example.test"]
    assert failed[0]["Status"] == "5.1.1"
    assert "550 5.1.1" in failed[0]["Diagnostic-Code"]
