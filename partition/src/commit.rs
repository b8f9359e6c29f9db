//! Durable, atomic output in batches. Each file is written under a
//! temporary name in its final directory; a batch is made durable with one
//! `syncfs` (instead of one fsync per file, which dominates when a run
//! writes tens of thousands of small files), then renamed into place and
//! synced again, and only then are the batch's file lines printed. A crash
//! therefore never leaves a half file under a final name, and nothing is
//! reported before it is on disk.
//!
//! Batches are committed on a thread of their own, so the merge and the
//! writers go on with the next batch while the disk catches up (one batch
//! waits at most; the next flush blocks until it is taken).

use crate::dirs::DirMemo;
use anyhow::{Context, Result};
use archive_core::io::LineOut;
use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Flush a batch after this many files or bytes.
const BATCH_FILES: usize = 8192;
const BATCH_BYTES: u64 = 512 << 20;

pub struct Committer {
    root: PathBuf,
    dry_run: bool,
    staged: Vec<(PathBuf, PathBuf)>,
    staged_bytes: u64,
    removals: Vec<PathBuf>,
    lines: Vec<String>,
    counter: u64,
    writers: Option<crate::writers::Writers>,
    write_threads: usize,
    /// Where batches go to be made durable, renamed and reported.
    batches: Option<mpsc::SyncSender<Batch>>,
    commit_thread: Option<JoinHandle<Result<u64>>>,
    /// Lines of a dry run, printed at each flush.
    out: LineOut,
    pub files_removed: u64,
}

/// Files written under temporary names, files to remove, and the lines to
/// print once both are done.
#[derive(Default)]
struct Batch {
    staged: Vec<(PathBuf, PathBuf)>,
    removals: Vec<PathBuf>,
    lines: Vec<String>,
}

impl Committer {
    pub fn new(root: PathBuf, dry_run: bool, write_threads: usize) -> Committer {
        Committer {
            root,
            dry_run,
            staged: Vec::new(),
            staged_bytes: 0,
            removals: Vec::new(),
            lines: Vec::new(),
            counter: 0,
            writers: None,
            write_threads,
            batches: None,
            commit_thread: None,
            out: LineOut::new(),
            files_removed: 0,
        }
    }

    /// A fresh temporary path beside `dest`: `.<name>.tmp-<pid>-<n>`, a name
    /// manifest and ship skip and a later run removes if this one is killed.
    fn temp_path(&mut self, dest: &Path) -> PathBuf {
        self.counter += 1;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        dest.with_file_name(archive_core::atomic::temp_name(&name, self.counter))
    }

