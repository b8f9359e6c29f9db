//! Names derived from data (user ids, table names) become path segments only
//! through [`sanitize_segment`], and joined paths only through [`join_under`],
//! so nothing derived from input can escape an output root.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Longest segment kept as is; longer ones are cut and given a hash suffix
/// so two long ids that share a prefix stay distinct.
pub const MAX_SEGMENT: usize = 120;

/// Map a value to a safe path segment over `[A-Za-z0-9._-]`.
///
/// Other characters become `_`. The result is never empty, `.` or `..`,
/// and never starts with `.` (no hidden files). When the mapping changed
/// the value, a short hash of the original is appended so distinct inputs
/// (`a/b` and `a_b`) do not collide.
pub fn sanitize_segment(value: &str) -> String {
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
    if changed {
        let h = crate::hash::sha256_hex(value.as_bytes());
        out.push('~');
        out.push_str(&h[..10]);
    }
    out
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
                    .all(|c| c.is_ascii_alphanumeric() || "._-~".contains(c)),
                "{s}"
            );
        }
        assert_ne!(sanitize_segment("a/b"), sanitize_segment("a_b"));
        assert_ne!(sanitize_segment("a/b"), sanitize_segment("a?b"));
        let long = "x".repeat(500);
        assert!(sanitize_segment(&long).len() < 140);
        assert!(join_under(Path::new("/out"), "../x").is_err());
        assert_eq!(
            join_under(Path::new("/out"), "a/b").unwrap(),
            Path::new("/out/a/b")
        );
    }
}
