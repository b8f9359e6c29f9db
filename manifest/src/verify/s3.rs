//! `manifest verify s3://bucket/prefix`: the manifests are read from the
//! prefix (decrypted with `--identity` when ship encrypted them), every
//! listed object is sent a HeadObject, and `evidence` decides from the
//! stored checksum and ship's metadata whether that is enough or the object
//! must be downloaded. Archived objects (GLACIER, DEEP_ARCHIVE, not
//! restored) are never downloaded.
//!
//! Without `--identity`, an archive shipped with `ship --encrypt-to`
//! (every key ends in `.age`) cannot say which files it holds: each `.age`
//! object's ciphertext is checked against ship's record and S3's checksum
//! instead (`ciphertext_ok`).
//!
//! The client, the retry policy and the exit codes are archive-s3's: no
//! credentials, a missing bucket or access denied is exit 2 with one
//! message saying what to do (`archive_s3::preflight`), S3 failing after
//! its retries exit 4.

mod crypt;
mod digests;
mod evidence;
mod remote;

use crate::model::VerifyConfig;
use crate::tree;
use crate::verify::compare::{self, expected_from, finding, pair_renames, sum_manifest_names};
use crate::verify::s3::crypt::Keys;
use crate::verify::s3::evidence::{Expect, Plan, Verdict, Want};
use crate::verify::s3::remote::{Listed, Remote};
use anyhow::{Context, Result};
use archive_core::retry::Backoff;
use archive_core::s3url::S3Url;
use archive_core::Failure;
use archive_s3::{build_client, ClientOptions, RetryPolicy};
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The suffix ship gives every object it encrypts.
const AGE: &str = ".age";

pub fn verify(url: &S3Url, cfg: &VerifyConfig) -> Result<Vec<Value>> {
    let keys = cfg.identity.as_deref().map(Keys::load).transpose()?;
    let rt = archive_s3::client::runtime()?;
    rt.block_on(async {
        let opts = ClientOptions {
            endpoint: cfg.endpoint_url.clone(),
            region: cfg.region.clone(),
            ..ClientOptions::default()
        };
        let s3 = build_client(&opts).await?;
        let v = Verifier {
            remote: Remote {
                place: archive_s3::preflight::Place::new(&url.bucket, &opts, &s3),
                s3,
                url: url.clone(),
                policy: RetryPolicy::new("manifest verify", Backoff::default()),
            },
            keys,
            download: cfg.download,
            jobs: cfg.jobs,
            public_key: cfg.public_key.clone(),
        };
        v.run().await
    })
}

struct Verifier {
    remote: Remote,
    keys: Option<Keys>,
    download: bool,
    jobs: usize,
    public_key: Option<PathBuf>,
}

/// One object to check: the path findings name it by (the manifest's), the
/// object's key relative to the prefix, and what it must be.
struct Check {
    path: String,
    rel: String,
    expect: Expect,
}

/// The manifests at the top of the prefix.
struct Manifests {
    /// Contents by name, decrypted ones under their name without `.age`.
    fetched: BTreeMap<String, Vec<u8>>,
    /// Encrypted sha256sum manifests that could not be read (no key).
    sealed: Vec<String>,
    /// Names (without `.age`) of the manifests that were decrypted.
    decrypted: BTreeSet<String>,
}

impl Verifier {
    async fn run(&self) -> Result<Vec<Value>> {
        let listing = self.remote.list().await?;
        let m = self.manifests(&listing).await?;
        let sum_names = sum_manifest_names(m.fetched.keys().map(String::as_str));
        let url = &self.remote.url;
        if sum_names.is_empty() && m.sealed.is_empty() {
            return Err(Failure::data(format!(
                "{url}: no manifest-sha256.txt (or manifest-sha256.txt.age) to verify against"
            )));
        }
        if !m.sealed.is_empty() {
            if self.public_key.is_some() {
                return Err(Failure::usage(format!(
                    "{url}: {} is encrypted: --public-key needs --identity to read it",
                    m.sealed.join(", ")
                )));
            }
            eprintln!(
                "manifest: verify: {url}: {} is encrypted; without --identity only each .age object's ciphertext is checked (ciphertext_ok), not the files' contents",
                m.sealed.join(", ")
            );
        }
        let location = |p: &str| self.location(p, &in_listing(&listing, p));
        let exp = expected_from(
            &sum_names,
            |name| Ok(m.fetched.get(name).cloned()),
            self.public_key.as_deref(),
            &location,
        )?;
        // A listed file no object holds is named by the key ship would
        // have given it: `.age` when its manifest was encrypted.
        let sealed_paths: BTreeSet<&str> = exp
            .files
            .iter()
            .filter(|(_, (_, _, sum))| m.decrypted.contains(sum))
            .map(|(p, _)| p.as_str())
            .collect();
        let location = |p: &str| match sealed_paths.contains(p) && !listing.contains_key(p) {
            true => self.location(p, &format!("{p}{AGE}")),
            false => location(p),
        };
        let mut findings = exp.findings;
        let (checks, mut missing) = self.checks(&listing, &exp.files, !m.sealed.is_empty());
        let results: Vec<(Check, Result<Verdict>)> = futures::stream::iter(checks)
            .map(|c| {
                let listed = &listing[&c.rel];
                async move {
                    let v = self.check(&c, listed).await;
                    (c, v)
                }
            })
            .buffer_unordered(self.jobs)
            .collect()
            .await;
        let mut extra = Vec::new();
        for (c, v) in results {
            let v = v?;
            match c.expect.want {
                Want::Extra => extra.push((c.rel, v.actual)),
                _ => findings.push(finding(
                    v.status,
                    self.location(&c.path, &c.rel),
                    Value::Object(v.details),
                )),
            }
        }
        extra.sort();
        findings.extend(pair_renames(&mut missing, &mut extra, &location));
        for (rel, sha) in missing {
            let details = json!({"expected_sha256": sha});
            findings.push(finding("missing", location(&rel), details));
        }
        for (rel, sha) in extra {
            let details = json!({"actual_sha256": sha, "bytes": listing[&rel].size});
            findings.push(finding("extra", self.location(&rel, &rel), details));
        }
        compare::sort(&mut findings);
        Ok(findings)
    }

