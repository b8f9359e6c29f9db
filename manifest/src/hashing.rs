//! SHA-256 of files, as fast as the machine allows: many files are hashed
//! on all cores (rayon), and one large file is read on a second thread
//! while the first hashes, so the copy out of the page cache overlaps the
//! SHA-NI rounds instead of adding to them.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Files at least this large are read ahead on a separate thread.
const PIPELINE_THRESHOLD: u64 = 32 * 1024 * 1024;
/// Buffer for small files: one read usually takes the whole file.
const SMALL_BUF: usize = 256 * 1024;
/// Chunk size of the read-ahead pipeline.
const CHUNK: usize = 4 * 1024 * 1024;
/// Chunks in flight between reader and hasher.
const CHUNKS: usize = 3;

/// Size and lowercase hex SHA-256 of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digested {
    pub bytes: u64,
    pub sha256: String,
}

/// Size and raw SHA-256 of a file: what the manifest writer keeps per file.
pub type RawDigest = (u64, [u8; 32]);

thread_local! {
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; SMALL_BUF]);
}

/// Hash one file; large files use the read-ahead pipeline.
pub fn hash_file(path: &Path) -> Result<Digested> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("reading metadata of {}", path.display()))?
        .len();
    // To the end, however long: nothing checks the size afterwards here.
    let (bytes, d) = hash_sized(&file, len, u64::MAX, None)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(Digested {
        bytes,
        sha256: crate::model::hex(&d),
    })
}

/// Hash a file already opened, whose size (from fstat) is `len`: a small
/// one only up to `len` bytes, so the caller must stat it afterwards to
/// learn whether it grew. Bytes hashed are added to `progress` as they
/// go, so a bar moves during one large file too.
pub fn hash_open(file: &File, len: u64, progress: Option<&AtomicU64>) -> io::Result<RawDigest> {
    hash_sized(file, len, len, progress)
}

/// A file of size `len` through the read-ahead pipeline when it is large
/// (always to its end), else with one buffer, reading at most `limit`.
fn hash_sized(
    file: &File,
    len: u64,
    limit: u64,
    progress: Option<&AtomicU64>,
) -> io::Result<RawDigest> {
    if len >= PIPELINE_THRESHOLD {
        hash_pipelined(file, progress)
    } else {
        BUF.with(|b| hash_sequential(file, limit, &mut b.borrow_mut(), progress))
    }
}

/// Read and hash until end of file or `len` bytes, whichever comes first:
/// stopping at `len` saves the read that would only find the end (one of
/// two system calls per small file). A file that grew since its size was
/// taken is found by the caller's stat after reading, as is one that
/// shrank (fewer bytes than `len`).
fn hash_sequential(
    mut r: impl Read,
    len: u64,
    buf: &mut [u8],
    progress: Option<&AtomicU64>,
) -> io::Result<RawDigest> {
    let mut h = Sha256::new();
    let mut total = 0u64;
    while total < len {
        let want = buf
            .len()
            .min(usize::try_from(len - total).unwrap_or(usize::MAX));
        match r.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => {
                h.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    if let Some(p) = progress {
        p.fetch_add(total, Ordering::Relaxed);
    }
    Ok((total, h.finalize().into()))
}

/// Reader thread fills chunks, this thread hashes them; empty chunks travel
/// back so only `CHUNKS` buffers ever exist.
fn hash_pipelined(file: &File, progress: Option<&AtomicU64>) -> io::Result<RawDigest> {
    let (full_tx, full_rx) = crossbeam_channel::bounded::<io::Result<(Vec<u8>, usize)>>(CHUNKS);
    let (empty_tx, empty_rx) = crossbeam_channel::bounded::<Vec<u8>>(CHUNKS);
    for _ in 0..CHUNKS {
        empty_tx.send(vec![0u8; CHUNK]).expect("channel open");
    }
    std::thread::scope(|s| {
        s.spawn(move || {
            while let Ok(mut buf) = empty_rx.recv() {
                let filled = fill(file, &mut buf);
                let done = matches!(filled, Ok(0) | Err(_));
                if full_tx.send(filled.map(|n| (buf, n))).is_err() || done {
                    return;
                }
            }
        });
        let mut h = Sha256::new();
        let mut total = 0u64;
        loop {
            let (buf, n) = full_rx.recv().expect("reader sends until end")?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            total += n as u64;
            if let Some(p) = progress {
                p.fetch_add(n as u64, Ordering::Relaxed);
            }
            // The reader may already have stopped; a failed send is fine then.
            let _ = empty_tx.send(buf);
        }
        Ok((total, h.finalize().into()))
    })
}

/// Read until the buffer is full or the file ends.
fn fill(mut file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn an_open_file_is_hashed_to_its_stat_size_a_path_to_its_end() {
        // hash_open trusts the size it is given (its caller stats the file
        // again afterwards); hash_file has no such check and reads it all.
        let p = std::env::temp_dir().join(format!("manifest-len-{}", std::process::id()));
        std::fs::write(&p, b"0123456789").unwrap();
        let f = File::open(&p).unwrap();
        let (n, d) = hash_open(&f, 4, None).unwrap();
        assert_eq!(
            (n, hex::encode(d)),
            (4, archive_core::hash::sha256_hex(b"0123"))
        );
        let whole = hash_file(&p).unwrap();
        assert_eq!(whole.bytes, 10);
        assert_eq!(whole.sha256, archive_core::hash::sha256_hex(b"0123456789"));
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn pipelined_equals_sequential() {
        let dir = std::env::temp_dir().join(format!("manifest-hash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("big.bin");
        let mut f = File::create(&p).unwrap();
        // Not a multiple of the chunk size, so the last chunk is partial.
        let block: Vec<u8> = (0..1_000_003u32).map(|i| (i * 31 % 251) as u8).collect();
        for _ in 0..40 {
            f.write_all(&block).unwrap();
        }
        drop(f);
        let progress = AtomicU64::new(0);
        let piped = hash_pipelined(&File::open(&p).unwrap(), Some(&progress)).unwrap();
        let seq = archive_core::hash::sha256_file(&p).unwrap();
        assert_eq!((piped.0, hex::encode(piped.1)), seq);
        assert_eq!(progress.load(Ordering::Relaxed), piped.0);
        let whole = hash_file(&p).unwrap();
        assert_eq!((whole.bytes, whole.sha256), seq);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
