//! Nothing outside the root is touched, nothing changed is recorded as
//! kept, nothing is created where it should not be: the real binary on
//! real trees, with GNU `sha256sum -c` and `manifest verify` judging what
//! is left.

use crate::support::{file_line, sh, sha, BIN};
use serde_json::{json, Value};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::process::{Command, Stdio};
use testkit::Dir;

/// The paths a text manifest lists.
fn listed(dir: &Dir, manifest: &str) -> Vec<String> {
    dir.read(manifest)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l[66..].to_string())
        .collect()
}

fn sha256sum_ok(dir: &Dir, root: &str) -> bool {
    sh(
        &dir.join(root),
        "sha256sum -c --strict --quiet manifest-sha256.txt",
    )
    .status
    .success()
}

fn summary(dir: &Dir, name: &str) -> Value {
    serde_json::from_str(&dir.read(name)).unwrap()
}

/// A tree with two files and links of every kind: to a file outside the
/// root, to a directory outside, to a file inside, to a directory inside.
fn tree_with_links(name: &str) -> Dir {
    let dir = Dir::new(name);
    dir.write("tree/a.txt", "a\n");
    dir.write("tree/sub/b.txt", "b\n");
    dir.write("secret.txt", "outside the root\n");
    symlink(dir.join("secret.txt"), dir.join("tree/secret")).unwrap();
    symlink("/etc", dir.join("tree/etc")).unwrap();
    symlink("a.txt", dir.join("tree/inner")).unwrap();
    symlink("sub", dir.join("tree/sub-link")).unwrap();
    dir
}

