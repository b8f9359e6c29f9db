//! Merging across runs, idempotence, quarantine, path escapes, hash-only
//! and rotation.

use crate::common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use testkit::Dir;

fn snapshot(dir: &Dir, root: &str) -> BTreeMap<String, Vec<u8>> {
    dir.files(root)
        .into_iter()
        .map(|p| {
            let b = dir.read_bytes(&format!("{root}/{p}"));
            (p, b)
        })
        .collect()
}

fn ids_in(dir: &Dir, rel: &str) -> Vec<(String, f64)> {
    let v: Value = serde_json::from_str(&dir.read(rel)).unwrap();
    v["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["last_active_at"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn merge_across_runs_keeps_newest_copy_and_recomputes_summary() {
    let dir = Dir::new("merge-runs");
    let a = conversation("c-a", "u1", DAY0 + 10.0, DAY0 + 20.0, &["a"]);
    let b = conversation("c-b", "u1", DAY0 + 30.0, DAY0 + 40.0, &["b"]);
    let other = conversation("c-o", "u2", DAY0 + 50.0, DAY0 + 60.0, &["o"]);
    let run1 = cmd(&dir)
        .args(["--out", "arch"])
        .stdin(ndjson(&[b.clone(), a.clone(), other.clone()]))
        .expect_success();
    check_lines(&dir, &run1, "arch");
    let file = "arch/u1/2025/07/02/conversations.json";
    assert_eq!(
        ids_in(&dir, file),
        [("c-a".into(), DAY0 + 20.0), ("c-b".into(), DAY0 + 40.0)]
    );

    // Run 2: b updated (newer), then an older copy of b re-sent after it,
    // a re-sent unchanged, and a new c (created before a).
    let b_new = conversation("c-b", "u1", DAY0 + 30.0, DAY0 + 500.0, &["b", "b2", "b3"]);
    let b_old = conversation("c-b", "u1", DAY0 + 30.0, DAY0 + 35.0, &["stale"]);
    let c = conversation("c-c", "u1", DAY0 + 5.0, DAY0 + 6.0, &["c"]);
    let input2 = ndjson(&[b_new.clone(), a.clone(), b_old, c.clone()]);
    let run2 = cmd(&dir)
        .args(["--out", "arch", "--summary", "s2.json"])
        .stdin(input2.clone())
        .expect_success();
    let lines2 = check_lines(&dir, &run2, "arch");
    assert_eq!(
        ids_in(&dir, file),
        [
            ("c-c".into(), DAY0 + 6.0),
            ("c-a".into(), DAY0 + 20.0),
            ("c-b".into(), DAY0 + 500.0)
        ]
    );
    assert!(
        dir.read(file).contains(&b_new),
        "updated record not copied verbatim"
    );
    assert_eq!(lines2["u1/2025/07/02/conversations.json"]["records"], 3);
    assert_eq!(lines2["u1/2025/07/02/conversations.json"]["changed"], true);
    // u2 was not in run 2: no line for it, its file untouched, but the
    // day's summary still counts it.
    assert!(!lines2.contains_key("u2/2025/07/02/conversations.json"));
    let s: Value =
        serde_json::from_str(&dir.read("arch/_daily_summaries/2025/07/02/summary.json")).unwrap();
    assert_eq!(
        s["user_statistics"],
        json!({"u1":{"conversation_count":3,"total_messages":5},"u2":{"conversation_count":1,"total_messages":1}})
    );
    assert_eq!(
        (s["total_users"].as_u64(), s["total_conversations"].as_u64()),
        (Some(2), Some(4))
    );
    let summary2: Value = serde_json::from_str(&dir.read("s2.json")).unwrap();
    // existing a and b re-sent (2 copies of b arrived, 1 of a): 3 dropped.
    assert_eq!(summary2["duplicates_dropped"], 3);

    // Run 3: the same input again leaves every byte as it was.
    let before = snapshot(&dir, "arch");
    let run3 = cmd(&dir)
        .args(["--out", "arch"])
        .stdin(input2)
        .expect_success();
    let lines3 = check_lines(&dir, &run3, "arch");
    assert_eq!(snapshot(&dir, "arch"), before, "second run changed bytes");
    assert_eq!(lines3.len(), 2);
    for l in lines3.values() {
        assert_eq!(l["changed"], false, "{l}");
    }
}

#[test]
fn every_layout_is_byte_identical_on_rerun() {
    let variants: [&[&str]; 5] = [
        &[],
        &["--format", "ndjson", "--compress", "gzip"],
        &["--layout", "hive", "--compress", "zstd"],
        &["--layout", "daily-jsonl", "--rotate-size", "600"],
        &["--path", "{user}/{date}.json"],
    ];
    let input = ndjson(
        &(0..30)
            .map(|i| {
                conversation(
                    &format!("c{i:02}"),
                    &format!("u{}", i % 3),
                    DAY0 + i as f64 * 7000.0,
                    DAY0 + 1e5,
                    &["m"],
                )
            })
            .collect::<Vec<_>>(),
    );
    for args in variants {
        let dir = Dir::new("rerun");
        let r1 = cmd(&dir)
            .args(["--out", "o"])
            .args(args)
            .stdin(input.clone())
            .expect_success();
        let first = check_lines(&dir, &r1, "o");
        let before = snapshot(&dir, "o");
        std::thread::sleep(std::time::Duration::from_millis(1100)); // a new backup_timestamp second
        let r2 = cmd(&dir)
            .args(["--out", "o"])
            .args(args)
            .stdin(input.clone())
            .expect_success();
        let second = check_lines(&dir, &r2, "o");
        assert_eq!(
            snapshot(&dir, "o"),
            before,
            "{args:?}: bytes changed on re-run"
        );
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            second.keys().collect::<Vec<_>>(),
            "{args:?}"
        );
        assert!(
            second.values().all(|l| l["changed"] == false),
            "{args:?}: {}",
            r2.stdout
        );
        assert!(
            first.values().all(|l| l["changed"] == true),
            "{args:?}: {}",
            r1.stdout
        );
    }
}

