"""SMTP AUTH (RFC 4954) against the real binary: PLAIN and LOGIN with
Python smtplib, swaks and raw dialogs; wrong passwords, unknown users,
bad base64, cancel, unknown mechanisms, AUTH twice, credentials kept out
of the logs, relaying and sender ownership after AUTH, listener modes,
the failed-AUTH ban, and ESMTPA in Received:.  TLS is not part of this
branch: the servers here set allow_plaintext_auth = yes, except the
tests that check what happens without it."""

import base64
import smtplib
import ssl
import subprocess

import pytest

from conftest import BIN, free_port
from smtpclient import RawSMTP, queue_id

PLAINTEXT = "allow_plaintext_auth = yes\nauth_failure_delay = 0s\n" \
    "auth_max_failures = 1000"
# loopback is outside relay_networks here, so relaying needs AUTH
NO_RELAY = "192.0.2.0/24"
MSG = b"Subject: auth test\r\n\r\nhello\r\n.\r\n"


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s) \
        .decode()


def plain(user, pw, authz=""):
    return b64("%s\0%s\0%s" % (authz, user, pw))


@pytest.fixture(scope="module")
def amta(mta_module_factory):
    """AUTH allowed without TLS, no delay, no ban; no relay without AUTH."""
    return mta_module_factory(extra=PLAINTEXT,
                              relay_networks=NO_RELAY).start()


@pytest.fixture(scope="module")
def strict(mta_module_factory):
    """The defaults: allow_plaintext_auth = no, and no TLS on this branch."""
    return mta_module_factory().start()


def session(port):
    c = RawSMTP(port)
    c.ehlo()
    return c


# ---- offering AUTH ----

def test_ehlo_offers_auth_when_plaintext_allowed(amta):
    with RawSMTP(amta.port) as c:
        r = c.ehlo()
        assert "AUTH PLAIN LOGIN" in r.texts


def test_no_auth_without_tls_by_default(strict):
    with RawSMTP(strict.port) as c:
        r = c.ehlo()
        assert not any(t.upper().startswith("AUTH") for t in r.texts)
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw"),
                 538, "5.7.11")
        c.expect("AUTH LOGIN", 538, "5.7.11")
        c.expect("NOOP", 250)


def test_submission_needs_starttls_then_auth(strict):
    with RawSMTP(strict.sub_port) as c:
        r = c.ehlo()
        assert not any(t.upper().startswith("AUTH") for t in r.texts)
        r = c.expect("AUTH PLAIN " + plain("alice@example.test",
                                           "alice-pw"), 530, "5.7.0")
        assert "STARTTLS" in r.text
        r = c.expect("MAIL FROM:<alice@example.test>", 530, "5.7.0")
        assert "Authentication required" in r.text


# ---- success ----

def test_smtplib_login_plain_and_send(mta_factory):
    m = mta_factory(extra=PLAINTEXT, relay_networks=NO_RELAY).start()
    with smtplib.SMTP("127.0.0.1", m.port) as c:
        c.ehlo("client.test")
        code, text = c.login("alice@example.test", "alice-pw")
        assert (code, text[:5]) == (235, b"2.7.0")
        c.sendmail("alice@example.test", ["bob@example.test"],
                   b"Subject: hi\r\n\r\nbody\r\n")
    msgs = m.wait_messages("bob@example.test", 1)
    assert len(msgs) == 1
    assert b"with ESMTPA id" in msgs[0]
    log = m.log()
    assert "event=auth client=[127.0.0.1]:" in log
    # the message's line carries the login too
    assert [l for l in log.splitlines() if "postbote/smtpd" in l and
            " size=" in l and l.endswith(" auth=alice@example.test")]


def test_smtplib_login_mechanism(amta):
    with smtplib.SMTP("127.0.0.1", amta.port) as c:
        c.ehlo("client.test")
        c.user, c.password = "bob@example.test", "bob-pw"
        code, _ = c.auth("LOGIN", c.auth_login, initial_response_ok=False)
        assert code == 235


def test_login_with_initial_response(amta):
    with session(amta.port) as c:
        r = c.expect("AUTH LOGIN " + b64("alice@example.test"), 334)
        assert base64.b64decode(r.texts[0]) == b"Password:"
        c.expect(b64("alice-pw"), 235, "2.7.0")