#[test]
fn links_are_reported_and_counted_never_followed_out_of_the_root() {
    let dir = tree_with_links("safety-links");
    let run = dir
        .command(BIN)
        .args(["--root", "tree", "--summary", "s.json"])
        .expect_success();
    let paths: Vec<String> = run
        .json_lines()
        .iter()
        .map(|l| l["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        paths,
        vec!["a.txt", "sub/b.txt", "manifest-sha256.txt", "manifest.json"],
        "{}",
        run.report()
    );
    for link in ["etc", "inner", "secret", "sub-link"] {
        let line = json!({"root": "tree", "path": link, "status": "skipped", "error": "symlink"});
        run.assert(
            run.stderr.contains(&format!("manifest: skipped: {line}")),
            &format!("{link} reported on stderr"),
        );
    }
    assert_eq!(summary(&dir, "s.json")["skipped"], 4);
    assert_eq!(
        listed(&dir, "tree/manifest-sha256.txt"),
        vec!["a.txt", "sub/b.txt"]
    );
    assert!(!dir.read("tree/manifest.json").contains("outside"));
    assert!(sha256sum_ok(&dir, "tree"));
    // verify agrees: the links are skipped there too, not differences.
    let run = dir.command(BIN).args(["verify", "tree"]).expect_success();
    let skipped: Vec<Value> = run
        .json_lines()
        .iter()
        .filter(|l| l["status"] == "skipped")
        .map(|l| l["path"].clone())
        .collect();
    assert_eq!(
        skipped,
        vec!["etc", "inner", "secret", "sub-link"],
        "{}",
        run.report()
    );

    // Allowed inside the root: the link to a file in it is listed (with the
    // file's digest); the others stay skipped.
    let run = dir
        .command(BIN)
        .args([
            "--root",
            "tree",
            "--follow-internal-links",
            "--accept-changes",
        ])
        .args(["--summary", "s.json"])
        .expect_success();
    assert_eq!(
        listed(&dir, "tree/manifest-sha256.txt"),
        vec!["a.txt", "inner", "sub/b.txt"],
        "{}",
        run.report()
    );
    assert!(dir
        .read("tree/manifest-sha256.txt")
        .contains(&format!("{}  inner", sha(b"a\n"))));
    assert_eq!(summary(&dir, "s.json")["skipped"], 3);
    assert!(sha256sum_ok(&dir, "tree"));
    dir.command(BIN).args(["verify", "tree"]).expect_success();
}

#[test]
fn a_line_naming_a_link_or_a_path_through_one_fails() {
    let dir = tree_with_links("safety-link-lines");
    let passwd = std::fs::read("/etc/passwd").unwrap();
    let good = file_line(&dir, "tree", "a.txt", json!({}));
    let lines = [
        good.clone(),
        json!({"root": "tree", "path": "secret", "bytes": 17, "sha256": sha(b"outside the root\n")})
            .to_string(),
        json!({"root": "tree", "path": "etc/passwd", "bytes": passwd.len(), "sha256": sha(&passwd)})
            .to_string(),
    ];
    let run = dir
        .command(BIN)
        .stdin(lines.join("\n") + "\n")
        .expect_code(1);
    let out = run.json_lines();
    assert_eq!(out[0].to_string(), good, "{}", run.report());
    assert_eq!(out.len(), 3, "only the good line and the manifests");
    for name in ["tree/secret", "tree/etc/passwd"] {
        run.assert(
            run.stderr.contains(&format!("{name}: a symbolic link")),
            &format!("{name} named"),
        );
    }
    assert_eq!(
        listed(&dir, "tree/manifest-sha256.txt"),
        vec!["a.txt", "sub/b.txt"]
    );
    assert!(sha256sum_ok(&dir, "tree"));
}

#[test]
fn a_file_that_changes_while_it_is_hashed_fails_and_is_not_recorded() {
    let dir = Dir::new("safety-unstable");
    dir.write("tree/small.txt", "small\n");
    // Large enough that hashing outlasts several appends.
    dir.write("tree/big.bin", vec![5u8; 64 * 1024 * 1024]);
    let big = dir.join("tree/big.bin");
    let mut writer = Command::new("sh")
        .arg("-c")
        .arg("while :; do printf x >> \"$1\"; sleep 0.002; done")
        .arg("sh")
        .arg(&big)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the writer has appended at least once.
    while std::fs::metadata(&big).unwrap().len() == 64 * 1024 * 1024 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let run = dir
        .command(BIN)
        .args(["--root", "tree", "--summary", "s.json"])
        .run();
    writer.kill().unwrap();
    writer.wait().unwrap();
    assert_eq!(run.code, Some(1), "{}", run.report());
    run.assert(
        run.stderr
            .contains("big.bin changed while it was hashed, twice"),
        "the change is named",
    );
    let paths: Vec<Value> = run.json_lines().iter().map(|l| l["path"].clone()).collect();
    assert_eq!(
        paths,
        vec![
            json!("small.txt"),
            json!("manifest-sha256.txt"),
            json!("manifest.json")
        ]
    );
    assert_eq!(summary(&dir, "s.json")["failed"], 1);
    // What was recorded holds; the file that kept changing is not vouched for.
    assert_eq!(listed(&dir, "tree/manifest-sha256.txt"), vec!["small.txt"]);
    assert!(sha256sum_ok(&dir, "tree"));
    let run = dir.command(BIN).args(["verify", "tree"]).expect_code(1);
    assert_eq!(run.json_lines()[0]["status"], "extra");
    assert_eq!(run.json_lines()[0]["path"], "big.bin");
}

#[test]
fn a_file_that_changes_once_while_it_is_hashed_is_hashed_again() {
    let dir = Dir::new("safety-once");
    dir.write("tree/big.bin", vec![3u8; 64 * 1024 * 1024]);
    let child = Command::new(BIN)
        .args(["--root", "tree"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once manifest has the file open (it hashes it right away), append
    // to it, once.
    let fds = format!("/proc/{}/fd", child.id());
    let opened = || {
        std::fs::read_dir(&fds)
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.ends_with("tree/big.bin")))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !opened() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    // Past the stat that follows the open, well before the end of the read.
    std::thread::sleep(std::time::Duration::from_millis(2));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("tree/big.bin"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"appended").unwrap();
    drop(f);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("big.bin changed while it was hashed")
            && stderr.contains("hashing it again"),
        "{stderr}"
    );
    // The second digest is of the file as it now is.
    assert!(sha256sum_ok(&dir, "tree"));
    dir.command(BIN).args(["verify", "tree"]).expect_success();
}

#[test]
fn a_file_renamed_over_while_it_is_hashed_fails_too() {
    let dir = Dir::new("safety-renamed");
    dir.write("tree/small.txt", "small\n");
    // Sparse files: made in no time, yet 64 MiB to hash (about 40 ms).
    let sparse = std::fs::File::create(dir.join("tree/log.bin")).unwrap();
    sparse.set_len(64 << 20).unwrap();
    drop(sparse);
    // A new file of the same size is renamed over log.bin again and again,
    // every few milliseconds, so both attempts at hashing it see a
    // replacement. (Copies of a 4 MiB file took about as long as hashing
    // it on a fast machine: the hash often fell between two replacements.
    // Hard links were no better: the file being hashed came back under
    // its name with a new ctime.)
    let mut writer = Command::new("sh")
        .arg("-c")
        .arg("while :; do truncate -s 64M tmp.bin && mv -f tmp.bin tree/log.bin; done")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let run = dir.command(BIN).args(["--root", "tree"]).run();
    writer.kill().unwrap();
    writer.wait().unwrap();
    assert_eq!(run.code, Some(1), "{}", run.report());
    run.assert(
        run.stderr
            .contains("log.bin changed while it was hashed, twice")
            && run.stderr.contains("replaced by another file"),
        "the replacement is named",
    );
    assert_eq!(listed(&dir, "tree/manifest-sha256.txt"), vec!["small.txt"]);
    assert!(sha256sum_ok(&dir, "tree"));
}

/// Run `manifest` so that file permissions apply: as root, without the
/// capabilities that bypass them (None when that is not possible here).
fn run_without_override(dir: &Dir, args: &[&str]) -> Option<testkit::Run> {
    let root = sh(dir.path(), "id -u").stdout == b"0\n";
    if !root {
        return Some(dir.command(BIN).args(args).run());
    }
    let mut cmd = dir.command("setpriv");
    cmd.args([
        "--bounding-set=-dac_override,-dac_read_search",
        "--inh-caps=-dac_override,-dac_read_search",
        BIN,
    ])
    .args(args);
    let run = cmd.run();
    let probe = sh(
        dir.path(),
        "setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-dac_override,-dac_read_search ls tree/locked",
    );
    if probe.status.success() {
        return None;
    }
    Some(run)
}

#[test]
fn an_unreadable_subdirectory_is_named_and_the_rest_manifested() {
    let dir = Dir::new("safety-chmod");
    dir.write("tree/a.txt", "a\n");
    dir.write("tree/z/b.txt", "b\n");
    dir.write("tree/locked/secret.txt", "s\n");
    let locked = dir.join("tree/locked");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let run = run_without_override(&dir, &["--root", "tree", "--summary", "s.json"]);
    let verified = run_without_override(&dir, &["verify", "tree"]);
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let Some(run) = run else {
        eprintln!("running as root and permissions cannot be made to apply: chmod 000 does not block reads here; skipping the assertions");
        return;
    };
    assert_eq!(run.code, Some(1), "{}", run.report());
    run.assert(
        run.stderr.contains("listing") && run.stderr.contains("tree/locked"),
        "the directory is named",
    );
    assert_eq!(
        listed(&dir, "tree/manifest-sha256.txt"),
        vec!["a.txt", "z/b.txt"]
    );
    assert!(sha256sum_ok(&dir, "tree"));
    let s = summary(&dir, "s.json");
    assert_eq!(
        (s["status"].clone(), s["files"].clone()),
        (json!("partial"), json!(2))
    );

    // verify names the directory it cannot read, as a difference.
    let verified = verified.expect("as able as the run before");
    assert_eq!(verified.code, Some(1), "{}", verified.report());
    let lines = verified.json_lines();
    assert_eq!(
        (lines[0]["status"].clone(), lines[0]["path"].clone()),
        (json!("unreadable"), json!("locked"))
    );
}

#[test]
fn verify_reports_a_missing_manifest_json_the_text_manifest_names() {
    let dir = Dir::new("safety-json-gone");
    dir.write("tree/a.txt", "a\n");
    dir.command(BIN).args(["--root", "tree"]).expect_success();
    assert!(dir
        .read("tree/manifest-sha256.txt")
        .starts_with("# companion: manifest.json\n"));
    std::fs::remove_file(dir.join("tree/manifest.json")).unwrap();
    let run = dir.command(BIN).args(["verify", "tree"]).expect_code(1);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 1, "{}", run.report());
    assert_eq!(
        (lines[0]["status"].clone(), lines[0]["path"].clone()),
        (json!("missing"), json!("manifest.json"))
    );
    assert!(
        sha256sum_ok(&dir, "tree"),
        "sha256sum skips the comment line"
    );
    // A plain sha256sum manifest names no companion: nothing is missing.
    dir.write("plain/a.txt", "a\n");
    assert!(
        sh(&dir.join("plain"), "sha256sum a.txt > manifest-sha256.txt")
            .status
            .success()
    );
    dir.command(BIN).args(["verify", "plain"]).expect_success();
}

