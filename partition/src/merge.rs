//! Phase two: merge the spill runs group by group (groups in key order, a
//! group's records in arrival order), merge each group with what is on
//! disk, stage its files, finish each day's summary when the next day
//! starts, quarantine what could not be routed, and queue one file line per
//! file, printed once its batch is durable.
//!
//! A group that cannot be written (a link in its path, an existing file that
//! cannot be read) is named on stderr and counted, its records quarantined,
//! and the rest go on; so do a daily summary or the quarantine file that
//! cannot be written.

use crate::commit::Committer;
use crate::daily_summary::{self, Day, UserStat};
use crate::extract::rfc3339;
use crate::group::{self, GroupCtx, GroupOut};
use crate::input::InputFile;
use crate::model::{Config, Tally};
use crate::progress::Progress;
use crate::quarantine::{Quarantine, QuarantineFile};
use crate::render;
use crate::route::{LineNumbers, Routing, QUARANTINE_KEY};
use crate::spill::{decode, Merge, RecRef, Spiller};
use anyhow::Result;
use archive_core::FileLine;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Everything phase two writes through.
pub struct Writer<'a> {
    ctx: GroupCtx<'a>,
    committer: Committer,
    quarantine: Quarantine,
    /// The day whose summary statistics are being gathered (seed layout).
    day: Option<Day>,
    /// Does the layout give each user their own file?
    with_user: bool,
    progress: &'a Progress,
}

