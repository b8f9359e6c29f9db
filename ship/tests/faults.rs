//! Faults between ship and moto: a proxy answers 500, 503 SlowDown or
//! resets the connection for a share of requests. The upload completes with
//! the right bytes, or fails with exit 4 leaving no object and no
//! incomplete multipart upload; Ctrl-C aborts an upload in flight.

use crate::util::proxy::{Faults, Proxy};
use crate::util::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use testkit::Dir;

#[test]
fn transient_faults_are_retried_and_the_bytes_arrive_intact() {
    let moto = moto_with_bucket("flaky", false);
    let proxy = Proxy::start(moto.port, Faults::EveryNth(3));
    let dir = Dir::new("ship-flaky");
    let mut input = String::new();
    let mut files = Vec::new();
    for i in 0..6 {
        let data = bytes(3000 + i * 100, i as u64);
        input.push_str(&file_line(&dir, "d", &format!("f{i}.json"), &data));
        input.push('\n');
        files.push((format!("p/f{i}.json"), data));
    }
    let big = bytes(11 * 1024 * 1024, 99);
    input.push_str(&file_line(&dir, "d", "big.bin", &big));
    files.push(("p/big.bin".into(), big));
    let run = ship(&dir, &moto)
        .args(["s3://flaky/p", "--endpoint-url", &proxy.endpoint()])
        .args([
            "--part-size",
            "5MiB",
            "--multipart-threshold",
            "5MiB",
            "--max-attempts",
            "8",
        ])
        .args(["--summary", "s.json"])
        .stdin(input)
        .expect_success();
    let lines = run.json_lines();
    assert_eq!(lines.len(), files.len(), "{}", run.report());
    assert!(
        lines.iter().all(|l| l["status"] == json!("uploaded")),
        "{}",
        run.report()
    );
    let injected = proxy
        .faults_injected
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(injected >= 3, "the proxy injected only {injected} faults");
    let summary: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert!(
        summary["retries"].as_u64().unwrap() >= injected,
        "{summary}"
    );
    run.assert(run.stderr.contains("SlowDown"), "retries are logged");
    for (key, data) in &files {
        assert!(
            get_bytes(&moto, "flaky", key) == *data,
            "{key}: bytes differ"
        );
    }
    assert!(open_uploads(&moto, "flaky").is_empty());
}

#[test]
fn a_part_that_keeps_failing_aborts_the_upload_and_exits_4() {
    let moto = moto_with_bucket("broken", false);
    let proxy = Proxy::start(moto.port, Faults::Part2Always);
    let dir = Dir::new("ship-broken");
    let line = file_line(&dir, "d", "big.bin", &bytes(11 * 1024 * 1024, 5));
    let run = ship(&dir, &moto)
        .args(["s3://broken/p", "--endpoint-url", &proxy.endpoint()])
        .args([
            "--part-size",
            "5MiB",
            "--multipart-threshold",
            "5MiB",
            "--max-attempts",
            "3",
        ])
        .stdin(line)
        .expect_code(4);
    let l = &run.json_lines()[0];
    assert_eq!(l["status"], json!("failed"));
    assert!(l["error"].as_str().unwrap().contains("UploadPart 2"), "{l}");
    assert!(keys(&moto, "broken").is_empty(), "no half object");
    assert!(
        open_uploads(&moto, "broken").is_empty(),
        "the multipart upload was aborted"
    );
}

#[test]
fn interrupt_aborts_the_multipart_upload_in_flight() {
    let moto = moto_with_bucket("stopped", false);
    let proxy = Proxy::start(moto.port, Faults::SlowParts(Duration::from_secs(3)));
    let dir = Dir::new("ship-interrupt");
    let line = file_line(&dir, "d", "big.bin", &bytes(11 * 1024 * 1024, 6));
    dir.write("in.ndjson", format!("{line}\n"));
    let mut cmd = ship(&dir, &moto);
    cmd.args(["s3://stopped/p", "--endpoint-url", &proxy.endpoint()])
        .args([
            "--part-size",
            "5MiB",
            "--multipart-threshold",
            "5MiB",
            "--input",
            "in.ndjson",
        ]);
    let child = cmd
        .command_mut()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the upload is open and a part is being held by the proxy.
    let start = Instant::now();
    while open_uploads(&moto, "stopped").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "upload never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("aborted multipart upload"), "{stderr}");
    assert!(open_uploads(&moto, "stopped").is_empty(), "{stderr}");
    assert!(keys(&moto, "stopped").is_empty());
}

