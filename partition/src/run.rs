//! The run: route every input line into the spiller (or the quarantine),
//! then merge group by group, write, and report.

use crate::commit::Committer;
use crate::config::Config;
use crate::dirs::DirMemo;
use crate::group::{self, GroupCtx};
use crate::input::{InputFile, Lines};
use crate::progress::Progress;
use crate::quarantine::Quarantine;
use crate::route::{rfc3339, Extractor};
use crate::routing::{LineNumbers, Routed, Router, Totals, QUARANTINE_KEY};
use crate::spill::{decode, RecRef, Spiller};
use crate::summary::{self, Day, UserStat};
use crate::{render, Args};
use anyhow::{Context, Result};
use archive_core::{Failure, FileLine, Outcome};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fs;
use std::time::Instant;

/// What `--summary FILE` receives (and the stderr summary line says).
#[derive(Debug, Default, Serialize)]
struct RunSummary {
    tool: &'static str,
    input: String,
    out: String,
    dry_run: bool,
    lines: u64,
    bytes_read: u64,
    records: u64,
    quarantined: u64,
    duplicates_dropped: u64,
    groups: u64,
    groups_failed: u64,
    files: u64,
    files_changed: u64,
    files_unchanged: u64,
    files_removed: u64,
    bytes_written: u64,
    spill_runs: u64,
    spilled_bytes: u64,
    seconds: f64,
    exit_code: i32,
}

