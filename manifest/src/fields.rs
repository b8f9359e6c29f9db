//! The fields of a JSON object as borrowed raw text, in the order written.
//!
//! Input lines and the metadata of manifest entries are only picked apart
//! for the few fields this tool understands; everything else is passed on
//! as the producer wrote it. Keeping the raw text (instead of a
//! `serde_json::Value` per file) keeps the per-file state small.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

/// An object key: borrowed from the text unless it had escapes.
pub struct Key<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The fields of one JSON object, values as raw text.
pub struct RawFields<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> RawFields<'a> {
    /// Parse `text`, which must be one JSON object.
    pub fn parse(text: &'a str) -> serde_json::Result<RawFields<'a>> {
        serde_json::from_str(text)
    }

    /// The raw value of the last field named `key`.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

impl<'de> Deserialize<'de> for RawFields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = RawFields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFields<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                    let v: &'de RawValue = map.next_value()?;
                    out.push((k, v));
                }
                Ok(RawFields(out))
            }
        }
        d.deserialize_map(FieldsVisitor)
    }
}

/// Builds a compact JSON object from raw fields, for the metadata kept per
/// file. Nested values written over several lines (an older pretty-printed
/// manifest) are compacted so every manifest entry stays on one line.
#[derive(Default)]
pub struct ObjectText {
    text: String,
}

impl ObjectText {
    pub fn push(&mut self, key: &str, value: &RawValue) {
        self.text.push(if self.text.is_empty() { '{' } else { ',' });
        // A string key always serialises.
        self.text
            .push_str(&serde_json::to_string(key).expect("string serialises"));
        self.text.push(':');
        let raw = value.get();
        if raw.contains(['\n', '\r']) {
            let compact = serde_json::from_str::<serde_json::Value>(raw)
                .map(|v| v.to_string())
                .unwrap_or_else(|_| raw.to_string());
            self.text.push_str(&compact);
        } else {
            self.text.push_str(raw);
        }
    }

    /// A field from a parsed value (written compact).
    pub fn push_value(&mut self, key: &str, value: &serde_json::Value) {
        self.text.push(if self.text.is_empty() { '{' } else { ',' });
        self.text
            .push_str(&serde_json::to_string(key).expect("string serialises"));
        self.text.push(':');
        self.text.push_str(&value.to_string());
    }

    /// `{...}`, or None when no field was pushed.
    pub fn finish(mut self) -> Option<Box<str>> {
        if self.text.is_empty() {
            None
        } else {
            self.text.push('}');
            Some(self.text.into_boxed_str())
        }
    }
}

/// Write the fields of a compact object text (`{"a":1,"b":2}`) without the
/// braces, preceded by a comma, so they extend an object being written.
pub fn write_inner(w: &mut impl Write, object: &str) -> io::Result<()> {
    let inner = &object[1..object.len() - 1];
    if !inner.is_empty() {
        w.write_all(b",")?;
        w.write_all(inner.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_order_and_raw_text() {
        let f = RawFields::parse(r#"{"b":1.50,"a\"x":{"k": [1, 2]},"b":"s"}"#).unwrap();
        let keys: Vec<&str> = f.0.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, vec!["b", "a\"x", "b"]);
        assert_eq!(f.0[0].1.get(), "1.50");
        assert_eq!(f.get("b").unwrap().get(), "\"s\"");
        let mut o = ObjectText::default();
        for (k, v) in &f.0[..2] {
            o.push(k, v);
        }
        let text = o.finish().unwrap();
        assert_eq!(&*text, r#"{"b":1.50,"a\"x":{"k": [1, 2]}}"#);
        let mut buf = Vec::new();
        write_inner(&mut buf, &text).unwrap();
        assert_eq!(buf, br#","b":1.50,"a\"x":{"k": [1, 2]}"#);
        assert!(RawFields::parse("[1]").is_err());
        assert!(ObjectText::default().finish().is_none());
    }

    #[test]
    fn multi_line_values_are_compacted() {
        let f = RawFields::parse("{\"a\": {\n  \"x\": 1\n}}").unwrap();
        let mut o = ObjectText::default();
        o.push(&f.0[0].0, f.0[0].1);
        assert_eq!(&*o.finish().unwrap(), r#"{"a":{"x":1}}"#);
    }
}
