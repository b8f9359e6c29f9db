#!/usr/bin/env bash
# Daily compliance backup: for every configured stream of every workspace,
#   fetch | partition | manifest | ship
# merged with what the destination already holds, then that stream's
# bookmark is committed, only when each of its stages succeeded.
#
# The archive is its own source of truth. Bookmarks, leases and run records
# live under STATE_URL (default <ARCHIVE_DEST>/_state). Before a day file is
# merged, the destination's copy is brought back (checked against the
# destination's manifest), and the destination's manifests are extended,
# never rebuilt from what happens to be on this disk. WORK_DIR is only a
# cache: deleting it between runs changes the time taken, not the archive.
# Two runs at once cannot both commit: each stream has a lease, and
# bookmarks are written with conditional requests. The run that loses
# exits 75 having committed nothing.
#
# Usage: backup-compliance.sh [--config FILE] [--since WHEN] [--users a,b]
#                             [--shard-index N --shard-count M]
#                             [--dry-run] [--no-resume]
#
# Configuration (environment, or KEY=value lines in --config FILE; the
# environment wins):
#   OPENAI_API_KEY        Compliance API key (required)
#   WORKSPACE_ID          workspace id (or org-… for organisation logs); its areas are
#                         <ARCHIVE_DEST>/logs/…, conversations, snapshots/…
#   WORKSPACE_IDS         several workspaces (space or comma separated), or
#   WORKSPACE_IDS_FILE    one per line; each gets <ARCHIVE_DEST>/<workspace>/…
#   ARCHIVE_DEST          s3://bucket/prefix or a local directory (required)
#   STATE_URL             bookmarks, leases, run records (default <ARCHIVE_DEST>/_state)
#   OPENAI_ADMIN_KEY      admin key; when set, the organisation audit log is fetched too
#   STREAMS               default "logs users gpts projects audit-logs"; add
#                         "conversations" for a workspace that still has the legacy
#                         GET /conversations endpoint (closed upstream in 2026)
#   LOG_EVENT_TYPES       "all" (default: every type the server lists, known or not,
#                         into <area>/logs/all/), or a list such as "AUTH_LOG AUDIT_LOG"
#                         (one stream and area <area>/logs/<TYPE>/ each)
#   ORGANIZATION_ID       org-…: organisation-only log types (COSTS) are fetched too
#   CONVERSATIONS         "logs" (default): CONVERSATION_MESSAGE events are also
#                         assembled into the seed layout under <area>/conversations/
#                         (<user>/YYYY/MM/DD/conversations.json, _daily_summaries/…),
#                         the raw events staying under logs/ as the evidence; "off"
#   FILES                 "on" (default): files referenced by those messages are
#                         downloaded beside their day (<user>/YYYY/MM/DD/files/<id>/<name>);
#                         files the server no longer has are listed in that day's
#                         files-missing.ndjson and the run exits 1; "off"
#   STORAGE_CLASS         S3 storage class of data objects (default STANDARD; an
#                         instant class, since days are merged with what is stored)
#   SHARD_INDEX           this shard (default $JOB_COMPLETION_INDEX of a Kubernetes
#                         Indexed Job, else $AWS_BATCH_JOB_ARRAY_INDEX, else 0)
#   SHARD_COUNT           number of shards (default 1); a stream belongs to shard
#                         cksum("<workspace>/<stream>") mod SHARD_COUNT
#   LEASE_TTL             how long a stream's lease lasts unless renewed (default 6h)
#   SHIP_ARGS             extra flags for ship, e.g. "--sse aws:kms --sse-kms-key-id alias/archive"
#   FETCH_ARGS            extra flags for every fetch, e.g. "--rate-limit 40"
#   COMPLIANCE_BASE_URL   default https://api.chatgpt.com/v1
#   OPENAI_BASE_URL       default https://api.openai.com/v1 (audit logs)
#   WORK_DIR              local cache: staging tree, state copies, run summaries
#                         (default ${XDG_DATA_HOME:-~/.local/share}/compliance-archive/backup)
#   SUMMARY_FILE          run summary JSON (default $WORK_DIR/runs/<run id>.json)
#   BIN_DIR               where the tools are (default: the built workspace, then $PATH)
#
# Exit codes: 0 success; 1 some records were quarantined (archived under
# _quarantine/ and committed: nothing was lost), some referenced files were
# gone upstream (listed in files-missing.ndjson), a bookmark is older than
# the upstream retention (the lost window is named), or some items failed;
# otherwise the exit code of the first failing stage (2 configuration,
# 3 bad data, 4 remote service), named on stderr and in the summary;
# 75 another run holds a stream's lease or committed first.
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
    --shard-index) SHARD_INDEX=${2:?--shard-index needs a number}; shift 2 ;;
    --shard-count) SHARD_COUNT=${2:?--shard-count needs a number}; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --no-resume) NO_RESUME=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die 2 "unknown argument '$1' (see --help)" ;;
  esac