pub fn run(args: Args) -> Result<Outcome> {
    let cfg = Config::from_args(args)?;
    let started = Instant::now();
    let now_json = serde_json::to_string(
        &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )?;
    if cfg.dry_run {
        if cfg.out.exists() && !cfg.out.is_dir() {
            return Err(Failure::usage(format!(
                "--out {}: not a directory",
                cfg.out.display()
            )));
        }
    } else {
        fs::create_dir_all(&cfg.out)
            .with_context(|| format!("creating {}", cfg.out.display()))
            .map_err(|e| Failure::usage(format!("{e:#}")))?;
    }
    let ex = Extractor::new(
        cfg.user.clone(),
        cfg.time.clone(),
        cfg.id.clone(),
        cfg.version.clone(),
        cfg.daily_summaries,
        cfg.time_unit,
        cfg.tz,
    );
    let source = archive_core::io::input_name(cfg.input.as_deref());
    // --hash-only rewrites the records, so their new bytes are what is kept.
    let input_file = if cfg.hash_only.is_empty() {
        InputFile::open(cfg.input.as_deref())?
    } else {
        None
    };
    let spill_base = match (&cfg.spill_dir, cfg.dry_run) {
        (Some(d), _) => d.clone(),
        (None, true) => std::env::temp_dir(),
        (None, false) => cfg.out.clone(),
    };
    let pid = std::process::id();
    let spiller = |chunk: usize, chunks: usize| {
        Spiller::new(
            spill_base.join(format!(".partition.tmp-{pid}-{chunk}")),
            cfg.max_open_files,
            (cfg.memory / 2) as usize / chunks,
        )
    };
    let mut quarantine = Quarantine::new(cfg.out.clone(), source.clone(), cfg.dry_run);
    let with_user = render::has_user(&cfg.template);
    let progress = Progress::new();
    let mut s = RunSummary {
        tool: "partition",
        input: source.clone(),
        out: cfg.root_label.clone(),
        dry_run: cfg.dry_run,
        ..RunSummary::default()
    };

    // Phase 1: route, in chunks side by side when the input is a file.
    let totals = Totals::default();
    let router = Router {
        cfg: &cfg,
        ex: &ex,
        source: &source,
        progress: &progress,
        totals: &totals,
    };
    let routed: Vec<Routed> = match &input_file {
        Some(file) => {
            let ranges = file.chunks(cfg.threads)?;
            let n = ranges.len();
            std::thread::scope(|scope| {
                let handles: Vec<_> = ranges
                    .into_iter()
                    .enumerate()
                    .map(|(i, range)| {
                        let (router, sp) = (&router, spiller(i, n));
                        scope.spawn(move || {
                            router.route(file.lines(range.clone()), i as u32, Some(range.start), sp)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("routing thread panicked"))
                    .collect::<Result<Vec<_>>>()
            })?
        }
        None => {
            let input = archive_core::io::open_input(cfg.input.as_deref())
                .map_err(|e| Failure::usage(format!("{e:#}")))?;
            vec![router.route(Lines::new(input), 0, None, spiller(0, 1))?]
        }
    };
    let lines = LineNumbers::new(routed.iter().map(|r| r.counts.line_count));
    let mut spillers = Vec::with_capacity(routed.len());
    for r in routed {
        s.lines += r.counts.lines;
        s.bytes_read += r.counts.bytes_read;
        s.records += r.counts.records;
        s.spill_runs += r.spiller.runs_written();
        s.spilled_bytes += r.spiller.spilled_bytes;
        spillers.push(r.spiller);
    }

    // Phase 2: merge group by group.
    let mut merge = Spiller::merge_all(spillers)?;
    let mut committer = Committer::new(cfg.out.clone(), cfg.dry_run, cfg.write_threads);
    let dirs = DirMemo::new(cfg.out.clone());
    let ctx = GroupCtx {
        cfg: &cfg,
        ex: &ex,
        dirs: &dirs,
        now_json: now_json.clone(),
    };
    let mut day: Option<Day> = None;
    let mut buf = Vec::new();
    while let Some(first) = merge.next_record()? {
        let key = decode(&first).key.to_vec();
        if key == QUARANTINE_KEY {
            // The rest of the stream: every line that could not be routed,
            // in line order.
            let mut next = Some(first);
            while let Some(body) = next {
                let bodies = [body];
                let rec = &records_of(&bodies, input_file.as_ref(), &mut buf)?[0];
                quarantine.add(lines.global(rec.line), rec.user, rec.raw)?;
                next = merge.next_record()?;
            }
            break;
        }
        let mut bodies = vec![first];
        while let Some(b) = merge.next_in_group(&key)? {
            bodies.push(b);
        }
        let recs = records_of(&bodies, input_file.as_ref(), &mut buf)?;
        let head = &recs[0];
        let user = head.user.to_owned();
        let rel = String::from_utf8_lossy(match key.iter().position(|&b| b == 0) {
            Some(i) => &key[i + 1..],
            None => &key,
        })
        .into_owned();
        if cfg.daily_summaries && day.as_ref().is_some_and(|d| d.date != head.date) {
            finish_day(
                &cfg,
                &dirs,
                &mut committer,
                day.take().unwrap(),
                &now_json,
                &mut s,
            )?;
        }
        if cfg.daily_summaries && day.is_none() {
            day = Some(Day {
                date: head.date.to_owned(),
                users: BTreeMap::new(),
            });
        }
        s.groups += 1;
        match group::process(&ctx, &rel, with_user.then_some(user.as_str()), &recs) {
            Ok(out) => {
                s.duplicates_dropped += out.duplicates;
                for f in out.files {
                    let changed = f.write.is_some();
                    if let Some(bytes) = f.write {
                        s.bytes_written += bytes.len() as u64;
                        committer.stage(&dirs, &cfg.out.join(&f.rel), bytes)?;
                    }
                    let mut extra = Map::new();
                    extra.insert("records".into(), json!(f.records));
                    if with_user {
                        extra.insert("user_id".into(), json!(user));
                    }
                    if let Some(d) = &out.date {
                        extra.insert("date".into(), json!(d));
                    }
                    if let Some(t) = f.min_time {
                        extra.insert("min_time".into(), json!(rfc3339(t)));
                    }
                    if let Some(t) = f.max_time {
                        extra.insert("max_time".into(), json!(rfc3339(t)));
                    }
                    extra.insert("kind".into(), json!("records"));
                    record_file(&mut s, changed);
                    committer.line(file_line(&cfg, &f.rel, f.bytes, &f.sha256, extra, changed));
                }
                for p in out.stale {
                    eprintln!(
                        "partition: removing {} (no longer needed after re-rotation)",
                        p.display()
                    );
                    committer.remove(p);
                }
                if let Some(d) = day.as_mut() {
                    d.users.insert(
                        user,
                        UserStat {
                            conversation_count: out.records as u64,
                            total_messages: out.messages,
                        },
                    );
                }
            }
            Err(e) => {
                s.groups_failed += 1;
                let reason = format!("not written: {}: {e:#}", rel);
                eprintln!("partition: {reason}");
                for r in &recs {
                    quarantine.add(lines.global(r.line), &reason, r.raw)?;
                }
            }
        }
        committer.maybe_flush()?;
        if s.groups.is_multiple_of(1024) {
            progress.writing(s.groups, s.files_changed);
        }
    }
    drop(merge);
    if let Some(d) = day.take() {
        finish_day(&cfg, &dirs, &mut committer, d, &now_json, &mut s)?;
    }
    s.quarantined = quarantine.count;
    if let Some(q) = quarantine.finish(&mut committer)? {
        let mut extra = Map::new();
        extra.insert("records".into(), json!(q.records));
        extra.insert("kind".into(), json!("quarantine"));
        record_file(&mut s, q.changed);
        if q.changed {
            s.bytes_written += q.bytes;
        }
        committer.line(file_line(
            &cfg, &q.rel, q.bytes, &q.sha256, extra, q.changed,
        ));
    }
    committer.finish()?;
    s.files_removed = committer.files_removed;
    progress.finish();

    let partial = s.quarantined > 0 || s.groups_failed > 0;
    s.exit_code = match (partial, cfg.strict) {
        (false, _) => 0,
        (true, false) => archive_core::exit::PARTIAL,
        (true, true) => archive_core::exit::DATA,
    };
    s.seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "partition: {} records from {} ({} quarantined, {} duplicates dropped) into {} files ({} changed, {} unchanged) under {} in {:.1}s{}",
        s.records,
        s.input,
        s.quarantined,
        s.duplicates_dropped,
        s.files,
        s.files_changed,
        s.files_unchanged,
        s.out,
        s.seconds,
        if cfg.dry_run { " (dry run: nothing written)" } else { "" }
    );
    if let Some(path) = &cfg.summary {
        let text = serde_json::to_string_pretty(&s)? + "\n";
        archive_core::atomic::write_file(path, text.as_bytes())
            .with_context(|| format!("writing summary {}", path.display()))?;
    }
    match s.exit_code {
        0 => Ok(Outcome::Complete),
        archive_core::exit::DATA => Err(Failure::data(format!(
            "{} lines quarantined under {}/_quarantine (--strict)",
            s.quarantined, s.out
        ))),
        _ => Ok(Outcome::Partial),
    }
}

/// Decode a group's records; those kept as references into the input
/// file are read into `buf` (after checking the file is unchanged).
fn records_of<'a>(
    bodies: &'a [Vec<u8>],
    file: Option<&InputFile>,
    buf: &'a mut Vec<u8>,
) -> Result<Vec<RecRef<'a>>> {
    let mut recs: Vec<RecRef<'a>> = bodies.iter().map(|b| decode(b)).collect();
    let Some(file) = file else {
        return Ok(recs);
    };
    buf.clear();
    let spans = recs
        .iter()
        .map(|r| file.read_record(r.raw, buf))
        .collect::<Result<Vec<_>>>()?;
    file.check_unchanged()?;
    let buf: &'a Vec<u8> = buf;
    for (r, span) in recs.iter_mut().zip(spans) {
        r.raw = &buf[span];
    }
    Ok(recs)
}

