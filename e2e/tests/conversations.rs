//! Conversations from the Logs Platform (issue 17), end to end: the daily
//! backup with its defaults (every event type, conversations assembled
//! from CONVERSATION_MESSAGE events in the seed layout, attachments
//! downloaded beside their day), checked against the mock's truth with
//! independent readers (serde on the files, sha256sum on the bytes).

use crate::common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use testkit::Dir;

const START: &str = "2026-10-01";

fn mock(extra: &[&str]) -> Mock {
    let mut args = vec![
        "--generate-users",
        "12",
        "--generate-days",
        "4",
        "--start",
        START,
        "--seed",
        "23",
        "--attachments-pct",
        "25",
    ];
    args.extend_from_slice(extra);
    Mock::start(&args)
}

/// The backup with its own defaults for logs: no LOG_EVENT_TYPES, no
/// CONVERSATIONS, no FILES (the shared command sets test-only values).
fn daily(dir: &Dir, mock: &Mock, dest: &Path) -> testkit::TestCommand {
    let mut cmd = backup_command(dir, mock, &dest.display().to_string(), &bin_dir());
    cmd.env("STREAMS", "logs")
        .env_remove("LOG_EVENT_TYPES")
        .env_remove("CONVERSATIONS")
        .env("FETCH_ARGS", format!("--since {START} --rate-limit 100000"));
    cmd
}

fn utc_day(ts: &str) -> String {
    ts[..10].replace('-', "/")
}

/// When a message was written: its created_at, or (the mock leaves some
/// null, as real exports do) the event's timestamp.
fn message_day(e: &Value) -> String {
    let at = e["message"]["created_at"]
        .as_str()
        .or(e["timestamp"].as_str());
    utc_day(at.unwrap())
}

/// (user, YYYY/MM/DD) → conversation id → message ids, from the truth.
type ByDay = BTreeMap<(String, String), BTreeMap<String, BTreeSet<String>>>;

fn expected(events: &[Value]) -> ByDay {
    let mut out = ByDay::new();
    for e in events {
        let user = e["actor"]["user_id"].as_str().unwrap().to_string();
        let day = message_day(e);
        let conv = e["conversation"]["id"].as_str().unwrap().to_string();
        let msg = e["message"]["id"].as_str().unwrap().to_string();
        out.entry((user, day))
            .or_default()
            .entry(conv)
            .or_default()
            .insert(msg);
    }
    out
}

fn archived(root: &Path) -> ByDay {
    let mut out = ByDay::new();
    for path in files_under(root) {
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        // <user>/YYYY/MM/DD/conversations.json (an upload may have that name too,
        // deeper, under files/<id>/).
        if !rel.ends_with("/conversations.json")
            || rel.starts_with('_')
            || rel.split('/').count() != 5
        {
            continue;
        }
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let (user, day) = rel.split_once('/').unwrap();
        let day = day.trim_end_matches("/conversations.json").to_string();
        let convs = doc["conversations"].as_array().unwrap();
        assert_eq!(
            doc["conversation_count"].as_u64(),
            Some(convs.len() as u64),
            "{rel}"
        );
        let mut by_conv = BTreeMap::new();
        for c in convs {
            let mut ids = BTreeSet::new();
            let mut last = f64::NEG_INFINITY;
            // The seed layout's message list: {"object": "list", "data": [...]}.
            for m in c["messages"]["data"].as_array().unwrap() {
                let id = m["id"].as_str().unwrap().to_string();
                assert!(ids.insert(id.clone()), "{rel}: message {id} twice");
                // Ordered by time; a message without one is placed by its
                // thread (previous_message_id) and not compared here.
                if let Some(at) = m["created_at"].as_f64() {
                    assert!(at >= last, "{rel}: messages out of order");
                    last = at;
                }
            }
            by_conv.insert(c["id"].as_str().unwrap().to_string(), ids);
        }
        out.insert((user.to_string(), day), by_conv);
    }
    out
}