    /// Where a finding is: `path` as the manifest names it, `rel` the
    /// object's key relative to the prefix.
    fn location(&self, path: &str, rel: &str) -> Value {
        let url = &self.remote.url;
        let key = url.key(rel);
        json!({"url": url.object_url(&key), "key": key, "path": path})
    }

    /// The manifests, signatures and companions at the top of the prefix,
    /// encrypted ones decrypted with `--identity`.
    async fn manifests(&self, listing: &BTreeMap<String, Listed>) -> Result<Manifests> {
        let mut m = Manifests {
            fetched: BTreeMap::new(),
            sealed: Vec::new(),
            decrypted: BTreeSet::new(),
        };
        let top: Vec<&String> = listing.keys().filter(|k| !k.contains('/')).collect();
        for name in top.iter().filter(|k| tree::is_manifest_name(k)) {
            let body = self.remote.get_bytes(&self.remote.url.key(name)).await?;
            m.fetched.insert(name.to_string(), body);
        }
        for name in &top {
            let Some(stem) = name.strip_suffix(AGE) else {
                continue;
            };
            if !tree::is_manifest_name(stem) || m.fetched.contains_key(stem) {
                continue;
            }
            let Some(keys) = &self.keys else {
                if !sum_manifest_names(std::iter::once(stem)).is_empty() {
                    m.sealed.push(name.to_string());
                }
                continue;
            };
            let raw = self.remote.get_bytes(&self.remote.url.key(name)).await?;
            let plain = keys
                .decrypt(&raw)
                .with_context(|| format!("decrypting {}", self.remote.url.key(name)))?;
            m.fetched.insert(stem.to_string(), plain);
            m.decrypted.insert(stem.to_string());
        }
        Ok(m)
    }

    /// The objects to check, and the listed files no object holds.
    fn checks(
        &self,
        listing: &BTreeMap<String, Listed>,
        files: &BTreeMap<String, (String, Option<u64>, String)>,
        sealed: bool,
    ) -> (Vec<Check>, Vec<(String, String)>) {
        let mut checks = Vec::new();
        let mut missing = Vec::new();
        let mut used = BTreeSet::new();
        for (path, (sha, bytes, _)) in files {
            let want = Want::Listed {
                sha256: sha.clone(),
                bytes: *bytes,
            };
            let age = format!("{path}{AGE}");
            let (rel, expect) = if listing.contains_key(path) {
                let expect = Expect {
                    want,
                    encrypted: false,
                };
                (path.clone(), expect)
            } else if listing.contains_key(&age) {
                let want = if self.keys.is_some() {
                    want
                } else {
                    Want::Ciphertext
                };
                let expect = Expect {
                    want,
                    encrypted: true,
                };
                (age, expect)
            } else {
                missing.push((path.clone(), sha.clone()));
                continue;
            };
            used.insert(rel.clone());
            let path = path.clone();
            checks.push(Check { path, rel, expect });
        }
        for rel in listing.keys().filter(|r| !used.contains(*r)) {
            let encrypted = rel.ends_with(AGE);
            let want = match (encrypted && sealed, is_tag(rel)) {
                (true, _) => Want::Ciphertext,
                (false, true) => continue,
                (false, false) => Want::Extra,
            };
            let expect = Expect {
                want,
                encrypted: encrypted && (sealed || self.keys.is_some()),
            };
            let (path, rel) = (rel.clone(), rel.clone());
            checks.push(Check { path, rel, expect });
        }
        (checks, missing)
    }

    /// HEAD one object and, when that is not enough, download it.
    async fn check(&self, c: &Check, listed: &Listed) -> Result<Verdict> {
        let key = self.remote.url.key(&c.rel);
        let head = self.remote.head(&key, listed).await?;
        match evidence::plan(&c.expect, &head, self.download) {
            Plan::Done(v) => Ok(v),
            Plan::Download { decrypt } => {
                let composite =
                    c.expect.want == Want::Ciphertext && head.composite_parts().is_some();
                let part_size = match composite {
                    true => self.remote.part_size(&key).await?,
                    false => None,
                };
                let keys = self.keys.as_ref().filter(|_| decrypt);
                let got = self.remote.download(&key, part_size, keys).await?;
                Ok(evidence::judge(&c.expect, &head, &got))
            }
        }
    }
}

/// The object that holds `path`: itself, or its `.age` ciphertext.
fn in_listing(listing: &BTreeMap<String, Listed>, path: &str) -> String {
    let age = format!("{path}{AGE}");
    if !listing.contains_key(path) && listing.contains_key(&age) {
        age
    } else {
        path.to_string()
    }
}

/// Manifests, signatures and BagIt tag files at the top of the prefix,
/// encrypted or not.
fn is_tag(rel: &str) -> bool {
    let name = rel.strip_suffix(AGE).unwrap_or(rel);
    !rel.contains('/') && (tree::is_manifest_name(name) || tree::is_bag_tag_name(name))
}
