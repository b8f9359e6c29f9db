#!/usr/bin/env bash
# Monthly billing archive (run on the 2nd for the previous month), in the
# layout its specification promised:
#   <dest>/<prefix>/YYYY/MM/<table>-YYYY-MM.parquet.gz          a ledger table's month
#   <dest>/<prefix>/YYYY/MM/<table>-snapshot-YYYY-MM.parquet.gz  a reference table, whole
#   <dest>/<prefix>/YYYY/MM/manifest.json                        the specification's manifest
#   <dest>/<prefix>/YYYY/MM/manifest-sha256.txt                  for sha256sum -c
# For each table, in ONE PostgreSQL snapshot (REPEATABLE READ, the count
# and the COPY in the same transaction):
#   psql \copy (select … where ts >= start and ts < end order by ts) | parquetize --compression gzip
# with exact types from pg_dump --schema-only; then manifest
# --json-format billing-spec and ship (data INTELLIGENT_TIERING, manifests
# STANDARD). The database and the destination are checked before any work.
# Temporary files are removed even on failure.
#
# Usage: archive-billing.sh [--config FILE] [--period YYYY-MM] [--dest DEST]
#                           [--storage-class CLASS] [--dry-run]
#
# Configuration (environment or --config FILE of KEY=value lines):
#   PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD …  the standard libpq variables
#   BILLING_DEST        s3://bucket[/prefix] or a local directory (or --dest)
#   BILLING_PREFIX      key prefix of the months under BILLING_DEST (default
#                       billing-archive; empty: the months at the top)
#   BILLING_TABLES      "table:timestamp_column …" (default the specification's
#                       ledger: "credits:created_at charges:created_at
#                       google_play_purchases:created_at llm_usage_logs:created_at
#                       admin_audit_logs:created_at credit_checks:created_at")
#   SNAPSHOT_TABLES     reference tables copied whole (default "accounts")
#   BILLING_COMPRESSION Parquet codec: gzip (default, files .parquet.gz) or
#                       zstd (files .parquet.zst)
#   STORAGE_CLASS       data storage class (default INTELLIGENT_TIERING; or --storage-class)
#   SCHEMA_VERSION      the manifest's schema_version, e.g. 2025-10-21 (default:
#                       "pg-" and 16 hex digits of the SHA-256 of the tables' pg_dump
#                       table definitions, with a warning)
#   RETENTION_YEARS     default 10
#   COMPLIANCE_TAGS     space or comma separated (default "EU_AI_Act Financial_Audit")
#   MANIFEST_FORMAT     billing-spec (default) or toolkit (manifest's own JSON)
#   NUMERIC_AS          how to store unconstrained numeric: string (default) or decimal(p,s)
#   SHIP_ARGS           extra flags for ship (SSE, Object Lock, …)
#   WORK_DIR            temporary space (default: a fresh directory under $TMPDIR)
#   SUMMARY_FILE        run summary JSON (default: none; one line on stderr always)
#   STATE_URL           where the job keeps what it shipped and its run records
#                       (default <BILLING_DEST>/_state)
#   MISSING_TABLES      "skip" to skip listed tables that do not exist (default:
#                       fail). The specification's ledger tables are never skipped
#                       this way: list each one that may be absent in OPTIONAL_TABLES.
#   OPTIONAL_TABLES     tables that may be absent (skipped, named on stderr and
#                       in the summary's "skipped_tables")
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
# items failed; 2 configuration (no destination, no such bucket, denied,
# bad credentials, a missing table); 3 bad data (a count that disagrees
# with the file); 4 the database or S3 failing (a connection that fails at
# any point); otherwise the first failing stage's code, named on stderr.
set -euo pipefail
JOB_NAME=archive-billing
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

