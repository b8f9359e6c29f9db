//! The HTTP side: one client, the bearer key (never printed), a pacing
//! limiter per endpoint, retries with full-jitter backoff and `Retry-After`,
//! an idle timeout and an overall deadline per request, the redirect rules,
//! and the classification of failures into exit codes.
//!
//! Bodies are streamed into a [`BodySink`]; a body that breaks off half way
//! (or that the sink finds malformed) is retried from the start, so a sink
//! forgets a failed attempt in [`BodySink::begin`].
//!
//! Redirects are followed here, never by the HTTP library: an API request
//! follows one only within its own origin; the log download
//! ([`Api::download`]) follows its signed URL to https (or to plain http
//! on a loopback address, for tests) without the key and without a
//! `Referer`.

use crate::model::{KeyKind, RequestPolicy};
use crate::ratelimit::RateLimiter;
use crate::redact::{excerpt, redact};
use anyhow::Result;
use archive_core::Failure;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};
use url::Url;

/// Redirect hops one request may take.
const MAX_REDIRECTS: usize = 5;

/// Bytes of an error body shown in a message.
const ERROR_EXCERPT: usize = 300;

/// Receives a response body in pieces.
pub trait BodySink {
    /// A new attempt starts: drop anything a failed attempt delivered.
    fn begin(&mut self) -> Result<()>;
    /// The next bytes. A [`Retryable`] error abandons this attempt.
    fn chunk(&mut self, bytes: &[u8]) -> Result<()>;
    /// The body ended. Return a [`Retryable`] error when it is incomplete
    /// or fails a check that a fresh download may pass.
    fn end(&mut self) -> Result<()>;
}

/// An error that another attempt may cure (truncated or malformed body,
/// checksum mismatch).
#[derive(Debug)]
pub struct Retryable(pub String);

impl std::fmt::Display for Retryable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Retryable {}

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

pub struct Api {
    client: reqwest::Client,
    key: String,
    kind: KeyKind,
    cfg: RequestPolicy,
    limiters: HashMap<String, RateLimiter>,
    pub stats: ApiStats,
}

/// How a download that may be gone ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Done,
    /// The API itself (not the signed URL) answered 404 or 410.
    Gone {
        status: u16,
        body: String,
    },
}

/// What one attempt came to.
enum Attempt {
    Done,
    Gone {
        status: u16,
        body: String,
    },
    Transient {
        what: String,
        retry_after: Option<Duration>,
    },
}

/// Which redirects a request follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Follow {
    /// An API request: only within its own origin, with the key.
    SameOrigin,
    /// The log download: to its signed URL (https, or http on loopback),
    /// without the key.
    SignedUrl,
}

/// A response, and whether a redirect led to it.
struct Opened {
    resp: reqwest::Response,
    redirected: bool,
}

