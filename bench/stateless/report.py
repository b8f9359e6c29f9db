#!/usr/bin/env python3
"""The tables of bench/stateless/run.sh, from what it left in its data directory.

  report.py DATA ROUNDS DAYS...
"""
import json
import statistics
import sys

data, rounds, days = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
MAIN = ["LIST", "GET", "HEAD", "PUT", "DELETE"]


def load(tag):
    secs, rss = open(f"{data}/time.{tag}").read().split()[-2:]
    s3 = json.load(open(f"{data}/s3.{tag}.json"))
    st = json.load(open(f"{data}/stages.{tag}.json"))
    return float(secs), int(rss) // 1024, s3, st


def row(tag, secs, rss, s3, ratio):
    k = s3["kinds"]
    other = sum(v for n, v in k.items() if n not in MAIN)
    cells = [tag, f"{secs:.2f}", rss, s3["total"]] + [k.get(n, 0) for n in MAIN] + [other]
    cells += [s3["days_put"], s3["days_get"], ratio]
    print("| " + " | ".join(str(c) for c in cells) + " |")


print("\nPer run (requests counted from moto's log; days = distinct days of the data objects written / read):\n")
print("| run | wall s | peak RSS MB | requests | LIST | GET | HEAD | PUT | DELETE | other | days written | days read | wiped/kept |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
summary = {}
for d in days:
    n, dn, b, mn, mb = open(f"{data}/size.{d}").read().split()
    print(f"| **{d} days** before the first round: {n} objects ({dn} data, {int(b) / 1e6:.1f} MB; "
          f"{mn} manifests, {int(mb) / 1e6:.2f} MB) | | | | | | | | | | | | |")
    ratios, reqs = [], {"kept": [], "wiped": []}
    for r in range(1, rounds + 1):
        kept = load(f"kept-{d}-r{r}")
        wiped = load(f"wiped-{d}-r{r}")
        ratio = wiped[0] / kept[0]
        ratios.append(ratio)
        reqs["kept"].append(kept[2]["total"])
        reqs["wiped"].append(wiped[2]["total"])
        row(f"kept r{r}", kept[0], kept[1], kept[2], "")
        row(f"wiped r{r}", wiped[0], wiped[1], wiped[2], f"{ratio:.2f}×")
    summary[d] = (ratios, reqs)

print("\nSummary (median over rounds):\n")
print("| history | kept s | wiped s | wiped/kept (min–max) | kept requests | wiped requests | extra requests of the wiped run |")
print("|---|---|---|---|---|---|---|")
for d in days:
    ratios, reqs = summary[d]
    ks = statistics.median(load(f"kept-{d}-r{r}")[0] for r in range(1, rounds + 1))
    ws = statistics.median(load(f"wiped-{d}-r{r}")[0] for r in range(1, rounds + 1))
    mk, mw = statistics.median(reqs["kept"]), statistics.median(reqs["wiped"])
    print(f"| {d} days | {ks:.2f} | {ws:.2f} | {statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) "
          f"| {mk:.0f} | {mw:.0f} | {mw - mk:+.0f} |")

print("\nArchive areas before the first round (objects; bytes of the area's manifests):")
for d in days:
    areas = json.load(open(f"{data}/areas.{d}"))
    print(f"  {d} days: " + ", ".join(f"{a} {v['objects']} ({v['manifest_bytes'] / 1e3:.0f} kB)" for a, v in areas.items()))

print("\nRequests by area (data = the archive, state = _state/) and status, round 1:")
for d in days:
    for m in ("kept", "wiped"):
        s3 = load(f"{m}-{d}-r1")[2]
        print(f"  {m}-{d}: {json.dumps(s3['by_area'])} status {json.dumps(s3['status'])}")

print("\nWhere the time went, round 1 (wall seconds per stage kind / calls, summed over streams;"
      " partition | manifest | ship overlap in time):")
for d in days:
    for m in ("kept", "wiped"):
        st = load(f"{m}-{d}-r1")[3]
        stages = ", ".join(f"{k} {v['seconds']}s/{v['calls']}" for k, v in st["stages"].items())
        print(f"  {m}-{d}: {stages}")
        print(f"    restore get: {json.dumps(st['restore_counts'])}; slowest calls: {json.dumps(st['slowest'][:4])}")

print("\nBulk loads (set-up, not the benchmark):")
for d in days:
    for m in ("kept", "wiped"):
        secs, rss, s3, _ = load(f"bulk-{m}-{d}")
        print(f"  bulk-{m}-{d}: {secs:.2f} s, peak RSS {rss} MB, {s3['total']} requests")
