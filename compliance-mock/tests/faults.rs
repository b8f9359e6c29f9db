//! Every fault of `--faults`, and the server-side rate limit.

use crate::common::*;
use std::time::{Duration, Instant};

#[test]
fn status_faults_hit_the_counted_requests() {
    let m = Mock::small(&[
        "--faults",
        "429@2,429-no-header@3,429-date=3@4,503x3@5,401@1:audit_logs",
    ]);
    let statuses: Vec<(u16, Option<String>)> = (0..9)
        .map(|_| {
            let r = m.ws("users?limit=1");
            (r.status, r.header("retry-after").map(String::from))
        })
        .collect();
    assert_eq!(statuses[0], (200, None));
    assert_eq!(statuses[1], (429, Some("1".into())));
    assert_eq!(statuses[2], (429, None));
    let date = statuses[3].1.clone().expect("Retry-After date");
    let when = httpdate_parse(&date);
    assert!(
        when > std::time::SystemTime::now(),
        "{date} is not in the future"
    );
    assert_eq!(statuses[3].0, 429);
    assert_eq!(
        statuses[4..7].iter().map(|s| s.0).collect::<Vec<_>>(),
        [503, 503, 503]
    );
    assert_eq!(
        statuses[7..].iter().map(|s| s.0).collect::<Vec<_>>(),
        [200, 200]
    );
    let r = m.ws("users?limit=1");
    assert_eq!(r.status, 200);
    // Scoped: counted among audit-log requests only.
    let r = m.audit("limit=1");
    assert_eq!(r.status, 401);
    assert!(r.json()["error"]["message"].is_string());
    assert_eq!(m.audit("limit=1").status, 200);
    // The request log says which rule fired.
    let log = m.requests();
    let faults: Vec<&str> = log.iter().filter_map(|r| r["fault"].as_str()).collect();
    assert_eq!(
        faults,
        [
            "429@2",
            "429-no-header@3",
            "429-date=3@4",
            "503x3@5",
            "503x3@5",
            "503x3@5",
            "401@1:audit_logs"
        ]
    );
    let body = m.ws("users?limit=1");
    assert_eq!(body.status, 200);
}

fn httpdate_parse(s: &str) -> std::time::SystemTime {
    // "Mon, 23 Nov 2026 19:41:13 GMT"
    let out = std::process::Command::new("date")
        .args(["-u", "-d", s, "+%s"])
        .output()
        .unwrap();
    let secs: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("not an HTTP date: {s}"));
    std::time::UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn drop_cuts_the_body_mid_transfer() {
    let m = Mock::small(&["--faults", "drop@1:conversations,drop@1:download"]);
    let r = m.ws("conversations?limit=50");
    assert_eq!(r.status, 200);
    assert!(!r.complete, "the body arrived whole");
    assert!(!r.body.is_empty(), "nothing of the body arrived");
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    let again = m.ws("conversations?limit=50");
    assert!(again.complete);
    again.json();
    // The same on a log-file download.
    let p = m
        .ws("logs?event_type=AUTH_LOG&after=2000-01-01T00:00:00Z&limit=1")
        .json();
    let id = p["data"][0]["id"].as_str().unwrap();
    let (_, d) = download_log(&m, id);
    assert!(!d.complete && d.body.len() < p["data"][0]["file_size"].as_u64().unwrap() as usize);
    let (_, d) = download_log(&m, id);
    assert!(d.complete);
    assert_eq!(
        sha256_hex(&d.body),
        p["data"][0]["file_sha256"].as_str().unwrap()
    );
}

#[test]
fn probabilistic_faults_are_deterministic_for_a_seed() {
    let pattern = |seed: &str| -> Vec<u16> {
        let m = Mock::start(&[
            "--generate-users",
            "5",
            "--generate-days",
            "1",
            "--seed",
            seed,
            "--faults",
            "500%30,502x2%5",
        ]);
        (0..60).map(|_| m.ws("users?limit=1").status).collect()
    };
    let a = pattern("3");
    assert_eq!(a, pattern("3"));
    assert_ne!(a, pattern("4"));
    let failed = a.iter().filter(|s| **s >= 500).count();
    assert!((8..=35).contains(&failed), "{failed} of 60 failed: {a:?}");
    assert!(a.iter().all(|s| [200, 500, 502].contains(s)));
}

#[test]
fn stall_delays_the_answer() {
    let m = Mock::small(&["--faults", "stall=1@1"]);
    let t = Instant::now();
    assert_eq!(m.ws("users?limit=1").status, 200);
    assert!(t.elapsed() >= Duration::from_secs(1));
    let t = Instant::now();
    assert_eq!(m.ws("users?limit=1").status, 200);
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn rate_limit_per_endpoint_per_key_with_scaled_minutes() {
    // 5 per minute; a minute lasts 60/30 = 2 s.
    let m = Mock::small(&["--rate-limit", "5", "--time-scale", "30"]);
    let t0 = Instant::now();
    let first: Vec<u16> = (0..7).map(|_| m.ws("users?limit=1").status).collect();
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "the machine is too slow for this test"
    );
    assert_eq!(first, [200, 200, 200, 200, 200, 429, 429]);
    let r = m.ws("users?limit=1");
    assert_eq!(r.status, 429);
    let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&ra), "Retry-After {ra}");
    assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
    // Another endpoint and another key have their own budget.
    assert_eq!(m.ws("gpts?limit=1").status, 200);
    assert_eq!(m.audit("limit=1").status, 200);
    std::thread::sleep(Duration::from_millis(2100).saturating_sub(t0.elapsed()));
    assert_eq!(
        m.ws("users?limit=1").status,
        200,
        "the window did not slide"
    );
    // The request log has every request with its status.
    let log = m.requests();
    assert_eq!(log.iter().filter(|r| r["status"] == 429).count(), 3);
}

#[test]
fn bad_fault_specs_are_usage_errors() {
    for spec in ["429", "teapot@1", "503x0@1", "bad-sha%3"] {
        let run = testkit::TestCommand::new(std::path::Path::new(bin()))
            .args(["--port", "0", "--faults", spec])
            .expect_code(2);
        run.assert(run.stderr.contains("--faults"), "the error names the flag");
        run.assert(run.stdout.is_empty(), "nothing on stdout");
    }
}
