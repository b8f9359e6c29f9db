//! OpenAI organisation audit logs: GET /organization/audit_logs with the
//! bracketed filters real clients send, newest first, `after` cursor.

use super::{env_str, get_page, has_more};
use crate::bookmark::{Bookmark, Sweep};
use crate::cli::AuditArgs;
use crate::ctx::{Ctx, Query};
use crate::timeparse;
use anyhow::Result;
use archive_core::hash::sha256_hex;
use archive_core::Failure;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

#[derive(Deserialize)]
struct AuditMeta {
    id: Option<String>,
    effective_at: Option<f64>,
}

/// The filters, in the order they go on the wire.
fn filters(a: &AuditArgs, users: &[String]) -> Vec<(&'static str, Vec<String>)> {
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

pub async fn audit_logs(ctx: &mut Ctx, args: &AuditArgs) -> Result<()> {
    let limit = ctx.opts.limit.unwrap_or(100).clamp(1, 100);
    let filters = filters(args, &ctx.opts.users);
    let filter_text: String = filters
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| {
            let mut v = v.clone();
            v.sort();
            format!("{k}={}", v.join(","))
        })
        .collect::<Vec<_>>()
        .join("&");
    let key = if filter_text.is_empty() {
        "audit-logs".to_string()
    } else {
        format!("audit-logs-{}", &sha256_hex(filter_text.as_bytes())[..12])
    };
    let committed = if ctx.opts.no_resume {
        None
    } else {
        ctx.store.committed(&key)?
    };
    let committed = committed.unwrap_or_default();
    let (gte, mut after, mut max_time) = match &committed.sweep {
        Some(sw) => (
            sw.since
                .unwrap_or_else(|| timeparse::to_unix(ctx.opts.since_or_default())),
            Some(sw.after.clone()).filter(|a| !a.is_empty()),
            sw.max_time,
        ),
        None => (
            committed
                .time
                .map(|t| t - ctx.opts.overlap)
                .unwrap_or_else(|| timeparse::to_unix(ctx.opts.since_or_default())),
            None,
            None,
        ),
    };
    let gte_s = gte.floor() as i64;
    let lt_s = ctx.opts.until.map(|u| timeparse::to_unix(u).ceil() as i64);
    if !ctx.opts.dry_run {
        ctx.store.clear_pending(&key)?;
    }
    let mut seen: HashMap<String, f64> = HashMap::new();
    let mut pages = 0u64;
    let mut unfinished = None;
    loop {
        let mut q = Query::new();
        q.push("effective_at[gte]", gte_s);
        if let Some(lt) = lt_s {
            q.push("effective_at[lt]", lt);
        }
        for (k, vals) in &filters {
            for v in vals {
                q.push(k, v);
            }
        }
        q.push("limit", limit);
        if let Some(a) = &after {
            q.push("after", a);
        }
        let url = ctx.opts.url(&["organization", "audit_logs"], &q)?;
        if ctx.opts.dry_run {
            return super::dry_run(ctx, "audit-logs", &url).await;
        }
        let mut last_seen = None;
        let stats = &mut ctx.stats;
        let out = &mut ctx.out;
        let boundary = &committed.boundary;
        let env = get_page(&mut ctx.api, "audit_logs", &url, &mut |e| {
            let e = e.bytes;
            let m: AuditMeta = serde_json::from_slice(e).map_err(|err| {
                Failure::remote(format!(
                    "GET {}: an audit log entry is not a JSON object with an id: {err}",
                    crate::http::redact_url(&url)
                ))
            })?;
            let id = m.id.unwrap_or_else(|| sha256_hex(e));
            last_seen = Some(id.clone());
            let t = m.effective_at.unwrap_or(gte);
            let repeat =
                seen.contains_key(&id) || boundary.get(&id).and_then(Value::as_f64) == Some(t);
            if repeat {
                stats.duplicates_dropped += 1;
                return Ok(());
            }
            seen.insert(id, t);
            max_time = Some(max_time.map_or(t, |m: f64| m.max(t)));
            out.raw(e)?;
            stats.records += 1;
            Ok(())
        })
        .await?;
        pages += 1;
        ctx.stats.pages += 1;
        let next = env_str(&env, "last_id").or(last_seen);
        ctx.tick(next.as_deref().unwrap_or(""));
        if !has_more(&env) {
            break;
        }
        let Some(next) = next.filter(|n| Some(n) != after.as_ref()) else {
            return Err(Failure::remote(format!(
                "GET {}: has_more is true but last_id does not move the cursor",
                crate::http::redact_url(&url)
            )));
        };
        if ctx.page_budget_spent(pages) {
            unfinished = Some(Sweep {
                after: next,
                since: Some(gte),
                max_time,
                ..Default::default()
            });
            break;
        }
        after = Some(next);
    }
    let bookmark = match unfinished {
        Some(sw) => {
            ctx.stats.more = true;
            Bookmark::continuing(&key, &committed, sw)
        }
        None => {
            let time = match (max_time, committed.time) {
                (Some(a), Some(b)) => a.max(b),
                (a, b) => a.or(b).unwrap_or(gte),
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
                .chain(seen)
                .filter(|(_, t)| *t >= edge)
                .map(|(k, t)| (k, Value::from(t)))
                .collect();
            Bookmark {
                stream: key.clone(),
                time: Some(time),
                boundary,
                ..Default::default()
            }
        }
    };
    super::save_pending(ctx, &key, bookmark)
}
