#!/usr/bin/env bash
# parquetize benchmark: the `charges` table of bench/gen/gen_billing.sh
# (PostgreSQL COPY CSV with header), converted to zstd Parquet by
#   parquetize   (exact types from pg_dump --schema-only)
#   DuckDB       COPY (SELECT * FROM read_csv(..., columns = exact types)) TO ... (FORMAT parquet, COMPRESSION zstd)
#   pyarrow      pyarrow.csv.read_csv (its own inference) + pq.write_table(compression='zstd')
# in one run on the same file; prints wall time, throughput, output size,
# ratios to DuckDB, peak RSS, and how many values each peer got wrong.
#
#   bench/parquetize/run.sh [ROWS=3000000]
#
# Data (git-ignored) goes to bench/data/parquetize/. A throw-away
# PostgreSQL cluster is started to generate it (as the postgres user when
# run as root) and stopped afterwards; existing data of the same size is reused.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
ROWS=${1:-3000000}
DATA=$ROOT/bench/data/parquetize
OUT=$DATA/out-$ROWS
CSV=$DATA/charges-$ROWS.csv
SCHEMA=$DATA/billing_schema.sql
mkdir -p "$DATA" "$OUT"

[[ -x /usr/bin/time ]] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install -q duckdb
python3 -c 'import pyarrow' 2>/dev/null || python3 -m pip install -q pyarrow

# ---- data -------------------------------------------------------------------
if [[ ! -s $CSV || ! -s $SCHEMA ]]; then
  BIN=$(pg_config --bindir 2>/dev/null || true)
  [[ -x $BIN/initdb ]] || BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PGDIR=$(mktemp -d "$DATA/pg-XXXXXX")
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  AS=()
  if [[ $(id -u) == 0 ]]; then chown postgres:postgres "$PGDIR"; AS=(runuser -u postgres --); fi
  stop_pg() { "${AS[@]}" "$BIN/pg_ctl" -D "$PGDIR/db" -m fast stop >/dev/null 2>&1 || true; rm -rf "$PGDIR"; }
  trap stop_pg EXIT
  "${AS[@]}" "$BIN/initdb" -A trust -U postgres -E UTF8 --locale=C -D "$PGDIR/db" >/dev/null
  "${AS[@]}" "$BIN/pg_ctl" -w -l "$PGDIR/log" -D "$PGDIR/db" \
    -o "-p $PORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" start >/dev/null
  echo "generating $ROWS charges rows in PostgreSQL (port $PORT)..." >&2
  PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres PG_BINDIR=$BIN \
    bash "$ROOT/parquetize/tests/support/gen_billing_pg.sh" "$DATA/gen" "$ROWS" 1000
  mv "$DATA/gen/charges.csv" "$CSV"
  mv "$DATA/gen/billing_schema.sql" "$SCHEMA"
  rm -rf "$DATA/gen"
  stop_pg; trap - EXIT
fi

echo "building parquetize (release)..." >&2
cargo build --release -q -p parquetize
PQ=$ROOT/target/release/parquetize
BYTES=$(stat -c %s "$CSV")

# ---- runs ---------------------------------------------------------------------
# name|command...; every run reads the same CSV (page cache warmed first).
cat "$CSV" > /dev/null
run() { # name output cmd...
  local name=$1 out=$2; shift 2
  rm -f "$out"
  /usr/bin/time -f '%e %M' -o "$OUT/$name.time" "$@" > "$OUT/$name.stdout" 2> "$OUT/$name.stderr" \
    || { echo "$name failed:"; cat "$OUT/$name.stderr"; return 1; }
  read -r secs rss < <(tail -1 "$OUT/$name.time")
  echo "$name $secs $rss $(stat -c %s "$out")" >> "$OUT/results.txt"
}
: > "$OUT/results.txt"
run parquetize "$OUT/parquetize.parquet" "$PQ" "$CSV" --table charges --format pg-csv --schema-sql "$SCHEMA" \
  --numeric-as 'decimal(38,20)' --out "$OUT" --name parquetize.parquet
run parquetize-string "$OUT/parquetize-string.parquet" "$PQ" "$CSV" --table charges --format pg-csv --schema-sql "$SCHEMA" \
  --numeric-as string --out "$OUT" --name parquetize-string.parquet
run duckdb "$OUT/duckdb.parquet" python3 "$ROOT/bench/parquetize/peers.py" duckdb "$CSV" "$OUT/duckdb.parquet"
run pyarrow "$OUT/pyarrow.parquet" python3 "$ROOT/bench/parquetize/peers.py" pyarrow "$CSV" "$OUT/pyarrow.parquet"

# ---- report -------------------------------------------------------------------
echo
echo "charges: $ROWS rows, $BYTES bytes of CSV; $(nproc) cores; $(uname -srm)"
python3 - "$OUT/results.txt" "$ROWS" "$BYTES" <<'PY'
import sys
rows, size = int(sys.argv[2]), int(sys.argv[3])
res = [l.split() for l in open(sys.argv[1])]
duck = next(r for r in res if r[0] == "duckdb")
dsec, dsize = float(duck[1]), int(duck[3])
print(f"{'tool':18} {'seconds':>8} {'rows/s':>10} {'MB/s':>7} {'vs DuckDB':>9} {'output':>12} {'size/DuckDB':>11} {'peak RSS':>9}")
for name, secs, rss_kb, out in res:
    s = float(secs)
    print(f"{name:18} {s:8.2f} {rows / s:10.0f} {size / s / 1e6:7.1f} {dsec / s:8.2f}x {int(out):12d} {int(out) / dsize:11.3f} {int(rss_kb) / 1024:7.0f}MB")
PY
echo
echo "values differing from parquetize's exact output (which the test suite checks against PostgreSQL):"
python3 "$ROOT/bench/parquetize/check_exact.py" "$OUT/exactness.ndjson" "$OUT/parquetize-string.parquet" \
  "duckdb=$OUT/duckdb.parquet" "pyarrow=$OUT/pyarrow.parquet"
