use std::fs;
use std::path::{Path, PathBuf};

use crate::TestCommand;

/// A unique temporary directory for one test, removed on drop unless the
/// environment variable `KEEP_TEST_DIRS` is set (for debugging).
pub struct Dir {
    tmp: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl Dir {
    /// A fresh directory whose name starts with the test's name.
    pub fn new(name: &str) -> Dir {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .tempdir()
            .expect("creating a temporary directory");
        let path = tmp.path().to_path_buf();
        Dir {
            tmp: Some(tmp),
            path,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `self.path()/rel`.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// Write a file (creating parents) and return its path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, contents).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
        p
    }

    /// Read a file as UTF-8.
    pub fn read(&self, rel: &str) -> String {
        let p = self.join(rel);
        fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
    }

    /// Read a file's bytes.
    pub fn read_bytes(&self, rel: &str) -> Vec<u8> {
        let p = self.join(rel);
        fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
    }

    /// Every regular file under `rel` (or the whole dir for ""), as sorted
    /// relative POSIX paths.
    pub fn files(&self, rel: &str) -> Vec<String> {
        let base = if rel.is_empty() {
            self.path.clone()
        } else {
            self.join(rel)
        };
        let mut out = Vec::new();
        walk(&base, &base, &mut out);
        out.sort();
        out
    }

    /// A command running `bin` with this directory as its working directory.
    pub fn command(&self, bin: impl AsRef<Path>) -> TestCommand {
        let mut c = TestCommand::new(bin.as_ref());
        c.current_dir(&self.path);
        c
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_DIRS").is_some() {
            if let Some(t) = self.tmp.take() {
                eprintln!("keeping {}", t.keep().display());
            }
        }
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            walk(base, &p, out);
        } else if ft.is_file() {
            let rel = p.strip_prefix(base).unwrap();
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}
