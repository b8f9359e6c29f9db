//! The streams' side of bookmarks: the committed one a run starts from, the
//! pending one it writes, and the present that no bookmark may pass.

use crate::bookmark::Bookmark;
use crate::ctx::Ctx;
use anyhow::Result;
use serde_json::json;

/// The committed bookmark of `key`, unless --no-resume.
pub fn committed(ctx: &Ctx, key: &str) -> Result<Bookmark> {
    if ctx.opts.no_resume {
        return Ok(Bookmark::default());
    }
    Ok(ctx.store.committed(key)?.unwrap_or_default())
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
