//! `restore query`: the DuckDB views and Athena DDL that read an archive
//! where it lies, so nobody writes a query engine of their own.
//!
//! Hive layout: `<root>/<user_key>=<user>/<date_key>=YYYY-MM-DD/*.ndjson[.zst]`.
//! The keys are not names a record uses (`archive_user`, `archive_date` by
//! default), so DuckDB's partition columns never hide a record's own
//! `user_id` or `date`. Seed layout: `<root>/<user>/YYYY/MM/DD/*.json`, one
//! wrapper object per file whose `conversations` (or `records`) array holds
//! the records.

use crate::config::QueryConfig;
use serde_json::Value;
use std::fmt::Write;

/// Everything `restore query` prints.
pub fn render(cfg: &QueryConfig, sample: Option<&Value>) -> String {
    let mut out = String::new();
    let root = cfg.root.trim_end_matches('/');
    let _ = writeln!(out, "-- DuckDB: duckdb -init THIS_FILE (reading s3:// needs the httpfs extension and credentials)");
    if cfg.hive {
        duckdb_hive(&mut out, cfg, root);
    } else {
        duckdb_seed(&mut out, cfg, root, seed_records_key(sample));
    }
    if let Some(table) = &cfg.athena_table {
        out.push('\n');
        athena(&mut out, cfg, table, root, sample);
    }
    out
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn duckdb_hive(out: &mut String, cfg: &QueryConfig, root: &str) {
    let glob = quote(&format!(
        "{root}/{}=*/{}=*/*.ndjson*",
        cfg.user_key, cfg.date_key
    ));
    let _ = writeln!(
        out,
        "CREATE OR REPLACE VIEW {view} AS\n  SELECT * FROM read_json_auto({glob}, format = 'newline_delimited', hive_partitioning = true, union_by_name = true);",
        view = cfg.view
    );
    let _ = writeln!(
        out,
        "-- {u} is the user's directory (sanitised id), {d} the UTC day: a record's own fields keep their names.",
        u = cfg.user_key,
        d = cfg.date_key
    );
}

/// The wrapper's array of records: `conversations` for the conversations
/// preset, `records` for the others; a sample file says which.
fn seed_records_key(sample: Option<&Value>) -> &'static str {
    match sample {
        Some(v) if v.get("records").is_some_and(Value::is_array) => "records",
        _ => "conversations",
    }
}

fn duckdb_seed(out: &mut String, cfg: &QueryConfig, root: &str, records_key: &str) {
    let glob = quote(&format!(
        "{root}/*/[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]/*.json"
    ));
    let _ = writeln!(
        out,
        "CREATE OR REPLACE VIEW {view}_files AS\n  SELECT * FROM read_json_auto({glob}, format = 'auto', union_by_name = true, maximum_object_size = 1073741824, filename = true)\n  WHERE filename NOT LIKE '%/\\_daily\\_summaries/%' ESCAPE '\\';",
        view = cfg.view
    );
    let _ = writeln!(
        out,
        "CREATE OR REPLACE VIEW {view} AS\n  SELECT {u}, {d}, unnest(r) FROM (\n    SELECT user_id AS {u}, CAST(date AS VARCHAR) AS {d}, unnest({records_key}) AS r FROM {view}_files);",
        view = cfg.view,
        u = cfg.user_key,
        d = cfg.date_key
    );
}

fn athena(out: &mut String, cfg: &QueryConfig, table: &str, root: &str, sample: Option<&Value>) {
    let columns = match sample.and_then(Value::as_object) {
        Some(obj) => obj
            .iter()
            .filter(|(k, _)| !(cfg.hive && (*k == &cfg.user_key || *k == &cfg.date_key)))
            .map(|(k, v)| format!("  `{}` {}", k.replace('`', ""), athena_type(v)))
            .collect::<Vec<_>>()
            .join(",\n"),
        None => "  -- no sample record found: list the columns here".to_string(),
    };
    let (u, d) = (&cfg.user_key, &cfg.date_key);
    let (template, date_format) = if cfg.hive {
        (format!("{root}/{u}=${{{u}}}/{d}=${{{d}}}/"), "yyyy-MM-dd")
    } else {
        (format!("{root}/${{{u}}}/${{{d}}}/"), "yyyy/MM/dd")
    };
    let _ = writeln!(
        out,
        "-- Athena (partition projection: no crawler, no MSCK REPAIR; users are injected, so queries must name one)\n\
         CREATE EXTERNAL TABLE IF NOT EXISTS {table} (\n{columns}\n)\n\
         PARTITIONED BY (`{u}` string, `{d}` string)\n\
         ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\n\
         LOCATION {location}\n\
         TBLPROPERTIES (\n  'projection.enabled' = 'true',\n  'projection.{u}.type' = 'injected',\n  'projection.{d}.type' = 'date',\n  'projection.{d}.format' = '{date_format}',\n  'projection.{d}.range' = '{since},NOW',\n  'projection.{d}.interval' = '1',\n  'projection.{d}.interval.unit' = 'DAYS',\n  'storage.location.template' = {template}\n);",
        location = quote(&format!("{root}/")),
        since = date_for_projection(&cfg.since, date_format),
        template = quote(&template),
    );
}

fn date_for_projection(since: &str, format: &str) -> String {
    if format == "yyyy/MM/dd" {
        since.replace('-', "/")
    } else {
        since.to_string()
    }
}

/// The Hive type of a JSON value, nested structs and arrays included.
pub fn athena_type(v: &Value) -> String {
    match v {
        Value::Bool(_) => "boolean".into(),
        Value::Number(n) if n.is_i64() || n.is_u64() => "bigint".into(),
        Value::Number(_) => "double".into(),
        Value::Array(a) => format!(
            "array<{}>",
            a.first()
                .map(athena_type)
                .unwrap_or_else(|| "string".into())
        ),
        Value::Object(o) if !o.is_empty() => format!(
            "struct<{}>",
            o.iter()
                .map(|(k, v)| format!("`{}`:{}", k.replace('`', ""), athena_type(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        _ => "string".into(),
    }
}

/// The first record of a local archive, for the Athena columns.
pub fn local_sample(root: &std::path::Path) -> Option<Value> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir).ok()?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries.into_iter().rev() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ft = e.file_type().ok()?;
            if ft.is_dir() && !name.starts_with('_') && !name.starts_with('.') {
                stack.push(e.path());
            } else if ft.is_file()
                && (name.ends_with(".ndjson") || name.ends_with(".json"))
                && !name.starts_with("manifest")
            {
                let text = std::fs::read_to_string(e.path()).ok()?;
                let first: Value = serde_json::from_str(text.lines().next()?).ok()?;
                return Some(first);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_types() {
        let v = json!({"a": 1, "b": [{"c": "x", "d": 1.5}], "e": {}, "f": null, "g": true});
        let t: Vec<String> = v.as_object().unwrap().values().map(athena_type).collect();
        assert_eq!(
            t,
            [
                "bigint",
                "array<struct<`c`:string,`d`:double>>",
                "string",
                "string",
                "boolean"
            ]
        );
    }
}