fn record_file(s: &mut RunSummary, changed: bool) {
    s.files += 1;
    if changed {
        s.files_changed += 1;
    } else {
        s.files_unchanged += 1;
    }
}

fn file_line(
    cfg: &Config,
    rel: &str,
    bytes: u64,
    sha256: &str,
    mut extra: Map<String, Value>,
    changed: bool,
) -> String {
    extra.insert("changed".into(), json!(changed));
    if cfg.dry_run {
        extra.insert("status".into(), json!("planned"));
    }
    FileLine {
        root: cfg.root_label.clone(),
        path: rel.to_owned(),
        bytes,
        sha256: sha256.to_owned(),
        extra,
    }
    .to_json()
}

fn finish_day(
    cfg: &Config,
    dirs: &DirMemo,
    committer: &mut Committer,
    day: Day,
    now_json: &str,
    s: &mut RunSummary,
) -> Result<()> {
    let date = day.date.clone();
    let out = summary::finish_day(dirs, &cfg.out, day, now_json)?;
    let changed = out.write.is_some();
    if let Some(bytes) = out.write {
        s.bytes_written += bytes.len() as u64;
        committer.stage(dirs, &cfg.out.join(&out.rel), bytes)?;
    }
    let mut extra = Map::new();
    extra.insert("records".into(), json!(out.total_conversations));
    extra.insert("date".into(), json!(date));
    extra.insert("kind".into(), json!("daily_summary"));
    record_file(s, changed);
    committer.line(file_line(
        cfg,
        &out.rel,
        out.bytes,
        &out.sha256,
        extra,
        changed,
    ));
    Ok(())
}
