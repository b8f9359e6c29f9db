//! Flags → what each operation needs. The only module that sees clap.

use crate::cli::{Cli, Command};
use anyhow::Result;
use archive_core::s3url::S3Url;
use archive_core::Failure;
use archive_s3::ClientOptions;
use std::path::PathBuf;
use std::time::Duration;

/// A state location as given: S3 or a directory.
#[derive(Debug, Clone)]
pub enum Location {
    S3(S3Url),
    Dir(PathBuf),
}

pub enum Op {
    Lease {
        at: Location,
        owner: String,
        ttl: Duration,
        pid: u32,
    },
    Release {
        at: Location,
        owner: String,
    },
    Pull {
        at: Location,
        dir: PathBuf,
    },
    Push {
        dir: PathBuf,
        at: Location,
        lease: Location,
        owner: String,
        ttl: Duration,
    },
    Put {
        at: Location,
        name: String,
        file: PathBuf,
    },
    Get {
        at: Location,
        name: String,
    },
    Check {
        at: Location,
        read_only: bool,
    },
}

pub struct Config {
    pub op: Op,
    pub client: ClientOptions,
}

fn location(s: &str) -> Result<Location> {
    if S3Url::is_s3(s) {
        Ok(Location::S3(S3Url::parse(s).map_err(Failure::usage)?))
    } else if s.is_empty() {
        Err(Failure::usage("an empty state location"))
    } else {
        Ok(Location::Dir(PathBuf::from(s)))
    }
}

/// `90s`, `30m`, `6h`, `2d`.
pub fn parse_ttl(s: &str) -> Result<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| Failure::usage(format!("--ttl {s:?}: expected e.g. 6h")))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" | "" => n * 3600,
        "d" => n * 86_400,
        _ => {
            return Err(Failure::usage(format!(
                "--ttl {s:?}: the unit is s, m, h or d"
            )))
        }
    };
    if secs == 0 {
        return Err(Failure::usage("--ttl must be longer than 0"));
    }
    Ok(Duration::from_secs(secs))
}

fn check_name(name: &str) -> Result<String> {
    archive_core::lines::check_relative(name)
        .map_err(|e| Failure::usage(format!("NAME: {e:#}")))?;
    Ok(name.to_string())
}

impl Config {
    pub fn from_cli(cli: Cli) -> Result<Config> {
        let op = match cli.command {
            Command::Lease(a) => Op::Lease {
                at: location(&a.url)?,
                owner: a.owner,
                ttl: parse_ttl(&a.ttl)?,
                // SAFETY: getppid has no preconditions.
                pid: a.pid.unwrap_or_else(|| unsafe { libc::getppid() } as u32),
            },
            Command::Release(a) => Op::Release {
                at: location(&a.url)?,
                owner: a.owner,
            },
            Command::Pull { url, dir } => Op::Pull {
                at: location(&url)?,
                dir,
            },
            Command::Push(a) => Op::Push {
                dir: a.dir,
                lease: location(a.lease.as_deref().unwrap_or(&a.url))?,
                at: location(&a.url)?,
                owner: a.owner,
                ttl: parse_ttl(&a.ttl)?,
            },
            Command::Put { url, name, file } => Op::Put {
                at: location(&url)?,
                name: check_name(&name)?,
                file,
            },
            Command::Get { url, name } => Op::Get {
                at: location(&url)?,
                name: check_name(&name)?,
            },
            Command::Check { url, read_only } => Op::Check {
                at: location(&url)?,
                read_only,
            },
        };
        Ok(Config {
            op,
            client: ClientOptions {
                endpoint: cli.conn.endpoint_url.filter(|e| !e.is_empty()),
                region: cli.conn.region,
                ..ClientOptions::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ttls() {
        assert_eq!(super::parse_ttl("90s").unwrap().as_secs(), 90);
        assert_eq!(super::parse_ttl("6h").unwrap().as_secs(), 21_600);
        assert_eq!(super::parse_ttl("2d").unwrap().as_secs(), 172_800);
        assert!(super::parse_ttl("0s").is_err() && super::parse_ttl("1w").is_err());
    }
}