# The specification's ledger: not skippable by MISSING_TABLES=skip.
SPEC_LEDGER="credits charges google_play_purchases llm_usage_logs admin_audit_logs credit_checks"

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
BILLING_PREFIX=${BILLING_PREFIX-billing-archive}
BILLING_PREFIX=${BILLING_PREFIX#/}; BILLING_PREFIX=${BILLING_PREFIX%/}
# The month's key under the destination: billing-archive/2025/11.
MONTH_KEY="${BILLING_PREFIX:+$BILLING_PREFIX/}${PERIOD%-*}/${PERIOD#*-}"
MONTH_DEST=$(dest_join "$DEST" "$MONTH_KEY")
STORAGE_CLASS=${SC_ARG:-${STORAGE_CLASS:-INTELLIGENT_TIERING}}
RETENTION_YEARS=${RETENTION_YEARS:-10}
[[ $RETENTION_YEARS =~ ^[1-9][0-9]*$ ]] || die 2 "RETENTION_YEARS '$RETENTION_YEARS': expected a number of years"
BILLING_TABLES=${BILLING_TABLES:-credits:created_at charges:created_at google_play_purchases:created_at llm_usage_logs:created_at admin_audit_logs:created_at credit_checks:created_at}
SNAPSHOT_TABLES=${SNAPSHOT_TABLES-accounts}
OPTIONAL_TABLES=${OPTIONAL_TABLES:-}
COMPLIANCE_TAGS=${COMPLIANCE_TAGS:-EU_AI_Act Financial_Audit}
MANIFEST_FORMAT=${MANIFEST_FORMAT:-billing-spec}
[[ $MANIFEST_FORMAT == billing-spec || $MANIFEST_FORMAT == toolkit ]] \
  || die 2 "MANIFEST_FORMAT '$MANIFEST_FORMAT': expected billing-spec or toolkit"
case ${BILLING_COMPRESSION:-gzip} in
  gzip) CODEC=gzip EXT=parquet.gz ;;
  zstd) CODEC=zstd EXT=parquet.zst ;;
  *) die 2 "BILLING_COMPRESSION '${BILLING_COMPRESSION}': expected gzip or zstd" ;;
esac
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
FAILED_STAGE="" FAILED_CODE=0 SKIPPED_TABLES=()
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

# ---- PostgreSQL: every failure of a session is classified ----------------
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
# The exit code a failed psql/pg_dump session means here: 2 for what the
# configuration must fix (credentials, a database, a role, a column), 4 for
# the server or the network failing (refused, reset, closed, timed out).
pg_code() { # stderr-file
  if grep -qiE 'password authentication failed|no password supplied|role ".*" does not exist|database ".*" does not exist|permission denied|pg_hba\.conf' "$1"; then
    echo 2
  elif grep -qiE 'could not connect|connection refused|connection to server|server closed the connection|could not translate host|timeout expired|terminating connection|no connection to the server|SSL SYSCALL|Connection reset|could not receive data|could not send data' "$1"; then
    echo 4
  else
    echo 2
  fi
}
pg_fail() { # what stderr-file [stage]: fail (or die, without a stage) with the classified code
  local code; code=$(pg_code "$2")
  local msg; msg="$1: $(head -c 300 "$2" | tr '\n' ' ')"
  if [[ -z ${3:-} ]]; then die "$code" "$msg"; fi
  log "$msg"; fail "$3" "$code"
}

# ---- Preflight: the database and the destination, before any work -------
preflight() {
  "${PSQL[@]}" -tAc 'select 1' >/dev/null 2>"$WORK/psql.err" \
    || pg_fail "cannot connect to PostgreSQL (PGHOST=${PGHOST:-} PGPORT=${PGPORT:-} PGDATABASE=${PGDATABASE:-})" "$WORK/psql.err"
  if is_s3 "$DEST"; then
    # A read of the job's own state proves the bucket exists and the
    # credentials are good; the data prefix may be PutObject-only.
    local code=0
    "$TOOL_STATE" get "$MONTH_STATE" last-run.json > /dev/null 2>"$WORK/state.err" || code=$?
    case $code in
      0|3) ;; # 3: no run record yet
      *) die "$code" "destination $DEST: $(head -c 300 "$WORK/state.err" | tr '\n' ' ')" ;;
    esac
  else
    local parent=$DEST
    while [[ ! -e $parent ]]; do parent=$(dirname "$parent"); done
    [[ -d $parent && -w $parent ]] || die 2 "destination $DEST: $parent is not a writable directory"
  fi
}
preflight

# The state of the previous run of this month: a record, or none (exit 3).
state_get() { # name out-file
  local code=0
  "$TOOL_STATE" get "$MONTH_STATE" "$1" > "$2" 2>"$WORK/state.err" || code=$?
  case $code in
    0) ;;
    3) rm -f "$2"; return 1 ;;
    *) die "$code" "reading $MONTH_STATE/$1: $(head -c 300 "$WORK/state.err" | tr '\n' ' ')" ;;
  esac
}

# 0: the table exists, 1: it does not, 2: the lookup failed (recorded with
# its classified code: a failed connection is not "no such table").
table_exists() {
  local answer
  if ! answer=$("${PSQL[@]}" -tAc "select to_regclass('$1') is not null" 2>"$WORK/psql.err"); then
    pg_fail "looking up table $1" "$WORK/psql.err" "schema:$1"; return 2
  fi
  [[ $answer == t ]] || return 1
}
ident_ok() { [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_.]*$ ]] || die 2 "table or column name '$1' is not a plain identifier"; }
is_listed() { [[ " ${2//,/ } " == *" $1 "* ]]; }

