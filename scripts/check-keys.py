#!/usr/bin/python3
"""check-keys.py - every config key the code knows is documented, and no
documented key is unknown to the code.

The keys are read from the one table in src/common/conf.c ({ G(name) ...}
and { SC_KIND, "name" ...}), the documented ones from the key tables of
docs/config.md (global, and each `[kind NAME]` section) and from the
tagged paragraphs of man/postbote.conf.5.  Prints what differs; exit 1.

usage: check-keys.py [SRCDIR]
"""
import os
import re
import sys

SCOPES = {"GLOBAL": "", "LISTEN": "listen", "ROUTE": "route",
          "DKIM": "dkim", "TLS": "tls", "DOMAIN": "domain",
          "MILTER": "milter"}


def code_keys(path):
    text = open(path).read()
    table = text[text.index("static const struct conf_key keys[]"):]
    table = table[:table.index("};")]
    keys = set()
    for m in re.finditer(r'\{\s*G\((\w+)\)', table):
        keys.add(("", m.group(1)))
    for m in re.finditer(r'\{\s*SC_(\w+),\s*"(\w+)"', table):
        keys.add((SCOPES[m.group(1)], m.group(2)))
    return keys


def doc_keys(path):
    keys = set()
    scope = None
    for ln in open(path):
        if ln.startswith("## "):
            scope = "" if ln.strip() == "## Global keys" else None
        m = re.match(r"^### `\[(\w+) ", ln)
        if m:
            scope = m.group(1)
        m = re.match(r"^\| `(\w+)` \|", ln)
        if m and scope is not None:
            keys.add((scope, m.group(1)))
    return keys


def man_keys(path):
    keys = set()
    scope = None
    lines = open(path).read().split("\n")
    for i, ln in enumerate(lines):
        if ln.startswith(".SH "):
            scope = "" if ln == ".SH GLOBAL KEYS" else None
        m = re.match(r"^\.SS \\fB\[(\w+) ", ln)
        if m:
            scope = m.group(1)
        if ln == ".TP" and scope is not None and i + 1 < len(lines):
            m = re.match(r"^\\fB(\w+)\\fR$", lines[i + 1])
            if m:
                keys.add((scope, m.group(1)))
    return keys


def name(k):
    return ("[%s] " % k[0] if k[0] else "") + k[1]


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else "."
    code = code_keys(os.path.join(top, "src/common/conf.c"))
    ok = True
    for what, path, fn in (
            ("docs/config.md", "docs/config.md", doc_keys),
            ("postbote.conf(5)", "man/postbote.conf.5", man_keys)):
        doc = fn(os.path.join(top, path))
        for k in sorted(code - doc):
            print("%s: key %s is not documented" % (what, name(k)))
            ok = False
        for k in sorted(doc - code):
            print("%s: documents %s, which the code does not know"
                  % (what, name(k)))
            ok = False
    if ok:
        print("check-keys: %d keys, each documented in docs/config.md and "
              "postbote.conf(5)" % len(code))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
