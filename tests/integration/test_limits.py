"""Abuse limits against the real binary: max_connections and
max_connections_per_ip (421 4.7.0 at connect), message and recipient
rates per client IP and per authenticated user (450 4.7.1), the
exemption of relay_networks clients from the per-IP rates, per-session
caps, the minimum data rate for DATA and BDAT with a slow client
(421 4.4.2), and the idle timeout; junk commands, commands per message,
the session's time, clients that trickle commands or bytes, and a flood
of idle sessions from several addresses against the limits of a server
under stress."""

import base64
import socket
import ssl
import threading
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


# ---- junk, trickles, floods ----

def trickle(c, data, pause, until):
    """Send data piece by piece, one every pause seconds, while the
    server keeps the session open, at most until seconds; the time the
    server took to close it, or None if it never did."""
    t0 = time.time()
    for piece in data:
        if time.time() - t0 > until:
            return None
        try:
            c.send(piece)
        except OSError:
            break
        if c.is_closed(pause):
            break
    else:
        return None
    return time.time() - t0


def test_trickled_noops_do_not_hold_a_session(mta_factory):
    """A NOOP every half second restarted the idle timer each time: such
    a client stayed for ever.  Junk does not count as activity now: the
    session ends command_timeout after the last command that did
    something."""
    m = mta_factory(extra="command_timeout = 2s").start()
    with session(m.port) as c:
        took = trickle(c, [b"NOOP\r\n"] * 100, 0.5, 20)
        assert took is not None, "still open after 20 s of NOOPs"
        assert b"421 4.4.2 " in c.buf, c.buf
    assert "event=timeout" in m.log()


def test_endless_line_does_not_hold_a_session(mta_factory):
    """A line that never ends, a byte at a time: each byte restarted the
    idle timer.  The command must now be complete within
    command_timeout."""
    m = mta_factory(extra="command_timeout = 2s").start()
    with session(m.port) as c:
        took = trickle(c, [b"NOOP "] + [b"x"] * 100, 0.3, 20)
        assert took is not None, "still open after 20 s of one line"
        assert b"421 4.4.2 " in c.buf, c.buf


def test_fast_endless_line_does_not_hold_a_session(mta_factory):
    m = mta_factory(extra="command_timeout = 2s").start()
    with session(m.port) as c:
        took = trickle(c, [b"x" * 4096] * 2000, 0.01, 20)
        assert took is not None, "still open after 20 s of one line"
        assert b"421 4.4.2 " in c.buf, c.buf


def test_a_working_client_is_not_cut_by_the_idle_timer(mta_factory):
    """Commands that do something restart the timer, as before: a slow
    but real transaction is fine."""
    m = mta_factory(extra="command_timeout = 2s").start()
    with session(m.port) as c:
        for rcpt in ["alice@example.test", "bob@example.test",
                     "carol@example.org"]:
            time.sleep(0.6)
            c.expect("NOOP", 250)
            time.sleep(0.6)
            c.expect("RSET", 250)
            c.expect("MAIL FROM:<x@remote.test>", 250)
            time.sleep(1.2)
            c.expect("RCPT TO:<%s>" % rcpt, 250)
            time.sleep(1.2)
            c.expect("DATA", 354)
            c.send(MSG)
            assert c.reply().code == 250
        c.expect("QUIT", 221)


def test_junk_commands_are_limited(mta_factory):
    m = mta_factory(extra="max_junk_commands = 5").start()
    with session(m.port) as c:
        for line in ["NOOP", "RSET", "HELP", "VRFY alice", "EHLO again.test"]:
            assert c.cmd(line).code in (214, 250, 252), line
        r = c.cmd("NOOP")
        assert (r.code, r.enhanced) == (421, "4.7.0"), r
        assert c.is_closed()
    assert "event=too-many-junk" in m.log()


def test_junk_count_starts_again_after_a_message(mta_factory):
    m = mta_factory(extra="max_junk_commands = 3").start()
    with session(m.port) as c:
        for _ in range(3):
            c.expect("NOOP", 250)
            c.expect("NOOP", 250)
            c.expect("RSET", 250)      # nothing to reset: junk
            c.transaction("x@remote.test", ["alice@example.test"])
            c.expect("DATA", 354)
            c.send(MSG)
            assert c.reply().code == 250
        for _ in range(5):
            c.expect("MAIL FROM:<x@remote.test>", 250)
            c.expect("RSET", 250)      # ends a transaction: not junk
        for _ in range(3):
            c.expect("NOOP", 250)
        r = c.cmd("NOOP")
        assert (r.code, r.enhanced) == (421, "4.7.0"), r


