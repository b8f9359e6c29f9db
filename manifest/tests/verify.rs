//! `manifest verify` on local trees and on S3 prefixes served by moto.

use serde_json::{json, Value};
use testkit::{Dir, MotoServer};

use crate::support::{sha, BIN};

/// A tree with a manifest written by the tool itself.
fn archive(name: &str) -> Dir {
    let dir = Dir::new(name);
    dir.write("arch/u1/2025/07/02/c.json", "one\n");
    dir.write("arch/u2/2025/07/02/c.json", "two\n");
    dir.write("arch/big.bin", vec![7u8; 100_000]);
    dir.command(BIN).args(["--root", "arch"]).expect_success();
    dir.command(BIN).args(["verify", "arch"]).expect_success();
    dir
}

fn verify_lines(dir: &Dir) -> Vec<Value> {
    let run = dir.command(BIN).args(["verify", "arch"]).expect_code(1);
    run.json_lines()
}

#[test]
fn a_flipped_byte_is_reported_as_changed() {
    let dir = archive("verify-flip");
    let mut bytes = dir.read_bytes("arch/big.bin");
    bytes[50_000] ^= 1;
    dir.write("arch/big.bin", &bytes);
    assert_eq!(
        verify_lines(&dir),
        vec![
            json!({"status": "changed", "root": "arch", "path": "big.bin",
            "expected_sha256": sha(&vec![7u8; 100_000]), "actual_sha256": sha(&bytes),
            "expected_bytes": 100_000, "actual_bytes": 100_000, "manifest": "manifest-sha256.txt"})
        ]
    );
}

#[test]
fn a_missing_file_is_reported() {
    let dir = archive("verify-missing");
    std::fs::remove_file(dir.join("arch/u2/2025/07/02/c.json")).unwrap();
    assert_eq!(
        verify_lines(&dir),
        vec![
            json!({"status": "missing", "root": "arch", "path": "u2/2025/07/02/c.json", "expected_sha256": sha(b"two\n")})
        ]
    );
}

#[test]
fn an_extra_file_is_reported() {
    let dir = archive("verify-extra");
    dir.write("arch/u3/new.json", "three\n");
    assert_eq!(
        verify_lines(&dir),
        vec![
            json!({"status": "extra", "root": "arch", "path": "u3/new.json", "actual_sha256": sha(b"three\n"), "bytes": 6})
        ]
    );
}

#[test]
fn a_renamed_file_is_reported() {
    let dir = archive("verify-rename");
    std::fs::rename(
        dir.join("arch/u1/2025/07/02/c.json"),
        dir.join("arch/u1/2025/07/02/c-old.json"),
    )
    .unwrap();
    let run = dir
        .command(BIN)
        .args(["verify", "arch", "--summary", "s.json"])
        .expect_code(1);
    assert_eq!(
        run.json_lines(),
        vec![
            json!({"status": "renamed", "root": "arch", "path": "u1/2025/07/02/c.json",
            "new_path": "u1/2025/07/02/c-old.json", "sha256": sha(b"one\n")})
        ]
    );
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(s["counts"], json!({"ok": 2, "renamed": 1}));
    assert_eq!(s["differences"], 1);
    // --all also lists the files that matched.
    let run = dir
        .command(BIN)
        .args(["verify", "arch", "--all"])
        .expect_code(1);
    assert_eq!(
        run.json_lines()
            .iter()
            .filter(|l| l["status"] == "ok")
            .count(),
        2
    );
}

#[test]
fn an_edited_manifest_json_is_caught() {
    let dir = archive("verify-json");
    let text = dir
        .read("arch/manifest.json")
        .replace(&sha(b"one\n"), &sha(b"uno\n"));
    dir.write("arch/manifest.json", text);
    let lines = verify_lines(&dir);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["status"], "manifest_mismatch");
    assert_eq!(lines[0]["path"], "u1/2025/07/02/c.json");
    // No manifest at all: an input data error.
    let empty = Dir::new("verify-none");
    empty.write("d/x", "x");
    empty.command(BIN).args(["verify", "d"]).expect_code(3);
}

