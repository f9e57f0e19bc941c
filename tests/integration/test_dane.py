"""DANE for SMTP (RFC 7672) against real DNSSEC: a zone signed with
ldns-signzone, served by nsd and validated by unbound (dnssec.py), which
postbote uses as its `resolver` with `dnssec_resolver = yes`.  The MX
hosts all point at one aiosmtpd sink with STARTTLS, whose certificate
comes from a private CA; the TLSA records decide what postbote makes of
it: 3 1 1 matching, 3 1 1 not matching, a bogus TLSA signature
(SERVFAIL), 2 1 1 naming the private CA, only unusable records (PKIX-EE),
an insecure zone, and a [route] with tls = dane.  nsd, unbound and the
sink are started once for the module."""

import datetime
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import types

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import dnssec
from conftest import BIN
from test_remote import (Sink, remote_mta, send, states, tls_context,
                         wait_for, wait_log)
from test_tlsrpt import show

pytestmark = pytest.mark.skipif(not dnssec.available(),
                                reason="nsd, unbound or ldnsutils missing")

# label: the TLSA record of its MX host mx-LABEL.dane.test ("%(x)s" from
# assoc()); label "none" has none
RECORDS = {
    "match": "3 1 1 %(leaf11)s",
    "ee01": "3 0 1 %(leaf01)s",
    "ee12": "3 1 2 %(leaf12)s",
    "ee10": "3 1 0 %(leaf10)s",
    "mismatch": "3 1 1 %(wrong)s",
    "bogus": "3 1 1 %(leaf11)s",
    "ta": "2 1 1 %(ca11)s",
    "ta01": "2 0 1 %(ca01)s",
    "pkix": "1 1 1 %(leaf11)s",
    "none": None,
}
MX_NAMES = ["mx-%s.dane.test" % l for l in RECORDS] + [
    "relay.dane.test", "mx.insecure.test", "relay.insecure.test"]


def make_certs(d):
    """A private CA and a server certificate for every MX name; the chain
    file carries the CA too, as DANE-TA(2) needs it from the server."""
    def run(*a):
        subprocess.run(a, check=True, capture_output=True, cwd=d)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out",
        "ca.pem", "-days", "2", "-subj", "/CN=postbote DANE test CA")
    run("openssl", "req", *ec, "-keyout", "srv.key", "-out", "srv.csr",
        "-subj", "/CN=%s" % MX_NAMES[0])
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=%s\n" % ",".join("DNS:" + n
                                                 for n in MX_NAMES))
    run("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem",
        "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.pem",
        "-days", "2", "-extfile", "ext")
    with open(os.path.join(d, "chain.pem"), "w") as f:
        f.write(open(os.path.join(d, "srv.pem")).read())
        f.write(open(os.path.join(d, "ca.pem")).read())
    a = assoc("leaf", os.path.join(d, "srv.pem"))
    a.update(assoc("ca", os.path.join(d, "ca.pem")))
    a["wrong"] = WRONG
    return (os.path.join(d, "chain.pem"), os.path.join(d, "srv.key"),
            os.path.join(d, "ca.pem"), a)


