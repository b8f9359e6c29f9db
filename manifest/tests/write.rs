//! `manifest` writing manifests: run the real binary on real files and
//! check every line it prints and every file it leaves, with GNU
//! `sha256sum`, `bagit.py` and `minisign` as the independent judges.

use serde_json::{json, Value};
use testkit::Dir;

use crate::support::{file_line, manifest_json, sh, sha, BIN};

#[test]
fn manifests_pass_sha256sum_and_describe_every_file() {
    let dir = Dir::new("write-basic");
    dir.write("out/u1/2025/07/02/c.json", "[{\"id\":1}]\n");
    dir.write("out/u2/2025/07/03/c.json", "[{\"id\":2},{\"id\":3}]\n");
    // A file no producer announced this run: still covered (whole directory).
    dir.write("out/notes/readme.txt", "kept\n");
    // Leftover of a crashed atomic write: never listed, and removed since
    // its process is gone; a live process's temporary is left alone.
    dir.write("out/u1/.c.json.tmp-999999999-0", "half");
    let live = format!("u1/.c.json.tmp-{}-0", std::process::id());
    dir.write(&format!("out/{live}"), "being written");
    let lines = [
        file_line(
            &dir,
            "out",
            "u1/2025/07/02/c.json",
            json!({"records": 1, "table": "conversations", "user_id": "u1"}),
        ),
        file_line(
            &dir,
            "out",
            "u2/2025/07/03/c.json",
            json!({"records": 2, "table": "conversations"}),
        ),
    ];
    let run = dir
        .command(BIN)
        .args([
            "--period",
            "2025-07",
            "--retention-years",
            "7",
            "--compliance",
            "SOX",
            "--compliance",
            "GDPR",
        ])
        .args([
            "--s3-prefix",
            "s3://bucket/archive/conv",
            "--schema-version",
            "3",
        ])
        .stdin(lines.join("\n") + "\n")
        .expect_success();
    let out = run.json_lines();
    run.assert(out.len() == 4, "two input lines and two manifest lines");
    run.assert(
        run.stderr
            .contains("removed 1 temporary file(s) of processes that no longer run"),
        "the dead process's temporary is swept and said so",
    );
    // Input lines pass through untouched, in order.
    let got: Vec<String> = run.stdout.lines().take(2).map(str::to_string).collect();
    assert_eq!(got, lines);
    let txt = dir.read("out/manifest-sha256.txt");
    let json_text = dir.read("out/manifest.json");
    assert_eq!(
        out[2],
        json!({"root": "out", "path": "manifest-sha256.txt", "bytes": txt.len(), "sha256": sha(txt.as_bytes()),
               "manifest": true, "manifest_kind": "sha256", "changed": true, "period": "2025-07"})
    );
    assert_eq!(out[3]["path"], "manifest.json");
    assert_eq!(out[3]["sha256"], sha(json_text.as_bytes()));
    assert_eq!(out[3]["manifest"], true);

    // Exactly the payload, sorted, in sha256sum's own format.
    // The first line names the JSON companion; sha256sum skips # lines.
    let expected_txt = format!(
        "# companion: manifest.json\n{}  notes/readme.txt\n{}  u1/2025/07/02/c.json\n{}  u2/2025/07/03/c.json\n",
        sha(b"kept\n"),
        sha(b"[{\"id\":1}]\n"),
        sha(b"[{\"id\":2},{\"id\":3}]\n")
    );
    testkit::eqnice!(expected_txt, txt);
    let check = sh(
        &dir.join("out"),
        "sha256sum -c --strict manifest-sha256.txt",
    );
    assert!(
        check.status.success(),
        "sha256sum -c failed: {}",
        String::from_utf8_lossy(&check.stdout)
    );

    check_described(&dir, &txt);
    // No temporary files left behind, none listed.
    assert_eq!(
        dir.files("out"),
        vec![
            "manifest-sha256.txt",
            "manifest.json",
            "notes/readme.txt",
            live.as_str(),
            "u1/2025/07/02/c.json",
            "u2/2025/07/03/c.json"
        ]
    );
}

