//! `manifest.json`: the machine-readable companion of `manifest-sha256.txt`,
//! with what the producers knew about each file (table, records, period,
//! S3 key) and the archive's retention and compliance labels.
//!
//! A manifest can list millions of files, so entries are kept compact
//! ([`Entry`]: digest as bytes, mtime as numbers, producer metadata as one
//! JSON text) and the file is written and read as a stream, one entry per
//! line, never as one `serde_json::Value`.

use crate::fields::{self, Key, ObjectText};
use crate::model::{
    marks_summary, parse_digest, write_hex, Digest, Entry, JsonFormat, Meta, Mtime,
};
use anyhow::{Context, Result};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt;
use std::io::{self, Write};

/// Version of the archive layout this manifest describes; bumped when the
/// meaning of a field changes.
pub const ARCHIVE_VERSION: u32 = 1;

/// `archive_version` of a manifest in the billing specification's format.
pub const BILLING_SPEC_VERSION: &str = "1.0";

/// An entry with its path, as read from a manifest.json.
#[derive(Debug, Clone, PartialEq)]
pub struct PathEntry {
    pub path: String,
    pub entry: Entry,
}

impl<'de> Deserialize<'de> for PathEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = PathEntry;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a manifest file entry")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PathEntry, A::Error> {
        let mut path: Option<String> = None;
        let mut bytes: Option<u64> = None;
        let mut sha256: Option<Digest> = None;
        let mut mtime = None;
        let mut meta = Meta::default();
        let mut extra = ObjectText::default();
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            match k.as_ref() {
                "path" => path = Some(map.next_value()?),
                "bytes" => bytes = Some(map.next_value()?),
                "sha256" => {
                    let Key(s) = map.next_value()?;
                    sha256 = Some(parse_digest(&s).ok_or_else(|| {
                        de::Error::custom(format!("sha256 {s:?} is not a SHA-256 hex digest"))
                    })?);
                }
                "mtime" => {
                    let s: Option<String> = map.next_value()?;
                    mtime = s.as_deref().and_then(Mtime::parse);
                }
                "records" => meta.records = map.next_value()?,
                "s3_key" => meta.s3_key = map.next_value::<Option<String>>()?.map(Into::into),
                "table" => meta.table = map.next_value::<Option<String>>()?.map(Into::into),
                other => {
                    let v: Box<RawValue> = map.next_value()?;
                    if matches!(other, "kind" | "summary") {
                        let parsed: Value =
                            serde_json::from_str(v.get()).map_err(de::Error::custom)?;
                        meta.summary |= marks_summary(other, &parsed);
                    }
                    extra.push(other, &v);
                }
            }
        }
        let bytes = bytes.ok_or_else(|| de::Error::missing_field("bytes"))?;
        let sha256 = sha256.ok_or_else(|| de::Error::missing_field("sha256"))?;
        meta.extra = extra.finish();
        Ok(PathEntry {
            path: path.ok_or_else(|| de::Error::missing_field("path"))?,
            entry: Entry::new(bytes, sha256, mtime, meta),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub files: u64,
    pub bytes: u64,
    /// Sum of `records` over the files that carry it; null when none do.
    pub records: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

/// Digest of the sha256sum manifest this JSON accompanies, so the two are
/// tied together and a signature over the JSON covers the text as well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SumFileRef {
    pub path: String,
    pub sha256: String,
}

/// Everything in a manifest.json except its files.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// 1 in the toolkit's format, "1.0" in the billing specification's.
    pub archive_version: Value,
    pub format: JsonFormat,
    pub created_at: String,
    pub tool: ToolInfo,
    pub period: Option<String>,
    pub group_by: Option<String>,
    pub group: Option<String>,
    pub schema_version: Option<Value>,
    pub retention_years: Option<u32>,
    pub compliance: Vec<String>,
    pub bagit: bool,
    pub sha256_manifest: SumFileRef,
    pub totals: Totals,
}

impl Header {
    /// Equal apart from the creation time: a re-run that changed nothing
    /// keeps the previous file.
    pub fn same_content(&self, other: &Header) -> bool {
        Header {
            created_at: other.created_at.clone(),
            ..self.clone()
        } == *other
    }
}

