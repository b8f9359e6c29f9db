#!/usr/bin/env bash
# Daily compliance backup: for every configured stream,
#   fetch | partition | manifest | ship
# then commit fetch's bookmarks, only when every stage of every stream
# exited 0. A crash anywhere followed by the same command loses nothing:
# the next run starts again from the last committed bookmark and the
# deterministic paths and keys merge instead of duplicating.
#
# Usage: backup-compliance.sh [--config FILE] [--since WHEN] [--users a,b]
#                             [--dry-run] [--no-resume]
#
# Configuration (environment, or KEY=value lines in --config FILE; the
# environment wins):
#   OPENAI_API_KEY        Compliance API key (required)
#   WORKSPACE_ID          workspace id (or org-… for organisation logs) (required)
#   ARCHIVE_DEST          s3://bucket/prefix or a local directory (required)
#   OPENAI_ADMIN_KEY      admin key; when set, the organisation audit log is fetched too
#   STREAMS               default "logs users gpts projects audit-logs"; add
#                         "conversations" for a workspace that still has the legacy
#                         GET /conversations endpoint (closed upstream in 2026)
#   LOG_EVENT_TYPES       default "CONVERSATION_MESSAGE AUTH_LOG AUDIT_LOG"
#   STORAGE_CLASS         S3 storage class of data objects (default STANDARD)
#   SHIP_ARGS             extra flags for ship, e.g. "--sse aws:kms --sse-kms-key-id alias/archive"
#   FETCH_ARGS            extra flags for every fetch, e.g. "--rate-limit 40"
#   COMPLIANCE_BASE_URL   default https://api.chatgpt.com/v1
#   OPENAI_BASE_URL       default https://api.openai.com/v1 (audit logs)
#   WORK_DIR              local staging tree, state and run summaries
#                         (default ${XDG_DATA_HOME:-~/.local/share}/compliance-archive/backup)
#   SUMMARY_FILE          run summary JSON (default $WORK_DIR/runs/<UTC time>.json)
#   BIN_DIR               where the tools are (default: the built workspace, then $PATH)
#
# Exit codes: 0 success; otherwise the exit code of the first failing stage
# (1 partial, 2 configuration, 3 bad data, 4 remote service), named on
# stderr and in the summary; 75 another run holds the lock.
set -euo pipefail
JOB_NAME=backup-compliance
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

DRY_RUN=0 NO_RESUME=0 SINCE="" USERS=""
while (($#)); do
  case $1 in
    --config) load_config "${2:?--config needs a file}"; shift 2 ;;
    --since) SINCE=${2:?--since needs a value}; shift 2 ;;
    --users) USERS=${2:?--users needs a value}; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --no-resume) NO_RESUME=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die 2 "unknown argument '$1' (see --help)" ;;
  esac
done

[[ -n ${OPENAI_API_KEY:-} ]] || die 2 "OPENAI_API_KEY is not set: export it or put it in the --config file"
[[ -n ${WORKSPACE_ID:-} ]] || die 2 "WORKSPACE_ID is not set: the ChatGPT workspace id (Admin console > Workspace settings)"
[[ -n ${ARCHIVE_DEST:-} ]] || die 2 "ARCHIVE_DEST is not set: s3://bucket/prefix or a local directory"
export OPENAI_API_KEY WORKSPACE_ID

STREAMS=${STREAMS:-logs users gpts projects audit-logs}
LOG_EVENT_TYPES=${LOG_EVENT_TYPES:-CONVERSATION_MESSAGE AUTH_LOG AUDIT_LOG}
STORAGE_CLASS=${STORAGE_CLASS:-STANDARD}
WORK_DIR=${WORK_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/compliance-archive/backup}
STAGE=$WORK_DIR/archive
export FETCH_STATE_DIR=${FETCH_STATE_DIR:-$WORK_DIR/state}
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
SUMMARY_FILE=${SUMMARY_FILE:-$WORK_DIR/runs/$RUN_ID.json}
read -r -a FETCH_EXTRA <<< "${FETCH_ARGS:-}"
read -r -a SHIP_EXTRA <<< "${SHIP_ARGS:-}"

find_tools
mkdir -p "$STAGE" "$FETCH_STATE_DIR" "$(dirname "$SUMMARY_FILE")"
take_lock "$WORK_DIR/backup.lock"

RUN_TMP=$(mktemp -d "$WORK_DIR/.run-XXXXXX")
trap 'rm -rf "$RUN_TMP"' EXIT
STARTED=$(date +%s)
FAILED_STAGE="" FAILED_CODE=0
: > "$RUN_TMP/pipelines.ndjson"

common_fetch=(--state-dir "$FETCH_STATE_DIR")
((NO_RESUME)) && common_fetch+=(--no-resume)
[[ -n $SINCE ]] && common_fetch+=(--since "$SINCE")
ship_flags=(--update)
is_s3 "$ARCHIVE_DEST" && ship_flags+=(--storage-class "$STORAGE_CLASS" --manifest-storage-class STANDARD)

