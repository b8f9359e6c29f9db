//! Bounded memory: routed records collect in one arena; when it reaches its
//! budget it is sorted by group key and written out as a run (one file, so
//! the number of open handles does not grow with the number of groups).
//! At the end all runs and the arena are merged, which yields each group's
//! records together, groups in key order, and within a group in arrival
//! order (a stable sort per run, ties between runs go to the earlier run).

use anyhow::{Context, Result};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// One routed record, as stored in the arena and in runs.
#[derive(Debug, Clone, Copy)]
pub struct RecRef<'a> {
    pub key: &'a [u8],
    pub user: &'a str,
    pub date: &'a str,
    pub id: Option<&'a str>,
    pub time: f64,
    pub version: Option<f64>,
    pub messages: u32,
    pub line: u64,
    pub raw: &'a [u8],
}

/// Append `r` as `[u32 len][body]` to `out`.
pub fn encode(out: &mut Vec<u8>, r: &RecRef<'_>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    put_bytes(out, r.key);
    put_bytes(out, r.user.as_bytes());
    put_bytes(out, r.date.as_bytes());
    match r.id {
        Some(id) => put_bytes(out, id.as_bytes()),
        None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
    out.extend_from_slice(&r.time.to_le_bytes());
    out.extend_from_slice(&r.version.unwrap_or(f64::NAN).to_le_bytes());
    out.extend_from_slice(&r.messages.to_le_bytes());
    out.extend_from_slice(&r.line.to_le_bytes());
    out.extend_from_slice(r.raw);
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn u32(&mut self) -> u32 {
        let (h, t) = self.0.split_at(4);
        self.0 = t;
        u32::from_le_bytes(h.try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        let (h, t) = self.0.split_at(8);
        self.0 = t;
        u64::from_le_bytes(h.try_into().unwrap())
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        h
    }
    fn field(&mut self) -> Option<&'a [u8]> {
        let n = self.u32();
        (n != u32::MAX).then(|| self.bytes(n as usize))
    }
}

/// Read a record body (without its length prefix). Bodies are only ever
/// produced by [`encode`] in this process, so the strings are UTF-8.
pub fn decode(body: &[u8]) -> RecRef<'_> {
    let mut c = Cursor(body);
    let key = c.field().unwrap_or_default();
    let user = std::str::from_utf8(c.field().unwrap_or_default()).unwrap_or_default();
    let date = std::str::from_utf8(c.field().unwrap_or_default()).unwrap_or_default();
    let id = c
        .field()
        .map(|b| std::str::from_utf8(b).unwrap_or_default());
    let time = f64::from_bits(c.u64());
    let version = f64::from_bits(c.u64());
    let messages = c.u32();
    let line = c.u64();
    RecRef {
        key,
        user,
        date,
        id,
        time,
        version: (!version.is_nan()).then_some(version),
        messages,
        line,
        raw: c.0,
    }
}

fn key_of(body: &[u8]) -> &[u8] {
    let n = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
    &body[4..4 + n]
}

/// Bytes [`encode`] uses for `r`.
pub fn encoded_len(r: &RecRef<'_>) -> usize {
    4 + 4 * 4
        + r.key.len()
        + r.user.len()
        + r.date.len()
        + r.id.map_or(0, str::len)
        + 28
        + r.raw.len()
}

/// The in-memory part: an arena of encoded records and their offsets,
/// reserved once at the budget (pages count only when touched).
#[derive(Default)]
pub struct Arena {
    bytes: Vec<u8>,
    offsets: Vec<usize>,
}

impl Arena {
    pub fn with_budget(budget: usize) -> Arena {
        Arena {
            bytes: Vec::with_capacity(budget / 16 * 15),
            offsets: Vec::with_capacity(budget / 16 / std::mem::size_of::<usize>()),
        }
    }

    /// Can a record of `n` encoded bytes be added without growing?
    pub fn has_room(&self, n: usize) -> bool {
        self.bytes.len() + n <= self.bytes.capacity()
            && self.offsets.len() < self.offsets.capacity()
    }

