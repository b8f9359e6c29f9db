//! One pass over a CSV chunk that finds where its fields end, 64 bytes at
//! a time (as simdjson and simdcsv do): bit masks of the quotes,
//! delimiters and line feeds of a block, a prefix XOR of the quote mask
//! for "inside a quoted field", and the delimiters and line feeds outside
//! quotes are the field ends. Reading records is then a walk over a list
//! of positions instead of a `memchr` per line, per quote run and per
//! field, which on short fields cost more than the scan itself.
//!
//! The pass only accepts quotes used as PostgreSQL writes them: a quote
//! opens a field right at its start (or doubles a closing one), and a
//! closing quote is followed by a delimiter, a line end or another quote.
//! On any other chunk (a stray quote, a field still open at its end) it
//! gives up, and the chunk is read record by record by the byte-exact
//! reader, which reports the error with its line and field.

/// Where the fields of a chunk end, found a window at a time
/// ([`Structure::scan_more`]) just before the records in it are read, so
/// each window is still in the cache when its fields are parsed.
#[derive(Default)]
pub struct Structure {
    /// Positions of the delimiters and line feeds outside quotes, in order.
    pub ends: Vec<u32>,
    /// Positions of line feeds inside quoted fields, for line numbers.
    pub quoted_newlines: Vec<u32>,
    /// Offsets of the 64-byte blocks that hold a byte ≥ 0x80: a record
    /// outside them is ASCII, so UTF-8 without a check.
    pub non_ascii_blocks: Vec<u32>,
    /// Bytes of the chunk scanned so far.
    pub scanned: usize,
    carry: Carry,
}

/// What one block passes to the next (bit 0 of each).
#[derive(Clone, Copy)]
struct Carry {
    /// All ones: the block starts inside quotes.
    inside: u64,
    /// The block's first byte starts a field.
    field_start: u64,
    /// The byte before the block is a closing quote.
    close: u64,
    /// The byte before the block is a carriage return after a closing quote.
    cr_after_close: u64,
}

impl Default for Carry {
    fn default() -> Self {
        Carry {
            inside: 0,
            field_start: 1,
            close: 0,
            cr_after_close: 0,
        }
    }
}

/// Bit `i` set where byte `i` of a 64-byte block is the byte looked for.
#[derive(Default, Clone, Copy)]
struct Masks {
    quote: u64,
    delim: u64,
    newline: u64,
    cr: u64,
    high: u64,
}

impl Structure {
    /// Start on a chunk of `len` bytes; false when the pass cannot be used
    /// (a chunk too large for 32-bit positions, or a delimiter that is a
    /// line end or the quote).
    pub fn start(&mut self, len: usize, delim: u8, quote: u8) -> bool {
        self.ends.clear();
        self.quoted_newlines.clear();
        self.non_ascii_blocks.clear();
        self.scanned = 0;
        self.carry = Carry::default();
        len < u32::MAX as usize && ![b'\n', b'\r', quote].contains(&delim)
    }

    /// Scan the next `window` bytes (a multiple of 64) of `chunk`, appending
    /// to the lists; false when the pass gives up (see the module comment),
    /// and the records from here on are for the byte-exact reader.
    pub fn scan_more(&mut self, chunk: &[u8], delim: u8, quote: u8, window: usize) -> bool {
        let stop = (self.scanned + window).min(chunk.len());
        let mut c = self.carry;
        let mut base = self.scanned;
        let mut last_block = [0u8; 64];
        while base < stop {
            let len = (stop - base).min(64);
            let block: &[u8; 64] = if len == 64 {
                chunk[base..base + 64].try_into().expect("64 bytes")
            } else {
                last_block[..len].copy_from_slice(&chunk[base..stop]);
                last_block[len..].fill(0);
                &last_block
            };
            let valid = if len == 64 { !0 } else { (1u64 << len) - 1 };
            let m = block_masks(block, delim, quote, valid);
            let inside = prefix_xor(m.quote) ^ c.inside;
            let ends = (m.delim | m.newline) & !inside;
            let close = m.quote & !inside;
            let open = m.quote & inside;
            // An opening quote starts a field or doubles a closing quote.
            let open_allowed = ((ends | close) << 1) | c.field_start;
            // After a closing quote: a delimiter, a line end or a quote.
            let after_close = ((close << 1) | c.close) & valid;
            let cr_after_close = after_close & m.cr;
            let needs_newline = ((cr_after_close << 1) | c.cr_after_close) & valid;
            if open & !open_allowed != 0
                || after_close & !(m.delim | m.newline | m.quote | m.cr) != 0
                || needs_newline & !m.newline != 0
            {
                return false;
            }
            push_positions(&mut self.ends, base, ends);
            push_positions(&mut self.quoted_newlines, base, m.newline & inside);
            if m.high != 0 {
                self.non_ascii_blocks.push(base as u32);
            }
            let last = len - 1;
            c = Carry {
                inside: if (inside >> last) & 1 == 1 { !0 } else { 0 },
                field_start: ((ends | close) >> last) & 1,
                close: (close >> last) & 1,
                cr_after_close: (cr_after_close >> last) & 1,
            };
            base += len;
        }
        self.carry = c;
        self.scanned = stop;
        // Still inside quotes, or a carriage return after a closing quote,
        // at the end: the byte-exact reader says which field is not closed.
        stop < chunk.len() || (c.inside == 0 && c.cr_after_close == 0)
    }
}

