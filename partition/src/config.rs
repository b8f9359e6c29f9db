//! The run's settings, checked once: flags become a [`Config`] or a usage
//! error (exit 2) before any input is read. The only module that sees the
//! command line's types.

use crate::cli::{Args, CompressArg, FormatArg, LayoutKind, Preset, TimeUnitArg};
use crate::model::{Compression, Config, FieldPath, Format, Metadata, Rewrite, TimeUnit, UserRule};
use crate::render;
use anyhow::Result;
use archive_core::Failure;
use std::path::PathBuf;

/// The smallest `--memory`: below it the arena could not hold a record.
const MIN_MEMORY: u64 = 1_000_000;

/// Which fields route a record, and the names of its files.
struct Fields {
    user: UserRule,
    time: FieldPath,
    time_fallback: Option<FieldPath>,
    id: FieldPath,
    version: Option<FieldPath>,
    /// `conversations`, `events` or `audit`: the stem of file names.
    name: &'static str,
    wrapper_names: (&'static str, &'static str),
}

/// Where files go and what they hold.
struct Layout {
    template: String,
    format: Format,
    daily_summaries: bool,
}

/// What the run summary needs even when the flags are wrong, and the
/// settings (or why the flags are wrong).
pub struct Invocation {
    pub summary: Option<PathBuf>,
    pub dry_run: bool,
    /// The input's and `--out`'s names, as the summary shows them.
    pub input_label: String,
    pub out_label: String,
    pub config: Result<Config>,
}

pub fn read(a: Args) -> Invocation {
    Invocation {
        summary: a.summary.clone(),
        dry_run: a.dry_run,
        input_label: archive_core::io::input_name(a.input.as_deref()),
        out_label: a.out.to_string_lossy().into_owned(),
        config: from_args(a),
    }
}

fn from_args(a: Args) -> Result<Config> {
    let preset = preset_of(&a)?;
    let fields = fields_of(&a, preset)?;
    let layout = layout_of(&a, preset, fields.name)?;
    let tz: chrono_tz::Tz =
        a.tz.parse()
            .map_err(|_| Failure::usage(format!("--tz {:?}: not an IANA time zone", a.tz)))?;
    let memory = size_flag("--memory", &a.memory)?;
    if memory < MIN_MEMORY {
        return Err(Failure::usage("--memory must be at least 1MB"));
    }
    let ai_audit = preset == Some(Preset::AiAudit);
    let rotate_size = match (a.rotate_size.as_deref(), ai_audit) {
        (Some(s), _) => Some(size_flag("--rotate-size", s)?),
        (None, true) => Some(AI_AUDIT_ROTATE),
        (None, false) => None,
    };
    if rotate_size == Some(0) {
        return Err(Failure::usage("--rotate-size must be more than 0"));
    }
    if a.max_open_files < 2 {
        return Err(Failure::usage("--max-open-files must be at least 2"));
    }
    check_input(a.input.as_deref())?;
    let spill_base = match (&a.spill_dir, a.dry_run) {
        (Some(d), _) => d.clone(),
        (None, true) => std::env::temp_dir(),
        (None, false) => a.out.clone(),
    };
    let rewrite = rewrite_of(&a, preset)?;
    Ok(Config {
        root_label: a.out.to_string_lossy().into_owned(),
        keep_first: ai_audit || !rewrite.encrypt.is_empty(),
        rewrite,
        metadata: metadata_of(&a)?,
        out: a.out,
        user: fields.user,
        time: fields.time,
        time_fallback: fields.time_fallback,
        id: fields.id,
        version: fields.version,
        template: layout.template,
        format: layout.format,
        compress: a.compression.map(compression),
        assemble: preset == Some(Preset::LogConversations),
        first_part_bare: ai_audit,
        daily_summaries: layout.daily_summaries,
        wrapper_names: fields.wrapper_names,
        tz,
        memory,
        rotate_size,
        strict: a.strict,
        dry_run: a.dry_run,
        spill_base,
        max_open_files: a.max_open_files,
        write_threads: a.write_threads.max(1),
        threads: a
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1),
        time_unit: time_unit(a.time_unit),
        input: a.input,
    })
}

/// ai-audit's default `--rotate-size`: 100 MB.
const AI_AUDIT_ROTATE: u64 = 100_000_000;

/// The default `lambda_function` of seed metadata: this tool and version.
pub const LAMBDA_FUNCTION: &str = concat!("partition ", env!("CARGO_PKG_VERSION"));

/// A named input file must exist (exit 2, like every tool here); `-` is
/// stdin.
fn check_input(input: Option<&std::path::Path>) -> Result<()> {
    match input.filter(|p| p.as_os_str() != "-") {
        Some(p) => match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => Err(Failure::usage(format!(
                "input {}: is a directory",
                p.display()
            ))),
            Ok(_) => Ok(()),
            Err(e) => Err(Failure::usage(format!("input {}: {e}", p.display()))),
        },
        None => Ok(()),
    }
}

