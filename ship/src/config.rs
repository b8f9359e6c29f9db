//! Flags turned into validated, plain settings. The only module that sees
//! clap's types: everything after it works on [`Config`] and friends.

use crate::cli::{AbortArgs, Cli, Command as CliCommand, LifecycleArgs, ShipArgs};
use crate::encrypt::Recipients;
use crate::model::{Clobber, Destination, PutOptions, MIN_PART_SIZE};
use anyhow::Result;
use archive_core::retry::Backoff;
use archive_core::s3url::S3Url;
use archive_core::Failure;
use archive_s3::ClientOptions;
use chrono::{DateTime, NaiveDate, Utc};
use std::path::PathBuf;
use std::time::Duration;

/// What to run.
pub enum Command {
    Ship(Box<Config>),
    Lifecycle(LifecycleConfig),
    AbortIncomplete(AbortConfig),
}

/// Where the file lines come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Stdin, or `--input FILE`.
    Lines(Option<PathBuf>),
    /// Folder mode: every regular file under the directory.
    Folder(PathBuf),
    /// `--drain DIR|ZIP`: what an earlier run left in its fallback.
    Drain(PathBuf),
}

/// Where files go when S3 cannot be reached.
#[derive(Debug, Clone)]
pub enum FallbackTo {
    Dir(PathBuf),
    Zip(PathBuf),
}

/// One `ship` run.
pub struct Config {
    pub source: Source,
    /// With folder mode's prefix already added.
    pub dest: Destination,
    pub opts: PutOptions,
    pub recipients: Option<Recipients>,
    pub fallback: Option<FallbackTo>,
    pub jobs: usize,
    pub backoff: Backoff,
    pub client: ClientOptions,
    pub tmp_dir: PathBuf,
    pub dry_run: bool,
    pub summary: Option<PathBuf>,
}

/// `ship lifecycle`.
pub struct LifecycleConfig {
    pub url: S3Url,
    pub transitions: Vec<(u32, String)>,
    pub expire_days: Option<u32>,
    pub noncurrent_expire_days: Option<u32>,
    pub abort_incomplete_days: Option<u32>,
    pub rule_id: Option<String>,
    pub client: ClientOptions,
    pub backoff: Backoff,
    pub dry_run: bool,
    pub summary: Option<PathBuf>,
}

/// `ship abort-incomplete`.
pub struct AbortConfig {
    pub url: S3Url,
    pub apply: bool,
    pub older_than: chrono::Duration,
    pub client: ClientOptions,
    pub backoff: Backoff,
    pub summary: Option<PathBuf>,
}

/// Parse the command line (clap exits 2 on a bad flag) and validate it.
pub fn load() -> Result<Command> {
    let cli = archive_core::cli::parse::<Cli>();
    Ok(match cli.command {
        Some(CliCommand::Lifecycle(l)) => Command::Lifecycle(lifecycle(l)?),
        Some(CliCommand::AbortIncomplete(a)) => Command::AbortIncomplete(abort(a)?),
        None => Command::Ship(Box::new(ship(cli.ship)?)),
    })
}

fn ship(a: ShipArgs) -> Result<Config> {
    let (folder, dest_arg) = match a.targets.as_slice() {
        [d] => (None, d.as_str()),
        [s, d] => (Some(PathBuf::from(s)), d.as_str()),
        _ => return Err(Failure::usage("expected DEST or SRC_DIR DEST")),
    };
    let mut dest = destination(dest_arg)?;
    let opts = put_options(&a)?;
    check_combinations(&a, &dest, &opts, folder.is_some())?;
    let source = match (folder, &a.drain) {
        (Some(dir), _) => {
            if !dir.is_dir() {
                return Err(Failure::usage(format!(
                    "{}: not a directory",
                    dir.display()
                )));
            }
            let name = std::fs::canonicalize(&dir)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "folder".into());
            dest = dest.with_subprefix(&expand_template(&a.prefix_template, Utc::now(), &name));
            Source::Folder(dir)
        }
        (None, Some(d)) if d.is_dir() || d.is_file() => Source::Drain(d.clone()),
        (None, Some(d)) => {
            return Err(Failure::usage(format!(
                "--drain {}: no such directory or ZIP file",
                d.display()
            )))
        }
        (None, None) => Source::Lines(a.input.clone()),
    };
    let recipients = match a.encrypt_to.is_empty() {
        true => None,
        false => Some(Recipients::parse(&a.encrypt_to)?),
    };
    let fallback = match (&a.fallback_dir, &a.fallback_zip) {
        (Some(d), _) => Some(FallbackTo::Dir(d.clone())),
        (None, Some(z)) => Some(FallbackTo::Zip(z.clone())),
        _ => None,
    };
    Ok(Config {
        source,
        dest,
        opts,
        recipients,
        fallback,
        jobs: a.jobs,
        backoff: backoff(a.max_attempts, a.retry_base_ms),
        client: client_options(a.endpoint_url, a.region),
        tmp_dir: a.tmp_dir.unwrap_or_else(std::env::temp_dir),
        dry_run: a.dry_run,
        summary: a.summary,
    })
}

