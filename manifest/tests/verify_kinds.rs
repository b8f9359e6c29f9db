//! `manifest verify s3://…` on every kind of object the real `ship` writes
//! to moto: multipart uploads (moto returns their composite checksum
//! without the `-N` suffix), age-encrypted archives (`--encrypt-to`, every
//! key ending in `.age`) and objects in DEEP_ARCHIVE, which moto refuses to
//! GET (InvalidObjectState) until restored, so a run that tried would fail.

use serde_json::{json, Value};
use testkit::{workspace_bin, Dir, MotoServer};

use crate::support::{sh, sha, BIN};

/// 12 MB: three parts of 5 MiB with ship's flags below.
fn big() -> Vec<u8> {
    (0..12_000_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// A tree of one multipart-sized file and two small ones, manifested.
fn tree(name: &str) -> Dir {
    let dir = Dir::new(name);
    dir.write("arch/big.bin", big());
    dir.write("arch/u1/a.json", "{\"a\":1}\n");
    dir.write("arch/u2/b.json", "{\"b\":2}\n");
    dir
}

/// `manifest --root arch | ship URL --multipart-threshold 5MiB --part-size 5MiB EXTRA…`
fn ship(s3: &MotoServer, dir: &Dir, url: &str, extra: &[&str]) {
    ship_signed(s3, dir, url, extra, &[]);
}

/// The same, with extra flags for `manifest` (e.g. `--sign`).
fn ship_signed(s3: &MotoServer, dir: &Dir, url: &str, extra: &[&str], manifest: &[&str]) {
    let lines = dir
        .command(BIN)
        .args(["--root", "arch"])
        .args(manifest)
        .expect_success();
    let mut cmd = dir.command(workspace_bin("ship"));
    s3.configure(&mut cmd);
    cmd.args([url, "--multipart-threshold", "5MiB", "--part-size", "5MiB"])
        .args(extra)
        .stdin(lines.stdout)
        .expect_success();
}

/// `manifest verify ARGS…` against moto, with its exit code checked.
fn verify(s3: &MotoServer, dir: &Dir, args: &[&str], code: i32) -> (Vec<Value>, Value) {
    let mut cmd = dir.command(BIN);
    s3.configure(&mut cmd);
    let run = cmd
        .arg("verify")
        .args(args)
        .args(["--summary", "s.json"])
        .expect_code(code);
    let summary: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    (run.json_lines(), summary)
}

/// (path, status, method) of each line.
fn brief(lines: &[Value]) -> Vec<(String, String, String)> {
    lines
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or("").to_string();
            (s("path"), s("status"), s("method"))
        })
        .collect()
}

fn row(path: &str, status: &str, method: &str) -> (String, String, String) {
    (path.into(), status.into(), method.into())
}

