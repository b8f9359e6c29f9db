//! Parsing PostgreSQL's text output of one value into its typed form.
//! Every function returns a short reason on failure; the caller adds the
//! file, line, column and value.

mod decimal;
mod json;
mod time;

pub use decimal::{check_numeric_literal, parse_decimal};
pub use time::{parse_date, parse_time, parse_timestamp};

/// A decimal integer within `[min, max]`.
pub fn parse_int(text: &str, min: i64, max: i64) -> Result<i64, String> {
    let b = text.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(
            if digits.iter().all(u8::is_ascii_digit) && !digits.is_empty() {
                "out of range".into()
            } else {
                "not an integer".into()
            },
        );
    }
    let mut v: i128 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err("not an integer".into());
        }
        v = v * 10 + (c - b'0') as i128;
    }
    let v = if neg { -v } else { v };
    if v < min as i128 || v > max as i128 {
        return Err(format!("out of range [{min}, {max}]"));
    }
    Ok(v as i64)
}

/// PostgreSQL's boolean spellings (output is `t`/`f`).
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "t" | "true" | "TRUE" | "True" => Ok(true),
        "f" | "false" | "FALSE" | "False" => Ok(false),
        _ => match text.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => Ok(true),
            "f" | "false" | "n" | "no" | "off" | "0" => Ok(false),
            _ => Err("not a boolean".into()),
        },
    }
}

/// `real`/`double precision` text, including `NaN` and `±Infinity` as
/// PostgreSQL prints them. A literal beyond the type's range (`1e400`) or
/// one that is not zero but underflows to zero (`1e-400`) is refused, as
/// PostgreSQL refuses it: the float parser would turn it into ±inf or 0.
pub fn parse_f64(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        _ => {
            let t = float_literal(text)?;
            let v: f64 = t.parse().map_err(|_| "not a number".to_string())?;
            check_float_range(v.is_infinite(), v == 0.0, t, "double precision")?;
            Ok(v)
        }
    }
}

/// A float4: parsed directly as f32, so a value PostgreSQL printed for a
/// `real` column round-trips exactly. The same range rule as [`parse_f64`].
pub fn parse_f32(text: &str) -> Result<f32, String> {
    match text {
        "NaN" => Ok(f32::NAN),
        "Infinity" => Ok(f32::INFINITY),
        "-Infinity" => Ok(f32::NEG_INFINITY),
        _ => {
            let t = float_literal(text)?;
            let v: f32 = t.parse().map_err(|_| "not a number".to_string())?;
            check_float_range(v.is_infinite(), v == 0.0, t, "real")?;
            Ok(v)
        }
    }
}

/// The literal without surrounding blanks, if it only has the characters
/// of a decimal float (Rust's parser would also take `inf` and `nan`).
fn float_literal(text: &str) -> Result<&str, String> {
    let t = text.trim();
    if t.is_empty()
        || t.bytes()
            .any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E')
    {
        return Err("not a number".into());
    }
    Ok(t)
}

fn check_float_range(infinite: bool, zero: bool, t: &str, type_name: &str) -> Result<(), String> {
    if infinite {
        return Err(format!("out of range for {type_name}"));
    }
    if zero && mantissa_has_nonzero_digit(t) {
        return Err(format!(
            "underflows to zero in {type_name} (the literal is not zero)"
        ));
    }
    Ok(())
}

/// True when the digits before any exponent are not all zeros.
fn mantissa_has_nonzero_digit(t: &str) -> bool {
    t.bytes()
        .take_while(|&c| c != b'e' && c != b'E')
        .any(|c| (b'1'..=b'9').contains(&c))
}

/// A UUID in any form PostgreSQL accepts (hyphens optional, braces
/// optional, either case) → its 16 bytes.
pub fn parse_uuid(text: &str) -> Result<[u8; 16], String> {
    let t = text
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(text);
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut hi: Option<u8> = None;
    for c in t.bytes() {
        if c == b'-' {
            if hi.is_some() {
                return Err("not a UUID".into());
            }
            continue;
        }
        let v = (c as char).to_digit(16).ok_or("not a UUID")? as u8;
        match hi.take() {
            None => hi = Some(v),
            Some(h) => {
                if n == 16 {
                    return Err("not a UUID".into());
                }
                out[n] = h << 4 | v;
                n += 1;
            }
        }
    }
    if n != 16 || hi.is_some() {
        return Err("not a UUID".into());
    }
    Ok(out)
}

/// True when `text` is already the canonical lower-case 8-4-4-4-12 form.
pub fn is_canonical_uuid(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
}

