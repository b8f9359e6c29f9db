//! Putting one object into S3: a single PUT up to the multipart threshold,
//! a multipart upload above it. Every request carries
//! `x-amz-checksum-sha256` with a value computed here beforehand, so the SDK
//! never buffers a body to checksum it, and the checksum S3 answers with is
//! compared to ours. No clobber unless asked: `If-None-Match: *`.

use crate::options::{Clobber, PutOptions};
use crate::payload::{PartDigest, Payload};
use crate::retry::{classify, ErrorKind, RetryPolicy, S3Failure};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use aws_smithy_types::byte_stream::Length;
use base64::Engine;
use futures::stream::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Object metadata holding the SHA-256 (hex) of the stored bytes, so the
/// whole-object checksum survives a multipart upload, whose S3 checksum is
/// only a checksum of part checksums.
pub const META_SHA256: &str = "sha256";
/// The SHA-256 of the source file before client-side encryption; `--update`
/// compares against it, since age ciphertext differs on every run.
pub const META_SOURCE_SHA256: &str = "source-sha256";

/// Everything one run needs to talk to one bucket.
pub struct S3Target {
    pub client: Client,
    pub bucket: String,
    pub retry: RetryPolicy,
    pub opts: PutOptions,
    /// Multipart uploads in flight (upload id → key), aborted on Ctrl-C.
    pub active: Mutex<HashMap<String, String>>,
    /// Set once an upload exhausted its retries without any HTTP answer:
    /// later files try once instead of waiting through the whole backoff.
    pub unreachable: AtomicBool,
    pub bytes_sent: AtomicU64,
}

/// What S3 answered for one object.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub skipped: bool,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    /// Hex SHA-256 of the stored bytes, as verified.
    pub checksum_sha256: Option<String>,
    /// The checksum value exactly as S3 returned it (base64, with `-N` for
    /// a multipart upload's checksum of part checksums).
    pub s3_checksum: Option<String>,
}

impl S3Target {
    fn attempts(&self) -> u32 {
        if self.unreachable.load(Ordering::Relaxed) {
            1
        } else {
            self.retry.backoff.max_attempts
        }
    }

    /// Retry a call; remember when S3 turned out to be unreachable.
    async fn call<T, F, Fut>(&self, f: F) -> Result<T, S3Failure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, S3Failure>>,
    {
        let r = self.retry.run(self.attempts(), f).await;
        if let Err(S3Failure {
            kind: ErrorKind::Transient { unreachable: true },
            ..
        }) = &r
        {
            self.unreachable.store(true, Ordering::Relaxed);
        }
        r
    }

    /// Store `payload` under `key` with `class`, honouring the clobber mode.
    pub async fn put(
        &self,
        key: &str,
        payload: &Payload,
        class: Option<&str>,
    ) -> Result<Stored, S3Failure> {
        match self.opts.clobber {
            Clobber::Overwrite => self.put_once(key, payload, class, false).await,
            Clobber::Refuse => match self.put_once(key, payload, class, true).await {
                Err(e) if e.kind == ErrorKind::Exists => Ok(Stored {
                    skipped: true,
                    ..Stored::default()
                }),
                other => other,
            },
            Clobber::Update => {
                // Look first (this mode may read): an unchanged object is not
                // sent again, however large.
                if let Some(existing) = self.head(key).await? {
                    return self.update_existing(key, payload, class, existing).await;
                }
                match self.put_once(key, payload, class, true).await {
                    Err(e) if e.kind == ErrorKind::Exists => {
                        // Created by someone else since we looked.
                        match self.head(key).await? {
                            Some(existing) => {
                                self.update_existing(key, payload, class, existing).await
                            }
                            None => Err(e),
                        }
                    }
                    other => other,
                }
            }
        }
    }

    async fn update_existing(
        &self,
        key: &str,
        payload: &Payload,
        class: Option<&str>,
        existing: Existing,
    ) -> Result<Stored, S3Failure> {
        if existing.source_sha256.as_deref() == Some(payload.source_sha256.as_str()) {
            Ok(Stored {
                skipped: true,
                etag: existing.etag,
                version_id: existing.version_id,
                checksum_sha256: existing.sha256,
                s3_checksum: existing.s3_checksum,
            })
        } else {
            self.put_once(key, payload, class, false).await
        }
    }

