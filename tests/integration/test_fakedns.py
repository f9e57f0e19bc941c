"""test_fakedns.py - the fake DNS server checked with dnslib's own client,
so that the suites built on it can trust its answers."""

import socket
import struct
import threading
import time

import pytest
from dnslib import QTYPE, RCODE, DNSRecord, EDNS0

from fakedns import FakeDNS


@pytest.fixture
def dns():
    """An empty server of our own (shadows conftest's, on purpose)."""
    server = FakeDNS().start()
    yield server
    server.stop()


def ask(server, name, qtype="A", tcp=False, timeout=2.0, edns=None):
    q = DNSRecord.question(name, qtype)
    if edns is not None:
        q.add_ar(EDNS0(udp_len=edns))
    wire = q.send(server.host, server.port, tcp=tcp, timeout=timeout,
                  ipv6=":" in server.host)
    reply = DNSRecord.parse(wire)
    assert reply.header.id == q.header.id
    return reply


def rdata(reply, qtype=None):
    return [str(rr.rdata) for rr in reply.rr
            if qtype is None or rr.rtype == getattr(QTYPE, qtype)]


def test_address_and_port(dns):
    assert dns.address == "127.0.0.1:%d" % dns.port
    assert 0 < dns.port < 65536


@pytest.mark.parametrize("tcp", [False, True])
def test_a_and_aaaa(dns, tcp):
    dns.add("mx.example.org", "A", "192.0.2.7", ttl=60)
    dns.add("mx.example.org", "AAAA", "2001:db8::7")
    r = ask(dns, "mx.example.org", "A", tcp=tcp)
    assert r.header.rcode == RCODE.NOERROR
    assert rdata(r) == ["192.0.2.7"]
    assert r.rr[0].ttl == 60
    assert rdata(ask(dns, "mx.example.org", "AAAA", tcp=tcp)) == \
        ["2001:db8::7"]


def test_several_records_of_a_type(dns):
    dns.add("multi.test", "A", "192.0.2.1")
    dns.add("multi.test", "A", "192.0.2.2")
    assert sorted(rdata(ask(dns, "multi.test"))) == \
        ["192.0.2.1", "192.0.2.2"]


def test_mx(dns):
    dns.add("example.org", "MX", "10 mx1.example.org.")
    dns.add("example.org", "MX", (20, "mx2.example.org"))
    r = ask(dns, "example.org", "MX")
    got = sorted((rr.rdata.preference, str(rr.rdata.label)) for rr in r.rr)
    assert got == [(10, "mx1.example.org."), (20, "mx2.example.org.")]


def test_null_mx(dns):
    dns.add("nomail.test", "MX", "0 .")
    r = ask(dns, "nomail.test", "MX")
    assert [(rr.rdata.preference, str(rr.rdata.label)) for rr in r.rr] == \
        [(0, ".")]


def test_txt_short(dns):
    dns.add("example.org", "TXT", "v=spf1 -all")
    r = ask(dns, "example.org", "TXT")
    assert [rr.rdata.data for rr in r.rr] == [[b"v=spf1 -all"]]


def test_txt_long_is_split_into_255_byte_strings(dns):
    value = "v=DKIM1; k=rsa; p=" + "A" * 600
    dns.add("s1._domainkey.example.org", "TXT", value)
    r = ask(dns, "s1._domainkey.example.org", "TXT", tcp=True)  # > 512
    chunks = r.rr[0].rdata.data
    assert [len(c) for c in chunks] == [255, 255, len(value) - 510]
    assert b"".join(chunks).decode() == value


def test_txt_explicit_strings(dns):
    dns.add("two.test", "TXT", ["first", b"second"])
    r = ask(dns, "two.test", "TXT")
    assert r.rr[0].rdata.data == [b"first", b"second"]
    with pytest.raises(ValueError):
        dns.add("bad.test", "TXT", ["x" * 256])


def test_big_answer_truncated_on_udp_complete_on_tcp(dns):
    value = "x" * 2000
    dns.add("big.test", "TXT", value)
    udp = ask(dns, "big.test", "TXT")
    assert udp.header.tc == 1
    assert udp.rr == []
    assert str(udp.q.qname) == "big.test."     # question kept for matching
    tcp = ask(dns, "big.test", "TXT", tcp=True)
    assert tcp.header.tc == 0
    assert b"".join(tcp.rr[0].rdata.data).decode() == value


