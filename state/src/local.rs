//! State in a local directory (a destination that is a directory, an NFS
//! mount): the same rules as S3's conditional requests, kept by holding an
//! exclusive lock file (`flock`) while comparing versions and renaming.
//! A version is the SHA-256 of the file's bytes.

use crate::model::{Tag, Written};
use anyhow::{Context, Result};
use std::fs::{self, File};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

pub struct LocalStore {
    dir: PathBuf,
}

/// The directory's lock, released when dropped.
struct Locked(File);

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: unlocking a descriptor this struct owns.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl LocalStore {
    pub fn new(dir: PathBuf) -> LocalStore {
        LocalStore { dir }
    }

    pub fn describe(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn lock(&self) -> Result<Locked> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let path = self.dir.join(".lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock on a descriptor we own; blocks until granted.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("locking {}", path.display()));
        }
        // Under the lock no writer of ours is half-way: a temporary of a dead
        // process is what a kill -9 left.
        archive_core::atomic::sweep_stale_temps(&self.dir)?;
        Ok(Locked(f))
    }

    /// A name's path, refusing anything that would leave the directory or
    /// pass through a symlink.
    fn path(&self, name: &str) -> Result<PathBuf> {
        let p = archive_core::naming::join_under(&self.dir, name)
            .map_err(|e| archive_core::Failure::usage(format!("{e:#}")))?;
        let mut at = self.dir.clone();
        for seg in name.split('/') {
            at.push(seg);
            if fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                anyhow::bail!(
                    "{} is a symlink: state files are never read or written through links",
                    at.display()
                );
            }
        }
        Ok(p)
    }

    pub fn list(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = vec![(self.dir.clone(), String::new())];
        while let Some((d, rel)) = stack.pop() {
            let entries = match fs::read_dir(&d) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("reading {}", d.display())),
            };
            for e in entries {
                let e = e?;
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let child = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                let ft = e.file_type()?;
                if ft.is_dir() {
                    stack.push((e.path(), child));
                } else if ft.is_file() {
                    out.push(child);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    pub fn get(&self, name: &str) -> Result<Option<(Vec<u8>, Tag)>> {
        read(&self.path(name)?)
    }

    pub fn put(&self, name: &str, bytes: &[u8], expect: Option<&Tag>) -> Result<Written> {
        let path = self.path(name)?;
        let _lock = self.lock()?;
        let now = read(&path)?.map(|(_, t)| t);
        if now.as_ref() != expect {
            return Ok(Written::Conflict);
        }
        archive_core::atomic::write_file(&path, bytes)?;
        Ok(Written::Done(archive_core::hash::sha256_hex(bytes)))
    }

    pub fn delete(&self, name: &str, expect: &Tag) -> Result<Written> {
        let path = self.path(name)?;
        let _lock = self.lock()?;
        match read(&path)? {
            Some((_, t)) if &t == expect => {
                fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
                Ok(Written::Done(String::new()))
            }
            _ => Ok(Written::Conflict),
        }
    }
}

fn read(path: &Path) -> Result<Option<(Vec<u8>, Tag)>> {
    match fs::read(path) {
        Ok(b) => {
            let tag = archive_core::hash::sha256_hex(&b);
            Ok(Some((b, tag)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
