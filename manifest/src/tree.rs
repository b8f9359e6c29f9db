//! Walking a manifest directory: which files are payload, and which are the
//! manifests, signatures and BagIt tag files that must never list themselves.

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

/// Everything under `dir` that is payload, sorted by path; `refused` lists
/// names that a sha256sum manifest cannot carry unescaped.
pub struct Walk {
    pub files: Vec<WalkedFile>,
    pub refused: Vec<String>,
}

/// Walk `dir` recursively. Manifest files (any depth), BagIt tag files (top
/// level only, when `skip_bag_tags`) and atomic-write leftovers are skipped.
/// A missing directory is an empty walk. Subdirectories are listed in
/// parallel: a tree of many small files is mostly directory entries.
pub fn walk(dir: &Path, skip_bag_tags: bool) -> Result<Walk> {
    let mut w = if dir.exists() {
        walk_dir(dir, "", skip_bag_tags)?
    } else {
        Walk {
            files: Vec::new(),
            refused: Vec::new(),
        }
    };
    w.files.par_sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    Ok(w)
}

fn walk_dir(dir: &Path, prefix: &str, skip_bag_tags: bool) -> Result<Walk> {
    let mut w = Walk {
        files: Vec::new(),
        refused: Vec::new(),
    };
    let mut subdirs: Vec<(PathBuf, String)> = Vec::new();
    let rd = fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in rd {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let file_name = entry.file_name();
        let name = file_name.to_string_lossy();
        if archive_core::atomic::is_temp_name(&name) || is_manifest_name(&name) {
            continue;
        }
        if skip_bag_tags && prefix.is_empty() && is_bag_tag_name(&name) {
            continue;
        }
        let rel = if prefix.is_empty() {
            name.into_owned()
        } else {
            format!("{prefix}/{name}")
        };
        let mut ft = entry
            .file_type()
            .with_context(|| format!("reading {}", entry.path().display()))?;
        if ft.is_symlink() {
            // Follow links to files (sha256sum does); never links to directories,
            // which could loop.
            let path = entry.path();
            match fs::metadata(&path) {
                Ok(m) if m.is_file() => {
                    ft = m.file_type();
                }
                _ => {
                    eprintln!(
                        "manifest: skipping {}: a link to a directory or nothing",
                        path.display()
                    );
                    continue;
                }
            }
        }
        if ft.is_dir() {
            subdirs.push((entry.path(), rel));
        } else if ft.is_file() {
            if file_name.to_str().is_none() || needs_escape(&rel) {
                w.refused.push(rel);
                continue;
            }
            w.files.push(WalkedFile { rel });
        }
    }
    let nested: Vec<Result<Walk>> = subdirs
        .into_par_iter()
        .map(|(path, rel)| walk_dir(&path, &rel, skip_bag_tags))
        .collect();
    for n in nested {
        let n = n?;
        w.files.extend(n.files);
        w.refused.extend(n.refused);
    }
    Ok(w)
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