/// A parsed manifest.json. The fields are those of [`Header`] plus
/// `files`; listed here once more because `#[serde(flatten)]` would route
/// every entry through an intermediate map.
#[derive(Debug, Deserialize)]
pub struct Manifest {
    archive_version: Value,
    created_at: String,
    tool: ToolInfo,
    period: Option<String>,
    #[serde(default)]
    group_by: Option<String>,
    #[serde(default)]
    group: Option<String>,
    schema_version: Option<Value>,
    retention_years: Option<u32>,
    compliance: Vec<String>,
    bagit: bool,
    sha256_manifest: SumFileRef,
    totals: Totals,
    pub files: Vec<PathEntry>,
}

impl Manifest {
    pub fn parse(text: &str, source: &str) -> Result<Manifest> {
        serde_json::from_str(text).with_context(|| format!("{source}: not a manifest.json"))
    }

    pub fn sha256_manifest(&self) -> &SumFileRef {
        &self.sha256_manifest
    }

    pub fn into_parts(self) -> (Header, Vec<PathEntry>) {
        let format = if self.archive_version.is_string() {
            JsonFormat::BillingSpec
        } else {
            JsonFormat::Toolkit
        };
        let header = Header {
            archive_version: self.archive_version,
            format,
            created_at: self.created_at,
            tool: self.tool,
            period: self.period,
            group_by: self.group_by,
            group: self.group,
            schema_version: self.schema_version,
            retention_years: self.retention_years,
            compliance: self.compliance,
            bagit: self.bagit,
            sha256_manifest: self.sha256_manifest,
            totals: self.totals,
        };
        (header, self.files)
    }
}

/// Totals over entries; the records of a summary file are not counted
/// again (they are those of the files it summarises).
pub fn totals<'a>(entries: impl Iterator<Item = &'a Entry>) -> Totals {
    let mut t = Totals {
        files: 0,
        bytes: 0,
        records: None,
    };
    for e in entries {
        t.files += 1;
        t.bytes += e.bytes;
        match e.meta().records {
            Some(r) if !e.meta().summary => t.records = Some(t.records.unwrap_or(0) + r),
            _ => {}
        }
    }
    t
}

/// The value every entry agrees on for each of `keys` in its metadata:
/// None for a key that some entry lacks or where two entries differ.
pub fn common_values<'a>(
    entries: impl Iterator<Item = &'a Entry>,
    keys: &[&str],
) -> Vec<Option<Value>> {
    let mut found: Vec<Option<Value>> = vec![None; keys.len()];
    let mut agree = vec![true; keys.len()];
    let mut any = false;
    for e in entries {
        any = true;
        let fields = e
            .meta()
            .extra
            .as_deref()
            .and_then(|x| fields::RawFields::parse(x).ok());
        for (i, key) in keys.iter().enumerate() {
            if !agree[i] {
                continue;
            }
            let v = fields
                .as_ref()
                .and_then(|f| f.get(key))
                .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok());
            match (&found[i], v) {
                (_, None) => agree[i] = false,
                (None, Some(v)) => found[i] = Some(v),
                (Some(prev), Some(v)) if *prev == v => {}
                (Some(_), Some(_)) => agree[i] = false,
            }
        }
        if !agree.iter().any(|a| *a) {
            break;
        }
    }
    found
        .into_iter()
        .zip(agree)
        .map(|(v, ok)| if ok && any { v } else { None })
        .collect()
}

/// Write a manifest.json: the header pretty-printed, then one compact line
/// per file, so the file streams out and `grep` finds an entry. In the
/// billing specification's format its fields come in its order (files
/// after the period, each file's table, records and s3_key first), the
/// toolkit's own after them.
pub fn write<'a>(
    w: &mut impl Write,
    h: &Header,
    entries: impl Iterator<Item = (&'a str, &'a Entry)>,
) -> io::Result<()> {
    w.write_all(b"{\n")?;
    field(w, "archive_version", &h.archive_version)?;
    field(w, "created_at", &h.created_at)?;
    if h.format == JsonFormat::BillingSpec {
        field(w, "period", &h.period)?;
        write_files(w, entries, h.format)?;
        w.write_all(b",\n")?;
        field(w, "schema_version", &h.schema_version)?;
        field(w, "retention_years", &h.retention_years)?;
        field(w, "compliance", &h.compliance)?;
        toolkit_fields(w, h)?;
        // The last field has no comma after it.
        write!(w, "  \"totals\": ")?;
        serde_json::to_writer(&mut *w, &h.totals).map_err(io::Error::other)?;
        return w.write_all(b"\n}\n");
    }
    field(w, "tool", &h.tool)?;
    field(w, "period", &h.period)?;
    if let Some(g) = &h.group_by {
        field(w, "group_by", g)?;
    }
    if let Some(g) = &h.group {
        field(w, "group", g)?;
    }
    field(w, "schema_version", &h.schema_version)?;
    field(w, "retention_years", &h.retention_years)?;
    field(w, "compliance", &h.compliance)?;
    field(w, "bagit", &h.bagit)?;
    field(w, "sha256_manifest", &h.sha256_manifest)?;
    field(w, "totals", &h.totals)?;
    write_files(w, entries, h.format)?;
    w.write_all(b"\n}\n")
}

