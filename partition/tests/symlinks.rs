//! A symbolic link already inside `--out` (a user's directory, a directory
//! further down, a day file, a rotated part, partition's own `_daily_summaries`
//! and `_quarantine`) is never read or written through: that path is refused
//! and named, counted as not written (exit 1, 3 with --strict), and the rest
//! is written. What the link points at is left exactly as it was.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use testkit::{Dir, Run};

/// A directory outside the output, with a file in it that a followed link
/// would overwrite or merge.
fn outside(dir: &Dir) -> BTreeMap<String, Vec<u8>> {
    let sentinel = conversation("secret", "u1", DAY0, DAY0, &["outside"]);
    dir.write("outside/conversations.json", format!("{sentinel}\n"));
    dir.write("outside/target.ndjson", format!("{sentinel}\n"));
    snapshot(dir, "outside")
}

fn snapshot(dir: &Dir, rel: &str) -> BTreeMap<String, Vec<u8>> {
    dir.files(rel)
        .into_iter()
        .map(|p| {
            let b = dir.read_bytes(&format!("{rel}/{p}"));
            (p, b)
        })
        .collect()
}

fn link(dir: &Dir, target: &str, at: &str) {
    let at = dir.join(at);
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    symlink(dir.join(target), &at).unwrap();
}

fn is_link(dir: &Dir, rel: &str) -> bool {
    std::fs::symlink_metadata(dir.join(rel)).is_ok_and(|m| m.file_type().is_symlink())
}

/// The entries of the run's quarantine file.
fn quarantined(dir: &Dir, run: &Run) -> Vec<Value> {
    let lines = check_lines(dir, run, "arch");
    let Some((path, _)) = lines.iter().find(|(_, l)| l["kind"] == "quarantine") else {
        return Vec::new();
    };
    testkit::parse_ndjson(&dir.read(&format!("arch/{path}")))
}

/// Records of u1 and u2 on DAY0.
fn two_users() -> String {
    ndjson(&[
        conversation("c1", "u1", DAY0 + 1.0, DAY0 + 1.0, &["one"]),
        conversation("c2", "u2", DAY0 + 2.0, DAY0 + 2.0, &["two"]),
    ])
}

/// Run, expecting exit 1: the link named on stderr, u2 written, the link
/// and what it points at untouched, u1's record quarantined with the reason.
fn refused(dir: &Dir, layout: &[&str], link_rel: &str, u2_file: &str) -> Run {
    let before = snapshot(dir, "outside");
    let mut args = vec!["--out", "arch", "--summary", "s.json"];
    args.extend_from_slice(layout);
    let run = cmd(dir).args(&args).stdin(two_users()).expect_code(1);
    run.assert(
        run.stderr
            .contains(&format!("{link_rel} is a symbolic link")),
        "the link is not named",
    );
    run.assert(
        snapshot(dir, "outside") == before,
        "written through the link",
    );
    run.assert(
        is_link(dir, &format!("arch/{link_rel}")),
        "the link was replaced",
    );
    let lines = check_lines(dir, &run, "arch");
    run.assert(
        lines.contains_key(u2_file),
        "the other user was not written",
    );
    run.assert(
        lines.keys().all(|p| !p.contains("u1")),
        "a line for the refused user",
    );
    let q = quarantined(dir, &run);
    run.assert(
        q.len() == 1
            && q[0]["record"]["id"] == "c1"
            && q[0]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("symbolic link")),
        &format!("u1's record not quarantined with the reason: {q:?}"),
    );
    let s = summary(dir, "s.json");
    run.assert(
        s["groups_failed"] == 1 && s["exit_code"] == 1 && s["status"] == "partial",
        &format!("summary: {s}"),
    );
    run
}

#[test]
fn a_linked_user_directory_is_refused_and_the_rest_written() {
    let dir = Dir::new("link-user-dir");
    let before = outside(&dir);
    link(&dir, "outside", "arch/u1");
    // A dry run says what the run will refuse.
    let dry = cmd(&dir)
        .args(["--out", "arch", "--dry-run"])
        .stdin(two_users())
        .expect_code(1);
    dry.assert(dry.stderr.contains("u1 is a symbolic link"), "not named");
    dry.assert(
        dry.json_lines()
            .iter()
            .all(|l| !l["path"].as_str().unwrap().starts_with("u1/")),
        "a planned line for the link",
    );
    assert_eq!(snapshot(&dir, "outside"), before);
    refused(&dir, &[], "u1", "u2/2025/07/02/conversations.json");
    // The daily summary counts only what was written.
    let s = summary(&dir, "arch/_daily_summaries/2025/07/02/summary.json");
    assert_eq!(s["total_users"], 1, "{s}");
}

