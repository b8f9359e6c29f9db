//! Standard input and output as the tools use them: `-` or no path means
//! stdin/stdout, gzip and zstd input is recognised by its magic bytes, and stdout is
//! block-buffered with a closed pipe treated as a normal end.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

/// A compression format recognised by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compressed {
    Gzip,
    Zstd,
}

impl Compressed {
    /// The format whose magic bytes `first` starts with, if any.
    pub fn detect(first: &[u8]) -> Option<Compressed> {
        if first.starts_with(&[0x1f, 0x8b]) {
            Some(Compressed::Gzip)
        } else if first.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compressed::Zstd)
        } else {
            None
        }
    }
}

/// `reader`, decompressed if its first bytes say gzip or zstd.
pub fn decoder<'a, R: BufRead + Send + 'a>(mut reader: R) -> Result<Box<dyn BufRead + Send + 'a>> {
    let first = reader.fill_buf().context("reading input")?;
    Ok(match Compressed::detect(first) {
        Some(Compressed::Gzip) => Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::bufread::MultiGzDecoder::new(reader),
        )),
        Some(Compressed::Zstd) => Box::new(BufReader::with_capacity(
            256 * 1024,
            zstd::stream::read::Decoder::with_buffer(reader).context("reading zstd input")?,
        )),
        None => Box::new(reader),
    })
}

/// Open `path` (or stdin for `-`/None) for buffered reading. Gzip and zstd
/// inputs are decompressed transparently, recognised by their magic bytes.
pub fn open_input(path: Option<&Path>) -> Result<Box<dyn BufRead + Send>> {
    let raw: Box<dyn Read + Send> = match path {
        None => Box::new(io::stdin()),
        Some(p) if p.as_os_str() == "-" => Box::new(io::stdin()),
        Some(p) => Box::new(File::open(p).with_context(|| format!("opening {}", p.display()))?),
    };
    decoder(BufReader::with_capacity(256 * 1024, raw))
}

/// Human name of an input for error messages: the path, or `stdin`.
pub fn input_name(path: Option<&Path>) -> String {
    match path {
        None => "stdin".into(),
        Some(p) if p.as_os_str() == "-" => "stdin".into(),
        Some(p) => p.display().to_string(),
    }
}

/// Buffered stdout for NDJSON lines. Errors keep their `io::Error` so a
/// closed pipe maps to exit 0 (see [`crate::exit::exit_code`]).
pub struct LineOut {
    out: io::BufWriter<io::Stdout>,
}

impl Default for LineOut {
    fn default() -> Self {
        Self::new()
    }
}

impl LineOut {
    pub fn new() -> LineOut {
        LineOut {
            out: io::BufWriter::with_capacity(64 * 1024, io::stdout()),
        }
    }

    /// Write one line (a newline is added).
    pub fn line(&mut self, s: &str) -> io::Result<()> {
        self.out.write_all(s.as_bytes())?;
        self.out.write_all(b"\n")
    }

    /// Serialise `v` as one line.
    pub fn json<T: serde::Serialize>(&mut self, v: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, v).map_err(io::Error::other)?;
        self.out.write_all(b"\n")
    }

    /// Raw bytes of a line that already ends in `\n` or not.
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        if !bytes.ends_with(b"\n") {
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Is stderr a terminal (progress bars show only then)?
pub fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal;
    io::stderr().is_terminal()
}
