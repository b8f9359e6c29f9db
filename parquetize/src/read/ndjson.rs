//! NDJSON: one JSON object per line, keys are column names. Numbers are
//! taken as the exact text the line holds (never through a float), `null`
//! and missing keys are NULL, a key the schema does not have is an error
//! (dropping it would lose data silently). json/jsonb columns keep the
//! value's JSON text; array columns take a JSON array.

use super::record::{read_error, Record, RecordSource};
use archive_core::Failure;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::io::BufRead;

/// What a column needs from a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdjsonColumn {
    /// Strings decoded; numbers and booleans as their literal text.
    Scalar,
    /// The value's JSON text.
    Json,
    /// A JSON array, turned into a PostgreSQL array literal.
    Array,
}

pub struct NdjsonReader {
    input: Box<dyn BufRead + Send>,
    name: String,
    columns: HashMap<String, usize>,
    kinds: Vec<NdjsonColumn>,
    line: u64,
    raw: Vec<u8>,
    slots: Vec<Option<String>>,
}

impl NdjsonReader {
    pub fn new(
        input: Box<dyn BufRead + Send>,
        name: &str,
        columns: &[String],
        kinds: Vec<NdjsonColumn>,
    ) -> NdjsonReader {
        NdjsonReader {
            input,
            name: name.to_string(),
            columns: columns
                .iter()
                .enumerate()
                .map(|(i, c)| (c.clone(), i))
                .collect(),
            kinds,
            line: 0,
            raw: Vec::with_capacity(4096),
            slots: vec![None; columns.len()],
        }
    }
}

/// The text a JSON value stands for in a column of this kind.
pub fn json_value_text(raw: &RawValue, kind: NdjsonColumn) -> Result<Option<String>, String> {
    let text = raw.get();
    if text == "null" {
        return Ok(None);
    }
    match kind {
        NdjsonColumn::Json => Ok(Some(text.to_string())),
        NdjsonColumn::Scalar if text.starts_with('"') => serde_json::from_str::<String>(text)
            .map(Some)
            .map_err(|e| e.to_string()),
        NdjsonColumn::Scalar => Ok(Some(text.to_string())),
        NdjsonColumn::Array => {
            let items: Vec<&RawValue> =
                serde_json::from_str(text).map_err(|_| "expected a JSON array".to_string())?;
            let mut lit = String::from("{");
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    lit.push(',');
                }
                match json_value_text(item, NdjsonColumn::Scalar)? {
                    None => lit.push_str("NULL"),
                    Some(s) => {
                        lit.push('"');
                        for ch in s.chars() {
                            if ch == '"' || ch == '\\' {
                                lit.push('\\');
                            }
                            lit.push(ch);
                        }
                        lit.push('"');
                    }
                }
            }
            lit.push('}');
            Ok(Some(lit))
        }
    }
}

/// The members of the JSON object on one line, in document order. A key
/// given twice is an error: a JSON parser would keep one of the values and
/// drop the other without a word.
pub fn object_members(line: &[u8]) -> Result<Vec<(String, &RawValue)>, String> {
    let members = serde_json::from_slice::<ordered::Pairs>(line)
        .map(|p| p.0)
        .map_err(|e| format!("not a JSON object ({e})"))?;
    if members.len() > 1 {
        let mut seen = std::collections::HashSet::with_capacity(members.len());
        for (k, v) in &members {
            if !seen.insert(k.as_str()) {
                return Err(format!(
                    "key {k:?} appears more than once in the object (a reader would keep only one of its values); value {}",
                    v.get()
                ));
            }
        }
    }
    Ok(members)
}

impl RecordSource for NdjsonReader {
    fn next_record(&mut self, rec: &mut Record) -> anyhow::Result<bool> {
        loop {
            self.raw.clear();
            let n = self
                .input
                .read_until(b'\n', &mut self.raw)
                .map_err(|e| read_error(&self.name, self.line, e))?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            if self.raw.iter().all(|c| c.is_ascii_whitespace()) {
                continue;
            }
            let line = self.line;
            let bad = |msg: String| Failure::data(format!("{}:{line}: {msg}", self.name));
            let obj = object_members(&self.raw).map_err(bad)?;
            for s in self.slots.iter_mut() {
                *s = None;
            }
            for (k, v) in obj {
                let Some(&col) = self.columns.get(&k) else {
                    return Err(bad(format!(
                        "key {k:?} is not a column of the table schema"
                    )));
                };
                self.slots[col] = json_value_text(v, self.kinds[col])
                    .map_err(|e| bad(format!("key {k:?}: {e}")))?;
            }
            rec.clear();
            rec.line = line;
            rec.raw_len = n;
            for s in &self.slots {
                match s {
                    None => rec.push_null(),
                    Some(t) => rec.push(t.as_bytes()),
                }
            }
            return Ok(true);
        }
    }
}

/// Deserialise an object's members in document order, borrowing values.
mod ordered {
    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
    use serde_json::value::RawValue;

    pub struct Pairs<'a>(pub Vec<(String, &'a RawValue)>);

    impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Pairs<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = m.next_entry::<String, &'de RawValue>()? {
                        out.push((k, v));
                    }
                    Ok(Pairs(out))
                }
            }
            d.deserialize_map(V)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_exact_text() {
        let input = "{\"id\": 1, \"amt\": 0.10000000000000000001, \"j\": {\"a\": [1, 2]}, \"tags\": [\"x\", null, \"q\\\"\"]}\n\n{\"id\": 2, \"amt\": null}\n";
        let cols = ["id".to_string(), "amt".into(), "j".into(), "tags".into()];
        let kinds = vec![
            NdjsonColumn::Scalar,
            NdjsonColumn::Scalar,
            NdjsonColumn::Json,
            NdjsonColumn::Array,
        ];
        let mut r = NdjsonReader::new(
            Box::new(std::io::Cursor::new(input.as_bytes().to_vec())),
            "in",
            &cols,
            kinds,
        );
        let mut rec = Record::default();
        assert!(r.next_record(&mut rec).unwrap());
        assert_eq!(rec.field(1).unwrap(), Some("0.10000000000000000001"));
        assert_eq!(rec.field(2).unwrap(), Some("{\"a\": [1, 2]}"));
        assert_eq!(rec.field(3).unwrap(), Some("{\"x\",NULL,\"q\\\"\"}"));
        assert!(r.next_record(&mut rec).unwrap());
        assert_eq!(rec.line, 3);
        assert_eq!(rec.field(1).unwrap(), None);
        assert_eq!(rec.field(3).unwrap(), None);
        assert!(!r.next_record(&mut rec).unwrap());
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let err = object_members(br#"{"id": 1, "amt": 2, "id": 3}"#).unwrap_err();
        assert!(err.contains("key \"id\" appears more than once"), "{err}");
        assert!(err.contains("value 3"), "{err}");
        assert_eq!(
            object_members(br#"{"a": {"x": 1, "y": 1}}"#).unwrap().len(),
            1
        );
    }
}
