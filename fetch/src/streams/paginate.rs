//! The one pagination loop every listing goes through (users, gpts,
//! projects, memories, conversations and their nested messages, log files,
//! audit logs). A stream says how to build the URL for a cursor and what to
//! do with each element ([`PageSource`]); the loop owns the rest:
//!
//! - each page is checked: a JSON object with a `data` array and a boolean
//!   `has_more`; anything else (an HTML page, a bare array, a BOM, trailing
//!   bytes, `"has_more": "true"`) is retried like a 5xx, then ends the run
//!   with exit 4 naming the URL and the first bytes (masked);
//! - every element reaches the stream as one compact line, whatever the
//!   server's whitespace (key order and number text kept);
//! - the cursor must change on every page and never come back within the
//!   listing; a time cursor (`last_end_time`) must move forward. Breaking a
//!   rule stops the run with exit 4 naming the listing, the URL and the
//!   cursor, before anything can be committed;
//! - the page budget (`--max-pages`, per bookmark) is counted here, and a
//!   listing it cuts short returns the cursor to continue from.

use crate::ctx::{Ctx, RunStats};
use crate::http::{BodySink, Retryable};
use crate::model::Opts;
use crate::redact::excerpt;
use crate::splitter::{compact, Element, ListSplitter};
use anyhow::Result;
use archive_core::io::LineOut;
use archive_core::Failure;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashSet;
use url::Url;

/// Bytes of a body kept for the message when it is malformed.
const HEAD: usize = 200;

/// How the cursor of a listing moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorRule {
    /// An id (`last_id`): it changes on every page and never repeats.
    Id,
    /// A time (`last_end_time`): it also moves forward, never back.
    Time,
}

/// What the loop needs to know about a listing.
#[derive(Debug, Clone)]
pub struct Listing {
    /// For messages: `users`, `logs AUTH_LOG`, `messages of conversation …`.
    pub what: String,
    /// The rate limiter's route.
    pub route: &'static str,
    /// The envelope field holding the next cursor.
    pub cursor_field: &'static str,
    pub rule: CursorRule,
}

/// `--max-pages`: pages one bookmark's run may request.
#[derive(Debug, Clone)]
pub struct Budget {
    max: Option<u64>,
    used: u64,
}

impl Budget {
    pub fn new(max: Option<u64>) -> Budget {
        Budget { max, used: 0 }
    }
    /// No limit (a nested listing that must be read whole).
    pub fn unlimited() -> Budget {
        Budget::new(None)
    }
    pub fn spent(&self) -> bool {
        self.max.is_some_and(|m| self.used >= m)
    }
}

/// How a listing ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paged {
    /// `has_more` was false.
    Finished,
    /// The budget ran out; continue from `next` (empty: from the start).
    Stopped { next: String },
}

/// Where an element's output goes.
pub struct PageIo<'a> {
    pub out: &'a mut LineOut,
    pub stats: &'a mut RunStats,
    pub url: &'a Url,
    /// Printed (masked) after the page.
    pub warnings: &'a mut Vec<String>,
}

/// One stream's side of a listing.
#[allow(async_fn_in_trait)]
pub trait PageSource {
    /// The URL of the page after `cursor` (`None`: the first page).
    fn url(&self, opts: &Opts, cursor: Option<&str>) -> Result<Url>;
    /// A page is being requested again: forget what the failed attempt
    /// collected (records already written are dropped as duplicates).
    fn restart(&mut self) {}
    /// One element of `data`, compact, as it arrives.
    fn element(&mut self, io: &mut PageIo<'_>, e: Element<'_>) -> Result<()>;
    /// The cursor when the envelope has none (the last element's id).
    fn last_seen(&self) -> Option<String> {
        None
    }
    /// The page is complete: work that needs the whole context.
    async fn page_done(&mut self, _ctx: &mut Ctx, _env: &Value) -> Result<()> {
        Ok(())
    }
}

