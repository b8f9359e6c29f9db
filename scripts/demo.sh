#!/usr/bin/env bash
# The demo, on local defaults: build the workspace, start the mock
# Compliance API with generated data (300 users over 30 days), run the
# daily backup into a local archive directory (and into a local S3 bucket
# when moto is installed), run it again to show the incremental run
# fetching nothing new, run it once more from an empty work directory (as
# a container would) to show the archive is its own source of truth,
# verify the archive, read it back with restore, and print where things are.
# Servers it started are stopped on exit.
#
# Usage: scripts/demo.sh            (output under ./demo-output, replaced each run)
#        DEMO_DIR=/tmp/x scripts/demo.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DEMO=${DEMO_DIR:-$ROOT/demo-output}
USERS=${DEMO_USERS:-300} DAYS=${DEMO_DAYS:-30}
say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

command -v jq >/dev/null || { echo "demo: jq is needed (apt-get install jq)" >&2; exit 2; }
command -v flock >/dev/null || { echo "demo: flock is needed (apt-get install util-linux)" >&2; exit 2; }

# The demo profile (Cargo.toml): unoptimised but for hashing and
# compression, so a fresh clone builds in minutes; DEMO_PROFILE=release for
# the binaries you would install.
PROFILE=${DEMO_PROFILE:-demo}
say "Building the workspace (cargo build --profile $PROFILE)"
cargo build --profile "$PROFILE" --workspace --bins
BIN=$ROOT/target/$PROFILE
export BIN_DIR=$BIN

rm -rf "$DEMO"; mkdir -p "$DEMO"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

START_DAY=$(date -u -d "-$DAYS days" +%F)
say "Starting the mock Compliance API: $USERS users, $DAYS days from $START_DAY"
# Uploads are kept for the demo's whole window (upstream keeps them ~48 h).
"$BIN/compliance-mock" --port 0 --generate-users "$USERS" --generate-days "$DAYS" --start "$START_DAY" --seed 7 \
  --attachments-pct 10 --upload-retention-hours 100000 \
  > "$DEMO/mock.out" 2> "$DEMO/mock.log" &
PIDS+=($!)
for _ in $(seq 100); do [[ -s $DEMO/mock.out ]] && break; sleep 0.1; done
MOCK=$(head -1 "$DEMO/mock.out" | jq -r .listening)
[[ $MOCK == http* ]] || { echo "demo: the mock did not start; see $DEMO/mock.log" >&2; exit 1; }
echo "mock API at $MOCK" >&2

export COMPLIANCE_BASE_URL=$MOCK/v1 OPENAI_BASE_URL=$MOCK/v1
export OPENAI_API_KEY=test-key OPENAI_ADMIN_KEY=test-admin-key
export WORKSPACE_ID=11bf645e-d5e8-4478-a70e-e5742ded2436
# The mock allows far more than the real 50 requests/min; so may we.
export FETCH_ARGS="--since $START_DAY --rate-limit 3000"
# Conversations come from the Logs Platform's message events (the legacy
# endpoint is closed upstream), with the files users uploaded.
export STREAMS="logs users gpts projects audit-logs"

# A backup run. Exit 1 with status files_missing is expected here: the mock,
# like the real service, has uploads their users deleted; they are listed in
# files-missing.ndjson and everything else is archived and committed.
backup() {
  local work=${WORK_DIR:?} rc=0
  scripts/backup-compliance.sh || rc=$?
  if ((rc == 1)) && jq -e '.status == "files_missing" and .committed' "$work/runs/last.json" > /dev/null; then
    echo "demo: $(jq .files_missing "$work/runs/last.json") uploaded file(s) deleted upstream, listed in files-missing.ndjson (exit 1, everything else committed)" >&2
  elif ((rc != 0)); then
    exit "$rc"
  fi
}

say "Daily backup, first run (bulk load) into $DEMO/archive"
ARCHIVE_DEST=$DEMO/archive WORK_DIR=$DEMO/work backup

say "Daily backup, second run (incremental: nothing new on the server)"
ARCHIVE_DEST=$DEMO/archive WORK_DIR=$DEMO/work backup
jq '{records, uploaded, skipped, committed}' "$DEMO/work/runs/last.json"

say "Daily backup from an empty work directory (a container, a new VM): the same archive"
before=$(cd "$DEMO/archive" && find . -path ./_state -prune -o -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)
rm -rf "$DEMO/work"
ARCHIVE_DEST=$DEMO/archive WORK_DIR=$DEMO/work backup
after=$(cd "$DEMO/archive" && find . -path ./_state -prune -o -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)
[[ $before == "$after" ]] && echo "archive unchanged: bookmarks, manifests and merge inputs came from $DEMO/archive/_state and the archive" >&2 \
  || { echo "demo: the archive changed after a run from an empty work directory" >&2; exit 1; }

say "Verifying the archive: manifest verify, then GNU sha256sum -c"
for area in conversations logs/all audit-logs; do
  "$BIN/manifest" verify "$DEMO/archive/$area" | tail -n 3
  (cd "$DEMO/archive/$area" && sha256sum -c --strict --quiet manifest-sha256.txt && echo "sha256sum -c: $area OK")
done

say "Reading it back: restore get (every file checked against its manifest)"
"$BIN/restore" get "$DEMO/archive/conversations" "$DEMO/restored/conversations" --summary "$DEMO/restore.json" > /dev/null
(cd "$DEMO/restored/conversations" && sha256sum -c --strict --quiet manifest-sha256.txt && echo "sha256sum -c: restored copy OK" >&2)
"$BIN/restore" query "$DEMO/archive/logs/all" --layout hive > "$DEMO/log-views.sql"
echo "DuckDB views for the log events: $DEMO/log-views.sql (duckdb -init $DEMO/log-views.sql)" >&2

if command -v moto_server >/dev/null 2>&1 && python3 -c 'import boto3' 2>/dev/null; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  say "moto found: starting a local S3 on 127.0.0.1:$PORT and backing up into s3://demo-archive/compliance"
  moto_server -H 127.0.0.1 -p "$PORT" > "$DEMO/moto.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
  export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
  python3 -c "import boto3; boto3.client('s3', endpoint_url='$AWS_ENDPOINT_URL').create_bucket(Bucket='demo-archive')"
  ARCHIVE_DEST=s3://demo-archive/compliance WORK_DIR=$DEMO/work-s3 STORAGE_CLASS=STANDARD_IA backup
  "$BIN/manifest" verify s3://demo-archive/compliance/conversations | tail -n 3
else
  say "moto not installed: skipping the S3 part (pip install 'moto[server]' to see it)"
fi

say "Where things are"
cat >&2 <<TXT
  archive (as shipped):   $DEMO/archive
  its state:              $DEMO/archive/_state   (bookmarks, leases, run records)
  work directory (cache): $DEMO/work
  run summaries:          $DEMO/work/runs/*.json and $DEMO/archive/_state/runs/all/

Try:
  jq . $DEMO/work/runs/last.json
  ls $DEMO/archive/conversations | head
  jq -n '[inputs.conversation_count] | add' $DEMO/archive/conversations/*/*/*/*/conversations.json
  jq '.user_statistics | length' $DEMO/archive/conversations/_daily_summaries/*/*/*/summary.json | head -3
  zcat $DEMO/archive/logs/all/*/*/*.gz | jq -r .type | sort | uniq -c | sort -rn
  find $DEMO/archive/conversations -path '*/files/*' -type f | head
  cd $DEMO/archive/conversations && sha256sum -c --strict manifest-sha256.txt | tail -1
TXT
