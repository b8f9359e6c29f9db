//! Writing a target's manifests: both are streamed into their atomic files
//! through archive-core's `HashingWriter`, so no manifest is ever held in
//! memory whole, and they are committed only after every file (signatures,
//! BagIt tag files) is ready: the text manifest first, so a crash between
//! the two leaves files only in the text manifest, which a rerun keeps.

use crate::json_manifest::{self, Header, SumFileRef, ToolInfo};
use crate::model::{
    entries, hex, parse_digest, Digest, Entry, Item, JsonFormat, Target, WriteConfig, Written,
};
use crate::sign::Signer;
use crate::tree::manifest_names;
use crate::{bagit, sha256sum};
use anyhow::{Context, Result};
use archive_core::atomic::AtomicFile;
use archive_core::hash::HashingWriter;
use archive_core::Failure;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::Path;

/// The previous manifests of a target, as far as the unchanged check needs.
pub struct Previous<'a> {
    pub header: Option<&'a Header>,
    pub txt_sha: Option<Digest>,
    /// Every entry equals the previous one.
    pub same_entries: bool,
}

/// What a target's manifests are written from.
pub struct Job<'a> {
    pub target: &'a Target,
    pub items: &'a [Item],
    pub cfg: &'a WriteConfig,
    pub signer: Option<&'a Signer>,
    pub now: DateTime<Utc>,
}

