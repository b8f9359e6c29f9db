#!/usr/bin/env python3
"""The seed systems' way of paging a Compliance API list: one request, then
sleep 1.2 s (50/min) before the next, whatever the request took; honour
Retry-After on 429. `--scale F` divides the sleep like the mock's
--time-scale divides its minute. Prints a JSON summary to stderr and the
records to stdout (or counts them with --count-only)."""
import argparse, json, sys, time, urllib.request, urllib.error

ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("--key", default="test-key")
ap.add_argument("--limit", type=int, default=1)
ap.add_argument("--scale", type=float, default=1.0)
ap.add_argument("--count-only", action="store_true")
a = ap.parse_args()

after, pages, records, r429 = None, 0, 0, 0
start = time.monotonic()
while True:
    url = f"{a.url}?limit={a.limit}" + (f"&after={after}" if after else "")
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {a.key}"})
    try:
        with urllib.request.urlopen(req) as resp:
            page = json.loads(resp.read())
    except urllib.error.HTTPError as e:
        if e.code == 429:
            r429 += 1
            time.sleep(float(e.headers.get("Retry-After", "1")))
            continue
        raise
    pages += 1
    for rec in page["data"]:
        records += 1
        if not a.count_only:
            sys.stdout.write(json.dumps(rec) + "\n")
    if not page.get("has_more"):
        break
    after = page["last_id"]
    time.sleep(1.2 / a.scale)
print(json.dumps({"pages": pages, "records": records, "http_429": r429,
                  "seconds": round(time.monotonic() - start, 3)}), file=sys.stderr)
