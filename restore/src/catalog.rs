//! What the archive promises: the manifests under a prefix, read (and
//! decrypted and signature-checked when keys are given), turned into the
//! list of files to fetch with the SHA-256 each must have.
//!
//! A `manifest-sha256.txt` at `prefix/sub/` lists paths relative to
//! `prefix/sub/`. With `--encrypt-to`, ship stores every object, manifests
//! included, under its key plus `.age`.

use crate::model::{is_manifest_name, Keys, Wanted, SUM_MANIFEST};
use crate::remote::{Listed, Remote};
use anyhow::{Context, Result};
use archive_core::lines::check_relative;
use archive_core::s3url::{join_key, S3Url};
use archive_core::Failure;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

/// Everything to fetch, in key order.
pub struct Catalog {
    /// Files and manifests, each once.
    pub wanted: Vec<Wanted>,
    /// Listed objects, by key (storage class and size from the listing).
    pub listed: BTreeMap<String, Listed>,
}

/// Read the manifests under `source` and list what they vouch for. With
/// `only`, just those relative paths (and the manifests that list them).
pub async fn load(
    remote: &Remote,
    source: &S3Url,
    keys: &Keys,
    only: Option<&BTreeSet<String>>,
    missing_ok: bool,
    root_manifest: bool,
) -> Result<Catalog> {
    // Signatures need the directory's objects listed: not on this path.
    if let (Some(only), true, None) = (only, root_manifest, &keys.public_key) {
        if let Some(cat) = load_from_root(remote, source, only, missing_ok).await? {
            return Ok(cat);
        }
    }
    let listed: BTreeMap<String, Listed> = remote
        .list(&source.list_prefix())
        .await
        .map_err(|e| e.into_error())?
        .into_iter()
        .map(|l| (l.key.clone(), l))
        .collect();
    let sums: Vec<String> = listed
        .keys()
        .filter(|k| {
            let name = k.rsplit('/').next().unwrap_or(k);
            name == SUM_MANIFEST || name == "manifest-sha256.txt.age"
        })
        .cloned()
        .collect();
    if sums.is_empty() && missing_ok {
        // A destination that holds nothing yet (the first run of a job).
        return Ok(Catalog {
            wanted: Vec::new(),
            listed,
        });
    }
    if sums.is_empty() {
        return Err(Failure::data(format!(
            "{source}: no {SUM_MANIFEST} (or {SUM_MANIFEST}.age) under this prefix: nothing says what the files must hash to"
        )));
    }
    let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
    for sum_key in &sums {
        let dir_key = sum_key.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let dir_rel = if dir_key == source.prefix {
            String::new()
        } else {
            source.relative(dir_key).unwrap_or(dir_key).to_string()
        };
        for w in manifest_files(remote, &listed, sum_key, dir_key, &dir_rel, keys).await? {
            wanted.entry(w.key.clone()).or_insert(w);
        }
    }
    let mut wanted: Vec<Wanted> = wanted.into_values().collect();
    if let Some(only) = only {
        let mut found = BTreeSet::new();
        wanted.retain(|w| {
            let plain = w.rel.strip_suffix(".age").unwrap_or(&w.rel);
            let keep = only.contains(&w.rel) || only.contains(plain);
            if keep {
                found.insert(plain.to_string());
            }
            keep || w.manifest.is_none()
        });
        // Paths no manifest lists: new files, when the caller says so.
        let unlisted = only.iter().filter(|p| !found.contains(*p) && !missing_ok);
        for missing in unlisted {
            wanted.push(Wanted {
                rel: missing.clone(),
                key: source.key(missing),
                sha256: None,
                manifest: Some("(not in any manifest)".into()),
                encrypted: false,
            });
        }
    }
    Ok(Catalog { wanted, listed })
}

/// `--manifest-at-root`: the manifest at the prefix's root lists every file
/// (as the daily backup writes its areas), so the requested files and the
/// manifests are found without listing the prefix: requests grow with the
/// files asked for, not with the archive. None when there is no plain
/// root manifest (then the prefix is listed as usual).
async fn load_from_root(
    remote: &Remote,
    source: &S3Url,
    only: &BTreeSet<String>,
    missing_ok: bool,
) -> Result<Option<Catalog>> {
    let sum_key = source.key(SUM_MANIFEST);
    let Some(opened) = remote.open(&sum_key).await.map_err(|e| e.into_error())? else {
        return Ok(None);
    };
    let mut text = Vec::new();
    opened
        .drain(&sum_key, &mut |c| {
            text.extend_from_slice(c);
            Ok(())
        })
        .await
        .map_err(|e| e.into_error())?;
    let mut wanted = Vec::new();
    let mut found = BTreeSet::new();
    for (sha, path) in parse_sums(&text, &sum_key)? {
        if only.contains(&path) {
            found.insert(path.clone());
            wanted.push(Wanted {
                key: source.key(&path),
                rel: path,
                sha256: Some(sha),
                manifest: Some(sum_key.clone()),
                encrypted: false,
            });
        }
    }
    for name in [SUM_MANIFEST, crate::model::JSON_MANIFEST] {
        let key = source.key(name);
        if name == SUM_MANIFEST
            || remote
                .head(&key)
                .await
                .map_err(|e| e.into_error())?
                .is_some()
        {
            wanted.push(Wanted {
                rel: name.to_string(),
                key,
                sha256: None,
                manifest: None,
                encrypted: false,
            });
        }
    }
    if !missing_ok {
        for p in only.iter().filter(|p| !found.contains(*p)) {
            wanted.push(Wanted {
                rel: p.clone(),
                key: source.key(p),
                sha256: None,
                manifest: Some("(not in the root manifest)".into()),
                encrypted: false,
            });
        }
    }
    // What a GET finds missing is reported then; no listing was made.
    let listed = wanted
        .iter()
        .map(|w| (w.key.clone(), Listed { key: w.key.clone() }))
        .collect();
    Ok(Some(Catalog { wanted, listed }))
}

