//! Flags to configuration: the only module that sees clap's types. What
//! can be checked without touching the file system is checked here, so a
//! bad combination is a usage error (exit 2) before any work starts.

use crate::cli::{Cli, Command, JsonFormatArg, VerifyArgs, WriteArgs};
use crate::model::{Config, JsonFormat, VerifyConfig, VerifyTarget, WriteConfig};
use anyhow::Result;
use archive_core::s3url::S3Url;
use archive_core::Failure;
use std::path::PathBuf;

/// The configuration of this run.
pub fn from_cli(cli: Cli) -> Result<Config> {
    match cli.command {
        Some(Command::Verify(args)) => Ok(Config::Verify(verify(args)?)),
        None => Ok(Config::Write(write(cli.write)?)),
    }
}

/// The billing specification's defaults.
const BILLING_SPEC_RETENTION_YEARS: u32 = 10;
const BILLING_SPEC_COMPLIANCE: &[&str] = &["EU_AI_Act", "Financial_Audit"];

fn write(a: WriteArgs) -> Result<WriteConfig> {
    if a.group_by.is_some() && a.bagit {
        return Err(Failure::usage(
            "--group-by and --bagit cannot be combined: a bag is one directory",
        ));
    }
    if a.group_by.is_some() && !a.root.is_empty() {
        return Err(Failure::usage(
            "--group-by needs file lines on stdin (a walked --root has no fields to group by)",
        ));
    }
    let s3_prefix = a
        .s3_prefix
        .as_deref()
        .map(|u| S3Url::parse(u).map_err(|e| Failure::usage(format!("--s3-prefix {e}"))))
        .transpose()?;
    let spec = a.json_format == JsonFormatArg::BillingSpec;
    let compliance = if spec && a.compliance.is_empty() {
        BILLING_SPEC_COMPLIANCE
            .iter()
            .map(|t| t.to_string())
            .collect()
    } else {
        a.compliance
    };
    if let Some(t) = compliance.iter().find(|t| t.trim().is_empty()) {
        return Err(Failure::usage(format!(
            "--compliance {t:?}: an empty label"
        )));
    }
    Ok(WriteConfig {
        input: a.input,
        roots: a.root,
        group_by: a.group_by,
        period: a.period,
        retention_years: a
            .retention_years
            .or(spec.then_some(BILLING_SPEC_RETENTION_YEARS)),
        compliance,
        schema_version: a.schema_version,
        s3_prefix,
        key_prefix: a.key_prefix.map(|p| p.trim_matches('/').to_string()),
        json_format: if spec {
            JsonFormat::BillingSpec
        } else {
            JsonFormat::Toolkit
        },
        bagit: a.bagit,
        external_identifier: a.external_identifier,
        sign: a.sign,
        trust_unchanged: a.trust_unchanged,
        accept_changes: a.accept_changes,
        keep_absent: a.keep_absent,
        dry_run: a.dry_run,
        summary: a.summary,
        jobs: a.jobs,
        follow_internal_links: a.follow_internal_links,
        allow_system_root: a.allow_system_root,
    })
}

fn verify(a: VerifyArgs) -> Result<VerifyConfig> {
    let targets = a
        .targets
        .iter()
        .map(|t| {
            if S3Url::is_s3(t) {
                S3Url::parse(t)
                    .map(VerifyTarget::S3)
                    .map_err(Failure::usage)
            } else {
                Ok(VerifyTarget::Local(PathBuf::from(t)))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(VerifyConfig {
        targets,
        shown: a.targets,
        download: a.download,
        all: a.all,
        public_key: a.public_key,
        identity: a.identity,
        endpoint_url: a.endpoint_url,
        region: a.region,
        jobs: a.jobs.max(1),
        summary: a.summary,
    })
}
