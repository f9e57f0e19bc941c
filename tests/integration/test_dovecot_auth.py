"""AUTH checked by Dovecot's auth service and recipients checked against
Dovecot's userdb, with a real, private Dovecot (dovecot.py) shared by the
file: PLAIN and LOGIN with smtplib (STARTTLS on the submission port) and
swaks, over the UNIX socket and TCP; a wrong password, an unknown user
and a password only postbote's own users file knows are refused; the
login Dovecot returns is the session's (sender checks, logs); a password
changed in Dovecot applies at once; a dead auth socket gives 454, never
success.  At RCPT, a mailbox Dovecot does not know is refused with 550
5.1.1, one it knows is delivered over LMTP and read back over IMAP, and
a dead userdb socket gives 451 4.3.0; answers are cached.  CRAM-MD5 and
SCRAM-SHA-256 (auth_mechanisms) are relayed to Dovecot step by step;
mail of a Dovecot login is DKIM-signed; `postbote check` takes the keys
and warns of a missing socket."""

import base64
import hashlib
import hmac
import re
import smtplib
import ssl
import subprocess
import time
import uuid

import dkim
import pytest

from conftest import BIN, free_port
from dovecot import NEEDS_DOVECOT, private_dovecot
from smtpclient import RawSMTP
from test_auth import NO_RELAY, PLAINTEXT, plain, b64
from test_authres import rsa_keys, write_key
from test_lmtp import wait_log

ALICE = "alice@example.test"
BOB = "bob@example.test"
CAROL = "carol@example.org"       # postbote's own user, in Maildir
# postbote's users file: only carol, whom Dovecot does not know
LOCAL_USERS = {CAROL: "carol-pw"}

pytestmark = NEEDS_DOVECOT


@pytest.fixture(scope="module")
def dv():
    yield from private_dovecot()


@pytest.fixture(scope="module")
def amta(mta_module_factory, dv):
    """AUTH by Dovecot over its UNIX socket, allowed without TLS on the
    mx port, no delay, no ban; no relay without AUTH."""
    return mta_module_factory(
        users=LOCAL_USERS, relay_networks=NO_RELAY,
        extra=PLAINTEXT + "\nauth_backend = dovecot:unix:%s\n"
        "auth_mechanisms = cram-md5 SCRAM-SHA-256" % dv.auth_socket).start()


@pytest.fixture(scope="module")
def rmta(mta_module_factory, dv):
    """example.test delivered to Dovecot over LMTP, its mailboxes checked
    at RCPT with Dovecot's userdb; example.org stays in Maildir."""
    return mta_module_factory(
        users=LOCAL_USERS,
        extra="smtp_client_timeout = 2s\n"
        "recipient_check = dovecot:unix:%s\n"
        "[domain example.test]\ndeliver = lmtp:unix:%s"
        % (dv.userdb_socket, dv.socket)).start()


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# ---- AUTH ----

@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_smtplib_submission_auth_through_dovecot(amta, mech):
    """alice is not in postbote's users file: only Dovecot knows her."""
    subject = "dovecot auth %s %s" % (mech, uuid.uuid4().hex)
    with smtplib.SMTP("127.0.0.1", amta.sub_port, timeout=20) as c:
        c.ehlo("client.test")
        c.starttls(context=tls_context())
        c.ehlo("client.test")
        assert "PLAIN" in c.esmtp_features["auth"]
        c.user, c.password = ALICE, "alice-pw"
        code, text = c.auth(mech, getattr(c, "auth_" + mech.lower()),
                            initial_response_ok=(mech == "PLAIN"))
        assert code == 235, text
        c.sendmail(ALICE, [CAROL], ("From: <%s>\r\nSubject: %s\r\n\r\nhi\r\n"
                                    % (ALICE, subject)).encode())
    raw = amta.wait_subject(CAROL, subject)
    assert b"with ESMTPSA" in raw
    wait_log(amta, r"event=auth client=\S+ mechanism=%s auth=%s" %
             (mech, re.escape(ALICE)))


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_auth_through_dovecot(amta, mech):
    subject = "swaks %s %s" % (mech, uuid.uuid4().hex)
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(amta.port),
         "--from", BOB, "--to", CAROL, "--auth", mech,
         "--auth-user", BOB, "--auth-password", "bob-pw",
         "--helo", "client.test", "--header", "Subject: " + subject,
         "--timeout", "20"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0" in r.stdout
    assert b"with ESMTPA" in amta.wait_subject(CAROL, subject)


def test_cram_md5_relayed_to_dovecot(amta):
    """A challenge-response mechanism postbote cannot check itself:
    offered because auth_mechanisms names it, relayed step by step."""
    with smtplib.SMTP("127.0.0.1", amta.port, timeout=20) as c:
        c.ehlo("client.test")
        assert c.esmtp_features["auth"].split() == [
            "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"]
        cram_md5_wrong_then_right(amta, c, ALICE, "alice-pw")


