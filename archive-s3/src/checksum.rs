//! S3's SHA-256 checksums: the base64 form headers use, the composite
//! checksum of a multipart upload (SHA-256 over the concatenated binary part
//! digests, `-<parts>` appended), and reading back what a server stored.
//!
//! Servers differ on the suffix: AWS returns `…=-3` for a three-part upload,
//! some S3-compatible servers (moto among them) return the digest of digests
//! without `-3`. [`Stored::interpret`] uses the ETag's `-N` to tell a
//! composite from a whole-object checksum when the suffix is missing.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Hex SHA-256 → the base64 form S3 headers use. None when not hex.
pub fn b64(hex_digest: &str) -> Option<String> {
    hex::decode(hex_digest).ok().map(|raw| STANDARD.encode(raw))
}

/// Base64 → lowercase hex. None when not base64.
pub fn b64_to_hex(b: &str) -> Option<String> {
    STANDARD.decode(b).ok().map(hex::encode)
}

/// The composite checksum S3 computes for a multipart upload whose parts
/// have these hex SHA-256 digests: `base64(sha256(d1 ‖ d2 ‖ …))-N`.
pub fn composite_checksum<S: AsRef<str>>(part_digests_hex: &[S]) -> Option<String> {
    let mut h = Sha256::new();
    for p in part_digests_hex {
        h.update(hex::decode(p.as_ref()).ok()?);
    }
    Some(format!(
        "{}-{}",
        STANDARD.encode(h.finalize()),
        part_digests_hex.len()
    ))
}

/// Hashes of an object's bytes as they stream by: the SHA-256 of the
/// whole and, for a multipart object of known part size, the composite
/// checksum S3 keeps (one digest per part, cut at the part boundaries).
pub struct StreamDigests {
    whole: Sha256,
    part_size: Option<u64>,
    part: Sha256,
    part_filled: u64,
    parts: Vec<String>,
}

impl StreamDigests {
    /// `part_size`: the size of every part but the last (what `HeadObject`
    /// with `PartNumber=1` reports), or None for a single-part object.
    pub fn new(part_size: Option<u64>) -> StreamDigests {
        StreamDigests {
            whole: Sha256::new(),
            part_size: part_size.filter(|s| *s > 0),
            part: Sha256::new(),
            part_filled: 0,
            parts: Vec::new(),
        }
    }

    pub fn update(&mut self, mut buf: &[u8]) {
        self.whole.update(buf);
        let Some(size) = self.part_size else { return };
        while !buf.is_empty() {
            let n = ((size - self.part_filled) as usize).min(buf.len());
            self.part.update(&buf[..n]);
            self.part_filled += n as u64;
            buf = &buf[n..];
            if self.part_filled == size {
                self.parts
                    .push(hex::encode(std::mem::take(&mut self.part).finalize()));
                self.part_filled = 0;
            }
        }
    }

    /// (whole-stream SHA-256 hex, composite checksum `b64-N` when multipart)
    pub fn finish(mut self) -> (String, Option<String>) {
        if self.part_size.is_some() && self.part_filled > 0 {
            self.parts
                .push(hex::encode(std::mem::take(&mut self.part).finalize()));
        }
        let composite = self.part_size.and_then(|_| composite_checksum(&self.parts));
        (hex::encode(self.whole.finalize()), composite)
    }
}

/// What a server's `x-amz-checksum-sha256` says about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// The SHA-256 of the whole object, hex.
    Whole(String),
    /// A digest of part digests (base64), with the part count when known.
    Composite {
        digest_b64: String,
        parts: Option<u32>,
    },
}

impl Stored {
    /// Read a stored checksum value. `etag` (quotes allowed) tells a
    /// multipart object (`"…-N"`) when the value has no suffix of its own.
    pub fn interpret(value: &str, etag: Option<&str>) -> Option<Stored> {
        let value = value.trim();
        if let Some((digest, n)) = value.rsplit_once('-') {
            let parts = n.parse().ok()?;
            return Some(Stored::Composite {
                digest_b64: digest.to_string(),
                parts: Some(parts),
            });
        }
        if let Some(parts) = etag.and_then(etag_parts) {
            return Some(Stored::Composite {
                digest_b64: value.to_string(),
                parts: Some(parts),
            });
        }
        let raw = STANDARD.decode(value).ok()?;
        (raw.len() == 32).then(|| Stored::Whole(hex::encode(raw)))
    }

