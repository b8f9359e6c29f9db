//! Layouts and formats: every file's path and content, and every line.

use crate::common::*;
use serde_json::{json, Value};
use testkit::Dir;

#[test]
fn seed_layout_writes_wrapped_files_and_daily_summaries() {
    let dir = Dir::new("seed-layout");
    let a1 = conversation(
        "c-a1",
        "user-a",
        DAY0 + 3600.5,
        DAY0 + 4000.0,
        &["hi", "there"],
    );
    let a0 = conversation("c-a0", "user-a", DAY0 + 60.25, DAY0 + 70.0, &["first"]);
    let b1 = conversation(
        "c-b1",
        "user-b",
        DAY0 + 7200.0,
        DAY0 + 7300.0,
        &["x", "y", "z"],
    );
    let a2 = conversation(
        "c-a2",
        "user-a",
        DAY0 + 86400.0 + 5.0,
        DAY0 + 86400.0 + 9.0,
        &[],
    );
    // Extra whitespace inside a record must survive: records are copied, not re-serialised.
    let spaced = a1.replacen("\"title\":", "\"title\" :  ", 1);
    let input = ndjson(&[spaced.clone(), b1.clone(), a0.clone(), a2.clone()]);
    let run = cmd(&dir)
        .args(["--out", "arch", "--source", "seed-test"])
        .stdin(input)
        .expect_success();
    let lines = check_lines(&dir, &run, "arch");
    let paths: Vec<&str> = lines.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "_daily_summaries/2025/07/02/summary.json",
            "_daily_summaries/2025/07/03/summary.json",
            "user-a/2025/07/02/conversations.json",
            "user-a/2025/07/03/conversations.json",
            "user-b/2025/07/02/conversations.json",
        ]
    );
    assert_eq!(dir.files("arch").len(), 5, "{:?}", dir.files("arch"));

    let text = dir.read("arch/user-a/2025/07/02/conversations.json");
    // Ordered by created_at; raw bytes of each record kept.
    let expected_prefix = format!(
        "{{\"date\":\"2025-07-02\",\"user_id\":\"user-a\",\"conversation_count\":2,\"conversations\":[{a0},{spaced}],\"metadata\":{{\"backup_timestamp\":"
    );
    assert!(text.starts_with(&expected_prefix), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["metadata"]["source"], "seed-test");
    let ts = v["metadata"]["backup_timestamp"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
    assert_eq!(
        v.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "date",
            "user_id",
            "conversation_count",
            "conversations",
            "metadata"
        ]
    );

    let l = &lines["user-a/2025/07/02/conversations.json"];
    assert_eq!(l["records"], 2);
    assert_eq!(l["user_id"], "user-a");
    assert_eq!(l["date"], "2025-07-02");
    assert_eq!(l["min_time"], "2025-07-02T00:01:00.250Z");
    assert_eq!(l["max_time"], "2025-07-02T01:00:00.500Z");
    assert_eq!(l["changed"], true);
    assert_eq!(l["kind"], "records");

    let s: Value =
        serde_json::from_str(&dir.read("arch/_daily_summaries/2025/07/02/summary.json")).unwrap();
    assert_eq!(s["date"], "2025-07-02");
    assert_eq!(s["total_users"], 2);
    assert_eq!(s["total_conversations"], 3);
    assert_eq!(
        s["user_statistics"],
        json!({"user-a":{"conversation_count":2,"total_messages":3},
               "user-b":{"conversation_count":1,"total_messages":3}})
    );
    assert!(s["backup_timestamp"].is_string());
    let l = &lines["_daily_summaries/2025/07/03/summary.json"];
    // Not `records` (manifest would count the day's conversations twice).
    assert_eq!(
        (
            l["kind"].as_str(),
            l.get("records"),
            l["summary_of_records"].as_u64()
        ),
        (Some("daily_summary"), None, Some(1))
    );
    assert_eq!(
        v["metadata"]["lambda_function"],
        format!("partition {}", env!("CARGO_PKG_VERSION"))
    );
    // stdout holds file lines only; the summary line goes to stderr.
    assert!(run.stderr.contains("4 records"), "{}", run.stderr);
}

