//! File writing on worker threads: creating directories and files is
//! system-call bound (tens of microseconds each on ext4), so worker threads
//! (`--write-threads`, default 2) do it while the main thread merges and renders the next groups.

use anyhow::{Context, Result};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// Jobs waiting for a worker; bounds the bytes held in the queue.
const QUEUE: usize = 16;
/// Directories remembered per worker (forgetting one only costs a mkdir).
const DIR_CACHE: usize = 65536;

struct Job {
    tmp: PathBuf,
    dest: PathBuf,
    bytes: Vec<u8>,
}

type Done = Result<(PathBuf, PathBuf)>;

pub struct Writers {
    tx: Option<Sender<Job>>,
    done: Receiver<Done>,
    handles: Vec<JoinHandle<()>>,
    outstanding: usize,
}

impl Writers {
    pub fn new(threads: usize) -> Writers {
        let (tx, rx) = bounded::<Job>(QUEUE);
        let (done_tx, done) = bounded::<Done>(QUEUE * 4 + threads);
        let handles = (0..threads.max(1))
            .map(|_| {
                let rx = rx.clone();
                let done_tx = done_tx.clone();
                std::thread::spawn(move || {
                    let mut dirs = HashSet::new();
                    for job in rx {
                        let r = write(&mut dirs, &job).map(|()| (job.tmp, job.dest));
                        if done_tx.send(r).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        Writers {
            tx: Some(tx),
            done,
            handles,
            outstanding: 0,
        }
    }

    /// Queue `bytes` to be written to `tmp` (whose final name is `dest`).
    /// Finished jobs are collected into `finished` to keep the result
    /// queue from filling up.
    pub fn submit(
        &mut self,
        tmp: PathBuf,
        dest: PathBuf,
        bytes: Vec<u8>,
        finished: &mut Vec<(PathBuf, PathBuf)>,
    ) -> Result<()> {
        while let Ok(r) = self.done.try_recv() {
            self.outstanding -= 1;
            finished.push(r?);
        }
        self.tx
            .as_ref()
            .expect("writers running")
            .send(Job { tmp, dest, bytes })
            .map_err(|_| anyhow::anyhow!("file writer threads stopped"))?;
        self.outstanding += 1;
        Ok(())
    }

    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Wait for every queued file; successes go to `finished` even when
    /// one failed (so they can be cleaned up).
    pub fn wait_all(&mut self, finished: &mut Vec<(PathBuf, PathBuf)>) -> Result<()> {
        let mut first_err = None;
        while self.outstanding > 0 {
            let r = self
                .done
                .recv()
                .map_err(|_| anyhow::anyhow!("file writer threads stopped"))?;
            self.outstanding -= 1;
            match r {
                Ok(pair) => finished.push(pair),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for Writers {
    fn drop(&mut self) {
        self.tx.take();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        // Anything written but never committed is removed.
        while let Ok(r) = self.done.try_recv() {
            if let Ok((tmp, _)) = r {
                let _ = fs::remove_file(tmp);
            }
        }
    }
}

fn write(dirs: &mut HashSet<PathBuf>, job: &Job) -> Result<()> {
    if let Some(dir) = job.tmp.parent() {
        ensure_dir(dirs, dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f =
        File::create(&job.tmp).with_context(|| format!("creating {}", job.tmp.display()))?;
    f.write_all(&job.bytes)
        .with_context(|| format!("writing {}", job.tmp.display()))
}

/// `create_dir_all` that remembers what exists, so a new directory under a
/// known parent costs one mkdir.
fn ensure_dir(dirs: &mut HashSet<PathBuf>, dir: &Path) -> io::Result<()> {
    if dirs.contains(dir) {
        return Ok(());
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                ensure_dir(dirs, parent)?;
            }
            match fs::create_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    }
    if dirs.len() >= DIR_CACHE {
        dirs.clear();
    }
    dirs.insert(dir.to_path_buf());
    Ok(())
}
