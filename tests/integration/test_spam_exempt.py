"""Exemptions that test_greylist.py and test_dnsbl.py do not show:
greylist_spf_pass lets an SPF-pass sender skip greylisting (and only it),
and the DNS lists apply to mx listeners only: a listed client on the
submission listener is neither asked about nor refused."""

import smtplib
import socket
import time

from test_dnsbl import LISTS, listed
from test_greylist import GREY


def rcpt_after_spf(m, ip, sender):
    """MAIL, a pause in which the SPF check (started at MAIL) answers,
    then RCPT: greylist_spf_pass counts an SPF result that is in by the
    time of RCPT (a pipelining client's RCPT may come before it)."""
    c = smtplib.SMTP("127.0.0.1", m.port, source_address=(ip, 0),
                     timeout=20)
    try:
        c.ehlo("client.test")
        assert c.mail(sender)[0] == 250
        time.sleep(0.5)
        return c.rcpt("alice@example.test")[0]
    finally:
        c.quit()


def test_spf_pass_skips_greylisting(mta_factory, dns):
    dns.add("client.test", "TXT", "v=spf1 ip4:127.0.0.0/8 -all")
    dns.add("other.test", "TXT", "v=spf1 ip4:192.0.2.1 -all")
    m = mta_factory(relay_networks="127.0.0.1/32",
                    extra=GREY + "greylist_spf_pass = yes\n").start()
    # SPF pass: no greylisting, even the first time
    assert rcpt_after_spf(m, "127.0.0.21", "a@client.test") == 250
    # SPF fail, and no SPF record at all: greylisted
    assert rcpt_after_spf(m, "127.0.0.22", "a@other.test") == 451
    assert rcpt_after_spf(m, "127.0.0.23", "a@norecord.test") == 451


def test_spf_pass_waited_for_by_a_pipelined_rcpt(mta_factory, dns):
    """MAIL and RCPT in one write, and an SPF record that takes a second
    to come: the RCPT waits for SPF's pass instead of being greylisted
    (fails when the exemption reads SPF before it has answered)."""
    dns.add("slow.test", "TXT", "v=spf1 ip4:127.0.0.0/8 -all")
    dns.delay("slow.test", 1.0)
    m = mta_factory(relay_networks="127.0.0.1/32",
                    extra=GREY + "greylist_spf_pass = yes\n").start()
    c = socket.create_connection(("127.0.0.1", m.port), timeout=20,
                                 source_address=("127.0.0.26", 0))
    f = c.makefile("rb")
    try:
        f.readline()
        c.sendall(b"EHLO client.test\r\n")
        while f.readline()[3:4] == b"-":
            pass
        c.sendall(b"MAIL FROM:<a@slow.test>\r\n"
                  b"RCPT TO:<alice@example.test>\r\n")
        assert f.readline()[:3] == b"250"
        rcpt = f.readline()
        assert rcpt[:3] == b"250", rcpt
        c.sendall(b"QUIT\r\n")
        f.readline()
    finally:
        c.close()
    assert ("slow.test", "TXT") in dns.queries


def test_spf_pass_is_greylisted_without_the_option(mta_factory, dns):
    dns.add("client.test", "TXT", "v=spf1 ip4:127.0.0.0/8 -all")
    m = mta_factory(relay_networks="127.0.0.1/32", extra=GREY).start()
    assert rcpt_after_spf(m, "127.0.0.24", "a@client.test") == 451


def test_lists_apply_to_mx_listeners_only(mta_factory, dns):
    listed(dns, "127.0.0.25", "bl1.test")
    listed(dns, "127.0.0.25", "bl2.test")
    m = mta_factory(relay_networks="127.0.0.1/32",
                    extra=LISTS + "allow_plaintext_auth = yes\n").start()
    dns.clear_queries()
    c = smtplib.SMTP("127.0.0.1", m.sub_port, source_address=("127.0.0.25", 0),
                     timeout=20)
    try:
        c.ehlo("client.test")
        assert c.login("alice@example.test", "alice-pw")[0] == 235
        assert c.mail("alice@example.test")[0] == 250
        assert c.rcpt("bob@example.test")[0] == 250
    finally:
        c.quit()
    assert not [n for n, _ in dns.queries if n.endswith(("bl1.test",
                                                         "bl2.test"))]
    # the same client on the mx listener is refused
    c = smtplib.SMTP("127.0.0.1", m.port, source_address=("127.0.0.25", 0),
                     timeout=20)
    try:
        c.ehlo("client.test")
        assert c.mail("x@client.test")[0] == 250
        assert c.rcpt("alice@example.test")[0] == 554
    finally:
        c.quit()
