//! `manifest` (no subcommand): read file lines or walk roots, hash every
//! file, and write the manifests of each root (or group) next to the files.
//!
//! The work is planned per target (a directory plus an optional group),
//! then every file of every target is hashed in one parallel pass, then each
//! target's manifests are assembled and written. Per file, only a compact
//! entry is held (path, size, mtime, raw digest, the producer's metadata as
//! one JSON text); the input lines wait in a temporary file.

use crate::assemble::assemble;
use crate::input::{self, Input};
use crate::json_manifest::Entry;
use crate::plan::{self, Item, Plan};
use crate::progress::Progress;
use crate::sign::Signer;
use crate::write::{self, write_target, Written};
use crate::WriteArgs;
use anyhow::{Context, Result};
use archive_core::io::LineOut;
use archive_core::{Failure, Outcome};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A directory (and optional group) that gets its own manifests.
pub struct Target {
    pub dir: PathBuf,
    /// `root` of the manifest file lines printed.
    pub root_str: String,
    pub group: Option<String>,
    /// True when input lines name a root called `data` and the bag is its
    /// parent: printed lines are re-rooted there so ship keeps the bag shape.
    pub lifted: bool,
    /// Relative path -> index of the input line that announced it.
    pub announced: HashMap<String, usize>,
    /// File lines are printed for every file (walk mode, `--root`).
    pub print_all: bool,
}

#[derive(Default)]
pub struct Counts {
    pub files: u64,
    pub bytes: u64,
    pub hashed: u64,
    pub reused: u64,
    pub failed: u64,
    pub manifests_written: u64,
    pub manifests_unchanged: u64,
}

/// Per-file failures: reported on stderr at once, counted for the exit code.
#[derive(Default)]
pub struct Failures {
    pub count: u64,
    /// Target index -> paths that failed (few: only failures are kept).
    paths: BTreeMap<usize, BTreeSet<String>>,
}

impl Failures {
    pub fn fail(&mut self, target: usize, rel: &str, msg: impl std::fmt::Display) {
        eprintln!("manifest: error: {msg}");
        self.count += 1;
        self.paths
            .entry(target)
            .or_default()
            .insert(rel.to_string());
    }

    fn failed(&self, target: usize, rel: &str) -> bool {
        self.paths.get(&target).is_some_and(|s| s.contains(rel))
    }
}

pub fn run(args: WriteArgs) -> Result<Outcome> {
    let started = Instant::now();
    if args.group_by.is_some() && args.bagit {
        return Err(Failure::usage(
            "--group-by and --bagit cannot be combined: a bag is one directory",
        ));
    }
    if args.group_by.is_some() && !args.root.is_empty() {
        return Err(Failure::usage(
            "--group-by needs file lines on stdin (a walked --root has no fields to group by)",
        ));
    }
    let s3_prefix = args.s3_prefix.as_deref().map(s3_key_prefix).transpose()?;
    if let Some(n) = args.jobs {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("starting hashing threads")?;
    }
    let signer = args.sign.as_deref().map(Signer::load).transpose()?;

    let mut failures = Failures::default();
    let mut targets: Vec<Target> = Vec::new();
    let mut input = if args.root.is_empty() {
        input::read_lines(&args, &mut targets, &mut failures)?
    } else {
        for root in &args.root {
            let (dir, root_str, lifted) =
                target_dir(root, &root.display().to_string(), args.bagit)?;
            targets.push(Target {
                dir,
                root_str,
                group: None,
                lifted,
                announced: HashMap::new(),
                print_all: true,
            });
        }
        Input::none()
    };

    let mut plans: Vec<Plan> = Vec::with_capacity(targets.len());
    for (ti, t) in targets.iter_mut().enumerate() {
        plans.push(plan::plan_target(ti, t, &args, &mut failures)?);
    }
    let progress = Progress::start(plans.iter().map(|p| p.items.len() as u64).sum());
    plan::probe_all(&mut plans, &targets, args.trust_unchanged, &progress);
    progress.finish();

    let mut counts = Counts::default();
    let now = chrono::Utc::now();
    let mut manifest_lines: Vec<Value> = Vec::new();
    // Entries of walked targets, kept to print their file lines once every
    // manifest is written.
    let mut walked: Vec<(usize, Vec<Item>)> = Vec::new();
    for (ti, plan) in plans.into_iter().enumerate() {
        let t = &targets[ti];
        let Plan {
            mut items,
            previous_header,
            previous_txt_sha,
        } = plan;
        let same_entries = assemble(
            ti,
            t,
            &mut items,
            &mut input.incoming,
            &args,
            s3_prefix.as_deref(),
            &mut failures,
            &mut counts,
        );
        for (_, e) in plan::entries(&items) {
            counts.files += 1;
            counts.bytes += e.bytes;
        }
        let previous = write::Previous {
            header: previous_header.as_ref(),
            txt_sha: previous_txt_sha,
            same_entries,
        };
        let written = write_target(t, &items, previous, &args, signer.as_ref(), now)?;
        for w in written {
            if w.changed {
                counts.manifests_written += 1;
            } else {
                counts.manifests_unchanged += 1;
            }
            manifest_lines.push(manifest_line(t, &w, &args));
        }
        if t.print_all {
            walked.push((ti, items));
        }
    }

    let mut out = LineOut::new();
    input.print(&mut out, &targets)?;
    let mut line = Vec::with_capacity(512);
    for (ti, items) in &walked {
        for (path, e) in plan::entries(items) {
            if failures.failed(*ti, path) {
                continue;
            }
            line.clear();
            walk_line(&mut line, &targets[*ti], path, e)?;
            out.raw(&line)?;
        }
    }
    for l in &manifest_lines {
        out.json(l)?;
    }
    out.flush()?;

    counts.failed = failures.count;
    let secs = started.elapsed().as_secs_f64();
    let summary = json!({
        "tool": "manifest",
        "targets": targets.len(),
        "files": counts.files,
        "bytes": counts.bytes,
        "hashed": counts.hashed,
        "reused": counts.reused,
        "failed": counts.failed,
        "manifests_written": counts.manifests_written,
        "manifests_unchanged": counts.manifests_unchanged,
        "dry_run": args.dry_run,
        "elapsed_s": (secs * 1000.0).round() / 1000.0,
    });
    let verb = if args.dry_run { "would write" } else { "wrote" };
    crate::summary::finish(
        &format!(
            "{} files ({} bytes) in {} manifest(s): {} hashed, {} reused, {} failed; {verb} {} manifest files, {} unchanged; {:.2}s",
            counts.files, counts.bytes, targets.len(), counts.hashed, counts.reused, counts.failed,
            counts.manifests_written, counts.manifests_unchanged, secs
        ),
        &summary,
        args.summary.as_deref(),
    )?;
    Ok(if failures.count > 0 {
        Outcome::Partial
    } else {
        Outcome::Complete
    })
}

