//! `ship abort-incomplete s3://bucket/prefix`: the multipart uploads that
//! killed runs left open (S3 bills their parts until they are aborted). By
//! default it only lists them (`"status":"planned"`); `--apply` aborts each.
//! Uploads younger than `--older-than-hours` are left alone, so a ship still
//! running keeps its own.

use crate::config::AbortConfig;
use anyhow::Result;
use archive_core::io::LineOut;
use archive_core::report::RunReport;
use archive_core::{Failure, Outcome};
use archive_s3::{classify, RetryPolicy, S3Failure};
use chrono::{DateTime, Utc};
use serde_json::json;

/// One incomplete upload.
struct Upload {
    key: String,
    upload_id: String,
    initiated: Option<DateTime<Utc>>,
}

pub fn run(cfg: AbortConfig) -> Result<Outcome> {
    let mut summary = RunReport::start("ship abort-incomplete").dry_run(!cfg.apply);
    summary.set("url", cfg.url.to_string());
    let result = archive_s3::client::runtime()?.block_on(list_and_abort(&cfg, &mut summary));
    crate::report::finish(&summary, result, cfg.summary.as_deref())
}

async fn list_and_abort(cfg: &AbortConfig, summary: &mut RunReport) -> Result<Outcome> {
    let client = archive_s3::build_client(&cfg.client).await?;
    let retry = RetryPolicy::new("ship", cfg.backoff);
    let place = archive_s3::preflight::Place::new(&cfg.url.bucket, &cfg.client, &client);
    let uploads = list(&client, &retry, cfg).await.map_err(|f| {
        let needs = format!("s3:ListBucketMultipartUploads on bucket {}", cfg.url.bucket);
        archive_s3::preflight::fail(&f, &place, &needs)
    })?;
    let cutoff = Utc::now() - cfg.older_than;
    let mut out = LineOut::new();
    let (mut listed, mut aborted, mut failed, mut younger) = (0u64, 0u64, 0u64, 0u64);
    for u in uploads {
        if u.initiated.is_some_and(|t| t > cutoff) {
            younger += 1;
            continue;
        }
        listed += 1;
        let (status, error) = if cfg.apply {
            match crate::s3::abort_upload(&client, &retry, &cfg.url.bucket, &u.key, &u.upload_id)
                .await
            {
                Ok(()) => ("aborted", None),
                Err(e) => ("failed", Some(e.message)),
            }
        } else {
            ("planned", None)
        };
        match status {
            "aborted" => aborted += 1,
            "failed" => failed += 1,
            _ => {}
        }
        let mut line = json!({
            "url": cfg.url.object_url(&u.key), "key": u.key, "upload_id": u.upload_id,
            "initiated": u.initiated.map(crate::spool::rfc3339), "status": status,
        });
        if let Some(e) = error {
            eprintln!("ship: {}: abort of {} failed: {e}", u.key, u.upload_id);
            line["error"] = e.into();
        }
        out.json(&line)?;
    }
    out.flush()?;
    eprintln!(
        "ship abort-incomplete: {listed} incomplete upload(s) under {} ({aborted} aborted, {failed} failed{}); {younger} younger than {}h left alone",
        cfg.url,
        if cfg.apply { "" } else { ", dry run: add --apply to abort them" },
        cfg.older_than.num_hours()
    );
    for (k, v) in [
        ("uploads", listed),
        ("aborted", aborted),
        ("failed", failed),
        ("younger", younger),
    ] {
        summary.set(k, v);
    }
    if failed > 0 {
        return Err(Failure::remote(format!(
            "{failed} upload(s) could not be aborted"
        )));
    }
    Ok(Outcome::Complete)
}

/// Every incomplete upload under the prefix, page by page; the markers
/// must move, or a misbehaving server would loop us forever.
async fn list(
    client: &aws_sdk_s3::Client,
    retry: &RetryPolicy,
    cfg: &AbortConfig,
) -> Result<Vec<Upload>, S3Failure> {
    let mut found = Vec::new();
    let mut markers: (Option<String>, Option<String>) = (None, None);
    loop {
        let page = retry
            .run(retry.backoff.max_attempts, || {
                let req = client
                    .list_multipart_uploads()
                    .bucket(&cfg.url.bucket)
                    .prefix(cfg.url.list_prefix())
                    .set_key_marker(markers.0.clone())
                    .set_upload_id_marker(markers.1.clone());
                async move {
                    req.send()
                        .await
                        .map_err(|e| classify("ListMultipartUploads", &e))
                }
            })
            .await?;
        for u in page.uploads() {
            found.push(Upload {
                key: u.key().unwrap_or_default().to_string(),
                upload_id: u.upload_id().unwrap_or_default().to_string(),
                initiated: u
                    .initiated()
                    .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())),
            });
        }
        if page.is_truncated() != Some(true) {
            return Ok(found);
        }
        let next = (
            page.next_key_marker().map(str::to_string),
            page.next_upload_id_marker().map(str::to_string),
        );
        if next == markers || next.0.is_none() {
            return Err(S3Failure::local(
                archive_s3::ErrorKind::Permanent,
                "ListMultipartUploads: a truncated page without a new marker",
            ));
        }
        markers = next;
    }
}
