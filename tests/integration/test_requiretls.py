"""REQUIRETLS (RFC 8689) end to end.

smtpd: the EHLO keyword only inside TLS, MAIL FROM ... REQUIRETLS refused
outside it (530 5.7.10), the flag and "TLS-Required: No" recorded in the
envelope ('M', `postbote queue show`) and kept across a restart.

Delivery, against real DNSSEC (dnssec.py: a zone signed with
ldns-signzone, served by nsd, validated by unbound, postbote's resolver
with dnssec_resolver = yes) and aiosmtpd sinks that speak REQUIRETLS, one
per loopback address on one port, so that the MX host's address picks
the behaviour of the next hop:

  127.0.0.1  STARTTLS (test CA certificate) and REQUIRETLS
  127.0.0.2  STARTTLS, no REQUIRETLS
  127.0.0.3  no STARTTLS
  127.0.0.4  STARTTLS with a certificate no CA vouches for
  127.0.0.5  nothing listens

A REQUIRETLS message goes only over authenticated TLS (PKIX with
smtp_tls_ca, or DANE) to a next hop offering REQUIRETLS, and carries the
option on; anything else bounces (5.7.30) with a report that is
tagged REQUIRETLS and holds no body.  Between two postbote servers the
option travels on.  The servers are started once for the module."""

import os
import re
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

import dnssec
from conftest import BIN, free_port
from test_dane import assoc, expired_self_signed, make_certs
from test_remote import Handler, remote_mta, send, tls_context, wait_for, \
    wait_log
from test_tlsrpt import show as tlsrpt_show

pytestmark = pytest.mark.skipif(not dnssec.available(),
                                reason="nsd, unbound or ldnsutils missing")

BODY_MARK = "secret-body-7f3a9c"


# ---- a sink that speaks REQUIRETLS ----

class RtHandler(Handler):
    def __init__(self, offer):
        super().__init__()
        self.offer = offer

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        if self.offer and session.ssl is not None:
            responses.insert(-1, "250-REQUIRETLS")
        return responses

    async def handle_DATA(self, server, session, envelope):
        envelope.mail_options.extend(
            ["REQUIRETLS"] if getattr(session, "requiretls", False) else [])
        return await super().handle_DATA(server, session, envelope)


class RtSMTP(SMTP):
    """REQUIRETLS at MAIL FROM: taken off before aiosmtpd's own checks
    (which know no such parameter), and only inside TLS when offered."""

    async def smtp_MAIL(self, arg):
        words = (arg or "").split(" ")
        rt = [w for w in words if w.upper() == "REQUIRETLS"]
        self.session.requiretls = bool(rt)
        if rt and not (self.event_handler.offer and
                       self.session.ssl is not None):
            await self.push("555 5.5.4 REQUIRETLS not offered")
            return
        await super().smtp_MAIL(" ".join(w for w in words
                                         if w.upper() != "REQUIRETLS"))


class RtController(Controller):
    def factory(self):
        return RtSMTP(self.handler, **self.SMTP_kwargs)


class RtSink:
    def __init__(self, ip, port, offer=True, tls=None):
        self.handler = RtHandler(offer)
        kw = {"tls_context": tls} if tls is not None else {}
        self.controller = RtController(self.handler, hostname=ip,
                                       port=port, **kw)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    def to(self, rcpt):
        with self.handler.lock:
            return [m for m in self.handler.messages if rcpt in m["to"]]


# ---- the world: DNS, certificates, sinks ----

class World:
    pass


W = World()


