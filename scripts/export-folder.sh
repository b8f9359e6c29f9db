#!/usr/bin/env bash
# Ship a finished review or report folder to the archive under a
# timestamped prefix (YYYYMMDD_HHMMSS_<name>/), with checksums and a
# manifest. When S3 cannot be reached, the folder is kept as one ZIP in
# the fallback directory and the run exits 1; `ship --drain` uploads it later.
#
# Usage: export-folder.sh FOLDER [--dest s3://bucket/prefix] [--name NAME]
#                         [--fallback-dir DIR] [--storage-class CLASS] [--dry-run]
#
# Configuration (environment or --config FILE): EXPORT_DEST (or --dest),
# EXPORT_FALLBACK_DIR (default ~/compliance-export-fallback), STORAGE_CLASS
# (default STANDARD_IA), SHIP_ARGS, BIN_DIR.
#
# Exit codes: 0 shipped; 1 kept in the fallback ZIP instead; 2 usage or
# configuration; 3 unreadable folder; 4 S3 error with no fallback possible.
set -euo pipefail
JOB_NAME=export-folder
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

FOLDER="" NAME="" DRY_RUN=0 DEST_ARG="" FALLBACK_ARG="" SC_ARG=""
while (($#)); do
  case $1 in
    --config) load_config "${2:?--config needs a file}"; shift 2 ;;
    --dest) DEST_ARG=${2:?}; shift 2 ;;
    --name) NAME=${2:?}; shift 2 ;;
    --fallback-dir) FALLBACK_ARG=${2:?}; shift 2 ;;
    --storage-class) SC_ARG=${2:?}; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die 2 "unknown flag '$1' (see --help)" ;;
    *) [[ -z $FOLDER ]] || die 2 "only one FOLDER, got '$FOLDER' and '$1'"; FOLDER=$1; shift ;;
  esac
done
[[ -n $FOLDER ]] || die 2 "usage: export-folder.sh FOLDER [--dest s3://bucket/prefix] (see --help)"
[[ -d $FOLDER ]] || die 3 "$FOLDER: not a directory"
DEST=${DEST_ARG:-${EXPORT_DEST:-}}
[[ -n $DEST ]] || die 2 "no destination: set EXPORT_DEST or pass --dest s3://bucket/prefix"
NAME=${NAME:-$(basename "$(cd "$FOLDER" && pwd)")}
FALLBACK=${FALLBACK_ARG:-${EXPORT_FALLBACK_DIR:-$HOME/compliance-export-fallback}}
STORAGE_CLASS=${SC_ARG:-${STORAGE_CLASS:-STANDARD_IA}}
read -r -a SHIP_EXTRA <<< "${SHIP_ARGS:-}"
find_tools

# The name becomes part of an S3 key: keep it to safe characters.
SAFE_NAME=$(printf '%s' "$NAME" | tr -c 'A-Za-z0-9._-' '_')
STAMP=$(date -u +%Y%m%d_%H%M%S)
flags=(--prefix-template "${STAMP}_${SAFE_NAME}/")
ZIP=$FALLBACK/${STAMP}_${SAFE_NAME}.zip
if is_s3 "$DEST"; then
  mkdir -p "$FALLBACK"
  flags+=(--storage-class "$STORAGE_CLASS" --fallback-zip "$ZIP")
fi
((DRY_RUN)) && flags+=(--dry-run)
# The manifest is written into the folder first so the export carries its
# own checksums; then ship uploads the folder, manifests included.
if ((!DRY_RUN)); then
  "$TOOL_MANIFEST" --root "$FOLDER" > /dev/null || die $? "manifest of $FOLDER failed"
fi
set +e
"$TOOL_SHIP" "$FOLDER" "$DEST" "${flags[@]}" "${SHIP_EXTRA[@]}"
code=$?
set -e
case $code in
  0) log "exported $FOLDER to $DEST" ;;
  1) if [[ -f $ZIP ]]; then
       bucket=${DEST#s3://}; bucket=${bucket%%/*}
       log "S3 unreachable: the export is kept in $ZIP; upload it later with: ship --drain $ZIP s3://$bucket"
     else
       log "some files failed: see the object lines above"
     fi ;;
  *) log "export of $FOLDER failed with exit $code" ;;
esac
exit "$code"
