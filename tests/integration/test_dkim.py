"""test_dkim.py - `postbote dkim` keygen, sign and verify against other
implementations: signatures we make must verify in dkimpy (Debian
python3-dkim), and mail signed by dkimpy (and, when opendkim-tools is
installed, by opendkim-testmsg) must verify in `postbote dkim verify`, which
fetches keys from the fake DNS server on loopback and nowhere else."""

import atexit
import base64
import os
import re
import shutil
import stat
import subprocess
import tempfile

import pytest

import dkim
import nacl.signing

import fakedns
from conftest import BIN
from fakedns import FakeDNS

DOMAIN = "example.test"

MSG = (b"From: Alice <alice@example.test>\r\n"
       b"To: Bob <bob@example.org>\r\n"
       b"Subject: DKIM  interop\r\n"
       b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
       b"Message-ID: <dkim-1@example.test>\r\n"
       b"MIME-Version: 1.0\r\n"
       b"Content-Type: text/plain; charset=us-ascii\r\n"
       b"\r\n"
       b"Hello  Bob,\r\n"
       b"\tthis line has  odd   spacing \r\n"
       b"\r\n"
       b"-- \r\n"
       b"Alice\r\n"
       b"\r\n\r\n")


_CONF = None


def default_conf():
    """A config of our own, so /etc/postbote is never read."""
    global _CONF
    if _CONF is None:
        fd, _CONF = tempfile.mkstemp(prefix="postbote-dkim-", suffix=".conf")
        os.write(fd, b"state_dir = /nonexistent/postbote-dkim-test\n")
        os.close(fd)
        atexit.register(os.unlink, _CONF)
    return _CONF


def run(args, stdin=b"", conf=None, check=False):
    cmd = [BIN, "dkim", "-c", conf or default_conf()] + args
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=60,
                       env={"PATH": os.environ.get("PATH", "/usr/bin"),
                            "POSTBOTE_CONF": "/nonexistent"})
    err = p.stderr.decode(errors="replace")
    assert "AddressSanitizer" not in err and "runtime error:" not in err \
        and "LeakSanitizer" not in err, err
    if check:
        assert p.returncode == 0, err
    return p


def zone_to_record(zone):
    """The TXT record text from keygen's zone-file output."""
    m = re.match(r'^(\S+)\. IN TXT \((.*)\)\s*$', zone, re.S)
    assert m, zone
    strings = re.findall(r'"([^"]*)"', m.group(2))
    assert all(len(s) <= 255 for s in strings)
    return m.group(1), "".join(strings)


@pytest.fixture
def keys(tmp_path):
    """Generates keys with `postbote dkim keygen`; returns a function
    (selector, type) -> (keyfile, record text)."""
    conf = tmp_path / "postbote.conf"
    state = tmp_path / "state"
    conf.write_text("state_dir = %s\n" % state)

    def make(selector, ktype="rsa"):
        p = run(["keygen", DOMAIN, "-s", selector, "-t", ktype],
                conf=str(conf), check=True)
        name, rec = zone_to_record(p.stdout.decode())
        assert name == "%s._domainkey.%s" % (selector, DOMAIN)
        return str(state / "dkim" / ("%s.%s.key" % (DOMAIN, selector))), rec

    make.conf = str(conf)
    make.state = state
    return make


def dnsfunc_for(records):
    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        rec = records.get(name.rstrip("."))
        return rec.encode() if rec is not None else None
    return dnsfunc


def verify_lines(dns, msg):
    p = run(["verify", "--resolver", dns.address], stdin=msg)
    return p.returncode, p.stdout.decode().splitlines()


@pytest.mark.parametrize("ktype", ["rsa", "ed25519"])
def test_our_signature_verifies_in_dkimpy(keys, ktype):
    keyfile, rec = keys("s1", ktype)
    p = run(["sign", "-d", DOMAIN, "-s", "s1", "-k", keyfile], stdin=MSG,
            check=True)
    signed = p.stdout
    assert signed.startswith(b"DKIM-Signature: v=1; a=%s-sha256;" %
                             ktype.encode())
    assert signed.endswith(MSG)
    head = signed[:len(signed) - len(MSG)]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    dnsfunc = dnsfunc_for({"s1._domainkey." + DOMAIN: rec})
    assert dkim.verify(signed, dnsfunc=dnsfunc)
    # dkimpy sees a changed body or a changed signed header too
    assert not dkim.verify(signed.replace(b"Hello", b"Howdy"),
                           dnsfunc=dnsfunc)
    assert not dkim.verify(signed.replace(b"interop", b"interrupt"),
                           dnsfunc=dnsfunc)


