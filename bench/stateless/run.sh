#!/usr/bin/env bash
# Benchmark: the daily incremental run of scripts/backup-compliance.sh into
# S3 (moto) with the work directory kept against wiped (issue 13), at two
# archive sizes with the same daily increment.
#
#   bench/stateless/run.sh                       # USERS=300, DAYS_LIST="30 10", NEW=20 UPDATED=10, ROUNDS=3
#   DAYS_LIST=30 bench/stateless/run.sh          # one archive size only
#
# For each history length D in DAYS_LIST:
#   1. compliance-mock with USERS users over D days (up to today), seed 7;
#   2. two buckets, kept-D and wiped-D, each bulk-loaded by one run of the
#      script from the same mock state (not measured), each with its own
#      WORK_DIR;
#   3. ROUNDS times: the mock advances one day's worth
#      (POST /_mock/advance?new=NEW&updated=UPDATED), then, measured, one run
#      into kept-D with its WORK_DIR as the previous run left it and one into
#      wiped-D with its WORK_DIR deleted right before (the order alternates
#      between rounds). Both fetch the same new records from the same mock
#      state, and the two archives are compared at the end.
# Per measured run: wall time and peak RSS (/usr/bin/time -f '%e %M' around
# the script; peak RSS is the largest single process), S3 requests by kind
# counted from moto's request log between the run's offsets (s3log.py), and
# where the time went, from a timing wrapper around every tool (wrap.sh,
# stages.py; BIN_DIR points at the wrappers in both runs alike).
# Streams: logs (CONVERSATION_MESSAGE AUTH_LOG AUDIT_LOG), conversations, users.
# Everything lives in bench/data/stateless/ (git-ignored, replaced each run).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/bench/stateless
DATA=$ROOT/bench/data/stateless
USERS=${USERS:-300}
DAYS_LIST=${DAYS_LIST:-30 10}
NEW=${NEW:-20}
ROUNDS=${ROUNDS:-3}
UPDATED=${UPDATED:-10}
rm -rf "$DATA"; mkdir -p "$DATA"

# --- tools ---------------------------------------------------------------
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
command -v moto_server >/dev/null || python3 -m pip install -q 'moto[server]'
python3 -c 'import boto3' 2>/dev/null || python3 -m pip install -q boto3
command -v pyenv >/dev/null && pyenv rehash || true
for t in jq curl flock; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 2; }; done

cargo build --release --workspace --bins >&2
# A copy of the binaries, so that a build running meanwhile cannot swap them mid-run.
REAL_BIN=$DATA/real-bin
mkdir -p "$REAL_BIN"
for t in fetch partition parquetize manifest ship restore archive-state compliance-mock; do
  cp "$ROOT/target/release/$t" "$REAL_BIN/"
done
WRAP=$DATA/bin
mkdir -p "$WRAP"
for t in fetch partition parquetize manifest ship restore archive-state; do
  ln -sf "$HERE/wrap.sh" "$WRAP/$t"
done
# Likewise the scripts (bash reads a script as it runs it: an edit made
# meanwhile would break a run).
mkdir -p "$DATA/scripts"
cp "$ROOT/scripts/backup-compliance.sh" "$ROOT/scripts/lib.sh" "$DATA/scripts/"
BACKUP=$DATA/scripts/backup-compliance.sh
echo "code: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" status --porcelain -- scripts fetch partition manifest ship restore state archive-core archive-s3 | awk 'NR==1{printf " + uncommitted changes in:"} {printf " %s", $2}')" > "$DATA/code.txt"
export REAL_BIN STAGE_LOG=$DATA/stages.tsv
mkdir -p "$STAGE_LOG.d"; : > "$STAGE_LOG"

# --- servers -------------------------------------------------------------
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PORT=$(free_port)
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
  AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
S3LOG=$DATA/moto.log
moto_server -H 127.0.0.1 -p "$PORT" > "$S3LOG" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

