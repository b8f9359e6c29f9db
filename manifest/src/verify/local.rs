//! `manifest verify DIR`: hash what is on disk (on all cores) and compare
//! it with the manifests at the top of the directory. A link is followed
//! only when the manifest lists it and it leads to a regular file inside
//! the directory (what the writer lists with `--follow-internal-links`);
//! any other is reported `skipped`.

use crate::hashing::{hash_file, Digested};
use crate::tree::{self, Links};
use crate::verify::compare::{self, expected_from, finding, pair_renames, sum_manifest_names};
use anyhow::{Context, Result};
use archive_core::Failure;
use rayon::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub fn verify_dir(dir: &Path, public_key: Option<&Path>) -> Result<Vec<Value>> {
    if !dir.is_dir() {
        return Err(Failure::usage(format!(
            "{}: not a directory",
            dir.display()
        )));
    }
    let top: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    let sum_names = sum_manifest_names(top.iter().map(String::as_str));
    if sum_names.is_empty() {
        return Err(Failure::data(format!(
            "{}: no manifest-sha256.txt to verify against",
            dir.display()
        )));
    }
    let root = dir.display().to_string();
    let location = |p: &str| json!({"root": root, "path": p});
    let exp = expected_from(
        &sum_names,
        |name| match std::fs::read(dir.join(name)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", dir.join(name).display())),
        },
        public_key,
        &location,
    )?;
    let mut findings = exp.findings;
    let opts = tree::Options {
        skip_bag_tags: true,
        links: Links::Skip,
        sweep: false,
    };
    let walk = tree::walk(dir, opts)?;
    for r in &walk.refused {
        findings.push(finding(
            "extra",
            location(r),
            json!({"error": "a name sha256sum cannot list"}),
        ));
    }
    let canonical = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let mut followed = Vec::new();
    for r in &walk.links {
        if exp.files.contains_key(r) && leads_inside(&dir.join(r), &canonical) {
            followed.push(r.as_str());
        } else {
            findings.push(finding("skipped", location(r), json!({"error": "symlink"})));
        }
    }
    for (r, why) in &walk.unreadable {
        findings.push(finding("unreadable", location(r), json!({"error": why})));
    }
    let on_disk: BTreeSet<&str> = walk
        .files
        .iter()
        .map(|f| f.rel.as_str())
        .chain(followed)
        .collect();
    let digests: BTreeMap<&str, Result<Digested>> = on_disk
        .par_iter()
        .map(|p| (*p, hash_file(&dir.join(p))))
        .collect();
    let mut missing = Vec::new();
    for (path, (sha, bytes, manifest)) in &exp.files {
        let details = match digests.get(path.as_str()) {
            None => {
                missing.push((path.clone(), sha.clone()));
                continue;
            }
            Some(Err(e)) => (
                "changed",
                json!({"expected_sha256": sha, "error": format!("{e:#}")}),
            ),
            Some(Ok(d)) if d.sha256 == *sha && bytes.is_none_or(|b| b == d.bytes) => {
                ("ok", json!({"sha256": sha, "bytes": d.bytes}))
            }
            Some(Ok(d)) => (
                "changed",
                json!({
                    "expected_sha256": sha, "actual_sha256": d.sha256,
                    "expected_bytes": bytes, "actual_bytes": d.bytes, "manifest": manifest,
                }),
            ),
        };
        findings.push(finding(details.0, location(path), details.1));
    }
    let mut extra: Vec<(String, Option<String>)> = Vec::new();
    let mut extra_bytes: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for path in on_disk.iter().filter(|p| !exp.files.contains_key(**p)) {
        let d = digests.get(path).and_then(|d| d.as_ref().ok());
        extra_bytes.insert(path.to_string(), d.map(|d| d.bytes));
        extra.push((path.to_string(), d.map(|d| d.sha256.clone())));
    }
    findings.extend(pair_renames(&mut missing, &mut extra, &location));
    for (path, sha) in missing {
        findings.push(finding(
            "missing",
            location(&path),
            json!({"expected_sha256": sha}),
        ));
    }
    for (path, sha) in extra {
        let bytes = extra_bytes.get(&path).copied().flatten();
        findings.push(finding(
            "extra",
            location(&path),
            json!({"actual_sha256": sha, "bytes": bytes}),
        ));
    }
    compare::sort(&mut findings);
    Ok(findings)
}

/// True for a link that resolves to a regular file inside `root`.
fn leads_inside(link: &Path, root: &Path) -> bool {
    std::fs::canonicalize(link)
        .is_ok_and(|t| t.starts_with(root) && std::fs::metadata(&t).is_ok_and(|m| m.is_file()))
}
