//! Logs Platform files: events of one type grouped into JSONL files by time
//! window, each listed with `end_time`, `file_size` and `file_sha256`.
//! Delivery is at least once, so a small share of events is repeated in the
//! next file, as the real service may do.

use crate::gen::iso;
use crate::rng::Rng;
use anyhow::{bail, Result};
use bytes::Bytes;
use serde_json::{json, Value};

/// One published log file.
pub struct LogFile {
    pub id: String,
    pub event_type: String,
    /// Microseconds since the epoch; strictly increasing within a type.
    pub end_micros: i64,
    pub file_name: String,
    pub body: Bytes,
    pub sha256: String,
    /// Latest event timestamp in the file, microseconds.
    pub max_event_micros: i64,
}

impl LogFile {
    pub fn new(event_type: &str, index: usize, end_micros: i64, events: &[Value]) -> LogFile {
        let mut body = Vec::new();
        let mut max_event_micros = i64::MIN;
        for e in events {
            serde_json::to_writer(&mut body, e).expect("serialising an event");
            body.push(b'\n');
            max_event_micros = max_event_micros.max(event_micros(e).unwrap_or(i64::MIN));
        }
        let end = iso(end_micros as f64 / 1e6);
        let stamp: String = end
            .chars()
            .filter(|c| c.is_ascii_digit())
            .take(14)
            .collect();
        let id = format!("log_{}_{stamp}_{index:05}", event_type.to_lowercase());
        LogFile {
            file_name: format!("{id}.jsonl"),
            id,
            event_type: event_type.to_string(),
            end_micros,
            sha256: archive_core::hash::sha256_hex(&body),
            body: Bytes::from(body),
            max_event_micros,
        }
    }

    pub fn end_time(&self) -> String {
        iso(self.end_micros as f64 / 1e6)
    }

    /// The object the list endpoint returns for this file.
    pub fn listing(&self, reported_sha256: &str) -> Value {
        json!({
            "id": self.id,
            "event_type": self.event_type,
            "end_time": self.end_time(),
            "file_name": self.file_name,
            "file_size": self.body.len(),
            "file_sha256": reported_sha256,
        })
    }
}

/// The event's `timestamp` in microseconds.
pub fn event_micros(e: &Value) -> Result<i64> {
    let Some(s) = e["timestamp"].as_str() else {
        bail!("event has no \"timestamp\" string");
    };
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|err| anyhow::anyhow!("timestamp {s:?} is not RFC 3339: {err}"))?;
    Ok(t.timestamp_micros())
}

/// Group time-ordered events into files of `window_secs` each. The first
/// file gets index `first_index` and an end time after `after_micros`.
pub fn bucket(
    event_type: &str,
    events: &[Value],
    window_secs: i64,
    duplicate_pct: f64,
    rng: &mut Rng,
    first_index: usize,
    after_micros: i64,
) -> Result<Vec<LogFile>> {
    let window = window_secs.max(1) * 1_000_000;
    let mut groups: Vec<Vec<Value>> = Vec::new();
    let mut current_key = None;
    for e in events {
        let key = event_micros(e)?.div_euclid(window);
        if current_key != Some(key) {
            groups.push(Vec::new());
            current_key = Some(key);
        }
        groups.last_mut().unwrap().push(e.clone());
    }
    // At-least-once delivery: some events of a file come again in the next.
    for k in 1..groups.len() {
        let repeats: Vec<Value> = groups[k - 1]
            .iter()
            .filter(|_| rng.chance(duplicate_pct / 100.0))
            .cloned()
            .collect();
        groups[k].splice(0..0, repeats);
    }
    let mut prev_end = after_micros;
    let mut files = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let max_ts = g
            .iter()
            .filter_map(|e| event_micros(e).ok())
            .max()
            .unwrap_or(prev_end);
        let end = (max_ts + 1000).max(prev_end + 1000);
        files.push(LogFile::new(event_type, first_index + i, end, g));
        prev_end = end;
    }
    Ok(files)
}
