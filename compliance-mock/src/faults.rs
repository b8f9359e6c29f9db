//! Fault injection (`--fault SPEC`, `--faults SPEC`, `PUT /_mock/faults`).
//!
//! SPEC is a comma-separated list of faults:
//!
//! ```text
//! FAULT := KIND[=VALUE][xCOUNT](@N | %PCT)[:SCOPE]
//! ```
//!
//! - `@N` fires on the N-th matching request (1-based); `%PCT` fires on
//!   each matching request with probability PCT percent (deterministic for
//!   a `--seed`); `xCOUNT` makes it a burst of COUNT consecutive matching
//!   requests.
//! - Matching requests are the API requests under `/v1/`, or, with
//!   `:SCOPE`, every request whose path contains SCOPE (e.g. `:download`,
//!   `:conversations`, `:audit_logs`). Each fault counts on its own.
//!
//! Transport and status kinds: `429` (Retry-After: VALUE seconds, default
//! 1), `429-no-header`, `429-date` (Retry-After as an HTTP date VALUE
//! seconds ahead, default 2), any other status 400..=599 (e.g. `500`,
//! `502`, `503`, `401`) with an OpenAI-style error body, `drop` (send half
//! the body, then cut the connection), `stall` (wait VALUE seconds, default
//! 30, before answering), `drip` (send the body one byte every VALUE
//! seconds, default 5), `expired-download` (counts log-file 307 requests;
//! the N-th redirect hands out a URL that has already expired, so the
//! download gets 403), `download-http` (counts log-file 307 requests; the
//! redirect points at plain http on a host that is not this machine),
//! `bad-sha@K[:EVENT_TYPE]` (the K-th log file, 1-based in end_time order,
//! of each event type or of EVENT_TYPE: its bytes never match the listed
//! `file_sha256`), `bad-sha-once@K[:EVENT_TYPE]` (only its first download
//! is corrupt).
//!
//! Hostile-server kinds (a 200 answer, rewritten): `repeat-cursor` (the
//! page's cursor, `last_id` or `last_end_time`, is the request's own
//! `after`, with `has_more: true`), `cycle-cursor` (the cursor is an
//! earlier request's `after`), `indent` (the page pretty-printed over many
//! lines), `html` (an HTML page instead), `bom` (a UTF-8 byte order mark
//! first), `array` (the `data` array alone), `garbage` (bytes after the
//! object), `data-object` (`data` is an object, not a list),
//! `has-more-string` (`"has_more": "true"`), `echo-key` (a 200 without
//! `data` that echoes the request's key, in upper case and in pieces),
//! `echo-key-error` (a 500 whose body has the key across byte 300),
//! `future-time` (the page's first record dated 2099), `redirect-http`
//! (301 to the same URL on plain http), `redirect-origin` (301 to the same
//! URL on another origin, `localhost` for `127.0.0.1`).

use crate::rng::mix;
use anyhow::{bail, Context, Result};
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Status { code: u16, retry_after: RetryAfter },
    Drop,
    Stall(u64),
    Drip(u64),
    ExpiredDownload,
    DownloadHttp,
    EchoKeyError,
    Redirect(Redirect),
    Body(BodyFault),
}

/// Where a `redirect-*` fault sends the client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Redirect {
    PlainHttp,
    OtherOrigin,
}

/// How a `200` list answer is rewritten.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyFault {
    /// The cursor field set to this value (or left alone: `None`) and
    /// `has_more` forced true.
    Cursor(Option<String>),
    Indent,
    Html,
    Bom,
    Array,
    Garbage,
    DataObject,
    HasMoreString,
    EchoKey,
    FutureTime,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RetryAfter {
    None,
    Seconds(u64),
    /// An HTTP date this many seconds ahead.
    Date(u64),
}

#[derive(Debug, Clone, PartialEq)]
enum Trigger {
    At(u64),
    Percent(f64),
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Request(Action),
    /// `repeat-cursor` and `cycle-cursor`: the value depends on the request.
    RepeatCursor,
    CycleCursor,
    BadSha {
        once: bool,
    },
}

