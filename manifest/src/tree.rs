//! Walking a manifest directory: which files are payload, and which are the
//! manifests, signatures and BagIt tag files that must never list themselves.
//! Symbolic links are not followed out of the root: the walk reports them.

use anyhow::{Context, Result};
use rayon::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

/// The sha256sum-format manifest of a directory.
pub const SHA256_NAME: &str = "manifest-sha256.txt";
/// The JSON manifest of a directory.
pub const JSON_NAME: &str = "manifest.json";
/// Suffix of minisign signatures.
pub const MINISIG_SUFFIX: &str = ".minisig";

/// Names of a group's manifests (`--group-by`): `manifest-<group>-sha256.txt`
/// and `manifest-<group>.json`; plain names when there is no group.
pub fn manifest_names(group: Option<&str>) -> (String, String) {
    match group {
        None => (SHA256_NAME.to_string(), JSON_NAME.to_string()),
        Some(g) => (
            format!("manifest-{g}-sha256.txt"),
            format!("manifest-{g}.json"),
        ),
    }
}

/// True for a file this tool writes at any depth: sha256 and JSON manifests
/// (grouped or not) and their signatures. A nested directory's own manifests
/// are therefore never payload of an enclosing one either.
pub fn is_manifest_name(name: &str) -> bool {
    let base = name
        .strip_suffix(MINISIG_SUFFIX)
        .or_else(|| name.strip_suffix(".sig"))
        .unwrap_or(name);
    base == SHA256_NAME
        || base == JSON_NAME
        || (base.starts_with("manifest-")
            && (base.ends_with("-sha256.txt") || base.ends_with(".json")))
}

/// True for BagIt tag files, which live only at the top of a bag.
pub fn is_bag_tag_name(name: &str) -> bool {
    name == "bagit.txt"
        || name == "bag-info.txt"
        || name == "fetch.txt"
        || (name.starts_with("tagmanifest-") && name.ends_with(".txt"))
        || (name.starts_with("manifest-") && name.ends_with(".txt"))
}

/// A payload file found by the walk. Size and mtime are read later, by
/// the parallel pass that opens the file anyway: a stat per file here would
/// be a serial pass over the whole tree.
#[derive(Debug, Clone)]
pub struct WalkedFile {
    /// Relative POSIX path.
    pub rel: String,
}

/// Everything under `dir` that is payload, sorted by path, and what the
/// walk would not enter or list.
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<WalkedFile>,
    /// Names that a sha256sum manifest cannot carry unescaped.
    pub refused: Vec<String>,
    /// Symbolic links, not followed (relative paths).
    pub links: Vec<String>,
    /// Directories (or entries) that could not be read: (relative path, why).
    pub unreadable: Vec<(String, String)>,
    /// Temporaries of dead processes removed on the way (`Options::sweep`).
    pub swept: u64,
}

/// What a walk skips, follows and removes.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Skip BagIt tag files at the top level.
    pub skip_bag_tags: bool,
    pub links: Links<'a>,
    /// Remove the temporaries (archive-core's `.NAME.tmp-<pid>-<n>`) of
    /// processes that no longer exist, as `sweep_stale_temps` would, while
    /// the directories are listed anyway: no second pass over the tree.
    pub sweep: bool,
}

/// How links are treated: never followed, or followed to a regular file
/// when they resolve inside `root` (a canonical path).
#[derive(Debug, Clone, Copy)]
pub enum Links<'a> {
    Skip,
    FollowInside { root: &'a Path },
}

/// Walk `dir` recursively. Manifest files (any depth), BagIt tag files (top
/// level only, when `skip_bag_tags`) and atomic-write leftovers are skipped.
/// A missing directory is an empty walk; one that cannot be listed is an
/// error, while a subdirectory that cannot be listed is named in
/// `unreadable` and the rest is walked. Subdirectories are listed in
/// parallel: a tree of many small files is mostly directory entries.
pub fn walk(dir: &Path, opts: Options) -> Result<Walk> {
    let mut w = if dir.exists() {
        let rd = fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
        walk_dir(rd, dir, "", opts)
    } else {
        Walk::default()
    };
    w.files.par_sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    w.links.sort_unstable();
    w.unreadable.sort_unstable();
    Ok(w)
}

/// What one directory entry is, as far as the walk cares.
enum Kind {
    File,
    Dir,
    Link,
    Other,
}