# Record one pipeline's outcome: stage codes, and counts from the summaries
# and from ship's object lines.
record() {
  local name=$1 dir=$2; shift 2
  local -a stages=("$@")
  local codes=() i=0 stage
  for stage in "${stages[@]}"; do codes+=("\"$stage\":$(cat "$dir/$stage.code")"); done
  local objects=$dir/objects.ndjson
  jq -cn --arg name "$name" \
    --argjson exit "{$(IFS=,; echo "${codes[*]}")}" \
    --argjson records "$(summary_field "$dir/fetch.json" records 0)" \
    --argjson files "$(jq -s '[.[] | select(.manifest != true)] | length' "$objects" 2>/dev/null || echo 0)" \
    --argjson bytes "$(jq -s '[.[] | select(.status == "uploaded") | .bytes] | add // 0' "$objects" 2>/dev/null || echo 0)" \
    --argjson objects "$(jq -s 'length' "$objects" 2>/dev/null || echo 0)" \
    --argjson uploaded "$(jq -s '[.[] | select(.status == "uploaded")] | length' "$objects" 2>/dev/null || echo 0)" \
    --argjson skipped "$(jq -s '[.[] | select(.status == "skipped")] | length' "$objects" 2>/dev/null || echo 0)" \
    '{stream:$name, records:$records, files:$files, bytes:$bytes, objects:$objects, uploaded:$uploaded, skipped:$skipped, exit:$exit}' \
    >> "$RUN_TMP/pipelines.ndjson"
  for stage in "${stages[@]}"; do
    local code; code=$(cat "$dir/$stage.code")
    # 141 (SIGPIPE) upstream of a failed stage is a consequence, not the cause.
    if [[ $code != 0 && $code != 141 && -z $FAILED_STAGE ]]; then
      FAILED_STAGE="$name/$stage" FAILED_CODE=$code
      log "stage $stage of $name failed with exit $code (see its messages above)"
    fi
    ((++i))
  done
}

# fetch | partition | manifest | ship for one stream into one area.
run_pipeline() {
  local name=$1 area=$2; shift 2
  local -a fetch_args=() part_args=()
  while (($#)) && [[ $1 != -- ]]; do fetch_args+=("$1"); shift; done
  shift
  part_args=("$@")
  local dir=$RUN_TMP/$name; mkdir -p "$dir"
  log "$name: fetch | partition | manifest | ship -> $(dest_join "$ARCHIVE_DEST" "$area")"
  set +e
  "$TOOL_FETCH" "${fetch_args[@]}" "${common_fetch[@]}" "${FETCH_EXTRA[@]}" --summary "$dir/fetch.json" \
    | "$TOOL_PARTITION" --out "$STAGE/$area" "${part_args[@]}" --summary "$dir/partition.json" \
    | "$TOOL_MANIFEST" --summary "$dir/manifest.json" \
    | "$TOOL_SHIP" "$(dest_join "$ARCHIVE_DEST" "$area")" "${ship_flags[@]}" "${SHIP_EXTRA[@]}" --summary "$dir/ship.json" \
    > "$dir/objects.ndjson"
  local -a codes=("${PIPESTATUS[@]}")
  set -e
  echo "${codes[0]}" > "$dir/fetch.code"; echo "${codes[1]}" > "$dir/partition.code"
  echo "${codes[2]}" > "$dir/manifest.code"; echo "${codes[3]}" > "$dir/ship.code"
  record "$name" "$dir" fetch partition manifest ship
}

# Reference streams (users, GPTs, projects) are kept as dated snapshots:
# fetch writes the whole list to a staging file renamed into place only
# when fetch succeeded; manifest then covers the snapshot tree.
run_snapshot() {
  local name=$1; shift
  local dir=$RUN_TMP/$name; mkdir -p "$dir"
  local day; day=$(date -u +%Y/%m/%d)
  local target=$STAGE/snapshots/$name/$day/$name.ndjson
  mkdir -p "$(dirname "$target")"
  log "$name: snapshot -> $(dest_join "$ARCHIVE_DEST" "snapshots/$name/$day/$name.ndjson")"
  set +e
  "$TOOL_FETCH" "$name" "$@" --no-resume "${FETCH_EXTRA[@]}" --state-dir "$FETCH_STATE_DIR" --summary "$dir/fetch.json" > "$target.partial"
  local fcode=$?
  set -e
  echo "$fcode" > "$dir/fetch.code"
  if ((fcode == 0)) && cmp -s "$target.partial" "$target"; then
    # Same snapshot as earlier today: keep the file (and its mtime) so
    # the manifests and the archive stay untouched.
    rm -f "$target.partial"
  elif ((fcode == 0)); then
    sync "$target.partial" 2>/dev/null || true
    mv -f "$target.partial" "$target"
  else
    rm -f "$target.partial"
  fi
  set +e
  "$TOOL_MANIFEST" --root "$STAGE/snapshots/$name" --summary "$dir/manifest.json" \
    | "$TOOL_SHIP" "$(dest_join "$ARCHIVE_DEST" "snapshots/$name")" "${ship_flags[@]}" "${SHIP_EXTRA[@]}" --summary "$dir/ship.json" \
    > "$dir/objects.ndjson"
  local -a codes=("${PIPESTATUS[@]}")
  set -e
  echo "${codes[0]}" > "$dir/manifest.code"; echo "${codes[1]}" > "$dir/ship.code"
  record "$name" "$dir" fetch manifest ship
}

if ((DRY_RUN)); then
  # Show the first request of each stream and check the credentials with
  # one call each; show where objects would go. Nothing is written.
  for stream in $STREAMS; do
    case $stream in
      logs) args=(logs --event-type "${LOG_EVENT_TYPES// /,}") ;;
      audit-logs) [[ -n ${OPENAI_ADMIN_KEY:-} ]] || { log "audit-logs: OPENAI_ADMIN_KEY not set, skipped"; continue; }; args=(audit-logs) ;;
      *) args=("$stream") ;;
    esac
    log "dry run: $stream"
    "$TOOL_FETCH" "${args[@]}" "${common_fetch[@]}" "${FETCH_EXTRA[@]}" --dry-run \
      || die $? "dry run of fetch $stream failed"
  done
  log "dry run: nothing fetched, written, shipped or committed"
  exit 0
