"""postbote with the real rspamd (Debian's rspamd, its service never
started): one rspamd for the whole file, started here with a private
config, private directories in a temporary folder and its proxy worker in
milter mode on a loopback port, asked for DNS only through the test's own
server, stopped by pid.  GTUBE is refused at the end of data with
rspamd's reply, a clean message is delivered with rspamd's headers, and
rspamd gone gives the default action."""

import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import free_port

RSPAMD = shutil.which("rspamd") or "/usr/bin/rspamd"
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

CONF = """\
.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    .include(priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
}
logging { type = "file"; filename = "$LOGDIR/rspamd.log"; level = "info"; }
worker "rspamd_proxy" {
    bind_socket = "127.0.0.1:%(port)d";
    milter = yes;
    timeout = 120s;
    upstream "local" { default = yes; self_scan = yes; }
    count = 1;
}
"""
# DNS only from the test's server (never the machine's resolv.conf)
OPTIONS = """\
dns {
    nameserver = ["%(dns)s"];
    timeout = 1s;
    retransmits = 1;
}
"""
HEADERS = """\
use = ["x-spamd-result", "x-rspamd-server", "x-rspamd-queue-id"];
skip_local = false;
skip_authenticated = false;
"""

pytestmark = pytest.mark.skipif(not os.path.exists(RSPAMD),
                                reason="rspamd is not installed")


class Rspamd:
    def __init__(self, dns):
        self.dir = tempfile.mkdtemp(prefix="postbote-rspamd-")
        self.port = free_port()
        for d in ("db", "run", "log", "local/local.d"):
            os.makedirs(os.path.join(self.dir, d))
        self.conf = os.path.join(self.dir, "rspamd.conf")
        with open(self.conf, "w") as f:
            f.write(CONF % {"dns": dns.address, "port": self.port})
        with open(os.path.join(self.dir, "local/local.d/milter_headers.conf"),
                  "w") as f:
            f.write(HEADERS)
        with open(os.path.join(self.dir, "local/local.d/options.inc"),
                  "w") as f:
            f.write(OPTIONS % {"dns": dns.address})
        v = lambda k, d: "--var=%s=%s" % (k, os.path.join(self.dir, d))
        self.out = open(os.path.join(self.dir, "out"), "wb")
        self.proc = subprocess.Popen(
            [RSPAMD, "-f", "-i", "-c", self.conf, v("DBDIR", "db"),
             v("RUNDIR", "run"), v("LOGDIR", "log"),
             v("LOCAL_CONFDIR", "local")],
            stdout=self.out, stderr=self.out, stdin=subprocess.DEVNULL,
            start_new_session=True)
        end = time.time() + 180
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("rspamd exited:\n" + self.log())
            # the main process binds the socket long before its proxy
            # worker runs: wait for the worker
            if "starting rspamd_proxy process" in self.log():
                try:
                    socket.create_connection(("127.0.0.1", self.port),
                                             0.5).close()
                    assert "from resolv.conf" not in self.log()
                    return
                except OSError:
                    pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("rspamd did not start:\n" + self.log())

    def log(self):
        try:
            with open(os.path.join(self.dir, "log", "rspamd.log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            # rspamd's main process stops its workers on SIGTERM
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.out.close()


@pytest.fixture(scope="module")
def rspamd(module_dns):
    r = Rspamd(module_dns)
    yield r
    r.stop()
    shutil.rmtree(r.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def mta(mta_module_factory, rspamd):
    m = mta_module_factory(extra="[milter rspamd]\n"
                           "socket = inet:127.0.0.1:%d\n"
                           "content_timeout = 60s\n" % rspamd.port)
    return m.start()


def message(subject, body):
    return ("From: sender@client.test\r\nTo: alice@example.test\r\n"
            "Subject: %s\r\nMessage-ID: <%s@client.test>\r\n"
            "Date: Sat, 05 Dec 2026 08:00:00 +0000\r\n\r\n%s\r\n"
            % (subject, subject.replace(" ", "-"), body)).encode()


def send(m, msg):
    with smtplib.SMTP("127.0.0.1", m.port, timeout=120) as c:
        c.ehlo("client.test")
        mail = c.mail("sender@client.test")
        if mail[0] != 250:
            return mail
        assert c.rcpt("alice@example.test")[0] == 250
        try:
            return c.data(msg)
        except smtplib.SMTPDataError as e:
            return (e.smtp_code, e.smtp_error)


def test_gtube_is_rejected_with_rspamds_reply(mta, rspamd):
    code, text = send(mta, message("gtube test", GTUBE))
    assert 500 <= code < 600, (code, text, mta.log(), rspamd.log()[-3000:])
    assert b"Gtube" in text or b"spam" in text.lower(), text
    assert "reason=milter" in mta.log()
    time.sleep(0.3)
    assert not any(b"gtube test" in m
                   for m in mta.messages("alice@example.test"))


def test_clean_message_gets_rspamds_headers(mta, rspamd):
    code, text = send(mta, message("clean test",
                                   "Hello Alice,\r\nsee you at lunch.\r\n"))
    assert code == 250, (code, text)
    raw = mta.wait_subject("alice@example.test", "clean test")
    head = raw.split(b"\n\n", 1)[0]
    assert b"X-Spamd-Result:" in head or b"X-Rspamd-Server:" in head, head
    assert "event=milter-header action=add" in mta.log()


def test_rspamd_gone_gives_the_default_action(mta, rspamd):
    """Last in the file: it stops the shared rspamd."""
    rspamd.stop()
    code, text = send(mta, message("after rspamd", "hello"))
    assert code == 451 and b"4.7.1" in text, (code, text)
    # the server itself is fine: the next session gets the same answer
    code, text = send(mta, message("after rspamd 2", "hello"))
    assert code == 451
