//! Builds the DynamoDB client from the SDK's standard environment (`AWS_REGION`,
//! credentials chain, `AWS_ENDPOINT_URL_DYNAMODB` for a local DynamoDB). Nothing here
//! touches the network: credentials are resolved and TLS roots loaded on first use.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Connect time-out: a healthy regional endpoint connects in a few ms; an endpoint that
/// does not answer is better reported as 503 quickly than waited for.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// One attempt (request and response) of one operation.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// All attempts of one operation together, retries and back-off included. Kept well
/// inside the functions' 10 s Lambda timeout, even for a request that needs two operations.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(4);
/// The SDK's standard retry mode (exponential back-off with jitter, throttling aware).
pub const MAX_ATTEMPTS: u32 = 3;

/// HTTPS on rustls with the `ring` provider: one TLS stack, smaller than aws-lc.
fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The SDK's standard configuration chain with this project's HTTP client, time-outs
/// and retry policy. Tests add an endpoint and static credentials to it.
pub fn config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
}

pub async fn load_sdk_config() -> SdkConfig {
    config_loader().load().await
}

pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}
