//! Fault injection (`--faults SPEC`).
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
//! Kinds: `429` (Retry-After: VALUE seconds, default 1), `429-no-header`,
//! `429-date` (Retry-After as an HTTP date VALUE seconds ahead, default 2),
//! any other status 400..=599 (e.g. `500`, `502`, `503`, `401`) with an
//! OpenAI-style error body, `drop` (send half the body, then cut the
//! connection), `stall` (wait VALUE seconds, default 30, before answering),
//! `expired-download` (counts log-file 307 requests; the N-th redirect
//! hands out a URL that has already expired, so the download gets 403),
//! `bad-sha@K[:EVENT_TYPE]` (the K-th log file, 1-based in end_time order,
//! of each event type or of EVENT_TYPE: its bytes never match the listed
//! `file_sha256`), `bad-sha-once@K[:EVENT_TYPE]` (only its first download
//! is corrupt).

use crate::rng::mix;
use anyhow::{bail, Context, Result};
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Status { code: u16, retry_after: RetryAfter },
    Drop,
    Stall(u64),
    ExpiredDownload,
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
    BadSha { once: bool },
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
}

pub struct Faults {
    rules: Vec<Rule>,
    state: Mutex<Vec<RuleState>>,
    seed: u64,
}

/// What the fault engine needs to know about a request.
pub struct RequestKind<'a> {
    pub path: &'a str,
    /// A `GET …/logs/{file_id}` that answers with a 307.
    pub log_redirect: bool,
}

impl Faults {
    pub fn parse(spec: &str, seed: u64) -> Result<Faults> {
        let rules = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| parse_rule(s).with_context(|| format!("fault {s:?}")))
            .collect::<Result<Vec<_>>>()?;
        let state = Mutex::new(rules.iter().map(|_| RuleState::default()).collect());
        Ok(Faults { rules, state, seed })
    }

    /// The fault this request gets, if any, and the rule's text for the log.
    pub fn decide(&self, req: &RequestKind) -> Option<(Action, String)> {
        let mut state = self.state.lock().unwrap();
        let mut chosen = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let Kind::Request(action) = &rule.kind else {
                continue;
            };
            let matches = match (&rule.scope, action) {
                (Some(scope), _) => req.path.contains(scope.as_str()),
                (None, Action::ExpiredDownload) => req.log_redirect,
                (None, _) => req.path.starts_with("/v1/"),
            };
            if !matches || (matches!(action, Action::ExpiredDownload) && !req.log_redirect) {
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
            if fires && chosen.is_none() {
                chosen = Some((action.clone(), rule.text.clone()));
            }
        }
        chosen
    }

    /// Is the `index`-th (1-based) file of this event type corrupt, and on
    /// every download (false) or only the first (true)?
    pub fn bad_sha(&self, event_type: &str, index: usize) -> Option<bool> {
        self.rules.iter().find_map(|r| match (&r.kind, &r.trigger) {
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
    let kind = match name {
        "429" => Kind::Request(Action::Status { code: 429, retry_after: RetryAfter::Seconds(value.unwrap_or(1)) }),
        "429-no-header" => Kind::Request(Action::Status { code: 429, retry_after: RetryAfter::None }),
        "429-date" => Kind::Request(Action::Status { code: 429, retry_after: RetryAfter::Date(value.unwrap_or(2)) }),
        "drop" => Kind::Request(Action::Drop),
        "stall" => Kind::Request(Action::Stall(value.unwrap_or(30))),
        "expired-download" => Kind::Request(Action::ExpiredDownload),
        "bad-sha" | "bad-sha-once" => {
            if !matches!(trigger, Trigger::At(_)) || count != 1 {
                bail!("{name} takes @FILE_INDEX only");
            }
            Kind::BadSha { once: name == "bad-sha-once" }
        }
        code => match code.parse::<u16>() {
            Ok(c) if (400..=599).contains(&c) => Kind::Request(Action::Status { code: c, retry_after: RetryAfter::None }),
            _ => bail!("unknown fault kind {code:?} (429, 429-no-header, 429-date, 400..599, drop, stall, expired-download, bad-sha, bad-sha-once)"),
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
        }
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
