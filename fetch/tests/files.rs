//! `fetch files`: the files CONVERSATION_MESSAGE events name, downloaded
//! from the mock over HTTP, checked against the mock's truth with an
//! independent SHA-256; gone files recorded and exit 1; re-runs idempotent.

use crate::support::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use testkit::Dir;

/// Data 2025-07-02..06; the clock in the middle, so older uploads are gone.
const MOCK: &[&str] = &["--attachments-pct", "40", "--now", "2025-07-04T12:00:00Z"];

fn events(dir: &Dir, mock: &Mock) {
    let run = fetch(dir, mock, &["logs", "--event-type", "CONVERSATION_MESSAGE"]).expect_success();
    dir.write("events.ndjson", run.stdout.as_bytes());
}

fn sha_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn files_are_stored_gone_ones_recorded_and_reruns_idempotent() {
    let dir = Dir::new("files");
    let mock = start_mock(MOCK);
    events(&dir, &mock);
    let truth: BTreeMap<String, Value> = mock
        .files_truth()
        .into_iter()
        .map(|f| (f["id"].as_str().unwrap().to_string(), f))
        .collect();
    let available = truth.values().filter(|f| f["state"] == "available").count();
    let gone = truth.len() - available;
    assert!(
        available > 0 && gone > 0,
        "{available} available, {gone} gone"
    );

    let args = [
        "files",
        "--events",
        "events.ndjson",
        "--out",
        "out",
        "--summary",
        "s.json",
    ];
    let run = fetch(&dir, &mock, &args).expect_code(1);
    let lines = run.json_lines();
    let mut stored = 0;
    for l in &lines {
        let path = l["path"].as_str().unwrap();
        let bytes = dir.read_bytes(&format!("out/{path}"));
        run.assert(l["root"] == "out", "root is --out");
        run.assert(l["bytes"] == bytes.len(), "bytes");
        run.assert(l["sha256"] == sha_of(&bytes), "sha256 is the file's");
        if l["kind"] == "files-missing" {
            continue;
        }
        let t = &truth[l["file_id"].as_str().unwrap()];
        run.assert(t["state"] == "available", "only available files are stored");
        run.assert(l["sha256"] == t["sha256"], "sha256 is the server's");
        let day = &t["created_at"].as_str().unwrap()[..10].replace('-', "/");
        run.assert(
            path.starts_with(&format!(
                "{}/{day}/files/{}/",
                l["user"].as_str().unwrap(),
                t["id"].as_str().unwrap()
            )),
            "path is <user>/YYYY/MM/DD/files/<file_id>/<name>",
        );
        for k in ["conversation_id", "message_id"] {
            run.assert(l[k] == t[k], k);
        }
        stored += 1;
    }
    assert_eq!(stored, available, "{}", run.report());
    // Every gone file is in its day's files-missing.ndjson, with its status.
    let mut recorded = BTreeMap::new();
    for l in lines.iter().filter(|l| l["kind"] == "files-missing") {
        for r in testkit::parse_ndjson(&dir.read(&format!("out/{}", l["path"].as_str().unwrap()))) {
            recorded.insert(r["file_id"].as_str().unwrap().to_string(), r);
        }
    }
    assert_eq!(recorded.len(), gone, "{}", run.report());
    missing_lines_are_dated_and_leave_no_directory(&dir, &lines);
    for (id, r) in &recorded {
        let want = if truth[id]["state"] == "expired" {
            410
        } else {
            404
        };
        assert_eq!(r["status"], want, "{r}");
        for k in [
            "name",
            "user",
            "conversation_id",
            "message_id",
            "checked_at",
        ] {
            assert!(r[k].is_string(), "{k} missing in {r}");
        }
    }
    run.assert(
        run.stderr.contains(&format!("{gone} problem(s)")),
        "stderr names the count",
    );
    run.assert(
        run.stderr.contains("files-missing.ndjson"),
        "stderr names the file",
    );
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(s["exit_code"], 1);
    assert_eq!(s["files_downloaded"], available);
    assert_eq!(s["files_missing"], gone);
    assert!(s["run_id"].is_string());

    reruns_ask_for_nothing_new(&dir, &mock, &args, available, gone);
}

/// Each files-missing line names its day and user, and a gone file leaves
/// no directory of its own behind.
fn missing_lines_are_dated_and_leave_no_directory(dir: &Dir, lines: &[Value]) {
    for l in lines.iter().filter(|l| l["kind"] == "files-missing") {
        let date = l["date"].as_str().unwrap().replace('-', "/");
        assert!(
            l["path"]
                .as_str()
                .unwrap()
                .ends_with(&format!("{date}/files-missing.ndjson")),
            "{l}"
        );
        assert!(l["user"].is_string(), "{l}");
    }
    // A gone file leaves no directory of its own behind.
    for l in lines.iter().filter(|l| l["kind"] == "files-missing") {
        let day = l["path"]
            .as_str()
            .unwrap()
            .trim_end_matches("/files-missing.ndjson");
        for r in testkit::parse_ndjson(&dir.read(&format!("out/{}", l["path"].as_str().unwrap()))) {
            let own = dir.join(&format!(
                "out/{day}/files/{}",
                r["file_id"].as_str().unwrap()
            ));
            assert!(!own.exists(), "{} left behind", own.display());
        }
    }
}

