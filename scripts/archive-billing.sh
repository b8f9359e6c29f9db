#!/usr/bin/env bash
# Monthly billing archive (run on the 2nd for the previous month): for each
# ledger table, the month's rows in timestamp order
#   psql \copy (select … where ts >= start and ts < end order by ts) | parquetize
# with exact types from pg_dump --schema-only; a full snapshot of the
# reference tables; then manifest (period, retention, compliance tags) and
# ship (data in DEEP_ARCHIVE or GLACIER_IR, manifests in STANDARD).
# Temporary files are removed even on failure.
#
# Usage: archive-billing.sh [--config FILE] [--period YYYY-MM] [--dest DEST]
#                           [--storage-class DEEP_ARCHIVE|GLACIER_IR|…] [--dry-run]
#
# Configuration (environment or --config FILE of KEY=value lines):
#   PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD …  the standard libpq variables
#   BILLING_DEST        s3://bucket/prefix or a local directory (or --dest)
#   BILLING_TABLES      "table:timestamp_column …" (default
#                       "credits:created_at charges:created_at purchases:created_at
#                        usage_logs:created_at audit_logs:created_at credit_checks:created_at")
#   SNAPSHOT_TABLES     reference tables copied whole (default "accounts")
#   STORAGE_CLASS       data storage class (default DEEP_ARCHIVE)
#   RETENTION_YEARS     default 10
#   COMPLIANCE_TAGS     e.g. "SOX GDPR" (each becomes --compliance TAG)
#   NUMERIC_AS          how to store unconstrained numeric: string (default) or decimal(p,s)
#   SHIP_ARGS           extra flags for ship (SSE, Object Lock, …)
#   WORK_DIR            temporary space (default: a fresh directory under $TMPDIR)
#   SUMMARY_FILE        run summary JSON (default: none; one line on stderr always)
#   STATE_URL           where the job keeps what it shipped and its run records
#                       (default <BILLING_DEST>/_state)
#   MISSING_TABLES      "skip" to skip listed tables that do not exist (default: fail)
#
# A month is archived once; its objects are never replaced (no-clobber).
# The manifest of every shipped month is kept under STATE_URL too, so a
# re-run knows, even with PutObject-only permission on the data, which
# files are unchanged (skipped) and which carry a database correction:
# those are reported "conflict", named, and the run exits 1. The stored
# objects keep the bytes the auditors were given; archive the correction
# as a new period or under a new prefix.
#
# Exit codes: 0 success; 1 a correction was not archived (conflict) or some
# items failed; otherwise the first failing stage's code (2 configuration,
# 3 bad data, 4 remote service), named on stderr.
set -euo pipefail
JOB_NAME=archive-billing
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

PERIOD="" DRY_RUN=0 DEST_ARG="" SC_ARG=""
while (($#)); do
  case $1 in
    --config) load_config "${2:?--config needs a file}"; shift 2 ;;
    --period) PERIOD=${2:?--period needs YYYY-MM}; shift 2 ;;
    --dest) DEST_ARG=${2:?--dest needs a destination}; shift 2 ;;
    --storage-class) SC_ARG=${2:?--storage-class needs a class}; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die 2 "unknown argument '$1' (see --help)" ;;
  esac
done

# Previous month by default: the job runs on the 2nd for the month before.
PERIOD=${PERIOD:-$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m)}
[[ $PERIOD =~ ^[0-9]{4}-(0[1-9]|1[0-2])$ ]] || die 2 "--period '$PERIOD': expected YYYY-MM"
START="$PERIOD-01"
END=$(date -u -d "$START +1 month" +%Y-%m-%d)
DEST=${DEST_ARG:-${BILLING_DEST:-}}
[[ -n $DEST ]] || die 2 "no destination: set BILLING_DEST or pass --dest s3://bucket/prefix (or a directory)"
STORAGE_CLASS=${SC_ARG:-${STORAGE_CLASS:-DEEP_ARCHIVE}}
RETENTION_YEARS=${RETENTION_YEARS:-10}
BILLING_TABLES=${BILLING_TABLES:-credits:created_at charges:created_at purchases:created_at usage_logs:created_at audit_logs:created_at credit_checks:created_at}
SNAPSHOT_TABLES=${SNAPSHOT_TABLES-accounts}
NUMERIC_AS=${NUMERIC_AS:-string}
STATE_URL=${STATE_URL:-$(dest_join "$DEST" _state)}
MONTH_STATE=$(dest_join "$STATE_URL" "billing/$PERIOD")
read -r -a SHIP_EXTRA <<< "${SHIP_ARGS:-}"
find_tools
command -v psql >/dev/null || die 2 "psql not found (apt-get install postgresql-client)"
command -v pg_dump >/dev/null || die 2 "pg_dump not found (apt-get install postgresql-client)"
export PGTZ=UTC PGOPTIONS="${PGOPTIONS:-} -c timezone=UTC -c extra_float_digits=1"

