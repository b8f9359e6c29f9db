//! Start-up, control endpoints (/_mock/advance, /_mock/truth,
//! /_mock/requests), the request log file, determinism, --data, the huge
//! conversation, and authentication.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;

#[test]
fn advance_adds_new_and_updated_records_after_existing_data() {
    let m = Mock::small(&["--short-pages", "0"]);
    let before: BTreeMap<String, Value> = m
        .truth("conversations")
        .into_iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c))
        .collect();
    let max_before = before
        .values()
        .map(|c| c["last_active_at"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let files_before: BTreeMap<&str, Vec<Value>> = ["CONVERSATION_MESSAGE", "AUTH_LOG"]
        .into_iter()
        .map(|t| {
            (
                t,
                m.ws(&format!("logs?event_type={t}&after=2000-01-01T00:00:00Z"))
                    .json()["data"]
                    .as_array()
                    .unwrap()
                    .clone(),
            )
        })
        .collect();
    let audit_before = m.truth("audit_logs");
    let events_before = m.truth("logs/CONVERSATION_MESSAGE").len();

    let summary = m.advance(4, 3, 99);
    assert_eq!(summary["conversations_added"], 4);
    assert_eq!(summary["conversations_updated"], 3);

    let after = m.truth("conversations");
    assert_eq!(after.len(), before.len() + 4);
    let changed: Vec<&Value> = after
        .iter()
        .filter(|c| before.get(c["id"].as_str().unwrap()) != Some(c))
        .collect();
    assert_eq!(changed.len(), 7);
    let updated = changed
        .iter()
        .filter(|c| before.contains_key(c["id"].as_str().unwrap()))
        .count();
    assert_eq!(updated, 3);
    for c in &changed {
        assert!(
            c["last_active_at"].as_f64().unwrap() > max_before,
            "{} not after existing data",
            c["id"]
        );
    }
    // An incremental listing from the old high-water mark returns exactly them.
    let since = max_before.floor() as i64 + 1;
    let got: Vec<String> = m
        .list_pages(&format!("since_timestamp={since}"), "", 2)
        .iter()
        .flat_map(|p| ids(p["data"].as_array().unwrap(), "id"))
        .collect();
    let mut want: Vec<String> = changed
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    want.sort();
    assert_eq!(got_sorted, want);
    // New log files after the old last_end_time, new events and audit entries.
    for (t, old) in files_before {
        let last_end = old.last().unwrap()["end_time"]
            .as_str()
            .unwrap()
            .to_string();
        let p = m
            .ws(&format!("logs?event_type={t}&after={last_end}"))
            .json();
        // `after` is inclusive: the old last file, then the new one.
        let data = p["data"].as_array().unwrap();
        assert_eq!(data.len(), 2, "{t}: one new file per advance");
        assert_eq!(data[0]["id"], old.last().unwrap()["id"], "{t}");
    }
    assert!(m.truth("logs/CONVERSATION_MESSAGE").len() > events_before);
    let audit_after = m.truth("audit_logs");
    assert_eq!(
        audit_after.len(),
        audit_before.len() + summary["audit_logs_added"].as_u64().unwrap() as usize
    );
    assert!(
        audit_after[0]["effective_at"].as_i64() > audit_before[0]["effective_at"].as_i64(),
        "new entries come first"
    );
}

#[test]
fn same_seed_same_data_and_the_request_log() {
    let dir = testkit::Dir::new("mock-log");
    let log_path = dir.join("requests.ndjson");
    let a = Mock::small(&["--request-log", log_path.to_str().unwrap()]);
    let b = Mock::small(&[]);
    let c = Mock::start(&[
        "--generate-users",
        "25",
        "--generate-days",
        "6",
        "--start",
        "2026-10-01",
        "--seed",
        "12",
    ]);
    for stream in [
        "conversations",
        "users",
        "gpts",
        "projects",
        "memories",
        "audit_logs",
        "logs/AUTH_LOG",
    ] {
        assert_eq!(
            a.truth(stream),
            b.truth(stream),
            "{stream} differs for the same seed"
        );
    }
    assert_ne!(a.truth("conversations"), c.truth("conversations"));
    assert_eq!(a.ws("users?limit=3").status, 200);
    assert_eq!(
        a.get(
            &format!("/v1/compliance/workspaces/{WS}/gpts?after=x"),
            None
        )
        .status,
        401
    );
    let log = a.requests();
    assert_eq!(log.len(), 2, "control requests must not be logged: {log:?}");
    assert_eq!(log[0]["method"], "GET");
    assert_eq!(
        log[0]["path"],
        format!("/v1/compliance/workspaces/{WS}/users")
    );
    assert_eq!(log[0]["query"], "limit=3");
    assert_eq!(log[0]["status"], 200);
    assert_eq!(log[0]["auth"], true);
    assert_eq!(log[1]["auth"], false);
    assert_eq!(log[1]["status"], 401);
    assert!(log[0]["t"].as_f64().unwrap() <= log[1]["t"].as_f64().unwrap());
    let file = testkit::parse_ndjson(&dir.read("requests.ndjson"));
    assert_eq!(file, log, "the file and /_mock/requests differ");
    assert_eq!(
        request(a.port, "DELETE", "/_mock/requests", None).status,
        200
    );
    assert!(a.requests().is_empty());
}

#[test]
fn authentication_and_workspace_errors_are_openai_style() {
    let m = Mock::small(&["--api-key", "sk-proj-abc"]);
    let path = format!("/v1/compliance/workspaces/{WS}/conversations");
    for (key, status, code) in [
        (None, 401, "missing_api_key"),
        (Some("test-key"), 401, "invalid_api_key"),
        (Some("wrong-scope"), 403, "insufficient_permissions"),
        (Some(ADMIN), 403, "insufficient_permissions"),
    ] {
        let r = m.get(&path, key);
        assert_eq!(r.status, status, "{key:?}");
        let e = &r.json()["error"];
        assert_eq!(e["code"], code, "{key:?}");
        assert!(e["message"].is_string() && e["type"].is_string() && e.get("param").is_some());
        assert!(
            !r.text().contains("sk-proj-abc"),
            "the key leaked into an error body"
        );
    }
    assert_eq!(m.get(&path, Some("sk-proj-abc")).status, 200);
    let lower = request_with_authorization(m.port, "GET", &path, Some("bearer sk-proj-abc"));
    assert_eq!(lower.status, 200, "the scheme name is case-insensitive");
    assert_eq!(
        request_with_authorization(m.port, "GET", &path, Some("Basic sk-proj-abc")).status,
        401
    );
    let r = m.get(
        "/v1/compliance/workspaces/00000000-0000-4000-8000-000000000000/conversations",
        Some("sk-proj-abc"),
    );
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("workspace"));
    assert_eq!(m.get("/v1/nothing/here", Some("sk-proj-abc")).status, 404);
    assert_eq!(
        request(m.port, "POST", &path, Some("sk-proj-abc")).status,
        405
    );
}

