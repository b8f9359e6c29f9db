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

/// A [`Head`] from a HeadObject or a GetObject answer: the two SDK types
/// are distinct but name these accessors alike.
macro_rules! head_of {
    ($o:expr) => {{
        let o = &$o;
        let class = o
            .storage_class()
            .map(|c| c.as_str().to_string())
            .unwrap_or_else(|| "STANDARD".into());
        let meta = o.metadata();
        Head {
            bytes: o.content_length().unwrap_or(0).max(0) as u64,
            etag: o.e_tag().map(str::to_string),
            version_id: o.version_id().map(str::to_string),
            restore: restore_state(&class, o.restore()),
            storage_class: class,
            checksum_sha256: o.checksum_sha256().map(str::to_string),
            meta_sha256: meta.and_then(|m| m.get("sha256")).cloned(),
            meta_source_sha256: meta.and_then(|m| m.get("source-sha256")).cloned(),
            legal_hold: o
                .object_lock_legal_hold_status()
                .is_some_and(|s| s.as_str() == "ON"),
            retain_until: o
                .object_lock_retain_until_date()
                .and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
        }
    }};
}

/// One bucket, one client, one retry policy; or a local directory that
/// holds an archive with the same layout (a destination that is a
/// directory, a NAS), read through the same calls.
pub struct Remote {
    pub client: Option<Client>,
    pub bucket: String,
    pub retry: RetryPolicy,
    /// Set for a directory source: keys are paths below it.
    pub local: Option<std::path::PathBuf>,
}

/// A listed object.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
}

impl Remote {
    pub async fn connect(url: &S3Url, opts: &archive_s3::ClientOptions) -> Result<Remote> {
        Ok(Remote {
            client: Some(archive_s3::build_client(opts).await?),
            bucket: url.bucket.clone(),
            retry: RetryPolicy::new("restore", Backoff::default()),
            local: None,
        })
    }

    /// A directory holding an archive.
    pub fn directory(root: &std::path::Path) -> Remote {
        Remote {
            client: None,
            bucket: String::new(),
            retry: RetryPolicy::new("restore", Backoff::default()),
            local: Some(root.to_path_buf()),
        }
    }

    fn s3(&self) -> &Client {
        self.client.as_ref().expect("an S3 source has a client")
    }

    /// Where a key is, for the lines: `s3://bucket/key` or the path.
    pub fn url(&self, key: &str) -> String {
        match &self.local {
            Some(root) => root.join(key).display().to_string(),
            None => format!("s3://{}/{key}", self.bucket),
        }
    }

