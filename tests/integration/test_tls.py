"""TLS on the SMTP server: STARTTLS (RFC 3207) on mx and submission,
implicit TLS (RFC 8314) on submissions, certificates (self-signed, files,
SNI, reload), the STARTTLS injection case (CVE-2011-0411), refused old
protocols, broken handshakes, and the trace header.  Real clients: Python
smtplib/ssl, swaks, curl and openssl s_client."""

import os
import re
import shutil
import signal
import socket
import ssl
import smtplib
import stat
import subprocess
import time

import pytest

from smtpclient import RawSMTP

ALICE = "alice@example.test"


def need(binary):
    path = shutil.which(binary)
    if path is None:
        pytest.skip("%s is not installed" % binary)
    return path


def run(argv, timeout=60, input=None):
    return subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout)


def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def client_hello():
    """The bytes of a real TLS ClientHello (Python's ssl)."""
    inc, outc = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(inc, outc)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outc.read()
    assert hello[:1] == b"\x16"          # a handshake record
    return hello


def make_cert(directory, name, tag):
    """A self-signed P-256 certificate for name: (cert path, key path)."""
    cert = os.path.join(directory, "%s.crt" % tag)
    key = os.path.join(directory, "%s.key" % tag)
    p = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
             cert, "-days", "2", "-subj", "/CN=%s" % name, "-addext",
             "subjectAltName=DNS:%s" % name])
    assert p.returncode == 0, p.stdout
    return cert, key


