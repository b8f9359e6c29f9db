#!/usr/bin/env bash
# Install what the test suite talks to, when it is missing: moto's S3
# server, PostgreSQL (Debian), the age and minisign tools, and the Python
# packages used as independent readers (boto3, pyarrow, bagit, duckdb).
# Idempotent: a machine that has everything is left alone.
set -euo pipefail

need_apt=()
command -v pg_config >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v age >/dev/null 2>&1 || need_apt+=(age)
command -v minisign >/dev/null 2>&1 || need_apt+=(minisign)
command -v jq >/dev/null 2>&1 || need_apt+=(jq)
command -v flock >/dev/null 2>&1 || need_apt+=(util-linux)
command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)  # fetch tests: the mock's /_mock control endpoints
command -v unzip >/dev/null 2>&1 || need_apt+=(unzip)  # cron drain tests: the fallback ZIP's entries
command -v savelog >/dev/null 2>&1 || need_apt+=(debianutils)  # cron run-job: rotated logs
command -v script >/dev/null 2>&1 || need_apt+=(bsdutils)  # progress-bar tests on a pty
[ -x /usr/bin/time ] || need_apt+=(time)  # benchmarks: peak RSS via /usr/bin/time -f '%e %M'
if ((${#need_apt[@]})); then
  echo "install-test-deps: apt-get install ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

py_missing=()
python3 -c 'import moto.server' 2>/dev/null && command -v moto_server >/dev/null 2>&1 || py_missing+=('moto[server]')
python3 -c 'import boto3' 2>/dev/null || py_missing+=(boto3)
python3 -c 'import pyarrow' 2>/dev/null || py_missing+=(pyarrow)
python3 -c 'import bagit' 2>/dev/null || py_missing+=(bagit)
python3 -c 'import duckdb' 2>/dev/null || py_missing+=(duckdb)
python3 -c 'import jsonschema' 2>/dev/null || py_missing+=(jsonschema)  # the billing manifest's schema
if ((${#py_missing[@]})); then
  echo "install-test-deps: pip install ${py_missing[*]}" >&2
  python3 -m pip install -q "${py_missing[@]}"
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
