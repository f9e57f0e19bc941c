"""A small raw SMTP client for tests where the exact bytes matter.

smtplib normalises line ends and hides multi-line replies behind its own
parsing; these dialogs need to send precise bytes (bare CR/LF, pipelined
batches, oversize lines) and to see each reply exactly as the server wrote
it, including whether the server closed the connection.
"""

import re
import socket
import time

REPLY_LINE = re.compile(rb"^(\d{3})([ -])(.*)$", re.S)


class Reply:
    """One SMTP reply: code, enhanced code (or None) and text lines."""

    def __init__(self, lines):
        self.lines = lines                  # raw lines, without CRLF
        self.code = int(lines[-1][:3])
        self.texts = [l[4:].decode("utf-8", "replace") for l in lines]
        m = re.match(r"^([245]\.\d{1,3}\.\d{1,3})\b", self.texts[-1])
        self.enhanced = m.group(1) if m else None

    @property
    def text(self):
        return "\n".join(self.texts)

    def __repr__(self):
        return "Reply(%d, %r)" % (self.code, self.text)


class Closed(Exception):
    """The server closed the connection while a reply was expected."""


class RawSMTP:
    def __init__(self, port, host="127.0.0.1", timeout=10.0, greet=True,
                 source=None):
        """source: the local address to connect from (127.0.0.2...)."""
        self.sock = socket.create_connection(
            (host, port), timeout,
            source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.buf = b""
        self.eof = False
        self.banner = None
        if greet:
            self.banner = self.reply()

    # -- plumbing --
    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def shutdown_wr(self):
        self.sock.shutdown(socket.SHUT_WR)

    def _fill(self, timeout=None):
        if self.eof:
            return False
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        finally:
            self.sock.settimeout(self.timeout)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _line(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise Closed("connection closed; pending %r" % self.buf)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    # -- replies --
    def reply(self):
        """Read one complete (possibly multi-line) reply."""
        lines = []
        while True:
            line = self._line()
            m = REPLY_LINE.match(line)
            if m is None and len(line) == 3 and line.isdigit():
                lines.append(line + b" ")
                break
            assert m is not None, "malformed reply line %r" % line
            if lines:
                assert line[:3] == lines[0][:3], \
                    "reply code changed inside multi-line reply: %r" % lines
            lines.append(line)
            if m.group(2) == b" ":
                break
        return Reply(lines)

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def cmd(self, line):
        """Send one command line (CRLF appended) and read its reply."""
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.reply()

    def expect(self, line, code, enhanced=None):
        r = self.cmd(line)
        assert r.code == code, "%r -> %r, expected %d" % (line, r, code)
        if enhanced is not None:
            assert r.enhanced == enhanced, \
                "%r -> %r, expected %s" % (line, r, enhanced)
        return r

    def raw_recv_once(self, timeout=None):
        """Whatever one recv() returns (tests that a reply is one write)."""
        if self.buf:
            out, self.buf = self.buf, b""
            return out
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        try:
            return self.sock.recv(65536)
        finally:
            self.sock.settimeout(self.timeout)

    def is_closed(self, timeout=None):
        """True when the server closes the connection within timeout
        (after any pending output); False if it stays open."""
        end = time.time() + (timeout if timeout is not None else self.timeout)
        while not self.eof:
            left = end - time.time()
            if left <= 0:
                return False
            try:
                if not self._fill(left):
                    return True
            except socket.timeout:
                return False
            except OSError:
                return True
        return True

    def rest(self, timeout=None):
        """Everything the server still sends until it closes."""
        self.is_closed(timeout)
        out, self.buf = self.buf, b""
        return out

    # -- conveniences --
    def ehlo(self, name="client.test"):
        r = self.cmd("EHLO " + name)
        assert r.code == 250, r
        return r

    def transaction(self, sender, rcpts, body=None):
        """MAIL, RCPTs (each must get 250), optionally DATA with body."""
        self.expect("MAIL FROM:<%s>" % sender, 250)
        for rc in rcpts:
            self.expect("RCPT TO:<%s>" % rc, 250)
        if body is None:
            return None
        self.expect("DATA", 354)
        self.send(body)
        return self.reply()


def queue_id(reply):
    """The queue id from a '250 2.0.0 Ok: queued as ID' reply."""
    m = re.search(r"queued as ([0-9A-F]{16})\b", reply.text)
    assert m, "no queue id in %r" % reply
    return m.group(1)