    async fn put_once(
        &self,
        key: &str,
        payload: &Payload,
        class: Option<&str>,
        if_none_match: bool,
    ) -> Result<Stored, S3Failure> {
        if payload.bytes > self.opts.multipart_threshold {
            self.put_multipart(key, payload, class, if_none_match).await
        } else {
            self.put_single(key, payload, class, if_none_match).await
        }
    }

    async fn put_single(
        &self,
        key: &str,
        payload: &Payload,
        class: Option<&str>,
        if_none_match: bool,
    ) -> Result<Stored, S3Failure> {
        let body = payload.read_small().await.map_err(|e| S3Failure {
            kind: ErrorKind::Permanent,
            message: format!("{e:#}"),
        })?;
        let checksum = b64(&payload.sha256);
        let out = self
            .call(|| {
                let mut req = self
                    .client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .content_length(body.len() as i64)
                    .body(ByteStream::from(body.clone()))
                    .checksum_algorithm(ChecksumAlgorithm::Sha256)
                    .checksum_sha256(&checksum)
                    .metadata(META_SHA256, &payload.sha256)
                    .metadata(META_SOURCE_SHA256, &payload.source_sha256);
                if if_none_match {
                    req = req.if_none_match("*");
                }
                crate::apply_put_options!(req, self.opts, class);
                async move { req.send().await.map_err(|e| classify("PutObject", &e)) }
            })
            .await?;
        self.bytes_sent.fetch_add(payload.bytes, Ordering::Relaxed);
        let mut stored = Stored {
            skipped: false,
            etag: out.e_tag().map(str::to_string),
            version_id: out.version_id().map(str::to_string),
            checksum_sha256: None,
            s3_checksum: out.checksum_sha256().map(str::to_string),
        };
        if stored.s3_checksum.is_none() {
            stored.s3_checksum = self.head_checksum(key).await;
        }
        verify(key, &mut stored, &checksum, &payload.sha256)?;
        Ok(stored)
    }

    async fn put_multipart(
        &self,
        key: &str,
        payload: &Payload,
        class: Option<&str>,
        if_none_match: bool,
    ) -> Result<Stored, S3Failure> {
        let parts = payload.parts.as_ref().ok_or_else(|| S3Failure {
            kind: ErrorKind::Permanent,
            message: "internal: multipart payload without part digests".into(),
        })?;
        let created = self
            .call(|| {
                let mut req = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .checksum_algorithm(ChecksumAlgorithm::Sha256)
                    .metadata(META_SHA256, &payload.sha256)
                    .metadata(META_SOURCE_SHA256, &payload.source_sha256);
                crate::apply_put_options!(req, self.opts, class);
                async move {
                    req.send()
                        .await
                        .map_err(|e| classify("CreateMultipartUpload", &e))
                }
            })
            .await?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        self.active
            .lock()
            .unwrap()
            .insert(upload_id.clone(), key.to_string());
        let result = self
            .send_parts_and_complete(key, payload, parts, &upload_id, if_none_match)
            .await;
        if result.is_err() {
            // Never leave an incomplete upload behind to be billed.
            if let Err(e) = self.abort(key, &upload_id).await {
                eprintln!("ship: {key}: could not abort multipart upload {upload_id}: {e}");
            }
        }
        self.active.lock().unwrap().remove(&upload_id);
        // The upload completed; now check what S3 says it stored.
        let mut stored = result?;
        if stored.s3_checksum.is_none() {
            stored.s3_checksum = self.head_checksum(key).await;
        }
        verify(
            key,
            &mut stored,
            &composite_checksum(parts),
            &payload.sha256,
        )?;
        Ok(stored)
    }

