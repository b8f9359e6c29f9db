//! `--identity FILE`: the age identities that open an archive shipped with
//! `ship --encrypt-to`, for its manifests (read whole) and, with
//! `--download`, for each object's plaintext (decrypted on a thread of its
//! own while the ciphertext streams in, so memory stays bounded).

use anyhow::Result;
use archive_core::Failure;
use futures::channel::{mpsc, oneshot};
use futures::{SinkExt, StreamExt};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The identity file, kept as text: age's identities are not `Send`, so
/// each decryption parses its own.
#[derive(Clone)]
pub struct Keys {
    path: PathBuf,
    text: String,
}

impl Keys {
    /// Read and check an identity file (age-keygen's format). A file that
    /// is not one is a usage error.
    pub fn load(path: &Path) -> Result<Keys> {
        let bad = |e: &dyn std::fmt::Display| {
            Failure::usage(format!("--identity {}: {e}", path.display()))
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(&e))?;
        let keys = Keys {
            path: path.to_path_buf(),
            text,
        };
        let ids = keys.identities().map_err(|e| bad(&e))?;
        if ids.is_empty() {
            return Err(bad(&"no age identity in it"));
        }
        Ok(keys)
    }

    fn identities(&self) -> Result<Vec<Box<dyn age::Identity>>> {
        let file = age::IdentityFile::from_buffer(self.text.as_bytes())?;
        Ok(file.into_identities()?)
    }

    /// A reader of the plaintext of `cipher`. No matching identity is a
    /// usage error (exit 2); ciphertext that is not age, or does not
    /// authenticate, is a data error.
    pub fn reader<'a, R: Read + 'a>(&self, cipher: R) -> Result<Box<dyn Read + 'a>> {
        let ids = self.identities()?;
        let d = age::Decryptor::new(cipher)
            .map_err(|e| Failure::data(format!("not age ciphertext: {e}")))?;
        let r = d
            .decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => Failure::usage(format!(
                    "--identity {} does not open it: {e}",
                    self.path.display()
                )),
                other => Failure::data(format!("it does not decrypt: {other}")),
            })?;
        Ok(Box::new(r))
    }

    /// Decrypt a small object whole (a manifest, a signature).
    pub fn decrypt(&self, cipher: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.reader(cipher)?
            .read_to_end(&mut out)
            .map_err(|e| Failure::data(format!("it does not decrypt: {e}")))?;
        Ok(out)
    }
}

/// Decrypts and hashes what it is fed, on a thread of its own.
pub struct PlainHasher {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    done: oneshot::Receiver<Result<(u64, String), String>>,
}

impl PlainHasher {
    pub fn start(keys: &Keys) -> PlainHasher {
        let (tx, rx) = mpsc::channel::<Vec<u8>>(4);
        let (done_tx, done) = oneshot::channel();
        let keys = keys.clone();
        std::thread::spawn(move || {
            let input = ChannelReader {
                rx,
                buf: Vec::new(),
                pos: 0,
            };
            let result = keys
                .reader(input)
                .and_then(|r| Ok(archive_core::hash::sha256_reader(r)?))
                .map_err(|e| format!("{e:#}"));
            let _ = done_tx.send(result);
        });
        PlainHasher { tx: Some(tx), done }
    }

    /// The next piece of ciphertext. After a decryption error the rest is
    /// dropped (the ciphertext is still hashed by the caller).
    pub async fn feed(&mut self, chunk: &[u8]) {
        if let Some(tx) = self.tx.as_mut() {
            if tx.send(chunk.to_vec()).await.is_err() {
                self.tx = None;
            }
        }
    }

    /// The plaintext's size and SHA-256, or why it did not decrypt.
    pub async fn finish(mut self) -> Result<(u64, String), String> {
        self.tx = None;
        self.done
            .await
            .unwrap_or_else(|_| Err("the decryption thread stopped".into()))
    }
}

/// The receiving end of the channel as a `Read`.
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            match futures::executor::block_on(self.rx.next()) {
                Some(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
