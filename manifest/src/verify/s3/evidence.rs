//! What one object's HeadObject answer proves, what a download proves, and
//! the finding each leads to. No I/O: the rules in one place.
//!
//! The evidence, strongest first:
//! - S3's whole-object `x-amz-checksum-sha256`: S3 computed it from the
//!   bytes it stores.
//! - ship's `x-amz-meta-sha256` (the SHA-256 of the stored bytes) and
//!   `x-amz-meta-source-sha256` (of the plaintext, before age encryption),
//!   written in the same request as the bytes. They stand in for a hash of
//!   the bytes when S3 holds no whole-object SHA-256 but the object was
//!   uploaded the way ship uploads (a SHA-256 composite whose part count the
//!   ETag confirms), or when the object is archived (GLACIER, DEEP_ARCHIVE)
//!   and nothing better can be had without a restore.
//! - a download, hashed (and decrypted with `--identity`).
//!
//! A HEAD that contradicts the manifest is confirmed by a download before
//! it is reported `changed`, unless the object is archived.

use archive_s3::checksum::Stored;
use serde_json::{json, Map, Value};

/// What HeadObject said about one object.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// Size of the stored object (the ciphertext when encrypted).
    pub size: u64,
    pub storage_class: Option<String>,
    /// Archived (GLACIER / DEEP_ARCHIVE) and not restored: GetObject fails.
    pub cold: bool,
    /// `x-amz-checksum-sha256`, read with the ETag's part count.
    pub stored: Option<Stored>,
    /// `x-amz-meta-sha256`: ship's SHA-256 of the stored bytes (hex).
    pub meta_sha256: Option<String>,
    /// `x-amz-meta-source-sha256`: ship's SHA-256 of the plaintext.
    pub meta_source_sha256: Option<String>,
    /// The part count of a multipart ETag (`"…-N"`).
    pub etag_parts: Option<u32>,
}

impl Head {
    fn whole(&self) -> Option<&str> {
        match &self.stored {
            Some(Stored::Whole(h)) => Some(h),
            _ => None,
        }
    }

    /// A SHA-256 composite whose part count agrees with the ETag's.
    pub fn composite_parts(&self) -> Option<u32> {
        match &self.stored {
            Some(Stored::Composite { parts: Some(n), .. }) if Some(*n) == self.etag_parts => {
                Some(*n)
            }
            _ => None,
        }
    }

    /// May ship's metadata stand in for a hash of the stored bytes? (See
    /// the module documentation.)
    fn metadata_usable(&self) -> bool {
        self.whole().is_none() && (self.composite_parts().is_some() || self.cold)
    }
}

/// What the manifests say about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Listed: the SHA-256 of the plaintext, and its size when the JSON
    /// manifest records it.
    Listed { sha256: String, bytes: Option<u64> },
    /// An age-encrypted object whose manifest could not be read (no
    /// `--identity`): only the ciphertext can be checked.
    Ciphertext,
    /// No manifest lists it.
    Extra,
}

/// One object to check.
#[derive(Debug, Clone)]
pub struct Expect {
    pub want: Want,
    /// The object is age ciphertext of the file (its key ends in `.age`).
    pub encrypted: bool,
}

/// What came down in a download.
#[derive(Debug, Clone, Default)]
pub struct Downloaded {
    pub bytes: u64,
    /// SHA-256 of the stored bytes.
    pub sha256: String,
    /// The composite checksum recomputed at the part boundaries
    /// (`base64-N`), for a multipart object whose composite is evidence.
    pub composite: Option<String>,
    /// The decrypted plaintext's size and SHA-256, or why it did not decrypt.
    pub plain: Option<Result<(u64, String), String>>,
}

/// The finding for one object: its status, the fields of its line, and
/// the plaintext SHA-256 seen (for pairing renames).
#[derive(Debug, Clone)]
pub struct Verdict {
    pub status: &'static str,
    pub details: Map<String, Value>,
    pub actual: Option<String>,
}

/// What to do after the HEAD.
#[derive(Debug)]
pub enum Plan {
    Done(Verdict),
    /// Download (and decrypt when `decrypt`), then [`judge`].
    Download {
        decrypt: bool,
    },
}