/// A size flag by archive-core's one rule (KB = 1000, KiB = 1024).
fn size_flag(flag: &str, value: &str) -> Result<u64> {
    archive_core::size::parse_size(value).map_err(|e| Failure::usage(format!("{flag} {e}")))
}

/// The preset, or None when both fields are named instead.
fn preset_of(a: &Args) -> Result<Option<Preset>> {
    match (a.preset, &a.user_field, &a.time_field) {
        (Some(p), _, _) => Ok(Some(p)),
        (None, Some(_), Some(_)) => Ok(None),
        (None, None, None) => Ok(Some(Preset::Conversations)),
        _ => Err(Failure::usage(
            "give --preset, or both --user-field and --time-field",
        )),
    }
}

/// The preset's fields, with those named on the command line instead.
fn fields_of(a: &Args, preset: Option<Preset>) -> Result<Fields> {
    let path =
        |flag: &Option<String>, default: &str| FieldPath::parse(flag.as_deref().unwrap_or(default));
    let user = match (&a.user_field, preset) {
        (Some(f), _) => UserRule::Path(FieldPath::parse(f)?),
        (None, Some(Preset::LogEvents | Preset::LogConversations)) => {
            UserRule::Path(FieldPath::parse("actor.user_id")?)
        }
        (None, Some(Preset::AuditLogs)) => UserRule::AuditActor,
        (None, Some(Preset::AiAudit)) => UserRule::Fixed("ai-audit"),
        (None, _) => UserRule::Path(FieldPath::parse("user_id")?),
    };
    let time = path(
        &a.time_field,
        match preset {
            Some(Preset::Conversations) | None => "created_at",
            Some(Preset::LogEvents | Preset::AiAudit) => "timestamp",
            Some(Preset::LogConversations) => "message.created_at",
            Some(Preset::AuditLogs) => "effective_at",
        },
    )?;
    // A message without its own time is filed by its event's.
    let time_fallback = match (&a.time_field, preset) {
        (None, Some(Preset::LogConversations)) => Some(FieldPath::parse("timestamp")?),
        _ => None,
    };
    let id = path(
        &a.id_field,
        match preset {
            Some(Preset::LogEvents) => "event_id",
            Some(Preset::LogConversations) => "message.id",
            _ => "id",
        },
    )?;
    let version = match (&a.version_field, preset) {
        (Some(v), _) => Some(FieldPath::parse(v)?),
        (None, Some(Preset::Conversations)) => Some(FieldPath::parse("last_active_at")?),
        _ => None,
    };
    Ok(Fields {
        user,
        time,
        time_fallback,
        id,
        version,
        name: match preset {
            Some(Preset::Conversations | Preset::LogConversations) | None => "conversations",
            Some(Preset::LogEvents) => "events",
            Some(Preset::AuditLogs | Preset::AiAudit) => "audit",
        },
        wrapper_names: match preset {
            Some(Preset::Conversations | Preset::LogConversations) => {
                ("conversations", "conversation_count")
            }
            _ => ("records", "record_count"),
        },
    })
}

/// The layout a preset gets without `--layout`: AI-audit entries go to
/// daily JSONL files, the rest to seed (log-events has none: see below).
fn default_layout(preset: Option<Preset>) -> LayoutKind {
    match preset {
        Some(Preset::AiAudit) => LayoutKind::DailyJsonl,
        _ => LayoutKind::Seed,
    }
}

