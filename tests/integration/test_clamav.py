"""postbote with the real ClamAV (Debian's clamav-daemon and clamav-milter,
their services never started): one clamd and one clamav-milter for the
whole file, started here in the foreground with private configs in a
temporary folder and stopped by pid.  Nothing is downloaded: clamd loads
a private signature database that knows only the EICAR test file (an MD5
hash signature computed here), so this runs offline.  clamav-milter
listens on a UNIX socket, as docs/milter.md configures it, which
postbote's lookup process connects.  An EICAR attachment is refused at
the end of data with clamav-milter's reply, a clean message is delivered
with its X-Virus-Scanned header, and ClamAV gone gives the default
action."""

import base64
import grp
import hashlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import wait_for
from test_rspamd import send

CLAMD = shutil.which("clamd") or "/usr/sbin/clamd"
MILTER = shutil.which("clamav-milter") or "/usr/sbin/clamav-milter"
# the EICAR anti-virus test file, 68 bytes
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!"
         b"$H+H*")
SIGNATURE = "Postbote.Test.EICAR"

CLAMD_CONF = """\
Foreground yes
DatabaseDirectory %(dir)s/db
LocalSocket %(dir)s/clamd.sock
PidFile %(dir)s/clamd.pid
LogFile %(dir)s/clamd.log
TemporaryDirectory %(dir)s/tmp
SelfCheck 0
"""
# As docs/milter.md has it, with the paths in the temporary folder.
MILTER_CONF = """\
Foreground yes
MilterSocket %(dir)s/clamav-milter.ctl
MilterSocketMode 660
%(group)s
ClamdSocket unix:%(dir)s/clamd.sock
OnInfected Reject
RejectMsg Virus found: %%v
AddHeader Replace
ReportHostname mx.example.test
PidFile %(dir)s/clamav-milter.pid
LogFile %(dir)s/clamav-milter.log
LogVerbose yes
LogInfected Basic
TemporaryDirectory %(dir)s/tmp
"""

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CLAMD) and os.path.exists(MILTER)),
    reason="clamd or clamav-milter is not installed "
    "(Debian clamav-daemon, clamav-milter: scripts/deps.sh)")


