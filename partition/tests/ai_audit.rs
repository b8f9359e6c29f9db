//! The ai-audit preset: AI-interaction audit entries kept hash-only (as the
//! library that writes them does), chosen fields sealed with age for named
//! recipients, daily JSONL files rotated by size. Hashes are checked with
//! python3's hashlib and ciphertexts opened with the real `age` CLI.

use crate::common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use testkit::Dir;

fn entry(i: usize, day: &str) -> Value {
    json!({
        "id": format!("audit-{i:04}"), "timestamp": format!("{day}T{:02}:{:02}:00Z", i % 24, i % 60),
        "provider": "openai", "model": "gpt-5",
        "input": format!("prompt number {i}: what is {i} × 2? ünï"),
        "output": format!("{}", i * 2),
        "safety_passed": !i.is_multiple_of(7), "detectors_triggered": if i.is_multiple_of(7) { json!(["pii"]) } else { json!([]) },
        "block_reason": null, "alerts": [], "latency_ms": 100 + i, "tokens": {"input": 12, "output": 3},
        "conversation_id": format!("conv-{}", i / 3), "metadata": {"team": "risk", "n": i}
    })
}

/// A new age identity in `dir`: (key file, public recipient).
fn age_key(dir: &Dir, name: &str) -> (std::path::PathBuf, String) {
    let key = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .expect("age-keygen (apt-get install age)");
    assert!(out.status.success());
    let text = std::fs::read_to_string(&key).unwrap();
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    (key, public)
}

