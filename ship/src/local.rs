//! A local directory as the destination (the embedded default for a
//! machine without S3), with the same key layout as S3. Every file is
//! written atomically under a temporary name carrying ship's pid, and
//! nothing is written through a symlink found inside the directory
//! (`fsafe`).

use crate::fsafe::{self, Kind};
use crate::model::{Clobber, Existing, Put, Stored};
use crate::payload::Payload;
use anyhow::{Context, Result};
use archive_core::hash::HashingWriter;
use std::io::Write;
use std::path::Path;

/// Put `payload` at `dir/key`, honouring the clobber mode. The copy is
/// hashed while written and compared with the payload's SHA-256. An
/// existing file is hashed, so a changed one is told from an identical one.
pub fn store(dir: &Path, key: &str, payload: &Payload, clobber: Clobber) -> Result<Put> {
    archive_core::lines::check_relative(key)
        .with_context(|| format!("refusing to write outside {}", dir.display()))?;
    match fsafe::kind(dir, key)? {
        Kind::Missing => {}
        Kind::Symlink => return Err(std::io::Error::other(fsafe::Symlink(key.into())).into()),
        Kind::Other => anyhow::bail!(
            "{}: exists and is not a regular file",
            dir.join(key).display()
        ),
        Kind::File if clobber == Clobber::Overwrite => {}
        Kind::File => {
            let f = fsafe::open_file(dir, key)?;
            let (_, sha) = archive_core::hash::sha256_reader(f)
                .with_context(|| format!("reading {}", dir.join(key).display()))?;
            if clobber == Clobber::Refuse || sha == payload.sha256 {
                return Ok(Put::Exists(Existing {
                    sha256: Some(sha.clone()),
                    source_sha256: Some(sha),
                    ..Existing::default()
                }));
            }
        }
    }
    let mut written = String::new();
    fsafe::write_atomic(dir, key, |f| {
        let mut w = HashingWriter::new(f);
        match &payload.small {
            Some(data) => w.write_all(data).context("writing")?,
            None => {
                let mut src = std::fs::File::open(&payload.path)
                    .with_context(|| format!("opening {}", payload.path.display()))?;
                std::io::copy(&mut src, &mut w).context("copying")?;
            }
        }
        written = w.finish().2;
        if written != payload.sha256 {
            anyhow::bail!(
                "copied bytes hash to {written}, expected {} (source changed during the copy?)",
                payload.sha256
            );
        }
        Ok(())
    })?;
    Ok(Put::Written(Stored {
        checksum_sha256: Some(written),
        ..Stored::default()
    }))
}
