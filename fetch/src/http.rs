//! The HTTP side: one client, the bearer key (never printed), a pacing
//! limiter per endpoint, retries with full-jitter backoff and `Retry-After`,
//! and the classification of failures into exit codes.
//!
//! Bodies are streamed into a [`BodySink`]; a body that breaks off half way
//! is retried from the start, so a sink forgets a failed attempt in
//! [`BodySink::begin`].

use crate::ratelimit::RateLimiter;
use anyhow::Result;
use archive_core::retry::Backoff;
use archive_core::Failure;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};
use url::Url;

/// Receives a response body in pieces.
pub trait BodySink {
    /// A new attempt starts: drop anything a failed attempt delivered.
    fn begin(&mut self) -> Result<()>;
    fn chunk(&mut self, bytes: &[u8]) -> Result<()>;
    /// The body ended. Return a [`Retryable`] error when it is incomplete
    /// or fails a check that a fresh download may pass.
    fn end(&mut self) -> Result<()>;
}

/// An error that another attempt may cure (truncated body, checksum mismatch).
#[derive(Debug)]
pub struct Retryable(pub String);

impl std::fmt::Display for Retryable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Retryable {}

/// Which key this client holds, for the hints on 401/403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Compliance,
    Admin,
}

/// Counters for the run summary and the progress line.
#[derive(Debug, Default, Clone)]
pub struct ApiStats {
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub waited: Duration,
    /// Send times of recent requests, for the requests-per-minute figure.
    pub recent: std::collections::VecDeque<Instant>,
}

impl ApiStats {
    /// Requests sent in the last 60 seconds.
    pub fn per_minute(&mut self) -> usize {
        let now = Instant::now();
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            self.recent.pop_front();
        }
        self.recent.len()
    }
}

pub struct ApiConfig {
    pub key: String,
    pub kind: KeyKind,
    pub per_minute: u32,
    pub download_per_minute: u32,
    pub backoff: Backoff,
    pub max_wait: Duration,
    pub timeout: Duration,
    pub debug: bool,
}

pub struct Api {
    client: reqwest::Client,
    cfg: ApiConfig,
    limiters: HashMap<String, RateLimiter>,
    pub stats: ApiStats,
}

/// What one attempt came to.
enum Attempt {
    Done,
    Transient {
        what: String,
        retry_after: Option<Duration>,
    },
}

impl Api {
    pub fn new(cfg: ApiConfig) -> Result<Api> {
        let client = reqwest::Client::builder()
            .user_agent(concat!(
                "compliance-archive-fetch/",
                env!("CARGO_PKG_VERSION")
            ))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(cfg.timeout)
            .build()
            .map_err(|e| Failure::usage(format!("building the HTTP client: {e}")))?;
        Ok(Api {
            client,
            cfg,
            limiters: HashMap::new(),
            stats: ApiStats::default(),
        })
    }