/// The path template and file format of `--layout` / `--path` / `--format`.
fn layout_of(a: &Args, preset: Option<Preset>, name: &str) -> Result<Layout> {
    let kind = match (a.layout, &a.path_template) {
        (Some(LayoutKind::Template), None) => {
            return Err(Failure::usage("--layout template needs --path TEMPLATE"))
        }
        (Some(l), Some(_)) if l != LayoutKind::Template => {
            return Err(Failure::usage(
                "--path is only for --layout template (or give --path alone)",
            ))
        }
        (None, Some(_)) => LayoutKind::Template,
        (Some(l), _) => l,
        (None, None) => default_layout(preset),
    };
    // Raw events in the seed layout got conversation summaries that do not
    // fit them; refused (also as the former default) rather than moved to
    // another layout without a word.
    if kind == LayoutKind::Seed && preset == Some(Preset::LogEvents) {
        return Err(Failure::usage(format!(
            "--preset log-events {}: the seed layout is for conversations; for \
             CONVERSATION_MESSAGE events use --preset log-conversations, for raw events \
             --layout hive (or daily-jsonl, template)",
            if a.layout.is_some() {
                "--layout seed"
            } else {
                "needs --layout"
            }
        )));
    }
    let (template, default_format) = match kind {
        LayoutKind::Seed => (
            format!("{{user}}/{{yyyy}}/{{mm}}/{{dd}}/{name}.json"),
            Format::Json,
        ),
        LayoutKind::Hive => (
            format!("archive_user={{user}}/archive_date={{date}}/{name}.ndjson"),
            Format::Ndjson,
        ),
        LayoutKind::DailyJsonl => (format!("{name}_{{yyyymmdd}}.jsonl"), Format::Ndjson),
        LayoutKind::Template => {
            let t = a.path_template.clone().unwrap_or_default();
            let f = if t.ends_with(".json") {
                Format::Json
            } else {
                Format::Ndjson
            };
            (t, f)
        }
    };
    render::check_template(&template)?;
    if preset == Some(Preset::AiAudit) && render::has_user(&template) {
        return Err(Failure::usage(
            "--preset ai-audit entries have no user: use a layout without {user} (daily-jsonl)",
        ));
    }
    let format = a.format.map_or(default_format, |f| match f {
        FormatArg::Json => Format::Json,
        FormatArg::Ndjson => Format::Ndjson,
    });
    if kind == LayoutKind::DailyJsonl && format == Format::Json {
        return Err(Failure::usage("--layout daily-jsonl writes ndjson only"));
    }
    Ok(Layout {
        template,
        format,
        daily_summaries: kind == LayoutKind::Seed,
    })
}