def test_plain_without_initial_response(amta):
    with session(amta.port) as c:
        r = c.expect("AUTH PLAIN", 334)
        assert r.lines == [b"334 "]
        c.expect(plain("alice@example.test", "alice-pw"), 235, "2.7.0")


def test_plain_authzid_equal_and_case(amta):
    with session(amta.port) as c:
        c.expect("AUTH plain " + plain("Alice@Example.Test", "alice-pw",
                                       "alice@example.test"), 235)
    with session(amta.port) as c:
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw",
                                       "bob@example.test"), 535, "5.7.8")


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_auth(mta_factory, mech):
    m = mta_factory(extra=PLAINTEXT, relay_networks=NO_RELAY).start()
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(m.port),
         "--from", "carol@example.org", "--to", "alice@example.test",
         "--auth", mech, "--auth-user", "carol@example.org",
         "--auth-password", "carol-pw", "--helo", "client.test",
         "--timeout", "20"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0" in r.stdout
    msgs = m.wait_messages("alice@example.test", 1)
    assert len(msgs) == 1 and b"with ESMTPA" in msgs[0]


def test_swaks_wrong_password(amta):
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(amta.port),
         "--to", "alice@example.test", "--auth", "LOGIN",
         "--auth-user", "alice@example.test", "--auth-password", "nope",
         "--timeout", "20"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "535 5.7.8" in r.stdout


# ---- failures ----

def test_wrong_password_and_unknown_user(amta):
    with session(amta.port) as c:
        c.expect("AUTH PLAIN " + plain("alice@example.test", "wrong"),
                 535, "5.7.8")
        c.expect("AUTH PLAIN " + plain("nobody@example.test", "alice-pw"),
                 535, "5.7.8")
        c.expect("AUTH PLAIN " + plain("not an address", "x"), 501)
        c.expect("AUTH PLAIN " + plain("alice@example.test", ""), 535)
        # still usable afterwards
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw"),
                 235)


def test_bad_base64(amta):
    with session(amta.port) as c:
        c.expect("AUTH PLAIN !!!!", 501, "5.5.2")
        c.expect("AUTH PLAIN AGFsaWNl", 501, "5.5.2")    # one NUL only
        c.expect("AUTH PLAIN", 334)
        c.expect("not-base64", 501, "5.5.2")
        c.expect("AUTH LOGIN", 334)
        c.expect("YQ", 501, "5.5.2")
        c.expect("NOOP", 250)


def test_cancel(amta):
    with session(amta.port) as c:
        c.expect("AUTH PLAIN *", 501, "5.7.0")
        c.expect("AUTH PLAIN", 334)
        c.expect("*", 501, "5.7.0")
        c.expect("AUTH LOGIN", 334)
        c.expect(b64("alice@example.test"), 334)
        c.expect("*", 501, "5.7.0")
        c.expect("NOOP", 250)


def test_empty_initial_response(amta):
    with session(amta.port) as c:
        c.expect("AUTH PLAIN =", 501, "5.5.2")


def test_unknown_mechanism(amta):
    with session(amta.port) as c:
        c.expect("AUTH CRAM-MD5", 504, "5.5.4")
        c.expect("AUTH SCRAM-SHA-256 biws", 504, "5.5.4")
        c.expect("AUTH", 501, "5.5.4")
        c.expect("AUTH PLAIN a b", 501, "5.5.4")


def test_auth_twice_and_in_transaction(amta):
    with session(amta.port) as c:
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw"),
                 235)
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw"),
                 503, "5.5.1")
    with session(amta.port) as c:
        c.expect("MAIL FROM:<x@remote.test>", 250)
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw"),
                 503, "5.5.1")
    with RawSMTP(amta.port) as c:
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw"),
                 503, "5.5.1")                        # before EHLO
        c.expect("HELO client.test", 250)
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw"),
                 503, "5.5.1")                        # HELO: no ESMTP


def test_exchange_line_too_long(amta):
    with session(amta.port) as c:
        c.expect("AUTH PLAIN", 334)
        c.expect("QUFB" * 400, 500, "5.5.6")
        c.expect("NOOP", 250)