/// The canonical text form of 16 UUID bytes.
pub fn format_uuid(b: &[u8; 16]) -> String {
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// bytea output: hex format `\x0a1b…` or the legacy escape format.
pub fn parse_bytea(text: &str, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    if let Some(hexs) = text.strip_prefix("\\x") {
        if hexs.len() % 2 != 0 {
            return Err("odd number of hex digits in bytea".into());
        }
        let b = hexs.as_bytes();
        for pair in b.chunks(2) {
            let hi = (pair[0] as char)
                .to_digit(16)
                .ok_or("bad hex digit in bytea")?;
            let lo = (pair[1] as char)
                .to_digit(16)
                .ok_or("bad hex digit in bytea")?;
            out.push((hi << 4 | lo) as u8);
        }
        return Ok(());
    }
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
        } else if b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let oct = b.get(i + 1..i + 4).ok_or("bad escape in bytea")?;
            if !oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                return Err("bad escape in bytea".into());
            }
            let v =
                (oct[0] - b'0') as u32 * 64 + (oct[1] - b'0') as u32 * 8 + (oct[2] - b'0') as u32;
            out.push(u8::try_from(v).map_err(|_| "bad escape in bytea")?);
            i += 4;
        }
    }
    Ok(())
}

/// Check that `text` is one JSON value.
pub fn check_json(text: &str) -> Result<(), String> {
    if json::is_json(text.as_bytes()) == Some(true) {
        return Ok(());
    }
    // Refused or too deep for the quick check: serde_json decides, and
    // words the error.
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| format!("not valid JSON ({e})"))
}

/// An array's declared bounds, `[lower:upper]=` before the braces, which
/// PostgreSQL prints when the lower bound is not 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayBounds {
    pub lower: i64,
    pub upper: i64,
}

/// Split a one-dimensional PostgreSQL array literal (`{a,"b c",NULL}`)
/// into its elements; `None` is a NULL element. Quoted elements and
/// backslash escapes are decoded into `scratch`. Returns the declared
/// bounds, if the literal has them (checked against the element count).
pub fn split_array(
    text: &str,
    scratch: &mut Vec<Option<String>>,
) -> Result<Option<ArrayBounds>, String> {
    let mut s = text.trim();
    let mut bounds = None;
    if s.starts_with('[') {
        let eq = s.find('=').ok_or("bad array dimensions")?;
        bounds = Some(parse_bounds(s[..eq].trim_end())?);
        s = s[eq + 1..].trim_start();
    }
    split_elements(s, scratch)?;
    if let Some(b) = bounds {
        if b.upper - b.lower + 1 != scratch.len() as i64 {
            return Err(format!(
                "array dimensions [{}:{}] do not match its {} elements",
                b.lower,
                b.upper,
                scratch.len()
            ));
        }
    }
    Ok(bounds)
}

fn parse_bounds(dims: &str) -> Result<ArrayBounds, String> {
    let inner = dims
        .strip_prefix('[')
        .and_then(|d| d.strip_suffix(']'))
        .ok_or("bad array dimensions")?;
    if inner.contains('[') {
        return Err("multi-dimensional arrays are not supported".into());
    }
    let (lo, hi) = inner.split_once(':').ok_or("bad array dimensions")?;
    let num = |t: &str| t.trim().parse::<i64>().map_err(|_| "bad array dimensions");
    Ok(ArrayBounds {
        lower: num(lo)?,
        upper: num(hi)?,
    })
}

