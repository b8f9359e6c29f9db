//! Client construction: the standard AWS credential and region chain,
//! an optional endpoint (S3-compatible servers), timeouts, and the SDK's own
//! retries turned off so that [`crate::retry::RetryPolicy`] is the one place
//! that decides, counts and reports retries.

use archive_core::Failure;
use aws_config::{retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, Region};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::config::Builder;
use aws_sdk_s3::Client;
use std::time::Duration;

/// What a tool lets its user choose about the connection.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `--endpoint-url` / `AWS_ENDPOINT_URL`; path-style addressing is used
    /// with it, since S3-compatible servers rarely resolve bucket subdomains.
    pub endpoint: Option<String>,
    /// `--region`; else the chain (`AWS_REGION`, profile), else us-east-1.
    pub region: Option<String>,
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of an answer.
    pub read_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            endpoint: None,
            region: None,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
        }
    }
}

/// An S3 client. Credentials are resolved here, once, so that a machine
/// without any fails at once with a configuration error (exit 2) instead of
/// retrying every request as if S3 were down. Request checksums are sent
/// only when a caller computes them itself (ship sends its own SHA-256).
pub async fn build_client(opts: &ClientOptions) -> anyhow::Result<Client> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::disabled())
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(opts.connect_timeout)
                .read_timeout(opts.read_timeout)
                .build(),
        );
    if let Some(e) = &opts.endpoint {
        loader = loader.endpoint_url(e);
    }
    if let Some(r) = &opts.region {
        loader = loader.region(Region::new(r.clone()));
    }
    let shared = loader.load().await;
    use aws_credential_types::provider::error::CredentialsError;
    let creds = match shared.credentials_provider() {
        Some(p) => p.provide_credentials().await.map_err(|e| match e {
            // No source had any: the list of sources tried says nothing more.
            CredentialsError::CredentialsNotLoaded(_) => {
                "tried the environment, the profile files, web identity, ECS and EC2 instance metadata".to_string()
            }
            other => crate::retry::display_chain(&other),
        }),
        None => Err("no credential provider configured".to_string()),
    };
    if let Err(e) = creds {
        return Err(Failure::usage(format!(
            "no AWS credentials found ({e}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
             AWS_PROFILE, or run with an instance or task role"
        )));
    }
    let mut conf = Builder::from(&shared);
    if opts.endpoint.is_some() {
        conf = conf.force_path_style(true);
    }
    if shared.region().is_none() {
        // S3 needs some region to sign with; us-east-1 is what the CLI assumes.
        conf = conf.region(Region::new("us-east-1"));
    }
    Ok(Client::from_conf(conf.build()))
}

/// A current-thread-free runtime for tools whose work is otherwise
/// synchronous (manifest verify, restore): two worker threads are plenty
/// for request concurrency, which is bounded by the callers.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}
