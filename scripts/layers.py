#!/usr/bin/python3
"""layers.py - keep src/ laid out as docs/architecture.md says.

The folder of a file tells its layer or its process:

    lib < mail < auth < common < {parent, smtpd, queue, lookup, deliver} < cli

A file may include the headers of its own folder and of the layers below
it, never those of a layer above nor of another process.  A module (a .c
file and its .h) may not reach itself again through includes (no cycle).

With --objs DIR (the object files of "make", build/obj), the same rules
are checked on what the objects really use: every undefined symbol is
looked up in the object that defines it, so a call through an "extern"
declared in the wrong place is caught too.  The objects are also checked
for names: a file's exported functions and variables carry the file's
name as their prefix (spool.c exports spool_*), but for the few helpers
listed in NAME_EXCEPTIONS.

The documents (README.md, docs/*.md) may name files and folders of src/
(`src/queue/spool.c`, `src/smtpd/`): each one named must exist, and
docs/architecture.md must name every folder, so the map cannot go stale.

--list prints each folder's files with the first line of their opening
comment: the file list of docs/architecture.md, made from the folders.

--reach prints, for each process, the files its entry point reaches
through includes and symbols, per folder.

Exit status: 0 when every rule holds, 1 otherwise (each breach on one
line, "file: what").
"""
import argparse
import os
import re
import subprocess
import sys

LAYERS = {"lib": 0, "mail": 1, "auth": 2, "common": 3,
          "parent": 4, "smtpd": 4, "queue": 4, "lookup": 4, "deliver": 4,
          "cli": 5}
PROCESSES = {"parent": "parent/parent", "smtpd": "smtpd/smtpd",
             "queue": "queue/queue", "lookup": "lookup/lookup",
             "deliver": "deliver/deliver"}
