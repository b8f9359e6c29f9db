#!/usr/bin/env python3
"""DuckDB peer: COPY ... TO ... (FORMAT json, PARTITION_BY (user_id, day)).
Usage: duckdb_partition.py INPUT OUT_DIR [MEMORY_LIMIT]"""
import sys

import duckdb

inp, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET threads TO 2")
if len(sys.argv) > 3:
    con.execute(f"SET memory_limit = '{sys.argv[3]}'")
con.execute(f"""
COPY (
  SELECT *, strftime(to_timestamp(created_at), '%Y-%m-%d') AS day
  FROM read_json('{inp}', format = 'newline_delimited', maximum_object_size = 67108864)
) TO '{out}' (FORMAT json, PARTITION_BY (user_id, day), OVERWRITE_OR_IGNORE)
""")
