//! Just enough of a SQL lexer and parser to read the `CREATE TABLE`
//! statements of `pg_dump --schema-only` output (and the same format that
//! `--print-schema` writes): comments, quoted identifiers, string and
//! dollar-quoted literals, schema-qualified names, types with arguments,
//! arrays, NOT NULL, and table constraints (skipped).

use super::decl::pg_type_of;
use crate::model::{Column, TableSchema};
use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// Unquoted identifier or keyword, folded to lower case as PostgreSQL does.
    Word(String),
    /// `"Quoted"` identifier, case kept.
    Quoted(String),
    Str,
    Num(String),
    Sym(char),
}

/// A table found in the SQL text.
#[derive(Debug, Clone)]
pub struct SqlTable {
    pub namespace: Option<String>,
    pub name: String,
    pub columns: Vec<Column>,
}

impl SqlTable {
    pub fn into_schema(self) -> TableSchema {
        TableSchema {
            namespace: self.namespace,
            name: self.name,
            columns: self.columns,
        }
    }
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let line_of = |pos: usize| src[..pos].bytes().filter(|&c| c == b'\n').count() + 1;
    while i < b.len() {
        let start = i;
        let (tok, end) = match b[i] {
            b' ' | b'\t' | b'\r' | b'\n' => (None, i + 1),
            b'-' if b.get(i + 1) == Some(&b'-') => (
                None,
                memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |k| i + k),
            ),
            b'/' if b.get(i + 1) == Some(&b'*') => match block_comment_end(b, i) {
                Some(end) => (None, end),
                None => bail!("line {}: unterminated /* comment", line_of(start)),
            },
            b'\'' => {
                // E'..' strings allow backslash escapes.
                let escapes = matches!(out.last(), Some((Tok::Word(w), _)) if w == "e");
                match string_end(b, i, escapes) {
                    Some(end) => (Some(Tok::Str), end),
                    None => bail!("line {}: unterminated string literal", line_of(start)),
                }
            }
            b'"' => match quoted_ident(src, i) {
                Some((name, end)) => (Some(Tok::Quoted(name)), end),
                None => bail!("line {}: unterminated quoted identifier", line_of(start)),
            },
            b'$' => match dollar_tag(src, i) {
                // $tag$ ... $tag$ (function bodies, defaults).
                Some(tag) => match src[i + tag.len()..].find(tag) {
                    Some(j) => (Some(Tok::Str), i + tag.len() + j + tag.len()),
                    None => bail!("line {}: unterminated {tag} literal", line_of(start)),
                },
                None => (Some(Tok::Sym('$')), i + 1),
            },
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let end = scan(b, i, |c| {
                    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
                });
                (Some(Tok::Word(src[start..end].to_lowercase())), end)
            }
            c if c.is_ascii_digit() => {
                let end = scan(b, i, |c| c.is_ascii_digit() || c == b'.');
                (Some(Tok::Num(src[start..end].to_string())), end)
            }
            _ => {
                let ch = src[i..].chars().next().unwrap();
                (Some(Tok::Sym(ch)), i + ch.len_utf8())
            }
        };
        if let Some(tok) = tok {
            out.push((tok, start));
        }
        i = end;
    }
    Ok(out)
}

/// The end of the run of bytes from `i` that `keep` accepts.
fn scan(b: &[u8], mut i: usize, keep: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && keep(b[i]) {
        i += 1;
    }
    i
}

/// The position after the `/* … */` comment (nested, as PostgreSQL allows)
/// that starts at `i`, or None if it is not closed.
fn block_comment_end(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0;
    loop {
        if i + 1 >= b.len() {
            return None;
        }
        if b[i] == b'/' && b[i + 1] == b'*' {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Some(i);
            }
        } else {
            i += 1;
        }
    }
}

