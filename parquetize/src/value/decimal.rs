//! Exact decimal text to a scaled i128, never through floating point.
//!
//! `numeric(p,s)` values become `unscaled = value × 10^s`. A value with more
//! fractional digits than the scale is refused unless the extra digits are
//! zeros (PostgreSQL would have rounded; we never round), and a value with
//! more than `p - s` integer digits is refused.

/// Parse `text` (`-123.456`, `+1e-6`, `0.000001`) at `precision`/`scale`.
pub fn parse_decimal(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let b = text.as_bytes();
    let mut i = 0;
    let neg = match b.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &b[int_start..i];
    let mut frac_digits: &[u8] = &[];
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let fs = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &b[fs..i];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(not_a_number(text));
    }
    let mut exp: i64 = 0;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        let es = i;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let ds = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if ds == i || i - ds > 6 {
            return Err(not_a_number(text));
        }
        exp = text[es..i].parse().map_err(|_| not_a_number(text))?;
    }
    if i != b.len() {
        return Err(not_a_number(text));
    }
    // unscaled = digits × 10^shift, where digits is int_digits ++ frac_digits.
    let shift = scale as i64 + exp - frac_digits.len() as i64;
    let all = int_digits.iter().chain(frac_digits.iter());
    let n_digits = int_digits.len() + frac_digits.len();
    let keep = if shift >= 0 {
        n_digits
    } else {
        n_digits.saturating_sub((-shift) as usize)
    };
    // Digits go into a u64 eighteen at a time (no overflow possible), and
    // each block into the i128 with overflow checks: a third of the work of
    // a checked i128 step per digit.
    let mut acc: i128 = 0;
    let (mut block, mut block_len) = (0u64, 0u32);
    for (k, &d) in all.enumerate() {
        let d = d - b'0';
        if k < keep {
            block = block * 10 + d as u64;
            block_len += 1;
            if block_len == 18 {
                acc = push_block(acc, block, block_len)
                    .ok_or_else(|| too_big(text, precision, scale))?;
                (block, block_len) = (0, 0);
            }
        } else if d != 0 {
            return Err(format!(
                "{text} has more than {scale} fractional digits for numeric({precision},{scale}); refusing to round"
            ));
        }
    }
    acc = push_block(acc, block, block_len).ok_or_else(|| too_big(text, precision, scale))?;
    if shift > 0 && acc != 0 {
        let factor = 10i128
            .checked_pow(shift as u32)
            .ok_or_else(|| too_big(text, precision, scale))?;
        acc = acc
            .checked_mul(factor)
            .ok_or_else(|| too_big(text, precision, scale))?;
    }
    if acc >= pow10(precision) {
        return Err(too_big(text, precision, scale));
    }
    Ok(if neg { -acc } else { acc })
}

