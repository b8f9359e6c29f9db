//! `restore prune`: local retention that removes only what the destination
//! holds and vouches for.

use crate::support::*;
use testkit::Dir;

fn age_days(path: &std::path::Path, days: u32) {
    let st = std::process::Command::new("touch")
        .arg("-d")
        .arg(format!("{days} days ago"))
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn prune_removes_only_what_is_stored_and_verified() {
    let dir = Dir::new("prune");
    let moto = moto(true);
    let files = vec![
        ("2026/01/verified.json", b"{\"id\":1}\n".to_vec()),
        ("2026/01/unverified.json", b"{\"id\":2}\n".to_vec()),
        ("2026/01/held.json", b"{\"id\":3}\n".to_vec()),
        ("2026/11/young.json", b"{\"id\":4}\n".to_vec()),
    ];
    archive(&dir, &moto, "keep", &files, &[], &[]);
    // Same bytes, but stored without any checksum or ship's metadata.
    moto.python(
        "s3.put_object(Bucket='vault', Key='keep/2026/01/unverified.json', Body=b'{\"id\":2}\\n')",
    );
    moto.python("s3.put_object_legal_hold(Bucket='vault', Key='keep/2026/01/held.json', LegalHold={'Status': 'ON'})");
    let local = dir.join("src");
    dir.write("src/2026/01/never-shipped.json", "{}\n");
    dir.write("outside.json", "{}\n");
    std::os::unix::fs::symlink(dir.join("outside.json"), local.join("2026/01/link.json")).unwrap();
    for f in [
        "verified.json",
        "unverified.json",
        "held.json",
        "never-shipped.json",
    ] {
        age_days(&local.join("2026/01").join(f), 100);
    }

    let dry = restore(&dir, &moto)
        .args([
            "prune",
            "--dest",
            "s3://vault/keep",
            "--retention-days",
            "30",
            "--dry-run",
        ])
        .arg(&local)
        .expect_success();
    let lines = by_path(&dry);
    dry.assert(
        lines["2026/01/verified.json"]["status"] == "planned",
        &format!("{lines:?}"),
    );
    dry.assert(
        local.join("2026/01/verified.json").exists(),
        "a dry run removed a file",
    );

    let summary = dir.join("prune.json");
    let run = restore(&dir, &moto)
        .args([
            "prune",
            "--dest",
            "s3://vault/keep",
            "--retention-days",
            "30",
            "--summary",
        ])
        .arg(&summary)
        .arg(&local)
        .expect_success();
    let lines = by_path(&run);
    let reason = |p: &str| lines[p]["reason"].as_str().unwrap_or_default().to_string();
    run.assert(
        lines["2026/01/verified.json"]["status"] == "pruned",
        &format!("{lines:?}"),
    );
    run.assert(
        !local.join("2026/01/verified.json").exists(),
        "the verified file is still there",
    );
    run.assert(
        reason("2026/01/unverified.json") == "unverified",
        &format!("{lines:?}"),
    );
    run.assert(
        reason("2026/01/held.json") == "legal_hold",
        &format!("{lines:?}"),
    );
    run.assert(
        reason("2026/01/never-shipped.json") == "not_in_destination_manifest",
        &format!("{lines:?}"),
    );
    for kept in [
        "2026/01/unverified.json",
        "2026/01/held.json",
        "2026/01/never-shipped.json",
        "2026/11/young.json",
        "manifest-sha256.txt",
    ] {
        run.assert(local.join(kept).exists(), &format!("{kept} was removed"));
    }
    run.assert(
        !lines.contains_key("2026/01/link.json"),
        "a symlink was considered",
    );
    run.assert(
        dir.join("outside.json").exists(),
        "the symlink's target was removed",
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    run.assert(
        s["counts"]["pruned"] == 1 && s["counts"]["kept"] == 3 && s["young"] == 1,
        &format!("summary: {s}"),
    );
}
