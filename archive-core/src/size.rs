//! One rule for sizes in every flag of every tool: KB/MB/GB/TB are powers of
//! 1000, KiB/MiB/GiB/TiB powers of 1024 (as IEC 80000-13 and `dd`/`numfmt`
//! read them), a bare number is bytes. A bare `K`/`M`/`G` is refused: the
//! two readings differ by 7 % at GB, which is too much to guess.

/// For `--help` texts of flags that take a size.
pub const SIZE_HELP: &str =
    "Sizes: a number of bytes, or with a unit: KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024); 1.5GB is allowed.";

/// `128MB` → 128,000,000; `128MiB` → 134,217,728; `4096` → 4,096;
/// `1.5GiB` → 1,610,612,736. Units are case-insensitive (`mb`, `mib`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!("{s:?}: expected a size such as 64MiB or 1GB"));
    }
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "k" | "m" | "g" | "t" => {
            return Err(format!(
                "{s:?}: say {u}B (powers of 1000) or {u}iB (powers of 1024)",
                u = unit.trim().to_ascii_uppercase()
            ))
        }
        other => {
            return Err(format!(
                "{s:?}: unknown unit {other:?} (use KB, MB, GB, TB, KiB, MiB, GiB or TiB)"
            ))
        }
    };
    let bytes = if num.contains('.') {
        let n: f64 = num
            .parse()
            .map_err(|_| format!("{s:?}: {num:?} is not a number"))?;
        let v = n * mult as f64;
        if !v.is_finite() || v >= u64::MAX as f64 {
            return Err(format!("{s:?}: too large"));
        }
        v.round() as u64
    } else {
        let n: u64 = num.parse().map_err(|_| format!("{s:?}: too large"))?;
        n.checked_mul(mult)
            .ok_or_else(|| format!("{s:?}: too large"))?
    };
    Ok(bytes)
}

/// A positive size (for buffers, parts and budgets, where 0 means nothing).
pub fn parse_positive_size(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        0 => Err(format!("{s:?}: must be at least 1 byte")),
        n => Ok(n),
    }
}

/// Bytes for people: `1.5 GiB`, `12.0 MiB`, `999 B`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_binary_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("256MB"), Ok(256_000_000));
        assert_eq!(parse_size("256MiB"), Ok(268_435_456));
        assert_eq!(parse_size("16mb"), Ok(16_000_000));
        assert_eq!(parse_size(" 1GiB "), Ok(1 << 30));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_positive_size("0").is_err());
    }

    #[test]
    fn ambiguous_and_bad_sizes_are_refused() {
        assert!(parse_size("64M").unwrap_err().contains("MB"));
        assert!(parse_size("MB").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("20000000TB").is_err());
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_size(999), "999 B");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(3 << 30), "3.0 GiB");
    }
}
