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
    let n_digits = int_digits.len() + frac_digits.len();
    let keep = if shift >= 0 {
        n_digits
    } else {
        n_digits.saturating_sub((-shift) as usize)
    };
    // Digits go into a u64 eighteen at a time (no overflow possible), and
    // each block into the i128 with overflow checks: a third of the work of
    // a checked i128 step per digit. Powers of ten come from a table, not
    // `checked_pow` loops (with the two plain loops below: 4 % fewer
    // instructions for a whole billing-table run).
    let mut acc: i128 = 0;
    let (mut block, mut block_len) = (0u64, 0usize);
    let int_keep = keep.min(int_digits.len());
    let frac_keep = keep - int_keep;
    for digits in [&int_digits[..int_keep], &frac_digits[..frac_keep]] {
        for &d in digits {
            block = block * 10 + (d - b'0') as u64;
            block_len += 1;
            if block_len == 18 {
                acc = push_block(acc, block, block_len)
                    .ok_or_else(|| too_big(text, precision, scale))?;
                (block, block_len) = (0, 0);
            }
        }
    }
    // Digits beyond the scale must be zeros: we never round.
    let mut dropped = int_digits[int_keep..]
        .iter()
        .chain(&frac_digits[frac_keep..]);
    if dropped.any(|&d| d != b'0') {
        return Err(format!(
            "{text} has more than {scale} fractional digits for numeric({precision},{scale}); refusing to round"
        ));
    }
    acc = push_block(acc, block, block_len).ok_or_else(|| too_big(text, precision, scale))?;
    if shift > 0 && acc != 0 {
        let factor = *POW10
            .get(shift as usize)
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
fn push_block(acc: i128, block: u64, len: usize) -> Option<i128> {
    if acc == 0 {
        return Some(block as i128);
    }
    acc.checked_mul(POW10[len])?.checked_add(block as i128)
}

/// 10^0 ..= 10^38, every power of ten an i128 holds.
const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

fn pow10(p: u8) -> i128 {
    // Precision is at most 38 (checked where the type is declared); a
    // larger one has no bound an i128 can state, so nothing is refused.
    POW10.get(p as usize).copied().unwrap_or(i128::MAX)
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

    /// The exact value by string arithmetic (append or drop zeros, then one
    /// `u128` parse): `Some(unscaled)`, or None where parse_decimal must refuse.
    fn reference(
        int: &str,
        frac: &str,
        exp: i64,
        neg: bool,
        precision: u8,
        scale: i8,
    ) -> Option<i128> {
        let digits = format!("{int}{frac}");
        let shift = scale as i64 + exp - frac.len() as i64;
        let kept = if shift >= 0 {
            format!("{digits}{}", "0".repeat(shift as usize))
        } else {
            let cut = digits.len().saturating_sub((-shift) as usize);
            if digits[cut..].bytes().any(|d| d != b'0') {
                return None;
            }
            digits[..cut].to_string()
        };
        let trimmed = kept.trim_start_matches('0');
        if trimmed.len() > precision as usize {
            return None;
        }
        let v = if trimmed.is_empty() {
            0
        } else {
            trimmed.parse::<u128>().ok()? as i128
        };
        Some(if neg { -v } else { v })
    }

    #[test]
    fn random_literals_match_string_arithmetic() {
        let mut next = crate::test_rng::below(0x2545_f491_4f6c_dd1d);
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..200_000 {
            let digit = |r: u64| (b'0' + r as u8) as char;
            let mut int: String = (0..next(25)).map(|_| digit(next(10))).collect();
            // Runs of zeros, where the rounding and overflow edges are.
            let mut frac: String = (0..next(25))
                .map(|_| if next(3) == 0 { '0' } else { digit(next(10)) })
                .collect();
            if next(4) == 0 {
                frac = frac.trim_end_matches(|c| c != '0').to_string();
            }
            if int.is_empty() && frac.is_empty() {
                int.push('7');
            }
            let exp = if next(4) == 0 {
                next(41) as i64 - 20
            } else {
                0
            };
            let neg = next(2) == 0;
            let precision = 1 + next(38) as u8;
            let scale = next(precision as u64 + 1) as i8;
            let mut text = String::new();
            text.push_str(if neg {
                "-"
            } else if next(5) == 0 {
                "+"
            } else {
                ""
            });
            text.push_str(&int);
            if !frac.is_empty() || next(6) == 0 {
                text.push('.');
                text.push_str(&frac);
            }
            if exp != 0 {
                text.push_str(&format!("e{exp}"));
            }
            let want = reference(&int, &frac, exp, neg, precision, scale);
            let got = p(&text, precision, scale);
            assert_eq!(
                got.clone().ok(),
                want,
                "{text} at numeric({precision},{scale}): {got:?}"
            );
            if want.is_some() {
                accepted += 1
            } else {
                refused += 1
            }
        }
        assert!(
            accepted > 20_000 && refused > 20_000,
            "{accepted} accepted, {refused} refused"
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
