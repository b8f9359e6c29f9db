//! Files an earlier run (or the seed backup system) left for a group: found,
//! decompressed and split back into records, so a run merges with them
//! instead of replacing them.

use crate::config::Format;
use crate::dirs::DirMemo;
use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fs;
use std::path::{Path, PathBuf};

/// One file on disk belonging to the group.
pub struct ExistingFile {
    /// Relative path under the root.
    pub rel: String,
    pub path: PathBuf,
    /// The bytes on disk (maybe compressed).
    pub disk: Vec<u8>,
    /// The decompressed content.
    pub content: Vec<u8>,
}

/// The records of a json-format file, and its backup_timestamp as JSON text.
pub struct Parsed<'a> {
    pub records: Vec<&'a [u8]>,
    pub backup_timestamp: Option<String>,
}

#[derive(Deserialize)]
struct Wrapped<'a> {
    #[serde(borrow, default)]
    conversations: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    records: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    backup_timestamp: Option<&'a RawValue>,
}

/// Read a file if it exists (not looked for in a directory that did not).
pub fn load(dirs: &DirMemo, root: &Path, rel: &str) -> Result<Option<ExistingFile>> {
    let path = root.join(rel);
    if !path.parent().is_none_or(|d| dirs.may_hold_files(d)) {
        return Ok(None);
    }
    let disk = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let content = crate::render::decompress(&disk, &path.display().to_string())?;
    Ok(Some(ExistingFile {
        rel: rel.to_owned(),
        path,
        disk,
        content,
    }))
}

/// The rotated parts of `rel` that exist, in part order.
pub fn load_parts(dirs: &DirMemo, root: &Path, rel: &str) -> Result<Vec<ExistingFile>> {
    let probe = root.join(rel);
    let dir = probe.parent().unwrap_or(root);
    if !dirs.may_hold_files(dir) {
        return Ok(Vec::new());
    }
    let rel_dir = match rel.rfind('/') {
        Some(i) => &rel[..=i],
        None => "",
    };
    let mut numbered = Vec::new();
    match fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                let e = e.with_context(|| format!("listing {}", dir.display()))?;
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(n) = crate::render::part_number(rel, &name) {
                    numbered.push((n, format!("{rel_dir}{name}")));
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    }
    numbered.sort();
    let mut out = Vec::new();
    for (_, r) in numbered {
        if let Some(f) = load(dirs, root, &r)? {
            out.push(f);
        }
    }
    Ok(out)
}

/// Split a file's content back into records.
pub fn parse<'a>(f: &'a ExistingFile, format: Format) -> Result<Parsed<'a>> {
    let what = f.path.display();
    match format {
        Format::Ndjson => Ok(Parsed {
            records: f
                .content
                .split(|&b| b == b'\n')
                .map(|l| l.trim_ascii())
                .filter(|l| !l.is_empty())
                .collect(),
            backup_timestamp: None,
        }),
        Format::Json => {
            let w: Wrapped<'a> = serde_json::from_slice(&f.content)
                .with_context(|| format!("{what}: not a wrapped JSON archive file"))?;
            let list = w.conversations.or(w.records).ok_or_else(|| {
                anyhow!("{what}: has neither a \"conversations\" nor a \"records\" list")
            })?;
            Ok(Parsed {
                records: list.into_iter().map(|r| r.get().as_bytes()).collect(),
                backup_timestamp: w
                    .metadata
                    .and_then(|m| m.backup_timestamp)
                    .map(|t| t.get().to_owned()),
            })
        }
    }
}
