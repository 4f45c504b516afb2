//! Builds the DynamoDB client from the SDK's standard environment (`AWS_REGION`,
//! credentials chain, `AWS_ENDPOINT_URL_DYNAMODB` for a local DynamoDB; empty means unset).
//! Nothing here touches the network: credentials are resolved on first use.

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_types::service_config::ServiceConfigKey;

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

/// The roots AWS service endpoints' certificates chain to: Amazon Trust Services' Amazon
/// Root CA 1–4 and Starfield Services Root G2, which cross-signs them (PEM, from Debian's
/// ca-certificates). DynamoDB, STS and the SSO portal all serve ATS certificates.
const AMAZON_TRUST_SERVICES: &str = include_str!("amazon-trust-services.pem");

/// What a TLS connection trusts. By default only the roots above, compiled in: the
/// platform's store (rustls-native-certs) reads and parses every file under
/// /etc/ssl/certs when the client is built, most of the functions' init then. A
/// deployment whose endpoint presents another chain (a TLS-inspecting proxy, a private
/// endpoint with its own CA) sets `SSL_CERT_FILE` or `SSL_CERT_DIR`, and then the platform's
/// store is used, read from those as OpenSSL reads them.
fn trust_store(platform_requested: bool) -> TrustStore {
    if platform_requested {
        TrustStore::empty().with_native_roots(true)
    } else {
        TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES)
    }
}

fn platform_roots_requested() -> bool {
    ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// HTTPS on rustls with the `ring` provider: one TLS stack, smaller than aws-lc.
fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    let context = TlsContext::builder()
        .with_trust_store(trust_store(platform_roots_requested()))
        .build()
        // Only an invalid extra server name fails here, and none is given.
        .unwrap_or_default();
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https();
    aws_sdk_dynamodb::config::SharedHttpClient::new(BuiltOnce(client))
}

/// The SDK's HTTPS client, minus its start-up check. When a service client is built,
/// `validate_base_client_config` builds a whole connector (the rustls configuration, every
/// trusted root decoded from PEM) and throws it away, "so that native certs load at client
/// initialization"; the connector used is built again, and cached, at the first request.
/// That first build was a tenth of a cold start's instructions (callgrind: 240,000 of
/// 2.3 million, process start to first response). Without the check the connector is built
/// once, at the first request; a bad trust store would fail there, as it does anyway.
#[derive(Debug)]
struct BuiltOnce(aws_sdk_dynamodb::config::SharedHttpClient);

impl HttpClient for BuiltOnce {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The SDK's standard configuration chain with this project's HTTP client, time-outs
/// and retry policy. Tests add an endpoint and static credentials to it.
pub fn config_loader() -> ConfigLoader {
    from_environment_first(standard_loader(), |name| std::env::var(name).ok())
}

/// Where the environment already holds the region and the credentials — always on Lambda,
/// which sets AWS_REGION and the execution role's keys — the loader is given them
/// directly. The default chains would pick exactly these first, but building them
/// constructs the providers behind (profile files, IMDS, and STS clients for web identity
/// and SSO, each parsing its partition table), init CPU every cold start. Without
/// them, the standard chains decide as before (a profile, SSO, a container's role).
fn from_environment_first(loader: ConfigLoader, env: impl Fn(&str) -> Option<String>) -> ConfigLoader {
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let loader = match set("AWS_REGION").or_else(|| set("AWS_DEFAULT_REGION")) {
        Some(region) => loader.region(Region::new(region)),
        None => loader,
    };
    if set("AWS_ACCESS_KEY_ID").is_some() && set("AWS_SECRET_ACCESS_KEY").is_some() {
        loader.credentials_provider(EnvironmentVariableCredentialsProvider::new())
    } else {
        loader
    }
}

fn standard_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(timeouts())
        .retry_config(retries())
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// The functions' SDK configuration: [`config_loader`]'s.
pub async fn load_sdk_config() -> SdkConfig {
    config_loader().load().await
}

pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(dynamodb_config(config))
}

/// The client's configuration: the SDK's, except that an endpoint URL configured as the
/// empty string counts as not configured. The SDK takes `AWS_ENDPOINT_URL_DYNAMODB=""` (or
/// `AWS_ENDPOINT_URL=""`) as the endpoint "" and panics building the first request ("URL
/// was unset"; with the functions' `panic = "abort"`, the process dies). The template
/// declares the variable empty so that `sam local invoke --env-vars` can set it, and the
/// deployed functions run with it empty.
pub fn dynamodb_config(config: &SdkConfig) -> aws_sdk_dynamodb::Config {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(config);
    // The lookup the SDK made (service variable, then the global one, then the profile),
    // unless the endpoint was set in code, which the SDK takes as it is.
    let configured = || {
        let key = ServiceConfigKey::builder()
            .service_id("DynamoDB")
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .ok()?;
        config.service_config()?.load_config(key)
    };
    if !config.get_origin("endpoint_url").is_client_config()
        && configured().is_some_and(|url| url.trim().is_empty())
    {
        // What the SDK falls back to without a DynamoDB endpoint: the global one, if any.
        let global = config.endpoint_url().filter(|url| !url.trim().is_empty());
        builder.set_endpoint_url(global.map(str::to_string));
    }
    builder.build()
}

#[cfg(test)]
mod environment_first {
    use super::*;

