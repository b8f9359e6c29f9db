//! Which directories get manifests, and which may not: a `--root` must be
//! an existing directory, and neither `/` nor a system directory is walked
//! unless `--allow-system-root` says so (a line with `"root": "/"` would
//! otherwise manifest, and ship, the whole file system).

use crate::model::{Target, WriteConfig};
use anyhow::Result;
use archive_core::Failure;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Directories that hold the system, not an archive: refused as a root,
/// and so is anything below them.
const SYSTEM_TREES: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run",
    "/sbin", "/sys", "/usr",
];

/// Refused as a root themselves (what is below them may be an archive).
const SYSTEM_DIRS: &[&str] = &["/", "/var", "/home", "/root"];

/// The targets of `--root DIR…` (walk mode).
pub fn from_roots(cfg: &WriteConfig) -> Result<Vec<Target>> {
    let mut targets = Vec::with_capacity(cfg.roots.len());
    for root in &cfg.roots {
        let shown = root.display().to_string();
        if !root.is_dir() {
            let why = if root.exists() {
                "not a directory"
            } else {
                "no such directory"
            };
            return Err(Failure::usage(format!("--root {shown}: {why}")));
        }
        let mut t = target(root, &shown, None, cfg)?;
        check_allowed(&t, cfg).map_err(Failure::usage)?;
        t.print_all = true;
        targets.push(t);
    }
    Ok(targets)
}

/// The target for a root and group; with `--bagit` the root must have
/// the bag layout (a usage error otherwise).
pub fn target(
    root: &Path,
    root_str: &str,
    group: Option<String>,
    cfg: &WriteConfig,
) -> Result<Target> {
    let (dir, root_str, lifted) = target_dir(root, root_str, cfg.bagit).map_err(Failure::usage)?;
    let canonical = dir.canonicalize().ok();
    Ok(Target {
        dir,
        root_str,
        group,
        lifted,
        announced: HashMap::new(),
        print_all: false,
        canonical,
    })
}

/// Refuse a target that is, or lies in, a system directory, unless
/// `--allow-system-root`.
pub fn check_allowed(t: &Target, cfg: &WriteConfig) -> Result<(), String> {
    if cfg.allow_system_root {
        return Ok(());
    }
    let abs = t.canonical.clone().unwrap_or_else(|| absolute(&t.dir));
    match system_dir(&abs) {
        None => Ok(()),
        Some(sys) if abs == Path::new(sys) => Err(format!(
            "root {} is the system directory {sys}; pass --allow-system-root to manifest it",
            t.root_str
        )),
        Some(sys) => Err(format!(
            "root {} ({}) is inside the system directory {sys}; pass --allow-system-root to manifest it",
            t.root_str,
            abs.display()
        )),
    }
}

/// The system directory `abs` is (or lies in), if any.
fn system_dir(abs: &Path) -> Option<&'static str> {
    if let Some(d) = SYSTEM_DIRS.iter().find(|d| abs == Path::new(d)) {
        return Some(d);
    }
    SYSTEM_TREES.iter().find(|d| abs.starts_with(d)).copied()
}

/// `p` made absolute without resolving links (for a path that does not
/// exist): `.` and `..` are applied as written.
fn absolute(p: &Path) -> PathBuf {
    let base = if p.is_absolute() {
        PathBuf::new()
    } else {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
    };
    let mut out = PathBuf::from("/");
    for c in base.join(p).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// Where a root's manifests go. With `--bagit`, a root named `data` is the
/// payload directory of a bag that is its parent.
fn target_dir(root: &Path, root_str: &str, bagit: bool) -> Result<(PathBuf, String, bool), String> {
    if !bagit {
        return Ok((root.to_path_buf(), root_str.to_string(), false));
    }
    if root.file_name().is_some_and(|n| n == "data") {
        let parent = match root.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let s = parent.display().to_string();
        return Ok((parent, s, true));
    }
    if root.join("data").is_dir() {
        return Ok((root.to_path_buf(), root_str.to_string(), false));
    }
    Err(format!(
        "--bagit: {} is neither a directory named data nor one containing data/ (BagIt keeps the payload under <bag>/data/)",
        root.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_directories_are_recognised() {
        for sys in [
            "/",
            "/etc",
            "/etc/ssl",
            "/usr/local/lib",
            "/proc/1",
            "/var",
            "/home",
        ] {
            assert!(system_dir(Path::new(sys)).is_some(), "{sys}");
        }
        for ok in [
            "/var/backups/archive",
            "/home/a/archive",
            "/tmp/x",
            "/srv/archive",
            "/etcetera",
        ] {
            assert!(system_dir(Path::new(ok)).is_none(), "{ok}");
        }
        assert_eq!(
            absolute(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
    }
}