# A table that does not exist: skipped (named) when it may be, else a failure.
missing_table() {
  local table=$1
  if is_listed "$table" "$OPTIONAL_TABLES"; then
    log "$table: no such table, skipped (OPTIONAL_TABLES)"; SKIPPED_TABLES+=("$table"); return
  fi
  if [[ ${MISSING_TABLES:-fail} == skip ]] && ! is_listed "$table" "$SPEC_LEDGER"; then
    log "$table: no such table, skipped (MISSING_TABLES=skip)"; SKIPPED_TABLES+=("$table"); return
  fi
  local hint="set MISSING_TABLES=skip to skip it"
  is_listed "$table" "$SPEC_LEDGER" && hint="a ledger table of the specification: list it in OPTIONAL_TABLES if it may be absent"
  fail "schema:$table" 2; log "$table: no such table ($hint)"
}

: > "$OUT.lines"
# One table: schema, then the month (or the whole table for a snapshot)
# -> Parquet, its rows counted in the same snapshot as the COPY.
export_table() {
  local table=$1 ts=$2 mode=$3
  ident_ok "$table"; [[ -n $ts ]] && ident_ok "$ts"
  local found=0
  table_exists "$table" || found=$?
  ((found != 2)) || return 0
  ((found == 0)) || { missing_table "$table"; return; }
  pg_dump --schema-only --no-owner -t "$table" > "$WORK/$table.schema.sql" 2>"$WORK/pg_dump.err" \
    || { pg_fail "pg_dump $table" "$WORK/pg_dump.err" "pg_dump:$table"; return; }
  local query name
  if [[ $mode == snapshot ]]; then
    query="select * from $table"
    name="{table}-snapshot-{period}.$EXT"
  else
    query="select * from $table where $ts >= '$START 00:00:00+00' and $ts < '$END 00:00:00+00' order by $ts"
    name="{table}-{period}.$EXT"
  fi
  local -a snap=(); [[ $mode == snapshot ]] && snap=(--snapshot)
  log "$table: $query"
  # The count and the COPY see one snapshot: rows written meanwhile are in
  # neither, so the file and the count cannot disagree.
  cat > "$WORK/$table.export.sql" <<SQL
begin isolation level repeatable read read only;
select count(*) from ($query) q \\g '$WORK/$table.count'
\\copy ($query) to stdout with (format csv, header)
commit;
SQL
  set +e
  "${PSQL[@]}" -tA -f "$WORK/$table.export.sql" 2>"$WORK/$table.psql.err" \
    | "$TOOL_PARQUETIZE" - --table "$table" --format pg-csv --schema-sql "$WORK/$table.schema.sql" \
        --numeric-as "$NUMERIC_AS" --compression "$CODEC" --out "$OUT" --name "$name" --period "$PERIOD" "${snap[@]}" \
        --summary "$WORK/$table.parquetize.json" >> "$OUT.lines"
  local -a codes=("${PIPESTATUS[@]}")
  set -e
  if ((codes[0] != 0)); then
    cat "$WORK/$table.psql.err" >&2
    pg_fail "psql $table" "$WORK/$table.psql.err" "psql:$table"
  fi
  ((codes[1] == 0)) || fail "parquetize:$table" "${codes[1]}"
  if ((codes[0] == 0 && codes[1] == 0)); then
    local expected got
    expected=$(tr -d '[:space:]' < "$WORK/$table.count")
    got=$(summary_field "$WORK/$table.parquetize.json" records -1)
    [[ $expected == "$got" ]] || { fail "count:$table" 3; log "$table: PostgreSQL has $expected rows, Parquet got $got"; }
  fi
}

for spec in $BILLING_TABLES; do
  [[ $spec == *:* ]] || die 2 "BILLING_TABLES entry '$spec': expected table:timestamp_column"
  export_table "${spec%%:*}" "${spec#*:}" month
done
for table in $SNAPSHOT_TABLES; do export_table "$table" "" snapshot; done

