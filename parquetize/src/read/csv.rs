//! CSV as PostgreSQL writes it (`COPY ... WITH (FORMAT csv)`) and as other
//! tools do: quoted fields may hold delimiters, quotes (doubled) and line
//! breaks. NULL is an *unquoted* field equal to the NULL string (empty by
//! default), so `,,` is NULL while `,"",` is the empty string, exactly as
//! PostgreSQL distinguishes them. A record's line ending may be LF or CRLF.

use super::record::{read_error, Record, RecordSource};
use super::structure::Structure;
use archive_core::Failure;
use std::io::BufRead;

pub struct CsvReader {
    input: Box<dyn BufRead + Send>,
    name: String,
    delimiter: u8,
    quote: u8,
    null: Vec<u8>,
    line: u64,
    raw: Vec<u8>,
    order: Option<Vec<usize>>,
    scratch: Vec<Option<(usize, usize)>>,
}

impl CsvReader {
    pub fn new(input: Box<dyn BufRead + Send>, name: &str, delimiter: u8, null: &str) -> CsvReader {
        CsvReader {
            input,
            name: name.to_string(),
            delimiter,
            quote: b'"',
            null: null.as_bytes().to_vec(),
            line: 0,
            raw: Vec::with_capacity(4096),
            order: None,
            scratch: Vec::new(),
        }
    }

    /// Read the header record: the column names in input order.
    pub fn read_header(&mut self) -> anyhow::Result<Vec<String>> {
        let mut rec = Record::default();
        if !self.next_raw(&mut rec)? {
            return Err(Failure::data(format!(
                "{}: empty input, expected a header line",
                self.name
            )));
        }
        (0..rec.len())
            .map(|i| match rec.field(i) {
                Ok(v) => Ok(v.unwrap_or("").to_string()),
                Err(e) => Err(Failure::data(format!(
                    "{}:1: header field {}: {e}",
                    self.name,
                    i + 1
                ))),
            })
            .collect()
    }

    /// Deliver fields in this order (`order[col]` = input position).
    pub fn set_order(&mut self, order: Vec<usize>) {
        let identity = order.iter().enumerate().all(|(i, &k)| i == k);
        self.order = if identity { None } else { Some(order) };
    }

    /// The rest of the input, to be split into chunks of whole records
    /// (see [`super::chunks`]), and what a reader of one chunk needs.
    pub fn into_parts(self) -> (Box<dyn BufRead + Send>, CsvSettings) {
        let settings = CsvSettings {
            name: self.name,
            delimiter: self.delimiter,
            quote: self.quote,
            null: self.null,
            order: self.order,
            lines_read: self.line,
        };
        (self.input, settings)
    }
}

/// How a CSV input is read, shared by the readers of its chunks.
#[derive(Clone)]
pub struct CsvSettings {
    pub name: String,
    pub delimiter: u8,
    pub quote: u8,
    null: Vec<u8>,
    order: Option<Vec<usize>>,
    /// Lines before the first chunk (the header).
    pub lines_read: u64,
}

impl CsvSettings {
    /// A reader of `bytes`, whole records that start after `lines_before`
    /// lines of the input, so its errors name the input's line numbers.
    /// `structure` is the position lists of an earlier chunk's reader
    /// ([`ChunkReader::into_structure`]), reused rather than allocated
    /// again for each chunk.
    pub fn reader(
        &self,
        bytes: Vec<u8>,
        lines_before: u64,
        structure: Structure,
    ) -> ChunkReader<'_> {
        ChunkReader {
            settings: self,
            chunk: Some(bytes),
            len: 0,
            pos: 0,
            line: lines_before,
            utf8: false,
            scratch: Vec::new(),
            structure,
            scanning: false,
            next_end: 0,
            next_quoted_newline: 0,
            next_non_ascii: 0,
        }
    }
}

