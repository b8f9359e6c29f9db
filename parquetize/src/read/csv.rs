//! CSV as PostgreSQL writes it (`COPY ... WITH (FORMAT csv)`) and as other
//! tools do: quoted fields may hold delimiters, quotes (doubled) and line
//! breaks. NULL is an *unquoted* field equal to the NULL string (empty by
//! default), so `,,` is NULL while `,"",` is the empty string, exactly as
//! PostgreSQL distinguishes them. A record's line ending may be LF or CRLF.

use super::record::{read_error, Record, RecordSource};
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
    pub fn reader(&self, bytes: Vec<u8>, lines_before: u64) -> ChunkReader<'_> {
        ChunkReader {
            settings: self,
            chunk: Some(bytes),
            len: 0,
            pos: 0,
            line: lines_before,
            utf8: false,
            scratch: Vec::new(),
        }
    }
}

/// The records of one chunk, read in place: the chunk becomes the record's
/// buffer and fields are ranges of it (a quoted field with doubled quotes
/// is decoded after the chunk's end), UTF-8 checked once for the chunk.
/// Records, NULLs and errors are exactly those of [`CsvReader`].
pub struct ChunkReader<'a> {
    settings: &'a CsvSettings,
    chunk: Option<Vec<u8>>,
    /// The chunk's length in the record's buffer.
    len: usize,
    pos: usize,
    line: u64,
    utf8: bool,
    scratch: Vec<Option<(usize, usize)>>,
}

impl RecordSource for ChunkReader<'_> {
    fn next_record(&mut self, rec: &mut Record) -> anyhow::Result<bool> {
        if let Some(chunk) = self.chunk.take() {
            rec.buf = chunk;
            self.len = rec.buf.len();
            self.utf8 = std::str::from_utf8(&rec.buf).is_ok();
        }
        rec.buf.truncate(self.len);
        rec.fields.clear();
        if self.pos >= self.len {
            return Ok(false);
        }
        let s = self.settings;
        let start_line = self.line + 1;
        let (end, next, lines) =
            record_end(&rec.buf[..self.len], self.pos, s.quote).ok_or_else(|| {
                Failure::data(format!(
                    "{}:{start_line}: quoted field not closed before the end of the input",
                    s.name
                ))
            })?;
        rec.line = start_line;
        rec.raw_len = next - self.pos;
        rec.utf8_checked = self.utf8;
        split_in_place(rec, self.pos, end, s.delimiter, s.quote, &s.null)
            .map_err(|msg| Failure::data(format!("{}:{start_line}: {msg}", s.name)))?;
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
            // The empty NULL (CSV's default) without a call to bcmp.
            let is_null = if null.is_empty() {
                stop == i
            } else {
                &rec.buf[i..stop] == null
            };
            if is_null {
                rec.push_null();
            } else {
                rec.fields.push(Some((i, stop)));
            }
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
            let mut stream = CsvReader::new(
                Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
                "t.csv",
                b',',
                "",
            );
            let (_, settings) =
                CsvReader::new(Box::new(std::io::empty()), "t.csv", b',', "").into_parts();
            let mut chunk = settings.reader(text.as_bytes().to_vec(), 0);
            let (mut a, mut b) = (Record::default(), Record::default());
            loop {
                let (ra, rb) = (stream.next_record(&mut a), chunk.next_record(&mut b));
                match (ra, rb) {
                    (Ok(x), Ok(y)) => {
                        assert_eq!(x, y, "{text:?}");
                        if !x {
                            break;
                        }
                        assert_eq!(a.line, b.line, "{text:?}");
                        let fa: Vec<_> = (0..a.len()).map(|i| a.field(i).unwrap()).collect();
                        let fb: Vec<_> = (0..b.len()).map(|i| b.field(i).unwrap()).collect();
                        assert_eq!(fa, fb, "{text:?}");
                    }
                    (Err(x), Err(y)) => {
                        assert_eq!(format!("{x:#}"), format!("{y:#}"), "{text:?}");
                        break;
                    }
                    (x, y) => panic!("{text:?}: {:?} vs {:?}", x.is_ok(), y.is_ok()),
                }
            }
        }
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