def test_421_reaches_a_client_that_keeps_sending(mta_factory):
    """A client that pipelines on after the limit: the server's close with
    unread input used to make the kernel reset the connection, so the
    client's next write failed and the 421 it had not read was lost.  The
    server now shuts its side and drops the rest of the input."""
    m = mta_factory(extra="max_junk_commands = 5").start()
    with session(m.port) as c:
        end = time.time() + 2
        while time.time() < end:
            c.send(b"NOOP\r\n" * 200)
            time.sleep(0.05)
        data = c.rest(15)
        assert c.eof
        assert data.count(b"250 ") == 5, data[:200]
        assert data.endswith(b"421 4.7.0 mx.example.test Error: too many "
                             b"junk commands without mail\r\n"), data[-200:]


def test_commands_per_message_are_limited(mta_factory):
    """Commands that are neither junk nor errors (RCPT past
    max_recipients gets 452) are bounded too, per message."""
    m = mta_factory(extra="max_recipients = 2\n"
                    "max_commands_per_message = 10").start()
    with session(m.port) as c:              # EHLO was the 1st
        c.transaction("x@remote.test", ["alice@example.test"])  # 3
        c.expect("DATA", 354)               # 4
        c.send(MSG)
        assert c.reply().code == 250
        c.expect("MAIL FROM:<x@remote.test>", 250)  # 1 again
        for _ in range(9):                  # 2-10
            assert c.cmd("RCPT TO:<r@remote.test>").code in (250, 452)
        r = c.cmd("RCPT TO:<r@remote.test>")
        assert (r.code, r.enhanced) == (421, "4.7.0"), r
        assert c.is_closed()
    assert "event=too-many-commands" in m.log()


def test_session_time_is_limited(mta_factory):
    """A client that keeps doing something still cannot stay longer than
    max_session_time."""
    m = mta_factory(extra="max_session_time = 2s").start()
    with session(m.port) as c:
        steps = [b"MAIL FROM:<x@remote.test>\r\n", b"RSET\r\n"] * 100
        took = trickle(c, steps, 0.3, 20)
        assert took is not None, "still open after 20 s"
        assert b"421 4.4.2 " in c.buf, c.buf
    assert "event=session-time" in m.log()


def test_session_time_ends_a_slow_message(mta_factory):
    m = mta_factory(extra="max_session_time = 2s\nmin_data_rate = 0").start()
    with session(m.port) as c:
        c.transaction("x@remote.test", ["alice@example.test"])
        c.expect("DATA", 354)
        took = trickle(c, [b"Subject: slow\r\n"] + [b"x"] * 100, 0.3, 20)
        assert took is not None
        assert b"421 4.4.2 " in c.buf, c.buf
    time.sleep(0.3)
    assert m.queued() == []
    assert m.messages("alice@example.test") == []


def from_ip(port, ip):
    s = socket.create_connection(("127.0.0.1", port), 5,
                                 source_address=(ip, 0))
    s.settimeout(5)
    return s


def test_stress_lowers_the_share_of_an_ip(mta_factory):
    """Near max_connections (stress_threshold of it) an IP may hold only
    stress_connections_per_ip: more are refused at connect, and those it
    holds beyond it are closed at their next command outside a
    transaction."""
    m = mta_factory(extra="max_connections = 10\nstress_threshold = 50\n"
                    "stress_connections_per_ip = 2",
                    relay_networks=NO_RELAY).start()
    time.sleep(0.3)
    held = []
    try:
        for _ in range(5):                  # 5 of 10: stress from now on
            held.append(RawSMTP(m.port, source="127.0.0.2"))
            assert held[-1].banner.code == 220
        with RawSMTP(m.port, source="127.0.0.2") as extra:
            assert (extra.banner.code, extra.banner.enhanced) == \
                (421, "4.7.0"), extra.banner
        other = RawSMTP(m.port, source="127.0.0.3")
        assert other.banner.code == 220     # within its share
        codes = [c.cmd("NOOP").code for c in held]
        assert codes == [421, 421, 250, 250, 250], codes
        other.expect("NOOP", 250)
    finally:
        for c in held:
            c.close()
    assert 'reason="stress_connections_per_ip"' in m.log()


