//! Which files a target's manifest covers (the walk, the previous manifest
//! and the announced lines, merged by path), and the one parallel pass
//! that opens, stats and hashes them all.

use crate::build::{Failures, Target};
use crate::json_manifest::{Digest, Entry, Header, Manifest, Mtime};
use crate::progress::Progress;
use crate::sha256sum;
use crate::tree::{self, manifest_names};
use crate::WriteArgs;
use anyhow::Result;
use rayon::prelude::*;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// One file of a target, sorted by `rel`.
pub struct Item {
    /// Path relative to the target directory.
    pub rel: String,
    /// The previous manifest's entry; once assembled, the entry to record
    /// (None: the file is not listed).
    pub entry: Option<Entry>,
    /// Index of the input line that announced the file.
    pub announced: Option<usize>,
    /// What the parallel pass found.
    pub found: Found,
}

pub enum Found {
    /// Not probed yet.
    Pending,
    /// No such file (or not a regular file).
    Absent,
    /// Opening or reading failed; the message names the file.
    Unreadable(String),
    /// Size and mtime match the previous entry (`--trust-unchanged`).
    Reused,
    Hashed {
        bytes: u64,
        mtime: Option<Mtime>,
        sha256: Digest,
    },
}

/// A target's files and what its previous manifests said.
pub struct Plan {
    pub items: Vec<Item>,
    /// The previous manifest.json's header, when it parsed and agreed
    /// with the previous sha256sum manifest file by file.
    pub previous_header: Option<Header>,
    /// SHA-256 of the previous sha256sum manifest file.
    pub previous_txt_sha: Option<Digest>,
}

pub fn plan_target(
    ti: usize,
    t: &mut Target,
    args: &WriteArgs,
    failures: &mut Failures,
) -> Result<Plan> {
    let group_name = t
        .group
        .as_deref()
        .map(archive_core::naming::sanitize_segment);
    let (walk_dir, prefix) = if args.bagit {
        (t.dir.join("data"), "data/")
    } else {
        (t.dir.clone(), "")
    };
    // A grouped manifest covers its group's files only: no walk.
    let (walk, previous) = rayon::join(
        || {
            t.group
                .is_none()
                .then(|| tree::walk(&walk_dir, !args.bagit))
        },
        || load_previous(&t.dir, group_name.as_deref()),
    );
    let mut walked: Vec<String> = Vec::new();
    if let Some(w) = walk {
        let w = w?;
        for r in w.refused {
            failures.fail(
                ti,
                &format!("{prefix}{r}"),
                format!(
                    "{}: a name sha256sum would escape (newline or backslash); rename it",
                    walk_dir.join(&r).display()
                ),
            );
        }
        walked = w
            .files
            .into_iter()
            .map(|f| {
                if prefix.is_empty() {
                    f.rel
                } else {
                    format!("{prefix}{}", f.rel)
                }
            })
            .collect();
    }
    let mut announced: Vec<(String, usize)> =
        std::mem::take(&mut t.announced).into_iter().collect();
    announced.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(Plan {
        items: merge(walked, previous.entries, announced),
        previous_header: previous.header,
        previous_txt_sha: previous.txt_sha,
    })
}

/// Merge the three lists, each sorted by path, into one item per path.
/// The lists are small per element and the result is sized exactly, so
/// the peak is not three lists of full items.
fn merge(
    mut walked: Vec<String>,
    mut old: Vec<(String, Entry)>,
    announced: Vec<(String, usize)>,
) -> Vec<Item> {
    let mut count = 0;
    let mut cursor = Cursor::default();
    while let Some(step) = cursor.step(&walked, &old, &announced) {
        count += 1;
        cursor.advance(step);
    }
    let mut items = Vec::with_capacity(count);
    let mut cursor = Cursor::default();
    while let Some(step @ [in_walk, in_old, in_announced]) = cursor.step(&walked, &old, &announced)
    {
        let Cursor {
            walk: w,
            old: o,
            announced: a,
        } = cursor;
        let entry = in_old.then(|| std::mem::replace(&mut old[o].1, Entry::bare([0; 32])));
        let rel = if in_walk {
            std::mem::take(&mut walked[w])
        } else if in_old {
            std::mem::take(&mut old[o].0)
        } else {
            announced[a].0.clone()
        };
        items.push(Item {
            rel,
            entry,
            announced: in_announced.then(|| announced[a].1),
            found: Found::Pending,
        });
        cursor.advance(step);
    }
    items
}

