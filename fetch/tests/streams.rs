//! Every stream against the mock over real HTTP: complete, exactly once,
//! and the exact query strings the real clients send.

use crate::support::*;
use serde_json::Value;
use testkit::Dir;

#[test]
fn every_stream_matches_the_servers_data() {
    let dir = Dir::new("every-stream");
    // Nested messages beyond 3 must be paged; short pages are common.
    let mock = start_mock(&["--nested-messages", "3", "--short-pages", "40"]);
    let run = fetch(
        &dir,
        &mock,
        &["conversations", "--limit", "7", "--summary", "c.json"],
    )
    .expect_success();
    let conv = run.json_lines();
    assert_same(&conv, &mock.truth("conversations"), "id", "conversations");
    let complete = conv.iter().all(|c| c["messages"]["has_more"] == false);
    run.assert(
        complete,
        "a conversation was written with messages.has_more true",
    );
    let summary: Value = serde_json::from_str(&dir.read("c.json")).unwrap();
    assert_eq!(summary["records"], conv.len());
    assert_eq!(summary["more"], false);
    assert!(summary["pages"].as_u64().unwrap() >= (conv.len() as u64).div_ceil(7));
    let paged = mock
        .requests()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/messages"))
        .count();
    assert!(paged > 0, "no nested message page was requested");

    for stream in ["users", "gpts", "projects", "memories"] {
        let got = fetch(&dir, &mock, &[stream, "--limit", "3"])
            .expect_success()
            .json_lines();
        assert_same(&got, &mock.truth(stream), "id", stream);
    }
    let audit = fetch(&dir, &mock, &["audit-logs", "--limit", "4"])
        .expect_success()
        .json_lines();
    assert_same(&audit, &mock.truth("audit_logs"), "id", "audit-logs");

    let run = fetch(
        &dir,
        &mock,
        &[
            "logs",
            "--event-type",
            "all",
            "--limit",
            "5",
            "--summary",
            "l.json",
        ],
    )
    .expect_success();
    assert_same(&run.json_lines(), &all_log_truth(&mock), "event_id", "logs");
    let summary: Value = serde_json::from_str(&dir.read("l.json")).unwrap();
    assert!(
        summary["duplicates_dropped"].as_u64().unwrap() > 0,
        "the mock re-delivers events; none were dropped"
    );
}

#[test]
fn resent_updated_conversations_come_out_once_newest() {
    let dir = Dir::new("resent");
    let mock = start_mock(&["--resend-updated", "60", "--short-pages", "0"]);
    let run = fetch(
        &dir,
        &mock,
        &["conversations", "--limit", "4", "--summary", "s.json"],
    )
    .expect_success();
    // The truth is taken after the run: the listing itself updated records.
    assert_same(
        &run.json_lines(),
        &mock.truth("conversations"),
        "id",
        "conversations",
    );
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert!(
        s["duplicates_dropped"].as_u64().unwrap() > 0,
        "no conversation was re-sent: the test proves nothing\n{s}"
    );
}

#[test]
fn exact_query_strings_of_conversations() {
    let dir = Dir::new("queries");
    let mock = start_mock(&["--strict"]);
    // 150 users: two requests groups, 99 then 51, since_timestamp only first.
    let users: Vec<String> = (0..150).map(|i| format!("user-{i:03}")).collect();
    let list = users.join(",");
    fetch(
        &dir,
        &mock,
        &[
            "conversations",
            "--users",
            &list,
            "--since",
            "2025-07-02",
            "--no-resume",
        ],
    )
    .expect_success();
    let reqs = mock.requests();
    let conv = api_requests(&reqs, "/conversations");
    assert_eq!(conv.len(), 2, "{conv:#?}");
    let q0 = conv[0]["query"].as_str().unwrap();
    let q1 = conv[1]["query"].as_str().unwrap();
    let expect = |chunk: &[String]| {
        let mut s = "since_timestamp=1751414400&limit=500".to_string();
        for u in chunk {
            s.push_str(&format!("&users={u}"));
        }
        s
    };
    assert_eq!(q0, expect(&users[..99]));
    assert_eq!(q1, expect(&users[99..]));

    // Paging sends after= alone (strict mode would answer 400 otherwise).
    mock.clear_requests();
    fetch(
        &dir,
        &mock,
        &[
            "conversations",
            "--limit",
            "3",
            "--no-resume",
            "--since",
            "1751414400",
        ],
    )
    .expect_success();
    let reqs = mock.requests();
    let conv = api_requests(&reqs, "/conversations");
    assert!(conv.len() > 2);
    assert_eq!(conv[0]["query"], "since_timestamp=1751414400&limit=3");
    for r in &conv[1..] {
        let q = r["query"].as_str().unwrap();
        assert!(
            q.starts_with("after=") && q.ends_with("&limit=3") && !q.contains("since"),
            "{q}"
        );
        assert_eq!(r["status"], 200);
    }
}

