//! Phase one: read lines, learn each record's user, day and id, and hand
//! it to a spiller under its group key. A line that cannot be routed is not
//! dropped: it goes into the same spiller under [`QUARANTINE_KEY`], which
//! sorts after every group, so bad lines reach the quarantine in line order
//! and cost no memory beyond the budget however many there are.
//!
//! One call routes one stream or one chunk of the input file; threads route
//! chunks side by side, each with its own spiller.

use crate::config::Config;
use crate::hashonly;
use crate::input::{encode_ref, LineSource};
use crate::progress::Progress;
use crate::render;
use crate::route::Extractor;
use crate::spill::{encoded_len, RecRef, Spiller};
use anyhow::{Context, Result};
use std::sync::atomic::{AtomicU64, Ordering};

/// The group key of quarantined lines: 0xFF never occurs in UTF-8, so it
/// sorts after every real key.
pub const QUARANTINE_KEY: &[u8] = b"\xff";

/// Line numbers are stored as chunk and line within the chunk; this many
/// low bits hold the line.
const LINE_BITS: u32 = 40;

/// What one routed stream or chunk produced.
pub struct Routed {
    pub spiller: Spiller,
    pub counts: Counts,
}

#[derive(Default, Debug, Clone, Copy)]
pub struct Counts {
    /// Line numbers used (blank lines included).
    pub line_count: u64,
    /// Lines that were not blank.
    pub lines: u64,
    pub bytes_read: u64,
    pub records: u64,
    pub quarantined: u64,
}

/// Record and byte counts of all routing threads, for the progress line.
#[derive(Default)]
pub struct Totals {
    records: AtomicU64,
    bytes: AtomicU64,
}

pub struct Router<'a> {
    pub cfg: &'a Config,
    pub ex: &'a Extractor,
    pub source: &'a str,
    pub progress: &'a Progress,
    pub totals: &'a Totals,
}

impl Router<'_> {
    /// Route every line of `lines`, chunk number `chunk`. With `file_offset`
    /// (where the chunk starts in the input file) records are kept as
    /// references into the file; without, their bytes are copied.
    pub fn route(
        &self,
        mut lines: impl LineSource,
        chunk: u32,
        file_offset: Option<u64>,
        mut spiller: Spiller,
    ) -> Result<Routed> {
        let cfg = self.cfg;
        let mut r = Counts::default();
        let mut reported = (0u64, 0u64);
        loop {
            let Some((offset, line)) = lines
                .next_line()
                .with_context(|| format!("reading {}", self.source))?
            else {
                break;
            };
            r.line_count += 1;
            r.bytes_read += line.len() as u64;
            let line_no = (u64::from(chunk) << LINE_BITS) | r.line_count;
            // The line as it came (without its line end) is what a
            // quarantine keeps.
            let exact = line
                .strip_suffix(b"\n")
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .unwrap_or(line);
            let l = line.trim_ascii();
            if l.is_empty() {
                continue;
            }
            r.lines += 1;
            // Where a slice of `line` is in the file, as a reference.
            let at = |s: &[u8]| {
                file_offset.map(|base| {
                    let skip = s.as_ptr() as usize - line.as_ptr() as usize;
                    encode_ref(base + offset + skip as u64, s.len())
                })
            };
            let quarantine = |spiller: &mut Spiller, reason: &str| {
                let reference = at(exact);
                let rec = RecRef {
                    key: QUARANTINE_KEY,
                    user: reason,
                    date: "",
                    id: None,
                    time: 0.0,
                    version: None,
                    messages: 0,
                    line: line_no,
                    raw: reference.as_ref().map_or(exact, |b| &b[..]),
                };
                push(spiller, &rec)
            };
            let meta = match self.ex.meta(l) {
                Ok(m) => m,
                Err(reason) => {
                    quarantine(&mut spiller, &reason)?;
                    r.quarantined += 1;
                    continue;
                }
            };
            let hashed;
            let raw: &[u8] = if cfg.hash_only.is_empty() {
                l
            } else {
                match hashonly::apply(l, &cfg.hash_only) {
                    Ok(h) => {
                        hashed = h;
                        &hashed
                    }
                    Err(reason) => {
                        quarantine(&mut spiller, &reason)?;
                        r.quarantined += 1;
                        continue;
                    }
                }
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
            let reference = if cfg.hash_only.is_empty() {
                at(l)
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
                line: line_no,
                raw: reference.as_ref().map_or(raw, |b| &b[..]),
            };
            push(&mut spiller, &rec)?;
            r.records += 1;
            if r.records.is_multiple_of(16384) {
                self.report(&mut reported, r.records, r.bytes_read);
            }
        }
        self.report(&mut reported, r.records, r.bytes_read);
        Ok(Routed { spiller, counts: r })
    }

    /// Add this thread's progress since the last report to the totals.
    fn report(&self, reported: &mut (u64, u64), records: u64, bytes: u64) {
        let add = |total: &AtomicU64, now: u64, before: u64| {
            total.fetch_add(now - before, Ordering::Relaxed) + now - before
        };
        let records_total = add(&self.totals.records, records, reported.0);
        let bytes_total = add(&self.totals.bytes, bytes, reported.1);
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
