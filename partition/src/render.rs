//! Paths and file contents: the path template, part names for rotation,
//! the seed's wrapped JSON and NDJSON, and compression. Records are written
//! as the bytes they arrived as.

use crate::model::{Compression, Format, Metadata};
use anyhow::{Context, Result};
use archive_core::Failure;
use chrono::{Datelike, NaiveDate};
use std::io::{Read, Write};

const PLACEHOLDERS: [&str; 6] = ["{user}", "{yyyy}", "{mm}", "{dd}", "{date}", "{yyyymmdd}"];

/// Directory names this tool writes itself; a user with such a name gets a
/// hash suffix so its files never mix with them.
const RESERVED: [&str; 2] = ["_daily_summaries", "_quarantine"];

/// Refuse templates that are absolute, climb out of the root, or use an
/// unknown placeholder.
pub fn check_template(t: &str) -> Result<()> {
    let mut rest = t.to_owned();
    for p in PLACEHOLDERS {
        rest = rest.replace(p, "x");
    }
    if rest.contains('{') || rest.contains('}') {
        return Err(Failure::usage(format!(
            "--path {t:?}: unknown placeholder; known: {}",
            PLACEHOLDERS.join(" ")
        )));
    }
    archive_core::lines::check_relative(&rest)
        .map_err(|e| Failure::usage(format!("--path {t:?}: {e:#}")))?;
    if RESERVED.iter().any(|r| rest.split('/').next() == Some(*r)) {
        return Err(Failure::usage(format!(
            "--path {t:?}: {} is reserved for partition's own files",
            rest.split('/').next().unwrap_or_default()
        )));
    }
    Ok(())
}

/// True when the template puts each user in its own file.
pub fn has_user(t: &str) -> bool {
    t.contains("{user}")
}

/// A user id as a path segment over `[A-Za-z0-9._-]` only, through
/// archive-core's one mapping (so fetch and partition name a user's
/// directory alike): a value already in that alphabet is kept as it is;
/// anything else (another character, a leading dot, empty, longer than 120
/// bytes, one of partition's own directory names, or a value that itself
/// ends like a mark) has other characters replaced by `_` and gets the
/// mark `--<12 hex of its SHA-256>`. One-to-one up to a 48-bit collision.
pub fn user_segment(user: &str) -> String {
    archive_core::naming::sanitize_segment_avoiding(user, &RESERVED)
}

/// The segment archive-core gave a user before segments lost the `~`
/// mark: other characters as `_`, no leading dot, never empty, at most
/// 120 bytes, and `~<10 hex of its SHA-256>` when any of that changed it
/// or it was one of partition's own names.
fn former_segment(user: &str) -> String {
    let (mut seg, changed) = archive_core::naming::in_alphabet(user);
    if changed || RESERVED.contains(&seg.as_str()) {
        let h = archive_core::hash::sha256_hex(user.as_bytes());
        seg.push('~');
        seg.push_str(&h[..10]);
    }
    seg
}

/// The file path (relative to the root, before rotation and compression
/// suffixes) of a record of `user` on `date`.
pub fn path_for(t: &str, user: &str, date: NaiveDate) -> String {
    if t.contains("{user}") {
        with_segment(t, &user_segment(user), date)
    } else {
        with_segment(t, "", date)
    }
}

/// Where `path_for` put this user's file before user segments lost the
/// `~` mark (archive-core's `sanitize_segment`), when that differs: an
/// earlier run's file there is merged into the new path and removed.
pub fn former_path_for(t: &str, user: &str, date: NaiveDate) -> Option<String> {
    if !t.contains("{user}") {
        return None;
    }
    let seg = former_segment(user);
    (seg != user_segment(user)).then(|| with_segment(t, &seg, date))
}

fn with_segment(t: &str, seg: &str, date: NaiveDate) -> String {
    let (y, m, d) = (date.year(), date.month(), date.day());
    t.replace("{user}", seg)
        .replace("{yyyy}", &format!("{y:04}"))
        .replace("{mm}", &format!("{m:02}"))
        .replace("{dd}", &format!("{d:02}"))
        .replace("{date}", &format!("{y:04}-{m:02}-{d:02}"))
        .replace("{yyyymmdd}", &format!("{y:04}{m:02}{d:02}"))
}

/// The name of part `part` (from 1) of `rel`: numbered from `_001`, or,
/// when `first_bare`, the first under `rel` itself and the next from `_001`.
pub fn rotated_name(rel: &str, part: usize, first_bare: bool) -> String {
    match (first_bare, part) {
        (true, 1) => rel.to_owned(),
        (true, n) => part_name(rel, n - 1),
        (false, n) => part_name(rel, n),
    }
}

/// `dir/audit_20260128.jsonl` → `dir/audit_20260128_001.jsonl`: the part
/// number goes before the first dot of the file name.
pub fn part_name(rel: &str, part: usize) -> String {
    let (dir, file) = match rel.rfind('/') {
        Some(i) => (&rel[..=i], &rel[i + 1..]),
        None => ("", rel),
    };
    let (stem, ext) = match file.find('.') {
        Some(i) => (&file[..i], &file[i..]),
        None => (file, ""),
    };
    format!("{dir}{stem}_{part:03}{ext}")
}