#[test]
fn exact_query_strings_of_audit_logs_and_logs() {
    let dir = Dir::new("queries-audit-logs");
    let mock = start_mock(&["--strict"]);
    // Audit logs: bracketed filters, in the order real clients send them.
    fetch(
        &dir,
        &mock,
        &[
            "audit-logs",
            "--since",
            "1751414400",
            "--until",
            "1760000000",
            "--event-types",
            "project.created,api_key.created",
            "--project-ids",
            "proj_a",
            "--users",
            "user-x",
            "--actor-emails",
            "a@example.com",
            "--resource-ids",
            "key_1",
            "--limit",
            "100",
        ],
    )
    .expect_success();
    let reqs = mock.requests();
    let audit = api_requests(&reqs, "/organization/audit_logs");
    assert_eq!(
        audit[0]["query"],
        "effective_at[gte]=1751414400&effective_at[lt]=1760000000&event_types[]=project.created&event_types[]=api_key.created&project_ids[]=proj_a&actor_ids[]=user-x&actor_emails[]=a%40example.com&resource_ids[]=key_1&limit=100"
    );

    // Logs: event_type, after (RFC 3339), limit; max_event_time first.
    mock.clear_requests();
    fetch(
        &dir,
        &mock,
        &[
            "logs",
            "--event-type",
            "AUTH_LOG",
            "--since",
            "2025-07-02",
            "--no-resume",
            "--limit",
            "100",
        ],
    )
    .expect_success();
    let reqs = mock.requests();
    assert_eq!(
        reqs[0]["path"],
        format!("/v1/compliance/workspaces/{WS}/max_event_time")
    );
    assert_eq!(reqs[0]["query"], "event_type=AUTH_LOG");
    assert_eq!(
        reqs[1]["path"],
        format!("/v1/compliance/workspaces/{WS}/logs")
    );
    assert_eq!(
        reqs[1]["query"],
        "event_type=AUTH_LOG&after=2025-07-02T00%3A00%3A00Z&limit=100"
    );
    assert!(reqs
        .iter()
        .all(|r| r["status"] != 429 && r["status"].as_u64().unwrap() < 400 || r["status"] == 307));
}

#[test]
fn organization_ids_use_the_organizations_path() {
    let dir = Dir::new("org");
    let mock = start_mock(&["--org-id", "org-abc"]);
    let run = fetch(
        &dir,
        &mock,
        &[
            "logs",
            "--event-type",
            "AUTH_LOG",
            "--workspace-id",
            "org-abc",
        ],
    )
    .expect_success();
    assert_same(
        &run.json_lines(),
        &mock.truth("logs/AUTH_LOG"),
        "event_id",
        "org logs",
    );
    let reqs = mock.requests();
    assert!(api_requests(&reqs, "/logs")[0]["path"] == "/v1/compliance/organizations/org-abc/logs");
}

