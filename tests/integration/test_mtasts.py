"""MTA-STS (RFC 8461) for outgoing mail, end to end.

The world, started once for the module:
  - one HTTPS server (http.server + ssl) on 127.0.0.1, certificate from a
    test CA for mta-sts.<every domain below> except mta-sts.webpki.test;
    what it answers depends on the Host header (POLICY below): a policy,
    a huge body, a body dripping slowly, a redirect, text/html;
  - fakedns: MX, A and the _mta-sts TXT records;
  - aiosmtpd sinks that speak REQUIRETLS on one port:
      127.0.0.1  STARTTLS, certificate from the test CA for mx.*.test
      127.0.0.2  STARTTLS, a self-signed certificate (not trusted)
      127.0.0.3  no STARTTLS
    127.0.0.4 has nothing listening (a policy server that is down).
postbote trusts the test CA through mta_sts_ca (the policy fetch) and
smtp_tls_ca (the MX hosts)."""

import datetime
import http.server
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import dnssec
from conftest import BIN, free_port
from test_dane import assoc
from test_remote import remote_mta, send, tls_context, wait_for, wait_log
from test_requiretls import RtSink, send_rt
from test_tlsrpt import show, wait_counts

GOOD, BADCERT, PLAIN, DOWN = ("127.0.0.1", "127.0.0.2", "127.0.0.3",
                              "127.0.0.4")


def policy(mode, *mx, max_age=86400, crlf=False):
    nl = "\r\n" if crlf else "\n"
    return nl.join(["version: STSv1", "mode: %s" % mode] +
                   ["mx: %s" % m for m in mx] +
                   ["max_age: %d" % max_age]) + nl


# Host -> (kind, body); changed by the tests that need it.
POLICY = {}
POLICY_LOCK = threading.Lock()


class PolicyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        with POLICY_LOCK:
            kind, body = POLICY.get(host, ("missing", ""))
        if self.path != "/.well-known/mta-sts.txt" or kind == "missing":
            self.answer(404, "text/plain", b"no\n")
        elif kind == "ok":
            self.answer(200, "text/plain; charset=utf-8", body.encode())
        elif kind == "ctype":
            self.answer(200, "text/html", body.encode())
        elif kind == "redirect":
            self.send_response(301)
            self.send_header("Location", "https://mta-sts.enforce.test"
                             "/.well-known/mta-sts.txt")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif kind == "huge":
            # no Content-Length: the size shows only while reading
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"x-padding: " + b"a" * 4085 + b"\n"
            try:
                for _ in range(64):         # 256 KiB after the policy
                    self.wfile.write(chunk)
                self.wfile.write(body.encode())
            except OSError:
                pass
        elif kind == "slow":
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                for b in data:              # a byte every 0.5 s
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                pass

    def answer(self, code, ctype, data):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class HTTPSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


# ---- certificates ----

def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _write(d, name, cert, key):
    cp, kp = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
    with open(cp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cp, kp


def _cert(subject, issuer, pub, sign_key, names=(), ca=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                     subject)]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                    issuer)]))
         .public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(hours=1))
         .not_valid_after(now + datetime.timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                        critical=True))
    if names:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(n) for n in names]), critical=False)
    return b.sign(sign_key, hashes.SHA256())


def make_certs(d, web_names, mx_names):
    ca_key = _key()
    ca = _cert("postbote MTA-STS test CA", "postbote MTA-STS test CA",
               ca_key.public_key(), ca_key, ca=True)
    ca_pem, _ = _write(d, "ca", ca, ca_key)
    out = {"ca": ca_pem}
    for name, names in (("web", web_names), ("mx", mx_names)):
        k = _key()
        out[name] = _write(d, name, _cert(names[0], "postbote MTA-STS test "
                                          "CA", k.public_key(), ca_key,
                                          names), k)
    k = _key()
    out["self"] = _write(d, "self", _cert("mx.self.test", "mx.self.test",
                                          k.public_key(), k,
                                          ["mx.self.test"]), k)
    return out


# ---- the world ----

DOMAINS = ["enforce.test", "nomatch.test", "badmx.test", "webpki.test",
           "testing.test", "cache.test", "idchg.test", "huge.test",
           "slow.test", "redirect.test", "ctype.test", "rt.test",
           "relay.test", "norelay.test", "plain.test", "check.test",
           "nostarttls.test", "hostmm.test", "refresh.test", "danests.test",
           "rptok.test", "rptout.test", "rpttest.test"]


