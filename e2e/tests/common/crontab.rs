//! The crontab of scripts/cron/compliance-archive.crontab read the way cron
//! reads it: `NAME=value` lines set the jobs' environment (taken literally,
//! no expansion), the other non-comment lines are five time fields and a
//! command that cron hands to `$SHELL -c`. The tests run those command
//! parts themselves, with the variables pointed at test servers.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

#[derive(Debug, Clone)]
pub struct CronJob {
    /// 1-based line in the crontab.
    pub line: usize,
    /// The five time fields.
    pub schedule: String,
    /// What cron runs with `$SHELL -c`.
    pub command: String,
    /// The job name given to run-job (the word after it).
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Crontab {
    pub env: BTreeMap<String, String>,
    pub jobs: Vec<CronJob>,
}

impl Crontab {
    pub fn parse(text: &str) -> Crontab {
        let mut env = BTreeMap::new();
        let mut jobs = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    env.insert(k.to_string(), v.trim().to_string());
                    continue;
                }
            }
            let (fields, command) = split_fields(line, 5);
            assert!(
                fields.len() == 5 && !command.is_empty(),
                "crontab line {}: not a job: {raw}",
                i + 1
            );
            let words: Vec<&str> = command.split_whitespace().collect();
            let name = words
                .iter()
                .position(|w| w.ends_with("/run-job"))
                .and_then(|p| words.get(p + 1))
                .unwrap_or_else(|| {
                    panic!(
                        "crontab line {}: the job does not go through run-job",
                        i + 1
                    )
                })
                .to_string();
            jobs.push(CronJob {
                line: i + 1,
                schedule: fields.join(" "),
                command: command.to_string(),
                name,
            });
        }
        Crontab { env, jobs }
    }

    pub fn job(&self, name: &str) -> &CronJob {
        self.jobs
            .iter()
            .find(|j| j.name == name)
            .unwrap_or_else(|| panic!("no job {name} in the crontab"))
    }

    /// Run a job's command part as cron does: `$SHELL -c COMMAND`, an
    /// environment of only HOME, LOGNAME and the crontab's variables (with
    /// `overrides` replacing them), stdin from /dev/null.
    pub fn run(&self, job: &CronJob, overrides: &BTreeMap<String, String>, home: &Path) -> Output {
        let mut env = self.env.clone();
        env.extend(overrides.clone());
        let shell = env
            .get("SHELL")
            .cloned()
            .unwrap_or_else(|| "/bin/sh".into());
        Command::new(shell)
            .arg("-c")
            .arg(&job.command)
            .env_clear()
            .env("HOME", home)
            .env("LOGNAME", "archive")
            .envs(&env)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("crontab line {}: {e}", job.line))
    }
}

/// The first `n` whitespace-separated fields of a line, and the rest.
fn split_fields(line: &str, n: usize) -> (Vec<&str>, &str) {
    let mut rest = line;
    let mut fields = Vec::new();
    for _ in 0..n {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        fields.push(&rest[..end]);
        rest = &rest[end..];
    }
    (fields, rest.trim())
}