#[test]
fn bad_lines_are_quarantined_with_line_numbers() {
    let dir = Dir::new("quarantine");
    let good = conversation("c1", "u1", DAY0, DAY0, &["ok"]);
    let input = [
        good.as_str(),
        "{\"id\": \"broken\", ",
        "",
        r#"{"id":"nouser","created_at":1751414400}"#,
        r#"{"id":"notime","user_id":"u1"}"#,
        r#"[1,2]"#,
        r#"{"id":"badtime","user_id":"u1","created_at":"soon"}"#,
    ]
    .join("\n");
    let run = cmd(&dir)
        .args(["--out", "arch"])
        .stdin(input.clone())
        .expect_code(1);
    let lines = check_lines(&dir, &run, "arch");
    let q: Vec<&Value> = lines
        .values()
        .filter(|l| l["kind"] == "quarantine")
        .collect();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["records"], 5);
    let qpath = q[0]["path"].as_str().unwrap();
    assert!(
        qpath.starts_with("_quarantine/") && qpath.ends_with(".ndjson"),
        "{qpath}"
    );
    let entries: Vec<Value> = dir
        .read(&format!("arch/{qpath}"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(u64, String)> = entries
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [2, 4, 5, 6, 7]);
    assert!(got[0].1.starts_with("not JSON"), "{got:?}");
    assert_eq!(got[1].1, "missing user field `user_id`");
    assert_eq!(got[2].1, "missing time field `created_at`");
    assert_eq!(got[3].1, "not a JSON object");
    assert!(
        got[4].1.contains("cannot read \"soon\" as a time"),
        "{got:?}"
    );
    assert_eq!(entries[0]["text"], "{\"id\": \"broken\", ");
    assert_eq!(entries[1]["record"]["id"], "nouser");
    assert!(
        run.stderr.contains("stdin:4: quarantined"),
        "{}",
        run.stderr
    );
    // The good record was still written.
    assert_eq!(lines["u1/2025/07/02/conversations.json"]["records"], 1);

    // --strict: exit 3, same files, quarantine unchanged (same content, same name).
    let strict = cmd(&dir)
        .args(["--out", "arch", "--strict"])
        .stdin(input)
        .expect_code(3);
    let lines = check_lines(&dir, &strict, "arch");
    assert_eq!(lines[qpath]["changed"], false);
    assert!(
        strict.stderr.contains("5 lines quarantined"),
        "{}",
        strict.stderr
    );
}

