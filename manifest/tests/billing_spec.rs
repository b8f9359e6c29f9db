//! `--json-format billing-spec`: the billing archive's manifest as its
//! specification gives it, checked against the JSON Schema in
//! docs/schemas/ by Python's `jsonschema` (an independent validator), with
//! the digests the toolkit needs beside the specification's fields.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;
use testkit::Dir;

/// The schema file, from the repository.
fn schema_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schemas/billing-manifest.schema.json")
}

/// Python `jsonschema`'s errors for a manifest (empty: valid).
pub fn schema_errors(manifest: &Path) -> Vec<String> {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             jsonschema.Draft202012Validator.check_schema(schema)\n\
             v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())\n\
             for e in v.iter_errors(json.load(open(sys.argv[2]))):\n\
             \x20   print(list(e.absolute_path), e.message)",
        )
        .arg(schema_path())
        .arg(manifest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "jsonschema (pip install jsonschema): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// A month as parquetize prints it: two tables and a snapshot.
fn month(dir: &Dir) -> String {
    dir.write("m/credits-2025-11.parquet.gz", "credits bytes");
    dir.write(
        "m/charges-2025-11.parquet.gz",
        "charges bytes, more of them",
    );
    dir.write("m/accounts-snapshot-2025-11.parquet.gz", "accounts");
    let line = |rel: &str, table: &str, records: u64, snapshot: bool| {
        let mut extra = json!({"table": table, "records": records, "period": "2025-11",
                               "schema_version": format!("{table}-v1")});
        if snapshot {
            extra["snapshot"] = json!(true);
        }
        file_line(dir, "m", rel, extra)
    };
    [
        line("credits-2025-11.parquet.gz", "credits", 523, false),
        line("charges-2025-11.parquet.gz", "charges", 12847, false),
        line("accounts-snapshot-2025-11.parquet.gz", "accounts", 40, true),
    ]
    .join("\n")
        + "\n"
}

#[test]
fn the_billing_spec_manifest_is_valid_against_the_schema_and_keeps_the_digests() {
    let dir = Dir::new("billing-spec");
    let lines = month(&dir);
    let args = [
        "--json-format",
        "billing-spec",
        "--key-prefix",
        "billing-archive/2025/11",
        "--schema-version",
        "2025-10-21",
    ];
    let run = dir
        .command(BIN)
        .args(args)
        .stdin(lines.clone())
        .expect_success();
    let errors = schema_errors(&dir.join("m/manifest.json"));
    run.assert(errors.is_empty(), &format!("schema errors: {errors:?}"));
    let m = manifest_json(&dir, "m/manifest.json");
    assert_eq!(m["archive_version"], json!("1.0"));
    assert_eq!(m["period"], "2025-11");
    assert_eq!(m["schema_version"], "2025-10-21");
    assert_eq!(m["retention_years"], 10);
    assert_eq!(m["compliance"], json!(["EU_AI_Act", "Financial_Audit"]));
    let keys: Vec<&str> = m.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        &keys[..7],
        [
            "archive_version",
            "created_at",
            "period",
            "files",
            "schema_version",
            "retention_years",
            "compliance"
        ],
        "the specification's fields first, in its order"
    );
    let files = m["files"].as_array().unwrap();
    let by_table = |t: &str| files.iter().find(|f| f["table"] == t).cloned();
    let snap = by_table("accounts_snapshot").expect("the snapshot is named accounts_snapshot");
    assert_eq!(
        snap["s3_key"],
        "billing-archive/2025/11/accounts-snapshot-2025-11.parquet.gz"
    );
    assert_eq!(snap["records"], 40);
    let charges = by_table("charges").unwrap();
    assert_eq!(charges["records"], 12847);
    assert_eq!(
        charges["sha256"],
        sha(&dir.read_bytes("m/charges-2025-11.parquet.gz"))
    );
    assert!(by_table("accounts").is_none());
    // The toolkit's checks still work on it: GNU sha256sum and verify.
    let out = sh(&dir.join("m"), "sha256sum -c --strict manifest-sha256.txt");
    assert!(out.status.success(), "{out:?}");
    dir.command(BIN).args(["verify", "m"]).expect_success();
    // A re-run of the same month leaves both manifests byte for byte.
    let before = dir.read("m/manifest.json");
    let again = dir.command(BIN).args(args).stdin(lines).expect_success();
    let manifests: Vec<Value> = again
        .json_lines()
        .into_iter()
        .filter(|l| l["manifest"] == true)
        .collect();
    again.assert(
        manifests.iter().all(|l| l["changed"] == false),
        &format!("a re-run rewrote the manifests: {manifests:?}"),
    );
    assert_eq!(dir.read("m/manifest.json"), before);
}

#[test]
fn billing_spec_labels_and_a_numeric_schema_version_are_strings() {
    let dir = Dir::new("billing-spec-labels");
    dir.write("m/credits-2025-11.parquet.gz", "c");
    let line = file_line(
        &dir,
        "m",
        "credits-2025-11.parquet.gz",
        json!({"table": "credits", "records": 1, "period": "2025-11", "schema_version": 7}),
    );
    dir.command(BIN)
        .args(["--json-format", "billing-spec", "--compliance", "SOX,GDPR"])
        .args(["--compliance", "EU_AI_Act", "--retention-years", "7"])
        .stdin(format!("{line}\n"))
        .expect_success();
    let m = manifest_json(&dir, "m/manifest.json");
    assert_eq!(m["compliance"], json!(["SOX", "GDPR", "EU_AI_Act"]));
    assert_eq!(m["retention_years"], 7);
    assert_eq!(m["schema_version"], "7");
    // Without a key prefix, s3_key is the key under the destination.
    assert_eq!(m["files"][0]["s3_key"], "credits-2025-11.parquet.gz");
    assert!(schema_errors(&dir.join("m/manifest.json")).is_empty());
}

#[test]
fn billing_spec_refuses_what_the_specification_needs_and_the_input_lacks() {
    let dir = Dir::new("billing-spec-refused");
    dir.write("m/a.parquet.gz", "a");
    dir.write("m/b.parquet.gz", "b");
    let a = file_line(
        &dir,
        "m",
        "a.parquet.gz",
        json!({"table": "credits", "records": 1, "period": "2025-11", "schema_version": "x"}),
    );
    let b = file_line(
        &dir,
        "m",
        "b.parquet.gz",
        json!({"period": "2025-11", "schema_version": "x"}),
    );
    // A file without table and records: a data error naming it, nothing written.
    let run = dir
        .command(BIN)
        .args(["--json-format", "billing-spec"])
        .stdin(format!("{a}\n{b}\n"))
        .expect_code(3);
    run.assert(run.stderr.contains("b.parquet.gz"), "the file is not named");
    run.assert(
        !dir.join("m/manifest.json").exists(),
        "a manifest was written",
    );
    // Files that disagree on the schema version, and no --schema-version.
    dir.write("m/b.parquet.gz", "b");
    let b2 = file_line(
        &dir,
        "m",
        "b.parquet.gz",
        json!({"table": "charges", "records": 2, "period": "2025-11", "schema_version": "y"}),
    );
    let run = dir
        .command(BIN)
        .args(["--json-format", "billing-spec"])
        .stdin(format!("{a}\n{b2}\n"))
        .expect_code(2);
    run.assert(
        run.stderr.contains("--schema-version"),
        "the flag that fixes it is not named",
    );
    run.assert(
        !dir.join("m/manifest.json").exists(),
        "a manifest was written",
    );
}
