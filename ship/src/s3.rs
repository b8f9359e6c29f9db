//! Putting one object into S3: a single PUT up to the multipart threshold,
//! a multipart upload above it. Every request carries
//! `x-amz-checksum-sha256` with a value computed here beforehand, so the SDK
//! never buffers a body to checksum it, and the checksum S3 answers with is
//! compared to ours. A multipart file is read once: each part is read into
//! memory (within the run's [`MemoryBudget`]) and hashed, then sent from
//! there (retries resend the same bytes); the whole-file SHA-256 is
//! computed on the way and must equal the one the upload was created with
//! before it is completed; an object whose checksum does not match is deleted (or,
//! where Object Lock keeps it, tagged `integrity=failed`). No clobber unless
//! asked: `If-None-Match: *`, and an existing key is read back (HeadObject)
//! to tell an identical object from a conflicting one.

use crate::budget::MemoryBudget;
use crate::model::{
    Clobber, Corrupt, Existing, Put, PutFailure, PutOptions, Stored, META_SHA256,
    META_SOURCE_SHA256,
};
use crate::payload::{self, PartDigest, Payload};
use archive_s3::checksum;
use archive_s3::preflight::{self, Place};
use archive_s3::{classify, ErrorKind, RetryPolicy, S3Failure};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{StreamExt, TryStreamExt};
use futures::SinkExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Apply storage class, SSE and Object Lock settings to a PutObject or
/// CreateMultipartUpload request (the two builders share these setters but
/// no trait).
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
    /// File content in memory: the parts being read and sent.
    pub budget: MemoryBudget,
    /// The bucket and endpoint, for messages; the destination's URL.
    place: Place,
    dest: String,
    /// The first configuration failure (missing bucket, denied, rejected
    /// credentials): every later request would fail the same way, so the
    /// run stops with this one message (exit 2).
    fatal: Mutex<Option<String>>,
}

impl S3Target {
    /// The S3 side of a run (none for a dry run or a local destination).
    pub async fn connect(
        cfg: &crate::config::Config,
        budget: &MemoryBudget,
    ) -> anyhow::Result<Option<S3Target>> {
        let crate::model::Destination::S3(url) = &cfg.dest else {
            return Ok(None);
        };
        if cfg.dry_run {
            return Ok(None);
        }
        let client = archive_s3::build_client(&cfg.client).await?;
        let place = Place::new(&url.bucket, &cfg.client, &client);
        // A missing bucket or rejected credentials: one message, now.
        preflight::check_bucket(&client, &place).await?;
        Ok(Some(S3Target {
            client,
            place,
            dest: url.to_string(),
            fatal: Mutex::new(None),
            bucket: url.bucket.clone(),
            retry: RetryPolicy::new("ship", cfg.backoff),
            opts: cfg.opts.clone(),
            active: Default::default(),
            unreachable: Default::default(),
            bytes_sent: Default::default(),
            budget: budget.clone(),
        }))
    }

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

