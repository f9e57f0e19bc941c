"""DNS blocklists and allowlists (docs/spam.md) against the test's own DNS
server: scores of several lists add up and the threshold decides, an
allowlist's negative weight takes them back, a per-list code filter, the
554 5.7.1 at RCPT naming the list while postmaster still gets through,
the refusal at connect, answers cached for their TTL, and config errors.
Sessions come from different 127.0.0.x addresses; relay_networks is
127.0.0.1/32 only, so those clients are checked."""

import smtplib
import subprocess
import time

import pytest

from conftest import BIN

LISTS = ("dnsbl = bl1.test*2 bl2.test*2 codes.test=127.0.0.[10..11]*5\n"
         "dnswl = wl.test*-5\n"
         "dnsbl_threshold = 3\n")


def listed(dns, ip, zone, code="127.0.0.2", ttl=300):
    rev = ".".join(reversed(ip.split(".")))
    dns.add("%s.%s" % (rev, zone), "A", code, ttl=ttl)


def client(m, ip):
    c = smtplib.SMTP("127.0.0.1", m.port, source_address=(ip, 0),
                     timeout=20)
    c.ehlo("client.test")
    return c


def rcpt(m, ip, to="alice@example.test"):
    c = client(m, ip)
    try:
        assert c.mail("sender@client.test")[0] == 250
        return c.rcpt(to)
    finally:
        c.quit()


@pytest.fixture
def bl(mta_factory, dns):
    m = mta_factory(relay_networks="127.0.0.1/32", extra=LISTS)
    return m


def test_one_list_under_threshold_passes(bl, dns):
    listed(dns, "127.0.0.2", "bl1.test")
    bl.start()
    assert rcpt(bl, "127.0.0.2")[0] == 250
    assert "event=dnsbl client=[127.0.0.2] score=2 threshold=3 " \
        "result=pass" in bl.log()


def test_scores_add_up_and_rcpt_names_the_list(bl, dns):
    listed(dns, "127.0.0.3", "bl1.test")
    listed(dns, "127.0.0.3", "bl2.test")
    bl.start()
    code, text = rcpt(bl, "127.0.0.3")
    assert code == 554
    assert text.startswith(b"5.7.1 ")
    assert b"client [127.0.0.3] blocked using bl1.test" in text
    log = bl.log()
    assert "score=4 threshold=3 result=listed" in log
    assert "reason=dnsbl list=bl1.test score=4" in log
    # the refusal is per RCPT: the session goes on, postmaster works
    c = client(bl, "127.0.0.3")
    try:
        assert c.mail("sender@client.test")[0] == 250
        assert c.rcpt("alice@example.test")[0] == 554
        assert c.rcpt("postmaster@example.test")[0] == 250
        assert c.rcpt("<Postmaster>")[0] == 250
        code, _ = c.data(b"Subject: to the postmaster\r\n\r\nhi\r\n")
        assert code == 250
    finally:
        c.quit()


def test_unlisted_client_passes_and_asks_every_list(bl, dns):
    bl.start()
    dns.clear_queries()
    assert rcpt(bl, "127.0.0.9")[0] == 250
    asked = {n for n, t in dns.queries if t == "A"}
    for zone in ("bl1.test", "bl2.test", "codes.test", "wl.test"):
        assert "9.0.0.127.%s" % zone in asked


def test_allowlist_weight_takes_the_score_back(bl, dns):
    for zone in ("bl1.test", "bl2.test", "wl.test"):
        listed(dns, "127.0.0.4", zone)
    bl.start()
    assert rcpt(bl, "127.0.0.4")[0] == 250
    assert "score=-1 threshold=3 result=pass" in bl.log()


def test_code_filter_counts_only_the_named_codes(bl, dns):
    listed(dns, "127.0.0.5", "codes.test", "127.0.0.2")
    listed(dns, "127.0.0.6", "codes.test", "127.0.0.11")
    bl.start()
    assert rcpt(bl, "127.0.0.5")[0] == 250
    code, text = rcpt(bl, "127.0.0.6")
    assert code == 554 and b"blocked using codes.test" in text


