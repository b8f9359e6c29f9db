//! The run summary every tool writes: one JSON object with the same common
//! fields everywhere (`tool`, `status`, `exit_code`, `elapsed_s`, `started`,
//! `finished`, and `error` when it failed) plus the tool's own counts, kept
//! at the top level so `jq .records` works on any of them.
//!
//! The summary is written on failure too: a cron wrapper that finds
//! `"status":"failed"` knows the run ended, and why; one that finds the
//! previous run's file untouched knows nothing, which is why callers should
//! write it from the one place every exit goes through.

use crate::exit::{exit_code, Outcome};
use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::Path;
use std::time::Instant;

/// A run in progress: when it started, and the counts gathered so far.
#[derive(Debug)]
pub struct RunReport {
    tool: String,
    started_at: DateTime<Utc>,
    started: Instant,
    dry_run: bool,
    fields: Map<String, Value>,
}

/// `ok`, `partial`, `failed`, or `planned` for a dry run that succeeded.
pub fn status_name(result: &Result<Outcome>, dry_run: bool) -> &'static str {
    match result {
        Err(e) if exit_code(e) == crate::exit::SUCCESS => "ok",
        Err(_) => "failed",
        Ok(Outcome::Partial) => "partial",
        Ok(Outcome::Complete) if dry_run => "planned",
        Ok(Outcome::Complete) => "ok",
    }
}

impl RunReport {
    /// Start the clock for `tool` (the name as users type it, e.g.
    /// `"manifest verify"`).
    pub fn start(tool: &str) -> RunReport {
        RunReport {
            tool: tool.to_string(),
            started_at: Utc::now(),
            started: Instant::now(),
            dry_run: false,
            fields: Map::new(),
        }
    }

    /// Mark the run as a dry run: a success is then `"planned"`.
    pub fn dry_run(mut self, dry_run: bool) -> RunReport {
        self.dry_run = dry_run;
        self
    }

    /// Set a tool-specific field (a count, a path, a flag).
    pub fn set(&mut self, key: &str, value: impl Serialize) {
        let v = serde_json::to_value(value).unwrap_or(Value::Null);
        self.fields.insert(key.to_string(), v);
    }

    /// Seconds since the start, rounded to milliseconds.
    pub fn elapsed_s(&self) -> f64 {
        (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
    }

    /// The summary object for a run that ended with `result`.
    pub fn to_json(&self, result: &Result<Outcome>) -> Value {
        let mut out = Map::new();
        out.insert("tool".into(), Value::from(self.tool.as_str()));
        out.insert(
            "status".into(),
            Value::from(status_name(result, self.dry_run)),
        );
        let code = match result {
            Ok(Outcome::Complete) => crate::exit::SUCCESS,
            Ok(Outcome::Partial) => crate::exit::PARTIAL,
            Err(e) => exit_code(e),
        };
        out.insert("exit_code".into(), Value::from(code));
        out.insert("elapsed_s".into(), Value::from(self.elapsed_s()));
        out.insert("started".into(), Value::from(rfc3339(self.started_at)));
        out.insert("finished".into(), Value::from(rfc3339(Utc::now())));
        out.insert("dry_run".into(), Value::from(self.dry_run));
        if let Err(e) = result {
            if code != crate::exit::SUCCESS {
                out.insert("error".into(), Value::from(format!("{e:#}")));
            }
        }
        for (k, v) in &self.fields {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(out)
    }

    /// Write the summary to `path` (atomically, pretty-printed), when a path
    /// was given. Returns the summary either way.
    pub fn write(&self, result: &Result<Outcome>, path: Option<&Path>) -> Result<Value> {
        let summary = self.to_json(result);
        if let Some(path) = path {
            let mut text = serde_json::to_vec_pretty(&summary).expect("a JSON value serialises");
            text.push(b'\n');
            crate::atomic::write_file(path, &text)
                .with_context(|| format!("writing the summary {}", path.display()))?;
        }
        Ok(summary)
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Failure;

    #[test]
    fn common_fields_and_counts() {
        let mut r = RunReport::start("demo");
        r.set("records", 7u64);
        r.set("status", "not allowed to override");
        let v = r.to_json(&Ok(Outcome::Complete));
        assert_eq!(v["tool"], "demo");
        assert_eq!(v["status"], "ok");
        assert_eq!(v["exit_code"], 0);
        assert_eq!(v["records"], 7);
        assert!(v["started"].as_str().unwrap().ends_with('Z'));
        assert!(v["elapsed_s"].as_f64().unwrap() >= 0.0);
        assert!(v.get("error").is_none());
    }

    #[test]
    fn failures_are_reported_with_code_and_message() {
        let r = RunReport::start("demo").dry_run(true);
        let v = r.to_json(&Err(Failure::remote("S3 said 503")));
        assert_eq!(
            (v["status"].as_str(), v["exit_code"].as_i64()),
            (Some("failed"), Some(4))
        );
        assert_eq!(v["error"], "S3 said 503");
        assert_eq!(r.to_json(&Ok(Outcome::Complete))["status"], "planned");
        assert_eq!(r.to_json(&Ok(Outcome::Partial))["exit_code"], 1);
    }

    #[test]
    fn written_atomically_when_asked() {
        let dir = std::env::temp_dir().join(format!("report-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.json");
        RunReport::start("demo")
            .write(&Ok(Outcome::Complete), Some(&path))
            .unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["tool"], "demo");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
