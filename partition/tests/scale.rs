//! A run far larger than its memory limit: it spills, merges with a small
//! fan-in, keeps its peak RSS near the budget, and writes exactly what a
//! run with plenty of memory writes.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use testkit::Dir;

/// Run the binary with `args`, stdin from `input`, and return (exit code,
/// peak RSS in KiB). The peak is VmHWM of the child's own address space,
/// sampled from /proc until it exits (getrusage would also count this test
/// process, whose pages a forked child shares until it execs).
fn run_measured(dir: &Dir, input: &str, args: &[&str]) -> (i32, u64, String) {
    let stdout = std::fs::File::create(dir.join("stdout.ndjson")).unwrap();
    let stderr = std::fs::File::create(dir.join("stderr.txt")).unwrap();
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(dir.path())
        .stdin(std::fs::File::open(dir.join(input)).unwrap())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    loop {
        let hwm = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        });
        match hwm {
            Some(k) => peak_kib = peak_kib.max(k),
            // A zombie has no address space left: the run is over.
            None => break,
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let status = child.wait().unwrap();
    (
        status.code().unwrap_or(-1),
        peak_kib,
        dir.read("stderr.txt"),
    )
}

fn tree(dir: &Dir, root: &str) -> BTreeMap<String, String> {
    dir.files(root)
        .into_iter()
        .map(|p| {
            let h = sha256(&dir.read_bytes(&format!("{root}/{p}")));
            (p, h)
        })
        .collect()
}

#[test]
fn run_far_larger_than_memory_limit_spills_and_stays_bounded() {
    let dir = Dir::new("scale");
    // ~50 MB of conversations over 50 users x 40 days, out of order,
    // with every 50th record re-sent at the end (duplicates to drop).
    let filler = "lorem ipsum dolor sit amet, ünïcödé 😀 \\\"quoted\\\" ".repeat(10);
    let mut input = String::with_capacity(50 << 20);
    let day0 = 1751414400u64;
    let n = 64_000u64;
    let mut resent = Vec::new();
    for i in 0..n {
        let k = (i * 7919) % n; // a permutation: arrival order is not time order
        let user = format!("user-{:03}", k % 50);
        let created = day0 + (k / 50 % 40) * 86400 + (k % 86000);
        let line = format!(
            "{{\"object\":\"compliance.workspace.conversation\",\"id\":\"conv-{k:06}\",\"user_id\":\"{user}\",\"created_at\":{created}.5,\"last_active_at\":{created}.75,\"title\":\"t{k}\",\"messages\":{{\"object\":\"list\",\"data\":[{{\"id\":\"m{k}\",\"content\":{{\"type\":\"text\",\"value\":\"{filler}\"}}}}],\"has_more\":false}}}}\n"
        );
        input.push_str(&line);
        if i % 50 == 0 {
            resent.push(line);
        }
    }
    // Re-sent at the end, so the copies meet in different spill runs.
    for line in &resent {
        input.push_str(line);
    }
    dir.write("in.ndjson", &input);
    let input_mb = input.len() as u64 >> 20;
    assert!(input_mb >= 40, "input is only {input_mb} MB");
    // A forked child counts the parent's pages until it execs: keep this
    // process small so the child's peak RSS is its own.
    drop(input);

    // Each run: the hive layout into ROOT, its summary in ROOT.json.
    let run = |root: &str, extra: &[&str]| {
        let summary = format!("{root}.json");
        let mut args = vec!["--out", root, "--layout", "hive", "--summary", &summary];
        args.extend_from_slice(extra);
        let (code, rss, err) = run_measured(&dir, "in.ndjson", &args);
        assert_eq!(code, 0, "{err}");
        let s: Value = serde_json::from_str(&dir.read(&summary)).unwrap();
        (rss, s)
    };
    let (big_rss, roomy) = run("roomy", &["--memory", "1GB"]);
    let tight_args = ["--memory", "4MB", "--max-open-files", "4"];
    let (small_rss, tight) = run("tight", &tight_args);
    // The same input as a file: threads route chunks of it and keep only
    // references to the records, which still spill under a 4 MB budget.
    let (file_rss, chunked) = run(
        "chunked",
        &[&tight_args[..], &["--threads", "3", "in.ndjson"]].concat(),
    );
    assert!(chunked["spill_runs"].as_u64().unwrap() >= 3, "{chunked}");
    assert!(
        chunked["spilled_bytes"].as_u64().unwrap() < tight["spilled_bytes"].as_u64().unwrap() / 5,
        "references, not records, are spilled: {chunked} vs {tight}"
    );
    assert!(
        file_rss < 24 * 1024,
        "peak RSS {file_rss} KiB with --memory 4MB and a file input"
    );
    eprintln!("peak RSS: --memory 4MB {small_rss} KiB (file input, 3 threads: {file_rss} KiB), --memory 1GB {big_rss} KiB; input {input_mb} MB; spill runs {}", tight["spill_runs"]);
    assert!(tight["spill_runs"].as_u64().unwrap() >= 10, "{tight}");
    assert_eq!(roomy["spill_runs"], 0, "{roomy}");
    // The budget is 4 MB; allow the program itself, stdio buffers and one
    // group being merged. Far below the input size.
    assert!(
        small_rss < 24 * 1024,
        "peak RSS {small_rss} KiB with --memory 4MB"
    );
    assert!(
        big_rss > small_rss,
        "the roomy run should hold more ({big_rss} vs {small_rss})"
    );

    // Same files, same bytes, whichever memory limit.
    let t = tree(&dir, "tight");
    assert_eq!(t, tree(&dir, "roomy"));
    assert_eq!(t, tree(&dir, "chunked"));
    assert_eq!(t.len(), 2000, "50 users x 40 days");
    // Every distinct record is in exactly one file; duplicates dropped.
    let mut ids = std::collections::BTreeSet::new();
    let mut total = 0;
    for p in t.keys() {
        for l in dir.read(&format!("tight/{p}")).lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            ids.insert(v["id"].as_str().unwrap().to_owned());
            total += 1;
        }
    }
    assert_eq!(total, ids.len(), "a record appears twice");
    assert_eq!(ids.len() as u64, n);
    assert_eq!(
        tight["duplicates_dropped"].as_u64().unwrap(),
        resent.len() as u64
    );
    assert_eq!(tight["records"].as_u64().unwrap(), n + resent.len() as u64);
    // The spill directory is gone.
    assert!(dir
        .files("tight")
        .iter()
        .all(|p| !p.contains(".partition.tmp-")));
    let lines = dir.read("stdout.ndjson");
    assert_eq!(lines.lines().count(), t.len());
}
