"""Recipients: users, aliases, delimiter, case, unknown users, relay
control (every classic trick), Postmaster, SMTPUTF8 addresses, DSN
parameters, max_recipients, duplicates."""

import re
import time

import pytest

from smtpclient import RawSMTP, queue_id

ALICE, BOB, CAROL = "alice@example.test", "bob@example.test", \
    "carol@example.org"
EVERYONE = (ALICE, BOB, CAROL)


@pytest.fixture(scope="module")
def smta(mta_module_factory):
    """One server shared by the reply-only tests of this module."""
    return mta_module_factory().start()


@pytest.fixture(scope="module")
def soutsider(mta_module_factory):
    """A shared server for which the loopback client is not a relay client."""
    return mta_module_factory(relay_networks="192.0.2.0/24").start()


def session(port, helo="client.test"):
    c = RawSMTP(port)
    c.ehlo(helo)
    return c


def send(mta, rcpts, body=b"Subject: r\r\n\r\nhello\r\n", sender="x@client.test",
         mail_params="", port=None):
    """One transaction; every RCPT must be accepted. Returns the queue id."""
    with session(port or mta.port) as c:
        c.expect("MAIL FROM:<%s>%s" % (sender, mail_params), 250)
        for r in rcpts:
            c.expect(r if r.startswith("RCPT") else "RCPT TO:<%s>" % r, 250)
        c.expect("DATA", 354)
        c.send(body + b".\r\n")
        r = c.reply()
        assert r.code == 250, r
        return queue_id(r)


def rcpt_reply(mta, rcpt, port=None, params="", mail="MAIL FROM:<x@client.test>"):
    with session(port or mta.port) as c:
        c.expect(mail, 250)
        return c.cmd("RCPT TO:<%s>%s" % (rcpt, params) if not
                     rcpt.startswith("RCPT") else rcpt)


def wait_sent(mta, qid, n, timeout=10):
    """Wait until n status=sent lines for qid are logged."""
    end = time.time() + timeout
    while time.time() < end:
        if mta.log().count("%s: to=" % qid) >= n and \
                len(re.findall(r"%s: to=.*status=sent" % qid, mta.log())) >= n:
            break
        time.sleep(0.05)
    time.sleep(0.2)


def assert_not_finished(mta, qid, rcpt):
    """The recipient must stay queued (the caller makes its MX lookup
    fail temporarily) -- never logged as sent, bounced or expired."""
    for line in mta.log().splitlines():
        if "%s: to=<%s>" % (qid, rcpt) in line:
            assert re.search(r"status=(sent|bounced|expired)", line) is None, \
                line


def counts(mta):
    return tuple(len(mta.messages(a)) for a in EVERYONE)


def delivered_to(mta, addr):
    msgs = mta.wait_messages(addr, 1)
    assert len(msgs) == 1, (addr, msgs)
    return msgs[0]


# ---- users ----

@pytest.mark.parametrize("addr", EVERYONE)
def test_users_delivered(mta, addr):
    send(mta, [addr])
    msg = delivered_to(mta, addr)
    assert b"\nDelivered-To: %s\n" % addr.encode() in msg


def test_delivered_to_and_return_path(mta):
    send(mta, [ALICE], sender="Sender.Name@Client.Test")
    msg = delivered_to(mta, ALICE)
    # the local part is kept as sent; the domain may be lower-cased
    first = msg.split(b"\n")[0]
    assert first.lower() == b"return-path: <sender.name@client.test>", msg
    assert first.startswith(b"Return-Path: <Sender.Name@"), msg
    assert b"\nDelivered-To: alice@example.test\n" in msg


# ---- aliases ----

def test_alias_simple_chain(mta):
    """info -> team -> alice, bob; bob -> bob, archive -> carol."""
    qid = send(mta, ["info@example.test"])
    for a in EVERYONE:
        delivered_to(mta, a)
    wait_sent(mta, qid, 3)
    assert counts(mta) == (1, 1, 1)
    assert mta.wait_queue_empty() == []


def test_alias_team_bare_local_target(mta):
    """team: alice@example.test, bob -- a bare "bob" is a local name."""
    qid = send(mta, ["team@example.test"])
    for a in EVERYONE:
        delivered_to(mta, a)
    wait_sent(mta, qid, 3)
    assert counts(mta) == (1, 1, 1)


