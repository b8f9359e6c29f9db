//! fetch: pull compliance records from the ChatGPT Enterprise Compliance
//! API, its Logs Platform and the OpenAI audit log, to stdout as NDJSON.

use anyhow::Result;
use archive_core::Outcome;
use clap::{CommandFactory, FromArgMatches};
use fetch::cli::{self, Cli, Cmd, Common};
use fetch::ctx::{self, Ctx};
use fetch::http::KeyKind;
use fetch::{bookmark, streams};

fn main() {
    let tail = cli::long_help_tail();
    let matches = Cli::command()
        .after_long_help(tail.clone())
        .mut_subcommands(|s| s.after_long_help(tail.clone()))
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    archive_core::exit::main_with("fetch", || run(cli))
}

fn run(cli: Cli) -> Result<Outcome> {
    match cli.cmd {
        Cmd::Commit(a) => {
            let root = ctx::state_root(a.state_dir)?;
            let mut out = archive_core::io::LineOut::new();
            let done = bookmark::commit_all(&root, a.dry_run)?;
            for p in &done {
                out.json(p)?;
            }
            out.flush()?;
            eprintln!(
                "fetch: commit: {} bookmark(s) {} in {}",
                done.len(),
                if a.dry_run {
                    "would be promoted"
                } else {
                    "promoted"
                },
                root.display()
            );
            Ok(Outcome::Complete)
        }
        Cmd::Status(a) => {
            let root = ctx::state_root(a.state_dir)?;
            let mut out = archive_core::io::LineOut::new();
            for line in bookmark::status_all(&root)? {
                out.json(&line)?;
            }
            out.flush()?;
            Ok(Outcome::Complete)
        }
        Cmd::Logs(a) => stream("logs", &a.common, KeyKind::Compliance, |ctx| {
            Box::pin(async move { streams::logs::logs(ctx, &a.event_types).await })
        }),
        Cmd::Conversations(c) => stream("conversations", &c, KeyKind::Compliance, |ctx| {
            Box::pin(streams::lists::conversations(ctx))
        }),
        Cmd::Users(c) => snapshot("users", &c),
        Cmd::Gpts(c) => snapshot("gpts", &c),
        Cmd::Projects(c) => snapshot("projects", &c),
        Cmd::Memories(c) => snapshot("memories", &c),
        Cmd::AuditLogs(a) => {
            let common = a.common.clone();
            stream("audit-logs", &common, KeyKind::Admin, |ctx| {
                Box::pin(async move { streams::audit::audit_logs(ctx, &a).await })
            })
        }
    }
}

fn snapshot(name: &'static str, c: &Common) -> Result<Outcome> {
    stream(name, c, KeyKind::Compliance, move |ctx| {
        Box::pin(streams::lists::snapshot(ctx, name))
    })
}

type StreamFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + 'a>>;

/// Set up the context, run the stream on a single-threaded runtime (one
/// request at a time per endpoint is what the rate limit allows anyway),
/// then write the summary.
fn stream(
    name: &str,
    common: &Common,
    kind: KeyKind,
    body: impl for<'a> FnOnce(&'a mut Ctx) -> StreamFuture<'a>,
) -> Result<Outcome> {
    let needs_workspace = kind == KeyKind::Compliance;
    let mut ctx = Ctx::new(name, common, kind, needs_workspace)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(body(&mut ctx))?;
    ctx.finish()?;
    Ok(Outcome::Complete)
}