impl<'a> Writer<'a> {
    pub fn new(ctx: GroupCtx<'a>, source: &str, progress: &'a Progress) -> Writer<'a> {
        let cfg = ctx.cfg;
        Writer {
            committer: Committer::new(cfg.out.clone(), cfg.dry_run, cfg.write_threads),
            quarantine: Quarantine::new(
                cfg.out.clone(),
                source.to_owned(),
                cfg.dry_run,
                cfg.compress,
            ),
            day: None,
            with_user: render::has_user(&cfg.template),
            ctx,
            progress,
        }
    }

    /// Write every group of `routing`, then the last day's summary and the
    /// quarantine, and wait until all of it is durable and reported.
    pub fn write_all(
        mut self,
        routing: Routing,
        input: Option<&InputFile>,
        tally: &mut Tally,
    ) -> Result<()> {
        let mut merge = Spiller::merge_all(routing.spillers)?;
        let mut buf = Vec::new();
        while let Some(first) = merge.next_record()? {
            let key = decode(&first).key.to_vec();
            if key == QUARANTINE_KEY {
                self.quarantine_rest(first, &mut merge, input, &routing.lines, &mut buf)?;
                break;
            }
            let mut bodies = vec![first];
            while let Some(b) = merge.next_in_group(&key)? {
                bodies.push(b);
            }
            let recs = records_of(&bodies, input, &mut buf)?;
            self.group(&key, &recs, &routing.lines, tally)?;
            self.committer.maybe_flush()?;
            if tally.groups.is_multiple_of(1024) {
                self.progress.writing(tally.groups, tally.files_changed);
            }
        }
        drop(merge);
        if let Some(d) = self.day.take() {
            self.finish_day(d, tally)?;
        }
        tally.quarantined = self.quarantine.count;
        match self.quarantine.finish(&mut self.committer)? {
            Some(QuarantineFile::Written {
                rel,
                bytes,
                sha256,
                records,
                changed,
            }) => {
                let mut extra = Map::new();
                extra.insert("records".into(), json!(records));
                extra.insert("kind".into(), json!("quarantine"));
                tally.file(changed);
                if changed {
                    tally.bytes_written += bytes;
                }
                let line = file_line(self.ctx.cfg, &rel, bytes, &sha256, extra, changed);
                self.committer.line(line);
            }
            Some(QuarantineFile::Refused { rel, reason }) => {
                tally.files_failed += 1;
                eprintln!(
                    "partition: not written: {rel}: {reason}; the {} quarantined lines are named above only",
                    tally.quarantined
                );
            }
            None => {}
        }
        self.committer.finish()?;
        tally.files_removed = self.committer.files_removed;
        self.progress.finish();
        Ok(())
    }

    /// The rest of the merged stream: every line that could not be routed,
    /// in line order.
    fn quarantine_rest(
        &mut self,
        first: Vec<u8>,
        merge: &mut Merge,
        input: Option<&InputFile>,
        lines: &LineNumbers,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let mut next = Some(first);
        while let Some(body) = next {
            let bodies = [body];
            let rec = &records_of(&bodies, input, buf)?[0];
            self.quarantine
                .add(lines.global(rec.line), rec.user, rec.raw)?;
            next = merge.next_record()?;
        }
        Ok(())
    }

    /// Merge and stage one group; a group that cannot be written has its
    /// records quarantined with the reason.
    fn group(
        &mut self,
        key: &[u8],
        recs: &[RecRef<'_>],
        lines: &LineNumbers,
        tally: &mut Tally,
    ) -> Result<()> {
        let head = &recs[0];
        // The key is `date\0rel` for the seed layout, `rel` otherwise.
        let rel = String::from_utf8_lossy(match key.iter().position(|&b| b == 0) {
            Some(i) => &key[i + 1..],
            None => key,
        })
        .into_owned();
        if self.ctx.cfg.daily_summaries {
            self.start_day(head.date, tally)?;
        }
        tally.groups += 1;
        let user = self.with_user.then_some(head.user);
        match group::process(&self.ctx, &rel, user, recs) {
            Ok(out) => self.stage_group(out, head.user, tally),
            Err(e) => {
                tally.groups_failed += 1;
                let reason = format!("not written: {rel}: {e:#}");
                eprintln!("partition: {reason}");
                for r in recs {
                    self.quarantine.add(lines.global(r.line), &reason, r.raw)?;
                }
                Ok(())
            }
        }
    }

    /// Stage a merged group's files, queue their lines, remove parts it no
    /// longer needs, and count it in its day's summary.
    fn stage_group(&mut self, out: GroupOut, user: &str, tally: &mut Tally) -> Result<()> {
        let cfg = self.ctx.cfg;
        tally.duplicates_dropped += out.duplicates;
        for f in out.files {
            let changed = f.write.is_some();
            if let Some(bytes) = f.write {
                tally.bytes_written += bytes.len() as u64;
                self.committer
                    .stage(self.ctx.dirs, &cfg.out.join(&f.rel), bytes)?;
            }
            let mut extra = Map::new();
            extra.insert("records".into(), json!(f.records));
            if self.with_user {
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
            tally.file(changed);
            let line = file_line(cfg, &f.rel, f.bytes, &f.sha256, extra, changed);
            self.committer.line(line);
        }
        for p in out.stale {
            eprintln!(
                "partition: removing {} (no longer needed after re-rotation)",
                p.display()
            );
            self.committer.remove(p);
        }
        if let Some(d) = self.day.as_mut() {
            d.users.insert(
                user.to_owned(),
                UserStat {
                    conversation_count: out.records as u64,
                    total_messages: out.messages,
                },
            );
        }
        Ok(())
    }

    /// Groups arrive day by day: a new date finishes the previous day.
    fn start_day(&mut self, date: &str, tally: &mut Tally) -> Result<()> {
        if self.day.as_ref().is_some_and(|d| d.date != date) {
            let done = self.day.take().unwrap();
            self.finish_day(done, tally)?;
        }
        if self.day.is_none() {
            self.day = Some(Day {
                date: date.to_owned(),
                users: BTreeMap::new(),
            });
        }
        Ok(())
    }

    /// Merge a day's statistics into its summary file and stage it; a
    /// summary that cannot be written is reported and counted.
    fn finish_day(&mut self, day: Day, tally: &mut Tally) -> Result<()> {
        let (cfg, dirs) = (self.ctx.cfg, self.ctx.dirs);
        let date = day.date.clone();
        let out = match daily_summary::finish_day(dirs, cfg, day, &self.ctx.now_json) {
            Ok(out) => out,
            Err(e) => {
                tally.files_failed += 1;
                let rel = daily_summary::rel_path(&date, cfg.compress);
                eprintln!("partition: not written: {rel}: {e:#}");
                return Ok(());
            }
        };
        let changed = out.write.is_some();
        if let Some(bytes) = out.write {
            tally.bytes_written += bytes.len() as u64;
            self.committer.stage(dirs, &cfg.out.join(&out.rel), bytes)?;
        }
        // Not `records`: manifest sums `records` over file lines, and the
        // day's records are already counted by their own files.
        let mut extra = Map::new();
        extra.insert("summary_of_records".into(), json!(out.total_conversations));
        extra.insert("date".into(), json!(date));
        extra.insert("kind".into(), json!("daily_summary"));
        tally.file(changed);
        let line = file_line(cfg, &out.rel, out.bytes, &out.sha256, extra, changed);
        self.committer.line(line);
        Ok(())
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

/// The file line of one file (`"status":"planned"` in a dry run).
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
