//! The command line without a database: malformed input, naming, dry
//! runs, summaries, schema files, inference, NDJSON.

use crate::support::*;
use std::io::Write;
use testkit::Dir;

pub(crate) const SCHEMA: &str = "\
--
-- PostgreSQL database dump
--
CREATE TABLE public.charges (
    id bigint NOT NULL,
    amount numeric(18,6),
    fx_rate numeric,
    country character(2),
    description text,
    billing_period date,
    created_at timestamp with time zone NOT NULL,
    metadata jsonb,
    refunded boolean
);
ALTER TABLE ONLY public.charges ADD CONSTRAINT charges_pkey PRIMARY KEY (id);
";

pub(crate) const HEADER: &str =
    "id,amount,fx_rate,country,description,billing_period,created_at,metadata,refunded\n";
const GOOD_CSV: &str = "\
1,12.5,0.91000000000000000001,NA,\"\",2025-11-01,2025-11-03 14:05:09.123456+00,\"{\"\"a\"\": 1}\",t
2,-999999999999.999999,,US,,2025-11-01,2025-11-03 14:05:09+05:30,,
3,0.000001,1,DE,\"multi
line, \"\"quoted\"\"\",2025-11-01,2025-11-30 23:59:59.999999+00,\"[]\",f
";

pub(crate) fn setup(name: &str) -> Dir {
    let dir = Dir::new(name);
    dir.write("schema.sql", SCHEMA);
    dir
}

pub(crate) fn base_args() -> Vec<&'static str> {
    vec![
        "--table",
        "charges",
        "--schema-sql",
        "schema.sql",
        "--numeric-as",
        "string",
        "--out",
        "out",
        "--period",
        "2025-11",
    ]
}

/// Run on `input` as a pg-csv file and expect an input data error whose
/// message holds every one of `needles`, with nothing left in out/.
fn expect_data_error(dir: &Dir, file: &str, contents: &[u8], format: &str, needles: &[&str]) {
    dir.write(file, contents);
    let run = dir
        .command(bin())
        .arg(file)
        .args(["--format", format])
        .args(base_args())
        .expect_code(3);
    for n in needles {
        run.assert(
            run.stderr.contains(n),
            &format!("stderr should contain {n:?}"),
        );
    }
    run.assert(run.stdout.is_empty(), "no file line on failure");
    assert_eq!(
        dir.files("out"),
        Vec::<String>::new(),
        "output or temporary file left behind for {file}"
    );
}

#[test]
fn good_csv_converts_with_exact_values() {
    let dir = setup("pq-good");
    dir.write("in.csv", format!("{HEADER}{GOOD_CSV}"));
    let run = dir
        .command(bin())
        .args(["in.csv", "--format", "pg-csv"])
        .args(base_args())
        .expect_success();
    let line = &run.json_lines()[0];
    assert_eq!(line["records"], 3);
    assert_eq!(line["path"], "charges-2025-11.parquet");
    run.assert(
        run.stderr
            .contains("parquetize: charges: 3 records -> out/charges-2025-11.parquet"),
        "summary line",
    );
    let (_, rows) = read_arrow(&dir.join("out/charges-2025-11.parquet"));
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows[0],
        vec![
            s("1"),
            s("12.500000"),
            s("0.91000000000000000001"),
            s("NA"),
            s(""),
            s("20393"),
            s("1762178709123456"),
            s("{\"a\": 1}"),
            s("t")
        ]
    );
    assert_eq!(rows[1][1], s("-999999999999.999999"));
    assert_eq!(rows[1][2], None, "unquoted empty is NULL");
    assert_eq!(rows[1][4], None);
    assert_eq!(rows[1][6], s("1762158909000000"), "+05:30 converted to UTC");
    assert_eq!(rows[2][4], s("multi\nline, \"quoted\""));
    assert_eq!(rows[2][1], s("0.000001"));
}

/// A valid data row for [`SCHEMA`], edited by the malformed-input tests.
const ROW: &str = "1,1.5,,US,x,2025-11-01,2025-11-01 00:00:00+00,,t\n";

