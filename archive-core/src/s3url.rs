//! `s3://bucket/prefix` URLs and key joins, one parser for every tool.
//!
//! A prefix is kept without leading or trailing `/`, so joining never makes
//! `a//b` and `s3://b/p/` equals `s3://b/p`.

use std::fmt;
use std::str::FromStr;

/// A bucket and a key prefix (possibly empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Url {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
}

impl S3Url {
    /// Parse `s3://bucket[/prefix]`. The bucket must follow S3's naming
    /// rules (3–63 characters of lowercase letters, digits, `.` and `-`,
    /// starting and ending with a letter or digit, not an IP address).
    pub fn parse(url: &str) -> Result<S3Url, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{url:?}: expected s3://bucket/prefix"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(bucket).map_err(|why| format!("{url:?}: bucket {bucket:?} {why}"))?;
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|seg| seg == ".." || seg == ".") {
            return Err(format!("{url:?}: the prefix may not hold . or .. segments"));
        }
        if prefix.contains("//") {
            return Err(format!(
                "{url:?}: the prefix may not hold an empty segment (//)"
            ));
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// True when `s` looks like an S3 URL (so a caller can choose between a
    /// local path and S3 before parsing).
    pub fn is_s3(s: &str) -> bool {
        s.starts_with("s3://")
    }

    /// The object key for `rel` (a relative POSIX path) under this prefix.
    pub fn key(&self, rel: &str) -> String {
        join_key(&self.prefix, rel)
    }

    /// The URL one level down: `s3://b/p` + `x/y` → `s3://b/p/x/y`.
    pub fn join(&self, rel: &str) -> S3Url {
        S3Url {
            bucket: self.bucket.clone(),
            prefix: join_key(&self.prefix, rel).trim_matches('/').to_string(),
        }
    }

    /// The prefix as S3 listings want it: empty, or ending in `/`.
    pub fn list_prefix(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }

    /// The part of `key` below this prefix, or None when it is not below it.
    pub fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        if self.prefix.is_empty() {
            return Some(key);
        }
        key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
    }

    /// `s3://bucket/key` for a key of this bucket.
    pub fn object_url(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, key)
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

impl FromStr for S3Url {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        S3Url::parse(s)
    }
}

/// Join a key prefix and a relative path with exactly one `/` between them.
pub fn join_key(prefix: &str, rel: &str) -> String {
    let p = prefix.trim_end_matches('/');
    let r = rel.trim_start_matches('/');
    match (p.is_empty(), r.is_empty()) {
        (true, _) => r.to_string(),
        (false, true) => p.to_string(),
        (false, false) => format!("{p}/{r}"),
    }
}

fn check_bucket(b: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&b.len()) {
        return Err("must be 3 to 63 characters long");
    }
    if !b
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
    {
        return Err("may hold only lowercase letters, digits, '.' and '-'");
    }
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !edge(b.as_bytes()[0]) || !edge(b.as_bytes()[b.len() - 1]) {
        return Err("must start and end with a letter or digit");
    }
    if b.contains("..") {
        return Err("may not hold two dots in a row");
    }
    if b.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("may not be an IP address");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_joins() {
        let u = S3Url::parse("s3://my-bucket/a/b/").unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("my-bucket", "a/b"));
        assert_eq!(u.key("x/y.json"), "a/b/x/y.json");
        assert_eq!(u.to_string(), "s3://my-bucket/a/b");
        assert_eq!(u.list_prefix(), "a/b/");
        assert_eq!(u.relative("a/b/x"), Some("x"));
        assert_eq!(u.relative("a/bc/x"), None);
        assert_eq!(u.join("c").key("d"), "a/b/c/d");
        let root = S3Url::parse("s3://bkt").unwrap();
        assert_eq!((root.prefix.as_str(), root.key("k")), ("", "k".to_string()));
        assert_eq!(root.list_prefix(), "");
        assert_eq!(join_key("p/", "/q"), "p/q");
        assert_eq!(join_key("", "q"), "q");
    }

    #[test]
    fn refuses_bad_urls() {
        for bad in [
            "bucket/x",
            "s3://",
            "s3://ab",
            "s3://Upper/x",
            "s3://-dash",
            "s3://a..b",
            "s3://bkt/../x",
            "s3://bkt/a//b",
            "s3://192.168.1.1/x",
        ] {
            assert!(S3Url::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
