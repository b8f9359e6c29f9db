//! `kill -9` of each stage of the daily backup at a random moment, then
//! the same command again (for fetch and ship, from an empty work
//! directory): the archive equals the server's data, nothing missing,
//! nothing duplicated, every manifest verifies.

use crate::common::*;
use rand::{Rng, SeedableRng};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use testkit::Dir;

const MOCK_ARGS: &[&str] = &[
    "--generate-users",
    "30",
    "--generate-days",
    "5",
    "--start",
    "2026-10-01",
    "--seed",
    "5",
];

/// A BIN_DIR where every tool is the real one except `stage`, which is
/// killed with SIGKILL part-way: fetch after a random delay (its client
/// pacing makes it run for seconds), the others after reading a random
/// share of their input.
fn crashing_bin_dir(dir: &Dir, real: &Path, stage: &str, seed: u64) -> std::path::PathBuf {
    let wrap = dir.join("crashing-bin");
    std::fs::create_dir_all(&wrap).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for tool in [
        "fetch",
        "partition",
        "parquetize",
        "manifest",
        "ship",
        "restore",
        "archive-state",
    ] {
        let target = wrap.join(tool);
        let real_tool = real.join(tool);
        if tool != stage {
            std::os::unix::fs::symlink(&real_tool, &target).unwrap();
            continue;
        }
        let script = if stage == "fetch" {
            let delay_ms: u64 = rng.random_range(300..1500);
            format!(
                "#!/usr/bin/env bash\n\
                 case \" $* \" in *' commit '*|*' --dry-run '*) exec {real} \"$@\";; esac\n\
                 {real} \"$@\" & pid=$!\n\
                 sleep {secs}; kill -9 $pid 2>/dev/null; wait $pid\n",
                real = real_tool.display(),
                secs = delay_ms as f64 / 1000.0
            )
        } else {
            let bytes: u64 = rng.random_range(200..20_000);
            format!(
                "#!/usr/bin/env bash\n\
                 {{ head -c {bytes}; sleep 3; }} | {real} \"$@\" & pid=$!\n\
                 sleep 1; kill -9 $pid 2>/dev/null; wait $pid\n",
                real = real_tool.display()
            )
        };
        std::fs::write(&target, script).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    wrap
}

/// Crash `stage`, then run again; with `wipe`, the work directory is
/// deleted before the re-run (a container's empty disk): the archive and
/// its `_state/` must carry everything.
fn crash_then_rerun(stage: &str, wipe: bool) {
    let seed: u64 = rand::rng().random();
    eprintln!("crash test of {stage}, seed {seed}");
    let dir = Dir::new(&format!("crash-{stage}"));
    let mock = Mock::start(MOCK_ARGS);
    let bins = bin_dir();
    let dest = dir.join("archive");
    let dest = dest.to_str().unwrap();

    let crashing = crashing_bin_dir(&dir, &bins, stage, seed);
    let mut crashed = backup_command(&dir, &mock, dest, &crashing);
    // A client paced at 2 requests/s: each log stream downloads ~20 files,
    // so it runs for seconds and the kill (0.3-1.5 s) lands mid-stream
    // whatever the machine's speed.
    crashed.env("FETCH_ARGS", "--since 2025-07-01 --rate-limit 120");
    let run = crashed.run();
    run.assert(
        run.code != Some(0),
        &format!("the {stage} stage was not interrupted (seed {seed})"),
    );
    let summary = last_summary(&dir);
    run.assert(
        summary["committed"] == false && summary["status"] == "failed",
        &format!("a crashed run's record does not say so: {summary}"),
    );

    if wipe {
        std::fs::remove_dir_all(dir.join("work")).unwrap();
    }
    let rerun = backup_command(&dir, &mock, dest, &bins).expect_success();
    rerun.assert(
        last_summary(&dir)["committed"] == true,
        "the re-run did not commit",
    );

    let archive = dir.join("archive");
    assert_conversations_match(&archive.join("conversations"), &mock.truth("conversations"));
    let events = archived_lines(
        &archive.join("logs/AUTH_LOG"),
        &[".ndjson", ".ndjson.gz", ".jsonl", ".gz"],
    );
    assert_ids_match(
        &events,
        &mock.truth("logs/AUTH_LOG"),
        "event_id",
        "AUTH_LOG events",
    );
    let audit = archived_lines(
        &archive.join("audit-logs"),
        &[".jsonl", ".jsonl.gz", ".ndjson"],
    );
    assert_ids_match(&audit, &mock.truth("audit_logs"), "id", "audit log entries");
    for area in [
        "conversations",
        "logs/AUTH_LOG",
        "logs/CONVERSATION_MESSAGE",
        "audit-logs",
    ] {
        dir.command(bins.join("manifest"))
            .arg("verify")
            .arg(archive.join(area))
            .expect_success();
    }
}

#[test]
fn kill_fetch_then_rerun() {
    crash_then_rerun("fetch", true);
}

#[test]
fn kill_partition_then_rerun() {
    crash_then_rerun("partition", false);
}

#[test]
fn kill_manifest_then_rerun() {
    crash_then_rerun("manifest", false);
}

#[test]
fn kill_ship_then_rerun() {
    crash_then_rerun("ship", true);
}
