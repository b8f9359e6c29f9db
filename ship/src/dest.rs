//! Where objects go: an S3 bucket and prefix, or a local directory with the
//! same key layout. Keys are always `prefix/path`, so a re-run maps the
//! same file line to the same key.

use archive_core::Failure;
use std::path::PathBuf;

/// A parsed destination argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    S3 {
        bucket: String,
        prefix: String,
    },
    /// A directory and a key prefix under it (folder mode's timestamped one).
    Local(PathBuf, String),
}

/// S3's bucket naming rules (3-63 characters of lowercase letters, digits,
/// dots and hyphens, starting and ending with a letter or digit, not an IP
/// address), checked before any request so a typo is a configuration error
/// rather than a run of retries.
fn check_bucket_name(bucket: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&bucket.len()) {
        return Err("must be 3 to 63 characters long");
    }
    if !bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err("may hold only lowercase letters, digits, '.' and '-'");
    }
    let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !edge_ok(bucket.as_bytes()[0]) || !edge_ok(bucket.as_bytes()[bucket.len() - 1]) {
        return Err("must start and end with a letter or digit");
    }
    if bucket.contains("..") {
        return Err("must not contain '..'");
    }
    if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("must not be an IP address");
    }
    Ok(())
}

impl Destination {
    /// `s3://bucket[/prefix]` or a local directory path.
    pub fn parse(arg: &str) -> anyhow::Result<Destination> {
        if let Some(rest) = arg.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Failure::usage(format!("{arg:?}: missing bucket name")));
            }
            check_bucket_name(bucket)
                .map_err(|why| Failure::usage(format!("{arg:?}: bucket name {bucket:?} {why}")))?;
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|s| s == "." || s == "..") {
                return Err(Failure::usage(format!(
                    "{arg:?}: prefix must not contain '.' or '..' segments"
                )));
            }
            return Ok(Destination::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        if arg.contains("://") {
            return Err(Failure::usage(format!(
                "{arg:?}: only s3:// URLs and local directories are supported"
            )));
        }
        if arg.is_empty() {
            return Err(Failure::usage("empty destination"));
        }
        Ok(Destination::Local(PathBuf::from(arg), String::new()))
    }

    pub fn is_s3(&self) -> bool {
        matches!(self, Destination::S3 { .. })
    }

    /// The prefix keys start with.
    pub fn prefix(&self) -> &str {
        match self {
            Destination::S3 { prefix, .. } | Destination::Local(_, prefix) => prefix,
        }
    }

    /// The same destination with `extra` appended to its prefix (folder
    /// mode's timestamped prefix).
    pub fn with_subprefix(&self, extra: &str) -> Destination {
        let extra = extra.trim_matches('/');
        if extra.is_empty() {
            return self.clone();
        }
        match self {
            Destination::S3 { bucket, prefix } => Destination::S3 {
                bucket: bucket.clone(),
                prefix: join_key(prefix, extra),
            },
            Destination::Local(dir, prefix) => {
                Destination::Local(dir.clone(), join_key(prefix, extra))
            }
        }
    }

    /// The URL of an object under this destination.
    pub fn url(&self, key: &str) -> String {
        match self {
            Destination::S3 { bucket, .. } => format!("s3://{bucket}/{key}"),
            Destination::Local(dir, _) => {
                let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                format!("file://{}", abs.join(key).display())
            }
        }
    }
}

/// `prefix/rel`, without a leading or doubled slash.
pub fn join_key(prefix: &str, rel: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        rel.to_string()
    } else {
        format!("{prefix}/{rel}")
    }
}

/// Every storage class S3 accepts on PutObject.
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
    "EXPRESS_ONEZONE",
];

/// Classes a lifecycle rule may transition objects to.
pub const TRANSITION_CLASSES: &[&str] = &[
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
];

/// Check a storage class name (case-insensitive) and return it upper-case.
pub fn storage_class(flag: &str, value: &str, allowed: &[&str]) -> anyhow::Result<String> {
    let upper = value.to_ascii_uppercase();
    if allowed.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(Failure::usage(format!(
            "{flag} {value:?}: not a storage class; expected one of {}",
            allowed.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_destinations() {
        assert_eq!(
            Destination::parse("s3://bkt/a/b/").unwrap(),
            Destination::S3 {
                bucket: "bkt".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(Destination::parse("s3://bkt").unwrap().prefix(), "");
        assert!(Destination::parse("s3:///x").is_err());
        for bad in [
            "s3://Not_A_Bucket!/x",
            "s3://ab/x",
            "s3://-abc/x",
            "s3://a..b/x",
            "s3://10.0.0.1/x",
        ] {
            let err = Destination::parse(bad).unwrap_err();
            assert_eq!(archive_core::exit::exit_code(&err), 2, "{bad}");
        }
        assert!(Destination::parse("s3://my-archive.example-1/x").is_ok());
        assert!(Destination::parse("s3://bkt/../x").is_err());
        assert!(Destination::parse("gs://b").is_err());
        assert_eq!(
            Destination::parse("out").unwrap(),
            Destination::Local("out".into(), String::new())
        );
        assert_eq!(join_key("", "a/b"), "a/b");
        assert_eq!(join_key("p/", "a"), "p/a");
        let d = Destination::parse("s3://bkt/p")
            .unwrap()
            .with_subprefix("x/");
        assert_eq!(d.prefix(), "p/x");
    }

    #[test]
    fn storage_classes_validated() {
        assert_eq!(
            storage_class("--storage-class", "glacier_ir", STORAGE_CLASSES).unwrap(),
            "GLACIER_IR"
        );
        let e = storage_class("--storage-class", "COLD", STORAGE_CLASSES).unwrap_err();
        assert_eq!(archive_core::exit::exit_code(&e), 2);
        assert!(format!("{e}").contains("DEEP_ARCHIVE"));
    }
}
