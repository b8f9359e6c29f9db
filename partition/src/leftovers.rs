//! What a killed run leaves behind: its spill directories
//! (`.partition.tmp-<pid>-<n>`) and half-written files
//! (`.<name>.tmp-<pid>-<n>`, beside their final names). Every temporary name
//! carries the id of the process that made it, and a run removes, at start,
//! those of processes that no longer exist under the roots it writes:
//!
//! * `--out`: with archive-core's sweep, which touches only names of that
//!   shape and never follows a link. The sweep walks the whole tree, which
//!   for an archive that grows by a day each run would cost far more than the
//!   run, so it is done only when there is something to sweep: every run
//!   keeps a marker (`.partition-run.tmp-<pid>-0`) at the top of `--out`
//!   while it may have temporaries anywhere below, and removes it when it
//!   ends; a marker (or a spill directory) of a dead process at the top is
//!   the sign of a killed run. A run that sees none costs one directory
//!   listing.
//! * the spill directory, when it is not `--out` (`--spill-dir`, or the
//!   system temporary directory of a dry run): only the spill directories
//!   directly in it, nothing else there.
//!
//! A dry run writes nothing under `--out`, so it leaves `--out` alone. The
//! sweep runs beside the run: it removes only names of dead processes, which
//! this run never uses.

use crate::model::Config;
use anyhow::{Context, Result};
use archive_core::atomic;
use std::fs::{self, File};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// The prefix of spill directory names (`temp_name("partition", n)`).
const SPILL_PREFIX: &str = ".partition.tmp-";

/// The marker says "this process may have temporaries under `--out`".
pub struct Leftovers {
    marker: Option<PathBuf>,
    sweep: Option<JoinHandle<Result<u64>>>,
}

/// Set this run's marker and start removing dead processes' temporaries.
pub fn start(cfg: &Config) -> Result<Leftovers> {
    let (mut marker, mut sweep_out) = (None, None);
    if !cfg.dry_run {
        if dead_temporaries_at(&cfg.out) {
            sweep_out = Some(cfg.out.clone());
        }
        let path = cfg.out.join(atomic::temp_name("partition-run", 0));
        File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        marker = Some(path);
    }
    let sweep_spill = match &marker {
        Some(_) if cfg.spill_base.starts_with(&cfg.out) => None,
        _ => Some(cfg.spill_base.clone()),
    };
    let sweep = std::thread::spawn(move || {
        let mut removed = 0;
        if let Some(out) = sweep_out {
            removed += atomic::sweep_stale_temps(&out)?;
        }
        if let Some(spill) = sweep_spill {
            removed += sweep_spill_dirs(&spill)?;
        }
        Ok(removed)
    });
    Ok(Leftovers {
        marker,
        sweep: Some(sweep),
    })
}

impl Leftovers {
    /// How many leftovers were removed. One that cannot be removed is
    /// reported and does not fail the run (it is not this run's output).
    pub fn finish(&mut self) -> u64 {
        let Some(sweep) = self.sweep.take() else {
            return 0;
        };
        match sweep.join().expect("sweep thread panicked") {
            Ok(n) => n,
            Err(e) => {
                eprintln!("partition: warning: leftovers of an earlier run: {e:#}");
                0
            }
        }
    }
}

impl Drop for Leftovers {
    /// The run is over (its own temporaries are gone): no marker.
    fn drop(&mut self) {
        if let Some(m) = self.marker.take() {
            let _ = fs::remove_file(m);
        }
    }
}

/// Is there, directly in `dir`, a temporary of a dead process?
fn dead_temporaries_at(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        atomic::temp_owner(&name.to_string_lossy()).is_some_and(|pid| !atomic::process_alive(pid))
    })
}

/// Remove the spill directories of dead processes directly inside `base`.
fn sweep_spill_dirs(base: &Path) -> Result<u64> {
    let Ok(entries) = fs::read_dir(base) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let dead = name.starts_with(SPILL_PREFIX)
            && atomic::temp_owner(&name).is_some_and(|pid| !atomic::process_alive(pid));
        // file_type does not follow links: a link of that name is left alone.
        if dead && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let path = entry.path();
            fs::remove_dir_all(&path)
                .with_context(|| format!("removing the leftover {}", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}