impl Api {
    pub fn new(key: String, kind: KeyKind, cfg: RequestPolicy) -> Result<Api> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!(
                "compliance-archive-fetch/",
                env!("CARGO_PKG_VERSION")
            ))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(cfg.idle_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .referer(false);
        if let Some(path) = &cfg.ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| Failure::usage(format!("--ca-cert {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Failure::usage(format!(
                    "--ca-cert {}: not PEM certificates: {e}",
                    path.display()
                ))
            })?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let client = builder
            .build()
            .map_err(|e| Failure::usage(format!("building the HTTP client: {e}")))?;
        Ok(Api {
            client,
            key,
            kind,
            cfg,
            limiters: HashMap::new(),
            stats: ApiStats::default(),
        })
    }

    /// GET an API `url`, paced on the limiter of `route`, streaming a 2xx
    /// body into `sink`; retries transient failures, fails fast on
    /// 401/403/404 and on a redirect off the API's origin.
    pub async fn get(&mut self, route: &str, url: &Url, sink: &mut dyn BodySink) -> Result<()> {
        self.fetch(route, url, sink, Follow::SameOrigin, false)
            .await
            .map(|_| ())
    }

    /// GET a log file: `url` answers with a redirect to a signed URL, which
    /// is fetched without the key.
    pub async fn download(
        &mut self,
        route: &str,
        url: &Url,
        sink: &mut dyn BodySink,
    ) -> Result<()> {
        self.fetch(route, url, sink, Follow::SignedUrl, false)
            .await
            .map(|_| ())
    }

    /// GET an uploaded file like a log file (307 to a signed URL, fetched
    /// without the key), except that a 404 or 410 from the API itself is
    /// an answer, not an error: the file is gone upstream.
    pub async fn download_file(
        &mut self,
        route: &str,
        url: &Url,
        sink: &mut dyn BodySink,
    ) -> Result<Fetched> {
        self.fetch(route, url, sink, Follow::SignedUrl, true).await
    }

    async fn fetch(
        &mut self,
        route: &str,
        url: &Url,
        sink: &mut dyn BodySink,
        follow: Follow,
        gone_ok: bool,
    ) -> Result<Fetched> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            self.pace(route).await;
            let started = Instant::now();
            self.stats.requests += 1;
            self.stats.recent.push_back(started);
            let deadline = self.cfg.deadline;
            let outcome = match tokio::time::timeout(
                deadline,
                self.attempt(url, sink, follow, gone_ok),
            )
            .await
            {
                Ok(o) => o,
                Err(_) => Ok(Attempt::Transient {
                    what: format!(
                        "no complete answer within --deadline {}s",
                        deadline.as_secs_f64()
                    ),
                    retry_after: None,
                }),
            };
            let (what, retry_after) = match outcome {
                Ok(Attempt::Done) => {
                    self.debug(url, "ok", started, attempts);
                    return Ok(Fetched::Done);
                }
                Ok(Attempt::Gone { status, body }) => {
                    self.debug(url, "gone", started, attempts);
                    return Ok(Fetched::Gone { status, body });
                }
                Ok(Attempt::Transient { what, retry_after }) => (redact(&what), retry_after),
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

    /// Send the request and follow the redirects `follow` allows.
    async fn open(&self, url: &Url, follow: Follow) -> Result<Result<Opened, String>> {
        let mut current = url.clone();
        let mut with_key = true;
        for hop in 0..=MAX_REDIRECTS {
            let mut req = self.client.get(current.clone());
            if with_key {
                req = req.bearer_auth(&self.key);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => return transport_failure(&current, &e).map(Err),
            };
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| current.join(l).ok());
            let Some(next) = location.filter(|_| resp.status().is_redirection()) else {
                return Ok(Ok(Opened {
                    resp,
                    redirected: hop > 0,
                }));
            };
            let status = resp.status();
            let shown = redact_url(&next);
            match follow {
                Follow::SameOrigin if next.origin() != current.origin() => {
                    return Err(Failure::usage(format!(
                        "GET {}: HTTP {status} redirects to {shown}, {}; API requests never follow a redirect off their origin
                         hint: check --base-url (the API's https address)",
                        redact_url(&current),
                        if current.scheme() == "https" && next.scheme() != "https" {
                            "a downgrade to plain http"
                        } else {
                            "another origin"
                        }
                    )));
                }
                Follow::SignedUrl if !may_download_from(&next) => {
                    return Err(Failure::remote(format!(
                        "GET {}: HTTP {status} redirects the download to {shown}, which is neither https nor a loopback address; not followed",
                        redact_url(&current)
                    )));
                }
                Follow::SignedUrl => with_key = false,
                Follow::SameOrigin => {}
            }
            current = next;
        }
        Err(Failure::remote(format!(
            "GET {}: more than {MAX_REDIRECTS} redirects",
            redact_url(url)
        )))
    }

    /// One request. `Err` is final (no retry); `Transient` may be retried.
    async fn attempt(
        &mut self,
        url: &Url,
        sink: &mut dyn BodySink,
        follow: Follow,
        gone_ok: bool,
    ) -> Result<Attempt> {
        let Opened { resp, redirected } = match self.open(url, follow).await? {
            Ok(o) => o,
            Err(what) => {
                return Ok(Attempt::Transient {
                    what,
                    retry_after: None,
                })
            }
        };
        let status = resp.status();
        if status.is_success() {
            return self.stream_body(resp, sink).await;
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = first_bytes(resp, ERROR_EXCERPT).await;
        let code = status.as_u16();
        if code == 429 {
            self.stats.rate_limited += 1;
        }
        if gone_ok && !redirected && matches!(code, 404 | 410) {
            return Ok(Attempt::Gone { status: code, body });
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
                match self.kind {
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
        let transient = |what: String| {
            Ok(Attempt::Transient {
                what,
                retry_after: None,
            })
        };
        sink.begin()?;
        loop {
            match resp.chunk().await {
                Ok(Some(bytes)) => match sink.chunk(&bytes) {
                    Ok(()) => {}
                    Err(e) if e.downcast_ref::<Retryable>().is_some() => {
                        return transient(format!("{e:#}"))
                    }
                    Err(e) => return Err(e),
                },
                Ok(None) => break,
                Err(e) => {
                    return transient(format!("the body broke off: {}", describe_transport(&e)))
                }
            }
        }
        match sink.end() {
            Ok(()) => Ok(Attempt::Done),
            Err(e) if e.downcast_ref::<Retryable>().is_some() => transient(format!("{e:#}")),
            Err(e) => Err(e),
        }
    }

    fn key_hint(&self) -> &'static str {
        match self.kind {
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
                redact(what),
                started.elapsed().as_millis()
            );
        }
    }
}

/// A signed download URL may be https anywhere, or plain http on this
/// machine (the tests' mock); never plain http across a network.
fn may_download_from(url: &Url) -> bool {
    match (url.scheme(), url.host()) {
        ("https", _) => true,
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Domain(d))) => d.eq_ignore_ascii_case("localhost"),
        _ => false,
    }
}

/// A failed send: a certificate the client refuses is a configuration
/// error (retrying cannot help); anything else may pass on another attempt.
fn transport_failure(url: &Url, e: &reqwest::Error) -> Result<String> {
    let what = describe_transport(e);
    let lower = what.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") {
        return Err(Failure::usage(format!(
            "GET {}: TLS: the server's certificate was refused: {what}\n\
             hint: check the host name in --base-url; a TLS proxy or private CA needs --ca-cert FILE (PEM)",
            redact_url(url)
        )));
    }
    Ok(what)
}

/// A URL for a message: user info removed, and masked like server text
/// (a cursor in it came from the server).
pub fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("");
        let _ = u.set_password(None);
    }
    redact(u.as_str())
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

/// Up to `limit` bytes of an error body, masked, on one line. A little
/// more is read than shown, so an echo of the key across the cut is
/// recognised before the cut.
async fn first_bytes(mut resp: reqwest::Response, limit: usize) -> String {
    let want = limit + 256;
    let mut buf = Vec::new();
    while buf.len() < want {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    buf.truncate(want);
    excerpt(&String::from_utf8_lossy(&buf), limit)
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
