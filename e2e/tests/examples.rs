//! What the documentation tells people to paste, run: the cron recipes of
//! scripts/cron/compliance-archive.crontab (the same text as README.md's
//! cron block), and the examples of README.md, every crate README and
//! every tool's `--help`.

#[path = "common/crontab.rs"]
mod crontab;
#[path = "common/markdown.rs"]
mod markdown;

use crate::common::*;
use crontab::{CronJob, Crontab};
use markdown::fenced_blocks;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use testkit::{Dir, MotoServer, Postgres};

const CRONTAB: &str = "scripts/cron/compliance-archive.crontab";

const MOCK_ARGS: &[&str] = &[
    "--generate-users",
    "6",
    "--generate-days",
    "3",
    "--start",
    "2026-10-01",
    "--seed",
    "5",
];

/// The crontab, checked to be the one README.md shows.
fn crontab() -> Crontab {
    let text = std::fs::read_to_string(repo_root().join(CRONTAB)).unwrap();
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let block = fenced_blocks(&readme)
        .into_iter()
        .find(|b| b.info == "cron")
        .expect("README.md has no ```cron block");
    assert_eq!(
        block.text.trim(),
        text.trim(),
        "README.md line {}: the cron block differs from {CRONTAB}",
        block.line
    );
    Crontab::parse(&text)
}

/// A sandbox for the cron jobs: every variable of the crontab that names a
/// place is pointed into `dir` or at a test server, and ALERT_CMD appends
/// each alert to `alerts.txt`.
struct CronBox {
    dir: Dir,
    tab: Crontab,
    env: BTreeMap<String, String>,
}

