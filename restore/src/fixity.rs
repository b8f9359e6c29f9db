//! Cloud-side fixity with S3 Batch Operations: the job's manifest CSV
//! (`Bucket,Key[,VersionId]`, keys URL-encoded, no header, as the S3 User
//! Guide's "Specifying a manifest" documents) and the reader of a
//! *Compute checksum* completion report (`Bucket, Key, VersionId,
//! TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage`, where the
//! ResultMessage of a succeeded task is a JSON object carrying the
//! checksum: `checksum_base64`, `checksum_hex`, `checksumAlgorithm`,
//! `checksumType`), so a yearly check of Glacier data needs no restore.

use crate::catalog;
use crate::config::{BatchManifestConfig, BatchReportConfig};
use crate::model::{Head, Wanted};
use crate::remote::Remote;
use crate::report::Report;
use anyhow::{Context, Result};
use archive_core::Failure;
use archive_core::Outcome;
use archive_s3::checksum::Stored;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Characters left as they are in a manifest key: unreserved URL
/// characters and `/` (what `aws s3api` tooling and the S3 console write).
const KEY_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// One line of a Batch Operations manifest.
pub fn manifest_row(bucket: &str, key: &str, version: Option<&str>) -> String {
    let key = utf8_percent_encode(key, KEY_KEEP).to_string();
    match version {
        Some(v) => format!("{bucket},{key},{v}"),
        None => format!("{bucket},{key}"),
    }
}

/// One task of a completion report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub status: String,
    pub error_code: String,
    pub http_status: String,
    pub result: String,
}

/// The checksum a Compute checksum task reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computed {
    pub algorithm: String,
    /// `FULL_OBJECT` or `COMPOSITE`.
    pub kind: String,
    pub hex: Option<String>,
    pub base64: Option<String>,
}

/// The report files named by `paths`: CSV files, a directory holding them
/// (searched below), or the job's top-level `manifest.json`.
pub fn report_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta =
            std::fs::metadata(p).map_err(|e| Failure::usage(format!("{}: {e}", p.display())))?;
        if meta.is_dir() {
            collect_csv(p, &mut out)?;
        } else if p.extension().is_some_and(|e| e == "json") {
            out.extend(from_result_manifest(p)?);
        } else {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        return Err(Failure::usage("no report CSV files found"));
    }
    Ok(out)
}

fn collect_csv(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let ft = e.file_type()?;
        if ft.is_dir() {
            collect_csv(&e.path(), out)?;
        } else if ft.is_file() && e.path().extension().is_some_and(|x| x == "csv") {
            out.push(e.path());
        }
    }
    Ok(())
}

/// The report CSVs a result `manifest.json` lists, found below its
/// directory by the longest tail of their key that exists there.
fn from_result_manifest(path: &Path) -> Result<Vec<PathBuf>> {
    let v: Value = serde_json::from_slice(
        &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .map_err(|e| Failure::data(format!("{}: not JSON: {e}", path.display())))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let results = v["Results"].as_array().ok_or_else(|| {
        Failure::data(format!(
            "{}: no \"Results\" list (is it a Batch Operations result manifest?)",
            path.display()
        ))
    })?;
    let mut out = Vec::new();
    for r in results {
        let key = r["Key"].as_str().unwrap_or_default();
        let segs: Vec<&str> = key.split('/').collect();
        let found = (0..segs.len())
            .map(|i| dir.join(segs[i..].join("/")))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Failure::data(format!(
                    "{}: report {key:?} is not below {}",
                    path.display(),
                    dir.display()
                ))
            })?;
        out.push(found);
    }
    Ok(out)
}

/// Parse one report CSV (RFC 4180 quoting).
pub fn parse_report(text: &str, name: &str) -> Result<Vec<Task>> {
    let mut tasks = Vec::new();
    for (i, rec) in csv_records(text).into_iter().enumerate() {
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        if rec.len() < 7 {
            return Err(Failure::data(format!(
                "{name}: record {}: {} fields, a completion report has 7 (Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage)",
                i + 1,
                rec.len()
            )));
        }
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        tasks.push(Task {
            bucket: rec[0].clone(),
            key: decode(&rec[1]),
            version_id: Some(rec[2].clone()).filter(|v| !v.is_empty()),
            status: rec[3].clone(),
            error_code: rec[4].clone(),
            http_status: rec[5].clone(),
            result: rec[6..].join(","),
        });
    }
    Ok(tasks)
}

fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut rec = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => rec.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                rec.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut rec));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !rec.is_empty() {
        rec.push(field);
        records.push(rec);
    }
    records
}

/// The checksum in a succeeded task's ResultMessage. Field names are
/// matched without regard to case or underscores.
pub fn computed(result: &str) -> Option<Computed> {
    let v: Value = serde_json::from_str(result.trim()).ok()?;
    let obj = v.as_object()?;
    let get = |name: &str| {
        obj.iter()
            .find(|(k, _)| k.replace('_', "").eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)
    };
    Some(Computed {
        algorithm: get("checksumalgorithm")
            .unwrap_or_default()
            .to_ascii_uppercase(),
        kind: get("checksumtype").unwrap_or_default().to_ascii_uppercase(),
        hex: get("checksumhex").map(|h| h.to_ascii_lowercase()),
        base64: get("checksumbase64"),
    })
}

/// What a task says about one archived object: `ok`, `changed`,
/// `failed` (the task failed), or `unverifiable` (a checksum that cannot
/// be compared with what the archive recorded).
pub fn judge(task: &Task, wanted: Option<&Wanted>, head: Option<&Head>) -> Value {
    let mut line = json!({
        "url": format!("s3://{}/{}", task.bucket, task.key),
        "key": task.key,
        "version_id": task.version_id,
    });
    let (status, detail) = judge_status(task, wanted, head);
    line["status"] = json!(status);
    if let Some(d) = detail {
        line["error"] = json!(d);
    }
    if let Some(w) = wanted {
        line["path"] = json!(w.rel);
    }
    line
}

fn judge_status(
    task: &Task,
    wanted: Option<&Wanted>,
    head: Option<&Head>,
) -> (&'static str, Option<String>) {
    if !task.status.eq_ignore_ascii_case("succeeded") {
        return (
            "failed",
            Some(format!(
                "task {} (HTTP {}, {}): {}",
                task.status, task.http_status, task.error_code, task.result
            )),
        );
    }
    let Some(c) = computed(&task.result) else {
        return (
            "unverifiable",
            Some(format!("no checksum in the ResultMessage: {}", task.result)),
        );
    };
    if c.algorithm != "SHA256" {
        return (
            "unverifiable",
            Some(format!(
                "{} checksum; the archive records SHA-256 (run the job with SHA256)",
                c.algorithm
            )),
        );
    }
    let hex = c.hex.clone().or_else(|| {
        c.base64
            .as_deref()
            .and_then(archive_s3::checksum::b64_to_hex)
    });
    if c.kind == "COMPOSITE" {
        // S3 recomputed the digest of part digests at rest: compare it with
        // the one stored at upload, which ship checked against its parts.
        let stored = head.and_then(|h| {
            h.checksum_sha256
                .as_deref()
                .and_then(|s| Stored::interpret(s, h.etag.as_deref()))
        });
        let got = c.base64.clone().unwrap_or_default();
        return match stored {
            Some(Stored::Composite { digest_b64, .. }) => {
                let got_digest = got
                    .rsplit_once('-')
                    .map(|(d, _)| d.to_string())
                    .unwrap_or(got);
                if got_digest == digest_b64 {
                    ("ok", None)
                } else {
                    (
                        "changed",
                        Some(format!(
                            "composite checksum {got_digest}, stored at upload {digest_b64}"
                        )),
                    )
                }
            }
            _ => (
                "unverifiable",
                Some("a composite checksum, and no stored composite to compare with".into()),
            ),
        };
    }
    let Some(hex) = hex else {
        return (
            "unverifiable",
            Some("the checksum is neither hex nor base64".into()),
        );
    };
    // The SHA-256 of the stored bytes: the manifest's (plaintext objects)
    // or ship's x-amz-meta-sha256 (ciphertext of .age objects).
    let expected = match wanted {
        Some(w) if !w.key.ends_with(".age") => w.sha256.clone(),
        _ => None,
    }
    .or_else(|| head.and_then(|h| h.meta_sha256.clone()));
    match expected {
        Some(e) if e == hex => ("ok", None),
        Some(e) => (
            "changed",
            Some(format!("S3 computed {hex}, the archive recorded {e}")),
        ),
        None => (
            "unverifiable",
            Some("nothing recorded to compare with".into()),
        ),
    }
}

/// Load the report tasks of every file, keyed by object key.
pub fn load_tasks(files: &[PathBuf]) -> Result<BTreeMap<String, Task>> {
    let mut tasks = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| Failure::data(format!("{}: {e}", f.display())))?;
        for t in parse_report(&text, &f.display().to_string())? {
            tasks.insert(t.key.clone(), t);
        }
    }
    Ok(tasks)
}