def cram_md5_wrong_then_right(m, c, user, password):
    """CRAM-MD5 on smtplib session c of server m: a wrong password gets
    535, the right one 235 and the log names user."""
    c.user, c.password = user, "wrong"
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        c.auth("CRAM-MD5", c.auth_cram_md5)
    assert e.value.smtp_code == 535
    c.user, c.password = user, password
    code, text = c.auth("CRAM-MD5", c.auth_cram_md5)
    assert code == 235, text
    wait_log(m, r"event=auth client=\S+ mechanism=CRAM-MD5 auth=%s" %
             re.escape(user))


def scram_sha256(c, user, password, nonce="rOprNGfwEbeRWgbNEkqO"):
    """RFC 7677 / RFC 5802 client over RawSMTP c; returns the last reply
    and the server signature it checked."""
    bare = "n=%s,r=%s" % (user, nonce)
    r = c.cmd("AUTH SCRAM-SHA-256 " + b64("n,," + bare))
    if r.code != 334:
        return r
    first = base64.b64decode(r.texts[-1]).decode()
    fields = dict(f.split("=", 1) for f in first.split(","))
    assert fields["r"].startswith(nonce)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(),
                                 base64.b64decode(fields["s"]),
                                 int(fields["i"]))
    ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(ckey).digest()
    final = "c=biws,r=" + fields["r"]
    msg = ",".join([bare, first, final]).encode()
    sig = hmac.new(stored, msg, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    r = c.cmd(b64(final + ",p=" + base64.b64encode(proof).decode()))
    if r.code != 334:
        return r
    skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    want = base64.b64encode(hmac.new(skey, msg, hashlib.sha256).digest())
    assert base64.b64decode(r.texts[-1]) == b"v=" + want
    return c.cmd("")


def test_scram_sha256_relayed_to_dovecot(amta):
    with RawSMTP(amta.port, timeout=20) as c:
        c.ehlo()
        r = scram_sha256(c, ALICE, "wrong")
        assert (r.code, r.enhanced) == (535, "5.7.8")
        r = scram_sha256(c, ALICE, "alice-pw")
        assert (r.code, r.enhanced) == (235, "2.7.0")
        c.expect("MAIL FROM:<%s>" % ALICE, 250)
    wait_log(amta, r"event=auth client=\S+ mechanism=SCRAM-SHA-256 auth=%s"
             % re.escape(ALICE))


def test_relayed_exchange_cancelled_and_bad_base64(amta):
    with RawSMTP(amta.port, timeout=20) as c:
        c.ehlo()
        c.expect("AUTH CRAM-MD5", 334)
        c.expect("*", 501, "5.7.0")
        c.expect("AUTH CRAM-MD5", 334)
        c.expect("not base64!", 501, "5.5.2")
        c.expect("AUTH DIGEST-MD5", 504, "5.5.4")
        c.expect("NOOP", 250)


def test_swaks_wrong_password(amta):
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(amta.port),
         "--from", ALICE, "--to", CAROL, "--auth", "LOGIN",
         "--auth-user", ALICE, "--auth-password", "nope",
         "--timeout", "20"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "535 5.7.8" in r.stdout


def test_wrong_password_unknown_user_and_postbote_only_user(amta):
    with RawSMTP(amta.port, timeout=20) as c:
        c.ehlo()
        c.expect("AUTH PLAIN " + plain(ALICE, "wrong"), 535, "5.7.8")
        c.expect("AUTH PLAIN " + plain("ghost@example.test", "x"), 535,
                 "5.7.8")
        # carol's password is right in postbote's users file, but the
        # passwords are Dovecot's now
        c.expect("AUTH LOGIN", 334)
        c.expect(b64(CAROL), 334)
        c.expect(b64("carol-pw"), 535, "5.7.8")
        # still usable: the right password of a Dovecot user
        c.expect("AUTH LOGIN " + b64(ALICE), 334)
        c.expect(b64("alice-pw"), 235, "2.7.0")
    log = amta.log()
    assert "alice-pw" not in log and "carol-pw" not in log


def test_login_dovecot_returns_is_the_sessions(amta):
    """Dovecot's auth_username_format (%Lu) gives the login in lower
    case: that login, not what the client typed, owns the senders."""
    with RawSMTP(amta.port, timeout=20) as c:
        c.ehlo()
        c.expect("AUTH PLAIN " + plain("Alice@EXAMPLE.test", "alice-pw"),
                 235, "2.7.0")
        c.expect("MAIL FROM:<%s>" % BOB, 553, "5.7.1")
        c.expect("MAIL FROM:<alice+list@example.test>", 250)
        c.expect("RCPT TO:<%s>" % CAROL, 250)
        c.expect("RSET", 250)
    wait_log(amta, r"event=auth client=\S+ mechanism=PLAIN "
             r"auth=alice@example\.test\n")
    assert "auth=Alice@EXAMPLE.test" not in amta.log()


def test_password_changed_in_dovecot_applies_at_once(amta, dv):
    """No reload of postbote: the next AUTH after Dovecot has read its
    changed passwd-file (it looks at it at most once a second) uses the
    new password, and the old one is refused."""
    dv.set_password(BOB, "bob-new-pw")
    try:
        end = time.time() + 10
        code = None
        while code != 235 and time.time() < end:
            with RawSMTP(amta.port, timeout=20) as c:
                c.ehlo()
                code = c.cmd("AUTH PLAIN " + plain(BOB, "bob-new-pw")).code
            time.sleep(0.2)
        assert code == 235
        with RawSMTP(amta.port, timeout=20) as c:
            c.ehlo()
            c.expect("AUTH PLAIN " + plain(BOB, "bob-pw"), 535, "5.7.8")
    finally:
        dv.set_password(BOB, "bob-pw")
    assert "event=reload" not in amta.log()


def test_auth_over_tcp(mta_factory, dv):
    m = mta_factory(users=LOCAL_USERS, extra=PLAINTEXT +
                    "\nauth_backend = dovecot:127.0.0.1:%d"
                    % dv.auth_port).start()
    with RawSMTP(m.port, timeout=20) as c:
        c.ehlo()
        c.expect("AUTH PLAIN " + plain(ALICE, "wrong"), 535, "5.7.8")
        c.expect("AUTH PLAIN " + plain(ALICE, "alice-pw"), 235, "2.7.0")


@pytest.mark.parametrize("where", ["unix", "tcp"])
def test_dead_auth_socket_gives_454(mta_factory, tmp_path, where):
    target = ("unix:%s" % (tmp_path / "no-such-socket") if where == "unix"
              else "127.0.0.1:%d" % free_port())
    m = mta_factory(users=LOCAL_USERS, relay_networks=NO_RELAY,
                    extra=PLAINTEXT + "\nauth_mechanisms = CRAM-MD5\n"
                    "auth_backend = dovecot:" + target).start()
    with RawSMTP(m.port, timeout=20) as c:
        c.ehlo()
        c.expect("AUTH PLAIN " + plain(ALICE, "alice-pw"), 454, "4.7.0")
        c.expect("AUTH CRAM-MD5", 454, "4.7.0")
        c.expect("AUTH LOGIN", 334)
        c.expect(b64(CAROL), 334)
        c.expect(b64("carol-pw"), 454, "4.7.0")
        # never authenticated: relaying stays closed
        c.expect("MAIL FROM:<%s>" % CAROL, 250)
        c.expect("RCPT TO:<someone@elsewhere.test>", 554, "5.7.1")
        c.expect("QUIT", 221)
    assert re.search(r"event=dovecot-error socket=dovecot:%s reason=" %
                     re.escape(target), m.log())
    assert "event=auth client" not in m.log()


# ---- recipients ----

def test_unknown_mailbox_refused_at_rcpt(rmta):
    with RawSMTP(rmta.port, timeout=20) as c:
        c.ehlo()
        c.expect("MAIL FROM:<%s>" % CAROL, 250)
        c.expect("RCPT TO:<ghost@example.test>", 550, "5.1.1")
        c.expect("RCPT TO:<Ghost+tag@Example.Test>", 550, "5.1.1")
        c.expect("RCPT TO:<%s>" % ALICE, 250)
        c.expect("RCPT TO:<alice+news@example.test>", 250)
        # RFC 5321 4.5.1: postmaster is always taken
        c.expect("RCPT TO:<postmaster@example.test>", 250)
        c.expect("RSET", 250)
    assert rmta.queued() == []


def test_known_mailbox_delivered_over_lmtp(rmta, dv):
    """alice is in no postbote table; Dovecot knows her: accepted at
    RCPT, delivered over LMTP, read over IMAP."""
    subject = "checked " + uuid.uuid4().hex
    with smtplib.SMTP("127.0.0.1", rmta.port, timeout=20) as c:
        c.ehlo("client.test")
        c.sendmail(CAROL, [ALICE], ("From: <%s>\r\nSubject: %s\r\n\r\n"
                                    "hi\r\n" % (CAROL, subject)).encode())
    end = time.time() + 20
    got = []
    while time.time() < end and not got:
        got = [x for x in dv.fetch_all(ALICE)
               if ("Subject: " + subject).encode() in x]
        time.sleep(0.1)
    assert len(got) == 1, rmta.log()
    assert rmta.wait_queue_empty() == []


def test_dead_userdb_socket_gives_451(mta_factory, dv, tmp_path):
    m = mta_factory(users=LOCAL_USERS, extra=(
        "recipient_check = dovecot:unix:%s\n[domain example.test]\n"
        "deliver = lmtp:unix:%s") % (tmp_path / "gone", dv.socket)).start()
    with RawSMTP(m.port, timeout=20) as c:
        c.ehlo()
        c.expect("MAIL FROM:<%s>" % CAROL, 250)
        c.expect("RCPT TO:<%s>" % ALICE, 451, "4.3.0")
        c.expect("RCPT TO:<%s>" % CAROL, 250)     # Maildir: not asked
        c.expect("QUIT", 221)


# ---- postbote check ----

def test_check_accepts_the_keys_and_warns(mta_factory, dv, tmp_path):
    m = mta_factory(users=LOCAL_USERS, extra=(
        "auth_backend = dovecot:unix:%s\nrecipient_check = "
        "dovecot:unix:%s\n[domain example.test]\ndeliver = lmtp:unix:%s")
        % (dv.auth_socket, dv.userdb_socket, dv.socket))
    r = subprocess.run([BIN, "check", "-c", m.conf], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "auth_backend" not in r.stderr and \
        "recipient_check" not in r.stderr
    gone = tmp_path / "gone"
    m = mta_factory(users=LOCAL_USERS, extra=(
        "auth_backend = dovecot:unix:%s\n"
        "recipient_check = dovecot:127.0.0.1:%d") % (gone, dv.auth_port))
    r = subprocess.run([BIN, "check", "-c", m.conf], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "warning: auth_backend: %s: No such file or directory" % gone \
        in r.stderr
    assert "warning: recipient_check: no local domain is delivered over " \
        "LMTP" in r.stderr
    m = mta_factory(extra="auth_backend = dovecot:localhost:12345")
    r = subprocess.run([BIN, "check", "-c", m.conf], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2
    assert "auth_backend: \"dovecot:localhost:12345\": the Dovecot server " \
        "must be an IP address" in r.stderr


def test_recipient_answers_are_cached(rmta, dv):
    """recipient_check_cache (60s): a second RCPT for the same mailbox,
    known or unknown, is answered without asking Dovecot again."""
    def lookups(user):
        return len(re.findall(r"master in: USER\t\d+\t%s\t" % re.escape(user),
                              dv.log()))

    before = lookups("full@example.test"), lookups("nobody@example.test")
    for _ in range(3):
        with RawSMTP(rmta.port, timeout=20) as c:
            c.ehlo()
            c.expect("MAIL FROM:<%s>" % CAROL, 250)
            c.expect("RCPT TO:<full@example.test>", 250)
            c.expect("RCPT TO:<Full+x@example.test>", 250)
            c.expect("RCPT TO:<nobody@example.test>", 550, "5.1.1")
            c.expect("QUIT", 221)
    # Dovecot's log process writes a moment later
    end = time.time() + 10
    while time.time() < end and (lookups("full@example.test") <= before[0]
                                 or lookups("nobody@example.test") <=
                                 before[1]):
        time.sleep(0.1)
    time.sleep(1)
    assert (lookups("full@example.test"), lookups("nobody@example.test")) \
        == (before[0] + 1, before[1] + 1), dv.log()[-3000:]


def test_mail_of_a_dovecot_login_is_dkim_signed(mta_factory, dv, tmp_path):
    """The login Dovecot returned makes the session trusted: its mail
    (From its own domain) leaves signed, and the signature verifies."""
    pem, record = rsa_keys()
    key = write_key(str(tmp_path), "dv.key", pem)
    m = mta_factory(users=LOCAL_USERS, relay_networks=NO_RELAY, extra=(
        PLAINTEXT + "\nauth_backend = dovecot:unix:%s\n"
        "[dkim example.test]\nselector = dv\nkey = %s")
        % (dv.auth_socket, key)).start()
    subject = "signed " + uuid.uuid4().hex
    with smtplib.SMTP("127.0.0.1", m.port, timeout=20) as c:
        c.ehlo("client.test")
        c.login(ALICE, "alice-pw")
        c.sendmail(ALICE, [CAROL], ("From: <%s>\r\nTo: <%s>\r\nSubject: %s"
                                    "\r\n\r\nhi\r\n" % (ALICE, CAROL,
                                                        subject)).encode())
    raw = m.wait_subject(CAROL, subject).replace(b"\r\n", b"\n") \
        .replace(b"\n", b"\r\n")
    start = raw.index(b"DKIM-Signature:")
    assert b"d=example.test" in raw[start:start + 400]
    assert dkim.verify(raw[start:], dnsfunc=lambda name, timeout=5:
                       record.encode())
