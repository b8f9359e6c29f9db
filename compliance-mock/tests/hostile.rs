//! The hostile-server faults, as they go over the wire: cursors that
//! repeat or run back, bodies that are not a clean JSON list page, the key
//! echoed, records from the future, redirects off the origin, set at start
//! (`--fault`) or through `PUT /_mock/faults`; and HTTPS with a test CA.

use crate::common::*;
use serde_json::Value;

#[test]
fn repeat_and_cycle_cursor_point_back_with_has_more() {
    let m = Mock::small(&["--fault", "repeat-cursor@2:users,cycle-cursor@3:gpts"]);
    let p1 = m.ws("users?limit=2").json();
    let after = p1["last_id"].as_str().unwrap().to_string();
    let p2 = m.ws(&format!("users?limit=2&after={after}")).json();
    assert_eq!(p2["last_id"], Value::String(after.clone()), "{p2}");
    assert_eq!(p2["has_more"], true);

    let g1 = m.ws("gpts?limit=1").json();
    let a1 = g1["last_id"].as_str().unwrap().to_string();
    let g2 = m.ws(&format!("gpts?limit=1&after={a1}")).json();
    let a2 = g2["last_id"].as_str().unwrap().to_string();
    let g3 = m.ws(&format!("gpts?limit=1&after={a2}")).json();
    assert_eq!(
        g3["last_id"],
        Value::String(a1),
        "the cursor goes back to the first one"
    );
    assert_eq!(g3["has_more"], true);

    let logs = Mock::small(&["--fault", "cycle-cursor@3:/logs"]);
    let q = |after: &str| {
        logs.ws(&format!("logs?event_type=AUTH_LOG&limit=1&after={after}"))
            .json()
    };
    let t0 = "2026-10-01T00:00:00Z";
    let t1 = q(t0)["last_end_time"].as_str().unwrap().to_string();
    let t2 = q(&t1)["last_end_time"].as_str().unwrap().to_string();
    let t3 = q(&t2);
    assert_eq!(t3["last_end_time"], t0, "back to the first cursor: {t3}");
}

/// A check of a rewritten body.
type BodyCheck<'a> = &'a dyn Fn(&[u8]) -> bool;

#[test]
fn malformed_bodies() {
    let m = Mock::small(&[]);
    let clean = m.ws("users?limit=3").body;
    let cases: [(&str, BodyCheck); 7] = [
        ("indent", &|b| {
            b.iter().filter(|c| **c == b'\n').count() > 5
                && serde_json::from_slice::<Value>(b).unwrap()
                    == serde_json::from_slice::<Value>(&clean).unwrap()
        }),
        ("html", &|b| b.starts_with(b"<!DOCTYPE html>")),
        ("bom", &|b| b.starts_with(b"\xEF\xBB\xBF{")),
        ("array", &|b| {
            serde_json::from_slice::<Value>(b).unwrap().is_array()
        }),
        ("garbage", &|b| {
            b.starts_with(b"{") && serde_json::from_slice::<Value>(b).is_err()
        }),
        ("data-object", &|b| {
            serde_json::from_slice::<Value>(b).unwrap()["data"]["items"].is_array()
        }),
        ("has-more-string", &|b| {
            serde_json::from_slice::<Value>(b).unwrap()["has_more"].is_string()
        }),
    ];
    for (fault, check) in cases {
        m.set_faults(&format!("{fault}@1"));
        assert_eq!(m.faults()["faults"][0], format!("{fault}@1"));
        let r = m.ws("users?limit=3");
        assert_eq!(r.status, 200, "{fault}");
        assert!(check(&r.body), "{fault}: {}", r.text());
        let again = m.ws("users?limit=3");
        assert_eq!(again.body, clean, "{fault} fired twice");
    }
    let r = m.request("PUT", "/_mock/faults?spec=nonsense@1", None);
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn the_key_is_echoed_where_clients_print_server_text() {
    let key = "sk-proj-Ab12Cd34Ef56Gh78Ij90KlMnOpQr";
    let m = Mock::small(&["--api-key", key, "--fault", "echo-key@1,echo-key-error@2"]);
    let auth = format!("Bearer {key}");
    let path = format!("/v1/compliance/workspaces/{WS}/users");
    let r = m.request("GET", &path, Some(&auth));
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(
        text.contains(key) && text.contains(&key.to_uppercase()),
        "{text}"
    );
    assert!(!text.contains("\"data\""), "{text}");
    let r = m.request("GET", &path, Some(&auth));
    assert_eq!(r.status, 500);
    let at = r.text().find(key).expect("the key in the error body");
    assert!(
        at < 300 && at + key.len() > 300,
        "the key is at {at}..{}",
        at + key.len()
    );
}

#[test]
fn future_time_dates_the_first_record_2099() {
    let m = Mock::small(&[
        "--short-pages",
        "0",
        "--fault",
        "future-time@1:conversations,future-time@1:audit_logs",
    ]);
    let c = m.ws("conversations?limit=2").json();
    assert_eq!(c["data"][0]["last_active_at"], 4083955200.5);
    let a = m.audit("limit=2").json();
    assert_eq!(a["data"][0]["effective_at"], 4083955200i64);
}

#[test]
fn redirects_off_the_origin_and_plain_http_downloads() {
    let m = Mock::small(&[
        "--fault",
        "redirect-http@1:users,redirect-origin@1:gpts,download-http@1",
    ]);
    let r = m.ws("users?limit=2");
    assert_eq!(r.status, 301);
    let loc = r.header("location").unwrap();
    assert!(
        loc.starts_with("http://127.0.0.1:") && loc.ends_with("/users?limit=2"),
        "{loc}"
    );
    let r = m.ws("gpts");
    assert_eq!(r.status, 301);
    assert!(r
        .header("location")
        .unwrap()
        .starts_with("http://localhost:"));
    let file = m.truth("logs/AUTH_LOG");
    assert!(!file.is_empty());
    let list = m
        .ws("logs?event_type=AUTH_LOG&after=2026-10-01T00:00:00Z&limit=1")
        .json();
    let id = list["data"][0]["id"].as_str().unwrap().to_string();
    let r = m.ws(&format!("logs/{id}"));
    assert_eq!(r.status, 307);
    assert!(r
        .header("location")
        .unwrap()
        .starts_with("http://downloads.example.invalid/"));
    // A signed URL fetched with the key as well is refused, as S3 does.
    let r = m.ws(&format!("logs/{id}"));
    let signed = local_path(r.header("location").unwrap());
    assert_eq!(m.get(&signed, Some(KEY)).status, 400);
    assert_eq!(m.get(&signed, None).status, 200);
    let logged = m.requests();
    assert!(logged.iter().all(|e| e["referer"] == false), "{logged:?}");
}

#[test]
fn https_with_a_test_ca() {
    let m = Mock::start_tls(SMALL);
    assert!(m.url.starts_with("https://127.0.0.1:"), "{}", m.url);
    let ca = std::fs::read_to_string(m.ca_cert.as_ref().unwrap()).unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    let r = m.ws("users?limit=2");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 2);
    assert_eq!(m.truth("users").len(), 25);
}
