//! Files users uploaded to conversations, as
//! `GET /compliance/workspaces/{ws}/users/{user_id}/files/{file_id}` serves
//! them: registered from the messages that reference them, with content
//! made on demand from the seed and the file id (so it costs no memory),
//! and a state that follows the mock's clock: older than the upload
//! retention (48 h upstream) answers 410.

use crate::rng::{hash_str, Rng};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One uploaded file.
pub struct UserFile {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// Upload time, Unix seconds.
    pub created_at: f64,
    /// The message listed it with `created_at: null`: gone for good (404).
    pub deleted: bool,
    pub bytes: u64,
    pub conversation_id: String,
    pub message_id: String,
}

/// What the download endpoint answers for a file right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    Available,
    /// Older than the upload retention: 410.
    Expired,
    /// Removed: 404.
    Deleted,
}

impl FileState {
    pub fn name(self) -> &'static str {
        match self {
            FileState::Available => "available",
            FileState::Expired => "expired",
            FileState::Deleted => "deleted",
        }
    }
}

impl UserFile {
    pub fn state(&self, now: f64, retention_s: f64) -> FileState {
        if self.deleted {
            FileState::Deleted
        } else if now - self.created_at > retention_s {
            FileState::Expired
        } else {
            FileState::Available
        }
    }

    /// The file's bytes: text lines drawn from a PRNG seeded by the mock's
    /// seed and the file id, cut to exactly `bytes`.
    pub fn content(&self, seed: u64) -> Vec<u8> {
        let mut rng = Rng::new(seed ^ hash_str(&self.id));
        let mut out = Vec::with_capacity(self.bytes as usize + 80);
        let mut k = 0u64;
        while (out.len() as u64) < self.bytes {
            out.extend_from_slice(
                format!("{} {} part {k}: {}\n", self.name, self.id, rng.alnum(48)).as_bytes(),
            );
            k += 1;
        }
        out.truncate(self.bytes as usize);
        out
    }

    /// The line `/_mock/truth/files` gives, with the SHA-256 of the content.
    pub fn truth(&self, seed: u64, now: f64, retention_s: f64) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "created_at": crate::gen::iso(self.created_at),
            "bytes": self.bytes,
            "sha256": archive_core::hash::sha256_hex(&self.content(seed)),
            "state": self.state(now, retention_s).name(),
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
        })
    }
}

/// Register the files a conversation's messages reference (the first
/// registration of an id wins: a file does not change).
pub fn register(conv: &Value, files: &mut BTreeMap<String, UserFile>) {
    let user_id = conv["user_id"].as_str().unwrap_or_default();
    let conv_id = conv["id"].as_str().unwrap_or_default();
    let conv_t = conv["created_at"].as_f64().unwrap_or_default();
    let Some(messages) = conv["messages"]["data"].as_array() else {
        return;
    };
    for m in messages {
        let Some(list) = m["files"]["data"].as_array() else {
            continue;
        };
        let msg_t = m["created_at"].as_f64().unwrap_or(conv_t);
        for f in list {
            let Some(id) = f["id"].as_str() else {
                continue;
            };
            if files.contains_key(id) {
                continue;
            }
            // Between 200 bytes and about 48 KiB, fixed by the id.
            let bytes = 200 + hash_str(id) % (48 * 1024);
            files.insert(
                id.to_string(),
                UserFile {
                    id: id.to_string(),
                    user_id: user_id.to_string(),
                    name: f["name"].as_str().unwrap_or("file").to_string(),
                    created_at: f["created_at"].as_f64().unwrap_or(msg_t),
                    deleted: f["created_at"].is_null(),
                    bytes,
                    conversation_id: conv_id.to_string(),
                    message_id: m["id"].as_str().unwrap_or_default().to_string(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_deterministic_and_exactly_sized() {
        let f = UserFile {
            id: "file-abc".into(),
            user_id: "user-1".into(),
            name: "report.pdf".into(),
            created_at: 1_000.0,
            deleted: false,
            bytes: 1234,
            conversation_id: "c".into(),
            message_id: "m".into(),
        };
        assert_eq!(f.content(7).len(), 1234);
        assert_eq!(f.content(7), f.content(7));
        assert_ne!(f.content(7), f.content(8));
        assert_eq!(
            f.state(1_000.0 + 3600.0, 48.0 * 3600.0),
            FileState::Available
        );
        assert_eq!(
            f.state(1_000.0 + 49.0 * 3600.0, 48.0 * 3600.0),
            FileState::Expired
        );
    }
}
