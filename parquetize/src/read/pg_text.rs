//! PostgreSQL COPY text format: one record per line, fields separated by a
//! tab (or `--delimiter`), `\N` for NULL, and backslash escapes `\b \f \n
//! \r \t \v \\`, octal `\NNN`, hex `\xHH`; any other escaped character
//! stands for itself. A line `\.` ends the data (pg_dump's COPY blocks).

use super::record::{read_error, Record, RecordSource};
use archive_core::Failure;
use std::io::BufRead;

pub struct PgTextReader {
    input: Box<dyn BufRead + Send>,
    name: String,
    delimiter: u8,
    null: Vec<u8>,
    line: u64,
    raw: Vec<u8>,
}

impl PgTextReader {
    pub fn new(
        input: Box<dyn BufRead + Send>,
        name: &str,
        delimiter: u8,
        null: &str,
    ) -> PgTextReader {
        PgTextReader {
            input,
            name: name.to_string(),
            delimiter,
            null: null.as_bytes().to_vec(),
            line: 0,
            raw: Vec::with_capacity(4096),
        }
    }
}

impl RecordSource for PgTextReader {
    fn next_record(&mut self, rec: &mut Record) -> anyhow::Result<bool> {
        self.raw.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.raw)
            .map_err(|e| read_error(&self.name, self.line, e))?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.raw.last() == Some(&b'\n') {
            self.raw.pop();
        }
        if self.raw == b"\\." {
            return self.end_marker();
        }
        rec.clear();
        rec.line = self.line;
        rec.raw_len = n;
        split_fields(&self.raw, self.delimiter, &self.null, rec);
        Ok(true)
    }
}

impl PgTextReader {
    /// `\.` ends the data only as the last line: rows after it would be
    /// dropped silently, so they are an input data error.
    fn end_marker(&mut self) -> anyhow::Result<bool> {
        let marker_line = self.line;
        self.raw.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.raw)
            .map_err(|e| read_error(&self.name, self.line, e))?;
        if n == 0 {
            return Ok(false);
        }
        let shown: String = String::from_utf8_lossy(&self.raw)
            .trim_end_matches('\n')
            .chars()
            .take(120)
            .collect();
        Err(Failure::data(format!(
            "{}:{}: column 1: data after the end-of-data marker \\. of line {marker_line} \
             (it ends the data only as the last line): value {shown:?}",
            self.name,
            marker_line + 1
        )))
    }
}

/// Split one line into fields, decoding escapes into `rec`.
fn split_fields(line: &[u8], delim: u8, null: &[u8], rec: &mut Record) {
    let mut start = 0;
    let mut i = 0;
    let mut has_escape = false;
    loop {
        match memchr::memchr2(delim, b'\\', &line[i..]) {
            Some(off) if line[i + off] == b'\\' => {
                has_escape = true;
                // The escaped character never ends a field.
                i += off + 2;
                if i > line.len() {
                    i = line.len();
                }
            }
            found => {
                let end = match found {
                    Some(off) => i + off,
                    None => line.len(),
                };
                let field = &line[start..end];
                if field == null {
                    rec.push_null();
                } else if has_escape {
                    push_unescaped(field, rec);
                } else {
                    rec.push(field);
                }
                if found.is_none() {
                    return;
                }
                start = end + 1;
                i = start;
                has_escape = false;
            }
        }
    }
}

fn push_unescaped(field: &[u8], rec: &mut Record) {
    let start = rec.buf.len();
    let out = &mut rec.buf;
    let mut i = 0;
    while i < field.len() {
        let c = field[i];
        if c != b'\\' || i + 1 == field.len() {
            // A trailing lone backslash is kept as is (PostgreSQL would reject
            // the line; it cannot occur in COPY output).
            out.push(c);
            i += 1;
            continue;
        }
        let e = field[i + 1];
        i += 2;
        match e {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                let mut k = 0;
                while k < 2 && i < field.len() && (b'0'..=b'7').contains(&field[i]) {
                    v = v * 8 + (field[i] - b'0') as u32;
                    i += 1;
                    k += 1;
                }
                out.push(v as u8);
            }
            b'x' if i < field.len() && field[i].is_ascii_hexdigit() => {
                let mut v = (field[i] as char).to_digit(16).unwrap();
                i += 1;
                if i < field.len() && field[i].is_ascii_hexdigit() {
                    v = v * 16 + (field[i] as char).to_digit(16).unwrap();
                    i += 1;
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
    let end = rec.buf.len();
    rec.fields.push(Some((start, end)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Vec<Option<String>> {
        let mut rec = Record::default();
        split_fields(line.as_bytes(), b'\t', b"\\N", &mut rec);
        (0..rec.len())
            .map(|i| rec.field(i).unwrap().map(str::to_string))
            .collect()
    }

    #[test]
    fn escapes_and_nulls() {
        assert_eq!(
            fields("1\t\\N\t\t\\\\N\tx\\ty\\nz"),
            [
                Some("1".into()),
                None,
                Some("".into()),
                Some("\\N".into()),
                Some("x\ty\nz".into())
            ]
        );
        assert_eq!(
            fields("\\101\\x41\\x4g\\q\\r\\b\\f\\v"),
            [Some("AA\u{4}g q\r\u{8}\u{c}\u{b}".replace(' ', ""))]
        );
        assert_eq!(fields("caf\\303\\251"), [Some("café".into())]);
        assert_eq!(fields(""), [Some("".into())]);
        assert_eq!(fields("\t"), [Some("".into()), Some("".into())]);
    }

    #[test]
    fn escaped_delimiter() {
        let mut rec = Record::default();
        split_fields(b"a\\,b,c", b',', b"\\N", &mut rec);
        assert_eq!(rec.len(), 2);
        assert_eq!(rec.field(0).unwrap(), Some("a,b"));
    }
}
