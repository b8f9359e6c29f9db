//! A streaming splitter for list responses (`{"data":[…], "has_more":…}`).
//!
//! A page of conversations can hold 500 records of many MB each, so the page
//! is never held whole: bytes are fed as they arrive, each top-level element
//! of `data` is handed over as its raw bytes the moment it is complete, and
//! only the small envelope around it (with `data` emptied) is kept and parsed
//! at the end. Memory is bounded by the largest element, not the page.
//!
//! Inside strings the scanner jumps with memchr to the next quote or
//! backslash, which is where almost all the bytes of a record are.

use anyhow::{bail, Result};
use serde_json::Value;

/// Where the scanner is: in the envelope object, or in the `data` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Envelope,
    Data,
    Done,
}

/// Feed bytes with [`feed`](Self::feed), then call [`finish`](Self::finish).
pub struct ListSplitter {
    mode: Mode,
    /// Open containers, counting the envelope object itself.
    depth: u32,
    in_string: bool,
    escape: bool,
    /// Envelope bytes, with the `data` array left empty.
    envelope: Vec<u8>,
    /// The last string seen directly inside the envelope (a key candidate).
    key: Vec<u8>,
    /// 1 after the string `"data"`, 2 after `"data":`.
    data_key: u8,
    /// Bytes of an element that spans chunks.
    element: Vec<u8>,
    in_element: bool,
    elements: u64,
    saw_data: bool,
    /// A comma was read and the next element has not started yet.
    after_comma: bool,
    /// Strings of the current element's first two levels.
    spans: Vec<Span>,
    /// The string being read, when it is one of those: (depth, start).
    tracked: Option<(u32, usize)>,
}

impl Default for ListSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl ListSplitter {
    pub fn new() -> ListSplitter {
        ListSplitter {
            mode: Mode::Envelope,
            depth: 0,
            in_string: false,
            escape: false,
            envelope: Vec::with_capacity(256),
            key: Vec::with_capacity(16),
            data_key: 0,
            element: Vec::new(),
            in_element: false,
            elements: 0,
            saw_data: false,
            after_comma: false,
            spans: Vec::new(),
            tracked: None,
        }
    }

    /// Number of elements handed over so far.
    pub fn elements(&self) -> u64 {
        self.elements
    }

