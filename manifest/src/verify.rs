//! `manifest verify DIR|s3://bucket/prefix`: compare what is there with
//! what the manifests say, one NDJSON line per difference.
//!
//! Statuses: `missing`, `extra`, `changed`, `renamed` (a missing file whose
//! digest reappears under another name), `manifest_mismatch` (the JSON and
//! text manifests disagree), `bad_signature`, `unsigned` — all differences,
//! exit 1 — and `unverifiable` (archived in Glacier, needs a restore) and
//! `ok` (with `--all`), which are not.

use crate::hashing::hash_file;
use crate::json_manifest::{self, Manifest};
use crate::sha256sum;
use crate::tree;
use crate::VerifyArgs;
use anyhow::{Context, Result};
use archive_core::io::LineOut;
use archive_core::{Failure, Outcome};
use rayon::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Statuses that are not differences.
pub fn is_difference(status: &str) -> bool {
    !matches!(status, "ok" | "unverifiable")
}

pub fn run(args: VerifyArgs) -> Result<Outcome> {
    let started = Instant::now();
    let mut out = LineOut::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for target in &args.targets {
        let findings = if target.starts_with("s3://") {
            crate::verify_s3::verify(target, &args)?
        } else {
            verify_dir(Path::new(target), &args)?
        };
        for f in findings {
            let status = f["status"].as_str().unwrap_or("").to_string();
            if status != "ok" || args.all {
                out.json(&f)?;
            }
            *counts.entry(status).or_default() += 1;
        }
    }
    out.flush()?;
    let differences: u64 = counts
        .iter()
        .filter(|(s, _)| is_difference(s))
        .map(|(_, n)| n)
        .sum();
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let secs = started.elapsed().as_secs_f64();
    let summary = json!({
        "tool": "manifest verify",
        "targets": args.targets,
        "counts": counts,
        "differences": differences,
        "elapsed_s": (secs * 1000.0).round() / 1000.0,
    });
    crate::summary::finish(
        &format!(
            "verify: {} ({}); {differences} difference(s); {secs:.2}s",
            args.targets.join(" "),
            if parts.is_empty() {
                "no files".to_string()
            } else {
                parts.join(", ")
            }
        ),
        &summary,
        args.summary.as_deref(),
    )?;
    Ok(if differences > 0 {
        Outcome::Partial
    } else {
        Outcome::Complete
    })
}

/// The manifests found at the top of a directory or prefix: sha256sum text,
/// optional JSON companion, optional signatures.
pub struct Expected {
    /// path -> (sha256, bytes when the JSON knows it, manifest name)
    pub files: BTreeMap<String, (String, Option<u64>, String)>,
    /// Findings about the manifests themselves.
    pub findings: Vec<Value>,
}

/// Names of the sha256sum manifests among top-level names.
pub fn sum_manifest_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = names
        .filter(|n| {
            *n == tree::SHA256_NAME || (n.starts_with("manifest-") && n.ends_with("-sha256.txt"))
        })
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// The JSON companion of a sha256sum manifest name.
pub fn json_name_for(sum_name: &str) -> String {
    if sum_name == tree::SHA256_NAME {
        tree::JSON_NAME.to_string()
    } else {
        let g = &sum_name["manifest-".len()..sum_name.len() - "-sha256.txt".len()];
        format!("manifest-{g}.json")
    }
}

/// Build the expectation from manifest contents; `read` fetches a top-level
/// file by name (None when absent). `location` names the place in findings.
pub fn expected_from(
    sum_names: &[String],
    mut read: impl FnMut(&str) -> Result<Option<Vec<u8>>>,
    public_key: Option<&Path>,
    location: &dyn Fn(&str) -> Value,
) -> Result<Expected> {
    let mut exp = Expected {
        files: BTreeMap::new(),
        findings: Vec::new(),
    };
    for sum_name in sum_names {
        let txt =
            read(sum_name)?.with_context(|| format!("{sum_name} vanished while verifying"))?;
        let text = String::from_utf8(txt.clone())
            .map_err(|_| Failure::data(format!("{sum_name}: not UTF-8")))?;
        let sums =
            sha256sum::parse(&text, sum_name).map_err(|e| Failure::data(format!("{e:#}")))?;
        let json_name = json_name_for(sum_name);
        let json_bytes = read(&json_name)?;
        let mut bytes_of: BTreeMap<String, u64> = BTreeMap::new();
        if let Some(jb) = &json_bytes {
            match Manifest::parse(&String::from_utf8_lossy(jb), &json_name) {
                Err(e) => exp.findings.push(finding(
                    "manifest_mismatch",
                    location(&json_name),
                    json!({"error": format!("{e:#}")}),
                )),
                Ok(m) => {
                    let actual = archive_core::hash::sha256_hex(&txt);
                    if m.sha256_manifest().sha256 != actual {
                        exp.findings.push(finding("manifest_mismatch", location(&json_name), json!({
                            "error": format!("{json_name} records sha256 {} for {sum_name}, which has {actual}", m.sha256_manifest().sha256)
                        })));
                    }
                    let in_txt: BTreeMap<&str, &str> = sums
                        .iter()
                        .map(|s| (s.path.as_str(), s.sha256.as_str()))
                        .collect();
                    for f in &m.files {
                        bytes_of.insert(f.path.clone(), f.entry.bytes);
                        if in_txt.get(f.path.as_str()).copied()
                            != Some(json_manifest::hex(&f.entry.sha256).as_str())
                        {
                            exp.findings.push(finding("manifest_mismatch", location(&f.path), json!({
                                "error": format!("{json_name} and {sum_name} disagree on this file")
                            })));
                        }
                    }
                    for s in &sums {
                        if !bytes_of.contains_key(&s.path) {
                            exp.findings.push(finding(
                                "manifest_mismatch",
                                location(&s.path),
                                json!({
                                    "error": format!("listed in {sum_name} but not in {json_name}")
                                }),
                            ));
                        }
                    }
                }
            }
        }
        if let Some(pk) = public_key {
            let mut signed = vec![(sum_name.clone(), txt.clone())];
            if let Some(jb) = &json_bytes {
                signed.push((json_name.clone(), jb.clone()));
            }
            for (name, data) in signed {
                let sig_name = format!("{name}{}", tree::MINISIG_SUFFIX);
                match read(&sig_name)? {
                    None => exp.findings.push(finding(
                        "unsigned",
                        location(&name),
                        json!({"error": format!("no {sig_name}")}),
                    )),
                    Some(sig) => {
                        if let Err(e) =
                            crate::sign::verify_minisign(pk, &String::from_utf8_lossy(&sig), &data)
                        {
                            exp.findings.push(finding(
                                "bad_signature",
                                location(&name),
                                json!({"error": format!("{e:#}")}),
                            ));
                        }
                    }
                }
            }
        }
        for s in sums {
            let bytes = bytes_of.get(&s.path).copied();
            exp.files
                .insert(s.path, (s.sha256, bytes, sum_name.clone()));
        }
    }
    Ok(exp)
}