def expired_self_signed(d):
    """A self-signed certificate for another name, expired a year ago:
    DANE-EE(3) checks neither (RFC 7672 3.1.1)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                         "unrelated.example")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now - datetime.timedelta(days=730))
            .not_valid_after(now - datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    cp, kp = os.path.join(d, "old.pem"), os.path.join(d, "old.key")
    with open(cp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cp, kp


def assoc(who, pem):
    """The association data of a certificate, by selector and matching
    type (RFC 6698 2.1.3-2.1.4): who01 is SHA2-256 of the whole
    certificate, who12 SHA2-512 of its public key, and so on."""
    cert = x509.load_pem_x509_certificate(open(pem, "rb").read())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    der = cert.public_bytes(serialization.Encoding.DER)
    out = {}
    for sel, data in (("0", der), ("1", spki)):
        out[who + sel + "0"] = data.hex()
        out[who + sel + "1"] = hashlib.sha256(data).hexdigest()
        out[who + sel + "2"] = hashlib.sha512(data).hexdigest()
    return out


WRONG = "ab" * 32
CERTS = types.SimpleNamespace()     # the test certificate's data


@pytest.fixture(scope="module")
def world():
    d = tempfile.mkdtemp(prefix="postbote-dane-")
    os.chmod(d, 0o755)      # the server's processes read the CA file
    chain, key, ca_pem, a = make_certs(d)
    leaf = a["leaf11"]
    sink = Sink(tls_context=tls_context(chain, key))
    plain = Sink()          # no STARTTLS: what a stripping attacker shows
    old_cert, old_key = expired_self_signed(d)
    old = Sink(tls_context=tls_context(old_cert, old_key))
    a.update(assoc("old", old_cert))
    p = sink.port
    w = dnssec.DnssecWorld(d)
    recs = []
    for label, tlsa in RECORDS.items():
        recs += ["%s MX 10 mx-%s" % (label, label),
                 "mx-%s A 127.0.0.1" % label]
        if tlsa is not None:
            tlsa = tlsa % a
            recs += ["_%d._tcp.mx-%s TLSA %s" % (p, label, tlsa),
                     # what "postbote check --dns" looks at
                     "_25._tcp.mx-%s TLSA %s" % (label, tlsa)]
    recs += ["relay A 127.0.0.1", "_%d._tcp.relay TLSA 3 1 1 %s" % (p, leaf),
             "_%d._tcp.relay TLSA 3 1 1 %s" % (plain.port, leaf),
             "_%d._tcp.relay TLSA 3 1 1 %s" % (old.port, a["old11"])]
    # The bogus host's TLSA data is changed after signing: its RRSIG no
    # longer verifies, and unbound answers SERVFAIL.
    w.zone("dane.test", recs, signed=True, tamper={
        "_%d._tcp.mx-bogus.dane.test" % p: (leaf, WRONG),
        "_25._tcp.mx-bogus.dane.test": (leaf, WRONG)})
    w.zone("insecure.test", [
        "@ MX 10 mx", "mx A 127.0.0.1", "relay A 127.0.0.1",
        "_%d._tcp.mx TLSA 3 1 1 %s" % (p, WRONG),
        "_25._tcp.mx TLSA 3 1 1 %s" % WRONG])
    CERTS.plain, CERTS.old = plain, old
    with sink, plain, old:
        w.start()
        try:
            CERTS.leaf, CERTS.ca = leaf, a["ca11"]
            CERTS.cert, CERTS.key, CERTS.ca_pem = chain, key, ca_pem
            yield w, sink
        finally:
            w.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def shared(world, mta_module_factory):
    """One server for the delivery tests; each uses its own domains."""
    p = world[1].port
    return dane_mta(mta_module_factory, world, (
        "[route routed.test]\nhost = relay.dane.test:%d\ntls = dane\n"
        "[route routed-insecure.test]\nhost = relay.insecure.test:%d\n"
        "tls = dane\n[route stripped.test]\nhost = relay.dane.test:%d\n"
        "tls = dane\n[route expired.test]\nhost = relay.dane.test:%d\n"
        "tls = dane") % (p, p, CERTS.plain.port, CERTS.old.port))


def dane_mta(mta_factory, world, extra=""):
    w, sink = world
    return remote_mta(mta_factory, sink.port, (
        "resolver = %s\ndnssec_resolver = yes\nretry = 1h\n%s") % (
            w.resolver, extra))


def delivered(sink, rcpt, timeout=20.0):
    return wait_for(lambda: [m for m in sink.messages if rcpt in m["to"]],
                    timeout)


def tls_line(m, host):
    return [l for l in m.log().splitlines()
            if "event=tls relay=%s[" % host in l]


@pytest.mark.parametrize("label,match", [
    ("match", "3 1 1 depth=0"),
    ("ee01", "3 0 1 depth=0"),
    ("ee12", "3 1 2 depth=0"),
    ("ee10", "3 1 0 depth=0"),
    ("ta", "2 1 1 depth=1"),
    ("ta01", "2 0 1 depth=1"),
])
def test_matching_tlsa_delivers_over_dane(shared, world, label, match):
    domain, host = label + ".dane.test", "mx-%s.dane.test" % label
    m = shared
    rcpt = "bob@" + domain
    qid = send(m, [rcpt])
    msgs = delivered(world[1], rcpt)
    assert msgs and msgs[0]["tls"], m.log() + world[0].logs()
    assert wait_log(m, qid, rcpt, "sent")
    line = tls_line(m, host)
    assert line, m.log()
    assert "trust=DANE" in line[0]
    assert 'text="DANE TLS connection established"' in line[0]
    assert 'tlsa="%s"' % match in line[0]
    assert re.search(r"event=dane host=%s port=\d+ level=verify" %
                     re.escape(host), m.log())


@pytest.mark.parametrize("domain,reason", [
    ("mismatch.dane.test", "no TLSA record matches the certificate chain"),
    ("bogus.dane.test", "TLSA lookup failed"),
])
def test_failed_dane_defers_and_never_sends_in_clear(shared, world,
                                                     domain, reason):
    m = shared
    rcpt = "bob@" + domain
    qid = send(m, [rcpt])
    line = wait_log(m, qid, rcpt, "deferred")
    assert line and "dsn=4.7.5" in line[0], m.log()
    assert reason in line[0]
    st = states(m, qid)
    assert st[rcpt][0] == "deferred" and st[rcpt][1].startswith("4.7.5")
    # neither over TLS nor, after the failure, in plain text
    assert not [x for x in world[1].messages if rcpt in x["to"]]
    assert "action=retry-plaintext" not in m.log()


def test_unusable_records_mean_tls_without_authentication(shared,
                                                          world):
    # PKIX-EE(1) is unusable for SMTP (RFC 7672 3.1.3): TLS is still
    # mandatory, the certificate is not checked.
    m = shared
    rcpt = "bob@pkix.dane.test"
    send(m, [rcpt])
    msgs = delivered(world[1], rcpt)
    assert msgs and msgs[0]["tls"], m.log()
    assert "level=encrypt" in m.log()
    assert "trust=Untrusted" in tls_line(m, "mx-pkix.dane.test")[0]


def test_secure_host_without_tlsa_gets_opportunistic_tls(shared,
                                                         world):
    m = shared
    rcpt = "bob@none.dane.test"
    send(m, [rcpt])
    msgs = delivered(world[1], rcpt)
    assert msgs and msgs[0]["tls"], m.log()
    assert re.search(r"event=dane host=mx-none.dane.test port=\d+ "
                     r"level=none reason=\"no TLSA records\"", m.log())
    assert "trust=Untrusted" in tls_line(m, "mx-none.dane.test")[0]


def test_insecure_zone_falls_back_to_opportunistic_tls(shared, world):
    # The TLSA record there would not match: unsigned, it does not count.
    m = shared
    rcpt = "bob@insecure.test"
    send(m, [rcpt])
    msgs = delivered(world[1], rcpt)
    assert msgs and msgs[0]["tls"], m.log()
    line = tls_line(m, "mx.insecure.test")
    assert line and "trust=Untrusted" in line[0]
    assert 'text="Untrusted TLS connection established"' in line[0]
    # the MX answer was insecure: no TLSA lookup at all (RFC 7672 2.2.1)
    assert "event=dane host=mx.insecure.test" not in m.log()


@pytest.mark.parametrize("domain,host,ok", [
    ("routed.test", "relay.dane.test", True),
    ("routed-insecure.test", "relay.insecure.test", False),
])
def test_route_with_tls_dane(shared, world, domain, host, ok):
    m = shared
    rcpt = "bob@" + domain
    qid = send(m, [rcpt])
    if ok:
        assert delivered(world[1], rcpt), m.log()
        assert "trust=DANE" in tls_line(m, host)[0]
    else:
        line = wait_log(m, qid, rcpt, "deferred")
        assert line and "dsn=4.7.5" in line[0], m.log()
        assert "DANE impossible" in line[0]
        assert not [x for x in world[1].messages if rcpt in x["to"]]


def test_dane_host_without_starttls_is_not_sent_plain_text(shared):
    # the relay has usable TLSA records for this port, but the server
    # there offers no STARTTLS (as when an attacker strips it)
    rcpt = "bob@stripped.test"
    qid = send(shared, [rcpt])
    line = wait_log(shared, qid, rcpt, "deferred")
    assert line and "dsn=4.7.4" in line[0], shared.log()
    assert "STARTTLS not offered" in line[0]
    assert CERTS.plain.messages == []


def test_dane_ee_checks_neither_name_nor_dates(shared):
    # RFC 7672 3.1.1: the key is what 3 1 1 names; a self-signed
    # certificate for another name, expired, is fine
    rcpt = "bob@expired.test"
    send(shared, [rcpt])
    assert wait_for(lambda: [x for x in CERTS.old.messages
                             if rcpt in x["to"]]), shared.log()
    port = ":%d " % CERTS.old.port
    line = [l for l in tls_line(shared, "relay.dane.test") if port in l]
    assert line and "trust=DANE" in line[0]
    assert 'tlsa="3 1 1 depth=0"' in line[0]


@pytest.mark.parametrize("ca,ok", [(True, True), (False, False)])
def test_route_with_tls_verify(mta_factory, world, ca, ok):
    # verify: PKIX under smtp_tls_ca with the host's name, no DANE
    m = dane_mta(mta_factory, world, "%s[route verified.test]\n"
                 "host = relay.dane.test:%d\ntls = verify" % (
                     "smtp_tls_ca = %s\n" % CERTS.ca_pem if ca else "",
                     world[1].port))
    rcpt = "%s@verified.test" % ("ca" if ca else "noca")
    qid = send(m, [rcpt])
    if ok:
        assert delivered(world[1], rcpt), m.log()
        line = tls_line(m, "relay.dane.test")
        assert 'trust=Verified text="Verified TLS connection established"' \
            in line[0]
        assert "event=dane" not in m.log()
    else:
        line = wait_log(m, qid, rcpt, "deferred")
        assert line and "dsn=4.7.5" in line[0], m.log()
        assert "certificate verify failed" in line[0]


# ---- postbote dns, postbote check --dns ----

def cli_conf(world, hostname):
    w, _ = world
    d = tempfile.mkdtemp(dir=w.base)
    path = os.path.join(d, "postbote.conf")
    with open(path, "w") as f:
        f.write("hostname = %s\ndomains = match.dane.test\n"
                "state_dir = %s/state\nresolver = %s\n"
                "dnssec_resolver = yes\ntls_cert = %s\ntls_key = %s\n" % (
                    hostname, d, w.resolver, CERTS.cert,
                    CERTS.key))
    return path


def test_dns_prints_the_tlsa_record(world):
    p = subprocess.run([BIN, "dns", "-c", cli_conf(world, "mx.example")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "_25._tcp.mx.example.\tIN TLSA\t3 1 1 %s\n" % CERTS.leaf \
        in p.stdout
    assert ";_25._tcp.mx.example.\tIN TLSA\t2 1 1 %s\n" % \
        CERTS.ca in p.stdout


@pytest.mark.parametrize("host,rc,text", [
    ("mx-match.dane.test", None, "TLSA: ok: 3 1 1 %(leaf)s matches the "
     "certificate, DNSSEC-validated"),
    ("mx-ta.dane.test", None, "TLSA: ok: 2 1 1 %(ca)s matches the "
     "certificate, DNSSEC-validated"),
    ("mx-mismatch.dane.test", 1, "TLSA: WRONG: none of the 1 TLSA records "
     "at _25._tcp.mx-mismatch.dane.test (1 usable) matches the certificate"),
    ("mx-bogus.dane.test", 1, "TLSA: WRONG: the lookup of "
     "_25._tcp.mx-bogus.dane.test failed"),
    ("mx.insecure.test", 1, "TLSA: WRONG: none of the 1 TLSA records"),
    ("nothere.dane.test", None, "TLSA: ok: no TLSA records at "
     "_25._tcp.nothere.dane.test"),
])
def test_check_dns_compares_tlsa_with_the_certificate(world, host, rc, text):
    p = subprocess.run([BIN, "check", "-c", cli_conf(world, host), "--dns"],
                       capture_output=True, text=True, timeout=60)
    want = text % {"leaf": CERTS.leaf, "ca": CERTS.ca}
    assert want in p.stdout, p.stdout + p.stderr
    if rc is not None:
        assert p.returncode == rc


def test_tlsrpt_counts_dane_outcomes(mta_factory, world):
    """TLS reporting (RFC 8460) of DANE hosts: policy "tlsa" with the
    recipient domain as policy domain (where its owner publishes
    _smtp._tls) and the host's usable records as policy strings; a match
    is a successful session, a mismatch tlsa-invalid, a bogus TLSA answer
    dnssec-invalid."""
    m = dane_mta(mta_factory, world, "tlsrpt = yes\nsmtp_idle_time = 0s")
    for label in ("match", "mismatch", "bogus"):
        send(m, ["bob@%s.dane.test" % label])
    assert delivered(world[1], "bob@match.dane.test")

    def policies():
        out = {}
        for period in show(m)["periods"]:
            for p in period["policies"]:
                out[p["policy"]["policy-domain"]] = p
        return out
    got = wait_for(lambda: len(policies()) == 3 and policies(), 20)
    assert got, m.log()
    ok = got["match.dane.test"]
    assert ok["policy"] == {"policy-type": "tlsa",
                            "policy-string": ["3 1 1 %s" % CERTS.leaf],
                            "policy-domain": "match.dane.test"}
    assert ok["summary"] == {"total-successful-session-count": 1,
                             "total-failure-session-count": 0}
    bad = got["mismatch.dane.test"]
    assert bad["policy"]["policy-string"] == ["3 1 1 %s" % WRONG]
    assert bad["summary"]["total-failure-session-count"] == 1
    detail = bad["failure-details"][0]
    assert detail["result-type"] == "tlsa-invalid"
    assert detail["receiving-mx-hostname"] == "mx-mismatch.dane.test"
    assert detail["receiving-ip"] == "127.0.0.1"
    assert detail["sending-mta-ip"] == "127.0.0.1"
    bogus = got["bogus.dane.test"]
    assert bogus["policy"]["policy-type"] == "tlsa"
    assert bogus["failure-details"][0]["result-type"] == "dnssec-invalid"