/// Committed, the same events ask for nothing; without the bookmark, stored
/// files are not downloaded again and missing records not added twice.
fn reruns_ask_for_nothing_new(
    dir: &Dir,
    mock: &Mock,
    args: &[&str],
    available: usize,
    gone: usize,
) {
    let (dir, mock) = (dir, mock);
    // Committed, the same events again: nothing is asked for.
    commit(dir);
    mock.clear_requests();
    let run = fetch(dir, mock, args).expect_success();
    assert!(run.json_lines().is_empty(), "{}", run.report());
    assert!(api_requests(&mock.requests(), "")
        .iter()
        .all(|r| !r["path"].as_str().unwrap().contains("/files/")));

    // Without the bookmark: stored files are not downloaded again, and the
    // missing records are not added twice.
    mock.clear_requests();
    let mut again = args.to_vec();
    again.push("--no-resume");
    let run = fetch(dir, mock, &again).expect_code(1);
    let redownloads = mock
        .requests()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().starts_with("/download/files/"))
        .count();
    assert_eq!(redownloads, 0, "{}", run.report());
    let present = run
        .json_lines()
        .iter()
        .filter(|l| l["downloaded"] == false)
        .count();
    assert_eq!(present, available);
    let mut n = 0;
    for l in run
        .json_lines()
        .iter()
        .filter(|l| l["kind"] == "files-missing")
    {
        n +=
            testkit::parse_ndjson(&dir.read(&format!("out/{}", l["path"].as_str().unwrap()))).len();
    }
    assert_eq!(n, gone, "missing records added twice");
}

#[test]
fn a_file_over_the_cap_is_named_and_keeps_the_bookmark_before_it() {
    let dir = Dir::new("files-cap");
    let mock = start_mock(&[
        "--attachments-pct",
        "40",
        "--now",
        "2025-07-02T00:00:00Z",
        "--upload-retention-hours",
        "1000",
    ]);
    events(&dir, &mock);
    let run = fetch(
        &dir,
        &mock,
        &[
            "files",
            "--events",
            "events.ndjson",
            "--out",
            "out",
            "--max-file-size",
            "1KB",
            "--summary",
            "s.json",
        ],
    )
    .expect_code(1);
    run.assert(
        run.stderr.contains("larger than --max-file-size 1 KB")
            || run.stderr.contains("larger than --max-file-size"),
        "names the cap",
    );
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert!(s["files_failed"].as_u64().unwrap() > 0);
    let oldest_failed = mock
        .files_truth()
        .iter()
        .filter(|f| f["bytes"].as_u64().unwrap() > 1000 && f["state"] == "available")
        .map(|f| f["created_at"].as_str().unwrap().to_string())
        .min()
        .unwrap();
    let b = &s["bookmark_pending"]["files"];
    let oldest = chrono::DateTime::parse_from_rfc3339(&oldest_failed)
        .unwrap()
        .timestamp() as f64;
    // No time at all is fine too: nothing before the failed file was resolved.
    if let Some(reached) = b["time"].as_f64() {
        assert!(
            reached < oldest + 1.0,
            "bookmark {reached} passed the failed file at {oldest_failed}"
        );
    }
}

#[test]
fn a_missing_events_file_is_exit_2() {
    let dir = Dir::new("files-noinput");
    let mock = start_mock(&[]);
    let run = fetch(
        &dir,
        &mock,
        &[
            "files",
            "--events",
            "nope.ndjson",
            "--out",
            "out",
            "--summary",
            "s.json",
        ],
    )
    .expect_code(2);
    run.assert(run.stderr.contains("nope.ndjson"), "names the file");
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(s["status"], "failed");
    assert_eq!(s["exit_code"], 2);
}

#[test]
fn a_dry_run_plans_every_file_and_touches_nothing() {
    let dir = Dir::new("files-dry");
    let mock = start_mock(MOCK);
    events(&dir, &mock);
    mock.clear_requests();
    let run = fetch(
        &dir,
        &mock,
        &[
            "files",
            "--events",
            "events.ndjson",
            "--out",
            "out",
            "--dry-run",
        ],
    )
    .expect_success();
    let lines = run.json_lines();
    assert_eq!(lines[0]["credentials"], "ok", "{}", run.report());
    let planned: Vec<&Value> = lines[1..].iter().collect();
    assert_eq!(planned.len(), mock.files_truth().len(), "{}", run.report());
    for p in &planned {
        assert_eq!(p["status"], "planned");
        assert!(p["url"].as_str().unwrap().contains("/files/"), "{p}");
        assert!(p["path"].as_str().unwrap().contains("/files/"), "{p}");
    }
    assert!(!dir.join("out").exists(), "a dry run wrote the output");
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1, "one request checks the key: {reqs:?}");
}
