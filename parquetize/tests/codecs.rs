//! gzip inside the Parquet file, as the billing spec asks: `--compression
//! gzip` with `--compression-level`, read back by pyarrow and DuckDB, which
//! both report GZIP as the codec; a level gzip has not is a usage error.

use crate::cli::{base_args, setup, HEADER};
use crate::support::*;
use std::process::Command;

/// DuckDB's view of the file: (rows, sum of amount as text, codecs).
fn duckdb_view(path: &std::path::Path) -> Option<(String, String)> {
    let script = "import sys, duckdb\n\
        c = duckdb.connect()\n\
        p = sys.argv[1]\n\
        n, s = c.execute(f\"select count(*), sum(amount)::varchar from '{p}'\").fetchone()\n\
        codecs = sorted({r[0] for r in c.execute(f\"select compression from parquet_metadata('{p}')\").fetchall()})\n\
        print(f'{n} {s}')\n\
        print(','.join(codecs))";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named 'duckdb'") {
            return None;
        }
        panic!("duckdb could not read {}: {err}", path.display());
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    Some((lines.next()?.to_string(), lines.next()?.to_string()))
}

#[test]
fn gzip_with_a_level_is_read_by_pyarrow_and_duckdb() {
    let dir = setup("pq-gzip");
    let mut body = String::from(HEADER);
    for i in 0..4000 {
        body.push_str(&format!(
            "{i},{}.{:02},,US,charge {},2025-11-01,2025-11-01 00:00:{:02}+00,,f\n",
            i % 977,
            i % 100,
            i % 13,
            i % 60
        ));
    }
    dir.write("in.csv", &body);
    let mut sizes = Vec::new();
    for level in ["1", "9"] {
        let name = format!("gzip{level}.parquet");
        let run = dir
            .command(bin())
            .args(["in.csv", "--format", "pg-csv", "--compression", "gzip"])
            .args(["--compression-level", level, "--name", &name])
            .args(base_args())
            .expect_success();
        assert_eq!(run.json_lines()[0]["compression"], "gzip");
        let path = dir.join(&format!("out/{name}"));
        let (info, rows) = read_pyarrow(&path);
        assert_eq!(info["codec"], "GZIP", "pyarrow's codec");
        assert_eq!(rows.len(), 4000);
        assert_eq!(rows[3999][1].as_deref(), Some("91.990000"));
        let (_, arrow_rows) = read_arrow(&path);
        assert_eq!(arrow_rows, rows, "arrow-rs and pyarrow agree");
        if let Some((counts, codecs)) = duckdb_view(&path) {
            let cents: u64 = (0..4000u64).map(|i| (i % 977) * 100 + i % 100).sum();
            let expected = format!("4000 {}.{:02}0000", cents / 100, cents % 100);
            assert_eq!(counts, expected, "duckdb reads every row, exact sum");
            assert_eq!(codecs, "GZIP", "duckdb's codec for every column chunk");
        } else {
            eprintln!("duckdb is not installed; checked with pyarrow and arrow-rs only");
        }
        sizes.push(std::fs::metadata(&path).unwrap().len());
    }
    assert!(
        sizes[1] <= sizes[0],
        "level 9 no larger than level 1: {sizes:?}"
    );
    let run = dir
        .command(bin())
        .args(["in.csv", "--format", "pg-csv", "--compression", "gzip"])
        .args(["--compression-level", "10", "--name", "bad.parquet"])
        .args(base_args())
        .expect_code(2);
    run.assert(run.stderr.contains("gzip (0-9)"), "the level's range named");
    assert!(!dir.join("out/bad.parquet").exists());
}