    /// GET `url`, paced on the limiter of `route`, streaming a 2xx body into
    /// `sink`; retries transient failures, fails fast on 401/403/404.
    pub async fn get(&mut self, route: &str, url: &Url, sink: &mut dyn BodySink) -> Result<()> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            self.pace(route).await;
            let started = Instant::now();
            self.stats.requests += 1;
            self.stats.recent.push_back(started);
            let outcome = self.attempt(url, sink).await;
            let (what, retry_after) = match outcome {
                Ok(Attempt::Done) => {
                    self.debug(url, "ok", started, attempts);
                    return Ok(());
                }
                Ok(Attempt::Transient { what, retry_after }) => (what, retry_after),
                Err(e) => {
                    self.debug(url, "failed", started, attempts);
                    return Err(e);
                }
            };
            self.debug(url, &what, started, attempts);
            if !self.cfg.backoff.may_retry(attempts) {
                return Err(Failure::remote(format!(
                    "GET {}: {what} (gave up after {attempts} attempts)",
                    redact_url(url)
                )));
            }
            let wait = match retry_after {
                Some(w) => w.min(self.cfg.max_wait),
                None => self.cfg.backoff.delay(attempts - 1),
            };
            if retry_after.is_some() {
                self.limiter(route).hold_until(Instant::now() + wait);
            }
            self.stats.retries += 1;
            eprintln!(
                "fetch: retrying GET {} in {:.1}s: {what}",
                redact_url(url),
                wait.as_secs_f64()
            );
            self.stats.waited += wait;
            tokio::time::sleep(wait).await;
        }
    }

    /// One request. `Err` is final (no retry); `Transient` may be retried.
    async fn attempt(&mut self, url: &Url, sink: &mut dyn BodySink) -> Result<Attempt> {
        let resp = match self
            .client
            .get(url.clone())
            .bearer_auth(&self.cfg.key)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Ok(Attempt::Transient {
                    what: describe_transport(&e),
                    retry_after: None,
                })
            }
        };
        let status = resp.status();
        let redirected = resp.url() != url;
        if status.is_success() {
            return self.stream_body(resp, sink).await;
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = self.redact(&first_bytes(resp, 300).await);
        let code = status.as_u16();
        if code == 429 {
            self.stats.rate_limited += 1;
        }
        let what = format!("HTTP {status}: {body}");
        // A signed download link that expired answers 403/404/410 at its own
        // URL; asking the API again gives a fresh link.
        let expired_link = redirected && matches!(code, 401 | 403 | 404 | 410);
        if code == 429 || code == 408 || status.is_server_error() || expired_link {
            return Ok(Attempt::Transient { what, retry_after });
        }
        let shown = redact_url(url);
        Err(match code {
            401 => Failure::usage(format!(
                "GET {shown}: HTTP 401, the API key was refused: {body}\n\
                 hint: {}",
                self.key_hint()
            )),
            403 => Failure::usage(format!(
                "GET {shown}: HTTP 403, the key is not allowed here: {body}\n\
                 hint: {}",
                match self.cfg.kind {
                    KeyKind::Compliance => "the key needs the Compliance API `read` scope for this workspace (ask OpenAI support to grant it), or the workspace id is not this key's",
                    KeyKind::Admin => "audit logs need an organisation admin key (sk-admin-…) and audit logging enabled in the organisation settings",
                }
            )),
            404 => Failure::usage(format!(
                "GET {shown}: HTTP 404: {body}\n\
                 hint: check --workspace-id (an id starting with org- uses /organizations/) and --base-url \
                 (compliance: https://api.chatgpt.com/v1, audit logs: https://api.openai.com/v1)"
            )),
            400 | 422 => Failure::usage(format!(
                "GET {shown}: HTTP {code}, the server refused the request parameters: {body}"
            )),
            _ => Failure::remote(format!("GET {shown}: {what}")),
        })
    }

    async fn stream_body(
        &mut self,
        mut resp: reqwest::Response,
        sink: &mut dyn BodySink,
    ) -> Result<Attempt> {
        sink.begin()?;
        loop {
            match resp.chunk().await {
                Ok(Some(bytes)) => sink.chunk(&bytes)?,
                Ok(None) => break,
                Err(e) => {
                    return Ok(Attempt::Transient {
                        what: format!("the body broke off: {}", describe_transport(&e)),
                        retry_after: None,
                    })
                }
            }
        }
        match sink.end() {
            Ok(()) => Ok(Attempt::Done),
            Err(e) if e.downcast_ref::<Retryable>().is_some() => Ok(Attempt::Transient {
                what: format!("{e:#}"),
                retry_after: None,
            }),
            Err(e) => Err(e),
        }
    }

    fn key_hint(&self) -> &'static str {
        match self.cfg.kind {
            KeyKind::Compliance => "set OPENAI_API_KEY (or --api-key-file) to a Compliance API key, and check --base-url",
            KeyKind::Admin => "set OPENAI_ADMIN_KEY (or --api-key-file) to an organisation admin key, and check --base-url",
        }
    }

    fn limiter(&mut self, route: &str) -> &mut RateLimiter {
        let per_minute = if route.ends_with("download") {
            self.cfg.download_per_minute
        } else {
            self.cfg.per_minute
        };
        self.limiters
            .entry(route.to_string())
            .or_insert_with(|| RateLimiter::new(per_minute))
    }

    async fn pace(&mut self, route: &str) {
        let wait = self.limiter(route).reserve(Instant::now());
        if !wait.is_zero() {
            self.stats.waited += wait;
            tokio::time::sleep(wait).await;
        }
    }

    fn debug(&self, url: &Url, what: &str, started: Instant, attempt: u32) {
        if self.cfg.debug {
            eprintln!(
                "fetch: debug: GET {} -> {} ({} ms, attempt {attempt})",
                redact_url(url),
                what,
                started.elapsed().as_millis()
            );
        }
    }

    /// Remove the key from text that came back from the server.
    fn redact(&self, text: &str) -> String {
        if self.cfg.key.len() >= 4 {
            text.replace(&self.cfg.key, "[redacted]")
        } else {
            text.to_string()
        }
    }
}

/// URLs carry no secrets (the key is a header), but user info would be one.
pub fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("");
        let _ = u.set_password(None);
    }
    u.to_string()
}

/// `Retry-After` is either delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs));
        }
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Up to `limit` bytes of an error body, as text on one line.
async fn first_bytes(mut resp: reqwest::Response, limit: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < limit {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    let cut = buf.len() > limit;
    buf.truncate(limit);
    let mut s = String::from_utf8_lossy(&buf).replace(['\n', '\r'], " ");
    if s.is_empty() {
        s = "(empty body)".into();
    }
    if cut {
        s.push('…');
    }
    s
}

fn describe_transport(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    // The error's source chain names the cause (reset, EOF) without the URL's secrets.
    let mut msg = kind.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
