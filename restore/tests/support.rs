//! Archives for the tests: files on disk, manifested and shipped by the
//! real binaries into moto, and the restore binary pointed at it.
#![allow(dead_code)]

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::process::Command;
use testkit::{workspace_bin, Dir, MotoServer, Run, TestCommand};

pub const BUCKET: &str = "vault";

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Deterministic, incompressible bytes.
pub use testkit::pseudo_random_bytes as bytes;

/// The restore binary with moto's endpoint and credentials.
pub fn restore(dir: &Dir, moto: &MotoServer) -> TestCommand {
    let mut c = dir.command(env!("CARGO_BIN_EXE_restore"));
    moto.configure(&mut c);
    c
}

/// Write `files` under `dir/src`, run `manifest --root` over them and ship
/// the result to `s3://vault/<prefix>` with `ship_flags`. Returns ship's run.
pub fn archive(
    dir: &Dir,
    moto: &MotoServer,
    prefix: &str,
    files: &[(&str, Vec<u8>)],
    manifest_flags: &[&str],
    ship_flags: &[&str],
) -> Run {
    for (rel, data) in files {
        dir.write(&format!("src/{rel}"), data);
    }
    let mut m = dir.command(workspace_bin("manifest"));
    m.arg("--root").arg(dir.join("src")).args(manifest_flags);
    let lines = m.expect_success();
    let mut s = dir.command(workspace_bin("ship"));
    moto.configure(&mut s);
    s.arg(format!("s3://{BUCKET}/{prefix}"))
        .args(["--retry-base-ms", "20"])
        .args(ship_flags)
        .stdin(lines.stdout.clone());
    s.expect_success()
}

/// A moto server with the bucket (Object Lock on when asked).
pub fn moto(object_lock: bool) -> MotoServer {
    let moto = MotoServer::start();
    moto.create_bucket(BUCKET, object_lock);
    moto
}

/// `sha256sum -c --strict` in `dir`: true when every line checks.
pub fn sha256sum_ok(dir: &std::path::Path, manifest: &str) -> (bool, String) {
    let out = Command::new("sha256sum")
        .args(["-c", "--strict", manifest])
        .current_dir(dir)
        .output()
        .expect("running sha256sum");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Lines of stdout by their "path".
pub fn by_path(run: &Run) -> std::collections::BTreeMap<String, Value> {
    run.json_lines()
        .into_iter()
        .map(|v| (v["path"].as_str().unwrap_or_default().to_string(), v))
        .collect()
}

/// Replace an object's bytes behind the archive's back (boto3, no checksum,
/// the metadata ship wrote kept as it was: what bit rot or a bad actor with
/// PutObject looks like).
pub fn tamper(moto: &MotoServer, key: &str, data: &str) {
    moto.python(&format!(
        "h = s3.head_object(Bucket='{BUCKET}', Key='{key}')\n\
         s3.put_object(Bucket='{BUCKET}', Key='{key}', Body=b'{data}', Metadata=h['Metadata'], StorageClass=h.get('StorageClass', 'STANDARD'))"
    ));
}