/// manifest.json of the basic test: every file described, labels recorded.
fn check_described(dir: &Dir, txt: &str) {
    let m = manifest_json(dir, "out/manifest.json");
    assert_eq!(m["archive_version"], 1);
    assert_eq!(m["period"], "2025-07");
    assert_eq!(m["retention_years"], 7);
    assert_eq!(m["compliance"], json!(["SOX", "GDPR"]));
    assert_eq!(m["schema_version"], "3");
    assert_eq!(
        m["tool"],
        json!({"name": "manifest", "version": env!("CARGO_PKG_VERSION")})
    );
    assert_eq!(
        m["sha256_manifest"],
        json!({"path": "manifest-sha256.txt", "sha256": sha(txt.as_bytes())})
    );
    assert_eq!(
        m["totals"],
        json!({"files": 3, "bytes": 5 + 11 + 20, "records": 3})
    );
    let files = m["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[1]["path"], "u1/2025/07/02/c.json");
    assert_eq!(files[1]["s3_key"], "archive/conv/u1/2025/07/02/c.json");
    assert_eq!(files[1]["table"], "conversations");
    assert_eq!(files[1]["records"], 1);
    assert_eq!(files[1]["user_id"], "u1");
    assert_eq!(files[1]["bytes"], 11);
    assert_eq!(files[0]["path"], "notes/readme.txt");
    assert!(files[0].get("records").is_none());
    assert!(m["created_at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn a_line_whose_digest_does_not_match_fails_that_file() {
    let dir = Dir::new("write-mismatch");
    dir.write("out/good.json", "good\n");
    dir.write("out/bad.json", "bad\n");
    let good = file_line(&dir, "out", "good.json", json!({}));
    let bad =
        json!({"root": "out", "path": "bad.json", "bytes": 4, "sha256": sha(b"something else")})
            .to_string();
    let missing =
        json!({"root": "out", "path": "gone.json", "bytes": 1, "sha256": sha(b"x")}).to_string();
    let run = dir
        .command(BIN)
        .stdin(format!("{good}\n{bad}\n{missing}\n"))
        .expect_code(1);
    let out = run.json_lines();
    // Only the good line is passed on, then the manifests.
    assert_eq!(out[0].to_string(), good);
    assert_eq!(out.len(), 3, "{}", run.report());
    run.assert(
        run.stderr.contains("out/bad.json") && run.stderr.contains("line 2"),
        "names the file and line",
    );
    run.assert(
        run.stderr.contains("gone.json: no such file"),
        "names the missing file",
    );
    // The mismatching file is not vouched for.
    assert_eq!(
        dir.read("out/manifest-sha256.txt"),
        format!(
            "# companion: manifest.json\n{}  good.json\n",
            sha(b"good\n")
        )
    );
}

#[test]
fn bad_input_is_a_data_error_naming_the_line() {
    let dir = Dir::new("write-badline");
    let run = dir
        .command(BIN)
        .stdin("{\"root\":\"out\",\"path\":\"a\",\"bytes\":1,\"sha256\":\"\"}\nnot json\n")
        .expect_code(3);
    run.assert(run.stderr.contains("stdin:2"), "names stdin:2");
    let run = dir
        .command(BIN)
        .stdin("{\"root\":\"out\",\"path\":\"../etc/passwd\"}\n")
        .expect_code(3);
    run.assert(run.stderr.contains("stdin:1"), "names stdin:1");
    assert!(!dir.join("out").exists(), "nothing written on a data error");
}

#[test]
fn rerun_covers_the_whole_directory_and_keeps_unchanged_manifests() {
    let dir = Dir::new("write-incremental");
    dir.write("out/2025/07/01.json", "day one\n");
    let first = file_line(&dir, "out", "2025/07/01.json", json!({"records": 5}));
    dir.command(BIN)
        .stdin(first.clone() + "\n")
        .expect_success();

    // Day two arrives alone; the manifest still lists day one with its metadata.
    dir.write("out/2025/07/02.json", "day two\n");
    let second = file_line(&dir, "out", "2025/07/02.json", json!({"records": 7}));
    let run = dir
        .command(BIN)
        .args(["--summary", "sum.json"])
        .stdin(second.clone() + "\n")
        .expect_success();
    let m = manifest_json(&dir, "out/manifest.json");
    assert_eq!(m["totals"], json!({"files": 2, "bytes": 16, "records": 12}));
    assert_eq!(m["files"][0]["records"], 5, "old metadata kept");
    let s: Value = serde_json::from_str(&dir.read("sum.json")).unwrap();
    assert_eq!(
        (s["files"].clone(), s["hashed"].clone(), s["reused"].clone()),
        (json!(2), json!(2), json!(0)),
        "{}",
        run.report()
    );

    // Nothing changed: the manifests are left as they are.
    let before = dir.read("out/manifest.json");
    let run = dir
        .command(BIN)
        .args(["--trust-unchanged", "--summary", "sum.json"])
        .stdin(second.clone() + "\n")
        .expect_success();
    let out = run.json_lines();
    assert_eq!(out[1]["changed"], false);
    assert_eq!(out[2]["changed"], false);
    assert_eq!(dir.read("out/manifest.json"), before);
    let s: Value = serde_json::from_str(&dir.read("sum.json")).unwrap();
    assert_eq!(
        (s["hashed"].clone(), s["reused"].clone()),
        (json!(1), json!(1)),
        "day one reused by size and mtime"
    );

    // Day one silently changes: re-verified, reported, old entry kept.
    dir.write("out/2025/07/01.json", "day 1!!\n");
    let run = dir.command(BIN).stdin(second.clone() + "\n").expect_code(1);
    run.assert(
        run.stderr
            .contains("01.json changed since the previous manifest"),
        "change reported",
    );
    assert!(dir
        .read("out/manifest-sha256.txt")
        .contains(&sha(b"day one\n")));
    // With --accept-changes it is recorded.
    dir.command(BIN)
        .arg("--accept-changes")
        .stdin(second + "\n")
        .expect_success();
    assert!(dir
        .read("out/manifest-sha256.txt")
        .contains(&sha(b"day 1!!\n")));
    assert!(sh(
        &dir.join("out"),
        "sha256sum -c --strict --quiet manifest-sha256.txt"
    )
    .status
    .success());
}

#[test]
fn root_walk_prints_every_file_and_dry_run_writes_nothing() {
    let dir = Dir::new("write-root");
    dir.write("tree/a.txt", "a\n");
    dir.write("tree/sub/b.txt", "b\n");
    let run = dir
        .command(BIN)
        .args(["--root", "tree", "--dry-run"])
        .expect_success();
    let out = run.json_lines();
    assert_eq!(out.len(), 4);
    assert_eq!(
        out[0],
        json!({"root": "tree", "path": "a.txt", "bytes": 2, "sha256": sha(b"a\n")})
    );
    assert_eq!(out[1]["path"], "sub/b.txt");
    assert_eq!(out[2]["status"], "planned");
    assert_eq!(out[3]["status"], "planned");
    assert_eq!(
        dir.files("tree"),
        vec!["a.txt", "sub/b.txt"],
        "dry run wrote something"
    );

    let run = dir.command(BIN).args(["--root", "tree"]).expect_success();
    let out = run.json_lines();
    assert_eq!(out[2]["path"], "manifest-sha256.txt");
    assert!(out[2].get("status").is_none());
    // The bytes announced for the manifest are the bytes written (dry run too).
    assert_eq!(
        out[2]["sha256"],
        sha(&dir.read_bytes("tree/manifest-sha256.txt"))
    );
    assert!(sh(
        &dir.join("tree"),
        "sha256sum -c --strict manifest-sha256.txt"
    )
    .status
    .success());
}

#[test]
fn group_by_period_writes_one_manifest_per_period() {
    let dir = Dir::new("write-group");
    dir.write("bill/charges-2025-10.parquet", "oct charges");
    dir.write("bill/charges-2025-11.parquet", "nov charges");
    dir.write("bill/credits-2025-11.parquet", "nov credits");
    let lines: Vec<String> = [
        ("charges-2025-10.parquet", "2025-10", "charges"),
        ("charges-2025-11.parquet", "2025-11", "charges"),
        ("credits-2025-11.parquet", "2025-11", "credits"),
    ]
    .iter()
    .map(|(p, period, table)| {
        file_line(
            &dir,
            "bill",
            p,
            json!({"period": period, "table": table, "records": 10, "schema_version": "v2"}),
        )
    })
    .collect();
    let run = dir
        .command(BIN)
        .args(["--group-by", "period"])
        .stdin(lines.join("\n"))
        .expect_success();
    let manifests: Vec<Value> = run
        .json_lines()
        .into_iter()
        .filter(|l| l["manifest"] == true)
        .collect();
    let names: Vec<&str> = manifests
        .iter()
        .map(|l| l["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "manifest-2025-10-sha256.txt",
            "manifest-2025-10.json",
            "manifest-2025-11-sha256.txt",
            "manifest-2025-11.json"
        ]
    );
    assert_eq!(manifests[2]["period"], "2025-11");
    assert_eq!(
        dir.read("bill/manifest-2025-11-sha256.txt"),
        format!(
            "# companion: manifest-2025-11.json\n{}  charges-2025-11.parquet\n{}  credits-2025-11.parquet\n",
            sha(b"nov charges"),
            sha(b"nov credits")
        )
    );
    let m = manifest_json(&dir, "bill/manifest-2025-11.json");
    assert_eq!(
        (
            m["period"].clone(),
            m["group_by"].clone(),
            m["schema_version"].clone()
        ),
        (json!("2025-11"), json!("period"), json!("v2"))
    );
    assert_eq!(m["totals"]["records"], 20);
    for p in ["2025-10", "2025-11"] {
        let c = sh(
            &dir.join("bill"),
            &format!("sha256sum -c --strict manifest-{p}-sha256.txt"),
        );
        assert!(c.status.success());
    }
    // Group manifests never list each other, and verify accepts the directory.
    dir.command(BIN).args(["verify", "bill"]).expect_success();
}

#[test]
fn bagit_bag_around_a_data_directory_validates() {
    let dir = Dir::new("write-bagit");
    dir.write("bag/data/u1/2025/07/02/c.json", "one\n");
    dir.write("bag/data/u2/c.json", "two two\n");
    let line = file_line(
        &dir,
        "bag/data",
        "u1/2025/07/02/c.json",
        json!({"records": 1}),
    );
    let run = dir
        .command(BIN)
        .args([
            "--bagit",
            "--external-identifier",
            "conversations-2025-07",
            "--period",
            "2025-07",
        ])
        .stdin(line + "\n")
        .expect_success();
    let out = run.json_lines();
    // The line is re-rooted at the bag so ship keeps the bag's shape.
    assert_eq!(out[0]["root"], "bag");
    assert_eq!(out[0]["path"], "data/u1/2025/07/02/c.json");
    assert_eq!(out[0]["records"], 1);
    let names: Vec<&str> = out[1..]
        .iter()
        .map(|l| l["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "manifest-sha256.txt",
            "manifest.json",
            "bagit.txt",
            "bag-info.txt",
            "tagmanifest-sha256.txt"
        ]
    );
    assert!(out[1..]
        .iter()
        .all(|l| l["manifest"] == true && l["root"] == "bag"));
    let info = dir.read("bag/bag-info.txt");
    assert!(info.contains("Payload-Oxum: 12.2\n"), "{info}");
    assert!(info.contains("External-Identifier: conversations-2025-07\n"));
    assert!(info.contains("Bagging-Date: "));
    let v = sh(dir.path(), "bagit.py --validate bag");
    assert!(
        v.status.success(),
        "bagit.py --validate: {}",
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(sh(
        &dir.join("bag"),
        "sha256sum -c --strict manifest-sha256.txt"
    )
    .status
    .success());
    dir.command(BIN).args(["verify", "bag"]).expect_success();

    // A payload change is caught by bagit.py too.
    dir.write("bag/data/u2/c.json", "two 2!!\n");
    assert!(!sh(dir.path(), "bagit.py --validate bag").status.success());
    // Payload not under data/: refused as a usage error.
    dir.write("plain/x.txt", "x");
    dir.command(BIN)
        .args(["--root", "plain", "--bagit"])
        .expect_code(2);
}

#[test]
fn minisign_signature_verifies_and_a_tampered_manifest_is_rejected() {
    let dir = Dir::new("write-sign");
    let keygen = sh(dir.path(), "minisign -G -W -p key.pub -s key.sec");
    assert!(
        keygen.status.success(),
        "{}",
        String::from_utf8_lossy(&keygen.stderr)
    );
    dir.write("out/a.json", "a\n");
    let run = dir
        .command(BIN)
        .args(["--root", "out", "--sign", "key.sec"])
        .expect_success();
    let sigs: Vec<Value> = run
        .json_lines()
        .into_iter()
        .filter(|l| l["manifest_kind"] == "signature")
        .collect();
    assert_eq!(sigs.len(), 2);
    assert_eq!(sigs[0]["path"], "manifest-sha256.txt.minisig");
    let ok = sh(&dir.join("out"), "minisign -V -p ../key.pub -m manifest-sha256.txt && minisign -V -p ../key.pub -m manifest.json");
    assert!(
        ok.status.success(),
        "minisign -V: {}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    dir.command(BIN)
        .args(["verify", "out", "--public-key", "key.pub"])
        .expect_success();

    // Tamper: add a line to the manifest.
    let txt = dir.read("out/manifest-sha256.txt");
    dir.write(
        "out/manifest-sha256.txt",
        format!("{txt}{}  b.json\n", sha(b"b")),
    );
    let bad = sh(
        &dir.join("out"),
        "minisign -V -p ../key.pub -m manifest-sha256.txt",
    );
    assert!(
        !bad.status.success(),
        "minisign accepted a tampered manifest"
    );
    let run = dir
        .command(BIN)
        .args(["verify", "out", "--public-key", "key.pub"])
        .expect_code(1);
    let statuses: Vec<String> = run
        .json_lines()
        .iter()
        .map(|l| l["status"].as_str().unwrap().to_string())
        .collect();
    run.assert(
        statuses.contains(&"bad_signature".to_string()),
        "bad signature reported",
    );
    run.assert(
        statuses.contains(&"missing".to_string()),
        "the added entry is missing",
    );
    // A key file that is not a key is a usage error.
    dir.write("junk.key", "nope");
    dir.command(BIN)
        .args(["--root", "out", "--sign", "junk.key"])
        .expect_code(2);
}

#[test]
fn ssh_signature_verifies_with_ssh_keygen() {
    let dir = Dir::new("write-ssh");
    assert!(sh(
        dir.path(),
        "ssh-keygen -q -t ed25519 -N '' -C archive -f id"
    )
    .status
    .success());
    dir.write("out/a.json", "a\n");
    dir.command(BIN)
        .args(["--root", "out", "--sign", "id"])
        .expect_success();
    let pubkey = dir.read("id.pub");
    dir.write("allowed", format!("archive@example {pubkey}"));
    let verify = "ssh-keygen -Y verify -f ../allowed -I archive@example -n file -s manifest-sha256.txt.sig < manifest-sha256.txt";
    let ok = sh(&dir.join("out"), verify);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    dir.write("out/manifest-sha256.txt", "tampered\n");
    assert!(!sh(&dir.join("out"), verify).status.success());
}

#[test]
fn a_pretty_printed_manifest_from_an_earlier_version_is_read_and_kept() {
    // Earlier versions wrote manifest.json with serde's pretty printer; its
    // content, not its layout, decides whether a re-run rewrites it.
    let dir = Dir::new("write-upgrade");
    dir.write("out/a.json", "a\n");
    dir.write("out/b \"q\".json", "b\n");
    let line = file_line(
        &dir,
        "out",
        "a.json",
        json!({"records": 2, "user_id": "u1", "span": {"min": 1, "max": [2, 3]}}),
    );
    dir.command(BIN).stdin(line.clone() + "\n").expect_success();
    let pretty =
        serde_json::to_string_pretty(&manifest_json(&dir, "out/manifest.json")).unwrap() + "\n";
    assert!(pretty.contains("\n      \"span\": {\n"), "{pretty}");
    dir.write("out/manifest.json", &pretty);
    let run = dir
        .command(BIN)
        .args(["--trust-unchanged"])
        .stdin(line + "\n")
        .expect_success();
    let out = run.json_lines();
    assert_eq!(
        (out[1]["changed"].clone(), out[2]["changed"].clone()),
        (json!(false), json!(false)),
        "{}",
        run.report()
    );
    assert_eq!(dir.read("out/manifest.json"), pretty, "kept byte for byte");
    assert_eq!(out[2]["sha256"], sha(pretty.as_bytes()));

    // A walk reads the metadata back from the pretty file and passes it on.
    dir.write("out/c.json", "c\n");
    let run = dir.command(BIN).args(["--root", "out"]).expect_success();
    let out = run.json_lines();
    assert_eq!(
        out[0],
        json!({"root": "out", "path": "a.json", "bytes": 2, "sha256": sha(b"a\n"), "records": 2,
               "user_id": "u1", "span": {"min": 1, "max": [2, 3]}, "changed": false})
    );
    assert_eq!(out[1]["path"], "b \"q\".json");
    assert_eq!(out[2]["path"], "c.json");
    let text = dir.read("out/manifest.json");
    let m: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(m["files"][0]["span"], json!({"min": 1, "max": [2, 3]}));
    assert_eq!(m["files"][0]["user_id"], "u1");
    assert_eq!(m["totals"], json!({"files": 3, "bytes": 6, "records": 2}));
    // One line per file: grep finds an entry with all its fields.
    let a_line = text.lines().find(|l| l.contains("\"a.json\"")).unwrap();
    assert!(a_line.contains("\"user_id\":\"u1\""), "{a_line}");
    assert!(sh(
        &dir.join("out"),
        "sha256sum -c --strict --quiet manifest-sha256.txt"
    )
    .status
    .success());
    dir.command(BIN).args(["verify", "out"]).expect_success();
}

#[test]
fn a_progress_bar_shows_on_a_terminal_and_nowhere_else() {
    let dir = Dir::new("write-progress");
    dir.write("tree/a.txt", "a\n");
    dir.write("tree/sub/b.txt", "b\n");
    // Not a terminal: stderr carries the summary line and nothing else.
    let run = dir.command(BIN).args(["--root", "tree"]).expect_success();
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.report());
    run.assert(
        run.stderr.starts_with("manifest: 2 files"),
        "summary line only",
    );
    // On a terminal (a pty from util-linux `script`), the bar is drawn.
    let tty = sh(
        dir.path(),
        &format!("script -qec '{BIN} --root tree' /dev/null"),
    );
    let screen = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success(), "{screen}");
    assert!(
        screen.contains("manifest: hashing"),
        "no bar drawn: {screen}"
    );
    // Bytes against the total size of the files ("a\n" and "b\n").
    assert!(screen.contains("/4 B"), "no byte total: {screen}");
    assert!(screen.contains("manifest: 2 files"), "no summary: {screen}");
}
