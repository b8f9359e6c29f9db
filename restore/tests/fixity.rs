//! Cloud-side fixity: the Batch Operations manifest restore writes, and
//! completion reports (written here in AWS's documented CSV format, since
//! no local server runs Batch Operations) read back into verify lines.

use crate::support::*;
use testkit::Dir;

fn b64_of_hex(hex_digest: &str) -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", &format!("import base64,binascii;print(base64.b64encode(binascii.unhexlify('{hex_digest}')).decode())")])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// One report row; ResultMessage JSON quoted as CSV does.
fn row(key: &str, status: &str, code: &str, message: &str) -> String {
    format!(
        "vault,{key},,{status},{code},,\"{}\"\n",
        message.replace('"', "\"\"")
    )
}

fn full_object(sha_hex: &str) -> String {
    format!(
        "{{\"checksum_base64\":\"{}\",\"checksum_hex\":\"{sha_hex}\",\"checksumAlgorithm\":\"SHA256\",\"checksumType\":\"FULL_OBJECT\"}}",
        b64_of_hex(sha_hex)
    )
}

#[test]
fn batch_manifest_lists_every_archived_object_url_encoded() {
    let dir = Dir::new("fixity-manifest");
    let moto = moto(true);
    archive(
        &dir,
        &moto,
        "fx",
        &[("a b.json", b"{}\n".to_vec()), ("c.json", b"[]\n".to_vec())],
        &[],
        &[],
    );
    let run = restore(&dir, &moto)
        .args(["batch-manifest", "s3://vault/fx"])
        .expect_success();
    let rows: Vec<&str> = run.stdout.lines().collect();
    run.assert(
        rows.iter().any(|r| r.starts_with("vault,fx/a%20b.json,")),
        &run.stdout,
    );
    run.assert(
        rows.iter()
            .any(|r| r.starts_with("vault,fx/manifest-sha256.txt,")),
        &run.stdout,
    );
    // Object Lock turns versioning on: every row names its version.
    run.assert(
        rows.iter()
            .all(|r| r.split(',').count() == 3 && !r.ends_with(',')),
        &run.stdout,
    );
    run.assert(
        run.stderr.contains("SHA256"),
        "the job settings are not said",
    );
}

#[test]
fn completion_report_becomes_verify_lines() {
    let dir = Dir::new("fixity-report");
    let moto = moto(false);
    let a = b"{\"id\":1}\n".to_vec();
    let b = b"{\"id\":2}\n".to_vec();
    let big = bytes(6 * 1024 * 1024, 9);
    archive(
        &dir,
        &moto,
        "fx",
        &[
            ("a.json", a.clone()),
            ("b.json", b),
            ("big.bin", big),
            ("d.json", b"{}\n".to_vec()),
        ],
        &[],
        &["--multipart-threshold", "5MiB", "--part-size", "5MiB"],
    );
    let stored = moto.python("print(s3.head_object(Bucket='vault', Key='fx/big.bin', ChecksumMode='ENABLED')['ChecksumSHA256'])");
    let composite = format!(
        "{{\"checksum_base64\":\"{}-2\",\"checksumAlgorithm\":\"SHA256\",\"checksumType\":\"COMPOSITE\"}}",
        stored.trim().trim_end_matches("-2")
    );
    let mut report = String::new();
    report += &row(
        "fx/a.json",
        "succeeded",
        "200",
        &full_object(&sha256_hex(&a)),
    );
    report += &row(
        "fx/b.json",
        "succeeded",
        "200",
        &full_object(&sha256_hex(b"rotten")),
    );
    report += &row("fx/big.bin", "succeeded", "200", &composite);
    report += &row("fx/d.json", "failed", "403", "AccessDenied");
    report += &row("fx/manifest-sha256.txt", "succeeded", "200", "{\"checksum_base64\":\"AAAAAAAAAAA=\",\"checksumAlgorithm\":\"CRC64NVME\",\"checksumType\":\"FULL_OBJECT\"}");
    // The job's result directory as `aws s3 cp --recursive` leaves it.
    dir.write("job/results/0a1b.csv", &report);
    dir.write(
        "job/manifest.json",
        "{\"Format\":\"Report_CSV_20180820\",\"ReportCreationDate\":\"2026-12-01T00:00:00Z\",\"Results\":[{\"TaskExecutionStatus\":\"succeeded\",\"Bucket\":\"reports\",\"MD5Checksum\":\"x\",\"Key\":\"job-1/results/0a1b.csv\"}],\"ReportSchema\":\"Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage\"}",
    );
    let run = restore(&dir, &moto)
        .args(["batch-report", "--source", "s3://vault/fx"])
        .arg(dir.join("job/manifest.json"))
        .expect_code(1);
    let lines = by_path(&run);
    let status = |p: &str| lines[p]["status"].as_str().unwrap_or_default().to_string();
    run.assert(status("a.json") == "ok", &format!("{lines:?}"));
    run.assert(status("b.json") == "changed", &format!("{lines:?}"));
    run.assert(status("big.bin") == "ok", &format!("composite: {lines:?}"));
    run.assert(status("d.json") == "failed", &format!("{lines:?}"));
    run.assert(
        status("manifest-sha256.txt") == "unverifiable",
        &format!("{lines:?}"),
    );
    run.assert(
        status("manifest.json") == "not_in_report",
        &format!("{lines:?}"),
    );

    // A report that is not one is an input data error.
    dir.write("junk.csv", "not,a,report\n");
    restore(&dir, &moto)
        .args(["batch-report", "--source", "s3://vault/fx"])
        .arg(dir.join("junk.csv"))
        .expect_code(3);
}
