//! File writing on worker threads: creating directories and files is
//! system-call bound (tens of microseconds each on ext4), so worker threads
//! (`--write-threads`, default 2) do it while the main thread merges and
//! renders the next groups. Each job names the directories to create first
//! (planned once by `DirMemo`, top-down), then its file is created and
//! written with one write. The temporary file is created new (`O_EXCL`,
//! `O_NOFOLLOW`), so an entry already there, a link above all, is never
//! written through; a directory found where one was to be created must be a
//! real one.

use crate::queue::Queue;
use anyhow::{Context, Result};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Jobs waiting for a worker, and the bytes they may hold between them
/// (the submitter waits for finished jobs beyond that).
const QUEUE: usize = 4096;
const QUEUE_BYTES: usize = 16 << 20;

struct Job {
    mkdirs: Vec<PathBuf>,
    tmp: PathBuf,
    dest: PathBuf,
    bytes: Vec<u8>,
}

/// A finished job: its size, and its temporary and final names.
type Done = (usize, Result<(PathBuf, PathBuf)>);

pub struct Writers {
    jobs: Arc<Queue<Job>>,
    done: Arc<Queue<Done>>,
    handles: Vec<JoinHandle<()>>,
    outstanding: usize,
    outstanding_bytes: usize,
}

impl Writers {
    pub fn new(threads: usize) -> Writers {
        let jobs = Arc::new(Queue::<Job>::new(QUEUE));
        // Never full: at most QUEUE jobs plus one per thread are in flight.
        let done = Arc::new(Queue::<Done>::new(QUEUE + threads + 1));
        let handles = (0..threads.max(1))
            .map(|_| {
                let jobs = Arc::clone(&jobs);
                let done = Arc::clone(&done);
                std::thread::spawn(move || {
                    while let Some(job) = jobs.pop() {
                        let r = write(&job).map(|()| (job.tmp, job.dest));
                        if !done.push((job.bytes.len(), r)) {
                            break;
                        }
                    }
                })
            })
            .collect();
        Writers {
            jobs,
            done,
            handles,
            outstanding: 0,
            outstanding_bytes: 0,
        }
    }

    /// Queue `bytes` to be written to `tmp` (whose final name is `dest`),
    /// after creating `mkdirs` in order. Finished jobs are collected into
    /// `finished`; when too many bytes are queued this waits for some.
    pub fn submit(
        &mut self,
        mkdirs: Vec<PathBuf>,
        tmp: PathBuf,
        dest: PathBuf,
        bytes: Vec<u8>,
        finished: &mut Vec<(PathBuf, PathBuf)>,
    ) -> Result<()> {
        while let Some(d) = self.done.try_pop() {
            self.collect(d, finished)?;
        }
        if self.outstanding > 0 && self.outstanding_bytes + bytes.len() > QUEUE_BYTES {
            // Full: wait until half of it is written, in one sleep. Waiting
            // for one file at a time woke this thread (two context switches
            // on two busy cores) for every file of the run.
            while self.outstanding > 0 && self.outstanding_bytes + bytes.len() > QUEUE_BYTES / 2 {
                let got = self.done.pop_at_least(self.outstanding.div_ceil(2));
                if got.is_empty() {
                    return Err(stopped());
                }
                self.collect_all(got, finished)?;
            }
        }
        self.outstanding += 1;
        self.outstanding_bytes += bytes.len();
        let job = Job {
            mkdirs,
            tmp,
            dest,
            bytes,
        };
        if self.jobs.push(job) {
            Ok(())
        } else {
            Err(stopped())
        }
    }

    fn collect(&mut self, (len, r): Done, finished: &mut Vec<(PathBuf, PathBuf)>) -> Result<()> {
        self.outstanding -= 1;
        self.outstanding_bytes -= len;
        finished.push(r?);
        Ok(())
    }

    /// Count in all of `done`; successes go to `finished` even when one
    /// failed (so they can be cleaned up), and the first failure is returned.
    fn collect_all(
        &mut self,
        done: Vec<Done>,
        finished: &mut Vec<(PathBuf, PathBuf)>,
    ) -> Result<()> {
        let mut first_err = None;
        for (len, r) in done {
            self.outstanding -= 1;
            self.outstanding_bytes -= len;
            match r {
                Ok(pair) => finished.push(pair),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Wait for every queued file; successes go to `finished` even when
    /// one failed (so they can be cleaned up).
    pub fn wait_all(&mut self, finished: &mut Vec<(PathBuf, PathBuf)>) -> Result<()> {
        let mut first_err = None;
        while self.outstanding > 0 {
            let got = self.done.pop_at_least(self.outstanding);
            if got.is_empty() {
                return Err(first_err.unwrap_or_else(stopped));
            }
            if let Err(e) = self.collect_all(got, finished) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for Writers {
    fn drop(&mut self) {
        self.jobs.close();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        // Anything written but never committed is removed.
        while let Some((_, r)) = self.done.try_pop() {
            if let Ok((tmp, _)) = r {
                let _ = fs::remove_file(tmp);
            }
        }
    }
}

fn stopped() -> anyhow::Error {
    anyhow::anyhow!("file writer threads stopped")
}

fn write(job: &Job) -> Result<()> {
    for dir in &job.mkdirs {
        make_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f = match create_new(&job.tmp) {
        Ok(f) => Ok(f),
        // The directory is another worker's to create and not there yet
        // (or was removed under us): create it here instead.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = job.tmp.parent() {
                fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            create_new(&job.tmp)
        }
        // A leftover of a dead process that had this process's id: it is
        // ours to replace (removing it removes a link, never its target).
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(&job.tmp).and_then(|()| create_new(&job.tmp))
        }
        Err(e) => Err(e),
    }
    .with_context(|| format!("creating {}", job.tmp.display()))?;
    f.write_all(&job.bytes)
        .with_context(|| format!("writing {}", job.tmp.display()))
}

/// A new file, never an existing one or a link's target.
fn create_new(path: &Path) -> io::Result<File> {
    File::options()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// One mkdir for a directory planned to be missing; tolerates another
/// worker (or process) having created it (a real directory, not a link), or
/// its parent not being there yet.
fn make_dir(dir: &Path) -> io::Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(m) if m.file_type().is_symlink() => Err(io::Error::other(
                "a symbolic link appeared there (partition never writes through links)",
            )),
            _ => Err(e),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(dir),
        Err(e) => Err(e),
    }
}
