"""The process model and the command line: check, reload on SIGHUP, restart
of a dead child, clean stop on SIGTERM, privilege drop, spool recovery."""

import os
import pwd
import signal
import smtplib
import socket
import subprocess
import time

from conftest import BIN


def send(port, rcpt, body=b"Subject: t\r\n\r\nhello\r\n"):
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
        c.sendmail("sender@client.test", [rcpt], body)


def rcpt_code(port, rcpt):
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
        c.ehlo("client.test")
        c.mail("sender@client.test")
        return c.rcpt(rcpt)[0]


def run(*args, env=None):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True,
                          env=env, timeout=30)


def test_version():
    r = run("version")
    assert r.returncode == 0 and r.stdout.startswith("postbote ")


def test_usage_errors_exit_2():
    assert run().returncode == 2
    assert run("frobnicate").returncode == 2
    assert run("serve", "extra-arg").returncode == 2


def test_check_good_and_bad_config(mta_factory):
    m = mta_factory()
    r = run("check", "-c", m.conf)
    assert r.returncode == 0, r.stderr
    with open(m.conf, "a") as f:
        f.write("no_such_key = 1\n")
    r = run("check", "-c", m.conf)
    assert r.returncode == 2
    # the error names the file, the line and the key
    lines = open(m.conf).read().count("\n")
    assert "%s:%d:" % (m.conf, lines) in r.stderr
    assert "no_such_key" in r.stderr


def test_check_reports_bad_aliases_file(mta_factory):
    m = mta_factory(aliases="x@example.test: |/bin/sh\n")
    r = run("check", "-c", m.conf)
    assert r.returncode == 2
    assert "aliases:1" in r.stderr


def test_serve_refuses_bad_config_with_status_2(mta_factory):
    m = mta_factory(extra="max_recipients = lots")
    r = run("serve", "-c", m.conf)
    assert r.returncode == 2
    assert "max_recipients" in r.stderr


def test_config_from_environment(mta_factory):
    m = mta_factory()
    env = dict(os.environ, POSTBOTE_CONF=m.conf)
    r = run("check", env=env)
    assert r.returncode == 0 and m.conf in r.stdout


def test_children_run_unprivileged(mta):
    if os.geteuid() != 0:
        return
    uid = pwd.getpwnam("postbote").pw_uid
    smtpd_uid = pwd.getpwnam("postbote-smtpd").pw_uid
    for name, pid in mta.child_pids().items():
        with open("/proc/%d/status" % pid) as f:
            uids = [l for l in f if l.startswith("Uid:")][0].split()[1:]
        want = smtpd_uid if name == "smtpd" else uid
        assert all(int(u) == want for u in uids), (name, uids)


def test_dead_child_is_restarted(mta):
    old = mta.child_pids()
    os.kill(old["smtpd"], signal.SIGKILL)
    end = time.time() + 10
    while time.time() < end and mta.child_pids()["smtpd"] == old["smtpd"]:
        time.sleep(0.05)
    assert mta.child_pids()["smtpd"] != old["smtpd"]
    assert "event=exit process=smtpd" in mta.log()
    # The new smtpd accepts and delivers.
    for _ in range(50):
        try:
            send(mta.port, "bob@example.test")
            break
        except (OSError, smtplib.SMTPException):
            time.sleep(0.1)
    assert len(mta.wait_messages("bob@example.test", 1)) == 1
    for name in ("lookup", "deliver"):
        os.kill(mta.child_pids()[name], signal.SIGKILL)
    time.sleep(0.5)
    send(mta.port, "bob@example.test")
    assert len(mta.wait_messages("bob@example.test", 2)) == 2


def test_reload_picks_up_new_aliases(mta):
    assert rcpt_code(mta.port, "new@example.test") == 550
    with open(os.path.join(mta.base, "aliases"), "a") as f:
        f.write("new@example.test: bob@example.test\n")
    mta.proc.send_signal(signal.SIGHUP)
    end = time.time() + 10
    while time.time() < end and rcpt_code(mta.port,
                                          "new@example.test") != 250:
        time.sleep(0.1)
    send(mta.port, "new@example.test")
    assert len(mta.wait_messages("bob@example.test", 1)) == 1
    assert "event=reload result=ok" in mta.log()


