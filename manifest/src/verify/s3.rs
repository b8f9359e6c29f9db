//! `manifest verify s3://bucket/prefix`: the manifests are read from the
//! prefix, every listed object is checked against the stored
//! `x-amz-checksum-sha256` (HeadObject, no download) or, with `--download`
//! or when the object has no full-object SHA-256, downloaded and re-hashed.
//! Objects in GLACIER / DEEP_ARCHIVE need a restore first: `unverifiable`.
//!
//! The client, the retry policy and the exit codes are archive-s3's: no
//! credentials or access denied is exit 2, S3 failing after retries exit 4.

use crate::tree;
use crate::verify::compare::{self, expected_from, finding, pair_renames, sum_manifest_names};
use anyhow::Result;
use archive_core::hash::HashingWriter;
use archive_core::retry::Backoff;
use archive_core::s3url::S3Url;
use archive_core::Failure;
use archive_s3::checksum::Stored;
use archive_s3::{build_client, classify, ClientOptions, ErrorKind, RetryPolicy, S3Failure};
use aws_sdk_s3::types::ChecksumMode;
use aws_sdk_s3::Client;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;

/// Attempts per request (capped by the policy's backoff).
const ATTEMPTS: u32 = 6;

/// An object as the listing showed it.
struct Listed {
    size: u64,
    storage_class: Option<String>,
}

/// The bucket, the prefix and how requests are made.
struct Remote {
    s3: Client,
    url: S3Url,
    policy: RetryPolicy,
}

pub fn verify(
    url: &S3Url,
    endpoint: Option<&str>,
    download: bool,
    jobs: usize,
    public_key: Option<&std::path::Path>,
) -> Result<Vec<Value>> {
    let rt = archive_s3::client::runtime()?;
    rt.block_on(async {
        let opts = ClientOptions {
            endpoint: endpoint.map(str::to_string),
            ..ClientOptions::default()
        };
        let remote = Remote {
            s3: build_client(&opts).await?,
            url: url.clone(),
            policy: RetryPolicy::new("manifest verify", Backoff::default()),
        };
        remote.verify(download, jobs, public_key).await
    })
}

/// One object checked: path, expected digest and size, what was seen.
type Checked = (String, Option<String>, Option<u64>, Result<Observed>);

impl Remote {
    async fn verify(
        &self,
        download: bool,
        jobs: usize,
        public_key: Option<&std::path::Path>,
    ) -> Result<Vec<Value>> {
        let listing = self.list().await?;
        let top = listing
            .keys()
            .map(String::as_str)
            .filter(|k| !k.contains('/'));
        let sum_names = sum_manifest_names(top);
        if sum_names.is_empty() {
            return Err(Failure::data(format!(
                "{}: no manifest-sha256.txt to verify against",
                self.url
            )));
        }
        let fetched = self.manifests(&listing).await?;
        let location = |p: &str| self.location(p);
        let exp = expected_from(
            &sum_names,
            |name| Ok(fetched.get(name).cloned()),
            public_key,
            &location,
        )?;
        let mut findings = exp.findings;
        let mut checks: Vec<(String, Option<String>, Option<u64>)> = Vec::new();
        let mut missing = Vec::new();
        for (rel, (sha, bytes, _)) in &exp.files {
            if listing.contains_key(rel) {
                checks.push((rel.clone(), Some(sha.clone()), *bytes));
            } else {
                missing.push((rel.clone(), sha.clone()));
            }
        }
        let extra_keys = listing
            .keys()
            .filter(|rel| !exp.files.contains_key(*rel) && !is_tag(rel));
        checks.extend(extra_keys.map(|rel| (rel.clone(), None, None)));
        let results: Vec<Checked> = futures::stream::iter(checks)
            .map(|(rel, sha, bytes)| {
                let listed = &listing[&rel];
                async move {
                    let obs = self.observe(&rel, listed, download).await;
                    (rel, sha, bytes, obs)
                }
            })
            .buffer_unordered(jobs)
            .collect()
            .await;
        let mut extra = Vec::new();
        for (rel, expected, bytes, obs) in results {
            let obs = obs?;
            match expected {
                None => extra.push((rel, obs.sha256.clone())),
                Some(expected) => findings.push(judge(location(&rel), &expected, bytes, obs)),
            }
        }
        extra.sort();
        findings.extend(pair_renames(&mut missing, &mut extra, &location));
        for (rel, sha) in missing {
            findings.push(finding(
                "missing",
                location(&rel),
                json!({"expected_sha256": sha}),
            ));
        }
        for (rel, sha) in extra {
            let size = listing[&rel].size;
            findings.push(finding(
                "extra",
                location(&rel),
                json!({"actual_sha256": sha, "bytes": size}),
            ));
        }
        compare::sort(&mut findings);
        Ok(findings)
    }

    fn location(&self, rel: &str) -> Value {
        let key = self.url.key(rel);
        json!({"url": self.url.object_url(&key), "key": key, "path": rel})
    }

