//! The monthly billing archive from a real PostgreSQL, in the layout its
//! specification promised (`billing-archive/YYYY/MM/<table>-YYYY-MM.parquet.gz`,
//! gzip inside, INTELLIGENT_TIERING, the specification's manifest.json
//! valid against docs/schemas/billing-manifest.schema.json): every row of
//! the month in the Parquet files exactly once, the manifest's counts equal
//! to `select count(*)`, one snapshot for the count and the COPY, and the
//! database's failures told apart from a missing table.

use crate::common::*;
use serde_json::{json, Value};
use std::path::Path;
use testkit::{Dir, MotoServer, Postgres};

/// The specification's ledger tables, which the job archives by default.
const LEDGER: [&str; 6] = [
    "credits",
    "charges",
    "google_play_purchases",
    "llm_usage_logs",
    "admin_audit_logs",
    "credit_checks",
];

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

fn count(pg: &Postgres, sql: &str) -> u64 {
    pg.psql(sql).trim().parse().unwrap()
}

fn month_count(pg: &Postgres, table: &str) -> u64 {
    count(
        pg,
        &format!(
            "select count(*) from {table} where created_at >= '2025-03-01 00:00:00+00' \
             and created_at < '2025-04-01 00:00:00+00'"
        ),
    )
}

/// Python `jsonschema`'s errors for a manifest against the repository's schema.
fn schema_errors(manifest: &Path) -> Vec<String> {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())\n\
             for e in v.iter_errors(json.load(open(sys.argv[2]))):\n\
             \x20   print(list(e.absolute_path), e.message)",
        )
        .arg(repo_root().join("docs/schemas/billing-manifest.schema.json"))
        .arg(manifest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "jsonschema: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// pyarrow's view of a Parquet file: its ids (sorted, checked unique), its
/// row count, and the set of codecs of every column chunk.
fn parquet_facts(path: &Path) -> Value {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, pyarrow.parquet as pq\n\
             f = pq.ParquetFile(sys.argv[1])\n\
             md = f.metadata\n\
             codecs = sorted({md.row_group(i).column(j).compression for i in range(md.num_row_groups) for j in range(md.num_columns)})\n\
             t = f.read()\n\
             ids = sorted(t.column('id').to_pylist()) if 'id' in t.column_names else []\n\
             assert len(ids) == len(set(ids)), 'duplicate ids'\n\
             print(json.dumps({'rows': t.num_rows, 'codecs': codecs, 'ids': ids}))",
        )
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyarrow {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn billing_month_in_the_specified_layout_and_manifest() {
    let dir = Dir::new("billing");
    let pg = Postgres::start();
    pg.psql(include_str!("fixtures/billing.sql"));
    let s3 = MotoServer::start();
    s3.create_bucket("billing", false);
    let mut cmd = billing_command(&dir, &pg);
    s3.configure(&mut cmd);
    // The defaults: the specification's tables, prefix, codec and class.
    cmd.env("SCHEMA_VERSION", "2025-10-21")
        .env("WORK_DIR", dir.join("work"))
        .env("SUMMARY_FILE", dir.join("summary.json"))
        .args(["--period", "2025-03", "--dest", "s3://billing"]);
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

    let prefix = "billing-archive/2025/03/";
    let mut names: Vec<String> = LEDGER
        .iter()
        .map(|t| format!("{t}-2025-03.parquet.gz"))
        .collect();
    names.push("accounts-snapshot-2025-03.parquet.gz".into());
    check_storage_classes(&s3, &run, prefix, &names);
    let local = dir.join("downloaded");
    download_prefix(&s3, "billing", prefix, &local);
    for t in LEDGER {
        let facts = parquet_facts(&local.join(format!("{t}-2025-03.parquet.gz")));
        run.assert(
            facts["codecs"] == json!(["GZIP"]),
            &format!("{t}: codecs {}", facts["codecs"]),
        );
        let want = pg.psql(&format!(
            "select coalesce(json_agg(id order by id), '[]') from {t} \
             where created_at >= '2025-03-01 00:00:00+00' and created_at < '2025-04-01 00:00:00+00'"
        ));
        let want: Value = serde_json::from_str(want.trim()).unwrap();
        assert!(
            !want.as_array().unwrap().is_empty(),
            "{t}: no rows in the month"
        );
        assert_eq!(
            facts["ids"], want,
            "{t}: ids in Parquet differ from PostgreSQL's month"
        );
    }
    check_manifest(&pg, &local, prefix, &run);
    // The toolkit's verifier reads the specification's manifest in S3.
    let mut verify = dir.command(bin_dir().join("manifest"));
    s3.configure(&mut verify);
    verify
        .args(["verify", "s3://billing/billing-archive/2025/03", "--all"])
        .expect_success();
    let summary: Value = serde_json::from_str(&dir.read("summary.json")).unwrap();
    assert_eq!(summary["storage_class"], "INTELLIGENT_TIERING");
    assert_eq!(summary["skipped_tables"], json!([]));
}

/// Data in the given class (INTELLIGENT_TIERING by default), manifests in STANDARD.
fn check_storage_classes(s3: &MotoServer, run: &testkit::Run, prefix: &str, names: &[String]) {
    let listing = s3.python(&format!(
        "out = {{}}\n\
         for o in s3.list_objects_v2(Bucket='billing', Prefix='{prefix}')['Contents']:\n\
         \x20   out[o['Key']] = s3.head_object(Bucket='billing', Key=o['Key']).get('StorageClass', 'STANDARD')\n\
         print(json.dumps(out))"
    ));
    let listing: Value = serde_json::from_str(listing.trim()).unwrap();
    let classes = listing.as_object().unwrap();
    for name in names {
        let key = format!("{prefix}{name}");
        run.assert(
            classes.get(&key).and_then(|v| v.as_str()) == Some("INTELLIGENT_TIERING"),
            &format!("{key} missing or not INTELLIGENT_TIERING: {listing}"),
        );
    }
    for name in ["manifest-sha256.txt", "manifest.json"] {
        let key = format!("{prefix}{name}");
        run.assert(
            classes.get(&key).and_then(|v| v.as_str()) == Some("STANDARD"),
            &format!("{key} missing or not STANDARD: {listing}"),
        );
    }
    run.assert(
        classes.len() == names.len() + 2,
        &format!("other objects under {prefix}: {listing}"),
    );
}

/// The specification's manifest: valid against the schema, the counts
/// PostgreSQL gives, each s3_key the object's key, and GNU sha256sum agrees.
fn check_manifest(pg: &Postgres, local: &Path, prefix: &str, run: &testkit::Run) {
    let errors = schema_errors(&local.join("manifest.json"));
    run.assert(errors.is_empty(), &format!("schema errors: {errors:?}"));
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(local.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["archive_version"], "1.0");
    assert_eq!(m["period"], "2025-03");
    assert_eq!(m["schema_version"], "2025-10-21");
    assert_eq!(m["retention_years"], 10);
    assert_eq!(m["compliance"], json!(["EU_AI_Act", "Financial_Audit"]));
    let files = m["files"].as_array().unwrap();
    let entry = |table: &str| {
        files
            .iter()
            .find(|f| f["table"] == table)
            .unwrap_or_else(|| panic!("{table} not in manifest.json: {m}"))
            .clone()
    };
    for t in LEDGER {
        let e = entry(t);
        assert_eq!(e["records"], month_count(pg, t), "{t}: records");
        assert_eq!(e["s3_key"], format!("{prefix}{t}-2025-03.parquet.gz"));
    }
    let snap = entry("accounts_snapshot");
    assert_eq!(snap["records"], count(pg, "select count(*) from accounts"));
    assert_eq!(
        snap["s3_key"],
        format!("{prefix}accounts-snapshot-2025-03.parquet.gz")
    );
    assert_eq!(files.len(), LEDGER.len() + 1);
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

/// BILLING_COMPRESSION=zstd keeps zstd, with its own extension, to a
/// local destination under the same layout; the toolkit's manifest on request.
#[test]
fn zstd_and_a_local_destination_keep_the_layout() {
    let dir = Dir::new("billing-zstd");
    let pg = Postgres::start();
    pg.psql(include_str!("fixtures/billing.sql"));
    let mut cmd = billing_command(&dir, &pg);
    cmd.env("BILLING_TABLES", "credits:created_at")
        .env("SNAPSHOT_TABLES", "")
        .env("BILLING_COMPRESSION", "zstd")
        .env("BILLING_PREFIX", "ledger")
        .env("WORK_DIR", dir.join("work"))
        .args(["--period", "2025-03", "--dest"])
        .arg(dir.join("dest"));
    let run = cmd.expect_success();
    let month = dir.join("dest/ledger/2025/03");
    let facts = parquet_facts(&month.join("credits-2025-03.parquet.zst"));
    run.assert(facts["codecs"] == json!(["ZSTD"]), &format!("{facts}"));
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(month.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        m["files"][0]["s3_key"],
        "ledger/2025/03/credits-2025-03.parquet.zst"
    );
    assert_eq!(m["files"][0]["records"], month_count(&pg, "credits"));
    // No schema version configured: a digest of the schemas, never null.
    run.assert(
        m["schema_version"]
            .as_str()
            .is_some_and(|s| s.starts_with("pg-")),
        &format!("schema_version {}", m["schema_version"]),
    );
    assert!(schema_errors(&month.join("manifest.json")).is_empty());
}

/// A table that does not exist fails the run with exit 2, names the
/// table, and ships nothing; MISSING_TABLES=skip names every table it
/// skips and never skips one of the specification's ledger tables unless
/// OPTIONAL_TABLES lists it.
#[test]
fn missing_tables_are_named_and_ledger_tables_are_not_skipped_silently() {
    let dir = Dir::new("billing-missing");
    let pg = Postgres::start();
    pg.psql(include_str!("fixtures/billing.sql"));
    pg.psql("drop table credit_checks");
    let run_with = |env: &[(&str, &str)], code: i32| {
        let mut cmd = billing_command(&dir, &pg);
        cmd.env("SNAPSHOT_TABLES", "")
            .env("WORK_DIR", dir.join("work"))
            .env("SUMMARY_FILE", dir.join("summary.json"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(["--period", "2025-03", "--dest"])
            .arg(dir.join("dest"));
        let run = cmd.expect_code(code);
        let s: Value = serde_json::from_str(&dir.read("summary.json")).unwrap();
        (run, s)
    };
    let month = dir.join("dest/billing-archive/2025/03");
    let (run, _) = run_with(
        &[("BILLING_TABLES", "charges:created_at purchases:created_at")],
        2,
    );
    run.assert(
        run.stderr.contains("purchases"),
        "the missing table is not named",
    );
    run.assert(
        !month.exists(),
        "something was shipped although a table failed",
    );
    let record: Value =
        serde_json::from_str(&dir.read("dest/_state/billing/2025-03/last-run.json")).unwrap();
    run.assert(
        record["status"] == "failed" && record["exit_code"] == 2,
        &format!("run record: {record}"),
    );

    // A ledger table of the specification is not skipped by MISSING_TABLES=skip.
    let (run, _) = run_with(&[("MISSING_TABLES", "skip")], 2);
    run.assert(
        run.stderr.contains("credit_checks") && run.stderr.contains("OPTIONAL_TABLES"),
        "the ledger table and the way to allow its absence are not named",
    );
    run.assert(!month.exists(), "shipped without a ledger table");

    // Skipped tables are named on stderr and in the summary.
    let env = [
        (
            "BILLING_TABLES",
            "charges:created_at purchases:created_at credit_checks:created_at",
        ),
        ("MISSING_TABLES", "skip"),
        ("OPTIONAL_TABLES", "credit_checks"),
    ];
    let (run, s) = run_with(&env, 0);
    assert_eq!(
        s["skipped_tables"],
        json!(["purchases", "credit_checks"]),
        "{s}"
    );
    for t in ["purchases", "credit_checks"] {
        run.assert(
            run.stderr.contains(&format!("{t}: no such table, skipped")),
            &format!("{t} skipped without a word"),
        );
    }
    run.assert(
        run.stderr.contains("SKIPPED"),
        "the summary line does not say it",
    );
    assert!(month.join("charges-2025-03.parquet.gz").is_file());
}

/// Rows inserted while the job runs (committed every few milliseconds
/// from another session) are in neither the count nor the file: the run
/// exits 0 and the manifest's count is the file's.
#[test]
fn rows_inserted_during_the_run_do_not_split_the_count_and_the_file() {
    let dir = Dir::new("billing-concurrent");
    let pg = Postgres::start();
    pg.psql(include_str!("fixtures/billing.sql"));
    pg.psql(
        "create table stop_inserts (x int);\n\
         create procedure keep_inserting() language plpgsql as $$\n\
         declare i int := 0;\n\
         begin\n\
           loop\n\
             exit when exists (select 1 from stop_inserts) or i >= 6000;\n\
             insert into charges (id, account_id, currency, created_at)\n\
               values (1000000 + i, md5('late')::uuid, 'USD', timestamptz '2025-03-15 12:00:00+00');\n\
             commit;\n\
             perform pg_sleep(0.005);\n\
             i := i + 1;\n\
           end loop;\n\
         end $$;",
    );
    let before = month_count(&pg, "charges");
    std::thread::scope(|scope| {
        let inserter = scope.spawn(|| pg.psql("call keep_inserting()"));
        while month_count(&pg, "charges") == before {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let started = month_count(&pg, "charges");
        let mut cmd = billing_command(&dir, &pg);
        cmd.env("BILLING_TABLES", "charges:created_at")
            .env("SNAPSHOT_TABLES", "")
            .env("WORK_DIR", dir.join("work"))
            .args(["--period", "2025-03", "--dest"])
            .arg(dir.join("dest"));
        let run = cmd.run();
        let ended = month_count(&pg, "charges");
        pg.psql("insert into stop_inserts values (1)");
        inserter.join().unwrap();
        assert_eq!(run.code, Some(0), "{}", run.report());
        let month = dir.join("dest/billing-archive/2025/03");
        let rows = parquet_facts(&month.join("charges-2025-03.parquet.gz"))["rows"]
            .as_u64()
            .unwrap();
        let m: Value =
            serde_json::from_str(&std::fs::read_to_string(month.join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(
            m["files"][0]["records"], rows,
            "the count and the file disagree"
        );
        assert!(ended > started, "no row was inserted during the run");
        assert!(
            (started..=ended).contains(&rows),
            "{rows} rows, not between {started} and {ended}"
        );
    });
}

/// The database unreachable is exit 4 (not "no such table"), found before
/// any work and by --dry-run too; a bucket that does not exist is exit 2.
#[test]
fn a_failed_connection_is_exit_4_and_a_missing_bucket_exit_2_before_any_work() {
    let dir = Dir::new("billing-preflight");
    let pg = Postgres::start();
    pg.psql(include_str!("fixtures/billing.sql"));
    let s3 = MotoServer::start();
    s3.create_bucket("billing", false);
    let dead = testkit::free_port().to_string();
    for dry in [false, true] {
        let mut cmd = billing_command(&dir, &pg);
        s3.configure(&mut cmd);
        cmd.env("PGPORT", &dead)
            .env("WORK_DIR", dir.join("work"))
            .args(["--period", "2025-03", "--dest", "s3://billing"]);
        if dry {
            cmd.arg("--dry-run");
        }
        let run = cmd.expect_code(4);
        run.assert(
            run.stderr.contains("PostgreSQL") && !run.stderr.contains("no such table"),
            "the failed connection is not named as such",
        );
    }
    for dry in [false, true] {
        let mut cmd = billing_command(&dir, &pg);
        s3.configure(&mut cmd);
        cmd.env("WORK_DIR", dir.join("work")).args([
            "--period",
            "2025-03",
            "--dest",
            "s3://no-such-bucket",
        ]);
        if dry {
            cmd.arg("--dry-run");
        }
        let run = cmd.expect_code(2);
        run.assert(
            run.stderr.contains("no-such-bucket") && !run.stderr.contains("credits: select"),
            "the destination is not named, or work started before it was checked",
        );
    }
    let listing = s3.python("print(s3.list_objects_v2(Bucket='billing').get('KeyCount', 0))");
    assert_eq!(listing.trim(), "0", "something was written");
}

/// The database going away in the middle of the run (the session that
/// reads `charges` terminated by the server while it waits for a lock) is
/// exit 4 and named, never "no such table" or a data error.
#[test]
fn a_connection_lost_mid_run_is_exit_4() {
    let dir = Dir::new("billing-midrun");
    let pg = Postgres::start();
    pg.psql(include_str!("fixtures/billing.sql"));
    // Another session holds charges until it is terminated.
    let mut locker = std::process::Command::new(pg.bindir().join("psql"))
        .args(["-X", "-q", "-c"])
        .arg("begin; lock table charges in access exclusive mode; select pg_sleep(60); commit;")
        .envs(pg.env())
        .env("PGAPPNAME", "locker")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while count(&pg, "select count(*) from pg_locks l join pg_stat_activity a using (pid) where a.application_name = 'locker' and l.mode = 'AccessExclusiveLock' and l.granted") == 0 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let run = std::thread::scope(|scope| {
        let job = scope.spawn(|| {
            let mut cmd = billing_command(&dir, &pg);
            cmd.env("BILLING_TABLES", "credits:created_at charges:created_at")
                .env("SNAPSHOT_TABLES", "")
                .env("WORK_DIR", dir.join("work"))
                .env("SUMMARY_FILE", dir.join("summary.json"))
                .args(["--period", "2025-03", "--dest"])
                .arg(dir.join("dest"));
            cmd.run()
        });
        // The job's session waiting on the lock is cut off by the server.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while count(
            &pg,
            "select count(pg_terminate_backend(pid)) from pg_stat_activity \
                          where wait_event_type = 'Lock' and application_name <> 'locker'",
        ) == 0
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the job never waited on charges"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        job.join().unwrap()
    });
    pg.psql(
        "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'locker'",
    );
    let _ = locker.wait();
    assert_eq!(run.code, Some(4), "{}", run.report());
    run.assert(
        run.stderr.contains("charges") && !run.stderr.contains("no such table"),
        "the failure is not named, or called a missing table",
    );
    let s: Value = serde_json::from_str(&dir.read("summary.json")).unwrap();
    run.assert(
        s["exit_code"] == 4
            && s["failed_stage"]
                .as_str()
                .is_some_and(|f| f.ends_with(":charges")),
        &format!("summary: {s}"),
    );
    run.assert(
        !dir.join("dest/billing-archive/2025/03").exists(),
        "shipped after a failure",
    );
}

/// The archiver's policy: PutObject on the data, Get/Put on the job's
/// state, nothing else (what no-clobber archiving needs).
const PUT_ONLY_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:PutObject"],"Resource":"arn:aws:s3:::billing/billing-archive/*"},
 {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::billing/_state/*"},
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
            .args(["--period", "2025-03", "--dest", "s3://billing"]);
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
    let charges_key = "billing-archive/2025/03/charges-2025-03.parquet.gz";
    let before = stored(charges_key);

    // Unchanged: a re-run is idempotent (skipped, exit 0).
    run_billing(0);
    // A correction of one charge of the month.
    pg.psql("update charges set amount = amount + 1 where id = (select min(id) from charges where created_at >= '2025-03-01' and created_at < '2025-04-01')");
    let run = run_billing(1);
    run.assert(
        run.stderr.contains("charges-2025-03.parquet.gz"),
        "the corrected file is not named",
    );
    let s: Value = serde_json::from_str(&dir.read("summary.json")).unwrap();
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
        conflicts.contains(&"charges-2025-03.parquet.gz"),
        &format!("conflicts: {conflicts:?}"),
    );
    run.assert(
        !conflicts.contains(&"credits-2025-03.parquet.gz"),
        &format!("an unchanged file called a conflict: {conflicts:?}"),
    );
    run.assert(
        stored(charges_key) == before,
        "the archived bytes were replaced",
    );
    // The run record is beside the archive, where the archiver may write.
    let record = stored("_state/billing/2025-03/last-run.json");
    run.assert(!record.is_empty(), "no run record in _state");
}
