//! The mock Compliance API (the real `compliance-mock` binary over HTTP,
//! through `testkit::mock`) and the real `fetch` binary, every run of it
//! killed and failed after [`LIMIT`].

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
pub use testkit::mock::{Mock, ADMIN_KEY, KEY, WS};
use testkit::{Dir, Run, TestCommand};

/// No run of fetch in these tests may take longer.
pub const LIMIT: Duration = Duration::from_secs(60);

/// The mock with small generated data plus `extra` flags.
pub fn start_mock(extra: &[&str]) -> Mock {
    Mock::start(&mock_args(extra))
}

/// The same over HTTPS with a test CA (`mock.ca_cert`).
pub fn start_tls_mock(extra: &[&str]) -> Mock {
    Mock::start_tls(&mock_args(extra))
}

fn mock_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--seed", "7", "--start", "2025-07-02"];
    for (flag, default) in [("--generate-users", "12"), ("--generate-days", "4")] {
        if !extra.contains(&flag) {
            args.extend([flag, default]);
        }
    }
    args.extend_from_slice(extra);
    args
}

/// A fetch command whose runs are bounded by [`LIMIT`].
pub struct Fetch(TestCommand);

impl Fetch {
    pub fn arg(&mut self, a: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.0.arg(a);
        self
    }
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.0.args(args);
        self
    }
    pub fn env(
        &mut self,
        k: impl AsRef<std::ffi::OsStr>,
        v: impl AsRef<std::ffi::OsStr>,
    ) -> &mut Self {
        self.0.env(k, v);
        self
    }
    pub fn env_remove(&mut self, k: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.0.env_remove(k);
        self
    }
    /// The underlying command, e.g. to spawn it and kill it mid-run.
    pub fn command_mut(&mut self) -> &mut std::process::Command {
        self.0.command_mut()
    }
    /// Run to completion (within [`LIMIT`]), whatever the exit status.
    pub fn run(&mut self) -> Run {
        testkit::run_within(&mut self.0, LIMIT)
    }
    pub fn expect_success(&mut self) -> Run {
        self.expect_code(0)
    }
    pub fn expect_code(&mut self, code: i32) -> Run {
        let run = self.run();
        if run.code != Some(code) {
            panic!("expected exit code {code}\n{}", run.report());
        }
        run
    }
}

/// `fetch ARGS` against the mock, with keys in the environment, a state
/// dir in `dir`, no pacing to speak of and short backoff.
pub fn fetch(dir: &Dir, mock: &Mock, args: &[&str]) -> Fetch {
    let mut c = fetch_at(dir, &mock.base(), args);
    if let Some(ca) = &mock.ca_cert {
        c.arg("--ca-cert").arg(ca);
    }
    c
}

/// `fetch ARGS` against another base URL.
pub fn fetch_at(dir: &Dir, base: &str, args: &[&str]) -> Fetch {
    let mut c = dir.command(env!("CARGO_BIN_EXE_fetch"));
    c.env("OPENAI_API_KEY", KEY)
        .env("OPENAI_ADMIN_KEY", ADMIN_KEY)
        .env("WORKSPACE_ID", WS)
        .env_remove("FETCH_STATE_DIR")
        .env_remove("FETCH_LOG")
        // One pipeline: every fetch of a test shares a run id, so one
        // plain `fetch commit` promotes them all.
        .env("FETCH_RUN_ID", "test-run")
        .args(args)
        .args(["--base-url", base, "--state-dir"])
        .arg(dir.join("state"))
        .args(["--retry-base-ms", "20"]);
    if !args.contains(&"--rate-limit") {
        c.args(["--rate-limit", "100000"]);
    }
    // The mock's data is from 2025: a bookmark of it is far older than the
    // upstream retention. Tests of the retention pass --retention.
    if !args.contains(&"--retention") {
        c.args(["--retention", "36500d"]);
    }
    Fetch(c)
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