def test_bad_reload_keeps_old_config(mta):
    with open(mta.conf, "a") as f:
        f.write("max_recipients = -3\n")
    mta.proc.send_signal(signal.SIGHUP)
    end = time.time() + 10
    while time.time() < end and "result=refused" not in mta.log():
        time.sleep(0.05)
    assert "event=reload result=refused" in mta.log()
    assert "max_recipients" in mta.log()
    send(mta.port, "alice@example.test")
    assert len(mta.wait_messages("alice@example.test", 1)) == 1
    assert mta.proc.poll() is None


def test_sigterm_stops_cleanly_with_421(mta):
    s = socket.create_connection(("127.0.0.1", mta.port))
    assert s.recv(512).startswith(b"220")
    s.sendall(b"EHLO client.test\r\n")
    time.sleep(0.2)
    s.recv(4096)
    pids = mta.child_pids()
    mta.proc.send_signal(signal.SIGTERM)
    data = b""
    s.settimeout(10)
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"421 4.3.2")
    assert mta.proc.wait(20) == 0
    for pid in pids.values():
        assert not os.path.exists("/proc/%d/status" % pid) or \
            "zombie" in open("/proc/%d/status" % pid).read()
    assert "event=stopped" in mta.log()


def test_queued_mail_survives_restart(mta_factory, dns):
    dns.set_rcode("remote.test", None, "SERVFAIL")
    m = mta_factory()
    m.start()
    # The remote recipient stays queued (its MX lookup fails: deferred).
    with smtplib.SMTP("127.0.0.1", m.port) as c:
        c.sendmail("a@client.test", ["someone@remote.test"],
                   b"Subject: wait\r\n\r\nx\r\n")
    q = m.queued()
    assert len(q) == 1
    assert m.stop() == 0
    m.start()
    assert m.queued() == q
    assert "messages=1" in m.log()


def test_corrupt_envelope_is_moved_aside(mta_factory, dns):
    dns.set_rcode("remote.test", None, "SERVFAIL")   # stays queued
    m = mta_factory()
    m.start()
    with smtplib.SMTP("127.0.0.1", m.port) as c:
        c.sendmail("a@client.test", ["someone@remote.test"],
                   b"Subject: wait\r\n\r\nx\r\n")
    (qid,) = m.queued()
    path = m.envelope_file(qid)         # written at the deferral
    assert m.stop() == 0
    data = bytearray(open(path, "rb").read())
    data[5:9] = b"\x00\n\r\n"           # break the framing
    open(path, "wb").write(bytes(data))
    # keep the journal from restoring the good copy: that is its job
    os.unlink(os.path.join(m.state, "spool", "journal"))
    m.start()
    assert m.queued() == []
    assert qid in os.listdir(os.path.join(m.state, "spool", "corrupt"))
    assert "event=corrupt" in m.log()


def test_journal_restores_lost_spool_files(mta_factory, dns):
    dns.set_rcode("remote.test", None, "SERVFAIL")   # stays queued
    m = mta_factory()
    m.start()
    with smtplib.SMTP("127.0.0.1", m.port) as c:
        c.sendmail("a@client.test", ["someone@remote.test"],
                   b"Subject: wait\r\n\r\nkept by the journal\r\n")
    (qid,) = m.queued()
    # A crash before the spool files reached the disk: simulate by
    # killing everything and cutting the files short.
    pids = list(m.child_pids().values()) + [m.proc.pid]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    m.proc.wait(10)
    m.proc = None
    m.logf.close()
    # (the envelope file may not be written yet: then it is lost already)
    for d in ("queue", "data"):
        path = os.path.join(m.state, "spool", d, qid)
        if os.path.exists(path):
            open(path, "wb").close()
    time.sleep(0.3)
    m.start()
    assert m.queued() == [qid]
    with open(os.path.join(m.state, "spool", "data", qid), "rb") as f:
        assert b"kept by the journal" in f.read()
    assert "event=journal-replayed records=1" in m.log()


