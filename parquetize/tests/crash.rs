//! A `kill -9` in the middle of a run: nothing can clean up then, so the
//! temporary file (named with the dead process's pid) stays until the next
//! run into the same directory removes it. `--infer`'s spool has no name
//! at all and leaves nothing.

use crate::cli::{base_args, setup, HEADER};
use crate::support::*;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};
use testkit::Dir;

const ROW: &str = "1,1.5,,US,x,2025-11-01,2025-11-01 00:00:00+00,,t";

/// Start parquetize on stdin with `args`, feed it the header and some rows,
/// and keep the pipe open (a slow producer).
fn start_on_a_slow_pipe(dir: &Dir, args: &[&str], env: &[(&str, &Path)]) -> (Child, ChildStdin) {
    let mut cmd = dir.command(bin());
    cmd.arg("-").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .command_mut()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(HEADER.as_bytes()).unwrap();
    for i in 0..100 {
        writeln!(stdin, "{}", ROW.replacen('1', &i.to_string(), 1)).unwrap();
    }
    stdin.flush().unwrap();
    (child, stdin)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(20), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILL, and check that is how it ended.
fn kill_9(mut child: Child, stdin: ChildStdin) {
    child.kill().unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    assert_eq!(status.signal(), Some(9), "{status:?}");
}

#[test]
fn kill_9_leftover_is_removed_by_the_next_run() {
    let dir = setup("pq-kill9");
    let mut args = vec!["--format", "pg-csv", "--batch-rows", "10"];
    args.extend(base_args());
    let (child, stdin) = start_on_a_slow_pipe(&dir, &args, &[]);
    let pid = child.id();
    wait_for("no temporary file appeared", || {
        !dir.files("out").is_empty()
    });
    kill_9(child, stdin);
    let leftover = format!(".charges-2025-11.parquet.tmp-{pid}-0");
    assert_eq!(
        dir.files("out"),
        [leftover.as_str()],
        "the temporary carries the pid"
    );

    // A temporary of a live process (this test) is not the sweep's to take.
    let live = format!(".other.parquet.tmp-{}-0", std::process::id());
    dir.write(&format!("out/{live}"), "in use");

    dir.write("in.csv", format!("{HEADER}{ROW}\n"));
    let run = dir
        .command(bin())
        .args(["in.csv", "--format", "pg-csv"])
        .args(base_args())
        .expect_success();
    assert_eq!(run.json_lines()[0]["records"], 1);
    assert_eq!(
        dir.files("out"),
        [live.as_str(), "charges-2025-11.parquet"],
        "the dead process's temporary is gone, the live one's kept"
    );
}

#[test]
fn kill_9_while_spooling_for_infer_leaves_nothing() {
    let dir = Dir::new("pq-kill9-infer");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let args = ["--table", "t", "--format", "csv", "--infer", "--out", "out"];
    let (child, stdin) = start_on_a_slow_pipe(&dir, &args, &[("TMPDIR", &tmp)]);
    // The spool is open (under TMPDIR, without a name) while input arrives.
    let fds = format!("/proc/{}/fd", child.id());
    wait_for("no spool file opened under TMPDIR", || {
        std::fs::read_dir(&fds).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| std::fs::read_link(e.path()).is_ok_and(|target| target.starts_with(&tmp)))
        })
    });
    kill_9(child, stdin);
    assert_eq!(dir.files("tmp"), Vec::<String>::new(), "spool left behind");
    assert!(!dir.join("out").exists(), "output written by a killed run");
}
