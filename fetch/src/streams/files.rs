//! Files users uploaded to conversations. `CONVERSATION_MESSAGE` events
//! (as `fetch logs` prints them) name them in `message.files[]`; each is
//! downloaded from `GET /compliance/workspaces/{ws}/users/{user}/files/{id}`
//! (a 307 to a signed URL, followed by the log download's rules, without
//! the key) into `<user>/YYYY/MM/DD/files/<file_id>/<name>` under `--out`,
//! atomically, and printed as a file line.
//!
//! Upstream keeps uploads about 48 hours, so a file can be gone (404/410):
//! it is then recorded in `<user>/YYYY/MM/DD/files-missing.ndjson` (also
//! printed as a file line, so it is archived) and the run exits 1 naming
//! it: never silently absent.
//!
//! The stream has its own bookmark (`files`): the newest event time below
//! which every event's files were resolved (downloaded, already present or
//! recorded missing), and the ids of the resolved events near it. A re-run
//! over the same events skips those, so an archived file that has since
//! expired upstream is not reported missing.

use crate::bookmark::Bookmark;
use crate::ctx::Ctx;
use crate::http::{BodySink, Fetched};
use crate::model::{FilesOpts, Query};
use anyhow::{Context, Result};
use archive_core::atomic::AtomicFile;
use archive_core::lines::FileLine;
use archive_core::naming::{join_under, sanitize_segment};
use archive_core::Failure;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Seek, SeekFrom, Write};

/// The bookmark key.
const KEY: &str = "files";

#[derive(Deserialize)]
struct Event {
    event_id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    timestamp: Option<String>,
    actor: Option<Actor>,
    message: Option<Message>,
    conversation: Option<Conversation>,
}

#[derive(Deserialize)]
struct Actor {
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    id: Option<String>,
    created_at: Option<String>,
    #[serde(default)]
    files: Vec<FileRef>,
}

