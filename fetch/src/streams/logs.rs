//! Compliance Logs Platform: list log files per event type with the
//! `last_end_time` cursor, download each through its 307, check it against
//! `file_size` and `file_sha256` before a single line is written, and drop
//! events already delivered (delivery is at least once) by `event_id`.
//!
//! `max_event_time` says how far the server has published; the bookmark
//! never moves past it (nor past the present), and a run whose bookmark
//! already reached it makes that one request and nothing else.

use super::paginate::{paginate, Budget, CursorRule, Listing, PageIo, PageSource, Paged};
use crate::bookmark::{Bookmark, Sweep};
use crate::ctx::Ctx;
use crate::http::{BodySink, Retryable};
use crate::model::{Opts, Query};
use crate::splitter::Element;
use crate::timeparse;
use anyhow::{Context, Result};
use archive_core::Failure;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use url::Url;

/// How many files' event ids a bookmark keeps for the next run's
/// de-duplication: a re-delivered event comes in one of the next files.
const RECENT_FILES: usize = 2;

/// One entry of a /logs page.
#[derive(Debug, Deserialize)]
struct LogFile {
    id: String,
    end_time: Option<String>,
    file_size: Option<u64>,
    file_sha256: Option<String>,
}

#[derive(Deserialize)]
struct EventId {
    event_id: Option<String>,
}

fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `workspaces` or, for an `org-…` id, `organizations`.
fn scope(ws: &str) -> &'static str {
    if ws.starts_with("org-") {
        "organizations"
    } else {
        "workspaces"
    }
}

/// Types that exist only at the organisation scope upstream.
const ORG_ONLY: &[&str] = &["COSTS"];

pub async fn logs(ctx: &mut Ctx, event_types: &[String]) -> Result<()> {
    if !ctx.opts.users.is_empty() {
        return Err(Failure::usage(
            "--users filters conversations and audit-logs; the logs endpoint has no user filter",
        ));
    }
    let ws = ctx.opts.workspace.clone();
    let org = ctx.opts.organization_id.clone();
    // (type, the id whose scope serves it)
    let mut types: Vec<(String, String)> = Vec::new();
    for t in event_types
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    {
        if t.eq_ignore_ascii_case("all") {
            let fresh = max_event_times(ctx, &ws, None).await?;
            types.extend(fresh.keys().map(|k| (k.clone(), ws.clone())));
            if let Some(org) = &org {
                // Organisation-only types (COSTS), which the workspace does not list.
                let org_types = max_event_times(ctx, org, None).await?;
                types.extend(
                    org_types
                        .keys()
                        .filter(|k| !fresh.contains_key(*k))
                        .map(|k| (k.clone(), org.clone())),
                );
            }
        } else {
            let at = match &org {
                Some(o) if ORG_ONLY.contains(&t) => o.clone(),
                _ => ws.clone(),
            };
            types.push((t.to_string(), at));
        }
    }
    let mut unique = HashSet::new();
    types.retain(|(t, _)| unique.insert(t.clone()));
    if types.is_empty() {
        return Err(Failure::usage(
            "--event-type: no event types (the server listed none for `all`)",
        ));
    }
    for (t, at) in types {
        one_type(ctx, &at, &t)
            .await
            .map_err(|e| scope_hint(e, &t, &at))?;
        if ctx.opts.dry_run {
            // The first request shows the shape and checks the key; one is enough.
            break;
        }
    }
    Ok(())
}

/// A 400 for an event type usually means the wrong scope: upstream serves
/// organisation types (COSTS) only under /organizations/{org}/.
fn scope_hint(e: anyhow::Error, event_type: &str, at: &str) -> anyhow::Error {
    let text = format!("{e:#}");
    if archive_core::exit::exit_code(&e) != 2 || !text.contains("HTTP 400") {
        return e;
    }
    let hint = if at.starts_with("org-") {
        format!("event type {event_type} is not served at the organisation scope; drop --organization-id for it, or check the type")
    } else {
        format!("event type {event_type} was refused at the workspace scope; an organisation-scope type needs --organization-id org-… (or ORGANIZATION_ID)")
    };
    Failure::usage(format!("{text}\n hint: {hint}"))
}

/// GET max_event_time (for one type, or every type the server knows).
async fn max_event_times(
    ctx: &mut Ctx,
    ws: &str,
    event_type: Option<&str>,
) -> Result<BTreeMap<String, Option<String>>> {
    let mut q = Query::new();
    if let Some(t) = event_type {
        q.push("event_type", t);
    }
    let url = ctx
        .opts
        .url(&["compliance", scope(ws), ws, "max_event_time"], &q)?;
    let v = super::requests::get_object(ctx, "max_event_time", &url, "max_event_time").await?;
    let map = v["max_event_time"].as_object().cloned().unwrap_or_default();
    Ok(map
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
        .collect())
}

