//! `manifest verify s3://bucket/prefix`: the manifests are read from the
//! prefix, every listed object is checked against the stored
//! `x-amz-checksum-sha256` (HeadObject, no download) or, with `--download`
//! or when the object has no full-object SHA-256, downloaded and re-hashed.
//! Objects in GLACIER / DEEP_ARCHIVE need a restore first: `unverifiable`.

use crate::hashing::StreamHasher;
use crate::tree;
use crate::verify::{expected_from, finding, pair_renames, sum_manifest_names};
use crate::VerifyArgs;
use anyhow::{Context, Result};
use archive_core::Failure;
use aws_sdk_s3::types::ChecksumMode;
use aws_sdk_s3::Client;
use base64::Engine;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;

struct Listed {
    size: u64,
    storage_class: Option<String>,
}

pub fn verify(url: &str, args: &VerifyArgs) -> Result<Vec<Value>> {
    let (bucket, prefix) = parse_url(url)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(verify_async(bucket, prefix, args))
}

fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .expect("caller checked the scheme");
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Failure::usage(format!("{url}: no bucket name")));
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

async fn client(endpoint: Option<&str>) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(e) = endpoint {
        loader = loader.endpoint_url(e);
    }
    let sdk = loader.load().await;
    let mut b = aws_sdk_s3::config::Builder::from(&sdk);
    if sdk.region().is_none() {
        b = b.region(aws_sdk_s3::config::Region::new("us-east-1"));
    }
    if endpoint.is_some() {
        // S3-compatible servers (moto, MinIO) rarely resolve bucket subdomains.
        b = b.force_path_style(true);
    }
    Client::from_conf(b.build())
}

fn key_of(prefix: &str, rel: &str) -> String {
    if prefix.is_empty() {
        rel.to_string()
    } else {
        format!("{prefix}/{rel}")
    }
}

fn remote(what: &str, e: impl std::fmt::Display) -> anyhow::Error {
    Failure::remote(format!("{what}: {e}"))
}

async fn verify_async(bucket: String, prefix: String, args: &VerifyArgs) -> Result<Vec<Value>> {
    let s3 = client(args.endpoint_url.as_deref()).await;
    let listing = list(&s3, &bucket, &prefix).await?;
    let top: Vec<&str> = listing
        .keys()
        .map(String::as_str)
        .filter(|k| !k.contains('/'))
        .collect();
    let sum_names = sum_manifest_names(top.into_iter());
    if sum_names.is_empty() {
        return Err(Failure::data(format!(
            "s3://{bucket}/{prefix}: no manifest-sha256.txt to verify against"
        )));
    }
    let mut fetched: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    let wanted: Vec<String> = listing
        .keys()
        .filter(|k| !k.contains('/') && (tree::is_manifest_name(k)))
        .cloned()
        .collect();
    for name in wanted {
        let body = get_all(&s3, &bucket, &key_of(&prefix, &name)).await?;
        fetched.insert(name, Some(body));
    }
    let location = |p: &str| {
        let key = key_of(&prefix, p);
        json!({"url": format!("s3://{bucket}/{key}"), "key": key, "path": p})
    };
    let exp = expected_from(
        &sum_names,
        |name| Ok(fetched.get(name).cloned().flatten()),
        args.public_key.as_deref(),
        &location,
    )?;
    let mut findings = exp.findings;

    let extra_keys: Vec<String> = listing
        .keys()
        .filter(|rel| !exp.files.contains_key(*rel) && !is_tag(rel))
        .cloned()
        .collect();
    let mut checks: Vec<(String, Option<String>, Option<u64>)> = Vec::new();
    let mut missing = Vec::new();
    for (rel, (sha, bytes, _)) in &exp.files {
        if listing.contains_key(rel) {
            checks.push((rel.clone(), Some(sha.clone()), *bytes));
        } else {
            missing.push((rel.clone(), sha.clone()));
        }
    }
    for rel in &extra_keys {
        checks.push((rel.clone(), None, None));
    }
    let results: Vec<Checked> = futures::stream::iter(checks)
        .map(|(rel, sha, bytes)| {
            let s3 = &s3;
            let bucket = &bucket;
            let key = key_of(&prefix, &rel);
            let listed = &listing[&rel];
            async move {
                let obs = observe(s3, bucket, &key, listed, args.download).await;
                (rel, sha, bytes, obs)
            }
        })
        .buffer_unordered(args.jobs.max(1))
        .collect()
        .await;

    let mut extra = Vec::new();
    for (rel, expected, bytes, obs) in results {
        let obs = obs?;
        let Some(expected) = expected else {
            extra.push((rel, obs.sha256.clone()));
            continue;
        };
        let loc = location(&rel);
        if let Some(class) = obs.unverifiable {
            findings.push(finding(
                "unverifiable",
                loc,
                json!({
                    "expected_sha256": expected, "storage_class": class,
                    "error": "archived object: restore it before it can be verified"
                }),
            ));
            continue;
        }
        let size_ok = bytes.is_none_or(|b| b == obs.size);
        match obs.sha256 {
            Some(actual) if actual == expected && size_ok => {
                findings.push(finding(
                    "ok",
                    loc,
                    json!({"sha256": actual, "bytes": obs.size, "method": obs.method}),
                ));
            }
            actual => findings.push(finding(
                "changed",
                loc,
                json!({
                    "expected_sha256": expected, "actual_sha256": actual,
                    "expected_bytes": bytes, "actual_bytes": obs.size, "method": obs.method,
                }),
            )),
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
    findings.sort_by(|a, b| {
        a["path"]
            .as_str()
            .cmp(&b["path"].as_str())
            .then(a["status"].as_str().cmp(&b["status"].as_str()))
    });
    Ok(findings)
}

/// Manifests, signatures and BagIt tag files at the top of the prefix.
fn is_tag(rel: &str) -> bool {
    !rel.contains('/') && (tree::is_manifest_name(rel) || tree::is_bag_tag_name(rel))
}

/// Every object under the prefix, by path relative to it.
async fn list(s3: &Client, bucket: &str, prefix: &str) -> Result<BTreeMap<String, Listed>> {
    let list_prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let mut out = BTreeMap::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&list_prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            remote(
                &format!("listing s3://{bucket}/{list_prefix}"),
                aws_sdk_s3::error::DisplayErrorContext(e),
            )
        })?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            let rel = &key[list_prefix.len()..];
            if rel.is_empty() || rel.ends_with('/') {
                continue;
            }
            out.insert(
                rel.to_string(),
                Listed {
                    size: o.size().unwrap_or(0).max(0) as u64,
                    storage_class: o.storage_class().map(|c| c.as_str().to_string()),
                },
            );
        }
    }
    Ok(out)
}

