//! Page checksums: every page header carries the CRC-32 of its bytes, so a
//! reader that checks them (arrow-rs with the `crc` feature, which the
//! tests' reader has; pyarrow with page_checksum_verification) refuses a
//! flipped bit instead of returning a changed amount.

use crate::cli::{base_args, setup, HEADER};
use crate::support::*;
use parquet::file::reader::{FileReader, SerializedFileReader};
use std::process::Command;

/// Column `name`'s chunk in the first row group: (offset, length). Its
/// last byte is the last byte of its last data page.
fn chunk_of(path: &std::path::Path, name: &str) -> (usize, usize) {
    let file = std::fs::File::open(path).unwrap();
    let reader = SerializedFileReader::new(file).unwrap();
    let meta = reader.metadata();
    let group = meta.row_group(0);
    let col = (0..group.num_columns())
        .find(|&c| group.column(c).column_descr().name() == name)
        .unwrap();
    let chunk = group.column(col);
    assert_eq!(chunk.dictionary_page_offset(), None, "{name} is PLAIN");
    (
        chunk.data_page_offset() as usize,
        chunk.compressed_size() as usize,
    )
}

/// pyarrow's view of column `amount`, with or without checking the CRCs:
/// Ok(values) or Err(the error text).
fn pyarrow_amounts(path: &std::path::Path, verify: bool) -> Result<Vec<String>, String> {
    let script = format!(
        "import sys, pyarrow.parquet as pq\n\
         t = pq.ParquetFile(sys.argv[1], page_checksum_verification={}).read(columns=['amount'])\n\
         print('\\n'.join(str(v) for v in t.column(0).to_pylist()))",
        if verify { "True" } else { "False" }
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .arg(path)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

#[test]
fn a_flipped_bit_in_a_data_page_is_refused_not_read() {
    let dir = setup("pq-crc");
    let mut body = String::from(HEADER);
    for i in 0..3000 {
        body.push_str(&format!(
            "{i},{}.{:06},,US,row {i},2025-11-01,2025-11-01 00:00:00+00,,t\n",
            (i * 7919) % 10007,
            i
        ));
    }
    dir.write("in.csv", &body);
    // Unsorted distinct amounts: PLAIN INT64. Uncompressed, so the flipped bit changes a value instead of breaking
    // decompression: only the checksum can tell.
    dir.command(bin())
        .args(["in.csv", "--format", "pg-csv", "--compression", "none"])
        .args(["--name", "good.parquet"])
        .args(base_args())
        .expect_success();
    let good = dir.join("out/good.parquet");
    let (_, rows) = read_arrow(&good);
    assert_eq!(
        rows.len(),
        3000,
        "the CRC-checking reader reads the good file"
    );
    let (info, py_rows) = read_pyarrow(&good);
    assert_eq!(py_rows.len(), 3000, "pyarrow checks and accepts every page");
    assert_eq!(info["codec"], "UNCOMPRESSED");
    let truth = pyarrow_amounts(&good, true).unwrap();

    let (offset, len) = chunk_of(&good, "amount");
    let mut bytes = std::fs::read(&good).unwrap();
    // The last byte of the chunk: the high byte of its last INT64 amount.
    bytes[offset + len - 1] ^= 0x01;
    let bad = dir.write("out/bad.parquet", &bytes);

    // Without checking, the amounts silently change...
    let unchecked = pyarrow_amounts(&bad, false).expect("read without checksums");
    let changed = truth.iter().zip(&unchecked).filter(|(a, b)| a != b).count();
    assert_eq!(changed, 1, "one amount changed by the flipped bit");
    // ...with checking, both readers refuse the file.
    let err = pyarrow_amounts(&bad, true).unwrap_err();
    assert!(
        err.to_lowercase().contains("crc") || err.contains("checksum"),
        "{err}"
    );
    let file = std::fs::File::open(&bad).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let result: Result<Vec<_>, _> = reader.collect();
    let err = result
        .expect_err("arrow-rs with crc refuses the page")
        .to_string();
    assert!(
        err.contains("checksum") || err.to_lowercase().contains("crc"),
        "{err}"
    );
}
