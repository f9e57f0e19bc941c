"""The Junk folder (docs/spam.md): a message a filter marked spam (the
junk_header field and value, "X-Spam: yes" by default) is delivered into
the recipient's Maildir++ folder .Junk (tmp, new, cur, maildirfolder),
clean mail into the inbox; a private Dovecot (dovecot.py) reading that
Maildir shows the folder as "Junk".  The header and folder are
configurable, and an empty junk_header or junk_folder turns it off."""

import os
import shutil
import smtplib
import subprocess
import tempfile
import time

import pytest

from conftest import wait_for

ALICE = "alice@example.test"


def send(m, subject, extra=b"", to=ALICE):
    with smtplib.SMTP("127.0.0.1", m.port, timeout=20) as c:
        c.ehlo("client.test")
        c.sendmail("sender@client.test", [to],
                   b"From: sender@client.test\r\nSubject: " +
                   subject.encode() + b"\r\n" + extra +
                   b"\r\nthe body\r\n")


def folder_messages(m, addr, folder):
    d = m.maildir(addr)
    if folder:
        d = os.path.join(d, "." + folder)
    d = os.path.join(d, "new")
    if not os.path.isdir(d):
        return []
    out = []
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            out.append(f.read())
    return out


def wait_folder(m, addr, folder, n, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        got = folder_messages(m, addr, folder)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    return folder_messages(m, addr, folder)


def test_spam_goes_to_junk_clean_to_inbox(mta):
    send(mta, "clean one")
    send(mta, "spam one", b"X-Spam: Yes\r\n")
    junk = wait_folder(mta, ALICE, "Junk", 1)
    inbox = wait_folder(mta, ALICE, None, 1)
    assert len(junk) == 1 and b"Subject: spam one" in junk[0]
    assert len(inbox) == 1 and b"Subject: clean one" in inbox[0]
    jd = os.path.join(mta.maildir(ALICE), ".Junk")
    for sub in ("tmp", "new", "cur", "maildirfolder"):
        assert os.path.exists(os.path.join(jd, sub))
    # The copy is in new/ a moment before deliver logs its result.
    assert wait_for(lambda: "delivered to maildir folder Junk" in mta.log())


def test_value_is_the_first_word_and_case_does_not_matter(mta):
    send(mta, "no spam", b"X-Spam: No\r\n")
    send(mta, "scored spam", b"x-spam: YES; score=15.2\r\n")
    assert len(wait_folder(mta, ALICE, "Junk", 1)) == 1
    assert b"scored spam" in wait_folder(mta, ALICE, "Junk", 1)[0]
    assert b"no spam" in wait_folder(mta, ALICE, None, 1)[0]


def test_a_header_in_the_body_does_not_count(mta):
    send(mta, "body only", b"\r\nX-Spam: yes\r\n")
    assert len(wait_folder(mta, ALICE, None, 1)) == 1
    time.sleep(0.3)
    assert folder_messages(mta, ALICE, "Junk") == []


def test_configured_header_and_folder(mta_factory):
    m = mta_factory(extra="junk_header = X-Spam-Flag: YES\n"
                    "junk_folder = Spam\n").start()
    send(m, "flagged", b"X-Spam-Flag: YES\r\n")
    send(m, "other header", b"X-Spam: yes\r\n")
    assert b"flagged" in wait_folder(m, ALICE, "Spam", 1)[0]
    assert b"other header" in wait_folder(m, ALICE, None, 1)[0]
    assert not os.path.exists(os.path.join(m.maildir(ALICE), ".Junk"))


def test_turned_off(mta_factory):
    m = mta_factory(extra="junk_folder =\n").start()
    send(m, "spam but off", b"X-Spam: yes\r\n")
    assert b"spam but off" in wait_folder(m, ALICE, None, 1)[0]
    assert not os.path.exists(os.path.join(m.maildir(ALICE), ".Junk"))


def test_bad_folder_name_is_a_config_error(tmp_path):
    from conftest import BIN
    for bad in (".Junk", "a/b", "Junk.", "a..b"):
        conf = tmp_path / "p.conf"
        conf.write_text("hostname = mx.example.test\nstate_dir = %s\n"
                        "junk_folder = %s\n" % (tmp_path, bad))
        r = subprocess.run([BIN, "check", "-c", str(conf)],
                           capture_output=True, text=True)
        assert r.returncode == 2 and "junk_folder" in r.stderr, bad


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("dovecot") is None,
                    reason="needs root and Debian's dovecot-core")
def test_dovecot_shows_the_folder_as_junk(mta):
    from dovecot import Dovecot, MAIL_USER
    send(mta, "clean for dovecot")
    send(mta, "spam for dovecot", b"X-Spam: yes\r\n")
    assert wait_folder(mta, ALICE, "Junk", 1)
    assert wait_folder(mta, ALICE, None, 1)
    d = tempfile.mkdtemp(prefix="postbote-dovecot-")
    os.chmod(d, 0o755)
    dv = Dovecot(d)
    # Dovecot reads the very Maildir postbote wrote, as its mail user.
    dest = os.path.join(d, "mail", "example.test", "alice")
    os.makedirs(os.path.dirname(dest))
    shutil.copytree(mta.maildir(ALICE), dest, symlinks=True)
    subprocess.run(["chown", "-R", MAIL_USER, os.path.join(d, "mail")],
                   check=True)
    dv.start()
    try:
        c = dv.imap(ALICE)
        try:
            typ, boxes = c.list()
            assert typ == "OK"
            names = [b.decode().rsplit(" ", 1)[-1].strip('"')
                     for b in boxes]
            assert "Junk" in names
        finally:
            c.logout()
        junk = dv.fetch_all(ALICE, "Junk")
        inbox = dv.fetch_all(ALICE, "INBOX")
        assert len(junk) == 1 and b"spam for dovecot" in junk[0]
        assert len(inbox) == 1 and b"clean for dovecot" in inbox[0]
    finally:
        dv.stop()
        subprocess.run(["rm", "-rf", d], check=False)
