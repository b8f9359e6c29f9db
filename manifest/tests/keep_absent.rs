//! `--keep-absent`: a work directory that is only a cache holds the
//! destination's manifest and the files of this run, not every file the
//! manifest lists; the entries of the absent ones stay.

use crate::support::*;
use serde_json::json;
use testkit::Dir;

#[test]
fn entries_of_absent_files_are_kept_and_new_ones_added() {
    let dir = Dir::new("keep-absent");
    dir.write("r/2026/10/01/a.json", "{\"id\":1}\n");
    dir.write("r/2026/10/02/b.json", "{\"id\":2}\n");
    dir.command(BIN)
        .arg("--root")
        .arg(dir.join("r"))
        .expect_success();
    let before = dir.read("r/manifest-sha256.txt");
    // A fresh cache: the manifest came back from the destination, b.json did not.
    std::fs::remove_file(dir.join("r/2026/10/02/b.json")).unwrap();
    dir.write("r/2026/10/03/c.json", "{\"id\":3}\n");
    let line = file_line(&dir, "r", "2026/10/03/c.json", json!({}));
    let without = dir.command(BIN).stdin(format!("{line}\n")).expect_code(1);
    without.assert(
        without.stderr.contains("b.json"),
        "the absent file is not named",
    );
    let run = dir
        .command(BIN)
        .arg("--keep-absent")
        .stdin(format!("{line}\n"))
        .expect_success();
    let after = dir.read("r/manifest-sha256.txt");
    for kept in before.lines().filter(|l| !l.starts_with('#')) {
        run.assert(
            after.contains(kept),
            &format!("{kept:?} was dropped:\n{after}"),
        );
    }
    run.assert(
        after.contains("2026/10/03/c.json"),
        &format!("the new file is not listed:\n{after}"),
    );
    let json = manifest_json(&dir, "r/manifest.json");
    run.assert(
        json.to_string().contains("2026/10/02/b.json"),
        "manifest.json dropped the absent file",
    );
    // Both at once is a usage error: keep or drop, not both.
    dir.command(BIN)
        .args(["--keep-absent", "--accept-changes"])
        .stdin(format!("{line}\n"))
        .expect_code(2);
}
