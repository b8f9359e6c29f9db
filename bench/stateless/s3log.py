#!/usr/bin/env python3
"""Count the S3 requests moto_server logged between two byte offsets of its log.

moto_server (werkzeug) writes one line per request on stderr:
  127.0.0.1 - - [01/Dec/2026 15:00:00] "GET /bucket/key?x=y HTTP/1.1" 200 -
Requests are path-style (the tools use path-style against an endpoint).
Each is classified by method and query into a kind, and by key into
"data" (the archive) or "state" (keys under .../_state/). days_put and
days_get count the distinct days (YYYY/MM/DD/, archive_date=, YYYY-MM-DD.jsonl
in the key) of the data objects written and read: the days the run touched.

  s3log.py LOG START END [--bucket B]   -> one JSON object on stdout
"""
import json
import re
import sys
from collections import Counter
from urllib.parse import parse_qs, unquote, urlsplit

DAY = re.compile(r"(\d{4})/(\d{2})/(\d{2})/|archive_date=(\d{4})-(\d{2})-(\d{2})/|(\d{4})-(\d{2})-(\d{2})\.jsonl")
LINE = re.compile(r'"(GET|PUT|HEAD|POST|DELETE) (\S+) HTTP/[0-9.]+" (\d{3})')


def kind_of(method, key, query):
    q = parse_qs(query, keep_blank_values=True)
    if not key:
        if method == "GET" and ("list-type" in q or "prefix" in q or not q):
            return "LIST"
        return f"{method}-bucket"
    if method == "GET":
        return "GET-part" if "partNumber" in q else "GET"
    if method == "HEAD":
        return "HEAD-part" if "partNumber" in q else "HEAD"
    if method == "PUT":
        if "uploadId" in q:
            return "PUT-part"
        if "retention" in q or "legal-hold" in q or "tagging" in q:
            return "PUT-" + next(iter(q))
        return "PUT"
    if method == "POST":
        if "uploads" in q:
            return "MPU-create"
        if "uploadId" in q:
            return "MPU-complete"
        if "restore" in q:
            return "RESTORE"
        return "POST"
    if method == "DELETE":
        return "MPU-abort" if "uploadId" in q else "DELETE"
    return method


def main():
    log, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    bucket = None
    if "--bucket" in sys.argv:
        bucket = sys.argv[sys.argv.index("--bucket") + 1]
    with open(log, "rb") as f:
        f.seek(start)
        text = f.read(end - start).decode("utf-8", "replace")
    kinds, areas, status = Counter(), Counter(), Counter()
    days = {"PUT": set(), "GET": set()}
    for line in text.splitlines():
        m = LINE.search(line)
        if not m:
            continue
        method, target, code = m.groups()
        u = urlsplit(target)
        path = unquote(u.path).lstrip("/")
        b, _, key = path.partition("/")
        if bucket and b != bucket:
            continue
        k = kind_of(method, key, u.query)
        if k == "LIST":
            prefix = parse_qs(u.query).get("prefix", [""])[0]
            where = "state" if "_state" in prefix.split("/") else "data"
        else:
            where = "state" if "_state" in key.split("/") else "data"
        d = DAY.search(key)
        if k in days and where == "data" and d and not key.rsplit("/", 1)[-1].startswith("manifest"):
            days[k].add("-".join(x for x in d.groups() if x))
        kinds[k] += 1
        areas[f"{where}:{k}"] += 1
        status[code] += 1
    print(json.dumps({"total": sum(kinds.values()), "kinds": dict(sorted(kinds.items())),
                      "by_area": dict(sorted(areas.items())), "status": dict(sorted(status.items())),
                      "days_put": len(days["PUT"]), "days_get": len(days["GET"])}))


if __name__ == "__main__":
    main()