def test_restart_keeps_delivery_state(mta_factory, dns):
    dns.set_rcode("remote.test", None, "SERVFAIL")   # stays queued
    # Delivered to alice, waiting for the remote one: a restart must not
    # deliver alice's copy again (the journal replay keeps status records).
    m = mta_factory()
    m.start()
    with smtplib.SMTP("127.0.0.1", m.port) as c:
        c.sendmail("a@client.test", ["alice@example.test",
                                     "someone@remote.test"],
                   b"Subject: twice?\r\n\r\nonce\r\n")
    assert len(m.wait_messages("alice@example.test", 1)) == 1
    # A mail client moves it to cur/: a name check alone would miss it.
    new = os.path.join(m.maildir("alice@example.test"), "new")
    cur = os.path.join(m.maildir("alice@example.test"), "cur")
    for name in os.listdir(new):
        os.rename(os.path.join(new, name), os.path.join(cur, name + ":2,S"))
    assert m.stop() == 0
    m.start()
    time.sleep(1.5)
    assert m.messages("alice@example.test") == []
    assert len(os.listdir(cur)) == 1
    assert len(m.queued()) == 1


def test_reload_refuses_listener_changes(mta):
    with open(mta.conf) as f:
        text = f.read()
    cut = text.index("[listen submission]")
    with open(mta.conf, "w") as f:
        f.write(text[:cut])
    mta.proc.send_signal(signal.SIGHUP)
    end = time.time() + 10
    while time.time() < end and "result=refused" not in mta.log():
        time.sleep(0.05)
    assert "need a restart" in mta.log()
    # Both listeners still work.
    send(mta.port, "alice@example.test")
    with smtplib.SMTP("127.0.0.1", mta.sub_port) as c:
        assert c.noop()[0] == 250


def test_children_ignore_sigint(mta):
    # Ctrl-C reaches the whole process group; only the parent acts on it.
    pids = mta.child_pids()
    for pid in pids.values():
        os.kill(pid, signal.SIGINT)
    time.sleep(0.5)
    assert mta.child_pids() == pids
    assert "event=exit" not in mta.log()
    send(mta.port, "alice@example.test")
    assert len(mta.wait_messages("alice@example.test", 1)) == 1


