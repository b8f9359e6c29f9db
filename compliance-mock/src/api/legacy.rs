//! The legacy stateful endpoints: conversations (since_timestamp, after,
//! users, variable page sizes, re-sent updates, nested message paging),
//! users, gpts, projects and memories. Envelope `{object:"list", data,
//! has_more, last_id}`; no `first_id`.

use super::route::Api;
use crate::app::{unix_now, App};
use crate::http::{bad_param, limit, quoted, streamed_page, validation_error, Query};
use crate::rng::{hash_str, mix};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ops::Bound;

/// The real API's cap on `users` per request ("fewer than 100").
const MAX_USERS: usize = 99;

pub fn handle(app: &App, api: &Api, q: &Query) -> Response {
    let result = match api {
        Api::Conversations => conversations(app, q),
        Api::ConversationMessages(id) => messages(app, id, q),
        Api::Users => simple(app, q, |s| &s.users, 200, 500, false),
        Api::Gpts => simple(app, q, |s| &s.gpts, 20, 500, false),
        Api::Projects => simple(app, q, |s| &s.projects, 20, 500, false),
        Api::Memories => simple(app, q, |s| &s.memories, 200, 200, true),
        _ => unreachable!("not a legacy endpoint"),
    };
    result.unwrap_or_else(|r| r)
}

fn since_timestamp(q: &Query, strict: bool) -> Result<Option<f64>, Response> {
    let Some(raw) = q.get("since_timestamp") else {
        return Ok(None);
    };
    if strict && q.has("after") {
        return Err(bad_param("since_timestamp", "since_timestamp cannot be combined with after: send it on the first request only (strict mode)"));
    }
    raw.trim().parse::<f64>().map(Some).map_err(|_| {
        validation_error(
            "int_parsing",
            "since_timestamp",
            "Input should be a valid integer, unable to parse string as an integer",
            Some(raw),
        )
    })
}

fn list_tail(has_more: bool, last_id: Option<&str>) -> String {
    format!(
        "],\"has_more\":{has_more},\"last_id\":{}}}",
        last_id.map(quoted).unwrap_or_else(|| "null".into())
    )
}

const LIST_HEAD: &str = "{\"object\":\"list\",\"data\":[";

fn conversations(app: &App, q: &Query) -> Result<Response, Response> {
    let limit = limit(q, 500, 500, false)?;
    let users = q.all("users");
    if users.len() > MAX_USERS {
        return Err(bad_param(
            "users",
            &format!("at most {MAX_USERS} users per request, got {}", users.len()),
        ));
    }
    let ids_format = match q.get("file_format") {
        None | Some("url") => false,
        Some("id") => true,
        Some(other) => {
            return Err(validation_error(
                "enum",
                "file_format",
                "Input should be 'url' or 'id'",
                Some(other),
            ))
        }
    };
    let since = since_timestamp(q, app.opts.strict)?;
    let after = q.get("after");
    let resume = match after {
        Some(id) => match app.store.read().unwrap().resume_key(id) {
            Some(k) => Some(k),
            None => {
                return Err(bad_param(
                    "after",
                    &format!("after={id:?} is not a conversation id of this workspace"),
                ))
            }
        },
        None => None,
    };
    let dice = mix(app.opts.seed ^ hash_str(after.unwrap_or("")) ^ (limit as u64) << 20);
    if let Some(key) = resume {
        if ((dice >> 32) % 10_000) as f64 / 100.0 < app.opts.resend_pct {
            app.store
                .write()
                .unwrap()
                .touch_before(key, &users, unix_now());
        }
    }
    // The page size "can vary based on internal factors".
    let mut page_size = limit;
    if limit > 1 && ((dice % 10_000) as f64 / 100.0) < app.opts.short_page_pct {
        page_size = 1 + (mix(dice) % (limit as u64 - 1)) as usize;
    }
    let store = app.store.read().unwrap();
    let start = match (resume, since) {
        (Some(k), _) => Bound::Excluded(k),
        (None, Some(s)) => Bound::Included(((s * 1e6).round() as i64, 0)),
        (None, None) => Bound::Unbounded,
    };
    let mut page = Vec::with_capacity(page_size.min(1024));
    let mut has_more = false;
    for (_, id) in store.order.range((start, Bound::Unbounded)) {
        let c = &store.conversations[id];
        if !users.is_empty() && !users.contains(&c.user_id) {
            continue;
        }
        if page.len() == page_size {
            has_more = true;
            break;
        }
        page.push(c);
    }
    page.iter()
        .for_each(|c| crate::store::Store::mark_served(c));
    let last_id = page.last().map(|c| c.id.clone());
    let records: Vec<Bytes> = page
        .iter()
        .map(|c| {
            if ids_format {
                file_ids_format(&c.listed)
            } else {
                c.listed.clone()
            }
        })
        .collect();
    Ok(streamed_page(
        LIST_HEAD.into(),
        records,
        list_tail(has_more, last_id.as_deref()),
    ))
}