#[derive(Deserialize)]
struct FileRef {
    id: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Conversation {
    id: Option<String>,
}

/// One referenced file, with what the line and the missing record say.
struct Wanted {
    file_id: String,
    name: String,
    user: String,
    conversation_id: String,
    message_id: String,
    /// `<user>/YYYY/MM/DD`, sanitised.
    day_dir: String,
    /// YYYY-MM-DD (UTC) of the message.
    date: String,
}

/// The Compliance API's download of one uploaded file (answered with a
/// redirect to a signed URL).
fn file_url(ctx: &Ctx, ws: &str, w: &Wanted) -> Result<url::Url> {
    let segments = [
        "compliance",
        "workspaces",
        ws,
        "users",
        &w.user,
        "files",
        &w.file_id,
    ];
    ctx.opts.url(&segments, &Query::new())
}

/// How one file was resolved.
enum Resolved {
    /// Written (or already there): its line is printed.
    Stored,
    /// Gone upstream: recorded in the day's files-missing.ndjson.
    Missing,
    /// Not resolved (too large): the event stays unresolved.
    Failed,
}

/// What the run did, for the bookmark and the summary.
#[derive(Default)]
struct Tally {
    events: u64,
    downloaded: u64,
    present: u64,
    failed: u64,
    bytes: u64,
    /// Resolved events with files: (time, event key).
    resolved: Vec<(f64, String)>,
    /// The earliest event whose files were not all resolved.
    first_unresolved: Option<f64>,
    /// The newest event time read.
    newest: Option<f64>,
    /// Missing records by day directory.
    missing: BTreeMap<String, Vec<Value>>,
    missing_count: u64,
    seen_files: HashSet<String>,
}

pub async fn files(ctx: &mut Ctx, o: &FilesOpts) -> Result<()> {
    let committed = super::bookmarks::committed(ctx, KEY)?;
    let ws = ctx.opts.workspace.clone();
    let (source, reader) = open_events(o)?;
    if ctx.opts.dry_run {
        return plan(ctx, o, &ws, &source, reader).await;
    }
    ctx.store.clear_pending(KEY)?;
    let skip_before = committed.time.map(|t| t - ctx.opts.overlap);
    let mut tally = Tally::default();
    let mut line_no = 0u64;
    for line in reader.split(b'\n') {
        line_no += 1;
        let Some(ev) = parse_event(line, &source, line_no)? else {
            continue;
        };
        tally.events += 1;
        let Some((t, key, wanted)) = wanted(&ev, &source, line_no)? else {
            continue;
        };
        tally.newest = Some(tally.newest.map_or(t, |n: f64| n.max(t)));
        let done_before =
            skip_before.is_some_and(|s| t < s) || committed.boundary.contains_key(&key);
        if wanted.is_empty() || done_before {
            continue;
        }
        let mut all = true;
        for w in wanted {
            if !tally.seen_files.insert(w.file_id.clone()) {
                continue;
            }
            match one_file(ctx, o, &ws, &w, &mut tally).await? {
                Resolved::Stored | Resolved::Missing => {}
                Resolved::Failed => all = false,
            }
        }
        if all {
            tally.resolved.push((t, key));
        } else {
            tally.first_unresolved = Some(tally.first_unresolved.map_or(t, |u: f64| u.min(t)));
        }
    }
    write_missing(ctx, o, &mut tally)?;
    record(ctx, &tally);
    ctx.stats.uncovered = tally.first_unresolved.is_some();
    let bookmark = next_bookmark(ctx, &committed, &tally);
    super::bookmarks::save_pending(ctx, KEY, bookmark)
}

/// `--events FILE` or stdin, and its name for messages.
fn open_events(o: &FilesOpts) -> Result<(String, Box<dyn BufRead>)> {
    Ok(match &o.events {
        Some(p) => (
            p.display().to_string(),
            Box::new(std::io::BufReader::new(std::fs::File::open(p).map_err(
                |e| Failure::usage(format!("--events {}: {e}", p.display())),
            )?)),
        ),
        None => (
            "stdin".to_string(),
            Box::new(std::io::BufReader::new(std::io::stdin())),
        ),
    })
}

/// One input line: `None` when blank; not JSON is a data error naming it.
fn parse_event(
    line: std::io::Result<Vec<u8>>,
    source: &str,
    line_no: u64,
) -> Result<Option<Event>> {
    let line = line.with_context(|| format!("reading {source}"))?;
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&line)
        .map(Some)
        .map_err(|e| Failure::data(format!("{source} line {line_no}: not a message event: {e}")))
}

/// `--dry-run`: check the key with one request, then print one planned
/// line per file the events name (path and URL), fetching and writing
/// nothing.
async fn plan(
    ctx: &mut Ctx,
    o: &FilesOpts,
    ws: &str,
    source: &str,
    reader: Box<dyn BufRead>,
) -> Result<()> {
    let mut q = Query::new();
    q.push("limit", 1);
    let check = ctx
        .opts
        .url(&["compliance", "workspaces", ws, "users"], &q)?;
    super::requests::dry_run(ctx, "users", &check).await?;
    let mut seen = HashSet::new();
    for (i, line) in reader.split(b'\n').enumerate() {
        let line_no = i as u64 + 1;
        let Some(ev) = parse_event(line, source, line_no)? else {
            continue;
        };
        let Some((_, _, wanted)) = wanted(&ev, source, line_no)? else {
            continue;
        };
        for w in wanted.iter().filter(|w| seen.insert(w.file_id.clone())) {
            let url = file_url(ctx, ws, w)?;
            ctx.out.json(&json!({
                "status": "planned", "stream": "files", "method": "GET",
                "url": crate::http::redact_url(&url),
                "root": o.out.display().to_string(), "path": rel_path(w),
                "file_id": w.file_id, "user": w.user,
            }))?;
        }
    }
    Ok(())
}

