"""Maildir delivery through the deliver process's open directories: the
tmp/ and new/ of recent mailboxes stay open (src/deliver/local.c), so
these tests check that more mailboxes than it keeps open all get their
copy, that a mailbox removed while its directories were open is made
again, and that small messages (read into memory once) and big ones
(copied from the spool file) arrive byte for byte."""

import os
import shutil
import smtplib

from conftest import USERS

MANY = 80           # more than the 64 mailboxes deliver keeps open


def many_users():
    users = dict(USERS)
    for i in range(MANY):
        users["u%02d@example.test" % i] = "pw%02d" % i
    return users


def test_more_mailboxes_than_kept_open(mta_factory):
    m = mta_factory(users=many_users()).start()
    rcpts = ["u%02d@example.test" % i for i in range(MANY)]
    with smtplib.SMTP("127.0.0.1", m.port) as c:
        c.sendmail("a@client.test", rcpts,
                   b"Subject: to all\r\n\r\none copy each\r\n")
        # then one each, so that the mailboxes come round again
        for r in rcpts:
            c.sendmail("a@client.test", [r],
                       b"Subject: to " + r.encode() + b"\r\n\r\nhi\r\n")
    for r in rcpts:
        msgs = m.wait_messages(r, 2)
        assert len(msgs) == 2, (r, m.log())
        subjects = sorted(x.split(b"Subject: ", 1)[1].split(b"\n", 1)[0]
                          for x in msgs)
        assert subjects == sorted([b"to all", b"to " + r.encode()])
        for x in msgs:
            assert b"Delivered-To: " + r.encode() + b"\n" in x
            assert b"\r" not in x
    assert m.wait_queue_empty() == []


def test_removed_mailbox_is_made_again(mta):
    box = mta.maildir("alice@example.test")
    with smtplib.SMTP("127.0.0.1", mta.port) as c:
        c.sendmail("a@client.test", ["alice@example.test"],
                   b"Subject: first\r\n\r\none\r\n")
    assert len(mta.wait_messages("alice@example.test", 1)) == 1
    shutil.rmtree(box)          # while deliver holds tmp/ and new/ open
    with smtplib.SMTP("127.0.0.1", mta.port) as c:
        c.sendmail("a@client.test", ["alice@example.test"],
                   b"Subject: second\r\n\r\ntwo\r\n")
    msgs = mta.wait_messages("alice@example.test", 1)
    assert len(msgs) == 1, mta.log()
    assert b"Subject: second" in msgs[0]
    for sub in ("tmp", "new", "cur"):
        assert os.path.isdir(os.path.join(box, sub))
    assert os.listdir(os.path.join(box, "tmp")) == []
    assert mta.wait_queue_empty() == []


def test_small_and_big_messages_byte_for_byte(mta):
    line = b"0123456789" * 7 + b"\r\n"
    small = b"Subject: small\r\n\r\n" + line * 20
    big = b"Subject: big\r\n\r\n" + line * 3000     # past 64 KiB
    with smtplib.SMTP("127.0.0.1", mta.port) as c:
        c.sendmail("a@client.test", ["bob@example.test"], small)
        c.sendmail("a@client.test", ["bob@example.test"], big)
    msgs = mta.wait_messages("bob@example.test", 2)
    assert len(msgs) == 2, mta.log()
    for sent in (small, big):
        want = sent.replace(b"\r\n", b"\n")
        got = [x for x in msgs if x.endswith(want)]
        assert len(got) == 1
        head = got[0][:-len(want)]
        assert head.startswith(b"Return-Path: <a@client.test>\n"
                               b"Delivered-To: bob@example.test\n")
        assert b"Received: from" in head
