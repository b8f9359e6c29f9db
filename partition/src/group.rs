//! One group (one output file, or its rotated parts): merge the records of
//! this run with those already on disk, keep one copy per record id (the
//! newest by version, then the last to arrive), order them deterministically
//! and render the files. A file whose new content equals what is on disk is
//! reported unchanged and not rewritten, so re-runs are byte-identical.

use crate::config::{Config, Format};
use crate::dirs::DirMemo;
use crate::existing::{self, ExistingFile};
use crate::render::{self, Wrapper};
use crate::route::Extractor;
use crate::spill::RecRef;
use anyhow::Result;
use archive_core::hash::sha256_hex;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

/// One file of the group, ready to be written (or left alone).
pub struct FileOut {
    pub rel: String,
    /// New bytes to write; None when the file on disk already has them.
    pub write: Option<Vec<u8>>,
    pub bytes: u64,
    pub sha256: String,
    pub records: usize,
    pub min_time: Option<f64>,
    pub max_time: Option<f64>,
}

pub struct GroupOut {
    pub files: Vec<FileOut>,
    /// Rotated parts on disk that the merged group no longer needs.
    pub stale: Vec<PathBuf>,
    pub date: Option<String>,
    pub records: usize,
    pub messages: u64,
    pub duplicates: u64,
}

pub struct GroupCtx<'a> {
    pub cfg: &'a Config,
    pub ex: &'a Extractor,
    /// Which directories predate the run.
    pub dirs: &'a DirMemo,
    /// This run's backup_timestamp, as JSON text.
    pub now_json: String,
}

struct Item<'a> {
    raw: &'a [u8],
    time: Option<f64>,
    id: Option<String>,
    version: Option<f64>,
    messages: u32,
}

/// Does a copy with version `new` replace one with version `old`? The
/// newest wins; on a tie (or no versions) the later arrival wins.
fn replaces(new: Option<f64>, old: Option<f64>) -> bool {
    match (new, old) {
        (Some(a), Some(b)) => a >= b,
        (Some(_), None) | (None, None) => true,
        (None, Some(_)) => false,
    }
}

fn order(a: &Item<'_>, b: &Item<'_>) -> Ordering {
    let t = |i: &Item<'_>| i.time.unwrap_or(f64::NEG_INFINITY);
    t(a).total_cmp(&t(b))
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| a.raw.cmp(b.raw))
}