    /// Scan the next bytes of the body; `on_element` gets each complete
    /// element of `data`, raw and trimmed.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        on_element: &mut dyn FnMut(Element<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut i = 0;
        while i < chunk.len() {
            i = match self.mode {
                Mode::Envelope => self.scan_envelope(chunk, i)?,
                Mode::Data => self.scan_data(chunk, i, on_element)?,
                Mode::Done => {
                    if chunk[i..].iter().any(|b| !b.is_ascii_whitespace()) {
                        bail!("unexpected bytes after the end of the response object");
                    }
                    chunk.len()
                }
            };
        }
        Ok(())
    }

    /// The envelope, parsed, with `data` as an empty array. Fails when the
    /// body ended before the object was complete (a dropped connection).
    pub fn finish(self) -> Result<Value, Incomplete> {
        if self.mode != Mode::Done {
            return Err(Incomplete);
        }
        serde_json::from_slice(&self.envelope).map_err(|_| Incomplete)
    }

    /// Did the envelope carry a `data` array at all?
    pub fn saw_data(&self) -> bool {
        self.saw_data
    }

    /// The envelope is small: scan it byte by byte, copying it, until the
    /// `data` array opens. Returns the index of the first unscanned byte.
    fn scan_envelope(&mut self, chunk: &[u8], mut i: usize) -> Result<usize> {
        while i < chunk.len() {
            let b = chunk[i];
            i += 1;
            if self.in_string {
                self.envelope.push(b);
                if self.escape {
                    self.escape = false;
                    self.push_key(b);
                } else if b == b'\\' {
                    self.escape = true;
                    self.push_key(b);
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 1 {
                        self.data_key = u8::from(self.key == b"data");
                    }
                } else {
                    self.push_key(b);
                }
                continue;
            }
            if b.is_ascii_whitespace() {
                continue;
            }
            if self.depth == 0 && b != b'{' {
                bail!(
                    "the response is not a JSON object (starts with {:?})",
                    char::from(b)
                );
            }
            self.envelope.push(b);
            match b {
                b'"' => {
                    self.in_string = true;
                    self.key.clear();
                }
                b':' if self.data_key == 1 => self.data_key = 2,
                b'[' if self.data_key == 2 && self.depth == 1 => {
                    self.data_key = 0;
                    self.depth = 2;
                    self.saw_data = true;
                    self.mode = Mode::Data;
                    return Ok(i);
                }
                b'{' | b'[' => {
                    self.depth += 1;
                    self.data_key = 0;
                }
                b'}' | b']' => {
                    self.data_key = 0;
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.mode = Mode::Done;
                        return Ok(i);
                    }
                }
                _ => self.data_key = 0,
            }
        }
        Ok(i)
    }

    fn push_key(&mut self, b: u8) {
        if self.depth == 1 && self.key.len() < 16 {
            self.key.push(b);
        }
    }

    /// Inside `data`: find where each element ends, and note where the
    /// strings of its first two levels are (keys like `id` and
    /// `messages.has_more`), so fields can be read without a second pass.
    /// Elements wholly inside one chunk are handed over without a copy.
    fn scan_data(
        &mut self,
        chunk: &[u8],
        mut i: usize,
        on_element: &mut dyn FnMut(Element<'_>) -> Result<()>,
    ) -> Result<usize> {
        let mut start = if self.in_element { Some(i) } else { None };
        while i < chunk.len() {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                    None => i = chunk.len(),
                    Some(off) => {
                        let j = i + off;
                        if chunk[j] == b'\\' {
                            self.escape = true;
                        } else {
                            self.in_string = false;
                            if let (Some((depth, from)), Some(s)) = (self.tracked.take(), start) {
                                let end = self.element.len() + j - s;
                                self.spans.push(Span {
                                    depth,
                                    start: from,
                                    end,
                                });
                            }
                        }
                        i = j + 1;
                    }
                }
                continue;
            }
            let b = chunk[i];
            match b {
                b' ' | b'\n' | b'\r' | b'\t' => {}
                b',' | b']' if self.depth == 2 => {
                    if let Some(s) = start.take() {
                        self.emit(&chunk[s..i], on_element)?;
                    } else if b == b',' || self.after_comma {
                        bail!("empty element in the data array");
                    }
                    if b == b']' {
                        self.depth = 1;
                        self.envelope.push(b']');
                        self.mode = Mode::Envelope;
                        return Ok(i + 1);
                    }
                    self.after_comma = true;
                }
                _ => {
                    if !self.in_element {
                        self.in_element = true;
                        self.after_comma = false;
                        start = Some(i);
                    }
                    match b {
                        b'"' => {
                            self.in_string = true;
                            if (3..=4).contains(&self.depth) {
                                if let Some(s) = start {
                                    let from = self.element.len() + i + 1 - s;
                                    self.tracked = Some((self.depth, from));
                                }
                            }
                        }
                        b'{' | b'[' => self.depth += 1,
                        b'}' | b']' => self.depth -= 1,
                        _ => {}
                    }
                }
            }
            i += 1;
        }
        if let Some(s) = start {
            self.element.extend_from_slice(&chunk[s..]);
        }
        Ok(i)
    }

    fn emit(
        &mut self,
        tail: &[u8],
        on_element: &mut dyn FnMut(Element<'_>) -> Result<()>,
    ) -> Result<()> {
        self.in_element = false;
        self.elements += 1;
        let r = if self.element.is_empty() {
            on_element(Element {
                bytes: trim_end(tail),
                spans: &self.spans,
            })
        } else {
            self.element.extend_from_slice(tail);
            let r = on_element(Element {
                bytes: trim_end(&self.element),
                spans: &self.spans,
            });
            self.element.clear();
            if self.element.capacity() > 16 << 20 {
                // One huge record should not pin its buffer for the rest of the run.
                self.element = Vec::new();
            }
            r
        };
        self.spans.clear();
        r
    }
}

/// Where a string of an element's first two levels sits (content only,
/// offsets into the element, `depth` 3 = top-level field, 4 = one below).
#[derive(Debug, Clone, Copy)]
struct Span {
    depth: u32,
    start: usize,
    end: usize,
}

/// One element of `data`: its raw bytes, and cheap access to the values of
/// its top-level fields (and of fields one object below).
pub struct Element<'a> {
    pub bytes: &'a [u8],
    spans: &'a [Span],
}

