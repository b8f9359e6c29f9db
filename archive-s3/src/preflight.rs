//! Failing fast, with a hint: a missing bucket, rejected credentials, a
//! wrong region or a denied request is one message naming the bucket, what
//! is wrong and what to do, and exit 2, the same in ship, ship lifecycle
//! and manifest verify. [`check_bucket`] makes the one request that tells
//! (a LIST of at most one key, not retried); [`explain`] turns the first
//! configuration failure of any request into that message.

use crate::retry::{classify, S3Failure};
use crate::ClientOptions;
use archive_core::Failure;
use aws_sdk_s3::Client;

/// A bucket and where requests for it go, for messages.
#[derive(Debug, Clone)]
pub struct Place {
    pub bucket: String,
    /// The endpoint (`--endpoint-url`) or AWS's for the region.
    pub at: String,
    pub region: String,
}

impl Place {
    pub fn new(bucket: &str, opts: &ClientOptions, client: &Client) -> Place {
        let region = client
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        let at = match &opts.endpoint {
            Some(e) => e.clone(),
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        Place {
            bucket: bucket.to_string(),
            at,
            region,
        }
    }
}

/// What [`check_bucket`] learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The bucket exists and these credentials may list it.
    Listed,
    /// Not conclusive: listing was denied (credentials that may write but
    /// not list, as an archiver's often are) or S3 did not answer; the
    /// first real request will tell.
    Unknown(String),
}

/// One ListObjectsV2 (at most one key, at the bucket's root: moto under
/// IAM mis-signs a prefix with a `/`), one attempt. A missing bucket,
/// rejected credentials or a wrong region end the run here (exit 2,
/// [`explain`]'s message); a denied listing or no answer does not.
pub async fn check_bucket(client: &Client, place: &Place) -> anyhow::Result<Checked> {
    let sent = client
        .list_objects_v2()
        .bucket(&place.bucket)
        .max_keys(1)
        .send()
        .await;
    let f = match sent {
        Ok(_) => return Ok(Checked::Listed),
        Err(e) => classify("ListObjectsV2", &e),
    };
    let denied = f.code == "AccessDenied" || (f.code.is_empty() && f.status == Some(403));
    if denied || !f.is_configuration() {
        return Ok(Checked::Unknown(f.message));
    }
    Err(fail(&f, place, "s3:ListBucket"))
}

/// `f` as the error a run ends with: a configuration failure (exit 2) as
/// [`explain`]'s one line, anything else as it is (exit 4).
pub fn fail(f: &S3Failure, place: &Place, needs: &str) -> anyhow::Error {
    match explain(f, place, needs) {
        Some(message) => Failure::usage(message),
        None => f.clone().into_error(),
    }
}

/// The one-line message for a configuration failure (what is wrong, where,
/// what to do), or None when `f` is not one. `needs` names the permission
/// the failed request needs (`s3:PutObject on s3://b/p/*`).
pub fn explain(f: &S3Failure, place: &Place, needs: &str) -> Option<String> {
    if !f.is_configuration() {
        return None;
    }
    let (b, at) = (&place.bucket, &place.at);
    let code = match (f.code.as_str(), f.status) {
        ("", Some(403)) => "AccessDenied",
        ("", Some(404)) => "NoSuchBucket",
        ("", Some(301)) => "PermanentRedirect",
        (c, _) => c,
    };
    // The operation the message starts with ("PutObject: HTTP 403 …").
    let op = f.message.split(": ").next().unwrap_or_default();
    Some(match code {
        "NoSuchBucket" => format!(
            "bucket {b:?} does not exist (NoSuchBucket) at {at}; create it (aws s3 mb s3://{b}) or check the bucket name and --endpoint-url/--region"
        ),
        "AccessDenied" | "AllAccessDisabled" | "AccountProblem" => format!(
            "access denied to bucket {b:?} ({code}, {op}) at {at}; these credentials need {needs} (IAM or bucket policy), or check the bucket name"
        ),
        "InvalidAccessKeyId" => format!(
            "the AWS access key is not known at {at} (InvalidAccessKeyId, bucket {b:?}); check AWS_ACCESS_KEY_ID or AWS_PROFILE, and --endpoint-url"
        ),
        "SignatureDoesNotMatch" => format!(
            "the AWS secret key does not match the access key (SignatureDoesNotMatch) at {at}, bucket {b:?}; check AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        ),
        "ExpiredToken" | "InvalidToken" | "TokenRefreshRequired" => format!(
            "the AWS session credentials are expired or invalid ({code}) at {at}, bucket {b:?}; renew them (aws sso login, a new role session)"
        ),
        "PermanentRedirect" | "AuthorizationHeaderMalformed" | "IllegalLocationConstraintException" => format!(
            "bucket {b:?} is not in region {} ({code}) at {at}; pass --region with the bucket's region (aws s3api get-bucket-location --bucket {b})",
            place.region
        ),
        "InvalidBucketName" => format!(
            "bucket name {b:?} refused (InvalidBucketName) at {at}; check the s3:// URL"
        ),
        _ => format!(
            "{} at {at}, bucket {b:?}; check the bucket name, --endpoint-url/--region and the credentials",
            f.message
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn place() -> Place {
        Place {
            bucket: "acme".into(),
            at: "http://127.0.0.1:9000".into(),
            region: "us-east-1".into(),
        }
    }

    fn failure(status: u16, code: &str) -> S3Failure {
        S3Failure {
            kind: ErrorKind::Permanent,
            status: Some(status),
            code: code.into(),
            message: format!("PutObject: HTTP {status} {code}"),
        }
    }

    #[test]
    fn each_configuration_failure_says_what_to_do() {
        let m = explain(&failure(404, "NoSuchBucket"), &place(), "x").unwrap();
        assert!(
            m.contains("\"acme\" does not exist") && m.contains("aws s3 mb s3://acme"),
            "{m}"
        );
        assert!(m.contains("http://127.0.0.1:9000"), "{m}");
        let m = explain(&failure(403, ""), &place(), "s3:GetObject").unwrap();
        assert!(
            m.contains("AccessDenied, PutObject") && m.contains("s3:GetObject"),
            "{m}"
        );
        let m = explain(&failure(403, "InvalidAccessKeyId"), &place(), "x").unwrap();
        assert!(m.contains("AWS_ACCESS_KEY_ID"), "{m}");
        let m = explain(&failure(400, "AuthorizationHeaderMalformed"), &place(), "x").unwrap();
        assert!(m.contains("--region"), "{m}");
        assert!(explain(&failure(500, "InternalError"), &place(), "x").is_none());
        assert!(explain(&failure(400, "BadDigest"), &place(), "x").is_none());
    }
}
