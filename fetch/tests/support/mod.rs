//! The mock Compliance API (the real `compliance-mock` binary over HTTP)
//! and the real `fetch` binary, for the integration tests.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use testkit::{Dir, TestCommand};

pub const WS: &str = "11bf645e-d5e8-4478-a70e-e5742ded2436";
pub const KEY: &str = "test-key";
pub const ADMIN_KEY: &str = "test-admin-key";

pub struct Mock {
    _server: testkit::ListeningServer,
    pub url: String,
}

impl Mock {
    /// Start the mock with small generated data plus `extra` flags.
    pub fn start(extra: &[&str]) -> Mock {
        let mut args = vec!["--seed", "7", "--start", "2025-07-02"];
        for (flag, default) in [("--generate-users", "12"), ("--generate-days", "4")] {
            if !extra.contains(&flag) {
                args.extend([flag, default]);
            }
        }
        args.extend_from_slice(extra);
        let server =
            testkit::ListeningServer::start(&testkit::workspace_bin("compliance-mock"), &args);
        let url = server.url.clone();
        Mock {
            _server: server,
            url,
        }
    }

    pub fn base(&self) -> String {
        format!("{}/v1", self.url)
    }

    fn get(&self, path: &str) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--fail", &format!("{}{path}", self.url)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "GET {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Ground truth of a stream, newest version of each record.
    pub fn truth(&self, stream: &str) -> Vec<Value> {
        testkit::parse_ndjson(&self.get(&format!("/_mock/truth/{stream}")))
    }

    /// Every request the mock served so far.
    pub fn requests(&self) -> Vec<Value> {
        testkit::parse_ndjson(&self.get("/_mock/requests"))
    }

    pub fn clear_requests(&self) {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--fail",
                "-X",
                "DELETE",
                &format!("{}/_mock/requests", self.url),
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
    }

    pub fn advance(&self, new: u32, updated: u32, seed: u32) -> Value {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--fail",
                "-X",
                "POST",
                &format!(
                    "{}/_mock/advance?new={new}&updated={updated}&seed={seed}",
                    self.url
                ),
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The log event types the mock serves.
    pub fn event_types(&self) -> Vec<String> {
        let v: Value = serde_json::from_str(
            &self.get_auth(&format!("/v1/compliance/workspaces/{WS}/max_event_time")),
        )
        .unwrap();
        v["max_event_time"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    fn get_auth(&self, path: &str) -> String {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--fail",
                "-H",
                &format!("Authorization: Bearer {KEY}"),
            ])
            .arg(format!("{}{path}", self.url))
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    }
}

/// `fetch ARGS` against the mock, with keys in the environment, a state
/// dir in `dir`, no pacing to speak of and short backoff.
pub fn fetch(dir: &Dir, mock: &Mock, args: &[&str]) -> TestCommand {
    fetch_at(dir, &mock.base(), args)
}

/// `fetch ARGS` against another base URL.
pub fn fetch_at(dir: &Dir, base: &str, args: &[&str]) -> TestCommand {
    let mut c = dir.command(env!("CARGO_BIN_EXE_fetch"));
    c.env("OPENAI_API_KEY", KEY)
        .env("OPENAI_ADMIN_KEY", ADMIN_KEY)
        .env("WORKSPACE_ID", WS)
        .env_remove("FETCH_STATE_DIR")
        .env_remove("FETCH_LOG")
        .args(args)
        .args(["--base-url", base, "--state-dir"])
        .arg(dir.join("state"))
        .args(["--backoff-base", "20"]);
    if !args.contains(&"--rate-limit") {
        c.args(["--rate-limit", "100000"]);
    }
    c
}

/// `fetch commit` on the test's state dir.
pub fn commit(dir: &Dir) -> Vec<Value> {
    let mut c = dir.command(env!("CARGO_BIN_EXE_fetch"));
    c.args(["commit", "--state-dir"]).arg(dir.join("state"));
    c.expect_success().json_lines()
}

/// Records by id; panics on a duplicate id.
pub fn by_id(records: &[Value], id_field: &str, what: &str) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    for r in records {
        let id = r[id_field]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: record without {id_field}: {r}"))
            .to_string();
        if let Some(prev) = m.insert(id.clone(), r.clone()) {
            panic!("{what}: {id_field} {id} appears twice:\n{prev}\n{r}");
        }
    }
    m
}

/// Assert `got` holds exactly the records of `truth`, each once.
pub fn assert_same(got: &[Value], truth: &[Value], id_field: &str, what: &str) {
    let g = by_id(got, id_field, what);
    let t = by_id(truth, id_field, "truth");
    let missing: Vec<_> = t.keys().filter(|k| !g.contains_key(*k)).collect();
    let extra: Vec<_> = g.keys().filter(|k| !t.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} missing {:?}, {} unexpected {:?}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(5).collect::<Vec<_>>()
    );
    for (id, rec) in &t {
        assert!(
            g[id] == *rec,
            "{what}: record {id} differs from the server's:\n got {}\nwant {}",
            g[id],
            rec
        );
    }
}

/// Every log event the mock holds, over all event types.
pub fn all_log_truth(mock: &Mock) -> Vec<Value> {
    mock.event_types()
        .iter()
        .flat_map(|t| mock.truth(&format!("logs/{t}")))
        .collect()
}

/// Files under the state dir.
pub fn state_files(dir: &Dir) -> Vec<String> {
    dir.files("state")
        .into_iter()
        .map(|f| format!("state/{f}"))
        .collect()
}

/// Requests to API paths (not the download URLs) whose path ends with `suffix`.
pub fn api_requests<'a>(reqs: &'a [Value], suffix: &str) -> Vec<&'a Value> {
    reqs.iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
        .collect()
}
