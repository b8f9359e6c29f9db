//! Configuration failures (issue 18): a missing bucket, denied access and
//! missing or rejected credentials are ONE line on stderr and exit 2, in
//! `ship`, `ship lifecycle` and `manifest verify` (archive-s3's
//! `preflight`): never a line per file, never exit 4, never an SDK dump.

use crate::util::*;
use serde_json::json;
use testkit::{Dir, MotoServer, Run, TestCommand};

/// The one line a configuration failure prints; short, no SDK debug dump.
fn one_line(run: &Run) -> String {
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {}", run.report());
    let line = lines[0].to_string();
    assert!(line.len() < 420, "short: {line}");
    for dump in ["Response {", "Error {", "raw:", "headers"] {
        assert!(!line.contains(dump), "no SDK debug output: {line}");
    }
    assert!(!line.contains("after retries"), "{line}");
    line
}

/// Five file lines, so a per-file message would show five times.
fn five_files(dir: &Dir) -> String {
    (0..5)
        .map(|i| file_line(dir, "d", &format!("f{i}.json"), &bytes(100, i)) + "\n")
        .collect()
}

/// `ship lifecycle` and `manifest verify` against moto, configured like `ship`.
fn tool(dir: &Dir, moto: &MotoServer, bin: &std::path::Path, args: &[&str]) -> TestCommand {
    let mut c = dir.command(bin);
    moto.configure(&mut c);
    c.args(args);
    c
}

/// `lifecycle` or `verify`.
type Tool = fn(&Dir, &MotoServer, &str) -> TestCommand;

fn lifecycle(dir: &Dir, moto: &MotoServer, url: &str) -> TestCommand {
    let args = [
        "lifecycle",
        url,
        "--expire-days",
        "30",
        "--max-attempts",
        "2",
    ];
    let mut c = tool(dir, moto, BIN.as_ref(), &args);
    c.args(["--retry-base-ms", "10"]);
    c
}

fn verify(dir: &Dir, moto: &MotoServer, url: &str) -> TestCommand {
    let manifest = testkit::workspace_bin("manifest");
    tool(dir, moto, &manifest, &["verify", url])
}

#[test]
fn a_missing_bucket_is_one_line_and_exit_2_in_each_tool() {
    let moto = MotoServer::start();
    let dir = Dir::new("ship-no-bucket");
    let run = ship(&dir, &moto)
        .args(["s3://nosuch/p", "--jobs", "4"])
        .stdin(five_files(&dir))
        .expect_code(2);
    let line = one_line(&run);
    let want = "bucket \"nosuch\" does not exist (NoSuchBucket)";
    assert!(
        line.contains(want) && line.contains(&moto.endpoint()),
        "{line}"
    );
    assert!(
        line.contains("aws s3 mb s3://nosuch"),
        "says what to do: {line}"
    );
    assert!(
        run.stdout.is_empty(),
        "nothing was shipped: {}",
        run.report()
    );
    for mut cmd in [
        lifecycle(&dir, &moto, "s3://nosuch/p"),
        verify(&dir, &moto, "s3://nosuch/p"),
    ] {
        let run = cmd.expect_code(2);
        assert!(one_line(&run).contains(want), "{}", run.report());
    }
}

#[test]
fn denied_access_is_one_line_and_exit_2_in_each_tool() {
    // Bucket and two users are created before moto enforces IAM (7 calls).
    let moto = MotoServer::start_with_iam(7);
    moto.create_bucket("guarded", false);
    let elsewhere = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::other/*"}]}"#;
    let (nobody, nobody_secret) = moto.iam_user("nobody", elsewhere);
    let put_only = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["s3:PutObject"],"Resource":"arn:aws:s3:::guarded/*"}]}"#;
    let (writer, writer_secret) = moto.iam_user("writer", put_only);
    let dir = Dir::new("ship-denied");
    let as_user = |mut c: TestCommand, key: &str, secret: &str| {
        c.env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret);
        c
    };
    let run = as_user(ship(&dir, &moto), &nobody, &nobody_secret)
        .args(["s3://guarded/p", "--jobs", "4"])
        .stdin(five_files(&dir))
        .expect_code(2);
    let line = one_line(&run);
    assert!(
        line.contains("access denied to bucket \"guarded\" (AccessDenied, PutObject)")
            && line.contains("s3:PutObject on s3://guarded/p/*"),
        "{line}"
    );
    // --update compares first: without s3:GetObject that is the one message
    // (it was a 1.5 KB SDK dump per file).
    let run = as_user(ship(&dir, &moto), &writer, &writer_secret)
        .args(["s3://guarded/p", "--update"])
        .stdin(five_files(&dir))
        .expect_code(2);
    let line = one_line(&run);
    assert!(
        line.contains("HeadObject") && line.contains("s3:GetObject"),
        "{line}"
    );
    // The writer may still ship (no listing, no comparison needed).
    let run = as_user(ship(&dir, &moto), &writer, &writer_secret)
        .arg("s3://guarded/p")
        .stdin(five_files(&dir))
        .expect_success();
    assert_eq!(run.json_lines().len(), 5, "{}", run.report());
    assert!(run
        .json_lines()
        .iter()
        .all(|l| l["status"] == json!("uploaded")));
    for (cmd, what) in [
        (
            lifecycle(&dir, &moto, "s3://guarded/p"),
            "GetBucketLifecycleConfiguration",
        ),
        // The bucket's root: moto under IAM mis-signs a listed prefix.
        (verify(&dir, &moto, "s3://guarded"), "s3:ListBucket"),
    ] {
        let run = as_user(cmd, &nobody, &nobody_secret).expect_code(2);
        let line = one_line(&run);
        assert!(
            line.contains("access denied") && line.contains(what),
            "{line}"
        );
    }
}

#[test]
fn missing_or_rejected_credentials_are_one_line_and_exit_2_in_each_tool() {
    let moto = MotoServer::start_with_iam(1);
    moto.create_bucket("creds", false);
    let dir = Dir::new("ship-creds");
    let none = |mut c: TestCommand| {
        c.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", dir.join("no-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"));
        c
    };
    let unknown = |mut c: TestCommand| {
        c.env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE").env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        );
        c
    };
    let ship_cmd = || {
        let mut c = ship(&dir, &moto);
        c.arg("s3://creds/p").stdin(five_files(&dir));
        c
    };
    let cases: [(Tool, &str); 2] = [(lifecycle, "s3://creds/p"), (verify, "s3://creds")];
    for (what, wrap) in [
        (
            "no AWS credentials found",
            &none as &dyn Fn(TestCommand) -> TestCommand,
        ),
        ("(InvalidAccessKeyId, bucket \"creds\")", &unknown),
    ] {
        let mut cmds = vec![wrap(ship_cmd())];
        cmds.extend(cases.iter().map(|(f, url)| wrap(f(&dir, &moto, url))));
        for mut cmd in cmds {
            let run = cmd.expect_code(2);
            let line = one_line(&run);
            assert!(line.contains(what), "{line}");
            assert!(!line.contains("EXAMPLEKEY"), "no secret: {line}");
        }
    }
}

#[test]
fn a_missing_input_file_or_folder_is_exit_2_and_names_it() {
    let dir = Dir::new("ship-missing-input");
    for args in [
        &["s3://bucket/p", "--input", "no-such.ndjson"][..],
        &["no-such-dir", "s3://bucket/p"],
        &["--drain", "no-such-spool", "s3://bucket"],
    ] {
        let run = dir.command(BIN).args(args).arg("--dry-run").expect_code(2);
        assert!(one_line(&run).contains("no-such"), "{}", run.report());
    }
}
