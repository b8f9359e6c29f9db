//! Which S3 failures are worth another attempt, and the retry loop.
//!
//! Only transient failures are retried (5xx, SlowDown, timeouts, connection
//! errors and resets), with full-jitter backoff from `archive_core::retry`.
//! The SDK's own retries are turned off so this is the one place that
//! decides, counts and reports them.

use archive_core::retry::Backoff;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// How an S3 call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// 412 Precondition Failed: the object exists (If-None-Match: *).
    Exists,
    /// Worth retrying; `unreachable` when no HTTP answer came at all.
    Transient { unreachable: bool },
    /// Retrying will not help (403, 404, 400, ...).
    Permanent,
}

/// A failed S3 call: its kind and a message naming the operation, the
/// HTTP status and the S3 error code (never credentials).
#[derive(Debug, Clone)]
pub struct S3Failure {
    pub kind: ErrorKind,
    pub message: String,
}

impl std::fmt::Display for S3Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for S3Failure {}

/// S3 error codes that mean "try again" whatever their status.
const TRANSIENT_CODES: &[&str] = &[
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeTooSkewed",
];

/// Classify an SDK error and describe it for humans.
pub fn classify<E>(op: &str, err: &SdkError<E, HttpResponse>) -> S3Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (kind, detail) = match err {
        SdkError::ServiceError(ctx) => {
            let meta = ctx.err();
            let code = meta.code().unwrap_or("");
            let msg = meta.message().unwrap_or("");
            let status = http_status(err);
            let kind = if status == Some(412) {
                ErrorKind::Exists
            } else if status.is_some_and(|s| s >= 500) || TRANSIENT_CODES.contains(&code) {
                ErrorKind::Transient { unreachable: false }
            } else {
                ErrorKind::Permanent
            };
            let status = status.map(|s| s.to_string()).unwrap_or_default();
            let detail = if code.is_empty() && msg.is_empty() {
                // No S3 error document: say what the SDK saw instead.
                format!("HTTP {status} {}", DisplayErrorContext(err))
            } else {
                format!("HTTP {status} {code} {msg}")
            };
            (kind, detail.trim().to_string())
        }
        SdkError::TimeoutError(_) => (
            ErrorKind::Transient { unreachable: true },
            "timed out".to_string(),
        ),
        SdkError::DispatchFailure(_) => (
            ErrorKind::Transient { unreachable: true },
            format!("{}", DisplayErrorContext(err)),
        ),
        // The connection broke while the answer was read (a reset), or the
        // answer could not be parsed (a proxy's HTML page): both transient.
        SdkError::ResponseError(_) => (
            ErrorKind::Transient { unreachable: false },
            format!("{}", DisplayErrorContext(err)),
        ),
        _ => (
            ErrorKind::Permanent,
            format!("{}", DisplayErrorContext(err)),
        ),
    };
    S3Failure {
        kind,
        message: format!("{op}: {detail}"),
    }
}

fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// The retry policy of one run, and a count of the retries made.
pub struct RetryPolicy {
    pub backoff: Backoff,
    pub retries: AtomicU64,
}

impl RetryPolicy {
    pub fn new(backoff: Backoff) -> RetryPolicy {
        RetryPolicy {
            backoff,
            retries: AtomicU64::new(0),
        }
    }

    /// Run `call` until it succeeds, fails permanently, or the attempts
    /// allowed (`max_attempts`, capped by the policy) are used up.
    pub async fn run<T, F, Fut>(&self, max_attempts: u32, mut call: F) -> Result<T, S3Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, S3Failure>>,
    {
        let limit = max_attempts.clamp(1, self.backoff.max_attempts.max(1));
        let mut made = 0u32;
        loop {
            let err = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            made += 1;
            let transient = matches!(err.kind, ErrorKind::Transient { .. });
            if !transient || made >= limit {
                if transient && made > 1 {
                    return Err(S3Failure {
                        kind: err.kind,
                        message: format!("{} (after {made} attempts)", err.message),
                    });
                }
                return Err(err);
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            let wait = self.backoff.delay(made - 1);
            eprintln!("ship: retrying in {} ms: {}", wait.as_millis(), err.message);
            tokio::time::sleep(wait).await;
        }
    }
}
