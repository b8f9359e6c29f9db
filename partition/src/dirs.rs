//! What the output tree looked like before this run, learnt lazily and
//! remembered. A fresh run creates tens of thousands of files in new
//! directories; probing each for an existing file to merge (a failing open)
//! and creating each directory bottom-up (failing mkdirs) cost as much as
//! the writes. Knowing that a directory was absent when the run reached it
//! answers both without system calls: nothing inside it predates the run,
//! and the writers can create it top-down, once.
//!
//! It is also where links are refused: each directory below the root is
//! looked at with `symlink_metadata` (no following) the first time a path
//! reaches it, and a path with a symbolic link in it is never read or
//! written through (see [`DirMemo::refuse_links`]).

use anyhow::{bail, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Directories remembered; forgetting them only costs a stat each later.
/// They are kept in two generations of half this each: when the newer one
/// is full it becomes the older and the oldest is forgotten, and a
/// directory found in the older one moves to the newer. So the directories
/// a run keeps coming back to (the users', a month's) stay known however
/// many leaf directories it makes; clearing everything at once made a
/// 1 GiB run stat every user directory again and look for files to merge
/// in directories it had created itself.
const REMEMBERED: usize = 1 << 16;

/// The two generations of [`REMEMBERED`].
#[derive(Default)]
struct Memo {
    newer: HashMap<PathBuf, State>,
    older: HashMap<PathBuf, State>,
}

impl Memo {
    fn get(&mut self, dir: &Path) -> Option<State> {
        if let Some(&s) = self.newer.get(dir) {
            return Some(s);
        }
        if self.older.is_empty() {
            // Before the first turn-over (most runs): no second hashing.
            return None;
        }
        let (dir, s) = self.older.remove_entry(dir)?;
        self.insert(dir, s);
        Some(s)
    }

    fn insert(&mut self, dir: PathBuf, s: State) {
        if self.newer.len() >= REMEMBERED / 2 && !self.newer.contains_key(&dir) {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(dir, s);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Was there when first looked at (or is the root).
    Existed,
    /// Was not there (nor, then, anything below it); no writer asked yet.
    Absent,
    /// Was not there; a writer has been asked to create it.
    Planned,
    /// Is a symbolic link: nothing is read or written through it.
    Link,
    /// Is below a symbolic link (never looked at: that would follow it).
    UnderLink,
}

pub struct DirMemo {
    root: PathBuf,
    states: RefCell<Memo>,
}

impl DirMemo {
    pub fn new(root: PathBuf) -> DirMemo {
        DirMemo {
            root,
            states: RefCell::new(Memo::default()),
        }
    }

    /// Can a file in `dir` predate this run? False only when `dir` (or an
    /// ancestor) was seen to be absent: files this run writes are never
    /// looked for again, so such a directory holds nothing to merge.
    pub fn may_hold_files(&self, dir: &Path) -> bool {
        self.state(dir) == State::Existed
    }

    /// Fail, naming the link, when `dir` or a directory between it and the
    /// root is a symbolic link: a link already inside the output is never
    /// followed, whatever it points at.
    pub fn refuse_links(&self, dir: &Path) -> Result<()> {
        let mut d = dir;
        loop {
            match self.state(d) {
                State::Link => bail!(
                    "{} is a symbolic link (partition never writes through links inside --out)",
                    d.strip_prefix(&self.root).unwrap_or(d).display()
                ),
                State::UnderLink => d = d.parent().unwrap_or(&self.root),
                _ => return Ok(()),
            }
        }
    }

    /// The directories that must be created, top-down, before a file can be
    /// written in `dir`; each is handed out once (the writer that receives it
    /// creates it, and others tolerate finding it there or not yet there).
    /// Fails when the path holds a link.
    pub fn plan_mkdirs(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        self.refuse_links(dir)?;
        let mut out = Vec::new();
        let mut d = dir;
        while self.state(d) == State::Absent {
            out.push(d.to_path_buf());
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        let mut states = self.states.borrow_mut();
        for p in &out {
            states.insert(p.clone(), State::Planned);
        }
        out.reverse();
        Ok(out)
    }

    fn state(&self, dir: &Path) -> State {
        if dir == self.root || !dir.starts_with(&self.root) {
            // Outside the tree this run owns nothing is assumed; the root
            // itself was created (if needed) before anything was read.
            return State::Existed;
        }
        if let Some(s) = self.states.borrow_mut().get(dir) {
            return s;
        }
        let s = match dir.parent().map(|p| self.state(p)) {
            Some(State::Absent | State::Planned) => State::Absent,
            Some(State::Link | State::UnderLink) => State::UnderLink,
            _ => match std::fs::symlink_metadata(dir) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::Absent,
                Ok(m) if m.file_type().is_symlink() => State::Link,
                // Anything else (a directory, a file where one is expected,
                // an unreadable entry) is left to the real open to report.
                _ => State::Existed,
            },
        };
        self.states.borrow_mut().insert(dir.to_path_buf(), s);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_directories_are_planned_once_top_down() {
        let root = std::env::temp_dir().join(format!("partition-dirs-{}", std::process::id()));
        std::fs::create_dir_all(root.join("old")).unwrap();
        let memo = DirMemo::new(root.clone());
        assert!(memo.may_hold_files(&root));
        assert!(memo.may_hold_files(&root.join("old")));
        assert!(!memo.may_hold_files(&root.join("new/2025/07")));
        assert_eq!(
            memo.plan_mkdirs(&root.join("new/2025/07")).unwrap(),
            vec![
                root.join("new"),
                root.join("new/2025"),
                root.join("new/2025/07")
            ]
        );
        assert_eq!(
            memo.plan_mkdirs(&root.join("new/2025/08")).unwrap(),
            vec![root.join("new/2025/08")]
        );
        assert!(memo
            .plan_mkdirs(&root.join("new/2025/07"))
            .unwrap()
            .is_empty());
        assert_eq!(
            memo.plan_mkdirs(&root.join("old/x")).unwrap(),
            vec![root.join("old/x")]
        );
        assert!(memo.plan_mkdirs(&root.join("old")).unwrap().is_empty());
        std::os::unix::fs::symlink(&root, root.join("old/link")).unwrap();
        let e = memo
            .refuse_links(&root.join("old/link/2025/07"))
            .unwrap_err();
        assert!(
            format!("{e}").starts_with("old/link is a symbolic link"),
            "{e}"
        );
        assert!(memo.plan_mkdirs(&root.join("old/link")).is_err());
        assert!(!memo.may_hold_files(&root.join("old/link/2025")));
        memo.refuse_links(&root.join("old/y/z")).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A directory the run keeps coming back to stays known while more
    /// leaf directories than can be remembered pass through; one it left
    /// behind is forgotten, and what is remembered stays bounded.
    #[test]
    fn directories_in_use_outlive_many_leaves() {
        let root = std::env::temp_dir().join(format!("partition-memo-{}", std::process::id()));
        std::fs::create_dir_all(root.join("user")).unwrap();
        std::fs::create_dir_all(root.join("once")).unwrap();
        let memo = DirMemo::new(root.clone());
        assert!(memo.may_hold_files(&root.join("user")));
        assert!(memo.may_hold_files(&root.join("once")));
        for i in 0..2 * REMEMBERED {
            memo.plan_mkdirs(&root.join(format!("new-{i}"))).unwrap();
            if i % 1000 == 0 {
                assert!(memo.may_hold_files(&root.join("user")));
            }
        }
        assert!(memo.states.borrow().len() <= REMEMBERED);
        // Both are links now: the one in use is still known as the
        // directory it was (no stat), the forgotten one is looked at again.
        for d in ["user", "once"] {
            std::fs::remove_dir(root.join(d)).unwrap();
            std::os::unix::fs::symlink(&root, root.join(d)).unwrap();
        }
        memo.refuse_links(&root.join("user/2025")).unwrap();
        assert!(memo.refuse_links(&root.join("once/2025")).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
