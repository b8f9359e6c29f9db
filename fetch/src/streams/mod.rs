//! The streams. Each one pages through its endpoint, hands records to
//! stdout (or the conversation spool) as the body streams in, and returns
//! the bookmark it reached.

pub mod audit;
pub mod lists;
pub mod logs;

use crate::ctx::Ctx;
use crate::http::{BodySink, Retryable};
use crate::splitter::{Element, ListSplitter};
use anyhow::Result;
use serde_json::{json, Value};
use url::Url;

/// Streams a list response through the splitter; elements go to `on_element`.
pub struct ListSink<'a> {
    splitter: ListSplitter,
    on_element: &'a mut dyn FnMut(Element<'_>) -> Result<()>,
    envelope: Option<Value>,
}

impl<'a> ListSink<'a> {
    pub fn new(on_element: &'a mut dyn FnMut(Element<'_>) -> Result<()>) -> ListSink<'a> {
        ListSink {
            splitter: ListSplitter::new(),
            on_element,
            envelope: None,
        }
    }

    /// The envelope (`has_more`, `last_id`, …) once the body is complete.
    pub fn envelope(self) -> Value {
        self.envelope.unwrap_or(Value::Null)
    }
}

impl BodySink for ListSink<'_> {
    fn begin(&mut self) -> Result<()> {
        self.splitter = ListSplitter::new();
        self.envelope = None;
        Ok(())
    }

    fn chunk(&mut self, bytes: &[u8]) -> Result<()> {
        let on = &mut *self.on_element;
        // Element errors (stdout closed, spool full) are final; a malformed
        // body may be a broken proxy or a cut connection, so it is retried.
        let mut element_error = None;
        let r = self.splitter.feed(bytes, &mut |e| {
            on(e).map_err(|err| {
                element_error = Some(err);
                anyhow::anyhow!("element handler failed")
            })
        });
        if let Some(e) = element_error {
            return Err(e);
        }
        r.map_err(|e| Retryable(format!("the response is not valid JSON: {e:#}")).into())
    }

    fn end(&mut self) -> Result<()> {
        let sp = std::mem::take(&mut self.splitter);
        let saw_data = sp.saw_data();
        let env = sp.finish().map_err(|e| Retryable(e.to_string()))?;
        if !saw_data {
            return Err(Retryable(format!(
                "the response has no \"data\" array: {}",
                truncate(&env.to_string(), 200)
            ))
            .into());
        }
        self.envelope = Some(env);
        Ok(())
    }
}

/// Collects a whole (small) body.
#[derive(Default)]
pub struct BytesSink(pub Vec<u8>);

impl BodySink for BytesSink {
    fn begin(&mut self) -> Result<()> {
        self.0.clear();
        Ok(())
    }
    fn chunk(&mut self, bytes: &[u8]) -> Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
    fn end(&mut self) -> Result<()> {
        Ok(())
    }
}

/// GET a small JSON document.
pub async fn get_json(ctx: &mut Ctx, route: &str, url: &Url) -> Result<Value> {
    let mut sink = BytesSink::default();
    ctx.api.get(route, url, &mut sink).await?;
    serde_json::from_slice(&sink.0).map_err(|e| {
        archive_core::Failure::remote(format!(
            "GET {}: the response is not JSON ({e}): {}",
            crate::http::redact_url(url),
            truncate(&String::from_utf8_lossy(&sink.0), 200)
        ))
    })
}

/// GET one list page; each element of `data` goes to `on_element` as it arrives.
/// (Takes the client alone so the handler can borrow the rest of the context.)
pub async fn get_page(
    api: &mut crate::http::Api,
    route: &str,
    url: &Url,
    on_element: &mut dyn FnMut(Element<'_>) -> Result<()>,
) -> Result<Value> {
    let mut sink = ListSink::new(on_element);
    api.get(route, url, &mut sink).await?;
    Ok(sink.envelope())
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

pub fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The page's `has_more` (a short page is not the end; only this is).
pub fn has_more(env: &Value) -> bool {
    env.get("has_more")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// A string field of the envelope.
pub fn env_str(env: &Value, field: &str) -> Option<String> {
    env.get(field).and_then(Value::as_str).map(str::to_string)
}

/// Record the bookmark this run reached as pending (after stdout is flushed:
/// a bookmark must never describe records still sitting in a buffer).
pub fn save_pending(ctx: &mut Ctx, key: &str, mut b: crate::bookmark::Bookmark) -> Result<()> {
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
