//! Deciding each file's manifest entry from what the line claimed, what
//! the previous manifest said and what the parallel pass found. Nothing is
//! trusted: a claim that the file contradicts fails the file, and an
//! unannounced change fails it too unless `--accept-changes`.

use crate::model::{
    hex, Counts, Digest, Entry, Failures, Found, Incoming, Item, JsonFormat, Meta, Mtime, Target,
    WriteConfig,
};

/// What becomes of one file's entry.
enum Decision {
    /// Keep the previous entry as it is (if there was one).
    KeepOld,
    /// Record this entry.
    New(Entry),
    /// Keep the previous entry's metadata with these file facts.
    Update(Facts),
    /// Leave the file out.
    Drop,
}

/// What the file was found to be.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Facts {
    bytes: u64,
    mtime: Option<Mtime>,
    sha256: Digest,
}

/// Everything a decision reads or reports to.
pub struct Assembly<'a> {
    pub ti: usize,
    pub target: &'a Target,
    pub cfg: &'a WriteConfig,
    pub incoming: &'a mut [Incoming],
    pub failures: &'a mut Failures,
    pub counts: &'a mut Counts,
}

/// Decide every item's entry in place (no second list of entries);
/// returns whether every entry equals the previous manifest's.
pub fn assemble(a: &mut Assembly, items: &mut [Item]) -> bool {
    let mut same_as_previous = true;
    for it in items.iter_mut() {
        match a.decide(it) {
            Decision::KeepOld => it.changed = it.entry.as_ref().map(|_| false),
            Decision::New(e) => {
                if it.entry.as_ref() != Some(&e) {
                    same_as_previous = false;
                }
                it.changed = it.entry.as_ref().map(|old| old.sha256 != e.sha256);
                it.entry = Some(e);
            }
            Decision::Update(f) => {
                let e = it.entry.as_mut().expect("an update has a previous entry");
                if (e.bytes, e.mtime, e.sha256) != (f.bytes, f.mtime, f.sha256) {
                    same_as_previous = false;
                }
                it.changed = Some(e.sha256 != f.sha256);
                (e.bytes, e.mtime, e.sha256) = (f.bytes, f.mtime, f.sha256);
            }
            Decision::Drop => {
                if it.entry.take().is_some() {
                    same_as_previous = false;
                }
            }
        }
    }
    same_as_previous
}

/// A target whose manifests are left as they are: its lines fail.
pub fn refuse(a: &mut Assembly, why: &str) {
    a.counts.refused += 1;
    for inc in a.incoming.iter_mut().filter(|i| i.target == a.ti) {
        inc.failed = true;
    }
    a.failures.other(format!(
        "{}: {why}; its manifests are left as they are and its lines not passed on \
         (use --accept-changes to rewrite them)",
        a.target.dir.display()
    ));
}

