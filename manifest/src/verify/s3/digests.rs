//! Hashes of a download as it streams (archive-s3's `StreamDigests`): the
//! whole object and, for a multipart object, each part, so S3's composite
//! checksum (a digest of the part digests) can be recomputed. Parts are taken to be the size of the
//! first one (HeadObject with `PartNumber=1`), the last one shorter, as
//! ship and the AWS tools upload them.

use archive_s3::checksum::StreamDigests;

/// archive-s3's stream hasher, plus the byte count verify reports.
pub struct Digests {
    inner: StreamDigests,
    bytes: u64,
}

impl Digests {
    pub fn new(part_size: Option<u64>) -> Digests {
        Digests {
            inner: StreamDigests::new(part_size),
            bytes: 0,
        }
    }

    pub fn update(&mut self, buf: &[u8]) {
        self.bytes += buf.len() as u64;
        self.inner.update(buf);
    }

    /// (bytes, whole SHA-256 hex, composite `base64-N` when parts were kept)
    pub fn finish(self) -> (u64, String, Option<String>) {
        let (whole, composite) = self.inner.finish();
        (self.bytes, whole, composite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_cut_at_the_part_size_whatever_the_chunks() {
        let data: Vec<u8> = (0..25u32).map(|i| i as u8).collect();
        let sha = |b: &[u8]| archive_core::hash::sha256_hex(b);
        let want = archive_s3::checksum::composite_checksum(&[
            sha(&data[..10]),
            sha(&data[10..20]),
            sha(&data[20..]),
        ]);
        for chunk in [1, 3, 10, 25] {
            let mut d = Digests::new(Some(10));
            for c in data.chunks(chunk) {
                d.update(c);
            }
            assert_eq!(
                d.finish(),
                (25, sha(&data), want.clone()),
                "chunks of {chunk}"
            );
        }
        let mut d = Digests::new(None);
        d.update(&data);
        assert_eq!(d.finish(), (25, sha(&data), None));
    }
}
