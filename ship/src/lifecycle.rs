//! `ship lifecycle`: one lifecycle rule for a prefix (transitions, expiry,
//! noncurrent-version expiry, abort of incomplete multipart uploads). The
//! bucket's other rules are kept; a rule with the same id is replaced.

use crate::args::LifecycleArgs;
use crate::dest::{storage_class, Destination, TRANSITION_CLASSES};
use crate::retry::{classify, ErrorKind};
use anyhow::{Context, Result};
use archive_core::{Failure, Outcome};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
    Transition, TransitionStorageClass,
};
use serde_json::{json, Value};

pub fn run(args: LifecycleArgs) -> Result<Outcome> {
    let (bucket, prefix) = match Destination::parse(&args.url)? {
        Destination::S3 { bucket, prefix } => (bucket, prefix),
        Destination::Local(..) => {
            return Err(Failure::usage(format!(
                "{}: lifecycle rules need an s3:// URL",
                args.url
            )))
        }
    };
    let rule = rule_json(&args, &prefix)?;
    let rule_id = rule["ID"].as_str().unwrap_or_default().to_string();
    if args.dry_run {
        let config = json!({ "Rules": [rule] });
        println!("{}", serde_json::to_string_pretty(&config)?);
        write_summary(&args, &bucket, &prefix, &rule_id, "planned")?;
        return Ok(Outcome::Complete);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(apply(&args, &bucket, &rule))?;
    println!(
        "{}",
        json!({"url": args.url, "bucket": bucket, "prefix": prefix, "rule_id": rule_id,
               "status": "applied", "rule": rule})
    );
    write_summary(&args, &bucket, &prefix, &rule_id, "applied")?;
    Ok(Outcome::Complete)
}

fn write_summary(
    args: &LifecycleArgs,
    bucket: &str,
    prefix: &str,
    id: &str,
    status: &str,
) -> Result<()> {
    eprintln!("ship lifecycle: rule {id:?} for s3://{bucket}/{prefix}: {status}");
    if let Some(p) = &args.summary {
        let s = json!({"tool": "ship lifecycle", "bucket": bucket, "prefix": prefix,
                       "rule_id": id, "status": status, "dry_run": args.dry_run});
        archive_core::atomic::write_file(p, format!("{s}\n").as_bytes())?;
    }
    Ok(())
}

/// The rule in the JSON shape of S3's API (and of
/// `aws s3api put-bucket-lifecycle-configuration`).
fn rule_json(args: &LifecycleArgs, prefix: &str) -> Result<Value> {
    let mut transitions = Vec::new();
    for t in &args.transition {
        let (days, class) = t.split_once(':').ok_or_else(|| {
            Failure::usage(format!(
                "--transition {t:?}: expected DAYS:CLASS, e.g. 90:GLACIER_IR"
            ))
        })?;
        let days: u32 = days
            .parse()
            .map_err(|_| Failure::usage(format!("--transition {t:?}: DAYS is not a number")))?;
        let class = storage_class("--transition", class, TRANSITION_CLASSES)?;
        transitions.push(json!({"Days": days, "StorageClass": class}));
    }
    if transitions.is_empty()
        && args.expire_days.is_none()
        && args.noncurrent_expire_days.is_none()
        && args.abort_incomplete_days.is_none()
    {
        return Err(Failure::usage(
            "nothing to apply: give --transition, --expire-days, --noncurrent-expire-days or --abort-incomplete-days",
        ));
    }
    let id = args.rule_id.clone().unwrap_or_else(|| {
        if prefix.is_empty() {
            "ship".to_string()
        } else {
            format!("ship-{prefix}")
        }
    });
    let filter_prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let mut rule = json!({
        "ID": id,
        "Status": "Enabled",
        "Filter": {"Prefix": filter_prefix},
    });
    if !transitions.is_empty() {
        rule["Transitions"] = Value::Array(transitions);
    }
    if let Some(d) = args.expire_days {
        rule["Expiration"] = json!({"Days": d});
    }
    if let Some(d) = args.noncurrent_expire_days {
        rule["NoncurrentVersionExpiration"] = json!({"NoncurrentDays": d});
    }
    if let Some(d) = args.abort_incomplete_days {
        rule["AbortIncompleteMultipartUpload"] = json!({"DaysAfterInitiation": d});
    }
    Ok(rule)
}

fn to_sdk_rule(rule: &Value) -> Result<LifecycleRule> {
    let i32_of = |v: &Value| v.as_i64().unwrap_or_default() as i32;
    let mut b = LifecycleRule::builder()
        .id(rule["ID"].as_str().unwrap_or_default())
        .status(ExpirationStatus::Enabled)
        .filter(
            LifecycleRuleFilter::builder()
                .prefix(rule["Filter"]["Prefix"].as_str().unwrap_or_default())
                .build(),
        );
    if let Some(ts) = rule["Transitions"].as_array() {
        for t in ts {
            b = b.transitions(
                Transition::builder()
                    .days(i32_of(&t["Days"]))
                    .storage_class(TransitionStorageClass::from(
                        t["StorageClass"].as_str().unwrap_or_default(),
                    ))
                    .build(),
            );
        }
    }
    if let Some(d) = rule.get("Expiration") {
        b = b.expiration(
            LifecycleExpiration::builder()
                .days(i32_of(&d["Days"]))
                .build(),
        );
    }
    if let Some(d) = rule.get("NoncurrentVersionExpiration") {
        b = b.noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(i32_of(&d["NoncurrentDays"]))
                .build(),
        );
    }
    if let Some(d) = rule.get("AbortIncompleteMultipartUpload") {
        b = b.abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(i32_of(&d["DaysAfterInitiation"]))
                .build(),
        );
    }
    b.build().context("building the lifecycle rule")
}

async fn apply(args: &LifecycleArgs, bucket: &str, rule: &Value) -> Result<()> {
    let client =
        crate::options::s3_client(args.endpoint_url.as_deref(), args.region.as_deref()).await?;
    let new_rule = to_sdk_rule(rule)?;
    // Keep the bucket's other rules: PutBucketLifecycleConfiguration
    // replaces the whole configuration.
    let mut rules: Vec<LifecycleRule> = match client
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => out.rules().to_vec(),
        Err(e) => {
            let f = classify("GetBucketLifecycleConfiguration", &e);
            let none = e
                .as_service_error()
                .and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::code(s))
                == Some("NoSuchLifecycleConfiguration");
            if !none {
                return Err(remote(f));
            }
            Vec::new()
        }
    };
    rules.retain(|r| r.id() != new_rule.id());
    rules.push(new_rule);
    client
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .context("building the lifecycle configuration")?,
        )
        .send()
        .await
        .map_err(|e| remote(classify("PutBucketLifecycleConfiguration", &e)))?;
    Ok(())
}

fn remote(f: crate::retry::S3Failure) -> anyhow::Error {
    match f.kind {
        ErrorKind::Permanent if f.message.contains("HTTP 4") => Failure::remote(format!(
            "{} (check the bucket name and permissions)",
            f.message
        )),
        _ => Failure::remote(f.message),
    }
}
