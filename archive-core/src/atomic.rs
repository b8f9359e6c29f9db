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
}

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
        let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(AtomicFile {
            file: Some(file),
            tmp,
            dest,
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
        self.file().write(buf)
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
}