#[test]
fn a_multipart_object_verifies_by_ships_metadata_and_a_tampered_one_is_changed() {
    let s3 = MotoServer::start();
    s3.create_bucket("kinds-mp", false);
    let dir = tree("verify-kinds-mp");
    ship(&s3, &dir, "s3://kinds-mp/p", &[]);
    // What moto stored: a three-part upload, its SHA-256 composite without
    // the -N suffix, and ship's whole-file SHA-256 in the metadata.
    let head: Value = serde_json::from_str(&s3.python(
        "h = s3.head_object(Bucket='kinds-mp', Key='p/big.bin', ChecksumMode='ENABLED')\n\
         print(json.dumps({'etag': h['ETag'], 'sum': h.get('ChecksumSHA256'), 'meta': h['Metadata']}))",
    ))
    .unwrap();
    assert!(head["etag"].as_str().unwrap().ends_with("-3\""), "{head}");
    assert!(!head["sum"].as_str().unwrap().contains('-'), "{head}");
    assert_eq!(head["meta"]["sha256"], sha(&big()));

    let (lines, s) = verify(&s3, &dir, &["s3://kinds-mp/p", "--all"], 0);
    assert_eq!(
        brief(&lines),
        vec![
            row("big.bin", "ok", "metadata"),
            row("u1/a.json", "ok", "checksum"),
            row("u2/b.json", "ok", "checksum"),
        ]
    );
    assert_eq!(lines[0]["sha256"], sha(&big()));
    assert_eq!(s["counts"], json!({"ok": 3}));
    // --download reads it and hashes it.
    let (lines, _) = verify(&s3, &dir, &["s3://kinds-mp/p", "--all", "--download"], 0);
    assert_eq!(brief(&lines)[0], row("big.bin", "ok", "download"));

    // Different bytes put over both files with ship's metadata kept: once
    // with boto3's default checksum (CRC32), once with a SHA-256 one.
    let mut tampered = big();
    tampered[6_000_000] ^= 1;
    dir.write("tampered.bin", &tampered);
    s3.python(&format!(
        "m = s3.head_object(Bucket='kinds-mp', Key='p/big.bin')['Metadata']\n\
         s3.put_object(Bucket='kinds-mp', Key='p/big.bin', Body=open({:?}, 'rb').read(), Metadata=m)\n\
         m = s3.head_object(Bucket='kinds-mp', Key='p/u1/a.json')['Metadata']\n\
         s3.put_object(Bucket='kinds-mp', Key='p/u1/a.json', Body=b'{{\"a\":2}}\\n', Metadata=m, ChecksumAlgorithm='SHA256')\n",
        dir.join("tampered.bin").display().to_string()
    ));
    let (lines, s) = verify(&s3, &dir, &["s3://kinds-mp/p"], 1);
    assert_eq!(
        brief(&lines),
        vec![
            row("big.bin", "changed", "download"),
            row("u1/a.json", "changed", "download"),
        ]
    );
    assert_eq!(lines[0]["expected_sha256"], sha(&big()));
    assert_eq!(lines[0]["actual_sha256"], sha(&tampered));
    assert_eq!(lines[1]["actual_sha256"], sha(b"{\"a\":2}\n"));
    assert_eq!(s["counts"], json!({"changed": 2, "ok": 1}));
}

/// `age-keygen -o key`: the identity file and its recipient.
fn age_key(dir: &Dir, name: &str) -> String {
    let out = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(dir.join(name))
        .output()
        .expect("age-keygen (apt-get install age)");
    assert!(out.status.success(), "{out:?}");
    let text = dir.read(name);
    let line = text
        .lines()
        .find(|l| l.starts_with("# public key: "))
        .expect("age-keygen writes the public key");
    line["# public key: ".len()..].trim().to_string()
}