def der(cert_path):
    with open(cert_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def with_submissions(m):
    """Add an implicit-TLS listener on m.subs_port to m's config."""
    with open(m.conf, "a") as f:
        f.write("[listen submissions]\naddress = 127.0.0.1:%d\n"
                "mode = submissions\n" % m.subs_port)
    return m


def wait_log(m, needle, count=1, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if m.log().count(needle) >= count:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def tmta(mta_factory):
    return with_submissions(mta_factory()).start()


def starttls_raw(port, server_hostname=None):
    """A raw session upgraded by STARTTLS: (RawSMTP, TLS socket)."""
    c = RawSMTP(port)
    c.ehlo()
    c.expect("STARTTLS", 220, "2.0.0")
    c.sock = client_ctx().wrap_socket(c.sock,
                                      server_hostname=server_hostname)
    return c


# ---- STARTTLS with Python smtplib ----

def test_starttls_smtplib_delivers_with_esmtps(tmta):
    with smtplib.SMTP("127.0.0.1", tmta.port, timeout=20) as c:
        code, text = c.ehlo("client.test")
        assert code == 250 and b"STARTTLS" in text.split(b"\n")
        code, text = c.starttls(context=client_ctx())
        assert (code, text) == (220, b"2.0.0 Ready to start TLS")
        version, cipher = c.sock.version(), c.sock.cipher()[0]
        code, text = c.ehlo("client.test")
        assert code == 250 and b"STARTTLS" not in text
        c.sendmail("sender@client.test", [ALICE],
                   b"Subject: tls\r\n\r\nover TLS\r\n")
    assert version in ("TLSv1.2", "TLSv1.3")
    msg = tmta.wait_messages(ALICE, 1)[0]
    assert re.search(rb"with ESMTPS id ", msg), msg
    assert ("(version=%s cipher=%s)" % (version, cipher)).encode() in msg, msg
    assert re.search(r"event=tls client=\[127\.0\.0\.1\]:\d+ tls=%s "
                     r"cipher=%s" % (re.escape(version), re.escape(cipher)),
                     tmta.log())
    assert re.search(r"[0-9A-F]{16}: session=\S+ client=\S+ "
                     r"helo=\"client\.test\" size=\d+ nrcpt=1 tls=%s\n"
                     % re.escape(version), tmta.log())


def test_plain_received_is_esmtp_without_tls_comment(tmta):
    with smtplib.SMTP("127.0.0.1", tmta.port, timeout=20) as c:
        c.sendmail("sender@client.test", [ALICE], b"Subject: x\r\n\r\nx\r\n")
    msg = tmta.wait_messages(ALICE, 1)[0]
    assert re.search(rb"with ESMTP id ", msg) and b"version=" not in msg


def test_starttls_on_submission_listener(tmta):
    with smtplib.SMTP("127.0.0.1", tmta.sub_port, timeout=20) as c:
        assert c.has_extn("starttls") or c.ehlo()[0] == 250
        assert c.has_extn("starttls")
        assert c.starttls(context=client_ctx())[0] == 220
        c.ehlo("client.test")
        assert not c.has_extn("starttls")


def test_smtp_ssl_implicit_tls(tmta):
    with smtplib.SMTP_SSL("127.0.0.1", tmta.subs_port, timeout=20,
                          context=client_ctx()) as c:
        code, text = c.ehlo("client.test")
        assert code == 250 and b"STARTTLS" not in text
        assert c.docmd("STARTTLS") == (503, b"5.5.1 Error: TLS already "
                                       b"active")
        assert c.noop()[0] == 250
    assert wait_log(tmta, "listener=submissions")


# ---- sequencing (RFC 3207) ----

def test_starttls_twice_is_503(tmta):
    c = starttls_raw(tmta.port)
    c.ehlo()
    c.expect("STARTTLS", 503, "5.5.1")
    c.expect("QUIT", 221)
    c.close()


def test_starttls_with_argument_is_501(tmta):
    with RawSMTP(tmta.port) as c:
        c.ehlo()
        c.expect("STARTTLS now", 501, "5.5.4")
        c.expect("NOOP", 250)


def test_starttls_inside_transaction_is_503(tmta):
    with RawSMTP(tmta.port) as c:
        c.ehlo()
        c.expect("MAIL FROM:<a@client.test>", 250)
        c.expect("STARTTLS", 503, "5.5.1")


def test_session_starts_over_after_tls(tmta):
    c = starttls_raw(tmta.port)
    # RFC 3207 4.2: the EHLO before TLS is forgotten
    c.expect("MAIL FROM:<a@client.test>", 503, "5.5.1")
    r = c.ehlo()
    assert "STARTTLS" not in r.texts
    c.expect("MAIL FROM:<a@client.test>", 250)
    c.expect("QUIT", 221)
    c.close()


def test_starttls_injection_is_never_executed(tmta):
    """CVE-2011-0411: RSET pipelined behind STARTTLS in the same write."""
    with RawSMTP(tmta.port) as c:
        c.ehlo()
        c.send(b"STARTTLS\r\nRSET\r\n")
        r = c.reply()
        assert r.code == 554 and r.enhanced == "5.5.0", r
        rest = c.rest(timeout=10)
        assert rest == b"", rest     # no 220, no 250 for RSET
        assert c.eof
    assert wait_log(tmta, "input pipelined after STARTTLS")


def test_starttls_injection_with_mail_command(tmta):
    with RawSMTP(tmta.port) as c:
        c.ehlo()
        c.send(b"STARTTLS\r\nMAIL FROM:<evil@client.test>\r\n")
        assert c.reply().code == 554
        assert c.is_closed(10)


# ---- other clients ----

def test_swaks_tls(tmta):
    p = run([need("swaks"), "--server", "127.0.0.1:%d" % tmta.port,
             "--helo", "swaks.client.test", "--tls", "--to", ALICE,
             "--from", "sender@client.test", "--timeout", "20"])
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out
    assert "STARTTLS" in out and "TLS started" in out, out
    msg = tmta.wait_messages(ALICE, 1)[0]
    assert b"with ESMTPS id" in msg


def test_swaks_tlsc(tmta):
    p = run([need("swaks"), "--server", "127.0.0.1:%d" % tmta.subs_port,
             "--helo", "swaks.client.test", "--tlsc", "--quit-after", "EHLO",
             "--timeout", "20"])
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out
    assert "TLS started" in out and "220 mx.example.test ESMTP" in out, out


def test_curl_ssl_reqd(tmta, tmp_path):
    f = tmp_path / "m.eml"
    f.write_bytes(b"Subject: via curl tls\r\n\r\nhello\r\n")
    p = run([need("curl"), "-sS", "--max-time", "30", "--ssl-reqd", "-k",
             "smtp://127.0.0.1:%d/curl.client.test" % tmta.port,
             "--mail-from", "sender@client.test", "--mail-rcpt", ALICE,
             "-T", str(f)])
    assert p.returncode == 0, p.stdout
    msg = tmta.wait_messages(ALICE, 1)[0]
    assert b"Subject: via curl tls" in msg and b"with ESMTPS id" in msg


def test_curl_smtps(tmta):
    p = run([need("curl"), "-sS", "--max-time", "30", "-k", "-v",
             "smtps://127.0.0.1:%d/curl.client.test" % tmta.subs_port,
             "-X", "NOOP"])
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out
    assert "SSL connection using TLSv1.3" in out or \
        "SSL connection using TLSv1.2" in out, out
    assert "< 250 2.0.0 Ok" in out, out


def test_openssl_s_client_starttls(tmta):
    p = run([need("openssl"), "s_client", "-connect",
             "127.0.0.1:%d" % tmta.port, "-starttls", "smtp", "-crlf",
             "-brief", "-ign_eof"], input=b"EHLO c.test\nQUIT\n")
    out = p.stdout.decode(errors="replace")
    assert "Protocol version: TLSv1.3" in out, out
    assert "221 2.0.0 Bye" in out, out


@pytest.mark.parametrize("flag", ["-tls1_1", "-tls1"])
def test_old_protocols_refused(tmta, flag):
    # The client is told to allow them, so the refusal is the server's.
    p = run([need("openssl"), "s_client", "-connect",
             "127.0.0.1:%d" % tmta.port, "-starttls", "smtp", flag,
             "-cipher", "DEFAULT@SECLEVEL=0", "-brief"], input=b"")
    out = p.stdout.decode(errors="replace")
    assert p.returncode != 0, out
    assert "Protocol version" not in out, out
    assert wait_log(tmta, "unsupported protocol"), tmta.log()
    # and the server is still there
    with smtplib.SMTP("127.0.0.1", tmta.port, timeout=20) as c:
        assert c.noop()[0] == 250


def test_tls12_is_accepted_with_aead_forward_secret_cipher(tmta):
    ctx = client_ctx()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with smtplib.SMTP("127.0.0.1", tmta.port, timeout=20) as c:
        c.starttls(context=ctx)
        name, version, _ = c.sock.cipher()
    assert version == "TLSv1.2"
    assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA" in name)


def test_tls12_cbc_and_static_rsa_refused(tmta):
    ctx = client_ctx()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("AES128-SHA:AES256-SHA256:ECDHE-ECDSA-AES128-SHA")
    with smtplib.SMTP("127.0.0.1", tmta.port, timeout=20) as c:
        with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected,
                            ConnectionError)):
            c.starttls(context=ctx)


