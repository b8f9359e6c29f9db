#!/usr/bin/env python3
"""Where a backup run's time went, from the timing wrapper's log (wrap.sh).

  stages.py STAGE_LOG START_LINE END_LINE   -> JSON on stdout

Sums wall seconds per stage kind (fetch logs, restore get, ship, ...);
stages of one pipeline (partition | manifest | ship) overlap in time, so the
sum of the kinds is more than the run's wall time. From the copied
summaries: restore get's counts (downloaded / present / missing) and ship's.
"""
import json
import sys
from collections import defaultdict


def kind(tool, args):
    a = args.split()
    sub = a[0] if a and not a[0].startswith("-") and not a[0].startswith("s3:") else ""
    if tool == "archive-state":
        return f"state {sub}"
    if tool == "fetch":
        return f"fetch {sub}"
    if tool == "partition":
        return "partition --dry-run (plan)" if "--dry-run" in a else "partition"
    if tool == "restore":
        return f"restore {sub} (merge inputs)"
    if tool == "manifest":
        return "manifest"
    return tool


def main():
    path, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    lines = open(path).read().splitlines()[start:end]
    secs, calls = defaultdict(float), defaultdict(int)
    restore = defaultdict(int)
    ship = defaultdict(int)
    slowest = []
    for line in lines:
        t0, t1, rc, tool, summary, args = line.split("\t", 5)
        k = kind(tool, args)
        d = float(t1) - float(t0)
        secs[k] += d
        calls[k] += 1
        area = next((x for x in args.split() if x.startswith("s3://")), "")
        slowest.append((round(d, 2), k, area))
        if summary:
            try:
                s = json.load(open(summary))
            except (OSError, ValueError):
                continue
            if tool == "restore":
                for c, n in (s.get("counts") or {}).items():
                    restore[c] += n
            if tool == "ship":
                for f in ("uploaded", "skipped", "objects", "bytes_uploaded", "conflicts", "failed"):
                    if isinstance(s.get(f), int):
                        ship[f] += s[f]
    slowest.sort(reverse=True)
    print(json.dumps({
        "stages": {k: {"calls": calls[k], "seconds": round(secs[k], 2)}
                   for k in sorted(secs, key=lambda k: -secs[k])},
        "restore_counts": dict(restore), "ship": dict(ship),
        "slowest": slowest[:8]}))


if __name__ == "__main__":
    main()