class World:
    pass


W = World()


@pytest.fixture(scope="module")
def world(module_dns):
    d = tempfile.mkdtemp(prefix="postbote-mtasts-")
    os.chmod(d, 0o755)
    web = ["mta-sts.%s" % x for x in DOMAINS if x != "webpki.test"]
    mxs = ["mx.%s" % x for x in DOMAINS] + ["mx.other.test"]
    certs = make_certs(d, web, mxs)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    hctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    hctx.load_cert_chain(*certs["web"])
    httpd = HTTPSServer((GOOD, 0), PolicyHandler)
    httpd.socket = hctx.wrap_socket(httpd.socket, server_side=True)
    hthread = threading.Thread(target=httpd.serve_forever, daemon=True)
    hthread.start()
    port = free_port()
    sinks = {"good": RtSink(GOOD, port, True, tls_context(*certs["mx"])),
             "bad": RtSink(BADCERT, port, True,
                           tls_context(*certs["self"])),
             "plain": RtSink(PLAIN, port, True)}
    dns = module_dns
    with sinks["good"], sinks["bad"], sinks["plain"]:
        try:
            W.dir, W.certs, W.dns, W.sinks = d, certs, dns, sinks
            W.port, W.https_port = port, httpd.server_address[1]
            yield W
        finally:
            httpd.shutdown()
            httpd.server_close()
    shutil.rmtree(d, ignore_errors=True)


def publish(dns, domain, kind="ok", body=None, sid="1", mx_ip=GOOD,
            web_ip=GOOD, mx_host=None):
    """The MX (mx.DOMAIN -> mx_ip), _mta-sts TXT with id sid, the policy
    host's address and what the HTTPS server answers for it.  TTL 0, so
    that no resolver cache hides a change."""
    mx_host = mx_host or "mx." + domain
    dns.remove(domain, "MX")
    dns.add(domain, "MX", "10 %s." % mx_host, ttl=0)
    dns.remove(mx_host, "A")
    dns.add(mx_host, "A", mx_ip, ttl=0)
    dns.remove("_mta-sts." + domain, "TXT")
    if sid is not None:
        dns.add("_mta-sts." + domain, "TXT", "v=STSv1; id=%s" % sid, ttl=0)
    dns.remove("mta-sts." + domain, "A")
    dns.add("mta-sts." + domain, "A", web_ip, ttl=0)
    with POLICY_LOCK:
        POLICY["mta-sts." + domain] = (kind, body or "")


def mta_conf(world, extra=""):
    return ("smtp_tls_ca = %s\nmta_sts_ca = %s\nmta_sts_port = %d\n"
            "mta_sts_timeout = 4s\nretry = 1h\n%s") % (
        world.certs["ca"], world.certs["ca"], world.https_port, extra)


def make_mta(factory, world, extra=""):
    return remote_mta(factory, world.port, mta_conf(world, extra))


@pytest.fixture(scope="module")
def shared(world, mta_module_factory):
    return make_mta(mta_module_factory, world, (
        "[route routed.test]\nhost = mx.relay.test:%d\ntls = sts\n"
        "[route norouted.test]\nhost = mx.norelay.test:%d\ntls = sts\n") % (
        world.port, world.port))


def delivered(sink, rcpt, timeout=20.0):
    return wait_for(lambda: sink.to(rcpt), timeout)


def lines(m, pat):
    return [l for l in m.log().splitlines() if re.search(pat, l)]


# ---- enforce ----

def test_enforce_with_a_matching_mx_delivers_over_verified_tls(shared,
                                                               world):
    publish(world.dns, "enforce.test", body=policy(
        "enforce", "mx.enforce.test", crlf=True), sid="20260101")
    qid = send(shared, ["bob@enforce.test"])
    got = delivered(world.sinks["good"], "bob@enforce.test")
    assert got, shared.log()
    line = wait_log(shared, qid, "bob@enforce.test", "sent")
    assert line and "tls_policy=sts mode=enforce" in line[0], shared.log()
    assert lines(shared, r"event=mta-sts-fetch domain=enforce.test "
                 r"id=20260101 mode=enforce .*result=ok")
    assert lines(shared, r"event=tls relay=mx.enforce.test\S* "
                 r"trust=Verified")
    cache = os.path.join(shared.state, "mta-sts", "enforce.test")
    assert "mode: enforce" in open(cache).read()


