//! The legacy stateful list endpoints under /compliance/workspaces/{ws}/:
//! conversations (incremental, with the users filter, nested message
//! paging and newest-version de-duplication) and the snapshot lists users,
//! gpts, projects and memories.

use super::{env_str, get_page, has_more};
use crate::bookmark::{Bookmark, Sweep};
use crate::ctx::{Ctx, Query};
use crate::splitter::{json_string, Element};
use crate::spool::{Added, Spool};
use crate::timeparse;
use anyhow::Result;
use archive_core::hash::sha256_hex;
use archive_core::Failure;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// The API accepts fewer than 100 ids in one `users` filter.
pub const USERS_PER_REQUEST: usize = 99;

/// The few fields of a conversation that fetch itself needs; serde skips
/// the rest without building it.
#[derive(Deserialize)]
pub struct ConversationMeta {
    pub id: Option<String>,
    pub last_active_at: Option<f64>,
    pub messages: Option<MessagesMeta>,
}

#[derive(Deserialize)]
pub struct MessagesMeta {
    pub has_more: Option<bool>,
    pub last_id: Option<String>,
}

/// The fields fetch needs from a conversation, read from the splitter's
/// notes on the element (no second pass over a many-MB record); serde is
/// the fallback for anything unusual, such as escaped keys.
pub fn conversation_meta(e: &Element<'_>) -> Result<ConversationMeta, serde_json::Error> {
    if e.bytes.first() == Some(&b'{') {
        let has_more = e.nested_field("messages", "has_more");
        let fast = ConversationMeta {
            id: e.str_field("id"),
            last_active_at: e.f64_field("last_active_at"),
            messages: Some(MessagesMeta {
                has_more: has_more.map(|b| b == b"true"),
                last_id: e.nested_field("messages", "last_id").and_then(json_string),
            }),
        };
        if fast.id.is_some() {
            return Ok(fast);
        }
    }
    serde_json::from_slice(e.bytes)
}

#[derive(Deserialize)]
struct IdOnly {
    id: Option<Value>,
}

/// The bookmark key: one per distinct `--users` set, so a filtered run does
/// not move the bookmark of the whole workspace.
fn conversations_key(users: &[String]) -> String {
    if users.is_empty() {
        "conversations".into()
    } else {
        let mut sorted = users.to_vec();
        sorted.sort();
        format!(
            "conversations-users-{}",
            &sha256_hex(sorted.join(",").as_bytes())[..12]
        )
    }
}

fn bad_record(url: &url::Url, e: impl std::fmt::Display) -> anyhow::Error {
    Failure::remote(format!(
        "GET {}: a record in data is not a JSON object with an id: {e}",
        crate::http::redact_url(url)
    ))
}

