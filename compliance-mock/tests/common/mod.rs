//! What the mock's own tests share on top of `testkit::mock` (the one
//! control client): the small data set, a full conversation listing as
//! served, and log downloads followed by hand.
#![allow(dead_code)]

use serde_json::Value;
pub use testkit::mock::{
    request, request_with_authorization, Http, Mock, ADMIN_KEY as ADMIN, KEY, WS,
};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_compliance-mock")
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

/// Helpers of these tests on [`Mock`].
pub trait MockExt {
    /// The mock on [`SMALL`] data plus `extra` flags.
    fn small(extra: &[&str]) -> Mock;
    /// Every page of a full conversation listing (following `after`), as
    /// served; `first_query` goes on the first request only, `every_query`
    /// on each.
    fn list_pages(&self, first_query: &str, every_query: &str, limit: usize) -> Vec<Value>;
}

impl MockExt for Mock {
    fn small(extra: &[&str]) -> Mock {
        let mut args = SMALL.to_vec();
        args.extend_from_slice(extra);
        Mock::start_bin(std::path::Path::new(bin()), &args)
    }

    fn list_pages(&self, first_query: &str, every_query: &str, limit: usize) -> Vec<Value> {
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

/// The path and query of a URL on the mock.
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
