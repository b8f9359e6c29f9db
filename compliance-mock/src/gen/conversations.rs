//! Conversation and message objects (`compliance.workspace.conversation`,
//! spec v1.1.1), in the spirit of bench/gen/gen_conversations.py: about six
//! messages on average, a few long threads, null titles, null `created_at`,
//! tool messages with null content, GPT and project ids, file attachments.

use super::base::{micros, Generator};
use super::text;
use crate::rng::Rng;
use serde_json::{json, Value};

const TOOLS: &[&str] = &["python", "browser", "myfiles_browser", "dalle"];
const FILE_NAMES: &[&str] = &[
    "report.pdf",
    "data.csv",
    "screenshot.png",
    "notes.docx",
    "Q3 plan (final).xlsx",
];

pub fn conversation(g: &Generator, rng: &mut Rng, created: f64) -> Value {
    let who = g.person(rng).clone();
    // Most threads are short; about one in twenty is long enough that its
    // nested message list has to be paged.
    let mut turns = 1;
    if rng.chance(0.05) {
        turns = 18 + rng.below(12);
    } else {
        while rng.chance(2.0 / 3.0) && turns < 60 {
            turns += 1;
        }
    }
    let gpt_id = rng.chance(0.1).then(|| format!("g-{}", rng.alnum(9)));
    let project_id = rng.chance(0.1).then(|| format!("g-p-{}", rng.alnum(12)));
    let mut msgs: Vec<Value> = Vec::new();
    let mut t = created + rng.f64();
    for k in 0..turns {
        msgs.push(message(
            rng,
            "user",
            t,
            150.0,
            &msgs,
            &gpt_id,
            &project_id,
            &who.id,
            g.attachment_chance,
        ));
        t += rng.range_f64(2.0, 45.0);
        if k == turns - 1 && rng.chance(0.05) {
            break; // an unanswered last prompt
        }
        if rng.chance(0.01) {
            msgs.push(message(
                rng,
                "tool",
                t,
                0.0,
                &msgs,
                &gpt_id,
                &project_id,
                &who.id,
                g.attachment_chance,
            ));
        }
        msgs.push(message(
            rng,
            "assistant",
            t,
            420.0,
            &msgs,
            &gpt_id,
            &project_id,
            &who.id,
            g.attachment_chance,
        ));
        t += rng.exp(240.0) + 5.0;
        if rng.chance(0.01) {
            t += rng.range_f64(3600.0, 3.0 * 86_400.0); // the user came back later
        }
    }
    let last = msgs
        .iter()
        .filter_map(|m| m["created_at"].as_f64())
        .fold(created, f64::max);
    let title = if rng.chance(0.01) {
        Value::Null
    } else {
        json!(rng.pick(text::TITLES))
    };
    let last_id = msgs.last().map(|m| m["id"].clone()).unwrap_or(Value::Null);
    json!({
        "object": "compliance.workspace.conversation",
        "id": rng.uuid(),
        "workspace_id": g.workspace_id,
        "user_id": who.id,
        "user_email": who.email,
        "created_at": micros(created + rng.f64()),
        "last_active_at": micros(last),
        "title": title,
        "messages": {"object": "list", "data": msgs, "has_more": false, "last_id": last_id},
    })
}

#[allow(clippy::too_many_arguments)]
fn message(
    rng: &mut Rng,
    role: &str,
    t: f64,
    mean_chars: f64,
    prev: &[Value],
    gpt_id: &Option<String>,
    project_id: &Option<String>,
    user_id: &str,
    attachment_chance: f64,
) -> Value {
    let (content, tool) = if role == "tool" {
        // Unsupported tools come back with null content.
        (Value::Null, json!(rng.pick(TOOLS)))
    } else {
        let mut annotations = vec![];
        if role == "assistant" && rng.chance(0.03) {
            annotations.push(json!({"type": "url_citation",
                "urls": [format!("https://example.com/doc/{}", rng.below(1_000_000))]}));
        }
        let content = json!({"object": "compliance.workspace.conversation.message.content",
            "type": "text", "value": text::text(rng, mean_chars), "annotations": annotations});
        (content, Value::Null)
    };
    let files: Vec<Value> = if role == "user" && rng.chance(attachment_chance) {
        let id = format!("file-{}", rng.alnum(22));
        // Expired files keep their name but lose time and URL.
        let expired = rng.chance(0.2);
        vec![json!({
            "object": "compliance.workspace.conversation.message.file",
            "id": id,
            "name": rng.pick(FILE_NAMES),
            "created_at": if expired { Value::Null } else { micros(t) },
            "download_url": if expired { Value::Null } else {
                json!(format!("https://files.example.invalid/{user_id}/{id}?sig={}", rng.hex(16)))
            },
        })]
    } else {
        vec![]
    };
    let files_last = files.last().map(|f| f["id"].clone()).unwrap_or(Value::Null);
    json!({
        "object": "compliance.workspace.conversation.message",
        "id": rng.uuid(),
        "parent_id": prev.last().map(|m| m["id"].clone()).unwrap_or(Value::Null),
        "created_at": if rng.chance(0.02) { Value::Null } else { micros(t) },
        "gpt_id": gpt_id,
        "project_id": project_id,
        "author": {"object": "compliance.workspace.conversation.message.author",
                   "role": role, "tool_name": tool},
        "content": content,
        "files": {"object": "list", "data": files, "has_more": false, "last_id": files_last},
    })
}