pub async fn conversations(ctx: &mut Ctx) -> Result<()> {
    let limit = ctx.opts.limit.unwrap_or(500).clamp(1, 500);
    let users = ctx.opts.users.clone();
    let chunks: Vec<Vec<String>> = if users.is_empty() {
        vec![vec![]]
    } else {
        users
            .chunks(USERS_PER_REQUEST)
            .map(<[String]>::to_vec)
            .collect()
    };
    let key = conversations_key(&users);
    let ws = ctx.opts.workspace.clone();
    let committed = if ctx.opts.no_resume {
        None
    } else {
        ctx.store.committed(&key)?
    };
    let committed = committed.unwrap_or_default();
    let until = ctx.opts.until.map(timeparse::to_unix);

    // Where to start: an unfinished sweep, else the committed time minus
    // the overlap, else --since.
    let (start_chunk, mut resume_after, since, mut max_time) = match &committed.sweep {
        Some(sw) => (
            sw.chunk.min(chunks.len() - 1),
            Some(sw.after.clone()).filter(|a| !a.is_empty()),
            sw.since
                .unwrap_or_else(|| timeparse::to_unix(ctx.opts.since_or_default())),
            sw.max_time,
        ),
        None => (
            0,
            None,
            committed
                .time
                .map(|t| t - ctx.opts.overlap)
                .unwrap_or_else(|| timeparse::to_unix(ctx.opts.since_or_default())),
            None,
        ),
    };
    let since_ts = since.floor() as i64;
    if !ctx.opts.dry_run {
        ctx.store.clear_pending(&key)?;
    }
    let mut spool = Spool::new()?;
    let mut pages = 0u64;
    let mut unfinished: Option<Sweep> = None;

    'chunks: for (ci, chunk_users) in chunks.iter().enumerate().skip(start_chunk) {
        if ctx.page_budget_spent(pages) {
            unfinished = Some(Sweep {
                after: String::new(),
                chunk: ci,
                since: Some(since),
                max_time,
            });
            break;
        }
        let mut after = resume_after.take();
        loop {
            let mut q = Query::new();
            match &after {
                Some(a) => q.push("after", a),
                // since_timestamp only on the first request: with `after` the
                // API ignores it (or, strictly, refuses both together).
                None => q.push("since_timestamp", since_ts),
            };
            q.push("limit", limit);
            for u in chunk_users {
                q.push("users", u);
            }
            let url = ctx
                .opts
                .url(&["compliance", "workspaces", &ws, "conversations"], &q)?;
            if ctx.opts.dry_run {
                return super::dry_run(ctx, "conversations", &url).await;
            }
            let mut incomplete: Vec<(String, Option<String>, Option<f64>)> = Vec::new();
            let mut last_seen: Option<String> = None;
            let stats = &mut ctx.stats;
            let boundary = &committed.boundary;
            let env = get_page(&mut ctx.api, "conversations", &url, &mut |e| {
                let meta = conversation_meta(&e).map_err(|err| bad_record(&url, err))?;
                let e = e.bytes;
                let id = meta.id.unwrap_or_else(|| sha256_hex(e));
                last_seen = Some(id.clone());
                let t = meta.last_active_at;
                if let (Some(t), Some(u)) = (t, until) {
                    if t >= u {
                        stats.skipped_until += 1;
                        return Ok(());
                    }
                }
                let at_boundary = boundary
                    .get(&id)
                    .and_then(Value::as_f64)
                    .is_some_and(|b| Some(b) == t);
                if at_boundary && !spool.contains(&id) {
                    stats.duplicates_dropped += 1;
                    return Ok(());
                }
                if spool.add(&id, t, e)? != Added::New {
                    stats.duplicates_dropped += 1;
                }
                if let Some(t) = t {
                    max_time = Some(max_time.map_or(t, |m: f64| m.max(t)));
                }
                if let Some(m) = meta.messages.filter(|m| m.has_more == Some(true)) {
                    incomplete.push((id, m.last_id, t));
                }
                Ok(())
            })
            .await?;
            pages += 1;
            ctx.stats.pages += 1;
            for (id, messages_after, t) in incomplete {
                complete_messages(ctx, &mut spool, &ws, &id, messages_after, t).await?;
            }
            let next = env_str(&env, "last_id").or(last_seen);
            ctx.tick(next.as_deref().unwrap_or(""));
            if !has_more(&env) {
                break;
            }
            let Some(next) = next else {
                return Err(Failure::remote(format!(
                    "GET {}: has_more is true but the page gives no last_id to continue from",
                    crate::http::redact_url(&url)
                )));
            };
            if ctx.page_budget_spent(pages) {
                unfinished = Some(Sweep {
                    after: next,
                    chunk: ci,
                    since: Some(since),
                    max_time,
                });
                break 'chunks;
            }
            after = Some(next);
        }
    }

    let out = &mut ctx.out;
    let written = spool.drain_to(|r| out.raw(r).map_err(Into::into))?;
    ctx.stats.records += written;
    if ctx.stats.skipped_until > 0 {
        ctx.stats.more = true;
    }
    let bookmark = match unfinished {
        Some(sw) => {
            ctx.stats.more = true;
            Bookmark::continuing(&key, &committed, sw)
        }
        None => {
            let time = match (max_time, committed.time) {
                (Some(a), Some(b)) => a.max(b),
                (a, b) => a.or(b).unwrap_or(since),
            };
            let edge = time - ctx.opts.overlap;
            let mut boundary: BTreeMap<String, Value> = committed
                .boundary
                .iter()
                .filter(|(_, v)| v.as_f64().is_some_and(|t| t >= edge))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for (id, t) in spool.times() {
                if let Some(t) = t.filter(|t| *t >= edge) {
                    boundary.insert(id.to_string(), Value::from(t));
                }
            }
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

/// A conversation whose `messages.has_more` is true is completed from
/// /conversations/{id}/messages before it is written, so the record holds
/// every message.
async fn complete_messages(
    ctx: &mut Ctx,
    spool: &mut Spool,
    ws: &str,
    id: &str,
    mut after: Option<String>,
    time: Option<f64>,
) -> Result<()> {
    let Some(bytes) = spool.read(id)? else {
        return Ok(());
    };
    let mut conv: Value = serde_json::from_slice(&bytes)?;
    drop(bytes);
    let mut seen: HashSet<String> = conv["messages"]["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut extra: Vec<Value> = Vec::new();
    let mut last_id = conv["messages"]["last_id"].as_str().map(str::to_string);
    loop {
        let mut q = Query::new();
        if let Some(a) = &after {
            q.push("after", a);
        }
        q.push("limit", 500);
        let url = ctx.opts.url(
            &[
                "compliance",
                "workspaces",
                ws,
                "conversations",
                id,
                "messages",
            ],
            &q,
        )?;
        let env = get_page(&mut ctx.api, "conversations/messages", &url, &mut |e| {
            let m: Value = serde_json::from_slice(e.bytes).map_err(|err| bad_record(&url, err))?;
            // A retried page sends its messages again.
            let mid = m["id"].as_str().map(str::to_string);
            if mid.as_ref().is_none_or(|i| seen.insert(i.clone())) {
                if let Some(i) = mid {
                    last_id = Some(i);
                }
                extra.push(m);
            }
            Ok(())
        })
        .await?;
        if !has_more(&env) {
            break;
        }
        match env_str(&env, "last_id").or_else(|| last_id.clone()) {
            Some(next) if Some(&next) != after.as_ref() => after = Some(next),
            _ => {
                return Err(Failure::remote(format!(
                    "GET {}: has_more is true but the cursor does not move",
                    crate::http::redact_url(&url)
                )))
            }
        }
    }
    let messages = &mut conv["messages"];
    if let Some(data) = messages.get_mut("data").and_then(Value::as_array_mut) {
        data.extend(extra);
    }
    messages["has_more"] = Value::Bool(false);
    if let Some(l) = last_id {
        messages["last_id"] = Value::String(l);
    }
    spool.add(id, time, &serde_json::to_vec(&conv)?)?;
    Ok(())
}

/// users, gpts, projects, memories: a full listing, each id once.
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
    let limit = ctx.opts.limit.unwrap_or(default_limit).max(1);
    let ws = ctx.opts.workspace.clone();
    let key = name.to_string();
    let committed = if ctx.opts.no_resume {
        None
    } else {
        ctx.store.committed(&key)?
    };
    let mut after = committed
        .and_then(|b| b.sweep)
        .map(|s| s.after)
        .filter(|a| !a.is_empty());
    // Memories can be limited by time; the other lists cannot.
    let since = (name == "memories")
        .then_some(ctx.opts.since)
        .flatten()
        .map(|t| t.timestamp());
    if !ctx.opts.dry_run {
        ctx.store.clear_pending(&key)?;
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut pages = 0u64;
    let mut unfinished = None;
    loop {
        let mut q = Query::new();
        match (&after, since) {
            (Some(a), _) => {
                q.push("after", a);
            }
            (None, Some(s)) => {
                q.push("since_timestamp", s);
            }
            (None, None) => {}
        }
        q.push("limit", limit);
        let url = ctx.opts.url(&["compliance", "workspaces", &ws, name], &q)?;
        if ctx.opts.dry_run {
            return super::dry_run(ctx, name, &url).await;
        }
        let mut last_seen = None;
        let stats = &mut ctx.stats;
        let out = &mut ctx.out;
        let env = get_page(&mut ctx.api, name, &url, &mut |e| {
            let e = e.bytes;
            let meta: IdOnly = serde_json::from_slice(e).map_err(|err| bad_record(&url, err))?;
            let id = match meta.id {
                Some(Value::String(s)) => s,
                Some(other) => other.to_string(),
                None => sha256_hex(e),
            };
            if !seen.insert(id.clone()) {
                stats.duplicates_dropped += 1;
                return Ok(());
            }
            last_seen = Some(id);
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
        let Some(next) = next else {
            return Err(Failure::remote(format!(
                "GET {}: has_more is true but the page gives no last_id to continue from",
                crate::http::redact_url(&url)
            )));
        };
        if ctx.page_budget_spent(pages) {
            unfinished = Some(Sweep {
                after: next,
                ..Default::default()
            });
            ctx.stats.more = true;
            break;
        }
        after = Some(next);
    }
    let bookmark = Bookmark {
        stream: key.clone(),
        sweep: unfinished,
        ..Default::default()
    };
    super::save_pending(ctx, &key, bookmark)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_key_ignores_order() {
        let a = conversations_key(&["u2".into(), "u1".into()]);
        let b = conversations_key(&["u1".into(), "u2".into()]);
        assert_eq!(a, b);
        assert!(a.starts_with("conversations-users-"));
        assert_eq!(conversations_key(&[]), "conversations");
    }
}