#[test]
fn malformed_records_are_named_and_leave_nothing() {
    let dir = setup("pq-bad-records");
    let row = ROW;
    expect_data_error(
        &dir,
        "count.csv",
        format!("{HEADER}{row}2,1.5,,US,x,2025-11-01\n").as_bytes(),
        "pg-csv",
        &["count.csv:3: expected 9 fields, found 6"],
    );
    expect_data_error(
        &dir,
        "quote.csv",
        format!("{HEADER}{row}2,1,,US,\"never closed,2025-11-01\n").as_bytes(),
        "pg-csv",
        &["quote.csv:3: quoted field not closed"],
    );
    expect_data_error(
        &dir,
        "header.csv",
        format!("id,amount\n{row}").as_bytes(),
        "pg-csv",
        &["header.csv:1: header does not match table charges"],
    );
    let mut utf8 = HEADER.as_bytes().to_vec();
    utf8.extend_from_slice(b"1,1.5,,US,caf\xe9,2025-11-01,2025-11-01 00:00:00+00,,t\n");
    expect_data_error(
        &dir,
        "utf8.csv",
        &utf8,
        "pg-csv",
        &["utf8.csv:2: column description (text): not valid UTF-8"],
    );
    expect_data_error(
        &dir,
        "text.tsv",
        b"1\t1.5\t\\N\tUS\tx\t2025-11-01\t2025-11-01 00:00:00+00\t\\N\tt\n2\tabc\t\\N\tUS\tx\t2025-11-01\t2025-11-01 00:00:00+00\t\\N\tt\n",
        "pg-text",
        &["text.tsv:2: column amount", "\"abc\""],
    );
}

#[test]
fn bad_values_are_named_and_leave_nothing() {
    let dir = setup("pq-bad-values");
    let row = ROW;
    expect_data_error(
        &dir,
        "number.csv",
        format!("{HEADER}{row}{}", row.replace("1,1.5", "2,1.5x")).as_bytes(),
        "pg-csv",
        &[
            "number.csv:3: column amount (numeric(18,6))",
            "not a decimal number",
            "\"1.5x\"",
        ],
    );
    expect_data_error(
        &dir,
        "round.csv",
        format!("{HEADER}{}", row.replace("1,1.5", "1,1.0000001")).as_bytes(),
        "pg-csv",
        &[
            "round.csv:2: column amount",
            "refusing to round",
            "\"1.0000001\"",
        ],
    );
    expect_data_error(
        &dir,
        "big.csv",
        format!("{HEADER}{}", row.replace("1,1.5", "1,1000000000000")).as_bytes(),
        "pg-csv",
        &["big.csv:2: column amount", "does not fit numeric(18,6)"],
    );
    expect_data_error(
        &dir,
        "date.csv",
        format!("{HEADER}{}", row.replace("2025-11-01,", "2025-02-30,")).as_bytes(),
        "pg-csv",
        &[
            "date.csv:2: column billing_period (date)",
            "not a valid date",
            "\"2025-02-30\"",
        ],
    );
    expect_data_error(
        &dir,
        "ts.csv",
        format!("{HEADER}{}", row.replace("00:00:00+00", "00:00:00")).as_bytes(),
        "pg-csv",
        &["ts.csv:2: column created_at", "no UTC offset"],
    );
    expect_data_error(
        &dir,
        "notnull.csv",
        format!("{HEADER}{}", row.replace("2025-11-01 00:00:00+00", "")).as_bytes(),
        "pg-csv",
        &[
            "notnull.csv:2: column created_at",
            "NULL in a NOT NULL column",
        ],
    );
    expect_data_error(
        &dir,
        "json.csv",
        format!("{HEADER}{}", row.replace(",,t", ",{oops},t")).as_bytes(),
        "pg-csv",
        &["json.csv:2: column metadata (jsonb)", "not valid JSON"],
    );
    expect_data_error(
        &dir,
        "bool.csv",
        format!("{HEADER}{}", row.replace(",,t", ",,maybe")).as_bytes(),
        "pg-csv",
        &["bool.csv:2: column refunded (boolean)", "not a boolean"],
    );
}