    async fn send_parts_and_complete(
        &self,
        key: &str,
        payload: &Payload,
        parts: &[PartDigest],
        upload_id: &str,
        if_none_match: bool,
    ) -> Result<Stored, S3Failure> {
        let mut completed: Vec<CompletedPart> = futures::stream::iter(parts.to_vec())
            .map(|part| self.upload_part(key, payload, part, upload_id))
            .buffer_unordered(self.opts.part_concurrency.max(1))
            .try_collect()
            .await?;
        completed.sort_by_key(|p| p.part_number());
        let done = self
            .call(|| {
                let mut req = self
                    .client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(completed.clone()))
                            .build(),
                    );
                if if_none_match {
                    req = req.if_none_match("*");
                }
                async move {
                    match req.send().await {
                        Ok(done) => Ok(Stored {
                            skipped: false,
                            etag: done.e_tag().map(str::to_string),
                            version_id: done.version_id().map(str::to_string),
                            checksum_sha256: None,
                            s3_checksum: done.checksum_sha256().map(str::to_string),
                        }),
                        Err(e) => completed_under_other_root(&e)
                            .ok_or_else(|| classify("CompleteMultipartUpload", &e)),
                    }
                }
            })
            .await?;
        Ok(done)
    }

    async fn upload_part(
        &self,
        key: &str,
        payload: &Payload,
        part: PartDigest,
        upload_id: &str,
    ) -> Result<CompletedPart, S3Failure> {
        let part = &part;
        let checksum = b64(&part.sha256);
        let out = self
            .call(|| {
                let path = payload.path.clone();
                let req = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(part.number)
                    .content_length(part.len as i64)
                    .checksum_algorithm(ChecksumAlgorithm::Sha256)
                    .checksum_sha256(&checksum);
                let (offset, len) = (part.offset, part.len);
                async move {
                    // Streamed from disk: a part is never held in memory.
                    let body = ByteStream::read_from()
                        .path(&path)
                        .offset(offset)
                        .length(Length::Exact(len))
                        .build()
                        .await
                        .map_err(|e| S3Failure {
                            kind: ErrorKind::Permanent,
                            message: format!("reading {}: {e}", path.display()),
                        })?;
                    req.body(body)
                        .send()
                        .await
                        .map_err(|e| classify(&format!("UploadPart {}", part.number), &e))
                }
            })
            .await?;
        self.bytes_sent.fetch_add(part.len, Ordering::Relaxed);
        if let Some(got) = out.checksum_sha256() {
            if got != checksum {
                return Err(S3Failure {
                    kind: ErrorKind::Permanent,
                    message: format!(
                        "UploadPart {}: S3 stored checksum {got}, sent {checksum}",
                        part.number
                    ),
                });
            }
        }
        Ok(CompletedPart::builder()
            .part_number(part.number)
            .set_e_tag(out.e_tag().map(str::to_string))
            .checksum_sha256(checksum)
            .build())
    }

    /// Abort a multipart upload (with retries).
    pub async fn abort(&self, key: &str, upload_id: &str) -> Result<(), S3Failure> {
        self.retry
            .run(self.retry.backoff.max_attempts, || {
                let req = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id);
                async move {
                    req.send()
                        .await
                        .map(|_| ())
                        .map_err(|e| classify("AbortMultipartUpload", &e))
                }
            })
            .await
    }

    /// HeadObject with checksum mode, for `--update` and for a checksum the
    /// upload response did not carry. Needs s3:GetObject.
    pub async fn head(&self, key: &str) -> Result<Option<Existing>, S3Failure> {
        let out = self
            .call(|| {
                let req = self
                    .client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .checksum_mode(ChecksumMode::Enabled);
                async move {
                    match req.send().await {
                        Ok(out) => Ok(Some(out)),
                        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                            Ok(None)
                        }
                        Err(e) => Err(classify("HeadObject", &e)),
                    }
                }
            })
            .await?;
        let Some(out) = out else { return Ok(None) };
        let meta = out.metadata();
        let stored_sha = meta.and_then(|m| m.get(META_SHA256)).cloned();
        let s3_checksum = out.checksum_sha256().map(str::to_string);
        // An object not written by ship: a single-part checksum is the
        // whole-object SHA-256; a composite one ("…-N") is not.
        let single = s3_checksum
            .as_deref()
            .filter(|c| !c.contains('-'))
            .and_then(b64_to_hex);
        let sha256 = stored_sha.or(single);
        let source_sha256 = meta
            .and_then(|m| m.get(META_SOURCE_SHA256))
            .cloned()
            .or_else(|| sha256.clone());
        Ok(Some(Existing {
            etag: out.e_tag().map(str::to_string),
            version_id: out.version_id().map(str::to_string),
            sha256,
            source_sha256,
            s3_checksum,
        }))
    }

    async fn head_checksum(&self, key: &str) -> Option<String> {
        match self.head(key).await {
            Ok(e) => e.and_then(|e| e.s3_checksum),
            Err(e) => {
                eprintln!("ship: {key}: could not read the stored checksum back: {e}");
                None
            }
        }
    }
}

