//! `--infer`: choose column types by reading the whole input first. Only
//! exact types are chosen: integers, fixed-point numerics sized to the
//! widest value seen, booleans, dates, timestamps with and without zone,
//! UUIDs, JSON; anything else is text. Never a float (a guess that rounds).

use crate::model::{Column, MAX_DECIMAL128_PRECISION};
use crate::read::{Record, RecordSource};
use crate::schema::pg_type_of;
use crate::value;
use anyhow::Result;
use archive_core::Failure;
use std::io::BufRead;

#[derive(Debug, Clone)]
pub struct Guess {
    seen: bool,
    can_bool: bool,
    can_int: bool,
    can_numeric: bool,
    int_digits: u32,
    scale: u32,
    can_date: bool,
    can_tstz: bool,
    can_ts: bool,
    can_uuid: bool,
    can_json: bool,
}

impl Default for Guess {
    fn default() -> Self {
        Guess {
            seen: false,
            can_bool: true,
            can_int: true,
            can_numeric: true,
            int_digits: 0,
            scale: 0,
            can_date: true,
            can_tstz: true,
            can_ts: true,
            can_uuid: true,
            can_json: true,
        }
    }
}

impl Guess {
    pub fn observe(&mut self, v: &str) {
        self.seen = true;
        if self.can_bool && !matches!(v, "t" | "f" | "true" | "false") {
            self.can_bool = false;
        }
        // A number column only when every value reads back as written:
        // `007`, `+5`, `-0` or `.5` are codes or spellings, kept as text.
        let canonical = canonical_number(v);
        if self.can_int && (!canonical || value::parse_int(v, i64::MIN, i64::MAX).is_err()) {
            self.can_int = false;
        }
        if self.can_numeric && !canonical {
            self.can_numeric = false;
        }
        if self.can_numeric {
            match plain_decimal_digits(v) {
                Some((i, s)) => {
                    self.int_digits = self.int_digits.max(i);
                    self.scale = self.scale.max(s);
                }
                None => self.can_numeric = false,
            }
        }
        if self.can_date && value::parse_date(v).is_err() {
            self.can_date = false;
        }
        if self.can_tstz && value::parse_timestamp(v, true).is_err() {
            self.can_tstz = false;
        }
        if self.can_ts && value::parse_timestamp(v, false).is_err() {
            self.can_ts = false;
        }
        // Only the canonical form: an upper-case or braced UUID would come
        // back lower-case and bare.
        if self.can_uuid && !value::is_canonical_uuid(v) {
            self.can_uuid = false;
        }
        if self.can_json
            && !((v.starts_with('{') || v.starts_with('[')) && value::check_json(v).is_ok())
        {
            self.can_json = false;
        }
    }

    /// A JSON object or array value (NDJSON): only json fits.
    pub fn observe_structured(&mut self) {
        let json_ok = self.can_json;
        *self = Guess {
            seen: true,
            can_json: json_ok,
            ..Guess::none()
        };
    }

    fn none() -> Guess {
        Guess {
            seen: false,
            can_bool: false,
            can_int: false,
            can_numeric: false,
            int_digits: 0,
            scale: 0,
            can_date: false,
            can_tstz: false,
            can_ts: false,
            can_uuid: false,
            can_json: false,
        }
    }

    /// The declared type chosen.
    pub fn decide(&self) -> String {
        if !self.seen {
            return "text".into();
        }
        if self.can_bool {
            "boolean".into()
        } else if self.can_int {
            "bigint".into()
        } else if self.can_numeric && self.int_digits + self.scale <= MAX_DECIMAL128_PRECISION {
            format!(
                "numeric({},{})",
                (self.int_digits + self.scale).max(1),
                self.scale
            )
        } else if self.can_date {
            "date".into()
        } else if self.can_tstz {
            "timestamp with time zone".into()
        } else if self.can_ts {
            "timestamp without time zone".into()
        } else if self.can_uuid {
            "uuid".into()
        } else if self.can_json {
            "jsonb".into()
        } else {
            "text".into()
        }
    }
}

/// True for `0`, `-12`, `12.50`, `0.5`: an optional minus, an integer part
/// without leading zeros, and a fraction with at least one digit; not
/// `-0`/`-0.00` (the sign would be lost). Fraction zeros are kept by the
/// column's scale, so `2.50` is exact.
fn canonical_number(v: &str) -> bool {
    let (neg, t) = match v.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, v),
    };
    let (int, frac) = match t.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (t, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(int) || (int.len() > 1 && int.starts_with('0')) {
        return false;
    }
    if frac.is_some_and(|f| !digits(f)) {
        return false;
    }
    let zero = int == "0" && frac.is_none_or(|f| f.bytes().all(|c| c == b'0'));
    !(neg && zero)
}

/// `-12.3400` → (integer digits without leading zeros, fractional digits).
fn plain_decimal_digits(v: &str) -> Option<(u32, u32)> {
    let t = v
        .strip_prefix('-')
        .or_else(|| v.strip_prefix('+'))
        .unwrap_or(v);
    let (i, f) = match t.split_once('.') {
        Some((i, f)) => (i, f),
        None => (t, ""),
    };
    if (i.is_empty() && f.is_empty())
        || !i.bytes().all(|c| c.is_ascii_digit())
        || !f.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let int_digits = i.trim_start_matches('0').len() as u32;
    Some((int_digits, f.len() as u32))
}

