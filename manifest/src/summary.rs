//! The run summary: one line on stderr, and with `--summary FILE` the same
//! facts as JSON, written atomically, so cron wrappers can detect loss.

use anyhow::Result;
use serde_json::Value;
use std::path::Path;

pub fn finish(line: &str, json: &Value, file: Option<&Path>) -> Result<()> {
    eprintln!("manifest: {line}");
    if let Some(path) = file {
        let mut text = serde_json::to_string_pretty(json)?;
        text.push('\n');
        archive_core::atomic::write_file(path, text.as_bytes())?;
    }
    Ok(())
}
