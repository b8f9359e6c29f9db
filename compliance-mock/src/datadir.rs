//! `--data DIR`: serve NDJSON files instead of generated data.
//! conversations.ndjson, users.ndjson, gpts.ndjson, projects.ndjson,
//! memories.ndjson, audit_logs.ndjson and logs/<EVENT_TYPE>.ndjson; every
//! file is optional, a missing one is an empty stream.

use crate::gen::{person_of, Dataset, Generator, Person};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;

fn read_ndjson(path: &Path) -> Result<Vec<Value>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{} line {}: not a JSON object", path.display(), i + 1))
        })
        .collect()
}

pub fn load(dir: &Path, workspace_id: &str) -> Result<(Dataset, Generator)> {
    if !dir.is_dir() {
        bail!("--data {}: not a directory", dir.display());
    }
    let mut ds = Dataset {
        users: read_ndjson(&dir.join("users.ndjson"))?,
        conversations: read_ndjson(&dir.join("conversations.ndjson"))?,
        gpts: read_ndjson(&dir.join("gpts.ndjson"))?,
        projects: read_ndjson(&dir.join("projects.ndjson"))?,
        memories: read_ndjson(&dir.join("memories.ndjson"))?,
        audit_logs: read_ndjson(&dir.join("audit_logs.ndjson"))?,
        ..Dataset::default()
    };
    for (name, items, key) in [
        ("conversations.ndjson", &ds.conversations, "id"),
        ("users.ndjson", &ds.users, "id"),
        ("audit_logs.ndjson", &ds.audit_logs, "id"),
    ] {
        if let Some(i) = items.iter().position(|v| !v[key].is_string()) {
            bail!(
                "{}/{name} line {}: no \"{key}\" string",
                dir.display(),
                i + 1
            );
        }
    }
    let logs = dir.join("logs");
    if logs.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(&logs)?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            let Some(ty) = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".ndjson"))
            else {
                continue;
            };
            ds.log_events.insert(ty.to_string(), read_ndjson(&p)?);
        }
    }
    // `/_mock/advance` draws users from users.ndjson, else from the
    // conversations' owners.
    let mut people: Vec<Person> = ds.users.iter().map(person_of).collect();
    if people.is_empty() {
        people = ds
            .conversations
            .iter()
            .map(|c| Person {
                id: c["user_id"].as_str().unwrap_or_default().into(),
                email: c["user_email"].as_str().unwrap_or_default().into(),
            })
            .collect();
        people.sort_by(|a, b| a.id.cmp(&b.id));
        people.dedup_by(|a, b| a.id == b.id);
    }
    if people.is_empty() {
        people.push(Person {
            id: "user-mockDefaultUser000000000".into(),
            email: "someone@example-corp.com".into(),
        });
    }
    Ok((ds, Generator::new(workspace_id, people)))
}