impl<'a> Element<'a> {
    /// An element from bytes alone (fields are then not available).
    pub fn raw(bytes: &'a [u8]) -> Element<'a> {
        Element { bytes, spans: &[] }
    }

    /// Raw JSON of the value of top-level field `key` (scalars only).
    pub fn field(&self, key: &str) -> Option<&'a [u8]> {
        self.value_in(3, key, 0, usize::MAX)
    }

    /// Raw JSON of `outer.key` where `outer` is a top-level object field.
    pub fn nested_field(&self, outer: &str, key: &str) -> Option<&'a [u8]> {
        let (idx, span) =
            self.spans.iter().enumerate().find(|(_, s)| {
                s.depth == 3 && self.text(s) == outer.as_bytes() && self.is_key(s)
            })?;
        let until = self.spans[idx + 1..]
            .iter()
            .find(|s| s.depth == 3)
            .map_or(usize::MAX, |s| s.start);
        self.value_in(4, key, span.end, until)
    }

    /// A top-level string field, unescaped.
    pub fn str_field(&self, key: &str) -> Option<String> {
        json_string(self.field(key)?)
    }

    /// A top-level number field.
    pub fn f64_field(&self, key: &str) -> Option<f64> {
        std::str::from_utf8(self.field(key)?).ok()?.parse().ok()
    }

    fn text(&self, s: &Span) -> &'a [u8] {
        &self.bytes[s.start..s.end]
    }

    /// A string is a key when a colon follows it.
    fn is_key(&self, s: &Span) -> bool {
        self.bytes[s.end + 1..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b':')
    }

    fn value_in(&self, depth: u32, key: &str, lo: usize, hi: usize) -> Option<&'a [u8]> {
        let s = self.spans.iter().find(|s| {
            s.depth == depth
                && s.start >= lo
                && s.end <= hi
                && self.text(s) == key.as_bytes()
                && self.is_key(s)
        })?;
        let b = self.bytes;
        let mut p = s.end + 1;
        while p < b.len() && (b[p].is_ascii_whitespace() || b[p] == b':') {
            p += 1;
        }
        if p >= b.len() {
            return None;
        }
        if b[p] == b'"' {
            // The value's own span starts right after its opening quote.
            let v = self.spans.iter().find(|v| v.start == p + 1)?;
            return Some(&b[p..v.end + 1]);
        }
        if b[p] == b'{' || b[p] == b'[' {
            return None;
        }
        let end = b[p..]
            .iter()
            .position(|c| matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace())
            .map_or(b.len(), |n| p + n);
        Some(&b[p..end])
    }
}

/// The text of a raw JSON string (`"…"`), unescaped; None for non-strings.
pub fn json_string(raw: &[u8]) -> Option<String> {
    if raw.len() >= 2 && raw[0] == b'"' && !raw.contains(&b'\\') {
        return std::str::from_utf8(&raw[1..raw.len() - 1])
            .ok()
            .map(str::to_string);
    }
    serde_json::from_slice(raw).ok()
}

/// `raw` JSON without the whitespace between tokens: one line, the same
/// keys in the same order, numbers and strings byte for byte. (A raw line
/// break inside a string is not JSON; it is kept, and the parse that
/// follows refuses it.)
pub fn compact(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let (mut in_string, mut escape) = (false, false);
    for &b in raw {
        if in_string {
            out.push(b);
            if escape {
                escape = false;
            } else if b == b'\\' {
                escape = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            in_string = b == b'"';
            out.push(b);
        }
    }
    out
}

/// The body ended before the response object was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incomplete;

impl std::fmt::Display for Incomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the response body ended before the JSON object was complete")
    }
}

impl std::error::Error for Incomplete {}