def test_enforce_with_an_mx_outside_the_policy_defers(shared, world):
    publish(world.dns, "nomatch.test", body=policy(
        "enforce", "mx.other.test", "*.elsewhere.test"))
    qid = send(shared, ["bob@nomatch.test"])
    line = wait_log(shared, qid, "bob@nomatch.test", "deferred")
    assert line and "dsn=4.7.5" in line[0], shared.log()
    assert "not an mx of the MTA-STS policy" in line[0]
    assert lines(shared, r"event=mta-sts-failure domain=nomatch.test "
                 r"mode=enforce mx=mx.nomatch.test "
                 r"result_type=validation-failure action=defer")
    assert not world.sinks["good"].to("bob@nomatch.test")


@pytest.mark.parametrize("domain,ip,mx_host,sink,dsn,result", [
    ("badmx.test", BADCERT, None, "bad", "4.7.5",
     "certificate-not-trusted"),
    # a certificate from the trusted CA, without the MX host's name
    ("hostmm.test", GOOD, "wrong.hostmm.test", "good", "4.7.5",
     "certificate-host-mismatch"),
    ("nostarttls.test", PLAIN, None, "plain", "4.7.4",
     "starttls-not-supported"),
])
def test_enforce_without_valid_tls_defers_never_plain_text(
        shared, world, domain, ip, mx_host, sink, dsn, result):
    publish(world.dns, domain, mx_ip=ip, mx_host=mx_host,
            body=policy("enforce", mx_host or "mx." + domain))
    qid = send(shared, ["bob@" + domain])
    line = wait_log(shared, qid, "bob@" + domain, "deferred")
    assert line and "dsn=" + dsn in line[0], shared.log()
    assert lines(shared, r"event=mta-sts-failure domain=%s .*"
                 r"result_type=%s action=defer" % (re.escape(domain),
                                                   result)), shared.log()
    time.sleep(0.5)
    assert not world.sinks[sink].to("bob@" + domain)


def test_policy_server_with_a_bad_certificate_is_not_believed(shared,
                                                              world):
    """mta-sts.webpki.test is not in the server's certificate: no policy
    (sts-webpki-invalid), and the mail goes as without MTA-STS, even to
    an MX the policy would have refused."""
    publish(world.dns, "webpki.test", body=policy("enforce",
                                                  "mx.other.test"))
    qid = send(shared, ["bob@webpki.test"])
    assert delivered(world.sinks["good"], "bob@webpki.test"), shared.log()
    line = wait_log(shared, qid, "bob@webpki.test", "sent")
    assert line and "tls_policy=" not in line[0]
    assert lines(shared, r"event=mta-sts-fetch domain=webpki.test .*"
                 r"result=failed error=tls-verify")
    assert lines(shared, r"domain=webpki.test .*"
                 r"result_type=sts-webpki-invalid")


# ---- testing ----

def test_testing_mode_delivers_and_logs_what_would_fail(shared, world):
    publish(world.dns, "testing.test", mx_ip=BADCERT,
            body=policy("testing", "mx.other.test"))
    qid = send(shared, ["bob@testing.test"])
    assert delivered(world.sinks["bad"], "bob@testing.test"), shared.log()
    line = wait_log(shared, qid, "bob@testing.test", "sent")
    assert line and "tls_policy=sts mode=testing" in line[0]
    assert lines(shared, r"event=mta-sts-failure domain=testing.test "
                 r"mode=testing mx=mx.testing.test "
                 r"result_type=validation-failure action=none \(testing\)")
    assert lines(shared, r"event=mta-sts-failure domain=testing.test .*"
                 r"result_type=certificate-not-trusted")


# ---- TLS reporting ----