def test_answers_outside_127_never_count(bl, dns):
    # a list that answers everything with a public address (shut down)
    listed(dns, "127.0.0.7", "bl1.test", "192.0.2.1")
    listed(dns, "127.0.0.7", "bl2.test", "192.0.2.1")
    bl.start()
    assert rcpt(bl, "127.0.0.7")[0] == 250


def test_relay_network_clients_are_not_checked(bl, dns):
    listed(dns, "127.0.0.1", "bl1.test")
    listed(dns, "127.0.0.1", "bl2.test")
    bl.start()
    dns.clear_queries()
    assert rcpt(bl, "127.0.0.1")[0] == 250
    assert not [n for n, _ in dns.queries if n.endswith("bl1.test")]


def test_refused_at_connect_when_configured(mta_factory, dns):
    m = mta_factory(relay_networks="127.0.0.1/32",
                    extra=LISTS + "dnsbl_reject = connect\n")
    listed(dns, "127.0.0.8", "bl1.test")
    listed(dns, "127.0.0.8", "bl2.test")
    m.start()
    with pytest.raises(smtplib.SMTPConnectError) as e:
        smtplib.SMTP("127.0.0.1", m.port, source_address=("127.0.0.8", 0),
                     timeout=20)
    assert e.value.smtp_code == 554
    assert b"5.7.1" in e.value.smtp_error and b"bl1.test" in e.value.smtp_error
    # a clean client is greeted as usual
    c = client(m, "127.0.0.9")
    c.quit()


def test_answers_are_cached_for_their_ttl(bl, dns):
    listed(dns, "127.0.0.10", "bl1.test", ttl=2)
    bl.start()
    dns.clear_queries()
    name = "10.0.0.127.bl1.test"
    assert rcpt(bl, "127.0.0.10")[0] == 250
    assert rcpt(bl, "127.0.0.10")[0] == 250
    assert [n for n, _ in dns.queries].count(name) == 1
    # a denial is cached too
    assert [n for n, _ in dns.queries].count(
        "10.0.0.127.bl2.test") == 1
    time.sleep(3)
    assert rcpt(bl, "127.0.0.10")[0] == 250
    assert [n for n, _ in dns.queries].count(name) == 2


def test_unanswered_list_does_not_block_the_greeting(mta_factory, dns):
    m = mta_factory(relay_networks="127.0.0.1/32",
                    extra=LISTS + "dnsbl_timeout = 2s\n")
    listed(dns, "127.0.0.11", "bl1.test")
    listed(dns, "127.0.0.11", "bl2.test")
    dns.drop("11.0.0.127.bl2.test")
    m.start(greet_timeout=5)
    assert rcpt(m, "127.0.0.11")[0] == 250     # score 2 of the lists seen
    assert "timeout=yes" in m.log()


@pytest.mark.parametrize("value,why", [
    ("bl1.test*x", "weight"),
    ("bl1.test*0", "weight"),
    ("bl1.test=127.0.0", "code filter"),
    ("bl1.test=127.0.0.[9..2]", "code filter"),
    ("bad..zone", "zone"),
    ("bl1.test bl1.test", "listed twice"),
])
def test_check_refuses_bad_lists(tmp_path, value, why):
    conf = tmp_path / "p.conf"
    conf.write_text("hostname = mx.example.test\nstate_dir = %s\n"
                    "dnsbl = %s\n" % (tmp_path, value))
    r = subprocess.run([BIN, "check", "-c", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "dnsbl" in r.stderr and why in r.stderr


def test_authenticated_client_is_not_refused(mta_factory, dns):
    m = mta_factory(relay_networks="127.0.0.1/32",
                    extra=LISTS + "allow_plaintext_auth = yes\n"
                    "auth_failure_delay = 0s\n")
    listed(dns, "127.0.0.12", "bl1.test")
    listed(dns, "127.0.0.12", "bl2.test")
    m.start()
    c = client(m, "127.0.0.12")
    try:
        assert c.login("alice@example.test", "alice-pw")[0] == 235
        assert c.mail("alice@example.test")[0] == 250
        assert c.rcpt("bob@example.test")[0] == 250
    finally:
        c.quit()
    assert rcpt(m, "127.0.0.12")[0] == 554