/// The event's time, its key, and the files it names (none for another
/// event type). A message event with files but no user or time is a data
/// error naming the line.
fn wanted(ev: &Event, source: &str, line_no: u64) -> Result<Option<(f64, String, Vec<Wanted>)>> {
    if ev
        .kind
        .as_deref()
        .is_some_and(|k| k != "CONVERSATION_MESSAGE")
    {
        return Ok(None);
    }
    let Some(msg) = &ev.message else {
        return Ok(None);
    };
    let bad = |field: &str| {
        Failure::data(format!(
            "{source} line {line_no}: a message event with files has no {field}"
        ))
    };
    let t = ev
        .timestamp
        .as_deref()
        .or(msg.created_at.as_deref())
        .and_then(parse_iso);
    let Some(t) = t else {
        if msg.files.is_empty() {
            return Ok(None);
        }
        return Err(bad("timestamp (RFC 3339)"));
    };
    let key = ev
        .event_id
        .clone()
        .or_else(|| msg.id.clone())
        .unwrap_or_default();
    if msg.files.is_empty() {
        return Ok(Some((crate::timeparse::to_unix(t), key, Vec::new())));
    }
    let user = ev
        .actor
        .as_ref()
        .and_then(|a| a.user_id.clone())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| bad("actor.user_id"))?;
    // The day of the message, else of the event.
    let day = msg.created_at.as_deref().and_then(parse_iso).unwrap_or(t);
    let day_dir = format!("{}/{}", sanitize_segment(&user), day.format("%Y/%m/%d"));
    let wanted = msg
        .files
        .iter()
        .filter(|f| !f.id.is_empty())
        .map(|f| Wanted {
            file_id: f.id.clone(),
            name: f.name.clone().unwrap_or_else(|| f.id.clone()),
            user: user.clone(),
            conversation_id: ev
                .conversation
                .as_ref()
                .and_then(|c| c.id.clone())
                .unwrap_or_default(),
            message_id: msg.id.clone().unwrap_or_default(),
            day_dir: day_dir.clone(),
            date: day.format("%Y-%m-%d").to_string(),
        })
        .collect();
    Ok(Some((crate::timeparse::to_unix(t), key, wanted)))
}

fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `<user>/YYYY/MM/DD/files/<file_id>/<name>`, every part sanitised.
fn rel_path(w: &Wanted) -> String {
    format!(
        "{}/files/{}/{}",
        w.day_dir,
        sanitize_segment(&w.file_id),
        sanitize_segment(&w.name)
    )
}

/// Writes a download into its final place atomically, hashing it and
/// refusing it past the size cap.
struct FileSink {
    file: AtomicFile,
    hasher: Sha256,
    bytes: u64,
    cap: u64,
    id: String,
}

/// A file above `--max-file-size`: reported, not retried.
#[derive(Debug)]
struct TooLarge(String);

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for TooLarge {}