def test_alias_self_reference(mta):
    """bob: bob@example.test, archive@example.org -- bob keeps his copy
    (no loop), archive goes to carol."""
    qid = send(mta, [BOB])
    delivered_to(mta, BOB)
    delivered_to(mta, CAROL)
    wait_sent(mta, qid, 2)
    assert counts(mta) == (0, 1, 1)
    assert mta.wait_queue_empty() == []
    assert "loop" not in " ".join(l for l in mta.log().splitlines()
                                  if qid in l)


def test_alias_loop_refused(smta):
    for a in ("loop1@example.test", "loop2@example.test"):
        r = rcpt_reply(smta, a)
        assert (r.code, r.enhanced) == (550, "5.4.6"), (a, r)


def test_alias_loop_is_logged(mta):
    """issue 10, item 14: the refusal was not logged."""
    with session(mta.port) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        c.expect("RCPT TO:<Loop1@example.test>", 550, "5.4.6")
    end = time.time() + 5
    while time.time() < end and "event=alias-loop" not in mta.log():
        time.sleep(0.05)
    lines = [l for l in mta.log().splitlines() if "event=alias-loop" in l]
    assert len(lines) == 1, mta.log()
    assert "to=<Loop1@example.test>" in lines[0]
    assert re.search(r"session=[0-9a-f]{16} ", lines[0]), lines[0]


def test_alias_loop_does_not_poison_transaction(mta):
    with session(mta.port) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        c.expect("RCPT TO:<loop1@example.test>", 550, "5.4.6")
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: l\r\n\r\nx\r\n.\r\n")
        assert c.reply().code == 250
    delivered_to(mta, ALICE)


def test_catch_all(mta):
    qid = send(mta, ["whoever@example.org", "Another.One@EXAMPLE.ORG"])
    delivered_to(mta, CAROL)
    wait_sent(mta, qid, 1)
    time.sleep(0.3)
    # both catch-all recipients expand to carol: one copy
    assert len(mta.messages(CAROL)) == 1
    assert counts(mta)[:2] == (0, 0)
    assert mta.wait_queue_empty() == []


def test_catch_all_does_not_shadow_users(mta):
    send(mta, [CAROL])
    delivered_to(mta, CAROL)
    assert counts(mta) == (0, 0, 1)


def test_catch_all_only_its_domain(smta):
    r = rcpt_reply(smta, "whoever@example.test")
    assert (r.code, r.enhanced) == (550, "5.1.1"), r


@pytest.mark.parametrize("rcpt", ["postmaster@example.test", "Postmaster",
                                  "POSTMASTER", "postmaster",
                                  "PostMaster@Example.Test"])
def test_postmaster(mta, rcpt):
    qid = send(mta, [rcpt])
    delivered_to(mta, ALICE)
    wait_sent(mta, qid, 1)
    assert counts(mta) == (1, 0, 0)


def test_postmaster_from_non_relay_client(mta_factory):
    m = mta_factory(relay_networks="192.0.2.0/24").start()
    send(m, ["Postmaster"])
    delivered_to(m, ALICE)


# RFC 5321 4.5.1: postmaster is accepted with a users file and no aliases
# (issue 10, item 1: it got 550 5.1.1 user unknown).

PM_RCPTS = ["Postmaster", "postmaster", "POSTMASTER", "postmaster@example.test",
            "PostMaster@Example.ORG", "postmaster+tag@example.test"]


@pytest.fixture(scope="module")
def pm_smta(mta_module_factory):
    return mta_module_factory(aliases="").start()


@pytest.mark.parametrize("rcpt", PM_RCPTS)
def test_postmaster_accepted_without_aliases(pm_smta, rcpt):
    r = rcpt_reply(pm_smta, rcpt)
    assert r.code == 250, r


def test_postmaster_without_aliases_has_a_mailbox(mta_factory):
    """No alias, no key, no root: its own mailbox, at each domain."""
    m = mta_factory(aliases="").start()
    send(m, ["Postmaster", "postmaster@example.org"])
    delivered_to(m, "postmaster@example.test")
    delivered_to(m, "postmaster@example.org")
    assert counts(m) == (0, 0, 0)


