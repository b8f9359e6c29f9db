//! OpenAI organisation audit logs: GET /organization/audit_logs with the
//! bracketed filters real clients send, newest first, `after` cursor.

use super::paginate::{paginate, Budget, CursorRule, Listing, PageIo, PageSource, Paged};
use crate::bookmark::{Bookmark, Sweep};
use crate::ctx::Ctx;
use crate::model::{AuditFilters, Opts, Query};
use crate::splitter::Element;
use crate::timeparse;
use anyhow::Result;
use archive_core::hash::sha256_hex;
use archive_core::Failure;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use url::Url;

#[derive(Deserialize)]
struct AuditMeta {
    id: Option<String>,
    effective_at: Option<f64>,
}

/// The filters, in the order they go on the wire.
fn filters(a: &AuditFilters, users: &[String]) -> Vec<(&'static str, Vec<String>)> {
    let mut actors = a.actor_ids.clone();
    actors.extend(users.iter().cloned());
    vec![
        ("event_types[]", a.event_types.clone()),
        ("project_ids[]", a.project_ids.clone()),
        ("actor_ids[]", actors),
        ("actor_emails[]", a.actor_emails.clone()),
        ("resource_ids[]", a.resource_ids.clone()),
    ]
}

/// One bookmark per distinct filter set.
fn bookmark_key(filters: &[(&'static str, Vec<String>)]) -> String {
    let text: String = filters
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| {
            let mut v = v.clone();
            v.sort();
            format!("{k}={}", v.join(","))
        })
        .collect::<Vec<_>>()
        .join("&");
    if text.is_empty() {
        "audit-logs".to_string()
    } else {
        format!("audit-logs-{}", &sha256_hex(text.as_bytes())[..12])
    }
}

struct Audit {
    filters: Vec<(&'static str, Vec<String>)>,
    limit: u32,
    gte: f64,
    lt_s: Option<i64>,
    boundary: BTreeMap<String, Value>,
    seen: HashMap<String, f64>,
    max_time: Option<f64>,
    /// Times beyond this do not move the bookmark.
    present: f64,
    last_seen: Option<String>,
}

impl PageSource for Audit {
    fn url(&self, opts: &Opts, cursor: Option<&str>) -> Result<Url> {
        let mut q = Query::new();
        q.push("effective_at[gte]", self.gte.floor() as i64);
        if let Some(lt) = self.lt_s {
            q.push("effective_at[lt]", lt);
        }
        for (k, vals) in &self.filters {
            for v in vals {
                q.push(k, v);
            }
        }
        q.push("limit", self.limit);
        if let Some(a) = cursor {
            q.push("after", a);
        }
        opts.url(&["organization", "audit_logs"], &q)
    }

    fn element(&mut self, io: &mut PageIo<'_>, e: Element<'_>) -> Result<()> {
        let e = e.bytes;
        let m: AuditMeta = serde_json::from_slice(e).map_err(|err| {
            Failure::remote(format!(
                "GET {}: an audit log entry is not a JSON object with an id: {err}",
                crate::http::redact_url(io.url)
            ))
        })?;
        let id = m.id.unwrap_or_else(|| sha256_hex(e));
        self.last_seen = Some(id.clone());
        let t = m.effective_at.unwrap_or(self.gte);
        let repeat = self.seen.contains_key(&id)
            || self.boundary.get(&id).and_then(Value::as_f64) == Some(t);
        if repeat {
            io.stats.duplicates_dropped += 1;
            return Ok(());
        }
        if super::bookmarks::in_present(io.warnings, "audit log entry", &id, t, self.present) {
            self.max_time = Some(self.max_time.map_or(t, |m: f64| m.max(t)));
        }
        self.seen.insert(id, t);
        io.out.raw(e)?;
        io.stats.records += 1;
        Ok(())
    }

    fn last_seen(&self) -> Option<String> {
        self.last_seen.clone()
    }
}

pub async fn audit_logs(ctx: &mut Ctx, args: &AuditFilters) -> Result<()> {
    let filters = filters(args, &ctx.opts.users);
    let key = bookmark_key(&filters);
    let committed = super::bookmarks::committed(ctx, &key)?;
    let default_since = timeparse::to_unix(ctx.opts.since_or_default());
    let (gte, after, max_time) = match &committed.sweep {
        Some(sw) => (
            sw.since.unwrap_or(default_since),
            Some(sw.after.clone()).filter(|a| !a.is_empty()),
            sw.max_time,
        ),
        None => (
            committed
                .time
                .map(|t| t - ctx.opts.overlap)
                .unwrap_or(default_since),
            None,
            None,
        ),
    };
    let mut src = Audit {
        filters,
        limit: ctx.opts.limit.unwrap_or(100).clamp(1, 100),
        gte,
        lt_s: ctx.opts.until.map(|u| timeparse::to_unix(u).ceil() as i64),
        boundary: committed.boundary.clone(),
        seen: HashMap::new(),
        max_time,
        present: timeparse::to_unix(ctx.opts.present_bound()),
        last_seen: None,
    };
    if ctx.opts.dry_run {
        let url = src.url(&ctx.opts, after.as_deref())?;
        return super::requests::dry_run(ctx, "audit-logs", &url).await;
    }
    ctx.store.clear_pending(&key)?;
    let listing = Listing {
        what: "audit-logs".into(),
        route: "audit_logs",
        cursor_field: "last_id",
        rule: CursorRule::Id,
    };
    let mut budget = Budget::new(ctx.opts.max_pages);
    let paged = paginate(ctx, &listing, after, &mut budget, &mut src).await?;
    let bookmark = match paged {
        Paged::Stopped { next } => {
            ctx.stats.more = true;
            let sweep = Sweep {
                after: next,
                since: Some(gte),
                max_time: src.max_time,
                ..Default::default()
            };
            Bookmark::continuing(&key, &committed, sweep)
        }
        Paged::Finished => finished(ctx, &key, &committed, src),
    };
    super::bookmarks::save_pending(ctx, &key, bookmark)
}

/// The bookmark of a complete sweep: the newest time seen (in the
/// present), and the entries at that edge for the next run's overlap.
fn finished(ctx: &mut Ctx, key: &str, committed: &Bookmark, src: Audit) -> Bookmark {
    let time = match (src.max_time, committed.time) {
        (Some(a), Some(b)) => a.max(b),
        (a, b) => a.or(b).unwrap_or(src.gte),
    };
    if let Some(u) = ctx.opts.until {
        if timeparse::to_unix(u) < timeparse::to_unix(chrono::Utc::now()) {
            ctx.stats.more = true;
        }
    }
    let edge = time - ctx.opts.overlap;
    let old = committed
        .boundary
        .iter()
        .filter_map(|(k, v)| v.as_f64().map(|t| (k.clone(), t)));
    let boundary: BTreeMap<String, Value> = old
        .chain(src.seen)
        .filter(|(_, t)| *t >= edge)
        .map(|(k, t)| (k, Value::from(t)))
        .collect();
    Bookmark {
        stream: key.to_string(),
        time: Some(time),
        boundary,
        ..Default::default()
    }
}
