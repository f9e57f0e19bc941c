#!/usr/bin/python3
"""compare.py - postbote side by side with Postfix and smtp-sink.

Runs the same smtp-source loads against a private Postfix, build/postbote
and Postfix's smtp-sink (no queue, no disk: the ceiling), interleaving the
repetitions (Postfix, postbote, sink, and again), and prints the medians,
the ratios, and postbote's CPU time and system calls per message.

Every server is started fresh for each repetition in a directory of its
own under /tmp and stopped by pid (the directories are removed after the
last run, see LEFT); nothing under /etc is read or written
(Postfix gets `postfix -c DIR`).  No server makes a DNS query: Postfix has
smtp_dns_support_level = disabled and no peer-name lookup, postbote's
resolver is a loopback port nobody answers on.

Loads (smtp-source; one message per connection unless "reuse"):
  accept-20    20 sessions, 2 KiB, accept only: Postfix holds every
               message (HOLD action), postbote's listener has hold = yes
  accept-100   the same with 100 sessions
  reuse-20     20 sessions, connection reuse (smtp-source -d)
  accept-100k  20 sessions, 100 KiB messages
  deliver-20   20 sessions, 2 KiB, accepted and delivered to a Maildir
               (Postfix virtual(8); postbote's local delivery); the time
               runs until the last message is in new/.  No sink here.

Usage (as root: Postfix starts as root and drops to its own user):
  make bench-compare                 (N=10000 REPS=3 LOADS=all)
  N=2000 REPS=1 LOADS=accept-20,deliver-20 make bench-compare
"""

import os
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BIN", os.path.join(ROOT, "build", "postbote"))
N = int(os.environ.get("N", "10000"))
REPS = int(os.environ.get("REPS", "3"))
SENDER = "bench@client.example"
RCPT = "sink@bench.example"

LOADS = [
    # name, sessions, size, reuse, deliver, message count factor
    ("accept-20", 20, 2048, False, False, 1.0),
    ("accept-100", 100, 2048, False, False, 1.0),
    ("reuse-20", 20, 2048, True, False, 1.0),
    ("accept-100k", 20, 100 * 1024, False, False, 0.25),
    ("deliver-20", 20, 2048, False, True, 1.0),
]

