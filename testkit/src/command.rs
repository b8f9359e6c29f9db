use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// A real binary to run, with stdin to feed; the `expect_*` methods panic
/// with everything needed to understand a failure.
pub struct TestCommand {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

/// The finished run: exit code, stdout, stderr, and a description of the
/// command for messages.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub described: String,
}

impl TestCommand {
    pub fn new(bin: &Path) -> TestCommand {
        let mut cmd = Command::new(bin);
        // Tests must not depend on the developer's AWS or OpenAI settings.
        for var in [
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "OPENAI_API_KEY",
            "OPENAI_ADMIN_KEY",
            "WORKSPACE_ID",
        ] {
            cmd.env_remove(var);
        }
        TestCommand { cmd, stdin: None }
    }

    pub fn arg(&mut self, a: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(a);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(&mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(k, v);
        self
    }

    pub fn env_remove(&mut self, k: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env_remove(k);
        self
    }

    pub fn current_dir(&mut self, d: impl AsRef<Path>) -> &mut Self {
        self.cmd.current_dir(d);
        self
    }

    pub fn stdin(&mut self, bytes: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// The underlying command, e.g. to spawn it and kill it mid-run.
    pub fn command_mut(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// Run to completion, whatever the exit status.
    pub fn run(&mut self) -> Run {
        let described = format!("{:?}", self.cmd);
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {described}: {e}"));
        if let Some(input) = self.stdin.clone() {
            let mut sin = child.stdin.take().unwrap();
            // Feed stdin on a thread so a command that writes a lot before
            // reading everything cannot deadlock the test.
            std::thread::spawn(move || {
                let _ = sin.write_all(&input);
            });
        }
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            described,
        }
    }

    /// Run and require exit code 0.
    pub fn expect_success(&mut self) -> Run {
        self.expect_code(0)
    }

    /// Run and require exactly this exit code.
    pub fn expect_code(&mut self, code: i32) -> Run {
        let run = self.run();
        if run.code != Some(code) {
            panic!("expected exit code {code}\n{}", run.report());
        }
        run
    }
}

impl Run {
    /// stdout parsed as NDJSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        crate::parse_ndjson(&self.stdout)
    }

    /// Everything about this run, for panic messages.
    pub fn report(&self) -> String {
        format!(
            "\n==== command ====\n{}\n==== exit code ====\n{:?}\n==== stdout ====\n{}\n==== stderr ====\n{}\n",
            self.described, self.code, self.stdout, self.stderr
        )
    }

    /// Panic with the report unless `cond` holds.
    pub fn assert(&self, cond: bool, what: &str) {
        if !cond {
            panic!("{what}\n{}", self.report());
        }
    }
}
