//! Reading file lines: every line is parsed as archive-core's `FileLine`
//! and checked before anything is written (a bad line is a data error
//! with nothing touched), but only the few fields this tool needs are kept
//! in memory. The lines themselves wait in an anonymous temporary file
//! until they are passed on, byte for byte, so memory does not grow with
//! the length of the lines and unknown fields pass through untouched.

use crate::fields::ObjectText;
use crate::model::{
    marks_summary, ClaimedSha, Failures, Incoming, JsonFormat, Meta, Target, WriteConfig,
};
use crate::write::targets;
use anyhow::{Context, Result};
use archive_core::io::{input_name, open_input, LineOut};
use archive_core::{Failure, FileLine};
use serde_json::Value;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, Write};
use std::path::Path;

/// The lines read, and the spool that holds their text.
pub struct Input {
    pub incoming: Vec<Incoming>,
    spool: Option<File>,
}

/// Fields of a file line that describe the line or its delivery, not the
/// file (and `mtime`, which this tool records itself).
const NOT_FILE_METADATA: &[&str] = &[
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

/// Where each line goes: targets by (root, group).
struct Router<'a> {
    cfg: &'a WriteConfig,
    index: HashMap<(String, Option<String>), usize>,
}

impl Router<'_> {
    /// The target of a line, created on first sight (and checked then).
    fn route(
        &mut self,
        fl: &FileLine,
        group: Option<String>,
        targets: &mut Vec<Target>,
        at: &dyn Fn(String) -> anyhow::Error,
    ) -> Result<usize> {
        let key = (fl.root.clone(), group);
        if let Some(&ti) = self.index.get(&key) {
            return Ok(ti);
        }
        let t = targets::target(Path::new(&fl.root), &fl.root, key.1.clone(), self.cfg)?;
        targets::check_allowed(&t, self.cfg).map_err(at)?;
        targets.push(t);
        self.index.insert(key, targets.len() - 1);
        Ok(targets.len() - 1)
    }
}

pub fn read_lines(
    cfg: &WriteConfig,
    targets: &mut Vec<Target>,
    failures: &mut Failures,
) -> Result<Input> {
    let input = cfg.input.as_deref();
    let source = input_name(input);
    if let Some(path) = input.filter(|p| p.as_os_str() != "-") {
        // A missing input file is a usage error in every tool, not a
        // failed item.
        if !path.exists() {
            return Err(Failure::usage(format!(
                "{}: no such input file",
                path.display()
            )));
        }
    }
    let mut reader = open_input(input)?;
    let mut spool = BufWriter::with_capacity(
        256 * 1024,
        tempfile::tempfile().context("creating a temporary file for the input lines")?,
    );
    let mut incoming: Vec<Incoming> = Vec::new();
    let mut router = Router {
        cfg,
        index: HashMap::new(),
    };
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
        let fl = FileLine::parse(line, &source, line_no)?;
        let Some(group) = group_of(cfg, &fl, failures, &format!("{source}:{line_no}")) else {
            continue;
        };
        let ti = router.route(&fl, group, targets, &at)?;
        let rel = if targets[ti].lifted {
            format!("data/{}", fl.path)
        } else {
            fl.path.clone()
        };
        if cfg.bagit && !rel.starts_with("data/") {
            failures.other(format!(
                "{source}:{line_no}: {}/{rel} is outside the bag's data/ directory",
                fl.root
            ));
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
            claimed_bytes: fl.bytes,
            claimed_sha: (!fl.sha256.is_empty()).then(|| ClaimedSha::new(&fl.sha256)),
            meta: Some(Box::new(line_meta(&fl, cfg.json_format))),
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

/// The group of a line with `--group-by` (`Some(None)` without it); None
/// when the line lacks the field, which fails it.
fn group_of(
    cfg: &WriteConfig,
    fl: &FileLine,
    failures: &mut Failures,
    at: &str,
) -> Option<Option<String>> {
    let Some(field) = &cfg.group_by else {
        return Some(None);
    };
    match fl.extra.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Some(Some(s.clone())),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(Some(v.to_string())),
        _ => {
            failures.other(format!(
                "{at}: {}/{} has no {field:?} to group by; not in any manifest",
                fl.root, fl.path
            ));
            None
        }
    }
}

/// The file metadata a line carries into manifest.json. The billing
/// specification names a snapshot's table `<table>_snapshot` (parquetize
/// says `"table":"accounts","snapshot":true`).
fn line_meta(fl: &FileLine, format: JsonFormat) -> Meta {
    let string = |name: &str| match fl.extra.get(name) {
        Some(Value::String(s)) => Some(s.as_str().into()),
        _ => None,
    };
    let mut extra = ObjectText::default();
    let mut summary = false;
    for (k, v) in &fl.extra {
        summary |= marks_summary(k, v);
        if !NOT_FILE_METADATA.contains(&k.as_str()) {
            extra.push_value(k, v);
        }
    }
    let mut table: Option<Box<str>> = string("table");
    let snapshot = fl.extra.get("snapshot") == Some(&Value::Bool(true));
    if let Some(t) = table
        .as_deref()
        .filter(|t| snapshot && !t.ends_with("_snapshot"))
    {
        if format == JsonFormat::BillingSpec {
            table = Some(format!("{t}_snapshot").into());
        }
    }
    Meta {
        s3_key: string("s3_key").or_else(|| string("key")),
        table,
        records: fl.extra.get("records").and_then(Value::as_u64),
        extra: extra.finish(),
        summary,
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
                let mut fl = FileLine::parse(line.trim_end(), "the temporary file", inc.line_no)?;
                fl.path = format!("data/{}", fl.path);
                fl.root = t.root_str.clone();
                out.json(&fl)?;
            } else {
                out.raw(line.as_bytes())?;
            }
        }
        Ok(())
    }
}