/// Decide from the HEAD alone where that is enough (or all there is).
/// `download`: the user asked for every object to be downloaded.
pub fn plan(e: &Expect, h: &Head, download: bool) -> Plan {
    let decrypt = e.encrypted && matches!(e.want, Want::Listed { .. });
    let from_head = from_head(e, h);
    if h.cold {
        let why = if download {
            "archived object: restore it before it can be downloaded"
        } else {
            "archived object without a stored SHA-256 or ship's metadata: restore it before it can be verified"
        };
        return Plan::Done(match from_head {
            Some(v) if !download => v,
            _ if e.want == Want::Extra => extra(None, h.size),
            _ => unverifiable(e, h, why),
        });
    }
    if e.want == Want::Extra && e.encrypted {
        // An encrypted extra is not decrypted: its plaintext digest is only
        // for pairing renames, and ship's metadata gives it when it can.
        let v = from_head.filter(|v| v.status == "extra");
        return Plan::Done(v.unwrap_or_else(|| extra(None, h.size)));
    }
    match from_head {
        Some(v) if !download && v.status != "changed" => Plan::Done(v),
        _ => Plan::Download { decrypt },
    }
}

/// What the HEAD settles, if anything.
fn from_head(e: &Expect, h: &Head) -> Option<Verdict> {
    if !e.encrypted {
        let (digest, method) = match (h.whole(), &h.meta_sha256) {
            // S3's checksum and ship's record disagree: read the bytes.
            (Some(w), Some(m)) if w != m && !h.cold => return None,
            (Some(w), _) => (w, "checksum"),
            (None, Some(m)) if h.metadata_usable() => (m.as_str(), "metadata"),
            _ => return None,
        };
        return Some(compare_plain(e, digest, Some(h.size), method));
    }
    // The ciphertext first: S3's checksum against ship's record of it.
    let (cipher, method) = match (h.whole(), &h.meta_sha256) {
        (Some(w), Some(m)) if w != m => return Some(cipher_changed(m, w, h.size, "checksum")),
        (Some(w), Some(_)) => (w, "checksum"),
        (None, Some(m)) if h.metadata_usable() => (m.as_str(), "metadata"),
        _ => return None,
    };
    match (&e.want, &h.meta_source_sha256) {
        (Want::Listed { .. }, Some(source)) => {
            let mut v = compare_plain(e, source, None, "metadata");
            v.details.insert("ciphertext_sha256".into(), json!(cipher));
            Some(v)
        }
        (Want::Extra, source) => Some(extra(source.clone(), h.size)),
        (Want::Listed { .. }, None) if !h.cold => None,
        _ => Some(ciphertext_ok(cipher, h.size, method)),
    }
}

/// The finding after a download.
pub fn judge(e: &Expect, h: &Head, got: &Downloaded) -> Verdict {
    if !e.encrypted {
        return compare_plain(e, &got.sha256, Some(got.bytes), "download");
    }
    match (&e.want, &got.plain) {
        (Want::Listed { .. }, Some(Ok((bytes, sha)))) => {
            let mut v = compare_plain(e, sha, Some(*bytes), "download");
            v.details
                .insert("ciphertext_sha256".into(), json!(got.sha256));
            v
        }
        (Want::Listed { sha256, bytes }, Some(Err(why))) => changed(
            sha256,
            *bytes,
            None,
            Some(got.bytes),
            "download",
            Some(format!("the object does not decrypt: {why}")),
        ),
        (Want::Extra, _) => extra(None, h.size),
        _ => judge_ciphertext(h, got),
    }
}

/// The downloaded ciphertext against every record of it there is: ship's
/// metadata and S3's checksum (whole, or composite at the part boundaries).
fn judge_ciphertext(h: &Head, got: &Downloaded) -> Verdict {
    let mut agree = Vec::new();
    let mut disagree = Vec::new();
    let mut note = |name: &'static str, ok: bool| {
        if ok {
            agree.push(name)
        } else {
            disagree.push(name)
        }
    };
    if let Some(m) = &h.meta_sha256 {
        note("x-amz-meta-sha256", *m == got.sha256);
    }
    match (&h.stored, &got.composite) {
        (Some(Stored::Whole(w)), _) => note("x-amz-checksum-sha256", *w == got.sha256),
        (Some(s @ Stored::Composite { parts, .. }), Some(c)) => {
            // A different part count means the parts were not all of the
            // first part's size: the recomputation proves nothing then.
            let count = c.rsplit_once('-').and_then(|(_, n)| n.parse::<u32>().ok());
            if *parts == count {
                note(
                    "x-amz-checksum-sha256",
                    s.matches(None, Some(c)) == Some(true),
                );
            }
        }
        _ => {}
    }
    if !disagree.is_empty() {
        let expected = h.meta_sha256.as_deref().unwrap_or("");
        let mut v = cipher_changed(expected, &got.sha256, got.bytes, "download");
        v.details.insert("disagrees".into(), json!(disagree));
        return v;
    }
    if agree.is_empty() {
        return unverifiable(
            &Expect {
                want: Want::Ciphertext,
                encrypted: true,
            },
            h,
            "no stored SHA-256 and no x-amz-meta-sha256 record what the ciphertext must hash to",
        );
    }
    ciphertext_ok(&got.sha256, got.bytes, "download")
}