def test_auth_data_never_logged(mta_factory):
    m = mta_factory(extra=PLAINTEXT).start()
    secret = "Canary-Pw-7431"
    bad = plain("alice@example.test", secret)
    good = plain("alice@example.test", "alice-pw")
    with session(m.port) as c:
        c.expect("AUTH PLAIN " + bad, 535)
        c.expect("AUTH LOGIN", 334)
        c.expect(b64("alice@example.test"), 334)
        c.expect(b64(secret), 535)
        c.expect("AUTH PLAIN", 334)
        c.expect(good, 235)
        c.expect("QUIT", 221)
    m.stop()
    log = m.log()
    for s in (secret, bad, good, b64(secret), "alice-pw"):
        assert s not in log
    assert "event=auth-failed client=[127.0.0.1]:" in log
    assert "auth=alice@example.test" in log


def test_failure_is_delayed_but_answered(mta_factory):
    # the default auth_failure_delay (1s, growing): 535 still comes
    m = mta_factory(extra="allow_plaintext_auth = yes").start()
    with session(m.port) as c:
        c.expect("AUTH PLAIN " + plain("alice@example.test", "x"), 535,
                 "5.7.8")
        c.expect("AUTH PLAIN " + plain("alice@example.test", "y"), 535,
                 "5.7.8")
        c.expect("NOOP", 250)


# ---- after AUTH: relay, sender ownership, envelope ----

def test_relay_needs_auth(amta):
    with session(amta.port) as c:
        c.expect("MAIL FROM:<alice@example.test>", 250)
        c.expect("RCPT TO:<someone@remote.test>", 554, "5.7.1")
        c.expect("RCPT TO:<bob@example.test>", 250)      # local: fine
    with session(amta.port) as c:
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw"),
                 235)
        c.expect("MAIL FROM:<alice@example.test>", 250)
        c.expect("RCPT TO:<someone@remote.test>", 250)
        c.expect("RCPT TO:<user%remote.test@example.test>", 550)


def test_sender_must_be_owned(amta):
    with session(amta.port) as c:
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw"),
                 235)
        r = c.expect("MAIL FROM:<bob@example.test>", 553, "5.7.1")
        assert "alice@example.test" in r.text
        c.expect("MAIL FROM:<someone@remote.test>", 553, "5.7.1")
        c.expect("MAIL FROM:<ALICE@example.test>", 250)
        c.expect("RSET", 250)
        c.expect("MAIL FROM:<alice+tag@example.test>", 250)
        c.expect("RSET", 250)
        # aliases that reach alice: postmaster, team (alice and bob)
        c.expect("MAIL FROM:<postmaster@example.test>", 250)
        c.expect("RSET", 250)
        c.expect("MAIL FROM:<team@example.test>", 250)
        c.expect("RSET", 250)
        c.expect("MAIL FROM:<>", 250)                 # bounces
    with session(amta.port) as c:
        c.expect("AUTH PLAIN " + plain("carol@example.org", "carol-pw"),
                 235)
        # the catch-all of example.org reaches carol
        c.expect("MAIL FROM:<anything@example.org>", 250)
        c.expect("RSET", 250)
        c.expect("MAIL FROM:<alice@example.test>", 553, "5.7.1")


def test_sender_login_match_off(mta_factory):
    m = mta_factory(extra=PLAINTEXT + "\nsender_login_match = no").start()
    with session(m.port) as c:
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw"),
                 235)
        c.expect("MAIL FROM:<bob@example.test>", 250)


def test_submission_after_auth(mta_factory):
    m = mta_factory(extra=PLAINTEXT, relay_networks=NO_RELAY).start()
    m.dns.set_rcode("remote.test", None, "SERVFAIL")   # stays queued
    with session(m.sub_port) as c:
        c.expect("MAIL FROM:<alice@example.test>", 530, "5.7.0")
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw"),
                 235)
        c.transaction("alice@example.test", ["bob@example.test",
                                             "x@remote.test"])
        c.expect("DATA", 354)
        c.send(MSG)
        r = c.reply()
        assert r.code == 250, r
        qid = queue_id(r)
    msgs = m.wait_messages("bob@example.test", 1)
    assert len(msgs) == 1 and b"with ESMTPA" in msgs[0]
    show = subprocess.run([BIN, "queue", "-c", m.conf, "show", qid],
                          capture_output=True, text=True, timeout=30)
    assert show.returncode == 0, show.stderr
    assert "alice@example.test" in show.stdout
    assert [l for l in show.stdout.splitlines()
            if l.startswith("auth:") and "alice@example.test" in l]