/// Upload a local tree to moto: some objects with a stored SHA-256
/// checksum, the rest without; `classes` sets storage classes by path.
fn upload(
    s3: &MotoServer,
    dir: &Dir,
    bucket: &str,
    prefix: &str,
    with_checksum: &[&str],
    classes: &[(&str, &str)],
) {
    let files = dir.files("arch");
    let script = format!(
        "import os\n\
         files = {files:?}\n\
         with_checksum = {with_checksum:?}\n\
         classes = dict({classes:?})\n\
         for f in files:\n\
         \x20   body = open(os.path.join({root:?}, f), 'rb').read()\n\
         \x20   kw = dict(Bucket='{bucket}', Key='{prefix}/' + f, Body=body)\n\
         \x20   if f in with_checksum: kw['ChecksumAlgorithm'] = 'SHA256'\n\
         \x20   if f in classes: kw['StorageClass'] = classes[f]\n\
         \x20   s3.put_object(**kw)\n",
        root = dir.join("arch").display().to_string(),
    );
    s3.python(&script);
}

#[test]
fn s3_prefix_is_verified_by_stored_checksum_and_by_download() {
    let s3 = MotoServer::start();
    s3.create_bucket("arch", false);
    let dir = archive("verify-s3");
    upload(
        &s3,
        &dir,
        "arch",
        "compliance/conv",
        &["big.bin", "u1/2025/07/02/c.json"],
        &[],
    );
    // The stored checksum is what HEAD returns: base64 of the raw digest.
    let stored = s3.python(
        "h = s3.head_object(Bucket='arch', Key='compliance/conv/big.bin', ChecksumMode='ENABLED')\n\
         print(h.get('ChecksumSHA256'))",
    );
    assert_ne!(
        stored.trim(),
        "None",
        "moto did not keep the SHA-256 checksum"
    );

    let mut cmd = dir.command(BIN);
    s3.configure(&mut cmd);
    let run = cmd
        .args(["verify", "s3://arch/compliance/conv", "--all"])
        .expect_success();
    let lines = run.json_lines();
    let methods: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["path"].as_str().unwrap().to_string(),
                l["method"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        methods,
        vec![
            ("big.bin".into(), "checksum".into()),
            ("u1/2025/07/02/c.json".into(), "checksum".into()),
            ("u2/2025/07/02/c.json".into(), "download".into()),
        ],
        "{}",
        run.report()
    );
    assert!(lines.iter().all(|l| l["status"] == "ok"));
    assert_eq!(lines[0]["url"], "s3://arch/compliance/conv/big.bin");
    assert_eq!(lines[0]["sha256"], sha(&vec![7u8; 100_000]));

    let mut cmd = dir.command(BIN);
    s3.configure(&mut cmd);
    let run = cmd
        .args(["verify", "s3://arch/compliance/conv", "--download", "--all"])
        .expect_success();
    run.assert(
        run.json_lines()
            .iter()
            .all(|l| l["method"] == "download" && l["status"] == "ok"),
        "all downloaded",
    );

    // Replace one object (no checksum), delete one, add one: all reported.
    s3.python(
        "s3.put_object(Bucket='arch', Key='compliance/conv/u2/2025/07/02/c.json', Body=b'TWO\\n')\n\
         s3.delete_object(Bucket='arch', Key='compliance/conv/u1/2025/07/02/c.json')\n\
         s3.put_object(Bucket='arch', Key='compliance/conv/stray.txt', Body=b'stray')",
    );
    let mut cmd = dir.command(BIN);
    s3.configure(&mut cmd);
    let run = cmd
        .args(["verify", "s3://arch/compliance/conv"])
        .expect_code(1);
    let got: Vec<(String, String)> = run
        .json_lines()
        .iter()
        .map(|l| {
            (
                l["status"].as_str().unwrap().to_string(),
                l["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("extra".into(), "stray.txt".into()),
            ("missing".into(), "u1/2025/07/02/c.json".into()),
            ("changed".into(), "u2/2025/07/02/c.json".into()),
        ],
        "{}",
        run.report()
    );
    // The endpoint can also be given as a flag; a bucket that does not exist
    // is a configuration error (exit 2), as archive-s3 maps NoSuchBucket.
    let mut cmd = dir.command(BIN);
    s3.configure(&mut cmd);
    let run = cmd
        .env_remove("AWS_ENDPOINT_URL")
        .args(["verify", "s3://nope/x", "--endpoint-url", &s3.endpoint()])
        .expect_code(2);
    run.assert(run.stderr.contains("NoSuchBucket"), "names S3's answer");
}

#[test]
fn missing_credentials_are_a_configuration_error_before_any_request() {
    let s3 = MotoServer::start();
    s3.create_bucket("creds", false);
    let dir = archive("verify-creds");
    upload(&s3, &dir, "creds", "p", &[], &[]);
    let mut cmd = dir.command(BIN);
    s3.configure(&mut cmd);
    let none = dir.join("no-such-aws-file");
    let run = cmd
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_CONFIG_FILE", &none)
        .env("AWS_SHARED_CREDENTIALS_FILE", &none)
        .env("HOME", dir.path())
        .args(["verify", "s3://creds/p", "--summary", "s.json"])
        .expect_code(2);
    run.assert(
        run.stderr.contains("no AWS credentials found"),
        "says what is missing",
    );
    run.assert(run.stdout.is_empty(), "no finding printed");
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(
        (s["status"].clone(), s["exit_code"].clone()),
        (json!("failed"), json!(2))
    );
    // With credentials the same prefix verifies.
    let mut cmd = dir.command(BIN);
    s3.configure(&mut cmd);
    cmd.args(["verify", "s3://creds/p"]).expect_success();
}

#[test]
fn a_glacier_object_is_unverifiable_not_a_failure() {
    let s3 = MotoServer::start();
    s3.create_bucket("cold", false);
    let dir = archive("verify-glacier");
    upload(
        &s3,
        &dir,
        "cold",
        "p",
        &["u1/2025/07/02/c.json"],
        &[
            ("big.bin", "GLACIER"),
            ("u2/2025/07/02/c.json", "DEEP_ARCHIVE"),
        ],
    );
    let mut cmd = dir.command(BIN);
    s3.configure(&mut cmd);
    let run = cmd
        .args(["verify", "s3://cold/p", "--summary", "s.json"])
        .expect_success();
    let lines = run.json_lines();
    assert_eq!(lines.len(), 2, "{}", run.report());
    assert_eq!(lines[0]["status"], "unverifiable");
    assert_eq!(lines[0]["path"], "big.bin");
    assert_eq!(lines[0]["storage_class"], "GLACIER");
    assert_eq!(lines[1]["storage_class"], "DEEP_ARCHIVE");
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(s["counts"], json!({"ok": 1, "unverifiable": 2}));
}

#[test]
fn s3_a_missing_manifest_json_the_text_manifest_names_is_reported() {
    let s3 = MotoServer::start();
    s3.create_bucket("half", false);
    let dir = archive("verify-s3-json");
    std::fs::remove_file(dir.join("arch/manifest.json")).unwrap();
    upload(&s3, &dir, "half", "p", &["big.bin"], &[]);
    let mut cmd = dir.command(BIN);
    s3.configure(&mut cmd);
    let run = cmd.args(["verify", "s3://half/p"]).expect_code(1);
    assert_eq!(
        run.json_lines(),
        vec![
            json!({"status": "missing", "url": "s3://half/p/manifest.json", "key": "p/manifest.json",
                    "path": "manifest.json", "error": "manifest-sha256.txt says manifest.json was written beside it"})
        ],
        "{}",
        run.report()
    );
}
