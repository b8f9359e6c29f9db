//! Comparing what is there with what the manifests say, for both kinds of
//! place (a directory, an S3 prefix): the expectation read from the
//! manifests, the finding lines, renames, and the order findings print in.
//!
//! Statuses: `missing`, `extra`, `changed`, `renamed` (a missing file whose
//! digest reappears under another name), `manifest_mismatch` (the JSON and
//! text manifests disagree), `bad_signature`, `unsigned` — all differences,
//! exit 1 — and `unverifiable` (archived in Glacier, needs a restore),
//! `skipped` (a link that is not followed), `ok` and `ciphertext_ok` (an
//! age-encrypted object whose ciphertext matches, its plaintext unchecked;
//! both printed with `--all`), which are not. `unreadable` (a directory that cannot be listed) is one.

use crate::json_manifest::Manifest;
use crate::model::hex;
use crate::sha256sum;
use crate::tree;
use anyhow::{Context, Result};
use archive_core::Failure;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Statuses that are not differences.
pub fn is_difference(status: &str) -> bool {
    !matches!(status, "ok" | "ciphertext_ok" | "unverifiable" | "skipped")
}

/// Statuses of a match, printed only with `--all`.
pub fn is_match(status: &str) -> bool {
    matches!(status, "ok" | "ciphertext_ok")
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
        match &json_bytes {
            Some(jb) => {
                let pair = Pair {
                    sum_name,
                    json_name: &json_name,
                    txt: &txt,
                    sums: &sums,
                };
                bytes_of = pair.compare(jb, location, &mut exp.findings);
            }
            None => {
                if sha256sum::companion(&text) == Some(json_name.as_str()) {
                    exp.findings.push(finding(
                        "missing",
                        location(&json_name),
                        json!({"error": format!("{sum_name} says {json_name} was written beside it")}),
                    ));
                }
            }
        }
        if let Some(pk) = public_key {
            let mut signed = vec![(sum_name.clone(), txt.clone())];
            if let Some(jb) = json_bytes {
                signed.push((json_name.clone(), jb));
            }
            for (name, data) in signed {
                check_signature(&mut read, pk, &name, &data, location, &mut exp.findings)?;
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

/// A text manifest and its JSON companion.
struct Pair<'a> {
    sum_name: &'a str,
    json_name: &'a str,
    txt: &'a [u8],
    sums: &'a [sha256sum::SumEntry],
}

impl Pair<'_> {
    /// Findings where the two disagree; the sizes the JSON records.
    fn compare(
        &self,
        json: &[u8],
        location: &dyn Fn(&str) -> Value,
        findings: &mut Vec<Value>,
    ) -> BTreeMap<String, u64> {
        let (sum_name, json_name) = (self.sum_name, self.json_name);
        let mut bytes_of = BTreeMap::new();
        let m = match Manifest::parse(&String::from_utf8_lossy(json), json_name) {
            Ok(m) => m,
            Err(e) => {
                findings.push(finding(
                    "manifest_mismatch",
                    location(json_name),
                    json!({"error": format!("{e:#}")}),
                ));
                return bytes_of;
            }
        };
        let actual = archive_core::hash::sha256_hex(self.txt);
        if m.sha256_manifest().sha256 != actual {
            findings.push(finding("manifest_mismatch", location(json_name), json!({
                "error": format!("{json_name} records sha256 {} for {sum_name}, which has {actual}", m.sha256_manifest().sha256)
            })));
        }
        let in_txt: BTreeMap<&str, &str> = self
            .sums
            .iter()
            .map(|s| (s.path.as_str(), s.sha256.as_str()))
            .collect();
        for f in &m.files {
            bytes_of.insert(f.path.clone(), f.entry.bytes);
            if in_txt.get(f.path.as_str()).copied() != Some(hex(&f.entry.sha256).as_str()) {
                findings.push(finding(
                    "manifest_mismatch",
                    location(&f.path),
                    json!({"error": format!("{json_name} and {sum_name} disagree on this file")}),
                ));
            }
        }
        for s in self.sums {
            if !bytes_of.contains_key(&s.path) {
                findings.push(finding(
                    "manifest_mismatch",
                    location(&s.path),
                    json!({"error": format!("listed in {sum_name} but not in {json_name}")}),
                ));
            }
        }
        bytes_of
    }
}

/// `unsigned` or `bad_signature` for one signed manifest, if it is either.
fn check_signature(
    read: &mut impl FnMut(&str) -> Result<Option<Vec<u8>>>,
    public_key: &Path,
    name: &str,
    data: &[u8],
    location: &dyn Fn(&str) -> Value,
    findings: &mut Vec<Value>,
) -> Result<()> {
    let sig_name = format!("{name}{}", tree::MINISIG_SUFFIX);
    match read(&sig_name)? {
        None => findings.push(finding(
            "unsigned",
            location(name),
            json!({"error": format!("no {sig_name}")}),
        )),
        Some(sig) => {
            if let Err(e) =
                crate::sign::verify_minisign(public_key, &String::from_utf8_lossy(&sig), data)
            {
                findings.push(finding(
                    "bad_signature",
                    location(name),
                    json!({"error": format!("{e:#}")}),
                ));
            }
        }
    }
    Ok(())
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

/// Findings in print order: by path, then status.
pub fn sort(findings: &mut [Value]) {
    findings.sort_by(|a, b| {
        a["path"]
            .as_str()
            .cmp(&b["path"].as_str())
            .then(a["status"].as_str().cmp(&b["status"].as_str()))
    });
}