@pytest.fixture(scope="module")
def world():
    d = tempfile.mkdtemp(prefix="postbote-requiretls-")
    os.chmod(d, 0o755)
    chain, key, ca_pem, a = make_certs(d)
    bad_cert, bad_key = expired_self_signed(d)
    port = free_port()
    sinks = {
        "ok": RtSink("127.0.0.1", port, True, tls_context(chain, key)),
        "noreq": RtSink("127.0.0.2", port, False, tls_context(chain, key)),
        "plain": RtSink("127.0.0.3", port, True),
        "badcert": RtSink("127.0.0.4", port, True,
                          tls_context(bad_cert, bad_key)),
    }
    w = dnssec.DnssecWorld(d)
    # mx-LABEL.dane.test are the names make_certs' certificate carries
    hosts = {"match": "127.0.0.1", "none": "127.0.0.1",
             "mismatch": "127.0.0.1", "ee01": "127.0.0.2",
             "ee12": "127.0.0.3", "ee10": "127.0.0.4", "ta": "127.0.0.5",
             # a name the sink's certificate does not carry
             "wrongname": "127.0.0.1"}
    recs = []
    for label, ip in hosts.items():
        recs += ["%s MX 10 mx-%s" % (label, label),
                 "mx-%s A %s" % (label, ip)]
    recs += ["_%d._tcp.mx-match TLSA 3 1 1 %s" % (port, a["leaf11"]),
             "_%d._tcp.mx-mismatch TLSA 3 1 1 %s" % (port, "ab" * 32)]
    w.zone("dane.test", recs, signed=True)
    w.zone("insecure.test", ["@ MX 10 mx", "mx A 127.0.0.1"])
    with sinks["ok"], sinks["noreq"], sinks["plain"], sinks["badcert"]:
        w.start()
        try:
            W.dns, W.port, W.sinks, W.ca = w, port, sinks, ca_pem
            W.cert, W.key, W.dir = chain, key, d
            yield W
        finally:
            w.stop()
    shutil.rmtree(d, ignore_errors=True)


def make_mta(factory, world, extra=""):
    """A server delivering to the sinks' port, resolving through unbound,
    trusting the test CA."""
    return remote_mta(factory, world.port, (
        "resolver = %s\ndnssec_resolver = yes\nsmtp_tls_ca = %s\n"
        "retry = 1h\n%s") % (world.dns.resolver, world.ca, extra))


@pytest.fixture(scope="module")
def shared(world, mta_module_factory):
    return make_mta(mta_module_factory, world, (
        "[route routed.test]\nhost = mx-none.dane.test:%d\n"
        "[route routed-noreq.test]\nhost = mx-ee01.dane.test:%d\n"
        "[route routed-none.test]\nhost = mx-none.dane.test:%d\n"
        "tls = none") % (world.port, world.port, world.port))


def unverified():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def send_rt(m, rcpts, requiretls=True, headers="", sender="bob@example.test"):
    """Over STARTTLS, with REQUIRETLS at MAIL FROM; the queue id."""
    body = ("Subject: requiretls test\r\n%s\r\n%s\r\n" % (
        headers, BODY_MARK)).encode()
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        c.ehlo("client.test")
        c.starttls(context=unverified())
        c.ehlo("client.test")
        code, text = c.mail(sender, ["REQUIRETLS"] if requiretls else [])
        assert code == 250, text
        for r in rcpts:
            code, text = c.rcpt(r)
            assert code == 250, text
        code, text = c.data(body)
        assert code == 250, text
    return re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()


def show(m, qid):
    p = subprocess.run([BIN, "queue", "-c", m.conf, "show", qid],
                       capture_output=True, text=True, timeout=30)
    return p.stdout


def bounce_for(m, qid, timeout=20.0):
    """The report on qid in bob@example.test's mailbox (bytes), or None."""
    def find():
        for msg in m.messages("bob@example.test"):
            if qid.encode() in msg and b"multipart/report" in msg:
                return msg
        return None
    return wait_for(find, timeout)


# ---- smtpd ----

def test_ehlo_offers_requiretls_only_inside_tls(mta):
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=10) as c:
        code, text = c.ehlo("client.test")
        assert code == 250 and b"STARTTLS" in text
        assert b"REQUIRETLS" not in text
        c.starttls(context=unverified())
        code, text = c.ehlo("client.test")
        assert code == 250 and b"\nREQUIRETLS" in text


def test_mail_requiretls_outside_tls_is_refused(mta):
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=10) as c:
        c.ehlo("client.test")
        code, text = c.docmd("MAIL FROM:<bob@example.test> REQUIRETLS")
        assert (code, text[:6]) == (530, b"5.7.10"), text
        # the transaction did not start
        code, _ = c.docmd("RCPT TO:<alice@example.test>")
        assert code == 503
        c.starttls(context=unverified())
        c.ehlo("client.test")
        code, text = c.docmd("MAIL FROM:<bob@example.test> REQUIRETLS=yes")
        assert code == 501, text
        code, text = c.docmd("MAIL FROM:<bob@example.test> requiretls")
        assert code == 250, text
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=10) as c:
        c.helo("client.test")
        code, text = c.docmd("MAIL FROM:<bob@example.test> REQUIRETLS")
        assert code == 555, text