def test_outcomes_are_counted_for_tls_reports(mta_factory, dns, world):
    """With tlsrpt = yes, MTA-STS outcomes are counted under policy "sts"
    (RFC 8460 4.4) with the policy's lines and mx patterns: a verified
    session, an MX outside an enforce policy (skipped: one
    validation-failure), an MX outside a testing policy (its session took
    place with good TLS, and still counts as validation-failure), and a
    policy server that fails WebPKI (sts-webpki-invalid)."""
    m = make_mta(mta_factory, world, "tlsrpt = yes\nsmtp_idle_time = 0s\n")
    ok_policy = policy("enforce", "mx.rptok.test", "*.rptok.test")
    publish(dns, "rptok.test", body=ok_policy)
    publish(dns, "rptout.test", body=policy("enforce",
                                                  "mx.other.test"))
    publish(dns, "rpttest.test", body=policy("testing",
                                                   "mx.other.test"))
    publish(dns, "webpki.test", body=policy("enforce",
                                                  "mx.other.test"))
    for rcpt in ("a@rptok.test", "b@rptok.test", "c@rptout.test",
                 "d@rpttest.test", "e@webpki.test"):
        send(m, [rcpt])
    want = {"rptok.test": (2, {}),
            "rptout.test": (0, {"validation-failure": 1}),
            "rpttest.test": (0, {"validation-failure": 1}),
            "webpki.test": (0, {"sts-webpki-invalid": 1}),
            }
    got = wait_counts(m, want)
    # webpki.test's mail went out without a policy: one more session,
    # counted as no-policy-found for the same domain
    if got != want and "webpki.test" in got:
        want["webpki.test"] = (1, {"sts-webpki-invalid": 1})
        got = wait_counts(m, want)
    assert got == want, m.log()
    pols = {}
    for period in show(m)["periods"]:
        for p in period["policies"]:
            pols.setdefault(p["policy"]["policy-domain"], []).append(
                p["policy"])
    ok = pols["rptok.test"][0]
    assert ok["policy-type"] == "sts"
    assert ok["policy-string"] == [l for l in ok_policy.splitlines() if l]
    assert ok["mx-host"] == ["mx.rptok.test", "*.rptok.test"]
    assert pols["rpttest.test"][0]["policy-type"] == "sts"
    assert "sts" in [p["policy-type"] for p in pols["webpki.test"]]


# ---- the cache ----

def test_cached_policy_is_used_while_the_server_is_down(mta_factory, dns,
                                                        world):
    """A server of its own (function-scoped DNS): the restart.  No idle
    connection is kept, so that each message looks at the MX anew."""
    m = make_mta(mta_factory, world, "smtp_idle_time = 0s\n")
    publish(dns, "cache.test", body=policy("enforce",
                                                 "mx.cache.test"))
    q1 = send(m, ["one@cache.test"])
    assert wait_log(m, q1, "one@cache.test", "sent"), m.log()
    # the server goes away and the record gets a new id: the fetch
    # fails, and the cached policy still holds (RFC 8461 5.1)
    publish(dns, "cache.test", sid="2", web_ip=DOWN,
            body=policy("enforce", "mx.cache.test"))
    q2 = send(m, ["two@cache.test"])
    line = wait_log(m, q2, "two@cache.test", "sent")
    assert line and "tls_policy=sts mode=enforce" in line[0], m.log()
    assert lines(m, r"event=mta-sts-fetch domain=cache.test id=2 "
                 r"result=failed .*action=cached")
    # after a restart it comes from state_dir
    m.stop()
    m.start()
    q3 = send(m, ["three@cache.test"])
    line = wait_log(m, q3, "three@cache.test", "sent")
    assert line and "tls_policy=sts mode=enforce" in line[0], m.log()
    assert lines(m, r"event=mta-sts-cache domain=cache.test id=1 "
                 r"mode=enforce result=loaded")
    # and it is enforced: an MX outside it defers
    publish(dns, "cache.test", sid="2", web_ip=DOWN,
            mx_host="mx.other.test",
            body=policy("enforce", "mx.cache.test"))
    q4 = send(m, ["four@cache.test"])
    line = wait_log(m, q4, "four@cache.test", "deferred")
    assert line and "dsn=4.7.5" in line[0], m.log()


def test_policy_past_half_its_age_is_fetched_again_in_the_background(
        shared, world):
    publish(world.dns, "refresh.test", sid="R1",
            body=policy("enforce", "mx.refresh.test", max_age=4))
    q1 = send(shared, ["one@refresh.test"])
    assert wait_log(shared, q1, "one@refresh.test", "sent"), shared.log()
    time.sleep(2.2)
    q2 = send(shared, ["two@refresh.test"])
    line = wait_log(shared, q2, "two@refresh.test", "sent")
    assert line and "tls_policy=sts mode=enforce" in line[0]
    assert wait_for(lambda: len(lines(
        shared, r"event=mta-sts-fetch domain=refresh.test id=R1 "
        r"mode=enforce .*result=ok")) == 2), shared.log()


