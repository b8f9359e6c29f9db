//! The table schema (its types are in `model`): how each declared type maps to
//! Arrow/Parquet, and the canonical text form that `--print-schema` writes
//! and `--schema` reads (a `CREATE TABLE` statement, so one parser serves
//! both it and `pg_dump --schema-only` output).

mod decl;
mod sql;

pub use decl::pg_type_of;
pub use sql::{parse_create_tables, split_table_arg};

use crate::model::{NumericAs, PgType, Storage, TableSchema, UuidAs, MAX_DECIMAL128_PRECISION};
use anyhow::Result;
use archive_core::Failure;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use std::sync::Arc;

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
