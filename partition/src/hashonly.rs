//! Hash-only mode (data minimisation): named fields are replaced by the
//! SHA-256 of their content, so the archive proves what was said without
//! storing it. This is the one place records are re-serialised; key order
//! is kept (serde_json's preserve_order).

use crate::model::FieldPath;
use archive_core::hash::sha256_hex;
use serde_json::Value;

/// Rewrite `line` with every field named by `paths` hashed. A path walks
/// through arrays (each element is visited), so `messages.data.content.value`
/// reaches every message. Strings hash their UTF-8 bytes; other non-null
/// values hash their compact JSON; null stays null.
pub fn apply(line: &[u8], paths: &[FieldPath]) -> Result<Vec<u8>, String> {
    let mut v: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    for p in paths {
        walk(&mut v, &p.segs);
    }
    serde_json::to_vec(&v).map_err(|e| format!("re-serialising for --hash-only: {e}"))
}

fn walk(v: &mut Value, segs: &[String]) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(|i| walk(i, segs)),
        Value::Object(m) => {
            let Some((first, rest)) = segs.split_first() else {
                return;
            };
            if let Some(child) = m.get_mut(first) {
                if rest.is_empty() {
                    hash_in_place(child);
                } else {
                    walk(child, rest);
                }
            }
        }
        _ => {}
    }
}

fn hash_in_place(v: &mut Value) {
    let digest = match &*v {
        Value::Null => return,
        Value::String(s) => sha256_hex(s.as_bytes()),
        other => sha256_hex(other.to_string().as_bytes()),
    };
    *v = Value::String(digest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_through_arrays() {
        let p = FieldPath::parse("messages.data.content.value").unwrap();
        let out = apply(
            br#"{"id":"c","messages":{"data":[{"content":{"value":"abc"}},{"content":null},{"content":{"value":null}}]}}"#,
            &[p],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":"c","messages":{"data":[{"content":{"value":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}},{"content":null},{"content":{"value":null}}]}}"#
        );
    }
}
