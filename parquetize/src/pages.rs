//! Page checksums. parquet-rs writes no page CRC (its `crc` feature only
//! checks them on read), so the writer keeps every column chunk's
//! serialized pages in a [`PageStore`] of ours, and when the chunk is
//! spliced into the file each page header gets its `crc` field (Thrift
//! field 4: CRC-32 of the page's compressed bytes, as the Parquet format
//! specifies) and the chunk's offsets and sizes are recomputed for the
//! longer headers. Readers that check CRCs (parquet-rs with `crc`, pyarrow
//! with `page_checksum_verification`) then refuse a flipped bit instead of
//! returning a changed value.

use bytes::Bytes;
use parquet::arrow::arrow_writer::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::page_index::offset_index::PageLocation;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One column chunk's blobs in the order the column writer put them:
/// header, data, header, data, … (the dictionary page last, or whenever
/// the column fell back from dictionary encoding).
type Blobs = Arc<Mutex<Vec<Bytes>>>;

/// Creates a capturing store per column chunk and hands its blobs back by
/// leaf column index.
#[derive(Debug, Default)]
pub struct PageCapture {
    chunks: Mutex<HashMap<usize, Blobs>>,
}

impl PageCapture {
    /// The blobs of leaf column `index` of the row group being written.
    pub fn take(&self, index: usize) -> Vec<Bytes> {
        let blobs = self.chunks.lock().unwrap().remove(&index);
        blobs
            .map(|b| std::mem::take(&mut *b.lock().unwrap()))
            .unwrap_or_default()
    }
}

impl PageStoreFactory for PageCapture {
    fn create(&self, args: &PageStoreArgs<'_>) -> Result<Box<dyn PageStore>> {
        let blobs = Blobs::default();
        self.chunks
            .lock()
            .unwrap()
            .insert(args.column_index(), blobs.clone());
        Ok(Box::new(CapturingStore { blobs }))
    }
}

struct CapturingStore {
    blobs: Blobs,
}

impl PageStore for CapturingStore {
    fn put(&mut self, value: Bytes) -> Result<PageKey> {
        let mut blobs = self.blobs.lock().unwrap();
        blobs.push(value);
        Ok(PageKey::new(blobs.len() as u64 - 1))
    }

    fn take(&mut self, key: PageKey) -> Result<Bytes> {
        let blobs = self.blobs.lock().unwrap();
        blobs
            .get(key.get() as usize)
            .cloned()
            .ok_or_else(|| ParquetError::General("page taken twice".into()))
    }

    fn memory_size(&self) -> usize {
        self.blobs.lock().unwrap().iter().map(Bytes::len).sum()
    }
}

const DICTIONARY_PAGE: i32 = 2;

/// The chunk with a CRC in every page header, dictionary page first, and
/// its close result with the offsets and sizes of that layout.
pub fn with_checksums(
    blobs: Vec<Bytes>,
    close: &ColumnCloseResult,
) -> Result<(Bytes, ColumnCloseResult)> {
    if !blobs.len().is_multiple_of(2) {
        return Err(ParquetError::General(
            "a page header without its data".into(),
        ));
    }
    let mut dictionary: Vec<u8> = Vec::new();
    let mut data_pages: Vec<Vec<u8>> = Vec::new();
    for pair in blobs.chunks(2) {
        let (header, body) = (&pair[0], &pair[1]);
        let (page_type, rewritten) = header_with_crc(header, crc32(body))?;
        let mut page = rewritten;
        page.extend_from_slice(body);
        if page_type == DICTIONARY_PAGE {
            dictionary = page;
        } else {
            data_pages.push(page);
        }
    }
    let old_len: usize = blobs.iter().map(Bytes::len).sum();
    let mut chunk = Vec::with_capacity(old_len + 8 * (data_pages.len() + 1));
    chunk.extend_from_slice(&dictionary);
    let mut locations = Vec::with_capacity(data_pages.len());
    for page in &data_pages {
        locations.push((chunk.len() as i64, page.len() as i32));
        chunk.extend_from_slice(page);
    }
    let added = (chunk.len() - old_len) as i64;
    let mut close = close.clone();
    let meta = &close.metadata;
    close.metadata = meta
        .clone()
        .into_builder()
        .set_dictionary_page_offset((!dictionary.is_empty()).then_some(0))
        .set_data_page_offset(dictionary.len() as i64)
        .set_total_compressed_size(chunk.len() as i64)
        .set_total_uncompressed_size(meta.uncompressed_size() + added)
        .build()?;
    close.bytes_written = chunk.len() as u64;
    if let Some(index) = close.offset_index.as_mut() {
        if index.page_locations.len() != locations.len() {
            return Err(ParquetError::General(format!(
                "offset index has {} pages, the chunk {}",
                index.page_locations.len(),
                locations.len()
            )));
        }
        for (loc, (offset, size)) in index.page_locations.iter_mut().zip(locations) {
            *loc = PageLocation {
                offset,
                compressed_page_size: size,
                first_row_index: loc.first_row_index,
            };
        }
    }
    Ok((Bytes::from(chunk), close))
}

