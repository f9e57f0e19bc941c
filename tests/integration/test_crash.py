"""Crash consistency: kill -9 of the queue process, then of the whole process
tree, during bursts of concurrent sends; after a restart every message that
got its 250 is delivered exactly once (or still queued), and nothing that
was refused shows up twice."""

import os
import re
import signal
import smtplib
import socket
import threading
import time

import pytest

RCPT = "alice@example.test"


def sender(port, prefix, stop, acked, tried):
    n = 0
    while not stop.is_set():
        n += 1
        tid = "%s-%d" % (prefix, n)
        tried.append(tid)
        body = ("Subject: burst\r\nX-Test-Id: %s\r\n\r\n" % tid +
                "line of text\r\n" * 40).encode()
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
                c.sendmail("burst@client.test", [RCPT], body)
            acked.append(tid)
        except (smtplib.SMTPException, OSError):
            time.sleep(0.02)


def burst(mta, seconds, during=None, threads=10, tag="b"):
    stop = threading.Event()
    acked, tried = [], []
    ts = [threading.Thread(target=sender,
                           args=(mta.port, "%s%d" % (tag, i), stop, acked,
                                 tried))
          for i in range(threads)]
    for t in ts:
        t.start()
    time.sleep(seconds / 2)
    if during is not None:
        during()
    time.sleep(seconds / 2)
    stop.set()
    for t in ts:
        t.join(30)
    return set(acked), set(tried)


def delivered_ids(mta):
    counts = {}
    for msg in mta.messages(RCPT):
        m = re.search(rb"X-Test-Id: (\S+)", msg)
        assert m, msg[:200]
        tid = m.group(1).decode()
        counts[tid] = counts.get(tid, 0) + 1
    return counts


def queued_ids(mta):
    ids = set()
    data = os.path.join(mta.state, "spool", "data")
    for qid in mta.queued():
        try:
            with open(os.path.join(data, qid), "rb") as f:
                m = re.search(rb"X-Test-Id: (\S+)", f.read())
        except OSError:
            continue
        if m:
            ids.add(m.group(1).decode())
    return ids


def wait_listening(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5) as s:
                if s.recv(64).startswith(b"220"):
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def check(mta, acked, tried):
    counts = delivered_ids(mta)
    queued = queued_ids(mta)
    dups = {t: c for t, c in counts.items() if c > 1}
    assert not dups, "delivered more than once: %r" % dups
    missing = [t for t in acked if t not in counts and t not in queued]
    assert not missing, "acknowledged but lost: %r" % missing[:20]
    unknown = set(counts) - tried
    assert not unknown


def test_kill_queue_process_during_burst(mta):
    def kill_queue():
        os.kill(mta.child_pids()["queue"], signal.SIGKILL)

    acked, tried = burst(mta, 3.0, kill_queue, tag="q")
    assert len(acked) > 20
    assert wait_listening(mta.port)
    assert "event=exit process=queue" in mta.log()
    # The restarted queue delivers what the old one had accepted.
    end = time.time() + 30
    while time.time() < end and not set(acked) <= set(delivered_ids(mta)):
        time.sleep(0.2)
    check(mta, acked, tried)
    assert set(acked) <= set(delivered_ids(mta))


def test_kill_whole_tree_during_burst_then_restart(mta):
    acked_all, tried_all = set(), set()

    def kill_all():
        pids = list(mta.child_pids().values()) + [mta.proc.pid]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    for round_ in range(2):
        acked, tried = burst(mta, 2.0, kill_all, tag="t%d" % round_)
        acked_all |= acked
        tried_all |= tried
        mta.proc.wait(10)
        # Children may take a moment to go after the parent.
        time.sleep(0.3)
        mta.proc = None
        mta.logf.close()
        mta.start()
    print("acked", len(acked_all), "tried", len(tried_all))
    assert len(acked_all) > 20
    end = time.time() + 30
    while time.time() < end and (
            not acked_all <= set(delivered_ids(mta)) or mta.queued()):
        time.sleep(0.2)
    check(mta, acked_all, tried_all)
    assert acked_all <= set(delivered_ids(mta))
    assert mta.queued() == []
    # Nothing half-written was left visible, and nothing was quarantined.
    assert os.listdir(os.path.join(mta.state, "spool", "corrupt")) == []


def restarted_queue(mta):
    """kill -9 the queue process and wait for its successor to load."""
    before = mta.log().count("event=queue-loaded")
    os.kill(mta.child_pids()["queue"], signal.SIGKILL)
    end = time.time() + 20
    while time.time() < end and \
            mta.log().count("event=queue-loaded") <= before:
        time.sleep(0.05)
    assert mta.log().count("event=queue-loaded") > before, mta.log()