class ClamAV:
    """clamd, then clamav-milter on clamd's socket."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="postbote-clamav-")
        # postbote's lookup process (run as `user`) reaches the socket
        os.chmod(self.dir, 0o755)
        for d in ("db", "tmp"):
            os.makedirs(os.path.join(self.dir, d))
        with open(os.path.join(self.dir, "db", "eicar.hdb"), "w") as f:
            f.write("%s:%d:%s\n" % (hashlib.md5(EICAR).hexdigest(),
                                    len(EICAR), SIGNATURE))
        # as root, postbote drops to its user (`postbote`, the default):
        # the socket is that user's group's
        group = ""
        if os.geteuid() == 0:
            group = "MilterSocketGroup " + grp.getgrgid(
                pwd.getpwnam("postbote").pw_gid).gr_name
        conf = {"dir": self.dir, "group": group}
        self.sock = os.path.join(self.dir, "clamav-milter.ctl")
        self.procs = []
        try:
            self.clamd = self._start("clamd", CLAMD, CLAMD_CONF % conf)
            self._wait(self.clamd, "clamd", lambda: self._answers(
                os.path.join(self.dir, "clamd.sock"), b"zPING\0", b"PONG"))
            self.milter = self._start("clamav-milter", MILTER,
                                      MILTER_CONF % conf)
            self._wait(self.milter, "clamav-milter",
                       lambda: self._answers(self.sock))
        except BaseException:
            self.stop()
            raise

    def _start(self, name, binary, text):
        path = os.path.join(self.dir, name + ".conf")
        with open(path, "w") as f:
            f.write(text)
        out = open(os.path.join(self.dir, name + ".out"), "wb")
        p = subprocess.Popen([binary, "-c", path], stdout=out, stderr=out,
                             stdin=subprocess.DEVNULL,
                             start_new_session=True)
        out.close()
        self.procs.append(p)
        return p

    @staticmethod
    def _answers(path, ask=None, answer=None):
        """Does the UNIX socket path accept (and answer ask)?"""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(path)
                if ask is None:
                    return True
                s.sendall(ask)
                return s.recv(16).startswith(answer)
        except OSError:
            return False

    def _wait(self, proc, name, ready):
        end = time.time() + 120
        while time.time() < end:
            if proc.poll() is not None:
                raise RuntimeError("%s exited:\n%s" % (name, self.log()))
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError("%s did not start:\n%s" % (name, self.log()))

    def log(self):
        text = ""
        for name in ("clamd.out", "clamd.log", "clamav-milter.out",
                     "clamav-milter.log"):
            try:
                with open(os.path.join(self.dir, name),
                          errors="replace") as f:
                    text += "--- %s\n%s" % (name, f.read()[-3000:])
            except OSError:
                pass
        return text

    def stop_clamd(self):
        self._stop(self.clamd)

    def stop(self):
        for p in reversed(self.procs):
            self._stop(p)

    @staticmethod
    def _stop(p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@pytest.fixture(scope="module")
def clamav():
    c = ClamAV()
    try:
        yield c
    finally:
        c.stop()
        shutil.rmtree(c.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def mta(mta_module_factory, clamav):
    """postbote with the [milter clamav] section of docs/milter.md."""
    section = "[milter clamav]\nsocket = unix:%s\n" % clamav.sock
    return mta_module_factory(extra=section).start()


def message(subject, attachment):
    """A multipart/mixed message with a text part and attachment as a
    base64 application/octet-stream part."""
    b64 = base64.encodebytes(attachment).replace(b"\n", b"\r\n")
    return (b"From: sender@client.test\r\nTo: alice@example.test\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + subject.replace(" ", "-").encode() +
            b"@client.test>\r\n"
            b"Date: Sat, 05 Dec 2026 08:00:00 +0000\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            b"--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            b"Hello Alice,\r\nthe file you asked for.\r\n"
            b"--b1\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Disposition: attachment; filename=\"file.com\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 +
            b"--b1--\r\n")


def test_eicar_attachment_is_rejected_with_clamav_milters_reply(mta,
                                                                 clamav):
    code, text = send(mta, message("eicar test", EICAR))
    assert code == 550, (code, text, mta.log(), clamav.log())
    assert text == b"5.7.1 Virus found: " + SIGNATURE.encode() + \
        b".UNOFFICIAL", text
    assert "milter=clamav" in mta.log() and "reason=milter" in mta.log()
    # clamd found it in the decoded attachment
    assert SIGNATURE in clamav.log()
    time.sleep(0.3)
    assert not any(b"eicar test" in m
                   for m in mta.messages("alice@example.test"))
    assert mta.queued() == []


def test_clean_attachment_is_delivered_with_clamav_milters_header(mta,
                                                                  clamav):
    # the same bytes but one: not the test file
    clean = EICAR.replace(b"EICAR", b"EICAS")
    code, text = send(mta, message("clean test", clean))
    assert code == 250, (code, text, mta.log(), clamav.log())
    raw = mta.wait_subject("alice@example.test", "clean test")
    head, body = raw.split(b"\n\n", 1)
    assert re.search(rb"\nX-Virus-Scanned: clamav-milter [0-9.]+ at "
                     rb"mx\.example\.test\n", head), head
    assert b"\nX-Virus-Status: Clean\n" in head + b"\n", head
    assert base64.b64encode(clean) in body.replace(b"\n", b"")


def test_clamd_gone_gives_clamav_milters_tempfail(mta, clamav):
    """clamav-milter up, clamd stopped: its OnFail Defer."""
    clamav.stop_clamd()
    before = mta.log().count("milter=clamav event=milter phase=eom "
                             "action=tempfail")
    code, text = send(mta, message("clamd gone", EICAR))
    assert code == 451 and b"4.7.1" in text, (code, text, clamav.log())
    assert mta.log().count("milter=clamav event=milter phase=eom "
                           "action=tempfail") == before + 1, mta.log()
    # clamav-milter's own account of it
    assert wait_for(lambda: "Failed to initiate streaming" in clamav.log(),
                    5), clamav.log()
    time.sleep(0.3)
    assert not any(b"clamd gone" in m
                   for m in mta.messages("alice@example.test"))


def test_clamav_milter_gone_gives_the_default_action(mta, clamav):
    """Last in the file: it stops the shared clamav-milter too."""
    clamav.stop()
    before = mta.log().count("milter=clamav event=milter-error")
    code, text = send(mta, message("after clamav", EICAR))
    assert code == 451 and b"4.7.1" in text, (code, text)
    assert mta.log().count("milter=clamav event=milter-error") > before, \
        mta.log()
    # the server itself is fine: the next session gets the same answer
    code, text = send(mta, message("after clamav 2", b"hello"))
    assert code == 451 and b"4.7.1" in text, (code, text)
    time.sleep(0.3)
    assert not any(b"after clamav" in m
                   for m in mta.messages("alice@example.test"))