/// The position after the string literal that starts at `i` (`''` is a
/// quote inside it; with `escapes`, so is `\'`), or None if it is not closed.
fn string_end(b: &[u8], mut i: usize, escapes: bool) -> Option<usize> {
    i += 1;
    loop {
        match b.get(i)? {
            b'\\' if escapes => i += 2,
            b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The `"quoted"` identifier that starts at `i` (`""` is a quote inside it)
/// and the position after it, or None if it is not closed.
fn quoted_ident(src: &str, mut i: usize) -> Option<(String, usize)> {
    let b = src.as_bytes();
    let mut s = String::new();
    i += 1;
    loop {
        match b.get(i)? {
            b'"' if b.get(i + 1) == Some(&b'"') => {
                s.push('"');
                i += 2;
            }
            b'"' => return Some((s, i + 1)),
            _ => {
                let ch = src[i..].chars().next().unwrap();
                s.push(ch);
                i += ch.len_utf8();
            }
        }
    }
}

/// The `$tag$` (or `$$`) that opens a dollar-quoted literal at `i`, if one does.
fn dollar_tag(src: &str, i: usize) -> Option<&str> {
    let e = src[i + 1..].find('$')?;
    let is_tag = src[i + 1..i + 1 + e]
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'_');
    is_tag.then(|| &src[i..i + e + 2])
}

fn is_word(t: Option<&(Tok, usize)>, w: &str) -> bool {
    matches!(t, Some((Tok::Word(x), _)) if x == w)
}

fn ident(t: &Tok) -> Option<String> {
    match t {
        Tok::Word(w) | Tok::Quoted(w) => Some(w.clone()),
        _ => None,
    }
}

/// Every `CREATE TABLE name (...)` in `src`, in order. `source` names the
/// file in errors.
pub fn parse_create_tables(src: &str, source: &str) -> Result<Vec<SqlTable>> {
    let toks = lex(src).map_err(|e| anyhow::anyhow!("{source}: {e:#}"))?;
    let line_of = |pos: usize| src[..pos].bytes().filter(|&c| c == b'\n').count() + 1;
    let mut tables = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if !is_word(toks.get(i), "create") {
            i += 1;
            continue;
        }
        let stmt_pos = toks[i].1;
        let mut j = i + 1;
        while ["global", "local", "temp", "temporary", "unlogged"]
            .iter()
            .any(|w| is_word(toks.get(j), w))
        {
            j += 1;
        }
        if !is_word(toks.get(j), "table") {
            i += 1;
            continue;
        }
        j += 1;
        if is_word(toks.get(j), "if")
            && is_word(toks.get(j + 1), "not")
            && is_word(toks.get(j + 2), "exists")
        {
            j += 3;
        }
        let mut parts = Vec::new();
        while let Some(name) = toks.get(j).and_then(|(t, _)| ident(t)) {
            parts.push(name);
            j += 1;
            if toks.get(j).map(|t| &t.0) == Some(&Tok::Sym('.')) {
                j += 1;
            } else {
                break;
            }
        }
        if parts.is_empty() || toks.get(j).map(|t| &t.0) != Some(&Tok::Sym('(')) {
            // CREATE TABLE ... AS / PARTITION OF / OF type: no column list here.
            i = j.max(i + 1);
            continue;
        }
        j += 1;
        let body_start = j;
        let mut depth = 0usize;
        while j < toks.len() {
            match toks[j].0 {
                Tok::Sym('(') => depth += 1,
                Tok::Sym(')') if depth == 0 => break,
                Tok::Sym(')') => depth -= 1,
                _ => {}
            }
            j += 1;
        }
        if j >= toks.len() {
            bail!(
                "{source}:{}: CREATE TABLE without a closing parenthesis",
                line_of(stmt_pos)
            );
        }
        let columns = parse_body(&toks[body_start..j])
            .map_err(|e| anyhow::anyhow!("{source}:{}: {e:#}", line_of(stmt_pos)))?;
        let name = parts.pop().unwrap();
        let namespace = parts.pop();
        tables.push(SqlTable {
            namespace,
            name,
            columns,
        });
        i = j + 1;
    }
    Ok(tables)
}

const TABLE_CONSTRAINTS: &[&str] = &[
    "constraint",
    "primary",
    "unique",
    "check",
    "foreign",
    "exclude",
];
const COLUMN_CONSTRAINTS: &[&str] = &[
    "not",
    "null",
    "default",
    "collate",
    "constraint",
    "check",
    "primary",
    "unique",
    "references",
    "generated",
    "compression",
    "storage",
];

fn parse_body(toks: &[(Tok, usize)]) -> Result<Vec<Column>> {
    let mut items: Vec<&[(Tok, usize)]> = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (k, (t, _)) in toks.iter().enumerate() {
        match t {
            Tok::Sym('(') | Tok::Sym('[') => depth += 1,
            Tok::Sym(')') | Tok::Sym(']') => depth = depth.saturating_sub(1),
            Tok::Sym(',') if depth == 0 => {
                items.push(&toks[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    if start < toks.len() {
        items.push(&toks[start..]);
    }
    let mut cols = Vec::new();
    for item in items {
        let Some((first, _)) = item.first() else {
            continue;
        };
        if let Tok::Word(w) = first {
            if TABLE_CONSTRAINTS.contains(&w.as_str()) {
                continue;
            }
            if w == "like" {
                bail!(
                    "CREATE TABLE ... (LIKE ...) is not supported; give the expanded column list"
                );
            }
        }
        let name = ident(first)
            .ok_or_else(|| anyhow::anyhow!("expected a column name, found {first:?}"))?;
        // The type runs until the first column constraint keyword at depth 0.
        let mut k = 1;
        let mut depth = 0usize;
        while k < item.len() {
            match &item[k].0 {
                Tok::Sym('(') | Tok::Sym('[') => depth += 1,
                Tok::Sym(')') | Tok::Sym(']') => depth = depth.saturating_sub(1),
                Tok::Word(w) if depth == 0 && COLUMN_CONSTRAINTS.contains(&w.as_str()) => break,
                _ => {}
            }
            k += 1;
        }
        let decl = render_type(&item[1..k]);
        if decl.is_empty() {
            bail!("column {name}: no type");
        }
        let tail = &item[k..];
        let mut not_null = false;
        let mut depth = 0usize;
        for (m, (t, _)) in tail.iter().enumerate() {
            match t {
                Tok::Sym('(') => depth += 1,
                Tok::Sym(')') => depth = depth.saturating_sub(1),
                Tok::Word(w) if depth == 0 && w == "not" && is_word(tail.get(m + 1), "null") => {
                    not_null = true
                }
                Tok::Word(w) if depth == 0 && w == "primary" && is_word(tail.get(m + 1), "key") => {
                    not_null = true
                }
                _ => {}
            }
        }
        cols.push(Column {
            name,
            pg_type: pg_type_of(&decl),
            decl,
            not_null,
        });
    }
    if cols.is_empty() {
        bail!("table has no columns");
    }
    Ok(cols)
}

/// Render type tokens as PostgreSQL prints types: `numeric(18,6)`,
/// `timestamp(3) with time zone`, `public.status`, `integer[]`.
fn render_type(toks: &[(Tok, usize)]) -> String {
    let mut s = String::new();
    let mut prev_wordish = false;
    for (t, _) in toks {
        match t {
            Tok::Word(w) => {
                if prev_wordish {
                    s.push(' ');
                }
                s.push_str(w);
                prev_wordish = true;
            }
            Tok::Quoted(q) => {
                if prev_wordish {
                    s.push(' ');
                }
                s.push_str(&quote_ident(q));
                prev_wordish = true;
            }
            Tok::Num(n) => {
                s.push_str(n);
                prev_wordish = false;
            }
            Tok::Sym(')') => {
                s.push(')');
                prev_wordish = true;
            }
            Tok::Sym('-') => {
                s.push('-');
                prev_wordish = false;
            }
            Tok::Sym(c) => {
                s.push(*c);
                prev_wordish = false;
            }
            Tok::Str => prev_wordish = false,
        }
    }
    s
}

const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_date",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// Quote an identifier the way pg_dump does: only when needed.
pub fn quote_ident(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == b'_')
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        && !RESERVED.contains(&name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Split a `--table` argument into (namespace, name), honouring quotes:
/// `billing.charges`, `"Odd.Name"`, `public."Charges"`.
pub fn split_table_arg(arg: &str) -> Result<(Option<String>, String)> {
    let toks = lex(arg)?;
    let mut parts = Vec::new();
    let mut expect_ident = true;
    for (t, _) in &toks {
        match (t, expect_ident) {
            (Tok::Word(_) | Tok::Quoted(_), true) => {
                parts.push(ident(t).unwrap());
                expect_ident = false;
            }
            (Tok::Sym('.'), false) => expect_ident = true,
            _ => bail!("--table {arg:?}: expected a table name like charges or billing.charges"),
        }
    }
    match parts.len() {
        1 => Ok((None, parts.pop().unwrap())),
        2 => {
            let name = parts.pop().unwrap();
            Ok((parts.pop(), name))
        }
        _ => bail!("--table {arg:?}: expected a table name like charges or billing.charges"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PgType;

    const DUMP: &str = r#"
--
-- PostgreSQL database dump
--
SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);
CREATE FUNCTION public.h(bigint, bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $_$select hashint8extended($1, $2) & 9223372036854775807 -- create table x (a int)$_$;
CREATE TABLE public.charges (
    id bigint NOT NULL,
    "Account Id" uuid NOT NULL,
    amount numeric(18,6),
    fx_rate numeric,
    country character(2) DEFAULT 'NA'::bpchar,
    tags text[],
    created_at timestamp(6) with time zone DEFAULT now() NOT NULL,
    local_at timestamp without time zone,
    CONSTRAINT positive CHECK ((quantity > 0)),
    "select" integer
);
CREATE TABLE billing.charges (id integer);
ALTER TABLE ONLY public.charges
    ADD CONSTRAINT charges_pkey PRIMARY KEY (id);
"#;

    #[test]
    fn reads_pg_dump_tables() {
        let t = parse_create_tables(DUMP, "dump.sql").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].namespace.as_deref(), Some("public"));
        assert_eq!(t[0].name, "charges");
        let c = &t[0].columns;
        let names: Vec<_> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "id",
                "Account Id",
                "amount",
                "fx_rate",
                "country",
                "tags",
                "created_at",
                "local_at",
                "select"
            ]
        );
        assert!(c[0].not_null && c[1].not_null && !c[2].not_null && c[6].not_null);
        assert_eq!(c[2].decl, "numeric(18,6)");
        assert_eq!(c[3].pg_type, PgType::Numeric(None));
        assert_eq!(c[4].decl, "character(2)");
        assert_eq!(c[5].pg_type, PgType::Array(Box::new(PgType::Text)));
        assert_eq!(c[6].decl, "timestamp(6) with time zone");
        assert_eq!(c[6].pg_type, PgType::Timestamptz);
        assert_eq!(c[7].pg_type, PgType::Timestamp);
        assert_eq!(t[1].namespace.as_deref(), Some("billing"));
    }

    #[test]
    fn canonical_text_round_trips() {
        let t = parse_create_tables(DUMP, "dump.sql")
            .unwrap()
            .remove(0)
            .into_schema();
        let text = t.to_sql();
        assert!(text.contains("\"Account Id\" uuid NOT NULL"), "{text}");
        assert!(text.contains("\"select\" integer"), "{text}");
        let back = parse_create_tables(&text, "schema")
            .unwrap()
            .remove(0)
            .into_schema();
        assert_eq!(back.columns, t.columns);
        assert_eq!(back.version(), t.version());
    }

    #[test]
    fn table_args() {
        assert_eq!(
            split_table_arg("charges").unwrap(),
            (None, "charges".into())
        );
        assert_eq!(
            split_table_arg("billing.Charges").unwrap(),
            (Some("billing".into()), "charges".into())
        );
        assert_eq!(
            split_table_arg("\"Odd.Name\"").unwrap(),
            (None, "Odd.Name".into())
        );
        assert!(split_table_arg("a.b.c").is_err());
    }
}