    /// Every object under the prefix, by path relative to it.
    async fn list(&self) -> Result<BTreeMap<String, Listed>> {
        let list_prefix = self.url.list_prefix();
        let op = format!("listing s3://{}/{list_prefix}", self.url.bucket);
        let mut out = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .policy
                .run(ATTEMPTS, || async {
                    self.s3
                        .list_objects_v2()
                        .bucket(&self.url.bucket)
                        .prefix(&list_prefix)
                        .set_continuation_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| classify(&op, &e))
                })
                .await
                .map_err(S3Failure::into_error)?;
            for o in page.contents() {
                let Some(rel) = o.key().and_then(|k| self.url.relative(k)) else {
                    continue;
                };
                if rel.is_empty() || rel.ends_with('/') {
                    continue;
                }
                let listed = Listed {
                    size: o.size().unwrap_or(0).max(0) as u64,
                    storage_class: o.storage_class().map(|c| c.as_str().to_string()),
                };
                out.insert(rel.to_string(), listed);
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() || !page.is_truncated().unwrap_or(false) {
                return Ok(out);
            }
        }
    }

    /// The manifests, signatures and their companions at the top of the
    /// prefix, by name.
    async fn manifests(
        &self,
        listing: &BTreeMap<String, Listed>,
    ) -> Result<BTreeMap<String, Vec<u8>>> {
        let mut fetched = BTreeMap::new();
        for name in listing
            .keys()
            .filter(|k| !k.contains('/') && tree::is_manifest_name(k))
        {
            let (_, body) = self.get(&self.url.key(name), true).await?;
            fetched.insert(name.clone(), body);
        }
        Ok(fetched)
    }

    /// GET an object (retried whole when the body breaks off): its size
    /// and SHA-256, and its bytes when `keep`.
    async fn get(&self, key: &str, keep: bool) -> Result<((u64, String), Vec<u8>)> {
        let what = self.url.object_url(key);
        self.policy
            .run(ATTEMPTS, || async {
                let mut obj = self
                    .s3
                    .get_object()
                    .bucket(&self.url.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("GET {what}"), &e))?;
                let mut h = HashingWriter::new(Vec::new());
                while let Some(chunk) = obj.body.try_next().await.map_err(|e| {
                    let kind = ErrorKind::Transient { unreachable: false };
                    S3Failure::local(kind, format!("reading {what}: {e}"))
                })? {
                    h.write_all(&chunk).expect("writing to memory");
                    if !keep {
                        h.get_mut().clear();
                    }
                }
                let (body, bytes, sha) = h.finish();
                Ok(((bytes, sha), body))
            })
            .await
            .map_err(S3Failure::into_error)
    }

    /// What can be learned about one object: HEAD with its stored checksum,
    /// and a download when that is not enough (or asked for).
    async fn observe(&self, rel: &str, listed: &Listed, download: bool) -> Result<Observed> {
        let key = self.url.key(rel);
        let op = format!("HEAD {}", self.url.object_url(&key));
        let head = self
            .policy
            .run(ATTEMPTS, || async {
                self.s3
                    .head_object()
                    .bucket(&self.url.bucket)
                    .key(&key)
                    .checksum_mode(ChecksumMode::Enabled)
                    .send()
                    .await
                    .map_err(|e| classify(&op, &e))
            })
            .await
            .map_err(S3Failure::into_error)?;
        let size = head.content_length().unwrap_or(listed.size as i64).max(0) as u64;
        let class = head
            .storage_class()
            .map(|c| c.as_str().to_string())
            .or_else(|| listed.storage_class.clone());
        let archived = matches!(class.as_deref(), Some("GLACIER" | "DEEP_ARCHIVE"));
        let restored = head
            .restore()
            .is_some_and(|r| r.contains("ongoing-request=\"false\""));
        let stored = head
            .checksum_sha256()
            .and_then(|v| Stored::interpret(v, head.e_tag()))
            .and_then(|s| match s {
                Stored::Whole(hex) => Some(hex),
                Stored::Composite { .. } => None,
            });
        let observed = |sha256, method, unverifiable| Observed {
            size,
            sha256,
            method,
            unverifiable,
        };
        match stored {
            Some(sha) if !download => return Ok(observed(Some(sha), "checksum", None)),
            stored if archived && !restored => return Ok(observed(stored, "none", class)),
            _ => {}
        }
        let ((bytes, sha256), _) = self.get(&key, false).await?;
        Ok(Observed {
            size: bytes,
            sha256: Some(sha256),
            method: "download",
            unverifiable: None,
        })
    }
}

/// What was learned about one object.
struct Observed {
    size: u64,
    sha256: Option<String>,
    method: &'static str,
    /// Storage class when the object cannot be read without a restore.
    unverifiable: Option<String>,
}

/// The finding for a listed object.
fn judge(loc: Value, expected: &str, bytes: Option<u64>, obs: Observed) -> Value {
    if let Some(class) = obs.unverifiable {
        return finding(
            "unverifiable",
            loc,
            json!({
                "expected_sha256": expected, "storage_class": class,
                "error": "archived object: restore it before it can be verified"
            }),
        );
    }
    let size_ok = bytes.is_none_or(|b| b == obs.size);
    match obs.sha256 {
        Some(actual) if actual == expected && size_ok => finding(
            "ok",
            loc,
            json!({"sha256": actual, "bytes": obs.size, "method": obs.method}),
        ),
        actual => finding(
            "changed",
            loc,
            json!({
                "expected_sha256": expected, "actual_sha256": actual,
                "expected_bytes": bytes, "actual_bytes": obs.size, "method": obs.method,
            }),
        ),
    }
}

/// Manifests, signatures and BagIt tag files at the top of the prefix.
fn is_tag(rel: &str) -> bool {
    !rel.contains('/') && (tree::is_manifest_name(rel) || tree::is_bag_tag_name(rel))
}