    /// Every object under `prefix` (a list prefix: empty or ending in `/`).
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, S3Failure> {
        if let Some(root) = &self.local {
            return local::list(root, prefix);
        }
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .retry
                .run(ATTEMPTS, || async {
                    self.s3()
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
        if let Some(root) = &self.local {
            return local::head(root, key);
        }
        let r = self
            .retry
            .run(ATTEMPTS, || async {
                self.s3()
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
        Ok(Some(head_of!(h)))
    }

    /// The size of part 1 of a multipart object (what the composite
    /// checksum was computed over), or None for a single-part object.
    pub async fn part_size(&self, key: &str) -> Result<Option<(u64, u32)>, S3Failure> {
        if self.local.is_some() {
            return Ok(None);
        }
        let h = self
            .retry
            .run(ATTEMPTS, || async {
                self.s3()
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
                self.s3()
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

    /// Open an object for reading: one GET whose answer carries what a HEAD
    /// would (storage class, checksums, metadata, version), so a download
    /// costs one request. None when there is no such object; a cold object
    /// that is not restored fails with the code `InvalidObjectState`.
    pub async fn open(&self, key: &str) -> Result<Option<Opened>, S3Failure> {
        if let Some(root) = &self.local {
            return local::open(root, key);
        }
        let r = self
            .retry
            .run(ATTEMPTS, || async {
                self.s3()
                    .get_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .checksum_mode(ChecksumMode::Enabled)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("GET {key}"), &e))
            })
            .await;
        let out = match r {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let head = head_of!(out);
        Ok(Some(Opened {
            head,
            body: Body::S3(out.body),
        }))
    }

    /// Stream the object's bytes to `sink`, chunk by chunk (memory stays
    /// at one chunk however large the object).
    pub async fn get(
        &self,
        key: &str,
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, S3Failure> {
        match self.open(key).await? {
            Some(opened) => opened.drain(key, sink).await,
            None => Err(S3Failure::local(
                archive_s3::ErrorKind::Permanent,
                format!("GET {key}: no such object"),
            )),
        }
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

/// An object being read: what its GET answered, and its bytes to come.
pub struct Opened {
    pub head: Head,
    body: Body,
}

enum Body {
    S3(aws_sdk_s3::primitives::ByteStream),
    Local(std::fs::File),
}

impl Opened {
    /// Stream the bytes to `sink`, chunk by chunk.
    pub async fn drain(
        self,
        key: &str,
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, S3Failure> {
        let mut stream = match self.body {
            Body::S3(s) => s,
            Body::Local(f) => return local::drain(f, key, sink),
        };
        let mut total = 0u64;
        loop {
            let chunk = stream.try_next().await.map_err(|e| {
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
}

/// True for the answer S3 gives a GET of a cold object not restored.
pub fn is_cold(e: &S3Failure) -> bool {
    e.code == "InvalidObjectState"
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

/// The same calls on a directory: no storage classes, no stored checksums
/// (the manifest is the only reference), and never through a symlink.
mod local {
    use super::{Head, Listed, S3Failure};
    use archive_s3::ErrorKind;
    use std::io::Read;
    use std::path::Path;

    fn failure(what: String) -> S3Failure {
        S3Failure::local(ErrorKind::Permanent, what)
    }

    pub fn list(root: &Path, prefix: &str) -> Result<Vec<Listed>, S3Failure> {
        let mut out = Vec::new();
        let mut stack = vec![(root.to_path_buf(), String::new())];
        while let Some((dir, rel)) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(failure(format!("listing {}: {e}", dir.display()))),
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let key = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                match e.file_type() {
                    Ok(t) if t.is_dir() => stack.push((e.path(), key)),
                    Ok(t)
                        if t.is_file()
                            && !archive_core::atomic::is_temp_name(&name)
                            && key.starts_with(prefix) =>
                    {
                        out.push(Listed { key })
                    }
                    _ => {}
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn regular(root: &Path, key: &str) -> Result<Option<std::path::PathBuf>, S3Failure> {
        let mut at = root.to_path_buf();
        for seg in key.split('/') {
            at.push(seg);
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => return Ok(None),
                Ok(_) => {}
                Err(_) => return Ok(None),
            }
        }
        Ok(std::fs::symlink_metadata(&at)
            .is_ok_and(|m| m.is_file())
            .then_some(at))
    }

    pub fn head(root: &Path, key: &str) -> Result<Option<Head>, S3Failure> {
        let Some(path) = regular(root, key)? else {
            return Ok(None);
        };
        let m =
            std::fs::metadata(&path).map_err(|e| failure(format!("{}: {e}", path.display())))?;
        Ok(Some(Head {
            bytes: m.len(),
            storage_class: "LOCAL".into(),
            ..Head::default()
        }))
    }

    pub fn open(root: &Path, key: &str) -> Result<Option<super::Opened>, S3Failure> {
        let Some(head) = head(root, key)? else {
            return Ok(None);
        };
        let path = regular(root, key)?
            .ok_or_else(|| failure(format!("{key}: no such file under {}", root.display())))?;
        let f =
            std::fs::File::open(&path).map_err(|e| failure(format!("{}: {e}", path.display())))?;
        Ok(Some(super::Opened {
            head,
            body: super::Body::Local(f),
        }))
    }

    pub fn drain(
        mut f: std::fs::File,
        key: &str,
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, S3Failure> {
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| failure(format!("reading {key}: {e}")))?;
            if n == 0 {
                return Ok(total);
            }
            sink(&buf[..n]).map_err(|e| failure(format!("writing the copy of {key}: {e}")))?;
            total += n as u64;
        }
    }
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