def test_edns_raises_udp_limit(dns):
    dns.add("mid.test", "TXT", "y" * 900)
    assert ask(dns, "mid.test", "TXT").header.tc == 1
    r = ask(dns, "mid.test", "TXT", edns=4096)
    assert r.header.tc == 0
    assert len(b"".join(r.rr[0].rdata.data)) == 900
    assert any(rr.rtype == QTYPE.OPT for rr in r.ar)


def test_ptr_v4_and_v6(dns):
    dns.add_ptr("192.0.2.7", "mx.example.org.")
    dns.add_ptr("2001:db8::7", "mx6.example.org.")
    r = ask(dns, "7.2.0.192.in-addr.arpa", "PTR")
    assert rdata(r) == ["mx.example.org."]
    v6 = "7." + "0." * 23 + "8.b.d.0.1.0.0.2.ip6.arpa"
    assert rdata(ask(dns, v6, "PTR")) == ["mx6.example.org."]


def test_cname_followed(dns):
    dns.add("www.example.org", "CNAME", "host.example.org.")
    dns.add("host.example.org", "A", "192.0.2.9")
    r = ask(dns, "www.example.org", "A")
    assert rdata(r, "CNAME") == ["host.example.org."]
    assert rdata(r, "A") == ["192.0.2.9"]
    only = ask(dns, "www.example.org", "CNAME")
    assert rdata(only) == ["host.example.org."]


def test_cname_to_missing_name_is_nxdomain(dns):
    dns.add("alias.test", "CNAME", "nowhere.test.")
    r = ask(dns, "alias.test", "A")
    assert r.header.rcode == RCODE.NXDOMAIN
    assert rdata(r, "CNAME") == ["nowhere.test."]


def test_cname_loop_is_servfail(dns):
    dns.add("a.loop.test", "CNAME", "b.loop.test.")
    dns.add("b.loop.test", "CNAME", "a.loop.test.")
    assert ask(dns, "a.loop.test", "A").header.rcode == RCODE.SERVFAIL


def test_nxdomain_for_unknown_names(dns):
    r = ask(dns, "nothing.example.org", "A")
    assert r.header.rcode == RCODE.NXDOMAIN
    assert r.rr == []


def test_nodata_when_name_has_other_types(dns):
    dns.add("example.org", "MX", "10 mx.example.org.")
    r = ask(dns, "example.org", "A")
    assert r.header.rcode == RCODE.NOERROR
    assert r.rr == []


def test_empty_non_terminal_is_nodata(dns):
    dns.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject")
    r = ask(dns, "example.org", "TXT")
    assert r.header.rcode == RCODE.NOERROR
    assert r.rr == []


def test_names_are_case_insensitive_and_echoed(dns):
    dns.add("Mixed.Example.ORG.", "A", "192.0.2.3")
    r = ask(dns, "mIXED.example.org", "A")
    assert rdata(r) == ["192.0.2.3"]
    assert str(r.rr[0].rname) == "mIXED.example.org."


@pytest.mark.parametrize("rcode", ["SERVFAIL", "REFUSED", "NXDOMAIN"])
def test_set_rcode_for_one_type(dns, rcode):
    dns.add("flaky.test", "A", "192.0.2.1")
    dns.add("flaky.test", "MX", "10 mx.flaky.test.")
    dns.set_rcode("flaky.test", "MX", rcode)
    r = ask(dns, "flaky.test", "MX")
    assert r.header.rcode == getattr(RCODE, rcode)
    assert r.rr == []
    assert rdata(ask(dns, "flaky.test", "A")) == ["192.0.2.1"]


def test_set_rcode_for_every_type(dns):
    dns.set_rcode("broken.test", None, "SERVFAIL")
    for qtype in ("A", "AAAA", "TXT"):
        assert ask(dns, "broken.test", qtype).header.rcode == \
            RCODE.SERVFAIL
    dns.set_rcode("numeric.test", "A", 5)
    assert ask(dns, "numeric.test").header.rcode == RCODE.REFUSED


@pytest.mark.parametrize("tcp", [False, True])
def test_drop_never_answers(dns, tcp):
    dns.add("slow.test", "A", "192.0.2.1")
    dns.drop("slow.test")
    with pytest.raises(socket.timeout):
        ask(dns, "slow.test", tcp=tcp, timeout=0.3)
    assert ("slow.test", "A") in dns.queries