/// The listing of one event type, downloading each file as its page ends.
struct LogList<'a> {
    ws: &'a str,
    event_type: &'a str,
    limit: u32,
    before: Option<String>,
    boundary: &'a BTreeMap<String, Value>,
    /// Files of the page being read.
    files: Vec<LogFile>,
    seen_events: HashSet<String>,
    /// Event ids of the last files written, newest last.
    recent: VecDeque<Vec<String>>,
    seen_files: BTreeMap<String, String>,
    /// The newest end time reached.
    cursor: Option<String>,
}

impl PageSource for LogList<'_> {
    fn url(&self, opts: &Opts, cursor: Option<&str>) -> Result<Url> {
        let mut q = Query::new();
        q.push("event_type", self.event_type)
            .push("after", cursor.unwrap_or_default());
        if let Some(b) = &self.before {
            q.push("before", b);
        }
        q.push("limit", self.limit);
        opts.url(&["compliance", scope(self.ws), self.ws, "logs"], &q)
    }

    fn restart(&mut self) {
        self.files.clear();
    }

    fn element(&mut self, io: &mut PageIo<'_>, e: Element<'_>) -> Result<()> {
        let f: LogFile = serde_json::from_slice(e.bytes).map_err(|err| {
            Failure::remote(format!(
                "GET {}: a log file entry has no id: {err}",
                crate::http::redact_url(io.url)
            ))
        })?;
        self.files.push(f);
        Ok(())
    }

    async fn page_done(&mut self, ctx: &mut Ctx, env: &Value) -> Result<()> {
        for f in std::mem::take(&mut self.files) {
            if self.boundary.contains_key(&f.id) || self.seen_files.contains_key(&f.id) {
                ctx.stats.duplicates_dropped += 1;
                continue;
            }
            let ids = download(ctx, self.ws, &f, &mut self.seen_events).await?;
            self.recent.push_back(ids);
            if self.recent.len() > RECENT_FILES {
                self.recent.pop_front();
            }
            ctx.stats.files += 1;
            if let Some(end) = &f.end_time {
                self.seen_files.insert(f.id.clone(), end.clone());
                self.advance(end);
            }
        }
        if let Some(n) = env.get("last_end_time").and_then(Value::as_str) {
            self.advance(n);
        }
        Ok(())
    }
}

impl LogList<'_> {
    fn advance(&mut self, t: &str) {
        if self.cursor.as_deref().and_then(parse_iso) < parse_iso(t) {
            self.cursor = Some(t.to_string());
        }
    }
}

async fn one_type(ctx: &mut Ctx, ws: &str, event_type: &str) -> Result<()> {
    let key = format!("logs-{event_type}");
    let committed = super::bookmarks::committed(ctx, &key)?;
    let overlap = chrono::Duration::milliseconds((ctx.opts.overlap * 1000.0) as i64);
    let start: String = match (&committed.sweep, &committed.cursor) {
        (Some(sw), _) => sw.after.clone(),
        (None, Some(c)) => match parse_iso(c) {
            Some(t) => timeparse::rfc3339(t - overlap),
            None => c.clone(),
        },
        (None, None) => timeparse::rfc3339(ctx.opts.since_or_default()),
    };
    let mut src = LogList {
        ws,
        event_type,
        limit: ctx.opts.limit.unwrap_or(100).clamp(2, 100),
        before: ctx.opts.until.map(timeparse::rfc3339),
        boundary: &committed.boundary,
        files: Vec::new(),
        seen_events: committed.recent_events.iter().cloned().collect(),
        recent: VecDeque::new(),
        seen_files: BTreeMap::new(),
        cursor: committed.cursor.clone(),
    };
    if ctx.opts.dry_run {
        let url = src.url(&ctx.opts, Some(&start))?;
        return super::requests::dry_run(ctx, "logs", &url).await;
    }
    ctx.store.clear_pending(&key)?;

    // How far the server has published this type.
    let published = max_event_times(ctx, ws, Some(event_type))
        .await?
        .get(event_type)
        .cloned()
        .flatten();
    let published_t = published.as_deref().and_then(parse_iso);
    let reached_t = committed.cursor.as_deref().and_then(parse_iso);
    let nothing_new = committed.sweep.is_none()
        && match (published_t, reached_t) {
            (None, _) => published.is_none(),
            (Some(p), Some(r)) => p <= r,
            (Some(_), None) => false,
        };
    if nothing_new {
        ctx.tick(committed.cursor.as_deref().unwrap_or(""));
        let mut b = committed.clone();
        b.stream = key.clone();
        return super::bookmarks::save_pending(ctx, &key, b);
    }

    let listing = Listing {
        what: format!("logs {event_type}"),
        route: "logs",
        cursor_field: "last_end_time",
        rule: CursorRule::Time,
    };
    let mut budget = Budget::new(ctx.opts.max_pages);
    let unfinished = match paginate(ctx, &listing, Some(start), &mut budget, &mut src).await? {
        Paged::Finished => None,
        Paged::Stopped { next } => Some(Sweep {
            after: next,
            ..Default::default()
        }),
    };
    let bound = bound(ctx, published_t, &src);
    let cursor = match (src.cursor.as_deref().and_then(parse_iso), bound) {
        (Some(c), Some(b)) if c > b => Some(timeparse::rfc3339(b)),
        _ => src.cursor.clone(),
    };
    if unfinished.is_some() {
        ctx.stats.more = true;
    }
    if let (Some(u), Some(p)) = (ctx.opts.until, published_t) {
        if p >= u {
            ctx.stats.more = true;
        }
    }
    let edge = cursor.as_deref().and_then(parse_iso).map(|c| c - overlap);
    let mut boundary: BTreeMap<String, Value> = BTreeMap::new();
    let old = committed
        .boundary
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s)));
    for (id, end) in old.chain(src.seen_files.iter().map(|(k, v)| (k, v.as_str()))) {
        if edge.is_some_and(|e| parse_iso(end).is_some_and(|t| t >= e)) {
            boundary.insert(id.clone(), Value::String(end.to_string()));
        }
    }
    let recent_events = if src.recent.is_empty() {
        committed.recent_events.clone()
    } else {
        src.recent.into_iter().flatten().collect()
    };
    let bookmark = Bookmark {
        stream: key.clone(),
        cursor,
        boundary,
        recent_events,
        sweep: unfinished,
        ..Default::default()
    };
    super::bookmarks::save_pending(ctx, &key, bookmark)
}

