//! The operations: take and give back the lease, mirror state into a
//! directory and push it back conditionally, and store single records.

use crate::model::{Lease, Tag, Written, LEASE, SEEN};
use crate::store::Store;
use anyhow::{Context, Result};
use archive_core::Failure;
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

fn new_lease(owner: &str, ttl: Duration, pid: u32) -> Lease {
    let now = Utc::now();
    Lease {
        owner: owner.to_string(),
        acquired: rfc3339(now),
        expires: rfc3339(
            now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(6)),
        ),
        host: hostname(),
        pid,
    }
}

fn held(store: &Store, l: &Lease) -> anyhow::Error {
    Failure::held(format!(
        "{} is held by run {} (host {}, pid {}) until {}: another run is at work; nothing was done",
        store.describe(LEASE),
        l.owner,
        l.host,
        l.pid,
        l.expires
    ))
}

/// A lease whose holder is gone for sure: it expired, or it was taken on
/// this very host by a process that no longer exists (a run killed with
/// SIGKILL need not block the next one for the whole TTL). On another
/// host, only the expiry can tell.
fn abandoned(l: &Lease) -> Option<String> {
    if l.expired(Utc::now()) {
        Some(format!("expired {}", l.expires))
    } else if !l.host.is_empty()
        && l.host == hostname()
        && l.pid != 0
        && !archive_core::atomic::process_alive(l.pid)
    {
        Some(format!("its process {} on this host is gone", l.pid))
    } else {
        None
    }
}

/// Take the lease (or renew it, when `owner` holds it already). An
/// abandoned lease is taken over. Another run's live lease is exit 75.
pub async fn lease(store: &Store, owner: &str, ttl: Duration, pid: u32) -> Result<Value> {
    let mine = new_lease(owner, ttl, pid);
    let body = serde_json::to_vec(&mine)?;
    for _ in 0..3 {
        let (status, written) = match store.get(LEASE).await? {
            None => ("acquired", store.put(LEASE, &body, None).await?),
            Some((bytes, tag)) => match serde_json::from_slice::<Lease>(&bytes) {
                Ok(l) if l.owner == owner => {
                    ("renewed", store.put(LEASE, &body, Some(&tag)).await?)
                }
                Ok(l) => match abandoned(&l) {
                    None => return Err(held(store, &l)),
                    Some(why) => {
                        eprintln!(
                            "archive-state: taking over the lease of run {} ({why})",
                            l.owner
                        );
                        ("taken_over", store.put(LEASE, &body, Some(&tag)).await?)
                    }
                },
                Err(e) => {
                    eprintln!(
                        "archive-state: {} is not a lease ({e}); taking it over",
                        store.describe(LEASE)
                    );
                    ("taken_over", store.put(LEASE, &body, Some(&tag)).await?)
                }
            },
        };
        if let Written::Done(tag) = written {
            return Ok(
                json!({"status": status, "lease": mine, "tag": tag, "url": store.describe(LEASE)}),
            );
        }
        // Someone wrote the lease between our read and write: look again.
    }
    Err(Failure::held(format!(
        "{}: another run took the lease while this one was taking it",
        store.describe(LEASE)
    )))
}

/// The lease must be `owner`'s and live: renew it (so a slow run keeps it)
/// or fail with exit 75 before anything is committed.
pub async fn ensure_lease(store: &Store, owner: &str, ttl: Duration) -> Result<()> {
    match store.get(LEASE).await? {
        Some((bytes, _)) => match serde_json::from_slice::<Lease>(&bytes) {
            Ok(l) if l.owner == owner => lease(store, owner, ttl, l.pid).await.map(|_| ()),
            Ok(l) => Err(held(store, &l)),
            Err(_) => Err(Failure::held(format!(
                "{} is not this run's lease",
                store.describe(LEASE)
            ))),
        },
        None => Err(Failure::held(format!(
            "{} is gone: this run ({owner}) lost its lease; nothing was committed",
            store.describe(LEASE)
        ))),
    }
}

/// Give the lease back. Not held at all is fine; held by another run is 75.
pub async fn release(store: &Store, owner: &str) -> Result<Value> {
    let Some((bytes, tag)) = store.get(LEASE).await? else {
        return Ok(json!({"status": "not_held", "url": store.describe(LEASE)}));
    };
    match serde_json::from_slice::<Lease>(&bytes) {
        Ok(l) if l.owner == owner => match store.delete(LEASE, &tag).await? {
            Written::Done(_) => Ok(json!({"status": "released", "url": store.describe(LEASE)})),
            Written::Conflict => Err(Failure::held(format!(
                "{}: changed while being released",
                store.describe(LEASE)
            ))),
        },
        Ok(l) => Err(held(store, &l)),
        Err(_) => Err(Failure::held(format!(
            "{} is not this run's lease",
            store.describe(LEASE)
        ))),
    }
}

/// What `pull` saw of each name: its version and the SHA-256 of its bytes.
type Seen = BTreeMap<String, (Tag, String)>;

fn read_seen(dir: &Path) -> Result<Seen> {
    match std::fs::read(dir.join(SEEN)) {
        Ok(b) => serde_json::from_slice(&b)
            .with_context(|| format!("reading {}", dir.join(SEEN).display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Seen::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.join(SEEN).display())),
    }
}

fn write_seen(dir: &Path, seen: &Seen) -> Result<()> {
    archive_core::atomic::write_file(dir.join(SEEN), &serde_json::to_vec_pretty(seen)?)
}

/// Everything but the lease is state to mirror.
fn is_state(name: &str) -> bool {
    name != LEASE
}

