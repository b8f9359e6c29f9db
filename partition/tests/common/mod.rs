//! Helpers for partition's integration tests: run the real binary in a
//! temporary directory and check that every file line it prints matches
//! the file it left (size and an independently computed SHA-256).
#![allow(dead_code)]

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use testkit::{Dir, Run, TestCommand};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_partition")
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn cmd(dir: &Dir) -> TestCommand {
    dir.command(bin())
}

/// Every temporary name (`….tmp-…`: files, spill directories, the run
/// marker) under `root`, relative; a finished run leaves none.
pub fn temporaries(dir: &Dir, root: &str) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().contains(".tmp-") {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    let base = dir.join(root);
    walk(&base, &base, &mut out);
    out.sort();
    out
}

/// Check every printed line against the file on disk, and that the run
/// left no temporary behind; return lines by path.
pub fn check_lines(dir: &Dir, run: &Run, root: &str) -> BTreeMap<String, Value> {
    let left = temporaries(dir, root);
    run.assert(
        left.is_empty(),
        &format!("temporaries left under {root}: {left:?}"),
    );
    let mut by_path = BTreeMap::new();
    for l in run.json_lines() {
        run.assert(l["root"] == json!(root), &format!("root of {l}"));
        let path = l["path"].as_str().unwrap().to_owned();
        let bytes = dir.read_bytes(&format!("{root}/{path}"));
        run.assert(l["bytes"] == json!(bytes.len()), &format!("bytes of {l}"));
        run.assert(
            l["sha256"] == json!(sha256(&bytes)),
            &format!("sha256 of {l}"),
        );
        run.assert(l["changed"].is_boolean(), &format!("changed of {l}"));
        run.assert(
            by_path.insert(path.clone(), l).is_none(),
            &format!("{path} reported twice"),
        );
    }
    by_path
}

/// 2025-07-02T00:00:00Z
pub const DAY0: f64 = 1751414400.0;

/// The run summary `--summary FILE` wrote.
pub fn summary(dir: &Dir, rel: &str) -> Value {
    serde_json::from_str(&dir.read(rel)).unwrap()
}

/// A conversation shaped like the Compliance API's.
pub fn conversation(id: &str, user: &str, created: f64, last: f64, texts: &[&str]) -> String {
    let msgs: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"object":"compliance.workspace.conversation.message","id":format!("{id}-m{i}"),
                   "created_at":created + i as f64,"author":{"role":"user"},
                   "content":{"type":"text","value":t,"annotations":[]}})
        })
        .collect();
    json!({"object":"compliance.workspace.conversation","id":id,"user_id":user,
           "created_at":created,"last_active_at":last,"title":"t é 😀",
           "messages":{"object":"list","data":msgs,"has_more":false}})
    .to_string()
}

pub fn ndjson(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Decompressed file content, by extension.
pub fn read_plain(dir: &Dir, rel: &str) -> Vec<u8> {
    use std::io::Read;
    let b = dir.read_bytes(rel);
    if rel.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&b[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else if rel.ends_with(".zst") {
        zstd::stream::decode_all(&b[..]).unwrap()
    } else {
        b
    }
}
