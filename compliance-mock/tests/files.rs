//! Uploaded files: the 307 to a signed URL, the content the truth's
//! SHA-256 describes, 404 for another user's or a removed file, 410 once
//! older than the upload retention on the mock's clock; the open-ended
//! event types and the organisation-only COSTS.

use crate::common::*;
use serde_json::Value;

fn file_url(f: &Value) -> String {
    format!(
        "users/{}/files/{}",
        f["user_id"].as_str().unwrap(),
        f["id"].as_str().unwrap()
    )
}

#[test]
fn files_follow_the_clock_and_match_the_truth() {
    let m = Mock::small(&["--attachments-pct", "40", "--now", "2026-10-03T12:00:00Z"]);
    let truth = m.files_truth();
    assert!(truth.len() >= 10, "too few files: {}", truth.len());
    let state = |t: &[Value], s: &str| t.iter().filter(|f| f["state"] == s).count();
    assert!(state(&truth, "available") > 0 && state(&truth, "expired") > 0);
    for f in &truth {
        let r = m.ws(&file_url(f));
        match f["state"].as_str().unwrap() {
            "available" => {
                assert_eq!(r.status, 307, "{}", r.text());
                let loc = r.header("location").unwrap().to_string();
                // The signed URL wants no key; with one it is refused, as S3 does.
                assert_eq!(m.get(&local_path(&loc), Some(KEY)).status, 400);
                let d = m.get(&local_path(&loc), None);
                assert_eq!(d.status, 200);
                assert_eq!(d.body.len() as u64, f["bytes"].as_u64().unwrap());
                assert_eq!(sha256_hex(&d.body), f["sha256"].as_str().unwrap());
            }
            "expired" => assert_eq!(r.status, 410, "{}", r.text()),
            _ => assert_eq!(r.status, 404, "{}", r.text()),
        }
    }
    // Another user's file is not found.
    let f = &truth[0];
    let other = format!("users/user-nobody/files/{}", f["id"].as_str().unwrap());
    assert_eq!(m.ws(&other).status, 404);

    // Every referenced file comes from a message event of its user.
    let events = m.truth("logs/CONVERSATION_MESSAGE");
    for f in &truth {
        let ev = events
            .iter()
            .find(|e| {
                e["message"]["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x["id"] == f["id"])
            })
            .unwrap_or_else(|| panic!("no event names {}", f["id"]));
        assert_eq!(ev["actor"]["user_id"], f["user_id"]);
        assert_eq!(ev["message"]["id"], f["message_id"]);
    }

    // Move the clock back: everything not removed is available; a short
    // retention expires them again.
    let c = m.set_clock("now=2026-10-01T00:00:00Z&upload_retention_hours=1000");
    assert_eq!(c["upload_retention_s"], 3_600_000.0);
    let again = m.files_truth();
    assert_eq!(state(&again, "expired"), 0);
    m.set_clock("now=2026-12-01T00:00:00Z&upload_retention_hours=48");
    assert_eq!(state(&m.files_truth(), "available"), 0);
    assert_eq!(
        m.ws(&file_url(&truth[0])).status,
        if truth[0]["state"] == "deleted" {
            404
        } else {
            410
        }
    );
}

#[test]
fn open_ended_types_and_organisation_scope() {
    let m = Mock::small(&["--org-id", "org-test"]);
    let types = m.event_types();
    for t in [
        "CODEX_LOG",
        "CUSTOM_AGENTS_LOG",
        "APP_LOG",
        "APP_AUTH_LOG",
        "CODEX_SECURITY_LOG",
        "WIDGET_TELEMETRY_LOG",
    ] {
        assert!(types.contains(&t.to_string()), "{t} not in {types:?}");
    }
    assert!(
        !types.contains(&"COSTS".to_string()),
        "COSTS listed for a workspace"
    );
    let r = m.ws("logs?event_type=COSTS&after=2000-01-01T00:00:00Z");
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("/v1/compliance/organizations/"),
        "{}",
        r.text()
    );
    let org = m.get(
        "/v1/compliance/organizations/org-test/max_event_time",
        Some(KEY),
    );
    assert!(
        org.json()["max_event_time"]["COSTS"].is_string(),
        "{}",
        org.text()
    );
    let page = m.get(
        "/v1/compliance/organizations/org-test/logs?event_type=COSTS&after=2000-01-01T00:00:00Z",
        Some(KEY),
    );
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(!page.json()["data"].as_array().unwrap().is_empty());
}

#[test]
fn log_retention_hides_old_files() {
    let m = Mock::small(&[
        "--now",
        "2026-10-20T00:00:00Z",
        "--log-retention-days",
        "15",
    ]);
    let p = m
        .ws("logs?event_type=AUTH_LOG&after=2000-01-01T00:00:00Z&limit=100")
        .json();
    let cutoff = "2026-10-05T00:00:00";
    for f in p["data"].as_array().unwrap() {
        assert!(
            f["end_time"].as_str().unwrap() >= cutoff,
            "{f} is older than the retention"
        );
    }
    assert!(!p["data"].as_array().unwrap().is_empty());
}
