//! The log-conversations preset: Logs Platform `CONVERSATION_MESSAGE`
//! events (one message each) become conversation objects in the seed
//! layout's `conversations.json`, the shape the legacy conversations
//! stream has there. Events are routed by the day of their message, so a
//! day's file holds the messages of that day; a conversation that spans
//! two days is in both days' files, each with its own messages.
//!
//! A group's events are merged with the conversations its file already
//! holds: one copy per message id (the last to arrive wins, what is on
//! disk arrived first), conversation fields from the last event that has
//! them. Messages are ordered by time and threaded: a message comes after
//! the one its `previous_message_id` names.

use crate::extract::parse_time;
use crate::model::TimeUnit;
use anyhow::{anyhow, Result};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// One conversation of a group's file, rendered.
pub struct Assembled {
    pub raw: Vec<u8>,
    /// The conversation's `created_at` (Unix seconds), which orders the file.
    pub created_at: Option<f64>,
    pub id: String,
    pub messages: u32,
    /// The times of its first and last message in this file.
    pub span: Option<(f64, f64)>,
}

/// Conversation fields, in the order they are written.
const CONV_FIELDS: [&str; 6] = [
    "title",
    "created_at",
    "is_pinned",
    "is_temporary_chat",
    "user_id",
    "user_email",
];

#[derive(Deserialize)]
struct EventShape {
    conversation: Option<ConvShape>,
    #[serde(default)]
    message: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ConvShape {
    id: Option<Value>,
}

/// Can this event be filed as a message of a conversation? `has_id`: the
/// router found its `message.id`.
pub fn check_event(line: &[u8], has_id: bool) -> Result<(), String> {
    let e: EventShape = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    if e.message.is_none() {
        return Err("not a CONVERSATION_MESSAGE event: no `message`".into());
    }
    if !has_id {
        return Err("missing message id `message.id`".into());
    }
    match e.conversation.and_then(|c| c.id) {
        Some(Value::String(_) | Value::Number(_)) => Ok(()),
        _ => Err("missing conversation id `conversation.id`".into()),
    }
}

struct Msg {
    time: Option<f64>,
    prev: Option<String>,
    value: Value,
}

#[derive(Default)]
struct Conv {
    id: Value,
    fields: BTreeMap<&'static str, Value>,
    /// Message id (as JSON text) → message; arrival order kept in `order`.
    by_id: HashMap<String, usize>,
    msgs: Vec<Msg>,
}

impl Conv {
    /// Add or replace a message; true when it replaced one (a duplicate).
    fn put(&mut self, key: String, m: Msg) -> bool {
        match self.by_id.get(&key) {
            Some(&i) => {
                self.msgs[i] = m;
                true
            }
            None => {
                self.by_id.insert(key, self.msgs.len());
                self.msgs.push(m);
                false
            }
        }
    }