/// The paths named by `--files`: one per line, or file/object lines
/// (their `path`); `-` reads stdin.
pub fn read_only_list(source: &str) -> Result<BTreeSet<String>> {
    use std::io::BufRead;
    let reader: Box<dyn BufRead> = if source == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(source)
                .map_err(|e| Failure::usage(format!("--files {source}: {e}")))?,
        ))
    };
    let mut out = BTreeSet::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {source}"))?;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let path = if t.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(t)
                .map_err(|e| Failure::data(format!("{source}:{}: not JSON: {e}", i + 1)))?;
            v["path"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| Failure::data(format!("{source}:{}: no \"path\"", i + 1)))?
        } else {
            t.to_string()
        };
        check_relative(&path).map_err(|e| Failure::data(format!("{source}:{}: {e:#}", i + 1)))?;
        out.insert(path);
    }
    Ok(out)
}

/// The files one manifest lists, plus the manifest objects of its
/// directory themselves.
async fn manifest_files(
    remote: &Remote,
    listed: &BTreeMap<String, Listed>,
    sum_key: &str,
    dir_key: &str,
    dir_rel: &str,
    keys: &Keys,
) -> Result<Vec<Wanted>> {
    let encrypted = sum_key.ends_with(".age");
    let decrypt = encrypted && keys.identity.is_some();
    let mut out = Vec::new();
    // The manifests and signatures of this directory travel with the files.
    for key in listed.keys() {
        let (parent, name) = key.rsplit_once('/').unwrap_or(("", key));
        if parent != dir_key || !is_manifest_name(name) {
            continue;
        }
        let local = if decrypt {
            name.strip_suffix(".age").unwrap_or(name)
        } else {
            name
        };
        out.push(Wanted {
            rel: join_key(dir_rel, local),
            key: key.clone(),
            sha256: None,
            manifest: None,
            encrypted: decrypt && name.ends_with(".age"),
        });
    }
    if encrypted && !decrypt {
        // Without the identity the manifest cannot be read: every object of
        // the directory is fetched as ciphertext and checked against what
        // ship stored (x-amz-meta-sha256 and the S3 checksum).
        let prefix = if dir_key.is_empty() {
            String::new()
        } else {
            format!("{dir_key}/")
        };
        for key in listed
            .keys()
            .filter(|k| k.starts_with(&prefix) && k.ends_with(".age"))
        {
            let name = &key[prefix.len()..];
            if is_manifest_name(name.rsplit('/').next().unwrap_or(name)) && !name.contains('/') {
                continue;
            }
            out.push(Wanted {
                rel: join_key(dir_rel, name),
                key: key.clone(),
                sha256: None,
                manifest: Some(sum_key.to_string()),
                encrypted: false,
            });
        }
        return Ok(out);
    }
    let raw = remote
        .get_bytes(sum_key)
        .await
        .map_err(|e| e.into_error())?;
    let text = if encrypted {
        decrypt_bytes(
            &raw,
            keys.identity.as_deref().expect("decrypt implies identity"),
        )
        .with_context(|| format!("decrypting {sum_key}"))?
    } else {
        raw
    };
    if let Some(pk) = &keys.public_key {
        check_signature(remote, listed, sum_key, &text, pk, keys).await?;
    }
    for (sha, path) in parse_sums(&text, sum_key)? {
        let plain_key = join_key(dir_key, &path);
        let age_key = format!("{plain_key}.age");
        let (key, enc) = if listed.contains_key(&plain_key) || !listed.contains_key(&age_key) {
            (plain_key, false)
        } else {
            (age_key, true)
        };
        let keep_cipher = enc && keys.identity.is_none();
        out.push(Wanted {
            rel: join_key(
                dir_rel,
                &if keep_cipher {
                    format!("{path}.age")
                } else {
                    path.clone()
                },
            ),
            key,
            sha256: if keep_cipher { None } else { Some(sha) },
            manifest: Some(sum_key.to_string()),
            encrypted: enc && !keep_cipher,
        });
    }
    Ok(out)
}