/// The toolkit's header fields that the billing specification does not
/// have, but for `totals`.
fn toolkit_fields(w: &mut impl Write, h: &Header) -> io::Result<()> {
    field(w, "tool", &h.tool)?;
    if let Some(g) = &h.group_by {
        field(w, "group_by", g)?;
    }
    if let Some(g) = &h.group {
        field(w, "group", g)?;
    }
    field(w, "bagit", &h.bagit)?;
    field(w, "sha256_manifest", &h.sha256_manifest)
}

/// `"files": [...]`, one compact entry per line, without a trailing comma.
fn write_files<'a>(
    w: &mut impl Write,
    entries: impl Iterator<Item = (&'a str, &'a Entry)>,
    format: JsonFormat,
) -> io::Result<()> {
    w.write_all(b"  \"files\": [")?;
    let mut first = true;
    for (path, e) in entries {
        w.write_all(if first { b"\n    " } else { b",\n    " })?;
        first = false;
        match format {
            JsonFormat::Toolkit => write_entry(w, path, e)?,
            JsonFormat::BillingSpec => write_spec_entry(w, path, e)?,
        }
    }
    w.write_all(if first { b"]" } else { b"\n  ]" })
}

fn field(w: &mut impl Write, name: &str, value: &impl Serialize) -> io::Result<()> {
    write!(w, "  \"{name}\": ")?;
    serde_json::to_writer(&mut *w, value).map_err(io::Error::other)?;
    w.write_all(b",\n")
}

fn string(w: &mut impl Write, s: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *w, s).map_err(io::Error::other)
}

/// One entry as a compact JSON object.
pub fn write_entry(w: &mut impl Write, path: &str, e: &Entry) -> io::Result<()> {
    let meta = e.meta();
    w.write_all(b"{\"path\":")?;
    string(w, path)?;
    if let Some(k) = &meta.s3_key {
        w.write_all(b",\"s3_key\":")?;
        string(w, k)?;
    }
    if let Some(t) = &meta.table {
        w.write_all(b",\"table\":")?;
        string(w, t)?;
    }
    if let Some(r) = meta.records {
        write!(w, ",\"records\":{r}")?;
    }
    write!(w, ",\"bytes\":{},\"sha256\":\"", e.bytes)?;
    write_hex(w, &e.sha256)?;
    w.write_all(b"\"")?;
    if let Some(m) = e.mtime.and_then(|m| m.rfc3339()) {
        write!(w, ",\"mtime\":\"{m}\"")?;
    }
    if let Some(x) = &meta.extra {
        fields::write_inner(w, x)?;
    }
    w.write_all(b"}")
}

