//! Memory per file: a run over many files holds a compact entry per file,
//! not a JSON value, and never the input lines or the manifests whole.

use serde_json::{json, Value};
use std::fmt::Write as _;
use std::process::{Command, Stdio};
use testkit::Dir;

use crate::support::BIN;

/// `n` small files under `root`, and the file lines a producer would print
/// for them (with the metadata partition adds).
fn tree_and_lines(dir: &Dir, root: &str, n: usize) -> String {
    let mut lines = String::new();
    for i in 0..n {
        let rel = format!("u{:03}/2025/07/{:02}/c{i:06}.json", i % 100, i % 28 + 1);
        let body = format!("[{{\"id\":{i},\"title\":\"conversation {i}\"}}]\n");
        dir.write(&format!("{root}/{rel}"), &body);
        let line = json!({
            "root": root, "path": rel, "bytes": body.len(),
            "sha256": archive_core::hash::sha256_hex(body.as_bytes()),
            "records": 1, "table": "conversations", "user_id": format!("u{:03}", i % 100),
            "period": "2025-07", "date": format!("2025-07-{:02}", i % 28 + 1),
            "min_time": "2025-07-01T00:00:00Z", "max_time": "2025-07-01T23:59:59Z",
            "schema_version": 3,
        });
        writeln!(lines, "{line}").unwrap();
    }
    lines
}

/// Exit code and peak RSS (KiB, GNU time's %M) of one run on `input`.
fn run_measured(dir: &Dir, input: &str) -> (i32, u64) {
    let rss = dir.join("rss.txt");
    let status = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss)
        .arg(BIN)
        .args(["--summary", "summary.json"])
        .current_dir(dir.path())
        .stdin(std::fs::File::open(dir.join(input)).unwrap())
        .stdout(std::fs::File::create(dir.join("out.ndjson")).unwrap())
        .stderr(Stdio::inherit())
        .status()
        .expect("GNU time is installed (scripts/install-test-deps.sh)");
    let kib = std::fs::read_to_string(&rss)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (status.code().unwrap_or(-1), kib)
}

#[test]
fn memory_grows_by_well_under_a_kilobyte_per_file() {
    let dir = Dir::new("scale-memory");
    let (small_n, big_n) = (2_000usize, 22_000usize);
    std::fs::write(
        dir.join("small.ndjson"),
        tree_and_lines(&dir, "small", small_n),
    )
    .unwrap();
    let big_lines = tree_and_lines(&dir, "big", big_n);
    std::fs::write(dir.join("big.ndjson"), &big_lines).unwrap();

    let (code, small_kib) = run_measured(&dir, "small.ndjson");
    assert_eq!(code, 0);
    let (code, big_kib) = run_measured(&dir, "big.ndjson");
    assert_eq!(code, 0);
    let per_file = (big_kib.saturating_sub(small_kib) * 1024) / (big_n - small_n) as u64;
    eprintln!("peak RSS {small_kib} KiB for {small_n} files, {big_kib} KiB for {big_n}: {per_file} bytes per file");
    // Earlier versions held about 3 KB per file (a JSON value per line,
    // entry and output line, and the manifests as strings).
    assert!(per_file < 1024, "{per_file} bytes of peak RSS per file");

    // And the big run did its job: every line passed on, every file listed
    // with its metadata, and sha256sum agrees.
    let out = std::fs::read_to_string(dir.join("out.ndjson")).unwrap();
    let out_lines: Vec<&str> = out.lines().collect();
    assert_eq!(out_lines.len(), big_n + 2);
    assert_eq!(
        out_lines[..big_n].join("\n") + "\n",
        big_lines,
        "lines passed on unchanged"
    );
    let m: Value = serde_json::from_str(&dir.read("big/manifest.json")).unwrap();
    assert_eq!(m["totals"]["files"], big_n);
    assert_eq!(m["totals"]["records"], big_n);
    assert_eq!(
        (m["period"].clone(), m["schema_version"].clone()),
        (json!("2025-07"), json!(3))
    );
    assert_eq!(m["files"][0]["user_id"], "u000");
    assert_eq!(m["files"][0]["table"], "conversations");
    let check = Command::new("sha256sum")
        .args(["-c", "--strict", "--quiet", "manifest-sha256.txt"])
        .current_dir(dir.join("big"))
        .status()
        .unwrap();
    assert!(check.success());
    let s: Value = serde_json::from_str(&dir.read("summary.json")).unwrap();
    assert_eq!(
        (s["files"].clone(), s["hashed"].clone(), s["failed"].clone()),
        (json!(big_n), json!(big_n), json!(0))
    );
}
