"""A DNSSEC test world from Debian's packages: zones signed with
ldns-signzone (ldnsutils), served by nsd on a loopback port and validated
by unbound on another one, which trusts the signed zones' keys and nothing
else (no root anchor).  Both run in the foreground with private configs
in a temporary directory and are stopped by pid.

    world = DnssecWorld(tmpdir)
    world.zone("dane.test", records, signed=True, tamper={...})
    world.zone("insecure.test", records)          # no anchor: insecure
    world.start()                                  # world.resolver: ip:port
    ...
    world.stop()
"""

import os
import signal
import socket
import subprocess
import time

from conftest import free_port

NSD = "/usr/sbin/nsd"
UNBOUND = "/usr/sbin/unbound"
KEYGEN = "/usr/bin/ldns-keygen"
SIGNZONE = "/usr/bin/ldns-signzone"


def available():
    return all(os.access(p, os.X_OK) for p in (NSD, UNBOUND, KEYGEN,
                                               SIGNZONE))


class DnssecWorld:
    def __init__(self, base):
        self.base = base
        self.zones = []             # (name, file)
        self.anchors = []           # DS lines
        self.nsd_port = free_port()
        self.port = free_port()
        self.procs = []
        self.resolver = "127.0.0.1:%d" % self.port

    def _run(self, *a):
        return subprocess.run(a, check=True, capture_output=True, text=True,
                              cwd=self.base).stdout.strip()

    def zone(self, name, records, signed=False, tamper=None):
        """records: zone-file lines relative to the origin; tamper: after
        signing, {owner: (old, new)} replaces text in that owner's lines
        (its RRSIG no longer matches: a bogus answer)."""
        path = os.path.join(self.base, name + ".zone")
        head = ["$ORIGIN %s." % name, "$TTL 300",
                "@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300" % (
                    name, name),
                "@ NS ns.%s." % name, "ns A 127.0.0.1"]
        with open(path, "w") as f:
            f.write("\n".join(head + list(records)) + "\n")
        if signed:
            ksk = self._run(KEYGEN, "-a", "ECDSAP256SHA256", "-k", name)
            zsk = self._run(KEYGEN, "-a", "ECDSAP256SHA256", name)
            self._run(SIGNZONE, "-f", path + ".signed", path, zsk, ksk)
            with open(os.path.join(self.base, ksk + ".ds")) as f:
                self.anchors.append(f.read().strip())
            for stem in (ksk, zsk):
                for ext in (".key", ".private", ".ds"):
                    if os.path.exists(os.path.join(self.base, stem + ext)):
                        os.unlink(os.path.join(self.base, stem + ext))
            path += ".signed"
            if tamper:
                self._tamper(path, tamper)
        self.zones.append((name, path))

    @staticmethod
    def _tamper(path, tamper):
        out = []
        for line in open(path):
            owner = line.split("\t")[0].split(" ")[0]
            for name, (old, new) in tamper.items():
                if owner == name + "." and "RRSIG" not in line:
                    line = line.replace(old, new)
            out.append(line)
        with open(path, "w") as f:
            f.writelines(out)

    def _nsd_conf(self):
        conf = os.path.join(self.base, "nsd.conf")
        lines = ["server:",
                 "  ip-address: 127.0.0.1@%d" % self.nsd_port,
                 "  port: %d" % self.nsd_port,
                 "  username: \"\"", "  chroot: \"\"",
                 "  database: \"\"",
                 "  zonesdir: \"%s\"" % self.base,
                 "  zonelistfile: \"%s/zone.list\"" % self.base,
                 "  xfrdfile: \"%s/xfrd.state\"" % self.base,
                 "  pidfile: \"%s/nsd.pid\"" % self.base,
                 "  logfile: \"%s/nsd.log\"" % self.base,
                 "  server-count: 1", "  verbosity: 1",
                 "remote-control:", "  control-enable: no"]
        for name, path in self.zones:
            lines += ["zone:", "  name: %s" % name,
                      "  zonefile: \"%s\"" % path]
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        return conf

    def _unbound_conf(self):
        conf = os.path.join(self.base, "unbound.conf")
        lines = ["server:",
                 "  interface: 127.0.0.1", "  port: %d" % self.port,
                 "  do-daemonize: no", "  username: \"\"",
                 "  chroot: \"\"", "  directory: \"%s\"" % self.base,
                 "  pidfile: \"%s/unbound.pid\"" % self.base,
                 "  logfile: \"%s/unbound.log\"" % self.base,
                 "  use-syslog: no", "  verbosity: 1",
                 "  val-log-level: 2",
                 "  do-ip6: no", "  do-not-query-localhost: no",
                 "  access-control: 127.0.0.0/8 allow",
                 "  module-config: \"validator iterator\"",
                 "  qname-minimisation: no",
                 "  local-zone: \"test.\" nodefault",
                 "  num-threads: 1",
                 "  cache-max-ttl: 0", "  cache-max-negative-ttl: 0"]
        for ds in self.anchors:
            lines.append("  trust-anchor: \"%s\"" % ds.replace("\t", " "))
        for name, _ in self.zones:
            lines += ["stub-zone:", "  name: \"%s\"" % name,
                      "  stub-addr: 127.0.0.1@%d" % self.nsd_port]
        lines += ["remote-control:", "  control-enable: no"]
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        return conf

    def _wait_udp(self, port, proc, name, timeout=15.0):
        # a query for the first zone's SOA: any answer means it is up
        q = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" +
             b"".join(bytes([len(l)]) + l.encode()
                      for l in self.zones[0][0].split(".")) +
             b"\x00\x00\x06\x00\x01")
        end = time.time() + timeout
        while time.time() < end:
            if proc.poll() is not None:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.2)
            try:
                s.sendto(q, ("127.0.0.1", port))
                if s.recv(4096)[:2] == b"\x12\x34":
                    return
            except OSError:
                time.sleep(0.05)
            finally:
                s.close()
        self.stop()
        raise RuntimeError("%s did not start:\n%s" % (name, self.logs()))

    def start(self):
        nsd = subprocess.Popen([NSD, "-d", "-c", self._nsd_conf()],
                               stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(
                                   self.base, "nsd.err"), "w"))
        self.procs.append(nsd)
        self._wait_udp(self.nsd_port, nsd, "nsd")
        unb = subprocess.Popen([UNBOUND, "-d", "-c", self._unbound_conf()],
                               stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(
                                   self.base, "unbound.err"), "w"))
        self.procs.append(unb)
        self._wait_udp(self.port, unb, "unbound")
        return self

    def logs(self):
        out = []
        for n in ("nsd.err", "nsd.log", "unbound.err", "unbound.log"):
            p = os.path.join(self.base, n)
            if os.path.exists(p):
                out.append("== %s\n%s" % (n, open(p).read()[-4000:]))
        return "\n".join(out)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []
