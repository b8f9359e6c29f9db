//! Logs Platform events (CONVERSATION_MESSAGE, AUTH_LOG, AUDIT_LOG; shapes
//! after Psoxy's samples) and OpenAI organisation audit-log entries (an
//! `AuditLog` object with its event-named detail property).

use super::base::{Generator, Person};
use crate::rng::{hash_str, Rng};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The event types the mock generates from conversations; CODEX_LOG stays
/// empty on purpose, so clients meet a type whose `max_event_time` is null.
pub const EVENT_TYPES: &[&str] = &["AUDIT_LOG", "AUTH_LOG", "CODEX_LOG", "CONVERSATION_MESSAGE"];

/// Types a few events a day are generated for, in a generic shape: the
/// published list is open-ended ("etc..."), so one of them is invented and
/// clients must archive it untouched all the same.
pub const OTHER_TYPES: &[&str] = &[
    "APP_AUTH_LOG",
    "APP_LOG",
    "CODEX_SECURITY_LOG",
    "CUSTOM_AGENTS_LOG",
    "WIDGET_TELEMETRY_LOG",
];

/// Served only under `/compliance/organizations/{org}/`; the workspace
/// scope answers 400 naming that path, as upstream does.
pub const ORG_ONLY_TYPES: &[&str] = &["COSTS"];

