//! The mock as a real process, and a small HTTP/1.1 client over a raw
//! `TcpStream`: tests see exactly what went over the wire (status, headers,
//! a body cut short), with nothing in between.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub const WS: &str = "11bf645e-d5e8-4478-a70e-e5742ded2436";
pub const KEY: &str = "test-key";
pub const ADMIN: &str = "test-admin-key";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_compliance-mock")
}

pub struct Mock {
    server: testkit::ListeningServer,
    pub url: String,
    pub port: u16,
}

/// Small data: 25 users over 6 days.
pub const SMALL: &[&str] = &[
    "--generate-users",
    "25",
    "--generate-days",
    "6",
    "--start",
    "2026-10-01",
    "--seed",
    "11",
];

impl Mock {
    pub fn start(args: &[&str]) -> Mock {
        let server = testkit::ListeningServer::start(std::path::Path::new(bin()), args);
        let (url, port) = (server.url.clone(), server.port);
        Mock { server, url, port }
    }

    pub fn small(extra: &[&str]) -> Mock {
        let mut args = SMALL.to_vec();
        args.extend_from_slice(extra);
        Mock::start(&args)
    }

    /// GET a path (with query) under the mock, with an optional bearer.
    pub fn get(&self, path_and_query: &str, bearer: Option<&str>) -> Http {
        request(self.port, "GET", path_and_query, bearer)
    }

    pub fn ws(&self, rest: &str) -> Http {
        self.get(&format!("/v1/compliance/workspaces/{WS}/{rest}"), Some(KEY))
    }

    pub fn audit(&self, query: &str) -> Http {
        self.get(&format!("/v1/organization/audit_logs?{query}"), Some(ADMIN))
    }

    pub fn truth(&self, stream: &str) -> Vec<Value> {
        let r = self.get(&format!("/_mock/truth/{stream}"), None);
        assert_eq!(r.status, 200, "truth/{stream}: {}", r.text());
        testkit::parse_ndjson(&r.text())
    }

    pub fn requests(&self) -> Vec<Value> {
        testkit::parse_ndjson(&self.get("/_mock/requests", None).text())
    }

    pub fn advance(&self, new: u32, updated: u32, seed: u32) -> Value {
        let r = request(
            self.port,
            "POST",
            &format!("/_mock/advance?new={new}&updated={updated}&seed={seed}"),
            None,
        );
        assert_eq!(r.status, 200, "advance: {}", r.text());
        r.json()
    }

    /// Every page of a full conversation listing (following `after`), as
    /// served; `first_query` goes on the first request only, `every_query`
    /// on each.
    pub fn list_pages(&self, first_query: &str, every_query: &str, limit: usize) -> Vec<Value> {
        let mut pages = vec![];
        let mut query = format!("conversations?limit={limit}&{first_query}&{every_query}");
        loop {
            let r = self.ws(&query);
            assert_eq!(r.status, 200, "{query}: {}", r.text());
            let page = r.json();
            let more = page["has_more"].as_bool().unwrap();
            let last = page["last_id"].as_str().map(String::from);
            pages.push(page);
            if !more {
                return pages;
            }
            let last = last.expect("last_id on a page with has_more");
            query = format!("conversations?limit={limit}&after={last}&{every_query}");
            assert!(pages.len() < 10_000, "listing does not end");
        }
    }
}

pub struct Http {
    pub status: u16,
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

pub fn request(port: u16, method: &str, path_and_query: &str, bearer: Option<&str>) -> Http {
    let header = bearer.map(|b| format!("Bearer {b}"));
    request_with_authorization(port, method, path_and_query, header.as_deref())
}

/// A request with this exact `Authorization` header value.
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

fn parse_response(raw: &[u8]) -> Http {
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
    let (body, complete) = if headers
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

/// The ids of a list of objects.
pub fn ids(items: &[Value], key: &str) -> Vec<String> {
    items
        .iter()
        .map(|v| {
            v[key]
                .as_str()
                .unwrap_or_else(|| panic!("no {key} in {v}"))
                .to_string()
        })
        .collect()
}

/// Split a download URL of the mock into its path and query.
pub fn local_path(url: &str) -> String {
    let after_scheme = url.split_once("://").unwrap().1;
    format!("/{}", after_scheme.split_once('/').unwrap().1)
}

/// Follow a log file's 307 and download it.
pub fn download_log(m: &Mock, file_id: &str) -> (Http, Http) {
    let r = m.ws(&format!("logs/{file_id}"));
    assert_eq!(r.status, 307, "logs/{file_id}: {}", r.text());
    let loc = r.header("location").expect("Location header").to_string();
    assert!(loc.starts_with(&m.url), "{loc} is not on the mock");
    let d = m.get(&local_path(&loc), None);
    (r, d)
}

pub fn sha256_hex(b: &[u8]) -> String {
    archive_core::hash::sha256_hex(b)
}
