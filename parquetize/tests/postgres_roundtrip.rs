//! Real PostgreSQL in, Parquet out, every value compared with what the
//! server holds, through arrow-rs and pyarrow.

use crate::support::*;
use std::io::Write;
use std::process::Command;
use testkit::{Dir, Postgres};

fn gen_billing(pg: &Postgres, dir: &Dir, charges: u32, credits: u32) {
    let out = Command::new("bash")
        .arg(support("gen_billing_pg.sh"))
        .arg(dir.join("dump"))
        .arg(charges.to_string())
        .arg(credits.to_string())
        .envs(pg.env())
        .env("PG_BINDIR", pg.bindir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gen_billing_pg.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn convert(dir: &Dir, input: &str, table: &str, format: &str, extra: &[&str]) -> serde_json::Value {
    let run = dir
        .command(bin())
        .args([
            input,
            "--table",
            table,
            "--format",
            format,
            "--schema-sql",
            "dump/billing_schema.sql",
        ])
        .args(["--out", "out", "--period", "2025-11"])
        .args(extra)
        .expect_success();
    let lines = run.json_lines();
    run.assert(lines.len() == 1, "one file line");
    lines[0].clone()
}

fn check_file(
    what: &str,
    dir: &Dir,
    line: &serde_json::Value,
    cols: &[(String, String)],
    truth: &[Row],
) {
    let path = dir.join("out").join(line["path"].as_str().unwrap());
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(line["bytes"], bytes.len() as u64, "{what}: bytes");
    assert_eq!(line["sha256"], archive_core_sha(&bytes), "{what}: sha256");
    assert_eq!(line["records"], truth.len() as u64, "{what}: records");
    let (_, rows) = read_arrow(&path);
    assert_same_rows(&format!("{what} (arrow-rs)"), cols, truth, &rows);
    let (info, rows) = read_pyarrow(&path);
    assert_same_rows(&format!("{what} (pyarrow)"), cols, truth, &rows);
    assert_eq!(info["metadata"]["archive.records"], truth.len().to_string());
}

fn archive_core_sha(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn billing_tables_round_trip_exactly_in_both_copy_formats() {
    let pg = Postgres::start();
    let dir = Dir::new("pq-billing");
    gen_billing(&pg, &dir, 3000, 500);
    assert_generated_data_has_the_cases(&pg);

    let (cols, truth) = pg_truth(&pg, "charges", "id");
    assert_eq!(truth.len(), 3000);
    let line = charges_csv_round_trips(&dir, &cols, &truth);
    let info = charges_text_round_trips(&dir, &cols, &truth, &line);
    gzip_stdin_gives_the_same_file(&dir, &line);
    assert_types_encodings_and_metadata(&info, &line);
    credits_round_trip(&pg, &dir);

    let mut files = dir.files("out");
    files.sort();
    assert_eq!(
        files,
        [
            "charges-2025-11.parquet",
            "charges-text-2025-11.parquet",
            "credits-fixed.parquet",
            "credits-snapshot-2025-11.parquet"
        ]
    );
}

/// The generated data really has the cases the round trip is about.
fn assert_generated_data_has_the_cases(pg: &Postgres) {
    let special = pg.psql(
        "select count(*) filter (where description = '') || ',' || count(*) filter (where description is null) \
         || ',' || count(*) filter (where description = 'NULL') || ',' || count(*) filter (where description = '\\N') \
         || ',' || count(*) filter (where description like E'%\\n%') || ',' || count(*) filter (where description like E'%\\t%') \
         || ',' || count(*) filter (where country = 'NA') || ',' || count(*) filter (where amount < 0) \
         || ',' || count(*) filter (where length(replace(abs(amount)::text, '.', '')) >= 17) \
         || ',' || count(*) filter (where extract(microseconds from created_at)::bigint % 1000 <> 0) \
         || ',' || count(*) filter (where fx_rate is not null and scale(fx_rate) >= 20) from charges",
    );
    let counts: Vec<u64> = special
        .trim()
        .split(',')
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        counts.iter().all(|&n| n > 0),
        "generated data lacks a case: {special}"
    );
}

/// CSV, unconstrained numeric as exact text: the file line and the file.
fn charges_csv_round_trips(
    dir: &Dir,
    cols: &[(String, String)],
    truth: &[Row],
) -> serde_json::Value {
    let line = convert(
        dir,
        "dump/charges.csv",
        "charges",
        "pg-csv",
        &["--numeric-as", "string"],
    );
    assert_eq!(line["root"], "out");
    assert_eq!(line["path"], "charges-2025-11.parquet");
    assert_eq!(line["table"], "charges");
    assert_eq!(line["period"], "2025-11");
    assert_eq!(line["snapshot"], false);
    assert_eq!(line["compression"], "zstd");
    assert_eq!(line["columns"], 15);
    assert_eq!(line["changed"], true);
    assert!(line["schema_version"].as_str().unwrap().len() == 12);
    check_file("charges.csv", dir, &line, cols, truth);
    line
}

/// COPY text, unconstrained numeric as decimal(38,20), small row groups;
/// returns pyarrow's description of the file.
fn charges_text_round_trips(
    dir: &Dir,
    cols: &[(String, String)],
    truth: &[Row],
    line: &serde_json::Value,
) -> serde_json::Value {
    let line_text = convert(
        dir,
        "dump/charges.tsv",
        "charges",
        "pg-text",
        &[
            "--numeric-as",
            "decimal(38,20)",
            "--name",
            "{table}-text-{period}.parquet",
            "--row-group-rows",
            "1000",
            "--batch-rows",
            "700",
        ],
    );
    assert_eq!(line_text["row_groups"], 3);
    assert_eq!(line_text["schema_version"], line["schema_version"]);
    check_file("charges.tsv", dir, &line_text, cols, truth);
    let (info, _) = read_pyarrow(&dir.join("out/charges-text-2025-11.parquet"));
    assert_eq!(info["row_groups"], 3);
    assert_eq!(info["types"]["fx_rate"], "decimal128(38, 20)");
    info
}

/// Gzip-compressed CSV from stdin gives the same file as the plain one.
fn gzip_stdin_gives_the_same_file(dir: &Dir, line: &serde_json::Value) {
    let csv = dir.read_bytes("dump/charges.csv");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&csv).unwrap();
    let run = dir
        .command(bin())
        .args([
            "-",
            "--table",
            "charges",
            "--format",
            "pg-csv",
            "--schema-sql",
            "dump/billing_schema.sql",
        ])
        .args([
            "--out",
            "out",
            "--period",
            "2025-11",
            "--numeric-as",
            "string",
        ])
        .stdin(gz.finish().unwrap())
        .expect_success();
    let again = &run.json_lines()[0];
    assert_eq!(
        again["sha256"], line["sha256"],
        "stdin gzip differs from file input"
    );
    assert_eq!(
        again["changed"], false,
        "a re-run with the same data is unchanged"
    );
}

/// Types as an independent reader sees them, encodings and metadata.
fn assert_types_encodings_and_metadata(info: &serde_json::Value, line: &serde_json::Value) {
    assert_eq!(info["types"]["amount"], "decimal128(18, 6)");
    assert_eq!(info["types"]["created_at"], "timestamp[us, tz=UTC]");
    assert_eq!(info["types"]["billing_period"], "date32[day]");
    assert_eq!(info["logical"]["metadata"], "JSON");
    // Encodings chosen per column: sorted unique ids delta-packed, random
    // unique amounts plain, repeated currencies dictionary-encoded.
    let enc = |c: &str| info["encodings"][c].to_string();
    assert!(enc("id").contains("DELTA_BINARY_PACKED"), "{}", enc("id"));
    assert!(
        !enc("amount").contains("DICTIONARY") && !enc("amount").contains("DELTA"),
        "{}",
        enc("amount")
    );
    assert!(
        enc("currency").contains("DICTIONARY"),
        "{}",
        enc("currency")
    );
    assert_eq!(info["metadata"]["archive.table"], "charges");
    assert_eq!(info["metadata"]["archive.period"], "2025-11");
    assert_eq!(
        info["metadata"]["archive.schema_version"],
        line["schema_version"]
    );
    assert!(info["metadata"]["archive.schema"]
        .as_str()
        .unwrap()
        .starts_with("CREATE TABLE public.charges ("));
}

/// credits: the second ledger table, as a snapshot, and with fixed uuids.
fn credits_round_trip(pg: &Postgres, dir: &Dir) {
    let (ccols, ctruth) = pg_truth(pg, "credits", "id");
    let cline = convert(
        dir,
        "dump/credits.csv",
        "credits",
        "pg-csv",
        &["--snapshot"],
    );
    assert_eq!(cline["path"], "credits-snapshot-2025-11.parquet");
    assert_eq!(cline["snapshot"], true);
    check_file("credits.csv", dir, &cline, &ccols, &ctruth);
    let cline = convert(
        dir,
        "dump/credits.tsv",
        "credits",
        "pg-text",
        &["--uuid-as", "fixed", "--name", "credits-fixed.parquet"],
    );
    check_file("credits.tsv (uuid fixed)", dir, &cline, &ccols, &ctruth);
    let (info, _) = read_pyarrow(&dir.join("out/credits-fixed.parquet"));
    assert_eq!(info["logical"]["account_id"], "UUID");
}

#[test]
fn unconstrained_numeric_needs_numeric_as_and_never_rounds() {
    let pg = Postgres::start();
    let dir = Dir::new("pq-numeric");
    gen_billing(&pg, &dir, 300, 10);

    let run = dir
        .command(bin())
        .args([
            "dump/charges.csv",
            "--table",
            "charges",
            "--format",
            "pg-csv",
            "--schema-sql",
            "dump/billing_schema.sql",
        ])
        .args(["--out", "out", "--period", "2025-11"])
        .expect_code(3);
    run.assert(
        run.stderr.contains("column fx_rate (numeric)") && run.stderr.contains("--numeric-as"),
        "error names the column and the way out",
    );
    run.assert(run.stdout.is_empty(), "no file line");
    assert!(dir.files("out").is_empty(), "no output left");

    // A decimal too narrow for the values: the first offending row is named.
    let first = pg.psql("select id from charges where fx_rate is not null order by id limit 1");
    let first_value = pg.psql(&format!(
        "select fx_rate from charges where id = {}",
        first.trim()
    ));
    let line_no = first.trim().parse::<u64>().unwrap() + 1; // header is line 1
    let run = dir
        .command(bin())
        .args([
            "dump/charges.csv",
            "--table",
            "charges",
            "--format",
            "pg-csv",
            "--schema-sql",
            "dump/billing_schema.sql",
        ])
        .args([
            "--out",
            "out",
            "--period",
            "2025-11",
            "--numeric-as",
            "decimal(38,10)",
        ])
        .expect_code(3);
    run.assert(
        run.stderr.contains(&format!(
            "dump/charges.csv:{line_no}: column fx_rate (numeric)"
        )) && run.stderr.contains("refusing to round")
            && run.stderr.contains(first_value.trim()),
        "error names file, line, column and value",
    );
    assert!(dir.files("out").is_empty(), "no output left");
}

#[test]
fn every_column_type_with_nulls_and_edge_values() {
    let pg = Postgres::start();
    let dir = Dir::new("pq-types");
    create_edge_table(&pg);
    dump_edge_table(&pg, &dir);
    let (cols, truth) = pg_truth(&pg, "edge", "id");
    assert_eq!(truth.len(), 4);
    // Row 3 is NULL in every column but the key.
    assert!(truth[2][1..]
        .iter()
        .enumerate()
        .all(|(k, v)| v.is_none() || matches!(cols[k + 1].1.as_str(), "float4" | "float8")));

    for (input, format, uuid_as, numeric_as) in [
        ("edge.csv", "pg-csv", "string", "string"),
        ("edge.tsv", "pg-text", "fixed", "decimal(38,9)"),
    ] {
        let run = dir
            .command(bin())
            .args([
                input,
                "--table",
                "public.edge",
                "--format",
                format,
                "--schema-sql",
                "edge.sql",
            ])
            .args([
                "--out",
                "out",
                "--name",
                &format!("{format}.parquet"),
                "--numeric-as",
                numeric_as,
                "--uuid-as",
                uuid_as,
            ])
            .expect_success();
        let line = &run.json_lines()[0];
        assert_eq!(line["records"], 4);
        let path = dir.join("out").join(line["path"].as_str().unwrap());
        let (schema, rows) = read_arrow(&path);
        assert_same_rows(&format!("{input} (arrow-rs)"), &cols, &truth, &rows);
        let (info, rows) = read_pyarrow(&path);
        assert_same_rows(&format!("{input} (pyarrow)"), &cols, &truth, &rows);
        assert_edge_types(&info, &schema, numeric_as, uuid_as);
    }
}

/// A table with every type, each column's extremes, and a row of NULLs.
fn create_edge_table(pg: &Postgres) {
    pg.psql(
        r#"create table edge (
            id integer primary key,
            i2 smallint, i4 integer, i8 bigint,
            n18 numeric(18,6), n38 numeric(38,10), n_free numeric,
            f4 real, f8 double precision, b boolean,
            t text, vc character varying(10), ch character(5), "Mixed Case" text,
            u uuid, d date, tz timestamp with time zone, ts timestamp without time zone, tm time,
            j json, jb jsonb, bin bytea, ia integer[], ta text[], iv interval
        )"#,
    );
    pg.psql(
        r#"insert into edge values
        (1, -32768, -2147483648, -9223372036854775808, -999999999999.999999, 9999999999999999999999999999.9999999999,
            -0.000000001, -3.4028235e38, -1.7976931348623157e308, false,
            '', '', '', 'NULL', '00000000-0000-0000-0000-000000000000', '0001-01-01', '1970-01-01 00:00:00+00',
            '1900-01-01 00:00:00.000001', '00:00:00', '{}', '[]', '\x', '{}', '{}', '0'),
        (2, 32767, 2147483647, 9223372036854775807, 999999999999.999999, -0.0000000001,
            12345678901234567890123456789.123456789, 1.17549435e-38, 2.2250738585072014e-308, true,
            E'multi\nline\ttab\\backslash "quoted", comma', '\N', 'ab', E'\\N', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', '9999-12-31',
            '2025-11-03 14:05:09.123456+05:30', '2025-11-03 14:05:09.999999', '23:59:59.999999',
            '{"b": 1, "a": [1, 2.50]}', '{"z": null, "a": "é\"\\"}', '\x00ff0a5c', '{1,NULL,-3}', '{"a b",NULL,"NULL","x,y","q\"","",é}', '1 year 2 mons 3 days 04:05:06.7'),
        (3, null, null, null, null, null, null, 'NaN', '-Infinity', null,
            null, null, null, null, null, null, null, null, null, null, null, null, null, null, null),
        (4, 0, 0, 0, 0, 0, 0, 0, -0, null, 'NA', 'N/A', 'NA', ',', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29',
            '2024-02-29 23:59:59.5-03:30', '2024-02-29 00:00:00', '12:00:00', 'null', '"a string"', E'\\x5c4e', '{}', '{"\\N"}', '-1 days')"#,
    );
}

