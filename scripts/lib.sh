# shellcheck shell=bash
# Shared by the pipeline scripts: configuration files, locating the tools,
# logging, running a stage pipeline and recording each stage's exit code.
# Sourced, never run.

# Exit codes of the scripts, on top of the tools' own (0-4, 130):
#   75  another run holds the lock (nothing was done)
EX_LOCKED=75

log() { printf '%s %s: %s\n' "$(date -u +%FT%TZ)" "${JOB_NAME:-job}" "$*" >&2; }
die() { local code=$1; shift; log "error: $*"; exit "$code"; }

# Load KEY=value lines (comments and blank lines allowed) into the
# environment, without overriding variables already set by the caller,
# so `VAR=x script --config f` still wins. Values are taken literally: the
# file is parsed, never executed. A bad line (`KEY = value`, no `=`) stops
# with exit 2 naming the file, the line number and the key, never the
# value: it may be a secret, and the message lands in the cron log.
load_config() {
  local file=$1 line key value n=0
  [[ -r $file ]] || die 2 "--config $file: cannot read the file"
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    if [[ ! $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      # Never echo the line: its value may be a key, and this goes to the
      # cron log. Name the file, the line and, when there is one, the key.
      if [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]+= ]]; then
        die 2 "--config $file:$n: ${BASH_REMATCH[2]}: no spaces around '=' (write ${BASH_REMATCH[2]}=value); the value is not shown"
      elif [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)([[:space:]]|$) ]]; then
        die 2 "--config $file:$n: ${BASH_REMATCH[2]}: expected ${BASH_REMATCH[2]}=value; the line is not shown"
      fi
      die 2 "--config $file:$n: expected KEY=value; the line is not shown"
    fi
    key=${BASH_REMATCH[2]}
    value=${BASH_REMATCH[3]}
    # Strip one level of matching quotes.
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
    if [[ -z ${!key+x} ]]; then export "$key=$value"; fi
  done < "$file"
}

# Find the tools: $BIN_DIR if set, else next to a built workspace
# (target/release, then target/debug), else $PATH.
find_tools() {
  local root; root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if [[ -z ${BIN_DIR:-} ]]; then
    for d in "$root/target/release" "$root/target/debug"; do
      if [[ -x $d/fetch && -x $d/partition && -x $d/manifest && -x $d/ship && -x $d/parquetize ]]; then BIN_DIR=$d; break; fi
    done
  fi
  local t var
  for t in fetch partition parquetize manifest ship restore archive-state; do
    local path
    if [[ -n ${BIN_DIR:-} ]]; then path=$BIN_DIR/$t; else path=$(command -v "$t" || true); fi
    [[ -n $path && -x $path ]] || die 2 "tool '$t' not found: build the workspace (cargo build --release) or set BIN_DIR"
    var=${t#archive-}
    printf -v "TOOL_${var^^}" '%s' "$path"
  done
}

# The workspaces a job covers: WORKSPACE_IDS (space or comma separated),
# WORKSPACE_IDS_FILE (one per line, # comments), else WORKSPACE_ID. With
# more than one source list, each workspace gets its own areas.
read_workspaces() {
  WORKSPACES=() MULTI_WORKSPACE=0
  if [[ -n ${WORKSPACE_IDS_FILE:-} ]]; then
    [[ -r $WORKSPACE_IDS_FILE ]] || die 2 "WORKSPACE_IDS_FILE $WORKSPACE_IDS_FILE: cannot read the file"
    local line
    while IFS= read -r line || [[ -n $line ]]; do
      line=${line%%#*}; line=${line//[[:space:]]/}
      [[ -n $line ]] && WORKSPACES+=("$line")
    done < "$WORKSPACE_IDS_FILE"
    MULTI_WORKSPACE=1
  elif [[ -n ${WORKSPACE_IDS:-} ]]; then
    read -r -a WORKSPACES <<< "${WORKSPACE_IDS//,/ }"
    MULTI_WORKSPACE=1
  elif [[ -n ${WORKSPACE_ID:-} ]]; then
    WORKSPACES=("$WORKSPACE_ID")
  fi
  ((${#WORKSPACES[@]})) || die 2 "WORKSPACE_ID is not set: the ChatGPT workspace id (Admin console > Workspace settings), or WORKSPACE_IDS / WORKSPACE_IDS_FILE for several"
  local ws
  for ws in "${WORKSPACES[@]}"; do
    [[ $ws =~ ^[A-Za-z0-9._-]+$ ]] || die 2 "workspace id '$ws': expected letters, digits, '.', '_' or '-'"
  done
}

# This run's shard: SHARD_INDEX of SHARD_COUNT, by default the index of a
# Kubernetes Indexed Job or an AWS Batch array job.
read_shard() {
  SHARD_COUNT=${SHARD_COUNT:-1}
  SHARD_INDEX=${SHARD_INDEX:-${JOB_COMPLETION_INDEX:-${AWS_BATCH_JOB_ARRAY_INDEX:-0}}}
  [[ $SHARD_COUNT =~ ^[1-9][0-9]*$ ]] || die 2 "SHARD_COUNT '$SHARD_COUNT': expected a number of at least 1"
  [[ $SHARD_INDEX =~ ^[0-9]+$ ]] && ((SHARD_INDEX < SHARD_COUNT)) \
    || die 2 "SHARD_INDEX '$SHARD_INDEX': expected 0 to $((SHARD_COUNT - 1)) (SHARD_COUNT is $SHARD_COUNT)"
  if ((SHARD_COUNT == 1)); then SHARD_TAG=all; else SHARD_TAG="shard-$SHARD_INDEX-of-$SHARD_COUNT"; fi
}

# The shard a stream belongs to: a stable hash (POSIX cksum, the same on
# every machine) of "<workspace>/<stream>", modulo SHARD_COUNT.
shard_of() {
  local sum; sum=$(printf '%s' "$1" | cksum); sum=${sum%% *}
  echo $((sum % SHARD_COUNT))
}

# Take the job's lock or exit 75: two cron runs must never overlap.
take_lock() {
  local lock=$1
  mkdir -p "$(dirname "$lock")"
  exec {LOCK_FD}>"$lock"
  flock -n "$LOCK_FD" || die "$EX_LOCKED" "another run holds the lock $lock; not starting"
}

# JSON field of a summary file, or a default when the file is missing.
summary_field() {
  local file=$1 field=$2 default=${3:-0}
  if [[ -s $file ]]; then jq -r --arg d "$default" "(.$field // \$d)" "$file" 2>/dev/null || echo "$default"; else echo "$default"; fi
}

is_s3() { [[ $1 == s3://* ]]; }

# Join a destination and a sub-path: s3://b/p + x -> s3://b/p/x, dir + x -> dir/x.
# The bucket of an s3:// URL, or the URL itself for a directory.
bucket_of() { if is_s3 "$1"; then local r=${1#s3://}; echo "${r%%/*}"; else echo "$1"; fi; }
dest_join() { local d=${1%/}; echo "$d/$2"; }