    pub fn push(&mut self, r: &RecRef<'_>) {
        self.offsets.push(self.bytes.len());
        encode(&mut self.bytes, r);
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    fn body(&self, off: usize) -> &[u8] {
        let n = u32::from_le_bytes(self.bytes[off..off + 4].try_into().unwrap()) as usize;
        &self.bytes[off + 4..off + 4 + n]
    }

    /// Stable sort by group key.
    fn sort(&mut self) {
        let bytes = &self.bytes;
        let body = |off: usize| {
            let n = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
            &bytes[off + 4..off + 4 + n]
        };
        self.offsets
            .sort_by(|a, b| key_of(body(*a)).cmp(key_of(body(*b))));
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.offsets.clear();
    }
}

/// Sorted runs on disk plus the arena still in memory.
pub struct Spiller {
    dir: PathBuf,
    created_dir: bool,
    runs: Vec<PathBuf>,
    next_run: u64,
    pub arena: Arena,
    pub spilled_bytes: u64,
    max_open: usize,
}

impl Spiller {
    pub fn new(dir: PathBuf, max_open: usize, budget: usize) -> Spiller {
        Spiller {
            dir,
            created_dir: false,
            runs: Vec::new(),
            next_run: 0,
            arena: Arena::with_budget(budget),
            spilled_bytes: 0,
            max_open,
        }
    }

    pub fn runs_written(&self) -> u64 {
        self.next_run
    }

    fn new_run_path(&mut self) -> Result<PathBuf> {
        if !self.created_dir {
            // A new directory (its name carries this process's id), never
            // one that is there already, nor a link.
            if let Some(base) = self.dir.parent() {
                fs::create_dir_all(base)
                    .with_context(|| format!("creating spill directory {}", base.display()))?;
            }
            let created = match fs::create_dir(&self.dir) {
                // Left by a dead process that had this process's id.
                Err(e)
                    if e.kind() == std::io::ErrorKind::AlreadyExists
                        && fs::symlink_metadata(&self.dir).is_ok_and(|m| m.is_dir()) =>
                {
                    fs::remove_dir_all(&self.dir).and_then(|()| fs::create_dir(&self.dir))
                }
                r => r,
            };
            created.with_context(|| format!("creating spill directory {}", self.dir.display()))?;
            self.created_dir = true;
        }
        self.next_run += 1;
        Ok(self.dir.join(format!("run-{:06}", self.next_run)))
    }

    /// Sort the arena and write it out as a run.
    pub fn spill(&mut self) -> Result<()> {
        if self.arena.is_empty() {
            return Ok(());
        }
        self.arena.sort();
        let path = self.new_run_path()?;
        let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        for &off in &self.arena.offsets {
            let n = u32::from_le_bytes(self.arena.bytes[off..off + 4].try_into().unwrap()) as usize;
            w.write_all(&self.arena.bytes[off..off + 4 + n])?;
            self.spilled_bytes += 4 + n as u64;
        }
        w.flush()
            .with_context(|| format!("writing spill run {}", path.display()))?;
        self.runs.push(path);
        self.arena.clear();
        Ok(())
    }

    /// Merge the records of several spillers, which routed consecutive
    /// parts of the input in this order: on equal keys, records of an
    /// earlier spiller come first, so arrival order holds across them.
    pub fn merge_all(spillers: Vec<Spiller>) -> Result<Merge> {
        let fan_in =
            (spillers.iter().map(|s| s.max_open).max().unwrap_or(2) / spillers.len().max(1)).max(2);
        let mut sources: Vec<Box<dyn Source>> = Vec::new();
        let mut runs = Vec::new();
        let mut cleanup = Vec::new();
        for mut s in spillers {
            s.reduce_runs(fan_in)?;
            s.arena.sort();
            for p in &s.runs {
                sources.push(Box::new(FileRun::open(p)?));
            }
            sources.push(Box::new(MemRun {
                arena: std::mem::take(&mut s.arena),
                pos: 0,
            }));
            // The merge owns the runs and the directory from here on.
            if s.created_dir {
                cleanup.push(s.dir.clone());
            }
            s.created_dir = false;
            runs.append(&mut s.runs);
        }
        Ok(Merge::new(sources, runs, cleanup))
    }