/// Merge and render one group. `rel` is its path before rotation and
/// compression suffixes; `records` are this run's records for it, in
/// arrival order.
pub fn process(
    ctx: &GroupCtx<'_>,
    rel: &str,
    user: Option<&str>,
    records: &[RecRef<'_>],
) -> Result<GroupOut> {
    let cfg = ctx.cfg;
    let final_rel = match cfg.compress {
        Some(c) => format!("{rel}{}", c.extension()),
        None => rel.to_owned(),
    };
    let on_disk: Vec<ExistingFile> = if cfg.rotate_size.is_some() {
        existing::load_parts(ctx.dirs, &cfg.out, &final_rel)?
    } else {
        existing::load(ctx.dirs, &cfg.out, &final_rel)?
            .into_iter()
            .collect()
    };
    let mut parsed = Vec::with_capacity(on_disk.len());
    for f in &on_disk {
        parsed.push(existing::parse(f, cfg.format)?);
    }

    let mut dates = BTreeSet::new();
    let mut arrivals: Vec<Item<'_>> = Vec::new();
    for p in &parsed {
        for raw in &p.records {
            let m = ctx.ex.loose(raw);
            if let Some(d) = m.time.and_then(|t| ctx.ex.day_of(t)) {
                dates.insert(d.to_string());
            }
            arrivals.push(Item {
                raw,
                time: m.time,
                id: m.id,
                version: m.version,
                messages: m.messages,
            });
        }
    }
    for r in records {
        dates.insert(r.date.to_owned());
        arrivals.push(Item {
            raw: r.raw,
            time: Some(r.time),
            id: r.id.map(str::to_owned),
            version: r.version,
            messages: r.messages,
        });
    }

    let mut index: HashMap<String, usize> = HashMap::with_capacity(arrivals.len());
    let mut kept: Vec<Item<'_>> = Vec::with_capacity(arrivals.len());
    let mut duplicates = 0;
    for it in arrivals {
        let key = match &it.id {
            Some(id) => format!("i{id}"),
            None => format!("h{}", sha256_hex(it.raw)),
        };
        match index.get(&key) {
            Some(&j) => {
                duplicates += 1;
                if replaces(it.version, kept[j].version) {
                    kept[j] = it;
                }
            }
            None => {
                index.insert(key, kept.len());
                kept.push(it);
            }
        }
    }
    drop(index);
    kept.sort_by(order);

    let date = (dates.len() == 1).then(|| dates.iter().next().unwrap().clone());
    let parts = split_parts(&kept, cfg.rotate_size, cfg.format);
    let mut files = Vec::with_capacity(parts.len());
    let mut new_rels = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let part_rel = if cfg.rotate_size.is_some() {
            render::part_name(&final_rel, i + 1)
        } else {
            final_rel.clone()
        };
        let old = on_disk.iter().zip(&parsed).find(|(f, _)| f.rel == part_rel);
        let raws: Vec<&[u8]> = part.iter().map(|it| it.raw).collect();
        let mut wrapper = Wrapper {
            date: date.as_deref(),
            user,
            list_key: cfg.wrapper_names.0,
            count_key: cfg.wrapper_names.1,
            backup_timestamp: &ctx.now_json,
            source: &cfg.source,
        };
        let mut unchanged = None;
        if let Some((f, p)) = old {
            if cfg.format == Format::Json {
                if let Some(ts) = &p.backup_timestamp {
                    wrapper.backup_timestamp = ts;
                }
            }
            if render::content(cfg.format, &wrapper, &raws) == f.content {
                unchanged = Some(f);
            }
            wrapper.backup_timestamp = &ctx.now_json;
        }
        let times = part.iter().filter_map(|it| it.time);
        let min_time = times.clone().reduce(f64::min);
        let max_time = times.reduce(f64::max);
        let file = match unchanged {
            Some(f) => FileOut {
                rel: part_rel.clone(),
                write: None,
                bytes: f.disk.len() as u64,
                sha256: sha256_hex(&f.disk),
                records: part.len(),
                min_time,
                max_time,
            },
            None => {
                let disk =
                    render::compress(cfg.compress, render::content(cfg.format, &wrapper, &raws))?;
                FileOut {
                    rel: part_rel.clone(),
                    bytes: disk.len() as u64,
                    sha256: sha256_hex(&disk),
                    write: Some(disk),
                    records: part.len(),
                    min_time,
                    max_time,
                }
            }
        };
        new_rels.push(part_rel);
        files.push(file);
    }
    let stale = on_disk
        .iter()
        .filter(|f| !new_rels.contains(&f.rel))
        .map(|f| f.path.clone())
        .collect();
    Ok(GroupOut {
        files,
        stale,
        date,
        records: kept.len(),
        messages: kept.iter().map(|i| u64::from(i.messages)).sum(),
        duplicates,
    })
}

/// Cut the ordered records into parts of at most `limit` bytes each
/// (uncompressed; a part holds at least one record).
fn split_parts<'b, 'a>(
    items: &'b [Item<'a>],
    limit: Option<u64>,
    format: Format,
) -> Vec<&'b [Item<'a>]> {
    let Some(limit) = limit else {
        return vec![items];
    };
    // The wrapper of a json file costs about this much besides the records.
    let overhead: u64 = if format == Format::Json { 256 } else { 0 };
    let mut parts = Vec::new();
    let (mut start, mut size) = (0, overhead);
    for (i, it) in items.iter().enumerate() {
        let n = it.raw.len() as u64 + 1;
        if i > start && size + n > limit {
            parts.push(&items[start..i]);
            start = i;
            size = overhead;
        }
        size += n;
    }
    if start < items.len() || parts.is_empty() {
        parts.push(&items[start..]);
    }
    parts
}
