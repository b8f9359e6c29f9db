#!/usr/bin/env python3
"""Peer for parse throughput: what a Python client does with a page,
json.loads of the whole body, then each record's id and last_active_at."""
import json, sys, time
body = open(sys.argv[1], "rb").read()
iters = int(sys.argv[2]) if len(sys.argv) > 2 else 10
t = time.monotonic()
for _ in range(iters):
    page = json.loads(body)
    for rec in page["data"]:
        _ = (rec["id"], rec.get("last_active_at"), rec["messages"]["has_more"])
secs = time.monotonic() - t
print(json.dumps({"mode": "python json.loads", "page_bytes": len(body), "iterations": iters,
                  "seconds": round(secs, 3), "mb_per_s": round(len(body) * iters / secs / 1e6, 1)}))
