//! The log-conversations preset: CONVERSATION_MESSAGE events become the
//! seed layout's conversations.json, one file per user per day of the
//! messages, merged across runs by message id. The expected files are
//! computed here from the events themselves, not from partition's output.

use crate::common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use testkit::Dir;

/// One event as the Logs Platform sends it (`at`: RFC 3339).
fn event(user: &str, conv: &str, id: &str, prev: Option<&str>, at: &str, text: &str) -> Value {
    let mut e = json!({
        "event_id": format!("evt_{id}"), "type": "CONVERSATION_MESSAGE",
        "principal": {"id": "ws-1", "type": "CHATGPT_WORKSPACE"},
        "actor": {"type": "ACCOUNT_USER", "user_id": user, "user_email": format!("{user}@example.com")},
        "timestamp": at,
        "message": {"id": id, "created_at": at,
                    "author": {"type": "assistant", "model": "gpt-5", "tools_used": ["web"], "skills_used": []},
                    "content": {"type": "text", "value": text, "annotations": [{"type": "url_citation", "urls": ["https://x"]}]},
                    "files": [{"id": format!("file-{id}"), "name": "a.pdf"}]},
        "conversation": {"id": conv, "title": format!("title of {conv}"), "created_at": "2026-05-19T20:00:00Z",
                         "is_pinned": false, "is_temporary_chat": conv.ends_with("tmp")}
    });
    if let Some(p) = prev {
        e["previous_message_id"] = json!(p);
    }
    e
}