def test_client_that_never_reads_is_bounded(mta):
    # Commands keep coming, replies are never read: smtpd stops reading
    # instead of queueing replies without end.
    pid = mta.child_pids()["smtpd"]

    def rss():
        with open("/proc/%d/status" % pid) as f:
            return int([l for l in f if l.startswith("VmRSS")][0].split()[1])

    before = rss()
    s = socket.create_connection(("127.0.0.1", mta.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.recv(512)
    s.setblocking(False)
    sent = 0
    end = time.time() + 3
    chunk = b"HELP\r\n" * 2000
    while time.time() < end and sent < 50 * 1024 * 1024:
        try:
            sent += s.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
    grown = rss() - before
    s.close()
    assert grown < 20 * 1024, "smtpd grew by %d KiB" % grown
    # Others are served meanwhile and after.
    send(mta.port, "bob@example.test")
    assert len(mta.wait_messages("bob@example.test", 1)) == 1


def test_private_folder_with_relative_paths(workdir, dns):
    """Started in a private folder (mode 0700, as a checkout in /root is)
    with state_dir, users and mailboxes given relative to it: the
    processes that run as `user` cannot cross that folder, but they work
    inside state_dir, so the spool opens and mail is delivered."""
    from conftest import free_port, wait_port
    import crypt

    home = os.path.join(workdir, "private")
    os.mkdir(home)
    os.chmod(home, 0o700)
    port = free_port()
    with open(os.path.join(home, "users"), "w") as f:
        f.write("bob@example.test:%s\n" % crypt.crypt(
            "pw", crypt.mksalt(crypt.METHOD_SHA512)))
    with open(os.path.join(home, "postbote.conf"), "w") as f:
        f.write("hostname = mx.example.test\ndomains = example.test\n"
                "state_dir = ./var\nusers = users\nresolver = %s\n"
                "[listen mx]\naddress = 127.0.0.1:%d\n" % (dns.address,
                                                             port))
    with open(os.path.join(home, "log"), "wb") as logf:
        proc = subprocess.Popen([BIN, "serve", "-c", "postbote.conf"],
                                cwd=home, stdout=logf, stderr=logf,
                                stdin=subprocess.DEVNULL)
        try:
            assert wait_port(port, proc), open(os.path.join(home,
                                                            "log")).read()
            send(port, "bob@example.test")
            new = os.path.join(home, "var", "mail", "example.test", "bob",
                               "new")
            end = time.time() + 15
            while time.time() < end and not (os.path.isdir(new) and
                                             os.listdir(new)):
                time.sleep(0.05)
            log = open(os.path.join(home, "log")).read()
            assert os.path.isdir(new) and len(os.listdir(new)) == 1, log
            assert "state_dir=%s/var" % home in log
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    log = open(os.path.join(home, "log")).read()
    assert "Permission denied" not in log
    assert "AddressSanitizer" not in log and "runtime error:" not in log \
        and "LeakSanitizer" not in log, log


def test_reload_takes_relative_paths_from_the_start_folder(workdir, dns):
    """A config read with absolute paths only, then reloaded with a
    relative one: every process takes it from the folder the server was
    started in, not from state_dir, where the children work (the children
    are started afresh by exec, and the parent hands them that folder)."""
    from conftest import free_port, wait_port
    import crypt

    home = os.path.join(workdir, "start")
    os.mkdir(home)
    os.chmod(home, 0o755)
    boxes = os.path.join(home, "boxes")
    os.mkdir(boxes)
    pw = pwd.getpwnam("postbote")
    os.chown(boxes, pw.pw_uid, pw.pw_gid)
    port = free_port()
    users = os.path.join(home, "users")
    with open(users, "w") as f:
        f.write("bob@example.test:%s\n" % crypt.crypt(
            "pw", crypt.mksalt(crypt.METHOD_SHA512)))
    conf = os.path.join(home, "postbote.conf")
    body = ("domains = example.test\nstate_dir = %s/state\nusers = %s\n"
            "resolver = %s\n[listen mx]\naddress = 127.0.0.1:%d\n"
            % (home, users, dns.address, port))
    with open(conf, "w") as f:
        f.write("hostname = mx.example.test\n" + body)
    logfile = os.path.join(home, "log")
    with open(logfile, "wb") as logf:
        proc = subprocess.Popen([BIN, "serve", "-c", conf], cwd=home,
                                stdout=logf, stderr=logf,
                                stdin=subprocess.DEVNULL)
        try:
            assert wait_port(port, proc), open(logfile).read()
            with open(conf, "w") as f:
                f.write("hostname = mx.example.test\n"
                        "mailbox = boxes/%d/%u\n" + body)
            proc.send_signal(signal.SIGHUP)
            end = time.time() + 15
            while time.time() < end and \
                    open(logfile).read().count("event=reloaded") < 4:
                time.sleep(0.05)
            send(port, "bob@example.test")
            new = os.path.join(boxes, "example.test", "bob", "new")
            end = time.time() + 15
            while time.time() < end and not (os.path.isdir(new) and
                                             os.listdir(new)):
                time.sleep(0.05)
            log = open(logfile).read()
            assert os.path.isdir(new) and len(os.listdir(new)) == 1, log
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    log = open(logfile).read()
    assert "AddressSanitizer" not in log and "runtime error:" not in log \
        and "LeakSanitizer" not in log, log
