//! Atomic file writes: write to a temporary name in the same directory,
//! fsync, rename into place, fsync the directory. A crash never leaves a
//! half-written file under its final name; a dropped, uncommitted
//! [`AtomicFile`] removes its temporary file.

use anyhow::{Context, Result};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file being written under a temporary name next to its final path.
pub struct AtomicFile {
    file: Option<File>,
    tmp: PathBuf,
    dest: PathBuf,
    /// Bytes written, and where the last [`start_writeback`](Self::start_writeback) reached.
    written: u64,
    written_back: u64,
}

/// Written bytes after which the kernel is asked to start writing them to
/// disk, so that `commit`'s fsync of a large file waits for the last few
/// MiB only, not for all of it after the work is done.
const WRITE_BEHIND: u64 = 8 << 20;

impl AtomicFile {
    /// Create the parent directories and a fresh temporary file beside `dest`.
    pub fn create(dest: impl AsRef<Path>) -> Result<AtomicFile> {
        let dest = dest.as_ref().to_path_buf();
        let dir = parent_dir(&dest);
        fs::create_dir_all(&dir)
            .with_context(|| format!("creating directory {}", dir.display()))?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Pid plus a counter keeps concurrent writers (threads or processes) apart.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(temp_name(&name, n));
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(AtomicFile {
            file: Some(file),
            tmp,
            dest,
            written: 0,
            written_back: 0,
        })
    }

    /// The final path this file will have after [`commit`](Self::commit).
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// The underlying file, for APIs that want a `File` (e.g. parquet writers).
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file present until commit")
    }

    /// Ask the kernel to start writing what was written so far to disk,
    /// without waiting: a large file written in stages then waits at
    /// [`commit`](Self::commit) for its last stage only, not all of it.
    /// Done by itself every few MiB written ([`WRITE_BEHIND`]).
    pub fn start_writeback(&mut self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (from, len) = (self.written_back, self.written - self.written_back);
            let fd = self.file().as_raw_fd();
            // SAFETY: a plain syscall on an open descriptor. Only a hint:
            // a failure is found by commit's fsync.
            unsafe {
                libc::sync_file_range(fd, from as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
            }
        }
        self.written_back = self.written;
    }

    /// fsync, rename into place, fsync the directory.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("file present until commit");
        file.sync_all()
            .with_context(|| format!("fsync {}", self.tmp.display()))?;
        drop(file);
        fs::rename(&self.tmp, &self.dest).with_context(|| {
            format!("renaming {} to {}", self.tmp.display(), self.dest.display())
        })?;
        sync_dir(&parent_dir(&self.dest))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file().write(buf)?;
        self.written += n as u64;
        if self.written - self.written_back >= WRITE_BEHIND {
            self.start_writeback();
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Write `bytes` to `dest` atomically.
pub fn write_file(dest: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(dest.as_ref())?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", dest.as_ref().display()))?;
    f.commit()
}

/// fsync a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).with_context(|| format!("opening directory {}", dir.display()))?;
    d.sync_all()
        .with_context(|| format!("fsync directory {}", dir.display()))
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// True for the temporary names [`AtomicFile`] uses, so directory walkers
/// (manifest, ship) can skip leftovers of a crashed writer.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

/// The temporary name for `name` written by this process: `.{name}.tmp-{pid}-{n}`.
/// Every tool uses this shape (for files and for spill directories), so
/// [`sweep_stale_temps`] can tell whose leftover a name is.
pub fn temp_name(name: &str, n: u64) -> String {
    format!(".{name}.tmp-{}-{n}", std::process::id())
}

/// The process id a temporary name carries, if it has the shape of
/// [`temp_name`].
pub fn temp_owner(name: &str) -> Option<u32> {
    if !name.starts_with('.') {
        return None;
    }
    let at = name.rfind(".tmp-")?;
    let rest = &name[at + 5..];
    let pid = rest.split('-').next()?;
    pid.parse().ok()
}

/// True while a process with this id exists (signal 0 probes without
/// sending anything; EPERM means it exists under another user).
pub fn process_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: kill with signal 0 performs only the permission and existence check.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Remove, under `root`, the temporary files and directories (names of the
/// [`temp_name`] shape) left by processes that no longer exist: what a
/// `kill -9` leaves behind. Symlinks are never followed or removed, and only
/// names of that shape are touched. Returns how many were removed.
pub fn sweep_stale_temps(root: &Path) -> Result<u64> {
    let mut removed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            // An unreadable directory is the walker's business, not ours.
            Err(_) => continue,
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let stale = temp_owner(&name).is_some_and(|pid| !process_alive(pid));
            if kind.is_symlink() {
                continue;
            }
            let path = entry.path();
            if stale {
                let r = if kind.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                r.with_context(|| format!("removing the leftover {}", path.display()))?;
                removed += 1;
            } else if kind.is_dir() {
                stack.push(path);
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_and_abandon() {
        let dir = std::env::temp_dir().join(format!("atomic-test-{}", std::process::id()));
        let dest = dir.join("a/b/out.txt");
        let mut f = AtomicFile::create(&dest).unwrap();
        f.write_all(b"hello").unwrap();
        assert!(!dest.exists(), "visible before commit");
        f.commit().unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"hello");

        let mut g = AtomicFile::create(&dest).unwrap();
        g.write_all(b"half").unwrap();
        drop(g);
        assert_eq!(
            fs::read(&dest).unwrap(),
            b"hello",
            "abandoned write replaced the file"
        );
        let leftovers: Vec<_> = fs::read_dir(dest.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_swept() {
        let dir = std::env::temp_dir().join(format!("sweep-test-{}", std::process::id()));
        fs::create_dir_all(dir.join("sub/.spill.tmp-999999999-3")).unwrap();
        fs::write(dir.join("sub/.spill.tmp-999999999-3/chunk"), b"x").unwrap();
        fs::write(dir.join("sub/.a.json.tmp-999999999-0"), b"x").unwrap();
        let mine = dir.join(temp_name("b.json", 7));
        fs::write(&mine, b"x").unwrap();
        fs::write(dir.join("keep.tmp-999999999-0"), b"x").unwrap();
        assert_eq!(temp_owner(".a.json.tmp-123-4"), Some(123));
        assert_eq!(temp_owner("a.json"), None);
        assert_eq!(sweep_stale_temps(&dir).unwrap(), 2);
        assert!(mine.exists(), "a live process's temporary was removed");
        assert!(
            dir.join("keep.tmp-999999999-0").exists(),
            "a name we never create was removed"
        );
        assert!(!dir.join("sub/.a.json.tmp-999999999-0").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
