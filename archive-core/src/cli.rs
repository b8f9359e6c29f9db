//! What every tool's command line has in common, so that each tool's
//! `cli.rs` only declares its own flags:
//!
//! - `--version` with the git commit the binary was built from;
//! - help text printed as written (never re-wrapped to the terminal), so an
//!   example pasted from `--help` is the command that was documented;
//! - `--no-progress` (and `NO_PROGRESS=1`), global to every subcommand;
//! - `--completions bash|zsh|fish|elvish|powershell` and `--man`, hidden,
//!   which print a completion script or a roff man page and exit
//!   (`scripts/install.sh` uses them).

use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};
use std::io::Write;

/// `0.1.0 (1a2b3c4d 2026-12-01)`: the version and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("ARCHIVE_GIT_COMMIT"),
    ")"
);

/// Parse the command line of tool `T`, after handling the flags every
/// tool shares. Errors and `--help` exit as clap does (exit 2 for a usage
/// error).
pub fn parse<T: CommandFactory + FromArgMatches>() -> T {
    parse_command(command::<T>())
}

/// [`parse`] with a command the tool has adjusted (built from [`command`]).
pub fn parse_command<T: FromArgMatches>(cmd: Command) -> T {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = generate(&cmd, &args) {
        std::process::exit(code);
    }
    let matches = cmd.get_matches_from(args);
    if matches.get_flag("no-progress") {
        crate::progress::disable();
    }
    T::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The clap command of tool `T` with the shared settings and flags.
pub fn command<T: CommandFactory>() -> Command {
    T::command()
        .version(VERSION)
        .propagate_version(true)
        .term_width(0)
        .arg(
            Arg::new("no-progress")
                .long("no-progress")
                .global(true)
                .action(ArgAction::SetTrue)
                .help("Draw no progress bar (also NO_PROGRESS=1; bars are drawn only on a terminal, by the last stage of a pipeline)"),
        )
}

/// Handle `--completions SHELL` and `--man` when they are the first
/// argument; the exit code, or `None` to go on parsing.
fn generate(cmd: &Command, args: &[std::ffi::OsString]) -> Option<i32> {
    let first = args.get(1)?.to_str()?;
    let mut cmd = cmd.clone();
    let name = cmd.get_name().to_string();
    let mut out = std::io::stdout().lock();
    match first {
        "--completions" => {
            let Some(shell) = args
                .get(2)
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<clap_complete::Shell>().ok())
            else {
                eprintln!("{name}: --completions takes one of bash, zsh, fish, elvish, powershell");
                return Some(crate::exit::USAGE);
            };
            clap_complete::generate(shell, &mut cmd, name, &mut out);
        }
        "--man" => {
            cmd.build();
            match clap_mangen::Man::new(cmd).render(&mut out) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("{name}: writing the man page: {e}");
                    return Some(crate::exit::PARTIAL);
                }
                _ => {}
            }
        }
        _ => return None,
    }
    let _ = out.flush();
    Some(crate::exit::SUCCESS)
}