/// RFC 3339 UTC with microseconds, e.g. `2026-05-20T12:47:09.501218Z`.
pub fn iso(t: f64) -> String {
    let micros = (t * 1e6).round() as i64;
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

fn principal(g: &Generator) -> Value {
    json!({"id": g.workspace_id, "type": "CHATGPT_WORKSPACE"})
}

fn actor(p: &Person) -> Value {
    json!({"type": "ACCOUNT_USER", "user_id": p.id, "user_email": p.email})
}

fn event_id(rng: &mut Rng, t: f64) -> String {
    format!("evt_{}_{}", &iso(t)[..10].replace('-', ""), rng.alnum(16))
}

fn ip(rng: &mut Rng) -> String {
    format!("203.0.113.{}", 1 + rng.below(254))
}

pub fn conversation_message_events(
    g: &Generator,
    rng: &mut Rng,
    conv: &Value,
    messages: &[Value],
) -> Vec<Value> {
    let who = Person {
        id: conv["user_id"].as_str().unwrap_or_default().into(),
        email: conv["user_email"].as_str().unwrap_or_default().into(),
    };
    let conv_created = conv["created_at"].as_f64().unwrap_or_default();
    let mut last_t = conv_created;
    messages
        .iter()
        .map(|m| {
            let t = m["created_at"].as_f64().unwrap_or(last_t);
            last_t = t;
            let content = match m["content"]["value"].as_str() {
                Some(v) => json!({"type": "text", "value": v}),
                None => Value::Null,
            };
            json!({
                "event_id": event_id(rng, t),
                "type": "CONVERSATION_MESSAGE",
                "principal": principal(g),
                "actor": actor(&who),
                "timestamp": iso(t),
                "message": {
                    "id": m["id"], "parent_id": m["parent_id"],
                    "created_at": m["created_at"].as_f64().map(iso),
                    "author": {"type": m["author"]["role"], "tool_name": m["author"]["tool_name"]},
                    "content": content,
                    "files": m["files"]["data"].as_array().map(|f| f.iter().map(|x| json!({"id": x["id"], "name": x["name"]})).collect::<Vec<_>>()).unwrap_or_default(),
                },
                "conversation": {
                    "id": conv["id"], "title": conv["title"], "created_at": iso(conv_created),
                    "is_pinned": false, "is_temporary_chat": false,
                },
            })
        })
        .collect()
}

pub fn auth_event(g: &Generator, rng: &mut Rng, who: &Person, t: f64) -> Value {
    let failed = rng.chance(0.05);
    json!({
        "event_id": event_id(rng, t),
        "type": "AUTH_LOG",
        "principal": principal(g),
        "actor": actor(who),
        "timestamp": iso(t),
        "auth": {
            "action": if failed { "login.failed" } else { "login.succeeded" },
            "method": *rng.pick(&["sso", "sso", "password", "magic_link"]),
            "ip_address": ip(rng),
            "user_agent": *rng.pick(&["Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5)", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "ChatGPT/1.2025.300 (iOS 18.1)"]),
            "error_code": if failed { json!("invalid_credentials") } else { Value::Null },
        },
    })
}

pub fn workspace_audit_event(g: &Generator, rng: &mut Rng, t: f64) -> Value {
    let admin = g.people[0].clone();
    let target = g.person(rng).clone();
    let action = *rng.pick(&[
        "workspace.member.invited",
        "workspace.member.role_changed",
        "workspace.gpt.shared",
        "workspace.settings.updated",
        "workspace.connector.enabled",
        "workspace.member.removed",
    ]);
    json!({
        "event_id": event_id(rng, t),
        "type": "AUDIT_LOG",
        "principal": principal(g),
        "actor": actor(&admin),
        "timestamp": iso(t),
        "audit": {"action": action, "target": {"type": "ACCOUNT_USER", "id": target.id, "email": target.email},
                  "ip_address": ip(rng)},
    })
}

pub fn log_events(
    g: &Generator,
    rng: &mut Rng,
    conversations: &[Value],
    start: i64,
    end: i64,
) -> BTreeMap<String, Vec<Value>> {
    let mut by_type: BTreeMap<String, Vec<Value>> = EVENT_TYPES
        .iter()
        .map(|t| (t.to_string(), Vec::new()))
        .collect();
    for conv in conversations {
        let msgs = conv["messages"]["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let events = conversation_message_events(g, rng, conv, &msgs);
        by_type
            .get_mut("CONVERSATION_MESSAGE")
            .unwrap()
            .extend(events);
        if rng.chance(0.5) {
            let who = Person {
                id: conv["user_id"].as_str().unwrap_or_default().into(),
                email: conv["user_email"].as_str().unwrap_or_default().into(),
            };
            let t = conv["created_at"].as_f64().unwrap_or_default() - rng.range_f64(5.0, 3600.0);
            let e = auth_event(g, rng, &who, t.max(start as f64));
            by_type.get_mut("AUTH_LOG").unwrap().push(e);
        }
    }
    let mut day = start;
    while day < end {
        for _ in 0..2 + rng.below(4) {
            let t = day as f64 + rng.range_f64(0.0, 86_400.0);
            let e = workspace_audit_event(g, rng, t);
            by_type.get_mut("AUDIT_LOG").unwrap().push(e);
        }
        day += 86_400;
    }
    for events in by_type.values_mut() {
        events.sort_by(|a, b| a["timestamp"].as_str().cmp(&b["timestamp"].as_str()));
    }
    by_type
}

/// A few events a day of each of [`OTHER_TYPES`] and [`ORG_ONLY_TYPES`].
pub fn other_log_events(
    g: &Generator,
    rng: &mut Rng,
    start: i64,
    end: i64,
) -> BTreeMap<String, Vec<Value>> {
    let mut by_type: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut day = start;
    while day < end {
        for ty in OTHER_TYPES.iter().chain(ORG_ONLY_TYPES) {
            for _ in 0..1 + rng.below(3) {
                let t = day as f64 + rng.range_f64(0.0, 86_400.0);
                let who = g.person(rng).clone();
                let detail = if *ty == "COSTS" {
                    json!({"amount": {"value": (rng.range_f64(0.5, 400.0) * 100.0).round() / 100.0, "currency": "usd"},
                           "line_item": *rng.pick(&["chatgpt-enterprise-seats", "codex-usage", "api-credits"]),
                           "project_id": format!("proj_{}", rng.alnum(12))})
                } else {
                    json!({"action": format!("{}.event", ty.to_lowercase()), "ip_address": ip(rng),
                           "detail": {"n": rng.below(1000), "ref": rng.alnum(8)}})
                };
                let mut e = json!({
                    "event_id": event_id(rng, t),
                    "type": ty,
                    "principal": principal(g),
                    "actor": actor(&who),
                    "timestamp": iso(t),
                });
                e[ty.to_lowercase()] = detail;
                by_type.entry(ty.to_string()).or_default().push(e);
            }
        }
        day += 86_400;
    }
    for events in by_type.values_mut() {
        events.sort_by(|a, b| a["timestamp"].as_str().cmp(&b["timestamp"].as_str()));
    }
    by_type
}

const ORG_PROJECTS: &[&str] = &["Default project", "Production", "Staging", "Data science"];

pub fn audit_log_entry(g: &Generator, rng: &mut Rng, t: i64) -> Value {
    let who = g.person(rng).clone();
    let ty = *rng.pick(&[
        "login.succeeded",
        "login.succeeded",
        "login.failed",
        "logout.succeeded",
        "api_key.created",
        "api_key.updated",
        "api_key.deleted",
        "project.created",
        "project.archived",
        "invite.sent",
        "user.added",
        "service_account.created",
        "rate_limit.updated",
    ]);
    let key_id = format!("key_{}", rng.alnum(16));
    let detail = match ty {
        "login.failed" => {
            json!({"error_code": "invalid_credentials", "error_message": "Wrong email or password."})
        }
        "api_key.created" => {
            json!({"id": key_id, "data": {"scopes": ["api.model.read", "api.model.request"]}})
        }
        "api_key.updated" => {
            json!({"id": key_id, "changes_requested": {"scopes": ["api.model.read"]}})
        }
        "api_key.deleted" => json!({"id": key_id}),
        "project.created" => {
            json!({"id": format!("proj_{}", rng.alnum(24)), "data": {"name": "New project", "title": "New project"}})
        }
        "project.archived" => json!({"id": format!("proj_{}", rng.alnum(24))}),
        "invite.sent" => {
            json!({"id": format!("invite-{}", rng.alnum(24)), "data": {"email": who.email, "role": "reader"}})
        }
        "user.added" => json!({"id": who.id, "data": {"role": "reader"}}),
        "service_account.created" => {
            json!({"id": format!("svc_acct_{}", rng.alnum(24)), "data": {"role": "member"}})
        }
        "rate_limit.updated" => {
            json!({"id": format!("rl-{}", rng.alnum(12)), "changes_requested": {"max_requests_per_1_minute": 500}})
        }
        _ => json!({}),
    };
    let actor = if ty.starts_with("log") || rng.chance(0.7) {
        json!({"type": "session", "session": {
            "user": {"id": who.id, "email": who.email},
            "ip_address": ip(rng),
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "ip_address_details": {"country": "CH", "city": "Zürich", "region": "Zurich", "region_code": "ZH",
                                   "asn": "3303", "latitude": "47.36", "longitude": "8.55"},
        }})
    } else if rng.chance(0.5) {
        json!({"type": "api_key", "api_key": {"id": format!("key_{}", rng.alnum(16)), "type": "user",
                                              "user": {"id": who.id, "email": who.email}}})
    } else {
        json!({"type": "api_key", "api_key": {"id": format!("key_{}", rng.alnum(16)), "type": "service_account",
                                              "service_account": {"id": format!("svc_acct_{}", rng.alnum(12))}}})
    };
    let day = &iso(t as f64)[..10].replace('-', "");
    let mut entry = json!({
        "id": format!("audit_log-{}_{day}", rng.alnum(12)),
        "type": ty,
        "effective_at": t,
        "actor": actor,
    });
    if !ty.starts_with("log") {
        let k = rng.below(ORG_PROJECTS.len() as u64) as usize;
        let pid = format!(
            "proj_{:024x}",
            hash_str(&format!("{}{k}", g.workspace_id)) as u128 * 7919
        );
        entry["project"] = json!({"id": &pid[..29], "name": ORG_PROJECTS[k]});
    }
    entry[ty] = detail;
    entry
}

pub fn audit_log_entries(g: &Generator, rng: &mut Rng, start: i64, end: i64) -> Vec<Value> {
    let mut out = vec![];
    let mut day = start;
    while day < end {
        for _ in 0..3 + rng.below(8) {
            let t = day + rng.below(86_400) as i64;
            out.push(audit_log_entry(g, rng, t));
        }
        day += 86_400;
    }
    out
}
