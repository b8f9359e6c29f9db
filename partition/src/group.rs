//! One group (one output file, or its rotated parts): merge the records of
//! this run with those already on disk, keep one copy per record id (the
//! newest by version, then the last to arrive), order them deterministically
//! and render the files. A file whose new content equals what is on disk is
//! reported unchanged and not rewritten, so re-runs are byte-identical.

use crate::dirs::DirMemo;
use crate::existing::{self, ExistingFile, Parsed};
use crate::extract::Extractor;
use crate::model::{Config, Format};
use crate::render::{self, Wrapper};
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
    /// Which directories predate the run (and which are links).
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
    /// The first and last time the record covers, when not just `time`
    /// (an assembled conversation: its messages of this file).
    span: Option<(f64, f64)>,
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
/// arrival order. Fails (and writes nothing) when its path holds a link or
/// its existing file cannot be read.
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
    let mut on_disk = load_on_disk(ctx, &final_rel)?;
    // A user whose directory had the former `~` mark: that file is merged
    // here, and removed as stale once the new one is written.
    let former = user.zip(records.first()).and_then(|(u, r)| {
        let date = chrono::NaiveDate::parse_from_str(r.date, "%Y-%m-%d").ok()?;
        render::former_path_for(&cfg.template, u, date)
    });
    if let Some(f) = former {
        let ext = cfg.compress.map_or("", |c| c.extension());
        on_disk.extend(load_on_disk(ctx, &format!("{f}{ext}"))?);
    }
    let parsed = on_disk
        .iter()
        .map(|f| existing::parse(f, cfg.format, &cfg.metadata.timestamp_key))
        .collect::<Result<Vec<_>>>()?;
    let mut dates = BTreeSet::new();
    let assembled;
    let (mut kept, duplicates) = if cfg.assemble {
        dates.extend(records.iter().map(|r| r.date.to_owned()));
        let on_disk: Vec<&[u8]> = parsed
            .iter()
            .flat_map(|p| p.records.iter().copied())
            .collect();
        let events: Vec<&[u8]> = records.iter().map(|r| r.raw).collect();
        let (convs, duplicates) = crate::assemble::conversations(&on_disk, &events)?;
        assembled = convs;
        (
            assembled.iter().map(item_of_conversation).collect(),
            duplicates,
        )
    } else {
        let arrivals = arrivals(ctx.ex, &parsed, records, &mut dates);
        one_copy_each(arrivals, cfg.keep_first)
    };
    kept.sort_by(order);

    let date = (dates.len() == 1).then(|| dates.iter().next().unwrap().clone());
    let parts = split_parts(&kept, cfg.rotate_size, cfg.format);
    let mut files = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let part_rel = if cfg.rotate_size.is_some() {
            render::rotated_name(&final_rel, i + 1, cfg.first_part_bare)
        } else {
            final_rel.clone()
        };
        let old = on_disk.iter().zip(&parsed).find(|(f, _)| f.rel == part_rel);
        let wrapper = Wrapper {
            date: date.as_deref(),
            user,
            list_key: cfg.wrapper_names.0,
            count_key: cfg.wrapper_names.1,
            backup_timestamp: &ctx.now_json,
            metadata: &cfg.metadata,
        };
        files.push(render_part(cfg, part_rel, part, wrapper, old)?);
    }
    let stale = on_disk
        .iter()
        .filter(|f| !files.iter().any(|n| n.rel == f.rel))
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

fn item_of_conversation(c: &crate::assemble::Assembled) -> Item<'_> {
    Item {
        raw: &c.raw,
        time: c.created_at,
        id: Some(c.id.clone()),
        version: None,
        messages: c.messages,
        span: c.span,
    }
}

/// The group's file (or rotated parts) that earlier runs left.
fn load_on_disk(ctx: &GroupCtx<'_>, final_rel: &str) -> Result<Vec<ExistingFile>> {
    if ctx.cfg.rotate_size.is_some() {
        existing::load_parts(ctx.dirs, &ctx.cfg.out, final_rel, ctx.cfg.first_part_bare)
    } else {
        Ok(existing::load(ctx.dirs, &ctx.cfg.out, final_rel)?
            .into_iter()
            .collect())
    }
}

/// Records on disk first (they arrived earlier), then this run's, with the
/// days they fall on.
fn arrivals<'a>(
    ex: &Extractor,
    parsed: &'a [Parsed<'a>],
    records: &[RecRef<'a>],
    dates: &mut BTreeSet<String>,
) -> Vec<Item<'a>> {
    let mut items = Vec::with_capacity(records.len());
    for raw in parsed.iter().flat_map(|p| &p.records) {
        let m = ex.loose(raw);
        if let Some(d) = m.time.and_then(|t| ex.day_of(t)) {
            dates.insert(d.to_string());
        }
        items.push(Item {
            raw,
            time: m.time,
            id: m.id,
            version: m.version,
            messages: m.messages,
            span: None,
        });
    }
    for r in records {
        dates.insert(r.date.to_owned());
        items.push(Item {
            raw: r.raw,
            time: Some(r.time),
            id: r.id.map(str::to_owned),
            version: r.version,
            messages: r.messages,
            span: None,
        });
    }
    items
}

/// One copy per record id (records without one: per exact bytes), and how
/// many copies were dropped; `keep_first`: the first copy stays whatever
/// its version.
fn one_copy_each(arrivals: Vec<Item<'_>>, keep_first: bool) -> (Vec<Item<'_>>, u64) {
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
                if !keep_first && replaces(it.version, kept[j].version) {
                    kept[j] = it;
                }
            }
            None => {
                index.insert(key, kept.len());
                kept.push(it);
            }
        }
    }
    (kept, duplicates)
}

/// Render one file of the group; unchanged (nothing to write) when the file
/// on disk already has these records, under its own backup_timestamp.
fn render_part<'w>(
    cfg: &Config,
    part_rel: String,
    part: &[Item<'_>],
    mut wrapper: Wrapper<'w>,
    old: Option<(&'w ExistingFile, &'w Parsed<'w>)>,
) -> Result<FileOut> {
    let raws: Vec<&[u8]> = part.iter().map(|it| it.raw).collect();
    let spans = part
        .iter()
        .filter_map(|it| it.span.or(it.time.map(|t| (t, t))));
    let min_time = spans.clone().map(|s| s.0).reduce(f64::min);
    let max_time = spans.map(|s| s.1).reduce(f64::max);
    if let Some((f, p)) = old {
        let now = wrapper.backup_timestamp;
        if cfg.format == Format::Json {
            if let Some(ts) = &p.backup_timestamp {
                wrapper.backup_timestamp = ts;
            }
        }
        if render::content(cfg.format, &wrapper, &raws) == f.content {
            return Ok(FileOut {
                rel: part_rel,
                write: None,
                bytes: f.disk.len() as u64,
                sha256: sha256_hex(&f.disk),
                records: part.len(),
                min_time,
                max_time,
            });
        }
        wrapper.backup_timestamp = now;
    }
    let disk = render::compress(cfg.compress, render::content(cfg.format, &wrapper, &raws))?;
    Ok(FileOut {
        rel: part_rel,
        bytes: disk.len() as u64,
        sha256: sha256_hex(&disk),
        write: Some(disk),
        records: part.len(),
        min_time,
        max_time,
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
