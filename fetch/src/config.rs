//! Flags and environment → [`Command`]. The only module that sees clap's
//! types: everything after it reads the resolved [`model`](crate::model)
//! types, so a phase can be driven without a command line.

use crate::cli::{AuditArgs, Cli, Cmd, Common, FilesArgs};
use crate::model::{
    AuditFilters, Command, FilesOpts, KeyKind, Opts, RequestPolicy, Stream, StreamConfig,
};
use crate::timeparse;
use anyhow::Result;
use archive_core::retry::Backoff;
use archive_core::Failure;
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// The first load starts here when there is no bookmark and no --since.
pub const DEFAULT_SINCE: &str = "2025-07-02";

/// The run summary's path (known even when the rest does not resolve, so a
/// failed run still writes its summary) and the command.
pub fn resolve(cli: Cli) -> (Option<PathBuf>, Result<Command>) {
    let mut organization_id = None;
    let (stream, common) = match cli.cmd {
        Cmd::Commit(a) => {
            let cmd = state_root(a.state.state_dir).map(|root| Command::Commit {
                root,
                dry_run: a.state.dry_run,
                run_ids: a.run_ids.into_iter().filter(|s| !s.is_empty()).collect(),
                streams: a.streams.into_iter().filter(|s| !s.is_empty()).collect(),
            });
            return (None, cmd);
        }
        Cmd::Status(a) => {
            return (
                None,
                state_root(a.state_dir).map(|root| Command::Status { root }),
            )
        }
        Cmd::Logs(a) => {
            organization_id = a.organization_id.filter(|o| !o.trim().is_empty());
            (
                Stream::Logs {
                    event_types: a.event_types,
                },
                a.common,
            )
        }
        Cmd::Files(a) => {
            let summary = a.common.summary.clone();
            match files_opts(&a) {
                Ok(f) => (Stream::Files(f), a.common),
                Err(e) => return (summary, Err(e)),
            }
        }
        Cmd::Conversations(c) => (Stream::Conversations, c),
        Cmd::Users(c) => (Stream::Snapshot("users"), c),
        Cmd::Gpts(c) => (Stream::Snapshot("gpts"), c),
        Cmd::Projects(c) => (Stream::Snapshot("projects"), c),
        Cmd::Memories(c) => (Stream::Snapshot("memories"), c),
        Cmd::AuditLogs(a) => (Stream::AuditLogs(audit_filters(&a)), a.common),
    };
    let summary = common.summary.clone();
    let cfg = stream_config(stream, &common)
        .and_then(|mut c| {
            if let Some(org) = organization_id {
                if !org.starts_with("org-") {
                    return Err(Failure::usage(format!(
                        "--organization-id {org:?}: an organization id starts with org-"
                    )));
                }
                c.opts.organization_id = Some(org);
            }
            Ok(c)
        })
        .map(|c| Command::Stream(Box::new(c)));
    (summary, cfg)
}

/// The files stream's own flags: the events file must exist (exit 2).
fn files_opts(a: &FilesArgs) -> Result<FilesOpts> {
    let events = (a.events.as_os_str() != "-").then(|| a.events.clone());
    if let Some(p) = &events {
        if !p.is_file() {
            return Err(Failure::usage(format!(
                "--events {}: no such file",
                p.display()
            )));
        }
    }
    let max_file_size = archive_core::size::parse_positive_size(&a.max_file_size)
        .map_err(|e| Failure::usage(format!("--max-file-size: {e}")))?;
    Ok(FilesOpts {
        events,
        out: a.out.clone(),
        max_file_size,
    })
}

/// `30d`, `48h`, `90m`, `3600s`, `2w`, or bare seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        Some((i, 'd')) => (&t[..i], 86_400),
        Some((i, 'w')) => (&t[..i], 7 * 86_400),
        _ => (t, 1),
    };
    match num.parse::<u64>() {
        Ok(n) if n > 0 => Ok(Duration::from_secs(n * mult)),
        _ => Err(format!(
            "{s:?}: expected a positive duration such as 30d, 48h, 90m or 3600s"
        )),
    }
}

/// `--run-id`, else a fresh one: the UTC time and the process id.
fn run_id(flag: &Option<String>) -> Result<String> {
    match flag.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() => {
            if id.len() > 100
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
            {
                return Err(Failure::usage(format!(
                    "--run-id {id:?}: use at most 100 of A-Z a-z 0-9 . _ - :"
                )));
            }
            Ok(id.to_string())
        }
        _ => Ok(format!(
            "{}-{}",
            Utc::now().format("%Y%m%dT%H%M%SZ"),
            std::process::id()
        )),
    }
}

fn audit_filters(a: &AuditArgs) -> AuditFilters {
    AuditFilters {
        event_types: a.event_types.clone(),
        project_ids: a.project_ids.clone(),
        actor_ids: a.actor_ids.clone(),
        actor_emails: a.actor_emails.clone(),
        resource_ids: a.resource_ids.clone(),
    }
}

/// Which base URL variable, default and key variable a kind of stream uses.
pub fn source_for(kind: KeyKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        KeyKind::Compliance => (
            "COMPLIANCE_BASE_URL",
            "https://api.chatgpt.com/v1",
            "OPENAI_API_KEY",
        ),
        KeyKind::Admin => (
            "OPENAI_BASE_URL",
            "https://api.openai.com/v1",
            "OPENAI_ADMIN_KEY",
        ),
    }
}

