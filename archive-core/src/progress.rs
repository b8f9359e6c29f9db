//! Progress bars on stderr, drawn the same way by every tool.
//!
//! A bar is drawn only when it helps a person watching: stderr is a
//! terminal, `NO_PROGRESS` is unset (or `0`), `--no-progress` was not given,
//! and stdout is not a pipe. The last rule is what keeps a pipeline such as
//! `fetch | partition | manifest | ship` readable on one terminal: only the
//! last stage (whose stdout is a terminal or a file) draws; the others would
//! overwrite its line.
//!
//! Where the total is known the bar counts bytes (or items) with rate and
//! ETA; otherwise it is a counter with a rate.

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The bar type, so a tool needs no indicatif dependency of its own.
pub use indicatif::ProgressBar as Bar;

static DISABLED: AtomicBool = AtomicBool::new(false);

/// Turn bars off for the rest of the process (`--no-progress`).
pub fn disable() {
    DISABLED.store(true, Ordering::Relaxed);
}

/// Whether bars are drawn; see the module comment for the rules.
pub fn enabled() -> bool {
    if DISABLED.load(Ordering::Relaxed) {
        return false;
    }
    if std::env::var_os("NO_PROGRESS").is_some_and(|v| !v.is_empty() && v != "0") {
        return false;
    }
    crate::io::stderr_is_terminal() && !stdout_is_pipe()
}

fn stdout_is_pipe() -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata("/dev/stdout")
        .map(|m| m.file_type().is_fifo() || m.file_type().is_socket())
        .unwrap_or(false)
}

/// A template with `{rate}`: items per second as a whole number.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("template is valid")
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let per_sec = s.pos() as f64 / s.elapsed().as_secs_f64().max(0.001);
            let _ = write!(w, "{}/s", HumanCount(per_sec as u64));
        })
}

fn draw(bar: ProgressBar) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    // Drawn at once, so even a short run shows what it was doing.
    bar.tick();
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// A bar over `total` bytes: `tool: what [bar] 1.2 GiB/3.4 GiB (85 MiB/s, ETA 26s)`.
pub fn bytes(tool: &str, what: &str, total: u64) -> ProgressBar {
    let style = ProgressStyle::with_template(&format!(
        "{tool}: {what} {{wide_bar}} {{binary_bytes}}/{{binary_total_bytes}} ({{binary_bytes_per_sec}}, ETA {{eta}}) {{msg}}"
    ))
    .expect("template is valid");
    draw(ProgressBar::new(total).with_style(style))
}

/// A bar over `total` items: `tool: what [bar] 120/400 files (35/s, ETA 10s)`.
pub fn items(tool: &str, what: &str, unit: &str, total: u64) -> ProgressBar {
    let style = style(&format!(
        "{tool}: {what} {{wide_bar}} {{human_pos}}/{{human_len}} {unit} ({{rate}}, ETA {{eta}}) {{msg}}"
    ));
    draw(ProgressBar::new(total).with_style(style))
}

/// A counter with no known total: `tool: what 12,345 records (3,456/s) 2m 3s  msg`.
pub fn counter(tool: &str, what: &str, unit: &str) -> ProgressBar {
    let style = style(&format!(
        "{tool}: {{spinner}} {what} {{human_pos}} {unit} ({{rate}}) {{elapsed}} {{msg}}"
    ));
    draw(ProgressBar::no_length().with_style(style))
}

/// A counter of bytes with no known total (a pipe): `tool: what 1.2 GiB (85 MiB/s) 14s`.
pub fn byte_counter(tool: &str, what: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(&format!(
        "{tool}: {{spinner}} {what} {{binary_bytes}} ({{binary_bytes_per_sec}}) {{elapsed}} {{msg}}"
    ))
    .expect("template is valid");
    draw(ProgressBar::no_length().with_style(style))
}

/// The size of `path` when it is a regular file that is not compressed,
/// so that the bytes a tool reads (after decompression) can be counted
/// against it; None for stdin, a pipe or a compressed file.
pub fn plain_file_size(path: &std::path::Path) -> Option<u64> {
    use std::io::Read;
    if path.as_os_str() == "-" {
        return None;
    }
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok().filter(|m| m.is_file())?.len();
    let mut first = [0u8; 4];
    let n = f.read(&mut first).ok()?;
    crate::io::Compressed::detect(&first[..n])
        .is_none()
        .then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_means_hidden() {
        disable();
        assert!(!enabled());
        assert!(bytes("t", "x", 10).is_hidden());
        assert!(counter("t", "x", "records").is_hidden());
    }
}
