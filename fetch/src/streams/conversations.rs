//! Legacy conversations under /compliance/workspaces/{ws}/conversations:
//! incremental by `since_timestamp`, the `users` filter split 99 ids per
//! listing, nested messages completed from …/conversations/{id}/messages
//! before a record is written, and each conversation once, newest version
//! (through the spool).

use super::paginate::{paginate, Budget, CursorRule, Listing, PageIo, PageSource, Paged};
use super::snapshot::bad_record;
use crate::bookmark::{Bookmark, Sweep};
use crate::ctx::Ctx;
use crate::model::{Opts, Query};
use crate::splitter::{json_string, Element};
use crate::spool::{Added, Spool};
use crate::timeparse;
use anyhow::Result;
use archive_core::hash::sha256_hex;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use url::Url;

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
    // A `messages.has_more` that is not a boolean takes the serde path,
    // which refuses it: it is an error, never "false".
    let has_more = e.nested_field("messages", "has_more");
    let plain = has_more.is_none_or(|b| b == b"true" || b == b"false");
    if e.bytes.first() == Some(&b'{') && plain {
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

/// A conversation whose nested messages need paging: id, messages cursor, time.
type Incomplete = (String, Option<String>, Option<f64>);

/// One listing: the conversations of one `users` chunk.
struct Conversations<'a> {
    ws: String,
    limit: u32,
    since_ts: i64,
    users: &'a [String],
    until: Option<f64>,
    present: f64,
    boundary: &'a BTreeMap<String, Value>,
    spool: &'a mut Spool,
    max_time: &'a mut Option<f64>,
    incomplete: Vec<Incomplete>,
    last_seen: Option<String>,
}

impl PageSource for Conversations<'_> {
    fn url(&self, opts: &Opts, cursor: Option<&str>) -> Result<Url> {
        let mut q = Query::new();
        match cursor {
            Some(a) => q.push("after", a),
            // since_timestamp only on the first request: with `after` the
            // API ignores it (or, strictly, refuses both together).
            None => q.push("since_timestamp", self.since_ts),
        };
        q.push("limit", self.limit);
        for u in self.users {
            q.push("users", u);
        }
        opts.url(&["compliance", "workspaces", &self.ws, "conversations"], &q)
    }

    fn restart(&mut self) {
        self.incomplete.clear();
    }

    fn element(&mut self, io: &mut PageIo<'_>, e: Element<'_>) -> Result<()> {
        let meta = conversation_meta(&e).map_err(|err| bad_record(io.url, err))?;
        let e = e.bytes;
        let id = meta.id.unwrap_or_else(|| sha256_hex(e));
        self.last_seen = Some(id.clone());
        let t = meta.last_active_at;
        if let (Some(t), Some(u)) = (t, self.until) {
            if t >= u {
                io.stats.skipped_until += 1;
                return Ok(());
            }
        }
        let at_boundary = self
            .boundary
            .get(&id)
            .and_then(Value::as_f64)
            .is_some_and(|b| Some(b) == t);
        if at_boundary && !self.spool.contains(&id) {
            io.stats.duplicates_dropped += 1;
            return Ok(());
        }
        if self.spool.add(&id, t, e)? != Added::New {
            io.stats.duplicates_dropped += 1;
        }
        if let Some(t) = t {
            if super::bookmarks::in_present(io.warnings, "conversation", &id, t, self.present) {
                *self.max_time = Some(self.max_time.map_or(t, |m: f64| m.max(t)));
            }
        }
        if let Some(m) = meta.messages.filter(|m| m.has_more == Some(true)) {
            self.incomplete.push((id, m.last_id, t));
        }
        Ok(())
    }

    fn last_seen(&self) -> Option<String> {
        self.last_seen.clone()
    }

    async fn page_done(&mut self, ctx: &mut Ctx, _env: &Value) -> Result<()> {
        for (id, after, t) in std::mem::take(&mut self.incomplete) {
            complete_messages(ctx, self.spool, &self.ws, &id, after, t).await?;
        }
        Ok(())
    }
}

