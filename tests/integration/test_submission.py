"""Submission as users and applications do it: STARTTLS or implicit TLS,
then AUTH, with the real clients the issue names (swaks, curl, Python
smtplib, openssl s_client), under the default allow_plaintext_auth = no.
The TLS and AUTH parts have their own files; this one checks that they
work together: AUTH is offered and accepted only once TLS is up, state
from before STARTTLS is forgotten, and Received: says ESMTPSA."""

import base64
import re
import smtplib

import pytest

from smtpclient import RawSMTP
from test_tls import client_ctx as ctx, need, run

ALICE = "alice@example.test"
BOB = "bob@example.test"
REMOTE = "someone@remote.test"
NO_RELAY = "192.0.2.0/24"        # loopback may not relay without AUTH


def plain(user, pw):
    return base64.b64encode(("\0%s\0%s" % (user, pw)).encode()).decode()


@pytest.fixture(scope="module")
def smta(mta_module_factory):
    m = mta_module_factory(relay_networks=NO_RELAY)
    with open(m.conf, "a") as f:
        f.write("[listen submissions]\naddress = 127.0.0.1:%d\n"
                "mode = submissions\n" % m.subs_port)
    return m.start()


def tls_session(port):
    c = RawSMTP(port)
    c.ehlo()
    c.expect("STARTTLS", 220, "2.0.0")
    c.sock = ctx().wrap_socket(c.sock)
    return c


def test_auth_offered_only_after_starttls(smta):
    for port in (smta.port, smta.sub_port):
        with RawSMTP(port) as c:
            r = c.ehlo()
            assert "STARTTLS" in r.texts and "AUTH" not in r.text
        c = tls_session(port)
        r = c.ehlo()
        assert "AUTH PLAIN LOGIN" in r.texts and "STARTTLS" not in r.texts
        c.expect("AUTH PLAIN " + plain(ALICE, "alice-pw"), 235, "2.7.0")
        c.close()


def test_auth_before_tls_refused(smta):
    with RawSMTP(smta.port) as c:
        c.ehlo()
        c.expect("AUTH PLAIN " + plain(ALICE, "alice-pw"), 538, "5.7.11")
    with RawSMTP(smta.sub_port) as c:
        c.ehlo()
        r = c.cmd("AUTH PLAIN " + plain(ALICE, "alice-pw"))
        assert r.code in (530, 538), r
        c.expect("MAIL FROM:<%s>" % ALICE, 530, "5.7.0")


def test_submission_needs_auth_after_tls(smta):
    c = tls_session(smta.sub_port)
    c.ehlo()
    c.expect("MAIL FROM:<%s>" % ALICE, 530, "5.7.0")
    c.expect("AUTH PLAIN " + plain(ALICE, "wrong"), 535, "5.7.8")
    c.expect("AUTH PLAIN " + plain(ALICE, "alice-pw"), 235, "2.7.0")
    c.expect("MAIL FROM:<%s>" % ALICE, 250)
    c.expect("RCPT TO:<%s>" % BOB, 250)
    c.close()


def test_smtplib_starttls_login_sends_with_esmtpsa(smta):
    with smtplib.SMTP("127.0.0.1", smta.sub_port, timeout=20) as c:
        c.starttls(context=ctx())
        c.login(ALICE, "alice-pw")
        c.sendmail(ALICE, [BOB], b"Subject: sub1\r\n\r\nhello\r\n")
    msg = smta.wait_subject(BOB, b"Subject: sub1")
    assert re.search(rb"with ESMTPSA id ", msg), msg


def test_smtplib_ssl_login(smta):
    with smtplib.SMTP_SSL("127.0.0.1", smta.subs_port, timeout=20,
                          context=ctx()) as c:
        c.ehlo("client.test")
        assert "auth" in c.esmtp_features
        c.login(BOB, "bob-pw")
        c.sendmail(BOB, [ALICE], b"Subject: sub2\r\n\r\nhello\r\n")
    assert b"with ESMTPSA" in smta.wait_subject(ALICE, b"Subject: sub2")


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_tls_auth(smta, mech):
    p = run([need("swaks"), "--server", "127.0.0.1:%d" % smta.sub_port,
             "--tls", "--auth", mech, "--auth-user", ALICE,
             "--auth-password", "alice-pw", "--from", ALICE, "--to", BOB,
             "--helo", "swaks.client.test", "--timeout", "20"])
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out
    assert "TLS started" in out and "235 2.7.0" in out, out
    assert "alice-pw" not in smta.log()


def test_swaks_tlsc_auth_wrong_password(smta):
    p = run([need("swaks"), "--server", "127.0.0.1:%d" % smta.subs_port,
             "--tlsc", "--auth", "PLAIN", "--auth-user", ALICE,
             "--auth-password", "not-it", "--from", ALICE, "--to", BOB,
             "--timeout", "20"])
    out = p.stdout.decode(errors="replace")
    assert p.returncode != 0 and "535 5.7.8" in out, out


def test_curl_starttls_auth(smta, tmp_path):
    f = tmp_path / "m.eml"
    f.write_bytes(b"Subject: sub3 curl\r\n\r\nhello\r\n")
    p = run([need("curl"), "-sS", "--max-time", "30", "--ssl-reqd", "-k",
             "smtp://127.0.0.1:%d/curl.client.test" % smta.sub_port,
             "--user", "%s:alice-pw" % ALICE, "--mail-from", ALICE,
             "--mail-rcpt", BOB, "-T", str(f)])
    assert p.returncode == 0, p.stdout
    assert b"with ESMTPSA" in smta.wait_subject(BOB, b"Subject: sub3 curl")


def test_curl_smtps_auth_relays(smta, tmp_path):
    f = tmp_path / "m.eml"
    f.write_bytes(b"Subject: sub4 relay\r\n\r\nhello\r\n")
    p = run([need("curl"), "-sS", "--max-time", "30", "-k",
             "smtps://127.0.0.1:%d/curl.client.test" % smta.subs_port,
             "--user", "%s:bob-pw" % BOB, "--mail-from", BOB,
             "--mail-rcpt", REMOTE, "-T", str(f)])
    assert p.returncode == 0, p.stdout


def test_relay_refused_without_auth_over_tls(smta):
    c = tls_session(smta.port)
    c.ehlo()
    c.expect("MAIL FROM:<%s>" % ALICE, 250)
    c.expect("RCPT TO:<%s>" % REMOTE, 554, "5.7.1")
    c.close()


def test_auth_forgotten_after_starttls(mta_factory):
    """RFC 3207 4.2: nothing from before the handshake survives, not
    even a login made in plaintext (allowed here on purpose)."""
    m = mta_factory(extra="allow_plaintext_auth = yes",
                    relay_networks=NO_RELAY).start()
    c = RawSMTP(m.sub_port)
    c.ehlo()
    c.expect("AUTH PLAIN " + plain(ALICE, "alice-pw"), 235, "2.7.0")
    c.expect("STARTTLS", 220, "2.0.0")
    c.sock = ctx().wrap_socket(c.sock)
    c.ehlo()
    c.expect("MAIL FROM:<%s>" % ALICE, 530, "5.7.0")
    c.close()


def test_openssl_s_client_auth(smta):
    dialog = ("EHLO client.test\nAUTH PLAIN %s\nQUIT\n"
              % plain(ALICE, "alice-pw")).encode()
    p = run([need("openssl"), "s_client", "-connect",
             "127.0.0.1:%d" % smta.sub_port, "-starttls", "smtp", "-crlf",
             "-quiet"], input=dialog)
    out = p.stdout.decode(errors="replace")
    assert "235 2.7.0" in out, out