def test_drop_one_type(dns):
    dns.add("half.test", "A", "192.0.2.1")
    dns.drop("half.test", "AAAA")
    assert rdata(ask(dns, "half.test")) == ["192.0.2.1"]
    with pytest.raises(socket.timeout):
        ask(dns, "half.test", "AAAA", timeout=0.3)


def test_remove(dns):
    dns.add("gone.test", "A", "192.0.2.1")
    dns.add("gone.test", "TXT", "keep")
    dns.set_rcode("gone.test", "A", "SERVFAIL")
    dns.remove("gone.test", "A")
    r = ask(dns, "gone.test", "A")
    assert (r.header.rcode, r.rr) == (RCODE.NOERROR, [])
    dns.remove("gone.test")
    assert ask(dns, "gone.test", "TXT").header.rcode == RCODE.NXDOMAIN


def test_query_log(dns):
    dns.add("log.test", "A", "192.0.2.1")
    ask(dns, "LOG.test", "A")
    ask(dns, "log.test", "MX", tcp=True)
    ask(dns, "7.2.0.192.in-addr.arpa", "PTR")
    assert dns.queries == [("log.test", "A"), ("log.test", "MX"),
                           ("7.2.0.192.in-addr.arpa", "PTR")]
    dns.clear_queries()
    assert dns.queries == []


def test_several_queries_on_one_tcp_connection(dns):
    dns.add("one.test", "A", "192.0.2.1")
    dns.add("two.test", "A", "192.0.2.2")
    with socket.create_connection(("127.0.0.1", dns.port), 2) as s:
        for name, want in (("one.test", "192.0.2.1"),
                           ("two.test", "192.0.2.2")):
            q = DNSRecord.question(name).pack()
            s.sendall(struct.pack("!H", len(q)) + q)
            n = struct.unpack("!H", s.recv(2))[0]
            data = b""
            while len(data) < n:
                data += s.recv(n - len(data))
            assert rdata(DNSRecord.parse(data)) == [want]


def test_garbage_is_ignored(dns):
    dns.add("alive.test", "A", "192.0.2.1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        s.sendto(b"\x00\x01garbage", ("127.0.0.1", dns.port))
        with pytest.raises(socket.timeout):
            s.recvfrom(512)
    assert rdata(ask(dns, "alive.test")) == ["192.0.2.1"]


def test_concurrent_clients(dns):
    for i in range(20):
        dns.add("h%d.test" % i, "A", "192.0.2.%d" % (i + 1))
    errors = []

    def worker(i):
        try:
            r = ask(dns, "h%d.test" % i, tcp=bool(i % 2))
            assert rdata(r) == ["192.0.2.%d" % (i + 1)]
        except Exception as e:          # reported by the main thread
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(dns.queries) == 20


def test_bad_input_rejected(dns):
    with pytest.raises(ValueError):
        dns.add("x.test", "SRV", "0 0 25 mx.test.")
    with pytest.raises(ValueError):
        dns.add("x.test", "A", "not-an-ip")
    with pytest.raises(ValueError):
        dns.add("x.test", "AAAA", "192.0.2.1")
    with pytest.raises(ValueError):
        dns.set_rcode("x.test", None, "NOSUCHRCODE")


def test_ipv6_host():
    with FakeDNS("::1") as server:
        assert server.address == "[::1]:%d" % server.port
        server.add("six.test", "AAAA", "::1")
        assert rdata(ask(server, "six.test", "AAAA")) == ["::1"]
        assert rdata(ask(server, "six.test", "AAAA", tcp=True)) == ["::1"]


def test_start_twice_refused(dns):
    with pytest.raises(RuntimeError):
        dns.start()


def test_stop_joins_and_closes():
    before = set(threading.enumerate())
    server = FakeDNS().start()
    server.add("x.test", "A", "192.0.2.1")
    server.drop("hang.test")
    port = server.port
    held = socket.create_connection(("127.0.0.1", port), 2)
    q = DNSRecord.question("hang.test").pack()
    held.sendall(struct.pack("!H", len(q)) + q)    # handler now waits
    time.sleep(0.1)
    t0 = time.monotonic()
    server.stop()
    assert time.monotonic() - t0 < 2
    assert set(threading.enumerate()) <= before
    held.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), 1).close()