#[test]
fn user_ids_cannot_escape_the_root() {
    let dir = Dir::new("escape");
    let users = [
        "../../etc",
        "/etc/passwd",
        "",
        "..",
        ".",
        &"x".repeat(400),
        "ünï/cödé",
        "_quarantine",
        "_daily_summaries",
        "a\\b",
        "a/b",
        "a_b",
    ];
    let input = ndjson(
        &users
            .iter()
            .enumerate()
            .map(|(i, u)| conversation(&format!("c{i}"), u, DAY0, DAY0, &["x"]))
            .collect::<Vec<_>>(),
    );
    let run = cmd(&dir)
        .args(["--out", "arch/inner"])
        .stdin(input)
        .expect_success();
    let lines = check_lines(&dir, &run, "arch/inner");
    let mut tops = std::collections::BTreeSet::new();
    for (path, l) in &lines {
        assert!(
            path.split('/')
                .all(|seg| seg != ".." && seg != "." && !seg.is_empty()),
            "{path}"
        );
        let top = path.split('/').next().unwrap();
        assert!(
            top.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-~".contains(c)),
            "{top}"
        );
        assert!(!top.starts_with('.') && top.len() <= 140, "{top}");
        if l["kind"] == "records" {
            tops.insert(top.to_owned());
            // The raw id is kept inside the file.
            let v: Value = serde_json::from_str(&dir.read(&format!("arch/inner/{path}"))).unwrap();
            assert_eq!(v["user_id"], l["user_id"]);
        }
    }
    assert_eq!(
        tops.len(),
        users.len(),
        "distinct users shared a directory: {tops:?}"
    );
    assert!(!tops.contains("_quarantine") && !tops.contains("_daily_summaries"));
    // Nothing was written outside arch/inner.
    let all = dir.files("");
    assert!(all.iter().all(|p| p.starts_with("arch/inner/")), "{all:?}");
    let s: Value =
        serde_json::from_str(&dir.read("arch/inner/_daily_summaries/2025/07/02/summary.json"))
            .unwrap();
    assert_eq!(s["total_users"], users.len());
    assert!(s["user_statistics"]["../../etc"].is_object());
}

