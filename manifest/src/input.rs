//! Reading file lines: every line is checked before anything is written
//! (a bad line is a data error with nothing touched), but only the few
//! fields this tool needs are kept in memory. The lines themselves wait in
//! an anonymous temporary file until they are passed on, so memory does
//! not grow with the length of the lines.

use crate::build::{Failures, Target};
use crate::fields::{ObjectText, RawFields};
use crate::json_manifest::{Digest, Meta};
use crate::WriteArgs;
use anyhow::{Context, Result};
use archive_core::io::{input_name, open_input, LineOut};
use archive_core::Failure;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, Write};
use std::path::Path;

/// One input file line.
pub struct Incoming {
    pub line_no: u64,
    pub target: usize,
    pub claimed_bytes: Option<u64>,
    pub claimed_sha: Option<ClaimedSha>,
    /// What the manifest entry takes from the line; moved out when the
    /// entry is built.
    pub meta: Option<Box<Meta>>,
    /// Not passed on: failed, or superseded by a later line for the file.
    pub failed: bool,
}

/// The `sha256` a line claims: kept as 32 bytes when it is hex, as the
/// text otherwise (it then matches no file).
pub enum ClaimedSha {
    Hex(Digest),
    Malformed(Box<str>),
}

impl ClaimedSha {
    fn new(text: &str) -> ClaimedSha {
        match crate::json_manifest::parse_digest(text) {
            Some(d) => ClaimedSha::Hex(d),
            None => ClaimedSha::Malformed(text.to_ascii_lowercase().into()),
        }
    }

    pub fn matches(&self, actual: &Digest) -> bool {
        matches!(self, ClaimedSha::Hex(d) if d == actual)
    }

    /// Lowercase, as the line had it.
    pub fn shown(&self) -> String {
        match self {
            ClaimedSha::Hex(d) => crate::json_manifest::hex(d),
            ClaimedSha::Malformed(s) => s.to_string(),
        }
    }
}

/// The lines read, and the spool that holds their text.
pub struct Input {
    pub incoming: Vec<Incoming>,
    spool: Option<File>,
}

/// Fields of a file line that describe the line or its delivery, not the
/// file (and `mtime`, which this tool records itself).
const NOT_FILE_METADATA: &[&str] = &[
    "root",
    "path",
    "bytes",
    "sha256",
    "s3_key",
    "key",
    "table",
    "records",
    "changed",
    "status",
    "error",
    "manifest",
    "manifest_kind",
    "url",
    "etag",
    "version_id",
    "checksum_sha256",
    "storage_class",
    "mtime",
];

