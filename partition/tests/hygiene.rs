//! Issues 18 and 19 on partition's side: bytes that are not UTF-8 never
//! reach an output file, ids of different JSON types stay apart, the seed
//! metadata is configurable, user directories stay in their alphabet, every
//! file is compressed under --compression, list flags take one value per
//! occurrence, and a missing input is a usage error.

use crate::common::*;
use base64::Engine;
use serde_json::{json, Value};
use std::process::Command;
use testkit::Dir;

/// Decode every file under `root` strictly as UTF-8 (and parse it as JSON
/// or NDJSON) with python3, independently of partition; gzip files are
/// decompressed first. Returns the number of files checked.
fn python_checks_utf8(dir: &Dir, root: &str) -> usize {
    let script = r#"
import gzip, json, os, sys
n = 0
for base, _, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(base, f)
        data = open(p, 'rb').read()
        if f.endswith('.gz'):
            data = gzip.decompress(data)
        text = data.decode('utf-8', errors='strict')
        if '.json' in f and '.jsonl' not in f:
            json.loads(text)
        else:
            [json.loads(l) for l in text.splitlines() if l.strip()]
        n += 1
print(n)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(dir.join(root))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn lines_that_are_not_utf8_are_quarantined_with_their_exact_bytes() {
    let dir = Dir::new("not-utf8");
    let good = br#"{"id":"ok","user_id":"u1","created_at":1751414400.5}"#.to_vec();
    let bad_text =
        b"{\"id\":\"b1\",\"user_id\":\"u1\",\"created_at\":1751414401,\"title\":\"caf\xe9\"}"
            .to_vec();
    let bad_user = b"{\"id\":\"b2\",\"user_id\":\"u\xff1\",\"created_at\":1751414402}".to_vec();
    let bad_time =
        b"{\"id\":\"b3\",\"user_id\":\"u1\",\"created_at\":\"2025-07-02T00:00:0\xc3\"}".to_vec();
    let mut input = Vec::new();
    for l in [&good, &bad_text, &bad_user, &bad_time] {
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    dir.write("in.ndjson", &input);
    for (out, args) in [("seq", vec!["--jobs", "1"]), ("par", vec!["--jobs", "3"])] {
        let mut c = cmd(&dir);
        c.args(["--out", out, "in.ndjson"]).args(args);
        let run = c.expect_code(1);
        let by_path = check_lines(&dir, &run, out);
        let q = by_path
            .keys()
            .find(|p| p.starts_with("_quarantine/"))
            .unwrap();
        let entries = testkit::parse_ndjson(&dir.read(&format!("{out}/{q}")));
        assert_eq!(entries.len(), 3, "{entries:?}");
        for (e, (want, line)) in
            entries
                .iter()
                .zip([(&bad_text, 2), (&bad_user, 3), (&bad_time, 4)])
        {
            let b64 = e["base64"]
                .as_str()
                .unwrap_or_else(|| panic!("no base64: {e}"));
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            assert_eq!(&bytes, want);
            assert_eq!(e["line"], line);
            assert!(
                e["reason"]
                    .as_str()
                    .unwrap()
                    .starts_with("not UTF-8: invalid byte at column"),
                "{e}"
            );
            assert!(e.get("record").is_none(), "{e}");
        }
        let text = dir.read(&format!("{out}/u1/2025/07/02/conversations.json"));
        assert!(
            text.contains("\"ok\"") && !text.contains("\"b1\""),
            "{text}"
        );
        assert_eq!(python_checks_utf8(&dir, out), 3);
    }
}

#[test]
fn ids_of_different_json_types_are_different_records() {
    let dir = Dir::new("typed-ids");
    let input = "{\"id\":1,\"u\":\"a\",\"t\":1751414400}\n{\"id\":\"1\",\"u\":\"a\",\"t\":1751414400}\n{\"id\":1,\"u\":\"a\",\"t\":1751414400}\n";
    let run = cmd(&dir)
        .args([
            "--out",
            "o",
            "--user-field",
            "u",
            "--time-field",
            "t",
            "--format",
            "ndjson",
        ])
        .args(["--path", "{user}/{date}.ndjson"])
        .stdin(input)
        .expect_success();
    let lines = check_lines(&dir, &run, "o");
    assert_eq!(lines["a/2025-07-02.ndjson"]["records"], 2);
    let ids: Vec<Value> = testkit::parse_ndjson(&dir.read("o/a/2025-07-02.ndjson"))
        .into_iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, [json!("1"), json!(1)]);
}

#[test]
fn seed_metadata_keys_are_configurable_and_kept_across_runs() {
    let dir = Dir::new("metadata");
    let input = ndjson(&[conversation("c1", "u1", DAY0 + 5.0, DAY0 + 6.0, &["hi"])]);
    let args = [
        "--out",
        "o",
        "--metadata",
        "env=prod,team=a,b",
        "--metadata",
        "lambda_function=nightly",
        "--timestamp-key",
        "exported_at",
    ];
    cmd(&dir).args(args).stdin(input.clone()).expect_success();
    let v: Value = serde_json::from_str(&dir.read("o/u1/2025/07/02/conversations.json")).unwrap();
    let m = v["metadata"].as_object().unwrap();
    assert_eq!(
        m.keys().collect::<Vec<_>>(),
        ["exported_at", "lambda_function", "env", "team"]
    );
    assert_eq!(
        (m["lambda_function"].as_str(), m["team"].as_str()),
        (Some("nightly"), Some("a,b"))
    );
    assert!(chrono::DateTime::parse_from_rfc3339(m["exported_at"].as_str().unwrap()).is_ok());
    // The renamed timestamp is read back: a re-run changes nothing.
    let run = cmd(&dir).args(args).stdin(input.clone()).expect_success();
    assert!(
        run.json_lines().iter().all(|l| l["changed"] == false),
        "{}",
        run.stdout
    );
    // The default is the daily backup's {backup_timestamp, lambda_function}.
    cmd(&dir).args(["--out", "d"]).stdin(input).expect_success();
    let v: Value = serde_json::from_str(&dir.read("d/u1/2025/07/02/conversations.json")).unwrap();
    let keys: Vec<&String> = v["metadata"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["backup_timestamp", "lambda_function"]);
    let bad = cmd(&dir)
        .args(["--out", "d", "--metadata", "novalue"])
        .stdin("")
        .expect_code(2);
    assert!(bad.stderr.contains("KEY=VALUE"), "{}", bad.stderr);
}

#[test]
fn user_directories_use_only_the_promised_alphabet_and_stay_apart() {
    let dir = Dir::new("user-names");
    let users = [
        "a/b",
        "a_b",
        "a?b",
        "_quarantine",
        "x~y",
        "ünï",
        ".hidden",
        "plain-user.1",
    ];
    let recs: Vec<String> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            json!({"id": format!("c{i}"), "user_id": u, "created_at": DAY0 + 1.0}).to_string()
        })
        .collect();
    let run = cmd(&dir)
        .args(["--out", "o"])
        .stdin(ndjson(&recs))
        .expect_success();
    let lines = check_lines(&dir, &run, "o");
    let mut tops: Vec<String> = std::fs::read_dir(dir.join("o"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "_daily_summaries")
        .collect();
    tops.sort();
    assert_eq!(tops.len(), users.len(), "{tops:?}");
    for t in &tops {
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && !t.starts_with('.'),
            "{t}"
        );
    }
    assert!(tops.contains(&"plain-user.1".to_owned()));
    // Each directory holds the records of exactly one user.
    for l in lines.values().filter(|l| l["kind"] == "records") {
        let text = dir.read(&format!("o/{}", l["path"].as_str().unwrap()));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["conversations"][0]["user_id"], l["user_id"]);
    }
}

