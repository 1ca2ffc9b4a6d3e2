#!/usr/bin/env python3
"""check_layers.py - the launcher's layers, checked from its #include lines.

The launcher's folders are layers (README, "Design: layers"), bottom to top:

    base < net < policy < mechanism < supervise < surface < main.c

A file may include headers of its own layer and of the layers below it,
cluster.h (the core structs) and wire/ (what shim and launcher share);
nothing of a layer above it and nothing else of the shim.  Within the
launcher, the modules' includes must also form no cycle (a module is a .c
with its .h), so a layer has an order of its own too.  The shim may
include only its own files and wire/.  Every header is reached through
its folder ("net/listener.h"), so an include says which layer it reaches.

Usage: check_layers.py SOURCE_ROOT.  Prints one line per broken rule and
exits 1, or says what it checked and exits 0.
"""
import os
import re
import sys

LAYERS = ["base", "net", "policy", "mechanism", "supervise", "surface"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(path):
    """The layer index of a path relative to launcher/ (main.c: the top)."""
    top = path.split("/")[0]
    if top in LAYERS:
        return LAYERS.index(top)
    if path == "main.c":
        return len(LAYERS)
    return None     # cluster.h


def module(path):
    return path[:-2] if path.endswith((".c", ".h")) else path


def check_launcher(root, errors):
    base = os.path.join(root, "launcher")
    graph = {}
    nfiles = 0
    for dirpath, _, files in os.walk(base):
        for f in files:
            if not f.endswith((".c", ".h")):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), base)
            nfiles += 1
            if "/" in rel and rel.split("/")[0] not in LAYERS:
                errors.append("launcher/%s: not in a layer folder (%s)" % (rel, ", ".join(LAYERS)))
                continue
            if "/" not in rel and rel not in ("main.c", "cluster.h"):
                errors.append("launcher/%s: only main.c and cluster.h stand outside the layers" % rel)
                continue
            here = layer_of(rel)
            text = open(os.path.join(dirpath, f), encoding="utf-8").read()
            for inc in INCLUDE.findall(text):
                if inc == "cluster.h":
                    continue
                if inc.startswith("wire/"):
                    continue
                if "/" not in inc or inc.split("/")[0] not in LAYERS:
                    errors.append('launcher/%s: #include "%s": name the layer folder '
                                  '(or wire/ for the shared contract)' % (rel, inc))
                    continue
                if not os.path.exists(os.path.join(base, inc)):
                    errors.append('launcher/%s: #include "%s": no such header' % (rel, inc))
                    continue
                there = layer_of(inc)
                if here is not None and there > here:
                    errors.append('launcher/%s: #include "%s" reaches up from %s to %s'
                                  % (rel, inc, LAYERS[here] if here < len(LAYERS) else "main",
                                     LAYERS[there]))
                if rel == "cluster.h":
                    continue
                a, b = module(rel), module(inc)
                if a != b:
                    graph.setdefault(a, set()).add(b)
    # cluster.h may include only base/ and wire/
    text = open(os.path.join(base, "cluster.h"), encoding="utf-8").read()
    for inc in INCLUDE.findall(text):
        if not (inc.startswith("base/") or inc.startswith("wire/")):
            errors.append('launcher/cluster.h: #include "%s": the core header rests on '
                          'base/ and wire/ only' % inc)
    for cycle in cycles(graph):
        errors.append("launcher: modules include each other in a cycle: %s"
                      % " -> ".join(cycle + [cycle[0]]))
    return nfiles


def cycles(graph):
    """Every strongly connected component of more than one module."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
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


def check_shim(root, errors):
    base = os.path.join(root, "shim")
    nfiles = 0
    for dirpath, _, files in os.walk(base):
        for f in files:
            if not f.endswith((".c", ".h")):
                continue
            nfiles += 1
            rel = os.path.relpath(os.path.join(dirpath, f), base)
            text = open(os.path.join(dirpath, f), encoding="utf-8").read()
            for inc in INCLUDE.findall(text):
                if ".." in inc or "launcher" in inc:
                    errors.append('shim/%s: #include "%s": the shim includes its own files '
                                  'and wire/ only' % (rel, inc))
                if rel.startswith("wire/") and not inc.startswith("wire/") and "/" in inc:
                    errors.append('shim/%s: #include "%s": wire/ stands alone' % (rel, inc))
    return nfiles


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../..")
    errors = []
    n = check_launcher(root, errors) + check_shim(root, errors)
    for e in errors:
        print(e)
    if errors:
        print("layers: %d rule(s) broken in %d files" % (len(errors), n))
        return 1
    print("layers: %d files, no include reaches up, no module cycle" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
