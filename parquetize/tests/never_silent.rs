//! Issue 19: no value is ever changed or dropped without a word. Each case
//! that used to be converted silently (rows after `\.`, floats beyond
//! range, non-numbers kept as numeric text, duplicate NDJSON keys, array
//! lower bounds, leading zeros under --infer, a signal while blocked on
//! stdin) is now an exit 3 (130 for the signal) naming the file, line,
//! column and value, or is kept exactly.

use crate::support::*;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};
use testkit::Dir;

const SCHEMA: &str = "\
CREATE TABLE public.m (
    id bigint NOT NULL,
    ratio double precision,
    weight real,
    fx numeric,
    tags integer[]
);
";

fn setup(name: &str) -> Dir {
    let dir = Dir::new(name);
    dir.write("schema.sql", SCHEMA);
    dir
}

fn args<'a>(input: &'a str, format: &'a str) -> Vec<&'a str> {
    vec![
        input,
        "--format",
        format,
        "--table",
        "m",
        "--schema-sql",
        "schema.sql",
        "--numeric-as",
        "string",
        "--out",
        "out",
    ]
}

/// Run and expect exit 3 with every needle in stderr, no file line and
/// nothing new (not even a temporary file) under out/.
fn refused(dir: &Dir, input: &str, format: &str, needles: &[&str]) {
    let before = dir.files("out");
    let run = dir.command(bin()).args(args(input, format)).expect_code(3);
    for n in needles {
        run.assert(run.stderr.contains(n), &format!("stderr should name {n:?}"));
    }
    run.assert(run.stdout.is_empty(), "no file line on failure");
    assert_eq!(dir.files("out"), before, "{input}: file left in out/");
}

fn converted(dir: &Dir, extra: &[&str], input: &str, format: &str) -> Vec<Row> {
    let run = dir
        .command(bin())
        .args(args(input, format))
        .args(extra)
        .expect_success();
    let path = run.json_lines()[0]["path"].as_str().unwrap().to_string();
    read_arrow(&dir.join(&format!("out/{path}"))).1
}

#[test]
fn end_marker_is_only_the_last_line() {
    let dir = setup("pq19-marker");
    dir.write(
        "ok.tsv",
        "1\t0.5\t\\N\t\\N\t\\N\n2\t\\N\t\\N\t\\N\t\\N\n\\.\n",
    );
    let rows = converted(&dir, &[], "ok.tsv", "pg-text");
    assert_eq!(rows.len(), 2, "\\. as the last line ends the data");
    dir.write(
        "after.tsv",
        "1\t0.5\t\\N\t\\N\t\\N\n\\.\n3\t\\N\t\\N\t\\N\t\\N\n",
    );
    refused(
        &dir,
        "after.tsv",
        "pg-text",
        &[
            "after.tsv:3:",
            "column 1",
            "end-of-data marker",
            "line 2",
            "\"3\\t\\\\N",
        ],
    );
}

#[test]
fn floats_out_of_range_are_refused_and_infinity_kept() {
    let dir = setup("pq19-floats");
    dir.write(
        "ok.tsv",
        "1\tInfinity\t-Infinity\t\\N\t\\N\n2\tNaN\t1e-40\t\\N\t\\N\n3\t4.9e-324\t0e-999\t\\N\t\\N\n",
    );
    let rows = converted(&dir, &[], "ok.tsv", "pg-text");
    assert_eq!(rows[0][1].as_deref(), Some("inf"));
    assert_eq!(rows[0][2].as_deref(), Some("-inf"));
    assert_eq!(rows[1][1].as_deref(), Some("NaN"));
    let subnormal: f64 = rows[2][1].as_deref().unwrap().parse().unwrap();
    assert!(subnormal > 0.0, "a subnormal is kept, not flushed to zero");
    assert_eq!(
        rows[2][2].as_deref(),
        Some("0"),
        "a zero literal stays zero"
    );
    for (file, body, needles) in [
        (
            "big.tsv",
            "1\t1e400\t\\N\t\\N\t\\N\n",
            ["big.tsv:1:", "column ratio", "out of range", "\"1e400\""],
        ),
        (
            "tiny.tsv",
            "1\t\\N\t\\N\t\\N\t\\N\n2\t1e-400\t\\N\t\\N\t\\N\n",
            [
                "tiny.tsv:2:",
                "column ratio",
                "underflows to zero",
                "\"1e-400\"",
            ],
        ),
        (
            "real.tsv",
            "1\t\\N\t1e-50\t\\N\t\\N\n",
            ["real.tsv:1:", "column weight", "underflows", "\"1e-50\""],
        ),
        (
            "realbig.tsv",
            "1\t\\N\t1e39\t\\N\t\\N\n",
            [
                "realbig.tsv:1:",
                "column weight",
                "out of range for real",
                "\"1e39\"",
            ],
        ),
    ] {
        dir.write(file, body);
        refused(&dir, file, "pg-text", &needles);
    }
}

