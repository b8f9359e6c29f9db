#!/usr/bin/env bash
# Benchmark: `restore get` against `aws s3 cp --recursive` + `sha256sum -c`
# (and boto3's download_file) on the same archive in a local S3 server (moto),
# built by the real tools: files on disk -> manifest --root -> ship.
#
#   bench/restore/run.sh                               # 2,000 x ~20 KB; 4 x 200 MB; 200 vs 800 MB
#   SMALL_N=500 BIG_MB=64 MEM_MB="64 256" bench/restore/run.sh   # a quicker run
#
# Workloads:
#   small  SMALL_N files of ~SMALL_KB KB (user-NNN/2026/11/DD/conversations.json)
#   big    BIG_N files of BIG_MB MB, shipped multipart (16 MiB parts)
#   memory one object of each size in MEM_MB, restored alone: peak RSS must not grow
# Contenders (same data, same server, one run):
#   restore      restore get s3://… DIR --jobs JOBS (verifies inline: manifest
#                SHA-256, x-amz-meta-sha256, S3's checksum; fsync + rename)
#   aws          aws s3 cp --recursive, then sha256sum -c --strict (its honest
#                equivalent of the verification), timed apart and summed
#   boto3-loop   download_file in a plain loop, then sha256sum -c
#   boto3-Nthr   download_file from a pool of JOBS threads, then sha256sum -c
#   floor        curl -Z (C, parallel JOBS, SigV4, bodies to /dev/null): what moto
#                itself can serve. GET once per object (the aws pattern), and
#                HEAD once per object (restore also sends a HEAD per object).
# Prints seconds, MB/s, files/s, peak RSS (/usr/bin/time -f '%e %M') and the
# ratios. Data lives in bench/data/restore/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/bench/restore
DATA=$ROOT/bench/data/restore
SMALL_N=${SMALL_N:-2000}
SMALL_KB=${SMALL_KB:-20}
BIG_N=${BIG_N:-4}
BIG_MB=${BIG_MB:-200}
MEM_MB=${MEM_MB:-200 800}
JOBS=${JOBS:-8}
mkdir -p "$DATA"

# --- tools ---------------------------------------------------------------
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
command -v aws >/dev/null || python3 -m pip install -q awscli
command -v moto_server >/dev/null || python3 -m pip install -q 'moto[server]'
python3 -c 'import boto3' 2>/dev/null || python3 -m pip install -q boto3
command -v pyenv >/dev/null && pyenv rehash || true
# eatmydata (fsync as a no-op) only for the diagnostic row "restore-nosync".
command -v eatmydata >/dev/null ||
  { apt-get install -y -qq eatmydata >/dev/null 2>&1 || true; }

cargo build --release -p restore -p manifest -p ship >&2
RESTORE=$ROOT/target/release/restore
MANIFEST=$ROOT/target/release/manifest
SHIP=$ROOT/target/release/ship