    /// The configuration failure that stopped the run, if one did.
    pub fn fatal(&self) -> Option<String> {
        self.fatal.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Store `payload` under `key` with `class`, honouring the clobber mode.
    /// After a configuration failure nothing more is sent.
    pub async fn put(
        &self,
        key: &str,
        payload: &Payload,
        class: Option<&str>,
        spooled_at: Option<DateTime<Utc>>,
    ) -> Result<Put, PutFailure> {
        if let Some(why) = self.fatal() {
            let f = S3Failure::local(ErrorKind::Permanent, format!("not sent: {why}"));
            return Err(f.into());
        }
        let put = self.put_or_keep(key, payload, class, spooled_at).await;
        if let Err(e) = &put {
            if e.corrupt.is_none() && e.failure.is_configuration() {
                let needs = match e.failure.message.starts_with("HeadObject") {
                    true => format!(
                        "s3:GetObject on {}/* (to compare existing objects: --update, --drain)",
                        self.dest
                    ),
                    false => format!("s3:PutObject on {}/*", self.dest),
                };
                let why = preflight::explain(&e.failure, &self.place, &needs)
                    .unwrap_or_else(|| e.failure.message.clone());
                let mut fatal = self.fatal.lock().unwrap_or_else(|e| e.into_inner());
                fatal.get_or_insert(why);
            }
        }
        put
    }

    /// `put` proper. `spooled_at` (draining) makes it look first and
    /// refuse to put a copy over an object modified since that time.
    async fn put_or_keep(
        &self,
        key: &str,
        payload: &Payload,
        class: Option<&str>,
        spooled_at: Option<DateTime<Utc>>,
    ) -> Result<Put, PutFailure> {
        let clobber = self.opts.clobber;
        // --update may read, and the drain must: an unchanged object is not
        // sent again, however large, and a newer one is not replaced.
        if clobber == Clobber::Update || spooled_at.is_some() {
            if let Some(existing) = self.head(key).await? {
                return self
                    .over_existing(key, payload, class, existing, spooled_at)
                    .await;
            }
        }
        match self
            .put_once(key, payload, class, clobber != Clobber::Overwrite)
            .await
        {
            Err(e) if e.failure.kind == ErrorKind::Exists => {
                // No clobber, or created by someone else since we looked.
                let existing = match self.head(key).await {
                    Ok(Some(existing)) => existing,
                    Ok(None) => return Err(e),
                    Err(h) if clobber == Clobber::Refuse => {
                        let why = match h.status {
                            Some(403) => "HeadObject denied; s3:GetObject lets ship compare".into(),
                            _ => h.message,
                        };
                        eprintln!("ship: {key}: exists; not compared ({why})");
                        Existing::default()
                    }
                    Err(h) => return Err(h.into()),
                };
                self.over_existing(key, payload, class, existing, spooled_at)
                    .await
            }
            other => other.map(Put::Written),
        }
    }

    /// An object exists at `key`: keep it (identical, newer than the spooled
    /// copy, or no clobber), or replace it.
    async fn over_existing(
        &self,
        key: &str,
        payload: &Payload,
        class: Option<&str>,
        existing: Existing,
        spooled_at: Option<DateTime<Utc>>,
    ) -> Result<Put, PutFailure> {
        if existing.source_sha256.as_deref() == Some(payload.source_sha256.as_str()) {
            return Ok(Put::Exists(existing));
        }
        if let (Some(spooled), Some(modified)) = (spooled_at, existing.last_modified) {
            // Second resolution on S3's side: the same second counts as newer.
            if modified.timestamp() >= spooled.timestamp() {
                return Ok(Put::Stale(existing));
            }
        }
        if self.opts.clobber == Clobber::Refuse {
            return Ok(Put::Exists(existing));
        }
        self.put_once(key, payload, class, false)
            .await
            .map(Put::Written)
    }

    async fn put_once(
        &self,
        key: &str,
        payload: &Payload,
        class: Option<&str>,
        if_none_match: bool,
    ) -> Result<Stored, PutFailure> {
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
    ) -> Result<Stored, PutFailure> {
        let body = payload
            .read_small()
            .await
            .map_err(|e| S3Failure::local(ErrorKind::Permanent, format!("{e:#}")))?;
        let checksum = hex_to_b64(&payload.sha256);
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
                apply_put_options!(req, self.opts, class);
                // As for parts: the checksum protects the bytes, no second hash.
                let req = req.customize().disable_payload_signing();
                async move { req.send().await.map_err(|e| classify("PutObject", &e)) }
            })
            .await?;
        self.bytes_sent.fetch_add(payload.bytes, Ordering::Relaxed);
        let stored = Stored {
            etag: out.e_tag().map(str::to_string),
            version_id: out.version_id().map(str::to_string),
            checksum_sha256: None,
            s3_checksum: out.checksum_sha256().map(str::to_string),
        };
        self.verify_or_discard(key, stored, payload, None).await
    }

    async fn put_multipart(
        &self,
        key: &str,
        payload: &Payload,
        class: Option<&str>,
        if_none_match: bool,
    ) -> Result<Stored, PutFailure> {
        let part_size = payload.part_size.ok_or_else(|| {
            S3Failure::local(
                ErrorKind::Permanent,
                "internal: multipart payload without a part size",
            )
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
                apply_put_options!(req, self.opts, class);
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
            .send_parts_and_complete(key, payload, part_size, &upload_id, if_none_match)
            .await;
        if result.is_err() {
            // Never leave an incomplete upload behind to be billed, nor an
            // object whose metadata does not describe its bytes.
            if let Err(e) = self.abort(key, &upload_id).await {
                eprintln!("ship: {key}: could not abort multipart upload {upload_id}: {e}");
            }
        }
        self.active.lock().unwrap().remove(&upload_id);
        // The upload completed; now check what S3 says it stored.
        let (stored, digests) = result?;
        let digests: Vec<&str> = digests.iter().map(String::as_str).collect();
        let composite = checksum::composite_checksum(&digests);
        self.verify_or_discard(key, stored, payload, composite)
            .await
    }

    /// Check S3's checksum against ours; a mismatch deletes the object this
    /// run created (or tags it where it cannot be deleted).
    async fn verify_or_discard(
        &self,
        key: &str,
        mut stored: Stored,
        payload: &Payload,
        composite: Option<String>,
    ) -> Result<Stored, PutFailure> {
        if stored.s3_checksum.is_none() {
            stored.s3_checksum = self.head_checksum(key).await;
        }
        match verify(key, &mut stored, payload, composite) {
            Ok(()) => Ok(stored),
            Err(failure) => {
                let corrupt = self.discard(key, stored.version_id.as_deref()).await;
                Err(PutFailure {
                    failure,
                    corrupt: Some(corrupt),
                })
            }
        }
    }

    /// Remove a corrupt object version this run created. Under Object Lock
    /// (or without s3:DeleteObject) it cannot be removed: it is tagged
    /// `integrity=failed` instead, so no reader takes it for good.
    pub async fn discard(&self, key: &str, version_id: Option<&str>) -> Corrupt {
        let mut version = version_id.map(str::to_string);
        if version.is_none() {
            // Some servers leave the version out of the upload's answer; in a
            // versioned bucket a delete without it would only add a marker.
            version = self
                .head(key)
                .await
                .ok()
                .flatten()
                .and_then(|e| e.version_id);
        }
        let deleted = self
            .call(|| {
                let req = self
                    .client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .set_version_id(version.clone());
                async move { unit(req.send().await, "DeleteObject") }
            })
            .await;
        let Err(why) = deleted else {
            eprintln!("ship: {key}: deleted the corrupt object this run created");
            return Corrupt::Deleted;
        };
        let tag = aws_sdk_s3::types::Tag::builder()
            .key("integrity")
            .value("failed")
            .build()
            .expect("key and value are set");
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .tag_set(tag)
            .build()
            .expect("the tag set is set");
        let tagged = self
            .call(|| {
                let req = self
                    .client
                    .put_object_tagging()
                    .bucket(&self.bucket)
                    .key(key)
                    .set_version_id(version.clone())
                    .tagging(tagging.clone());
                async move { unit(req.send().await, "PutObjectTagging") }
            })
            .await;
        match tagged {
            Ok(()) => {
                eprintln!("ship: {key}: could not delete the corrupt object ({why}); tagged it integrity=failed");
                Corrupt::Tagged {
                    version_id: version,
                }
            }
            Err(t) => {
                eprintln!("ship: {key}: could not delete ({why}) nor tag ({t}) the corrupt object");
                Corrupt::Left {
                    version_id: version,
                }
            }
        }
    }

    /// Read the parts in order (one reader, so the whole-file SHA-256 can
    /// be computed on the way) while up to `--part-concurrency` of them are
    /// sent; complete only once every part is stored and the whole file
    /// hashed to what the upload was created with. Returns the parts' hex
    /// digests too, for the composite checksum.
    async fn send_parts_and_complete(
        &self,
        key: &str,
        payload: &Payload,
        part_size: u64,
        upload_id: &str,
        if_none_match: bool,
    ) -> Result<(Stored, Vec<String>), PutFailure> {
        let (tx, rx) = futures::channel::mpsc::channel::<Result<ReadPart, PutFailure>>(1);
        let reading = self.read_parts(payload, part_size, tx);
        let sending = rx
            .map(|read| async move {
                let (part, body) = read?;
                // The body's buffer and budget share go back once the
                // request holding the bytes is gone.
                let sent = self.upload_part(key, &part, body, upload_id).await;
                Ok::<_, PutFailure>((sent?, part.sha256))
            })
            .buffer_unordered(self.opts.part_concurrency.max(1))
            .try_collect::<Vec<_>>();
        let ((), sent) = futures::join!(reading, sending);
        let mut sent = sent?;
        sent.sort_by_key(|(p, _)| p.part_number());
        let (completed, digests): (Vec<CompletedPart>, Vec<String>) = sent.into_iter().unzip();
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
        Ok((done, digests))
    }

    /// The reading side: each part, once its bytes fit in the budget, read
    /// and hashed on a blocking thread, then handed to the senders. The
    /// last part is handed over only when the whole file hashed right; a
    /// read error or a different hash ends the upload instead.
    async fn read_parts(
        &self,
        payload: &Payload,
        part_size: u64,
        mut tx: futures::channel::mpsc::Sender<Result<ReadPart, PutFailure>>,
    ) {
        let reader = match payload.part_reader() {
            Ok(r) => r,
            Err(e) => return drop(tx.send(Err(local_failure(e))).await),
        };
        let layout = payload::part_layout(payload.bytes, part_size);
        let last = layout.len();
        let mut whole = Some(sha2::Sha256::default());
        for (i, mut part) in layout.into_iter().enumerate() {
            if tx.is_closed() {
                return; // A part failed: the upload is being aborted.
            }
            let buffer = self.budget.part_buffer(part.len as usize).await;
            let (r, mut hasher) = (reader.clone(), whole.take().expect("put back each time"));
            let read = tokio::task::spawn_blocking(move || {
                let body = r.read(&mut part, buffer, &mut hasher);
                (body.map(|b| (part, b)), hasher)
            })
            .await;
            let item = match read {
                Ok((Ok((part, body)), hasher)) => {
                    whole = Some(hasher);
                    Ok((part, body))
                }
                Ok((Err(e), _)) => Err(local_failure(e)),
                Err(e) => Err(local_failure(anyhow::anyhow!("reading a part: {e}"))),
            };
            let item = match (item, i + 1 == last) {
                (Ok(read), true) => match payload.finish_reading(whole.take().expect("kept")) {
                    Ok(()) => {
                        payload.release_reading_slot();
                        Ok(read)
                    }
                    Err(why) => Err(S3Failure::local(ErrorKind::Permanent, why).into()),
                },
                (item, _) => item,
            };
            let stop = item.is_err();
            // The senders stopped (a part failed): nothing more to read.
            if tx.send(item).await.is_err() || stop {
                return;
            }
        }
    }

    async fn upload_part(
        &self,
        key: &str,
        part: &PartDigest,
        body: Bytes,
        upload_id: &str,
    ) -> Result<CompletedPart, S3Failure> {
        let checksum = hex_to_b64(&part.sha256);
        let out = self
            .call(|| {
                let req = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(part.number)
                    .content_length(part.len as i64)
                    .checksum_algorithm(ChecksumAlgorithm::Sha256)
                    .checksum_sha256(&checksum)
                    // The bytes read once; a retry sends them again.
                    .body(ByteStream::from(body.clone()));
                async move {
                    // x-amz-checksum-sha256 protects the bytes (S3 checks
                    // it); signing the payload too would hash every part
                    // a third time before sending.
                    req.customize()
                        .disable_payload_signing()
                        .send()
                        .await
                        .map_err(|e| classify(&format!("UploadPart {}", part.number), &e))
                }
            })
            .await?;
        self.bytes_sent.fetch_add(part.len, Ordering::Relaxed);
        if let Some(got) = out.checksum_sha256() {
            if got != checksum {
                return Err(S3Failure::local(
                    ErrorKind::Permanent,
                    format!(
                        "UploadPart {}: S3 stored checksum {got}, sent {checksum}",
                        part.number
                    ),
                ));
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
        abort_upload(&self.client, &self.retry, &self.bucket, key, upload_id).await
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
                        Err(e) => {
                            let f = classify("HeadObject", &e);
                            if f.is_not_found() {
                                Ok(None)
                            } else {
                                Err(f)
                            }
                        }
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
            .and_then(checksum::b64_to_hex);
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
            last_modified: out
                .last_modified()
                .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())),
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

/// Abort a multipart upload (with retries): ship's own failed uploads and
/// `ship abort-incomplete`'s leftovers.
pub async fn abort_upload(
    client: &Client,
    retry: &RetryPolicy,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<(), S3Failure> {
    retry
        .run(retry.backoff.max_attempts, || {
            let req = client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id);
            async move { unit(req.send().await, "AbortMultipartUpload") }
        })
        .await
}

/// A call whose answer carries nothing ship needs.
fn unit<T, E>(
    r: Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
    op: &str,
) -> Result<(), S3Failure>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    r.map(|_| ()).map_err(|e| classify(op, &e))
}

/// Compare S3's checksum with ours (the whole-object SHA-256 for a single
/// PUT, the composite of part digests for a multipart upload); record the
/// verified SHA-256.
fn verify(
    key: &str,
    stored: &mut Stored,
    payload: &Payload,
    composite: Option<String>,
) -> Result<(), S3Failure> {
    let Some(got) = stored.s3_checksum.as_deref() else {
        eprintln!("ship: {key}: S3 returned no SHA-256 checksum; recorded the local one");
        stored.checksum_sha256 = Some(payload.sha256.clone());
        return Ok(());
    };
    let same = checksum::Stored::interpret(got, stored.etag.as_deref())
        .and_then(|s| s.matches(Some(&payload.sha256), composite.as_deref()));
    if same == Some(true) {
        stored.checksum_sha256 = Some(payload.sha256.clone());
        return Ok(());
    }
    let expected = composite.unwrap_or_else(|| hex_to_b64(&payload.sha256));
    Err(S3Failure::local(
        ErrorKind::Permanent,
        format!("{key}: S3 stored checksum {got}, expected {expected}"),
    ))
}

/// A part read and hashed, waiting to be sent, with its share of memory.
type ReadPart = (PartDigest, Bytes);

/// A local failure (reading the source) during an upload.
fn local_failure(e: anyhow::Error) -> PutFailure {
    S3Failure::local(ErrorKind::Permanent, format!("{e:#}")).into()
}

/// Hex SHA-256 (always hex: computed here) → the base64 form of S3 headers.
fn hex_to_b64(hex_digest: &str) -> String {
    checksum::b64(hex_digest).expect("SHA-256 digests computed here are hex")
}
