//! Writing a target's manifests: both are streamed into their atomic files
//! while being hashed, so no manifest is ever held in memory whole, and
//! they are committed only after every file (signatures, BagIt tag files)
//! is ready.

use crate::build::Target;
use crate::json_manifest::{self, hex, Digest, Header, SumFileRef, ToolInfo};
use crate::plan::Item;
use crate::sign::Signer;
use crate::tree::manifest_names;
use crate::{bagit, sha256sum, WriteArgs};
use anyhow::{Context, Result};
use archive_core::atomic::AtomicFile;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::Path;

/// A manifest file as written (or as found unchanged).
pub struct Written {
    pub name: String,
    pub kind: &'static str,
    pub bytes: u64,
    pub sha256: String,
    pub changed: bool,
}

/// The previous manifests of a target, as far as the unchanged check needs.
pub struct Previous<'a> {
    pub header: Option<&'a Header>,
    pub txt_sha: Option<Digest>,
    /// Every entry equals the previous one.
    pub same_entries: bool,
}

pub fn write_target(
    t: &Target,
    items: &[Item],
    previous: Previous,
    args: &WriteArgs,
    signer: Option<&Signer>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Written>> {
    let group_name = t
        .group
        .as_deref()
        .map(archive_core::naming::sanitize_segment);
    let (sha_name, json_name) = manifest_names(group_name.as_deref());
    let entries = crate::plan::entries(items);
    let render_sums = |w: &mut dyn Write| -> io::Result<()> {
        let mut w = w;
        for (path, e) in entries.clone() {
            sha256sum::write_line(&mut w, path, &e.sha256)?;
        }
        Ok(())
    };
    // The text manifest's digest goes into the JSON header: one pass that
    // only hashes, so the text is never held.
    let mut hashing = Tee::new(None, None);
    render_sums(&mut hashing).context("hashing the sha256sum manifest")?;
    let txt_sha = hashing.finish().1;

    let common = json_manifest::common_values(
        entries.clone().map(|(_, e)| e),
        &["period", "schema_version"],
    );
    let period = args
        .period
        .clone()
        .or_else(|| {
            (args.group_by.as_deref() == Some("period"))
                .then(|| t.group.clone())
                .flatten()
        })
        .or_else(|| match &common[0] {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        });
    let schema_version = args
        .schema_version
        .clone()
        .map(Value::String)
        .or_else(|| common[1].clone());
    let mut header = Header {
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
            sha256: hex(&txt_sha),
        },
        totals: json_manifest::totals(entries.clone().map(|(_, e)| e)),
    };

    // Unchanged since the last run: keep every file as it is, so a daily
    // `ship --update` does not rewrite them.
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
    let same_json =
        previous.same_entries && previous.header.is_some_and(|old| header.same_content(old));
    if same_json
        && previous.txt_sha == Some(txt_sha)
        && names.iter().all(|(n, _)| t.dir.join(n).is_file())
    {
        let mut out = Vec::new();
        for (name, kind) in names {
            let d = crate::hashing::hash_file(&t.dir.join(&name))?;
            out.push(Written {
                bytes: d.bytes,
                sha256: d.sha256,
                name,
                kind,
                changed: false,
            });
        }
        return Ok(out);
    }
    if same_json {
        if let Some(old) = previous.header {
            header.created_at = old.created_at.clone();
        }
    }

    let signing = signer.is_some();
    let mut txt = Output::create(&t.dir.join(&sha_name), args.dry_run, signing)?;
    render_sums(&mut txt.writer)
        .with_context(|| format!("writing {}", t.dir.join(&sha_name).display()))?;
    let mut txt = txt.finish()?;
    let mut json = Output::create(&t.dir.join(&json_name), args.dry_run, signing)?;
    json_manifest::write(&mut json.writer, &header, entries)
        .with_context(|| format!("writing {}", t.dir.join(&json_name).display()))?;
    let mut json = json.finish()?;

    // Small files, held in memory: signatures and BagIt tag files.
    let mut small: Vec<(String, &'static str, Vec<u8>)> = Vec::new();
    if let Some(s) = signer {
        let sig_txt = s.sign(&sha_name, txt.reader()?)?;
        let sig_json = s.sign(&json_name, json.reader()?)?;
        small.push((format!("{sha_name}{}", s.suffix()), "signature", sig_txt));
        small.push((format!("{json_name}{}", s.suffix()), "signature", sig_json));
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
            payload_bytes: header.totals.bytes,
            payload_files: header.totals.files,
            bagging_date: &date,
            external_identifier: &external,
            period: period.as_deref(),
        });
        small.push((
            bagit::BAGIT_TXT.into(),
            "bagit",
            bagit::bagit_txt().into_bytes(),
        ));
        small.push((bagit::BAG_INFO_TXT.into(), "bagit", info.into_bytes()));
        let mut tags: Vec<(String, String)> = vec![
            (sha_name.clone(), hex(&txt.sha256)),
            (json_name.clone(), hex(&json.sha256)),
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
    }

    let mut out = vec![
        Written {
            name: sha_name,
            kind: "sha256",
            bytes: txt.bytes,
            sha256: hex(&txt.sha256),
            changed: true,
        },
        Written {
            name: json_name,
            kind: "json",
            bytes: json.bytes,
            sha256: hex(&json.sha256),
            changed: true,
        },
    ];
    txt.commit()?;
    json.commit()?;
    for (name, kind, bytes) in small {
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

/// Counts and hashes what passes through, and copies it to the atomic
/// file (unless a dry run) and to an anonymous spool (when it is to be
/// signed, since the atomic file cannot be read back before its commit).
struct Tee {
    atomic: Option<AtomicFile>,
    spool: Option<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Tee {
    fn new(atomic: Option<AtomicFile>, spool: Option<File>) -> Tee {
        Tee {
            atomic,
            spool,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (u64, Digest, Option<AtomicFile>, Option<File>) {
        (
            self.bytes,
            self.hasher.finalize().into(),
            self.atomic,
            self.spool,
        )
    }
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(a) = &mut self.atomic {
            a.write_all(buf)?;
        }
        if let Some(s) = &mut self.spool {
            s.write_all(buf)?;
        }
        self.hasher.update(buf);
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A manifest file being written.
struct Output {
    writer: BufWriter<Tee>,
    dest: String,
}

/// A manifest file written but not yet committed.
struct Finished {
    bytes: u64,
    sha256: Digest,
    atomic: Option<AtomicFile>,
    spool: Option<File>,
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
        Ok(Output {
            writer: BufWriter::with_capacity(256 * 1024, Tee::new(atomic, spool)),
            dest: dest.display().to_string(),
        })
    }

    fn finish(self) -> Result<Finished> {
        let dest = self.dest;
        let tee = self
            .writer
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {dest}"))?;
        let (bytes, sha256, atomic, spool) = tee.finish();
        Ok(Finished {
            bytes,
            sha256,
            atomic,
            spool,
        })
    }
}

impl Finished {
    /// The content again, from the start, for signing.
    fn reader(&mut self) -> Result<&mut File> {
        let spool = self
            .spool
            .as_mut()
            .context("no copy of the manifest kept for signing")?;
        spool
            .rewind()
            .context("reading back the manifest to sign it")?;
        Ok(spool)
    }

    fn commit(self) -> Result<()> {
        match self.atomic {
            Some(a) => a.commit(),
            None => Ok(()),
        }
    }
}
