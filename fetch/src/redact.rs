//! Masking the API key in everything fetch prints. A server may echo the
//! key back (in an error body, in a 200 without `data`, in a cursor), in
//! another case, or in pieces; so every message that carries server text
//! goes through [`redact`] before it is cut ([`excerpt`]), and the final
//! error of a run through [`error`]. Masked: the key in any letter case,
//! and any run of [`PIECE`] characters of it (a key shorter than that: the
//! whole key).
//!
//! The key is set once per process ([`set_key`]); before that nothing is
//! masked (there is nothing to mask).

use archive_core::Failure;
use std::collections::HashSet;
use std::sync::OnceLock;

/// The length of a piece of the key that counts as an echo.
pub const PIECE: usize = 12;

/// What a masked run of text becomes.
pub const MASK: &str = "[redacted]";

static SECRET: OnceLock<Secret> = OnceLock::new();

/// The key, as the set of its lower-cased pieces.
pub struct Secret {
    width: usize,
    pieces: HashSet<Vec<u8>>,
}

impl Secret {
    pub fn new(key: &str) -> Secret {
        let lower = key.as_bytes().to_ascii_lowercase();
        let width = PIECE.min(lower.len());
        let pieces = if width < 4 {
            // Too short to tell apart from ordinary text.
            HashSet::new()
        } else {
            lower.windows(width).map(<[u8]>::to_vec).collect()
        };
        Secret { width, pieces }
    }

    /// `text` with every echo of the key replaced by [`MASK`].
    pub fn redact(&self, text: &str) -> String {
        if self.pieces.is_empty() || text.len() < self.width {
            return text.to_string();
        }
        let b = text.as_bytes();
        let mut marks: Vec<(usize, usize)> = Vec::new();
        let mut window = vec![0u8; self.width];
        for i in 0..=b.len() - self.width {
            window.copy_from_slice(&b[i..i + self.width]);
            window.make_ascii_lowercase();
            if self.pieces.contains(&window) {
                let (s, e) = (i, i + self.width);
                match marks.last_mut() {
                    Some(last) if s <= last.1 => last.1 = e,
                    _ => marks.push((s, e)),
                }
            }
        }
        if marks.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (mut s, mut e) in marks {
            while !text.is_char_boundary(s) {
                s -= 1;
            }
            while !text.is_char_boundary(e) {
                e += 1;
            }
            if s < at {
                s = at;
            }
            out.push_str(&text[at..s]);
            out.push_str(MASK);
            at = e;
        }
        out.push_str(&text[at..]);
        out
    }
}

/// Remember the key whose echoes are masked from now on.
pub fn set_key(key: &str) {
    let _ = SECRET.set(Secret::new(key));
}

/// `text` with the key masked.
pub fn redact(text: &str) -> String {
    match SECRET.get() {
        Some(s) => s.redact(text),
        None => text.to_string(),
    }
}

/// Server text for a message: masked first, then on one line, then cut to
/// `limit` bytes (so a key straddling the cut is masked too).
pub fn excerpt(text: &str, limit: usize) -> String {
    let clean = redact(text).replace(['\n', '\r'], " ");
    if clean.trim().is_empty() {
        return "(empty body)".into();
    }
    if clean.len() <= limit {
        return clean;
    }
    let mut end = limit;
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &clean[..end])
}

/// The same error with its message masked, keeping its exit code.
pub fn error(e: anyhow::Error) -> anyhow::Error {
    let text = format!("{e:#}");
    let clean = redact(&text);
    if clean == text {
        return e;
    }
    match archive_core::exit::exit_code(&e) {
        2 => Failure::usage(clean),
        3 => Failure::data(clean),
        4 => Failure::remote(clean),
        130 => anyhow::Error::new(Failure::Interrupted).context(clean),
        _ => anyhow::anyhow!(clean),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_in_any_case_and_its_pieces_are_masked() {
        let key = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
        let s = Secret::new(key);
        let text = format!(
            "a {key} b {} c {} d …{}… e sk-proj-other",
            key.to_uppercase(),
            key.to_lowercase(),
            &key[10..22]
        );
        let out = s.redact(&text);
        assert_eq!(
            out,
            "a [redacted] b [redacted] c [redacted] d …[redacted]… e sk-proj-other"
        );
        // Eleven characters of it are not an echo.
        assert_eq!(s.redact(&key[3..14]), &key[3..14]);
        // Next to non-ASCII text.
        assert_eq!(s.redact(&format!("é{key}é")), "é[redacted]é");
    }

    #[test]
    fn short_keys_are_masked_whole_and_tiny_ones_not_at_all() {
        let s = Secret::new("test-key");
        assert_eq!(s.redact("bad TEST-KEY here"), "bad [redacted] here");
        assert_eq!(s.redact("test-ke"), "test-ke");
        assert_eq!(Secret::new("abc").redact("abc"), "abc");
    }

    #[test]
    fn excerpt_masks_before_cutting() {
        let s = Secret::new("sk-0123456789abcdefghij");
        let text = format!("{}{}", "x".repeat(295), "sk-0123456789abcdefghij tail");
        let clean = s.redact(&text);
        assert!(!clean.contains("sk-0123456789ab"));
        assert!(clean[..300].starts_with(&"x".repeat(295)));
    }
}
