//! A local directory as the destination (the embedded default for a
//! machine without S3), with the same key layout as S3. Every file is
//! written through `AtomicFile`, so a crash never leaves a half object.

use crate::options::Clobber;
use crate::payload::Payload;
use crate::s3::Stored;
use anyhow::{Context, Result};
use archive_core::atomic::AtomicFile;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

/// Put `payload` at `dir/key`, honouring the clobber mode. The copy is
/// hashed while written and compared with the payload's SHA-256.
pub fn store(dir: &Path, key: &str, payload: &Payload, clobber: Clobber) -> Result<Stored> {
    let dest = archive_core::naming::join_under(dir, key)?;
    if dest.exists() {
        match clobber {
            Clobber::Refuse => {
                return Ok(Stored {
                    skipped: true,
                    ..Stored::default()
                })
            }
            Clobber::Update => {
                let (_, existing) = archive_core::hash::sha256_file(&dest)?;
                if existing == payload.sha256 {
                    return Ok(Stored {
                        skipped: true,
                        checksum_sha256: Some(existing),
                        ..Stored::default()
                    });
                }
            }
            Clobber::Overwrite => {}
        }
    }
    let mut out = AtomicFile::create(&dest)?;
    let written = match &payload.small {
        Some(data) => {
            out.write_all(data)
                .with_context(|| format!("writing {}", dest.display()))?;
            archive_core::hash::sha256_hex(data)
        }
        None => copy_hashing(&payload.path, &mut out, &dest)?,
    };
    if written != payload.sha256 {
        anyhow::bail!(
            "{}: copied bytes hash to {written}, expected {} (source changed during the copy?)",
            dest.display(),
            payload.sha256
        );
    }
    out.commit()?;
    Ok(Stored {
        skipped: false,
        checksum_sha256: Some(written),
        ..Stored::default()
    })
}

fn copy_hashing(src: &Path, out: &mut impl Write, dest: &Path) -> Result<String> {
    let mut f = std::fs::File::open(src).with_context(|| format!("opening {}", src.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", src.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n])
            .with_context(|| format!("writing {}", dest.display()))?;
    }
    Ok(hex::encode(h.finalize()))
}