/// If `name` (a file name) is a part of `rel`'s file, its part number.
pub fn part_number(rel: &str, name: &str) -> Option<usize> {
    let probe = part_name(rel, 0);
    let file = probe.rsplit('/').next().unwrap_or(&probe);
    let (prefix, suffix) = file.split_once("_000")?;
    let digits = name
        .strip_prefix(prefix)?
        .strip_prefix('_')?
        .strip_suffix(suffix)?;
    if digits.len() >= 3 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// What goes around the records of a json-format file.
pub struct Wrapper<'a> {
    pub date: Option<&'a str>,
    pub user: Option<&'a str>,
    pub list_key: &'a str,
    pub count_key: &'a str,
    /// The backup_timestamp as JSON text (kept from the existing file when
    /// nothing else changed).
    pub backup_timestamp: &'a str,
    pub metadata: &'a Metadata,
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

fn opt_str(s: Option<&str>) -> String {
    s.map(json_str).unwrap_or_else(|| "null".into())
}

/// The uncompressed bytes of one file.
pub fn content(format: Format, wrapper: &Wrapper<'_>, records: &[&[u8]]) -> Vec<u8> {
    let body: usize = records.iter().map(|r| r.len() + 1).sum();
    let mut out = Vec::with_capacity(body + 256);
    match format {
        Format::Ndjson => {
            for r in records {
                out.extend_from_slice(r);
                out.push(b'\n');
            }
        }
        Format::Json => {
            write!(
                out,
                "{{\"date\":{},\"user_id\":{},{}:{},{}:[",
                opt_str(wrapper.date),
                opt_str(wrapper.user),
                json_str(wrapper.count_key),
                records.len(),
                json_str(wrapper.list_key)
            )
            .unwrap();
            for (i, r) in records.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(r);
            }
            let m = wrapper.metadata;
            write!(
                out,
                "],\"metadata\":{{{}:{}",
                json_str(&m.timestamp_key),
                wrapper.backup_timestamp
            )
            .unwrap();
            for (k, v) in &m.pairs {
                write!(out, ",{}:{}", json_str(k), json_str(v)).unwrap();
            }
            out.extend_from_slice(b"}}\n");
        }
    }
    out
}

/// Compress deterministically (no name or time in the gzip header).
pub fn compress(c: Option<Compression>, bytes: Vec<u8>) -> Result<Vec<u8>> {
    match c {
        None => Ok(bytes),
        Some(Compression::Gzip) => {
            let mut e = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::default());
            e.write_all(&bytes)?;
            Ok(e.finish()?)
        }
        Some(Compression::Zstd) => Ok(zstd::bulk::compress(&bytes, 3)?),
    }
}

/// Decompress by magic bytes (gzip, zstd), or return the bytes as they are.
pub fn decompress(bytes: &[u8], what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    archive_core::io::decoder(bytes)
        .and_then(|mut r| Ok(r.read_to_end(&mut out)?))
        .with_context(|| format!("decompressing {what}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_segments_stay_in_the_alphabet_and_apart() {
        let ok = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        assert_eq!(user_segment("user-abc_1.x"), "user-abc_1.x");
        let inputs = [
            "",
            ".",
            "..",
            "a/b",
            "a_b",
            "a?b",
            "ünï",
            ".hidden",
            "_quarantine",
            "x--0123456789ab",
            "a b~c",
            &"y".repeat(300),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for u in inputs {
            let s = user_segment(u);
            assert!(
                ok(&s) && !s.starts_with('.') && !s.is_empty(),
                "{u:?} -> {s:?}"
            );
            assert!(s.len() <= 134, "{s}");
            assert!(seen.insert(s.clone()), "{u:?} -> {s:?} collides");
        }
        // The image of a changed value is never the image of a kept one.
        let changed = user_segment("a/b");
        assert_ne!(user_segment(&changed), changed);
        assert_eq!(
            rotated_name("audit_20260128.jsonl", 1, true),
            "audit_20260128.jsonl"
        );
        assert_eq!(
            rotated_name("audit_20260128.jsonl", 2, true),
            "audit_20260128_001.jsonl"
        );
        assert_eq!(
            rotated_name("audit_20260128.jsonl", 1, false),
            "audit_20260128_001.jsonl"
        );
    }

    #[test]
    fn paths_and_parts() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 28).unwrap();
        assert_eq!(
            path_for("{user}/{yyyy}/{mm}/{dd}/c.json", "u/../x", d),
            format!(
                "u_.._x--{}/2026/01/28/c.json",
                &archive_core::hash::sha256_hex(b"u/../x")[..12]
            )
        );
        assert_eq!(
            path_for("audit_{yyyymmdd}.jsonl", "u", d),
            "audit_20260128.jsonl"
        );
        assert_eq!(
            part_name("a/audit_20260128.jsonl.gz", 2),
            "a/audit_20260128_002.jsonl.gz"
        );
        assert_eq!(
            part_number("a/audit_20260128.jsonl.gz", "audit_20260128_017.jsonl.gz"),
            Some(17)
        );
        assert_eq!(
            part_number("a/audit_20260128.jsonl.gz", "audit_20260128.jsonl.gz"),
            None
        );
        assert_eq!(
            part_number("a/audit_20260128.jsonl", "audit_20260128_01.jsonl"),
            None
        );
        assert!(user_segment("_quarantine").starts_with("_quarantine--"));
        assert!(check_template("../{user}.json").is_err());
        assert!(check_template("/abs/{user}.json").is_err());
        assert!(check_template("{owner}/x.json").is_err());
        assert!(check_template("_quarantine/{user}.json").is_err());
        assert!(check_template("{user}/{date}.ndjson").is_ok());
    }
}
