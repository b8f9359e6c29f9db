//! The one parallel pass that opens, stats and hashes every planned file
//! of every target, on all cores.
//!
//! Nothing is followed out of the root: a file is opened with
//! `O_NOFOLLOW`, and a path the walk did not vouch for has each of its
//! directories checked too. A hash is kept only when the file looked the
//! same (size, mtime, ctime, and the inode at the path) before and after it was read; a file that changed is hashed
//! once more, and fails if it changes again.

use crate::hashing;
use crate::model::{FileStat, Found, Item, Mtime, Target};
use crate::progress::Progress;
use crate::write::plan::Plan;
use rayon::prelude::*;
use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

thread_local! {
    /// The path being opened, reused so the pass does not allocate per file.
    static PATH: RefCell<PathBuf> = const { RefCell::new(PathBuf::new()) };
}

/// How one target's files are opened.
#[derive(Clone, Copy)]
struct Rules<'a> {
    trust_unchanged: bool,
    /// `--follow-internal-links`: the canonical root links must stay in.
    follow_inside: Option<&'a Path>,
}

/// Probe every planned file of every target not refused: open, fstat,
/// then reuse the previous digest (`--trust-unchanged`) or hash.
pub fn probe_all(
    plans: &mut [Plan],
    targets: &[Target],
    trust_unchanged: bool,
    follow_links: bool,
    progress: &Progress,
) {
    plans
        .par_iter_mut()
        .zip(targets.par_iter())
        .filter(|(plan, _)| plan.refused.is_none())
        .for_each(|(plan, t)| {
            let rules = Rules {
                trust_unchanged,
                follow_inside: t.canonical.as_deref().filter(|_| follow_links),
            };
            plan.items.par_iter_mut().for_each(|it| {
                PATH.with(|p| {
                    let mut p = p.borrow_mut();
                    p.as_mut_os_string().clear();
                    p.push(&t.dir);
                    p.push(&it.rel);
                    it.found = probe_item(&p, &t.dir, it, rules, progress);
                });
            })
        });
}

fn probe_item(path: &Path, dir: &Path, it: &Item, rules: Rules, progress: &Progress) -> Found {
    // Only an unannounced file may keep its old digest.
    let reuse = match (&it.entry, it.announced) {
        (Some(o), None) if rules.trust_unchanged => o.mtime.map(|m| (o.bytes, m)),
        _ => None,
    };
    if let Some(root) = rules.follow_inside {
        return match std::fs::canonicalize(path) {
            Ok(real) if real.starts_with(root) => probe(&real, reuse, progress),
            Ok(_) => Found::Link,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Found::Absent,
            Err(e) => Found::Unreadable(format!("resolving {}: {e}", path.display())),
        };
    }
    if !it.walked {
        match through_link(dir, &it.rel) {
            Ok(false) => {}
            Ok(true) => return Found::Link,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Found::Absent,
            Err(e) => return Found::Unreadable(format!("reading {}: {e}", path.display())),
        }
    }
    probe(path, reuse, progress)
}

/// True when a directory on the way from `dir` to `rel` is a link (the
/// last component is opened with `O_NOFOLLOW`).
fn through_link(dir: &Path, rel: &str) -> io::Result<bool> {
    let mut p = dir.to_path_buf();
    let mut parts = rel.split('/').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            break;
        }
        p.push(part);
        if std::fs::symlink_metadata(&p)?.file_type().is_symlink() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Open without following a link (and without blocking on a FIFO).
fn open(path: &Path) -> io::Result<File> {
    in_dir(path, |dir, name| {
        // SAFETY: a plain syscall on a live descriptor and a NUL-ended name.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the descriptor was just opened and is owned by nobody else.
        Ok(unsafe { File::from_raw_fd(fd) })
    })
}

thread_local! {
    /// The directory this thread last opened a file in. Files come sorted,
    /// so most share it with the file before, and opening or looking one up
    /// is then one name instead of a walk of the whole path (a tenth of
    /// the system time on a tree of tiny files). A file renamed over
    /// another is still seen; a whole directory swapped during the run is
    /// read as it was when the first of its files was opened.
    static DIR: RefCell<Option<(PathBuf, OwnedFd)>> = const { RefCell::new(None) };
}