/// Bytes scanned for field ends at a time: small enough that a window is
/// still in the core's cache when its records are parsed (in tests, small
/// enough that short texts cross windows).
#[cfg(not(test))]
const SCAN_WINDOW: usize = 32 << 10;
#[cfg(test)]
const SCAN_WINDOW: usize = 128;

/// The records of one chunk, read in place: the chunk becomes the record's
/// buffer and fields are ranges of it (a quoted field with doubled quotes
/// is decoded after the chunk's end). Field ends come from a pass over
/// the chunk a window at a time ([`Structure::scan_more`]); from a window
/// that pass gives up on, the rest of the chunk is read record by record.
/// Records, NULLs and errors are exactly those of [`CsvReader`] either way.
pub struct ChunkReader<'a> {
    settings: &'a CsvSettings,
    chunk: Option<Vec<u8>>,
    /// The chunk's length in the record's buffer.
    len: usize,
    pos: usize,
    line: u64,
    /// Reading record by record: the rest of the chunk is UTF-8.
    utf8: bool,
    scratch: Vec<Option<(usize, usize)>>,
    structure: Structure,
    /// Field ends come from `structure` (else: record by record).
    scanning: bool,
    next_end: usize,
    next_quoted_newline: usize,
    next_non_ascii: usize,
}

impl ChunkReader<'_> {
    /// The position lists, for the next chunk's reader.
    pub fn into_structure(self) -> Structure {
        self.structure
    }

    /// The record at `self.pos` from the scanned field ends: (start of the
    /// next record, physical lines the record takes); None when the scan
    /// gave up before the record's end.
    fn split_scanned(&mut self, rec: &mut Record) -> Option<(usize, u64)> {
        let s = self.settings;
        let mut field = self.pos;
        let next = loop {
            let Some(&end) = self.structure.ends.get(self.next_end) else {
                if self.structure.scanned < self.len {
                    let chunk = &rec.buf[..self.len];
                    if !self
                        .structure
                        .scan_more(chunk, s.delimiter, s.quote, SCAN_WINDOW)
                    {
                        return None;
                    }
                    continue;
                }
                push_scanned(rec, field, self.len, s.quote, &s.null);
                break self.len;
            };
            self.next_end += 1;
            let end = end as usize;
            if rec.buf[end] == b'\n' {
                let content = if end > self.pos && rec.buf[end - 1] == b'\r' {
                    end - 1
                } else {
                    end
                };
                push_scanned(rec, field, content, s.quote, &s.null);
                break end + 1;
            }
            push_scanned(rec, field, end, s.quote, &s.null);
            field = end + 1;
        };
        let quoted = &self.structure.quoted_newlines;
        let mut lines = 1;
        while quoted
            .get(self.next_quoted_newline)
            .is_some_and(|&p| (p as usize) < next)
        {
            self.next_quoted_newline += 1;
            lines += 1;
        }
        rec.utf8_checked =
            !self.non_ascii_before(next) || std::str::from_utf8(&rec.buf[self.pos..next]).is_ok();
        Some((next, lines))
    }

    /// Does a block with a byte ≥ 0x80 overlap `self.pos..next`?
    fn non_ascii_before(&mut self, next: usize) -> bool {
        let blocks = &self.structure.non_ascii_blocks;
        while blocks
            .get(self.next_non_ascii)
            .is_some_and(|&b| b as usize + 64 <= self.pos)
        {
            self.next_non_ascii += 1;
        }
        blocks
            .get(self.next_non_ascii)
            .is_some_and(|&b| (b as usize) < next)
    }
}