    /// Write `bytes` for `dest` under a temporary name; renamed at the flush.
    /// The bytes are written by worker threads, which first create the
    /// directories `dirs` says are missing. A path through a link is refused.
    pub fn stage(&mut self, dirs: &DirMemo, dest: &Path, bytes: Vec<u8>) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        let mkdirs = match dest.parent() {
            Some(d) => dirs.plan_mkdirs(d)?,
            None => Vec::new(),
        };
        let tmp = self.temp_path(dest);
        self.staged_bytes += bytes.len() as u64;
        let threads = self.write_threads;
        let writers = self
            .writers
            .get_or_insert_with(|| crate::writers::Writers::new(threads));
        writers.submit(mkdirs, tmp, dest.to_path_buf(), bytes, &mut self.staged)
    }

    fn pending_files(&self) -> usize {
        self.staged.len() + self.writers.as_ref().map_or(0, |w| w.outstanding())
    }

    /// Take over a temporary file written elsewhere (the quarantine).
    pub fn adopt(&mut self, tmp: PathBuf, dest: PathBuf) {
        self.staged.push((tmp, dest));
    }

    /// Remove `path` at the next flush (after the renames).
    pub fn remove(&mut self, path: PathBuf) {
        if !self.dry_run {
            self.removals.push(path);
        }
    }

    /// Queue a line; it is printed after the batch it belongs to is durable.
    pub fn line(&mut self, line: String) {
        self.lines.push(line);
    }

    pub fn maybe_flush(&mut self) -> Result<()> {
        if self.pending_files() >= BATCH_FILES || self.staged_bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Hand the batch to the commit thread once every file of it is
    /// written (dry run: print its lines).
    pub fn flush(&mut self) -> Result<()> {
        if self.dry_run {
            for l in std::mem::take(&mut self.lines) {
                self.out.line(&l)?;
            }
            return Ok(self.out.flush()?);
        }
        if let Some(w) = self.writers.as_mut() {
            w.wait_all(&mut self.staged)?;
        }
        let batch = Batch {
            staged: std::mem::take(&mut self.staged),
            removals: std::mem::take(&mut self.removals),
            lines: std::mem::take(&mut self.lines),
        };
        self.staged_bytes = 0;
        let root = self.root.clone();
        let tx = self.batches.get_or_insert_with(|| {
            let (tx, rx) = mpsc::sync_channel::<Batch>(1);
            self.commit_thread = Some(std::thread::spawn(move || commit_all(&root, rx)));
            tx
        });
        if let Err(mpsc::SendError(batch)) = tx.send(batch) {
            // The commit thread stopped on an error: the batch's temporary
            // files are left for Drop to remove, and that error reported.
            self.staged = batch.staged;
            self.join()?;
            return Err(anyhow::anyhow!("commit thread stopped"));
        }
        Ok(())
    }

    /// Flush the last batch and wait until everything is committed.
    pub fn finish(&mut self) -> Result<()> {
        self.flush()?;
        self.join()
    }

    fn join(&mut self) -> Result<()> {
        self.batches = None;
        if let Some(t) = self.commit_thread.take() {
            self.files_removed += t.join().expect("commit thread panicked")?;
        }
        Ok(())
    }
}

/// The commit thread: each batch made durable, renamed, synced, reported.
/// Returns the number of files removed.
fn commit_all(root: &Path, batches: mpsc::Receiver<Batch>) -> Result<u64> {
    let mut dir = None;
    let mut out = LineOut::new();
    let mut removed = 0;
    for batch in batches {
        let done = RootDir::open_once(&mut dir, root)
            .and_then(|root| commit(root, &batch, &mut out, &mut removed));
        if let Err(e) = done {
            for (tmp, _) in &batch.staged {
                let _ = fs::remove_file(tmp);
            }
            return Err(e);
        }
    }
    Ok(removed)
}

fn commit(root: &RootDir, batch: &Batch, out: &mut LineOut, removed: &mut u64) -> Result<()> {
    if !batch.staged.is_empty() || !batch.removals.is_empty() {
        root.sync(&batch.staged, true)?;
        for (tmp, dest) in &batch.staged {
            root.rename(tmp, dest)
                .with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))?;
        }
        for p in &batch.removals {
            match fs::remove_file(p) {
                Ok(()) => *removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
            }
        }
        root.sync(&batch.staged, false)?;
    }
    for l in &batch.lines {
        out.line(l)?;
    }
    out.flush()?;
    Ok(())
}

/// The output root, opened once by the commit thread. Renames name their
/// paths from it: a rename walks both of its paths component by component,
/// and the root's own path (`bench/data/out`, or a long absolute one) was
/// walked twice per file for nothing.
struct RootDir {
    path: PathBuf,
    dir: File,
}