# Postfix services for a private instance: no chroot, no pickup (nothing
# is submitted locally), virtual(8) for Maildir delivery, postlogd so
# that maillog_file works without syslog.
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = pf.bench.example
mydomain = bench.example
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
alias_maps =
alias_database =
default_transport = error:benchmark has no remote delivery
relay_transport = error:benchmark has no remote delivery
smtpd_relay_restrictions = permit_mynetworks, reject
default_process_limit = 200
virtual_mailbox_domains = bench.example
virtual_mailbox_base = {d}/mail
virtual_mailbox_maps = static:sink/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
biff = no
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_banner(port, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as c:
                c.settimeout(5)
                if c.recv(512).startswith(b"220"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("no 220 greeting on port %d" % port)


def maildir_count(path):
    try:
        return len(os.listdir(path))
    except FileNotFoundError:
        return 0


# The servers' directories, removed only after the last run: deleting a
# run's tens of thousands of files makes the file system slow to create
# new ones for the next tens of seconds (ext4 scans the inodes deleted
# lately for each new one), which would be measured in the next server.
LEFT = []


def settle():
    """Let the previous run's writes reach the disk, so they are not
    measured in the next one."""
    os.sync()
    time.sleep(1)


def remove_left():
    for d in LEFT:
        shutil.rmtree(d, ignore_errors=True)


class Postfix:
    name = "Postfix"

    def __init__(self, deliver):
        self.dir = tempfile.mkdtemp(prefix="postbote-cmp-pf.")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.maildir = os.path.join(self.dir, "mail", "sink", "new")
        etc = os.path.join(self.dir, "etc")
        for sub in ("etc", "queue", "data", "mail"):
            os.mkdir(os.path.join(self.dir, sub))
        nobody = pwd.getpwnam("nobody")
        os.chown(os.path.join(self.dir, "data"),
                 pwd.getpwnam("postfix").pw_uid, -1)
        os.chown(os.path.join(self.dir, "mail"), nobody.pw_uid,
                 nobody.pw_gid)
        main = MAIN_CF.format(d=self.dir, uid=nobody.pw_uid,
                              gid=nobody.pw_gid)
        if not deliver:
            # Accept only: every message goes to the hold queue, as
            # postbote's listener with hold = yes.
            main += "smtpd_client_restrictions = " \
                "check_client_access static:HOLD\n"
        with open(os.path.join(etc, "main.cf"), "w") as f:
            f.write(main)
        with open(os.path.join(etc, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=self.port))
        self.etc = etc

    def start(self):
        r = subprocess.run(["postfix", "-c", self.etc, "start"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("postfix start: " + r.stdout + r.stderr)
        pidfile = os.path.join(self.dir, "queue", "pid", "master.pid")
        end = time.time() + 10
        while not os.path.exists(pidfile) and time.time() < end:
            time.sleep(0.05)
        with open(pidfile) as f:
            self.pid = int(f.read().strip())
        wait_banner(self.port)

    def stop(self):
        # the master ends its children when it gets SIGTERM
        try:
            os.kill(self.pid, signal.SIGTERM)
            end = time.time() + 20
            while time.time() < end:
                os.kill(self.pid, 0)
                time.sleep(0.05)
        except ProcessLookupError:
            pass
        LEFT.append(self.dir)

    def usage(self):
        return None


class Postbote:
    name = "postbote"

    def __init__(self, deliver):
        self.dir = tempfile.mkdtemp(prefix="postbote-cmp-pb.")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        state = os.path.join(self.dir, "state")
        self.maildir = os.path.join(state, "mail", "bench.example", "sink",
                                    "new")
        self.conf = os.path.join(self.dir, "postbote.conf")
        with open(os.path.join(self.dir, "aliases"), "w") as f:
            f.write("%s: %s\n" % (RCPT, RCPT))
        with open(os.path.join(self.dir, "users"), "w") as f:
            f.write("%s:x\n" % RCPT)
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "hostname = bench.example",
                "domains = bench.example",
                "state_dir = %s" % state,
                "resolver = 127.0.0.1:%d" % free_port(),
                "aliases = %s" % os.path.join(self.dir, "aliases"),
                "users = %s" % os.path.join(self.dir, "users"),
                "max_connections = 1000",
                "local_concurrency = 20",
                "[listen mx]",
                "address = 127.0.0.1:%d" % self.port,
                "hold = %s" % ("no" if deliver else "yes"),
                ""]))

    def start(self):
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen([BIN, "serve", "-c", self.conf],
                                     stderr=self.log)
        wait_banner(self.port)
        self.children = children(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        LEFT.append(self.dir)

    def usage(self):
        """CPU seconds of the server so far, all processes and threads."""
        tck = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in [self.proc.pid] + self.children:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except FileNotFoundError:
                pass
        return total / tck


class Sink:
    name = "smtp-sink"

    def __init__(self, deliver):
        self.port = free_port()

    def start(self):
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "nobody", "-c", "127.0.0.1:%d" % self.port,
             "1024"],
            stdout=subprocess.DEVNULL)
        wait_banner(self.port)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(20)

    def usage(self):
        return None


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def perf_syscalls_start(pids):
    """perf stat counting system-call entries of pids (all threads), or
    None when perf is not usable here."""
    if shutil.which("perf") is None:
        return None
    out = tempfile.NamedTemporaryFile(prefix="postbote-cmp-perf.",
                                      delete=False)
    out.close()
    p = subprocess.Popen(
        ["perf", "stat", "-x,", "-o", out.name, "-e",
         "raw_syscalls:sys_enter", "-p", ",".join(map(str, pids))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return p, out.name


def perf_syscalls_stop(h):
    if h is None:
        return None
    p, path = h
    p.send_signal(signal.SIGINT)
    p.wait(20)
    count = None
    with open(path) as f:
        for line in f:
            m = re.match(r"(\d+),,raw_syscalls:sys_enter", line)
            if m:
                count = int(m.group(1))
    os.unlink(path)
    return count


def run_one(server_cls, load):
    name, sessions, size, reuse, deliver, factor = load
    n = max(1, int(N * factor))
    settle()
    srv = server_cls(deliver)
    srv.start()
    try:
        perf = None
        cpu0 = srv.usage()
        if cpu0 is not None:
            perf = perf_syscalls_start([srv.proc.pid] + srv.children)
        cmd = ["smtp-source", "-s", str(sessions), "-m", str(n),
               "-l", str(size), "-f", SENDER, "-t", RCPT]
        if reuse:
            cmd.append("-d")
        cmd.append("127.0.0.1:%d" % srv.port)
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("smtp-source against %s: %s" %
                               (srv.name, r.stderr.strip()))
        if deliver:
            end = time.monotonic() + 600
            while maildir_count(srv.maildir) < n and \
                    time.monotonic() < end:
                time.sleep(0.02)
            got = maildir_count(srv.maildir)
            if got < n:
                raise RuntimeError("%s delivered %d of %d" %
                                   (srv.name, got, n))
        secs = time.monotonic() - t0
        calls = perf_syscalls_stop(perf)
        cpu = None if cpu0 is None else srv.usage() - cpu0
    finally:
        srv.stop()
    return {"rate": n / secs, "cpu": cpu, "calls": calls, "n": n}


def fmt_rates(xs):
    return " / ".join("{:,.0f}".format(x) for x in xs)


def main():
    if os.geteuid() != 0:
        sys.exit("compare.py: run as root (Postfix starts as root)")
    for tool in ("postfix", "smtp-source", "smtp-sink"):
        if shutil.which(tool) is None:
            sys.exit("compare.py: %s is missing (make bench-deps)" % tool)
    want = os.environ.get("LOADS", "all")
    loads = [x for x in LOADS if want == "all" or x[0] in want.split(",")]
    print("compare: N=%d REPS=%d, %d cores, %s" %
          (N, REPS, os.cpu_count(), time.strftime("%Y-%m-%d")))
    rows = []
    try:
        run_all(loads, rows)
    finally:
        remove_left()
    print_table(rows)


def run_all(loads, rows):
    for load in loads:
        servers = [Postfix, Postbote] + ([] if load[4] else [Sink])
        res = {s.name: [] for s in servers}
        for rep in range(REPS):
            for s in servers:
                r = run_one(s, load)
                res[s.name].append(r)
                print("  %-11s rep %d  %-9s %8.0f msg/s%s" % (
                    load[0], rep + 1, s.name, r["rate"],
                    "" if r["cpu"] is None else
                    "  cpu %.0f us/msg" % (r["cpu"] / r["n"] * 1e6)),
                    flush=True)
        rows.append((load, res))


def print_table(rows):
    print()
    print("| load | Postfix msg/s | postbote msg/s | smtp-sink msg/s "
          "| postbote / Postfix | postbote / sink "
          "| postbote CPU µs/msg | postbote syscalls/msg |")
    print("|---|---|---|---|---|---|---|---|")
    for load, res in rows:
        med = {k: statistics.median(x["rate"] for x in v)
               for k, v in res.items()}
        pb = res["postbote"]
        cpu = statistics.median(x["cpu"] / x["n"] * 1e6 for x in pb)
        calls = [x["calls"] / x["n"] for x in pb if x["calls"]]
        sink = res.get("smtp-sink")
        print("| %s | %s | %s | %s | %.1fx | %s | %.0f | %s |" % (
            load[0], fmt_rates(x["rate"] for x in res["Postfix"]),
            fmt_rates(x["rate"] for x in pb),
            fmt_rates(x["rate"] for x in sink) if sink else "-",
            med["postbote"] / med["Postfix"],
            "%.0f%%" % (100 * med["postbote"] / med["smtp-sink"])
            if sink else "-", cpu,
            "%.0f" % statistics.median(calls) if calls else "-"))


if __name__ == "__main__":
    main()
