//! What killed runs leave behind, and what a drain leaves empty: the
//! temporaries of dead ship processes (their names carry the pid) under the
//! roots a run writes, and the emptied directories of a drained spool.

use crate::config::{Config, FallbackTo, Source};
use crate::model::Destination;
use std::path::PathBuf;

/// Remove the temporaries of ship processes that no longer exist (what a
/// `kill -9` leaves) under the roots this run writes: the local destination,
/// the fallback directory, the spool, and ship's own names in --tmp-dir.
pub fn sweep(cfg: &Config) {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Destination::Local(dir, _) = &cfg.dest {
        roots.push(dir.clone());
    }
    if let Some(FallbackTo::Dir(d)) = &cfg.fallback {
        roots.push(d.clone());
    }
    if let Source::Drain(d) = &cfg.source {
        roots.push(d.clone());
    }
    for root in roots.iter().filter(|r| r.is_dir()) {
        match archive_core::atomic::sweep_stale_temps(root) {
            Ok(0) => {}
            Ok(n) => eprintln!(
                "ship: removed {n} leftover temporary file(s) under {}",
                root.display()
            ),
            Err(e) => eprintln!(
                "ship: warning: clearing leftovers under {}: {e:#}",
                root.display()
            ),
        }
    }
    sweep_own_temps(&cfg.tmp_dir);
    sweep_own_temps(&std::env::temp_dir());
}

/// ship's own temporaries (`.ship-age.tmp-PID-…`, `.ship-drain.tmp-PID-…`)
/// directly in a shared temp dir, not its whole tree.
fn sweep_own_temps(dir: &std::path::Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with(".ship-age.tmp-") || name.starts_with(".ship-drain.tmp-");
        let dead = archive_core::atomic::temp_owner(&name)
            .is_some_and(|p| !archive_core::atomic::process_alive(p));
        match e.file_type() {
            Ok(t) if ours && dead && t.is_dir() => drop(std::fs::remove_dir_all(e.path())),
            Ok(t) if ours && dead && t.is_file() => drop(std::fs::remove_file(e.path())),
            _ => {}
        }
    }
}

pub fn prune_empty_dirs(dir: &std::path::Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                prune_empty_dirs(&e.path());
                let _ = std::fs::remove_dir(e.path());
            }
        }
    }
}
