//! Real servers for tests: moto's S3 server, a throw-away PostgreSQL
//! cluster, and binaries of this workspace (the mock Compliance API). Each
//! is started on a free port of 127.0.0.1 and stopped when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until something accepts connections on the port.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A child process killed (and reaped) when dropped.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Path of a binary of this workspace (`target/<profile>/<name>`), built
/// with `cargo build -p <name>` if it is not there yet. Integration tests of
/// one crate use it to run another crate's binary (e.g. `compliance-mock`).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test-binary>
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let bin = profile_dir.join(name);
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", name, "--bin", name]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build");
        assert!(status.success(), "cargo build -p {name} failed");
    }
    assert!(bin.exists(), "{} not found after building", bin.display());
    bin
}

/// moto's S3 server on 127.0.0.1:PORT, with test credentials.
pub struct MotoServer {
    _child: Child,
    pub port: u16,
    _log: tempfile::NamedTempFile,
}

impl MotoServer {
    /// Start `moto_server` (install it with `pip install 'moto[server]'`).
    pub fn start() -> MotoServer {
        MotoServer::start_with_env(&[])
    }

    /// Start moto that enforces IAM after its first `free_actions`
    /// requests (`INITIAL_NO_AUTH_ACTION_COUNT`): set-up (buckets, users,
    /// policies) runs unauthenticated, then every request needs a policy
    /// that allows it. Create users with [`MotoServer::iam_user`].
    pub fn start_with_iam(free_actions: u32) -> MotoServer {
        let n = free_actions.to_string();
        MotoServer::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", n.as_str())])
    }

