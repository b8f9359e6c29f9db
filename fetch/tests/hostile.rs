//! A broken or hostile server can neither hang fetch, fool it, nor make it
//! leak the key. Each fault of the mock against the real binary: the exit
//! code, the message on stderr, stdout holding only whole records one per
//! line, the state directory exactly as the last good run committed it, the
//! key absent from every output, and every run bounded (see `LIMIT`).

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use testkit::{Dir, Run};

/// A key long enough that a 12-character piece of it is a real echo.
const LONG_KEY: &str = "sk-proj-Hostile0123456789abcdefXYZ";

fn hostile_mock(extra: &[&str]) -> Mock {
    let mut args = vec!["--api-key", LONG_KEY, "--short-pages", "0"];
    args.extend_from_slice(extra);
    start_mock(&args)
}

fn run(dir: &Dir, mock: &Mock, args: &[&str]) -> Fetch {
    let mut c = fetch(dir, mock, args);
    c.env("OPENAI_API_KEY", LONG_KEY)
        .args(["--summary", "summary.json"]);
    c
}

/// Every file under the test's directory, by path, with its contents.
fn files(dir: &Dir) -> BTreeMap<String, Vec<u8>> {
    dir.files("")
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(dir.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

/// The key, in any case or as any 12-character piece, appears nowhere.
fn assert_no_key(what: &str, text: &str) {
    let lower = text.to_ascii_lowercase();
    let key = LONG_KEY.to_ascii_lowercase();
    for piece in key.as_bytes().windows(12) {
        let piece = std::str::from_utf8(piece).unwrap();
        assert!(
            !lower.contains(piece),
            "{what} holds {piece:?} of the key:\n{text}"
        );
    }
}

/// stdout is whole records, one JSON object per line.
fn assert_whole_lines(run: &Run) {
    for (i, line) in run.stdout.lines().enumerate() {
        let v: Result<Value, _> = serde_json::from_str(line);
        run.assert(
            v.as_ref().is_ok_and(Value::is_object),
            &format!("stdout line {} is not one whole record", i + 1),
        );
    }
    run.assert(
        run.stdout.is_empty() || run.stdout.ends_with('\n'),
        "stdout ends inside a line",
    );
}

/// No whitespace between tokens (only inside strings).
fn is_compact(line: &str) -> bool {
    let (mut in_string, mut escape) = (false, false);
    for c in line.chars() {
        if in_string {
            match (escape, c) {
                (true, _) => escape = false,
                (false, '\\') => escape = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c.is_whitespace() {
            return false;
        } else {
            in_string = c == '"';
        }
    }
    true
}

/// A good run of `args`, committed: the state the hostile run must leave.
fn committed_state(dir: &Dir, mock: &Mock, args: &[&str]) -> BTreeMap<String, Vec<u8>> {
    run(dir, mock, args).expect_success();
    commit(dir);
    let state: BTreeMap<_, _> = files(dir)
        .into_iter()
        .filter(|(f, _)| f.starts_with("state/"))
        .collect();
    assert!(!state.is_empty());
    state
}

/// Set `fault`, run `args`, and check the run was refused as it should be.
fn refused(dir: &Dir, mock: &Mock, fault: &str, args: &[&str], code: i32, says: &[&str]) -> Run {
    let before = committed_state(dir, mock, args);
    mock.set_faults(fault);
    // From the start, so the fault's request number is reached.
    let r = run(dir, mock, args).arg("--no-resume").expect_code(code);
    for s in says {
        r.assert(
            r.stderr.contains(s),
            &format!("{fault}: stderr does not say {s:?}"),
        );
    }
    assert_whole_lines(&r);
    let after: BTreeMap<_, _> = files(dir)
        .into_iter()
        .filter(|(f, _)| f.starts_with("state/"))
        .collect();
    assert_eq!(after, before, "{fault}: the state directory changed");
    assert_no_key("stdout", &r.stdout);
    assert_no_key("stderr", &r.stderr);
    for (f, bytes) in files(dir) {
        assert_no_key(&f, &String::from_utf8_lossy(&bytes));
    }
    let summary: Value = serde_json::from_str(&dir.read("summary.json")).unwrap();
    assert_eq!(summary["exit_code"], code, "{summary}");
    assert_eq!(summary["status"], "failed");
    mock.set_faults("");
    r
}

#[test]
fn a_cursor_that_does_not_move_stops_with_exit_4() {
    let mock = hostile_mock(&[]);
    for (stream, fault) in [
        ("users", "repeat-cursor@2:users"),
        ("audit-logs", "repeat-cursor@2:audit_logs"),
        ("conversations", "repeat-cursor@2:/conversations"),
    ] {
        let dir = Dir::new("repeat-cursor");
        let r = refused(
            &dir,
            &mock,
            fault,
            &[stream, "--limit", "2"],
            4,
            &["does not move", "after="],
        );
        r.assert(r.stderr.contains(stream), "the stream is not named");
    }
    // --max-pages does not save the dead cursor: the check comes first.
    let dir = Dir::new("repeat-cursor-budget");
    refused(
        &dir,
        &mock,
        "repeat-cursorx100@2:users",
        &["users", "--limit", "2", "--max-pages", "3"],
        4,
        &["does not move"],
    );
}

#[test]
fn a_cursor_that_cycles_or_runs_backwards_stops_with_exit_4() {
    let mock = hostile_mock(&[]);
    let dir = Dir::new("cycle-users");
    refused(
        &dir,
        &mock,
        "cycle-cursor@3:users",
        &["users", "--limit", "2"],
        4,
        &["cycles", "users"],
    );
    let dir = Dir::new("cycle-conversations");
    refused(
        &dir,
        &mock,
        "cycle-cursor@3:/conversations",
        &["conversations", "--limit", "2"],
        4,
        &["cycles", "conversations"],
    );
    let dir = Dir::new("cycle-logs");
    refused(
        &dir,
        &mock,
        "cycle-cursorx100@2:/logs",
        &["logs", "--event-type", "AUTH_LOG", "--limit", "2"],
        4,
        &["backwards", "logs AUTH_LOG", "last_end_time"],
    );
}

#[test]
fn indented_pages_come_out_one_compact_record_per_line() {
    let mock = hostile_mock(&["--fault", "indentx10000@1", "--nested-messages", "3"]);
    for (args, truth, id) in [
        (vec!["users", "--limit", "5"], "users", "id"),
        (vec!["conversations", "--limit", "4"], "conversations", "id"),
        (vec!["audit-logs", "--limit", "7"], "audit_logs", "id"),
    ] {
        let dir = Dir::new("indent");
        let r = run(&dir, &mock, &args).expect_success();
        assert_whole_lines(&r);
        let want = mock.truth(truth);
        assert_eq!(r.stdout.lines().count(), want.len(), "{}", r.stdout);
        assert_same(&r.json_lines(), &want, id, truth);
        r.assert(
            r.stdout.lines().all(is_compact),
            "a record kept the server's whitespace",
        );
        assert_no_key("stderr", &r.stderr);
    }
}

#[test]
fn bodies_that_are_not_a_list_page_are_retried_then_exit_4_with_url_and_bytes() {
    let mock = hostile_mock(&[]);
    for (fault, shows) in [
        ("html", "<!DOCTYPE html>"),
        ("bom", "not a JSON object"),
        ("array", "starts with: [{"),
        ("garbage", "after the end"),
        ("data-object", "no \"data\" list"),
        ("has-more-string", "has_more is \"true\""),
    ] {
        let dir = Dir::new(fault);
        let r = refused(
            &dir,
            &mock,
            &format!("{fault}x100@1:users"),
            &["users", "--limit", "2", "--max-attempts", "2"],
            4,
            &[
                shows,
                "/users?limit=2",
                "retrying",
                "gave up after 2 attempts",
            ],
        );
        // A page found broken only at its end (trailing bytes, has_more)
        // may have written its records; the run still fails and commits
        // nothing, and the retry drops them as duplicates.
        if matches!(fault, "html" | "bom" | "array") {
            r.assert(
                r.stdout.is_empty(),
                "records of a malformed page were written",
            );
        }
    }
}

#[test]
fn the_key_echoed_by_the_server_is_masked_everywhere() {
    let mock = hostile_mock(&[]);
    for (fault, args) in [
        ("echo-keyx100@1:users", vec!["users"]),
        ("echo-key-errorx100@1:users", vec!["users"]),
        (
            "echo-keyx100@1:max_event_time",
            vec!["logs", "--event-type", "AUTH_LOG"],
        ),
    ] {
        let dir = Dir::new("echo-key");
        let mut a = args.clone();
        a.extend(["--max-attempts", "2"]);
        refused(&dir, &mock, fault, &a, 4, &["[redacted]"]);
    }
}

#[test]
fn a_slow_drip_ends_in_retries_and_exit_4() {
    let mock = hostile_mock(&[]);
    let dir = Dir::new("drip");
    let started = std::time::Instant::now();
    refused(
        &dir,
        &mock,
        "drip=1x100@1:users",
        &[
            "users",
            "--deadline",
            "2",
            "--timeout",
            "30",
            "--max-attempts",
            "2",
        ],
        4,
        &["--deadline 2s", "gave up after 2 attempts"],
    );
    assert!(
        started.elapsed().as_secs() < 30,
        "the deadline did not cut the drip"
    );
}

#[test]
fn records_from_the_future_are_written_but_do_not_move_the_bookmark() {
    let mock = hostile_mock(&[
        "--fault",
        "future-time@1:/conversations,future-time@1:audit_logs",
    ]);
    for (stream, id_of_first) in [
        ("conversations", "conversation"),
        ("audit-logs", "audit log entry"),
    ] {
        let dir = Dir::new("future");
        let r = run(&dir, &mock, &[stream, "--limit", "3"]).expect_success();
        assert_whole_lines(&r);
        r.assert(
            r.stderr.contains(id_of_first) && r.stderr.contains("2099-06-01T00:00:00"),
            "no warning",
        );
        let field = if stream == "conversations" {
            "last_active_at"
        } else {
            "effective_at"
        };
        let future: Vec<Value> = r
            .json_lines()
            .into_iter()
            .filter(|v| v[field].as_f64().unwrap() > 4.0e9)
            .collect();
        assert_eq!(future.len(), 1, "the future record was not written once");
        let id = future[0]["id"].as_str().unwrap();
        r.assert(
            r.stderr.contains(id),
            "the warning does not name the record",
        );
        commit(&dir);
        let mut st = dir.command(env!("CARGO_BIN_EXE_fetch"));
        st.args(["status", "--state-dir"]).arg(dir.join("state"));
        let status = st.expect_success().json_lines();
        let time = status[0]["time"].as_str().unwrap();
        assert!(time < "2030", "the bookmark moved to {time}");
    }
    // A log file that ends after what the server has published.
    let mock = hostile_mock(&["--fault", "future-time@1:/logs"]);
    let dir = Dir::new("future-logs");
    let r = run(&dir, &mock, &["logs", "--event-type", "AUTH_LOG"]).expect_success();
    assert_whole_lines(&r);
    assert_no_key("stderr", &r.stderr);
    r.assert(
        r.stderr.contains("ends at 2099-06-01") && r.stderr.contains("bookmark stops at"),
        "no warning for the log file from the future",
    );
    assert_same(
        &r.json_lines(),
        &mock.truth("logs/AUTH_LOG"),
        "event_id",
        "logs",
    );
    commit(&dir);
    let mut st = dir.command(env!("CARGO_BIN_EXE_fetch"));
    st.args(["status", "--state-dir"]).arg(dir.join("state"));
    let status = st.expect_success().json_lines();
    let cursor = status[0]["cursor"].as_str().unwrap();
    assert!(cursor < "2030", "the bookmark moved to {cursor}");
}

#[test]
fn api_redirects_off_the_origin_are_refused() {
    let mock = hostile_mock(&[]);
    let dir = Dir::new("redirect-origin");
    refused(
        &dir,
        &mock,
        "redirect-origin@1:users",
        &["users"],
        2,
        &["another origin", "--base-url"],
    );
    let users: Vec<Value> = mock.requests();
    let last = users.last().unwrap();
    assert_eq!(last["status"], 301, "the redirect was followed: {users:?}");

    let tls = start_tls_mock(&["--api-key", LONG_KEY]);
    let dir = Dir::new("redirect-http");
    refused(
        &dir,
        &tls,
        "redirect-http@1:users",
        &["users"],
        2,
        &["downgrade to plain http"],
    );
    assert_eq!(tls.requests().last().unwrap()["status"], 301);
}

#[test]
fn the_log_download_follows_only_https_or_loopback_without_key_or_referer() {
    for mock in [hostile_mock(&[]), start_tls_mock(&["--api-key", LONG_KEY])] {
        let dir = Dir::new("download");
        let r = run(&dir, &mock, &["logs", "--event-type", "AUTH_LOG"]).expect_success();
        assert_whole_lines(&r);
        assert_same(
            &r.json_lines(),
            &mock.truth("logs/AUTH_LOG"),
            "event_id",
            "logs",
        );
        let downloads: Vec<Value> = mock
            .requests()
            .into_iter()
            .filter(|q| q["path"].as_str().unwrap().starts_with("/download/"))
            .collect();
        assert!(!downloads.is_empty());
        for d in &downloads {
            assert_eq!(
                (&d["auth"], &d["referer"]),
                (&Value::Bool(false), &Value::Bool(false)),
                "{d}"
            );
        }
        let all = mock.requests();
        assert!(
            all.iter().all(|q| q["referer"] == false),
            "a Referer was sent"
        );
    }
    let mock = hostile_mock(&[]);
    let dir = Dir::new("download-http");
    refused(
        &dir,
        &mock,
        "download-httpx100@1",
        &["logs", "--event-type", "AUTH_LOG"],
        4,
        &["neither https nor a loopback"],
    );
}

#[test]
fn tls_certificate_errors_are_configuration_errors_not_retried() {
    let mock = start_tls_mock(&[]);
    let dir = Dir::new("tls-unknown-issuer");
    let r = fetch_at(&dir, &mock.base(), &["users"]).expect_code(2);
    r.assert(
        r.stderr.contains("certificate") && r.stderr.contains("--ca-cert"),
        "no TLS hint",
    );
    r.assert(
        !r.stderr.contains("retrying"),
        "a certificate error was retried",
    );
    assert!(mock.requests().is_empty());

    let wrong_name = start_tls_mock(&["--tls-name", "api.example.invalid"]);
    let dir = Dir::new("tls-bad-name");
    let r = fetch(&dir, &wrong_name, &["users"]).expect_code(2);
    r.assert(r.stderr.contains("certificate"), "no TLS cause");
    r.assert(
        !r.stderr.contains("retrying"),
        "a certificate error was retried",
    );
    assert!(state_files(&dir).is_empty());

    // With the CA, the same server is fine.
    let dir = Dir::new("tls-ok");
    let r = fetch(&dir, &mock, &["users"]).expect_success();
    assert_same(
        &r.json_lines(),
        &mock.truth("users"),
        "id",
        "users over https",
    );
}