/// Append a user prompt and an answer at time `t`; returns the new messages.
pub fn continue_conversation(
    rng: &mut Rng,
    conv: &mut Value,
    t: f64,
    attachment_chance: f64,
) -> Vec<Value> {
    let user_id = conv["user_id"].as_str().unwrap_or_default().to_string();
    let data = conv["messages"]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let (gpt_id, project_id) = data
        .first()
        .map(|m| {
            (
                m["gpt_id"].as_str().map(String::from),
                m["project_id"].as_str().map(String::from),
            )
        })
        .unwrap_or((None, None));
    let mut all = data;
    let mut added = vec![];
    let user = message(
        rng,
        "user",
        t,
        150.0,
        &all,
        &gpt_id,
        &project_id,
        &user_id,
        attachment_chance,
    );
    all.push(user.clone());
    added.push(user);
    let mut answer = message(
        rng,
        "assistant",
        t + 3.0,
        420.0,
        &all,
        &gpt_id,
        &project_id,
        &user_id,
        attachment_chance,
    );
    // The newest message always carries its time, so last_active_at moves.
    answer["created_at"] = micros(t + 3.0);
    all.push(answer.clone());
    added.push(answer);
    conv["messages"]["last_id"] = all.last().unwrap()["id"].clone();
    conv["messages"]["data"] = Value::Array(all);
    conv["last_active_at"] = micros(t + 3.0);
    added
}

/// One conversation of about `mb` MB, serialised directly (it is far too
/// big to build as a `Value` and then copy).
pub fn huge_conversation(g: &Generator, rng: &mut Rng, created: f64, mb: usize) -> String {
    let who = g.person(rng).clone();
    let block = text::bulk_text(rng, 1 << 20);
    let id = rng.uuid();
    let mut msgs = String::with_capacity(mb * (1 << 20) + (1 << 16));
    let mut parent = Value::Null;
    let mut last_id = Value::Null;
    for k in 0..mb.max(1) {
        let mid = rng.uuid();
        let role = if k % 2 == 0 { "user" } else { "assistant" };
        let m = json!({
            "object": "compliance.workspace.conversation.message",
            "id": mid,
            "parent_id": parent,
            "created_at": micros(created + k as f64),
            "gpt_id": null,
            "project_id": null,
            "author": {"object": "compliance.workspace.conversation.message.author", "role": role, "tool_name": null},
            "content": {"object": "compliance.workspace.conversation.message.content",
                        "type": "text", "value": format!("part {k}: {block}"), "annotations": []},
            "files": {"object": "list", "data": [], "has_more": false, "last_id": null},
        });
        if k > 0 {
            msgs.push(',');
        }
        msgs.push_str(&m.to_string());
        parent = json!(mid);
        last_id = json!(mid);
    }
    let head = json!({
        "object": "compliance.workspace.conversation",
        "id": id,
        "workspace_id": g.workspace_id,
        "user_id": who.id,
        "user_email": who.email,
        "created_at": micros(created),
        "last_active_at": micros(created + mb as f64),
        "title": "Very long document review",
    })
    .to_string();
    format!(
        "{},\"messages\":{{\"object\":\"list\",\"data\":[{msgs}],\"has_more\":false,\"last_id\":{last_id}}}}}",
        &head[..head.len() - 1]
    )
}
