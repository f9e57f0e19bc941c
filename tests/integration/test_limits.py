"""Abuse limits against the real binary: max_connections and
max_connections_per_ip (421 4.7.0 at connect), message and recipient
rates per client IP and per authenticated user (450 4.7.1), the
exemption of relay_networks clients from the per-IP rates, per-session
caps, the minimum data rate for DATA and BDAT with a slow client
(421 4.4.2), and the idle timeout."""

import base64
import socket
import ssl
import time

import pytest

from conftest import free_port
from smtpclient import RawSMTP

MSG = b"Subject: limits\r\n\r\nhello\r\n.\r\n"
NO_RELAY = "192.0.2.0/24"


def plain(user, pw):
    return base64.b64encode(("\0%s\0%s" % (user, pw)).encode()).decode()


def session(port):
    c = RawSMTP(port)
    c.ehlo()
    return c


def refused_at_connect(port):
    with RawSMTP(port, greet=False) as c:
        r = c.reply()
        return r.code == 421 and r.enhanced == "4.7.0" and c.is_closed()


def test_max_connections_per_ip(mta_factory):
    m = mta_factory(extra="max_connections_per_ip = 2",
                    relay_networks=NO_RELAY).start()
    time.sleep(0.3)         # the start-up probe's session has ended
    a, b = session(m.port), session(m.port)
    try:
        assert refused_at_connect(m.port)
        a.expect("QUIT", 221)
        assert a.is_closed()
        time.sleep(0.2)
        with session(m.port) as c:
            c.expect("NOOP", 250)
        b.expect("NOOP", 250)
    finally:
        a.close()
        b.close()
    assert "max_connections_per_ip" in m.log()


def test_relay_networks_not_limited_per_ip(mta_factory):
    m = mta_factory(extra="max_connections_per_ip = 2").start()
    cs = [session(m.port) for _ in range(4)]
    try:
        for c in cs:
            c.expect("NOOP", 250)
    finally:
        for c in cs:
            c.close()


def test_max_connections(mta_factory):
    m = mta_factory(extra="max_connections = 3\n"
                    "max_connections_per_ip = 0").start()
    time.sleep(0.3)
    cs = [session(m.port) for _ in range(3)]
    try:
        assert refused_at_connect(m.port)
        cs[0].expect("QUIT", 221)
        assert cs[0].is_closed()
        time.sleep(0.2)
        with session(m.port) as c:
            c.expect("NOOP", 250)
    finally:
        for c in cs:
            c.close()


def test_message_rate_per_ip(mta_factory):
    m = mta_factory(extra="rate_messages_per_minute = 2",
                    relay_networks=NO_RELAY).start()
    with session(m.port) as c:
        for _ in range(2):
            c.expect("MAIL FROM:<x@remote.test>", 250)
            c.expect("RSET", 250)
        c.expect("MAIL FROM:<x@remote.test>", 450, "4.7.1")
    with session(m.port) as c:      # per IP, not per session
        c.expect("MAIL FROM:<x@remote.test>", 450, "4.7.1")
    assert 'reason="message rate limit"' in m.log()


def test_recipient_rate_per_ip(mta_factory):
    m = mta_factory(extra="rate_recipients_per_hour = 3",
                    relay_networks=NO_RELAY).start()
    with session(m.port) as c:
        c.expect("MAIL FROM:<x@remote.test>", 250)
        for _ in range(3):
            c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("RCPT TO:<bob@example.test>", 450, "4.7.1")
        c.expect("DATA", 354)
        c.send(MSG)
        assert c.reply().code == 250
    assert len(m.wait_messages("alice@example.test", 1)) == 1
    assert m.messages("bob@example.test") == []


def test_relay_networks_not_rate_limited_by_default(mta_factory):
    # loopback is in the default relay_networks: the default
    # rate_messages_per_minute (60) does not apply to it
    m = mta_factory().start()
    with session(m.port) as c:
        for _ in range(70):
            c.expect("MAIL FROM:<x@remote.test>", 250)
            c.expect("RCPT TO:<alice@example.test>", 250)
            c.expect("RSET", 250)


def test_message_rate_per_user(mta_factory):
    # the client is in relay_networks (no per-IP rate) but authenticated
    m = mta_factory(extra="allow_plaintext_auth = yes\n"
                    "rate_messages_per_minute = 2").start()
    for _ in range(2):
        with session(m.port) as c:
            c.expect("AUTH PLAIN " + plain("alice@example.test",
                                           "alice-pw"), 235)
            c.expect("MAIL FROM:<alice@example.test>", 250)
    with session(m.port) as c:
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw"),
                 235)
        c.expect("MAIL FROM:<alice@example.test>", 450, "4.7.1")
    with session(m.port) as c:      # another user has its own count
        c.expect("AUTH PLAIN " + plain("bob@example.test", "bob-pw"), 235)
        c.expect("MAIL FROM:<bob@example.test>", 250)


