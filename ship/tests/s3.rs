//! ship against moto's S3 server: storage classes, checksums, no-clobber,
//! SSE, Object Lock, lifecycle, age, fallback and drain. boto3 is the
//! independent reader of what ended up in the bucket.

use crate::util::*;
use serde_json::{json, Value};
use testkit::Dir;

fn statuses(lines: &[Value]) -> Vec<String> {
    let mut s: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                l["key"].as_str().unwrap(),
                l["status"].as_str().unwrap()
            )
        })
        .collect();
    s.sort();
    s
}

#[test]
fn every_storage_class_is_read_back_and_manifests_get_their_own() {
    let moto = moto_with_bucket("classes", false);
    let dir = Dir::new("ship-classes");
    let classes = [
        "STANDARD",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER_IR",
        "GLACIER",
        "DEEP_ARCHIVE",
    ];
    for (i, class) in classes.iter().enumerate() {
        let line = file_line(
            &dir,
            "data",
            &format!("{class}.json"),
            &bytes(100, i as u64),
        );
        let manifest = json!({
            "root": dir.join("data").to_string_lossy(), "path": format!("manifest-{class}.txt"),
            "bytes": 3, "sha256": sha256_hex(b"abc"), "manifest": true,
        });
        dir.write(&format!("data/manifest-{class}.txt"), "abc");
        let run = ship(&dir, &moto)
            .args(["s3://classes/p", "--storage-class", &class.to_lowercase()])
            .args(["--manifest-storage-class", "STANDARD_IA"])
            .stdin(format!("{line}\n{manifest}\n"))
            .expect_success();
        let lines = run.json_lines();
        assert_eq!(lines.len(), 2, "{}", run.report());
        for l in &lines {
            let is_manifest = l["manifest"] == json!(true);
            let want = if is_manifest { "STANDARD_IA" } else { class };
            assert_eq!(l["storage_class"], json!(want), "{}", run.report());
            assert_eq!(l["status"], json!("uploaded"));
            // HEAD omits the header for STANDARD, as S3 does.
            let h = head(&moto, "classes", l["key"].as_str().unwrap());
            let stored = h["StorageClass"].as_str().unwrap_or("STANDARD");
            assert_eq!(stored, want, "{h}");
        }
    }
    let run = ship(&dir, &moto)
        .args(["s3://classes/p", "--storage-class", "COLD"])
        .stdin("")
        .expect_code(2);
    run.assert(
        run.stderr.contains("DEEP_ARCHIVE"),
        "error lists the valid classes",
    );
}

#[test]
fn checksums_single_part_and_multipart_match_the_local_sha256() {
    let moto = moto_with_bucket("sums", false);
    let dir = Dir::new("ship-sums");
    let small = bytes(70_000, 1);
    let big = bytes(12 * 1024 * 1024 + 123, 2);
    let input = format!(
        "{}\n{}\n",
        file_line(&dir, "d", "small.bin", &small),
        file_line(&dir, "d", "nested/big.bin", &big)
    );
    let run = ship(&dir, &moto)
        .args([
            "s3://sums/arch/",
            "--part-size",
            "5MiB",
            "--multipart-threshold",
            "5MiB",
        ])
        .args(["--summary", "summary.json"])
        .stdin(input)
        .expect_success();
    let lines = run.json_lines();
    assert_eq!(
        statuses(&lines),
        ["arch/nested/big.bin uploaded", "arch/small.bin uploaded"]
    );
    for (key, data) in [("arch/small.bin", &small), ("arch/nested/big.bin", &big)] {
        let line = lines.iter().find(|l| l["key"] == json!(key)).unwrap();
        let sha = sha256_hex(data);
        assert_eq!(line["sha256"], json!(sha));
        assert_eq!(line["checksum_sha256"], json!(sha));
        assert_eq!(line["url"], json!(format!("s3://sums/{key}")));
        assert_eq!(line["records"], json!(1), "unknown fields pass through");
        assert!(line["etag"].is_string());
        assert_eq!(get_bytes(&moto, "sums", key), *data);
        let h = head(&moto, "sums", key);
        assert_eq!(h["Metadata"]["sha256"], json!(sha), "{h}");
        let stored = h["ChecksumSHA256"]
            .as_str()
            .expect("a stored SHA-256 checksum");
        assert_eq!(line["s3_checksum"].as_str().unwrap(), stored);
        if key.ends_with("small.bin") {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(&sha).unwrap());
            assert_eq!(
                stored, b64,
                "single PUT checksum is the whole-object SHA-256"
            );
        } else {
            // Composite: SHA-256 over the three part digests (5 MiB parts).
            let mut cat = Vec::new();
            for chunk in data.chunks(5 * 1024 * 1024) {
                cat.extend(hex::decode(sha256_hex(chunk)).unwrap());
            }
            use base64::Engine;
            let composite = base64::engine::general_purpose::STANDARD
                .encode(hex::decode(sha256_hex(&cat)).unwrap());
            assert_eq!(stored.split('-').next().unwrap(), composite, "{h}");
        }
    }
    assert!(open_uploads(&moto, "sums").is_empty());
    let summary: Value = serde_json::from_str(&dir.read("summary.json")).unwrap();
    assert_eq!(summary["uploaded"], json!(2));
    assert_eq!(summary["bytes_sent"], json!(small.len() + big.len()));
    assert_eq!(
        (summary["tool"].as_str(), summary["status"].as_str()),
        (Some("ship"), Some("ok"))
    );
    assert!(summary["elapsed_s"].is_number() && summary.get("seconds").is_none());
}

