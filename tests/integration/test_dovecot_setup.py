"""The postbote + Dovecot setup exactly as docs/dovecot.md shows it
("## The whole setup side by side"): the Dovecot block and the postbote.conf
block are read from the Markdown and run as they are, with only the
changes a private test instance needs, each listed below.  One private
Dovecot (dovecot.py) for the file, with the doc's block added to its
config and users of example.com and example.org in its passdb.

End to end with that one setup: mail for a Dovecot user of example.com
arrives on the mx listener, goes over LMTP and is read back over IMAP;
mail for example.org lands in postbote's Maildir, its postmaster reaches
the Dovecot user the block names; an unknown example.com
mailbox is refused at RCPT (recipient_check); AUTH PLAIN and CRAM-MD5
with Dovecot's passwords on the submission listener over STARTTLS, a
wrong password 535; `postbote check` passes on the config."""

import os
import pwd
import re
import smtplib
import subprocess
import uuid

import pytest

from conftest import BIN
from dovecot import NEEDS_DOVECOT, private_dovecot
from smtpclient import RawSMTP
from test_dovecot_auth import cram_md5_wrong_then_right, tls_context
from test_lmtp import wait_log

pytestmark = NEEDS_DOVECOT

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                   "dovecot.md")
SECTION = "## The whole setup side by side"
POSTBOTE_LEAD = "postbote (`/etc/postbote/postbote.conf`)"

ANN = "ann@example.com"           # Dovecot's, delivered over LMTP
DAN = "dan@example.org"           # Dovecot's password, postbote's Maildir
ADMIN = "admin@example.com"       # the block's postmaster, Dovecot's
DOVECOT_USERS = {ANN: ("ann-pw", ""), DAN: ("dan-pw", ""),
                 ADMIN: ("admin-pw", "")}
# postbote's own users file (the block's `users`): example.org's mailboxes
POSTBOTE_USERS = {DAN: "dan-local-pw"}


def fenced_after(lines, start):
    """The text of the first ``` block at or after line start, and the
    line after its end."""
    i = start
    while not lines[i].startswith("```"):
        i += 1
    j = i + 1
    while not lines[j].startswith("```"):
        j += 1
    return "\n".join(lines[i + 1:j]) + "\n", j + 1


def doc_blocks():
    """(Dovecot block, postbote block) of the section, from the doc."""
    with open(DOC) as f:
        lines = f.read().splitlines()
    start = lines.index(SECTION)
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith("## ")), len(lines))
    dovecot, after = fenced_after(lines, start + 1)
    lead = next(i for i in range(after, end)
                if lines[i].startswith(POSTBOTE_LEAD))
    postbote, after = fenced_after(lines, lead + 1)
    assert after <= end, "postbote's block lies outside the section"
    return dovecot, postbote


def substitute(text, pairs):
    """text with each (old, new) replaced; every old must be there."""
    for old, new in pairs:
        assert old in text, "%r is no longer in the doc's block" % old
        text = text.replace(old, new)
    return text


DOVECOT_BLOCK, POSTBOTE_BLOCK = doc_blocks()


# The Dovecot block runs unchanged: its sockets are named relative to
# base_dir, which the private Dovecot sets to its own folder (dovecot.py),
# and postbote's processes run as user `postbote`, as the block says.
def dovecot_subst():
    return []


def postbote_subst(dv, sub_port):
    """The only changes to the postbote block."""
    return [
        ("/run/dovecot/", dv.base_dir + "/"),            # Dovecot's base_dir
        ("0.0.0.0:587", "127.0.0.1:%d" % sub_port),      # a free port
        ("/etc/postbote/users", None),                   # the test's file
    ]


@pytest.fixture(scope="module")
def dv():
    yield from private_dovecot(
        extra_conf=substitute(DOVECOT_BLOCK, dovecot_subst()),
        users=DOVECOT_USERS)


@pytest.fixture(scope="module")
def setup(mta_module_factory, dv):
    """postbote with the doc's config: the block with its substitutions,
    after the test-only keys a private instance needs (its state_dir,
    the test's DNS server, a host name, an mx listener on a free port)."""
    m = mta_module_factory(users=POSTBOTE_USERS)
    users_file = os.path.join(m.base, "users")
    pairs = [(old, users_file if new is None else new)
             for old, new in postbote_subst(dv, m.sub_port)]
    block = substitute(POSTBOTE_BLOCK, pairs)
    test_only = "\n".join([
        "hostname = mx.example.com",
        "state_dir = %s" % m.state,
        "resolver = %s" % m.dns.address,
    ])
    mx = "[listen mx]\naddress = 127.0.0.1:%d\nmode = mx\n" % m.port
    with open(m.conf, "w") as f:
        f.write(test_only + "\n" + block + "\n" + mx)
    m.block = block
    return m.start()