/// `--max-attempts`, `--retry-base-ms`: full jitter, capped at 30 s.
fn backoff(max_attempts: u32, base_ms: u64) -> Backoff {
    Backoff {
        base: Duration::from_millis(base_ms),
        cap: Duration::from_secs(30),
        max_attempts: max_attempts.max(1),
    }
}

fn client_options(endpoint: Option<String>, region: Option<String>) -> ClientOptions {
    ClientOptions {
        endpoint,
        region,
        ..ClientOptions::default()
    }
}

/// `s3://bucket[/prefix]` or a local directory path.
pub fn destination(arg: &str) -> Result<Destination> {
    if S3Url::is_s3(arg) {
        let url = S3Url::parse(arg).map_err(Failure::usage)?;
        if url.bucket.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err(Failure::usage(format!(
                "{arg:?}: bucket name {:?} must not be an IP address",
                url.bucket
            )));
        }
        return Ok(Destination::S3(url));
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

fn s3_url(what: &str, arg: &str) -> Result<S3Url> {
    match destination(arg)? {
        Destination::S3(u) => Ok(u),
        Destination::Local(..) => Err(Failure::usage(format!("{arg}: {what} need an s3:// URL"))),
    }
}

fn put_options(a: &ShipArgs) -> Result<PutOptions> {
    let sse = match a.sse.as_deref() {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("AES256") => Some("AES256".to_string()),
        Some(s) if s.eq_ignore_ascii_case("aws:kms") => Some("aws:kms".to_string()),
        Some(s) => {
            return Err(Failure::usage(format!(
                "--sse {s:?}: expected AES256 or aws:kms"
            )))
        }
    };
    if a.sse_kms_key_id.is_some() && sse.as_deref() != Some("aws:kms") {
        return Err(Failure::usage("--sse-kms-key-id needs --sse aws:kms"));
    }
    let (lock_mode, retain_until) = object_lock(a)?;
    let clobber = match (a.overwrite, a.update) {
        (true, _) => Clobber::Overwrite,
        (false, true) => Clobber::Update,
        _ => Clobber::Refuse,
    };
    if a.part_size < MIN_PART_SIZE {
        return Err(Failure::usage(format!(
            "--part-size {}: S3 needs at least 5MiB",
            a.part_size
        )));
    }
    if a.jobs == 0 || a.part_concurrency == 0 {
        return Err(Failure::usage(
            "--jobs and --part-concurrency must be at least 1",
        ));
    }
    Ok(PutOptions {
        storage_class: a
            .storage_class
            .as_deref()
            .map(|c| storage_class("--storage-class", c, STORAGE_CLASSES))
            .transpose()?,
        manifest_storage_class: storage_class(
            "--manifest-storage-class",
            &a.manifest_storage_class,
            STORAGE_CLASSES,
        )?,
        sse,
        sse_kms_key_id: a.sse_kms_key_id.clone(),
        lock_mode,
        retain_until,
        legal_hold: a.legal_hold,
        clobber,
        part_size: a.part_size,
        part_concurrency: a.part_concurrency,
        multipart_threshold: a.multipart_threshold,
        max_memory: a.max_memory,
    })
}

fn object_lock(a: &ShipArgs) -> Result<(Option<String>, Option<DateTime<Utc>>)> {
    let lock_mode = match a.object_lock_mode.as_deref() {
        None => None,
        Some(m) if m.eq_ignore_ascii_case("GOVERNANCE") => Some("GOVERNANCE".to_string()),
        Some(m) if m.eq_ignore_ascii_case("COMPLIANCE") => Some("COMPLIANCE".to_string()),
        Some(m) => {
            return Err(Failure::usage(format!(
                "--object-lock-mode {m:?}: expected GOVERNANCE or COMPLIANCE"
            )))
        }
    };
    let retain_until = match (&a.retain_until, a.retain_days) {
        (Some(d), _) => Some(parse_date("--retain-until", d)?),
        (None, Some(n)) => Some(Utc::now() + chrono::Duration::days(i64::from(n))),
        (None, None) => None,
    };
    if lock_mode.is_some() != retain_until.is_some() {
        return Err(Failure::usage(
            "--object-lock-mode needs --retain-until or --retain-days, and they need it",
        ));
    }
    if retain_until.is_some_and(|t| t <= Utc::now()) {
        return Err(Failure::usage("--retain-until is in the past"));
    }
    Ok((lock_mode, retain_until))
}

fn check_combinations(
    a: &ShipArgs,
    dest: &Destination,
    opts: &PutOptions,
    folder: bool,
) -> Result<()> {
    let fallback = a.fallback_dir.is_some() || a.fallback_zip.is_some();
    let refuse = |why: &str| Err(Failure::usage(why));
    if !dest.is_s3() && opts.uses_s3_only_features() {
        return refuse(
            "--storage-class, --sse, --object-lock-mode and --legal-hold need an s3:// destination",
        );
    }
    if !dest.is_s3() && fallback {
        return refuse("--fallback-dir/--fallback-zip need an s3:// destination");
    }
    if a.fallback_dir.is_some() && a.fallback_zip.is_some() {
        return refuse("use one of --fallback-dir and --fallback-zip");
    }
    if a.drain.is_some() {
        if folder || a.input.is_some() {
            return refuse("--drain takes only DEST (no SRC_DIR, no --input)");
        }
        if !a.encrypt_to.is_empty() {
            return refuse("--drain uploads files as they are (already encrypted if they were); drop --encrypt-to");
        }
        if !dest.is_s3() {
            return refuse("--drain needs an s3:// destination");
        }
    }
    if folder && a.input.is_some() {
        return refuse("--input and SRC_DIR cannot be combined");
    }
    Ok(())
}

fn lifecycle(a: LifecycleArgs) -> Result<LifecycleConfig> {
    let url = s3_url("lifecycle rules", &a.url)?;
    let mut transitions = Vec::new();
    for t in &a.transition {
        let (days, class) = t.split_once(':').ok_or_else(|| {
            Failure::usage(format!(
                "--transition {t:?}: expected DAYS:CLASS, e.g. 90:GLACIER_IR"
            ))
        })?;
        let days: u32 = days
            .parse()
            .map_err(|_| Failure::usage(format!("--transition {t:?}: DAYS is not a number")))?;
        transitions.push((
            days,
            storage_class("--transition", class, TRANSITION_CLASSES)?,
        ));
    }
    if transitions.is_empty()
        && a.expire_days.is_none()
        && a.noncurrent_expire_days.is_none()
        && a.abort_incomplete_days.is_none()
    {
        return Err(Failure::usage(
            "nothing to apply: give --transition, --expire-days, --noncurrent-expire-days or --abort-incomplete-days",
        ));
    }
    Ok(LifecycleConfig {
        url,
        transitions,
        expire_days: a.expire_days,
        noncurrent_expire_days: a.noncurrent_expire_days,
        abort_incomplete_days: a.abort_incomplete_days,
        rule_id: a.rule_id,
        client: client_options(a.endpoint_url, a.region),
        backoff: backoff(a.max_attempts, a.retry_base_ms),
        dry_run: a.dry_run,
        summary: a.summary,
    })
}

fn abort(a: AbortArgs) -> Result<AbortConfig> {
    let hours = i64::try_from(a.older_than_hours)
        .map_err(|_| Failure::usage("--older-than-hours: too large"))?;
    Ok(AbortConfig {
        url: s3_url("abort-incomplete", &a.url)?,
        apply: a.apply && !a.dry_run,
        older_than: chrono::Duration::hours(hours),
        client: client_options(a.endpoint_url, a.region),
        backoff: backoff(a.max_attempts, a.retry_base_ms),
        summary: a.summary,
    })
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
pub fn storage_class(flag: &str, value: &str, allowed: &[&str]) -> Result<String> {
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

/// `YYYY-MM-DD` (UTC midnight) or an RFC 3339 time.
pub fn parse_date(flag: &str, s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(Failure::usage(format!(
        "{flag} {s:?}: expected YYYY-MM-DD or an RFC 3339 time"
    )))
}

/// Expand folder mode's prefix template at time `now`.
pub fn expand_template(template: &str, now: DateTime<Utc>, name: &str) -> String {
    template
        .replace("{yyyy}", &now.format("%Y").to_string())
        .replace("{mm}", &now.format("%m").to_string())
        .replace("{dd}", &now.format("%d").to_string())
        .replace("{HH}", &now.format("%H").to_string())
        .replace("{MM}", &now.format("%M").to_string())
        .replace("{SS}", &now.format("%S").to_string())
        .replace("{name}", &archive_core::naming::sanitize_segment(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_templates() {
        assert_eq!(
            parse_date("x", "2030-01-02").unwrap().to_rfc3339(),
            "2030-01-02T00:00:00+00:00"
        );
        assert!(parse_date("x", "next tuesday").is_err());
        use chrono::TimeZone;
        let t = Utc.with_ymd_and_hms(2026, 11, 23, 2, 5, 9).unwrap();
        assert_eq!(
            expand_template("{yyyy}{mm}{dd}_{HH}{MM}{SS}_{name}/", t, "review docs"),
            format!(
                "20261123_020509_{}/",
                archive_core::naming::sanitize_segment("review docs")
            )
        );
    }

    #[test]
    fn parses_destinations() {
        match destination("s3://bkt/a/b/").unwrap() {
            Destination::S3(u) => {
                assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("bkt", "a/b"))
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            "s3:///x",
            "s3://Not_A_Bucket!/x",
            "s3://ab/x",
            "s3://-abc/x",
            "s3://a..b/x",
            "s3://10.0.0.1/x",
            "s3://bkt/../x",
            "gs://b",
            "",
        ] {
            let err = destination(bad).unwrap_err();
            assert_eq!(archive_core::exit::exit_code(&err), 2, "{bad}");
        }
        assert_eq!(
            destination("out").unwrap(),
            Destination::Local("out".into(), String::new())
        );
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