fn lines(events: &[&Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

/// What each user-day file must hold, from the events alone: user → day →
/// conversation → message ids in thread order (each message after its
/// predecessor when that is the same day, else by time).
fn truth(events: &[&Value]) -> BTreeMap<(String, String), BTreeMap<String, Vec<String>>> {
    // (user, day) → conversation → (time, message id, previous id).
    type Msgs = Vec<(String, String, Option<String>)>;
    let mut by_file: BTreeMap<(String, String), BTreeMap<String, Msgs>> = BTreeMap::new();
    for e in events {
        let at = e["message"]["created_at"].as_str().unwrap().to_owned();
        let key = (
            e["actor"]["user_id"].as_str().unwrap().to_owned(),
            at[..10].to_owned(),
        );
        let conv = e["conversation"]["id"].as_str().unwrap().to_owned();
        let msgs = by_file.entry(key).or_default().entry(conv).or_default();
        let id = e["message"]["id"].as_str().unwrap().to_owned();
        msgs.retain(|m| m.1 != id);
        msgs.push((at, id, e["previous_message_id"].as_str().map(str::to_owned)));
    }
    by_file
        .into_iter()
        .map(|(k, convs)| {
            let ordered = convs
                .into_iter()
                .map(|(c, mut msgs)| {
                    msgs.sort();
                    let mut out: Vec<String> = Vec::new();
                    while !msgs.is_empty() {
                        // The earliest message whose predecessor is placed or absent.
                        let i = msgs
                            .iter()
                            .position(|m| {
                                m.2.as_ref().is_none_or(|p| {
                                    out.contains(p) || !msgs.iter().any(|o| &o.1 == p)
                                })
                            })
                            .unwrap();
                        out.push(msgs.remove(i).1);
                    }
                    (c, out)
                })
                .collect();
            (k, ordered)
        })
        .collect()
}

/// The conversation → message ids of a conversations.json on disk.
fn on_disk(dir: &Dir, rel: &str) -> (Value, BTreeMap<String, Vec<String>>) {
    let v: Value = serde_json::from_str(&dir.read(rel)).unwrap();
    let convs = v["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let ids = c["messages"]["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect();
            (c["id"].as_str().unwrap().to_owned(), ids)
        })
        .collect();
    (v, convs)
}

#[test]
fn events_become_conversations_per_user_day_merged_across_runs() {
    let dir = Dir::new("log-conversations");
    // u1's c1 spans two days; m3 is stamped before m2 but answers it.
    let m1 = event(
        "u1",
        "c1",
        "m1",
        None,
        "2026-05-20T23:59:00.250000Z",
        "hello",
    );
    let m2 = event("u1", "c1", "m2", Some("m1"), "2026-05-21T00:01:00Z", "hi");
    let m3 = event(
        "u1",
        "c1",
        "m3",
        Some("m2"),
        "2026-05-21T00:00:30Z",
        "again",
    );
    let n1 = event("u1", "c2-tmp", "n1", None, "2026-05-20T08:00:00Z", "other");
    let n2 = event(
        "u1",
        "c2-tmp",
        "n2",
        Some("n1"),
        "2026-05-20T08:00:05Z",
        "reply",
    );
    let p1 = event("u2", "c3", "p1", None, "2026-05-20T09:00:00Z", "u2 says");

    let run1 = [&m1, &n1, &n2, &p1, &m2];
    cmd(&dir)
        .args(["--out", "arch", "--preset", "log-conversations"])
        .stdin(lines(&run1))
        .expect_success();
    let day1 = dir.read_bytes("arch/u1/2026/05/20/conversations.json");

    // The second run: a new message of the second day and a re-sent event;
    // m2 is not sent again and must stay (merged from the file on disk).
    let run2 = [&m3, &m1];
    let run = cmd(&dir)
        .args(["--out", "arch", "--preset", "log-conversations"])
        .stdin(lines(&run2))
        .expect_success();
    let by_path = check_lines(&dir, &run, "arch");
    let all: Vec<&Value> = run1.iter().chain(run2.iter()).copied().collect();
    let want = truth(&all);

    // The first day is over and fetched: its file did not change.
    assert_eq!(
        dir.read_bytes("arch/u1/2026/05/20/conversations.json"),
        day1
    );
    assert_eq!(
        by_path["u1/2026/05/20/conversations.json"]["changed"],
        false
    );
    assert_eq!(by_path["u1/2026/05/21/conversations.json"]["changed"], true);

    for ((user, day), convs) in &want {
        let rel = format!("arch/{user}/{}/conversations.json", day.replace('-', "/"));
        let (v, got) = on_disk(&dir, &rel);
        assert_eq!(&got, convs, "{rel}");
        assert_eq!(v["conversation_count"], convs.len(), "{rel}");
        assert_eq!(
            (v["date"].as_str(), v["user_id"].as_str()),
            (Some(day.as_str()), Some(user.as_str()))
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "date",
                "user_id",
                "conversation_count",
                "conversations",
                "metadata"
            ]
        );
    }
    // The day's summary counts conversations and their messages of that day.
    for day in ["2026-05-20", "2026-05-21"] {
        let s: Value = serde_json::from_str(&dir.read(&format!(
            "arch/_daily_summaries/{}/summary.json",
            day.replace('-', "/")
        )))
        .unwrap();
        let mut stats = BTreeMap::new();
        for ((user, d), convs) in &want {
            if d == day {
                let messages: usize = convs.values().map(Vec::len).sum();
                stats.insert(
                    user.clone(),
                    json!({"conversation_count": convs.len(), "total_messages": messages}),
                );
            }
        }
        let total: usize = want
            .iter()
            .filter(|((_, d), _)| d == day)
            .map(|(_, c)| c.len())
            .sum();
        assert_eq!(s["user_statistics"], json!(stats), "{day}");
        assert_eq!(s["total_conversations"], total, "{day}");
    }

    message_fields_are_kept(&dir, &m3);

    // The same events again change nothing.
    let again = cmd(&dir)
        .args(["--out", "arch", "--preset", "log-conversations"])
        .stdin(lines(&all))
        .expect_success();
    for l in again.json_lines() {
        assert_eq!(l["changed"], false, "{l}");
    }
}

