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
        on_element: &mut dyn FnMut(&[u8]) -> Result<()>,
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

    /// Inside `data`: find where each element ends. Elements wholly inside
    /// one chunk are handed over without a copy.
    fn scan_data(
        &mut self,
        chunk: &[u8],
        mut i: usize,
        on_element: &mut dyn FnMut(&[u8]) -> Result<()>,
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
                        b'"' => self.in_string = true,
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

    fn emit(&mut self, tail: &[u8], on_element: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        self.in_element = false;
        self.elements += 1;
        if self.element.is_empty() {
            on_element(trim_end(tail))
        } else {
            self.element.extend_from_slice(tail);
            let r = on_element(trim_end(&self.element));
            self.element.clear();
            if self.element.capacity() > 16 << 20 {
                // One huge record should not pin its buffer for the rest of the run.
                self.element = Vec::new();
            }
            r
        }
    }
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
                out.push(String::from_utf8(e.to_vec()).unwrap());
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
