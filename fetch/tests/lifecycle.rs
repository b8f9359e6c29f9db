//! Freshness against the upstream retention, open-ended event types and
//! the organisation scope, the inclusive `after` boundary, commits scoped
//! to one run, and the vocabulary (flags, exit codes).

use crate::support::*;
use serde_json::{json, Value};
use testkit::Dir;

/// Write a committed logs bookmark `days` old.
fn old_bookmark(dir: &Dir, event_type: &str, days: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::days(days);
    let cursor = t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let b = json!({"stream": format!("logs-{event_type}"), "cursor": cursor, "boundary": {}, "saved_at": cursor});
    dir.write(
        &format!("state/127.0.0.1/{WS}/logs-{event_type}.json"),
        b.to_string(),
    );
    cursor
}

#[test]
fn an_old_bookmark_warns_and_one_past_the_retention_names_the_lost_window() {
    let mock = start_mock(&[]);
    let dir = Dir::new("fresh-25");
    old_bookmark(&dir, "AUTH_LOG", 25);
    let run = fetch(
        &dir,
        &mock,
        &[
            "logs",
            "--event-type",
            "AUTH_LOG",
            "--retention",
            "30d",
            "--summary",
            "s.json",
        ],
    )
    .expect_success();
    run.assert(
        run.stderr.contains("warning") && run.stderr.contains("25d"),
        "a warning naming the age",
    );
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    let f = &s["freshness"];
    assert!(f["warning"].is_string(), "{s}");
    assert_eq!(f["retention_s"], 30 * 86_400);
    assert!(f["lag_s"].as_i64().unwrap() >= 25 * 86_400);
    assert!(f.get("lost_from").is_none());
    let st = status(&dir);
    assert_eq!(st[0]["retention_s"], 30 * 86_400);
    assert!(
        st[0]["lag"].as_str().unwrap().starts_with("25d"),
        "{}",
        st[0]
    );

    let dir = Dir::new("fresh-31");
    let from = old_bookmark(&dir, "AUTH_LOG", 31);
    let run = fetch(
        &dir,
        &mock,
        &[
            "logs",
            "--event-type",
            "AUTH_LOG",
            "--retention",
            "30d",
            "--summary",
            "s.json",
        ],
    )
    .expect_code(1);
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    let f = &s["freshness"];
    assert_eq!(f["lost_from"], from.as_str(), "{s}");
    let until = chrono::DateTime::parse_from_rfc3339(f["lost_until"].as_str().unwrap()).unwrap();
    let want = chrono::Utc::now() - chrono::Duration::days(30);
    assert!((until.timestamp() - want.timestamp()).abs() < 120, "{s}");
    run.assert(
        run.stderr.contains(&from) && run.stderr.contains(f["lost_until"].as_str().unwrap()),
        "stderr names the window",
    );
    // What exists is still fetched and a pending bookmark written.
    assert!(s["bookmark_pending"]["logs-AUTH_LOG"].is_object(), "{s}");
    // --retention overrides the default.
    let dir = Dir::new("fresh-retention");
    old_bookmark(&dir, "AUTH_LOG", 31);
    fetch(
        &dir,
        &mock,
        &["logs", "--event-type", "AUTH_LOG", "--retention", "90d"],
    )
    .expect_success();
}

fn status(dir: &Dir) -> Vec<Value> {
    let mut c = dir.command(env!("CARGO_BIN_EXE_fetch"));
    c.args(["status", "--state-dir"]).arg(dir.join("state"));
    c.expect_success().json_lines()
}

#[test]
fn every_type_is_archived_and_organisation_types_need_the_organisation() {
    let mock = start_mock(&["--org-id", "org-test"]);
    let dir = Dir::new("all-types");
    let run = fetch(
        &dir,
        &mock,
        &[
            "logs",
            "--event-type",
            "all",
            "--organization-id",
            "org-test",
        ],
    )
    .expect_success();
    let got = run.json_lines();
    let mut truth = all_log_truth(&mock);
    truth.extend(mock.truth("logs/COSTS"));
    assert_same(&got, &truth, "event_id", "all types");
    for t in ["COSTS", "WIDGET_TELEMETRY_LOG", "CUSTOM_AGENTS_LOG"] {
        assert!(got.iter().any(|e| e["type"] == t), "no {t} event");
    }
    let keys: Vec<String> = commit(&dir)
        .iter()
        .map(|p| p["stream"].as_str().unwrap().to_string())
        .collect();
    assert!(
        keys.contains(&"logs-COSTS".to_string()) && keys.contains(&"logs-APP_LOG".to_string()),
        "{keys:?}"
    );

    let dir = Dir::new("costs-no-org");
    let run = fetch(&dir, &mock, &["logs", "--event-type", "COSTS"]).expect_code(2);
    run.assert(
        run.stderr.contains("COSTS") && run.stderr.contains("--organization-id"),
        "the hint",
    );
    let dir = Dir::new("costs-env");
    fetch(&dir, &mock, &["logs", "--event-type", "COSTS"])
        .env("ORGANIZATION_ID", "org-test")
        .expect_success();
}

