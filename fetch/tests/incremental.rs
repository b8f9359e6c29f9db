//! Bookmarks: incremental runs fetch only what is new or updated, a run
//! with nothing new makes the fewest requests, nothing moves until
//! `fetch commit`, windows commit as they go, and a kill -9 at any moment
//! followed by a re-run loses nothing and duplicates nothing.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use testkit::Dir;

fn ids(records: &[Value], field: &str) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| r[field].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// Records of `after` that are new or differ from `before`.
fn changed(before: &[Value], after: &[Value], field: &str) -> Vec<String> {
    let old: BTreeMap<&str, &Value> = before
        .iter()
        .map(|r| (r[field].as_str().unwrap(), r))
        .collect();
    let mut v: Vec<String> = after
        .iter()
        .filter(|r| old.get(r[field].as_str().unwrap()) != Some(r))
        .map(|r| r[field].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn second_run_fetches_only_new_and_updated_records() {
    let dir = Dir::new("incremental");
    let mock = start_mock(&[]);
    let conv0 = mock.truth("conversations");
    let audit0 = mock.truth("audit_logs");
    let logs0 = all_log_truth(&mock);
    let first = fetch(&dir, &mock, &["conversations"])
        .expect_success()
        .json_lines();
    assert_same(&first, &conv0, "id", "first conversations run");
    fetch(&dir, &mock, &["audit-logs"]).expect_success();
    fetch(&dir, &mock, &["logs", "--event-type", "all"]).expect_success();
    let promoted = commit(&dir);
    assert!(promoted.len() >= 3, "{promoted:?}");
    assert!(promoted.iter().all(|p| p["status"] == "committed"));

    let adv = mock.advance(5, 3, 11);
    assert_eq!(adv["conversations_added"], 5);
    let conv1 = mock.truth("conversations");
    let want = changed(&conv0, &conv1, "id");
    assert_eq!(want.len(), 8, "advance should add 5 and update 3");

    let run = fetch(&dir, &mock, &["conversations", "--summary", "s.json"]).expect_success();
    let got = run.json_lines();
    assert_eq!(
        ids(&got, "id"),
        want,
        "the second run is not exactly the new and updated conversations"
    );
    let truth: BTreeMap<&str, &Value> = conv1
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    for r in &got {
        assert_eq!(
            truth[r["id"].as_str().unwrap()],
            r,
            "not the newest version"
        );
    }

    let audit = fetch(&dir, &mock, &["audit-logs"])
        .expect_success()
        .json_lines();
    assert_eq!(
        ids(&audit, "id"),
        changed(&audit0, &mock.truth("audit_logs"), "id")
    );
    assert!(!audit.is_empty());
    let logs = fetch(&dir, &mock, &["logs", "--event-type", "all"])
        .expect_success()
        .json_lines();
    let want_logs = changed(&logs0, &all_log_truth(&mock), "event_id");
    assert!(!want_logs.is_empty());
    assert_eq!(ids(&logs, "event_id"), want_logs);
}

#[test]
fn a_run_with_nothing_new_makes_the_minimum_of_requests() {
    let dir = Dir::new("nothing-new");
    let mock = start_mock(&[]);
    fetch(&dir, &mock, &["conversations"]).expect_success();
    fetch(&dir, &mock, &["audit-logs"]).expect_success();
    fetch(
        &dir,
        &mock,
        &["logs", "--event-type", "AUTH_LOG,CONVERSATION_MESSAGE"],
    )
    .expect_success();
    commit(&dir);
    mock.clear_requests();
    let run = fetch(&dir, &mock, &["conversations", "--summary", "c.json"]).expect_success();
    run.assert(run.stdout.is_empty(), "records came again");
    let audit = fetch(&dir, &mock, &["audit-logs"]).expect_success();
    audit.assert(audit.stdout.is_empty(), "audit records came again");
    let logs = fetch(
        &dir,
        &mock,
        &["logs", "--event-type", "AUTH_LOG,CONVERSATION_MESSAGE"],
    )
    .expect_success();
    logs.assert(logs.stdout.is_empty(), "log events came again");
    let reqs = mock.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r["path"].as_str().unwrap()).collect();
    // One listing page each for conversations and audit logs; one
    // max_event_time per log type (its freshness equals the bookmark).
    assert_eq!(
        paths,
        [
            format!("/v1/compliance/workspaces/{WS}/conversations"),
            "/v1/organization/audit_logs".to_string(),
            format!("/v1/compliance/workspaces/{WS}/max_event_time"),
            format!("/v1/compliance/workspaces/{WS}/max_event_time"),
        ]
    );
    let s: Value = serde_json::from_str(&dir.read("c.json")).unwrap();
    assert_eq!(s["requests"], 1);
    assert_eq!(s["more"], false);
}

#[test]
fn nothing_moves_until_commit() {
    let dir = Dir::new("no-commit");
    let mock = start_mock(&[]);
    let a = fetch(&dir, &mock, &["conversations"])
        .expect_success()
        .json_lines();
    // The pipeline failed downstream: no commit. The next run starts over.
    let b = fetch(&dir, &mock, &["conversations"])
        .expect_success()
        .json_lines();
    assert_eq!(ids(&a, "id"), ids(&b, "id"));
    assert!(!a.is_empty());
    let st = dir
        .command(env!("CARGO_BIN_EXE_fetch"))
        .args(["status", "--state-dir"])
        .arg(dir.join("state"))
        .expect_success()
        .json_lines();
    assert_eq!(st.len(), 1);
    assert_eq!(st[0]["state"], "pending");
    commit(&dir);
    let c = fetch(&dir, &mock, &["conversations"]).expect_success();
    c.assert(c.stdout.is_empty(), "committed records came again");
    // --no-resume ignores the committed bookmark.
    let d = fetch(&dir, &mock, &["conversations", "--no-resume"])
        .expect_success()
        .json_lines();
    assert_eq!(ids(&a, "id"), ids(&d, "id"));
}

/// Run windows of `--max-pages` until "more" is false, committing each;
/// returns the union of the committed output.
fn windows(dir: &Dir, mock: &Mock, args: &[&str]) -> (Vec<Value>, usize) {
    let mut all = Vec::new();
    for n in 1..200 {
        let run = fetch(dir, mock, args)
            .args(["--summary", "w.json"])
            .expect_success();
        all.extend(run.json_lines());
        commit(dir);
        let s: Value = serde_json::from_str(&dir.read("w.json")).unwrap();
        if s["more"] == false {
            return (all, n);
        }
    }
    panic!("windows never finished");
}

#[test]
fn max_pages_windows_commit_as_they_go_and_cover_everything() {
    let mock = start_mock(&["--short-pages", "30", "--nested-messages", "5"]);
    let dir = Dir::new("windows");
    let (conv, n) = windows(
        &dir,
        &mock,
        &["conversations", "--limit", "4", "--max-pages", "2"],
    );
    assert!(n > 2, "only {n} windows: the test proves nothing");
    assert_same(
        &conv,
        &mock.truth("conversations"),
        "id",
        "conversation windows",
    );
    let (audit, n) = windows(
        &dir,
        &mock,
        &["audit-logs", "--limit", "3", "--max-pages", "2"],
    );
    assert!(n > 2);
    assert_same(&audit, &mock.truth("audit_logs"), "id", "audit windows");
    let (logs, n) = windows(
        &dir,
        &mock,
        &[
            "logs",
            "--event-type",
            "AUTH_LOG",
            "--limit",
            "2",
            "--max-pages",
            "1",
        ],
    );
    assert!(n > 2);
    assert_same(
        &logs,
        &mock.truth("logs/AUTH_LOG"),
        "event_id",
        "log windows",
    );
    let (users, n) = windows(&dir, &mock, &["users", "--limit", "5", "--max-pages", "1"]);
    assert!(n > 1);
    assert_same(&users, &mock.truth("users"), "id", "user windows");
}

#[test]
fn until_windows_cover_everything_once() {
    let mock = start_mock(&[]);
    let dir = Dir::new("until");
    let mut all = Vec::new();
    for until in ["2025-07-03", "2025-07-04T12:00:00Z", "2026-12-01"] {
        let run = fetch(
            &dir,
            &mock,
            &[
                "logs",
                "--event-type",
                "AUTH_LOG",
                "--until",
                until,
                "--summary",
                "u.json",
            ],
        )
        .expect_success();
        all.extend(run.json_lines());
        commit(&dir);
    }
    assert_same(
        &all,
        &mock.truth("logs/AUTH_LOG"),
        "event_id",
        "until windows",
    );
}

/// kill -9 at a random moment, again and again; only runs that finished
/// are committed (as the pipeline script does). The union of committed
/// output must be the server's data, each record once.
fn kill_and_resume(mock: &Mock, dir: &Dir, args: &[&str], field: &str, truth: &[Value]) {
    let mut committed: Vec<Value> = Vec::new();
    let mut kills = 0;
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for round in 0..300 {
        let mut cmd = fetch(dir, mock, args);
        cmd.args(["--summary", "k.json"]);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let kill_after = (round % 2 == 0).then(|| Duration::from_millis(seed % 60));
        let c = cmd.command_mut();
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .stdin(std::process::Stdio::null());
        let mut child = c.spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
            s
        });
        let start = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break Some(st);
            }
            if kill_after.is_some_and(|k| start.elapsed() >= k) {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                break None;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let out = reader.join().unwrap();
        match status {
            Some(st) if st.success() => {
                committed.extend(testkit::parse_ndjson(&out));
                commit(dir);
                let s: Value = serde_json::from_str(&dir.read("k.json")).unwrap();
                if s["more"] == false {
                    assert!(kills > 0, "no run was killed: the test proves nothing");
                    assert_same(
                        &committed,
                        truth,
                        field,
                        "union of committed output after kill -9",
                    );
                    return;
                }
            }
            Some(st) => panic!("fetch failed: {st}"),
            None => kills += 1,
        }
    }
    panic!("never finished");
}

#[test]
fn kill_9_at_random_moments_then_rerun_loses_and_duplicates_nothing() {
    let mock = start_mock(&["--short-pages", "20", "--nested-messages", "5"]);
    let dir = Dir::new("kill-conv");
    let truth = mock.truth("conversations");
    kill_and_resume(
        &mock,
        &dir,
        &["conversations", "--limit", "3", "--max-pages", "2"],
        "id",
        &truth,
    );
    let dir = Dir::new("kill-logs");
    let truth = mock.truth("logs/CONVERSATION_MESSAGE");
    kill_and_resume(
        &mock,
        &dir,
        &[
            "logs",
            "--event-type",
            "CONVERSATION_MESSAGE",
            "--limit",
            "2",
            "--max-pages",
            "2",
        ],
        "event_id",
        &truth,
    );
    let dir = Dir::new("kill-audit");
    let truth = mock.truth("audit_logs");
    kill_and_resume(
        &mock,
        &dir,
        &["audit-logs", "--limit", "2", "--max-pages", "2"],
        "id",
        &truth,
    );
}
