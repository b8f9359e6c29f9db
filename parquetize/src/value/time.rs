//! Dates, times and timestamps as PostgreSQL prints them (ISO DateStyle):
//! `2025-11-03`, `2025-11-03 14:05:09.123456+00`, `+05:30`, `-03:30:15`,
//! and RFC 3339 (`T`, `Z`) from other sources. Fractions beyond
//! microseconds must be zeros: nothing is rounded.

const MICROS_PER_SEC: i64 = 1_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(b: &[u8], i: &mut usize, n: usize) -> Option<u32> {
    let s = b.get(*i..*i + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    *i += n;
    Some(v)
}

fn expect(b: &[u8], i: &mut usize, c: u8) -> Option<()> {
    (b.get(*i) == Some(&c)).then(|| *i += 1)
}

/// Parse the date part at `b[*i..]`: `YYYY-MM-DD` (years of 4 or more digits).
fn date_part(b: &[u8], i: &mut usize) -> Option<i64> {
    let start = *i;
    while *i < b.len() && b[*i].is_ascii_digit() {
        *i += 1;
    }
    let ylen = *i - start;
    if !(4..=6).contains(&ylen) {
        return None;
    }
    let mut y: i64 = 0;
    for &c in &b[start..*i] {
        y = y * 10 + (c - b'0') as i64;
    }
    expect(b, i, b'-')?;
    let m = digits(b, i, 2)?;
    expect(b, i, b'-')?;
    let d = digits(b, i, 2)?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// `HH:MM:SS[.ffffff]` → microseconds since midnight (24:00:00 allowed, as PostgreSQL does).
fn time_part(b: &[u8], i: &mut usize) -> Result<i64, String> {
    let bad = || "not a valid time".to_string();
    let h = digits(b, i, 2).ok_or_else(bad)?;
    expect(b, i, b':').ok_or_else(bad)?;
    let mi = digits(b, i, 2).ok_or_else(bad)?;
    let mut s = 0;
    if b.get(*i) == Some(&b':') {
        *i += 1;
        s = digits(b, i, 2).ok_or_else(bad)?;
    }
    let mut micros: i64 = 0;
    if b.get(*i) == Some(&b'.') {
        *i += 1;
        let fs = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            let k = *i - fs;
            let d = (b[*i] - b'0') as i64;
            if k < 6 {
                micros += d * 10i64.pow(5 - k as u32);
            } else if d != 0 {
                return Err("has sub-microsecond digits; refusing to round".into());
            }
            *i += 1;
        }
        if *i == fs {
            return Err(bad());
        }
    }
    let total = (h as i64 * 3600 + mi as i64 * 60 + s as i64) * MICROS_PER_SEC + micros;
    if mi > 59 || s > 60 || total > 24 * 3600 * MICROS_PER_SEC {
        return Err(bad());
    }
    Ok(total)
}

/// `Z`, `+HH`, `+HHMM`, `+HH:MM`, `+HH:MM:SS` → seconds east of UTC.
fn offset_part(b: &[u8], i: &mut usize) -> Option<i64> {
    match b.get(*i)? {
        b'Z' | b'z' => {
            *i += 1;
            Some(0)
        }
        &c @ (b'+' | b'-') => {
            *i += 1;
            let h = digits(b, i, 2)? as i64;
            let mut m = 0;
            let mut s = 0;
            if b.get(*i) == Some(&b':') {
                *i += 1;
                m = digits(b, i, 2)? as i64;
                if b.get(*i) == Some(&b':') {
                    *i += 1;
                    s = digits(b, i, 2)? as i64;
                }
            } else if b.len() - *i == 2 {
                m = digits(b, i, 2)? as i64;
            }
            if h > 15 || m > 59 || s > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60 + s;
            Some(if c == b'-' { -secs } else { secs })
        }
        _ => None,
    }
}

fn special(text: &str) -> Option<String> {
    let b = text.as_bytes();
    // The common case, decided without allocating: starts with a digit and
    // has no ` BC` suffix.
    let bc = b.len() >= 3 && b[b.len() - 3..].eq_ignore_ascii_case(b" bc");
    if b.first().is_some_and(u8::is_ascii_digit) && !bc {
        return None;
    }
    let t = text.trim().to_ascii_lowercase();
    if t == "infinity" || t == "-infinity" || t == "+infinity" {
        Some(format!(
            "{text} cannot be stored (no infinite dates in Parquet)"
        ))
    } else if t.ends_with(" bc") {
        Some("BC dates are not supported".into())
    } else {
        None
    }
}

/// `YYYY-MM-DD` → days since the Unix epoch.
pub fn parse_date(text: &str) -> Result<i32, String> {
    if let Some(e) = special(text) {
        return Err(e);
    }
    let b = text.as_bytes();
    let mut i = 0;
    let days = date_part(b, &mut i).ok_or("not a valid date (expected YYYY-MM-DD)")?;
    if i != b.len() {
        return Err("not a valid date (expected YYYY-MM-DD)".into());
    }
    i32::try_from(days).map_err(|_| "date out of range".into())
}

/// `HH:MM:SS[.ffffff]` → microseconds since midnight.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let b = text.as_bytes();
    let mut i = 0;
    let t = time_part(b, &mut i)?;
    if i != b.len() {
        return Err("not a valid time (expected HH:MM:SS[.ffffff])".into());
    }
    Ok(t)
}