s3py() { python3 -c "import boto3, sys; s3 = boto3.client('s3'); $1" "${@:2}"; }
# objects and bytes under a bucket, and how many of them are data (not _state/)
bucket_size() {
  s3py '
n = b = d = mn = mb = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[1]):
    for o in page.get("Contents", []):
        n += 1; b += o["Size"]; d += "/_state/" not in o["Key"]
        if o["Key"].rsplit("/", 1)[-1].startswith("manifest"):
            mn += 1; mb += o["Size"]
print(n, d, b, mn, mb)' "$1"
}

# Per area of a bucket: objects (LIST pages of 1,000 each run) and the
# bytes of its manifests (each run reads them and writes them again).
area_sizes() {
  s3py '
import collections, json
n, m = collections.Counter(), collections.Counter()
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[1], Prefix="daily/"):
    for o in page.get("Contents", []):
        parts = o["Key"].split("/")
        if parts[1] == "_state":
            continue
        area = "/".join(parts[1:3]) if parts[1] in ("logs", "snapshots") else parts[1]
        n[area] += 1
        if parts[-1].startswith("manifest"):
            m[area] += o["Size"]
print(json.dumps({a: {"objects": n[a], "manifest_bytes": m[a]} for a in sorted(n)}))' "$1"
}

# The data objects of two buckets, compared by key and ETag. Seed-layout
# files and daily summaries carry the run time (backup_timestamp), and the
# manifests their hashes: an object whose ETag differs is downloaded from
# both and compared with backup_timestamp removed; manifests are skipped.
# The first differing pairs are saved under $DATA/diff/ for inspection.
compare() { # bucket-a bucket-b label
  s3py '
import gzip, json, os
def listing(b):
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b):
        for o in page.get("Contents", []):
            if "/_state/" not in o["Key"]:
                out[o["Key"]] = o["ETag"]
    return out
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k != "backup_timestamp"}
    return [strip(x) for x in v] if isinstance(v, list) else v
def norm(raw):
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        return strip(json.loads(raw))
    except ValueError:
        try:
            return [strip(json.loads(l)) for l in raw.splitlines() if l.strip()]
        except ValueError:
            return raw
x, y, label, d = sys.argv[1:5]
a, b = listing(x), listing(y)
etag = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and not os.path.basename(k).startswith("manifest"))
diff = []
for k in etag:
    if k not in a or k not in b:
        diff.append(k); continue
    if norm(s3.get_object(Bucket=x, Key=k)["Body"].read()) != norm(s3.get_object(Bucket=y, Key=k)["Body"].read()):
        diff.append(k)
print(f"  {label}: {x} {len(a)}, {y} {len(b)} data objects; {len(etag)} differ by ETag,",
      f"{len(diff)} in content besides backup_timestamp (manifests not compared)", *diff[:3])
for k in diff[:3]:
    for bk, l in ((x, a), (y, b)):
        if k in l:
            p = os.path.join(d, bk, k); os.makedirs(os.path.dirname(p), exist_ok=True)
            s3.download_file(bk, k, p)' "$1" "$2" "$3" "$DATA/diff/$3"
}

export OPENAI_API_KEY=test-key OPENAI_ADMIN_KEY=test-admin-key
export WORKSPACE_ID=11bf645e-d5e8-4478-a70e-e5742ded2436
export STREAMS="logs conversations users" BIN_DIR=$WRAP

