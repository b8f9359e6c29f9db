//! Shared set-up for ship's integration tests: a moto S3 server with a
//! bucket, files on disk described by file lines, and the real binary.
#![allow(dead_code)]

pub mod proxy;

use sha2::{Digest, Sha256};
use testkit::{Dir, MotoServer, TestCommand};

pub const BIN: &str = env!("CARGO_BIN_EXE_ship");

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Deterministic, incompressible bytes.
pub use testkit::pseudo_random_bytes as bytes;

/// Write `data` at `root/rel` and return its file line.
pub fn file_line(dir: &Dir, root: &str, rel: &str, data: &[u8]) -> String {
    dir.write(&format!("{root}/{rel}"), data);
    serde_json::json!({
        "root": dir.join(root).to_string_lossy(),
        "path": rel,
        "bytes": data.len(),
        "sha256": sha256_hex(data),
        "records": 1,
    })
    .to_string()
}

/// The ship binary with moto's endpoint and test credentials.
pub fn ship(dir: &Dir, moto: &MotoServer) -> TestCommand {
    let mut c = dir.command(BIN);
    moto.configure(&mut c);
    c.args(["--retry-base-ms", "20"]);
    c
}

/// A moto server with a fresh bucket.
pub fn moto_with_bucket(bucket: &str, object_lock: bool) -> MotoServer {
    let moto = MotoServer::start();
    moto.create_bucket(bucket, object_lock);
    moto
}

/// The object's bytes as boto3 reads them.
pub fn get_bytes(moto: &MotoServer, bucket: &str, key: &str) -> Vec<u8> {
    let out = moto.python(&format!(
        "import base64\nb = s3.get_object(Bucket='{bucket}', Key='{key}')['Body'].read()\n\
         print(base64.b64encode(b).decode())"
    ));
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(out.trim())
        .unwrap()
}

/// Keys in the bucket, sorted.
pub fn keys(moto: &MotoServer, bucket: &str) -> Vec<String> {
    let out = moto.python(&format!(
        "r = s3.list_objects_v2(Bucket='{bucket}')\n\
         print(json.dumps(sorted(o['Key'] for o in r.get('Contents', []))))"
    ));
    serde_json::from_str(out.trim()).unwrap()
}

/// Incomplete multipart uploads left in the bucket.
pub fn open_uploads(moto: &MotoServer, bucket: &str) -> Vec<String> {
    let out = moto.python(&format!(
        "r = s3.list_multipart_uploads(Bucket='{bucket}')\n\
         print(json.dumps([u['Key'] for u in r.get('Uploads', [])]))"
    ));
    serde_json::from_str(out.trim()).unwrap()
}

/// HeadObject (checksum mode on) as JSON, dates as strings.
pub fn head(moto: &MotoServer, bucket: &str, key: &str) -> serde_json::Value {
    let out = moto.python(&format!(
        "h = s3.head_object(Bucket='{bucket}', Key='{key}', ChecksumMode='ENABLED')\n\
         h.pop('ResponseMetadata', None)\n\
         print(json.dumps(h, default=str))"
    ));
    serde_json::from_str(out.trim()).unwrap()
}