# ---- broken clients never hurt the server ----

def test_garbage_handshake_leaves_server_up(tmta):
    for port in (tmta.subs_port,):
        s = socket.create_connection(("127.0.0.1", port), 10)
        s.sendall(b"\x16\x03\x01\x00\x05hello" + os.urandom(300))
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except (ConnectionError, socket.timeout):
            pass
        s.close()
    c = starttls_raw(tmta.port)
    c.send(b"\x17\x03\x03\x00\x20" + os.urandom(32))   # junk after TLS
    c.close()
    assert wait_log(tmta, "event=tls-error", 1)
    with smtplib.SMTP_SSL("127.0.0.1", tmta.subs_port, timeout=20,
                          context=client_ctx()) as c:
        assert c.noop()[0] == 250
    assert tmta.proc.poll() is None


def test_client_drops_mid_handshake(tmta):
    hello = client_hello()      # a real one, cut short below
    for cut in (5, len(hello) // 2, len(hello)):
        s = socket.create_connection(("127.0.0.1", tmta.subs_port), 10)
        s.sendall(hello[:cut])
        s.close()
    with RawSMTP(tmta.port) as c:
        c.ehlo()
        c.expect("STARTTLS", 220)
        c.send(hello[:len(hello) // 2])
    with smtplib.SMTP_SSL("127.0.0.1", tmta.subs_port, timeout=20,
                          context=client_ctx()) as c:
        assert c.noop()[0] == 250
    assert tmta.proc.poll() is None
    assert "smtpd" in tmta.child_pids()
    assert tmta.log().count("event=spawn process=smtpd") == 1


def test_handshake_timeout(mta_factory):
    m = with_submissions(mta_factory(extra="command_timeout = 2s")).start()
    s = socket.create_connection(("127.0.0.1", m.subs_port), 30)
    s.settimeout(30)
    assert s.recv(100) == b""            # closed, never greeted in plain
    s.close()
    assert wait_log(m, "tls=handshake")


# ---- certificates ----

def peer_der(port, server_hostname=None, implicit=True):
    if implicit:
        with socket.create_connection(("127.0.0.1", port), 10) as raw:
            with client_ctx().wrap_socket(
                    raw, server_hostname=server_hostname) as s:
                return s.getpeercert(binary_form=True)
    c = starttls_raw(port, server_hostname)
    try:
        return c.sock.getpeercert(binary_form=True)
    finally:
        c.close()


def test_selfsigned_generated_once_and_reused(mta_factory):
    m = with_submissions(mta_factory()).start()
    cert = os.path.join(m.state, "tls", "selfsigned.crt")
    key = os.path.join(m.state, "tls", "selfsigned.key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    # owned by whoever started the server (root in CI): smtpd, which runs
    # as `user`, never opens it; the parent hands it the key in memory
    assert os.stat(key).st_uid == os.getuid()
    first = der(cert)
    assert peer_der(m.subs_port) == first
    p = run(["openssl", "x509", "-in", cert, "-noout", "-subject", "-ext",
             "subjectAltName"])
    assert b"CN = mx.example.test" in p.stdout
    assert b"DNS:mx.example.test" in p.stdout
    m.stop()
    m.start()
    assert der(cert) == first
    assert peer_der(m.port, implicit=False) == first
    assert m.log().count("event=tls-selfsigned") == 1


def test_cert_files_and_sni(mta_factory, tmp_path):
    d = str(tmp_path)
    main_c, main_k = make_cert(d, "mx.example.test", "main")
    other_c, other_k = make_cert(d, "mail.other.test", "other")
    wild_c, wild_k = make_cert(d, "*.wild.test", "wild")
    m = mta_factory(extra="tls_cert = %s\ntls_key = %s\n"
                    "[tls mail.other.test]\ncert = %s\nkey = %s\n"
                    "[tls *.wild.test]\ncert = %s\nkey = %s\n" %
                    (main_c, main_k, other_c, other_k, wild_c, wild_k))
    with_submissions(m).start()
    assert peer_der(m.subs_port) == der(main_c)
    assert peer_der(m.subs_port, "unknown.test") == der(main_c)
    assert peer_der(m.subs_port, "MAIL.other.test") == der(other_c)
    assert peer_der(m.port, "mail.other.test", implicit=False) == der(other_c)
    assert peer_der(m.subs_port, "a.wild.test") == der(wild_c)
    assert peer_der(m.subs_port, "a.b.wild.test") == der(main_c)
    assert peer_der(m.subs_port, "wild.test") == der(main_c)
    assert not os.path.exists(os.path.join(m.state, "tls",
                                           "selfsigned.crt"))
    assert "sni=mail.other.test" in m.log() or \
        "sni=MAIL.other.test" in m.log()


def test_full_chain_file(mta_factory, tmp_path):
    d = str(tmp_path)
    ca_c, ca_k = make_cert(d, "Test CA", "ca")
    key = os.path.join(d, "leaf.key")
    csr = os.path.join(d, "leaf.csr")
    leaf = os.path.join(d, "leaf.crt")
    assert run(["openssl", "req", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
                csr, "-subj", "/CN=mx.example.test"]).returncode == 0
    assert run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_c, "-CAkey",
                ca_k, "-CAcreateserial", "-out", leaf,
                "-days", "2"]).returncode == 0
    chain = os.path.join(d, "chain.pem")
    with open(chain, "w") as f:
        f.write(open(leaf).read() + open(ca_c).read())
    m = with_submissions(mta_factory(
        extra="tls_cert = %s\ntls_key = %s" % (chain, key))).start()
    with socket.create_connection(("127.0.0.1", m.subs_port), 10) as raw:
        ctx = ssl.create_default_context(cafile=ca_c)
        ctx.check_hostname = False     # the test CA cert has no CA ext
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(raw) as s:
            assert s.getpeercert(binary_form=True) == der(leaf)
    p = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % m.subs_port,
             "-showcerts"], input=b"")
    assert p.stdout.count(b"-----BEGIN CERTIFICATE-----") == 2, p.stdout


