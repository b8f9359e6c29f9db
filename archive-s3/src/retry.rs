//! Which S3 failures are worth another attempt, the retry loop, and the one
//! mapping from a failure to an exit code.
//!
//! Only transient failures are retried (5xx, SlowDown, timeouts, connection
//! errors and resets), with full-jitter backoff from `archive_core::retry`.

use archive_core::retry::Backoff;
use archive_core::Failure;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// How an S3 call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// 412 Precondition Failed: the object exists (If-None-Match: *) or has
    /// changed since it was read (If-Match).
    Exists,
    /// Worth retrying; `unreachable` when no HTTP answer came at all.
    Transient { unreachable: bool },
    /// Retrying will not help (403, 404, 400, ...).
    Permanent,
}

/// A failed S3 call: its kind, the HTTP status and S3 error code when an
/// answer came, and a message naming the operation (never credentials).
#[derive(Debug, Clone)]
pub struct S3Failure {
    pub kind: ErrorKind,
    pub status: Option<u16>,
    /// S3's error code (`AccessDenied`, `NoSuchKey`, …), empty when none.
    pub code: String,
    pub message: String,
}

impl S3Failure {
    /// A failure that did not come from S3 itself (a local read that broke
    /// mid-upload, a missing part list).
    pub fn local(kind: ErrorKind, message: impl Into<String>) -> S3Failure {
        S3Failure {
            kind,
            status: None,
            code: String::new(),
            message: message.into(),
        }
    }

    /// True for an answer that means "no such object".
    /// The object (or version) is absent. A missing bucket is not: it is a
    /// configuration error, and reading it as "no such object" would make
    /// a run think the archive is empty.
    pub fn is_not_found(&self) -> bool {
        self.code != "NoSuchBucket"
            && (self.status == Some(404) || self.code == "NoSuchKey" || self.code == "NotFound")
    }

    /// The exit code this failure ends a run with: configuration errors
    /// (denied, unknown bucket, bad credentials, wrong region) are 2,
    /// anything else 4. S3 refusing the bytes it received (BadDigest,
    /// InvalidDigest, a checksum mismatch) is not a configuration error:
    /// 4, like any remote failure.
    pub fn exit_code(&self) -> i32 {
        if self.is_configuration() {
            archive_core::exit::USAGE
        } else {
            archive_core::exit::REMOTE
        }
    }

    /// True for a failure the run's set-up causes (bucket, credentials,
    /// region, permissions), which no retry or later request fixes.
    pub fn is_configuration(&self) -> bool {
        if !matches!(self.kind, ErrorKind::Permanent) || REMOTE_CODES.contains(&self.code.as_str())
        {
            return false;
        }
        matches!(self.status, Some(400) | Some(401) | Some(403))
            || CONFIG_CODES.contains(&self.code.as_str())
    }

    /// As an `anyhow::Error` carrying the exit code of [`Self::exit_code`].
    pub fn into_error(self) -> anyhow::Error {
        if self.is_configuration() {
            Failure::usage(self.message)
        } else {
            Failure::remote(self.message)
        }
    }
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

/// S3 error codes that mean the run is set up wrong: no retry, exit 2.
const CONFIG_CODES: &[&str] = &[
    "AccessDenied",
    "AllAccessDisabled",
    "AccountProblem",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "NoSuchBucket",
    "InvalidBucketName",
    "AuthorizationHeaderMalformed",
    "PermanentRedirect",
    "IllegalLocationConstraintException",
];

/// 400 answers that are not the run's set-up: S3 received other bytes than
/// their checksum says (in transit, or a bug), or a multipart upload went
/// wrong. No retry (the request would be the same), exit 4.
const REMOTE_CODES: &[&str] = &[
    "BadDigest",
    "InvalidDigest",
    "XAmzContentSHA256Mismatch",
    "InvalidChecksum",
    "InvalidPart",
    "InvalidPartOrder",
    "EntityTooSmall",
    "NoSuchUpload",
    "IncompleteBody",
];

/// Classify an SDK error and describe it for humans.
pub fn classify<E>(op: &str, err: &SdkError<E, HttpResponse>) -> S3Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let mut code = String::new();
    let (kind, detail) = match err {
        SdkError::ServiceError(ctx) => {
            let meta = ctx.err();
            code = meta.code().unwrap_or("").to_string();
            let msg = meta.message().unwrap_or("");
            let kind = if status == Some(412) {
                ErrorKind::Exists
            } else if status.is_some_and(|s| s >= 500) || TRANSIENT_CODES.contains(&code.as_str()) {
                ErrorKind::Transient { unreachable: false }
            } else {
                ErrorKind::Permanent
            };
            let shown = status.map(|s| s.to_string()).unwrap_or_default();
            let detail = if code.is_empty() && msg.is_empty() {
                // No S3 error document (a HEAD answer): the status says it.
                let reason = status.map(reason_of).unwrap_or("no error document");
                format!("HTTP {shown} {reason}")
            } else {
                format!("HTTP {shown} {code} {msg}")
            };
            (kind, detail.trim().to_string())
        }
        SdkError::TimeoutError(_) => (
            ErrorKind::Transient { unreachable: true },
            "timed out".to_string(),
        ),
        SdkError::DispatchFailure(_) => (
            ErrorKind::Transient { unreachable: true },
            display_chain(err),
        ),
        // The connection broke while the answer was read (a reset), or the
        // answer could not be parsed (a proxy's HTML page): both transient.
        SdkError::ResponseError(_) => (
            ErrorKind::Transient { unreachable: false },
            display_chain(err),
        ),
        _ => (ErrorKind::Permanent, display_chain(err)),
    };
    S3Failure {
        kind,
        status,
        code,
        message: format!("{op}: {detail}"),
    }
}