/// `file_format=id`: message files as `file_info` objects without URLs.
fn file_ids_format(listed: &Bytes) -> Bytes {
    if memchr_find(listed, b"compliance.workspace.conversation.message.file\"").is_none() {
        return listed.clone();
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(listed) else {
        return listed.clone();
    };
    let user_id = v["user_id"].clone();
    if let Some(msgs) = v["messages"]["data"].as_array_mut() {
        for m in msgs {
            if let Some(files) = m["files"]["data"].as_array_mut() {
                for f in files.iter_mut() {
                    *f = serde_json::json!({"object": "compliance.workspace.conversation.message.file_info",
                                            "id": f["id"], "name": f["name"], "user_id": user_id});
                }
            }
        }
    }
    Bytes::from(v.to_string())
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn messages(app: &App, conv_id: &str, q: &Query) -> Result<Response, Response> {
    let limit = limit(q, 100, 500, false)?;
    let store = app.store.read().unwrap();
    let Some(conv) = store.conversations.get(conv_id) else {
        return Err(crate::http::not_found(&format!(
            "Conversation {conv_id} was not found."
        )));
    };
    let Some(value) = conv.value() else {
        return Err(crate::http::not_found(
            "This conversation's messages are only served inline (it is listed whole).",
        ));
    };
    let msgs = value["messages"]["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let start = match q.get("after") {
        None => 0,
        Some(after) => match msgs.iter().position(|m| m["id"].as_str() == Some(after)) {
            Some(i) => i + 1,
            None => {
                return Err(bad_param(
                    "after",
                    &format!("after={after:?} is not a message of conversation {conv_id}"),
                ))
            }
        },
    };
    let end = (start + limit).min(msgs.len());
    let page = &msgs[start.min(end)..end];
    let records = page.iter().map(|m| Bytes::from(m.to_string())).collect();
    let last = page.last().and_then(|m| m["id"].as_str());
    Ok(streamed_page(
        LIST_HEAD.into(),
        records,
        list_tail(end < msgs.len(), last),
    ))
}

/// Users, GPTs, projects, memories: ascending id, `after` = the last id.
fn simple(
    app: &App,
    q: &Query,
    pick: fn(&crate::store::Store) -> &BTreeMap<String, Value>,
    default: usize,
    max: usize,
    with_since: bool,
) -> Result<Response, Response> {
    let limit = limit(q, default, max, false)?;
    let since = if with_since {
        since_timestamp(q, app.opts.strict)?
    } else {
        None
    };
    let store = app.store.read().unwrap();
    let items = pick(&store);
    let start = match q.get("after") {
        Some(a) => Bound::Excluded(a.to_string()),
        None => Bound::Unbounded,
    };
    let fresh = |v: &Value| since.is_none_or(|s| memory_updated_at(v) >= s);
    let mut page = Vec::new();
    let mut has_more = false;
    for (_, v) in items
        .range((start, Bound::Unbounded))
        .filter(|(_, v)| fresh(v))
    {
        if page.len() == limit {
            has_more = true;
            break;
        }
        page.push(v);
    }
    let last = page.last().and_then(|v| v["id"].as_str()).map(String::from);
    let records = page.iter().map(|v| Bytes::from(v.to_string())).collect();
    Ok(streamed_page(
        LIST_HEAD.into(),
        records,
        list_tail(has_more, last.as_deref()),
    ))
}

/// The newest `updated_at` of a memory record's entries.
fn memory_updated_at(v: &Value) -> f64 {
    v["memory_contexts"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["memory_entries"].as_array().into_iter().flatten())
        .filter_map(|e| e["updated_at"].as_f64())
        .fold(f64::MIN, f64::max)
}
