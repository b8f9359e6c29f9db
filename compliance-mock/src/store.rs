//! The mock's state: every record it serves, indexed the way the APIs page
//! through them, plus the changes `/_mock/advance` and re-sent updates make.

use crate::gen::{Dataset, Generator};
use crate::logfiles::{self, LogFile};
use crate::rng::Rng;
use anyhow::Result;
use bytes::Bytes;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

/// Position of a conversation in the listing: its (hidden) update time in
/// microseconds, then a sequence number that breaks ties.
pub type OrderKey = (i64, u64);

pub struct Conversation {
    pub id: String,
    pub user_id: String,
    pub update_time: f64,
    /// False for the synthetic huge record, which is only ever served as
    /// bytes and never updated.
    pub updatable: bool,
    /// As served in list pages: messages cut to the nested page size.
    pub listed: Bytes,
    /// Complete, as `/_mock/truth` reports it.
    pub full: Bytes,
    /// Has this version been on a list page yet?
    pub served: AtomicBool,
}

impl Conversation {
    /// The record as a `Value`, parsed on demand: holding every record as a
    /// `Value` as well as bytes would cost many times the data's size.
    pub fn value(&self) -> Option<Value> {
        if !self.updatable {
            return None;
        }
        serde_json::from_slice(&self.full).ok()
    }
}

/// Logs Platform data of one event type.
#[derive(Default)]
pub struct EventStream {
    pub files: Vec<LogFile>,
    /// Unique events as JSON lines, in publication order (the ground truth).
    pub truth: Vec<Bytes>,
    ids: HashSet<String>,
}

impl EventStream {
    fn publish(&mut self, files: Vec<LogFile>, events: &[Value]) {
        for e in events {
            let id = e["event_id"].as_str().unwrap_or_default().to_string();
            if self.ids.insert(id) {
                self.truth.push(Bytes::from(format!("{e}\n")));
            }
        }
        self.files.extend(files);
    }

    pub fn max_event_micros(&self) -> Option<i64> {
        self.files
            .iter()
            .map(|f| f.max_event_micros)
            .filter(|&m| m != i64::MIN)
            .max()
    }
}

pub struct StoreConfig {
    pub seed: u64,
    /// Conversations with more messages are listed with this many and
    /// `messages.has_more: true`.
    pub nested_messages: usize,
    pub log_window_secs: i64,
    pub log_duplicate_pct: f64,
}

pub struct Store {
    pub workspace_id: String,
    pub conversations: HashMap<String, Conversation>,
    pub order: BTreeMap<OrderKey, String>,
    /// Every key a conversation had, oldest first: a cursor names only a
    /// conversation, so the position it stands for has to be worked out.
    keys: HashMap<String, Vec<OrderKey>>,
    next_seq: u64,
    pub users: BTreeMap<String, Value>,
    pub gpts: BTreeMap<String, Value>,
    pub projects: BTreeMap<String, Value>,
    pub memories: BTreeMap<String, Value>,
    pub logs: BTreeMap<String, EventStream>,
    /// OpenAI audit-log entries by (effective_at, id), oldest first.
    pub audit: BTreeMap<(i64, String), Value>,
    pub audit_keys: HashMap<String, (i64, String)>,
    /// Files users uploaded, by id (`…/users/{user}/files/{id}`).
    pub files: BTreeMap<String, crate::userfiles::UserFile>,
    pub gen: Generator,
    pub cfg: StoreConfig,
    /// Latest time of any record, Unix seconds.
    pub latest: f64,
    advances: u64,
}

fn by_id(items: Vec<Value>) -> BTreeMap<String, Value> {
    items
        .into_iter()
        .map(|v| (v["id"].as_str().unwrap_or_default().to_string(), v))
        .collect()
}

impl Store {
    pub fn build(
        ds: Dataset,
        gen: Generator,
        huge: Option<String>,
        cfg: StoreConfig,
    ) -> Result<Store> {
        let mut s = Store {
            workspace_id: gen.workspace_id.clone(),
            conversations: HashMap::new(),
            order: BTreeMap::new(),
            keys: HashMap::new(),
            next_seq: 0,
            users: by_id(ds.users),
            gpts: by_id(ds.gpts),
            projects: by_id(ds.projects),
            memories: by_id(ds.memories),
            logs: BTreeMap::new(),
            audit: BTreeMap::new(),
            audit_keys: HashMap::new(),
            files: BTreeMap::new(),
            gen,
            cfg,
            latest: 0.0,
            advances: 0,
        };
        let mut convs = ds.conversations;
        convs.sort_by(|a, b| update_time(a).total_cmp(&update_time(b)));
        for c in convs {
            s.put_conversation(c);
        }
        if let Some(raw) = huge {
            s.put_huge_conversation(raw)?;
        }
        let mut rng = Rng::new(s.cfg.seed).fork(40);
        for (ty, mut events) in ds.log_events {
            let mut keyed = Vec::with_capacity(events.len());
            for e in events.drain(..) {
                let t = logfiles::event_micros(&e)
                    .map_err(|err| anyhow::anyhow!("{ty} event {}: {err}", e["event_id"]))?;
                keyed.push((t, e));
            }
            keyed.sort_by_key(|(t, _)| *t);
            let events: Vec<Value> = keyed.into_iter().map(|(_, e)| e).collect();
            let files = logfiles::bucket(
                &ty,
                &events,
                s.cfg.log_window_secs,
                s.cfg.log_duplicate_pct,
                &mut rng,
                0,
                0,
            )?;
            let stream = s.logs.entry(ty).or_default();
            stream.publish(files, &events);
        }
        for e in ds.audit_logs {
            s.put_audit(e);
        }
        s.latest = s.latest_time();
        Ok(s)
    }

