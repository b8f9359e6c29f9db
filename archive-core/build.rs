//! Puts the git commit into `--version` (`ARCHIVE_GIT_COMMIT`), so a binary
//! found on a server says which source it was built from.
//!
//! Debug builds watch only `.git/HEAD`, so that every commit does not rebuild
//! the workspace during development; release builds (install, demo, image)
//! also watch the branch ref, so their version is exact.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ARCHIVE_GIT_COMMIT");
    let commit = std::env::var("ARCHIVE_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown commit".to_string());
    println!("cargo:rustc-env=ARCHIVE_GIT_COMMIT={commit}");

    let git = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.git");
    if git.join("HEAD").exists() {
        println!("cargo:rerun-if-changed={}", git.join("HEAD").display());
        if std::env::var("PROFILE").as_deref() == Ok("release") {
            if let Ok(head) = std::fs::read_to_string(git.join("HEAD")) {
                if let Some(r) = head.strip_prefix("ref: ") {
                    println!("cargo:rerun-if-changed={}", git.join(r.trim()).display());
                }
            }
            println!(
                "cargo:rerun-if-changed={}",
                git.join("packed-refs").display()
            );
        }
    }
}

fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["log", "-1", "--format=%h %cs"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}