def test_mismatched_key_refused_at_start(mta_factory, tmp_path):
    d = str(tmp_path)
    c1, _ = make_cert(d, "mx.example.test", "one")
    _, k2 = make_cert(d, "mx.example.test", "two")
    m = mta_factory(extra="tls_cert = %s\ntls_key = %s" % (c1, k2))
    with pytest.raises(RuntimeError):
        m.start()
    assert "key values mismatch" in m.log()


def test_sighup_reloads_certificate_live_session_continues(mta_factory,
                                                           tmp_path):
    d = str(tmp_path)
    a_c, a_k = make_cert(d, "mx.example.test", "a")
    b_c, b_k = make_cert(d, "mx.example.test", "b")
    cert = os.path.join(d, "cur.crt")
    key = os.path.join(d, "cur.key")
    shutil.copy(a_c, cert)
    shutil.copy(a_k, key)
    m = with_submissions(mta_factory(
        extra="tls_cert = %s\ntls_key = %s" % (cert, key))).start()
    old = starttls_raw(m.port)
    assert old.sock.getpeercert(binary_form=True) == der(a_c)
    old.ehlo()
    old.expect("MAIL FROM:<sender@client.test>", 250)
    shutil.copy(b_c, cert)
    shutil.copy(b_k, key)
    m.proc.send_signal(signal.SIGHUP)
    assert wait_log(m, "event=reloaded")
    assert peer_der(m.subs_port) == der(b_c)
    assert peer_der(m.port, implicit=False) == der(b_c)
    # the session opened before the reload goes on, on its old context
    old.expect("RCPT TO:<%s>" % ALICE, 250)
    old.expect("DATA", 354)
    old.send(b"Subject: across reload\r\n\r\nstill here\r\n.\r\n")
    assert old.reply().code == 250
    old.expect("QUIT", 221)
    old.close()
    assert b"still here" in m.wait_messages(ALICE, 1)[0]