/// A timestamp → microseconds since the Unix epoch. With `with_zone`, the
/// value must carry a UTC offset (PostgreSQL always prints one for
/// timestamptz) and is converted to UTC; without, it must not.
pub fn parse_timestamp(text: &str, with_zone: bool) -> Result<i64, String> {
    if let Some(e) = special(text) {
        return Err(e);
    }
    let b = text.as_bytes();
    let mut i = 0;
    let expected = if with_zone {
        "not a valid timestamptz (expected YYYY-MM-DD HH:MM:SS[.ffffff]+HH[:MM])"
    } else {
        "not a valid timestamp (expected YYYY-MM-DD HH:MM:SS[.ffffff])"
    };
    let days = date_part(b, &mut i).ok_or(expected)?;
    match b.get(i) {
        Some(b' ') | Some(b'T') | Some(b't') => i += 1,
        _ => return Err(expected.into()),
    }
    let tod = time_part(b, &mut i).map_err(|e| format!("{expected}: {e}"))?;
    let mut offset = None;
    if i < b.len() {
        offset = Some(offset_part(b, &mut i).ok_or(expected)?);
        if i != b.len() {
            return Err(expected.into());
        }
    }
    let local = days * 86_400 * MICROS_PER_SEC + tod;
    match (with_zone, offset) {
        (true, Some(off)) => Ok(local - off * MICROS_PER_SEC),
        (true, None) => Err("timestamptz value has no UTC offset; refusing to guess a zone".into()),
        (false, None) => Ok(local),
        (false, Some(_)) => Err("timestamp without time zone value carries a UTC offset".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2025-11-01"), Ok(20393));
        assert_eq!(parse_date("2024-02-29"), Ok(19782));
        assert_eq!(parse_date("1969-12-31"), Ok(-1));
        for bad in [
            "2025-02-29",
            "2025-13-01",
            "2025-1-01",
            "20250101",
            "2025-11-01x",
            "",
            "infinity",
        ] {
            assert!(parse_date(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn timestamps() {
        let base = 20393i64 * 86_400_000_000; // 2025-11-01
        assert_eq!(parse_timestamp("2025-11-01 00:00:00+00", true), Ok(base));
        assert_eq!(
            parse_timestamp("2025-11-01 05:30:00.000001+05:30", true),
            Ok(base + 1)
        );
        assert_eq!(parse_timestamp("2025-11-01T00:00:00Z", true), Ok(base));
        assert_eq!(
            parse_timestamp("2025-11-01 00:00:00-00:00:15", true),
            Ok(base + 15_000_000)
        );
        assert_eq!(
            parse_timestamp("2025-11-01 00:00:00.5+0100", true),
            Ok(base - 3_600_000_000 + 500_000)
        );
        assert_eq!(
            parse_timestamp("2025-11-01 12:00:00.123456", false),
            Ok(base + 43_200_123_456)
        );
        assert_eq!(
            parse_timestamp("2025-11-01 12:00:00.1234560", false),
            Ok(base + 43_200_123_456)
        );
        assert_eq!(
            parse_timestamp("1969-12-31 23:59:59.999999+00", true),
            Ok(-1)
        );
        assert!(parse_timestamp("2025-11-01 12:00:00.1234567", false)
            .unwrap_err()
            .contains("round"));
        assert!(parse_timestamp("2025-11-01 12:00:00", true)
            .unwrap_err()
            .contains("no UTC offset"));
        assert!(parse_timestamp("2025-11-01 12:00:00+00", false).is_err());
        for bad in [
            "2025-11-01",
            "2025-11-01 25:00:00+00",
            "2025-11-01 12:60:00+00",
            "x",
            "2025-11-01 12:00:00+00 ",
        ] {
            assert!(parse_timestamp(bad, true).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("00:00:01.5"), Ok(1_500_000));
        assert_eq!(parse_time("24:00:00"), Ok(86_400_000_000));
        assert!(parse_time("24:00:01").is_err());
    }
}