impl BodySink for FileSink {
    fn begin(&mut self) -> Result<()> {
        let f = self.file.file();
        f.set_len(0)?;
        f.seek(SeekFrom::Start(0))?;
        self.hasher = Sha256::new();
        self.bytes = 0;
        Ok(())
    }
    fn chunk(&mut self, bytes: &[u8]) -> Result<()> {
        self.bytes += bytes.len() as u64;
        if self.bytes > self.cap {
            return Err(TooLarge(format!(
                "file {} is larger than --max-file-size {}",
                self.id,
                archive_core::size::format_size(self.cap)
            ))
            .into());
        }
        self.file
            .write_all(bytes)
            .with_context(|| format!("writing {}", self.file.dest().display()))?;
        self.hasher.update(bytes);
        Ok(())
    }
    fn end(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Resolve one file: already there, downloaded, gone, or too large.
async fn one_file(
    ctx: &mut Ctx,
    o: &FilesOpts,
    ws: &str,
    w: &Wanted,
    tally: &mut Tally,
) -> Result<Resolved> {
    let rel = rel_path(w);
    let dest = join_under(&o.out, &rel).map_err(|e| Failure::data(format!("{e:#}")))?;
    if let Ok(meta) = std::fs::symlink_metadata(&dest) {
        if meta.file_type().is_file() {
            let (bytes, sha) = archive_core::hash::sha256_file(&dest)?;
            tally.present += 1;
            emit(ctx, o, w, &rel, bytes, sha, false)?;
            return Ok(Resolved::Stored);
        }
        return Err(Failure::usage(format!(
            "{}: exists and is not a regular file; not replaced",
            dest.display()
        )));
    }
    let url = file_url(ctx, ws, w)?;
    let mut sink = FileSink {
        file: AtomicFile::create(&dest)?,
        hasher: Sha256::new(),
        bytes: 0,
        cap: o.max_file_size,
        id: w.file_id.clone(),
    };
    match ctx
        .api
        .download_file("files/download", &url, &mut sink)
        .await
    {
        Ok(Fetched::Done) => {}
        Ok(Fetched::Gone { status, body }) => {
            drop(sink);
            remove_empty_dirs(&dest, &o.out);
            let record = json!({
                "file_id": w.file_id, "name": w.name, "user": w.user,
                "conversation_id": w.conversation_id, "message_id": w.message_id,
                "status": status, "error": body,
                "checked_at": crate::timeparse::rfc3339(Utc::now()),
            });
            tally
                .missing
                .entry(w.day_dir.clone())
                .or_default()
                .push(record);
            return Ok(Resolved::Missing);
        }
        Err(e) if e.downcast_ref::<TooLarge>().is_some() => {
            drop(sink);
            remove_empty_dirs(&dest, &o.out);
            ctx.warn(&format!("{e:#}; not stored (user {})", w.user));
            ctx.stats.failures.push(format!("{e:#}"));
            tally.failed += 1;
            return Ok(Resolved::Failed);
        }
        Err(e) => return Err(scope_hint(e)),
    }
    let FileSink {
        file,
        hasher,
        bytes,
        ..
    } = sink;
    file.commit()?;
    let sha = hex::encode(hasher.finalize());
    tally.downloaded += 1;
    tally.bytes += bytes;
    emit(ctx, o, w, &rel, bytes, sha, true).map(|()| Resolved::Stored)
}

/// The directories made for a file that was not stored (`files/<id>`,
/// then `files`), when nothing else is in them; never above `root`.
fn remove_empty_dirs(dest: &std::path::Path, root: &std::path::Path) {
    let mut dir = dest.parent();
    for _ in 0..2 {
        match dir {
            Some(d) if d != root && std::fs::remove_dir(d).is_ok() => dir = d.parent(),
            _ => break,
        }
    }
}

/// Uploaded files need their own read scope upstream: say so on a 403.
fn scope_hint(e: anyhow::Error) -> anyhow::Error {
    let text = format!("{e:#}");
    if archive_core::exit::exit_code(&e) == 2 && text.contains("HTTP 403") {
        return Failure::usage(format!(
            "{text}\n hint: downloading uploaded files needs the key's read scope for user files, besides the Compliance read scope"
        ));
    }
    e
}

fn emit(
    ctx: &mut Ctx,
    o: &FilesOpts,
    w: &Wanted,
    rel: &str,
    bytes: u64,
    sha256: String,
    downloaded: bool,
) -> Result<()> {
    let mut extra = Map::new();
    for (k, v) in [
        ("file_id", &w.file_id),
        ("name", &w.name),
        ("user", &w.user),
        ("user_id", &w.user),
        ("conversation_id", &w.conversation_id),
        ("message_id", &w.message_id),
    ] {
        extra.insert(k.into(), json!(v));
    }
    extra.insert("date".into(), json!(w.date));
    extra.insert("downloaded".into(), json!(downloaded));
    let line = FileLine {
        root: o.out.display().to_string(),
        path: rel.to_string(),
        bytes,
        sha256,
        extra,
    };
    ctx.out.json(&line)?;
    ctx.stats.files += 1;
    Ok(())
}

/// Append this run's missing records to each day's files-missing.ndjson
/// (atomically; a file already recorded there is not added twice), print
/// each as a file line, and name them as failures (exit 1).
fn write_missing(ctx: &mut Ctx, o: &FilesOpts, tally: &mut Tally) -> Result<()> {
    for (day_dir, records) in std::mem::take(&mut tally.missing) {
        let rel = format!("{day_dir}/files-missing.ndjson");
        let dest = join_under(&o.out, &rel).map_err(|e| Failure::data(format!("{e:#}")))?;
        let mut text = match std::fs::read(&dest) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", dest.display())),
        };
        let known: HashSet<String> = text
            .split(|b| *b == b'\n')
            .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
            .filter_map(|v| v["file_id"].as_str().map(str::to_string))
            .collect();
        if !text.is_empty() && !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        for r in &records {
            let id = r["file_id"].as_str().unwrap_or_default();
            ctx.stats.failures.push(format!(
                "file {id} (user {}) is gone upstream (HTTP {}), recorded in {}",
                r["user"].as_str().unwrap_or_default(),
                r["status"],
                dest.display()
            ));
            if !known.contains(id) {
                text.extend_from_slice(serde_json::to_string(r)?.as_bytes());
                text.push(b'\n');
            }
        }
        archive_core::atomic::write_file(&dest, &text)?;
        let mut extra = Map::new();
        extra.insert("kind".into(), json!("files-missing"));
        extra.insert(
            "records".into(),
            json!(text
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count()),
        );
        extra.insert("missing_now".into(), json!(records.len()));
        let parts: Vec<&str> = day_dir.rsplitn(4, '/').collect();
        if let [d, m, y, _] = parts[..] {
            extra.insert("date".into(), json!(format!("{y}-{m}-{d}")));
        }
        if let Some(user) = records.first().and_then(|r| r["user"].as_str()) {
            extra.insert("user".into(), json!(user));
            extra.insert("user_id".into(), json!(user));
        }
        let line = FileLine {
            root: o.out.display().to_string(),
            path: rel,
            bytes: text.len() as u64,
            sha256: archive_core::hash::sha256_hex(&text),
            extra,
        };
        ctx.out.json(&line)?;
        tally.missing_count += records.len() as u64;
    }
    Ok(())
}

/// The summary's counts.
fn record(ctx: &mut Ctx, t: &Tally) {
    let s = &mut ctx.stats;
    s.records = t.events;
    for (k, v) in [
        ("events", t.events),
        ("files_downloaded", t.downloaded),
        ("files_present", t.present),
        ("files_missing", t.missing_count),
        ("files_failed", t.failed),
        ("bytes_downloaded", t.bytes),
    ] {
        s.extra.insert(k.into(), json!(v));
    }
}

/// The newest time below which every event's files were resolved, and the
/// resolved events from `overlap` before it on (skipped by id next time).
fn next_bookmark(ctx: &Ctx, committed: &Bookmark, t: &Tally) -> Bookmark {
    let below = |x: f64| t.first_unresolved.is_none_or(|u| x < u);
    let mut time = committed.time;
    let reached = match t.first_unresolved {
        None => t.newest,
        Some(_) => t
            .resolved
            .iter()
            .map(|(x, _)| *x)
            .filter(|x| below(*x))
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))),
    };
    if let Some(r) = reached {
        time = Some(time.map_or(r, |c| c.max(r)));
    }
    let edge = time.map(|x| x - ctx.opts.overlap);
    let mut boundary: BTreeMap<String, Value> = committed
        .boundary
        .iter()
        .filter(|(_, v)| v.as_f64().is_some_and(|x| edge.is_none_or(|e| x >= e)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (x, key) in &t.resolved {
        if !key.is_empty() && edge.is_none_or(|e| *x >= e) {
            boundary.insert(key.clone(), json!(x));
        }
    }
    Bookmark {
        stream: KEY.into(),
        time,
        boundary,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_sanitised_under_the_root() {
        let w = Wanted {
            file_id: "file-../x".into(),
            name: "../../etc/passwd".into(),
            user: "user a".into(),
            conversation_id: String::new(),
            message_id: String::new(),
            day_dir: format!("{}/2026/05/20", sanitize_segment("user a")),
            date: "2026-05-20".into(),
        };
        let rel = rel_path(&w);
        assert!(archive_core::lines::check_relative(&rel).is_ok(), "{rel}");
        assert!(
            rel.split('/')
                .all(|seg| seg != ".." && !seg.starts_with('.')),
            "{rel}"
        );
        assert_eq!(rel.split('/').count(), 7, "{rel}");
        // The sanitised user, with archive-core's suffix for a changed name.
        assert!(rel.starts_with(&sanitize_segment("user a")), "{rel}");
        assert!(rel.starts_with("user_a") && !rel.contains(' '), "{rel}");
        assert!(rel.contains("/2026/05/20/files/"), "{rel}");
    }
}