fn columns_from(names: Vec<String>, guesses: &[Guess]) -> Vec<Column> {
    names
        .into_iter()
        .zip(guesses)
        .map(|(name, g)| {
            let decl = g.decide();
            Column {
                name,
                pg_type: pg_type_of(&decl),
                decl,
                not_null: false,
            }
        })
        .collect()
}

/// Infer from delimited records (CSV or COPY text).
pub fn infer_records(
    source: &mut dyn RecordSource,
    input: &str,
    names: Vec<String>,
) -> Result<Vec<Column>> {
    let mut guesses: Vec<Guess> = vec![Guess::default(); names.len()];
    let mut names = names;
    let mut rec = Record::default();
    while source.next_record(&mut rec)? {
        if guesses.is_empty() && names.is_empty() {
            // No header (COPY text): name the columns by position.
            names = (1..=rec.len()).map(|i| format!("column{i}")).collect();
            guesses = vec![Guess::default(); rec.len()];
        }
        if rec.len() != guesses.len() {
            return Err(Failure::data(format!(
                "{input}:{}: expected {} fields, found {}",
                rec.line,
                guesses.len(),
                rec.len()
            )));
        }
        for (i, g) in guesses.iter_mut().enumerate() {
            let v = rec.field(i).map_err(|msg| {
                Failure::data(format!("{input}:{}: field {}: {msg}", rec.line, i + 1))
            })?;
            if let Some(v) = v {
                g.observe(v);
            }
        }
    }
    if names.is_empty() {
        return Err(Failure::data(format!(
            "{input}: no records to infer a schema from"
        )));
    }
    Ok(columns_from(names, &guesses))
}

/// Infer from NDJSON: columns are the keys in order of first appearance.
pub fn infer_ndjson(mut input: Box<dyn BufRead + Send>, name: &str) -> Result<Vec<Column>> {
    let mut names: Vec<String> = Vec::new();
    let mut guesses: Vec<Guess> = Vec::new();
    let mut line = Vec::new();
    let mut n = 0u64;
    loop {
        line.clear();
        let got = input
            .read_until(b'\n', &mut line)
            .map_err(|e| crate::read::read_error(name, n, e))?;
        if got == 0 {
            break;
        }
        n += 1;
        if line.iter().all(|c| c.is_ascii_whitespace()) {
            continue;
        }
        let obj = crate::read::object_members(&line)
            .map_err(|e| Failure::data(format!("{name}:{n}: {e}")))?;
        for (k, v) in obj {
            let idx = match names.iter().position(|x| *x == k) {
                Some(i) => i,
                None => {
                    names.push(k);
                    guesses.push(Guess::default());
                    names.len() - 1
                }
            };
            let text = v.get();
            match text.as_bytes().first() {
                Some(b'n') => {}
                Some(b'{') | Some(b'[') => guesses[idx].observe_structured(),
                Some(b'"') => {
                    let s: String = serde_json::from_str(text)
                        .map_err(|e| Failure::data(format!("{name}:{n}: {e}")))?;
                    guesses[idx].observe(&s);
                }
                _ => guesses[idx].observe(text),
            }
        }
    }
    if names.is_empty() {
        return Err(Failure::data(format!(
            "{name}: no records to infer a schema from"
        )));
    }
    Ok(columns_from(names, &guesses))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(values: &[&str]) -> String {
        let mut g = Guess::default();
        for v in values {
            g.observe(v);
        }
        g.decide()
    }

    #[test]
    fn chooses_exact_types() {
        assert_eq!(decide(&["1", "-20", "300"]), "bigint");
        assert_eq!(decide(&["1", "2.50", "-123.1"]), "numeric(5,2)");
        assert_eq!(decide(&["t", "f"]), "boolean");
        assert_eq!(decide(&["2025-11-01", "2024-02-29"]), "date");
        assert_eq!(
            decide(&["2025-11-01 00:00:00+00", "2025-11-01 00:00:00.5+05:30"]),
            "timestamp with time zone"
        );
        assert_eq!(
            decide(&["2025-11-01 00:00:00"]),
            "timestamp without time zone"
        );
        assert_eq!(decide(&["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]), "uuid");
        assert_eq!(decide(&["{\"a\":1}", "[1]"]), "jsonb");
        assert_eq!(decide(&["1", "x"]), "text");
        assert_eq!(decide(&["1.5e3"]), "text", "floats are never guessed");
        assert_eq!(
            decide(&["007", "12"]),
            "text",
            "leading zeros would be lost"
        );
        assert_eq!(decide(&["1", "+5"]), "text");
        assert_eq!(decide(&["1", "-0"]), "text");
        assert_eq!(decide(&["0.5", ".5"]), "text");
        assert_eq!(decide(&["007.5"]), "text");
        assert_eq!(decide(&["0", "-1", "10"]), "bigint");
        assert_eq!(decide(&["0.5", "-0.25", "2.50"]), "numeric(3,2)");
        assert_eq!(
            decide(&["A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"]),
            "text",
            "upper case would come back lower case"
        );
        assert_eq!(decide(&[]), "text");
    }
}