/// CRC-32 (IEEE, the zlib one), which the Parquet format uses for pages.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// Thrift compact type ids used in a page header.
const COMPACT_I32: u8 = 5;
const COMPACT_STRUCT: u8 = 12;

/// Insert `crc` as field 4 of a serialized PageHeader. parquet-rs writes
/// fields 1-3 (type, uncompressed size, compressed size: i32 each), no
/// field 4, then one header struct (5, 7 or 8), in order; anything else
/// is refused rather than guessed. Returns the page type and the header.
pub fn header_with_crc(header: &[u8], crc: u32) -> Result<(i32, Vec<u8>)> {
    let bad = || ParquetError::General("unexpected page header layout".into());
    let mut i = 0;
    let mut page_type = 0;
    for field in 0..3 {
        if header.get(i) != Some(&(0x10 | COMPACT_I32)) {
            return Err(bad());
        }
        i += 1;
        let (value, len) = read_varint(&header[i..]).ok_or_else(bad)?;
        if field == 0 {
            page_type = unzigzag(value);
        }
        i += len;
    }
    let next = *header.get(i).ok_or_else(bad)?;
    let delta = next >> 4;
    if next & 0x0f != COMPACT_STRUCT || !(2..=5).contains(&delta) {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(header.len() + 6);
    out.extend_from_slice(&header[..i]);
    out.push(0x10 | COMPACT_I32);
    write_varint(&mut out, zigzag(crc as i32));
    out.push(((delta - 1) << 4) | COMPACT_STRUCT);
    out.extend_from_slice(&header[i + 1..]);
    Ok((page_type, out))
}

fn read_varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (k, &c) in b.iter().enumerate().take(10) {
        v |= ((c & 0x7f) as u64) << (7 * k);
        if c & 0x80 == 0 {
            return Some((v, k + 1));
        }
    }
    None
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i32) -> u64 {
    ((v << 1) ^ (v >> 31)) as u32 as u64
}

fn unzigzag(v: u64) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag() {
        for v in [0, 1, -1, 2, i32::MAX, i32::MIN, 123_456_789] {
            let mut out = Vec::new();
            write_varint(&mut out, zigzag(v));
            let (back, len) = read_varint(&out).unwrap();
            assert_eq!(len, out.len());
            assert_eq!(unzigzag(back), v);
        }
    }

    #[test]
    fn crc_goes_in_as_field_4() {
        // type 0 (DATA_PAGE), sizes 10 and 8, then field 5 (struct) and stop.
        let header = [0x15, 0x00, 0x15, 0x14, 0x15, 0x10, 0x2c, 0x00, 0x00];
        let (page_type, out) = header_with_crc(&header, 0xdead_beef).unwrap();
        assert_eq!(page_type, 0);
        assert_eq!(&out[..6], &header[..6]);
        assert_eq!(out[6], 0x15, "field 4, i32");
        let (v, len) = read_varint(&out[7..]).unwrap();
        assert_eq!(unzigzag(v) as u32, 0xdead_beef);
        assert_eq!(out[7 + len], 0x1c, "field 5 now one after field 4");
        assert_eq!(&out[8 + len..], &header[7..]);
        assert!(header_with_crc(&[0x15, 0x00, 0x16], 1).is_err());
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926, "the IEEE check value");
    }
}