done

[[ -n ${OPENAI_API_KEY:-} ]] || die 2 "OPENAI_API_KEY is not set: export it or put it in the --config file"
[[ -n ${ARCHIVE_DEST:-} ]] || die 2 "ARCHIVE_DEST is not set: s3://bucket/prefix or a local directory"
read_workspaces
export OPENAI_API_KEY

STREAMS=${STREAMS:-logs users gpts projects audit-logs}
LOG_EVENT_TYPES=${LOG_EVENT_TYPES:-all}
CONVERSATIONS=${CONVERSATIONS:-logs}
FILES=${FILES:-on}
[[ $CONVERSATIONS == logs || $CONVERSATIONS == off ]] || die 2 "CONVERSATIONS='$CONVERSATIONS': expected logs or off"
[[ $FILES == on || $FILES == off ]] || die 2 "FILES='$FILES': expected on or off"
if [[ $CONVERSATIONS == logs && " $STREAMS " == *" conversations "* ]]; then
  die 2 "STREAMS has the legacy 'conversations' stream and CONVERSATIONS=logs: both write <area>/conversations/; set CONVERSATIONS=off to keep the legacy stream"
fi
STORAGE_CLASS=${STORAGE_CLASS:-STANDARD}
WORK_DIR=${WORK_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/compliance-archive/backup}
STATE_URL=${STATE_URL:-$(dest_join "$ARCHIVE_DEST" _state)}
LEASE_TTL=${LEASE_TTL:-6h}
read_shard
STAGE=$WORK_DIR/archive
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)-$$
RUNS_URL=$(dest_join "$STATE_URL" "runs/$SHARD_TAG")
SUMMARY_FILE=${SUMMARY_FILE:-$WORK_DIR/runs/$RUN_ID.json}
read -r -a FETCH_EXTRA <<< "${FETCH_ARGS:-}"
read -r -a SHIP_EXTRA <<< "${SHIP_ARGS:-}"

find_tools
mkdir -p "$STAGE" "$WORK_DIR/state" "$(dirname "$SUMMARY_FILE")"
take_lock "$WORK_DIR/backup-$SHARD_TAG.lock"

RUN_TMP=$(mktemp -d "$WORK_DIR/.run-XXXXXX")
STARTED=$(date +%s)
FAILED_STAGE="" FAILED_CODE=0 FINISHED=0 QUARANTINED=0 FILES_MISSING=0 STALE=0
HELD_LEASES=()
: > "$RUN_TMP/pipelines.ndjson"

common_fetch=()
((NO_RESUME)) && common_fetch+=(--no-resume)
[[ -n $SINCE ]] && common_fetch+=(--since "$SINCE")
ship_flags=(--update)
is_s3 "$ARCHIVE_DEST" && ship_flags+=(--storage-class "$STORAGE_CLASS" --manifest-storage-class STANDARD)

# The streams of this run: "workspace|name|kind|area" (kind: records or
# snapshot). The organisation audit log is one stream whatever the number
# of workspaces.
plan_units() {
  local ws prefix stream type
  UNITS=()
  for ws in "${WORKSPACES[@]}"; do
    prefix=""; ((MULTI_WORKSPACE)) && prefix="$ws/"
    for stream in $STREAMS; do
      case $stream in
        logs)
          if [[ $LOG_EVENT_TYPES == all ]]; then UNITS+=("$ws|logs-all|records|${prefix}logs/all")
          else for type in $LOG_EVENT_TYPES; do UNITS+=("$ws|logs-$type|records|${prefix}logs/$type"); done; fi ;;
        conversations) UNITS+=("$ws|conversations|records|${prefix}conversations") ;;
        users|gpts|projects|memories) UNITS+=("$ws|$stream|snapshot|${prefix}snapshots/$stream") ;;
        audit-logs) ;;
        *) die 2 "STREAMS: unknown stream '$stream' (logs conversations users gpts projects memories audit-logs)" ;;
      esac
    done
  done
  if [[ " $STREAMS " == *" audit-logs "* ]]; then
    if [[ -n ${OPENAI_ADMIN_KEY:-} ]]; then UNITS+=("org|audit-logs|records|audit-logs"); export OPENAI_ADMIN_KEY
    else log "audit-logs: OPENAI_ADMIN_KEY not set, skipped"; fi
  fi
  local mine=()
  for u in "${UNITS[@]}"; do
    IFS='|' read -r ws name _ _ <<< "$u"
    (( $(shard_of "$ws/$name") == SHARD_INDEX )) && mine+=("$u")
  done
  UNITS=("${mine[@]+"${mine[@]}"}")
}

