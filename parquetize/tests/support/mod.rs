//! Shared helpers for the parquetize tests: the binary, PostgreSQL's own
//! view of a table rendered as canonical text, and the same rendering of a
//! Parquet file through arrow-rs and (independently) pyarrow.
#![allow(dead_code)]

use arrow::array::*;
use arrow::datatypes::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use testkit::Postgres;

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_parquetize"))
}

pub fn support(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}

/// A row: one canonical text per column, `None` for NULL.
pub type Row = Vec<Option<String>>;

/// The columns of a table as PostgreSQL describes them: (name, udt_name).
pub fn pg_columns(pg: &Postgres, table: &str) -> Vec<(String, String)> {
    pg.psql(&format!(
        "select column_name || '|' || udt_name from information_schema.columns \
         where table_name = '{table}' order by ordinal_position"
    ))
    .lines()
    .map(|l| {
        let (n, t) = l.split_once('|').unwrap();
        (n.to_string(), t.to_string())
    })
    .collect()
}

/// Every row of `table`, ordered by `order_by`, each value rendered by
/// PostgreSQL itself in the canonical text of [`read_arrow`].
pub fn pg_truth(pg: &Postgres, table: &str, order_by: &str) -> (Vec<(String, String)>, Vec<Row>) {
    let cols = pg_columns(pg, table);
    let exprs: Vec<String> = cols
        .iter()
        .map(|(n, t)| {
            let c = format!("\"{n}\"");
            let e = match t.as_str() {
                "date" => format!("({c} - date '1970-01-01')::text"),
                "timestamptz" | "timestamp" | "time" => {
                    format!("(extract(epoch from {c}) * 1000000)::bigint::text")
                }
                "bytea" => format!("encode({c}, 'hex')"),
                t if t.starts_with('_') => format!("to_json({c})::text"),
                _ => format!("format('%s', {c})"),
            };
            format!("case when {c} is null then null else {e} end")
        })
        .collect();
    let sql = format!(
        "select json_build_array({})::text from {table} order by {order_by}",
        exprs.join(", ")
    );
    let rows = pg
        .psql(&sql)
        .lines()
        .map(|l| serde_json::from_str::<Row>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (cols, rows)
}

fn decimal_text(v: i128, scale: i8) -> String {
    let neg = v < 0;
    let digits = v.unsigned_abs().to_string();
    let s = scale as usize;
    let text = if s == 0 {
        digits
    } else if digits.len() > s {
        format!(
            "{}.{}",
            &digits[..digits.len() - s],
            &digits[digits.len() - s..]
        )
    } else {
        format!("0.{}{}", "0".repeat(s - digits.len()), digits)
    };
    if neg {
        format!("-{text}")
    } else {
        text
    }
}

fn uuid_text(b: &[u8]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn json_value(a: &dyn Array, i: usize) -> Value {
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            serde_json::from_str(&render(a, i).unwrap()).unwrap()
        }
        DataType::Boolean => {
            Value::Bool(a.as_any().downcast_ref::<BooleanArray>().unwrap().value(i))
        }
        _ => Value::String(render(a, i).unwrap()),
    }
}