fn age_decrypt(key: &std::path::Path, armored: &str) -> Vec<u8> {
    let mut child = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("age");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(armored.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// SHA-256 hex of each string, by python3's hashlib.
fn python_sha256(texts: &[String]) -> Vec<String> {
    let script = "import hashlib, json, sys\nfor t in json.load(sys.stdin): print(hashlib.sha256(t.encode('utf-8')).hexdigest())";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json!(texts).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn entries_are_hashed_by_default_in_daily_files_rotated_after_the_first() {
    let dir = Dir::new("ai-audit");
    let entries: Vec<Value> = (0..40)
        .map(|i| entry(i, if i < 30 { "2026-03-01" } else { "2026-03-02" }))
        .collect();
    let input: String = entries.iter().map(|e| format!("{e}\n")).collect();
    let run = cmd(&dir)
        .args(["--out", "a", "--preset", "ai-audit", "--rotate-size", "4KB"])
        .stdin(input.clone())
        .expect_success();
    let lines = check_lines(&dir, &run, "a");
    let paths: Vec<&str> = lines.keys().map(String::as_str).collect();
    // Per day: the bare name first, then _001, _002, … with no gap; each
    // part at most 4 KB, and full: the next part's first entry did not fit.
    for day in ["20260301", "20260302"] {
        let parts: Vec<&str> = paths.iter().copied().filter(|p| p.contains(day)).collect();
        assert!(parts.len() >= 2, "{paths:?}");
        let mut want = vec![format!("audit_{day}.jsonl")];
        want.extend((1..parts.len()).map(|n| format!("audit_{day}_{n:03}.jsonl")));
        want.sort();
        assert_eq!(parts, want);
        let ordered: Vec<&String> = std::iter::once(&want[0]).chain(want[1..].iter()).collect();
        for w in ordered.windows(2) {
            let this = dir.read_bytes(&format!("a/{}", w[0]));
            let next = dir.read(&format!("a/{}", w[1]));
            let first = next.lines().next().unwrap().len() + 1;
            assert!(this.len() + first > 4000, "{} is not full", w[0]);
        }
    }
    let mut kept = Vec::new();
    for p in &paths {
        let bytes = dir.read_bytes(&format!("a/{p}"));
        assert!(bytes.len() <= 4000, "{p}: {} bytes", bytes.len());
        kept.extend(testkit::parse_ndjson(&String::from_utf8(bytes).unwrap()));
    }
    assert_eq!(kept.len(), entries.len());
    let by_id = |id: &Value| entries.iter().find(|e| &e["id"] == id).unwrap();
    let inputs: Vec<String> = kept
        .iter()
        .map(|k| by_id(&k["id"])["input"].as_str().unwrap().to_owned())
        .collect();
    let outputs: Vec<String> = kept
        .iter()
        .map(|k| by_id(&k["id"])["output"].as_str().unwrap().to_owned())
        .collect();
    let (in_hashes, out_hashes) = (python_sha256(&inputs), python_sha256(&outputs));
    for (i, k) in kept.iter().enumerate() {
        assert_eq!(
            (k["input"].clone(), k["output"].clone()),
            (Value::Null, Value::Null),
            "{k}"
        );
        assert_eq!(k["input_hash"], json!(in_hashes[i]));
        assert_eq!(k["output_hash"], json!(out_hashes[i]));
        let orig = by_id(&k["id"]);
        for f in [
            "provider",
            "model",
            "safety_passed",
            "detectors_triggered",
            "tokens",
            "metadata",
            "conversation_id",
        ] {
            assert_eq!(k[f], orig[f], "{f}");
        }
        assert!(k.get("encryption_key_id").is_none());
    }
    // Hashed again or sent again: nothing changes.
    let again = cmd(&dir)
        .args(["--out", "a", "--preset", "ai-audit", "--rotate-size", "4KB"])
        .stdin(input)
        .expect_success();
    assert!(
        again.json_lines().iter().all(|l| l["changed"] == false),
        "{}",
        again.stdout
    );
}

#[test]
fn encrypted_fields_open_with_the_age_cli_and_name_their_keys() {
    let dir = Dir::new("ai-audit-age");
    let (key1, pub1) = age_key(&dir, "key1.txt");
    let (key2, pub2) = age_key(&dir, "key2.txt");
    let entries: Vec<Value> = (0..5).map(|i| entry(i, "2026-03-01")).collect();
    let input: String = entries.iter().map(|e| format!("{e}\n")).collect();
    let args = |out: &str| {
        vec![
            "--out".to_owned(),
            out.to_owned(),
            "--preset".into(),
            "ai-audit".into(),
            "--encrypt-field".into(),
            "output,metadata".into(),
            "--encrypt-to".into(),
            pub1.clone(),
            "--encrypt-to".into(),
            pub2.clone(),
        ]
    };
    let run = cmd(&dir)
        .args(args("a"))
        .stdin(input.clone())
        .expect_success();
    check_lines(&dir, &run, "a");
    let kept = testkit::parse_ndjson(&dir.read("a/audit_20260301.jsonl"));
    assert_eq!(kept.len(), 5);
    let key_id = kept[0]["encryption_key_id"].as_str().unwrap().to_owned();
    for (k, orig) in kept.iter().zip(&entries) {
        assert_eq!(k["id"], orig["id"]);
        assert_eq!(k["input"], Value::Null);
        assert_eq!(k["encryption_key_id"], json!(key_id));
        for (field, key) in [("output", &key1), ("metadata", &key2)] {
            let armored = k[field].as_str().unwrap();
            assert!(
                armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
                "{armored}"
            );
            let plain = age_decrypt(key, armored);
            assert_eq!(
                serde_json::from_slice::<Value>(&plain).unwrap(),
                orig[field]
            );
            assert_eq!(plain, serde_json::to_vec(&orig[field]).unwrap());
        }
        assert_eq!(
            k["output_hash"],
            json!(python_sha256(&[orig["output"].as_str().unwrap().to_owned()])[0])
        );
        assert_eq!(k["model"], orig["model"]);
        assert!(!k.to_string().contains("risk"), "metadata in clear: {k}");
    }
    // A re-run keeps the entries it has (ciphertexts differ on every run).
    let again = cmd(&dir)
        .args(args("a"))
        .stdin(input.clone())
        .expect_success();
    assert!(
        again.json_lines().iter().all(|l| l["changed"] == false),
        "{}",
        again.stdout
    );
    key_ids_name_the_set_of_recipients(&dir, &input, &key_id, &pub1, &pub2);
    // Half the flags is a usage error.
    let bad = cmd(&dir)
        .args([
            "--out",
            "d",
            "--preset",
            "ai-audit",
            "--encrypt-field",
            "output",
        ])
        .stdin("")
        .expect_code(2);
    assert!(bad.stderr.contains("--encrypt-to"), "{}", bad.stderr);
    let bad = cmd(&dir)
        .args([
            "--out",
            "d",
            "--preset",
            "ai-audit",
            "--encrypt-field",
            "output",
            "--encrypt-to",
            "age1nope",
        ])
        .stdin("")
        .expect_code(2);
    assert!(
        bad.stderr.contains("not an age recipient"),
        "{}",
        bad.stderr
    );
}

/// Another key set has another id; the same set in another order, the same.
fn key_ids_name_the_set_of_recipients(
    dir: &Dir,
    input: &str,
    key_id: &str,
    pub1: &str,
    pub2: &str,
) {
    cmd(dir)
        .args([
            "--out",
            "b",
            "--preset",
            "ai-audit",
            "--encrypt-field",
            "output",
            "--encrypt-to",
            pub1,
        ])
        .stdin(input)
        .expect_success();
    let other = testkit::parse_ndjson(&dir.read("b/audit_20260301.jsonl"));
    assert_ne!(other[0]["encryption_key_id"], json!(key_id));
    cmd(dir)
        .args([
            "--out",
            "c",
            "--preset",
            "ai-audit",
            "--encrypt-field",
            "output",
            "--encrypt-to",
        ])
        .arg(format!("{pub2},{pub1}"))
        .stdin(input)
        .expect_success();
    let same = testkit::parse_ndjson(&dir.read("c/audit_20260301.jsonl"));
    assert_eq!(same[0]["encryption_key_id"], json!(key_id));
}

#[test]
fn an_entry_without_an_id_is_not_sealed_but_quarantined() {
    let dir = Dir::new("ai-audit-no-id");
    let (_, public) = age_key(&dir, "key.txt");
    let mut no_id = entry(1, "2026-03-01");
    no_id.as_object_mut().unwrap().remove("id");
    let input = format!("{}\n{no_id}\n", entry(2, "2026-03-01"));
    let run = cmd(&dir)
        .args([
            "--out",
            "a",
            "--preset",
            "ai-audit",
            "--encrypt-field",
            "input",
            "--encrypt-to",
            &public,
        ])
        .stdin(input)
        .expect_code(1);
    let lines = check_lines(&dir, &run, "a");
    assert_eq!(lines["audit_20260301.jsonl"]["records"], 1);
    let q = lines
        .keys()
        .find(|p| p.starts_with("_quarantine/"))
        .unwrap();
    let e = &testkit::parse_ndjson(&dir.read(&format!("a/{q}")))[0];
    assert!(
        e["reason"]
            .as_str()
            .unwrap()
            .starts_with("missing id field `id`"),
        "{e}"
    );
    // The quarantine keeps the record as the run would have filed it: the
    // content sealed and hashed, never in clear.
    let r = &e["record"];
    assert!(r["input"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    let input = no_id["input"].as_str().unwrap().to_owned();
    assert_eq!(
        r["input_hash"],
        json!(python_sha256(std::slice::from_ref(&input))[0])
    );
    assert_eq!(
        (r["output"].clone(), r["model"].clone()),
        (Value::Null, no_id["model"].clone())
    );
    assert!(!dir.read(&format!("a/{q}")).contains(&input));
}
