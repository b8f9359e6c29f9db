//! What the previous run left at a target: manifest.json (sizes, mtimes,
//! metadata) merged with manifest-sha256.txt (the digests standard tools
//! check). When manifest.json lists a file the text manifest lacks, or the
//! text manifest cannot be read, the text manifest was edited or damaged
//! since it was written (the writer commits the text manifest first, so a
//! crash between the two leaves the opposite: files only in the text
//! manifest, which a rewrite keeps). A rewrite would silently change what
//! standard tools check, so the target is refused unless `--accept-changes`.

use crate::json_manifest::{Header, Manifest};
use crate::model::{parse_digest, Digest, Entry};
use crate::sha256sum;
use crate::tree::manifest_names;
use std::cmp::Ordering;
use std::path::Path;

/// What the previous run left.
#[derive(Default)]
pub struct Previous {
    /// The previous manifest.json's header, when it parsed and agreed
    /// with the previous sha256sum manifest file by file.
    pub header: Option<Header>,
    /// SHA-256 of the previous sha256sum manifest file.
    pub txt_sha: Option<Digest>,
    /// Sorted by path.
    pub entries: Vec<(String, Entry)>,
    /// Why the previous pair cannot be rewritten without a word (None: it can).
    pub conflict: Option<String>,
}

/// The previous text manifest, parsed.
struct Sums {
    sha: Digest,
    /// None when it does not parse.
    lines: Option<Vec<(String, Digest)>>,
}

/// Load both previous manifests of a target (in parallel) and merge them.
pub fn load(dir: &Path, group: Option<&str>) -> Previous {
    let (sha_name, json_name) = manifest_names(group);
    let (json, txt) = rayon::join(
        || load_json(&dir.join(&json_name), &json_name),
        || load_sums(&dir.join(&sha_name), &sha_name),
    );
    let (header, json_entries) = match json {
        Some((h, files)) => (Some(h), files),
        None => (None, Vec::new()),
    };
    let Some(Sums { sha, lines }) = txt else {
        return Previous {
            header,
            entries: json_entries,
            ..Previous::default()
        };
    };
    let Some(sums) = lines else {
        // A text manifest that does not parse: its lines are unknown, so
        // any rewrite could drop some.
        return Previous {
            header: None,
            txt_sha: Some(sha),
            entries: json_entries,
            conflict: Some(format!("{sha_name} cannot be parsed")),
        };
    };
    let merged = merge(json_entries, sums, header.is_some(), &sha_name, &json_name);
    Previous {
        header: header.filter(|_| merged.consistent),
        txt_sha: Some(sha),
        entries: merged.entries,
        conflict: shown_conflict(&merged.only_in_json, &sha_name, &json_name),
    }
}

fn load_json(path: &Path, name: &str) -> Option<(Header, Vec<(String, Entry)>)> {
    let text = std::fs::read_to_string(path).ok()?;
    match Manifest::parse(&text, &path.display().to_string()) {
        Ok(m) => {
            let (h, files) = m.into_parts();
            let mut files: Vec<(String, Entry)> =
                files.into_iter().map(|f| (f.path, f.entry)).collect();
            sort_by_path(&mut files);
            Some((h, files))
        }
        Err(e) => {
            eprintln!("manifest: warning: ignoring the previous {name}: {e:#}");
            None
        }
    }
}

fn load_sums(path: &Path, name: &str) -> Option<Sums> {
    let text = std::fs::read_to_string(path).ok()?;
    let sha: Digest = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()).into();
    let lines = match sha256sum::parse(&text, &path.display().to_string()) {
        Ok(sums) => {
            let mut sums: Vec<(String, Digest)> = sums
                .into_iter()
                .map(|s| {
                    let d = parse_digest(&s.sha256).expect("sha256sum::parse checks the hex");
                    (s.path, d)
                })
                .collect();
            sort_by_path(&mut sums);
            Some(sums)
        }
        Err(e) => {
            eprintln!("manifest: warning: the previous {name} does not parse: {e:#}");
            None
        }
    };
    Some(Sums { sha, lines })
}

/// The previous pair merged by path.
struct Merged {
    entries: Vec<(String, Entry)>,
    /// Both list the same files with the same digests.
    consistent: bool,
    /// Paths manifest.json lists and the text manifest does not.
    only_in_json: Vec<String>,
}

fn merge(
    json_entries: Vec<(String, Entry)>,
    sums: Vec<(String, Digest)>,
    have_json: bool,
    sha_name: &str,
    json_name: &str,
) -> Merged {
    let mut m = Merged {
        entries: Vec::with_capacity(json_entries.len().max(sums.len())),
        consistent: have_json,
        only_in_json: Vec::new(),
    };
    let mut js = json_entries.into_iter().peekable();
    let mut ts = sums.into_iter().peekable();
    loop {
        let order = match (js.peek(), ts.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((jp, _)), Some((tp, _))) => jp.cmp(tp),
        };
        match order {
            Ordering::Less => {
                let (path, e) = js.next().expect("peeked");
                m.consistent = false;
                m.only_in_json.push(path.clone());
                m.entries.push((path, e));
            }
            Ordering::Greater => {
                let (path, digest) = ts.next().expect("peeked");
                m.consistent = false;
                m.entries.push((path, Entry::bare(digest)));
            }
            Ordering::Equal => {
                let (path, mut e) = js.next().expect("peeked");
                let (_, digest) = ts.next().expect("peeked");
                if e.sha256 != digest {
                    eprintln!(
                        "manifest: warning: previous {sha_name} and {json_name} disagree on {path}; using {sha_name}"
                    );
                    e.sha256 = digest;
                    e.mtime = None;
                    m.consistent = false;
                }
                m.entries.push((path, e));
            }
        }
    }
    m
}

/// The refusal message for files manifest.json lists and the text
/// manifest does not.
fn shown_conflict(only_in_json: &[String], sha_name: &str, json_name: &str) -> Option<String> {
    if only_in_json.is_empty() {
        return None;
    }
    let shown: Vec<&str> = only_in_json.iter().take(5).map(String::as_str).collect();
    let more = only_in_json.len() - shown.len();
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Some(format!(
        "{json_name} lists {}{more}, which {sha_name} does not (edited since it was written?)",
        shown.join(", ")
    ))
}

/// Sort by path and keep the last of duplicates (as a map would).
fn sort_by_path<T>(v: &mut Vec<(String, T)>) {
    if !v.windows(2).all(|w| w[0].0 < w[1].0) {
        v.reverse();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|later, first| later.0 == first.0);
    }
}