def test_sighup_with_broken_certificate_keeps_old(mta_factory, tmp_path):
    d = str(tmp_path)
    a_c, a_k = make_cert(d, "mx.example.test", "a")
    cert = os.path.join(d, "cur.crt")
    shutil.copy(a_c, cert)
    m = with_submissions(mta_factory(
        extra="tls_cert = %s\ntls_key = %s" % (cert, a_k))).start()
    with open(cert, "w") as f:
        f.write("not a certificate\n")
    m.proc.send_signal(signal.SIGHUP)
    # the reload fails as a bad [dkim] key fails it: old config and keys
    assert wait_log(m, "event=reload result=failed")
    assert "config=kept" in m.log()
    assert "event=reload result=ok" not in m.log()
    assert peer_der(m.subs_port) == der(a_c)


# ---- configuration ----

@pytest.mark.parametrize("line,why", [
    ("tls_protocols = TLSv1 TLSv1.3", "range without gaps"),
    ("tls_protocols = SSLv3", "not one of"),
    ("tls_ciphers = NOSUCHCIPHER", "tls_ciphers"),
    ("tls_ciphersuites = TLS_NOPE", "tls_ciphersuites"),
    ("tls_cert = /nonexistent", "go together"),
])
def test_bad_tls_config_is_refused(mta_factory, line, why):
    m = mta_factory(extra=line)
    bin_ = os.environ.get("POSTBOTE_BIN", os.path.join(
        os.path.dirname(__file__), "..", "..", "build", "asan", "postbote"))
    p = run([bin_, "check", "-c", m.conf])
    assert p.returncode == 2, p.stdout
    assert why.encode() in p.stdout, p.stdout


def test_tls_protocols_13_only(mta_factory):
    m = mta_factory(extra="tls_protocols = TLSv1.3").start()
    ctx = client_ctx()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with smtplib.SMTP("127.0.0.1", m.port, timeout=20) as c:
        with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected,
                            ConnectionError)):
            c.starttls(context=ctx)
    with smtplib.SMTP("127.0.0.1", m.port, timeout=20) as c:
        c.starttls(context=client_ctx())
        assert c.sock.version() == "TLSv1.3"


