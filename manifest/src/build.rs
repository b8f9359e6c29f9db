//! `manifest` (no subcommand): read file lines or walk roots, hash every
//! file, and write the manifests of each root (or group) next to the files.
//!
//! The work is planned per target (a directory plus an optional group),
//! then every file of every target is hashed in one parallel pass, then each
//! target's manifests are assembled and written.

use crate::hashing::Digested;
use crate::json_manifest::{self, FileEntry, JsonManifest, SumFileRef, ToolInfo};
use crate::sha256sum::{self, SumEntry};
use crate::sign::Signer;
use crate::tree::{self, manifest_names};
use crate::{bagit, WriteArgs};
use anyhow::{Context, Result};
use archive_core::io::{input_name, open_input, LineOut};
use archive_core::{Failure, Outcome};
use rayon::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// One input file line.
struct Incoming {
    line_no: u64,
    raw: String,
    fields: Map<String, Value>,
    claimed_bytes: Option<u64>,
    claimed_sha: Option<String>,
    target: usize,
    /// Path relative to the target directory (with `data/` for a lifted bag).
    rel: String,
    failed: bool,
}

/// A directory (and optional group) that gets its own manifests.
struct Target {
    dir: PathBuf,
    /// `root` of the manifest file lines printed.
    root_str: String,
    group: Option<String>,
    /// True when input lines name a root called `data` and the bag is its
    /// parent: printed lines are re-rooted there so ship keeps the bag shape.
    lifted: bool,
    announced: HashMap<String, usize>,
    /// File lines are printed for every file (walk mode, `--root`).
    print_all: bool,
}

#[derive(Default)]
struct Counts {
    files: u64,
    bytes: u64,
    hashed: u64,
    reused: u64,
    failed: u64,
    manifests_written: u64,
    manifests_unchanged: u64,
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
    let mut incoming: Vec<Incoming> = Vec::new();
    if args.root.is_empty() {
        read_lines(&args, &mut targets, &mut incoming, &mut failures)?;
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
    }

    // Plan: for every target, which files need hashing.
    let mut plans: Vec<Plan> = Vec::with_capacity(targets.len());
    for (ti, t) in targets.iter().enumerate() {
        plans.push(plan_target(ti, t, &args, &mut failures)?);
    }
    // Probe every planned file on all cores: open, fstat, then reuse the
    // previous digest (--trust-unchanged) or hash.
    let trust = args.trust_unchanged;
    let jobs: Vec<ProbeJob> = plans
        .iter()
        .enumerate()
        .flat_map(|(ti, p)| {
            let dir = &targets[ti].dir;
            p.files.iter().map(move |(rel, pl)| {
                let reuse = match (&pl.old, pl.announced) {
                    (Some(o), None) if trust => o.mtime.clone().map(|m| (o.bytes, m)),
                    _ => None,
                };
                (ti, rel.clone(), dir.join(rel), reuse)
            })
        })
        .collect();
    let probes: Vec<Probe> = jobs
        .par_iter()
        .map(|(_, _, path, reuse)| probe(path, reuse.as_ref()))
        .collect();
    let mut hashed: Vec<HashMap<String, Result<Digested>>> =
        (0..targets.len()).map(|_| HashMap::new()).collect();
    for ((ti, rel, _, _), pr) in jobs.into_iter().zip(probes) {
        if let Some(p) = plans[ti].files.get_mut(&rel) {
            p.on_disk = pr.on_disk;
        }
        if let Some(d) = pr.digest {
            hashed[ti].insert(rel, d);
        }
    }