/// Append the field `rec.buf[start..end]`, which [`Structure::scan_more`] found
/// well-formed: quoted (its quotes removed, doubled ones decoded after the
/// chunk's end), NULL, or plain.
fn push_scanned(rec: &mut Record, start: usize, end: usize, quote: u8, null: &[u8]) {
    if start < end && rec.buf[start] == quote {
        let (a, b) = (start + 1, end - 1);
        let Some(first) = memchr::memchr(quote, &rec.buf[a..b]) else {
            rec.fields.push(Some((a, b)));
            return;
        };
        let at = rec.buf.len();
        let mut piece = a;
        let mut q = a + first;
        loop {
            // `q` is the first of a doubled quote: keep one.
            rec.buf.extend_from_within(piece..q + 1);
            piece = q + 2;
            match memchr::memchr(quote, &rec.buf[piece..b]) {
                Some(off) => q = piece + off,
                None => break,
            }
        }
        rec.buf.extend_from_within(piece..b);
        rec.fields.push(Some((at, rec.buf.len())));
    } else {
        push_unquoted(rec, start, end, null);
    }
}

/// Append the unquoted field `rec.buf[start..end]`: NULL when it is the
/// NULL string, else the bytes as they are.
fn push_unquoted(rec: &mut Record, start: usize, end: usize, null: &[u8]) {
    // The empty NULL (CSV's default) without a call to bcmp.
    let is_null = if null.is_empty() {
        start == end
    } else {
        &rec.buf[start..end] == null
    };
    if is_null {
        rec.push_null();
    } else {
        rec.fields.push(Some((start, end)));
    }
}

impl RecordSource for ChunkReader<'_> {
    fn next_record(&mut self, rec: &mut Record) -> anyhow::Result<bool> {
        let s = self.settings;
        if let Some(chunk) = self.chunk.take() {
            rec.buf = chunk;
            self.len = rec.buf.len();
            self.scanning = self.structure.start(self.len, s.delimiter, s.quote);
            if !self.scanning {
                self.utf8 = std::str::from_utf8(&rec.buf).is_ok();
            }
        }
        rec.buf.truncate(self.len);
        rec.fields.clear();
        if self.pos >= self.len {
            return Ok(false);
        }
        let start_line = self.line + 1;
        rec.line = start_line;
        let scanned = if self.scanning {
            self.split_scanned(rec)
        } else {
            None
        };
        let (next, lines) = match scanned {
            Some(found) => found,
            None => {
                if self.scanning {
                    // The scan gave up inside this record: read it, and the
                    // rest of the chunk, record by record.
                    self.scanning = false;
                    rec.buf.truncate(self.len);
                    rec.fields.clear();
                    self.utf8 = std::str::from_utf8(&rec.buf[self.pos..]).is_ok();
                }
                rec.utf8_checked = self.utf8;
                let (end, next, lines) = record_end(&rec.buf[..self.len], self.pos, s.quote)
                    .ok_or_else(|| {
                        Failure::data(format!(
                            "{}:{start_line}: quoted field not closed before the end of the input",
                            s.name
                        ))
                    })?;
                split_in_place(rec, self.pos, end, s.delimiter, s.quote, &s.null)
                    .map_err(|msg| Failure::data(format!("{}:{start_line}: {msg}", s.name)))?;
                (next, lines)
            }
        };
        rec.raw_len = next - self.pos;
        self.pos = next;
        self.line += lines;
        if let Some(order) = &s.order {
            if rec.len() == order.len() {
                rec.reorder(order, &mut self.scratch);
            }
        }
        Ok(true)
    }
}

/// The record starting at `pos`: (end of its content without the line
/// end, start of the next record, physical lines it takes). None if a
/// quoted field is still open at the end of the chunk.
fn record_end(buf: &[u8], pos: usize, quote: u8) -> Option<(usize, usize, u64)> {
    let mut quotes = 0usize;
    let mut lines = 0u64;
    let mut from = pos;
    loop {
        let nl = memchr::memchr(b'\n', &buf[from..]).map(|off| from + off);
        let line_end = nl.unwrap_or(buf.len());
        quotes += memchr::memchr_iter(quote, &buf[from..line_end]).count();
        lines += 1;
        match nl {
            Some(n) if quotes.is_multiple_of(2) => {
                let end = if n > pos && buf[n - 1] == b'\r' {
                    n - 1
                } else {
                    n
                };
                return Some((end, n + 1, lines));
            }
            Some(n) => from = n + 1,
            None if quotes.is_multiple_of(2) => return Some((buf.len(), buf.len(), lines)),
            None => return None,
        }
    }
}