#[test]
fn the_next_file_is_read_while_the_last_one_completes() {
    // `--jobs 1` bounds the files being read, not those waiting on S3 to
    // join their parts: the second upload is opened and sent while the
    // first one's completion is still held.
    let moto = moto_with_bucket("overlap", false);
    let proxy = Proxy::start(
        moto.port,
        Faults::SlowCompletes(Duration::from_millis(1500)),
    );
    let dir = Dir::new("ship-overlap");
    let first = file_line(&dir, "d", "a.bin", &bytes(7 * 1024 * 1024, 1));
    let second = file_line(&dir, "d", "b.bin", &bytes(7 * 1024 * 1024, 2));
    dir.write("in.ndjson", format!("{first}\n{second}\n"));
    let run = ship(&dir, &moto)
        .args([
            "s3://overlap/p",
            "--endpoint-url",
            &proxy.endpoint(),
            "--jobs",
            "1",
        ])
        .args(["--part-size", "5MiB", "--multipart-threshold", "5MiB"])
        .args(["--input", "in.ndjson"])
        .expect_success();
    assert_eq!(
        keys(&moto, "overlap"),
        ["p/a.bin", "p/b.bin"],
        "{}",
        run.report()
    );
    let log = proxy.log.lock().unwrap().clone();
    let at = |prefix: &str, key: &str| {
        log.iter()
            .position(|l| l.starts_with(prefix) && l.contains(key))
            .unwrap_or_else(|| panic!("no {prefix} for {key} in {log:#?}"))
    };
    let a_completed = log
        .iter()
        .position(|l| l.starts_with("< POST") && l.contains("a.bin?uploadId="))
        .unwrap_or_else(|| panic!("no completion of a.bin in {log:#?}"));
    let b_opened = at("> POST", "b.bin?uploads");
    let b_last_part = log
        .iter()
        .rposition(|l| l.starts_with("< PUT") && l.contains("b.bin?") && l.contains("partNumber="))
        .unwrap_or_else(|| panic!("no part of b.bin in {log:#?}"));
    assert!(
        b_opened < a_completed && b_last_part < a_completed,
        "b.bin must be sent while a.bin completes: {log:#?}"
    );
}

/// When the test writes into the file being uploaded.
#[derive(PartialEq)]
enum ChangeAt {
    /// Before ship reads the last part: `--max-memory 5MiB` lets it read
    /// one part at a time, each held 1.5 s by the proxy.
    BeforeTheLastPartIsRead,
    /// Once part 2 is stored: every part has been read (they are read
    /// ahead of the slow sends), the upload is not complete.
    AfterEveryPartIsRead,
}

/// Parts stored so far in the bucket's one open multipart upload.
fn parts_stored(moto: &testkit::MotoServer, bucket: &str) -> usize {
    let out = moto.python(&format!(
        "u = s3.list_multipart_uploads(Bucket='{bucket}').get('Uploads', [])\n\
         n = len(s3.list_parts(Bucket='{bucket}', Key=u[0]['Key'], UploadId=u[0]['UploadId']).get('Parts', [])) if u else 0\n\
         print(n)"
    ));
    out.trim().parse().unwrap()
}

