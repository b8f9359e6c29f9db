//! The monthly billing archive from a real PostgreSQL: every row of the
//! month in the Parquet files exactly once, manifest counts equal to
//! `select count(*)`, objects in the requested storage class.

use crate::common::*;
use std::path::Path;
use testkit::{Dir, MotoServer, Postgres};

/// The billing script pointed at this PostgreSQL (its own psql and
/// pg_dump first on PATH) and the workspace's tools.
fn billing_command(dir: &Dir, pg: &Postgres) -> testkit::TestCommand {
    let mut cmd = dir.command(repo_root().join("scripts/archive-billing.sh"));
    for (k, v) in pg.env() {
        cmd.env(k, v);
    }
    let path = format!(
        "{}:{}",
        pg.bindir().display(),
        std::env::var("PATH").unwrap()
    );
    cmd.env("PATH", path).env("BIN_DIR", bin_dir());
    cmd
}

#[test]
fn billing_month_to_s3() {
    let dir = Dir::new("billing");
    let pg = Postgres::start();
    pg.psql(include_str!("fixtures/billing.sql"));
    let s3 = MotoServer::start();
    s3.create_bucket("billing", false);
    let mut cmd = billing_command(&dir, &pg);
    s3.configure(&mut cmd);
    cmd.env("BILLING_TABLES", "charges:created_at credits:created_at")
        .env("SNAPSHOT_TABLES", "accounts")
        .env("COMPLIANCE_TAGS", "SOX GDPR")
        .env("WORK_DIR", dir.join("work"))
        .env("SUMMARY_FILE", dir.join("summary.json"))
        .args([
            "--period",
            "2025-03",
            "--dest",
            "s3://billing/ledger",
            "--storage-class",
            "GLACIER_IR",
        ]);
    let run = cmd.expect_success();
    assert!(
        !dir.join("work").read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("billing-")),
        "temporary files left behind{}",
        run.report()
    );

    check_storage_classes(&s3, &run);
    let local = dir.join("downloaded");
    download_prefix(&s3, "billing", "ledger/2025-03/", &local);
    check_rows_in_parquet(&pg, &local);
    check_manifest_counts(&pg, &local);
}

/// Storage classes: data in GLACIER_IR, manifests in STANDARD.
fn check_storage_classes(s3: &MotoServer, run: &testkit::Run) {
    let listing = s3.python(
        "out = {}\n\
         for o in s3.list_objects_v2(Bucket='billing', Prefix='ledger/2025-03/')['Contents']:\n\
         \x20   out[o['Key']] = s3.head_object(Bucket='billing', Key=o['Key']).get('StorageClass', 'STANDARD')\n\
         print(json.dumps(out))",
    );
    let listing: serde_json::Value = serde_json::from_str(listing.trim()).unwrap();
    let classes = listing.as_object().unwrap();
    for name in [
        "charges-2025-03.parquet",
        "credits-2025-03.parquet",
        "accounts-snapshot-2025-03.parquet",
    ] {
        let key = format!("ledger/2025-03/{name}");
        run.assert(
            classes.get(&key).and_then(|v| v.as_str()) == Some("GLACIER_IR"),
            &format!("{key} missing or not GLACIER_IR: {listing}"),
        );
    }
    for name in ["manifest-sha256.txt", "manifest.json"] {
        let key = format!("ledger/2025-03/{name}");
        run.assert(
            classes.get(&key).and_then(|v| v.as_str()) == Some("STANDARD"),
            &format!("{key} missing or not STANDARD: {listing}"),
        );
    }
}

/// Every row of the month exactly once, read back by pyarrow.
fn check_rows_in_parquet(pg: &Postgres, local: &Path) {
    for (table, file) in [
        ("charges", "charges-2025-03.parquet"),
        ("credits", "credits-2025-03.parquet"),
    ] {
        let want = pg.psql(&format!(
            "select coalesce(string_agg(id::text, ',' order by id), '') from {table} \
             where created_at >= '2025-03-01 00:00:00+00' and created_at < '2025-04-01 00:00:00+00'"
        ));
        let got = std::process::Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import pyarrow.parquet as pq\n\
                 ids = sorted(pq.read_table('{}').column('id').to_pylist())\n\
                 assert len(ids) == len(set(ids)), 'duplicate ids'\n\
                 print(','.join(map(str, ids)))",
                local.join(file).display()
            ))
            .output()
            .unwrap();
        assert!(
            got.status.success(),
            "pyarrow: {}",
            String::from_utf8_lossy(&got.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&got.stdout).trim(),
            want.trim(),
            "{table}: ids in Parquet differ from PostgreSQL's month"
        );
        assert!(
            !want.trim().is_empty(),
            "{table}: the fixture has no rows in the month"
        );
    }
}

/// The manifest's counts equal PostgreSQL's, and GNU sha256sum agrees.
fn check_manifest_counts(pg: &Postgres, local: &Path) {
    let all_accounts = pg.psql("select count(*) from accounts");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(local.join("manifest.json")).unwrap())
            .unwrap();
    let files = manifest["files"].as_array().unwrap();
    let records = |name: &str| {
        files
            .iter()
            .find(|f| f["path"] == name)
            .unwrap_or_else(|| panic!("{name} not in manifest.json: {manifest}"))["records"]
            .as_u64()
            .unwrap()
    };
    let count = |sql: &str| pg.psql(sql).trim().parse::<u64>().unwrap();
    assert_eq!(records("charges-2025-03.parquet"), count("select count(*) from charges where created_at >= '2025-03-01' and created_at < '2025-04-01'"));
    assert_eq!(records("credits-2025-03.parquet"), count("select count(*) from credits where created_at >= '2025-03-01' and created_at < '2025-04-01'"));
    assert_eq!(
        records("accounts-snapshot-2025-03.parquet"),
        all_accounts.trim().parse::<u64>().unwrap()
    );
    assert_eq!(manifest["period"], "2025-03");
    assert_eq!(manifest["retention_years"], 10);
    let out = std::process::Command::new("sha256sum")
        .args(["-c", "--strict", "manifest-sha256.txt"])
        .current_dir(local)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sha256sum -c: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A table that does not exist fails the run with exit 2, names the