#[test]
fn truncated_gzip_is_named_and_leaves_nothing() {
    let dir = setup("pq-bad-gzip");
    let row = ROW;
    // A truncated gzip stream: documented as exit 3 naming the input.
    let mut body = String::from(HEADER);
    for i in 0..20_000 {
        body.push_str(&row.replacen('1', &i.to_string(), 1));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    expect_data_error(
        &dir,
        "cut.csv.gz",
        &gz[..gz.len() / 2],
        "pg-csv",
        &[
            "cut.csv.gz: reading after line",
            "truncated or corrupt compressed input",
        ],
    );
}

#[test]
fn failed_run_keeps_the_previous_file() {
    let dir = setup("pq-keep");
    dir.write("in.csv", format!("{HEADER}{GOOD_CSV}"));
    dir.command(bin())
        .args(["in.csv", "--format", "pg-csv"])
        .args(base_args())
        .expect_success();
    let before = dir.read_bytes("out/charges-2025-11.parquet");
    dir.write(
        "in.csv",
        format!("{HEADER}{GOOD_CSV}4,x,,US,,2025-11-01,2025-11-01 00:00:00+00,,\n"),
    );
    let run = dir
        .command(bin())
        .args(["in.csv", "--format", "pg-csv", "--summary", "sum.json"])
        .args(base_args())
        .expect_code(3);
    run.assert(
        run.stderr.contains("in.csv:6: column amount"),
        "line counts embedded newlines",
    );
    assert_eq!(
        dir.read_bytes("out/charges-2025-11.parquet"),
        before,
        "previous file replaced"
    );
    assert_eq!(
        dir.files("out"),
        ["charges-2025-11.parquet"],
        "temporary file left behind"
    );
    let summary: serde_json::Value = serde_json::from_str(&dir.read("sum.json")).unwrap();
    assert_eq!(summary["status"], "failed");
    assert_eq!(summary["exit_code"], 3);
    assert!(summary["error"].as_str().unwrap().contains("in.csv:6"));
}

#[test]
fn dry_run_reports_the_real_file_and_writes_nothing() {
    let dir = setup("pq-dry");
    dir.write("in.csv", format!("{HEADER}{GOOD_CSV}"));
    let dry = dir
        .command(bin())
        .args(["in.csv", "--format", "pg-csv", "--dry-run"])
        .args(base_args())
        .expect_success();
    assert!(
        !dir.join("out").exists(),
        "dry run created the output directory"
    );
    let planned = &dry.json_lines()[0];
    assert_eq!(planned["status"], "planned");
    let real = dir
        .command(bin())
        .args(["in.csv", "--format", "pg-csv", "--summary", "sum.json"])
        .args(base_args())
        .expect_success();
    let written = &real.json_lines()[0];
    assert!(written.get("status").is_none());
    assert_eq!(planned["sha256"], written["sha256"]);
    assert_eq!(planned["bytes"], written["bytes"]);
    let summary: serde_json::Value = serde_json::from_str(&dir.read("sum.json")).unwrap();
    assert_eq!(summary["status"], "ok");
    assert_eq!(summary["format"], "pg-csv");
    assert_eq!(summary["records"], 3);
    assert_eq!(summary["sha256"], written["sha256"]);
    assert_eq!(summary["path"], "out/charges-2025-11.parquet");
}

#[test]
fn summary_speaks_the_shared_vocabulary() {
    let dir = setup("pq-summary");
    dir.write("in.csv", format!("{HEADER}{GOOD_CSV}"));
    dir.command(bin())
        .args([
            "in.csv",
            "--format",
            "pg-csv",
            "--dry-run",
            "--summary",
            "sum.json",
        ])
        .args(base_args())
        .expect_success();
    let summary: serde_json::Value = serde_json::from_str(&dir.read("sum.json")).unwrap();
    assert_eq!(summary["tool"], "parquetize");
    assert_eq!(summary["status"], "planned");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["dry_run"], true);
    assert!(summary["elapsed_s"].as_f64().unwrap() >= 0.0, "{summary}");
    assert!(summary.get("seconds").is_none(), "the old name: {summary}");
    for t in ["started", "finished"] {
        assert!(summary[t].as_str().unwrap().ends_with('Z'), "{summary}");
    }
    assert_eq!(summary["records"], 3);
    assert_eq!(summary["table"], "charges");
    assert_eq!(summary["input"], "in.csv");
    assert_eq!(summary["compression"], "zstd");
    for field in [
        "period",
        "snapshot",
        "format",
        "bytes",
        "row_groups",
        "path",
        "sha256",
    ] {
        assert!(!summary[field].is_null(), "{field} missing: {summary}");
    }
    assert!(summary["schema_version"].as_str().unwrap().len() == 12);
}