/// Page through a listing from `start` until `has_more` is false or the
/// budget is spent.
pub async fn paginate<S: PageSource>(
    ctx: &mut Ctx,
    listing: &Listing,
    start: Option<String>,
    budget: &mut Budget,
    src: &mut S,
) -> Result<Paged> {
    let mut cursor = start.filter(|c| !c.is_empty());
    let mut seen: HashSet<String> = cursor.iter().cloned().collect();
    loop {
        if budget.spent() {
            return Ok(Paged::Stopped {
                next: cursor.unwrap_or_default(),
            });
        }
        let url = src.url(&ctx.opts, cursor.as_deref())?;
        let env = get_page(ctx, listing.route, &url, src).await?;
        budget.used += 1;
        ctx.stats.pages += 1;
        src.page_done(ctx, &env).await?;
        let next = env
            .get(listing.cursor_field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| src.last_seen());
        ctx.tick(next.as_deref().or(cursor.as_deref()).unwrap_or(""));
        if env.get("has_more") != Some(&Value::Bool(true)) {
            return Ok(Paged::Finished);
        }
        let next = check_next(listing, &url, cursor.as_deref(), next, &seen)?;
        seen.insert(next.clone());
        cursor = Some(next);
    }
}

/// The next cursor of a page with `has_more: true`, if it obeys the rules.
fn check_next(
    listing: &Listing,
    url: &Url,
    current: Option<&str>,
    next: Option<String>,
    seen: &HashSet<String>,
) -> Result<String> {
    let field = listing.cursor_field;
    let broken = |why: String| {
        Failure::remote(format!(
            "{}: GET {}: has_more is true but {why}; stopped, nothing committed",
            listing.what,
            crate::http::redact_url(url)
        ))
    };
    let Some(next) = next.filter(|n| !n.is_empty()) else {
        return Err(broken(format!(
            "the page gives no {field} to continue from"
        )));
    };
    if Some(next.as_str()) == current {
        return Err(broken(format!(
            "{field} {next:?} is the cursor this page was asked with (it does not move)"
        )));
    }
    if listing.rule == CursorRule::Time {
        if let (Some(c), Some(n)) = (current.and_then(parse_time), parse_time(&next)) {
            if n <= c {
                return Err(broken(format!(
                    "{field} {next:?} is not after the cursor {:?} (time runs backwards)",
                    current.unwrap_or_default()
                )));
            }
        }
    }
    if seen.contains(&next) {
        return Err(broken(format!(
            "{field} {next:?} was already used in this run (the cursor cycles)"
        )));
    }
    Ok(next)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// GET one page; each element of `data` goes to the source as it arrives.
async fn get_page<S: PageSource>(
    ctx: &mut Ctx,
    route: &str,
    url: &Url,
    src: &mut S,
) -> Result<Value> {
    let mut warnings = Vec::new();
    let mut sink = PageSink {
        splitter: ListSplitter::new(),
        src,
        out: &mut ctx.out,
        stats: &mut ctx.stats,
        url,
        warnings: &mut warnings,
        head: Vec::new(),
        envelope: None,
    };
    let got = ctx.api.get(route, url, &mut sink).await;
    let envelope = sink.envelope.take();
    for w in warnings {
        ctx.warn(&w);
    }
    got?;
    Ok(envelope.unwrap_or(Value::Null))
}

/// Streams a list response through the splitter into a [`PageSource`].
struct PageSink<'a, S> {
    splitter: ListSplitter,
    src: &'a mut S,
    out: &'a mut LineOut,
    stats: &'a mut RunStats,
    url: &'a Url,
    warnings: &'a mut Vec<String>,
    /// The first bytes of the body, for the message when it is malformed.
    head: Vec<u8>,
    envelope: Option<Value>,
}

impl<S> PageSink<'_, S> {
    fn malformed(&self, why: &str) -> anyhow::Error {
        Retryable(format!(
            "the response is not a JSON object with a \"data\" array ({why}); it starts with: {}",
            excerpt(&String::from_utf8_lossy(&self.head), HEAD)
        ))
        .into()
    }
}

