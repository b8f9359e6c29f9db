//! The file-system floor of a partition run: how long it takes only to
//! create a tree of files that partition wrote before (every directory,
//! every file, every byte), with no input to read, no JSON, no temporary
//! names or renames, on several threads; then one `syncfs`. No tool that
//! writes the same layout to the same disk can be faster than this.
//!
//!   cargo run --release -p partition --example fs_floor -- TREE DEST [THREADS]
//!
//! TREE is read into memory first (not timed). DEST must not exist. Prints
//! one JSON line: files, directories, bytes, the seconds to create and
//! write them and to sync, and the CPU seconds (user, system) the process
//! spent in that timed part: on a machine shared with other work, CPU time
//! moves much less than wall time, so it is what to compare across runs.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn collect(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let dir = root.join(rel);
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let rel = rel.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            collect(root, &rel, out);
        } else {
            out.push((rel.clone(), fs::read(root.join(&rel)).unwrap()));
        }
    }
}

/// User and system CPU seconds of this process (all its threads) so far.
fn cpu_seconds() -> (f64, f64) {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) }, 0);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(u.ru_utime), secs(u.ru_stime))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: fs_floor TREE DEST [THREADS]");
        std::process::exit(2);
    }
    let (tree, dest) = (PathBuf::from(&args[1]), PathBuf::from(&args[2]));
    let threads: usize = args.get(3).map_or(2, |t| t.parse().expect("THREADS"));
    assert!(!dest.exists(), "{} exists", dest.display());
    let mut files = Vec::new();
    collect(&tree, Path::new(""), &mut files);
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    fs::create_dir_all(&dest).unwrap();

    // Contiguous shares, so each thread owns whole user directories (as
    // partition's writers mostly do) and no two threads race for a mkdir.
    let share = files.len().div_ceil(threads.max(1));
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let dirs: usize = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(share.max(1))
            .map(|part| {
                let dest = &dest;
                s.spawn(move || {
                    let mut made = HashSet::new();
                    for (rel, data) in part {
                        let mut missing = Vec::new();
                        let mut d = rel.parent();
                        while let Some(p) = d.filter(|p| !p.as_os_str().is_empty()) {
                            if made.contains(p) {
                                break;
                            }
                            missing.push(p.to_path_buf());
                            d = p.parent();
                        }
                        for p in missing.into_iter().rev() {
                            match fs::create_dir(dest.join(&p)) {
                                Ok(()) => {}
                                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                                Err(e) => panic!("mkdir {}: {e}", p.display()),
                            }
                            made.insert(p);
                        }
                        fs::File::create(dest.join(rel))
                            .and_then(|mut f| f.write_all(data))
                            .unwrap();
                    }
                    made.len()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let written = started.elapsed().as_secs_f64();
    let root = fs::File::open(&dest).unwrap();
    // SAFETY: syncfs only reads the descriptor, which `root` keeps open.
    assert_eq!(unsafe { libc::syncfs(root.as_raw_fd()) }, 0);
    let synced = started.elapsed().as_secs_f64();
    let cpu_after = cpu_seconds();
    let (user, sys) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    println!(
        "{{\"files\":{},\"directories\":{dirs},\"bytes\":{bytes},\"threads\":{threads},\"write_seconds\":{written:.3},\"write_and_sync_seconds\":{synced:.3},\"user_seconds\":{user:.3},\"sys_seconds\":{sys:.3}}}",
        files.len()
    );
}
