# Sourced by the benchmarks that can give each run a new, empty file
# system (FRESH_FS=1, needs root): an ext4 without a journal, as this
# machine's disk, made by mkfs.ext4 on a sparse image and attached with
# losetup --direct-io=on so the page cache holds each page once.

# fresh_fs IMAGE MOUNTPOINT BYTES: a new empty file system mounted there.
fresh_fs() {
  local img=$1 mnt=$2 bytes=$3 dev
  drop_fs "$mnt" "$img"
  truncate -s "$bytes" "$img"
  mkfs.ext4 -q -F -O ^has_journal "$img"
  dev=$(losetup -f --show --direct-io=on "$img")
  mkdir -p "$mnt"; mount "$dev" "$mnt"
}

# drop_fs MOUNTPOINT IMAGE: unmount, detach and remove it (if there).
drop_fs() {
  if mountpoint -q "$1"; then
    local dev; dev=$(findmnt -n -o SOURCE "$1")
    umount "$1"; losetup -d "$dev" 2>/dev/null || true
  fi
  rm -f "$2"
}