#[test]
fn compression_covers_every_file_and_the_old_flag_still_works() {
    let dir = Dir::new("compression");
    let input = ndjson(&[
        conversation("c1", "u1", DAY0 + 5.0, DAY0 + 6.0, &["hi"]),
        "not json".to_owned(),
    ]);
    for (flag, out) in [("--compression", "new"), ("--compress", "old")] {
        let run = cmd(&dir)
            .args(["--out", out, flag, "gzip"])
            .stdin(input.clone())
            .expect_code(1);
        let lines = check_lines(&dir, &run, out);
        let paths: Vec<&String> = lines.keys().collect();
        assert!(paths.iter().all(|p| p.ends_with(".gz")), "{paths:?}");
        assert!(paths.contains(&&"_daily_summaries/2025/07/02/summary.json.gz".to_owned()));
        let s: Value = serde_json::from_slice(&read_plain(
            &dir,
            &format!("{out}/_daily_summaries/2025/07/02/summary.json.gz"),
        ))
        .unwrap();
        assert_eq!(s["total_conversations"], 1);
        assert_eq!(python_checks_utf8(&dir, out), 3);
        // A re-run leaves the compressed summary unchanged.
        let again = cmd(&dir)
            .args(["--out", out, flag, "gzip"])
            .stdin(input.clone())
            .expect_code(1);
        assert!(
            again.json_lines().iter().all(|l| l["changed"] == false),
            "{}",
            again.stdout
        );
    }
}

