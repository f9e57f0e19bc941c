"""Logs that existing tools read: log_format = postfix writes a message's
lines in Postfix's shapes, and the Debian pflogsumm counts a real run's
log (received, delivered, deferred, bounced, rejected, senders,
recipients); log = syslog sends them to /dev/log under Postfix's tags
(facility mail, "postbote/smtpd[PID]"); TLS lines in Postfix's words;
debug_peers' SMTP transcript with AUTH masked.  The key=value format
stays the default (DESIGN 5)."""

import base64
import os
import re
import shutil
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from conftest import BIN, use_release_build
from test_remote import (Handler, Sink, make_ca, mx, remote_mta,
                         tls_context, wait_for)

PFLOGSUMM = shutil.which("pflogsumm") or "/usr/sbin/pflogsumm"

ALICE = "alice@example.test"
BOB = "bob@example.test"


def pflogsumm(path):
    r = subprocess.run(["perl", PFLOGSUMM, "--syslog-name=postbote",
                        path], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def total(report, what):
    """The Grand Totals number of `what` ("received", "rejected", ...)."""
    m = re.search(r"^\s*(\d+)\s+%s\b" % re.escape(what), report, re.M)
    assert m, report
    return int(m.group(1))


def smtp_send(m, sender, rcpts, refused=()):
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        c.ehlo("client.test")
        assert c.mail(sender)[0] == 250
        for r in rcpts:
            code, text = c.rcpt(r)
            if r in refused:
                assert code >= 500, text
            else:
                assert code == 250, text
        code, text = c.data(b"Subject: pflogsumm\r\n\r\nhello\r\n")
        assert code == 250, text
    return re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()


def local_send(m):
    """carol@example.org to bob by `postbote send` (Postfix's pickup);
    the queue id."""
    r = subprocess.run([BIN, "send", "-c", m.conf, "-v", "-f",
                        "carol@example.org", BOB],
                       input=b"Subject: local\n\nhi\n",
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return re.search(rb"queued as ([0-9A-F]{16})", r.stderr).group(1).decode()


@pytest.mark.skipif(not shutil.which("perl"), reason="perl missing")
def test_pflogsumm_counts_a_run(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    handler = Handler(answers={
        "gone": "550 5.1.1 <gone@remote.test>: no such user",
        "later": "451 4.3.0 try again later",
    })
    with Sink(handler) as sink:
        m = remote_mta(mta_factory, sink.port, "log_format = postfix\n"
                       "retry = 1h")
        # 1: local delivery; 2: one sent, one bounced, one deferred,
        # and two recipients refused at RCPT
        q1 = smtp_send(m, BOB, [ALICE])
        q2 = smtp_send(m, ALICE, ["bob@remote.test", "gone@remote.test",
                                  "later@remote.test", "nobody@example.test",
                                  "none@example.test"],
                       refused=("nobody@example.test", "none@example.test"))
        # 3: a local submission (Postfix's pickup)
        q3 = local_send(m)
        sink.wait(1)
        # the bounce for gone@ reaches alice; bob has two messages
        m.wait_messages(ALICE, 2)
        m.wait_messages(BOB, 1)
        assert wait_for(lambda: "status=deferred" in m.log()), m.log()
        assert wait_for(lambda: re.search(
            r"%s: to=<bob@example.test>, relay=local, delay=[0-9.]+, "
            r"dsn=2\.0\.0, status=sent " % q3, m.log())), m.log()
    log = m.log()
    # Postfix's shapes, under the server's own process names
    assert re.search(r"postbote/smtpd\[\d+\]: %s: client=[^\s\[]+"
                     r"\[127\.0\.0\.1\]$" % q1, log, re.M), log
    assert re.search(r"postbote/queue\[\d+\]: %s: from=<bob@example.test>,"
                     r" size=\d+, nrcpt=1 \(queue active\)" % q1, log), log
    assert re.search(r"postbote/pickup\[\d+\]: %s: uid=0 "
                     r"from=<carol@example.org>" % q3, log), log
    assert re.search(r"postbote/smtpd\[\d+\]: NOQUEUE: reject: RCPT from "
                     r"\S+\[127\.0\.0\.1\]: 550 5\.1\.1 "
                     r"<nobody@example\.test>: Recipient address rejected: "
                     r"User unknown in local recipient table; "
                     r"from=<alice@example\.test> to=<nobody@example\.test> "
                     r"proto=ESMTP helo=<client\.test>", log), log
    assert re.search(r"%s: to=<gone@remote.test>, relay=mx\.remote\.test"
                     r"\[127\.0\.0\.1\]:\d+, delay=[0-9.]+, dsn=5\.1\.1, "
                     r"status=bounced \(" % q2, log), log

    report = pflogsumm(m.logfile)
    assert total(report, "received") == 3, report
    # alice (1), bob@remote (2), bob and his alias carol (3), the bounce
    # to alice
    assert total(report, "delivered") == 5, report
    assert total(report, "deferred") == 1, report
    assert total(report, "bounced") == 1, report
    assert total(report, "rejected") == 2, report
    assert total(report, "senders") == 3, report
    assert total(report, "recipients") == 4, report
    assert total(report, "recipient hosts/domains") == 3, report
    assert total(report, "sending hosts/domains") == 2, report
    # per domain: remote.test got one message and one deferral
    assert re.search(r"^\s+1\s+\d+\s+1\s+.*\sremote\.test$", report,
                     re.M), report
    assert "nobody@example.test" in report, report


# ---- log = syslog ----

# The server's own /dev/log, seen by it alone: in a mount namespace of its
# own, /dev is an overlay of the machine's (what is made there lands in
# the test's folder) and the test's socket is bound at /dev/log.  The
# machine's /dev and its syslog daemon, if any, are not touched.
PRIVATE_DEV_LOG = r"""
set -e
mount -t overlay postbote-test \
    -o "lowerdir=/dev,upperdir=$1/up,workdir=$1/work" /dev
rm -f /dev/log
: > /dev/log
mount --bind "$1/log.sock" /dev/log
shift
exec "$@"
"""

# What glibc's syslog(3) sends to /dev/log (RFC 3164 without the host):
# "<PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE".
DATAGRAM = re.compile(r"<(\d+)>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) "
                      r"(postbote/\w+)\[(\d+)\]: (.*)\Z", re.S)
LOG_MAIL, LOG_INFO = 2, 6


class SyslogSink:
    """A datagram socket in place of syslogd's: a thread takes every
    datagram at once (a full queue would block the server's writes)."""

    def __init__(self, folder):
        self.folder = str(folder)
        for d in ("up", "work"):
            os.mkdir(os.path.join(self.folder, d))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(os.path.join(self.folder, "log.sock"))
        self.sock.settimeout(0.1)
        self.datagrams = []
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                self.datagrams.append(self.sock.recv(65536).decode(
                    errors="replace"))
            except socket.timeout:
                if self.done:       # and nothing more came
                    return

    def wrap(self):
        """The command that runs the server with this socket at
        /dev/log; skips the test where no mount namespace can be made."""
        wrap = ["unshare", "--mount", "--propagation", "private", "sh",
                "-c", PRIVATE_DEV_LOG, "sh", self.folder]
        r = subprocess.run(wrap + ["true"], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("no private /dev/log (root, unshare -m and "
                        "overlayfs needed): " + r.stderr.strip())
        return wrap

    def text(self):
        return "\n".join(self.datagrams)

    def lines(self):
        """(facility, severity, tag, pid, message) of each datagram;
        fails on one that is not in syslog's shape."""
        out = []
        for d in list(self.datagrams):
            m = DATAGRAM.match(d)
            assert m, "not a syslog datagram: %r" % d
            pri = int(m.group(1))
            out.append((pri >> 3, pri & 7, m.group(3), int(m.group(4)),
                        m.group(5)))
        return out

    def as_file(self, path):
        """The lines as a syslog daemon writes them to a file
        ("TIME HOST TAG[PID]: MESSAGE"), for pflogsumm."""
        host = socket.gethostname().split(".")[0]
        with open(path, "w") as f:
            for d in self.datagrams:
                m = DATAGRAM.match(d)
                f.write("%s %s %s[%s]: %s\n" % (m.group(2), host,
                                                m.group(3), m.group(4),
                                                m.group(5)))

    def close(self):
        """Takes what is still queued, then closes."""
        self.done = True
        self.thread.join()
        self.sock.close()


@pytest.mark.parametrize("build", ["sanitizer", "release"])
def test_syslog_gets_postfix_tags_and_fields(mta_factory, tmp_path,
                                             monkeypatch, build):
    """log = syslog: every line reaches /dev/log as facility mail under
    the tag postbote/PROCESS[PID] with the pid of the process that wrote
    it (pickup's line under the queue's pid), in Postfix's shapes with
    log_format = postfix, and pflogsumm counts what the syslog file
    would hold.  Nothing of it goes to stderr.  The release build too:
    its seccomp filters allow less than the sanitizer build's."""
    if build == "release":
        use_release_build(monkeypatch)
    sink = SyslogSink(tmp_path)
    try:
        m = mta_factory(extra="log = syslog\nlog_format = postfix")
        m.start(wrap=sink.wrap(), log=sink.text)
        q1 = smtp_send(m, BOB, ["nobody@example.test", ALICE],
                       refused=("nobody@example.test",))
        q2 = local_send(m)
        assert wait_for(lambda: all(
            re.search(r"%s: removed$" % q, sink.text(), re.M)
            for q in (q1, q2))), sink.text()
        parent = m.proc.pid
        m.stop()
    finally:
        sink.close()
    lines = sink.lines()
    # facility mail, and the processes that log at info in such a run
    # (lookup may say nothing)
    assert {fac for fac, _, _, _, _ in lines} == {LOG_MAIL}, lines
    assert {tag for _, _, tag, _, _ in lines} >= {
        "postbote/" + p for p in
        ("parent", "smtpd", "queue", "deliver", "pickup")}, lines
    # each tag carries the pid of the process that wrote the line; the
    # queue writes pickup's (log_info_as)
    pids = {"postbote/parent": parent}
    for _, _, tag, pid, msg in lines:
        spawn = re.match(r"event=spawn process=(\w+) pid=(\d+)$", msg)
        if tag == "postbote/parent" and spawn:
            pids["postbote/" + spawn.group(1)] = int(spawn.group(2))
    pids["postbote/pickup"] = pids["postbote/queue"]
    assert all(pid == pids[tag] for _, _, tag, pid, _ in lines), lines

    def one(tag, pattern):
        """The one info line of tag whose message matches pattern."""
        found = [msg for _, sev, t, _, msg in lines
                 if t == tag and sev == LOG_INFO and re.match(pattern, msg)]
        assert len(found) == 1, (tag, pattern, lines)

    # Postfix's fields
    one("postbote/smtpd", r"%s: client=[^\s\[]+\[127\.0\.0\.1\]$" % q1)
    one("postbote/smtpd", r"NOQUEUE: reject: RCPT from \S+\[127\.0\.0\.1\]: "
        r"550 5\.1\.1 <nobody@example\.test>: Recipient address rejected: "
        r"User unknown in local recipient table; from=<bob@example\.test> "
        r"to=<nobody@example\.test> proto=ESMTP helo=<client\.test>$")
    one("postbote/pickup", r"%s: uid=0 from=<carol@example\.org>$" % q2)
    for qid, sender, n in ((q1, BOB, 1), (q2, "carol@example.org", 2)):
        one("postbote/queue", r"%s: from=<%s>, size=\d+, nrcpt=%d "
            r"\(queue active\)$" % (qid, re.escape(sender), n))
    one("postbote/deliver", r"%s: to=<alice@example\.test>, relay=local, "
        r"delay=[0-9.]+, dsn=2\.0\.0, status=sent \(" % q1)
    one("postbote/deliver", r"%s: to=<carol@example\.org>, "
        r"orig_to=<bob@example\.test>, relay=local, delay=[0-9.]+, "
        r"dsn=2\.0\.0, status=sent \(" % q2)
    one("postbote/parent", r"event=stopped$")
    stderr = m.log()
    assert "status=sent" not in stderr and "event=spawn" not in stderr, \
        stderr
    if shutil.which("perl") and os.path.exists(PFLOGSUMM):
        sink.as_file(str(tmp_path / "mail.log"))
        report = pflogsumm(str(tmp_path / "mail.log"))
        assert total(report, "received") == 2, report
        # alice; bob and his alias carol
        assert total(report, "delivered") == 3, report
        assert total(report, "rejected") == 1, report


def test_default_format_stays_key_value(mta):
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=10) as c:
        c.ehlo("client.test")
        c.mail(BOB)
        assert c.rcpt("nobody@example.test")[0] == 550
        assert c.rcpt(ALICE)[0] == 250
        code, text = c.data(b"Subject: kv\r\n\r\nhello\r\n")
        assert code == 250
    qid = re.search(rb"queued as ([0-9A-F]{16})", text).group(1).decode()
    mta.wait_messages(ALICE, 1)
    log = mta.log()
    assert wait_for(lambda: re.search(
        r"%s: to=<alice@example.test> relay=local delay=[0-9.]+ "
        r"dsn=2\.0\.0 status=sent " % qid, mta.log())), mta.log()
    assert re.search(r"%s: from=<bob@example.test> size=\d+ nrcpt=1$"
                     % qid, log, re.M), log
    assert re.search(r"event=reject client=\[127\.0\.0\.1\]:\d+ "
                     r"to=<nobody@example.test> dsn=5\.1\.1 "
                     r"reason=\"unknown user\"", log), log
    assert "NOQUEUE" not in log


def test_debug_peers_transcript_masks_auth(mta_factory):
    m = mta_factory(extra="debug_peers = 127.0.0.0/8").start()
    secret = base64.b64encode(b"\0alice@example.test\0alice-pw").decode()
    with smtplib.SMTP("127.0.0.1", m.sub_port, timeout=10) as c:
        c.ehlo("client.test")
        c.starttls()
        c.ehlo("client.test")
        code, _ = c.docmd("AUTH", "PLAIN " + secret)
        assert code == 235
        c.mail(ALICE)
        c.rcpt(BOB)
        c.data(b"Subject: transcript\r\n\r\nbody-text-123\r\n")
    # and AUTH LOGIN's separate lines
    with smtplib.SMTP("127.0.0.1", m.sub_port, timeout=10) as c:
        c.ehlo("client.test")
        c.starttls()
        c.ehlo("client.test")
        assert c.docmd("AUTH", "LOGIN")[0] == 334
        assert c.docmd(base64.b64encode(b"alice@example.test")
                       .decode())[0] == 334
        assert c.docmd(base64.b64encode(b"alice-pw").decode())[0] == 235
    m.wait_messages(BOB, 1)
    log = m.log()
    assert re.search(r"transcript=< line=\"EHLO client\.test\"", log,
                     re.I), log
    assert re.search(r"transcript=> line=\"220 ", log), log
    assert re.search(r"transcript=< line=\"MAIL FROM:<alice@example\.test>",
                     log, re.I), log
    assert re.search(r"transcript=> line=\"250 2\.0\.0 Ok: queued as ",
                     log), log
    assert re.search(r"transcript=< line=\"AUTH PLAIN \*\*\* \(masked\)\"",
                     log), log
    assert secret not in log
    assert base64.b64encode(b"alice-pw").decode() not in log
    assert "alice-pw" not in log
    assert "body-text-123" not in log     # the message is not transcribed


def test_no_transcript_outside_debug_peers(mta_factory):
    m = mta_factory(extra="debug_peers = 192.0.2.0/24").start()
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        c.ehlo("client.test")
    time.sleep(0.2)
    assert "transcript=" not in m.log()


@pytest.mark.parametrize("verify", [False, True])
def test_tls_lines_in_postfix_words(mta_factory, dns, workdir, verify):
    """Outbound: Postfix's "Untrusted/Verified TLS connection established
    to HOST[IP]:PORT: VERSION with cipher NAME (N/N bits)"; inbound:
    "Anonymous TLS connection established from NAME[IP]: ...".  Both
    formats say the protocol, the cipher and the trust."""
    ca, cert, key = make_ca(workdir, "mx.remote.test")
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    with Sink(tls_context=tls_context(cert, key)) as sink:
        extra = "log_format = postfix\n"
        if verify:
            extra += ("smtp_tls_ca = %s\n[route remote.test]\n"
                      "host = mx.remote.test:%d\ntls = verify"
                      % (ca, sink.port))
        m = remote_mta(mta_factory, sink.port, extra)
        with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
            c.ehlo("client.test")
            c.starttls()
            c.ehlo("client.test")
            c.mail(ALICE)
            assert c.rcpt("bob@remote.test")[0] == 250
            assert c.data(b"Subject: tls\r\n\r\nhi\r\n")[0] == 250
        assert len(sink.wait(1)) == 1
        trust = "Verified" if verify else "Untrusted"
        line = wait_for(lambda: re.search(
            r"postbote/deliver\[\d+\]: %s TLS connection established to "
            r"mx\.remote\.test\[127\.0\.0\.1\]:%d: TLSv1\.[23] with cipher "
            r"\S+ \(\d+/\d+ bits\)$" % (trust, sink.port), m.log(), re.M))
        assert line, m.log()
        assert re.search(r"event=tls relay=mx\.remote\.test\[127\.0\.0\.1\]"
                         r":%d trust=%s .*protocol=TLSv1\.[23] cipher=\S+"
                         % (sink.port, trust), m.log()), m.log()
    assert re.search(r"postbote/smtpd\[\d+\]: Anonymous TLS connection "
                     r"established from \S+\[127\.0\.0\.1\]: TLSv1\.3 with "
                     r"cipher TLS_\w+$", m.log(), re.M), m.log()


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_debug_peers_outbound_transcript(mta_factory, dns, workdir, mech):
    """debug_peers names destinations too: the SMTP client's commands and
    the server's replies, the AUTH credentials masked, no message text."""
    from test_remote import authenticator, send
    pwfile = "%s/relay.pw" % workdir
    open(pwfile, "w").write("s3cret pass\n")
    dns.add("smtp.provider.test", "A", "127.0.0.1")
    sink_tls = tls_context(*make_ca(workdir, "smtp.provider.test")[1:])
    with Sink(authenticator=authenticator, auth_required=True,
              auth_exclude_mechanism=[{"PLAIN": "LOGIN",
                                       "LOGIN": "PLAIN"}[mech]],
              tls_context=sink_tls) as sink:
        m = remote_mta(mta_factory, sink.port, (
            "debug_peers = 127.0.0.1/32\n"
            "[route *]\nhost = smtp.provider.test:%d\ntls = may\n"
            "auth = relayuser %s") % (sink.port, pwfile))
        send(m, ["bob@far.test"], body="Subject: t\r\n\r\nsecret-body\r\n")
        assert len(sink.wait(1)) == 1
        relay = r"relay=smtp\.provider\.test\[127\.0\.0\.1\]:%d " % sink.port
        assert wait_for(lambda: re.search(
            relay + r"transcript=< line=\"221 ", m.log()) or re.search(
            relay + r"transcript=> line=\"RSET\"", m.log())), m.log()
    log = m.log()
    assert re.search(relay + r"transcript=< line=\"220 ", log), log
    assert re.search(relay + r"transcript=> line=\"EHLO mx\.example\.test\"",
                     log), log
    assert re.search(relay + r"transcript=> line=\"STARTTLS\"", log), log
    assert re.search(relay + r"transcript=> line=\"MAIL FROM:"
                     r"<sender@example\.test>", log), log
    assert re.search(relay + r"transcript=> line=\"RCPT TO:<bob@far\.test>",
                     log), log
    if mech == "PLAIN":
        assert re.search(relay + r"transcript=> line=\"AUTH PLAIN "
                         r"\*\*\* \(masked\)\"", log), log
    else:
        assert re.search(relay + r"transcript=> line=\"AUTH LOGIN\"", log)
        assert len(re.findall(relay + r"transcript=> line=\"\*\*\* "
                              r"\(masked\)\"", log)) == 2, log
    assert "s3cret" not in log
    assert base64.b64encode(b"s3cret pass").decode() not in log
    assert base64.b64encode(b"\0relayuser\0s3cret pass").decode() not in log
    assert "secret-body" not in log
