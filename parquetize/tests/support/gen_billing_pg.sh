#!/usr/bin/env bash
# The billing tables of bench/gen/billing.sql (also used by bench/gen/gen_billing.sh),
# for tests and the benchmark: connects through the standard PG* variables
# instead of starting a Debian cluster as the postgres user.
#
#   gen_billing_pg.sh OUT_DIR [CHARGES_ROWS=1000] [CREDITS_ROWS=200]
#
# Writes to OUT_DIR: charges.csv / credits.csv (\copy ... with (format csv,
# header)), charges.tsv / credits.tsv (\copy ... text format), and
# billing_schema.sql (pg_dump --schema-only --no-owner of both tables).
# PG_BINDIR, when set, is where psql and pg_dump are.
set -euo pipefail
OUT=${1:?usage: gen_billing_pg.sh OUT_DIR [CHARGES_ROWS] [CREDITS_ROWS]}
CHARGES_ROWS=${2:-1000}
CREDITS_ROWS=${3:-200}
BIN=${PG_BINDIR:+$PG_BINDIR/}
mkdir -p "$OUT"
export PGOPTIONS='-c timezone=UTC -c datestyle=ISO,YMD -c extra_float_digits=1 -c client_min_messages=warning'
PSQL=("${BIN}psql" -X -v ON_ERROR_STOP=1 -q)

"${PSQL[@]}" -v charges_rows="$CHARGES_ROWS" -v credits_rows="$CREDITS_ROWS" -f "$(dirname "$0")/../../../bench/gen/billing.sql"

for t in charges credits; do
  "${PSQL[@]}" -c "\\copy (select * from $t order by id) to stdout with (format csv, header)" > "$OUT/$t.csv"
  "${PSQL[@]}" -c "\\copy (select * from $t order by id) to stdout" > "$OUT/$t.tsv"
done
"${BIN}pg_dump" --schema-only --no-owner -t charges -t credits > "$OUT/billing_schema.sql"
