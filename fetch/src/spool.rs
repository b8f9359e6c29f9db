//! The conversation spool. The same conversation can come back on a later
//! page once it changed, and only its newest version may be written. Records
//! go to an anonymous temporary file as they stream in (memory holds only an
//! index of ids), and at the end of the run each id's newest version is
//! copied to stdout, in the order those versions arrived.

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;

#[derive(Debug, Clone, Copy)]
struct Entry {
    offset: u64,
    len: u64,
    time: Option<f64>,
}

/// What [`Spool::add`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    New,
    /// A newer (or equally new, later-sent) version replaced an earlier one.
    Replaced,
    /// An older version than the one already held; dropped.
    Stale,
}

pub struct Spool {
    file: BufWriter<File>,
    len: u64,
    index: HashMap<String, Entry>,
}

impl Spool {
    pub fn new() -> Result<Spool> {
        let f =
            tempfile::tempfile().context("creating the spool file in the temporary directory")?;
        Ok(Spool {
            file: BufWriter::with_capacity(1 << 20, f),
            len: 0,
            index: HashMap::new(),
        })
    }

    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// Keep `bytes` as the version of `id` unless a newer one is held. A
    /// later version with the same time wins: the API orders by update time,
    /// which `last_active_at` does not always reflect.
    pub fn add(&mut self, id: &str, time: Option<f64>, bytes: &[u8]) -> Result<Added> {
        let verdict = match self.index.get(id) {
            None => Added::New,
            Some(old) => match (old.time, time) {
                (Some(o), Some(n)) if n < o => return Ok(Added::Stale),
                _ => Added::Replaced,
            },
        };
        let offset = self.len;
        self.file
            .write_all(bytes)
            .context("writing the spool file")?;
        self.len += bytes.len() as u64;
        self.index.insert(
            id.to_string(),
            Entry {
                offset,
                len: bytes.len() as u64,
                time,
            },
        );
        Ok(verdict)
    }

    /// The held version of `id`.
    pub fn read(&mut self, id: &str) -> Result<Option<Vec<u8>>> {
        let Some(e) = self.index.get(id).copied() else {
            return Ok(None);
        };
        self.file.flush().context("writing the spool file")?;
        let mut buf = vec![0u8; e.len as usize];
        self.file
            .get_ref()
            .read_exact_at(&mut buf, e.offset)
            .context("reading the spool file")?;
        Ok(Some(buf))
    }

    /// (id, time) of every held record.
    pub fn times(&self) -> impl Iterator<Item = (&str, Option<f64>)> {
        self.index.iter().map(|(k, e)| (k.as_str(), e.time))
    }

    /// Write each held record once, newest version, in arrival order.
    /// Returns the number of records written.
    pub fn drain_to(&mut self, mut write: impl FnMut(&[u8]) -> Result<()>) -> Result<u64> {
        self.file.flush().context("writing the spool file")?;
        let mut entries: Vec<Entry> = self.index.values().copied().collect();
        entries.sort_by_key(|e| e.offset);
        let mut buf = Vec::new();
        for e in &entries {
            buf.resize(e.len as usize, 0);
            self.file
                .get_ref()
                .read_exact_at(&mut buf, e.offset)
                .context("reading the spool file")?;
            write(&buf)?;
        }
        Ok(entries.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_version_once_in_arrival_order() {
        let mut s = Spool::new().unwrap();
        assert_eq!(s.add("a", Some(1.0), b"a1").unwrap(), Added::New);
        assert_eq!(s.add("b", Some(5.0), b"b5").unwrap(), Added::New);
        assert_eq!(s.add("c", None, b"c").unwrap(), Added::New);
        assert_eq!(s.add("a", Some(3.0), b"a3").unwrap(), Added::Replaced);
        assert_eq!(s.add("b", Some(4.0), b"b4").unwrap(), Added::Stale);
        assert_eq!(s.add("c", None, b"c'").unwrap(), Added::Replaced);
        assert_eq!(s.read("a").unwrap().unwrap(), b"a3");
        let mut out = Vec::new();
        let n = s
            .drain_to(|r| {
                out.push(String::from_utf8(r.to_vec()).unwrap());
                Ok(())
            })
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(out, ["b5", "a3", "c'"]);
    }
}