/// The plaintext digest found against the manifest's.
fn compare_plain(e: &Expect, actual: &str, actual_bytes: Option<u64>, method: &str) -> Verdict {
    let Want::Listed { sha256, bytes } = &e.want else {
        return extra(Some(actual.to_string()), actual_bytes.unwrap_or(0));
    };
    let size_ok = match (bytes, actual_bytes) {
        (Some(b), Some(a)) => *b == a,
        _ => true,
    };
    if actual.eq_ignore_ascii_case(sha256) && size_ok {
        let mut d = Map::new();
        d.insert("sha256".into(), json!(actual));
        d.insert("bytes".into(), json!(actual_bytes.or(*bytes)));
        d.insert("method".into(), json!(method));
        if e.encrypted {
            d.insert("encrypted".into(), json!(true));
        }
        return Verdict {
            status: "ok",
            details: d,
            actual: Some(actual.to_string()),
        };
    }
    let mut v = changed(sha256, *bytes, Some(actual), actual_bytes, method, None);
    if e.encrypted {
        v.details.insert("encrypted".into(), json!(true));
    }
    v
}

fn changed(
    expected: &str,
    expected_bytes: Option<u64>,
    actual: Option<&str>,
    actual_bytes: Option<u64>,
    method: &str,
    error: Option<String>,
) -> Verdict {
    let mut d = object(json!({
        "expected_sha256": expected, "actual_sha256": actual,
        "expected_bytes": expected_bytes, "actual_bytes": actual_bytes, "method": method,
    }));
    if let Some(e) = error {
        d.insert("error".into(), json!(e));
    }
    Verdict {
        status: "changed",
        details: d,
        actual: actual.map(str::to_string),
    }
}

/// The ciphertext is not what ship recorded.
fn cipher_changed(expected: &str, actual: &str, bytes: u64, method: &str) -> Verdict {
    let mut v = changed(
        expected,
        None,
        Some(actual),
        Some(bytes),
        method,
        Some("the ciphertext differs from what ship recorded (x-amz-meta-sha256)".into()),
    );
    v.details.insert("encrypted".into(), json!(true));
    v.actual = None;
    v
}

fn ciphertext_ok(cipher: &str, bytes: u64, method: &str) -> Verdict {
    Verdict {
        status: "ciphertext_ok",
        details: object(json!({
            "ciphertext_sha256": cipher, "bytes": bytes, "method": method, "encrypted": true,
            "plaintext": "not checked: give --identity to check it against the manifest",
        })),
        actual: None,
    }
}

fn unverifiable(e: &Expect, h: &Head, why: &str) -> Verdict {
    let mut d = Map::new();
    if let Want::Listed { sha256, .. } = &e.want {
        d.insert("expected_sha256".into(), json!(sha256));
    }
    if let Some(class) = &h.storage_class {
        d.insert("storage_class".into(), json!(class));
    }
    if e.encrypted {
        d.insert("encrypted".into(), json!(true));
    }
    d.insert("error".into(), json!(why));
    Verdict {
        status: "unverifiable",
        details: d,
        actual: None,
    }
}

