//! The archive is its own source of truth: runs that keep no local state
//! give the same archive as runs that keep it, two runs at once never both
//! commit, shards add up to one run, and quarantined lines are archived
//! and committed.

use crate::common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use testkit::{Dir, MotoServer, Run, TestCommand};

const MOCK_ARGS: &[&str] = &[
    "--generate-users",
    "12",
    "--generate-days",
    "4",
    "--start",
    "2026-10-01",
    "--seed",
    "5",
];

/// The backup into `dest` with its work directory at `work`.
fn backup(dir: &Dir, mock: &Mock, s3: &MotoServer, dest: &str, work: &Path) -> TestCommand {
    let mut cmd = backup_command(dir, mock, dest, &bin_dir());
    s3.configure(&mut cmd);
    cmd.env("WORK_DIR", work)
        .env("STREAMS", "logs conversations users")
        .env("LOG_EVENT_TYPES", "AUTH_LOG");
    cmd
}

/// Every object key of a bucket under a prefix, `_state/` left out.
fn keys(s3: &MotoServer, bucket: &str) -> BTreeSet<String> {
    let out = s3.python(&format!(
        "keys = []\n\
         for page in s3.get_paginator('list_objects_v2').paginate(Bucket='{bucket}'):\n\
         \x20   keys += [o['Key'] for o in page.get('Contents', [])]\n\
         print(json.dumps(keys))"
    ));
    let keys: Vec<String> = serde_json::from_str(out.trim()).unwrap();
    keys.into_iter()
        .filter(|k| !k.contains("/_state/"))
        .collect()
}

