#!/usr/bin/python3
"""auth_bench.py - AUTH verifications per second of build/postbote: many
parallel smtplib clients log in over and over (AUTH PLAIN, on a listener
with allow_plaintext_auth = yes) for a fixed time.  The users file is
made with `postbote user add`, so the hash is the default (yescrypt at
crypt_gensalt's default cost).

Usage: bench/auth_bench.py [seconds] [clients]     (BIN=path to override)
"""

import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 10
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 8
BIN = os.environ.get("BIN", os.path.join(os.getcwd(), "build", "postbote"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    d = tempfile.mkdtemp(prefix="postbote-authbench-")
    os.chmod(d, 0o755)
    port = free_port()
    conf = os.path.join(d, "postbote.conf")
    with open(conf, "w") as f:
        f.write("hostname = bench.example\ndomains = bench.example\n"
                "state_dir = %s/state\nusers = %s/users\n"
                "resolver = 127.0.0.1:9\nallow_plaintext_auth = yes\n"
                "[listen mx]\naddress = 127.0.0.1:%d\n" % (d, d, port))
    subprocess.run([BIN, "user", "-c", conf, "add", "bench@bench.example"],
                   input=b"bench-pw\n", check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(d, "users")) as f:
        hash_prefix = f.read().split(":", 1)[1][:8]
    log = open(os.path.join(d, "log"), "wb")
    srv = subprocess.Popen([BIN, "serve", "-c", conf], stdout=log,
                           stderr=log)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                time.sleep(0.05)
        counts = [0] * CLIENTS
        fails = [0] * CLIENTS
        stop = time.time() + SECONDS

        def worker(i):
            while time.time() < stop:
                with smtplib.SMTP("127.0.0.1", port, timeout=60) as c:
                    c.ehlo("bench.client")
                    try:
                        c.login("bench@bench.example", "bench-pw")
                        counts[i] += 1
                    except smtplib.SMTPException:
                        fails[i] += 1

        start = time.time()
        ts = [threading.Thread(target=worker, args=(i,))
              for i in range(CLIENTS)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        elapsed = time.time() - start
        print("auth-bench: hash=%s... clients=%d seconds=%.1f ok=%d "
              "failed=%d verifications/s=%.1f" % (
                  hash_prefix, CLIENTS, elapsed, sum(counts), sum(fails),
                  sum(counts) / elapsed))
    finally:
        srv.terminate()
        srv.wait(30)
        log.close()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
