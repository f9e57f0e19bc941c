#!/usr/bin/python3
"""idle_memory.py - what an idle SMTP session costs the smtpd process.

Starts build/postbote (BIN= to choose another) on a loopback port, then:
  1. opens N plain sessions (greeting read, EHLO answered) and keeps them;
  2. closes them, and opens N TLS sessions (EHLO, STARTTLS, handshake
     done, EHLO again) and keeps those.
Before and after each batch it reads smtpd's RSS and PSS
(/proc/PID/smaps_rollup) and prints the growth per session in KiB.
Usage: bench/idle_memory.py [N]   (default 300)
"""

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
BIN = os.environ.get("BIN", os.path.join(os.getcwd(), "build", "postbote"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory(pid):
    """(rss, pss) of pid in KiB."""
    with open("/proc/%d/smaps_rollup" % pid) as f:
        text = f.read()
    rss = int(re.search(r"^Rss:\s+(\d+)", text, re.M).group(1))
    pss = int(re.search(r"^Pss:\s+(\d+)", text, re.M).group(1))
    return rss, pss


def reply(f):
    """One SMTP reply (all its lines); its code."""
    while True:
        line = f.readline()
        if not line:
            raise RuntimeError("connection closed")
        if line[3:4] != b"-":
            return int(line[:3])


def plain_session(port):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    assert reply(f) == 220
    s.sendall(b"EHLO idle.example\r\n")
    assert reply(f) == 250
    return (s, f)


def tls_session(port, ctx):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    assert reply(f) == 220
    s.sendall(b"EHLO idle.example\r\n")
    assert reply(f) == 250
    s.sendall(b"STARTTLS\r\n")
    assert reply(f) == 220
    t = ctx.wrap_socket(s, server_hostname="bench.example")
    t.sendall(b"EHLO idle.example\r\n")
    tf = t.makefile("rb")
    assert reply(tf) == 250
    return (t, tf, s, f)


def settle(pid):
    """Memory once the loop is idle again."""
    time.sleep(0.5)
    return memory(pid)


def batch(name, pid, opener):
    before = settle(pid)
    kept = [opener() for _ in range(N)]
    after = settle(pid)
    rss = (after[0] - before[0]) / N
    pss = (after[1] - before[1]) / N
    print("%s: sessions=%d rss=%.1f KiB/session pss=%.1f KiB/session "
          "(smtpd rss %d -> %d KiB)" % (name, N, rss, pss, before[0],
                                        after[0]))
    for k in kept:
        for x in k:
            x.close()
    return rss, pss


def main():
    d = tempfile.mkdtemp(prefix="postbote-idle.")
    os.chmod(d, 0o755)
    port = free_port()
    conf = os.path.join(d, "postbote.conf")
    with open(conf, "w") as f:
        f.write("hostname = bench.example\ndomains = bench.example\n"
                "state_dir = %s/state\nresolver = 127.0.0.1:53\n"
                "max_connections = 0\nmax_connections_per_ip = 0\n"
                "[listen mx]\naddress = 127.0.0.1:%d\n" % (d, port))
    log = open(os.path.join(d, "log"), "wb")
    proc = subprocess.Popen([BIN, "serve", "-c", conf], stdout=log,
                            stderr=log, stdin=subprocess.DEVNULL)
    try:
        pid = None
        end = time.time() + 30
        while pid is None and time.time() < end:
            time.sleep(0.1)
            with open(os.path.join(d, "log")) as f:
                m = re.search(r"event=spawn process=smtpd pid=(\d+)",
                              f.read())
            if m:
                pid = int(m.group(1))
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.1)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        # A few sessions first, so that one-time allocations (the TLS
        # context's first use, the loop's tables) are not counted.
        for k in [plain_session(port) for _ in range(5)] + \
                [tls_session(port, ctx) for _ in range(5)]:
            for x in k:
                x.close()
        batch("plain", pid, lambda: plain_session(port))
        batch("tls", pid, lambda: tls_session(port, ctx))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()
        subprocess.run(["rm", "-rf", d], check=False)


if __name__ == "__main__":
    main()