#[test]
fn a_rewrite_that_would_change_an_edited_manifest_is_refused() {
    let dir = Dir::new("safety-refuse");
    dir.write("tree/a.txt", "a\n");
    dir.write("tree/b.txt", "b\n");
    dir.command(BIN).args(["--root", "tree"]).expect_success();
    // Someone removes b's line from the text manifest.
    let edited: String = dir
        .read("tree/manifest-sha256.txt")
        .lines()
        .filter(|l| !l.ends_with("  b.txt"))
        .map(|l| format!("{l}\n"))
        .collect();
    dir.write("tree/manifest-sha256.txt", &edited);
    let json_before = dir.read("tree/manifest.json");
    let run = dir
        .command(BIN)
        .args(["--root", "tree", "--summary", "s.json"])
        .expect_code(1);
    run.assert(
        run.stderr
            .contains("manifest.json lists b.txt, which manifest-sha256.txt does not")
            && run.stderr.contains("--accept-changes"),
        "the refusal names the file and the way out",
    );
    run.assert(
        run.json_lines().is_empty(),
        "no line passed on for a refused root",
    );
    assert_eq!(
        dir.read("tree/manifest-sha256.txt"),
        edited,
        "left as it was"
    );
    assert_eq!(dir.read("tree/manifest.json"), json_before);
    assert_eq!(summary(&dir, "s.json")["refused"], 1);
    // With --accept-changes it is rewritten from what is there.
    dir.command(BIN)
        .args(["--root", "tree", "--accept-changes"])
        .expect_success();
    assert_eq!(
        listed(&dir, "tree/manifest-sha256.txt"),
        vec!["a.txt", "b.txt"]
    );
    assert!(sha256sum_ok(&dir, "tree"));
    dir.command(BIN).args(["verify", "tree"]).expect_success();

    // A text manifest that no longer parses: its lines are unknown, so a
    // rewrite could drop some. Refused too.
    let damaged = dir.read("tree/manifest-sha256.txt") + "not a checksum line\n";
    dir.write("tree/manifest-sha256.txt", &damaged);
    let run = dir.command(BIN).args(["--root", "tree"]).expect_code(1);
    run.assert(
        run.stderr.contains("manifest-sha256.txt cannot be parsed"),
        "named",
    );
    assert_eq!(
        dir.read("tree/manifest-sha256.txt"),
        damaged,
        "left as it was"
    );
    dir.command(BIN)
        .args(["--root", "tree", "--accept-changes"])
        .expect_success();
    assert!(sha256sum_ok(&dir, "tree"));
}