backup() { # bucket workdir tag -> runs the script; sets B_SECS B_RSS B_RC
  local bucket=$1 work=$2 tag=$3
  local s3a s3b la lb
  sync; sleep 1
  s3a=$(stat -c %s "$S3LOG"); la=$(wc -l < "$STAGE_LOG")
  B_RC=0
  ARCHIVE_DEST=s3://$bucket/daily WORK_DIR=$work \
    /usr/bin/time -f '%e %M' -o "$DATA/time.$tag" "$BACKUP" \
    > "$DATA/out.$tag" 2> "$DATA/err.$tag" || B_RC=$?
  sleep 0.5   # let moto flush its last log lines
  s3b=$(stat -c %s "$S3LOG"); lb=$(wc -l < "$STAGE_LOG")
  read -r B_SECS B_RSS < <(tail -n 1 "$DATA/time.$tag")
  python3 "$HERE/s3log.py" "$S3LOG" "$s3a" "$s3b" --bucket "$bucket" > "$DATA/s3.$tag.json"
  python3 "$HERE/stages.py" "$STAGE_LOG" "$la" "$lb" > "$DATA/stages.$tag.json"
  cp -f "$work/runs/last.json" "$DATA/last.$tag.json" 2>/dev/null || echo '{}' > "$DATA/last.$tag.json"
  echo "  $tag: exit $B_RC, ${B_SECS}s, peak RSS $((B_RSS / 1024)) MB, $(jq -r .total "$DATA/s3.$tag.json") S3 requests; $(tail -n 1 "$DATA/err.$tag")" >&2
  [[ $B_RC == 0 ]] || { echo "  $tag FAILED, see $DATA/err.$tag" >&2; exit 1; }
}

for D in $DAYS_LIST; do
  START=$(date -u -d "-$D days" +%F)
  echo "== $D days x $USERS users from $START" >&2
  "$REAL_BIN/compliance-mock" --port 0 --generate-users "$USERS" --generate-days "$D" --start "$START" --seed 7 \
    > "$DATA/mock$D.out" 2> "$DATA/mock$D.err" &
  MOCK_PID=$!; PIDS+=($MOCK_PID)
  for _ in $(seq 600); do [[ -s $DATA/mock$D.out ]] && break; sleep 0.1; done
  MOCK=$(head -1 "$DATA/mock$D.out" | jq -r .listening)
  [[ $MOCK == http* ]] || { echo "the mock did not start: $(cat "$DATA/mock$D.err")" >&2; exit 1; }
  export COMPLIANCE_BASE_URL=$MOCK/v1 OPENAI_BASE_URL=$MOCK/v1
  export FETCH_ARGS="--since $START --rate-limit 100000"
  for b in kept-$D wiped-$D; do s3py 's3.create_bucket(Bucket=sys.argv[1])' "$b"; done

  # Bulk loads (not measured), one per bucket, same mock state.
  backup kept-$D "$DATA/work-kept-$D" "bulk-kept-$D"
  backup wiped-$D "$DATA/work-wiped-$D" "bulk-wiped-$D"
  compare kept-$D wiped-$D "after the bulk loads" | tee -a "$DATA/compare.txt" >&2
  bucket_size kept-$D > "$DATA/size.$D"
  area_sizes kept-$D > "$DATA/areas.$D"
  echo "  archive (objects, data objects, bytes, manifests, manifest bytes): $(cat "$DATA/size.$D")" >&2

  # Measured: ROUNDS daily increments; in each, one run into kept-D with its
  # WORK_DIR as the previous run left it, and one into wiped-D with its
  # WORK_DIR deleted right before. The order alternates between rounds.
  for r in $(seq 1 "$ROUNDS"); do
    curl -sf -X POST "$MOCK/_mock/advance?new=$NEW&updated=$UPDATED&seed=$D$r" > "$DATA/advance.$D.r$r.json"
    echo "  round $r, advance: $(cat "$DATA/advance.$D.r$r.json")" >&2
    order="kept wiped"; ((r % 2)) || order="wiped kept"
    for m in $order; do
      [[ $m == wiped ]] && rm -rf "$DATA/work-wiped-$D"
      echo "  load before $m: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
      backup "$m-$D" "$DATA/work-$m-$D" "$m-$D-r$r"
    done
  done
  # Both archives should now hold the same data objects with the same bytes.
  compare kept-$D wiped-$D "after the measured runs" | tee -a "$DATA/compare.txt" >&2
  kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true
done

# --- report --------------------------------------------------------------
echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB RAM, $(uname -r); $(date -u)"
cat "$DATA/code.txt"
echo "workload: $USERS users; increment per round: new=$NEW updated=$UPDATED; streams: $STREAMS (logs: 3 event types)"
python3 "$HERE/report.py" "$DATA" "$ROUNDS" $DAYS_LIST
