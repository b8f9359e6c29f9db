//! The S3 calls restore makes, each through the one retry policy of
//! `archive-s3`: list, head (with the restore state and stored checksums),
//! restore, and a streamed GET.

use crate::model::{Head, RestoreState};
use anyhow::Result;
use archive_core::retry::Backoff;
use archive_core::s3url::S3Url;
use archive_s3::{classify, RetryPolicy, S3Failure};
use aws_sdk_s3::types::{ChecksumMode, GlacierJobParameters, RestoreRequest, Tier};
use aws_sdk_s3::Client;

/// How many attempts a call gets (the first one included).
const ATTEMPTS: u32 = 5;

/// One bucket, one client, one retry policy.
pub struct Remote {
    pub client: Client,
    pub bucket: String,
    pub retry: RetryPolicy,
}

/// A listed object.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
}

impl Remote {
    pub async fn connect(url: &S3Url, opts: &archive_s3::ClientOptions) -> Result<Remote> {
        Ok(Remote {
            client: archive_s3::build_client(opts).await?,
            bucket: url.bucket.clone(),
            retry: RetryPolicy::new("restore", Backoff::default()),
        })
    }

    /// Every object under `prefix` (a list prefix: empty or ending in `/`).
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, S3Failure> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .retry
                .run(ATTEMPTS, || async {
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(prefix)
                        .set_continuation_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| {
                            classify(&format!("listing s3://{}/{prefix}", self.bucket), &e)
                        })
                })
                .await?;
            for o in page.contents() {
                out.push(Listed {
                    key: o.key().unwrap_or_default().to_string(),
                });
            }
            match page.next_continuation_token() {
                // A token that does not move would list forever.
                Some(t) if page.is_truncated() == Some(true) && token.as_deref() != Some(t) => {
                    token = Some(t.to_string())
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// HEAD of a key; None when there is no such object.
    pub async fn head(&self, key: &str) -> Result<Option<Head>, S3Failure> {
        let r = self
            .retry
            .run(ATTEMPTS, || async {
                self.client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .checksum_mode(ChecksumMode::Enabled)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("HEAD {key}"), &e))
            })
            .await;
        let h = match r {
            Ok(h) => h,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let class = h
            .storage_class()
            .map(|c| c.as_str().to_string())
            .unwrap_or_else(|| "STANDARD".into());
        let meta = h.metadata();
        Ok(Some(Head {
            bytes: h.content_length().unwrap_or(0).max(0) as u64,
            etag: h.e_tag().map(str::to_string),
            version_id: h.version_id().map(str::to_string),
            restore: restore_state(&class, h.restore()),
            storage_class: class,
            checksum_sha256: h.checksum_sha256().map(str::to_string),
            meta_sha256: meta.and_then(|m| m.get("sha256")).cloned(),
            meta_source_sha256: meta.and_then(|m| m.get("source-sha256")).cloned(),
            legal_hold: h
                .object_lock_legal_hold_status()
                .is_some_and(|s| s.as_str() == "ON"),
            retain_until: h
                .object_lock_retain_until_date()
                .and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
        }))
    }

    /// The size of part 1 of a multipart object (what the composite
    /// checksum was computed over), or None for a single-part object.
    pub async fn part_size(&self, key: &str) -> Result<Option<(u64, u32)>, S3Failure> {
        let h = self
            .retry
            .run(ATTEMPTS, || async {
                self.client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .part_number(1)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("HEAD {key} part 1"), &e))
            })
            .await?;
        Ok(match h.parts_count() {
            Some(n) if n > 1 => Some((h.content_length().unwrap_or(0).max(0) as u64, n as u32)),
            _ => None,
        })
    }

    /// Ask for a restored copy readable for `days` days. True when a new
    /// restore started, false when one was already under way or done.
    pub async fn request_restore(
        &self,
        key: &str,
        tier: &str,
        days: i32,
    ) -> Result<bool, S3Failure> {
        let req = RestoreRequest::builder()
            .days(days)
            .glacier_job_parameters(
                GlacierJobParameters::builder()
                    .tier(Tier::from(tier))
                    .build()
                    .expect("tier is set"),
            )
            .build();
        let r = self
            .retry
            .run(ATTEMPTS, || async {
                self.client
                    .restore_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .restore_request(req.clone())
                    .send()
                    .await
                    .map_err(|e| classify(&format!("RestoreObject {key}"), &e))
            })
            .await;
        match r {
            Ok(_) => Ok(true),
            // 409 RestoreAlreadyInProgress: someone asked before us.
            Err(e) if e.code == "RestoreAlreadyInProgress" || e.status == Some(409) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stream the object's bytes to `sink`, chunk by chunk (memory stays
    /// at one chunk however large the object).
    pub async fn get(
        &self,
        key: &str,
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, S3Failure> {
        let mut out = self
            .retry
            .run(ATTEMPTS, || async {
                self.client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("GET {key}"), &e))
            })
            .await?;
        let mut total = 0u64;
        loop {
            let chunk = out.body.try_next().await.map_err(|e| {
                S3Failure::local(
                    archive_s3::ErrorKind::Transient { unreachable: false },
                    format!("GET {key}: the body broke off after {total} bytes: {e}"),
                )
            })?;
            let Some(chunk) = chunk else { break };
            total += chunk.len() as u64;
            sink(&chunk).map_err(|e| {
                S3Failure::local(
                    archive_s3::ErrorKind::Permanent,
                    format!("GET {key}: writing the local copy: {e}"),
                )
            })?;
        }
        Ok(total)
    }

    /// A small object, whole (manifests).
    pub async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, S3Failure> {
        let mut buf = Vec::new();
        self.get(key, &mut |c| {
            buf.extend_from_slice(c);
            Ok(())
        })
        .await?;
        Ok(buf)
    }
}

/// Read `x-amz-restore` (`ongoing-request="false", expiry-date="…"`).
pub fn restore_state(storage_class: &str, header: Option<&str>) -> RestoreState {
    if !crate::model::is_cold(storage_class) {
        return RestoreState::Instant;
    }
    let Some(h) = header else {
        return RestoreState::Archived;
    };
    if h.contains("ongoing-request=\"true\"") {
        return RestoreState::InProgress;
    }
    let expiry = h
        .split_once("expiry-date=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(d, _)| d.to_string());
    RestoreState::Restored { expiry }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_header() {
        assert_eq!(restore_state("STANDARD", None), RestoreState::Instant);
        assert_eq!(restore_state("GLACIER_IR", None), RestoreState::Instant);
        assert_eq!(restore_state("DEEP_ARCHIVE", None), RestoreState::Archived);
        assert_eq!(
            restore_state("GLACIER", Some("ongoing-request=\"true\"")),
            RestoreState::InProgress
        );
        assert_eq!(
            restore_state(
                "GLACIER",
                Some("ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\"")
            ),
            RestoreState::Restored {
                expiry: Some("Fri, 21 Dec 2012 00:00:00 GMT".into())
            }
        );
    }
}