/// One value of an Arrow array in canonical text.
pub fn render(a: &dyn Array, i: usize) -> Option<String> {
    if a.is_null(i) {
        return None;
    }
    let any = a.as_any();
    Some(match a.data_type() {
        DataType::Int16 => any
            .downcast_ref::<Int16Array>()
            .unwrap()
            .value(i)
            .to_string(),
        DataType::Int32 => any
            .downcast_ref::<Int32Array>()
            .unwrap()
            .value(i)
            .to_string(),
        DataType::Int64 => any
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(i)
            .to_string(),
        DataType::Decimal128(_, s) => {
            decimal_text(any.downcast_ref::<Decimal128Array>().unwrap().value(i), *s)
        }
        DataType::Utf8 => any
            .downcast_ref::<StringArray>()
            .unwrap()
            .value(i)
            .to_string(),
        DataType::Boolean => (if any.downcast_ref::<BooleanArray>().unwrap().value(i) {
            "t"
        } else {
            "f"
        })
        .to_string(),
        DataType::Date32 => any
            .downcast_ref::<Date32Array>()
            .unwrap()
            .value(i)
            .to_string(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => any
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap()
            .value(i)
            .to_string(),
        DataType::Time64(TimeUnit::Microsecond) => any
            .downcast_ref::<Time64MicrosecondArray>()
            .unwrap()
            .value(i)
            .to_string(),
        DataType::Float32 => any
            .downcast_ref::<Float32Array>()
            .unwrap()
            .value(i)
            .to_string(),
        DataType::Float64 => any
            .downcast_ref::<Float64Array>()
            .unwrap()
            .value(i)
            .to_string(),
        DataType::Binary => any
            .downcast_ref::<BinaryArray>()
            .unwrap()
            .value(i)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect(),
        DataType::FixedSizeBinary(16) => {
            uuid_text(any.downcast_ref::<FixedSizeBinaryArray>().unwrap().value(i))
        }
        DataType::List(_) => {
            let l = any.downcast_ref::<ListArray>().unwrap().value(i);
            let items: Vec<Value> = (0..l.len()).map(|k| json_value(l.as_ref(), k)).collect();
            serde_json::to_string(&items).unwrap()
        }
        other => panic!("no rendering for {other:?}"),
    })
}

/// A Parquet file read with arrow-rs: its Arrow schema and rows.
pub fn read_arrow(path: &Path) -> (arrow::datatypes::SchemaRef, Vec<Row>) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let schema = reader.schema();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        for r in 0..batch.num_rows() {
            rows.push(
                (0..batch.num_columns())
                    .map(|c| render(batch.column(c).as_ref(), r))
                    .collect(),
            );
        }
    }
    (schema, rows)
}

/// A Parquet file read with pyarrow (tests/support/read_parquet.py):
/// the description line and the rows.
pub fn read_pyarrow(path: &Path) -> (Value, Vec<Row>) {
    let out = Command::new("python3")
        .arg(support("read_parquet.py"))
        .arg(path)
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "pyarrow could not read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let info: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let rows = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    (info, rows)
}

fn normalise_decimal(s: &str) -> String {
    if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.');
        if t == "-0" {
            "0".into()
        } else {
            t.to_string()
        }
    } else {
        s.to_string()
    }
}

fn same_value(udt: &str, truth: &Option<String>, got: &Option<String>) -> bool {
    match (truth, got) {
        (None, None) => true,
        (Some(t), Some(g)) => match udt {
            "numeric" => normalise_decimal(t) == normalise_decimal(g),
            "float4" => {
                let (a, b) = (t.parse::<f32>().unwrap(), g.parse::<f32>().unwrap());
                a == b || (a.is_nan() && b.is_nan())
            }
            "float8" => {
                let (a, b) = (t.parse::<f64>().unwrap(), g.parse::<f64>().unwrap());
                a == b || (a.is_nan() && b.is_nan())
            }
            u if u.starts_with('_') => {
                serde_json::from_str::<Value>(t).unwrap()
                    == serde_json::from_str::<Value>(g).unwrap()
            }
            _ => t == g,
        },
        _ => false,
    }
}

/// Compare every value of every column; panics naming the first
/// difference (row, column, both values).
pub fn assert_same_rows(what: &str, cols: &[(String, String)], truth: &[Row], got: &[Row]) {
    assert_eq!(
        truth.len(),
        got.len(),
        "{what}: PostgreSQL has {} rows, the file {}",
        truth.len(),
        got.len()
    );
    let mut compared = 0usize;
    for (r, (t, g)) in truth.iter().zip(got).enumerate() {
        assert_eq!(t.len(), g.len(), "{what}: row {r}: column count");
        for (c, (name, udt)) in cols.iter().enumerate() {
            assert!(
                same_value(udt, &t[c], &g[c]),
                "{what}: row {r} (id {:?}), column {name} ({udt}): PostgreSQL {:?}, file {:?}",
                t[0],
                t[c],
                g[c]
            );
            compared += 1;
        }
    }
    assert!(compared > 0 || truth.is_empty());
}
