//! Phase one: read lines, learn each record's user, day and id, and hand
//! it to a spiller under its group key. A line that cannot be routed is not
//! dropped: it goes into the same spiller under [`QUARANTINE_KEY`], which
//! sorts after every group, so bad lines reach the quarantine in line order
//! and cost no memory beyond the budget however many there are.
//!
//! One call routes one stream or one chunk of the input file; threads route
//! chunks side by side, each with its own spiller.

use crate::extract::Extractor;
use crate::input::{encode_ref, InputFile, LineSource, Lines};
use crate::model::{Config, Tally};
use crate::progress::Progress;
use crate::render;
use crate::rewrite;
use crate::spill::{encoded_len, RecRef, Spiller};
use anyhow::{Context, Result};
use archive_core::Failure;
use std::sync::atomic::{AtomicU64, Ordering};

/// The group key of quarantined lines: 0xFF never occurs in UTF-8, so it
/// sorts after every real key.
pub const QUARANTINE_KEY: &[u8] = b"\xff";

/// Line numbers are stored as chunk and line within the chunk; this many
/// low bits hold the line.
const LINE_BITS: u32 = 40;

/// Everything routed: the spillers of the chunks, in input order, and how
/// their stored line numbers map to the input's.
pub struct Routing {
    pub spillers: Vec<Spiller>,
    pub lines: LineNumbers,
}

/// What one routed stream or chunk produced.
struct Routed {
    spiller: Spiller,
    counts: Counts,
}

#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    /// Line numbers used (blank lines included).
    line_count: u64,
    /// Lines that were not blank.
    lines: u64,
    bytes_read: u64,
    records: u64,
}

/// What became of one line.
enum Fate {
    Blank,
    Routed,
    Quarantined,
}

pub struct Router<'a> {
    cfg: &'a Config,
    ex: &'a Extractor,
    source: &'a str,
    progress: &'a Progress,
    /// Records and bytes of all routing threads, for the progress line.
    total_records: AtomicU64,
    total_bytes: AtomicU64,
}

impl<'a> Router<'a> {
    pub fn new(
        cfg: &'a Config,
        ex: &'a Extractor,
        source: &'a str,
        progress: &'a Progress,
    ) -> Self {
        Router {
            cfg,
            ex,
            source,
            progress,
            total_records: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
        }
    }

    /// Route the whole input: a re-readable file in chunks side by side,
    /// anything else as one stream. Adds what was read to `tally`.
    pub fn route_input(&self, file: Option<&InputFile>, tally: &mut Tally) -> Result<Routing> {
        let routed = match file {
            Some(file) => self.route_chunks(file)?,
            None => {
                let input = archive_core::io::open_input(self.cfg.input.as_deref())
                    .map_err(|e| Failure::usage(format!("{e:#}")))?;
                vec![self.route(Lines::new(input), 0, None, self.spiller(0, 1))?]
            }
        };
        let lines = LineNumbers::new(routed.iter().map(|r| r.counts.line_count));
        let mut spillers = Vec::with_capacity(routed.len());
        for r in routed {
            tally.lines += r.counts.lines;
            tally.bytes_read += r.counts.bytes_read;
            tally.records += r.counts.records;
            tally.spill_runs += r.spiller.runs_written();
            tally.spilled_bytes += r.spiller.spilled_bytes;
            spillers.push(r.spiller);
        }
        Ok(Routing { spillers, lines })
    }

