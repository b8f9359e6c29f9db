//! Splitting a CSV input into chunks of whole records, so that several
//! threads can parse it: a chunk ends at the first record end at or after
//! the target size, found by quote parity (a newline inside a quoted field
//! does not end a record). Where a chunk ends depends only on the bytes,
//! never on how the input was read, so the output is the same whatever
//! the pipe or the thread count.

use super::record::read_error;
use std::io::BufRead;

/// Whole records and where they start.
pub struct Chunk {
    pub bytes: Vec<u8>,
    /// Lines of the input before the chunk.
    pub lines_before: u64,
}

pub struct Chunker {
    input: Box<dyn BufRead + Send>,
    name: String,
    quote: u8,
    buf: Vec<u8>,
    /// Lines before `buf`.
    line: u64,
    eof: bool,
}

impl Chunker {
    /// Chunks of the rest of `input`, after `lines_read` lines (the header).
    pub fn new(input: Box<dyn BufRead + Send>, name: &str, quote: u8, lines_read: u64) -> Chunker {
        Chunker {
            input,
            name: name.to_string(),
            quote,
            buf: Vec::new(),
            line: lines_read,
            eof: false,
        }
    }

    /// The next chunk of about `target` bytes (more, up to the end of the
    /// record that crosses it); None at the end of the input. The last
    /// chunk is whatever remains, complete or not: its reader names a
    /// record cut short.
    pub fn next_chunk(&mut self, target: usize) -> anyhow::Result<Option<Chunk>> {
        let target = target.max(1);
        let cut = loop {
            if self.buf.len() > target {
                if let Some(cut) = record_end_after(&self.buf, target, self.quote) {
                    break cut;
                }
            }
            if self.eof {
                break self.buf.len();
            }
            self.fill()?;
        };
        if cut == 0 {
            return Ok(None);
        }
        // Sized for the next chunk and the read that crosses its target,
        // so it is not regrown (and copied) on the way there.
        let read = crate::interrupt::CHUNK;
        let mut rest = Vec::with_capacity(target + read + self.buf.len() - cut);
        rest.extend_from_slice(&self.buf[cut..]);
        let mut bytes = std::mem::replace(&mut self.buf, rest);
        bytes.truncate(cut);
        let lines_before = self.line;
        self.line += memchr::memchr_iter(b'\n', &bytes).count() as u64;
        Ok(Some(Chunk {
            bytes,
            lines_before,
        }))
    }

    fn fill(&mut self) -> anyhow::Result<()> {
        let line = self.line;
        let available = self
            .input
            .fill_buf()
            .map_err(|e| read_error(&self.name, line, e))?;
        if available.is_empty() {
            self.eof = true;
            return Ok(());
        }
        let n = available.len();
        self.buf.extend_from_slice(available);
        self.input.consume(n);
        Ok(())
    }
}

/// The position after the first newline at or after `target` that is
/// outside quotes (quotes counted from the start of `buf`, which is the
/// start of a record); None if `buf` has no such newline yet.
fn record_end_after(buf: &[u8], target: usize, quote: u8) -> Option<usize> {
    let mut odd = memchr::memchr_iter(quote, &buf[..target]).count() % 2 == 1;
    let mut i = target;
    while let Some(off) = memchr::memchr2(quote, b'\n', &buf[i..]) {
        let p = i + off;
        if buf[p] == quote {
            odd = !odd;
        } else if !odd {
            return Some(p + 1);
        }
        i = p + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(text: &str, target: usize, read_size: usize) -> Vec<(String, u64)> {
        // A reader that returns at most `read_size` bytes at a time.
        let inner = std::io::Cursor::new(text.as_bytes().to_vec());
        let input = std::io::BufReader::with_capacity(read_size, inner);
        let mut c = Chunker::new(Box::new(input), "t.csv", b'"', 1);
        let mut out = Vec::new();
        while let Some(ch) = c.next_chunk(target).unwrap() {
            out.push((String::from_utf8(ch.bytes).unwrap(), ch.lines_before));
        }
        out
    }

    #[test]
    fn chunks_end_at_record_ends_whatever_the_reads() {
        let text = "1,a\n2,\"x\ny\"\n3,\"q\"\"\n\"\n4,z\n";
        for read_size in [1, 3, 7, 1000] {
            let got = chunks(text, 5, read_size);
            assert_eq!(
                got,
                [
                    ("1,a\n2,\"x\ny\"\n".to_string(), 1),
                    ("3,\"q\"\"\n\"\n".to_string(), 4),
                    ("4,z\n".to_string(), 6),
                ],
                "read size {read_size}"
            );
        }
        assert_eq!(
            chunks("1,\"open\n2,3\n", 2, 4),
            [("1,\"open\n2,3\n".to_string(), 1)]
        );
        assert_eq!(chunks("", 2, 4), Vec::<(String, u64)>::new());
        assert_eq!(chunks("1,2", 1, 4), [("1,2".to_string(), 1)]);
    }
}
