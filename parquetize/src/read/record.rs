//! The record every reader yields, the trait they implement, and how a read
//! error is reported: the pieces the readers share, kept here so that the
//! readers and their parent module import them from one leaf.

use archive_core::Failure;

/// One record: decoded field bytes in `buf`, each field a range of it or
/// `None` for NULL.
#[derive(Default)]
pub struct Record {
    /// Input line on which the record starts (1-based).
    pub line: u64,
    /// Bytes of input the record took, for batch sizing.
    pub raw_len: usize,
    pub buf: Vec<u8>,
    pub fields: Vec<Option<(usize, usize)>>,
    /// The reader checked that the bytes its fields were cut from are UTF-8
    /// and cut them only at ASCII bytes, so each field is UTF-8 without
    /// checking it again.
    pub utf8_checked: bool,
}

impl Record {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.fields.clear();
        self.utf8_checked = false;
    }

    /// Append a decoded field.
    pub fn push(&mut self, bytes: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        self.fields.push(Some((start, self.buf.len())));
    }

    pub fn push_null(&mut self) {
        self.fields.push(None);
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Field `i` as text, `None` for NULL; an error if it is not UTF-8.
    pub fn field(&self, i: usize) -> Result<Option<&str>, String> {
        match self.fields[i] {
            None => Ok(None),
            // SAFETY: `utf8_checked` says the range of `buf` the fields were
            // cut from was valid UTF-8 and fields begin and end at ASCII bytes (delimiters, quotes,
            // line ends) or are copies of such ranges, so each is UTF-8.
            Some((a, b)) if self.utf8_checked => Ok(Some(unsafe {
                std::str::from_utf8_unchecked(&self.buf[a..b])
            })),
            Some((a, b)) => std::str::from_utf8(&self.buf[a..b]).map(Some).map_err(|e| {
                format!(
                    "not valid UTF-8 (byte {} of the value)",
                    e.valid_up_to() + 1
                )
            }),
        }
    }

    /// Put the fields in schema order: `order[col]` is the input position.
    pub fn reorder(&mut self, order: &[usize], scratch: &mut Vec<Option<(usize, usize)>>) {
        scratch.clear();
        scratch.extend(order.iter().map(|&k| self.fields[k]));
        std::mem::swap(&mut self.fields, scratch);
    }
}

/// Something that yields records.
pub trait RecordSource: Send {
    /// Fill `rec` with the next record; false at the end of the input.
    fn next_record(&mut self, rec: &mut Record) -> anyhow::Result<bool>;
}

/// A read error: for compressed input almost always truncation or
/// corruption, which is an input data error (exit 3); a signal while
/// waiting for input is an interruption (exit 130).
pub fn read_error(input: &str, line: u64, e: std::io::Error) -> anyhow::Error {
    if crate::interrupt::is_interrupt(&e) {
        return anyhow::Error::new(Failure::Interrupted);
    }
    let hint = match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::InvalidInput
        | std::io::ErrorKind::InvalidData => " (truncated or corrupt compressed input)",
        _ => "",
    };
    Failure::data(format!("{input}: reading after line {line}: {e}{hint}"))
}
