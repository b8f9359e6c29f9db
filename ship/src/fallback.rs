//! Where files go when S3 cannot be reached (its attempts used up): a directory
//! (same keys as in the bucket) or one ZIP file, so nothing is lost and a
//! later `ship --drain` can upload them. Each file is recorded with the time
//! it was spooled and its SHA-256 (`spool.rs`), so the drain never puts an
//! old copy over a newer object.

use crate::model::Clobber;
use crate::payload::Payload;
use crate::spool::Record;
use anyhow::{Context, Result};
use archive_core::atomic::AtomicFile;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zip::write::SimpleFileOptions;

pub enum Fallback {
    Dir(PathBuf),
    Zip(Box<Mutex<ZipFallback>>),
}

pub struct ZipFallback {
    path: PathBuf,
    /// Created on the first fallback, so a run without one leaves no file.
    writer: Option<(zip::ZipWriter<std::fs::File>, AtomicFile)>,
    entries: usize,
}

impl Fallback {
    pub fn zip(path: PathBuf) -> Fallback {
        Fallback::Zip(Box::new(Mutex::new(ZipFallback {
            path,
            writer: None,
            entries: 0,
        })))
    }

    /// Keep `payload` under `key`; returns where it went, for the object line.
    pub fn keep(&self, key: &str, payload: &Payload) -> Result<String> {
        let record = Record {
            key: key.to_string(),
            bytes: payload.bytes,
            sha256: payload.sha256.clone(),
            source_sha256: payload.source_sha256.clone(),
            spooled_at: chrono::Utc::now(),
        };
        match self {
            Fallback::Dir(dir) => {
                crate::local::store(dir, key, payload, Clobber::Overwrite)?;
                record.save(dir)?;
                let p = dir.join(key);
                Ok(format!(
                    "file://{}",
                    std::path::absolute(&p).unwrap_or(p).display()
                ))
            }
            Fallback::Zip(z) => {
                let mut z = z.lock().unwrap_or_else(|e| e.into_inner());
                z.add(key, payload, &record)?;
                Ok(format!(
                    "zip://{}#{key}",
                    std::path::absolute(&z.path)
                        .unwrap_or_else(|_| z.path.clone())
                        .display()
                ))
            }
        }
    }

    /// Finish the ZIP (central directory, fsync, rename into place).
    pub fn finish(self) -> Result<()> {
        if let Fallback::Zip(z) = self {
            let z = z.into_inner().unwrap_or_else(|e| e.into_inner());
            if let Some((writer, atomic)) = z.writer {
                let mut file = writer
                    .finish()
                    .with_context(|| format!("finishing {}", z.path.display()))?;
                file.flush()?;
                drop(file);
                atomic.commit()?;
                eprintln!("ship: {} file(s) kept in {}", z.entries, z.path.display());
            }
        }
        Ok(())
    }
}

impl ZipFallback {
    fn add(&mut self, key: &str, payload: &Payload, record: &Record) -> Result<()> {
        if self.writer.is_none() {
            let mut atomic = AtomicFile::create(&self.path)?;
            let file = atomic
                .file()
                .try_clone()
                .with_context(|| format!("opening {}", self.path.display()))?;
            self.writer = Some((zip::ZipWriter::new(file), atomic));
        }
        let (w, _) = self.writer.as_mut().expect("created above");
        // Stored, not deflated: archives are usually compressed already, and
        // large_file keeps entries over 4 GiB valid.
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(payload.bytes >= u32::MAX as u64);
        w.start_file(key, opts)
            .with_context(|| format!("adding {key} to {}", self.path.display()))?;
        match &payload.small {
            Some(data) => w.write_all(data)?,
            None => {
                let mut f = std::fs::File::open(&payload.path)
                    .with_context(|| format!("opening {}", payload.path.display()))?;
                std::io::copy(&mut f, w)
                    .with_context(|| format!("writing {}", self.path.display()))?;
            }
        }
        w.start_file(Record::rel(key), SimpleFileOptions::default())
            .with_context(|| format!("adding the record of {key} to {}", self.path.display()))?;
        w.write_all(&record.to_bytes())?;
        self.entries += 1;
        Ok(())
    }
}

/// Unpack a fallback ZIP into `dir` for draining.
pub fn unzip(zip_path: &Path, dir: &Path) -> Result<()> {
    let f =
        std::fs::File::open(zip_path).with_context(|| format!("opening {}", zip_path.display()))?;
    let mut archive = zip::ZipArchive::new(f)
        .with_context(|| format!("{}: not a ZIP file", zip_path.display()))?;
    archive
        .extract(dir)
        .with_context(|| format!("unpacking {}", zip_path.display()))
}
