//! archive-state against both kinds of location: moto (conditional S3
//! requests) and a local directory (lock file and rename), with the real
//! binary, racing processes included.

use serde_json::Value;
use testkit::{Dir, MotoServer, TestCommand};

const BIN: &str = env!("CARGO_BIN_EXE_archive-state");

/// One kind of state location and how to reach it.
struct Place {
    moto: Option<MotoServer>,
    url: String,
}

fn s3_place() -> Place {
    let moto = MotoServer::start();
    moto.create_bucket("vault", false);
    Place {
        moto: Some(moto),
        url: "s3://vault/job/_state".into(),
    }
}

fn dir_place(dir: &Dir) -> Place {
    Place {
        moto: None,
        url: dir.join("dest/_state").display().to_string(),
    }
}

impl Place {
    fn cmd(&self, dir: &Dir) -> TestCommand {
        let mut c = dir.command(BIN);
        if let Some(m) = &self.moto {
            m.configure(&mut c);
        }
        c
    }
}

fn lease_rules(dir: &Dir, p: &Place) {
    let first = p
        .cmd(dir)
        .args(["lease", &p.url, "--owner", "run-a"])
        .expect_success();
    let v: Value = serde_json::from_str(first.stdout.trim()).unwrap();
    first.assert(v["status"] == "acquired", &first.stdout);
    let second = p
        .cmd(dir)
        .args(["lease", &p.url, "--owner", "run-b"])
        .expect_code(75);
    second.assert(second.stderr.contains("run-a"), "the holder is not named");
    let again = p
        .cmd(dir)
        .args(["lease", &p.url, "--owner", "run-a"])
        .expect_success();
    again.assert(again.stdout.contains("renewed"), &again.stdout);
    p.cmd(dir)
        .args(["release", &p.url, "--owner", "run-b"])
        .expect_code(75);
    p.cmd(dir)
        .args(["release", &p.url, "--owner", "run-a"])
        .expect_success();
    // An expired lease is taken over.
    p.cmd(dir)
        .args(["lease", &p.url, "--owner", "run-c", "--ttl", "1s"])
        .expect_success();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let over = p
        .cmd(dir)
        .args(["lease", &p.url, "--owner", "run-d"])
        .expect_success();
    over.assert(
        over.stdout.contains("taken_over") && over.stderr.contains("run-c"),
        &over.stderr,
    );
    p.cmd(dir)
        .args(["release", &p.url, "--owner", "run-d"])
        .expect_success();
}

fn push_rules(dir: &Dir, p: &Place) {
    let bm = format!("{}/bookmarks", p.url);
    let (a, b) = (dir.join("a"), dir.join("b"));
    p.cmd(dir)
        .args(["lease", &p.url, "--owner", "run-a"])
        .expect_success();
    p.cmd(dir).args(["pull", &bm]).arg(&a).expect_success();
    std::fs::write(a.join("logs.json"), "{\"cursor\":\"1\"}\n").unwrap();
    let pushed = p
        .cmd(dir)
        .args(["push"])
        .arg(&a)
        .args([&bm, "--lease", &p.url, "--owner", "run-a"])
        .expect_success();
    pushed.assert(pushed.stdout.contains("\"pushed\""), &pushed.stdout);
    // A second run that read the state before the first one committed.
    p.cmd(dir).args(["pull", &bm]).arg(&b).expect_success();
    std::fs::write(a.join("logs.json"), "{\"cursor\":\"2\"}\n").unwrap();
    p.cmd(dir)
        .args(["push"])
        .arg(&a)
        .args([&bm, "--lease", &p.url, "--owner", "run-a"])
        .expect_success();
    std::fs::write(b.join("logs.json"), "{\"cursor\":\"9\"}\n").unwrap();
    // Without the lease: refused before anything is written.
    let stale = p
        .cmd(dir)
        .args(["push"])
        .arg(&b)
        .args([&bm, "--lease", &p.url, "--owner", "run-b"])
        .expect_code(75);
    stale.assert(stale.stderr.contains("run-a"), &stale.stderr);
    // With the lease but over a version it did not read: refused too.
    p.cmd(dir)
        .args(["release", &p.url, "--owner", "run-a"])
        .expect_success();
    p.cmd(dir)
        .args(["lease", &p.url, "--owner", "run-b"])
        .expect_success();
    let lost = p
        .cmd(dir)
        .args(["push"])
        .arg(&b)
        .args([&bm, "--lease", &p.url, "--owner", "run-b"])
        .expect_code(75);
    lost.assert(
        lost.stderr.contains("another run committed first"),
        &lost.stderr,
    );
    let now = p.cmd(dir).args(["get", &bm, "logs.json"]).expect_success();
    now.assert(
        now.stdout.contains("\"2\""),
        &format!("the first run's commit was overwritten: {}", now.stdout),
    );
    // A removed file is deleted, a pull mirrors it.
    p.cmd(dir).args(["pull", &bm]).arg(&b).expect_success();
    std::fs::remove_file(b.join("logs.json")).unwrap();
    p.cmd(dir)
        .args(["push"])
        .arg(&b)
        .args([&bm, "--lease", &p.url, "--owner", "run-b"])
        .expect_success();
    let gone = p.cmd(dir).args(["pull", &bm]).arg(&a).expect_success();
    gone.assert(
        gone.stdout.contains("\"removed\"") && !a.join("logs.json").exists(),
        &gone.stdout,
    );
    p.cmd(dir)
        .args(["release", &p.url, "--owner", "run-b"])
        .expect_success();
}

