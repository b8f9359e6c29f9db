//! Where file lines come from: stdin (or --input), a folder walked in
//! folder mode, or a fallback directory being drained. Each runs on its
//! own thread and feeds a bounded channel, so ship starts uploading while
//! its producer is still writing and memory stays bounded.

use archive_core::FileLine;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// One input item: a file line, or a line that could not be read.
pub enum Item {
    Line(Box<FileLine>),
    Bad(anyhow::Error),
}

/// Fields of an object line that an input line may already carry (when
/// object lines are shipped again); they are replaced, not duplicated.
const OBJECT_FIELDS: &[&str] = &[
    "url",
    "key",
    "etag",
    "version_id",
    "checksum_sha256",
    "storage_class",
    "status",
    "error",
    "s3_checksum",
    "object_bytes",
    "object_sha256",
    "encryption",
];

/// File lines from stdin or a file.
pub fn lines(input: Option<PathBuf>, tx: mpsc::Sender<Item>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let name = archive_core::io::input_name(input.as_deref());
        let reader = match archive_core::io::open_input(input.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Item::Bad(e.context(archive_core::Failure::Usage)));
                return;
            }
        };
        use std::io::BufRead;
        for (i, line) in reader.lines().enumerate() {
            let item = match line {
                Ok(l) if l.trim().is_empty() => continue,
                Ok(l) => match FileLine::parse(&l, &name, i as u64 + 1) {
                    Ok(mut fl) => {
                        for f in OBJECT_FIELDS {
                            fl.extra.remove(*f);
                        }
                        Item::Line(Box::new(fl))
                    }
                    Err(e) => Item::Bad(e),
                },
                Err(e) => Item::Bad(archive_core::Failure::data(format!(
                    "{name}:{}: {e}",
                    i + 1
                ))),
            };
            if tx.blocking_send(item).is_err() {
                return;
            }
        }
    })
}

/// File lines for every regular file under `root` (sorted; temporary
/// files of crashed writers skipped). The SHA-256 is left empty: the
/// upload computes it while reading, so each file is read once.
pub fn walk(root: PathBuf, tx: mpsc::Sender<Item>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut files = Vec::new();
        if let Err(e) = collect(&root, &root, &mut files) {
            let _ = tx.blocking_send(Item::Bad(e));
            return;
        }
        files.sort();
        for (rel, bytes) in files {
            let line = FileLine {
                root: root.to_string_lossy().into_owned(),
                path: rel,
                bytes,
                sha256: String::new(),
                extra: Default::default(),
            };
            if tx.blocking_send(Item::Line(Box::new(line))).is_err() {
                return;
            }
        }
    })
}

fn collect(base: &Path, dir: &Path, out: &mut Vec<(String, u64)>) -> anyhow::Result<()> {
    use anyhow::Context;
    let rd =
        std::fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))?;
    for e in rd {
        let e = e.with_context(|| format!("reading directory {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if archive_core::atomic::is_temp_name(&name) {
            continue;
        }
        let p = e.path();
        let meta = std::fs::metadata(&p).with_context(|| format!("reading {}", p.display()))?;
        if meta.is_dir() {
            collect(base, &p, out)?;
        } else if meta.is_file() {
            let rel = p
                .strip_prefix(base)
                .expect("walked under base")
                .to_string_lossy()
                .replace('\\', "/");
            archive_core::lines::check_relative(&rel)?;
            out.push((rel, meta.len()));
        }
    }
    Ok(())
}

/// Expand folder mode's prefix template at time `now`.
pub fn expand_template(template: &str, now: chrono::DateTime<chrono::Utc>, name: &str) -> String {
    template
        .replace("{yyyy}", &now.format("%Y").to_string())
        .replace("{mm}", &now.format("%m").to_string())
        .replace("{dd}", &now.format("%d").to_string())
        .replace("{HH}", &now.format("%H").to_string())
        .replace("{MM}", &now.format("%M").to_string())
        .replace("{SS}", &now.format("%S").to_string())
        .replace("{name}", &archive_core::naming::sanitize_segment(name))
}

#[cfg(test)]
mod tests {
    #[test]
    fn template_expands() {
        use chrono::TimeZone;
        let t = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 2, 5, 9).unwrap();
        assert_eq!(
            super::expand_template("{yyyy}{mm}{dd}_{HH}{MM}{SS}_{name}/", t, "review docs"),
            format!(
                "20261123_020509_{}/",
                archive_core::naming::sanitize_segment("review docs")
            )
        );
    }
}
