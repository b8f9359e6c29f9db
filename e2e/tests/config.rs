//! Bad configuration of the daily backup: each exits with the documented
//! code, a message that says what to fix, and commits nothing.

use crate::common::*;
use testkit::{free_port, Dir};

const MOCK_ARGS: &[&str] = &[
    "--generate-users",
    "5",
    "--generate-days",
    "2",
    "--start",
    "2026-10-01",
    "--seed",
    "3",
];

fn assert_nothing_committed(dir: &Dir, run: &testkit::Run) {
    if let Ok(text) = std::fs::read_to_string(dir.join("work/runs/last.json")) {
        let s: serde_json::Value = serde_json::from_str(&text).unwrap();
        run.assert(
            s["committed"] == false,
            "a failed run committed its bookmarks",
        );
    }
    let status = dir
        .command(bin_dir().join("fetch"))
        .args(["status", "--state-dir"])
        .arg(dir.join("work/state"))
        .run();
    run.assert(
        !status.stdout.contains("\"committed\":{") && !status.stdout.contains("\"committed\": {"),
        &format!(
            "fetch status shows a committed bookmark:\n{}",
            status.stdout
        ),
    );
}

#[test]
fn missing_key_is_a_configuration_error() {
    let dir = Dir::new("cfg-key");
    let mock = Mock::start(MOCK_ARGS);
    let mut cmd = backup_command(&dir, &mock, dir.join("a").to_str().unwrap(), &bin_dir());
    cmd.env_remove("OPENAI_API_KEY");
    let run = cmd.expect_code(2);
    run.assert(
        run.stderr.contains("OPENAI_API_KEY"),
        "the message does not name OPENAI_API_KEY",
    );
    run.assert(
        !dir.join("a").exists(),
        "something was written to the archive",
    );
}

#[test]
fn wrong_base_url_fails_fast_with_a_hint() {
    let dir = Dir::new("cfg-url");
    let mock = Mock::start(MOCK_ARGS);
    let mut cmd = backup_command(&dir, &mock, dir.join("a").to_str().unwrap(), &bin_dir());
    cmd.env("COMPLIANCE_BASE_URL", format!("{}/wrong/v1", mock.url));
    let run = cmd.expect_code(2);
    run.assert(
        run.stderr.contains("404") && run.stderr.contains("--base-url"),
        "no 404 and base URL hint",
    );
    run.assert(
        run.stderr.contains("fetch"),
        "the failing stage is not named",
    );
    run.assert(
        !run.stderr.contains("test-key"),
        "the API key appeared in the output",
    );
    assert_nothing_committed(&dir, &run);
}

#[test]
fn unreachable_s3_is_a_remote_error() {
    let dir = Dir::new("cfg-s3");
    let mock = Mock::start(MOCK_ARGS);
    let mut cmd = backup_command(&dir, &mock, "s3://archive/daily", &bin_dir());
    cmd.env(
        "AWS_ENDPOINT_URL",
        format!("http://127.0.0.1:{}", free_port()),
    )
    .env("AWS_ACCESS_KEY_ID", "x")
    .env("AWS_SECRET_ACCESS_KEY", "x")
    .env("AWS_REGION", "us-east-1")
    .env("STREAMS", "conversations");
    let run = cmd.expect_code(4);
    // The preflight finds it before any API request.
    run.assert(
        run.stderr
            .contains("preflight: s3://archive/daily/_state cannot be used"),
        "the unreachable state location is not named",
    );
    assert_nothing_committed(&dir, &run);
}

#[test]
fn bad_bucket_name_is_a_configuration_error() {
    let dir = Dir::new("cfg-bucket");
    let mock = Mock::start(MOCK_ARGS);
    let mut cmd = backup_command(&dir, &mock, "s3://Not_A_Bucket!/x", &bin_dir());
    cmd.env("STREAMS", "conversations");
    let run = cmd.expect_code(2);
    run.assert(
        run.stderr.contains("Not_A_Bucket!"),
        "the bad bucket name is not named",
    );
    assert_nothing_committed(&dir, &run);
}

#[test]
fn config_file_is_parsed_not_executed() {
    let dir = Dir::new("cfg-file");
    let mock = Mock::start(MOCK_ARGS);
    let bins = bin_dir();
    let dest = dir.join("archive");
    let cfg = dir.write(
        "backup.env",
        format!(
            "# cron configuration\nOPENAI_API_KEY=test-key\nWORKSPACE_ID=\"{WORKSPACE_ID}\"\nARCHIVE_DEST={}\nSTREAMS=conversations\n",
            dest.display()
        ),
    );
    let mut cmd = backup_command(&dir, &mock, "", &bins);
    cmd.env_remove("OPENAI_API_KEY")
        .env_remove("WORKSPACE_ID")
        .env_remove("ARCHIVE_DEST")
        .env_remove("STREAMS");
    cmd.arg("--config").arg(&cfg).expect_success();
    assert_conversations_match(&dest.join("conversations"), &mock.truth("conversations"));

    let bad = dir.write("bad.env", "OPENAI_API_KEY=x\n$(touch pwned)\n");
    let mut cmd = backup_command(&dir, &mock, dest.to_str().unwrap(), &bins);
    let run = cmd.arg("--config").arg(&bad).expect_code(2);
    run.assert(
        run.stderr.contains("bad.env:2"),
        "the bad line is not named as file:line",
    );
    run.assert(!dir.join("pwned").exists(), "the config file was executed");
}

#[test]
fn a_bad_config_line_names_file_line_and_key_never_the_value() {
    let dir = Dir::new("cfg-spaces");
    let mock = Mock::start(MOCK_ARGS);
    let secret = "sk-live-5f3a9c1e7b2d4f60a8e9";
    let cfg = dir.write(
        "backup.env",
        format!("WORKSPACE_ID={WORKSPACE_ID}\nOPENAI_API_KEY = {secret}\n"),
    );
    let mut cmd = backup_command(&dir, &mock, dir.join("a").to_str().unwrap(), &bin_dir());
    cmd.env_remove("OPENAI_API_KEY");
    let run = cmd.arg("--config").arg(&cfg).expect_code(2);
    run.assert(
        run.stderr.contains("backup.env:2"),
        "the bad line is not named as file:line",
    );
    run.assert(
        run.stderr.contains("OPENAI_API_KEY"),
        "the key of the bad line is not named",
    );
    run.assert(
        !run.stderr.contains(secret)
            && !run.stdout.contains(secret)
            && !run.stderr.contains("5f3a9c1e"),
        "the value of the bad line was echoed",
    );
    run.assert(
        !dir.join("a").exists(),
        "something was written to the archive",
    );
}
