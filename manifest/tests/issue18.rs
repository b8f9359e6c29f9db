//! The seed layout's daily summaries, a missing input file, and the
//! documented pipeline that rewrites only the days whose content changed
//! (`manifest --root … --accept-changes | ship --update`), with the real
//! `ship` on moto.

use crate::support::*;
use serde_json::{json, Value};
use testkit::{workspace_bin, Dir, MotoServer};

#[test]
fn a_daily_summary_is_not_counted_in_the_totals() {
    let dir = Dir::new("summary-totals");
    dir.write("a/u1/2025/07/02/conversations.json", "{\"c\":[1,2]}");
    dir.write("a/u2/2025/07/02/conversations.json", "{\"c\":[3]}");
    dir.write("a/_daily_summaries/2025/07/02/summary.json", "{\"n\":3}");
    let lines = [
        file_line(
            &dir,
            "a",
            "u1/2025/07/02/conversations.json",
            json!({"records": 2, "kind": "records"}),
        ),
        file_line(
            &dir,
            "a",
            "u2/2025/07/02/conversations.json",
            json!({"records": 1, "kind": "records"}),
        ),
        // As partition prints it today: the day's total on the summary's line.
        file_line(
            &dir,
            "a",
            "_daily_summaries/2025/07/02/summary.json",
            json!({"records": 3, "kind": "daily_summary"}),
        ),
    ]
    .join("\n");
    dir.command(BIN).stdin(lines.clone()).expect_success();
    let m = manifest_json(&dir, "a/manifest.json");
    assert_eq!(m["totals"]["records"], 3, "{}", m["totals"]);
    // The previous manifest's summary entry is recognised too: a re-run
    // that announces nothing keeps the total.
    dir.command(BIN).arg("--root").arg("a").expect_success();
    let m = manifest_json(&dir, "a/manifest.json");
    assert_eq!(m["totals"]["records"], 3, "{}", m["totals"]);
    // Lines without records on the summary (partition after issue 18).
    let no_records = file_line(
        &dir,
        "a",
        "_daily_summaries/2025/07/02/summary.json",
        json!({"kind": "daily_summary"}),
    );
    let first_two: Vec<&str> = lines.lines().take(2).collect();
    dir.command(BIN)
        .stdin(format!("{}\n{no_records}\n", first_two.join("\n")))
        .expect_success();
    assert_eq!(
        manifest_json(&dir, "a/manifest.json")["totals"]["records"],
        3
    );
}

#[test]
fn a_missing_input_file_is_a_usage_error() {
    let dir = Dir::new("missing-input");
    let run = dir.command(BIN).arg("no-such-lines.ndjson").expect_code(2);
    run.assert(
        run.stderr.contains("no-such-lines.ndjson"),
        "the file is not named",
    );
}

/// `manifest --root logs ARGS… | ship s3://archive/logs SHIP_ARGS…`: both
/// exit codes and ship's object lines.
fn pipeline(
    s3: &MotoServer,
    dir: &Dir,
    args: &[&str],
    ship_args: &[&str],
) -> (i32, String, Vec<Value>) {
    let m = dir.command(BIN).args(["--root", "logs"]).args(args).run();
    let mut cmd = dir.command(workspace_bin("ship"));
    s3.configure(&mut cmd);
    let shipped = cmd
        .arg("s3://archive/logs")
        .args(ship_args)
        .stdin(m.stdout.clone())
        .expect_success();
    (m.code.unwrap(), m.stderr, shipped.json_lines())
}

fn status_of<'a>(objects: &'a [Value], path: &str) -> Option<&'a str> {
    objects
        .iter()
        .find(|o| o["path"] == path)
        .and_then(|o| o["status"].as_str())
}

#[test]
fn the_documented_update_pipeline_ships_the_changed_day_and_nothing_else() {
    let s3 = MotoServer::start();
    s3.create_bucket("archive", false);
    let dir = Dir::new("update-pipeline");
    dir.write("logs/2025/07/01.ndjson", "{\"id\":1}\n");
    dir.write("logs/2025/07/02.ndjson", "{\"id\":2}\n");
    let (code, _, first) = pipeline(&s3, &dir, &[], &[]);
    assert_eq!(code, 0);
    assert_eq!(status_of(&first, "2025/07/02.ndjson"), Some("uploaded"));

    // Day 2 is rewritten on disk (a late record merged into it).
    dir.write("logs/2025/07/02.ndjson", "{\"id\":2}\n{\"id\":3}\n");
    // Without --accept-changes the change is refused, named and not shipped;
    // the manifest keeps the digest the archive holds.
    let before = dir.read("logs/manifest-sha256.txt");
    let (code, stderr, objects) = pipeline(&s3, &dir, &[], &["--update"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("2025/07/02.ndjson"), "{stderr}");
    assert_eq!(
        status_of(&objects, "2025/07/02.ndjson"),
        None,
        "{objects:?}"
    );
    assert_eq!(dir.read("logs/manifest-sha256.txt"), before);

    // The documented pipeline: the change is recorded and uploaded, the
    // unchanged day is skipped, and the archive verifies.
    let (code, stderr, objects) = pipeline(&s3, &dir, &["--accept-changes"], &["--update"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        status_of(&objects, "2025/07/02.ndjson"),
        Some("uploaded"),
        "{objects:?}"
    );
    assert_eq!(
        status_of(&objects, "2025/07/01.ndjson"),
        Some("skipped"),
        "{objects:?}"
    );
    let changed = |p: &str| {
        objects
            .iter()
            .find(|o| o["path"] == p)
            .map(|o| o["changed"].clone())
    };
    assert_eq!(changed("2025/07/02.ndjson"), Some(json!(true)));
    assert_eq!(changed("2025/07/01.ndjson"), Some(json!(false)));
    let stored = s3.python(
        "print(s3.get_object(Bucket='archive', Key='logs/2025/07/02.ndjson')['Body'].read().decode(), end='')",
    );
    assert_eq!(stored, "{\"id\":2}\n{\"id\":3}\n");
    let mut verify = dir.command(BIN);
    s3.configure(&mut verify);
    verify
        .args(["verify", "s3://archive/logs"])
        .expect_success();
}
