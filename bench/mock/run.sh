#!/usr/bin/env bash
# Benchmark of compliance-mock: start-up time and peak RSS for a workspace of
# USERS users over DAYS days plus one HUGE_MB conversation, then the time to
# serve every conversation page at limit=500 (MB/s, pages/s) and the page
# holding the huge record. Peer: python3 -m http.server serving the very same
# page bytes from files (a static server: the floor a mock can hope for).
#
#   bench/mock/run.sh                 # USERS=3000 DAYS=30 HUGE_MB=200
#   USERS=500 DAYS=10 HUGE_MB=50 bench/mock/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
USERS=${USERS:-3000} DAYS=${DAYS:-30} HUGE_MB=${HUGE_MB:-200}
DATA=$ROOT/bench/data/mock
WS=11bf645e-d5e8-4478-a70e-e5742ded2436
rm -rf "$DATA"; mkdir -p "$DATA/pages"
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

(cd "$ROOT" && cargo build --release -q -p compliance-mock)
BIN=$ROOT/target/release/compliance-mock

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

t0=$(date +%s.%N)
/usr/bin/time -f '%e %M' -o "$DATA/mock.time" "$BIN" --port 0 --generate-users "$USERS" --generate-days "$DAYS" \
  --start 2026-10-01 --seed 7 --short-pages 0 --huge-conversation-mb "$HUGE_MB" >"$DATA/mock.out" 2>"$DATA/mock.err" &
PIDS+=($!)
until [[ -s $DATA/mock.out ]]; do sleep 0.05; done
t1=$(date +%s.%N)
MOCK=$(jq -r .listening "$DATA/mock.out")
MOCK_PID=$(pgrep -P "${PIDS[0]}")   # the mock, child of /usr/bin/time
startup=$(echo "$t1 - $t0" | bc)
echo "mock: $(cat "$DATA/mock.err")" >&2

# Every page at limit=500; the page holding the huge record is timed apart.
after="" pages=0 bytes=0 secs=0 huge_line=""
while :; do
  q="limit=500${after:+&after=$after}"
  out=$DATA/pages/p$pages.json
  read -r code size t < <(curl -s -o "$out" -w '%{http_code} %{size_download} %{time_total}\n' \
    -H 'Authorization: Bearer test-key' "$MOCK/v1/compliance/workspaces/$WS/conversations?$q")
  [[ $code == 200 ]] || { echo "page $pages: HTTP $code" >&2; exit 1; }
  if (( size > HUGE_MB * 1000000 / 2 && HUGE_MB > 0 )); then
    huge_line="$size $t"; huge_file=$out
  else
    pages=$((pages + 1)); bytes=$((bytes + size)); secs=$(echo "$secs + $t" | bc)
  fi
  more=$(jq -r .has_more "$out"); after=$(jq -r .last_id "$out")
  [[ $more == true ]] || break
  [[ $out == "${huge_file:-}" ]] || rm -f "$out"
  [[ $pages -lt 100 ]] || { echo "more than 100 pages; stopping" >&2; break; }
done
# Keep one ordinary full page for the peer.
curl -s -o "$DATA/pages/full.json" -H 'Authorization: Bearer test-key' \
  "$MOCK/v1/compliance/workspaces/$WS/conversations?limit=500"
sleep 0.5
MOCK_RSS_KB=$(ps -o rss= -p "$MOCK_PID" 2>/dev/null | tr -d ' ' || echo "?")
# Stop the mock itself so /usr/bin/time lives to write the peak RSS.
kill "$MOCK_PID"; wait "${PIDS[0]}" 2>/dev/null || true; PIDS=()
peak_kb=$(tail -1 "$DATA/mock.time" | awk '{print $2}')

# Peer: a static file server with the same bytes.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$DATA/pages" && exec python3 -m http.server "$PORT" --bind 127.0.0.1 >/dev/null 2>&1) &
PIDS+=($!)
until curl -s -o /dev/null "http://127.0.0.1:$PORT/full.json"; do sleep 0.1; done
pbytes=0 psecs=0
for _ in $(seq "$pages"); do
  read -r size t < <(curl -s -o /dev/null -w '%{size_download} %{time_total}\n' "http://127.0.0.1:$PORT/full.json")
  pbytes=$((pbytes + size)); psecs=$(echo "$psecs + $t" | bc)
done
phuge=""
if [[ -n ${huge_file:-} ]]; then
  phuge=$(curl -s -o /dev/null -w '%{size_download} %{time_total}' "http://127.0.0.1:$PORT/$(basename "$huge_file")")
fi

mbps() { echo "scale=1; $1 / 1000000 / $2" | bc; }
echo
echo "data: $USERS users, $DAYS days, huge record $HUGE_MB MB"
echo "mock start-up (generation + indexes): ${startup}s; peak RSS $((peak_kb / 1024)) MB (RSS after serving: $(( ${MOCK_RSS_KB:-0} / 1024 )) MB)"
echo "conversation pages (limit=500): $pages pages, $((bytes / 1000000)) MB in ${secs}s = $(mbps "$bytes" "$secs") MB/s, $(echo "scale=1; $pages / $secs" | bc) pages/s"
echo "peer python http.server, same number of full pages: $((pbytes / 1000000)) MB in ${psecs}s = $(mbps "$pbytes" "$psecs") MB/s"
echo "ratio mock/peer throughput: $(echo "scale=2; ($bytes / $secs) / ($pbytes / $psecs)" | bc)"
if [[ -n $huge_line ]]; then
  read -r hs ht <<<"$huge_line"; read -r ps pt <<<"$phuge"
  echo "huge page: $((hs / 1000000)) MB in ${ht}s = $(mbps "$hs" "$ht") MB/s; peer: $(mbps "$ps" "$pt") MB/s"
fi
