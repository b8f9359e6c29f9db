#!/usr/bin/env bash
# parquetize benchmark: the `charges` table of bench/gen/gen_billing.sh
# (PostgreSQL COPY CSV with header), converted to zstd Parquet by
#   parquetize   (exact types from pg_dump --schema-only)
#   DuckDB auto  COPY (SELECT * FROM read_csv(...)) TO ... (FORMAT parquet, COMPRESSION zstd), its own type detection
#   DuckDB       the same with columns = exact types (round 1 only: slow)
#   pyarrow      pyarrow.csv.read_csv (its own inference) + pq.write_table(compression='zstd')
# in ROUNDS interleaved rounds on the same file; prints the median wall
# time and its spread, CPU time, throughput, output size, peak RSS, the
# ratios to DuckDB's auto-detect and to pyarrow, the load, and how many
# values each peer got wrong. `wc -l` on the same file is the floor (read
# and scan for newlines once).
#
#   ROUNDS=3 bench/parquetize/run.sh [ROWS=3000000]
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
# ROUNDS interleaved rounds (default 3) of every tool on the same CSV (page
# cache warmed first); the report gives the median and the spread of each,
# and ratios of medians. DuckDB with exact types (slow) runs in round 1 only.
ROUNDS=${ROUNDS:-3}
cat "$CSV" > /dev/null
run() { # name output cmd...   (output: a file under $OUT, removed first)
  local name=$1 out=$2; shift 2
  case $out in
    "$OUT"/*) rm -f "$out" ;;
    *) echo "run: $out is not under $OUT; refusing to remove it" >&2; return 1 ;;
  esac
  /usr/bin/time -f '%e %M %U %S' -o "$OUT/$name.time" "$@" > "$OUT/$name.stdout" 2> "$OUT/$name.stderr" \
    || { echo "$name failed:"; cat "$OUT/$name.stderr"; return 1; }
  read -r secs rss user sys < <(tail -1 "$OUT/$name.time")
  echo "$name $secs $rss $(stat -c %s "$out") $user $sys" >> "$OUT/results.txt"
}
: > "$OUT/results.txt"
: > "$OUT/load.txt"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS: $(uptime)" | tee -a "$OUT/load.txt" >&2
  run floor-wc-l "$OUT/floor-wc-l.stdout" wc -l "$CSV"
  run parquetize "$OUT/parquetize.parquet" "$PQ" "$CSV" --table charges --format pg-csv --schema-sql "$SCHEMA" \
    --numeric-as 'decimal(38,20)' --out "$OUT" --name parquetize.parquet
  run parquetize-string "$OUT/parquetize-string.parquet" "$PQ" "$CSV" --table charges --format pg-csv --schema-sql "$SCHEMA" \
    --numeric-as string --out "$OUT" --name parquetize-string.parquet
  run parquetize-gzip "$OUT/parquetize-gzip.parquet" "$PQ" "$CSV" --table charges --format pg-csv --schema-sql "$SCHEMA" \
    --numeric-as string --compression gzip --compression-level 6 --out "$OUT" --name parquetize-gzip.parquet
  run duckdb-auto "$OUT/duckdb-auto.parquet" python3 "$ROOT/bench/parquetize/peers.py" duckdb-auto "$CSV" "$OUT/duckdb-auto.parquet"
  [[ $round == 1 ]] && run duckdb "$OUT/duckdb.parquet" python3 "$ROOT/bench/parquetize/peers.py" duckdb "$CSV" "$OUT/duckdb.parquet"
  run pyarrow "$OUT/pyarrow.parquet" python3 "$ROOT/bench/parquetize/peers.py" pyarrow "$CSV" "$OUT/pyarrow.parquet"
done
echo "after: $(uptime)" | tee -a "$OUT/load.txt" >&2

# ---- report -------------------------------------------------------------------
echo
echo "charges: $ROWS rows, $BYTES bytes of CSV; $(nproc) cores; $(uname -srm); commit $(git -C "$ROOT" rev-parse --short HEAD)"
cat "$OUT/load.txt"
python3 - "$OUT/results.txt" "$ROWS" "$BYTES" <<'PY'
import statistics, sys
rows, size = int(sys.argv[2]), int(sys.argv[3])
runs = {}
for line in open(sys.argv[1]):
    name, secs, rss_kb, out, user, sys_s = line.split()
    runs.setdefault(name, []).append((float(secs), int(rss_kb), int(out), float(user) + float(sys_s)))
med = {n: statistics.median(r[0] for r in v) for n, v in runs.items()}
print(f"{'tool':18} {'runs':>4} {'median s':>8} {'min-max s':>13} {'cpu s':>6} {'MB/s':>6} {'output':>11} {'peak RSS':>9}"
      f" {'vs duckdb-auto':>14} {'vs pyarrow':>10}")
for name, v in runs.items():
    s = med[name]
    lo, hi = min(r[0] for r in v), max(r[0] for r in v)
    cpu = statistics.median(r[3] for r in v)
    rss = max(r[1] for r in v) / 1024
    out = v[-1][2] if name != "floor-wc-l" else 0
    print(f"{name:18} {len(v):4d} {s:8.2f} {lo:6.2f}-{hi:6.2f} {cpu:6.2f} {size / s / 1e6:6.1f} {out:11d} {rss:7.0f}MB"
          f" {med['duckdb-auto'] / s:13.2f}x {med['pyarrow'] / s:9.2f}x")
PY
echo
echo "values differing from parquetize's exact output (which the test suite checks against PostgreSQL):"
python3 "$ROOT/bench/parquetize/check_exact.py" "$OUT/exactness.ndjson" "$OUT/parquetize-string.parquet" \
  "duckdb-auto=$OUT/duckdb-auto.parquet" "duckdb=$OUT/duckdb.parquet" "pyarrow=$OUT/pyarrow.parquet"
