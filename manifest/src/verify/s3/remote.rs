//! The requests `manifest verify s3://…` makes: one listing, HeadObject
//! with `ChecksumMode=ENABLED` per object, GetObject for manifests and for
//! the objects a HEAD cannot vouch for. Every request goes through
//! archive-s3's retry policy; a download whose body breaks off is started
//! again whole.

use crate::verify::s3::crypt::{Keys, PlainHasher};
use crate::verify::s3::digests::Digests;
use crate::verify::s3::evidence::{Downloaded, Head};
use anyhow::Result;
use archive_core::s3url::S3Url;
use archive_s3::checksum::{etag_parts, Stored};
use archive_s3::preflight::{self, Place};
use archive_s3::{classify, ErrorKind, RetryPolicy, S3Failure};
use aws_sdk_s3::types::ChecksumMode;
use aws_sdk_s3::Client;
use std::collections::BTreeMap;

/// Attempts per request (capped by the policy's backoff).
const ATTEMPTS: u32 = 6;

/// ship's object metadata (`x-amz-meta-…`): the SHA-256 of the stored
/// bytes, and of the plaintext before age encryption.
const META_SHA256: &str = "sha256";
const META_SOURCE_SHA256: &str = "source-sha256";

/// An object as the listing showed it.
pub struct Listed {
    pub size: u64,
    pub storage_class: Option<String>,
}

/// The bucket, the prefix and how requests are made.
pub struct Remote {
    pub s3: Client,
    pub url: S3Url,
    pub policy: RetryPolicy,
    /// The bucket and endpoint, for a configuration failure's one message.
    pub place: Place,
}

impl Remote {
    /// A failed request as the run's error: a missing bucket, rejected
    /// credentials or a denial is archive-s3's one-line hint (exit 2).
    fn fail(&self, f: S3Failure, needs: &str) -> anyhow::Error {
        let needs = match needs {
            "list" => format!("s3:ListBucket on bucket {}", self.url.bucket),
            _ => format!("s3:GetObject on {}/*", self.url),
        };
        preflight::fail(&f, &self.place, &needs)
    }

    /// Every object under the prefix, by path relative to it.
    pub async fn list(&self) -> Result<BTreeMap<String, Listed>> {
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
                .map_err(|f| self.fail(f, "list"))?;
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

    /// GET a small object whole (a manifest, a signature).
    pub async fn get_bytes(&self, key: &str) -> Result<Vec<u8>> {
        let what = self.url.object_url(key);
        self.policy
            .run(ATTEMPTS, || async {
                let mut obj = self.get_object(key, &what).await?;
                let mut body = Vec::new();
                while let Some(chunk) = obj.body.try_next().await.map_err(|e| broke(&what, e))? {
                    body.extend_from_slice(&chunk);
                }
                Ok(body)
            })
            .await
            .map_err(|f| self.fail(f, "get"))
    }

    async fn get_object(
        &self,
        key: &str,
        what: &str,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, S3Failure> {
        self.s3
            .get_object()
            .bucket(&self.url.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(&format!("GET {what}"), &e))
    }

    /// Download an object and hash it as it streams: the whole, each part
    /// of `part_size` (for the composite checksum), and with `keys` the
    /// decrypted plaintext. Memory stays bounded by a few chunks.
    pub async fn download(
        &self,
        key: &str,
        part_size: Option<u64>,
        keys: Option<&Keys>,
    ) -> Result<Downloaded> {
        let what = self.url.object_url(key);
        self.policy
            .run(ATTEMPTS, || async {
                let mut obj = self.get_object(key, &what).await?;
                let mut digests = Digests::new(part_size);
                let mut plain = keys.map(PlainHasher::start);
                while let Some(chunk) = obj.body.try_next().await.map_err(|e| broke(&what, e))? {
                    digests.update(&chunk);
                    if let Some(p) = plain.as_mut() {
                        p.feed(&chunk).await;
                    }
                }
                let (bytes, sha256, composite) = digests.finish();
                let plain = match plain {
                    Some(p) => Some(p.finish().await),
                    None => None,
                };
                Ok(Downloaded {
                    bytes,
                    sha256,
                    composite,
                    plain,
                })
            })
            .await
            .map_err(|f| self.fail(f, "get"))
    }

    /// HeadObject with the stored checksum, read into what the verdict
    /// rules need.
    pub async fn head(&self, key: &str, listed: &Listed) -> Result<Head> {
        let op = format!("HEAD {}", self.url.object_url(key));
        let head = self
            .policy
            .run(ATTEMPTS, || async {
                self.s3
                    .head_object()
                    .bucket(&self.url.bucket)
                    .key(key)
                    .checksum_mode(ChecksumMode::Enabled)
                    .send()
                    .await
                    .map_err(|e| classify(&op, &e))
            })
            .await
            .map_err(|f| self.fail(f, "get"))?;
        let class = head
            .storage_class()
            .map(|c| c.as_str().to_string())
            .or_else(|| listed.storage_class.clone());
        let archived = matches!(class.as_deref(), Some("GLACIER" | "DEEP_ARCHIVE"));
        let restored = head
            .restore()
            .is_some_and(|r| r.contains("ongoing-request=\"false\""));
        let meta = |name: &str| {
            head.metadata()
                .and_then(|m| m.get(name))
                .map(|v| v.trim().to_ascii_lowercase())
                .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        Ok(Head {
            size: head.content_length().unwrap_or(listed.size as i64).max(0) as u64,
            cold: archived && !restored,
            stored: head
                .checksum_sha256()
                .and_then(|v| Stored::interpret(v, head.e_tag())),
            meta_sha256: meta(META_SHA256),
            meta_source_sha256: meta(META_SOURCE_SHA256),
            etag_parts: head.e_tag().and_then(etag_parts),
            storage_class: class,
        })
    }

    /// The size of a multipart object's first part (HeadObject with
    /// `PartNumber=1`), where the composite checksum is recomputed.
    pub async fn part_size(&self, key: &str) -> Result<Option<u64>> {
        let op = format!("HEAD {} (part 1)", self.url.object_url(key));
        let head = self
            .policy
            .run(ATTEMPTS, || async {
                self.s3
                    .head_object()
                    .bucket(&self.url.bucket)
                    .key(key)
                    .part_number(1)
                    .send()
                    .await
                    .map_err(|e| classify(&op, &e))
            })
            .await
            .map_err(|f| self.fail(f, "get"))?;
        Ok(head.content_length().filter(|n| *n > 0).map(|n| n as u64))
    }
}

/// A body that broke off: transient, the download starts again.
fn broke(what: &str, e: impl std::fmt::Display) -> S3Failure {
    let kind = ErrorKind::Transient { unreachable: false };
    S3Failure::local(kind, format!("reading {what}: {e}"))
}