def test_sign_accepts_lf_and_emits_crlf(keys):
    keyfile, rec = keys("lf")
    p = run(["sign", "-d", DOMAIN, "-s", "lf", "-k", keyfile],
            stdin=MSG.replace(b"\r\n", b"\n"), check=True)
    assert b"\n" not in p.stdout.replace(b"\r\n", b"")
    assert p.stdout.endswith(MSG)
    assert dkim.verify(p.stdout,
                       dnsfunc=dnsfunc_for({"lf._domainkey." + DOMAIN: rec}))


def test_keygen_mode_refusal_and_record(keys):
    keyfile, rec = keys("k1")
    st = os.stat(keyfile)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(keyfile)).st_mode) == 0o700
    with open(keyfile) as f:
        before = f.read()
    assert "PRIVATE KEY" in before
    assert rec.startswith("v=DKIM1; k=rsa; p=")
    # never overwrites
    p = run(["keygen", DOMAIN, "-s", "k1"], conf=keys.conf)
    assert p.returncode == 1
    with open(keyfile) as f:
        assert f.read() == before
    # dkimpy accepts the published record for a signature made with it
    signed = run(["sign", "-d", DOMAIN, "-s", "k1", "-k", keyfile],
                 stdin=MSG, check=True).stdout
    assert dkim.verify(signed, dnsfunc=dnsfunc_for(
        {"k1._domainkey." + DOMAIN: rec}))


def test_keygen_default_selector_and_bad_names(keys):
    p = run(["keygen", DOMAIN, "-t", "ed25519"], conf=keys.conf, check=True)
    name, rec = zone_to_record(p.stdout.decode())
    assert re.match(r"^s20\d\d\._domainkey\.example\.test$", name)
    assert rec.startswith("v=DKIM1; k=ed25519; p=")
    for bad in (["../etc"], ["a/b.test"], [DOMAIN, "-s", "x/y"],
                [DOMAIN, "-t", "dsa"]):
        p = run(["keygen"] + bad, conf=keys.conf)
        assert p.returncode == 2
    assert os.listdir(keys.state / "dkim") == \
        ["%s.%s.key" % (DOMAIN, name.split(".")[0])]


def dkimpy_keys(ktype):
    """(private key for dkim.sign, public record text)."""
    if ktype == "ed25519":
        sk = nacl.signing.SigningKey.generate()
        return (base64.b64encode(bytes(sk)),
                "v=DKIM1; k=ed25519; p=" +
                base64.b64encode(bytes(sk.verify_key)).decode())
    pem = subprocess.run(["openssl", "genrsa", "2048"], capture_output=True,
                         check=True).stdout
    pub = subprocess.run(["openssl", "rsa", "-pubout", "-outform", "DER"],
                         input=pem, capture_output=True, check=True).stdout
    return pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode()


@pytest.mark.parametrize("ktype", ["rsa", "ed25519"])
@pytest.mark.parametrize("canon", ["simple", "relaxed"])
def test_dkimpy_signature_verifies_in_postbote(dns, ktype, canon):
    priv, rec = dkimpy_keys(ktype)
    dns.add("py._domainkey." + DOMAIN, "TXT", rec)
    c = canon.encode()
    sig = dkim.sign(MSG, b"py", DOMAIN.encode(), priv,
                    signature_algorithm=b"%s-sha256" % ktype.encode(),
                    canonicalize=(c, c), linesep=b"\r\n")
    signed = sig + MSG
    rc, lines = verify_lines(dns, signed)
    assert lines == ["dkim=pass header.d=%s header.s=py header.a=%s-sha256"
                     % (DOMAIN, ktype)], lines
    assert rc == 0

    rc, lines = verify_lines(dns, signed.replace(b"Hello", b"Howdy"))
    assert rc == 1 and lines[0].startswith("dkim=fail (body hash mismatch)")
    rc, lines = verify_lines(dns, signed.replace(b"interop", b"interrupt"))
    assert rc == 1 and lines[0].startswith("dkim=fail (signature mismatch)")


