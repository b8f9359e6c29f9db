//! Flags turned into validated settings, and the S3 client built from the
//! standard AWS configuration chain.

use crate::args::ShipArgs;
use crate::dest::{storage_class, STORAGE_CLASSES};
use anyhow::Result;
use archive_core::Failure;
use chrono::{DateTime, NaiveDate, Utc};
use std::time::Duration;

/// S3 refuses parts smaller than this (except the last one).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3 refuses multipart uploads with more parts than this.
pub const MAX_PARTS: u64 = 10_000;

/// What to do when the key already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clobber {
    /// Keep it and report "skipped" (If-None-Match: *).
    Refuse,
    /// Replace it.
    Overwrite,
    /// Replace it only when its SHA-256 differs.
    Update,
}

/// Settings for every object of a run.
#[derive(Debug, Clone)]
pub struct PutOptions {
    pub storage_class: Option<String>,
    pub manifest_storage_class: String,
    pub sse: Option<String>,
    pub sse_kms_key_id: Option<String>,
    pub lock_mode: Option<String>,
    pub retain_until: Option<DateTime<Utc>>,
    pub legal_hold: bool,
    pub clobber: Clobber,
    pub part_size: u64,
    pub part_concurrency: usize,
    pub multipart_threshold: u64,
}

impl PutOptions {
    pub fn from_args(a: &ShipArgs) -> Result<PutOptions> {
        let data_class = a
            .storage_class
            .as_deref()
            .map(|c| storage_class("--storage-class", c, STORAGE_CLASSES))
            .transpose()?;
        let manifest_storage_class = storage_class(
            "--manifest-storage-class",
            &a.manifest_storage_class,
            STORAGE_CLASSES,
        )?;
        let sse = match a.sse.as_deref() {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("AES256") => Some("AES256".to_string()),
            Some(s) if s.eq_ignore_ascii_case("aws:kms") => Some("aws:kms".to_string()),
            Some(s) => {
                return Err(Failure::usage(format!(
                    "--sse {s:?}: expected AES256 or aws:kms"
                )))
            }
        };
        if a.sse_kms_key_id.is_some() && sse.as_deref() != Some("aws:kms") {
            return Err(Failure::usage("--sse-kms-key-id needs --sse aws:kms"));
        }
        let lock_mode = match a.object_lock_mode.as_deref() {
            None => None,
            Some(m) if m.eq_ignore_ascii_case("GOVERNANCE") => Some("GOVERNANCE".to_string()),
            Some(m) if m.eq_ignore_ascii_case("COMPLIANCE") => Some("COMPLIANCE".to_string()),
            Some(m) => {
                return Err(Failure::usage(format!(
                    "--object-lock-mode {m:?}: expected GOVERNANCE or COMPLIANCE"
                )))
            }
        };
        let retain_until = match (&a.retain_until, a.retain_days) {
            (Some(d), _) => Some(parse_date("--retain-until", d)?),
            (None, Some(n)) => Some(Utc::now() + chrono::Duration::days(i64::from(n))),
            (None, None) => None,
        };
        if lock_mode.is_some() != retain_until.is_some() {
            return Err(Failure::usage(
                "--object-lock-mode needs --retain-until or --retain-days, and they need it",
            ));
        }
        if retain_until.is_some_and(|t| t <= Utc::now()) {
            return Err(Failure::usage("--retain-until is in the past"));
        }
        let clobber = if a.overwrite {
            Clobber::Overwrite
        } else if a.update {
            Clobber::Update
        } else {
            Clobber::Refuse
        };
        let part_size = parse_size("--part-size", &a.part_size)?;
        if part_size < MIN_PART_SIZE {
            return Err(Failure::usage(format!(
                "--part-size {}: S3 needs at least 5MiB",
                a.part_size
            )));
        }
        let multipart_threshold = parse_size("--multipart-threshold", &a.multipart_threshold)?;
        if a.jobs == 0 || a.part_concurrency == 0 {
            return Err(Failure::usage(
                "--jobs and --part-concurrency must be at least 1",
            ));
        }
        Ok(PutOptions {
            storage_class: data_class,
            manifest_storage_class,
            sse,
            sse_kms_key_id: a.sse_kms_key_id.clone(),
            lock_mode,
            retain_until,
            legal_hold: a.legal_hold,
            clobber,
            part_size,
            part_concurrency: a.part_concurrency,
            multipart_threshold,
        })
    }

