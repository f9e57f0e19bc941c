"""fakedns.py - an authoritative-looking DNS server for the integration tests.

It answers from a small in-memory zone, on UDP and TCP at the same ephemeral
port of a loopback address, so the suites never touch the real DNS.  Tests
fill it with add()/add_ptr(), force failures with set_rcode() and drop(),
and read back what was asked from .queries.

    dns = FakeDNS().start()
    dns.add("example.org", "MX", "10 mx.example.org.")
    dns.add("mx.example.org", "A", "127.0.0.1")
    ...  # run postbote with resolver = dns.address
    dns.stop()

Behaviour, as a recursive resolver would present it to postbote:
  - unknown names get NXDOMAIN; a name that exists (or has names below it)
    but lacks the asked type gets NOERROR with no answer (NODATA);
  - CNAMEs are followed inside the zone and returned with the final data;
  - UDP answers larger than 512 bytes (or the client's EDNS size, capped at
    1232) come back truncated (TC, question kept) so clients retry on TCP;
  - set_rcode() wins over data, drop() wins over everything.
Runs under /usr/bin/python3 with Debian's python3-dnslib.
"""

import ipaddress
import select
import socket
import socketserver
import struct
import threading

from dnslib import (AAAA, CNAME, MX, NS, PTR, QTYPE, RCODE, RR, TXT, A,
                    DNSHeader, DNSLabel, DNSRecord, EDNS0)

__all__ = ["FakeDNS"]

UDP_PLAIN_MAX = 512             # RFC 1035 4.2.1
UDP_EDNS_MAX = 1232             # DNS flag day 2020 buffer size
CNAME_CHAIN_MAX = 8
TXT_CHUNK = 255                 # RFC 1035 3.3.14: <character-string>


def _norm(name):
    """Name as a dict key: ASCII lower case, no root dot ("" for the root).
    Query names are used as received, so odd bytes cannot raise here."""
    if not isinstance(name, DNSLabel):
        name = DNSLabel(str(name))
    return b".".join(part.lower() for part in name.label).decode("latin-1")


def _qtype(rtype):
    """'MX' or 15 -> 15; raises ValueError for unknown types."""
    if isinstance(rtype, int):
        return rtype
    try:
        return getattr(QTYPE, str(rtype).upper())
    except Exception:
        raise ValueError("unknown record type %r" % (rtype,)) from None


def _rcode(rcode):
    """'SERVFAIL' or 2 -> 2."""
    if isinstance(rcode, int):
        return rcode
    try:
        return getattr(RCODE, str(rcode).upper())
    except Exception:
        raise ValueError("unknown rcode %r" % (rcode,)) from None


def _txt_chunks(value):
    """A string is cut into 255-byte strings; a list is taken as given."""
    if isinstance(value, (list, tuple)):
        chunks = [v.encode() if isinstance(v, str) else bytes(v)
                  for v in value]
        if any(len(c) > TXT_CHUNK for c in chunks):
            raise ValueError("TXT string longer than 255 bytes")
        return chunks
    data = value.encode() if isinstance(value, str) else bytes(value)
    return [data[i:i + TXT_CHUNK]
            for i in range(0, len(data), TXT_CHUNK)] or [b""]


def _rdata(qtype, value):
    """The dnslib rdata object for a value written as in a zone file."""
    name = QTYPE.get(qtype)
    if name == "A":
        ipaddress.IPv4Address(value)
        return A(value)
    if name == "AAAA":
        ipaddress.IPv6Address(value)
        return AAAA(value)
    if name == "MX":
        if isinstance(value, (list, tuple)):
            pref, host = value
        else:
            pref, host = str(value).split()
        return MX(host, int(pref))
    if name == "TXT":
        return TXT(_txt_chunks(value))
    if name == "PTR":
        return PTR(value)
    if name == "CNAME":
        return CNAME(value)
    if name == "NS":
        return NS(value)
    raise ValueError("record type %s is not supported" % name)