#[test]
fn dry_run_shows_the_first_request_and_checks_the_key_once() {
    let dir = Dir::new("dry-run");
    let mock = start_mock(&[]);
    let run = fetch(
        &dir,
        &mock,
        &["conversations", "--dry-run", "--since", "2025-07-02"],
    )
    .expect_success();
    let lines = run.json_lines();
    assert_eq!(lines.len(), 1, "{}", run.report());
    assert_eq!(lines[0]["status"], "planned");
    assert_eq!(lines[0]["credentials"], "ok");
    assert_eq!(
        lines[0]["url"],
        format!(
            "{}/compliance/workspaces/{WS}/conversations?since_timestamp=1751414400&limit=500",
            mock.base()
        )
    );
    assert_eq!(lines[0]["authorization"], "Bearer [redacted]");
    run.assert(
        !run.stdout.contains(KEY) && !run.stderr.contains(KEY),
        "the key was printed",
    );
    assert_eq!(mock.requests().len(), 1, "a dry run makes exactly one call");
    assert!(
        state_files(&dir).is_empty(),
        "a dry run wrote state: {:?}",
        state_files(&dir)
    );

    let bad = fetch(&dir, &mock, &["audit-logs", "--dry-run"])
        .env("OPENAI_ADMIN_KEY", "sk-wrong-123")
        .expect_code(2);
    bad.assert(
        bad.stderr.contains("401") && bad.stderr.contains("OPENAI_ADMIN_KEY"),
        "no 401 hint",
    );
    bad.assert(!bad.stderr.contains("sk-wrong-123"), "the key was printed");
}

#[test]
fn key_never_comes_from_a_plain_flag() {
    let dir = Dir::new("no-key-flag");
    let mock = start_mock(&[]);
    let run = fetch(&dir, &mock, &["users", "--api-key", "test-key"])
        .env_remove("OPENAI_API_KEY")
        .expect_code(2);
    run.assert(
        run.stderr.contains("--api-key"),
        "clap should refuse the flag",
    );
    let run = fetch(&dir, &mock, &["users"])
        .env_remove("OPENAI_API_KEY")
        .expect_code(2);
    run.assert(
        run.stderr.contains("OPENAI_API_KEY") && run.stderr.contains("--api-key-file"),
        "no hint",
    );
    dir.write("key.txt", "test-key\n");
    let got = fetch(&dir, &mock, &["users", "--api-key-file", "key.txt"])
        .env_remove("OPENAI_API_KEY")
        .expect_success();
    assert_same(&got.json_lines(), &mock.truth("users"), "id", "users");
}

#[test]
fn bad_flags_are_usage_errors() {
    let dir = Dir::new("bad-flags");
    let mock = start_mock(&[]);
    for (args, needle) in [
        (vec!["conversations", "--since", "yesterday"], "--since"),
        (
            vec![
                "conversations",
                "--since",
                "2026-01-02",
                "--until",
                "2026-01-01",
            ],
            "not before",
        ),
        (vec!["users", "--users", "u1"], "--users"),
        (
            vec!["logs", "--event-type", "AUTH_LOG", "--users", "u1"],
            "--users",
        ),
        (vec!["conversations", "--rate-limit", "0"], "--rate-limit"),
    ] {
        let run = fetch(&dir, &mock, &args).expect_code(2);
        run.assert(run.stderr.contains(needle), needle);
    }
    let run = fetch(&dir, &mock, &["users"])
        .env_remove("WORKSPACE_ID")
        .expect_code(2);
    run.assert(run.stderr.contains("WORKSPACE_ID"), "no workspace hint");
    assert!(
        mock.requests().is_empty(),
        "a usage error still sent requests"
    );
}

#[test]
fn dry_run_of_several_log_types_is_still_one_planned_request() {
    let dir = Dir::new("dry-run-logs");
    let mock = start_mock(&[]);
    let run = fetch(
        &dir,
        &mock,
        &[
            "logs",
            "--event-type",
            "AUTH_LOG,AUDIT_LOG,AUTH_LOG",
            "--dry-run",
        ],
    )
    .expect_success();
    let lines = run.json_lines();
    assert_eq!(lines.len(), 1, "{}", run.report());
    assert_eq!(lines[0]["stream"], "logs");
    assert!(lines[0]["url"]
        .as_str()
        .unwrap()
        .contains("event_type=AUTH_LOG&after="));
    assert_eq!(mock.requests().len(), 1);
    assert!(state_files(&dir).is_empty());
}