pub async fn conversations(ctx: &mut Ctx) -> Result<()> {
    let users = ctx.opts.users.clone();
    let chunks: Vec<&[String]> = if users.is_empty() {
        vec![&[]]
    } else {
        users.chunks(USERS_PER_REQUEST).collect()
    };
    let key = conversations_key(&users);
    let committed = super::bookmarks::committed(ctx, &key)?;
    let default_since = timeparse::to_unix(ctx.opts.since_or_default());
    // Where to start: an unfinished sweep, else the committed time minus
    // the overlap, else --since.
    let (start_chunk, mut resume_after, since, mut max_time) = match &committed.sweep {
        Some(sw) => (
            sw.chunk.min(chunks.len() - 1),
            Some(sw.after.clone()).filter(|a| !a.is_empty()),
            sw.since.unwrap_or(default_since),
            sw.max_time,
        ),
        None => (
            0,
            None,
            committed
                .time
                .map(|t| t - ctx.opts.overlap)
                .unwrap_or(default_since),
            None,
        ),
    };
    let mut spool = Spool::new()?;
    let mut budget = Budget::new(ctx.opts.max_pages);
    let mut unfinished: Option<Sweep> = None;
    for (ci, chunk_users) in chunks.iter().enumerate().skip(start_chunk) {
        let mut src = Conversations {
            ws: ctx.opts.workspace.clone(),
            limit: ctx.opts.limit.unwrap_or(500).clamp(1, 500),
            since_ts: since.floor() as i64,
            users: chunk_users,
            until: ctx.opts.until.map(timeparse::to_unix),
            present: timeparse::to_unix(ctx.opts.present_bound()),
            boundary: &committed.boundary,
            spool: &mut spool,
            max_time: &mut max_time,
            incomplete: Vec::new(),
            last_seen: None,
        };
        let after = resume_after.take();
        if ctx.opts.dry_run {
            let url = src.url(&ctx.opts, after.as_deref())?;
            return super::requests::dry_run(ctx, "conversations", &url).await;
        }
        if ci == start_chunk {
            ctx.store.clear_pending(&key)?;
        }
        let listing = Listing {
            what: "conversations".into(),
            route: "conversations",
            cursor_field: "last_id",
            rule: CursorRule::Id,
        };
        if let Paged::Stopped { next } =
            paginate(ctx, &listing, after, &mut budget, &mut src).await?
        {
            unfinished = Some(Sweep {
                after: next,
                chunk: ci,
                since: Some(since),
                max_time,
            });
            break;
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
        None => finished(ctx, &key, &committed, &spool, max_time, since),
    };
    super::bookmarks::save_pending(ctx, &key, bookmark)
}

/// The bookmark of a complete sweep: the newest time seen (in the
/// present), and the conversations at that edge for the next overlap.
fn finished(
    ctx: &Ctx,
    key: &str,
    committed: &Bookmark,
    spool: &Spool,
    max_time: Option<f64>,
    since: f64,
) -> Bookmark {
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
        stream: key.to_string(),
        time: Some(time),
        boundary,
        ..Default::default()
    }
}

/// The messages of one conversation after the ones it was listed with.
struct Messages<'a> {
    ws: &'a str,
    id: &'a str,
    seen: HashSet<String>,
    extra: Vec<Value>,
    last_id: Option<String>,
}

impl PageSource for Messages<'_> {
    fn url(&self, opts: &Opts, cursor: Option<&str>) -> Result<Url> {
        let mut q = Query::new();
        if let Some(a) = cursor {
            q.push("after", a);
        }
        q.push("limit", 500);
        let path = [
            "compliance",
            "workspaces",
            self.ws,
            "conversations",
            self.id,
            "messages",
        ];
        opts.url(&path, &q)
    }

    fn element(&mut self, io: &mut PageIo<'_>, e: Element<'_>) -> Result<()> {
        let m: Value = serde_json::from_slice(e.bytes).map_err(|err| bad_record(io.url, err))?;
        // A retried page sends its messages again.
        let mid = m["id"].as_str().map(str::to_string);
        if mid.as_ref().is_none_or(|i| self.seen.insert(i.clone())) {
            if let Some(i) = mid {
                self.last_id = Some(i);
            }
            self.extra.push(m);
        }
        Ok(())
    }

    fn last_seen(&self) -> Option<String> {
        self.last_id.clone()
    }
}

/// A conversation whose `messages.has_more` is true is completed from
/// /conversations/{id}/messages before it is written, so the record holds
/// every message.
async fn complete_messages(
    ctx: &mut Ctx,
    spool: &mut Spool,
    ws: &str,
    id: &str,
    after: Option<String>,
    time: Option<f64>,
) -> Result<()> {
    let Some(bytes) = spool.read(id)? else {
        return Ok(());
    };
    let mut conv: Value = serde_json::from_slice(&bytes)?;
    drop(bytes);
    let seen: HashSet<String> = conv["messages"]["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut src = Messages {
        ws,
        id,
        seen,
        extra: Vec::new(),
        last_id: conv["messages"]["last_id"].as_str().map(str::to_string),
    };
    let listing = Listing {
        what: format!("conversations: messages of {id}"),
        route: "conversations/messages",
        cursor_field: "last_id",
        rule: CursorRule::Id,
    };
    paginate(ctx, &listing, after, &mut Budget::unlimited(), &mut src).await?;
    let messages = &mut conv["messages"];
    if let Some(data) = messages.get_mut("data").and_then(Value::as_array_mut) {
        data.extend(src.extra);
    }
    messages["has_more"] = Value::Bool(false);
    if let Some(l) = src.last_id {
        messages["last_id"] = Value::String(l);
    }
    spool.add(id, time, &serde_json::to_vec(&conv)?)?;
    Ok(())
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

    #[test]
    fn nested_has_more_must_be_a_boolean() {
        let mut sp = crate::splitter::ListSplitter::new();
        let mut got = Vec::new();
        let body = br#"{"data":[{"id":"c1","messages":{"has_more":true,"last_id":"m2"}},{"id":"c2","messages":{"has_more":"true"}}],"has_more":false}"#;
        sp.feed(body, &mut |e| {
            got.push(conversation_meta(&e).map(|m| m.messages.and_then(|m| m.has_more)));
            Ok(())
        })
        .unwrap();
        assert_eq!(got[0].as_ref().unwrap(), &Some(true));
        assert!(got[1].is_err(), "a string has_more was read as a boolean");
    }
}
