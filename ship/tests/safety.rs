//! Nothing outside the archive is touched, nothing changed is reported as
//! kept, nothing corrupt is left behind: symlinks in folders, spools and
//! local destinations; a spooled copy older than the object at its key; a
//! vanished file; leftovers of killed runs; incomplete multipart uploads.

use crate::util::*;
use serde_json::{json, Value};
use std::os::unix::fs::symlink;
use testkit::Dir;

fn by_path<'a>(lines: &'a [Value], path: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["path"] == json!(path))
        .unwrap_or_else(|| panic!("no line for {path}: {lines:?}"))
}

#[test]
fn folder_mode_reports_symlinks_and_never_follows_them() {
    let moto = moto_with_bucket("links", false);
    let dir = Dir::new("ship-links");
    dir.write("review/a.pdf", "pdf");
    dir.write("secret/passwd", "root:x:0:0");
    symlink(dir.join("secret/passwd"), dir.join("review/link.txt")).unwrap();
    symlink(dir.join("secret"), dir.join("review/dirlink")).unwrap();
    let run = ship(&dir, &moto)
        .args(["review", "s3://links/r", "--prefix-template", ""])
        .args(["--summary", "s.json"])
        .expect_success();
    let lines = run.json_lines();
    assert_eq!(lines.len(), 3, "{}", run.report());
    assert_eq!(by_path(&lines, "a.pdf")["status"], json!("uploaded"));
    for link in ["link.txt", "dirlink"] {
        let l = by_path(&lines, link);
        assert_eq!(l["status"], json!("skipped"), "{l}");
        assert_eq!(l["error"], json!("symlink"), "{l}");
    }
    assert_eq!(keys(&moto, "links"), ["r/a.pdf"], "no link target shipped");
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(
        (s["symlinks"].as_u64(), s["uploaded"].as_u64()),
        (Some(2), Some(1)),
        "{s}"
    );

    // A file line whose path goes through a link inside its root: not followed either.
    let through = json!({"root": dir.join("review").to_string_lossy(), "path": "dirlink/passwd",
                         "bytes": 10, "sha256": sha256_hex(b"root:x:0:0")});
    let run = ship(&dir, &moto)
        .arg("s3://links/lines")
        .stdin(format!("{through}\n"))
        .expect_success();
    let l = &run.json_lines()[0];
    assert_eq!(
        (l["status"].as_str(), l["error"].as_str()),
        (Some("skipped"), Some("symlink")),
        "{l}"
    );
    assert_eq!(keys(&moto, "links"), ["r/a.pdf"]);
}

#[test]
fn drain_never_follows_or_deletes_through_a_symlink() {
    let moto = moto_with_bucket("drainlinks", false);
    let dir = Dir::new("ship-drain-links");
    dir.write("spool/chat/a.json", "spooled");
    dir.write("outside/keep.json", "not the spool's");
    dir.write("outside/other.json", "nor this");
    symlink(dir.join("outside"), dir.join("spool/chat/dir")).unwrap();
    symlink(
        dir.join("outside/other.json"),
        dir.join("spool/chat/file.json"),
    )
    .unwrap();
    let run = ship(&dir, &moto)
        .args(["s3://drainlinks", "--drain", "spool"])
        .expect_success();
    let lines = run.json_lines();
    assert_eq!(by_path(&lines, "chat/a.json")["status"], json!("uploaded"));
    for link in ["chat/dir", "chat/file.json"] {
        assert_eq!(
            by_path(&lines, link)["error"],
            json!("symlink"),
            "{}",
            run.report()
        );
    }
    assert_eq!(keys(&moto, "drainlinks"), ["chat/a.json"]);
    assert_eq!(
        dir.read("outside/keep.json"),
        "not the spool's",
        "outside the spool: untouched"
    );
    assert_eq!(dir.read("outside/other.json"), "nor this");
    assert!(
        !dir.join("spool/chat/a.json").exists(),
        "the uploaded file is drained"
    );
    assert!(
        std::fs::symlink_metadata(dir.join("spool/chat/dir")).is_ok(),
        "the link itself is left for a human"
    );
}

