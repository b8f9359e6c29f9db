//! The request log: one NDJSON line per API request served, kept in memory
//! for `GET /_mock/requests` and appended to `--request-log FILE`.

use serde_json::Value;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

pub struct RequestLog {
    lines: Mutex<Vec<String>>,
    file: Option<Mutex<File>>,
}

impl RequestLog {
    pub fn new(path: Option<&Path>) -> anyhow::Result<RequestLog> {
        let file = match path {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| anyhow::anyhow!("opening request log {}: {e}", p.display()))?,
            )),
            None => None,
        };
        Ok(RequestLog {
            lines: Mutex::new(Vec::new()),
            file,
        })
    }

    pub fn record(&self, entry: &Value) {
        let line = entry.to_string();
        if let Some(f) = &self.file {
            let mut f = f.lock().unwrap();
            // A test reads the file while the mock runs: write whole lines.
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
        self.lines.lock().unwrap().push(line);
    }

    pub fn ndjson(&self) -> String {
        let lines = self.lines.lock().unwrap();
        let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines.iter() {
            out.push_str(l);
            out.push('\n');
        }
        out
    }

    pub fn clear(&self) {
        self.lines.lock().unwrap().clear();
    }
}