    fn set_fields(&mut self, src: &Map<String, Value>) {
        for f in CONV_FIELDS {
            match src.get(f) {
                Some(v) if !v.is_null() => {
                    self.fields.insert(f, v.clone());
                }
                _ => {}
            }
        }
    }
}

/// Merge `existing` (conversation objects of the group's file) and
/// `events` (this run's, in arrival order) into the group's conversations,
/// ordered by creation time then id, and count the duplicate messages.
pub fn conversations(existing: &[&[u8]], events: &[&[u8]]) -> Result<(Vec<Assembled>, u64)> {
    let mut convs: BTreeMap<String, Conv> = BTreeMap::new();
    let mut duplicates = 0;
    for raw in existing {
        let c: Value = serde_json::from_slice(raw)?;
        let obj = c
            .as_object()
            .ok_or_else(|| anyhow!("a conversation that is not an object"))?;
        let id = obj.get("id").cloned().unwrap_or(Value::Null);
        let conv = conv_for(&mut convs, id);
        conv.set_fields(obj);
        let msgs = c.pointer("/messages/data").and_then(Value::as_array);
        for m in msgs.into_iter().flatten() {
            let key = id_key(m.get("id"));
            let time = m
                .get("created_at")
                .and_then(|t| parse_time(t, TimeUnit::Auto));
            let prev = m.get("previous_message_id").and_then(text_id);
            duplicates += u64::from(conv.put(
                key,
                Msg {
                    time,
                    prev,
                    value: m.clone(),
                },
            ));
        }
    }
    for raw in events {
        let e: Value = serde_json::from_slice(raw)?;
        let (conv_src, msg) = match (e.get("conversation"), e.get("message")) {
            (Some(Value::Object(c)), Some(Value::Object(m))) => (c, m),
            _ => continue, // checked when routed
        };
        let conv = conv_for(
            &mut convs,
            conv_src.get("id").cloned().unwrap_or(Value::Null),
        );
        conv.set_fields(conv_src);
        if let Some(u) = e.get("actor").and_then(Value::as_object) {
            for (from, to) in [("user_id", "user_id"), ("user_email", "user_email")] {
                if let Some(v) = u.get(from).filter(|v| !v.is_null()) {
                    conv.fields.insert(to, v.clone());
                }
            }
        }
        let (key, m) = message_of(&e, msg);
        duplicates += u64::from(conv.put(key, m));
    }
    let mut out: Vec<Assembled> = convs.into_values().map(render).collect();
    out.sort_by(|a, b| {
        let t = |x: &Assembled| x.created_at.unwrap_or(f64::NEG_INFINITY);
        t(a).total_cmp(&t(b)).then_with(|| a.id.cmp(&b.id))
    });
    Ok((out, duplicates))
}

fn conv_for(convs: &mut BTreeMap<String, Conv>, id: Value) -> &mut Conv {
    convs.entry(id.to_string()).or_insert_with(|| Conv {
        id,
        ..Conv::default()
    })
}

/// An id as JSON text, so `1` and `"1"` stay apart.
fn id_key(v: Option<&Value>) -> String {
    v.map_or_else(|| "null".into(), Value::to_string)
}

fn text_id(v: &Value) -> Option<String> {
    (!v.is_null()).then(|| v.to_string())
}

/// The message object of an event: the event's `message` as it is, with
/// `created_at` as Unix seconds (as in the legacy stream), its
/// `previous_message_id` and `event_id`.
fn message_of(e: &Value, msg: &Map<String, Value>) -> (String, Msg) {
    let event_time = e
        .get("timestamp")
        .and_then(|t| parse_time(t, TimeUnit::Auto));
    let own_time = msg
        .get("created_at")
        .and_then(|t| parse_time(t, TimeUnit::Auto));
    let prev = e
        .get("previous_message_id")
        .or_else(|| msg.get("previous_message_id"))
        .or_else(|| msg.get("parent_id"))
        .filter(|p| !p.is_null())
        .cloned();
    let mut value = Map::with_capacity(msg.len() + 2);
    for (k, v) in msg {
        let v = match (k.as_str(), own_time) {
            ("created_at", Some(t)) => json!(t),
            _ => v.clone(),
        };
        value.insert(k.clone(), v);
    }
    value.insert(
        "previous_message_id".into(),
        prev.clone().unwrap_or(Value::Null),
    );
    if let Some(id) = e.get("event_id") {
        value.insert("event_id".into(), id.clone());
    }
    let m = Msg {
        time: own_time.or(event_time),
        prev: prev.as_ref().and_then(text_id),
        value: Value::Object(value),
    };
    (id_key(msg.get("id")), m)
}

/// A conversation object: id, its fields (created_at as Unix seconds),
/// `last_active_at` (its last message here), and `messages.data`.
fn render(c: Conv) -> Assembled {
    let order = thread_order(&c);
    let times: Vec<f64> = c.msgs.iter().filter_map(|m| m.time).collect();
    let span = times
        .iter()
        .copied()
        .reduce(f64::min)
        .zip(times.iter().copied().reduce(f64::max));
    let created_at = c
        .fields
        .get("created_at")
        .and_then(|t| parse_time(t, TimeUnit::Auto));
    let mut obj = Map::new();
    obj.insert("id".into(), c.id.clone());
    for f in CONV_FIELDS {
        let v = match (f, created_at) {
            ("created_at", Some(t)) => json!(t),
            _ => c.fields.get(f).cloned().unwrap_or(Value::Null),
        };
        obj.insert(f.into(), v);
        if f == "created_at" {
            obj.insert("last_active_at".into(), json!(span.map(|s| s.1)));
        }
    }
    let msgs = c.msgs.len() as u32;
    let mut slots: Vec<Option<Msg>> = c.msgs.into_iter().map(Some).collect();
    let data: Vec<Value> = order
        .into_iter()
        .filter_map(|i| slots[i].take().map(|m| m.value))
        .collect();
    obj.insert("messages".into(), json!({ "object": "list", "data": data }));
    let raw = serde_json::to_vec(&Value::Object(obj)).expect("values serialise");
    Assembled {
        raw,
        created_at,
        id: c.id.to_string(),
        messages: msgs,
        span,
    }
}

/// Message indexes in thread order: a message after the one it follows
/// (`previous_message_id`), otherwise by time, then id. Messages whose
/// predecessor is not in this file start a thread; a cycle (which a real
/// conversation cannot have) is broken by time.
fn thread_order(c: &Conv) -> Vec<usize> {
    let ids: Vec<String> = c.msgs.iter().map(|m| id_key(m.value.get("id"))).collect();
    let key = |i: usize| {
        let t = c.msgs[i]
            .time
            .map_or(i64::MIN, |t| (t * 1e6).round() as i64);
        Reverse((t, ids[i].clone(), i))
    };
    let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut heap = BinaryHeap::new();
    for (i, m) in c.msgs.iter().enumerate() {
        match m
            .prev
            .as_deref()
            .filter(|p| c.by_id.contains_key(*p) && *p != ids[i])
        {
            Some(p) => children.entry(p).or_default().push(i),
            None => heap.push(key(i)),
        }
    }
    let mut done = vec![false; c.msgs.len()];
    let mut out = Vec::with_capacity(c.msgs.len());
    loop {
        while let Some(Reverse((_, _, i))) = heap.pop() {
            if std::mem::replace(&mut done[i], true) {
                continue;
            }
            out.push(i);
            for &ch in children.get(ids[i].as_str()).into_iter().flatten() {
                heap.push(key(ch));
            }
        }
        // What is left is in a cycle: start again from its earliest message.
        match (0..c.msgs.len())
            .filter(|&i| !done[i])
            .min_by_key(|&i| key(i).0)
        {
            Some(i) => heap.push(key(i)),
            None => return out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(conv: &str, id: &str, prev: Option<&str>, at: &str, text: &str) -> Vec<u8> {
        let mut e = json!({
            "event_id": format!("evt-{id}"), "type": "CONVERSATION_MESSAGE",
            "actor": {"type": "ACCOUNT_USER", "user_id": "u1", "user_email": "u1@x"},
            "timestamp": at,
            "message": {"id": id, "created_at": at, "author": {"type": "user"},
                        "content": {"type": "text", "value": text, "annotations": []}, "files": []},
            "conversation": {"id": conv, "title": "T", "created_at": "2026-05-20T10:00:00Z",
                             "is_pinned": false, "is_temporary_chat": false}
        });
        if let Some(p) = prev {
            e["previous_message_id"] = json!(p);
        }
        serde_json::to_vec(&e).unwrap()
    }

    #[test]
    fn threads_by_previous_message_then_time() {
        // m3 answers m1 but was stamped earlier than m2 (clock skew).
        let evs = [
            event("c", "m2", Some("m3"), "2026-05-20T10:00:03Z", "b"),
            event("c", "m1", None, "2026-05-20T10:00:01Z", "a"),
            event("c", "m3", Some("m1"), "2026-05-20T10:00:04Z", "c"),
            event("c", "m1", None, "2026-05-20T10:00:01Z", "a"),
        ];
        let refs: Vec<&[u8]> = evs.iter().map(|e| &e[..]).collect();
        let (convs, dups) = conversations(&[], &refs).unwrap();
        assert_eq!((convs.len(), dups), (1, 1));
        let v: Value = serde_json::from_slice(&convs[0].raw).unwrap();
        let ids: Vec<&str> = v["messages"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["m1", "m3", "m2"]);
        assert_eq!(convs[0].messages, 3);
    }
}