/// HEAD only what the judgement needs (ciphertext and composite objects).
pub async fn head_if_needed(
    remote: &Remote,
    task: &Task,
    wanted: Option<&Wanted>,
) -> Result<Option<Head>> {
    let composite = computed(&task.result).is_some_and(|c| c.kind == "COMPOSITE");
    let cipher = wanted.is_none_or(|w| w.key.ends_with(".age") || w.sha256.is_none());
    if !(composite || cipher) || !task.status.eq_ignore_ascii_case("succeeded") {
        return Ok(None);
    }
    remote.head(&task.key).await.map_err(|e| e.into_error())
}

pub async fn write_manifest(c: BatchManifestConfig) -> Result<Outcome> {
    let remote = Remote::connect(&c.source, &c.s3.client).await?;
    let cat = catalog::load(&remote, &c.source, &Default::default(), None, false, false).await?;
    let mut csv = String::new();
    for w in cat
        .wanted
        .iter()
        .filter(|w| cat.listed.contains_key(&w.key))
    {
        let version = remote
            .head(&w.key)
            .await
            .map_err(|e| e.into_error())?
            .and_then(|h| h.version_id)
            .filter(|v| v != "null");
        csv.push_str(&manifest_row(&remote.bucket, &w.key, version.as_deref()));
        csv.push('\n');
    }
    match &c.out {
        Some(p) => archive_core::atomic::write_file(p, csv.as_bytes())?,
        None => std::io::stdout().lock().write_all(csv.as_bytes())?,
    }
    eprintln!("restore: {} objects; create the job with the Compute checksum operation, ChecksumAlgorithm SHA256, ChecksumType FULL_OBJECT", csv.lines().count());
    Ok(Outcome::Complete)
}

pub async fn read_report(c: BatchReportConfig) -> Result<Outcome> {
    let mut report = Report::start("restore batch-report", false);
    let result = async {
        let tasks = load_tasks(&report_files(&c.reports)?)?;
        let remote = Remote::connect(&c.source, &c.s3.client).await?;
        let cat = catalog::load(&remote, &c.source, &Default::default(), None, false, false).await?;
        let by_key: std::collections::BTreeMap<_, _> = cat.wanted.iter().map(|w| (w.key.clone(), w)).collect();
        for (key, task) in &tasks {
            let head = head_if_needed(&remote, task, by_key.get(key).copied()).await?;
            report.line(&judge(task, by_key.get(key).copied(), head.as_ref()))?;
        }
        for w in cat.wanted.iter().filter(|w| !tasks.contains_key(&w.key) && cat.listed.contains_key(&w.key)) {
            report.line(&serde_json::json!({"url": format!("s3://{}/{}", remote.bucket, w.key), "key": w.key, "path": w.rel, "status": "not_in_report"}))?;
        }
        Ok(crate::report::partial_if(report.count("changed") + report.count("failed") + report.count("not_in_report")))
    }
    .await;
    report.finish(result, c.s3.summary.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_rows_are_url_encoded() {
        assert_eq!(
            manifest_row("b", "a/x y+z.json", None),
            "b,a/x%20y%2Bz.json"
        );
        assert_eq!(manifest_row("b", "k", Some("v1")), "b,k,v1");
    }

    #[test]
    fn report_rows_and_result_messages() {
        let text = "bkt,logs/a%20b.ndjson,,succeeded,200,,\"{\"\"checksum_base64\"\":\"\"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=\"\",\"\"checksumAlgorithm\"\":\"\"SHA256\"\",\"\"checksumType\"\":\"\"FULL_OBJECT\"\"}\"\r\n\
                    bkt,logs/b,3HL4kqtJlcpXroDTDmJ,failed,403,AccessDenied,Access Denied\n";
        let tasks = parse_report(text, "r.csv").unwrap();
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].key, "logs/a b.ndjson");
        let c = computed(&tasks[0].result).unwrap();
        assert_eq!(
            (c.algorithm.as_str(), c.kind.as_str()),
            ("SHA256", "FULL_OBJECT")
        );
        assert_eq!(tasks[1].version_id.as_deref(), Some("3HL4kqtJlcpXroDTDmJ"));
        assert_eq!(judge(&tasks[1], None, None)["status"], "failed");
        assert!(parse_report("a,b,c\n", "r.csv").is_err());
    }
}
