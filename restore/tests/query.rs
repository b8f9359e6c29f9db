//! `restore query`: the DuckDB views it prints, run by DuckDB over the
//! layouts partition writes, and the Athena DDL's projection.

use crate::support::*;
use testkit::{workspace_bin, Dir};

const RECORDS: &str = "\
{\"id\":\"e1\",\"timestamp\":\"2026-10-01T10:00:00Z\",\"user_id\":\"alice@example.com\",\"actor\":{\"user_id\":\"alice@example.com\"},\"type\":\"login\"}
{\"id\":\"e2\",\"timestamp\":\"2026-10-01T11:00:00Z\",\"user_id\":\"alice@example.com\",\"actor\":{\"user_id\":\"alice@example.com\"},\"type\":\"chat\"}
{\"id\":\"e3\",\"timestamp\":\"2026-10-02T09:00:00Z\",\"user_id\":\"bob@example.com\",\"actor\":{\"user_id\":\"bob@example.com\"},\"type\":\"chat\"}
{\"id\":\"e4\",\"timestamp\":\"2026-10-03T09:00:00Z\",\"user_id\":\"alice@example.com\",\"actor\":{\"user_id\":\"alice@example.com\"},\"type\":\"logout\"}
";

/// Run DuckDB (the Python package) on the views and one query; rows as text.
fn duckdb(views: &str, sql: &str) -> String {
    let script = "import duckdb, sys\ncon = duckdb.connect()\nfor stmt in sys.argv[1].split(';'):\n    if stmt.strip() and not all(l.strip().startswith('--') for l in stmt.strip().splitlines()):\n        con.execute(stmt)\nfor row in con.execute(sys.argv[2]).fetchall():\n    print('|'.join(str(c) for c in row))";
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(views)
        .arg(sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "duckdb failed on {sql}:\n{}\nviews:\n{views}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn partition(dir: &Dir, args: &[&str]) {
    let mut p = dir.command(workspace_bin("partition"));
    p.args(args).stdin(RECORDS);
    p.expect_success();
}

#[test]
fn duckdb_recipes_over_the_hive_layout() {
    let dir = Dir::new("query-hive");
    let root = dir.join("logs");
    partition(
        &dir,
        &[
            "--out",
            root.to_str().unwrap(),
            "--preset",
            "log-events",
            "--layout",
            "hive",
            "--compress",
            "zstd",
        ],
    );
    let moto = moto(false);
    let views = restore(&dir, &moto)
        .args(["query", "--layout", "hive"])
        .arg(&root)
        .expect_success()
        .stdout;
    // By the record's own user_id (not shadowed by the partition key) and a date range.
    let by_user = duckdb(&views, "SELECT id FROM records WHERE user_id = 'alice@example.com' AND archive_date BETWEEN '2026-10-01' AND '2026-10-02' ORDER BY id");
    assert_eq!(by_user, "e1\ne2\n", "{views}");
    assert_eq!(
        duckdb(&views, "SELECT type FROM records WHERE id = 'e3'"),
        "chat\n"
    );
    assert_eq!(
        duckdb(
            &views,
            "SELECT archive_date, count(*) FROM records GROUP BY 1 ORDER BY 1"
        ),
        "2026-10-01|2\n2026-10-02|1\n2026-10-03|1\n"
    );
}

#[test]
fn duckdb_recipes_over_the_seed_layout() {
    let dir = Dir::new("query-seed");
    let root = dir.join("conv");
    partition(
        &dir,
        &[
            "--out",
            root.to_str().unwrap(),
            "--time-field",
            "timestamp",
            "--user-field",
            "user_id",
        ],
    );
    let moto = moto(false);
    let views = restore(&dir, &moto)
        .args(["query", "--layout", "seed"])
        .arg(&root)
        .expect_success()
        .stdout;
    assert_eq!(
        duckdb(&views, "SELECT count(*) FROM records"),
        "4\n",
        "{views}"
    );
    assert_eq!(
        duckdb(
            &views,
            "SELECT id FROM records WHERE user_id = 'bob@example.com'"
        ),
        "e3\n"
    );
    assert_eq!(
        duckdb(
            &views,
            "SELECT archive_date, count(*) FROM records GROUP BY 1 ORDER BY 1"
        ),
        "2026-10-01|2\n2026-10-02|1\n2026-10-03|1\n"
    );
}

#[test]
fn athena_ddl_projects_dates_and_injects_users() {
    let dir = Dir::new("query-athena");
    let moto = moto(false);
    let run = restore(&dir, &moto)
        .args([
            "query",
            "s3://vault/logs",
            "--layout",
            "hive",
            "--athena-table",
            "compliance.events",
            "--since",
            "2025-07-02",
        ])
        .expect_success();
    for want in [
        "CREATE EXTERNAL TABLE IF NOT EXISTS compliance.events",
        "PARTITIONED BY (`archive_user` string, `archive_date` string)",
        "'projection.archive_user.type' = 'injected'",
        "'projection.archive_date.range' = '2025-07-02,NOW'",
        "'storage.location.template' = 's3://vault/logs/archive_user=${archive_user}/archive_date=${archive_date}/'",
    ] {
        run.assert(run.stdout.contains(want), &format!("missing {want:?}"));
    }
    restore(&dir, &moto)
        .args(["query", "./local", "--athena-table", "db.t"])
        .expect_code(2);
}
