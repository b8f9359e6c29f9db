#!/usr/bin/env python3
"""The straightforward partition script a user would write: json.loads each
line, dicts of lists per (user, day), json.dump per group, plus the daily
summaries. Everything is held in memory. Same seed layout as `partition`.

Usage: naive_partition.py INPUT OUT_DIR
"""
import collections
import datetime
import json
import os
import sys


def main(inp, out):
    groups = collections.defaultdict(list)
    with open(inp, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            day = datetime.datetime.fromtimestamp(rec["created_at"], datetime.timezone.utc).date()
            groups[(rec["user_id"], day)].append(rec)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    summaries = collections.defaultdict(dict)
    for (user, day), recs in groups.items():
        recs.sort(key=lambda r: (r["created_at"], r["id"]))
        d = os.path.join(out, user, day.strftime("%Y/%m/%d"))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "conversations.json"), "w", encoding="utf-8") as f:
            json.dump({"date": day.isoformat(), "user_id": user, "conversation_count": len(recs),
                       "conversations": recs,
                       "metadata": {"backup_timestamp": now, "source": "naive"}}, f, ensure_ascii=False)
        summaries[day][user] = {"conversation_count": len(recs),
                                "total_messages": sum(len(r["messages"]["data"]) for r in recs)}
    for day, users in summaries.items():
        d = os.path.join(out, "_daily_summaries", day.strftime("%Y/%m/%d"))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "summary.json"), "w", encoding="utf-8") as f:
            json.dump({"date": day.isoformat(), "total_users": len(users),
                       "total_conversations": sum(u["conversation_count"] for u in users.values()),
                       "user_statistics": dict(sorted(users.items())), "backup_timestamp": now}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
