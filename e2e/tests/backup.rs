//! The daily compliance backup, end to end: mock API → fetch → partition →
//! manifest → ship → moto S3 or a local directory.

use crate::common::*;
use testkit::{Dir, MotoServer};

const MOCK_ARGS: &[&str] = &[
    "--generate-users",
    "25",
    "--generate-days",
    "6",
    "--start",
    "2026-10-01",
    "--seed",
    "11",
];

/// Two daily runs into S3: the second adds only the new and updated
/// records, and objects of days that did not change are not rewritten.
#[test]
fn daily_backup_twice_to_s3() {
    let dir = Dir::new("backup-twice");
    let mock = Mock::start(MOCK_ARGS);
    let s3 = MotoServer::start();
    // Versioning shows whether an object was written once or twice.
    s3.create_bucket("archive", false);
    s3.python(
        "s3.put_bucket_versioning(Bucket='archive', VersioningConfiguration={'Status': 'Enabled'})",
    );
    let bins = bin_dir();

    let mut first = backup_command(&dir, &mock, "s3://archive/daily", &bins);
    s3.configure(&mut first);
    let run = first.expect_success();
    let s1 = last_summary(&dir);
    run.assert(
        s1["committed"] == true && s1["status"] == "ok",
        "first run did not commit",
    );
    run.assert(
        s1["records"].as_u64().unwrap() > 0,
        "first run archived no records",
    );

    mock.advance(4, 3, 99);
    let mut second = backup_command(&dir, &mock, "s3://archive/daily", &bins);
    s3.configure(&mut second);
    let run2 = second.expect_success();
    let s2 = last_summary(&dir);
    run2.assert(s2["committed"] == true, "second run did not commit");
    run2.assert(
        s2["skipped"].as_u64().unwrap() > 0,
        "second run rewrote every object",
    );
    run2.assert(
        s2["records"].as_u64().unwrap() < s1["records"].as_u64().unwrap(),
        "second run fetched as much as the bulk load",
    );

    // The archive in S3 equals the server's data now.
    let local = dir.join("downloaded");
    download_prefix(&s3, "archive", "daily/", &local);
    assert_conversations_match(&local.join("conversations"), &mock.truth("conversations"));
    let events = archived_lines(
        &local.join("logs/AUTH_LOG"),
        &[".ndjson", ".ndjson.gz", ".jsonl", ".gz"],
    );
    assert_ids_match(
        &events,
        &mock.truth("logs/AUTH_LOG"),
        "event_id",
        "AUTH_LOG events",
    );
    let audit = archived_lines(
        &local.join("audit-logs"),
        &[".jsonl", ".jsonl.gz", ".ndjson"],
    );
    assert_ids_match(&audit, &mock.truth("audit_logs"), "id", "audit log entries");

    // Objects of unchanged days were written once; some days changed.
    let versions = s3.python(
        "import collections\n\
         c = collections.Counter()\n\
         for page in s3.get_paginator('list_object_versions').paginate(Bucket='archive', Prefix='daily/conversations/'):\n\
         \x20   for v in page.get('Versions', []): c[v['Key']] += 1\n\
         print(json.dumps(c))",
    );
    let versions: serde_json::Value = serde_json::from_str(versions.trim()).unwrap();
    let data_keys: Vec<(&String, u64)> = versions
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.ends_with("conversations.json"))
        .map(|(k, v)| (k, v.as_u64().unwrap()))
        .collect();
    let rewritten = data_keys.iter().filter(|(_, n)| *n > 1).count();
    let once = data_keys.iter().filter(|(_, n)| *n == 1).count();
    assert!(once > 0, "every day's object was rewritten: {versions}");
    assert!(
        rewritten > 0,
        "no day's object was updated although records were: {versions}"
    );
    assert!(
        data_keys.iter().all(|(_, n)| *n <= 2),
        "an object was written more than twice: {versions}"
    );

    // Every shipped manifest verifies against S3.
    let mut verify = dir.command(bins.join("manifest"));
    s3.configure(&mut verify);
    verify
        .args(["verify", "s3://archive/daily/conversations"])
        .expect_success();
}

/// Into a local directory: the archive verifies with GNU sha256sum and
/// the bookmark makes a run with nothing new fetch nothing.
#[test]
fn daily_backup_local_then_nothing_new() {
    let dir = Dir::new("backup-local");
    let mock = Mock::start(MOCK_ARGS);
    let bins = bin_dir();
    let dest = dir.join("archive");
    let dest = dest.to_str().unwrap();
    backup_command(&dir, &mock, dest, &bins).expect_success();
    assert_conversations_match(
        &dir.join("archive/conversations"),
        &mock.truth("conversations"),
    );
    for area in ["conversations", "logs/CONVERSATION_MESSAGE", "audit-logs"] {
        let out = std::process::Command::new("sha256sum")
            .args(["-c", "--strict", "--quiet", "manifest-sha256.txt"])
            .current_dir(dir.join(&format!("archive/{area}")))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sha256sum -c failed in {area}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let before = mock.requests().len();
    let run = backup_command(&dir, &mock, dest, &bins).expect_success();
    let s = last_summary(&dir);
    run.assert(
        s["uploaded"] == 0,
        "a run with nothing new uploaded something",
    );
    let conv_records = s["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["stream"] == "conversations")
        .unwrap()["records"]
        .as_u64()
        .unwrap();
    // Only the overlap window can come back; nothing beyond it.
    let total = mock.truth("conversations").len() as u64;
    run.assert(
        conv_records < total,
        "the incremental run fetched every conversation again",
    );
    let requests = mock.requests().len() - before;
    run.assert(
        requests < 40,
        &format!("a run with nothing new made {requests} requests"),
    );
}

/// A destination that cannot be used stops the job before it spends any
/// API budget: one message naming the bucket, exit 2, no data request;
/// a dry run checks it too (reading only), and a bad API key is found by
/// one request, before anything is fetched.
#[test]
fn preflight_before_any_fetch() {
    let dir = Dir::new("backup-preflight");
    let mock = Mock::start(MOCK_ARGS);
    let s3 = MotoServer::start();
    let bins = bin_dir();
    for dry in [false, true] {
        mock.clear_requests();
        let mut cmd = backup_command(&dir, &mock, "s3://no-such-bucket/daily", &bins);
        s3.configure(&mut cmd);
        if dry {
            cmd.arg("--dry-run");
        }
        let run = cmd.expect_code(2);
        run.assert(
            run.stderr.contains("no-such-bucket") && run.stderr.contains("NoSuchBucket"),
            "the missing bucket is not named",
        );
        run.assert(
            mock.requests().is_empty(),
            "the API was called before the destination was checked",
        );
    }
    s3.create_bucket("archive", false);
    mock.clear_requests();
    let mut bad_key = backup_command(&dir, &mock, "s3://archive/daily", &bins);
    s3.configure(&mut bad_key);
    bad_key.env("OPENAI_API_KEY", "not-the-key");
    let run = bad_key.expect_code(2);
    run.assert(run.stderr.contains("preflight"), "not stopped at preflight");
    run.assert(
        mock.requests().len() == 1,
        "more than one request to find out the key is bad",
    );
    // Only the failed run's record is written (under _state/runs/).
    let left = s3.python(
        "print(json.dumps([o['Key'] for o in s3.list_objects_v2(Bucket='archive').get('Contents', [])]))",
    );
    let keys: Vec<String> = serde_json::from_str(left.trim()).unwrap();
    run.assert(
        !keys.is_empty() && keys.iter().all(|k| k.starts_with("daily/_state/runs/")),
        &format!("objects other than the run record: {keys:?}"),
    );
}