/// Ship a 4-part file through a proxy that holds each part, change its last
/// part on disk while the upload is open, and return the run.
fn change_mid_upload(
    moto: &testkit::MotoServer,
    bucket: &str,
    faults: Faults,
    when: ChangeAt,
) -> (Dir, Value, i32, String) {
    let proxy = Proxy::start(moto.port, faults);
    let dir = Dir::new("ship-changed-mid-upload");
    let size = 15 * 1024 * 1024 + 100;
    let line = file_line(&dir, "d", "big.bin", &bytes(size, 11));
    dir.write("in.ndjson", format!("{line}\n"));
    let mut cmd = ship(&dir, moto);
    cmd.args([
        &format!("s3://{bucket}/p"),
        "--endpoint-url",
        &proxy.endpoint(),
    ])
    .args(["--part-size", "5MiB", "--multipart-threshold", "5MiB"])
    .args(["--part-concurrency", "1", "--input", "in.ndjson"]);
    if when == ChangeAt::BeforeTheLastPartIsRead {
        cmd.args(["--max-memory", "5MiB"]);
    }
    let child = cmd
        .command_mut()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while open_uploads(moto, bucket).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "upload never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    while when == ChangeAt::AfterEveryPartIsRead && parts_stored(moto, bucket) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "parts never arrived"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Written in place (same inode, same size): the last part.
    use std::io::{Seek, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("d/big.bin"))
        .unwrap();
    f.seek(std::io::SeekFrom::Start(size as u64 - 50)).unwrap();
    f.write_all(&[0xAB; 50]).unwrap();
    drop(f);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line: Value = serde_json::from_str(stdout.lines().next().unwrap_or("null")).unwrap();
    (dir, line, out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn a_file_changed_before_its_last_part_is_read_is_never_completed() {
    // Read once while sending: the whole-file SHA-256 is known only after
    // the last part, and differs from the line's, so the upload is aborted.
    let moto = moto_with_bucket("midway", false);
    let slow = Faults::SlowParts(Duration::from_millis(1500));
    let before = ChangeAt::BeforeTheLastPartIsRead;
    let (_dir, line, code, stderr) = change_mid_upload(&moto, "midway", slow, before);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(line["status"], json!("failed"), "{line}");
    let err = line["error"].as_str().unwrap();
    assert!(
        err.contains("changed since it was listed") && err.contains("no object stored"),
        "{line}"
    );
    assert!(keys(&moto, "midway").is_empty(), "no object: {stderr}");
    assert!(open_uploads(&moto, "midway").is_empty());
}

#[test]
fn a_file_changed_after_it_was_read_but_before_completion_leaves_no_object() {
    let moto = moto_with_bucket("midread", false);
    let slow = Faults::SlowParts(Duration::from_millis(1500));
    let after = ChangeAt::AfterEveryPartIsRead;
    let (_dir, line, code, stderr) = change_mid_upload(&moto, "midread", slow, after);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(line["status"], json!("failed"), "{line}");
    let err = line["error"].as_str().unwrap();
    assert!(
        err.contains("changed while it was uploaded") && err.contains("deleted"),
        "{line}"
    );
    assert!(
        keys(&moto, "midread").is_empty(),
        "no object survives: {stderr}"
    );
    assert!(open_uploads(&moto, "midread").is_empty());
}

#[test]
fn a_corrupt_object_that_cannot_be_deleted_is_tagged_and_the_exit_says_so() {
    // Under Object Lock S3 answers the delete of a locked version with 403
    // AccessDenied; moto does not lock multipart uploads, so the proxy answers
    // that for it.
    let moto = moto_with_bucket("midlock", true);
    let faults = Faults::SlowPartsDenyDeletes(Duration::from_millis(1500));
    let after = ChangeAt::AfterEveryPartIsRead;
    let (_dir, line, code, stderr) = change_mid_upload(&moto, "midlock", faults, after);
    assert_eq!(code, 4, "{stderr}");
    assert_eq!(line["status"], json!("failed"), "{line}");
    assert_eq!(line["integrity"], json!("failed"), "{line}");
    assert!(
        line["error"].as_str().unwrap().contains("integrity=failed"),
        "{line}"
    );
    let version = line["version_id"].as_str().expect("the version kept");
    let tags = moto.python(&format!(
        "t = s3.get_object_tagging(Bucket='midlock', Key='p/big.bin', VersionId='{version}')\n\
         print(json.dumps(t['TagSet']))"
    ));
    assert_eq!(tags.trim(), r#"[{"Key": "integrity", "Value": "failed"}]"#);
    assert!(open_uploads(&moto, "midlock").is_empty());
}
