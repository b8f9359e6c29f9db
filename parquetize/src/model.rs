//! The types the phases share: the input format and output codec, how
//! ambiguous PostgreSQL types are stored, and a table's columns as declared
//! and as stored. Plain data; this module imports nothing of the tool.

/// Largest precision a Decimal128 holds.
pub const MAX_DECIMAL128_PRECISION: u32 = 38;

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    PgText,
    PgCsv,
    Csv,
    Ndjson,
}

impl Format {
    /// The name as `--format` spells it (and the summary and file metadata).
    pub fn name(self) -> &'static str {
        match self {
            Format::PgText => "pg-text",
            Format::PgCsv => "pg-csv",
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }
}

/// Output codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Zstd,
    Gzip,
    Snappy,
    None,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Zstd => "zstd",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::None => "none",
        }
    }
}

/// How a `numeric` column without a usable precision is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericAs {
    String,
    Decimal(u32, i32),
}

impl std::str::FromStr for NumericAs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        if t == "string" || t == "text" {
            return Ok(NumericAs::String);
        }
        let inner = t
            .strip_prefix("decimal(")
            .or_else(|| t.strip_prefix("numeric("))
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| format!("expected string or decimal(p,s), got {s:?}"))?;
        let (p, sc) = inner
            .split_once(',')
            .ok_or_else(|| format!("expected decimal(p,s), got {s:?}"))?;
        let p: u32 = p
            .trim()
            .parse()
            .map_err(|_| format!("bad precision in {s:?}"))?;
        let sc: i32 = sc
            .trim()
            .parse()
            .map_err(|_| format!("bad scale in {s:?}"))?;
        if p == 0 || p > MAX_DECIMAL128_PRECISION || sc < 0 || sc as u32 > p {
            return Err(format!(
                "{s:?}: need 1 <= p <= {MAX_DECIMAL128_PRECISION} and 0 <= s <= p"
            ));
        }
        Ok(NumericAs::Decimal(p, sc))
    }
}

/// How uuid columns are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UuidAs {
    /// Utf8, the canonical lower-case 8-4-4-4-12 form.
    String,
    /// FixedSizeBinary(16) with the Parquet UUID logical type.
    Fixed,
}

/// A PostgreSQL column type, reduced to what decides its Arrow type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgType {
    Int16,
    Int32,
    Int64,
    /// `numeric(p,s)`; `None` for unconstrained `numeric`.
    Numeric(Option<(u32, i32)>),
    Float32,
    Float64,
    Bool,
    Text,
    Uuid,
    Date,
    /// `timestamp with time zone`.
    Timestamptz,
    /// `timestamp without time zone`.
    Timestamp,
    /// `time without time zone`.
    Time,
    Json,
    Bytea,
    Array(Box<PgType>),
    /// Any other type (interval, inet, money, enums, ...): kept as its
    /// PostgreSQL text form, which is lossless.
    Other,
}

/// One column as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The declared type, normalised to lower case (`numeric(18,6)`).
    pub decl: String,
    pub pg_type: PgType,
    pub not_null: bool,
}

/// A table: its name (as given to `--table`) and columns in order.
#[derive(Debug, Clone)]
pub struct TableSchema {
    /// The schema (namespace) the table lives in, when the source named one.
    pub namespace: Option<String>,
    pub name: String,
    pub columns: Vec<Column>,
}

/// The storage decided for one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    Int16,
    Int32,
    Int64,
    Decimal(u8, i8),
    NumericText,
    Float32,
    Float64,
    Bool,
    Text,
    UuidText,
    UuidFixed,
    Date,
    Timestamp { utc: bool },
    Time,
    Json,
    Bytea,
    List(Box<Storage>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_as_parses() {
        assert_eq!("string".parse::<NumericAs>(), Ok(NumericAs::String));
        assert_eq!(
            "decimal(38,20)".parse::<NumericAs>(),
            Ok(NumericAs::Decimal(38, 20))
        );
        assert!("decimal(39,2)".parse::<NumericAs>().is_err());
        assert!("decimal(5,6)".parse::<NumericAs>().is_err());
        assert!("float".parse::<NumericAs>().is_err());
    }
}