    let mut counts = Counts {
        hashed: hashed.iter().map(|h| h.len() as u64).sum(),
        ..Counts::default()
    };
    let mut out = LineOut::new();
    let now = chrono::Utc::now();
    let mut manifest_lines: Vec<Value> = Vec::new();
    let mut walk_lines: Vec<Value> = Vec::new();
    for (ti, plan) in plans.into_iter().enumerate() {
        let t = &targets[ti];
        let entries = assemble(
            ti,
            t,
            plan,
            &mut hashed[ti],
            &mut incoming,
            &args,
            s3_prefix.as_deref(),
            &mut failures,
            &mut counts,
        );
        counts.files += entries.len() as u64;
        counts.bytes += entries.iter().map(|e| e.bytes).sum::<u64>();
        if t.print_all {
            for e in entries
                .iter()
                .filter(|e| !failures.paths.contains(&(ti, e.path.clone())))
            {
                walk_lines.push(walk_line(t, e));
            }
        }
        let written = write_target(t, &entries, &args, signer.as_ref(), now)?;
        for w in written {
            if w.changed {
                counts.manifests_written += 1;
            } else {
                counts.manifests_unchanged += 1;
            }
            manifest_lines.push(manifest_line(t, &w, &args));
        }
    }

    for inc in incoming.iter().filter(|i| !i.failed) {
        if targets[inc.target].lifted {
            let mut f = inc.fields.clone();
            f.insert(
                "root".into(),
                Value::String(targets[inc.target].root_str.clone()),
            );
            f.insert("path".into(), Value::String(inc.rel.clone()));
            out.json(&f)?;
        } else {
            out.raw(inc.raw.as_bytes())?;
        }
    }
    for l in walk_lines.iter().chain(&manifest_lines) {
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

/// Per-file failures: reported on stderr at once, counted for the exit code.
#[derive(Default)]
struct Failures {
    count: u64,
    paths: BTreeSet<(usize, String)>,
}

impl Failures {
    fn fail(&mut self, target: usize, rel: &str, msg: impl std::fmt::Display) {
        eprintln!("manifest: error: {msg}");
        self.count += 1;
        self.paths.insert((target, rel.to_string()));
    }
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
fn target_dir(root: &Path, root_str: &str, bagit: bool) -> Result<(PathBuf, String, bool)> {
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

fn read_lines(
    args: &WriteArgs,
    targets: &mut Vec<Target>,
    incoming: &mut Vec<Incoming>,
    failures: &mut Failures,
) -> Result<()> {
    let input = args.input.as_deref();
    let source = input_name(input);
    let reader = open_input(input)?;
    let mut index: HashMap<(String, Option<String>), usize> = HashMap::new();
    for (i, line) in reader.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.with_context(|| format!("reading {source}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Map<String, Value> = serde_json::from_str(&line)
            .map_err(|e| Failure::data(format!("{source}:{line_no}: not a JSON object: {e}")))?;
        let root = str_field(&fields, "root", &source, line_no)?;
        let path = str_field(&fields, "path", &source, line_no)?;
        archive_core::lines::check_relative(&path)
            .map_err(|e| Failure::data(format!("{source}:{line_no}: {e:#}")))?;
        let claimed_bytes = match fields.get("bytes") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                Failure::data(format!(
                    "{source}:{line_no}: field bytes is not a non-negative integer"
                ))
            })?),
        };
        let claimed_sha = match fields.get("sha256") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.to_ascii_lowercase()),
            Some(_) => {
                return Err(Failure::data(format!(
                    "{source}:{line_no}: field sha256 is not a string"
                )))
            }
        };
        let group = match &args.group_by {
            None => None,
            Some(field) => match fields.get(field) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
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
                let (dir, root_str, lifted) = target_dir(Path::new(&root), &root, args.bagit)?;
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
        if let Some(prev) = targets[ti].announced.insert(rel.clone(), incoming.len()) {
            incoming[prev].failed = true;
        }
        incoming.push(Incoming {
            line_no,
            raw: line,
            fields,
            claimed_bytes,
            claimed_sha,
            target: ti,
            rel,
            failed: false,
        });
    }
    Ok(())
}

fn str_field(
    fields: &Map<String, Value>,
    name: &str,
    source: &str,
    line_no: u64,
) -> Result<String> {
    match fields.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(Failure::data(format!(
            "{source}:{line_no}: not a file line: field {name:?} missing or not a string"
        ))),
    }
}

/// What is known about one file before hashing.
struct Planned {
    on_disk: Option<(u64, Option<SystemTime>)>,
    old: Option<FileEntry>,
    announced: Option<usize>,
}

struct Plan {
    files: BTreeMap<String, Planned>,
}