class FakeDNS:
    """In-memory DNS server on UDP and TCP; see the module docstring."""

    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.port = None
        self._family = (socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._lock = threading.Lock()
        self._records = {}      # name -> [(qtype, rdata, ttl)]
        self._rcodes = {}       # (name, qtype or None) -> rcode
        self._drops = set()     # (name, qtype or None)
        self._delays = {}       # name -> seconds before the answer
        self._queries = []      # [(name, "TYPE")]
        self._stopping = threading.Event()
        self._servers = []
        self._threads = []

    # ---- lifecycle ----

    def start(self):
        """Bind UDP and TCP on one ephemeral port and serve; returns self."""
        if self._servers:
            raise RuntimeError("FakeDNS already started")
        self._stopping.clear()
        udp, tcp = self._bind_pair()
        self.port = udp.server_address[1]
        self._servers = [udp, tcp]
        for srv in self._servers:
            t = threading.Thread(target=srv.serve_forever,
                                 kwargs={"poll_interval": 0.05},
                                 name="fakedns-%d" % self.port, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        """Stop serving, close the sockets and join every thread."""
        self._stopping.set()
        for srv in self._servers:
            srv.shutdown()
        for srv in self._servers:
            srv.server_close()          # joins TCP connection threads
        for t in self._threads:
            t.join()
        self._servers = []
        self._threads = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self):
        """"127.0.0.1:PORT" or "[::1]:PORT", as postbote's resolver key."""
        if self._family == socket.AF_INET6:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    def _bind_pair(self):
        udp_cls, tcp_cls = _server_classes(self._family)
        for _ in range(50):
            udp = udp_cls((self.host, 0), _UDPHandler)
            udp.fake = self
            try:
                tcp = tcp_cls((self.host, udp.server_address[1]),
                              _TCPHandler)
            except OSError:
                udp.server_close()      # TCP port taken: pick another
                continue
            tcp.fake = self
            return udp, tcp
        raise OSError("no port free for both UDP and TCP on %s" % self.host)

    # ---- zone ----

    def add(self, name, rtype, value, ttl=300):
        """Add one record: A, AAAA, MX ("10 mx.example."), TXT, PTR,
        CNAME or NS.  A TXT string is split into 255-byte strings; pass a
        list to choose the strings yourself."""
        qtype = _qtype(rtype)
        rd = _rdata(qtype, value)
        with self._lock:
            self._records.setdefault(_norm(name), []).append(
                (qtype, rd, int(ttl)))

    def add_ptr(self, ip, name, ttl=300):
        """PTR for an IPv4 or IPv6 address (in-addr.arpa / ip6.arpa)."""
        self.add(ipaddress.ip_address(ip).reverse_pointer, "PTR", name, ttl)

    def remove(self, name, rtype=None):
        """Forget the records (of one type, or all) and rules of a name."""
        key = _norm(name)
        qtype = None if rtype is None else _qtype(rtype)
        with self._lock:
            kept = [r for r in self._records.pop(key, [])
                    if qtype is not None and r[0] != qtype]
            if kept:
                self._records[key] = kept
            for k in list(self._rcodes):
                if k[0] == key and (qtype is None or k[1] == qtype):
                    del self._rcodes[k]
            self._drops = {k for k in self._drops
                           if not (k[0] == key and
                                   (qtype is None or k[1] == qtype))}

    def set_rcode(self, name, rtype, rcode):
        """Answer queries for name (of rtype, or any type if None) with
        rcode: "SERVFAIL", "NXDOMAIN", "REFUSED", ... or a number."""
        key = (_norm(name), None if rtype is None else _qtype(rtype))
        with self._lock:
            self._rcodes[key] = _rcode(rcode)

    def drop(self, name, rtype=None):
        """Never answer queries for name (of rtype, or of any type)."""
        key = (_norm(name), None if rtype is None else _qtype(rtype))
        with self._lock:
            self._drops.add(key)

    def delay(self, name, seconds):
        """Answer queries for name (UDP) only after seconds: a slow
        authoritative server."""
        with self._lock:
            self._delays[_norm(name)] = float(seconds)

    def _delay_of(self, data):
        try:
            q = DNSRecord.parse(data).questions[0]
        except Exception:
            return 0
        with self._lock:
            return self._delays.get(_norm(q.qname), 0)

    @property
    def queries(self):
        """A copy of the query log: [(name, "TYPE")], oldest first."""
        with self._lock:
            return list(self._queries)

    def clear_queries(self):
        with self._lock:
            self._queries.clear()

    # ---- answering (server threads) ----

    def _answer(self, data, udp):
        """Wire reply for a wire query, or None to stay silent."""
        try:
            req = DNSRecord.parse(data)
        except Exception:               # garbage must not kill the thread
            return None
        if req.header.qr or not req.questions:
            return None
        q = req.questions[0]
        name, qtype = _norm(q.qname), q.qtype
        reply = req.reply(ra=1, aa=1)
        edns = [rr for rr in req.ar if rr.rtype == QTYPE.OPT]
        with self._lock:
            self._queries.append((name, QTYPE[qtype]))   # "TYPE65280"
            if ((name, None) in self._drops or
                    (name, qtype) in self._drops):
                return None
            rcode = self._rcodes.get((name, qtype),
                                     self._rcodes.get((name, None)))
            if rcode is None:
                rcode = self._resolve(reply, q.qname, qtype)
        reply.header.rcode = rcode
        if edns:
            reply.add_ar(EDNS0(udp_len=UDP_EDNS_MAX))
        wire = reply.pack()
        limit = UDP_PLAIN_MAX
        if edns:
            limit = min(max(edns[0].rclass, UDP_PLAIN_MAX), UDP_EDNS_MAX)
        if udp and len(wire) > limit:
            wire = self._truncated(req, edns).pack()
        return wire

    def _resolve(self, reply, qname, qtype):
        """Fill reply's answers (lock held); returns the rcode."""
        label = qname
        name = _norm(label)
        for _ in range(CNAME_CHAIN_MAX):
            recs = self._records.get(name, [])
            hits = [r for r in recs
                    if r[0] == qtype or qtype == QTYPE.ANY]
            cnames = [r for r in recs if r[0] == QTYPE.CNAME]
            if hits or not cnames or qtype == QTYPE.CNAME:
                for rtype, rd, ttl in hits:
                    reply.add_answer(RR(label, rtype, rdata=rd, ttl=ttl))
                return RCODE.NOERROR if self._exists(name) \
                    else RCODE.NXDOMAIN
            _, rd, ttl = cnames[0]
            reply.add_answer(RR(label, QTYPE.CNAME, rdata=rd, ttl=ttl))
            label = rd.label
            name = _norm(label)
        return RCODE.SERVFAIL          # CNAME loop

    def _exists(self, name):
        """True if name has records, or names below it do (RFC 8020)."""
        if name in self._records:
            return True
        suffix = "." + name
        return any(k.endswith(suffix) for k in self._records)

    @staticmethod
    def _truncated(req, edns):
        """TC reply that keeps the question, which resolvers check."""
        t = DNSRecord(DNSHeader(id=req.header.id, bitmap=req.header.bitmap,
                                qr=1, aa=1, ra=1, tc=1), q=req.q)
        if edns:
            t.add_ar(EDNS0(udp_len=UDP_EDNS_MAX))
        return t


class _UDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        wire = self.server.fake._answer(data, udp=True)
        if wire is None:
            return
        wait = self.server.fake._delay_of(data)
        if wait:    # later, from a timer: the server answers others now
            threading.Timer(wait, sock.sendto,
                            (wire, self.client_address)).start()
        else:
            sock.sendto(wire, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    """RFC 1035 4.2.2 framing; several queries per connection."""

    def handle(self):
        fake = self.server.fake
        while True:
            head = self._read(2)
            if head is None:
                return
            body = self._read(struct.unpack("!H", head)[0])
            if body is None:
                return
            wire = fake._answer(body, udp=False)
            if wire is None:            # dropped: hold the line, silent
                while self._read(1) is not None:
                    pass
                return
            self.request.sendall(struct.pack("!H", len(wire)) + wire)

    def _read(self, n):
        """n bytes, or None at EOF, on error or when the server stops."""
        stopping = self.server.fake._stopping
        buf = b""
        while len(buf) < n:
            if stopping.is_set():
                return None
            ready, _, _ = select.select([self.request], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = self.request.recv(n - len(buf))
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return buf


def _server_classes(family):
    """UDP and threading TCP server classes bound to an address family."""
    class UDP(socketserver.UDPServer):
        address_family = family
        allow_reuse_address = False

    class TCP(socketserver.ThreadingTCPServer):
        address_family = family
        allow_reuse_address = True
        daemon_threads = False
        block_on_close = True
    return UDP, TCP
