//! BagIt 1.0 (RFC 8493) tag files. The payload manifest is our
//! `manifest-sha256.txt` itself: the sha256sum format (`hex  data/path`)
//! is exactly what BagIt expects, so one file serves both readers.

use crate::sha256sum::{render, SumEntry};

pub const BAGIT_TXT: &str = "bagit.txt";
pub const BAG_INFO_TXT: &str = "bag-info.txt";
pub const TAGMANIFEST: &str = "tagmanifest-sha256.txt";

/// `bagit.txt`: version and tag-file encoding (RFC 8493 §2.1.1).
pub fn bagit_txt() -> String {
    "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n".to_string()
}

/// What bag-info.txt says about the payload.
pub struct BagInfo<'a> {
    pub payload_bytes: u64,
    pub payload_files: u64,
    pub bagging_date: &'a str,
    pub external_identifier: &'a str,
    pub period: Option<&'a str>,
}

/// `bag-info.txt` (RFC 8493 §2.2.2): `Payload-Oxum` lets a reader spot a
/// missing or truncated file before hashing anything.
pub fn bag_info_txt(info: &BagInfo) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "Bag-Software-Agent: manifest {}\n",
        env!("CARGO_PKG_VERSION")
    ));
    s.push_str(&format!("Bagging-Date: {}\n", info.bagging_date));
    s.push_str(&format!(
        "External-Identifier: {}\n",
        one_line(info.external_identifier)
    ));
    if let Some(p) = info.period {
        s.push_str(&format!("Period: {}\n", one_line(p)));
    }
    s.push_str(&format!(
        "Payload-Oxum: {}.{}\n",
        info.payload_bytes, info.payload_files
    ));
    s
}

/// `tagmanifest-sha256.txt` over the given tag files (name, hex SHA-256).
pub fn tagmanifest(tag_files: &[(String, String)]) -> String {
    let entries: Vec<SumEntry> = tag_files
        .iter()
        .map(|(name, sha256)| SumEntry {
            path: name.clone(),
            sha256: sha256.clone(),
        })
        .collect();
    render(&entries)
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}
