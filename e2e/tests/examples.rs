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
    assert_eq!(cb.alerts().len(), 1, "a successful backup alerted");
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