# fetch arguments of a records stream.
unit_args() {
  local ws=$1 name=$2
  case $name in
    logs-*) echo "logs --event-type ${name#logs-} --workspace-id $ws" ;;
    conversations) echo "conversations --workspace-id $ws${USERS:+ --users $USERS}" ;;
    audit-logs) echo "audit-logs" ;;
  esac
}

# What a records stream delivers, one "label|area|input|partition flags"
# line per output (input: all, or conversation-messages). The message
# events of a logs stream give two outputs: the raw events, kept as the
# evidence, and the conversations assembled from them in the seed layout.
unit_outputs() {
  local name=$1 area=$2
  case $name in
    logs-*)
      echo "events|$area|all|--preset log-events --layout hive --format ndjson --compression gzip"
      local type=${name#logs-}
      if [[ $CONVERSATIONS == logs && ( $type == all || $type == CONVERSATION_MESSAGE ) ]]; then
        echo "conversations|${area%logs/*}conversations|conversation-messages|--preset log-conversations"
      fi ;;
    conversations) echo "conversations|$area|all|--preset conversations" ;;
    audit-logs) echo "audit-logs|$area|all|--preset audit-logs --layout daily-jsonl" ;;
  esac
}

unit_state() { dest_join "$STATE_URL" "$1/$2"; }

# Take every stream's lease, or none: a run that finds one held gives back
# what it took and exits 75 before it fetches anything.
take_leases() {
  local u ws name url code
  for u in "${UNITS[@]+"${UNITS[@]}"}"; do
    IFS='|' read -r ws name _ _ <<< "$u"
    url=$(unit_state "$ws" "$name")
    set +e
    "$TOOL_STATE" lease "$url" --owner "$RUN_ID" --pid $$ --ttl "$LEASE_TTL" > /dev/null
    code=$?
    set -e
    if ((code != 0)); then
      FAILED_STAGE="$name/lease" FAILED_CODE=$code
      return "$code"
    fi
    HELD_LEASES+=("$url")
  done
}

release_leases() {
  local url
  for url in "${HELD_LEASES[@]+"${HELD_LEASES[@]}"}"; do
    "$TOOL_STATE" release "$url" --owner "$RUN_ID" > /dev/null 2>&1 || log "could not release the lease $url (it expires after $LEASE_TTL)"
  done
  HELD_LEASES=()
}

