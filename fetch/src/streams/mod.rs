//! The streams. Each one describes its listing to the one pagination loop
//! ([`paginate`]), hands records to stdout (or the conversation spool) as
//! the body streams in, and records the bookmark it reached as pending.

pub mod audit;
pub mod conversations;
pub mod logs;
pub mod paginate;
pub mod snapshot;

use crate::bookmark::Bookmark;
use crate::ctx::Ctx;
use crate::http::{BodySink, Retryable};
use crate::model::Stream;
use crate::redact::excerpt;
use anyhow::Result;
use serde_json::{json, Value};
use url::Url;

/// Run one stream to its end.
pub async fn run(ctx: &mut Ctx, stream: &Stream) -> Result<()> {
    match stream {
        Stream::Logs { event_types } => logs::logs(ctx, event_types).await,
        Stream::Conversations => conversations::conversations(ctx).await,
        Stream::Snapshot(name) => snapshot::snapshot(ctx, name).await,
        Stream::AuditLogs(filters) => audit::audit_logs(ctx, filters).await,
    }
}

/// Collects a whole (small) body; with `require`, the body must be a JSON
/// object holding that field as an object, or the attempt is retried.
#[derive(Default)]
pub struct BytesSink {
    pub bytes: Vec<u8>,
    require: Option<&'static str>,
}

impl BodySink for BytesSink {
    fn begin(&mut self) -> Result<()> {
        self.bytes.clear();
        Ok(())
    }
    fn chunk(&mut self, bytes: &[u8]) -> Result<()> {
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }
    fn end(&mut self) -> Result<()> {
        let Some(field) = self.require else {
            return Ok(());
        };
        let ok = serde_json::from_slice::<Value>(&self.bytes)
            .ok()
            .is_some_and(|v| v.get(field).is_some_and(Value::is_object));
        if ok {
            return Ok(());
        }
        Err(Retryable(format!(
            "the response is not a JSON object with a \"{field}\" object; it starts with: {}",
            excerpt(&String::from_utf8_lossy(&self.bytes), 200)
        ))
        .into())
    }
}

/// GET a small JSON object that must hold the object `field`.
pub async fn get_object(
    ctx: &mut Ctx,
    route: &str,
    url: &Url,
    field: &'static str,
) -> Result<Value> {
    let mut sink = BytesSink {
        bytes: Vec::new(),
        require: Some(field),
    };
    ctx.api.get(route, url, &mut sink).await?;
    Ok(serde_json::from_slice(&sink.bytes)?)
}

/// `--dry-run`: show the first request (key redacted) and check the
/// credentials with that one call; fetch and write nothing else.
pub async fn dry_run(ctx: &mut Ctx, route: &str, url: &Url) -> Result<()> {
    let mut sink = BytesSink::default();
    ctx.api.get(route, url, &mut sink).await?;
    let line = json!({
        "status": "planned",
        "stream": ctx.stream,
        "method": "GET",
        "url": crate::http::redact_url(url),
        "authorization": "Bearer [redacted]",
        "credentials": "ok",
    });
    ctx.out.json(&line)?;
    Ok(())
}

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