/// Positions in the three lists being merged.
#[derive(Default, Clone, Copy)]
struct Cursor {
    walk: usize,
    old: usize,
    announced: usize,
}

impl Cursor {
    /// Which lists hold the smallest path not yet taken; None at the end.
    fn step(
        &self,
        walked: &[String],
        old: &[(String, Entry)],
        announced: &[(String, usize)],
    ) -> Option<[bool; 3]> {
        let keys = [
            walked.get(self.walk).map(String::as_str),
            old.get(self.old).map(|x| x.0.as_str()),
            announced.get(self.announced).map(|x| x.0.as_str()),
        ];
        let min = keys.iter().flatten().min()?;
        Some(keys.map(|k| k == Some(*min)))
    }

    fn advance(&mut self, [w, o, a]: [bool; 3]) {
        self.walk += w as usize;
        self.old += o as usize;
        self.announced += a as usize;
    }
}

/// What the previous run left.
struct Previous {
    header: Option<Header>,
    txt_sha: Option<Digest>,
    /// Sorted by path.
    entries: Vec<(String, Entry)>,
}

/// The previous run's entries: manifest.json when readable (it has sizes,
/// mtimes and metadata), with digests taken from manifest-sha256.txt, which
/// is what standard tools check. The two files are parsed in parallel.
fn load_previous(dir: &Path, group: Option<&str>) -> Previous {
    let (sha_name, json_name) = manifest_names(group);
    let (json, txt) = rayon::join(
        || {
            let text = std::fs::read_to_string(dir.join(&json_name)).ok()?;
            match Manifest::parse(&text, &dir.join(&json_name).display().to_string()) {
                Ok(m) => {
                    let (h, files) = m.into_parts();
                    let mut files: Vec<(String, Entry)> =
                        files.into_iter().map(|f| (f.path, f.entry)).collect();
                    sort_by_path(&mut files);
                    Some((h, files))
                }
                Err(e) => {
                    eprintln!("manifest: warning: ignoring the previous {json_name}: {e:#}");
                    None
                }
            }
        },
        || {
            let text = std::fs::read_to_string(dir.join(&sha_name)).ok()?;
            let sha: Digest = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()).into();
            match sha256sum::parse(&text, &dir.join(&sha_name).display().to_string()) {
                Ok(sums) => {
                    let mut sums: Vec<(String, Digest)> = sums
                        .into_iter()
                        .map(|s| {
                            let d = crate::json_manifest::parse_digest(&s.sha256)
                                .expect("sha256sum::parse checks the hex");
                            (s.path, d)
                        })
                        .collect();
                    sort_by_path(&mut sums);
                    Some((sha, Some(sums)))
                }
                Err(e) => {
                    eprintln!("manifest: warning: ignoring the previous {sha_name}: {e:#}");
                    Some((sha, None))
                }
            }
        },
    );
    let (mut header, json_entries) = match json {
        Some((h, files)) => (Some(h), files),
        None => (None, Vec::new()),
    };
    let txt_sha = txt.as_ref().map(|(sha, _)| *sha);
    let Some(sums) = txt.and_then(|(_, sums)| sums) else {
        if txt_sha.is_some() {
            // A text manifest that does not parse: never keep the pair as is.
            header = None;
        }
        return Previous {
            header,
            txt_sha,
            entries: json_entries,
        };
    };
    // Merge by path. The pair can only be kept as it is when both list the
    // same files with the same digests.
    let mut consistent = header.is_some();
    let mut entries = Vec::with_capacity(json_entries.len().max(sums.len()));
    let mut js = json_entries.into_iter().peekable();
    let mut ts = sums.into_iter().peekable();
    loop {
        let order = match (js.peek(), ts.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((jp, _)), Some((tp, _))) => jp.cmp(tp),
        };
        match order {
            std::cmp::Ordering::Less => {
                consistent = false;
                entries.extend(js.next());
            }
            std::cmp::Ordering::Greater => {
                consistent = false;
                let (path, digest) = ts.next().expect("peeked");
                entries.push((path, Entry::bare(digest)));
            }
            std::cmp::Ordering::Equal => {
                let (path, mut e) = js.next().expect("peeked");
                let (_, digest) = ts.next().expect("peeked");
                if e.sha256 != digest {
                    eprintln!(
                        "manifest: warning: previous {sha_name} and {json_name} disagree on {path}; using {sha_name}"
                    );
                    e.sha256 = digest;
                    e.mtime = None;
                    consistent = false;
                }
                entries.push((path, e));
            }
        }
    }
    if !consistent {
        header = None;
    }
    Previous {
        header,
        txt_sha,
        entries,
    }
}