/// One entry in the billing specification's order: `table`, `records`,
/// `s3_key` (the fields it defines), then the toolkit's `path`, `bytes`,
/// `sha256`, `mtime` and the producer's other fields.
pub fn write_spec_entry(w: &mut impl Write, path: &str, e: &Entry) -> io::Result<()> {
    let meta = e.meta();
    w.write_all(b"{\"table\":")?;
    serde_json::to_writer(&mut *w, &meta.table).map_err(io::Error::other)?;
    w.write_all(b",\"records\":")?;
    serde_json::to_writer(&mut *w, &meta.records).map_err(io::Error::other)?;
    w.write_all(b",\"s3_key\":")?;
    string(w, meta.s3_key.as_deref().unwrap_or(path))?;
    w.write_all(b",\"path\":")?;
    string(w, path)?;
    write!(w, ",\"bytes\":{},\"sha256\":\"", e.bytes)?;
    write_hex(w, &e.sha256)?;
    w.write_all(b"\"")?;
    if let Some(m) = e.mtime.and_then(|m| m.rfc3339()) {
        write!(w, ",\"mtime\":\"{m}\"")?;
    }
    if let Some(x) = &meta.extra {
        fields::write_inner(w, x)?;
    }
    w.write_all(b"}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            archive_version: Value::from(ARCHIVE_VERSION),
            format: JsonFormat::Toolkit,
            created_at: "2025-11-01T00:00:00Z".into(),
            tool: ToolInfo {
                name: "manifest".into(),
                version: "1".into(),
            },
            period: Some("2025-11".into()),
            group_by: None,
            group: None,
            schema_version: Some(Value::from(3)),
            retention_years: Some(7),
            compliance: vec!["SOX".into()],
            bagit: false,
            sha256_manifest: SumFileRef {
                path: "manifest-sha256.txt".into(),
                sha256: "ab".repeat(32),
            },
            totals: Totals {
                files: 2,
                bytes: 3,
                records: Some(4),
            },
        }
    }

    #[test]
    fn written_manifest_parses_back_identically() {
        let a = Entry::new(
            1,
            [1; 32],
            Mtime::parse("2025-11-02T03:04:05.123456789Z"),
            Meta {
                records: Some(4),
                s3_key: Some("p/a \"q\".json".into()),
                table: Some("t".into()),
                extra: Some(r#"{"user_id":"u1","nested":{"k":[1,2]}}"#.into()),
                summary: false,
            },
        );
        let b = Entry::bare([2; 32]);
        let mut out = Vec::new();
        write(
            &mut out,
            &header(),
            [("a \"q\".json", &a), ("b\n.json", &b)].into_iter(),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        // A standard JSON reader sees the fields where they belong.
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["files"][0]["user_id"], "u1");
        assert_eq!(v["files"][0]["mtime"], "2025-11-02T03:04:05.123456789Z");
        assert_eq!(v["totals"]["records"], 4);
        assert!(v.get("group").is_none());
        let (h, files) = Manifest::parse(&text, "m").unwrap().into_parts();
        assert_eq!(h, header());
        assert_eq!(files[0].path, "a \"q\".json");
        assert_eq!(files[0].entry, a);
        assert_eq!(files[1].entry, b);
        let mut empty = Vec::new();
        write(&mut empty, &header(), std::iter::empty()).unwrap();
        let v: Value = serde_json::from_slice(&empty).unwrap();
        assert_eq!(v["files"], serde_json::json!([]));
    }

    #[test]
    fn a_billing_spec_manifest_parses_back_identically() {
        let mut h = header();
        h.archive_version = Value::from(BILLING_SPEC_VERSION);
        h.format = JsonFormat::BillingSpec;
        h.schema_version = Some(Value::from("2025-10-21"));
        let a = Entry::new(
            3,
            [7; 32],
            None,
            Meta {
                records: Some(9),
                s3_key: Some("billing-archive/2025/11/a.parquet.gz".into()),
                table: Some("a_snapshot".into()),
                extra: Some(r#"{"kind":"daily_summary"}"#.into()),
                summary: true,
            },
        );
        let mut out = Vec::new();
        write(&mut out, &h, [("a.parquet.gz", &a)].into_iter()).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["archive_version"], "1.0");
        assert_eq!(v["files"][0]["table"], "a_snapshot");
        let (back, files) = Manifest::parse(std::str::from_utf8(&out).unwrap(), "m")
            .unwrap()
            .into_parts();
        assert_eq!(back, h);
        assert_eq!(files[0].entry, a);
        assert_eq!(totals(std::iter::once(&a)).records, None);
    }

    #[test]
    fn common_values_need_every_entry_to_agree() {
        let with = |x: &str| {
            Entry::new(
                0,
                [0; 32],
                None,
                Meta {
                    extra: Some(x.into()),
                    ..Meta::default()
                },
            )
        };
        let es = [
            with(r#"{"period":"2025-11","schema_version":1}"#),
            with(r#"{"period":"2025-11","schema_version":2}"#),
        ];
        let got = common_values(es.iter(), &["period", "schema_version"]);
        assert_eq!(got, vec![Some(Value::from("2025-11")), None]);
        let es2 = [with(r#"{"period":"2025-11"}"#), Entry::bare([0; 32])];
        assert_eq!(common_values(es2.iter(), &["period"]), vec![None]);
        assert_eq!(common_values([].iter(), &["period"]), vec![None]);
    }
}