def test_two_signatures_and_key_errors(dns, keys):
    k1, rec1 = keys("one", "rsa")
    k2, rec2 = keys("two", "ed25519")
    dns.add("one._domainkey." + DOMAIN, "TXT", rec1)
    dns.add("two._domainkey." + DOMAIN, "TXT", rec2)
    once = run(["sign", "-d", DOMAIN, "-s", "one", "-k", k1], stdin=MSG,
               check=True).stdout
    twice = run(["sign", "-d", DOMAIN, "-s", "two", "-k", k2], stdin=once,
                check=True).stdout
    rc, lines = verify_lines(dns, twice)
    assert rc == 0
    assert lines == [
        "dkim=pass header.d=example.test header.s=two "
        "header.a=ed25519-sha256",
        "dkim=pass header.d=example.test header.s=one header.a=rsa-sha256"]
    dns.remove("one._domainkey." + DOMAIN)
    dns.add("one._domainkey." + DOMAIN, "TXT", "v=DKIM1; k=rsa; p=")
    dns.set_rcode("two._domainkey." + DOMAIN, "TXT", "SERVFAIL")
    rc, lines = verify_lines(dns, twice)
    assert rc == 1
    assert lines[0].startswith("dkim=temperror (key lookup failed)")
    assert lines[1].startswith("dkim=permerror (key revoked)")
    rc, lines = verify_lines(dns, MSG)
    assert rc == 1 and lines == ["dkim=none"]


def test_verify_missing_key(dns, keys):
    k1, _ = keys("gone")
    signed = run(["sign", "-d", DOMAIN, "-s", "gone", "-k", k1], stdin=MSG,
                 check=True).stdout
    rc, lines = verify_lines(dns, signed)
    assert rc == 1 and lines[0].startswith("dkim=permerror (no key record)")
    assert ("gone._domainkey." + DOMAIN, "TXT") in dns.queries


@pytest.mark.skipif(shutil.which("opendkim-testmsg") is None,
                    reason="opendkim-tools not installed")
def test_opendkim_signature_in_postbote(dns, keys, tmp_path):
    """opendkim-testmsg (OpenDKIM 2.11) can only sign with rsa-sha1, which
    RFC 8301 forbids verifiers to accept: postbote must parse its
    signature and key and refuse it by policy, not fail or pass it."""
    keyfile, rec = keys("od")
    dns.add("od._domainkey." + DOMAIN, "TXT", rec)
    p = subprocess.run(["opendkim-testmsg", "-C", "-d", DOMAIN, "-s", "od",
                        "-k", keyfile, "-t", str(tmp_path)], input=MSG,
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert b"a=rsa-sha1;" in p.stdout
    rc, lines = verify_lines(dns, p.stdout)
    assert rc == 1
    assert lines == ["dkim=policy (rsa-sha1 refused, RFC 8301) "
                     "header.d=example.test header.s=od header.a=rsa-sha1"]


class _DNSOnPort53(FakeDNS):
    """The fake DNS server on 127.0.0.1:53, for a program that only asks
    the servers of /etc/resolv.conf (OpenDKIM's libresolv)."""

    def _bind_pair(self):
        udp_cls, tcp_cls = fakedns._server_classes(self._family)
        udp = udp_cls((self.host, 53), fakedns._UDPHandler)
        try:
            tcp = tcp_cls((self.host, 53), fakedns._TCPHandler)
        except OSError:
            udp.server_close()
            raise
        udp.fake = tcp.fake = self
        return udp, tcp


@pytest.fixture
def dns53(tmp_path):
    """A fake DNS server on 127.0.0.1:53 and a resolv.conf naming it; the
    test runs its client in a private mount namespace where that file is
    /etc/resolv.conf, so the machine's own resolver is never asked."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private resolv.conf")
    try:
        server = _DNSOnPort53().start()
    except OSError as e:
        pytest.skip("127.0.0.1:53 is taken: %s" % e)
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n")
    server.resolv = str(resolv)
    yield server
    server.stop()


def opendkim_verify(dns53, path):
    """opendkim-testmsg in verify mode, its DNS going to dns53 only."""
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c",
         'mount --bind "$1" /etc/resolv.conf && exec opendkim-testmsg < "$2"',
         "sh", dns53.resolv, str(path)],
        capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("opendkim-testmsg") is None,
                    reason="opendkim-tools not installed")
@pytest.mark.parametrize("ktype", ["rsa", "ed25519"])
def test_our_signature_verifies_in_opendkim(dns53, keys, tmp_path, ktype):
    keyfile, rec = keys("od2", ktype)
    dns53.add("od2._domainkey." + DOMAIN, "TXT", rec)
    signed = run(["sign", "-d", DOMAIN, "-s", "od2", "-k", keyfile],
                 stdin=MSG, check=True).stdout
    good, bad = tmp_path / "good.eml", tmp_path / "bad.eml"
    good.write_bytes(signed)
    bad.write_bytes(signed.replace(b"Hello", b"Howdy"))
    p = opendkim_verify(dns53, good)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert ("od2._domainkey." + DOMAIN, "TXT") in dns53.queries
    p = opendkim_verify(dns53, bad)
    assert p.returncode != 0 and "Bad signature" in p.stderr, p.stderr