#[test]
fn a_root_that_does_not_exist_is_a_usage_error_and_nothing_is_created() {
    let dir = Dir::new("safety-noroot");
    let run = dir
        .command(BIN)
        .args(["--root", "does/not/exist", "--summary", "s.json"])
        .expect_code(2);
    run.assert(
        run.stderr
            .contains("--root does/not/exist: no such directory"),
        "named",
    );
    assert!(!dir.join("does").exists(), "the root was created");
    assert_eq!(summary(&dir, "s.json")["exit_code"], 2);
    dir.write("file", "x");
    dir.command(BIN).args(["--root", "file"]).expect_code(2);
    // A line whose root is not there: the line fails, nothing is created.
    let line = json!({"root": "gone", "path": "a.txt", "bytes": 1, "sha256": sha(b"x")});
    let run = dir
        .command(BIN)
        .stdin(line.to_string() + "\n")
        .expect_code(1);
    run.assert(run.stderr.contains("gone: no such directory"), "named");
    assert!(!dir.join("gone").exists(), "the line's root was created");
}

#[test]
fn system_directories_need_an_explicit_flag() {
    let dir = Dir::new("safety-system");
    for root in ["/", "/etc", "/usr/share", "/proc"] {
        let run = dir
            .command(BIN)
            .args(["--root", root, "--dry-run"])
            .expect_code(2);
        run.assert(
            run.stderr.contains("--allow-system-root"),
            "the flag is named",
        );
        run.assert(run.stdout.is_empty(), "nothing hashed");
    }
    let line = json!({"root": "/", "path": "etc/hostname", "bytes": 1, "sha256": ""});
    let run = dir
        .command(BIN)
        .stdin(line.to_string() + "\n")
        .expect_code(3);
    run.assert(
        run.stderr
            .contains("stdin:1: root / is the system directory /"),
        "the line is named",
    );
    // Asked for explicitly (a dry run writes nothing there).
    let doc = [
        "/usr/share/doc/coreutils",
        "/usr/share/doc/bash",
        "/etc/apt",
    ]
    .into_iter()
    .find(|d| std::path::Path::new(d).is_dir())
    .expect("a small system directory");
    let run = dir
        .command(BIN)
        .args(["--root", doc, "--dry-run", "--allow-system-root"])
        .expect_success();
    run.assert(
        run.json_lines().iter().any(|l| l["status"] == "planned"),
        "manifests planned",
    );
}