    /// True when a flag that only S3 understands was given.
    pub fn uses_s3_only_features(&self) -> bool {
        self.storage_class.is_some()
            || self.sse.is_some()
            || self.lock_mode.is_some()
            || self.legal_hold
    }

    /// The part size for a file of `bytes`: the configured one, raised (to a
    /// whole MiB) so the upload needs at most 10,000 parts.
    pub fn part_size_for(&self, bytes: u64) -> u64 {
        let needed = bytes.div_ceil(MAX_PARTS);
        let mib = 1024 * 1024;
        self.part_size.max(needed.div_ceil(mib) * mib)
    }
}

/// `123`, `16MiB`, `8MB`, `1GiB`, `512KB`.
pub fn parse_size(flag: &str, s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| Failure::usage(format!("{flag} {s:?}: not a size")))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => {
            return Err(Failure::usage(format!(
                "{flag} {s:?}: unknown unit {other:?} (use KB, MB, GB, KiB, MiB, GiB)"
            )))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| Failure::usage(format!("{flag} {s:?}: too large")))
}

/// `YYYY-MM-DD` (UTC midnight) or an RFC 3339 time.
pub fn parse_date(flag: &str, s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(Failure::usage(format!(
        "{flag} {s:?}: expected YYYY-MM-DD or an RFC 3339 time"
    )))
}

/// An S3 client from the standard credential and region chain. SDK retries
/// are off (see `retry.rs`); path-style addressing for custom endpoints,
/// which S3-compatible servers expect; request checksums only when we send
/// them ourselves. Credentials are resolved once here so that a machine
/// without any fails at once with a configuration error (exit 2) instead
/// of retrying every upload as if S3 were down.
pub async fn s3_client(
    endpoint: Option<&str>,
    region: Option<&str>,
) -> anyhow::Result<aws_sdk_s3::Client> {
    use aws_config::{retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, Region};
    use aws_credential_types::provider::ProvideCredentials;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::disabled())
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(120))
                .build(),
        );
    if let Some(e) = endpoint {
        loader = loader.endpoint_url(e);
    }
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    let shared = loader.load().await;
    let creds = match shared.credentials_provider() {
        Some(p) => p.provide_credentials().await.map_err(|e| e.to_string()),
        None => Err("no credential provider configured".to_string()),
    };
    if let Err(e) = creds {
        return Err(Failure::usage(format!(
            "no AWS credentials found ({e}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
             AWS_PROFILE, or run with an instance or task role"
        )));
    }
    let mut conf = aws_sdk_s3::config::Builder::from(&shared);
    if endpoint.is_some() {
        conf = conf.force_path_style(true);
    }
    if shared.region().is_none() {
        // S3 needs some region to sign with; us-east-1 is what the CLI assumes.
        conf = conf.region(Region::new("us-east-1"));
    }
    Ok(aws_sdk_s3::Client::from_conf(conf.build()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_dates() {
        assert_eq!(parse_size("x", "16MiB").unwrap(), 16 << 20);
        assert_eq!(parse_size("x", "8MB").unwrap(), 8_000_000);
        assert_eq!(parse_size("x", "1234").unwrap(), 1234);
        assert!(parse_size("x", "12 parsecs").is_err());
        assert_eq!(
            parse_date("x", "2030-01-02").unwrap().to_rfc3339(),
            "2030-01-02T00:00:00+00:00"
        );
        assert!(parse_date("x", "next tuesday").is_err());
    }

    #[test]
    fn part_size_raised_to_stay_under_10000_parts() {
        let opts = PutOptions {
            storage_class: None,
            manifest_storage_class: "STANDARD".into(),
            sse: None,
            sse_kms_key_id: None,
            lock_mode: None,
            retain_until: None,
            legal_hold: false,
            clobber: Clobber::Refuse,
            part_size: 8 << 20,
            part_concurrency: 4,
            multipart_threshold: 16 << 20,
        };
        assert_eq!(opts.part_size_for(100 << 20), 8 << 20);
        let huge = 5u64 << 40; // 5 TiB, S3's largest object
        let ps = opts.part_size_for(huge);
        assert!(huge.div_ceil(ps) <= MAX_PARTS, "{ps}");
        assert_eq!(ps % (1 << 20), 0);
    }
}
