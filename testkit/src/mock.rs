//! The one control client of the mock Compliance API (`compliance-mock`)
//! for every crate's tests: start the real binary on a free port, talk to
//! its API and its control endpoints (`/_mock/…`: truth, request log,
//! advance, faults), and run a client binary against it within a time
//! limit.
//!
//! ```no_run
//! use testkit::mock::{Mock, KEY, WS};
//! let mock = Mock::start(&["--generate-users", "12", "--seed", "7"]);
//! let users = mock.truth("users");
//! mock.set_faults("repeat-cursor@2:users");
//! let page = mock.ws("users?limit=2");          // GET with the test key
//! assert_eq!(page.status, 200);
//! mock.clear_requests();
//! ```
//!
//! Requests go over a raw `TcpStream` (HTTP/1.1, `Connection: close`), so a
//! test sees exactly what went over the wire: the status, every header, a
//! body cut short ([`Http::complete`]). A mock serving HTTPS
//! ([`Mock::start_tls`]) is reached with `curl` and the mock's test CA.

use crate::command::{Run, TestCommand};
use crate::servers::{workspace_bin, ListeningServer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace id the mock serves by default.
pub const WS: &str = "11bf645e-d5e8-4478-a70e-e5742ded2436";
/// The mock's default Compliance API key.
pub const KEY: &str = "test-key";
/// The mock's default audit-log (admin) key.
pub const ADMIN_KEY: &str = "test-admin-key";

/// A running mock, killed when dropped.
pub struct Mock {
    _server: ListeningServer,
    _tls_dir: Option<tempfile::TempDir>,
    /// `http://127.0.0.1:PORT` (or `https://…`), no trailing slash.
    pub url: String,
    pub port: u16,
    /// The test CA's certificate (PEM) of a mock started with [`Mock::start_tls`].
    pub ca_cert: Option<PathBuf>,
}

impl Mock {
    /// Start the workspace's `compliance-mock` binary with exactly `args`
    /// (plus `--port 0`); builds it first if needed.
    pub fn start(args: &[&str]) -> Mock {
        Mock::start_bin(&workspace_bin("compliance-mock"), args)
    }

    /// Start a given mock binary (compliance-mock's own tests pass
    /// `env!("CARGO_BIN_EXE_compliance-mock")`).
    pub fn start_bin(bin: &Path, args: &[&str]) -> Mock {
        let server = ListeningServer::start(bin, args);
        Mock {
            url: server.url.clone(),
            port: server.port,
            _server: server,
            _tls_dir: None,
            ca_cert: None,
        }
    }

    /// Start the mock serving HTTPS with a test CA it makes at start-up
    /// (`--tls-dir`); the CA certificate is at [`Mock::ca_cert`]. The
    /// server certificate names `127.0.0.1` and `localhost` unless `args`
    /// give `--tls-name`.
    pub fn start_tls(args: &[&str]) -> Mock {
        let dir = tempfile::Builder::new()
            .prefix("mock-tls-")
            .tempdir()
            .unwrap();
        let mut all = vec!["--tls-dir", dir.path().to_str().unwrap()];
        all.extend_from_slice(args);
        let mut m = Mock::start(&all);
        m.ca_cert = Some(dir.path().join("ca.pem"));
        m._tls_dir = Some(dir);
        m
    }

    /// The API base URL (`…/v1`), for `--base-url`.
    pub fn base(&self) -> String {
        format!("{}/v1", self.url)
    }

    /// A request with this exact `Authorization` header value (or none).
    pub fn request(&self, method: &str, path_and_query: &str, authorization: Option<&str>) -> Http {
        match &self.ca_cert {
            None => request_with_authorization(self.port, method, path_and_query, authorization),
            Some(ca) => curl_request(ca, &self.url, method, path_and_query, authorization),
        }
    }

    /// GET a path (with query) under the mock, with an optional bearer key.
    pub fn get(&self, path_and_query: &str, bearer: Option<&str>) -> Http {
        let header = bearer.map(|b| format!("Bearer {b}"));
        self.request("GET", path_and_query, header.as_deref())
    }

    /// GET `/v1/compliance/workspaces/{WS}/{rest}` with the test key.
    pub fn ws(&self, rest: &str) -> Http {
        self.get(&format!("/v1/compliance/workspaces/{WS}/{rest}"), Some(KEY))
    }

    /// GET `/v1/organization/audit_logs?{query}` with the admin key.
    pub fn audit(&self, query: &str) -> Http {
        self.get(
            &format!("/v1/organization/audit_logs?{query}"),
            Some(ADMIN_KEY),
        )
    }

    /// A control request; panics unless it answers 200.
    fn control(&self, method: &str, path: &str) -> Http {
        let r = self.request(method, &format!("/_mock/{path}"), None);
        assert_eq!(r.status, 200, "{method} /_mock/{path}: {}", r.text());
        r
    }

    /// Current ground truth of a stream, newest version of each record:
    /// `conversations`, `users`, `gpts`, `projects`, `memories`,
    /// `audit_logs` or `logs/<EVENT_TYPE>`.
    pub fn truth(&self, stream: &str) -> Vec<Value> {
        crate::parse_ndjson(&self.control("GET", &format!("truth/{stream}")).text())
    }

    /// Every API request served so far: `{t, method, path, query, status,
    /// auth, referer[, fault]}` per request.
    pub fn requests(&self) -> Vec<Value> {
        crate::parse_ndjson(&self.control("GET", "requests").text())
    }

    /// Forget the request log.
    pub fn clear_requests(&self) {
        self.control("DELETE", "requests");
    }

    /// Add `new` conversations and update `updated` ones (plus matching
    /// log events and audit entries); returns the mock's summary.
    pub fn advance(&self, new: u32, updated: u32, seed: u32) -> Value {
        self.control(
            "POST",
            &format!("advance?new={new}&updated={updated}&seed={seed}"),
        )
        .json()
    }

    /// Replace the active faults with `spec` (the `--fault` syntax; empty
    /// clears them). Counting starts again from the next request.
    pub fn set_faults(&self, spec: &str) {
        let q: String = url_encode(spec);
        self.control("PUT", &format!("faults?spec={q}"));
    }

    /// The active faults, as the mock lists them.
    pub fn faults(&self) -> Value {
        self.control("GET", "faults").json()
    }

    /// Set the mock's clock and retentions: `query` is e.g.
    /// `now=2026-10-03T00:00:00Z&upload_retention_hours=48&log_retention_days=30`.
    /// Returns the clock as the mock reports it.
    pub fn set_clock(&self, query: &str) -> Value {
        self.control("POST", &format!("clock?{query}")).json()
    }

    /// Every uploaded file the mock knows: `{id, user_id, name, created_at,
    /// bytes, sha256, state: available|expired|deleted, conversation_id,
    /// message_id}`, the state on the mock's clock.
    pub fn files_truth(&self) -> Vec<Value> {
        self.truth("files")
    }

    /// The log event types the mock serves.
    pub fn event_types(&self) -> Vec<String> {
        let r = self.ws("max_event_time");
        assert_eq!(r.status, 200, "max_event_time: {}", r.text());
        r.json()["max_event_time"]
            .as_object()
            .expect("a max_event_time object")
            .keys()
            .cloned()
            .collect()
    }
}

/// One response as it came over the wire.
pub struct Http {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// False when the connection ended before the announced body did.
    pub complete: bool,
}

impl Http {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// A plain-HTTP request to `127.0.0.1:port` with an optional bearer key.
pub fn request(port: u16, method: &str, path_and_query: &str, bearer: Option<&str>) -> Http {
    let header = bearer.map(|b| format!("Bearer {b}"));
    request_with_authorization(port, method, path_and_query, header.as_deref())
}

/// A plain-HTTP request with this exact `Authorization` header value.
pub fn request_with_authorization(
    port: u16,
    method: &str,
    path_and_query: &str,
    authorization: Option<&str>,
) -> Http {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting to the mock");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(s, "{method} {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    // A connection reset after part of the body is what `drop` looks like.
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    parse_response(&raw)
}

/// An HTTPS request through curl, trusting `ca`.
fn curl_request(
    ca: &Path,
    base: &str,
    method: &str,
    path_and_query: &str,
    authorization: Option<&str>,
) -> Http {
    let mut c = Command::new("curl");
    c.args([
        "-sS",
        "-i",
        "--http1.1",
        "--max-time",
        "60",
        "-X",
        method,
        "--cacert",
    ])
    .arg(ca);
    if let Some(a) = authorization {
        c.args(["-H", &format!("Authorization: {a}")]);
    }
    let out = c
        .arg(format!("{base}{path_and_query}"))
        .output()
        .expect("running curl");
    assert!(
        !out.stdout.is_empty(),
        "curl {path_and_query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut h = parse_head(&out.stdout, false);
    // curl has already removed the chunked framing.
    h.complete = out.status.success();
    h
}

fn parse_response(raw: &[u8]) -> Http {
    parse_head(raw, true)
}

/// Status, headers and body; `framed`: the body is still in its
/// transfer framing (a raw socket), not already decoded (curl).
fn parse_head(raw: &[u8], framed: bool) -> Http {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers in the response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let (body, complete) = if !framed {
        (rest.to_vec(), true)
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        dechunk(rest)
    } else if let Some(len) = headers.get("content-length") {
        let len: usize = len.parse().unwrap();
        (rest[..rest.len().min(len)].to_vec(), rest.len() >= len)
    } else {
        (rest.to_vec(), true)
    };
    Http {
        status,
        headers,
        body,
        complete,
    }
}

fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&rest[..eol]).into_owned();
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
        else {
            return (out, false);
        };
        rest = &rest[eol + 2..];
        if size == 0 {
            return (out, true);
        }
        if rest.len() < size + 2 {
            out.extend_from_slice(&rest[..rest.len().min(size)]);
            return (out, false);
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Run `cmd` to completion, but kill it and fail the test when it runs
/// longer than `limit`: a client that hangs on a misbehaving server must
/// fail its test, not stall the suite.
pub fn run_within(cmd: &mut TestCommand, limit: Duration) -> Run {
    let described = format!("{:?}", cmd.command_mut());
    let c = cmd.command_mut();
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {described}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let started = Instant::now();
    let (status, timed_out) = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break (s, false);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            break (child.wait().unwrap(), true);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&reader.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned(),
        described,
    };
    if timed_out {
        panic!(
            "killed after {:.0} s: it must end on its own\n{}",
            limit.as_secs_f64(),
            run.report()
        );
    }
    run
}