    /// Keep at most `fan_in` runs: merge the oldest ones first, so arrival
    /// order between runs is preserved.
    fn reduce_runs(&mut self, fan_in: usize) -> Result<()> {
        while self.runs.len() > fan_in {
            let oldest: Vec<PathBuf> = self.runs.drain(..fan_in).collect();
            let sources = oldest
                .iter()
                .map(|p| FileRun::open(p).map(|r| Box::new(r) as Box<dyn Source>))
                .collect::<Result<Vec<_>>>()?;
            let mut m = Merge::new(sources, Vec::new(), Vec::new());
            let path = self.new_run_path()?;
            let mut w = BufWriter::with_capacity(1 << 20, File::create(&path)?);
            while let Some(body) = m.next_record()? {
                w.write_all(&(body.len() as u32).to_le_bytes())?;
                w.write_all(&body)?;
            }
            w.flush()?;
            drop(m);
            for p in &oldest {
                let _ = fs::remove_file(p);
            }
            self.runs.insert(0, path);
        }
        Ok(())
    }
}

impl Drop for Spiller {
    fn drop(&mut self) {
        for p in &self.runs {
            let _ = fs::remove_file(p);
        }
        if self.created_dir && self.runs.is_empty() {
            let _ = fs::remove_dir(&self.dir);
        }
    }
}

trait Source {
    fn current(&self) -> Option<&[u8]>;
    fn advance(&mut self) -> Result<()>;
}

struct FileRun {
    reader: BufReader<File>,
    cur: Vec<u8>,
    done: bool,
    path: PathBuf,
}

impl FileRun {
    fn open(path: &Path) -> Result<FileRun> {
        let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut r = FileRun {
            reader: BufReader::with_capacity(64 * 1024, f),
            cur: Vec::new(),
            done: false,
            path: path.to_path_buf(),
        };
        r.advance()?;
        Ok(r)
    }
}

impl Source for FileRun {
    fn current(&self) -> Option<&[u8]> {
        (!self.done).then_some(&self.cur[..])
    }
    fn advance(&mut self) -> Result<()> {
        let mut len = [0u8; 4];
        match self.reader.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                self.done = true;
                return Ok(());
            }
            Err(e) => return Err(e).context(format!("reading {}", self.path.display())),
        }
        let n = u32::from_le_bytes(len) as usize;
        self.cur.resize(n, 0);
        self.reader
            .read_exact(&mut self.cur)
            .with_context(|| format!("reading {}", self.path.display()))
    }
}

struct MemRun {
    arena: Arena,
    pos: usize,
}

impl Source for MemRun {
    fn current(&self) -> Option<&[u8]> {
        self.arena
            .offsets
            .get(self.pos)
            .map(|&off| self.arena.body(off))
    }
    fn advance(&mut self) -> Result<()> {
        self.pos += 1;
        Ok(())
    }
}

/// The merged stream: record bodies in key order, arrival order within a key.
pub struct Merge {
    sources: Vec<Box<dyn Source>>,
    runs: Vec<PathBuf>,
    cleanup_dirs: Vec<PathBuf>,
}

impl Merge {
    fn new(sources: Vec<Box<dyn Source>>, runs: Vec<PathBuf>, cleanup_dirs: Vec<PathBuf>) -> Merge {
        Merge {
            sources,
            runs,
            cleanup_dirs,
        }
    }