#[test]
fn an_encrypted_archive_verifies_its_ciphertext_without_a_key_and_its_plaintext_with_one() {
    let s3 = MotoServer::start();
    s3.create_bucket("kinds-age", false);
    let dir = tree("verify-kinds-age");
    let recipient = age_key(&dir, "key");
    ship(&s3, &dir, "s3://kinds-age/p", &["--encrypt-to", &recipient]);
    let url = "s3://kinds-age/p";

    // No key: every .age object, the manifests too, by its ciphertext.
    let (lines, s) = verify(&s3, &dir, &[url, "--all"], 0);
    assert_eq!(
        brief(&lines),
        vec![
            row("big.bin.age", "ciphertext_ok", "metadata"),
            row("manifest-sha256.txt.age", "ciphertext_ok", "checksum"),
            row("manifest.json.age", "ciphertext_ok", "checksum"),
            row("u1/a.json.age", "ciphertext_ok", "checksum"),
            row("u2/b.json.age", "ciphertext_ok", "checksum"),
        ]
    );
    assert!(lines
        .iter()
        .all(|l| l["plaintext"].as_str().unwrap().starts_with("not checked")));
    assert_eq!(s["counts"], json!({"ciphertext_ok": 5}));
    assert_eq!(s["differences"], 0);
    // Without --all nothing matched needs printing.
    let (lines, _) = verify(&s3, &dir, &[url], 0);
    assert!(lines.is_empty(), "{lines:?}");

    // With the identity: the manifests are decrypted and each file's
    // plaintext checked, from ship's metadata or, --deep, by decryption.
    for (flags, method) in [(vec![], "metadata"), (vec!["--deep"], "download")] {
        let mut args = vec![url, "--all", "--identity", "key"];
        args.extend(flags);
        let (lines, s) = verify(&s3, &dir, &args, 0);
        assert_eq!(
            brief(&lines),
            vec![
                row("big.bin", "ok", method),
                row("u1/a.json", "ok", method),
                row("u2/b.json", "ok", method),
            ]
        );
        assert_eq!(lines[0]["key"], "p/big.bin.age");
        assert_eq!(lines[0]["sha256"], sha(&big()));
        assert_eq!(s["counts"], json!({"ok": 3}));
    }

    // The multipart ciphertext uploaded again in 5 MiB parts without ship's
    // metadata: only S3's composite is left, recomputed from a download at
    // the part boundaries (HeadObject PartNumber=1 gives the part size).
    s3.python(
        "key = 'p/big.bin.age'\n\
         body = s3.get_object(Bucket='kinds-age', Key=key)['Body'].read()\n\
         up = s3.create_multipart_upload(Bucket='kinds-age', Key=key, ChecksumAlgorithm='SHA256')\n\
         n = 5 * 1024 * 1024\n\
         parts = []\n\
         for i in range(0, len(body), n):\n\
         \x20   r = s3.upload_part(Bucket='kinds-age', Key=key, UploadId=up['UploadId'], PartNumber=len(parts) + 1, Body=body[i:i + n], ChecksumAlgorithm='SHA256')\n\
         \x20   parts.append({'PartNumber': len(parts) + 1, 'ETag': r['ETag'], 'ChecksumSHA256': r['ChecksumSHA256']})\n\
         s3.complete_multipart_upload(Bucket='kinds-age', Key=key, UploadId=up['UploadId'], MultipartUpload={'Parts': parts})\n\
         h = s3.head_object(Bucket='kinds-age', Key=key, ChecksumMode='ENABLED')\n\
         assert not h['Metadata'] and h['ETag'].endswith('-3\"') and h.get('ChecksumSHA256'), h\n",
    );
    let (lines, _) = verify(&s3, &dir, &[url, "--all"], 0);
    assert_eq!(
        brief(&lines)[0],
        row("big.bin.age", "ciphertext_ok", "download")
    );

    // Another recipient's key does not open the manifest: a usage error.
    age_key(&dir, "other");
    let (lines, _) = verify(&s3, &dir, &[url, "--identity", "other"], 2);
    assert!(lines.is_empty());

    // Bytes that are not this ciphertext, ship's metadata kept.
    s3.python(
        "m = s3.head_object(Bucket='kinds-age', Key='p/u1/a.json.age')['Metadata']\n\
         s3.put_object(Bucket='kinds-age', Key='p/u1/a.json.age', Body=b'not age at all', Metadata=m)\n",
    );
    let (lines, _) = verify(&s3, &dir, &[url], 1);
    assert_eq!(
        brief(&lines),
        vec![row("u1/a.json.age", "changed", "download")]
    );
    assert_eq!(lines[0]["disagrees"], json!(["x-amz-meta-sha256"]));
    let (lines, _) = verify(&s3, &dir, &[url, "--identity", "key"], 1);
    assert_eq!(brief(&lines), vec![row("u1/a.json", "changed", "download")]);
    let error = lines[0]["error"].as_str().unwrap();
    assert!(error.contains("does not decrypt"), "{error}");

    // The help names the flag and the status.
    let help = dir.command(BIN).args(["verify", "--help"]).expect_success();
    help.assert(
        help.stdout.contains("--identity") && help.stdout.contains("ciphertext_ok"),
        "--help documents --identity and ciphertext_ok",
    );
}

