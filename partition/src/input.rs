//! Where record bytes come from. A regular, uncompressed input file is read
//! twice: routing keeps only each record's offset and length (about a
//! hundred bytes per record instead of the record, so a run of gigabytes
//! fits the memory budget without spilling), threads route chunks of it
//! side by side, and the merge reads each group's records back by offset.
//! Anything else (stdin, a pipe, gzip or zstd, `--hash-only`, which
//! rewrites the bytes) is routed in one stream and its records are copied
//! into the spill.
//!
//! Positioned reads, not a memory map: on this kind of machine they were as
//! fast (page faults cost as much as the copy), and a map's resident size
//! follows the page-cache folios it touches, not the memory budget.

use anyhow::{Context, Result};
use archive_core::Failure;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::ops::Range;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

/// Bytes of a reference to a record in the input file: offset and length.
pub const REF_LEN: usize = 12;

/// A source of lines, each with its line end and its offset from the start
/// of the stream or chunk.
pub trait LineSource {
    fn next_line(&mut self) -> io::Result<Option<(u64, &[u8])>>;
}

/// An input file whose records can be read again by offset.
pub struct InputFile {
    file: File,
    name: String,
    stamp: Stamp,
}

/// What says the file is still the one that was routed.
#[derive(PartialEq, Eq, Debug, Clone, Copy)]
struct Stamp {
    len: u64,
    mtime_ns: i128,
    ino: u64,
}

impl Stamp {
    fn of(m: &Metadata) -> Stamp {
        Stamp {
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ino: m.ino(),
        }
    }
}

impl InputFile {
    /// The input as a re-readable file, or None when it must be streamed
    /// (stdin, not a regular file, empty, or compressed).
    pub fn open(path: Option<&Path>) -> Result<Option<InputFile>> {
        let Some(path) = path.filter(|p| p.as_os_str() != "-") else {
            return Ok(None);
        };
        let file = File::open(path)
            .with_context(|| format!("opening {}", path.display()))
            .map_err(|e| Failure::usage(format!("{e:#}")))?;
        let meta = file
            .metadata()
            .with_context(|| format!("reading {}", path.display()))?;
        if !meta.is_file() || meta.len() == 0 {
            return Ok(None);
        }
        let mut magic = [0u8; 4];
        let n = file.read_at(&mut magic, 0).unwrap_or(0);
        if archive_core::io::Compressed::detect(&magic[..n]).is_some() {
            return Ok(None);
        }
        Ok(Some(InputFile {
            file,
            name: path.display().to_string(),
            stamp: Stamp::of(&meta),
        }))
    }

    fn len(&self) -> u64 {
        self.stamp.len
    }

    /// Split the file into at most `n` byte ranges that each start at the
    /// beginning of a line, so threads can route them side by side and line
    /// numbers add up.
    pub fn chunks(&self, n: usize) -> Result<Vec<Range<u64>>> {
        let len = self.len();
        let mut starts = vec![0u64];
        for i in 1..n.max(1) as u64 {
            let from = (len / n as u64 * i).max(*starts.last().unwrap());
            let Some(start) = self.next_line_start(from)? else {
                break;
            };
            if start > *starts.last().unwrap() && start < len {
                starts.push(start);
            }
        }
        Ok((0..starts.len())
            .map(|i| starts[i]..starts.get(i + 1).copied().unwrap_or(len))
            .collect())
    }

    /// The offset just after the first newline at or after `from`.
    fn next_line_start(&self, from: u64) -> Result<Option<u64>> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut pos = from;
        while pos < self.len() {
            let n = self
                .file
                .read_at(&mut buf, pos)
                .with_context(|| format!("reading {}", self.name))?;
            if n == 0 {
                break;
            }
            if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                return Ok(Some(pos + i as u64 + 1));
            }
            pos += n as u64;
        }
        Ok(None)
    }

    /// The lines of `range`, which starts at a line.
    pub fn lines(&self, range: Range<u64>) -> Lines<RangeReader<'_>> {
        Lines::new(RangeReader {
            file: &self.file,
            pos: range.start,
            end: range.end,
        })
    }

    /// Append the referenced record to `buf`.
    pub fn read_record(&self, reference: &[u8], buf: &mut Vec<u8>) -> Result<Range<usize>> {
        let (offset, len) = decode_ref(reference);
        if offset + len as u64 > self.len() {
            return Err(Failure::data(format!(
                "{} is shorter than when it was read (byte {offset})",
                self.name
            )));
        }
        let start = buf.len();
        buf.resize(start + len, 0);
        self.file
            .read_exact_at(&mut buf[start..], offset)
            .with_context(|| format!("reading {} at byte {offset}", self.name))?;
        Ok(start..start + len)
    }

    /// Fail if the file was changed (written, truncated, replaced) since it
    /// was opened: the offsets routing kept would no longer name the same
    /// records.
    pub fn check_unchanged(&self) -> Result<()> {
        let now = self
            .file
            .metadata()
            .with_context(|| format!("reading {}", self.name))?;
        if Stamp::of(&now) != self.stamp {
            return Err(Failure::data(format!(
                "{} changed while it was being partitioned; files from this batch were not kept \
                 (re-run when the file is complete)",
                self.name
            )));
        }
        Ok(())
    }
}