/// Write (or keep, when nothing changed) a target's manifests.
pub fn write_target(job: &Job, previous: Previous) -> Result<Vec<Written>> {
    let t = job.target;
    let group_name = t
        .group
        .as_deref()
        .map(archive_core::naming::sanitize_segment);
    let (sha_name, json_name) = manifest_names(group_name.as_deref());
    // The JSON companion is named in the text manifest, except in a bag,
    // whose tag manifest lists it (and whose payload manifest stays plain).
    let companion = (!job.cfg.bagit).then_some(json_name.as_str());
    // The text manifest's digest goes into the JSON header: one pass that
    // only hashes, so the text is never held.
    let mut hashing = HashingWriter::new(io::sink());
    render_sums(&mut hashing, companion, job.items).context("hashing the sha256sum manifest")?;
    let txt_sha = parse_digest(&hashing.finish().2).expect("a hex digest");
    let mut header = header(job, &sha_name, &txt_sha)?;
    let names = file_names(job, &sha_name, &json_name);
    let same_json =
        previous.same_entries && previous.header.is_some_and(|old| header.same_content(old));
    if same_json
        && previous.txt_sha == Some(txt_sha)
        && names.iter().all(|(n, _)| t.dir.join(n).is_file())
    {
        return kept(&t.dir, names);
    }
    if same_json {
        if let Some(old) = previous.header {
            header.created_at = old.created_at.clone();
        }
    }
    let signing = job.signer.is_some();
    let mut txt = Output::create(&t.dir.join(&sha_name), job.cfg.dry_run, signing)?;
    render_sums(&mut txt.writer, companion, job.items)
        .with_context(|| format!("writing {}", t.dir.join(&sha_name).display()))?;
    let mut txt = txt.finish()?;
    let mut json = Output::create(&t.dir.join(&json_name), job.cfg.dry_run, signing)?;
    json_manifest::write(&mut json.writer, &header, entries(job.items))
        .with_context(|| format!("writing {}", t.dir.join(&json_name).display()))?;
    let mut json = json.finish()?;
    let small = small_files(job, &header, (&sha_name, &mut txt), (&json_name, &mut json))?;
    let mut out = vec![
        txt.written(sha_name, "sha256"),
        json.written(json_name, "json"),
    ];
    txt.commit()?;
    json.commit()?;
    for (name, kind, bytes) in small {
        if !job.cfg.dry_run {
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

/// The text manifest: the companion line, then one line per entry.
fn render_sums(w: &mut impl Write, companion: Option<&str>, items: &[Item]) -> io::Result<()> {
    if let Some(name) = companion {
        sha256sum::write_companion(w, name)?;
    }
    for (path, e) in entries(items) {
        sha256sum::write_line(w, path, &e.sha256)?;
    }
    Ok(())
}

/// The manifest.json header of a target.
fn header(job: &Job, sha_name: &str, txt_sha: &Digest) -> Result<Header> {
    let (cfg, t) = (job.cfg, job.target);
    let all = || entries(job.items).map(|(_, e)| e);
    let common = json_manifest::common_values(all(), &["period", "schema_version"]);
    let schema_version = cfg
        .schema_version
        .clone()
        .map(Value::String)
        .or_else(|| common[1].clone());
    let period = period(cfg, t, &common[0]);
    let spec = cfg.json_format == JsonFormat::BillingSpec;
    let archive_version = if spec {
        check_spec(job, &period, &schema_version)?;
        Value::from(json_manifest::BILLING_SPEC_VERSION)
    } else {
        Value::from(json_manifest::ARCHIVE_VERSION)
    };
    Ok(Header {
        archive_version,
        format: cfg.json_format,
        created_at: job.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        tool: ToolInfo {
            name: "manifest".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        period,
        group_by: cfg.group_by.clone(),
        group: t.group.clone(),
        // The specification's schema_version is a string, whatever the
        // producers' lines carried.
        schema_version: match schema_version {
            Some(Value::Number(n)) if spec => Some(Value::String(n.to_string())),
            v => v,
        },
        retention_years: cfg.retention_years,
        compliance: cfg.compliance.clone(),
        bagit: cfg.bagit,
        sha256_manifest: SumFileRef {
            path: sha_name.to_string(),
            sha256: hex(txt_sha),
        },
        totals: json_manifest::totals(all()),
    })
}

/// What the billing specification requires and only the input can give:
/// a period, a schema version, and a table and a record count for every
/// file. Checked before anything is written (exit 2 for what a flag
/// supplies, 3 for what a file line lacks).
fn check_spec(job: &Job, period: &Option<String>, schema: &Option<Value>) -> Result<()> {
    let dir = job.target.dir.display();
    if period.is_none() {
        return Err(Failure::usage(format!(
            "{dir}: --json-format billing-spec needs a period: pass --period YYYY-MM (the files do not agree on one)"
        )));
    }
    match schema {
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(Value::Number(_)) => {}
        _ => {
            return Err(Failure::usage(format!(
                "{dir}: --json-format billing-spec needs a schema version: pass --schema-version V \
                 (the files do not agree on one)"
            )))
        }
    }
    for (path, e) in entries(job.items) {
        let m = e.meta();
        if m.table.is_none() || m.records.is_none() {
            return Err(Failure::data(format!(
                "{dir}/{path}: no table or records for the billing-spec manifest \
                 (its file line must carry \"table\" and \"records\"); nothing written"
            )));
        }
    }
    Ok(())
}

/// `--period`, else the group with `--group-by period`, else the value
/// every file agrees on.
fn period(cfg: &WriteConfig, t: &Target, common: &Option<Value>) -> Option<String> {
    cfg.period
        .clone()
        .or_else(|| {
            (cfg.group_by.as_deref() == Some("period"))
                .then(|| t.group.clone())
                .flatten()
        })
        .or_else(|| match common {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        })
}

/// Every file this target's manifests consist of, with its kind.
fn file_names(job: &Job, sha_name: &str, json_name: &str) -> Vec<(String, &'static str)> {
    let mut names = vec![
        (sha_name.to_string(), "sha256"),
        (json_name.to_string(), "json"),
    ];
    if let Some(s) = job.signer {
        names.push((format!("{sha_name}{}", s.suffix()), "signature"));
        names.push((format!("{json_name}{}", s.suffix()), "signature"));
    }
    if job.cfg.bagit {
        for n in [bagit::BAGIT_TXT, bagit::BAG_INFO_TXT, bagit::TAGMANIFEST] {
            names.push((n.to_string(), "bagit"));
        }
    }
    names
}

/// Unchanged since the last run: every file is kept as it is, so a daily
/// `ship --update` does not rewrite them.
fn kept(dir: &Path, names: Vec<(String, &'static str)>) -> Result<Vec<Written>> {
    let mut out = Vec::with_capacity(names.len());
    for (name, kind) in names {
        let d = crate::hashing::hash_file(&dir.join(&name))?;
        out.push(Written {
            bytes: d.bytes,
            sha256: d.sha256,
            name,
            kind,
            changed: false,
        });
    }
    Ok(out)
}

/// Small files, held in memory: signatures and BagIt tag files.
fn small_files(
    job: &Job,
    header: &Header,
    (sha_name, txt): (&str, &mut Finished),
    (json_name, json): (&str, &mut Finished),
) -> Result<Vec<(String, &'static str, Vec<u8>)>> {
    let mut small: Vec<(String, &'static str, Vec<u8>)> = Vec::new();
    if let Some(s) = job.signer {
        let sig_txt = s.sign(sha_name, txt.reader()?)?;
        let sig_json = s.sign(json_name, json.reader()?)?;
        small.push((format!("{sha_name}{}", s.suffix()), "signature", sig_txt));
        small.push((format!("{json_name}{}", s.suffix()), "signature", sig_json));
    }
    if !job.cfg.bagit {
        return Ok(small);
    }
    let t = job.target;
    let bag_name = t
        .dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "bag".into());
    let external = job.cfg.external_identifier.clone().unwrap_or(bag_name);
    let date = job.now.format("%Y-%m-%d").to_string();
    let info = bagit::bag_info_txt(&bagit::BagInfo {
        payload_bytes: header.totals.bytes,
        payload_files: header.totals.files,
        bagging_date: &date,
        external_identifier: &external,
        period: header.period.as_deref(),
    });
    small.push((
        bagit::BAGIT_TXT.into(),
        "bagit",
        bagit::bagit_txt().into_bytes(),
    ));
    small.push((bagit::BAG_INFO_TXT.into(), "bagit", info.into_bytes()));
    let mut tags: Vec<(String, String)> = vec![
        (sha_name.to_string(), txt.sha256.clone()),
        (json_name.to_string(), json.sha256.clone()),
    ];
    tags.extend(
        small
            .iter()
            .map(|(n, _, b)| (n.clone(), archive_core::hash::sha256_hex(b))),
    );
    small.push((
        bagit::TAGMANIFEST.into(),
        "bagit",
        bagit::tagmanifest(&tags).into_bytes(),
    ));
    Ok(small)
}

/// Where a manifest's bytes go: the atomic file (unless a dry run) and an
/// anonymous spool (when it is to be signed, since the atomic file cannot
/// be read back before its commit).
struct Sinks {
    atomic: Option<AtomicFile>,
    spool: Option<File>,
}

impl Write for Sinks {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(a) = &mut self.atomic {
            a.write_all(buf)?;
        }
        if let Some(s) = &mut self.spool {
            s.write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A manifest file being written.
struct Output {
    writer: BufWriter<HashingWriter<Sinks>>,
    dest: String,
}

/// A manifest file written but not yet committed.
struct Finished {
    bytes: u64,
    sha256: String,
    sinks: Sinks,
}

impl Output {
    fn create(dest: &Path, dry_run: bool, signing: bool) -> Result<Output> {
        let atomic = if dry_run {
            None
        } else {
            Some(AtomicFile::create(dest)?)
        };
        let spool = if signing {
            Some(tempfile::tempfile().context("creating a temporary file to sign from")?)
        } else {
            None
        };
        let sinks = HashingWriter::new(Sinks { atomic, spool });
        Ok(Output {
            writer: BufWriter::with_capacity(256 * 1024, sinks),
            dest: dest.display().to_string(),
        })
    }

    fn finish(self) -> Result<Finished> {
        let dest = self.dest;
        let hashing = self
            .writer
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {dest}"))?;
        let (sinks, bytes, sha256) = hashing.finish();
        Ok(Finished {
            bytes,
            sha256,
            sinks,
        })
    }
}

impl Finished {
    /// The content again, from the start, for signing.
    fn reader(&mut self) -> Result<&mut File> {
        let spool = self
            .sinks
            .spool
            .as_mut()
            .context("no copy of the manifest kept for signing")?;
        spool
            .rewind()
            .context("reading back the manifest to sign it")?;
        Ok(spool)
    }

    fn written(&self, name: String, kind: &'static str) -> Written {
        Written {
            name,
            kind,
            bytes: self.bytes,
            sha256: self.sha256.clone(),
            changed: true,
        }
    }

    fn commit(self) -> Result<()> {
        match self.sinks.atomic {
            Some(a) => a.commit(),
            None => Ok(()),
        }
    }
}

/// Entries of a finished target, for callers that count them.
pub fn totals(items: &[Item]) -> (u64, u64) {
    entries(items).fold((0, 0), |(n, b), (_, e): (&str, &Entry)| {
        (n + 1, b + e.bytes)
    })
}