#[test]
fn missing_credentials_and_bad_sizes_are_configuration_errors() {
    let dir = Dir::new("ship-no-creds");
    let line = file_line(&dir, "d", "a.json", b"a");
    let run = dir
        .command(BIN)
        .args(["s3://some-bucket/p", "--summary", "s.json"])
        .env("HOME", dir.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("none"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .stdin(line)
        .expect_code(2);
    run.assert(
        run.stderr.contains("no AWS credentials"),
        "says what is missing",
    );
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(
        (s["status"].as_str(), s["exit_code"].as_i64()),
        (Some("failed"), Some(2)),
        "the summary is written on failure too: {s}"
    );
    // 5MB is 5,000,000 bytes (powers of 1000): below S3's 5MiB minimum part.
    for bad in ["5MB", "5M", "lots"] {
        let run = dir
            .command(BIN)
            .args(["out", "--part-size", bad])
            .stdin("")
            .expect_code(2);
        run.assert(run.stderr.contains("part-size"), "names the flag");
    }
    dir.command(BIN)
        .args([
            "out",
            "--part-size",
            "5MiB",
            "--multipart-threshold",
            "1.5GB",
        ])
        .stdin("")
        .expect_success();
}

#[test]
fn no_clobber_by_default_then_overwrite_and_update() {
    let moto = moto_with_bucket("clobber", false);
    let dir = Dir::new("ship-clobber");
    let v1 = file_line(&dir, "d", "day.json", b"version one\n");
    ship(&dir, &moto)
        .arg("s3://clobber")
        .stdin(v1.clone())
        .expect_success();

    // The same file again: identical, skipped.
    let run = ship(&dir, &moto)
        .arg("s3://clobber")
        .stdin(v1.clone())
        .expect_success();
    assert_eq!(statuses(&run.json_lines()), ["day.json skipped"]);

    // A changed file under the same key: refused by default, and said so
    // (a conflict, exit 1), never reported as kept.
    let v2 = file_line(&dir, "d", "day.json", b"version two, longer\n");
    let run = ship(&dir, &moto)
        .arg("s3://clobber")
        .stdin(v2.clone())
        .expect_code(1);
    assert_eq!(statuses(&run.json_lines()), ["day.json conflict"]);
    run.assert(
        run.stderr.contains("conflict") && run.stderr.contains("d/day.json"),
        "names the conflicting file",
    );
    assert_eq!(get_bytes(&moto, "clobber", "day.json"), b"version one\n");

    // --update: different SHA-256 → replaced; then the same → skipped.
    let run = ship(&dir, &moto)
        .args(["s3://clobber", "--update"])
        .stdin(v2.clone())
        .expect_success();
    assert_eq!(statuses(&run.json_lines()), ["day.json uploaded"]);
    assert_eq!(
        get_bytes(&moto, "clobber", "day.json"),
        b"version two, longer\n"
    );
    let run = ship(&dir, &moto)
        .args(["s3://clobber", "--update", "--summary", "s.json"])
        .stdin(v2)
        .expect_success();
    let line = &run.json_lines()[0];
    assert_eq!(line["status"], json!("skipped"));
    assert_eq!(
        line["checksum_sha256"],
        json!(sha256_hex(b"version two, longer\n"))
    );
    let summary: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(
        summary["bytes_sent"],
        json!(0),
        "an unchanged object is not sent again"
    );

    // --overwrite replaces unconditionally.
    let v3 = file_line(&dir, "d", "day.json", b"three\n");
    let run = ship(&dir, &moto)
        .args(["s3://clobber", "--overwrite"])
        .stdin(v3)
        .expect_success();
    assert_eq!(statuses(&run.json_lines()), ["day.json uploaded"]);
    assert_eq!(get_bytes(&moto, "clobber", "day.json"), b"three\n");
}

#[test]
fn sse_settings_are_read_back() {
    let moto = moto_with_bucket("sse", false);
    let dir = Dir::new("ship-sse");
    let a = file_line(&dir, "d", "a.json", b"aes");
    ship(&dir, &moto)
        .args(["s3://sse", "--sse", "AES256"])
        .stdin(a)
        .expect_success();
    assert_eq!(
        head(&moto, "sse", "a.json")["ServerSideEncryption"],
        json!("AES256")
    );

    let key_id = moto.python("print(boto3.client('kms', endpoint_url=s3.meta.endpoint_url, region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing').create_key()['KeyMetadata']['KeyId'])");
    let key_id = key_id.trim();
    let b = file_line(&dir, "d", "b.json", b"kms");
    let run = ship(&dir, &moto)
        .args(["s3://sse", "--sse", "aws:kms", "--sse-kms-key-id", key_id])
        .stdin(b)
        .expect_success();
    assert_eq!(run.json_lines()[0]["sse"], json!("aws:kms"));
    let h = head(&moto, "sse", "b.json");
    assert_eq!(h["ServerSideEncryption"], json!("aws:kms"), "{h}");
    assert!(
        h["SSEKMSKeyId"].as_str().unwrap_or("").contains(key_id),
        "{h}"
    );

    ship(&dir, &moto)
        .args(["s3://sse", "--sse", "rot13"])
        .stdin("")
        .expect_code(2);
}

#[test]
fn object_lock_retention_and_legal_hold_are_read_back_and_enforced() {
    let moto = moto_with_bucket("locked", true);
    let dir = Dir::new("ship-lock");
    let line = file_line(&dir, "d", "audit.json", b"immutable\n");
    let run = ship(&dir, &moto)
        .args([
            "s3://locked/a",
            "--object-lock-mode",
            "COMPLIANCE",
            "--retain-until",
            "2031-01-01",
        ])
        .arg("--legal-hold")
        .stdin(line)
        .expect_success();
    let l = &run.json_lines()[0];
    assert_eq!(l["status"], json!("uploaded"), "{}", run.report());
    assert_eq!(l["retain_until"], json!("2031-01-01T00:00:00Z"));
    let version = l["version_id"]
        .as_str()
        .expect("a version id from a versioned bucket");
    let h = head(&moto, "locked", "a/audit.json");
    assert_eq!(h["ObjectLockMode"], json!("COMPLIANCE"), "{h}");
    assert!(
        h["ObjectLockRetainUntilDate"]
            .as_str()
            .unwrap()
            .starts_with("2031-01-01"),
        "{h}"
    );
    assert_eq!(h["ObjectLockLegalHoldStatus"], json!("ON"), "{h}");
    let refused = moto.python(&format!(
        "try:\n    s3.delete_object(Bucket='locked', Key='a/audit.json', VersionId='{version}')\n    print('deleted')\n\
         except Exception as e:\n    print('refused', e)"
    ));
    assert!(refused.starts_with("refused"), "{refused}");
    assert_eq!(get_bytes(&moto, "locked", "a/audit.json"), b"immutable\n");

    // A mode without a date is a usage error, before anything is sent.
    ship(&dir, &moto)
        .args(["s3://locked/a", "--object-lock-mode", "GOVERNANCE"])
        .stdin("")
        .expect_code(2);
}

fn lifecycle(dir: &Dir, moto: &testkit::MotoServer) -> testkit::TestCommand {
    let mut c = dir.command(BIN);
    moto.configure(&mut c);
    c
}

#[test]
fn lifecycle_dry_run_prints_json_and_apply_is_read_back() {
    let moto = moto_with_bucket("life", false);
    let dir = Dir::new("ship-life");
    let args = [
        "lifecycle",
        "s3://life/chatgpt",
        "--transition",
        "90:GLACIER_IR",
        "--transition",
        "365:deep_archive",
        "--expire-days",
        "3650",
        "--abort-incomplete-days",
        "7",
    ];
    let run = lifecycle(&dir, &moto)
        .args(args)
        .arg("--dry-run")
        .expect_success();
    let printed: Value = serde_json::from_str(&run.stdout).unwrap();
    let want_rule = json!({
        "ID": "ship-chatgpt", "Status": "Enabled", "Filter": {"Prefix": "chatgpt/"},
        "Transitions": [{"Days": 90, "StorageClass": "GLACIER_IR"}, {"Days": 365, "StorageClass": "DEEP_ARCHIVE"}],
        "Expiration": {"Days": 3650},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    });
    assert_eq!(printed, json!({"Rules": [want_rule]}));
    let none = moto.python("try:\n    s3.get_bucket_lifecycle_configuration(Bucket='life'); print('has')\nexcept Exception:\n    print('none')");
    assert_eq!(none.trim(), "none", "dry run applied something");

    lifecycle(&dir, &moto).args(args).expect_success();
    // A second rule for another prefix keeps the first.
    lifecycle(&dir, &moto)
        .args(["lifecycle", "s3://life/billing", "--expire-days", "2557"])
        .expect_success();
    let got = moto
        .python("print(json.dumps(s3.get_bucket_lifecycle_configuration(Bucket='life')['Rules']))");
    let rules: Vec<Value> = serde_json::from_str(got.trim()).unwrap();
    assert_eq!(rules.len(), 2, "{got}");
    let chat = rules
        .iter()
        .find(|r| r["ID"] == json!("ship-chatgpt"))
        .expect(&got);
    assert_eq!(chat["Transitions"], want_rule["Transitions"], "{got}");
    assert_eq!(chat["Expiration"]["Days"], json!(3650));
    assert_eq!(
        chat["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"],
        json!(7)
    );
    assert_eq!(chat["Filter"]["Prefix"], json!("chatgpt/"));
    let bill = rules
        .iter()
        .find(|r| r["ID"] == json!("ship-billing"))
        .expect(&got);
    assert_eq!(bill["Expiration"]["Days"], json!(2557));

    lifecycle(&dir, &moto)
        .args(["lifecycle", "s3://life/x", "--transition", "30:STANDARD"])
        .expect_code(2);
}

#[test]
fn age_encrypted_objects_decrypt_with_the_age_tool() {
    let moto = moto_with_bucket("sealed", false);
    let dir = Dir::new("ship-age");
    let keygen = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(dir.join("identity.txt"))
        .output()
        .expect("age-keygen (apt-get install age)");
    assert!(keygen.status.success());
    let identity = dir.read("identity.txt");
    let recipient = identity
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    let small = bytes(5000, 7);
    let big = bytes(6 * 1024 * 1024, 8);
    let input = format!(
        "{}\n{}\n",
        file_line(&dir, "d", "s.parquet", &small),
        file_line(&dir, "d", "b.parquet", &big)
    );
    let run = ship(&dir, &moto)
        .args([
            "s3://sealed/bill",
            "--encrypt-to",
            &recipient,
            "--multipart-threshold",
            "5MiB",
            "--part-size",
            "5MiB",
        ])
        .stdin(input)
        .expect_success();
    let lines = run.json_lines();
    assert_eq!(
        statuses(&lines),
        ["bill/b.parquet.age uploaded", "bill/s.parquet.age uploaded"]
    );
    for (name, data) in [("s.parquet", &small), ("b.parquet", &big)] {
        let key = format!("bill/{name}.age");
        let cipher = get_bytes(&moto, "sealed", &key);
        assert!(cipher.starts_with(b"age-encryption.org/v1"));
        let line = lines.iter().find(|l| l["key"] == json!(key)).unwrap();
        assert_eq!(
            line["sha256"],
            json!(sha256_hex(data)),
            "the line keeps the plaintext hash"
        );
        assert_eq!(line["checksum_sha256"], json!(sha256_hex(&cipher)));
        assert_eq!(line["object_bytes"], json!(cipher.len()));
        assert_eq!(line["encryption"], json!("age"));
        dir.write(&format!("{name}.age"), &cipher);
        let out = std::process::Command::new("age")
            .args(["-d", "-i"])
            .arg(dir.join("identity.txt"))
            .arg(dir.join(&format!("{name}.age")))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == *data, "{name}: decrypted bytes differ");
    }
    ship(&dir, &moto)
        .args(["s3://sealed", "--encrypt-to", "age1notakey"])
        .stdin("")
        .expect_code(2);
}

#[test]
fn fallback_dir_when_s3_is_down_then_drain() {
    let moto = moto_with_bucket("later", false);
    let dir = Dir::new("ship-fallback");
    let a = bytes(1000, 3);
    let b = bytes(2000, 4);
    let input = format!(
        "{}\n{}\n",
        file_line(&dir, "d", "u1/a.json", &a),
        file_line(&dir, "d", "u2/b.json", &b)
    );
    let dead = format!("http://127.0.0.1:{}", testkit::free_port());
    let run = ship(&dir, &moto)
        .args([
            "s3://later/chat",
            "--endpoint-url",
            &dead,
            "--max-attempts",
            "3",
        ])
        .args(["--fallback-dir", "spool", "--summary", "s.json"])
        .stdin(input.clone())
        .expect_code(1);
    let lines = run.json_lines();
    assert_eq!(
        statuses(&lines),
        ["chat/u1/a.json fallback", "chat/u2/b.json fallback"]
    );
    assert!(lines
        .iter()
        .all(|l| l["error"].is_string() && l["url"].as_str().unwrap().starts_with("file://")));
    assert_eq!(
        dir.files("spool"),
        [
            ".ship-spool/chat/u1/a.json.json",
            ".ship-spool/chat/u2/b.json.json",
            "chat/u1/a.json",
            "chat/u2/b.json"
        ],
        "each spooled file has its record"
    );
    let record: Value =
        serde_json::from_str(&dir.read("spool/.ship-spool/chat/u1/a.json.json")).unwrap();
    assert_eq!(record["sha256"], json!(sha256_hex(&a)));
    assert!(record["spooled_at"].is_string(), "{record}");
    assert_eq!(dir.read_bytes("spool/chat/u1/a.json"), a);
    let summary: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(summary["fallback"], json!(2));

    // Without a fallback the same outage is exit 4 and nothing is kept.
    let run = ship(&dir, &moto)
        .args([
            "s3://later/chat",
            "--endpoint-url",
            &dead,
            "--max-attempts",
            "2",
        ])
        .stdin(input.clone())
        .expect_code(4);
    assert!(run
        .json_lines()
        .iter()
        .all(|l| l["status"] == json!("failed")));

    // ZIP fallback, for one file to carry around.
    ship(&dir, &moto)
        .args([
            "s3://later/chat",
            "--endpoint-url",
            &dead,
            "--max-attempts",
            "2",
        ])
        .args(["--fallback-zip", "spool.zip"])
        .stdin(input)
        .expect_code(1);
    let names = moto.python(&format!(
        "import zipfile\nprint(json.dumps(sorted(zipfile.ZipFile('{}').namelist())))",
        dir.join("spool.zip").display()
    ));
    assert_eq!(
        names.trim(),
        r#"[".ship-spool/chat/u1/a.json.json", ".ship-spool/chat/u2/b.json.json", "chat/u1/a.json", "chat/u2/b.json"]"#
    );

    // S3 is back: drain uploads the files under the same keys and empties the spool.
    let run = ship(&dir, &moto)
        .args(["s3://later", "--drain", "spool"])
        .expect_success();
    assert_eq!(
        statuses(&run.json_lines()),
        ["chat/u1/a.json uploaded", "chat/u2/b.json uploaded"]
    );
    assert_eq!(get_bytes(&moto, "later", "chat/u1/a.json"), a);
    assert_eq!(get_bytes(&moto, "later", "chat/u2/b.json"), b);
    assert!(dir.files("spool").is_empty(), "drained files are removed");
    // Draining the ZIP finds them already there (no clobber).
    let run = ship(&dir, &moto)
        .args(["s3://later", "--drain", "spool.zip"])
        .expect_success();
    assert_eq!(
        statuses(&run.json_lines()),
        ["chat/u1/a.json skipped", "chat/u2/b.json skipped"]
    );
}

#[test]
fn dry_run_plans_and_touches_nothing() {
    let moto = moto_with_bucket("plan", false);
    let dir = Dir::new("ship-dry");
    let line = file_line(&dir, "d", "x.json", b"x");
    let run = ship(&dir, &moto)
        .args([
            "s3://plan/p",
            "--dry-run",
            "--storage-class",
            "GLACIER",
            "--summary",
            "s.json",
        ])
        .stdin(line)
        .expect_success();
    let l = &run.json_lines()[0];
    assert_eq!(l["status"], json!("planned"));
    assert_eq!(l["key"], json!("p/x.json"));
    assert_eq!(l["storage_class"], json!("GLACIER"));
    assert!(keys(&moto, "plan").is_empty());
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(s["planned"], json!(1));
}

#[test]
fn bad_lines_and_changed_files_are_data_errors_and_the_rest_ships() {
    let moto = moto_with_bucket("mixed", false);
    let dir = Dir::new("ship-bad");
    let good = file_line(&dir, "d", "good.json", b"good");
    let mut changed: Value =
        serde_json::from_str(&file_line(&dir, "d", "changed.json", b"before")).unwrap();
    dir.write("d/changed.json", "after!");
    changed["bytes"] = json!(6);
    let input = format!("{good}\nnot json\n{changed}\n{{\"root\":\"/\",\"path\":\"../etc/passwd\",\"bytes\":1,\"sha256\":\"\"}}\n");
    let run = ship(&dir, &moto)
        .arg("s3://mixed")
        .stdin(input)
        .expect_code(3);
    assert_eq!(
        statuses(&run.json_lines()),
        ["changed.json failed", "good.json uploaded"]
    );
    run.assert(run.stderr.contains("stdin:2"), "names the bad line");
    run.assert(run.stderr.contains("stdin:4"), "names the escaping path");
    run.assert(
        run.stderr.contains("changed.json: SHA-256"),
        "names the changed file",
    );
    assert_eq!(keys(&moto, "mixed"), ["good.json"]);
}

#[test]
fn folder_mode_uses_the_timestamped_prefix() {
    let moto = moto_with_bucket("export", false);
    let dir = Dir::new("ship-folder");
    dir.write("review/a.pdf", "pdf");
    dir.write("review/sub/b.txt", "txt");
    dir.write("review/.b.txt.tmp-1-0", "a crashed writer's leftover");
    let run = ship(&dir, &moto)
        .args(["review", "s3://export/document-review/"])
        .expect_success();
    let lines = run.json_lines();
    assert_eq!(lines.len(), 2, "{}", run.report());
    let k = keys(&moto, "export");
    assert_eq!(k.len(), 2);
    let re = |key: &str, rest: &str| {
        let tail = key.strip_prefix("document-review/").unwrap();
        let (stamp, path) = tail.split_once("_review/").unwrap();
        assert_eq!(path, rest);
        assert_eq!(stamp.len(), 15, "{stamp}");
        assert!(stamp[..8].chars().all(|c| c.is_ascii_digit()) && &stamp[8..9] == "_");
    };
    re(&k[0], "a.pdf");
    re(&k[1], "sub/b.txt");
    let a = lines.iter().find(|l| l["path"] == json!("a.pdf")).unwrap();
    assert_eq!(a["sha256"], json!(sha256_hex(b"pdf")));
    assert_eq!(get_bytes(&moto, "export", &k[0]), b"pdf");

    let run = ship(&dir, &moto)
        .args(["review", "s3://export/flat", "--prefix-template", ""])
        .expect_success();
    assert_eq!(
        statuses(&run.json_lines()),
        ["flat/a.pdf uploaded", "flat/sub/b.txt uploaded"]
    );
}

#[test]
fn local_directory_destination_has_the_same_layout() {
    let dir = Dir::new("ship-local");
    let a = file_line(&dir, "d", "u/2025/07/02/a.json", b"alpha");
    let run = dir
        .command(BIN)
        .arg("out")
        .stdin(format!("{a}\n"))
        .expect_success();
    let l = &run.json_lines()[0];
    assert_eq!(l["status"], json!("uploaded"));
    assert_eq!(l["checksum_sha256"], json!(sha256_hex(b"alpha")));
    assert!(l["url"]
        .as_str()
        .unwrap()
        .ends_with("/out/u/2025/07/02/a.json"));
    assert_eq!(dir.read("out/u/2025/07/02/a.json"), "alpha");
    let run = dir
        .command(BIN)
        .arg("out")
        .stdin(a.clone())
        .expect_success();
    assert_eq!(run.json_lines()[0]["status"], json!("skipped"));
    let b = file_line(&dir, "d", "u/2025/07/02/a.json", b"beta!");
    let run = dir
        .command(BIN)
        .args(["out", "--update"])
        .stdin(b)
        .expect_success();
    assert_eq!(run.json_lines()[0]["status"], json!("uploaded"));
    assert_eq!(dir.read("out/u/2025/07/02/a.json"), "beta!");
    dir.command(BIN)
        .args(["out", "--sse", "AES256"])
        .stdin("")
        .expect_code(2);
    let run = dir
        .command(BIN)
        .args(["dry", "--dry-run"])
        .stdin(a)
        .expect_success();
    assert_eq!(run.json_lines()[0]["status"], json!("planned"));
    assert!(!dir.join("dry").exists());
}

#[test]
fn a_large_file_whose_line_has_its_sha256_is_read_once() {
    let moto = moto_with_bucket("once", false);
    let dir = Dir::new("ship-read-once");
    let data = bytes(12 * 1024 * 1024 + 7, 5);
    let sha = sha256_hex(&data);
    let line = file_line(&dir, "d", "big.bin", &data);
    let parts = ["--part-size", "5MiB", "--multipart-threshold", "5MiB"];
    let summary = dir.join("once.json");
    let run = ship(&dir, &moto)
        .args(["s3://once/lines"])
        .args(parts)
        .arg("--summary")
        .arg(&summary)
        .stdin(format!("{line}\n"))
        .expect_success();
    let l = &run.json_lines()[0];
    assert_eq!(l["status"], json!("uploaded"), "{}", run.report());
    assert_eq!(l["checksum_sha256"], json!(sha));
    assert!(
        l["etag"].as_str().unwrap().ends_with("-3\""),
        "3 parts: {l}"
    );
    let h = head(&moto, "once", "lines/big.bin");
    assert_eq!(h["Metadata"]["sha256"], json!(sha), "{h}");
    assert_eq!(get_bytes(&moto, "once", "lines/big.bin"), data);
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["bytes_read"], json!(data.len()), "read once: {s}");
    // Folder mode has no SHA-256 to announce at CreateMultipartUpload: it
    // hashes the file first, then reads it again as it sends. One part in
    // memory at a time still works.
    let folder = dir.join("d");
    let run = ship(&dir, &moto)
        .arg(&folder)
        .args([
            "s3://once/folder",
            "--prefix-template",
            "",
            "--max-memory",
            "1MiB",
        ])
        .args(parts)
        .arg("--summary")
        .arg(&summary)
        .expect_success();
    assert_eq!(run.json_lines()[0]["checksum_sha256"], json!(sha));
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["bytes_read"], json!(2 * data.len()), "{s}");
    assert_eq!(
        head(&moto, "once", "folder/big.bin")["Metadata"]["sha256"],
        json!(sha)
    );
}

#[test]
fn a_large_file_that_is_not_its_line_is_never_stored() {
    // The line's sha256 announces the object (x-amz-meta-sha256); the file
    // says otherwise, which is known only once the last part is read: the
    // upload is aborted, the file reported changed (exit 3).
    let moto = moto_with_bucket("liar", false);
    let dir = Dir::new("ship-line-lies");
    let data = bytes(11 * 1024 * 1024, 6);
    let mut line: Value = serde_json::from_str(&file_line(&dir, "d", "big.bin", &data)).unwrap();
    line["sha256"] = json!(sha256_hex(b"something else"));
    let run = ship(&dir, &moto)
        .args([
            "s3://liar/p",
            "--part-size",
            "5MiB",
            "--multipart-threshold",
            "5MiB",
        ])
        .stdin(format!("{line}\n"))
        .expect_code(3);
    let l = &run.json_lines()[0];
    assert_eq!(l["status"], json!("failed"), "{}", run.report());
    assert!(
        l["error"]
            .as_str()
            .unwrap()
            .contains("changed since it was listed"),
        "{l}"
    );
    assert!(
        keys(&moto, "liar").is_empty(),
        "no object: {}",
        run.report()
    );
    assert!(open_uploads(&moto, "liar").is_empty());
}
