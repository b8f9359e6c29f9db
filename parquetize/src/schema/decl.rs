//! Declared PostgreSQL types (`numeric(18,6)`, `timestamp(3) with time
//! zone`, `text[]`) recognised as the [`PgType`] that decides their storage.

use crate::model::PgType;

/// Recognise a declared type (lower case, as the SQL parser renders it).
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
}
