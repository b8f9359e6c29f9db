//! Client-side encryption with age (age-encryption.org/v1), so an archive
//! can be decrypted years later with the standard `age` tool and the
//! matching identity. Objects get a `.age` suffix.

use anyhow::{Context, Result};
use archive_core::Failure;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

/// The recipients every object is encrypted to.
#[derive(Clone)]
pub struct Recipients(Vec<age::x25519::Recipient>);

impl Recipients {
    /// Parse `age1…` public keys (one per `--encrypt-to`).
    pub fn parse(keys: &[String]) -> Result<Recipients> {
        let mut out = Vec::new();
        for k in keys {
            let r = age::x25519::Recipient::from_str(k.trim()).map_err(|e| {
                Failure::usage(format!("--encrypt-to {k:?}: not an age recipient: {e}"))
            })?;
            out.push(r);
        }
        Ok(Recipients(out))
    }

    /// Encrypt `src` into `dest` (any writer); returns the ciphertext's
    /// (bytes, SHA-256 hex) and the plaintext's (bytes, SHA-256 hex), so the
    /// caller can check the plaintext against its file line in the same pass.
    pub fn encrypt_file(
        &self,
        src: &Path,
        dest: impl Write,
    ) -> Result<((u64, String), (u64, String))> {
        let encryptor =
            age::Encryptor::with_recipients(self.0.iter().map(|r| r as &dyn age::Recipient))
                .context("setting up age encryption")?;
        let mut counted = HashingWriter::new(dest);
        let mut w = encryptor
            .wrap_output(&mut counted)
            .context("starting age encryption")?;
        let mut input =
            std::fs::File::open(src).with_context(|| format!("opening {}", src.display()))?;
        let mut plain = Sha256::new();
        let mut plain_bytes = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = input
                .read(&mut buf)
                .with_context(|| format!("reading {}", src.display()))?;
            if n == 0 {
                break;
            }
            plain.update(&buf[..n]);
            plain_bytes += n as u64;
            w.write_all(&buf[..n]).context("writing ciphertext")?;
        }
        w.finish().context("finishing age encryption")?;
        counted.inner.flush().context("writing ciphertext")?;
        Ok((
            (counted.bytes, hex::encode(counted.hash.finalize())),
            (plain_bytes, hex::encode(plain.finalize())),
        ))
    }
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hash: Sha256::new(),
            bytes: 0,
        }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