fn stream_config(stream: Stream, common: &Common) -> Result<StreamConfig> {
    let kind = stream.key_kind();
    let (base_env, base_default, key_env) = source_for(kind);
    let base = common
        .base_url
        .clone()
        .or_else(|| std::env::var(base_env).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| base_default.to_string());
    let base_url =
        Url::parse(&base).map_err(|e| Failure::usage(format!("--base-url {base:?}: {e}")))?;
    let workspace = common.workspace_id.clone().unwrap_or_default();
    if kind == KeyKind::Compliance && workspace.trim().is_empty() {
        return Err(Failure::usage(
            "no workspace id: pass --workspace-id or set WORKSPACE_ID",
        ));
    }
    let key = load_key(common, key_env)?;
    let (since, until) = window(common)?;
    let policy = policy(common)?;
    let retention = match &common.retention {
        Some(r) => {
            Some(parse_duration(r).map_err(|e| Failure::usage(format!("--retention: {e}")))?)
        }
        None => stream.default_retention(),
    };
    if let Some(n) = common.limit {
        if matches!(stream, Stream::Logs { .. } | Stream::AuditLogs(_)) && n > 100 {
            return Err(Failure::usage(format!(
                "--limit {n}: the API allows at most 100 per page here (it answers 422)"
            )));
        }
        if matches!(stream, Stream::Logs { .. }) && n < 2 {
            return Err(Failure::usage(format!(
                "--limit {n}: logs need at least 2, because `after` is inclusive and the boundary file comes back on every page"
            )));
        }
    }
    // The host, not the port: a bookmark must survive a service (or the
    // mock) coming back on another port.
    let host = base_url.host_str().unwrap_or("local").to_string();
    let scope = if workspace.is_empty() {
        "organization".to_string()
    } else {
        workspace.clone()
    };
    Ok(StreamConfig {
        stream,
        key,
        kind,
        host,
        scope,
        state_root: state_root(common.state_dir.clone())?,
        opts: Opts {
            base,
            workspace,
            since,
            default_since: timeparse::parse_time(DEFAULT_SINCE, Utc::now())
                .expect("the default is valid"),
            until,
            users: common
                .users
                .iter()
                .filter(|u| !u.is_empty())
                .cloned()
                .collect(),
            max_pages: common.max_pages,
            limit: common.limit,
            no_resume: common.no_resume,
            overlap: common.overlap as f64,
            dry_run: common.dry_run,
            summary: common.summary.clone(),
            retention,
            run_id: run_id(&common.run_id)?,
            organization_id: None,
        },
        policy,
    })
}

type Window = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// --since and --until, checked.
fn window(common: &Common) -> Result<Window> {
    let now = Utc::now();
    let parse = |flag: &str, v: &Option<String>| -> Result<Option<DateTime<Utc>>> {
        v.as_deref()
            .map(|s| {
                timeparse::parse_time(s, now).map_err(|e| Failure::usage(format!("{flag}: {e}")))
            })
            .transpose()
    };
    let since = parse("--since", &common.since)?;
    let until = parse("--until", &common.until)?;
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err(Failure::usage(format!(
                "--since {} is not before --until {}",
                timeparse::rfc3339(s),
                timeparse::rfc3339(u)
            )));
        }
    }
    Ok((since, until))
}

fn policy(common: &Common) -> Result<RequestPolicy> {
    if common.rate_limit == 0 {
        return Err(Failure::usage(
            "--rate-limit must be at least 1 request per minute",
        ));
    }
    if common.max_attempts == 0 {
        return Err(Failure::usage("--max-attempts must be at least 1"));
    }
    if common.deadline == 0 {
        return Err(Failure::usage("--deadline must be at least 1 second"));
    }
    let debug =
        common.verbose || std::env::var("FETCH_LOG").is_ok_and(|v| v.eq_ignore_ascii_case("debug"));
    Ok(RequestPolicy {
        per_minute: common.rate_limit,
        download_per_minute: common.download_rate_limit.unwrap_or(common.rate_limit),
        backoff: Backoff {
            base: Duration::from_millis(common.retry_base_ms),
            cap: Duration::from_secs(common.max_wait),
            max_attempts: common.max_attempts,
        },
        max_wait: Duration::from_secs(common.max_wait),
        idle_timeout: Duration::from_secs(common.timeout.max(1)),
        deadline: Duration::from_secs(common.deadline),
        debug,
        ca_cert: common.ca_cert.clone(),
    })
}

/// --state-dir, else $XDG_STATE_HOME/compliance-archive, else ~/.local/state/compliance-archive.
pub fn state_root(flag: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p);
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("compliance-archive"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/state/compliance-archive")),
        None => Err(Failure::usage(
            "no state directory: pass --state-dir or set FETCH_STATE_DIR, XDG_STATE_HOME or HOME",
        )),
    }
}

/// The key from --api-key-file or the environment; never from a flag value.
fn load_key(common: &Common, env: &str) -> Result<String> {
    let key = match &common.api_key_file {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| Failure::usage(format!("--api-key-file {}: {e}", p.display())))?
            .trim()
            .to_string(),
        None => std::env::var(env).unwrap_or_default().trim().to_string(),
    };
    if key.is_empty() {
        return Err(Failure::usage(format!(
            "no API key: set {env} or pass --api-key-file FILE"
        )));
    }
    if key.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(Failure::usage(
            "the API key contains spaces or control characters",
        ));
    }
    Ok(key)
}
