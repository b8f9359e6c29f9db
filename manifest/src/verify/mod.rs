//! `manifest verify DIR|s3://bucket/prefix`: compare what is there with
//! what the manifests say, one NDJSON line per difference. `compare` holds
//! what both places share; `local` and `s3` read each kind of place.

pub mod compare;
pub mod local;
pub mod s3;

use crate::model::{VerifyConfig, VerifyTarget};
use anyhow::Result;
use archive_core::Outcome;
use serde_json::Value;
use std::collections::BTreeMap;

/// The findings for one target, sorted by path.
pub fn findings(target: &VerifyTarget, cfg: &VerifyConfig) -> Result<Vec<Value>> {
    let key = cfg.public_key.as_deref();
    match target {
        VerifyTarget::Local(dir) => local::verify_dir(dir, key),
        VerifyTarget::S3(url) => s3::verify(url, cfg),
    }
}

/// `manifest verify`: each target's findings, printed as they come.
pub fn run_all(cfg: &VerifyConfig, counts: &mut BTreeMap<String, u64>) -> Result<Outcome> {
    let mut out = archive_core::io::LineOut::new();
    for target in &cfg.targets {
        for f in findings(target, cfg)? {
            let status = f["status"].as_str().unwrap_or("").to_string();
            if !compare::is_match(&status) || cfg.all {
                out.json(&f)?;
            }
            *counts.entry(status).or_default() += 1;
        }
    }
    out.flush()?;
    let differences = counts.keys().any(|s| compare::is_difference(s));
    Ok(if differences {
        Outcome::Partial
    } else {
        Outcome::Complete
    })
}
