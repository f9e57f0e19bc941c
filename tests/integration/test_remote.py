"""Remote delivery: MX resolution against the fake DNS server, the SMTP
client against aiosmtpd sinks on loopback (plain, STARTTLS with our own
CA, AUTH), per-recipient results, retries, routes, connection reuse,
dot-stuffing and loop detection.  Recipient states are read with
`postbote queue list --json` and from the log lines (DESIGN 5)."""

import asyncio
import datetime
import email
import email.policy
import json
import os
import re
import signal
import smtplib
import ssl
import subprocess
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from conftest import BIN, free_port
from smtpclient import RawSMTP, queue_id


# ---- sinks ----

class Handler:
    """Records each message; answers RCPT from `answers` (local part ->
    reply) or 250; `data_answers` is a list of DATA replies used in turn."""

    def __init__(self, answers=None, data_answers=None):
        self.answers = answers or {}
        self.data_answers = list(data_answers or [])
        self.messages = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        local = address.split("@")[0]
        reply = self.answers.get(local)
        if callable(reply):
            reply = reply()
        if reply is None or reply.startswith("250"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
            return reply or "250 2.1.5 Ok"
        return reply

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.data_answers:
                reply = self.data_answers.pop(0)
                if not reply.startswith("250"):
                    return reply
            self.messages.append({
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "mail_options": list(envelope.mail_options),
                "rcpt_options": list(envelope.rcpt_options),
                "data": envelope.original_content,
                "peer": session.peer,
                "tls": session.ssl is not None,
                "login": getattr(session, "login_data", None),
            })
        return "250 2.0.0 Ok: stored"


class Sink:
    def __init__(self, handler=None, **kw):
        self.handler = handler or Handler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1",
                                     port=self.port, **kw)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    @property
    def messages(self):
        with self.handler.lock:
            return list(self.handler.messages)

    def wait(self, n, timeout=20.0):
        end = time.time() + timeout
        while time.time() < end and len(self.messages) < n:
            time.sleep(0.05)
        return self.messages


# ---- helpers ----

CLIENT_TIMEOUTS = "smtp_client_timeout = 10s"


def remote_mta(mta_factory, sink_port, extra="", env=None):
    """A server delivering to port sink_port; extra's global keys replace
    the fixture's (retry); env: more environment for the server."""
    extra = "smtp_port = %d\n%s\n%s" % (sink_port, CLIENT_TIMEOUTS, extra)
    m = mta_factory(extra=extra)
    keys = set()
    for line in extra.splitlines():
        if line.startswith("["):
            break
        if "=" in line:
            keys.add(line.split("=")[0].strip())
    text = open(m.conf).read()
    base, _, rest = text.partition(extra)
    base = "".join(l for l in base.splitlines(True)
                   if l.split("=")[0].strip() not in keys)
    with open(m.conf, "w") as f:
        f.write(base + extra + rest)
    return m.start(env=env)


def send(m, rcpts, body=None, sender="sender@example.test", subject="hi",
         mail_options=(), rcpt_options=()):
    if body is None:
        body = "Subject: %s\r\n\r\nhello\r\n" % subject
    if isinstance(body, str):
        body = body.encode()        # UTF-8
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        c.ehlo("client.test")
        code, text = c.mail(sender, list(mail_options))
        assert code == 250, text
        for r in rcpts:
            code, text = c.rcpt(r, list(rcpt_options))
            assert code == 250, text
        code, text = c.data(body)
        assert code == 250, text
    return re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()