/// Mirror the state (every name, the lease excepted) into
/// `dir`: files the store has are written, local files it lacks removed.
pub async fn pull(
    store: &Store,
    dir: &Path,
    out: &mut dyn FnMut(Value) -> Result<()>,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // What a killed pull left half-written (temporaries of dead pids).
    archive_core::atomic::sweep_stale_temps(dir)?;
    let mut seen = Seen::new();
    for name in store.list().await?.into_iter().filter(|n| is_state(n)) {
        let Some((bytes, tag)) = store.get(&name).await? else {
            continue;
        };
        let path = archive_core::naming::join_under(dir, &name)?;
        archive_core::atomic::write_file(&path, &bytes)?;
        seen.insert(
            name.clone(),
            (tag.clone(), archive_core::hash::sha256_hex(&bytes)),
        );
        out(json!({"name": name, "status": "pulled", "tag": tag, "bytes": bytes.len()}))?;
    }
    for name in local_names(dir)?
        .into_iter()
        .filter(|n| is_state(n) && !seen.contains_key(n))
    {
        std::fs::remove_file(dir.join(&name))
            .with_context(|| format!("removing {}", dir.join(&name).display()))?;
        out(json!({"name": name, "status": "removed"}))?;
    }
    write_seen(dir, &seen)
}

/// Regular files under `dir` (dot-files excepted), relative names.
fn local_names(dir: &Path) -> Result<Vec<String>> {
    crate::local::LocalStore::new(dir.to_path_buf()).list()
}

/// Push what changed in `dir` since `pull`: new names created
/// (If-None-Match), changed ones replaced only if still the version pulled
/// (If-Match), removed ones deleted likewise. The lease (in `lease`, which
/// may sit above the pushed prefix) is checked and renewed first. A
/// conflict stops the push with exit 75.
pub async fn push(
    store: &Store,
    lease: &Store,
    dir: &Path,
    owner: &str,
    ttl: Duration,
    out: &mut dyn FnMut(Value) -> Result<()>,
) -> Result<()> {
    ensure_lease(lease, owner, ttl).await?;
    let mut seen = read_seen(dir)?;
    let local = local_names(dir)?;
    for name in local.iter().filter(|n| is_state(n)) {
        let bytes = std::fs::read(dir.join(name))
            .with_context(|| format!("reading {}", dir.join(name).display()))?;
        let sha = archive_core::hash::sha256_hex(&bytes);
        let before = seen.get(name).cloned();
        if before.as_ref().is_some_and(|(_, s)| *s == sha) {
            continue;
        }
        match store
            .put(name, &bytes, before.as_ref().map(|(t, _)| t))
            .await?
        {
            Written::Done(tag) => {
                seen.insert(name.clone(), (tag.clone(), sha));
                write_seen(dir, &seen)?;
                out(json!({"name": name, "status": "pushed", "tag": tag}))?;
            }
            Written::Conflict => return Err(conflict(store, name)),
        }
    }
    let gone: Vec<String> = seen
        .keys()
        .filter(|n| is_state(n) && !local.contains(n))
        .cloned()
        .collect();
    for name in gone {
        let (tag, _) = seen[&name].clone();
        match store.delete(&name, &tag).await? {
            Written::Done(_) => {
                seen.remove(&name);
                write_seen(dir, &seen)?;
                out(json!({"name": name, "status": "deleted"}))?;
            }
            Written::Conflict => return Err(conflict(store, &name)),
        }
    }
    Ok(())
}

fn conflict(store: &Store, name: &str) -> anyhow::Error {
    Failure::held(format!(
        "{} changed since this run read it: another run committed first; this run pushes nothing more",
        store.describe(name)
    ))
}

/// Store one record (a run summary) whatever version is there.
pub async fn put(store: &Store, name: &str, bytes: &[u8]) -> Result<Value> {
    for _ in 0..5 {
        let current = store.get(name).await?.map(|(_, t)| t);
        if let Written::Done(tag) = store.put(name, bytes, current.as_ref()).await? {
            return Ok(
                json!({"name": name, "status": "stored", "tag": tag, "url": store.describe(name)}),
            );
        }
    }
    Err(Failure::held(format!(
        "{}: changed five times while being written",
        store.describe(name)
    )))
}

/// Create, read back and delete a probe record with the requests a run
/// makes (If-None-Match, GET, DELETE If-Match), so that a missing bucket, a
/// denied permission or missing credentials stop a job before it fetches.
/// With `read_only`, only a GET of the absent probe (what a dry run may do).
pub async fn check(store: &Store, read_only: bool) -> Result<Value> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = format!("_probe/{}-{}.json", host.trim(), std::process::id());
    if read_only {
        store.get(&name).await?;
        return Ok(json!({"url": store.describe(""), "status": "ok", "checked": ["read"]}));
    }
    let bytes = json!({"probe": true, "at": chrono::Utc::now().to_rfc3339()}).to_string();
    let tag = match store.put(&name, bytes.as_bytes(), None).await? {
        Written::Done(tag) => tag,
        Written::Conflict => {
            return Err(Failure::usage(format!(
                "{}: a probe record already exists (another check at this moment?); try again",
                store.describe(&name)
            )))
        }
    };
    let read = store.get(&name).await?;
    if read.as_ref().map(|(b, _)| &b[..]) != Some(bytes.as_bytes()) {
        return Err(Failure::remote(format!(
            "{}: the probe record did not read back as written",
            store.describe(&name)
        )));
    }
    store.delete(&name, &tag).await?;
    Ok(json!({"url": store.describe(""), "status": "ok", "checked": ["create", "read", "delete"]}))
}