def test_flag_is_kept_in_the_envelope_across_a_restart(mta_factory, world):
    # 127.0.0.5 does not answer: the message waits in the queue
    m = make_mta(mta_factory, world)
    qid = send_rt(m, ["x@ta.dane.test"])
    assert wait_log(m, qid, "x@ta.dane.test", "deferred"), m.log()
    assert "tls:         REQUIRETLS" in show(m, qid)
    assert re.search(r"%s: from=<bob@example.test> .* tls=requiretls" % qid,
                     m.log())
    m.stop()
    m.start()
    assert "tls:         REQUIRETLS" in show(m, qid)
    spool = os.path.join(m.state, "spool", "queue", qid)
    assert b"\nM1:1\n" in open(spool, "rb").read()


def test_header_tls_required_no_is_recorded(mta):
    qid = send_rt(mta, ["alice@example.test"], requiretls=False,
                  headers="TLS-Required:  no \r\n")
    mta.wait_messages("alice@example.test", 1)
    assert re.search(r"%s: from=<bob@example.test> .* tls=optional" % qid,
                     mta.log()), mta.log()


def test_requiretls_wins_over_the_header(mta):
    qid = send_rt(mta, ["alice@example.test"],
                  headers="TLS-Required: No\r\n")
    mta.wait_messages("alice@example.test", 1)
    # RFC 8689 4.1: the header is ignored; local delivery is excepted
    assert re.search(r"%s: from=<bob@example.test> .* tls=requiretls" % qid,
                     mta.log()), mta.log()
    assert wait_log(mta, qid, "alice@example.test", "sent")


# ---- delivery ----

@pytest.mark.parametrize("domain,host,trust", [
    ("none.dane.test", "mx-none.dane.test", "Verified"),   # PKIX
    ("match.dane.test", "mx-match.dane.test", "DANE"),     # TLSA 3 1 1
    ("routed.test", "mx-none.dane.test", "Verified"),      # a route
])
def test_delivered_over_authenticated_tls_with_the_option(shared, world,
                                                          domain, host,
                                                          trust):
    rcpt = "rt@" + domain
    qid = send_rt(shared, [rcpt])
    msgs = wait_for(lambda: world.sinks["ok"].to(rcpt))
    assert msgs, shared.log() + world.dns.logs()
    assert msgs[0]["tls"] and "REQUIRETLS" in msgs[0]["mail_options"]
    assert wait_log(shared, qid, rcpt, "sent")
    line = [l for l in shared.log().splitlines()
            if "event=tls relay=%s[" % host in l and "trust=%s" % trust in l]
    assert line, shared.log()
    assert "%s: event=tls-policy domain=%s policy=requiretls" % (
        qid, domain) in shared.log()


def test_without_requiretls_the_option_is_not_sent(shared, world):
    rcpt = "plain@none.dane.test"
    send(shared, [rcpt])
    msgs = wait_for(lambda: world.sinks["ok"].to(rcpt))
    assert msgs and "REQUIRETLS" not in msgs[0]["mail_options"]


@pytest.mark.parametrize("domain,dsn,reason,sink", [
    ("ee01.dane.test", "5.7.30", "REQUIRETLS support required", "noreq"),
    ("routed-noreq.test", "5.7.30", "REQUIRETLS support required", "noreq"),
    ("ee12.dane.test", "5.7.30", "STARTTLS not offered", "plain"),
    ("ee10.dane.test", "5.7.30", "certificate verify failed", "badcert"),
    ("mismatch.dane.test", "5.7.30", "no TLSA record matches", "ok"),
    ("insecure.test", "5.7.30", "not DNSSEC-validated", "ok"),
    ("routed-none.test", "5.7.30", "tls = none", "ok"),
])
def test_impossible_requiretls_bounces(shared, world, domain, dsn, reason,
                                       sink):
    rcpt = "rt@" + domain
    qid = send_rt(shared, [rcpt])
    line = wait_log(shared, qid, rcpt, "bounced")
    assert line and "dsn=%s" % dsn in line[0], shared.log()
    assert reason in line[0]
    assert world.sinks[sink].to(rcpt) == []
    # the report (RFC 8689 5): tagged REQUIRETLS itself, headers only
    report = bounce_for(shared, qid)
    assert report is not None, shared.log()
    assert b"Status: " + dsn.encode() in report
    assert b"Subject: requiretls test" in report
    assert BODY_MARK.encode() not in report
    assert b"text/rfc822-headers" in report
    rid = re.search(r"%s: sender non-delivery notification: (\S+)" % qid,
                    shared.log()).group(1)
    assert re.search(r"%s: from=<> .* tls=requiretls" % rid, shared.log())