/// edge.sql (pg_dump), edge.csv and edge.tsv (COPY) in `dir`.
fn dump_edge_table(pg: &Postgres, dir: &Dir) {
    let dump = Command::new(pg.bindir().join("pg_dump"))
        .args(["--schema-only", "--no-owner", "-t", "edge"])
        .envs(pg.env())
        .output()
        .unwrap();
    assert!(dump.status.success());
    dir.write("edge.sql", &dump.stdout);
    let copy = |sql: &str, to: &str| {
        let out = Command::new(pg.bindir().join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .envs(pg.env())
            .env("PGOPTIONS", "-c extra_float_digits=1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir.write(to, &out.stdout);
    };
    copy(
        "\\copy (select * from edge order by id) to stdout with (format csv, header)",
        "edge.csv",
    );
    copy(
        "\\copy (select * from edge order by id) to stdout",
        "edge.tsv",
    );
}

/// The types pyarrow and arrow-rs see in a converted edge table.
fn assert_edge_types(
    info: &serde_json::Value,
    schema: &arrow::datatypes::Schema,
    numeric_as: &str,
    uuid_as: &str,
) {
    let types = &info["types"];
    assert_eq!(types["i2"], "int16");
    assert_eq!(types["n18"], "decimal128(18, 6)");
    assert_eq!(types["n38"], "decimal128(38, 10)");
    let n_free = if numeric_as == "string" {
        "string"
    } else {
        "decimal128(38, 9)"
    };
    assert_eq!(types["n_free"], n_free);
    assert_eq!(types["f4"], "float");
    assert_eq!(types["tz"], "timestamp[us, tz=UTC]");
    assert_eq!(types["ts"], "timestamp[us]");
    assert_eq!(types["tm"], "time64[us]");
    assert_eq!(types["bin"], "binary");
    assert_eq!(types["ia"], "list<element: int32>");
    assert_eq!(types["iv"], "string");
    assert_eq!(info["logical"]["jb"], "JSON");
    assert_eq!(info["logical"]["j"], "JSON");
    assert!(info["logical"]["tz"]
        .as_str()
        .unwrap()
        .contains("isAdjustedToUTC=true"));
    assert!(info["logical"]["ts"]
        .as_str()
        .unwrap()
        .contains("isAdjustedToUTC=false"));
    if uuid_as == "fixed" {
        assert_eq!(info["logical"]["u"], "UUID");
    }
    assert_eq!(
        schema.field_with_name("Mixed Case").unwrap().metadata()["pg_type"],
        "text"
    );
    assert!(!schema.field_with_name("id").unwrap().is_nullable());
}