def test_large_message_and_pipelining_over_tls(tmta):
    """Several MB through SSL_read (more than one read's worth per event)
    and a pipelined transaction inside TLS."""
    line = b"x" * 998 + b"\r\n"
    body = b"Subject: big\r\n\r\n" + line * 4000
    with smtplib.SMTP("127.0.0.1", tmta.port, timeout=60) as c:
        c.starttls(context=client_ctx())
        c.ehlo("client.test")
        c.sendmail("sender@client.test", [ALICE], body)
    c = starttls_raw(tmta.port)
    c.ehlo()
    c.send(b"MAIL FROM:<s@client.test>\r\nRCPT TO:<%s>\r\nDATA\r\n" %
           ALICE.encode())
    assert [r.code for r in c.replies(3)] == [250, 250, 354]
    c.send(b"Subject: piped\r\n\r\nsmall\r\n.\r\nQUIT\r\n")
    assert [r.code for r in c.replies(2)] == [250, 221]
    c.close()
    msgs = tmta.wait_messages(ALICE, 2)
    assert len(msgs) == 2
    big = [m for m in msgs if b"Subject: big" in m][0]
    assert big.count(b"x" * 998 + b"\n") == 4000
    assert any(b"Subject: piped" in m for m in msgs)


def test_check_loads_certificate_files(mta_factory, tmp_path):
    d = str(tmp_path)
    c1, k1 = make_cert(d, "mx.example.test", "one")
    _, k2 = make_cert(d, "mx.example.test", "two")
    bin_ = os.environ.get("POSTBOTE_BIN", os.path.join(
        os.path.dirname(__file__), "..", "..", "build", "asan", "postbote"))
    good = mta_factory(extra="tls_cert = %s\ntls_key = %s" % (c1, k1))
    p = run([bin_, "check", "-c", good.conf])
    assert p.returncode == 0, p.stdout
    bad = mta_factory(extra="tls_cert = %s\ntls_key = %s" % (c1, k2))
    p = run([bin_, "check", "-c", bad.conf])
    assert p.returncode == 2 and b"key values mismatch" in p.stdout, p.stdout
    assert not os.path.exists(os.path.join(bad.state, "tls"))


def test_sigterm_with_a_handshake_pending(tmta):
    s = socket.create_connection(("127.0.0.1", tmta.subs_port), 30)
    s.settimeout(30)
    assert wait_log(tmta, "listener=") or True
    time.sleep(0.2)                      # let smtpd accept it
    assert tmta.stop() == 0
    assert s.recv(100) == b""            # closed without a plaintext 421
    s.close()
    assert "did not stop" not in tmta.log()


def test_key_update_and_help(tmta):
    """A TLS 1.3 KeyUpdate asking for ours (s_client's K command), then
    more commands on the same session."""
    p = subprocess.Popen([need("openssl"), "s_client", "-connect",
                          "127.0.0.1:%d" % tmta.port, "-starttls", "smtp"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        for line in (b"EHLO c.test\r\n", b"K\n", b"NOOP\r\n",
                     b"HELP\r\n", b"QUIT\r\n"):
            p.stdin.write(line)
            p.stdin.flush()
            time.sleep(0.7)
        out = p.communicate(timeout=20)[0].decode(errors="replace")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "KEYUPDATE" in out, out
    after = out.split("KEYUPDATE", 1)[1]
    assert "250 2.0.0 Ok" in after, out
    assert re.search(r"214 2.0.0 Commands: .*HELP\r?\n", after), out
    assert "event=tls-error" not in tmta.log()
    with RawSMTP(tmta.port) as c:
        c.ehlo()
        assert c.expect("HELP", 214).text.endswith(" STARTTLS")


def test_stalled_handshakes_do_not_block_other_sessions(tmta):
    """Handshakes run on the event loop: clients that stop half-way (or
    never start) hold no one else up."""
    hello = client_hello()
    stalled = []
    for i in range(30):
        s = socket.create_connection(("127.0.0.1", tmta.subs_port), 10)
        if i % 2:
            s.sendall(hello[:len(hello) // 3])
        stalled.append(s)
    try:
        with smtplib.SMTP_SSL("127.0.0.1", tmta.subs_port, timeout=20,
                              context=client_ctx()) as c:
            assert c.noop()[0] == 250
        with smtplib.SMTP("127.0.0.1", tmta.port, timeout=20) as c:
            c.starttls(context=client_ctx())
            c.sendmail("sender@client.test", [ALICE], b"Subject: s\r\n\r\n")
        assert len(tmta.wait_messages(ALICE, 1)) == 1
    finally:
        for s in stalled:
            s.close()
