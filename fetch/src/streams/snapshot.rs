//! users, gpts, projects, memories: a full listing of a legacy endpoint
//! under /compliance/workspaces/{ws}/, each id once. `--max-pages` cuts a
//! listing into windows; the bookmark then holds where to continue.

use super::paginate::{paginate, Budget, CursorRule, Listing, PageIo, PageSource, Paged};
use crate::bookmark::{Bookmark, Sweep};
use crate::ctx::Ctx;
use crate::model::{Opts, Query};
use crate::splitter::Element;
use anyhow::Result;
use archive_core::hash::sha256_hex;
use archive_core::Failure;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;
use url::Url;

#[derive(Deserialize)]
struct IdOnly {
    id: Option<Value>,
}

/// A record in `data` that fetch cannot use.
pub fn bad_record(url: &Url, e: impl std::fmt::Display) -> anyhow::Error {
    Failure::remote(format!(
        "GET {}: a record in data is not a JSON object with an id: {e}",
        crate::http::redact_url(url)
    ))
}

struct Snapshot<'a> {
    name: &'a str,
    ws: String,
    limit: u32,
    /// memories only: `since_timestamp` on the first request.
    since: Option<i64>,
    seen: HashSet<String>,
    last_seen: Option<String>,
}

impl PageSource for Snapshot<'_> {
    fn url(&self, opts: &Opts, cursor: Option<&str>) -> Result<Url> {
        let mut q = Query::new();
        match (cursor, self.since) {
            (Some(a), _) => {
                q.push("after", a);
            }
            (None, Some(s)) => {
                q.push("since_timestamp", s);
            }
            (None, None) => {}
        }
        q.push("limit", self.limit);
        opts.url(&["compliance", "workspaces", &self.ws, self.name], &q)
    }

    fn element(&mut self, io: &mut PageIo<'_>, e: Element<'_>) -> Result<()> {
        let e = e.bytes;
        let meta: IdOnly = serde_json::from_slice(e).map_err(|err| bad_record(io.url, err))?;
        let id = match meta.id {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => sha256_hex(e),
        };
        if !self.seen.insert(id.clone()) {
            io.stats.duplicates_dropped += 1;
            return Ok(());
        }
        self.last_seen = Some(id);
        io.out.raw(e)?;
        io.stats.records += 1;
        Ok(())
    }

    fn last_seen(&self) -> Option<String> {
        self.last_seen.clone()
    }
}

pub async fn snapshot(ctx: &mut Ctx, name: &str) -> Result<()> {
    if !ctx.opts.users.is_empty() {
        return Err(Failure::usage(format!(
            "--users filters conversations and audit-logs, not {name}"
        )));
    }
    let default_limit = match name {
        "users" | "memories" => 200,
        _ => 20,
    };
    let key = name.to_string();
    let start = super::bookmarks::committed(ctx, &key)?
        .sweep
        .map(|s| s.after)
        .filter(|a| !a.is_empty());
    let mut src = Snapshot {
        name,
        ws: ctx.opts.workspace.clone(),
        limit: ctx.opts.limit.unwrap_or(default_limit).max(1),
        // Memories can be limited by time; the other lists cannot.
        since: (name == "memories")
            .then_some(ctx.opts.since)
            .flatten()
            .map(|t| t.timestamp()),
        seen: HashSet::new(),
        last_seen: None,
    };
    if ctx.opts.dry_run {
        let url = src.url(&ctx.opts, start.as_deref())?;
        return super::requests::dry_run(ctx, name, &url).await;
    }
    ctx.store.clear_pending(&key)?;
    let listing = Listing {
        what: name.to_string(),
        route: match name {
            "users" => "users",
            "gpts" => "gpts",
            "projects" => "projects",
            _ => "memories",
        },
        cursor_field: "last_id",
        rule: CursorRule::Id,
    };
    let mut budget = Budget::new(ctx.opts.max_pages);
    let sweep = match paginate(ctx, &listing, start, &mut budget, &mut src).await? {
        Paged::Finished => None,
        Paged::Stopped { next } => {
            ctx.stats.more = true;
            Some(Sweep {
                after: next,
                ..Default::default()
            })
        }
    };
    let bookmark = Bookmark {
        stream: key.clone(),
        sweep,
        ..Default::default()
    };
    super::bookmarks::save_pending(ctx, &key, bookmark)
}