/// [`split_fields`] on `rec.buf[start..end]`, fields as ranges of it.
fn split_in_place(
    rec: &mut Record,
    start: usize,
    end: usize,
    delim: u8,
    quote: u8,
    null: &[u8],
) -> Result<(), String> {
    let mut i = start;
    loop {
        if i < end && rec.buf[i] == quote {
            let field_no = rec.len() + 1;
            i += 1;
            let mut decoded: Option<usize> = None;
            let mut piece = i;
            loop {
                let Some(off) = memchr::memchr(quote, &rec.buf[i..end]) else {
                    return Err(format!("field {field_no}: quoted field not closed"));
                };
                let close = i + off;
                i = close + 1;
                if i < end && rec.buf[i] == quote {
                    // A doubled quote: decode the field after the chunk.
                    decoded.get_or_insert(rec.buf.len());
                    rec.buf.extend_from_within(piece..close + 1);
                    i += 1;
                    piece = i;
                } else {
                    match decoded {
                        None => rec.fields.push(Some((piece, close))),
                        Some(at) => {
                            rec.buf.extend_from_within(piece..close);
                            rec.fields.push(Some((at, rec.buf.len())));
                        }
                    }
                    break;
                }
            }
            if i == end {
                return Ok(());
            }
            if rec.buf[i] != delim {
                return Err(format!(
                    "field {field_no}: unexpected character after a closing quote"
                ));
            }
            i += 1;
        } else {
            let stop = memchr::memchr(delim, &rec.buf[i..end]).map_or(end, |off| i + off);
            push_unquoted(rec, i, stop, null);
            if stop == end {
                return Ok(());
            }
            i = stop + 1;
        }
    }
}

impl CsvReader {
    fn next_raw(&mut self, rec: &mut Record) -> anyhow::Result<bool> {
        self.raw.clear();
        let start_line = self.line + 1;
        let mut quotes = 0usize;
        loop {
            let from = self.raw.len();
            let n = self
                .input
                .read_until(b'\n', &mut self.raw)
                .map_err(|e| read_error(&self.name, self.line, e))?;
            if n == 0 {
                if self.raw.is_empty() {
                    return Ok(false);
                }
                if quotes % 2 == 1 {
                    return Err(Failure::data(format!(
                        "{}:{start_line}: quoted field not closed before the end of the input",
                        self.name
                    )));
                }
                break;
            }
            self.line += 1;
            quotes += memchr::memchr_iter(self.quote, &self.raw[from..]).count();
            if quotes.is_multiple_of(2) {
                break;
            }
        }
        rec.clear();
        rec.line = start_line;
        rec.raw_len = self.raw.len();
        let mut end = self.raw.len();
        if end > 0 && self.raw[end - 1] == b'\n' {
            end -= 1;
            if end > 0 && self.raw[end - 1] == b'\r' {
                end -= 1;
            }
        }
        split_fields(
            &self.raw[..end],
            self.delimiter,
            self.quote,
            &self.null,
            rec,
        )
        .map_err(|msg| Failure::data(format!("{}:{start_line}: {msg}", self.name)))?;
        Ok(true)
    }
}

impl RecordSource for CsvReader {
    fn next_record(&mut self, rec: &mut Record) -> anyhow::Result<bool> {
        if !self.next_raw(rec)? {
            return Ok(false);
        }
        if let Some(order) = &self.order {
            if rec.len() == order.len() {
                rec.reorder(order, &mut self.scratch);
            }
        }
        Ok(true)
    }
}

