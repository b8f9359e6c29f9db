//! The seed layout's daily summary,
//! `_daily_summaries/YYYY/MM/DD/summary.json`. Groups arrive day by day, so
//! one day's statistics are held at a time. Users not in this run keep the
//! statistics the existing summary has for them; users in it get those of
//! their merged file. The backup_timestamp is kept when nothing changed.

use crate::dirs::DirMemo;
use crate::existing;
use crate::model::{Compression, Config};
use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct UserStat {
    #[serde(default)]
    pub conversation_count: u64,
    #[serde(default)]
    pub total_messages: u64,
}

#[derive(Deserialize)]
struct Stored<'a> {
    #[serde(default)]
    user_statistics: BTreeMap<String, UserStat>,
    #[serde(borrow, default)]
    backup_timestamp: Option<&'a RawValue>,
}

/// Statistics of this run's groups for one day.
pub struct Day {
    pub date: String,
    pub users: BTreeMap<String, UserStat>,
}

/// A rendered summary file.
pub struct SummaryOut {
    pub rel: String,
    /// New bytes, or None when the file on disk is already identical.
    pub write: Option<Vec<u8>>,
    pub bytes: u64,
    pub sha256: String,
    pub total_conversations: u64,
}

/// The summary's path, with `.gz`/`.zst` under `--compression`.
pub fn rel_path(date: &str, c: Option<Compression>) -> String {
    let (y, rest) = date.split_at(4);
    let (m, d) = (&rest[1..3], &rest[4..6]);
    let ext = c.map_or("", Compression::extension);
    format!("_daily_summaries/{y}/{m}/{d}/summary.json{ext}")
}

fn render(date: &str, users: &BTreeMap<String, UserStat>, ts: &str) -> Vec<u8> {
    let total: u64 = users.values().map(|u| u.conversation_count).sum();
    let mut s = format!(
        "{{\"date\":{},\"total_users\":{},\"total_conversations\":{total},\"user_statistics\":{{",
        serde_json::to_string(date).unwrap(),
        users.len()
    );
    for (i, (u, st)) in users.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        write!(
            s,
            "{}:{{\"conversation_count\":{},\"total_messages\":{}}}",
            serde_json::to_string(u).unwrap(),
            st.conversation_count,
            st.total_messages
        )
        .unwrap();
    }
    writeln!(s, "}},\"backup_timestamp\":{ts}}}").unwrap();
    s.into_bytes()
}

/// Merge the day's statistics into its summary file.
pub fn finish_day(dirs: &DirMemo, cfg: &Config, day: Day, now_json: &str) -> Result<SummaryOut> {
    let rel = rel_path(&day.date, cfg.compress);
    let old = existing::load(dirs, &cfg.out, &rel)?;
    let mut users = BTreeMap::new();
    let mut old_ts = None;
    if let Some(f) = &old {
        let stored: Stored<'_> = serde_json::from_slice(&f.content)
            .with_context(|| format!("{}: not a daily summary", f.path.display()))?;
        users = stored.user_statistics;
        old_ts = stored.backup_timestamp.map(|t| t.get().to_owned());
    }
    users.extend(day.users);
    let total_conversations = users.values().map(|u| u.conversation_count).sum();
    if let (Some(f), Some(ts)) = (&old, &old_ts) {
        if render(&day.date, &users, ts) == f.content {
            return Ok(SummaryOut {
                rel,
                write: None,
                bytes: f.disk.len() as u64,
                sha256: archive_core::hash::sha256_hex(&f.disk),
                total_conversations,
            });
        }
    }
    let bytes = crate::render::compress(cfg.compress, render(&day.date, &users, now_json))?;
    Ok(SummaryOut {
        rel,
        bytes: bytes.len() as u64,
        sha256: archive_core::hash::sha256_hex(&bytes),
        write: Some(bytes),
        total_conversations,
    })
}