    fn lambda_environment(name: &str) -> Option<String> {
        match name {
            "AWS_REGION" => Some("eu-west-1".into()),
            "AWS_DEFAULT_REGION" => Some("us-east-1".into()),
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".into()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn lambdas_environment_gives_the_region_and_the_credentials_provider() {
        let config = from_environment_first(standard_loader(), lambda_environment)
            .load()
            .await;
        assert_eq!(
            config.region().map(|r| r.as_ref()),
            Some("eu-west-1"),
            "AWS_REGION first"
        );
        let provider = format!("{:?}", config.credentials_provider());
        assert!(
            provider.contains("EnvironmentVariableCredentialsProvider"),
            "{provider}"
        );
        assert!(!provider.contains("DefaultCredentialsChain"), "{provider}");
    }

    #[tokio::test]
    async fn without_keys_the_standard_chain_decides() {
        let only_region = |name: &str| match name {
            "AWS_DEFAULT_REGION" => Some("us-east-1".into()),
            "AWS_ACCESS_KEY_ID" => Some(" ".into()),
            _ => None,
        };
        let config = from_environment_first(standard_loader(), only_region)
            .load()
            .await;
        assert_eq!(config.region().map(|r| r.as_ref()), Some("us-east-1"));
        let provider = format!("{:?}", config.credentials_provider());
        assert!(provider.contains("DefaultCredentialsChain"), "{provider}");
    }
}

#[cfg(test)]
mod trust {
    use super::*;

    #[test]
    fn the_compiled_in_roots_are_the_five_amazon_trust_services_roots() {
        assert_eq!(
            AMAZON_TRUST_SERVICES
                .matches("-----BEGIN CERTIFICATE-----")
                .count(),
            5
        );
        assert_eq!(
            AMAZON_TRUST_SERVICES.matches("-----END CERTIFICATE-----").count(),
            5
        );
    }

    #[test]
    fn the_platform_store_only_when_a_certificate_variable_asks_for_it() {
        let amazon = format!("{:?}", trust_store(false));
        assert!(amazon.contains("enable_native_roots: false"), "{amazon}");
        let platform = format!("{:?}", trust_store(true));
        assert!(platform.contains("enable_native_roots: true"), "{platform}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
    use aws_sdk_dynamodb::config::{ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
    use aws_types::service_config::LoadServiceConfig;

    use super::*;

    /// The SDK's service configuration as the environment gives it: `AWS_ENDPOINT_URL_DYNAMODB`
    /// (or the global `AWS_ENDPOINT_URL`) set to `value`.
    #[derive(Debug)]
    struct EndpointVariable(&'static str);

    impl LoadServiceConfig for EndpointVariable {
        fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
            (key.env() == "AWS_ENDPOINT_URL").then(|| self.0.to_string())
        }
    }

    /// Records the URL of the request about to be sent, then stops it: nothing leaves the
    /// process.
    #[derive(Debug, Default, Clone)]
    struct CaptureUrl(Arc<Mutex<Option<String>>>);

    impl Intercept for CaptureUrl {
        fn name(&self) -> &'static str {
            "CaptureUrl"
        }

        fn read_before_transmit(
            &self,
            context: &BeforeTransmitInterceptorContextRef<'_>,
            _: &RuntimeComponents,
            _: &mut ConfigBag,
        ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
            *self.0.lock().unwrap() = Some(context.request().uri().to_string());
            Err("stopped before sending".into())
        }
    }

    fn sdk_config(endpoint_variable: Option<&'static str>) -> SdkConfig {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .http_client(https_client())
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                credentials,
            ));
        match endpoint_variable {
            Some(value) => builder.service_config(EndpointVariable(value)).build(),
            None => builder.build(),
        }
    }

    /// Where a GetItem through this configuration goes: its URL, or the error that stopped
    /// it before it had one.
    async fn destination(config: aws_sdk_dynamodb::Config) -> Result<String, String> {
        let capture = CaptureUrl::default();
        let config = config.to_builder().interceptor(capture.clone()).build();
        let error = aws_sdk_dynamodb::Client::from_conf(config)
            .get_item()
            .table_name("t")
            .send()
            .await
            .expect_err("the interceptor stops every request");
        let url = capture.0.lock().unwrap().take();
        url.ok_or_else(|| format!("{:?}", aws_sdk_dynamodb::error::DisplayErrorContext(error)))
    }

    /// Why `dynamodb_config` exists: the SDK's own configuration panics on the first request.
    #[tokio::test]
    #[should_panic(expected = "URL was unset")]
    async fn the_sdk_takes_an_empty_endpoint_variable_as_the_endpoint() {
        let plain = aws_sdk_dynamodb::Config::from(&sdk_config(Some("")));
        let _ = destination(plain).await;
    }

    #[tokio::test]
    async fn an_empty_endpoint_variable_means_the_regional_endpoint() {
        for empty in ["", " "] {
            let url = destination(dynamodb_config(&sdk_config(Some(empty)))).await;
            assert_eq!(url.as_deref(), Ok("https://dynamodb.us-east-1.amazonaws.com/"));
        }
        let url = destination(dynamodb_config(&sdk_config(None))).await;
        assert_eq!(url.as_deref(), Ok("https://dynamodb.us-east-1.amazonaws.com/"));
    }

    #[tokio::test]
    async fn a_set_endpoint_variable_is_the_endpoint() {
        let url = destination(dynamodb_config(&sdk_config(Some("http://172.17.0.1:8000")))).await;
        assert_eq!(url.as_deref(), Ok("http://172.17.0.1:8000/"));
    }
}
