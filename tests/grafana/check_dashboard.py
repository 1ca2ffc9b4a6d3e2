#!/usr/bin/env python3
"""check_dashboard.py DASHBOARD SOURCE_ROOT - the Grafana dashboard in
deploy/ is well-formed JSON, its panels have unique ids and a place on
the grid, every query has an expression, and every cluster_run_* metric
it queries is one the launcher exports (named in launcher/ sources) or
one of the few announced in NEWER (being added by other changes: drop a
name from NEWER once the launcher has it).  A renamed metric then fails
here instead of leaving an empty panel.

Prints one line per problem and exits 1, or says what it checked."""
import json
import os
import re
import sys

NEWER = set()
METRIC = re.compile(r"\bcluster_run_[a-z_]+")


def exported(root):
    names = set()
    for dirpath, _, files in os.walk(os.path.join(root, "launcher")):
        for f in files:
            if f.endswith(".c"):
                names |= set(METRIC.findall(open(os.path.join(dirpath, f)).read()))
    return names


def main():
    path, root = sys.argv[1], sys.argv[2]
    try:
        dash = json.load(open(path))
    except ValueError as e:
        print("%s: not JSON: %s" % (path, e))
        return 1
    known = exported(root) | NEWER
    errors, ids, queries = [], set(), 0
    for p in dash.get("panels", []):
        pid = p.get("id")
        if pid in ids:
            errors.append("panel %r: id used twice" % pid)
        ids.add(pid)
        if not all(k in p.get("gridPos", {}) for k in "xywh"):
            errors.append("panel %r: no gridPos" % pid)
        for t in p.get("targets", []):
            expr = t.get("expr", "")
            queries += 1
            if not expr:
                errors.append("panel %r: a query without expr" % pid)
            for m in METRIC.findall(expr):
                base = re.sub(r"_(bucket|sum|count)$", "", m)
                if m not in known and base not in known:
                    errors.append("panel %r (%s): cluster-run exports no %s"
                                  % (pid, p.get("title"), m))
    if not dash.get("uid") or not dash.get("title"):
        errors.append("the dashboard has no uid or title")
    for e in errors:
        print("%s: %s" % (path, e))
    if not errors:
        print("%s: %d panels, %d queries, every metric known" % (path, len(ids), queries))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
