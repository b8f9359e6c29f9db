//! Files an earlier run (or the seed backup system) left for a group: found,
//! decompressed and split back into records, so a run merges with them
//! instead of replacing them. Nothing is read through a symbolic link: the
//! directories are checked by [`DirMemo`], the file itself is opened with
//! `O_NOFOLLOW`.

use crate::dirs::DirMemo;
use crate::model::Format;
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
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
    metadata: Option<BTreeMap<String, &'a RawValue>>,
}

/// Read a file if it exists (not looked for in a directory that did not).
/// Fails, naming it, when the file or a directory above it is a link.
pub fn load(dirs: &DirMemo, root: &Path, rel: &str) -> Result<Option<ExistingFile>> {
    let path = root.join(rel);
    if let Some(dir) = path.parent() {
        dirs.refuse_links(dir)?;
        if !dirs.may_hold_files(dir) {
            return Ok(None);
        }
    }
    let disk = match read_no_follow(&path).with_context(|| format!("reading {}", path.display()))? {
        OnDisk::Missing => return Ok(None),
        OnDisk::Link => {
            bail!("{rel} is a symbolic link (partition never writes through links inside --out)")
        }
        OnDisk::File(bytes) => bytes,
    };
    let content = crate::render::decompress(&disk, &path.display().to_string())?;
    Ok(Some(ExistingFile {
        rel: rel.to_owned(),
        path,
        disk,
        content,
    }))
}

/// What is at a file's path.
enum OnDisk {
    Missing,
    Link,
    File(Vec<u8>),
}

/// Read `path` without following a symbolic link at its end (`O_NOFOLLOW`
/// fails with ELOOP on one, and the link is reported instead).
fn read_no_follow(path: &Path) -> std::io::Result<OnDisk> {
    let mut f = match File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(OnDisk::Missing),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(OnDisk::Link),
        Err(e) => return Err(e),
    };
    // Read as `fs::read` does (one stat for the size, then read to the
    // end); `File::read_to_end` would stat again and seek.
    let len = f.metadata()?.len() as usize;
    let mut disk = vec![0u8; len + 1];
    let mut n = 0;
    loop {
        if n == disk.len() {
            disk.resize(n * 2, 0);
        }
        match f.read(&mut disk[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    disk.truncate(n);
    Ok(OnDisk::File(disk))
}

/// The rotated parts of `rel` that exist, in part order (`rel` itself
/// first when the first part is unnumbered, `first_bare`).
pub fn load_parts(
    dirs: &DirMemo,
    root: &Path,
    rel: &str,
    first_bare: bool,
) -> Result<Vec<ExistingFile>> {
    let probe = root.join(rel);
    let dir = probe.parent().unwrap_or(root);
    dirs.refuse_links(dir)?;
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
    if first_bare {
        out.extend(load(dirs, root, rel)?);
    }
    for (_, r) in numbered {
        if let Some(f) = load(dirs, root, &r)? {
            out.push(f);
        }
    }
    Ok(out)
}

/// Split a file's content back into records; `ts_key` names the run's
/// timestamp in a json file's `metadata`.
pub fn parse<'a>(f: &'a ExistingFile, format: Format, ts_key: &str) -> Result<Parsed<'a>> {
    let what = f.path.display();
    match format {
        // Checked here because the records are copied as bytes: a file an
        // older version wrote with bytes that are not UTF-8 is not carried
        // into a new one (the group is refused and its new records kept in
        // the quarantine). The json format is checked by its parser.
        Format::Ndjson if std::str::from_utf8(&f.content).is_err() => {
            let at = std::str::from_utf8(&f.content)
                .err()
                .map_or(0, |e| e.valid_up_to());
            Err(anyhow!("{what}: not valid UTF-8 (byte {at})"))
        }
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
                    .and_then(|m| m.get(ts_key).map(|t| t.get().to_owned())),
            })
        }
    }
}