#[test]
fn the_boundary_file_that_comes_again_is_dropped() {
    let mock = start_mock(&[]);
    let dir = Dir::new("boundary");
    let first = fetch(
        &dir,
        &mock,
        &[
            "logs",
            "--event-type",
            "AUTH_LOG",
            "--limit",
            "2",
            "--overlap",
            "0",
            "--summary",
            "s.json",
        ],
    )
    .expect_success();
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    // Every page after the first starts with the previous page's last file.
    assert!(s["duplicates_dropped"].as_u64().unwrap() > 0, "{s}");
    commit(&dir);
    mock.advance(2, 0, 1);
    let second = fetch(
        &dir,
        &mock,
        &["logs", "--event-type", "AUTH_LOG", "--overlap", "0"],
    )
    .expect_success();
    let mut all = first.json_lines();
    all.extend(second.json_lines());
    assert_same(&all, &mock.truth("logs/AUTH_LOG"), "event_id", "two runs");
    for limit in ["101", "1"] {
        let run = fetch(
            &dir,
            &mock,
            &["logs", "--event-type", "AUTH_LOG", "--limit", limit],
        )
        .expect_code(2);
        run.assert(run.stderr.contains("--limit"), "names --limit");
    }
}

#[test]
fn commit_promotes_only_the_runs_it_is_told() {
    let mock = start_mock(&[]);
    let dir = Dir::new("commit-runs");
    let s1 = fetch(
        &dir,
        &mock,
        &["users", "--run-id", "run-a", "--summary", "a.json"],
    )
    .expect_success();
    drop(s1);
    fetch(&dir, &mock, &["gpts", "--run-id", "run-b"]).expect_success();
    let a: Value = serde_json::from_str(&dir.read("a.json")).unwrap();
    assert_eq!(a["run_id"], "run-a");
    fetch(&dir, &mock, &["projects", "--run-id", "run-c"]).expect_success();
    // --run-id: only that run's.
    let mut c = dir.command(env!("CARGO_BIN_EXE_fetch"));
    c.args(["commit", "--run-id", "run-a", "--state-dir"])
        .arg(dir.join("state"));
    let done = c.expect_success().json_lines();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["stream"], "users");
    assert_eq!(done[0]["run_id"], "run-a");
    // Plain: only the most recent run's; the others are named and left.
    let mut c = dir.command(env!("CARGO_BIN_EXE_fetch"));
    c.args(["commit", "--state-dir"]).arg(dir.join("state"));
    let run = c.expect_success();
    let done = run.json_lines();
    assert_eq!(done.len(), 1, "{}", run.report());
    assert_eq!(done[0]["stream"], "projects");
    run.assert(
        run.stderr.contains("gpts of run run-b") && run.stderr.contains("--run-id run-b"),
        "names what it left",
    );
    let left = dir.files("state");
    assert!(
        left.iter().any(|f| f.ends_with("gpts.pending.json")),
        "{left:?}"
    );
    // --stream: only that stream's.
    let mut c = dir.command(env!("CARGO_BIN_EXE_fetch"));
    c.args(["commit", "--stream", "gpts", "--state-dir"])
        .arg(dir.join("state"));
    assert_eq!(c.expect_success().json_lines()[0]["stream"], "gpts");

    // A committed bookmark overriding --since is said, with the way out.
    fetch(&dir, &mock, &["audit-logs", "--event-type", "login.failed"]).expect_success();
    commit(&dir);
    let run = fetch(
        &dir,
        &mock,
        &[
            "audit-logs",
            "--event-types",
            "login.failed",
            "--since",
            "2025-07-02",
        ],
    )
    .expect_success();
    run.assert(
        run.stderr.contains("overrides --since") && run.stderr.contains("--no-resume"),
        "the override is said",
    );
}

#[test]
fn conversation_records_are_counted_and_dry_runs_carry_the_users_filter() {
    let mock = start_mock(&[]);
    let dir = Dir::new("counts");
    let run = fetch(&dir, &mock, &["conversations", "--summary", "s.json"]).expect_success();
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(s["records"], run.json_lines().len());
    assert!(s["records"].as_u64().unwrap() > 0);
    let run = fetch(
        &dir,
        &mock,
        &["conversations", "--dry-run", "--users", "user-x,user-y"],
    )
    .expect_success();
    let line = &run.json_lines()[0];
    let url = line["url"].as_str().unwrap();
    assert!(
        url.contains("users=user-x") && url.contains("users=user-y"),
        "{line}"
    );
    assert_eq!(line["credentials"], "ok");
    let run = fetch(&dir, &mock, &["conversations", "--dry-run"])
        .env("OPENAI_API_KEY", "wrong")
        .expect_code(2);
    run.assert(run.stderr.contains("401"), "the key is checked");
}

#[test]
fn an_empty_page_keeps_the_cursor() {
    // Every file is past the mock's log retention: the listing is one empty
    // page with last_end_time null, though max_event_time says more exists.
    let mock = start_mock(&["--log-retention-days", "1"]);
    let dir = Dir::new("empty-page");
    let b = json!({"stream": "logs-AUTH_LOG", "cursor": "2025-07-03T00:00:00Z", "boundary": {}, "saved_at": "2025-07-03T00:00:00Z"});
    dir.write(
        &format!("state/127.0.0.1/{WS}/logs-AUTH_LOG.json"),
        b.to_string(),
    );
    let run = fetch(
        &dir,
        &mock,
        &["logs", "--event-type", "AUTH_LOG", "--summary", "s.json"],
    )
    .expect_success();
    assert!(run.json_lines().is_empty());
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(s["pages"], 1, "{s}");
    assert_eq!(
        s["bookmark_pending"]["logs-AUTH_LOG"]["cursor"], "2025-07-03T00:00:00Z",
        "{s}"
    );
}