#[test]
fn data_directory_is_served_as_given() {
    let dir = testkit::Dir::new("mock-data");
    let conv = |id: &str, t: f64| {
        format!(
            r#"{{"object":"compliance.workspace.conversation","id":"{id}","workspace_id":"{WS}","user_id":"user-a","user_email":"a@x.test","created_at":{t},"last_active_at":{t},"title":"t","messages":{{"object":"list","data":[],"has_more":false,"last_id":null}}}}"#
        )
    };
    dir.write(
        "data/conversations.ndjson",
        format!(
            "{}\n{}\n",
            conv("c2", 1760000100.5),
            conv("c1", 1760000000.25)
        ),
    );
    dir.write("data/users.ndjson", r#"{"object":"compliance.workspace.user","id":"user-a","email":"a@x.test","name":"A","created_at":1.0,"role":"standard-user","status":"active"}"#);
    dir.write(
        "data/logs/AUTH_LOG.ndjson",
        r#"{"event_id":"evt_1","type":"AUTH_LOG","timestamp":"2026-10-01T10:00:00Z"}
{"event_id":"evt_2","type":"AUTH_LOG","timestamp":"2026-10-01T11:00:00.5Z"}
"#,
    );
    dir.write("data/audit_logs.ndjson", r#"{"id":"audit_log-1","type":"login.succeeded","effective_at":1760000000,"actor":null,"login.succeeded":{}}"#);
    let m = Mock::start(&["--data", dir.join("data").to_str().unwrap()]);
    let p = m.ws("conversations").json();
    assert_eq!(
        ids(p["data"].as_array().unwrap(), "id"),
        ["c1", "c2"],
        "ordered by update time"
    );
    assert_eq!(m.truth("users").len(), 1);
    assert_eq!(
        ids(&m.truth("logs/AUTH_LOG"), "event_id"),
        ["evt_1", "evt_2"]
    );
    assert_eq!(m.audit("").json()["data"][0]["id"], "audit_log-1");
    assert!(m.truth("gpts").is_empty());
    m.advance(1, 1, 1);
    assert_eq!(m.truth("conversations").len(), 3);

    dir.write("bad/conversations.ndjson", "{\"id\":\"ok\"}\nnot json\n");
    let run = testkit::TestCommand::new(std::path::Path::new(bin()))
        .args(["--data", dir.join("bad").to_str().unwrap()])
        .expect_code(3);
    run.assert(
        run.stderr.contains("conversations.ndjson line 2"),
        "the error names the file and line",
    );
}

#[test]
fn huge_conversation_is_listed_whole() {
    let m = Mock::small(&["--huge-conversation-mb", "3"]);
    let truth = m.truth("conversations");
    let huge = truth
        .iter()
        .find(|c| c.to_string().len() > 3_000_000)
        .expect("no record of 3 MB");
    assert_eq!(huge["messages"]["has_more"], false);
    let id = huge["id"].as_str().unwrap();
    let pages = m.list_pages("", "", 500);
    let listed = pages
        .iter()
        .flat_map(|p| p["data"].as_array().unwrap().iter())
        .find(|c| c["id"] == id)
        .unwrap();
    assert_eq!(listed, huge);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--start", "2026-13-01"][..],
        &["--time-scale", "0"],
        &["--nested-messages", "0"],
        &["--no-such-flag"],
    ] {
        let run = testkit::TestCommand::new(std::path::Path::new(bin()))
            .args(args)
            .expect_code(2);
        run.assert(run.stdout.is_empty(), "nothing on stdout");
    }
    let run = testkit::TestCommand::new(std::path::Path::new(bin()))
        .arg("--help")
        .expect_success();
    for needle in [
        "--faults",
        "expired-download",
        "/_mock/advance",
        "Exit codes",
    ] {
        run.assert(run.stdout.contains(needle), needle);
    }
}