TMP_PARENT=${WORK_DIR:-${TMPDIR:-/tmp}}
mkdir -p "$TMP_PARENT"
take_lock "$TMP_PARENT/archive-billing.lock"
WORK=$(mktemp -d "$TMP_PARENT/billing-$PERIOD-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
OUT=$WORK/$PERIOD
mkdir -p "$OUT"
STARTED=$(date +%s)
FAILED_STAGE="" FAILED_CODE=0
fail() { # stage code
  if [[ -z $FAILED_STAGE ]]; then FAILED_STAGE=$1 FAILED_CODE=$2; log "stage $1 failed with exit $2"; fi
}

# File lines on stdin -> the same lines with "changed" set from what the
# previous run shipped: true when the path was shipped with other bytes
# (a correction), false when with the same. ship then calls a changed file
# under an existing key a conflict even without permission to read it.
mark_changed() {
  jq -c --slurpfile prev <(jq -c '{(.path): .sha256}' "$1" | jq -s 'add // {}') \
    'if ($prev[0][.path] // null) == null then . else .changed = ($prev[0][.path] != .sha256) end'
}

PSQL=(psql -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -tAc 'select 1' >/dev/null 2>"$WORK/psql.err" \
  || die 2 "cannot connect to PostgreSQL (PGHOST=${PGHOST:-} PGPORT=${PGPORT:-} PGDATABASE=${PGDATABASE:-}): $(head -c 300 "$WORK/psql.err")"

table_exists() { [[ $("${PSQL[@]}" -tAc "select to_regclass('$1') is not null") == t ]]; }
ident_ok() { [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_.]*$ ]] || die 2 "table or column name '$1' is not a plain identifier"; }

: > "$OUT.lines"
# One table: schema, month (or whole table for a snapshot) -> Parquet.
export_table() {
  local table=$1 ts=$2 mode=$3
  ident_ok "$table"; [[ -n $ts ]] && ident_ok "$ts"
  if ! table_exists "$table"; then
    if [[ ${MISSING_TABLES:-fail} == skip ]]; then log "$table: no such table, skipped"; return; fi
    fail "schema:$table" 2; log "$table: no such table (set MISSING_TABLES=skip to skip it)"; return
  fi
  pg_dump --schema-only --no-owner -t "$table" > "$WORK/$table.schema.sql" 2>"$WORK/pg_dump.err" \
    || { fail "pg_dump:$table" 2; cat "$WORK/pg_dump.err" >&2; return; }
  local query name
  if [[ $mode == snapshot ]]; then
    query="select * from $table"
    name='{table}-snapshot-{period}.parquet'
  else
    query="select * from $table where $ts >= '$START 00:00:00+00' and $ts < '$END 00:00:00+00' order by $ts"
    name='{table}-{period}.parquet'
  fi
  local -a snap=(); [[ $mode == snapshot ]] && snap=(--snapshot)
  log "$table: $query"
  set +e
  "${PSQL[@]}" -c "\\copy ($query) to stdout with (format csv, header)" \
    | "$TOOL_PARQUETIZE" - --table "$table" --format pg-csv --schema-sql "$WORK/$table.schema.sql" \
        --numeric-as "$NUMERIC_AS" --out "$OUT" --name "$name" --period "$PERIOD" "${snap[@]}" \
        --summary "$WORK/$table.parquetize.json" >> "$OUT.lines"
  local -a codes=("${PIPESTATUS[@]}")
  set -e
  ((codes[0] == 0)) || fail "psql:$table" "${codes[0]}"
  ((codes[1] == 0)) || fail "parquetize:$table" "${codes[1]}"
  if ((codes[0] == 0 && codes[1] == 0)); then
    local expected got
    expected=$("${PSQL[@]}" -tAc "select count(*) from ($query) q")
    got=$(summary_field "$WORK/$table.parquetize.json" records -1)
    [[ $expected == "$got" ]] || { fail "count:$table" 3; log "$table: PostgreSQL has $expected rows, Parquet got $got"; }
  fi
}

for spec in $BILLING_TABLES; do
  [[ $spec == *:* ]] || die 2 "BILLING_TABLES entry '$spec': expected table:timestamp_column"
  export_table "${spec%%:*}" "${spec#*:}" month
done
for table in $SNAPSHOT_TABLES; do export_table "$table" "" snapshot; done

