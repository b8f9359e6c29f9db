//! `GET /v1/organization/audit_logs`: newest first, `after`/`before`
//! cursors, `first_id`/`last_id`, and the bracketed filters real clients
//! send (`effective_at[gte]`, `event_types[]`, …). Errors are OpenAI-style
//! 400s; unbracketed list keys are refused so a client bug shows.

use crate::app::App;
use crate::http::{bad_param, quoted, streamed_page, Query};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use std::ops::Bound;

const LIST_KEYS: &[&str] = &[
    "event_types",
    "project_ids",
    "actor_ids",
    "actor_emails",
    "resource_ids",
];

struct Filters {
    gt: Option<i64>,
    gte: Option<i64>,
    lt: Option<i64>,
    lte: Option<i64>,
    event_types: Vec<String>,
    project_ids: Vec<String>,
    actor_ids: Vec<String>,
    actor_emails: Vec<String>,
    resource_ids: Vec<String>,
}

fn int(q: &Query, key: &str) -> Result<Option<i64>, Response> {
    match q.get(key) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            bad_param(
                key,
                &format!("Invalid '{key}': expected an integer (Unix seconds), got {v:?}."),
            )
        }),
    }
}

fn filters(q: &Query) -> Result<Filters, Response> {
    for key in LIST_KEYS {
        if q.has(key) {
            return Err(bad_param(
                key,
                &format!("Unknown parameter '{key}'. Did you mean '{key}[]'?"),
            ));
        }
    }
    if q.0
        .iter()
        .any(|(k, _)| k == "effective_at" || matches!(k.as_str(), "gt" | "gte" | "lt" | "lte"))
    {
        return Err(bad_param(
            "effective_at",
            "Use effective_at[gt], effective_at[gte], effective_at[lt] or effective_at[lte].",
        ));
    }
    Ok(Filters {
        gt: int(q, "effective_at[gt]")?,
        gte: int(q, "effective_at[gte]")?,
        lt: int(q, "effective_at[lt]")?,
        lte: int(q, "effective_at[lte]")?,
        event_types: q.all("event_types[]"),
        project_ids: q.all("project_ids[]"),
        actor_ids: q.all("actor_ids[]"),
        actor_emails: q.all("actor_emails[]"),
        resource_ids: q.all("resource_ids[]"),
    })
}

fn any_of(wanted: &[String], have: &[Option<&str>]) -> bool {
    wanted.is_empty() || have.iter().flatten().any(|h| wanted.iter().any(|w| w == h))
}

impl Filters {
    fn keep(&self, e: &Value) -> bool {
        let t = e["effective_at"].as_i64().unwrap_or_default();
        let ty = e["type"].as_str().unwrap_or_default();
        let actor = &e["actor"];
        let actor_ids = [
            actor["session"]["user"]["id"].as_str(),
            actor["api_key"]["id"].as_str(),
            actor["api_key"]["user"]["id"].as_str(),
            actor["api_key"]["service_account"]["id"].as_str(),
        ];
        let emails = [
            actor["session"]["user"]["email"].as_str(),
            actor["api_key"]["user"]["email"].as_str(),
        ];
        self.gt.is_none_or(|v| t > v)
            && self.gte.is_none_or(|v| t >= v)
            && self.lt.is_none_or(|v| t < v)
            && self.lte.is_none_or(|v| t <= v)
            && any_of(&self.event_types, &[Some(ty)])
            && any_of(&self.project_ids, &[e["project"]["id"].as_str()])
            && any_of(&self.actor_ids, &actor_ids)
            && any_of(&self.actor_emails, &emails)
            && any_of(&self.resource_ids, &[e[ty]["id"].as_str()])
    }
}

pub fn handle(app: &App, q: &Query) -> Response {
    page(app, q).unwrap_or_else(|r| r)
}

fn page(app: &App, q: &Query) -> Result<Response, Response> {
    let limit = match q.get("limit") {
        None => 20,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => n as usize,
            _ => {
                return Err(bad_param(
                    "limit",
                    &format!(
                        "Invalid 'limit': expected an integer between 1 and 100, got {raw:?}."
                    ),
                ))
            }
        },
    };
    let f = filters(q)?;
    let store = app.store.read().unwrap();
    let cursor = |key: &str| -> Result<Option<(i64, String)>, Response> {
        match q.get(key) {
            None => Ok(None),
            Some(id) => store.audit_keys.get(id).cloned().map(Some).ok_or_else(|| {
                bad_param(
                    key,
                    &format!("Invalid '{key}': no audit log entry with id {id:?}."),
                )
            }),
        }
    };
    let after = cursor("after")?;
    let before = cursor("before")?;
    let mut page: Vec<&Value> = Vec::new();
    let mut has_more = false;
    if let (Some(b), None) = (&before, &after) {
        // Newer than `before`: the nearest `limit` of them, newest first.
        for (_, e) in store
            .audit
            .range((Bound::Excluded(b.clone()), Bound::Unbounded))
            .filter(|(_, e)| f.keep(e))
        {
            if page.len() == limit {
                has_more = true;
                break;
            }
            page.push(e);
        }
        page.reverse();
    } else {
        let upper = after.map(Bound::Excluded).unwrap_or(Bound::Unbounded);
        for (_, e) in store
            .audit
            .range((Bound::Unbounded, upper))
            .rev()
            .filter(|(_, e)| f.keep(e))
        {
            if page.len() == limit {
                has_more = true;
                break;
            }
            page.push(e);
        }
    }
    let id_of = |e: Option<&&Value>| {
        e.and_then(|e| e["id"].as_str())
            .map(quoted)
            .unwrap_or_else(|| "null".into())
    };
    let tail = format!(
        "],\"first_id\":{},\"last_id\":{},\"has_more\":{has_more}}}",
        id_of(page.first()),
        id_of(page.last())
    );
    let records = page.iter().map(|e| Bytes::from(e.to_string())).collect();
    Ok(streamed_page(
        "{\"object\":\"list\",\"data\":[".into(),
        records,
        tail,
    ))
}