/// Target index, relative path, local path, and the previous (bytes,
/// mtime) that allow reusing the old digest.
type ProbeJob = (usize, String, PathBuf, Option<(u64, String)>);

/// What the parallel pass found for one file.
struct Probe {
    /// Size and mtime, None when there is no such file.
    on_disk: Option<(u64, Option<SystemTime>)>,
    /// None when the previous digest was reused (or the file is absent).
    digest: Option<Result<Digested>>,
}

fn probe(path: &Path, reuse: Option<&(u64, String)>) -> Probe {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Probe {
                on_disk: None,
                digest: None,
            }
        }
        Err(e) => {
            return Probe {
                on_disk: Some((0, None)),
                digest: Some(Err(e).with_context(|| format!("opening {}", path.display()))),
            }
        }
    };
    let meta = match file.metadata() {
        Ok(m) if m.is_file() => m,
        Ok(_) => {
            return Probe {
                on_disk: None,
                digest: None,
            }
        }
        Err(e) => {
            return Probe {
                on_disk: Some((0, None)),
                digest: Some(Err(e).with_context(|| format!("reading {}", path.display()))),
            }
        }
    };
    let mtime = meta.modified().ok();
    if let Some((bytes, old_mtime)) = reuse {
        if *bytes == meta.len() && mtime.map(rfc3339_nanos).as_deref() == Some(old_mtime.as_str()) {
            return Probe {
                on_disk: Some((meta.len(), mtime)),
                digest: None,
            };
        }
    }
    Probe {
        on_disk: Some((meta.len(), mtime)),
        digest: Some(crate::hashing::hash_open(file, meta.len(), path)),
    }
}

fn plan_target(ti: usize, t: &Target, args: &WriteArgs, failures: &mut Failures) -> Result<Plan> {
    let group_name = t
        .group
        .as_deref()
        .map(archive_core::naming::sanitize_segment);
    let old = load_previous(&t.dir, group_name.as_deref());
    let mut files: BTreeMap<String, Planned> = BTreeMap::new();
    if t.group.is_none() {
        let (walk_dir, prefix) = if args.bagit {
            (t.dir.join("data"), "data/")
        } else {
            (t.dir.clone(), "")
        };
        let w = tree::walk(&walk_dir, !args.bagit)?;
        for r in w.refused {
            failures.fail(
                ti,
                &format!("{prefix}{r}"),
                format!(
                    "{}: a name sha256sum would escape (newline or backslash); rename it",
                    walk_dir.join(&r).display()
                ),
            );
        }
        for f in w.files {
            files.insert(
                format!("{prefix}{}", f.rel),
                Planned {
                    on_disk: None,
                    old: None,
                    announced: None,
                },
            );
        }
    }
    for (rel, e) in old {
        files
            .entry(rel)
            .or_insert(Planned {
                on_disk: None,
                old: None,
                announced: None,
            })
            .old = Some(e);
    }
    for (rel, &idx) in &t.announced {
        files
            .entry(rel.clone())
            .or_insert(Planned {
                on_disk: None,
                old: None,
                announced: None,
            })
            .announced = Some(idx);
    }
    Ok(Plan { files })
}

