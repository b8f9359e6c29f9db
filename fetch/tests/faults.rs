//! Each fault the mock can inject: either every record arrives exactly
//! once, or the run ends with the documented exit code, no pending
//! bookmark, and a message that names the status and the body (never the key).

use crate::support::*;
use testkit::Dir;

/// The fault really happened: the run had to retry.
fn assert_retried(dir: &Dir, spec: &str) {
    let s: serde_json::Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert!(
        s["retries"].as_u64().unwrap() >= 1,
        "{spec}: no retry: the test proves nothing\n{s}"
    );
}

#[test]
fn transient_faults_lose_and_duplicate_nothing() {
    for spec in [
        "429@2",
        "429-no-header@2",
        "429-date=1@2",
        "503x3@2",
        "500@1",
        "502x2@3",
        "drop@2",
        "stall=3@2",
    ] {
        let dir = Dir::new("transient");
        let mock = start_mock(&[
            "--faults",
            spec,
            "--short-pages",
            "0",
            "--nested-messages",
            "4",
        ]);
        let run = fetch(
            &dir,
            &mock,
            &[
                "conversations",
                "--limit",
                "6",
                "--timeout",
                "1",
                "--summary",
                "s.json",
            ],
        )
        .expect_success();
        assert_retried(&dir, spec);
        assert_same(&run.json_lines(), &mock.truth("conversations"), "id", spec);
        run.assert(run.stderr.contains("retrying"), spec);
    }
}

#[test]
fn log_download_faults_lose_and_duplicate_nothing() {
    for spec in [
        "expired-download@2",
        "bad-sha-once@1",
        "drop@2:/download/",
        "503x2@1:/logs",
    ] {
        let dir = Dir::new("log-faults");
        let mock = start_mock(&["--faults", spec]);
        let run = fetch(
            &dir,
            &mock,
            &[
                "logs",
                "--event-type",
                "AUTH_LOG,CONVERSATION_MESSAGE",
                "--summary",
                "s.json",
            ],
        )
        .expect_success();
        assert_retried(&dir, spec);
        let mut truth = mock.truth("logs/AUTH_LOG");
        truth.extend(mock.truth("logs/CONVERSATION_MESSAGE"));
        assert_same(&run.json_lines(), &truth, "event_id", spec);
    }
    let dir = Dir::new("audit-429");
    let mock = start_mock(&["--faults", "429@1"]);
    let run = fetch(
        &dir,
        &mock,
        &["audit-logs", "--limit", "5", "--summary", "s.json"],
    )
    .expect_success();
    assert_retried(&dir, "429@1");
    assert_same(
        &run.json_lines(),
        &mock.truth("audit_logs"),
        "id",
        "audit 429",
    );
}

#[test]
fn a_log_file_that_never_matches_its_sha256_fails_with_exit_4_and_commits_nothing() {
    let dir = Dir::new("bad-sha");
    let mock = start_mock(&["--faults", "bad-sha@2:AUTH_LOG"]);
    let run = fetch(
        &dir,
        &mock,
        &["logs", "--event-type", "AUTH_LOG", "--max-attempts", "3"],
    )
    .expect_code(4);
    run.assert(
        run.stderr.contains("file_sha256"),
        "the error does not say what failed",
    );
    assert!(
        state_files(&dir).is_empty(),
        "state written: {:?}",
        state_files(&dir)
    );
    assert!(
        commit(&dir).is_empty(),
        "a failed run left something to commit"
    );
}

#[test]
fn persistent_server_errors_exit_4_with_status_and_body_and_commit_nothing() {
    let dir = Dir::new("persistent-5xx");
    // A committed bookmark from an earlier good run must stay as it was.
    let mock = start_mock(&["--faults", "503x100@2"]);
    fetch(&dir, &mock, &["users"]).expect_success();
    commit(&dir);
    let before = dir.read(&state_files(&dir)[0]);
    let run = fetch(&dir, &mock, &["users", "--max-attempts", "3"]).expect_code(4);
    run.assert(run.stderr.contains("503"), "no status");
    run.assert(run.stderr.contains("server had an error"), "no body");
    run.assert(run.stderr.contains("3 attempts"), "no attempt count");
    run.assert(!run.stderr.contains(KEY), "the key was printed");
    assert_eq!(state_files(&dir).len(), 1, "{:?}", state_files(&dir));
    assert_eq!(
        dir.read(&state_files(&dir)[0]),
        before,
        "the committed bookmark changed"
    );
    assert!(commit(&dir).is_empty());
}

#[test]
fn auth_and_not_found_fail_fast_with_hints() {
    let mock = start_mock(&[]);
    let cases: [(&[&str], &str, &str, &str); 4] = [
        (
            &["conversations"],
            "sk-bad-key-999",
            "401",
            "OPENAI_API_KEY",
        ),
        (&["conversations"], "wrong-scope", "403", "scope"),
        (
            &[
                "conversations",
                "--workspace-id",
                "00000000-0000-0000-0000-000000000000",
            ],
            KEY,
            "404",
            "--workspace-id",
        ),
        (
            &["logs", "--event-type", "AUTH_LOG"],
            "wrong-scope",
            "403",
            "scope",
        ),
    ];
    for (args, key, status, hint) in cases {
        let dir = Dir::new("auth");
        mock.clear_requests();
        let run = fetch(&dir, &mock, args)
            .env("OPENAI_API_KEY", key)
            .expect_code(2);
        run.assert(
            run.stderr.contains(status) && run.stderr.contains(hint),
            hint,
        );
        run.assert(
            !run.stderr.contains("sk-bad-key-999"),
            "the key was printed",
        );
        assert_eq!(mock.requests().len(), 1, "{status} was retried");
        assert!(state_files(&dir).is_empty());
    }
    // A base URL that is not the API: 404 with the base-url hint.
    let dir = Dir::new("wrong-base");
    let run = fetch_at(&dir, &format!("{}/v2", mock.url), &["users"]).expect_code(2);
    run.assert(run.stderr.contains("--base-url"), "no base-url hint");
}

#[test]
fn a_403_in_the_middle_commits_nothing() {
    let dir = Dir::new("mid-403");
    let mock = start_mock(&["--faults", "403@3", "--short-pages", "0"]);
    let run = fetch(&dir, &mock, &["conversations", "--limit", "5"]).expect_code(2);
    run.assert(
        run.stdout.is_empty(),
        "records were written by a failed conversations run",
    );
    assert!(state_files(&dir).is_empty());
    assert!(commit(&dir).is_empty());
}

#[test]
fn unreachable_server_exits_4_after_retries() {
    let dir = Dir::new("unreachable");
    let port = testkit::free_port();
    let base = format!("http://127.0.0.1:{port}/v1");
    let run = fetch_at(&dir, &base, &["users", "--max-attempts", "2"]).expect_code(4);
    run.assert(run.stderr.contains("connect"), "no cause");
}
