#!/usr/bin/env bash
# Where restore's time goes on many small files: ROUNDS rounds of restore,
# restore with fsync made a no-op (eatmydata) and the aws CLI, interleaved
# so load from other work hits all three alike, and the same restore under
# `strace -f -T -e trace=fsync`: how long each fsync held its thread.
# Uses the data bench/restore/run.sh generates (or generates it the same way).
#
#   ROUNDS=3 bench/restore/diag.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DATA=$ROOT/bench/data/restore
SMALL_N=${SMALL_N:-2000}
SMALL_KB=${SMALL_KB:-20}
ROUNDS=${ROUNDS:-3}
SRC=$DATA/src/small-${SMALL_N}x${SMALL_KB}k
[ -f "$SRC.done" ] || { python3 "$ROOT/bench/restore/gen_small.py" "$SRC" "$SMALL_N" "$SMALL_KB"; touch "$SRC.done"; }
cargo build --release -p restore -p manifest -p ship >&2
RESTORE=$ROOT/target/release/restore

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
moto_server -H 127.0.0.1 -p "$PORT" > "$DATA/diag-server.log" 2>&1 &
SERVER_PID=$!
OUT=$DATA/diag-out
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$OUT"' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
aws s3api create-bucket --bucket bench >/dev/null
rm -f "$SRC"/manifest*
"$ROOT/target/release/manifest" --root "$SRC" 2>/dev/null |
  "$ROOT/target/release/ship" s3://bench/small --jobs 16 > /dev/null 2> "$DATA/diag-ship.err"

one() { # name cmd...
  local name=$1; shift
  rm -rf "$OUT"; mkdir -p "$OUT"
  sync; sleep 1
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f '%e %M' -o "$DATA/diag-time" "$@" > /dev/null 2>&1 || echo "$name failed" >&2
  read -r secs rss < <(tail -n 1 "$DATA/diag-time")
  awk -v n="$name" -v s="$secs" -v r="$rss" -v l="$load" \
    'BEGIN { printf "%-16s %7.2f s  peak RSS %6.1f MB  load %s\n", n, s, r / 1024, l }'
}

traced() { # the same restore under strace -T: how long each fsync held its thread
  rm -rf "$OUT"; mkdir -p "$OUT"; sync; sleep 1
  /usr/bin/time -f '%e %M' -o "$DATA/diag-time" \
    strace -f -T -e trace=fsync -o "$DATA/diag-strace.txt" \
    "$RESTORE" get s3://bench/small "$OUT/t" > /dev/null 2>&1
  printf '%-16s %7.2f s  ' restore-strace "$(tail -n 1 "$DATA/diag-time" | cut -d' ' -f1)"
  grep -o '<[0-9.]*>$' "$DATA/diag-strace.txt" | tr -d '<>' | sort -g |
    awk '{ v[NR] = $1; s += $1; if ($1 > 0.01) { big++; bs += $1 } if ($1 > 0.1) huge++ }
      END { printf "fsync: %d calls, %.2f s in all; median %.1f ms, p99 %.1f ms, max %.0f ms; %d over 10 ms (%.2f s), %d over 100 ms\n",
        NR, s, v[int(NR / 2)] * 1000, v[int(NR * 0.99)] * 1000, v[NR] * 1000, big, bs, huge }'
}

for r in $(seq "$ROUNDS"); do
  echo "round $r"
  one restore "$RESTORE" get s3://bench/small "$OUT/t"
  one restore-nosync eatmydata "$RESTORE" get s3://bench/small "$OUT/t"
  one aws-cp aws s3 cp --recursive --quiet s3://bench/small "$OUT/t"
  traced
done