/// The previous run's entries: manifest.json when readable (it has sizes,
/// mtimes and metadata), with digests taken from manifest-sha256.txt, which
/// is what standard tools check.
fn load_previous(dir: &Path, group: Option<&str>) -> BTreeMap<String, FileEntry> {
    let (sha_name, json_name) = manifest_names(group);
    let mut out = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(dir.join(&json_name)) {
        match JsonManifest::parse(&text, &dir.join(&json_name).display().to_string()) {
            Ok(m) => {
                for e in m.files {
                    out.insert(e.path.clone(), e);
                }
            }
            Err(e) => eprintln!("manifest: warning: ignoring the previous {json_name}: {e:#}"),
        }
    }
    if let Ok(text) = std::fs::read_to_string(dir.join(&sha_name)) {
        match sha256sum::parse(&text, &dir.join(&sha_name).display().to_string()) {
            Ok(sums) => {
                for s in sums {
                    match out.get_mut(&s.path) {
                        Some(e) if e.sha256 == s.sha256 => {}
                        Some(e) => {
                            eprintln!(
                                "manifest: warning: previous {sha_name} and {json_name} disagree on {}; using {sha_name}",
                                s.path
                            );
                            e.sha256 = s.sha256;
                            e.mtime = None;
                        }
                        None => {
                            out.insert(
                                s.path.clone(),
                                FileEntry {
                                    path: s.path,
                                    s3_key: None,
                                    table: None,
                                    records: None,
                                    bytes: 0,
                                    sha256: s.sha256,
                                    mtime: None,
                                    extra: Map::new(),
                                },
                            );
                        }
                    }
                }
            }
            Err(e) => eprintln!("manifest: warning: ignoring the previous {sha_name}: {e:#}"),
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    ti: usize,
    t: &Target,
    plan: Plan,
    hashed: &mut HashMap<String, Result<Digested>>,
    incoming: &mut [Incoming],
    args: &WriteArgs,
    s3_prefix: Option<&str>,
    failures: &mut Failures,
    counts: &mut Counts,
) -> Vec<FileEntry> {
    let mut entries = Vec::new();
    for (rel, p) in plan.files {
        let shown = t.dir.join(&rel).display().to_string();
        let digest = hashed.remove(&rel);
        match (p.announced, p.on_disk, digest) {
            (Some(idx), None, _) => {
                let inc = &mut incoming[idx];
                inc.failed = true;
                failures.fail(
                    ti,
                    &rel,
                    format!("line {}: {shown}: no such file", inc.line_no),
                );
                entries.extend(p.old);
            }
            (Some(idx), Some(_), Some(Ok(d))) => {
                let inc = &mut incoming[idx];
                let sha_bad = inc.claimed_sha.as_ref().is_some_and(|c| *c != d.sha256);
                let bytes_bad = inc.claimed_bytes.is_some_and(|b| b != d.bytes);
                if sha_bad || bytes_bad {
                    inc.failed = true;
                    failures.fail(ti, &rel, format!(
                        "line {}: {shown}: the file line says {} bytes, sha256 {}, the file has {} bytes, sha256 {}; not passed on",
                        inc.line_no,
                        inc.claimed_bytes.map(|b| b.to_string()).unwrap_or_else(|| "?".into()),
                        inc.claimed_sha.as_deref().unwrap_or("?"),
                        d.bytes,
                        d.sha256
                    ));
                    entries.extend(p.old);
                } else {
                    let mtime = p.on_disk.and_then(|(_, m)| m).map(rfc3339_nanos);
                    entries.push(entry_from_line(&rel, &d, mtime, &inc.fields, s3_prefix));
                }
            }
            (_, Some(_), Some(Err(e))) => {
                if let Some(idx) = p.announced {
                    incoming[idx].failed = true;
                }
                failures.fail(ti, &rel, format!("{e:#}"));
                entries.extend(p.old);
            }
            (Some(_), Some(_), None) => unreachable!("announced files are always hashed"),
            (None, Some(_), None) => {
                // Reused under --trust-unchanged.
                counts.reused += 1;
                entries.extend(p.old);
            }
            (None, Some((_, mtime)), Some(Ok(d))) => {
                let mtime = mtime.map(rfc3339_nanos);
                match p.old {
                    Some(mut old) if old.sha256 == d.sha256 => {
                        old.bytes = d.bytes;
                        old.mtime = mtime;
                        entries.push(old);
                    }
                    Some(mut old) => {
                        if args.accept_changes {
                            eprintln!("manifest: warning: {shown} changed since the previous manifest; recording the new digest (--accept-changes)");
                            old.sha256 = d.sha256;
                            old.bytes = d.bytes;
                            old.mtime = mtime;
                            entries.push(old);
                        } else {
                            failures.fail(ti, &rel, format!(
                                "{shown} changed since the previous manifest (sha256 {} -> {}) without a file line announcing it; \
                                 keeping the old entry (use --accept-changes to record the new one)",
                                old.sha256, d.sha256
                            ));
                            entries.push(old);
                        }
                    }
                    None => {
                        let s3_key = s3_prefix.map(|p| join_key(p, &rel));
                        entries.push(FileEntry {
                            path: rel.clone(),
                            s3_key,
                            table: None,
                            records: None,
                            bytes: d.bytes,
                            sha256: d.sha256,
                            mtime,
                            extra: Map::new(),
                        });
                    }
                }
            }
            (None, None, _) => {
                let Some(old) = p.old else { continue };
                if args.accept_changes {
                    eprintln!("manifest: warning: {shown} is gone; dropping it from the manifest (--accept-changes)");
                } else {
                    failures.fail(
                        ti,
                        &rel,
                        format!(
                        "{shown} is listed in the previous manifest but missing; keeping its entry \
                         (use --accept-changes to drop it)"
                    ),
                    );
                    entries.push(old);
                }
            }
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries
}

/// Fields of a file line that describe the line or its delivery, not the file.
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
];

fn entry_from_line(
    rel: &str,
    d: &Digested,
    mtime: Option<String>,
    fields: &Map<String, Value>,
    s3_prefix: Option<&str>,
) -> FileEntry {
    let s3_key = fields
        .get("s3_key")
        .or_else(|| fields.get("key"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| s3_prefix.map(|p| join_key(p, rel)));
    let extra: Map<String, Value> = fields
        .iter()
        .filter(|(k, _)| !NOT_FILE_METADATA.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    FileEntry {
        path: rel.to_string(),
        s3_key,
        table: fields
            .get("table")
            .and_then(Value::as_str)
            .map(str::to_string),
        records: fields.get("records").and_then(Value::as_u64),
        bytes: d.bytes,
        sha256: d.sha256.clone(),
        mtime,
        extra,
    }
}

fn join_key(prefix: &str, rel: &str) -> String {
    if prefix.is_empty() {
        rel.to_string()
    } else {
        format!("{prefix}/{rel}")
    }
}

fn rfc3339_nanos(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// A manifest file as written (or as found unchanged).
struct Written {
    name: String,
    kind: &'static str,
    bytes: u64,
    sha256: String,
    changed: bool,
}

fn write_target(
    t: &Target,
    entries: &[FileEntry],
    args: &WriteArgs,
    signer: Option<&Signer>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Written>> {
    let group_name = t
        .group
        .as_deref()
        .map(archive_core::naming::sanitize_segment);
    let (sha_name, json_name) = manifest_names(group_name.as_deref());
    let sums: Vec<SumEntry> = entries
        .iter()
        .map(|e| SumEntry {
            path: e.path.clone(),
            sha256: e.sha256.clone(),
        })
        .collect();
    let txt = sha256sum::render(&sums);
    let period = args
        .period
        .clone()
        .or_else(|| {
            (args.group_by.as_deref() == Some("period"))
                .then(|| t.group.clone())
                .flatten()
        })
        .or_else(|| common_str(entries, "period"));
    let schema_version = args
        .schema_version
        .clone()
        .map(Value::String)
        .or_else(|| json_manifest::common_schema_version(entries));
    let mut manifest = JsonManifest {
        archive_version: json_manifest::ARCHIVE_VERSION,
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        tool: ToolInfo {
            name: "manifest".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        period: period.clone(),
        group_by: args.group_by.clone(),
        group: t.group.clone(),
        schema_version,
        retention_years: args.retention_years,
        compliance: args.compliance.clone(),
        bagit: args.bagit,
        sha256_manifest: SumFileRef {
            path: sha_name.clone(),
            sha256: archive_core::hash::sha256_hex(txt.as_bytes()),
        },
        totals: json_manifest::totals(entries),
        files: entries.to_vec(),
    };

    // Unchanged since the last run: keep every file as it is, so a daily
    // `ship --update` does not rewrite them.
    let old_txt = std::fs::read(t.dir.join(&sha_name)).ok();
    let old_json = std::fs::read_to_string(t.dir.join(&json_name))
        .ok()
        .and_then(|s| JsonManifest::parse(&s, "").ok());
    let mut names: Vec<(String, &'static str)> =
        vec![(sha_name.clone(), "sha256"), (json_name.clone(), "json")];
    if let Some(s) = signer {
        names.push((format!("{sha_name}{}", s.suffix()), "signature"));
        names.push((format!("{json_name}{}", s.suffix()), "signature"));
    }
    if args.bagit {
        for n in [bagit::BAGIT_TXT, bagit::BAG_INFO_TXT, bagit::TAGMANIFEST] {
            names.push((n.to_string(), "bagit"));
        }
    }
    let unchanged = old_txt.as_deref() == Some(txt.as_bytes())
        && old_json.as_ref().is_some_and(|o| manifest.same_content(o))
        && names.iter().all(|(n, _)| t.dir.join(n).is_file());
    if unchanged {
        let mut out = Vec::new();
        for (name, kind) in names {
            let bytes = std::fs::read(t.dir.join(&name))
                .with_context(|| format!("reading {}", t.dir.join(&name).display()))?;
            out.push(Written {
                bytes: bytes.len() as u64,
                sha256: archive_core::hash::sha256_hex(&bytes),
                name,
                kind,
                changed: false,
            });
        }
        return Ok(out);
    }
    if let Some(o) = &old_json {
        if manifest.same_content(o) {
            manifest.created_at = o.created_at.clone();
        }
    }

    let json_text = manifest.to_pretty();
    let mut files: Vec<(String, &'static str, Vec<u8>)> = vec![
        (sha_name.clone(), "sha256", txt.into_bytes()),
        (json_name.clone(), "json", json_text.into_bytes()),
    ];
    if let Some(s) = signer {
        let sig_txt = s.sign(&sha_name, &files[0].2)?;
        let sig_json = s.sign(&json_name, &files[1].2)?;
        files.push((format!("{sha_name}{}", s.suffix()), "signature", sig_txt));
        files.push((format!("{json_name}{}", s.suffix()), "signature", sig_json));
    }
    if args.bagit {
        let bag_name = t
            .dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "bag".into());
        let external = args.external_identifier.clone().unwrap_or(bag_name);
        let date = now.format("%Y-%m-%d").to_string();
        let info = bagit::bag_info_txt(&bagit::BagInfo {
            payload_bytes: manifest.totals.bytes,
            payload_files: manifest.totals.files,
            bagging_date: &date,
            external_identifier: &external,
            period: period.as_deref(),
        });
        files.push((
            bagit::BAGIT_TXT.into(),
            "bagit",
            bagit::bagit_txt().into_bytes(),
        ));
        files.push((bagit::BAG_INFO_TXT.into(), "bagit", info.into_bytes()));
        let tags: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(n, _, b)| (n.clone(), b.clone()))
            .collect();
        files.push((
            bagit::TAGMANIFEST.into(),
            "bagit",
            bagit::tagmanifest(&tags).into_bytes(),
        ));
    }
    let mut out = Vec::new();
    for (name, kind, bytes) in files {
        if !args.dry_run {
            archive_core::atomic::write_file(t.dir.join(&name), &bytes)?;
        }
        out.push(Written {
            bytes: bytes.len() as u64,
            sha256: archive_core::hash::sha256_hex(&bytes),
            name,
            kind,
            changed: true,
        });
    }
    Ok(out)
}

fn common_str(entries: &[FileEntry], field: &str) -> Option<String> {
    let mut found: Option<&str> = None;
    for e in entries {
        let v = e.extra.get(field)?.as_str()?;
        match found {
            None => found = Some(v),
            Some(p) if p == v => {}
            Some(_) => return None,
        }
    }
    found.map(str::to_string)
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

/// The file line printed for a walked file (`--root`).
fn walk_line(t: &Target, e: &FileEntry) -> Value {
    let mut m = Map::new();
    m.insert("root".into(), json!(t.root_str));
    m.insert("path".into(), json!(e.path));
    m.insert("bytes".into(), json!(e.bytes));
    m.insert("sha256".into(), json!(e.sha256));
    if let Some(v) = &e.table {
        m.insert("table".into(), json!(v));
    }
    if let Some(v) = e.records {
        m.insert("records".into(), json!(v));
    }
    for (k, v) in &e.extra {
        m.entry(k.clone()).or_insert(v.clone());
    }
    Value::Object(m)
}