/// Sort by path and keep the last of duplicates (as a map would).
fn sort_by_path<T>(v: &mut Vec<(String, T)>) {
    if !v.windows(2).all(|w| w[0].0 < w[1].0) {
        v.reverse();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|later, first| later.0 == first.0);
    }
}

thread_local! {
    /// The path being opened, reused so the pass does not allocate per file.
    static PATH: RefCell<PathBuf> = const { RefCell::new(PathBuf::new()) };
}

/// Probe every planned file of every target on all cores: open, fstat,
/// then reuse the previous digest (`--trust-unchanged`) or hash.
pub fn probe_all(plans: &mut [Plan], targets: &[Target], trust: bool, progress: &Progress) {
    plans
        .par_iter_mut()
        .zip(targets.par_iter())
        .for_each(|(plan, t)| {
            plan.items.par_iter_mut().for_each(|it| {
                PATH.with(|p| {
                    let mut p = p.borrow_mut();
                    p.as_mut_os_string().clear();
                    p.push(&t.dir);
                    p.push(&it.rel);
                    // Only an unannounced file may keep its old digest.
                    let reuse = match (&it.entry, it.announced) {
                        (Some(o), None) if trust => o.mtime.map(|m| (o.bytes, m)),
                        _ => None,
                    };
                    it.found = probe(&p, reuse, progress);
                });
                progress.file_done();
            })
        });
}

fn probe(path: &Path, reuse: Option<(u64, Mtime)>, progress: &Progress) -> Found {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Found::Absent,
        Err(e) => return Found::Unreadable(format!("opening {}: {e}", path.display())),
    };
    let meta = match file.metadata() {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Found::Absent,
        Err(e) => return Found::Unreadable(format!("reading {}: {e}", path.display())),
    };
    let mtime = meta.modified().ok().map(Mtime::from_system);
    if let Some((bytes, old_mtime)) = reuse {
        if bytes == meta.len() && mtime == Some(old_mtime) {
            return Found::Reused;
        }
    }
    match crate::hashing::hash_open(file, meta.len(), Some(progress.bytes())) {
        Ok((bytes, sha256)) => Found::Hashed {
            bytes,
            mtime,
            sha256,
        },
        Err(e) => Found::Unreadable(format!("reading {}: {e}", path.display())),
    }
}

/// The entries of assembled items, sorted by path.
pub fn entries(items: &[Item]) -> impl Iterator<Item = (&str, &Entry)> + Clone {
    items
        .iter()
        .filter_map(|it| it.entry.as_ref().map(|e| (it.rel.as_str(), e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_combines_equal_paths_in_order() {
        let walked = vec!["a".to_string(), "c".to_string()];
        let old = vec![
            ("b".to_string(), Entry::bare([1; 32])),
            ("c".to_string(), Entry::bare([2; 32])),
        ];
        let announced = vec![("c".to_string(), 7), ("d".to_string(), 8)];
        let m = merge(walked, old, announced);
        let rels: Vec<&str> = m.iter().map(|i| i.rel.as_str()).collect();
        assert_eq!(rels, vec!["a", "b", "c", "d"]);
        assert_eq!(m[1].entry, Some(Entry::bare([1; 32])));
        assert_eq!(m[2].entry, Some(Entry::bare([2; 32])));
        assert_eq!((m[2].announced, m[3].announced), (Some(7), Some(8)));
        assert!(m[0].entry.is_none() && m[0].announced.is_none());
        assert_eq!(m.capacity(), 4);
        assert!(merge(Vec::new(), Vec::new(), Vec::new()).is_empty());
    }
}