/// Record ids of every data file under `root`, by relative path.
fn ids_by_file(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for path in files_under(root) {
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if rel.contains("manifest") || rel.contains("_state/") {
            continue;
        }
        let ids: BTreeSet<String> = if rel.ends_with("conversations.json") {
            let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            v["conversations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_string())
                .collect()
        } else if rel.contains(".ndjson") || rel.ends_with(".jsonl") {
            file_lines(&path)
                .iter()
                .map(|v| {
                    v["event_id"]
                        .as_str()
                        .or(v["id"].as_str())
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        } else {
            continue;
        };
        out.insert(rel, ids);
    }
    out
}

/// Each daily summary says what the day files of that day hold.
fn assert_summaries_match_days(root: &Path) {
    let conversations = root.join("conversations");
    let mut per_day: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for path in files_under(&conversations) {
        let rel = path
            .strip_prefix(&conversations)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if rel.starts_with('_') || !rel.ends_with("conversations.json") {
            continue;
        }
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let day = v["date"].as_str().unwrap().to_string();
        let user = v["user_id"].as_str().unwrap().to_string();
        *per_day.entry(day).or_default().entry(user).or_default() +=
            v["conversations"].as_array().unwrap().len() as u64;
    }
    assert!(
        !per_day.is_empty(),
        "no conversation day files under {}",
        conversations.display()
    );
    for (day, users) in &per_day {
        let p = conversations.join(format!(
            "_daily_summaries/{}/summary.json",
            day.replace('-', "/")
        ));
        let s: Value = serde_json::from_slice(
            &std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .unwrap();
        let total: u64 = users.values().sum();
        assert_eq!(s["total_conversations"], total, "{day}: summary {s}");
        for (user, n) in users {
            assert_eq!(
                s["user_statistics"][user]["conversation_count"], *n,
                "{day}/{user}: summary {s}"
            );
        }
    }
}

/// `manifest verify` of every area: no difference, nothing unvouched.
fn assert_verifies(s3: &MotoServer, dir: &Dir, bucket: &str, areas: &[&str]) {
    for area in areas {
        let mut v = dir.command(bin_dir().join("manifest"));
        s3.configure(&mut v);
        let run = v
            .args(["verify", &format!("s3://{bucket}/daily/{area}")])
            .run();
        run.assert(
            run.code == Some(0),
            &format!("manifest verify s3://{bucket}/daily/{area}"),
        );
    }
}

const AREAS: [&str; 3] = ["conversations", "logs/AUTH_LOG", "snapshots/users"];

#[test]
fn a_wiped_work_directory_gives_the_same_archive_as_a_kept_one() {
    let (wiped_dir, kept_dir) = (Dir::new("stateless-wiped"), Dir::new("stateless-kept"));
    let mock = Mock::start(MOCK_ARGS);
    let s3 = MotoServer::start();
    s3.create_bucket("wiped", false);
    s3.create_bucket("kept", false);
    for day in 0..5u32 {
        if day > 0 {
            // New, updated and re-sent records for the next day.
            mock.advance(3, 2, 40 + day);
        }
        let _ = std::fs::remove_dir_all(wiped_dir.join("work"));
        let run = backup(
            &wiped_dir,
            &mock,
            &s3,
            "s3://wiped/daily",
            &wiped_dir.join("work"),
        )
        .expect_success();
        let s = last_summary(&wiped_dir);
        run.assert(
            s["committed"] == true,
            &format!("day {day}: wiped run did not commit: {s}"),
        );
        backup(
            &kept_dir,
            &mock,
            &s3,
            "s3://kept/daily",
            &kept_dir.join("work"),
        )
        .expect_success();
    }
    assert_eq!(
        keys(&s3, "wiped"),
        keys(&s3, "kept"),
        "the two archives hold different object keys"
    );
    let (la, lb) = (wiped_dir.join("dl"), kept_dir.join("dl"));
    download_prefix(&s3, "wiped", "daily/", &la);
    download_prefix(&s3, "kept", "daily/", &lb);
    assert_eq!(
        ids_by_file(&la),
        ids_by_file(&lb),
        "the same files hold different record ids"
    );
    assert_conversations_match(&la.join("conversations"), &mock.truth("conversations"));
    assert_ids_match(
        &archived_lines(&la.join("logs/AUTH_LOG"), &[".ndjson.gz"]),
        &mock.truth("logs/AUTH_LOG"),
        "event_id",
        "AUTH_LOG events",
    );
    assert_summaries_match_days(&la);
    assert_verifies(&s3, &wiped_dir, "wiped", &AREAS);
    assert_verifies(&s3, &kept_dir, "kept", &AREAS);
}

/// Start `cmds` at the same moment; their runs.
fn at_once(cmds: Vec<TestCommand>) -> Vec<std::process::Output> {
    let children: Vec<_> = cmds
        .into_iter()
        .map(|mut c| {
            let mut cmd = std::mem::replace(c.command_mut(), std::process::Command::new("true"));
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

#[test]
fn two_runs_at_once_on_one_destination_one_commits_the_other_exits_75() {
    let (d1, d2, dref) = (Dir::new("race-1"), Dir::new("race-2"), Dir::new("race-ref"));
    let mock = Mock::start(MOCK_ARGS);
    let s3 = MotoServer::start();
    s3.create_bucket("shared", false);
    s3.create_bucket("reference", false);
    let outs = at_once(vec![
        backup(&d1, &mock, &s3, "s3://shared/daily", &d1.join("work")),
        backup(&d2, &mock, &s3, "s3://shared/daily", &d2.join("work")),
    ]);
    let mut codes: Vec<i32> = outs.iter().map(|o| o.status.code().unwrap_or(-1)).collect();
    codes.sort();
    let stderr: Vec<String> = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .collect();
    assert_eq!(
        codes,
        [0, 75],
        "exit codes {codes:?}; stderr:\n{}",
        stderr.join("\n-----\n")
    );
    let loser = outs
        .iter()
        .position(|o| o.status.code() == Some(75))
        .unwrap();
    assert!(
        stderr[loser].contains("held by run"),
        "the loser does not say who holds the lease"
    );
    backup(
        &dref,
        &mock,
        &s3,
        "s3://reference/daily",
        &dref.join("work"),
    )
    .expect_success();
    assert_eq!(
        keys(&s3, "shared"),
        keys(&s3, "reference"),
        "the archive's keys differ from one run's"
    );
    let (ls, lr) = (d1.join("dl"), dref.join("dl"));
    download_prefix(&s3, "shared", "daily/", &ls);
    download_prefix(&s3, "reference", "daily/", &lr);
    assert_eq!(
        ids_by_file(&ls),
        ids_by_file(&lr),
        "the archive differs from one run's"
    );
    assert_verifies(&s3, &d1, "shared", &AREAS);
}

#[test]
fn three_shards_add_up_to_one_run() {
    let whole = Dir::new("shards-whole");
    let shards: Vec<Dir> = (0..3).map(|i| Dir::new(&format!("shard-{i}"))).collect();
    let mock = Mock::start(MOCK_ARGS);
    let s3 = MotoServer::start();
    s3.create_bucket("sharded", false);
    s3.create_bucket("whole", false);
    for round in 0..2u32 {
        if round > 0 {
            mock.advance(3, 2, 70 + round);
        }
        let cmds = shards
            .iter()
            .enumerate()
            .map(|(i, d)| {
                // Empty work directories, every time.
                let _ = std::fs::remove_dir_all(d.join("work"));
                let mut c = backup(d, &mock, &s3, "s3://sharded/daily", &d.join("work"));
                c.env("SHARD_COUNT", "3")
                    .env("JOB_COMPLETION_INDEX", i.to_string());
                c
            })
            .collect();
        for (i, o) in at_once(cmds).iter().enumerate() {
            assert!(
                o.status.success(),
                "round {round}, shard {i}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        backup(&whole, &mock, &s3, "s3://whole/daily", &whole.join("work")).expect_success();
    }
    assert_eq!(keys(&s3, "sharded"), keys(&s3, "whole"));
    let (a, b) = (shards[0].join("dl"), whole.join("dl"));
    download_prefix(&s3, "sharded", "daily/", &a);
    download_prefix(&s3, "whole", "daily/", &b);
    assert_eq!(
        ids_by_file(&a),
        ids_by_file(&b),
        "the shards' union differs from one run"
    );
    assert_verifies(&s3, &whole, "sharded", &AREAS);
}

#[test]
fn a_quarantined_event_is_archived_and_committed() {
    let dir = Dir::new("quarantine");
    // The mock's own AUTH_LOG events, one of them without its user.
    let sample = Mock::start(MOCK_ARGS);
    let mut events = sample.truth("logs/AUTH_LOG");
    assert!(events.len() > 3, "the mock generated too few events");
    events[1]["actor"]
        .as_object_mut()
        .unwrap()
        .remove("user_id");
    let lost_id = events[1]["event_id"].as_str().unwrap().to_string();
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    dir.write("data/logs/AUTH_LOG.ndjson", text);
    let mock = Mock::start(&[
        "--data",
        dir.join("data").to_str().unwrap(),
        "--start",
        "2026-10-01",
    ]);
    let s3 = MotoServer::start();
    s3.create_bucket("quar", false);
    let mut first = backup(&dir, &mock, &s3, "s3://quar/daily", &dir.join("work"));
    first.env("STREAMS", "logs");
    let run: Run = first.expect_code(1);
    let s = last_summary(&dir);
    run.assert(
        s["committed"] == true && s["status"] == "quarantined",
        &format!("summary: {s}"),
    );
    let named = s["quarantine_files"].as_array().unwrap();
    run.assert(
        named.len() == 1 && named[0].as_str().unwrap().contains("_quarantine/"),
        &format!("{s}"),
    );
    run.assert(
        run.stderr.contains("quarantined"),
        "the quarantine is not named on stderr",
    );
    let local = dir.join("dl");
    download_prefix(&s3, "quar", "daily/", &local);
    let quarantined: Vec<Value> = files_under(&local.join("logs/AUTH_LOG/_quarantine"))
        .iter()
        .flat_map(|p| file_lines(p))
        .collect();
    assert!(
        quarantined.iter().any(|v| v.to_string().contains(&lost_id)),
        "the quarantined event is not in the archive: {quarantined:?}"
    );
    assert_verifies(&s3, &dir, "quar", &["logs/AUTH_LOG"]);
    // The bookmark moved: the next run has nothing to repeat and succeeds.
    let mut second = backup(&dir, &mock, &s3, "s3://quar/daily", &dir.join("work"));
    second.env("STREAMS", "logs");
    second.expect_success();
}