    fn latest_time(&self) -> f64 {
        let conv = self
            .order
            .keys()
            .next_back()
            .map(|k| k.0 as f64 / 1e6)
            .unwrap_or(0.0);
        let logs = self
            .logs
            .values()
            .flat_map(|s| s.files.last().map(|f| f.end_micros as f64 / 1e6))
            .fold(0.0, f64::max);
        let audit = self
            .audit
            .keys()
            .next_back()
            .map(|k| k.0 as f64)
            .unwrap_or(0.0);
        conv.max(logs).max(audit)
    }

    fn put_audit(&mut self, e: Value) {
        let key = (
            e["effective_at"].as_i64().unwrap_or_default(),
            e["id"].as_str().unwrap_or_default().to_string(),
        );
        self.audit_keys.insert(key.1.clone(), key.clone());
        self.audit.insert(key, e);
    }

    /// Insert or replace a conversation; it moves to the end of the listing.
    pub fn put_conversation(&mut self, value: Value) {
        crate::userfiles::register(&value, &mut self.files);
        let id = value["id"].as_str().unwrap_or_default().to_string();
        let ut = update_time(&value);
        let full = Bytes::from(value.to_string());
        let listed = match value["messages"]["data"].as_array() {
            Some(msgs) if msgs.len() > self.cfg.nested_messages => {
                let mut cut = value.clone();
                let page = &msgs[..self.cfg.nested_messages];
                cut["messages"]["last_id"] =
                    page.last().map(|m| m["id"].clone()).unwrap_or(Value::Null);
                cut["messages"]["data"] = Value::Array(page.to_vec());
                cut["messages"]["has_more"] = Value::Bool(true);
                Bytes::from(cut.to_string())
            }
            _ => full.clone(),
        };
        let conv = Conversation {
            id: id.clone(),
            user_id: value["user_id"].as_str().unwrap_or_default().to_string(),
            update_time: ut,
            updatable: true,
            listed,
            full,
            served: AtomicBool::new(false),
        };
        self.place(conv);
    }

    fn put_huge_conversation(&mut self, raw: String) -> Result<()> {
        #[derive(serde::Deserialize)]
        struct Head {
            id: String,
            user_id: String,
            last_active_at: f64,
        }
        let head: Head = serde_json::from_str(&raw)?;
        let full = Bytes::from(raw);
        self.place(Conversation {
            id: head.id,
            user_id: head.user_id,
            update_time: head.last_active_at,
            updatable: false,
            listed: full.clone(),
            full,
            served: AtomicBool::new(false),
        });
        Ok(())
    }

    fn place(&mut self, conv: Conversation) {
        let mut micros = (conv.update_time * 1e6).round() as i64;
        // The listing order follows update time, and an update always lands
        // after everything already listed.
        if let Some(last) = self.order.keys().next_back() {
            micros = micros.max(last.0);
        }
        let key = (micros, self.next_seq);
        self.next_seq += 1;
        let history = self.keys.entry(conv.id.clone()).or_default();
        if let Some(old) = history.last() {
            self.order.remove(old);
        }
        history.push(key);
        self.order.insert(key, conv.id.clone());
        self.conversations.insert(conv.id.clone(), conv);
    }

    /// Where a listing continues after the conversation `id`: after its
    /// current position once that version was served (the client most
    /// likely got the cursor from it), else after the position of the
    /// version the client can have seen.
    pub fn resume_key(&self, id: &str) -> Option<OrderKey> {
        let history = self.keys.get(id)?;
        let current = *history.last()?;
        if self.conversations[id].served.load(Ordering::Relaxed) || history.len() == 1 {
            Some(current)
        } else {
            Some(history[history.len() - 2])
        }
    }

    /// Note that a conversation's current version went out on a page.
    pub fn mark_served(conv: &Conversation) {
        conv.served.store(true, Ordering::Relaxed);
    }