fn split_elements(s: &str, scratch: &mut Vec<Option<String>>) -> Result<(), String> {
    scratch.clear();
    let inner = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or("not an array literal (expected {...})")?;
    let b = inner.as_bytes();
    if inner.trim().is_empty() {
        return Ok(());
    }
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut elem = Vec::new();
        let mut quoted = false;
        if b.get(i) == Some(&b'{') {
            return Err("multi-dimensional arrays are not supported".into());
        }
        if b.get(i) == Some(&b'"') {
            quoted = true;
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err("unterminated quoted array element".into()),
                    Some(b'\\') => {
                        elem.push(*b.get(i + 1).ok_or("dangling backslash in array")?);
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        elem.push(c);
                        i += 1;
                    }
                }
            }
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
        } else {
            while i < b.len() && b[i] != b',' {
                if b[i] == b'\\' {
                    elem.push(*b.get(i + 1).ok_or("dangling backslash in array")?);
                    i += 2;
                } else if b[i] == b'"' || b[i] == b'{' || b[i] == b'}' {
                    return Err("unexpected character in array element".into());
                } else {
                    elem.push(b[i]);
                    i += 1;
                }
            }
            while elem.last().is_some_and(|c| c.is_ascii_whitespace()) {
                elem.pop();
            }
            if elem.is_empty() {
                return Err("empty array element".into());
            }
        }
        let s = String::from_utf8(elem).map_err(|_| "array element is not UTF-8")?;
        if !quoted && s.eq_ignore_ascii_case("NULL") {
            scratch.push(None);
        } else {
            scratch.push(Some(s));
        }
        match b.get(i) {
            None => return Ok(()),
            Some(b',') => i += 1,
            Some(_) => return Err("expected , between array elements".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(parse_int("-32768", -32768, 32767), Ok(-32768));
        assert!(parse_int("32768", -32768, 32767).is_err());
        assert_eq!(
            parse_int("9223372036854775807", i64::MIN, i64::MAX),
            Ok(i64::MAX)
        );
        assert_eq!(
            parse_int("-9223372036854775808", i64::MIN, i64::MAX),
            Ok(i64::MIN)
        );
        assert!(parse_int("9223372036854775808", i64::MIN, i64::MAX).is_err());
        for bad in ["", "-", "1.0", "1e3", " 1", "abc", "99999999999999999999"] {
            assert!(parse_int(bad, i64::MIN, i64::MAX).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn uuids() {
        let u = parse_uuid("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11").unwrap();
        assert_eq!(format_uuid(&u), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        assert_eq!(parse_uuid("{a0eebc999c0b4ef8bb6d6bb9bd380a11}").unwrap(), u);
        assert!(parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1").is_err());
        assert!(parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1122").is_err());
        assert!(is_canonical_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
        assert!(!is_canonical_uuid("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"));
    }

    #[test]
    fn byteas() {
        let mut out = Vec::new();
        parse_bytea("\\x00ff10", &mut out).unwrap();
        assert_eq!(out, [0, 255, 16]);
        parse_bytea("a\\\\b\\001", &mut out).unwrap();
        assert_eq!(out, b"a\\b\x01");
        assert!(parse_bytea("\\x0", &mut out).is_err());
    }

    #[test]
    fn arrays() {
        let mut v = Vec::new();
        let bounds = split_array(r#"{a,"b c",NULL,"NULL","x\"y",  z  ,"\\"}"#, &mut v).unwrap();
        assert_eq!(bounds, None);
        assert_eq!(
            v,
            [
                Some("a".into()),
                Some("b c".into()),
                None,
                Some("NULL".into()),
                Some("x\"y".into()),
                Some("z".into()),
                Some("\\".into())
            ]
        );
        split_array("{}", &mut v).unwrap();
        assert!(v.is_empty());
        assert!(split_array("{{1,2},{3,4}}", &mut v)
            .unwrap_err()
            .contains("multi-dimensional"));
        assert!(split_array("1,2", &mut v).is_err());
        assert_eq!(
            split_array("[0:1]={7,8}", &mut v),
            Ok(Some(ArrayBounds { lower: 0, upper: 1 }))
        );
        assert_eq!(v, [Some("7".into()), Some("8".into())]);
        assert!(split_array("[0:2]={7,8}", &mut v)
            .unwrap_err()
            .contains("do not match"));
        assert!(split_array("[1:2][1:1]={{7},{8}}", &mut v).is_err());
        assert!(split_array("{1,,2}", &mut v).is_err());
    }

    #[test]
    fn floats_and_bools() {
        assert_eq!(parse_f64("1.5e-3"), Ok(0.0015));
        assert!(parse_f64("-Infinity").unwrap().is_infinite());
        assert!(parse_f64("inf").is_err(), "only PostgreSQL's spelling");
        assert_eq!(parse_f32("0.1"), Ok(0.1f32));
        assert!(parse_f64("1e400").unwrap_err().contains("out of range"));
        assert!(parse_f64("-1e400").unwrap_err().contains("out of range"));
        assert!(parse_f64("1e-400").unwrap_err().contains("underflows"));
        assert_eq!(parse_f64("0e-400"), Ok(0.0), "zero is zero");
        assert_eq!(parse_f64("-0.000"), Ok(-0.0));
        assert!(parse_f64("4.9e-324").unwrap() > 0.0, "subnormals are kept");
        assert!(parse_f32("1e39").unwrap_err().contains("out of range"));
        assert!(parse_f32("1e-50").unwrap_err().contains("underflows"));
        assert_eq!(parse_bool("t"), Ok(true));
        assert_eq!(parse_bool("off"), Ok(false));
        assert!(parse_bool("maybe").is_err());
    }
}