    /// One thread per chunk of the file, each with its own spiller.
    fn route_chunks(&self, file: &InputFile) -> Result<Vec<Routed>> {
        let ranges = file.chunks(self.cfg.threads)?;
        let n = ranges.len();
        std::thread::scope(|scope| {
            let handles: Vec<_> = ranges
                .into_iter()
                .enumerate()
                .map(|(i, range)| {
                    let sp = self.spiller(i, n);
                    scope.spawn(move || {
                        self.route(file.lines(range.clone()), i as u32, Some(range.start), sp)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("routing thread panicked"))
                .collect::<Result<Vec<_>>>()
        })
    }

    /// The spiller of chunk `chunk` of `chunks`: its share of half the
    /// memory budget, and a spill directory whose name carries this
    /// process's id (so a later run can tell it was left by a dead one).
    fn spiller(&self, chunk: usize, chunks: usize) -> Spiller {
        let dir = archive_core::atomic::temp_name("partition", chunk as u64);
        Spiller::new(
            self.cfg.spill_base.join(dir),
            self.cfg.max_open_files,
            (self.cfg.memory / 2) as usize / chunks,
        )
    }

    /// Route every line of `lines`, chunk number `chunk`. With `file_offset`
    /// (where the chunk starts in the input file) records are kept as
    /// references into the file; without, their bytes are copied.
    fn route(
        &self,
        mut lines: impl LineSource,
        chunk: u32,
        file_offset: Option<u64>,
        mut spiller: Spiller,
    ) -> Result<Routed> {
        let mut c = Counts::default();
        let mut reported = (0u64, 0u64);
        while let Some((offset, line)) = lines
            .next_line()
            .with_context(|| format!("reading {}", self.source))?
        {
            c.line_count += 1;
            c.bytes_read += line.len() as u64;
            let number = (u64::from(chunk) << LINE_BITS) | c.line_count;
            let at = file_offset.map(|base| base + offset);
            match self.route_line(line, number, at, &mut spiller)? {
                Fate::Blank => {}
                Fate::Quarantined => c.lines += 1,
                Fate::Routed => {
                    c.lines += 1;
                    c.records += 1;
                    if c.records.is_multiple_of(16384) {
                        self.report(&mut reported, c.records, c.bytes_read);
                    }
                }
            }
        }
        self.report(&mut reported, c.records, c.bytes_read);
        Ok(Routed { spiller, counts: c })
    }

    /// Route one line (with its line end) that starts at byte `at` of the
    /// input file, when it is read from one.
    fn route_line(
        &self,
        line: &[u8],
        number: u64,
        at: Option<u64>,
        spiller: &mut Spiller,
    ) -> Result<Fate> {
        let cfg = self.cfg;
        // The line as it came (without its line end) is what a quarantine keeps.
        let exact = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        let l = line.trim_ascii();
        if l.is_empty() {
            return Ok(Fate::Blank);
        }
        // Where a slice of `line` is in the file, as a reference.
        let reference = |s: &[u8]| {
            at.map(|base| {
                let skip = s.as_ptr() as usize - line.as_ptr() as usize;
                encode_ref(base + skip as u64, s.len())
            })
        };
        // Under a rewrite (--hash-only, ai-audit, --encrypt-field) a
        // quarantined line that is JSON keeps the rewritten record, so
        // content the run promised not to store does not reach the
        // quarantine either.
        let rewritten = (!cfg.rewrite.is_empty()).then(|| rewrite::apply(l, &cfg.rewrite));
        let quarantine = |spiller: &mut Spiller, reason: &str| {
            let r = reference(exact);
            let kept = match &rewritten {
                Some(Ok(minimised)) => minimised,
                _ => exact,
            };
            let rec = RecRef {
                key: QUARANTINE_KEY,
                user: reason,
                date: "",
                id: None,
                time: 0.0,
                version: None,
                messages: 0,
                line: number,
                raw: r.as_ref().map_or(kept, |b| &b[..]),
            };
            push(spiller, &rec).map(|()| Fate::Quarantined)
        };
        // Invalid bytes are never copied into an output file: the line is
        // quarantined (its exact bytes, in base64).
        if let Err(e) = std::str::from_utf8(l) {
            let column = l.as_ptr() as usize - line.as_ptr() as usize + e.valid_up_to() + 1;
            return quarantine(
                spiller,
                &format!("not UTF-8: invalid byte at column {column}"),
            );
        }
        let meta = match self.ex.meta(l) {
            Ok(m) => m,
            Err(reason) => return quarantine(spiller, &reason),
        };
        if cfg.assemble {
            if let Err(reason) = crate::assemble::check_event(l, meta.id.is_some()) {
                return quarantine(spiller, &reason);
            }
        }
        // A sealed record differs on every run: only its id can tell two
        // copies apart.
        if !cfg.rewrite.encrypt.is_empty() && meta.id.is_none() {
            let reason = format!(
                "missing id field `{}` (needed to keep one copy of an encrypted record)",
                cfg.id.text
            );
            return quarantine(spiller, &reason);
        }
        let raw: &[u8] = match &rewritten {
            None => l,
            Some(Ok(h)) => h,
            Some(Err(reason)) => return quarantine(spiller, reason),
        };
        let date = meta.date.to_string();
        let rel = render::path_for(&cfg.template, &meta.user, meta.date);
        let key = if cfg.daily_summaries {
            // Day first, so each day's groups arrive together and its
            // summary can be finished before the next day starts.
            format!("{date}\0{rel}")
        } else {
            rel
        };
        // A rewrite changes the records, so their new bytes are kept.
        let r = if cfg.rewrite.is_empty() {
            reference(l)
        } else {
            None
        };
        let rec = RecRef {
            key: key.as_bytes(),
            user: &meta.user,
            date: &date,
            id: meta.id.as_deref(),
            time: meta.time,
            version: meta.version,
            messages: meta.messages,
            line: number,
            raw: r.as_ref().map_or(raw, |b| &b[..]),
        };
        push(spiller, &rec).map(|()| Fate::Routed)
    }

    /// Add this thread's progress since the last report to the totals.
    fn report(&self, reported: &mut (u64, u64), records: u64, bytes: u64) {
        let add = |total: &AtomicU64, now: u64, before: u64| {
            total.fetch_add(now - before, Ordering::Relaxed) + now - before
        };
        let records_total = add(&self.total_records, records, reported.0);
        let bytes_total = add(&self.total_bytes, bytes, reported.1);
        *reported = (records, bytes);
        self.progress.reading(records_total, bytes_total);
    }
}

fn push(spiller: &mut Spiller, rec: &RecRef<'_>) -> Result<()> {
    if !spiller.arena.has_room(encoded_len(rec)) && !spiller.arena.is_empty() {
        spiller.spill()?;
    }
    spiller.arena.push(rec);
    Ok(())
}

/// Turns stored line numbers into line numbers of the whole input, once
/// every chunk's line count is known.
pub struct LineNumbers {
    bases: Vec<u64>,
}

impl LineNumbers {
    /// `counts`: the line count of each chunk, in order.
    pub fn new(counts: impl IntoIterator<Item = u64>) -> LineNumbers {
        let mut bases = Vec::new();
        let mut total = 0;
        for c in counts {
            bases.push(total);
            total += c;
        }
        LineNumbers { bases }
    }

    pub fn global(&self, stored: u64) -> u64 {
        let chunk = (stored >> LINE_BITS) as usize;
        self.bases.get(chunk).copied().unwrap_or(0) + (stored & ((1 << LINE_BITS) - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_line_numbers_become_line_numbers_of_the_input() {
        let n = LineNumbers::new([3, 5, 2]);
        assert_eq!(n.global(2), 2);
        assert_eq!(n.global((1 << LINE_BITS) | 1), 4);
        assert_eq!(n.global((2 << LINE_BITS) | 2), 10);
    }
}
