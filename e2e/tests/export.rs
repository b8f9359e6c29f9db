//! The folder export: a finished folder goes to S3 under a timestamped
//! prefix with its manifest; with S3 down it is kept as one ZIP, exit 1,
//! and `ship --drain` uploads it later.

use crate::common::*;
use testkit::{free_port, Dir, MotoServer};

fn review_folder(dir: &Dir) -> std::path::PathBuf {
    dir.write("q3-review/memo.txt", "privileged and confidential\n");
    dir.write("q3-review/exhibits/a.csv", "id,amount\n1,10.50\n");
    dir.join("q3-review")
}

#[test]
fn folder_goes_under_a_timestamped_prefix_with_its_manifest() {
    let dir = Dir::new("export");
    let s3 = MotoServer::start();
    s3.create_bucket("exports", false);
    let folder = review_folder(&dir);
    let mut cmd = dir.command(repo_root().join("scripts/export-folder.sh"));
    s3.configure(&mut cmd);
    cmd.env("BIN_DIR", bin_dir())
        .arg(&folder)
        .args(["--dest", "s3://exports/reviews"]);
    cmd.arg("--fallback-dir").arg(dir.join("fallback"));
    let run = cmd.expect_success();
    let keys = s3.python(
        "print('\\n'.join(sorted(o['Key'] for o in s3.list_objects_v2(Bucket='exports')['Contents'])))",
    );
    let keys: Vec<&str> = keys.lines().collect();
    run.assert(
        keys.len() == 4,
        &format!("expected 2 files and 2 manifests, got {keys:?}"),
    );
    let prefix = keys[0]
        .rsplit_once("_q3-review/")
        .map(|(p, _)| p)
        .unwrap_or("");
    run.assert(
        prefix.len() == "reviews/20261123_020000".len() && prefix.starts_with("reviews/20"),
        &format!("keys not under reviews/YYYYMMDD_HHMMSS_q3-review/: {keys:?}"),
    );
    for name in [
        "memo.txt",
        "exhibits/a.csv",
        "manifest-sha256.txt",
        "manifest.json",
    ] {
        run.assert(
            keys.iter()
                .any(|k| k.ends_with(&format!("_q3-review/{name}"))),
            &format!("{name} missing: {keys:?}"),
        );
    }
}

#[test]
fn s3_down_keeps_a_zip_then_drain_uploads_it() {
    let dir = Dir::new("export-down");
    let folder = review_folder(&dir);
    let fallback = dir.join("fallback");
    let mut cmd = dir.command(repo_root().join("scripts/export-folder.sh"));
    cmd.env("BIN_DIR", bin_dir())
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", free_port()),
        )
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_REGION", "us-east-1")
        .arg(&folder)
        .args(["--dest", "s3://exports/reviews", "--fallback-dir"])
        .arg(&fallback);
    let run = cmd.expect_code(1);
    let zips: Vec<_> = std::fs::read_dir(&fallback)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    run.assert(
        zips.len() == 1 && zips[0].extension().is_some_and(|e| e == "zip"),
        &format!("no single ZIP in the fallback dir: {zips:?}"),
    );
    run.assert(
        run.stderr.contains("ship --drain"),
        "the message does not say how to drain",
    );

    let s3 = MotoServer::start();
    s3.create_bucket("exports", false);
    let mut drain = dir.command(bin_dir().join("ship"));
    s3.configure(&mut drain);
    drain
        .arg("--drain")
        .arg(&zips[0])
        .arg("s3://exports")
        .expect_success();
    let keys = s3.python("print(len(s3.list_objects_v2(Bucket='exports')['Contents']))");
    assert_eq!(keys.trim(), "4", "the drained export is not complete in S3");
}