def test_a_new_id_fetches_the_policy_again(shared, world):
    publish(world.dns, "idchg.test", sid="A1",
            body=policy("enforce", "mx.idchg.test"))
    q1 = send(shared, ["one@idchg.test"])
    assert wait_log(shared, q1, "one@idchg.test", "sent"), shared.log()
    q2 = send(shared, ["two@idchg.test"])
    assert wait_log(shared, q2, "two@idchg.test", "sent"), shared.log()
    fetches = lines(shared, r"event=mta-sts-fetch domain=idchg.test")
    assert len(fetches) == 1, fetches      # the same id: the cache
    publish(world.dns, "idchg.test", sid="B2",
            body=policy("enforce", "mx.other.test"))
    q3 = send(shared, ["three@idchg.test"])
    line = wait_log(shared, q3, "three@idchg.test", "deferred")
    assert line and "dsn=4.7.5" in line[0], shared.log()
    assert lines(shared, r"event=mta-sts-fetch domain=idchg.test id=B2 "
                 r"mode=enforce .*result=ok")
    assert not world.sinks["good"].to("three@idchg.test")


# ---- hostile policy servers ----

@pytest.mark.parametrize("domain,kind,error", [
    ("huge.test", "huge", "too-big"),
    ("redirect.test", "redirect", "http-status"),
    ("ctype.test", "ctype", "content-type"),
    ("slow.test", "slow", "timeout"),
])
def test_hostile_policy_server_is_refused_and_blocks_nobody(
        shared, world, domain, kind, error):
    """The policy each server would hand out names no MX of the domain:
    had it been taken, the mail would be deferred.  Meanwhile mail to
    another domain goes out at once."""
    publish(world.dns, domain, kind=kind,
            body=policy("enforce", "mx.other.test"))
    world.dns.remove("plain.test", "MX")
    world.dns.add("plain.test", "MX", "10 mx.plain.test.")
    world.dns.remove("mx.plain.test", "A")
    world.dns.add("mx.plain.test", "A", GOOD)
    start = time.time()
    qid = send(shared, ["bob@" + domain])
    other = send(shared, ["%s@plain.test" % kind])
    assert wait_log(shared, other, "%s@plain.test" % kind, "sent", 10)
    if kind == "slow":
        # the other domain did not wait for the slow server
        assert not lines(shared, r"event=mta-sts-fetch domain=slow.test")
        assert time.time() - start < 4
    line = wait_log(shared, qid, "bob@" + domain, "sent", 20)
    assert line and "tls_policy=" not in line[0], shared.log()
    failed = lines(shared, r"event=mta-sts-fetch domain=%s .*"
                   r"result=failed error=%s" % (re.escape(domain), error))
    assert failed, shared.log()


# ---- DANE first ----

@pytest.mark.skipif(not dnssec.available(),
                    reason="nsd, unbound or ldnsutils missing")
def test_dane_takes_precedence_over_an_enforce_policy(mta_factory, world,
                                                       workdir):
    """A signed zone (nsd, validated by unbound) whose MX host has a
    matching DANE-EE record, and an enforce policy that does not name
    that host: DANE decides (RFC 8461 2), so the mail is delivered over
    DANE, where the policy alone would have deferred it."""
    leaf = assoc("leaf", world.certs["mx"][0])["leaf11"]
    zdir = os.path.join(workdir, "dnssec")
    os.mkdir(zdir)
    os.chmod(zdir, 0o755)
    w = dnssec.DnssecWorld(zdir)
    w.zone("danests.test", [
        "@ MX 10 mx", "mx A %s" % GOOD,
        "_%d._tcp.mx TLSA 3 1 1 %s" % (world.port, leaf),
        '_mta-sts TXT "v=STSv1; id=1"', "mta-sts A %s" % GOOD], signed=True)
    with POLICY_LOCK:
        POLICY["mta-sts.danests.test"] = ("ok", policy("enforce",
                                                       "mx.other.test"))
    w.start()
    try:
        m = remote_mta(mta_factory, world.port, mta_conf(
            world, "resolver = %s\ndnssec_resolver = yes\n" % w.resolver))
        qid = send(m, ["bob@danests.test"])
        line = wait_log(m, qid, "bob@danests.test", "sent")
        assert line and "tls_policy=dane" in line[0], m.log()
        assert lines(m, r"event=mta-sts domain=danests.test "
                     r"policy=enforce")
        assert lines(m, r"event=tls relay=mx.danests.test\S* trust=DANE")
        assert not lines(m, r"event=mta-sts-failure")
    finally:
        w.stop()


# ---- REQUIRETLS and routes ----

