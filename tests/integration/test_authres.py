"""test_authres.py - SPF, DKIM and DMARC through `postbote serve`: the
delivered message carries one Authentication-Results header with the
expected results, forged ones claiming our host name are removed, the
policies refuse or hold what they should, and mail from relay_networks is
DKIM-signed so that dkimpy accepts it.  Every DNS answer comes from the
fake DNS server on loopback.  Also `postbote verify`, `postbote dns` and
`postbote check --dns`."""

import base64
import os
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import time

import dkim
import nacl.signing
import pytest

from conftest import BIN

HOST = "mx.example.test"
SENDER_DOMAIN = "sender.test"
RCPT = "alice@example.test"
NOT_RELAY = "10.99.0.0/16"      # loopback clients are not relay clients

BODY = (b"From: Sam <sam@sender.test>\r\n"
        b"To: Alice <alice@example.test>\r\n"
        b"Subject: authentication results\r\n"
        b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
        b"Message-ID: <ar-1@sender.test>\r\n"
        b"\r\n"
        b"Hello  Alice,\r\n"
        b"this is a test.\r\n")


def rsa_keys():
    pem = subprocess.run(["openssl", "genrsa", "2048"], capture_output=True,
                         check=True).stdout
    pub = subprocess.run(["openssl", "rsa", "-pubout", "-outform", "DER"],
                         input=pem, capture_output=True, check=True).stdout
    return pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode()


def ed25519_keys():
    sk = nacl.signing.SigningKey.generate()
    return (base64.b64encode(bytes(sk)), "v=DKIM1; k=ed25519; p=" +
            base64.b64encode(bytes(sk.verify_key)).decode())


def sign(msg, priv, selector, alg, domain=SENDER_DOMAIN):
    return dkim.sign(msg, selector.encode(), domain.encode(), priv,
                     signature_algorithm=alg.encode(),
                     canonicalize=(b"relaxed", b"relaxed"),
                     linesep=b"\r\n") + msg


def publish(dns, spf="v=spf1 ip4:127.0.0.1 -all", dmarc="v=DMARC1; p=reject",
            domain=SENDER_DOMAIN):
    if spf is not None:
        dns.add(domain, "TXT", spf)
    if dmarc is not None:
        dns.add("_dmarc." + domain, "TXT", dmarc)


def send(mta, msg, mail_from="sam@sender.test", helo="client.sender.test",
         rcpt=RCPT):
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=60) as c:
        c.ehlo(helo)
        code, resp = c.mail(mail_from)
        assert code == 250, resp
        code, resp = c.rcpt(rcpt)
        assert code == 250, resp
        return c.data(msg)


