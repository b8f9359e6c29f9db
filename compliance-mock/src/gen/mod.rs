//! Deterministic generation of a workspace's data from a seed: users,
//! conversations, GPTs, projects, memories, Logs Platform events and OpenAI
//! audit-log entries, in the shapes the published API specs give (see the
//! README).

mod base;
mod conversations;
mod events;
mod resources;
pub mod text;

use crate::rng::Rng;
use serde_json::Value;
use std::collections::BTreeMap;

pub use base::{person_of, Generator, Person};
pub use events::{iso, ORG_ONLY_TYPES};

/// Everything the mock serves, as plain API objects.
#[derive(Default)]
pub struct Dataset {
    pub users: Vec<Value>,
    pub conversations: Vec<Value>,
    pub gpts: Vec<Value>,
    pub projects: Vec<Value>,
    pub memories: Vec<Value>,
    pub audit_logs: Vec<Value>,
    /// Logs Platform events by event type.
    pub log_events: BTreeMap<String, Vec<Value>>,
}

/// What to generate.
pub struct GenOptions {
    pub seed: u64,
    pub users: usize,
    pub days: u32,
    /// Unix seconds of the first UTC day.
    pub start: i64,
    pub conversations_per_user_day: f64,
    /// Adds one conversation of about this many MB (0: none).
    pub huge_conversation_mb: usize,
    /// Chance that a user message carries an uploaded file.
    pub attachment_chance: f64,
}

/// The generators, as methods of the [`Generator`] that `/_mock/advance`
/// keeps.
impl Generator {
    pub fn conversation(&self, rng: &mut Rng, created: f64) -> Value {
        conversations::conversation(self, rng, created)
    }

    /// Add one or two turns at time `t` to an existing conversation.
    pub fn continue_conversation(&self, rng: &mut Rng, conv: &mut Value, t: f64) -> Vec<Value> {
        conversations::continue_conversation(rng, conv, t, self.attachment_chance)
    }

    pub fn huge_conversation(&self, rng: &mut Rng, created: f64, mb: usize) -> String {
        conversations::huge_conversation(self, rng, created, mb)
    }

    pub fn message_events(&self, rng: &mut Rng, conv: &Value, messages: &[Value]) -> Vec<Value> {
        events::conversation_message_events(self, rng, conv, messages)
    }

    pub fn auth_event(&self, rng: &mut Rng, who: &Person, t: f64) -> Value {
        events::auth_event(self, rng, who, t)
    }

    pub fn workspace_audit_event(&self, rng: &mut Rng, t: f64) -> Value {
        events::workspace_audit_event(self, rng, t)
    }

    pub fn audit_log_entry(&self, rng: &mut Rng, t: i64) -> Value {
        events::audit_log_entry(self, rng, t)
    }
}

/// Generate a whole workspace. The huge conversation, if any, is returned
/// separately as serialised JSON: it is too big to hold twice.
pub fn generate(workspace_id: &str, o: &GenOptions) -> (Dataset, Generator, Option<String>) {
    let root = Rng::new(o.seed);
    let mut ds = Dataset::default();
    let mut rng = root.fork(1);
    ds.users = resources::users(&mut rng, o.users.max(1), o.start);
    let people: Vec<Person> = ds.users.iter().map(person_of).collect();
    let mut g = Generator::new(workspace_id, people);
    g.attachment_chance = o.attachment_chance;

    let mut rng = root.fork(2);
    let day = 86_400.0;
    let mean_per_day = o.users.max(1) as f64 * o.conversations_per_user_day;
    for d in 0..o.days {
        let n = (mean_per_day * rng.range_f64(0.6, 1.4)).round().max(1.0) as usize;
        for _ in 0..n {
            // Mostly business hours, UTC.
            let secs = if rng.chance(0.8) {
                rng.range_f64(7.0, 19.0) * 3600.0
            } else {
                rng.range_f64(0.0, day)
            };
            let created = o.start as f64 + d as f64 * day + secs;
            ds.conversations.push(g.conversation(&mut rng, created));
        }
    }

    let mut rng = root.fork(3);
    ds.gpts = resources::gpts(&g, &mut rng, o.start);
    ds.projects = resources::projects(&g, &mut rng, o.start);
    ds.memories = resources::memories(&g, &mut rng, o.start, o.days);

    let mut rng = root.fork(4);
    let end = o.start + o.days as i64 * 86_400;
    ds.log_events = events::log_events(&g, &mut rng, &ds.conversations, o.start, end);
    ds.audit_logs = events::audit_log_entries(&g, &mut rng, o.start, end);
    // A fork of its own, so the older types' data stays what it was.
    let mut rng = root.fork(6);
    for (ty, evs) in events::other_log_events(&g, &mut rng, o.start, end) {
        ds.log_events.entry(ty).or_default().extend(evs);
    }

    let huge = (o.huge_conversation_mb > 0).then(|| {
        let mut rng = root.fork(5);
        let created = o.start as f64 + (o.days.max(1) - 1) as f64 * day + 12.0 * 3600.0;
        g.huge_conversation(&mut rng, created, o.huge_conversation_mb)
    });
    (ds, g, huge)
}