def listed(m):
    r = subprocess.run([BIN, "queue", "-c", m.conf, "list", "--json"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return {e["id"]: e for e in json.loads(r.stdout)}


def states(m, qid):
    e = listed(m).get(qid)
    if e is None:
        return None
    return {r["address"]: (r["state"], r["status"]) for r in e["recipients"]}


def wait_for(cond, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return cond()


def log_lines(m, qid, addr):
    pat = re.compile(r"%s: to=<%s> .*status=" % (qid, re.escape(addr)))
    return [l for l in m.log().splitlines() if pat.search(l)]


def wait_log(m, qid, addr, status, timeout=20.0):
    return wait_for(lambda: [l for l in log_lines(m, qid, addr)
                             if "status=%s" % status in l], timeout)


def mx(dns, domain, *hosts):
    """hosts: (pref, name, ip) tuples."""
    for pref, name, ip in hosts:
        dns.add(domain, "MX", "%d %s." % (pref, name))
        if ip is not None:
            dns.add(name, "AAAA" if ":" in ip else "A", ip)


# ---- delivery ----

def test_delivery_through_mx(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    with Sink() as sink:
        m = remote_mta(mta_factory, sink.port)
        qid = send(m, ["bob@remote.test", "carl@remote.test"])
        msgs = sink.wait(1)
        assert len(msgs) == 1
        assert msgs[0]["from"] == "sender@example.test"
        assert sorted(msgs[0]["to"]) == ["bob@remote.test",
                                         "carl@remote.test"]
        assert b"\r\n\r\nhello\r\n" in msgs[0]["data"]
        assert msgs[0]["data"].startswith(b"Received: ")
        line = wait_log(m, qid, "bob@remote.test", "sent")
        assert line, m.log()
        assert re.search(r"relay=mx\.remote\.test\[127\.0\.0\.1\]:%d "
                         r"delay=[0-9.]+ dsn=2\.0\.0 status=sent "
                         r"\(250 2\.0\.0 Ok: stored\)" % sink.port, line[0])
        assert m.wait_queue_empty() == []


def test_implicit_mx_uses_the_domain_address(mta_factory, dns):
    dns.add("bare.test", "A", "127.0.0.1")
    with Sink() as sink:
        m = remote_mta(mta_factory, sink.port)
        qid = send(m, ["x@bare.test"])
        assert len(sink.wait(1)) == 1
        assert wait_log(m, qid, "x@bare.test", "sent")


def test_cname_is_followed_and_ipv6_tried(mta_factory, dns):
    dns.add("six.test", "MX", "10 alias.six.test.")
    dns.add("alias.six.test", "CNAME", "real.six.test.")
    dns.add("real.six.test", "AAAA", "::1")
    handler = Handler()
    port = free_port()
    ctl = Controller(handler, hostname="::1", port=port)
    ctl.start()
    try:
        m = remote_mta(mta_factory, port)
        qid = send(m, ["x@six.test"])
        line = wait_log(m, qid, "x@six.test", "sent")
        assert line, m.log()
        assert "relay=real.six.test[::1]:%d" % port in line[0] or \
            "relay=alias.six.test[::1]:%d" % port in line[0]
        assert len(handler.messages) == 1
    finally:
        ctl.stop()


def test_mixed_per_recipient_results(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    handler = Handler({"temp": "450 4.2.1 mailbox busy",
                       "gone": "550 5.1.1 no such user"})
    with Sink(handler) as sink:
        m = remote_mta(mta_factory, sink.port, "retry = 1h")
        qid = send(m, ["ok@remote.test", "temp@remote.test",
                       "gone@remote.test"])
        assert wait_log(m, qid, "gone@remote.test", "bounced")
        st = wait_for(lambda: (states(m, qid) or {}).get(
            "temp@remote.test", ("",))[0] == "deferred" and states(m, qid))
        assert st, m.log()
        assert st["ok@remote.test"][0] == "done"
        assert st["ok@remote.test"][1].startswith("2.0.0 250 ")
        assert st["temp@remote.test"] == (
            "deferred", "4.2.1 450 4.2.1 mailbox busy")
        assert st["gone@remote.test"] == (
            "failed", "5.1.1 550 5.1.1 no such user")
        assert len(sink.messages) == 1
        assert sink.messages[0]["to"] == ["ok@remote.test"]
        assert wait_log(m, qid, "temp@remote.test", "deferred")


def test_temporary_failure_then_success_on_retry(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    handler = Handler(data_answers=["451 4.3.0 try later", "250"])
    with Sink(handler) as sink:
        m = remote_mta(mta_factory, sink.port, "retry = 1s")
        qid = send(m, ["bob@remote.test"])
        assert wait_log(m, qid, "bob@remote.test", "deferred")
        assert wait_log(m, qid, "bob@remote.test", "sent"), m.log()
        assert len(sink.messages) == 1
        assert m.wait_queue_empty() == []


def test_first_mx_unreachable_second_used(mta_factory, dns):
    # 127.0.0.2 is loopback too, but nothing listens there on the port.
    mx(dns, "remote.test", (10, "mx1.remote.test", "127.0.0.2"),
       (20, "mx2.remote.test", "127.0.0.1"))
    with Sink() as sink:
        m = remote_mta(mta_factory, sink.port)
        qid = send(m, ["bob@remote.test"])
        line = wait_log(m, qid, "bob@remote.test", "sent")
        assert line, m.log()
        assert "relay=mx2.remote.test[127.0.0.1]" in line[0]
        assert len(sink.messages) == 1


def test_no_mx_reachable_defers(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx1.remote.test", "127.0.0.2"))
    m = remote_mta(mta_factory, free_port(), "retry = 1h")
    qid = send(m, ["bob@remote.test"])
    line = wait_log(m, qid, "bob@remote.test", "deferred")
    assert line and "dsn=4.4." in line[0], m.log()
    assert "connect to mx1.remote.test[127.0.0.2]" in line[0]


def null_mx(dns):
    dns.add("dest.test", "MX", "0 .")


def servfail(dns):
    dns.set_rcode("dest.test", "MX", "SERVFAIL")


def mx_is_our_hostname(dns):
    dns.add("dest.test", "MX", "10 mx.example.test.")
    dns.add("mx.example.test", "A", "127.0.0.1")


@pytest.mark.parametrize("zone,status,dsn", [
    (null_mx, "bounced", "5.1.10"),
    (lambda dns: None, "bounced", "5.1.2"),      # NXDOMAIN
    (servfail, "deferred", "4.4.3"),
    (mx_is_our_hostname, "bounced", "5.4.6"),
], ids=["null-mx", "nxdomain", "servfail", "mx-is-our-hostname"])
def test_dns_answers(mta_factory, dns, zone, status, dsn):
    zone(dns)
    m = remote_mta(mta_factory, free_port(), "retry = 1h")
    qid = send(m, ["bob@dest.test"])
    line = wait_log(m, qid, "bob@dest.test", status)
    assert line and "dsn=%s " % dsn in line[0], m.log()
    st = wait_for(lambda: states(m, qid)) if status == "deferred" else None
    if st is not None:
        assert st["bob@dest.test"][0] == "deferred"


def test_mx_pointing_at_ourselves_is_a_loop(mta_factory, dns):
    mx(dns, "loop.test", (10, "mx.loop.test", "127.0.0.1"))
    m = mta_factory(extra=CLIENT_TIMEOUTS)
    # smtp_port is the server's own listener port: the MX is us.
    conf = open(m.conf).read().replace(
        CLIENT_TIMEOUTS, CLIENT_TIMEOUTS + "\nsmtp_port = %d" % m.port)
    with open(m.conf, "w") as f:
        f.write(conf)
    m.start()
    qid = send(m, ["bob@loop.test"])
    line = wait_log(m, qid, "bob@loop.test", "bounced")
    assert line and "dsn=5.4.6" in line[0], m.log()
    assert "loops back to myself" in line[0]


def test_too_many_received_headers_is_a_loop(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    with Sink() as sink:
        m = remote_mta(mta_factory, sink.port, "max_received = 5")
        hops = "".join("Received: from h%d by h%d; Sat, 1 Jan 2000 "
                       "00:00:00 +0000\r\n" % (i, i + 1) for i in range(5))
        body = hops + "Subject: loop\r\n\r\nbody\r\n"
        qid = send(m, ["bob@remote.test", "alice@example.test"], body)
        for addr in ("bob@remote.test", "alice@example.test"):
            line = wait_log(m, qid, addr, "bounced")
            assert line and "dsn=5.4.6" in line[0], m.log()
        assert sink.messages == []


def test_dot_stuffing_and_crlf_on_the_wire(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    with Sink() as sink:
        m = remote_mta(mta_factory, sink.port)
        body = ("Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n"
                ".\r\nlast line without dot\r\n")
        send(m, ["bob@remote.test"], body)
        msgs = sink.wait(1)
        assert len(msgs) == 1
        data = msgs[0]["data"]
        assert data.endswith(b"\r\n\r\n.leading dot\r\n..two dots\r\n"
                             b".\r\nlast line without dot\r\n"), data


NUL_SMUGGLE = (b"Subject: outer\r\n\r\nouter body\r\n\x00.\r\n"
               b"MAIL FROM:<evil@attacker.test>\r\n"
               b"RCPT TO:<victim@far.test>\r\n"
               b"DATA\r\n"
               b"Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n")


def relay_route(mta_factory, sink):
    return remote_mta(mta_factory, sink.port,
                      "[route *]\nhost = 127.0.0.1:%d\ntls = none"
                      % sink.port)


def test_nul_smuggling_is_not_relayed(mta_factory, dns):
    """<CR><LF><NUL>.<CR><LF> followed by SMTP commands: a next hop that
    strips NUL would see the end of the data there and run the commands.
    It is refused here (554 5.6.0, after the real end), so nothing of it
    reaches the route's host; a clean message on the same route does."""
    with Sink() as sink:
        m = relay_route(mta_factory, sink)
        with RawSMTP(m.port) as c:
            c.ehlo()
            c.transaction("sender@example.test", ["victim@far.test"])
            c.expect("DATA", 354)
            c.send(NUL_SMUGGLE)
            r = c.reply()
            assert (r.code, r.enhanced) == (554, "5.6.0"), r
            c.expect("NOOP", 250)
            assert c.buf == b""
            r = c.transaction("sender@example.test", ["victim@far.test"],
                              b"Subject: clean\r\n\r\nclean\r\n.\r\n")
            qid = queue_id(r)
        assert wait_log(m, qid, "victim@far.test", "sent"), m.log()
        time.sleep(0.5)
        msgs = sink.messages
        assert len(msgs) == 1, msgs
        assert msgs[0]["from"] == "sender@example.test"
        data = msgs[0]["data"]
        assert data.endswith(b"\r\n\r\nclean\r\n"), data
        assert b"\x00" not in data and b"smuggled" not in data
        assert m.wait_queue_empty() == []
        assert "evil@attacker.test" not in m.log()


def test_lf_only_message_leaves_with_crlf(mta_factory, dns):
    """LF-only lines taken in (bare_lf = normalize) go out as CRLF lines,
    dot-stuffed, so the next hop reads the same lines."""
    with Sink() as sink:
        m = relay_route(mta_factory, sink)
        with RawSMTP(m.port) as c:
            c.ehlo()
            r = c.transaction("sender@example.test", ["bob@far.test"],
                              b"Subject: lf\n\nline\n..dot\n.\nlast\n"
                              b"\r\n.\r\n")
            qid = queue_id(r)
        assert wait_log(m, qid, "bob@far.test", "sent"), m.log()
        data = sink.wait(1)[0]["data"]
        assert data.endswith(b"\r\nSubject: lf\r\n\r\nline\r\n.dot\r\n"
                             b"\r\nlast\r\n"), data
        assert data.count(b"\n") == data.count(b"\r\n")


def test_one_connection_carries_several_messages(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    with Sink() as sink:
        m = remote_mta(mta_factory, sink.port,
                       "destination_concurrency = 1\nsmtp_idle_time = 10s")
        for i in range(4):
            send(m, ["bob@remote.test"], subject="n%d" % i)
        msgs = sink.wait(4)
        assert len(msgs) == 4
        peers = {msg["peer"] for msg in msgs}
        assert len(peers) == 1, peers
        assert m.wait_queue_empty() == []


def test_size_limit_of_the_peer(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    with Sink(data_size_limit=1000) as sink:
        m = remote_mta(mta_factory, sink.port)
        body = "Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * 40
        qid = send(m, ["bob@remote.test"], body)
        line = wait_log(m, qid, "bob@remote.test", "bounced")
        assert line and "dsn=5.3.4" in line[0], m.log()
        assert sink.messages == []


@pytest.mark.parametrize("offered", [True, False])
def test_smtputf8(mta_factory, dns, offered):
    """Passed on when offered; else the message fails with 5.6.7."""
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    with Sink(enable_SMTPUTF8=offered) as sink:
        m = remote_mta(mta_factory, sink.port)
        qid = send(m, ["bob@remote.test"], "Subject: \u00fc\r\n\r\nhi\r\n",
                   sender="j\u00f6rg@example.test",
                   mail_options=["SMTPUTF8"])
        if not offered:
            line = wait_log(m, qid, "bob@remote.test", "bounced")
            assert line and "dsn=5.6.7" in line[0], m.log()
            assert sink.messages == []
            return
        msgs = sink.wait(1)
        assert len(msgs) == 1
        assert "SMTPUTF8" in msgs[0]["mail_options"]
        assert msgs[0]["from"] == "j\u00f6rg@example.test"


def test_8bitmime_passed_on(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    with Sink() as sink:
        m = remote_mta(mta_factory, sink.port)
        send(m, ["bob@remote.test"], "Subject: x\r\n\r\n\xe4\r\n".encode(
            "latin-1"), mail_options=["BODY=8BITMIME"])
        msgs = sink.wait(1)
        assert len(msgs) == 1
        assert "BODY=8BITMIME" in msgs[0]["mail_options"]
        assert msgs[0]["data"].endswith(b"\r\n\r\n\xe4\r\n")


# ---- TLS ----

def make_ca(d, host):
    """A CA and a server certificate for host, signed by it."""
    def run(*a):
        subprocess.run(a, check=True, capture_output=True, cwd=d)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=postbote test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout",
        "srv.key", "-out", "srv.csr", "-subj", "/CN=%s" % host)
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=%s:%s\n" % (
            "IP" if host[0].isdigit() else "DNS", host))
    run("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem",
        "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.pem",
        "-days", "2", "-extfile", "ext")
    return (os.path.join(d, "ca.pem"), os.path.join(d, "srv.pem"),
            os.path.join(d, "srv.key"))


def tls_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def test_starttls_with_tls_require_verifies_the_route_host(
        mta_factory, dns, workdir):
    ca, cert, key = make_ca(workdir, "relay.remote.test")
    dns.add("relay.remote.test", "A", "127.0.0.1")
    with Sink(tls_context=tls_context(cert, key),
              require_starttls=True) as sink:
        m = remote_mta(mta_factory, sink.port, (
            "smtp_tls_ca = %s\n[route remote.test]\n"
            "host = relay.remote.test:%d\ntls = require") % (ca, sink.port))
        qid = send(m, ["bob@remote.test"])
        msgs = sink.wait(1)
        assert len(msgs) == 1 and msgs[0]["tls"], m.log()
        assert wait_log(m, qid, "bob@remote.test", "sent")


@pytest.mark.parametrize("tls,reason", [
    (True, "certificate verify failed"),    # no smtp_tls_ca: unknown CA
    (False, "STARTTLS not offered"),
])
def test_tls_require_failing_defers(mta_factory, dns, workdir, tls, reason):
    ca, cert, key = make_ca(workdir, "relay.remote.test")
    dns.add("relay.remote.test", "A", "127.0.0.1")
    kw = {"tls_context": tls_context(cert, key)} if tls else {}
    with Sink(**kw) as sink:
        m = remote_mta(mta_factory, sink.port, (
            "retry = 1h\n[route remote.test]\n"
            "host = relay.remote.test:%d\ntls = require") % sink.port)
        qid = send(m, ["bob@remote.test"])
        line = wait_log(m, qid, "bob@remote.test", "deferred")
        assert line and "dsn=4.7." in line[0], m.log()
        assert reason in line[0]
        assert sink.messages == []


def test_opportunistic_starttls_on_mx(mta_factory, dns, workdir):
    ca, cert, key = make_ca(workdir, "mx.remote.test")
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    with Sink(tls_context=tls_context(cert, key)) as sink:
        m = remote_mta(mta_factory, sink.port)
        send(m, ["bob@remote.test"])
        msgs = sink.wait(1)
        assert len(msgs) == 1 and msgs[0]["tls"]


# ---- routes and AUTH ----

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (auth_data.login == b"relayuser" and
          auth_data.password == b"s3cret pass")
    return AuthResult(success=ok, handled=False)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_relay_host_with_auth(mta_factory, dns, workdir, mech):
    ca, cert, key = make_ca(workdir, "smtp.provider.test")
    dns.add("smtp.provider.test", "A", "127.0.0.1")
    pwfile = os.path.join(workdir, "relay.pw")
    with open(pwfile, "w") as f:
        f.write("s3cret pass\n")
    other = ["LOGIN"] if mech == "PLAIN" else ["PLAIN"]
    with Sink(tls_context=tls_context(cert, key), auth_required=True,
              authenticator=authenticator,
              auth_exclude_mechanism=other) as sink:
        m = remote_mta(mta_factory, sink.port, (
            "[route *]\nhost = smtp.provider.test:%d\ntls = may\n"
            "auth = relayuser %s") % (sink.port, pwfile))
        qid = send(m, ["bob@far.test", "eve@elsewhere.test"])
        msgs = sink.wait(2)
        assert len(msgs) == 2, m.log()
        assert all(msg["tls"] for msg in msgs)
        assert wait_log(m, qid, "bob@far.test", "sent")
        assert "s3cret" not in m.log()
        assert not any(q[0] in ("far.test", "elsewhere.test")
                       for q in dns.queries)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("tls,password,reason", [
    (True, "wrong", "dsn=4.7.0"),               # the relay refuses
    (False, "s3cret pass", "no TLS: credentials not sent"),
], ids=["refused", "no-tls"])
def test_relay_auth_failing_defers(mta_factory, dns, workdir, tls, password,
                                   reason):
    ca, cert, key = make_ca(workdir, "smtp.provider.test")
    dns.add("smtp.provider.test", "A", "127.0.0.1")
    pwfile = os.path.join(workdir, "relay.pw")
    with open(pwfile, "w") as f:
        f.write(password + "\n")
    seen = []

    def spy(server, session, envelope, mechanism, auth_data):
        seen.append(auth_data.login)
        return authenticator(server, session, envelope, mechanism, auth_data)
    # without TLS the sink offers AUTH in plain text
    kw = {"tls_context": tls_context(cert, key)} if tls else {
        "auth_require_tls": False}
    with Sink(auth_required=True, authenticator=spy, **kw) as sink:
        m = remote_mta(mta_factory, sink.port, (
            "retry = 1h\n[route *]\nhost = smtp.provider.test:%d\n"
            "auth = relayuser %s") % (sink.port, pwfile))
        qid = send(m, ["bob@far.test"])
        line = wait_log(m, qid, "bob@far.test", "deferred")
        assert line and reason in line[0], m.log()
        assert sink.messages == []
        assert seen == ([b"relayuser"] if tls else [])


def test_route_to_an_address_literal_with_implicit_tls(
        mta_factory, dns, workdir):
    ca, cert, key = make_ca(workdir, "127.0.0.1")
    port = free_port()
    handler = Handler()
    # aiosmtpd's ssl_context on the Controller is implicit TLS.
    ctl = Controller(handler, hostname="127.0.0.1", port=port,
                     ssl_context=tls_context(cert, key))
    ctl.start()
    try:
        m = remote_mta(mta_factory, free_port(), (
            "smtp_tls_ca = %s\n[route *]\nhost = 127.0.0.1:%d\n"
            "tls = implicit") % (ca, port))
        qid = send(m, ["bob@far.test"])
        assert wait_log(m, qid, "bob@far.test", "sent"), m.log()
        assert len(handler.messages) == 1
    finally:
        ctl.stop()


# ---- aliases ----

def test_alias_to_a_remote_address_is_forwarded(mta_factory, dns):
    # conftest's aliases: ext@example.test -> someone@remote.test
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    with Sink() as sink:
        m = remote_mta(mta_factory, sink.port)
        qid = send(m, ["ext@example.test"])
        msgs = sink.wait(1)
        assert len(msgs) == 1
        assert msgs[0]["to"] == ["someone@remote.test"]
        line = wait_log(m, qid, "someone@remote.test", "sent")
        assert line and "orig_to=<ext@example.test>" in line[0]


def test_local_and_remote_recipients_of_one_message(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    mx(dns, "other.test", (10, "mx.other.test", "127.0.0.1"))
    with Sink() as sink:
        m = remote_mta(mta_factory, sink.port)
        send(m, ["alice@example.test", "bob@remote.test",
                 "carl@other.test", "dan@remote.test"])
        msgs = sink.wait(2)
        assert len(msgs) == 2
        assert sorted(sorted(x["to"]) for x in msgs) == [
            ["bob@remote.test", "dan@remote.test"], ["carl@other.test"]]
        assert len(m.wait_messages("alice@example.test", 1)) == 1
        assert m.wait_queue_empty() == []


# ---- PIPELINING and DSN, against a scripted peer ----

class PipeliningSink:
    """A peer offering PIPELINING and DSN that answers MAIL only once
    DATA has arrived: a client that waits for each reply stalls (RFC 2920
    3.1: MAIL, RCPT and DATA may go in one group).  Records the command
    lines and the message."""

    def __init__(self, drop_after_data=False, esmtp=True,
                 greeting=b"220 pipe.test ESMTP", host="127.0.0.1", port=0):
        import socket
        self.drop_after_data = drop_after_data
        self.esmtp = esmtp          # False: 502 to EHLO, no PIPELINING
        self.greeting = greeting
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.commands = []
        self.data = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def close(self):
        self.sock.close()

    def serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            f = conn.makefile("rb")
            conn.sendall(self.greeting + b"\r\n")
            if not self.greeting.startswith(b"220"):
                self.commands.append(f.readline().rstrip(b"\r\n").decode())
                return
            held = []
            for line in f:
                cmd = line.rstrip(b"\r\n").decode()
                self.commands.append(cmd)
                verb = cmd.split(" ")[0].upper()
                if verb == "EHLO" and not self.esmtp:
                    conn.sendall(b"502 5.5.1 no ESMTP here\r\n")
                elif verb == "EHLO":
                    conn.sendall(b"250-pipe.test\r\n250-PIPELINING\r\n"
                                 b"250-DSN\r\n250 8BITMIME\r\n")
                elif verb in ("MAIL", "RCPT") and not self.esmtp:
                    conn.sendall(b"250 2.1.0 Ok\r\n")
                elif verb in ("MAIL", "RCPT"):
                    held.append(b"250 2.1.0 Ok\r\n")
                elif verb == "DATA":
                    conn.sendall(b"".join(held) + b"354 go\r\n")
                    held = []
                    body = []
                    for l in f:
                        if l == b".\r\n":
                            break
                        body.append(l)
                    self.data.append(b"".join(body))
                    if self.drop_after_data:
                        return          # no final reply
                    conn.sendall(b"250 2.0.0 pipelined ok\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 Ok\r\n")


def test_pipelining_and_dsn_parameters_passed_on(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    sink = PipeliningSink()
    try:
        m = remote_mta(mta_factory, sink.port)
        qid = send(m, ["bob@remote.test"], mail_options=[
            "RET=HDRS", "ENVID=env+2Bid42"], rcpt_options=[
            "NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob+2Bx@remote.test"])
        line = wait_log(m, qid, "bob@remote.test", "sent")
        assert line and "pipelined ok" in line[0], m.log()
        mail = [c for c in sink.commands if c.startswith("MAIL")][0]
        rcpt = [c for c in sink.commands if c.startswith("RCPT")][0]
        assert mail.startswith("MAIL FROM:<sender@example.test>")
        assert "RET=HDRS" in mail.split() and \
            "ENVID=env+2Bid42" in mail.split()
        assert rcpt.split()[2:] == ["NOTIFY=SUCCESS,FAILURE",
                                    "ORCPT=rfc822;bob+2Bx@remote.test"]
        assert len(sink.data) == 1 and sink.data[0].endswith(b"hello\r\n")
    finally:
        sink.close()


def test_connection_lost_before_the_final_reply_defers(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    sink = PipeliningSink(drop_after_data=True)
    try:
        m = remote_mta(mta_factory, sink.port, "retry = 1h")
        qid = send(m, ["bob@remote.test", "carl@remote.test"])
        for addr in ("bob@remote.test", "carl@remote.test"):
            line = wait_log(m, qid, addr, "deferred")
            assert line and "dsn=4.4.2" in line[0], m.log()
            assert "lost connection with mx.remote.test" in line[0]
        st = wait_for(lambda: states(m, qid))
        assert {v[0] for v in st.values()} == {"deferred"}
    finally:
        sink.close()


def test_helo_when_ehlo_is_refused(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    sink = PipeliningSink(esmtp=False)
    try:
        m = remote_mta(mta_factory, sink.port)
        qid = send(m, ["bob@remote.test"], mail_options=["RET=HDRS"])
        assert wait_log(m, qid, "bob@remote.test", "sent"), m.log()
        assert [c.split()[0] for c in sink.commands][:2] == ["EHLO", "HELO"]
        mail = [c for c in sink.commands if c.startswith("MAIL")][0]
        assert mail == "MAIL FROM:<sender@example.test>"  # no parameters
    finally:
        sink.close()


def test_4xx_greeting_moves_on_to_the_next_mx(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx1.remote.test", "127.0.0.2"),
       (20, "mx2.remote.test", "127.0.0.1"))
    with Sink() as sink:
        busy = PipeliningSink(greeting=b"421 4.3.2 too busy",
                              host="127.0.0.2", port=sink.port)
        try:
            m = remote_mta(mta_factory, sink.port)
            qid = send(m, ["bob@remote.test"])
            line = wait_log(m, qid, "bob@remote.test", "sent")
            assert line and "relay=mx2.remote.test" in line[0], m.log()
            assert len(sink.messages) == 1
            assert wait_for(lambda: busy.commands == ["QUIT"])
        finally:
            busy.close()


def test_address_literal_domain_is_delivered_without_mx(mta_factory, dns):
    with Sink() as sink:
        m = remote_mta(mta_factory, sink.port)
        qid = send(m, ["bob@[127.0.0.1]"])
        line = wait_log(m, qid, "bob@[127.0.0.1]", "sent")
        assert line and "relay=127.0.0.1[127.0.0.1]" in line[0], m.log()
        assert [q for q in dns.queries if q[1] == "MX"] == []
        assert sink.messages[0]["to"] == ["bob@[127.0.0.1]"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")     # TLSv1_1
def test_failed_opportunistic_tls_falls_back_to_plain_text(
        mta_factory, dns, workdir):
    ca, cert, key = make_ca(workdir, "mx.remote.test")
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    ctx = tls_context(cert, key)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1    # below our minimum
    with Sink(tls_context=ctx) as sink:
        m = remote_mta(mta_factory, sink.port)
        qid = send(m, ["bob@remote.test"])
        msgs = sink.wait(1)
        assert len(msgs) == 1 and not msgs[0]["tls"], m.log()
        assert wait_log(m, qid, "bob@remote.test", "sent")
        assert "event=tls-failed relay=mx.remote.test[127.0.0.1]:%d" % \
            sink.port in m.log()


def test_one_message_to_more_domains_than_remote_concurrency(
        mta_factory, dns):
    for d in ("a.test", "b.test", "c.test"):
        mx(dns, d, (10, "mx." + d, "127.0.0.1"))
    with Sink() as sink:
        m = remote_mta(mta_factory, sink.port,
                       "remote_concurrency = 1\ndestination_concurrency = 1")
        send(m, ["x@a.test", "y@b.test", "z@c.test"])
        send(m, ["w@a.test"])
        msgs = sink.wait(4)
        assert sorted(x for msg in msgs for x in msg["to"]) == [
            "w@a.test", "x@a.test", "y@b.test", "z@c.test"]
        assert m.wait_queue_empty() == []


def test_route_password_is_read_again_at_reload(mta_factory, dns, workdir):
    ca, cert, key = make_ca(workdir, "smtp.provider.test")
    dns.add("smtp.provider.test", "A", "127.0.0.1")
    pwfile = os.path.join(workdir, "relay.pw")
    with open(pwfile, "w") as f:
        f.write("old\n")
    with Sink(tls_context=tls_context(cert, key), auth_required=True,
              authenticator=authenticator) as sink:
        m = remote_mta(mta_factory, sink.port, (
            "retry = 1h\n[route *]\nhost = smtp.provider.test:%d\n"
            "auth = relayuser %s") % (sink.port, pwfile))
        qid = send(m, ["bob@far.test"])
        assert wait_log(m, qid, "bob@far.test", "deferred"), m.log()
        with open(pwfile, "w") as f:
            f.write("s3cret pass\n")
        m.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: re.search(r"deliver\[\d+\]: event=reloaded",
                                          m.log()))
        r = subprocess.run([BIN, "queue", "-c", m.conf, "flush", qid],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert wait_log(m, qid, "bob@far.test", "sent"), m.log()
        assert len(sink.messages) == 1


class SlowHandler(Handler):
    """Takes its time over DATA and counts the transactions at once."""

    def __init__(self):
        super().__init__()
        self.now = self.most = 0

    async def handle_DATA(self, server, session, envelope):
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(0.3)
        self.now -= 1
        return await super().handle_DATA(server, session, envelope)


def test_destination_concurrency_is_respected(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    handler = SlowHandler()
    with Sink(handler) as sink:
        m = remote_mta(mta_factory, sink.port, "destination_concurrency = 2")
        for i in range(6):
            send(m, ["bob@remote.test"], subject="n%d" % i)
        assert len(sink.wait(6)) == 6
        assert 1 <= handler.most <= 2
        assert len({msg["peer"] for msg in sink.messages}) <= 2


def test_equal_preference_mx_hosts_are_shuffled(mta_factory, dns):
    # Two MX hosts of one preference on two loopback addresses; no reuse,
    # so each message picks again.  All 16 on one host: p = 2 / 65536.
    mx(dns, "remote.test", (10, "mx1.remote.test", "127.0.0.1"),
       (10, "mx2.remote.test", "127.0.0.3"))
    with Sink() as one:
        other = Handler()
        ctl = Controller(other, hostname="127.0.0.3", port=one.port)
        ctl.start()
        try:
            m = remote_mta(mta_factory, one.port,
                           "smtp_idle_time = 0s\ndestination_concurrency = 1")
            # one at a time: a message already waiting when a transaction
            # ends would ride on that connection instead of choosing anew
            for i in range(16):
                send(m, ["bob@remote.test"], subject="n%d" % i)
                assert wait_for(lambda: len(one.messages) +
                                len(other.messages) == i + 1)
            assert one.messages and other.messages
        finally:
            ctl.stop()


def test_remote_5xx_bounces_to_the_local_sender(mta_factory, dns):
    """A 550 from the next hop becomes an RFC 3464 report in the sender's
    Maildir, which Python's email package reads as multipart/report; the
    recipient the peer took is not in it."""
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    handler = Handler({"gone": "550 5.1.1 no such user"})
    with Sink(handler) as sink:
        m = remote_mta(mta_factory, sink.port)
        qid = send(m, ["ok@remote.test", "gone@remote.test"],
                   sender="alice@example.test", subject="to be bounced")
        assert wait_log(m, qid, "gone@remote.test", "bounced")
        assert sink.wait(1)[0]["to"] == ["ok@remote.test"]
        msgs = m.wait_messages("alice@example.test", 1)
    assert len(msgs) == 1, m.log()
    rep = email.message_from_bytes(msgs[0], policy=email.policy.default)
    assert rep.get_content_type() == "multipart/report"
    assert rep.get_param("report-type") == "delivery-status"
    assert rep["Auto-Submitted"] == "auto-replied"
    parts = list(rep.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"] or \
        [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "message/rfc822"]
    blocks = parts[1].get_payload()
    per_rcpt = [b for b in blocks if b.get("Final-Recipient")]
    assert [b["Final-Recipient"] for b in per_rcpt] == [
        "rfc822; gone@remote.test"]
    assert per_rcpt[0]["Action"] == "failed"
    assert per_rcpt[0]["Status"] == "5.1.1"
    assert "550 5.1.1 no such user" in per_rcpt[0]["Diagnostic-Code"]
    # the server that gave the reply (RFC 3464 2.3.5)
    assert per_rcpt[0]["Remote-MTA"] == "dns; mx.remote.test"
    assert b"Subject: to be bounced" in parts[2].as_bytes()


# ---- reply classes (issue 10, item 11) ----

class ScriptedPeer:
    """A peer answering each verb from `replies` (verb -> reply line,
    "GREETING" and "DOT" for the greeting and the end of data), one
    connection after another; records the command lines."""

    DEFAULT = {"GREETING": "220 scripted.test ESMTP",
               "EHLO": "250 scripted.test", "HELO": "250 scripted.test",
               "MAIL": "250 2.1.0 Ok", "RCPT": "250 2.1.5 Ok",
               "DATA": "354 go", "DOT": "250 2.0.0 stored",
               "RSET": "250 Ok", "QUIT": "221 bye"}

    def __init__(self, **replies):
        import socket
        self.replies = dict(self.DEFAULT, **replies)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", free_port()))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.commands = []
        self.bodies = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def close(self):
        self.sock.close()

    def say(self, conn, key):
        conn.sendall(self.replies[key].encode() + b"\r\n")

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    self.session(conn)
                except OSError:
                    pass

    def session(self, conn):
        f = conn.makefile("rb")
        self.say(conn, "GREETING")
        for line in f:
            cmd = line.rstrip(b"\r\n").decode()
            self.commands.append(cmd)
            verb = cmd.split(" ")[0].upper()
            self.say(conn, verb if verb in self.replies else "RSET")
            if verb == "DATA" and self.replies["DATA"].startswith("354"):
                for l in f:
                    if l == b".\r\n":
                        break
                self.bodies += 1
                self.say(conn, "DOT")
            if verb == "QUIT":
                return


def test_ehlo_and_helo_refused_bounce_with_a_5xx_status(mta_factory, dns):
    """A server answering EHLO and HELO with 500 was bounced with
    `Status: 4.0.0` and `Action: failed`; a permanent failure carries
    5.x.x (RFC 3463)."""
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    peer = ScriptedPeer(EHLO="500 5.5.1 no EHLO", HELO="500 no HELO")
    try:
        m = remote_mta(mta_factory, peer.port, "retry = 1h")
        qid = send(m, ["bob@remote.test"], sender="alice@example.test",
                   subject="helo refused")
        line = wait_log(m, qid, "bob@remote.test", "bounced")
        assert line and "dsn=5.0.0" in line[0], m.log()
        msgs = m.wait_messages("alice@example.test", 1)
    finally:
        peer.close()
    assert len(msgs) == 1, m.log()
    rep = email.message_from_bytes(msgs[0], policy=email.policy.default)
    status = list(rep.iter_parts())[1].get_payload()
    per_rcpt = [b for b in status if b.get("Final-Recipient")]
    assert per_rcpt[0]["Action"] == "failed"
    assert per_rcpt[0]["Status"] == "5.0.0"
    assert "500 no HELO" in per_rcpt[0]["Diagnostic-Code"]


@pytest.mark.parametrize("replies,status", [
    ({"HELO": "554 5.7.1 go away", "EHLO": "502 5.5.2 no"},
     ("bounced", "5.7.1")),
    ({"GREETING": "554 5.3.2 not now"}, ("bounced", "5.3.2")),
    ({"RCPT": "550 4.1.1 odd"}, ("bounced", "5.0.0")),
    ({"RCPT": "450 5.2.2 odd"}, ("deferred", "4.0.0")),
    # A 3xx where no 3xx belongs is not a success: nothing was delivered.
    ({"GREETING": "354 hello?"}, ("deferred", "4.5.0")),
    ({"MAIL": "354 what"}, ("deferred", "4.5.0")),
    ({"RCPT": "354 what"}, ("deferred", "4.5.0")),
    ({"DATA": "250 no body needed"}, ("deferred", "4.5.0")),
    ({"DOT": "354 more"}, ("deferred", "4.5.0")),
])
def test_result_and_status_class_agree(mta_factory, dns, replies, status):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    peer = ScriptedPeer(**replies)
    try:
        m = remote_mta(mta_factory, peer.port, "retry = 1h")
        qid = send(m, ["bob@remote.test"])
        line = wait_for(lambda: log_lines(m, qid, "bob@remote.test"))
        assert line, m.log()
        assert "status=%s" % status[0] in line[0], line[0]
        assert "dsn=%s" % status[1] in line[0], line[0]
        if status[0] == "deferred":
            st = wait_for(lambda: states(m, qid))
            assert st["bob@remote.test"][0] == "deferred", st
    finally:
        peer.close()