    /// A free port can be taken by another test's server between
    /// `free_port` and moto's bind; moto then exits, and whatever took the
    /// port would answer in its place. So the port only counts once moto
    /// itself says it runs there, and a moto that exited is started again
    /// on another port.
    fn start_with_env(env: &[(&str, &str)]) -> MotoServer {
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let log = tempfile::NamedTempFile::new().unwrap();
            let child = Command::new("moto_server")
                .envs(env.iter().copied())
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(log.reopen().unwrap())
                .spawn()
                .expect("starting moto_server (pip install 'moto[server]')");
            let mut child = Child(child);
            let running_line = format!("Running on http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if matches!(child.0.try_wait(), Ok(Some(_))) {
                    break;
                }
                last_log = std::fs::read_to_string(log.path()).unwrap_or_default();
                if last_log.contains(&running_line) && wait_for_port(port, Duration::from_secs(5)) {
                    return MotoServer {
                        _child: child,
                        port,
                        _log: log,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("moto_server did not start (five ports tried); its last log:\n{last_log}");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for the AWS SDK and CLI to reach this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
            ("AWS_ENDPOINT_URL".into(), self.endpoint()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    /// Apply [`env`](Self::env) to a command.
    pub fn configure(&self, cmd: &mut crate::TestCommand) {
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
    }

    /// Run Python with a boto3 client named `s3` bound to this server; the
    /// script's stdout is returned. An independent reader for assertions.
    pub fn python(&self, script: &str) -> String {
        let prelude = format!(
            "import boto3, json, sys\n\
             s3 = boto3.client('s3', endpoint_url='{}', region_name='us-east-1',\n\
                 aws_access_key_id='testing', aws_secret_access_key='testing')\n",
            self.endpoint()
        );
        let out = Command::new("python3")
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .output()
            .expect("running python3");
        assert!(
            out.status.success(),
            "python script failed:\n{script}\n---\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Create an IAM user with this inline policy document (JSON) and
    /// return its (access key id, secret). Run it while moto still takes
    /// unauthenticated requests (see [`MotoServer::start_with_iam`]).
    pub fn iam_user(&self, name: &str, policy: &str) -> (String, String) {
        let script = format!(
            "iam = boto3.client('iam', endpoint_url='{}', region_name='us-east-1',\n\
                 aws_access_key_id='testing', aws_secret_access_key='testing')\n\
             iam.create_user(UserName='{name}')\n\
             iam.put_user_policy(UserName='{name}', PolicyName='{name}-policy', PolicyDocument=json.dumps(json.loads({policy:?})))\n\
             k = iam.create_access_key(UserName='{name}')['AccessKey']\n\
             print(k['AccessKeyId'] + ' ' + k['SecretAccessKey'])",
            self.endpoint()
        );
        let out = self.python(&script);
        let mut it = out.split_whitespace();
        (
            it.next().unwrap().to_string(),
            it.next().unwrap().to_string(),
        )
    }

    /// Create a bucket, optionally with Object Lock (which turns on versioning).
    pub fn create_bucket(&self, name: &str, object_lock: bool) {
        let lock = if object_lock { "True" } else { "False" };
        self.python(&format!(
            "s3.create_bucket(Bucket='{name}', ObjectLockEnabledForBucket={lock})"
        ));
    }
}

/// A throw-away PostgreSQL cluster from Debian's `postgresql` package,
/// initialised in a temporary directory and listening on 127.0.0.1:PORT.
pub struct Postgres {
    pub port: u16,
    data: tempfile::TempDir,
    bindir: PathBuf,
    as_postgres: bool,
}

impl Postgres {
    pub fn start() -> Postgres {
        let bindir = pg_bindir();
        let data = tempfile::Builder::new()
            .prefix("pgtest-")
            .tempdir()
            .unwrap();
        // PostgreSQL refuses to run as root; run it as the `postgres` user then.
        let as_postgres = unsafe { libc_geteuid() } == 0;
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(data.path())
                .status()
                .unwrap();
            assert!(
                ok.success(),
                "chown of the PostgreSQL data directory failed"
            );
        }
        let port = free_port();
        let pg = Postgres {
            port,
            data,
            bindir,
            as_postgres,
        };
        let pgdata = pg.data.path().join("db");
        let sock = pg.data.path().to_path_buf();
        pg.run_as(
            pg.bindir.join("initdb"),
            &[
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "-D",
            ],
            &pgdata,
        );
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c timezone=UTC -c full_page_writes=off",
            sock.display()
        );
        let mut c = pg.base_cmd(pg.bindir.join("pg_ctl"));
        c.args(["-w", "-t", "60", "-l"])
            .arg(pg.data.path().join("log"))
            .arg("-o")
            .arg(opts)
            .arg("-D")
            .arg(&pgdata)
            .arg("start");
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(pg.data.path().join("log")).unwrap_or_default()
        );
        pg
    }

    fn base_cmd(&self, prog: PathBuf) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(prog);
            c
        } else {
            Command::new(prog)
        }
    }

    fn run_as(&self, prog: PathBuf, args: &[&str], last: &Path) {
        let out = self
            .base_cmd(prog.clone())
            .args(args)
            .arg(last)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} failed: {}",
            prog.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Environment for psql, pg_dump and scripts (`PGHOST`, `PGPORT`, ...).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PGHOST".into(), "127.0.0.1".into()),
            ("PGPORT".into(), self.port.to_string()),
            ("PGUSER".into(), "postgres".into()),
            ("PGDATABASE".into(), "postgres".into()),
            ("PGTZ".into(), "UTC".into()),
        ]
    }

    /// Directory of initdb, pg_ctl, pg_dump and psql.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// Run SQL with psql (ON_ERROR_STOP) and return its unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new(self.bindir.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .envs(self.env())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql failed on {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut c = self.base_cmd(self.bindir.join("pg_ctl"));
        let _ = c
            .args(["-m", "immediate", "-D"])
            .arg(self.data.path().join("db"))
            .arg("stop")
            .output();
    }
}

fn pg_bindir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if p.join("initdb").exists() {
            return p;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .expect("PostgreSQL server binaries not found (apt-get install postgresql)")
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// A server binary that announces itself with one first stdout line
/// `{"listening": "http://127.0.0.1:PORT"}` (the mock Compliance API),
/// killed when dropped.
pub struct ListeningServer {
    _child: Child,
    /// Base URL without a trailing slash.
    pub url: String,
    pub port: u16,
}

impl ListeningServer {
    /// Start `bin --port 0 ARGS…` and wait for its `listening` line.
    pub fn start(bin: &Path, args: &[&str]) -> ListeningServer {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(bin)
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let child = Child(child);
        let v: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|e| {
            panic!(
                "{} printed {first:?} instead of its listening line: {e}",
                bin.display()
            )
        });
        let url = v["listening"]
            .as_str()
            .expect("a listening URL")
            .trim_end_matches('/')
            .to_string();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the listening URL");
        ListeningServer {
            _child: child,
            url,
            port,
        }
    }
}