fn split_fields(
    raw: &[u8],
    delim: u8,
    quote: u8,
    null: &[u8],
    rec: &mut Record,
) -> Result<(), String> {
    let mut i = 0;
    loop {
        if raw.get(i) == Some(&quote) {
            let field_no = rec.len() + 1;
            let start = rec.buf.len();
            i += 1;
            loop {
                match memchr::memchr(quote, &raw[i..]) {
                    None => return Err(format!("field {field_no}: quoted field not closed")),
                    Some(off) => {
                        rec.buf.extend_from_slice(&raw[i..i + off]);
                        i += off + 1;
                        if raw.get(i) == Some(&quote) {
                            rec.buf.push(quote);
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            rec.fields.push(Some((start, rec.buf.len())));
            match raw.get(i) {
                None => return Ok(()),
                Some(&c) if c == delim => i += 1,
                Some(_) => {
                    return Err(format!(
                        "field {field_no}: unexpected character after a closing quote"
                    ))
                }
            }
        } else {
            let end = memchr::memchr(delim, &raw[i..]).map_or(raw.len(), |off| i + off);
            let field = &raw[i..end];
            if field == null {
                rec.push_null();
            } else {
                rec.push(field);
            }
            if end == raw.len() {
                return Ok(());
            }
            i = end + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Vec<(u64, Vec<Option<String>>)> {
        let mut r = CsvReader::new(
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            "t.csv",
            b',',
            "",
        );
        let mut rec = Record::default();
        let mut out = Vec::new();
        while r.next_record(&mut rec).unwrap() {
            out.push((
                rec.line,
                (0..rec.len())
                    .map(|i| rec.field(i).unwrap().map(str::to_string))
                    .collect(),
            ));
        }
        out
    }

    #[test]
    fn quoting_nulls_and_newlines() {
        let got =
            records("1,,\"\",\"a,b\"\r\n2,\"x\"\"y\",\"l1\nl2\r\nl3\",NA\n3,NULL,\\N,\"\"\"\"");
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            got,
            [
                (1, vec![s("1"), None, s(""), s("a,b")]),
                (2, vec![s("2"), s("x\"y"), s("l1\nl2\r\nl3"), s("NA")]),
                (5, vec![s("3"), s("NULL"), s("\\N"), s("\"")]),
            ]
        );
    }

    /// Read `text` with the streaming reader and as one chunk, asserting
    /// the same records, lines and errors; returns whether the chunk's
    /// field ends came from the scan to the end.
    fn same_as_stream_reader(text: &[u8]) -> bool {
        let shown = String::from_utf8_lossy(text);
        let mut stream = CsvReader::new(
            Box::new(std::io::Cursor::new(text.to_vec())),
            "t.csv",
            b',',
            "",
        );
        let (_, settings) =
            CsvReader::new(Box::new(std::io::empty()), "t.csv", b',', "").into_parts();
        let mut chunk = settings.reader(text.to_vec(), 0, Structure::default());
        let (mut a, mut b) = (Record::default(), Record::default());
        loop {
            let (ra, rb) = (stream.next_record(&mut a), chunk.next_record(&mut b));
            match (ra, rb) {
                (Ok(x), Ok(y)) => {
                    assert_eq!(x, y, "{shown:?}");
                    if !x {
                        return chunk.scanning;
                    }
                    assert_eq!(a.line, b.line, "{shown:?}");
                    assert_eq!(a.raw_len, b.raw_len, "{shown:?}");
                    let fa: Vec<_> = (0..a.len()).map(|i| a.field(i)).collect();
                    let fb: Vec<_> = (0..b.len()).map(|i| b.field(i)).collect();
                    assert_eq!(fa, fb, "{shown:?}");
                }
                (Err(x), Err(y)) => {
                    assert_eq!(format!("{x:#}"), format!("{y:#}"), "{shown:?}");
                    return chunk.scanning;
                }
                (x, y) => panic!("{shown:?}: {:?} vs {:?}", x.is_ok(), y.is_ok()),
            }
        }
    }

    /// The in-place chunk reader gives exactly the records, lines and
    /// errors of the streaming one.
    #[test]
    fn chunk_reader_matches_the_stream_reader() {
        let texts = [
            "1,,\"\",\"a,b\"\r\n2,\"x\"\"y\",\"l1\nl2\r\nl3\",NA\n3,NULL,\\N,\"\"\"\"",
            "\n\na,\"\"\"q\"\"\"\n",
            "1,\"caf\u{e9}\",\"\u{e9}\"\"\u{e9}\"\n",
            "1,\"abc\n2,3\n",
            "\"a\"b,1\n",
        ];
        for text in texts {
            same_as_stream_reader(text.as_bytes());
        }
    }

    /// Random texts over the bytes that matter (delimiter, quote, line
    /// ends, non-ASCII and invalid UTF-8), across 64-byte blocks and scan
    /// windows: well-formed ones are read from the scan to the end, and
    /// every one exactly as the streaming reader reads it.
    #[test]
    fn chunk_reader_matches_the_stream_reader_on_random_text() {
        let mut next = crate::test_rng::below(0x9e37_79b9_7f4a_7c15);
        let (mut scanned, mut fell_back) = (0, 0);
        for case in 0..4000 {
            let mut text = Vec::new();
            if case % 2 == 0 {
                // Well-formed: fields plain, empty or quoted as PostgreSQL quotes them.
                for _ in 0..next(40) {
                    for f in 0..=next(6) {
                        if f > 0 {
                            text.push(b',');
                        }
                        match next(4) {
                            0 => {}
                            1 => text
                                .extend((0..next(30)).map(|_| b"ab9 \xc3\xa9"[next(6) as usize])),
                            _ => {
                                text.push(b'"');
                                for _ in 0..next(40) {
                                    match next(8) {
                                        0 => text.extend_from_slice(b"\"\""),
                                        1 => text.push(b'\n'),
                                        2 => text.extend_from_slice(b"\r\n"),
                                        3 => text.push(b','),
                                        _ => text.push(b'x'),
                                    }
                                }
                                text.push(b'"');
                            }
                        }
                    }
                    text.extend_from_slice(if next(3) == 0 { b"\r\n" } else { b"\n" });
                }
                if next(4) == 0 {
                    // The last record without its line end.
                    let cut = if text.ends_with(b"\r\n") { 2 } else { 1 };
                    text.truncate(text.len().saturating_sub(cut));
                }
                if case % 4 == 0 || text.is_empty() {
                    let shown = String::from_utf8_lossy(&text).into_owned();
                    assert!(same_as_stream_reader(&text), "{shown:?}");
                    scanned += 1;
                } else {
                    // One byte changed: mostly a stray quote or line end.
                    let at = next(text.len() as u64) as usize;
                    text[at] = b"\",\r\nx"[next(5) as usize];
                    if !same_as_stream_reader(&text) {
                        fell_back += 1;
                    }
                }
            } else {
                let alphabet = b",\"\n\rab\xc3\xa9\xff";
                text.extend((0..next(400)).map(|_| alphabet[next(alphabet.len() as u64) as usize]));
                if !same_as_stream_reader(&text) {
                    fell_back += 1;
                }
            }
        }
        assert!(
            scanned >= 1000,
            "only {scanned} texts were read from the scan"
        );
        assert!(
            fell_back > 1000,
            "only {fell_back} texts were read record by record"
        );
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let mut r = CsvReader::new(
            Box::new(std::io::Cursor::new(b"1,\"abc\n2,3\n".to_vec())),
            "t.csv",
            b',',
            "",
        );
        let err = r.next_record(&mut Record::default()).unwrap_err();
        assert!(
            format!("{err:#}").contains("t.csv:1: quoted field not closed"),
            "{err:#}"
        );
        let mut r = CsvReader::new(
            Box::new(std::io::Cursor::new(b"\"a\"b,1\n".to_vec())),
            "t.csv",
            b',',
            "",
        );
        let err = r.next_record(&mut Record::default()).unwrap_err();
        assert!(
            format!("{err:#}").contains("after a closing quote"),
            "{err:#}"
        );
    }
}