#[derive(Debug, Clone)]
struct Rule {
    text: String,
    kind: Kind,
    count: u64,
    trigger: Trigger,
    scope: Option<String>,
}

#[derive(Default)]
struct RuleState {
    seen: u64,
    /// Requests still to hit in a running probabilistic burst.
    burst_left: u64,
    /// The `after` values of the matching requests, oldest first.
    cursors: Vec<String>,
}

struct Active {
    rules: Vec<Rule>,
    state: Vec<RuleState>,
}

pub struct Faults {
    active: Mutex<Active>,
    seed: u64,
}

/// What the fault engine needs to know about a request.
pub struct RequestKind<'a> {
    pub path: &'a str,
    /// A `GET …/logs/{file_id}` that answers with a 307.
    pub log_redirect: bool,
    /// The request's `after` cursor.
    pub after: Option<&'a str>,
}

fn parse_rules(spec: &str) -> Result<Vec<Rule>> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_rule(s).with_context(|| format!("fault {s:?}")))
        .collect()
}

impl Faults {
    pub fn parse(spec: &str, seed: u64) -> Result<Faults> {
        let f = Faults {
            active: Mutex::new(Active {
                rules: Vec::new(),
                state: Vec::new(),
            }),
            seed,
        };
        f.replace(spec)?;
        Ok(f)
    }

    /// Replace every fault with `spec`; counting starts again.
    pub fn replace(&self, spec: &str) -> Result<()> {
        let rules = parse_rules(spec)?;
        let mut a = self.active.lock().unwrap();
        a.state = rules.iter().map(|_| RuleState::default()).collect();
        a.rules = rules;
        Ok(())
    }

    /// The active faults' texts.
    pub fn list(&self) -> Vec<String> {
        let a = self.active.lock().unwrap();
        a.rules.iter().map(|r| r.text.clone()).collect()
    }

    /// The fault this request gets, if any, and the rule's text for the log.
    pub fn decide(&self, req: &RequestKind) -> Option<(Action, String)> {
        let mut guard = self.active.lock().unwrap();
        let Active { rules, state } = &mut *guard;
        let mut chosen = None;
        for (i, rule) in rules.iter().enumerate() {
            let redirect_only = matches!(
                rule.kind,
                Kind::Request(Action::ExpiredDownload | Action::DownloadHttp)
            );
            let matches = match (&rule.scope, &rule.kind) {
                (_, Kind::BadSha { .. }) => false,
                (Some(scope), _) => req.path.contains(scope.as_str()),
                (None, _) if redirect_only => req.log_redirect,
                (None, _) => req.path.starts_with("/v1/"),
            };
            if !matches || (redirect_only && !req.log_redirect) {
                continue;
            }
            let st = &mut state[i];
            st.seen += 1;
            let fires = match rule.trigger {
                Trigger::At(n) => st.seen >= n && st.seen < n + rule.count,
                Trigger::Percent(p) => {
                    if st.burst_left > 0 {
                        st.burst_left -= 1;
                        true
                    } else {
                        let roll = mix(self.seed ^ ((i as u64) << 40) ^ st.seen) % 10_000;
                        let hit = (roll as f64) < p * 100.0;
                        if hit {
                            st.burst_left = rule.count - 1;
                        }
                        hit
                    }
                }
            };
            let earlier = st
                .cursors
                .iter()
                .find(|c| Some(c.as_str()) != req.after)
                .cloned();
            if let Some(a) = req.after {
                st.cursors.push(a.to_string());
            }
            if !fires || chosen.is_some() {
                continue;
            }
            let action = match &rule.kind {
                Kind::Request(a) => a.clone(),
                Kind::RepeatCursor => Action::Body(BodyFault::Cursor(req.after.map(String::from))),
                Kind::CycleCursor => Action::Body(BodyFault::Cursor(
                    earlier.or_else(|| req.after.map(String::from)),
                )),
                Kind::BadSha { .. } => continue,
            };
            chosen = Some((action, rule.text.clone()));
        }
        chosen
    }