#[test]
fn hive_layout_with_log_event_preset_and_compression() {
    for (algo, ext) in [("gzip", ".gz"), ("zstd", ".zst")] {
        let dir = Dir::new("hive-layout");
        let ev = |id: &str, user: &str, ts: &str| {
            json!({"event_id":id,"type":"CONVERSATION_MESSAGE",
                   "actor":{"type":"ACCOUNT_USER","user_id":user,"user_email":"a@b"},
                   "timestamp":ts,"message":{"content":{"value":"v"}}})
            .to_string()
        };
        let e1 = ev("evt-2", "user-x", "2026-05-20T12:47:09.501218Z");
        let e2 = ev("evt-1", "user-x", "2026-05-20T01:00:00+02:00"); // 2026-05-19 23:00 UTC
        let e3 = ev("evt-3", "user-y", "2026-05-20T00:00:00Z");
        let run = cmd(&dir)
            .args([
                "--out",
                "logs",
                "--preset",
                "log-events",
                "--layout",
                "hive",
                "--compress",
                algo,
            ])
            .stdin(ndjson(&[e1.clone(), e2.clone(), e3.clone()]))
            .expect_success();
        let lines = check_lines(&dir, &run, "logs");
        let p1 = format!("archive_user=user-x/archive_date=2026-05-19/events.ndjson{ext}");
        let p2 = format!("archive_user=user-x/archive_date=2026-05-20/events.ndjson{ext}");
        let p3 = format!("archive_user=user-y/archive_date=2026-05-20/events.ndjson{ext}");
        assert_eq!(
            lines.keys().cloned().collect::<Vec<_>>(),
            [p1.clone(), p2.clone(), p3.clone()]
        );
        assert_eq!(
            read_plain(&dir, &format!("logs/{p1}")),
            format!("{e2}\n").into_bytes()
        );
        assert_eq!(
            read_plain(&dir, &format!("logs/{p2}")),
            format!("{e1}\n").into_bytes()
        );
        assert_eq!(
            read_plain(&dir, &format!("logs/{p3}")),
            format!("{e3}\n").into_bytes()
        );
        assert_eq!(lines[&p2]["min_time"], "2026-05-20T12:47:09.501218Z");
        // No daily summaries outside the seed layout.
        assert_eq!(dir.files("logs").len(), 3);
    }
}

#[test]
fn template_layout_time_formats_and_tz() {
    let dir = Dir::new("template-layout");
    let rec = |id: &str, t: Value| json!({"id":id,"owner":{"id":"o1"},"ts":t}).to_string();
    let input = ndjson(&[
        rec("ms", json!(1769569200000i64)), // 2026-01-28T03:00:00Z in ms
        rec("float", json!(1769569200.5)),  // seconds
        rec("rfc", json!("2026-01-28T04:00:00Z")),
        rec("numstr", json!("1769655600")), // 2026-01-29T03:00:00Z
    ]);
    let run = cmd(&dir)
        .args([
            "--out",
            "o",
            "--user-field",
            "owner.id",
            "--time-field",
            "ts",
            "--path",
            "{user}/{yyyy}-{mm}/{date}.ndjson",
            "--tz",
            "America/New_York",
        ])
        .stdin(input.clone())
        .expect_success();
    let lines = check_lines(&dir, &run, "o");
    // In New York, 03:00 and 04:00 UTC on the 28th are still the 27th.
    assert_eq!(
        lines.keys().cloned().collect::<Vec<_>>(),
        [
            "o1/2026-01/2026-01-27.ndjson",
            "o1/2026-01/2026-01-28.ndjson"
        ]
    );
    let ids: Vec<String> = dir
        .read("o/o1/2026-01/2026-01-27.ndjson")
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, ["ms", "float", "rfc"]);
    assert_eq!(lines["o1/2026-01/2026-01-27.ndjson"]["date"], "2026-01-27");

    // A template that climbs out of the root is a usage error.
    let bad = cmd(&dir)
        .args([
            "--out",
            "o",
            "--user-field",
            "owner.id",
            "--time-field",
            "ts",
            "--path",
            "../{user}.ndjson",
        ])
        .stdin(input)
        .expect_code(2);
    bad.assert(bad.stdout.is_empty(), "no lines on a usage error");
}