fn trim_end(b: &[u8]) -> &[u8] {
    let mut n = b.len();
    while n > 0 && b[n - 1].is_ascii_whitespace() {
        n -= 1;
    }
    &b[..n]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Split `body` fed in chunks of `step` bytes; returns elements and envelope.
    fn split(body: &[u8], step: usize) -> Result<(Vec<String>, Value)> {
        let mut sp = ListSplitter::new();
        let mut out = Vec::new();
        for chunk in body.chunks(step.max(1)) {
            sp.feed(chunk, &mut |e| {
                out.push(String::from_utf8(e.bytes.to_vec()).unwrap());
                Ok(())
            })?;
        }
        let env = sp.finish()?;
        Ok((out, env))
    }

    #[test]
    fn elements_come_out_untouched_at_every_chunking() {
        let body = br#" {"object":"list","data":[ {"id":"a","t":"x\"y]},{"}, {"id":"b","n":[1,[2,{"c":"]"}]]} ,"s",12.5,null ],"has_more":true,"last_id":"b"} "#;
        for step in 1..body.len() + 1 {
            let (els, env) = split(body, step).unwrap();
            assert_eq!(
                els,
                [
                    r#"{"id":"a","t":"x\"y]},{"}"#,
                    r#"{"id":"b","n":[1,[2,{"c":"]"}]]}"#,
                    r#""s""#,
                    "12.5",
                    "null"
                ],
                "step {step}"
            );
            assert_eq!(
                env,
                serde_json::json!({"object":"list","data":[],"has_more":true,"last_id":"b"})
            );
        }
    }

    #[test]
    fn data_anywhere_in_the_envelope_and_lookalikes_ignored() {
        let body = br#"{"has_more":false,"x":{"data":[9]},"kind":"data","data":[{"a":1}],"last_end_time":"2025-07-02T00:00:00Z"}"#;
        let (els, env) = split(body, 7).unwrap();
        assert_eq!(els, [r#"{"a":1}"#]);
        assert_eq!(env["x"]["data"][0], 9);
        assert_eq!(env["last_end_time"], "2025-07-02T00:00:00Z");
        let (els, _) = split(br#"{"data":[],"has_more":false}"#, 3).unwrap();
        assert!(els.is_empty());
    }

    #[test]
    fn fields_are_read_at_every_chunking() {
        let body = br#"{"data":[{"object":"c","title":"id","id":"c-1","n":{"id":"deep"},"last_active_at": 1760349119.540962 ,"messages":{"object":"list","data":[{"id":"m1","has_more":true}],"has_more" : true,"last_id":"m\"2"},"z":"has_more"}, {"id":"c-2","messages":{"data":[],"has_more":false}}]}"#;
        for step in 1..body.len() + 1 {
            let mut sp = ListSplitter::new();
            let mut got = Vec::new();
            for chunk in body.chunks(step) {
                sp.feed(chunk, &mut |e| {
                    got.push((
                        e.str_field("id"),
                        e.f64_field("last_active_at"),
                        e.nested_field("messages", "has_more").map(|b| b.to_vec()),
                        e.nested_field("messages", "last_id").and_then(json_string),
                        e.str_field("object"),
                        e.field("messages").map(|b| b.to_vec()),
                    ));
                    Ok(())
                })
                .unwrap();
            }
            sp.finish().unwrap();
            assert_eq!(got.len(), 2, "step {step}");
            assert_eq!(got[0].0.as_deref(), Some("c-1"), "step {step}");
            assert_eq!(got[0].1, Some(1760349119.540962), "step {step}");
            assert_eq!(got[0].2.as_deref(), Some(&b"true"[..]), "step {step}");
            assert_eq!(got[0].3.as_deref(), Some("m\"2"), "step {step}");
            assert_eq!(got[0].4.as_deref(), Some("c"), "step {step}");
            assert_eq!(got[0].5, None, "objects are not scalars");
            assert_eq!(got[1].0.as_deref(), Some("c-2"));
            assert_eq!(got[1].1, None);
            assert_eq!(got[1].2.as_deref(), Some(&b"false"[..]));
        }
    }

    #[test]
    fn compact_keeps_order_numbers_and_strings() {
        let raw = b"{\n  \"z\": 1.50,\r\n  \"a\" : [ 1e3 , \"x \\\" \\n y\" ],\n\t\"m\": { }\n}";
        assert_eq!(
            String::from_utf8(compact(raw)).unwrap(),
            r#"{"z":1.50,"a":[1e3,"x \" \n y"],"m":{}}"#
        );
    }

    #[test]
    fn truncated_and_malformed_bodies_are_refused() {
        let full = br#"{"data":[{"id":"a"},{"id":"b"}],"has_more":false}"#;
        for cut in 0..full.len() {
            let r = split(&full[..cut], 4);
            assert!(r.is_err(), "accepted a body cut at {cut}");
        }
        assert!(split(br#"[1,2]"#, 2).is_err());
        assert!(split(br#"{"data":[1,,2]}"#, 2).is_err());
        assert!(split(br#"{"data":[1,]}"#, 2).is_err());
        assert!(split(br#"{"data":[]} x"#, 2).is_err());
    }
}