impl Assembly<'_> {
    fn shown(&self, rel: &str) -> String {
        self.target.dir.join(rel).display().to_string()
    }

    /// Fail a file (and the line that announced it): its previous entry,
    /// if any, stays.
    fn fail(&mut self, it: &Item, msg: String) -> Decision {
        if let Some(idx) = it.announced {
            self.incoming[idx].failed = true;
        }
        self.failures.fail(self.ti, &it.rel, msg);
        Decision::KeepOld
    }

    fn decide(&mut self, it: &Item) -> Decision {
        let line = it.announced.map(|i| self.incoming[i].line_no);
        let at = |l: Option<u64>| l.map(|n| format!("line {n}: ")).unwrap_or_default();
        match &it.found {
            Found::Pending => self.fail(it, format!("{}: was not examined", self.shown(&it.rel))),
            Found::Unreadable(msg) => self.fail(it, msg.clone()),
            Found::Link => {
                let msg = format!(
                    "{}{}: a symbolic link (or a path through one); not followed",
                    at(line),
                    self.shown(&it.rel)
                );
                self.fail(it, msg)
            }
            Found::Reused => {
                // Only unannounced files are ever reused.
                self.counts.reused += 1;
                Decision::KeepOld
            }
            Found::Absent => match it.announced {
                Some(_) => {
                    let msg = format!("{}{}: no such file", at(line), self.shown(&it.rel));
                    self.fail(it, msg)
                }
                None => self.vanished(it),
            },
            Found::Hashed {
                bytes,
                mtime,
                sha256,
            } => {
                self.counts.hashed += 1;
                let facts = Facts {
                    bytes: *bytes,
                    mtime: *mtime,
                    sha256: *sha256,
                };
                match it.announced {
                    Some(idx) => self.announced(it, idx, facts),
                    None => self.unannounced(it, facts),
                }
            }
        }
    }

    /// An announced file was hashed: its line must agree with it.
    fn announced(&mut self, it: &Item, idx: usize, f: Facts) -> Decision {
        let inc = &self.incoming[idx];
        let sha_bad = inc
            .claimed_sha
            .as_ref()
            .is_some_and(|c| !c.matches(&f.sha256));
        if sha_bad || inc.claimed_bytes != f.bytes {
            let msg = format!(
                "line {}: {}: the file line says {} bytes, sha256 {}, the file has {} bytes, sha256 {}; not passed on",
                inc.line_no,
                self.shown(&it.rel),
                inc.claimed_bytes,
                inc.claimed_sha.as_ref().map(|c| c.shown()).unwrap_or_else(|| "?".into()),
                f.bytes,
                hex(&f.sha256)
            );
            return self.fail(it, msg);
        }
        let mut meta = self.incoming[idx]
            .meta
            .take()
            .map(|m| *m)
            .unwrap_or_default();
        if meta.s3_key.is_none() {
            meta.s3_key = self.s3_key(&it.rel);
        }
        Decision::New(Entry::new(f.bytes, f.sha256, f.mtime, meta))
    }

    /// A file no line announced was hashed: new, unchanged, or changed
    /// since the previous manifest.
    fn unannounced(&mut self, it: &Item, f: Facts) -> Decision {
        let Some(old) = &it.entry else {
            let meta = Meta {
                s3_key: self.s3_key(&it.rel),
                ..Meta::default()
            };
            return Decision::New(Entry::new(f.bytes, f.sha256, f.mtime, meta));
        };
        if old.sha256 == f.sha256 {
            return Decision::Update(f);
        }
        if self.cfg.accept_changes {
            eprintln!(
                "manifest: warning: {} changed since the previous manifest; recording the new digest (--accept-changes)",
                self.shown(&it.rel)
            );
            return Decision::Update(f);
        }
        let msg = format!(
            "{} changed since the previous manifest (sha256 {} -> {}) without a file line announcing it; \
             keeping the old entry (use --accept-changes to record the new one)",
            self.shown(&it.rel),
            hex(&old.sha256),
            hex(&f.sha256)
        );
        self.fail(it, msg)
    }

    /// A file that no line announced is gone.
    fn vanished(&mut self, it: &Item) -> Decision {
        if it.entry.is_none() {
            // Walked, then gone before it was opened: nothing to record.
            return Decision::Drop;
        }
        if self.cfg.keep_absent {
            // Not on this disk, still at the destination: the entry stays.
            return Decision::KeepOld;
        }
        if self.cfg.accept_changes {
            eprintln!(
                "manifest: warning: {} is gone; dropping it from the manifest (--accept-changes)",
                self.shown(&it.rel)
            );
            return Decision::Drop;
        }
        let msg = format!(
            "{} is listed in the previous manifest but missing; keeping its entry \
             (use --accept-changes to drop it)",
            self.shown(&it.rel)
        );
        self.fail(it, msg)
    }

    /// `--s3-prefix`'s or `--key-prefix`'s key for a file; in the billing
    /// specification's format, where every file has one, the path (the
    /// key under the destination) when neither is given.
    fn s3_key(&self, rel: &str) -> Option<Box<str>> {
        let cfg = self.cfg;
        if let Some(u) = &cfg.s3_prefix {
            return Some(u.key(rel).into());
        }
        match cfg.key_prefix.as_deref() {
            Some(p) => Some(archive_core::s3url::join_key(p, rel).into()),
            None => (cfg.json_format == JsonFormat::BillingSpec).then(|| rel.into()),
        }
    }
}