/// table, and ships nothing.
#[test]
fn billing_missing_table_ships_nothing() {
    let dir = Dir::new("billing-missing");
    let pg = Postgres::start();
    pg.psql(include_str!("fixtures/billing.sql"));
    let mut cmd = billing_command(&dir, &pg);
    cmd.env("BILLING_TABLES", "charges:created_at purchases:created_at")
        .env("SNAPSHOT_TABLES", "")
        .env("WORK_DIR", dir.join("work"))
        .args(["--period", "2025-03", "--dest"])
        .arg(dir.join("dest"));
    let run = cmd.expect_code(2);
    run.assert(
        run.stderr.contains("purchases"),
        "the missing table is not named",
    );
    run.assert(
        !dir.join("dest/2025-03").exists(),
        "something was shipped although a table failed",
    );
    // What is there is the honest record of the failed run, beside the archive.
    let record: serde_json::Value =
        serde_json::from_str(&dir.read("dest/_state/billing/2025-03/last-run.json")).unwrap();
    run.assert(
        record["status"] == "failed" && record["exit_code"] == 2,
        &format!("run record: {record}"),
    );
}

/// The archiver's policy: PutObject on the data, Get/Put on the job's
/// state, nothing else (what no-clobber archiving needs).
const PUT_ONLY_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:PutObject"],"Resource":"arn:aws:s3:::billing/ledger/*"},
 {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::billing/ledger/_state/*"},
 {"Effect":"Allow","Action":["s3:ListBucket"],"Resource":"arn:aws:s3:::billing"}]}"#;

const AUDITOR_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::billing","arn:aws:s3:::billing/*"]}]}"#;

/// A database correction of an archived month, with IAM enforced and only
/// PutObject on the data: the corrected file is a conflict that the run
/// names and exits 1 for, never "skipped" with exit 0; the stored bytes
/// stay those first archived.
#[test]
fn a_correction_under_no_clobber_is_named_not_skipped() {
    let dir = Dir::new("billing-correction");
    let pg = Postgres::start();
    pg.psql(include_str!("fixtures/billing.sql"));
    // Seven unauthenticated set-up actions (a bucket, two users), then IAM is enforced.
    let s3 = MotoServer::start_with_iam(7);
    s3.create_bucket("billing", false);
    let (key, secret) = s3.iam_user("archiver", PUT_ONLY_POLICY);
    let (akey, asecret) = s3.iam_user("auditor", AUDITOR_POLICY);
    let run_billing = |expect: i32| {
        let mut cmd = billing_command(&dir, &pg);
        s3.configure(&mut cmd);
        cmd.env("AWS_ACCESS_KEY_ID", &key)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env("BILLING_TABLES", "charges:created_at credits:created_at")
            .env("SNAPSHOT_TABLES", "")
            .env("WORK_DIR", dir.join("work"))
            .env("SUMMARY_FILE", dir.join("summary.json"))
            .args([
                "--period",
                "2025-03",
                "--dest",
                "s3://billing/ledger",
                "--storage-class",
                "STANDARD",
            ]);
        cmd.expect_code(expect)
    };
    run_billing(0);
    let stored = |k: &str| {
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import boto3,hashlib\ns3=boto3.client('s3',endpoint_url='{}',region_name='us-east-1',aws_access_key_id='{akey}',aws_secret_access_key='{asecret}')\n\
                 print(hashlib.sha256(s3.get_object(Bucket='billing',Key='{k}')['Body'].read()).hexdigest())",
                s3.endpoint()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let before = stored("ledger/2025-03/charges-2025-03.parquet");

    // Unchanged: a re-run is idempotent (skipped, exit 0).
    run_billing(0);
    // A correction of one charge of the month.
    pg.psql("update charges set amount = amount + 1 where id = (select min(id) from charges where created_at >= '2025-03-01' and created_at < '2025-04-01')");
    let run = run_billing(1);
    run.assert(
        run.stderr.contains("charges-2025-03.parquet"),
        "the corrected file is not named",
    );
    let s: serde_json::Value = serde_json::from_str(&dir.read("summary.json")).unwrap();
    let conflicts: Vec<&str> = s["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    run.assert(
        s["status"] == "conflict" && s["exit_code"] == 1,
        &format!("summary: {s}"),
    );
    run.assert(
        conflicts.contains(&"charges-2025-03.parquet"),
        &format!("conflicts: {conflicts:?}"),
    );
    run.assert(
        !conflicts.contains(&"credits-2025-03.parquet"),
        &format!("an unchanged file called a conflict: {conflicts:?}"),
    );
    run.assert(
        stored("ledger/2025-03/charges-2025-03.parquet") == before,
        "the archived bytes were replaced",
    );
    // The run record is beside the archive, where the archiver may write.
    let record = stored("ledger/_state/billing/2025-03/last-run.json");
    run.assert(!record.is_empty(), "no run record in _state");
}
