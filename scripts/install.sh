#!/usr/bin/env bash
# Install the toolkit: the seven tools, the job scripts (with the cron
# helpers), shell completions and man pages, under one prefix.
#
#   scripts/install.sh [--prefix DIR] [--from BIN_DIR]
#
#   --prefix DIR   where to install (default /usr/local):
#                    DIR/bin/{fetch,partition,parquetize,manifest,ship,restore,archive-state}
#                    DIR/share/compliance-archive/scripts/   backup, billing, export jobs; cron/
#                    DIR/share/bash-completion/completions/<tool>
#                    DIR/share/zsh/site-functions/_<tool>
#                    DIR/share/fish/vendor_completions.d/<tool>.fish
#                    DIR/share/man/man1/<tool>.1
#   --from DIR     take the binaries already built in DIR (e.g. target/release)
#                  instead of running `cargo build --release --locked`
#
# Re-running it replaces what it installed (each file is written under a
# temporary name and renamed). Exit codes: 0 installed; 2 bad flag, missing
# cargo or a binary missing from --from; 1 a tool failed to print its
# completions or man page.
set -euo pipefail

TOOLS=(fetch partition parquetize manifest ship restore archive-state)
# The scripts a production host runs; the demo, the test command and the
# structure check need the repository and stay there.
JOB_SCRIPTS=(backup-compliance.sh archive-billing.sh export-folder.sh lib.sh)

die() { local code=$1; shift; printf 'install.sh: %s\n' "$*" >&2; exit "$code"; }

PREFIX=/usr/local FROM=
while (($#)); do
  case $1 in
    --prefix) [[ $# -ge 2 && -n $2 ]] || die 2 "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
    --prefix=*) PREFIX=${1#*=}; shift ;;
    --from) [[ $# -ge 2 && -n $2 ]] || die 2 "--from needs a directory"; FROM=$2; shift 2 ;;
    --from=*) FROM=${1#*=}; shift ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die 2 "unknown argument '$1' (see --help)" ;;
  esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z $FROM ]]; then
  command -v cargo > /dev/null || die 2 "cargo not found: install Rust 1.80 or newer (https://rustup.rs), or pass --from DIR"
  bins=()
  for t in "${TOOLS[@]}"; do bins+=(--bin "$t"); done
  (cd "$REPO" && cargo build --release --locked "${bins[@]}")
  FROM=${CARGO_TARGET_DIR:-$REPO/target}/release
fi
for t in "${TOOLS[@]}"; do
  [[ -x $FROM/$t ]] || die 2 "$FROM/$t not found or not executable"
done

# Copy SRC to DEST with MODE, atomically (a running cron job never sees
# half a binary or script).
put() {
  local mode=$1 src=$2 dest=$3 tmp
  mkdir -p "$(dirname "$dest")"
  tmp=$(dirname "$dest")/.$(basename "$dest").tmp-$$
  install -m "$mode" "$src" "$tmp" && mv -f "$tmp" "$dest"
  INSTALLED+=("$dest")
}

# Write what a command prints to DEST (mode 0644), atomically.
put_output() {
  local dest=$1 tmp; shift
  mkdir -p "$(dirname "$dest")"
  tmp=$(dirname "$dest")/.$(basename "$dest").tmp-$$
  if ! "$@" > "$tmp"; then rm -f "$tmp"; die 1 "'$*' failed"; fi
  chmod 0644 "$tmp" && mv -f "$tmp" "$dest"
  INSTALLED+=("$dest")
}

SHARE=$PREFIX/share
INSTALLED=()
for t in "${TOOLS[@]}"; do
  put 0755 "$FROM/$t" "$PREFIX/bin/$t"
  put_output "$SHARE/bash-completion/completions/$t" "$PREFIX/bin/$t" --completions bash
  put_output "$SHARE/zsh/site-functions/_$t" "$PREFIX/bin/$t" --completions zsh
  put_output "$SHARE/fish/vendor_completions.d/$t.fish" "$PREFIX/bin/$t" --completions fish
  put_output "$SHARE/man/man1/$t.1" "$PREFIX/bin/$t" --man
done
for s in "${JOB_SCRIPTS[@]}"; do
  put 0755 "$REPO/scripts/$s" "$SHARE/compliance-archive/scripts/$s"
done
for f in "$REPO"/scripts/cron/*; do
  mode=0755; [[ -x $f ]] || mode=0644
  put "$mode" "$f" "$SHARE/compliance-archive/scripts/cron/$(basename "$f")"
done

# The jobs need these at run time; say what is missing, install nothing.
missing=()
for c in bash jq flock timeout; do command -v "$c" > /dev/null || missing+=("$c"); done
((${#missing[@]} == 0)) || printf 'install.sh: the jobs need %s (not found on PATH)\n' "${missing[*]}" >&2
for c in psql pg_dump; do
  command -v "$c" > /dev/null || printf 'install.sh: %s not found: scripts/archive-billing.sh needs postgresql-client\n' "$c" >&2
done
printf 'installed %s files under %s, %s in all\n' "${#INSTALLED[@]}" "$PREFIX" \
  "$(du -ch "${INSTALLED[@]}" | tail -1 | cut -f1)" >&2