/// Eight processes ask for the lease at once: exactly one gets it.
fn race(dir: &Dir, p: &Place) {
    for round in 0..3 {
        let children: Vec<_> = (0..8)
            .map(|i| {
                let mut c = p.cmd(dir);
                c.args([
                    "lease",
                    &p.url,
                    "--owner",
                    &format!("racer-{round}-{i}"),
                    "--pid",
                    &std::process::id().to_string(),
                ]);
                let mut cmd =
                    std::mem::replace(c.command_mut(), std::process::Command::new("true"));
                cmd.stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let codes: Vec<i32> = children
            .into_iter()
            .map(|mut c| c.wait().unwrap().code().unwrap_or(-1))
            .collect();
        let winners = codes.iter().filter(|c| **c == 0).count();
        assert_eq!(winners, 1, "round {round}: exit codes {codes:?}");
        assert!(
            codes.iter().all(|c| *c == 0 || *c == 75),
            "round {round}: {codes:?}"
        );
        let holder = p
            .cmd(dir)
            .args(["get", &p.url, "lease.json"])
            .expect_success();
        let owner = serde_json::from_str::<Value>(&holder.stdout).unwrap()["owner"]
            .as_str()
            .unwrap()
            .to_string();
        p.cmd(dir)
            .args(["release", &p.url, "--owner", &owner])
            .expect_success();
    }
}

#[test]
fn s3_leases_pushes_and_races() {
    let dir = Dir::new("state-s3");
    let p = s3_place();
    lease_rules(&dir, &p);
    push_rules(&dir, &p);
    race(&dir, &p);
}

#[test]
fn directory_leases_pushes_and_races() {
    let dir = Dir::new("state-dir");
    let p = dir_place(&dir);
    lease_rules(&dir, &p);
    push_rules(&dir, &p);
    race(&dir, &p);
}

#[test]
fn records_and_bad_input() {
    let dir = Dir::new("state-records");
    let p = dir_place(&dir);
    dir.write("last.json", "{\"status\":\"ok\"}\n");
    p.cmd(&dir)
        .args(["put", &p.url, "runs/last.json"])
        .arg(dir.join("last.json"))
        .expect_success();
    let got = p
        .cmd(&dir)
        .args(["get", &p.url, "runs/last.json"])
        .expect_success();
    got.assert(got.stdout.contains("\"ok\""), &got.stdout);
    p.cmd(&dir)
        .args(["get", &p.url, "runs/none.json"])
        .expect_code(3);
    p.cmd(&dir)
        .args(["put", &p.url, "../escape.json"])
        .arg(dir.join("last.json"))
        .expect_code(2);
    p.cmd(&dir)
        .args(["lease", &p.url, "--owner", "x", "--ttl", "5 weeks"])
        .expect_code(2);
    // A symlink in the state directory is never written through.
    std::fs::create_dir_all(dir.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("dest/_state/runs/linked")).unwrap();
    p.cmd(&dir)
        .args(["put", &p.url, "runs/linked/x.json"])
        .arg(dir.join("last.json"))
        .expect_code(1);
    assert!(
        !dir.join("elsewhere/x.json").exists(),
        "written through a symlink"
    );
}

/// `check` proves a location can hold state before a job does any work,
/// leaves no probe behind, and names a missing bucket or missing
/// credentials as a configuration error (exit 2), in dry runs too.
#[test]
fn check_before_work() {
    let dir = Dir::new("state-check");
    let p = s3_place();
    let moto = p.moto.as_ref().unwrap();
    for read_only in [false, true] {
        let mut ok = p.cmd(&dir);
        ok.args(["check", &p.url]);
        if read_only {
            ok.arg("--read-only");
        }
        let run = ok.expect_success();
        let line: Value = serde_json::from_str(run.stdout.trim()).unwrap();
        run.assert(line["status"] == "ok", &run.stdout);
    }
    let left = moto.python("print(s3.list_objects_v2(Bucket='vault').get('KeyCount', 0))");
    assert_eq!(left.trim(), "0", "the probe record was left behind");

    for read_only in [false, true] {
        let mut missing = p.cmd(&dir);
        missing.args(["check", "s3://no-such-bucket/job/_state"]);
        if read_only {
            missing.arg("--read-only");
        }
        let run = missing.expect_code(2);
        run.assert(run.stderr.contains("NoSuchBucket"), &run.stderr);
        run.assert(run.stderr.lines().count() == 1, "more than one line");
    }

    let mut no_creds = p.cmd(&dir);
    no_creds
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", dir.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["check", &p.url]);
    let run = no_creds.expect_code(2);
    run.assert(run.stderr.contains("credentials"), &run.stderr);

    let d = dir_place(&dir);
    d.cmd(&dir).args(["check", &d.url]).expect_success();
}