#[test]
fn hash_only_replaces_message_text_with_its_sha256() {
    let dir = Dir::new("hash-only");
    let texts = ["secret plan", "naïve café 😀 \"quoted\"\n\ttab", ""];
    let conv = conversation("c1", "u1", DAY0, DAY0, &texts);
    let mut v: Value = serde_json::from_str(&conv).unwrap();
    // A tool message with null content stays null.
    v["messages"]["data"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id":"tool","content":null}));
    let run = cmd(&dir)
        .args([
            "--out",
            "arch",
            "--hash-only",
            "@content",
            "--format",
            "ndjson",
        ])
        .stdin(format!("{v}\n"))
        .expect_success();
    check_lines(&dir, &run, "arch");
    let out: Value =
        serde_json::from_str(dir.read("arch/u1/2025/07/02/conversations.json").trim()).unwrap();
    let msgs = out["messages"]["data"].as_array().unwrap();
    for (m, t) in msgs.iter().zip(texts) {
        assert_eq!(m["content"]["value"], sha256(t.as_bytes()), "{t:?}");
        assert_eq!(m["content"]["type"], "text");
    }
    assert_eq!(msgs[3]["content"], Value::Null);
    assert_eq!(out["title"], v["title"]);
    assert!(!dir
        .read("arch/u1/2025/07/02/conversations.json")
        .contains("secret"));

    // Named fields too, and a re-run does not hash the hashes.
    let run2 = cmd(&dir)
        .args([
            "--out",
            "arch",
            "--hash-only",
            "@content",
            "--format",
            "ndjson",
        ])
        .stdin(format!("{v}\n"))
        .expect_success();
    assert!(
        run2.json_lines().iter().all(|l| l["changed"] == false),
        "{}",
        run2.stdout
    );
    let run3 = cmd(&dir)
        .args([
            "--out",
            "t",
            "--hash-only",
            "title,user_email",
            "--format",
            "ndjson",
        ])
        .stdin(format!("{v}\n"))
        .expect_success();
    check_lines(&dir, &run3, "t");
    let out: Value =
        serde_json::from_str(dir.read("t/u1/2025/07/02/conversations.json").trim()).unwrap();
    assert_eq!(out["title"], sha256("t é 😀".as_bytes()));
    assert_eq!(
        out["messages"]["data"][0]["content"]["value"],
        "secret plan"
    );
}

#[test]
fn audit_logs_rotate_by_size_at_record_boundaries() {
    let dir = Dir::new("rotation");
    let day = 1769558400i64; // 2026-01-28T00:00:00Z
    let audit = |i: i64, actor: Value| {
        json!({"id":format!("audit_log-{i:03}"),"type":"login.succeeded","effective_at":day + i * 60,
               "actor":actor,"login.succeeded":{}})
        .to_string()
    };
    let session = json!({"type":"session","session":{"user":{"id":"user-1","email":"a@x"},"ip_address":"203.0.113.7"}});
    let key = json!({"type":"api_key","api_key":{"id":"key_1","type":"service_account","service_account":{"id":"svc_1"}}});
    let recs: Vec<String> = (0..20)
        .map(|i| {
            audit(
                i,
                if i % 2 == 0 {
                    session.clone()
                } else {
                    key.clone()
                },
            )
        })
        .collect();
    let size = recs.iter().map(|r| r.len()).max().unwrap() as u64 + 1;
    let limit = size * 3 + size / 2; // three records per part
    let args = [
        "--out",
        "audit",
        "--preset",
        "audit-logs",
        "--layout",
        "daily-jsonl",
        "--rotate-size",
    ];
    let run = cmd(&dir)
        .args(args)
        .arg(limit.to_string())
        .stdin(ndjson(&recs[..10]))
        .expect_success();
    let lines = check_lines(&dir, &run, "audit");
    assert_eq!(
        lines.keys().cloned().collect::<Vec<_>>(),
        [
            "audit_20260128_001.jsonl",
            "audit_20260128_002.jsonl",
            "audit_20260128_003.jsonl",
            "audit_20260128_004.jsonl"
        ]
    );
    assert!(lines
        .values()
        .all(|l| l["date"] == "2026-01-28" && l.get("user_id").is_none()));
    let parts: Vec<String> = lines
        .keys()
        .map(|p| dir.read(&format!("audit/{p}")))
        .collect();
    assert_eq!(parts.concat(), ndjson(&recs[..10]));
    assert_eq!(
        parts.iter().map(|p| p.lines().count()).collect::<Vec<_>>(),
        [3, 3, 3, 1]
    );
    assert!(parts.iter().all(|p| p.len() as u64 <= limit));

    // The rest of the day arrives, plus re-sent records: parts are re-cut,
    // the unchanged first parts stay byte-identical.
    let mut more = recs[8..].to_vec();
    more.push(recs[0].clone());
    let run2 = cmd(&dir)
        .args(args)
        .arg(limit.to_string())
        .stdin(ndjson(&more))
        .expect_success();
    let lines2 = check_lines(&dir, &run2, "audit");
    assert_eq!(lines2.len(), 7);
    assert_eq!(lines2["audit_20260128_001.jsonl"]["changed"], false);
    assert_eq!(lines2["audit_20260128_003.jsonl"]["changed"], false);
    assert_eq!(lines2["audit_20260128_004.jsonl"]["changed"], true);
    let all: String = lines2
        .keys()
        .map(|p| dir.read(&format!("audit/{p}")))
        .collect();
    assert_eq!(all, ndjson(&recs));

    // A bigger limit needs fewer parts: the extra parts are removed.
    let whole_day = ndjson(&recs).len();
    let run3 = cmd(&dir)
        .args(args)
        .arg(whole_day.to_string())
        .stdin(ndjson(&recs[..1]))
        .expect_success();
    let lines3 = check_lines(&dir, &run3, "audit");
    assert_eq!(
        lines3.keys().cloned().collect::<Vec<_>>(),
        ["audit_20260128_001.jsonl"]
    );
    assert_eq!(dir.files("audit").len(), 1, "{:?}", dir.files("audit"));
    assert!(run3.stderr.contains("removing"), "{}", run3.stderr);
    let all: String = lines3
        .keys()
        .map(|p| dir.read(&format!("audit/{p}")))
        .collect();
    assert_eq!(all, ndjson(&recs));
}

#[test]
fn audit_log_actors_become_users() {
    let dir = Dir::new("audit-actors");
    let rec = |id: &str, actor: Value| {
        json!({"id":id,"type":"x","effective_at":1755700000,"actor":actor}).to_string()
    };
    let input = ndjson(&[
        rec(
            "a1",
            json!({"type":"session","session":{"user":{"id":"user-xyz","email":"admin@example.com"}}}),
        ),
        rec(
            "a2",
            json!({"type":"api_key","api_key":{"id":"key_abc","type":"user","user":{"id":"user-xyz","email":"e"}}}),
        ),
        rec(
            "a3",
            json!({"type":"api_key","api_key":{"id":"key_svc1","type":"service_account","service_account":{"id":"svc_acct_1"}}}),
        ),
        rec("a4", Value::Null),
    ]);
    let run = cmd(&dir)
        .args(["--out", "a", "--preset", "audit-logs", "--layout", "hive"])
        .stdin(input)
        .expect_success();
    let lines = check_lines(&dir, &run, "a");
    assert_eq!(
        lines.keys().cloned().collect::<Vec<_>>(),
        [
            "archive_user=svc_acct_1/archive_date=2025-08-20/audit.ndjson",
            "archive_user=unknown-actor/archive_date=2025-08-20/audit.ndjson",
            "archive_user=user-xyz/archive_date=2025-08-20/audit.ndjson",
        ]
    );
    assert_eq!(
        lines["archive_user=user-xyz/archive_date=2025-08-20/audit.ndjson"]["records"],
        2
    );
}

/// A second run that mixes a group merged into an existing file, new days
/// under an existing user, and many new users' months (whose directories the
/// writer threads create between them): every existing record is kept,
/// every new file is complete, no temporary file is left behind.
#[test]
fn second_run_merges_in_old_directories_and_creates_new_ones() {
    let dir = Dir::new("new-and-old-dirs");
    let day = 86400.0;
    let first = conversation("old", "u1", DAY0 + 1.0, DAY0 + 2.0, &["x"]);
    cmd(&dir)
        .args(["--out", "arch"])
        .stdin(ndjson(std::slice::from_ref(&first)))
        .expect_success();

    let mut input = vec![conversation("new", "u1", DAY0 + 3.0, DAY0 + 4.0, &["y"])];
    for d in 1..3 {
        let t = DAY0 + d as f64 * day;
        input.push(conversation(&format!("u1-{d}"), "u1", t, t, &["z"]));
    }
    for u in 2..6 {
        for d in 0..70 {
            let t = DAY0 + d as f64 * day + 100.0;
            input.push(conversation(
                &format!("u{u}-{d}"),
                &format!("u{u}"),
                t,
                t,
                &["w"],
            ));
        }
    }
    let run = cmd(&dir)
        .args(["--out", "arch"])
        .stdin(ndjson(&input))
        .expect_success();
    let lines = check_lines(&dir, &run, "arch");
    let merged = "arch/u1/2025/07/02/conversations.json";
    let ids: Vec<String> = ids_in(&dir, merged).into_iter().map(|(i, _)| i).collect();
    assert_eq!(ids, ["old", "new"]);
    assert_eq!(lines["u1/2025/07/04/conversations.json"]["records"], 1);
    assert_eq!(
        ids_in(&dir, "arch/u1/2025/07/04/conversations.json")[0].0,
        "u1-2"
    );
    for u in 2..6 {
        for d in 0..70 {
            let date = chrono::DateTime::from_timestamp((DAY0 + d as f64 * day) as i64, 0)
                .unwrap()
                .format("%Y/%m/%d");
            let rel = format!("u{u}/{date}/conversations.json");
            assert_eq!(lines[&rel]["records"], 1, "{rel}");
            assert_eq!(
                ids_in(&dir, &format!("arch/{rel}"))[0].0,
                format!("u{u}-{d}")
            );
        }
    }
    // 3 u1 files, 4 × 70 new ones, 70 summaries.
    assert_eq!(lines.len(), 3 + 4 * 70 + 70);
    let files = dir.files("arch");
    assert_eq!(files.len(), 1 + 2 + 4 * 70 + 70, "{files:?}");
    assert!(
        files.iter().all(|f| !f.contains(".tmp-")),
        "temporary file left: {files:?}"
    );
}

/// What a quarantine file says, without the `source` (stdin or the path).
fn quarantined(dir: &Dir, run: &testkit::Run, root: &str) -> Vec<Value> {
    let lines = check_lines(dir, run, root);
    let q = lines.values().find(|l| l["kind"] == "quarantine").unwrap();
    dir.read(&format!("{root}/{}", q["path"].as_str().unwrap()))
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("source");
            v
        })
        .collect()
}

