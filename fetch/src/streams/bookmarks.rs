//! The streams' side of bookmarks: the committed one a run starts from, the
//! pending one it writes, and the present that no bookmark may pass.

use crate::bookmark::Bookmark;
use crate::ctx::Ctx;
use anyhow::Result;
use serde_json::{json, Value};

/// Warn this long before the retention runs out (at most a quarter of it).
const WARN_AHEAD_SECS: i64 = 7 * 86_400;

/// The committed bookmark of `key`, unless --no-resume. Says on stderr
/// when it overrides --since, and checks how far behind it is.
pub fn committed(ctx: &mut Ctx, key: &str) -> Result<Bookmark> {
    if ctx.opts.no_resume {
        return Ok(Bookmark::default());
    }
    let b = ctx.store.committed(key)?.unwrap_or_default();
    if let Some(t) = b.reached() {
        if let Some(since) = ctx.opts.since.filter(|_| !ctx.opts.dry_run) {
            eprintln!(
                "fetch: {key}: the committed bookmark ({}) overrides --since {}; to start over from --since, add --no-resume",
                crate::timeparse::rfc3339(t),
                crate::timeparse::rfc3339(since)
            );
        }
    }
    if let Some(t) = b.complete_until() {
        freshness(ctx, key, t);
    }
    Ok(b)
}

/// How far behind the committed bookmark at `t` is, against the upstream
/// retention: within 7 days of it (or a quarter of a short one) a warning;
/// beyond it the window [t, now − retention] is gone upstream, which is
/// said on stderr, in the summary, and makes the run exit 1 (what still
/// exists is fetched all the same).
fn freshness(ctx: &mut Ctx, key: &str, t: chrono::DateTime<chrono::Utc>) {
    let Some(retention) = ctx.opts.retention else {
        return;
    };
    let now = chrono::Utc::now();
    let lag = (now - t).num_seconds();
    let keep = retention.as_secs() as i64;
    let warn_at = keep - WARN_AHEAD_SECS.min(keep / 4);
    let human = crate::bookmark::human_secs;
    let mut v =
        json!({"lag_s": lag, "lag": human(lag), "retention_s": keep, "warning": Value::Null});
    if lag > keep {
        let lost_until = now - chrono::Duration::seconds(keep);
        let (from, until) = (
            crate::timeparse::rfc3339(t),
            crate::timeparse::rfc3339(lost_until),
        );
        let msg = format!(
            "the committed bookmark is {} old, beyond the upstream retention of {}: data from {from} to {until} can no longer be fetched (fetching what is left)",
            human(lag),
            human(keep)
        );
        ctx.warn(&msg);
        v["warning"] = json!(msg);
        v["lost_from"] = json!(from);
        v["lost_until"] = json!(until);
        if !ctx.opts.dry_run {
            ctx.stats
                .failures
                .push(format!("{key}: lost window {from} .. {until}"));
        }
    } else if lag > warn_at {
        let msg = format!(
            "the committed bookmark is {} old and the upstream keeps {}: data older than that is lost in {}; run (and commit) sooner",
            human(lag),
            human(keep),
            human(keep - lag)
        );
        ctx.warn(&msg);
        v["warning"] = json!(msg);
    }
    ctx.stats.freshness.insert(key.to_string(), v);
}

/// A time (Unix seconds) a record gives, checked against the present:
/// beyond `bound` it is named in a warning and must not move a bookmark.
pub fn in_present(warnings: &mut Vec<String>, what: &str, id: &str, t: f64, bound: f64) -> bool {
    if t <= bound {
        return true;
    }
    let shown = crate::timeparse::from_unix(t)
        .map(crate::timeparse::rfc3339)
        .unwrap_or_else(|| t.to_string());
    warnings.push(format!(
        "{what} {id} has a time in the future ({shown}); it is written, but the bookmark does not move past the present"
    ));
    false
}

/// Record the bookmark this run reached as pending (after stdout is flushed:
/// a bookmark must never describe records still sitting in a buffer).
pub fn save_pending(ctx: &mut Ctx, key: &str, mut b: Bookmark) -> Result<()> {
    ctx.out.flush()?;
    b.saved_at = crate::timeparse::rfc3339(chrono::Utc::now());
    b.run_id = Some(ctx.opts.run_id.clone());
    if b.covered_until.is_none() && b.sweep.is_none() && !ctx.stats.more && !ctx.stats.uncovered {
        b.covered_until = Some(crate::timeparse::rfc3339(ctx.started));
    }
    let path = ctx.store.write_pending(key, &b)?;
    let mut v = serde_json::to_value(&b)?;
    // The summary shows where it is and how far it got, not the id list.
    if let Some(o) = v.as_object_mut() {
        let n = b.boundary.len();
        o.remove("boundary");
        o.remove("recent_events");
        o.insert("boundary_ids".into(), json!(n));
        o.insert("file".into(), json!(path.display().to_string()));
    }
    ctx.stats.bookmarks.insert(key.to_string(), v);
    Ok(())
}
