#!/usr/bin/env bash
# Benchmark: partition vs. the straightforward Python script vs. DuckDB's
# COPY ... PARTITION_BY, on the same generated conversations, in one run.
#
#   bench/partition/run.sh            # 1024 MiB of input (the issue's size)
#   SIZE_MB=200 bench/partition/run.sh
#
# PEER_TIMEOUT (seconds, default 1800) stops a contender that takes longer
# (reported as "timeout" with the files it had written).
#
# It also measures the file-system floor (partition/examples/fs_floor.rs):
# creating the very tree partition wrote, from memory, with no parsing and
# no renames, on 2 threads, then one syncfs. No tool writing this layout on
# this disk can beat it, so "floor x python" bounds every ratio above.
# Prints wall time, throughput (input MiB/s), ratio to the Python script,
# and peak RSS for each. Needs python3, /usr/bin/time, and duckdb for
# Python (pip install duckdb; installed here if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE_MB=${SIZE_MB:-1024}
DATA=bench/data
IN=$DATA/conv_${SIZE_MB}m.ndjson
mkdir -p "$DATA"

[ -x /usr/bin/time ] || { echo "installing time" >&2; apt-get install -y -qq time >/dev/null; }
python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install -q duckdb

if [ ! -s "$IN" ]; then
  echo "generating $IN" >&2
  python3 bench/gen/gen_conversations.py --size-mb "$SIZE_MB" --users 3000 --days 60 -o "$IN"
fi
cargo build --release -p partition --bin partition --example fs_floor >&2
BIN=target/release/partition
FLOOR=target/release/examples/fs_floor
bytes=$(stat -c %s "$IN")
mib=$(awk -v b="$bytes" 'BEGIN{printf "%.1f", b/1048576}')

# Warm the page cache so the first contender does not pay for the disk read.
cat "$IN" > /dev/null

PEER_TIMEOUT=${PEER_TIMEOUT:-1800}
# Earlier outputs are moved aside, not deleted, before measuring: this ext4
# (no journal) skips inodes freed in the last 30-300 s when allocating, and
# scanning past ~100,000 just-deleted ones made file creation several times
# slower for whichever contender ran next. They are deleted at the end.
TRASH=$DATA/trash.$$
mkdir -p "$TRASH"
trap 'rm -rf "$TRASH"' EXIT
measure() { # name outdir command...
  local name=$1 out=$2; shift 2
  if [ -e "$out" ]; then mv "$out" "$TRASH/$name"; fi
  sync
  local tf
  tf=$(mktemp)
  local status=ok
  /usr/bin/time -f '%e %M' -o "$tf" timeout "$PEER_TIMEOUT" "$@" >/dev/null 2>"$DATA/$name.stderr" || status=failed
  local secs kb
  read -r secs kb < <(grep -E '^[0-9.]+ [0-9]+$' "$tf" | tail -1)
  rm -f "$tf"
  if [ "$status" = failed ] && [ "$(awk -v s="$secs" -v t="$PEER_TIMEOUT" 'BEGIN{print (s >= t - 1)}')" = 1 ]; then
    status=timeout
  fi
  local files
  files=$(find "$out" -type f | wc -l)
  echo "$name $secs $kb $files $status"
}

results=()
results+=("$(measure partition-seed "$DATA/out_partition" "$BIN" --out "$DATA/out_partition" "$IN")")
# The floor, on the tree just written (its files are read in first, untimed).
floor_out=$DATA/out_floor
if [ -e "$floor_out" ]; then mv "$floor_out" "$TRASH/floor"; fi
sync
floor_json=$("$FLOOR" "$DATA/out_partition" "$floor_out" 2)
results+=("$(measure partition-hive "$DATA/out_partition_hive" "$BIN" --out "$DATA/out_partition_hive" --layout hive "$IN")")
results+=("$(measure python-naive "$DATA/out_python" python3 bench/partition/naive_partition.py "$IN" "$DATA/out_python")")
results+=("$(measure duckdb "$DATA/out_duckdb" python3 bench/partition/duckdb_partition.py "$IN" "$DATA/out_duckdb")")

py_secs=$(printf '%s\n' "${results[@]}" | awk '$1=="python-naive"{print $2}')
py_kb=$(printf '%s\n' "${results[@]}" | awk '$1=="python-naive"{print $3}')
echo
echo "input: $IN ($mib MiB, $(wc -l < "$IN") records)"
printf '%-18s %9s %10s %12s %12s %14s %8s %s\n' tool seconds MiB/s "x python" "peak RSS MB" "RSS/python" files status
for r in "${results[@]}"; do
  read -r name secs kb files status <<<"$r"
  awk -v n="$name" -v s="$secs" -v k="$kb" -v f="$files" -v m="$mib" -v ps="$py_secs" -v pk="$py_kb" -v st="$status" \
    'BEGIN{printf "%-18s %9.2f %10.1f %12.1f %12.0f %14.3f %8d %s\n", n, s, m/s, ps/s, k/1024, k/pk, f, st}'
done
echo
echo "file-system floor (create the seed tree from memory, 2 threads): $floor_json"
python3 - "$floor_json" "$py_secs" "$mib" <<'PY'
import json, sys
f = json.loads(sys.argv[1]); py = float(sys.argv[2]); mib = float(sys.argv[3])
for k, label in (("write_seconds", "create + write"), ("write_and_sync_seconds", "create + write + syncfs")):
    s = f[k]
    print(f"  {label:26s} {s:7.2f} s  {mib / s:7.1f} MiB/s  = {py / s:5.1f}x python (the most any tool can reach)")
PY