/// Run `f` with a descriptor of `path`'s directory and its file name.
fn in_dir<T>(path: &Path, f: impl FnOnce(BorrowedFd<'_>, &CStr) -> io::Result<T>) -> io::Result<T> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file path",
        ));
    };
    let name = CString::new(name.as_bytes())?;
    DIR.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.as_ref().is_none_or(|(p, _)| p != parent) {
            let shown = match parent.as_os_str().is_empty() {
                true => Path::new("."),
                false => parent,
            };
            let dir = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
                .open(shown)?;
            *cached = Some((parent.to_path_buf(), dir.into()));
        }
        let (_, dir) = cached.as_ref().expect("just set");
        f(dir.as_fd(), &name)
    })
}

fn probe(path: &Path, reuse: Option<(u64, Mtime)>, progress: &Progress) -> Found {
    let mut last_change = None;
    for attempt in 0..2 {
        match hash_once(path, reuse, progress) {
            Attempt::Done(found) => return found,
            Attempt::Changed(why) if attempt == 0 => {
                eprintln!(
                    "manifest: warning: {} changed while it was hashed ({why}); hashing it again",
                    path.display()
                );
                last_change = Some(why);
            }
            Attempt::Changed(why) => last_change = Some(why),
        }
    }
    Found::Unreadable(format!(
        "{} changed while it was hashed, twice ({}); not recorded",
        path.display(),
        last_change.unwrap_or_default()
    ))
}

/// One attempt at a stable digest.
enum Attempt {
    Done(Found),
    /// The file changed while it was read: what differed.
    Changed(String),
}

fn hash_once(path: &Path, reuse: Option<(u64, Mtime)>, progress: &Progress) -> Attempt {
    let file = match open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Attempt::Done(Found::Absent),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Attempt::Done(Found::Link),
        Err(e) => {
            return Attempt::Done(Found::Unreadable(format!(
                "opening {}: {e}",
                path.display()
            )))
        }
    };
    let meta = match file.metadata() {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Attempt::Done(Found::Absent),
        Err(e) => {
            return Attempt::Done(Found::Unreadable(format!(
                "reading {}: {e}",
                path.display()
            )))
        }
    };
    let mtime = meta.modified().ok().map(Mtime::from_system);
    if let Some((bytes, old_mtime)) = reuse {
        if bytes == meta.len() && mtime == Some(old_mtime) {
            progress.skipped(bytes);
            return Attempt::Done(Found::Reused);
        }
    }
    let before = FileStat::of(&meta);
    let (bytes, sha256) = match hashing::hash_open(&file, meta.len(), Some(progress.bytes())) {
        Ok(d) => d,
        Err(e) => {
            return Attempt::Done(Found::Unreadable(format!(
                "reading {}: {e}",
                path.display()
            )))
        }
    };
    match stat_after(path) {
        Ok(after) if after == before && bytes == before.len => Attempt::Done(Found::Hashed {
            bytes,
            mtime,
            sha256,
        }),
        Ok(after) => Attempt::Changed(describe_change(&before, &after, bytes)),
        Err(e) => Attempt::Changed(format!("gone: {e}")),
    }
}

/// The file's stat after it was read, looked up by its path: the same
/// inode as was opened (device and inode number equal) means these are the
/// open file's own size, mtime and ctime now, which any write to it
/// changes; another inode means something was renamed over it. One lookup
/// serves both (an fstat of the open file as well cost a tenth of the
/// system time on a tree of tiny files).
fn stat_after(path: &Path) -> io::Result<FileStat> {
    in_dir(path, |dir, name| {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: a plain syscall filling `st`, read only when it succeeded.
        let rc = unsafe {
            libc::fstatat(
                dir.as_raw_fd(),
                name.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstatat succeeded, so it filled the struct.
        let st = unsafe { st.assume_init() };
        Ok(FileStat {
            len: st.st_size as u64,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
            ino: st.st_ino,
            dev: st.st_dev,
        })
    })
}

fn describe_change(before: &FileStat, after: &FileStat, read: u64) -> String {
    let mut what = Vec::new();
    if before.len != after.len || read != before.len {
        what.push(format!("{} bytes, then {}", before.len, after.len));
    }
    if before.mtime != after.mtime {
        what.push("mtime".to_string());
    }
    if before.ctime != after.ctime {
        what.push("ctime".to_string());
    }
    if (before.ino, before.dev) != (after.ino, after.dev) {
        what.push("replaced by another file".to_string());
    }
    what.join(", ")
}