#[test]
fn sizes_follow_the_one_rule_and_help_says_so() {
    let dir = setup("pq-sizes");
    let help = dir.command(bin()).arg("--help").expect_success();
    let text = help.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    help.assert(
        text.contains("KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)"),
        "--help states the size rule",
    );
    help.assert(
        text.contains("[default: 128MiB]"),
        "default row group bytes",
    );
    dir.write("in.csv", format!("{HEADER}{GOOD_CSV}"));
    for flag in ["--row-group-bytes", "--dictionary-page-bytes"] {
        let run = dir
            .command(bin())
            .args(["in.csv", "--format", "pg-csv", flag, "128M"])
            .args(base_args())
            .expect_code(2);
        run.assert(
            run.stderr.contains(flag) && run.stderr.contains("MiB (powers of 1024)"),
            "a bare unit is refused, naming both readings",
        );
    }
    assert!(!dir.join("out").exists());
}

#[test]
fn print_schema_round_trips_and_names_are_checked() {
    let dir = setup("pq-schema");
    dir.write("in.csv", format!("{HEADER}{GOOD_CSV}"));
    let printed = dir
        .command(bin())
        .args([
            "--table",
            "charges",
            "--schema-sql",
            "schema.sql",
            "--print-schema",
        ])
        .expect_success();
    assert!(
        printed
            .stdout
            .starts_with("CREATE TABLE public.charges (\n    id bigint NOT NULL,\n"),
        "{}",
        printed.stdout
    );
    dir.write("charges.schema", &printed.stdout);
    let a = dir
        .command(bin())
        .args(["in.csv", "--format", "pg-csv"])
        .args(base_args())
        .expect_success();
    let b = dir
        .command(bin())
        .args([
            "in.csv",
            "--format",
            "pg-csv",
            "--table",
            "charges",
            "--schema",
            "charges.schema",
        ])
        .args([
            "--numeric-as",
            "string",
            "--out",
            "out2",
            "--period",
            "2025-11",
        ])
        .expect_success();
    assert_eq!(a.json_lines()[0]["sha256"], b.json_lines()[0]["sha256"]);

    // Snapshot naming and templates.
    let snap = dir
        .command(bin())
        .args(["in.csv", "--format", "pg-csv", "--snapshot"])
        .args(base_args())
        .expect_success();
    assert_eq!(
        snap.json_lines()[0]["path"],
        "charges-snapshot-2025-11.parquet"
    );
    let nested = dir
        .command(bin())
        .args([
            "in.csv",
            "--format",
            "pg-csv",
            "--name",
            "{table}/{period}/{schema_version}.parquet",
        ])
        .args(base_args())
        .expect_success();
    let p = nested.json_lines()[0]["path"].as_str().unwrap().to_string();
    assert!(
        p.starts_with("charges/2025-11/") && dir.join("out").join(&p).is_file(),
        "{p}"
    );
    for bad in ["../x.parquet", "/etc/x", "{tabel}.parquet"] {
        let run = dir
            .command(bin())
            .args(["in.csv", "--format", "pg-csv", "--name", bad])
            .args(base_args())
            .expect_code(2);
        run.assert(run.stderr.contains("--name"), "names the flag");
    }
    // Unknown table, two schema sources.
    dir.command(bin())
        .args([
            "in.csv",
            "--format",
            "pg-csv",
            "--table",
            "nope",
            "--schema-sql",
            "schema.sql",
            "--out",
            "out",
        ])
        .expect_code(2);
    dir.command(bin())
        .args([
            "in.csv",
            "--format",
            "pg-csv",
            "--table",
            "charges",
            "--schema-sql",
            "schema.sql",
            "--infer",
        ])
        .expect_code(2);
}

