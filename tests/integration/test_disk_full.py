"""A full mailbox file system defers the recipient (retried later) and
loses nothing; once there is room again the message is delivered."""

import os
import smtplib
import subprocess
import time

import pytest


@pytest.fixture
def small_fs(workdir):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path = os.path.join(workdir, "mailfs")
    os.mkdir(path)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0777",
                        "tmpfs", path], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % r.stderr)
    yield path
    subprocess.run(["umount", "-l", path], check=False)


def test_full_disk_defers_then_delivers(mta_factory, small_fs):
    m = mta_factory(extra="mailbox = %s/%%d/%%u" % small_fs)
    m.start()
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 200   # ~200 KB
    with smtplib.SMTP("127.0.0.1", m.port) as c:
        c.sendmail("a@client.test", ["alice@example.test"], big)
    # The write fails for lack of space: deferred, still queued.
    end = time.time() + 10
    while time.time() < end and "status=deferred" not in m.log():
        time.sleep(0.05)
    assert "status=deferred" in m.log()
    assert "No space left on device" in m.log()
    assert len(m.queued()) == 1
    assert os.listdir(os.path.join(small_fs, "example.test", "alice",
                                   "new")) == []
    # Room again: the retry (retry = 1s 2s) delivers it.
    subprocess.run(["mount", "-o", "remount,size=4m", small_fs], check=True)
    path = os.path.join(small_fs, "example.test", "alice", "new")
    end = time.time() + 15
    while time.time() < end and not os.listdir(path):
        time.sleep(0.1)
    (name,) = os.listdir(path)
    with open(os.path.join(path, name), "rb") as f:
        body = f.read()
    assert body.count(b"x" * 998) == 200
    assert m.wait_queue_empty() == []
