//! Is a text one JSON value? The check every `json`/`jsonb` field gets.
//!
//! It accepts exactly what `serde_json::from_str::<IgnoredAny>` accepts
//! (RFC 8259: any nesting depth, escapes checked for form only, so a lone
//! `\ud800` passes, as PostgreSQL's `json` type lets it). It exists because
//! serde's visitor machinery took 68 ns on an 85-byte `jsonb` document of
//! the billing bench, where this loop takes 42 ns: the check was 4 % of a
//! whole conversion. Errors are still worded by serde_json, which runs
//! again only on a text this check refused.

/// Bytes that end the fast part of a string: the quote, the backslash and
/// the control characters JSON forbids unescaped.
const STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// How many bytes at the start of `b` need no attention inside a string.
/// (A byte loop: the strings of `jsonb` columns are mostly a few bytes
/// long, where eight-byte words measured slower.)
fn plain_run(b: &[u8]) -> usize {
    b.iter()
        .position(|&c| STRING_STOP[c as usize])
        .unwrap_or(b.len())
}

/// Containers open at once before the check hands the text to serde_json,
/// which has no limit of its own here (its `ignore_value` keeps a stack).
const MAX_DEPTH: u32 = 128;

/// `Some(true)`/`Some(false)` when the text is/is not one JSON value;
/// `None` when it nests deeper than this check keeps track of.
pub fn is_json(text: &[u8]) -> Option<bool> {
    let mut p = Parser {
        b: text,
        i: 0,
        objects: 0,
        depth: 0,
    };
    match p.document() {
        Ok(()) => Some(true),
        Err(Refused::Invalid) => Some(false),
        Err(Refused::TooDeep) => None,
    }
}

enum Refused {
    Invalid,
    TooDeep,
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    /// One bit per open container, the innermost lowest: 1 for an object.
    objects: u128,
    depth: u32,
}

type Step = Result<(), Refused>;

