//! `--since` / `--until` values. Users paste whatever they have at hand, so
//! four forms are accepted: RFC 3339 (`2025-07-02T10:00:00Z`), a date
//! (`2025-07-02`, UTC midnight), Unix seconds (`1751414400`, fractions
//! allowed) and a span back from now (`7d`, `12h`, `30m`, `90s`, `2w`).

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};

/// Parse one of the accepted forms; `now` anchors the relative ones.
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty time".into());
    }
    if s == "now" {
        return Ok(now);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists")));
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') && s.bytes().any(|b| b.is_ascii_digit()) {
        let secs: f64 = s.parse().map_err(|_| format!("{s:?}: not a number"))?;
        return from_unix(secs).ok_or_else(|| format!("{s:?}: Unix seconds out of range"));
    }
    if let Some(span) = relative_seconds(s) {
        return Ok(now - chrono::Duration::seconds(span));
    }
    Err(format!(
        "{s:?}: expected RFC 3339 (2025-07-02T10:00:00Z), a date (2025-07-02), \
         Unix seconds (1751414400) or a span back from now (7d, 12h, 30m, 90s, 2w)"
    ))
}

/// `7d` → 604800. Units: s, m, h, d, w.
fn relative_seconds(s: &str) -> Option<i64> {
    let (num, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(mult).filter(|v| *v >= 0)
}

/// A Unix timestamp in (possibly fractional) seconds as a UTC time.
pub fn from_unix(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() {
        return None;
    }
    let whole = secs.floor();
    let nanos = ((secs - whole) * 1e9).round().min(999_999_999.0) as u32;
    Utc.timestamp_opt(whole as i64, nanos).single()
}

/// Seconds since the epoch with the fraction, as the Compliance API writes times.
pub fn to_unix(t: DateTime<Utc>) -> f64 {
    t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6
}

/// RFC 3339 UTC with microseconds when there are any (`2025-07-02T00:00:00Z`).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
    }

    #[test]
    fn every_form() {
        let t = |s: &str| parse_time(s, now()).map(rfc3339);
        assert_eq!(t("2025-07-02").unwrap(), "2025-07-02T00:00:00Z");
        assert_eq!(
            t("2025-07-02T10:30:00+02:00").unwrap(),
            "2025-07-02T08:30:00Z"
        );
        assert_eq!(
            t("2025-07-02T10:30:00.25Z").unwrap(),
            "2025-07-02T10:30:00.250Z"
        );
        assert_eq!(t("1751414400").unwrap(), "2025-07-02T00:00:00Z");
        assert_eq!(t("1751414400.5").unwrap(), "2025-07-02T00:00:00.500Z");
        assert_eq!(t("7d").unwrap(), "2026-11-16T12:00:00Z");
        assert_eq!(t("12h").unwrap(), "2026-11-23T00:00:00Z");
        assert_eq!(t("30m").unwrap(), "2026-11-23T11:30:00Z");
        assert_eq!(t("90s").unwrap(), "2026-11-23T11:58:30Z");
        assert_eq!(t("2w").unwrap(), "2026-11-09T12:00:00Z");
        assert_eq!(t("now").unwrap(), "2026-11-23T12:00:00Z");
    }

    #[test]
    fn bad_forms_say_what_is_accepted() {
        for bad in ["", "yesterday", "7x", "-3d", "2025-13-01", "d", "1.2.3"] {
            let e = parse_time(bad, now()).unwrap_err();
            assert!(!e.is_empty(), "{bad:?}");
        }
        assert!(parse_time("soon", now()).unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn unix_round_trip() {
        let t = from_unix(1760231119.916074).unwrap();
        assert!((to_unix(t) - 1760231119.916074).abs() < 1e-6);
    }
}
