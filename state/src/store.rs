//! One interface over the two kinds of state location: an S3 prefix
//! (conditional requests: If-None-Match to create, If-Match to replace) and
//! a local directory (a lock file held while comparing and renaming).

use crate::local::LocalStore;
use crate::model::{Tag, Written};
use crate::s3::S3Store;
use anyhow::Result;

/// A state location. `expect` of a write: None to create (the name must
/// not exist), Some(tag) to replace exactly that version.
pub enum Store {
    S3(S3Store),
    Local(LocalStore),
}

impl Store {
    /// Every name (relative, `/`-separated) under the location.
    pub async fn list(&self) -> Result<Vec<String>> {
        match self {
            Store::S3(s) => s.list().await,
            Store::Local(l) => l.list(),
        }
    }

    /// The bytes and version of a name, None when absent.
    pub async fn get(&self, name: &str) -> Result<Option<(Vec<u8>, Tag)>> {
        match self {
            Store::S3(s) => s.get(name).await,
            Store::Local(l) => l.get(name),
        }
    }

    pub async fn put(&self, name: &str, bytes: &[u8], expect: Option<&Tag>) -> Result<Written> {
        match self {
            Store::S3(s) => s.put(name, bytes, expect).await,
            Store::Local(l) => l.put(name, bytes, expect),
        }
    }

    pub async fn delete(&self, name: &str, expect: &Tag) -> Result<Written> {
        match self {
            Store::S3(s) => s.delete(name, expect).await,
            Store::Local(l) => l.delete(name, expect),
        }
    }

    /// For messages: `s3://bucket/key` or the local path.
    pub fn describe(&self, name: &str) -> String {
        match self {
            Store::S3(s) => s.describe(name),
            Store::Local(l) => l.describe(name),
        }
    }
}
