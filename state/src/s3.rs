//! State in an S3 prefix, with conditional writes (S3 has honoured
//! If-None-Match and If-Match on PUT and DELETE since 2024).

use crate::model::{Tag, Written};
use anyhow::Result;
use archive_core::retry::Backoff;
use archive_core::s3url::S3Url;
use archive_s3::{classify, ErrorKind, RetryPolicy};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

const ATTEMPTS: u32 = 5;

pub struct S3Store {
    client: Client,
    url: S3Url,
    retry: RetryPolicy,
}

impl S3Store {
    pub async fn connect(url: S3Url, opts: &archive_s3::ClientOptions) -> Result<S3Store> {
        Ok(S3Store {
            client: archive_s3::build_client(opts).await?,
            url,
            retry: RetryPolicy::new("archive-state", Backoff::default()),
        })
    }

    pub fn describe(&self, name: &str) -> String {
        self.url.object_url(&self.url.key(name))
    }

    pub async fn list(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        let prefix = self.url.list_prefix();
        loop {
            let page = self
                .retry
                .run(ATTEMPTS, || async {
                    self.client
                        .list_objects_v2()
                        .bucket(&self.url.bucket)
                        .prefix(&prefix)
                        .set_continuation_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| classify(&format!("listing {}", self.url), &e))
                })
                .await
                .map_err(|e| e.into_error())?;
            for o in page.contents() {
                if let Some(rel) = o.key().and_then(|k| self.url.relative(k)) {
                    names.push(rel.to_string());
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) && token.as_deref() != Some(t) => {
                    token = Some(t.to_string())
                }
                _ => break,
            }
        }
        Ok(names)
    }

    pub async fn get(&self, name: &str) -> Result<Option<(Vec<u8>, Tag)>> {
        let key = self.url.key(name);
        let r = self
            .retry
            .run(ATTEMPTS, || async {
                let out = self
                    .client
                    .get_object()
                    .bucket(&self.url.bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("GET {}", self.describe(name)), &e))?;
                let tag = out.e_tag().unwrap_or_default().to_string();
                let bytes = out.body.collect().await.map_err(|e| {
                    archive_s3::S3Failure::local(
                        ErrorKind::Transient { unreachable: false },
                        format!("GET {}: {e}", self.describe(name)),
                    )
                })?;
                Ok((bytes.into_bytes().to_vec(), tag))
            })
            .await;
        match r {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into_error()),
        }
    }

    pub async fn put(&self, name: &str, bytes: &[u8], expect: Option<&Tag>) -> Result<Written> {
        let key = self.url.key(name);
        let r = self
            .retry
            .run(ATTEMPTS, || async {
                let mut req = self
                    .client
                    .put_object()
                    .bucket(&self.url.bucket)
                    .key(&key)
                    .content_type("application/json")
                    .body(ByteStream::from(bytes.to_vec()));
                req = match expect {
                    None => req.if_none_match("*"),
                    Some(tag) => req.if_match(tag),
                };
                req.send()
                    .await
                    .map_err(|e| classify(&format!("PUT {}", self.describe(name)), &e))
            })
            .await;
        conditional(r.map(|o| o.e_tag().unwrap_or_default().to_string()))
    }

    pub async fn delete(&self, name: &str, expect: &Tag) -> Result<Written> {
        let key = self.url.key(name);
        let r = self
            .retry
            .run(ATTEMPTS, || async {
                self.client
                    .delete_object()
                    .bucket(&self.url.bucket)
                    .key(&key)
                    .if_match(expect)
                    .send()
                    .await
                    .map_err(|e| classify(&format!("DELETE {}", self.describe(name)), &e))
            })
            .await;
        conditional(r.map(|_| String::new()))
    }
}

/// 412 (and 409, a concurrent conditional write) are conflicts, not errors.
fn conditional(r: Result<Tag, archive_s3::S3Failure>) -> Result<Written> {
    match r {
        Ok(tag) => Ok(Written::Done(tag)),
        // A 404 for the bucket is a configuration error, not a lost race.
        Err(e) if e.code == "NoSuchBucket" => Err(e.into_error()),
        Err(e) if e.kind == ErrorKind::Exists || e.status == Some(409) => Ok(Written::Conflict),
        // Deleting what is already gone: someone else released or took it.
        Err(e) if e.is_not_found() => Ok(Written::Conflict),
        Err(e) => Err(e.into_error()),
    }
}
