//! The run's settings, checked once: flags become a [`Config`] or a usage
//! error (exit 2) before any input is read. The only module that sees the
//! command line's types.

use crate::cli::{Args, CompressArg, FormatArg, LayoutKind, Preset, TimeUnitArg};
use crate::model::{Compression, Config, FieldPath, Format, TimeUnit, UserRule};
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
    let layout = layout_of(&a, fields.name)?;
    let tz: chrono_tz::Tz =
        a.tz.parse()
            .map_err(|_| Failure::usage(format!("--tz {:?}: not an IANA time zone", a.tz)))?;
    let memory = size_flag("--memory", &a.memory)?;
    if memory < MIN_MEMORY {
        return Err(Failure::usage("--memory must be at least 1MB"));
    }
    let rotate_size = match a.rotate_size.as_deref() {
        Some(s) => Some(size_flag("--rotate-size", s)?),
        None => None,
    };
    if rotate_size == Some(0) {
        return Err(Failure::usage("--rotate-size must be more than 0"));
    }
    if a.max_open_files < 2 {
        return Err(Failure::usage("--max-open-files must be at least 2"));
    }
    let spill_base = match (&a.spill_dir, a.dry_run) {
        (Some(d), _) => d.clone(),
        (None, true) => std::env::temp_dir(),
        (None, false) => a.out.clone(),
    };
    Ok(Config {
        root_label: a.out.to_string_lossy().into_owned(),
        hash_only: hash_only_of(&a.hash_only, preset)?,
        out: a.out,
        user: fields.user,
        time: fields.time,
        id: fields.id,
        version: fields.version,
        template: layout.template,
        format: layout.format,
        compress: a.compress.map(compression),
        daily_summaries: layout.daily_summaries,
        wrapper_names: fields.wrapper_names,
        tz,
        memory,
        rotate_size,
        strict: a.strict,
        dry_run: a.dry_run,
        source: a.source,
        spill_base,
        max_open_files: a.max_open_files,
        write_threads: a.write_threads.max(1),
        threads: a
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1),
        time_unit: time_unit(a.time_unit),
        input: a.input,
    })
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
        (None, Some(Preset::LogEvents)) => UserRule::Path(FieldPath::parse("actor.user_id")?),
        (None, Some(Preset::AuditLogs)) => UserRule::AuditActor,
        (None, _) => UserRule::Path(FieldPath::parse("user_id")?),
    };
    let time = path(
        &a.time_field,
        match preset {
            Some(Preset::Conversations) | None => "created_at",
            Some(Preset::LogEvents) => "timestamp",
            Some(Preset::AuditLogs) => "effective_at",
        },
    )?;
    let id = path(
        &a.id_field,
        match preset {
            Some(Preset::LogEvents) => "event_id",
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
        id,
        version,
        name: match preset {
            Some(Preset::Conversations) | None => "conversations",
            Some(Preset::LogEvents) => "events",
            Some(Preset::AuditLogs) => "audit",
        },
        wrapper_names: match preset {
            Some(Preset::Conversations) => ("conversations", "conversation_count"),
            _ => ("records", "record_count"),
        },
    })
}

/// The path template and file format of `--layout` / `--path` / `--format`.
fn layout_of(a: &Args, name: &str) -> Result<Layout> {
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
        (None, None) => LayoutKind::Seed,
    };
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

/// `--hash-only` fields, with `@content` resolved for the preset.
fn hash_only_of(flags: &[String], preset: Option<Preset>) -> Result<Vec<FieldPath>> {
    flags
        .iter()
        .map(|f| match (f.as_str(), preset) {
            ("@content", Some(Preset::Conversations)) => FieldPath::parse("messages.data.content.value"),
            ("@content", Some(Preset::LogEvents)) => FieldPath::parse("message.content.value"),
            ("@content", _) => Err(Failure::usage(
                "--hash-only @content is defined for the conversations and log-events presets; name the fields",
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
}