# The freshness reports of a stream's fetch runs (logs, files), as a JSON array.
freshness_of() {
  local f out=()
  for f in "$1/fetch.json" "$1/files.json"; do [[ -s $f ]] && out+=("$f"); done
  ((${#out[@]})) || { echo '[]'; return; }
  jq -sc '[.[] | .freshness // empty]' "${out[@]}" 2>/dev/null || echo '[]'
}

# Record one stream's outcome: stage codes, and counts from the summaries
# and from ship's object lines.
record() {
  local name=$1 dir=$2 committed=$3; shift 3
  local -a stages=("$@")
  local codes=() stage objects=$dir/objects.ndjson
  touch "$objects"
  for stage in "${stages[@]}"; do codes+=("\"$stage\":$(cat "$dir/${stage//\//_}.code" 2>/dev/null || echo null)"); done
  jq -cn --arg name "$name" --argjson committed "$committed" \
    --argjson exit "{$(IFS=,; echo "${codes[*]}")}" \
    --argjson records "$(summary_field "$dir/fetch.json" records 0)" \
    --argjson quarantined "$(cat "$dir"/*partition.json 2>/dev/null | jq -s 'map(.quarantined // 0) | add // 0')" \
    --argjson files_missing "$(summary_field "$dir/files.json" files_missing 0)" \
    --argjson freshness "$(freshness_of "$dir")" \
    --slurpfile objects "$objects" \
    '{stream:$name, records:$records, quarantined:$quarantined, files_missing:$files_missing,
      freshness:$freshness, committed:$committed,
      files: ([$objects[] | select(.manifest != true)] | length),
      bytes: ([$objects[] | select(.status == "uploaded") | .bytes] | add // 0),
      objects: ($objects | length),
      uploaded: ([$objects[] | select(.status == "uploaded")] | length),
      skipped: ([$objects[] | select(.status == "skipped")] | length),
      quarantine_files: [$objects[] | select(.kind == "quarantine") | .key // .path],
      exit:$exit}' >> "$RUN_TMP/pipelines.ndjson"
  for stage in "${stages[@]}"; do
    local code; code=$(cat "$dir/${stage//\//_}.code" 2>/dev/null || echo 0)
    # 141 (SIGPIPE) upstream of a failed stage is a consequence, not the cause.
    if [[ $code != 0 && $code != 141 && -z $FAILED_STAGE ]]; then
      FAILED_STAGE="$name/$stage" FAILED_CODE=$code
      log "stage $stage of $name failed with exit $code (see its messages above)"
    fi
  done
}

# partition's exit 1 when the only trouble is quarantined lines: they are
# archived with the rest (under _quarantine/), so nothing is lost and the
# bookmark may move. Anything else that failed is a real failure.
only_quarantined() {
  local s=$1
  [[ -s $s ]] && jq -e '.quarantined > 0 and (.groups_failed // 0) == 0 and (.files_failed // 0) == 0' "$s" > /dev/null
}

# Bring the destination's copy of every file this run will merge into
# (and the manifests of the area) into the staging tree, each checked
# against the destination's manifest. A cached copy that matches is kept.
merge_inputs() {
  local area=$1 planned=$2 dir=$3
  "$TOOL_RESTORE" get "$(dest_join "$ARCHIVE_DEST" "$area")" "$STAGE/$area" --missing-ok --manifest-at-root \
    --files "$planned" --summary "$dir/restore.json" > "$dir/merge-inputs.ndjson"
}

# Stages are recorded in order in $dir/stages, each with its exit code in
# $dir/<stage>.code (a / in the name becomes _).
stage_code() {
  local dir=$1 stage=$2 code=$3
  echo "$stage" >> "$dir/stages"
  echo "$code" > "$dir/${stage//\//_}.code"
}

# fetch to a spool, then deliver each output of the stream.
run_records() {
  local ws=$1 name=$2 area=$3 dir=$4 sdir=$5
  local -a fetch_args
  read -r -a fetch_args <<< "$(unit_args "$ws" "$name")"
  log "$name: fetch -> $RUN_TMP"
  set +e
  "$TOOL_FETCH" "${fetch_args[@]}" --state-dir "$sdir" --run-id "$RUN_ID" "${common_fetch[@]+"${common_fetch[@]}"}" \
    "${FETCH_EXTRA[@]+"${FETCH_EXTRA[@]}"}" --summary "$dir/fetch.json" > "$dir/records.ndjson"
  local code=$?
  set -e
  # Exit 1 with a lost window: what the upstream still has was fetched and
  # is archived; the run says which window is gone and exits 1.
  if ((code == 1)) && jq -e '.freshness | .. | objects | select(has("lost_from"))' "$dir/fetch.json" > /dev/null 2>&1; then
    STALE=1 code=0
  fi
  stage_code "$dir" fetch "$code"
  ((code == 0)) || return 0
  if [[ -n $USERS && $name == logs-* ]]; then
    jq -c --arg users "$USERS" '($users | split(",")) as $u | select((.actor.user_id // "") as $id | $u | index($id))' \
      "$dir/records.ndjson" > "$dir/records.users" && mv "$dir/records.users" "$dir/records.ndjson"
  fi
  local label oarea input flags
  while IFS='|' read -r label oarea input flags; do
    deliver "$ws" "$name" "$dir" "$sdir" "$label" "$oarea" "$input" "$flags"
  done < <(unit_outputs "$name" "$area")
}

# The attachments of the message events in $1, downloaded beside their
# day under the output's staging area; file lines in $dir/files.ndjson.
fetch_files() {
  local ws=$1 dir=$2 sdir=$3 events=$4 oarea=$5
  set +e
  "$TOOL_FETCH" files --events "$events" --out "$STAGE/$oarea" --workspace-id "$ws" --state-dir "$sdir" \
    --run-id "$RUN_ID" "${FETCH_EXTRA[@]+"${FETCH_EXTRA[@]}"}" --summary "$dir/files.json" > "$dir/files.ndjson"
  local code=$?
  set -e
  # Exit 1 when the only trouble is files the server no longer has (listed
  # in files-missing.ndjson, archived too) or a files bookmark older than
  # the uploads' retention (named as a lost window): what could be fetched
  # was, so the bookmark may move; the run exits 1 saying so. Holding it
  # back would fail every later run the same way.
  if ((code == 1)) && jq -e '(.files_failed // 0) == 0' "$dir/files.json" > /dev/null 2>&1; then
    if jq -e '(.files_missing // 0) > 0' "$dir/files.json" > /dev/null; then
      FILES_MISSING=1 code=0
      log "files: $(summary_field "$dir/files.json" files_missing 0) referenced file(s) are gone upstream; listed in files-missing.ndjson under $(dest_join "$ARCHIVE_DEST" "$oarea")"
    fi
    if jq -e '.freshness | .. | objects | select(has("lost_from"))' "$dir/files.json" > /dev/null 2>&1; then
      STALE=1 code=0
    fi
  fi
  stage_code "$dir" files "$code"
  return "$code"
}

# One output: see which files it touches, bring those back from the
# destination, then partition | manifest | ship.
deliver() {
  local ws=$1 name=$2 dir=$3 sdir=$4 label=$5 oarea=$6 input=$7 flags=$8
  local in=$dir/records.ndjson
  local -a part_args
  read -r -a part_args <<< "$flags"
  : > "$dir/files.ndjson"
  if [[ $input == conversation-messages ]]; then
    in=$dir/$label.ndjson
    jq -c 'select(.type == "CONVERSATION_MESSAGE")' "$dir/records.ndjson" > "$in"
    if [[ $FILES == on ]]; then fetch_files "$ws" "$dir" "$sdir" "$in" "$oarea" || return 0; fi
  fi
  log "$name: $label: partition | manifest | ship -> $(dest_join "$ARCHIVE_DEST" "$oarea")"
  set +e
  "$TOOL_PARTITION" --out "$STAGE/$oarea" "${part_args[@]}" --dry-run < "$in" > "$dir/planned.ndjson" 2> "$dir/plan.err"
  local plan=$?
  if ((plan > 1)); then cat "$dir/plan.err" >&2; stage_code "$dir" "$label/plan" "$plan"; set -e; return 0; fi
  merge_inputs "$oarea" "$dir/planned.ndjson" "$dir"
  local merged=$?
  stage_code "$dir" "$label/merge" "$merged"
  ((merged == 0)) || { set -e; return 0; }
  { "$TOOL_PARTITION" --out "$STAGE/$oarea" "${part_args[@]}" --summary "$dir/$label.partition.json" < "$in"
    echo $? > "$dir/$label.partition.rc"
    cat "$dir/files.ndjson"; } \
    | "$TOOL_MANIFEST" --keep-absent --summary "$dir/$label.manifest.json" \
    | "$TOOL_SHIP" "$(dest_join "$ARCHIVE_DEST" "$oarea")" "${ship_flags[@]}" "${SHIP_EXTRA[@]+"${SHIP_EXTRA[@]}"}" --summary "$dir/$label.ship.json" \
    >> "$dir/objects.ndjson"
  local -a codes=("${PIPESTATUS[@]}")
  set -e
  local pcode; pcode=$(cat "$dir/$label.partition.rc" 2>/dev/null || echo 1)
  if ((pcode == 1)) && only_quarantined "$dir/$label.partition.json"; then
    pcode=0 QUARANTINED=1
    log "$name: $label: $(summary_field "$dir/$label.partition.json" quarantined 0) line(s) quarantined and archived under $(dest_join "$ARCHIVE_DEST" "$oarea")/_quarantine/"
  fi
  stage_code "$dir" "$label/partition" "$pcode"
  stage_code "$dir" "$label/manifest" "${codes[1]}"
  stage_code "$dir" "$label/ship" "${codes[2]}"
}

# Reference streams (users, GPTs, projects) are kept as dated snapshots:
# fetch writes the whole list to a staging file renamed into place only
# when fetch succeeded; the area's manifest is the destination's, extended.
run_snapshot() {
  local ws=$1 name=$2 area=$3 dir=$4 sdir=$5
  local day; day=$(date -u +%Y/%m/%d)
  local target=$STAGE/$area/$day/$name.ndjson
  mkdir -p "$(dirname "$target")"
  log "$name: snapshot -> $(dest_join "$ARCHIVE_DEST" "$area/$day/$name.ndjson")"
  local -a ws_args=(); [[ $ws != org ]] && ws_args=(--workspace-id "$ws")
  # Today's snapshot as the destination holds it (and the area's
  # manifests): an unchanged snapshot then keeps its file, time and manifest.
  jq -cn --arg p "$day/$name.ndjson" '{path: $p}' > "$dir/planned.ndjson"
  set +e
  merge_inputs "$area" "$dir/planned.ndjson" "$dir"
  local merged=$?
  stage_code "$dir" merge "$merged"
  ((merged == 0)) || { set -e; return 0; }
  "$TOOL_FETCH" "$name" "${ws_args[@]}" --no-resume "${FETCH_EXTRA[@]+"${FETCH_EXTRA[@]}"}" --state-dir "$sdir" \
    --summary "$dir/fetch.json" > "$target.partial"
  local fcode=$?
  stage_code "$dir" fetch "$fcode"
  if ((fcode == 0)) && cmp -s "$target.partial" "$target"; then
    rm -f "$target.partial"      # same snapshot as earlier today: keep the file and its mtime
  elif ((fcode == 0)); then
    sync "$target.partial" 2>/dev/null || true
    mv -f "$target.partial" "$target"
  else
    rm -f "$target.partial"; set -e; return 0
  fi
  set +e
  "$TOOL_MANIFEST" --root "$STAGE/$area" --keep-absent --summary "$dir/manifest.json" \
    | "$TOOL_SHIP" "$(dest_join "$ARCHIVE_DEST" "$area")" "${ship_flags[@]}" "${SHIP_EXTRA[@]+"${SHIP_EXTRA[@]}"}" --summary "$dir/ship.json" \
    > "$dir/objects.ndjson"
  local -a codes=("${PIPESTATUS[@]}")
  set -e
  stage_code "$dir" manifest "${codes[0]}"; stage_code "$dir" ship "${codes[1]}"
}

# One stream: its bookmarks from the archive, the pipeline, and, when every
# stage succeeded, `fetch commit` and the conditional push of the bookmarks.
run_unit() {
  local ws=$1 name=$2 kind=$3 area=$4
  local dir=$RUN_TMP/$ws-$name sdir=$WORK_DIR/state/$ws/$name url
  url=$(unit_state "$ws" "$name")
  mkdir -p "$dir" "$sdir"
  : > "$dir/stages"; : > "$dir/objects.ndjson"
  set +e
  "$TOOL_STATE" pull "$(dest_join "$url" bookmarks)" "$sdir" > /dev/null
  local pulled=$?
  set -e
  stage_code "$dir" state "$pulled"
  if ((pulled == 0)); then
    if [[ $kind == snapshot ]]; then run_snapshot "$ws" "$name" "$area" "$dir" "$sdir"; else run_records "$ws" "$name" "$area" "$dir" "$sdir"; fi
  fi
  local ok=1 s
  local -a stages
  mapfile -t stages < "$dir/stages"
  for s in "${stages[@]}"; do [[ $(cat "$dir/${s//\//_}.code") == 0 ]] || ok=0; done
  local committed=false
  if ((ok)) && [[ $kind == records && -n $USERS ]]; then
    log "$name: --users: a partial run for some users; bookmarks are not committed"
  elif ((ok)) && [[ $kind == records ]]; then
    set +e
    "$TOOL_FETCH" commit --state-dir "$sdir" --run-id "$RUN_ID" > /dev/null \
      && "$TOOL_STATE" push "$sdir" "$(dest_join "$url" bookmarks)" --lease "$url" --owner "$RUN_ID" --ttl "$LEASE_TTL" > /dev/null
    local pushed=$?
    set -e
    stage_code "$dir" commit "$pushed"
    stages+=(commit)
    ((pushed == 0)) && committed=true
  elif ((ok)); then
    committed=true
  else
    log "$name: bookmark NOT committed: the next run fetches this window again"
  fi
  record "$name" "$dir" "$committed" "${stages[@]}"
}

# The run record, on every exit: failed (with the stage, code and cause)
# unless the run reached its end. Written locally and beside the archive;
# `current.json` says "running" from the start, so a run that could not
# even write its record (a full disk, SIGKILL) is visible as unfinished.
write_record() {
  local status=$1 code=$2 now summary
  now=$(date +%s)
  summary=$(jq -s --arg job "$JOB_NAME" --arg run "$RUN_ID" --arg dest "$ARCHIVE_DEST" --arg shard "$SHARD_TAG" \
    --argjson started "$STARTED" --argjson finished "$now" --arg status "$status" \
    --arg failed "$FAILED_STAGE" --argjson code "$code" --argjson quarantined "$QUARANTINED" '
    { job: $job, run_id: $run, dest: $dest, shard: $shard,
      started_at: ($started | todate), finished_at: ($finished | todate), duration_s: ($finished - $started),
      status: $status,
      failed_stage: (if $failed == "" then null else $failed end), exit_code: $code,
      committed: ((length > 0) and all(.committed)),
      quarantine_files: (map(.quarantine_files // []) | add // []),
      files_missing: (map(.files_missing // 0) | add // 0),
      lost_windows: [.[] | .stream as $s | (.freshness // [])[]
        | (if has("lost_from") then . else .[]? end) | objects
        | select(has("lost_from")) | {stream: $s, lost_from, lost_until}],
      records: (map(.records) | add // 0), files: (map(.files) | add // 0),
      bytes: (map(.bytes) | add // 0), objects: (map(.objects) | add // 0),
      uploaded: (map(.uploaded) | add // 0), skipped: (map(.skipped) | add // 0),
      streams: . }' "$RUN_TMP/pipelines.ndjson" 2>/dev/null) \
    || summary=$(printf '{"job":"%s","run_id":"%s","status":"%s","exit_code":%s,"failed_stage":"%s","committed":false}' \
      "$JOB_NAME" "$RUN_ID" "$status" "$code" "$FAILED_STAGE")
  { printf '%s\n' "$summary" > "$SUMMARY_FILE.tmp" && mv -f "$SUMMARY_FILE.tmp" "$SUMMARY_FILE" \
      && cp -f "$SUMMARY_FILE" "$WORK_DIR/runs/last.json.tmp" && mv -f "$WORK_DIR/runs/last.json.tmp" "$WORK_DIR/runs/last.json" \
      && printf '%s\n' "$summary" > "$WORK_DIR/runs/current.json"; } 2>/dev/null \
    || log "could not write the run record under $WORK_DIR/runs (disk full?); runs/current.json still says the run did not finish"
  if ((DRY_RUN == 0)); then
    local name
    for name in last.json "$RUN_ID.json" current.json; do
      "$TOOL_STATE" put "$RUNS_URL" "$name" <(printf '%s\n' "$summary") > /dev/null 2>&1 \
        || { log "could not store the run record in $RUNS_URL"; break; }
    done
  fi
  printf '%s\n' "$summary" | jq -r '"\(.job): \(.status)\(if .failed_stage then " at \(.failed_stage) (exit \(.exit_code))" else "" end): \(.records // 0) records, \(.files // 0) files, \(.objects // 0) objects (\(.uploaded // 0) uploaded, \(.skipped // 0) unchanged), \(.bytes // 0) bytes in \(.duration_s // 0)s, committed=\(.committed)\(if (.quarantine_files // []) != [] then "; quarantined: \(.quarantine_files | join(" "))" else "" end)"' >&2 || true
}

on_exit() {
  local code=$?
  trap - EXIT
  if ((!FINISHED)); then
    [[ -z $FAILED_STAGE ]] && FAILED_STAGE=${CURRENT_STAGE:-script}
    ((code == 0)) && code=1
    log "the run stopped early (exit $code) at $FAILED_STAGE"
    write_record failed "$code"
  fi
  release_leases
  rm -rf "$RUN_TMP"
  exit "$code"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# Before any API budget is spent: the state location and the destination
# can hold what the run writes (a dry run only reads), and the API key
# answers for every workspace (one request each). Each failure is one
# message and exit 2 (or 4 when the service is down), naming what to fix.
preflight() {
  CURRENT_STAGE=preflight
  local -a ro=(); ((DRY_RUN)) && ro=(--read-only)
  local at code
  for at in "$STATE_URL" "$ARCHIVE_DEST"; do
    # The destination is checked on its own only when the state lives elsewhere.
    if [[ $at != "$STATE_URL" ]]; then
      [[ $STATE_URL == "${ARCHIVE_DEST%/}"/* ]] && continue
      is_s3 "$at" && [[ $(bucket_of "$at") == $(bucket_of "$STATE_URL") ]] && continue
    fi
    set +e
    "$TOOL_STATE" check "$at" "${ro[@]+"${ro[@]}"}" > /dev/null
    code=$?
    set -e
    ((code == 0)) || { FAILED_STAGE=preflight; die "$code" "preflight: $at cannot be used (see the message above); nothing was fetched"; }
  done
  local u ws name kind seen=" "
  local -a args
  for u in "${UNITS[@]+"${UNITS[@]}"}"; do
    IFS='|' read -r ws name kind _ <<< "$u"
    [[ $seen == *" $ws "* ]] && continue
    seen+="$ws "
    if [[ $kind == snapshot ]]; then args=("$name" --workspace-id "$ws"); else read -r -a args <<< "$(unit_args "$ws" "$name" | sed 's/ -- .*//')"; fi
    set +e
    "$TOOL_FETCH" "${args[@]}" --state-dir "$RUN_TMP/preflight-state" "${common_fetch[@]+"${common_fetch[@]}"}" \
      "${FETCH_EXTRA[@]+"${FETCH_EXTRA[@]}"}" --dry-run > /dev/null 2> "$RUN_TMP/preflight.err"
    code=$?
    set -e
    if ((code != 0)); then
      cat "$RUN_TMP/preflight.err" >&2
      FAILED_STAGE=preflight
      die "$code" "preflight: the API refused $name of $ws (see the message above); nothing was fetched"
    fi
  done
  log "preflight: $STATE_URL and $ARCHIVE_DEST usable, API key accepted"
}

plan_units
log "run $RUN_ID, $SHARD_TAG: ${#UNITS[@]} stream(s); state in $STATE_URL"
preflight

if ((DRY_RUN)); then
  # Show the first request of each stream and check the credentials with
  # one call each; show where objects would go. Nothing is written.
  for u in "${UNITS[@]+"${UNITS[@]}"}"; do
    IFS='|' read -r ws name kind area <<< "$u"
    if [[ $kind == snapshot ]]; then args=("$name" --workspace-id "$ws"); else read -r -a args <<< "$(unit_args "$ws" "$name" | sed 's/ -- .*//')"; fi
    log "dry run: $name -> $(dest_join "$ARCHIVE_DEST" "$area")"
    [[ -n $USERS && $name == logs-* ]] && log "dry run: $name: only events of $USERS would be kept (actor.user_id), and no bookmark committed"
    "$TOOL_FETCH" "${args[@]}" --state-dir "$RUN_TMP/dry-state" "${common_fetch[@]+"${common_fetch[@]}"}" "${FETCH_EXTRA[@]+"${FETCH_EXTRA[@]}"}" --dry-run \
      || { FAILED_STAGE="$name/fetch"; die $? "dry run of fetch $name failed"; }
  done
  log "dry run: nothing fetched, written, shipped or committed"
  FINISHED=1
  exit 0
fi

printf '{"job":"%s","run_id":"%s","status":"running","started_at":"%s","shard":"%s"}\n' \
  "$JOB_NAME" "$RUN_ID" "$(date -u +%FT%TZ)" "$SHARD_TAG" > "$WORK_DIR/runs/current.json"
set +e
"$TOOL_STATE" put "$RUNS_URL" current.json "$WORK_DIR/runs/current.json" > /dev/null
code=$?
set -e
((code == 0)) || { FAILED_STAGE=state; die "$code" "cannot write to the state location $STATE_URL (archive-state exit $code; see its message above)"; }

CURRENT_STAGE=lease
if ! take_leases; then
  code=$FAILED_CODE
  log "$FAILED_STAGE: not started (exit $code); leases this run had taken are given back"
  write_record held "$code"
  FINISHED=1
  exit "$code"
fi

for u in "${UNITS[@]+"${UNITS[@]}"}"; do
  IFS='|' read -r ws name kind area <<< "$u"
  # A configuration error (exit 2: bad key, URL, workspace or bucket)
  # would fail every remaining stream the same way: stop here.
  if [[ $FAILED_CODE == 2 ]]; then log "stopping after a configuration error; $name not run"; break; fi
  CURRENT_STAGE=$name
  run_unit "$ws" "$name" "$kind" "$area"
done

status=ok code=0
if [[ -n $FAILED_STAGE ]]; then status=failed code=$FAILED_CODE
elif ((QUARANTINED)); then status=quarantined code=1
elif ((FILES_MISSING)); then status=files_missing code=1
elif ((STALE)); then status=stale code=1
fi
write_record "$status" "$code"
FINISHED=1
exit "$code"