#[test]
fn infer_reads_everything_and_picks_exact_types() {
    let dir = Dir::new("pq-infer");
    dir.write(
        "in.csv",
        "id,price,when,day,flag,note,ref\n1,1.5,2025-11-01 00:00:00+00,2025-11-01,t,x,a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\n\
         2,-22.125,2025-11-02 00:00:00.5+01,2025-11-02,f,,a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12\n\
         3,7,2025-11-03 00:00:00+00,2025-11-03,t,\"\",a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13\n",
    );
    let printed = dir
        .command(bin())
        .args([
            "in.csv",
            "--table",
            "export",
            "--format",
            "csv",
            "--infer",
            "--print-schema",
        ])
        .expect_success();
    testkit::eqnice!(
        "CREATE TABLE export (\n    id bigint,\n    price numeric(5,3),\n    \"when\" timestamp with time zone,\n    day date,\n    flag boolean,\n    note text,\n    ref uuid\n);\n",
        printed.stdout
    );
    let run = dir
        .command(bin())
        .args([
            "-", "--table", "export", "--format", "csv", "--infer", "--out", "out",
        ])
        .stdin(dir.read("in.csv"))
        .expect_success();
    assert_eq!(run.json_lines()[0]["records"], 3);
    let (_, rows) = read_arrow(&dir.join("out/export.parquet"));
    assert_eq!(rows[1][1].as_deref(), Some("-22.125"));
    assert_eq!(rows[1][5], None);
    assert_eq!(rows[2][5].as_deref(), Some(""));

    dir.write(
        "in.ndjson",
        "{\"id\": 1, \"amount\": 0.10000000000000000001, \"meta\": {\"a\": [1]}, \"name\": \"x\"}\n\
         {\"id\": 2, \"amount\": -5, \"meta\": null}\n",
    );
    let printed = dir
        .command(bin())
        .args([
            "in.ndjson",
            "--table",
            "events",
            "--format",
            "ndjson",
            "--infer",
            "--print-schema",
        ])
        .expect_success();
    testkit::eqnice!(
        "CREATE TABLE events (\n    id bigint,\n    amount numeric(21,20),\n    meta jsonb,\n    name text\n);\n",
        printed.stdout
    );
    dir.command(bin())
        .args([
            "in.ndjson",
            "--table",
            "events",
            "--format",
            "ndjson",
            "--infer",
            "--out",
            "out",
        ])
        .expect_success();
    let (_, rows) = read_arrow(&dir.join("out/events.parquet"));
    assert_eq!(rows[0][1].as_deref(), Some("0.10000000000000000001"));
    assert_eq!(rows[0][2].as_deref(), Some("{\"a\": [1]}"));
    assert_eq!(rows[1][3], None);
}

