//! Exit codes shared by every tool, and the glue that turns the result of a
//! tool's `run()` into one of them.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | some items failed, the rest were done |
//! | 2 | usage or configuration error |
//! | 3 | input data error (bad line, bad schema) |
//! | 4 | remote service error after retries (API, S3) |
//! | 75 | another run holds the lease or committed first; nothing was done |
//! | 130 | interrupted |

use std::fmt;

pub const SUCCESS: i32 = 0;
pub const PARTIAL: i32 = 1;
pub const USAGE: i32 = 2;
pub const DATA: i32 = 3;
pub const REMOTE: i32 = 4;
/// EX_TEMPFAIL of sysexits.h: another run holds the job; try again later.
pub const HELD: i32 = 75;
pub const INTERRUPTED: i32 = 130;

/// The exit-code table, for `--help` texts (`after_long_help`).
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    some items failed (the rest were done)
  2    usage or configuration error
  3    input data error (bad line, bad schema)
  4    remote service error after retries (API, S3, database)
  75   another run holds the lease or committed first; nothing was done
  130  interrupted";

/// What kind of failure ended a run. Attach one to an `anyhow::Error` with
/// [`Failure::usage`] and friends (or `.context(Failure::Data)`), and
/// [`exit_code`] finds it anywhere in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Usage,
    Data,
    Remote,
    /// Another run holds the lease, or committed first (exit 75).
    Held,
    Interrupted,
}

impl Failure {
    pub fn code(self) -> i32 {
        match self {
            Failure::Usage => USAGE,
            Failure::Data => DATA,
            Failure::Remote => REMOTE,
            Failure::Held => HELD,
            Failure::Interrupted => INTERRUPTED,
        }
    }

    /// A usage or configuration error with this message (exit 2).
    pub fn usage(msg: impl fmt::Display) -> anyhow::Error {
        anyhow::Error::new(Tagged(Failure::Usage, msg.to_string()))
    }
    /// An input data error with this message (exit 3).
    pub fn data(msg: impl fmt::Display) -> anyhow::Error {
        anyhow::Error::new(Tagged(Failure::Data, msg.to_string()))
    }
    /// A remote service error with this message (exit 4).
    pub fn remote(msg: impl fmt::Display) -> anyhow::Error {
        anyhow::Error::new(Tagged(Failure::Remote, msg.to_string()))
    }
    /// Another run holds the lease or committed first (exit 75).
    pub fn held(msg: impl fmt::Display) -> anyhow::Error {
        anyhow::Error::new(Tagged(Failure::Held, msg.to_string()))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Failure::Usage => "usage error",
            Failure::Data => "input data error",
            Failure::Remote => "remote service error",
            Failure::Held => "held by another run",
            Failure::Interrupted => "interrupted",
        })
    }
}

impl std::error::Error for Failure {}

/// A message tagged with its failure kind; displays as the message alone.
#[derive(Debug)]
struct Tagged(Failure, String);

impl fmt::Display for Tagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for Tagged {}

/// How a run that did not error ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// Everything was done.
    #[default]
    Complete,
    /// Some items failed and were reported on stderr; the rest were done.
    Partial,
}

/// The exit code for an error: the first [`Failure`] found in its chain,
/// 0 for a closed stdout pipe (the reader went away, as with `| head`),
/// otherwise 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if is_broken_pipe(err) {
        return SUCCESS;
    }
    // `.context(Failure::X)` is found by downcasting the error itself.
    if let Some(f) = err.downcast_ref::<Failure>() {
        return f.code();
    }
    for cause in err.chain() {
        if let Some(t) = cause.downcast_ref::<Tagged>() {
            return t.0.code();
        }
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return f.code();
        }
    }
    PARTIAL
}

/// True when the error is a write to a closed pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The body of every tool's `main`: run, print `tool: error: …` once on
/// failure, and exit with the documented code.
pub fn main_with(tool: &str, run: impl FnOnce() -> anyhow::Result<Outcome>) -> ! {
    let code = match run() {
        Ok(Outcome::Complete) => SUCCESS,
        Ok(Outcome::Partial) => PARTIAL,
        Err(err) => {
            let code = exit_code(&err);
            if code != SUCCESS {
                eprintln!("{tool}: error: {err:#}");
            }
            code
        }
    };
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn codes_found_through_context() {
        let e = Failure::data("line 3: not JSON");
        assert_eq!(exit_code(&e), 3);
        let e = Err::<(), _>(Failure::remote("503"))
            .context("uploading x")
            .unwrap_err();
        assert_eq!(exit_code(&e), 4);
        assert_eq!(format!("{e:#}"), "uploading x: 503");
        let e = Err::<(), _>(anyhow::anyhow!("bad"))
            .context(Failure::Usage)
            .unwrap_err();
        assert_eq!(exit_code(&e), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("plain")), 1);
        assert_eq!(exit_code(&Failure::held("lease held by run-2")), 75);
        let pipe = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(exit_code(&pipe), 0);
    }
}
