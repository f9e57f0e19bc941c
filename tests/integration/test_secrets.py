"""Where the private keys live: the TLS key only in smtpd (and the parent),
the [dkim] keys only in smtpd and queue (and the parent), at start and
after a reload.  Each process's memory is read through /proc/PID/mem (the
suite runs as root) and searched for the key's PEM body and for its
private numbers (the EC scalar, RSA's d, p and q), both byte orders, as
OpenSSL keeps them in BIGNUM limbs.  Issue 10, item 7."""

import os
import re
import signal
import subprocess
import time

import pytest

from conftest import BIN

serialization = pytest.importorskip(
    "cryptography.hazmat.primitives.serialization",
    reason="python3-cryptography is not installed")
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402

if os.geteuid() != 0:
    pytest.skip("reading another process's memory needs root",
                allow_module_level=True)

CHUNK = 8 << 20
# Mappings this large are sanitizer shadow or reserved address space, never
# a process's own data; reading them would take hours.
MAPPING_MAX = 4 << 30


def needles(pem):
    """{name: bytes} to look for: each line of the PEM body, and each
    private number in big- and little-endian order (24 bytes of it: no
    chance of a false hit, and no doubt about a leading zero limb)."""
    key = serialization.load_pem_private_key(pem, password=None)
    out = {}
    body = [ln for ln in pem.split(b"\n")
            if ln and not ln.startswith(b"-----")]
    for i, line in enumerate(body):
        if len(line) >= 40:
            out["pem line %d" % i] = line
    if isinstance(key, ec.EllipticCurvePrivateKey):
        nums = {"scalar": key.private_numbers().private_value}
    elif isinstance(key, rsa.RSAPrivateKey):
        pn = key.private_numbers()
        nums = {"d": pn.d, "p": pn.p, "q": pn.q}
    else:
        nums = {}
    for name, n in nums.items():
        size = (n.bit_length() + 7) // 8
        out["%s (big-endian)" % name] = n.to_bytes(size, "big")[:24]
        out["%s (little-endian)" % name] = n.to_bytes(size, "little")[:24]
    return out


def regions(pid):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            name = parts[5] if len(parts) > 5 else ""
            if "r" not in parts[1] or name in ("[vvar]", "[vsyscall]"):
                continue
            if hi - lo > MAPPING_MAX:
                continue
            yield lo, hi


def found_in(pid, what):
    """The names of what's needles found in pid's memory."""
    hits = set()
    overlap = max(len(v) for v in what.values())
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for lo, hi in regions(pid):
            pos, tail = lo, b""
            while pos < hi:
                try:
                    mem.seek(pos)
                    data = mem.read(min(CHUNK, hi - pos))
                except OSError:
                    break
                if not data:
                    break
                block = tail + data
                for name, needle in what.items():
                    if name not in hits and needle in block:
                        hits.add(name)
                tail = block[-overlap:]
                pos += len(data)
    return hits


def holders(m, what):
    """{process: what it holds} for every process of the server."""
    pids = dict(m.child_pids(), parent=m.proc.pid)
    return {name: found_in(pid, what) for name, pid in pids.items()}


def wait_log(m, needle, count, timeout=20):
    end = time.time() + timeout
    while time.time() < end and m.log().count(needle) < count:
        time.sleep(0.05)
    return m.log().count(needle) >= count


def reload(m):
    """SIGHUP, and wait until each of the four children applied it."""
    before = m.log().count("event=reloaded")
    m.proc.send_signal(signal.SIGHUP)
    assert wait_log(m, "event=reload result=ok", 1), m.log()
    assert wait_log(m, "event=reloaded", before + 4), m.log()
    time.sleep(0.3)


def assert_only_in(m, what, allowed, label):
    held = holders(m, what)
    print("%s: %s" % (label, {p: len(h) for p, h in sorted(held.items())}))
    for proc in ("smtpd", "queue", "lookup", "deliver"):
        if proc in allowed:
            # the control: what is allowed to hold the key does, so the
            # scan works (the PEM text itself may be gone once parsed)
            assert any(not n.startswith("pem") for n in held[proc]), \
                "%s: %s does not hold the key (the scan is broken?): %s" \
                % (label, proc, sorted(held[proc]))
        else:
            assert held[proc] == set(), "%s: %s holds %s" % (
                label, proc, sorted(held[proc]))


def test_selfsigned_tls_key_only_in_smtpd(mta):
    with open(os.path.join(mta.state, "tls", "selfsigned.key"), "rb") as f:
        what = needles(f.read())
    assert_only_in(mta, what, {"smtpd"}, "at start")
    reload(mta)
    assert_only_in(mta, what, {"smtpd"}, "after a reload")


def test_configured_tls_key_only_in_smtpd(mta_factory, tmp_path):
    key = tmp_path / "server.key"
    cert = tmp_path / "server.crt"
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", str(key), "-out", str(cert),
                        "-days", "2", "-subj", "/CN=mx.example.test"],
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    os.chmod(key, 0o600)
    m = mta_factory(extra="tls_cert = %s\ntls_key = %s\n" % (cert, key))
    m.start()
    what = needles(key.read_bytes())
    assert_only_in(m, what, {"smtpd"}, "at start")
    reload(m)
    assert_only_in(m, what, {"smtpd"}, "after a reload")


def test_dkim_key_only_in_the_signers(mta_factory, tmp_path):
    conf = tmp_path / "keygen.conf"
    conf.write_text("state_dir = %s\n" % (tmp_path / "ks"))
    p = subprocess.run([BIN, "dkim", "-c", str(conf), "keygen",
                        "example.test", "-s", "s1", "-t", "rsa"],
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    key = tmp_path / "ks" / "dkim" / "example.test.s1.key"
    m = mta_factory(extra="[dkim example.test]\nselector = s1\nkey = %s\n"
                    % key).start()
    what = needles(key.read_bytes())
    assert_only_in(m, what, {"smtpd", "queue"}, "at start")
    reload(m)
    assert_only_in(m, what, {"smtpd", "queue"}, "after a reload")
    assert not re.search(r"event=dkim-key result=failed", m.log())