#[test]
fn ndjson_with_a_schema_keeps_numbers_exact_and_refuses_unknown_keys() {
    let dir = setup("pq-ndjson");
    dir.write(
        "in.ndjson",
        "{\"id\": 1, \"amount\": 123456789012.123456, \"fx_rate\": 0.91000000000000000001, \"created_at\": \"2025-11-01T00:00:00Z\", \"metadata\": {\"k\": \"v\"}, \"refunded\": true}\n",
    );
    dir.command(bin())
        .args(["in.ndjson", "--format", "ndjson"])
        .args(base_args())
        .expect_success();
    let (_, rows) = read_arrow(&dir.join("out/charges-2025-11.parquet"));
    assert_eq!(rows[0][1].as_deref(), Some("123456789012.123456"));
    assert_eq!(rows[0][2].as_deref(), Some("0.91000000000000000001"));
    assert_eq!(rows[0][7].as_deref(), Some("{\"k\": \"v\"}"));
    assert_eq!(rows[0][8].as_deref(), Some("t"));
    assert_eq!(rows[0][3], None, "missing key is NULL");
    dir.write(
        "bad.ndjson",
        "{\"id\": 1, \"created_at\": \"2025-11-01T00:00:00Z\", \"extra\": 1}\n",
    );
    let run = dir
        .command(bin())
        .args(["bad.ndjson", "--format", "ndjson", "--name", "bad.parquet"])
        .args(base_args())
        .expect_code(3);
    run.assert(
        run.stderr
            .contains("bad.ndjson:1: key \"extra\" is not a column"),
        "unknown key named",
    );
    assert!(!dir.join("out/bad.parquet").exists());
}

#[test]
fn compression_codecs_and_row_group_limits() {
    let dir = setup("pq-codecs");
    let mut body = String::from(HEADER);
    for i in 0..5000 {
        body.push_str(&format!(
            "{i},{i}.25,,US,row {i},2025-11-01,2025-11-01 00:00:00.{:06}+00,,t\n",
            i
        ));
    }
    dir.write("in.csv", &body);
    let mut shas = Vec::new();
    for codec in ["zstd", "gzip", "snappy", "none"] {
        let run = dir
            .command(bin())
            .args([
                "in.csv",
                "--format",
                "pg-csv",
                "--compression",
                codec,
                "--name",
                &format!("{codec}.parquet"),
            ])
            .args(["--row-group-rows", "2000"])
            .args(base_args())
            .expect_success();
        let line = &run.json_lines()[0];
        assert_eq!(line["compression"], codec);
        assert_eq!(line["row_groups"], 3);
        shas.push(line["sha256"].as_str().unwrap().to_string());
        let path = dir.join("out").join(format!("{codec}.parquet"));
        let (info, rows) = read_pyarrow(&path);
        assert_eq!(rows.len(), 5000);
        assert_eq!(
            rows[4999][6].as_deref(),
            Some(&*format!("{}", 1761955200000000i64 + 4999))
        );
        let expected = match codec {
            "none" => "UNCOMPRESSED",
            c => &c.to_uppercase(),
        };
        assert_eq!(info["codec"], expected.to_string());
    }
    shas.dedup();
    assert_eq!(shas.len(), 4);
    // A byte bound far below the data makes more, smaller row groups.
    let run = dir
        .command(bin())
        .args([
            "in.csv",
            "--format",
            "pg-csv",
            "--name",
            "small.parquet",
            "--row-group-bytes",
            "16KB",
            "--batch-rows",
            "500",
        ])
        .args(base_args())
        .expect_success();
    let groups = run.json_lines()[0]["row_groups"].as_u64().unwrap();
    run.assert(groups >= 4, "row groups bounded by bytes");
}

#[test]
fn interrupted_run_exits_130_and_leaves_nothing() {
    use std::process::Stdio;
    let dir = setup("pq-interrupt");
    let mut cmd = dir.command(bin());
    cmd.args(["-", "--format", "pg-csv", "--batch-rows", "10"])
        .args(base_args());
    let mut child = cmd
        .command_mut()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(HEADER.as_bytes()).unwrap();
    for i in 0..100 {
        writeln!(stdin, "{i},1.5,,US,x,2025-11-01,2025-11-01 00:00:00+00,,t").unwrap();
    }
    stdin.flush().unwrap();
    // Wait until the temporary file exists: the run is under way.
    let started = std::time::Instant::now();
    while dir.files("out").is_empty() {
        assert!(
            started.elapsed().as_secs() < 20,
            "no temporary file appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // More input after the signal, then the end of input (as when the
    // producer of the pipe is interrupted too).
    writeln!(stdin, "100,1.5,,US,x,2025-11-01,2025-11-01 00:00:00+00,,t").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "stderr: {stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(
        dir.files("out"),
        Vec::<String>::new(),
        "temporary file left behind"
    );
}