fn sha256sum(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The file of each uploaded file id under the archive: (user/day, bytes path).
fn archived_files(root: &Path) -> BTreeMap<String, (String, std::path::PathBuf)> {
    let mut out = BTreeMap::new();
    for path in files_under(root) {
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let parts: Vec<&str> = rel.split('/').collect();
        // <user>/YYYY/MM/DD/files/<file_id>/<name>
        if parts.len() == 7 && parts[4] == "files" {
            let day = format!("{}/{}/{}/{}", parts[0], parts[1], parts[2], parts[3]);
            out.insert(parts[5].to_string(), (day, path.clone()));
        }
    }
    out
}

/// The file ids listed in the files-missing.ndjson of every day.
fn missing_files(root: &Path) -> BTreeSet<String> {
    let mut missing = BTreeSet::new();
    for path in files_under(root) {
        if path.ends_with("files-missing.ndjson") {
            for line in file_lines(&path) {
                missing.insert(line["file_id"].as_str().unwrap().to_string());
            }
        }
    }
    missing
}

/// The daily summaries: conversations and messages per user per day.
fn check_summaries(conv_root: &Path, want: &ByDay) {
    for ((user, day), convs) in want {
        let s: Value = serde_json::from_str(
            &std::fs::read_to_string(
                conv_root.join(format!("_daily_summaries/{day}/summary.json")),
            )
            .unwrap(),
        )
        .unwrap();
        let stats = &s["user_statistics"][user];
        let messages: usize = convs.values().map(|m| m.len()).sum();
        assert_eq!(
            stats["conversation_count"].as_u64(),
            Some(convs.len() as u64),
            "{user} {day}"
        );
        assert_eq!(
            stats["total_messages"].as_u64(),
            Some(messages as u64),
            "{user} {day}"
        );
    }
}

/// The raw events of every type the server lists are kept as the evidence.
fn check_raw_events(mock: &Mock, dest: &Path) {
    let raw = archived_lines(&dest.join("logs/all"), &[".ndjson", ".ndjson.gz"]);
    let raw_ids: BTreeSet<String> = raw
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(raw_ids.len(), raw.len(), "an event archived twice");
    let mut truth_ids = BTreeSet::new();
    let types = mock.event_types();
    for t in types.iter().filter(|t| *t != "COSTS") {
        for e in mock.truth(&format!("logs/{t}")) {
            truth_ids.insert(e["event_id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(raw_ids, truth_ids, "raw events differ from the truth");
    let known = ["AUTH_LOG", "AUDIT_LOG", "CONVERSATION_MESSAGE", "COSTS"];
    assert!(
        raw.iter()
            .any(|e| !known.contains(&e["type"].as_str().unwrap())),
        "no event of a type outside the old list was archived"
    );
}

/// Each upload beside its message's day with the truth's SHA-256, and in
/// the manifest.
fn check_uploads(conv_root: &Path, events: &[Value], truth: &[Value], gone: &BTreeSet<String>) {
    let files = archived_files(conv_root);
    let day_of_message: BTreeMap<String, String> = events
        .iter()
        .map(|e| {
            let user = e["actor"]["user_id"].as_str().unwrap();
            let day = message_day(e);
            (
                e["message"]["id"].as_str().unwrap().to_string(),
                format!("{user}/{day}"),
            )
        })
        .collect();
    for f in truth.iter().filter(|f| f["state"] == "available") {
        let id = f["id"].as_str().unwrap();
        let (day, path) = files
            .get(id)
            .unwrap_or_else(|| panic!("file {id} not archived"));
        assert_eq!(
            Some(day),
            day_of_message.get(f["message_id"].as_str().unwrap()),
            "{id}"
        );
        assert_eq!(
            sha256sum(path),
            f["sha256"].as_str().unwrap(),
            "{id}: content differs"
        );
    }
    assert_eq!(
        files.len(),
        truth.len() - gone.len(),
        "files archived that the server does not have"
    );
    let manifest = std::fs::read_to_string(conv_root.join("manifest-sha256.txt")).unwrap();
    for (_, path) in files.values() {
        let rel = path
            .strip_prefix(conv_root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        assert!(
            manifest.contains(&format!("{}  {rel}", sha256sum(path))),
            "{rel} not in the manifest"
        );
    }
}

#[test]
fn conversations_and_files_from_log_events_match_the_truth() {
    let dir = Dir::new("conv-from-logs");
    // Uploads not yet expired on the mock's clock (some were deleted by
    // their users: those are listed as missing, and the run exits 1).
    let mock = mock(&[
        "--now",
        "2026-10-05T12:00:00Z",
        "--upload-retention-hours",
        "1000",
    ]);
    let dest = dir.join("dest");
    let truth = mock.files_truth();
    let gone: BTreeSet<String> = truth
        .iter()
        .filter(|f| f["state"] != "available")
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert!(gone.len() < truth.len(), "no upload is available");
    let code = if gone.is_empty() { 0 } else { 1 };
    let run = daily(&dir, &mock, &dest).expect_code(code);
    let summary = last_summary(&dir);
    run.assert(summary["committed"] == true, "not committed");
    run.assert(
        summary["status"]
            == if gone.is_empty() {
                "ok"
            } else {
                "files_missing"
            },
        "wrong status",
    );
    assert_eq!(
        missing_files(&dest.join("conversations")),
        gone,
        "missing list differs"
    );

    let events = mock.truth("logs/CONVERSATION_MESSAGE");
    assert!(events.len() > 50, "the mock generated too few messages");
    let want = expected(&events);
    let conv_root = dest.join("conversations");
    let got = archived(&conv_root);
    assert_eq!(got, want, "conversation files differ from the truth");
    check_summaries(&conv_root, &want);
    check_raw_events(&mock, &dest);
    check_uploads(&conv_root, &events, &truth, &gone);

    // The next day: new conversations, and new turns in earlier ones. The
    // run merges them by message id with what the archive holds.
    mock.advance(3, 5, 77);
    let newly_gone = mock
        .files_truth()
        .iter()
        .filter(|f| f["state"] != "available" && !gone.contains(f["id"].as_str().unwrap()))
        .count();
    daily(&dir, &mock, &dest).expect_code(if newly_gone == 0 { 0 } else { 1 });
    let want = expected(&mock.truth("logs/CONVERSATION_MESSAGE"));
    assert_eq!(
        archived(&conv_root),
        want,
        "after a merge the files differ from the truth"
    );
    // A conversation that spans days is in each day's file with that day's messages.
    let mut days_of: BTreeMap<&String, BTreeSet<&String>> = BTreeMap::new();
    for ((_, day), convs) in &want {
        for c in convs.keys() {
            days_of.entry(c).or_default().insert(day);
        }
    }
    assert!(
        days_of.values().any(|d| d.len() > 1),
        "no conversation spans days: the test proves nothing about it"
    );

    // A run with nothing new changes nothing and downloads nothing again.
    mock.clear_requests();
    daily(&dir, &mock, &dest).expect_success();
    assert_eq!(
        archived(&conv_root),
        want,
        "a re-run changed the conversations"
    );
    let downloads = mock
        .requests()
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap_or_default().contains("/files/"))
        .count();
    assert_eq!(downloads, 0, "a re-run downloaded files again");
}

/// A run after the uploads expired: every file the server no longer has is
/// listed in its day's files-missing.ndjson, the messages are archived
/// anyway, and the run exits 1 saying so.
#[test]
fn a_late_run_lists_expired_files_and_exits_1() {
    let dir = Dir::new("conv-late");
    let mock = mock(&[
        "--now",
        "2026-10-20T00:00:00Z",
        "--upload-retention-hours",
        "48",
    ]);
    let dest = dir.join("dest");
    let run = daily(&dir, &mock, &dest).expect_code(1);
    let summary = last_summary(&dir);
    run.assert(
        summary["status"] == "files_missing",
        "status is not files_missing",
    );
    run.assert(
        summary["committed"] == true,
        "the messages were not committed",
    );
    let truth = mock.files_truth();
    assert!(
        truth.iter().all(|f| f["state"] != "available"),
        "some uploads are still available"
    );
    let missing = missing_files(&dest.join("conversations"));
    let want: BTreeSet<String> = truth
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        missing, want,
        "the missing list differs from the expired uploads"
    );
    assert_eq!(summary["files_missing"].as_u64(), Some(want.len() as u64));
    assert_eq!(
        archived(&dest.join("conversations")),
        expected(&mock.truth("logs/CONVERSATION_MESSAGE")),
        "messages lost because their files were gone"
    );
}

/// Rewrite the committed bookmarks kept in the archive as a job that
/// stopped `days` ago would have left them.
fn age_bookmarks(dest: &Path, days: u32) {
    let date = |fmt: &str| {
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &format!("{days} days ago"), fmt])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (iso, unix) = (date("+%Y-%m-%dT%H:%M:%SZ"), date("+%s"));
    let mut aged = 0;
    for path in files_under(&dest.join("_state")) {
        let p = path.to_string_lossy();
        if !p.contains("/bookmarks/") || !p.ends_with(".json") || p.ends_with(".pending.json") {
            continue;
        }
        let mut b: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for key in ["cursor", "covered_until", "saved_at"] {
            if b[key].is_string() {
                b[key] = Value::from(iso.clone());
            }
        }
        if b["time"].is_number() {
            b["time"] = Value::from(unix.parse::<f64>().unwrap());
        }
        std::fs::write(&path, b.to_string()).unwrap();
        aged += 1;
    }
    assert!(aged > 0, "no committed bookmark in the archive's state");
}

/// Bookmarks near and past the upstream's log retention: a warning, then
/// exit 1 with the window that can no longer be fetched in the run record.
#[test]
fn an_old_bookmark_warns_then_names_the_lost_window() {
    let dir = Dir::new("conv-fresh");
    let mock = mock(&[]);
    let dest = dir.join("dest");
    let daily = |dir: &Dir| {
        let mut c = daily(dir, &mock, &dest);
        c.env("FILES", "off");
        c
    };
    daily(&dir).expect_success();

    age_bookmarks(&dest, 25);
    let warned = daily(&dir).expect_success();
    warned.assert(
        warned.stderr.contains("warning") && warned.stderr.contains("25d"),
        "no warning 25 days after the bookmark",
    );

    age_bookmarks(&dest, 31);
    let run = daily(&dir).expect_code(1);
    let summary = last_summary(&dir);
    run.assert(summary["status"] == "stale", "status is not stale");
    run.assert(
        summary["committed"] == true,
        "what could be fetched was not committed",
    );
    let lost = summary["lost_windows"].as_array().unwrap();
    run.assert(!lost.is_empty(), "no lost window in the run record");
    run.assert(
        lost.iter()
            .all(|w| w["lost_from"].is_string() && w["lost_until"].is_string()),
        "a lost window without its bounds",
    );
}