/// How far the bookmark may go: what the server has published, and never
/// past the present. A file that ends beyond that (by more than the clock
/// skew allowed) is named in a warning.
fn bound(
    ctx: &mut Ctx,
    published: Option<DateTime<Utc>>,
    src: &LogList<'_>,
) -> Option<DateTime<Utc>> {
    let present = ctx.opts.present_bound();
    let skew = chrono::Duration::seconds(crate::model::FUTURE_SKEW_SECS);
    let bound = published.map_or(present, |p| p.min(present));
    let warn_after = published.map_or(present, |p| (p + skew).min(present));
    for (id, end) in &src.seen_files {
        if parse_iso(end).is_some_and(|t| t > warn_after) {
            ctx.warn(&format!(
                "log file {id} ends at {end}, after what the server has published ({}) or the present; \
                 it is written, but the bookmark stops at {}",
                published.map(timeparse::rfc3339).unwrap_or_else(|| "nothing".into()),
                timeparse::rfc3339(bound)
            ));
        }
    }
    Some(bound)
}

/// Checks a download against the listing's size and SHA-256 as it arrives,
/// keeping it in an anonymous temporary file (log files can be large).
struct DownloadSink {
    file: File,
    hasher: Sha256,
    bytes: u64,
    expect_size: Option<u64>,
    expect_sha: Option<String>,
    id: String,
}

impl BodySink for DownloadSink {
    fn begin(&mut self) -> Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.hasher = Sha256::new();
        self.bytes = 0;
        Ok(())
    }
    fn chunk(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .context("writing a log file to the temporary directory")?;
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }
    fn end(&mut self) -> Result<()> {
        if let Some(n) = self.expect_size {
            if n != self.bytes {
                return Err(Retryable(format!(
                    "log file {}: {} bytes received, file_size says {n}",
                    self.id, self.bytes
                ))
                .into());
            }
        }
        let got = hex::encode(std::mem::take(&mut self.hasher).finalize());
        if let Some(want) = &self.expect_sha {
            if !want.eq_ignore_ascii_case(&got) {
                return Err(Retryable(format!(
                    "log file {}: SHA-256 {got} does not match file_sha256 {want}",
                    self.id
                ))
                .into());
            }
        }
        Ok(())
    }
}

/// Download one file, check it, write its new events; returns every event id in it.
async fn download(
    ctx: &mut Ctx,
    ws: &str,
    f: &LogFile,
    seen_events: &mut HashSet<String>,
) -> Result<Vec<String>> {
    let url = ctx
        .opts
        .url(&["compliance", scope(ws), ws, "logs", &f.id], &Query::new())?;
    let mut sink = DownloadSink {
        file: tempfile::tempfile().context("creating a temporary file for a log download")?,
        hasher: Sha256::new(),
        bytes: 0,
        expect_size: f.file_size,
        expect_sha: f.file_sha256.clone(),
        id: f.id.clone(),
    };
    ctx.api.download("logs/download", &url, &mut sink).await?;
    let mut file = sink.file;
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut line = Vec::new();
    let mut line_no = 0u64;
    let mut ids = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        line_no += 1;
        let text = trim_line(&line);
        if text.is_empty() {
            continue;
        }
        let ev: EventId = serde_json::from_slice(text).map_err(|e| {
            Failure::data(format!(
                "log file {} line {line_no}: not a JSON object: {e}",
                f.id
            ))
        })?;
        if let Some(id) = ev.event_id {
            ids.push(id.clone());
            if !seen_events.insert(id) {
                ctx.stats.duplicates_dropped += 1;
                continue;
            }
        }
        ctx.emit(text)?;
    }
    Ok(ids)
}

fn trim_line(b: &[u8]) -> &[u8] {
    let mut n = b.len();
    while n > 0 && (b[n - 1] == b'\n' || b[n - 1] == b'\r' || b[n - 1] == b' ') {
        n -= 1;
    }
    &b[..n]
}