    /// Add `new` conversations and update `updated` existing ones, with
    /// matching log events and audit-log entries, all after existing data.
    pub fn advance(&mut self, new: usize, updated: usize, seed: u64, now: f64) -> Result<Value> {
        self.advances += 1;
        let mut rng = Rng::new(self.cfg.seed)
            .fork(1000 + seed)
            .fork(self.advances);
        let mut t = (self.latest + 1.0).max(now - 120.0);
        let mut events: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        let mut touched = Vec::new();
        for _ in 0..new {
            let conv = self.gen.conversation(&mut Rng::new(rng.next_u64()), t);
            let msgs = conv["messages"]["data"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            events
                .entry("CONVERSATION_MESSAGE")
                .or_default()
                .extend(self.gen.message_events(&mut rng, &conv, &msgs));
            t = update_time(&conv).max(t) + 1.0;
            touched.push(conv);
        }
        let mut candidates: Vec<&String> = self
            .conversations
            .values()
            .filter(|c| c.updatable)
            .map(|c| &c.id)
            .collect();
        candidates.sort();
        let mut chosen = Vec::new();
        while chosen.len() < updated.min(candidates.len()) {
            let id = candidates[rng.below(candidates.len() as u64) as usize].clone();
            if !chosen.contains(&id) {
                chosen.push(id);
            }
        }
        for id in chosen {
            let mut conv = self.conversations[&id].value().expect("updatable");
            let added = self.gen.continue_conversation(&mut rng, &mut conv, t);
            events
                .entry("CONVERSATION_MESSAGE")
                .or_default()
                .extend(self.gen.message_events(&mut rng, &conv, &added));
            t += 5.0;
            touched.push(conv);
        }
        for conv in &touched {
            let who = crate::gen::person_of(
                &serde_json::json!({"id": conv["user_id"], "email": conv["user_email"]}),
            );
            let at = conv["created_at"]
                .as_f64()
                .unwrap_or(t)
                .max(self.latest + 0.5);
            events
                .entry("AUTH_LOG")
                .or_default()
                .push(self.gen.auth_event(&mut rng, &who, at));
        }
        if !touched.is_empty() {
            events
                .entry("AUDIT_LOG")
                .or_default()
                .push(self.gen.workspace_audit_event(&mut rng, t));
        }
        let n_conv = touched.len();
        for conv in touched {
            self.put_conversation(conv);
        }
        let mut files_added = 0;
        for (ty, mut evs) in events {
            evs.sort_by_key(|e| logfiles::event_micros(e).unwrap_or_default());
            let stream = self.logs.entry(ty.to_string()).or_default();
            let after = stream.files.last().map(|f| f.end_micros).unwrap_or(0);
            let index = stream.files.len();
            // One file per type per advance: a window as wide as all time.
            let files =
                logfiles::bucket(ty, &evs, i64::MAX / 4_000_000, 0.0, &mut rng, index, after)?;
            files_added += files.len();
            stream.publish(files, &evs);
        }
        let mut audit_added = 0;
        if new + updated > 0 {
            for k in 0..(new + updated).div_ceil(2) {
                let e = self.gen.audit_log_entry(&mut rng, t as i64 + k as i64);
                self.put_audit(e);
                audit_added += 1;
            }
        }
        self.latest = self.latest_time().max(t);
        Ok(serde_json::json!({
            "conversations_added": new,
            "conversations_updated": n_conv - new,
            "log_files_added": files_added,
            "audit_logs_added": audit_added,
        }))
    }

    /// Re-send: update one conversation listed before `key` (the client has
    /// already seen it) so it comes back on a later page, newer.
    pub fn touch_before(&mut self, key: OrderKey, users: &[String], now: f64) -> Option<String> {
        let id = self
            .order
            .range(..key)
            .rev()
            .map(|(_, id)| id)
            .find(|id| {
                let c = &self.conversations[*id];
                c.updatable && (users.is_empty() || users.contains(&c.user_id))
            })?
            .clone();
        let mut conv = self.conversations[&id].value()?;
        let mut rng = Rng::new(self.cfg.seed).fork(2000 + self.next_seq);
        let t = (self.latest + 1.0).max(now);
        let added = self.gen.continue_conversation(&mut rng, &mut conv, t);
        let evs = self.gen.message_events(&mut rng, &conv, &added);
        self.advances += 1;
        self.put_conversation(conv);
        let stream = self.logs.entry("CONVERSATION_MESSAGE".into()).or_default();
        let after = stream.files.last().map(|f| f.end_micros).unwrap_or(0);
        let index = stream.files.len();
        if let Ok(files) = logfiles::bucket(
            "CONVERSATION_MESSAGE",
            &evs,
            i64::MAX / 4_000_000,
            0.0,
            &mut rng,
            index,
            after,
        ) {
            stream.publish(files, &evs);
        }
        self.latest = self.latest_time().max(t + 3.0);
        Some(id)
    }
}

/// The hidden update time the listing is ordered by: `last_active_at`,
/// else `created_at`.
pub fn update_time(conv: &Value) -> f64 {
    conv["last_active_at"]
        .as_f64()
        .or_else(|| conv["created_at"].as_f64())
        .unwrap_or(0.0)
}