impl RootDir {
    /// The root kept in `slot`, opened the first time (an error is then
    /// the batch's, whose temporaries are removed like any other's).
    fn open_once<'s>(slot: &'s mut Option<RootDir>, path: &Path) -> Result<&'s RootDir> {
        if slot.is_none() {
            let dir = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            *slot = Some(RootDir {
                path: path.to_path_buf(),
                dir,
            });
        }
        Ok(slot.as_ref().expect("opened above"))
    }

    /// Rename `from` to `to` (both under the root, else by their full
    /// paths). Like a plain rename, a link in the last component is
    /// renamed, never followed; links above it were refused before
    /// anything was written there.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (Some(f), Some(t)) = (self.relative(from), self.relative(to)) else {
            return fs::rename(from, to);
        };
        let (f, t) = (
            CString::new(f.as_os_str().as_bytes())?,
            CString::new(t.as_os_str().as_bytes())?,
        );
        let fd = self.dir.as_raw_fd();
        // SAFETY: both names are NUL-terminated and outlive the call; `fd`
        // is kept open by `self.dir`.
        if unsafe { libc::renameat(fd, f.as_ptr(), fd, t.as_ptr()) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// `p` relative to the root, when it is below it. Every path here is
    /// the root joined with a relative one, so comparing bytes is enough
    /// (and cheaper than matching components, which cost about what the
    /// kernel's walk of them did).
    fn relative<'p>(&self, p: &'p Path) -> Option<&'p Path> {
        let root = self.path.as_os_str().as_bytes();
        let rest = p.as_os_str().as_bytes().strip_prefix(root)?;
        if !root.ends_with(b"/") && !rest.starts_with(b"/") {
            return None;
        }
        let start = rest.iter().position(|&b| b != b'/')?;
        Some(Path::new(std::ffi::OsStr::from_bytes(&rest[start..])))
    }

    /// One syncfs for the file system of the root. Where that is not
    /// available, fsync the staged files (before renaming) and their
    /// directories (after).
    fn sync(&self, staged: &[(PathBuf, PathBuf)], before_rename: bool) -> Result<()> {
        // SAFETY: syncfs only reads the descriptor, which `self.dir` keeps open.
        if unsafe { libc::syncfs(self.dir.as_raw_fd()) } == 0 {
            return Ok(());
        }
        if before_rename {
            for (tmp, _) in staged {
                File::open(tmp)
                    .and_then(|f| f.sync_all())
                    .with_context(|| format!("fsync {}", tmp.display()))?;
            }
        } else {
            let mut dirs: Vec<&Path> = staged.iter().filter_map(|(_, d)| d.parent()).collect();
            dirs.sort();
            dirs.dedup();
            for d in dirs {
                archive_core::atomic::sync_dir(d)?;
            }
        }
        Ok(())
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        // Batches already handed over are complete: let them be committed.
        let _ = self.join();
        if let Some(w) = self.writers.as_mut() {
            let _ = w.wait_all(&mut self.staged);
        }
        for (tmp, _) in &self.staged {
            let _ = fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_under_the_root_are_named_from_it() {
        let base = std::env::temp_dir().join(format!("partition-commit-{}", std::process::id()));
        let root_path = base.join("out");
        fs::create_dir_all(root_path.join("u/2025")).unwrap();
        let mut slot = None;
        let root = RootDir::open_once(&mut slot, &root_path).unwrap();
        let rel = |p: &str| root.relative(Path::new(p)).map(Path::to_path_buf);
        let under = |r: &str| root_path.join(r).display().to_string();
        assert_eq!(rel(&under("u/2025/x")), Some(PathBuf::from("u/2025/x")));
        assert_eq!(rel(&under("x")), Some(PathBuf::from("x")));
        assert_eq!(rel(&root_path.display().to_string()), None);
        assert_eq!(rel(&format!("{}er/x", root_path.display())), None);
        assert_eq!(rel("/elsewhere/x"), None);

        let (tmp, dest) = (root_path.join("u/2025/.x.tmp"), root_path.join("u/2025/x"));
        fs::write(&tmp, b"data").unwrap();
        root.rename(&tmp, &dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"data");
        assert!(!tmp.exists());
        // A path outside the root is renamed by its full name.
        let outside = base.join("outside");
        fs::write(&outside, b"o").unwrap();
        root.rename(&outside, &base.join("moved")).unwrap();
        assert_eq!(fs::read(base.join("moved")).unwrap(), b"o");
        fs::remove_dir_all(&base).unwrap();
    }
}
