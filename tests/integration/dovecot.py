"""A private Dovecot for the tests (Debian's dovecot-core, dovecot-lmtpd,
dovecot-imapd, dovecot-sieve): its own config, base_dir, state and mail
under a temporary directory, LMTP on a UNIX socket and on loopback, IMAP
on loopback, its auth service's client and userdb sockets (for AUTH
and recipient checks) on UNIX sockets and the client one on loopback,
run with `dovecot -F -c FILE` in its own process group and
stopped by that group's id.  Never /etc/dovecot, never the service."""

import imaplib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import free_port

MAIL_USER = "nobody"        # owns the mailboxes; any uid >= 500 does

CONF = """\
instance_name = pbtest-{port}
hostname = lmtp.dovecot.test
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = lmtp imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 scram-sha-256
auth_debug = yes
first_valid_uid = 1
mail_uid = {uid}
mail_gid = {gid}
mail_location = maildir:{d}/mail/%d/%n
default_internal_user = dovecot
default_login_user = dovenull
lmtp_save_to_detail_mailbox = no
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = {d}/passwd-full
  default_fields = uid={uid} gid={gid} home={d}/home/%d/%n
  override_fields = quota_rule=*:storage=10B
}}
userdb {{
  driver = passwd-file
  args = {d}/passwd-tfull
  default_fields = uid={uid} gid={gid} home={d}/home/%d/%n
  override_fields = quota_rule=*:storage=10B quota_full_tempfail=yes
}}
userdb {{
  driver = passwd-file
  args = {d}/passwd
  default_fields = uid={uid} gid={gid} home={d}/home/%d/%n
}}
service lmtp {{
  unix_listener {d}/lmtp {{
    mode = 0666
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
service auth {{
  unix_listener {d}/auth-client {{
    mode = 0666
  }}
  # 0666 would let each uid look up only users of its own uid
  unix_listener {d}/auth-userdb {{
    mode = 0600
    user = postbote
  }}
  inet_listener auth-client {{
    address = 127.0.0.1
    port = {auth_port}
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol lmtp {{
  mail_plugins = quota sieve
}}
plugin {{
  quota = maildir:User quota
  sieve = file:{d}/home/%d/%n/sieve;active={d}/home/%d/%n/active.sieve
}}
"""

# name -> (password, the userdb that gives its quota: over quota with a
# permanent failure (full), with a temporary one (tfull), none ("")
USERS = {
    "alice@example.test": ("alice-pw", ""),
    "bob@example.test": ("bob-pw", ""),
    "full@example.test": ("full-pw", "full"),
    "tfull@example.test": ("tfull-pw", "tfull"),
}

JUNK_SIEVE = """\
require ["fileinto", "mailbox"];
if header :contains "subject" "junk-me" {
  fileinto :create "Junk";
}
"""


# Dovecot's master must start as root to switch to the mail user.
NEEDS_DOVECOT = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("dovecot") is None,
    reason="needs root and Debian's dovecot-core (scripts/deps.sh)")


def private_dovecot(extra_conf="", users=None):
    """A started Dovecot in a new temporary folder, for a fixture: yields
    it, then stops it and removes the folder.  extra_conf is appended to
    its config; users (name -> (password, quota db), as USERS) replaces
    USERS."""
    d = tempfile.mkdtemp(prefix="postbote-dovecot-")
    os.chmod(d, 0o755)
    dv = Dovecot(d, extra_conf, users).start()
    yield dv
    dv.stop()
    subprocess.run(["rm", "-rf", d], check=False)


class Dovecot:
    def __init__(self, d, extra_conf="", users=None):
        self.d = d
        self.users = USERS if users is None else users
        self.base_dir = os.path.join(d, "run")
        self.lmtp_port = free_port()
        self.imap_port = free_port()
        self.auth_port = free_port()
        self.auth_socket = os.path.join(d, "auth-client")
        self.userdb_socket = os.path.join(d, "auth-userdb")
        self.socket = os.path.join(d, "lmtp")
        self.conf = os.path.join(d, "dovecot.conf")
        self.proc = None
        pw = pwd.getpwnam(MAIL_USER)
        uid, gid = pw.pw_uid, pw.pw_gid
        for sub in ("run", "state", "mail", "home"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        for sub in ("mail", "home"):
            os.chown(os.path.join(d, sub), uid, gid)
        with open(self.conf, "w") as f:
            f.write(CONF.format(d=d, uid=uid, gid=gid,
                                port=self.lmtp_port,
                                lmtp_port=self.lmtp_port,
                                imap_port=self.imap_port,
                                auth_port=self.auth_port) + extra_conf)
        for db in ("", "full", "tfull"):
            with open(os.path.join(d, "passwd" + (db and "-" + db)),
                      "w") as f:
                for user, (pw_, quota) in self.users.items():
                    if db in ("", quota):
                        f.write("%s:%s::::::\n" % (user, pw_))
        # alice files messages whose subject says so into Junk
        home = os.path.join(d, "home", "example.test", "alice")
        os.makedirs(home)
        with open(os.path.join(home, "active.sieve"), "w") as f:
            f.write(JUNK_SIEVE)
        subprocess.run(["chown", "-R", "%d:%d" % (uid, gid),
                        os.path.join(d, "home")], check=True)

    def start(self):
        self.proc = subprocess.Popen(
            ["dovecot", "-F", "-c", self.conf],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL, start_new_session=True)
        end = time.time() + 15
        while time.time() < end:
            if os.path.exists(self.socket) and self._listening():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("dovecot did not start:\n" + self.log())

    def _listening(self):
        import socket
        try:
            with socket.create_connection(("127.0.0.1", self.imap_port),
                                          timeout=1):
                return True
        except OSError:
            return False

    def set_password(self, user, password):
        """Change user's password in the passdb (a passwd-file Dovecot
        reads again when it changes)."""
        path = os.path.join(self.d, "passwd")
        with open(path) as f:
            lines = f.read().splitlines()
        out = []
        for line in lines:
            name, rest = line.split(":", 1)
            out.append(name + ":" + (password + ":" + rest.split(":", 1)[1]
                                     if name == user else rest))
        with open(path + ".new", "w") as f:
            f.write("\n".join(out) + "\n")
        os.rename(path + ".new", path)

    def signal(self, sig):
        """sig to every process of this Dovecot (its own group)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self):
        if self.proc is None:
            return
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        # the children may outlive the master for a moment
        for _ in range(100):
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.proc = None

    def log(self):
        try:
            with open(os.path.join(self.d, "dovecot.log"),
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def imap(self, user):
        c = imaplib.IMAP4("127.0.0.1", self.imap_port)
        c.login(user, self.users[user][0])
        return c

    def fetch_all(self, user, folder="INBOX"):
        """Every message of user's folder, as bytes, in order."""
        c = self.imap(user)
        try:
            typ, _ = c.select(folder, readonly=True)
            if typ != "OK":
                return []
            typ, data = c.search(None, "ALL")
            out = []
            for num in data[0].split():
                typ, msg = c.fetch(num, "(RFC822)")
                out.append(msg[0][1])
            return out
        finally:
            c.logout()

    def wait_count(self, user, n, folder="INBOX", timeout=20.0):
        end = time.time() + timeout
        got = []
        while time.time() < end:
            got = self.fetch_all(user, folder)
            if len(got) >= n:
                return got
            time.sleep(0.1)
        return got
