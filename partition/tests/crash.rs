//! `kill -9` of a running partition, then the same run again: the second run
//! removes what the first left (half-written files beside their final
//! names, spill directories, the run marker) and writes exactly what a run
//! that was never interrupted writes.

use crate::common::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::Dir;

/// One file per user, all in one directory, so the test can watch it.
const LAYOUT: [&str; 2] = ["--path", "{date}/{user}.ndjson"];

/// One record per user, all on one day.
fn records(users: usize) -> Vec<String> {
    (0..users)
        .map(|i| {
            let t = DAY0 + i as f64;
            conversation(&format!("c{i}"), &format!("u{i:05}"), t, t, &["x"])
        })
        .collect()
}

fn spawn(dir: &Dir, args: &[&str], stdin: Stdio) -> Child {
    Command::new(bin())
        .args(args)
        .current_dir(dir.path())
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("killed.stderr")).unwrap())
        .spawn()
        .unwrap()
}

/// `kill -9`, and wait for the process to be gone.
fn kill_9(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -9 failed");
    let ended = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&ended),
        Some(9)
    );
}

/// Poll until `found` says yes and stays the same for a few polls (the run
/// is blocked there), or fail after a minute.
fn wait_until(dir: &Dir, what: &str, mut found: impl FnMut() -> Option<usize>) {
    let start = Instant::now();
    let (mut last, mut same) = (None, 0);
    while start.elapsed() < Duration::from_secs(60) {
        let now = found();
        same = if now.is_some() && now == last {
            same + 1
        } else {
            0
        };
        if same >= 3 {
            return;
        }
        last = now;
        std::thread::sleep(Duration::from_millis(150));
    }
    panic!("{what} never happened\n{}", dir.read("killed.stderr"));
}

/// The run again, to the end: exit 0, nothing left over, each user's file
/// holding exactly their record (what an uninterrupted run writes), and
/// the leftovers counted in its summary.
fn rerun_matches(dir: &Dir, args: &[&str], records: &[String]) {
    let mut args = args.to_vec();
    args.extend(["--summary", "rerun.json"]);
    let run = cmd(dir).args(&args).stdin(ndjson(records)).expect_success();
    let lines = check_lines(dir, &run, "arch");
    let expected: BTreeMap<String, String> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("2025-07-02/u{i:05}.ndjson"), format!("{r}\n")))
        .collect();
    let written: BTreeMap<String, String> = dir
        .files("arch")
        .into_iter()
        .map(|p| {
            let text = dir.read(&format!("arch/{p}"));
            (p, text)
        })
        .collect();
    assert!(
        written == expected,
        "the rerun's files are not one record per user"
    );
    assert_eq!(lines.len(), records.len());
    let s = summary(dir, "rerun.json");
    assert!(s["stale_temporaries_removed"].as_u64().unwrap() >= 1, "{s}");
}

#[test]
fn kill_9_while_writing_then_rerun_leaves_nothing_behind() {
    let dir = Dir::new("kill-writing");
    // More files than one commit batch (8192): with stdout not read, the
    // first batch's lines fill the pipe, and the next batch stays staged
    // under temporary names; that is when the run is killed.
    let records = records(8300);
    dir.write("in.ndjson", ndjson(&records));
    let args = ["--out", "arch", LAYOUT[0], LAYOUT[1]];

    let stdin = std::fs::File::open(dir.join("in.ndjson")).unwrap();
    let mut child = spawn(&dir, &args, Stdio::from(stdin));
    let day = dir.join("arch/2025-07-02");
    wait_until(&dir, "staged temporaries", || {
        let names = std::fs::read_dir(&day).ok()?;
        let n = names
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .count();
        (n > 0).then_some(n)
    });
    kill_9(&mut child);
    let left = temporaries(&dir, "arch");
    let pid = child.id();
    assert!(
        left.iter().any(|p| p.starts_with("2025-07-02/.u")),
        "no half-written file left: {left:?}"
    );
    assert!(
        left.contains(&format!(".partition-run.tmp-{pid}-0")),
        "{left:?}"
    );

    rerun_matches(&dir, &args, &records);
}

#[test]
fn kill_9_while_spilling_then_rerun_removes_the_spill_directory() {
    let dir = Dir::new("kill-spilling");
    std::fs::create_dir_all(dir.join("spill")).unwrap();
    let records = records(2500);
    let text = ndjson(&records);
    // A spill directory outside the output, and 1 MB of memory: the records
    // spill to runs there while stdin is still open.
    let args = [
        "--out",
        "arch",
        "--spill-dir",
        "spill",
        "--memory",
        "1MB",
        LAYOUT[0],
        LAYOUT[1],
    ];

    let mut child = spawn(&dir, &args, Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).unwrap();
    let spill = dir.join(&format!("spill/.partition.tmp-{}-0", child.id()));
    wait_until(&dir, "spill runs", || {
        let runs = std::fs::read_dir(&spill).ok()?.count();
        (runs >= 2).then_some(runs)
    });
    kill_9(&mut child);
    drop(stdin);
    assert!(
        spill.is_dir(),
        "the spill directory is not there to be swept"
    );
    assert!(!temporaries(&dir, "arch").is_empty(), "no run marker");

    rerun_matches(&dir, &args, &records);
    assert!(
        temporaries(&dir, "spill").is_empty(),
        "spill directory left"
    );
}