/// What a message keeps: author type, model and tools, content with its
/// annotations, files, its predecessor and event.
fn message_fields_are_kept(dir: &Dir, m3: &Value) {
    let (v, _) = on_disk(dir, "arch/u1/2026/05/21/conversations.json");
    let c = &v["conversations"][0];
    assert_eq!(c["title"], "title of c1");
    assert_eq!(c["is_temporary_chat"], false);
    assert_eq!(c["created_at"].as_f64(), Some(1779220800.0));
    let m = &c["messages"]["data"][1];
    assert_eq!(m["id"], "m3");
    assert_eq!(m["author"], m3["message"]["author"]);
    assert_eq!(m["content"], m3["message"]["content"]);
    assert_eq!(m["files"], m3["message"]["files"]);
    assert_eq!(m["previous_message_id"], "m2");
    assert_eq!(m["event_id"], "evt_m3");
    assert_eq!(m["created_at"].as_f64(), Some(1779321630.0));
    let (v, _) = on_disk(dir, "arch/u1/2026/05/20/conversations.json");
    // Same created_at: ordered by id.
    assert_eq!(v["conversations"][1]["id"], "c2-tmp");
    assert_eq!(v["conversations"][1]["is_temporary_chat"], true);
}

#[test]
fn log_events_in_the_seed_layout_are_refused_with_a_hint() {
    let dir = Dir::new("log-events-seed");
    let e = event("u1", "c1", "m1", None, "2026-05-20T10:00:00Z", "x");
    let run = cmd(&dir)
        .args([
            "--out",
            "arch",
            "--preset",
            "log-events",
            "--layout",
            "seed",
        ])
        .stdin(lines(&[&e]))
        .expect_code(2);
    assert!(
        run.stderr.contains("--preset log-conversations"),
        "{}",
        run.stderr
    );
    assert!(!dir.join("arch/u1").exists());
    // Nor is it the default any more: without --layout the run is refused too.
    let run = cmd(&dir)
        .args(["--out", "arch", "--preset", "log-events"])
        .stdin(lines(&[&e]))
        .expect_code(2);
    assert!(run.stderr.contains("--layout hive"), "{}", run.stderr);
    let run = cmd(&dir)
        .args([
            "--out",
            "arch",
            "--preset",
            "log-events",
            "--layout",
            "hive",
        ])
        .stdin(lines(&[&e]))
        .expect_success();
    let paths: Vec<String> = check_lines(&dir, &run, "arch").into_keys().collect();
    assert_eq!(
        paths,
        ["archive_user=u1/archive_date=2026-05-20/events.ndjson"]
    );
}

#[test]
fn events_without_a_conversation_or_message_id_are_quarantined() {
    let dir = Dir::new("log-conversations-bad");
    let good = event("u1", "c1", "m1", None, "2026-05-20T10:00:00Z", "x");
    let mut no_conv = event("u1", "c1", "m2", None, "2026-05-20T10:00:01Z", "y");
    no_conv.as_object_mut().unwrap().remove("conversation");
    let mut no_id = event("u1", "c1", "m3", None, "2026-05-20T10:00:02Z", "z");
    no_id["message"].as_object_mut().unwrap().remove("id");
    let run = cmd(&dir)
        .args(["--out", "arch", "--preset", "log-conversations"])
        .stdin(lines(&[&good, &no_conv, &no_id]))
        .expect_code(1);
    let by_path = check_lines(&dir, &run, "arch");
    let q = by_path
        .keys()
        .find(|p| p.starts_with("_quarantine/"))
        .unwrap();
    let entries = testkit::parse_ndjson(&dir.read(&format!("arch/{q}")));
    let reasons: Vec<&str> = entries
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "missing conversation id `conversation.id`",
            "missing message id `message.id`"
        ]
    );
    assert_eq!(entries[0]["record"], no_conv);
    let (_, convs) = on_disk(&dir, "arch/u1/2026/05/20/conversations.json");
    assert_eq!(convs["c1"], ["m1"]);
}