fi

for stream in $STREAMS; do
  # A configuration error (exit 2: bad key, URL, workspace or bucket)
  # would fail every remaining stream the same way: stop here.
  if [[ $FAILED_CODE == 2 ]]; then log "stopping after a configuration error; $stream not run"; break; fi
  case $stream in
    logs)
      for type in $LOG_EVENT_TYPES; do
        [[ $FAILED_CODE == 2 ]] && break
        run_pipeline "logs-$type" "logs/$type" logs --event-type "$type" -- \
          --preset log-events --layout hive --format ndjson --compress gzip
      done ;;
    conversations)
      user_args=(); [[ -n $USERS ]] && user_args=(--users "$USERS")
      run_pipeline conversations conversations conversations "${user_args[@]}" -- --preset conversations ;;
    audit-logs)
      if [[ -z ${OPENAI_ADMIN_KEY:-} ]]; then log "audit-logs: OPENAI_ADMIN_KEY not set, skipped"; continue; fi
      export OPENAI_ADMIN_KEY
      run_pipeline audit-logs audit-logs audit-logs -- --preset audit-logs --layout daily-jsonl ;;
    users|gpts|projects|memories)
      run_snapshot "$stream" ;;
    *) die 2 "STREAMS: unknown stream '$stream' (logs conversations users gpts projects memories audit-logs)" ;;
  esac
done

COMMITTED=false
if [[ -z $FAILED_STAGE ]]; then
  set +e
  "$TOOL_FETCH" commit --state-dir "$FETCH_STATE_DIR"
  code=$?
  set -e
  if ((code == 0)); then COMMITTED=true; else FAILED_STAGE=commit FAILED_CODE=$code; fi
else
  log "bookmarks NOT committed: the next run fetches this window again"
fi

FINISHED=$(date +%s)
jq -s --arg job "$JOB_NAME" --arg run "$RUN_ID" --arg dest "$ARCHIVE_DEST" \
  --argjson started "$STARTED" --argjson finished "$FINISHED" \
  --arg failed "$FAILED_STAGE" --argjson code "$FAILED_CODE" --argjson committed "$COMMITTED" '
  { job: $job, run_id: $run, dest: $dest,
    started_at: ($started | todate), finished_at: ($finished | todate), duration_s: ($finished - $started),
    status: (if $failed == "" then "ok" else "failed" end),
    failed_stage: (if $failed == "" then null else $failed end), exit_code: $code,
    committed: $committed,
    records: (map(.records) | add // 0), files: (map(.files) | add // 0),
    bytes: (map(.bytes) | add // 0), objects: (map(.objects) | add // 0),
    uploaded: (map(.uploaded) | add // 0), skipped: (map(.skipped) | add // 0),
    streams: . }' "$RUN_TMP/pipelines.ndjson" > "$SUMMARY_FILE.tmp"
mv -f "$SUMMARY_FILE.tmp" "$SUMMARY_FILE"
cp -f "$SUMMARY_FILE" "$WORK_DIR/runs/last.json" 2>/dev/null || true
jq -r '"\(.job): \(.status)\(if .failed_stage then " at \(.failed_stage) (exit \(.exit_code))" else "" end): \(.records) records, \(.files) files, \(.objects) objects (\(.uploaded) uploaded, \(.skipped) unchanged), \(.bytes) bytes in \(.duration_s)s, committed=\(.committed); summary \($file)"' \
  --arg file "$SUMMARY_FILE" "$SUMMARY_FILE" >&2
exit "$FAILED_CODE"
