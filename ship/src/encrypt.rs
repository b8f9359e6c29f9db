//! Client-side encryption with age (age-encryption.org/v1), so an archive
//! can be decrypted years later with the standard `age` tool and the
//! matching identity. Objects get a `.age` suffix.

use anyhow::{Context, Result};
use archive_core::hash::HashingWriter;
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

    /// Encrypt the opened file `input` (named `src` in messages) into `dest`
    /// (any writer); returns the ciphertext's (bytes, SHA-256 hex) and the
    /// plaintext's (bytes, SHA-256 hex), so the caller can check the
    /// plaintext against its file line in the same pass.
    pub fn encrypt_file(
        &self,
        input: &mut std::fs::File,
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
        counted.get_mut().flush().context("writing ciphertext")?;
        let (_, cipher_bytes, cipher_sha) = counted.finish();
        Ok((
            (cipher_bytes, cipher_sha),
            (plain_bytes, hex::encode(plain.finalize())),
        ))
    }
}