#[test]
fn dry_run_plans_and_touches_nothing() {
    let dir = Dir::new("dry-run");
    let input = ndjson(&[
        conversation("c1", "u1", DAY0, DAY0, &["a"]),
        "not json".into(),
    ]);
    let run = cmd(&dir)
        .args(["--out", "arch", "--dry-run", "--summary", "s.json"])
        .stdin(input)
        .expect_code(1);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    for l in &lines {
        assert_eq!(l["status"], "planned");
        assert_eq!(l["changed"], true);
    }
    assert!(!dir.join("arch").exists(), "dry run created the output");
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(
        (s["records"].as_u64(), s["quarantined"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(s["dry_run"], true);

    // The planned lines equal what a real run then writes (same bytes, same hash).
    let real = cmd(&dir)
        .args(["--out", "arch"])
        .stdin(ndjson(&[conversation("c1", "u1", DAY0, DAY0, &["a"])]))
        .expect_success();
    let real_lines = check_lines(&dir, &real, "arch");
    let planned = &lines.iter().find(|l| l["kind"] == "records").unwrap();
    let written = &real_lines[planned["path"].as_str().unwrap()];
    assert_eq!(planned["records"], written["records"]);
}

#[test]
fn gzip_and_zstd_input_give_the_same_files_as_plain_input() {
    use std::io::Write;
    let dir = Dir::new("compressed-input");
    let input: String = (0..40)
        .map(|i| {
            let t = DAY0 + f64::from(i % 5) * 86_400.0 + f64::from(i);
            conversation(&format!("c{i}"), &format!("u{}", i % 3), t, t, &["x"]) + "\n"
        })
        .collect();
    dir.write("in.ndjson", &input);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(input.as_bytes()).unwrap();
    std::fs::write(dir.join("in.ndjson.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(
        dir.join("in.ndjson.zst"),
        zstd::bulk::compress(input.as_bytes(), 3).unwrap(),
    )
    .unwrap();
    let tree = |root: &str| {
        dir.files(root)
            .into_iter()
            .map(|p| (p.clone(), dir.read(&format!("{root}/{p}"))))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    cmd(&dir)
        .args(["--out", "plain", "--layout", "hive", "in.ndjson"])
        .expect_code(0);
    let plain = tree("plain");
    assert_eq!(plain.len(), 15, "3 users x 5 days");
    for (root, file) in [("gz", "in.ndjson.gz"), ("zst", "in.ndjson.zst")] {
        let run = cmd(&dir)
            .args(["--out", root, "--layout", "hive", file])
            .expect_code(0);
        check_lines(&dir, &run, root);
        assert_eq!(tree(root), plain, "{file}");
    }
    // The same through stdin.
    let run = cmd(&dir)
        .args(["--out", "zst-stdin", "--layout", "hive"])
        .stdin(std::fs::read(dir.join("in.ndjson.zst")).unwrap())
        .expect_code(0);
    check_lines(&dir, &run, "zst-stdin");
    assert_eq!(tree("zst-stdin"), plain);
}

#[test]
fn sizes_follow_one_rule_and_a_failed_run_still_writes_its_summary() {
    let dir = Dir::new("sizes");
    let help = cmd(&dir).arg("--help").expect_success();
    let words = help.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)"),
        "{}",
        help.stdout
    );
    // A bare M is ambiguous: refused (exit 2), and the summary says so.
    let run = cmd(&dir)
        .args(["--out", "arch", "--memory", "256M", "--summary", "s.json"])
        .stdin("")
        .expect_code(2);
    assert!(run.stderr.contains("--memory \"256M\""), "{}", run.stderr);
    let s = summary(&dir, "s.json");
    assert_eq!(
        (s["status"].as_str(), s["exit_code"].as_i64()),
        (Some("failed"), Some(2))
    );
    assert!(s["error"].as_str().unwrap().contains("MiB"), "{s}");
    assert_eq!(s["out"], "arch");
    // 1MB is 1,000,000 bytes: the smallest budget; 999KB is below it.
    cmd(&dir)
        .args(["--out", "arch", "--memory", "999KB"])
        .stdin("")
        .expect_code(2);
    let input = ndjson(&[conversation("c1", "u1", DAY0, DAY0, &["a"])]);
    let run = cmd(&dir)
        .args([
            "--out",
            "arch",
            "--memory",
            "1MB",
            "--rotate-size",
            "1KiB",
            "--summary",
            "s.json",
        ])
        .stdin(input)
        .expect_success();
    check_lines(&dir, &run, "arch");
    let s = summary(&dir, "s.json");
    assert_eq!(
        (s["status"].as_str(), s["records"].as_u64()),
        (Some("ok"), Some(1))
    );
    assert!(
        s["elapsed_s"].is_number() && s["started"].is_string(),
        "{s}"
    );
}