/// Some S3-compatible servers (moto among them) answer a successful
/// CompleteMultipartUpload with a `CompleteMultipartUploadResponse` root
/// element, which the SDK refuses to parse. A 200 answer with that root and
/// no `<Error>` is a completed upload: read the ETag and checksum from it.
fn completed_under_other_root<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Option<Stored> {
    let raw = err.raw_response()?;
    if raw.status().as_u16() != 200 {
        return None;
    }
    let body = std::str::from_utf8(raw.body().bytes()?).ok()?;
    if !body.contains("<CompleteMultipartUploadResponse") || body.contains("<Error>") {
        return None;
    }
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].replace("&quot;", "\""))
    };
    Some(Stored {
        skipped: false,
        etag: element("ETag"),
        version_id: raw
            .headers()
            .get("x-amz-version-id")
            .filter(|v| *v != "null")
            .map(str::to_string),
        checksum_sha256: None,
        s3_checksum: element("ChecksumSHA256"),
    })
}

/// What an existing object says about its content.
#[derive(Debug, Clone)]
pub struct Existing {
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub sha256: Option<String>,
    pub source_sha256: Option<String>,
    pub s3_checksum: Option<String>,
}

/// Compare S3's checksum with the one sent; record the verified SHA-256.
fn verify(
    key: &str,
    stored: &mut Stored,
    expected: &str,
    sha256_hex: &str,
) -> Result<(), S3Failure> {
    // Some servers drop the "-<parts>" suffix of a composite checksum; the
    // digest itself must still match, and a part count, when given, too.
    let same = |got: &str| {
        let (g, gn) = got
            .split_once('-')
            .map_or((got, None), |(a, b)| (a, Some(b)));
        let (e, en) = expected
            .split_once('-')
            .map_or((expected, None), |(a, b)| (a, Some(b)));
        g == e && (gn.is_none() || gn == en)
    };
    match stored.s3_checksum.as_deref() {
        Some(got) if !same(got) => Err(S3Failure {
            kind: ErrorKind::Permanent,
            message: format!("{key}: S3 stored checksum {got}, expected {expected}"),
        }),
        Some(_) => {
            stored.checksum_sha256 = Some(sha256_hex.to_string());
            Ok(())
        }
        None => {
            eprintln!("ship: {key}: S3 returned no SHA-256 checksum; recorded the local one");
            stored.checksum_sha256 = Some(sha256_hex.to_string());
            Ok(())
        }
    }
}

/// S3's checksum of a multipart upload: SHA-256 over the concatenated
/// binary part digests, base64, then `-<number of parts>`.
pub fn composite_checksum(parts: &[PartDigest]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(hex::decode(&p.sha256).expect("part digests are hex"));
    }
    format!(
        "{}-{}",
        base64::engine::general_purpose::STANDARD.encode(h.finalize()),
        parts.len()
    )
}

/// Hex SHA-256 → the base64 form S3 headers use.
pub fn b64(hex_digest: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(hex::decode(hex_digest).expect("SHA-256 digests are hex"))
}

fn b64_to_hex(b: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD
        .decode(b)
        .ok()
        .map(hex::encode)
}

/// Apply storage class, SSE and Object Lock settings to a PutObject or
/// CreateMultipartUpload request (the two builders share these setters but
/// no trait).
#[macro_export]
macro_rules! apply_put_options {
    ($req:ident, $opts:expr, $class:expr) => {
        if let Some(c) = $class {
            $req = $req.storage_class(aws_sdk_s3::types::StorageClass::from(c));
        }
        if let Some(sse) = &$opts.sse {
            $req = $req.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::from(
                sse.as_str(),
            ));
        }
        if let Some(k) = &$opts.sse_kms_key_id {
            $req = $req.ssekms_key_id(k);
        }
        if let Some(mode) = &$opts.lock_mode {
            $req = $req.object_lock_mode(aws_sdk_s3::types::ObjectLockMode::from(mode.as_str()));
        }
        if let Some(until) = $opts.retain_until {
            $req = $req.object_lock_retain_until_date(aws_smithy_types::DateTime::from_secs(
                until.timestamp(),
            ));
        }
        if $opts.legal_hold {
            $req = $req
                .object_lock_legal_hold_status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On);
        }
    };
}
