//! `restore get` against archives that the real manifest and ship wrote.

use crate::support::*;
use testkit::Dir;

const MULTIPART: [&str; 4] = ["--multipart-threshold", "5MiB", "--part-size", "5MiB"];

fn three_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("a.json", b"{\"id\":\"a\"}\n".to_vec()),
        (
            "logs/b.ndjson",
            b"{\"id\":\"b1\"}\n{\"id\":\"b2\"}\n".to_vec(),
        ),
        ("big.bin", bytes(11 * 1024 * 1024 + 17, 3)),
    ]
}

#[test]
fn deep_archive_is_restored_then_downloaded_and_verified() {
    let dir = Dir::new("restore-deep");
    let moto = moto(false);
    let mut flags = vec!["--storage-class", "DEEP_ARCHIVE"];
    flags.extend(MULTIPART);
    archive(&dir, &moto, "arch", &three_files(), &[], &flags);
    let out = dir.join("out");

    // First run: restores requested, manifests (STANDARD) already local.
    let first = restore(&dir, &moto)
        .args(["get", "s3://vault/arch"])
        .arg(&out)
        .expect_code(1);
    let lines = by_path(&first);
    for rel in ["a.json", "logs/b.ndjson", "big.bin"] {
        first.assert(
            lines[rel]["status"] == "restore_requested",
            &format!("{rel}: {}", lines[rel]),
        );
        first.assert(
            !out.join(rel).exists(),
            &format!("{rel} written before its restore"),
        );
    }
    first.assert(
        lines["manifest-sha256.txt"]["status"] == "downloaded",
        "manifest not downloaded",
    );

    // Second run: everything restored (moto restores at once) and checked.
    let second = restore(&dir, &moto)
        .args(["get", "s3://vault/arch"])
        .arg(&out)
        .expect_success();
    let lines = by_path(&second);
    for rel in ["a.json", "logs/b.ndjson", "big.bin"] {
        let l = &lines[rel];
        second.assert(l["status"] == "downloaded", &format!("{rel}: {l}"));
        let checks: Vec<&str> = l["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        second.assert(
            checks.contains(&"manifest"),
            &format!("{rel} not checked against the manifest: {l}"),
        );
        second.assert(
            checks.contains(&"x-amz-checksum-sha256"),
            &format!("{rel} not checked against S3's checksum: {l}"),
        );
    }
    let big = &lines["big.bin"];
    second.assert(
        big["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "x-amz-meta-sha256"),
        &format!("multipart object not checked against its whole-file SHA-256: {big}"),
    );
    let (ok, text) = sha256sum_ok(&out, "manifest-sha256.txt");
    second.assert(ok, &format!("sha256sum -c on the download: {text}"));

    // Third run: nothing to fetch again.
    let third = restore(&dir, &moto)
        .args(["get", "s3://vault/arch"])
        .arg(&out)
        .expect_success();
    let lines = by_path(&third);
    for rel in ["a.json", "logs/b.ndjson", "big.bin"] {
        third.assert(
            lines[rel]["status"] == "present",
            &format!("{rel}: {}", lines[rel]),
        );
    }
}

#[test]
fn a_changed_object_is_reported_and_not_kept() {
    let dir = Dir::new("restore-tamper");
    let moto = moto(false);
    archive(&dir, &moto, "arch", &three_files(), &[], &MULTIPART);
    tamper(&moto, "arch/a.json", "{\\\"id\\\":\\\"evil\\\"}\\n");
    moto.python("s3.delete_object(Bucket='vault', Key='arch/logs/b.ndjson')");
    let out = dir.join("out");
    let run = restore(&dir, &moto)
        .args(["get", "s3://vault/arch"])
        .arg(&out)
        .expect_code(1);
    let lines = by_path(&run);
    run.assert(
        lines["a.json"]["status"] == "failed",
        &format!("{}", lines["a.json"]),
    );
    run.assert(
        lines["a.json"]["error"]
            .as_str()
            .unwrap()
            .contains("mismatch"),
        &format!("no mismatch named: {}", lines["a.json"]),
    );
    run.assert(
        !out.join("a.json").exists(),
        "a mismatching download was kept",
    );
    run.assert(
        lines["logs/b.ndjson"]["status"] == "missing",
        &format!("{}", lines["logs/b.ndjson"]),
    );
    run.assert(
        lines["big.bin"]["status"] == "downloaded",
        &format!("{}", lines["big.bin"]),
    );
    let leftovers: Vec<String> = dir
        .files("out")
        .into_iter()
        .filter(|f| f.contains(".tmp-"))
        .collect();
    run.assert(
        leftovers.is_empty(),
        &format!("temporaries left: {leftovers:?}"),
    );
    let summary = dir.join("s.json");
    let again = restore(&dir, &moto)
        .args(["get", "s3://vault/arch", "--summary"])
        .arg(&summary)
        .arg(&out)
        .expect_code(1);
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    again.assert(
        s["status"] == "partial" && s["counts"]["failed"] == 1 && s["counts"]["missing"] == 1,
        &format!("summary: {s}"),
    );
}

fn age_keypair(dir: &Dir) -> (std::path::PathBuf, String) {
    let key = dir.join("officer.key");
    let out = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .expect("age-keygen (Debian package age)");
    assert!(
        out.status.success(),
        "age-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&key).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    (key, recipient)
}

#[test]
fn encrypted_archive_is_checked_as_ciphertext_and_as_plaintext() {
    let dir = Dir::new("restore-age");
    let moto = moto(false);
    let (key, recipient) = age_keypair(&dir);
    let files = three_files();
    archive(
        &dir,
        &moto,
        "sealed",
        &files[..2],
        &[],
        &["--encrypt-to", &recipient],
    );

    let cipher = dir.join("cipher");
    let run = restore(&dir, &moto)
        .args(["get", "s3://vault/sealed"])
        .arg(&cipher)
        .expect_success();
    let lines = by_path(&run);
    run.assert(
        lines["a.json.age"]["status"] == "downloaded",
        &format!("{:?}", lines.keys()),
    );
    run.assert(
        lines["a.json.age"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "x-amz-meta-sha256"),
        &format!("ciphertext not checked: {}", lines["a.json.age"]),
    );
    let plain = std::process::Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&key)
        .arg(cipher.join("a.json.age"))
        .output()
        .unwrap();
    run.assert(
        plain.stdout == files[0].1,
        "the ciphertext does not decrypt to the original",
    );

    let opened = dir.join("plain");
    let run = restore(&dir, &moto)
        .args(["get", "s3://vault/sealed", "--identity"])
        .arg(&key)
        .arg(&opened)
        .expect_success();
    let lines = by_path(&run);
    let checks = lines["a.json"]["checks"].as_array().unwrap();
    run.assert(
        checks.iter().any(|c| c == "manifest"),
        &format!(
            "plaintext not checked against the manifest: {}",
            lines["a.json"]
        ),
    );
    let (ok, text) = sha256sum_ok(&opened, "manifest-sha256.txt");
    run.assert(
        ok,
        &format!("sha256sum -c on the decrypted download: {text}"),
    );
}

#[test]
fn signatures_are_checked_with_the_public_key() {
    let dir = Dir::new("restore-sign");
    let moto = moto(false);
    let (pk, sk) = (dir.join("archive.pub"), dir.join("archive.key"));
    let out = std::process::Command::new("minisign")
        .args(["-G", "-W", "-p"])
        .arg(&pk)
        .arg("-s")
        .arg(&sk)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "minisign -G: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sk_arg = sk.display().to_string();
    archive(
        &dir,
        &moto,
        "signed",
        &three_files()[..2],
        &["--sign", &sk_arg],
        &[],
    );
    let run = restore(&dir, &moto)
        .args(["get", "s3://vault/signed", "--public-key"])
        .arg(&pk)
        .arg(dir.join("a"))
        .expect_success();
    run.assert(
        by_path(&run).contains_key("manifest-sha256.txt.minisig"),
        "signature not downloaded",
    );

    let listing = moto.python("print(s3.get_object(Bucket='vault', Key='signed/manifest-sha256.txt')['Body'].read().decode())");
    let forged = listing
        .trim_end()
        .lines()
        .rev()
        .collect::<Vec<_>>()
        .join("\\n");
    tamper(&moto, "signed/manifest-sha256.txt", &format!("{forged}\\n"));
    let run = restore(&dir, &moto)
        .args(["get", "s3://vault/signed", "--public-key"])
        .arg(&pk)
        .arg(dir.join("b"))
        .expect_code(3);
    run.assert(
        run.stderr.contains("signature does not check"),
        "forged manifest not named",
    );
    run.assert(
        !dir.join("b/a.json").exists(),
        "files fetched on a forged manifest",
    );
}

#[test]
fn only_the_files_asked_for() {
    let dir = Dir::new("restore-only");
    let moto = moto(false);
    archive(&dir, &moto, "arch", &three_files()[..2], &[], &[]);
    dir.write("want.txt", "logs/b.ndjson\nnot/there.json\n");
    let run = restore(&dir, &moto)
        .args(["get", "s3://vault/arch", "--files"])
        .arg(dir.join("want.txt"))
        .arg(dir.join("out"))
        .expect_code(1);
    let lines = by_path(&run);
    run.assert(
        lines["logs/b.ndjson"]["status"] == "downloaded",
        &format!("{lines:?}"),
    );
    run.assert(
        !lines.contains_key("a.json"),
        "a file not asked for was fetched",
    );
    run.assert(
        lines["not/there.json"]["status"] == "missing",
        "an unknown path was not reported",
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = Dir::new("restore-usage");
    let moto = moto(false);
    let run = restore(&dir, &moto)
        .args(["get", "vault/arch", "out"])
        .expect_code(2);
    run.assert(
        run.stderr.contains("s3://"),
        "the bad source is not explained",
    );
    let run = restore(&dir, &moto)
        .args(["get", "s3://vault/empty", "out"])
        .expect_code(3);
    run.assert(
        run.stderr.contains("manifest-sha256.txt"),
        "no manifest not explained",
    );
    let mut no_creds = restore(&dir, &moto);
    no_creds
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    no_creds
        .args(["get", "s3://vault/arch", "out"])
        .expect_code(2);
}

#[test]
fn missing_ok_treats_unlisted_paths_as_new() {
    let dir = Dir::new("restore-missing-ok");
    let moto = moto(false);
    dir.write(
        "want.ndjson",
        "{\"path\":\"a.json\"}\n{\"path\":\"2026/12/01/new.json\"}\n",
    );
    // Nothing archived yet: an empty prefix is fine.
    let run = restore(&dir, &moto)
        .args(["get", "s3://vault/arch", "--missing-ok", "--files"])
        .arg(dir.join("want.ndjson"))
        .arg(dir.join("out"))
        .expect_success();
    run.assert(run.stdout.is_empty(), "lines for an empty destination");
    archive(&dir, &moto, "arch", &three_files()[..1], &[], &[]);
    let run = restore(&dir, &moto)
        .args(["get", "s3://vault/arch", "--missing-ok", "--files"])
        .arg(dir.join("want.ndjson"))
        .arg(dir.join("out"))
        .expect_success();
    let lines = by_path(&run);
    run.assert(
        lines["a.json"]["status"] == "downloaded",
        &format!("{lines:?}"),
    );
    run.assert(
        !lines.contains_key("2026/12/01/new.json"),
        "a new path reported",
    );
    run.assert(
        lines.contains_key("manifest-sha256.txt"),
        "the destination's manifest not brought along",
    );
}

#[test]
fn a_directory_archive_is_read_the_same_way() {
    let dir = Dir::new("restore-local");
    let moto = moto(false);
    for (rel, data) in &three_files()[..2] {
        dir.write(&format!("src/{rel}"), data);
    }
    let lines = dir
        .command(testkit::workspace_bin("manifest"))
        .arg("--root")
        .arg(dir.join("src"))
        .expect_success();
    let dest = dir.join("dest");
    dir.command(testkit::workspace_bin("ship"))
        .arg(&dest)
        .stdin(lines.stdout.clone())
        .expect_success();
    let run = restore(&dir, &moto)
        .args(["get"])
        .arg(&dest)
        .arg(dir.join("out"))
        .expect_success();
    let got = by_path(&run);
    run.assert(got["a.json"]["status"] == "downloaded", &format!("{got:?}"));
    let (ok, text) = sha256sum_ok(&dir.join("out"), "manifest-sha256.txt");
    run.assert(ok, &text);
    // The copy has the time manifest.json recorded, the original's.
    let mtime = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().modified().unwrap();
    run.assert(
        mtime(dir.join("out/a.json")) == mtime(dir.join("src/a.json")),
        "the restored file does not have the archived file's time",
    );
    // A file changed at the destination is refused, not copied.
    std::fs::write(dest.join("logs/b.ndjson"), "{\"id\":\"forged\"}\n").unwrap();
    let run = restore(&dir, &moto)
        .args(["get"])
        .arg(&dest)
        .arg(dir.join("out2"))
        .expect_code(1);
    run.assert(
        by_path(&run)["logs/b.ndjson"]["status"] == "failed",
        &run.stdout,
    );
    run.assert(
        !dir.join("out2/logs/b.ndjson").exists(),
        "a forged file was copied",
    );
    // A destination not written yet is empty with --missing-ok, an error without.
    restore(&dir, &moto)
        .args(["get"])
        .arg(dir.join("nothing"))
        .arg(dir.join("out3"))
        .expect_code(2);
    restore(&dir, &moto)
        .args(["get", "--missing-ok"])
        .arg(dir.join("nothing"))
        .arg(dir.join("out3"))
        .expect_success();
}

#[test]
fn manifest_at_root_finds_the_files_without_listing() {
    let dir = Dir::new("restore-root-manifest");
    let moto = moto(false);
    archive(&dir, &moto, "area", &three_files()[..2], &[], &[]);
    dir.write(
        "want.ndjson",
        "{\"path\":\"logs/b.ndjson\"}\n{\"path\":\"2026/12/01/new.json\"}\n",
    );
    let run = restore(&dir, &moto)
        .args([
            "get",
            "s3://vault/area",
            "--missing-ok",
            "--manifest-at-root",
            "--files",
        ])
        .arg(dir.join("want.ndjson"))
        .arg(dir.join("out"))
        .expect_success();
    let lines = by_path(&run);
    run.assert(
        lines["logs/b.ndjson"]["status"] == "downloaded",
        &format!("{lines:?}"),
    );
    run.assert(
        lines["manifest-sha256.txt"]["status"] == "downloaded",
        &format!("{lines:?}"),
    );
    run.assert(
        lines["manifest.json"]["status"] == "downloaded",
        &format!("{lines:?}"),
    );
    run.assert(
        !lines.contains_key("a.json") && !lines.contains_key("2026/12/01/new.json"),
        &format!("{lines:?}"),
    );
    // A file the root manifest lists but the destination lost is missing, exit 1.
    moto.python("s3.delete_object(Bucket='vault', Key='area/logs/b.ndjson')");
    let run = restore(&dir, &moto)
        .args([
            "get",
            "s3://vault/area",
            "--missing-ok",
            "--manifest-at-root",
            "--files",
        ])
        .arg(dir.join("want.ndjson"))
        .arg(dir.join("out2"))
        .expect_code(1);
    run.assert(
        by_path(&run)["logs/b.ndjson"]["status"] == "missing",
        &run.stdout,
    );
    // No root manifest yet (a first run): empty, as with listing.
    restore(&dir, &moto)
        .args([
            "get",
            "s3://vault/none",
            "--missing-ok",
            "--manifest-at-root",
            "--files",
        ])
        .arg(dir.join("want.ndjson"))
        .arg(dir.join("out3"))
        .expect_success();
}