fn extra(actual: Option<String>, bytes: u64) -> Verdict {
    Verdict {
        status: "extra",
        details: object(json!({"actual_sha256": actual, "bytes": bytes})),
        actual,
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const B: &str = "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed";

    fn listed(encrypted: bool) -> Expect {
        Expect {
            want: Want::Listed {
                sha256: A.into(),
                bytes: Some(3),
            },
            encrypted,
        }
    }

    fn multipart(meta: Option<&str>) -> Head {
        Head {
            size: 3,
            stored: Some(Stored::Composite {
                digest_b64: "x".into(),
                parts: Some(2),
            }),
            etag_parts: Some(2),
            meta_sha256: meta.map(str::to_string),
            ..Head::default()
        }
    }

    fn done(p: Plan) -> Verdict {
        match p {
            Plan::Done(v) => v,
            other => panic!("expected a verdict, got {other:?}"),
        }
    }

    #[test]
    fn multipart_with_ship_metadata_needs_no_download() {
        let v = done(plan(&listed(false), &multipart(Some(A)), false));
        assert_eq!(
            (v.status, v.details["method"].clone()),
            ("ok", json!("metadata"))
        );
        // Metadata that disagrees is confirmed by a download first.
        assert!(matches!(
            plan(&listed(false), &multipart(Some(B)), false),
            Plan::Download { decrypt: false }
        ));
        // No metadata, or a part count the ETag does not confirm: download.
        assert!(matches!(
            plan(&listed(false), &multipart(None), false),
            Plan::Download { .. }
        ));
        let mut odd = multipart(Some(A));
        odd.etag_parts = None;
        assert!(matches!(
            plan(&listed(false), &odd, false),
            Plan::Download { .. }
        ));
        // Metadata without any SHA-256 checksum (a re-put keeping it) is not
        // trusted while the bytes can be read.
        let bare = Head {
            size: 3,
            meta_sha256: Some(A.into()),
            ..Head::default()
        };
        assert!(matches!(
            plan(&listed(false), &bare, false),
            Plan::Download { .. }
        ));
    }

    #[test]
    fn cold_objects_are_never_downloaded() {
        let cold = |meta: Option<&str>| Head {
            cold: true,
            storage_class: Some("DEEP_ARCHIVE".into()),
            meta_sha256: meta.map(str::to_string),
            size: 3,
            ..Head::default()
        };
        let v = done(plan(&listed(false), &cold(Some(A)), false));
        assert_eq!(
            (v.status, v.details["method"].clone()),
            ("ok", json!("metadata"))
        );
        assert_eq!(
            done(plan(&listed(false), &cold(Some(B)), false)).status,
            "changed"
        );
        let v = done(plan(&listed(false), &cold(None), false));
        assert_eq!(v.status, "unverifiable");
        assert_eq!(v.details["storage_class"], "DEEP_ARCHIVE");
        assert_eq!(
            done(plan(&listed(false), &cold(Some(A)), true)).status,
            "unverifiable"
        );
    }

    #[test]
    fn encrypted_objects() {
        let head = Head {
            size: 200,
            stored: Some(Stored::Whole(B.into())),
            meta_sha256: Some(B.into()),
            meta_source_sha256: Some(A.into()),
            ..Head::default()
        };
        let cipher = Expect {
            want: Want::Ciphertext,
            encrypted: true,
        };
        let v = done(plan(&cipher, &head, false));
        assert_eq!(v.status, "ciphertext_ok");
        assert_eq!(v.details["ciphertext_sha256"], B);
        let v = done(plan(&listed(true), &head, false));
        assert_eq!((v.status, v.details["sha256"].clone()), ("ok", json!(A)));
        // S3's checksum and ship's record disagree: confirmed by download.
        let mut bad = head.clone();
        bad.stored = Some(Stored::Whole(A.into()));
        assert!(matches!(
            plan(&cipher, &bad, false),
            Plan::Download { decrypt: false }
        ));
        assert!(matches!(
            plan(&listed(true), &bad, false),
            Plan::Download { decrypt: true }
        ));
        let got = Downloaded {
            bytes: 200,
            sha256: A.into(),
            ..Downloaded::default()
        };
        let v = judge(&cipher, &bad, &got);
        assert_eq!(v.status, "changed");
        assert_eq!(v.details["disagrees"], json!(["x-amz-meta-sha256"]));
        // The plaintext decides once it has been read.
        let got = Downloaded {
            plain: Some(Ok((3, A.into()))),
            ..got
        };
        assert_eq!(judge(&listed(true), &bad, &got).status, "ok");
        let broken = Downloaded {
            plain: Some(Err("MAC mismatch".into())),
            ..got
        };
        assert_eq!(judge(&listed(true), &bad, &broken).status, "changed");
    }

    #[test]
    fn ciphertext_against_a_recomputed_composite() {
        let digest = archive_s3::checksum::composite_checksum(&[A, B]).unwrap();
        let (d, _) = digest.rsplit_once('-').unwrap();
        let head = Head {
            size: 10,
            stored: Some(Stored::Composite {
                digest_b64: d.into(),
                parts: Some(2),
            }),
            etag_parts: Some(2),
            ..Head::default()
        };
        let cipher = Expect {
            want: Want::Ciphertext,
            encrypted: true,
        };
        let mut got = Downloaded {
            bytes: 10,
            sha256: A.into(),
            composite: Some(digest.clone()),
            plain: None,
        };
        assert_eq!(judge(&cipher, &head, &got).status, "ciphertext_ok");
        got.composite = archive_s3::checksum::composite_checksum(&[B, A]);
        assert_eq!(judge(&cipher, &head, &got).status, "changed");
        // Parts of other sizes: inconclusive, and nothing else to go by.
        got.composite = archive_s3::checksum::composite_checksum(&[A, B, A]);
        assert_eq!(judge(&cipher, &head, &got).status, "unverifiable");
    }
}
