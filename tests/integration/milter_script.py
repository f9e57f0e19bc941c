"""A scripted milter on Debian's python3-milter (libmilter), for
test_milter.py: run as `python3 milter_script.py SOCKET MODE RECORD`.
MODE names what it does (see ACTIONS below); RECORD is a file where it
appends, as JSON lines, each callback with the macros it saw, so that the
tests can check what postbote sent."""

import json
import os
import sys

import Milter

SOCKET, MODE, RECORD = sys.argv[1], sys.argv[2], sys.argv[3]
MACROS = ["j", "{daemon_name}", "_", "{client_addr}", "{client_name}",
          "{auth_authen}", "{tls_version}", "{cipher}", "i", "{mail_addr}",
          "{rcpt_addr}"]


def record(event, **kw):
    kw["event"] = event
    with open(RECORD, "a") as f:
        f.write(json.dumps(kw) + "\n")


class Scripted(Milter.Base):
    def macros(self):
        return {m: self.getsymval(m) for m in MACROS
                if self.getsymval(m) is not None}

    def connect(self, hostname, family, hostaddr):
        record("connect", hostname=hostname, addr=str(hostaddr),
               macros=self.macros())
        if MODE == "reject-connect":
            return Milter.REJECT
        return Milter.CONTINUE

    def hello(self, name):
        record("helo", name=name, macros=self.macros())
        return Milter.CONTINUE

    def envfrom(self, f, *args):
        record("mail", addr=f, args=list(args), macros=self.macros())
        if MODE == "reject-mail":
            self.setreply("550", "5.7.1", "sender refused by milter")
            return Milter.REJECT
        if MODE == "tempfail-mail":
            return Milter.TEMPFAIL
        return Milter.CONTINUE

    def envrcpt(self, to, *args):
        record("rcpt", addr=to, macros=self.macros())
        if MODE == "reject-rcpt" and "bob" in to:
            self.setreply("550", "5.7.1", "no mail for bob")
            return Milter.REJECT
        return Milter.CONTINUE

    def header(self, name, value):
        record("header", name=name, value=value)
        return Milter.CONTINUE

    def eoh(self):
        record("eoh", macros=self.macros())
        return Milter.CONTINUE

    def body(self, chunk):
        record("body", size=len(chunk))
        return Milter.CONTINUE

    def eom(self):
        record("eom", macros=self.macros())
        m = MODE
        if m == "crash-eom":
            self.addheader("X-Half", "done")
            os._exit(1)
        if m == "reject-eom":
            return Milter.REJECT
        if m == "tempfail-eom":
            return Milter.TEMPFAIL
        if m == "discard":
            return Milter.DISCARD
        if m == "reply-eom":
            self.setreply("554", "5.7.0", "content refused by policy")
            return Milter.REJECT
        if m == "addheader":
            self.addheader("X-Spam", "yes")
            self.addheader("X-Folded", "one\n\ttwo")
        if m == "insheader":
            self.addheader("X-First", "top", 0)
        if m == "chgheader":
            self.chgheader("Subject", 1, "[SPAM] changed")
        if m == "delheader":
            self.chgheader("X-Remove-Me", 1, "")
        if m == "chgfrom":
            self.chgfrom("<new-sender@example.org>")
        if m == "addrcpt":
            self.addrcpt("<bob@example.test>")
        if m == "delrcpt":
            self.delrcpt("<bob@example.test>")
        if m == "replbody":
            self.replacebody(b"replaced body\r\n")
        if m == "quarantine":
            self.quarantine("suspicious")
        if m == "accept":
            return Milter.ACCEPT
        return Milter.CONTINUE

    def abort(self):
        record("abort")
        return Milter.CONTINUE

    def close(self):
        return Milter.CONTINUE


Milter.factory = Scripted
Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.CHGBODY |
                 Milter.ADDRCPT | Milter.DELRCPT | Milter.CHGFROM |
                 Milter.QUARANTINE)
Milter.runmilter("scripted", SOCKET, 30)