# schema_version: the job's configuration, else a digest of the schemas'
# definitions (not pg_dump's comments, settings or \restrict keys, which
# change with its version or on every run).
if [[ -z ${SCHEMA_VERSION:-} ]]; then
  SCHEMA_VERSION=pg-$(cat "$WORK"/*.schema.sql 2>/dev/null | { grep -v -e '^--' -e '^\\' -e '^SET ' -e '^SELECT pg_catalog' -e '^$' || true; } | sha256sum | cut -c1-16)
  log "SCHEMA_VERSION is not set; recording $SCHEMA_VERSION (a digest of the tables' schemas) in the manifest"
fi

OBJECTS=$WORK/objects.ndjson
: > "$OBJECTS"
if [[ -z $FAILED_STAGE ]]; then
  manifest_flags=(--keep-absent --period "$PERIOD" --retention-years "$RETENTION_YEARS" --schema-version "$SCHEMA_VERSION")
  for t in ${COMPLIANCE_TAGS//,/ }; do manifest_flags+=(--compliance "$t"); done
  if [[ $MANIFEST_FORMAT == billing-spec ]]; then
    manifest_flags+=(--json-format billing-spec)
    if is_s3 "$MONTH_DEST"; then manifest_flags+=(--s3-prefix "$MONTH_DEST"); else manifest_flags+=(--key-prefix "$MONTH_KEY"); fi
  fi
  ship_flags=(); is_s3 "$DEST" && ship_flags+=(--storage-class "$STORAGE_CLASS" --manifest-storage-class STANDARD)
  ((DRY_RUN)) && ship_flags+=(--dry-run)
  # What this month's archive already holds, as shipped last time, and its
  # manifests: the new ones are built on them (same header, same bytes
  # when nothing changed), never from scratch.
  state_get shipped.ndjson "$WORK/shipped.ndjson" || : > "$WORK/shipped.ndjson"
  for m in manifest-sha256.txt manifest.json; do state_get "$m" "$OUT/$m" || true; done
  # A month's files carry the month's end as their time, not the moment of
  # this run: the same rows give the same manifest, byte for byte, so a
  # re-run that changed nothing replaces nothing.
  find "$OUT" -maxdepth 1 -name "*.$EXT" -exec touch -d "$END 00:00:00 UTC" {} +
  set +e
  "$TOOL_MANIFEST" "${manifest_flags[@]}" --summary "$WORK/manifest.json" < "$OUT.lines" \
    | mark_changed "$WORK/shipped.ndjson" \
    | "$TOOL_SHIP" "$MONTH_DEST" "${ship_flags[@]}" "${SHIP_EXTRA[@]+"${SHIP_EXTRA[@]}"}" --summary "$WORK/ship.json" > "$OBJECTS"
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
skipped_json=$(printf '%s\n' "${SKIPPED_TABLES[@]+"${SKIPPED_TABLES[@]}"}" | jq -R . | jq -cs 'map(select(. != ""))')
summary=$(jq -cs --arg job "$JOB_NAME" --arg period "$PERIOD" --arg dest "$MONTH_DEST" --arg sc "$STORAGE_CLASS" \
  --argjson started "$STARTED" --argjson finished "$FINISHED" --arg failed "$FAILED_STAGE" --argjson code "$FAILED_CODE" \
  --argjson dry "$DRY_RUN" --argjson skipped "$skipped_json" --arg schema "$SCHEMA_VERSION" '
  { job: $job, period: $period, dest: $dest, storage_class: $sc, dry_run: ($dry == 1),
    started_at: ($started | todate), duration_s: ($finished - $started),
    status: (if $failed == "" then "ok" elif any(.[]; .status == "conflict") then "conflict" else "failed" end),
    failed_stage: (if $failed == "" then null else $failed end), exit_code: $code,
    conflicts: [ .[] | select(.status == "conflict") | .path ],
    skipped_tables: $skipped, schema_version: $schema,
    tables: [ .[] | select(.table != null and .manifest != true) | {table, records, bytes, key} ],
    records: ([ .[] | select(.manifest != true) | .records // 0 ] | add // 0),
    objects: length, bytes: (map(.bytes) | add // 0) }' "$OBJECTS")
[[ -n ${SUMMARY_FILE:-} ]] && { mkdir -p "$(dirname "$SUMMARY_FILE")"; echo "$summary" > "$SUMMARY_FILE.tmp"; mv -f "$SUMMARY_FILE.tmp" "$SUMMARY_FILE"; }
jq -r '"\(.job) \(.period): \(.status)\(if .failed_stage then " at \(.failed_stage) (exit \(.exit_code))" else "" end): \(.records) rows in \(.tables | length) tables, \(.objects) objects, \(.bytes) bytes, \(.duration_s)s\(if .skipped_tables != [] then "; SKIPPED (no such table): \(.skipped_tables | join(" "))" else "" end)\(if .conflicts != [] then "; NOT archived (the stored objects differ and may not be replaced): \(.conflicts | join(" "))" else "" end)"' <<< "$summary" >&2
((DRY_RUN)) || "$TOOL_STATE" put "$MONTH_STATE" last-run.json <(printf '%s\n' "$summary") > /dev/null 2>&1 \
  || ((DRY_RUN)) || log "could not store the run record in $MONTH_STATE"
exit "$FAILED_CODE"