/// `s3://bucket/prefix` -> `prefix` (the part of keys before the path).
fn s3_key_prefix(url: &str) -> Result<String> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| {
        Failure::usage(format!("--s3-prefix {url:?}: expected s3://bucket/prefix"))
    })?;
    let prefix = rest.split_once('/').map(|(_, p)| p).unwrap_or("");
    Ok(prefix.trim_matches('/').to_string())
}

/// Where a root's manifests go. With `--bagit`, a root named `data` is the
/// payload directory of a bag that is its parent.
pub fn target_dir(root: &Path, root_str: &str, bagit: bool) -> Result<(PathBuf, String, bool)> {
    if !bagit {
        return Ok((root.to_path_buf(), root_str.to_string(), false));
    }
    if root.file_name().is_some_and(|n| n == "data") {
        let parent = match root.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let s = parent.display().to_string();
        return Ok((parent, s, true));
    }
    if root.join("data").is_dir() {
        return Ok((root.to_path_buf(), root_str.to_string(), false));
    }
    Err(Failure::usage(format!(
        "--bagit: {} is neither a directory named data nor one containing data/ (BagIt keeps the payload under <bag>/data/)",
        root.display()
    )))
}

pub fn join_key(prefix: &str, rel: &str) -> String {
    if prefix.is_empty() {
        rel.to_string()
    } else {
        format!("{prefix}/{rel}")
    }
}

fn manifest_line(t: &Target, w: &Written, args: &WriteArgs) -> Value {
    let mut m = Map::new();
    m.insert("root".into(), json!(t.root_str));
    m.insert("path".into(), json!(w.name));
    m.insert("bytes".into(), json!(w.bytes));
    m.insert("sha256".into(), json!(w.sha256));
    m.insert("manifest".into(), json!(true));
    m.insert("manifest_kind".into(), json!(w.kind));
    m.insert("changed".into(), json!(w.changed));
    if let Some(g) = &t.group {
        m.insert("group".into(), json!(g));
        if let Some(f) = &args.group_by {
            m.insert(f.clone(), json!(g));
        }
    }
    if let Some(p) = &args.period {
        m.entry("period").or_insert(json!(p));
    }
    if args.dry_run {
        m.insert("status".into(), json!("planned"));
    }
    Value::Object(m)
}

/// Fields a walked file's line sets itself; the previous metadata cannot
/// replace them.
const WALK_LINE_FIELDS: &[&str] = &["root", "path", "bytes", "sha256", "table", "records"];

/// The file line printed for a walked file (`--root`): the file's facts
/// plus the metadata the previous manifest recorded.
fn walk_line(line: &mut Vec<u8>, t: &Target, path: &str, e: &Entry) -> Result<()> {
    let string = |line: &mut Vec<u8>, s: &str| serde_json::to_writer(line, s);
    line.extend_from_slice(b"{\"root\":");
    string(line, &t.root_str)?;
    line.extend_from_slice(b",\"path\":");
    string(line, path)?;
    line.extend_from_slice(format!(",\"bytes\":{},\"sha256\":\"", e.bytes).as_bytes());
    crate::json_manifest::write_hex(line, &e.sha256)?;
    line.push(b'"');
    let meta = e.meta();
    if let Some(table) = &meta.table {
        line.extend_from_slice(b",\"table\":");
        string(line, table)?;
    }
    if let Some(r) = meta.records {
        line.extend_from_slice(format!(",\"records\":{r}").as_bytes());
    }
    if let Some(extra) = &meta.extra {
        let fields = crate::fields::RawFields::parse(extra)
            .context("re-reading the metadata of a manifest entry")?;
        for (k, v) in &fields.0 {
            if !WALK_LINE_FIELDS.contains(&k.as_ref()) {
                line.push(b',');
                string(line, k)?;
                line.push(b':');
                line.extend_from_slice(v.get().as_bytes());
            }
        }
    }
    line.push(b'}');
    Ok(())
}