def test_tls_required_no_ignores_dane(shared, world):
    # the TLSA record does not match: without the header that defers
    # (test_dane); with it the recipient domain's policy is off
    rcpt = "opt@mismatch.dane.test"
    qid = send_rt(shared, [rcpt], requiretls=False,
                  headers="TLS-Required: No\r\n")
    msgs = wait_for(lambda: world.sinks["ok"].to(rcpt))
    assert msgs and msgs[0]["tls"], shared.log()
    assert "REQUIRETLS" not in msgs[0]["mail_options"]
    assert "%s: event=tls-policy domain=mismatch.dane.test policy=optional "\
        "dane=ignored" % qid in shared.log()
    assert b"TLS-Required: No" in msgs[0]["data"]


def test_tls_required_no_still_dane_without_the_header(shared, world):
    rcpt = "def@mismatch.dane.test"
    qid = send_rt(shared, [rcpt], requiretls=False)
    line = wait_log(shared, qid, rcpt, "deferred")
    assert line and "dsn=4.7.5" in line[0], shared.log()
    assert world.sinks["ok"].to(rcpt) == []


def test_requiretls_between_two_postbote_servers(mta_factory, world):
    # the next hop is postbote: it offers REQUIRETLS after STARTTLS,
    # takes the option from a relay client and records it
    rx = mta_factory(extra="tls_cert = %s\ntls_key = %s" % (world.cert,
                                                           world.key))
    rx.start()
    tx = make_mta(mta_factory, world, (
        "[route relay.test]\nhost = mx-none.dane.test:%d\n") % rx.port)
    rcpt = "carol@relay.test"
    qid = send_rt(tx, [rcpt])
    assert wait_log(tx, qid, rcpt, "sent"), tx.log() + rx.log()
    assert re.search(r"from=<bob@example.test> .* tls=requiretls",
                     rx.log()), rx.log()
    assert [l for l in tx.log().splitlines()
            if "event=tls relay=mx-none.dane.test[" in l and
            "trust=Verified" in l]


def test_local_submission_with_tls_required_no(mta):
    # postbote send reads the header field as smtpd does
    p = subprocess.run([BIN, "send", "-c", mta.conf, "alice@example.test"],
                       input=b"Subject: x\nTLS-Required: No\n\nhi\n",
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    mta.wait_messages("alice@example.test", 1)
    assert re.search(r"from=<[^>]*> .* tls=optional", mta.log()), mta.log()


def test_tlsrpt_counts_failed_certificate_checks(mta_factory, world):
    """TLS reporting (RFC 8460 4.3): where the certificate is checked (a
    REQUIRETLS message without TLSA records: PKIX with the MX host's
    name), a certificate for another name is certificate-host-mismatch,
    a self-signed one certificate-not-trusted, under no-policy-found."""
    m = make_mta(mta_factory, world, "tlsrpt = yes\nsmtp_idle_time = 0s")
    for label in ("wrongname", "ee10"):
        rcpt = "rt@%s.dane.test" % label
        qid = send_rt(m, [rcpt])
        assert wait_log(m, qid, rcpt, "bounced"), m.log()

    def failures():
        out = {}
        for period in tlsrpt_show(m)["periods"]:
            for p in period["policies"]:
                assert p["policy"]["policy-type"] == "no-policy-found"
                out[p["policy"]["policy-domain"]] = [
                    (f["result-type"], f["receiving-mx-hostname"],
                     f["receiving-ip"], f["failed-session-count"])
                    for f in p.get("failure-details", [])]
        return out
    got = wait_for(lambda: len(failures()) == 2 and failures(), 20)
    assert got == {
        "wrongname.dane.test": [("certificate-host-mismatch",
                                 "mx-wrongname.dane.test", "127.0.0.1", 1)],
        "ee10.dane.test": [("certificate-not-trusted", "mx-ee10.dane.test",
                            "127.0.0.4", 1)],
    }, (failures(), m.log())