# Exported names that do not carry their file's prefix, and why.
NAME_EXCEPTIONS = {
    # the allocation, string and clock helpers every file uses, kept
    # short on purpose (OpenBSD's xmalloc(3) names)
    "lib/util": re.compile(r"^(x[a-z]+|str_[a-z_]+|now_[a-z_]+)$"),
    # the environment is broken: log and exit (Postfix's msg_fatal)
    "lib/log": re.compile(r"^(fatal|fatalx)$"),
    "cli/main": re.compile(r"^main$"),
    # the one config every process reads (DESIGN.md: conf owns config)
    "common/conf": re.compile(r"^config$"),
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def modules(src):
    """module name ("queue/spool") -> list of its files."""
    mods = {}
    for d in sorted(os.listdir(src)):
        p = os.path.join(src, d)
        if not os.path.isdir(p):
            continue
        for f in sorted(os.listdir(p)):
            if f.endswith((".c", ".h")):
                mods.setdefault(d + "/" + f[:-2], []).append(
                    os.path.join(p, f))
    return mods


def folder(mod):
    return mod.split("/", 1)[0]


def may_use(a, b):
    """may module a depend on module b?"""
    fa, fb = folder(a), folder(b)
    return fa == fb or LAYERS[fb] < LAYERS[fa]


def include_graph(src, mods, errors):
    graph = {m: set() for m in mods}
    for f in sorted(os.listdir(src)):
        if os.path.isfile(os.path.join(src, f)):
            errors.append("src/%s: a file outside the folders" % f)
    for m, files in mods.items():
        if folder(m) not in LAYERS:
            errors.append("src/%s/: a folder with no layer" % folder(m))
            continue
        for path in files:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            for inc in INCLUDE.findall(text):
                target = inc[:-2] if inc.endswith(".h") else inc
                if "/" not in inc or target not in mods:
                    errors.append('%s: #include "%s": name it by its '
                                  'folder, as "lib/buf.h"' % (path, inc))
                    continue
                if target == m:
                    continue
                graph[m].add(target)
    return graph


def nm(path):
    out = subprocess.run(["nm", "--defined-only", "-g", path],
                         capture_output=True, text=True, check=True).stdout
    defined = [ln.split()[2] for ln in out.splitlines()
               if len(ln.split()) == 3]
    out = subprocess.run(["nm", "-u", path], capture_output=True,
                         text=True, check=True).stdout
    undefined = [ln.split()[-1] for ln in out.splitlines() if ln.strip()]
    return defined, undefined


def symbol_graph(objs, mods, errors):
    owner, uses = {}, {}
    for m in mods:
        o = os.path.join(objs, m + ".o")
        if not os.path.exists(o):
            continue
        defined, undefined = nm(o)
        uses[m] = undefined
        base = m.split("/")[1]
        exc = NAME_EXCEPTIONS.get(m)
        for s in defined:
            owner[s] = m
            if s == base or s.startswith(base + "_"):
                continue
            if exc is not None and exc.match(s):
                continue
            errors.append("src/%s.c: exports %s, not named %s_*"
                          % (m, s, base))
    graph = {m: set() for m in mods}
    for m, undefined in uses.items():
        for s in undefined:
            if s in owner and owner[s] != m:
                graph[m].add(owner[s])
    return graph


def check_layers(graph, how, errors):
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if not may_use(a, b):
                errors.append("src/%s: %s src/%s (%s may not use %s)"
                              % (a, how, b, folder(a), folder(b)))


def cycles(graph):
    """strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def reach(graph, start):
    seen, todo = {start}, [start]
    while todo:
        for w in graph.get(todo.pop(), ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


DOC_PATH = re.compile(r"\bsrc/[a-z_]+(?:/[a-z_0-9]+)?(?:\.[ch]\b|/)?")


def check_docs(src, errors):
    root = os.path.dirname(os.path.abspath(src))
    docs = [os.path.join(root, "README.md")]
    ddir = os.path.join(root, "docs")
    if os.path.isdir(ddir):
        docs += [os.path.join(ddir, f) for f in sorted(os.listdir(ddir))
                 if f.endswith(".md")]
    for doc in docs:
        if not os.path.exists(doc):
            continue
        with open(doc, encoding="utf-8") as fh:
            text = fh.read()
        for ref in sorted(set(DOC_PATH.findall(text))):
            if ref == "src/":
                continue
            if not os.path.exists(os.path.join(root, ref)):
                errors.append("%s: names %s, which does not exist"
                              % (os.path.relpath(doc, root), ref))
    arch = os.path.join(ddir, "architecture.md")
    if os.path.exists(arch):
        with open(arch, encoding="utf-8") as fh:
            text = fh.read()
        for d in sorted(os.listdir(src)):
            if os.path.isdir(os.path.join(src, d)) and \
                    "src/%s/" % d not in text:
                errors.append("docs/architecture.md: does not name src/%s/"
                              % d)


def first_line(path):
    """the opening comment's first line, without the file's name"""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for ln in fh:
            ln = ln.strip().lstrip("/*").strip()
            if ln:
                return re.sub(r"^[a-z_0-9]+\.[ch] - ", "", ln)
    return ""


def list_files(src, mods):
    for d in sorted({folder(m) for m in mods}, key=lambda f: (LAYERS[f], f)):
        print("src/%s/" % d)
        for m in sorted(m for m in mods if folder(m) == d):
            c = [f for f in mods[m] if f.endswith(".c")]
            path = c[0] if c else mods[m][0]
            print("  %-16s %s" % (m.split("/")[1], first_line(path)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default="src")
    ap.add_argument("--objs", help="object folder (build/obj)")
    ap.add_argument("--reach", action="store_true")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    errors = []
    mods = modules(args.src)
    inc = include_graph(args.src, mods, errors)
    check_layers(inc, "includes", errors)
    for c in cycles(inc):
        errors.append("include cycle: " + " -> ".join(c))
    check_docs(args.src, errors)
    both = {m: set(inc[m]) for m in inc}
    if args.objs:
        sym = symbol_graph(args.objs, mods, errors)
        check_layers(sym, "uses a symbol of", errors)
        for c in cycles(sym):
            errors.append("call cycle: " + " -> ".join(c))
        for m in sym:
            both[m] |= sym[m]
    if args.reach:
        for p, entry in sorted(PROCESSES.items()):
            if entry not in both:
                continue
            seen = reach(both, entry)
            files = sum(len(mods[m]) for m in seen)
            per = {}
            for m in seen:
                per[folder(m)] = per.get(folder(m), 0) + len(mods[m])
            print("%-8s reaches %3d files: %s" % (p, files, ", ".join(
                "%s %d" % (f, n) for f, n in sorted(
                    per.items(), key=lambda kv: LAYERS[kv[0]]))))
    if args.list:
        list_files(args.src, mods)
    for e in errors:
        print(e)
    if errors:
        print("layers: %d breach%s of docs/architecture.md's layout"
              % (len(errors), "" if len(errors) == 1 else "es"))
        return 1
    print("layers: ok (%d modules)" % len(mods))
    return 0


if __name__ == "__main__":
    sys.exit(main())
