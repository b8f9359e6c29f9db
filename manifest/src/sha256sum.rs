//! The GNU `sha256sum` text format: `<64 lowercase hex>  <path>\n`, so that
//! `sha256sum -c --strict manifest-sha256.txt` checks a tree with no tool
//! of ours installed. The same text is a valid BagIt payload manifest.
//!
//! A first line `# companion: manifest.json` says which JSON manifest was
//! written beside it, so `verify` can report that one as missing. GNU
//! sha256sum skips lines that start with `#`, even with `--strict`.

use anyhow::{bail, Result};

/// One checksum line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumEntry {
    pub path: String,
    pub sha256: String,
}

/// Render entries sorted by path (byte order), one line each.
pub fn render(entries: &[SumEntry]) -> String {
    let mut sorted: Vec<&SumEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = String::with_capacity(entries.len() * 100);
    for e in sorted {
        out.push_str(&e.sha256);
        out.push_str("  ");
        out.push_str(&e.path);
        out.push('\n');
    }
    out
}

/// Write one line for a file: the sorted order is the caller's.
pub fn write_line(
    w: &mut impl std::io::Write,
    path: &str,
    sha256: &crate::model::Digest,
) -> std::io::Result<()> {
    crate::model::write_hex(w, sha256)?;
    w.write_all(b"  ")?;
    w.write_all(path.as_bytes())?;
    w.write_all(b"\n")
}

/// The comment that names the JSON manifest written beside this one.
const COMPANION: &str = "# companion: ";

/// Write the companion line (first, before any checksum line).
pub fn write_companion(w: &mut impl std::io::Write, json_name: &str) -> std::io::Result<()> {
    w.write_all(COMPANION.as_bytes())?;
    w.write_all(json_name.as_bytes())?;
    w.write_all(b"\n")
}

/// The JSON manifest a sha256sum manifest says was written beside it.
pub fn companion(text: &str) -> Option<&str> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix(COMPANION))
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

/// Parse sha256sum output (text ` ` or binary `*` mode, and the backslash
/// escaping GNU uses for names with newlines or backslashes).
pub fn parse(text: &str, source: &str) -> Result<Vec<SumEntry>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let (escaped, line) = match raw.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let Some((hex, rest)) = line.split_once(' ') else {
            bail!("{source}:{line_no}: not a sha256sum line: {raw:?}");
        };
        let path = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('*'));
        let Some(path) = path else {
            bail!("{source}:{line_no}: expected two spaces or ' *' after the checksum");
        };
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("{source}:{line_no}: {hex:?} is not a SHA-256 hex digest");
        }
        let path = if escaped {
            unescape(path)
        } else {
            path.to_string()
        };
        if let Err(e) = archive_core::lines::check_relative(&path) {
            bail!("{source}:{line_no}: {e:#}");
        }
        out.push(SumEntry {
            path,
            sha256: hex.to_ascii_lowercase(),
        });
    }
    Ok(out)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_sorted() {
        let h = "a".repeat(64);
        let entries = vec![
            SumEntry {
                path: "b/x.json".into(),
                sha256: h.clone(),
            },
            SumEntry {
                path: "a.json".into(),
                sha256: h.clone(),
            },
        ];
        let text = render(&entries);
        assert_eq!(text, format!("{h}  a.json\n{h}  b/x.json\n"));
        let back = parse(&text, "m").unwrap();
        assert_eq!(back[0].path, "a.json");
        assert_eq!(back.len(), 2);
        assert!(parse(&format!("{h}  ../x\n"), "m").is_err());
        assert!(parse("abc  x\n", "m")
            .unwrap_err()
            .to_string()
            .contains("m:1"));
        assert_eq!(
            parse(&format!("{h} *bin.dat\n"), "m").unwrap()[0].path,
            "bin.dat"
        );
        let mut with = Vec::new();
        write_companion(&mut with, "manifest.json").unwrap();
        let with = String::from_utf8(with).unwrap() + &text;
        assert_eq!(companion(&with), Some("manifest.json"));
        assert_eq!(parse(&with, "m").unwrap(), back);
        assert_eq!(companion(&text), None);
    }
}
