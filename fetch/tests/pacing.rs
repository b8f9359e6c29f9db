//! Pacing: with the mock's clock sped up (its minute lasts one second) and
//! the same limit on both sides, the mock's request log never shows more
//! requests in any window than allowed, no 429 is provoked, and the run is
//! not much slower than the limit allows.

use crate::support::*;
use serde_json::Value;
use testkit::Dir;

/// Largest number of requests in any half-open window of `window` seconds.
fn max_in_window(times: &[f64], window: f64) -> usize {
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn paced_requests_never_exceed_the_limit_in_any_window() {
    // 30 requests per mock minute; the mock minute is one real second.
    let mock = start_mock(&[
        "--rate-limit",
        "30",
        "--time-scale",
        "60",
        "--short-pages",
        "0",
        "--generate-users",
        "30",
        "--generate-days",
        "8",
        "--nested-messages",
        "1000",
    ]);
    let dir = Dir::new("pacing");
    let truth = mock.truth("conversations");
    assert!(
        truth.len() >= 60,
        "too little data for a pacing test: {}",
        truth.len()
    );
    // The client's limit is per real minute: 30 per second = 1800 per minute.
    let run = fetch(
        &dir,
        &mock,
        &[
            "conversations",
            "--limit",
            "1",
            "--rate-limit",
            "1800",
            "--summary",
            "s.json",
        ],
    )
    .expect_success();
    assert_same(&run.json_lines(), &truth, "id", "paced conversations");
    let reqs = mock.requests();
    let statuses: Vec<u64> = reqs.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "a request was refused: {statuses:?}"
    );
    let times: Vec<f64> = reqs
        .iter()
        .map(|r: &Value| r["t"].as_f64().unwrap())
        .collect();
    let n = times.len();
    assert!(n >= 60);
    let worst = max_in_window(&times, 1.0);
    assert!(
        worst <= 30,
        "{worst} requests in one mock minute (limit 30)"
    );
    // Even pacing: close to the floor, (n-1) intervals of 1/30 s.
    let span = times[n - 1] - times[0];
    let floor = (n - 1) as f64 / 30.0;
    assert!(
        span >= floor * 0.98,
        "faster than the limit: {span:.2}s for {n} requests"
    );
    assert!(
        span <= floor * 1.15,
        "much slower than the limit: {span:.2}s vs floor {floor:.2}s"
    );
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(s["rate_limited"], 0);
}

#[test]
fn a_server_limit_lower_than_ours_is_obeyed_through_retry_after() {
    // The client believes 6000/min; the server allows 10 per (scaled) minute.
    let mock = start_mock(&[
        "--rate-limit",
        "10",
        "--time-scale",
        "60",
        "--short-pages",
        "0",
    ]);
    let dir = Dir::new("retry-after");
    let run = fetch(
        &dir,
        &mock,
        &[
            "users",
            "--limit",
            "1",
            "--rate-limit",
            "6000",
            "--max-attempts",
            "10",
            "--summary",
            "s.json",
        ],
    )
    .expect_success();
    assert_same(
        &run.json_lines(),
        &mock.truth("users"),
        "id",
        "users under a server limit",
    );
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert!(
        s["rate_limited"].as_u64().unwrap() >= 1,
        "the server limit was never hit: {s}"
    );
}
