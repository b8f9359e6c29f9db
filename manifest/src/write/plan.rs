//! Which files a target's manifest covers: the walk, the previous manifest
//! and the announced lines, merged by path into one item per file. The
//! walk reports what it will not list (links, unreadable directories,
//! names sha256sum cannot carry); the temporaries of dead processes are
//! swept meanwhile.

use crate::json_manifest::Header;
use crate::model::{Counts, Digest, Entry, Failures, Found, Item, Target, WriteConfig};
use crate::tree::{self, Links, Walk};
use crate::write::previous::{self, Previous};
use anyhow::Result;

/// A target's files and what its previous manifests said.
pub struct Plan {
    pub items: Vec<Item>,
    pub previous_header: Option<Header>,
    pub previous_txt_sha: Option<Digest>,
    /// Why this target's manifests are left as they are (None: written).
    pub refused: Option<String>,
}

pub fn plan_target(
    ti: usize,
    t: &mut Target,
    cfg: &WriteConfig,
    failures: &mut Failures,
    counts: &mut Counts,
) -> Result<Plan> {
    let group_name = t
        .group
        .as_deref()
        .map(archive_core::naming::sanitize_segment);
    let (walk_dir, prefix) = if cfg.bagit {
        (t.dir.join("data"), "data/")
    } else {
        (t.dir.clone(), "")
    };
    let links = match (&t.canonical, cfg.follow_internal_links) {
        (Some(root), true) => Links::FollowInside { root },
        _ => Links::Skip,
    };
    // A walk of the whole directory removes dead processes' temporaries as
    // it lists; where there is none (a group) or it covers only data/ (a
    // bag), archive-core sweeps the directory.
    let walks_all = t.group.is_none() && !cfg.bagit;
    let opts = tree::Options {
        skip_bag_tags: !cfg.bagit,
        links,
        sweep: walks_all && !cfg.dry_run,
    };
    let ((walk, previous), swept) = rayon::join(
        || {
            rayon::join(
                || t.group.is_none().then(|| tree::walk(&walk_dir, opts)),
                || previous::load(&t.dir, group_name.as_deref()),
            )
        },
        || if walks_all { 0 } else { sweep(t, cfg) },
    );
    counts.swept += swept;
    let walked = match walk {
        Some(w) => report_walk(ti, t, w?, prefix, failures, counts),
        None => Vec::new(),
    };
    let Previous {
        header,
        txt_sha,
        entries,
        conflict,
    } = previous;
    let refused = conflict.filter(|_| !cfg.accept_changes);
    let mut announced: Vec<(String, usize)> =
        std::mem::take(&mut t.announced).into_iter().collect();
    announced.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if refused.is_some() {
        // Nothing of this target is hashed or written; its lines fail.
        return Ok(Plan {
            items: merge(Vec::new(), Vec::new(), announced),
            previous_header: None,
            previous_txt_sha: None,
            refused,
        });
    }
    Ok(Plan {
        items: merge(walked, entries, announced),
        previous_header: header,
        previous_txt_sha: txt_sha,
        refused,
    })
}

/// Remove the temporaries of processes that no longer exist (what a
/// `kill -9` left); never in a dry run, which touches nothing.
fn sweep(t: &Target, cfg: &WriteConfig) -> u64 {
    if cfg.dry_run || t.canonical.is_none() {
        return 0;
    }
    match archive_core::atomic::sweep_stale_temps(&t.dir) {
        Ok(n) => {
            report_swept(t, n);
            n
        }
        Err(e) => {
            eprintln!("manifest: warning: {e:#}");
            0
        }
    }
}

fn report_swept(t: &Target, n: u64) {
    if n > 0 {
        eprintln!(
            "manifest: removed {n} temporary file(s) of processes that no longer run under {}",
            t.dir.display()
        );
    }
}

/// Report what the walk will not list, and return the payload paths
/// (relative to the target, so under `data/` in a bag).
fn report_walk(
    ti: usize,
    t: &Target,
    w: Walk,
    prefix: &str,
    failures: &mut Failures,
    counts: &mut Counts,
) -> Vec<String> {
    counts.swept += w.swept;
    report_swept(t, w.swept);
    for r in w.refused {
        failures.fail(
            ti,
            &format!("{prefix}{r}"),
            format!(
                "{}/{prefix}{r}: a name sha256sum would escape (newline or backslash); rename it",
                t.dir.display()
            ),
        );
    }
    for (rel, why) in w.unreadable {
        failures.fail(
            ti,
            &format!("{prefix}{rel}"),
            format!("{why}; the rest of {} is manifested", t.dir.display()),
        );
    }
    for rel in w.links {
        counts.skipped += 1;
        let line = serde_json::json!({
            "root": t.root_str, "path": format!("{prefix}{rel}"),
            "status": "skipped", "error": "symlink",
        });
        eprintln!("manifest: skipped: {line}");
    }
    w.files
        .into_iter()
        .map(|f| {
            if prefix.is_empty() {
                f.rel
            } else {
                format!("{prefix}{}", f.rel)
            }
        })
        .collect()
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
            walked: in_walk,
            found: Found::Pending,
            changed: None,
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
        assert!(m[0].walked && !m[1].walked);
        assert_eq!(m.capacity(), 4);
        assert!(merge(Vec::new(), Vec::new(), Vec::new()).is_empty());
    }
}
