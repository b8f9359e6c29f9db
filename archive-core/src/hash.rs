//! SHA-256 of files and byte streams, lowercase hex, as every manifest and
//! object line carries. sha2 uses the CPU's SHA extensions when present.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// Read buffer size: large enough that syscalls do not dominate.
const BUF: usize = 256 * 1024;

/// Hash a whole reader; returns (bytes read, lowercase hex digest).
pub fn sha256_reader(mut r: impl Read) -> std::io::Result<(u64, String)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, digest_hex(&h.finalize().into())))
}

/// Hash a file; returns (size in bytes, lowercase hex digest).
pub fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    sha256_reader(f).with_context(|| format!("reading {}", path.display()))
}

/// Hash a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    digest_hex(&Sha256::digest(bytes).into())
}

/// Lowercase hex of a SHA-256 digest. (`hex::encode` builds its string a
/// `char` at a time, which was 15 % of manifest's last, single-threaded
/// phase on 100,000 files.)
pub fn digest_hex(d: &[u8; 32]) -> String {
    let mut buf = [0u8; 64];
    hex::encode_to_slice(d, &mut buf).expect("64 bytes hold 32 in hex");
    String::from_utf8(buf.to_vec()).expect("hex digits are ASCII")
}

/// A writer that counts and hashes every byte on its way to `inner`: the
/// one way any tool learns the SHA-256 of what it wrote without reading it
/// back.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The writer underneath (for flushing or syncing it).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The writer back, with the byte count and the lowercase hex digest.
    pub fn finish(self) -> (W, u64, String) {
        (
            self.inner,
            self.bytes,
            digest_hex(&self.hasher.finalize().into()),
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashing_writer_matches_the_digest() {
        use std::io::Write;
        let mut w = super::HashingWriter::new(Vec::new());
        w.write_all(b"a").unwrap();
        w.write_all(b"bc").unwrap();
        let (inner, n, h) = w.finish();
        assert_eq!((inner.as_slice(), n), (&b"abc"[..], 3));
        assert_eq!(h, super::sha256_hex(b"abc"));
    }

    #[test]
    fn known_digest() {
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (n, h) = super::sha256_reader(&b"abc"[..]).unwrap();
        assert_eq!(
            (n, h.as_str()),
            (
                3,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            )
        );
    }
}