fn kind_of(entry: &fs::DirEntry, links: Links) -> std::io::Result<Kind> {
    let ft = entry.file_type()?;
    if ft.is_file() {
        return Ok(Kind::File);
    }
    if ft.is_dir() {
        return Ok(Kind::Dir);
    }
    if !ft.is_symlink() {
        return Ok(Kind::Other);
    }
    // Links to directories are never followed (they could loop); a link
    // to a file only when asked, and only when it stays inside the root.
    if let Links::FollowInside { root } = links {
        if let Ok(target) = fs::canonicalize(entry.path()) {
            if target.starts_with(root) && fs::metadata(&target).is_ok_and(|m| m.is_file()) {
                return Ok(Kind::File);
            }
        }
    }
    Ok(Kind::Link)
}

fn walk_dir(rd: fs::ReadDir, dir: &Path, prefix: &str, opts: Options) -> Walk {
    let mut w = Walk::default();
    let mut subdirs: Vec<(PathBuf, String)> = Vec::new();
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        }
    };
    for entry in rd {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                w.unreadable.push((
                    prefix.to_string(),
                    format!("listing {}: {e}", dir.display()),
                ));
                break;
            }
        };
        let file_name = entry.file_name();
        let name = file_name.to_string_lossy();
        if archive_core::atomic::is_temp_name(&name) {
            if opts.sweep && sweep_one(&entry, &name) {
                w.swept += 1;
            }
            continue;
        }
        if is_manifest_name(&name) {
            continue;
        }
        if opts.skip_bag_tags && prefix.is_empty() && is_bag_tag_name(&name) {
            continue;
        }
        let rel = join(&name);
        match kind_of(&entry, opts.links) {
            Err(e) => w
                .unreadable
                .push((rel, format!("reading {}: {e}", entry.path().display()))),
            Ok(Kind::Link) => w.links.push(rel),
            Ok(Kind::Dir) => subdirs.push((entry.path(), rel)),
            Ok(Kind::File) if file_name.to_str().is_none() || needs_escape(&rel) => {
                w.refused.push(rel)
            }
            Ok(Kind::File) => w.files.push(WalkedFile { rel }),
            Ok(Kind::Other) => {}
        }
    }
    let nested: Vec<Walk> = subdirs
        .into_par_iter()
        .map(|(path, rel)| match fs::read_dir(&path) {
            Ok(rd) => walk_dir(rd, &path, &rel, opts),
            Err(e) => Walk {
                unreadable: vec![(rel, format!("listing {}: {e}", path.display()))],
                ..Walk::default()
            },
        })
        .collect();
    for n in nested {
        w.files.extend(n.files);
        w.refused.extend(n.refused);
        w.links.extend(n.links);
        w.unreadable.extend(n.unreadable);
        w.swept += n.swept;
    }
    w
}

/// Remove a temporary file or directory whose process is gone (never a
/// link); true when it was removed.
fn sweep_one(entry: &fs::DirEntry, name: &str) -> bool {
    use archive_core::atomic::{process_alive, temp_owner};
    if temp_owner(name).is_none_or(process_alive) {
        return false;
    }
    let Ok(ft) = entry.file_type() else {
        return false;
    };
    let path = entry.path();
    let removed = if ft.is_dir() {
        fs::remove_dir_all(&path)
    } else if ft.is_file() {
        fs::remove_file(&path)
    } else {
        return false;
    };
    match removed {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "manifest: warning: removing the leftover {}: {e}",
                path.display()
            );
            false
        }
    }
}

/// Names GNU sha256sum would escape with a leading backslash.
pub fn needs_escape(rel: &str) -> bool {
    rel.contains(['\n', '\r', '\\'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_recognised() {
        for n in [
            "manifest-sha256.txt",
            "manifest.json",
            "manifest-2025-11-sha256.txt",
            "manifest-2025-11.json",
            "manifest-sha256.txt.minisig",
            "manifest.json.minisig",
        ] {
            assert!(is_manifest_name(n), "{n}");
        }
        for n in [
            "data.json",
            "manifest.txt",
            "manifests.json",
            "x-manifest.json",
        ] {
            assert!(!is_manifest_name(n), "{n}");
        }
        assert_eq!(
            manifest_names(Some("2025-11")),
            (
                "manifest-2025-11-sha256.txt".into(),
                "manifest-2025-11.json".into()
            )
        );
    }
}