/// Check that `text` is a numeric literal PostgreSQL reads as written: an
/// optional sign, digits with an optional point (`12`, `-1.50`, `.5`,
/// `7.`), an optional exponent (`1e-6`), or `NaN` and `[+-]Infinity`
/// (also `inf`, any case), which PostgreSQL's numeric accepts. Blanks,
/// digit separators and hex/octal/binary forms are refused: kept as text,
/// they would not be the number PostgreSQL printed.
pub fn check_numeric_literal(text: &str) -> Result<(), String> {
    let b = text.as_bytes();
    let body = match b.first() {
        Some(b'-' | b'+') => &b[1..],
        _ => b,
    };
    let word = std::str::from_utf8(body).unwrap_or("");
    if word.eq_ignore_ascii_case("infinity") || word.eq_ignore_ascii_case("inf") {
        return Ok(());
    }
    if text.eq_ignore_ascii_case("nan") {
        return Ok(());
    }
    let mut i = 0;
    let int_start = i;
    while i < body.len() && body[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < body.len() && body[i] == b'.' {
        i += 1;
        let fs = i;
        while i < body.len() && body[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - fs;
    }
    if digits == 0 {
        return Err("not a numeric literal".into());
    }
    if i < body.len() && (body[i] == b'e' || body[i] == b'E') {
        i += 1;
        if i < body.len() && (body[i] == b'-' || body[i] == b'+') {
            i += 1;
        }
        let es = i;
        while i < body.len() && body[i].is_ascii_digit() {
            i += 1;
        }
        if es == i {
            return Err("not a numeric literal (exponent without digits)".into());
        }
    }
    if i != body.len() {
        return Err("not a numeric literal".into());
    }
    Ok(())
}

/// `acc × 10^len + block`, None on overflow.
fn push_block(acc: i128, block: u64, len: u32) -> Option<i128> {
    acc.checked_mul(10i128.checked_pow(len)?)?
        .checked_add(block as i128)
}

fn pow10(p: u8) -> i128 {
    10i128.pow(p as u32)
}

fn not_a_number(text: &str) -> String {
    if matches!(
        text.to_ascii_lowercase().as_str(),
        "nan" | "infinity" | "-infinity" | "+infinity" | "inf" | "-inf"
    ) {
        format!("{text} has no decimal representation")
    } else {
        "not a decimal number".to_string()
    }
}

fn too_big(text: &str, precision: u8, scale: i8) -> String {
    format!(
        "{text} does not fit numeric({precision},{scale}) (at most {} digits before the decimal point)",
        precision as i32 - scale as i32
    )
}

#[cfg(test)]
mod tests {
    use super::check_numeric_literal as literal;
    use super::parse_decimal as p;

    #[test]
    fn numeric_literals() {
        for ok in [
            "0",
            "-1.50",
            "+7",
            ".5",
            "7.",
            "1e-6",
            "1.5E+20",
            "NaN",
            "nan",
            "Infinity",
            "-Infinity",
            "+inf",
            "123456789012345678901234567890.123456789",
        ] {
            assert_eq!(literal(ok), Ok(()), "{ok:?} refused");
        }
        for bad in [
            "",
            "abc",
            "-",
            ".",
            "1e",
            "1.2.3",
            " 1",
            "1 ",
            "1_000",
            "0x1F",
            "1,5",
            "--1",
            "-NaN",
            "e5",
            "Infinityx",
        ] {
            assert!(literal(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn exact_values() {
        assert_eq!(p("123.456", 18, 6), Ok(123_456_000));
        assert_eq!(p("-0.000001", 18, 6), Ok(-1));
        assert_eq!(p("999999999999.999999", 18, 6), Ok(999_999_999_999_999_999));
        assert_eq!(p("0", 18, 6), Ok(0));
        assert_eq!(p("100.10", 18, 6), Ok(100_100_000));
        assert_eq!(p("1e-6", 18, 6), Ok(1));
        assert_eq!(p("1.5E2", 5, 0), Ok(150));
        assert_eq!(p("+.5", 3, 1), Ok(5));
        assert_eq!(p("7.", 3, 1), Ok(70));
        assert_eq!(p("1.23000000", 10, 2), Ok(123), "trailing zeros are exact");
        assert_eq!(
            p("0.50000000000000000000000000000000000001", 38, 38),
            Ok(50_000_000_000_000_000_000_000_000_000_000_000_001)
        );
        assert_eq!(p("0e10", 5, 2), Ok(0));
        assert_eq!(
            p("1.083109608078352459220000000000000000", 38, 20),
            Ok(108_310_960_807_835_245_922)
        );
        assert_eq!(
            p("-12345678901234567.890123456789012345678", 38, 21),
            Ok(-12_345_678_901_234_567_890_123_456_789_012_345_678)
        );
    }

    #[test]
    fn refusals() {
        assert!(p("1.0000001", 18, 6)
            .unwrap_err()
            .contains("refusing to round"));
        assert!(p("1000000000000", 18, 6)
            .unwrap_err()
            .contains("does not fit"));
        assert!(p("1e13", 18, 6).unwrap_err().contains("does not fit"));
        assert!(p("99999999999999999999999999999999999999999", 38, 0).is_err());
        for bad in [
            "", "-", ".", "abc", "1.2.3", "1e", "1 ", " 1", "NaN", "1,5", "0x10",
        ] {
            assert!(p(bad, 18, 6).is_err(), "{bad:?} accepted");
        }
        assert!(p("NaN", 18, 6)
            .unwrap_err()
            .contains("no decimal representation"));
    }
}
