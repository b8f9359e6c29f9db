//! Requests that are not listings: a small JSON object (`max_event_time`),
//! and the one request of `--dry-run`.

use crate::ctx::Ctx;
use crate::http::{BodySink, Retryable};
use crate::redact::excerpt;
use anyhow::Result;
use serde_json::{json, Value};
use url::Url;

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