#[test]
fn a_file_routed_by_several_threads_gives_what_stdin_gives() {
    let dir = Dir::new("threads");
    // Good and bad lines interleaved, blank lines, CRLF and trailing blanks,
    // re-sent copies, so every chunk boundary falls somewhere interesting.
    let mut input = String::new();
    for i in 0..600u32 {
        let user = format!("u{}", i % 7);
        let t = DAY0 + f64::from(i % 11) * 86_400.0 + f64::from(i);
        let line = match i % 37 {
            5 => "{\"id\": \"broken\"".to_owned(),
            9 => format!("{{\"id\":\"nouser{i}\",\"created_at\":{t}}}"),
            13 => String::new(),
            17 => format!(
                "{}\r",
                conversation(&format!("c{i}"), &user, t, t, &["crlf"])
            ),
            21 => format!(
                "{}  \t",
                conversation(&format!("c{}", i - 1), &user, t, t + 1.0, &["newer"])
            ),
            _ => conversation(&format!("c{i}"), &user, t, t, &["text", "more"]),
        };
        input.push_str(&line);
        input.push('\n');
    }
    dir.write("in.ndjson", &input);
    let stdin_run = cmd(&dir)
        .args(["--out", "one", "--layout", "hive"])
        .stdin(input)
        .expect_code(1);
    let from_stdin = quarantined(&dir, &stdin_run, "one");
    assert_eq!(from_stdin.len(), 2 * 600 / 37 + 1, "{from_stdin:?}");
    for threads in ["1", "2", "5"] {
        let root = format!("t{threads}");
        let run = cmd(&dir)
            .args([
                "--out",
                &root,
                "--layout",
                "hive",
                "--threads",
                threads,
                "in.ndjson",
            ])
            .expect_code(1);
        assert_eq!(
            quarantined(&dir, &run, &root),
            from_stdin,
            "--threads {threads}"
        );
        let records = |r: &str| {
            dir.files(r)
                .into_iter()
                .filter(|p| !p.starts_with("_quarantine"))
                .map(|p| (p.clone(), dir.read(&format!("{r}/{p}"))))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(records(&root), records("one"), "--threads {threads}");
    }
}