def header_fields(raw, name):
    """Unfolded values of every `name:` field in the header section."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode()
    head = re.sub(r"\n[ \t]+", " ", head)
    out = []
    for line in head.split("\n"):
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            out.append(re.sub(r"\s+", " ", v.strip()))
    return out


def delivered_ar(mta, n=1):
    msgs = mta.wait_messages(RCPT, n)
    assert len(msgs) == n, mta.log()
    ars = header_fields(msgs[-1], "Authentication-Results")
    assert len(ars) == 1, ars
    return ars[0], msgs[-1]


def results(ar):
    """{'spf': 'pass', 'dkim': [...], 'dmarc': 'pass'} from one A-R."""
    parts = [p.strip() for p in ar.split(";")]
    assert parts[0] == HOST, ar
    out = {"dkim": []}
    for p in parts[1:]:
        method, _, rest = p.partition("=")
        word = rest.split()[0]
        if method == "dkim":
            out["dkim"].append(word)
        else:
            out[method] = word
    return out


@pytest.fixture
def server(mta_factory, dns):
    def make(extra="", **kw):
        kw.setdefault("relay_networks", NOT_RELAY)
        return mta_factory(extra=extra, **kw).start()
    return make


@pytest.mark.parametrize("spf,expect", [
    ("v=spf1 ip4:127.0.0.1 -all", "pass"),
    ("v=spf1 ip4:192.0.2.1 -all", "fail"),
    ("v=spf1 ip4:192.0.2.1 ~all", "softfail"),
    (None, "none"),
])
def test_spf_results(server, dns, spf, expect):
    publish(dns, spf=spf, dmarc=None)
    mta = server()
    code, _ = send(mta, BODY)
    assert code == 250
    ar, _ = delivered_ar(mta)
    r = results(ar)
    assert r["spf"] == expect, ar
    assert "smtp.mailfrom=sam@sender.test" in ar
    assert r["dkim"] == ["none"] and r["dmarc"] == "none", ar


def test_spf_temperror_and_null_sender_uses_helo(server, dns):
    dns.set_rcode(SENDER_DOMAIN, "TXT", "SERVFAIL")
    dns.add("client.helo.test", "TXT", "v=spf1 ip4:127.0.0.1 -all")
    mta = server()
    assert send(mta, BODY)[0] == 250
    ar, _ = delivered_ar(mta)
    assert results(ar)["spf"] == "temperror", ar
    assert send(mta, BODY, mail_from="", helo="client.helo.test")[0] == 250
    ar, _ = delivered_ar(mta, 2)
    assert results(ar)["spf"] == "pass" and "smtp.helo=client.helo.test" \
        in ar, ar


@pytest.mark.parametrize("alg", ["rsa-sha256", "ed25519-sha256"])
def test_dkim_pass_and_dmarc_pass(server, dns, alg):
    priv, rec = rsa_keys() if alg.startswith("rsa") else ed25519_keys()
    dns.add("sel._domainkey." + SENDER_DOMAIN, "TXT", rec)
    # SPF fails: DMARC passes on the aligned DKIM signature alone
    publish(dns, spf="v=spf1 -all")
    mta = server()
    msg = sign(BODY, priv, "sel", alg)
    assert send(mta, msg)[0] == 250
    ar, _ = delivered_ar(mta)
    r = results(ar)
    assert r["spf"] == "fail" and r["dkim"] == ["pass"], ar
    assert r["dmarc"] == "pass", ar
    assert "header.d=sender.test header.s=sel" in ar
    assert "header.from=sender.test" in ar


def test_dkim_changed_body_fails(server, dns):
    priv, rec = rsa_keys()
    dns.add("sel._domainkey." + SENDER_DOMAIN, "TXT", rec)
    publish(dns, dmarc=None)
    mta = server()
    msg = sign(BODY, priv, "sel", "rsa-sha256").replace(b"Hello", b"Howdy")
    assert send(mta, msg)[0] == 250
    ar, _ = delivered_ar(mta)
    assert results(ar)["dkim"] == ["fail"], ar


def test_dmarc_reject_enforced_and_recorded(server, dns):
    publish(dns, spf="v=spf1 ip4:192.0.2.1 -all", dmarc="v=DMARC1; p=reject")
    mta = server()
    code, resp = send(mta, BODY)
    assert code == 550 and resp.startswith(b"5.7.1"), resp
    time.sleep(0.5)
    assert mta.messages(RCPT) == []
    rec = server(extra="dmarc_policy = record")
    assert send(rec, BODY)[0] == 250
    msgs = rec.wait_messages(RCPT, 1)
    ar = header_fields(msgs[0], "Authentication-Results")
    assert len(ar) == 1 and results(ar[0])["dmarc"] == "fail", ar
    assert "(p=reject dis=reject)" in ar[0]


def test_dmarc_quarantine_holds(server, dns):
    publish(dns, spf="v=spf1 -all", dmarc="v=DMARC1; p=quarantine")
    mta = server()
    code, resp = send(mta, BODY)
    assert code == 250, resp
    qid = resp.decode().split()[-1]
    end = time.time() + 10
    hold = os.path.join(mta.state, "spool", "hold")
    while time.time() < end and not (os.path.isdir(hold) and
                                     qid in os.listdir(hold)):
        time.sleep(0.05)
    assert qid in os.listdir(hold), mta.log()
    assert "event=quarantined" in mta.log()
    time.sleep(0.5)
    assert mta.messages(RCPT) == []
    p = subprocess.run([BIN, "queue", "-c", mta.conf, "show", qid],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    shown = p.stdout.decode()
    assert "Authentication-Results: mx.example.test;" in shown, shown
    assert shown.index("Authentication-Results:") < shown.index("Received:")
    p = subprocess.run([BIN, "queue", "-c", mta.conf, "release", qid],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    ar, _ = delivered_ar(mta)
    assert results(ar)["dmarc"] == "fail" and "dis=quarantine" in ar


def test_forged_authres_removed(server, dns):
    publish(dns, dmarc=None)
    mta = server()
    forged = (b"Authentication-Results: MX.example.test; spf=pass "
              b"smtp.mailfrom=sam@sender.test;\r\n\tdkim=pass\r\n"
              b"Authentication-Results: other.example; dkim=pass\r\n")
    assert send(mta, forged + BODY)[0] == 250
    msgs = mta.wait_messages(RCPT, 1)
    ars = header_fields(msgs[0], "Authentication-Results")
    assert len(ars) == 2, ars
    ours = [a for a in ars if a.lower().startswith(HOST)]
    assert len(ours) == 1 and results(ours[0])["dkim"] == ["none"], ars
    assert "other.example; dkim=pass" in ars
    assert b"Hello  Alice" in msgs[0]


def test_spf_policy_reject(server, dns):
    publish(dns, spf="v=spf1 ip4:192.0.2.1 -all", dmarc=None)
    mta = server(extra="spf_policy = reject")
    code, resp = send(mta, BODY)
    assert code == 550 and resp.startswith(b"5.7.23"), resp
    dns.set_rcode(SENDER_DOMAIN, "TXT", "SERVFAIL")
    code, resp = send(mta, BODY)
    assert code == 451 and resp.startswith(b"4.7.24"), resp


def dnsfunc_for(records):
    """A dkimpy dnsfunc answering from {name: TXT text}."""
    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        rec = records.get(name.rstrip("."))
        return rec.encode() if rec else None
    return dnsfunc


def write_key(tmp, name, pem):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(pem)
    os.chmod(path, 0o600)
    return path


def test_relay_client_mail_is_signed(mta_factory, dns, tmp_path):
    rsa_pem, rsa_rec = rsa_keys()
    conf = tmp_path / "keygen.conf"
    conf.write_text("state_dir = %s\n" % (tmp_path / "kstate"))
    ed = subprocess.run([BIN, "dkim", "-c", str(conf), "keygen",
                         "example.test", "-s", "ed", "-t", "ed25519"],
                        capture_output=True, timeout=30)
    assert ed.returncode == 0, ed.stderr
    rsa_path = write_key(str(tmp_path), "rsa.key", rsa_pem)
    ed_path = str(tmp_path / "kstate" / "dkim" / "example.test.ed.key")
    extra = ("[dkim example.test]\nselector = rsa\nkey = %s\n"
             "[dkim example.test]\nselector = ed\nkey = %s\n"
             % (rsa_path, ed_path))
    mta = mta_factory(extra=extra).start()
    msg = BODY.replace(b"sam@sender.test", b"bob@example.test")
    assert send(mta, msg, mail_from="bob@example.test")[0] == 250
    msgs = mta.wait_messages(RCPT, 1)
    raw = msgs[0].replace(b"\n", b"\r\n")
    sigs = header_fields(raw, "DKIM-Signature")
    assert len(sigs) == 2, sigs
    assert header_fields(raw, "Authentication-Results") == []
    ed_rec = ed.stdout.decode()
    records = {"rsa._domainkey.example.test": rsa_rec}
    strings = re.findall(r'"([^"]*)"', ed_rec)
    records["ed._domainkey.example.test"] = "".join(strings)
    dnsfunc = dnsfunc_for(records)
    # dkimpy checks the first signature; take each one to the top in turn
    start = raw.index(b"DKIM-Signature")
    assert dkim.verify(raw[start:], dnsfunc=dnsfunc)
    d = dkim.DKIM(raw[start:])
    assert d.verify(idx=1, dnsfunc=dnsfunc)
    assert {"a=rsa-sha256", "a=ed25519-sha256"} <= {
        m for s in sigs for m in re.findall(r"a=[\w-]+", s)}


def test_authenticated_submission_is_signed(mta_factory, tmp_path):
    """A client outside relay_networks that logs in over STARTTLS on the
    submission port gets its mail signed; it gets no SPF check and no
    Authentication-Results."""
    pem, rec = rsa_keys()
    extra = ("[dkim example.test]\nselector = sub\nkey = %s\n"
             % write_key(str(tmp_path), "sub.key", pem))
    mta = mta_factory(extra=extra, relay_networks=NOT_RELAY).start()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    msg = BODY.replace(b"sam@sender.test", b"bob@example.test")
    with smtplib.SMTP("127.0.0.1", mta.sub_port, timeout=60) as c:
        c.starttls(context=ctx)
        c.login("bob@example.test", "bob-pw")
        c.sendmail("bob@example.test", [RCPT], msg)
    raw = mta.wait_messages(RCPT, 1)[0].replace(b"\n", b"\r\n")
    sigs = header_fields(raw, "DKIM-Signature")
    assert len(sigs) == 1 and "s=sub" in sigs[0], sigs
    assert header_fields(raw, "Authentication-Results") == []
    assert b"with ESMTPSA" in raw
    start = raw.index(b"DKIM-Signature")
    assert dkim.verify(raw[start:], dnsfunc=dnsfunc_for(
        {"sub._domainkey.example.test": rec}))


def verify(dns, msg, args, conf):
    p = subprocess.run([BIN, "verify", "-c", conf, "--resolver",
                        dns.address] + args, input=msg, capture_output=True,
                       timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_verify_cli_matches_server(server, dns, tmp_path):
    priv, rec = ed25519_keys()
    dns.add("sel._domainkey." + SENDER_DOMAIN, "TXT", rec)
    publish(dns, dmarc="v=DMARC1; p=quarantine; pct=100")
    msg = sign(BODY, priv, "sel", "ed25519-sha256")
    mta = server(extra="dmarc_policy = record")
    assert send(mta, msg)[0] == 250
    served, _ = delivered_ar(mta)
    rc, out, err = verify(dns, msg.replace(b"\r\n", b"\n"),
                          ["--ip", "127.0.0.1", "--mail-from",
                           "sam@sender.test", "--helo", "client.sender.test"],
                          mta.conf)
    assert rc == 0, err
    assert out.startswith("Authentication-Results: %s;\n\t" % HOST), out
    ars = header_fields(out.encode() + b"\n", "Authentication-Results")
    assert ars == [served], (ars, served)
    r = results(served)
    assert r == {"spf": "pass", "dkim": ["pass"], "dmarc": "pass"}, served


def test_verify_cli_without_ip_and_bad_args(dns, tmp_path):
    conf = tmp_path / "v.conf"
    conf.write_text("hostname = verify.example\n")
    rc, out, err = verify(dns, BODY.replace(b"Hello", b"Hi"), [], str(conf))
    assert rc == 0, err
    assert out == ("Authentication-Results: verify.example;\n\tdkim=none;\n"
                   "\tdmarc=none header.from=sender.test\n"), out
    rc, out, err = verify(dns, BODY, ["--ip", "not-an-ip"], str(conf))
    assert rc == 2 and "not an IP address" in err
    rc, out, err = verify(dns, BODY, ["stray"], str(conf))
    assert rc == 2 and "usage" in err


def parse_zone(text):
    """[(name, type, value)] from zone-file text: TXT strings joined."""
    out = []
    text = re.sub(r"\(\s*(.*?)\s*\)", lambda m: m.group(1).replace("\n", " "),
                  text, flags=re.S)
    for line in text.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        name, _in, rtype, rest = line.split(None, 3)
        assert _in == "IN", line
        if rtype == "TXT":
            strings = re.findall(r'"((?:[^"\\]|\\.)*)"', rest)
            assert all(len(s) <= 255 for s in strings), line
            rest = "".join(strings)
        out.append((name.rstrip("."), rtype, rest))
    return out


def dns_conf(mta_factory, tmp_path):
    rsa_pem, _ = rsa_keys()
    path = write_key(str(tmp_path), "dns-rsa.key", rsa_pem)
    return mta_factory(extra="[dkim example.test]\nselector = s1\n"
                             "key = %s\n" % path), path


def test_dns_prints_records(mta_factory, dns, tmp_path):
    mta, keyfile = dns_conf(mta_factory, tmp_path)
    p = subprocess.run([BIN, "dns", "-c", mta.conf], capture_output=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    recs = parse_zone(out)
    assert ("example.test", "MX", "10 mx.example.test.") in recs
    assert ("example.test", "TXT", "v=spf1 mx -all") in recs
    assert ("example.org", "TXT", "v=spf1 mx -all") in recs
    assert ("_dmarc.example.org", "TXT",
            "v=DMARC1; p=none; rua=mailto:postmaster@example.org") in recs
    assert "tighten it to p=quarantine" in out
    dk = [r for r in recs if r[0] == "s1._domainkey.example.test"]
    assert len(dk) == 1 and dk[0][2].startswith("v=DKIM1; k=rsa; p=MII")
    # the record is the public half of the configured key
    msg = subprocess.run([BIN, "dkim", "sign", "-d", "example.test", "-s",
                          "s1", "-k", keyfile], input=BODY,
                         capture_output=True, timeout=30).stdout
    assert dkim.verify(msg, dnsfunc=lambda n, timeout=5: dk[0][2].encode())
    assert "no [dkim example.org] section" in out
    p = subprocess.run([BIN, "dns", "-c", mta.conf, "example.org"],
                       capture_output=True, timeout=30)
    assert p.returncode == 0
    assert {r[0] for r in parse_zone(p.stdout.decode())} == {
        "example.org", "_dmarc.example.org", "_mta-sts.example.org",
        "_smtp._tls.example.org"}
    p = subprocess.run([BIN, "dns", "-c", mta.conf, "bad..name"],
                       capture_output=True, timeout=30)
    assert p.returncode == 2 and b"not a domain name" in p.stderr


def test_check_dns(mta_factory, dns, tmp_path):
    mta, _ = dns_conf(mta_factory, tmp_path)
    out = subprocess.run([BIN, "dns", "-c", mta.conf], capture_output=True,
                         timeout=30).stdout.decode()
    for name, rtype, value in parse_zone(out):
        # no MTA-STS here: its policy would have to be served over HTTPS
        # (test_mtasts.py checks that part)
        if not name.startswith("_mta-sts."):
            dns.add(name, rtype, value)

    def check():
        p = subprocess.run([BIN, "check", "-c", mta.conf, "--dns"],
                           capture_output=True, timeout=60)
        return p.returncode, p.stdout.decode()
    rc, text = check()
    assert rc == 0, text
    assert "example.test: DKIM s1: ok" in text
    assert "example.org: DMARC: ok: p=none" in text
    assert "example.org: TLS-RPT: ok: 1 report address: " \
        "mailto:postmaster@example.org" in text
    assert "WRONG" not in text

    dns.remove("_dmarc.example.org")
    dns.remove("s1._domainkey.example.test")
    dns.add("s1._domainkey.example.test", "TXT", rsa_keys()[1])
    dns.add("example.org", "TXT", "v=spf1 mx foo:bar -all")
    dns.remove("_smtp._tls.example.test")
    dns.add("_smtp._tls.example.test", "TXT", "v=TLSRPTv1; rua=ftp://x")
    dns.remove("_smtp._tls.example.org")
    rc, text = check()
    assert rc == 1, text
    assert "example.org: DMARC: WRONG: no DMARC record at " \
        "_dmarc.example.org" in text
    assert "example.test: DKIM s1: WRONG: the key at " \
        "s1._domainkey.example.test is not the one in" in text
    assert "example.org: SPF: WRONG:" in text
    assert "example.test: MX: ok" in text
    assert "example.test: TLS-RPT: WRONG: the record \"v=TLSRPTv1; " \
        "rua=ftp://x\" does not parse: no mailto: or https: report URI" \
        in text
    assert "example.org: TLS-RPT: ok: none at _smtp._tls.example.org " \
        "(optional)" in text


def test_dmarc_pct_zero_downgrades_reject_to_quarantine(server, dns):
    # RFC 7489 6.6.4: a failure not sampled by pct= gets the next milder
    # policy, so p=reject with pct=0 is never a rejection
    publish(dns, spf="v=spf1 -all", dmarc="v=DMARC1; p=reject; pct=0")
    mta = server()
    code, resp = send(mta, BODY)
    assert code == 250, resp
    end = time.time() + 10
    while time.time() < end and "event=quarantined" not in mta.log():
        time.sleep(0.05)
    assert "event=quarantined" in mta.log()
    assert "dmarc=fail action=quarantine" in mta.log()


def test_bdat_message_is_checked(server, dns):
    priv, rec = rsa_keys()
    dns.add("sel._domainkey." + SENDER_DOMAIN, "TXT", rec)
    publish(dns, spf="v=spf1 -all", dmarc="v=DMARC1; p=reject")
    mta = server()
    msg = sign(BODY, priv, "sel", "rsa-sha256")
    bad = msg.replace(b"Hello", b"Howdy")
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=60) as c:
        c.ehlo("client.sender.test")
        for body, want in ((bad, 550), (msg, 250)):
            assert c.mail("sam@sender.test")[0] == 250
            assert c.rcpt(RCPT)[0] == 250
            half = len(body) // 2
            c.send(b"BDAT %d\r\n" % half + body[:half])
            assert c.getreply()[0] == 250
            c.send(b"BDAT %d LAST\r\n" % (len(body) - half) + body[half:])
            assert c.getreply()[0] == want
    ar, _ = delivered_ar(mta)
    assert results(ar) == {"spf": "fail", "dkim": ["pass"],
                           "dmarc": "pass"}, ar


def test_opendkim_signature_through_server(server, dns, tmp_path):
    """opendkim-testmsg signs only with rsa-sha1 (RFC 8301 forbids it), so
    its signature must come out as dkim=policy, and DMARC then fails."""
    if not shutil.which("opendkim-testmsg", path="/usr/sbin:/usr/bin"):
        pytest.skip("opendkim-tools is not installed")
    pem, rec = rsa_keys()
    keyfile = write_key(str(tmp_path), "od.key", pem)
    dns.add("od._domainkey." + SENDER_DOMAIN, "TXT", rec)
    publish(dns, spf="v=spf1 -all", dmarc="v=DMARC1; p=none")
    p = subprocess.run(["/usr/sbin/opendkim-testmsg", "-C", "-d",
                        SENDER_DOMAIN, "-s", "od", "-k", keyfile, "-t",
                        str(tmp_path)], input=BODY, capture_output=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    mta = server()
    assert send(mta, p.stdout)[0] == 250
    ar, _ = delivered_ar(mta)
    assert results(ar) == {"spf": "fail", "dkim": ["policy"],
                           "dmarc": "fail"}, ar


def test_check_loads_dkim_keys(mta_factory, tmp_path):
    bad = tmp_path / "not-a-key.pem"
    bad.write_text("hello\n")
    mta = mta_factory(extra="[dkim example.test]\nselector = a\nkey = %s\n"
                            "[dkim example.test]\nselector = b\nkey = %s\n"
                      % (bad, tmp_path / "missing.pem"))
    p = subprocess.run([BIN, "check", "-c", mta.conf], capture_output=True,
                       timeout=30)
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert "[dkim example.test] selector a: key:" in err
    assert "[dkim example.test] selector b: key: cannot read" in err


def test_reload_reads_new_dkim_keys(mta_factory, tmp_path):
    pem1, rec1 = rsa_keys()
    k1 = write_key(str(tmp_path), "k1.key", pem1)
    conf = tmp_path / "k.conf"
    conf.write_text("state_dir = %s\n" % (tmp_path / "ks"))
    p = subprocess.run([BIN, "dkim", "-c", str(conf), "keygen",
                        "example.test", "-s", "k2", "-t", "ed25519"],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    rec2 = "".join(re.findall(r'"([^"]*)"', p.stdout.decode()))
    k2 = str(tmp_path / "ks" / "dkim" / "example.test.k2.key")
    mta = mta_factory(extra="[dkim example.test]\nselector = k1\n"
                            "key = %s\n" % k1).start()
    records = {"k1._domainkey.example.test": rec1,
               "k2._domainkey.example.test": rec2}
    dnsfunc = dnsfunc_for(records)
    msg = BODY.replace(b"sam@sender.test", b"bob@example.test")

    def signed_copy(n):
        assert send(mta, msg, mail_from="bob@example.test")[0] == 250
        raw = mta.wait_messages(RCPT, n)[-1].replace(b"\n", b"\r\n")
        return raw[raw.index(b"DKIM-Signature"):]
    raw = signed_copy(1)
    assert len(header_fields(raw, "DKIM-Signature")) == 1
    assert dkim.verify(raw, dnsfunc=dnsfunc)
    # a key readable by all, added at reload (a root-only one is
    # test_reload_adds_root_only_dkim_key's)
    k2_shared = os.path.join(mta.base, "k2.key")     # mta.base is 0755
    shutil.copy(k2, k2_shared)
    os.chmod(k2_shared, 0o644)
    with open(mta.conf, "a") as f:
        f.write("[dkim example.test]\nselector = k2\nkey = %s\n"
                % k2_shared)
    mta.proc.send_signal(signal.SIGHUP)
    end = time.time() + 15
    while time.time() < end and "event=reload result=ok" not in mta.log():
        time.sleep(0.05)
    assert "event=reload result=ok" in mta.log()
    time.sleep(0.5)        # smtpd applies it on its own loop
    raw = signed_copy(2)
    sigs = header_fields(raw, "DKIM-Signature")
    assert len(sigs) == 2, mta.log()
    d = dkim.DKIM(raw)
    assert d.verify(idx=0, dnsfunc=dnsfunc) and \
        d.verify(idx=1, dnsfunc=dnsfunc)


# ---- several authors (issue: a second author bypassed p=reject) ----
#
# RFC 7489 6.6.1: a From field with several mailboxes is checked against
# each author domain and the strictest failing policy applies; postbote
# does the same for several From fields (RFC 5322 3.6 forbids them, so
# their handling is ours to choose).  sender.test publishes p=reject and
# does not authorize the client; bad.test is the second author: either it
# publishes nothing, or it is the attacker's own domain, authorized for
# the client's address (SPF pass, aligned: its DMARC passes).

SAM = b"Sam <sam@sender.test>"
BAD = b"Bad <spoof@bad.test>"
AUTHORS = {
    "one-field-spoof-first": b"From: " + BAD + b", " + SAM + b"\r\n",
    "one-field-spoof-last": b"From: " + SAM + b", " + BAD + b"\r\n",
    "two-fields-spoof-first": (b"From: " + BAD + b"\r\nFrom: " + SAM +
                               b"\r\n"),
    "two-fields-spoof-last": (b"From: " + SAM + b"\r\nFrom: " + BAD +
                              b"\r\n"),
    "group-and-mailbox": (b"From: friends: " + BAD + b";, " + SAM +
                          b"\r\n"),
}


def with_from(fields):
    return BODY.replace(b"From: Sam <sam@sender.test>\r\n", fields)


def publish_authors(dns, bad_kind):
    publish(dns, spf="v=spf1 ip4:192.0.2.1 -all", dmarc="v=DMARC1; p=reject")
    if bad_kind == "own":
        publish(dns, spf="v=spf1 ip4:127.0.0.1 -all",
                dmarc="v=DMARC1; p=reject", domain="bad.test")
    return "spoof@bad.test" if bad_kind == "own" else "sam@sender.test"


def dmarc_entries(ar):
    """[(result, header.from)] of every dmarc= result in one A-R."""
    out = []
    for p in ar.split(";")[1:]:
        p = p.strip()
        if p.startswith("dmarc="):
            m = re.search(r"header\.from=(\S+)", p)
            out.append((p.split()[0][6:], m.group(1) if m else None))
    return out


@pytest.mark.parametrize("layout", sorted(AUTHORS))
@pytest.mark.parametrize("bad_kind", ["unpublished", "own"])
def test_dmarc_second_author_refused(server, dns, layout, bad_kind):
    mail_from = publish_authors(dns, bad_kind)
    mta = server()
    # the single author is refused (the control)...
    code, resp = send(mta, BODY, mail_from=mail_from)
    assert code == 550 and resp.startswith(b"5.7.1"), resp
    # ...and a second author in front of it, behind it or in a field of
    # its own does not get it through
    code, resp = send(mta, with_from(AUTHORS[layout]), mail_from=mail_from)
    assert code == 550 and resp.startswith(b"5.7.1"), (code, resp)
    assert "dmarc=fail action=reject" in mta.log()
    time.sleep(0.5)
    assert mta.messages(RCPT) == []


@pytest.mark.parametrize("layout", sorted(AUTHORS))
def test_dmarc_second_author_recorded_truthfully(server, dns, layout):
    mail_from = publish_authors(dns, "own")
    mta = server(extra="dmarc_policy = record")
    assert send(mta, with_from(AUTHORS[layout]), mail_from=mail_from)[0] \
        == 250
    ar, _ = delivered_ar(mta)
    got = sorted(dmarc_entries(ar))
    # one result per author domain, each for what it is
    assert got == [("fail", "sender.test"), ("pass", "bad.test")], ar
    assert "dmarc=fail (p=reject dis=reject) header.from=sender.test" in ar
    assert "dmarc=pass (p=reject dis=none) header.from=bad.test" in ar
    assert "dmarc=fail action=accept" in mta.log()


def test_dmarc_several_authors_all_passing_accepted(server, dns):
    # each author domain passes on its own identifier (bad.test by SPF,
    # sender.test by its DKIM signature): nothing to refuse
    priv, rec = rsa_keys()
    dns.add("sel._domainkey." + SENDER_DOMAIN, "TXT", rec)
    mail_from = publish_authors(dns, "own")
    mta = server()
    msg = sign(with_from(AUTHORS["one-field-spoof-first"]), priv, "sel",
               "rsa-sha256")
    code, resp = send(mta, msg, mail_from=mail_from)
    assert code == 250, resp
    ar, _ = delivered_ar(mta)
    assert sorted(dmarc_entries(ar)) == [("pass", "bad.test"),
                                         ("pass", "sender.test")], ar
    # several mailboxes of one domain are one author domain
    same = with_from(b"From: a@sender.test, " + SAM + b"\r\n")
    code, resp = send(mta, sign(same, priv, "sel", "rsa-sha256"),
                      mail_from=mail_from)
    assert code == 250, resp
    ar, _ = delivered_ar(mta, 2)
    assert dmarc_entries(ar) == [("pass", "sender.test")], ar


def test_dmarc_too_many_authors_refused(server, dns):
    mail_from = publish_authors(dns, "own")
    many = b", ".join(b"u@d%d.test" % i for i in range(8))
    msg = with_from(b"From: " + BAD + b", " + many + b"\r\n")
    mta = server()
    code, resp = send(mta, msg, mail_from=mail_from)
    assert code == 550 and resp.startswith(b"5.7.1"), (code, resp)
    rec = server(extra="dmarc_policy = record")
    assert send(rec, msg, mail_from=mail_from)[0] == 250
    ar = header_fields(rec.wait_messages(RCPT, 1)[0],
                       "Authentication-Results")
    assert len(ar) == 1 and dmarc_entries(ar[0]) == [("permerror", None)], ar
    assert 'reason="more than 8 From domains"' in ar[0]


def test_spf_cli_null_sender(dns):
    # `postbote spf IP '<>' HELO`: the null sender, so the HELO identity
    # is checked (RFC 7208 2.4)
    dns.add("helo.sender.test", "TXT", "v=spf1 ip4:192.0.2.9 -all")
    for sender in ("<>", ""):
        p = subprocess.run([BIN, "spf", "--resolver", dns.address,
                            "192.0.2.9", sender, "helo.sender.test"],
                           capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert p.stdout.decode().split("\n")[0] == "pass", (sender, p.stdout)
    p = subprocess.run([BIN, "spf", "--resolver", dns.address, "192.0.2.10",
                        "<>", "helo.sender.test"], capture_output=True,
                       timeout=30)
    assert p.stdout.decode().split("\n")[0] == "fail", p.stdout


def wait_count(mta, needle, count, timeout=20):
    end = time.time() + timeout
    while time.time() < end and mta.log().count(needle) < count:
        time.sleep(0.05)
    return mta.log().count(needle) >= count


def reload_and_wait(mta, result):
    """SIGHUP; wait for the parent's `event=reload result=RESULT` and, when
    it is ok, for smtpd and queue to have applied it."""
    ok = mta.log().count("event=reload result=ok")
    applied = mta.log().count("event=reloaded")
    mta.proc.send_signal(signal.SIGHUP)
    assert wait_count(mta, "event=reload result=%s" % result, 1), mta.log()
    if result == "ok":
        assert wait_count(mta, "event=reloaded", applied + 4), mta.log()
    else:
        time.sleep(0.5)
        assert mta.log().count("event=reload result=ok") == ok, mta.log()


def test_reload_adds_root_only_dkim_key(mta_factory, tmp_path):
    """Issue 10, item 12: a [dkim] section added at reload whose key only
    root can read (0600, in a folder `user` cannot enter, as `dkim keygen`
    run as root writes it) signs the next message, relayed by smtpd and
    submitted locally through queue: the parent reads the key, as root."""
    pem, rec = rsa_keys()
    key = write_key(str(tmp_path), "root-only.key", pem)
    assert os.stat(key).st_mode & 0o777 == 0o600
    assert os.stat(str(tmp_path)).st_mode & 0o007 == 0
    mta = mta_factory().start()
    with open(mta.conf, "a") as f:
        f.write("[dkim example.test]\nselector = ro\nkey = %s\n" % key)
    reload_and_wait(mta, "ok")
    dnsfunc = dnsfunc_for({"ro._domainkey.example.test": rec})
    msg = BODY.replace(b"sam@sender.test", b"bob@example.test")
    assert send(mta, msg, mail_from="bob@example.test")[0] == 250
    raw = mta.wait_messages(RCPT, 1)[0].replace(b"\n", b"\r\n")
    sigs = header_fields(raw, "DKIM-Signature")
    assert len(sigs) == 1 and "s=ro" in sigs[0], mta.log()
    assert dkim.verify(raw[raw.index(b"DKIM-Signature"):], dnsfunc=dnsfunc)
    p = subprocess.run([BIN, "send", "-c", mta.conf, "-f", "bob@example.test",
                        RCPT], input=msg.replace(b"\r\n", b"\n"),
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    raw = mta.wait_messages(RCPT, 2)[-1].replace(b"\n", b"\r\n")
    assert len(header_fields(raw, "DKIM-Signature")) == 1, mta.log()
    assert dkim.verify(raw[raw.index(b"DKIM-Signature"):], dnsfunc=dnsfunc)
    assert "result=failed" not in mta.log()


def test_reload_with_broken_dkim_key_fails_and_old_key_signs(mta_factory,
                                                             tmp_path):
    """A reload whose [dkim] key is broken fails loudly, with the file and
    the reason, and keeps the old config and keys: the old key signs."""
    pem, rec = rsa_keys()
    k1 = write_key(str(tmp_path), "k1.key", pem)
    broken = write_key(str(tmp_path), "broken.key",
                       b"-----BEGIN PRIVATE KEY-----\nAAAA\n"
                       b"-----END PRIVATE KEY-----\n")
    mta = mta_factory(extra="[dkim example.test]\nselector = k1\n"
                            "key = %s\n" % k1).start()
    with open(mta.conf) as f:
        text = f.read()
    with open(mta.conf, "w") as f:
        f.write("max_recipients = 1\n" + text +
                "[dkim example.test]\nselector = k2\nkey = %s\n" % broken)
    reload_and_wait(mta, "failed")
    line = [ln for ln in mta.log().splitlines()
            if "event=reload result=failed" in ln][0]
    assert "[dkim example.test] selector k2: key: %s: " % broken in line, line
    msg = BODY.replace(b"sam@sender.test", b"bob@example.test")
    # the old config holds: two recipients are still taken
    with smtplib.SMTP("127.0.0.1", mta.port, timeout=60) as c:
        c.ehlo("client.sender.test")
        assert c.mail("bob@example.test")[0] == 250
        assert c.rcpt(RCPT)[0] == 250
        assert c.rcpt("bob@example.test")[0] == 250
        assert c.data(msg)[0] == 250
    raw = mta.wait_messages(RCPT, 1)[0].replace(b"\n", b"\r\n")
    sigs = header_fields(raw, "DKIM-Signature")
    assert len(sigs) == 1 and "s=k1" in sigs[0], mta.log()
    assert dkim.verify(raw[raw.index(b"DKIM-Signature"):],
                       dnsfunc=dnsfunc_for({"k1._domainkey.example.test":
                                            rec}))
    # the same key broken in place: the next reload fails too
    with open(k1, "wb") as f:
        f.write(b"garbage\n")
    reload_and_wait(mta, "failed")
    assert mta.log().count("event=reload result=failed") == 2


def test_serve_and_check_refuse_a_broken_dkim_key(mta_factory, tmp_path):
    """serve and check apply the same rule as a reload: a key that cannot
    be read or parsed is refused with its file and the reason."""
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n"
                   "-----END PRIVATE KEY-----\n")
    missing = tmp_path / "missing.pem"
    mta = mta_factory(extra="[dkim example.test]\nselector = a\nkey = %s\n"
                            "[dkim example.test]\nselector = b\nkey = %s\n"
                      % (bad, missing))
    for verb in ("check", "serve"):
        p = subprocess.run([BIN, verb, "-c", mta.conf], capture_output=True,
                           timeout=30)
        err = p.stderr.decode()
        assert p.returncode == 2, (verb, err)
        assert "[dkim example.test] selector a: key: %s: " % bad in err, err
        assert ("[dkim example.test] selector b: key: cannot read %s: "
                "No such file or directory" % missing) in err, err


# ---- a From field that cannot be read is no way around p=reject ----

UNREADABLE = {
    # the author a mail reader may still show, next to a broken mailbox
    "broken-mailbox": b"From: <<x>, Sam <sam@sender.test>\r\n",
    # a header line without a colon: the header block does not parse
    "no-colon-line": b"From: Sam <sam@sender.test>\r\nJunk line\r\n",
    # a mailbox without a domain
    "no-domain": b"From: sam\r\n",
}


@pytest.mark.parametrize("layout", sorted(UNREADABLE))
def test_dmarc_unreadable_from_refused(server, dns, layout):
    publish(dns, spf="v=spf1 ip4:192.0.2.1 -all", dmarc="v=DMARC1; p=reject")
    mta = server()
    msg = BODY.replace(b"From: Sam <sam@sender.test>\r\n",
                       UNREADABLE[layout])
    code, resp = send(mta, msg)
    assert code == 550 and resp.startswith(b"5.7.1"), (code, resp)
    assert b"no readable author domain" in resp
    assert "dmarc=permerror action=reject" in mta.log()
    time.sleep(0.5)
    assert mta.messages(RCPT) == []


def test_dmarc_unreadable_from_recorded(server, dns):
    publish(dns, spf="v=spf1 ip4:192.0.2.1 -all", dmarc="v=DMARC1; p=reject")
    mta = server(extra="dmarc_policy = record")
    msg = BODY.replace(b"From: Sam <sam@sender.test>\r\n",
                       UNREADABLE["broken-mailbox"])
    assert send(mta, msg)[0] == 250
    ar, _ = delivered_ar(mta)
    assert results(ar)["dmarc"] == "permerror", ar


def test_dmarc_without_from_field_accepted(server, dns):
    """No From field: no author to impersonate (dmarc=none), accepted."""
    publish(dns, spf="v=spf1 ip4:192.0.2.1 -all", dmarc="v=DMARC1; p=reject")
    mta = server()
    msg = BODY.replace(b"From: Sam <sam@sender.test>\r\n", b"")
    assert send(mta, msg)[0] == 250
    ar, _ = delivered_ar(mta)
    assert results(ar)["dmarc"] == "none", ar