def test_restart_says_stale_files_in_one_line(mta):
    """issue 10, item 14: each restart logged 64 `stale-removed` lines,
    one per data file made ahead for smtpd."""
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=10) as c:
        c.sendmail("x@client.test", [RCPT], b"Subject: s\r\n\r\nx\r\n")
    assert len(mta.wait_messages(RCPT, 1)) == 1
    time.sleep(0.5)          # the pool of data files is made after a commit
    start = len(mta.log())
    restarted_queue(mta)
    lines = [l for l in mta.log()[start:].splitlines()
             if "stale-removed" in l]
    assert len(lines) == 1, "%d lines:\n%s" % (len(lines), "\n".join(lines))
    m = re.search(r"event=stale-removed files=(\d+) dir=spool/data", lines[0])
    assert m and int(m.group(1)) >= 1, lines[0]
    # a restart with nothing left over says nothing
    start = len(mta.log())
    mta.stop()
    for name in os.listdir(os.path.join(mta.state, "spool", "data")):
        os.unlink(os.path.join(mta.state, "spool", "data", name))
    mta.start()
    assert "stale-removed" not in mta.log()[start:]


def test_old_maildir_tmp_files_are_removed(mta):
    """issue 10, item 14: files a crash left in Maildir tmp/ stayed; those
    unused for 36 hours go (maildir(5)), fresh ones stay."""
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=10) as c:
        c.sendmail("x@client.test", [RCPT], b"Subject: s\r\n\r\nx\r\n")
    assert len(mta.wait_messages(RCPT, 1)) == 1
    mta.stop()
    tmp = os.path.join(mta.maildir(RCPT), "tmp")
    st = os.stat(tmp)
    old = time.time() - 40 * 3600
    for name, when in (("1.M1P1Q1.old", old), ("2.M2P2Q2.old", old),
                       ("3.M3P3Q3.fresh", time.time() - 3600)):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write("left over\n")
        os.chown(path, st.st_uid, st.st_gid)
        os.utime(path, (when, when))
    start = len(mta.log())
    mta.start()
    end = time.time() + 15
    while time.time() < end and "maildir-tmp-removed" not in mta.log():
        time.sleep(0.05)
    assert "event=maildir-tmp-removed files=2" in mta.log()[start:], \
        mta.log()[start:]
    assert sorted(os.listdir(tmp)) == ["3.M3P3Q3.fresh"]
    assert len(mta.messages(RCPT)) == 1


def tracking_sender(port, prefix, stop, outcome):
    """Like sender, but keeps each message's outcome: "acked", "refused"
    (the server answered no, at any step) with the reply, or "unknown"
    (the connection broke: the client cannot know)."""
    n = 0
    while not stop.is_set():
        n += 1
        tid = "%s-%d" % (prefix, n)
        body = ("Subject: burst\r\nX-Test-Id: %s\r\n\r\n" % tid +
                "line of text\r\n" * 40).encode()
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as c:
                c.sendmail("burst@client.test", [RCPT], body)
            outcome[tid] = ("acked", "")
        except smtplib.SMTPResponseException as e:
            outcome[tid] = ("refused", "%d %s" % (e.smtp_code, e.smtp_error))
        except smtplib.SMTPRecipientsRefused as e:
            outcome[tid] = ("refused", repr(e.recipients))
        except (smtplib.SMTPException, OSError) as e:
            outcome[tid] = ("unknown", repr(e))
            time.sleep(0.02)


def test_commits_cut_by_a_queue_crash_are_answered_by_the_new_queue(mta):
    """issue 10, item 6: sessions waiting on a commit when the queue
    process died got `451 internal service restarting`, though most of
    those messages had been journaled and were delivered: a client that
    retries sends them twice.  Now smtpd asks the new queue and answers
    250 when it recovered the message.  Several kill -9 of the queue under
    load; no message may be both refused and delivered, and none answered
    250 may be lost."""
    outcome = {}
    stop = threading.Event()
    ts = [threading.Thread(target=tracking_sender,
                           args=(mta.port, "k%d" % i, stop, outcome))
          for i in range(24)]
    for t in ts:
        t.start()
    for _ in range(6):
        time.sleep(1.0)
        restarted_queue(mta)
    time.sleep(1.0)
    stop.set()
    for t in ts:
        t.join(60)
    acked = {t for t, (o, _) in outcome.items() if o == "acked"}
    refused = {t: why for t, (o, why) in outcome.items() if o == "refused"}
    cut = {t for t, why in refused.items() if "restarting" in why}
    end = time.time() + 30
    while time.time() < end and not acked <= set(delivered_ids(mta)):
        time.sleep(0.2)
    time.sleep(1.0)
    counts = delivered_ids(mta)
    both = sorted(t for t in refused if t in counts)
    log = mta.log()
    print("acked %d, refused %d (%d 'restarting'), refused and delivered "
          "%d (%d 'restarting'), unknown %d; commits interrupted %d, "
          "answered by the new queue: journaled %d, not %d" % (
              len(acked), len(refused), len(cut), len(both),
              len([t for t in both if t in cut]),
              len(outcome) - len(acked) - len(refused),
              len(re.findall(r"smtpd\[\d+\]: \w+: session=\w+ "
                             r"event=commit-interrupted", log)),
              len(re.findall(r"smtpd\[\d+\]: \w+: session=\w+ "
                             r"event=commit-status journaled=yes", log)),
              len(re.findall(r"smtpd\[\d+\]: \w+: session=\w+ "
                             r"event=commit-status journaled=no", log))))
    assert len(acked) > 50
    assert not both, "refused but delivered: %r" % [
        (t, refused[t]) for t in both[:10]]
    check(mta, acked, set(outcome))
    assert acked <= set(counts)