#[test]
fn temporaries_of_dead_processes_are_swept_but_not_in_a_dry_run() {
    let dir = Dir::new("safety-sweep");
    dir.write("tree/a.txt", "a\n");
    dir.write("tree/.manifest-sha256.txt.tmp-999999999-0", "half");
    dir.write("tree/sub/.x.json.tmp-999999998-4", "half");
    let mine = format!("tree/.manifest.json.tmp-{}-1", std::process::id());
    dir.write(&mine, "live");
    dir.command(BIN)
        .args(["--root", "tree", "--dry-run"])
        .expect_success();
    assert_eq!(dir.files("tree").len(), 4, "a dry run touched something");
    dir.command(BIN)
        .args(["--root", "tree", "--summary", "s.json"])
        .expect_success();
    assert_eq!(summary(&dir, "s.json")["swept"], 2);
    assert_eq!(
        dir.files("tree"),
        vec![
            mine[5..].to_string(),
            "a.txt".into(),
            "manifest-sha256.txt".into(),
            "manifest.json".into()
        ]
    );
    assert_eq!(listed(&dir, "tree/manifest-sha256.txt"), vec!["a.txt"]);

    // A grouped manifest walks nothing: the directory is swept all the same.
    dir.write("bill/.manifest-2025-11.json.tmp-999999999-2", "half");
    dir.write("bill/x.parquet", "x");
    let line = file_line(&dir, "bill", "x.parquet", json!({"period": "2025-11"}));
    dir.command(BIN)
        .args(["--group-by", "period", "--summary", "s.json"])
        .stdin(line + "\n")
        .expect_success();
    assert_eq!(summary(&dir, "s.json")["swept"], 1);
    assert!(!dir
        .join("bill/.manifest-2025-11.json.tmp-999999999-2")
        .exists());
}