def test_postmaster_goes_to_the_configured_address(mta_factory):
    m = mta_factory(aliases="", extra="postmaster = bob@example.test").start()
    qid = send(m, ["POSTMASTER@EXAMPLE.ORG", "Postmaster"])
    delivered_to(m, BOB)
    wait_sent(m, qid, 1)
    assert counts(m) == (0, 1, 0)


def test_postmaster_goes_to_root_alias(mta_factory):
    m = mta_factory(aliases="root: carol@example.org\n").start()
    send(m, ["postmaster@example.test"])
    delivered_to(m, CAROL)


def check_output(m):
    import subprocess
    from conftest import BIN
    r = subprocess.run([BIN, "check", "-c", m.conf], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stderr


def test_check_warns_when_postmaster_goes_nowhere(mta_factory):
    m = mta_factory(aliases="")
    err = check_output(m)
    assert "warning" in err and "postmaster@example.test" in err, err
    assert "postmaster@example.org" in err, err
    m2 = mta_factory(aliases="", extra="postmaster = nobody@example.test")
    assert "postmaster = nobody@example.test leads nowhere" in \
        check_output(m2)
    m3 = mta_factory(aliases="", extra="postmaster = alice@example.test")
    assert "warning" not in check_output(m3)
    # the fixture's aliases have "postmaster: alice@example.test"
    assert "warning" not in check_output(mta_factory())


def test_alias_to_remote_queued(mta_factory, dns):
    """ext@example.test: someone@remote.test -- accepted even from a
    non-relay client (the recipient is local), then queued for remote
    delivery (SERVFAIL here: stays deferred; test_remote.py delivers)."""
    dns.set_rcode("remote.test", None, "SERVFAIL")
    m = mta_factory(relay_networks="192.0.2.0/24").start()
    qid = send(m, ["ext@example.test"])
    time.sleep(1.5)
    assert qid in m.queued()
    assert_not_finished(m, qid, "someone@remote.test")


# ---- delimiter and case ----

@pytest.mark.parametrize("rcpt", ["alice+tag@example.test",
                                  "alice+@example.test",
                                  "alice+a+b@example.test",
                                  "ALICE+Tag@Example.TEST"])
def test_recipient_delimiter(mta, rcpt):
    send(mta, [rcpt])
    delivered_to(mta, ALICE)


def test_delimiter_on_alias(mta):
    qid = send(mta, ["team+x@example.test"])
    delivered_to(mta, ALICE)
    delivered_to(mta, BOB)
    wait_sent(mta, qid, 3)


def test_delimiter_on_self_referencing_alias(mta):
    qid = send(mta, ["bob+tag@example.test"])
    delivered_to(mta, BOB)
    delivered_to(mta, CAROL)
    wait_sent(mta, qid, 2)
    assert counts(mta) == (0, 1, 1)


def test_delimiter_unknown_base(smta):
    r = rcpt_reply(smta, "nobody+alice@example.test")
    assert (r.code, r.enhanced) == (550, "5.1.1"), r


def test_delimiter_configurable(mta_factory):
    m = mta_factory(extra="recipient_delimiter = -").start()
    send(m, ["alice-tag@example.test"])
    delivered_to(m, ALICE)
    r = rcpt_reply(m, "alice+tag@example.test")
    assert (r.code, r.enhanced) == (550, "5.1.1"), r


def test_no_delimiter(mta_factory):
    m = mta_factory(extra="recipient_delimiter =").start()
    r = rcpt_reply(m, "alice+tag@example.test")
    assert (r.code, r.enhanced) == (550, "5.1.1"), r


@pytest.mark.parametrize("rcpt", ["Alice@example.test", "alice@EXAMPLE.TEST",
                                  "ALICE@Example.Test", "aLiCe@eXaMpLe.TeSt"])
def test_case_insensitive(mta, rcpt):
    send(mta, [rcpt])
    delivered_to(mta, ALICE)


def test_case_insensitive_alias(mta):
    qid = send(mta, ["TEAM@Example.TEST"])
    delivered_to(mta, ALICE)
    delivered_to(mta, BOB)
    wait_sent(mta, qid, 3)


# ---- unknown ----

@pytest.mark.parametrize("rcpt", ["nobody@example.test", "alicex@example.test",
                                  "alic@example.test",
                                  "archive@example.test"])
def test_unknown_local_user(smta, rcpt):
    r = rcpt_reply(smta, rcpt)
    assert (r.code, r.enhanced) == (550, "5.1.1"), (rcpt, r)


def test_half_quoted_local_part_is_syntax_error(smta):
    r = rcpt_reply(smta, '"alice"x@example.test')
    assert (r.code, r.enhanced) == (501, "5.1.3"), r


def test_quoted_local_part_of_user(mta):
    """RFC 5321 4.1.2: "alice"@example.test is alice@example.test."""
    send(mta, ['"alice"@example.test'])
    delivered_to(mta, ALICE)


# ---- relay control ----

@pytest.fixture
def outsider(mta_factory):
    """An MTA for which the loopback test client is NOT a relay client."""
    return mta_factory(relay_networks="192.0.2.0/24").start()


def test_relay_denied(soutsider):
    r = rcpt_reply(soutsider, "someone@remote.test")
    assert (r.code, r.enhanced) == (554, "5.7.1"), r


def test_local_delivery_from_outsider(outsider):
    send(outsider, [ALICE])
    delivered_to(outsider, ALICE)


# Each trick aims at a remote mailbox through a local domain.  None may be
# accepted: relay denied (554 5.7.1), unknown local user (550 5.1.1), or a
# syntax error (501) are all fine answers -- a 2xx is the bug.
RELAY_TRICKS = [
    "user%remote.test@example.test",
    "user%remote.test",
    "remote.test!user@example.test",
    "remote.test!user",
    "@example.test:user@remote.test",
    "@example.test,@example.org:user@remote.test",
    "\"user@remote.test\"@example.test",
    "\"user%remote.test\"@example.test",
    "user@remote.test.",
    "user@remote.test@example.test",
    "user@[192.0.2.1]",
    "user@[IPv6:2001:db8::1]",
    "user@REMOTE.test",
    "user@Remote.Test",
    "user@example.test.remote.test",
    "user@sub.example.test",
    "user@example.test.",
    "\"user\"@remote.test",
    "user@remote.test%example.test",
    "alice@example.test@remote.test",
    "\"alice@example.test\"@remote.test",
]


@pytest.mark.parametrize("rcpt", RELAY_TRICKS)
def test_relay_tricks_refused(soutsider, rcpt):
    r = rcpt_reply(soutsider, rcpt)
    assert r.code >= 500, (rcpt, r)
    assert r.code in (501, 550, 553, 554), (rcpt, r)


@pytest.mark.parametrize("rcpt", [
    "user@remote.test.", "user@[192.0.2.1]", "user@REMOTE.test",
    "@example.test:user@remote.test", "user@sub.example.test",
    "\"user\"@remote.test", "\"alice@example.test\"@remote.test"])
def test_relay_tricks_to_remote_are_relay_denied(soutsider, rcpt):
    """Where the address really is remote, the answer is 554 5.7.1 (or a
    syntax error for forms postbote does not accept)."""
    r = rcpt_reply(soutsider, rcpt)
    assert (r.code, r.enhanced) in ((554, "5.7.1"), (501, "5.1.3"),
                                    (553, "5.1.3")), (rcpt, r)


@pytest.mark.parametrize("rcpt", ["user%remote.test@example.test",
                                  "remote.test!user@example.test",
                                  "\"user@remote.test\"@example.test"])
def test_percent_bang_never_route_even_for_relay_clients(smta, rcpt):
    """From a relay client these are local addresses (unknown): refused,
    never rewritten into a remote recipient."""
    r = rcpt_reply(smta, rcpt)
    assert (r.code, r.enhanced) == (550, "5.1.1"), (rcpt, r)


def test_source_route_ignored_local(outsider):
    """@remote.test:alice@example.test is alice@example.test."""
    send(outsider, ["@remote.test:alice@example.test"])
    delivered_to(outsider, ALICE)


def test_source_route_ignored_multi_hop(mta):
    send(mta, ["@a.test,@b.test:bob@example.test"])
    delivered_to(mta, BOB)


def test_relay_refusal_leaves_no_trace(outsider):
    with session(outsider.port) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        for rcpt in ("a@remote.test", "user%remote.test@example.test"):
            assert c.cmd("RCPT TO:<%s>" % rcpt).code >= 500
        c.expect("DATA", 554, "5.5.1")
    time.sleep(0.3)
    assert outsider.queued() == []


def test_relay_allowed_from_relay_network(mta, dns):
    dns.set_rcode("remote.test", None, "SERVFAIL")
    qid = send(mta, ["someone@remote.test", ALICE])
    delivered_to(mta, ALICE)
    time.sleep(1.5)
    assert qid in mta.queued()          # the remote recipient stays queued
    assert_not_finished(mta, qid, "someone@remote.test")


@pytest.mark.parametrize("rcpt", ["user@[192.0.2.1]", "User@Remote.TEST",
                                  "user@sub.example.test"])
def test_relay_allowed_forms(smta, rcpt):
    with session(smta.port) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        c.expect("RCPT TO:<%s>" % rcpt, 250)


# ---- SMTPUTF8 ----

def test_utf8_local_part_with_smtputf8(mta):
    qid = send(mta, ["jörg@example.org"], mail_params=" SMTPUTF8",
               sender="x@client.test")
    msg = delivered_to(mta, CAROL)
    assert re.search(rb" with UTF8SMTP id " + qid.encode(), msg), msg


def test_utf8_sender_with_smtputf8(mta):
    send(mta, [ALICE], sender="josé@client.test", mail_params=" SMTPUTF8")
    msg = delivered_to(mta, ALICE)
    assert msg.startswith("Return-Path: <josé@client.test>\n".encode()), msg


def test_utf8_recipient_without_smtputf8(smta):
    r = rcpt_reply(smta, "jörg@example.org")
    assert (r.code, r.enhanced) == (553, "5.6.7"), r


def test_utf8_sender_without_smtputf8(smta):
    with session(smta.port) as c:
        r = c.cmd("MAIL FROM:<josé@client.test>")
        assert (r.code, r.enhanced) == (553, "5.6.7"), r
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")


def test_utf8_domain_with_smtputf8_relay(smta):
    with session(smta.port) as c:
        c.expect("MAIL FROM:<x@client.test> SMTPUTF8", 250)
        c.expect("RCPT TO:<user@bücher.test>", 250)


def test_utf8_domain_refused_for_outsider(soutsider):
    with session(soutsider.port) as c:
        c.expect("MAIL FROM:<x@client.test> SMTPUTF8", 250)
        c.expect("RCPT TO:<user@bücher.test>", 554, "5.7.1")


@pytest.mark.parametrize("raw", [b"j\xf6rg@example.org", b"\xff\xfe@example.org",
                                 b"j\xc3@example.org", b"a\xc0\xafb@example.org",
                                 b"x@ex\xe4mple.org"])
def test_invalid_utf8_refused(smta, raw):
    with session(smta.port) as c:
        c.expect("MAIL FROM:<x@client.test> SMTPUTF8", 250)
        r = c.cmd(b"RCPT TO:<" + raw + b">")
        assert r.code in (501, 553), r


def test_smtputf8_param_takes_no_value(smta):
    with session(smta.port) as c:
        r = c.cmd("MAIL FROM:<x@client.test> SMTPUTF8=yes")
        assert r.code in (501, 555), r


# ---- DSN parameters ----

@pytest.mark.parametrize("params", [
    " RET=FULL", " RET=HDRS", " ret=hdrs", " ENVID=abc123",
    " ENVID=QQ+2B+3Dxx", " RET=FULL ENVID=a.b-c_d", " AUTH=<>",
    " AUTH=alice+40example.test", " BODY=7BIT", " BODY=8BITMIME",
    " SIZE=100 BODY=8BITMIME RET=HDRS ENVID=x SMTPUTF8",
    " size=100 body=8bitmime smtputf8", " Size=1 Ret=Full Envid=e",
])
def test_mail_params_accepted(smta, params):
    with session(smta.port) as c:
        c.expect("MAIL FROM:<x@client.test>" + params, 250)


@pytest.mark.parametrize("params", [
    " RET=FOO", " RET=", " RET", " RET=FULL RET=HDRS",
    " ENVID=", " ENVID=a+zz", " ENVID=a+2", " ENVID=a+0D+0AX-Inject:1",
    " ENVID=a+00b", " ENVID=a=b", " ENVID=x ENVID=y",
    " ENVID=" + "E" * 101,
    " AUTH=a+0Db", " AUTH=a+0A", " AUTH=a+zz", " AUTH=",
    " BODY=BINARYMIME", " SIZE=1 SIZE=2", " BODY=8BITMIME BODY=7BIT",
    " SMTPUTF8 SMTPUTF8",
])
def test_mail_params_refused(smta, params):
    with session(smta.port) as c:
        r = c.cmd("MAIL FROM:<x@client.test>" + params)
        assert r.code in (501, 555), (params, r)
        assert r.enhanced in ("5.5.4", "5.5.2"), (params, r)
        c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")


@pytest.mark.parametrize("params", [
    " NOTIFY=NEVER", " NOTIFY=SUCCESS", " NOTIFY=FAILURE", " NOTIFY=DELAY",
    " NOTIFY=SUCCESS,FAILURE,DELAY", " notify=failure,delay",
    " ORCPT=rfc822;alice@example.test", " ORCPT=rfc822;alice+2Bx@example.test",
    " ORCPT=RFC822;Alice@Example.Test",
    " NOTIFY=FAILURE ORCPT=rfc822;x+40y@example.test",
])
def test_rcpt_dsn_params_accepted(smta, params):
    with session(smta.port) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        c.expect("RCPT TO:<alice@example.test>" + params, 250)


@pytest.mark.parametrize("params", [
    " NOTIFY=", " NOTIFY=FOO", " NOTIFY=NEVER,SUCCESS", " NOTIFY=SUCCESS,NEVER",
    " NOTIFY=SUCCESS,,FAILURE", " NOTIFY=SUCCESS NOTIFY=FAILURE",
    " ORCPT=", " ORCPT=rfc822", " ORCPT=;alice@example.test",
    " ORCPT=rfc822;", " ORCPT=rfc822;a+zz@example.test",
    " ORCPT=rfc822;a+0D+0Ab@example.test", " ORCPT=rfc822;a+00@example.test",
    " ORCPT=rfc822;a=b", " ORCPT=rfc822;x ORCPT=rfc822;y",
    " ORCPT=rfc822;" + "o" * 501,
])
def test_rcpt_dsn_params_refused(smta, params):
    with session(smta.port) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        r = c.cmd("RCPT TO:<alice@example.test>" + params)
        assert r.code in (501, 555), (params, r)
        assert r.enhanced in ("5.5.4", "5.5.2"), (params, r)
        c.expect("DATA", 554, "5.5.1")


def test_dsn_params_do_not_reach_logs_raw(smta):
    """xtext decoding a CR/LF must never put a line break into the log."""
    with session(smta.port) as c:
        c.expect("MAIL FROM:<x@client.test> ENVID=ok", 250)
        c.cmd("RCPT TO:<alice@example.test> ORCPT=rfc822;a+0D+0AINJECTED=1")
        c.cmd("RSET")
        c.cmd("MAIL FROM:<x@client.test> ENVID=a+0D+0AINJECTED=2")
    time.sleep(0.2)
    for line in smta.log().splitlines():
        assert not line.startswith("INJECTED"), line


def test_dsn_message_delivered(mta):
    qid = send(mta, ["RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE "
                     "ORCPT=rfc822;alice+2Btag@example.test"],
               mail_params=" RET=HDRS ENVID=QQ314159")
    delivered_to(mta, ALICE)
    # NOTIFY=SUCCESS: a "delivered" DSN goes to the (remote) sender and
    # waits in the queue; the message itself is done.
    end = time.time() + 15
    while qid in mta.queued() and time.time() < end:
        time.sleep(0.05)
    assert qid not in mta.queued()
    assert re.search(r"%s: sender delivery status notification: " % qid,
                     mta.log())


# ---- limits and duplicates ----

def test_max_recipients(mta_factory):
    m = mta_factory(extra="max_recipients = 3").start()
    with session(m.port) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("RCPT TO:<bob@example.test>", 250)
        c.expect("RCPT TO:<carol@example.org>", 250)
        c.expect("RCPT TO:<x@remote.test>", 452, "4.5.3")
        c.expect("RCPT TO:<alice+again@example.test>", 452, "4.5.3")
        c.expect("DATA", 354)
        c.send(b"Subject: max\r\n\r\nthree\r\n.\r\n")
        assert c.reply().code == 250
        # a new transaction has the full allowance again
        c.expect("MAIL FROM:<x@client.test>", 250)
        for a in ("alice", "alice+1", "alice+2"):
            c.expect("RCPT TO:<%s@example.test>" % a, 250)
        c.expect("RCPT TO:<alice+3@example.test>", 452, "4.5.3")
        c.expect("RSET", 250)
    assert len(m.wait_messages(ALICE, 1)) == 1
    assert len(m.wait_messages(BOB, 1)) == 1
    assert len(m.wait_messages(CAROL, 1)) >= 1
    time.sleep(1.2)
    assert m.queued() == []            # x@remote.test was never accepted


def test_452_does_not_count_toward_error_limit(mta_factory):
    """RFC 5321 4.5.3.1.10: a client that gets 452 for too many recipients
    sends the rest in a new transaction; that must not end the session."""
    m = mta_factory(extra="max_recipients = 1\nmax_errors = 3").start()
    with session(m.port) as c:
        c.expect("MAIL FROM:<x@client.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        for i in range(5):
            c.expect("RCPT TO:<bob+%d@example.test>" % i, 452, "4.5.3")
        c.expect("NOOP", 250)


def test_duplicate_recipients_delivered_once(mta):
    qid = send(mta, [ALICE, ALICE, "ALICE@EXAMPLE.TEST", "Alice@example.test"])
    delivered_to(mta, ALICE)
    wait_sent(mta, qid, 1)
    time.sleep(0.5)
    assert len(mta.messages(ALICE)) == 1


def test_duplicate_after_alias_expansion_delivered_once(mta):
    """alice directly and via team and info: one copy each."""
    qid = send(mta, [ALICE, "team@example.test", "info@example.test", BOB])
    for a in EVERYONE:
        delivered_to(mta, a)
    wait_sent(mta, qid, 3)
    time.sleep(0.5)
    assert counts(mta) == (1, 1, 1)


def test_many_recipients_one_message(mta):
    rcpts = ["alice+%d@example.test" % i for i in range(100)]
    send(mta, rcpts)
    msgs = mta.wait_messages(ALICE, 1)
    assert len(msgs) >= 1
    assert mta.wait_queue_empty() == []


def read_envelope(path):
    """Parse a queue file (docs/queue-format.md) up to the '.' record:
    returns (message fields, [recipient groups]) as dicts of letter->bytes."""
    data = open(path, "rb").read()
    i, fields, groups = 0, {}, []
    while i < len(data):
        typ = chr(data[i])
        colon = data.index(b":", i)
        n = int(data[i + 1:colon])
        value = data[colon + 1:colon + 1 + n]
        assert data[colon + 1 + n:colon + 2 + n] == b"\n"
        i = colon + 2 + n
        if typ == ".":
            break
        if typ == "r":
            groups.append({})
        (groups[-1] if groups else fields)[typ] = value
    return fields, groups


def test_dsn_params_kept_in_envelope(mta, dns):
    """Queued (remote, deferred) so the queue file stays: ENVID and ORCPT
    are stored decoded, RET/NOTIFY/BODY/SMTPUTF8 as numbers."""
    dns.set_rcode("remote.test", None, "SERVFAIL")   # stays queued
    qid = send(mta, ["RCPT TO:<someone@remote.test> NOTIFY=SUCCESS,DELAY "
                     "ORCPT=rfc822;Some+2BOne@remote.test",
                     "RCPT TO:<other@remote.test> NOTIFY=NEVER"],
               mail_params=" RET=HDRS ENVID=QQ+2B314 BODY=8BITMIME SMTPUTF8")
    fields, groups = read_envelope(mta.envelope_file(qid))
    assert fields["E"] == b"QQ+314"
    assert fields["R"] == b"2"
    assert fields["B"] == b"2"
    assert fields["U"] == b"1"
    assert fields["S"] == b"x@client.test"
    assert len(groups) == 2
    g1, g2 = groups
    assert g1["r"] == b"someone@remote.test"
    assert g1["c"] == b"rfc822;Some+One@remote.test"
    assert g1["n"] == b"10"
    assert g2["r"] == b"other@remote.test"
    assert g2["n"] == b"1"
    assert "c" not in g2
