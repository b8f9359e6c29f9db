//! Column builders: text values in, Arrow arrays out. One builder per
//! column; a batch is finished every few thousand rows and handed to the
//! writer thread.

use crate::model::Storage;
use crate::schema::field_for;
use crate::value;
use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    FixedSizeBinaryBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, ListArray, StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use std::sync::Arc;

pub enum ColumnBuilder {
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    Decimal(Decimal128Builder, u8, i8),
    F32(Float32Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    /// Text and other types kept as text.
    Text(StringBuilder),
    /// Unconstrained numeric kept as its exact text, checked to be a
    /// numeric literal.
    NumericText(StringBuilder),
    Json(StringBuilder),
    UuidText(StringBuilder),
    UuidFixed(FixedSizeBinaryBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder, bool),
    Time(Time64MicrosecondBuilder),
    Bytea(BinaryBuilder, Vec<u8>),
    List(Box<ListState>),
}

pub struct ListState {
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
    child: ColumnBuilder,
    element: Arc<arrow::datatypes::Field>,
    scratch: Vec<Option<String>>,
    /// `--drop-array-bounds`: accept a lower bound other than 1 and store
    /// the elements only (a List has no lower bound).
    drop_bounds: bool,
}

impl ColumnBuilder {
    /// A builder for `storage`; `drop_array_bounds` says whether an array's
    /// lower bound other than 1 may be dropped (else it is an error).
    pub fn new(storage: &Storage, capacity: usize, drop_array_bounds: bool) -> ColumnBuilder {
        match storage {
            Storage::Int16 => ColumnBuilder::I16(Int16Builder::with_capacity(capacity)),
            Storage::Int32 => ColumnBuilder::I32(Int32Builder::with_capacity(capacity)),
            Storage::Int64 => ColumnBuilder::I64(Int64Builder::with_capacity(capacity)),
            Storage::Decimal(p, s) => ColumnBuilder::Decimal(
                Decimal128Builder::with_capacity(capacity)
                    .with_precision_and_scale(*p, *s)
                    .expect("precision and scale checked when the schema was mapped"),
                *p,
                *s,
            ),
            Storage::Text => {
                ColumnBuilder::Text(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            Storage::NumericText => {
                ColumnBuilder::NumericText(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            Storage::Json => {
                ColumnBuilder::Json(StringBuilder::with_capacity(capacity, capacity * 64))
            }
            Storage::UuidText => {
                ColumnBuilder::UuidText(StringBuilder::with_capacity(capacity, capacity * 36))
            }
            Storage::UuidFixed => {
                ColumnBuilder::UuidFixed(FixedSizeBinaryBuilder::with_capacity(capacity, 16))
            }
            Storage::Float32 => ColumnBuilder::F32(Float32Builder::with_capacity(capacity)),
            Storage::Float64 => ColumnBuilder::F64(Float64Builder::with_capacity(capacity)),
            Storage::Bool => ColumnBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            Storage::Date => ColumnBuilder::Date(Date32Builder::with_capacity(capacity)),
            Storage::Timestamp { utc } => {
                let b = TimestampMicrosecondBuilder::with_capacity(capacity);
                let b = if *utc { b.with_timezone("UTC") } else { b };
                ColumnBuilder::Timestamp(b, *utc)
            }
            Storage::Time => ColumnBuilder::Time(Time64MicrosecondBuilder::with_capacity(capacity)),
            Storage::Bytea => ColumnBuilder::Bytea(
                BinaryBuilder::with_capacity(capacity, capacity * 16),
                Vec::new(),
            ),
            Storage::List(inner) => {
                let mut offsets = Vec::with_capacity(capacity + 1);
                offsets.push(0);
                ColumnBuilder::List(Box::new(ListState {
                    offsets,
                    nulls: NullBufferBuilder::new(capacity),
                    child: ColumnBuilder::new(inner, capacity, drop_array_bounds),
                    element: Arc::new(field_for("element", inner, true)),
                    scratch: Vec::new(),
                    drop_bounds: drop_array_bounds,
                }))
            }
        }
    }

    /// Append one value (`None` = NULL). The error is a short reason.
    pub fn append(&mut self, v: Option<&str>) -> Result<(), String> {
        let Some(t) = v else {
            self.append_null();
            return Ok(());
        };
        match self {
            ColumnBuilder::I16(b) => {
                b.append_value(value::parse_int(t, i16::MIN as i64, i16::MAX as i64)? as i16)
            }
            ColumnBuilder::I32(b) => {
                b.append_value(value::parse_int(t, i32::MIN as i64, i32::MAX as i64)? as i32)
            }
            ColumnBuilder::I64(b) => b.append_value(value::parse_int(t, i64::MIN, i64::MAX)?),
            ColumnBuilder::Decimal(b, p, s) => b.append_value(value::parse_decimal(t, *p, *s)?),
            ColumnBuilder::F32(b) => b.append_value(value::parse_f32(t)?),
            ColumnBuilder::F64(b) => b.append_value(value::parse_f64(t)?),
            ColumnBuilder::Bool(b) => b.append_value(value::parse_bool(t)?),
            ColumnBuilder::Text(b) => b.append_value(t),
            ColumnBuilder::NumericText(b) => {
                value::check_numeric_literal(t)?;
                b.append_value(t)
            }
            ColumnBuilder::Json(b) => {
                value::check_json(t)?;
                b.append_value(t)
            }
            ColumnBuilder::UuidText(b) => {
                if value::is_canonical_uuid(t) {
                    b.append_value(t)
                } else {
                    b.append_value(value::format_uuid(&value::parse_uuid(t)?))
                }
            }
            ColumnBuilder::UuidFixed(b) => b
                .append_value(value::parse_uuid(t)?)
                .expect("16 bytes for a 16-byte column"),
            ColumnBuilder::Date(b) => b.append_value(value::parse_date(t)?),
            ColumnBuilder::Timestamp(b, utc) => b.append_value(value::parse_timestamp(t, *utc)?),
            ColumnBuilder::Time(b) => b.append_value(value::parse_time(t)?),
            ColumnBuilder::Bytea(b, buf) => {
                value::parse_bytea(t, buf)?;
                b.append_value(&buf[..])
            }
            ColumnBuilder::List(l) => {
                let mut elems = std::mem::take(&mut l.scratch);
                let bounds = value::split_array(t, &mut elems);
                let bounds = match bounds {
                    Ok(b) => b,
                    Err(e) => {
                        l.scratch = elems;
                        return Err(e);
                    }
                };
                if let Some(b) = bounds.filter(|b| b.lower != 1 && !l.drop_bounds) {
                    l.scratch = elems;
                    return Err(format!(
                        "array lower bound {} ([{}:{}]) would be lost: a Parquet list starts at 1 \
                         (--drop-array-bounds stores the elements only)",
                        b.lower, b.lower, b.upper
                    ));
                }
                for (k, e) in elems.iter().enumerate() {
                    l.child
                        .append(e.as_deref())
                        .map_err(|msg| format!("array element {}: {msg}", k + 1))?;
                }
                let end = l.offsets.last().copied().unwrap_or(0) + elems.len() as i32;
                l.offsets.push(end);
                l.nulls.append_non_null();
                l.scratch = elems;
            }
        }
        Ok(())
    }

    fn append_null(&mut self) {
        match self {
            ColumnBuilder::I16(b) => b.append_null(),
            ColumnBuilder::I32(b) => b.append_null(),
            ColumnBuilder::I64(b) => b.append_null(),
            ColumnBuilder::Decimal(b, ..) => b.append_null(),
            ColumnBuilder::F32(b) => b.append_null(),
            ColumnBuilder::F64(b) => b.append_null(),
            ColumnBuilder::Bool(b) => b.append_null(),
            ColumnBuilder::Text(b)
            | ColumnBuilder::NumericText(b)
            | ColumnBuilder::Json(b)
            | ColumnBuilder::UuidText(b) => b.append_null(),
            ColumnBuilder::UuidFixed(b) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
            ColumnBuilder::Timestamp(b, _) => b.append_null(),
            ColumnBuilder::Time(b) => b.append_null(),
            ColumnBuilder::Bytea(b, _) => b.append_null(),
            ColumnBuilder::List(l) => {
                let end = l.offsets.last().copied().unwrap_or(0);
                l.offsets.push(end);
                l.nulls.append_null();
            }
        }
    }

    /// The array of everything appended since the last finish.
    pub fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::I16(b) => Arc::new(b.finish()),
            ColumnBuilder::I32(b) => Arc::new(b.finish()),
            ColumnBuilder::I64(b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal(b, ..) => Arc::new(b.finish()),
            ColumnBuilder::F32(b) => Arc::new(b.finish()),
            ColumnBuilder::F64(b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Text(b)
            | ColumnBuilder::NumericText(b)
            | ColumnBuilder::Json(b)
            | ColumnBuilder::UuidText(b) => Arc::new(b.finish()),
            ColumnBuilder::UuidFixed(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b, _) => Arc::new(b.finish()),
            ColumnBuilder::Time(b) => Arc::new(b.finish()),
            ColumnBuilder::Bytea(b, _) => Arc::new(b.finish()),
            ColumnBuilder::List(l) => {
                let offsets = std::mem::replace(&mut l.offsets, vec![0]);
                let values = l.child.finish();
                let nulls = l.nulls.finish();
                Arc::new(ListArray::new(
                    l.element.clone(),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    values,
                    nulls,
                ))
            }
        }
    }
}