impl<S: PageSource> BodySink for PageSink<'_, S> {
    fn begin(&mut self) -> Result<()> {
        self.splitter = ListSplitter::new();
        self.envelope = None;
        self.head.clear();
        self.src.restart();
        Ok(())
    }

    fn chunk(&mut self, bytes: &[u8]) -> Result<()> {
        if self.head.len() < HEAD + 64 {
            let take = (HEAD + 64 - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        let mut io = PageIo {
            out: self.out,
            stats: self.stats,
            url: self.url,
            warnings: self.warnings,
        };
        let src = &mut *self.src;
        // Element errors (stdout closed, a record without an id) are final;
        // a malformed body may be a broken proxy or a cut connection, so it
        // is retried.
        let mut element_error = None;
        let r = self.splitter.feed(bytes, &mut |e| {
            let handled = if e.bytes.iter().any(|b| *b == b'\n' || *b == b'\r') {
                let line = compact(e.bytes);
                match serde_json::from_slice::<serde::de::IgnoredAny>(&line) {
                    Ok(_) => src.element(&mut io, Element::raw(&line)),
                    Err(err) => return Err(anyhow::anyhow!("a record in data is not JSON: {err}")),
                }
            } else {
                src.element(&mut io, e)
            };
            handled.map_err(|err| {
                element_error = Some(err);
                anyhow::anyhow!("element handler failed")
            })
        });
        if let Some(e) = element_error {
            return Err(e);
        }
        r.map_err(|e| self.malformed(&format!("{e:#}")))
    }

    fn end(&mut self) -> Result<()> {
        let sp = std::mem::take(&mut self.splitter);
        let saw_data = sp.saw_data();
        let env = match sp.finish() {
            Ok(env) => env,
            Err(e) => return Err(self.malformed(&e.to_string())),
        };
        if !saw_data {
            return Err(self.malformed("no \"data\" list"));
        }
        match env.get("has_more") {
            Some(Value::Bool(_)) => {}
            other => {
                return Err(Retryable(format!(
                    "has_more is {}, not true or false; it starts with: {}",
                    other.map_or("missing".to_string(), |v| excerpt(&v.to_string(), 40)),
                    excerpt(&String::from_utf8_lossy(&self.head), HEAD)
                ))
                .into())
            }
        }
        self.envelope = Some(env);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(rule: CursorRule) -> Listing {
        Listing {
            what: "users".into(),
            route: "users",
            cursor_field: "last_id",
            rule,
        }
    }

    #[test]
    fn cursors_must_move_never_repeat_and_times_go_forward() {
        let url = Url::parse("http://127.0.0.1:1/v1/x?after=u2").unwrap();
        let seen: HashSet<String> = ["u2".to_string(), "u4".to_string()].into();
        let l = listing(CursorRule::Id);
        let ok = check_next(&l, &url, Some("u4"), Some("u6".into()), &seen).unwrap();
        assert_eq!(ok, "u6");
        for (cur, next, says) in [
            (Some("u4"), Some("u4"), "does not move"),
            (Some("u4"), Some("u2"), "cycles"),
            (Some("u4"), None, "no last_id"),
        ] {
            let e = check_next(&l, &url, cur, next.map(String::from), &seen).unwrap_err();
            let msg = format!("{e:#}");
            assert!(
                msg.contains(says) && msg.contains("users") && msg.contains("after=u2"),
                "{msg}"
            );
            assert_eq!(archive_core::exit::exit_code(&e), 4);
        }
        let t = listing(CursorRule::Time);
        let none = HashSet::new();
        let e = check_next(
            &t,
            &url,
            Some("2026-01-02T00:00:00Z"),
            Some("2026-01-01T00:00:00Z".into()),
            &none,
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("backwards"));
        assert!(check_next(
            &t,
            &url,
            Some("2026-01-01T00:00:00Z"),
            Some("2026-01-02T00:00:00+00:00".into()),
            &none
        )
        .is_ok());
    }

    #[test]
    fn budgets() {
        let mut b = Budget::new(Some(2));
        assert!(!b.spent());
        b.used = 2;
        assert!(b.spent());
        assert!(!Budget::unlimited().spent());
    }
}