#[test]
fn the_signatures_of_an_encrypted_archive_are_checked_with_its_identity() {
    let s3 = MotoServer::start();
    s3.create_bucket("kinds-sig", false);
    let dir = Dir::new("verify-kinds-sig");
    dir.write("arch/x.json", "{}\n");
    let keygen = sh(dir.path(), "minisign -G -W -p key.pub -s key.sec");
    assert!(keygen.status.success(), "{keygen:?}");
    let recipient = age_key(&dir, "key");
    let url = "s3://kinds-sig/p";
    let encrypt = ["--encrypt-to", recipient.as_str()];
    ship_signed(&s3, &dir, url, &encrypt, &["--sign", "key.sec"]);
    let signed = s3.python(
        "print(sorted(o['Key'] for o in s3.list_objects_v2(Bucket='kinds-sig')['Contents'] if 'minisig' in o['Key']))",
    );
    assert!(
        signed.contains("p/manifest-sha256.txt.minisig.age"),
        "{signed}"
    );
    let check = [url, "--identity", "key", "--public-key", "key.pub"];
    let (lines, s) = verify(&s3, &dir, &check, 0);
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(s["counts"], json!({"ok": 1}));
    // Without the identity the signatures cannot be read: a usage error.
    verify(&s3, &dir, &[url, "--public-key", "key.pub"], 2);
    s3.python("s3.delete_object(Bucket='kinds-sig', Key='p/manifest.json.minisig.age')");
    let (lines, _) = verify(&s3, &dir, &check, 1);
    assert_eq!(brief(&lines), vec![row("manifest.json", "unsigned", "")]);
    assert_eq!(lines[0]["key"], "p/manifest.json.age");
}

#[test]
fn deep_archive_objects_are_verified_without_a_get_or_reported_unverifiable() {
    let s3 = MotoServer::start();
    s3.create_bucket("kinds-cold", false);
    let dir = tree("verify-kinds-cold");
    ship(
        &s3,
        &dir,
        "s3://kinds-cold/p",
        &["--storage-class", "DEEP_ARCHIVE"],
    );
    // u2/b.json put again by boto3 directly: same bytes, but no SHA-256
    // checksum and no metadata. GetObject is refused, as on AWS.
    let refused = s3.python(
        "s3.put_object(Bucket='kinds-cold', Key='p/u2/b.json', Body=b'{\"b\":2}\\n', StorageClass='DEEP_ARCHIVE')\n\
         h = s3.head_object(Bucket='kinds-cold', Key='p/u2/b.json', ChecksumMode='ENABLED')\n\
         assert 'ChecksumSHA256' not in h and not h['Metadata'], h\n\
         try:\n\
         \x20   s3.get_object(Bucket='kinds-cold', Key='p/big.bin')\n\
         except s3.exceptions.InvalidObjectState:\n\
         \x20   print('refused')\n",
    );
    assert_eq!(refused.trim(), "refused");

    let (lines, s) = verify(&s3, &dir, &["s3://kinds-cold/p", "--all"], 0);
    assert_eq!(
        brief(&lines),
        vec![
            row("big.bin", "ok", "metadata"),
            row("u1/a.json", "ok", "checksum"),
            row("u2/b.json", "unverifiable", ""),
        ]
    );
    assert_eq!(lines[2]["storage_class"], "DEEP_ARCHIVE");
    assert_eq!(lines[2]["expected_sha256"], sha(b"{\"b\":2}\n"));
    assert_eq!(s["counts"], json!({"ok": 2, "unverifiable": 1}));
    assert_eq!(s["differences"], 0);
    // --download cannot read any of them: unverifiable, still exit 0.
    let (_, s) = verify(&s3, &dir, &["s3://kinds-cold/p", "--download"], 0);
    assert_eq!(s["counts"], json!({"unverifiable": 3}));
    // A cold object whose metadata contradicts the manifest is changed,
    // from the HEAD alone.
    s3.python(
        "s3.put_object(Bucket='kinds-cold', Key='p/u2/b.json', Body=b'{\"b\":3}\\n', StorageClass='DEEP_ARCHIVE', ChecksumAlgorithm='SHA256')\n",
    );
    let (lines, _) = verify(&s3, &dir, &["s3://kinds-cold/p"], 1);
    assert_eq!(brief(&lines), vec![row("u2/b.json", "changed", "checksum")]);
}
