//! The table schema: PostgreSQL column types as declared, how each maps to
//! Arrow/Parquet, and the canonical text form that `--print-schema` writes
//! and `--schema` reads (a `CREATE TABLE` statement, so one parser serves
//! both it and `pg_dump --schema-only` output).

mod sql;

pub use sql::{parse_create_tables, split_table_arg};

use anyhow::Result;
use archive_core::Failure;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use std::sync::Arc;

/// Largest precision a Decimal128 holds.
pub const MAX_DECIMAL128_PRECISION: u32 = 38;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UuidAs {
    /// Utf8, the canonical lower-case 8-4-4-4-12 form.
    String,
    /// FixedSizeBinary(16) with the Parquet UUID logical type.
    Fixed,
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

/// A table: its name (as given to `--table`) and columns in order.
#[derive(Debug, Clone)]
pub struct TableSchema {
    /// The schema (namespace) the table lives in, when the source named one.
    pub namespace: Option<String>,
    pub name: String,
    pub columns: Vec<Column>,
}

/// Options that decide storage for types without one exact mapping.
#[derive(Debug, Clone, Copy)]
pub struct MappingOptions {
    pub numeric_as: Option<NumericAs>,
    pub uuid_as: UuidAs,
}

impl TableSchema {
    /// The storage of every column, or a data error (exit 3) naming the
    /// first column whose type cannot be stored without loss.
    pub fn storages(&self, opts: MappingOptions) -> Result<Vec<Storage>> {
        self.columns
            .iter()
            .map(|c| {
                storage_for(&c.pg_type, opts).map_err(|msg| {
                    Failure::data(format!(
                        "table {}: column {} ({}): {msg}",
                        self.name, c.name, c.decl
                    ))
                })
            })
            .collect()
    }

    /// The Arrow schema for these storages. Field metadata keeps the
    /// declared PostgreSQL type.
    pub fn arrow_schema(&self, storages: &[Storage]) -> Schema {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .zip(storages)
            .map(|(c, s)| {
                let mut f = field_for(&c.name, s, !c.not_null);
                f.metadata_mut().insert("pg_type", c.decl.clone());
                f
            })
            .collect();
        Schema::new(fields)
    }

    /// The canonical schema text: a `CREATE TABLE` statement in pg_dump's
    /// layout, which `--schema FILE` reads back.
    pub fn to_sql(&self) -> String {
        let mut s = String::from("CREATE TABLE ");
        if let Some(ns) = &self.namespace {
            s.push_str(&sql::quote_ident(ns));
            s.push('.');
        }
        s.push_str(&sql::quote_ident(&self.name));
        s.push_str(" (\n");
        for (i, c) in self.columns.iter().enumerate() {
            s.push_str("    ");
            s.push_str(&sql::quote_ident(&c.name));
            s.push(' ');
            s.push_str(&c.decl);
            if c.not_null {
                s.push_str(" NOT NULL");
            }
            if i + 1 < self.columns.len() {
                s.push(',');
            }
            s.push('\n');
        }
        s.push_str(");\n");
        s
    }

    /// A short, stable identifier of the column list (names, types,
    /// nullability), independent of the table name: the first 12 hex digits
    /// of the SHA-256 of the canonical column list.
    pub fn version(&self) -> String {
        let mut text = String::new();
        for c in &self.columns {
            text.push_str(&format!("{}\t{}\t{}\n", c.name, c.decl, c.not_null));
        }
        archive_core::hash::sha256_hex(text.as_bytes())[..12].to_string()
    }
}

fn storage_for(t: &PgType, opts: MappingOptions) -> Result<Storage, String> {
    Ok(match t {
        PgType::Int16 => Storage::Int16,
        PgType::Int32 => Storage::Int32,
        PgType::Int64 => Storage::Int64,
        PgType::Numeric(Some((p, s))) if *p <= MAX_DECIMAL128_PRECISION && *s >= 0 => {
            Storage::Decimal(*p as u8, *s as i8)
        }
        PgType::Numeric(constraint) => {
            let why = match constraint {
                None => "numeric without precision has no exact fixed-point type".to_string(),
                Some((p, s)) if *s < 0 => format!(
                    "negative scale {s} is not supported by Parquet decimals (precision {p})"
                ),
                Some((p, _)) => {
                    format!("precision {p} exceeds Decimal128's {MAX_DECIMAL128_PRECISION} digits")
                }
            };
            match opts.numeric_as {
                Some(NumericAs::String) => Storage::NumericText,
                Some(NumericAs::Decimal(p, s)) => Storage::Decimal(p as u8, s as i8),
                None => {
                    return Err(format!(
                    "{why}; choose --numeric-as string (exact text) or --numeric-as decimal(p,s) \
                         (values that do not fit are then an error, never rounded)"
                ))
                }
            }
        }
        PgType::Float32 => Storage::Float32,
        PgType::Float64 => Storage::Float64,
        PgType::Bool => Storage::Bool,
        PgType::Text | PgType::Other => Storage::Text,
        PgType::Uuid => match opts.uuid_as {
            UuidAs::String => Storage::UuidText,
            UuidAs::Fixed => Storage::UuidFixed,
        },
        PgType::Date => Storage::Date,
        PgType::Timestamptz => Storage::Timestamp { utc: true },
        PgType::Timestamp => Storage::Timestamp { utc: false },
        PgType::Time => Storage::Time,
        PgType::Json => Storage::Json,
        PgType::Bytea => Storage::Bytea,
        PgType::Array(inner) => {
            if matches!(**inner, PgType::Array(_)) {
                return Err("nested array types are not supported".into());
            }
            Storage::List(Box::new(storage_for(inner, opts)?))
        }
    })
}

/// The Arrow field for a storage.
pub fn field_for(name: &str, s: &Storage, nullable: bool) -> Field {
    let dt = match s {
        Storage::Int16 => DataType::Int16,
        Storage::Int32 => DataType::Int32,
        Storage::Int64 => DataType::Int64,
        Storage::Decimal(p, s) => DataType::Decimal128(*p, *s),
        Storage::NumericText | Storage::Text | Storage::UuidText | Storage::Json => DataType::Utf8,
        Storage::Float32 => DataType::Float32,
        Storage::Float64 => DataType::Float64,
        Storage::Bool => DataType::Boolean,
        Storage::UuidFixed => DataType::FixedSizeBinary(16),
        Storage::Date => DataType::Date32,
        Storage::Timestamp { utc: true } => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        Storage::Timestamp { utc: false } => DataType::Timestamp(TimeUnit::Microsecond, None),
        Storage::Time => DataType::Time64(TimeUnit::Microsecond),
        Storage::Bytea => DataType::Binary,
        Storage::List(inner) => DataType::List(Arc::new(field_for("element", inner, true))),
    };
    let mut f = Field::new(name, dt, nullable);
    // The canonical Arrow extension types, which the Parquet writer maps to
    // the UUID and JSON logical types.
    let extension = match s {
        Storage::UuidFixed => Some("arrow.uuid"),
        Storage::Json => Some("arrow.json"),
        _ => None,
    };
    if let Some(ext) = extension {
        let md = f.metadata_mut();
        md.insert("ARROW:extension:name", ext);
        md.insert("ARROW:extension:metadata", "");
    }
    f
}

/// Recognise a declared type (lower case, as [`sql`] renders it).
pub fn pg_type_of(decl: &str) -> PgType {
    let d = decl.trim();
    if let Some(inner) = d.strip_suffix("[]") {
        return PgType::Array(Box::new(pg_type_of(inner)));
    }
    if let Some(inner) = d.strip_suffix(" array") {
        return PgType::Array(Box::new(pg_type_of(inner)));
    }
    // `integer[3]` is an array too (the size is not enforced by PostgreSQL).
    if d.ends_with(']') {
        if let Some(open) = d.rfind('[') {
            return PgType::Array(Box::new(pg_type_of(&d[..open])));
        }
    }
    // Schema-qualified built-in names (`pg_catalog.int8`) are the built-in.
    let d = d.strip_prefix("pg_catalog.").unwrap_or(d);
    let (base, args) = match d.find('(') {
        Some(i) => (d[..i].trim(), Some(&d[i..])),
        None => (d, None),
    };
    let rest_after_args = args
        .and_then(|a| a.find(')').map(|j| a[j + 1..].trim()))
        .unwrap_or("");
    match base {
        "smallint" | "int2" | "smallserial" | "serial2" => PgType::Int16,
        "integer" | "int" | "int4" | "serial" | "serial4" => PgType::Int32,
        "bigint" | "int8" | "bigserial" | "serial8" => PgType::Int64,
        "numeric" | "decimal" => PgType::Numeric(args.and_then(numeric_args)),
        "real" | "float4" => PgType::Float32,
        "double precision" | "float8" => PgType::Float64,
        "float" => match args.and_then(|a| {
            a.trim_matches(|c| c == '(' || c == ')')
                .trim()
                .parse::<u32>()
                .ok()
        }) {
            Some(n) if n <= 24 => PgType::Float32,
            _ => PgType::Float64,
        },
        "boolean" | "bool" => PgType::Bool,
        "text" | "character varying" | "varchar" | "character" | "char" | "bpchar" | "citext"
        | "name" | "\"char\"" => PgType::Text,
        "uuid" => PgType::Uuid,
        "date" => PgType::Date,
        "timestamptz" => PgType::Timestamptz,
        "timestamp with time zone" => PgType::Timestamptz,
        "timestamp" | "timestamp without time zone" => {
            if rest_after_args == "with time zone" {
                PgType::Timestamptz
            } else {
                PgType::Timestamp
            }
        }
        "time" | "time without time zone" => {
            if rest_after_args == "with time zone" {
                PgType::Other
            } else {
                PgType::Time
            }
        }
        "json" | "jsonb" => PgType::Json,
        "bytea" => PgType::Bytea,
        _ => PgType::Other,
    }
}

fn numeric_args(a: &str) -> Option<(u32, i32)> {
    let inner = a.trim().strip_prefix('(')?.split(')').next()?;
    let mut parts = inner.split(',');
    let p: u32 = parts.next()?.trim().parse().ok()?;
    let s: i32 = match parts.next() {
        Some(s) => s.trim().parse().ok()?,
        None => 0,
    };
    Some((p, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_declared_types() {
        assert_eq!(pg_type_of("numeric(18,6)"), PgType::Numeric(Some((18, 6))));
        assert_eq!(pg_type_of("numeric(10)"), PgType::Numeric(Some((10, 0))));
        assert_eq!(pg_type_of("numeric"), PgType::Numeric(None));
        assert_eq!(
            pg_type_of("timestamp(3) with time zone"),
            PgType::Timestamptz
        );
        assert_eq!(
            pg_type_of("timestamp(3) without time zone"),
            PgType::Timestamp
        );
        assert_eq!(pg_type_of("timestamp with time zone"), PgType::Timestamptz);
        assert_eq!(pg_type_of("character varying(20)"), PgType::Text);
        assert_eq!(pg_type_of("character(2)"), PgType::Text);
        assert_eq!(
            pg_type_of("integer[]"),
            PgType::Array(Box::new(PgType::Int32))
        );
        assert_eq!(
            pg_type_of("text[][]"),
            PgType::Array(Box::new(PgType::Array(Box::new(PgType::Text))))
        );
        assert_eq!(pg_type_of("double precision"), PgType::Float64);
        assert_eq!(pg_type_of("float(10)"), PgType::Float32);
        assert_eq!(pg_type_of("interval"), PgType::Other);
        assert_eq!(pg_type_of("public.status"), PgType::Other);
    }

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