#[test]
fn a_link_further_down_is_refused() {
    let dir = Dir::new("link-deep-dir");
    outside(&dir);
    std::fs::create_dir_all(dir.join("arch/u1")).unwrap();
    link(&dir, "outside", "arch/u1/2025");
    refused(&dir, &[], "u1/2025", "u2/2025/07/02/conversations.json");
}

#[test]
fn a_linked_day_file_is_neither_read_nor_replaced() {
    let dir = Dir::new("link-day-file");
    outside(&dir);
    let day = "archive_user=u1/archive_date=2025-07-02/conversations.ndjson";
    link(&dir, "outside/target.ndjson", &format!("arch/{day}"));
    let run = refused(
        &dir,
        &["--layout", "hive"],
        day,
        "archive_user=u2/archive_date=2025-07-02/conversations.ndjson",
    );
    // The record the link points at was not merged into anything.
    for p in dir.files("arch") {
        run.assert(
            !dir.read(&format!("arch/{p}")).contains("\"secret\""),
            &format!("{p} holds what the link points at"),
        );
    }
}

#[test]
fn a_linked_rotated_part_is_refused() {
    let dir = Dir::new("link-part");
    outside(&dir);
    link(
        &dir,
        "outside/target.ndjson",
        "arch/u1/conversations_20250702_002.jsonl",
    );
    let layout = [
        "--path",
        "{user}/conversations_{yyyymmdd}.jsonl",
        "--rotate-size",
        "1MB",
    ];
    refused(
        &dir,
        &layout,
        "u1/conversations_20250702_002.jsonl",
        "u2/conversations_20250702_001.jsonl",
    );
}

#[test]
fn strict_makes_a_refused_link_exit_3() {
    let dir = Dir::new("link-strict");
    outside(&dir);
    link(&dir, "outside", "arch/u1");
    let run = cmd(&dir)
        .args(["--out", "arch", "--strict"])
        .stdin(two_users())
        .expect_code(3);
    check_lines(&dir, &run, "arch");
    assert!(
        run.stderr.contains("1 groups and 0 files not written"),
        "{}",
        run.stderr
    );
}

#[test]
fn linked_daily_summaries_are_refused() {
    let dir = Dir::new("link-summaries");
    let before = outside(&dir);
    link(&dir, "outside", "arch/_daily_summaries");
    let run = cmd(&dir)
        .args(["--out", "arch", "--summary", "s.json"])
        .stdin(two_users())
        .expect_code(1);
    assert!(
        run.stderr.contains("_daily_summaries is a symbolic link"),
        "{}",
        run.stderr
    );
    assert_eq!(
        snapshot(&dir, "outside"),
        before,
        "written through the link"
    );
    let lines = check_lines(&dir, &run, "arch");
    assert_eq!(
        lines.keys().collect::<Vec<_>>(),
        [
            "u1/2025/07/02/conversations.json",
            "u2/2025/07/02/conversations.json"
        ]
    );
    let s = summary(&dir, "s.json");
    assert_eq!(
        (s["files_failed"].as_u64(), s["groups_failed"].as_u64()),
        (Some(1), Some(0))
    );
}

#[test]
fn a_linked_quarantine_is_refused() {
    let dir = Dir::new("link-quarantine");
    let before = outside(&dir);
    link(&dir, "outside", "arch/_quarantine");
    let input = format!("{}not json\n", two_users());
    let run = cmd(&dir)
        .args(["--out", "arch", "--summary", "s.json"])
        .stdin(input)
        .expect_code(1);
    assert!(
        run.stderr.contains("_quarantine is a symbolic link"),
        "{}",
        run.stderr
    );
    assert_eq!(
        snapshot(&dir, "outside"),
        before,
        "written through the link"
    );
    let lines = check_lines(&dir, &run, "arch");
    assert_eq!(
        lines.len(),
        3,
        "two users and their day's summary: {lines:?}"
    );
    let s = summary(&dir, "s.json");
    assert_eq!(
        (s["files_failed"].as_u64(), s["quarantined"].as_u64()),
        (Some(1), Some(1))
    );
}