/// An error and its sources, each by its Display text, joined with ": "
/// (a source whose text the previous one already holds is left out), on one
/// line. Never
/// the SDK's Debug output: that carries whole requests and responses.
pub fn display_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    // One line: some sources (the credential chain) list their attempts
    // on lines of their own.
    let joined = parts.join(": ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The reason phrase of the statuses S3 answers a HEAD with.
fn reason_of(status: u16) -> &'static str {
    match status {
        301 => "Moved Permanently (the bucket is in another region)",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "no error document",
    }
}

/// The retry policy of one run, and a count of the retries made.
pub struct RetryPolicy {
    pub backoff: Backoff,
    pub retries: AtomicU64,
    /// Prefix of the "retrying" lines on stderr (`ship`, `manifest verify`).
    tool: String,
}

impl RetryPolicy {
    pub fn new(tool: &str, backoff: Backoff) -> RetryPolicy {
        RetryPolicy {
            backoff,
            retries: AtomicU64::new(0),
            tool: tool.to_string(),
        }
    }

    /// Retries made so far.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
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
            let mut err = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            made += 1;
            let transient = matches!(err.kind, ErrorKind::Transient { .. });
            if !transient || made >= limit {
                if transient {
                    // The real count: one attempt is not "after retries".
                    let attempts = match made {
                        1 => "1 attempt, not retried".to_string(),
                        n => format!("after {n} attempts"),
                    };
                    err.message = format!("{} ({attempts})", err.message);
                }
                return Err(err);
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            let wait = self.backoff.delay(made - 1);
            eprintln!(
                "{}: retrying in {} ms: {}",
                self.tool,
                wait.as_millis(),
                err.message
            );
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(kind: ErrorKind, status: Option<u16>, code: &str) -> S3Failure {
        S3Failure {
            kind,
            status,
            code: code.into(),
            message: "op: x".into(),
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(
            failure(ErrorKind::Permanent, Some(403), "AccessDenied").exit_code(),
            2
        );
        assert_eq!(
            failure(ErrorKind::Permanent, Some(404), "NoSuchBucket").exit_code(),
            2
        );
        assert_eq!(
            failure(ErrorKind::Permanent, Some(404), "NoSuchKey").exit_code(),
            4
        );
        assert_eq!(
            failure(ErrorKind::Transient { unreachable: true }, None, "").exit_code(),
            4
        );
        // A 400 is the set-up's fault unless S3 says the bytes were wrong.
        assert_eq!(
            failure(ErrorKind::Permanent, Some(400), "InvalidArgument").exit_code(),
            2
        );
        for code in ["BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"] {
            assert_eq!(
                failure(ErrorKind::Permanent, Some(400), code).exit_code(),
                4
            );
        }
        let e = failure(ErrorKind::Permanent, Some(403), "").into_error();
        assert_eq!(archive_core::exit::exit_code(&e), 2);
        assert!(failure(ErrorKind::Permanent, Some(404), "").is_not_found());
    }

    #[tokio::test]
    async fn retries_only_transient_failures() {
        let policy = RetryPolicy::new(
            "test",
            Backoff {
                base: std::time::Duration::from_millis(1),
                cap: std::time::Duration::from_millis(2),
                max_attempts: 3,
            },
        );
        let calls = AtomicU64::new(0);
        let r: Result<(), _> = policy
            .run(5, || async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err(failure(
                    ErrorKind::Transient { unreachable: false },
                    Some(503),
                    "",
                ))
            })
            .await;
        assert_eq!(calls.load(Ordering::Relaxed), 3);
        assert!(r.unwrap_err().message.contains("after 3 attempts"));
        assert_eq!(policy.retries(), 2);
        calls.store(0, Ordering::Relaxed);
        let _ = policy
            .run(5, || async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err::<(), _>(failure(ErrorKind::Permanent, Some(403), "AccessDenied"))
            })
            .await;
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        // One attempt allowed (S3 found unreachable): said so, not "retries".
        let once = policy
            .run(1, || async {
                Err::<(), _>(failure(
                    ErrorKind::Transient { unreachable: true },
                    None,
                    "",
                ))
            })
            .await;
        assert!(once
            .unwrap_err()
            .message
            .ends_with("(1 attempt, not retried)"));
    }
}