    /// Does this stored checksum vouch for content with this whole-file
    /// SHA-256 (hex) or, for a multipart object, this composite
    /// (`digest-N`, as [`composite_checksum`] gives)?
    pub fn matches(&self, whole_hex: Option<&str>, composite: Option<&str>) -> Option<bool> {
        match self {
            Stored::Whole(h) => whole_hex.map(|w| w.eq_ignore_ascii_case(h)),
            Stored::Composite { digest_b64, parts } => {
                let c = composite?;
                let (d, n) = c.rsplit_once('-').unwrap_or((c, ""));
                let count_ok = match (parts, n.parse::<u32>().ok()) {
                    (Some(a), Some(b)) => *a == b,
                    _ => true,
                };
                Some(count_ok && d == digest_b64)
            }
        }
    }
}

/// The part count of a multipart ETag (`"9b2cf535f27731c974343645a3985328-3"`).
pub fn etag_parts(etag: &str) -> Option<u32> {
    let e = etag.trim_matches('"');
    let (_, n) = e.rsplit_once('-')?;
    n.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn stream_digests_follow_the_part_boundaries() {
        let data = vec![7u8; 25];
        let mut d = StreamDigests::new(Some(10));
        d.update(&data[..3]);
        d.update(&data[3..17]);
        d.update(&data[17..]);
        let (whole, composite) = d.finish();
        assert_eq!(whole, hex::encode(Sha256::digest(&data)));
        let parts: Vec<String> = data
            .chunks(10)
            .map(|c| hex::encode(Sha256::digest(c)))
            .collect();
        assert_eq!(composite, composite_checksum(&parts));
        assert!(composite.unwrap().ends_with("-3"));
        let (w, c) = StreamDigests::new(None).finish();
        assert_eq!((w.len(), c), (64, None));
    }

    #[test]
    fn whole_object_checksums() {
        let b = b64(ABC).unwrap();
        assert_eq!(b, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        assert_eq!(b64_to_hex(&b).unwrap(), ABC);
        let s = Stored::interpret(&b, Some("\"900150983cd24fb0d6963f7d28e17f72\"")).unwrap();
        assert_eq!(s, Stored::Whole(ABC.into()));
        assert_eq!(s.matches(Some(ABC), None), Some(true));
        assert_eq!(s.matches(Some(&ABC.replace('b', "c")), None), Some(false));
        assert!(b64("not hex").is_none());
    }

    #[test]
    fn composite_with_and_without_the_part_suffix() {
        let parts = [ABC, ABC];
        let c = composite_checksum(&parts).unwrap();
        assert!(c.ends_with("-2"), "{c}");
        let digest = c.rsplit_once('-').unwrap().0;
        // AWS: the suffix is in the value.
        let aws = Stored::interpret(&c, None).unwrap();
        assert_eq!(aws.matches(Some(ABC), Some(&c)), Some(true));
        // moto: no suffix, but the ETag says two parts.
        let moto = Stored::interpret(digest, Some("\"abc-2\"")).unwrap();
        assert_eq!(
            moto,
            Stored::Composite {
                digest_b64: digest.into(),
                parts: Some(2)
            }
        );
        assert_eq!(moto.matches(None, Some(&c)), Some(true));
        let other = composite_checksum(&[ABC]).unwrap();
        assert_eq!(moto.matches(None, Some(&other)), Some(false));
        assert_eq!(
            moto.matches(Some(ABC), None),
            None,
            "a composite cannot vouch for a whole-file hash"
        );
        assert_eq!(etag_parts("\"x-12\""), Some(12));
        assert_eq!(etag_parts("\"x\""), None);
    }
}
