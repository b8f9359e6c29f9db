//! The Logs Platform: the last_end_time cursor, 307 downloads checked
//! against file_size/file_sha256, at-least-once delivery, max_event_time,
//! FastAPI 422s, and the download faults.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// Every file of an event type, following `after = last_end_time`. `after`
/// is inclusive, so each page after the first starts with the previous
/// page's last file again; it is kept once.
fn all_files(m: &Mock, ty: &str, limit: usize) -> Vec<Value> {
    let mut files = vec![];
    let mut after = "2000-01-01T00:00:00Z".to_string();
    loop {
        let r = m.ws(&format!("logs?event_type={ty}&after={after}&limit={limit}"));
        assert_eq!(r.status, 200, "{}", r.text());
        let p = r.json();
        let data = p["data"].as_array().unwrap();
        if let Some(last) = data.last() {
            assert_eq!(p["last_end_time"], last["end_time"]);
        } else {
            assert_eq!(p["last_end_time"], Value::Null);
        }
        for f in data {
            if files.last().map(|l: &Value| &l["id"]) == Some(&f["id"]) {
                continue;
            }
            files.push(f.clone());
        }
        if p["has_more"] == false {
            return files;
        }
        after = p["last_end_time"].as_str().unwrap().to_string();
    }
}

#[test]
fn log_files_download_verify_and_cover_the_truth() {
    let m = Mock::small(&["--log-duplicates", "20"]);
    let met = m.ws("max_event_time").json();
    let types: Vec<String> = met["max_event_time"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for ty in ["CONVERSATION_MESSAGE", "AUTH_LOG", "AUDIT_LOG"] {
        assert!(types.contains(&ty.to_string()), "{ty} not listed in {met}");
    }
    for ty in &types {
        let files = all_files(&m, ty, 3);
        let ends: Vec<&str> = files
            .iter()
            .map(|f| f["end_time"].as_str().unwrap())
            .collect();
        assert!(
            ends.windows(2).all(|w| w[0] < w[1]),
            "{ty}: end_time not strictly increasing"
        );
        let mut events: BTreeMap<String, Value> = BTreeMap::new();
        let mut delivered = 0;
        let mut latest = String::new();
        for f in &files {
            for k in [
                "id",
                "event_type",
                "end_time",
                "file_name",
                "file_size",
                "file_sha256",
            ] {
                assert!(f.get(k).is_some(), "{ty}: file lacks {k}: {f}");
            }
            let (redirect, d) = download_log(&m, f["id"].as_str().unwrap());
            assert!(redirect.body.is_empty() || redirect.status == 307);
            assert_eq!(d.status, 200, "{}", d.text());
            assert_eq!(
                d.body.len() as u64,
                f["file_size"].as_u64().unwrap(),
                "{ty} {}",
                f["id"]
            );
            assert_eq!(
                sha256_hex(&d.body),
                f["file_sha256"].as_str().unwrap(),
                "{ty} {}",
                f["id"]
            );
            for e in testkit::parse_ndjson(&d.text()) {
                assert_eq!(e["type"], ty.as_str());
                let ts = e["timestamp"].as_str().unwrap().to_string();
                assert!(
                    ts.as_str() <= f["end_time"].as_str().unwrap(),
                    "event after its file's end_time"
                );
                latest = latest.max(ts);
                delivered += 1;
                events.insert(e["event_id"].as_str().unwrap().to_string(), e);
            }
        }
        let truth = m.truth(&format!("logs/{ty}"));
        let truth_by_id: BTreeMap<String, Value> = truth
            .iter()
            .map(|e| (e["event_id"].as_str().unwrap().to_string(), e.clone()))
            .collect();
        assert_eq!(
            truth.len(),
            truth_by_id.len(),
            "{ty}: truth has duplicate event_ids"
        );
        assert_eq!(
            events, truth_by_id,
            "{ty}: deduplicated downloads differ from the truth"
        );
        if ty == "CODEX_LOG" {
            assert!(files.is_empty());
            assert_eq!(met["max_event_time"][ty], Value::Null);
        } else {
            assert!(!files.is_empty(), "{ty} has no files");
            assert_eq!(
                met["max_event_time"][ty].as_str().unwrap(),
                latest,
                "{ty}: max_event_time"
            );
        }
        if ty == "CONVERSATION_MESSAGE" {
            assert!(
                delivered > events.len(),
                "no event was delivered twice (at-least-once)"
            );
        }
    }
    // One type asked for: only that one comes back.
    let one = m.ws("max_event_time?event_type=AUTH_LOG").json();
    assert_eq!(one["max_event_time"].as_object().unwrap().len(), 1);
}

#[test]
fn after_is_inclusive_and_before_bounds_the_listing() {
    let m = Mock::small(&[]);
    let files = all_files(&m, "AUTH_LOG", 100);
    assert!(files.len() >= 3);
    let second_end = files[1]["end_time"].as_str().unwrap();
    let p = m
        .ws(&format!(
            "logs?event_type=AUTH_LOG&after={second_end}&limit=2"
        ))
        .json();
    assert_eq!(
        ids(p["data"].as_array().unwrap(), "id"),
        ids(&files[1..3], "id"),
        "after is inclusive: the file ending there comes again, then the next"
    );
    // Without after, and with a limit over 100: 422, as upstream.
    assert_eq!(m.ws("logs?event_type=AUTH_LOG").status, 422);
    let r = m.ws("logs?event_type=AUTH_LOG&after=2000-01-01T00:00:00Z&limit=101");
    assert_eq!(r.status, 422, "{}", r.text());
    // A page past the last file is empty, with a null cursor.
    let p = m
        .ws("logs?event_type=AUTH_LOG&after=2099-01-01T00:00:00Z")
        .json();
    assert_eq!(p["data"].as_array().unwrap().len(), 0);
    assert_eq!(p["last_end_time"], Value::Null);
    assert_eq!(p["has_more"], false);
    let p = m
        .ws(&format!(
            "logs?event_type=AUTH_LOG&after=2000-01-01T00:00:00%2B00:00&before={second_end}"
        ))
        .json();
    assert_eq!(
        ids(p["data"].as_array().unwrap(), "id"),
        ids(&files[..1], "id")
    );
    assert_eq!(p["has_more"], false);
}

#[test]
fn validation_errors_are_fastapi_422() {
    let m = Mock::small(&[]);
    for (query, param, kind) in [
        ("event_type=AUTH_LOG", "after", "missing"),
        ("after=2026-01-01T00:00:00Z", "event_type", "missing"),
        (
            "event_type=NOPE&after=2026-01-01T00:00:00Z",
            "event_type",
            "enum",
        ),
        (
            "event_type=AUTH_LOG&after=2026-01-01T00:00:00",
            "after",
            "timezone_aware",
        ),
        (
            "event_type=AUTH_LOG&after=yesterday",
            "after",
            "datetime_from_date_parsing",
        ),
        (
            "event_type=AUTH_LOG&after=2026-01-01T00:00:00Z&limit=101",
            "limit",
            "less_than_equal",
        ),
        (
            "event_type=AUTH_LOG&after=2026-01-01T00:00:00Z&limit=0",
            "limit",
            "greater_than_equal",
        ),
    ] {
        let r = m.ws(&format!("logs?{query}"));
        assert_eq!(r.status, 422, "{query}: {}", r.text());
        let d = &r.json()["detail"][0];
        assert_eq!(d["loc"], serde_json::json!(["query", param]), "{query}");
        assert_eq!(d["type"], kind, "{query}");
    }
    assert_eq!(m.ws("logs/log_does_not_exist").status, 404);
}

#[test]
fn bad_sha_files_never_match_and_bad_sha_once_recovers() {
    let m = Mock::small(&["--faults", "bad-sha@2:AUTH_LOG,bad-sha-once@1:AUDIT_LOG"]);
    let auth = all_files(&m, "AUTH_LOG", 100);
    for round in 0..2 {
        for (i, f) in auth.iter().enumerate() {
            let (_, d) = download_log(&m, f["id"].as_str().unwrap());
            assert_eq!(
                d.body.len() as u64,
                f["file_size"].as_u64().unwrap(),
                "the size still matches"
            );
            let matches = sha256_hex(&d.body) == f["file_sha256"].as_str().unwrap();
            assert_eq!(matches, i != 1, "AUTH_LOG file {} round {round}", i + 1);
        }
    }
    let audit = all_files(&m, "AUDIT_LOG", 100);
    let first = audit[0]["id"].as_str().unwrap();
    let sha = audit[0]["file_sha256"].as_str().unwrap();
    assert_ne!(
        sha256_hex(&download_log(&m, first).1.body),
        sha,
        "first download must be corrupt"
    );
    assert_eq!(
        sha256_hex(&download_log(&m, first).1.body),
        sha,
        "second download must be right"
    );
}

#[test]
fn expired_downloads_get_403_and_a_fresh_redirect_works() {
    let m = Mock::small(&["--faults", "expired-download@2"]);
    let files = all_files(&m, "AUTH_LOG", 100);
    let id = files[0]["id"].as_str().unwrap();
    assert_eq!(download_log(&m, id).1.status, 200);
    let (_, expired) = download_log(&m, id);
    assert_eq!(expired.status, 403);
    assert!(
        expired.text().contains("Request has expired"),
        "{}",
        expired.text()
    );
    assert_eq!(download_log(&m, id).1.status, 200);
    // A tampered URL is refused too.
    let r = m.ws(&format!("logs/{id}"));
    let loc = local_path(r.header("location").unwrap());
    let forged = loc.replace("expires=", "expires=9");
    assert_eq!(m.get(&forged, None).status, 403);
    // The download needs no bearer, and the request log shows it.
    let log = m.requests();
    let downloads: Vec<&Value> = log
        .iter()
        .filter(|r| r["path"].as_str().unwrap().starts_with("/download/"))
        .collect();
    assert!(downloads.iter().all(|r| r["auth"] == false));
    assert_eq!(
        log.iter()
            .filter(|r| r["fault"] == "expired-download@2")
            .count(),
        1
    );
}

#[test]
fn organization_ids_serve_logs_under_organizations() {
    let m = Mock::small(&["--org-id", "org-abc123"]);
    let r = m.get("/v1/compliance/organizations/org-abc123/logs?event_type=AUDIT_LOG&after=2000-01-01T00:00:00Z", Some(KEY));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.json()["data"].as_array().unwrap().is_empty());
    let r = m.get("/v1/compliance/organizations/org-other/logs?event_type=AUDIT_LOG&after=2000-01-01T00:00:00Z", Some(KEY));
    assert_eq!(r.status, 404);
    assert_eq!(
        m.get(
            "/v1/compliance/organizations/org-abc123/conversations",
            Some(KEY)
        )
        .status,
        404
    );
}