/// A finding line: status first, then where, then details.
pub fn finding(status: &str, location: Value, details: Value) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("status".into(), json!(status));
    if let Value::Object(l) = location {
        m.extend(l);
    }
    if let Value::Object(d) = details {
        m.extend(d);
    }
    Value::Object(m)
}

/// Pair missing files with extra files of the same digest: a rename.
/// Returns the findings for the paired ones and removes them from both lists.
pub fn pair_renames(
    missing: &mut Vec<(String, String)>,
    extra: &mut Vec<(String, Option<String>)>,
    location: &dyn Fn(&str) -> Value,
) -> Vec<Value> {
    let mut out = Vec::new();
    missing.retain(|(path, sha)| {
        let hit = extra
            .iter()
            .position(|(_, s)| s.as_deref() == Some(sha.as_str()));
        match hit {
            Some(i) => {
                let (new_path, _) = extra.remove(i);
                out.push(finding(
                    "renamed",
                    location(path),
                    json!({"new_path": new_path, "sha256": sha}),
                ));
                false
            }
            None => true,
        }
    });
    out
}

fn verify_dir(dir: &Path, args: &VerifyArgs) -> Result<Vec<Value>> {
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
        args.public_key.as_deref(),
        &location,
    )?;
    let mut findings = exp.findings;
    let walk = tree::walk(dir, true)?;
    for r in &walk.refused {
        findings.push(finding(
            "extra",
            location(r),
            json!({"error": "a name sha256sum cannot list"}),
        ));
    }
    let on_disk: BTreeMap<&str, ()> = walk.files.iter().map(|f| (f.rel.as_str(), ())).collect();
    let to_hash: Vec<&str> = exp
        .files
        .keys()
        .map(String::as_str)
        .filter(|p| on_disk.contains_key(p))
        .chain(
            on_disk
                .keys()
                .copied()
                .filter(|p| !exp.files.contains_key(*p)),
        )
        .collect();
    let digests: BTreeMap<&str, Result<crate::hashing::Digested>> = to_hash
        .par_iter()
        .map(|p| (*p, hash_file(&dir.join(p))))
        .collect();
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    let mut extra_bytes: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for (path, (sha, bytes, manifest)) in &exp.files {
        match digests.get(path.as_str()) {
            None => missing.push((path.clone(), sha.clone())),
            Some(Err(e)) => findings.push(finding(
                "changed",
                location(path),
                json!({"expected_sha256": sha, "error": format!("{e:#}")}),
            )),
            Some(Ok(d)) if d.sha256 == *sha && bytes.is_none_or(|b| b == d.bytes) => {
                findings.push(finding(
                    "ok",
                    location(path),
                    json!({"sha256": sha, "bytes": d.bytes}),
                ));
            }
            Some(Ok(d)) => findings.push(finding(
                "changed",
                location(path),
                json!({
                    "expected_sha256": sha, "actual_sha256": d.sha256,
                    "expected_bytes": bytes, "actual_bytes": d.bytes, "manifest": manifest,
                }),
            )),
        }
    }
    for (path, _) in on_disk.iter().filter(|(p, _)| !exp.files.contains_key(**p)) {
        let sha = digests
            .get(path)
            .and_then(|d| d.as_ref().ok())
            .map(|d| d.sha256.clone());
        let bytes = digests
            .get(path)
            .and_then(|d| d.as_ref().ok())
            .map(|d| d.bytes);
        extra_bytes.insert(path.to_string(), bytes);
        extra.push((path.to_string(), sha));
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
    findings.sort_by(|a, b| {
        a["path"]
            .as_str()
            .cmp(&b["path"].as_str())
            .then(a["status"].as_str().cmp(&b["status"].as_str()))
    });
    Ok(findings)
}