fn push_positions(out: &mut Vec<u32>, base: usize, mut bits: u64) {
    while bits != 0 {
        out.push((base + bits.trailing_zeros() as usize) as u32);
        bits &= bits - 1;
    }
}

/// Bit `i` of the result is the XOR of bits `0..=i`: set inside quotes
/// (on an opening quote and after it, clear on the closing one).
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(target_arch = "x86_64")]
fn block_masks(block: &[u8; 64], delim: u8, quote: u8, valid: u64) -> Masks {
    use std::arch::x86_64::*;
    let mut m = Masks::default();
    // SAFETY: SSE2 is part of every x86_64 CPU; each unaligned 16-byte
    // load reads inside the 64-byte array.
    unsafe {
        let (q, d) = (_mm_set1_epi8(quote as i8), _mm_set1_epi8(delim as i8));
        let (nl, cr) = (_mm_set1_epi8(b'\n' as i8), _mm_set1_epi8(b'\r' as i8));
        for k in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k) as *const __m128i);
            let bits = |x: __m128i| (_mm_movemask_epi8(x) as u16 as u64) << (16 * k);
            m.quote |= bits(_mm_cmpeq_epi8(v, q));
            m.delim |= bits(_mm_cmpeq_epi8(v, d));
            m.newline |= bits(_mm_cmpeq_epi8(v, nl));
            m.cr |= bits(_mm_cmpeq_epi8(v, cr));
            m.high |= bits(v);
        }
    }
    m.quote &= valid;
    m.delim &= valid;
    m.newline &= valid;
    m.cr &= valid;
    m
}

#[cfg(not(target_arch = "x86_64"))]
fn block_masks(block: &[u8; 64], delim: u8, quote: u8, valid: u64) -> Masks {
    let mut m = Masks::default();
    for (i, &b) in block.iter().enumerate() {
        let bit = 1u64 << i;
        m.quote |= if b == quote { bit } else { 0 };
        m.delim |= if b == delim { bit } else { 0 };
        m.newline |= if b == b'\n' { bit } else { 0 };
        m.cr |= if b == b'\r' { bit } else { 0 };
        m.high |= if b >= 0x80 { bit } else { 0 };
    }
    m.quote &= valid;
    m.delim &= valid;
    m.newline &= valid;
    m.cr &= valid;
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole of `text` scanned in windows of 64 bytes.
    fn scanned(text: &[u8]) -> Option<(Vec<u32>, Vec<u32>, Vec<u32>)> {
        let mut s = Structure::default();
        assert!(s.start(text.len(), b',', b'"'));
        while s.scanned < text.len() {
            if !s.scan_more(text, b',', b'"', 64) {
                return None;
            }
        }
        Some((s.ends, s.quoted_newlines, s.non_ascii_blocks))
    }

    #[test]
    fn ends_outside_quotes_across_blocks() {
        // Quoted delimiters and line feeds on both sides of byte 64.
        let mut text = vec![b'a'; 60];
        text.extend_from_slice(b",\"x,\ny\"\"z\",b\n");
        let (ends, quoted, non_ascii) = scanned(&text).expect("well-formed");
        assert_eq!(ends, [60, 70, 72]);
        assert_eq!(quoted, [64]);
        assert!(non_ascii.is_empty());
        text.extend_from_slice("caf\u{e9},1\n".as_bytes());
        assert_eq!(scanned(&text).unwrap().2, [64]);
    }

    #[test]
    fn stray_quotes_are_left_to_the_exact_reader() {
        for bad in [
            &b"a\"b,1\n"[..],
            b"\"a\"b,1\n",
            b"\"a\" ,1\n",
            b"\"a\"\rb\n",
            b"\"a\"\r",
            b"1,\"open\n",
        ] {
            assert!(scanned(bad).is_none(), "{:?}", String::from_utf8_lossy(bad));
        }
        // The same on every side of a block boundary.
        let tails: [(&[u8], bool, &str); 4] = [
            (b",\"x\"\rb\n", false, "CR then b"),
            (b",\"x\"\r\nb\n", true, "CR LF"),
            (b",x\"y\n", false, "stray quote"),
            (b",\"x\"y\n", false, "y after a closing quote"),
        ];
        for k in 0..140 {
            for (tail, well_formed, what) in tails {
                let mut text = vec![b'a'; k];
                text.extend_from_slice(tail);
                assert_eq!(scanned(&text).is_some(), well_formed, "{what} at {k}");
            }
        }
        for good in [&b"\"a\"\r\n"[..], b"\"\"\"\"", b"\"a\"", b"x,\"\"\n", b""] {
            assert!(
                scanned(good).is_some(),
                "{:?}",
                String::from_utf8_lossy(good)
            );
        }
    }
}
