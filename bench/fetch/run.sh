#!/usr/bin/env bash
# Benchmark of fetch (issue 3), in one run:
#  1. pacing: pull PAGES list pages under a 50/min limit with the mock's
#     clock sped up SCALE times; wall time as a ratio of the rate-limit
#     floor (pages / rate), and 429s provoked. Peer: the seed systems'
#     Python client that sleeps 1.2 s (scaled the same way) after each call.
#  2. parse throughput of a 500-conversation page of ~5 KB records (MB/s,
#     one core). Peers: Python json.loads, jq.
#  3. peak RSS of fetch on a page holding one HUGE_MB conversation.
#     Goal: under 3 x HUGE_MB + 64 MB. Peer: the Python client (json.loads).
#
# Environment: PAGES (2000), SCALE (20: a 3 s minute), HUGE_MB (200), ITER (100).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PAGES=${PAGES:-2000}
SCALE=${SCALE:-20}
HUGE_MB=${HUGE_MB:-200}
ITER=${ITER:-100}
DATA=$ROOT/bench/data/fetch
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$DATA"
command -v /usr/bin/time >/dev/null || { echo "install GNU time (apt-get install time)" >&2; exit 2; }

cargo build --release -q -p fetch -p compliance-mock --bins --examples
FETCH=$ROOT/target/release/fetch
MOCK=$ROOT/target/release/compliance-mock
WS=11bf645e-d5e8-4478-a70e-e5742ded2436
export OPENAI_API_KEY=test-key WORKSPACE_ID=$WS

start_mock() { # args...; sets URL
  "$MOCK" --port 0 "$@" > "$WORK/mock.out" 2> "$WORK/mock.err" &
  # A loaded machine can take a while to generate a 200 MB record.
  for _ in $(seq 600); do [[ -s $WORK/mock.out ]] && break; sleep 0.1; done
  [[ -s $WORK/mock.out ]] || { echo "the mock did not start: $(tail -3 "$WORK/mock.err")" >&2; exit 2; }
  URL=$(head -1 "$WORK/mock.out" | jq -r .listening)
}
stop_mock() { kill %% 2>/dev/null || true; wait 2>/dev/null || true; }
count_429() { curl -s "$URL/_mock/requests" | jq -s '[.[] | select(.status == 429)] | length'; }

echo "== machine: $(nproc) cores, $(uname -srm); load: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. pacing ----------------------------------------------------------
RATE=50
CLIENT_RATE=$((RATE * ${SCALE%.*}))   # per real minute
FLOOR=$(python3 -c "print($PAGES / $RATE * 60 / $SCALE)")
echo "== 1. pacing: $PAGES pages (users, limit=1), mock limit $RATE/min, clock x$SCALE, floor ${FLOOR}s"
start_mock --generate-users "$PAGES" --generate-days 1 --rate-limit $RATE --time-scale "$SCALE" --short-pages 0
/usr/bin/time -f '%e %M' -o "$WORK/t" "$FETCH" users --limit 1 --rate-limit $CLIENT_RATE \
  --base-url "$URL/v1" --state-dir "$WORK/state" --no-resume --summary "$WORK/pace.json" 2>/dev/null >"$WORK/users.ndjson"
read -r fw frss < "$WORK/t"
fpages=$(jq .pages "$WORK/pace.json"); f429=$(count_429)
stop_mock
start_mock --generate-users "$PAGES" --generate-days 1 --rate-limit $RATE --time-scale "$SCALE" --short-pages 0
/usr/bin/time -f '%e %M' -o "$WORK/t" python3 bench/fetch/seed_client.py --count-only --scale "$SCALE" \
  "$URL/v1/compliance/workspaces/$WS/users" 2>/dev/null
read -r pw prss < "$WORK/t"
p429=$(count_429)
stop_mock
python3 - "$fw" "$pw" "$FLOOR" "$fpages" "$f429" "$p429" <<'PY'
import sys
fw, pw, floor = map(float, sys.argv[1:4]); pages, f429, p429 = sys.argv[4:7]
print(f"fetch      : {pages} pages in {fw:.2f}s = {fw/floor:.3f}x floor, {f429} x 429  (goal <= 1.05x, 0 x 429)")
print(f"seed python: {pages} pages in {pw:.2f}s = {pw/floor:.3f}x floor, {p429} x 429")
print(f"seed / fetch wall time: {pw/fw:.2f}x")
PY

# ---- 2. parse throughput ----------------------------------------------
echo "== 2. parse throughput: 500 conversations of ~5 KB in one page"
if [[ ! -s $DATA/page500.json ]]; then
  python3 bench/gen/gen_conversations.py --records 500 --text-scale 1.25 --seed 3 -o "$DATA/conv500.ndjson"
  python3 - "$DATA" <<'PY'
import json, sys
d = sys.argv[1]
lines = open(f"{d}/conv500.ndjson", "rb").read().splitlines()
last = json.loads(lines[-1])["id"].encode()
open(f"{d}/page500.json", "wb").write(b'{"object":"list","data":[' + b",".join(lines) + b'],"has_more":false,"last_id":"' + last + b'"}')
PY
fi
taskset -c 0 "$ROOT/target/release/examples/parse_page" "$DATA/page500.json" "$ITER"
taskset -c 0 python3 bench/fetch/parse_peer.py "$DATA/page500.json" 10
bytes=$(stat -c %s "$DATA/page500.json")
/usr/bin/time -f '%e' -o "$WORK/t" taskset -c 0 jq -c '.data[] | [.id, .last_active_at, .messages.has_more]' "$DATA/page500.json" >/dev/null
jt=$(cat "$WORK/t")
python3 -c "import json; print(json.dumps({'mode': 'jq -c .data[] (one page)', 'seconds': $jt, 'mb_per_s': round($bytes / max($jt, 0.001) / 1e6, 1)}))"

# ---- 3. peak RSS on a huge record -----------------------------------------
echo "== 3. peak RSS: one page holding a ${HUGE_MB} MB conversation"
start_mock --generate-users 5 --generate-days 1 --huge-conversation-mb "$HUGE_MB"
/usr/bin/time -f '%e %M' -o "$WORK/t" "$FETCH" conversations --base-url "$URL/v1" \
  --state-dir "$WORK/state" --no-resume --rate-limit 100000 2>/dev/null >"$WORK/huge.ndjson"
read -r hw hrss < "$WORK/t"
biggest=$(python3 -c "import sys; print(max(len(l) for l in open(sys.argv[1], 'rb')))" "$WORK/huge.ndjson")
/usr/bin/time -f '%e %M' -o "$WORK/t" python3 bench/fetch/seed_client.py --count-only --limit 500 --scale 1000000 \
  "$URL/v1/compliance/workspaces/$WS/conversations" 2>/dev/null
read -r qw qrss < "$WORK/t"
stop_mock
python3 - "$hrss" "$qrss" "$biggest" "$HUGE_MB" "$hw" "$qw" <<'PY'
import sys
f, p, big, huge, fw, pw = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
goal = 3 * big / 2**20 + 64
print(f"largest record written: {big / 2**20:.1f} MiB")
print(f"fetch      : peak RSS {f / 1024:.0f} MiB in {fw:.1f}s  (goal < 3 x largest + 64 = {goal:.0f} MiB: {'met' if f / 1024 < goal else 'NOT met'})")
print(f"seed python: peak RSS {p / 1024:.0f} MiB in {pw:.1f}s")
PY