def test_requiretls_mail_goes_to_an_sts_enforce_domain(shared, world):
    """No DNSSEC here: the enforce policy and PKIX make the MX host
    validated (RFC 8689 4.2.1), so the mail is delivered, REQUIRETLS
    passed on."""
    publish(world.dns, "rt.test", body=policy("enforce", "mx.rt.test"))
    qid = send_rt(shared, ["bob@rt.test"])
    got = delivered(world.sinks["good"], "bob@rt.test")
    assert got and "REQUIRETLS" in got[0]["mail_options"], shared.log()
    assert wait_log(shared, qid, "bob@rt.test", "sent")


def test_route_with_tls_sts(shared, world):
    publish(world.dns, "relay.test", body=policy("enforce",
                                                 "mx.relay.test"))
    publish(world.dns, "norelay.test", body=policy("testing",
                                                   "mx.norelay.test"))
    q1 = send(shared, ["bob@routed.test"])
    assert delivered(world.sinks["good"], "bob@routed.test"), shared.log()
    line = wait_log(shared, q1, "bob@routed.test", "sent")
    assert line and "tls_policy=sts mode=enforce" in line[0]
    q2 = send(shared, ["bob@norouted.test"])
    line = wait_log(shared, q2, "bob@norouted.test", "deferred")
    assert line and "dsn=4.7.5" in line[0], shared.log()
    assert "no MTA-STS policy in enforce mode" in line[0]


# ---- postbote dns, check --dns ----

def cli_conf(world, hostname, domain):
    p = os.path.join(world.dir, "cli-%s.conf" % domain)
    with open(p, "w") as f:
        f.write("hostname = %s\ndomains = %s\nstate_dir = %s\n"
                "resolver = %s\nmta_sts_ca = %s\nmta_sts_port = %d\n" % (
                    hostname, domain, os.path.join(world.dir, "cli-state"),
                    world.dns.address, world.certs["ca"],
                    world.https_port))
    return p


def test_dns_prints_the_mta_sts_record_and_policy(world):
    conf = cli_conf(world, "mx.check.test", "check.test")
    r = subprocess.run([BIN, "dns", "-c", conf, "check.test"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert re.search(r'^_mta-sts\.check\.test\.\tIN TXT\t'
                     r'"v=STSv1; id=\d{14}"$', r.stdout, re.M), r.stdout
    assert ";   mode: testing\n;   mx: mx.check.test\n" in r.stdout
    assert "https://mta-sts.check.test/.well-known/mta-sts.txt" in r.stdout


@pytest.mark.parametrize("pol,ok,text", [
    (policy("enforce", "mx.check.test"), True,
     "id 7, mode enforce, max_age 86400, 1 mx pattern(s) covering"),
    (policy("testing", "*.check.test"), True, "mode testing"),
    (policy("enforce", "mx.other.test"), False,
     "the MX host mx.check.test is not covered"),
    ("version: STSv1\nmode: enforce\n", False, "does not parse"),
    (None, False, "cannot be fetched"),
])
def test_check_dns_fetches_and_checks_the_policy(world, pol, ok, text):
    publish(world.dns, "check.test", sid="7", body=pol,
            kind="ok" if pol is not None else "missing")
    conf = cli_conf(world, "mx.check.test", "check.test")
    r = subprocess.run([BIN, "check", "-c", conf, "--dns"],
                       capture_output=True, text=True, timeout=60)
    found = [l for l in r.stdout.splitlines()
             if l.startswith("check.test: MTA-STS:")]
    assert len(found) == 1, r.stdout + r.stderr
    assert (": ok: " in found[0]) == ok and text in found[0], found


def test_check_dns_without_a_record_is_fine(world):
    world.dns.remove("_mta-sts.check.test", "TXT")
    conf = cli_conf(world, "mx.check.test", "check.test")
    r = subprocess.run([BIN, "check", "-c", conf, "--dns"],
                       capture_output=True, text=True, timeout=60)
    assert "check.test: MTA-STS: ok: none published" in r.stdout, r.stdout


def test_shared_server_ran_clean(shared):
    """Last: the module's server stops cleanly, with no sanitizer report
    (leaks are checked at exit), and no process of it died before (a
    seccomp kill would restart deliver)."""
    before = shared.log()
    assert "event=exit process=deliver" not in before, before
    assert shared.stop() == 0
    log = shared.log()
    assert "AddressSanitizer" not in log and "runtime error:" not in log \
        and "LeakSanitizer" not in log, log