# --- data ----------------------------------------------------------------
gen_small() {
  local dir=$DATA/src/small-${SMALL_N}x${SMALL_KB}k
  if [ ! -f "$dir.done" ]; then
    rm -rf "$dir"
    python3 "$HERE/gen_small.py" "$dir" "$SMALL_N" "$SMALL_KB"
    touch "$dir.done"
  fi
  echo "$dir"
}
gen_big() { # n mb name
  local dir=$DATA/src/$3-$1x$2m
  if [ ! -f "$dir.done" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    for i in $(seq 1 "$1"); do
      head -c $(($2 * 1000 * 1000)) /dev/urandom > "$dir/part-$i.bin"
    done
    touch "$dir.done"
  fi
  echo "$dir"
}
SMALL=$(gen_small)
BIG=$(gen_big "$BIG_N" "$BIG_MB" big)
declare -A MEMSRC
for mb in $MEM_MB; do
  if [ "$mb" = "$BIG_MB" ]; then MEMSRC[$mb]=$BIG; else MEMSRC[$mb]=$(gen_big 1 "$mb" mem); fi
done

# --- server --------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
EP=http://127.0.0.1:$PORT
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL=$EP
moto_server -H 127.0.0.1 -p "$PORT" > "$DATA/server.log" 2>&1 &
SERVER_PID=$!
OUT=$DATA/out
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$OUT"' EXIT
for _ in $(seq 100); do
  (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
  sleep 0.1
done
aws s3api create-bucket --bucket bench >/dev/null

# --- archive (the real tools) --------------------------------------------
archive() { # src prefix ship-flags...
  local src=$1 prefix=$2; shift 2
  rm -f "$src"/manifest* # a fresh manifest each run (the data is regenerated only when missing)
  local t0=$SECONDS
  "$MANIFEST" --root "$src" 2> "$DATA/manifest.$prefix.err" |
    "$SHIP" "s3://bench/$prefix" "$@" > "$DATA/ship.$prefix.out" 2> "$DATA/ship.$prefix.err"
  local n
  n=$(aws s3 ls --recursive "s3://bench/$prefix/" | wc -l)
  echo "archived $src -> s3://bench/$prefix: $n objects in $((SECONDS - t0)) s" >&2
}
archive "$SMALL" small --jobs 16
archive "$BIG" big --multipart-threshold 16MiB --part-size 16MiB --jobs 4
for mb in $MEM_MB; do
  [ "${MEMSRC[$mb]}" = "$BIG" ] ||
    archive "${MEMSRC[$mb]}" "mem$mb" --multipart-threshold 16MiB --part-size 16MiB
done

# --- runs ----------------------------------------------------------------
declare -A SECS RSS
files_of() { find "$1" -type f | wc -l; }
bytes_of() { du -sb --apparent-size "$1" | cut -f1; }

timed() { # tag cmd... : sets T_SECS T_RSS (kB); output in $DATA/{out,err}.tag
  local tag=$1; shift
  sync; sleep 1
  local rc=0
  /usr/bin/time -f '%e %M' -o "$DATA/time.$tag" "$@" > "$DATA/out.$tag" 2> "$DATA/err.$tag" || rc=$?
  [ $rc = 0 ] || echo "  $tag FAILED (exit $rc), see $DATA/err.$tag" >&2
  read -r T_SECS T_RSS < <(tail -n 1 "$DATA/time.$tag")
}

row() { # tool workload secs rss_kb files bytes note
  SECS[$1.$2]=$3; RSS[$1.$2]=$4
  awk -v t="$1" -v w="$2" -v s="$3" -v r="$4" -v n="$5" -v b="$6" -v note="$7" \
    -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
    printf "%-14s %-7s %8.2f s %8.1f MB/s %8.1f files/s  peak RSS %7.1f MB  load %5s  %s\n",
      t, w, s, b/1e6/s, n/s, r/1024, load, note }'
}

# sha256sum -c in a downloaded tree: sets C_SECS C_RSS, C_OK (lines OK)
check_tree() { # tag dir
  timed "$1.sha" sh -c "cd '$2' && sha256sum -c --strict manifest-sha256.txt"
  C_SECS=$T_SECS; C_RSS=$T_RSS
  C_OK=$(grep -c ': OK$' "$DATA/out.$1.sha" || true)
}

run_restore() { # tool wl prefix wantfiles [extra flags / env prefix via RESTORE_WRAP]
  local tool=$1 wl=$2 prefix=$3 want=$4; shift 4
  local dir=$OUT/$tool-$wl
  rm -rf "$dir"
  timed "$tool.$wl" ${RESTORE_WRAP:-} "$RESTORE" get "s3://bench/$prefix" "$dir" --jobs "${RJOBS:-$JOBS}" "$@"
  local got
  got=$(grep -c '"status":"downloaded"' "$DATA/out.$tool.$wl" || true)
  # Not timed: the tree restore wrote must pass sha256sum -c as well.
  (cd "$dir" && sha256sum -c --strict --quiet ${CHECK_FLAGS:-} manifest-sha256.txt > /dev/null 2>&1) &&
    local ok="sha256sum -c ok" || local ok="sha256sum -c FAILED"
  row "$tool" "$wl" "$T_SECS" "$T_RSS" "$(files_of "$dir")" "$(bytes_of "$dir")" \
    "downloaded+verified $got/$want objects; $ok"
}

run_peer() { # tool wl cmd... (the command downloads into $OUT/tool-wl; then sha256sum -c)
  local tool=$1 wl=$2; shift 2
  local dir=$OUT/$tool-$wl
  rm -rf "$dir"; mkdir -p "$dir"
  timed "$tool.$wl" "$@"
  local d_secs=$T_SECS d_rss=$T_RSS
  # Not in the total: what durability (restore fsyncs every file) would add,
  # measured straight after the download, before anything else syncs.
  local t0 t1 fs
  t0=$(date +%s.%N); sync -f "$dir"; t1=$(date +%s.%N)
  fs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  check_tree "$tool.$wl" "$dir"
  local total rss
  total=$(awk -v a="$d_secs" -v b="$C_SECS" 'BEGIN { printf "%.2f", a + b }')
  rss=$(( d_rss > C_RSS ? d_rss : C_RSS ))
  row "$tool" "$wl" "$total" "$rss" "$(files_of "$dir")" "$(bytes_of "$dir")" \
    "download $d_secs s + sha256sum -c $C_SECS s ($C_OK OK); syncfs after: $fs s"
}

floor() { # wl prefix src : curl -Z against moto, signed, bodies to /dev/null
  local wl=$1 prefix=$2 src=$3 cfg=$DATA/curl.$1
  (cd "$src" && find . -type f -printf '%P\n' | sort) |
    awk -v ep="$EP" -v p="$prefix" '{ printf "url = \"%s/bench/%s/%s\"\noutput = \"/dev/null\"\n", ep, p, $0 }' > "$cfg"
  local n b
  n=$(files_of "$src"); b=$(bytes_of "$src")
  local curl=(curl -sS --no-progress-meter -f -Z --parallel-max "$JOBS"
    --aws-sigv4 aws:amz:us-east-1:s3 --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY")
  timed "floor-get.$wl" "${curl[@]}" -w '%{http_code} %{size_download}\n' -K "$cfg"
  local got
  got=$(awk '$1 == 200 { n++; b += $2 } END { printf "%d responses 200, %d bytes", n, b }' "$DATA/out.floor-get.$wl")
  row floor-GET "$wl" "$T_SECS" "$T_RSS" "$n" "$b" "curl -Z, $JOBS in flight, GET only: $got"
  local g=$T_SECS
  timed "floor-head.$wl" "${curl[@]}" -I -K "$cfg"
  row floor-HEAD "$wl" "$T_SECS" "$T_RSS" "$n" 0 "curl -Z -I, HEAD only"
  SECS[floor-2req.$wl]=$(awk -v a="$g" -v b="$T_SECS" 'BEGIN { printf "%.2f", a + b }')
}

range_floor() { # wl prefix src : the aws CLI's ranged GETs (8 MiB), same curl client
  local wl=$1 prefix=$2 src=$3 cfg=$DATA/curl-range.$1 chunk=$((8 * 1024 * 1024))
  (cd "$src" && find . -type f -printf '%P %s\n' | sort) |
    awk -v ep="$EP" -v p="$prefix" -v c="$chunk" -v cred="$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" '{
      for (o = 0; o < $2; o += c) {
        e = o + c - 1; if (e >= $2) e = $2 - 1
        if (k++) print "next"
        printf "url = \"%s/bench/%s/%s\"\noutput = \"/dev/null\"\nrange = \"%d-%d\"\n", ep, p, $1, o, e
        printf "aws-sigv4 = \"aws:amz:us-east-1:s3\"\nuser = \"%s\"\nfail\n", cred
      } }' > "$cfg"
  local ranges
  ranges=$(grep -c '^range' "$cfg")
  timed "floor-range.$wl" curl -sS --no-progress-meter -Z --parallel-max 10 -K "$cfg"
  row floor-RANGES "$wl" "$T_SECS" "$T_RSS" "$(files_of "$src")" "$(bytes_of "$src")" \
    "curl -Z, 10 in flight, the $ranges ranged GETs of 8 MiB the aws CLI sends"
}

fsync_floor() { # wl src threads : durable writes only, as restore commits each file
  local dir=$OUT/fsync-$1-$3
  rm -rf "$dir"
  timed "fsync-floor.$1.$3" python3 "$HERE/fsync_floor.py" "$2" "$dir" "$3"
  local secs
  secs=$(awk '{ print $4 }' "$DATA/out.fsync-floor.$1.$3")
  SECS[fsync-$3.$1]=$secs
  row "fsync-floor-$3" "$1" "$secs" "$T_RSS" "$(files_of "$2")" "$(bytes_of "$2")" \
    "write+fsync+rename+fsync(dir) of every file from memory, $3 threads (no network)"
}

# The aws CLI without ranged GETs (one GET per object), for the big files:
# moto answers each range by reading the object, so ranged GETs cost it dearly.
printf '[default]\ns3 =\n  multipart_threshold = 8GB\n' > "$DATA/aws-1get.config"

echo "server: moto $(python3 -c 'import moto; print(moto.__version__)') at $EP (loopback); aws CLI $(aws --version 2>&1 | cut -d' ' -f1); boto3 $(python3 -c 'import boto3; print(boto3.__version__)'); curl $(curl --version | head -1 | cut -d' ' -f2)"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB RAM, $(uname -sr); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%F %T UTC')"
echo "objects (data files + manifest-sha256.txt + manifest.json): small $(files_of "$SMALL") objects, $(bytes_of "$SMALL") bytes; big $(files_of "$BIG") objects, $(bytes_of "$BIG") bytes; restore --jobs $JOBS"
echo

for wl in small big; do
  src=$SMALL; [ $wl = big ] && src=$BIG
  want=$(files_of "$src")
  run_restore restore "$wl" "$wl" "$want"
  run_peer aws "$wl" aws s3 cp --recursive --quiet "s3://bench/$wl" "$OUT/aws-$wl"
  run_peer boto3-loop "$wl" python3 "$HERE/boto3_get.py" "s3://bench/$wl" "$OUT/boto3-loop-$wl" 1
  run_peer "boto3-${JOBS}thr" "$wl" \
    python3 "$HERE/boto3_get.py" "s3://bench/$wl" "$OUT/boto3-${JOBS}thr-$wl" "$JOBS"
  floor "$wl" "$wl" "$src"
  if [ $wl = big ]; then
    run_peer aws-1GET "$wl" env AWS_CONFIG_FILE="$DATA/aws-1get.config" \
      aws s3 cp --recursive --quiet "s3://bench/$wl" "$OUT/aws-1GET-$wl"
    range_floor "$wl" "$wl" "$src"
  fi
  fsync_floor "$wl" "$src" 2
  fsync_floor "$wl" "$src" "$JOBS"
  if [ $wl = small ]; then
    RJOBS=32 run_restore restore-j32 "$wl" "$wl" "$want"
  fi
  if command -v eatmydata >/dev/null; then
    RESTORE_WRAP=eatmydata run_restore restore-nosync "$wl" "$wl" "$want"
  fi
  echo
done

echo "memory: one multipart object (16 MiB parts) restored alone"
for mb in $MEM_MB; do
  src=${MEMSRC[$mb]}
  if [ "$src" = "$BIG" ]; then
    prefix=big; printf 'part-1.bin\n' > "$DATA/only.$mb"
  else
    prefix=mem$mb; printf 'part-1.bin\n' > "$DATA/only.$mb"
  fi
  # part-1.bin and the prefix's two manifests; sha256sum -c of part-1.bin alone
  CHECK_FLAGS=--ignore-missing run_restore restore "${mb}MB" "$prefix" 3 --files "$DATA/only.$mb"
  dir=$OUT/aws-${mb}MB; rm -rf "$dir"
  timed "aws.${mb}MB" aws s3 cp --quiet "s3://bench/$prefix/part-1.bin" "$dir/part-1.bin"
  row aws "${mb}MB" "$T_SECS" "$T_RSS" 1 "$((mb * 1000 * 1000))" "aws s3 cp of the one object (no check)"
  rm -rf "$dir"
  timed "aws-1GET.${mb}MB" env AWS_CONFIG_FILE="$DATA/aws-1get.config" \
    aws s3 cp --quiet "s3://bench/$prefix/part-1.bin" "$dir/part-1.bin"
  row aws-1GET "${mb}MB" "$T_SECS" "$T_RSS" 1 "$((mb * 1000 * 1000))" "the same, one GET (no ranges)"
done
echo

for wl in small big; do
  peers=(aws boto3-loop "boto3-${JOBS}thr"); [ $wl = big ] && peers+=(aws-1GET)
  for peer in "${peers[@]}"; do
    awk -v w="$wl" -v p="$peer" -v a="${SECS[restore.$wl]}" -v b="${SECS[$peer.$wl]}" \
      -v ra="${RSS[restore.$wl]}" -v rb="${RSS[$peer.$wl]}" \
      'BEGIN { printf "%-6s restore vs %-11s %5.2fx the speed (%.2f s vs %.2f s), peak RSS %.1f MB vs %.1f MB\n", w, p, b/a, a, b, ra/1024, rb/1024 }'
  done
  awk -v w="$wl" -v a="${SECS[restore.$wl]}" -v g="${SECS[floor-GET.$wl]}" -v f="${SECS[floor-2req.$wl]}" \
    'BEGIN { printf "%-6s moto floor: GET only %.2f s, HEAD+GET %.2f s; restore takes %.2fx the GET floor, %.2fx the HEAD+GET floor\n", w, g, f, a/g, a/f }'
  awk -v w="$wl" -v a="${SECS[restore.$wl]}" -v n="${SECS[restore-nosync.$wl]:-0}" -v f2="${SECS[fsync-2.$wl]}" -v fj="${SECS[fsync-$JOBS.$wl]}" -v j="$JOBS" \
    'BEGIN { printf "%-6s durable writes alone: %.2f s on 2 threads, %.2f s on %d; restore %.2f s, with fsync made a no-op %.2f s\n", w, f2, fj, j, a, n }'
done
set -- $MEM_MB
if [ $# -ge 2 ]; then
  awk -v a="$1" -v b="$2" -v ra="${RSS[restore.${1}MB]}" -v rb="${RSS[restore.${2}MB]}" \
    'BEGIN { printf "memory: restore peak RSS %.1f MB for %d MB, %.1f MB for %d MB (%.2fx for %.0fx the size)\n", ra/1024, a, rb/1024, b, rb/ra, b/a }'
fi