#[test]
fn a_symlink_inside_a_local_destination_is_never_written_through() {
    let dir = Dir::new("ship-local-links");
    dir.write("outside/.keep", "");
    std::fs::create_dir_all(dir.join("out")).unwrap();
    symlink(dir.join("outside"), dir.join("out/u")).unwrap();
    symlink(dir.join("outside/b.json"), dir.join("out/b.json")).unwrap();
    let input = format!(
        "{}\n{}\n{}\n",
        file_line(&dir, "d", "u/a.json", b"alpha"),
        file_line(&dir, "d", "b.json", b"beta"),
        file_line(&dir, "d", "c.json", b"gamma"),
    );
    let run = dir
        .command(BIN)
        .args(["out", "--overwrite"])
        .stdin(input)
        .expect_code(1);
    let lines = run.json_lines();
    for p in ["u/a.json", "b.json"] {
        let l = by_path(&lines, p);
        assert_eq!(l["status"], json!("failed"), "{l}");
        assert!(l["error"].as_str().unwrap().contains("symlink"), "{l}");
    }
    assert_eq!(by_path(&lines, "c.json")["status"], json!("uploaded"));
    assert_eq!(dir.files("outside"), [".keep"], "nothing written outside");
    assert!(std::fs::symlink_metadata(dir.join("out/b.json"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(dir.read("out/c.json"), "gamma");
}

#[test]
fn changed_content_under_an_existing_local_key_is_a_conflict() {
    let dir = Dir::new("ship-local-conflict");
    let v1 = file_line(&dir, "d", "day.json", b"one");
    dir.command(BIN)
        .arg("out")
        .stdin(v1.clone())
        .expect_success();
    let mut v2: Value = serde_json::from_str(&file_line(&dir, "d", "day.json", b"two!")).unwrap();
    v2["changed"] = json!(true);
    let run = dir
        .command(BIN)
        .arg("out")
        .stdin(v2.to_string())
        .expect_code(1);
    let l = &run.json_lines()[0];
    assert_eq!(l["status"], json!("conflict"), "{l}");
    assert_eq!(l["changed"], json!(true));
    assert_eq!(dir.read("out/day.json"), "one");
    run.assert(run.stderr.contains("d/day.json"), "names the file");
}

#[test]
fn a_spooled_copy_older_than_the_object_is_stale_and_kept() {
    let moto = moto_with_bucket("nostale", false);
    let dir = Dir::new("ship-stale");
    let dead = format!("http://127.0.0.1:{}", testkit::free_port());
    let old = file_line(&dir, "d", "day.json", b"old copy\n");
    ship(&dir, &moto)
        .args([
            "s3://nostale/p",
            "--endpoint-url",
            &dead,
            "--max-attempts",
            "1",
        ])
        .args(["--fallback-dir", "spool"])
        .stdin(old)
        .expect_code(1);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let new = file_line(&dir, "d", "day.json", b"the newer version\n");
    ship(&dir, &moto)
        .arg("s3://nostale/p")
        .stdin(new)
        .expect_success();
    for extra in [None, Some("--update"), Some("--overwrite")] {
        let mut cmd = ship(&dir, &moto);
        cmd.args(["s3://nostale", "--drain", "spool"]);
        if let Some(flag) = extra {
            cmd.arg(flag);
        }
        let run = cmd.expect_code(1);
        let l = &run.json_lines()[0];
        assert_eq!(l["status"], json!("stale"), "{extra:?}: {}", run.report());
        assert!(
            l["spooled_at"].is_string() && l["error"].as_str().unwrap().contains("newer"),
            "{l}"
        );
        assert_eq!(
            get_bytes(&moto, "nostale", "p/day.json"),
            b"the newer version\n"
        );
        assert_eq!(
            dir.read("spool/p/day.json"),
            "old copy\n",
            "kept in the spool"
        );
    }
}

#[test]
fn a_vanished_file_is_an_input_data_error() {
    let moto = moto_with_bucket("gone", false);
    let dir = Dir::new("ship-vanished");
    let good = file_line(&dir, "d", "good.json", b"here");
    let gone = file_line(&dir, "d", "gone.json", b"soon gone");
    std::fs::remove_file(dir.join("d/gone.json")).unwrap();
    let run = ship(&dir, &moto)
        .arg("s3://gone")
        .stdin(format!("{good}\n{gone}\n"))
        .expect_code(3);
    let lines = run.json_lines();
    let l = by_path(&lines, "gone.json");
    assert_eq!(l["status"], json!("failed"));
    assert!(l["error"].as_str().unwrap().contains("vanished"), "{l}");
    assert_eq!(keys(&moto, "gone"), ["good.json"]);
}

#[test]
fn leftovers_of_dead_processes_are_removed_at_start() {
    let dir = Dir::new("ship-leftovers");
    // pid 2^22 + 1 is above Linux's largest pid: never alive.
    let dead = 4_194_305u32;
    let live = std::process::id();
    dir.write(&format!("out/u/.a.json.tmp-{dead}-0"), "half");
    dir.write(&format!("out/u/.b.json.tmp-{live}-0"), "a live writer's");
    dir.write("out/u/kept.json", "a final name");
    let line = file_line(&dir, "d", "u/a.json", b"alpha");
    let run = dir.command(BIN).arg("out").stdin(line).expect_success();
    let files = dir.files("out");
    assert_eq!(
        files,
        [
            format!("u/.b.json.tmp-{live}-0"),
            "u/a.json".into(),
            "u/kept.json".into()
        ],
        "{}",
        run.report()
    );
    run.assert(
        run.stderr.contains("removed 1 leftover"),
        "says what it removed",
    );
}

#[test]
fn abort_incomplete_lists_first_then_aborts_under_the_prefix_only() {
    let moto = moto_with_bucket("leftover", false);
    let dir = Dir::new("ship-abort-incomplete");
    moto.python(
        "s3.create_multipart_upload(Bucket='leftover', Key='p/big.bin')\n\
         s3.create_multipart_upload(Bucket='leftover', Key='other/x.bin')",
    );
    let cmd = |args: &[&str]| {
        let mut c = dir.command(BIN);
        moto.configure(&mut c);
        c.arg("abort-incomplete").args(args);
        c
    };
    // moto dates every upload 2010-11-10: older than any default, and younger
    // than a million hours.
    let run = cmd(&["s3://leftover/p", "--older-than-hours", "1000000"]).expect_success();
    assert!(
        run.json_lines().is_empty(),
        "younger than the limit: left alone"
    );
    let run = cmd(&["s3://leftover/p", "--older-than-hours", "0"]).expect_success();
    let lines = run.json_lines();
    assert_eq!(lines.len(), 1, "{}", run.report());
    assert_eq!(
        (lines[0]["key"].as_str(), lines[0]["status"].as_str()),
        (Some("p/big.bin"), Some("planned"))
    );
    assert_eq!(
        open_uploads(&moto, "leftover").len(),
        2,
        "a dry run by default"
    );
    let run = cmd(&[
        "s3://leftover/p",
        "--older-than-hours",
        "0",
        "--apply",
        "--summary",
        "s.json",
    ])
    .expect_success();
    assert_eq!(run.json_lines()[0]["status"], json!("aborted"));
    assert_eq!(open_uploads(&moto, "leftover"), ["other/x.bin"]);
    let s: Value = serde_json::from_str(&dir.read("s.json")).unwrap();
    assert_eq!(
        (s["aborted"].as_u64(), s["tool"].as_str()),
        (Some(1), Some("ship abort-incomplete"))
    );
    cmd(&["out/local"]).expect_code(2);
}

#[test]
fn with_put_only_permission_a_changed_line_is_a_conflict_not_skipped() {
    // One bucket and one user are created before moto enforces IAM.
    let moto = testkit::MotoServer::start_with_iam(4);
    moto.create_bucket("putonly", false);
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["s3:PutObject"],"Resource":"arn:aws:s3:::putonly/*"}]}"#;
    let (key, secret) = moto.iam_user("archiver", policy);
    let dir = Dir::new("ship-put-only");
    let run = |line: &str, code: i32| {
        ship(&dir, &moto)
            .env("AWS_ACCESS_KEY_ID", &key)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .arg("s3://putonly/p")
            .stdin(format!("{line}\n"))
            .expect_code(code)
    };
    let v1 = file_line(&dir, "d", "day.json", b"first\n");
    assert_eq!(run(&v1, 0).json_lines()[0]["status"], json!("uploaded"));
    // Unchanged, and not comparable without s3:GetObject: skipped, and said so.
    let again = run(&v1, 0);
    let l = &again.json_lines()[0];
    assert_eq!(l["status"], json!("skipped"), "{}", again.report());
    assert!(l["error"].as_str().unwrap().contains("not compared"), "{l}");
    // Marked changed by its producer: a conflict, exit 1, the file named.
    let mut v2: Value =
        serde_json::from_str(&file_line(&dir, "d", "day.json", b"second\n")).unwrap();
    v2["changed"] = json!(true);
    let run2 = run(&v2.to_string(), 1);
    assert_eq!(
        run2.json_lines()[0]["status"],
        json!("conflict"),
        "{}",
        run2.report()
    );
    run2.assert(run2.stderr.contains("d/day.json"), "names the file");
}

#[test]
fn a_damaged_spooled_copy_is_refused_and_kept() {
    let moto = moto_with_bucket("damaged", false);
    let dir = Dir::new("ship-damaged-spool");
    let dead = format!("http://127.0.0.1:{}", testkit::free_port());
    let line = file_line(&dir, "d", "day.json", b"as written\n");
    ship(&dir, &moto)
        .args([
            "s3://damaged/p",
            "--endpoint-url",
            &dead,
            "--max-attempts",
            "1",
        ])
        .args(["--fallback-dir", "spool"])
        .stdin(line)
        .expect_code(1);
    dir.write("spool/p/day.json", "bit rotted\n");
    let run = ship(&dir, &moto)
        .args(["s3://damaged", "--drain", "spool"])
        .expect_code(3);
    let l = &run.json_lines()[0];
    assert_eq!(l["status"], json!("failed"), "{l}");
    assert!(l["error"].as_str().unwrap().contains("SHA-256"), "{l}");
    assert!(keys(&moto, "damaged").is_empty(), "nothing uploaded");
    assert_eq!(
        dir.read("spool/p/day.json"),
        "bit rotted\n",
        "kept for a human"
    );
}
