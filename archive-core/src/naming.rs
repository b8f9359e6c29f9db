//! Names derived from data (user ids, table names) become path segments only
//! through [`sanitize_segment`], and joined paths only through [`join_under`],
//! so nothing derived from input can escape an output root.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Longest segment kept as is; longer ones are cut and given a hash suffix
/// so two long ids that share a prefix stay distinct.
pub const MAX_SEGMENT: usize = 120;

/// How a changed segment ends: `--` and this many hex digits of the
/// SHA-256 of the original value.
const MARK_HEX: usize = 12;

/// Map a value to a safe path segment over `[A-Za-z0-9._-]` only.
///
/// A value already in that alphabet (not empty, not starting with `.`, at
/// most [`MAX_SEGMENT`] bytes) is kept as it is. Anything else has other
/// characters replaced by `_` and gets the mark `--<12 hex of its SHA-256>`.
/// A kept value never ends like a mark (one that does is marked too), so
/// no kept value equals a changed one and two changed values differ by
/// their hashes: the mapping is one-to-one (up to a 48-bit collision).
/// Every tool that names a path after data (partition's user directories,
/// fetch's uploaded files, parquetize's tables) uses this one mapping, so
/// the same user is the same directory whoever wrote it.
pub fn sanitize_segment(value: &str) -> String {
    sanitize_segment_avoiding(value, &[])
}

/// [`sanitize_segment`], also marking a value equal to one of `reserved`
/// (a tool's own directory names, such as `_quarantine`).
pub fn sanitize_segment_avoiding(value: &str, reserved: &[&str]) -> String {
    let (mut out, changed) = in_alphabet(value);
    if changed || reserved.contains(&out.as_str()) || ends_with_mark(&out) {
        let h = crate::hash::sha256_hex(value.as_bytes());
        out.push_str("--");
        out.push_str(&h[..MARK_HEX]);
    }
    out
}

/// `value` in the segment alphabet, before any mark: other characters as
/// `_`, no leading dot, never empty, at most [`MAX_SEGMENT`] bytes; and
/// whether any of that changed it. (partition also uses it to find the
/// directories an earlier version's `~` mark named.)
pub fn in_alphabet(value: &str) -> (String, bool) {
    let mut out: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut changed = out != value;
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
        changed = true;
    }
    if out.is_empty() {
        out.push('_');
        changed = true;
    }
    if out.len() > MAX_SEGMENT {
        out.truncate(MAX_SEGMENT);
        changed = true;
    }
    (out, changed)
}

fn ends_with_mark(seg: &str) -> bool {
    let b = seg.as_bytes();
    b.len() >= MARK_HEX + 2
        && b[b.len() - MARK_HEX - 2..b.len() - MARK_HEX] == *b"--"
        && b[b.len() - MARK_HEX..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// Join a relative POSIX path under `root`, refusing anything that would
/// leave it (see [`crate::lines::check_relative`]).
pub fn join_under(root: &Path, rel: &str) -> Result<PathBuf> {
    if let Err(e) = crate::lines::check_relative(rel) {
        bail!("refusing to write outside {}: {e:#}", root.display());
    }
    Ok(root.join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_safe_and_distinct() {
        assert_eq!(sanitize_segment("user-abc_1.x"), "user-abc_1.x");
        for bad in ["", ".", "..", "../etc", "/", "a/b", "ünï", ".hidden"] {
            let s = sanitize_segment(bad);
            assert!(!s.is_empty() && !s.starts_with('.'), "{bad:?} -> {s:?}");
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "{s}"
            );
        }
        assert_ne!(sanitize_segment("a/b"), sanitize_segment("a_b"));
        assert_ne!(sanitize_segment("a/b"), sanitize_segment("a?b"));
        // A kept value that looks like a changed one is changed too.
        let marked = sanitize_segment("a/b");
        assert_ne!(sanitize_segment(&marked), marked);
        assert_ne!(
            sanitize_segment_avoiding("_quarantine", &["_quarantine"]),
            "_quarantine"
        );
        let long = "x".repeat(500);
        assert!(sanitize_segment(&long).len() < 140);
        assert!(join_under(Path::new("/out"), "../x").is_err());
        assert_eq!(
            join_under(Path::new("/out"), "a/b").unwrap(),
            Path::new("/out/a/b")
        );
    }
}
