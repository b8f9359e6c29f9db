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
#
# Only partition against the floor, several times (the Python script and
# DuckDB take minutes and do not move the floor ratio):
#
#   PEERS=0 ROUNDS=5 bench/partition/run.sh
#
# Each round runs partition (seed layout) and then the floor on the tree it
# wrote, prints the load average before each, wall time, CPU time (user +
# system) and peak RSS, the floor's ratio to partition in wall and in CPU
# time, and then deletes both trees (about 1.5 GB each) before the next
# round. The summary gives the median and the spread, (max - min) / median.
# On a machine shared with other work, CPU time is the steadier figure.
# After deleting, a round waits SETTLE seconds (default 60): this ext4 (no
# journal) skips recently freed inodes when it allocates new ones, which
# made file creation right after a large delete several times slower.
#
# FRESH_FS=1 (needs root) gives each round two new, empty file systems
# instead: partition writes into one and the floor into the other, each an
# ext4 without a journal (as this machine's disk) made by mkfs.ext4 on a
# sparse image under bench/data, attached with losetup --direct-io=on (so
# the page cache holds each page once). No round then follows a delete.
# Before each contender the page cache is dropped and the input read back
# in (untimed), so both start with the same free memory: on this VM a
# contender that ran when memory was full of the last one's pages paid up
# to twice the system time for the same files.
#
#   FRESH_FS=1 PEERS=0 ROUNDS=5 bench/partition/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE_MB=${SIZE_MB:-1024}
DATA=bench/data
IN=$DATA/conv_${SIZE_MB}m.ndjson
mkdir -p "$DATA"

[ -x /usr/bin/time ] || { echo "installing time" >&2; apt-get install -y -qq time >/dev/null; }
PEERS=${PEERS:-1}
ROUNDS=${ROUNDS:-5}
[ "$PEERS" = 0 ] || python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install -q duckdb

if [ ! -s "$IN" ]; then
  echo "generating $IN" >&2
  python3 bench/gen/gen_conversations.py --size-mb "$SIZE_MB" --users 3000 --days 60 -o "$IN"
fi
cargo build --release -p partition --bin partition --example fs_floor >&2
BIN=${CARGO_TARGET_DIR:-target}/release/partition
FLOOR=${CARGO_TARGET_DIR:-target}/release/examples/fs_floor
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

if [ "$PEERS" = 0 ]; then
  out=$DATA/out_partition
  floor_out=$DATA/out_floor
  rounds=$DATA/floor_rounds.tsv
  : >"$rounds"
  . bench/fresh_fs.sh
  if [ "${FRESH_FS:-0}" = 1 ]; then
    FS_A=$DATA/fresh_a FS_B=$DATA/fresh_b
    out=$FS_A/out_partition floor_out=$FS_B/out_floor
    trap 'drop_fs "$FS_A" "$DATA/fresh_a.img"; drop_fs "$FS_B" "$DATA/fresh_b.img"; rm -rf "$TRASH"' EXIT
  fi
  for round in $(seq 1 "$ROUNDS"); do
    if [ "${FRESH_FS:-0}" = 1 ]; then
      fresh_fs "$DATA/fresh_a.img" "$FS_A" $((bytes * 4))
      fresh_fs "$DATA/fresh_b.img" "$FS_B" $((bytes * 4))
      sync
    elif [ -e "$out" ] || [ -e "$floor_out" ]; then
      rm -rf "$out" "$floor_out"
      sync
      sleep "${SETTLE:-60}"
    fi
    # Two trees of about 1.5x the input each must fit, with room to spare
    # for whoever else uses this disk.
    free_kb=$(df -k --output=avail "$DATA" | tail -1)
    if [ "$free_kb" -lt $((bytes / 1024 * 4)) ]; then
      echo "round $round: only $((free_kb / 1024)) MiB free under $DATA, need $((bytes / 1048576 * 4)); stopping" >&2
      break
    fi
    if [ "${FRESH_FS:-0}" = 1 ]; then
      sync; echo 3 > /proc/sys/vm/drop_caches; cat "$IN" > /dev/null
    fi
    load_p=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -f '%e %U %S %M' -o "$DATA/round.time" \
      "$BIN" --out "$out" "$IN" >/dev/null 2>"$DATA/partition-seed.stderr"
    read -r p_wall p_user p_sys p_kb <"$DATA/round.time"
    sync
    if [ "${FRESH_FS:-0}" = 1 ]; then
      echo 3 > /proc/sys/vm/drop_caches
    fi
    load_f=$(cut -d' ' -f1 /proc/loadavg)
    floor_json=$("$FLOOR" "$out" "$floor_out" 2)
    files=$(find "$out" -type f | wc -l)
    python3 - "$floor_json" "$round" "$load_p" "$p_wall" "$p_user" "$p_sys" "$p_kb" "$load_f" "$files" >>"$rounds" <<'PY'
import json, sys
f = json.loads(sys.argv[1])
rnd, load_p, p_wall, p_user, p_sys, p_kb, load_f, files = sys.argv[2:]
p_cpu = float(p_user) + float(p_sys)
f_wall, f_cpu = f["write_and_sync_seconds"], f["user_seconds"] + f["sys_seconds"]
assert int(files) == f["files"], (files, f["files"])
print("\t".join(str(x) for x in (rnd, load_p, p_wall, f"{p_cpu:.2f}", int(p_kb) // 1024,
      load_f, f"{f_wall:.2f}", f"{f_cpu:.2f}", f"{f_wall / float(p_wall):.3f}",
      f"{f_cpu / p_cpu:.3f}", files)))
PY
    tail -1 "$rounds" >&2
  done
  echo
  where="the disk under $DATA"; [ "${FRESH_FS:-0}" = 1 ] && where="a fresh ext4 (no journal) per contender and round"
  echo "input: $IN ($mib MiB, $(wc -l <"$IN") records); partition seed layout vs the floor (2 threads, one syncfs), on $where"
  python3 - "$rounds" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
print(f"{'round':>5} {'load':>5} {'part s':>7} {'part CPU':>8} {'RSS MB':>6} {'load':>5} {'floor s':>7} {'floor CPU':>9} {'floor/part':>10} {'CPU ratio':>9} {'files':>6}")
for r in rows:
    print(f"{r[0]:>5} {r[1]:>5} {r[2]:>7} {r[3]:>8} {r[4]:>6} {r[5]:>5} {r[6]:>7} {r[7]:>9} {r[8]:>10} {r[9]:>9} {r[10]:>6}")
for name, col in (("partition wall s", 2), ("partition CPU s", 3), ("floor wall s", 6),
                  ("floor CPU s", 7), ("floor/partition (wall)", 8), ("floor/partition (CPU)", 9)):
    v = [float(r[col]) for r in rows]
    med = statistics.median(v)
    print(f"{name:24s} median {med:7.3f}  min {min(v):7.3f}  max {max(v):7.3f}  spread {(max(v) - min(v)) / med * 100:5.1f} %")
PY
  rm -rf "$out" "$floor_out"
  exit 0
fi

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
