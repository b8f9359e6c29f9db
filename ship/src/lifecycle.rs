//! `ship lifecycle`: one lifecycle rule for a prefix (transitions, expiry,
//! noncurrent-version expiry, abort of incomplete multipart uploads). The
//! bucket's other rules are kept; a rule with the same id is replaced.

use crate::config::LifecycleConfig;
use anyhow::{Context, Result};
use archive_core::report::RunReport;
use archive_core::Outcome;
use archive_s3::{classify, RetryPolicy, S3Failure};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
    Transition, TransitionStorageClass,
};
use serde_json::{json, Value};

pub fn run(cfg: LifecycleConfig) -> Result<Outcome> {
    let mut summary = RunReport::start("ship lifecycle").dry_run(cfg.dry_run);
    let result = apply_or_print(&cfg, &mut summary);
    crate::report::finish(&summary, result, cfg.summary.as_deref())
}

fn apply_or_print(cfg: &LifecycleConfig, summary: &mut RunReport) -> Result<Outcome> {
    let rule = rule_json(cfg);
    let rule_id = rule["ID"].as_str().unwrap_or_default().to_string();
    let (bucket, prefix) = (&cfg.url.bucket, &cfg.url.prefix);
    summary.set("bucket", bucket);
    summary.set("prefix", prefix);
    summary.set("rule_id", &rule_id);
    if cfg.dry_run {
        let config = json!({ "Rules": [rule] });
        println!("{}", serde_json::to_string_pretty(&config)?);
        eprintln!("ship lifecycle: rule {rule_id:?} for {}: planned", cfg.url);
        return Ok(Outcome::Complete);
    }
    archive_s3::client::runtime()?.block_on(apply(cfg, &rule))?;
    println!(
        "{}",
        json!({"url": cfg.url.to_string(), "bucket": bucket, "prefix": prefix, "rule_id": rule_id,
               "status": "applied", "rule": rule})
    );
    eprintln!("ship lifecycle: rule {rule_id:?} for {}: applied", cfg.url);
    Ok(Outcome::Complete)
}

/// The rule in the JSON shape of S3's API (and of
/// `aws s3api put-bucket-lifecycle-configuration`).
fn rule_json(cfg: &LifecycleConfig) -> Value {
    let transitions: Vec<Value> = cfg
        .transitions
        .iter()
        .map(|(days, class)| json!({"Days": days, "StorageClass": class}))
        .collect();
    let prefix = &cfg.url.prefix;
    let id = cfg.rule_id.clone().unwrap_or_else(|| {
        if prefix.is_empty() {
            "ship".to_string()
        } else {
            format!("ship-{prefix}")
        }
    });
    let mut rule = json!({
        "ID": id,
        "Status": "Enabled",
        "Filter": {"Prefix": cfg.url.list_prefix()},
    });
    if !transitions.is_empty() {
        rule["Transitions"] = Value::Array(transitions);
    }
    if let Some(d) = cfg.expire_days {
        rule["Expiration"] = json!({"Days": d});
    }
    if let Some(d) = cfg.noncurrent_expire_days {
        rule["NoncurrentVersionExpiration"] = json!({"NoncurrentDays": d});
    }
    if let Some(d) = cfg.abort_incomplete_days {
        rule["AbortIncompleteMultipartUpload"] = json!({"DaysAfterInitiation": d});
    }
    rule
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

async fn apply(cfg: &LifecycleConfig, rule: &Value) -> Result<()> {
    let bucket = cfg.url.bucket.as_str();
    let client = archive_s3::build_client(&cfg.client).await?;
    let place = archive_s3::preflight::Place::new(bucket, &cfg.client, &client);
    let needs =
        format!("s3:GetLifecycleConfiguration and s3:PutLifecycleConfiguration on bucket {bucket}");
    let remote = |f: S3Failure| archive_s3::preflight::fail(&f, &place, &needs);
    let retry = RetryPolicy::new("ship lifecycle", cfg.backoff);
    let attempts = cfg.backoff.max_attempts;
    let new_rule = to_sdk_rule(rule)?;
    // Keep the bucket's other rules: PutBucketLifecycleConfiguration
    // replaces the whole configuration.
    let mut rules: Vec<LifecycleRule> = retry
        .run(attempts, || async {
            match client
                .get_bucket_lifecycle_configuration()
                .bucket(bucket)
                .send()
                .await
            {
                Ok(out) => Ok(out.rules().to_vec()),
                Err(e) => {
                    let f = classify("GetBucketLifecycleConfiguration", &e);
                    match f.code == "NoSuchLifecycleConfiguration" {
                        true => Ok(Vec::new()),
                        false => Err(f),
                    }
                }
            }
        })
        .await
        .map_err(remote)?;
    rules.retain(|r| r.id() != new_rule.id());
    rules.push(new_rule);
    let config = BucketLifecycleConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .context("building the lifecycle configuration")?;
    retry
        .run(attempts, || async {
            client
                .put_bucket_lifecycle_configuration()
                .bucket(bucket)
                .lifecycle_configuration(config.clone())
                .send()
                .await
                .map_err(|e| classify("PutBucketLifecycleConfiguration", &e))
        })
        .await
        .map_err(remote)?;
    Ok(())
}