pub fn read_lines(
    args: &WriteArgs,
    targets: &mut Vec<Target>,
    failures: &mut Failures,
) -> Result<Input> {
    let input = args.input.as_deref();
    let source = input_name(input);
    let mut reader = open_input(input)?;
    let mut spool = BufWriter::with_capacity(
        256 * 1024,
        tempfile::tempfile().context("creating a temporary file for the input lines")?,
    );
    let mut incoming: Vec<Incoming> = Vec::new();
    let mut index: HashMap<(String, Option<String>), usize> = HashMap::new();
    let mut buf = String::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_line(&mut buf)
            .with_context(|| format!("reading {source}"))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let line = buf.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        let at = |msg: String| Failure::data(format!("{source}:{line_no}: {msg}"));
        let fields = RawFields::parse(line).map_err(|e| at(format!("not a JSON object: {e}")))?;
        let root = str_field(&fields, "root").ok_or_else(|| not_file_line(&at, "root"))?;
        let path = str_field(&fields, "path").ok_or_else(|| not_file_line(&at, "path"))?;
        archive_core::lines::check_relative(&path).map_err(|e| at(format!("{e:#}")))?;
        let claimed_bytes = match fields.get("bytes").map(RawValue::get) {
            None | Some("null") => None,
            Some(v) => Some(
                v.parse::<u64>()
                    .map_err(|_| at("field bytes is not a non-negative integer".to_string()))?,
            ),
        };
        let claimed_sha = match fields.get("sha256").map(value) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(ClaimedSha::new(&s)),
            Some(_) => return Err(at("field sha256 is not a string".to_string())),
        };
        let group = match &args.group_by {
            None => None,
            Some(field) => match fields.get(field).map(value) {
                Some(Value::String(s)) if !s.is_empty() => Some(s),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
                _ => {
                    eprintln!("manifest: error: {source}:{line_no}: {root}/{path} has no {field:?} to group by; not in any manifest");
                    failures.count += 1;
                    continue;
                }
            },
        };
        let key = (root.clone(), group.clone());
        let ti = match index.get(&key) {
            Some(&ti) => ti,
            None => {
                let (dir, root_str, lifted) =
                    crate::build::target_dir(Path::new(&root), &root, args.bagit)?;
                targets.push(Target {
                    dir,
                    root_str,
                    group,
                    lifted,
                    announced: HashMap::new(),
                    print_all: false,
                });
                index.insert(key, targets.len() - 1);
                targets.len() - 1
            }
        };
        let rel = if targets[ti].lifted {
            format!("data/{path}")
        } else {
            path
        };
        if args.bagit && !rel.starts_with("data/") {
            eprintln!("manifest: error: {source}:{line_no}: {root}/{rel} is outside the bag's data/ directory");
            failures.count += 1;
            continue;
        }
        // A later line for the same file supersedes an earlier one.
        if let Some(prev) = targets[ti].announced.insert(rel, incoming.len()) {
            incoming[prev].failed = true;
            incoming[prev].meta = None;
        }
        incoming.push(Incoming {
            line_no,
            target: ti,
            claimed_bytes,
            claimed_sha,
            meta: Some(Box::new(line_meta(&fields))),
            failed: false,
        });
        spool.write_all(line.as_bytes())?;
        spool.write_all(b"\n")?;
    }
    let spool = spool
        .into_inner()
        .map_err(|e| e.into_error())
        .context("writing the temporary file of input lines")?;
    Ok(Input {
        incoming,
        spool: Some(spool),
    })
}

fn not_file_line(at: &impl Fn(String) -> anyhow::Error, name: &str) -> anyhow::Error {
    at(format!(
        "not a file line: field {name:?} missing or not a string"
    ))
}

fn value(raw: &RawValue) -> Value {
    // Raw values are valid JSON; Null only if one nests beyond serde's limit.
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

fn str_field(fields: &RawFields, name: &str) -> Option<String> {
    match fields.get(name).map(value) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// The file metadata a line carries into manifest.json.
fn line_meta(fields: &RawFields) -> Meta {
    let s3_key = str_field(fields, "s3_key")
        .or_else(|| str_field(fields, "key"))
        .map(Into::into);
    let mut extra = ObjectText::default();
    for (k, v) in &fields.0 {
        if !NOT_FILE_METADATA.contains(&k.as_ref()) {
            extra.push(k, v);
        }
    }
    Meta {
        s3_key,
        table: str_field(fields, "table").map(Into::into),
        records: fields.get("records").and_then(|v| v.get().parse().ok()),
        extra: extra.finish(),
    }
}

impl Input {
    /// An empty input (walk mode).
    pub fn none() -> Input {
        Input {
            incoming: Vec::new(),
            spool: None,
        }
    }

    /// Pass on the lines that did not fail, in input order. A line whose
    /// root was a bag's `data` directory is re-rooted at the bag.
    pub fn print(&mut self, out: &mut LineOut, targets: &[Target]) -> Result<()> {
        let Some(spool) = self.spool.as_mut() else {
            return Ok(());
        };
        spool
            .rewind()
            .context("reading back the temporary file of input lines")?;
        let mut reader = BufReader::with_capacity(256 * 1024, &*spool);
        let mut line = String::new();
        for inc in &self.incoming {
            line.clear();
            reader
                .read_line(&mut line)
                .context("reading back the temporary file of input lines")?;
            if inc.failed {
                continue;
            }
            let t = &targets[inc.target];
            if t.lifted {
                let mut f: Map<String, Value> = serde_json::from_str(&line)
                    .context("re-reading an input line from the temporary file")?;
                let path = f.get("path").and_then(Value::as_str).unwrap_or_default();
                let rel = format!("data/{path}");
                f.insert("root".into(), Value::String(t.root_str.clone()));
                f.insert("path".into(), Value::String(rel));
                out.json(&f)?;
            } else {
                out.raw(line.as_bytes())?;
            }
        }
        Ok(())
    }
}