/// (user, day) → conversation → message ids, from the mock's legacy
/// conversations: a message of null `created_at` counts at the time of the
/// one before it (as its event is stamped), the order is the thread's.
fn legacy_truth(
    conversations: &[Value],
) -> BTreeMap<(String, String), BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<(String, String), BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for c in conversations {
        let mut last = c["created_at"].as_f64().unwrap();
        for m in c["messages"]["data"].as_array().unwrap() {
            let t = m["created_at"].as_f64().unwrap_or(last);
            last = t;
            let day = chrono::DateTime::from_timestamp(t as i64, 0)
                .unwrap()
                .format("%Y/%m/%d")
                .to_string();
            let key = (c["user_id"].as_str().unwrap().to_owned(), day);
            let conv = c["id"].as_str().unwrap().to_owned();
            out.entry(key)
                .or_default()
                .entry(conv)
                .or_default()
                .push(m["id"].as_str().unwrap().to_owned());
        }
    }
    out
}

/// What a run wrote: (user, day) → conversation → message ids.
fn written(dir: &Dir, root: &str) -> BTreeMap<(String, String), BTreeMap<String, Vec<String>>> {
    let mut out = BTreeMap::new();
    for f in dir.files(root) {
        let parts: Vec<&str> = f.split('/').collect();
        if parts.len() == 5 && parts[4] == "conversations.json" {
            let (_, convs) = on_disk(dir, &format!("{root}/{f}"));
            out.insert((parts[0].to_owned(), parts[1..4].join("/")), convs);
        }
    }
    out
}

#[test]
fn events_from_the_mock_rebuild_its_conversations_across_runs() {
    let mock = testkit::Mock::start(&[
        "--generate-users",
        "12",
        "--generate-days",
        "4",
        "--seed",
        "7",
    ]);
    let dir = Dir::new("log-conversations-mock");
    let run = |events: &[Value]| {
        let input: String = events.iter().map(|e| format!("{e}\n")).collect();
        cmd(&dir)
            .args(["--out", "arch", "--preset", "log-conversations"])
            .stdin(input)
            .expect_success()
    };
    // The first run gets half the events, the second all of them again
    // (delivery is at least once), then the mock adds turns to existing
    // conversations and new ones, and a third run gets only what is new.
    let first = mock.truth("logs/CONVERSATION_MESSAGE");
    run(&first[..first.len() / 2]);
    let second = run(&first);
    assert!(
        second.json_lines().iter().any(|l| l["changed"] == false),
        "{}",
        second.stdout
    );
    assert_eq!(
        written(&dir, "arch"),
        legacy_truth(&mock.truth("conversations"))
    );

    mock.advance(3, 5, 11);
    let now = mock.truth("logs/CONVERSATION_MESSAGE");
    let seen: std::collections::HashSet<&Value> = first.iter().map(|e| &e["event_id"]).collect();
    let new: Vec<Value> = now
        .iter()
        .filter(|e| !seen.contains(&e["event_id"]))
        .cloned()
        .collect();
    assert!(!new.is_empty());
    let third = run(&new);
    check_lines(&dir, &third, "arch");
    let conversations = mock.truth("conversations");
    assert_eq!(written(&dir, "arch"), legacy_truth(&conversations));

    // Message text and author come through; the summaries count every message.
    let texts: BTreeMap<String, Value> = conversations
        .iter()
        .flat_map(|c| c["messages"]["data"].as_array().unwrap().iter())
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["content"]["value"].clone(),
            )
        })
        .collect();
    let mut messages = 0;
    for f in dir
        .files("arch")
        .iter()
        .filter(|f| f.ends_with("conversations.json"))
    {
        let (v, _) = on_disk(&dir, &format!("arch/{f}"));
        for c in v["conversations"].as_array().unwrap() {
            for m in c["messages"]["data"].as_array().unwrap() {
                assert_eq!(
                    m["content"]["value"],
                    texts[m["id"].as_str().unwrap()],
                    "{m}"
                );
                messages += 1;
            }
        }
    }
    let mut counted = 0;
    for f in dir.files("arch/_daily_summaries") {
        let s: Value =
            serde_json::from_str(&dir.read(&format!("arch/_daily_summaries/{f}"))).unwrap();
        counted += s["user_statistics"]
            .as_object()
            .unwrap()
            .values()
            .map(|u| u["total_messages"].as_u64().unwrap())
            .sum::<u64>();
    }
    assert_eq!((messages, counted), (texts.len(), texts.len() as u64));
}
