//! What the test modules share: the binary, digests, file lines as a
//! producer prints them, and a shell for the independent tools.

use serde_json::{json, Value};
use std::process::Command;
use testkit::Dir;

pub const BIN: &str = env!("CARGO_BIN_EXE_manifest");

pub fn sha(bytes: &[u8]) -> String {
    archive_core::hash::sha256_hex(bytes)
}

/// A file line for `rel` under `root` as a producer would print it.
pub fn file_line(dir: &Dir, root: &str, rel: &str, extra: Value) -> String {
    let bytes = dir.read_bytes(&format!("{root}/{rel}"));
    let mut v = json!({"root": root, "path": rel, "bytes": bytes.len(), "sha256": sha(&bytes)});
    if let Value::Object(e) = extra {
        v.as_object_mut().unwrap().extend(e);
    }
    v.to_string()
}

pub fn sh(dir: &std::path::Path, script: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap()
}

pub fn manifest_json(dir: &Dir, rel: &str) -> Value {
    serde_json::from_str(&dir.read(rel)).unwrap()
}
