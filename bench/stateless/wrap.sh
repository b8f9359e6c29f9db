#!/usr/bin/env bash
# A timing wrapper installed as bin/<tool> (BIN_DIR of the measured runs):
# runs the real tool with the same stdin, stdout, arguments and exit code,
# then appends "start end exit tool args..." to $STAGE_LOG and keeps a copy
# of the tool's --summary file (which the backup script deletes on exit).
tool=$(basename "$0")
t0=$(date +%s.%N)
"$REAL_BIN/$tool" "$@"
rc=$?
t1=$(date +%s.%N)
summary="" prev=""
for a in "$@"; do [[ $prev == --summary ]] && summary=$a; prev=$a; done
if [[ -n $summary && -s $summary ]]; then
  n=$(date +%s%N)-$$
  cp -f "$summary" "$STAGE_LOG.d/$n-$tool.json" 2>/dev/null || true
  summary=$STAGE_LOG.d/$n-$tool.json
fi
printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t0" "$t1" "$rc" "$tool" "$summary" "$*" >> "$STAGE_LOG"
exit "$rc"
