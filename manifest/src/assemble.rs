//! Deciding each file's manifest entry from what the line claimed, what
//! the previous manifest said and what the parallel pass found. Nothing is
//! trusted: a claim that the file contradicts fails the file, and an
//! unannounced change fails it too unless `--accept-changes`.

use crate::build::{join_key, Counts, Failures, Target};
use crate::input::Incoming;
use crate::json_manifest::{hex, Entry, Meta};
use crate::plan::{Found, Item};
use crate::WriteArgs;

/// What becomes of one file's entry.
enum Decision {
    /// Keep the previous entry as it is (if there was one).
    KeepOld,
    /// Record this entry.
    New(Entry),
    /// Keep the previous entry's metadata with these file facts.
    Update {
        bytes: u64,
        mtime: Option<crate::json_manifest::Mtime>,
        sha256: crate::json_manifest::Digest,
    },
    /// Leave the file out.
    Drop,
}

/// Decide every item's entry in place (no second list of entries);
/// returns whether every entry equals the previous manifest's.
#[allow(clippy::too_many_arguments)]
pub fn assemble(
    ti: usize,
    t: &Target,
    items: &mut [Item],
    incoming: &mut [Incoming],
    args: &WriteArgs,
    s3_prefix: Option<&str>,
    failures: &mut Failures,
    counts: &mut Counts,
) -> bool {
    let mut same_as_previous = true;
    for it in items.iter_mut() {
        match decide(ti, t, it, incoming, args, s3_prefix, failures, counts) {
            Decision::KeepOld => {}
            Decision::New(e) => {
                if it.entry.as_ref() != Some(&e) {
                    same_as_previous = false;
                }
                it.entry = Some(e);
            }
            Decision::Update {
                bytes,
                mtime,
                sha256,
            } => {
                let e = it.entry.as_mut().expect("an update has a previous entry");
                if (e.bytes, e.mtime, e.sha256) != (bytes, mtime, sha256) {
                    same_as_previous = false;
                }
                (e.bytes, e.mtime, e.sha256) = (bytes, mtime, sha256);
            }
            Decision::Drop => {
                if it.entry.take().is_some() {
                    same_as_previous = false;
                }
            }
        }
    }
    same_as_previous
}

#[allow(clippy::too_many_arguments)]
fn decide(
    ti: usize,
    t: &Target,
    it: &Item,
    incoming: &mut [Incoming],
    args: &WriteArgs,
    s3_prefix: Option<&str>,
    failures: &mut Failures,
    counts: &mut Counts,
) -> Decision {
    let rel = it.rel.as_str();
    let shown = || t.dir.join(rel).display().to_string();
    match (it.announced, &it.found) {
        (_, Found::Pending) => {
            if let Some(idx) = it.announced {
                incoming[idx].failed = true;
            }
            failures.fail(ti, rel, format!("{}: was not examined", shown()));
            Decision::KeepOld
        }
        (Some(idx), Found::Absent) => {
            let inc = &mut incoming[idx];
            inc.failed = true;
            failures.fail(
                ti,
                rel,
                format!("line {}: {}: no such file", inc.line_no, shown()),
            );
            Decision::KeepOld
        }
        (_, Found::Unreadable(msg)) => {
            if let Some(idx) = it.announced {
                incoming[idx].failed = true;
            }
            failures.fail(ti, rel, msg);
            Decision::KeepOld
        }
        (_, Found::Reused) => {
            // Only unannounced files are ever reused.
            counts.reused += 1;
            Decision::KeepOld
        }
        (
            Some(idx),
            Found::Hashed {
                bytes,
                mtime,
                sha256,
            },
        ) => {
            counts.hashed += 1;
            let inc = &mut incoming[idx];
            let sha_bad = inc.claimed_sha.as_ref().is_some_and(|c| !c.matches(sha256));
            let bytes_bad = inc.claimed_bytes.is_some_and(|b| b != *bytes);
            if sha_bad || bytes_bad {
                inc.failed = true;
                failures.fail(ti, rel, format!(
                    "line {}: {}: the file line says {} bytes, sha256 {}, the file has {} bytes, sha256 {}; not passed on",
                    inc.line_no,
                    shown(),
                    inc.claimed_bytes.map(|b| b.to_string()).unwrap_or_else(|| "?".into()),
                    inc.claimed_sha.as_ref().map(|c| c.shown()).unwrap_or_else(|| "?".into()),
                    bytes,
                    hex(sha256)
                ));
                return Decision::KeepOld;
            }
            let mut meta = inc.meta.take().map(|m| *m).unwrap_or_default();
            if meta.s3_key.is_none() {
                meta.s3_key = s3_prefix.map(|p| join_key(p, rel).into());
            }
            Decision::New(Entry::new(*bytes, *sha256, *mtime, meta))
        }
        (
            None,
            Found::Hashed {
                bytes,
                mtime,
                sha256,
            },
        ) => {
            counts.hashed += 1;
            match &it.entry {
                Some(old) if old.sha256 == *sha256 => Decision::Update {
                    bytes: *bytes,
                    mtime: *mtime,
                    sha256: *sha256,
                },
                Some(old) => {
                    if args.accept_changes {
                        eprintln!("manifest: warning: {} changed since the previous manifest; recording the new digest (--accept-changes)", shown());
                        Decision::Update {
                            bytes: *bytes,
                            mtime: *mtime,
                            sha256: *sha256,
                        }
                    } else {
                        failures.fail(ti, rel, format!(
                            "{} changed since the previous manifest (sha256 {} -> {}) without a file line announcing it; \
                             keeping the old entry (use --accept-changes to record the new one)",
                            shown(), hex(&old.sha256), hex(sha256)
                        ));
                        Decision::KeepOld
                    }
                }
                None => Decision::New(Entry::new(
                    *bytes,
                    *sha256,
                    *mtime,
                    Meta {
                        s3_key: s3_prefix.map(|p| join_key(p, rel).into()),
                        ..Meta::default()
                    },
                )),
            }
        }
        (None, Found::Absent) => {
            if it.entry.is_none() {
                // Walked, then gone before it was opened: nothing to record.
                return Decision::Drop;
            }
            if args.accept_changes {
                eprintln!("manifest: warning: {} is gone; dropping it from the manifest (--accept-changes)", shown());
                Decision::Drop
            } else {
                failures.fail(
                    ti,
                    rel,
                    format!(
                        "{} is listed in the previous manifest but missing; keeping its entry \
                         (use --accept-changes to drop it)",
                        shown()
                    ),
                );
                Decision::KeepOld
            }
        }
    }
}