    /// The source holding the smallest key (the earliest source on a tie).
    fn best(&self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, s) in self.sources.iter().enumerate() {
            let Some(cur) = s.current() else { continue };
            match best {
                Some(b) if key_of(self.sources[b].current().unwrap()) <= key_of(cur) => {}
                _ => best = Some(i),
            }
        }
        best
    }

    fn take(&mut self, i: usize) -> Result<Vec<u8>> {
        let body = self.sources[i].current().unwrap().to_vec();
        self.sources[i].advance()?;
        Ok(body)
    }

    /// The next record body, or None at the end.
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>> {
        match self.best() {
            Some(i) => self.take(i).map(Some),
            None => Ok(None),
        }
    }

    /// The next record body if its key is `key` (the rest of a group).
    pub fn next_in_group(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.best() {
            Some(i) if key_of(self.sources[i].current().unwrap()) == key => self.take(i).map(Some),
            _ => Ok(None),
        }
    }
}

impl Drop for Merge {
    fn drop(&mut self) {
        self.sources.clear();
        for p in &self.runs {
            let _ = fs::remove_file(p);
        }
        for d in &self.cleanup_dirs {
            let _ = fs::remove_dir(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<'a>(key: &'a [u8], raw: &'a [u8]) -> RecRef<'a> {
        RecRef {
            key,
            user: "u",
            date: "2025-01-01",
            id: None,
            time: 1.5,
            version: Some(2.0),
            messages: 3,
            line: 9,
            raw,
        }
    }

    #[test]
    fn runs_merge_in_key_then_arrival_order() {
        let dir = std::env::temp_dir().join(format!("spill-test-{}", std::process::id()));
        let mut s = Spiller::new(dir.clone(), 2, 1 << 16);
        let input = [
            ("b", "1"),
            ("a", "2"),
            ("b", "3"),
            ("a", "4"),
            ("c", "5"),
            ("a", "6"),
            ("b", "7"),
        ];
        for (i, (k, v)) in input.iter().enumerate() {
            s.arena.push(&rec(k.as_bytes(), v.as_bytes()));
            if i % 2 == 1 {
                s.spill().unwrap();
            }
        }
        let mut m = Spiller::merge_all(vec![s]).unwrap();
        let mut got = Vec::new();
        while let Some(b) = m.next_record().unwrap() {
            let r = decode(&b);
            assert_eq!(
                (r.messages, r.line, r.version, r.id),
                (3, 9, Some(2.0), None)
            );
            got.push(format!(
                "{}{}",
                String::from_utf8_lossy(r.key),
                String::from_utf8_lossy(r.raw)
            ));
        }
        assert_eq!(got, ["a2", "a4", "a6", "b1", "b3", "b7", "c5"]);
        drop(m);
        assert!(!dir.exists(), "spill directory left behind");
    }

    #[test]
    fn spillers_of_consecutive_chunks_merge_in_arrival_order() {
        let base = std::env::temp_dir().join(format!("spill-chunks-{}", std::process::id()));
        let mut first = Spiller::new(base.join("0"), 4, 1 << 16);
        let mut second = Spiller::new(base.join("1"), 4, 1 << 16);
        for (k, v) in [("b", "1"), ("a", "2")] {
            first.arena.push(&rec(k.as_bytes(), v.as_bytes()));
        }
        first.spill().unwrap();
        first.arena.push(&rec(b"a", b"3"));
        for (k, v) in [("a", "4"), ("b", "5")] {
            second.arena.push(&rec(k.as_bytes(), v.as_bytes()));
            second.spill().unwrap();
        }
        second.arena.push(&rec(b"a", b"6"));
        let mut m = Spiller::merge_all(vec![first, second]).unwrap();
        let mut got = Vec::new();
        while let Some(b) = m.next_record().unwrap() {
            got.push(String::from_utf8_lossy(decode(&b).raw).into_owned());
        }
        assert_eq!(got, ["2", "3", "4", "6", "1", "5"]);
        drop(m);
        assert!(!base.join("0").exists() && !base.join("1").exists());
        let _ = std::fs::remove_dir(&base);
    }
}