impl Parser<'_> {
    fn document(&mut self) -> Step {
        loop {
            self.value()?;
            // After a value: close containers, or find the next member.
            loop {
                self.skip_ws();
                if self.depth == 0 {
                    return if self.i == self.b.len() {
                        Ok(())
                    } else {
                        Err(Refused::Invalid)
                    };
                }
                let in_object = self.objects & 1 == 1;
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if !in_object {
                            break;
                        }
                        // The member's key and value (which may open a container).
                        self.member()?;
                    }
                    Some(b'}') if in_object => self.close(),
                    Some(b']') if !in_object => self.close(),
                    _ => return Err(Refused::Invalid),
                }
            }
        }
    }

    /// One value; a container is only opened (with its first member),
    /// its members come back through `document`'s loop. An empty container
    /// is a whole value.
    fn value(&mut self) -> Step {
        self.skip_ws();
        let Some(c) = self.peek() else {
            return Err(Refused::Invalid);
        };
        match c {
            b'"' => {
                self.i += 1;
                self.string_rest()
            }
            b'{' | b'[' => {
                self.i += 1;
                self.skip_ws();
                let close = if c == b'{' { b'}' } else { b']' };
                if self.peek() == Some(close) {
                    self.i += 1;
                    return Ok(());
                }
                if self.depth == MAX_DEPTH {
                    return Err(Refused::TooDeep);
                }
                self.depth += 1;
                self.objects = self.objects << 1 | (c == b'{') as u128;
                if c == b'{' {
                    return self.member();
                }
                // An array's first element.
                self.value()
            }
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(Refused::Invalid),
        }
    }

    fn close(&mut self) {
        self.i += 1;
        self.depth -= 1;
        self.objects >>= 1;
    }

    /// `"key"` and `:`, then the member's value.
    fn member(&mut self) -> Step {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Err(Refused::Invalid);
        }
        self.i += 1;
        self.string_rest()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(Refused::Invalid);
        }
        self.i += 1;
        // A member whose value is a container only opens it here; its
        // members follow in `document`'s loop.
        self.value()
    }

    /// The rest of a string after its opening quote.
    fn string_rest(&mut self) -> Step {
        loop {
            self.i += plain_run(&self.b[self.i..]);
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            let hex = self.b.get(self.i + 1..self.i + 5).ok_or(Refused::Invalid)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(Refused::Invalid);
                            }
                            self.i += 5;
                        }
                        _ => return Err(Refused::Invalid),
                    }
                }
                // A control character, or the end of the text.
                _ => return Err(Refused::Invalid),
            }
        }
    }

    fn word(&mut self, w: &[u8]) -> Step {
        if self.b[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(())
        } else {
            Err(Refused::Invalid)
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Step {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Refused::Invalid),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn some_digits(&mut self) -> Step {
        let start = self.i;
        self.digits();
        if self.i == start {
            return Err(Refused::Invalid);
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::is_json;

    fn serde_says(text: &str) -> bool {
        serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    }

    #[test]
    fn agrees_with_serde_on_the_edges() {
        for t in [
            "0",
            "-0",
            "01",
            "-",
            "1.",
            "1.5",
            ".5",
            "1e5",
            "1E+5",
            "1e-",
            "1e",
            "-01",
            "1x",
            "[1x]",
            "true",
            "tru",
            "truex",
            "null",
            "nul",
            "\"\"",
            "\"a",
            "\"\\u12\"",
            "\"\\u12G4\"",
            "\"\\ud800\"",
            "\"\\x\"",
            "\"\u{1}\"",
            "\"\t\"",
            "\"é\"",
            "{}",
            "[]",
            "{ }",
            "[ ]",
            "[,]",
            "[1,]",
            "[1 2]",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":1 \"b\":2}",
            "{1:2}",
            "{\"a\":[1,{\"b\":[]}],\"c\":{}}",
            "  [1] ",
            "[1]]",
            "[[1]",
            "{\"a\":1}}",
            "",
            " ",
            "\u{feff}1",
            "[1]\n",
            "\r\n{}",
            "[-]",
            "[true,false,null]",
            "{\"a\":{\"b\":{}}}",
            "{\"a\":[]}",
            "[{}]",
            "[[],[[]]]",
            "[[]]x",
        ] {
            assert_eq!(is_json(t.as_bytes()), Some(serde_says(t)), "{t:?}");
        }
    }

    #[test]
    fn deep_nesting_is_left_to_serde() {
        let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(is_json(nested(128).as_bytes()), Some(true));
        assert_eq!(is_json(nested(129).as_bytes()), None);
        assert!(
            serde_says(&nested(500)),
            "serde_json's IgnoredAny has no depth limit"
        );
    }

    #[test]
    fn plain_runs_stop_where_a_byte_loop_stops() {
        let mut next = crate::test_rng::below(0x1234_5678_9abc_def1);
        let bytes = [
            b'a', b' ', 0x1f, 0x20, 0x21, b'"', b'\\', 0x00, 0x7f, 0x80, 0x9f, 0xa0, 0xc3, 0xff,
            0x5b, 0x5d,
        ];
        for _ in 0..100_000 {
            let text: Vec<u8> = (0..next(40))
                .map(|_| bytes[next(bytes.len() as u64) as usize])
                .collect();
            let want = text
                .iter()
                .position(|&c| super::STRING_STOP[c as usize])
                .unwrap_or(text.len());
            assert_eq!(super::plain_run(&text), want, "{text:x?}");
        }
    }

    #[test]
    fn random_texts_agree_with_serde() {
        let mut next = crate::test_rng::below(0x853c_49e6_748f_ea9b);
        let pieces: [&str; 24] = [
            "{", "}", "[", "]", ",", ":", "\"k\"", "\"", "\\", "\\u00e9", "\\n", "1", "-", "0",
            ".", "e", "+", "true", "null", " ", "\n", "x", "é", "\u{1}",
        ];
        let (mut valid, mut invalid) = (0, 0);
        for case in 0..100_000 {
            let text: String = if case % 2 == 0 {
                let mut s = String::new();
                gen_value(&mut next, &mut s, 0);
                // One change to a valid document: near misses.
                if case % 4 == 0 && !s.is_empty() {
                    let at = next(s.len() as u64 + 1) as usize;
                    let at = (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap();
                    s.insert_str(at, pieces[next(pieces.len() as u64) as usize]);
                }
                s
            } else {
                (0..next(12))
                    .map(|_| pieces[next(pieces.len() as u64) as usize])
                    .collect()
            };
            let want = serde_says(&text);
            assert_eq!(is_json(text.as_bytes()), Some(want), "{text:?}");
            if want {
                valid += 1
            } else {
                invalid += 1
            }
        }
        assert!(
            valid > 30_000 && invalid > 30_000,
            "{valid} valid, {invalid} invalid"
        );
    }

    fn gen_value(next: &mut impl FnMut(u64) -> u64, s: &mut String, depth: u32) {
        let ws = |next: &mut dyn FnMut(u64) -> u64, s: &mut String| {
            s.push_str([" ", "", "", "\n", "\t ", "\r\n"][next(6) as usize])
        };
        ws(next, s);
        match next(if depth > 4 { 6 } else { 8 }) {
            0 => s.push_str(["true", "false", "null"][next(3) as usize]),
            1 | 2 => {
                let ints = ["0", "-0", "7", "-12", "305"];
                s.push_str(ints[next(5) as usize]);
                if next(2) == 0 {
                    s.push_str([".5", ".000", ".25"][next(3) as usize]);
                }
                if next(3) == 0 {
                    s.push_str(["e5", "E-2", "e+10", "e0"][next(4) as usize]);
                }
            }
            3..=5 => {
                s.push('"');
                for _ in 0..next(6) {
                    s.push_str(
                        ["a", "é", " ", "\\\"", "\\\\", "\\/", "\\u00E9", "\\t", "😀"]
                            [next(9) as usize],
                    );
                }
                s.push('"');
            }
            6 => {
                s.push('[');
                let n = next(4);
                for k in 0..n {
                    if k > 0 {
                        s.push(',');
                    }
                    gen_value(next, s, depth + 1);
                }
                ws(next, s);
                s.push(']');
            }
            _ => {
                s.push('{');
                let n = next(4);
                for k in 0..n {
                    if k > 0 {
                        s.push(',');
                    }
                    ws(next, s);
                    s.push_str(["\"a\"", "\"\"", "\"k\\n\""][next(3) as usize]);
                    ws(next, s);
                    s.push(':');
                    gen_value(next, s, depth + 1);
                }
                ws(next, s);
                s.push('}');
            }
        }
        ws(next, s);
    }
}