#[test]
fn list_flags_take_one_value_each_and_a_missing_input_is_a_usage_error() {
    let dir = Dir::new("flags");
    dir.write(
        "conversations.ndjson",
        ndjson(&[conversation(
            "c1",
            "u1",
            DAY0 + 5.0,
            DAY0 + 6.0,
            &["secret"],
        )]),
    );
    let run = cmd(&dir)
        .args([
            "--out",
            "o",
            "--hash-only",
            "@content",
            "conversations.ndjson",
        ])
        .expect_success();
    assert_eq!(check_lines(&dir, &run, "o").len(), 2);
    let text = dir.read("o/u1/2025/07/02/conversations.json");
    assert!(
        !text.contains("secret") && text.contains(&sha256(b"secret")),
        "{text}"
    );
    // Repeated and comma-separated are the same.
    cmd(&dir)
        .args([
            "--out",
            "a",
            "--hash-only",
            "title",
            "--hash-only",
            "@content",
            "conversations.ndjson",
        ])
        .expect_success();
    cmd(&dir)
        .args([
            "--out",
            "b",
            "--hash-only",
            "title,@content",
            "conversations.ndjson",
        ])
        .expect_success();
    let rel = "u1/2025/07/02/conversations.json";
    let strip = |p: &str| {
        let mut v: Value = serde_json::from_str(&dir.read(p)).unwrap();
        v["metadata"] = Value::Null;
        v
    };
    assert_eq!(strip(&format!("a/{rel}")), strip(&format!("b/{rel}")));
    assert_ne!(strip(&format!("a/{rel}")), strip(&format!("o/{rel}")));
    // A line that cannot be filed is quarantined hashed too.
    let no_user = r#"{"id":"c2","created_at":1751414400,"messages":{"data":[{"content":{"value":"hidden"}}]}}"#;
    let run = cmd(&dir)
        .args(["--out", "q", "--hash-only", "@content"])
        .stdin(format!("{no_user}\n"))
        .expect_code(1);
    let q = check_lines(&dir, &run, "q").into_keys().next().unwrap();
    let e = &testkit::parse_ndjson(&dir.read(&format!("q/{q}")))[0];
    assert_eq!(
        e["record"]["messages"]["data"][0]["content"]["value"],
        json!(sha256(b"hidden"))
    );
    // --threads is the old name of --jobs.
    cmd(&dir)
        .args(["--out", "t", "--threads", "2", "conversations.ndjson"])
        .expect_success();
    let run = cmd(&dir)
        .args(["--out", "m", "missing.ndjson"])
        .expect_code(2);
    assert!(run.stderr.contains("missing.ndjson"), "{}", run.stderr);
    assert!(!dir.join("m").exists());
}

#[test]
fn files_under_a_former_marked_directory_are_merged_into_the_new_one() {
    let dir = Dir::new("former-mark");
    let user = "alice@example.com";
    let h = sha256(user.as_bytes());
    let old_rel = format!(
        "o/alice_example.com~{}/2025/07/02/conversations.json",
        &h[..10]
    );
    let old = conversation("c-old", user, DAY0 + 5.0, DAY0 + 6.0, &["before"]);
    dir.write(
        &old_rel,
        format!("{{\"date\":\"2025-07-02\",\"user_id\":{},\"conversation_count\":1,\"conversations\":[{old}],\"metadata\":{{\"backup_timestamp\":\"2026-01-01T00:00:00Z\",\"source\":\"chatgpt-compliance-api\"}}}}\n", json!(user)),
    );
    let new = conversation("c-new", user, DAY0 + 50.0, DAY0 + 60.0, &["after"]);
    let run = cmd(&dir)
        .args(["--out", "o"])
        .stdin(ndjson(&[new]))
        .expect_success();
    let lines = check_lines(&dir, &run, "o");
    let rel = format!(
        "alice_example.com--{}/2025/07/02/conversations.json",
        &h[..12]
    );
    assert_eq!(lines[&rel]["records"], 2);
    let v: Value = serde_json::from_str(&dir.read(&format!("o/{rel}"))).unwrap();
    let ids: Vec<&str> = v["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c-old", "c-new"]);
    assert!(
        !dir.join(&old_rel).exists(),
        "the former file is removed once merged"
    );
    assert!(run.stderr.contains("removing"), "{}", run.stderr);
}

#[test]
fn an_existing_file_with_bytes_that_are_not_utf8_is_not_carried_forward() {
    let dir = Dir::new("old-not-utf8");
    let old_rel = "o/a/2025-07-02.ndjson";
    let old = b"{\"id\":\"old\",\"u\":\"a\",\"t\":1751414400,\"x\":\"\xff\"}\n";
    dir.write(old_rel, old);
    let new = "{\"id\":\"new\",\"u\":\"a\",\"t\":1751414401}\n";
    let run = cmd(&dir)
        .args(["--out", "o", "--user-field", "u", "--time-field", "t"])
        .args(["--path", "{user}/{date}.ndjson"])
        .stdin(new)
        .expect_code(1);
    assert!(run.stderr.contains("not valid UTF-8"), "{}", run.stderr);
    // The old file is left as it is, the new record is quarantined.
    assert_eq!(dir.read_bytes(old_rel), old);
    let lines = check_lines(&dir, &run, "o");
    let q = lines
        .keys()
        .find(|p| p.starts_with("_quarantine/"))
        .unwrap();
    let e = &testkit::parse_ndjson(&dir.read(&format!("o/{q}")))[0];
    assert_eq!(e["record"]["id"], "new");
    assert!(!lines.contains_key("a/2025-07-02.ndjson"));
}
