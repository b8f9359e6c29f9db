//! Shared set-up of the end-to-end tests: the mock API as a real process,
//! the environment of the backup script, and readers of what an archive
//! holds, independent of the tools that wrote it.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use testkit::{workspace_bin, Dir, TestCommand};

pub use testkit::mock::WS as WORKSPACE_ID;

/// Root of the workspace (scripts live in `scripts/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Directory of the tool binaries, every one of them built.
pub fn bin_dir() -> PathBuf {
    for tool in [
        "fetch",
        "partition",
        "parquetize",
        "manifest",
        "ship",
        "compliance-mock",
    ] {
        workspace_bin(tool);
    }
    workspace_bin("fetch").parent().unwrap().to_path_buf()
}

/// The mock Compliance API: testkit's one control client.
pub use testkit::mock::Mock;

/// The backup script with everything pointed at the mock and a test dir.
pub fn backup_command(dir: &Dir, mock: &Mock, dest: &str, bin_dir: &Path) -> TestCommand {
    let mut cmd = dir.command(repo_root().join("scripts/backup-compliance.sh"));
    cmd.env("BIN_DIR", bin_dir)
        .env("OPENAI_API_KEY", "test-key")
        .env("OPENAI_ADMIN_KEY", "test-admin-key")
        .env("WORKSPACE_ID", WORKSPACE_ID)
        .env("COMPLIANCE_BASE_URL", format!("{}/v1", mock.url))
        .env("OPENAI_BASE_URL", format!("{}/v1", mock.url))
        .env("ARCHIVE_DEST", dest)
        .env("WORK_DIR", dir.join("work"))
        .env("STREAMS", "logs conversations users audit-logs")
        .env("LOG_EVENT_TYPES", "CONVERSATION_MESSAGE AUTH_LOG")
        // These tests archive the legacy conversations endpoint; the
        // conversations assembled from log events have their own tests.
        .env("CONVERSATIONS", "off")
        .env("FETCH_ARGS", "--since 2025-07-01 --rate-limit 100000");
    cmd
}

/// The last run summary the backup script wrote.
pub fn last_summary(dir: &Dir) -> Value {
    serde_json::from_str(&dir.read("work/runs/last.json")).unwrap()
}

/// Every conversation in a seed-layout tree, by id; panics on a duplicate id.
pub fn archived_conversations(root: &Path) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for path in files_under(root) {
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if !rel.ends_with("conversations.json") || rel.starts_with("_") {
            continue;
        }
        let day: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for conv in day["conversations"].as_array().unwrap() {
            let id = conv["id"].as_str().unwrap().to_string();
            if let Some(prev) = out.insert(id.clone(), conv.clone()) {
                // The same conversation on two days is a duplicate unless
                // the two copies are different versions it kept by design.
                panic!(
                    "conversation {id} archived twice: in {rel} and earlier ({})",
                    prev["last_active_at"]
                );
            }
        }
    }
    out
}

/// Every JSON line of the (possibly gzip-compressed) NDJSON files under a tree.
pub fn archived_lines(root: &Path, suffixes: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    for path in files_under(root) {
        let name = path.to_string_lossy().to_string();
        if name.contains("/_quarantine/") || !suffixes.iter().any(|s| name.ends_with(s)) {
            continue;
        }
        out.extend(file_lines(&path));
    }
    out
}

/// The JSON lines of one NDJSON file, gzip-compressed or not (decompressed
/// by GNU gzip, an independent reader).
pub fn file_lines(path: &Path) -> Vec<Value> {
    let raw = std::fs::read(path).unwrap();
    let text = if raw.starts_with(&[0x1f, 0x8b]) {
        let out = Command::new("gzip").arg("-dc").arg(path).output().unwrap();
        assert!(out.status.success(), "gzip -dc {}", path.display());
        String::from_utf8(out.stdout).unwrap()
    } else {
        String::from_utf8(raw).unwrap()
    };
    testkit::parse_ndjson(&text)
}

pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Download every object under an S3 prefix into a local directory (boto3).
pub fn download_prefix(s3: &testkit::MotoServer, bucket: &str, prefix: &str, to: &Path) {
    s3.python(&format!(
        "import os\n\
         p = s3.get_paginator('list_objects_v2')\n\
         for page in p.paginate(Bucket='{bucket}', Prefix='{prefix}'):\n\
         \x20   for o in page.get('Contents', []):\n\
         \x20       rel = o['Key'][len('{prefix}'):].lstrip('/')\n\
         \x20       dest = os.path.join('{to}', rel)\n\
         \x20       os.makedirs(os.path.dirname(dest), exist_ok=True)\n\
         \x20       s3.download_file('{bucket}', o['Key'], dest)\n",
        to = to.display()
    ));
}

/// Check that the archive holds exactly the server's conversations: every
/// id once, each at its newest version.
pub fn assert_conversations_match(archive: &Path, truth: &[Value]) {
    let got = archived_conversations(archive);
    let want: BTreeMap<String, &Value> = truth
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c))
        .collect();
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (id, w) in want {
        assert_eq!(
            got[&id]["last_active_at"], w["last_active_at"],
            "conversation {id} is not at its newest version"
        );
        assert_eq!(
            &got[&id], w,
            "conversation {id} differs from the server's record"
        );
    }
}

/// Check that a set of log events or audit entries matches the truth by id.
pub fn assert_ids_match(got: &[Value], truth: &[Value], id_field: &str, what: &str) {
    let mut seen = BTreeMap::new();
    for v in got {
        let id = v[id_field]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no {id_field} in {v}"))
            .to_string();
        assert!(
            seen.insert(id.clone(), v).is_none(),
            "{what}: {id} archived twice"
        );
    }
    let want: BTreeMap<String, &Value> = truth
        .iter()
        .map(|v| (v[id_field].as_str().unwrap().to_string(), v))
        .collect();
    let missing: Vec<_> = want
        .keys()
        .filter(|k| !seen.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = seen
        .keys()
        .filter(|k| !want.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: missing {missing:?}, extra {extra:?} (got {}, want {})",
        seen.len(),
        want.len()
    );
}