impl CronBox {
    fn new(name: &str, s3: &MotoServer) -> CronBox {
        let dir = Dir::new(name);
        let tab = crontab();
        let alert = dir.write(
            "bin/alert",
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\n",
                dir.join("alerts.txt").display()
            ),
        );
        std::fs::set_permissions(&alert, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap());
        let mut env: BTreeMap<String, String> = [
            ("PATH", path),
            (
                "CA_SCRIPTS",
                repo_root().join("scripts").display().to_string(),
            ),
            ("CA_ETC", dir.join("etc").display().to_string()),
            ("LOG_DIR", dir.join("log").display().to_string()),
            ("ALERT_CMD", alert.display().to_string()),
            ("WORK_DIR", dir.join("work").display().to_string()),
            ("ARCHIVE_DEST", "s3://cron-archive/chatgpt".to_string()),
            (
                "EXPORT_FALLBACK_DIR",
                dir.join("spool").display().to_string(),
            ),
            ("EXPORT_BUCKET", "s3://cron-exports".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for key in tab.env.keys() {
            assert!(
                env.contains_key(key) || key == "CRON_TZ" || key == "SHELL",
                "{CRONTAB}: the test does not know where to point {key}"
            );
        }
        env.extend(s3.env());
        // The scripts would take the repository's target/release before
        // PATH; the tools under test are these.
        env.insert("BIN_DIR".into(), bin_dir().display().to_string());
        s3.create_bucket("cron-archive", false);
        s3.create_bucket("cron-exports", false);
        CronBox { dir, tab, env }
    }

    fn run(&self, name: &str) -> (CronJob, Output) {
        let job = self.tab.job(name).clone();
        let out = self.tab.run(&job, &self.env, self.dir.path());
        (job, out)
    }

    /// Run a job and check what a person on call sees: nothing on stdout
    /// or stderr (cron mails nothing), the log written and private.
    fn run_quiet(&self, name: &str) -> Output {
        let (job, out) = self.run(name);
        let log = self.dir.join(&format!("log/{name}.log"));
        let report = format!(
            "{CRONTAB}:{} ({name}, at {}): exit {:?}\nstdout: {}\nstderr: {}\nlog:\n{}",
            job.line,
            job.schedule,
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{report}");
        assert_eq!(out.status.code(), Some(0), "{report}");
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}\n{report}", log.display());
        assert!(std::fs::metadata(&log).unwrap().len() > 0, "{report}");
        out
    }

    fn alerts(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("alerts.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The new alerts since `before` alerts had been seen: exactly one,
    /// naming the job and its exit code.
    fn one_new_alert(&self, before: usize, name: &str, code: i32) -> String {
        let alerts = self.alerts();
        assert_eq!(alerts.len(), before + 1, "alerts: {alerts:#?}");
        let a = alerts.last().unwrap().clone();
        assert!(
            a.contains(name) && a.contains(&format!("exit {code}")),
            "the alert does not name {name} and exit {code}: {a}"
        );
        a
    }
}

fn backup_env(mock: &Mock) -> String {
    format!(
        "# test configuration\n\
         OPENAI_API_KEY=test-key\n\
         OPENAI_ADMIN_KEY=test-admin-key\n\
         WORKSPACE_ID={WORKSPACE_ID}\n\
         COMPLIANCE_BASE_URL={base}\n\
         OPENAI_BASE_URL={base}\n\
         FETCH_ARGS=--since 2025-07-01 --rate-limit 100000\n",
        base = mock.base()
    )
}

/// Files under `root` that a user other than the owner could read.
fn readable_by_others(root: &Path) -> Vec<String> {
    files_under(root)
        .into_iter()
        .filter(|p| std::fs::metadata(p).unwrap().permissions().mode() & 0o077 != 0)
        .map(|p| p.display().to_string())
        .collect()
}

#[test]
fn cron_backup_deadman_verify_and_a_held_lease() {
    let s3 = MotoServer::start();
    let mock = Mock::start(MOCK_ARGS);
    let cb = CronBox::new("cron-backup", &s3);
    cb.dir.write("etc/backup.env", backup_env(&mock));

    // No run yet: the dead man alerts.
    let (_, out) = cb.run("compliance-deadman");
    assert_eq!(out.status.code(), Some(1));
    cb.one_new_alert(0, "compliance-deadman", 1);

    cb.run_quiet("compliance-backup");
    assert_eq!(
        cb.alerts().len(),
        1,
        "a successful backup alerted: {:#?}",
        cb.alerts()
    );
    let exposed = readable_by_others(&cb.dir.join("work"));
    assert!(
        exposed.is_empty(),
        "staged files readable by others: {exposed:?}"
    );
    let last: serde_json::Value =
        serde_json::from_str(&cb.dir.read("work/runs/last.json")).unwrap();
    assert_eq!(last["status"], "ok", "{last}");

    // A fresh successful run: the dead man is quiet.
    cb.run_quiet("compliance-deadman");
    assert_eq!(cb.alerts().len(), 1, "{:#?}", cb.alerts());

    cb.run_quiet("compliance-verify");
    assert_eq!(cb.alerts().len(), 1, "verify alerted: {:#?}", cb.alerts());

    // Another run holds a stream's lease: the backup exits 75, no alert.
    let state = format!("s3://cron-archive/chatgpt/_state/{WORKSPACE_ID}/users");
    let mut lease = testkit::TestCommand::new(&bin_dir().join("archive-state"));
    s3.configure(&mut lease);
    lease
        .args(["lease", &state, "--owner", "someone-else", "--ttl", "1h"])
        .expect_success();
    cb.run_quiet("compliance-backup");
    let log = cb.dir.read("log/compliance-backup.log");
    assert!(
        log.contains("exit 75"),
        "the backup did not exit 75:\n{log}"
    );
    assert_eq!(cb.alerts().len(), 1, "exit 75 alerted: {:#?}", cb.alerts());
    // The first run's log was rotated by savelog, and stays private.
    let old = cb.dir.join("log/compliance-backup.log.0");
    let mode = std::fs::metadata(&old).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(
        mode.ok(),
        Some(0o600),
        "{} (the first run's log)",
        old.display()
    );

    // The last successful run made 30 hours old: the dead man alerts.
    for rec in files_under(&cb.dir.join("work/runs")) {
        let text = std::fs::read_to_string(&rec).unwrap();
        let old = text.replace(
            last["finished_at"].as_str().unwrap(),
            &stale_time(30 * 3600),
        );
        std::fs::write(&rec, old).unwrap();
    }
    let (_, out) = cb.run("compliance-deadman");
    assert_eq!(out.status.code(), Some(1));
    let alert = cb.one_new_alert(1, "compliance-deadman", 1);
    assert!(alert.contains("30 h ago"), "{alert}");
}

/// run-job's timeout: a job past it is stopped (SIGTERM, then SIGKILL
/// after KILL_AFTER) and alerted on once, naming the timeout.
#[test]
fn run_job_stops_a_job_past_its_timeout_and_alerts() {
    let dir = Dir::new("run-job-timeout");
    let alerts = dir.join("alerts.txt");
    let alert = dir.write(
        "alert",
        format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\n", alerts.display()),
    );
    std::fs::set_permissions(&alert, std::fs::Permissions::from_mode(0o755)).unwrap();
    let started = std::time::Instant::now();
    let mut cmd = dir.command(repo_root().join("scripts/cron/run-job"));
    cmd.env("ALERT_CMD", &alert)
        .env("LOG_DIR", dir.join("log"))
        .env("KILL_AFTER", "1s")
        .args(["stuck-job", "1s", "bash", "-c", "trap '' TERM; sleep 60"]);
    let run = cmd.expect_code(137);
    assert!(
        started.elapsed().as_secs() < 20,
        "not stopped in time{}",
        run.report()
    );
    assert!(run.stdout.is_empty(), "{}", run.report());
    let text = std::fs::read_to_string(&alerts).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("stuck-job failed: exit 137: killed 1s after its timeout of 1s"),
        "{text}"
    );
}

/// An RFC 3339 UTC time `secs` ago.
fn stale_time(secs: u64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{}", now_secs() - secs), "+%FT%TZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn cron_billing_succeeds_quietly_and_a_failure_alerts_once() {
    let s3 = MotoServer::start();
    let pg = Postgres::start();
    pg.psql(include_str!("fixtures/billing.sql"));
    // The job archives the previous month: move the fixture's month there.
    pg.psql(
        "update charges set created_at = created_at + (date_trunc('month', now()) - interval '1 month' - timestamptz '2025-03-01 00:00:00+00');\n\
         update credits set created_at = created_at + (date_trunc('month', now()) - interval '1 month' - timestamptz '2025-03-01 00:00:00+00');",
    );
    let mut cb = CronBox::new("cron-billing", &s3);
    cb.env.insert(
        "PATH".into(),
        format!("{}:{}", pg.bindir().display(), cb.env["PATH"]),
    );
    let pg_lines: String = pg
        .env()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    let billing = format!(
        "BILLING_DEST=s3://cron-archive/billing\n\
         BILLING_TABLES=charges:created_at credits:created_at\n\
         SNAPSHOT_TABLES=accounts\nSTORAGE_CLASS=GLACIER_IR\n{pg_lines}"
    );
    cb.dir.write("etc/billing.env", &billing);
    cb.run_quiet("billing-archive");
    assert!(cb.alerts().is_empty(), "{:#?}", cb.alerts());

    // The database is down: one alert with the job's name and exit code.
    let port = pg.env().into_iter().find(|(k, _)| k == "PGPORT").unwrap().1;
    let dead = testkit::free_port().to_string();
    cb.dir.write(
        "etc/billing.env",
        billing.replace(&format!("PGPORT={port}"), &format!("PGPORT={dead}")),
    );
    let (_, out) = cb.run("billing-archive");
    let code = out.status.code().unwrap();
    assert_ne!(code, 0, "billing with no database exited 0");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    cb.one_new_alert(0, "billing-archive", code);
}

#[test]
fn cron_drain_keeps_the_zip_until_s3_holds_the_same_bytes() {
    let s3 = MotoServer::start();
    let cb = CronBox::new("cron-drain", &s3);
    cb.dir.write("review/a.txt", "first file\n");
    cb.dir.write("review/deep/b.txt", "second file\n");
    // S3 unreachable: the export falls back to a ZIP in the spool.
    let mut export = cb.dir.command(repo_root().join("scripts/export-folder.sh"));
    s3.configure(&mut export);
    export
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", testkit::free_port()),
        )
        .env("BIN_DIR", bin_dir())
        .env("EXPORT_FALLBACK_DIR", &cb.env["EXPORT_FALLBACK_DIR"])
        .env("SHIP_ARGS", "--max-attempts 1 --retry-base-ms 10")
        .arg(cb.dir.join("review"))
        .args(["--dest", "s3://cron-exports/reviews"]);
    export.expect_code(1);
    let zips = cb.dir.files("spool");
    assert_eq!(zips.len(), 1, "{zips:?}");
    let zip = cb.dir.join(&format!("spool/{}", zips[0]));
    let prefix = format!("reviews/{}", zips[0].trim_end_matches(".zip"));

    // Someone wrote other bytes at one of its keys meanwhile: kept, alert.
    s3.python(&format!(
        "s3.put_object(Bucket='cron-exports', Key='{prefix}/a.txt', Body=b'other bytes\\n')"
    ));
    let (_, out) = cb.run("export-drain");
    assert_eq!(out.status.code(), Some(1));
    assert!(zip.exists(), "the ZIP was deleted while S3 differs");
    cb.one_new_alert(0, "export-drain", 1);

    // Once S3 has no other copy, the drain uploads, compares and deletes.
    s3.python(&format!(
        "s3.delete_object(Bucket='cron-exports', Key='{prefix}/a.txt')"
    ));
    cb.run_quiet("export-drain");
    assert!(!zip.exists(), "the ZIP is still there though S3 matches");
    assert_eq!(cb.alerts().len(), 1, "{:#?}", cb.alerts());
    let got = s3.python(&format!(
        "print(s3.get_object(Bucket='cron-exports', Key='{prefix}/deep/b.txt')['Body'].read().decode(), end='')"
    ));
    assert_eq!(got, "second file\n");
}

// ---------------------------------------------------------------------
// The examples of README.md, the crate READMEs and every `--help`.

/// The tools whose `--help` (and each subcommand's) has an Examples section.
const TOOLS: &[(&str, &str)] = &[
    ("fetch", "fetch"),
    ("partition", "partition"),
    ("parquetize", "parquetize"),
    ("manifest", "manifest"),
    ("ship", "ship"),
    ("restore", "restore"),
    ("archive-state", "state"),
    ("compliance-mock", "compliance-mock"),
];

/// Parts of `--help` examples the sandbox cannot run, and why (the
/// Markdown files say so in their fences instead). A part starting with
/// `&& ` is cut from its line; any other comments its whole line out.
const HELP_NORUN: &[(&str, &str)] = &[
    (
        "restore batch-report job-report/",
        "needs the completion report of an S3 Batch Operations job, which runs only in a real AWS account",
    ),
    (
        "&& duckdb -init views.sql",
        "the duckdb CLI is not installed by the test command (restore's tests run the views with Python's duckdb)",
    ),
];

/// The example with HELP_NORUN's parts taken out.
fn without_norun(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut line = line.to_string();
        for (part, reason) in HELP_NORUN {
            if line.contains(part) {
                line = if part.starts_with("&& ") {
                    line.replace(part, "")
                } else {
                    format!("# norun ({reason}): {line}")
                };
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Seconds one example may run; one that waits on stdin or a server that
/// never ends is killed and fails.
const EXAMPLE_SECS: u32 = 90;

/// One example to run: a fenced block, or a tool's Examples section.
#[derive(Debug, Clone)]
struct Example {
    /// `README.md`, `ship/README.md`, `ship lifecycle --help`.
    source: String,
    /// Line of the example's first line in `source`.
    line: usize,
    text: String,
    expect: i32,
}

/// The shell blocks of one Markdown file: ```` ```sh ```` runs and must exit
/// 0, ```` ```sh exit=N ```` must exit N, ```` ```sh norun: REASON ```` is
/// skipped (and must give a reason).
fn markdown_examples(rel: &str) -> Vec<Example> {
    let text = std::fs::read_to_string(repo_root().join(rel)).unwrap();
    let mut out = Vec::new();
    for b in fenced_blocks(&text) {
        let mut words = b.info.split_whitespace();
        if words.next() != Some("sh") {
            continue;
        }
        let rest: Vec<&str> = words.collect();
        if let Some(first) = rest.first() {
            if first.starts_with("norun") {
                let reason = b.info.split_once("norun:").map(|(_, r)| r.trim());
                assert!(
                    reason.is_some_and(|r| !r.is_empty()),
                    "{rel}:{}: ```sh norun needs a reason (```sh norun: why)",
                    b.line - 1
                );
                continue;
            }
        }
        let expect = rest
            .iter()
            .find_map(|w| w.strip_prefix("exit="))
            .map(|n| n.parse().expect("exit=N"))
            .unwrap_or(0);
        out.push(Example {
            source: rel.to_string(),
            line: b.line,
            text: b.text,
            expect,
        });
    }
    out
}

/// README.md and every `*/README.md` of the repository.
fn readme_files() -> Vec<String> {
    let mut files = vec!["README.md".to_string()];
    for e in std::fs::read_dir(repo_root()).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if e.path().join("README.md").is_file() && name != "target" && !name.starts_with('.') {
            files.push(format!("{name}/README.md"));
        }
    }
    files.sort();
    files
}

/// `tool [sub] --help` with COLUMNS set.
fn help_text(tool: &str, sub: Option<&str>, columns: u32) -> String {
    let mut cmd = std::process::Command::new(bin_dir().join(tool));
    cmd.args(sub)
        .arg("--help")
        .env("COLUMNS", columns.to_string());
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{tool} {sub:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// `tool [sub] -h`.
fn short_help(tool: &str, sub: Option<&str>) -> String {
    let out = std::process::Command::new(bin_dir().join(tool))
        .args(sub)
        .arg("-h")
        .env("COLUMNS", "1000")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands a help text lists under "Commands:" (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| *s != "help")
        .map(str::to_string)
        .collect()
}

/// The "Examples:" section of a help text, dedented, with the line of its
/// first line: from the line after "Examples:" to the first line that is
/// neither blank nor indented.
fn examples_section(help: &str) -> Option<(usize, String)> {
    let lines: Vec<&str> = help.lines().collect();
    let start = lines.iter().position(|l| l.trim_end() == "Examples:")? + 1;
    let mut text = String::new();
    for l in &lines[start..] {
        if !l.is_empty() && !l.starts_with(' ') {
            break;
        }
        text.push_str(l.strip_prefix("  ").unwrap_or(l));
        text.push('\n');
    }
    Some((start + 1, text.trim_end().to_string() + "\n"))
}

/// Every tool's and subcommand's `--help` examples, each section once.
fn help_examples() -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    for (tool, _) in TOOLS {
        let top = help_text(tool, None, 1000);
        let mut subs: Vec<Option<String>> = vec![None];
        subs.extend(subcommands(&top).into_iter().map(Some));
        for sub in subs {
            let help = help_text(tool, sub.as_deref(), 1000);
            // A tool whose --help lacks them still has its -h examples run
            // (every_tool_help_has_examples fails for it).
            let (flag, section) = match examples_section(&help) {
                Some(found) => ("--help", Some(found)),
                None => ("-h", examples_section(&short_help(tool, sub.as_deref()))),
            };
            let Some((line, text)) = section else {
                continue;
            };
            if out.iter().any(|e| e.text == without_norun(&text)) {
                continue;
            }
            let name = match &sub {
                Some(s) => format!("{tool} {s} {flag}"),
                None => format!("{tool} {flag}"),
            };
            out.push(Example {
                source: name,
                line,
                text: without_norun(&text),
                expect: 0,
            });
        }
    }
    out
}

/// The servers and sample inputs every example gets: the mock API, moto
/// with every bucket the examples name, PostgreSQL with the billing
/// fixture in database `billing`, and a directory of inputs each example
/// runs in a copy of.
struct Sandbox {
    _mock: Mock,
    _s3: MotoServer,
    _pg: Postgres,
    inputs: Dir,
    env: Vec<(String, String)>,
}

/// The bucket names `s3://NAME` in the examples' text.
fn buckets(examples: &[Example]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in examples {
        for part in e.text.split("s3://").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'
                })
                .collect();
            if name.len() >= 3 && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

impl Sandbox {
    fn start(examples: &[Example]) -> Sandbox {
        let mock = Mock::start(MOCK_ARGS);
        let s3 = MotoServer::start();
        let mut names = buckets(examples);
        for must in ["acme-archive", "acme-compliance", "bucket"] {
            if !names.iter().any(|n| n == must) {
                names.push(must.to_string());
            }
        }
        for name in &names {
            s3.create_bucket(name, name.contains("lock"));
        }
        let pg = Postgres::start();
        pg.psql("create database billing");
        let mut env: Vec<(String, String)> = pg.env();
        env.retain(|(k, _)| k != "PGDATABASE");
        env.push(("PGDATABASE".into(), "billing".into()));
        let fixture = Dir::new("examples-fixture");
        let sql = fixture.write("billing.sql", include_str!("fixtures/billing.sql"));
        let load = std::process::Command::new(pg.bindir().join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
            .arg(&sql)
            .envs(env.iter().cloned())
            .output()
            .unwrap();
        assert!(
            load.status.success(),
            "{}",
            String::from_utf8_lossy(&load.stderr)
        );
        env.extend(s3.env());
        env.extend(
            [
                (
                    "PATH",
                    format!(
                        "{}:{}:{}",
                        bin_dir().display(),
                        pg.bindir().display(),
                        std::env::var("PATH").unwrap()
                    ),
                ),
                ("COMPLIANCE_BASE_URL", mock.base()),
                ("OPENAI_BASE_URL", mock.base()),
                ("OPENAI_API_KEY", testkit::mock::KEY.to_string()),
                ("OPENAI_ADMIN_KEY", testkit::mock::ADMIN_KEY.to_string()),
                ("WORKSPACE_ID", WORKSPACE_ID.to_string()),
                ("NO_PROGRESS", "1".to_string()),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        let inputs = Dir::new("examples-inputs");
        let setup = std::process::Command::new("bash")
            .arg(repo_root().join("e2e/tests/common/examples-setup.sh"))
            .current_dir(inputs.path())
            .envs(env.iter().cloned())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            setup.status.success(),
            "examples-setup.sh failed:\n{}",
            String::from_utf8_lossy(&setup.stderr)
        );
        Sandbox {
            _mock: mock,
            _s3: s3,
            _pg: pg,
            inputs,
            env,
        }
    }

    /// Run one example in a fresh copy of the inputs; the failure, if any,
    /// names the source, the line and the command.
    fn run(&self, ex: &Example) -> Option<String> {
        let dir = Dir::new("example");
        let copy = std::process::Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", self.inputs.path().display()))
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(copy.success());
        // Line 1 reports where `bash -e` stopped; background jobs an
        // example started (a mock server) are stopped when it ends.
        let script = format!(
            "trap 'echo \"@@failed line=$LINENO exit=$?\" >&2' ERR; trap 'rc=$?; trap - ERR; kill $(jobs -p) 2>/dev/null || true; exit $rc' EXIT\n{}",
            ex.text
        );
        let path = dir.write(".example.sh", script);
        let out = std::process::Command::new("timeout")
            .args([
                "-k",
                "5",
                &EXAMPLE_SECS.to_string(),
                "bash",
                "-e",
                "-o",
                "pipefail",
            ])
            .arg(&path)
            .current_dir(dir.path())
            .env("HOME", dir.join("home"))
            .envs(self.env.iter().cloned())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let code = out.status.code().unwrap_or(-1);
        if code == ex.expect {
            return None;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let at = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("@@failed line="))
            .next()
            .and_then(|r| r.split_whitespace().next()?.parse::<usize>().ok())
            .filter(|n| *n >= 2);
        let (line, command) = match at {
            Some(n) => (
                ex.line + n - 2,
                ex.text.lines().nth(n - 2).unwrap_or("").trim().to_string(),
            ),
            None => (ex.line, "(the example as a whole)".to_string()),
        };
        let what = if code == 124 || code == 137 {
            format!("killed after {EXAMPLE_SECS} s (waits on stdin or never ends)")
        } else {
            format!("exit {code}, expected {}", ex.expect)
        };
        let tail: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with("@@failed"))
            .collect();
        let tail = tail[tail.len().saturating_sub(6)..].join("\n    ");
        Some(format!(
            "{}:{line}: `{command}`: {what}\n    {tail}",
            ex.source
        ))
    }
}

fn run_all(examples: &[Example]) {
    assert!(!examples.is_empty(), "no examples found");
    let sandbox = Sandbox::start(examples);
    let failures: Vec<String> = examples.iter().filter_map(|e| sandbox.run(e)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} examples failed:\n\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n\n")
    );
}

#[test]
fn readme_examples_work_when_pasted() {
    let examples: Vec<Example> = readme_files()
        .iter()
        .flat_map(|f| markdown_examples(f))
        .collect();
    run_all(&examples);
}

#[test]
fn help_examples_work_when_pasted() {
    run_all(&help_examples());
}

#[test]
fn every_tool_help_has_examples() {
    let missing: Vec<&str> = TOOLS
        .iter()
        .map(|(tool, _)| *tool)
        .filter(|tool| examples_section(&help_text(tool, None, 1000)).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "no Examples: section in --help of {missing:?}"
    );
}

/// The source lines of a crate (its `src/**/*.rs`), trimmed at the end.
fn source_lines(krate: &str) -> std::collections::HashSet<String> {
    let mut out = std::collections::HashSet::new();
    for f in files_under(&repo_root().join(krate).join("src")) {
        if f.extension().is_some_and(|e| e == "rs") {
            for l in std::fs::read_to_string(&f).unwrap().lines() {
                out.insert(l.trim_end().to_string());
            }
        }
    }
    out
}

/// With COLUMNS=80 every example line of every --help is one line of its
/// source text: clap re-wraps nothing (a wrapped line would split a
/// command a person pastes).
#[test]
fn help_examples_are_not_wrapped_at_80_columns() {
    let mut wrapped = Vec::new();
    for (tool, krate) in TOOLS {
        let source = source_lines(krate);
        let mut subs: Vec<Option<String>> = vec![None];
        subs.extend(
            subcommands(&help_text(tool, None, 1000))
                .into_iter()
                .map(Some),
        );
        for sub in subs {
            let help = help_text(tool, sub.as_deref(), 80);
            let Some((line, text)) = examples_section(&help) else {
                continue;
            };
            for (i, l) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let escaped = format!("  {l}").replace('\\', "\\\\").replace('"', "\\\"");
                let found = source.contains(&escaped)
                    || source.contains(&format!("{escaped}\";"))
                    || source.contains(&format!("{escaped}\""));
                if !found {
                    wrapped.push(format!(
                        "{tool} {} --help:{}: {l}",
                        sub.as_deref().unwrap_or(""),
                        line + i
                    ));
                }
            }
        }
    }
    assert!(
        wrapped.is_empty(),
        "example lines at COLUMNS=80 that are not a line of the source (wrapped?):\n{}",
        wrapped.join("\n")
    );
}

/// scripts/install.sh with binaries built earlier (`--from`): the tools,
/// their completions and man pages, the job scripts and the cron helpers,
/// each where the README says, and the installed scripts find the
/// installed tools on PATH.
#[test]
fn install_script_installs_tools_scripts_completions_and_man_pages() {
    let dir = Dir::new("install");
    let prefix = dir.join("prefix");
    let mut install = dir.command(repo_root().join("scripts/install.sh"));
    install
        .arg("--prefix")
        .arg(&prefix)
        .arg("--from")
        .arg(bin_dir());
    let run = install.expect_success();
    assert!(
        run.stdout.is_empty(),
        "install.sh printed on stdout{}",
        run.report()
    );
    let tools = [
        "fetch",
        "partition",
        "parquetize",
        "manifest",
        "ship",
        "restore",
        "archive-state",
    ];
    for tool in tools {
        let bin = prefix.join("bin").join(tool);
        let mode = std::fs::metadata(&bin).unwrap().permissions().mode();
        assert_eq!(mode & 0o755, 0o755, "{} mode {mode:o}", bin.display());
        for (rel, must) in [
            (
                format!("share/bash-completion/completions/{tool}"),
                tool.to_string(),
            ),
            (
                format!("share/zsh/site-functions/_{tool}"),
                format!("#compdef {tool}"),
            ),
            (
                format!("share/fish/vendor_completions.d/{tool}.fish"),
                format!("complete -c {tool}"),
            ),
            (format!("share/man/man1/{tool}.1"), format!(".TH {tool} 1")),
        ] {
            let text = std::fs::read_to_string(prefix.join(&rel))
                .unwrap_or_else(|e| panic!("{rel}: {e}{}", run.report()));
            assert!(text.contains(&must), "{rel} does not contain {must:?}");
        }
    }
    let scripts = prefix.join("share/compliance-archive/scripts");
    for s in [
        "backup-compliance.sh",
        "archive-billing.sh",
        "export-folder.sh",
        "lib.sh",
        "cron/run-job",
        "cron/check-last-run",
        "cron/drain-exports",
        "cron/compliance-archive.crontab",
    ] {
        assert!(scripts.join(s).is_file(), "{s} not installed");
    }
    // The installed backup script finds the installed tools on PATH: with
    // no configuration it stops at the missing key, not at a missing tool.
    let mut backup = dir.command(scripts.join("backup-compliance.sh"));
    backup
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", prefix.join("bin").display()),
        )
        .env_remove("BIN_DIR")
        .env_remove("OPENAI_API_KEY")
        .env("WORK_DIR", dir.join("work"));
    let run = backup.expect_code(2);
    assert!(!run.stderr.contains("not found"), "{}", run.report());
    // Installing again replaces the files in place.
    install.expect_success();
}