def test_mail_auth_parameter(amta):
    with session(amta.port) as c:
        c.expect("MAIL FROM:<alice@example.test> AUTH=<>", 250)
        c.expect("RSET", 250)
        c.expect("MAIL FROM:<alice@example.test> AUTH=a+0Db", 501)
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw"),
                 235)
        c.expect("MAIL FROM:<alice@example.test> "
                 "AUTH=alice+40example.test", 250)


# ---- the failed-AUTH ban ----

def test_failed_auth_ban(mta_factory):
    m = mta_factory(extra="allow_plaintext_auth = yes\n"
                    "auth_failure_delay = 0s\nauth_max_failures = 2\n"
                    "auth_ban_time = 1h").start()
    with session(m.port) as c:
        c.expect("AUTH PLAIN " + plain("alice@example.test", "a"), 535)
        c.expect("AUTH PLAIN " + plain("alice@example.test", "b"), 535)
        c.expect("AUTH PLAIN " + plain("alice@example.test", "c"), 535)
        r = c.reply()
        assert (r.code, r.enhanced) == (421, "4.7.0")
        assert c.is_closed()
    with RawSMTP(m.port, greet=False) as c:
        r = c.reply()
        assert (r.code, r.enhanced) == (421, "4.7.0")
        assert "try again later" in r.text
        assert c.is_closed()
    assert "too many failed logins" in m.log()


def test_parallel_sessions_share_the_failure_budget(mta_factory):
    """48 sessions from one IP, opened before any failure: 47 send a wrong
    password at the same time, then the last one the right password.  The
    ban was checked only at connect and after a 535, so all 47 passwords
    were checked (47 x 535) and the right one was then accepted (235).
    The failures and the checks in flight now share one budget per IP,
    checked before a password goes to lookup: at most auth_max_failures + 1
    are checked, and once banned no password is."""
    m = mta_factory(extra="allow_plaintext_auth = yes\n"
                    "auth_failure_delay = 0s\nauth_max_failures = 5\n"
                    "auth_ban_time = 1h").start()
    cs = [session(m.port) for _ in range(48)]
    try:
        for i, c in enumerate(cs[:47]):
            c.send("AUTH PLAIN %s\r\n" % plain("alice@example.test",
                                                "wrong-%d" % i))
        first = [c.reply() for c in cs[:47]]
        codes = [r.code for r in first]
        assert codes.count(535) <= 6, codes
        assert set(codes) <= {535, 454, 421}, first
        r = cs[47].cmd("AUTH PLAIN " + plain("alice@example.test",
                                             "alice-pw"))
        assert (r.code, r.enhanced) == (421, "4.7.0"), r
        assert cs[47].is_closed()
    finally:
        for c in cs:
            c.close()
    assert m.log().count("event=auth-failed") <= 6
    with RawSMTP(m.port, greet=False) as c:       # and banned at connect
        r = c.reply()
        assert (r.code, r.enhanced) == (421, "4.7.0")


def test_auth_refused_at_once_when_banned(mta_factory):
    """A session opened before the ban gets 421 at AUTH, without being
    asked for credentials."""
    m = mta_factory(extra="allow_plaintext_auth = yes\n"
                    "auth_failure_delay = 0s\nauth_max_failures = 1\n"
                    "auth_ban_time = 1h").start()
    with session(m.port) as early, session(m.port) as c:
        c.expect("AUTH PLAIN " + plain("alice@example.test", "a"), 535)
        c.expect("AUTH PLAIN " + plain("alice@example.test", "b"), 535)
        assert c.reply().code == 421
        r = early.cmd("AUTH LOGIN")
        assert (r.code, r.enhanced) == (421, "4.7.0"), r
        assert early.is_closed()


def test_submissions_listener_needs_auth(mta_factory):
    # implicit TLS (RFC 8314), then the same rule: AUTH before MAIL
    port = free_port()
    m = mta_factory(extra=PLAINTEXT + "\n[listen subs]\n"
                    "address = 127.0.0.1:%d\nmode = submissions" % port)
    m.start()
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    with RawSMTP(port, greet=False) as c:
        c.sock = tls.wrap_socket(c.sock)
        assert c.reply().code == 220
        c.ehlo()
        c.expect("MAIL FROM:<alice@example.test>", 530, "5.7.0")
        c.expect("AUTH PLAIN " + plain("alice@example.test", "alice-pw"),
                 235)
        c.expect("MAIL FROM:<alice@example.test>", 250)
        c.expect("RCPT TO:<x@remote.test>", 250)
