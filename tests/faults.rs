//! DynamoDB faults, injected by a small endpoint in front of DynamoDB Local (`harness/faults.rs`),
//! with the functions' production client: its time-outs and standard retries. Throttling
//! that passes is invisible (200); throttling that persists, an endpoint that hangs,
//! drops connections or is down are a 503 with `Retry-After`, well inside the 10 s
//! Lambda timeout, and the body never carries SDK text, connection errors or the table.

use std::time::{Duration, Instant};

use aws_config::Region;
use aws_sdk_dynamodb::config::Credentials;
use integration_tests::apigw::{Reply, event, invoke};
use integration_tests::faults::{Fault, FaultyEndpoint, refused_url};
use integration_tests::{dynamodb, seeded_app};
use serde_json::json;
use shared::http::App;
use shared::{Store, client};
use tokio::sync::OnceCell;

/// The demo data in DynamoDB Local, shared by the tests here.
async fn demo() -> &'static App {
    static APP: OnceCell<App> = OnceCell::const_new();
    APP.get_or_init(|| seeded_app("faults", &[])).await
}

/// The demo app, but talking to DynamoDB through `endpoint` with the production client
/// configuration (`shared::client::config_loader`: time-outs, retry mode and attempts).
async fn app_via(endpoint: &str) -> App {
    let demo = demo().await;
    let sdk = client::config_loader()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await;
    App {
        store: Store::new(client::dynamodb_client(&sdk), demo.store.table_name()),
        config: demo.config.clone(),
    }
}

const REQUESTS: [&str; 3] = [
    "/api/get-conversations.php?status=pending_human",
    "/api/conversations/1/messages?limit=5",
    "/api/get-conversation-messages.php?id=1&offset=20&limit=5",
];

async fn timed(app: &App, url: &str) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = invoke(app, &event("GET", url)).await;
    let took = started.elapsed();
    println!("{url}: {} in {took:?}", reply.status);
    (reply, took)
}

/// The contract's 503: generic detail, `Retry-After`, nothing of the cause.
fn assert_unavailable(reply: &Reply, table: &str) {
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.body["success"], json!(false));
    assert_eq!(reply.body["code"], json!("unavailable"));
    let text = reply.body.to_string().to_lowercase();
    for leak in [
        table.to_lowercase().as_str(),
        "throughput",
        "dynamodb",
        "dispatch",
        "timeout",
        "timed out",
        "connection",
        "127.0.0.1",
        "sdk",
        "panicked",
        ".rs:",
    ] {
        assert!(!text.contains(leak), "the body leaks {leak:?}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_that_passes_is_retried_into_a_200() {
    // Every other request is throttled: each operation's first attempt fails, its retry
    // reaches DynamoDB Local.
    let endpoint = FaultyEndpoint::start(&dynamodb().endpoint, |n| {
        if n % 2 == 0 { Fault::Throttle } else { Fault::Pass }
    });
    let app = app_via(&endpoint.url).await;
    for url in REQUESTS {
        let direct = invoke(demo().await, &event("GET", url)).await;
        let (reply, took) = timed(&app, url).await;
        assert_eq!(reply.status, 200, "{url}: {}", reply.body);
        let strip = |r: &Reply| {
            let mut b = r.body.clone();
            b.as_object_mut().unwrap().remove("server_time");
            b
        };
        assert_eq!(strip(&reply), strip(&direct), "{url}");
        assert!(took < Duration::from_secs(3), "{url}: {took:?}");
    }
    assert!(endpoint.requests() >= 2 * REQUESTS.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_that_persists_is_a_503_after_the_retries() {
    let endpoint = FaultyEndpoint::start(&dynamodb().endpoint, |_| Fault::Throttle);
    let app = app_via(&endpoint.url).await;
    let table = app.store.table_name().to_string();
    for url in REQUESTS {
        let before = endpoint.requests();
        let (reply, took) = timed(&app, url).await;
        assert_unavailable(&reply, &table);
        assert_eq!(
            endpoint.requests() - before,
            client::MAX_ATTEMPTS as usize,
            "{url}: one operation, {} attempts",
            client::MAX_ATTEMPTS
        );
        assert!(took < Duration::from_secs(5), "{url}: {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_is_a_503_within_the_operation_timeout() {
    let endpoint = FaultyEndpoint::start(&dynamodb().endpoint, |_| Fault::Hang);
    let app = app_via(&endpoint.url).await;
    let table = app.store.table_name().to_string();
    let (reply, took) = timed(&app, REQUESTS[1]).await;
    assert_unavailable(&reply, &table);
    assert!(
        took >= client::ATTEMPT_TIMEOUT && took < client::OPERATION_TIMEOUT + Duration::from_secs(1),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_needs_two_operations_stays_inside_the_request_deadline() {
    // The first operation (GetItem of the conversation) succeeds, the second hangs.
    let endpoint = FaultyEndpoint::start(&dynamodb().endpoint, |n| {
        if n == 0 { Fault::Pass } else { Fault::Hang }
    });
    let app = app_via(&endpoint.url).await;
    let table = app.store.table_name().to_string();
    let (reply, took) = timed(&app, REQUESTS[2]).await;
    assert_unavailable(&reply, &table);
    assert!(
        took <= shared::http::REQUEST_DEADLINE + Duration::from_secs(1),
        "{took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "inside the Lambda timeout: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_and_a_down_endpoint_are_a_503_quickly() {
    let dropping = FaultyEndpoint::start(&dynamodb().endpoint, |_| Fault::Drop);
    for url in [dropping.url.clone(), refused_url()] {
        let app = app_via(&url).await;
        let table = app.store.table_name().to_string();
        for request in REQUESTS {
            let (reply, took) = timed(&app, request).await;
            assert_unavailable(&reply, &table);
            assert!(took < Duration::from_secs(5), "{request}: {took:?}");
        }
    }
    // Connection drops are retried like any transient failure.
    assert!(
        dropping.requests() >= REQUESTS.len() * 2,
        "{}",
        dropping.requests()
    );
}
