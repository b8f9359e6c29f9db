#!/usr/bin/env bash
# Hash throughput of `manifest` against GNU sha256sum and OpenSSL, in one run:
#   1. one large file (default 4 GiB)          manifest --root DIR  vs  sha256sum FILE  vs  openssl dgst -sha256 FILE
#   2. many small files (default 100,000)      manifest --root DIR  vs  find|xargs sha256sum  vs  find|xargs openssl dgst
# Every input is read once beforehand so all tools hash from the page cache.
# Prints seconds, GB/s, ratio to openssl and peak RSS (GNU time %M).
#
#   bench/manifest/run.sh [LARGE_GIB=4] [SMALL_FILES=100000]
#
# BASELINE=/path/to/an/older/manifest adds rows for that binary (before/after
# comparisons on the same data in the same run).
set -euo pipefail
cd "$(dirname "$0")/../.."
LARGE_GIB=${1:-4}
SMALL_FILES=${2:-100000}
DATA=bench/data/manifest
TIME=/usr/bin/time
[[ -x $TIME ]] || { echo "install GNU time: apt-get install time" >&2; exit 2; }

cargo build --release -q -p manifest
MANIFEST=$PWD/target/release/manifest

mkdir -p "$DATA/large" "$DATA/small"
big=$DATA/large/big.bin
want=$((LARGE_GIB * 1024 * 1024 * 1024))
if [[ ! -f $big || $(stat -c %s "$big") -ne $want ]]; then
  echo "generating $LARGE_GIB GiB of random data in $big" >&2
  head -c "$want" /dev/urandom > "$big"
fi
if [[ ! -f $DATA/small.count || $(cat "$DATA/small.count") != "$SMALL_FILES" ]]; then
  echo "generating $SMALL_FILES small files (1-16 KiB) in $DATA/small" >&2
  rm -rf "$DATA/small" && mkdir -p "$DATA/small"
  python3 - "$DATA/small" "$SMALL_FILES" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
blob = os.urandom(16384 * 2)
for i in range(n):
    d = os.path.join(root, f"u{i % 500:03d}", f"{(i // 500) % 28 + 1:02d}")
    os.makedirs(d, exist_ok=True)
    size = rnd.randint(1024, 16384)
    off = rnd.randint(0, 16384)
    with open(os.path.join(d, f"c{i:06d}.json"), "wb") as f:
        f.write(blob[off:off + size])
PY
  echo "$SMALL_FILES" > "$DATA/small.count"
fi
# Start without manifests from earlier runs (a regenerated file would
# otherwise be reported, rightly, as changed since the previous manifest).
rm -f "$DATA"/large/manifest* "$DATA"/small/manifest*
large_bytes=$(stat -c %s "$big")
small_bytes=$(find "$DATA/small" -type f -name 'c*.json' -printf '%s\n' | awk '{s+=$1} END {print s}')

# Warm the page cache so every tool reads from memory.
cat "$big" > /dev/null
find "$DATA/small" -type f -print0 | xargs -0 cat > /dev/null

declare -A SECS RSS
run() { # name, command...
  local name=$1; shift
  local out; out=$(mktemp)
  "$TIME" -f '%e %M' -o "$out" "$@" > /dev/null
  read -r SECS[$name] RSS[$name] < "$out"
  rm -f "$out"
}
# Best of 3: the machine is shared with other builds.
best() { # name, command...
  local name=$1; shift
  local b= r=
  for _ in 1 2 3; do
    run "$name" "$@"
    if [[ -z $b ]] || awk -v a="${SECS[$name]}" -v b="$b" 'BEGIN{exit !(a<b)}'; then b=${SECS[$name]}; r=${RSS[$name]}; fi
  done
  SECS[$name]=$b; RSS[$name]=$r
}

# Best of 3 for `manifest`, each run starting without manifests (the
# first run over a tree); the rerun rows keep the previous manifests, as a
# daily cron run does (everything re-hashed, manifests found unchanged).
best_fresh() { # name, dir, command...
  local name=$1 dir=$2; shift 2
  local b= r=
  for _ in 1 2 3; do
    rm -f "$dir"/manifest*
    run "$name" "$@"
    if [[ -z $b ]] || awk -v a="${SECS[$name]}" -v b="$b" 'BEGIN{exit !(a<b)}'; then b=${SECS[$name]}; r=${RSS[$name]}; fi
  done
  SECS[$name]=$b; RSS[$name]=$r
}

small_list=$(mktemp); trap 'rm -f "$small_list"' EXIT
(cd "$DATA/small" && find . -type f -name 'c*.json' -print0) > "$small_list"
# -P 1 keeps the peers to one process as users run them; -n large so
# process start-up is not what is measured.
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
BASELINE=${BASELINE:-}
best_fresh large_manifest "$DATA/large" "$MANIFEST" --root "$DATA/large"
[[ -n $BASELINE ]] && best_fresh large_baseline "$DATA/large" "$BASELINE" --root "$DATA/large"
best large_sha256sum sha256sum "$big"
best large_openssl openssl dgst -sha256 "$big"
best_fresh small_manifest "$DATA/small" "$MANIFEST" --root "$DATA/small"
best small_manifest_rerun "$MANIFEST" --root "$DATA/small"
[[ -n $BASELINE ]] && best_fresh small_baseline "$DATA/small" "$BASELINE" --root "$DATA/small"
[[ -n $BASELINE ]] && best small_baseline_rerun "$BASELINE" --root "$DATA/small"
best small_sha256sum sh -c "cd '$DATA/small' && xargs -0 -n 5000 sha256sum < '$small_list'"
best small_openssl sh -c "cd '$DATA/small' && xargs -0 -n 5000 openssl dgst -sha256 < '$small_list'"
best small_openssl_p2 sh -c "cd '$DATA/small' && xargs -0 -n 5000 -P 2 openssl dgst -sha256 < '$small_list'"

# Sanity: manifest's digests agree with sha256sum's.
(cd "$DATA/large" && sha256sum -c --strict --quiet manifest-sha256.txt)
(cd "$DATA/small" && sha256sum -c --strict --quiet manifest-sha256.txt)

report() { # case, bytes, names...
  local case=$1 bytes=$2; shift 2
  local base=${SECS[${case}_openssl]}
  printf '\n%s: %s bytes (%.2f GB)\n' "$case" "$bytes" "$(awk -v b="$bytes" 'BEGIN{print b/1e9}')"
  printf '  %-18s %8s %9s %12s %10s\n' tool seconds GB/s vs-openssl peakRSS-MB
  for n in "$@"; do
    local k=${case}_$n
    awk -v n="$n" -v s="${SECS[$k]}" -v b="$bytes" -v o="$base" -v r="${RSS[$k]}" \
      'BEGIN{printf "  %-18s %8.2f %9.3f %11.2fx %10.1f\n", n, s, b/1e9/s, o/s, r/1024}'
  done
}
echo "manifest hash benchmark: $(uname -srm), $(nproc) cores, $(date -u +%FT%TZ)"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
large_rows=(manifest) small_rows=(manifest manifest_rerun)
[[ -n $BASELINE ]] && large_rows+=(baseline) small_rows+=(baseline baseline_rerun)
report large "$large_bytes" "${large_rows[@]}" openssl sha256sum
report small "$small_bytes" "${small_rows[@]}" openssl sha256sum openssl_p2
echo
echo "goals (issue 20): large >= 1.1x openssl, small >= 1.9x openssl (single openssl process)"
