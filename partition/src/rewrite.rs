//! The records whose bytes partition changes before filing them:
//! `--hash-only` fields, the ai-audit preset's content hashes, and
//! `--encrypt-field` values sealed with age to `--encrypt-to` recipients.
//! Everything else in a record is kept, in its key order.

use crate::hashonly;
use crate::model::Rewrite;
use serde_json::{Map, Value};
use std::io::Write;

/// The ai-audit content fields and the fields that receive their hashes.
const AUDIT_CONTENT: [(&str, &str); 2] = [("input", "input_hash"), ("output", "output_hash")];

/// Rewrite one record, or say why it cannot be.
pub fn apply(line: &[u8], rw: &Rewrite) -> Result<Vec<u8>, String> {
    let mut v: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    hashonly::hash_fields(&mut v, &rw.hash_only);
    let mut sealed = 0usize;
    if rw.ai_audit {
        if let Value::Object(m) = &mut v {
            *m = audit_hashes(std::mem::take(m), rw, &mut sealed)?;
        }
    }
    for p in &rw.encrypt {
        let mut failed = None;
        hashonly::visit(&mut v, &p.segs, &mut |child| {
            if is_armored(child) {
                return; // sealed already: a record this tool wrote
            }
            match seal(child, rw) {
                Ok(c) => {
                    *child = Value::String(c);
                    sealed += 1;
                }
                Err(e) => failed = Some(e),
            }
        });
        if let Some(e) = failed {
            return Err(format!("encrypting `{}`: {e}", p.text));
        }
    }
    if sealed > 0 {
        if let Value::Object(m) = &mut v {
            m.insert("encryption_key_id".into(), Value::String(rw.key_id.clone()));
        }
    }
    serde_json::to_vec(&v).map_err(|e| format!("re-serialising the record: {e}"))
}

/// `input`/`output` become null, each followed by its `*_hash` (hex
/// SHA-256 of the content), or by its ciphertext when it is also an
/// `--encrypt-field`. An entry already hashed (content null, hash there)
/// is left as it is.
fn audit_hashes(
    m: Map<String, Value>,
    rw: &Rewrite,
    sealed: &mut usize,
) -> Result<Map<String, Value>, String> {
    let encrypted = |k: &str| {
        rw.encrypt
            .iter()
            .any(|p| p.segs.len() == 1 && p.segs[0] == k)
    };
    let mut out = Map::with_capacity(m.len() + 2);
    let is_hash = |k: &str| AUDIT_CONTENT.iter().any(|(_, h)| *h == k);
    let (old, fields): (Vec<_>, Vec<_>) = m.into_iter().partition(|(k, _)| is_hash(k));
    let mut old_hashes: Map<String, Value> = old.into_iter().collect();
    for (k, v) in fields {
        let Some((_, hash_key)) = AUDIT_CONTENT.iter().find(|(c, _)| *c == k) else {
            out.insert(k, v);
            continue;
        };
        // Sealed already (an entry this tool wrote): ciphertext and hash stay.
        if is_armored(&v) {
            let hash = old_hashes.remove(*hash_key).unwrap_or(Value::Null);
            out.insert(k, v);
            out.insert((*hash_key).to_owned(), hash);
            continue;
        }
        let hash = match hashonly::digest(&v) {
            Some(h) => Value::String(h),
            // Content null: keep a hash the entry already carried.
            None => old_hashes.remove(*hash_key).unwrap_or(Value::Null),
        };
        let kept = if encrypted(&k) && !v.is_null() {
            *sealed += 1;
            Value::String(seal(&v, rw)?)
        } else {
            Value::Null
        };
        out.insert(k, kept);
        out.insert((*hash_key).to_owned(), hash);
    }
    // A hash field with no content field beside it stays (at the end).
    out.extend(old_hashes);
    Ok(out)
}

fn is_armored(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"))
}

/// The ASCII-armored age ciphertext of a value's compact JSON text.
fn seal(v: &Value, rw: &Rewrite) -> Result<String, String> {
    let text = serde_json::to_vec(v).map_err(|e| e.to_string())?;
    let enc =
        age::Encryptor::with_recipients(rw.recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(text.len() * 2 + 400);
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| e.to_string())?;
    let mut w = enc.wrap_output(armor).map_err(|e| e.to_string())?;
    w.write_all(&text).map_err(|e| e.to_string())?;
    w.finish()
        .and_then(|armor| armor.finish())
        .map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_content_becomes_hashes_in_place() {
        let rw = Rewrite {
            ai_audit: true,
            ..Rewrite::default()
        };
        let out = apply(
            br#"{"id":"a","input":"abc","output":null,"model":"m","output_hash":"kept"}"#,
            &rw,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":"a","input":null,"input_hash":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","output":null,"output_hash":"kept","model":"m"}"#
        );
        // An entry this tool sealed before is not hashed or sealed again.
        let sealed =
            r#"{"id":"a","input":"-----BEGIN AGE ENCRYPTED FILE-----\nx","input_hash":"h"}"#;
        let out = apply(sealed.as_bytes(), &rw).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), sealed);
    }
}
