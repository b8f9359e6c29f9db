//! Per-column encoding choice from a sample (the first batch), as DuckDB
//! and Spark do: the Parquet writer would otherwise dictionary-encode every
//! column until its dictionary overflows, which for unique values (ids,
//! amounts, timestamps, JSON documents) costs space and time for nothing.
//!
//! - mostly repeated values: dictionary (the writer's default);
//! - integer-backed and non-decreasing (ids, time-ordered timestamps):
//!   DELTA_BINARY_PACKED, a few bits per value;
//! - otherwise mostly distinct: PLAIN, left to the codec.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Time64MicrosecondType, TimeUnit, TimestampMicrosecondType,
};
use arrow::record_batch::RecordBatch;
use std::collections::HashSet;
use std::hash::Hash;

/// Share of distinct values (among non-null ones) above which a dictionary
/// does not pay.
const MAX_DICTIONARY_RATIO: f64 = 0.9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Dictionary,
    Plain,
    Delta,
}

struct Profile {
    distinct_ratio: f64,
    non_decreasing: bool,
}

fn profile<T: Hash + Eq + PartialOrd + Copy>(values: impl Iterator<Item = Option<T>>) -> Profile {
    let mut seen = HashSet::new();
    let mut n = 0usize;
    let mut prev: Option<T> = None;
    let mut non_decreasing = true;
    for v in values.flatten() {
        n += 1;
        seen.insert(v);
        if let Some(p) = prev {
            if v < p {
                non_decreasing = false;
            }
        }
        prev = Some(v);
    }
    Profile {
        distinct_ratio: if n == 0 {
            0.0
        } else {
            seen.len() as f64 / n as f64
        },
        non_decreasing: non_decreasing && n > 1,
    }
}

fn distinct_bytes<'a>(values: impl Iterator<Item = Option<&'a [u8]>>) -> f64 {
    let mut seen = HashSet::new();
    let mut n = 0usize;
    for v in values.flatten() {
        n += 1;
        seen.insert(v);
    }
    if n == 0 {
        0.0
    } else {
        seen.len() as f64 / n as f64
    }
}

/// The choice for one column of the sample.
fn choose(a: &dyn Array, allow_delta: bool) -> Choice {
    let int_profile = match a.data_type() {
        DataType::Int16 => Some(profile(a.as_primitive::<Int16Type>().iter())),
        DataType::Int32 => Some(profile(a.as_primitive::<Int32Type>().iter())),
        DataType::Int64 => Some(profile(a.as_primitive::<Int64Type>().iter())),
        DataType::Date32 => Some(profile(a.as_primitive::<Date32Type>().iter())),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            Some(profile(a.as_primitive::<TimestampMicrosecondType>().iter()))
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            Some(profile(a.as_primitive::<Time64MicrosecondType>().iter()))
        }
        // Decimals up to 18 digits are stored as INT32/INT64.
        DataType::Decimal128(p, _) if *p <= 18 => {
            Some(profile(a.as_primitive::<Decimal128Type>().iter()))
        }
        _ => None,
    };
    let ratio = match (int_profile, a.data_type()) {
        (Some(p), _) => {
            if allow_delta && p.non_decreasing && p.distinct_ratio > MAX_DICTIONARY_RATIO {
                return Choice::Delta;
            }
            p.distinct_ratio
        }
        (None, DataType::Decimal128(..)) => {
            profile(a.as_primitive::<Decimal128Type>().iter()).distinct_ratio
        }
        (None, DataType::Float32) => {
            profile(
                a.as_primitive::<Float32Type>()
                    .iter()
                    .map(|v| v.map(f32::to_bits)),
            )
            .distinct_ratio
        }
        (None, DataType::Float64) => {
            profile(
                a.as_primitive::<Float64Type>()
                    .iter()
                    .map(|v| v.map(f64::to_bits)),
            )
            .distinct_ratio
        }
        (None, DataType::Utf8) => {
            distinct_bytes(a.as_string::<i32>().iter().map(|v| v.map(str::as_bytes)))
        }
        (None, DataType::Binary) => distinct_bytes(a.as_binary::<i32>().iter()),
        (None, DataType::FixedSizeBinary(_)) => distinct_bytes(a.as_fixed_size_binary().iter()),
        _ => return Choice::Dictionary,
    };
    if ratio > MAX_DICTIONARY_RATIO {
        Choice::Plain
    } else {
        Choice::Dictionary
    }
}

/// (column name, choice) for every top-level column of the sample.
pub fn choose_all(sample: &RecordBatch, allow_delta: bool) -> Vec<(String, Choice)> {
    sample
        .schema()
        .fields()
        .iter()
        .zip(sample.columns())
        .map(|(f, a)| (f.name().clone(), choose(a.as_ref(), allow_delta)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn choices() {
        let ids = Int64Array::from_iter_values(0..1000);
        let random = Int64Array::from_iter_values((0..1000).map(|i| (i * 7919) % 1009));
        let few = StringArray::from_iter_values((0..1000).map(|i| ["US", "DE", "NA"][i % 3]));
        let unique = StringArray::from_iter_values((0..1000).map(|i| format!("doc {i}")));
        let batch = RecordBatch::try_from_iter([
            ("ids", Arc::new(ids) as _),
            ("random", Arc::new(random) as _),
            ("few", Arc::new(few) as _),
            ("unique", Arc::new(unique) as _),
        ])
        .unwrap();
        let got: Vec<Choice> = choose_all(&batch, true)
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        assert_eq!(
            got,
            [
                Choice::Delta,
                Choice::Plain,
                Choice::Dictionary,
                Choice::Plain
            ]
        );
        let got: Vec<Choice> = choose_all(&batch, false)
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        assert_eq!(got[0], Choice::Plain);
    }
}