def test_max_messages_per_session(mta_factory):
    m = mta_factory(extra="max_messages_per_session = 2").start()
    with session(m.port) as c:
        for _ in range(2):
            c.transaction("x@remote.test", ["alice@example.test"])
            c.expect("DATA", 354)
            c.send(MSG)
            assert c.reply().code == 250
        c.expect("MAIL FROM:<x@remote.test>", 421, "4.7.0")
        assert c.is_closed()
    assert len(m.wait_messages("alice@example.test", 2)) == 2


def test_max_recipients_per_session(mta_factory):
    m = mta_factory(extra="max_recipients_per_session = 3").start()
    with session(m.port) as c:
        c.transaction("x@remote.test", ["alice@example.test",
                                        "bob@example.test"])
        c.expect("RSET", 250)
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("RCPT TO:<carol@example.org>", 250)
        c.expect("RCPT TO:<alice@example.test>", 452, "4.5.3")


def slow_body(c, chunks, pause):
    for part in chunks:
        try:
            c.send(part)
        except OSError:
            return
        time.sleep(pause)


def test_min_data_rate_drops_slow_data(mta_factory):
    m = mta_factory(extra="min_data_rate = 1000\n"
                    "data_rate_window = 1s").start()
    with session(m.port) as c:
        c.transaction("x@remote.test", ["alice@example.test"])
        c.expect("DATA", 354)
        slow_body(c, [b"Subject: slow\r\n"] + [b"x"] * 12, 0.25)
        r = c.reply()
        assert (r.code, r.enhanced) == (421, "4.4.2")
        assert c.is_closed()
    assert "event=slow-data" in m.log()
    time.sleep(0.5)
    assert m.queued() == []
    assert m.messages("alice@example.test") == []


def test_min_data_rate_drops_slow_bdat(mta_factory):
    m = mta_factory(extra="min_data_rate = 1000\n"
                    "data_rate_window = 1s").start()
    with session(m.port) as c:
        c.transaction("x@remote.test", ["alice@example.test"])
        c.send(b"BDAT 100 LAST\r\n")
        slow_body(c, [b"y"] * 12, 0.25)
        r = c.reply()
        assert (r.code, r.enhanced) == (421, "4.4.2")
        assert c.is_closed()
    assert m.messages("alice@example.test") == []


def test_min_data_rate_spares_a_normal_client(mta_factory):
    m = mta_factory(extra="min_data_rate = 1000\n"
                    "data_rate_window = 1s").start()
    with session(m.port) as c:
        c.transaction("x@remote.test", ["alice@example.test"])
        c.expect("DATA", 354)
        c.send(b"Subject: fast\r\n\r\n" + b"z" * 200000 + b"\r\n.\r\n")
        assert c.reply().code == 250
        # idle between messages is the command timeout's business
        time.sleep(1.5)
        c.expect("NOOP", 250)
    assert len(m.wait_messages("alice@example.test", 1)) == 1


def test_idle_timeout(mta_factory):
    m = mta_factory(extra="command_timeout = 1s").start()
    with session(m.port) as c:
        r = c.reply()           # waits for the server's 421
        assert (r.code, r.enhanced) == (421, "4.4.2")
        assert c.is_closed()


def test_max_connections_per_ip_ipv6(mta_factory):
    # IPv6 clients are counted per /64; ::1 is the one we can test from
    port = free_port()
    m = mta_factory(extra="max_connections_per_ip = 1\n[listen v6]\n"
                    "address = [::1]:%d" % port,
                    relay_networks=NO_RELAY).start()
    with RawSMTP(port, host="::1") as a:
        a.ehlo()
        with RawSMTP(port, host="::1", greet=False) as b:
            r = b.reply()
            assert (r.code, r.enhanced) == (421, "4.7.0")
        a.expect("NOOP", 250)
    assert "client=[::1]:" in m.log()


def test_implicit_tls_listener_past_the_limit_just_closes(mta_factory):
    """A client of a submissions listener expects a TLS handshake: past
    max_connections it gets no plaintext 421 (that would only confuse its
    TLS stack), the connection is simply closed."""
    m = mta_factory(extra="max_connections = 1\nmax_connections_per_ip = 0")
    with open(m.conf, "a") as f:
        f.write("[listen submissions]\naddress = 127.0.0.1:%d\n"
                "mode = submissions\n" % m.subs_port)
    m.start()
    time.sleep(0.3)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with session(m.port) as held:          # takes the one connection
        with socket.create_connection(("127.0.0.1", m.subs_port), 10) as s:
            s.settimeout(10)
            assert s.recv(512) == b""      # closed, nothing written
        held.expect("NOOP", 250)
    time.sleep(0.2)
    with socket.create_connection(("127.0.0.1", m.subs_port), 10) as s:
        with ctx.wrap_socket(s) as t:
            assert t.recv(512).startswith(b"220 ")
