//! CSV is parsed on several threads (`--jobs`): the file must not depend on
//! the thread count, and the error reported must be the first bad value in
//! input order, whichever thread finds its own first.

use crate::cli::{base_args, setup, HEADER};
use crate::support::*;

/// About 3 MB of CSV: several chunks of whole records, with multi-line
/// quoted fields crossing where chunks might be cut.
fn big_csv(bad_records: &[usize]) -> String {
    let mut body = String::from(HEADER);
    for i in 0..40_000usize {
        let amount = if bad_records.contains(&i) {
            "12.3.4".to_string()
        } else {
            format!("{}.{:02}", (i * 7919) % 100_003, i % 100)
        };
        body.push_str(&format!(
            "{i},{amount},,US,\"note {i}\nsecond line, \"\"quoted\"\"\",2025-11-01,2025-11-01 00:00:00.{:06}+00,\"{{\"\"k\"\": {i}}}\",t\n",
            i % 1_000_000
        ));
    }
    body
}

#[test]
fn the_file_is_the_same_for_any_jobs() {
    let dir = setup("pq-jobs");
    dir.write("in.csv", big_csv(&[]));
    let mut shas = Vec::new();
    for jobs in ["1", "2", "3"] {
        let name = format!("j{jobs}.parquet");
        let run = dir
            .command(bin())
            .args([
                "in.csv", "--format", "pg-csv", "--jobs", jobs, "--name", &name,
            ])
            .args(base_args())
            .expect_success();
        let line = &run.json_lines()[0];
        assert_eq!(line["records"], 40_000);
        shas.push(line["sha256"].as_str().unwrap().to_string());
    }
    assert!(shas.iter().all(|s| *s == shas[0]), "{shas:?}");
    let (_, rows) = read_arrow(&dir.join("out/j2.parquet"));
    assert_eq!(rows.len(), 40_000);
    for (i, row) in rows.iter().enumerate().step_by(997) {
        assert_eq!(row[0], Some(i.to_string()), "rows in input order");
        assert_eq!(
            row[4].as_deref(),
            Some(&*format!("note {i}\nsecond line, \"quoted\"")),
            "multi-line field of row {i}"
        );
    }
}

#[test]
fn the_first_bad_value_in_input_order_is_reported() {
    let dir = setup("pq-jobs-error");
    // Every record takes two physical lines (record i starts on line
    // 2 + 2i). One bad value early, one in a later chunk.
    let (early, late) = (2 + 2 * 30_000, 2 + 2 * 39_000);
    dir.write("in.csv", big_csv(&[30_000, 39_000]));
    for jobs in ["1", "2"] {
        let run = dir
            .command(bin())
            .args(["in.csv", "--format", "pg-csv", "--jobs", jobs])
            .args(base_args())
            .expect_code(3);
        run.assert(
            run.stderr
                .contains(&format!("in.csv:{early}: column amount")),
            "the earlier bad value is named",
        );
        run.assert(
            !run.stderr.contains(&format!("in.csv:{late}:")),
            "not the later one",
        );
        run.assert(run.stderr.contains("\"12.3.4\""), "value quoted");
        assert_eq!(dir.files("out"), Vec::<String>::new());
    }
}