#[test]
fn numeric_as_string_must_be_a_numeric_literal() {
    let dir = setup("pq19-numeric");
    dir.write(
        "ok.csv",
        "id,ratio,weight,fx,tags\n1,,,0.91000000000000000001,\n2,,,NaN,\n3,,,-Infinity,\n4,,,1e-6,\n",
    );
    let rows = converted(&dir, &[], "ok.csv", "pg-csv");
    let fx: Vec<_> = rows.iter().map(|r| r[3].clone().unwrap()).collect();
    assert_eq!(
        fx,
        ["0.91000000000000000001", "NaN", "-Infinity", "1e-6"],
        "exact text"
    );
    dir.write("abc.csv", "id,ratio,weight,fx,tags\n1,,,12,\n2,,,abc,\n");
    refused(
        &dir,
        "abc.csv",
        "pg-csv",
        &[
            "abc.csv:3:",
            "column fx",
            "not a numeric literal",
            "\"abc\"",
        ],
    );
    dir.write("empty.csv", "id,ratio,weight,fx,tags\n1,,,\"\",\n");
    refused(
        &dir,
        "empty.csv",
        "pg-csv",
        &[
            "empty.csv:2:",
            "column fx",
            "not a numeric literal",
            "value \"\"",
        ],
    );
    dir.write("sep.csv", "id,ratio,weight,fx,tags\n1,,,1_000,\n");
    refused(
        &dir,
        "sep.csv",
        "pg-csv",
        &["sep.csv:2:", "column fx", "\"1_000\""],
    );
}

#[test]
fn ndjson_duplicate_key_is_refused() {
    let dir = setup("pq19-dupkey");
    dir.write(
        "dup.ndjson",
        "{\"id\": 1}\n{\"id\": 2, \"fx\": 1.5, \"fx\": 2.5}\n",
    );
    refused(
        &dir,
        "dup.ndjson",
        "ndjson",
        &[
            "dup.ndjson:2:",
            "key \"fx\" appears more than once",
            "value 2.5",
        ],
    );
    // --infer reads the same objects and refuses the same way.
    let run = dir
        .command(bin())
        .args([
            "dup.ndjson",
            "--format",
            "ndjson",
            "--table",
            "m",
            "--infer",
            "--out",
            "out",
        ])
        .expect_code(3);
    run.assert(run.stderr.contains("dup.ndjson:2:"), "line named");
    run.assert(
        run.stderr.contains("\"fx\" appears more than once"),
        "key named",
    );
}

#[test]
fn array_lower_bounds_are_refused_unless_dropped() {
    let dir = setup("pq19-bounds");
    dir.write(
        "b.tsv",
        "1\t\\N\t\\N\t\\N\t{1,2}\n2\t\\N\t\\N\t\\N\t[1:2]={3,4}\n3\t\\N\t\\N\t\\N\t[0:1]={5,6}\n",
    );
    refused(
        &dir,
        "b.tsv",
        "pg-text",
        &[
            "b.tsv:3:",
            "column tags",
            "lower bound 0",
            "--drop-array-bounds",
            "\"[0:1]={5,6}\"",
        ],
    );
    let rows = converted(&dir, &["--drop-array-bounds"], "b.tsv", "pg-text");
    let tags: Vec<_> = rows.iter().map(|r| r[4].clone().unwrap()).collect();
    assert_eq!(tags, ["[1,2]", "[3,4]", "[5,6]"]);
    dir.write("bad.tsv", "1\t\\N\t\\N\t\\N\t[0:5]={5,6}\n");
    refused(
        &dir,
        "bad.tsv",
        "pg-text",
        &["bad.tsv:1:", "do not match its 2 elements"],
    );
}

#[test]
fn infer_keeps_leading_zeros_as_text() {
    let dir = Dir::new("pq19-infer");
    dir.write(
        "codes.csv",
        "code,n,amount,neg\n007,1,0.50,-1\n12,2,2.25,-0\n",
    );
    let schema = dir
        .command(bin())
        .args([
            "codes.csv",
            "--table",
            "t",
            "--format",
            "csv",
            "--infer",
            "--print-schema",
        ])
        .expect_success()
        .stdout;
    assert!(schema.contains("code text"), "{schema}");
    assert!(schema.contains("n bigint"), "{schema}");
    assert!(schema.contains("amount numeric(3,2)"), "{schema}");
    assert!(
        schema.contains("neg text"),
        "-0 would lose its sign: {schema}"
    );
    let run = dir
        .command(bin())
        .args([
            "codes.csv",
            "--table",
            "t",
            "--format",
            "csv",
            "--infer",
            "--out",
            "out",
        ])
        .expect_success();
    let path = run.json_lines()[0]["path"].as_str().unwrap().to_string();
    let (_, rows) = read_arrow(&dir.join(&format!("out/{path}")));
    assert_eq!(rows[0][0].as_deref(), Some("007"));
    assert_eq!(rows[1][3].as_deref(), Some("-0"));
}

/// A signal while the run waits on a stdin that never ends: exit 130
/// promptly, no file line, no file, no temporary file.
#[test]
fn signal_while_blocked_on_stdin_ends_the_run() {
    for signal in ["-TERM", "-INT"] {
        let dir = setup(&format!("pq19-signal{signal}"));
        let mut cmd = dir.command(bin());
        cmd.args(args("-", "pg-text"));
        let mut child = cmd
            .command_mut()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "1\t0.5\t\\N\t\\N\t\\N").unwrap();
        stdin.flush().unwrap();
        let started = Instant::now();
        while dir.files("out").is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no temporary file appeared"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Blocked in a read of stdin now; stdin stays open.
        std::thread::sleep(Duration::from_millis(200));
        let sent = Instant::now();
        let status = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut waited = None;
        while sent.elapsed() < Duration::from_secs(10) {
            if let Some(s) = child.try_wait().unwrap() {
                waited = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let Some(status) = waited else {
            let _ = child.kill();
            panic!("{signal}: still running 10 s after the signal");
        };
        assert!(
            sent.elapsed() < Duration::from_secs(3),
            "{signal}: not prompt"
        );
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(status.code(), Some(130), "{signal}: {stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        assert!(out.stdout.is_empty());
        assert_eq!(
            dir.files("out"),
            Vec::<String>::new(),
            "{signal}: file left behind"
        );
        drop(stdin);
    }
}