/// Reads one byte range of the input file (positioned reads, so the
/// threads' readers share the file).
pub struct RangeReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.end - self.pos).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

pub fn encode_ref(offset: u64, len: usize) -> [u8; REF_LEN] {
    let mut r = [0u8; REF_LEN];
    r[..8].copy_from_slice(&offset.to_le_bytes());
    r[8..].copy_from_slice(&(len as u32).to_le_bytes());
    r
}

fn decode_ref(r: &[u8]) -> (u64, usize) {
    let offset = u64::from_le_bytes(r[..8].try_into().unwrap());
    let len = u32::from_le_bytes(r[8..REF_LEN].try_into().unwrap());
    (offset, len as usize)
}

/// Lines of a reader, split in a large buffer without copying each line:
/// each comes with its offset from the start of the stream.
pub struct Lines<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    /// How far past `start` is known to hold no newline.
    searched: usize,
    end: usize,
    eof: bool,
    consumed: u64,
}

impl<R: Read> Lines<R> {
    pub fn new(inner: R) -> Lines<R> {
        Lines {
            inner,
            buf: vec![0; 1 << 20],
            start: 0,
            searched: 0,
            end: 0,
            eof: false,
            consumed: 0,
        }
    }

    fn take(&mut self, s: usize, e: usize) -> (u64, &[u8]) {
        let offset = self.consumed;
        self.consumed += (e - s) as u64;
        self.start = e;
        self.searched = 0;
        (offset, &self.buf[s..e])
    }

    fn refill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // One line longer than the buffer: it has to be held whole.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            return Ok(());
        }
    }
}

impl<R: Read> LineSource for Lines<R> {
    fn next_line(&mut self) -> io::Result<Option<(u64, &[u8])>> {
        loop {
            let from = self.start + self.searched;
            if let Some(i) = memchr::memchr(b'\n', &self.buf[from..self.end]) {
                let (s, e) = (self.start, from + i + 1);
                return Ok(Some(self.take(s, e)));
            }
            self.searched = self.end - self.start;
            if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                let (s, e) = (self.start, self.end);
                return Ok(Some(self.take(s, e)));
            }
            self.refill()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(data: &[u8], buf: usize) -> Vec<(u64, Vec<u8>)> {
        let mut l = Lines::new(data);
        l.buf = vec![0; buf];
        let mut out = Vec::new();
        while let Some((o, line)) = l.next_line().unwrap() {
            out.push((o, line.to_vec()));
        }
        out
    }

    #[test]
    fn lines_keep_their_ends_and_offsets_whatever_the_buffer() {
        let data = b"ab\n\ncdefghij\nlast";
        for buf in [1, 2, 3, 5, 64] {
            assert_eq!(
                split(data, buf),
                vec![
                    (0, b"ab\n".to_vec()),
                    (3, b"\n".to_vec()),
                    (4, b"cdefghij\n".to_vec()),
                    (13, b"last".to_vec())
                ],
                "buffer {buf}"
            );
        }
        assert!(split(b"", 4).is_empty());
    }

    #[test]
    fn chunks_start_at_lines_and_cover_the_file() {
        let dir = std::env::temp_dir().join(format!("partition-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.ndjson");
        let mut data = Vec::new();
        for i in 0..1000 {
            data.extend_from_slice(format!("{{\"n\":{i}}}\n").as_bytes());
        }
        std::fs::write(&path, &data).unwrap();
        let f = InputFile::open(Some(&path)).unwrap().unwrap();
        for n in [1, 2, 3, 7] {
            let chunks = f.chunks(n).unwrap();
            assert_eq!(chunks.len(), n);
            assert_eq!(chunks[0].start, 0);
            assert_eq!(chunks.last().unwrap().end, data.len() as u64);
            for w in chunks.windows(2) {
                assert_eq!(w[0].end, w[1].start);
                assert_eq!(data[w[1].start as usize - 1], b'\n');
            }
            // The chunks' lines are the file's lines.
            let mut all = Vec::new();
            for c in chunks {
                let mut lines = f.lines(c.clone());
                while let Some((o, l)) = lines.next_line().unwrap() {
                    assert_eq!(&data[(c.start + o) as usize..][..l.len()], l);
                    all.extend_from_slice(l);
                }
            }
            assert_eq!(all, data);
        }
        let mut buf = b"x".to_vec();
        let r = f.read_record(&encode_ref(10, 9), &mut buf).unwrap();
        assert_eq!(&buf[r], &data[10..19]);
        assert!(f
            .read_record(&encode_ref(data.len() as u64 - 2, 9), &mut buf)
            .is_err());
        f.check_unchanged().unwrap();
        std::fs::write(&path, b"{}\n").unwrap();
        assert!(f.check_unchanged().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