def test_stress_shortens_the_command_timeout(mta_factory):
    """Under stress every session has stress_command_timeout for its next
    command that does something; without stress command_timeout."""
    m = mta_factory(extra="max_connections = 4\nstress_threshold = 50\n"
                    "stress_command_timeout = 1s").start()
    time.sleep(0.3)
    with session(m.port) as a, session(m.port) as b:   # 2 of 4: stress
        took = trickle(b, [b"NOOP\r\n"] * 100, 0.3, 20)
        assert took is not None, "not closed under stress"
        assert b"421 4.4.2 " in b.buf, b.buf
        assert a.is_closed(5)               # idle: closed too
    time.sleep(0.5)
    with session(m.port) as c:              # 1 of 4: no stress
        time.sleep(2.5)
        c.expect("NOOP", 250)
    assert "event=stress state=on" in m.log()


class Flood(threading.Thread):
    """Sessions from several source addresses that hold their slots with
    a NOOP every interval seconds and reconnect (after a second) when the
    server drops them, as the flood of the issue did (40 IPs x 50)."""

    def __init__(self, port, ips, per_ip, interval=0.5):
        super().__init__(daemon=True)
        self.port = port
        self.interval = interval
        self.slots = [[ip, None, 0.0] for ip in ips for _ in range(per_ip)]
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def held(self):
        with self.lock:
            return sum(1 for s in self.slots if s[1] is not None)

    def _drop(self, slot, now):
        try:
            slot[1].close()
        except OSError:
            pass
        slot[1], slot[2] = None, now + 1.0

    def _step(self, slot, now):
        ip, sock, when = slot
        if sock is None:
            if now < when:
                return
            try:
                sock = from_ip(self.port, ip)
                sock.setblocking(False)
            except OSError:
                slot[2] = now + 1.0
                return
            slot[1], slot[2] = sock, now
            return
        try:
            while True:
                if sock.recv(4096) == b"":
                    self._drop(slot, now)
                    return
        except BlockingIOError:
            pass
        except OSError:
            self._drop(slot, now)
            return
        if now - when >= self.interval:
            try:
                sock.send(b"NOOP\r\n")
                slot[2] = now
            except OSError:
                self._drop(slot, now)

    def run(self):
        while not self.stop.is_set():
            now = time.time()
            with self.lock:
                for slot in self.slots:
                    self._step(slot, now)
            time.sleep(0.05)
        with self.lock:
            for slot in self.slots:
                if slot[1] is not None:
                    slot[1].close()


def deliver_once(port, n):
    """One legitimate delivery in its own session; True if accepted."""
    try:
        with RawSMTP(port) as c:
            if c.banner.code != 220:
                return False
            c.ehlo("legit.test")
            r = c.transaction("sender@remote.test", ["alice@example.test"],
                              b"Subject: legit %d\r\n\r\nhello\r\n.\r\n"
                              % n)
            c.cmd("QUIT")
            return r.code == 250
    except (OSError, AssertionError):
        return False


def test_idle_flood_does_not_stop_the_mail(mta_factory):
    """The issue's flood, scaled to the suite: 4 addresses x 20 sessions
    sending NOOPs against max_connections = 40 (40 IPs x 50 against 1000
    held every slot, and legitimate deliveries went 0/6).  Near the limit
    each flooding IP keeps only its stress share, so the last slots stay
    free for other clients: all 6 deliveries go through."""
    m = mta_factory(extra="max_connections = 40\n"
                    "stress_connections_per_ip = 4",
                    relay_networks=NO_RELAY).start()
    flood = Flood(m.port, ["127.0.0.%d" % i for i in range(2, 6)], 20)
    flood.start()
    try:
        end = time.time() + 10
        while flood.held() < 32 and time.time() < end:
            time.sleep(0.1)
        time.sleep(2)                       # the flood settles
        ok = 0
        for n in range(6):
            ok += deliver_once(m.port, n)
            time.sleep(0.5)
    finally:
        flood.stop.set()
        flood.join(10)
    assert ok == 6, "%d of 6 deliveries accepted during the flood" % ok
    assert len(m.wait_messages("alice@example.test", 6)) == 6