    /// Is the `index`-th (1-based) file of this event type corrupt, and on
    /// every download (false) or only the first (true)?
    pub fn bad_sha(&self, event_type: &str, index: usize) -> Option<bool> {
        let a = self.active.lock().unwrap();
        a.rules.iter().find_map(|r| match (&r.kind, &r.trigger) {
            (Kind::BadSha { once }, Trigger::At(k))
                if *k == index as u64 && r.scope.as_deref().is_none_or(|s| s == event_type) =>
            {
                Some(*once)
            }
            _ => None,
        })
    }
}

fn parse_rule(s: &str) -> Result<Rule> {
    let (body, scope) = match s.split_once(':') {
        Some((b, sc)) if !sc.is_empty() => (b, Some(sc.to_string())),
        Some(_) => bail!("empty scope after ':'"),
        None => (s, None),
    };
    let (head, trigger) = if let Some((h, n)) = body.split_once('@') {
        let n: u64 = n
            .parse()
            .with_context(|| format!("{n:?} after '@' is not a request number"))?;
        if n == 0 {
            bail!("request numbers start at 1");
        }
        (h, Trigger::At(n))
    } else if let Some((h, p)) = body.split_once('%') {
        let p: f64 = p
            .parse()
            .with_context(|| format!("{p:?} after '%' is not a percentage"))?;
        if !(0.0..=100.0).contains(&p) {
            bail!("percentage {p} is not within 0..=100");
        }
        (h, Trigger::Percent(p))
    } else {
        bail!("needs @N (the N-th request) or %PCT (a probability)");
    };
    let (head, count) = match head.rsplit_once('x') {
        Some((h, c)) if c.chars().all(|ch| ch.is_ascii_digit()) && !c.is_empty() => {
            let c: u64 = c.parse()?;
            if c == 0 {
                bail!("a burst of 0 requests");
            }
            (h, c)
        }
        _ => (head, 1),
    };
    let (name, value) = match head.split_once('=') {
        Some((n, v)) => (
            n,
            Some(
                v.parse::<u64>()
                    .with_context(|| format!("{v:?} is not a number of seconds"))?,
            ),
        ),
        None => (head, None),
    };
    let body = |b: BodyFault| Kind::Request(Action::Body(b));
    let kind = match name {
        "429" => Kind::Request(Action::Status { code: 429, retry_after: RetryAfter::Seconds(value.unwrap_or(1)) }),
        "429-no-header" => Kind::Request(Action::Status { code: 429, retry_after: RetryAfter::None }),
        "429-date" => Kind::Request(Action::Status { code: 429, retry_after: RetryAfter::Date(value.unwrap_or(2)) }),
        "drop" => Kind::Request(Action::Drop),
        "stall" => Kind::Request(Action::Stall(value.unwrap_or(30))),
        "drip" => Kind::Request(Action::Drip(value.unwrap_or(5))),
        "expired-download" => Kind::Request(Action::ExpiredDownload),
        "download-http" => Kind::Request(Action::DownloadHttp),
        "echo-key-error" => Kind::Request(Action::EchoKeyError),
        "redirect-http" => Kind::Request(Action::Redirect(Redirect::PlainHttp)),
        "redirect-origin" => Kind::Request(Action::Redirect(Redirect::OtherOrigin)),
        "repeat-cursor" => Kind::RepeatCursor,
        "cycle-cursor" => Kind::CycleCursor,
        "indent" => body(BodyFault::Indent),
        "html" => body(BodyFault::Html),
        "bom" => body(BodyFault::Bom),
        "array" => body(BodyFault::Array),
        "garbage" => body(BodyFault::Garbage),
        "data-object" => body(BodyFault::DataObject),
        "has-more-string" => body(BodyFault::HasMoreString),
        "echo-key" => body(BodyFault::EchoKey),
        "future-time" => body(BodyFault::FutureTime),
        "bad-sha" | "bad-sha-once" => {
            if !matches!(trigger, Trigger::At(_)) || count != 1 {
                bail!("{name} takes @FILE_INDEX only");
            }
            Kind::BadSha { once: name == "bad-sha-once" }
        }
        code => match code.parse::<u16>() {
            Ok(c) if (400..=599).contains(&c) => Kind::Request(Action::Status { code: c, retry_after: RetryAfter::None }),
            _ => bail!("unknown fault kind {code:?} (429, 429-no-header, 429-date, 400..599, drop, stall, drip, expired-download, download-http, bad-sha, bad-sha-once, repeat-cursor, cycle-cursor, indent, html, bom, array, garbage, data-object, has-more-string, echo-key, echo-key-error, future-time, redirect-http, redirect-origin)"),
        },
    };
    Ok(Rule {
        text: s.to_string(),
        kind,
        count,
        trigger,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(path: &str) -> RequestKind<'_> {
        RequestKind {
            path,
            log_redirect: false,
            after: None,
        }
    }

    #[test]
    fn cursor_faults_repeat_or_go_back() {
        let f = Faults::parse("cycle-cursor@3:users,repeat-cursor@2:gpts", 1).unwrap();
        let req = |path, after| RequestKind {
            path,
            log_redirect: false,
            after,
        };
        assert!(f.decide(&req("/v1/users", None)).is_none());
        assert!(f.decide(&req("/v1/users", Some("u2"))).is_none());
        assert_eq!(
            f.decide(&req("/v1/users", Some("u4"))).unwrap().0,
            Action::Body(BodyFault::Cursor(Some("u2".into())))
        );
        assert!(f.decide(&req("/v1/gpts", None)).is_none());
        assert_eq!(
            f.decide(&req("/v1/gpts", Some("g3"))).unwrap().0,
            Action::Body(BodyFault::Cursor(Some("g3".into())))
        );
        f.replace("html@1").unwrap();
        assert_eq!(f.list(), ["html@1"]);
        assert_eq!(
            f.decide(&req("/v1/gpts", None)).unwrap().0,
            Action::Body(BodyFault::Html)
        );
    }

    #[test]
    fn burst_at_n_counts_matching_requests_only() {
        let f = Faults::parse("503x3@2:conversations", 1).unwrap();
        let hits: Vec<bool> = [
            "/v1/a/conversations",
            "/v1/a/users",
            "/v1/a/conversations",
            "/v1/a/conversations",
            "/v1/a/conversations",
            "/v1/a/conversations",
        ]
        .iter()
        .map(|p| f.decide(&api(p)).is_some())
        .collect();
        assert_eq!(hits, [false, false, true, true, true, false]);
    }

    #[test]
    fn kinds_and_values() {
        let f = Faults::parse("429=7@1, 429-no-header@2,drop@3", 1).unwrap();
        let a = f.decide(&api("/v1/x")).unwrap().0;
        assert_eq!(
            a,
            Action::Status {
                code: 429,
                retry_after: RetryAfter::Seconds(7)
            }
        );
        assert_eq!(
            f.decide(&api("/v1/x")).unwrap().0,
            Action::Status {
                code: 429,
                retry_after: RetryAfter::None
            }
        );
        assert_eq!(f.decide(&api("/v1/x")).unwrap().0, Action::Drop);
        assert!(f.decide(&api("/v1/x")).is_none());
        assert!(f.decide(&api("/_mock/requests")).is_none());
    }

    #[test]
    fn percentages_are_deterministic_and_roughly_right() {
        let run = |seed| {
            let f = Faults::parse("500%10", seed).unwrap();
            (0..2000)
                .filter(|_| f.decide(&api("/v1/x")).is_some())
                .count()
        };
        let n = run(3);
        assert_eq!(n, run(3));
        assert!((120..=280).contains(&n), "{n} of 2000 at 10%");
    }

    #[test]
    fn bad_sha_and_errors() {
        let f = Faults::parse("bad-sha@2:AUTH_LOG,bad-sha-once@1", 1).unwrap();
        assert_eq!(f.bad_sha("AUTH_LOG", 2), Some(false));
        assert_eq!(f.bad_sha("AUDIT_LOG", 2), None);
        assert_eq!(f.bad_sha("AUDIT_LOG", 1), Some(true));
        for bad in [
            "429",
            "7777@1",
            "drop@0",
            "500%200",
            "bad-sha%5",
            "429=abc@1",
            "drop@1:",
        ] {
            assert!(Faults::parse(bad, 1).is_err(), "{bad} parsed");
        }
    }
}
