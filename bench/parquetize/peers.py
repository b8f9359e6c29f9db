"""The peers of the parquetize benchmark, one per invocation so each gets
its own /usr/bin/time measurement:

  python3 peers.py duckdb-auto CSV OUT.parquet   DuckDB read_csv with its own type detection, COPY ... (FORMAT parquet, COMPRESSION zstd)
  python3 peers.py duckdb  CSV OUT.parquet   DuckDB read_csv with the exact column types, COPY ... (FORMAT parquet, COMPRESSION zstd)
  python3 peers.py pyarrow CSV OUT.parquet   pyarrow.csv.read_csv (its own type inference) + pq.write_table(compression='zstd')
"""
import sys

which, src, out = sys.argv[1:4]

# The charges table's column types, as exact as DuckDB can hold them
# (fx_rate is unconstrained numeric in PostgreSQL: DECIMAL(38,20) is the
# widest exact choice, the same one parquetize is given).
DUCK_COLUMNS = {
    "id": "BIGINT", "account_id": "UUID", "invoice_id": "BIGINT", "amount": "DECIMAL(18,6)",
    "quantity": "INTEGER", "unit_price": "DECIMAL(18,6)", "fx_rate": "DECIMAL(38,20)",
    "currency": "VARCHAR", "country": "VARCHAR", "description": "VARCHAR", "billing_period": "DATE",
    "created_at": "TIMESTAMPTZ", "settled_at": "TIMESTAMPTZ", "metadata": "JSON", "refunded": "BOOLEAN",
}

if which == "duckdb-auto":
    import duckdb
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"COPY (SELECT * FROM read_csv('{src}')) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
elif which == "duckdb":
    import duckdb
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    cols = ", ".join(f"'{k}': '{v}'" for k, v in DUCK_COLUMNS.items())
    con.execute(
        f"COPY (SELECT * FROM read_csv('{src}', header = true, columns = {{{cols}}})) "
        f"TO '{out}' (FORMAT parquet, COMPRESSION zstd)"
    )
elif which == "pyarrow":
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    # Embedded newlines (multi-line descriptions) need newlines_in_values.
    table = pacsv.read_csv(src, parse_options=pacsv.ParseOptions(newlines_in_values=True))
    pq.write_table(table, out, compression="zstd")
else:
    sys.exit(f"unknown peer {which}")