/// One object checked: path, expected digest and size, what was seen.
type Checked = (String, Option<String>, Option<u64>, Result<Observed>);

/// What was learned about one object.
struct Observed {
    size: u64,
    sha256: Option<String>,
    method: &'static str,
    /// Storage class when the object cannot be read without a restore.
    unverifiable: Option<String>,
}

async fn observe(
    s3: &Client,
    bucket: &str,
    key: &str,
    listed: &Listed,
    download: bool,
) -> Result<Observed> {
    let what = format!("s3://{bucket}/{key}");
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .map_err(|e| {
            remote(
                &format!("HEAD {what}"),
                aws_sdk_s3::error::DisplayErrorContext(e),
            )
        })?;
    let size = head.content_length().unwrap_or(listed.size as i64).max(0) as u64;
    let class = head
        .storage_class()
        .map(|c| c.as_str().to_string())
        .or_else(|| listed.storage_class.clone());
    let archived = matches!(class.as_deref(), Some("GLACIER" | "DEEP_ARCHIVE"));
    let restored = head
        .restore()
        .is_some_and(|r| r.contains("ongoing-request=\"false\""));
    let stored = head.checksum_sha256().and_then(stored_sha256_hex);
    if !download {
        if let Some(sha) = stored {
            return Ok(Observed {
                size,
                sha256: Some(sha),
                method: "checksum",
                unverifiable: None,
            });
        }
    }
    if archived && !restored {
        return Ok(Observed {
            size,
            sha256: stored,
            method: "none",
            unverifiable: class,
        });
    }
    let mut obj = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            remote(
                &format!("GET {what}"),
                aws_sdk_s3::error::DisplayErrorContext(e),
            )
        })?;
    let mut h = StreamHasher::default();
    while let Some(chunk) = obj
        .body
        .try_next()
        .await
        .map_err(|e| remote(&format!("reading {what}"), e))?
    {
        h.update(&chunk);
    }
    let d = h.finish();
    Ok(Observed {
        size: d.bytes,
        sha256: Some(d.sha256),
        method: "download",
        unverifiable: None,
    })
}

/// `x-amz-checksum-sha256` is base64 of the raw digest; a multipart
/// composite (`...-N`) is a digest of digests, not of the object.
fn stored_sha256_hex(b64: &str) -> Option<String> {
    if b64.contains('-') {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    (raw.len() == 32).then(|| hex::encode(raw))
}

async fn get_all(s3: &Client, bucket: &str, key: &str) -> Result<Vec<u8>> {
    let what = format!("s3://{bucket}/{key}");
    let obj = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            remote(
                &format!("GET {what}"),
                aws_sdk_s3::error::DisplayErrorContext(e),
            )
        })?;
    let bytes = obj
        .body
        .collect()
        .await
        .map_err(|e| remote(&format!("reading {what}"), e))?;
    Ok(bytes.into_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    #[test]
    fn stored_checksum_decoding() {
        // sha256("abc") as S3 returns it.
        let b64 = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";
        assert_eq!(
            super::stored_sha256_hex(b64).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(super::stored_sha256_hex("abc-3"), None);
        assert_eq!(
            super::parse_url("s3://b/p/q/").unwrap(),
            ("b".into(), "p/q".into())
        );
    }
}
