//! Hashes of a download as it streams: the whole object and, for a
//! multipart object, each part, so S3's composite checksum (a digest of the
//! part digests) can be recomputed. Parts are taken to be the size of the
//! first one (HeadObject with `PartNumber=1`), the last one shorter, as
//! ship and the AWS tools upload them.

use sha2::{Digest, Sha256};

pub struct Digests {
    whole: Sha256,
    bytes: u64,
    part_size: Option<u64>,
    part: Sha256,
    part_filled: u64,
    parts: Vec<String>,
}

impl Digests {
    pub fn new(part_size: Option<u64>) -> Digests {
        Digests {
            whole: Sha256::new(),
            bytes: 0,
            part_size: part_size.filter(|s| *s > 0),
            part: Sha256::new(),
            part_filled: 0,
            parts: Vec::new(),
        }
    }

    pub fn update(&mut self, mut buf: &[u8]) {
        self.whole.update(buf);
        self.bytes += buf.len() as u64;
        let Some(size) = self.part_size else { return };
        while !buf.is_empty() {
            let room = (size - self.part_filled) as usize;
            let n = room.min(buf.len());
            self.part.update(&buf[..n]);
            self.part_filled += n as u64;
            buf = &buf[n..];
            if self.part_filled == size {
                self.end_part();
            }
        }
    }

    fn end_part(&mut self) {
        let done = std::mem::take(&mut self.part).finalize();
        self.parts.push(hex::encode(done));
        self.part_filled = 0;
    }

    /// (bytes, whole SHA-256 hex, composite `base64-N` when parts were kept)
    pub fn finish(mut self) -> (u64, String, Option<String>) {
        if self.part_size.is_some() && self.part_filled > 0 {
            self.end_part();
        }
        let composite = self
            .part_size
            .and_then(|_| archive_s3::checksum::composite_checksum(&self.parts));
        (self.bytes, hex::encode(self.whole.finalize()), composite)
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