/// `HEX  path` lines (GNU sha256sum, text or `*` binary mode, `\`-escaped
/// names), each path checked to stay below the manifest's directory.
pub fn parse_sums(text: &[u8], name: &str) -> Result<Vec<(String, String)>> {
    let text =
        std::str::from_utf8(text).map_err(|_| Failure::data(format!("{name}: not UTF-8 text")))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        // Blank lines and `#` comments (manifest writes one naming its
        // companion); GNU sha256sum -c skips them too.
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| Failure::data(format!("{name}:{}: {why}: {line:?}", i + 1));
        let (escaped, line) = match line.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let (sha, rest) = line.split_at_checked(64).ok_or_else(|| bad("too short"))?;
        if !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("not a SHA-256"));
        }
        let path = rest
            .strip_prefix("  ")
            .or_else(|| rest.strip_prefix(" *"))
            .ok_or_else(|| bad("expected two spaces after the digest"))?;
        let path = if escaped {
            unescape(path)
        } else {
            path.to_string()
        };
        check_relative(&path).map_err(|e| bad(&format!("{e:#}")))?;
        out.push((sha.to_ascii_lowercase(), path));
    }
    Ok(out)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

/// Decrypt age ciphertext with the identities in `identity`.
pub fn decrypt_bytes(cipher: &[u8], identity: &std::path::Path) -> Result<Vec<u8>> {
    let mut r = decrypting_reader(cipher, identity)?;
    let mut out = Vec::new();
    r.read_to_end(&mut out).context("reading the plaintext")?;
    Ok(out)
}

/// A reader of the plaintext of `cipher`.
pub fn decrypting_reader<'a, R: Read + 'a>(
    cipher: R,
    identity: &std::path::Path,
) -> Result<Box<dyn Read + 'a>> {
    let ids = age::IdentityFile::from_file(identity.display().to_string())
        .map_err(|e| Failure::usage(format!("--identity {}: {e}", identity.display())))?
        .into_identities()
        .map_err(|e| Failure::usage(format!("--identity {}: {e}", identity.display())))?;
    let d = age::Decryptor::new(cipher)
        .map_err(|e| Failure::data(format!("not age ciphertext: {e}")))?;
    let r = d
        .decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| {
            Failure::usage(format!(
                "--identity {} does not open it: {e}",
                identity.display()
            ))
        })?;
    Ok(Box::new(r))
}

/// The manifest's minisign signature (`.minisig`, encrypted or not) must
/// exist and check with the public key.
async fn check_signature(
    remote: &Remote,
    listed: &BTreeMap<String, Listed>,
    sum_key: &str,
    text: &[u8],
    public_key: &std::path::Path,
    keys: &Keys,
) -> Result<()> {
    let plain = sum_key.strip_suffix(".age").unwrap_or(sum_key);
    let candidates = [format!("{plain}.minisig"), format!("{plain}.minisig.age")];
    let Some(sig_key) = candidates.iter().find(|k| listed.contains_key(*k)) else {
        return Err(Failure::data(format!(
            "{sum_key}: no signature ({plain}.minisig) although --public-key was given"
        )));
    };
    let mut sig = remote
        .get_bytes(sig_key)
        .await
        .map_err(|e| e.into_error())?;
    if sig_key.ends_with(".age") {
        let id = keys
            .identity
            .as_deref()
            .ok_or_else(|| Failure::usage(format!("{sig_key} is encrypted: give --identity")))?;
        sig = decrypt_bytes(&sig, id)?;
    }
    let pk = minisign::PublicKey::from_file(public_key)
        .map_err(|e| Failure::usage(format!("--public-key {}: {e}", public_key.display())))?;
    let sig = minisign::SignatureBox::from_string(&String::from_utf8_lossy(&sig))
        .map_err(|e| Failure::data(format!("{sig_key}: not a minisign signature: {e}")))?;
    minisign::verify(&pk, &sig, std::io::Cursor::new(text), true, false, false)
        .map_err(|e| Failure::data(format!("{sum_key}: the signature does not check: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_lines() {
        let d = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let text = format!(
            "# companion: manifest.json\n{d}  a/b.json\n{d} *c.parquet\n\\{d}  odd\\nname\n"
        );
        let got = parse_sums(text.as_bytes(), "m").unwrap();
        assert_eq!(got[0], (d.to_string(), "a/b.json".to_string()));
        assert_eq!(got[1].1, "c.parquet");
        assert_eq!(got[2].1, "odd\nname");
        for bad in [
            format!("{d}  ../x"),
            format!("{d} x"),
            "zz  x".to_string(),
            format!("{d}  /etc/passwd"),
        ] {
            let e = parse_sums(bad.as_bytes(), "m").unwrap_err();
            assert!(format!("{e:#}").starts_with("m:1:"), "{e:#}");
            let _ = &bad;
            assert_eq!(archive_core::exit::exit_code(&e), 3);
        }
    }
}
