//! The run's settings, checked once: flags become a [`Config`] or a usage
//! error (exit 2) before any input is read.

use crate::route::{FieldPath, UserRule};
use crate::Args;
use anyhow::Result;
use archive_core::Failure;
use clap::ValueEnum;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    Conversations,
    LogEvents,
    AuditLogs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutKind {
    Seed,
    Hive,
    DailyJsonl,
    Template,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Ndjson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimeUnit {
    Auto,
    S,
    Ms,
}

/// Everything a run needs to know, validated.
pub struct Config {
    pub out: PathBuf,
    /// `--out` as given, for the `root` of file lines.
    pub root_label: String,
    pub user: UserRule,
    pub time: FieldPath,
    pub id: FieldPath,
    pub version: Option<FieldPath>,
    pub template: String,
    pub format: Format,
    pub compress: Option<Compression>,
    /// Seed layout: also write `_daily_summaries/…/summary.json`.
    pub daily_summaries: bool,
    /// Names inside the json wrapper: ("conversations", "conversation_count") …
    pub wrapper_names: (&'static str, &'static str),
    pub tz: chrono_tz::Tz,
    pub memory: u64,
    pub hash_only: Vec<FieldPath>,
    pub rotate_size: Option<u64>,
    pub strict: bool,
    pub dry_run: bool,
    pub summary: Option<PathBuf>,
    pub source: String,
    pub spill_dir: Option<PathBuf>,
    pub max_open_files: usize,
    pub write_threads: usize,
    pub threads: usize,
    pub time_unit: TimeUnit,
    pub input: Option<PathBuf>,
}

/// Parse a size such as `256MB`, `1.5GB`, `100MiB`, `4096` (bytes).
/// K, M, G, T are powers of 1024, with or without `B`/`iB`.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| Failure::usage(format!("size {s:?}: expected a number such as 256MB")))?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        other => {
            return Err(Failure::usage(format!(
                "size {s:?}: unknown unit {other:?}"
            )))
        }
    };
    Ok((n * mult as f64) as u64)
}

impl Config {
    pub fn from_args(a: Args) -> Result<Config> {
        let preset = match (a.preset, &a.user_field, &a.time_field) {
            (Some(p), _, _) => Some(p),
            (None, Some(_), Some(_)) => None,
            (None, None, None) => Some(Preset::Conversations),
            _ => {
                return Err(Failure::usage(
                    "give --preset, or both --user-field and --time-field",
                ))
            }
        };
        let user = match (&a.user_field, preset) {
            (Some(f), _) => UserRule::Path(FieldPath::parse(f)?),
            (None, Some(Preset::Conversations)) => UserRule::Path(FieldPath::parse("user_id")?),
            (None, Some(Preset::LogEvents)) => UserRule::Path(FieldPath::parse("actor.user_id")?),
            (None, Some(Preset::AuditLogs)) => UserRule::AuditActor,
            (None, None) => unreachable!("checked above"),
        };
        let time = FieldPath::parse(a.time_field.as_deref().unwrap_or(match preset {
            Some(Preset::Conversations) | None => "created_at",
            Some(Preset::LogEvents) => "timestamp",
            Some(Preset::AuditLogs) => "effective_at",
        }))?;
        let id = FieldPath::parse(a.id_field.as_deref().unwrap_or(match preset {
            Some(Preset::LogEvents) => "event_id",
            _ => "id",
        }))?;
        let version = match (&a.version_field, preset) {
            (Some(v), _) => Some(FieldPath::parse(v)?),
            (None, Some(Preset::Conversations)) => Some(FieldPath::parse("last_active_at")?),
            _ => None,
        };
        let name = match preset {
            Some(Preset::Conversations) | None => "conversations",
            Some(Preset::LogEvents) => "events",
            Some(Preset::AuditLogs) => "audit",
        };
        let wrapper_names = match preset {
            Some(Preset::Conversations) => ("conversations", "conversation_count"),
            _ => ("records", "record_count"),
        };

        let layout = match (a.layout, &a.path_template) {
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
        let (template, default_format) = match layout {
            LayoutKind::Seed => (
                format!("{{user}}/{{yyyy}}/{{mm}}/{{dd}}/{name}.json"),
                Format::Json,
            ),
            LayoutKind::Hive => (
                format!("user_id={{user}}/date={{date}}/{name}.ndjson"),
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
        crate::render::check_template(&template)?;
        let format = a.format.unwrap_or(default_format);
        if layout == LayoutKind::DailyJsonl && format == Format::Json {
            return Err(Failure::usage("--layout daily-jsonl writes ndjson only"));
        }
        let tz: chrono_tz::Tz =
            a.tz.parse()
                .map_err(|_| Failure::usage(format!("--tz {:?}: not an IANA time zone", a.tz)))?;
        let memory = parse_size(&a.memory)?;
        if memory < 1 << 20 {
            return Err(Failure::usage("--memory must be at least 1MB"));
        }
        let rotate_size = a.rotate_size.as_deref().map(parse_size).transpose()?;
        if rotate_size == Some(0) {
            return Err(Failure::usage("--rotate-size must be more than 0"));
        }
        let mut hash_only = Vec::new();
        for f in &a.hash_only {
            if f == "@content" {
                match preset {
                    Some(Preset::Conversations) => {
                        hash_only.push(FieldPath::parse("messages.data.content.value")?)
                    }
                    Some(Preset::LogEvents) => {
                        hash_only.push(FieldPath::parse("message.content.value")?)
                    }
                    _ => {
                        return Err(Failure::usage(
                            "--hash-only @content is defined for the conversations and log-events presets; name the fields",
                        ))
                    }
                }
            } else {
                hash_only.push(FieldPath::parse(f)?);
            }
        }
        if a.max_open_files < 2 {
            return Err(Failure::usage("--max-open-files must be at least 2"));
        }
        Ok(Config {
            root_label: a.out.to_string_lossy().into_owned(),
            out: a.out,
            user,
            time,
            id,
            version,
            template,
            format,
            compress: a.compress,
            daily_summaries: layout == LayoutKind::Seed,
            wrapper_names,
            tz,
            memory,
            hash_only,
            rotate_size,
            strict: a.strict,
            dry_run: a.dry_run,
            summary: a.summary,
            source: a.source,
            spill_dir: a.spill_dir,
            max_open_files: a.max_open_files,
            write_threads: a.write_threads.max(1),
            threads: a
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1),
            time_unit: a.time_unit,
            input: a.input,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("256MB").unwrap(), 256 << 20);
        assert_eq!(super::parse_size("1.5k").unwrap(), 1536);
        assert_eq!(super::parse_size("100").unwrap(), 100);
        assert!(super::parse_size("12XB").is_err());
    }
}
