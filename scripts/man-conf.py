#!/usr/bin/python3
"""man-conf.py - write man/postbote.conf.5 from docs/config.md.

The config reference is kept once, in docs/config.md; this turns it into
roff (man(7) macros) so that `man postbote.conf` says the same.  The key
tables become tagged paragraphs.  `make man` runs it; the tests check that
the page in the tree is what it writes.

usage: man-conf.py docs/config.md > man/postbote.conf.5
"""
import re
import sys

HEAD = r""".\" postbote.conf.5 - written by scripts/man-conf.py from docs/config.md;
.\" edit that file and run "make man".
.TH POSTBOTE.CONF 5 "" "postbote" "File Formats"
.SH NAME
postbote.conf \- configuration file of the postbote mail transfer agent
.SH SYNOPSIS
.B /etc/postbote/postbote.conf
.SH DESCRIPTION
"""

TAIL = r""".SH FILES
.TP
.I /etc/postbote/postbote.conf
the configuration file read by default
.TP
.I /var/lib/postbote
the default \fBstate_dir\fR: spool, sockets, pid file, generated keys
.SH SEE ALSO
.BR postbote (8),
.BR sendmail (1),
.BR crypt (5)
"""


def inline(s):
    s = s.replace("\\", "\\e")
    s = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1", s)
    s = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", s)
    s = re.sub(r"`([^`]+)`", code, s)
    return s


def code(m):
    """A code span in bold; a long one may break after ':' or '/'."""
    t = m.group(1)
    if len(t) > 30:
        t = t.replace(":", ":\\:").replace("/", "/\\:")
    return "\\fB" + t + "\\fR"


def line_out(s):
    s = inline(s)
    if s.startswith(".") or s.startswith("'"):
        s = "\\&" + s
    return s


def cells(row):
    return [c.strip() for c in row.strip().strip("|").split("|")]


def table(rows, out):
    head = [h.lower() for h in cells(rows[0])]
    for row in rows[2:]:
        c = dict(zip(head, cells(row)))
        key = c.get("key", "")
        out.append(".TP")
        extra = []
        for k in ("type", "default", "bounds"):
            if c.get(k):
                extra.append(("" if k == "type" else k + " ") + c[k])
        out.append(line_out(key))
        if extra:
            out.append(line_out("(" + "; ".join(extra) + ")"))
            out.append(".br")
        out.append(line_out(c.get("meaning", "")))


def convert(text):
    out = []
    lines = text.split("\n")
    i = 0
    para = False
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("```"):
            i += 1
            out += [".PP", ".RS 4", ".nf"]
            while i < len(lines) and not lines[i].startswith("```"):
                out.append(line_out(lines[i]).replace("\\fB", "").replace(
                    "\\fR", "") if "`" not in lines[i] else
                    "\\&" + lines[i].replace("\\", "\\e"))
                i += 1
            out += [".fi", ".RE"]
            para = False
        elif ln.startswith("# "):
            pass                        # the title: NAME says it
        elif ln.startswith("## "):
            out.append(".SH " + inline(ln[3:]).upper())
            para = False
        elif ln.startswith("### "):
            out.append(".SS " + inline(ln[4:]))
            para = False
        elif ln.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            table(rows, out)
            para = False
            continue
        elif re.match(r"^(\* |[0-9]+\. )", ln):
            m = re.match(r"^(\* |([0-9]+)\. )", ln)
            out.append(".IP " + ("\\(bu 2" if ln.startswith("*")
                                  else m.group(2) + ". 4"))
            out.append(line_out(ln[len(m.group(1)):]))
            para = True
        elif ln.strip() == "":
            para = False
        else:
            if not para:
                out.append(".PP")
                para = True
            out.append(line_out(ln.strip()))
        i += 1
    return "\n".join(out) + "\n"


def main():
    with open(sys.argv[1]) as f:
        text = f.read()
    sys.stdout.write(HEAD + convert(text) + TAIL)


if __name__ == "__main__":
    main()