/// How records are rewritten: `--hash-only`, ai-audit's hashes, and
/// `--encrypt-field` to `--encrypt-to`.
fn rewrite_of(a: &Args, preset: Option<Preset>) -> Result<Rewrite> {
    let encrypt = a
        .encrypt_field
        .iter()
        .map(|f| FieldPath::parse(f))
        .collect::<Result<Vec<_>>>()?;
    let recipients = a
        .encrypt_to
        .iter()
        .map(|k| {
            k.trim().parse::<age::x25519::Recipient>().map_err(|e| {
                Failure::usage(format!("--encrypt-to {k:?}: not an age recipient: {e}"))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    match (encrypt.is_empty(), recipients.is_empty()) {
        (false, true) => return Err(Failure::usage("--encrypt-field needs --encrypt-to age1…")),
        (true, false) => return Err(Failure::usage("--encrypt-to needs --encrypt-field FIELD")),
        _ => {}
    }
    // The fingerprint names the key set, whatever order it was given in.
    let mut keys: Vec<String> = recipients.iter().map(|r| r.to_string()).collect();
    keys.sort();
    keys.dedup();
    let key_id = archive_core::hash::sha256_hex(keys.join("\n").as_bytes())[..16].to_owned();
    Ok(Rewrite {
        hash_only: hash_only_of(&a.hash_only, preset)?,
        ai_audit: preset == Some(Preset::AiAudit),
        encrypt,
        recipients,
        key_id,
    })
}

/// The seed metadata: the timestamp key, `lambda_function` by default,
/// then `--metadata` pairs (a pair whose key is already there replaces it).
fn metadata_of(a: &Args) -> Result<Metadata> {
    let key_ok = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if !key_ok(&a.timestamp_key) {
        return Err(Failure::usage(format!(
            "--timestamp-key {:?}: expected letters, digits, _ - .",
            a.timestamp_key
        )));
    }
    let mut pairs = vec![("lambda_function".to_owned(), LAMBDA_FUNCTION.to_owned())];
    let given = a.metadata.iter().flat_map(|m| split_pairs(m));
    let source = a.source.iter().map(|s| format!("source={s}"));
    for item in given.chain(source) {
        let Some((k, v)) = item.split_once('=').filter(|(k, _)| key_ok(k)) else {
            return Err(Failure::usage(format!(
                "--metadata {item:?}: expected KEY=VALUE (KEY of letters, digits, _ - .)"
            )));
        };
        if k == a.timestamp_key {
            return Err(Failure::usage(format!(
                "--metadata {k}: that key holds the run's timestamp (see --timestamp-key)"
            )));
        }
        match pairs.iter_mut().find(|(pk, _)| pk == k) {
            Some(p) => p.1 = v.to_owned(),
            None => pairs.push((k.to_owned(), v.to_owned())),
        }
    }
    Ok(Metadata {
        timestamp_key: a.timestamp_key.clone(),
        pairs,
    })
}

/// `a=1,b=x,y` → `a=1`, `b=x,y`: a comma starts a new pair only where a
/// `KEY=` follows, so values may hold commas.
fn split_pairs(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for piece in s.split(',') {
        let starts_pair = piece.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        });
        match out.last_mut() {
            Some(last) if !starts_pair => {
                last.push(',');
                last.push_str(piece);
            }
            _ => out.push(piece.to_owned()),
        }
    }
    out
}

/// `--hash-only` fields, with `@content` resolved for the preset.
fn hash_only_of(flags: &[String], preset: Option<Preset>) -> Result<Vec<FieldPath>> {
    flags
        .iter()
        .map(|f| match (f.as_str(), preset) {
            ("@content", Some(Preset::Conversations)) => FieldPath::parse("messages.data.content.value"),
            ("@content", Some(Preset::LogEvents | Preset::LogConversations)) => {
                FieldPath::parse("message.content.value")
            }
            ("@content", _) => Err(Failure::usage(
                "--hash-only @content is defined for the conversations, log-events and log-conversations presets; name the fields",
            )),
            (f, _) => FieldPath::parse(f),
        })
        .collect()
}

fn compression(c: CompressArg) -> Compression {
    match c {
        CompressArg::Gzip => Compression::Gzip,
        CompressArg::Zstd => Compression::Zstd,
    }
}

fn time_unit(u: TimeUnitArg) -> TimeUnit {
    match u {
        TimeUnitArg::Auto => TimeUnit::Auto,
        TimeUnitArg::S => TimeUnit::S,
        TimeUnitArg::Ms => TimeUnit::Ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(flags: &[&str]) -> Result<Config> {
        let mut argv = vec!["partition", "--out", "o"];
        argv.extend_from_slice(flags);
        from_args(Args::parse_from(argv))
    }

    #[test]
    fn sizes_follow_the_one_rule() {
        assert_eq!(config(&[]).unwrap().memory, 256_000_000);
        assert_eq!(config(&["--memory", "256MiB"]).unwrap().memory, 256 << 20);
        let c = config(&["--rotate-size", "1.5KB"]).unwrap();
        assert_eq!(c.rotate_size, Some(1500));
        let e = config(&["--memory", "256M"]).err().unwrap();
        assert_eq!(archive_core::exit::exit_code(&e), 2);
        assert!(format!("{e:#}").contains("--memory"), "{e:#}");
        assert!(config(&["--memory", "999KB"]).is_err());
        assert!(config(&["--rotate-size", "0"]).is_err());
    }

    #[test]
    fn presets_and_layouts() {
        let c = config(&["--preset", "audit-logs", "--layout", "daily-jsonl"]).unwrap();
        assert_eq!(c.template, "audit_{yyyymmdd}.jsonl");
        assert!(matches!(c.user, UserRule::AuditActor));
        assert!(config(&["--user-field", "a"]).is_err());
        assert!(config(&["--layout", "daily-jsonl", "--format", "json"]).is_err());
        assert!(config(&["--preset", "audit-logs", "--hash-only", "@content"]).is_err());
        let c = config(&["--path", "{user}/x.json"]).unwrap();
        assert_eq!((c.format, c.daily_summaries), (Format::Json, false));
    }

    #[test]
    fn new_presets_and_their_defaults() {
        let e = config(&["--preset", "log-events", "--layout", "seed"])
            .err()
            .unwrap();
        assert_eq!(archive_core::exit::exit_code(&e), 2);
        assert!(format!("{e:#}").contains("log-conversations"));
        assert!(config(&["--preset", "log-events"]).is_err());
        let c = config(&["--preset", "log-events", "--layout", "hive"]).unwrap();
        assert!(c.template.starts_with("archive_user="));
        let c = config(&["--preset", "log-conversations"]).unwrap();
        assert!(c.assemble && c.daily_summaries && c.template.ends_with("conversations.json"));
        assert_eq!(
            (c.id.text.as_str(), c.time.text.as_str()),
            ("message.id", "message.created_at")
        );
        let c = config(&["--preset", "ai-audit"]).unwrap();
        assert_eq!(c.template, "audit_{yyyymmdd}.jsonl");
        assert_eq!(c.rotate_size, Some(100_000_000));
        assert!(c.first_part_bare && c.keep_first && c.rewrite.ai_audit);
        assert!(config(&["--preset", "ai-audit", "--layout", "hive"]).is_err());
    }

    #[test]
    fn metadata_pairs_split_at_commas_before_a_key() {
        assert_eq!(split_pairs("a=1,b=x,y"), ["a=1", "b=x,y"]);
        assert_eq!(split_pairs("a=1"), ["a=1"]);
        let c = config(&["--metadata", "a=1,lambda_function=f", "--source", "s"]).unwrap();
        let keys: Vec<(&str, &str)> = c
            .metadata
            .pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            keys,
            [("lambda_function", "f"), ("a", "1"), ("source", "s")]
        );
        assert!(config(&["--metadata", "backup_timestamp=x"]).is_err());
        assert!(config(&["--timestamp-key", "a b"]).is_err());
    }
}