OBJECTS=$WORK/objects.ndjson
: > "$OBJECTS"
if [[ -z $FAILED_STAGE ]]; then
  tags=(); for t in ${COMPLIANCE_TAGS:-}; do tags+=(--compliance "$t"); done
  ship_flags=(); is_s3 "$DEST" && ship_flags+=(--storage-class "$STORAGE_CLASS" --manifest-storage-class STANDARD)
  ((DRY_RUN)) && ship_flags+=(--dry-run)
  # What this month's archive already holds, as shipped last time, and its
  # manifests: the new ones are built on them (same header, same bytes
  # when nothing changed), never from scratch.
  "$TOOL_STATE" get "$MONTH_STATE" shipped.ndjson > "$WORK/shipped.ndjson" 2>/dev/null || : > "$WORK/shipped.ndjson"
  for m in manifest-sha256.txt manifest.json; do
    "$TOOL_STATE" get "$MONTH_STATE" "$m" > "$OUT/$m" 2>/dev/null || rm -f "$OUT/$m"
  done
  # A month's files carry the month's end as their time, not the moment of
  # this run: the same rows give the same manifest, byte for byte, so a
  # re-run that changed nothing replaces nothing.
  find "$OUT" -maxdepth 1 -name '*.parquet' -exec touch -d "$END 00:00:00 UTC" {} +
  set +e
  "$TOOL_MANIFEST" --keep-absent --period "$PERIOD" --retention-years "$RETENTION_YEARS" "${tags[@]}" --summary "$WORK/manifest.json" < "$OUT.lines" \
    | mark_changed "$WORK/shipped.ndjson" \
    | "$TOOL_SHIP" "$(dest_join "$DEST" "$PERIOD")" "${ship_flags[@]}" "${SHIP_EXTRA[@]+"${SHIP_EXTRA[@]}"}" --summary "$WORK/ship.json" > "$OBJECTS"
  codes=("${PIPESTATUS[@]}")
  set -e
  ((codes[0] == 0)) || fail manifest "${codes[0]}"
  ((codes[2] == 0)) || fail ship "${codes[2]}"
  if ((codes[2] == 0 && DRY_RUN == 0)); then
    # Remember what the archive holds now (only objects that are there).
    jq -c 'select(.status == "uploaded" or .status == "skipped") | {path, sha256, key}' "$OBJECTS" > "$WORK/shipped.new"
    for m in manifest-sha256.txt manifest.json; do
      [[ -f $OUT/$m ]] && { "$TOOL_STATE" put "$MONTH_STATE" "$m" "$OUT/$m" > /dev/null || fail state 4; }
    done
    "$TOOL_STATE" put "$MONTH_STATE" shipped.ndjson "$WORK/shipped.new" > /dev/null || fail state 4
  fi
else
  log "nothing shipped: an export failed"
fi

FINISHED=$(date +%s)
summary=$(jq -cs --arg job "$JOB_NAME" --arg period "$PERIOD" --arg dest "$DEST" --arg sc "$STORAGE_CLASS" \
  --argjson started "$STARTED" --argjson finished "$FINISHED" --arg failed "$FAILED_STAGE" --argjson code "$FAILED_CODE" \
  --argjson dry "$DRY_RUN" '
  { job: $job, period: $period, dest: $dest, storage_class: $sc, dry_run: ($dry == 1),
    started_at: ($started | todate), duration_s: ($finished - $started),
    status: (if $failed == "" then "ok" elif any(.[]; .status == "conflict") then "conflict" else "failed" end),
    failed_stage: (if $failed == "" then null else $failed end), exit_code: $code,
    conflicts: [ .[] | select(.status == "conflict") | .path ],
    tables: [ .[] | select(.table != null and .manifest != true) | {table, records, bytes, key} ],
    records: ([ .[] | select(.manifest != true) | .records // 0 ] | add // 0),
    objects: length, bytes: (map(.bytes) | add // 0) }' "$OBJECTS")
[[ -n ${SUMMARY_FILE:-} ]] && { mkdir -p "$(dirname "$SUMMARY_FILE")"; echo "$summary" > "$SUMMARY_FILE.tmp"; mv -f "$SUMMARY_FILE.tmp" "$SUMMARY_FILE"; }
jq -r '"\(.job) \(.period): \(.status)\(if .failed_stage then " at \(.failed_stage) (exit \(.exit_code))" else "" end): \(.records) rows in \(.tables | length) tables, \(.objects) objects, \(.bytes) bytes, \(.duration_s)s\(if .conflicts != [] then "; NOT archived (the stored objects differ and may not be replaced): \(.conflicts | join(" "))" else "" end)"' <<< "$summary" >&2
((DRY_RUN)) || "$TOOL_STATE" put "$MONTH_STATE" last-run.json <(printf '%s\n' "$summary") > /dev/null 2>&1 \
  || ((DRY_RUN)) || log "could not store the run record in $MONTH_STATE"
exit "$FAILED_CODE"
