#!/usr/bin/env bash
# The sample inputs the documentation's examples name, made by the tools
# themselves against the test servers (the mock API, moto, PostgreSQL),
# in the current directory, which each example then gets a copy of; and
# the S3 prefixes the examples read, filled the way the jobs fill them.
# Run by e2e/tests/examples.rs with the servers' environment set.
set -euo pipefail
mkdir -p home/.minisign home/.age
export HOME=$PWD/home

# Keys: the compliance officer's age identity and its recipient, the
# archive's minisign key pair.
age-keygen -o officer.key 2> /dev/null
age-keygen -y officer.key > officer.pub
age-keygen -o home/.age/archive.key 2> /dev/null
minisign -G -W -f -p archive.pub -s home/.minisign/archive.key > /dev/null

# Records from the mock API.
fetch conversations --since 2025-07-01 --no-resume --state-dir "$PWD/.setup-state" > conversations.ndjson
cp conversations.ndjson records.ndjson
# in.ndjson: records that also carry the fields the custom-field examples name.
jq -c '. + {owner: {id: .user_id}, ts: (.last_active_at // .created_at)}' conversations.ndjson > in.ndjson
# ai-audit.jsonl: AI-interaction audit entries (id, timestamp, input, output) made of them.
jq -c '{id, timestamp: (.created_at | if type == "number" then todate else . end), user_id,
        input: .title, output: (.messages // [] | tostring)}' conversations.ndjson > ai-audit.jsonl
fetch logs --event-type all --since 2025-07-01 --no-resume --state-dir "$PWD/.setup-state" > events.ndjson
cp events.ndjson export.ndjson
fetch users --state-dir "$PWD/.setup-state" > users.ndjson
fetch audit-logs --since 2025-07-01 --no-resume --state-dir "$PWD/.setup-state" > audit.ndjson
rm -rf .setup-state

# Local archives, as the pipelines leave them, and their file lines.
partition --out archive/conversations --preset conversations < conversations.ndjson | manifest > files.ndjson
partition --out archive/logs --preset log-events --layout hive < events.ndjson | manifest > /dev/null
partition --out archive/audit --preset audit-logs --layout daily-jsonl < audit.ndjson | manifest > /dev/null
mkdir -p review && cp -r archive/conversations/_daily_summaries review/

# Billing inputs from PostgreSQL (database "billing").
pg_dump --schema-only --no-owner -t charges billing > charges.sql
pg_dump --schema-only --no-owner -t accounts billing > schema.sql
psql -X -q -c "\copy charges to stdout with (format csv, header)" > dump.csv
psql -X -q -c "\copy accounts to stdout" | gzip > accounts.tsv.gz
psql -X -q -c "\copy credits to stdout with (format csv, header)" > export.csv
parquetize dump.csv --table charges --format pg-csv --schema-sql charges.sql --numeric-as string \
  --out billing-parquet --period 2025-11 > parquet-lines.ndjson

# What the examples read from S3: a billing month (as the monthly job
# ships it), an
# audit archive encrypted for the officer and signed, log events.
for t in charges credits; do
  pg_dump --schema-only --no-owner -t "$t" billing > ".schema-$t.sql"
  psql -X -q -c "\copy (select * from $t where created_at >= '2025-03-01' and created_at < '2025-04-01' order by created_at) to stdout with (format csv, header)" \
    | parquetize - --table "$t" --format pg-csv --schema-sql ".schema-$t.sql" --numeric-as string --out .billing --period 2025-03
done | manifest | ship s3://acme-archive/billing-archive/2025/03 --storage-class GLACIER_IR > /dev/null
rm -rf .billing .schema-*.sql
partition --out .audit-signed --preset audit-logs --layout daily-jsonl < audit.ndjson \
  | manifest --sign home/.minisign/archive.key \
  | ship s3://acme-archive/audit --encrypt-to "$(cat officer.pub)" > /dev/null
rm -rf .audit-signed
manifest --root archive/logs | ship s3://acme-archive/logs > /dev/null
# A run of the daily backup: the archive in s3://acme-compliance/chatgpt,
# its run record in work/runs/last.json.
BIN_DIR=$(dirname "$(command -v fetch)") ARCHIVE_DEST=s3://acme-compliance/chatgpt WORK_DIR=$PWD/work \
  FETCH_ARGS="--since 2025-07-01" "$(dirname "$0")/../../../scripts/backup-compliance.sh" 2> backup.log \
  || { tail -5 backup.log >&2; exit 1; }
rm -f backup.log
rm -rf work/state work/tmp