def send_mx(setup, rcpt, kind):
    """A message from outside to rcpt over the mx listener; its subject."""
    subject = "setup %s %s" % (kind, uuid.uuid4().hex)
    with smtplib.SMTP("127.0.0.1", setup.port, timeout=20) as c:
        c.ehlo("client.remote.test")
        c.sendmail("sender@remote.test", [rcpt],
                   ("From: <sender@remote.test>\r\nTo: <%s>\r\n"
                    "Subject: %s\r\n\r\nhello\r\n"
                    % (rcpt, subject)).encode())
    return subject


def assert_in_imap(setup, dv, user, subject):
    msgs = dv.wait_count(user, 1)
    assert any(("Subject: " + subject).encode() in x for x in msgs), \
        setup.log()


def test_blocks_found_and_config_runs_them(setup, dv):
    """The substituted blocks are what runs: postbote's block is whole in
    its config, Dovecot's in its config, and Dovecot made the block's
    sockets in its base_dir with the block's owner and mode."""
    with open(setup.conf) as f:
        conf = f.read()
    assert setup.block in conf
    assert "recipient_check = dovecot:unix:%s/auth-userdb" % dv.base_dir \
        in conf
    with open(dv.conf) as f:
        assert DOVECOT_BLOCK in f.read()
    uid = pwd.getpwnam("postbote").pw_uid
    for name in ("lmtp", "auth-postbote", "auth-userdb"):
        st = os.stat(os.path.join(dv.base_dir, name))
        assert (st.st_uid, st.st_mode & 0o777) == (uid, 0o600), name


def test_postbote_check_passes(setup):
    r = subprocess.run([BIN, "check", "-c", setup.conf],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # the listeners are in use: by this running server
    warnings = [l for l in r.stderr.splitlines()
                if "warning" in l and "is in use" not in l]
    assert warnings == [], r.stderr


def test_example_com_over_lmtp_read_over_imap(setup, dv):
    assert_in_imap(setup, dv, ANN, send_mx(setup, ANN, "lmtp"))
    wait_log(setup, r"relay=lmtp:unix:%s/lmtp" % re.escape(dv.base_dir))


def test_example_org_in_postbotes_maildir(setup, dv):
    raw = setup.wait_subject(DAN, send_mx(setup, DAN, "maildir"))
    assert b"hello" in raw
    # not handed to Dovecot
    assert dv.fetch_all(DAN) == []


def test_unknown_example_com_refused_at_rcpt(setup):
    with RawSMTP(setup.port, timeout=20) as c:
        c.ehlo()
        c.expect("MAIL FROM:<sender@remote.test>", 250)
        r = c.cmd("RCPT TO:<ghost@example.com>")
        assert (r.code, r.enhanced) == (550, "5.1.1"), r
        c.expect("RCPT TO:<%s>" % ANN, 250)


@pytest.fixture
def sub(setup):
    with smtplib.SMTP("127.0.0.1", setup.sub_port, timeout=20) as c:
        c.ehlo("client.test")
        c.starttls(context=tls_context())
        c.ehlo("client.test")
        yield c


def test_submission_auth_plain_with_dovecot_password(setup, sub):
    """ann is not in postbote's users file: only Dovecot knows her."""
    assert sub.esmtp_features["auth"].split() == [
        "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"]
    subject = "setup submission " + uuid.uuid4().hex
    sub.user, sub.password = ANN, "ann-pw"
    code, text = sub.auth("PLAIN", sub.auth_plain)
    assert code == 235, text
    sub.sendmail(ANN, [DAN], ("From: <%s>\r\nSubject: %s\r\n\r\nhi\r\n"
                              % (ANN, subject)).encode())
    assert b"with ESMTPSA" in setup.wait_subject(DAN, subject)
    wait_log(setup, r"event=auth client=\S+ mechanism=PLAIN auth=%s"
             % re.escape(ANN))


def test_submission_auth_wrong_password(sub):
    sub.user, sub.password = ANN, "wrong"
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        sub.auth("PLAIN", sub.auth_plain)
    assert e.value.smtp_code == 535


def test_submission_cram_md5_through_dovecot(setup, sub):
    """The test's passdb keeps passwords in clear (scheme=PLAIN), which
    the doc's note says CRAM-MD5 needs: so it works."""
    cram_md5_wrong_then_right(setup, sub, DAN, "dan-pw")


def test_postmaster_of_maildir_domain_reaches_dovecot_user(setup, dv):
    """The block's `postmaster`: postmaster@example.org, a Maildir domain
    without a postmaster of its own, goes to admin@example.com over LMTP."""
    assert_in_imap(setup, dv, ADMIN,
                   send_mx(setup, "postmaster@example.org", "postmaster"))
