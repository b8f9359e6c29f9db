//! Workspace users, GPTs, projects and memories (spec v1.1.1 shapes).

use super::base::{micros, Generator};
use super::text;
use crate::rng::Rng;
use serde_json::{json, Value};

const FIRST: &[&str] = &[
    "alex", "sam", "jordan", "taylor", "morgan", "casey", "riley", "jamie", "avery", "quinn",
    "maria", "jose", "wei", "li", "ana", "lukas", "sofia", "noah", "emma", "liam", "olivia",
    "mateo", "yuki", "priya", "omar",
];
const LAST: &[&str] = &[
    "smith", "johnson", "lee", "garcia", "martinez", "brown", "davis", "miller", "wilson", "moore",
    "taylor", "anderson", "thomas", "jackson", "white", "harris", "martin", "thompson", "kim",
    "nguyen", "patel",
];
const GPT_NAMES: &[&str] = &[
    "Contract Reviewer",
    "SQL Helper",
    "Brand Voice",
    "Onboarding Buddy",
    "Release Notes Writer",
    "Policy Q&A",
    "Data Analyst",
    "Résumé Screener",
    "Support Macro Drafter",
];
const PROJECT_NAMES: &[&str] = &[
    "Q3 board deck",
    "Vendor due diligence",
    "Migration to Rust",
    "EU launch",
    "Customer research",
    "Security review",
    "FY26 planning",
];
const MEMORY_FACTS: &[&str] = &[
    "Prefers answers as bullet points",
    "Works in the finance team in Zürich",
    "Writes SQL for PostgreSQL 15",
    "Is preparing the SOC2 audit",
    "Likes examples in Rust",
    "Reports to the CFO",
    "Timezone is Asia/Tokyo (データ分析 team)",
];

pub fn users(rng: &mut Rng, n: usize, start: i64) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Value> = (0..n)
        .map(|i| {
            let (first, last) = (*rng.pick(FIRST), *rng.pick(LAST));
            let mut handle = format!("{first}.{last}");
            if !seen.insert(handle.clone()) {
                handle = format!("{handle}{i}");
            }
            let role = match i {
                0 => "account-owner",
                _ if rng.chance(0.03) => "account-admin",
                _ => "standard-user",
            };
            let cap = |s: &str| s[..1].to_uppercase() + &s[1..];
            json!({
                "object": "compliance.workspace.user",
                "id": format!("user-{}", rng.alnum(24)),
                "email": format!("{handle}@example-corp.com"),
                "name": format!("{} {}", cap(first), cap(last)),
                "created_at": micros(start as f64 - rng.range_f64(86_400.0, 400.0 * 86_400.0)),
                "role": role,
                "status": if rng.chance(0.05) { "inactive" } else { "active" },
            })
        })
        .collect();
    out.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    out
}

fn sharing(rng: &mut Rng, kind: &str, g: &Generator) -> Value {
    let visibility = *rng.pick(&["private", "workspace", "invite_only", "link"]);
    let recipients: Vec<Value> = if visibility == "invite_only" {
        (0..1 + rng.below(3))
            .map(|_| json!(g.person(rng).id))
            .collect()
    } else {
        vec![]
    };
    json!({
        "object": format!("compliance.workspace.{kind}.sharing"),
        "visibility": visibility,
        "permissions": {"can_read": true, "can_view_config": rng.chance(0.5), "can_write": rng.chance(0.2)},
        "recipients": recipients,
    })
}

fn config(rng: &mut Rng, kind: &str, id_prefix: &str, name: &str, t: f64, author: &str) -> Value {
    let tools: Vec<Value> = (0..rng.below(3))
        .map(|_| {
            let ty = *rng.pick(&["browser", "python", "dalle", "action"]);
            let domain = if ty == "action" {
                json!("api.example-corp.com")
            } else {
                Value::Null
            };
            json!({"type": ty, "created_at": micros(t), "action_domain": domain})
        })
        .collect();
    json!({
        "object": format!("compliance.workspace.{kind}.config"),
        "id": format!("{id_prefix}{}", rng.alnum(32)),
        "name": name,
        "description": text::text(rng, 80.0),
        "instructions": text::text(rng, 600.0),
        "categories": [],
        "conversation_starters": [text::text(rng, 40.0)],
        "created_at": micros(t),
        "version_author": author,
        "files": {"object": "list", "data": [], "has_more": false, "last_id": null},
        "tools": tools,
    })
}

fn owned(
    g: &Generator,
    rng: &mut Rng,
    start: i64,
    kind: &str,
    id_prefix: &str,
    cfg_prefix: &str,
    names: &[&str],
) -> Vec<Value> {
    let n = (g.people.len() / 8).max(2);
    let mut out: Vec<Value> = (0..n)
        .map(|_| {
            let owner = g.person(rng).clone();
            let t = start as f64 - rng.range_f64(0.0, 90.0 * 86_400.0);
            let name = *rng.pick(names);
            let cfg = config(rng, kind, cfg_prefix, name, t, &owner.email);
            let cfg_id = cfg["id"].clone();
            json!({
                "object": format!("compliance.workspace.{kind}"),
                "id": format!("{id_prefix}{}", rng.hex(32)),
                "created_at": micros(t),
                "owner_id": owner.id,
                "owner_email": owner.email,
                "builder_name": name,
                "sharing": sharing(rng, kind, g),
                "latest_config": {"object": "list", "data": [cfg], "has_more": false, "last_id": cfg_id},
            })
        })
        .collect();
    out.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    out
}

pub fn gpts(g: &Generator, rng: &mut Rng, start: i64) -> Vec<Value> {
    owned(g, rng, start, "gpt", "g-", "gzm_cnf_", GPT_NAMES)
}

pub fn projects(g: &Generator, rng: &mut Rng, start: i64) -> Vec<Value> {
    owned(g, rng, start, "project", "g-p-", "pr_cnf_", PROJECT_NAMES)
}

pub fn memories(g: &Generator, rng: &mut Rng, start: i64, days: u32) -> Vec<Value> {
    let with_memories: Vec<_> = g.people.iter().filter(|_| rng.chance(0.6)).collect();
    let mut out: Vec<Value> = with_memories
        .into_iter()
        .map(|p| {
            let entries: Vec<Value> = (0..1 + rng.below(4))
                .map(|_| {
                    let t = start as f64 + rng.range_f64(0.0, days.max(1) as f64 * 86_400.0);
                    json!({"object": "compliance.workspace.user.memory.entry",
                           "id": rng.uuid(), "content": rng.pick(MEMORY_FACTS), "updated_at": micros(t)})
                })
                .collect();
            json!({
                "object": "compliance.workspace.user.memory",
                "id": p.id,
                "memory_contexts": [{"object": "compliance.workspace.user.memory.context",
                                     "id": rng.uuid(), "memory_entries": entries}],
            })
        })
        .collect();
    out.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    out
}
