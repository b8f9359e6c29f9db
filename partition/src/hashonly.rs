//! Hash-only mode (data minimisation): named fields are replaced by the
//! SHA-256 of their content, so the archive proves what was said without
//! storing it. `rewrite` applies it (key order is kept: serde_json's
//! preserve_order).

use crate::model::FieldPath;
use archive_core::hash::sha256_hex;
use serde_json::Value;

/// Hash every field named by `paths` in place.
pub fn hash_fields(v: &mut Value, paths: &[FieldPath]) {
    for p in paths {
        visit(v, &p.segs, &mut |child| {
            if let Some(h) = digest(child) {
                *child = Value::String(h);
            }
        });
    }
}

/// Call `f` on every value the path `segs` reaches (through arrays).
pub fn visit(v: &mut Value, segs: &[String], f: &mut dyn FnMut(&mut Value)) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(|i| visit(i, segs, f)),
        Value::Object(m) => {
            let Some((first, rest)) = segs.split_first() else {
                return;
            };
            if let Some(child) = m.get_mut(first) {
                if rest.is_empty() {
                    f(child);
                } else {
                    visit(child, rest, f);
                }
            }
        }
        _ => {}
    }
}

/// The SHA-256 hex of a value's content: a string's UTF-8 bytes, any other
/// value's compact JSON; None for null.
pub fn digest(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(sha256_hex(s.as_bytes())),
        other => Some(sha256_hex(other.to_string().as_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_through_arrays() {
        let p = FieldPath::parse("messages.data.content.value").unwrap();
        let mut v: Value = serde_json::from_str(
            r#"{"id":"c","messages":{"data":[{"content":{"value":"abc"}},{"content":null},{"content":{"value":null}}]}}"#,
        )
        .unwrap();
        hash_fields(&mut v, &[p]);
        assert_eq!(
            v.to_string(),
            r#"{"id":"c","messages":{"data":[{"content":{"value":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}},{"content":null},{"content":{"value":null}}]}}"#
        );
    }
}
