//! File access below a root that never follows a symlink: every component
//! of a relative path is opened with `openat(…, O_NOFOLLOW)` relative to
//! the directory before it, so a link planted in a folder, a spool or a
//! local destination cannot redirect a read, a write or a delete outside
//! it. The root itself may be a link (the user named it).

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A path below the root went through a symlink; nothing was followed.
#[derive(Debug)]
pub struct Symlink(pub String);

impl std::fmt::Display for Symlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: is a symlink (not followed)", self.0)
    }
}

impl std::error::Error for Symlink {}

/// Identity and change markers of a file, from fstat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl Signature {
    pub fn of(file: &File) -> io::Result<Signature> {
        use std::os::unix::fs::MetadataExt;
        let m = file.metadata()?;
        Ok(Signature {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        })
    }
}

fn cstr(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn is_loop(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

fn open_at(
    dir: RawFd,
    name: &CString,
    flags: libc::c_int,
    mode: libc::c_uint,
) -> io::Result<OwnedFd> {
    // SAFETY: a valid directory fd and a NUL-terminated name; the returned
    // descriptor is owned by the OwnedFd.
    let fd = check(unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn components(rel: &str) -> io::Result<Vec<&str>> {
    let parts: Vec<&str> = rel.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{rel:?}: not a plain relative path"),
        ));
    }
    Ok(parts)
}

/// The directory holding `rel` (opened without following links, created
/// when `create`), and the last component's name.
fn parent_of(root: &Path, rel: &str, create: bool) -> io::Result<(OwnedFd, CString)> {
    let parts = components(rel)?;
    let root_c = cstr(root.as_os_str().as_bytes())?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY;
    let mut dir = open_at(libc::AT_FDCWD, &root_c, flags, 0)?;
    let (last, dirs) = parts.split_last().expect("split gives one part at least");
    for (i, d) in dirs.iter().enumerate() {
        let name = cstr(d.as_bytes())?;
        let next = match open_at(dir.as_raw_fd(), &name, flags | libc::O_NOFOLLOW, 0) {
            Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                // SAFETY: valid fd and name.
                let r = unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o777) };
                if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::AlreadyExists {
                    return Err(io::Error::last_os_error());
                }
                open_at(dir.as_raw_fd(), &name, flags | libc::O_NOFOLLOW, 0)
            }
            other => other,
        };
        dir = next.map_err(|e| {
            // ENOTDIR: a regular file where a directory should be; ELOOP: a link.
            if is_loop(&e) || lstat_at(dir.as_raw_fd(), &name).is_ok_and(|k| k == Kind::Symlink) {
                io::Error::other(Symlink(parts[..=i].join("/")))
            } else {
                e
            }
        })?;
    }
    Ok((dir, cstr(last.as_bytes())?))
}

/// What is at a name, without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Missing,
    File,
    Symlink,
    Other,
}

fn lstat_at(dir: RawFd, name: &CString) -> io::Result<Kind> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd, name and a stat buffer of the right type.
    let r = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::NotFound => Ok(Kind::Missing),
            _ => Err(e),
        };
    }
    Ok(match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    })
}

/// Open `root/rel` for reading; a symlink anywhere below the root is a
/// [`Symlink`] error, anything but a regular file an error too.
pub fn open_file(root: &Path, rel: &str) -> io::Result<File> {
    let (dir, name) = parent_of(root, rel, false)?;
    // O_NONBLOCK: a FIFO planted in a folder must not hang the run.
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK;
    let fd = open_at(dir.as_raw_fd(), &name, flags, 0).map_err(|e| {
        if is_loop(&e) {
            io::Error::other(Symlink(rel.to_string()))
        } else {
            e
        }
    })?;
    let file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!("{rel}: not a regular file")));
    }
    Ok(file)
}

/// What is at `root/rel`, without following links on the way or at the end.
pub fn kind(root: &Path, rel: &str) -> io::Result<Kind> {
    match parent_of(root, rel, false) {
        Ok((dir, name)) => lstat_at(dir.as_raw_fd(), &name),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Kind::Missing),
        Err(e) => Err(e),
    }
}

/// Remove `root/rel` only if it is still the regular file `expected` (same
/// device and inode): the drain's delete, which never follows a link and
/// never removes a file that replaced the one uploaded. Returns whether it
/// was removed.
pub fn remove_file(root: &Path, rel: &str, expected: Option<&Signature>) -> io::Result<bool> {
    let (dir, name) = parent_of(root, rel, false)?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd, name and stat buffer.
    check(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(false);
    }
    if let Some(sig) = expected {
        if st.st_dev as u64 != sig.dev || st.st_ino as u64 != sig.ino {
            return Ok(false);
        }
    }
    // SAFETY: valid fd and name.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) })?;
    Ok(true)
}

/// Write `root/rel` atomically (a temporary name carrying this process id,
/// fsync, rename, fsync of the directory) without following any link: the
/// directories are opened or created with O_NOFOLLOW, and an existing
/// symlink at the final name is refused, not replaced or written through.
pub fn write_atomic(
    root: &Path,
    rel: &str,
    fill: impl FnOnce(&mut File) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let (dir, name) =
        parent_of(root, rel, true).with_context(|| format!("{}/{rel}", root.display()))?;
    if lstat_at(dir.as_raw_fd(), &name)? == Kind::Symlink {
        return Err(io::Error::other(Symlink(rel.to_string())).into());
    }
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let last = name.to_string_lossy().into_owned();
    let tmp = cstr(archive_core::atomic::temp_name(&last, n).as_bytes())?;
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
    let mut file = File::from(open_at(dir.as_raw_fd(), &tmp, flags, 0o666)?);
    let written = fill(&mut file).and_then(|()| {
        file.sync_all().context("fsync")?;
        // SAFETY: valid fds and names.
        check(unsafe {
            libc::renameat(
                dir.as_raw_fd(),
                tmp.as_ptr(),
                dir.as_raw_fd(),
                name.as_ptr(),
            )
        })
        .context("renaming into place")?;
        Ok(())
    });
    if written.is_err() {
        // SAFETY: valid fd and name; failure to remove is not worth more.
        unsafe { libc::unlinkat(dir.as_raw_fd(), tmp.as_ptr(), 0) };
        return written.with_context(|| format!("writing {}/{rel}", root.display()));
    }
    File::from(dir)
        .sync_all()
        .context("fsync of the directory")?;
    Ok(())
}

/// True when an error (anywhere in its chain) is a refused symlink.
pub fn symlink_in(err: &anyhow::Error) -> Option<&Symlink> {
    err.chain().find_map(|c| {
        c.downcast_ref::<Symlink>().or_else(|| {
            c.downcast_ref::<io::Error>()
                .and_then(|e| e.get_ref())
                .and_then(|inner| inner.downcast_ref::<Symlink>())
        })
    })
}

/// The path a held file can be opened again by (for the SDK's part reads),
/// so parts come from the very file that was hashed, not a name that may
/// have been swapped since.
pub fn reopen_path(file: &File, fallback: &Path) -> std::path::PathBuf {
    let p = std::path::PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    if p.exists() {
        p
    } else {
        fallback.to_path_buf()
    }
}
