//! The lines printed on stdout once every manifest is written: the input
//! lines that did not fail, a file line for every walked file, and one
//! file line per manifest file written, all as archive-core `FileLine`s.

use crate::fields::RawFields;
use crate::model::{hex, Entry, Failures, Item, Target, WriteConfig, Written};
use crate::write::input::Input;
use anyhow::{Context, Result};
use archive_core::io::LineOut;
use archive_core::FileLine;
use serde_json::{Map, Value};

/// A target's results: the manifest files written, and its items when
/// its walked files get a line each.
pub struct Done {
    pub target: usize,
    pub written: Vec<Written>,
    pub walked: Option<Vec<Item>>,
}

/// Print everything, in order: input lines, walked files, manifests.
pub fn print(
    input: &mut Input,
    targets: &[Target],
    done: &[Done],
    failures: &Failures,
    cfg: &WriteConfig,
) -> Result<()> {
    let mut out = LineOut::new();
    input.print(&mut out, targets)?;
    for d in done {
        let Some(items) = &d.walked else { continue };
        let t = &targets[d.target];
        for it in items {
            let Some(e) = &it.entry else { continue };
            if !failures.failed(d.target, &it.rel) {
                out.json(&walk_line(t, &it.rel, e, it.changed)?)?;
            }
        }
    }
    for d in done {
        for w in &d.written {
            out.json(&manifest_line(&targets[d.target], w, cfg))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Fields a walked file's line sets itself; the previous metadata cannot
/// replace them.
const WALK_LINE_FIELDS: &[&str] = &[
    "root", "path", "bytes", "sha256", "table", "records", "changed",
];

/// The file line printed for a walked file (`--root`): the file's facts
/// plus the metadata the previous manifest recorded, and `changed` when
/// the previous manifest listed the file (true: other bytes than it
/// recorded), so `ship` never calls a changed file kept.
fn walk_line(t: &Target, path: &str, e: &Entry, changed: Option<bool>) -> Result<FileLine> {
    let meta = e.meta();
    let mut extra = Map::new();
    if let Some(c) = changed {
        extra.insert("changed".into(), Value::Bool(c));
    }
    if let Some(table) = &meta.table {
        extra.insert("table".into(), Value::from(&**table));
    }
    if let Some(r) = meta.records {
        extra.insert("records".into(), Value::from(r));
    }
    if let Some(text) = &meta.extra {
        let fields =
            RawFields::parse(text).context("re-reading the metadata of a manifest entry")?;
        for (k, v) in &fields.0 {
            if !WALK_LINE_FIELDS.contains(&k.as_ref()) {
                let v: Value = serde_json::from_str(v.get())
                    .context("re-reading the metadata of a manifest entry")?;
                extra.insert(k.to_string(), v);
            }
        }
    }
    Ok(FileLine {
        root: t.root_str.clone(),
        path: path.to_string(),
        bytes: e.bytes,
        sha256: hex(&e.sha256),
        extra,
    })
}

/// The file line of a manifest file written (or kept).
fn manifest_line(t: &Target, w: &Written, cfg: &WriteConfig) -> FileLine {
    let mut extra = Map::new();
    extra.insert("manifest".into(), Value::Bool(true));
    extra.insert("manifest_kind".into(), Value::from(w.kind));
    extra.insert("changed".into(), Value::Bool(w.changed));
    if let Some(g) = &t.group {
        extra.insert("group".into(), Value::from(g.as_str()));
        if let Some(f) = &cfg.group_by {
            extra.insert(f.clone(), Value::from(g.as_str()));
        }
    }
    if let Some(p) = &cfg.period {
        extra.entry("period").or_insert(Value::from(p.as_str()));
    }
    if cfg.dry_run {
        extra.insert("status".into(), Value::from("planned"));
    }
    FileLine {
        root: t.root_str.clone(),
        path: w.name.clone(),
        bytes: w.bytes,
        sha256: w.sha256.clone(),
        extra,
    }
}
